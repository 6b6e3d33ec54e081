"""The catastro as the panel's tables show it: organisations and families with what the
gestora filters them by (sector, kind, linked to the bot, ficha signed, the chat they use),
counted and paged in the database, never a query per row; and one record with what
happened to it (its ficha, invitations, representatives, bodies, attendance, pickups and
the messages sent to its people). Plain reads: nothing here changes a row."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, exists, false, func, not_, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from domain.forms import Form
from domain.names import normalise_name
from locales.collation import sort_key
from storage import fichas, folding, links
from storage.models import (
    Attendance,
    Body,
    ChannelAddress,
    DeliveryDay,
    Family,
    FormDefinition,
    FormResponse,
    FormSignature,
    LinkCode,
    Meeting,
    Membership,
    Organization,
    OrganizationInvitation,
    OutboxMessage,
    Person,
    Pickup,
    Representative,
    Rsvp,
)
from storage.responses import form_of

MESSAGES_SHOWN = 100  # a record's latest messages: enough to see what went wrong


@dataclass(frozen=True)
class Filters:
    """What a table is narrowed by; None is 'any'."""

    q: str = ""
    sector: str | None = None
    kind: str | None = None  # organisations only
    mode: str | None = None  # families only: retiro | domicilio
    linked: bool | None = None
    ficha: bool | None = None  # organisations only
    channel: str | None = None  # one of ``channels``, or "none": on none of them
    # The chat channels this installation runs (the wiring's): what the tables tell apart.
    channels: tuple[str, ...] = ()


@dataclass(frozen=True)
class OrganizationRow:
    id: int
    name: str
    kind: str | None
    rut: str | None
    phone: str | None
    sector: str | None
    members_count: int | None
    representatives: int
    ficha: bool
    channels: tuple[str, ...]  # of Filters.channels, those its representatives are on

    @property
    def linked(self) -> bool:
        return self.representatives > 0


@dataclass(frozen=True)
class FamilyRow:
    id: int
    name: str
    rut: str | None
    phone: str | None
    sector: str | None
    pickup_mode: str
    household_size: int | None
    linked: bool
    channels: tuple[str, ...]  # of Filters.channels, those its person is on


# --- the tables -----------------------------------------------------------------------------


def _digits(text: str) -> str:
    return "".join(ch for ch in text if ch.isdigit() or ch in "kK")


def _search(q: str, name: Any, rut: Any, phone: Any, sector: Any) -> Any:
    """Every word typed in the name or the sector, accents and case aside as in the chat's
    search ("gonzalez" finds "González", "nunoa" "Ñuñoa"); or the digits of a RUT or phone
    however typed ("12.345.678-5", "9 1234 5678")."""
    text = q.strip().lower()
    if not text:
        return None
    found = [and_(*(or_(folding.contains(name, word), folding.contains(sector, word))
                    for word in text.split()))]
    digits = _digits(text)
    if len(digits) >= 3:
        plain_rut = func.replace(func.replace(func.lower(rut), ".", ""), "-", "")
        found += [plain_rut.like(f"%{digits.lower()}%"), phone.like(f"%{digits}%")]
    return or_(*found)


def _sector_is(column: Any, sector: str) -> Any:
    return func.lower(func.trim(column)) == sector.strip().lower()


def _person_on(person_id: Any, channel: str) -> Any:
    return exists().where(ChannelAddress.person_id == person_id,
                          ChannelAddress.channel == channel)


def _org_on(channel: str) -> Any:
    return exists().where(Representative.organization_id == Organization.id,
                          ChannelAddress.person_id == Representative.person_id,
                          ChannelAddress.channel == channel)


def _channel_filter(on: Any, channel: str, channels: tuple[str, ...]) -> Any:
    if channel == "none":
        return and_(true(), *(not_(on(c)) for c in channels))
    return on(channel) if channel in channels else false()  # a channel no one is on


def _on_which(channels: tuple[str, ...], found: Any) -> tuple[str, ...]:
    return tuple(c for c, on in zip(channels, found, strict=True) if on)


def _ficha_of_org(forms: tuple[str, ...]) -> Any:
    return fichas.organization_signed(Organization.id, forms=forms)


def _ordered(column: Any, descending: bool, tiebreak: Any) -> list[Any]:
    """Blanks last either way, then the column, then the id so pages never overlap."""
    key = func.lower(column) if getattr(column.type, "python_type", None) is str else column
    return [column.is_(None), key.desc() if descending else key.asc(), tiebreak]


ORGANIZATION_SORTS = {"name": Organization.name, "kind": Organization.kind,
                      "sector": Organization.sector, "members": Organization.members_count,
                      "created": Organization.created_at}
FAMILY_SORTS = {"name": Family.name, "sector": Family.sector, "mode": Family.pickup_mode,
                "household": Family.household_size, "created": Family.created_at}


def _organizations_where(program_id: int, filters: Filters, forms: tuple[str, ...]
                         ) -> list[Any]:
    where = [Organization.program_id == program_id]
    found = _search(filters.q, Organization.name, Organization.rut, Organization.phone,
                    Organization.sector)
    if found is not None:
        where.append(found)
    if filters.sector:
        where.append(_sector_is(Organization.sector, filters.sector))
    if filters.kind:
        where.append(Organization.kind == filters.kind)
    linked = exists().where(Representative.organization_id == Organization.id)
    if filters.linked is not None:
        where.append(linked if filters.linked else not_(linked))
    if filters.ficha is not None:
        where.append(_ficha_of_org(forms) if filters.ficha else not_(_ficha_of_org(forms)))
    if filters.channel:
        where.append(_channel_filter(_org_on, filters.channel, filters.channels))
    return where


async def count_organizations(session: AsyncSession, program_id: int, filters: Filters
                              ) -> int:
    return await session.scalar(select(func.count(Organization.id)).where(
        *_organizations_where(program_id, filters,
                              await fichas.intake_forms(session, program_id)))) or 0


async def organizations(session: AsyncSession, program_id: int, filters: Filters, *,
                        sort: str = "name", descending: bool = False, offset: int = 0,
                        limit: int = 50) -> list[OrganizationRow]:
    """One page of the table, in one query whatever the page's size."""
    reps = (select(func.count(Representative.id))
            .where(Representative.organization_id == Organization.id).scalar_subquery())
    column = ORGANIZATION_SORTS.get(sort, Organization.name)
    forms = await fichas.intake_forms(session, program_id)
    rows = await session.execute(
        select(Organization.id, Organization.name, Organization.kind, Organization.rut,
               Organization.phone, Organization.sector, Organization.members_count, reps,
               _ficha_of_org(forms), *(_org_on(c) for c in filters.channels))
        .where(*_organizations_where(program_id, filters, forms))
        .order_by(*_ordered(column, descending, Organization.id))
        .offset(offset).limit(limit))
    return [OrganizationRow(*r[:7], int(r[7] or 0), bool(r[8]),
                            _on_which(filters.channels, r[9:])) for r in rows]


