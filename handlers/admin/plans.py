"""Panel section "plans" (Diagnóstico y planes): stage 3 recorded by the gestora from the
sessions. The diagnosis (four categories, typed one per message or one per line), the
priority matrix (the body's criteria, each need and resource scored 1-5 per criterion) and
the two plans (objectives, and actions with every element the guide asks), validated in a
session. One question at a time; typed answers arrive in the flow ``adm_plans``.

Buttons, after ``adm:plans:``:
  (none) the menu · ``dg`` the diagnosis · ``dgs`` record it: which session ·
  ``dgm:<meeting|0>`` that session · ``dgn`` "Listo", next category · ``dgr`` /
  ``dgx:<entry>`` remove an entry · ``pm`` the matrix · ``pc`` / ``pcd`` criteria (typed /
  the usual three) · ``ps`` / ``psm:<meeting|0>`` score, in which session · ``sv:<n>`` a
  score · ``pl:<w|c>`` a plan · ``po:<w|c>`` an objective · ``pa:<w|c>`` / ``pao:<objective>``
  an action, under which objective · ``pr:<person>`` / ``pro`` responsible · ``cal:..`` its
  deadline · ``pnr`` no requirements · ``pal:1|0`` alliance · ``prm:<w|c>`` / ``pxo:<id>`` /
  ``pxa:<id>`` remove · ``pv:<w|c>`` / ``pvm:<meeting>`` validate in a session · ``doc:<d|m|w|c>:<fmt>`` the document · ``x`` stop."""

from __future__ import annotations

import dataclasses
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from documents import verificadores
from documents.base import Ctx
from documents.registry import Request
from domain import priorities
from domain.priorities import Problem
from handlers import widgets
from handlers.admin import (
    ADMIN,
    RECORDS,
    action,
    back_to_panel,
    guard,
    int_at,
    program_or_say,
    program_today,
    run_in_program,
    section,
)
from handlers.core import Router, Turn
from handlers.events import Attachment, Button, EventKind, Outgoing
from locales import Day, Msg, Raw, Text
from services import dates
from services.messages import DatePick
from storage import actions, meetings
from storage import diagnosis as diag
from storage import plans as plan_store
from storage.meetings import body_names, kind_names
from storage.models import (
    ActionItem,
    ActionStatus,
    Meeting,
    Person,
    Plan,
    PlanKind,
    PlanObjective,
    Program,
)

router = Router()

KEY = "plans"
FLOW = "adm_plans"
CAL = action(KEY, "cal")
MEETINGS_SHOWN = 8
LABEL_MAX = 40
KINDS = {"w": PlanKind.WORK, "c": PlanKind.COMMUNICATIONS}
CODE = {v: k for k, v in KINDS.items()}
DEFAULT_CRITERIA = ("criterion_urgency", "criterion_feasibility", "criterion_impact")
ACTION_STEPS = ("act_text", "act_result", "act_resp", "act_resp_name", "act_due", "act_req",
                "act_alliance", "act_ally")
TYPED_STEPS = ("dg_cat", "pm_criteria", "pm_score", "obj_text", "act_text", "act_result",
               "act_resp_name", "act_due", "act_req", "act_ally")


def act(*parts: object) -> str:
    return action(KEY, *parts)


def _rows(rows: list[list[Button]]) -> tuple[tuple[Button, ...], ...]:
    return tuple(tuple(r) for r in rows)


def _short(text: str) -> Raw:
    return Raw(text if len(text) <= LABEL_MAX else text[:LABEL_MAX - 1].rstrip() + "…")


def _cancel_row() -> list[Button]:
    return [Button(Msg("adm_plans.btn_cancel"), act("x"))]


def _back(to: str = "") -> list[Button]:
    return [Button(Msg("adm_plans.btn_back"), act(to) if to else act())]


def _cat_name(category: str) -> Msg:
    return Msg(f"adm_plans.cat_{category}")


# --- the section -------------------------------------------------------------------------


@section(KEY, "adm_plans.menu", roles=ADMIN, order=63, group=RECORDS)
async def open_plans(turn: Turn, parts: list[str]) -> None:
    await run_in_program(turn, parts, _VERBS, what=KEY, no_program="adm_plans.no_program")


async def _menu(turn: Turn, program: Program, args: list[str]) -> None:
    turn.go(None)
    turn.say("adm_plans.intro", buttons=[
        [Button(Msg("adm_plans.btn_diagnosis"), act("dg"))],
        [Button(Msg("adm_plans.btn_matrix"), act("pm"))],
        [Button(Msg("adm_plans.btn_plan_work"), act("pl", "w"))],
        [Button(Msg("adm_plans.btn_plan_communications"), act("pl", "c"))],
        [back_to_panel()],
    ])


async def _stop(turn: Turn, program: Program, args: list[str]) -> None:
    kind = turn.data("kind") if turn.convo.flow == FLOW else None
    turn.go(None)
    if kind in KINDS:
        await _plan(turn, program, [kind])
        return
    await _menu(turn, program, [])


