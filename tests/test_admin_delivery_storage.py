"""storage.delivery: dates of a pattern across daylight saving, idempotent days and
assignments, the notice policy, cancelling; on SQLite and (when available) PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from handlers.events import Outgoing
from locales import Msg
from scheduler.planner import Planner
from storage import delivery, outbox, people, programs
from storage.delivery import DayPlan, DeliveryError
from storage.models import (
    DeliveryDay,
    Family,
    OutboxMessage,
    Pickup,
    PickupMode,
    PickupStatus,
    Program,
)

SANTIAGO = ZoneInfo("America/Santiago")
NOW = datetime(2026, 3, 2, 12, tzinfo=UTC)


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=SANTIAGO).astimezone(UTC)


async def make_program(s, name: str = "Ecomercado Peñalolén") -> Program:
    return await programs.create(s, template="ecomercado-15m", start=date(2026, 3, 2),
                                 name=name, now=NOW)


def family(program: Program, name: str, sector: str | None = None,
           mode: str = PickupMode.RETIRO, person_id: int | None = None) -> Family:
    return Family(program_id=program.id, name=name, sector=sector, pickup_mode=mode,
                  person_id=person_id, created_at=NOW)


def test_a_pattern_by_count_or_until_a_date() -> None:
    first = date(2026, 3, 12)
    assert delivery.repeat_dates(first) == [first]
    assert delivery.repeat_dates(first, 1, count=3) == [
        date(2026, 3, 12), date(2026, 3, 19), date(2026, 3, 26)]
    assert delivery.repeat_dates(first, 2, until=date(2026, 4, 9)) == [
        date(2026, 3, 12), date(2026, 3, 26), date(2026, 4, 9)]
    # A year of weeks at most, whatever was typed.
    assert len(delivery.repeat_dates(first, 1, count=500)) == delivery.MAX_DAYS
    with pytest.raises(DeliveryError):
        delivery.repeat_dates(first, 1)
    with pytest.raises(DeliveryError):
        delivery.repeat_dates(first, 1, until=date(2026, 3, 1))


def test_the_window_is_local_time_on_both_sides_of_the_april_change() -> None:
    tz = "America/Santiago"
    assert delivery.local_window(tz, date(2026, 4, 2), time(10), time(12)) == (
        datetime(2026, 4, 2, 13, tzinfo=UTC), datetime(2026, 4, 2, 15, tzinfo=UTC))
    assert delivery.local_window(tz, date(2026, 4, 9), time(10), time(12)) == (
        datetime(2026, 4, 9, 14, tzinfo=UTC), datetime(2026, 4, 9, 16, tzinfo=UTC))


def test_the_policy_is_the_programmes_choice_else_the_templates() -> None:
    program = Program(name="x", template_key="ecomercado-15m", start_date=date(2026, 3, 2),
                      settings={}, created_at=NOW)
    assert delivery.pickup_policy(program) == "before_each"  # the template's default
    assert delivery.set_pickup_policy(program, "all_at_once") is True
    assert delivery.pickup_policy(program) == "all_at_once"
    assert delivery.set_pickup_policy(program, "all_at_once") is False
    program.settings = {"pickup_policy": "whenever"}  # a hand-edited typo is not obeyed
    assert delivery.pickup_policy(program) == "before_each"
    with pytest.raises(DeliveryError):
        delivery.set_pickup_policy(program, "never")


async def test_saving_the_same_days_twice_makes_them_once(sessions) -> None:
    async with sessions() as s:
        program = await make_program(s)
        plan = DayPlan(PickupMode.RETIRO, (date(2026, 3, 12), date(2026, 3, 26)), time(10),
                       time(12), " Sede  Vecinal ", "Los Aromos 123")
        first = await delivery.create_days(s, program, plan, NOW)
        again = await delivery.create_days(s, program, plan, NOW)
        assert [d.id for d in first] == [d.id for d in again]
        assert first[0].place == "Sede Vecinal"
        assert await s.scalar(select(func.count()).select_from(DeliveryDay)) == 2
        with pytest.raises(DeliveryError):
            await delivery.create_days(s, program, DayPlan(
                PickupMode.RETIRO, (date(2026, 3, 12),), time(12), time(10)), NOW)
        assert await delivery.last_place(s, program.id) == ("Sede Vecinal", "Los Aromos 123")


async def test_assigning_again_adds_only_who_is_missing_and_keeps_answers(sessions) -> None:
    async with sessions() as s:
        program = await make_program(s)
        other = await make_program(s, "Otro programa")
        fams = [family(program, "González Soto", "Lo Hermida"),
                family(program, "Pérez Ñancupil", "lo hermida "),
                family(program, "Araya Díaz", "Lo Hermida", PickupMode.DOMICILIO),
                family(program, "Muñoz Rojas", "La Faena"),
                family(other, "De otro programa", "Lo Hermida")]
        s.add_all(fams)
        await s.flush()
        [day] = await delivery.create_days(s, program, DayPlan(
            PickupMode.RETIRO, (date(2026, 3, 12),), time(10), time(12), "Sede"), NOW)
        sector = await delivery.families_by_target(s, program.id, PickupMode.RETIRO,
                                                   "sector=LO HERMIDA")
        assert [f.name for f in sector] == ["González Soto", "Pérez Ñancupil"]
        assert await delivery.sectors(s, program.id, PickupMode.RETIRO) == [
            ("La Faena", 1), ("Lo Hermida", 2)]
        result = await delivery.assign(s, [day], [f.id for f in sector] + [fams[4].id])
        assert (result.added, result.families, result.unlinked) == (2, 2, 2)
        pickup = await s.scalar(select(Pickup).where(Pickup.family_id == fams[0].id))
        pickup.status = PickupStatus.CONFIRMED
        everyone = await delivery.families_by_target(s, program.id, PickupMode.RETIRO, "all")
        result = await delivery.assign(s, [day], [f.id for f in everyone])
        assert result.added == 1  # only Muñoz Rojas was missing
        assert pickup.status == PickupStatus.CONFIRMED
        day.cancelled_at = NOW
        with pytest.raises(DeliveryError):
            await delivery.assign(s, [day], [fams[2].id])


async def test_cancelling_drops_queued_notices_and_names_who_was_told(sessions) -> None:
    async with sessions() as s:
        program = await make_program(s)
        told = await people.create_with_address(s, "telegram", "9001", NOW, consent_at=NOW,
                                                program_id=program.id)
        fams = [family(program, "Avisada", person_id=told.id),
                family(program, "Sin aviso", person_id=None)]
        s.add_all(fams)
        await s.flush()
        [day] = await delivery.create_days(s, program, DayPlan(
            PickupMode.RETIRO, (date(2026, 3, 12),), time(10), time(12), "Sede"), NOW)
        await delivery.assign(s, [day], [f.id for f in fams])
        pickups = (await s.scalars(select(Pickup).order_by(Pickup.family_id))).all()
        pickups[0].notified_at = NOW
        pickups[1].notified_at = NOW  # notified on paper, say, but with no chat to write to
        for key in (f"pickup:{pickups[0].id}:eve", f"pickup:{pickups[0].id}9:eve"):
            await outbox.enqueue_for_person(
                s, told.id, Outgoing(text=Msg("input.not_understood")).to_json(), key=key,
                kind="pickup_evening", now=NOW)
        result = await delivery.cancel(s, day, NOW)
        assert [(p.id, f.name) for p, f in result] == [(pickups[0].id, "Avisada")]
        status = dict((await s.execute(
            select(OutboxMessage.idempotency_key, OutboxMessage.status))).all())
        # "pickup:1:" must not catch pickup 19's notices.
        assert status == {f"pickup:{pickups[0].id}:eve": "dropped",
                          f"pickup:{pickups[0].id}9:eve": "pending"}
        with pytest.raises(DeliveryError):
            await delivery.cancel(s, day, NOW)


def test_searching_a_name_ignores_accents_case_and_word_order() -> None:
    assert delivery.matches("Pérez Ñancupil", "perez")
    assert delivery.matches("Pérez Ñancupil", "ñancu PÉREZ")
    assert delivery.matches("Pérez Ñancupil", "nancupil")
    assert not delivery.matches("Pérez Ñancupil", "soto")


def test_counts_group_the_statuses_the_staff_reads() -> None:
    grouped = delivery.grouped_counts({"pending": 1, "notified": 2, "confirmed": 3,
                                       "picked_up": 4, "proxy": 1, "moved": 2})
    assert grouped == {"confirmed": 3, "cannot": 0, "proxy": 1, "reschedule": 0, "moved": 2,
                       "picked_up": 4, "no_show": 0, "no_answer": 3}


async def test_the_scheduler_honours_the_programmes_policy(sessions) -> None:
    async with sessions() as s:
        program = await make_program(s)
        person = await people.create_with_address(s, "telegram", "9002", NOW, consent_at=NOW,
                                                  program_id=program.id)
        fam = family(program, "Avisada", person_id=person.id)
        s.add(fam)
        await s.flush()
        [day] = await delivery.create_days(s, program, DayPlan(
            PickupMode.RETIRO, (date(2026, 4, 23),), time(10), time(12), "Sede"), NOW)
        await delivery.assign(s, [day], [fam.id])
        delivery.set_pickup_policy(program, "all_at_once")
        await s.commit()
    async with sessions() as s:
        notices = await Planner(s).window(NOW - timedelta(hours=1), NOW + timedelta(days=60))
    # All dates at once: one message with the dates goes as soon as the day exists, not two
    # days before each one.
    assert [n for n in notices if n.kind == "pickup_notice"] == []
    [notice] = [n for n in notices if n.kind == "pickup_dates"]
    assert notice.fire_at <= NOW + timedelta(hours=12)
