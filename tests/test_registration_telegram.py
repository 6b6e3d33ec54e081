"""/start end to end: real aiogram polling a fake Bot API that checks every request."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from handlers.events import EventKind, Incoming
from storage import links
from storage.models import ChannelAddress, Family, Meeting, Organization, Person, RoleGrant
from telegram_harness import Running, start, stop

ANA, BETO, ADMIN = 5001, 5002, 900


@pytest.fixture
async def tg(fake_tg, settings_for, sqlite_url, clock) -> AsyncIterator[Running]:
    settings = settings_for(
        sqlite_url, telegram_bot_token=fake_tg.token, telegram_api_base=fake_tg.base_url,
        admin_telegram_ids=str(ADMIN),
    )
    running = await start(fake_tg, settings, clock)
    yield running
    await stop(running)


async def seed_family_and_org(r: Running, phone: str = "+56912345678") -> str:
    now = r.app.clock.now()
    async with r.app.sessions() as s:
        from storage import programs

        program = await programs.create(s, template="ecomercado-15m", start=now.date(),
                                        name="Ecomercado Quilpué", now=now)
        s.add(Family(program_id=program.id, name="González Soto", phone=phone, created_at=now))
        org = Organization(program_id=program.id, name="Junta de Vecinos Villa Ñuñoa",
                           created_at=now)
        s.add(org)
        await s.flush()
        code = (await links.create(s, program.id, "organization", org.id, now)).code
        await s.commit()
    return code


async def count(r: Running, model: type) -> int:
    async with r.app.sessions() as s:
        return await s.scalar(select(func.count()).select_from(model))


async def test_start_answers_in_spanish_with_the_consent_step(tg: Running) -> None:
    [reply] = await tg.send(ANA, "/start")
    assert "¿Aceptas?" in reply["text"] and "/borrar_mis_datos" in reply["text"]
    labels = [b["text"] for row in reply["reply_markup"]["inline_keyboard"] for b in row]
    assert labels == ["✅ Sí, acepto", "No, gracias", "🌐 English"]
    assert all(len(b["callback_data"].encode()) <= 64
               for row in reply["reply_markup"]["inline_keyboard"] for b in row)


async def test_consent_then_sharing_the_phone_links_the_imported_family(tg: Running) -> None:
    await seed_family_and_org(tg)
    await tg.send(ANA, "/start")
    thanks, ask = await tg.press(ANA, "✅ Sí, acepto", count=2)
    assert thanks["text"] == "¡Gracias! 🙌"
    keyboard = ask["reply_markup"]["keyboard"]
    assert keyboard[0][0]["request_contact"] is True
    # Telegram hands the number over without the plus sign.
    [done] = await tg.share_contact(ANA, "56912345678")
    assert "familia González Soto" in done["text"]
    assert done["reply_markup"] == {"remove_keyboard": True}
    async with tg.app.sessions() as s:
        fam = await s.scalar(select(Family))
        person = await s.get(Person, fam.person_id)
        assert person.phone == "+56912345678" and person.consent_at is not None
        roles = (await s.scalars(select(RoleGrant.role).where(RoleGrant.person_id == person.id)))
        assert list(roles) == ["familia"]


async def test_a_household_in_two_programmes_is_linked_in_both(tg: Running) -> None:
    await seed_family_and_org(tg)
    now = tg.app.clock.now()
    async with tg.app.sessions() as s:
        from storage import programs

        other = await programs.create(s, template="ecomercado-10m", start=now.date(),
                                      name="Ecomercado Limache", now=now)
        s.add(Family(program_id=other.id, name="González Soto", phone="+56912345678",
                     created_at=now))
        s.add(Family(program_id=other.id, name="Pérez Rojas", phone="+56987654321",
                     created_at=now))
        await s.commit()
    await tg.send(ANA, "/start")
    await tg.press(ANA, "✅ Sí, acepto", count=2)
    [done] = await tg.share_contact(ANA, "56912345678")
    assert "González Soto" in done["text"]
    async with tg.app.sessions() as s:
        families = (await s.scalars(select(Family).order_by(Family.id))).all()
        linked = {f.name + ":" + str(f.program_id): f.person_id for f in families}
        person_id = families[0].person_id
        assert person_id is not None
        assert [f.person_id for f in families if f.phone == "+56912345678"] == [person_id] * 2
        assert [f.person_id for f in families if f.phone != "+56912345678"] == [None], linked
        grants = set((await s.execute(select(RoleGrant.role, RoleGrant.program_id)
                                      .where(RoleGrant.person_id == person_id))).all())
        assert grants == {("familia", f.program_id) for f in families
                          if f.phone == "+56912345678"}


@pytest.mark.parametrize("written", ["9 1234 5678", "+56 9 1234 5678", "+56912345678"])
async def test_chilean_ways_of_writing_a_number_all_match(tg: Running, written: str) -> None:
    await seed_family_and_org(tg, phone="+56912345678")
    await tg.send(BETO, "/start")
    await tg.press(BETO, "✅ Sí, acepto", count=2)
    [done] = await tg.share_contact(BETO, written)
    assert "González Soto" in done["text"]


async def test_someone_elses_contact_is_not_accepted(tg: Running) -> None:
    await seed_family_and_org(tg)
    await tg.send(ANA, "/start")
    await tg.press(ANA, "✅ Sí, acepto", count=2)
    [reply] = await tg.share_contact(ANA, "+56912345678", user_id=777)
    assert "tu propio número" in reply["text"]
    async with tg.app.sessions() as s:
        assert (await s.scalar(select(Family))).person_id is None


async def test_unknown_number_is_kept_and_explained(tg: Running) -> None:
    await tg.send(ANA, "/start")
    await tg.press(ANA, "✅ Sí, acepto", count=2)
    [reply] = await tg.share_contact(ANA, "+56 9 8765 4321")
    assert "código de invitación" in reply["text"]


async def test_deep_link_code_binds_the_chat_to_the_organisation(tg: Running) -> None:
    code = await seed_family_and_org(tg)
    await tg.send(ANA, f"/start {code}")
    _, done = await tg.press(ANA, "✅ Sí, acepto", count=2)
    assert done["text"] == "¡Listo! Quedaste como representante de Junta de Vecinos Villa Ñuñoa."


async def test_typing_the_code_also_works_and_a_wrong_one_is_explained(tg: Running) -> None:
    code = await seed_family_and_org(tg)
    await tg.send(ANA, "/start")
    await tg.press(ANA, "✅ Sí, acepto", count=2)
    wrong, ask_again = await tg.send(ANA, "ZZZZ-ZZZZ", count=2)
    assert wrong["text"].startswith("No existe ninguna invitación con el código ZZZZ-ZZZZ.")
    [done] = await tg.send(ANA, code.lower())
    assert "representante" in done["text"]


@pytest.mark.parametrize(("locale", "again"), [
    ("es", "¡Hola de nuevo! Escribe /ayuda para ver lo que puedes hacer."),
    ("en", "Welcome back! Send /ayuda to see what you can do."),
])
async def test_after_stop_and_start_a_person_without_a_name_is_greeted_without_one(
        tg: Running, locale: str, again: str) -> None:
    await tg.send(ANA, "/start")
    if locale == "en":
        await tg.press(ANA, "🌐 English")
    await tg.press(ANA, "✅ Sí, acepto" if locale == "es" else "✅ Yes, I agree", count=2)
    async with tg.app.sessions() as s:
        # As a console or WhatsApp person with no profile name would be.
        (await s.scalar(select(Person))).name = "  "
        await s.commit()
    await tg.send(ANA, "/stop")
    back, hello = await tg.send(ANA, "/start", count=2)
    assert hello["text"] == again and ", !" not in hello["text"]


async def test_an_imported_person_without_a_name_takes_the_chats_and_is_greeted_by_it(
        tg: Running) -> None:
    now = tg.app.clock.now()
    async with tg.app.sessions() as s:
        s.add(Person(phone="+56987654321", created_at=now))  # imported with a phone only
        await s.commit()
    tg.fake.add_chat(BETO, first_name="Beto", last_name="Rojas")
    await tg.send(BETO, "/start")
    await tg.press(BETO, "✅ Sí, acepto", count=2)
    [found] = await tg.share_contact(BETO, "56987654321")
    assert found["text"] == "¡Listo, Beto Rojas! Te encontré en la lista."
    await tg.send(BETO, "/stop")
    _, hello = await tg.send(BETO, "/start", count=2)
    assert hello["text"].startswith("¡Hola de nuevo, Beto Rojas!")


async def seed_codes(r: Running) -> dict[str, str]:
    """An organisation's invitation codes: one good, one expired, one used up; and a
    meeting's check-in code."""
    code = await seed_family_and_org(r)
    now = r.app.clock.now()
    async with r.app.sessions() as s:
        org = await s.scalar(select(Organization))
        expired = await links.create(s, org.program_id, "organization", org.id, now)
        expired.expires_at = now - timedelta(days=1)
        used = await links.create(s, org.program_id, "organization", org.id, now, max_uses=1)
        used.uses = 1
        s.add(Meeting(program_id=org.program_id, kind="grupo_motor", title="Sesión",
                      starts_at=now + timedelta(days=3), checkin_code="AC3479", created_at=now))
        await s.commit()
        return {"good": code, "expired": expired.code, "used": used.code}


