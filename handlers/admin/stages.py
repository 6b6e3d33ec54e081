"""The stage timeline in chat: `/etapas` and the panel's section ``stages``.

One stage at a time, because a phone shows little: its activities with their dates, what
each still lacks (sessions held against the minimum, verifiers ready or missing) and what is
overdue; buttons move between stages and open an activity, where the gestora marks it done
or moves its date with the calendar. The scheduler follows a moved date by itself: its
notices are keyed by the due date.

Actions: ``adm:stages:s:<stage>``, ``adm:stages:m:<milestone>``, ``adm:stages:done|undo|mv:<id>``
and the calendar's ``adm:stages:c<id>:d:<yyyymmdd>``."""

from __future__ import annotations

from datetime import date

from handlers import widgets
from handlers.admin import (
    ADMIN,
    action,
    back_to_panel,
    guard,
    int_at,
    program_or_say,
    program_today,
    section,
)
from handlers.core import Router, Turn
from handlers.events import Button, EventKind, Outgoing
from locales import Day, Msg, Raw, Text, When
from services import dates
from services import stages as stage_use
from services.messages import DatePick
from services.stages import evidence, lacks, sessions_line, state, verifier_line
from storage import stages
from storage.models import Program
from storage.stages import MANUAL, MilestoneStatus, StageError, StageStatus

STAGES = "stages"
FLOW = "adm_stages"

router = Router()


def act(*parts: object) -> str:
    return action(STAGES, *parts)




def _icon(m: MilestoneStatus) -> str:
    if m.done:
        return "✅"
    if m.overdue:
        return "⚠️"
    if m.current:
        return "⏳"
    return "🗓"


def _name(m: MilestoneStatus, *, short: bool = False) -> Text | Msg:
    return stage_use.name(m, short=short)


def _item(n: int, m: MilestoneStatus) -> Msg:
    """One activity in the stage card: compact, the details are one tap away. What an
    activity lacks is shown once it has begun; before that, its dates are enough."""
    lines = [Msg("adm_stages.item_dates", {"starts": Day(m.starts, "short"),
                                           "due": Day(m.due, "short"), "state": state(m)})]
    if m.started and not m.done:
        if m.min_sessions:
            lines.append(sessions_line(m))
        lines += evidence(m)
        lines += lacks(m, sessions=False)
        manual = m.in_state(MANUAL)
        if manual:
            lines.append(Msg("adm_stages.manual_count", {"count": len(manual)}))
    return Msg("adm_stages.item", {"n": n, "icon": _icon(m), "name": _name(m),
                                   "lines": lines})


def _stage_name(stage: StageStatus) -> Text | Msg:
    return Text(stage.name) if stage.name else Msg("adm_stages.other")


def stage_card(all_stages: list[StageStatus], index: int) -> Outgoing:
    stage = all_stages[index]
    # A blank line before each activity: the catalogs' texts neither begin nor end with one.
    items: list[Msg | Raw] = []
    for i, m in enumerate(stage.milestones, start=1):
        items += [Raw(""), _item(i, m)]
    summary = Msg("adm_stages.summary", {"done": stage.done, "count": len(stage.milestones)})
    lines = [summary]
    if stage.overdue:
        lines.append(Msg("adm_stages.overdue_count", {"count": stage.overdue}))
    text = Msg("adm_stages.card", {
        "number": stage.number, "total": len(all_stages), "name": _stage_name(stage),
        "starts": Day(stage.starts), "due": Day(stage.due), "summary": lines, "items": items,
    })
    buttons = [[Button(Msg("adm_stages.btn_item", {"n": i, "icon": _icon(m),
                                                     "name": _name(m, short=True)}),
                       act("m", m.id))]
               for i, m in enumerate(stage.milestones, start=1)]
    nav = []
    if index > 0:
        prev = all_stages[index - 1]
        nav.append(Button(Msg("adm_stages.btn_prev", {"number": prev.number}),
                          act("s", prev.number)))
    if index < len(all_stages) - 1:
        nxt = all_stages[index + 1]
        nav.append(Button(Msg("adm_stages.btn_next", {"number": nxt.number}),
                          act("s", nxt.number)))
    if nav:
        buttons.append(nav)
    buttons.append([back_to_panel()])
    return Outgoing(text=text, buttons=tuple(tuple(r) for r in buttons))