def _in_step(turn: Turn, *steps: str) -> bool:
    """A question's button counts only while that question waits; older ones are stale."""
    if turn.convo.flow == FLOW and turn.convo.step in steps:
        return True
    turn.say("adm_plans.expired", buttons=[[Button(Msg("adm_plans.btn_menu"), act())]])
    return False


async def _meetings(turn: Turn, program: Program, kinds: tuple[str, ...], *,
                    held_only: bool = False) -> list[Meeting]:
    return await meetings.of_program(turn.session, program.id,
                                     until=turn.now if held_only else None, kinds=kinds,
                                     newest_first=True, limit=MEETINGS_SHOWN)


def _meeting_label(program: Program, m: Meeting) -> Msg:
    return Msg("adm_plans.btn_meeting", {
        "day": Day(m.starts_at.astimezone(_zone(program)).date(), "short_year"),
        "what": Raw(m.title[:30]) if m.title else Text(kind_names(program, m.kind))})


def _zone(program: Program) -> ZoneInfo:
    return ZoneInfo(program.timezone)


def _meeting_day(program: Program, m: Meeting | None) -> Day | None:
    return Day(m.starts_at.astimezone(_zone(program)).date()) if m is not None else None


def _validation_kinds(code: str) -> tuple[str, ...]:
    # A plan may also be validated in one of its body's ordinary sessions.
    kind = KINDS[code]
    return (plan_store.MEETING_KIND_OF[kind], plan_store.BODY_OF[kind])


async def _meeting_of(turn: Turn, program: Program, meeting_id: int | None) -> Meeting | None:
    if not meeting_id:
        return None
    m = await turn.session.get(Meeting, meeting_id)
    return m if m is not None and m.program_id == program.id else None


# --- asking ------------------------------------------------------------------------------


async def _question(turn: Turn, program: Program, step: str) -> Outgoing:
    d = turn.convo.data or {}
    if step in ("dg_session", "pm_session", "pv_session"):
        kind = {"dg_session": "diagnostico", "pm_session": "priorizacion"}.get(
            step) or plan_store.MEETING_KIND_OF[KINDS[d["kind"]]]
        kinds = _validation_kinds(d["kind"]) if step == "pv_session" else (kind,)
        found = await _meetings(turn, program, kinds, held_only=step == "pv_session")
        verb = {"dg_session": "dgm", "pm_session": "psm", "pv_session": "pvm"}[step]
        rows = [[Button(_meeting_label(program, m), act(verb, m.id))] for m in found]
        if step != "pv_session":
            rows.append([Button(Msg("adm_plans.btn_no_session"), act(verb, 0))])
        text = Msg(f"adm_plans.ask_{step}", {"kind": Text(kind_names(program, kind))})
        if step == "pv_session" and not found:
            text = Msg("adm_plans.no_session_held", {"kind": Text(kind_names(program, kind))})
        return Outgoing(text=text, buttons=_rows(rows + [_cancel_row()]))
    if step == "dg_cat":
        category = diag.CATEGORIES[d["cat"]]
        return Outgoing(text=Msg("adm_plans.ask_dg_cat", {
            "n": d["cat"] + 1, "category": _cat_name(category),
            "hint": Msg(f"adm_plans.hint_{category}")}), buttons=_rows([
                [Button(Msg("adm_plans.btn_done"), act("dgn"))], _cancel_row()]))
    if step == "pm_criteria":
        usual = [Msg(f"adm_plans.{k}") for k in DEFAULT_CRITERIA]
        return Outgoing(text=Msg("adm_plans.ask_pm_criteria"), buttons=_rows([
            [Button(Msg("adm_plans.btn_usual_criteria", {"names": Msg(
                "adm_plans.three", {"a": usual[0], "b": usual[1], "c": usual[2]})}),
                act("pcd"))], _cancel_row()]))
    if step == "pm_score":
        return await _score_question(turn, program)
    if step == "obj_text":
        return Outgoing(text=Msg("adm_plans.ask_obj_text"), buttons=_rows([_cancel_row()]))
    if step == "act_obj":
        plan = await _plan_row(turn, program, d["kind"])
        objs = await plan_store.objectives(turn.session, plan.id) if plan else []
        rows = [[Button(Msg("adm_plans.btn_objective", {"n": i + 1, "text": _short(o.text)}),
                        act("pao", o.id))] for i, o in enumerate(objs)]
        return Outgoing(text=Msg("adm_plans.ask_act_obj"), buttons=_rows(rows + [_cancel_row()]))
    if step == "act_resp":
        plan = await _plan_row(turn, program, d["kind"])
        people = await plan_store.members(turn.session, plan.body_id if plan else None)
        rows = [[Button(Msg("adm_plans.plain", {"text": Raw(p.name or "—")}), act("pr", p.id))]
                for p in people if p.name]
        rows.append([Button(Msg("adm_plans.btn_other_person"), act("pro"))])
        return Outgoing(text=Msg("adm_plans.ask_act_resp"), buttons=_rows(rows + [_cancel_row()]))
    if step == "act_due":
        today = program_today(turn, program)
        month = date.fromisoformat(d.get("month") or today.replace(day=1).isoformat())
        return Outgoing(text=Msg("adm_plans.ask_act_due"), buttons=_rows([_cancel_row()]),
                        date_pick=DatePick(CAL, month, earliest=today))
    if step == "act_req":
        return Outgoing(text=Msg("adm_plans.ask_act_req"), buttons=_rows([
            [Button(Msg("adm_plans.btn_none"), act("pnr"))], _cancel_row()]))
    if step == "act_alliance":
        return Outgoing(text=Msg("adm_plans.ask_act_alliance"), buttons=_rows([
            [Button(Msg("adm_plans.btn_yes"), act("pal", 1)),
             Button(Msg("adm_plans.btn_no"), act("pal", 0))], _cancel_row()]))
    if step in ("act_text", "act_result", "act_resp_name", "act_ally"):
        return Outgoing(text=Msg(f"adm_plans.ask_{step}"), buttons=_rows([_cancel_row()]))
    raise LookupError(step)


