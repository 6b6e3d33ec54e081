"""The dispatcher's waves: in flight across passes, but a chat's messages in order, at most
MAX_WAVES at once, every send of a limited channel (replies too) under the one-second cap,
a 429 stopping the rest at once, and replies handed back when a handler is cancelled."""

from __future__ import annotations

import asyncio
import time

import pytest

from handlers.events import Outgoing
from locales import Msg
from scheduler.dispatcher import (
    MAX_WAVES,
    Delivered,
    Dispatcher,
    Limits,
    RetryAfter,
    window_cap,
)
from storage import outbox
from storage.models import OutboxMessage, OutboxStatus
from support import ScriptedChannel, add_person, enqueue_many, outbox_rows

pytestmark = pytest.mark.parametrize("any_db_url", ["sqlite"], indirect=True)


class Timed(ScriptedChannel):
    """Records when each send starts and ends, and how many are in flight at once."""

    def __init__(self, pause: float = 0.005, **kw: object) -> None:
        super().__init__(**kw)
        self.pause = pause
        self.spans: list[tuple[str, int, float, float]] = []
        self.in_flight = 0
        self.most_in_flight = 0

    async def deliver(self, row: OutboxMessage):
        start = time.monotonic()
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await asyncio.sleep(self.pause)
            return await super().deliver(row)
        finally:
            self.in_flight -= 1
            self.spans.append((row.address, row.id, start, time.monotonic()))


def worst_second(times: list[float]) -> int:
    times = sorted(times)
    return max(sum(1 for u in times[i:] if u - t < 1.0) for i, t in enumerate(times))


async def test_a_chats_messages_go_one_after_another_in_order(sessions, clock) -> None:
    ana = await add_person(sessions, "100", clock.now())
    others = [(await add_person(sessions, str(200 + i), clock.now()), str(200 + i))
              for i in range(5)]
    # Three for Ana first (her burst allows three at once), then the others.
    await enqueue_many(sessions, [(ana, "100")] * 3 + others, clock.now())
    chan = Timed(pause=0.02, limits=Limits(per_second=None, chat_burst=3))
    await Dispatcher(sessions, clock, [chan], concurrency=8).drain()
    mine = sorted((s for s in chan.spans if s[0] == "100"), key=lambda s: s[2])
    assert [s[1] for s in mine] == sorted(s[1] for s in mine)  # in the order queued
    for before, after in zip(mine, mine[1:], strict=False):
        assert after[2] >= before[3]  # the next starts only when the last has been sent
    assert len(chan.spans) == 8


async def test_no_more_than_max_waves_are_in_flight(sessions, clock) -> None:
    rows = [(await add_person(sessions, str(1000 + i), clock.now()), str(1000 + i))
            for i in range(400)]
    await enqueue_many(sessions, rows, clock.now())
    chan = Timed(pause=0.02, limits=Limits(per_second=None))
    d = Dispatcher(sessions, clock, [chan], concurrency=16, window=400)
    await d.drain()
    assert len(chan.spans) == 400
    assert 16 < chan.most_in_flight <= MAX_WAVES * 16


async def test_a_429_stops_the_other_sends_of_its_wave_at_once(sessions, clock) -> None:
    rows = [(await add_person(sessions, str(3000 + i), clock.now()), str(3000 + i))
            for i in range(40)]
    await enqueue_many(sessions, rows, clock.now())
    chan = Timed(pause=0.001, limits=Limits(per_second=100),
                 script={"3002": [RetryAfter(1.0)]})
    await Dispatcher(sessions, clock, [chan], concurrency=32).drain()
    [(_, _, _, refused_at)] = [s for s in chan.spans if s[0] == "3002"][:1]
    during = [s for s in chan.spans if refused_at < s[2] < refused_at + 0.9]
    assert during == []
    states = {r.address: r.status for r in await outbox_rows(sessions)}
    assert states.pop("3002") == OutboxStatus.PENDING  # again once the clock reaches it
    assert set(states.values()) == {OutboxStatus.SENT}


async def test_replies_count_against_the_cap_during_a_broadcast(sessions, clock) -> None:
    rows = [(await add_person(sessions, str(4000 + i), clock.now()), str(4000 + i))
            for i in range(30)]
    await enqueue_many(sessions, rows, clock.now())
    chan = Timed(pause=0.0, limits=Limits(per_second=10))
    d = Dispatcher(sessions, clock, [chan], concurrency=8)
    replies = []
    async with sessions() as s:
        for i in range(12):
            env = outbox.Envelope(None, "telegram", str(9000 + i),
                                  Outgoing(text=Msg("input.not_understood")).to_json(), "es")
            values = outbox.row_values(env, key=f"reply:{i}", kind="reply", now=clock.now(),
                                       urgent=True, claim=d.reply_claim)
            replies.append(OutboxMessage(id=await outbox.insert_row(s, values), **values))
        await s.commit()

    async def replying() -> None:
        for r in replies:
            await d.deliver_claimed([r])
            await asyncio.sleep(0.1)

    await asyncio.gather(d.drain(max_seconds=20), replying())
    assert len(chan.spans) == 42
    assert worst_second([s[2] for s in chan.spans]) <= window_cap(10)


async def test_a_cancelled_handler_hands_back_the_replies_it_had_not_begun(sessions,
                                                                          clock) -> None:
    started, release = asyncio.Event(), asyncio.Event()

    class Held(ScriptedChannel):
        async def deliver(self, row: OutboxMessage):
            started.set()
            await release.wait()
            return Delivered("1")

    d = Dispatcher(sessions, clock, [Held()])
    rows = []
    async with sessions() as s:
        for i in range(3):
            env = outbox.Envelope(None, "telegram", "55",
                                  Outgoing(text=Msg("input.not_understood")).to_json(), "es")
            values = outbox.row_values(env, key=f"reply:55:{i}", kind="reply", now=clock.now(),
                                       urgent=True, claim=d.reply_claim)
            rows.append(OutboxMessage(id=await outbox.insert_row(s, values), **values))
        await s.commit()
    task = asyncio.create_task(d.deliver_claimed(rows))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    states = [r.status for r in await outbox_rows(sessions)]
    # The first was on its way: recovery will ask Telegram. The others go back to the queue.
    assert states == [OutboxStatus.SENDING, OutboxStatus.PENDING, OutboxStatus.PENDING]
