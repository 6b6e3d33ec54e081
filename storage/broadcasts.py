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

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import (
    AppState,
    AuditEntry,
    OutboxMessage,
    OutboxStatus,
    Person,
    Receipt,
    SentMessage,
)
from storage.targeting import display_names

STATE_PREFIX = "bc:"
# The audit entry every broadcast leaves when it is queued (services.outreach): its text, its
# target, who wrote it and, when scheduled, its time. The panel's list of broadcasts reads it.
COMPOSED = "broadcast_sent"
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


# --- the programme's broadcasts, as the panel lists them -------------------------------------


@dataclass(frozen=True)
class Composed:
    batch: str
    at: datetime  # when it was queued
    text: str
    target: dict[str, Any]
    queued: int
    not_linked: int
    author_id: int | None
    channel: str | None
    send_at: datetime | None  # scheduled for then; None: sent at once


def _composed(row: AuditEntry) -> Composed | None:
    d = row.details or {}
    if not isinstance(d.get("batch"), str):
        return None
    send_at = None
    if isinstance(d.get("send_at"), str):
        send_at = datetime.fromisoformat(d["send_at"])
    return Composed(d["batch"], row.at, str(d.get("text") or ""), dict(d.get("target") or {}),
                    int(d.get("queued") or 0), int(d.get("not_linked") or 0), row.actor_id,
                    row.channel, send_at)


async def composed(session: AsyncSession, program_id: int, limit: int | None = None
                   ) -> list[Composed]:
    """The programme's broadcasts, newest first, from whichever door they came (chat, CLI,
    panel)."""
    stmt = (select(AuditEntry)
            .where(AuditEntry.action == COMPOSED, AuditEntry.entity == "program",
                   AuditEntry.entity_id == program_id)
            .order_by(AuditEntry.at.desc(), AuditEntry.id.desc()))
    if limit is not None:
        stmt = stmt.limit(limit)
    return [c for c in map(_composed, (await session.scalars(stmt)).all()) if c is not None]


async def composed_one(session: AsyncSession, program_id: int, batch: str) -> Composed | None:
    """One broadcast of this programme (None for another programme's batch)."""
    return next((c for c in await composed(session, program_id) if c.batch == batch), None)


@dataclass(frozen=True)
class Board:
    """Where each of a batch's messages is now. ``sent`` counts every message a platform took
    (delivered and read ones too); ``failed`` every one that will not arrive."""

    total: int = 0
    scheduled: int = 0  # waiting for their time
    queued: int = 0  # due, not sent yet
    sent: int = 0
    delivered: int = 0
    read: int = 0
    failed: int = 0
    waiting: int = 0  # the channel may not write first until the person writes
    cancelled: int = 0

    @property
    def live(self) -> bool:
        return bool(self.queued)


def _scheduled(now: datetime) -> Any:
    """A row waiting for its time that was never tried: a scheduled broadcast's. A row
    waiting to retry (after a 429 or a time-out) has a later not_before too, but it went
    out with the rest and is no one's to call off."""
    return and_(OutboxMessage.status == OutboxStatus.PENDING, OutboxMessage.not_before > now,
                OutboxMessage.attempts == 0, OutboxMessage.last_error.is_(None))


async def board(session: AsyncSession, batch: str, now: datetime) -> Board:
    # Grouped over a subquery: PostgreSQL takes a GROUP BY expression only when it is the
    # select's very expression, and the same comparison written twice binds ``now`` twice.
    sub = (select(OutboxMessage.status.label("status"), OutboxMessage.receipt.label("receipt"),
                  _scheduled(now).label("later"))
           .where(OutboxMessage.batch == batch).subquery())
    rows = await session.execute(
        select(sub.c.status, sub.c.receipt, sub.c.later, func.count())
        .group_by(sub.c.status, sub.c.receipt, sub.c.later))
    c = dict(total=0, scheduled=0, queued=0, sent=0, delivered=0, read=0, failed=0, waiting=0,
             cancelled=0)
    for status, receipt, later, n in rows.all():
        c["total"] += n
        if later:
            c["scheduled"] += n
        elif status in _WAITING:
            c["queued"] += n
        elif status == OutboxStatus.WAITING:
            c["waiting"] += n
        elif status == OutboxStatus.DROPPED:
            c["cancelled"] += n
        elif _fell_through(status, receipt) or status != OutboxStatus.SENT:
            c["failed"] += n
        else:
            c["sent"] += n
            c["delivered"] += n if receipt in (Receipt.DELIVERED, Receipt.READ) else 0
            c["read"] += n if receipt == Receipt.READ else 0
    return Board(**c)


async def due_at(session: AsyncSession, batch: str) -> datetime | None:
    """When the batch's messages still waiting in the outbox may go."""
    return await session.scalar(
        select(func.min(OutboxMessage.not_before))
        .where(OutboxMessage.batch == batch, OutboxMessage.status == OutboxStatus.PENDING))


@dataclass(frozen=True)
class Delivery:
    """One recipient's message of a batch."""

    person_id: int | None
    name: str
    channel: str
    status: str
    receipt: str | None
    error: str | None
    blocked: bool
    sent_at: datetime | None


async def deliveries(session: AsyncSession, batch: str) -> list[Delivery]:
    rows = (await session.execute(
        select(OutboxMessage.person_id, OutboxMessage.channel, OutboxMessage.status,
               OutboxMessage.receipt, OutboxMessage.last_error, OutboxMessage.sent_at,
               Person.reachable)
        .outerjoin(Person, Person.id == OutboxMessage.person_id)
        .where(OutboxMessage.batch == batch)
        .order_by(OutboxMessage.id))).all()
    names = await display_names(session, [r.person_id for r in rows if r.person_id])
    return [Delivery(r.person_id, names.get(r.person_id, "?") if r.person_id else "?",
                     r.channel, r.status, r.receipt, r.last_error,
                     _is_blocked(r.status, r.last_error, r.reachable), r.sent_at)
            for r in rows]


async def cancel(session: AsyncSession, batch: str, reason: str, now: datetime) -> int:
    """Withdraw the batch's messages still waiting for their time (a scheduled broadcast
    called off); what is already going, or retrying, goes on."""
    result = await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.batch == batch, _scheduled(now))
        .values(status=OutboxStatus.DROPPED, last_error=reason[:500])
        .execution_options(synchronize_session=False))
    return result.rowcount or 0
