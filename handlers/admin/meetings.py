"""Panel section "meetings": create a meeting step by step (or a monthly series), invite,
follow who confirmed, ask again, take attendance, move or cancel, and attendance rates.

Buttons, after ``adm:meetings:``:
  (none) the list · ``new`` start · ``nb:<body|0>`` body · ``nk:<kind>`` kind ·
  ``cal:d|m:..`` calendar · ``tm:t:<hhmm>`` time · ``sp`` same place · ``sk`` no agenda ·
  ``rp`` repeat on/off · ``ch[:<field>]`` change something · ``ok`` create · ``x`` stop ·
  ``iv:<m>[:m|a|l]`` whom to invite · ``bd:<m>`` board · ``ra:<m>`` ask again ·
  ``at:<m>:<page>`` attendance · ``tg:<m>:<person>:<page>`` present/absent ·
  ``ag:<m>:<page>`` / ``ap:<m>:<person>`` add someone who came · ``gn:<m>`` write in
  someone not in Convoca (typed name, RUT, organisation, phone; ``gs`` skips one) ·
  ``gx:<m>:<guest>:<page>`` / ``gxy:<m>:<guest>`` take them off again · ``cl:<m>`` close ·
  ``mv:<m>`` / ``mok`` move · ``cn:<m>`` / ``cns`` cancel · ``rt`` rates.
Typed answers (time, place, agenda, a reason, a name) arrive in the flow ``adm_meet``.

What the team does and reads here is services.meetings, which `convoca meeting ...` calls too."""

from __future__ import annotations

import dataclasses
import logging
from datetime import date, datetime, time
from typing import Any

from domain import schedule
from domain.meetings import (
    AGENDA_MAX,
    CANCEL_REASON_MAX,
    INVITE_EVERYONE,
    INVITE_MEMBERS,
    PLACE_MAX,
    MeetingError,
    guest_name,
    guest_organization,
    guest_phone,
    guest_rut,
)
from handlers import meetings as meeting_handlers
from handlers import widgets
from handlers.admin import (
    ADMIN,
    action,
    back_to_panel,
    current_program,
    guard,
    int_at,
    pager,
    program_or_say,
    program_today,
    section,
)
from handlers.admin.roles import picker, typed_query
from handlers.core import Router, Turn
from handlers.events import Button, EventKind, Outgoing
from locales import Day, Msg, Raw, Text, When
from services import dates
from services.meetings import (
    board_text,
    cancel_and_notify,
    create,
    entry_name,
    invite_due_series_meetings,
    invite_now,
    mark_attendance,
    move_and_notify,
    rates_text,
    reask,
    tally_text,
    what_named,
)
from services.messages import DatePick
from services.people import person_label
from storage import admin_meetings as data
from storage import meetings as meeting_store
from storage import programs
from storage.models import AttendanceGuest, Body, Meeting, MeetingStatus, Person, Program

log = logging.getLogger(__name__)
router = Router()

KEY = "meetings"
FLOW = "adm_meet"
CAL = action(KEY, "cal")
TIME = action(KEY, "tm")
PAGE_SIZE = 8
INVITE_CHOICES = {"m": INVITE_MEMBERS, "a": INVITE_EVERYONE}
FIELDS = ("body", "kind", "date", "time", "place", "agenda")
VERBS = ("", "new", "nb", "nk", "cal", "tm", "sp", "sk", "rp", "ch", "ok", "x", "iv", "bd",
         "ra", "at", "tg", "ag", "ap", "cl", "mv", "mok", "cn", "cns", "rt", "gn", "gs", "gx",
         "gxy")


# --- what people read -----------------------------------------------------------------------------


def _summary_lines(program: Program, body: Body | None, kind: str, starts_at: datetime,
                   place: str | None, agenda: str | None) -> list[Msg]:
    lines = []
    if body is not None:
        lines.append(Msg("meeting.line_body", {"body": Text(meeting_store.body_names(program,
                                                                                     body))}))
    lines.append(Msg("adm_meet.line_kind", {"kind": Text(meeting_store.kind_names(program,
                                                                                 kind))}))
    lines.append(Msg("meeting.line_when", {"when": When(starts_at)}))
    lines.append(Msg("meeting.line_place", {"place": Raw(place)}) if place
                 else Msg("adm_meet.line_no_place"))
    lines.append(Msg("meeting.line_agenda", {"agenda": Raw(agenda)}) if agenda
                 else Msg("adm_meet.line_no_agenda"))
    return lines


def _rule_text(day: date, every_months: int) -> Msg:
    weekday, nth = schedule.weekday_rule(day)
    order = "last" if nth == schedule.LAST else str(nth)
    return Msg(f"adm_meet.rule_{order}", {"weekday": Msg(f"adm_meet.weekday_{weekday}")})


# --- the section -----------------------------------------------------------------------------------


def _cancel_row() -> list[Button]:
    return [Button(Msg("adm_meet.btn_cancel"), action(KEY, "x"))]


def _board_button(meeting_id: int) -> Button:
    return Button(Msg("adm_meet.btn_board"), action(KEY, "bd", meeting_id))


def _rows(rows: list[list[Button]]) -> tuple[tuple[Button, ...], ...]:
    return tuple(tuple(r) for r in rows)


