"""Leases, on SQLite and PostgreSQL: one holder at a time, taken over once it lapses (or at
once when its process is gone from this machine), fenced on the holder's own monotonic
clock; the dispatcher sends only for the channels whose lease it holds, and settles what the
previous holder had in flight before it sends; the scheduler ticks only in its holder."""

from __future__ import annotations

import asyncio
import os
import socket
from dataclasses import dataclass
from datetime import timedelta

import pytest

from scheduler.dispatcher import Dispatcher, NotDelivered
from scheduler.leases import SETTLE_GAP, Lease, LeaseTimes
from scheduler.runner import NoticeScheduler
from storage import leases, outbox
from storage.models import OutboxStatus
from support import ScriptedChannel, add_person, enqueue_many, outbox_rows

TTL = timedelta(seconds=10)
TIMES = LeaseTimes(ttl=10, renew_every=2, margin=2)
# Holders on another machine: only the lease's expiry can say they are gone.
ELSEWHERE_A = "elsewhere:1:aaaa"
ELSEWHERE_B = "elsewhere:2:bbbb"


class Monotonic:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


async def take(sessions, name, holder, now):
    async with sessions() as s:
        taken = await leases.take(s, name, holder, now, TTL)
        await s.commit()
    return taken


async def test_one_holder_until_it_lapses_then_the_next_takes_it_over(sessions, clock) -> None:
    first = await take(sessions, "sender:telegram:1", ELSEWHERE_A, clock.now())
    assert first is not None and first.epoch == 1 and first.previous is None
    assert await take(sessions, "sender:telegram:1", ELSEWHERE_B, clock.now()) is None
    clock.advance(seconds=9)
    renewed = await take(sessions, "sender:telegram:1", ELSEWHERE_A, clock.now())
    assert renewed is not None and renewed.renewed and renewed.epoch == 1
    clock.advance(seconds=9)  # renewed 9 s ago: still A's
    assert await take(sessions, "sender:telegram:1", ELSEWHERE_B, clock.now()) is None
    clock.advance(seconds=2)  # not renewed for 11 s: lapsed
    second = await take(sessions, "sender:telegram:1", ELSEWHERE_B, clock.now())
    assert second is not None and second.epoch == 2 and second.previous == ELSEWHERE_A
    # The old holder, back, can neither renew nor take it while B holds it.
    async with sessions() as s:
        assert not await leases.renew(s, "sender:telegram:1", ELSEWHERE_A, 1, clock.now(), TTL)
        await s.commit()
    assert await take(sessions, "sender:telegram:1", ELSEWHERE_A, clock.now()) is None


async def test_a_holder_whose_process_is_gone_from_this_machine_is_taken_over_at_once(
        sessions, clock) -> None:
    proc = await asyncio.create_subprocess_exec("true")
    await proc.wait()  # a pid that no longer runs
    dead = f"{socket.gethostname()}:{proc.pid}:dead"
    assert await take(sessions, "scheduler", dead, clock.now()) is not None
    alive = f"{socket.gethostname()}:{os.getpid()}:live"
    taken = await take(sessions, "scheduler", alive, clock.now())
    assert taken is not None and taken.previous == dead


async def test_two_contenders_at_once_one_wins(sessions, clock) -> None:
    holders = [f"elsewhere:{i}:x" for i in range(8)]
    results = await asyncio.gather(*(take(sessions, "poller:telegram:1", h, clock.now())
                                     for h in holders))
    assert sum(r is not None for r in results) == 1
    clock.advance(seconds=11)  # lapsed: the others contend for it again
    others = [h for h, r in zip(holders, results, strict=True) if r is None]
    again = await asyncio.gather(*(take(sessions, "poller:telegram:1", h, clock.now())
                                   for h in others))
    winners = [r for r in again if r is not None]
    assert len(winners) == 1 and winners[0].epoch == 2 and not winners[0].renewed


class RenewsAfterTheRead:
    """A contender's session: right after it read the lease, the holder's renewal commits."""

    def __init__(self, session, renewal) -> None:
        self.session = session
        self.bind = session.bind
        self.renewal = renewal

    async def execute(self, stmt, *args, **kwargs):
        result = await self.session.execute(stmt, *args, **kwargs)
        if getattr(stmt, "is_select", False) and self.renewal is not None:
            renewal, self.renewal = self.renewal, None
            await renewal(self.session)
        return result


async def test_a_renewal_between_a_contenders_read_and_write_makes_the_contender_lose(
        sessions, clock) -> None:
    assert await take(sessions, "sender:telegram:1", ELSEWHERE_A, clock.now()) is not None
    clock.advance(seconds=11)  # lapsed as the contender reads it; A renews just after

    async def a_renews(contenders) -> None:
        if contenders.bind.dialect.name == "sqlite":
            # One connection, one writer: the renewal goes in on it, where it would queue.
            await leases.renew(contenders, "sender:telegram:1", ELSEWHERE_A, 1, clock.now(), TTL)
            return
        async with sessions() as s:
            assert await leases.renew(s, "sender:telegram:1", ELSEWHERE_A, 1, clock.now(), TTL)
            await s.commit()

    async with sessions() as s:
        taken = await leases.take(RenewsAfterTheRead(s, a_renews), "sender:telegram:1",
                                  ELSEWHERE_B, clock.now(), TTL)
        await s.commit()
    assert taken is None
    async with sessions() as s:
        assert (await leases.holders(s))["sender:telegram:1"][0] == ELSEWHERE_A


