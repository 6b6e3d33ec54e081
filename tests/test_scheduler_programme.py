"""A simulated 15-month Ecomercado: every reminder and deadline notice lands on the right local
day and hour, checked against the template, across four daylight-saving changes."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from domain.program_templates import load_template
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

SCL = ZoneInfo("America/Santiago")
START = date(2026, 3, 2)
END = date(2027, 6, 1)
SKIPPED_MONTH = (2026, 9)  # the Grupo Motor holds no session that month


def first_tuesday(year: int, month: int) -> date:
    d = date(year, month, 1)
    return d + timedelta(days=(1 - d.weekday()) % 7)


def months(start: date, end: date):
    y, m = start.year, start.month
    while date(y, m, 1) <= end:
        yield y, m
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)


async def test_a_whole_programme_of_notices(sqlite_url: str) -> None:
    engine = db.create_engine(sqlite_url)
    await db.upgrade(engine)
    sessions = db.session_factory(engine)
    t0 = at_local(START, time(8), SCL) - timedelta(days=1)
    clock = ManualClock(t0)
    tpl = load_template("ecomercado-15m")
    async with sessions() as s:
        program = await programs.create(s, template=tpl, start=START, name="Eco", now=t0)

        async def person(address: str, role: Role) -> int:
            p = await people.create_with_address(s, "telegram", address, t0, consent_at=t0,
                                                 locale="es", program_id=program.id)
            await people.grant(s, p, role, program.id, t0)
            return p.id

        gestora = await person("1", Role.GESTORA)
        coord = await person("2", Role.COORDINADORA)
        yes_member = await person("3", Role.GRUPO_MOTOR)
        silent_member = await person("4", Role.GRUPO_MOTOR)
        family_person = await person("5", Role.FAMILIA)
        gm = await s.scalar(select(Body).where(Body.kind == "grupo_motor"))
        for pid in (yes_member, silent_member):
            s.add(Membership(body_id=gm.id, person_id=pid, joined_at=t0))
        gm_meetings = []
        for y, m in months(date(2026, 4, 1), date(2027, 4, 1)):
            if (y, m) == SKIPPED_MONTH:
                continue
            starts = at_local(first_tuesday(y, m), time(18), SCL)
            meeting = Meeting(program_id=program.id, body_id=gm.id, kind="grupo_motor",
                              starts_at=starts, created_at=t0)
            s.add(meeting)
            await s.flush()
            gm_meetings.append(meeting)
            s.add(Rsvp(meeting_id=meeting.id, person_id=yes_member, invited_at=t0,
                       answer=RsvpAnswer.YES, answered_at=t0))
            s.add(Rsvp(meeting_id=meeting.id, person_id=silent_member, invited_at=t0))
        fam = Family(program_id=program.id, name="Soto", person_id=family_person, created_at=t0)
        s.add(fam)
        await s.flush()
        pickup_days = []
        day = date(2026, 3, 12)  # Thursdays, every four weeks
        while day < date(2027, 4, 1):
            dd = DeliveryDay(program_id=program.id, window_start=at_local(day, time(10), SCL),
                             window_end=at_local(day, time(12), SCL), place="Sede", created_at=t0)
            s.add(dd)
            await s.flush()
            s.add(Pickup(delivery_day_id=dd.id, family_id=fam.id))
            pickup_days.append(day)
            day += timedelta(weeks=4)
        await s.commit()

    sched = NoticeScheduler(sessions, clock, notices.compose, after_queued=notices.after_queued)
    fired: list[tuple[str, int, datetime]] = []
    stop = at_local(END, time(0), SCL)
    fired += [(n.kind, n.person_id, clock.now()) for n in (await sched.tick()).queued]
    while True:
        nxt = await sched.next_fire()
        if nxt is None or nxt > stop:
            break
        clock.set(nxt)
        fired += [(n.kind, n.person_id, clock.now()) for n in (await sched.tick()).queued]
    await engine.dispose()

    got = Counter((k, p, t.astimezone(SCL).replace(tzinfo=None)) for k, p, t in fired)
    assert max(got.values()) == 1  # nothing twice

    def local(d: date, h: int) -> datetime:
        return datetime.combine(d, time(h))

    want: Counter = Counter()
    rem = tpl.reminders
    for due in sorted({m.due for m in tpl.milestones(START)}):  # one message per due date
        for pid in (gestora, coord):
            for days in rem.milestones.days_before:
                want[("milestone_soon", pid, local(due - timedelta(days=days), 9))] += 1
            want[("milestone_overdue", pid, local(due + timedelta(days=1), 9))] += 1
    d = START + timedelta(days=(0 - START.weekday()) % 7)
    while d < END:
        for pid in (gestora, coord):
            want[("weekly_digest", pid, local(d, 9))] += 1
        d += timedelta(weeks=1)
    for meeting in gm_meetings:
        day_ = meeting.starts_at.astimezone(SCL).date()
        want[("meeting_reminder", yes_member, local(day_ - timedelta(days=1), 18))] += 1
        want[("meeting_reminder", yes_member, local(day_, 16))] += 1
        for days in rem.non_responders.days_before:
            want[("meeting_reask", silent_member, local(day_ - timedelta(days=days), 10))] += 1
    for day_ in pickup_days:
        want[("pickup_notice", family_person, local(day_ - timedelta(days=2), 10))] += 1
        want[("pickup_evening", family_person, local(day_ - timedelta(days=1), 19))] += 1
        want[("pickup_morning", family_person, local(day_, 8))] += 1
    for pid in (gestora, coord):
        want[("body_nudge", pid, local(date(*SKIPPED_MONTH, 20), 9))] += 1
        # March is not nudged although no session was held: the programme began on the 2nd,
        # so March is not a whole calendar month of the programme.
        # After the last session (April 2027) May goes by without one.
        want[("body_nudge", pid, local(date(2027, 5, 20), 9))] += 1

    missing = want - got
    extra = got - want
    assert missing == Counter() and extra == Counter()
    # The clock changes (April and September, both years) never moved a local hour.
    assert {t.astimezone(SCL).utcoffset() for _, _, t in fired} == {timedelta(hours=-3),
                                                                    timedelta(hours=-4)}
    assert all(t.astimezone(SCL).minute == 0 for _, _, t in fired)
    assert fired[0][2] >= t0.astimezone(UTC)
