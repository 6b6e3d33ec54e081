"""Someone who writes before any /start (on WhatsApp people say "Hola": there is no start
button), and a channel that vouches for the sender's phone (WhatsApp's sender is one): the
consent comes first, the number links the family without being asked for, and a person
already known by that number on another chat stays one person."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select
from wa_limited import WaHarness

from handlers.events import DocumentRef, EventKind
from storage import links, people, programs
from storage.models import ChannelAddress, Family, Organization, Person

ANA = "56912345678"
PHONE = "+56912345678"


async def programme(wa: WaHarness) -> int:
    async with wa.app.sessions() as s:
        program = await programs.create(s, template="ecomercado-10m", start=date(2026, 3, 2),
                                        name="Ecomercado Quilpué", now=wa.app.clock.now())
        await s.commit()
        return program.id


async def say(wa: WaHarness, address: str, text: str, phone: str | None = PHONE):
    if phone:
        wa.phones[address] = phone
    return await wa.event(address, EventKind.TEXT, text=text, sender_name="Ana")


async def test_hola_from_a_stranger_asks_for_consent_first(wa: WaHarness) -> None:
    await programme(wa)
    [consent] = await say(wa, ANA, "Hola")
    assert consent.text.startswith("¡Hola! Soy Convoca")
    assert "✅ Sí, acepto" in consent.titles()


async def test_the_vouched_number_links_the_family_right_after_consent(wa: WaHarness) -> None:
    program_id = await programme(wa)
    async with wa.app.sessions() as s:
        s.add(Family(program_id=program_id, name="González Soto", phone=PHONE,
                     created_at=wa.app.clock.now()))
        await s.commit()
    await say(wa, ANA, "Hola")
    *_, done = await wa.press(ANA, "✅ Sí, acepto")
    # Not asked to type the number: the platform said whose it is.
    assert "familia González Soto" in done.text
    async with wa.app.sessions() as s:
        family = await s.scalar(select(Family))
        person = await s.get(Person, family.person_id)
    assert person.phone == PHONE


@pytest.mark.wa_limited_only("on WhatsApp the number is always the one written from")
async def test_a_number_nobody_vouches_for_is_still_asked_for(wa: WaHarness) -> None:
    program_id = await programme(wa)
    async with wa.app.sessions() as s:
        s.add(Family(program_id=program_id, name="González Soto", phone=PHONE,
                     created_at=wa.app.clock.now()))
        await s.commit()
    await say(wa, ANA, "Hola", phone=None)
    *_, ask = await wa.press(ANA, "✅ Sí, acepto")
    assert "Escríbeme tu número" in ask.text
    async with wa.app.sessions() as s:
        assert (await s.scalar(select(Family))).person_id is None


async def test_a_code_as_the_first_words_is_redeemed_after_consent(wa: WaHarness) -> None:
    """A QR card's WhatsApp link opens the chat with the code already written."""
    program_id = await programme(wa)
    async with wa.app.sessions() as s:
        org = Organization(program_id=program_id, name="Junta de Vecinos Villa Ñuñoa",
                           created_at=wa.app.clock.now())
        s.add(org)
        await s.flush()
        code = (await links.create(s, program_id, "organization", org.id,
                                   wa.app.clock.now())).code
        await s.commit()
    [consent] = await say(wa, ANA, code, phone=None)
    assert "✅ Sí, acepto" in consent.titles()
    replies = await wa.press(ANA, "✅ Sí, acepto")
    assert "Junta de Vecinos Villa Ñuñoa" in replies[-1].text


async def test_someone_known_on_another_chat_by_that_number_is_the_same_person(
        wa: WaHarness) -> None:
    await programme(wa)
    async with wa.app.sessions() as s:
        known = await people.create_with_address(s, "telegram", "4242", wa.app.clock.now(),
                                                 name="Ana Pérez", phone=PHONE,
                                                 phone_vouched=True,
                                                 consent_at=wa.app.clock.now(),
                                                 consent_version="2026-1")
        await s.commit()
        known_id = known.id
    wa.phones[ANA] = PHONE
    answer = await wa.send(ANA, "/mis_datos")
    assert "Ana Pérez" in "\n".join(m.text for m in answer)
    async with wa.app.sessions() as s:
        person = await people.by_address(s, wa.channel.name, ANA)
        count = await s.scalar(select(func.count()).select_from(Person))
        addresses = set(await s.scalars(select(ChannelAddress.channel).where(
            ChannelAddress.person_id == known_id)))
    assert person.id == known_id and count == 1
    assert addresses == {"telegram", wa.channel.name}


async def test_a_number_two_people_hold_makes_a_new_person(wa: WaHarness) -> None:
    """Two records with one number (a shared family phone): which one is writing is a
    guess, and a guess never hands over someone's record."""
    await programme(wa)
    async with wa.app.sessions() as s:
        for chat in ("4242", "4343"):
            await people.create_with_address(s, "telegram", chat, wa.app.clock.now(),
                                             name="Ana", phone=PHONE, phone_vouched=True,
                                             consent_at=wa.app.clock.now())
        await s.commit()
    await say(wa, ANA, "Hola")
    async with wa.app.sessions() as s:
        assert await s.scalar(select(func.count()).select_from(Person)) == 3


async def test_a_number_nobody_vouched_for_hands_over_no_record(wa: WaHarness) -> None:
    """A number typed on a chat (or copied from a family's list by a card) may be anyone's:
    its owner writing from WhatsApp is not handed that chat's record, its roles or history."""
    program_id = await programme(wa)
    async with wa.app.sessions() as s:
        typed = await people.create_with_address(s, "telegram", "4242", wa.app.clock.now(),
                                                 name="Mallory", phone=PHONE,
                                                 consent_at=wa.app.clock.now())
        await people.grant(s, typed, "gestora", program_id, wa.app.clock.now())
        await s.commit()
        typed_id = typed.id
    [consent] = await say(wa, ANA, "Hola")
    assert "✅ Sí, acepto" in consent.titles()
    async with wa.app.sessions() as s:
        person = await people.by_address(s, wa.channel.name, ANA)
    assert person.id != typed_id and not person.roles


async def test_a_sticker_a_contact_card_and_a_file_are_answered_alike(wa: WaHarness) -> None:
    """What a person sends besides words reaches the core the same way on both variants
    (on the cloud one, as WhatsApp's own webhooks)."""
    await programme(wa)
    await say(wa, ANA, "Hola")
    await wa.press(ANA, "✅ Sí, acepto")
    [sticker] = await wa.event(ANA, EventKind.UNSUPPORTED, unsupported="sticker")
    contact = await wa.event(ANA, EventKind.CONTACT, contact_phone="+56987654321")
    wa.files["f1"] = b"nombre;telefono\n"
    document = await wa.event(ANA, EventKind.DOCUMENT, text=None,
                              document=DocumentRef("f1", "lista.csv", "text/csv", 16))
    assert sticker.text.startswith("Por ahora solo entiendo texto y botones.")
    # A family member's contact card or file, with nothing asked for: not understood.
    assert [m.text for m in contact + document] == [
        "No te entendí. Escribe /ayuda para ver lo que puedes hacer."] * 2
