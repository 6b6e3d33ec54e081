"""Pickups: the repository's rules (who may answer what, and until when), the staff's day
list, and the notice a family reads, in Spanish and English, on both sides of DST."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from locales import Catalogs
from services import pickups as pickup_services
from storage import people, pickups, programs
from storage.models import (
    DeliveryDay,
    Family,
    OutboxMessage,
    Person,
    Pickup,
    PickupMode,
    PickupStatus,
    Program,
    Role,
)
from storage.pickups import PickupError

SANTIAGO = ZoneInfo("America/Santiago")

ZONE = "America/Santiago"  # the programme's, where times are read


def local(y: int, m: int, d: int, hh: int, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=SANTIAGO).astimezone(UTC)


# Thursday 12 March 2026, 10:00 to 12:00 in Santiago (summer time, UTC-3).
START, END = local(2026, 3, 12, 10), local(2026, 3, 12, 12)


@pytest.fixture(scope="module")
def catalogs() -> Catalogs:
    return Catalogs()


async def seed(s, now: datetime, *, start: datetime = START, end: datetime = END,
               mode: str = PickupMode.RETIRO, linked: bool = True,
               locale: str = "es") -> tuple[Program, Family, DeliveryDay, Pickup, Person | None]:
    program = await programs.create(s, template="ecomercado-10m", start=date(2026, 3, 2),
                                    name="Ecomercado Quilpué", now=now)
    person = None
    if linked:
        person = await people.create_with_address(
            s, "telegram", "8101", now, name="María José González", phone="+56912345678",
            locale=locale, consent_at=now, consent_version="2026-1", program_id=program.id)
        await people.grant(s, person, Role.FAMILIA, program.id, now)
    family = Family(program_id=program.id, name="González Soto", phone="+56912345678",
                    address="Pasaje Los Aromos 45, Quilpué", pickup_mode=mode,
                    person_id=person.id if person else None, created_at=now)
    day = DeliveryDay(program_id=program.id, mode=mode, window_start=start, window_end=end,
                      place="Sede Vecinal Villa Ñuñoa", address="Los Aromos 123",
                      created_at=now)
    s.add_all([family, day])
    await s.flush()
    pickup = Pickup(delivery_day_id=day.id, family_id=family.id, status=PickupStatus.PENDING)
    s.add(pickup)
    await s.flush()
    return program, family, day, pickup, person


# --- the repository --------------------------------------------------------------------------


async def test_a_family_can_change_its_mind_until_the_window_starts(sessions, clock) -> None:
    now = clock.now()
    async with sessions() as s:
        *_, pickup, _ = await seed(s, now)
        await pickups.respond(s, pickup, PickupStatus.CONFIRMED, now)
        assert (pickup.status, pickup.responded_at) == (PickupStatus.CONFIRMED, now)
        later = now + timedelta(days=1)
        await pickups.respond(s, pickup, PickupStatus.CANNOT, later, reason="  Estoy enferma ")
        assert (pickup.status, pickup.reason, pickup.responded_at) == (
            PickupStatus.CANNOT, "Estoy enferma", later)
        await pickups.respond(s, pickup, PickupStatus.PROXY, later, reason="ignored",
                              proxy_name="Pedro Soto", proxy_rut="123456785")
        assert (pickup.status, pickup.reason, pickup.proxy_name, pickup.proxy_rut) == (
            PickupStatus.PROXY, None, "Pedro Soto", "12.345.678-5")
        await pickups.respond(s, pickup, PickupStatus.RESCHEDULE, later, reason="Trabajo")
        assert (pickup.status, pickup.reason, pickup.proxy_name, pickup.proxy_rut) == (
            PickupStatus.RESCHEDULE, "Trabajo", None, None)
        # A minute before the window opens is still in time.
        await pickups.respond(s, pickup, PickupStatus.CONFIRMED, START - timedelta(minutes=1))
        assert pickup.status == PickupStatus.CONFIRMED and pickup.reason is None
        await s.commit()


async def test_after_the_window_starts_only_the_staff_mark_it(sessions, clock) -> None:
    now = clock.now()
    async with sessions() as s:
        *_, pickup, person = await seed(s, now)
        await pickups.respond(s, pickup, PickupStatus.CONFIRMED, now)
        with pytest.raises(PickupError) as err:
            await pickups.respond(s, pickup, PickupStatus.CANNOT, START)
        assert err.value.code == "window_started" and pickup.status == PickupStatus.CONFIRMED
        with pytest.raises(PickupError) as err:
            await pickups.respond(s, pickup, PickupStatus.PICKED_UP, now, marked_by=person.id)
        assert err.value.code == "window_not_started"
        at = START + timedelta(minutes=20)
        await pickups.respond(s, pickup, PickupStatus.PICKED_UP, at, marked_by=person.id)
        assert (pickup.status, pickup.handed_at, pickup.marked_by) == (
            PickupStatus.PICKED_UP, at, person.id)
        # A mistake on the list can be corrected by the staff.
        await pickups.respond(s, pickup, PickupStatus.NO_SHOW, END, marked_by=person.id)
        assert (pickup.status, pickup.handed_at) == (PickupStatus.NO_SHOW, None)
        assert pickups.why_not_answerable(pickup, await pickups.day_of(s, pickup), now) == \
            "closed"


async def test_answers_that_cannot_be_recorded(sessions, clock) -> None:
    now = clock.now()
    async with sessions() as s:
        _, _, day, pickup, _ = await seed(s, now)
        for bad_rut in ("12.345.678-9", "hola"):
            with pytest.raises(PickupError) as err:
                await pickups.respond(s, pickup, PickupStatus.PROXY, now,
                                      proxy_name="Pedro Soto", proxy_rut=bad_rut)
            assert err.value.code == "proxy_incomplete"
        with pytest.raises(PickupError) as err:
            await pickups.respond(s, pickup, PickupStatus.PROXY, now, proxy_rut="12.345.678-5")
        assert err.value.code == "proxy_incomplete"
        for status in (PickupStatus.PENDING, PickupStatus.NOTIFIED, "whatever"):
            with pytest.raises(PickupError) as err:
                await pickups.respond(s, pickup, status, now)
            assert err.value.code == "invalid_status"
        day.cancelled_at = now
        with pytest.raises(PickupError) as err:
            await pickups.respond(s, pickup, PickupStatus.CONFIRMED, now)
        assert err.value.code == "cancelled"
        assert pickup.status == PickupStatus.PENDING and pickup.responded_at is None


async def test_next_pickup_skips_past_cancelled_and_closed_days(sessions, clock) -> None:
    now = clock.now()
    async with sessions() as s:
        program, family, day, pickup, person = await seed(s, now)
        assert await pickups.family_of_person(s, person.id) == family
        assert await pickups.family_of_person(s, person.id + 99) is None

        def add_day(start: datetime, cancelled: bool = False) -> DeliveryDay:
            d = DeliveryDay(program_id=program.id, mode=PickupMode.RETIRO, window_start=start,
                            window_end=start + timedelta(hours=2), place="Sede",
                            cancelled_at=now if cancelled else None, created_at=now)
            s.add(d)
            return d

        past = add_day(now - timedelta(days=3))
        cancelled = add_day(START - timedelta(days=2), cancelled=True)
        later = add_day(START + timedelta(days=14))
        await s.flush()
        for d in (past, cancelled, later):
            s.add(Pickup(delivery_day_id=d.id, family_id=family.id))
        await s.flush()
        nxt = await pickups.next_for_family(s, family.id, now)
        assert (nxt.pickup.id, nxt.day.id) == (pickup.id, day.id)
        # While the window is open the day is still "the next pickup"; once over, it is not.
        assert (await pickups.next_for_family(s, family.id, START + timedelta(hours=1))
                ).day.id == day.id
        assert (await pickups.next_for_family(s, family.id, END)).day.id == later.id
        pickup.status = PickupStatus.PICKED_UP
        await s.flush()
        assert (await pickups.next_for_family(s, family.id, now)).day.id == later.id
        assert await pickups.next_for_family(s, family.id, later.window_end) is None


async def test_the_day_list_has_what_the_premises_staff_need(sessions, clock) -> None:
    now = clock.now()
    async with sessions() as s:
        program, family, day, pickup, _ = await seed(s, now)
        other = Family(program_id=program.id, name="Araya Pérez", phone="+56987654321",
                       created_at=now)
        third = Family(program_id=program.id, name="Muñoz Rojas", created_at=now)
        s.add_all([other, third])
        await s.flush()
        p2 = Pickup(delivery_day_id=day.id, family_id=other.id)
        p3 = Pickup(delivery_day_id=day.id, family_id=third.id)
        s.add_all([p2, p3])
        await s.flush()
        await pickups.respond(s, pickup, PickupStatus.PROXY, now, proxy_name="Pedro Soto",
                              proxy_rut="12345678-5")
        await pickups.respond(s, p2, PickupStatus.CANNOT, now, reason="Viaje")
        rows = await pickups.day_list(s, day.id, now)
        assert [r.family_name for r in rows] == ["Araya Pérez", "González Soto", "Muñoz Rojas"]
        assert [(r.status, r.reason, r.proxy_name, r.proxy_rut) for r in rows] == [
            (PickupStatus.CANNOT, "Viaje", None, None),
            (PickupStatus.PROXY, None, "Pedro Soto", "12.345.678-5"),
            (PickupStatus.PENDING, None, None, None),
        ]
        assert rows[0].phone == "+56987654321" and rows[1].mode == PickupMode.RETIRO
        assert await pickups.day_counts(s, day.id, now) == {
            PickupStatus.CANNOT: 1, PickupStatus.PROXY: 1, PickupStatus.PENDING: 1}


# --- the notice --------------------------------------------------------------------------


@pytest.mark.parametrize(("loc", "expected"), [
    ("es", "📦 ¡Hola, familia González Soto! Tu próximo retiro de canasta es el "
           "jueves 12 de marzo de 2026, de 10:00 a 12:00, en Sede Vecinal Villa Ñuñoa, "
           "Los Aromos 123.\n¿Puedes venir?"),
    ("en", "📦 Hello, González Soto family! Your next basket pickup is on "
           "Thursday 12 March 2026, 10:00 to 12:00, at Sede Vecinal Villa Ñuñoa, "
           "Los Aromos 123.\nCan you come?"),
])
async def test_the_notice_says_the_date_window_and_place_as_people_do(
        sessions, clock, catalogs, loc, expected) -> None:
    async with sessions() as s:
        _, family, day, pickup, _ = await seed(s, clock.now())
        out = pickup_services.pickup_notice(pickup, day, family)
    assert catalogs.render(out.text, loc, ZONE) == expected
    labels = [[catalogs.render(b.label, loc, ZONE) for b in row] for row in out.buttons]
    assert labels == ([["✅ Confirmo"], ["No puedo ir"], ["Retira otra persona"],
                       ["Pedir otra fecha"]] if loc == "es" else
                      [["✅ I'll be there"], ["I can't come"], ["Someone else picks up"],
                       ["Ask for another date"]])
    assert [b.action for row in out.buttons for b in row] == [
        f"pk:{pickup.id}:ok", f"pk:{pickup.id}:no", f"pk:{pickup.id}:px", f"pk:{pickup.id}:rs"]


async def test_the_hours_follow_santiago_daylight_saving(sessions, clock, catalogs) -> None:
    # Thursday 9 April 2026 is after the switch to winter time (UTC-4): still 10:00 to 12:00.
    start, end = local(2026, 4, 9, 10), local(2026, 4, 9, 12)
    assert start.hour == 14
    async with sessions() as s:
        _, family, day, pickup, _ = await seed(s, clock.now(), start=start, end=end)
        out = pickup_services.pickup_notice(pickup, day, family)
    assert "jueves 9 de abril de 2026, de 10:00 a 12:00" in catalogs.render(out.text, "es", ZONE)


async def test_home_delivery_names_the_address_on_file(sessions, clock, catalogs) -> None:
    async with sessions() as s:
        _, family, day, pickup, _ = await seed(s, clock.now(), mode=PickupMode.DOMICILIO)
        out = pickup_services.pickup_notice(pickup, day, family)
        family.address = None
        unknown = pickup_services.pickup_notice(pickup, day, family)
    text = catalogs.render(out.text, "es", ZONE)
    assert "Te llevaremos la canasta el jueves 12 de marzo de 2026, de 10:00 a 12:00, " \
           "a Pasaje Los Aromos 45, Quilpué." in text and "Sede Vecinal" not in text
    assert "No estaré en casa" in [catalogs.render(b.label, "es", ZONE) for r in out.buttons for b in r]
    assert "aún no la tenemos" in catalogs.render(unknown.text, "es", ZONE)


async def test_sending_the_notice_queues_it_once_and_marks_the_pickup(sessions, clock) -> None:
    now = clock.now()
    async with sessions() as s:
        _, family, day, pickup, person = await seed(s, now)
        first = await pickup_services.send_pickup_notice(s, pickup, now)
        again = await pickup_services.send_pickup_notice(s, pickup, now + timedelta(hours=1))
        await s.commit()
        assert first is not None and again is None
        assert (pickup.status, pickup.notified_at) == (PickupStatus.NOTIFIED, now)
        row = await s.get(OutboxMessage, first)
        assert (row.kind, row.idempotency_key, row.person_id, row.address, row.expires_at) == (
            "pickup_notice", f"pickup:{pickup.id}:notice", person.id, "8101", END)
        assert row.payload["text"]["k"] == "pickup.notice"
        convo = await people.conversation(s, person.id, now)
        assert (convo.flow, convo.step, convo.data) == ("pickup", "choose",
                                                        {"pickup_id": pickup.id})


async def test_an_answer_given_before_the_notice_is_kept(sessions, clock) -> None:
    now = clock.now()
    async with sessions() as s:
        *_, pickup, _ = await seed(s, now)
        await pickups.respond(s, pickup, PickupStatus.CONFIRMED, now)
        assert await pickup_services.send_pickup_notice(s, pickup, now) is not None
        assert pickup.status == PickupStatus.CONFIRMED and pickup.notified_at == now


async def test_the_date_still_reaches_a_family_that_said_stop(sessions, clock) -> None:
    # /stop silences reminders, not the date itself: without it the family loses its basket.
    now = clock.now()
    async with sessions() as s:
        _, family, day, pickup, person = await seed(s, now)
        person.opted_out_at = now
        assert await pickup_services.send_pickup_notice(s, pickup, now) is not None
        row = await s.scalar(select(OutboxMessage).where(OutboxMessage.kind == "pickup_notice"))
        assert row.payload["text"]["k"] == "pickup.notice"


async def test_no_notice_without_someone_to_tell_or_a_day_to_tell_about(sessions, clock) -> None:
    now = clock.now()
    async with sessions() as s:
        _, family, day, pickup, person = await seed(s, now, linked=False)
        assert await pickup_services.send_pickup_notice(s, pickup, now) is None
        assert pickup.status == PickupStatus.PENDING and pickup.notified_at is None
    async with sessions() as s:
        _, family, day, pickup, person = await seed(s, now)
        day.cancelled_at = now
        assert await pickup_services.send_pickup_notice(s, pickup, now) is None
        day.cancelled_at = None
        assert await pickup_services.send_pickup_notice(s, pickup, END) is None
        assert pickup.status == PickupStatus.PENDING
        assert await s.scalar(select(func.count()).select_from(OutboxMessage)) == 0
