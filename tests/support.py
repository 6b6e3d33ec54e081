"""Helpers shared by tests: a scripted channel, seeding, and reading the outbox back."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from handlers.events import Outgoing
from locales import Msg
from scheduler.dispatcher import Delivered, Limits, Result
from storage import outbox, people
from storage.models import OutboxMessage, Person


@dataclass
class ScriptedChannel:
    """A channel whose answers a test scripts per address; everything else is delivered."""

    name: str = "telegram"
    limits: Limits = field(default_factory=lambda: Limits(per_second=None,
                                                          per_chat_per_second=1000, chat_burst=1000))
    script: dict[str, list[Result]] = field(default_factory=dict)
    calls: list[tuple[str, float]] = field(default_factory=list)
    clock: Callable[[], float] | None = None

    def is_group(self, address: str) -> bool:
        return address.startswith("-")

    async def deliver(self, row: OutboxMessage) -> Result:
        import time

        self.calls.append((row.address, (self.clock or time.monotonic)()))
        answers = self.script.get(row.address)
        if answers:
            return answers.pop(0)
        return Delivered(str(len(self.calls)))

    def delivered_to(self) -> Counter[str]:
        return Counter(a for a, _ in self.calls)


async def add_person(sessions: async_sessionmaker[AsyncSession], address: str, now: datetime,
                     channel: str = "telegram", **kw: object) -> int:
    async with sessions() as s:
        p = await people.create_with_address(s, channel, address, now, **kw)
        await s.commit()
        return p.id


async def enqueue_many(sessions: async_sessionmaker[AsyncSession], rows: list[tuple[int | None, str]],
                       now: datetime, *, kind: str = "broadcast", batch: str = "b1",
                       key_prefix: str = "t", channel: str = "telegram", **kw: object) -> None:
    async with sessions() as s:
        for i, (pid, address) in enumerate(rows):
            env = outbox.Envelope(pid, channel, address,
                                  Outgoing(text=Msg("input.not_understood")).to_json(), "es")
            await outbox.enqueue(s, env, key=f"{key_prefix}:{i}", kind=kind, now=now,
                                 batch=batch, **kw)
        await s.commit()


async def outbox_rows(sessions: async_sessionmaker[AsyncSession]) -> list[OutboxMessage]:
    async with sessions() as s:
        return list((await s.scalars(select(OutboxMessage).order_by(OutboxMessage.id))).all())


async def person(sessions: async_sessionmaker[AsyncSession], person_id: int) -> Person | None:
    async with sessions() as s:
        return await s.get(Person, person_id)
