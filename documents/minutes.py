"""The acta de acuerdos y compromisos of a session (``minutes``) and the matriz de seguimiento
of every action item (``follow_up_matrix``): what each action of the plans and each session
commitment is, who answers for it, by when, and its status at the end of each month since
the plans began, from the reports its responsible people sent in chat.

Both read through ``storage`` and render with documents.base; their producers are
registered here (documents.verificadores imports this module)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

from babel.dates import format_date
from sqlalchemy.ext.asyncio import AsyncSession

from documents.base import (
    FONT_DIRS,
    MIME,
    Ctx,
    ExportFile,
    Signer,
    _body_name,
    _kind_name,
    _new_pdf,
    _new_workbook,
    _place,
    _put,
    _sheet_title,
    _workbook_bytes,
    program_details,
    slugify,
)
from documents.registry import Evidence, Request, producer
from domain.program_templates import ProgramTemplate, localized_text, program_template_or_none
from locales import Catalogs
from storage import actions, admin_meetings, programs
from storage import minutes as minutes_store
from storage.models import (
    ActionItem,
    ActionStatus,
    ActionUpdate,
    Body,
    Meeting,
    Minutes,
    MinutesSection,
    Person,
    PlanKind,
)

__all__ = ["follow_up_matrix", "follow_up_rows", "minutes_pdf"]

PDF_MONTHS_MAX = 12  # month columns a landscape A4 page holds beside the action's details


# --------------------------------------------------------------------------- the acta


def _proves(tpl: ProgramTemplate | None, locale: str, *, meeting_kind: str | None = None,
            document: str | None = None) -> str | None:
    """The stage and activities a document proves, as the programme template names them:
    the activities of the session's kind, or those listing a verifier made by ``document``."""
    if tpl is None:
        return None
    found = []
    for stage in tpl.stages:
        names = [localized_text(a.name, locale) for a in stage.activities
                 if (meeting_kind and a.meeting_kind == meeting_kind)
                 or (document and any(_made_by(tpl, v) == document for v in a.verifiers))]
        if names:
            found.append(f"{stage.number}. {localized_text(stage.name, locale)}: "
                         + "; ".join(names))
    return " · ".join(found) or None


def _made_by(tpl: ProgramTemplate, verifier: str) -> str | None:
    try:
        return tpl.verifier(verifier).document
    except KeyError:
        return None


async def _person(session: AsyncSession, person_id: int | None) -> Person | None:
    return await session.get(Person, person_id) if person_id else None


async def _responsible(session: AsyncSession, item: ActionItem) -> str:
    person = await _person(session, item.responsible_person_id)
    return (person.name if person and person.name else None) or item.responsible_name or "—"


def _status(ctx: Ctx, status: str) -> str:
    return ctx.t(f"actas.status.{status}")


