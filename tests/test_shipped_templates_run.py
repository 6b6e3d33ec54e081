"""A simulated run of every shipped programme template, driven by the template's own data:
its bodies get members and meet at their cadence (one skips a session), the clock walks
through the whole programme, and every milestone notice, meeting reminder, weekly digest and
body nudge must land on its local day and hour in the programme's zone (Santiago's clock
changes included, Montevideo with none) and nothing else may be sent. Then each stage's
verificadores are recorded and made (test_shipped_templates_documents.py)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, time, timedelta

import pytest

from domain.program_templates import ProgramTemplate, add_months, available_templates, load_template
from scheduler.planner import at_local
from scheduler.runner import NoticeScheduler
from services import notices
from storage import db, people, programs
from storage.clock import ManualClock
from storage.models import (
    Body,
    DeliveryDay,
    Family,
    Meeting,
    Membership,
    Pickup,
    Role,
    Rsvp,
    RsvpAnswer,
)

# Canelones' template counts calendar months from 1 January (its comment says to start
# there); the others start on a Monday in March, so Santiago's clock goes back in April and
# forward in September while they run.
STARTS = {"economia-solidaria-canelones": date(2026, 1, 1)}
DEFAULT_START = date(2026, 3, 2)
SESSION_AT = time(18, 0)
WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]


def start_of(key: str) -> date:
    return STARTS.get(key, DEFAULT_START)


def first_tuesday(month: date) -> date:
    return month + timedelta(days=(1 - month.weekday()) % 7)


def month_index(d: date) -> int:
    return d.year * 12 + d.month - 1


def from_index(i: int) -> date:
    return date(i // 12, i % 12 + 1, 1)


def body_kind(tpl: ProgramTemplate, body: str) -> str:
    """The meeting kind of a body's ordinary sessions: the one named as the body, else the
    first that convenes it."""
    kinds = [k.key for k in tpl.meeting_kinds if k.body == body]
    assert kinds, f"{tpl.key}: body {body} has no kind of session to meet in"
    return body if body in kinds else kinds[0]


def local(d: date, t: time) -> datetime:
    return datetime.combine(d, t)


async def run(tpl: ProgramTemplate, start: date, sqlite_url: str):
    """The programme run from the day before it starts to two days after it ends; what was
    queued (kind, person, UTC time) and the facts to check it against."""
    zone = tpl.tz
    end = tpl.end_date(start)
    engine = db.create_engine(sqlite_url)
    await db.upgrade(engine)
    sessions = db.session_factory(engine)
    t0 = at_local(start - timedelta(days=1), time(8), zone)
    clock = ManualClock(t0)
    first_month = month_index(start) + (0 if start.day == 1 else 1)
    last_month = month_index(end)
    # The body that meets most often skips one session half-way through.
    skipper = min(tpl.bodies, key=lambda b: b.cadence_months) if tpl.bodies else None
    cadence = skipper.cadence_months if skipper else 1
    skipped = first_month + cadence * ((last_month - first_month) // 2 // cadence)
    skipper = skipper.key if skipper else None
    facts: dict = {"bodies": {}, "pickups": []}
    async with sessions() as s:
        program = await programs.create(s, template=tpl, start=start, name="Simulado", now=t0)
        seq = iter(range(1, 10_000))

        async def person(role: Role) -> int:
            p = await people.create_with_address(s, "telegram", str(next(seq)), t0,
                                                 consent_at=t0, locale="es",
                                                 program_id=program.id)
            await people.grant(s, p, role, program.id, t0)
            return p.id

        facts["team"] = [await person(Role.GESTORA), await person(Role.COORDINADORA)]
        rows = {b.kind: b for b in await programs.bodies(s, program.id)}
        for spec in tpl.bodies:
            body: Body = rows[spec.key]
            assert body.cadence_months == spec.cadence_months
            # As many members as the template asks: one confirms every session, one never
            # answers, the rest decline (and so get no reminder).
            members = [await person(Role.REPRESENTANTE) for _ in range(max(spec.min_members, 2))]
            for pid in members:
                s.add(Membership(body_id=body.id, person_id=pid, joined_at=t0))
            held: list[Meeting] = []
            for m in range(first_month, last_month + 1, spec.cadence_months):
                if spec.key == skipper and m == skipped:
                    continue
                day = first_tuesday(from_index(m))
                if day > end:
                    break
                meeting = Meeting(program_id=program.id, body_id=body.id,
                                  kind=body_kind(tpl, spec.key),
                                  starts_at=at_local(day, SESSION_AT, zone), created_at=t0)
                s.add(meeting)
                await s.flush()
                held.append(meeting)
                for i, pid in enumerate(members):
                    answer = RsvpAnswer.YES if i == 0 else None if i == 1 else RsvpAnswer.NO
                    s.add(Rsvp(meeting_id=meeting.id, person_id=pid, invited_at=t0,
                               answer=answer, answered_at=t0 if answer else None))
            facts["bodies"][spec.key] = (body.id, members[0], members[1],
                                         [m.starts_at.astimezone(zone).date() for m in held])
        # Quiet hours are the planner's for every programme: a delivery day whose window
        # opens half an hour after they end would have its morning reminder (an hour before
        # the window) inside them. One such day in each half of the year.
        family_person = await person(Role.FAMILIA)
        facts["family"] = family_person
        fam = Family(program_id=program.id, name="Soto", person_id=family_person, created_at=t0)
        s.add(fam)
        await s.flush()
        opens = (datetime.combine(start, tpl.reminders.quiet_hours.end)
                 + timedelta(minutes=30)).time()
        for months_in in (2, 8):
            day = add_months(start, months_in)
            day += timedelta(days=(3 - day.weekday()) % 7)  # a Thursday
            dd = DeliveryDay(program_id=program.id, window_start=at_local(day, opens, zone),
                             window_end=at_local(day, time(12), zone), place="Sede",
                             created_at=t0)
            s.add(dd)
            await s.flush()
            s.add(Pickup(delivery_day_id=dd.id, family_id=fam.id))
            facts["pickups"].append(day)
        await s.commit()

    sched = NoticeScheduler(sessions, clock, notices.compose, after_queued=notices.after_queued)
    stop = at_local(end + timedelta(days=2), time(0), zone)
    fired = [(n.kind, n.person_id, clock.now(), n.urgent) for n in (await sched.tick()).queued]
    while (nxt := await sched.next_fire()) is not None and nxt <= stop:
        clock.set(nxt)
        fired += [(n.kind, n.person_id, clock.now(), n.urgent)
                  for n in (await sched.tick()).queued]
    await engine.dispose()
    facts.update(t0=t0, stop=stop, first_month=first_month, skipper=skipper, skipped=skipped)
    return fired, facts


def expected(tpl: ProgramTemplate, start: date, facts: dict) -> Counter:
    """What the template's own data says must be sent, at local days and hours."""
    rem = tpl.reminders
    zone = tpl.tz
    stop_local = facts["stop"].astimezone(zone).replace(tzinfo=None)
    want: Counter = Counter()
    team = facts["team"]
    for due in sorted({m.due for m in tpl.milestones(start)}):  # one message per due date
        for pid in team:
            for days in rem.milestones.days_before:
                want[("milestone_soon", pid, local(due - timedelta(days=days), time(9)))] += 1
            want[("milestone_overdue", pid, local(due + timedelta(days=1), time(9)))] += 1
    weekday = WEEKDAYS.index(rem.weekly_digest.weekday)
    d = start + timedelta(days=(weekday - start.weekday()) % 7)
    while local(d, rem.weekly_digest.at) <= stop_local:
        for pid in team:
            want[("weekly_digest", pid, local(d, rem.weekly_digest.at))] += 1
        d += timedelta(weeks=1)
    for key, (_body_id, yes, silent, days) in facts["bodies"].items():
        for day in days:
            want[("meeting_reminder", yes, local(day - timedelta(days=1),
                                                 rem.meeting.day_before_at))] += 1
            want[("meeting_reminder", yes, local(day, SESSION_AT)
                  - timedelta(hours=rem.meeting.hours_before))] += 1
            for n in rem.non_responders.days_before:
                want[("meeting_reask", silent, local(day - timedelta(days=n), time(10)))] += 1
        # A body is reported on the 20th of each month of the programme in which it has
        # held no session in its last `cadence_months` months.
        cadence = tpl.body(key).cadence_months
        held = {month_index(day) for day in days}
        m = facts["first_month"]
        while local(from_index(m).replace(day=20), time(9)) <= stop_local:
            if not held & set(range(m - cadence + 1, m + 1)):
                for pid in team:
                    want[("body_nudge", pid, local(from_index(m).replace(day=20), time(9)))] += 1
            m += 1
    quiet = rem.quiet_hours
    for day in facts["pickups"]:
        fam = facts["family"]
        want[("pickup_notice", fam, local(day - timedelta(days=rem.pickup.days_before),
                                          time(10)))] += 1
        want[("pickup_evening", fam, local(day - timedelta(days=1),
                                           rem.pickup.evening_before_at))] += 1
        # An hour before a window that opens 30 minutes after the quiet hours is inside
        # them: the reminder waits for their end.
        want[("pickup_morning", fam, local(day, quiet.end))] += 1
    return want


