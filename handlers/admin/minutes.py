"""Panel section "minutes" (Actas): the acta de acuerdos y compromisos of a session, recorded
in chat by the gestora after it, and the matriz de seguimiento of every action.

The acta is asked one part at a time: the topics discussed and the agreements (typed, one a
message or several lines, "Listo" to go on), then each commitment: what, who (the session's
people as buttons, or a typed name), by when (a day to pick, or typed). The summary lets her
strike an item recorded by mistake, add more, and get the acta as a PDF; an acta can be
opened again later. The commitments become action items, followed up by their responsible
people (handlers.followup) and reminded by the scheduler.

Buttons, after ``adm:minutes:``: (none) menu · ``l:<page>[:e]`` sessions · ``m:<meeting>``
open one · ``t|a:<minutes>`` add topics / agreements · ``n:<minutes>`` on to the next part ·
``c:<minutes>`` a commitment · ``w:<minutes>:<person|0>`` who · ``cal<minutes>:d|m:..`` by
when · ``s:<minutes>`` summary · ``f:<minutes>`` what to strike · ``x:<minutes>:<t|c><id>``
strike it · ``p:<minutes>`` the PDF · ``fm[:<fmt>]`` the follow-up matrix.
Typed answers arrive in the flow ``adm_minutes``."""

from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from documents import minutes as minutes_documents
from handlers import widgets
from handlers.admin import (
    ADMIN,
    RECORDS,
    action,
    back_to_panel,
    guard,
    int_at,
    pager,
    program_or_say,
    program_today,
    section,
)
from handlers.core import Router, Turn
from handlers.events import Attachment, Button, EventKind, Outgoing
from locales import Day, Msg, Raw, Text
from services import dates, followup
from services.messages import DatePick
from storage import actions, admin_meetings
from storage import minutes as minutes_store
from storage.meetings import kind_names
from storage.models import (
    ActionItem,
    ActionStatus,
    Meeting,
    MeetingStatus,
    Minutes,
    MinutesItem,
    MinutesSection,
    Program,
)

KEY = "minutes"
FLOW = "adm_minutes"
PAGE = 8
PEOPLE_MAX = 24  # buttons of people to choose the responsible from
ITEM_MAX = 1000  # characters of one topic, agreement or commitment
NAME_MAX = 200
MATRIX_FORMATS = ("xlsx", "pdf")

router = Router()


def act(*parts: object) -> str:
    return action(KEY, *parts)


def _meeting_label(program: Program, m: Meeting, recorded: bool) -> Msg:
    local = m.starts_at.astimezone(ZoneInfo(program.timezone)).date()
    what = Raw(m.title[:30]) if m.title else Text(kind_names(program, m.kind))
    return Msg("actas.btn_meeting_done" if recorded else "actas.btn_meeting",
               {"day": Day(local, "short_year"), "what": what})


def _what(program: Program, m: Meeting) -> Msg:
    what = Raw(m.title) if m.title else Text(kind_names(program, m.kind))
    local = m.starts_at.astimezone(ZoneInfo(program.timezone)).date()
    return Msg("actas.session_named", {"what": what, "day": Day(local)})


@section(KEY, "actas.section", roles=ADMIN, order=64, group=RECORDS)
async def open_minutes(turn: Turn, parts: list[str]) -> None:
    if not guard(turn, ADMIN, "minutes:" + ":".join(parts[:1])):
        return
    program = await program_or_say(turn, "actas.no_program")
    if program is None:
        return
    op, args = (parts[0], parts[1:]) if parts else ("", [])
    if op.startswith("cal") and op[3:].isascii() and op[3:].isdigit():
        await _calendar(turn, program, int(op[3:]))
        return
    handler = _OPS.get(op)
    if handler is None:
        turn.say("input.button_stale")
        return
    await handler(turn, program, args)


