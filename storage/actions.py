"""Action items, a plan's actions and a session's commitments alike, and their reports: the
rows the matriz de seguimiento is drawn from. Persistence only; who may report and what
the person is told live in the handlers and services."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import ActionItem, ActionStatus, ActionUpdate, Person, Plan, PlanObjective

OPEN = (ActionStatus.PENDING, ActionStatus.UNDER_WAY, ActionStatus.STUCK)


async def add(session: AsyncSession, *, program_id: int, text: str, now: datetime,
              created_by: int | None = None, **fields: Any) -> ActionItem:
    """A new action item; ``fields`` are ActionItem's other columns (plan_id, minutes_id,
    due, responsible_person_id, responsible_name, expected_result...)."""
    item = ActionItem(program_id=program_id, text=text, created_at=now, created_by=created_by,
                      status=ActionStatus.PENDING, **fields)
    session.add(item)
    await session.flush()
    return item


async def report(session: AsyncSession, item: ActionItem, status: str, *, now: datetime,
                 by_person_id: int | None, note: str | None = None,
                 photo: dict[str, Any] | None = None) -> ActionUpdate:
    """Record a report on the item; the item's status becomes the reported one."""
    if status not in set(ActionStatus):
        raise ValueError(f"unknown action status {status!r}")
    update = ActionUpdate(action_id=item.id, status=status, note=note, photo=photo, at=now,
                          by_person_id=by_person_id)
    session.add(update)
    item.status = status
    item.status_at = now
    await session.flush()
    return update


async def add_note(session: AsyncSession, update: ActionUpdate, *, note: str | None = None,
                   photo: dict[str, Any] | None = None) -> None:
    """The optional note or photo sent after a report, kept on that report."""
    if note:
        update.note = f"{update.note}\n{note}" if update.note else note
    if photo:
        update.photo = photo
    await session.flush()


async def history(session: AsyncSession, action_ids: list[int]) -> dict[int, list[ActionUpdate]]:
    """Every report on these actions, oldest first, by action."""
    out: dict[int, list[ActionUpdate]] = {i: [] for i in action_ids}
    if not action_ids:
        return out
    rows = await session.scalars(
        select(ActionUpdate).where(ActionUpdate.action_id.in_(action_ids))
        .order_by(ActionUpdate.at, ActionUpdate.id))
    for u in rows:
        out[u.action_id].append(u)
    return out


async def of_plan(session: AsyncSession, plan_id: int) -> list[ActionItem]:
    return list((await session.scalars(
        select(ActionItem).where(ActionItem.plan_id == plan_id)
        .order_by(ActionItem.objective_id, ActionItem.position, ActionItem.id))).all())


async def of_minutes(session: AsyncSession, minutes_id: int, *,
                     with_dropped: bool = False) -> list[ActionItem]:
    """The acta's commitments; one struck after it was reported on stays in the follow-up
    (dropped) but no longer stands in the acta."""
    query = select(ActionItem).where(ActionItem.minutes_id == minutes_id)
    if not with_dropped:
        query = query.where(ActionItem.status != ActionStatus.DROPPED)
    return list((await session.scalars(
        query.order_by(ActionItem.position, ActionItem.id))).all())


async def open_for(session: AsyncSession, person_id: int,
                   program_id: int | None = None) -> list[ActionItem]:
    """What this person still answers for, soonest deadline first."""
    q = select(ActionItem).where(ActionItem.responsible_person_id == person_id,
                                 ActionItem.status.in_(OPEN))
    if program_id is not None:
        q = q.where(ActionItem.program_id == program_id)
    rows = (await session.scalars(q.order_by(ActionItem.due, ActionItem.id))).all()
    # Undated ones last: a deadline is what makes an action urgent.
    return sorted(rows, key=lambda a: (a.due is None, a.due or date.min, a.id))


async def open_due_between(session: AsyncSession, program_id: int, first: date,
                           last: date) -> list[ActionItem]:
    """Open actions of the programme due in [first, last]."""
    return list((await session.scalars(
        select(ActionItem).where(ActionItem.program_id == program_id,
                                 ActionItem.status.in_(OPEN),
                                 ActionItem.due >= first, ActionItem.due <= last)
        .order_by(ActionItem.due, ActionItem.id))).all())


