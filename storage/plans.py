"""The plan de trabajo participativo and the plan de comunicaciones: one of each per
programme, with its objectives; the actions are storage.actions rows (plan_id). Also the
people a plan's document names: the body's members and the programme's gestoras.
Persistence only."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage import actions
from storage.models import (
    ActionItem,
    Body,
    Membership,
    Person,
    Plan,
    PlanKind,
    PlanObjective,
    Role,
    RoleGrant,
)

# Who leads each plan, by the body's kind in the programme template (the guide's table).
BODY_OF = {PlanKind.WORK: "grupo_motor", PlanKind.COMMUNICATIONS: "consejo_local"}
# The sessions in which each plan is drawn up and validated (template meeting kinds).
MEETING_KIND_OF = {PlanKind.WORK: "plan_trabajo", PlanKind.COMMUNICATIONS: "plan_comunicaciones"}


async def of_kind(session: AsyncSession, program_id: int, kind: str) -> Plan | None:
    return await session.scalar(select(Plan).where(Plan.program_id == program_id,
                                                   Plan.kind == kind))


async def body_for(session: AsyncSession, program_id: int, kind: str) -> Body | None:
    return await session.scalar(select(Body).where(Body.program_id == program_id,
                                                   Body.kind == BODY_OF[PlanKind(kind)])
                                .order_by(Body.id).limit(1))


async def ensure(session: AsyncSession, program_id: int, kind: str, *, now: datetime) -> Plan:
    """The programme's plan of this kind, begun now (led by its body) if there is none."""
    found = await of_kind(session, program_id, kind)
    if found is not None:
        return found
    body = await body_for(session, program_id, kind)
    plan = Plan(program_id=program_id, kind=PlanKind(kind), body_id=body.id if body else None,
                created_at=now)
    session.add(plan)
    await session.flush()
    return plan


async def objectives(session: AsyncSession, plan_id: int) -> list[PlanObjective]:
    return list((await session.scalars(
        select(PlanObjective).where(PlanObjective.plan_id == plan_id)
        .order_by(PlanObjective.position, PlanObjective.id))).all())


async def add_objective(session: AsyncSession, plan: Plan, text: str) -> PlanObjective:
    last = await session.scalar(select(func.max(PlanObjective.position))
                                .where(PlanObjective.plan_id == plan.id))
    row = PlanObjective(plan_id=plan.id, text=text, position=(last or 0) + 1)
    session.add(row)
    await session.flush()
    return row


async def next_action_position(session: AsyncSession, plan_id: int) -> int:
    last = await session.scalar(select(func.max(ActionItem.position))
                                .where(ActionItem.plan_id == plan_id))
    return (last or 0) + 1


async def remove_action(session: AsyncSession, item: ActionItem, *, now: datetime) -> bool:
    """See ``actions.strike``: the same rule for a plan's action and an acta's commitment."""
    return await actions.strike(session, item, now=now)


async def remove_objective(session: AsyncSession, objective: PlanObjective, *,
                           now: datetime) -> None:
    """The objective and the actions under it (those with a history stay, dropped)."""
    items = (await session.scalars(select(ActionItem).where(
        ActionItem.objective_id == objective.id))).all()
    for item in items:
        if not await remove_action(session, item, now=now):
            item.objective_id = None
    await session.execute(delete(PlanObjective).where(PlanObjective.id == objective.id))
    await session.flush()


async def approve(session: AsyncSession, plan: Plan, *, meeting_id: int,
                  at: datetime) -> None:
    plan.approved_meeting_id, plan.approved_at = meeting_id, at
    await session.flush()


async def last_change(session: AsyncSession, plan: Plan) -> datetime:
    latest = await session.scalar(select(func.max(ActionItem.created_at))
                                  .where(ActionItem.plan_id == plan.id))
    return max(d for d in (plan.created_at, latest) if d is not None)


async def members(session: AsyncSession, body_id: int | None) -> list[Person]:
    """The body's current members, in the order they joined."""
    if body_id is None:
        return []
    return list((await session.scalars(
        select(Person).join(Membership, Membership.person_id == Person.id)
        .where(Membership.body_id == body_id, Membership.left_at.is_(None),
               Person.erased_at.is_(None))
        .order_by(Membership.joined_at, Membership.id))).all())


async def gestoras(session: AsyncSession, program_id: int) -> list[Person]:
    """The programme's gestoras comunitarias (the signature a plan and a diagnosis carry)."""
    rows = (await session.scalars(
        select(Person).join(RoleGrant, RoleGrant.person_id == Person.id)
        .where(RoleGrant.role == Role.GESTORA, RoleGrant.program_id == program_id,
               Person.erased_at.is_(None))
        .order_by(RoleGrant.granted_at, Person.id))).all()
    return list({p.id: p for p in rows}.values())