async def _ask(turn: Turn, program: Program, step: str, *, hint: str | None = None,
               redraw: bool = False) -> None:
    turn.go(FLOW, step)
    out = await _question(turn, program, step)
    if hint:
        out = dataclasses.replace(out, text=Msg("adm_plans.reask", {
            "hint": Msg(f"adm_plans.{hint}"), "question": out.text}))
    turn.redraw(out) if redraw else turn.send(out)


# --- the diagnosis -----------------------------------------------------------------------


async def _diagnosis(turn: Turn, program: Program, args: list[str]) -> None:
    turn.go(None)
    rows = await diag.entries(turn.session, program.id)
    meeting = await diag.session_of(turn.session, program.id)
    buttons = [[Button(Msg("adm_plans.btn_record_diagnosis"), act("dgs"))]]
    if rows:
        buttons.append([Button(Msg("adm_plans.btn_remove_entry"), act("dgr"))])
        buttons.append(_document_row("d"))
    buttons.append(_back())
    if not rows:
        turn.say("adm_plans.diagnosis_empty", buttons=buttons)
        return
    turn.say("adm_plans.diagnosis_summary", session=_session_line(program, meeting),
             sections=_diagnosis_sections(rows), buttons=buttons)


def _session_line(program: Program, meeting: Meeting | None) -> Msg:
    if meeting is None:
        return Msg("adm_plans.line_no_session")
    return Msg("adm_plans.line_session", {"kind": Text(kind_names(program, meeting.kind)),
                                          "day": _meeting_day(program, meeting)})


def _diagnosis_sections(rows: list[Any]) -> list[Msg]:
    out = []
    for category in diag.CATEGORIES:
        mine = [r for r in rows if r.category == category]
        lines = [Msg("adm_plans.entry_line", {"n": i + 1, "text": Raw(r.text)})
                 for i, r in enumerate(mine)] or [Msg("adm_plans.entry_none")]
        out.append(Msg("adm_plans.section", {"title": _cat_name(category), "lines": lines}))
    return out


async def _diagnosis_start(turn: Turn, program: Program, args: list[str]) -> None:
    turn.go(None)
    turn.go(FLOW, "dg_session")
    await _ask(turn, program, "dg_session")


async def _diagnosis_meeting(turn: Turn, program: Program, args: list[str]) -> None:
    if not _in_step(turn, "dg_session"):
        return
    meeting_id = int_at(args, 0) or 0
    if meeting_id and await _meeting_of(turn, program, meeting_id) is None:
        turn.say("input.button_stale")
        return
    turn.go(FLOW, "dg_cat", meeting=meeting_id or None, cat=0, added=0)
    await _ask(turn, program, "dg_cat")


async def _diagnosis_typed(turn: Turn, program: Program, text: str) -> None:
    try:
        texts = priorities.entries(text)
    except Problem as exc:
        await _ask(turn, program, "dg_cat", hint=f"err_{exc.code}")
        return
    category = diag.CATEGORIES[turn.data("cat")]
    await diag.add(turn.session, program.id, category, texts, now=turn.now,
                   meeting_id=turn.data("meeting"))
    turn.audit("diagnosis_recorded", "program", program.id, category=category, entries=len(texts))
    turn.go(FLOW, "dg_cat", added=(turn.data("added") or 0) + len(texts))
    turn.say("adm_plans.entries_noted", count=len(texts), category=_cat_name(category),
             buttons=[[Button(Msg("adm_plans.btn_done"), act("dgn"))], _cancel_row()])


async def _diagnosis_next(turn: Turn, program: Program, args: list[str]) -> None:
    if not _in_step(turn, "dg_cat"):
        return
    following = turn.data("cat") + 1
    if following < len(diag.CATEGORIES):
        turn.go(FLOW, "dg_cat", cat=following, added=0)
        await _ask(turn, program, "dg_cat")
        return
    turn.go(None)
    await _diagnosis(turn, program, [])


async def _diagnosis_remove_list(turn: Turn, program: Program, args: list[str]) -> None:
    turn.go(None)
    rows = await diag.entries(turn.session, program.id)
    if not rows:
        await _diagnosis(turn, program, [])
        return
    buttons = [[Button(Msg("adm_plans.btn_entry", {"category": _cat_name(r.category),
                                                   "text": _short(r.text)}), act("dgx", r.id))]
               for r in rows]
    out = Outgoing(text=Msg("adm_plans.ask_remove_entry"),
                   buttons=_rows(buttons + [_back("dg")]))
    turn.redraw(out) if args else turn.send(out)


