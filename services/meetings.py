"""Meetings: the invitation as people read it, and what the team does with a meeting (invite,
ask again, move, cancel) from the chat's panel, `convoca meeting ...` or the scheduler.

The invitation's buttons are ``rsvp:<meeting id>:<op>[:l]``; handlers.meetings answers them.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy.ext.asyncio import AsyncSession

from channels import LEAST
from domain import schedule, turnout
from domain.meetings import CANCEL_REASON_MAX, MeetingError
from domain.program_templates import localized_text
from domain.schedule import MAX_SERIES_MEETINGS
from locales import Msg, Raw, Text, When
from services.messages import Button, Outgoing
from services.people import person_label
from storage import admin_meetings as data
from storage import meetings, outbox, programs
from storage.models import (
    Body,
    Meeting,
    MeetingSeries,
    MeetingStatus,
    Program,
    Rsvp,
    RsvpAnswer,
)

PREFIX = "rsvp"
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
# An invitation and a board are one message each on every channel (channels.LEAST): the
# agenda shown, and the names in each of the board's four groups, leave room for the rest.
AGENDA_SHOWN_MAX = LEAST.text_chars * 3 // 8
NAMES_MAX = 30
RATES_MAX = 40


class Invited(NamedTuple):
    invited: int  # people the meeting has invited
    queued: int  # messages queued for them now
    # The outbox rows of those messages: the panel wakes the outbox for them once its page
    # has committed, rather than leaving them to the next poll.
    outbox_ids: tuple[int, ...] = ()


class Created(NamedTuple):
    meeting: Meeting  # the one set up (the first of a series)
    series: MeetingSeries | None
    meetings: list[Meeting]  # every meeting created, the first one first


class InvitedNow(NamedTuple):
    invited: int
    queued: int
    series_queued: int  # invitations to the series' later meetings now within reach
    outbox_ids: tuple[int, ...] = ()  # every one queued: this meeting's and the series'


class Marked(NamedTuple):
    present: bool
    walk_in_confirmed: bool  # someone who checked in alone, now counted


class Asked(NamedTuple):
    asked: int  # people who had not answered
    queued: int  # messages queued for them now
    outbox_ids: tuple[int, ...] = ()


# --- what the person reads ----------------------------------------------------------------


Name = str | Text  # a plain string, or data's own text in each language


def _as_text(name: Name) -> Text:
    return name if isinstance(name, Text) else Text({"es": name})


def what_named(meeting: Meeting, kind_name: Name) -> Raw | Text:
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
    what = what_named(meeting, kind_name)
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
    what = what_named(meeting, kind_name)
    return Outgoing(
        text=Msg("meeting.card", {
            "what": what,
            "details": _details(meeting, what, body_name, agenda=False),
            "closing": _your_answer(rsvp),
        }),
        buttons=_answer_buttons(meeting, rsvp, CARD_VIEW),
    )


async def names(session: AsyncSession, meeting: Meeting) -> tuple[Text, Text | None]:
    """The meeting kind's name and its body's name, in every language they exist in."""
    program = await session.get(Program, meeting.program_id)
    body = await session.get(Body, meeting.body_id) if meeting.body_id else None
    if program is None:
        return Text({"es": meeting.kind}), Text({"es": body.name}) if body else None
    kind_name = Text(meetings.kind_names(program, meeting.kind))
    return kind_name, Text(meetings.body_names(program, body)) if body else None


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


# --- what the team reads, in the chat and on the command line ----------------------------


def entry_name(entry: data.Entry) -> str:
    return entry.name or f"#{entry.person_id}"


def _names(entries: list[data.Entry]) -> Raw | Msg:
    shown = ", ".join(entry_name(e) for e in entries[:NAMES_MAX])
    if len(entries) > NAMES_MAX:
        return Msg("adm_meet.names_more", {"names": Raw(shown), "count": len(entries) - NAMES_MAX})
    return Raw(shown)


def tally_text(tally: turnout.Tally) -> Msg:
    """The count as every surface reads it: "Presentes: 4 (3 de 5 personas invitadas y 1
    sin invitación)"."""
    invited = Msg("adm_meet.tally_invited", {"present": tally.present_invited,
                                             "count": tally.invited})
    if not tally.walk_ins:
        return Msg("adm_meet.tally", {"what": invited})
    walk_ins = Msg("adm_meet.tally_walk_ins", {"count": tally.walk_ins})
    if not tally.invited:
        return Msg("adm_meet.tally", {"what": walk_ins})
    return Msg("adm_meet.tally_with_walk_ins", {"present": tally.present, "invited": invited,
                                                "walk_ins": walk_ins})


