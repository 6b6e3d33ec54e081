"""Etapas: every stage with its activities (milestones), their dates, done or not, overdue,
sessions held against the minimum and what each still lacks; the team moves an activity's
date (typed as people say dates, in the programme's zone) and marks it done or pending
again, with the same use cases as the chat's /etapas (services.stages)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from locales import Day, Msg, Text
from services import dates
from services import stages as stage_use
from storage import stages as stage_rows
from storage.stages import MANUAL, MilestoneStatus, StageError, StageStatus
from web import render
from web.context import Page, Refusal, page
from web.forms import form_id
from web.sections import STAGES

NOTICES = {"moved": "web.stages.moved", "done": "web.stages.marked_done",
           "pending": "web.stages.marked_pending"}


@dataclass(frozen=True)
class MilestoneView:
    id: int
    name: Msg
    starts: date
    due: date
    planned_due: date | None  # the template's date, when it was moved
    done_at: datetime | None
    state: Msg
    tone: str  # done | late | current | upcoming: how the state is shown
    sessions: Msg | None
    holds: list[Msg]  # what Convoca already holds for its records ("3 fichas recibidas")
    lacks: list[Msg]  # what it knows is still missing
    to_confirm: list[Msg]  # records only the gestora can confirm, by marking it done
    will_need: list[Msg]  # not begun yet: the records it will ask for
    typed: str  # what the date field shows: her typing after a refusal, else the due date
    error: Msg | None = None


@dataclass(frozen=True)
class StageView:
    number: int
    name: Msg
    starts: date
    due: date
    done: int
    total: int
    overdue: int
    milestones: list[MilestoneView] = field(default_factory=list)


def _tone(m: MilestoneStatus) -> str:
    if m.done:
        return "done"
    if m.overdue:
        return "late"
    return "current" if m.current else "upcoming"


def _view(m: MilestoneStatus, typed: str | None, error: Msg | None) -> MilestoneView:
    return MilestoneView(
        id=m.id, name=render.said(stage_use.name(m)), starts=m.starts, due=m.due,
        planned_due=m.planned_due if m.moved else None, done_at=m.done_at,
        state=stage_use.state(m), tone=_tone(m),
        sessions=stage_use.sessions_line(m) if m.min_sessions else None,
        holds=stage_use.evidence(m) if not m.done else [],
        lacks=stage_use.lacks(m, sessions=False),
        to_confirm=[stage_use.verifier_line(v) for v in m.in_state(MANUAL)]
        if m.started and not m.done else [],
        will_need=[render.said(Text(v.name)) for v in m.verifiers] if not m.started else [],
        typed=typed if typed is not None else m.due.strftime("%d-%m-%Y"),
        error=error)


def _stage(s: StageStatus, views: list[MilestoneView]) -> StageView:
    name = render.said(Text(s.name)) if s.name else Msg("adm_stages.other")
    return StageView(s.number, name, s.starts, s.due, s.done, len(s.milestones), s.overdue,
                     views)


async def show(p: Page, *, status: int = 200, refused: int | None = None,
               typed: str | None = None, error: Msg | None = None) -> Response:
    """The section, with a refused date's message beside its field (``refused``)."""
    today = p.today
    stages = await stage_rows.stage_status(p.db, p.program.id, today)
    views = [
        _stage(s, [_view(m, typed if m.id == refused else None,
                         error if m.id == refused else None) for m in s.milestones])
        for s in stages
    ]
    notice = None
    key = NOTICES.get(p.request.query_params.get("aviso", ""))
    shown = form_id(p.request.query_params.get("m"))
    if key and shown is not None:
        found = next((m for s in stages for m in s.milestones if m.id == shown), None)
        if found is not None:
            notice = Msg(key, {"name": stage_use.name(found), "due": Day(found.due)})
    current = stage_rows.current_stage(stages, today) if stages else -1
    return p.render("stages/index.html", status=status, stages=views, current=current,
                    notice=notice, error=error if refused is not None else None)


@page(STAGES)
async def stages_page(p: Page) -> Response:
    return await show(p)


def _milestone_id(p: Page) -> int:
    return int(p.request.path_params["mid"])


def _done_with(p: Page, mid: int, notice: str) -> Response:
    return p.redirect(p.link("etapas", f"?aviso={notice}&m={mid}#m-{mid}"))


@page(STAGES)
async def move_date(p: Page) -> Response:
    mid = _milestone_id(p)
    typed = str(p.form.get("due", "") if p.form else "").strip()
    if not typed:
        return await show(p, status=422, refused=mid, typed=typed,
                          error=Msg("web.stages.date_required"))
    try:
        day = dates.parse_date(typed, p.today)
    except dates.DateProblem as problem:
        return await show(p, status=422, refused=mid, typed=typed,
                          error=dates.date_problem(problem))
    try:
        change = await stage_use.move(p.db, p.program.id, mid, day)
    except StageError:
        m = await stage_rows.milestone_of(p.db, p.program.id, mid)
        return await show(p, status=422, refused=mid, typed=typed,
                          error=Msg("adm_stages.before_start",
                                    {"starts": Day(m.starts if m else day)}))
    if change is None:
        raise Refusal(404, "web.stages.not_found")
    if change.action:
        p.audit(change.action, entity="milestone", entity_id=mid, **change.details)
    return _done_with(p, mid, "moved")


async def _mark(p: Page, *, done: bool) -> Response:
    mid = _milestone_id(p)
    change = await stage_use.set_done(p.db, p.program.id, mid, done=done, now=p.now)
    if change is None:
        raise Refusal(404, "web.stages.not_found")
    if change.action:
        p.audit(change.action, entity="milestone", entity_id=mid, **change.details)
    return _done_with(p, mid, "done" if done else "pending")


@page(STAGES)
async def mark_done(p: Page) -> Response:
    return await _mark(p, done=True)


@page(STAGES)
async def mark_pending(p: Page) -> Response:
    return await _mark(p, done=False)


routes: list[BaseRoute] = [
    Route("/p/{pid:id}/etapas/", stages_page, methods=["GET"]),
    Route("/p/{pid:id}/etapas/{mid:id}/fecha", move_date, methods=["POST"]),
    Route("/p/{pid:id}/etapas/{mid:id}/hecha", mark_done, methods=["POST"]),
    Route("/p/{pid:id}/etapas/{mid:id}/pendiente", mark_pending, methods=["POST"]),
]
