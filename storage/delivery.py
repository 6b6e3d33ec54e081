"""Delivery days as the team defines them: one day or a weekly pattern, the families
assigned to each (Pickup rows), the notice policy of the Ecomercado's internal procedure,
and cancelling a day.

The chat and the command line call these same functions. Repositories never commit; the
caller's unit of work does. Notices are not queued here: the scheduler derives them from
these rows (the cancellation notice is composed by the conversation layer)."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from domain.program_templates import TemplateError, program_template
from locales.collation import sort_key
from storage import outbox
from storage.models import DeliveryDay, Family, Pickup, PickupMode, PickupStatus, Program

POLICIES = ("all_at_once", "before_each")
SETTINGS_KEY = "pickup_policy"
MAX_DAYS = 52  # a year of weekly days: more is surely a typo
DEFAULT_POLICY = "before_each"

# The staff's counts, in the order they are shown; each groups one or more statuses.
COUNT_GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("confirmed", (PickupStatus.CONFIRMED,)),
    ("cannot", (PickupStatus.CANNOT,)),
    ("proxy", (PickupStatus.PROXY,)),
    ("reschedule", (PickupStatus.RESCHEDULE,)),
    ("moved", (PickupStatus.MOVED,)),
    ("picked_up", (PickupStatus.PICKED_UP,)),
    ("no_show", (PickupStatus.NO_SHOW,)),
    ("no_answer", (PickupStatus.PENDING, PickupStatus.NOTIFIED)),
)


class DeliveryError(Exception):
    """Something the team asked for that cannot be done; ``code`` says why."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


# --- the notice policy ----------------------------------------------------------------


def template_policy(program: Program) -> str:
    try:
        return program_template(program).reminders.pickup.policy
    except (TemplateError, KeyError, ValueError):
        return DEFAULT_POLICY


def pickup_policy(program: Program) -> str:
    """How families hear of their dates: what the gestora chose for this programme (its
    internal procedure), else what the programme template says."""
    chosen = (program.settings or {}).get(SETTINGS_KEY)
    return chosen if chosen in POLICIES else template_policy(program)


def pickup_days_before(program: Program) -> int:
    try:
        return program_template(program).reminders.pickup.days_before
    except (TemplateError, KeyError, ValueError):
        return 2


def set_pickup_policy(program: Program, policy: str) -> bool:
    """Store the policy; True if it changed."""
    if policy not in POLICIES:
        raise DeliveryError("unknown_policy")
    before = pickup_policy(program)
    # A new dict: the JSON column only notices reassignment, not mutation in place.
    program.settings = {**(program.settings or {}), SETTINGS_KEY: policy}
    return before != policy


# --- dates ----------------------------------------------------------------------------


def local_window(tz: str, on: date, start: time, end: time) -> tuple[datetime, datetime]:
    """The hour window of a day in the programme's zone, as aware UTC datetimes."""
    zone = ZoneInfo(tz)
    return (datetime.combine(on, start, zone).astimezone(UTC),
            datetime.combine(on, end, zone).astimezone(UTC))


def repeat_dates(first: date, every_weeks: int = 0, count: int | None = None,
                 until: date | None = None) -> list[date]:
    """The first date and, every ``every_weeks`` weeks, the next ones: ``count`` dates in all,
    or up to ``until`` (inclusive); never more than MAX_DAYS."""
    if every_weeks <= 0:
        return [first]
    if count is None and until is None:
        raise DeliveryError("repeat_without_end")
    if until is not None and until < first:
        raise DeliveryError("until_before_first")
    out: list[date] = []
    d = first
    while len(out) < MAX_DAYS:
        if count is not None and len(out) >= count:
            break
        if until is not None and d > until:
            break
        out.append(d)
        d += timedelta(weeks=every_weeks)
    return out


# --- days -----------------------------------------------------------------------------


@dataclass(frozen=True)
class DayPlan:
    """What the team decided for one or more delivery days."""

    mode: str
    dates: tuple[date, ...]
    start: time
    end: time
    place: str | None = None
    address: str | None = None


