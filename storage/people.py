"""Finding, creating and linking people. Never commits: the caller's unit of work does."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload

from storage.models import (
    ADMIN_LIST,
    AuditEntry,
    ChannelAddress,
    Conversation,
    Person,
    Program,
    RoleGrant,
)

# Statements run on every incoming event, built once (per dialect where it matters): building
# a statement and its cache key each time cost more than running it.
_BY_ADDRESS = (
    select(Person).join(ChannelAddress)
    .where(ChannelAddress.channel == bindparam("channel"),
           ChannelAddress.address == bindparam("address"))
    .options(joinedload(Person.roles))  # one statement, not a second one for the roles
)
_addresses = ChannelAddress.__table__
_TOUCH = (update(_addresses)
          .where(_addresses.c.channel == bindparam("b_channel"),
                 _addresses.c.address == bindparam("b_address"))
          # Writing from it, they are reachable there again, whatever the platform said
          # before (storage.receipts.mark_address_unreachable): one statement, not two.
          .values(last_inbound_at=bindparam("b_at"), unreachable_reason=None,
                  unreachable_at=None))
_TOUCH_WITH_ID = _TOUCH.values(last_inbound_message_id=bindparam("b_message_id"))


async def by_address(session: AsyncSession, channel: str, address: str) -> Person | None:
    result = await session.scalars(_BY_ADDRESS, {"channel": channel, "address": address})
    return result.unique().first()


async def create_with_address(
    session: AsyncSession, channel: str, address: str, now: datetime, **fields: Any
) -> Person:
    person = Person(created_at=now, reachable=True, **fields)
    person.addresses = [ChannelAddress(channel=channel, address=address, created_at=now)]
    person.roles = []
    session.add(person)
    await session.flush()
    return person


async def add_address(session: AsyncSession, person: Person, channel: str, address: str,
                      now: datetime) -> None:
    session.add(ChannelAddress(person_id=person.id, channel=channel, address=address,
                               created_at=now))
    await session.flush()


async def with_chat_by_phone(session: AsyncSession, phone: str) -> list[Person]:
    """People who write from some chat and whose phone a platform vouched for as their own
    (a typed number, or one copied from a family's list, may be anyone's)."""
    return list((await session.scalars(
        select(Person).where(Person.phone == phone, Person.phone_vouched.is_(True),
                             Person.erased_at.is_(None), Person.addresses.any())
        .order_by(Person.id))).all())


async def touch_address(session: AsyncSession, channel: str, address: str, now: datetime,
                        message_id: str | None = None) -> None:
    params: dict[str, Any] = {"b_channel": channel, "b_address": address, "b_at": now}
    if message_id is None:
        await session.execute(_TOUCH, params)
    else:
        await session.execute(_TOUCH_WITH_ID, {**params, "b_message_id": message_id})


async def last_inbound_message(session: AsyncSession, channel: str, address: str
                               ) -> str | None:
    """The platform's reference of the last message the person at this address sent."""
    return await session.scalar(select(ChannelAddress.last_inbound_message_id).where(
        ChannelAddress.channel == channel, ChannelAddress.address == address))


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
    via: str | None = None,
) -> bool:
    # Awaited: a Person the identity map let go of comes back with its roles unloaded.
    roles = await person.awaitable_attrs.roles
    held = next((g for g in roles if g.role == role and g.program_id == program_id), None)
    if held is not None:
        if held.via is not None and via is None:
            held.via = None  # given now on purpose: no longer the admin list's to take back
            await session.flush()
        return False
    roles.append(
        RoleGrant(role=role, program_id=program_id, granted_at=now, granted_by=by, via=via)
    )
    await session.flush()
    return True


async def revoke(session: AsyncSession, person_id: int, role: str, program_id: int | None
                 ) -> bool:
    """Take back a role held in a programme; False when it was not held."""
    result = await session.execute(delete(RoleGrant).where(
        RoleGrant.person_id == person_id, RoleGrant.role == role,
        RoleGrant.program_id.is_(None) if program_id is None
        else RoleGrant.program_id == program_id))
    return bool(result.rowcount)


