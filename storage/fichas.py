"""Fichas de Interés as the gestora works with them: every ficha sent reaches the programme's
team, also one from an organisation the catastro does not have yet, and she takes such a
ficha into the catastro (a new organisation made from its answers) or links it to one that
is there. The chat (``/panel`` → Catastro) and the command line (``convoca fichas``) both
go through :func:`accept`. Repositories never commit; the caller's unit of work does."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, exists, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased, selectinload

from domain.names import normalise_name
from domain.program_templates import DEFAULT_INTAKE_FORM, program_template_or_none
from storage import people, responses
from storage.models import (
    FormDefinition,
    FormResponse,
    FormStatus,
    Organization,
    Person,
    Program,
    Representative,
    Role,
    RoleGrant,
)

FICHA = DEFAULT_INTAKE_FORM
NAME_MAX = 200  # Organization.name


class FichaError(Exception):
    """Why a ficha cannot be taken into the catastro: ``gone`` (no such ficha, or not of
    this programme, or replaced by a correction), ``linked`` (it already is), ``no_name``
    (it names no organisation) or ``exists`` (an organisation of that name is there:
    link it instead); ``name`` is the organisation concerned."""

    def __init__(self, code: str, name: str = "") -> None:
        super().__init__(code)
        self.code = code
        self.name = name


async def program_of(session: AsyncSession, person: Person | None,
                     organization_id: int | None, works_on: int | None = None) -> int | None:
    """The programme a response belongs to: its organisation's, else its sender's own,
    else the one the sender works on, else the only one there is. None when there are
    several and nothing says which (a newcomer no code linked anywhere): never guessed,
    the sender is asked (handlers.forms)."""
    if organization_id is not None:
        org = await session.get(Organization, organization_id)
        if org is not None:
            return org.program_id
    if person is not None and person.program_id is not None:
        return person.program_id
    if works_on is not None:
        return works_on
    ids = (await session.scalars(select(Program.id).limit(2))).all()
    return ids[0] if len(ids) == 1 else None


async def team(session: AsyncSession, program_id: int) -> list[int]:
    """Who hears of a new ficha: the programme's gestoras and coordinadoras, and those
    who hold the role for every programme."""
    rows = await session.scalars(
        select(RoleGrant.person_id).join(Person, Person.id == RoleGrant.person_id)
        .where(RoleGrant.role.in_([Role.GESTORA, Role.COORDINADORA]),
               or_(RoleGrant.program_id == program_id, RoleGrant.program_id.is_(None)),
               Person.erased_at.is_(None))
        .distinct())
    return sorted(rows.all())


def intake_forms_of(program: Program | None) -> tuple[str, ...]:
    """The forms whose responses are the programme's fichas (its template's intake
    forms: the Ficha de Interés, a cooperative's ficha, a community's application...)."""
    template = program_template_or_none(program) if program is not None else None
    return template.intake_forms if template is not None else (FICHA,)


async def intake_forms(session: AsyncSession, program_id: int) -> tuple[str, ...]:
    return intake_forms_of(await session.get(Program, program_id))


def _of_ficha(forms: Sequence[str]) -> Any:
    return FormResponse.form_id.in_(
        select(FormDefinition.id).where(FormDefinition.key.in_(list(forms))))


def signed(until: datetime | None = None, *, forms: Sequence[str]) -> Any:
    """A signed ficha, the one meaning every count of them shares (the catastro's filter
    and column, the stages' verifier, the verificadores, the progress figures): a response
    to one of ``forms`` (the programme's :func:`intake_forms`) sealed with its sender's
    signature (every version but a draft is), and the valid one as things stood at
    ``until`` (now when None): not yet replaced by a correction sealed by then. So an
    organisation that corrected its ficha counts once, and as of a date before the
    correction it counts by the version it had then."""
    if until is None:
        return and_(_of_ficha(forms), FormResponse.status == FormStatus.SUBMITTED)
    newer = aliased(FormResponse)
    return and_(
        _of_ficha(forms), FormResponse.status != FormStatus.DRAFT,
        FormResponse.submitted_at.is_not(None), FormResponse.submitted_at <= until,
        ~exists().where(newer.supersedes_id == FormResponse.id,
                        newer.status != FormStatus.DRAFT, newer.submitted_at <= until))


def organization_signed(organization_id: Any, until: datetime | None = None, *,
                        forms: Sequence[str]) -> Any:
    """The organisation (a column or an id) has a signed ficha (:func:`signed`)."""
    return exists().where(FormResponse.organization_id == organization_id,
                          signed(until, forms=forms))


async def pending(session: AsyncSession, program_id: int) -> list[FormResponse]:
    """The valid fichas of the programme whose organisation is not in the catastro yet,
    oldest first: the order they arrived in."""
    return list((await session.scalars(
        select(FormResponse).where(
            _of_ficha(await intake_forms(session, program_id)),
            FormResponse.program_id == program_id,
            FormResponse.organization_id.is_(None),
            FormResponse.status == FormStatus.SUBMITTED)
        .order_by(FormResponse.submitted_at, FormResponse.id))).all())


def typed_name(response: FormResponse) -> str:
    """The organisation's name as the sender typed it."""
    return " ".join(str((response.answers or {}).get("organization_name") or "").split())


def sender_name(response: FormResponse, sender: Person | None) -> str:
    """Who sent it: the name they gave in the ficha, else the one their chat shows."""
    typed = " ".join(str((response.answers or {}).get("representative_name") or "").split())
    return typed or (sender.name if sender is not None else None) or "?"


async def _ficha(session: AsyncSession, response_id: int, program_id: int) -> FormResponse:
    response = await session.get(FormResponse, response_id)
    definition = await session.get(FormDefinition, response.form_id) if response else None
    if (response is None or definition is None
            or definition.key not in await intake_forms(session, program_id)
            or response.program_id != program_id or response.status != FormStatus.SUBMITTED):
        raise FichaError("gone")
    if response.organization_id is not None:
        org = await session.get(Organization, response.organization_id)
        raise FichaError("linked", org.name if org else "")
    return response


async def same_name(session: AsyncSession, program_id: int, name: str) -> Organization | None:
    key = normalise_name(name)
    for org in (await session.scalars(
            select(Organization).where(Organization.program_id == program_id))).all():
        if key and normalise_name(org.name) == key:
            return org
    return None


async def accept(session: AsyncSession, response_id: int, program_id: int, *, now: datetime,
                 organization_id: int | None = None, actor_id: int | None = None,
                 channel: str | None = None) -> Organization:
    """Take a ficha into the catastro: into the organisation ``organization_id`` of the
    programme, or into a new one made from its answers (name, kind, RUT, sector, members).
    The ficha (with its earlier versions and any correction under way) is linked to it,
    and whoever sent it becomes its representative."""
    response = await _ficha(session, response_id, program_id)
    definition = await session.get(FormDefinition, response.form_id)
    assert definition is not None
    form = responses.form_of(definition)
    if organization_id is not None:
        org = await session.get(Organization, organization_id)
        if org is None or org.program_id != program_id:
            raise FichaError("gone")
        created = False
    else:
        name = typed_name(response)[:NAME_MAX]
        if not name:
            raise FichaError("no_name")
        twin = await same_name(session, program_id, name)
        if twin is not None:
            raise FichaError("exists", twin.name)
        org = Organization(program_id=program_id, name=name, created_at=now)
        session.add(org)
        await session.flush()
        created = True
    await responses.update_organization(session, org.id, form, response.answers or {})
    for linked in await _versions(session, response):
        linked.organization_id = org.id
    if response.person_id is not None:
        await _represent(session, org, response, program_id, now, by=actor_id)
    people.audit(session, now, "ficha_accepted" if created else "ficha_linked",
                 actor_id=actor_id, channel=channel, entity="form_response",
                 entity_id=response.id, organization_id=org.id)
    await session.flush()
    return org


async def _versions(session: AsyncSession, response: FormResponse) -> list[FormResponse]:
    """The response, the versions it corrected and a correction of it still in draft."""
    found = [response]
    older = response.supersedes_id
    while older is not None and older not in {r.id for r in found}:
        row = await session.get(FormResponse, older)
        if row is None:
            break
        found.append(row)
        older = row.supersedes_id
    found += (await session.scalars(select(FormResponse).where(
        FormResponse.supersedes_id == response.id,
        FormResponse.status == FormStatus.DRAFT))).all()
    return found


async def _represent(session: AsyncSession, org: Organization, response: FormResponse,
                     program_id: int, now: datetime, by: int | None) -> None:
    person = await session.scalar(select(Person).where(Person.id == response.person_id)
                                  .options(selectinload(Person.roles)))
    if person is None or person.erased_at is not None:
        return
    reps = (await session.scalars(select(Representative).where(
        Representative.organization_id == org.id))).all()
    if not any(r.person_id == person.id for r in reps):
        position = str((response.answers or {}).get("representative_role") or "")[:100]
        session.add(Representative(organization_id=org.id, person_id=person.id,
                                   position=position or None, is_primary=not reps))
    person.program_id = person.program_id or program_id
    await people.grant(session, person, Role.REPRESENTANTE, program_id, now, by=by)
