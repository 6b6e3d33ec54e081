"""A family and its pickup notice, end to end: real aiogram polling the fake Bot API."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from handlers import registration
from services.pickups import send_pickup_notice
from storage import people, programs
from storage.models import (
    AuditEntry,
    DeliveryDay,
    Family,
    Person,
    Pickup,
    PickupMode,
    PickupStatus,
    Role,
)
from telegram_harness import Running

FAMILY, STRANGER = 6001, 6002
SANTIAGO = ZoneInfo("America/Santiago")
# Thursday 12 March 2026, 10:00 to 12:00 in Santiago; the clock starts on Monday 2 March.
START = datetime(2026, 3, 12, 10, tzinfo=SANTIAGO).astimezone(UTC)
END = START + timedelta(hours=2)

TEXTS = {
    "es": {
        "confirm": "✅ Confirmo", "cannot": "No puedo ir", "proxy": "Retira otra persona",
        "reschedule": "Pedir otra fecha", "skip": "Omitir",
        "window": "jueves 12 de marzo de 2026, de 10:00 a 12:00",
        "ask_rut": "¿Y cuál es el RUT de Pedro Soto Rojas? Escríbelo así: 12.345.678-5\n"
                   "Si no lo sabes, toca «No lo sé».",
        "bad_rut": "Ese RUT no me cuadra", "bad_name": "nombre y apellido",
        "proxy_done": "Listo: Pedro Soto Rojas (RUT 12.345.678-5) retirará la canasta por ti "
                      "el jueves 12 de marzo de 2026, de 10:00 a 12:00.",
        "too_late": "ya comenzó", "use_buttons": "toca uno de los botones",
        "confirmed": "¡Gracias! Te esperamos el jueves 12 de marzo de 2026, de 10:00 a 12:00, "
                     "en Sede Vecinal Villa Ñuñoa, Los Aromos 123. 🙌",
        "answer_confirmed": "Tu respuesta: vienes ✅", "reschedule_done": "te contactará",
        "unsupported": "solo entiendo texto", "none": "no tienes retiros agendados",
        "not_family": "es para las familias",
    },
    "en": {
        "confirm": "✅ I'll be there", "cannot": "I can't come",
        "proxy": "Someone else picks up", "reschedule": "Ask for another date", "skip": "Skip",
        "window": "Thursday 12 March 2026, 10:00 to 12:00",
        "ask_rut": "And what is Pedro Soto Rojas's RUT? Write it like this: 12.345.678-5\n"
                   "If you don't know it, tap «I don't know».",
        "bad_rut": "That RUT doesn't check out", "bad_name": "first and last name",
        "proxy_done": "Done: Pedro Soto Rojas (RUT 12.345.678-5) will pick up the basket for "
                      "you on Thursday 12 March 2026, 10:00 to 12:00.",
        "too_late": "already started", "use_buttons": "tap one of the buttons",
        "confirmed": "Thank you! See you on Thursday 12 March 2026, 10:00 to 12:00, at "
                     "Sede Vecinal Villa Ñuñoa, Los Aromos 123. 🙌",
        "answer_confirmed": "Your answer: you're coming ✅", "reschedule_done": "will contact you",
        "unsupported": "I only understand text", "none": "no pickups scheduled",
        "not_family": "is for the families",
    },
}


async def seed_family(r: Running, chat: int = FAMILY, *, locale: str = "es",
                      mode: str = PickupMode.RETIRO) -> int:
    """A programme, a family whose contact already consented in this chat, and its pickup."""
    now = r.app.clock.now()
    r.fake.add_chat(chat, first_name="María José", language_code=locale)
    async with r.app.sessions() as s:
        program = await programs.create(s, template="ecomercado-15m", start=date(2026, 3, 2),
                                        name="Ecomercado Quilpué", now=now)
        person = await people.create_with_address(
            s, "telegram", str(chat), now, name="María José González", phone="+56912345678",
            locale=locale, consent_at=now, consent_version=registration.CONSENT_VERSION,
            program_id=program.id)
        await people.grant(s, person, Role.FAMILIA, program.id, now)
        family = Family(program_id=program.id, person_id=person.id, name="González Soto",
                        phone="+56912345678", address="Pasaje Los Aromos 45, Quilpué",
                        pickup_mode=mode, created_at=now)
        day = DeliveryDay(program_id=program.id, mode=mode, window_start=START,
                          window_end=END, place="Sede Vecinal Villa Ñuñoa",
                          address="Los Aromos 123", created_at=now)
        s.add_all([family, day])
        await s.flush()
        pickup = Pickup(delivery_day_id=day.id, family_id=family.id,
                        status=PickupStatus.PENDING)
        s.add(pickup)
        await s.commit()
        return pickup.id


async def notify(r: Running, pickup_id: int, chat: int = FAMILY) -> dict:
    """What the scheduler will do: queue the notice, then the dispatcher delivers it."""
    before = len(r.fake.delivered(chat))
    async with r.app.sessions() as s:
        pickup = await s.get(Pickup, pickup_id)
        assert await send_pickup_notice(s, pickup, r.app.clock.now()) is not None
        await s.commit()
    await r.outbox.drain()
    [notice] = await r.replies(chat, before, 1)
    return notice


async def pickup_row(r: Running, pickup_id: int) -> Pickup:
    async with r.app.sessions() as s:
        return await s.get(Pickup, pickup_id)


def labels(message: dict) -> list[str]:
    return [b["text"] for row in message["reply_markup"]["inline_keyboard"] for b in row]


@pytest.mark.parametrize("loc", ["es", "en"])
async def test_the_notice_arrives_and_confirming_is_one_tap(tg: Running, loc: str) -> None:
    t = TEXTS[loc]
    pickup_id = await seed_family(tg, locale=loc)
    notice = await notify(tg, pickup_id)
    assert t["window"] in notice["text"] and "Sede Vecinal Villa Ñuñoa" in notice["text"]
    assert labels(notice) == [t["confirm"], t["cannot"], t["proxy"], t["reschedule"]]
    assert (await pickup_row(tg, pickup_id)).status == PickupStatus.NOTIFIED

    [thanks] = await tg.press(FAMILY, t["confirm"])
    assert thanks["text"].startswith(t["confirmed"])
    row = await pickup_row(tg, pickup_id)
    assert (row.status, row.responded_at) == (PickupStatus.CONFIRMED, tg.app.clock.now())
    async with tg.app.sessions() as s:
        person = await s.scalar(select(Person))
        [entry] = list(await s.scalars(select(AuditEntry).where(
            AuditEntry.action == "pickup_answer")))
    assert (entry.actor_id, entry.channel, entry.entity, entry.entity_id, entry.details) == (
        person.id, "telegram", "pickup", pickup_id, {"status": "confirmed"})
    assert entry.at == tg.app.clock.now()


async def test_changing_ones_mind_to_cannot_with_a_reason(tg: Running, clock) -> None:
    t = TEXTS["es"]
    pickup_id = await seed_family(tg)
    await notify(tg, pickup_id)
    await tg.press(FAMILY, t["confirm"])
    clock.advance(days=2)
    [ask] = await tg.press(FAMILY, t["cannot"])
    assert "¿Nos cuentas por qué no puedes?" in ask["text"] and labels(ask) == [t["skip"]]
    # The answer counts at once, before any reason.
    assert (await pickup_row(tg, pickup_id)).status == PickupStatus.CANNOT
    [saved] = await tg.send(FAMILY, "Estoy con licencia médica")
    assert saved["text"].startswith("Gracias, quedó anotado.")
    row = await pickup_row(tg, pickup_id)
    assert (row.status, row.reason, row.responded_at) == (
        PickupStatus.CANNOT, "Estoy con licencia médica", clock.now())
    async with tg.app.sessions() as s:
        answers = [e.details for e in await s.scalars(
            select(AuditEntry).where(AuditEntry.action == "pickup_answer")
            .order_by(AuditEntry.id))]
    assert answers == [{"status": "confirmed"}, {"status": "cannot"},
                       {"status": "cannot", "reason": "Estoy con licencia médica"}]
    # Afterwards free text is no longer taken as a reason.
    [reply] = await tg.send(FAMILY, "gracias")
    assert "No te entendí" in reply["text"]
    assert (await pickup_row(tg, pickup_id)).reason == "Estoy con licencia médica"


async def test_the_reason_is_optional(tg: Running) -> None:
    t = TEXTS["es"]
    pickup_id = await seed_family(tg)
    await notify(tg, pickup_id)
    await tg.press(FAMILY, t["cannot"])
    [done] = await tg.press(FAMILY, t["skip"])
    assert done["text"].startswith("Listo, gracias por avisar.")
    row = await pickup_row(tg, pickup_id)
    assert (row.status, row.reason) == (PickupStatus.CANNOT, None)
    # The skip button of a question already answered does nothing harmful.
    [stale] = await tg.press(FAMILY, t["skip"])
    assert "ya no sirve" in stale["text"]


@pytest.mark.parametrize("loc", ["es", "en"])
async def test_someone_else_picks_up_after_a_wrong_rut(tg: Running, loc: str) -> None:
    t = TEXTS[loc]
    pickup_id = await seed_family(tg, locale=loc)
    await notify(tg, pickup_id)
    await tg.press(FAMILY, t["proxy"])
    [again] = await tg.send(FAMILY, "Pedro")
    assert t["bad_name"] in again["text"]
    [ask_rut] = await tg.send(FAMILY, "  Pedro   Soto Rojas ")
    assert ask_rut["text"] == t["ask_rut"]
    [wrong] = await tg.send(FAMILY, "12.345.678-9")
    assert t["bad_rut"] in wrong["text"] and "12.345.678-5" in wrong["text"]
    assert (await pickup_row(tg, pickup_id)).status == PickupStatus.NOTIFIED
    [done] = await tg.send(FAMILY, "12345678-5")
    assert done["text"].startswith(t["proxy_done"])
    row = await pickup_row(tg, pickup_id)
    assert (row.status, row.proxy_name, row.proxy_rut) == (
        PickupStatus.PROXY, "Pedro Soto Rojas", "12.345.678-5")


async def test_asking_for_another_date_with_no_other_day_yet(tg: Running) -> None:
    t = TEXTS["es"]
    pickup_id = await seed_family(tg)
    await notify(tg, pickup_id)
    [told] = await tg.press(FAMILY, t["reschedule"])
    assert "no hay otras fechas de entrega" in told["text"] and "te contactará" in told["text"]
    assert (await pickup_row(tg, pickup_id)).status == PickupStatus.RESCHEDULE


@pytest.mark.parametrize("loc", ["es", "en"])
async def test_once_the_window_started_the_buttons_answer_kindly(tg: Running, clock,
                                                                 loc: str) -> None:
    t = TEXTS[loc]
    pickup_id = await seed_family(tg, locale=loc)
    await notify(tg, pickup_id)
    await tg.press(FAMILY, t["confirm"])
    clock.set(START + timedelta(minutes=5))
    [reply] = await tg.press(FAMILY, t["cannot"])
    assert t["too_late"] in reply["text"]
    assert (await pickup_row(tg, pickup_id)).status == PickupStatus.CONFIRMED
    # /retiro still shows the day, without buttons that could no longer work.
    shown, note = await tg.send(FAMILY, "/retiro", count=2)
    assert t["answer_confirmed"] in shown["text"] and "reply_markup" not in shown
    assert t["too_late"] in note["text"]


async def test_the_window_can_start_while_naming_someone_else(tg: Running, clock) -> None:
    t = TEXTS["es"]
    pickup_id = await seed_family(tg)
    await notify(tg, pickup_id)
    await tg.press(FAMILY, t["proxy"])
    await tg.send(FAMILY, "Pedro Soto Rojas")
    clock.set(START)
    [reply] = await tg.send(FAMILY, "12.345.678-5")
    assert t["too_late"] in reply["text"]
    assert (await pickup_row(tg, pickup_id)).status == PickupStatus.NOTIFIED


@pytest.mark.parametrize(("loc", "command"), [("es", "/retiro"), ("en", "/pickup")])
async def test_retiro_shows_the_next_pickup_and_my_answer(tg: Running, loc: str,
                                                          command: str) -> None:
    t = TEXTS[loc]
    pickup_id = await seed_family(tg, locale=loc)
    [shown] = await tg.send(FAMILY, command)
    assert t["window"] in shown["text"] and "Sede Vecinal Villa Ñuñoa" in shown["text"]
    assert labels(shown) == [t["confirm"], t["cannot"], t["proxy"], t["reschedule"]]
    await tg.press(FAMILY, t["confirm"])
    [shown] = await tg.send(FAMILY, command)
    assert t["answer_confirmed"] in shown["text"]
    # The buttons of /retiro are as good as the notice's: change of mind from here.
    await tg.press(FAMILY, t["reschedule"])
    assert (await pickup_row(tg, pickup_id)).status == PickupStatus.RESCHEDULE


@pytest.mark.parametrize("loc", ["es", "en"])
async def test_retiro_for_no_pickup_or_no_family(tg: Running, clock, loc: str) -> None:
    t = TEXTS[loc]
    await seed_family(tg, locale=loc)
    clock.set(END)
    [reply] = await tg.send(FAMILY, "/retiro")
    assert t["none"] in reply["text"]
    async with tg.app.sessions() as s:
        await people.create_with_address(s, "telegram", str(STRANGER), clock.now(),
                                         name="Beto", locale=loc, consent_at=clock.now())
        await s.commit()
    [reply] = await tg.send(STRANGER, "/retiro")
    assert t["not_family"] in reply["text"]


@pytest.mark.parametrize("loc", ["es", "en"])
async def test_free_text_where_a_button_was_expected(tg: Running, loc: str) -> None:
    t = TEXTS[loc]
    pickup_id = await seed_family(tg, locale=loc)
    await notify(tg, pickup_id)
    nudge, again = await tg.send(FAMILY, "sí, voy", count=2)
    assert t["use_buttons"] in nudge["text"]
    assert t["window"] in again["text"] and labels(again)[0] == t["confirm"]
    await tg.press(FAMILY, t["confirm"])
    assert (await pickup_row(tg, pickup_id)).status == PickupStatus.CONFIRMED


@pytest.mark.parametrize("loc", ["es", "en"])
async def test_a_sticker_mid_flow_gets_a_kind_answer_and_the_question_again(
        tg: Running, loc: str) -> None:
    t = TEXTS[loc]
    pickup_id = await seed_family(tg, locale=loc)
    await notify(tg, pickup_id)
    await tg.press(FAMILY, t["proxy"])
    await tg.send(FAMILY, "Pedro Soto Rojas")
    before = len(tg.fake.delivered(FAMILY))
    tg.fake.sticker(FAMILY)
    unsupported, again = await tg.replies(FAMILY, before, 2)
    assert t["unsupported"] in unsupported["text"] and again["text"] == t["ask_rut"]
    [done] = await tg.send(FAMILY, "12.345.678-5")
    assert done["text"].startswith(t["proxy_done"])
    assert (await pickup_row(tg, pickup_id)).status == PickupStatus.PROXY


async def test_home_delivery_buttons_speak_of_being_at_home(tg: Running) -> None:
    pickup_id = await seed_family(tg, mode=PickupMode.DOMICILIO)
    notice = await notify(tg, pickup_id)
    assert "Pasaje Los Aromos 45, Quilpué" in notice["text"]
    assert labels(notice) == ["✅ Confirmo", "No estaré en casa", "Recibe otra persona",
                              "Pedir otra fecha"]
    [thanks] = await tg.press(FAMILY, "✅ Confirmo")
    assert thanks["text"].startswith("¡Gracias! Te llevamos la canasta el jueves 12 de marzo")


async def test_a_button_from_a_family_no_longer_mine_is_refused(tg: Running) -> None:
    pickup_id = await seed_family(tg)
    await notify(tg, pickup_id)
    async with tg.app.sessions() as s:
        family = await s.scalar(select(Family))
        family.person_id = None  # the gestora linked the family to another contact
        await s.commit()
    [reply] = await tg.press(FAMILY, TEXTS["es"]["confirm"])
    assert "ya no sirve" in reply["text"]
    assert (await pickup_row(tg, pickup_id)).status == PickupStatus.NOTIFIED
