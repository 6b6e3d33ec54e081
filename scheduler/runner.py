"""The scheduler: APScheduler drives time, the database says what is due.

APScheduler's job stores cannot be shared between processes, so nothing lives only there:
at start and on every tick the due notices are recomputed from the database, and each is
queued in the outbox under a stable idempotency key, so ticks in two processes, or a tick
repeated after a restart, queue it once. With several processes the tick runs in one of them only, the one holding the
scheduler's lease (scheduler.leases), and checks in its own unit of work that it still does:
the jobs it runs beside the notices need not be idempotent."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from scheduler.leases import Lease
from scheduler.planner import Notice, Planner
from storage import intake, leases, outbox
from storage.clock import Clock
from storage.models import OutboxStatus

log = logging.getLogger(__name__)

Composer = Callable[[AsyncSession, Notice, datetime], Awaitable[dict[str, Any] | None]]
AfterQueued = Callable[[AsyncSession, Notice, datetime], Awaitable[None]]
# Other time-driven work done in the tick's unit of work (e.g. inviting to the next meeting of
# a series once it is near); returns how many messages it queued.
Job = Callable[[AsyncSession, datetime], Awaitable[int]]


@dataclass
class TickResult:
    queued: list[Notice]
    dropped: list[Notice]


def _latest_of_each_group(notices: list[Notice]) -> dict[str, Notice]:
    latest: dict[str, Notice] = {}
    for n in notices:
        if n.group is not None and (n.group not in latest or n.fire_at > latest[n.group].fire_at):
            latest[n.group] = n
    return latest


class NoticeScheduler:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        clock: Clock,
        compose: Composer,
        *,
        on_queued: Callable[[], None] | None = None,
        after_queued: AfterQueued | None = None,
        jobs: list[Job] | None = None,
        tick_seconds: float = 60.0,
        lease: Lease | None = None,
    ) -> None:
        self.lease = lease
        self.jobs = jobs or []
        self.sessions = sessions
        self.clock = clock
        self.compose = compose
        self.after_queued = after_queued
        self.on_queued = on_queued
        self.tick_seconds = tick_seconds
        self._aps: AsyncIOScheduler | None = None

    async def tick(self) -> TickResult:
        """Queue every notice that is due now; one unit of work. Nothing when another
        process holds the scheduler's lease: that one ticks."""
        now = self.clock.now()
        queued: list[Notice] = []
        dropped: list[Notice] = []
        lease = self.lease
        if lease is not None and not lease.held():
            return TickResult(queued, dropped)
        async with self.sessions() as s:
            if lease is not None and (lease.epoch is None or not await leases.hold_during(
                    s, lease.name, lease.holder, lease.epoch, now)):
                return TickResult(queued, dropped)
            notices = await Planner(s).due(now)
            have = await outbox.existing_keys(s, [n.key for n in notices])
            fresh = [n for n in notices if n.key not in have]
            latest = _latest_of_each_group(fresh)
            for n in fresh:
                if n.key in have:
                    continue
                have.add(n.key)
                reason = None
                if not n.makes_sense(now):
                    reason = f"due {n.fire_at.isoformat()}, no longer makes sense"
                elif n.group is not None and latest[n.group] is not n:
                    reason = f"superseded by {latest[n.group].key}"
                if reason is not None:
                    log.info("dropped %s for person %s (%s)", n.kind, n.person_id, reason)
                    await outbox.enqueue_for_person(
                        s, n.person_id, {}, key=n.key, kind=n.kind, now=now,
                        status=OutboxStatus.DROPPED, essential=True, reason=reason,
                    )
                    dropped.append(n)
                    continue
                try:
                    async with s.begin_nested():
                        payload = await self.compose(s, n, now)
                except Exception:  # one broken notice must not hold back the others
                    log.exception("could not compose %s (%s)", n.kind, n.key)
                    continue
                if payload is None:
                    continue
                new_id = await outbox.enqueue_for_person(
                    s, n.person_id, payload, key=n.key, kind=n.kind, now=now,
                    expires_at=n.expires_at, urgent=n.urgent, essential=n.essential,
                    zone=n.zone,
                )
                if new_id is not None:
                    queued.append(n)
                    if self.after_queued:
                        await self.after_queued(s, n, now)
            extra = 0
            for job in self.jobs:
                try:
                    async with s.begin_nested():
                        extra += await job(s, now)
                except Exception:  # like a notice, one failing job must not stop the rest
                    log.exception("scheduler job %s failed", getattr(job, "__name__", job))
            await intake.forget_handled(s, now)
            await s.commit()
        if (queued or extra) and self.on_queued:
            self.on_queued()
        return TickResult(queued, dropped)

    async def next_fire(self) -> datetime | None:
        async with self.sessions() as s:
            return await Planner(s).next_fire(self.clock.now())

    # APScheduler ----------------------------------------------------------------------------

    def start(self) -> None:
        if self.lease is not None:
            self.lease.start()
        aps = AsyncIOScheduler(timezone="UTC")
        aps.add_job(self._tick_and_plan_wakeup, "interval", seconds=self.tick_seconds,
                    id="tick", max_instances=1, coalesce=True, next_run_time=datetime.now().astimezone())
        aps.start()
        self._aps = aps

    async def _tick_and_plan_wakeup(self) -> None:
        try:
            if self.lease is not None and not self.lease.held():
                await self.lease.attempt()  # the first tick comes before the keeper's first try
            await self.tick()
            if self.lease is not None and not self.lease.held():
                return  # the holder plans the next one
            nxt = await self.next_fire()
        except Exception:  # the next tick tries again; nothing is lost, the DB holds it all
            log.exception("scheduler tick failed")
            return
        if nxt is not None and self._aps is not None:
            # Wake exactly at the next fire time rather than up to a tick later.
            delay = (nxt - self.clock.now()).total_seconds()
            if 0 < delay < self.tick_seconds:
                self._aps.add_job(self._tick_and_plan_wakeup, "date",
                                  run_date=datetime.now().astimezone() + timedelta(seconds=delay),
                                  id="wakeup", replace_existing=True)

    async def stop(self) -> None:
        if self._aps is not None:
            self._aps.shutdown(wait=False)
            self._aps = None
        if self.lease is not None:
            await self.lease.stop()
