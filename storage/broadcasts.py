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

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import AppState, OutboxMessage, OutboxStatus, Person
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


async def progress(session: AsyncSession, batch: str) -> Progress:
    rows = await session.execute(
        select(OutboxMessage.status, OutboxMessage.last_error, Person.reachable, func.count())
        .outerjoin(Person, Person.id == OutboxMessage.person_id)
        .where(OutboxMessage.batch == batch)
        .group_by(OutboxMessage.status, OutboxMessage.last_error, Person.reachable)
    )
    total = delivered = blocked = failed = pending = 0
    for status, error, reachable, n in rows.all():
        total += n
        if status in _WAITING:
            pending += n
        elif status == OutboxStatus.SENT:
            delivered += n
        elif _is_blocked(status, error, reachable):
            blocked += n
        else:
            failed += n
    return Progress(total, delivered, blocked, failed, pending)


@dataclass(frozen=True)
class Outcome:
    progress: Progress
    blocked: list[str]  # names
    failed: list[tuple[str, str, str | None]]  # (name, outbox status, the error it got)


async def outcome(session: AsyncSession, batch: str) -> Outcome:
    """The settled batch: who blocked the bot and what failed for whom."""
    rows = (await session.execute(
        select(OutboxMessage.person_id, OutboxMessage.status, OutboxMessage.last_error,
               Person.reachable)
        .outerjoin(Person, Person.id == OutboxMessage.person_id)
        .where(OutboxMessage.batch == batch, OutboxMessage.status.not_in(
            (*_WAITING, OutboxStatus.SENT)))
        .order_by(OutboxMessage.id)
    )).all()
    names = await display_names(session, [r.person_id for r in rows if r.person_id])
    blocked, failed = [], []
    for person_id, status, error, reachable in rows:
        name = names.get(person_id, "?") if person_id else "?"
        if _is_blocked(status, error, reachable):
            blocked.append(name)
        else:
            failed.append((name, status, error))
    return Outcome(await progress(session, batch), blocked, failed)
