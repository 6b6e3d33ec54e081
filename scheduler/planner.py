"""What is due: computed from the database on every tick, never kept only in memory.

Each kind of notice has a fire time derived from domain rows (meetings and answers, delivery
days and pickups, milestones) and the programme template's reminder settings, in the
programme's zone. A notice is queued once (its idempotency key) when its fire time has come;
one that fell due while Convoca was down is queued at start if it still makes sense, and
recorded as dropped (with a log line) if it no longer does.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from domain.program_templates import Reminders, program_template
from storage import actions, pickups
from storage.delivery import pickup_policy
from storage.models import (
    Body,
    DeliveryDay,
    Family,
    Meeting,
    MeetingStatus,
    Membership,
    Milestone,
    Person,
    Pickup,
    PickupStatus,
    Program,
    Role,
    RoleGrant,
    Rsvp,
    RsvpAnswer,
)

log = logging.getLogger(__name__)

LOOKBACK = timedelta(days=3)  # how far back a restart looks for notices it missed
HORIZON = timedelta(days=40)  # how far ahead next_fire() looks
NEXT_FIRE_STEPS = (timedelta(days=1), timedelta(days=7), HORIZON)
REASK_AT = time(10, 0)
MILESTONE_AT = time(9, 0)
PICKUP_NOTICE_AT = time(10, 0)
ACTION_AT = time(9, 0)
ACTION_DAYS_BEFORE = 3  # a responsible person hears of a deadline then, and on the day
NUDGE_DAY = 20  # the day of the month a body without a session that month is nudged


@dataclass(frozen=True)
class Notice:
    kind: str
    person_id: int
    key: str
    fire_at: datetime  # when it becomes due (UTC), already moved out of quiet hours
    expires_at: datetime | None = None
    subject: dict[str, Any] = field(default_factory=dict)
    urgent: bool = False
    essential: bool = False
    # Notices of one group say the same thing at different times (the evening before, two
    # hours before): when several are due at once, after downtime, only the latest is sent.
    group: str | None = None
    zone: str | None = None  # its programme's, which its times are shown in

    def makes_sense(self, now: datetime) -> bool:
        return self.expires_at is None or now < self.expires_at


def reminders_for(program: Program) -> Reminders:
    return program_template(program).reminders


def at_local(day: date, at: time, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, at, zone).astimezone(UTC)


def out_of_quiet(fire: datetime, zone: ZoneInfo, reminders: Reminders) -> datetime:
    """Non-urgent notices that would land in quiet hours wait for the morning."""
    quiet = reminders.quiet_hours
    local = fire.astimezone(zone)
    if not quiet.contains(local.time().replace(tzinfo=None)):
        return fire
    day = local.date()
    if quiet.start > quiet.end and local.time() >= quiet.start:
        day += timedelta(days=1)
    return at_local(day, quiet.end, zone)


class Planner:
    """Computes notices whose fire time lies in a window, from the domain tables."""

    def __init__(self, session: AsyncSession) -> None:
        self.s = session

    async def window(self, start: datetime, end: datetime) -> list[Notice]:
        out: list[Notice] = []
        for program in (await self.s.scalars(select(Program))).all():
            zone = ZoneInfo(program.timezone)
            rem = reminders_for(program)
            found = await self._meetings(program, zone, rem, start, end)
            found += await self._pickups(program, zone, rem, start, end)
            found += await self._milestones(program, zone, rem, start, end)
            found += await self._digests(program, zone, rem, start, end)
            found += await self._nudges(program, zone, rem, start, end)
            found += await self._actions(program, zone, rem, start, end)
            out += [replace(n, zone=program.timezone) for n in found
                    if start < n.fire_at <= end]
        return out

    async def due(self, now: datetime) -> list[Notice]:
        return await self.window(now - LOOKBACK, now)

    async def next_fire(self, now: datetime) -> datetime | None:
        # Nearest first: something is usually due within a day, and a day's window reads a
        # fortieth of the rows (at 100 programmes the whole horizon took seconds).
        for ahead in NEXT_FIRE_STEPS:
            upcoming = await self.window(now, now + ahead)
            if upcoming:
                return min(n.fire_at for n in upcoming)
        return None

    # meetings --------------------------------------------------------------------------

    async def _meetings(self, program: Program, zone: ZoneInfo, rem: Reminders,
                        start: datetime, end: datetime) -> list[Notice]:
        # A reminder fires at most ~4 days before the meeting and is useless after it begins.
        reach = timedelta(days=max([*rem.non_responders.days_before, 1]) + 1)
        rows = await self.s.execute(
            select(Meeting, Rsvp)
            .join(Rsvp, Rsvp.meeting_id == Meeting.id)
            .where(
                Meeting.program_id == program.id,
                Meeting.status == MeetingStatus.SCHEDULED,
                Meeting.starts_at > start,
                Meeting.starts_at <= end + reach,
                Rsvp.person_id.is_not(None),
            )
        )
        out = []
        for meeting, rsvp in rows.all():
            base = f"m{meeting.id}.r{meeting.revision}.p{rsvp.person_id}"
            subject = {"meeting_id": meeting.id, "revision": meeting.revision}
            starts_local = meeting.starts_at.astimezone(zone)
            if rsvp.answer in (RsvpAnswer.YES, RsvpAnswer.MAYBE):
                since = rsvp.answered_at or rsvp.invited_at
                eve = at_local(starts_local.date() - timedelta(days=1), rem.meeting.day_before_at,
                               zone)
                # Someone who confirmed after the evening reminder's time needs no reminder.
                if eve >= since and eve < meeting.starts_at:
                    out.append(Notice("meeting_reminder", rsvp.person_id, f"remind:{base}:eve",
                                      out_of_quiet(eve, zone, rem), meeting.starts_at, subject,
                                      group=f"remind:{base}"))
                soon = meeting.starts_at - timedelta(hours=rem.meeting.hours_before)
                if rem.meeting.hours_before and soon >= since:
                    out.append(Notice("meeting_reminder", rsvp.person_id, f"remind:{base}:soon",
                                      soon, meeting.starts_at, subject, urgent=True,
                                      group=f"remind:{base}"))
            elif rsvp.answer is None:
                for days in rem.non_responders.days_before:
                    fire = at_local(starts_local.date() - timedelta(days=days), REASK_AT, zone)
                    # Asking again the same day they were invited would only be noise.
                    if fire >= rsvp.invited_at + timedelta(hours=12) and fire < meeting.starts_at:
                        out.append(Notice("meeting_reask", rsvp.person_id,
                                          f"reask:{base}:d{days}", fire, meeting.starts_at,
                                          subject, group=f"reask:{base}"))
        return out

    # pickups ---------------------------------------------------------------------------

    async def _pickups(self, program: Program, zone: ZoneInfo, rem: Reminders,
                       start: datetime, end: datetime) -> list[Notice]:
        p = rem.pickup
        reach = timedelta(days=p.days_before + 2)
        rows = await self.s.execute(
            select(DeliveryDay, Pickup, Family)
            .join(Pickup, Pickup.delivery_day_id == DeliveryDay.id)
            .join(Family, Family.id == Pickup.family_id)
            .where(
                DeliveryDay.program_id == program.id,
                DeliveryDay.cancelled_at.is_(None),
                DeliveryDay.window_end > start - timedelta(days=2),
                DeliveryDay.window_start <= end + reach,
                Family.person_id.is_not(None),
            )
        )
        rows = rows.all()
        out = []
        # The lists' own rule, so that "we missed you" goes where they say "did not come".
        kept = await pickups.kept_lists(self.s, {day.id for day, _, _ in rows})
        before_each = pickup_policy(program) == "before_each"
        if not before_each:
            out += await self._all_dates_at_once(program, zone, rem, start)
        for day, pickup, family in rows:
            pid = family.person_id
            subject = {"pickup_id": pickup.id, "delivery_day_id": day.id}
            day_local = day.window_start.astimezone(zone).date()
            if before_each:
                fire = at_local(day_local - timedelta(days=p.days_before), PICKUP_NOTICE_AT, zone)
                # A day added late is announced at once, while it still lies ahead.
                fire = max(fire, day.created_at)
                # A family can still come until the window closes, so the date is worth
                # sending until then; and it is what the family needs to get its basket.
                out.append(Notice("pickup_notice", pid, f"pickup:{pickup.id}:notice",
                                  out_of_quiet(fire, zone, rem), day.window_end, subject,
                                  essential=True))
            # A family moved to another day hears of that day, not of this one.
            if pickup.status in (PickupStatus.CANNOT, PickupStatus.RESCHEDULE,
                                 PickupStatus.PICKED_UP, PickupStatus.MOVED) \
                    or pickup.moved_to_id is not None:
                continue
            eve = at_local(day_local - timedelta(days=1), p.evening_before_at, zone)
            if eve > day.created_at:
                out.append(Notice("pickup_evening", pid, f"pickup:{pickup.id}:eve", eve,
                                  day.window_start, subject, group=f"pickup:{pickup.id}:remind"))
            morning = min(at_local(day_local, p.morning_of_at, zone),
                          day.window_start - timedelta(hours=1))
            if morning > day.created_at:
                out.append(Notice("pickup_morning", pid, f"pickup:{pickup.id}:morning",
                                  out_of_quiet(morning, zone, rem), day.window_end, subject,
                                  group=f"pickup:{pickup.id}:remind"))
            # Only where the staff kept the day's list is "we missed you" known to be true.
            if pickup.status != PickupStatus.PROXY and day.id in kept:
                missed = day.window_end + timedelta(minutes=30)
                out.append(Notice("pickup_missed", pid, f"pickup:{pickup.id}:missed",
                                  out_of_quiet(missed, zone, rem),
                                  day.window_end + timedelta(days=2), subject))
        return out

    async def _all_dates_at_once(self, program: Program, zone: ZoneInfo, rem: Reminders,
                                 start: datetime) -> list[Notice]:
        """"Once, all dates": each family gets one message with every date not yet announced,
        as soon as its days are set (a day added later comes in a message of its own)."""
        rows = await self.s.execute(
            select(DeliveryDay, Pickup, Family)
            .join(Pickup, Pickup.delivery_day_id == DeliveryDay.id)
            .join(Family, Family.id == Pickup.family_id)
            .where(DeliveryDay.program_id == program.id, DeliveryDay.cancelled_at.is_(None),
                   DeliveryDay.window_end > start, Family.person_id.is_not(None),
                   Pickup.status == PickupStatus.PENDING)
            .order_by(DeliveryDay.window_start)
        )
        by_family: dict[int, list[tuple[DeliveryDay, Pickup, Family]]] = {}
        for day, pickup, family in rows.all():
            by_family.setdefault(family.id, []).append((day, pickup, family))
        out = []
        for family_id, items in by_family.items():
            ids = sorted(p.id for _, p, _ in items)
            tag = _hashed(ids)
            fire = max(d.created_at for d, _, _ in items)
            last_window_end = max(d.window_end for d, _, _ in items)
            out.append(Notice("pickup_dates", items[0][2].person_id,
                              f"pickup:dates:{family_id}:{tag}", out_of_quiet(fire, zone, rem),
                              last_window_end, {"pickup_ids": ids, "family_id": family_id},
                              essential=True))
        return out

    # the team: milestones, digests, nudges ------------------------------------------------

    async def _team(self, program_id: int) -> list[int]:
        rows = await self.s.scalars(
            select(RoleGrant.person_id)
            .join(Person, Person.id == RoleGrant.person_id)
            .where(
                RoleGrant.role.in_([Role.GESTORA, Role.COORDINADORA]),
                or_(RoleGrant.program_id == program_id, RoleGrant.program_id.is_(None)),
                Person.erased_at.is_(None),
            )
            .distinct()
        )
        return sorted(rows.all())

    async def _milestones(self, program: Program, zone: ZoneInfo, rem: Reminders,
                          start: datetime, end: datetime) -> list[Notice]:
        team = await self._team(program.id)
        if not team:
            return []
        first = (start.astimezone(zone) - timedelta(days=2)).date()
        last = (end.astimezone(zone) + timedelta(days=max(rem.milestones.days_before) + 1)).date()
        milestones = (await self.s.scalars(
            select(Milestone).where(Milestone.program_id == program.id,
                                    Milestone.due >= first, Milestone.due <= last,
                                    Milestone.done_at.is_(None))
        )).all()
        # Milestones due the same day are announced together: one message, not five.
        by_due: dict[date, list[Milestone]] = {}
        for m in milestones:
            by_due.setdefault(m.due, []).append(m)
        out = []
        for due, group in sorted(by_due.items()):
            ids = sorted(m.id for m in group)
            tag = _ids_tag(ids)
            subject = {"milestone_ids": ids, "due": due.isoformat()}
            end_of_due = at_local(due + timedelta(days=1), time(0, 0), zone)
            for days in rem.milestones.days_before:
                fire = at_local(due - timedelta(days=days), MILESTONE_AT, zone)
                for pid in team:
                    out.append(Notice("milestone_soon", pid, f"ms:{due}:{tag}:d{days}:p{pid}",
                                      fire, end_of_due, {**subject, "days": days},
                                      group=f"ms:{due}:{tag}:p{pid}"))
            overdue = at_local(due + timedelta(days=1), MILESTONE_AT, zone)
            for pid in team:
                out.append(Notice("milestone_overdue", pid, f"mo:{due}:{tag}:p{pid}", overdue,
                                  overdue + timedelta(days=7), subject))
        return out

    async def _digests(self, program: Program, zone: ZoneInfo, rem: Reminders,
                       start: datetime, end: datetime) -> list[Notice]:
        team = await self._team(program.id)
        weekday = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday",
                   "sunday"].index(rem.weekly_digest.weekday)
        out = []
        day = start.astimezone(zone).date()
        while at_local(day, time(0, 0), zone) <= end:
            if day.weekday() == weekday and day >= program.start_date:
                fire = at_local(day, rem.weekly_digest.at, zone)
                for pid in team:
                    out.append(Notice("weekly_digest", pid,
                                      f"wd:{program.id}:{day.isoformat()}:p{pid}", fire,
                                      fire + timedelta(days=2),
                                      {"program_id": program.id, "week_of": day.isoformat()}))
            day += timedelta(days=1)
        return out

    async def _nudges(self, program: Program, zone: ZoneInfo, rem: Reminders,
                      start: datetime, end: datetime) -> list[Notice]:
        team = await self._team(program.id)
        if not team:
            return []
        bodies = (await self.s.scalars(
            select(Body).where(Body.program_id == program.id, Body.cadence_months.is_not(None))
        )).all()
        out = []
        for body in bodies:
            members = await self.s.scalar(
                select(func.count()).select_from(Membership).where(Membership.body_id == body.id,
                                                                  Membership.left_at.is_(None)))
            if not members:
                continue  # not constituted yet: nothing to nudge about
            for month_start in _months_touching(start.astimezone(zone).date(),
                                                end.astimezone(zone).date()):
                fire = at_local(month_start.replace(day=NUDGE_DAY), MILESTONE_AT, zone)
                if not (start < fire <= end) or month_start < program.start_date:
                    continue
                period_start = _add_months(month_start, 1 - (body.cadence_months or 1))
                period_end = _add_months(month_start, 1)
                held = await self.s.scalar(
                    select(func.count()).select_from(Meeting).where(
                        Meeting.body_id == body.id,
                        Meeting.status != MeetingStatus.CANCELLED,
                        Meeting.starts_at >= at_local(period_start, time(0), zone),
                        Meeting.starts_at < at_local(period_end, time(0), zone),
                    ))
                if held:
                    continue
                for pid in team:
                    out.append(Notice("body_nudge", pid,
                                      f"bn:{body.id}:{month_start:%Y-%m}:p{pid}", fire,
                                      at_local(period_end, time(0), zone),
                                      {"body_id": body.id, "months": body.cadence_months}))
        return out


    # action items: plans' actions and actas' commitments --------------------------------

    async def _actions(self, program: Program, zone: ZoneInfo, rem: Reminders,
                       start: datetime, end: datetime) -> list[Notice]:
        """Each responsible person hears of their deadlines ACTION_DAYS_BEFORE days before and
        on the morning of the day, one message a day for all of them (``action_due``); the
        team hears of what stayed open the day after (``action_overdue``), grouped by
        deadline as milestones are. Groups are made of every action due those days, whatever
        its status, so that a report does not make a new group (and a second message) of
        the rest; the builder leaves out what is no longer open."""
        first = (start.astimezone(zone) - timedelta(days=2)).date()
        last = (end.astimezone(zone) + timedelta(days=ACTION_DAYS_BEFORE + 1)).date()
        items = await actions.with_due_between(self.s, program.id, first, last)
        if not items:
            return []
        erased = set((await self.s.scalars(
            select(Person.id).where(Person.id.in_({a.responsible_person_id for a in items
                                                   if a.responsible_person_id}),
                                    Person.erased_at.is_not(None)))).all())
        by_day: dict[tuple[int, date], list[int]] = {}
        for a in items:
            pid = a.responsible_person_id
            if pid is None or pid in erased or a.due is None:
                continue
            for day in (a.due - timedelta(days=ACTION_DAYS_BEFORE), a.due):
                # Agreed after that morning (in the session itself): the person was there.
                if at_local(day, ACTION_AT, zone) >= a.created_at:
                    by_day.setdefault((pid, day), []).append(a.id)
        out = []
        for (pid, day), ids in sorted(by_day.items()):
            tag = _ids_tag(ids)
            fire = out_of_quiet(at_local(day, ACTION_AT, zone), zone, rem)
            out.append(Notice("action_due", pid, f"ad:{day}:{tag}:p{pid}", fire,
                              at_local(day + timedelta(days=1), time(0, 0), zone),
                              {"action_ids": sorted(ids), "day": day.isoformat()}))
        team = await self._team(program.id)
        by_due: dict[date, list[int]] = {}
        for a in items:
            if a.due is not None:
                by_due.setdefault(a.due, []).append(a.id)
        for due, ids in sorted(by_due.items()):
            tag = _ids_tag(ids)
            fire = out_of_quiet(at_local(due + timedelta(days=1), ACTION_AT, zone), zone, rem)
            for pid in team:
                out.append(Notice("action_overdue", pid, f"ao:{due}:{tag}:p{pid}", fire,
                                  fire + timedelta(days=7),
                                  {"action_ids": sorted(ids), "due": due.isoformat()}))
        return out


def _hashed(ids: Iterable[int]) -> str:
    return hashlib.sha1(",".join(map(str, sorted(ids))).encode()).hexdigest()[:12]


def _ids_tag(ids: Iterable[int]) -> str:
    """A short, stable name for a set of ids. Idempotency keys hold at most 160 characters:
    spelling every id out overflows that once a few dozen things share a day, so a long
    list is hashed; a short one keeps the spelling earlier versions queued its notices
    under, so that upgrading sends nothing twice."""
    ordered = sorted(ids)
    spelled = "-".join(map(str, ordered))
    return spelled if len(spelled) <= 48 else "h" + _hashed(ordered)


def _add_months(d: date, n: int) -> date:
    y, m = divmod(d.month - 1 + n, 12)
    return date(d.year + y, m + 1, 1)


def _months_touching(first: date, last: date) -> Iterable[date]:
    cur = first.replace(day=1)
    while cur <= last:
        yield cur
        cur = _add_months(cur, 1)