@section(KEY, "adm_meet.menu", roles=ADMIN, order=20)
async def open_meetings(turn: Turn, parts: list[str]) -> None:
    verb = parts[0] if parts else ""
    if not guard(turn, ADMIN, f"{KEY}:{verb}"):
        return
    program = await current_program(turn)
    if program is None:
        turn.say("adm_meet.no_program", buttons=[[back_to_panel()]])
        return
    handler = _VERB_HANDLERS.get(verb)
    if handler is None:
        turn.say("input.button_stale")
        return
    try:
        await handler(turn, program, parts[1:])
    except MeetingError as exc:
        turn.say(f"adm_meet.err_{exc.code}")


async def _list(turn: Turn, program: Program, args: list[str]) -> None:
    await invite_due_series_meetings(turn.session, turn.now)
    ahead, past = await data.list_meetings(turn.session, program.id, turn.now)
    rows: list[list[Button]] = []
    for m in ahead + past:
        kind_name, _ = await meeting_handlers.names(turn.session, m)
        key = "adm_meet.list_item_held" if m.status == MeetingStatus.HELD else "adm_meet.list_item"
        rows.append([Button(Msg(key, {"when": When(m.starts_at), "what": what_named(m, kind_name)}),
                            action(KEY, "bd", m.id))])
    rows.append([Button(Msg("adm_meet.btn_new"), action(KEY, "new"))])
    rows.append([Button(Msg("adm_meet.btn_rates"), action(KEY, "rt"))])
    rows.append([back_to_panel()])
    turn.say("adm_meet.list" if rows[:-3] else "adm_meet.list_empty", buttons=rows)


# --- creating, step by step ------------------------------------------------------------------------


def _start_of(program: Program, convo: dict[str, Any]) -> datetime | None:
    if not convo.get("day") or not convo.get("at"):
        return None
    return schedule.to_utc(date.fromisoformat(convo["day"]), time.fromisoformat(convo["at"]),
                           program.timezone)


async def _body(turn: Turn, body_id: int | None) -> Body | None:
    return await turn.session.get(Body, body_id) if body_id else None


def _asking(text: Msg, rows: list[list[Button]], **intents: Any) -> Outgoing:
    return Outgoing(text=text, buttons=_rows(rows), **intents)


async def _question(turn: Turn, program: Program, step: str) -> Outgoing:
    """The current step's question and buttons, from what the conversation holds."""
    d = turn.convo.data or {}
    if step == "body":
        bodies = await programs.bodies(turn.session, program.id)
        rows = [[Button(Msg("adm_meet.plain", {"text": Text(meeting_store.body_names(program, b))}),
                        action(KEY, "nb", b.id))] for b in bodies]
        rows.append([Button(Msg("adm_meet.btn_no_body"), action(KEY, "nb", 0))])
        return _asking(Msg("adm_meet.ask_body"), rows + [_cancel_row()])
    if step == "kind":
        body = await _body(turn, d.get("body"))
        rows = [[Button(Msg("adm_meet.plain", {"text": Text(meeting_store.kind_names(program, k))}),
                        action(KEY, "nk", k))] for k in data.meeting_kinds(program, body)]
        return _asking(Msg("adm_meet.ask_kind"), rows + [_cancel_row()])
    if step in ("date", "move_date"):
        month = date.fromisoformat(d.get("month") or program_today(turn, program).isoformat())
        pick = DatePick(CAL, month, earliest=program_today(turn, program))
        if step == "move_date":
            meeting = await turn.session.get(Meeting, d.get("meeting_id"))
            kind_name, _ = await meeting_handlers.names(turn.session, meeting)
            return _asking(Msg("adm_meet.ask_move_date", {"what": what_named(meeting, kind_name),
                                                          "when": When(meeting.starts_at)}),
                           [_cancel_row()], date_pick=pick)
        return _asking(Msg("adm_meet.ask_date"), [_cancel_row()], date_pick=pick)
    if step in ("time", "move_time"):
        return _asking(Msg("adm_meet.ask_time", {"day": Day(date.fromisoformat(d["day"]))}),
                       widgets.time_picker(TIME) + [_cancel_row()])
    if step == "place":
        rows = []
        if d.get("last_place"):
            rows.append([Button(Msg("adm_meet.btn_same_place", {"place": Raw(d["last_place"])}),
                                action(KEY, "sp"))])
        return _asking(Msg("adm_meet.ask_place"), rows + [_cancel_row()])
    if step == "agenda":
        return _asking(Msg("adm_meet.ask_agenda"),
                       [[Button(Msg("adm_meet.btn_skip"), action(KEY, "sk"))], _cancel_row()])
    if step == "summary":
        return _asking(*await _summary(turn, program))
    if step == "change":
        labels = [Button(Msg(f"adm_meet.field_{f}"), action(KEY, "ch", f)) for f in FIELDS]
        rows = [labels[i:i + 2] for i in range(0, len(labels), 2)]
        return _asking(Msg("adm_meet.ask_change"), rows + [
            [Button(Msg("adm_meet.btn_back_summary"), action(KEY, "ch", "back"))], _cancel_row()])
    if step == "move_confirm":
        meeting = await turn.session.get(Meeting, d.get("meeting_id"))
        kind_name, _ = await meeting_handlers.names(turn.session, meeting)
        count = len(await data.invited_ids(turn.session, meeting.id))
        return _asking(Msg("adm_meet.move_confirm", {
            "what": what_named(meeting, kind_name), "old": When(meeting.starts_at),
            "new": When(_start_of(program, d)), "count": count,
        }), [[Button(Msg("adm_meet.btn_move_yes"), action(KEY, "mok"))], _cancel_row()])
    if step == "cancel_reason":
        meeting = await turn.session.get(Meeting, d.get("meeting_id"))
        kind_name, _ = await meeting_handlers.names(turn.session, meeting)
        count = len(await data.invited_ids(turn.session, meeting.id))
        return _asking(Msg("adm_meet.ask_cancel_reason", {
            "what": what_named(meeting, kind_name), "when": When(meeting.starts_at), "count": count,
        }), [[Button(Msg("adm_meet.btn_cancel_no_reason"), action(KEY, "cns"))],
             [Button(Msg("adm_meet.btn_keep_meeting"), action(KEY, "x"))]])
    if step == "add_pick":
        found = await data.program_people(turn.session, program.id, d.get("q") or "")
        mid = d.get("meeting_id")
        text, rows, pages = picker(found, int(d.get("page") or 0), d.get("q") or "",
                                   pick=lambda pid: action(KEY, "ap", mid, pid),
                                   turn_page=lambda n: action(KEY, "ag", mid, n),
                                   cancel=action(KEY, "at", mid), intro="adm_meet.add_pick")
        # Someone who is not in Convoca is written in by hand, above "Cancelar"; a name
        # searched for in vain is offered as theirs, so it is not typed twice.
        query = d.get("q") or ""
        if query and not found and any(ch.isalpha() for ch in query):
            guest = Button(Msg("adm_meet.btn_guest_named", {"name": Raw(query)}),
                           action(KEY, "gn", mid, "q"))
        else:
            guest = Button(Msg("adm_meet.btn_guest"), action(KEY, "gn", mid))
        rows.insert(-1, [guest])
        return _asking(text, rows, pager=pages)
    if step in GUEST_STEPS:
        mid = d.get("meeting_id")
        rows = [] if step == "guest_name" else [
            [Button(Msg("adm_meet.btn_skip"), action(KEY, "gs"))]]
        rows.append([Button(Msg("adm_meet.btn_cancel"), action(KEY, "at", mid))])
        name = (d.get("guest") or {}).get("name") or ""
        if step == "guest_rut":  # the number of the programme's country
            national_id = (await programs.country_of(turn.session, program.id)).national_id
            return _asking(Msg(national_id.guest_ask, {"name": Raw(name)}), rows)
        return _asking(Msg(f"adm_meet.ask_{step}", {"name": Raw(name)}), rows)
    raise LookupError(step)


