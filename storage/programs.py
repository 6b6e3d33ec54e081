"""Programmes made from a template: their bodies and dated milestones."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from os import PathLike
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from domain.countries import Country, country
from domain.forms import Form, forms_to_store, load_form
from domain.program_templates import (
    ProgramTemplate,
    TemplateError,
    load_template,
    program_template,
    template_to_store,
)
from storage.models import Body, Milestone, Person, Program, Role, RoleGrant


async def create(
    session: AsyncSession, *, template: str | PathLike[str] | ProgramTemplate, start: date,
    name: str, now: datetime, forms: Mapping[str, Form] | None = None,
) -> Program:
    """``forms``: those the template names (``TemplateLibrary.forms_of``); without them,
    the shipped forms of those names."""
    tpl = template if isinstance(template, ProgramTemplate) else load_template(template)
    if forms is None:
        forms = {use.form: load_form(use.form) for use in tpl.forms}
    # A members' declaration offers this programme's bodies, not the Ecomercado's.
    bodies = [(body.key, body.name) for body in tpl.bodies]
    forms = {key: form.for_bodies(bodies) for key, form in forms.items()}
    program = Program(
        name=name, template_key=tpl.key, start_date=start, timezone=tpl.timezone,
        template=template_to_store(tpl), forms=forms_to_store(forms), settings={},
        created_at=now,
    )
    program.milestones = [
        Milestone(
            key=m.key, stage=m.stage or 0, kind=m.kind, name=dict(m.name), starts=m.starts,
            due=m.due, planned_due=m.due, meeting_kind=m.meeting_kind,
            min_sessions=m.min_sessions, verifiers=list(m.verifiers),
        )
        for m in tpl.milestones(start)
    ]
    session.add(program)
    await session.flush()
    for body in tpl.bodies:
        session.add(
            Body(program_id=program.id, kind=body.key, name=body.name["es"],
                 cadence_months=body.cadence_months)
        )
    if await session.scalar(select(func.count()).select_from(Program)) == 1:
        # Roles given before there was any programme (an administrator added first) are
        # roles in the first one.
        await session.execute(update(RoleGrant).where(RoleGrant.program_id.is_(None))
                              .values(program_id=program.id)
                              .execution_options(synchronize_session=False))
    await session.flush()
    return program


async def get(session: AsyncSession, program_id: int) -> Program | None:
    # Always a named one: which programme is meant is never guessed (bot.commands.the_program).
    return await session.scalar(select(Program).options(selectinload(Program.milestones))
                                .where(Program.id == program_id))


async def existing(session: AsyncSession, program_id: int) -> Program:
    """The programme a caller already knows exists (from a row or a checked choice); a
    missing one is a fault, not an answer."""
    program = await session.get(Program, program_id)
    if program is None:
        raise LookupError(f"no programme {program_id}")
    return program


async def by_id(session: AsyncSession, program_ids: Iterable[int | None]) -> dict[int, Program]:
    """The programmes among ``program_ids`` (None skipped), by id."""
    wanted = {i for i in program_ids if i is not None}
    if not wanted:
        return {}
    return {p.id: p for p in (await session.scalars(
        select(Program).where(Program.id.in_(wanted)))).all()}


async def all_programs(session: AsyncSession) -> list[Program]:
    return list((await session.scalars(select(Program).order_by(Program.id))).all())


async def bodies(session: AsyncSession, program_id: int) -> list[Body]:
    return list(
        (await session.scalars(select(Body).where(Body.program_id == program_id))).all()
    )


# --- where a person stands: roles by programme, and the programme they work on ----------------

STAFF_ROLES = frozenset({Role.GESTORA, Role.COORDINADORA, Role.RECINTO})


class Choose:
    """The answer when someone holds the roles asked for in several programmes and has not
    chosen one of them: they are asked which."""

    def __init__(self, program_ids: list[int]) -> None:
        self.program_ids = program_ids


@dataclass(frozen=True)
class Standing:
    """A person's roles in each programme and the programme they chose to work on.

    A grant made while no programme existed (``program_id`` empty: the first programme made
    takes it) counts in every programme there is, and, while there is none, ``anywhere``."""

    held: Mapping[int, frozenset[str]] = field(default_factory=dict)
    anywhere: frozenset[str] = frozenset()
    chosen: int | None = None
    own: int | None = None  # the programme the person belongs to (their family, their body)
    names: Mapping[int, str] = field(default_factory=dict)  # when there are several to tell

    def roles_in(self, program_id: int | None) -> frozenset[str]:
        if program_id is None:
            return self.anywhere
        return self.held.get(program_id, frozenset()) | self.anywhere

    def programs_with(self, roles: Iterable[str]) -> list[int]:
        wanted = frozenset(roles)
        return sorted(p for p, held in self.held.items() if held & wanted)

    def acting(self, roles: Iterable[str] = STAFF_ROLES) -> int | Choose | None:
        """The programme this person works on with these roles: the one they chose, else the
        only one where they hold them; ``Choose`` when there are several to pick from."""
        ids = self.programs_with(roles)
        if self.chosen in ids:
            return self.chosen
        if len(ids) == 1:
            return ids[0]
        return Choose(ids) if ids else None

    def home(self) -> int | None:
        """The programme whose clock this person reads: the one they chose, else their own,
        else the only one they hold a role in."""
        if self.chosen is not None and self.chosen in self.held:
            return self.chosen
        if self.own is not None:
            return self.own
        ids = sorted(self.held)
        return ids[0] if len(ids) == 1 else None


async def standing(session: AsyncSession, person: Person) -> Standing:
    """From the roles already loaded with the person; the programmes are read only for a
    grant that counts in all of them."""
    held: dict[int, set[str]] = {}
    anywhere = {g.role for g in person.roles if g.program_id is None}
    for g in person.roles:
        if g.program_id is not None:
            held.setdefault(g.program_id, set()).add(g.role)
    if anywhere:
        for pid in (await session.scalars(select(Program.id))).all():
            held.setdefault(pid, set()).update(anywhere)
    names: dict[int, str] = {}
    teams = [p for p, roles in held.items() if roles & STAFF_ROLES]
    if len(teams) > 1:  # to ask which one, or to say which one they are in
        names = dict((await session.execute(
            select(Program.id, Program.name).where(Program.id.in_(teams)))).all())
    return Standing({p: frozenset(r) for p, r in held.items()}, frozenset(anywhere),
                    person.chosen_program_id, person.program_id, names)


async def zone_of(session: AsyncSession, program_id: int | None) -> str | None:
    """A programme's time zone, read once per unit of work."""
    if program_id is None:
        return None
    zones = session.info.setdefault("program_zones", {})
    if program_id not in zones:
        zones[program_id] = await session.scalar(
            select(Program.timezone).where(Program.id == program_id))
    return zones[program_id]


