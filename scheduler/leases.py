"""A lease kept by this process: taken when free, renewed while held, and trusted only on
this process's own monotonic clock.

Why a table (storage.leases) rather than PostgreSQL's advisory locks: an advisory lock
belongs to one connection, so the holder cannot tell it lost the lock until it uses that
connection again, and a stalled process would go on sending; a lease with a time-to-live
lets the holder fence itself (it stops ``margin`` seconds before anyone may take over), works
the same on SQLite, and shows who holds what (`convoca status`).

The fence: a renewal that *starts* at monotonic time t keeps the lease valid here until
t + ttl - margin. Another process may take it only once the stored expiry (the holder's
wall clock at the renewal, + ttl) has passed on its own wall clock, so with clocks agreeing
within ``margin`` the two never overlap, and the margin (at least a second) also keeps the
old holder's last sends and the new holder's first out of one rate window."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage import leases
from storage.clock import Clock

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LeaseTimes:
    """How long a lease lasts unless renewed, how often it is renewed (and a free one
    tried), and how early before its end the holder stops trusting it."""

    ttl: float = 10.0
    renew_every: float = 2.0
    margin: float = 2.0

    def __post_init__(self) -> None:
        if self.margin < 1.0 or self.renew_every <= 0 or \
                self.renew_every + self.margin >= self.ttl:
            raise ValueError("lease times need margin >= 1 and renew_every + margin < ttl")


# A takeover waits this long before the new holder acts: whatever the old one sent last is
# then out of the platform's one-second window (a holder found dead on this machine, or one
# that gave the lease up, is taken over at once, without the margin's wait, but not this).
SETTLE_GAP = 1.0

Gained = Callable[[str | None], Awaitable[None]]


class Lease:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], clock: Clock, name: str,
                 holder: str, times: LeaseTimes, *, on_gained: Gained | None = None,
                 on_changed: Callable[[], None] | None = None,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.sessions = sessions
        self.clock = clock
        self.name = name
        self.holder = holder
        self.times = times
        self._on_gained = on_gained
        self._on_changed = on_changed
        self._now = monotonic
        self._epoch: int | None = None
        self._valid_until = float("-inf")
        self._usable_from = float("inf")
        self._task: asyncio.Task[None] | None = None

    @property
    def epoch(self) -> int | None:
        return self._epoch

    def held(self) -> bool:
        """Whether this process may act on the lease now: taken, settled after a takeover,
        and not past its fence."""
        now = self._now()
        return self._epoch is not None and self._usable_from <= now < self._valid_until

    def valid_for(self) -> float:
        """Seconds left before the fence (0 when not held)."""
        return max(0.0, self._valid_until - self._now()) if self.held() else 0.0

    async def attempt(self) -> bool:
        """Take or renew the lease once; whether it is held afterwards. A database that
        does not answer leaves the lease to lapse at its fence."""
        started = self._now()
        ttl = timedelta(seconds=self.times.ttl)
        try:
            async with self.sessions() as s:
                taken = await leases.take(s, self.name, self.holder, self.clock.now(), ttl)
                await s.commit()
        except Exception as exc:
            log.warning("could not renew the lease %s (%s: %s)", self.name,
                        type(exc).__name__, exc)
            return self.held()
        was = self._epoch
        if taken is None:
            if was is not None:
                log.warning("lost the lease %s: another process holds it", self.name)
                self._lose()
            return False
        self._valid_until = started + self.times.ttl - self.times.margin
        if taken.renewed and was == taken.epoch:
            return self.held()
        # Newly ours (or ours again after a lapse): nobody acts on it until what the
        # previous holder left in flight is settled, and its last sends are a window old.
        self._epoch = taken.epoch
        self._usable_from = float("inf")
        log.info("took the lease %s (from %s)", self.name, taken.previous or "nobody")
        if self._on_gained is not None:
            # Settling may take longer than the lease (a probe per message in flight): it
            # is renewed meanwhile, or another process would take it and settle the same.
            renewing = asyncio.create_task(self._renew_while_settling(taken.epoch))
            try:
                await self._on_gained(taken.previous)
            except Exception:  # tried again at the next renewal, as a takeover anew
                log.exception("settling after taking the lease %s failed", self.name)
                self._epoch = None
                return False
            finally:
                renewing.cancel()
                await asyncio.gather(renewing, return_exceptions=True)
        # Any earlier holding, given up cleanly (no holder left) or our own that lapsed, may
        # have sent within the last second: only the lease's very first holder acts at once.
        gap = SETTLE_GAP if taken.epoch > 1 or taken.renewed else 0.0
        self._usable_from = max(started + gap, self._now()) if gap else self._now()
        if self._on_changed is not None:
            self._on_changed()
        return self.held()

    async def _renew_while_settling(self, epoch: int) -> None:
        ttl = timedelta(seconds=self.times.ttl)
        while True:
            await asyncio.sleep(self.times.renew_every)
            started = self._now()
            try:
                async with self.sessions() as s:
                    kept = await leases.renew(s, self.name, self.holder, epoch,
                                              self.clock.now(), ttl)
                    await s.commit()
            except Exception as exc:
                log.warning("could not renew the lease %s (%s)", self.name, exc)
                continue
            if kept:
                self._valid_until = started + self.times.ttl - self.times.margin

    def _lose(self) -> None:
        self._epoch = None
        self._valid_until = float("-inf")
        self._usable_from = float("inf")
        if self._on_changed is not None:
            self._on_changed()

    async def keep(self) -> None:
        """Take the lease when free and renew it while held, until cancelled."""
        while True:
            await self.attempt()
            if self._epoch is not None and not self.held() and \
                    self._usable_from > self._now():
                # Settled and waiting out the gap: be usable the moment it ends.
                await asyncio.sleep(max(0.0, self._usable_from - self._now()))
                if self._on_changed is not None:
                    self._on_changed()
                await asyncio.sleep(max(0.0, self.times.renew_every - SETTLE_GAP))
                continue
            await asyncio.sleep(self.times.renew_every)

    def start(self) -> None:
        self._task = asyncio.create_task(self.keep(), name=f"lease-{self.name}")

    async def stop(self) -> None:
        """Stop renewing and let the lease go for the next holder at once."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        epoch, self._epoch = self._epoch, None
        self._valid_until = float("-inf")
        if epoch is None:
            return
        with contextlib.suppress(Exception):  # unreleased, it lapses by itself
            async with self.sessions() as s:
                await leases.give_up(s, self.name, self.holder, epoch, self.clock.now())
                await s.commit()