def _clean(text: str | None, limit: int = 200) -> str | None:
    text = " ".join((text or "").split())
    return text[:limit] or None


async def create_days(session: AsyncSession, program: Program, plan: DayPlan,
                      now: datetime) -> list[DeliveryDay]:
    """Create the days of a plan; a day that already stands (same window, mode and place)
    is returned as it is rather than doubled, so saving twice changes nothing."""
    if plan.mode not in set(PickupMode):
        raise DeliveryError("unknown_mode")
    if plan.end <= plan.start:
        raise DeliveryError("end_before_start")
    if not plan.dates:
        raise DeliveryError("no_dates")
    if len(plan.dates) > MAX_DAYS:
        raise DeliveryError("too_many_days")
    place, address = _clean(plan.place), _clean(plan.address)
    out = []
    for on in plan.dates:
        start, end = local_window(program.timezone, on, plan.start, plan.end)
        existing = await session.scalar(
            select(DeliveryDay).where(
                DeliveryDay.program_id == program.id, DeliveryDay.window_start == start,
                DeliveryDay.window_end == end, DeliveryDay.mode == plan.mode,
                DeliveryDay.cancelled_at.is_(None),
                DeliveryDay.place.is_(None) if place is None else DeliveryDay.place == place,
            ).limit(1)
        )
        if existing is not None:
            out.append(existing)
            continue
        day = DeliveryDay(program_id=program.id, mode=plan.mode, window_start=start,
                          window_end=end, place=place, address=address, created_at=now)
        session.add(day)
        out.append(day)
    await session.flush()
    return out


async def last_place(session: AsyncSession, program_id: int) -> tuple[str, str | None] | None:
    """Where the most recently defined day with a place was, for "same as last time"."""
    row = (await session.execute(
        select(DeliveryDay.place, DeliveryDay.address)
        .where(DeliveryDay.program_id == program_id, DeliveryDay.place.is_not(None))
        .order_by(DeliveryDay.created_at.desc(), DeliveryDay.id.desc()).limit(1)
    )).first()
    return (row[0], row[1]) if row else None


async def get_day(session: AsyncSession, program_id: int, day_id: int) -> DeliveryDay | None:
    day = await session.get(DeliveryDay, day_id)
    return day if day is not None and day.program_id == program_id else None


async def days_from(session: AsyncSession, program_id: int, since: datetime, *,
                    include_cancelled: bool = False, limit: int | None = None,
                    offset: int = 0) -> list[DeliveryDay]:
    """Days whose window ends after ``since``, soonest first."""
    stmt = (select(DeliveryDay)
            .where(DeliveryDay.program_id == program_id, DeliveryDay.window_end > since)
            .order_by(DeliveryDay.window_start, DeliveryDay.id).offset(offset))
    if not include_cancelled:
        stmt = stmt.where(DeliveryDay.cancelled_at.is_(None))
    if limit is not None:
        stmt = stmt.limit(limit)
    return list((await session.scalars(stmt)).all())


async def count_days_from(session: AsyncSession, program_id: int, since: datetime, *,
                          include_cancelled: bool = False) -> int:
    stmt = (select(func.count()).select_from(DeliveryDay)
            .where(DeliveryDay.program_id == program_id, DeliveryDay.window_end > since))
    if not include_cancelled:
        stmt = stmt.where(DeliveryDay.cancelled_at.is_(None))
    return int(await session.scalar(stmt) or 0)


async def all_days(session: AsyncSession, program_id: int) -> list[DeliveryDay]:
    return list((await session.scalars(
        select(DeliveryDay).where(DeliveryDay.program_id == program_id)
        .order_by(DeliveryDay.window_start, DeliveryDay.id))).all())