async def grant_everywhere(session: AsyncSession, person: Person, role: str, now: datetime
                           ) -> bool:
    """The role in every programme there is (an administrator named in ADMIN_TELEGRAM_IDS);
    with none yet, a grant the first programme made takes. Marked as the list's, which takes
    it back when the person is no longer named (revoke_unlisted)."""
    ids = (await session.scalars(select(Program.id).order_by(Program.id))).all()
    changed = False
    for program_id in ids or [None]:
        changed = await grant(session, person, role, program_id, now, via=ADMIN_LIST) or changed
    return changed


async def revoke_unlisted(session: AsyncSession, channel: str, listed: Iterable[str],
                          now: datetime) -> list[RoleGrant]:
    """Take back the roles the admin list gave to people it no longer names (by their
    address on the channel), each audited; roles given any other way stay."""
    listed = set(listed)
    grants = (await session.scalars(select(RoleGrant).where(RoleGrant.via == ADMIN_LIST))).all()
    if not grants:
        return []
    rows = await session.execute(
        select(ChannelAddress.person_id, ChannelAddress.address)
        .where(ChannelAddress.channel == channel,
               ChannelAddress.person_id.in_({g.person_id for g in grants})))
    named = {person_id for person_id, address in rows if address in listed}
    gone = [g for g in grants if g.person_id not in named]
    for g in gone:
        audit(session, now, "role_revoked", actor_id=None, channel="config", entity="person",
              entity_id=g.person_id, role=g.role, program_id=g.program_id, via=ADMIN_LIST)
        await session.delete(g)
    await session.flush()
    return gone


# The channel whose platform asks for a person's consent before a business writes first
# (WhatsApp), given on paper at enrolment: the families import adds the family's number there.
CONTACT_CHANNEL = "whatsapp"
CONTACT_CONSENT_IMPORT = "import"  # Person.contact_consent_source of the families import


def contact_address(phone: str) -> str:
    """The address of an E.164 number on CONTACT_CHANNEL: its digits (WhatsApp's wa_id)."""
    return "".join(ch for ch in phone if ch.isdigit())


def _wrote_from_a_chat() -> Any:
    # An address nobody wrote from yet is one the import added for the paper consent: not
    # a chat of theirs, so it does not make the record someone's.
    return Person.addresses.any(ChannelAddress.last_inbound_at.is_not(None))


async def imported_by_phone(session: AsyncSession, phone: str) -> list[Person]:
    """People the team imported with this phone who have never written from any chat. One
    who has a chat is someone's record already: sharing the same number from another chat
    does not make that chat them (the number may have been copied from a family's list)."""
    return list((await session.scalars(
        select(Person).where(Person.phone == phone, Person.erased_at.is_(None),
                             ~_wrote_from_a_chat()).order_by(Person.id))).all())


async def never_wrote(session: AsyncSession, person_id: int) -> bool:
    """Whether the person has no chat of their own (only what an import gave them)."""
    return await session.scalar(select(Person.id).where(
        Person.id == person_id, ~_wrote_from_a_chat())) is not None


async def merge_into(session: AsyncSession, newcomer: Person, existing: Person) -> None:
    """A chat that just registered turns out to be someone the gestora imported: keep the
    imported record and move the chat (and the consent just given) onto it."""
    await session.flush()
    # In SQL, not through newcomer.addresses: reading that collection lazily needs I/O
    # outside the event loop, and deleting the newcomer would take the chat with it.
    await session.execute(update(ChannelAddress).where(ChannelAddress.person_id == newcomer.id)
                          .values(person_id=existing.id))
    session.expire(newcomer, ["addresses"])
    # Imported with a phone only: the name the chat came with beats greeting no one.
    existing.name = existing.name or newcomer.name
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