async def _ask(turn: Turn, program: Program, step: str, *, redraw: bool = False,
               again: bool = False, hint: str | Msg | None = None) -> None:
    """Go to ``step`` and ask its question, as the new state of the message whose button
    led here (``redraw``) or anew; ``again`` says kindly that the answer did not fit."""
    turn.go(FLOW, step)
    out = await _question(turn, program, step)
    if again or hint:
        said = hint if isinstance(hint, Msg) else Msg(hint or "adm_meet.use_buttons")
        out = dataclasses.replace(out, text=Msg("adm_meet.reask",
                                                {"hint": said, "question": out.text}))
    turn.redraw(out) if redraw else turn.send(out)


def _in_step(turn: Turn, *steps: str) -> bool:
    """A wizard button counts only while the wizard waits for it; older ones are stale."""
    if turn.convo.flow == FLOW and turn.convo.step in steps:
        return True
    turn.say("adm_meet.expired", buttons=[[Button(Msg("adm_meet.btn_list"), action(KEY))]])
    return False


async def _next(turn: Turn, program: Program, done: str) -> None:
    if turn.data("editing") and done != "body":
        await _ask(turn, program, "summary")
        return
    order = ("body", "kind", "date", "time", "place", "agenda", "summary")
    await _ask(turn, program, order[order.index(done) + 1])


async def _new(turn: Turn, program: Program, args: list[str]) -> None:
    turn.go(None)
    turn.go(FLOW, "body", mode="new", month=program_today(turn, program).replace(day=1).isoformat())
    await _ask(turn, program, "body")


async def _pick_body(turn: Turn, program: Program, args: list[str]) -> None:
    if not _in_step(turn, "body"):
        return
    body_id = int_at(args, 0)
    body = await _body(turn, body_id) if body_id else None
    if body_id and (body is None or body.program_id != program.id):
        turn.say("input.button_stale")
        return
    last = await data.last_place(turn.session, program.id, body.id if body else None)
    turn.go(FLOW, "body", body=body.id if body else 0, last_place=last, kind=None,
            repeat=False)
    await _next(turn, program, "body")


async def _pick_kind(turn: Turn, program: Program, args: list[str]) -> None:
    if not _in_step(turn, "kind"):
        return
    if not args or args[0] not in data.meeting_kinds(program):
        turn.say("input.button_stale")
        return
    turn.go(FLOW, "kind", kind=args[0])
    await _next(turn, program, "kind")