async def _diagnosis_remove(turn: Turn, program: Program, args: list[str]) -> None:
    row = await diag.entry(turn.session, program.id, int_at(args, 0) or 0)
    if row is None:
        turn.say("input.button_stale")
        return
    text = row.text
    await diag.remove(turn.session, row)
    turn.audit("diagnosis_entry_removed", "program", program.id, entry_id=int_at(args, 0))
    turn.say("adm_plans.entry_removed", text=_short(text))
    await _diagnosis_remove_list(turn, program, [])


# --- the priority matrix -----------------------------------------------------------------


async def _matrix(turn: Turn, program: Program, args: list[str]) -> None:
    turn.go(None)
    m = await diag.matrix(turn.session, program.id)
    if not m.size:
        turn.say("adm_plans.matrix_needs_diagnosis", buttons=[
            [Button(Msg("adm_plans.btn_diagnosis"), act("dg"))], _back()])
        return
    buttons = [[Button(Msg("adm_plans.btn_criteria"), act("pc"))]]
    if m.criteria:
        buttons.append([Button(Msg("adm_plans.btn_score"), act("ps"))])
    if m.scored:
        buttons.append(_document_row("m"))
    buttons.append(_back())
    if not m.criteria:
        turn.say("adm_plans.matrix_no_criteria", count=m.size, buttons=buttons)
        return
    meeting = await diag.scoring_session(turn.session, program.id)
    turn.say("adm_plans.matrix_summary", criteria=", ".join(c.name for c in m.criteria),
             session=_session_line(program, meeting), scored=m.scored, count=m.size,
             tables=_matrix_tables(m), buttons=buttons)


def _matrix_tables(m: diag.Matrix) -> list[Msg]:
    out = []
    for category, rows in m.tables.items():
        lines = [Msg("adm_plans.matrix_line" if r.rank else "adm_plans.matrix_line_unscored", {
            "rank": r.rank or 0, "text": Raw(r.entry.text), "total": r.total,
            "scores": " · ".join("–" if s is None else str(s) for s in r.scores)})
            for r in rows] or [Msg("adm_plans.entry_none")]
        out.append(Msg("adm_plans.section", {"title": _cat_name(category), "lines": lines}))
    return out


async def _criteria_ask(turn: Turn, program: Program, args: list[str]) -> None:
    turn.go(None)
    turn.go(FLOW, "pm_criteria")
    await _ask(turn, program, "pm_criteria")


async def _criteria_set(turn: Turn, program: Program, names: list[str]) -> None:
    crits = await diag.set_criteria(turn.session, program.id, names)
    turn.audit("priority_criteria_set", "program", program.id, count=len(crits))
    turn.say("adm_plans.criteria_saved", names=", ".join(c.name for c in crits))
    turn.go(FLOW, "pm_session")
    await _ask(turn, program, "pm_session")


async def _criteria_default(turn: Turn, program: Program, args: list[str]) -> None:
    if not _in_step(turn, "pm_criteria"):
        return
    await _criteria_set(turn, program, [turn.services.catalogs.render(
        Msg(f"adm_plans.{k}"), turn.locale, turn.timezone) for k in DEFAULT_CRITERIA])


async def _score_start(turn: Turn, program: Program, args: list[str]) -> None:
    turn.go(None)
    if not await diag.criteria(turn.session, program.id):
        await _criteria_ask(turn, program, [])
        return
    turn.go(FLOW, "pm_session")
    await _ask(turn, program, "pm_session")


async def _score_meeting(turn: Turn, program: Program, args: list[str]) -> None:
    if not _in_step(turn, "pm_session"):
        return
    meeting_id = int_at(args, 0) or 0
    if meeting_id and await _meeting_of(turn, program, meeting_id) is None:
        turn.say("input.button_stale")
        return
    ids = [e.id for category in diag.SCORED
           for e in await diag.entries(turn.session, program.id, category)]
    crits = [c.id for c in await diag.criteria(turn.session, program.id)]
    if not ids or not crits:
        turn.go(None)
        await _matrix(turn, program, [])
        return
    turn.go(FLOW, "pm_score", meeting=meeting_id or None, ids=ids, crits=crits, i=0, c=0)
    await _ask(turn, program, "pm_score")


async def _score_question(turn: Turn, program: Program) -> Outgoing:
    d = turn.convo.data or {}
    entry = await diag.entry(turn.session, program.id, d["ids"][d["i"]])
    if entry is None:  # removed from the diagnosis meanwhile
        turn.go(None)
        return Outgoing(text=Msg("adm_plans.expired"), buttons=_rows([
            [Button(Msg("adm_plans.btn_matrix"), act("pm"))]]))
    crit_names = {c.id: c.name for c in await diag.criteria(turn.session, program.id)}
    same = [e.id for e in await diag.entries(turn.session, program.id, entry.category)
            if e.id in d["ids"]]
    text = Msg("adm_plans.ask_pm_score", {
        "category": _cat_name(entry.category), "n": same.index(entry.id) + 1,
        "total": len(same), "text": Raw(entry.text),
        "criterion": Raw(crit_names.get(d["crits"][d["c"]], "")),
        "example": " ".join(str(n) for n in (4, 5, 3, 2, 4)[:len(d["crits"])])})
    scores = [Button(Msg("adm_plans.plain", {"text": str(n)}), act("sv", n))
              for n in range(priorities.SCORE_MIN, priorities.SCORE_MAX + 1)]
    return Outgoing(text=text, buttons=_rows([
        scores, [Button(Msg("adm_plans.btn_stop_scoring"), act("x"))]]))


