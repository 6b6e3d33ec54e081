"""Meeting invitations, answers (Asistiré / No podré / Tal vez), /reuniones and check-in.

Button actions are ``rsvp:<meeting id>:<op>[:l]``: op is y/n/m (the answer), c (the .ics
file) or s (skip the reason); a trailing ``l`` means the button sits on a /reuniones card
rather than on the invitation, so the edit redraws the right message.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta

from icalendar import Calendar, Event
from sqlalchemy.ext.asyncio import AsyncSession

from handlers import codes
from handlers.core import Router, Turn
from handlers.events import Attachment, Button, EventKind, Outgoing
from locales import Msg, Raw, Text, When
from storage import links, meetings, outbox
from storage.models import Body, Meeting, MeetingStatus, Program, Rsvp, RsvpAnswer
from storage.program_templates import localized_text

router = Router()

PREFIX = "rsvp"
FLOW = "meetings"
ANSWER_OPS = {"y": RsvpAnswer.YES, "n": RsvpAnswer.NO, "m": RsvpAnswer.MAYBE}
ANSWER_LABELS = {
    RsvpAnswer.YES: "meeting.btn_yes",
    RsvpAnswer.NO: "meeting.btn_no",
    RsvpAnswer.MAYBE: "meeting.btn_maybe",
}
ANSWER_WORDS = {
    RsvpAnswer.YES: "meeting.answer_yes",
    RsvpAnswer.NO: "meeting.answer_no",
    RsvpAnswer.MAYBE: "meeting.answer_maybe",
}
CARD_VIEW = "l"
LIST_MAX = 10
AGENDA_SHOWN_MAX = 1500  # Telegram refuses texts over 4096 characters
# Asking again after the third wrong code helps nobody; the limit on guessing is
# storage.attempts', which sending /asistencia again does not reset.
CHECKIN_ATTEMPTS = 3
# A calendar needs an end; two hours is what a community session usually takes.
CALENDAR_DEFAULT_LENGTH = timedelta(hours=2)


# --- what the person reads ----------------------------------------------------------------


Name = str | Text  # a plain string, or data's own text in each language


def _as_text(name: Name) -> Text:
    return name if isinstance(name, Text) else Text({"es": name})


def _what(meeting: Meeting, kind_name: Name) -> Raw | Text:
    return Raw(meeting.title) if meeting.title else _as_text(kind_name)


def _names_the_body(what: Raw | Text, body: Text) -> bool:
    # "Sesión del Grupo Motor" already says whose meeting it is, in every language.
    if isinstance(what, Raw):
        return any(b.casefold() in what.text.casefold() for b in body.by_locale.values())
    return all(
        body_text.casefold() in localized_text(what.by_locale, loc).casefold()
        for loc, body_text in body.by_locale.items()
    )


def _details(meeting: Meeting, what: Raw | Text, body_name: Name | None, *, agenda: bool
             ) -> list[Msg]:
    lines = []
    if body_name and not _names_the_body(what, _as_text(body_name)):
        lines.append(Msg("meeting.line_body", {"body": _as_text(body_name)}))
    if meeting.ends_at is not None:
        lines.append(Msg("meeting.line_when_range", {
            "start": When(meeting.starts_at), "end": When(meeting.ends_at, "time")}))
    else:
        lines.append(Msg("meeting.line_when", {"when": When(meeting.starts_at)}))
    if meeting.place and meeting.address:
        lines.append(Msg("meeting.line_place_address",
                         {"place": Raw(meeting.place), "address": Raw(meeting.address)}))
    elif meeting.place or meeting.address:
        lines.append(Msg("meeting.line_place", {"place": Raw(meeting.place or meeting.address)}))
    if agenda and meeting.agenda and meeting.agenda.strip():
        text = meeting.agenda.strip()
        if len(text) > AGENDA_SHOWN_MAX:
            text = text[: AGENDA_SHOWN_MAX - 1].rstrip() + "…"
        lines.append(Msg("meeting.line_agenda", {"agenda": Raw(text)}))
    return lines


def _answer_buttons(meeting: Meeting, rsvp: Rsvp, view: str = "") -> tuple[tuple[Button, ...], ...]:
    suffix = f":{view}" if view else ""
    row = []
    for op, value in ANSWER_OPS.items():
        label = Msg(ANSWER_LABELS[value])
        if rsvp.answer == value:
            label = Msg("meeting.chosen", {"label": label})
        row.append(Button(label, f"{PREFIX}:{meeting.id}:{op}{suffix}"))
    calendar = Button(Msg("meeting.btn_calendar"), f"{PREFIX}:{meeting.id}:c{suffix}")
    return (tuple(row), (calendar,))


def _your_answer(rsvp: Rsvp) -> Msg:
    words = ANSWER_WORDS.get(rsvp.answer or "", "meeting.answer_none")
    return Msg("meeting.your_answer", {"answer": Msg(words)})


def _closing(rsvp: Rsvp) -> Msg:
    return _your_answer(rsvp) if rsvp.answer else Msg("meeting.invite_question")


def invitation(
    meeting: Meeting, rsvp: Rsvp, *, kind_name: Name, body_name: Name | None = None
) -> Outgoing:
    """The invitation as the person reads it: what, when, where, the agenda, and the answer
    buttons (the current answer ticked). ``kind_name`` and ``body_name`` are best given as
    ``Text`` (see :func:`names`) so the reader's language is chosen when it is rendered."""
    location = None
    if meeting.latitude is not None and meeting.longitude is not None:
        location = (meeting.latitude, meeting.longitude)
    what = _what(meeting, kind_name)
    return Outgoing(
        text=Msg("meeting.invite", {
            "what": what,
            "details": _details(meeting, what, body_name, agenda=True),
            "closing": _closing(rsvp),
        }),
        buttons=_answer_buttons(meeting, rsvp),
        location=location,
    )