async def _calendar(turn: Turn, program: Program, args: list[str]) -> None:
    if not _in_step(turn, "date", "move_date"):
        return
    picked = widgets.parse(turn.action or "", CAL)
    step = turn.convo.step or "date"
    if picked is None or picked.day is None:
        turn.say("input.button_stale")
        return
    if picked.kind == "m":
        turn.go(FLOW, step, month=picked.day.isoformat())
        await _ask(turn, program, step, redraw=True)
        return
    await _set_day(turn, program, step, picked.day)


async def _set_day(turn: Turn, program: Program, step: str, day: date,
                   at: time | None = None) -> None:
    """The day picked on the calendar or typed; a time typed with it skips the time step."""
    if day < program_today(turn, program):
        await _ask(turn, program, step, hint="adm_meet.day_past")
        return
    turn.go(FLOW, step, day=day.isoformat())
    if at is not None:
        turn.go(FLOW, "move_time" if step == "move_date" else "time")
        await _set_time(turn, program, at)
    elif step == "move_date":
        await _ask(turn, program, "move_time")
    else:
        await _next(turn, program, "date")


async def _set_time(turn: Turn, program: Program, at: time) -> None:
    step = turn.convo.step
    day = date.fromisoformat(turn.data("day"))
    if schedule.to_utc(day, at, program.timezone) <= turn.now:
        await _ask(turn, program, step or "time", hint="adm_meet.time_past")
        return
    turn.go(FLOW, step, at=f"{at:%H:%M}")
    if step == "move_time":
        await _ask(turn, program, "move_confirm")
    else:
        await _next(turn, program, "time")


async def _time_button(turn: Turn, program: Program, args: list[str]) -> None:
    if not _in_step(turn, "time", "move_time"):
        return
    picked = widgets.parse(turn.action or "", TIME)
    if picked is None or picked.at is None:
        turn.say("input.button_stale")
        return
    await _set_time(turn, program, picked.at)


async def _same_place(turn: Turn, program: Program, args: list[str]) -> None:
    if not _in_step(turn, "place"):
        return
    turn.go(FLOW, "place", place=turn.data("last_place"))
    await _next(turn, program, "place")


async def _skip_agenda(turn: Turn, program: Program, args: list[str]) -> None:
    if not _in_step(turn, "agenda"):
        return
    turn.go(FLOW, "agenda", agenda=None)
    await _next(turn, program, "agenda")


async def _summary(turn: Turn, program: Program) -> tuple[Msg, list[list[Button]]]:
    d = turn.convo.data or {}
    body = await _body(turn, d.get("body"))
    starts = _start_of(program, d)
    lines = _summary_lines(program, body, d["kind"], starts, d.get("place"), d.get("agenda"))
    rows: list[list[Button]] = [[Button(Msg("adm_meet.btn_confirm"), action(KEY, "ok"))]]
    every = body.cadence_months if body is not None else None
    if every:
        if d.get("repeat"):
            plan = data.series_plan(program, starts, every)
            lines.append(Msg("adm_meet.line_repeat", {
                "every": Msg(f"adm_meet.every_{min(every, 3)}", {"count": every}),
                "rule": _rule_text(schedule.local_date(starts, program.timezone), every),
                "count": len(plan), "last": When(plan[-1], "date"),
            }))
            rows.append([Button(Msg("adm_meet.btn_no_repeat"), action(KEY, "rp"))])
        else:
            rows.append([Button(Msg(f"adm_meet.btn_repeat_{min(every, 3)}", {"count": every}),
                                action(KEY, "rp"))])
    rows.append([Button(Msg("adm_meet.btn_change"), action(KEY, "ch"))])
    rows.append(_cancel_row())
    return Msg("adm_meet.summary", {"details": lines}), rows


async def _toggle_repeat(turn: Turn, program: Program, args: list[str]) -> None:
    if not _in_step(turn, "summary"):
        return
    turn.go(FLOW, "summary", repeat=not turn.data("repeat"))
    await _ask(turn, program, "summary", redraw=True)


async def _change(turn: Turn, program: Program, args: list[str]) -> None:
    if not _in_step(turn, "summary", "change"):
        return
    if not args:
        await _ask(turn, program, "change")
        return
    if args[0] == "back":
        await _ask(turn, program, "summary")
        return
    if args[0] not in FIELDS:
        turn.say("input.button_stale")
        return
    turn.go(FLOW, "change", editing=True)
    await _ask(turn, program, args[0])


async def _confirm(turn: Turn, program: Program, args: list[str]) -> None:
    if not _in_step(turn, "summary"):
        return
    d = dict(turn.convo.data or {})
    starts = _start_of(program, d)
    if starts is None or starts <= turn.now:
        turn.go(FLOW, "summary", editing=True)
        await _ask(turn, program, "date", hint="adm_meet.time_past")
        return
    body = await _body(turn, d.get("body"))
    repeat = bool(d.get("repeat") and body is not None and body.cadence_months)
    made = await create(turn.session, program, kind=d["kind"], starts_at=starts, now=turn.now,
                        body=body, place=d.get("place"), agenda=d.get("agenda"),
                        repeat=repeat, created_by=turn.person.id)
    meeting = made.meeting
    turn.go(None)
    series_count = 0
    if made.series is not None:
        series_count = len(made.meetings)
        turn.audit("meeting_series_created", "meeting_series", made.series.id,
                   every_months=made.series.every_months, meetings=[m.id for m in made.meetings])
    turn.audit("meeting_created", "meeting", meeting.id, kind=meeting.kind, body_id=meeting.body_id,
               starts_at=meeting.starts_at.isoformat(), series_id=meeting.series_id)
    if series_count:
        turn.say("adm_meet.created_series", count=series_count, when=When(meeting.starts_at))
    else:
        turn.say("adm_meet.created", when=When(meeting.starts_at))
    await _invite_question(turn, program, meeting)