def _spaced(code: str) -> Raw:
    return Raw(" ".join(code))


async def board_text(session: AsyncSession, meeting: Meeting) -> Msg:
    """The confirmations board: who comes, who cannot (and why), who may, who has not
    answered, and the check-in code to show at the meeting."""
    board = await data.board(session, meeting)
    kind_name, body_name = await names(session, meeting)
    lines: list[Msg] = [Msg("adm_meet.board_title", {"what": what_named(meeting, kind_name)})]
    if body_name is not None and not _names_the_body(what_named(meeting, kind_name),
                                                      _as_text(body_name)):
        lines.append(Msg("meeting.line_body", {"body": body_name}))
    lines.append(Msg("meeting.line_when", {"when": When(meeting.starts_at)}))
    if meeting.place:
        lines.append(Msg("meeting.line_place", {"place": Raw(meeting.place)}))
    if meeting.status == MeetingStatus.CANCELLED:
        lines.append(Msg("adm_meet.board_cancelled"))
    elif meeting.status == MeetingStatus.HELD:
        lines.append(Msg("adm_meet.board_held"))
    groups: list[Msg] = []
    if board.yes:
        groups.append(Msg("adm_meet.board_yes", {"count": len(board.yes),
                                                 "names": _names(board.yes)}))
    if board.no:
        groups.append(Msg("adm_meet.board_no", {"count": len(board.no), "names": [
            Msg("adm_meet.board_reason", {"name": Raw(entry_name(e)), "reason": Raw(e.reason)})
            if e.reason else Msg("adm_meet.board_bullet", {"name": Raw(entry_name(e))})
            for e in board.no[:NAMES_MAX]]}))
    if board.maybe:
        groups.append(Msg("adm_meet.board_maybe", {"count": len(board.maybe),
                                                   "names": _names(board.maybe)}))
    if board.pending:
        groups.append(Msg("adm_meet.board_pending", {"count": len(board.pending),
                                                     "names": _names(board.pending)}))
    came = board.came_uninvited
    if came:
        groups.append(Msg("adm_meet.board_walk_ins", {"count": len(came), "names": _names(came)}))
    if not board.invited:
        groups.append(Msg("adm_meet.board_nobody"))
    if any(e.present is not None for e in board.everyone):
        groups.append(Msg("adm_meet.board_present", {"tally": tally_text(board.tally)}))
    code = meeting.checkin_code
    if not code or meeting.status == MeetingStatus.CANCELLED:
        return Msg("adm_meet.board_without_code", {"head": lines, "groups": groups})
    return Msg("adm_meet.board", {"head": lines, "groups": groups, "code": Msg(
        "adm_meet.board_code", {"code": Raw(code), "big": _spaced(code)})})


async def rates_text(session: AsyncSession, program: Program) -> Msg:
    rates = await data.attendance_rates(session, program.id)
    bodies = {b.id: b for b in await programs.bodies(session, program.id)}
    held = sum(1 for m in await data.all_meetings(session, program.id)
               if m.status == MeetingStatus.HELD)
    body_lines = [
        _rate_line(Text(meetings.body_names(program, bodies[bid])), rate)
        for bid, rate in sorted(rates["body"].items()) if bid in bodies
    ] or [Msg("adm_meet.rates_none")]
    people = {p.id: p for p in await data.program_people(session, program.id)} \
        if rates["person"] else {}
    person_rows = sorted(rates["person"].items(),
                         key=lambda kv: (turnout.fold_name(getattr(people.get(kv[0]), "name", "") or "~"),
                                         kv[0]))
    person_lines: list[Msg] = [
        _rate_line(person_label(people[pid]) if pid in people else Raw(f"#{pid}"), rate)
        for pid, rate in person_rows[:RATES_MAX]
    ] or [Msg("adm_meet.rates_none")]
    if len(person_rows) > RATES_MAX:
        person_lines.append(Msg("adm_meet.rates_more", {"count": len(person_rows) - RATES_MAX}))
    return Msg("adm_meet.rates", {"count": held, "bodies": body_lines, "people": person_lines})