def card(meeting: Meeting, rsvp: Rsvp, *, kind_name: Name, body_name: Name | None = None
         ) -> Outgoing:
    """One meeting in /reuniones: shorter than the invitation, same buttons."""
    what = _what(meeting, kind_name)
    return Outgoing(
        text=Msg("meeting.card", {
            "what": what,
            "details": _details(meeting, what, body_name, agenda=False),
            "closing": _your_answer(rsvp),
        }),
        buttons=_answer_buttons(meeting, rsvp, CARD_VIEW),
    )


def calendar_file(meeting: Meeting, *, summary: str, now: datetime) -> bytes:
    """An .ics event whose UID stays the same for the meeting and whose SEQUENCE is the
    meeting's revision, so importing it again after a move updates the entry."""
    cal = Calendar()
    cal.add("prodid", "-//Convoca//Convoca//ES")
    cal.add("version", "2.0")
    cal.add("method", "PUBLISH")
    event = Event()
    event.add("uid", f"meeting-{meeting.id}@convoca")
    event.add("dtstamp", now)
    event.add("dtstart", meeting.starts_at)
    event.add("dtend", meeting.ends_at or meeting.starts_at + CALENDAR_DEFAULT_LENGTH)
    event.add("sequence", meeting.revision or 0)
    event.add("summary", summary)
    where = ", ".join(p for p in (meeting.place, meeting.address) if p)
    if where:
        event.add("location", where)
    if meeting.agenda and meeting.agenda.strip():
        event.add("description", meeting.agenda.strip())
    if meeting.latitude is not None and meeting.longitude is not None:
        event.add("geo", (meeting.latitude, meeting.longitude))
    if meeting.status == MeetingStatus.CANCELLED:
        event.add("status", "CANCELLED")
    cal.add_component(event)
    return cal.to_ical()


async def names(session: AsyncSession, meeting: Meeting) -> tuple[Text, Text | None]:
    """The meeting kind's name and its body's name, in every language they exist in."""
    program = await session.get(Program, meeting.program_id)
    body = await session.get(Body, meeting.body_id) if meeting.body_id else None
    if program is None:
        return Text({"es": meeting.kind}), Text({"es": body.name}) if body else None
    kind_name = Text(meetings.kind_names(program, meeting.kind))
    return kind_name, Text(meetings.body_names(program, body)) if body else None


def summary(meeting: Meeting, kind_name: Text, locale: str) -> str:
    """The meeting's name as one string, for what is not rendered from a catalog (.ics)."""
    return meeting.title or localized_text(kind_name.by_locale, locale)


