"""The gestora's tools for meetings and roles, as data work shared by the chat and `convoca`.

Meetings: creating them and their recurring series (the dates are domain.schedule's),
moving and cancelling, the confirmations board with the one count of who was expected and who
came (domain.turnout's Tally), attendance marks, walk-ins written in by hand, and attendance
rates. Roles: granting and revoking, with the body
membership that goes with the Grupo Motor and Consejo Local roles.

Repositories never commit: the caller's unit of work does. Nothing here writes a message a
person reads; the handlers compose those."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import exists, func, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from domain.meetings import (
    AGENDA_MAX,
    INVITE_EVERYONE,
    INVITE_MEMBERS,
    INVITE_TARGETS,
    PLACE_MAX,
    SERIES_INVITE_AHEAD,
    MeetingError,
    guest_name,
    guest_organization,
    guest_phone,
    guest_rut,
)
from domain.program_templates import add_months, program_template
from domain.roles import BODY_OF_ROLE, GRANTABLE, RoleError, counts_here, roles_here
from domain.schedule import (
    MAX_SERIES_MEETINGS,
    local_date,
    local_time,
    series_days,
    to_utc,
    weekday_rule,
)
from domain.turnout import Rate, Tally, fold_name
from locales.collation import sort_key
from storage import meetings, outbox, people, programs
from storage.models import (
    ADMIN_ROLES,
    Attendance,
    AttendanceGuest,
    Body,
    Meeting,
    MeetingSeries,
    MeetingStatus,
    Membership,
    Person,
    Program,
    Representative,
    RoleGrant,
    Rsvp,
    RsvpAnswer,
)


def program_end(program: Program) -> date:
    try:
        return program_template(program).end_date(program.start_date)
    except (FileNotFoundError, ValueError):
        return add_months(program.start_date, 12)


# --- meetings ---------------------------------------------------------------------------------


def meeting_kinds(program: Program, body: Body | None = None) -> list[str]:
    """The template's meeting kinds, those of the body (or with no body) first."""
    try:
        kinds = program_template(program).meeting_kinds
    except (FileNotFoundError, ValueError):
        return []
    want = body.kind if body else None
    return [k.key for k in kinds if k.body == want] + [k.key for k in kinds if k.body != want]


def default_kind(program: Program, body: Body | None) -> str | None:
    """The kind named like the body ("grupo_motor"), the one its ordinary sessions have."""
    keys = meeting_kinds(program, body)
    if body is not None and body.kind in keys:
        return body.kind
    return None


async def body_of(session: AsyncSession, program_id: int, key: str | None) -> Body | None:
    """A body by its kind key ("grupo_motor") or id, within the programme."""
    if not key or key in ("none", "0"):
        return None
    stmt = select(Body).where(Body.program_id == program_id)
    stmt = stmt.where(Body.id == int(key)) if key.isdigit() else stmt.where(Body.kind == key)
    body = await session.scalar(stmt)
    if body is None:
        raise MeetingError("no_body")
    return body


async def last_place(session: AsyncSession, program_id: int, body_id: int | None) -> str | None:
    """Where the previous meeting (of the same body, when there is one) was held."""
    stmt = (select(Meeting.place)
            .where(Meeting.program_id == program_id, Meeting.place.is_not(None),
                   Meeting.status != MeetingStatus.CANCELLED)
            .order_by(Meeting.starts_at.desc(), Meeting.id.desc()).limit(1))
    if body_id is not None:
        place = await session.scalar(stmt.where(Meeting.body_id == body_id))
        if place:
            return place
    return await session.scalar(stmt)


