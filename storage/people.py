"""Finding, creating and linking people. Never commits: the caller's unit of work does."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from storage.models import (
    AuditEntry,
    ChannelAddress,
    Conversation,
    Person,
    RoleGrant,
)


async def by_address(session: AsyncSession, channel: str, address: str) -> Person | None:
    return await session.scalar(
        select(Person)
        .join(ChannelAddress)
        .where(ChannelAddress.channel == channel, ChannelAddress.address == address)
        .options(selectinload(Person.roles))
    )


async def create_with_address(
    session: AsyncSession, channel: str, address: str, now: datetime, **fields: Any
) -> Person:
    person = Person(created_at=now, reachable=True, **fields)
    person.addresses = [ChannelAddress(channel=channel, address=address, created_at=now)]
    person.roles = []
    session.add(person)
    await session.flush()
    return person


async def touch_address(session: AsyncSession, channel: str, address: str, now: datetime,
                        message_id: int | None = None) -> None:
    values: dict[str, Any] = {"last_inbound_at": now}
    if message_id is not None:
        values["last_inbound_message_id"] = message_id
    await session.execute(
        update(ChannelAddress)
        .where(ChannelAddress.channel == channel, ChannelAddress.address == address)
        .values(**values)
        .execution_options(synchronize_session=False)
    )


async def address_of(session: AsyncSession, person_id: int, channel: str | None = None) -> (
    ChannelAddress | None
):
    stmt = select(ChannelAddress).where(ChannelAddress.person_id == person_id)
    if channel:
        stmt = stmt.where(ChannelAddress.channel == channel)
    return await session.scalar(stmt.order_by(ChannelAddress.id.desc()).limit(1))


async def conversation(session: AsyncSession, person_id: int, now: datetime) -> Conversation:
    convo = await session.get(Conversation, person_id)
    if convo is None:
        convo = Conversation(person_id=person_id, data={}, updated_at=now)
        session.add(convo)
    return convo


def has_role(person: Person, *roles: str, program_id: int | None = None) -> bool:
    return any(
        g.role in roles and (program_id is None or g.program_id in (None, program_id))
        for g in person.roles
    )


async def grant(
    session: AsyncSession,
    person: Person,
    role: str,
    program_id: int | None,
    now: datetime,
    by: int | None = None,
) -> bool:
    if any(g.role == role and g.program_id == program_id for g in person.roles):
        return False
    person.roles.append(
        RoleGrant(role=role, program_id=program_id, granted_at=now, granted_by=by)
    )
    await session.flush()
    return True


async def by_phone(session: AsyncSession, phone: str) -> list[Person]:
    return list((await session.scalars(select(Person).where(Person.phone == phone))).all())


async def merge_into(session: AsyncSession, newcomer: Person, existing: Person) -> None:
    """A chat that just registered turns out to be someone the gestora imported: keep the
    imported record and move the chat (and the consent just given) onto it."""
    await session.flush()
    for addr in list(newcomer.addresses):
        addr.person_id = existing.id
    existing.locale = existing.locale or newcomer.locale
    existing.consent_at = existing.consent_at or newcomer.consent_at
    existing.consent_version = existing.consent_version or newcomer.consent_version
    await session.flush()
    await session.execute(delete(Conversation).where(Conversation.person_id == newcomer.id))
    await session.delete(newcomer)
    await session.flush()
    await session.refresh(existing, ["addresses", "roles"])


def audit(
    session: AsyncSession,
    now: datetime,
    action: str,
    *,
    actor_id: int | None,
    channel: str | None = None,
    entity: str | None = None,
    entity_id: int | None = None,
    **details: Any,
) -> None:
    session.add(
        AuditEntry(
            at=now, actor_id=actor_id, channel=channel, action=action, entity=entity,
            entity_id=entity_id, details=details,
        )
    )