async def minutes_pdf(session: AsyncSession, minutes_id: int, *, now: datetime,
                      locale: str | None = "es", catalogs: Catalogs | None = None,
                      font_dirs: Sequence[Path] = FONT_DIRS) -> ExportFile:
    minutes = await session.get(Minutes, minutes_id)
    if minutes is None:
        raise LookupError(f"no acta {minutes_id}")
    program = await programs.existing(session, minutes.program_id)
    ctx = Ctx(catalogs, locale, program.timezone, now)
    tpl = program_template_or_none(program)
    meeting = await session.get(Meeting, minutes.meeting_id) if minutes.meeting_id else None
    details = program_details(program, ctx)
    present: list[admin_meetings.Entry] = []
    if meeting is not None:
        body = await session.get(Body, meeting.body_id) if meeting.body_id else None
        kind = _kind_name(tpl, meeting.kind, ctx.locale)
        if body is not None:
            details.append((ctx.t("exports.label.body"), _body_name(tpl, body, ctx.locale)))
        details += [
            (ctx.t("exports.label.session"), kind + (f": {meeting.title}" if meeting.title
                                                     else "")),
            (ctx.t("exports.label.date"), ctx.long_date(meeting.starts_at)),
            (ctx.t("exports.label.time"), ctx.time_range(meeting.starts_at, meeting.ends_at)),
            (ctx.t("exports.label.place"), _place(meeting.place, meeting.address)),
        ]
        proves = _proves(tpl, ctx.locale, meeting_kind=meeting.kind)
        if proves:
            details.append((ctx.t("actas.doc.stage"), proves))
        roll = await admin_meetings.board(session, meeting)
        present = [e for e in roll.everyone if e.present and not e.to_confirm]
        details.append((ctx.t("exports.label.attendance"),
                        ctx.t("actas.doc.present", count=len(present))))
    facilitator = (program.settings or {}).get("facilitator")
    recorder = await _person(session, minutes.recorded_by)
    if facilitator or recorder:
        details.append((ctx.t("actas.doc.facilitator"),
                        str(facilitator or (recorder.name if recorder else "")) or "—"))
    topics = await minutes_store.items(session, minutes.id, MinutesSection.TOPIC)
    agreed = await minutes_store.items(session, minutes.id, MinutesSection.AGREEMENT)
    committed = await actions.of_minutes(session, minutes.id)

    title = ctx.t("actas.doc.title")
    day = ctx.local(meeting.starts_at).date() if meeting else ctx.local(minutes.recorded_at).date()
    pdf = _new_pdf(ctx, font_dirs, title=title,
                       running_title=f"{title} · {ctx.long_date(day)}")
    pdf.add_page()
    pdf.heading(program.name, title, details)

    def numbered(rows: list[str]) -> None:
        if not rows:
            pdf.para(ctx.t("actas.doc.none"))
        for n, text in enumerate(rows, 1):
            pdf.para(f"{n}. {text}", 10)
            pdf.ln(0.8)

    pdf.section(ctx.t("actas.doc.topics"))
    numbered([t.text for t in topics])
    pdf.section(ctx.t("actas.doc.agreements"))
    numbered([t.text for t in agreed])
    pdf.section(ctx.t("actas.doc.commitments"))
    if committed:
        today = ctx.local(ctx.now).date()

        def status(a: ActionItem) -> str:
            shown = _status(ctx, a.status)
            if a.status in actions.OPEN and a.due is not None and a.due < today:
                return ctx.t("actas.matrix.overdue", status=shown)
            return shown

        rows = [[str(n), a.text, await _responsible(session, a),
                 ctx.day(a.due) if a.due else "—", status(a)]
                for n, a in enumerate(committed, 1)]
        pdf.grid([ctx.t("exports.col.number"), ctx.t("actas.col.commitment"),
                  ctx.t("actas.col.responsible"), ctx.t("actas.col.due"),
                  ctx.t("actas.col.status")], rows, [8, 80, 40, 30, 28],
                 aligns=["RIGHT", "LEFT", "LEFT", "LEFT", "LEFT"])
    else:
        pdf.para(ctx.t("actas.doc.none"))
    gestora = Signer(recorder.name if recorder and recorder.name else "", recorder.rut
                     if recorder else None, ctx.t("actas.doc.role_gestora"))
    pdf.signatures([gestora], per_row=2, title=ctx.t("actas.doc.sign_gestora"))
    people = await _people_of(session, present)
    attendees = [Signer(name, rut, None) for name, rut in people]
    # Lines to fill in by hand too (someone present may not be in Convoca): the last row
    # filled up, or two rows when nobody was marked present.
    per_row = 3
    attendees += [Signer()] * (((-len(attendees)) % per_row or per_row) if attendees
                               else 2 * per_row)
    pdf.signatures(attendees, per_row=per_row, title=ctx.t("actas.doc.sign_attendees"))
    stem = f"{ctx.t('actas.doc.file')}-{slugify(program.name)}-{day.isoformat()}"
    return ExportFile(f"{stem}.pdf", bytes(pdf.output()), MIME["pdf"])


async def _people_of(session: AsyncSession, entries: list[admin_meetings.Entry]
                     ) -> list[tuple[str, str | None]]:
    """Name and RUT of each person present, a walk-in not in Convoca included."""
    out = []
    for e in entries:
        p = await _person(session, e.person_id)
        if p is not None:
            out.append((p.name or e.name or "", p.rut or e.rut))
        elif e.name:
            out.append((e.name, e.rut))
    return out


