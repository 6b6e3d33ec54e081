"""Actas of sessions: what was discussed and agreed (MinutesItem by section) and, through
storage.actions, what each person committed to. The evaluation session's record is an acta
too, with its own sections. Persistence only."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Minutes, MinutesItem


async def for_meeting(session: AsyncSession, program_id: int, meeting_id: int, *,
                      now: datetime, by_person_id: int | None) -> Minutes:
    """The meeting's acta, begun now if it has none yet."""
    found = await session.scalar(select(Minutes).where(Minutes.meeting_id == meeting_id))
    if found is not None:
        return found
    minutes = Minutes(program_id=program_id, meeting_id=meeting_id, recorded_by=by_person_id,
                      recorded_at=now, updated_at=now)
    session.add(minutes)
    await session.flush()
    return minutes


async def of_meeting(session: AsyncSession, meeting_id: int) -> Minutes | None:
    return await session.scalar(select(Minutes).where(Minutes.meeting_id == meeting_id))


async def add_item(session: AsyncSession, minutes: Minutes, section: str, text: str, *,
                   now: datetime) -> MinutesItem:
    last = await session.scalar(select(func.max(MinutesItem.position))
                                .where(MinutesItem.minutes_id == minutes.id))
    item = MinutesItem(minutes_id=minutes.id, section=section, text=text,
                       position=(last or 0) + 1)
    session.add(item)
    minutes.updated_at = now
    await session.flush()
    return item


async def remove_item(session: AsyncSession, item: MinutesItem, *, now: datetime) -> None:
    minutes = await session.get(Minutes, item.minutes_id)
    await session.delete(item)
    if minutes is not None:
        minutes.updated_at = now
    await session.flush()


async def items(session: AsyncSession, minutes_id: int,
                section: str | None = None) -> list[MinutesItem]:
    q = select(MinutesItem).where(MinutesItem.minutes_id == minutes_id)
    if section is not None:
        q = q.where(MinutesItem.section == section)
    return list((await session.scalars(q.order_by(MinutesItem.position, MinutesItem.id))).all())


async def of_program(session: AsyncSession, program_id: int) -> list[Minutes]:
    return list((await session.scalars(
        select(Minutes).where(Minutes.program_id == program_id)
        .order_by(Minutes.recorded_at, Minutes.id))).all())
