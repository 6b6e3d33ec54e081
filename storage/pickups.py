"""Pickups: a family's answer to its delivery day, and the premises staff's day list.

Repositories never commit; the caller's unit of work does."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from domain.rut import format_rut
from locales.collation import sort_key
from storage.models import (
    DeliveryDay,
    Family,
    Person,
    Pickup,
    PickupMode,
    PickupStatus,
    Role,
    RoleGrant,
)

# What a family may say about its pickup, any number of times until the window starts.
FAMILY_ANSWERS = frozenset({
    PickupStatus.CONFIRMED, PickupStatus.CANNOT, PickupStatus.PROXY, PickupStatus.RESCHEDULE,
})
# What only the premises staff record, once the window has started.
STAFF_MARKS = frozenset({PickupStatus.PICKED_UP, PickupStatus.NO_SHOW})
# A reason only means something for these answers; others clear it.
WITH_REASON = frozenset({PickupStatus.CANNOT, PickupStatus.RESCHEDULE})
# Answers that say the family (or its proxy) would come: once the window has closed on a day
# whose list the staff kept, a pickup still in one of these did not happen.
EXPECTED = frozenset({
    PickupStatus.PENDING, PickupStatus.NOTIFIED, PickupStatus.CONFIRMED, PickupStatus.PROXY,
})


class PickupError(Exception):
    """A transition that is not allowed; ``code`` says why, for the conversation to explain."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@dataclass(frozen=True)
class Upcoming:
    pickup: Pickup
    day: DeliveryDay


@dataclass(frozen=True)
class DayListRow:
    """One family on the premises staff's list for a delivery day."""

    pickup_id: int
    family_id: int
    family_name: str
    phone: str | None
    sector: str | None
    household_size: int | None
    mode: str
    address: str | None
    status: str
    reason: str | None
    proxy_name: str | None
    proxy_rut: str | None
    notified_at: datetime | None
    responded_at: datetime | None
    handed_at: datetime | None
    moved_to: DeliveryDay | None = None  # the day the family was moved to, if it was


def is_home_delivery(day: DeliveryDay, family: Family) -> bool:
    return PickupMode.DOMICILIO in (day.mode, family.pickup_mode)


def why_not_answerable(pickup: Pickup, day: DeliveryDay, now: datetime) -> str | None:
    """Why a family can no longer answer for this pickup, or None if it still can."""
    if day.cancelled_at is not None:
        return "cancelled"
    if pickup.status in STAFF_MARKS:
        return "closed"
    if pickup.status == PickupStatus.MOVED:
        return "moved"
    if now >= day.window_start:
        return "window_started"
    return None


async def family_of_person(session: AsyncSession, person_id: int) -> Family | None:
    return await session.scalar(
        select(Family).where(Family.person_id == person_id).order_by(Family.id).limit(1)
    )


async def day_of(session: AsyncSession, pickup: Pickup) -> DeliveryDay:
    day = await session.get(DeliveryDay, pickup.delivery_day_id)
    assert day is not None  # the foreign key guarantees it
    return day


async def next_for_family(session: AsyncSession, family_id: int, now: datetime) -> (
    Upcoming | None
):
    """The family's next pickup that has not ended yet (today's included), on a day that
    still stands."""
    row = (
        await session.execute(
            select(Pickup, DeliveryDay)
            .join(DeliveryDay, DeliveryDay.id == Pickup.delivery_day_id)
            .where(
                Pickup.family_id == family_id,
                DeliveryDay.cancelled_at.is_(None),
                DeliveryDay.window_end > now,
                Pickup.status.not_in([*STAFF_MARKS, PickupStatus.MOVED]),
            )
            .order_by(DeliveryDay.window_start, Pickup.id)
            .limit(1)
        )
    ).first()
    return Upcoming(row[0], row[1]) if row else None


