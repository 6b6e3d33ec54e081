"""The Ficha de Interés in chat, end to end: real aiogram polling a fake Bot API that checks
every request (callback data included), in Spanish and English, with restarts, bad input,
corrections and a second representative's signature."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import func, select

from bot import telegram
from handlers.events import Outgoing
from storage import links, outbox, programs
from storage.models import (
    AuditEntry,
    FormResponse,
    FormSignature,
    FormStatus,
    Organization,
    OutboxMessage,
    Person,
    Representative,
)
from telegram_harness import Running, start, stop
from telegram_harness import labels_of as labels

ANA, BETO, CARLA = 6001, 6002, 6003
ORG = "Junta de Vecinos Villa Ñuñoa"
TITLE_ES = "Ficha de Interés de Participación"


@dataclass
class Bot:
    """Convoca on the fake Bot API; ``restart`` builds a new app on the same database."""

    fake: Any
    settings: Any
    clock: Any
    tg: Running | None = None

    async def start(self) -> Running:
        self.tg = await start(self.fake, self.settings, self.clock)
        return self.tg

    async def restart(self) -> Running:
        assert self.tg is not None
        await stop(self.tg)
        self.tg = None
        return await self.start()


@pytest.fixture
async def bot(fake_tg, settings_for, sqlite_url, clock) -> AsyncIterator[Bot]:
    settings = settings_for(sqlite_url, telegram_bot_token=fake_tg.token,
                            telegram_api_base=fake_tg.base_url)
    b = Bot(fake_tg, settings, clock)
    await b.start()
    yield b
    if b.tg is not None:
        await stop(b.tg)
    assert_every_callback_fits(fake_tg)


@pytest.fixture
def tg(bot: Bot) -> Running:
    assert bot.tg is not None
    return bot.tg


# --------------------------------------------------------------------------- helpers




def assert_every_callback_fits(fake: Any) -> None:
    for rec in fake.requests:
        markup = rec.params.get("reply_markup") if isinstance(rec.params, dict) else None
        for row in (markup or {}).get("inline_keyboard", []) if isinstance(markup, dict) else []:
            for b in row:
                assert len(b["callback_data"].encode()) <= 64, b


def shown_button(tg: Running, chat: int, label: str) -> tuple[str, int]:
    """A button as the message shows it now (after edits), on the latest message with it."""
    for m in sorted(tg.fake.bot_messages(chat), key=lambda m: m["message_id"], reverse=True):
        for row in (m.get("reply_markup") or {}).get("inline_keyboard", []):
            for b in row:
                if b["text"] == label:
                    return b["callback_data"], m["message_id"]
    raise AssertionError(f"no button {label!r} shown in chat {chat}")


def message_now(tg: Running, chat: int, message_id: int) -> dict:
    return next(m for m in tg.fake.bot_messages(chat) if m["message_id"] == message_id)


async def toggle(tg: Running, chat: int, label: str) -> dict:
    """Tap a multi-choice option: the same message is edited, nothing new is sent."""
    data, mid = shown_button(tg, chat, label)
    edits = len(tg.fake.calls("editMessageText"))
    sent = len(tg.fake.delivered(chat))
    tg.fake.callback(chat, data, message_id=mid)
    await tg.fake.wait_for(lambda _r: len(tg.fake.calls("editMessageText")) > edits, timeout=10)
    assert len(tg.fake.delivered(chat)) == sent
    return message_now(tg, chat, mid)


async def seed_org(tg: Running, name: str = ORG) -> tuple[int, str]:
    now = tg.app.clock.now()
    async with tg.app.sessions() as s:
        program = await programs.create(s, template="ecomercado-15m", start=now.date(),
                                        name="Ecomercado Quilpué", now=now)
        org = Organization(program_id=program.id, name=name, created_at=now)
        s.add(org)
        await s.flush()
        code = (await links.create(s, program.id, "organization", org.id, now)).code
        await s.commit()
        return org.id, code


async def join_as_representative(tg: Running, chat: int, code: str) -> None:
    await tg.send(chat, f"/start {code}")
    _, done = await tg.press(chat, "✅ Sí, acepto", count=2)
    assert "representante" in done["text"]


async def responses(tg: Running) -> list[FormResponse]:
    async with tg.app.sessions() as s:
        return list((await s.scalars(select(FormResponse).order_by(FormResponse.id))).all())


async def signatures(tg: Running) -> list[FormSignature]:
    async with tg.app.sessions() as s:
        return list((await s.scalars(select(FormSignature).order_by(FormSignature.id))).all())


async def person_id(tg: Running, chat: int) -> int:
    from storage import people

    async with tg.app.sessions() as s:
        return (await people.by_address(s, "telegram", str(chat))).id


async def fill_in_spanish(tg: Running, chat: int, *, name: str = "Ana María Rojas",
                          sector: str = "Villa Ñuñoa") -> dict:
    """From /ficha to the summary for an organisation already linked: formalised, with RUT."""
    intro, first = await tg.send(chat, "/ficha", count=2)
    assert first["text"] == "Pregunta 1 de 13\n¿Cómo se llama tu organización?"
    await tg.press(chat, f"Usar: {ORG}")
    await tg.press(chat, "Junta de vecinos")
    await tg.press(chat, "Sí")
    await tg.send(chat, "65.123.456-5")
    await tg.press(chat, "Omitir")  # the registration number, not at hand
    await tg.send(chat, sector)
    await tg.send(chat, "unos 40")
    await tg.send(chat, name)
    await tg.send(chat, "12.345.678-5")
    await tg.send(chat, "Presidenta")
    await tg.send(chat, "9 8765 4321")
    await tg.press(chat, "Omitir")
    await toggle(tg, chat, "Grupo Motor")
    await toggle(tg, chat, "Difusión")
    await tg.press(chat, "✔️ Listo")
    await toggle(tg, chat, "Martes")
    await toggle(tg, chat, "Jueves")
    await tg.press(chat, "✔️ Listo")
    await toggle(tg, chat, "Tarde")
    [summary] = await tg.press(chat, "✔️ Listo")
    return summary


async def sign_and_submit(tg: Running, chat: int, name: str = "Ana María Rojas",
                          count: int = 2) -> list[dict]:
    """The typed name signs: the RUT she gave among the answers goes with it, unasked."""
    [declaration] = await tg.press(chat, "✅ Confirmar")
    assert "escribe tu nombre completo" in declaration["text"]
    replies = await tg.send(chat, name, count=count)
    assert "Recibimos la" in replies[0]["text"]
    assert not any("RUT" in m["text"] for m in replies)
    return replies


# --------------------------------------------------------------------------- whole forms


async def test_a_representative_fills_the_ficha_in_spanish_with_the_rut(tg: Running) -> None:
    org_id, code = await seed_org(tg)
    await join_as_representative(tg, ANA, code)

    intro, q1 = await tg.send(ANA, "/ficha", count=2)
    assert intro["text"].startswith(f"📝 {TITLE_ES}\n")
    assert f"Es para {ORG}." in intro["text"]
    assert labels(q1) == [f"Usar: {ORG}"]  # the first question has no "Atrás"
    [q2] = await tg.press(ANA, f"Usar: {ORG}")
    assert q2["text"] == "Pregunta 2 de 13\n¿Qué tipo de organización es?"
    assert labels(q2) == ["Junta de vecinos", "Club de adulto mayor", "Comité", "Cooperativa",
                          "Sindicato de feria libre", "ONG", "Otra", "⬅️ Atrás"]
    [q3] = await tg.press(ANA, "Junta de vecinos")
    assert labels(q3) == ["Sí", "No", "⬅️ Atrás"]
    [rut] = await tg.press(ANA, "Sí")
    assert rut["text"].startswith("Pregunta 4 de 15\n¿Cuál es el RUT de la organización?")
    [registration] = await tg.send(ANA, "65.123.456-5")
    assert "número de registro o de personalidad jurídica" in registration["text"]
    assert labels(registration) == ["⬅️ Atrás", "Omitir"]
    [sector] = await tg.send(ANA, "N.º 2345")
    assert "¿En qué sector o barrio" in sector["text"]
    [members] = await tg.send(ANA, "Villa Ñuñoa")
    # An address is not a number of members: asked again, kindly.
    address, again = await tg.send(ANA, "Los Aromos 1456, Quilpué", count=2)
    assert "no una cantidad" in address["text"] and "¿Cuántas personas" in again["text"]
    [name] = await tg.send(ANA, "unos 40")
    assert "nombre completo" in name["text"]
    [rut] = await tg.send(ANA, "Ana María Rojas")
    assert "¿Cuál es tu RUT?" in rut["text"]
    bad, again = await tg.send(ANA, "12.345.678-9", count=2)  # a wrong check digit
    assert bad["text"] == "El RUT no es válido. Escríbelo así: 12.345.678-5"
    assert "¿Cuál es tu RUT?" in again["text"]
    [role] = await tg.send(ANA, "12345678-5")
    assert "¿Qué cargo" in role["text"]
    [phone] = await tg.send(ANA, "Presidenta")
    [email] = await tg.send(ANA, "9 8765 4321")
    assert labels(email) == ["⬅️ Atrás", "Omitir"]
    [participation] = await tg.press(ANA, "Omitir")
    assert "Toca todas las que correspondan" in participation["text"]
    assert labels(participation)[-2:] == ["✔️ Listo", "⬅️ Atrás"]
    edited = await toggle(tg, ANA, "Grupo Motor")
    assert labels(edited)[0] == "✅ Grupo Motor"
    edited = await toggle(tg, ANA, "Difusión")
    assert "✅ Difusión" in labels(edited) and "✅ Grupo Motor" in labels(edited)
    edited = await toggle(tg, ANA, "✅ Grupo Motor")  # a second tap takes it away
    assert "Grupo Motor" in labels(edited) and "✅ Grupo Motor" not in labels(edited)
    await toggle(tg, ANA, "Grupo Motor")
    [days] = await tg.press(ANA, "✔️ Listo")
    assert "¿Qué días de la semana" in days["text"]
    await toggle(tg, ANA, "Martes")
    await toggle(tg, ANA, "Jueves")
    [times] = await tg.press(ANA, "✔️ Listo")
    assert labels(times)[:3] == ["Mañana", "Tarde", "Noche"]
    await toggle(tg, ANA, "Tarde")
    [summary] = await tg.press(ANA, "✔️ Listo")

    text = summary["text"]
    assert text.startswith(f"Revisa la {TITLE_ES}:")
    for line in (f"• Organización: {ORG}", "• Tipo de organización: Junta de vecinos",
                 "• Con personalidad jurídica: Sí", "• RUT de la organización: 65.123.456-5",
                 "• N.º de registro / personalidad jurídica: N.º 2345",
                 "• Sector o barrio: Villa Ñuñoa", "• N.º aproximado de integrantes: 40",
                 "• Representante: Ana María Rojas",
                 "• RUT de representante: 12.345.678-5", "• Cargo: Presidenta",
                 "• Teléfono: +56 9 8765 4321", "• Correo electrónico: (sin respuesta)",
                 "• Cómo quiere participar: Grupo Motor, Difusión",
                 "• Días disponibles: Martes, Jueves", "• Horarios disponibles: Tarde"):
        assert line in text, line
    assert "Tipo (otra)" not in text
    assert labels(summary) == ["✅ Confirmar", "✏️ Editar"]

    [declaration] = await tg.press(ANA, "✅ Confirmar")
    assert ("«Yo, Ana María Rojas, Presidenta de Junta de Vecinos Villa Ñuñoa, declaro que la "
            "organización tiene interés en participar") in declaration["text"]
    [wrong] = await tg.send(ANA, "Ana Rojas")
    assert "no coincide" in wrong["text"] and "Ana María Rojas" in wrong["text"]
    # Her RUT is among her answers: the name signs, with no second question for it.
    receipt, cosign = await tg.send(ANA, "ANA MARIA  ROJAS", count=2)
    assert receipt["text"] == (
        f"✅ ¡Listo! Recibimos la {TITLE_ES}.\nComprobante N.º FI-00001\n"
        "Firmada el lunes 2 de marzo, 09:00.\nMuchas gracias por sumarse.")
    assert re.search(r"https://t\.me/convoca_test_bot\?start=[A-Z2-9]{8}$", cosign["text"])

    [response] = await responses(tg)
    assert response.status == FormStatus.SUBMITTED and response.organization_id == org_id
    assert response.person_id == await person_id(tg, ANA)
    a = response.answers
    assert a["organization_name"] == ORG and a["organization_kind"] == "junta_vecinos"
    assert a["formalized"] is True
    assert a["organization_rut"] == {"compact": "651234565", "formatted": "65.123.456-5"}
    assert a["members_count"] == 40 and a["representative_phone"] == "+56987654321"
    assert a["representative_rut"] == {"compact": "123456785", "formatted": "12.345.678-5"}
    assert a["registration_number"] == "N.º 2345"
    assert a["representative_email"] is None and "organization_kind_other" not in a
    assert a["participation"] == ["grupo_motor", "difusion"]
    assert a["available_days"] == ["martes", "jueves"] and a["available_times"] == ["tarde"]
    [sig] = await signatures(tg)
    # Signed as the declaration names her, not as typed in capitals without accents.
    assert sig.signed_name == "Ana María Rojas" and sig.person_id == response.person_id
    assert sig.signed_rut == "12.345.678-5"  # her answer, as the form wrote it
    assert sig.signed_at == tg.app.clock.now()
    async with tg.app.sessions() as s:
        # What the organisation declared is what the catastro now shows (a kind as its code).
        org = await s.get(Organization, org_id)
        assert (org.kind, org.rut, org.sector, org.members_count) == (
            "junta_vecinos", "65.123.456-5", "Villa Ñuñoa", 40)
        assert org.name == ORG  # the catastro's name stays the gestora's
        assert (await s.get(Person, response.person_id)).rut == "12.345.678-5"
        audit = list(await s.scalars(select(AuditEntry).where(AuditEntry.action == "form_answer")))
    assert len(audit) == 15  # one per answer: who, when, through which channel
    assert {(e.actor_id, e.channel, e.entity_id) for e in audit} == {
        (response.person_id, "telegram", response.id)}


async def test_an_unlinked_person_fills_it_in_english_without_rut(tg: Running) -> None:
    await tg.send(BETO, "/start")
    await tg.press(BETO, "🌐 English")
    await tg.press(BETO, "✅ Yes, I agree", count=2)

    intro, q1 = await tg.send(BETO, "/ficha", count=2)
    assert intro["text"].startswith("📝 Participation Interest Form\n")
    assert q1["text"] == "Question 1 of 13\nWhat is your organisation called?"
    assert labels(q1) == []
    [kind] = await tg.send(BETO, "Club Los Aromos")
    assert labels(kind)[:3] == ["Neighbourhood council", "Senior citizens' club", "Committee"]
    [other] = await tg.press(BETO, "Other")
    assert other["text"].startswith("Question 3 of 14\nWhat kind of organisation is it?")
    [formal] = await tg.send(BETO, "Cultural group")
    assert labels(formal) == ["Yes", "No", "⬅️ Back"]
    [sector] = await tg.press(BETO, "No")
    # Not formalised: the RUT is skipped, and "Back" skips it too.
    assert sector["text"].startswith("Question 5 of 14\nIn which area or neighbourhood")
    [again] = await tg.press(BETO, "⬅️ Back")
    assert "legally registered" in again["text"] and labels(again)[:2] == ["Yes", "✅ No"]
    [sector] = await tg.press(BETO, "✅ No")
    assert "area or neighbourhood" in sector["text"]
    await tg.send(BETO, "Villa Alemana centro")
    await tg.send(BETO, "25")
    [rut] = await tg.send(BETO, "Roberto Díaz")
    assert "What is your RUT?" in rut["text"]
    [role] = await tg.send(BETO, "11.111.111-1")
    assert "role" in role["text"] and "president, secretary" in role["text"]
    await tg.send(BETO, "Secretary")
    await tg.send(BETO, "+56 9 8765 4321")
    await tg.send(BETO, "Beto@Example.COM")
    await toggle(tg, BETO, "Volunteering")
    await tg.press(BETO, "✔️ Done")
    await toggle(tg, BETO, "Saturday")
    await tg.press(BETO, "✔️ Done")
    await toggle(tg, BETO, "Morning")
    [summary] = await tg.press(BETO, "✔️ Done")
    assert summary["text"].startswith("Please check the Participation Interest Form:")
    assert "• Kind of organisation: Other" in summary["text"]
    assert "• Kind (other): Cultural group" in summary["text"]
    assert "• Legally registered: No" in summary["text"]
    assert "Organisation's RUT" not in summary["text"]
    assert "• Email: Beto@example.com" in summary["text"]
    assert labels(summary) == ["✅ Confirm", "✏️ Edit"]

    [declaration] = await tg.press(BETO, "✅ Confirm")
    assert '"I, Roberto Díaz, Secretary of Club Los Aromos, declare' in declaration["text"]
    # No programme yet, so no co-signature link: only the receipt. His RUT is among his
    # answers, so the name signs.
    [receipt] = await tg.send(BETO, "roberto diaz")
    assert receipt["text"] == (
        "✅ Done! We have received the Participation Interest Form.\nReceipt no. FI-00001\n"
        "Signed on Monday 2 March, 09:00.\nThank you for joining in.")
    [response] = await responses(tg)
    assert response.organization_id is None and response.status == FormStatus.SUBMITTED
    assert response.answers["formalized"] is False
    assert "organization_rut" not in response.answers
    assert response.answers["organization_kind_other"] == "Cultural group"
    assert response.answers["representative_rut"]["formatted"] == "11.111.111-1"
    [sig] = await signatures(tg)
    assert (sig.signed_name, sig.signed_rut) == ("Roberto Díaz", "11.111.111-1")


async def test_edit_from_the_summary_and_come_back_to_it(tg: Running) -> None:
    _, code = await seed_org(tg)
    await join_as_representative(tg, ANA, code)
    await fill_in_spanish(tg, ANA)
    [pick] = await tg.press(ANA, "✏️ Editar")
    assert pick["text"] == "¿Qué respuesta quieres cambiar?"
    assert labels(pick)[:4] == ["Organización", "Tipo de organización",
                                "Con personalidad jurídica", "RUT de la organización"]
    assert labels(pick)[-1] == "⬅️ Volver al resumen"
    # The summary's "Confirmar" is no longer what is on show.
    stale, shown = await tg.press(ANA, "✅ Confirmar", count=2)
    assert stale["text"] == "Ese botón ya no sirve. Sigamos aquí 👇"
    assert shown["text"] == "¿Qué respuesta quieres cambiar?"
    [members] = await tg.press(ANA, "N.º aproximado de integrantes")
    assert "Tu respuesta ahora: 40" in members["text"]
    assert labels(members) == ["Dejar como está", "⬅️ Atrás"]
    [summary] = await tg.send(ANA, "1.200")
    assert "• N.º aproximado de integrantes: 1.200" in summary["text"]
    # Saying "no" to formalised drops the RUT; saying "yes" again asks for it before the
    # summary comes back.
    await tg.press(ANA, "✏️ Editar")
    await tg.press(ANA, "Con personalidad jurídica")
    [summary] = await tg.press(ANA, "No")
    assert "RUT de la organización" not in summary["text"]
    assert "N.º de registro" not in summary["text"]
    await tg.press(ANA, "✏️ Editar")
    [formal] = await tg.press(ANA, "Con personalidad jurídica")
    assert labels(formal) == ["Sí", "✅ No", "⬅️ Atrás"]
    [summary] = await tg.press(ANA, "Sí")  # the RUT given before comes back
    assert "• RUT de la organización: 65.123.456-5" in summary["text"]
    # "Atrás" while editing goes back to the list, not through the form.
    await tg.press(ANA, "✏️ Editar")
    await tg.press(ANA, "Sector o barrio")
    [pick] = await tg.press(ANA, "⬅️ Atrás")
    assert pick["text"] == "¿Qué respuesta quieres cambiar?"
    [summary] = await tg.press(ANA, "⬅️ Volver al resumen")
    assert summary["text"].startswith("Revisa la")
    # A mistyped RUT of hers, corrected from the summary: the signature carries the new one.
    await tg.press(ANA, "✏️ Editar")
    [rut] = await tg.press(ANA, "RUT de representante")
    assert "Tu respuesta ahora: 12.345.678-5" in rut["text"]
    [summary] = await tg.send(ANA, "7654321-6")
    assert "• RUT de representante: 7.654.321-6" in summary["text"]
    receipt, _ = await sign_and_submit(tg, ANA)
    [response] = await responses(tg)
    assert response.answers["members_count"] == 1200
    assert response.answers["organization_rut"]["compact"] == "651234565"
    [sig] = await signatures(tg)
    assert (sig.signed_name, sig.signed_rut) == ("Ana María Rojas", "7.654.321-6")


# --------------------------------------------------------------------------- restarts


async def test_a_restart_in_the_middle_loses_nothing(bot: Bot) -> None:
    tg = bot.tg
    _, code = await seed_org(tg)
    await join_as_representative(tg, ANA, code)
    await tg.send(ANA, "/ficha", count=2)
    await tg.press(ANA, f"Usar: {ORG}")
    await tg.press(ANA, "Cooperativa")

    tg = await bot.restart()  # a new process on the same database
    # Right away, the next answer simply carries on where it was.
    [rut] = await tg.press(ANA, "Sí")
    assert "¿Cuál es el RUT" in rut["text"]

    tg = await bot.restart()
    [resume] = await tg.send(ANA, "/ficha")
    assert resume["text"] == (f"Tienes la {TITLE_ES} a medias: ibas en la pregunta 4 de 15. "
                              "¿Seguimos donde quedaste?")
    assert labels(resume) == ["▶️ Continuar", "🔄 Empezar de nuevo"]
    [rut] = await tg.press(ANA, "▶️ Continuar")
    assert rut["text"].startswith("Pregunta 4 de 15\n¿Cuál es el RUT")
    await tg.send(ANA, "65.123.456-5")
    [response] = await responses(tg)
    assert response.status == FormStatus.DRAFT and response.current == "registration_number"
    assert response.answers == {
        "organization_name": ORG, "organization_kind": "cooperativa", "formalized": True,
        "organization_rut": {"compact": "651234565", "formatted": "65.123.456-5"}}
    assert response.updated_at == tg.app.clock.now()


async def test_after_a_long_pause_the_next_message_offers_to_continue(bot: Bot,
                                                                       clock: Any) -> None:
    tg = bot.tg
    _, code = await seed_org(tg)
    await join_as_representative(tg, ANA, code)
    await tg.send(ANA, "/ficha", count=2)
    await tg.press(ANA, f"Usar: {ORG}")
    await tg.press(ANA, "ONG")
    await tg.press(ANA, "No")
    clock.advance(hours=3)
    tg = await bot.restart()
    [resume] = await tg.send(ANA, "Población Los Aromos")
    assert "a medias: ibas en la pregunta 4 de 13" in resume["text"]
    async with tg.app.sessions() as s:
        assert "sector" not in (await s.scalar(select(FormResponse))).answers
    [sector] = await tg.press(ANA, "▶️ Continuar")
    assert "¿En qué sector o barrio" in sector["text"]
    [members] = await tg.send(ANA, "Población Los Aromos")
    assert "¿Cuántas personas" in members["text"]

    # Starting again keeps the same draft and clears its answers.
    clock.advance(hours=1)
    [resume] = await tg.send(ANA, "35")
    [q1] = await tg.press(ANA, "🔄 Empezar de nuevo")
    assert q1["text"] == "Pregunta 1 de 13\n¿Cómo se llama tu organización?"
    [response] = await responses(tg)
    assert response.answers == {} and response.status == FormStatus.DRAFT
    # The old "Empezar de nuevo" cannot wipe the answers a second time.
    await tg.press(ANA, f"Usar: {ORG}")
    stale, again = await tg.press(ANA, "🔄 Empezar de nuevo", count=2)
    assert "ya no sirve" in stale["text"] and "¿Qué tipo de organización" in again["text"]
    assert (await responses(tg))[0].answers == {"organization_name": ORG}


# --------------------------------------------------------------------------- bad input


async def test_bad_input_is_answered_kindly_and_the_form_carries_on(tg: Running) -> None:
    _, code = await seed_org(tg)
    await join_as_representative(tg, ANA, code)
    await tg.send(ANA, "/ficha", count=2)

    before = len(tg.fake.delivered(ANA))
    tg.fake.sticker(ANA)
    kind, again = await tg.replies(ANA, before, 2)
    assert kind["text"] == "Por ahora solo puedo leer texto. ¿Me escribes tu respuesta, por favor? 🙂"
    assert again["text"] == "Pregunta 1 de 13\n¿Cómo se llama tu organización?"
    for send in (tg.fake.photo, tg.fake.voice):
        before = len(tg.fake.delivered(ANA))
        send(ANA)
        kind, again = await tg.replies(ANA, before, 2)
        assert "solo puedo leer texto" in kind["text"] and "¿Cómo se llama" in again["text"]

    too_long, again = await tg.send(ANA, "Junta " * 50, count=2)
    assert too_long["text"] == ("Es un poco largo: el máximo es 120 caracteres y escribiste 299. "
                                "¿Me lo escribes más corto?")
    assert "¿Cómo se llama" in again["text"]
    emoji, again = await tg.send(ANA, "🏠🏠🏠", count=2)
    assert "solo con emojis" in emoji["text"] and "¿Cómo se llama" in again["text"]
    [kind_q] = await tg.send(ANA, "Junta Villa Ñuñoa")

    # Free text where a button is expected: re-asked with the buttons again...
    nudge, again = await tg.send(ANA, "es una junta", count=2)
    assert nudge["text"] == "Para esta pregunta, elige una opción con los botones, por favor."
    assert labels(again) == labels(kind_q)
    # ...but typing exactly what a button says is as good as tapping it.
    [formal] = await tg.send(ANA, "junta de vecinos")
    assert "personalidad jurídica" in formal["text"]
    [rut] = await tg.send(ANA, "si")
    bad, again = await tg.send(ANA, "12.345.678-9", count=2)
    assert bad["text"] == "El RUT no es válido. Escríbelo así: 12.345.678-5"
    assert "¿Cuál es el RUT" in again["text"]
    await tg.send(ANA, "12345678-5")
    await tg.press(ANA, "Omitir")
    await tg.send(ANA, "Villa Ñuñoa")
    bad, again = await tg.send(ANA, "muchas", count=2)
    assert bad["text"] == "Escribe solo un número, por ejemplo: 35."
    bad, again = await tg.send(ANA, "Los Aromos 1456, Quilpué", count=2)
    assert bad["text"] == ("Eso parece otro dato (¿una dirección?), no una cantidad. "
                           "Escribe solo el número, por ejemplo: 35.")
    bad, again = await tg.send(ANA, "0", count=2)
    assert bad["text"] == "Escribe un número entre 1 y 100.000, por favor."
    await tg.send(ANA, "35")
    bad, again = await tg.send(ANA, "😀😀", count=2)
    assert bad["text"] == "Escribe el nombre con letras, por favor. Por ejemplo: María José Pérez."
    bad, again = await tg.send(ANA, "Ana", count=2)
    assert "nombre y apellido" in bad["text"] and "nombre completo" in again["text"]
    await tg.send(ANA, "Ana Rojas")
    bad, again = await tg.send(ANA, "Tesorera", count=2)
    assert bad["text"] == "El RUT no es válido. Escríbelo así: 12.345.678-5"
    assert "¿Cuál es tu RUT?" in again["text"]
    await tg.send(ANA, "12.345.678-5")
    await tg.send(ANA, "Tesorera")
    bad, again = await tg.send(ANA, "123", count=2)
    assert bad["text"] == "No pude leer ese teléfono. Escríbelo así: 9 1234 5678, o +56 9 1234 5678."
    await tg.send(ANA, "+56 9 8765 4321")
    bad, again = await tg.send(ANA, "ana@", count=2)
    assert bad["text"] == "Ese correo no parece estar completo. Escríbelo así: nombre@ejemplo.cl"
    [multi] = await tg.send(ANA, "ana@correo.cl")
    nudge, again = await tg.send(ANA, "todas", count=2)
    assert "Toca las opciones en los botones" in nudge["text"]
    none_yet, again = await tg.press(ANA, "✔️ Listo", count=2)
    assert none_yet["text"] == "Elige al menos 1 opción y luego toca «Listo»."
    assert "¿Cómo quiere participar" in again["text"]
    [days] = await tg.send(ANA, "Voluntariado")  # typed like the button: toggles it...
    assert "✅ Voluntariado" in labels(days)
    [days] = await tg.press(ANA, "✔️ Listo")  # ...on a fresh message
    assert "¿Qué días" in days["text"]
    [response] = await responses(tg)
    assert response.answers["participation"] == ["voluntariado"]
    assert response.answers["organization_rut"]["formatted"] == "12.345.678-5"
    assert response.current == "available_days"


async def test_old_forged_and_borrowed_buttons(tg: Running) -> None:
    _, code = await seed_org(tg)
    await join_as_representative(tg, ANA, code)
    await tg.send(ANA, "/ficha", count=2)
    await tg.press(ANA, f"Usar: {ORG}")
    [formal] = await tg.press(ANA, "Comité")

    # A button of an earlier question: refused, and the current question is asked again.
    stale, again = await tg.press(ANA, "Cooperativa", count=2)
    assert stale["text"] == "Ese botón ya no sirve. Sigamos aquí 👇"
    assert again["text"] == formal["text"] and labels(again) == labels(formal)
    [response] = await responses(tg)
    assert response.answers["organization_kind"] == "comite"

    # A forged payload, and Ana's button pressed in Beto's chat: the core refuses both.
    data, mid = shown_button(tg, ANA, "Sí")
    before = len(tg.fake.delivered(ANA))
    tg.fake.callback(ANA, data.rsplit("|", 1)[0].replace(":y", ":n") + "|AAAAAAAA",
                     message_id=mid)
    [reply] = await tg.replies(ANA, before, 1)
    assert "no es para ti" in reply["text"]
    await tg.send(BETO, "/start")
    before = len(tg.fake.delivered(BETO))
    tg.fake.callback(BETO, data)
    [reply] = await tg.replies(BETO, before, 1)
    assert "no es para ti" in reply["text"]
    assert "formalized" not in (await responses(tg))[0].answers

    # A toggle from a multi-choice message that is no longer current.
    await tg.press(ANA, "Sí")
    await tg.send(ANA, "65.123.456-5")
    await tg.press(ANA, "Omitir")
    for text in ("Villa Ñuñoa", "40", "Ana Rojas", "12.345.678-5", "Tesorera", "9 8765 4321"):
        await tg.send(ANA, text)
    await tg.press(ANA, "Omitir")
    await toggle(tg, ANA, "Recolección")
    await tg.press(ANA, "✔️ Listo")
    data, mid = shown_button(tg, ANA, "✅ Recolección")
    before = len(tg.fake.delivered(ANA))
    tg.fake.callback(ANA, data, message_id=mid)
    stale, again = await tg.replies(ANA, before, 2)
    assert "ya no sirve" in stale["text"] and "¿Qué días" in again["text"]
    assert (await responses(tg))[0].answers["participation"] == ["recoleccion"]


# --------------------------------------------------------------------------- versions


async def test_a_correction_is_a_new_version_and_the_old_one_is_kept(bot: Bot) -> None:
    tg = bot.tg
    _, code = await seed_org(tg)
    await join_as_representative(tg, ANA, code)
    await fill_in_spanish(tg, ANA)
    await sign_and_submit(tg, ANA)
    bot.clock.advance(days=3)

    view, link = await tg.send(ANA, "/ficha", count=2)
    assert view["text"].startswith(
        f"Esta es la {TITLE_ES} que se envió el lunes 2 de marzo, 09:00 (comprobante N.º FI-00001)")
    assert "• Sector o barrio: Villa Ñuñoa" in view["text"]
    assert "Firmas:\n• Ana María Rojas, lunes 2 de marzo, 09:00" in view["text"]
    assert labels(view) == ["✏️ Corregir"] and "t.me/convoca_test_bot" in link["text"]

    started, summary = await tg.press(ANA, "✏️ Corregir", count=2)
    assert "La versión enviada sigue valiendo" in started["text"]
    assert summary["text"].startswith("Revisa la")
    first, second = await responses(tg)
    assert first.status == FormStatus.SUBMITTED  # still valid until the correction is signed
    assert second.status == FormStatus.DRAFT and second.version == 2
    assert second.supersedes_id == first.id

    await tg.press(ANA, "✏️ Editar")
    await tg.press(ANA, "Sector o barrio")
    await tg.send(ANA, "Población Los Aromos")
    # A channel without links that open a chat (as WhatsApp): only the code can be given.
    tg.app.services.capabilities["telegram"] = telegram.CAPABILITIES
    receipt, cosign = await sign_and_submit(tg, ANA)
    assert "Comprobante N.º FI-00002" in receipt["text"] and "jueves 5 de marzo" in receipt["text"]
    assert re.search(r"escriba /start a este bot y luego este código: [A-Z2-9]{8}$",
                     cosign["text"])

    first, second = await responses(tg)
    assert first.status == FormStatus.SUPERSEDED and first.answers["sector"] == "Villa Ñuñoa"
    assert first.submitted_at is not None
    assert second.status == FormStatus.SUBMITTED and second.version == 2
    assert second.answers["sector"] == "Población Los Aromos"
    assert {k: v for k, v in second.answers.items() if k != "sector"} == \
        {k: v for k, v in first.answers.items() if k != "sector"}
    assert [(s.response_id, s.signed_rut) for s in await signatures(tg)] == [
        (first.id, "12.345.678-5"), (second.id, "12.345.678-5")]

    # The superseded version's buttons are of no use any more.
    [stale] = await tg.press(ANA, "✏️ Corregir")
    assert stale["text"] == "Ese botón ya no sirve. Sigamos aquí 👇"
    assert len(await responses(tg)) == 2
    view, _ = await tg.send(ANA, "/ficha", count=2)
    assert "comprobante N.º FI-00002" in view["text"]
    assert "Población Los Aromos" in view["text"]


# --------------------------------------------------------------------------- co-signature


async def test_a_second_representative_cosigns_through_the_deep_link(tg: Running) -> None:
    org_id, code = await seed_org(tg)
    await join_as_representative(tg, ANA, code)
    await fill_in_spanish(tg, ANA)
    _, cosign = await sign_and_submit(tg, ANA)
    link_code = cosign["text"].rsplit("start=", 1)[1]

    tg.fake.add_chat(BETO, first_name="Roberto", last_name="Díaz")
    [consent] = await tg.send(BETO, f"/start {link_code}")
    assert "¿Aceptas?" in consent["text"]
    thanks, ask = await tg.press(BETO, "✅ Sí, acepto", count=2)
    assert ask["text"].startswith(f"Te pidieron firmar la {TITLE_ES}:")
    assert "• RUT de la organización: 65.123.456-5" in ask["text"]
    assert "Declaración: «Yo, Ana María Rojas, Presidenta de" in ask["text"]
    assert labels(ask) == ["Ahora no"]
    [bad] = await tg.send(BETO, "🙂")
    assert "con letras" in bad["text"]
    [ask_rut] = await tg.send(BETO, "Roberto Díaz Pérez")
    assert "escribe tu RUT" in ask_rut["text"] and labels(ask_rut) == ["Ahora no"]
    [kind] = await tg.send(BETO, "no sé")
    assert kind["text"].startswith("Ese RUT no me cuadra")
    [done] = await tg.send(BETO, "7654321-6")
    assert done["text"] == (f"✅ ¡Gracias! Quedó tu firma en la {TITLE_ES}, el lunes 2 de "
                            "marzo, 09:00.")
    # Ana hears about it: a notice queued for her chat (the outbox paces it, since she has
    # just had many messages).
    async with tg.app.sessions() as s:
        [row] = await s.scalars(select(OutboxMessage).where(OutboxMessage.kind == "form_notice"))
    assert row.address == str(ANA) and row.status == "pending"
    notice = Outgoing.from_json(row.payload)
    assert notice.zone == "America/Santiago"  # her programme's, which the row carries
    assert tg.app.catalogs.render(notice.text, row.locale, notice.zone).startswith(
        f"✍️ Roberto Díaz Pérez también firmó la {TITLE_ES} (lunes 2 de marzo, 09:00)")

    first, second = await signatures(tg)
    [response] = await responses(tg)
    assert first.person_id == response.person_id and first.signed_rut == "12.345.678-5"
    assert second.response_id == response.id and second.signed_name == "Roberto Díaz Pérez"
    assert second.signed_rut == "7.654.321-6"
    assert second.person_id == await person_id(tg, BETO) != first.person_id
    async with tg.app.sessions() as s:
        assert await s.scalar(select(func.count()).select_from(Representative).where(
            Representative.organization_id == org_id)) == 2

    # Opening the link again does not sign twice.
    [again] = await tg.send(BETO, f"/start {link_code}")
    assert again["text"] == f"Ya firmaste esta {TITLE_ES}. ¡Gracias!"
    assert len(await signatures(tg)) == 2


async def test_cosigning_in_english_and_not_now(tg: Running) -> None:
    _, code = await seed_org(tg)
    await join_as_representative(tg, ANA, code)
    await fill_in_spanish(tg, ANA)
    _, cosign = await sign_and_submit(tg, ANA)
    link_code = cosign["text"].rsplit("start=", 1)[1]

    await tg.send(CARLA, f"/start {link_code}")
    await tg.press(CARLA, "🌐 English")
    _, ask = await tg.press(CARLA, "✅ Yes, I agree", count=2)
    assert ask["text"].startswith("You have been asked to sign the Participation Interest Form:")
    assert "• Legally registered: Yes" in ask["text"]
    assert "Declaration: \"I, Ana María Rojas, Presidenta of Junta de Vecinos" in ask["text"]
    [later] = await tg.press(CARLA, "Not now")
    assert later["text"] == "All right. When you want to sign, open the link again."
    assert len(await signatures(tg)) == 1
    [ask] = await tg.send(CARLA, f"/start {link_code}")
    assert ask["text"].startswith("You have been asked to sign")
    [ask_rut] = await tg.send(CARLA, "Carla Muñoz")
    assert "type your RUT" in ask_rut["text"] and labels(ask_rut) == ["Not now"]
    [done] = await tg.send(CARLA, "11.111.111-1")
    assert done["text"] == ("✅ Thank you! Your signature is on the Participation Interest "
                            "Form, Monday 2 March, 09:00.")
    assert [(s.signed_name, s.signed_rut) for s in await signatures(tg)] == [
        ("Ana María Rojas", "12.345.678-5"), ("Carla Muñoz", "11.111.111-1")]


# --------------------------------------------------------------------------- invitations


async def test_an_invitation_button_starts_the_form(tg: Running) -> None:
    from handlers.events import Button
    from locales import Msg

    _, code = await seed_org(tg)
    await join_as_representative(tg, ANA, code)
    async with tg.app.sessions() as s:
        pid = (await s.scalar(select(Person.id).where(Person.consent_at.is_not(None))))
        invite = Outgoing(text=Msg("form.intro", {"form": TITLE_ES}),
                          buttons=((Button(Msg("form.continue"), "form:start:ficha_interes"),),))
        await outbox.enqueue_for_person(s, pid, invite.to_json(), key="invite:1",
                                        kind="invitation", now=tg.app.clock.now())
        await s.commit()
    before = len(tg.fake.delivered(ANA))
    tg.outbox.wake()
    await tg.replies(ANA, before, 1)
    intro, q1 = await tg.press(ANA, "▶️ Continuar", count=2)
    assert q1["text"] == "Pregunta 1 de 13\n¿Cómo se llama tu organización?"
    [response] = await responses(tg)
    assert response.status == FormStatus.DRAFT