async def _score_take(turn: Turn, program: Program, values: list[int]) -> None:
    """One score (for the criterion asked) or every criterion's at once; then the next
    question: the next criterion, or the next need or resource."""
    d = turn.convo.data or {}
    ids, crits, i, c = d["ids"], d["crits"], d["i"], d["c"]
    entry = await diag.entry(turn.session, program.id, ids[i])
    if entry is not None:
        targets = crits if len(values) == len(crits) else crits[c:c + 1]
        for crit_id, value in zip(targets, values, strict=True):
            await diag.set_score(turn.session, entry.id, crit_id, value,
                                 meeting_id=d.get("meeting"))
        c = len(crits) if len(values) == len(crits) else c + 1
    if entry is None or c >= len(crits):
        i, c = i + 1, 0
    if i >= len(ids):
        turn.audit("priority_scored", "program", program.id, entries=len(ids))
        turn.go(None)
        turn.say("adm_plans.scoring_done")
        await _matrix(turn, program, [])
        return
    turn.go(FLOW, "pm_score", i=i, c=c)
    await _ask(turn, program, "pm_score")


async def _score_button(turn: Turn, program: Program, args: list[str]) -> None:
    if not _in_step(turn, "pm_score"):
        return
    try:
        value = priorities.score(args[0] if args else "")
    except Problem:
        turn.say("input.button_stale")
        return
    await _score_take(turn, program, [value])


async def _score_typed(turn: Turn, program: Program, text: str) -> None:
    wanted = len(turn.data("crits") or [])
    try:
        values = priorities.scores(text, wanted)
    except Problem as exc:
        await _ask(turn, program, "pm_score", hint=f"err_{exc.code}")
        return
    if len(values) == wanted and wanted > 1 and turn.data("c"):
        # All at once is for a need not yet begun; mid-way, one score at a time.
        await _ask(turn, program, "pm_score", hint="err_score_count")
        return
    await _score_take(turn, program, values)


# --- the plans ---------------------------------------------------------------------------


async def _plan_row(turn: Turn, program: Program, code: str) -> Plan | None:
    return await plan_store.of_kind(turn.session, program.id, KINDS[code])


async def _ensure_plan(turn: Turn, program: Program, code: str) -> Plan:
    return await plan_store.ensure(turn.session, program.id, KINDS[code], now=turn.now)


def _code(args: list[str]) -> str | None:
    return args[0] if args and args[0] in KINDS else None


async def _responsible(turn: Turn, item: ActionItem) -> Raw:
    if item.responsible_person_id:
        person = await turn.session.get(Person, item.responsible_person_id)
        if person is not None and person.name:
            return Raw(person.name)
    return Raw(item.responsible_name or "—")


async def _action_line(turn: Turn, n: str, item: ActionItem) -> Msg:
    return Msg("adm_plans.action_line", {
        "n": n, "text": Raw(item.text), "result": Raw(item.expected_result or "—"),
        "who": await _responsible(turn, item),
        "due": Day(item.due) if item.due else Msg("adm_plans.no_due"),
        "needs": Raw(item.requirements) if item.requirements else Msg("adm_plans.none_needed"),
        "alliance": Msg("adm_plans.alliance_with", {"with": Raw(item.alliance_with or "—")})
        if item.alliance else Msg("adm_plans.alliance_none"),
        "dropped": Msg("adm_plans.dropped") if item.status == ActionStatus.DROPPED else ""})


async def _plan(turn: Turn, program: Program, args: list[str]) -> None:
    code = _code(args)
    if code is None:
        turn.say("input.button_stale")
        return
    turn.go(None)
    plan = await _ensure_plan(turn, program, code)
    body = await plan_store.body_for(turn.session, program.id, plan.kind)
    objs = await plan_store.objectives(turn.session, plan.id)
    items = await actions.of_plan(turn.session, plan.id)
    blocks = []
    for i, o in enumerate(objs, start=1):
        mine = [a for a in items if a.objective_id == o.id]
        lines = [await _action_line(turn, f"{i}.{j}", a) for j, a in enumerate(mine, start=1)]
        blocks.append(Msg("adm_plans.objective_block", {
            "n": i, "text": Raw(o.text), "actions": lines or [Msg("adm_plans.no_actions")]}))
    loose = [a for a in items if a.objective_id is None]
    for j, a in enumerate(loose, start=1):
        blocks.append(await _action_line(turn, f"–{j}", a))
    meeting = await _meeting_of(turn, program, plan.approved_meeting_id)
    validated = Msg("adm_plans.validated", {"day": _meeting_day(program, meeting),
                                            "kind": Text(kind_names(program, meeting.kind))}) \
        if meeting is not None else Msg("adm_plans.not_validated")
    buttons = [[Button(Msg("adm_plans.btn_add_objective"), act("po", code))]]
    if objs:
        buttons.append([Button(Msg("adm_plans.btn_add_action"), act("pa", code))])
    if objs or items:
        buttons.append([Button(Msg("adm_plans.btn_remove"), act("prm", code))])
    if items:
        buttons.append([Button(Msg("adm_plans.btn_validate"), act("pv", code))])
        buttons.append(_document_row(code))
    buttons.append(_back())
    turn.say("adm_plans.plan_summary", title=Msg(f"adm_plans.plan_{plan.kind}"),
             body=Text(body_names(program, body)) if body else Msg("adm_plans.no_body"),
             validated=validated,
             objectives=blocks or [Msg("adm_plans.no_objectives")], buttons=buttons)


