"""Every conversation flow to its end on a channel with WhatsApp's limits (tests/wa_limited.py):
3 reply buttons, lists of 10 rows, labels of 20, no edits, no phone button, no month of days.
A message that could not be shown there fails the test where it is sent. Each flow runs
again through the real WhatsApp channel against the fake Cloud API (the ``wa`` fixture's
"cloud" variant, tests/wa_cloud.py), where a request off Meta's spec or limits fails it."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from wa_limited import Message, WaHarness

from handlers import registration
from services import meetings as meeting_services
from services.pickups import send_pickup_notice
from storage import links, people, programs
from storage.models import (
    Body,
    CodeAttempt,
    DeliveryDay,
    Family,
    FormResponse,
    FormSignature,
    Meeting,
    Organization,
    Person,
    Pickup,
    PickupMode,
    PickupStatus,
    Role,
    RoleGrant,
    Rsvp,
)
from support import add_member

SCL = ZoneInfo("America/Santiago")
ANA, BETO, GESTORA = "56911110001", "56911110002", "56911110009"
ORG = "Junta de Vecinos Villa Ñuñoa"
STARTS = datetime(2026, 4, 7, 22, 0, tzinfo=UTC)  # Tuesday 7 April 2026, 18:00 in Santiago

WORDS = {
    "es": {"yes": "✅ Sí, acepto", "coming": "Asistiré", "cannot": "No podré",
           "calendar": "Agregar a mi calendario", "thanks_reason": "Gracias por contarnos",
           "confirm": "✅ Confirmo", "confirmed": "¡Gracias! Te esperamos",
           "reschedule": "Pedir otra fecha", "family": "González Soto", "my_data": "/mis_datos"},
    "en": {"yes": "✅ Yes, I agree", "coming": "I'll be there", "cannot": "I can't make it",
           "calendar": "Add to my calendar", "thanks_reason": "Thanks for telling us",
           "confirm": "✅ I'll be there", "confirmed": "Thank you! See you",
           "reschedule": "Ask for another date", "family": "González Soto",
           "my_data": "/my_data"},
}


async def programme(wa: WaHarness, template: str = "ecomercado-10m") -> tuple[int, int]:
    now = wa.app.clock.now()
    async with wa.app.sessions() as s:
        program = await programs.create(s, template=template, start=date(2026, 3, 2),
                                        name="Ecomercado Quilpué", now=now)
        gm = await s.scalar(select(Body).where(Body.program_id == program.id,
                                               Body.kind == "grupo_motor"))
        await s.commit()
        return program.id, gm.id


async def add_person(wa: WaHarness, address: str, name: str, locale: str, *roles: str,
                     program_id: int | None = None, body_id: int | None = None) -> int:
    return await add_member(wa.app.sessions, wa.app.clock.now(), wa.channel.name, address, name,
                            locale, *roles, program_id=program_id, body_id=body_id)


# --- registration and link codes --------------------------------------------------------------


@pytest.mark.wa_limited_only("WhatsApp vouches for the number a person writes from: nobody types it there (test_first_words)")
@pytest.mark.parametrize("loc", ["es", "en"])
async def test_consent_and_a_typed_phone_link_the_family(wa: WaHarness, loc: str) -> None:
    program_id, _ = await programme(wa)
    async with wa.app.sessions() as s:
        s.add(Family(program_id=program_id, name="González Soto", phone="+56912345678",
                     created_at=wa.app.clock.now()))
        await s.commit()
    [consent] = await wa.send(ANA, "/start")
    if loc == "en":
        [consent] = await wa.press(ANA, "🌐 English")
    assert len(consent.titles()) == 3 and consent.shown.buttons
    thanks, ask = await wa.press(ANA, WORDS[loc]["yes"])
    # No button shares the number here: the question says to type it.
    assert ask.shown.ask_phone is None
    assert ("Escríbeme tu número" if loc == "es" else "Type your phone number") in ask.text
    [done] = await wa.send(ANA, "+56 9 1234 5678")
    assert "González Soto" in done.text
    async with wa.app.sessions() as s:
        family = await s.scalar(select(Family))
        person = await s.get(Person, family.person_id)
        assert person.phone == "+56912345678" and (person.locale or "es") == loc


@pytest.mark.wa_limited_only("WhatsApp vouches for the number a person writes from: nobody types it there (test_first_words)")
async def test_a_typed_phone_takes_no_family_another_chat_holds(wa: WaHarness) -> None:
    program_id, _ = await programme(wa)
    holder = await add_person(wa, BETO, "Beto", "es", "familia", program_id=program_id)
    async with wa.app.sessions() as s:
        s.add(Family(program_id=program_id, name="González Soto", phone="+56912345678",
                     person_id=holder, created_at=wa.app.clock.now()))
        await s.commit()
    await wa.send(ANA, "/start")
    await wa.press(ANA, "✅ Sí, acepto")
    [refused] = await wa.send(ANA, "+56912345678")
    assert "ya está vinculada a otro chat" in refused.text
    async with wa.app.sessions() as s:
        assert (await s.scalar(select(Family))).person_id == holder


@pytest.mark.wa_limited_only("WhatsApp vouches for the number a person writes from: nobody types it there (test_first_words)")
async def test_a_typed_phone_that_matches_nobody_is_kept_and_counted_as_a_guess(
        wa: WaHarness) -> None:
    await programme(wa)
    await wa.send(ANA, "/start")
    await wa.press(ANA, "✅ Sí, acepto")
    [kept] = await wa.send(ANA, "9 9999 9999")
    assert kept.text.startswith("Guardé tu número, pero aún no te encuentro")
    async with wa.app.sessions() as s:
        person = await people.by_address(s, wa.channel.name, ANA)
        guesses = await s.scalar(select(func.count()).select_from(CodeAttempt))
    assert person.phone == "+56999999999" and guesses == 1


async def test_a_link_code_binds_the_chat_to_the_organisation(wa: WaHarness) -> None:
    program_id, _ = await programme(wa)
    async with wa.app.sessions() as s:
        org = Organization(program_id=program_id, name="Junta de Vecinos Villa Ñuñoa",
                           created_at=wa.app.clock.now())
        s.add(org)
        await s.flush()
        code = (await links.create(s, program_id, "organization", org.id,
                                   wa.app.clock.now())).code
        await s.commit()
    await wa.send(ANA, f"/start {code}")
    replies = await wa.press(ANA, "✅ Sí, acepto")
    assert "Junta de Vecinos Villa Ñuñoa" in replies[-1].text
    async with wa.app.sessions() as s:
        person = await people.by_address(s, wa.channel.name, ANA)
        roles = list(await s.scalars(select(RoleGrant.role).where(
            RoleGrant.person_id == person.id)))
    assert roles == ["representante"]


# --- meetings: RSVP --------------------------------------------------------------------------------


@pytest.mark.parametrize("loc", ["es", "en"])
async def test_an_invitation_is_answered_with_a_reason_and_a_calendar_file(
        wa: WaHarness, loc: str) -> None:
    program_id, gm = await programme(wa)
    pid = await add_person(wa, ANA, "Ana Pérez", loc, "grupo_motor", program_id=program_id,
                           body_id=gm)
    async with wa.app.sessions() as s:
        meeting = Meeting(program_id=program_id, body_id=gm, kind="grupo_motor",
                          starts_at=STARTS, ends_at=STARTS + timedelta(hours=2),
                          place="Sede Villa Ñuñoa", address="Los Aromos 123, Quilpué",
                          agenda="Plan de trabajo", checkin_code="KM4X7R",
                          latitude=-33.0472, longitude=-71.4425, created_at=wa.app.clock.now())
        s.add(meeting)
        await s.flush()
        await meeting_services.send_invitations(s, meeting, [pid], wa.app.clock.now())
        await s.commit()
    await wa.drain()
    # Ana has not written yet: on WhatsApp the invitation goes as an approved template.
    if wa.variant == "limited":
        assert set(wa.channel.templates_needed) == {"invitation"}
        invitation, pin = wa.chat(ANA)
        assert pin.shown.location == (-33.0472, -71.4425)
        # Four options do not fit three buttons: a list.
        assert invitation.shown.rows and len(invitation.shown.rows) == 4
    else:
        [invitation] = wa.chat(ANA)
        assert invitation.template == ("convoca_meeting_invite", loc)
        assert len(invitation.titles()) == 3
    w = WORDS[loc]
    await wa.press(ANA, w["coming"])
    await wa.press(ANA, w["cannot"])
    [thanks] = await wa.send(ANA, "Tengo turno en la feria")
    assert w["thanks_reason"] in thanks.text
    [doc] = await wa.press(ANA, w["calendar"], contains=True)
    assert doc.shown.attachment is not None and doc.shown.attachment.filename.endswith(".ics")
    async with wa.app.sessions() as s:
        rsvp = await s.scalar(select(Rsvp))
    assert (rsvp.answer, rsvp.reason) == ("no", "Tengo turno en la feria")


# --- pickups: confirm and move ------------------------------------------------------------------


async def seed_pickup(wa: WaHarness, locale: str) -> int:
    now = wa.app.clock.now()
    start = datetime(2026, 3, 12, 10, tzinfo=SCL).astimezone(UTC)
    async with wa.app.sessions() as s:
        program = await programs.create(s, template="ecomercado-15m", start=date(2026, 3, 2),
                                        name="Ecomercado Quilpué", now=now)
        person = await people.create_with_address(
            s, wa.channel.name, ANA, now, name="María José González", phone="+56912345678",
            locale=locale, consent_at=now, consent_version=registration.CONSENT_VERSION,
            program_id=program.id)
        await people.grant(s, person, Role.FAMILIA, program.id, now)
        family = Family(program_id=program.id, person_id=person.id, name="González Soto",
                        phone="+56912345678", pickup_mode=PickupMode.RETIRO, created_at=now)
        day = DeliveryDay(program_id=program.id, mode=PickupMode.RETIRO, window_start=start,
                          window_end=start + timedelta(hours=2),
                          place="Sede Vecinal Villa Ñuñoa", address="Los Aromos 123",
                          created_at=now)
        s.add_all([family, day])
        await s.flush()
        pickup = Pickup(delivery_day_id=day.id, family_id=family.id,
                        status=PickupStatus.PENDING)
        s.add(pickup)
        await s.flush()
        assert await send_pickup_notice(s, pickup, now) is not None
        await s.commit()
        return pickup.id


@pytest.mark.parametrize("loc", ["es", "en"])
async def test_a_pickup_is_confirmed_then_moved(wa: WaHarness, loc: str) -> None:
    w = WORDS[loc]
    pickup_id = await seed_pickup(wa, loc)
    await wa.drain()
    [notice] = wa.chat(ANA)
    # Outside the window on WhatsApp: the approved template, the four options its replies.
    assert len(notice.titles()) == 4
    assert notice.shown.rows if wa.variant == "limited" else notice.template
    [thanks] = await wa.press(ANA, w["confirm"])
    assert thanks.text.startswith(w["confirmed"])
    async with wa.app.sessions() as s:
        assert (await s.get(Pickup, pickup_id)).status == PickupStatus.CONFIRMED
    await wa.press(ANA, w["reschedule"])
    async with wa.app.sessions() as s:
        assert (await s.get(Pickup, pickup_id)).status == PickupStatus.RESCHEDULE


# --- privacy ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("loc", ["es", "en"])
async def test_my_data_and_erasure(wa: WaHarness, loc: str) -> None:
    await seed_pickup(wa, loc)
    await wa.drain()
    replies = await wa.send(ANA, WORDS[loc]["my_data"])
    assert [m.shown.attachment.filename for m in replies if m.shown.attachment] == [
        "mis_datos.pdf" if loc == "es" else "my_data.pdf", "mis_datos.json"]
    await wa.send(ANA, "/borrar_mis_datos" if loc == "es" else "/delete_my_data")
    last = wa.chat(ANA)[-1]
    assert last.shown.buttons or last.shown.rows
    erase = [t for t in last.titles() if "orrar" in t or "elete" in t or "rase" in t]
    await wa.press(ANA, erase[0])
    async with wa.app.sessions() as s:
        assert await people.by_address(s, wa.channel.name, ANA) is None


# --- the Ficha de Interés, and co-signing it --------------------------------------------------------


async def fill_and_sign_the_ficha(wa: WaHarness, who: str) -> Message:
    """An organisation's representative fills the Ficha in Spanish and signs it; returns the
    message offering another representative to co-sign."""
    program_id, _ = await programme(wa, "ecomercado-15m")
    async with wa.app.sessions() as s:
        org = Organization(program_id=program_id, name=ORG, created_at=wa.app.clock.now())
        s.add(org)
        await s.flush()
        code = (await links.create(s, program_id, "organization", org.id,
                                   wa.app.clock.now())).code
        await s.commit()
    await wa.send(who, f"/start {code}")
    await wa.press(who, "✅ Sí, acepto")
    intro, first = await wa.send(who, "/ficha")
    assert first.text == "Pregunta 1 de 13\n¿Cómo se llama tu organización?"
    await wa.press(who, "Usar: Junta de Vecinos…")  # the whole name is in the row below
    [kind] = await wa.press(who, "Junta de vecinos")
    await wa.press(who, "Sí")
    await wa.send(who, "65.123.456-5")
    await wa.press(who, "Omitir")  # the registration number, not at hand
    await wa.send(who, "Villa Ñuñoa")
    await wa.send(who, "unos 40")
    await wa.send(who, "Ana María Rojas")
    await wa.send(who, "12.345.678-5")
    await wa.send(who, "Presidenta")
    await wa.send(who, "9 8765 4321")
    await wa.press(who, "Omitir")
    # Ticks come as a new message each (no edits): the next tick is on the newest one.
    [ticked] = await wa.press(who, "Grupo Motor")
    assert "✅ Grupo Motor" in ticked.titles()
    await wa.press(who, "Difusión")
    await wa.press(who, "✔️ Listo")
    await wa.press(who, "Martes")
    await wa.press(who, "Jueves")
    await wa.press(who, "✔️ Listo")
    await wa.press(who, "Tarde")
    [summary] = await wa.press(who, "✔️ Listo")
    assert "• Cómo quiere participar: Grupo Motor, Difusión" in summary.text
    assert "• Días disponibles: Martes, Jueves" in summary.text
    [declaration] = await wa.press(who, "✅ Confirmar")
    assert "escribe tu nombre completo" in declaration.text
    # Her RUT is among her answers: the name signs, with no second question for it.
    receipt, cosign = await wa.send(who, "Ana María Rojas")
    assert receipt.text.startswith("✅ ¡Listo! Recibimos la Ficha de Interés de Participación.")
    return cosign


async def test_the_ficha_is_filled_signed_and_cosigned_with_the_code(wa: WaHarness) -> None:
    cosign = await fill_and_sign_the_ficha(wa, ANA)
    if wa.variant == "limited":
        # No links that open a chat here: the code, to type after /start.
        assert "t.me" not in cosign.text and "/start" in cosign.text
        code = cosign.text.rsplit(" ", 1)[1].strip(".")
        await wa.send(BETO, f"/start {code}")
    else:
        # A wa.me link that opens the chat with the code written: Beto sends it.
        link = cosign.text.rsplit("\n", 1)[1]
        assert link.startswith("https://wa.me/") and "?text=" in link
        await wa.send(BETO, link.rsplit("=", 1)[1])
    [_, ask] = await wa.press(BETO, "✅ Sí, acepto")
    assert ask.text.startswith("Te pidieron firmar la Ficha de Interés de Participación:")
    [ask_rut] = await wa.send(BETO, "Roberto Díaz Pérez")  # he answered no RUT: asked now
    assert "Ahora escribe tu RUT" in ask_rut.text
    [done] = await wa.send(BETO, "7.654.321-6")
    assert done.text.startswith("✅ ¡Gracias! Quedó tu firma")
    async with wa.app.sessions() as s:
        signed = list(await s.execute(select(FormSignature.signed_name,
                                             FormSignature.signed_rut)
                                      .order_by(FormSignature.id)))
        [response] = list(await s.scalars(select(FormResponse)))
    assert [tuple(row) for row in signed] == [("Ana María Rojas", "12.345.678-5"),
                                              ("Roberto Díaz Pérez", "7.654.321-6")]
    assert response.answers["available_days"] == ["martes", "jueves"]


# --- "more": the next page of a long choice ------------------------------------------------------


async def test_more_resends_only_ones_own_message_at_the_next_page(wa: WaHarness) -> None:
    from handlers.events import EventKind

    program_id, gm = await programme(wa)
    await add_person(wa, ANA, "Gabriela Gestora", "es", "gestora")
    await add_person(wa, BETO, "Beto Soto", "es", "grupo_motor", program_id=program_id,
                     body_id=gm)
    await wa.send(ANA, "/panel")
    await wa.press(ANA, "📅 Reuniones")
    await wa.press(ANA, "➕ Nueva reunión")
    await wa.press(ANA, "Grupo Motor")
    [days] = await wa.press(ANA, "Sesión del Grupo Motor")
    [more] = [c for c in days.shown.rows if c.action == "more:1"]
    [page2] = await wa.press(ANA, more.title)
    assert page2.shown.rows[0].title == "lun 9 mar" and "página 2 de" in page2.text
    # Beto's own signed "more", pointing at Ana's message: nothing of hers is shown.
    async with wa.app.sessions() as s:
        beto = await people.by_address(s, wa.channel.name, BETO)
    signed = wa.app.services.buttons.pack(beto.id, "more:1")
    [stale] = await wa.event(BETO, EventKind.BUTTON, button=signed, message_ref=days.id)
    assert stale.text.startswith("Ese botón ya no sirve.")
    if wa.variant == "limited":
        # Her own "more" with no message it was pressed on: nothing to turn. (On WhatsApp
        # every reply names the message it was pressed on.)
        [stale] = await wa.event(ANA, EventKind.BUTTON, button=days.actions[more.title])
        assert stale.text.startswith("Ese botón ya no sirve.") and not stale.titles()


@pytest.mark.wa_limited_only("WhatsApp vouches for the number a person writes from: nobody types it there (test_first_words)")
@pytest.mark.parametrize("with_chile", [False, True])
async def test_a_typed_phone_is_read_in_the_installations_countries(
        wa: WaHarness, with_chile: bool) -> None:
    # Before she is anyone's, her number is read as the programmes' country writes it: only
    # Uruguay's here, or each programme's in turn where Chile's is first.
    if with_chile:
        await programme(wa)
    async with wa.app.sessions() as s:
        program_id = (await programs.create(
            s, template="economia-solidaria-canelones", start=date(2026, 3, 2),
            name="Canelones", now=wa.app.clock.now())).id
        s.add(Family(program_id=program_id, name="Rodríguez Silva", phone="+59899123456",
                     created_at=wa.app.clock.now()))
        await s.commit()
    await wa.send(ANA, "/start")
    await wa.press(ANA, "✅ Sí, acepto")
    [done] = await wa.send(ANA, "099 123 456")
    assert "Rodríguez Silva" in done.text
    async with wa.app.sessions() as s:
        family = await s.scalar(select(Family))
        assert (await s.get(Person, family.person_id)).phone == "+59899123456"