async def test_the_holder_stops_trusting_its_lease_at_the_fence(sessions, clock) -> None:
    mono = Monotonic()
    lease = Lease(sessions, clock, "sender:telegram:1", ELSEWHERE_A, TIMES, monotonic=mono)
    assert await lease.attempt() and lease.held()
    mono.t += TIMES.ttl - TIMES.margin - 0.01
    assert lease.held()
    mono.t += 0.02  # no renewal came through: stop, `margin` seconds before anyone may take it
    assert not lease.held()


class Database:
    """Sessions until the database goes away."""

    def __init__(self, sessions) -> None:
        self.sessions = sessions
        self.away = False

    def __call__(self):
        if self.away:
            raise ConnectionError("database away")
        return self.sessions()


async def test_a_holder_whose_renewals_fail_holds_until_its_fence_then_not(
        sessions, clock) -> None:
    mono = Monotonic()
    database = Database(sessions)
    lease = Lease(database, clock, "sender:telegram:1", ELSEWHERE_A, TIMES,  # type: ignore[arg-type]
                  monotonic=mono)
    assert await lease.attempt() and lease.held()
    database.away = True
    mono.t += TIMES.renew_every
    assert await lease.attempt()  # renewal failed: still held, on the last one's fence
    mono.t += TIMES.ttl - TIMES.margin - TIMES.renew_every - 0.01
    assert await lease.attempt() and lease.held()
    mono.t += 0.02
    assert not await lease.attempt() and not lease.held()


async def test_a_lease_given_up_is_taken_at_once_used_a_second_later_and_the_old_holder_lost(
        sessions, clock) -> None:
    mono = Monotonic()
    a = Lease(sessions, clock, "scheduler", ELSEWHERE_A, TIMES, monotonic=mono)
    b = Lease(sessions, clock, "scheduler", ELSEWHERE_B, TIMES, monotonic=mono)
    assert await a.attempt()
    assert not await b.attempt()
    await a.stop()  # a clean stop lets it go at once, after its last send
    assert not await b.attempt() and b.epoch == 2
    mono.t += SETTLE_GAP - 0.01  # a's last send may be in this second of the rate limit
    assert not b.held()
    mono.t += 0.01
    assert b.held()
    # a, starting again, finds b holding it.
    a2 = Lease(sessions, clock, "scheduler", ELSEWHERE_A, TIMES, monotonic=mono)
    assert not await a2.attempt()


@dataclass
class AccountChannel(ScriptedChannel):
    account: str = "1"


async def test_only_the_holder_sends_and_it_settles_what_the_last_one_had_in_flight(
        sessions, clock) -> None:
    recipients = [(await add_person(sessions, str(300 + i), clock.now()), str(300 + i))
                  for i in range(6)]
    await enqueue_many(sessions, recipients, clock.now())
    first_id = (await outbox_rows(sessions))[0].id
    # Another machine's process holds the sender's lease and claimed the first row.
    assert await take(sessions, "sender:telegram:1", ELSEWHERE_A, clock.now()) is not None
    async with sessions() as s:
        await outbox.claim(s, [first_id], ELSEWHERE_A, clock.now(), timedelta(seconds=120))
        await s.commit()
    mono = Monotonic()
    chan = AccountChannel()
    d = Dispatcher(sessions, clock, [chan], leases=TIMES, monotonic=mono,
                   worker_id=ELSEWHERE_B)
    lease = d.leases["telegram"]
    assert not await lease.attempt()
    await d.run_once()
    assert chan.calls == []  # not the holder: nothing sent
    assert d.claim_for("telegram") is None  # its replies are queued for the holder
    clock.advance(seconds=11)  # A stopped renewing
    await lease.attempt()
    assert not lease.held()  # a window between the old holder's last send and its first
    mono.t += SETTLE_GAP
    assert lease.held() and d.claim_for("telegram") is not None
    # What A had claimed was settled before B sent anything: uncertain (no probe), never
    # sent again; the rest sent once each.
    await d.run_once()
    rows = {r.id: r for r in await outbox_rows(sessions)}
    assert rows[first_id].status == OutboxStatus.UNCERTAIN
    assert {r.status for i, r in rows.items() if i != first_id} == {OutboxStatus.SENT}
    assert chan.delivered_to() == {addr: 1 for _, addr in recipients[1:]}


@dataclass
class ProbingChannel(AccountChannel):
    """A platform that can be asked, and says the message never arrived."""

    async def probe(self, row, known):
        return NotDelivered()