@pytest.mark.parametrize(("which", "expected"), [
    ("unknown", "No existe ninguna invitación con el código ZZZZ2345. Revisa que esté bien "
                "escrito (son 8 letras y números) o pídele uno nuevo a la gestora."),
    ("expired", "El código {code} ya venció. Pídele uno nuevo a la gestora, por favor."),
    ("used", "El código {code} ya se usó todas las veces que permitía. Pídele uno nuevo a la "
             "gestora, por favor."),
    ("meeting", "AC3479 es el código de una reunión, no de una invitación. Para marcar tu "
                "asistencia, escribe /asistencia AC3479"),
])
async def test_a_wrong_invitation_code_is_said_not_to_exist_or_to_have_expired(
        tg: Running, which: str, expected: str) -> None:
    codes = await seed_codes(tg)
    code = {"unknown": "ZZZZ2345", "meeting": "AC3479"}.get(which) or codes[which]
    await tg.send(ANA, f"/start {code}")
    _, wrong, ask = await tg.press(ANA, "✅ Sí, acepto", count=3)
    assert wrong["text"] == expected.format(code=code)
    assert "Compartir mi número" in ask["text"]  # not linked yet: the other way in
    # Someone already linked who follows a wrong link hears why, and nothing more.
    await tg.send(ANA, f"/start {codes['good']}")
    [again] = await tg.send(ANA, f"/start {code}")
    assert again["text"] == expected.format(code=code)


