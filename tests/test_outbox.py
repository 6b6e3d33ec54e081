"""The outbox and its dispatcher, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import update

from scheduler.dispatcher import (
    Blocked,
    ChatBuckets,
    Delivered,
    Dispatcher,
    Limits,
    Pacer,
    Rejected,
    RetryAfter,
    Transient,
    window_cap,
)
from storage import outbox
from storage.models import OutboxMessage, OutboxStatus
from support import ScriptedChannel, add_person, enqueue_many, outbox_rows, person


async def test_same_idempotency_key_is_one_message(sessions, clock) -> None:
    pid = await add_person(sessions, "100", clock.now())
    await enqueue_many(sessions, [(pid, "100")], clock.now())
    await enqueue_many(sessions, [(pid, "100")], clock.now())
    rows = await outbox_rows(sessions)
    assert len(rows) == 1 and rows[0].status == OutboxStatus.PENDING


async def test_every_due_message_is_sent_once(sessions, clock) -> None:
    recipients = [(await add_person(sessions, str(1000 + i), clock.now()), str(1000 + i))
                  for i in range(40)]
    await enqueue_many(sessions, recipients, clock.now())
    chan = ScriptedChannel()
    d = Dispatcher(sessions, clock, [chan], concurrency=8)
    await d.drain()
    assert chan.delivered_to() == {addr: 1 for _, addr in recipients}
    rows = await outbox_rows(sessions)
    assert {r.status for r in rows} == {OutboxStatus.SENT}
    assert all(r.sent_at == clock.now() and r.platform_message_id for r in rows)


async def test_not_before_in_the_future_waits_for_the_clock(sessions, clock) -> None:
    pid = await add_person(sessions, "7", clock.now())
    await enqueue_many(sessions, [(pid, "7")], clock.now(),
                       not_before=clock.now() + timedelta(hours=3))
    chan = ScriptedChannel()
    d = Dispatcher(sessions, clock, [chan])
    await d.drain()
    assert chan.calls == []
    clock.advance(hours=3)
    await d.drain()
    assert chan.delivered_to() == {"7": 1}


async def test_429_waits_retry_after_then_delivers(sessions, clock) -> None:
    pid = await add_person(sessions, "5", clock.now())
    await enqueue_many(sessions, [(pid, "5")], clock.now())
    chan = ScriptedChannel(script={"5": [RetryAfter(7)]})
    d = Dispatcher(sessions, clock, [chan])
    await d.run_once()
    [row] = await outbox_rows(sessions)
    assert row.status == OutboxStatus.PENDING
    assert row.not_before == clock.now() + timedelta(seconds=7)
    assert "429" in row.last_error
    assert d._pacers["telegram"].delay() > 6  # the whole channel pauses, not only this chat
    clock.advance(seconds=7)
    d._pacers["telegram"]._paused_until = 0  # real time is not what this test is about
    await d.drain()
    [row] = await outbox_rows(sessions)
    assert row.status == OutboxStatus.SENT and row.attempts == 2
    assert chan.delivered_to() == {"5": 2}  # one refused, one delivered


async def test_transient_failures_back_off_then_give_up_keeping_the_reason(sessions, clock) -> None:
    pid = await add_person(sessions, "9", clock.now())
    await enqueue_many(sessions, [(pid, "9")], clock.now())
    chan = ScriptedChannel(script={"9": [Transient("502 Bad Gateway")] * 3})
    d = Dispatcher(sessions, clock, [chan], max_attempts=3)
    waits = []
    for _ in range(3):
        await d.run_once()
        [row] = await outbox_rows(sessions)
        waits.append((row.not_before - clock.now()).total_seconds())
        clock.set(row.not_before)
    assert row.status == OutboxStatus.FAILED and row.last_error == "502 Bad Gateway"
    assert 0 < waits[0] < waits[1]  # growing backoff
    assert len(chan.calls) == 3


async def test_transient_then_success(sessions, clock) -> None:
    pid = await add_person(sessions, "11", clock.now())
    await enqueue_many(sessions, [(pid, "11")], clock.now())
    chan = ScriptedChannel(script={"11": [Transient("timeout")]})
    d = Dispatcher(sessions, clock, [chan])
    await d.run_once()
    clock.advance(minutes=1)
    await d.drain()
    [row] = await outbox_rows(sessions)
    assert row.status == OutboxStatus.SENT and row.attempts == 2


async def test_blocked_person_is_marked_and_skipped_afterwards(sessions, clock) -> None:
    pid = await add_person(sessions, "13", clock.now())
    await enqueue_many(sessions, [(pid, "13")], clock.now())
    chan = ScriptedChannel(script={"13": [Blocked("Forbidden: bot was blocked by the user")]})
    d = Dispatcher(sessions, clock, [chan])
    await d.drain()
    p = await person(sessions, pid)
    assert p is not None and not p.reachable and "blocked" in p.unreachable_reason
    await enqueue_many(sessions, [(pid, "13")], clock.now(), key_prefix="second")
    await d.drain()
    rows = await outbox_rows(sessions)
    assert [r.status for r in rows] == [OutboxStatus.FAILED, OutboxStatus.FAILED]
    assert rows[1].last_error == "person unreachable"
    assert len(chan.calls) == 1  # the second was never attempted


async def test_rejected_request_fails_with_reason(sessions, clock) -> None:
    pid = await add_person(sessions, "15", clock.now())
    await enqueue_many(sessions, [(pid, "15")], clock.now())
    chan = ScriptedChannel(script={"15": [Rejected("Bad Request: chat not found")]})
    await Dispatcher(sessions, clock, [chan]).drain()
    [row] = await outbox_rows(sessions)
    assert row.status == OutboxStatus.FAILED and row.last_error == "Bad Request: chat not found"


async def test_expired_message_is_dropped_not_sent(sessions, clock) -> None:
    pid = await add_person(sessions, "17", clock.now())
    await enqueue_many(sessions, [(pid, "17")], clock.now() - timedelta(hours=2),
                       expires_at=clock.now() - timedelta(minutes=1))
    chan = ScriptedChannel()
    await Dispatcher(sessions, clock, [chan]).drain()
    [row] = await outbox_rows(sessions)
    assert row.status == OutboxStatus.DROPPED and chan.calls == []


async def test_rows_a_dead_process_was_sending_are_never_resent(sessions, clock) -> None:
    pid = await add_person(sessions, "19", clock.now())
    await enqueue_many(sessions, [(pid, "19"), (pid, "19")], clock.now())
    async with sessions() as s:
        first = (await outbox_rows(sessions))[0].id
        await outbox.claim(s, [first], "dead-worker", clock.now(), timedelta(seconds=60))
        await s.commit()
    clock.advance(minutes=5)  # the dead worker's lease ran out
    chan = ScriptedChannel()
    d = Dispatcher(sessions, clock, [chan])
    assert await d.recover() == 1
    await d.drain()
    rows = await outbox_rows(sessions)
    assert [r.status for r in rows] == [OutboxStatus.UNCERTAIN, OutboxStatus.SENT]
    assert len(chan.calls) == 1


async def test_a_live_workers_claim_is_left_alone(sessions, clock) -> None:
    pid = await add_person(sessions, "21", clock.now())
    await enqueue_many(sessions, [(pid, "21")], clock.now())
    async with sessions() as s:
        rid = (await outbox_rows(sessions))[0].id
        await outbox.claim(s, [rid], "other-live-worker", clock.now(), timedelta(seconds=60))
        await s.commit()
    d = Dispatcher(sessions, clock, [ScriptedChannel()])
    assert await d.recover() == 0


async def test_two_dispatchers_on_one_database_send_each_message_once(sessions, clock) -> None:
    recipients = [(await add_person(sessions, str(5000 + i), clock.now()), str(5000 + i))
                  for i in range(120)]
    await enqueue_many(sessions, recipients, clock.now())
    class Slow(ScriptedChannel):
        async def deliver(self, row: OutboxMessage):
            await asyncio.sleep(0.001)
            return await super().deliver(row)

    a, b = Slow(), Slow()
    da = Dispatcher(sessions, clock, [a], concurrency=4, worker_id="A")
    db_ = Dispatcher(sessions, clock, [b], concurrency=4, worker_id="B")
    await asyncio.gather(da.drain(), db_.drain())
    total = a.delivered_to() + b.delivered_to()
    assert total == {addr: 1 for _, addr in recipients}
    rows = await outbox_rows(sessions)
    assert {r.status for r in rows} == {OutboxStatus.SENT}
    assert {r.claimed_by for r in rows} <= {"A", "B"}


async def test_dispatcher_keeps_the_channel_rate_in_every_second(sessions, clock) -> None:
    recipients = [(await add_person(sessions, str(7000 + i), clock.now()), str(7000 + i))
                  for i in range(130)]
    await enqueue_many(sessions, recipients, clock.now())
    chan = ScriptedChannel(limits=Limits(per_second=100))
    await Dispatcher(sessions, clock, [chan], concurrency=16).drain()
    times = sorted(t for _, t in chan.calls)
    assert len(times) == 130
    worst = max(sum(1 for u in times[i:] if u - t < 1.0) for i, t in enumerate(times))
    assert worst <= window_cap(100)  # 96: the cap keeps a margin under the limit


def test_pacer_spaces_sends_and_pauses_on_429() -> None:
    now = [0.0]
    p = Pacer(30, lambda: now[0])
    now[0] = 10.0
    assert p.reserve() == pytest.approx(10.05)  # from idle: time to claim the rows first
    assert p.delay() == pytest.approx(0.05 + 1 / 29)  # then the one-second cap, 29 at 30/s
    assert p.reserve() == pytest.approx(10.05 + 1 / 29)
    now[0] += 1
    assert p.delay() == 0
    p.pause(5)
    assert p.delay() == pytest.approx(5)


def test_chat_buckets_allow_a_short_burst_then_one_per_second() -> None:
    now = [0.0]
    b = ChatBuckets(Limits(per_chat_per_second=1, chat_burst=3), lambda a: a.startswith("-"),
                    lambda: now[0])
    for _ in range(3):
        assert b.ready("42")
        b.take("42")
    assert not b.ready("42") and b.wait("42") == pytest.approx(1.0)
    now[0] += 1.0
    assert b.ready("42")
    b.take("-100")  # groups: 20 a minute, no burst
    assert not b.ready("-100") and b.wait("-100") == pytest.approx(3.0)
    for _ in range(10):  # ten replies sent at once (they do not wait for tokens)
        b.take("7")
    assert b.wait("7") == pytest.approx(1.0)  # the next notice waits a second, not ten


async def test_unknown_channel_rows_are_left_pending(sessions, clock) -> None:
    await enqueue_many(sessions, [(None, "x")], clock.now(), channel="whatsapp")
    await Dispatcher(sessions, clock, [ScriptedChannel()]).run_once()
    [row] = await outbox_rows(sessions)
    assert row.status == OutboxStatus.PENDING


async def test_status_counts(sessions, clock) -> None:
    pid = await add_person(sessions, "23", clock.now())
    await enqueue_many(sessions, [(pid, "23")] * 3, clock.now())
    async with sessions() as s:
        await s.execute(update(OutboxMessage).where(OutboxMessage.id == 1)
                        .values(status=OutboxStatus.FAILED))
        await s.commit()
        counts = await outbox.counts(s)
    assert counts[("broadcast", "failed")] == 1 and counts[("broadcast", "pending")] == 2


async def test_delivered_result_records_platform_id(sessions, clock) -> None:
    pid = await add_person(sessions, "25", clock.now())
    await enqueue_many(sessions, [(pid, "25")], clock.now())
    chan = ScriptedChannel(script={"25": [Delivered("777")]})
    await Dispatcher(sessions, clock, [chan]).drain()
    [row] = await outbox_rows(sessions)
    assert row.platform_message_id == "777"