async def _menu(turn: Turn, program: Program, args: list[str]) -> None:
    turn.go(None)
    turn.say("actas.menu", buttons=[
        [Button(Msg("actas.btn_record"), act("l", 0))],
        [Button(Msg("actas.btn_matrix"), act("fm"))],
        [back_to_panel()],
    ])


# --- choosing the session ---------------------------------------------------------------


async def _sessions(turn: Turn, program: Program, args: list[str]) -> None:
    """The sessions already held, most recent first: an acta is written after one."""
    turn.go(None)
    page = int_at(args, 0) or 0
    held = (Meeting.program_id == program.id, Meeting.status != MeetingStatus.CANCELLED,
            Meeting.starts_at <= turn.now)
    total = int(await turn.session.scalar(
        select(func.count()).select_from(Meeting).where(*held)) or 0)
    if not total:
        turn.say("actas.no_sessions", buttons=[[Button(Msg("actas.btn_back"), act())]])
        return
    pages = max((total + PAGE - 1) // PAGE, 1)
    page = min(page, pages - 1)
    rows = (await turn.session.scalars(
        select(Meeting).where(*held).order_by(Meeting.starts_at.desc(), Meeting.id.desc())
        .offset(page * PAGE).limit(PAGE))).all()
    recorded = set((await turn.session.scalars(
        select(Minutes.meeting_id).where(Minutes.meeting_id.in_([m.id for m in rows])))).all())
    buttons = [[Button(_meeting_label(program, m, m.id in recorded), act("m", m.id))]
               for m in rows]
    buttons.append([Button(Msg("actas.btn_back"), act())])
    out = Outgoing(text=Msg("actas.pick_session"), buttons=tuple(tuple(r) for r in buttons),
                   pager=pager(page, pages, lambda p: act("l", p, "e")))
    turn.redraw(out) if len(args) > 1 and args[1] == "e" else turn.send(out)


async def _open(turn: Turn, program: Program, args: list[str]) -> None:
    meeting = await turn.session.get(Meeting, int_at(args, 0) or 0)
    if meeting is None or meeting.program_id != program.id:
        turn.say("input.button_stale")
        return
    found = await minutes_store.of_meeting(turn.session, meeting.id)
    if found is not None:
        await _summary(turn, program, found)  # opened again: to add or put right
        return
    minutes = await minutes_store.for_meeting(turn.session, program.id, meeting.id,
                                              now=turn.now, by_person_id=turn.person.id)
    turn.audit("minutes_begun", "minutes", minutes.id, meeting_id=meeting.id)
    _ask_part(turn, minutes, "topic", first=True, what=_what(program, meeting))


async def _minutes(turn: Turn, program: Program, minutes_id: int | None) -> Minutes | None:
    minutes = await turn.session.get(Minutes, minutes_id) if minutes_id else None
    if minutes is None or minutes.program_id != program.id:
        turn.go(None)
        turn.say("input.button_stale")
        return None
    return minutes


def _in_flow_of(turn: Turn, minutes: Minutes) -> bool:
    """The flow is recording this acta: an old button of another acta must not carry the
    commitment being typed into it."""
    return turn.convo.flow == FLOW and turn.data("minutes_id") == minutes.id


# --- topics and agreements --------------------------------------------------------------


def _ask_part(turn: Turn, minutes: Minutes, step: str, *, first: bool = False,
              what: Msg | None = None, adding: bool = False) -> None:
    turn.go(None)
    turn.go(FLOW, step, minutes_id=minutes.id, adding=adding)
    key = {"topic": "actas.ask_topics", "agreement": "actas.ask_agreements"}[step]
    if first and what is not None:
        turn.say("actas.begin", what=what)
    turn.say(key, buttons=[[Button(Msg("actas.btn_listo"), act("n", minutes.id))]])


async def _add_topics(turn: Turn, program: Program, args: list[str]) -> None:
    minutes = await _minutes(turn, program, int_at(args, 0))
    if minutes is not None:
        _ask_part(turn, minutes, "topic", adding=True)


async def _add_agreements(turn: Turn, program: Program, args: list[str]) -> None:
    minutes = await _minutes(turn, program, int_at(args, 0))
    if minutes is not None:
        _ask_part(turn, minutes, "agreement", adding=True)


async def _next(turn: Turn, program: Program, args: list[str]) -> None:
    """"Listo": from the topics to the agreements, from the agreements to the commitments;
    opened again to add only one part, back to the summary."""
    minutes = await _minutes(turn, program, int_at(args, 0))
    if minutes is None:
        return
    if turn.convo.flow == FLOW and not _in_flow_of(turn, minutes):
        turn.say("input.button_stale")  # another acta's button: the one being typed stays
        return
    step = turn.convo.step if turn.convo.flow == FLOW else None
    if step == "topic" and not turn.data("adding"):
        _ask_part(turn, minutes, "agreement")
    elif step == "agreement" and not turn.data("adding"):
        _ask_commitment(turn, minutes, first=True)
    else:
        await _summary(turn, program, minutes)


async def _typed_lines(turn: Turn, program: Program, minutes: Minutes, step: str) -> None:
    text = (turn.event.text or "").strip() if turn.event.kind == EventKind.TEXT else ""
    listo = [[Button(Msg("actas.btn_listo"), act("n", minutes.id))]]
    lines = [" ".join(line.split()) for line in text.splitlines()]
    lines = [line.lstrip("-•*· ").strip()[:ITEM_MAX] for line in lines]
    lines = [line for line in lines if line]
    if not lines:
        turn.say("input.unsupported" if turn.event.kind == EventKind.UNSUPPORTED
                 else "actas.type_it", buttons=listo)
        return
    section_ = MinutesSection.TOPIC if step == "topic" else MinutesSection.AGREEMENT
    for line in lines:
        await minutes_store.add_item(turn.session, minutes, section_, line, now=turn.now)
    count = len(await minutes_store.items(turn.session, minutes.id, section_))
    turn.say("actas.topics_kept" if step == "topic" else "actas.agreements_kept",
             count=count, buttons=listo)


# --- commitments --------------------------------------------------------------------------


def _ask_commitment(turn: Turn, minutes: Minutes, *, first: bool = False) -> None:
    turn.go(None)
    turn.go(FLOW, "what", minutes_id=minutes.id)
    turn.say("actas.ask_commitment_first" if first else "actas.ask_commitment",
             buttons=[[Button(Msg("actas.btn_no_more"), act("s", minutes.id))]])


async def _commitment(turn: Turn, program: Program, args: list[str]) -> None:
    minutes = await _minutes(turn, program, int_at(args, 0))
    if minutes is not None:
        _ask_commitment(turn, minutes)


async def _people(turn: Turn, minutes: Minutes) -> list[tuple[int, str]]:
    """Who was at the session or invited to it: those present first."""
    meeting = await turn.session.get(Meeting, minutes.meeting_id) if minutes.meeting_id else None
    if meeting is None:
        return []
    roll = await admin_meetings.board(turn.session, meeting)
    seen: set[int] = set()
    out: list[tuple[int, str]] = []
    for e in sorted(roll.everyone, key=lambda e: not e.present):
        if e.person_id is not None and e.person_id not in seen and e.name:
            seen.add(e.person_id)
            out.append((e.person_id, e.name))
    return out[:PEOPLE_MAX]


async def _ask_who(turn: Turn, minutes: Minutes) -> None:
    people = await _people(turn, minutes)
    rows = [[Button(Msg("actas.btn_person", {"name": Raw(name[:40])}),
                    act("w", minutes.id, pid))] for pid, name in people]
    rows.append([Button(Msg("actas.btn_other_person"), act("w", minutes.id, 0))])
    turn.say("actas.ask_who", what=Raw(followup.short(turn.data("what") or "")), buttons=rows)


async def _who(turn: Turn, program: Program, args: list[str]) -> None:
    minutes = await _minutes(turn, program, int_at(args, 0))
    person_id = int_at(args, 1)
    if minutes is None or person_id is None or not _in_flow_of(turn, minutes) \
            or not turn.data("what"):
        turn.say("input.button_stale")
        return
    if person_id == 0:
        turn.go(FLOW, "who_name")
        turn.say("actas.ask_who_name")
        return
    if person_id not in {pid for pid, _ in await _people(turn, minutes)}:
        turn.say("input.button_stale")
        return
    turn.go(FLOW, "due", who_id=person_id, who_name=None)
    await _ask_due(turn, program, minutes, None, redraw=False)


async def _ask_due(turn: Turn, program: Program, minutes: Minutes, month: date | None, *,
                   redraw: bool) -> None:
    today = program_today(turn, program)
    out = Outgoing(text=Msg("actas.ask_due"),
                   buttons=((Button(Msg("actas.btn_cancel_commitment"), act("s", minutes.id)),),),
                   date_pick=DatePick(act(f"cal{minutes.id}"), month or today, earliest=today))
    turn.redraw(out) if redraw else turn.send(out)


async def _calendar(turn: Turn, program: Program, minutes_id: int) -> None:
    minutes = await _minutes(turn, program, minutes_id)
    if minutes is None:
        return
    picked = widgets.parse(turn.action or "", act(f"cal{minutes_id}"))
    if picked is None or picked.day is None or not _in_flow_of(turn, minutes) \
            or turn.convo.step != "due":
        turn.say("input.button_stale")
        return
    if picked.kind == "m":
        await _ask_due(turn, program, minutes, picked.day, redraw=True)
        return
    await _keep_commitment(turn, program, minutes, picked.day)


async def _keep_commitment(turn: Turn, program: Program, minutes: Minutes, due: date) -> None:
    if not turn.data("what"):
        turn.go(None)
        turn.say("input.button_stale")
        return
    if due < program_today(turn, program):
        turn.say("actas.due_past")
        await _ask_due(turn, program, minutes, None, redraw=False)
        return
    position = len(await actions.of_minutes(turn.session, minutes.id, with_dropped=True)) + 1
    item = await actions.add(
        turn.session, program_id=program.id, text=turn.data("what"), now=turn.now,
        created_by=turn.person.id, minutes_id=minutes.id, due=due, position=position,
        responsible_person_id=turn.data("who_id"), responsible_name=turn.data("who_name"))
    minutes.updated_at = turn.now
    turn.audit("commitment_added", "action_item", item.id, minutes_id=minutes.id)
    turn.go(None)
    who = await followup.responsible(turn.session, item)
    turn.say("actas.commitment_kept", what=Raw(followup.short(item.text)), who=Raw(who),
             due=Day(due), buttons=[
                 [Button(Msg("actas.btn_another"), act("c", minutes.id))],
                 [Button(Msg("actas.btn_finish"), act("s", minutes.id))]])


# --- the summary, striking, the PDF ---------------------------------------------------------


async def _summary(turn: Turn, program: Program, minutes: Minutes) -> None:
    turn.go(None)
    meeting = await turn.session.get(Meeting, minutes.meeting_id) if minutes.meeting_id else None
    topics = await minutes_store.items(turn.session, minutes.id, MinutesSection.TOPIC)
    agreed = await minutes_store.items(turn.session, minutes.id, MinutesSection.AGREEMENT)
    committed = await actions.of_minutes(turn.session, minutes.id)

    def listed(rows: list[Msg]) -> list[Msg] | Msg:
        return rows or Msg("actas.nothing_yet")

    commitments = [Msg("actas.summary_commitment", {
        "n": n, "text": Raw(a.text), "who": Raw(await followup.responsible(turn.session, a)
                                                 or "—"),
        "due": Day(a.due) if a.due else Msg("actas.no_due")})
        for n, a in enumerate(committed, 1)]
    turn.say("actas.summary",
             what=_what(program, meeting) if meeting else Msg("actas.no_session"),
             topics=listed([Msg("actas.summary_item", {"n": n, "text": Raw(t.text)})
                            for n, t in enumerate(topics, 1)]),
             agreements=listed([Msg("actas.summary_item", {"n": n, "text": Raw(t.text)})
                                for n, t in enumerate(agreed, 1)]),
             commitments=listed(commitments),
             buttons=[
                 [Button(Msg("actas.btn_pdf"), act("p", minutes.id))],
                 [Button(Msg("actas.btn_add_topics"), act("t", minutes.id)),
                  Button(Msg("actas.btn_add_agreements"), act("a", minutes.id))],
                 [Button(Msg("actas.btn_add_commitment"), act("c", minutes.id))],
                 [Button(Msg("actas.btn_fix"), act("f", minutes.id))],
                 [Button(Msg("actas.btn_back"), act("l", 0))]])


async def _show_summary(turn: Turn, program: Program, args: list[str]) -> None:
    minutes = await _minutes(turn, program, int_at(args, 0))
    if minutes is not None:
        await _summary(turn, program, minutes)


async def _fix(turn: Turn, program: Program, args: list[str]) -> None:
    minutes = await _minutes(turn, program, int_at(args, 0))
    if minutes is None:
        return
    rows = []
    for n, t in enumerate(await minutes_store.items(turn.session, minutes.id,
                                                    MinutesSection.TOPIC), 1):
        rows.append([Button(Msg("actas.btn_strike_topic", {"n": n, "text": Raw(
            followup.short(t.text, 30))}), act("x", minutes.id, f"t{t.id}"))])
    for n, t in enumerate(await minutes_store.items(turn.session, minutes.id,
                                                    MinutesSection.AGREEMENT), 1):
        rows.append([Button(Msg("actas.btn_strike_agreement", {"n": n, "text": Raw(
            followup.short(t.text, 30))}), act("x", minutes.id, f"t{t.id}"))])
    for n, a in enumerate(await actions.of_minutes(turn.session, minutes.id), 1):
        rows.append([Button(Msg("actas.btn_strike_commitment", {"n": n, "text": Raw(
            followup.short(a.text, 30))}), act("x", minutes.id, f"c{a.id}"))])
    if not rows:
        turn.say("actas.nothing_to_strike")
        await _summary(turn, program, minutes)
        return
    rows.append([Button(Msg("actas.btn_back_summary"), act("s", minutes.id))])
    turn.say("actas.ask_strike", buttons=rows)


async def _strike(turn: Turn, program: Program, args: list[str]) -> None:
    minutes = await _minutes(turn, program, int_at(args, 0))
    which = args[1] if len(args) > 1 else ""
    if minutes is None:
        return
    ref = int(which[1:]) if which[1:].isascii() and which[1:].isdigit() else 0
    if which[:1] == "t":
        item = await turn.session.get(MinutesItem, ref)
        if item is None or item.minutes_id != minutes.id:
            turn.say("actas.already_struck")
        else:
            await minutes_store.remove_item(turn.session, item, now=turn.now)
            turn.audit("minutes_item_struck", "minutes", minutes.id, item=ref)
            turn.say("actas.struck")
    elif which[:1] == "c":
        action_item = await turn.session.get(ActionItem, ref)
        sure = len(args) > 2 and args[2] == "y"
        if action_item is None or action_item.minutes_id != minutes.id \
                or action_item.status == ActionStatus.DROPPED:
            turn.say("actas.already_struck")
        elif not sure and await actions.has_reports(turn.session, action_item):
            # Its reports and photos are evidence: one stray tap must not be the end of them.
            turn.say("actas.strike_reported_confirm",
                     what=Raw(followup.short(action_item.text)), buttons=[
                         [Button(Msg("actas.btn_strike_yes"), act("x", minutes.id, which, "y")),
                          Button(Msg("actas.btn_strike_no"), act("s", minutes.id))]])
            return
        else:
            gone = await actions.strike(turn.session, action_item, now=turn.now)
            minutes.updated_at = turn.now
            turn.audit("commitment_struck", "minutes", minutes.id, action_item=ref,
                       kept_dropped=not gone)
            turn.say("actas.struck" if gone else "actas.struck_kept")
    else:
        turn.say("input.button_stale")
        return
    await _summary(turn, program, minutes)


async def _pdf(turn: Turn, program: Program, args: list[str]) -> None:
    minutes = await _minutes(turn, program, int_at(args, 0))
    if minutes is None:
        return
    file = await minutes_documents.minutes_pdf(turn.session, minutes.id, now=turn.now,
                                               locale=turn.locale,
                                               catalogs=turn.services.catalogs)
    turn.audit("export", "minutes", minutes.id, what="minutes", format="pdf")
    turn.send(Outgoing(text=Msg("actas.sent_pdf"),
                       attachment=Attachment(file.filename, file.content, file.mime_type)))


async def _matrix(turn: Turn, program: Program, args: list[str]) -> None:
    fmt = args[0] if args else ""
    if fmt not in MATRIX_FORMATS:
        turn.say("actas.ask_matrix_format", buttons=[
            [Button(Msg(f"actas.fmt_{f}"), act("fm", f)) for f in MATRIX_FORMATS],
            [Button(Msg("actas.btn_back"), act())]])
        return
    file = await minutes_documents.follow_up_matrix(turn.session, program.id, fmt,
                                                    now=turn.now, locale=turn.locale,
                                                    catalogs=turn.services.catalogs)
    turn.audit("export", "program", program.id, what="follow_up_matrix", format=fmt)
    turn.send(Outgoing(text=Msg("actas.sent_matrix"),
                       attachment=Attachment(file.filename, file.content, file.mime_type)))


_OPS = {
    "": _menu, "l": _sessions, "m": _open, "t": _add_topics, "a": _add_agreements,
    "n": _next, "c": _commitment, "w": _who, "s": _show_summary, "f": _fix, "x": _strike,
    "p": _pdf, "fm": _matrix,
}


# --- what is typed ------------------------------------------------------------------------


@router.flow(FLOW)
async def typed(turn: Turn) -> None:
    if not guard(turn, ADMIN, "minutes:input"):
        turn.go(None)
        return
    program = await program_or_say(turn, "actas.no_program")
    if program is None:
        return
    minutes = await _minutes(turn, program, turn.data("minutes_id"))
    if minutes is None:
        return
    step = turn.convo.step
    text = (turn.event.text or "").strip() if turn.event.kind == EventKind.TEXT else ""
    if step in ("topic", "agreement"):
        await _typed_lines(turn, program, minutes, step)
    elif step == "what":
        if not text:
            turn.say("actas.type_commitment",
                     buttons=[[Button(Msg("actas.btn_no_more"), act("s", minutes.id))]])
            return
        turn.go(FLOW, "who", what=" ".join(text.split())[:ITEM_MAX])
        await _ask_who(turn, minutes)
    elif step == "who":
        turn.say("actas.use_buttons_who")
        await _ask_who(turn, minutes)
    elif step == "who_name":
        name = " ".join(text.split())[:NAME_MAX]
        if len(name) < 2:
            turn.say("actas.ask_who_name_again")
            return
        turn.go(FLOW, "due", who_id=None, who_name=name)
        await _ask_due(turn, program, minutes, None, redraw=False)
    elif step == "due":
        if not text:
            turn.say("actas.use_calendar")
            await _ask_due(turn, program, minutes, None, redraw=False)
            return
        try:
            day = dates.parse_date(text, program_today(turn, program))
        except dates.DateProblem as problem:
            turn.send(Outgoing(text=dates.date_problem(problem)))
            await _ask_due(turn, program, minutes, None, redraw=False)
            return
        await _keep_commitment(turn, program, minutes, day)
    else:
        turn.go(None)
        turn.say("input.not_understood")