async def test_a_code_typed_on_its_own_is_used_or_said_not_to_exist(tg: Running) -> None:
    codes = await seed_codes(tg)
    await tg.send(ANA, "/start")
    await tg.press(ANA, "✅ Sí, acepto", count=2)
    await tg.send(ANA, codes["good"])  # linked: from now on outside any question
    [unknown] = await tg.send(ANA, "ZZZZ2345")
    assert unknown["text"].startswith("El código ZZZZ2345 no existe: no hay ninguna invitación "
                                      "ni reunión con ese código.")
    [expired] = await tg.send(ANA, codes["expired"].lower())
    assert "ya venció" in expired["text"]
    [early] = await tg.send(ANA, "ac3479")  # the meeting's code, as /asistencia would
    assert early["text"].startswith("Aún es temprano")
    [chat] = await tg.send(ANA, "gracias")
    assert chat["text"].startswith("No te entendí")


async def test_asistencia_with_an_unknown_code_or_an_invitations_code(tg: Running) -> None:
    codes = await seed_codes(tg)
    await tg.send(ANA, "/start")
    await tg.press(ANA, "✅ Sí, acepto", count=2)
    [wrong] = await tg.send(ANA, "/asistencia ZZZ999")
    assert wrong["text"] == ("El código ZZZ999 no existe: no hay ninguna reunión con ese código. "
                             "Revísalo (está en la sala, o te lo da la gestora) y escríbelo de "
                             "nuevo, por favor.")
    [invitation] = await tg.send(ANA, f"/asistencia {codes['good']}")
    assert invitation["text"] == (f"{codes['good']} es un código de invitación, no de una "
                                  f"reunión. Para usarlo, escribe /start {codes['good']}")


