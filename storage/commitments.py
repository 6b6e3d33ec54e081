"""What the commitments and the constitution of the bodies read and write: organisations'
participation commitments, members' declarations, a body's members and the sessions it
may be constituted in. Persistence only: the rules are in services.commitments."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from domain.forms import Form
from domain.program_templates import (
    DECLARATION_DOCUMENT,
    DEFAULT_DECLARATION_FORM,
    program_template_or_none,
)
from storage.models import (
    Attendance,
    Body,
    FormDefinition,
    FormResponse,
    FormSignature,
    FormStatus,
    Meeting,
    MeetingStatus,
    Membership,
    Milestone,
    Organization,
    Person,
    Program,
    Representative,
)
from storage.reports import latest_fichas
from storage.responses import form_of

COMMITMENT_FORM = "compromiso_participacion"
DECLARATION_FORM = DEFAULT_DECLARATION_FORM


def declaration_forms_of(program: Program | None) -> tuple[str, ...]:
    """The forms the programme's members sign their declaration on: the Ecomercado's
    (``declaracion_compromiso``), or the one its template's ``member_declarations``
    verifier names (``declaracion_integrantes``...)."""
    template = program_template_or_none(program) if program is not None else None
    return template.declaration_forms if template is not None else (DECLARATION_FORM,)


def declaration_form_of(program: Program | None, verifier: str | None = None) -> str:
    """The declaration form a verifier's document is made from (the programme's first
    when the verifier is not one of its template's ``member_declarations``)."""
    template = program_template_or_none(program) if program is not None else None
    if template is not None and verifier is not None:
        try:
            if template.verifier(verifier).document == DECLARATION_DOCUMENT:
                return template.verifier_form(verifier)
        except KeyError:
            pass
    return declaration_forms_of(program)[0]


@dataclass(frozen=True)
class Member:
    membership: Membership
    person: Person
    organization: Organization | None


async def bodies(session: AsyncSession, program_id: int) -> list[Body]:
    return list((await session.scalars(
        select(Body).where(Body.program_id == program_id).order_by(Body.id))).all())


async def body(session: AsyncSession, program_id: int, body_id: int) -> Body | None:
    return await session.scalar(select(Body).where(Body.program_id == program_id,
                                                   Body.id == body_id))


async def body_of_kind(session: AsyncSession, program_id: int, kind: str) -> Body | None:
    return await session.scalar(select(Body).where(Body.program_id == program_id,
                                                   Body.kind == kind).order_by(Body.id).limit(1))


async def members(session: AsyncSession, body_id: int) -> list[Member]:
    """The body's current members (not erased), by joining order."""
    rows = (await session.execute(
        select(Membership, Person, Organization)
        .join(Person, Person.id == Membership.person_id)
        .outerjoin(Organization, Organization.id == Membership.organization_id)
        .where(Membership.body_id == body_id, Membership.left_at.is_(None),
               Person.erased_at.is_(None))
        .order_by(Membership.joined_at, Membership.id))).all()
    return [Member(m, p, o) for m, p, o in rows]


async def membership(session: AsyncSession, body_id: int, person_id: int) -> Membership | None:
    return await session.scalar(
        select(Membership).where(Membership.body_id == body_id,
                                 Membership.person_id == person_id,
                                 Membership.left_at.is_(None)).order_by(Membership.id).limit(1))


async def add_member(session: AsyncSession, body_id: int, person_id: int, *,
                     organization_id: int | None, now: datetime) -> Membership:
    found = await membership(session, body_id, person_id)
    if found is not None:
        return found
    row = Membership(body_id=body_id, person_id=person_id, organization_id=organization_id,
                     joined_at=now)
    session.add(row)
    await session.flush()
    return row


async def organization_of(session: AsyncSession, person_id: int) -> int | None:
    """The organisation a person represents (the main representation first)."""
    return await session.scalar(
        select(Representative.organization_id).where(Representative.person_id == person_id)
        .order_by(Representative.is_primary.desc(), Representative.id).limit(1))


async def body_sessions(session: AsyncSession, body: Body, until: datetime) -> list[Meeting]:
    """Sessions of the body (its own, or of its kind) that have begun, newest first."""
    return list((await session.scalars(
        select(Meeting).where(Meeting.program_id == body.program_id,
                              or_(Meeting.body_id == body.id, Meeting.kind == body.kind),
                              Meeting.status != MeetingStatus.CANCELLED,
                              Meeting.starts_at <= until)
        .order_by(Meeting.starts_at.desc()).limit(20))).all())


