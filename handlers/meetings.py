"""Meeting invitations, answers (Asistiré / No podré / Tal vez), /reuniones and check-in.

Button actions are ``rsvp:<meeting id>:<op>[:l]``: op is y/n/m (the answer), c (the .ics
file) or s (skip the reason); a trailing ``l`` means the button sits on a /reuniones card
rather than on the invitation, so the edit redraws the right message.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta

from domain.program_templates import localized_text
from handlers import codes
from handlers.core import Router, Turn
from handlers.events import Attachment, Button, EventKind, Outgoing
from locales import Msg, Raw, Text, When
from services.meetings import (
    ANSWER_OPS,
    CARD_VIEW,
    PREFIX,
    card,
    invitation,
    names,
    what_named,
)
from storage import links, meetings
from storage.models import Meeting, MeetingStatus, RsvpAnswer

router = Router()

FLOW = "meetings"
LIST_MAX = 10
# Asking again after the third wrong code helps nobody; the limit on guessing is
# storage.attempts', which sending /asistencia again does not reset.
CHECKIN_ATTEMPTS = 3
# A calendar needs an end; two hours is what a community session usually takes.
CALENDAR_DEFAULT_LENGTH = timedelta(hours=2)


# --- what the person reads ----------------------------------------------------------------


def calendar_file(meeting: Meeting, *, summary: str, now: datetime) -> bytes:
    """An .ics event whose UID stays the same for the meeting and whose SEQUENCE is the
    meeting's revision, so importing it again after a move updates the entry."""
    # Imported here, when someone asks for the file, not when the router is built at start:
    # icalendar took every start-up ~20 ms and ~4 MB of peak memory (python -X importtime).
    from icalendar import Calendar, Event

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


def summary(meeting: Meeting, kind_name: Text, locale: str) -> str:
    """The meeting's name as one string, for what is not rendered from a catalog (.ics)."""
    return meeting.title or localized_text(kind_name.by_locale, locale)


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
        turn.redraw(dataclasses.replace(redrawn, location=None))
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
    what = what_named(meeting, kind_name)
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