@dataclass(frozen=True)
class Place:
    """Where a programme runs, as its kept template says: its country and its locale."""

    country: Country
    locale: str


_NOWHERE = Place(country(None), country(None).locale)


def place_of_nothing() -> Place:
    """Where a person with no programme is: Chile, as every programme was before."""
    return _NOWHERE


async def place_of(session: AsyncSession, program_id: int | None) -> Place:
    """A programme's country and locale, read once per unit of work (Chile's for none, or
    for a row whose template cannot be read: what every programme was before)."""
    if program_id is None:
        return _NOWHERE
    places = session.info.setdefault("program_places", {})
    if program_id not in places:
        row = (await session.execute(select(Program.template, Program.template_key)
                                     .where(Program.id == program_id))).first()
        places[program_id] = _place(row)
    return places[program_id]  # type: ignore[no-any-return]


def _place(row: Any) -> Place:
    try:
        tpl = program_template(row) if row is not None else None
    except TemplateError:
        tpl = None
    return Place(country(tpl.country), tpl.locale) if tpl is not None else _NOWHERE


async def country_of(session: AsyncSession, program_id: int | None) -> Country:
    return (await place_of(session, program_id)).country


async def countries_in_use(session: AsyncSession) -> list[Country]:
    """The countries of the installation's programmes, each once, the oldest programme's
    first; none without programmes."""
    # One read for all of them: a person in no programme asks this at every typed number.
    places = session.info.setdefault("program_places", {})
    found: dict[str, Country] = {}
    for row in (await session.execute(select(Program.id, Program.template, Program.template_key)
                                      .order_by(Program.id))).all():
        where = places.setdefault(row.id, _place(row)).country
        found.setdefault(where.code, where)
    return list(found.values())


async def zone_of_person(session: AsyncSession, person: Person) -> str | None:
    """The zone of a person's programme when their roles are not at hand (a notice for
    them): the one they chose, else their own, else the only one they hold a role in."""
    return await zone_of(session, await _program_of_person(session, person))


async def place_of_person(session: AsyncSession, person: Person) -> Place:
    """The country and locale of a person's programme, found as ``zone_of_person`` finds it."""
    return await place_of(session, await _program_of_person(session, person))


async def _program_of_person(session: AsyncSession, person: Person) -> int | None:
    program_id = person.chosen_program_id or person.program_id
    if program_id is None:
        ids = set((await session.scalars(
            select(RoleGrant.program_id).where(RoleGrant.person_id == person.id,
                                               RoleGrant.program_id.is_not(None)))).all())
        program_id = ids.pop() if len(ids) == 1 else None
    return program_id