async def create_meeting(
    session: AsyncSession, program: Program, *, kind: str, starts_at: datetime,
    now: datetime, body_id: int | None = None, place: str | None = None,
    agenda: str | None = None, created_by: int | None = None,
) -> Meeting:
    if starts_at.tzinfo is None:
        raise ValueError("starts_at must be aware")
    if starts_at <= now:
        raise MeetingError("in_the_past")
    if kind not in meeting_kinds(program):
        raise MeetingError("no_kind")
    meeting = Meeting(
        program_id=program.id, body_id=body_id, kind=kind, starts_at=starts_at,
        place=_clip(place, PLACE_MAX), agenda=_clip(agenda, AGENDA_MAX),
        status=MeetingStatus.SCHEDULED, revision=1, created_by=created_by, created_at=now,
    )
    session.add(meeting)
    await session.flush()
    await meetings.ensure_checkin_code(session, meeting)
    await session.flush()
    return meeting


def _clip(text: str | None, limit: int) -> str | None:
    text = (text or "").strip()
    return text[:limit] if text else None


def series_plan(program: Program, first: datetime, every_months: int,
                limit: int = MAX_SERIES_MEETINGS) -> list[datetime]:
    """The starts of a series' meetings (the first included), same local time each time."""
    tz = program.timezone
    at = local_time(first, tz)
    days = series_days(local_date(first, tz), every_months, program_end(program), limit)
    return [to_utc(d, at, tz) for d in days]


async def create_series(
    session: AsyncSession, program: Program, first: Meeting, every_months: int, now: datetime,
    *, limit: int = MAX_SERIES_MEETINGS,
) -> tuple[MeetingSeries, list[Meeting]]:
    """Make ``first`` the start of a series and create the meetings that follow it."""
    tz = program.timezone
    weekday, nth = weekday_rule(local_date(first.starts_at, tz))
    series = MeetingSeries(
        program_id=program.id, body_id=first.body_id, kind=first.kind,
        every_months=every_months,
        rule={"weekday": weekday, "nth": nth, "time": f"{local_time(first.starts_at, tz):%H:%M}",
              "place": first.place, "agenda": first.agenda, "invite": None},
    )
    session.add(series)
    await session.flush()
    first.series_id = series.id
    created = [first]
    for starts in series_plan(program, first.starts_at, every_months, limit)[1:]:
        created.append(await create_meeting(
            session, program, kind=first.kind, starts_at=starts, now=now, body_id=first.body_id,
            place=first.place, agenda=first.agenda, created_by=first.created_by,
        ))
        created[-1].series_id = series.id
    await session.flush()
    return series, created


async def set_series_invite(session: AsyncSession, meeting: Meeting, target: str | None) -> None:
    """Whom the series' later meetings invite, once each is within reach."""
    if meeting.series_id is None:
        return
    series = await session.get(MeetingSeries, meeting.series_id)
    if series is not None and (series.rule or {}).get("invite") != target:
        series.rule = {**(series.rule or {}), "invite": target}  # a new dict: JSON is not tracked
        await session.flush()


async def series_meetings_due(session: AsyncSession, now: datetime,
                              ahead: timedelta = SERIES_INVITE_AHEAD
                              ) -> list[tuple[Meeting, str]]:
    """Series meetings now within reach whose series says whom to invite."""
    rows = await session.execute(
        select(Meeting, MeetingSeries)
        .join(MeetingSeries, MeetingSeries.id == Meeting.series_id)
        .where(Meeting.status == MeetingStatus.SCHEDULED, Meeting.starts_at > now,
               Meeting.starts_at <= now + ahead)
        .order_by(Meeting.starts_at)
    )
    return [(m, s.rule.get("invite")) for m, s in rows.all()
            if (s.rule or {}).get("invite") in INVITE_TARGETS]


async def body_members(session: AsyncSession, body_id: int) -> list[int]:
    return list((await session.scalars(
        select(Membership.person_id).join(Person, Person.id == Membership.person_id)
        .where(Membership.body_id == body_id, Membership.left_at.is_(None),
               Person.erased_at.is_(None))
        .order_by(Membership.joined_at, Membership.id)
    )).all())