async def _objective_new(turn: Turn, program: Program, args: list[str]) -> None:
    code = _code(args)
    if code is None:
        turn.say("input.button_stale")
        return
    turn.go(None)
    turn.go(FLOW, "obj_text", kind=code)
    await _ask(turn, program, "obj_text")


async def _objective_typed(turn: Turn, program: Program, text: str) -> None:
    try:
        value = priorities.short_text(text, priorities.ENTRY_MAX_LEN)
    except Problem as exc:
        await _ask(turn, program, "obj_text", hint=f"err_{exc.code}")
        return
    code = turn.data("kind")
    plan = await _ensure_plan(turn, program, code)
    objective = await plan_store.add_objective(turn.session, plan, value)
    turn.audit("plan_objective_added", "plan", plan.id, objective_id=objective.id)
    turn.go(None)
    turn.say("adm_plans.objective_added", buttons=[
        [Button(Msg("adm_plans.btn_add_action_here"), act("pao", objective.id))],
        [Button(Msg("adm_plans.btn_see_plan"), act("pl", code))]])


async def _action_new(turn: Turn, program: Program, args: list[str]) -> None:
    code = _code(args)
    if code is None:
        turn.say("input.button_stale")
        return
    plan = await _ensure_plan(turn, program, code)
    objs = await plan_store.objectives(turn.session, plan.id)
    turn.go(None)
    if not objs:
        turn.say("adm_plans.objective_first", buttons=[
            [Button(Msg("adm_plans.btn_add_objective"), act("po", code))]])
        return
    if len(objs) == 1:
        await _action_for(turn, program, objs[0])
        return
    turn.go(FLOW, "act_obj", kind=code)
    await _ask(turn, program, "act_obj")


async def _action_objective(turn: Turn, program: Program, args: list[str]) -> None:
    objective = await turn.session.get(PlanObjective, int_at(args, 0) or 0)
    plan = await turn.session.get(Plan, objective.plan_id) if objective else None
    if objective is None or plan is None or plan.program_id != program.id:
        turn.say("input.button_stale")
        return
    turn.go(None)
    await _action_for(turn, program, objective)


async def _action_for(turn: Turn, program: Program, objective: PlanObjective) -> None:
    plan = await turn.session.get(Plan, objective.plan_id)
    turn.go(FLOW, "act_text", kind=CODE[PlanKind(plan.kind)], objective=objective.id, new={})
    turn.say("adm_plans.action_for", n=objective.position, text=Raw(objective.text))
    await _ask(turn, program, "act_text")


async def _keep(turn: Turn, program: Program, field: str, value: Any, following: str) -> None:
    new = {**(turn.data("new") or {}), field: value}
    turn.go(FLOW, turn.convo.step, new=new)
    if following == "save":
        await _action_save(turn, program)
        return
    await _ask(turn, program, following)


async def _action_save(turn: Turn, program: Program) -> None:
    code = turn.data("kind")
    plan = await _ensure_plan(turn, program, code)
    new = turn.data("new") or {}
    item = await actions.add(
        turn.session, program_id=program.id, text=new["text"], now=turn.now,
        created_by=turn.person.id, plan_id=plan.id, objective_id=turn.data("objective"),
        expected_result=new.get("result"), responsible_person_id=new.get("person"),
        responsible_name=new.get("name"), due=date.fromisoformat(new["due"]),
        requirements=new.get("req"), alliance=bool(new.get("alliance")),
        alliance_with=new.get("with"),
        position=await plan_store.next_action_position(turn.session, plan.id))
    turn.audit("plan_action_added", "plan", plan.id, action_id=item.id)
    turn.go(None)
    turn.say("adm_plans.action_added", line=await _action_line(turn, "✓", item), buttons=[
        [Button(Msg("adm_plans.btn_add_action_here"), act("pao", item.objective_id))],
        [Button(Msg("adm_plans.btn_see_plan"), act("pl", code))]])