def _family_on(channel: str) -> Any:
    return _person_on(Family.person_id, channel)


def _families_where(program_id: int, filters: Filters) -> list[Any]:
    where = [Family.program_id == program_id]
    found = _search(filters.q, Family.name, Family.rut, Family.phone, Family.sector)
    if found is not None:
        where.append(found)
    if filters.sector:
        where.append(_sector_is(Family.sector, filters.sector))
    if filters.mode:
        where.append(Family.pickup_mode == filters.mode)
    if filters.linked is not None:
        where.append(Family.person_id.is_not(None) if filters.linked
                     else Family.person_id.is_(None))
    if filters.channel:
        where.append(_channel_filter(_family_on, filters.channel, filters.channels))
    return where


async def count_families(session: AsyncSession, program_id: int, filters: Filters) -> int:
    return await session.scalar(select(func.count(Family.id)).where(
        *_families_where(program_id, filters))) or 0


async def families(session: AsyncSession, program_id: int, filters: Filters, *,
                   sort: str = "name", descending: bool = False, offset: int = 0,
                   limit: int = 50) -> list[FamilyRow]:
    """One page of the table, in one query whatever the page's size."""
    column = FAMILY_SORTS.get(sort, Family.name)
    rows = await session.execute(
        select(Family.id, Family.name, Family.rut, Family.phone, Family.sector,
               Family.pickup_mode, Family.household_size, Family.person_id.is_not(None),
               *(_family_on(c) for c in filters.channels))
        .where(*_families_where(program_id, filters))
        .order_by(*_ordered(column, descending, Family.id))
        .offset(offset).limit(limit))
    return [FamilyRow(*r[:7], bool(r[7]), _on_which(filters.channels, r[8:])) for r in rows]