async def test_declining_consent_keeps_nothing(tg: Running) -> None:
    await tg.send(ANA, "/start")
    assert await count(tg, Person) == 1
    [reply] = await tg.press(ANA, "No, gracias")
    assert "No guardé ningún dato" in reply["text"]
    assert await count(tg, Person) == 0 and await count(tg, ChannelAddress) == 0


async def test_english_is_one_tap_away_and_sticks(tg: Running) -> None:
    await tg.send(ANA, "/start")
    [reply] = await tg.press(ANA, "🌐 English")
    assert "Do you agree?" in reply["text"]
    thanks, ask = await tg.press(ANA, "✅ Yes, I agree", count=2)
    assert thanks["text"] == "Thank you! 🙌" and "Share my number" in ask["text"]
    [reply] = await tg.send(ANA, "/idioma")
    assert reply["text"] == "Which language would you like me to use?"


async def test_free_text_during_consent_gets_a_kind_nudge(tg: Running) -> None:
    await tg.send(ANA, "/start")
    nudge, again = await tg.send(ANA, "hola??", count=2)
    assert "elige una opción" in nudge["text"] and "¿Aceptas?" in again["text"]


async def test_a_forged_or_borrowed_button_is_refused(tg: Running) -> None:
    await tg.send(ANA, "/start")
    await tg.send(BETO, "/start")
    data, _ = tg.button(ANA, "✅ Sí, acepto")
    before = len(tg.fake.delivered(BETO))
    tg.fake.callback(BETO, data)  # Ana's button, pressed in Beto's chat
    [reply] = await tg.replies(BETO, before, 1)
    assert "no es para ti" in reply["text"]
    action, _, sig = data.rpartition("|")
    before = len(tg.fake.delivered(ANA))
    tg.fake.callback(ANA, f"consent:yes|{'A' * len(sig)}")
    [reply] = await tg.replies(ANA, before, 1)
    assert "no es para ti" in reply["text"]
    async with tg.app.sessions() as s:
        assert await s.scalar(select(func.count()).where(Person.consent_at.is_not(None))) == 0


async def test_admin_ids_get_the_gestora_role(tg: Running) -> None:
    await tg.send(ADMIN, "/start")
    async with tg.app.sessions() as s:
        roles = list(await s.scalars(select(RoleGrant.role)))
    assert roles == ["gestora"]


ATTACKER, GROUP = 6666, -100_777


async def test_an_update_in_an_admins_name_from_another_chat_grants_nothing(tg: Running) -> None:
    """The adversarial trial: the attacker's chat, the administrator's user id."""
    tg.fake.command(ATTACKER, "/start", from_id=ADMIN)
    tg.fake.command(ATTACKER, "/panel", from_id=ADMIN)
    [consent] = await tg.send(ATTACKER, "/start")  # then the attacker, as such
    assert "¿Aceptas?" in consent["text"]
    await tg.press(ATTACKER, "✅ Sí, acepto", count=2)
    [panel] = await tg.send(ATTACKER, "/panel")
    assert panel["text"].startswith("Eso lo puede hacer solo el equipo")
    async with tg.app.sessions() as s:
        assert await s.scalar(select(func.count()).select_from(RoleGrant)) == 0
    # Only what the attacker sent as themselves was answered.
    assert len(tg.fake.delivered(ATTACKER)) == 4