async def _action_typed(turn: Turn, program: Program, step: str, text: str) -> None:
    limits = {"act_text": priorities.ENTRY_MAX_LEN, "act_result": priorities.ENTRY_MAX_LEN,
              "act_resp_name": priorities.NAME_MAX_LEN, "act_req": priorities.ENTRY_MAX_LEN,
              "act_ally": priorities.ALLIANCE_MAX_LEN}
    if step == "act_due":
        await _due_typed(turn, program, text)
        return
    try:
        value = priorities.short_text(text, limits[step])
    except Problem as exc:
        await _ask(turn, program, step, hint=f"err_{exc.code}")
        return
    following = {"act_text": ("text", "act_result"), "act_result": ("result", "act_resp"),
                 "act_resp_name": ("name", "act_due"), "act_req": ("req", "act_alliance"),
                 "act_ally": ("with", "save")}
    field, nxt = following[step]
    await _keep(turn, program, field, value, nxt)


async def _responsible_member(turn: Turn, program: Program, args: list[str]) -> None:
    if not _in_step(turn, "act_resp"):
        return
    plan = await _plan_row(turn, program, turn.data("kind"))
    members = {p.id for p in await plan_store.members(turn.session, plan.body_id if plan else None)}
    person_id = int_at(args, 0)
    if person_id not in members:
        turn.say("input.button_stale")
        return
    await _keep(turn, program, "person", person_id, "act_due")


async def _responsible_other(turn: Turn, program: Program, args: list[str]) -> None:
    if not _in_step(turn, "act_resp"):
        return
    await _ask(turn, program, "act_resp_name")


async def _set_due(turn: Turn, program: Program, day: date) -> None:
    if day < program_today(turn, program):
        await _ask(turn, program, "act_due", hint="err_day_past")
        return
    await _keep(turn, program, "due", day.isoformat(), "act_req")


async def _due_typed(turn: Turn, program: Program, text: str) -> None:
    try:
        day = dates.parse_date(text, program_today(turn, program))
    except dates.DateProblem as problem:
        turn.go(FLOW, "act_due")
        out = await _question(turn, program, "act_due")
        turn.send(dataclasses.replace(out, text=Msg("adm_plans.reask", {
            "hint": dates.date_problem(problem), "question": out.text})))
        return
    await _set_due(turn, program, day)


async def _calendar(turn: Turn, program: Program, args: list[str]) -> None:
    if not _in_step(turn, "act_due"):
        return
    picked = widgets.parse(turn.action or "", CAL)
    if picked is None or picked.day is None:
        turn.say("input.button_stale")
        return
    if picked.kind == "m":
        turn.go(FLOW, "act_due", month=picked.day.isoformat())
        await _ask(turn, program, "act_due", redraw=True)
        return
    await _set_due(turn, program, picked.day)


async def _no_requirements(turn: Turn, program: Program, args: list[str]) -> None:
    if not _in_step(turn, "act_req"):
        return
    await _keep(turn, program, "req", None, "act_alliance")


async def _alliance(turn: Turn, program: Program, args: list[str]) -> None:
    if not args or args[0] not in ("0", "1"):
        turn.say("input.button_stale")
        return
    if not _in_step(turn, "act_alliance"):
        return
    if args[0] == "1":
        await _keep(turn, program, "alliance", True, "act_ally")
        return
    await _keep(turn, program, "alliance", False, "save")


async def _remove_list(turn: Turn, program: Program, args: list[str]) -> None:
    code = _code(args)
    if code is None:
        turn.say("input.button_stale")
        return
    turn.go(None)
    plan = await _ensure_plan(turn, program, code)
    rows = []
    for i, o in enumerate(await plan_store.objectives(turn.session, plan.id), start=1):
        rows.append([Button(Msg("adm_plans.btn_objective", {"n": i, "text": _short(o.text)}),
                            act("pxo", o.id))])
    for a in await actions.of_plan(turn.session, plan.id):
        if a.status != ActionStatus.DROPPED:
            rows.append([Button(Msg("adm_plans.btn_action", {"text": _short(a.text)}),
                                act("pxa", a.id))])
    turn.say("adm_plans.ask_remove", buttons=rows + [_back(f"pl:{code}")])


async def _remove_objective(turn: Turn, program: Program, args: list[str]) -> None:
    objective = await turn.session.get(PlanObjective, int_at(args, 0) or 0)
    plan = await turn.session.get(Plan, objective.plan_id) if objective else None
    if objective is None or plan is None or plan.program_id != program.id:
        turn.say("input.button_stale")
        return
    await plan_store.remove_objective(turn.session, objective, now=turn.now)
    turn.audit("plan_objective_removed", "plan", plan.id, objective_id=objective.id)
    turn.say("adm_plans.removed", text=_short(objective.text))
    await _plan(turn, program, [CODE[PlanKind(plan.kind)]])


async def _remove_action(turn: Turn, program: Program, args: list[str]) -> None:
    item = await turn.session.get(ActionItem, int_at(args, 0) or 0)
    if item is None or item.program_id != program.id or item.plan_id is None:
        turn.say("input.button_stale")
        return
    plan = await turn.session.get(Plan, item.plan_id)
    text = item.text
    gone = await plan_store.remove_action(turn.session, item, now=turn.now)
    turn.audit("plan_action_removed", "plan", plan.id, action_id=int_at(args, 0), kept=not gone)
    turn.say("adm_plans.removed" if gone else "adm_plans.removed_kept", text=_short(text))
    await _plan(turn, program, [CODE[PlanKind(plan.kind)]])