async def days_on(session: AsyncSession, program: Program, on: date) -> list[DeliveryDay]:
    """The days (not cancelled) whose window starts on this local date."""
    zone = ZoneInfo(program.timezone)
    start = datetime.combine(on, time(0), zone).astimezone(UTC)
    end = datetime.combine(on + timedelta(days=1), time(0), zone).astimezone(UTC)
    return list((await session.scalars(
        select(DeliveryDay).where(
            DeliveryDay.program_id == program.id, DeliveryDay.cancelled_at.is_(None),
            DeliveryDay.window_start >= start, DeliveryDay.window_start < end)
        .order_by(DeliveryDay.window_start, DeliveryDay.id))).all())


async def days_between(session: AsyncSession, program_id: int, start: datetime, end: datetime
                       ) -> list[DeliveryDay]:
    """Days (cancelled ones too, to show them crossed out) whose window starts in
    [start, end): a month of the calendar."""
    return list((await session.scalars(
        select(DeliveryDay).where(
            DeliveryDay.program_id == program_id, DeliveryDay.window_start >= start,
            DeliveryDay.window_start < end)
        .order_by(DeliveryDay.window_start, DeliveryDay.id))).all())


async def around(session: AsyncSession, program: Program, now: datetime, *, back_days: int = 7
                 ) -> list[DeliveryDay]:
    """Days the staff may want to open: from a week ago onwards, not cancelled."""
    return await days_from(session, program.id, now - timedelta(days=back_days))


# --- families -------------------------------------------------------------------------


def _families(program_id: int, mode: str | None) -> Select[tuple[Family]]:
    stmt = select(Family).where(Family.program_id == program_id)
    if mode is not None:
        stmt = stmt.where(Family.pickup_mode == mode)
    return stmt


async def families_of_mode(session: AsyncSession, program_id: int, mode: str) -> list[Family]:
    """All families served this way (all retiro-en-local families, for a retiro day)."""
    return _by_name((await session.scalars(_families(program_id, mode))).all())


async def sectors(session: AsyncSession, program_id: int, mode: str | None = None
                  ) -> list[tuple[str, int]]:
    """Sectors with how many families each, by name."""
    stmt = (select(Family.sector, func.count())
            .where(Family.program_id == program_id, Family.sector.is_not(None),
                   Family.sector != "")
            .group_by(Family.sector))
    if mode is not None:
        stmt = stmt.where(Family.pickup_mode == mode)
    # Imported sectors come typed by hand: "Lo Hermida" and "lo hermida " are one sector,
    # shown as most of its families spell it.
    merged: dict[str, list[tuple[int, str]]] = {}
    for name, n in (await session.execute(stmt)).all():
        if fold(name):
            merged.setdefault(fold(name), []).append((int(n), name.strip()))
    rows = [(min(spellings, key=lambda x: (-x[0], x[1]))[1], sum(n for n, _ in spellings))
            for spellings in merged.values()]
    return sorted(rows, key=lambda r: sort_key(r[0]))


async def families_in_sector(session: AsyncSession, program_id: int, sector: str,
                             mode: str | None = None) -> list[Family]:
    wanted = fold(sector)
    rows = (await session.scalars(
        _families(program_id, mode).where(Family.sector.is_not(None)))).all()
    return [f for f in _by_name(rows) if fold(f.sector or "") == wanted]


async def families_page(session: AsyncSession, program_id: int, page: int, per_page: int
                        ) -> tuple[list[Family], int]:
    total = int(await session.scalar(
        select(func.count()).select_from(Family).where(Family.program_id == program_id)) or 0)
    # Sorted here, not by the database: its ORDER BY knows neither accents nor "ñ".
    rows = _by_name((await session.scalars(
        select(Family).where(Family.program_id == program_id))).all())
    return rows[page * per_page:(page + 1) * per_page], total


async def families_by_target(session: AsyncSession, program_id: int, mode: str,
                             target: str) -> list[Family]:
    """``all`` (every family served in this mode) or ``sector=<name>``."""
    if target == "all":
        return await families_of_mode(session, program_id, mode)
    if target.startswith("sector="):
        return await families_in_sector(session, program_id, target[len("sector="):], mode)
    raise DeliveryError("unknown_target")


