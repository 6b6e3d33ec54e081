"""Meetings people are invited to: invitations (Rsvp), answers, and check-in at the door.

Repositories never commit: the caller's unit of work does."""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from domain.program_templates import localized_text, program_template
from storage.models import (
    Attendance,
    Body,
    Meeting,
    MeetingStatus,
    Person,
    Program,
    Rsvp,
    RsvpAnswer,
)

# Letters and digits nobody confuses when reading them off a whiteboard or a phone:
# no 0/O/D/Q, 1/I/L, 2/Z, 5/S, 6/G, 8/B, U/V.
CODE_ALPHABET = "ACEFHJKMNPRTWXY3479"
CODE_LENGTH = 6
REASON_MAX = 300  # fits Rsvp.reason (500) with room to spare, and is kind to read
CHECKIN_OPENS_BEFORE = timedelta(hours=1)
CHECKIN_CLOSES_WITHOUT_END = timedelta(hours=3)


def kind_names(program: Program, kind: str) -> dict[str, str]:
    """The kind's name in every language the programme template gives."""
    try:
        return dict(program_template(program).meeting_kind(kind).name)
    except (KeyError, ValueError):
        return {"es": kind}


def meeting_kind_name(program: Program, kind: str, locale: str) -> str:
    """The kind's name in the reader's language, as the programme template calls it."""
    return localized_text(kind_names(program, kind), locale)


def body_names(program: Program, body: Body) -> dict[str, str]:
    """The body's name in every language, unless the gestora renamed it: then her words."""
    try:
        names = dict(program_template(program).body(body.kind).name)
    except (KeyError, ValueError):
        return {"es": body.name}
    return names if body.name == names.get("es") else {"es": body.name}


def body_name(program: Program, body: Body, locale: str) -> str:
    return localized_text(body_names(program, body), locale)


def normalise_code(text: str) -> str:
    return "".join(ch for ch in text.upper() if ch.isalnum())


async def new_checkin_code(session: AsyncSession | None = None) -> str:
    """A short code to write on the whiteboard; unique among meetings when given a session."""
    for _ in range(50):
        code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
        if session is None or await by_checkin_code(session, code) is None:
            return code
    raise RuntimeError("could not find a free check-in code")


async def ensure_checkin_code(session: AsyncSession, meeting: Meeting) -> str:
    if not meeting.checkin_code:
        meeting.checkin_code = await new_checkin_code(session)
    return meeting.checkin_code


async def get(session: AsyncSession, meeting_id: int) -> Meeting | None:
    return await session.get(Meeting, meeting_id)


async def of_program(session: AsyncSession, program_id: int, *,
                     until: datetime | None = None, kinds: Iterable[str] | None = None,
                     body_id: int | None = None, newest_first: bool = False,
                     limit: int | None = None) -> list[Meeting]:
    """The programme's sessions that were not cancelled: begun by ``until`` when given, of
    these kinds or of this body when given; oldest first, or newest first (the pickers of a
    session to record something of, which is usually the latest)."""
    q = select(Meeting).where(Meeting.program_id == program_id,
                              Meeting.status != MeetingStatus.CANCELLED)
    if until is not None:
        q = q.where(Meeting.starts_at <= until)
    if kinds is not None:
        q = q.where(Meeting.kind.in_(list(kinds)))
    if body_id is not None:
        q = q.where(Meeting.body_id == body_id)
    order = (Meeting.starts_at.desc(), Meeting.id.desc()) if newest_first \
        else (Meeting.starts_at, Meeting.id)
    return list((await session.scalars(q.order_by(*order).limit(limit))).all())


async def invite(
    session: AsyncSession,
    meeting: Meeting,
    person_ids: Iterable[int],
    now: datetime,
    organization_by_person: Mapping[int, int] | None = None,
) -> list[Rsvp]:
    """One Rsvp per person, however many times they are invited; returned in the given order.
    A meeting people are invited to also gets its check-in code."""
    ids = list(dict.fromkeys(person_ids))
    orgs = organization_by_person or {}
    existing = {
        r.person_id: r
        for r in await session.scalars(
            select(Rsvp).where(Rsvp.meeting_id == meeting.id, Rsvp.person_id.in_(ids))
        )
    } if ids else {}
    rsvps = []
    for pid in ids:
        rsvp = existing.get(pid)
        if rsvp is None:
            rsvp = Rsvp(meeting_id=meeting.id, person_id=pid, organization_id=orgs.get(pid),
                        invited_at=now)
            session.add(rsvp)
        elif rsvp.organization_id is None and orgs.get(pid) is not None:
            rsvp.organization_id = orgs[pid]
        rsvps.append(rsvp)
    await ensure_checkin_code(session, meeting)
    await session.flush()
    return rsvps


async def rsvp_for(session: AsyncSession, meeting_id: int, person_id: int) -> Rsvp | None:
    return await session.scalar(
        select(Rsvp).where(Rsvp.meeting_id == meeting_id, Rsvp.person_id == person_id)
    )


async def answer(
    session: AsyncSession, rsvp: Rsvp, answer: str, reason: str | None, now: datetime
) -> Rsvp:
    value = RsvpAnswer(answer)
    if reason is not None:
        reason = reason.strip() or None
    if reason is not None and len(reason) > REASON_MAX:
        raise ValueError(f"reason longer than {REASON_MAX} characters")
    rsvp.answer = value.value
    rsvp.reason = reason
    rsvp.answered_at = now
    await session.flush()
    return rsvp


async def upcoming_for(
    session: AsyncSession, person_id: int, now: datetime
) -> list[tuple[Meeting, Rsvp]]:
    """Meetings the person is invited to that have not started and were not cancelled."""
    rows = await session.execute(
        select(Meeting, Rsvp)
        .join(Rsvp, Rsvp.meeting_id == Meeting.id)
        .where(
            Rsvp.person_id == person_id,
            Meeting.status != MeetingStatus.CANCELLED,
            Meeting.starts_at > now,
        )
        .order_by(Meeting.starts_at, Meeting.id)
    )
    return [(m, r) for m, r in rows.all()]


async def by_checkin_code(session: AsyncSession, code: str) -> Meeting | None:
    code = normalise_code(code)
    if not code:
        return None
    return await session.scalar(select(Meeting).where(Meeting.checkin_code == code))


def checkin_window(meeting: Meeting) -> tuple[datetime, datetime]:
    """From an hour before the start until the end (or three hours in, when no end is set)."""
    closes = meeting.ends_at or meeting.starts_at + CHECKIN_CLOSES_WITHOUT_END
    return meeting.starts_at - CHECKIN_OPENS_BEFORE, closes


async def attendance_of(session: AsyncSession, meeting_id: int, person_id: int) -> (
    Attendance | None
):
    return await session.scalar(
        select(Attendance).where(
            Attendance.meeting_id == meeting_id, Attendance.person_id == person_id
        )
    )


async def check_in(
    session: AsyncSession, meeting: Meeting, person: Person, now: datetime
) -> Attendance:
    """The person is here. Someone who was not invited counts too: they came."""
    row = await attendance_of(session, meeting.id, person.id)
    if row is not None:
        if not row.present:
            # The person at the door outweighs an earlier "absent" mark.
            row.present, row.method, row.marked_at, row.marked_by = True, "checkin", now, person.id
            await session.flush()
        return row
    rsvp = await rsvp_for(session, meeting.id, person.id)
    row = Attendance(
        meeting_id=meeting.id, person_id=person.id,
        organization_id=rsvp.organization_id if rsvp else None, present=True,
        method="checkin", marked_at=now, marked_by=person.id,
    )
    session.add(row)
    await session.flush()
    return row
