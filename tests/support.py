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
from storage.models import ChannelAddress, Membership, OutboxMessage, Person, RoleGrant


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


async def add_member(sessions: async_sessionmaker[AsyncSession], now: datetime, channel: str,
                     address: str, name: str, locale: str, *roles: str,
                     program_id: int | None = None, body_id: int | None = None,
                     phone: str | None = None) -> int:
    """A consented person at a chat, with roles (the installation's for a gestora or a
    coordinadora, the programme's otherwise) and, when given, a seat in a body."""
    async with sessions() as s:
        person = Person(name=name, locale=locale, consent_at=now, consent_version="2026-1",
                        created_at=now, reachable=True, program_id=program_id, phone=phone)
        person.addresses = [ChannelAddress(channel=channel, address=address, created_at=now)]
        person.roles = [RoleGrant(role=role, program_id=None if role in ("gestora",
                                  "coordinadora") else program_id, granted_at=now)
                        for role in roles]
        s.add(person)
        await s.flush()
        if body_id is not None:
            s.add(Membership(body_id=body_id, person_id=person.id, joined_at=now))
        await s.commit()
        return person.id


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