@pytest.mark.parametrize("key", available_templates())
async def test_a_simulated_programme_sends_each_notice_on_its_local_day_and_hour(
        key: str, sqlite_url: str) -> None:
    tpl = load_template(key)
    start = start_of(key)
    fired, facts = await run(tpl, start, sqlite_url)
    zone = tpl.tz

    got = Counter((k, p, t.astimezone(zone).replace(tzinfo=None)) for k, p, t, _ in fired)
    assert max(got.values()) == 1, [k for k, n in got.items() if n > 1]  # nothing twice
    want = expected(tpl, start, facts)
    assert all(t >= facts["t0"].astimezone(zone).replace(tzinfo=None) for _, _, t in want), \
        "the run starts too late to see every notice"
    missing, extra = want - got, got - want
    assert missing == Counter() and extra == Counter(), (sorted(missing), sorted(extra))

    # The programme's zone, with its clock changes, is where every hour was read.
    offsets = {t.astimezone(zone).utcoffset() for _, _, t, _ in fired}
    if tpl.timezone == "America/Santiago":
        assert offsets == {timedelta(hours=-3), timedelta(hours=-4)}
    elif tpl.timezone == "America/Montevideo":
        assert offsets == {timedelta(hours=-3)}  # no daylight-saving time since 2015
    # Quiet hours hold for everything but the reminder just before a session.
    quiet = tpl.reminders.quiet_hours
    loud = [(k, t.astimezone(zone)) for k, _, t, urgent in fired
            if not urgent and quiet.contains(t.astimezone(zone).time().replace(tzinfo=None))]
    assert not loud, loud
    # A body that skipped its cadence was reported in the month it skipped.
    if facts["skipper"] is not None:
        nudged = {(t.astimezone(zone).year, t.astimezone(zone).month)
                  for k, _, t, _ in fired if k == "body_nudge"}
        # Its last session before the gap is `cadence` months before the skipped one, so
        # the month before the next one is the first with none in the last `cadence`.
        late = from_index(facts["skipped"] + tpl.body(facts["skipper"]).cadence_months - 1)
        assert (late.year, late.month) in nudged
    assert all(t.tzinfo is not None and t >= facts["t0"].astimezone(UTC) for _, _, t, _ in fired)
