"""Programmes made from a template: their bodies and dated milestones."""

from __future__ import annotations

from datetime import date, datetime
from os import PathLike

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from storage.models import Body, Milestone, Program
from storage.program_templates import ProgramTemplate, load_template, template_to_store


async def create(
    session: AsyncSession, *, template: str | PathLike[str] | ProgramTemplate, start: date,
    name: str, now: datetime,
) -> Program:
    tpl = template if isinstance(template, ProgramTemplate) else load_template(template)
    program = Program(
        name=name, template_key=tpl.key, start_date=start, timezone=tpl.timezone,
        template=template_to_store(tpl), settings={}, created_at=now,
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
    await session.flush()
    return program


async def get(session: AsyncSession, program_id: int | None = None) -> Program | None:
    stmt = select(Program).options(selectinload(Program.milestones))
    if program_id is None:
        stmt = stmt.order_by(Program.id.desc()).limit(1)
    else:
        stmt = stmt.where(Program.id == program_id)
    return await session.scalar(stmt)


async def all_programs(session: AsyncSession) -> list[Program]:
    return list((await session.scalars(select(Program).order_by(Program.id))).all())


async def bodies(session: AsyncSession, program_id: int) -> list[Body]:
    return list(
        (await session.scalars(select(Body).where(Body.program_id == program_id))).all()
    )