def _rate_line(who: Any, rate: turnout.Rate) -> Msg:
    return Msg("adm_meet.rate_line", {"who": who, "percent": rate.percent or 0,
                                      "present": rate.present, "count": rate.invited})


# --- what the team does ------------------------------------------------------------------


async def create(
    session: AsyncSession, program: Program, *, kind: str, starts_at: datetime, now: datetime,
    body: Body | None = None, place: str | None = None, agenda: str | None = None,
    repeat: bool = False, created_by: int | None = None, limit: int = MAX_SERIES_MEETINGS,
) -> Created:
    """One meeting, or with ``repeat`` the series its body's cadence makes (monthly for the
    Grupo Motor, every two months for the Consejo Local) up to the programme's end. Nobody
    is invited yet: that is :func:`invite_now`'s, once the team says whom."""
    if repeat and (body is None or not body.cadence_months):
        raise MeetingError("no_cadence")
    meeting = await data.create_meeting(
        session, program, kind=kind, starts_at=starts_at, now=now,
        body_id=body.id if body else None, place=place, agenda=agenda, created_by=created_by)
    if not repeat or body is None or not body.cadence_months:
        return Created(meeting, None, [meeting])
    series, created = await data.create_series(session, program, meeting, body.cadence_months,
                                               now, limit=limit)
    return Created(meeting, series, created)


async def invite_now(session: AsyncSession, program: Program, meeting: Meeting, target: str,
                     now: datetime) -> InvitedNow:
    """The team's "invite": the meeting's people now and, for a series, its later meetings
    already within reach (the scheduler invites the rest as they come)."""
    if meeting.status != MeetingStatus.SCHEDULED or meeting.starts_at <= now:
        raise MeetingError("not_upcoming")
    done = await invite(session, program, meeting, target, now)
    later = await _invite_due_series(session, now)
    return InvitedNow(done.invited, done.queued, len(later), (*done.outbox_ids, *later))


async def mark_attendance(session: AsyncSession, meeting: Meeting, person_id: int,
                          present: bool | None, by: int | None, now: datetime) -> Marked:
    """A mark from the list at the door; ``present=None`` is the chat's one tap, which
    turns the mark over. Someone who checked in alone without an invitation is confirmed
    by the first tap (or by marking them present) and rejected by marking them absent."""
    current = await meetings.attendance_of(session, meeting.id, person_id)
    to_confirm = (current is not None and current.present and current.method == "checkin"
                  and await meetings.rsvp_for(session, meeting.id, person_id) is None)
    if present is None:
        present = to_confirm or not (current is not None and current.present)
    await data.mark(session, meeting, person_id, present, by, now)
    return Marked(present, to_confirm and present)


async def invite(session: AsyncSession, program: Program, meeting: Meeting, target: str,
                 now: datetime) -> Invited:
    """Invite a meeting's people; returns (people invited, invitations queued). For a series,
    this also says whom each later meeting invites when it comes within reach."""
    ids = await data.invite_targets(session, program, meeting, target)
    orgs = await data.organizations_of(session, ids, meeting.body_id)
    queued = await send_invitations(session, meeting, ids, now,
                                                     organization_by_person=orgs)
    await data.set_series_invite(session, meeting, target)
    return Invited(len(ids), len(queued), tuple(queued))


async def invite_due_series_meetings(session: AsyncSession, now: datetime) -> int:
    """Invite to the meetings of a series that are now within 30 days; returns how many
    invitations were queued. Idempotent: call it on every scheduler tick."""
    return len(await _invite_due_series(session, now))