async def role_holders(session: AsyncSession, program_id: int) -> list[int]:
    """Everyone with a role in the programme (a global grant counts for its own people)."""
    rows = await session.scalars(
        select(RoleGrant.person_id).join(Person, Person.id == RoleGrant.person_id)
        .where(Person.erased_at.is_(None),
               or_(RoleGrant.program_id == program_id,
                   (RoleGrant.program_id.is_(None)) & (Person.program_id == program_id)))
        .order_by(RoleGrant.person_id)
    )
    return list(dict.fromkeys(rows.all()))


async def invite_targets(session: AsyncSession, program: Program, meeting: Meeting,
                         target: str) -> list[int]:
    if target == INVITE_MEMBERS:
        return await body_members(session, meeting.body_id) if meeting.body_id else []
    if target == INVITE_EVERYONE:
        return await role_holders(session, program.id)
    raise ValueError(f"unknown invitation target {target!r}")


async def organizations_of(session: AsyncSession, person_ids: Iterable[int],
                           body_id: int | None = None) -> dict[int, int]:
    """The organisation each person comes from, for the attendance list: the one their body
    membership names, else the one they represent (the main representative first)."""
    ids = list(person_ids)
    if not ids:
        return {}
    found: dict[int, int] = {}
    if body_id is not None:
        for pid, org in (await session.execute(
            select(Membership.person_id, Membership.organization_id)
            .where(Membership.body_id == body_id, Membership.person_id.in_(ids),
                   Membership.organization_id.is_not(None))
        )).all():
            found[pid] = org
    for pid, org in (await session.execute(
        select(Representative.person_id, Representative.organization_id)
        .where(Representative.person_id.in_(ids))
        .order_by(Representative.is_primary.desc(), Representative.id)
    )).all():
        found.setdefault(pid, org)
    return found


async def invited_ids(session: AsyncSession, meeting_id: int) -> list[int]:
    return [pid for pid in (await session.scalars(
        select(Rsvp.person_id).where(Rsvp.meeting_id == meeting_id).order_by(Rsvp.id)
    )).all() if pid is not None]


def _drop_notices(meeting_id: int) -> tuple[str, ...]:
    return (f"remind:m{meeting_id}.", f"reask:m{meeting_id}.")


async def move(session: AsyncSession, meeting: Meeting, starts_at: datetime, now: datetime
               ) -> datetime:
    """Give the meeting a new start; returns the old one.

    The revision goes up, so every invited person is sent a new invitation under a new key;
    reminders and re-asks still waiting for the old date are withdrawn; answers are cleared,
    because who could come on the old day may not on the new one."""
    if meeting.status != MeetingStatus.SCHEDULED:
        raise MeetingError("not_scheduled")
    if starts_at <= now:
        raise MeetingError("in_the_past")
    if starts_at == meeting.starts_at:
        raise MeetingError("same_time")
    old = meeting.starts_at
    if meeting.ends_at is not None:
        meeting.ends_at = meeting.ends_at + (starts_at - old)
    meeting.starts_at = starts_at
    meeting.revision = (meeting.revision or 1) + 1
    for prefix in _drop_notices(meeting.id):
        await outbox.drop_pending(session, prefix, "meeting moved")
    await outbox.drop_pending(session, f"invite:{meeting.id}:", "meeting moved")
    for rsvp in await session.scalars(select(Rsvp).where(Rsvp.meeting_id == meeting.id)):
        rsvp.answer, rsvp.reason, rsvp.answered_at, rsvp.invited_at = None, None, None, now
    await session.flush()
    return old


async def cancel(session: AsyncSession, meeting: Meeting, now: datetime) -> None:
    """Cancelled: nothing more about it goes out except the notice of the cancellation."""
    if meeting.status != MeetingStatus.SCHEDULED:
        raise MeetingError("not_scheduled")
    meeting.status = MeetingStatus.CANCELLED
    for prefix in (*_drop_notices(meeting.id), f"invite:{meeting.id}:"):
        await outbox.drop_pending(session, prefix, "meeting cancelled")
    await session.flush()