async def sectors(session: AsyncSession, program_id: int, kind: str) -> list[str]:
    """The sectors the records name, one spelling each ('Villa Esperanza' and 'villa
    esperanza' are one), by name: the choices of the sector filter."""
    of: Any = Organization if kind == "organization" else Family
    spellings: dict[str, Counter[str]] = {}
    for (sector,) in await session.execute(
            select(of.sector).where(of.program_id == program_id, of.sector.is_not(None))):
        key = normalise_name(sector)
        if key:
            spellings.setdefault(key, Counter())[sector.strip()] += 1
    return sorted((c.most_common(1)[0][0] for c in spellings.values()), key=sort_key)


async def organization_ids(session: AsyncSession, program_id: int) -> list[int]:
    """Every organisation of the programme, by name: the order their cards print in."""
    rows = await session.execute(select(Organization.id, Organization.name)
                                 .where(Organization.program_id == program_id))
    return [i for i, _ in sorted(rows, key=lambda r: (sort_key(r[1]), r[0]))]


# --- one record ------------------------------------------------------------------------------


@dataclass
class Ficha:
    response: FormResponse
    form: Form  # the version it was answered in: its questions' labels
    signatures: list[FormSignature]


@dataclass
class OrganizationRecord:
    organization: Organization
    fichas: list[Ficha] = field(default_factory=list)  # newest first
    invitations: list[tuple[OrganizationInvitation, Meeting | None]] = field(
        default_factory=list)
    rsvps: list[tuple[Rsvp, Meeting, Person | None]] = field(default_factory=list)
    representatives: list[tuple[Representative, Person]] = field(default_factory=list)
    memberships: list[tuple[Membership, Body, Person]] = field(default_factory=list)
    attendance: list[tuple[Attendance, Meeting, Person | None]] = field(default_factory=list)
    messages: list[tuple[OutboxMessage, Person | None]] = field(default_factory=list)
    code: LinkCode | None = None


@dataclass
class FamilyRecord:
    family: Family
    person: Person | None = None
    channels: list[str] = field(default_factory=list)
    pickups: list[tuple[Pickup, DeliveryDay]] = field(default_factory=list)
    messages: list[tuple[OutboxMessage, Person | None]] = field(default_factory=list)
    code: LinkCode | None = None


async def _messages(session: AsyncSession, person_ids: Sequence[int]
                    ) -> list[tuple[OutboxMessage, Person | None]]:
    if not person_ids:
        return []
    rows = await session.execute(
        select(OutboxMessage, Person).outerjoin(Person, Person.id == OutboxMessage.person_id)
        .where(OutboxMessage.person_id.in_(list(person_ids)))
        .order_by(OutboxMessage.created_at.desc(), OutboxMessage.id.desc())
        .limit(MESSAGES_SHOWN))
    return [(m, p) for m, p in rows]