async def _stop(turn: Turn, program: Program, args: list[str]) -> None:
    turn.go(None)
    turn.say("adm_meet.stopped", buttons=[[Button(Msg("adm_meet.btn_list"), action(KEY))],
                                          [back_to_panel()]])


# --- inviting --------------------------------------------------------------------------------------


async def _meeting(turn: Turn, program: Program, meeting_id: int | None) -> Meeting | None:
    meeting = await turn.session.get(Meeting, meeting_id) if meeting_id else None
    if meeting is None or meeting.program_id != program.id:
        turn.say("input.button_stale")
        return None
    return meeting


async def _invite_question(turn: Turn, program: Program, meeting: Meeting) -> None:
    rows: list[list[Button]] = []
    if meeting.body_id:
        body = await turn.session.get(Body, meeting.body_id)
        members = await data.body_members(turn.session, meeting.body_id)
        rows.append([Button(Msg("adm_meet.btn_invite_members", {
            "body": Text(meeting_store.body_names(program, body)), "count": len(members)}),
            action(KEY, "iv", meeting.id, "m"))])
    everyone = await data.role_holders(turn.session, program.id)
    rows.append([Button(Msg("adm_meet.btn_invite_everyone", {"count": len(everyone)}),
                        action(KEY, "iv", meeting.id, "a"))])
    rows.append([Button(Msg("adm_meet.btn_invite_later"), action(KEY, "iv", meeting.id, "l"))])
    turn.say("adm_meet.ask_invite", buttons=rows)


async def _invite(turn: Turn, program: Program, args: list[str]) -> None:
    meeting = await _meeting(turn, program, int_at(args, 0))
    if meeting is None:
        return
    choice = args[1] if len(args) > 1 else ""
    if meeting.status != MeetingStatus.SCHEDULED or meeting.starts_at <= turn.now:
        turn.say("adm_meet.err_not_upcoming")
        return
    if choice == "":
        await _invite_question(turn, program, meeting)
        return
    if choice == "l":
        turn.say("adm_meet.invite_later", buttons=[[_board_button(meeting.id)]])
        return
    target = INVITE_CHOICES.get(choice)
    if target is None:
        turn.say("input.button_stale")
        return
    invited, queued, later, _ = await invite_now(turn.session, program, meeting, target,
                                                 turn.now)
    turn.audit("meeting_invited", "meeting", meeting.id, target=target, invited=invited,
               queued=queued, series_queued=later)
    # Two numbers, two agreements: "invité a 4 personas; 1 recibe la invitación por aquí".
    key = "adm_meet.invited_series" if meeting.series_id else "adm_meet.invited"
    turn.say(key, count=invited, reach=Msg(f"{key}_reach", {"count": queued}),
             buttons=[[_board_button(meeting.id)]])


# --- the board, asking again, attendance -------------------------------------------------------------


def _board_rows(meeting: Meeting, board: data.Board, now: datetime) -> list[list[Button]]:
    rows: list[list[Button]] = []
    upcoming = meeting.status == MeetingStatus.SCHEDULED and meeting.starts_at > now
    if upcoming and board.pending:
        rows.append([Button(Msg("adm_meet.btn_reask", {"count": len(board.pending)}),
                            action(KEY, "ra", meeting.id))])
    if meeting.status != MeetingStatus.CANCELLED:
        rows.append([Button(Msg("adm_meet.btn_attendance"), action(KEY, "at", meeting.id))])
    if upcoming:
        rows.append([Button(Msg("adm_meet.btn_invite"), action(KEY, "iv", meeting.id))])
        rows.append([Button(Msg("adm_meet.btn_move"), action(KEY, "mv", meeting.id)),
                     Button(Msg("adm_meet.btn_cancel_meeting"), action(KEY, "cn", meeting.id))])
    rows.append([Button(Msg("adm_meet.btn_list"), action(KEY))])
    return rows


async def _board(turn: Turn, program: Program, args: list[str]) -> None:
    await invite_due_series_meetings(turn.session, turn.now)
    meeting = await _meeting(turn, program, int_at(args, 0))
    if meeting is None:
        return
    if turn.convo.flow == FLOW:
        turn.go(None)
    board = await data.board(turn.session, meeting)
    turn.send(Outgoing(text=await board_text(turn.session, meeting),
                       buttons=_rows(_board_rows(meeting, board, turn.now))))


async def _reask(turn: Turn, program: Program, args: list[str]) -> None:
    meeting = await _meeting(turn, program, int_at(args, 0))
    if meeting is None:
        return
    asked, queued, _ = await reask(turn.session, meeting, turn.now)
    turn.audit("meeting_reasked", "meeting", meeting.id, asked=asked, queued=queued)
    if asked and not queued:
        turn.say("adm_meet.reasked_today", buttons=[[_board_button(meeting.id)]])
    else:
        turn.say("adm_meet.reasked", count=queued, buttons=[[_board_button(meeting.id)]])


