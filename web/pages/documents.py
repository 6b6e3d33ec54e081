"""Documentos: every export the chat sends and the command line writes, from the same
producers (documents/): the attendance lists of the sessions and the lists of the delivery
days between two dates, the fichas and the invited organisations, every verificador the
programme's template asks for, stage by stage, and the progress report's figures with its
charts drawn on the server (web.charts)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from documents import exports, verificadores
from documents.progress import cut_off
from locales import Day, Msg
from services import dates
from storage import delivery, meetings
from storage.models import DeliveryDay, Meeting
from storage.progress import progress_figures
from web import charts, render
from web.context import Page, Refusal, page
from web.downloads import asked_format, attachment, ctx_of, one_or_zip
from web.forms import form_id
from web.sections import DOCUMENTS

LISTING_FORMATS = ("pdf", "xlsx", "csv")
PROGRAMME_EXPORTS = {"fichas": ("pdf", "xlsx"), "organizaciones": ("xlsx", "pdf", "csv")}
REPORT_FORMATS = ("pdf", "xlsx")


@dataclass
class DateFilter:
    """From and until, typed as people write dates ("1-3-2026", "2026-03-01", "hoy"), read
    in the programme's zone; either may be left empty."""

    typed: dict[str, str] = field(default_factory=dict)
    first: date | None = None
    last: date | None = None
    errors: dict[str, Msg] = field(default_factory=dict)

    def holds(self, day: date) -> bool:
        return (self.first is None or day >= self.first) and \
            (self.last is None or day <= self.last)


def _dates(p: Page, names: tuple[str, ...] = ("desde", "hasta")) -> DateFilter:
    f = DateFilter()
    today = p.today
    for name in names:
        text = p.request.query_params.get(name, "").strip()
        if not text:
            continue
        f.typed[name] = text
        try:
            value = dates.parse_date(text, today)
        except dates.DateProblem as problem:
            f.errors[name] = dates.date_problem(problem)
            continue
        if name == "desde":
            f.first = value
        else:
            f.last = value
    if f.first and f.last and f.first > f.last:
        f.errors["hasta"] = Msg("web.documents.until_before_from")
    return f


@page(DOCUMENTS)
async def index(p: Page) -> Response:
    f = _dates(p)
    ctx = ctx_of(p)
    sessions: list[tuple[Meeting, str]] = []
    days: list[DeliveryDay] = []
    if not f.errors:
        for m in await meetings.of_program(p.db, p.program.id):
            if f.holds(ctx.local(m.starts_at).date()):
                sessions.append((m, meetings.meeting_kind_name(p.program, m.kind, p.loc)))
        days = [d for d in await delivery.all_days(p.db, p.program.id)
                if f.holds(ctx.local(d.window_start).date())]
    return p.render("documents/index.html", status=400 if f.errors else 200, filter=f,
                    sessions=sessions, days=days, formats=LISTING_FORMATS,
                    programme=PROGRAMME_EXPORTS)


def _kw(p: Page) -> dict[str, Any]:
    return {"now": p.now, "locale": p.loc, "catalogs": p.panel.catalogs}


@page(DOCUMENTS)
async def attendance(p: Page) -> Response:
    fmt = asked_format(p, LISTING_FORMATS)
    m = await meetings.get(p.db, p.request.path_params["mid"])
    if m is None or m.program_id != p.program.id:
        raise Refusal(404, "web.plans.not_found")
    file = await exports.attendance_list(p.db, m.id, fmt, **_kw(p))
    p.audit("export", entity="meeting", entity_id=m.id, what="attendance", format=fmt)
    return attachment(file)


@page(DOCUMENTS)
async def day_list(p: Page) -> Response:
    fmt = asked_format(p, LISTING_FORMATS)
    day = await delivery.get_day(p.db, p.program.id, p.request.path_params["did"])
    if day is None:
        raise Refusal(404, "web.plans.not_found")
    file = await exports.delivery_day_list(p.db, day.id, fmt, **_kw(p))
    p.audit("export", entity="delivery_day", entity_id=day.id, what="delivery_day",
            format=fmt)
    return attachment(file)


@page(DOCUMENTS)
async def programme_export(p: Page) -> Response:
    what = p.request.path_params["what"]
    if what not in PROGRAMME_EXPORTS:
        raise Refusal(404, "web.plans.not_found")
    fmt = asked_format(p, PROGRAMME_EXPORTS[what])
    if what == "fichas" and fmt == "pdf":
        files = await exports.ficha_pdfs(p.db, p.program.id, **_kw(p))
        if not files:
            raise Refusal(404, "web.plans.nothing_yet")
    elif what == "fichas":
        files = [await exports.fichas_xlsx(p.db, p.program.id, **_kw(p))]
    else:
        files = [await exports.invited_organizations(p.db, p.program.id, fmt, **_kw(p))]
    p.audit("export", entity="program", entity_id=p.program.id, what=what, format=fmt,
            files=len(files))
    return one_or_zip(files, p.t(f"web.documents.zip_{what}"))