async def test_a_button_or_contact_from_another_user_than_the_chat_is_refused(
        tg: Running) -> None:
    await seed_family_and_org(tg)
    await tg.send(ANA, "/start")
    data, mid = tg.button(ANA, "✅ Sí, acepto")
    tg.fake.callback(ANA, data, message_id=mid, from_id=BETO)  # not Ana's own press
    tg.fake.callback(GROUP, data, from_id=ANA)  # a press in a group
    [nudge, again] = await tg.send(ANA, "hola", count=2)  # Ana still has the question
    assert "¿Aceptas?" in again["text"]
    async with tg.app.sessions() as s:
        assert await s.scalar(select(func.count()).where(Person.consent_at.is_not(None))) == 0
        addresses = set((await s.scalars(select(ChannelAddress.address))).all())
    assert addresses == {str(ANA)} and tg.fake.delivered(GROUP) == []
    await tg.press(ANA, "✅ Sí, acepto", count=2)
    # The family's number, shared in Ana's chat by its owner's account (user 777): a split
    # that the own-contact check, reading the sender, used to let through.
    tg.fake.contact(ANA, "56912345678", user_id=777, from_id=777)
    [reply] = await tg.share_contact(ANA, "+56 9 8765 4321")  # then Ana's own, unknown
    assert "código de invitación" in reply["text"]
    async with tg.app.sessions() as s:
        assert (await s.scalar(select(Family))).person_id is None


async def test_stickers_and_unknown_commands_get_kind_answers(tg: Running) -> None:
    await tg.send(ANA, "/start")
    await tg.press(ANA, "✅ Sí, acepto", count=2)
    before = len(tg.fake.delivered(ANA))
    tg.fake.sticker(ANA)
    unsupported, again = await tg.replies(ANA, before, 2)
    assert "solo entiendo texto" in unsupported["text"] and "Compartir mi número" in again["text"]
    [reply] = await tg.send(ANA, "/volar")
    assert reply["text"].startswith("No conozco /volar")


async def test_an_update_handled_twice_answers_once(tg: Running) -> None:
    event = Incoming("telegram", str(ANA), EventKind.COMMAND, update_id=424242, command="start")
    first = await tg.app.core.handle(event)
    second = await tg.app.core.handle(event)
    assert len(first) == 1 and second == []


def test_long_texts_are_split_within_telegrams_limit() -> None:
    from bot.telegram import utf16_len
    from channels.layout import split_text

    text = ("Nombre: María José Araya 🌱\n" * 400).strip()
    parts = split_text(text, 4096, utf16_len)
    assert len(parts) > 1 and all(utf16_len(p) <= 4096 for p in parts)
    assert " ".join(parts).split() == text.split()  # every word kept, in order
    assert split_text("corto", 4096, utf16_len) == ["corto"]
    unbroken = "á" * 9000
    assert [len(p) for p in split_text(unbroken, 4096, utf16_len)] == [4096, 4096, 808]


async def test_a_reply_longer_than_telegram_allows_arrives_in_pieces(tg: Running) -> None:
    from handlers.events import Outgoing
    from locales import Msg, Raw
    from storage import outbox

    await tg.send(ANA, "/start")
    long = "\n".join(f"{i}. {'respuesta larga ' * 12}" for i in range(40))
    async with tg.app.sessions() as s:
        person = await s.scalar(select(Person))
        person.consent_at = tg.app.clock.now()
        await s.flush()
        out = Outgoing(text=Msg("start.welcome_back", {"name": Raw(long)}))
        assert await outbox.enqueue_for_person(s, person.id, out.to_json(), key="long",
                                               kind="notice", now=tg.app.clock.now())
        await s.commit()
    before = len(tg.fake.delivered(ANA))
    tg.outbox.wake()
    parts = await tg.replies(ANA, before, 2)
    assert all(len(p["text"]) <= 4096 for p in parts)