async def overdue(session: AsyncSession, program_id: int, today: date) -> list[ActionItem]:
    """Open actions whose deadline has passed (the day itself still counts as in time)."""
    return list((await session.scalars(
        select(ActionItem).where(ActionItem.program_id == program_id,
                                 ActionItem.status.in_(OPEN), ActionItem.due < today)
        .order_by(ActionItem.due, ActionItem.id))).all())


async def responsible_names(session: AsyncSession, items: list[ActionItem]) -> dict[int, str]:
    """Who answers for each item, as a name to show, by item: one query for a list."""
    ids = {a.responsible_person_id for a in items if a.responsible_person_id is not None}
    names: dict[int, str] = {}
    if ids:
        names = {pid: name for pid, name in (await session.execute(
            select(Person.id, Person.name).where(Person.id.in_(ids)))).all() if name}
    return {a.id: names.get(a.responsible_person_id or 0) or a.responsible_name or ""
            for a in items}


async def has_reports(session: AsyncSession, item: ActionItem) -> bool:
    return bool(await session.scalar(select(func.count()).select_from(ActionUpdate)
                                     .where(ActionUpdate.action_id == item.id)))


async def strike(session: AsyncSession, item: ActionItem, *, now: datetime) -> bool:
    """A plan's action or an acta's commitment taken back: one never reported on goes; one
    with a history is kept, dropped, so the follow-up matrix still shows what was done about
    it (its reports and photos are the programme's evidence). True when it went."""
    if await has_reports(session, item):
        item.status, item.status_at = ActionStatus.DROPPED, now
        await session.flush()
        return False
    await session.delete(item)
    await session.flush()
    return True


async def remove(session: AsyncSession, item: ActionItem) -> None:
    """An item recorded by mistake, with its reports (a commitment struck from an acta): the
    reports go with it (their foreign key cascades)."""
    await session.execute(delete(ActionUpdate).where(ActionUpdate.action_id == item.id))
    await session.delete(item)
    await session.flush()


async def of_program(session: AsyncSession, program_id: int) -> list[ActionItem]:
    """Every action item of the programme: the plans' first, then the actas' commitments."""
    return list((await session.scalars(
        select(ActionItem).where(ActionItem.program_id == program_id)
        .order_by(ActionItem.plan_id.is_(None), ActionItem.plan_id, ActionItem.objective_id,
                  ActionItem.minutes_id, ActionItem.position, ActionItem.id))).all())


async def with_due_between(session: AsyncSession, program_id: int, first: date,
                           last: date) -> list[ActionItem]:
    """Every action of the programme due in [first, last], whatever its status: what the
    scheduler groups reminders by (a status changing must not regroup what was sent)."""
    return list((await session.scalars(
        select(ActionItem).where(ActionItem.program_id == program_id,
                                 ActionItem.due >= first, ActionItem.due <= last)
        .order_by(ActionItem.due, ActionItem.id))).all())


async def by_ids(session: AsyncSession, ids: list[int]) -> list[ActionItem]:
    if not ids:
        return []
    return list((await session.scalars(
        select(ActionItem).where(ActionItem.id.in_(ids))
        .order_by(ActionItem.due, ActionItem.id))).all())


async def last_report_at(session: AsyncSession, program_id: int,
                         until: datetime | None = None) -> datetime | None:
    """When anyone last reported on one of the programme's actions (up to ``until``)."""
    q = (select(ActionUpdate.at).join(ActionItem, ActionItem.id == ActionUpdate.action_id)
         .where(ActionItem.program_id == program_id))
    if until is not None:
        q = q.where(ActionUpdate.at <= until)
    return await session.scalar(q.order_by(ActionUpdate.at.desc()).limit(1))


async def plans_of(session: AsyncSession, program_id: int) -> list[Plan]:
    return list((await session.scalars(
        select(Plan).where(Plan.program_id == program_id).order_by(Plan.kind, Plan.id))).all())


async def objectives_of(session: AsyncSession, plan_ids: list[int]) -> dict[int, PlanObjective]:
    if not plan_ids:
        return {}
    rows = await session.scalars(select(PlanObjective).where(PlanObjective.plan_id.in_(plan_ids)))
    return {o.id: o for o in rows}