async def test_a_lapsed_holder_still_alive_elsewhere_has_its_row_left_uncertain_not_resent(
        sessions, clock) -> None:
    pid = await add_person(sessions, "77", clock.now())
    await enqueue_many(sessions, [(pid, "77")], clock.now())
    [row] = await outbox_rows(sessions)
    # A, on another machine, holds the lease and is sending the row when its lease lapses:
    # its request may still be under way, so "not found" proves nothing yet.
    assert await take(sessions, "sender:telegram:1", ELSEWHERE_A, clock.now()) is not None
    async with sessions() as s:
        await outbox.claim(s, [row.id], ELSEWHERE_A, clock.now(), timedelta(seconds=120))
        await s.commit()
    clock.advance(seconds=11)
    mono = Monotonic()
    chan = ProbingChannel()
    d = Dispatcher(sessions, clock, [chan], leases=TIMES, monotonic=mono,
                   worker_id=ELSEWHERE_B)
    await d.leases["telegram"].attempt()
    mono.t += SETTLE_GAP
    await d.run_once()
    [row] = await outbox_rows(sessions)
    assert row.status == OutboxStatus.UNCERTAIN and chan.calls == []
    # A's late answer for the row B settled is dropped: B's word stands.
    async with sessions() as s:
        await outbox.mark_sent_many(s, [(row.id, "late")], clock.now(), by=ELSEWHERE_A)
        await outbox.mark_retry(s, row.id, clock.now(), "timed out", by=ELSEWHERE_A)
        await s.commit()
    [row] = await outbox_rows(sessions)
    assert row.status == OutboxStatus.UNCERTAIN and row.platform_message_id is None


async def test_a_claimer_proven_gone_has_its_unarrived_row_sent_again(sessions, clock) -> None:
    pid = await add_person(sessions, "78", clock.now())
    await enqueue_many(sessions, [(pid, "78")], clock.now())
    [row] = await outbox_rows(sessions)
    proc = await asyncio.create_subprocess_exec("true")
    await proc.wait()
    gone = f"{socket.gethostname()}:{proc.pid}:gone"
    assert await take(sessions, "sender:telegram:1", gone, clock.now()) is not None
    async with sessions() as s:
        await outbox.claim(s, [row.id], gone, clock.now(), timedelta(seconds=120))
        await s.commit()
    mono = Monotonic()
    chan = ProbingChannel()
    d = Dispatcher(sessions, clock, [chan], leases=TIMES, monotonic=mono,
                   worker_id=ELSEWHERE_B)
    await d.leases["telegram"].attempt()
    mono.t += SETTLE_GAP
    await d.run_once()
    [row] = await outbox_rows(sessions)
    assert row.status == OutboxStatus.SENT and chan.delivered_to() == {"78": 1}


async def test_a_row_waiting_for_its_slot_when_the_lease_lapses_is_not_sent(
        sessions, clock) -> None:
    pid = await add_person(sessions, "42", clock.now())
    await enqueue_many(sessions, [(pid, "42")], clock.now())
    mono = Monotonic()
    chan = AccountChannel()
    d = Dispatcher(sessions, clock, [chan], leases=TIMES, monotonic=mono,
                   worker_id=ELSEWHERE_B)
    assert await d.leases["telegram"].attempt()
    [row] = await outbox_rows(sessions)
    async with sessions() as s:
        [claimed] = await outbox.claim(s, [row.id], d.worker_id, clock.now(), d.lease)
        await s.commit()
    mono.t += TIMES.ttl  # past the fence before it went
    results: list = []
    await d.deliver_claimed([claimed], results)
    assert chan.calls == [] and results == ["unsent"]
    [row] = await outbox_rows(sessions)
    assert row.status == OutboxStatus.PENDING and row.claimed_by is None


async def test_the_scheduler_ticks_only_in_the_leases_holder(sessions, clock) -> None:
    calls: list[str] = []

    async def job(_s, _now) -> int:
        calls.append("tick")
        return 0

    async def compose(*_a):
        return None

    mono = Monotonic()
    holder = Lease(sessions, clock, "scheduler", ELSEWHERE_A, TIMES, monotonic=mono)
    other = Lease(sessions, clock, "scheduler", ELSEWHERE_B, TIMES, monotonic=mono)
    a = NoticeScheduler(sessions, clock, compose, jobs=[job], lease=holder)
    b = NoticeScheduler(sessions, clock, compose, jobs=[job], lease=other)
    assert await holder.attempt() and not await other.attempt()
    await a.tick()
    await b.tick()
    assert calls == ["tick"]
    # Past its fence, the old holder's tick does nothing even before anyone took over.
    mono.t += TIMES.ttl
    await a.tick()
    assert calls == ["tick"]


@pytest.mark.parametrize("ttl,renew,margin", [(10, 2, 0.5), (5, 3, 2), (3, 0, 1)])
def test_lease_times_that_cannot_fence_are_refused(ttl, renew, margin) -> None:
    with pytest.raises(ValueError):
        LeaseTimes(ttl, renew, margin)
