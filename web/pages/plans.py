"""Planes: what stage 3 recorded in chat (handlers.admin.plans, handlers.admin.minutes),
read on one screen: the diagnosis, the priority matrix, the work and communications plans
with their actions, the follow-up matrix month by month, the session actas. The gestora may
report on an action here as its responsible person does with /avance (services.followup).
Every document is the one documents/ makes for the chat and the command line."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from documents import verificadores
from documents.minutes import follow_up_matrix, follow_up_rows, month_name
from documents.registry import PRODUCERS, Request
from services import followup
from storage import actions, meetings
from storage import diagnosis as diag
from storage import minutes as minutes_store
from storage import plans as plan_store
from storage.models import ActionItem, ActionStatus, Meeting, MinutesSection, PlanKind
from web.context import Page, Refusal, page
from web.downloads import asked_format, attachment, ctx_of
from web.sections import PLANS

assert verificadores  # imported for the producers it registers (diagnosis, plan, minutes)

# What a document of this page is called in its link, and how it is made.
PROGRAMME_DOCUMENTS = {"diagnostico": ("diagnosis", ("pdf",)),
                       "priorizacion": ("priority_matrix", ("xlsx", "pdf"))}
PLAN_SLUG = {"trabajo": PlanKind.WORK, "comunicaciones": PlanKind.COMMUNICATIONS}
SLUG_OF_PLAN = {v: k for k, v in PLAN_SLUG.items()}
REPORTED = tuple(followup.CODES.values())  # done, under way, stuck


@dataclass(frozen=True)
class ActionView:
    item: ActionItem
    responsible: str
    overdue: bool


async def _views(p: Page, items: list[ActionItem]) -> list[ActionView]:
    today = p.today
    return [ActionView(a, await followup.responsible(p.db, a),
                       a.status in actions.OPEN and a.due is not None and a.due < today)
            for a in items]


@dataclass(frozen=True)
class ObjectiveView:
    text: str | None  # None: the actions under no objective
    actions: list[ActionView]


@dataclass(frozen=True)
class PlanView:
    kind: str
    slug: str
    exists: bool
    approved: object
    objectives: list[ObjectiveView]
    count: int


async def _plan(p: Page, kind: PlanKind) -> PlanView:
    plan = await plan_store.of_kind(p.db, p.program.id, kind)
    if plan is None:
        return PlanView(kind, SLUG_OF_PLAN[kind], False, None, [], 0)
    items = [a for a in await actions.of_plan(p.db, plan.id)
             if a.status != ActionStatus.DROPPED]
    views = await _views(p, items)
    groups = []
    for o in await plan_store.objectives(p.db, plan.id):
        groups.append(ObjectiveView(o.text, [v for v in views if v.item.objective_id == o.id]))
    known = {o.id for o in await plan_store.objectives(p.db, plan.id)}
    loose = [v for v in views if v.item.objective_id not in known]
    if loose:
        groups.append(ObjectiveView(None, loose))
    return PlanView(kind, SLUG_OF_PLAN[kind], True, plan.approved_at, groups, len(views))


@page(PLANS)
async def overview(p: Page) -> Response:
    entries = await diag.entries(p.db, p.program.id)
    diagnosis = {c: [e.text for e in entries if e.category == c] for c in diag.CATEGORIES}
    matrix = await diag.matrix(p.db, p.program.id)
    plans = [await _plan(p, kind) for kind in (PlanKind.WORK, PlanKind.COMMUNICATIONS)]
    return p.render("plans/index.html", diagnosis=diagnosis, has_diagnosis=bool(entries),
                    matrix=matrix, scored=diag.SCORED, plans=plans)


@page(PLANS)
async def follow_up(p: Page) -> Response:
    ctx = ctx_of(p)
    rows, months, last_report = await follow_up_rows(p.db, p.program.id, ctx)
    sections: list[tuple[str, list]] = []
    for row in rows:
        if not sections or sections[-1][0] != row.section:
            sections.append((row.section, []))
        sections[-1][1].append(row)
    return p.render("plans/follow_up.html", sections=sections, count=len(rows),
                    overdue=sum(r.overdue for r in rows), last_report=last_report,
                    months=[month_name(ctx, m, short=True) for m in months])


@dataclass(frozen=True)
class ActaRow:
    meeting: Meeting
    kind: str
    topics: int
    agreements: int
    commitments: int


async def _meeting_of(p: Page, meeting_id: int) -> Meeting:
    m = await meetings.get(p.db, meeting_id)
    if m is None or m.program_id != p.program.id:
        raise Refusal(404, "web.plans.not_found")
    return m


@page(PLANS)
async def actas(p: Page) -> Response:
    rows = []
    for minutes in reversed(await minutes_store.of_program(p.db, p.program.id)):
        m = await meetings.get(p.db, minutes.meeting_id) if minutes.meeting_id else None
        if m is None:
            continue
        items = await minutes_store.items(p.db, minutes.id)
        rows.append(ActaRow(
            m, meetings.meeting_kind_name(p.program, m.kind, p.loc),
            sum(i.section == MinutesSection.TOPIC for i in items),
            sum(i.section == MinutesSection.AGREEMENT for i in items),
            len(await actions.of_minutes(p.db, minutes.id))))
    return p.render("plans/actas.html", rows=rows)


@page(PLANS)
async def acta(p: Page) -> Response:
    m = await _meeting_of(p, p.request.path_params["mid"])
    minutes = await minutes_store.of_meeting(p.db, m.id)
    if minutes is None:
        raise Refusal(404, "web.plans.not_found")
    topics = await minutes_store.items(p.db, minutes.id, MinutesSection.TOPIC)
    agreements = await minutes_store.items(p.db, minutes.id, MinutesSection.AGREEMENT)
    commitments = await _views(p, await actions.of_minutes(p.db, minutes.id))
    return p.render("plans/acta.html", meeting=m,
                    kind=meetings.meeting_kind_name(p.program, m.kind, p.loc),
                    topics=[t.text for t in topics], agreements=[t.text for t in agreements],
                    commitments=commitments)


# --- one action, and a report on it ----------------------------------------------------------


async def _action(p: Page) -> ActionItem:
    item = await followup.reportable(p.db, p.request.path_params["aid"], p.program.id)
    if item is None:
        raise Refusal(404, "web.plans.not_found")
    return item


async def _show_action(p: Page, item: ActionItem, *, status: int = 200,
                       error: str | None = None, chosen: str = "", note: str = "",
                       done: bool = False) -> Response:
    [view] = await _views(p, [item])
    history = (await actions.history(p.db, [item.id]))[item.id]
    return p.render("plans/action.html", status=status, view=view, history=history,
                    statuses=REPORTED, error=error, chosen=chosen, note=note, done=done,
                    max_note=followup.NOTE_MAX)


@page(PLANS)
async def action(p: Page) -> Response:
    item = await _action(p)
    return await _show_action(p, item, done=p.request.query_params.get("listo") == "1")


@page(PLANS)
async def report(p: Page) -> Response:
    item = await _action(p)
    form = p.form
    status = str(form.get("status", "")) if form is not None else ""
    note = str(form.get("note", "")).strip() if form is not None else ""
    if status not in REPORTED:
        return await _show_action(p, item, status=422, error="web.plans.report_pick",
                                  note=note)
    if len(note) > followup.NOTE_MAX:
        return await _show_action(p, item, status=422, error="web.plans.report_too_long",
                                  chosen=status, note=note)
    if not followup.may_report(item, p.person.id, p.roles):
        raise Refusal(403, "web.refused.read_only")
    update = await followup.report(p.db, item, status, now=p.now, by_person_id=p.person.id,
                                   note=note or None)
    p.audit("action_reported", entity="action_item", entity_id=item.id, status=status,
            update_id=update.id)
    return p.redirect(p.link("planes", f"acciones/{item.id}?listo=1"))


# --- the documents ---------------------------------------------------------------------------


async def _made(p: Page, key: str, fmt: str, subject_id: int | None = None) -> Response:
    req = Request(p.db, p.program, key, ctx_of(p), fmt=fmt, subject_id=subject_id)
    try:
        files = await PRODUCERS[key].make(req)
    except LookupError:
        # Nothing recorded yet to make it of (the link was on a page older than the record).
        raise Refusal(404, "web.plans.nothing_yet") from None
    p.audit("export", entity="program", entity_id=p.program.id, what=key, format=fmt,
            subject=subject_id)
    return attachment(files[0])


@page(PLANS)
async def programme_document(p: Page) -> Response:
    found = PROGRAMME_DOCUMENTS.get(p.request.path_params["doc"])
    if found is None:
        raise Refusal(404, "web.plans.not_found")
    key, formats = found
    return await _made(p, key, asked_format(p, formats))


@page(PLANS)
async def plan_document(p: Page) -> Response:
    kind = PLAN_SLUG.get(p.request.path_params["slug"])
    plan = await plan_store.of_kind(p.db, p.program.id, kind) if kind else None
    if plan is None:
        raise Refusal(404, "web.plans.not_found")
    return await _made(p, "plan", asked_format(p, PRODUCERS["plan"].formats), plan.id)


@page(PLANS)
async def follow_up_document(p: Page) -> Response:
    fmt = asked_format(p, ("xlsx", "pdf"))
    file = await follow_up_matrix(p.db, p.program.id, fmt, now=p.now, locale=p.loc,
                                  catalogs=p.panel.catalogs)
    p.audit("export", entity="program", entity_id=p.program.id, what="follow_up_matrix",
            format=fmt)
    return attachment(file)


@page(PLANS)
async def acta_document(p: Page) -> Response:
    m = await _meeting_of(p, p.request.path_params["mid"])
    return await _made(p, "minutes", "pdf", m.id)


routes: list[BaseRoute] = [
    Route("/p/{pid:id}/planes/", overview, methods=["GET"]),
    Route("/p/{pid:id}/planes/seguimiento", follow_up, methods=["GET"]),
    Route("/p/{pid:id}/planes/seguimiento.{fmt}", follow_up_document, methods=["GET"]),
    Route("/p/{pid:id}/planes/actas", actas, methods=["GET"]),
    Route("/p/{pid:id}/planes/actas/{mid:id}", acta, methods=["GET"]),
    Route("/p/{pid:id}/planes/actas/{mid:id}/acta.pdf", acta_document, methods=["GET"]),
    Route("/p/{pid:id}/planes/acciones/{aid:id}", action, methods=["GET"]),
    Route("/p/{pid:id}/planes/acciones/{aid:id}", report, methods=["POST"]),
    Route("/p/{pid:id}/planes/plan-{slug}.{fmt}", plan_document, methods=["GET"]),
    Route("/p/{pid:id}/planes/{doc}.{fmt}", programme_document, methods=["GET"]),
]
