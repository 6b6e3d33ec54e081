"""Leases: what only one process may do at a time, held by one until it lapses. Each change
of holder is a conditional UPDATE on the holder, epoch and expiry seen, so two contenders cannot
both win, on SQLite as on PostgreSQL. Repositories never commit: the caller's unit of work
does (a lease taken is only taken once that commits)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage import outbox
from storage.db import insert_for
from storage.models import Lease


@dataclass(frozen=True)
class Taken:
    """A lease this process holds: ``epoch`` names this holding; ``previous`` is who held it
    before, when this is a takeover (the rows they had in flight are to be settled)."""

    epoch: int
    previous: str | None
    renewed: bool  # held already by us: nothing changed hands


async def take(session: AsyncSession, name: str, holder: str, now: datetime,
               ttl: timedelta) -> Taken | None:
    """Take the lease, or renew it if ``holder`` has it; None while another holds it. A
    holder on this machine whose process is gone (storage.outbox.is_dead) gives it up at
    once; elsewhere it lapses at ``expires_at``."""
    inserted = await session.execute(
        insert_for(session.bind.dialect.name)(Lease.__table__)
        .on_conflict_do_nothing(index_elements=["name"]),
        dict(name=name, holder=holder, epoch=1, expires_at=now + ttl))
    if inserted.rowcount:
        return Taken(1, None, False)
    row = (await session.execute(
        select(Lease.holder, Lease.epoch, Lease.expires_at).where(Lease.name == name))).one()
    seen_holder, epoch, expires_at = row
    if seen_holder == holder:
        if await renew(session, name, holder, epoch, now, ttl):
            return Taken(epoch, None, True)
        return None
    if seen_holder is not None and not outbox.is_dead(seen_holder, None, expires_at, now):
        return None
    # A compare-and-swap on all it saw: a renewal (same epoch, later expiry) committed since
    # the read means the holder is alive, and the takeover must lose.
    won = await session.execute(
        update(Lease)
        .where(Lease.name == name, Lease.epoch == epoch, Lease.expires_at == expires_at,
               Lease.holder.is_(None) if seen_holder is None else Lease.holder == seen_holder)
        .values(holder=holder, epoch=epoch + 1, expires_at=now + ttl)
        .execution_options(synchronize_session=False))
    if not won.rowcount:
        return None  # another contender was first
    return Taken(epoch + 1, seen_holder, False)


async def renew(session: AsyncSession, name: str, holder: str, epoch: int, now: datetime,
                ttl: timedelta) -> bool:
    """Extend the lease; False when it is no longer this holding's (it lapsed and was
    taken)."""
    result = await session.execute(
        update(Lease)
        .where(Lease.name == name, Lease.holder == holder, Lease.epoch == epoch)
        .values(expires_at=now + ttl)
        .execution_options(synchronize_session=False))
    return bool(result.rowcount)


async def give_up(session: AsyncSession, name: str, holder: str, epoch: int,
                  now: datetime) -> None:
    """Let the lease go at once (a clean stop), for the next contender to take."""
    await session.execute(
        update(Lease)
        .where(Lease.name == name, Lease.holder == holder, Lease.epoch == epoch)
        .values(holder=None, expires_at=now)
        .execution_options(synchronize_session=False))


async def hold_during(session: AsyncSession, name: str, holder: str, epoch: int,
                      now: datetime) -> bool:
    """Whether this holding is still valid, kept so until the unit of work ends: on
    PostgreSQL the row is locked, so nobody can take the lease over while the work that
    needs it (a scheduler tick) commits."""
    stmt = select(Lease.name).where(Lease.name == name, Lease.holder == holder,
                                    Lease.epoch == epoch, Lease.expires_at > now)
    if session.bind.dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    return await session.scalar(stmt) is not None


async def holders(session: AsyncSession) -> dict[str, tuple[str | None, datetime]]:
    """Every lease: its holder and until when."""
    return {name: (holder, until) for name, holder, until in (await session.execute(
        select(Lease.name, Lease.holder, Lease.expires_at))).all()}
