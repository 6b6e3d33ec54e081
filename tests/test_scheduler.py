"""The scheduler: the right notice on the right local day and hour, once, even across
daylight-saving changes, restarts and two processes."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from handlers.events import Outgoing
from locales import Catalogs
from scheduler.planner import Notice, Planner, at_local
from scheduler.runner import NoticeScheduler
from services import notices
from storage import db, outbox, people, programs
from storage.clock import ManualClock
from storage.models import (
    Meeting,
    Membership,
    Milestone,
    OutboxMessage,
    OutboxStatus,
    Role,
    Rsvp,
    RsvpAnswer,
)

SCL = ZoneInfo("America/Santiago")


def local(d: date, h: int, m: int = 0) -> datetime:
    return at_local(d, time(h, m), SCL)


async def stub_compose(session, notice: Notice, now):
    if notice.kind in notices.BUILDERS:
        return await notices.compose(session, notice, now)
    return {"text": {"k": "input.not_understood", "p": {}}}


@pytest.fixture
async def world(any_db_url: str):
    engine = db.create_engine(any_db_url)
    await db.upgrade(engine)
    sessions = db.session_factory(engine)
    clock = ManualClock(datetime(2026, 3, 2, 12, 0, tzinfo=UTC))
    async with sessions() as s:
        program = await programs.create(s, template="ecomercado-15m", start=date(2026, 3, 2),
                                        name="Ecomercado Quilpué", now=clock.now())
        gestora = await people.create_with_address(s, "telegram", "1", clock.now(), name="Gestora",
                                                   consent_at=clock.now(), locale="es")
        await people.grant(s, gestora, Role.GESTORA, program.id, clock.now())
        member = await people.create_with_address(s, "telegram", "2", clock.now(), name="Ana",
                                                  consent_at=clock.now(), locale="es")
        await s.commit()
        ids = {"program": program.id, "gestora": gestora.id, "member": member.id}
    yield sessions, clock, ids
    await engine.dispose()


async def queued(sessions, kind: str | None = None) -> list[OutboxMessage]:
    async with sessions() as s:
        stmt = select(OutboxMessage).order_by(OutboxMessage.id)
        if kind:
            stmt = stmt.where(OutboxMessage.kind == kind)
        return list((await s.scalars(stmt)).all())


async def run_until(sched: NoticeScheduler, clock: ManualClock, end: datetime) -> list[tuple]:
    """Jump from fire time to fire time, ticking at each, as a running process would."""
    fired = []
    await sched.tick()
    while True:
        nxt = await sched.next_fire()
        if nxt is None or nxt > end:
            break
        clock.set(nxt)
        result = await sched.tick()
        fired += [(n.kind, n.person_id, clock.now().astimezone(SCL)) for n in result.queued]
    return fired


async def add_meeting(sessions, clock, program_id: int, starts: datetime, person_id: int,
                      answer: str | None, invited: datetime | None = None) -> int:
    async with sessions() as s:
        m = Meeting(program_id=program_id, kind="grupo_motor", starts_at=starts,
                    created_at=invited or clock.now(), status="scheduled")
        s.add(m)
        await s.flush()
        s.add(Rsvp(meeting_id=m.id, person_id=person_id, invited_at=invited or clock.now(),
                   answer=answer, answered_at=(invited or clock.now()) if answer else None))
        await s.commit()
        return m.id


@pytest.mark.parametrize(
    "meeting_day",
    [date(2026, 4, 7), date(2026, 4, 5), date(2026, 9, 7), date(2026, 9, 6)],
    ids=["after-april-change", "on-april-change", "after-september-change", "on-september-change"],
)
async def test_day_before_reminder_is_at_18_local_on_both_sides_of_dst(world, meeting_day) -> None:
    sessions, clock, ids = world
    clock.set(local(meeting_day - timedelta(days=10), 12))
    await add_meeting(sessions, clock, ids["program"], local(meeting_day, 19), ids["member"],
                      RsvpAnswer.YES)
    sched = NoticeScheduler(sessions, clock, stub_compose)
    fired = await run_until(sched, clock, local(meeting_day, 23))
    times = [(k, t.replace(tzinfo=None)) for k, p, t in fired if p == ids["member"]]
    assert times == [
        ("meeting_reminder", datetime.combine(meeting_day - timedelta(days=1), time(18, 0))),
        ("meeting_reminder", datetime.combine(meeting_day, time(17, 0))),
    ]


async def test_people_who_have_not_answered_are_asked_again_3_and_1_days_before(world) -> None:
    sessions, clock, ids = world
    day = date(2026, 3, 20)
    await add_meeting(sessions, clock, ids["program"], local(day, 18), ids["member"], None)
    sched = NoticeScheduler(sessions, clock, stub_compose)
    fired = await run_until(sched, clock, local(day, 23))
    mine = [(k, t.replace(tzinfo=None)) for k, p, t in fired if p == ids["member"]]
    assert mine == [("meeting_reask", datetime(2026, 3, 17, 10)),
                    ("meeting_reask", datetime(2026, 3, 19, 10))]


async def test_a_decline_gets_no_reminders(world) -> None:
    sessions, clock, ids = world
    await add_meeting(sessions, clock, ids["program"], local(date(2026, 3, 20), 18), ids["member"],
                      RsvpAnswer.NO)
    fired = await run_until(NoticeScheduler(sessions, clock, stub_compose), clock,
                            local(date(2026, 3, 21), 0))
    assert [f for f in fired if f[1] == ids["member"]] == []


async def test_milestones_7_and_1_days_before_and_overdue_at_9_local(world) -> None:
    sessions, clock, ids = world
    sched = NoticeScheduler(sessions, clock, stub_compose)
    fired = await run_until(sched, clock, local(date(2026, 4, 10), 0))
    team = [(k, t.replace(tzinfo=None)) for k, p, t in fired
            if p == ids["gestora"] and k.startswith("milestone")]
    # s1.socializacion is due Sunday 15 March; s1.diagnostico Wednesday 1 April.
    assert team == [
        ("milestone_soon", datetime(2026, 3, 8, 9)),
        ("milestone_soon", datetime(2026, 3, 14, 9)),
        ("milestone_overdue", datetime(2026, 3, 16, 9)),
        ("milestone_soon", datetime(2026, 3, 25, 9)),
        ("milestone_soon", datetime(2026, 3, 31, 9)),
        ("milestone_overdue", datetime(2026, 4, 2, 9)),
    ]
    [first] = [r for r in await queued(sessions, "milestone_soon")][:1]
    assert first.payload["text"]["k"] == "notice.milestone_soon"


async def test_a_milestone_notice_sent_late_counts_the_days_from_when_it_goes(world) -> None:
    sessions, clock, ids = world
    # s1.socializacion is due Sunday 15 March; the 7-days-before notice was due Sunday 8.
    # Down until Tuesday 10 at noon: it goes then, and says five days, not seven.
    clock.set(local(date(2026, 3, 10), 12))
    result = await NoticeScheduler(sessions, clock, notices.compose).tick()
    [soon] = [n for n in result.queued
              if n.kind == "milestone_soon" and n.person_id == ids["gestora"]]
    [row] = [r for r in await queued(sessions, "milestone_soon") if r.idempotency_key == soon.key]
    assert row.payload["text"]["p"]["count"] == 5
    text = Catalogs(default="es").render(Outgoing.from_json(row.payload).text, "es",
                                         "America/Santiago")
    assert text.startswith("📌 En 5 días (domingo 15 de marzo de 2026) vence:"), text


async def test_a_day_before_notice_that_goes_on_the_day_says_today(world) -> None:
    sessions, clock, ids = world
    # Down from Saturday 14 (when "tomorrow" was due) until Sunday 15 at 10:00.
    clock.set(local(date(2026, 3, 15), 10))
    await NoticeScheduler(sessions, clock, notices.compose).tick()
    [row] = [r for r in await queued(sessions, "milestone_soon")
             if r.person_id == ids["gestora"] and r.status == "pending"]
    text = Catalogs(default="es").render(Outgoing.from_json(row.payload).text, "es",
                                         "America/Santiago")
    assert text.startswith("📌 Hoy (domingo 15 de marzo de 2026) vence:"), text


async def test_a_done_or_moved_milestone_is_not_announced_as_overdue(world) -> None:
    sessions, clock, ids = world
    async with sessions() as s:
        m = await s.scalar(select(Milestone).where(Milestone.key == "s1.socializacion"))
        m.done_at = clock.now()
        d = await s.scalar(select(Milestone).where(Milestone.key == "s1.diagnostico"))
        d.due = date(2026, 4, 20)
        await s.commit()
    fired = await run_until(NoticeScheduler(sessions, clock, stub_compose), clock,
                            local(date(2026, 4, 10), 0))
    overdue = [t for k, p, t in fired if k == "milestone_overdue"]
    assert overdue == []


async def test_weekly_digest_every_monday_at_9_local_across_the_april_change(world) -> None:
    sessions, clock, ids = world
    clock.set(local(date(2026, 3, 25), 12))
    fired = await run_until(NoticeScheduler(sessions, clock, stub_compose), clock,
                            local(date(2026, 4, 14), 0))
    digests = [t for k, p, t in fired if k == "weekly_digest"]
    assert [t.replace(tzinfo=None) for t in digests] == [
        datetime(2026, 3, 30, 9), datetime(2026, 4, 6, 9), datetime(2026, 4, 13, 9)]
    assert [t.utcoffset() for t in digests] == [timedelta(hours=-3), timedelta(hours=-4),
                                                timedelta(hours=-4)]
    rows = await queued(sessions, "weekly_digest")
    # The digest of Monday 23 March was due before this run began, and is two days stale.
    assert [r.status for r in rows] == ["dropped", "pending", "pending", "pending"]
    assert rows[1].payload["text"]["k"] == "notice.digest"


async def test_grupo_motor_without_a_session_this_month_is_nudged(world) -> None:
    sessions, clock, ids = world
    async with sessions() as s:
        from storage.models import Body

        gm = await s.scalar(select(Body).where(Body.kind == "grupo_motor"))
        s.add(Membership(body_id=gm.id, person_id=ids["member"], joined_at=clock.now()))
        # A session in April, none in May.
        s.add(Meeting(program_id=ids["program"], body_id=gm.id, kind="grupo_motor",
                      starts_at=local(date(2026, 4, 15), 18), created_at=clock.now()))
        await s.commit()
    clock.set(local(date(2026, 4, 1), 12))
    fired = await run_until(NoticeScheduler(sessions, clock, stub_compose), clock,
                            local(date(2026, 5, 31), 0))
    nudges = [(t.replace(tzinfo=None)) for k, p, t in fired if k == "body_nudge"]
    assert nudges == [datetime(2026, 5, 20, 9)]


async def test_quiet_hours_hold_a_notice_until_the_morning(world) -> None:
    sessions, clock, ids = world
    from scheduler.planner import out_of_quiet, reminders_for

    async with sessions() as s:
        program = await programs.get(s, ids["program"])
    rem = reminders_for(program)
    late = local(date(2026, 3, 10), 22, 30)
    early = local(date(2026, 3, 11), 6, 0)
    assert out_of_quiet(late, SCL, rem) == local(date(2026, 3, 11), 8)
    assert out_of_quiet(early, SCL, rem) == local(date(2026, 3, 11), 8)
    noon = local(date(2026, 3, 11), 12)
    assert out_of_quiet(noon, SCL, rem) == noon


async def test_ticks_are_idempotent_and_two_schedulers_queue_once(world) -> None:
    sessions, clock, ids = world
    await add_meeting(sessions, clock, ids["program"], local(date(2026, 3, 4), 18), ids["member"],
                      RsvpAnswer.YES)
    clock.set(local(date(2026, 3, 3), 18, 5))
    a = NoticeScheduler(sessions, clock, stub_compose)
    b = NoticeScheduler(sessions, clock, stub_compose)
    await asyncio.gather(a.tick(), b.tick(), return_exceptions=False)
    await a.tick()
    rows = await queued(sessions, "meeting_reminder")
    assert len(rows) == 1


async def test_after_downtime_what_still_makes_sense_is_sent_and_the_rest_dropped(
    world, caplog: pytest.LogCaptureFixture
) -> None:
    sessions, clock, ids = world
    await add_meeting(sessions, clock, ids["program"], local(date(2026, 3, 4), 18), ids["member"],
                      RsvpAnswer.YES)
    await add_meeting(sessions, clock, ids["program"], local(date(2026, 3, 3), 19), ids["member"],
                      RsvpAnswer.YES)
    # Convoca was down from Monday noon until Wednesday 10:00.
    clock.set(local(date(2026, 3, 4), 10))
    with caplog.at_level(logging.INFO, logger="scheduler.runner"):
        result = await NoticeScheduler(sessions, clock, stub_compose).tick()
    sent = sorted(n.key.rsplit(":", 1)[-1] + "@" + str(n.subject["meeting_id"])
                  for n in result.queued if n.kind == "meeting_reminder")
    dropped = sorted(n.key.rsplit(":", 1)[-1] + "@" + str(n.subject["meeting_id"])
                     for n in result.dropped if n.kind == "meeting_reminder")
    assert sent == ["eve@1"]  # Wednesday's meeting: yesterday's reminder still makes sense
    assert dropped == ["eve@2", "soon@2"]  # Tuesday's meeting has already happened
    assert "no longer makes sense" in caplog.text
    rows = {r.idempotency_key: r for r in await queued(sessions, "meeting_reminder")}
    assert sum(r.status == OutboxStatus.DROPPED for r in rows.values()) == 2


async def test_moving_a_meeting_replaces_its_pending_reminders(world) -> None:
    sessions, clock, ids = world
    mid = await add_meeting(sessions, clock, ids["program"], local(date(2026, 3, 4), 18),
                            ids["member"], RsvpAnswer.YES)
    clock.set(local(date(2026, 3, 3), 18, 1))
    sched = NoticeScheduler(sessions, clock, stub_compose)
    await sched.tick()
    async with sessions() as s:
        m = await s.get(Meeting, mid)
        m.starts_at = local(date(2026, 3, 11), 18)
        m.revision += 1
        dropped = await outbox.drop_pending(s, f"remind:m{mid}.", "meeting moved")
        await s.commit()
    assert dropped == 1
    fired = await run_until(sched, clock, local(date(2026, 3, 12), 0))
    mine = [t.replace(tzinfo=None) for k, p, t in fired if k == "meeting_reminder"]
    assert mine == [datetime(2026, 3, 10, 18), datetime(2026, 3, 11, 16)]


async def test_planner_window_is_empty_without_programmes(any_db_url: str) -> None:
    engine = db.create_engine(any_db_url)
    await db.upgrade(engine)
    async with db.session_factory(engine)() as s:
        assert await Planner(s).due(datetime(2026, 1, 1, tzinfo=UTC)) == []
    await engine.dispose()


async def test_after_downtime_only_the_latest_of_a_reminder_group_is_sent(world) -> None:
    sessions, clock, ids = world
    await add_meeting(sessions, clock, ids["program"], local(date(2026, 3, 4), 18), ids["member"],
                      RsvpAnswer.YES)
    # Down from Monday noon until Wednesday 16:30: both the evening-before and the
    # two-hours-before reminders are due; one reminder is enough.
    clock.set(local(date(2026, 3, 4), 16, 30))
    result = await NoticeScheduler(sessions, clock, stub_compose).tick()
    assert [n.key.rsplit(":", 1)[-1] for n in result.queued if n.kind == "meeting_reminder"] == [
        "soon"]
    [dropped] = [n for n in result.dropped if n.kind == "meeting_reminder"]
    assert dropped.key.endswith(":eve")
    rows = {r.idempotency_key: r for r in await queued(sessions, "meeting_reminder")}
    assert rows[dropped.key].last_error.startswith("superseded by")


async def test_all_dates_at_once_sends_one_message_per_family(world) -> None:
    from storage.delivery import set_pickup_policy
    from storage.models import DeliveryDay, Family, Pickup, PickupStatus, Program

    sessions, clock, ids = world
    async with sessions() as s:
        program = await s.get(Program, ids["program"])
        set_pickup_policy(program, "all_at_once")
        fam = Family(program_id=program.id, name="Soto", person_id=ids["member"],
                     created_at=clock.now())
        s.add(fam)
        await s.flush()
        for weeks in (1, 3, 5):
            day = date(2026, 3, 5) + timedelta(weeks=weeks)
            dd = DeliveryDay(program_id=program.id, window_start=local(day, 10),
                             window_end=local(day, 12), place="Sede", created_at=clock.now())
            s.add(dd)
            await s.flush()
            s.add(Pickup(delivery_day_id=dd.id, family_id=fam.id))
        await s.commit()
    sched = NoticeScheduler(sessions, clock, notices.compose, after_queued=notices.after_queued)
    result = await sched.tick()
    [dates] = [n for n in result.queued if n.kind == "pickup_dates"]
    assert dates.person_id == ids["member"] and len(dates.subject["pickup_ids"]) == 3
    [row] = await queued(sessions, "pickup_dates")
    assert row.payload["text"]["k"] == "notice.pickup_dates"
    assert len(row.payload["text"]["p"]["rows"]["$list"]) == 3
    assert not [n for n in result.queued if n.kind == "pickup_notice"]
    async with sessions() as s:
        statuses = set((await s.scalars(select(Pickup.status))).all())
        assert statuses == {PickupStatus.NOTIFIED}
        # A day added later is announced on its own.
        clock.advance(hours=2)
        dd = DeliveryDay(program_id=ids["program"], window_start=local(date(2026, 4, 30), 10),
                         window_end=local(date(2026, 4, 30), 12), place="Sede",
                         created_at=clock.now())
        s.add(dd)
        await s.flush()
        s.add(Pickup(delivery_day_id=dd.id, family_id=fam.id))
        await s.commit()
    result = await sched.tick()
    [later] = [n for n in result.queued if n.kind == "pickup_dates"]
    assert len(later.subject["pickup_ids"]) == 1
    assert (await sched.tick()).queued == []