async def close(session: AsyncSession, meeting: Meeting, now: datetime) -> None:
    """The session took place; its attendance now counts in the rates."""
    if meeting.status == MeetingStatus.CANCELLED:
        raise MeetingError("cancelled")
    if now < meeting.starts_at - meetings.CHECKIN_OPENS_BEFORE:
        raise MeetingError("not_started")
    meeting.status = MeetingStatus.HELD
    await session.flush()


async def list_meetings(session: AsyncSession, program_id: int, now: datetime, *,
                        recent: timedelta = timedelta(days=30), upcoming_max: int = 8,
                        recent_max: int = 5) -> tuple[list[Meeting], list[Meeting]]:
    """Upcoming meetings (soonest first) and those of the last days (latest first)."""
    base = select(Meeting).where(Meeting.program_id == program_id,
                                 Meeting.status != MeetingStatus.CANCELLED)
    ahead = list((await session.scalars(
        base.where(Meeting.starts_at > now).order_by(Meeting.starts_at, Meeting.id)
        .limit(upcoming_max))).all())
    past = list((await session.scalars(
        base.where(Meeting.starts_at <= now, Meeting.starts_at > now - recent)
        .order_by(Meeting.starts_at.desc(), Meeting.id.desc()).limit(recent_max))).all())
    return ahead, past


async def all_meetings(session: AsyncSession, program_id: int) -> list[Meeting]:
    return list((await session.scalars(
        select(Meeting).where(Meeting.program_id == program_id)
        .order_by(Meeting.starts_at, Meeting.id))).all())


async def answer_counts(session: AsyncSession, meeting_ids: Iterable[int]
                        ) -> dict[int, dict[str | None, int]]:
    """How many invited answered yes, no, maybe or nothing yet (None), by meeting: one
    query for a list of meetings, where a board each would read every invitation."""
    ids = list(meeting_ids)
    out: dict[int, dict[str | None, int]] = {i: {} for i in ids}
    if not ids:
        return out
    rows = await session.execute(
        select(Rsvp.meeting_id, Rsvp.answer, func.count())
        .where(Rsvp.meeting_id.in_(ids), Rsvp.person_id.is_not(None))
        .group_by(Rsvp.meeting_id, Rsvp.answer))
    for meeting_id, answer, n in rows.all():
        out[meeting_id][answer] = n
    return out


# --- the confirmations board and attendance ---------------------------------------------------


@dataclass(frozen=True)
class Entry:
    person_id: int | None  # None: a walk-in who is not in Convoca (``guest_id`` says which)
    name: str | None
    reason: str | None = None
    present: bool | None = None  # None: not marked
    answer: str | None = None  # to the invitation; None for the uninvited
    organization_id: int | None = None
    organization: str | None = None  # a walk-in's organisation, in their own words
    rut: str | None = None
    guest_id: int | None = None
    # Came without an invitation and checked in by themselves: not counted until the
    # gestora confirms them (marks them present) or takes them off (marks them absent).
    to_confirm: bool = False


@dataclass
class Board:
    meeting: Meeting
    yes: list[Entry] = field(default_factory=list)
    no: list[Entry] = field(default_factory=list)
    maybe: list[Entry] = field(default_factory=list)
    pending: list[Entry] = field(default_factory=list)
    walk_ins: list[Entry] = field(default_factory=list)  # came without an invitation

    @property
    def invited(self) -> list[Entry]:
        return sorted(self.yes + self.no + self.maybe + self.pending, key=_by_name)

    @property
    def everyone(self) -> list[Entry]:
        """Whom the attendance list shows: the invited, then whoever came uninvited."""
        return self.invited + sorted(self.walk_ins, key=_by_name)

    @property
    def came_uninvited(self) -> list[Entry]:
        # A walk-in marked absent was added by mistake: listed to be put right, not counted.
        return [e for e in sorted(self.walk_ins, key=_by_name)
                if e.present and not e.to_confirm]

    @property
    def unconfirmed(self) -> list[Entry]:
        """Who checked in without an invitation and waits for the gestora's word: anyone
        holding the room's code can check in, so they count only once she confirms."""
        return [e for e in sorted(self.walk_ins, key=_by_name) if e.to_confirm]

    @property
    def tally(self) -> Tally:
        invited = self.invited
        return Tally(invited=len(invited),
                     present_invited=sum(1 for e in invited if e.present),
                     walk_ins=len(self.came_uninvited), to_confirm=len(self.unconfirmed))


