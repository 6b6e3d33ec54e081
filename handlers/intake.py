"""Handling what the channels stored: every process takes the oldest updates it may (at most
one per person at a time, see storage.intake), hands each to the core and sends the replies.
A channel acknowledges an update to its platform once ``receive`` returns: from then on the
database has it, and a crash only delays its answer until a process handles it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from typing import Protocol

from handlers.core import Core
from storage import intake
from storage.failures import StorageUnavailable, reason, unavailable
from storage.models import OutboxMessage
from storage.outbox import ReplyClaim

log = logging.getLogger(__name__)

CONCURRENCY = 16  # people handled side by side by one process
IDLE_SECONDS = 1.0  # how often an idle process looks for what another one stored
SWEEP_SECONDS = 5.0  # how often it looks for updates held by a process that died
RETRY_MAX = 30.0  # the longest pause while the database refuses writes


class Replies(Protocol):
    """What sends the replies at once (scheduler.dispatcher.Dispatcher)."""

    @property
    def worker_id(self) -> str: ...

    def claim_for(self, channel: str) -> ReplyClaim | None:
        """Replies claimed to send at once, or None: the channel's sender is another
        process, and they are queued for it."""
        ...

    async def send_replies(self, rows: list[OutboxMessage]) -> None:
        """Send them, or wait until the channel's sender has."""
        ...

    def wake(self) -> None: ...


