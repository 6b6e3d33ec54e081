"""The hand-over of the programme's goods to a formal community organisation (Handover,
its HandoverGoods): what the acta de traspaso and the inventory are drawn from. The rules
of use are the agreed text ``reglamento_uso`` (storage.agreed). Persistence only."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from domain.goods import grand_total
from storage.models import Handover, HandoverGood, Organization, Representative

REGLAMENTO_USO = "reglamento_uso"  # the template verifier key of the rules of use


async def create(session: AsyncSession, program_id: int, *, now: datetime,
                 by_person_id: int | None, organization_id: int | None = None,
                 meeting_id: int | None = None, handed_on: date | None = None) -> Handover:
    row = Handover(program_id=program_id, organization_id=organization_id,
                   meeting_id=meeting_id, handed_on=handed_on, recorded_by=by_person_id,
                   recorded_at=now)
    session.add(row)
    await session.flush()
    return row


async def of_program(session: AsyncSession, program_id: int) -> list[Handover]:
    """The programme's hand-overs, oldest first (usually one)."""
    return list((await session.scalars(
        select(Handover).where(Handover.program_id == program_id)
        .order_by(Handover.recorded_at, Handover.id))).all())


async def get(session: AsyncSession, program_id: int, handover_id: int) -> Handover | None:
    """The hand-over, only if it is this programme's."""
    row = await session.get(Handover, handover_id)
    return row if row is not None and row.program_id == program_id else None


async def add_good(session: AsyncSession, handover: Handover, description: str,
                   quantity: int, unit_value: int | None,
                   condition: str | None = None) -> HandoverGood:
    last = await session.scalar(select(func.max(HandoverGood.position))
                                .where(HandoverGood.handover_id == handover.id))
    good = HandoverGood(handover_id=handover.id, description=description, quantity=quantity,
                        unit_value=unit_value, condition=condition, position=(last or 0) + 1)
    session.add(good)
    await session.flush()
    return good


async def goods(session: AsyncSession, handover_id: int) -> list[HandoverGood]:
    return list((await session.scalars(
        select(HandoverGood).where(HandoverGood.handover_id == handover_id)
        .order_by(HandoverGood.position, HandoverGood.id))).all())


async def remove_good(session: AsyncSession, handover: Handover, good_id: int) -> bool:
    """Take one good off the list; False when it is not this hand-over's."""
    good = await session.get(HandoverGood, good_id)
    if good is None or good.handover_id != handover.id:
        return False
    await session.delete(good)
    await session.flush()
    return True


async def remove(session: AsyncSession, handover: Handover) -> None:
    for good in await goods(session, handover.id):
        await session.delete(good)
    # The goods first: with no relationship between them the unit of work may delete the
    # hand-over first, and the database's cascade would take the goods before their DELETE.
    await session.flush()
    await session.delete(handover)
    await session.flush()


def total(rows: list[HandoverGood]) -> int:
    """The value of the goods in pesos."""
    return grand_total((g.quantity, g.unit_value) for g in rows)


async def receivers(session: AsyncSession, program_id: int) -> list[Organization]:
    """The catastro's organisations that could receive the goods: formalised ones (with a
    RUT) first, then those that committed to the programme, then the rest, by name. The
    guide asks for a formal, active organisation; the others stay choosable, with a word."""
    rows = (await session.scalars(
        select(Organization).where(Organization.program_id == program_id))).all()
    return sorted(rows, key=lambda o: (not o.rut, o.committed_at is None, o.name.casefold()))


async def representative(session: AsyncSession, organization_id: int) -> Representative | None:
    """The organisation's main representative (the primary one, else the first named)."""
    return await session.scalar(
        select(Representative).where(Representative.organization_id == organization_id)
        .order_by(Representative.is_primary.desc(), Representative.id).limit(1))