def milestone_card(stage: StageStatus, m: MilestoneStatus) -> Outgoing:
    lines: list[Msg] = [
        Msg("adm_stages.state_done_on", {"date": When(m.done_at, "date")})
        if m.done_at is not None else state(m)]
    if m.moved:
        lines.append(Msg("adm_stages.planned", {"date": Day(m.planned_due)}))
    if m.min_sessions:
        lines.append(sessions_line(m))
    lines += [verifier_line(v) for v in m.verifiers]
    if m.in_state(MANUAL) and not m.done:
        lines.append(Msg("adm_stages.manual_hint"))
    text = Msg("adm_stages.detail", {
        "number": stage.number, "stage": _stage_name(stage), "name": _name(m),
        "starts": Day(m.starts), "due": Day(m.due), "lines": lines,
    })
    toggle = (Button(Msg("adm_stages.btn_undo"), act("undo", m.id)) if m.done
              else Button(Msg("adm_stages.btn_done"), act("done", m.id)))
    buttons = [
        [toggle],
        [Button(Msg("adm_stages.btn_move"), act("mv", m.id))],
        [Button(Msg("adm_stages.btn_back", {"number": stage.number}), act("s", stage.number))],
    ]
    return Outgoing(text=text, buttons=tuple(tuple(r) for r in buttons))


async def _load(turn: Turn, program: Program) -> list[StageStatus]:
    return await stages.stage_status(turn.session, program.id, program_today(turn, program))


def _find(all_stages: list[StageStatus], milestone_id: int
          ) -> tuple[StageStatus, MilestoneStatus] | None:
    for s in all_stages:
        for m in s.milestones:
            if m.id == milestone_id:
                return s, m
    return None


@router.command("etapas", "stages")
async def etapas(turn: Turn) -> None:
    if not guard(turn, ADMIN, "etapas"):
        return
    program = await program_or_say(turn, "adm_stages.no_program")
    if program is None:
        return
    turn.go(None)
    await _show_stage(turn, program, None, redraw=False)


async def _show_stage(turn: Turn, program: Program, number: int | None, *, redraw: bool) -> None:
    all_stages = await _load(turn, program)
    if not all_stages:
        turn.say("adm_stages.none", buttons=[[back_to_panel()]])
        return
    numbers = [s.number for s in all_stages]
    if number in numbers:
        index = numbers.index(number)
    else:
        index = stages.current_stage(all_stages, program_today(turn, program))
    out = stage_card(all_stages, index)
    turn.redraw(out) if redraw else turn.send(out)


async def _show_milestone(turn: Turn, program: Program, milestone_id: int, *, redraw: bool
                          ) -> bool:
    found = _find(await _load(turn, program), milestone_id)
    if found is None:
        turn.say("input.button_stale")
        return False
    out = milestone_card(*found)
    turn.redraw(out) if redraw else turn.send(out)
    return True


@section(STAGES, "adm_stages.section", roles=ADMIN, order=60)
async def open_stages(turn: Turn, parts: list[str]) -> None:
    if not guard(turn, ADMIN, "stages:" + ":".join(parts[:1])):
        return
    program = await program_or_say(turn, "adm_stages.no_program")
    if program is None:
        return
    op = parts[0] if parts else ""
    arg = int_at(parts, 1)
    if op == "":
        turn.go(None)
        await _show_stage(turn, program, None, redraw=False)
    elif op == "s" and arg is not None:
        turn.go(None)
        await _show_stage(turn, program, arg, redraw=True)
    elif op == "m" and arg is not None:
        if turn.convo.flow == FLOW:
            turn.go(None)  # "Cancelar" on the calendar comes back here
        await _show_milestone(turn, program, arg, redraw=True)
    elif op in ("done", "undo") and arg is not None:
        await _toggle(turn, program, arg, done=op == "done")
    elif op == "mv" and arg is not None:
        await _ask_date(turn, program, arg, None, redraw=False)
    elif op.startswith("c") and op[1:].isdigit():
        await _calendar(turn, program, int(op[1:]))
    else:
        turn.say("input.button_stale")


