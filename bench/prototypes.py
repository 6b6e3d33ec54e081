"""A proposed change to scheduler/dispatcher.py, tried out here so its effect can be
measured (python -m bench.bots convoca --prototype pipelined-dispatcher); the product code
is not touched. See BENCHMARKS.md, "Broadcast".

What it changes in Dispatcher.run_once/_send_wave:
- paced rows no longer go one wave of one row at a time (claim, send, record, then the next
  row): a wave of up to `concurrency` rows is claimed at once and each row's send waits for
  its own slot of the pacer, so the spacing is kept while the database work is shared;
- up to `inflight` waves are on the wire at the same time, so the claim and the record of
  one wave overlap the sends of the next;
- the rows a wave delivered are marked sent with one executemany UPDATE instead of one
  statement each."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import update

from scheduler.dispatcher import Delivered, Dispatcher
from storage import outbox
from storage.models import OutboxMessage, OutboxStatus


class PipelinedDispatcher(Dispatcher):
    inflight = 4

    async def run_once(self) -> int:
        now = self.clock.now()
        async with self.sessions() as s:
            candidates = await outbox.due_candidates(s, now, self.window, self._busy or None)
        if not candidates:
            return 0
        waves: list[asyncio.Task[int]] = []
        gate = asyncio.Semaphore(self.inflight)
        wave: list[tuple[OutboxMessage, float]] = []
        deferred: set[tuple[str, str]] = set()

        async def launch(batch: list[tuple[OutboxMessage, float]]) -> None:
            await gate.acquire()
            start = self._monotonic()
            task = asyncio.create_task(self._send_timed(batch, start))
            task.add_done_callback(lambda _t: gate.release())
            waves.append(task)

        for row in candidates:
            if self._stopping:
                break
            chan = row.channel
            if chan not in self.channels:
                continue
            buckets = self._buckets[chan]
            if (chan, row.address) in deferred or not buckets.ready(row.address):
                deferred.add((chan, row.address))
                continue
            pacer = self._pacers[chan]
            # The row's slot, as an absolute time: the pacer hands them out in sequence.
            slot = self._monotonic() + pacer.delay()
            pacer.take()
            buckets.take(row.address)
            self._busy.add(row.id)
            wave.append((row, slot))
            if len(wave) >= self.concurrency:
                await launch(wave)
                wave = []
        if wave:
            await launch(wave)
        settled = sum(await asyncio.gather(*waves)) if waves else 0
        if not settled and deferred:
            waits = [self._buckets[c].wait(a) for c, a in deferred]
            await asyncio.sleep(min(waits))
        return settled

    async def _send_timed(self, wave: list[tuple[OutboxMessage, float]], _start: float) -> int:
        now = self.clock.now()
        ids = [r.id for r, _ in wave]
        slots = {r.id: slot for r, slot in wave}
        try:
            async with self.sessions() as s:
                claimed = await outbox.claim(s, ids, self.worker_id, now, self.lease)
                people = await self._people(s, claimed)
                await s.commit()
            if not claimed:
                return 0

            async def one(row: OutboxMessage) -> Any:
                delay = slots[row.id] - self._monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                return await self._deliver_one(row, people.get(row.person_id))

            results = await asyncio.gather(*(one(r) for r in claimed))
            sent_at = self.clock.now()
            async with self.sessions() as s:
                delivered = [
                    {"id": row.id, "status": OutboxStatus.SENT, "sent_at": sent_at,
                     "platform_message_id": res.platform_id, "claimed_until": None,
                     "last_error": None}
                    for row, res in zip(claimed, results, strict=True)
                    if isinstance(res, Delivered)
                ]
                if delivered:
                    await s.execute(update(OutboxMessage), delivered)
                for row, res in zip(claimed, results, strict=True):
                    if not isinstance(res, Delivered):
                        await self._record(s, row, res)
                await s.commit()
            if self._on_sent:
                for row, res in zip(claimed, results, strict=True):
                    self._on_sent(row, res)
            return len(claimed)
        finally:
            self._busy.difference_update(ids)