async def organization_record(session: AsyncSession, program_id: int, organization_id: int,
                              now: datetime) -> OrganizationRecord | None:
    org = await session.get(Organization, organization_id)
    if org is None or org.program_id != program_id:
        return None
    record = OrganizationRecord(org)
    responses = (await session.scalars(
        select(FormResponse).where(
            FormResponse.organization_id == org.id,
            fichas.signed(forms=await fichas.intake_forms(session, program_id)))
        .order_by(FormResponse.submitted_at.desc(), FormResponse.id.desc()))).all()
    signatures: dict[int, list[FormSignature]] = {}
    if responses:
        for sig in (await session.scalars(
                select(FormSignature).where(
                    FormSignature.response_id.in_([r.id for r in responses]))
                .order_by(FormSignature.signed_at))).all():
            signatures.setdefault(sig.response_id, []).append(sig)
    known: dict[int, Form] = {}
    forms = {d.id: d for d in (await session.scalars(select(FormDefinition).where(
        FormDefinition.id.in_({r.form_id for r in responses})))).all()} if responses else {}
    record.fichas = [Ficha(r, form_of(forms[r.form_id], known), signatures.get(r.id, []))
                     for r in responses]
    record.representatives = [(r, p) for r, p in await session.execute(
        select(Representative, Person).join(Person, Person.id == Representative.person_id)
        .where(Representative.organization_id == org.id)
        .order_by(Representative.is_primary.desc(), Representative.id))]
    person_ids = [p.id for _, p in record.representatives]
    invitations = (await session.scalars(
        select(OrganizationInvitation).where(OrganizationInvitation.organization_id == org.id)
        .order_by(OrganizationInvitation.sent_at.desc()))).all()
    meeting_ids = {int(i.purpose.split(":", 1)[1]) for i in invitations
                   if i.purpose.startswith("meeting:") and i.purpose[8:].isdigit()}
    meetings = {m.id: m for m in (await session.scalars(
        select(Meeting).where(Meeting.id.in_(meeting_ids)))).all()} if meeting_ids else {}
    record.invitations = [
        (i, meetings.get(int(i.purpose[8:])) if i.purpose[8:].isdigit() else None)
        for i in invitations]
    theirs = or_(Rsvp.organization_id == org.id, Rsvp.person_id.in_(person_ids)) \
        if person_ids else Rsvp.organization_id == org.id
    record.rsvps = [(r, m, p) for r, m, p in await session.execute(
        select(Rsvp, Meeting, Person).join(Meeting, Meeting.id == Rsvp.meeting_id)
        .outerjoin(Person, Person.id == Rsvp.person_id).where(theirs)
        .order_by(Meeting.starts_at.desc(), Rsvp.id))]
    record.memberships = [(ms, b, p) for ms, b, p in await session.execute(
        select(Membership, Body, Person).join(Body, Body.id == Membership.body_id)
        .join(Person, Person.id == Membership.person_id)
        .where(or_(Membership.organization_id == org.id,
                   Membership.person_id.in_(person_ids) if person_ids else false()))
        .order_by(Membership.joined_at))]
    came = or_(Attendance.organization_id == org.id, Attendance.person_id.in_(person_ids)) \
        if person_ids else Attendance.organization_id == org.id
    record.attendance = [(a, m, p) for a, m, p in await session.execute(
        select(Attendance, Meeting, Person).join(Meeting, Meeting.id == Attendance.meeting_id)
        .outerjoin(Person, Person.id == Attendance.person_id).where(came)
        .order_by(Meeting.starts_at.desc(), Attendance.id))]
    record.messages = await _messages(session, person_ids)
    record.code = await links.unused(session, program_id, "organization", org.id, now)
    return record


async def family_record(session: AsyncSession, program_id: int, family_id: int,
                        now: datetime) -> FamilyRecord | None:
    family = await session.get(Family, family_id)
    if family is None or family.program_id != program_id:
        return None
    record = FamilyRecord(family)
    if family.person_id is not None:
        record.person = await session.get(Person, family.person_id)
        record.channels = sorted(set((await session.scalars(
            select(ChannelAddress.channel).where(
                ChannelAddress.person_id == family.person_id))).all()))
        record.messages = await _messages(session, [family.person_id])
    record.pickups = [(pk, d) for pk, d in await session.execute(
        select(Pickup, DeliveryDay).join(DeliveryDay, DeliveryDay.id == Pickup.delivery_day_id)
        .where(Pickup.family_id == family.id).order_by(DeliveryDay.window_start.desc()))]
    record.code = await links.unused(session, program_id, "family", family.id, now)
    return record