async def _actas(req: Request) -> list[Evidence]:
    out = []
    for m in await minutes_store.of_program(req.session, req.program.id):
        meeting = await req.session.get(Meeting, m.meeting_id) if m.meeting_id else None
        if meeting is None or (req.meeting_kind and meeting.kind != req.meeting_kind):
            continue
        out.append(Evidence(meeting.id, f"{req.ctx.day(meeting.starts_at)} "
                            f"{req.ctx.time(meeting.starts_at)}",
                            req.ctx.local(meeting.starts_at).date()))
    return out


@producer("minutes", formats=("pdf",), scope="meeting", evidence=_actas)
async def _minutes(req: Request) -> list[ExportFile]:
    """``subject_id``: the session whose acta it is."""
    if req.subject_id is None:
        raise ValueError("an acta is of one session")
    minutes = await minutes_store.of_meeting(req.session, req.subject_id)
    if minutes is None:
        raise LookupError(f"session {req.subject_id} has no acta")
    return [await minutes_pdf(req.session, minutes.id, now=req.ctx.now,
                              locale=req.ctx.locale, catalogs=req.ctx.catalogs,
                              font_dirs=req.font_dirs)]


# --------------------------------------------------------------------------- the matrix


@dataclass
class MatrixRow:
    section: str
    objective: str
    text: str
    responsible: str
    due: date | None
    status: str  # the status's name, "overdue" said with it
    since: date | None
    months: list[str]  # the status at each month's end, "" before the action existed
    note: str
    overdue: bool
    action_id: int | None = None  # for a page's link to the action


