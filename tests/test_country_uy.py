"""A Uruguayan programme (a fixture template with ``country: UY``): its people are asked
for their cédula, read Uruguayan dates, and their phone numbers are read as Uruguay's."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from documents import imports
from domain.meetings import MeetingError
from locales import Msg, Raw
from storage import admin_meetings, links, programs
from storage.models import FormResponse, FormSignature, Meeting, Organization, Person
from telegram_harness import Running, start, stop

FIXTURE = Path(__file__).parent / "fixtures" / "prueba-uy.yaml"
LUCIA = 7101
ORG = "Cooperativa Las Piedras"


@pytest.fixture
async def tg(fake_tg, settings_for, sqlite_url, clock) -> AsyncIterator[Running]:
    settings = settings_for(sqlite_url, telegram_bot_token=fake_tg.token,
                            telegram_api_base=fake_tg.base_url)
    running = await start(fake_tg, settings, clock)
    yield running
    await stop(running)


async def seed_org(tg: Running) -> str:
    now = tg.app.clock.now()
    async with tg.app.sessions() as s:
        program = await programs.create(s, template=FIXTURE, start=now.date(),
                                        name="Economía solidaria Canelones", now=now)
        org = Organization(program_id=program.id, name=ORG, created_at=now)
        s.add(org)
        await s.flush()
        code = (await links.create(s, program.id, "organization", org.id, now)).code
        await s.commit()
        return code


async def test_a_representative_in_uruguay_gives_her_cedula(tg: Running) -> None:
    tg.app.clock.set(datetime(2026, 9, 7, 12, 0, tzinfo=UTC))
    code = await seed_org(tg)
    await tg.send(LUCIA, f"/start {code}")
    await tg.press(LUCIA, "✅ Sí, acepto", count=2)
    await tg.send(LUCIA, "/ficha", count=2)
    await tg.press(LUCIA, f"Usar: {ORG}")
    await tg.press(LUCIA, "Cooperativa")
    await tg.press(LUCIA, "No")  # no legal personality: no organisation number asked
    await tg.send(LUCIA, "Las Piedras")
    await tg.send(LUCIA, "25")
    [asked] = await tg.send(LUCIA, "Lucía Fernández")
    assert "¿Cuál es tu cédula de identidad?" in asked["text"]
    assert "1.234.567-2" in asked["text"] and "RUT" not in asked["text"]
    bad, again = await tg.send(LUCIA, "1.234.567-3", count=2)  # a wrong check digit
    assert bad["text"].startswith("Esa cédula no parece correcta 🙏")
    assert "¿Cuál es tu cédula de identidad?" in again["text"]
    [role] = await tg.send(LUCIA, "12345672")
    assert "¿Qué cargo" in role["text"]
    [phone] = await tg.send(LUCIA, "Presidenta")
    assert "099 123 456" in phone["text"]
    [email] = await tg.send(LUCIA, "099 123 456")
    assert "correo" in email["text"]
    await tg.press(LUCIA, "Omitir")
    for group in (("Difusión",), ("Martes",), ("Tarde",)):
        for label in group:
            await toggle(tg, LUCIA, label)
        replies = await tg.press(LUCIA, "✔️ Listo")
    summary = replies[-1]["text"]
    assert "• Cédula de representante: 1.234.567-2" in summary
    assert "• Teléfono: +598 99 123 456" in summary

    [declaration] = await tg.press(LUCIA, "✅ Confirmar")
    replies = await tg.send(LUCIA, "Lucía Fernández", count=2)
    assert "Recibimos la" in replies[0]["text"]
    # Dates read as in Uruguay (es_UY: "setiembre"), in Montevideo's zone (UTC-3).
    assert "Firmada el lunes 7 de setiembre, 09:00." in replies[0]["text"]
    assert not any("RUT" in m["text"] or "cédula" in m["text"] for m in replies)

    async with tg.app.sessions() as s:
        response = await s.scalar(select(FormResponse))
        assert response is not None
        assert response.answers["representative_rut"] == {"compact": "12345672",
                                                          "formatted": "1.234.567-2"}
        assert response.answers["representative_phone"] == "+59899123456"
        signature = await s.scalar(select(FormSignature))
        assert signature is not None and signature.signed_rut == "1.234.567-2"
        # Her own number, given to sign: lists and actas printed later carry it.
        assert "1.234.567-2" in (await s.scalars(select(Person.rut))).all()


async def toggle(tg: Running, chat: int, label: str) -> None:
    for m in sorted(tg.fake.bot_messages(chat), key=lambda m: m["message_id"], reverse=True):
        for row in (m.get("reply_markup") or {}).get("inline_keyboard", []):
            for b in row:
                if b["text"] == label:
                    edits = len(tg.fake.calls("editMessageText"))
                    tg.fake.callback(chat, b["callback_data"], message_id=m["message_id"])
                    await tg.fake.wait_for(
                        lambda _r, seen=edits: len(tg.fake.calls("editMessageText")) > seen,
                        timeout=10)
                    return
    raise AssertionError(f"no button {label!r} in chat {chat}")


async def test_a_uruguayan_programmes_lists_read_cedulas_and_uruguayan_phones(
        sessions, clock) -> None:
    now = clock.now()
    rows = [["Nombre", "Cédula", "Celular", "Dirección", "Modalidad"],
            ["Ana Castro", "1.234.567-2", "099 123 456", "", "retiro"],
            ["Beto Lara", "12345673", "", "Calle 2", "retiro"],
            ["Carla Ríos", "4.567.890-3", "099 76 54 32", "", "retiro"]]
    content = "\r\n".join(",".join(r) for r in rows).encode()
    async with sessions() as s:
        uy = await programs.create(s, template=FIXTURE, start=now.date(), name="Canelones",
                                   now=now)
        cl = await programs.create(s, template="ecomercado-10m", start=now.date(),
                                   name="Quilpué", now=now)
        preview = await imports.preview_families(s, uy.id, "familias.csv", content, now)
        chile = await imports.preview_families(s, cl.id, "familias.csv", content, now)
        meeting = Meeting(program_id=uy.id, kind="encuentro", starts_at=now, created_at=now)
        s.add(meeting)
        await s.flush()
        guest = await admin_meetings.add_guest(s, meeting, name="Diego Pérez", now=now,
                                               rut="12345672", phone="099123456")
        with pytest.raises(MeetingError):
            await admin_meetings.add_guest(s, meeting, name="Eva", now=now, rut="12.345.678-5")
    ana, beto, carla = preview.rows
    assert (ana.values["rut"], ana.values["phone"]) == ("1.234.567-2", "+59899123456")
    assert beto.values["rut"] is None
    assert beto.problems == [Msg("country.uy.import_wrong", {"value": Raw("12345673")})]
    assert carla.values["phone"] == "+59899765432"
    # The same file for a Chilean programme: a cédula is no RUT, and the phone is not
    # read as Uruguay's.
    assert chile.rows[0].values["rut"] is None
    assert chile.rows[0].values["phone"] != "+59899123456"
    assert (guest.rut, guest.phone) == ("1.234.567-2", "+59899123456")


async def test_a_uruguayan_organisation_gives_its_rut_not_a_cedula(tg: Running) -> None:
    tg.app.clock.set(datetime(2026, 9, 7, 12, 0, tzinfo=UTC))
    code = await seed_org(tg)
    await tg.send(LUCIA, f"/start {code}")
    await tg.press(LUCIA, "✅ Sí, acepto", count=2)
    await tg.send(LUCIA, "/ficha", count=2)
    await tg.press(LUCIA, f"Usar: {ORG}")
    await tg.press(LUCIA, "Cooperativa")
    [asked] = await tg.press(LUCIA, "Sí")
    assert "¿Cuál es el RUT de la organización?" in asked["text"]
    assert "21-100342-001-7" in asked["text"] and "65.123.456-5" not in asked["text"]
    # Her own cédula is not the organisation's number: told kindly, and asked again.
    bad, again = await tg.send(LUCIA, "1.234.567-2", count=2)
    assert bad["text"].startswith("Ese RUT no parece correcto 🙏")
    assert "21-100342-001-7" in bad["text"]
    assert "¿Cuál es el RUT de la organización?" in again["text"]
    [registration] = await tg.send(LUCIA, "211003420017")
    assert "registro" in registration["text"]
    await tg.press(LUCIA, "Omitir")
    await tg.send(LUCIA, "Las Piedras")
    await tg.send(LUCIA, "25")
    await tg.send(LUCIA, "Lucía Fernández")
    await tg.send(LUCIA, "12345672")
    await tg.send(LUCIA, "Presidenta")
    await tg.send(LUCIA, "099 123 456")
    await tg.press(LUCIA, "Omitir")
    for label in ("Difusión", "Martes", "Tarde"):
        await toggle(tg, LUCIA, label)
        replies = await tg.press(LUCIA, "✔️ Listo")
    assert "• RUT de la organización: 21-100342-001-7" in replies[-1]["text"]
    await tg.press(LUCIA, "✅ Confirmar")
    await tg.send(LUCIA, "Lucía Fernández", count=2)

    async with tg.app.sessions() as s:
        response = await s.scalar(select(FormResponse))
        assert response is not None
        assert response.answers["organization_rut"] == {"compact": "211003420017",
                                                        "formatted": "21-100342-001-7"}
        # The catastro now shows the organisation's RUT as Uruguay writes it.
        assert await s.scalar(select(Organization.rut)) == "21-100342-001-7"