async def _invite_due_series(session: AsyncSession, now: datetime) -> list[int]:
    queued: list[int] = []
    for meeting, target in await data.series_meetings_due(session, now):
        program = await session.get(Program, meeting.program_id)
        if program is None:
            continue
        queued.extend((await invite(session, program, meeting, target, now)).outbox_ids)
    return queued


async def reask(session: AsyncSession, meeting: Meeting, now: datetime) -> Asked:
    """The invitation again, now, to whoever has not answered: once per person and day
    however often the button is pressed. Returns (people asked, messages queued)."""
    if meeting.status != MeetingStatus.SCHEDULED or meeting.starts_at <= now:
        raise MeetingError("not_upcoming")
    program = await session.get(Program, meeting.program_id)
    assert program is not None  # a meeting always has its programme
    day = schedule.local_date(now, program.timezone)
    kind_name, body_name = await names(session, meeting)
    rsvps = await data.non_responders(session, meeting)
    queued: list[int] = []
    for rsvp in rsvps:
        out = invitation(meeting, rsvp, kind_name=kind_name, body_name=body_name)
        new_id = await outbox.enqueue_for_person(
            session, rsvp.person_id, out.to_json(),
            key=f"invite:{meeting.id}:r{meeting.revision}:{rsvp.person_id}:again{day:%Y%m%d}",
            kind="invitation", now=now, expires_at=meeting.starts_at,
        )
        if new_id is not None:
            queued.append(new_id)
    return Asked(len(rsvps), len(queued), tuple(queued))


async def move_and_notify(session: AsyncSession, meeting: Meeting, starts_at: datetime,
                          now: datetime) -> Invited:
    """Move the meeting and send everyone invited the new invitation, headed by what
    changed. Returns (people invited, messages queued)."""
    old = await data.move(session, meeting, starts_at, now)
    kind_name, body_name = await names(session, meeting)
    ids = await data.invited_ids(session, meeting.id)
    # invite() hands back the existing rows: the answers the move cleared, the same people.
    rsvps = await meetings.invite(session, meeting, ids, now)
    queued: list[int] = []
    for rsvp in rsvps:
        inv = invitation(meeting, rsvp, kind_name=kind_name, body_name=body_name)
        out = dataclasses.replace(inv, text=Msg("adm_meet.moved_notice", {
            "what": what_named(meeting, kind_name), "old": When(old), "invitation": inv.text}))
        # The invitation's own key (send_invitations') so it is never sent twice; essential,
        # because a date people already noted has changed.
        new_id = await outbox.enqueue_for_person(
            session, rsvp.person_id, out.to_json(),
            key=f"invite:{meeting.id}:r{meeting.revision}:{rsvp.person_id}", kind="invitation",
            now=now, expires_at=meeting.starts_at, essential=True,
        )
        if new_id is not None:
            queued.append(new_id)
    return Invited(len(ids), len(queued), tuple(queued))


async def cancel_and_notify(session: AsyncSession, meeting: Meeting, reason: str | None,
                            now: datetime) -> Invited:
    """Cancel and tell everyone invited (even those who asked for no notices: it is
    essential). Returns (people invited, notices queued)."""
    await data.cancel(session, meeting, now)
    reason = (reason or "").strip()[:CANCEL_REASON_MAX] or None
    kind_name, _ = await names(session, meeting)
    params: dict[str, Any] = {"what": what_named(meeting, kind_name), "when": When(meeting.starts_at)}
    if reason:
        params["reason"] = Raw(reason)
    text = Msg("adm_meet.cancel_notice_reason" if reason else "adm_meet.cancel_notice", params)
    ids = await data.invited_ids(session, meeting.id)
    queued: list[int] = []
    if meeting.starts_at > now:
        for pid in ids:
            new_id = await outbox.enqueue_for_person(
                session, pid, Outgoing(text=text).to_json(), key=f"cancel:{meeting.id}:{pid}",
                kind="meeting_cancelled", now=now, expires_at=meeting.starts_at, essential=True,
            )
            if new_id is not None:
                queued.append(new_id)
    return Invited(len(ids), len(queued), tuple(queued))