@dataclass(frozen=True)
class Assigned:
    added: int  # new Pickup rows
    families: int  # distinct families now on these days from this assignment
    unlinked: int  # of them, families no chat is linked to yet: no notice will reach them


async def assign(session: AsyncSession, days: Sequence[DeliveryDay],
                 family_ids: Iterable[int]) -> Assigned:
    """Put families on days; a family already on a day stays as it is (and keeps its
    answer), so assigning again adds only who is missing."""
    ids = sorted(set(family_ids))
    if any(d.cancelled_at is not None for d in days):
        raise DeliveryError("cancelled")
    if not ids or not days:
        return Assigned(0, 0, 0)
    families = (await session.scalars(select(Family).where(Family.id.in_(ids)))).all()
    program_ids = {d.program_id for d in days}
    valid = [f for f in families if f.program_id in program_ids]
    added = 0
    for day in days:
        present = set((await session.scalars(
            select(Pickup.family_id).where(Pickup.delivery_day_id == day.id))).all())
        for f in valid:
            if f.id not in present:
                session.add(Pickup(delivery_day_id=day.id, family_id=f.id,
                                   status=PickupStatus.PENDING))
                added += 1
    await session.flush()
    return Assigned(added, len(valid), sum(1 for f in valid if f.person_id is None))


async def families_on(session: AsyncSession, day_id: int) -> int:
    return int(await session.scalar(
        select(func.count()).select_from(Pickup).where(Pickup.delivery_day_id == day_id)) or 0)


# --- cancelling -----------------------------------------------------------------------


async def cancel(session: AsyncSession, day: DeliveryDay, now: datetime
                 ) -> list[tuple[Pickup, Family]]:
    """Cancel a day and withdraw its queued notices. Returns the pickups whose families
    were already told the date (and are linked to a chat): they must hear it is off."""
    if day.cancelled_at is not None:
        raise DeliveryError("already_cancelled")
    if now >= day.window_end:
        raise DeliveryError("over")
    day.cancelled_at = now
    rows = (await session.execute(
        select(Pickup, Family).join(Family, Family.id == Pickup.family_id)
        .where(Pickup.delivery_day_id == day.id).order_by(Family.name, Family.id))).all()
    for pickup, _ in rows:
        await outbox.drop_pending(session, f"pickup:{pickup.id}:", "delivery day cancelled")
    await session.flush()
    return [(p, f) for p, f in rows if p.notified_at is not None and f.person_id is not None]


# --- moving a whole day ----------------------------------------------------------------


async def reschedule(session: AsyncSession, day: DeliveryDay, start: datetime, end: datetime,
                     now: datetime) -> list[tuple[Pickup, Family]]:
    """Move the day's window (aware UTC datetimes) before it begins; its queued notices of
    the old date are withdrawn. Returns the pickups whose families had already been told
    the old date (and are linked to a chat): they must hear the new one, and are asked
    again, since an answer to the old date need not hold for the new."""
    if day.cancelled_at is not None:
        raise DeliveryError("cancelled")
    if now >= day.window_start:
        raise DeliveryError("begun")
    if end <= start:
        raise DeliveryError("end_before_start")
    if start <= now:
        raise DeliveryError("window_past")
    if (start, end) == (day.window_start, day.window_end):
        raise DeliveryError("same_day")
    day.window_start, day.window_end = start, end
    rows = (await session.execute(
        select(Pickup, Family).join(Family, Family.id == Pickup.family_id)
        .where(Pickup.delivery_day_id == day.id, Pickup.moved_to_id.is_(None),
               Pickup.status != PickupStatus.MOVED)
        .order_by(Family.name, Family.id))).all()
    told = []
    for pickup, family in rows:
        await outbox.drop_pending(session, f"pickup:{pickup.id}:", "delivery day moved")
        if pickup.notified_at is None or family.person_id is None:
            continue
        if pickup.status != PickupStatus.PENDING:
            pickup.status, pickup.responded_at = PickupStatus.NOTIFIED, None
        told.append((pickup, family))
    await session.flush()
    return told