def _by_name(e: Entry) -> tuple[bool, tuple[str, str, str], int, int]:
    return (not e.name, sort_key(e.name), e.person_id or 0, e.guest_id or 0)


async def board(session: AsyncSession, meeting: Meeting, *, as_of: datetime | None = None
                ) -> Board:
    """Everyone invited with their answer and mark, and everyone who came uninvited."""
    return (await boards(session, [meeting], as_of=as_of))[meeting.id]


@dataclass(frozen=True)
class _Who:
    id: int
    name: str | None
    rut: str | None


async def boards(session: AsyncSession, meetings_: Iterable[Meeting], *,
                 as_of: datetime | None = None, ordered: bool = True) -> dict[int, Board]:
    """The boards of several meetings at once, by meeting id.

    With ``as_of``, as they stood then (the progress report's cut-off): invitations,
    answers, marks and written-in walk-ins made after it are left out. A mark changed after
    it keeps no trace of what it said before, so it is left out too."""
    out = {m.id: Board(m) for m in meetings_}
    ids = list(out)
    if not ids:
        return out

    def by_then(column: Any) -> Any:
        return column <= as_of if as_of is not None else true()

    marks: dict[int, dict[int, Attendance]] = defaultdict(dict)
    for a in await session.scalars(
            select(Attendance).where(Attendance.meeting_id.in_(ids),
                                     Attendance.person_id.is_not(None),
                                     by_then(Attendance.marked_at))):
        marks[a.meeting_id][a.person_id] = a
    invited: dict[int, set[int]] = defaultdict(set)
    # Plain rows of what a board shows: a progress report reads every session's hundreds of
    # invitations, and whole ORM objects of them cost most of its time.
    rows = await session.execute(
        select(Rsvp.meeting_id, Rsvp.answer, Rsvp.answered_at, Rsvp.reason,
               Rsvp.organization_id, Person.id, Person.name, Person.rut)
        .join(Person, Person.id == Rsvp.person_id)
        .where(Rsvp.meeting_id.in_(ids), by_then(Rsvp.invited_at)))
    for rsvp, person in ((r, _Who(r.id, r.name, r.rut)) for r in rows.all()):
        b = out[rsvp.meeting_id]
        answered = rsvp.answer is not None and (
            as_of is None or rsvp.answered_at is None or rsvp.answered_at <= as_of)
        answer, reason = (rsvp.answer, rsvp.reason) if answered else (None, None)
        groups = {RsvpAnswer.YES: b.yes, RsvpAnswer.NO: b.no, RsvpAnswer.MAYBE: b.maybe}
        invited[rsvp.meeting_id].add(person.id)
        mark = marks[rsvp.meeting_id].get(person.id)
        groups.get(answer, b.pending).append(Entry(
            person.id, person.name, reason, mark.present if mark else None, answer,
            rsvp.organization_id or (mark.organization_id if mark else None), rut=person.rut))
    walk_ins = {(mid, pid) for mid, by_person in marks.items() for pid in by_person
                if pid not in invited[mid]}
    if walk_ins:
        people_ = {p.id: p for p in await session.scalars(
            select(Person).where(Person.id.in_({pid for _, pid in walk_ins})))}
        for mid, pid in sorted(walk_ins):
            person, mark = people_[pid], marks[mid][pid]
            out[mid].walk_ins.append(Entry(
                person.id, person.name, None, mark.present, None, mark.organization_id,
                rut=person.rut, to_confirm=mark.present and mark.method == "checkin"))
    for guest in await session.scalars(
            select(AttendanceGuest).where(AttendanceGuest.meeting_id.in_(ids),
                                          by_then(AttendanceGuest.added_at))):
        out[guest.meeting_id].walk_ins.append(Entry(
            None, guest.name, present=True, organization=guest.organization, rut=guest.rut,
            guest_id=guest.id))
    if ordered:  # by name, as people read a list; a count (the report's) needs no order
        for b in out.values():
            for group in (b.yes, b.no, b.maybe, b.pending):
                group.sort(key=_by_name)
    return out


