"""The *informe de avance* (progress report), as the programme hands it in at months 8
(10-month convenio) or 9, 11 and 13 (15-month): by stage and activity of the programme's
template, planned against achieved with the percentage, status and evidence (which
verificador documents exist, with their dates) and a column for comments; the sessions
of each body against its cadence, month by month; families and baskets per month and
cumulative; the sessions and delivery days; two charts, titled and dated; the signatures
of the gestora and the coordinator. PDF (portrait, the wide planned-vs-achieved table on
landscape pages) and XLSX (one printable sheet per table, each with its title, the
programme's details and the cut-off).

Every figure is read from :func:`storage.progress.progress_figures` and defined there,
once; each percentage printed here divides the two counts printed beside it.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from documents.base import (
    _LATIN1_EQUIVALENTS,
    _MUTED,
    CHART_SIZE,
    FONT_DIRS,
    MIME,
    Ctx,
    ExportFile,
    Pct,
    Signer,
    _about_sheet,
    _body_name,
    _find_fonts,
    _kind_name,
    _new_pdf,
    _new_workbook,
    _plain,
    _put,
    _sheet_title,
    _workbook_bytes,
    _xlsx_value,
    print_setup,
    program_details,
)
from domain.program_templates import ProgramTemplate, program_template_or_none
from locales import Catalogs
from storage import programs
from storage.models import Body, Program
from storage.progress import cut_off_of_month, month_span, progress_figures, share, status

__all__ = ["Chart", "cut_off", "progress_chart", "progress_report", "render_attendance_chart",
           "render_bar_chart", "report_cut_off"]

_EVIDENCE_SHOWN = 5  # per verifier; the rest are counted ("y 3 más")


# --------------------------------------------------------------------------- cut-off


def cut_off(program: Program, now: datetime, until: date | None) -> datetime:
    """The report's one cut-off: the end of ``until`` in the programme's zone (never past
    ``now``: what has not happened cannot be counted), or ``now``."""
    if until is None:
        return now
    zone = ZoneInfo(program.timezone)
    end = datetime.combine(until + timedelta(days=1), time(0), zone).astimezone(UTC)
    return min(now, end - timedelta(microseconds=1))


def report_cut_off(program: Program, month: int) -> date:
    """The last day of programme month ``month``: a report for month 9 counts up to it."""
    tpl = program_template_or_none(program)
    if month < 1 or (tpl is not None and month > tpl.duration_months):
        raise ValueError(f"month {month} is outside the programme")
    return cut_off_of_month(program.start_date, month)


# --------------------------------------------------------------------------- charts


@dataclass(frozen=True)
class Chart:
    """A chart as drawn: its title and its date line are on the image (and in the PNG's
    text chunks, Title and Description, so a reader or a test finds them without OCR)."""

    title: str
    subtitle: str
    png: bytes


def _chart_fonts(font_dirs: Sequence[Path]) -> Any:
    from PIL import ImageFont

    found = _find_fonts(font_dirs)

    def make(size: int, bold: bool = False) -> Any:
        if found is not None:
            return ImageFont.truetype(str(found[1] if bold else found[0]), size)
        return ImageFont.load_default(size=size)

    return make


def _glyph_filter(font: Any) -> Any:
    """Text with each character the font cannot draw replaced by its plain letter (or '?'):
    Pillow's built-in font, used when no DejaVu is found, has no 'ó' and would draw a box."""
    from PIL import Image, ImageDraw

    def bitmap(ch: str) -> bytes:
        left, top, right, bottom = font.getbbox(ch)
        img = Image.new("L", (max(right - left, 1) + 2, max(bottom - top, 1) + 2))
        ImageDraw.Draw(img).text((1 - left, 1 - top), ch, font=font, fill=255)
        return bytes(img.size[0].to_bytes(2, "big")) + img.tobytes()

    missing = bitmap("\U0010fffd")  # a private-use character no font draws
    known: dict[str, bool] = {}

    def clean(text: str) -> str:
        out = []
        for ch in text:
            if ch.isascii() or ch.isspace():
                out.append(ch)
                continue
            if ch not in known:
                known[ch] = bitmap(ch) != missing
            out.append(ch if known[ch] else (_plain(ch.translate(_LATIN1_EQUIVALENTS)) or "?"))
        return "".join(out)

    return clean