async def _attendance_message(turn: Turn, meeting: Meeting, page: int) -> Outgoing:
    board = await data.board(turn.session, meeting)
    people = board.everyone
    pages = max(1, -(-len(people) // PAGE_SIZE))
    page = min(max(page, 0), pages - 1)
    rows: list[list[Button]] = []
    for e in people[page * PAGE_SIZE:(page + 1) * PAGE_SIZE]:
        if e.guest_id is not None:
            rows.append([Button(Msg("adm_meet.att_guest", {"name": Raw(entry_name(e))}),
                                action(KEY, "gx", meeting.id, e.guest_id, page))])
            continue
        key = "adm_meet.att_to_confirm" if e.to_confirm else {
            True: "adm_meet.att_present", False: "adm_meet.att_absent"}.get(
            e.present, "adm_meet.att_unmarked")
        rows.append([Button(Msg(key, {"name": Raw(entry_name(e))}),
                            action(KEY, "tg", meeting.id, e.person_id, page))])
    rows.append([Button(Msg("adm_meet.btn_add_attendee"), action(KEY, "ag", meeting.id))])
    if meeting.status == MeetingStatus.SCHEDULED:
        rows.append([Button(Msg("adm_meet.btn_close"), action(KEY, "cl", meeting.id))])
    rows.append([_board_button(meeting.id)])
    kind_name, _ = await meeting_handlers.names(turn.session, meeting)
    return Outgoing(text=Msg("adm_meet.attendance", {
        "what": what_named(meeting, kind_name), "when": When(meeting.starts_at),
        "tally": tally_text(board.tally),
    }), buttons=_rows(rows), pager=pager(page, pages, lambda p: action(KEY, "at", meeting.id, p)))


async def _attendance(turn: Turn, program: Program, args: list[str]) -> None:
    meeting = await _meeting(turn, program, int_at(args, 0))
    if meeting is None:
        return
    if turn.convo.flow == FLOW:
        turn.go(None)
    out = await _attendance_message(turn, meeting, int_at(args, 1) or 0)
    # Turning a page redraws the list in place; opening it from the board starts a new one.
    turn.redraw(out) if len(args) > 1 else turn.send(out)


async def _toggle_attendance(turn: Turn, program: Program, args: list[str]) -> None:
    meeting = await _meeting(turn, program, int_at(args, 0))
    person_id = int_at(args, 1)
    if meeting is None or person_id is None:
        return
    # One tap turns the mark over; someone who checked in alone without an invitation is
    # confirmed by the first tap, and the next one marks them absent, as for anyone.
    marked = await mark_attendance(turn.session, meeting, person_id, None, turn.person.id,
                                   turn.now)
    turn.audit("attendance_marked", "meeting", meeting.id, person_id=person_id,
               present=marked.present, walk_in_confirmed=marked.walk_in_confirmed)
    out = await _attendance_message(turn, meeting, int_at(args, 2) or 0)
    turn.redraw(out)


async def _add_pick(turn: Turn, program: Program, args: list[str]) -> None:
    meeting = await _meeting(turn, program, int_at(args, 0))
    if meeting is None:
        return
    if meeting.status == MeetingStatus.CANCELLED:
        turn.say("adm_meet.err_cancelled")
        return
    # A page arrow (the page in the action) keeps the search typed and redraws in place.
    turning = len(args) > 1
    same = turning and turn.convo.flow == FLOW and turn.convo.step == "add_pick" \
        and turn.data("meeting_id") == meeting.id
    query = turn.data("q", "") if same else ""
    turn.go(None)
    turn.go(FLOW, "add_pick", meeting_id=meeting.id, q=query, page=int_at(args, 1) or 0)
    await _ask(turn, program, "add_pick", redraw=turning)


async def _add_person(turn: Turn, program: Program, args: list[str]) -> None:
    meeting = await _meeting(turn, program, int_at(args, 0))
    person_id = int_at(args, 1)
    if meeting is None or person_id is None:
        return
    person = await turn.session.get(Person, person_id)
    if person is None or person.erased_at is not None:
        turn.say("adm_roles.gone")
        return
    await data.mark(turn.session, meeting, person_id, True, turn.person.id, turn.now)
    turn.audit("attendance_marked", "meeting", meeting.id, person_id=person_id, present=True,
               added=True)
    if turn.convo.flow == FLOW:
        turn.go(None)
    turn.say("adm_meet.added", name=person_label(person))
    turn.send(await _attendance_message(turn, meeting, 0))


# --- walk-ins who are not in Convoca ------------------------------------------------------------

GUEST_STEPS = ("guest_name", "guest_rut", "guest_org", "guest_phone")
GUEST_FIELDS = {"guest_name": ("name", guest_name), "guest_rut": ("rut", guest_rut),
                "guest_org": ("organization", guest_organization),
                "guest_phone": ("phone", guest_phone)}


async def _guest_new(turn: Turn, program: Program, args: list[str]) -> None:
    meeting = await _meeting(turn, program, int_at(args, 0))
    if meeting is None:
        return
    if meeting.status == MeetingStatus.CANCELLED:
        turn.say("adm_meet.err_cancelled")
        return
    searched = turn.data("q") if turn.convo.flow == FLOW and turn.convo.step == "add_pick" \
        and turn.data("meeting_id") == meeting.id else None
    turn.go(None)
    turn.go(FLOW, "guest_name", meeting_id=meeting.id, guest={})
    if len(args) > 1 and args[1] == "q" and searched:
        try:
            name = guest_name(searched)
        except MeetingError:
            pass
        else:
            await _guest_answer(turn, program, "guest_name", name)
            return
    await _ask(turn, program, "guest_name")


async def _guest_answer(turn: Turn, program: Program, step: str, value: str | None) -> None:
    """Keep the answer (None: skipped) and ask the next question, or write the person in."""
    field_name, _ = GUEST_FIELDS[step]
    guest = {**(turn.data("guest") or {}), field_name: value}
    turn.go(FLOW, step, guest=guest)
    following = GUEST_STEPS[GUEST_STEPS.index(step) + 1:]
    if following:
        await _ask(turn, program, following[0])
        return
    meeting = await _meeting(turn, program, turn.data("meeting_id"))
    turn.go(None)
    if meeting is None:
        return
    row = await data.add_guest(turn.session, meeting, now=turn.now, **guest)
    # The audit keeps that someone was written in, not who: they never agreed to Convoca.
    turn.audit("attendance_guest_added", "meeting", meeting.id, guest_id=row.id,
               rut=row.rut is not None, phone=row.phone is not None)
    turn.say("adm_meet.added", name=Raw(row.name))
    turn.send(await _attendance_message(turn, meeting, 0))


async def _guest_skip(turn: Turn, program: Program, args: list[str]) -> None:
    if not _in_step(turn, "guest_rut", "guest_org", "guest_phone"):
        return
    await _guest_answer(turn, program, turn.convo.step or "", None)


async def _guest_typed(turn: Turn, program: Program, step: str, text: str) -> None:
    _, check = GUEST_FIELDS[step]
    country = await programs.country_of(turn.session, program.id)
    try:
        value = check(text, country) if step in ("guest_rut", "guest_phone") else check(text)
    except MeetingError as exc:
        await _ask(turn, program, step, hint=country.national_id.guest_wrong
                   if exc.code == "guest_rut" else f"adm_meet.err_{exc.code}")
        return
    await _guest_answer(turn, program, step, value)


async def _guest_remove_ask(turn: Turn, program: Program, args: list[str]) -> None:
    meeting = await _meeting(turn, program, int_at(args, 0))
    guest = await turn.session.get(AttendanceGuest, int_at(args, 1) or 0)
    if meeting is None or guest is None or guest.meeting_id != meeting.id:
        if meeting is not None:
            turn.say("input.button_stale")
        return
    page = int_at(args, 2) or 0
    turn.redraw(Outgoing(
        text=Msg("adm_meet.guest_remove_ask", {"name": Raw(guest.name)}),
        buttons=_rows([[Button(Msg("adm_meet.btn_guest_remove"),
                               action(KEY, "gxy", meeting.id, guest.id))],
                       [Button(Msg("adm_meet.btn_guest_keep"),
                               action(KEY, "at", meeting.id, page))]])))


async def _guest_remove(turn: Turn, program: Program, args: list[str]) -> None:
    meeting = await _meeting(turn, program, int_at(args, 0))
    if meeting is None:
        return
    guest_id = int_at(args, 1) or 0
    try:
        name = await data.remove_guest(turn.session, meeting, guest_id)
    except MeetingError:
        turn.say("input.button_stale")
        return
    turn.audit("attendance_guest_removed", "meeting", meeting.id, guest_id=guest_id)
    turn.say("adm_meet.guest_removed", name=Raw(name))
    turn.send(await _attendance_message(turn, meeting, 0))


async def _close(turn: Turn, program: Program, args: list[str]) -> None:
    meeting = await _meeting(turn, program, int_at(args, 0))
    if meeting is None:
        return
    await data.close(turn.session, meeting, turn.now)
    tally = (await data.board(turn.session, meeting)).tally
    turn.audit("meeting_closed", "meeting", meeting.id, present=tally.present_invited,
               invited=tally.invited, walk_ins=tally.walk_ins)
    turn.say("adm_meet.closed", tally=tally_text(tally),
             buttons=[[_board_button(meeting.id)],
                      [Button(Msg("adm_meet.btn_rates"), action(KEY, "rt"))]])


async def _rates(turn: Turn, program: Program, args: list[str]) -> None:
    turn.send(Outgoing(text=await rates_text(turn.session, program), buttons=_rows(
        [[Button(Msg("adm_meet.btn_list"), action(KEY))], [back_to_panel()]])))


# --- moving and cancelling ---------------------------------------------------------------------------


async def _move(turn: Turn, program: Program, args: list[str]) -> None:
    meeting = await _meeting(turn, program, int_at(args, 0))
    if meeting is None:
        return
    if meeting.status != MeetingStatus.SCHEDULED:
        turn.say("adm_meet.err_not_scheduled")
        return
    local = schedule.local_date(meeting.starts_at, program.timezone)
    month = max(local, program_today(turn, program)).replace(day=1)
    turn.go(None)
    turn.go(FLOW, "move_date", mode="move", meeting_id=meeting.id, month=month.isoformat())
    await _ask(turn, program, "move_date")


async def _move_confirm(turn: Turn, program: Program, args: list[str]) -> None:
    if not _in_step(turn, "move_confirm"):
        return
    meeting = await _meeting(turn, program, turn.data("meeting_id"))
    if meeting is None:
        turn.go(None)
        return
    starts = _start_of(program, turn.convo.data or {})
    old = meeting.starts_at
    turn.go(None)
    invited, queued, _ = await move_and_notify(turn.session, meeting, starts, turn.now)
    turn.audit("meeting_moved", "meeting", meeting.id, old=old.isoformat(),
               new=starts.isoformat(), revision=meeting.revision, invited=invited,
               queued=queued)
    turn.say("adm_meet.moved", when=When(starts), count=invited, sent=queued,
             buttons=[[_board_button(meeting.id)]])


async def _cancel_meeting(turn: Turn, program: Program, args: list[str]) -> None:
    meeting = await _meeting(turn, program, int_at(args, 0))
    if meeting is None:
        return
    if meeting.status != MeetingStatus.SCHEDULED:
        turn.say("adm_meet.err_not_scheduled")
        return
    turn.go(None)
    turn.go(FLOW, "cancel_reason", mode="cancel", meeting_id=meeting.id)
    await _ask(turn, program, "cancel_reason")


async def _do_cancel(turn: Turn, program: Program, reason: str | None) -> None:
    meeting = await _meeting(turn, program, turn.data("meeting_id"))
    turn.go(None)
    if meeting is None:
        return
    invited, queued, _ = await cancel_and_notify(turn.session, meeting, reason, turn.now)
    turn.audit("meeting_cancelled", "meeting", meeting.id, invited=invited, queued=queued,
               reason_length=len(reason or ""))
    turn.say("adm_meet.cancelled", count=queued, buttons=[[Button(Msg("adm_meet.btn_list"),
                                                                  action(KEY))]])


async def _cancel_without_reason(turn: Turn, program: Program, args: list[str]) -> None:
    if not _in_step(turn, "cancel_reason"):
        return
    await _do_cancel(turn, program, None)


_VERB_HANDLERS = {
    "": _list, "new": _new, "nb": _pick_body, "nk": _pick_kind, "cal": _calendar,
    "tm": _time_button, "sp": _same_place, "sk": _skip_agenda, "rp": _toggle_repeat,
    "ch": _change, "ok": _confirm, "x": _stop, "iv": _invite, "bd": _board, "ra": _reask,
    "at": _attendance, "tg": _toggle_attendance, "ag": _add_pick, "ap": _add_person,
    "cl": _close, "mv": _move, "mok": _move_confirm, "cn": _cancel_meeting,
    "cns": _cancel_without_reason, "rt": _rates, "gn": _guest_new, "gs": _guest_skip,
    "gx": _guest_remove_ask, "gxy": _guest_remove,
}


# --- typed answers ---------------------------------------------------------------------------------


@router.flow(FLOW)
async def meetings_input(turn: Turn) -> None:
    step = turn.convo.step or ""
    if not guard(turn, ADMIN, f"{FLOW}:{step}"):
        turn.go(None)
        return
    program = await program_or_say(turn, "adm_meet.no_program")
    if program is None:
        return
    text = (turn.event.text or "").strip() if turn.event.kind == EventKind.TEXT else ""
    try:
        await _typed(turn, program, step, text)
    except MeetingError as exc:
        turn.go(None)
        turn.say(f"adm_meet.err_{exc.code}")


async def _typed(turn: Turn, program: Program, step: str, text: str) -> None:
    if step in ("date", "move_date") and text:
        try:
            typed = dates.parse_when(text, program_today(turn, program))
        except dates.DateProblem as problem:
            await _ask(turn, program, step, hint=dates.date_problem(problem))
            return
        await _set_day(turn, program, step, typed.day, typed.at)
    elif step in ("time", "move_time") and text:
        at = dates.parse_time(text)
        if at is None:
            await _ask(turn, program, step, hint="adm_meet.time_not_understood")
            return
        await _set_time(turn, program, at)
    elif step == "place" and text:
        if len(text) > PLACE_MAX:
            await _ask(turn, program, step, hint="adm_meet.too_long")
            return
        turn.go(FLOW, step, place=text)
        await _next(turn, program, "place")
    elif step == "agenda" and text:
        if len(text) > AGENDA_MAX:
            await _ask(turn, program, step, hint="adm_meet.too_long")
            return
        turn.go(FLOW, step, agenda=text)
        await _next(turn, program, "agenda")
    elif step == "cancel_reason" and text:
        if len(text) > CANCEL_REASON_MAX:
            await _ask(turn, program, step, hint="adm_meet.too_long")
            return
        await _do_cancel(turn, program, text)
    elif step == "add_pick" and text:
        query = typed_query(turn) or ""
        turn.go(FLOW, step, q=query, page=0)
        await _ask(turn, program, step)
    elif step in GUEST_STEPS and text:
        await _guest_typed(turn, program, step, text)
    elif step in ("time", "move_time", "place", "agenda", "cancel_reason", "add_pick",
                  *GUEST_STEPS):
        await _ask(turn, program, step, hint="adm_meet.text_please")
    elif step in ("body", "kind", "date", "move_date", "summary", "change", "move_confirm"):
        await _ask(turn, program, step, again=True)
    else:
        turn.go(None)
        turn.say("input.not_understood")