async def respond(
    session: AsyncSession,
    pickup: Pickup,
    status: str,
    now: datetime,
    reason: str | None = None,
    proxy_name: str | None = None,
    proxy_rut: str | None = None,
    *,
    marked_by: int | None = None,
) -> Pickup:
    """Record a family's answer (or, with ``marked_by``, the premises staff's mark).

    Raises PickupError when the answer is not allowed now."""
    try:
        status = PickupStatus(status)
    except ValueError:
        raise PickupError("invalid_status") from None
    day = await day_of(session, pickup)
    if status in FAMILY_ANSWERS:
        problem = why_not_answerable(pickup, day, now)
        if problem:
            raise PickupError(problem)
        if status == PickupStatus.PROXY:
            proxy_name = (proxy_name or "").strip()
            # A family may not know the RUT: the staff then check it at the pickup.
            formatted = format_rut(proxy_rut) if proxy_rut else None
            if not proxy_name or (proxy_rut and formatted is None):
                raise PickupError("proxy_incomplete")
            proxy_rut = formatted
        else:
            proxy_name = proxy_rut = None
        pickup.status = status
        reason = (reason or "").strip()[:500] or None
        pickup.reason = reason if status in WITH_REASON else None
        pickup.proxy_name, pickup.proxy_rut = proxy_name, proxy_rut
        pickup.responded_at = now
    elif status in STAFF_MARKS:
        if day.cancelled_at is not None:
            raise PickupError("cancelled")
        if now < day.window_start:
            raise PickupError("window_not_started")
        pickup.status = status
        pickup.handed_at = now if status == PickupStatus.PICKED_UP else None
        pickup.marked_by = marked_by
    else:
        raise PickupError("invalid_status")
    await session.flush()
    return pickup


async def mark_notified(session: AsyncSession, pickup: Pickup, now: datetime) -> None:
    """The notice is queued: an answer the family already gave (say, via /retiro) stays."""
    pickup.notified_at = now
    if pickup.status == PickupStatus.PENDING:
        pickup.status = PickupStatus.NOTIFIED
    await session.flush()


async def kept_lists(session: AsyncSession, delivery_day_ids: Iterable[int], *,
                     as_of: datetime | None = None) -> set[int]:
    """The days among these whose list the staff kept: someone was marked as picked up
    (by ``as_of``, when given). Only on those is "did not come" known to be true, for the
    lists and the progress report (shown_status) as for the scheduler's "we missed you"."""
    ids = set(delivery_day_ids)
    if not ids:
        return set()
    handed = Pickup.status == PickupStatus.PICKED_UP
    if as_of is not None:
        handed &= or_(Pickup.handed_at.is_(None), Pickup.handed_at <= as_of)
    return set((await session.scalars(
        select(Pickup.delivery_day_id).where(Pickup.delivery_day_id.in_(ids), handed)
        .distinct())).all())


async def list_kept(session: AsyncSession, delivery_day_id: int) -> bool:
    return delivery_day_id in await kept_lists(session, [delivery_day_id])


def status_as_of(pickup: Pickup, day: DeliveryDay, at: datetime) -> str:
    """The pickup's status as it stood at ``at``, as far as its times tell (for the progress
    report's cut-off): a notice, an answer or a hand-over after it had not happened yet,
    and a no-show is known once the window is over. What a later answer replaced is not
    kept, so the family is taken as not having answered; a pickup marked after ``at`` had
    the answer that led to the mark (a proxy's, if one is named). A move keeps no time: it
    counts as it stands."""
    def by_then(moment: datetime | None) -> bool:
        return moment is None or moment <= at

    def before_the_mark() -> str:
        if pickup.responded_at is not None and pickup.responded_at <= at:
            return PickupStatus.PROXY if pickup.proxy_name else PickupStatus.CONFIRMED
        return unanswered()

    def unanswered() -> str:
        if pickup.notified_at is not None and pickup.notified_at <= at:
            return PickupStatus.NOTIFIED
        return PickupStatus.PENDING

    status = pickup.status
    if status == PickupStatus.PICKED_UP:
        return status if by_then(pickup.handed_at) else before_the_mark()
    if status == PickupStatus.NO_SHOW:
        return status if day.window_end <= at else before_the_mark()
    if status in FAMILY_ANSWERS:
        return status if by_then(pickup.responded_at) else unanswered()
    if status == PickupStatus.NOTIFIED:
        return status if by_then(pickup.notified_at) else PickupStatus.PENDING
    return status


def shown_status(pickup: Pickup, day: DeliveryDay, now: datetime, kept: bool, *,
                 status: str | None = None) -> str:
    """The status the staff's lists show (``status``, else the pickup's own): after the
    window of a day whose list was kept, a family expected but never marked did not come."""
    status = pickup.status if status is None else status
    if (kept and day.cancelled_at is None and now >= day.window_end
            and status in EXPECTED):
        return PickupStatus.NO_SHOW
    return status