# --- the verificadores, stage by stage --------------------------------------------------------


@dataclass(frozen=True)
class StageView:
    number: int | None
    name: str
    rows: list[verificadores.Required]

    @property
    def done(self) -> int:
        return sum(1 for r in self.rows if r.evidence)


@page(DOCUMENTS)
async def verifiers(p: Page) -> Response:
    stages: list[StageView] = []
    for r in await verificadores.required(p.db, p.program, ctx_of(p)):
        if not stages or stages[-1].number != r.stage:
            stages.append(StageView(r.stage, r.stage_name, []))
        stages[-1].rows.append(r)
    return p.render("documents/verificadores.html", stages=stages)


@page(DOCUMENTS)
async def verifier_file(p: Page) -> Response:
    q = p.request.query_params
    activity, key, fmt = q.get("actividad", ""), q.get("verificador", ""), q.get("formato", "")
    subject = form_id(q.get("de", "0"))
    ctx = ctx_of(p)
    found = next((r for r in await verificadores.required(p.db, p.program, ctx)
                  if r.activity == activity and r.verifier == key), None)
    if found is None or subject is None:
        raise Refusal(404, "web.plans.not_found")
    try:
        files = await verificadores.make_for(p.db, p.program, ctx, found, subject or None,
                                             fmt)
    except (ValueError, LookupError):
        raise Refusal(404, "web.plans.nothing_yet") from None
    p.audit("export", entity="program", entity_id=p.program.id, what=key, format=fmt,
            subject=subject or None, files=len(files))
    return one_or_zip(files, key)


# --- the progress report ------------------------------------------------------------------


def _progress_charts(figures: dict[str, Any], p: Page) -> list[str]:
    """Planned against held sessions per activity, and families against baskets per
    programme month: the report's own figures (storage.progress), drawn as SVG."""
    t = p.t
    asked = [a for a in figures["activities"] if a["planned_sessions"]]
    sessions = charts.bars(
        "chart-sessions", t("web.documents.chart_sessions"),
        t("web.documents.chart_sessions_desc", date=Day(figures["today"])),
        (t("web.documents.planned"), t("web.documents.held")),
        [charts.Group(_name(a, p.loc), (a["planned_sessions"], a["held"])) for a in asked],
        empty=t("web.documents.chart_empty"), number=render.number)
    months = figures["months"]
    baskets = charts.bars(
        "chart-months", t("web.documents.chart_months"),
        t("web.documents.chart_months_desc", date=Day(figures["today"])),
        (t("web.documents.families"), t("web.documents.baskets")),
        [charts.Group(t("web.documents.month", month=m["month"]), (m["families"], m["baskets"]))
         for m in months] if any(m["baskets"] for m in months) else [],
        empty=t("web.documents.chart_empty"), number=render.number)
    return [sessions, baskets]


def _name(activity: dict[str, Any], loc: str) -> str:
    return activity["name"].get(loc) or activity["name"].get("es") or activity["key"]


@page(DOCUMENTS)
async def progress(p: Page) -> Response:
    f = _dates(p, ("hasta",))
    if f.errors:
        return p.render("documents/progress.html", status=400, filter=f, figures=None,
                        charts=[], activities=[], formats=REPORT_FORMATS)
    figures = await progress_figures(p.db, p.program.id, cut_off(p.program, p.now, f.last))
    activities = [(_name(a, p.loc), a) for a in figures["activities"] if a["planned_sessions"]]
    return p.render("documents/progress.html", filter=f, figures=figures,
                    charts=[render.safe(svg) for svg in _progress_charts(figures, p)],
                    activities=activities, formats=REPORT_FORMATS)


@page(DOCUMENTS)
async def progress_file(p: Page) -> Response:
    fmt = asked_format(p, REPORT_FORMATS)
    f = _dates(p, ("hasta",))
    if f.errors:
        raise Refusal(404, "web.plans.not_found")
    file = await exports.progress_report(p.db, p.program.id, fmt, **_kw(p), until=f.last)
    p.audit("export", entity="program", entity_id=p.program.id, what="progress", format=fmt,
            until=f.last.isoformat() if f.last else None)
    return attachment(file)


routes: list[BaseRoute] = [
    Route("/p/{pid:id}/documentos/", index, methods=["GET"]),
    Route("/p/{pid:id}/documentos/asistencia/{mid:id}.{fmt}", attendance, methods=["GET"]),
    Route("/p/{pid:id}/documentos/entregas/{did:id}.{fmt}", day_list, methods=["GET"]),
    Route("/p/{pid:id}/documentos/programa/{what}.{fmt}", programme_export, methods=["GET"]),
    Route("/p/{pid:id}/documentos/verificadores", verifiers, methods=["GET"]),
    Route("/p/{pid:id}/documentos/verificadores/archivo", verifier_file, methods=["GET"]),
    Route("/p/{pid:id}/documentos/avance", progress, methods=["GET"]),
    Route("/p/{pid:id}/documentos/avance.{fmt}", progress_file, methods=["GET"]),
]