def _months(first: date, last: date) -> list[date]:
    out, cur = [], first.replace(day=1)
    while cur <= last:
        out.append(cur)
        cur = date(cur.year + cur.month // 12, cur.month % 12 + 1, 1)
    return out


def _month_end(ctx: Ctx, month: date) -> datetime:
    nxt = date(month.year + month.month // 12, month.month % 12 + 1, 1)
    return datetime.combine(nxt, time(0), ctx.zone).astimezone(UTC)


def _status_at(item: ActionItem, updates: list[ActionUpdate], until: datetime) -> str | None:
    if item.created_at > until:
        return None
    status = ActionStatus.PENDING.value
    for u in updates:
        if u.at <= until:
            status = u.status
    return status


async def follow_up_rows(session: AsyncSession, program_id: int, ctx: Ctx
                         ) -> tuple[list[MatrixRow], list[date], datetime | None]:
    """The matrix's rows, its months and the last report's moment: what the documents
    print and the panel shows, computed once, here."""
    program = await programs.existing(session, program_id)
    items = await actions.of_program(session, program_id)
    history = await actions.history(session, [a.id for a in items])
    plans = {p.id: p for p in await actions.plans_of(session, program_id)}
    objectives = await actions.objectives_of(session, list(plans))
    today = ctx.local(ctx.now).date()
    starts = [a.starts or ctx.local(a.created_at).date() for a in items]
    first = min(starts, default=program.start_date)
    months = _months(first, today)
    last_report = max((u.at for us in history.values() for u in us), default=None)
    rows = []
    acta_days: dict[int, str] = {}
    for a in items:
        if a.plan_id is not None and a.plan_id in plans:
            kind = plans[a.plan_id].kind
            section = ctx.t("actas.matrix.plan_work" if kind == PlanKind.WORK
                            else "actas.matrix.plan_communications")
            objective = objectives[a.objective_id].text if a.objective_id in objectives else ""
        else:
            section = ctx.t("actas.matrix.commitments")
            if a.minutes_id not in acta_days:
                minutes = await session.get(Minutes, a.minutes_id) if a.minutes_id else None
                meeting = (await session.get(Meeting, minutes.meeting_id)
                           if minutes and minutes.meeting_id else None)
                acta_days[a.minutes_id or 0] = (
                    ctx.t("actas.matrix.session_of", date=ctx.day(meeting.starts_at))
                    if meeting else "")
            objective = acta_days[a.minutes_id or 0]
        updates = history.get(a.id, [])
        overdue = a.status in actions.OPEN and a.due is not None and a.due < today
        status = _status(ctx, a.status)
        if overdue:
            status = ctx.t("actas.matrix.overdue", status=status)
        cells = []
        for m in months:
            at = _status_at(a, updates, min(_month_end(ctx, m), ctx.now))
            cells.append(_status(ctx, at) if at else "")
        last_note = next((u for u in reversed(updates) if u.note or u.photo), None)
        note = ""
        if last_note is not None:
            note = ctx.t("actas.matrix.note", date=ctx.day(last_note.at),
                         note=(last_note.note or "").strip() or ctx.t("actas.matrix.photo"))
            if last_note.photo and last_note.note:
                note += " " + ctx.t("actas.matrix.with_photo")
        rows.append(MatrixRow(section, objective, a.text, await _responsible(session, a),
                              a.due, status,
                              ctx.local(a.status_at).date() if a.status_at else None,
                              cells, note, overdue, a.id))
    return rows, months, last_report


def month_name(ctx: Ctx, month: date, short: bool = False) -> str:
    pattern = ctx.t("actas.matrix.month_short" if short else "actas.matrix.month_format")
    return format_date(month, pattern, locale=ctx.babel)


async def follow_up_matrix(session: AsyncSession, program_id: int, fmt: str = "xlsx", *,
                           now: datetime, locale: str | None = "es",
                           catalogs: Catalogs | None = None,
                           font_dirs: Sequence[Path] = FONT_DIRS) -> ExportFile:
    """The matriz de seguimiento: XLSX (landscape, one printable sheet) or PDF."""
    program = await programs.existing(session, program_id)
    ctx = Ctx(catalogs, locale, program.timezone, now)
    rows, months, last_report = await follow_up_rows(session, program_id, ctx)
    title = ctx.t("actas.matrix.title")
    proves = _proves(program_template_or_none(program), ctx.locale, document="follow_up_matrix")
    details = program_details(program, ctx) + [
        *([(ctx.t("actas.doc.stage"), proves)] if proves else []),
        (ctx.t("actas.matrix.cut_off"), ctx.long_date(ctx.now)),
        (ctx.t("actas.matrix.last_report"),
         ctx.long_date(last_report) if last_report else ctx.t("actas.matrix.no_reports")),
        (ctx.t("actas.matrix.actions"), str(len(rows))),
        (ctx.t("actas.matrix.overdue_count"), str(sum(r.overdue for r in rows))),
    ]
    stem = f"{ctx.t('actas.matrix.file')}-{slugify(program.name)}-{ctx.local(now).date()}"
    if fmt == "xlsx":
        data = _matrix_xlsx(ctx, program.name, title, details, rows, months)
    elif fmt == "pdf":
        data = _matrix_pdf(ctx, font_dirs, program.name, title, details, rows, months)
    else:
        raise ValueError(f"unknown format {fmt!r}")
    return ExportFile(f"{stem}.{fmt}", data, MIME[fmt])


def _headers(ctx: Ctx) -> list[str]:
    return [ctx.t(k) for k in ("exports.col.number", "actas.col.objective", "actas.col.action",
                               "actas.col.responsible", "actas.col.due", "actas.col.status",
                               "actas.col.since")]


def _matrix_xlsx(ctx: Ctx, program: str, title: str, details: list[tuple[str, str]],
                 rows: list[MatrixRow], months: list[date]) -> bytes:
    from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
    from openpyxl.utils import get_column_letter

    wb = _new_workbook(ctx, title)
    ws = wb.active
    ws.title = _sheet_title(title)
    _put(ws, 1, 1, title).font = Font(bold=True, size=14)
    _put(ws, 2, 1, program)
    r = 3
    for label, value in details:
        _put(ws, r, 1, label).font = Font(bold=True)
        _put(ws, r, 3, value)
        r += 1
    _put(ws, r, 1, ctx.generated()).font = Font(italic=True, color="646A73")
    head_row = r + 2
    headers = _headers(ctx) + [month_name(ctx, m) for m in months] + [
        ctx.t("actas.col.last_note")]
    thin = Side(style="thin", color="A0A8B4")
    for c, h in enumerate(headers, 1):
        cell = _put(ws, head_row, c, h)
        cell.font = Font(bold=True)
        cell.fill = PatternFill("solid", fgColor="DEE4ED")
        cell.alignment = Alignment(vertical="center", horizontal="center", wrap_text=True)
        cell.border = Border(bottom=thin)
    late = PatternFill("solid", fgColor="F8D7DA")
    done = PatternFill("solid", fgColor="D4EDDA")
    r = head_row + 1
    section = None
    n = 0
    for row in rows:
        if row.section != section:
            section = row.section
            _put(ws, r, 1, section).font = Font(bold=True, size=12)
            r += 1
        n += 1
        values: list[Any] = [n, row.objective, row.text, row.responsible, row.due, row.status,
                             row.since, *row.months, row.note]
        for c, v in enumerate(values, 1):
            cell = _put(ws, r, c, v)
            cell.alignment = Alignment(vertical="top", wrap_text=True)
            cell.border = Border(bottom=thin)
            if isinstance(v, date):
                cell.number_format = ctx.t("exports.xlsx.date")
        status_cell = ws.cell(row=r, column=6)
        if row.overdue:
            status_cell.fill = late
        elif row.status == _status(ctx, ActionStatus.DONE):
            status_cell.fill = done
        r += 1
    widths = [5, 28, 40, 22, 12, 18, 12] + [11] * len(months) + [40]
    for c, w in enumerate(widths, 1):
        ws.column_dimensions[get_column_letter(c)].width = w
    ws.freeze_panes = ws.cell(row=head_row + 1, column=4)
    ws.print_title_rows = f"{head_row}:{head_row}"
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    return _workbook_bytes(wb)


def _matrix_pdf(ctx: Ctx, font_dirs: Sequence[Path], program: str, title: str,
                details: list[tuple[str, str]], rows: list[MatrixRow],
                months: list[date]) -> bytes:
    pdf = _new_pdf(ctx, font_dirs, landscape=True, title=title, running_title=title)
    pdf.add_page()
    pdf.heading(program, title, details)
    shown = months[-PDF_MONTHS_MAX:]
    skip = len(months) - len(shown)
    headers = _headers(ctx) + [month_name(ctx, m, short=True) for m in shown] + [
        ctx.t("actas.col.last_note")]
    fixed = [8, 26, 40, 22, 16, 18, 16]
    month_w = 9.0
    note_w = max(pdf.epw - sum(fixed) - month_w * len(shown), 28)
    codes = {_status(ctx, s): ctx.t(f"actas.code.{s}") for s in ActionStatus}
    sections: dict[str, list[MatrixRow]] = {}
    for row in rows:
        sections.setdefault(row.section, []).append(row)
    n = 0
    for name, group in sections.items():
        pdf.section(name)
        table = []
        for row in group:
            n += 1
            table.append([str(n), row.objective, row.text, row.responsible,
                          ctx.day(row.due) if row.due else "—", row.status,
                          ctx.day(row.since) if row.since else "—",
                          *[codes.get(c, c) for c in row.months[skip:]], row.note])
        pdf.grid(headers, table, [*fixed, *[month_w] * len(shown), note_w], size=7)
    if not rows:
        pdf.para(ctx.t("actas.doc.none"))
    pdf.ln(2)
    if skip:
        pdf.para(ctx.t("actas.matrix.pdf_months", count=len(shown)), 8)
    pdf.para(ctx.t("actas.matrix.legend", legend=" · ".join(
        f"{ctx.t(f'actas.code.{s}')} = {_status(ctx, s)}" for s in ActionStatus)), 8)
    return bytes(pdf.output())


async def _last_report(req: Request) -> list[Evidence]:
    at = await actions.last_report_at(req.session, req.program.id, req.ctx.now)
    if at is None:
        return []
    return [Evidence(None, req.ctx.t("exports.verificadores.as_of", date=req.ctx.day(at)),
                     req.ctx.local(at).date())]


@producer("follow_up_matrix", formats=("xlsx", "pdf"), scope="program", evidence=_last_report)
async def _matrix(req: Request) -> list[ExportFile]:
    return [await follow_up_matrix(req.session, req.program.id, req.fmt, now=req.ctx.now,
                                   locale=req.ctx.locale, catalogs=req.ctx.catalogs,
                                   font_dirs=req.font_dirs)]