async def send_invitations(
    session: AsyncSession,
    meeting: Meeting,
    person_ids: list[int],
    now: datetime,
    *,
    organization_by_person: dict[int, int] | None = None,
) -> list[int]:
    """Invite the people and queue one invitation each; returns the outbox ids queued.

    The idempotency key carries the meeting's revision: calling this twice sends nothing
    new, while a moved meeting (revision bumped) sends everyone the updated invitation."""
    if meeting.status == MeetingStatus.CANCELLED or meeting.starts_at <= now:
        return []
    rsvps = await meetings.invite(session, meeting, person_ids, now, organization_by_person)
    kind_name, body = await names(session, meeting)
    queued = []
    for rsvp in rsvps:
        out = invitation(meeting, rsvp, kind_name=kind_name, body_name=body)
        new_id = await outbox.enqueue_for_person(
            session, rsvp.person_id, out.to_json(),
            key=f"invite:{meeting.id}:r{meeting.revision}:{rsvp.person_id}", kind="invitation",
            now=now, expires_at=meeting.starts_at,
        )
        if new_id is not None:
            queued.append(new_id)
    return queued


# --- answering ----------------------------------------------------------------------------


def _parse(action: str | None) -> tuple[int, str, str] | None:
    parts = (action or "").split(":")
    if len(parts) not in (3, 4) or not parts[1].isdigit():
        return None
    view = parts[3] if len(parts) == 4 else ""
    if parts[2] not in (*ANSWER_OPS, "c", "s") or view not in ("", CARD_VIEW):
        return None
    return int(parts[1]), parts[2], view


def _skip_button(meeting_id: int) -> list[list[Button]]:
    return [[Button(Msg("meeting.btn_skip"), f"{PREFIX}:{meeting_id}:s")]]


def _leave_flow(turn: Turn) -> None:
    if turn.convo.flow == FLOW:
        turn.go(None)


@router.on_action(PREFIX)
async def on_button(turn: Turn) -> None:
    parsed = _parse(turn.action)
    if parsed is None:
        turn.say("input.button_stale")
        return
    meeting_id, op, view = parsed
    if op == "s":
        _leave_flow(turn)
        turn.say("meeting.reason_skipped")
        return
    meeting = await meetings.get(turn.session, meeting_id)
    rsvp = await meetings.rsvp_for(turn.session, meeting_id, turn.person.id) if meeting else None
    if meeting is None or rsvp is None:
        turn.say("input.button_stale")
        return
    if meeting.status == MeetingStatus.CANCELLED:
        turn.say("meeting.cancelled")
        return
    kind_name, body = await names(turn.session, meeting)
    if op == "c":
        title = summary(meeting, kind_name, turn.locale)
        turn.send(Outgoing(
            text=Msg("meeting.calendar_caption", {"what": Raw(title)}),
            attachment=Attachment(f"convoca-{meeting.id}.ics",
                                  calendar_file(meeting, summary=title, now=turn.now),
                                  "text/calendar"),
        ))
        return
    if turn.now >= meeting.starts_at:
        turn.say("meeting.already_started")
        return
    value = ANSWER_OPS[op]
    # Pressing "No podré" again must not wipe the reason already given.
    reason = rsvp.reason if rsvp.answer == value else None
    await meetings.answer(turn.session, rsvp, value, reason, turn.now)
    turn.audit("rsvp_answered", "meeting", meeting.id, answer=value.value,
               revision=meeting.revision)
    _leave_flow(turn)
    if turn.event.message_ref:
        view_fn = card if view == CARD_VIEW else invitation
        redrawn = view_fn(meeting, rsvp, kind_name=kind_name, body_name=body)
        turn.send(dataclasses.replace(redrawn, location=None, edit_ref=turn.event.message_ref))
    if value == RsvpAnswer.YES:
        turn.say("meeting.answered_yes", when=When(meeting.starts_at))
    elif value == RsvpAnswer.MAYBE:
        turn.say("meeting.answered_maybe")
    else:
        turn.say("meeting.answered_no", buttons=_skip_button(meeting.id))
        turn.go(FLOW, "reason", meeting_id=meeting.id)


