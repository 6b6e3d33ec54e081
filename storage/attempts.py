"""Wrong codes counted, so that nobody can guess an invitation or a check-in code by trying
many: after too many a person waits, and after too many from everyone at once, everyone does.

Counted in the database, not in memory, so a restart forgets nothing and several processes
agree. A lockout is not a row of its own: it lasts while enough wrong codes are recent.
Repositories never commit: the caller's unit of work does."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import CodeAttempt

log = logging.getLogger(__name__)

# A person who mistypes a code from paper gets it right within two or three tries; five
# wrong in a quarter of an hour is guessing. Codes have 31^8 (invitations) or 19^6
# (check-in) values, so five tries every 15 minutes finds one in centuries, not days.
PERSON_LIMIT = 5
PERSON_WINDOW = timedelta(minutes=15)
# Everyone at once: a municipality's programme has a few hundred people, and even a busy
# day sees a handful of wrong codes a minute. 200 in 10 minutes is many chats guessing
# together (each under its own limit); everyone's lookups then wait the same way.
GLOBAL_LIMIT = 200
GLOBAL_WINDOW = timedelta(minutes=10)
WHO_MAX = 64  # CodeAttempt.who


@dataclass(frozen=True)
class Lock:
    until: datetime
    everyone: bool  # the global limit, not the person's own


async def _nth_latest(session: AsyncSession, n: int, since: datetime,
                      who: str | None = None) -> datetime | None:
    """The n-th most recent wrong code after ``since``: while there is one, there were at
    least n in the window, and the lock lasts until it leaves the window."""
    query = select(CodeAttempt.at).where(CodeAttempt.at > since)
    if who is not None:
        query = query.where(CodeAttempt.who == who)
    return await session.scalar(
        query.order_by(CodeAttempt.at.desc(), CodeAttempt.id.desc()).offset(n - 1).limit(1))


async def locked(session: AsyncSession, who: str, now: datetime) -> Lock | None:
    """Whether codes from ``who`` are refused now (without looking them up), and until when."""
    who = who[:WHO_MAX]
    everyone = await _nth_latest(session, GLOBAL_LIMIT, now - GLOBAL_WINDOW)
    own = await _nth_latest(session, PERSON_LIMIT, now - PERSON_WINDOW, who)
    locks = []
    if everyone is not None:
        locks.append(Lock(everyone + GLOBAL_WINDOW, everyone=True))
    if own is not None:
        locks.append(Lock(own + PERSON_WINDOW, everyone=False))
    return max(locks, key=lambda lock: lock.until) if locks else None


async def wrong(session: AsyncSession, who: str, now: datetime) -> Lock | None:
    """Count a wrong code; returns the lock it starts, if it starts one (the caller audits
    it). A code refused during a lock is not counted: it was never looked up."""
    who = who[:WHO_MAX]
    # Rows older than both windows count for nothing: pruned as new ones come.
    await session.execute(
        delete(CodeAttempt).where(CodeAttempt.at <= now - max(PERSON_WINDOW, GLOBAL_WINDOW)))
    session.add(CodeAttempt(who=who, at=now))
    await session.flush()
    lock = await locked(session, who, now)
    if lock is not None and lock.everyone:
        recent = await session.scalar(
            select(func.count(CodeAttempt.id)).where(CodeAttempt.at > now - GLOBAL_WINDOW))
        if recent == GLOBAL_LIMIT:  # this one reached it: said once, not at every refusal
            log.warning("%d wrong codes from everyone in %d minutes: every code lookup waits "
                        "until %s", GLOBAL_LIMIT, GLOBAL_WINDOW.seconds // 60,
                        lock.until.isoformat())
    return lock


async def right(session: AsyncSession, who: str) -> None:
    """A right code: the person's wrong ones are forgiven."""
    await session.execute(delete(CodeAttempt).where(CodeAttempt.who == who[:WHO_MAX]))
