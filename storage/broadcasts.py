"""Sending to many: a batch of outbox rows, how far its delivery got, and what the gestora
asked to be told about it.

A batch being followed has a small record in ``app_state`` (key ``bc:<batch>``) until its
last row is settled: who asked, which of her messages shows the progress, the total and
the records nobody could be sent to. The delivery itself is the outbox rows carrying the
batch id. Never commits: the caller's unit of work does.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import AppState, OutboxMessage, OutboxStatus, Person, Receipt, SentMessage
from storage.targeting import display_names

STATE_PREFIX = "bc:"
UNREACHABLE = "person unreachable"  # what the dispatcher writes when it skips someone


def new_batch(now: datetime) -> str:
    return f"{now:%Y%m%d%H%M}{secrets.token_hex(3)}"


# --- the followed batch -------------------------------------------------------------------


@dataclass
class Tracked:
    batch: str
    kind: str  # broadcast | invitation
    program_id: int
    person_id: int | None  # who asked: she gets the progress and the report
    total: int
    ref: str | None = None  # her message showing the progress, edited in place
    meeting_id: int | None = None
    not_linked: list[list[Any]] = field(default_factory=list)  # [kind, id, name]
    opted_out: list[list[Any]] = field(default_factory=list)
    shown: int | None = None  # the count her progress message shows now

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> Tracked:
        return cls(**json.loads(text))


async def follow(session: AsyncSession, tracked: Tracked) -> None:
    session.add(AppState(key=STATE_PREFIX + tracked.batch, value=tracked.to_json()))
    await session.flush()


async def followed(session: AsyncSession) -> list[Tracked]:
    rows = await session.scalars(
        select(AppState).where(AppState.key.startswith(STATE_PREFIX, autoescape=True))
        .order_by(AppState.key)
    )
    return [Tracked.from_json(r.value) for r in rows]


async def save(session: AsyncSession, tracked: Tracked) -> None:
    row = await session.get(AppState, STATE_PREFIX + tracked.batch)
    if row is not None:
        row.value = tracked.to_json()
        await session.flush()


async def forget(session: AsyncSession, batch: str) -> None:
    await session.execute(delete(AppState).where(AppState.key == STATE_PREFIX + batch))


# --- how far it got ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Progress:
    total: int
    delivered: int
    blocked: int
    failed: int
    pending: int
    # Settled for now, not sent: the channel may not write first until the person writes.
    waiting: int = 0

    @property
    def done(self) -> int:
        return self.total - self.pending

    @property
    def settled(self) -> bool:
        return self.pending == 0


_WAITING = (OutboxStatus.PENDING, OutboxStatus.SENDING)


def _is_blocked(status: str, error: str | None, reachable: bool | None) -> bool:
    # The dispatcher marks whoever blocked the bot unreachable, and skips them afterwards.
    return status == OutboxStatus.FAILED and (reachable is False or error == UNREACHABLE)


def _fell_through(status: str, receipt: str | None) -> bool:
    # Taken by the platform, then reported failed (WhatsApp says so in a later status).
    return status == OutboxStatus.SENT and receipt == Receipt.FAILED


async def progress(session: AsyncSession, batch: str) -> Progress:
    rows = await session.execute(
        select(OutboxMessage.status, OutboxMessage.last_error, OutboxMessage.receipt,
               Person.reachable, func.count())
        .outerjoin(Person, Person.id == OutboxMessage.person_id)
        .where(OutboxMessage.batch == batch)
        .group_by(OutboxMessage.status, OutboxMessage.last_error, OutboxMessage.receipt,
                  Person.reachable)
    )
    total = delivered = blocked = failed = pending = waiting = 0
    for status, error, receipt, reachable, n in rows.all():
        total += n
        if status in _WAITING:
            pending += n
        elif status == OutboxStatus.WAITING:
            waiting += n
        elif _fell_through(status, receipt):
            failed += n
        elif status == OutboxStatus.SENT:
            delivered += n
        elif _is_blocked(status, error, reachable):
            blocked += n
        else:
            failed += n
    return Progress(total, delivered, blocked, failed, pending, waiting)


@dataclass(frozen=True)
class Receipts:
    """What a channel that reports on its messages said of a batch's: of ``sent`` messages
    it took, how many reached the phone and how many were read (read ones reached it too)."""

    sent: int
    delivered: int
    read: int


@dataclass(frozen=True)
class Outcome:
    progress: Progress
    blocked: list[str]  # names
    failed: list[tuple[str, str, str | None]]  # (name, outbox status, the error it got)
    waiting: list[tuple[str, str | None]] = field(default_factory=list)  # (name, reason)
    # By channel, only for channels that report receipts (none: no "0 read" for them).
    receipts: dict[str, Receipts] = field(default_factory=dict)


async def outcome(session: AsyncSession, batch: str) -> Outcome:
    """The settled batch: who blocked the bot, what failed for whom, who it waits for, and
    what the channels that report it said of what they took."""
    rows = (await session.execute(
        select(OutboxMessage.person_id, OutboxMessage.status, OutboxMessage.last_error,
               OutboxMessage.receipt, Person.reachable)
        .outerjoin(Person, Person.id == OutboxMessage.person_id)
        .where(OutboxMessage.batch == batch, or_(
            OutboxMessage.status.not_in((*_WAITING, OutboxStatus.SENT)),
            OutboxMessage.receipt == Receipt.FAILED))
        .order_by(OutboxMessage.id)
    )).all()
    names = await display_names(session, [r.person_id for r in rows if r.person_id])
    blocked, failed, waiting = [], [], []
    for person_id, status, error, receipt, reachable in rows:
        name = names.get(person_id, "?") if person_id else "?"
        if status == OutboxStatus.WAITING:
            waiting.append((name, error))
        elif _fell_through(status, receipt):
            failed.append((name, OutboxStatus.FAILED.value, error))
        elif status == OutboxStatus.SENT:
            continue
        elif _is_blocked(status, error, reachable):
            blocked.append(name)
        else:
            failed.append((name, status, error))
    return Outcome(await progress(session, batch), blocked, failed, waiting,
                   await receipts_by_channel(session, batch))


async def receipts_by_channel(session: AsyncSession, batch: str) -> dict[str, Receipts]:
    reporting = select(SentMessage.id).where(SentMessage.outbox_id == OutboxMessage.id)
    channels = set((await session.scalars(
        select(OutboxMessage.channel).distinct()
        .where(OutboxMessage.batch == batch, reporting.exists()))).all())
    if not channels:
        return {}
    counts: dict[str, list[int]] = {c: [0, 0, 0] for c in channels}
    for channel, receipt, n in (await session.execute(
            select(OutboxMessage.channel, OutboxMessage.receipt, func.count())
            .where(OutboxMessage.batch == batch, OutboxMessage.status == OutboxStatus.SENT,
                   OutboxMessage.channel.in_(channels))
            .group_by(OutboxMessage.channel, OutboxMessage.receipt))).all():
        c = counts[channel]
        c[0] += n
        if receipt in (Receipt.DELIVERED, Receipt.READ):
            c[1] += n
        if receipt == Receipt.READ:
            c[2] += n
    return {channel: Receipts(*c) for channel, c in sorted(counts.items())}