@dataclass(frozen=True)
class Turnout:
    present: int  # as the board's tally counts them (Tally.present)
    taken: bool  # anyone on the board is marked, present or not


async def turnouts(session: AsyncSession, meeting_ids: Iterable[int]) -> dict[int, Turnout]:
    """Each meeting's present count and whether its attendance was taken, as its board
    tells them, in three grouped queries: a board reads every invitation, which a timeline
    of many sessions with hundreds invited cannot afford on every page."""
    ids = list(meeting_ids)
    if not ids:
        return {}
    marked = Attendance.meeting_id.in_(ids) & Attendance.person_id.is_not(None)
    invited = exists().where(Rsvp.meeting_id == Attendance.meeting_id,
                             Rsvp.person_id == Attendance.person_id)
    taken = dict((await session.execute(
        select(Attendance.meeting_id, func.count()).where(marked)
        .group_by(Attendance.meeting_id))).all())
    # The invited marked present, and walk-ins marked present unless they checked in by
    # themselves and wait for the gestora's word (Board.unconfirmed).
    present = dict((await session.execute(
        select(Attendance.meeting_id, func.count())
        .where(marked, Attendance.present.is_(True),
               or_(invited, Attendance.method != "checkin"))
        .group_by(Attendance.meeting_id))).all())
    guests = dict((await session.execute(
        select(AttendanceGuest.meeting_id, func.count())
        .where(AttendanceGuest.meeting_id.in_(ids))
        .group_by(AttendanceGuest.meeting_id))).all())
    return {i: Turnout(present.get(i, 0) + guests.get(i, 0),
                       bool(taken.get(i, 0) or guests.get(i, 0)))
            for i in ids}


async def add_guest(session: AsyncSession, meeting: Meeting, *, name: str, now: datetime,
                    rut: str | None = None, organization: str | None = None,
                    phone: str | None = None) -> AttendanceGuest:
    """Write in someone who came and is not in Convoca; the values are checked here too, so
    the chat and the command line keep the same rules."""
    if meeting.status == MeetingStatus.CANCELLED:
        raise MeetingError("cancelled")
    country = await programs.country_of(session, meeting.program_id)
    guest = AttendanceGuest(
        meeting_id=meeting.id, name=guest_name(name),
        rut=guest_rut(rut, country) if rut else None,
        organization=guest_organization(organization) if organization else None,
        phone=guest_phone(phone, country) if phone else None, added_at=now)
    session.add(guest)
    await session.flush()
    return guest


async def remove_guest(session: AsyncSession, meeting: Meeting, guest_id: int) -> str:
    """Take a written-in walk-in off the list (added by mistake); returns their name."""
    guest = await session.get(AttendanceGuest, guest_id)
    if guest is None or guest.meeting_id != meeting.id:
        raise MeetingError("no_guest")
    name = guest.name
    await session.delete(guest)
    await session.flush()
    return name


async def non_responders(session: AsyncSession, meeting: Meeting) -> list[Rsvp]:
    return list((await session.scalars(
        select(Rsvp).where(Rsvp.meeting_id == meeting.id, Rsvp.answer.is_(None),
                           Rsvp.person_id.is_not(None)).order_by(Rsvp.id))).all())


