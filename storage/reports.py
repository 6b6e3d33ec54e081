"""What the documents read (attendance and delivery-day lists, fichas, the invitations list)
beyond what the other repositories already give. Pure reading: never writes, never commits."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage import fichas
from storage.models import (
    DeliveryDay,
    FormResponse,
    Milestone,
    Organization,
    OrganizationInvitation,
    Person,
    Pickup,
    Representative,
    Role,
    RoleGrant,
    Rsvp,
)


async def by_id(session: AsyncSession, model: Any, ids: Iterable[int | None]) -> dict[int, Any]:
    """The rows of ``model`` with these ids (None skipped), by id."""
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    rows = (await session.scalars(select(model).where(model.id.in_(wanted)))).all()
    return {row.id: row for row in rows}


async def latest_fichas(session: AsyncSession, program_id: int,
                         organization_id: int | None = None,
                         until: datetime | None = None,
                         unlinked: bool = False,
                         forms: Sequence[str] | None = None) -> list[FormResponse]:
    """The latest submitted ficha of each organisation of the programme; with
    ``unlinked`` also each valid ficha whose organisation is not in the catastro yet.
    Fichas of the programme's intake forms, or of ``forms`` (one verifier's)."""
    if forms is None:
        forms = await fichas.intake_forms(session, program_id)
    of_program = Organization.program_id == program_id
    if unlinked:
        of_program = or_(of_program, (FormResponse.organization_id.is_(None))
                         & (FormResponse.program_id == program_id))
    stmt = (
        select(FormResponse)
        .outerjoin(Organization, Organization.id == FormResponse.organization_id)
        .where(fichas.signed(until, forms=forms), of_program)
    )
    if organization_id is not None:
        stmt = stmt.where(FormResponse.organization_id == organization_id)
    latest: dict[Any, FormResponse] = {}
    for r in (await session.scalars(stmt)).all():
        key = r.organization_id if r.organization_id is not None else ("sent", r.id)
        best = latest.get(key)
        if best is None or (r.submitted_at or r.updated_at, r.id) > (
                best.submitted_at or best.updated_at, best.id):
            latest[key] = r
    return list(latest.values())


async def representatives(session: AsyncSession, organization_id: int
                          ) -> dict[int, Representative]:
    """The organisation's representatives, by person id."""
    return {r.person_id: r for r in (await session.scalars(
        select(Representative).where(Representative.organization_id == organization_id)
    )).all()}


async def organizations(session: AsyncSession, program_id: int) -> list[Organization]:
    return list((await session.scalars(
        select(Organization).where(Organization.program_id == program_id))).all())


async def invitations(session: AsyncSession, program_id: int, until: datetime
                      ) -> dict[int, list[OrganizationInvitation]]:
    """The invitations sent to each organisation of the programme by ``until``, in order."""
    found: dict[int, list[OrganizationInvitation]] = defaultdict(list)
    for inv in (await session.scalars(
            select(OrganizationInvitation)
            .join(Organization, Organization.id == OrganizationInvitation.organization_id)
            .where(Organization.program_id == program_id, OrganizationInvitation.sent_at <= until)
            .order_by(OrganizationInvitation.sent_at, OrganizationInvitation.id))).all():
        found[inv.organization_id].append(inv)
    return found


async def organization_answers(session: AsyncSession, meeting_ids: Iterable[int],
                               until: datetime) -> dict[tuple[int, int], Rsvp]:
    """Each organisation's latest answer by ``until`` to these meetings, by (meeting id,
    organisation id)."""
    wanted = set(meeting_ids)
    found: dict[tuple[int, int], Rsvp] = {}
    if not wanted:
        return found
    for r in (await session.scalars(
            select(Rsvp).where(Rsvp.meeting_id.in_(wanted), Rsvp.organization_id.is_not(None),
                               Rsvp.answer.is_not(None), Rsvp.answered_at <= until)
            .order_by(Rsvp.answered_at))).all():
        found[(r.meeting_id, r.organization_id)] = r  # the latest answer counts
    return found


async def pickups_of(session: AsyncSession, delivery_day_id: int) -> list[Pickup]:
    return list((await session.scalars(
        select(Pickup).where(Pickup.delivery_day_id == delivery_day_id))).all())


async def days_of_pickups(session: AsyncSession, pickup_ids: Iterable[int | None]
                          ) -> dict[int, DeliveryDay]:
    """The delivery day of each of these pickups (None skipped), by pickup id."""
    wanted = {i for i in pickup_ids if i is not None}
    if not wanted:
        return {}
    return {pid: d for pid, d in (await session.execute(
        select(Pickup.id, DeliveryDay).join(DeliveryDay, DeliveryDay.id == Pickup.delivery_day_id)
        .where(Pickup.id.in_(wanted)))).all()}


async def last_invitation_at(session: AsyncSession, program_id: int,
                             until: datetime) -> datetime | None:
    """When the programme last invited an organisation, up to ``until``."""
    return await session.scalar(
        select(OrganizationInvitation.sent_at)
        .join(Organization, Organization.id == OrganizationInvitation.organization_id)
        .where(Organization.program_id == program_id, OrganizationInvitation.sent_at <= until)
        .order_by(OrganizationInvitation.sent_at.desc()).limit(1))


async def milestones(session: AsyncSession, program_id: int) -> list[Milestone]:
    """The programme's milestones by start, for naming the stage and activity a session or
    a document belongs to."""
    return list((await session.scalars(
        select(Milestone).where(Milestone.program_id == program_id)
        .order_by(Milestone.starts, Milestone.due, Milestone.key))).all())


async def gestora(session: AsyncSession, program_id: int) -> Person | None:
    """The programme's gestora (its own, else one of every programme), the first granted:
    who answers for a session nobody else is named for."""
    return (await session.scalars(
        select(Person).join(RoleGrant, RoleGrant.person_id == Person.id)
        .where(RoleGrant.role == Role.GESTORA, Person.erased_at.is_(None),
               or_(RoleGrant.program_id == program_id, RoleGrant.program_id.is_(None)))
        .order_by(RoleGrant.program_id.is_(None), RoleGrant.granted_at, RoleGrant.id)
        .limit(1))).first()