_PALE, _STRONG = (189, 201, 217), (38, 99, 163)


def render_bar_chart(
    bars: Sequence[tuple[str, str, int, int]], *, title: str, legend: tuple[str, str],
    empty: str, subtitle: str = "", font_dirs: Sequence[Path] = FONT_DIRS,
    size: tuple[int, int] = CHART_SIZE,
) -> bytes:
    """A bar chart: for each group (label, sub-label, first, second) a pale bar beside a
    strong one, with the counts on top; the title and, under it, the date line."""
    from PIL import Image, ImageDraw
    from PIL.PngImagePlugin import PngInfo

    width, height = size
    img = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(img)
    font = _chart_fonts(font_dirs)
    f_title, f_axis, f_label = font(40, True), font(24), font(22)
    f_small, f_value = font(19), font(21, True)
    ink, muted, grid = (33, 37, 41), (110, 116, 125), (225, 229, 235)
    clean = _glyph_filter(f_axis)
    shown_title, shown_subtitle, empty = clean(title), clean(subtitle), clean(empty)
    legend = (clean(legend[0]), clean(legend[1]))
    bars = [(clean(a), clean(b), i, p) for a, b, i, p in bars]

    draw.text((60, 24), shown_title, font=f_title, fill=ink)
    if shown_subtitle:
        draw.text((60, 76), shown_subtitle, font=f_axis, fill=muted)
    # Legend at the top right, under the title's line when the title is long.
    legend_w = sum(draw.textlength(label, font=f_axis) + 74 for label in legend)
    legend_y = 36 if 60 + draw.textlength(shown_title, font=f_title) + 40 < width - 60 - legend_w \
        else 76
    x = width - 60
    for label, color in reversed(list(zip(legend, (_PALE, _STRONG), strict=True))):
        w = draw.textlength(label, font=f_axis)
        x -= w
        draw.text((x, legend_y), label, font=f_axis, fill=ink)
        x -= 38
        draw.rectangle((x, legend_y + 2, x + 26, legend_y + 28), fill=color)
        x -= 36

    left, right, top, bottom = 110, width - 50, 150, height - 130
    meta = PngInfo()
    meta.add_text("Title", title)
    meta.add_text("Description", subtitle)
    if not bars:
        msg_w = draw.textlength(empty, font=f_axis)
        draw.text(((width - msg_w) / 2, height / 2), empty, font=f_axis, fill=muted)
        draw.line((left, bottom, right, bottom), fill=ink, width=2)
        return _png(img, meta)

    top_value = max(max(i, p) for _, _, i, p in bars) or 1
    step = next(s for s in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 10**9)
                if top_value / s <= 8)
    axis_max = -(-top_value // step) * step
    scale = (bottom - top) / axis_max
    for v in range(0, axis_max + 1, step):
        y = bottom - v * scale
        draw.line((left, y, right, y), fill=grid, width=2)
        label = str(v)
        draw.text((left - 16 - draw.textlength(label, font=f_axis), y - 14), label,
                  font=f_axis, fill=muted)
    draw.line((left, top - 10, left, bottom), fill=ink, width=2)
    draw.line((left, bottom, right, bottom), fill=ink, width=2)

    slot = (right - left) / len(bars)
    bar_w = max(4.0, min(70.0, slot * 0.32))
    every = max(1, int(-(-140 // slot)))  # label every n-th slot so dates never overlap
    # Counts on top of the bars only if every one fits over its bar.
    counts = all(draw.textlength(str(v), font=f_value) <= bar_w + 6
                 for _, _, i, p in bars for v in (i, p))
    for i, (label, sub, first, second) in enumerate(bars):
        cx = left + slot * (i + 0.5)
        for value, color, x0 in ((first, _PALE, cx - bar_w - 3), (second, _STRONG, cx + 3)):
            y = bottom - value * scale
            if value:
                draw.rectangle((x0, y, x0 + bar_w, bottom - 1), fill=color)
            if counts:
                text = str(value)
                tw = draw.textlength(text, font=f_value)
                draw.text((x0 + (bar_w - tw) / 2, y - 28), text, font=f_value,
                          fill=ink if color == _STRONG else muted)
        if i % every == 0:
            for text, f, dy, fill in ((label, f_label, 14, ink), (sub, f_small, 44, muted)):
                room = slot * every - 8
                while text and draw.textlength(text, font=f) > room:
                    text = text[:-2] + "…" if len(text) > 2 else ""
                tw = draw.textlength(text, font=f)
                draw.text((cx - tw / 2, bottom + dy), text, font=f, fill=fill)
    return _png(img, meta)


def render_attendance_chart(
    bars: Sequence[tuple[str, str, int, int]], *, title: str, legend: tuple[str, str],
    empty: str, subtitle: str = "", font_dirs: Sequence[Path] = FONT_DIRS,
    size: tuple[int, int] = CHART_SIZE,
) -> bytes:
    """For each session (date, kind, invited, present) a pale bar of people invited beside
    a strong bar of people present."""
    return render_bar_chart(bars, title=title, legend=legend, empty=empty, subtitle=subtitle,
                            font_dirs=font_dirs, size=size)


def _png(img: Any, meta: Any = None) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=True, pnginfo=meta)
    return buf.getvalue()


def _dated(ctx: Ctx, figures: dict[str, Any]) -> str:
    return ctx.t("progress.chart.subtitle", date=ctx.long_date(figures["today"]))


def attendance_chart(figures: dict[str, Any], ctx: Ctx, tpl: ProgramTemplate | None,
                     font_dirs: Sequence[Path]) -> Chart:
    bars = [(ctx.day(s["starts_at"]), _kind_name(tpl, s["kind"], ctx.locale),
             s["invited"], s["present"]) for s in figures["sessions"]]
    title, subtitle = ctx.t("exports.chart.title"), _dated(ctx, figures)
    return Chart(title, subtitle, render_attendance_chart(
        bars, title=title, subtitle=subtitle,
        legend=(ctx.t("exports.chart.invited"), ctx.t("exports.chart.present")),
        empty=ctx.t("exports.chart.empty"), font_dirs=font_dirs))


def months_chart(figures: dict[str, Any], ctx: Ctx, font_dirs: Sequence[Path]) -> Chart:
    bars = [(ctx.t("progress.month_name", month=str(m["month"])), ctx.day(m["first"]),
             m["families"], m["baskets"]) for m in figures["months"]]
    if not any(m["baskets"] for m in figures["months"]):
        bars = []
    title, subtitle = ctx.t("progress.chart.months_title"), _dated(ctx, figures)
    return Chart(title, subtitle, render_bar_chart(
        bars, title=title, subtitle=subtitle,
        legend=(ctx.t("progress.chart.families"), ctx.t("progress.chart.baskets")),
        empty=ctx.t("progress.chart.months_empty"), font_dirs=font_dirs))


def _chart_for(figures: dict[str, Any], ctx: Ctx, tpl: ProgramTemplate | None,
               font_dirs: Sequence[Path]) -> bytes:
    return attendance_chart(figures, ctx, tpl, font_dirs).png


async def progress_chart(
    session: AsyncSession, program_id: int, *, now: datetime, locale: str | None = "es",
    catalogs: Catalogs | None = None, font_dirs: Sequence[Path] = FONT_DIRS,
    until: date | None = None,
) -> ExportFile:
    """The attendance-per-session chart of the progress report, as a PNG, with the
    sessions up to ``until`` (a date in the programme's zone; today if None)."""
    program = await programs.existing(session, program_id)
    ctx = Ctx(catalogs, locale, program.timezone, now)
    figures = await progress_figures(session, program_id, cut_off(program, now, until))
    stem = f"{ctx.t('exports.file.chart')}-{figures['today'].isoformat()}"
    chart = attendance_chart(figures, ctx, program_template_or_none(program), font_dirs)
    return ExportFile(f"{stem}.png", chart.png, MIME["png"])


# --------------------------------------------------------------------------- tables


@dataclass
class Table:
    key: str
    title: str
    headers: list[str]
    rows: list[list[Any]]
    widths: tuple[float, ...]  # relative, on the PDF page
    right: tuple[int, ...] = ()  # columns aligned right (numbers)
    landscape: bool = False
    group: list[str] | None = None  # per row, a heading the PDF prints when it changes
    # Columns the PDF leaves blank where they repeat the row above (the sheet keeps them,
    # so that a filtered row still says what it is).
    once: tuple[int, ...] = ()


def _status_text(ctx: Ctx, status: str | None, activity: dict[str, Any]) -> str:
    if status is None:
        return "—"
    return ctx.t(f"progress.status.{status}", due=ctx.day(activity["due"]),
                 starts=ctx.day(activity["starts"]))


def _cadence(ctx: Ctx, months: int) -> str:
    return ctx.t("progress.cadence.monthly") if months == 1 else ctx.t(
        "progress.cadence.every", months=str(months))


def _verifier_name(tpl: ProgramTemplate | None, key: str, locale: str) -> str:
    if tpl is not None:
        try:
            name = tpl.verifier(key).name
            return name.get(locale) or name["es"]
        except KeyError:
            pass
    return key.replace("_", " ").capitalize()


async def _evidence(session: AsyncSession, program: Program, ctx: Ctx,
                    activity: dict[str, Any], font_dirs: Sequence[Path],
                    ) -> tuple[int, list[str]]:
    """For each verifier of the activity: what exists in Convoca by the cut-off (ctx.now),
    through the producers registered now. (verifiers with evidence, one line each)."""
    from documents import verificadores
    from documents.registry import Request

    tpl = program_template_or_none(program)
    found, lines = 0, []
    for key in activity["verifiers"]:
        name = _verifier_name(tpl, key, ctx.locale)
        if verificadores.for_verifier(tpl, key) is None:
            lines.append(ctx.t("progress.evidence.item", verifier=name,
                               found=ctx.t("progress.evidence.unavailable")))
            continue
        req = Request(session=session, program=program, verifier=key, ctx=ctx,
                      meeting_kind=activity["meeting_kind"], font_dirs=font_dirs)
        cut = ctx.local(ctx.now).date()
        items = [e for e in await verificadores.evidence(req) if e.on is None or e.on <= cut]
        if not items:
            lines.append(ctx.t("progress.evidence.item", verifier=name,
                               found=ctx.t("progress.evidence.pending")))
            continue
        found += 1
        shown = []
        for e in items[:_EVIDENCE_SHOWN]:
            day = ctx.day(e.on) if e.on else ""
            shown.append(e.label if not day or day in e.label else f"{e.label} ({day})")
        if len(items) > _EVIDENCE_SHOWN:
            shown.append(ctx.t("progress.evidence.more", count=str(len(items) - _EVIDENCE_SHOWN)))
        lines.append(ctx.t("progress.evidence.item", verifier=name, found="; ".join(shown)))
    return found, lines


def _stage_title(ctx: Ctx, tpl: ProgramTemplate | None, number: int) -> str:
    if tpl is not None:
        try:
            name = tpl.stage(number).name
            return ctx.t("progress.stage", number=str(number),
                         name=name.get(ctx.locale) or name["es"])
        except KeyError:
            pass
    return ctx.t("progress.stage_number", number=str(number))


async def _activity_rows(session: AsyncSession, program: Program, figures: dict[str, Any],
                         ctx: Ctx, tpl: ProgramTemplate | None, bodies: dict[int, Body],
                         comments: Mapping[str, str], font_dirs: Sequence[Path],
                         ) -> tuple[list[list[Any]], list[str]]:
    """Planned against achieved, activity by activity: its sessions (if it has any), the
    cadence of the body it constitutes (on the body's first activity) and its verifiers."""
    rows: list[list[Any]] = []
    stages: list[str] = []
    body_rows = {b["kind"]: b for b in figures["bodies"]}
    cadence_shown: set[str] = set()
    for a in figures["activities"]:
        stage = _stage_title(ctx, tpl, a["stage"])
        name = a["name"].get(ctx.locale) or a["name"].get("es", a["key"])
        comment = comments.get(a["key"]) or comments.get(a["key"].split(".", 1)[-1]) or ""
        own: list[list[Any]] = []
        if a["planned_sessions"]:
            days = ", ".join(ctx.day(d) for d in a["session_days"])
            own.append([
                ctx.t("progress.indicator.sessions",
                      kind=_kind_name(tpl, a["meeting_kind"], ctx.locale)),
                a["planned_sessions"], a["held"], Pct(a["rate"]),
                _status_text(ctx, a["status"], a),
                ctx.t("progress.evidence.sessions", days=days) if days else "—"])
        body = body_rows.get(a["body"] or "")
        if body is not None and body["kind"] not in cadence_shown:
            # The body's minimum, as in its own tables: the same figure everywhere.
            cadence_shown.add(body["kind"])
            body_name = _body_name(tpl, bodies[body["body_id"]], ctx.locale)
            state = (_status(body["held"], body["minimum"], True, a["started"])
                     if body["minimum"] else None)
            own.append([
                ctx.t("progress.indicator.cadence", body=body_name,
                      cadence=_cadence(ctx, body["cadence_months"])),
                body["minimum"], body["held"], Pct(body["rate"]),
                _status_text(ctx, state, a), "—"])
        if a["verifiers"]:
            found, lines = await _evidence(session, program, ctx, a, font_dirs)
            planned = len(a["verifiers"])
            own.append([ctx.t("progress.indicator.verifiers"), planned, found,
                        Pct(share(found, planned)), _status_text(
                            ctx, _status(found, planned, a["is_due"], a["started"]), a),
                        "\n".join(lines)])
        for i, r in enumerate(own):
            rows.append([stage, name, *r, comment if i == 0 else ""])
            stages.append(stage)
    return rows, stages


def _status(achieved: int, planned: int, due: bool, started: bool) -> str:
    return status(achieved, planned, due=due, started=started)


def _tables(figures: dict[str, Any], ctx: Ctx, tpl: ProgramTemplate | None,
            bodies: dict[int, Body], activity_rows: list[list[Any]],
            stages: list[str]) -> list[Table]:
    c = ctx.t
    o, f = figures["organizations"], figures["families"]
    summary = [
        [c("exports.progress.orgs_catalogued"), o["catalogued"]],
        [c("exports.progress.orgs_invited"), o["invited"]],
        [c("exports.progress.orgs_interested"), o["interested"]],
        [c("exports.progress.orgs_committed"), o["committed"]],
        [c("progress.summary.sessions_held"), len(figures["sessions"])],
        [c("exports.progress.families_total"), f["total"]],
        [c("progress.summary.delivery_days"), len(figures["delivery_days"])],
        [c("exports.progress.families_notified"), f["notified"]],
        [c("exports.progress.families_confirmed"), f["confirmed"]],
        [c("exports.progress.families_served"), f["served"]],
        [c("progress.summary.baskets"), figures["baskets"]],
    ]

    def yes_no(ok: bool) -> str:
        return c("exports.yes") if ok else c("exports.no")

    def body(b: dict[str, Any]) -> str:
        return _body_name(tpl, bodies[b["body_id"]], ctx.locale)

    body_rows = [[body(b), _cadence(ctx, b["cadence_months"]), b["since"], b["min_by_cadence"],
                  b["min_by_milestones"], b["minimum"], b["held"], Pct(b["rate"]),
                  yes_no(b["meets_minimum"])] for b in figures["bodies"]]
    body_attendance = [[body(b), b["held"], b["invited"], b["present_invited"],
                        Pct(b["attendance_rate"])] for b in figures["bodies"]]
    body_months = [[c("progress.month_name", month=str(m["month"])),
                    c("progress.period", start=ctx.day(m["first"]), end=ctx.day(m["last"])),
                    body(b), m["held"], m["minimum_in_month"], m["held_cumulative"],
                    m["minimum_cumulative"], yes_no(m["meets_minimum"])]
                   for b in figures["bodies"] for m in b["months"]]
    months = [[c("progress.month_name", month=str(m["month"])),
               c("progress.period", start=ctx.day(m["first"]), end=ctx.day(m["last"])),
               m["delivery_days"], m["baskets"], m["families"], m["baskets_cumulative"],
               m["families_cumulative"]] for m in figures["months"]]
    sessions = [[
        s["starts_at"], _kind_name(tpl, s["kind"], ctx.locale),
        _body_name(tpl, bodies[s["body_id"]], ctx.locale) if s["body_id"] in bodies else "",
        s["present"], s["walk_ins"], s["invited"], s["present_invited"],
        Pct(s["attendance_rate"]),
    ] for s in figures["sessions"]]
    days = [[d["window_start"], d["families"], d["notified"], d["confirmed"], d["cannot"],
             d["no_answer"], d["picked_up"], d["no_show"], d["moved"]]
            for d in figures["delivery_days"]]
    return [
        Table("summary", c("exports.progress.section_summary"),
              [c("exports.col.indicator"), c("exports.col.value")], summary, (120, 30), (1,)),
        Table("activities", c("progress.section_activities"),
              [c("progress.col.stage"), c("progress.col.activity"), c("progress.col.indicator"),
               c("progress.col.planned"), c("progress.col.achieved"), c("progress.col.percent"),
               c("progress.col.status"), c("progress.col.evidence"),
               c("progress.col.comments")], activity_rows,
              (0, 50, 44, 20, 17, 14, 30, 70, 40), (3, 4, 5), landscape=True, group=stages,
              once=(1,)),
        Table("bodies", c("exports.progress.section_bodies"),
              [c("exports.col.body"), c("progress.col.cadence"), c("progress.col.since"),
               c("progress.col.min_cadence"), c("progress.col.min_activities"),
               c("progress.col.minimum"), c("progress.col.held"), c("progress.col.percent"),
               c("progress.col.meets")], body_rows,
              (30, 22, 22, 22, 22, 20, 20, 14, 16), (3, 4, 5, 6, 7)),
        Table("body_months", c("progress.section_body_months"),
              [c("progress.col.month"), c("progress.col.period"), c("exports.col.body"),
               c("progress.col.held_month"), c("progress.col.minimum_month"),
               c("progress.col.held_cumulative"), c("progress.col.minimum_cumulative"),
               c("progress.col.meets")], body_months,
              (16, 44, 28, 20, 20, 22, 22, 16), (3, 4, 5, 6)),
        Table("body_attendance", c("progress.section_body_attendance"),
              [c("exports.col.body"), c("progress.col.held"), c("progress.col.invited"),
               c("progress.col.present_invited"), c("progress.col.attendance")],
              body_attendance, (40, 24, 28, 28, 40), (1, 2, 3, 4)),
        Table("sessions", c("exports.progress.section_sessions"),
              [c("exports.col.when"), c("exports.col.session_kind"), c("exports.col.body"),
               c("progress.col.present"), c("progress.col.walk_ins"),
               c("progress.col.invited"), c("progress.col.present_invited"),
               c("progress.col.attendance")], sessions,
              (34, 46, 26, 18, 18, 18, 18, 24), (3, 4, 5, 6, 7)),
        Table("months", c("progress.section_months"),
              [c("progress.col.month"), c("progress.col.period"),
               c("progress.col.delivery_days"), c("progress.col.baskets"),
               c("progress.col.families"), c("progress.col.baskets_cumulative"),
               c("progress.col.families_cumulative")], months,
              (16, 44, 20, 22, 22, 22, 26), (2, 3, 4, 5, 6)),
        # The groups of the day's exported list, in its order.
        Table("days", c("exports.progress.section_days"),
              [c("exports.col.when"), c("exports.col.families"), c("exports.col.notified"),
               c("exports.col.confirmed"), c("exports.col.cannot"),
               c("exports.col.no_answer"), c("exports.col.picked_up"),
               c("exports.col.no_show"), c("exports.col.moved")], days,
              (42, 18, 18, 20, 26, 20, 18, 18, 20), tuple(range(1, 9))),
    ]


# --------------------------------------------------------------------------- the report


def _table_sheet(ws: Any, ctx: Ctx, program: str, title: str,
                 details: Sequence[tuple[str, str]], table: Table) -> None:
    """A printable sheet: the table's title, the programme and its details, the cut-off,
    then the table; landscape, fit to the page's width, its heading repeated on each."""
    from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
    from openpyxl.utils import get_column_letter

    _put(ws, 1, 1, f"{title}: {table.title}").font = Font(bold=True, size=13)
    _put(ws, 2, 1, program).font = Font(bold=True)
    row = 3
    for label, value in details:
        _put(ws, row, 1, label).font = Font(bold=True)
        _put(ws, row, 2, value)
        row += 1
    head = row + 1  # one empty row, then the table
    thin = Side(style="thin", color="A0A8B4")
    longest = [len(h) for h in table.headers]
    for col, header in enumerate(table.headers, start=1):
        cell = _put(ws, head, col, header)
        cell.font = Font(bold=True)
        cell.fill = PatternFill("solid", fgColor="DEE4ED")
        cell.alignment = Alignment(vertical="center", wrap_text=True)
        cell.border = Border(bottom=thin)
    for r, values in enumerate(table.rows, start=head + 1):
        for col, raw in enumerate(values, start=1):
            value, number_format = _xlsx_value(raw, ctx)
            cell = _put(ws, r, col, value)
            if isinstance(value, str):
                cell.alignment = Alignment(wrap_text=True, vertical="top")
            if number_format:
                cell.number_format = number_format
            shown = ctx.text(raw) if not isinstance(raw, str) else raw
            longest[col - 1] = max(longest[col - 1], *(len(x) for x in shown.split("\n")))
    for col, width in enumerate(longest, start=1):
        ws.column_dimensions[get_column_letter(col)].width = min(max(width, 8), 60) + 2
    ws.column_dimensions["A"].width = max(ws.column_dimensions["A"].width, 24)
    if ctx.t("progress.col.comments") in table.headers:
        # Room for the gestora to write her comments in the sheet itself.
        letter = get_column_letter(table.headers.index(ctx.t("progress.col.comments")) + 1)
        ws.column_dimensions[letter].width = max(ws.column_dimensions[letter].width, 40)
    ws.freeze_panes = ws.cell(row=head + 1, column=1).coordinate
    if table.rows:
        ws.auto_filter.ref = (f"A{head}:{get_column_letter(len(table.headers))}"
                              f"{head + len(table.rows)}")
    print_setup(ws, header_row=head, landscape=True)


async def progress_report(
    session: AsyncSession, program_id: int, fmt: Literal["pdf", "xlsx"] = "pdf", *,
    now: datetime, locale: str | None = "es", catalogs: Catalogs | None = None,
    font_dirs: Sequence[Path] = FONT_DIRS, until: date | None = None,
    month: int | None = None, comments: Mapping[str, str] | None = None,
) -> ExportFile:
    """The *informe de avance* as a PDF or a workbook, counting everything up to the
    cut-off: the end of programme month ``month`` (the report for month 9 of a 15-month
    convenio), else the end of ``until`` (a date in the programme's zone), else now.
    ``comments`` by activity key fill the comments column (empty for the gestora to write
    in by hand otherwise)."""
    program = await programs.existing(session, program_id)
    if month is not None:
        until = report_cut_off(program, month)
    cut = cut_off(program, now, until)
    ctx = Ctx(catalogs, locale, program.timezone, now)
    # What the producers find as evidence is what existed by the cut-off.
    at_cut = Ctx(catalogs, locale, program.timezone, cut)
    tpl = program_template_or_none(program)
    figures = await progress_figures(session, program_id, cut)
    bodies = {b.id: b for b in await programs.bodies(session, program_id)}
    activity_rows, stages = await _activity_rows(session, program, figures, at_cut, tpl,
                                                 bodies, comments or {}, font_dirs)
    tables = {t.key: t for t in _tables(figures, ctx, tpl, bodies, activity_rows, stages)}
    charts = {"sessions": attendance_chart(figures, ctx, tpl, font_dirs),
              "months": months_chart(figures, ctx, font_dirs)}

    title = (ctx.t("progress.title_month", month=str(month)) if month is not None
             else ctx.t("progress.title"))
    first = month_span(program.start_date, 1)[0]
    details = [
        *program_details(program, ctx),
        (ctx.t("exports.label.as_of"), ctx.long_date(figures["today"])),
        (ctx.t("progress.label.period"), ctx.t("progress.period", start=ctx.long_date(first),
                                               end=ctx.long_date(figures["today"]))),
        (ctx.t("exports.label.month"), ctx.t(
            "exports.progress.month_of", month=str(figures["month"]),
            total=str(figures["duration_months"] or "?"))),
    ]
    if month is None and figures["next_report"] is not None:
        r = figures["next_report"]
        details.append((ctx.t("exports.label.next_report"), ctx.t(
            "exports.progress.report_due", month=str(r["month"]), date=ctx.long_date(r["due"]))))
    stem = (ctx.t("progress.file_month", month=str(month)) if month is not None
            else f"{ctx.t('progress.file')}-{figures['today'].isoformat()}")
    order = ["summary", "activities", "bodies", "body_months", "body_attendance", "sessions",
             "months", "days"]

    if fmt == "xlsx":
        from openpyxl.drawing.image import Image as XLImage

        wb = _new_workbook(ctx, title)
        for i, key in enumerate(order):
            table = tables[key]
            ws = wb.active if i == 0 else wb.create_sheet()
            ws.title = _sheet_title(table.title)
            _table_sheet(ws, ctx, program.name, title, details, table)
            if key in charts:
                image = XLImage(io.BytesIO(charts[key].png))
                image.width, image.height = CHART_SIZE[0] // 2, CHART_SIZE[1] // 2
                ws.add_image(image, f"{chr(ord('A') + len(table.headers) + 1)}2")
        _about_sheet(wb, ctx, program.name, title, details)
        return ExportFile(f"{stem}.xlsx", _workbook_bytes(wb), MIME["xlsx"])
    if fmt != "pdf":
        raise ValueError(f"unknown format {fmt!r}")

    pdf = _new_pdf(ctx, font_dirs, title=title, running_title=f"{title} · {program.name}")
    pdf.add_page()
    pdf.heading(program.name, title, details)
    for key in order:
        table = tables[key]
        if table.landscape:
            pdf.add_page(orientation="L")
        elif pdf.w > pdf.h:  # back to portrait after the wide table
            pdf.add_page(orientation="P")
        elif pdf.get_y() > pdf.h - 60:
            pdf.add_page()  # a table's title never ends a page alone
        if key in charts:
            chart_h = pdf.epw * CHART_SIZE[1] / CHART_SIZE[0]
            if pdf.get_y() + chart_h + 4 > pdf.h - 20:
                pdf.add_page()
            pdf.ln(3)
            pdf.image(io.BytesIO(charts[key].png), x=pdf.l_margin, w=pdf.epw)
            pdf.ln(2)
        pdf.section(table.title)
        if not table.rows:
            pdf.para(ctx.t("exports.progress.none"), color=_MUTED)
            continue
        _pdf_table(pdf, ctx, table)
    pdf.ln(2)
    pdf.para(ctx.t("progress.method"), 8, _MUTED)
    settings = program.settings or {}
    pdf.signatures([Signer(name=str(settings.get("facilitator") or ""),
                           role=ctx.t("progress.role.gestora")),
                    Signer(role=ctx.t("progress.role.coordinator"))],
                   title=ctx.t("progress.section_signatures"))
    return ExportFile(f"{stem}.pdf", bytes(pdf.output()), MIME["pdf"])


def _pdf_table(pdf: Any, ctx: Ctx, table: Table) -> None:
    """The table on the page; a grouped table (by stage) prints each group's heading and
    leaves its group column out."""
    cols = [i for i, w in enumerate(table.widths) if w > 0]
    scale = pdf.epw / sum(table.widths[i] for i in cols)
    widths = [table.widths[i] * scale for i in cols]
    aligns = ["RIGHT" if i in table.right else "LEFT" for i in cols]
    headers = [table.headers[i] for i in cols]
    groups: list[tuple[str | None, list[list[Any]]]] = []
    for n, row in enumerate(table.rows):
        g = table.group[n] if table.group else None
        if not groups or groups[-1][0] != g:
            groups.append((g, []))
        groups[-1][1].append(row)
    for g, rows in groups:
        if g:
            pdf.ln(1)
            pdf.font(10, bold=True)
            pdf.multi_cell(0, 5.5, pdf.s(g), new_x="LMARGIN", new_y="NEXT")
            pdf.ln(0.5)
        shown = []
        for n, r in enumerate(rows):
            shown.append([("" if i in table.once and n and r[i] == rows[n - 1][i]
                           else ctx.text(r[i])) for i in cols])
        pdf.grid(headers, shown, widths,
                 aligns=aligns, size=8 if table.landscape else 9)