async def mark(session: AsyncSession, meeting: Meeting, person_id: int, present: bool,
               by: int | None, now: datetime) -> Attendance:
    """Present or absent, as the gestora marks it from the list (it overrides a check-in)."""
    if meeting.status == MeetingStatus.CANCELLED:
        raise MeetingError("cancelled")
    person = await session.get(Person, person_id)
    if person is None or person.erased_at is not None:
        raise MeetingError("no_person")
    row = await meetings.attendance_of(session, meeting.id, person_id)
    rsvp = await meetings.rsvp_for(session, meeting.id, person_id) if row is None else None
    # A mark lists the person (name and RUT) on the meeting's board: only someone invited,
    # already at the door (a check-in) or of the programme may be marked, never anyone's id.
    if row is None and rsvp is None and not await _of_program(session, meeting.program_id,
                                                              person):
        raise MeetingError("no_person")
    if row is None:
        org = rsvp.organization_id if rsvp else (
            await organizations_of(session, [person_id], meeting.body_id)).get(person_id)
        row = Attendance(meeting_id=meeting.id, person_id=person_id, organization_id=org,
                         present=present, method="marked", marked_at=now, marked_by=by)
        session.add(row)
    else:
        row.present, row.method, row.marked_at, row.marked_by = present, "marked", now, by
    await session.flush()
    return row


async def confirm_walk_in(session: AsyncSession, meeting: Meeting, person_id: int,
                          confirmed: bool, by: int | None, now: datetime) -> Attendance:
    """The gestora's word on someone who checked in without an invitation: confirmed, they
    count as present; rejected, they are marked absent (and counted nowhere)."""
    row = await meetings.attendance_of(session, meeting.id, person_id)
    if (row is None or not row.present or row.method != "checkin"
            or await meetings.rsvp_for(session, meeting.id, person_id) is not None):
        raise MeetingError("not_walk_in")
    return await mark(session, meeting, person_id, confirmed, by, now)


async def attendance_rates(session: AsyncSession, program_id: int
                           ) -> dict[str, dict[int, Rate]]:
    """``{"body": {body_id: Rate}, "person": {person_id: Rate}}`` over held meetings.

    As in the progress report, people who came without an invitation are not counted: the
    rate says how many of those called came."""
    held = {m.id: m for m in await session.scalars(
        select(Meeting).where(Meeting.program_id == program_id,
                              Meeting.status == MeetingStatus.HELD))}
    by_body: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    by_person: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    if held:
        present = {(a.meeting_id, a.person_id) for a in await session.scalars(
            select(Attendance).where(Attendance.meeting_id.in_(held), Attendance.present))}
        for rsvp in await session.scalars(
                select(Rsvp).where(Rsvp.meeting_id.in_(held), Rsvp.person_id.is_not(None))):
            came = (rsvp.meeting_id, rsvp.person_id) in present
            body_id = held[rsvp.meeting_id].body_id
            targets = [by_person[rsvp.person_id]]
            if body_id is not None:
                targets.append(by_body[body_id])
            for t in targets:
                t[0] += came
                t[1] += 1
    return {"body": {k: Rate(*v) for k, v in by_body.items()},
            "person": {k: Rate(*v) for k, v in by_person.items()}}


# --- roles ------------------------------------------------------------------------------------

async def person_with_roles(session: AsyncSession, person_id: int) -> Person | None:
    return await session.get(Person, person_id, options=[selectinload(Person.roles)])


async def people_with_roles(session: AsyncSession, program_id: int
                            ) -> list[tuple[Person, list[str]]]:
    ids = await role_holders(session, program_id)
    ids += list((await session.scalars(
        select(RoleGrant.person_id).join(Person, Person.id == RoleGrant.person_id)
        .where(RoleGrant.program_id.is_(None), Person.program_id.is_(None),
               Person.erased_at.is_(None))
    )).all())
    if not ids:
        return []
    found = (await session.scalars(
        select(Person).where(Person.id.in_(set(ids))).options(selectinload(Person.roles))
    )).all()
    rows = [(p, roles_here(p.roles, program_id)) for p in found]
    return sorted(rows, key=lambda r: (not r[0].name, sort_key(r[0].name), r[0].id))


