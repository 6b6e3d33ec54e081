"""The rows of an imported spreadsheet written to the catastro, all or nothing, and the records
already there that they must not repeat. The spreadsheet is read in documents.imports. Never
commits: the caller's unit of work does."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from domain.catastro import (
    CONSENT_YES,
    FAMILY,
    KINDS,
    ORGANIZATION,
    ImportPreview,
    ImportResult,
    PickupMode,
    StalePreview,
    record_keys,
)
from storage import people, programs
from storage.models import ChannelAddress, Family, Organization, Person, Role


async def existing_keys(session: AsyncSession, kind: str, program_id: int
                        ) -> dict[tuple[str, str], str]:
    """Each duplicate key of the programme's records, with the record's name."""
    known: dict[tuple[str, str], str] = {}
    if kind == ORGANIZATION:
        rows = await session.execute(
            select(Organization.name, Organization.rut, Organization.phone,
                   Organization.address).where(Organization.program_id == program_id)
        )
    else:
        rows = await session.execute(
            select(Family.name, Family.rut, Family.phone, Family.address).where(
                Family.program_id == program_id
            )
        )
    for name, rut, phone, address in rows:
        values = {"name": name, "rut": rut, "phone": phone, "address": address}
        for key in record_keys(kind, values):
            known.setdefault(key, name)
    return known


async def commit_import(
    session: AsyncSession,
    preview: ImportPreview,
    now: datetime,
    *,
    actor_id: int | None = None,
    channel: str | None = None,
) -> ImportResult:
    """Insert every valid row of the preview, or nothing: raises ``StalePreview`` before
    inserting when records added since the preview clash with its rows (including a second
    press of the same 'import' button). The caller's transaction makes it all-or-nothing."""
    if preview.kind not in KINDS:
        raise ValueError(f"unknown import kind {preview.kind!r}")
    valid = preview.valid_rows
    existing = await existing_keys(session, preview.kind, preview.program_id)
    stale = [r.row for r in valid
             if any(k in existing for k in record_keys(preview.kind, r.values))]
    if stale:
        raise StalePreview(stale)
    records = [_record(preview.kind, preview.program_id, r.values, now) for r in valid]
    session.add_all(records)
    await session.flush()
    ids = [r.id for r in records]
    consented = 0
    if preview.kind == FAMILY:
        zone = await programs.zone_of(session, preview.program_id)
        for family, row in zip(records, valid, strict=True):
            given = row.values.get("contact_consent")
            if family.phone and given:
                at = now if given == CONSENT_YES else _start_of(date.fromisoformat(given), zone)
                await reachable_with_consent(session, family, at, now)
                consented += 1
    people.audit(
        session, now, f"import.{preview.kind}", actor_id=actor_id, channel=channel,
        entity="program", entity_id=preview.program_id, filename=preview.filename,
        rows=len(preview.rows), inserted=len(ids), skipped=len(preview.rows) - len(valid),
        ids=ids, **({"contact_consent": consented} if consented else {}),
    )
    await session.flush()
    return ImportResult(
        kind=preview.kind, inserted_ids=ids, inserted_rows=[r.row for r in valid],
        skipped_rows=[r.row for r in preview.rows if not r.ok],
    )


def _record(kind: str, program_id: int, v: dict[str, Any], now: datetime) -> Any:
    if kind == ORGANIZATION:
        return Organization(
            program_id=program_id, name=v["name"], kind=v.get("kind"), rut=v.get("rut"),
            sector=v.get("sector"), address=v.get("address"), phone=v.get("phone"),
            email=v.get("email"), members_count=v.get("members_count"), created_at=now,
        )
    return Family(
        program_id=program_id, name=v["name"], phone=v.get("phone"), rut=v.get("rut"),
        pickup_mode=v.get("pickup_mode") or PickupMode.RETIRO, sector=v.get("sector"),
        address=v.get("address"), household_size=v.get("household_size"), created_at=now,
    )


def _start_of(day: date, zone: str | None) -> datetime:
    return datetime.combine(day, time(), ZoneInfo(zone or "UTC"))


async def reachable_with_consent(session: AsyncSession, family: Family, given: datetime,
                                 now: datetime) -> Person:
    """A family whose paper consent lets Convoca write first: linked to a person with its
    number on people.CONTACT_CHANNEL, so its notices reach it before it ever writes. The
    person is whoever already has that address (WhatsApp vouched for the number), else the
    record an earlier import made for the number, else a new one. Nobody who wrote from
    another chat is taken for them: a number may be copied onto a list by mistake."""
    address = people.contact_address(family.phone or "")
    person = await session.scalar(
        select(Person).join(ChannelAddress)
        .where(ChannelAddress.channel == people.CONTACT_CHANNEL,
               ChannelAddress.address == address, Person.erased_at.is_(None)))
    if person is None:
        known = await people.imported_by_phone(session, family.phone or "")
        person = known[0] if known else None
        if person is None:
            person = Person(name=family.name, phone=family.phone, program_id=family.program_id,
                            reachable=True, created_at=now)
            person.roles = []
            session.add(person)
            await session.flush()
        taken = await session.scalar(select(ChannelAddress.id).where(
            ChannelAddress.channel == people.CONTACT_CHANNEL, ChannelAddress.address == address))
        if taken is None:  # held by someone erased: that record keeps it until it is gone
            session.add(ChannelAddress(person_id=person.id, channel=people.CONTACT_CHANNEL,
                                       address=address, created_at=now))
    if person.contact_consent_at is None:
        person.contact_consent_at = given
        person.contact_consent_source = people.CONTACT_CONSENT_IMPORT
    person.program_id = person.program_id or family.program_id
    family.person_id = person.id
    await people.grant(session, person, Role.FAMILIA, family.program_id, now)
    await session.flush()
    return person


async def families_without_consent(session: AsyncSession, program_id: int) -> list[Family]:
    """The programme's families with a phone that Convoca may not write to first: no consent
    on paper and no chat of their own. The gestora calls them or hands them the QR card."""
    consent_or_chat = select(Person.id).where(
        Person.id == Family.person_id,
        or_(Person.contact_consent_at.is_not(None),
            Person.addresses.any(ChannelAddress.last_inbound_at.is_not(None))))
    return list((await session.scalars(
        select(Family).where(Family.program_id == program_id, Family.phone.is_not(None),
                             ~consent_or_chat.exists())
        .order_by(Family.sector.is_(None), Family.sector, Family.name, Family.id))).all())