async def day_list(session: AsyncSession, delivery_day_id: int, now: datetime
                   ) -> list[DayListRow]:
    rows = await session.execute(
        select(Pickup, Family)
        .join(Family, Family.id == Pickup.family_id)
        .where(Pickup.delivery_day_id == delivery_day_id)
    )
    day = await session.get(DeliveryDay, delivery_day_id)
    if day is None:
        return []
    rows = rows.all()
    kept = await list_kept(session, day.id)
    moved_to = await _moved_to_days(session, [p.moved_to_id for p, _ in rows])
    out = []
    for p, f in sorted(rows, key=lambda r: (sort_key(r[1].name), r[1].id)):
        home = is_home_delivery(day, f)
        out.append(DayListRow(
            pickup_id=p.id, family_id=f.id, family_name=f.name, phone=f.phone, sector=f.sector,
            household_size=f.household_size,
            mode=PickupMode.DOMICILIO if home else PickupMode.RETIRO,
            address=f.address if home else None, status=shown_status(p, day, now, kept),
            reason=p.reason, proxy_name=p.proxy_name, proxy_rut=p.proxy_rut,
            notified_at=p.notified_at, responded_at=p.responded_at, handed_at=p.handed_at,
            moved_to=moved_to.get(p.moved_to_id) if p.moved_to_id else None,
        ))
    return out


async def _moved_to_days(session: AsyncSession, pickup_ids: list[int | None]
                         ) -> dict[int, DeliveryDay]:
    wanted = {i for i in pickup_ids if i is not None}
    if not wanted:
        return {}
    rows = await session.execute(
        select(Pickup.id, DeliveryDay).join(DeliveryDay, DeliveryDay.id == Pickup.delivery_day_id)
        .where(Pickup.id.in_(wanted)))
    return {pid: day for pid, day in rows.all()}


async def moved_to_day(session: AsyncSession, pickup: Pickup) -> DeliveryDay | None:
    if pickup.moved_to_id is None:
        return None
    return (await _moved_to_days(session, [pickup.moved_to_id])).get(pickup.moved_to_id)


def counts_of(rows: list[DayListRow]) -> dict[str, int]:
    """How many families are in each status, as the list shows them."""
    out: dict[str, int] = {}
    for r in rows:
        out[r.status] = out.get(r.status, 0) + 1
    return out


async def day_counts(session: AsyncSession, delivery_day_id: int, now: datetime
                     ) -> dict[str, int]:
    """How many families are in each status on a delivery day, as the list shows them."""
    return counts_of(await day_list(session, delivery_day_id, now))


async def status_counts(session: AsyncSession, delivery_day_ids: Iterable[int]
                        ) -> dict[int, dict[str, int]]:
    """How many families are in each stored status, by day, in one query: for days still to
    come, which is what their lists show (a no-show is only known after the window)."""
    ids = list(delivery_day_ids)
    out: dict[int, dict[str, int]] = {i: {} for i in ids}
    if not ids:
        return out
    rows = await session.execute(
        select(Pickup.delivery_day_id, Pickup.status, func.count())
        .where(Pickup.delivery_day_id.in_(ids))
        .group_by(Pickup.delivery_day_id, Pickup.status))
    for day_id, status, n in rows.all():
        out[day_id][status] = n
    return out


async def note_reason(session: AsyncSession, pickup: Pickup, text: str) -> None:
    """Keep what the family said about the dates that suit it, whatever the status: after
    the window its answer no longer changes, but the team still needs to read it."""
    pickup.reason = (text or "").strip()[:500] or None
    await session.flush()


async def team_of(session: AsyncSession, program_id: int) -> list[int]:
    """The gestoras and coordinadoras of the programme (a grant for every programme
    counts), who hear of what families ask of the team."""
    rows = await session.scalars(
        select(RoleGrant.person_id)
        .join(Person, Person.id == RoleGrant.person_id)
        .where(RoleGrant.role.in_([Role.GESTORA, Role.COORDINADORA]),
               or_(RoleGrant.program_id == program_id, RoleGrant.program_id.is_(None)),
               Person.erased_at.is_(None))
        .distinct()
    )
    return sorted(rows.all())