def _in_program(program_id: int) -> Any:
    """Who one may pick in a programme (program_people's rule, also a mark's)."""
    granted = select(RoleGrant.person_id).where(RoleGrant.program_id == program_id)
    return or_(Person.program_id == program_id, Person.id.in_(granted),
               Person.program_id.is_(None) & Person.consent_at.is_not(None))


async def _of_program(session: AsyncSession, program_id: int, person: Person) -> bool:
    return bool(await session.scalar(
        select(exists().where(Person.id == person.id, Person.erased_at.is_(None),
                              _in_program(program_id)))))


async def program_people(session: AsyncSession, program_id: int, query: str = ""
                         ) -> list[Person]:
    """People one may pick in the programme: its own, anyone with a role in it, and people
    who registered (accepted) but are not linked to any programme yet (a new coordinator)."""
    found = (await session.scalars(
        select(Person).where(Person.erased_at.is_(None), _in_program(program_id))
    )).all()
    words = fold_name(query).split()
    if words:
        found = [p for p in found if all(w in fold_name(p.name or "") for w in words)]
    return sorted(found, key=lambda p: (not p.name, sort_key(p.name), p.id))


async def _membership(session: AsyncSession, program_id: int, role: str, person: Person,
                      now: datetime, join: bool) -> None:
    body = await session.scalar(select(Body).where(Body.program_id == program_id,
                                                   Body.kind == BODY_OF_ROLE[role]))
    if body is None:
        return
    row = await session.scalar(select(Membership).where(Membership.body_id == body.id,
                                                        Membership.person_id == person.id))
    if join:
        if row is None:
            session.add(Membership(body_id=body.id, person_id=person.id, joined_at=now))
        elif row.left_at is not None:
            row.left_at, row.joined_at = None, now
    elif row is not None and row.left_at is None:
        row.left_at = now


async def grant_role(session: AsyncSession, person: Person, role: str, program: Program,
                     now: datetime, by: int | None = None) -> bool:
    """Give the role in the programme; False when the person already had it. A Grupo Motor
    or Consejo Local role makes the person a member of that body."""
    if role not in GRANTABLE:
        raise RoleError("unknown_role")
    if person.erased_at is not None:
        raise RoleError("erased")
    if role in BODY_OF_ROLE:
        await _membership(session, program.id, role, person, now, join=True)
    if person.program_id is None:
        # Their programme from now on; a gestora's too, now that roles are per programme
        # (else she would show up as not linked to any, in every programme's picker).
        person.program_id = program.id
    held = [g for g in person.roles if g.role == role and counts_here(g, program.id)]
    if held:
        for g in held:
            g.via = None  # given on purpose now: no longer the admin list's to take back
        await session.flush()
        return False
    return await people.grant(session, person, role, program.id, now, by)


async def revoke_role(session: AsyncSession, person: Person, role: str, program: Program,
                      now: datetime, by: int | None = None) -> bool:
    """Take the role away in the programme; False when the person did not have it.

    Nobody takes away their own last administrator role: the programme would be left
    without a way for them back in."""
    if role not in GRANTABLE:
        raise RoleError("unknown_role")
    gone = [g for g in person.roles if g.role == role and counts_here(g, program.id)]
    if not gone:
        return False
    if by == person.id and role in ADMIN_ROLES:
        left = [g for g in person.roles if g.role in ADMIN_ROLES and g not in gone]
        if not left:
            raise RoleError("own_last_admin")
    for g in gone:
        person.roles.remove(g)
    if role in BODY_OF_ROLE:
        await _membership(session, program.id, role, person, now, join=False)
    await session.flush()
    return True
