"""The intake: every incoming update, stored before its platform is told it arrived, then
claimed and handled once, in order per address, by whichever process gets to it first.

A row is claimable when it is not handled, nobody holds it (or their lease ran out), and
every earlier row of its address is handled and let go of: a process keeps its claim on a
handled row until the replies are sent, so the address's next update, even taken by another
process, is answered after them. Never commits: the caller's unit of work does."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, delete, exists, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from storage import outbox
from storage.db import insert_for
from storage.models import IncomingUpdate, Worker

# Telegram keeps an undelivered update for 24 hours; after a week without updates it may
# number them afresh, so a key is remembered long enough for any redelivery, and no longer.
UPDATE_WINDOW = timedelta(hours=48)
LEASE = timedelta(seconds=120)  # a turn that reads a big document takes seconds, not minutes

_table = IncomingUpdate.__table__


@dataclass(frozen=True)
class Received:
    """One update as a channel received it: its key (unique per channel), whose it is, what
    the platform sent and the neutral event it makes."""

    channel: str
    key: str
    address: str
    payload: dict[str, Any]
    event: dict[str, Any]


@dataclass(frozen=True)
class Claimed:
    """A stored update this process holds, to handle."""

    id: int
    channel: str
    address: str
    key: str
    event: dict[str, Any]
    worker: str


def _insert(dialect: str) -> Any:
    insert = insert_for(dialect)
    return insert(_table).on_conflict_do_nothing(index_elements=["channel", "key"])


async def store(session: AsyncSession, updates: Iterable[Received], now: datetime) -> int:
    """Store what arrived, in the order given; an update stored before (offered again by its
    platform) is left as it is. Returns how many were new."""
    rows = [dict(channel=u.channel, key=u.key, address=u.address, payload=u.payload,
                 event=u.event, received_at=now, handled_at=None, claimed_by=None,
                 claimed_until=None) for u in updates]
    new = 0
    stmt = _insert(session.bind.dialect.name)
    for row in rows:  # one by one: the ids keep the order they came in
        result = await session.execute(stmt, row)
        new += result.rowcount or 0
    return new


async def record_handled(session: AsyncSession, update: Received, now: datetime) -> bool:
    """Store an update as handled in the unit of work that handles it (a channel with no
    platform to acknowledge, such as the console); False when it was handled before."""
    result = await session.execute(_insert(session.bind.dialect.name), dict(
        channel=update.channel, key=update.key, address=update.address,
        payload=update.payload, event=update.event, received_at=now, handled_at=now,
        claimed_by=None, claimed_until=None))
    return bool(result.rowcount)


_earlier = aliased(IncomingUpdate)
# An earlier row of the same address still being handled, or whose replies are being sent.
_WAITS = exists().where(
    _earlier.channel == IncomingUpdate.channel, _earlier.address == IncomingUpdate.address,
    _earlier.id < IncomingUpdate.id,
    or_(_earlier.handled_at.is_(None),
        and_(_earlier.claimed_by.is_not(None), _earlier.claimed_until >= bindparam("now"))))
_FREE = or_(IncomingUpdate.claimed_by.is_(None), IncomingUpdate.claimed_until < bindparam("now"))
_CLAIMS: dict[str, Any] = {}


def _claim_statement(dialect: str) -> Any:
    """One statement: pick the oldest claimable rows and claim them. Only the oldest
    unhandled row of an address can pass ``_WAITS``, so it claims at most one per address.
    On PostgreSQL two processes may pick the same rows at once: SKIP LOCKED passes over the
    ones another is claiming, and the outer condition, checked again on the row, refuses one
    that was claimed meanwhile."""
    stmt = _CLAIMS.get(dialect)
    if stmt is None:
        pick = (select(IncomingUpdate.id)
                .where(IncomingUpdate.handled_at.is_(None), _FREE, ~_WAITS,
                       IncomingUpdate.channel.in_(bindparam("channels", expanding=True)))
                .order_by(IncomingUpdate.id).limit(bindparam("limit")))
        if dialect == "postgresql":
            pick = pick.with_for_update(skip_locked=True)
        # A CTE, evaluated once: as a subquery PostgreSQL may run it again for each row,
        # and then claim more than the limit.
        picked = pick.cte("picked").prefix_with("MATERIALIZED")
        stmt = _CLAIMS[dialect] = (
            update(_table)
            .where(_table.c.id == picked.c.id, _table.c.handled_at.is_(None),
                   or_(_table.c.claimed_by.is_(None),
                       _table.c.claimed_until < bindparam("now")))
            .values(claimed_by=bindparam("worker"), claimed_until=bindparam("until"))
            .returning(_table.c.id, _table.c.channel, _table.c.address, _table.c.key,
                       _table.c.event))
    return stmt


async def claim(session: AsyncSession, worker: str, now: datetime, limit: int,
                channels: Iterable[str] = ("telegram",), lease: timedelta = LEASE
                ) -> list[Claimed]:
    """Claim for ``worker`` up to ``limit`` updates of these channels (the ones whose
    replies it can send), the oldest first, at most one per address: an address's next
    update waits until the one before is handled and its replies sent."""
    rows = (await session.execute(_claim_statement(session.bind.dialect.name), {
        "now": now, "limit": limit, "channels": list(channels), "worker": worker,
        "until": now + lease})).all()
    return sorted((Claimed(row_id, channel, address, key, event, worker)
                   for row_id, channel, address, key, event in rows), key=lambda c: c.id)


_MARK = (
    update(_table)
    .where(_table.c.id == bindparam("row_id"), _table.c.handled_at.is_(None),
           _table.c.claimed_by == bindparam("worker"))
    .values(handled_at=bindparam("now"))
)


async def mark_handled(session: AsyncSession, row: Claimed, now: datetime) -> bool:
    """Mark a claimed update handled, in the unit of work of its turn; False when it is not
    this process's to handle any more (handled already, or its lease ran out and another
    process took it), and then the turn must not be kept."""
    result = await session.execute(_MARK, {"row_id": row.id, "worker": row.worker, "now": now})
    return bool(result.rowcount)


async def release(session: AsyncSession, ids: Iterable[int], worker: str) -> None:
    """Let go of handled updates whose replies are sent: the address's next one may go."""
    ids = list(ids)
    if ids:
        await session.execute(update(IncomingUpdate)
                              .where(IncomingUpdate.id.in_(ids),
                                     IncomingUpdate.claimed_by == worker)
                              .values(claimed_by=None, claimed_until=None)
                              .execution_options(synchronize_session=False))