async def _validate(turn: Turn, program: Program, args: list[str]) -> None:
    code = _code(args)
    if code is None:
        turn.say("input.button_stale")
        return
    turn.go(None)
    turn.go(FLOW, "pv_session", kind=code)
    await _ask(turn, program, "pv_session")


async def _validate_meeting(turn: Turn, program: Program, args: list[str]) -> None:
    if not _in_step(turn, "pv_session"):
        return
    # Only a session the list offered (held, of the plan's kind or its body's): a stale or
    # forged button may name any meeting.
    code = turn.data("kind")
    meeting_id = int_at(args, 0)
    meeting = next((m for m in await _meetings(turn, program, _validation_kinds(code),
                                                held_only=True) if m.id == meeting_id), None)
    if meeting is None:
        turn.say("input.button_stale")
        return
    plan = await _ensure_plan(turn, program, code)
    await plan_store.approve(turn.session, plan, meeting_id=meeting.id, at=meeting.starts_at)
    turn.audit("plan_validated", "plan", plan.id, meeting_id=meeting.id)
    turn.go(None)
    turn.say("adm_plans.plan_validated", day=_meeting_day(program, meeting))
    await _plan(turn, program, [code])


# --- the documents -----------------------------------------------------------------------

# The template verifier each summary's document proves, by the code its button carries.
DOCUMENTS = {"d": ("documento_diagnostico", ("pdf",)),
             "m": ("matriz_priorizacion", ("pdf", "xlsx")),
             "w": ("plan_trabajo_participativo", ("pdf", "xlsx")),
             "c": ("plan_comunicaciones", ("pdf", "xlsx"))}


def _document_row(code: str) -> list[Button]:
    return [Button(Msg(f"adm_plans.btn_doc_{fmt}"), act("doc", code, fmt))
            for fmt in DOCUMENTS[code][1]]


async def _document(turn: Turn, program: Program, args: list[str]) -> None:
    """The verificador as a file, made as `convoca export` and the progress report make it."""
    code, fmt = (args + ["", ""])[:2]
    if code not in DOCUMENTS or fmt not in DOCUMENTS[code][1]:
        turn.say("input.button_stale")
        return
    ctx = Ctx(turn.services.catalogs, turn.locale, program.timezone, turn.now)
    req = Request(turn.session, program, DOCUMENTS[code][0], ctx, fmt=fmt)
    try:
        files = await verificadores.make(req)
    except LookupError:
        turn.say("adm_plans.doc_unavailable")
        return
    turn.audit("document_sent", "program", program.id, verifier=DOCUMENTS[code][0], fmt=fmt)
    for file in files:
        turn.send(Outgoing(text=Msg("adm_plans.doc_caption"),
                           attachment=Attachment(file.filename, file.content, file.mime_type)))


_VERBS = {
    "": _menu, "x": _stop, "dg": _diagnosis, "dgs": _diagnosis_start,
    "dgm": _diagnosis_meeting, "dgn": _diagnosis_next, "dgr": _diagnosis_remove_list,
    "dgx": _diagnosis_remove, "pm": _matrix, "pc": _criteria_ask, "pcd": _criteria_default,
    "ps": _score_start, "psm": _score_meeting, "sv": _score_button, "pl": _plan,
    "po": _objective_new, "pa": _action_new, "pao": _action_objective,
    "pr": _responsible_member, "pro": _responsible_other, "cal": _calendar,
    "pnr": _no_requirements, "pal": _alliance, "prm": _remove_list,
    "pxo": _remove_objective, "pxa": _remove_action, "pv": _validate,
    "pvm": _validate_meeting, "doc": _document,
}


# --- typed answers -----------------------------------------------------------------------


@router.flow(FLOW)
async def plans_input(turn: Turn) -> None:
    step = turn.convo.step or ""
    if not guard(turn, ADMIN, f"{FLOW}:{step}"):
        turn.go(None)
        return
    program = await program_or_say(turn, "adm_plans.no_program")
    if program is None:
        return
    text = (turn.event.text or "").strip() if turn.event.kind == EventKind.TEXT else ""
    if step not in TYPED_STEPS:
        if step in ("dg_session", "pm_session", "pv_session", "act_obj", "act_resp",
                    "act_alliance"):
            await _ask(turn, program, step, hint="use_buttons")
            return
        turn.go(None)
        turn.say("input.not_understood")
        return
    if not text and step != "act_due":
        await _ask(turn, program, step, hint="err_empty")
        return
    if step == "dg_cat":
        await _diagnosis_typed(turn, program, text)
    elif step == "pm_criteria":
        try:
            names = priorities.criteria(text)
        except Problem as exc:
            await _ask(turn, program, step, hint=f"err_{exc.code}")
            return
        await _criteria_set(turn, program, names)
    elif step == "pm_score":
        await _score_typed(turn, program, text)
    elif step == "obj_text":
        await _objective_typed(turn, program, text)
    else:
        if step == "act_due" and not text:
            await _ask(turn, program, step, hint="err_empty")
            return
        await _action_typed(turn, program, step, text)