class Intake:
    """Stores what the channels of this process receive, and handles what is stored for
    them, whichever process stored it."""

    def __init__(self, core: Core, replies: Replies, channels: Sequence[str], *,
                 concurrency: int = CONCURRENCY) -> None:
        self.core = core
        self.replies = replies
        self.channels = tuple(channels)
        self.concurrency = concurrency
        self._wake = asyncio.Event()
        self._stopping = False
        self._running: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._sent: list[int] = []  # handled here, replies sent: to let go of
        self._claiming = asyncio.Lock()
        self._outage: str | None = None

    @property
    def worker(self) -> str:
        return self.replies.worker_id

    async def receive(self, updates: Sequence[intake.Received]) -> int:
        """Store what a channel received, in one unit of work; returns how many were new.
        Raises StorageUnavailable when the database refuses: nothing was stored, and the
        channel must not acknowledge any of them."""
        if not updates:
            return 0
        # What this process can take of them is claimed in the same unit of work: one
        # transaction and no wait for the worker's next look (SQLite has one writer). The
        # lock keeps this and the worker's own claims within ``concurrency`` together, and
        # lets stop() know that no claim is half made. While another store or claim holds
        # it, this one only stores, without waiting its turn: under load (many processes, a
        # busy sender) the webhooks queued behind the lock for seconds, one transaction at
        # a time, and the worker claims what they stored a moment later anyway.
        if self._claiming.locked():
            new, _ = await self._store(updates, [], 0)
            self._wake.set()
            return new
        async with self._claiming:
            free = 0 if self._stopping or self._running is None else (
                self.concurrency - len(self._tasks))
            sent, self._sent = self._sent, []
            try:
                new, taken = await self._store(updates, sent, free)
            except Exception as exc:
                self._sent = sent + self._sent
                if isinstance(exc, StorageUnavailable):
                    raise
                # Taking them is the worker's to retry; storing them must not fail for it.
                log.exception("claiming stored updates failed; the worker takes them later")
                new, taken = await self._store(updates, [], 0)
            except BaseException:
                self._sent = sent + self._sent
                raise
            self._begin(taken)
        if new > len(taken):
            self._wake.set()  # stored here but not taken yet: the worker looks again
        return new

    async def _store(self, updates: Sequence[intake.Received], sent: list[int], free: int
                     ) -> tuple[int, list[intake.Claimed]]:
        """Store, let go of what was handled, and claim up to ``free``: one transaction.
        Raises StorageUnavailable when the database refuses (nothing was stored)."""
        try:
            async with self.core.services.sessions() as s:
                now = self.core.services.clock.now()
                new = await intake.store(s, updates, now)
                await intake.release(s, sent, self.worker)
                taken = (await intake.claim(s, self.worker, now, free, self.channels)
                         if new and free > 0 else [])
                await s.commit()
        except StorageUnavailable:
            raise
        except Exception as exc:
            if unavailable(exc):
                raise StorageUnavailable(reason(exc)) from exc
            raise
        return new, taken

    def wake(self) -> None:
        self._wake.set()

    async def settled(self, poll: float = 0.01) -> None:
        """Wait until no stored update is left to handle and this process sends no reply to
        one: what a test or a benchmark waits for before counting what was sent."""
        while True:
            if not self._tasks:
                async with self.core.services.sessions() as s:
                    if not await intake.pending(s, self.channels) and not self._tasks:
                        return
            await asyncio.sleep(poll)

    def start(self) -> None:
        """Take and handle stored updates until stopped; what a process that died left
        unhandled is taken too, at start-up and from time to time."""
        self._stopping = False
        self._running = asyncio.create_task(self._run(), name="intake")

    async def _run(self) -> None:
        pause = 1.0
        swept = float("-inf")
        while not self._stopping:
            self._wake.clear()
            try:
                sweep = time.monotonic() - swept > SWEEP_SECONDS
                async with self._claiming:
                    taken = await self._claim(sweep)
                    self._begin(taken)
                if sweep:
                    swept = time.monotonic()
                pause = 1.0
                if self._outage is not None:
                    log.warning("stored updates are taken again")
                    self._outage = None
            except Exception as exc:  # the database away: wait, and look again
                if unavailable(exc):
                    if self._outage is None:  # the channel says what to do about it
                        self._outage = reason(exc)
                        log.warning("cannot take stored updates (%s); trying again",
                                    self._outage)
                else:
                    log.exception("taking stored updates failed; trying again")
                await self._sleep(pause)
                pause = min(pause * 2, RETRY_MAX)
                continue
            # Fewer than asked for is all there is now; a task ending, an update stored
            # here, or the timeout (for what other processes stored) wakes this.
            await self._sleep(IDLE_SECONDS)

    def _begin(self, taken: list[intake.Claimed]) -> None:
        for entry in taken:
            task = asyncio.create_task(self._take(entry), name=f"intake-{entry.id}")
            self._tasks.add(task)
            task.add_done_callback(self._finished)

    async def stop(self, grace: float) -> None:
        """Stop taking updates; those being handled get ``grace`` seconds, the rest are let
        go of for the next process (or this one, restarted)."""
        self._stopping = True
        self._wake.set()
        async with self._claiming:
            pass  # a claim being made (a channel still receiving) has started its tasks
        if self._running is not None:
            # It ends between two claims: nothing it took is left without a task.
            await asyncio.gather(self._running, return_exceptions=True)
            self._running = None
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=grace)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        with contextlib.suppress(Exception):  # a process that died would leave them held too
            async with self.core.services.sessions() as s:
                await intake.release_held(s, self.worker)
                await s.commit()

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._wake.set()

    async def _claim(self, sweep: bool) -> list[intake.Claimed]:
        free = self.concurrency - len(self._tasks)
        sent, self._sent = self._sent, []
        try:
            async with self.core.services.sessions() as s:
                now = self.core.services.clock.now()
                await intake.release(s, sent, self.worker)
                if sweep and await intake.release_abandoned(s, now):
                    log.warning("took back updates a stopped process had not handled")
                taken = (await intake.claim(s, self.worker, now, free, self.channels)
                         if free > 0 else [])
                await s.commit()
        except BaseException:
            self._sent = sent + self._sent
            raise
        return taken

    async def _take(self, entry: intake.Claimed) -> None:
        rows: list[OutboxMessage] = []
        pause = 1.0
        while True:
            try:
                rows = await self.core.handle_stored(entry,
                                                     self.replies.claim_for(entry.channel))
                break
            except StorageUnavailable as exc:
                # Still held by this process: the person's next updates wait for this one.
                log.warning("update %s:%s not handled yet: %s", entry.channel, entry.key, exc)
                await asyncio.sleep(pause)
                pause = min(pause * 2, RETRY_MAX)
            except Exception:
                # Not the turn (the core apologises for those): the stored event itself. Taken
                # again it would fail again, and hold up every later update of that person.
                log.exception("stored update %s:%s cannot be handled; it is skipped",
                              entry.channel, entry.key)
                await self._skip(entry)
                break
        try:
            # Held until they are sent, by this process or the channel's sender: the
            # person's next update is answered after them.
            await self.replies.send_replies(rows)
        except Exception:  # the rows stay in the outbox: recovery or a retry sends them
            log.exception("replies to update %s:%s could not be sent now", entry.channel,
                          entry.key)
        finally:
            self._sent.append(entry.id)
            # What the update queued beyond its replies (a broadcast, invitations) starts now
            # rather than at the dispatcher's next idle check.
            self.replies.wake()

    async def _skip(self, entry: intake.Claimed) -> None:
        with contextlib.suppress(Exception):
            async with self.core.services.sessions() as s:
                await intake.mark_handled(s, entry, self.core.services.clock.now())
                await s.commit()