async def release_held(session: AsyncSession, worker: str) -> None:
    """Let go of everything ``worker`` holds: a process stopping hands on what it had."""
    await session.execute(update(IncomingUpdate).where(IncomingUpdate.claimed_by == worker)
                          .values(claimed_by=None, claimed_until=None)
                          .execution_options(synchronize_session=False))


async def release_abandoned(session: AsyncSession, now: datetime) -> int:
    """Let go of the updates held by processes that died (see storage.outbox.is_dead): what
    they had not handled is handled again, from the start, by whoever claims it next."""
    held = set((await session.scalars(
        select(IncomingUpdate.claimed_by).where(IncomingUpdate.claimed_by.is_not(None))
        .distinct())).all())
    if not held:
        return 0
    beats = {w.id: w.heartbeat_at for w in (await session.scalars(
        select(Worker).where(Worker.id.in_(held)))).all()}
    # A lease that ran out frees its row already (see claim): only the process counts here.
    dead = {w for w in held if outbox.is_dead(w, beats.get(w), None, now)}
    if not dead:
        return 0
    result = await session.execute(
        update(IncomingUpdate).where(IncomingUpdate.claimed_by.in_(dead))
        .values(claimed_by=None, claimed_until=None)
        .execution_options(synchronize_session=False))
    return result.rowcount or 0


async def pending(session: AsyncSession, channels: Iterable[str] | None = None) -> int:
    """How many stored updates (of these channels) are not handled yet."""
    stmt = (select(func.count()).select_from(IncomingUpdate)
            .where(IncomingUpdate.handled_at.is_(None)))
    if channels is not None:
        stmt = stmt.where(IncomingUpdate.channel.in_(list(channels)))
    return await session.scalar(stmt) or 0


async def forget_handled(session: AsyncSession, now: datetime) -> int:
    """Forget the updates handled before the window: their keys may come again, as new ones."""
    result = await session.execute(delete(IncomingUpdate)
                                   .where(IncomingUpdate.handled_at < now - UPDATE_WINDOW))
    return result.rowcount or 0