async def present_people(session: AsyncSession, meeting_id: int) -> list[Person]:
    """Who was marked present at the session, by name."""
    return list((await session.scalars(
        select(Person).join(Attendance, Attendance.person_id == Person.id)
        .where(Attendance.meeting_id == meeting_id, Attendance.present.is_(True),
               Person.erased_at.is_(None))
        .order_by(Person.name, Person.id))).all())


async def uncommitted_with_ficha(session: AsyncSession, program_id: int) -> list[Organization]:
    """Organisations that sent their ficha and have not signed the commitment yet."""
    ids = {r.organization_id for r in await latest_fichas(session, program_id)
           if r.organization_id is not None}
    if not ids:
        return []
    return list((await session.scalars(
        select(Organization).where(Organization.id.in_(ids),
                                   Organization.committed_at.is_(None))
        .order_by(Organization.name, Organization.id))).all())


async def with_ficha(session: AsyncSession, program_id: int) -> list[Organization]:
    ids = {r.organization_id for r in await latest_fichas(session, program_id)
           if r.organization_id is not None}
    if not ids:
        return []
    return list((await session.scalars(
        select(Organization).where(Organization.id.in_(ids))
        .order_by(Organization.name, Organization.id))).all())


async def representatives(session: AsyncSession, organization_id: int) -> list[int]:
    return list((await session.scalars(
        select(Representative.person_id).join(Person, Person.id == Representative.person_id)
        .where(Representative.organization_id == organization_id, Person.erased_at.is_(None))
        .order_by(Representative.is_primary.desc(), Representative.id))).all())


def _of_form(*keys: str) -> object:
    return FormResponse.form_id.in_(select(FormDefinition.id)
                                    .where(FormDefinition.key.in_(keys)))


async def commitment_of(session: AsyncSession, organization_id: int) -> FormResponse | None:
    """The organisation's commitment in force (the newest submitted version)."""
    return await session.scalar(
        select(FormResponse).where(_of_form(COMMITMENT_FORM),
                                   FormResponse.organization_id == organization_id,
                                   FormResponse.status == FormStatus.SUBMITTED)
        .order_by(FormResponse.id.desc()).limit(1))


async def declarations_of(session: AsyncSession, program_id: int, body_kind: str,
                          person_ids: list[int]) -> dict[int, FormResponse]:
    """Each person's declaration in force for a body of this kind, by person."""
    if not person_ids:
        return {}
    forms = declaration_forms_of(await session.get(Program, program_id))
    rows = (await session.scalars(
        select(FormResponse).where(_of_form(*forms),
                                   FormResponse.person_id.in_(person_ids),
                                   FormResponse.status == FormStatus.SUBMITTED)
        .order_by(FormResponse.id))).all()
    out: dict[int, FormResponse] = {}
    for r in rows:  # oldest first: the newest of each person stays
        if r.program_id in (None, program_id) and r.person_id is not None \
                and (r.answers or {}).get("body") == body_kind:
            out[r.person_id] = r
    return out


async def signatures(session: AsyncSession, response_id: int) -> list[FormSignature]:
    return list((await session.scalars(
        select(FormSignature).where(FormSignature.response_id == response_id)
        .order_by(FormSignature.signed_at, FormSignature.id))).all())


async def committed(session: AsyncSession, program_id: int, until: datetime | None = None
                    ) -> list[Organization]:
    stmt = select(Organization).where(Organization.program_id == program_id,
                                      Organization.committed_at.is_not(None))
    if until is not None:
        stmt = stmt.where(Organization.committed_at <= until)
    return list((await session.scalars(stmt.order_by(Organization.name))).all())


async def form_of_response(session: AsyncSession, response: FormResponse) -> Form | None:
    """The form as the response was answered against (its stored definition)."""
    row = await session.get(FormDefinition, response.form_id)
    return form_of(row) if row is not None else None


async def milestone_for(session: AsyncSession, program_id: int, verifier: str
                        ) -> Milestone | None:
    """The first activity of the programme that this verifier proves."""
    rows = (await session.scalars(
        select(Milestone).where(Milestone.program_id == program_id)
        .order_by(Milestone.stage, Milestone.due, Milestone.id))).all()
    return next((m for m in rows if verifier in (m.verifiers or [])), None)