async def _toggle(turn: Turn, program: Program, milestone_id: int, *, done: bool) -> None:
    change = await stage_use.set_done(turn.session, program.id, milestone_id, done=done,
                                      now=turn.now)
    if change is None:
        turn.say("input.button_stale")
        return
    if change.action:
        turn.audit(change.action, "milestone", change.milestone.id, **change.details)
    await _show_milestone(turn, program, change.milestone.id, redraw=True)


async def _ask_date(turn: Turn, program: Program, milestone_id: int, month: date | None, *,
                    redraw: bool) -> None:
    m = await stages.milestone_of(turn.session, program.id, milestone_id)
    if m is None:
        turn.say("input.button_stale")
        return
    turn.go(None)
    turn.go(FLOW, "move", milestone_id=m.id, stage=m.stage)
    out = Outgoing(
        text=Msg("adm_stages.ask_date", {"name": stage_use.name(m), "due": Day(m.due),
                                         "starts": Day(m.starts)}),
        buttons=((Button(Msg("adm_stages.btn_cancel"), act("m", m.id)),),),
        date_pick=DatePick(act(f"c{m.id}"), month or m.due, earliest=m.starts))
    turn.redraw(out) if redraw else turn.send(out)


async def _calendar(turn: Turn, program: Program, milestone_id: int) -> None:
    picked = widgets.parse(turn.action or "", act(f"c{milestone_id}"))
    if picked is None or picked.day is None:
        turn.say("input.button_stale")
        return
    if picked.kind == "m":
        await _ask_date(turn, program, milestone_id, picked.day, redraw=True)
        return
    await _move_to(turn, program, milestone_id, picked.day, redraw=True)


async def _move_to(turn: Turn, program: Program, milestone_id: int, day: date, *,
                   redraw: bool) -> None:
    """The new due date, picked on the calendar or typed."""
    try:
        change = await stage_use.move(turn.session, program.id, milestone_id, day)
    except StageError:
        m = await stages.milestone_of(turn.session, program.id, milestone_id)
        turn.say("adm_stages.before_start", starts=Day(m.starts) if m else Day(day))
        return
    if change is None:
        turn.say("input.button_stale")
        return
    m = change.milestone
    turn.go(None)
    if change.action:
        turn.audit(change.action, "milestone", m.id, **change.details)
    await _show_milestone(turn, program, m.id, redraw=redraw)
    turn.say("adm_stages.moved", name=stage_use.name(m), due=Day(m.due))


@router.flow(FLOW)
async def stages_input(turn: Turn) -> None:
    if not guard(turn, ADMIN, "stages:input"):
        turn.go(None)
        return
    program = await program_or_say(turn, "adm_stages.no_program")
    if program is None:
        return
    milestone_id = turn.data("milestone_id")
    if turn.convo.step != "move" or milestone_id is None:
        turn.go(None)
        turn.say("input.not_understood")
        return
    text = (turn.event.text or "").strip() if turn.event.kind == EventKind.TEXT else ""
    if text:
        try:
            day = dates.parse_date(text, program_today(turn, program))
        except dates.DateProblem as problem:
            turn.send(Outgoing(text=dates.date_problem(problem)))
        else:
            await _move_to(turn, program, milestone_id, day, redraw=False)
            return
    else:
        turn.say("input.unsupported" if turn.event.kind == EventKind.UNSUPPORTED
                 else "adm_stages.use_calendar")
    await _ask_date(turn, program, milestone_id, None, redraw=False)