async def _reason(turn: Turn) -> None:
    ev = turn.event
    meeting_id = turn.data("meeting_id")
    text = (ev.text or "").strip() if ev.kind == EventKind.TEXT else ""
    if not text:
        turn.say("meeting.reason_text_only", buttons=_skip_button(meeting_id))
        return
    if len(text) > meetings.REASON_MAX:
        turn.say("meeting.reason_too_long", max=meetings.REASON_MAX,
                 buttons=_skip_button(meeting_id))
        return
    rsvp = await meetings.rsvp_for(turn.session, meeting_id, turn.person.id)
    turn.go(None)
    if rsvp is None or rsvp.answer != RsvpAnswer.NO:
        turn.say("input.not_understood")
        return
    await meetings.answer(turn.session, rsvp, RsvpAnswer.NO, text, turn.now)
    turn.audit("rsvp_reason", "meeting", meeting_id, answer=RsvpAnswer.NO.value,
               reason_length=len(text))
    turn.say("meeting.reason_thanks")


# --- /reuniones ----------------------------------------------------------------------------


@router.command("reuniones", "meetings")
async def my_meetings(turn: Turn) -> None:
    _leave_flow(turn)
    rows = await meetings.upcoming_for(turn.session, turn.person.id, turn.now)
    if not rows:
        turn.say("meeting.none")
        return
    turn.say("meeting.list_header", count=len(rows))
    for meeting, rsvp in rows[:LIST_MAX]:
        kind_name, body = await names(turn.session, meeting)
        turn.send(card(meeting, rsvp, kind_name=kind_name, body_name=body))


# --- check-in -------------------------------------------------------------------------------


@router.command("asistencia", "checkin")
async def checkin_command(turn: Turn) -> None:
    if turn.person.consent_at is None:
        turn.say("input.start_first")
        return
    code = (turn.event.args or "").strip()
    if not code:
        turn.go(FLOW, "checkin", attempts=0)
        turn.say("meeting.checkin_ask")
        return
    _leave_flow(turn)
    await _check_in(turn, code)


async def _check_in(turn: Turn, code: str) -> None:
    if await codes.refused(turn):
        _leave_flow(turn)
        return
    meeting = await meetings.by_checkin_code(turn.session, code)
    if meeting is None and await links.exists(turn.session, code):
        _leave_flow(turn)
        turn.say("meeting.checkin_is_invitation", code=Raw(links.normalise(code)))
        return
    if meeting is None:
        if await codes.wrong(turn, code):
            _leave_flow(turn)
            return
        attempts = int(turn.data("attempts", 0)) + 1 if turn.convo.flow == FLOW else 1
        if attempts >= CHECKIN_ATTEMPTS:
            turn.go(None)
            turn.say("meeting.checkin_gave_up")
            return
        turn.go(FLOW, "checkin", attempts=attempts)
        turn.say("meeting.checkin_wrong_code", code=Raw(code[:40]))
        return
    _leave_flow(turn)
    await codes.right(turn)
    kind_name, _ = await names(turn.session, meeting)
    what = _what(meeting, kind_name)
    if meeting.status == MeetingStatus.CANCELLED:
        turn.say("meeting.checkin_cancelled", what=what)
        return
    opens, closes = meetings.checkin_window(meeting)
    if turn.now < opens:
        turn.say("meeting.checkin_too_early", what=what, when=When(meeting.starts_at),
                 opens=When(opens, "time"))
        return
    if turn.now > closes:
        turn.say("meeting.checkin_too_late", what=what)
        return
    earlier = await meetings.attendance_of(turn.session, meeting.id, turn.person.id)
    if earlier is not None and earlier.present:
        turn.say("meeting.checkin_already", what=what)
        return
    invited = await meetings.rsvp_for(turn.session, meeting.id, turn.person.id) is not None
    await meetings.check_in(turn.session, meeting, turn.person, turn.now)
    turn.audit("checked_in", "meeting", meeting.id, method="checkin", invited=invited)
    # Without an invitation the check-in counts only once the gestora confirms it.
    turn.say("meeting.checkin_done" if invited else "meeting.checkin_done_to_confirm", what=what)


async def check_in_typed(turn: Turn, code: str) -> None:
    """A check-in code typed outside any question: as /asistencia CODE."""
    await _check_in(turn, code)


@router.flow(FLOW)
async def meetings_input(turn: Turn) -> None:
    if turn.convo.step == "reason":
        await _reason(turn)
        return
    if turn.convo.step == "checkin":
        ev = turn.event
        if ev.kind == EventKind.TEXT and ev.text and ev.text.strip():
            await _check_in(turn, ev.text.strip())
        else:
            turn.say("meeting.checkin_ask")
        return
    turn.go(None)
    turn.say("input.not_understood")