# --- moving a family to another day -----------------------------------------------------


async def days_to_move_to(session: AsyncSession, pickup: Pickup, day: DeliveryDay,
                          now: datetime, *, limit: int | None = None) -> list[DeliveryDay]:
    """The programme's next days of the same kind (pickup or home delivery), not begun and
    not cancelled, on which the family is not already expected."""
    already = select(Pickup.delivery_day_id).where(Pickup.family_id == pickup.family_id)
    stmt = (select(DeliveryDay)
            .where(DeliveryDay.program_id == day.program_id, DeliveryDay.id != day.id,
                   DeliveryDay.mode == day.mode, DeliveryDay.cancelled_at.is_(None),
                   DeliveryDay.window_start > now, DeliveryDay.id.not_in(already))
            .order_by(DeliveryDay.window_start, DeliveryDay.id))
    if limit is not None:
        stmt = stmt.limit(limit)
    return list((await session.scalars(stmt)).all())


async def move(session: AsyncSession, pickup: Pickup, to_day: DeliveryDay, now: datetime, *,
               chosen_by_family: bool) -> Pickup:
    """Put the family on ``to_day`` instead, and return its pickup there.

    The pickup left behind stays true to its day: moved, when the move came before the
    window; otherwise what happened then (not come, say). Its queued notices are withdrawn.
    A day the family chose itself counts as confirmed; one the team chose waits for the
    family's answer to the notice of the new date."""
    day = await session.get(DeliveryDay, pickup.delivery_day_id)
    assert day is not None  # the foreign key guarantees it
    if pickup.status == PickupStatus.PICKED_UP:
        raise DeliveryError("picked_up")
    if pickup.moved_to_id is not None or pickup.status == PickupStatus.MOVED:
        raise DeliveryError("already_moved")
    if to_day.id == day.id:
        raise DeliveryError("same_day")
    if to_day.program_id != day.program_id:
        raise DeliveryError("other_program")
    if to_day.cancelled_at is not None:
        raise DeliveryError("cancelled")
    if to_day.window_start <= now:
        raise DeliveryError("begun")
    if await session.scalar(select(Pickup.id).where(Pickup.delivery_day_id == to_day.id,
                                                    Pickup.family_id == pickup.family_id)):
        raise DeliveryError("already_on_day")
    new = Pickup(delivery_day_id=to_day.id, family_id=pickup.family_id,
                 status=PickupStatus.CONFIRMED if chosen_by_family else PickupStatus.PENDING,
                 responded_at=now if chosen_by_family else None,
                 # The family read the date when it chose it: no notice of it is due.
                 notified_at=now if chosen_by_family else None)
    session.add(new)
    await session.flush()
    if day.cancelled_at is None and now < day.window_start:
        pickup.status = PickupStatus.MOVED
    pickup.moved_to_id = new.id
    await outbox.drop_pending(session, f"pickup:{pickup.id}:", "moved to another day")
    await session.flush()
    return new


# --- the staff's day list -------------------------------------------------------------


def _by_name(families: Iterable[Family]) -> list[Family]:
    return sorted(families, key=lambda f: (sort_key(f.name), f.id))


def fold(text: str) -> str:
    """For matching what people type: no accents, no case, single spaces."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(plain.casefold().split())


def matches(name: str, query: str) -> bool:
    """Every word typed appears in the name: "gonz soto" finds "González Soto"."""
    words = fold(query).split()
    target = fold(name)
    return all(w in target for w in words)


def grouped_counts(counts: dict[str, int]) -> dict[str, int]:
    """Statuses counted into what the staff reads: confirmed, can't come, proxy, asks
    another date, moved to another day, picked up, no-show, no answer."""
    return {group: sum(counts.get(s, 0) for s in statuses) for group, statuses in COUNT_GROUPS}
