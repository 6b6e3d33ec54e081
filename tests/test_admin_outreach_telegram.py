"""Broadcasts and invitations end to end through the real aiogram runtime and the fake Bot
API: the preview in each language, one outbox row per person, the progress message edited
in place while the dispatcher delivers, and the final report."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func, select
from test_admin_outreach_support import (
    GESTORA,
    add_family,
    add_gestora,
    add_meeting,
    add_member,
    add_organization,
    deliver_in_steps,
    edits,
    find_button,
    labels,
    press_and_wait_edit,
    running,
    seed_program,
)

from storage.models import (
    OrganizationInvitation,
    OutboxMessage,
    Person,
    Rsvp,
)
from telegram_harness import Running

SECTOR = "Villa Esperanza"
TEXT = "Mañana sábado no abrimos por la lluvia 🌧️. Las canastas se entregan el lunes."


@pytest.fixture
async def tg(fake_tg, settings_for, sqlite_url, clock) -> AsyncIterator[Running]:
    async with running(fake_tg, settings_for, sqlite_url, clock) as r:
        # The dispatcher is driven step by step (deliver_in_steps) so the progress can be
        # watched between passes; replies still go out at once.
        await r.outbox.stop()
        yield r


async def open_outreach(tg: Running, locale: str = "es") -> None:
    await tg.send(GESTORA, "/panel")
    await tg.press(GESTORA, "📣 Invitaciones y mensajes" if locale == "es"
                   else "📣 Invitations and messages")


async def seed_sector(tg: Running, program_id: int) -> dict[str, int]:
    """34 families in the sector: 30 with a chat (three read English), 4 not linked yet;
    and two families elsewhere who must not get anything."""
    chats = {}
    for i in range(30):
        name = f"Familia {SECTOR.split()[1]} {i + 1:02d}"
        chat = 7001 + i
        await add_family(tg, program_id, name, chat=chat, sector=SECTOR if i % 2 else
                         SECTOR.lower(), locale="en" if i in (3, 4, 5) else None)
        chats[name] = chat
    for name in ("Familia Sin Chat Uno", "Familia Sin Chat Dos", "Familia Sin Chat Tres",
                 "Familia Sin Chat Cuatro"):
        await add_family(tg, program_id, name, sector=SECTOR)
    await add_family(tg, program_id, "Familia Centro", chat=7101, sector="Centro")
    await add_family(tg, program_id, "Familia Sin Sector", chat=7102)
    return chats


def numbers(text: str) -> tuple[int, int]:
    done, total = re.search(r"(\d[\d.,]*) (?:de|of) (\d[\d.,]*)", text).groups()
    return int(done.replace(".", "").replace(",", "")), int(total.replace(".", "").replace(",", ""))


async def test_a_broadcast_to_a_sector_previews_sends_shows_progress_and_reports(
        tg: Running) -> None:
    program_id = await seed_program(tg)
    await add_gestora(tg)
    chats = await seed_sector(tg, program_id)
    blocked_name = "Familia Esperanza 07"
    tg.fake.block(chats[blocked_name])

    await open_outreach(tg)
    [ask] = await tg.press(GESTORA, "✍️ Un mensaje")
    assert "hasta 3.500 caracteres" in ask["text"]
    [too_long] = await tg.send(GESTORA, "x" * 3501)
    assert "3.501 caracteres" in too_long["text"]
    [who] = await tg.send(GESTORA, TEXT)
    assert who["text"] == "¿A quién se lo envío?"
    [sectors] = await tg.press(GESTORA, "📍 Familias de un sector")
    assert labels(sectors)[:2] == ["Centro (1)", "Villa Esperanza (34)"]
    es, en, confirm = await tg.press(GESTORA, "Villa Esperanza (34)", count=3)

    # Exactly what each language will read, the gestora's own first.
    assert es["text"] == ("👀 Así lo leerán en Español:\n\n📣 Mensaje de Ecomercado Quilpué:\n\n"
                          + TEXT)
    assert en["text"] == ("👀 Así lo leerán en English:\n\n📣 Message from Ecomercado Quilpué:\n\n"
                          + TEXT)
    assert "Para: las familias de Villa Esperanza." in confirm["text"]
    assert "Lo recibirán 30 personas." in confirm["text"]
    assert "4 aún no se vinculan" in confirm["text"] and "Familia Sin Chat Cuatro" in confirm["text"]
    assert labels(confirm) == ["📤 Enviar a 30 personas", "✖️ Cancelar"]
    async with tg.app.sessions() as s:
        assert await s.scalar(select(func.count()).select_from(OutboxMessage).where(
            OutboxMessage.kind == "broadcast")) == 0

    progress = await press_and_wait_edit(tg, GESTORA, "📤 Enviar a 30 personas")
    assert progress["text"] == "📤 Enviando 0 de 30…"
    assert "reply_markup" not in progress  # the send button is gone with the edit
    async with tg.app.sessions() as s:
        rows = (await s.scalars(select(OutboxMessage).where(
            OutboxMessage.kind == "broadcast"))).all()
    assert len(rows) == 30 and len({r.batch for r in rows}) == 1
    assert all(r.idempotency_key == f"bc:{r.batch}:{r.person_id}" for r in rows)

    await deliver_in_steps(tg, tg.app.clock.now())

    shown = [e["text"] for e in edits(tg, GESTORA)]
    counts = [numbers(t)[0] for t in shown if t.startswith("📤")]
    assert counts == sorted(set(counts)) and len(counts) >= 4, shown  # rising, in place
    assert shown[-1] == "✅ Envío terminado: 30 de 30."
    report = tg.fake.delivered(GESTORA)[-1].params["text"]
    assert report.startswith("📣 Así fue el envío de tu mensaje:")
    assert "✅ Entregados: 29 de 30" in report
    assert f"⛔ Bloquearon el bot: 1 — {blocked_name}" in report
    assert "🔗 Aún sin vincular (no tienen chat): 4 — " in report
    assert "Familia Sin Chat Uno" in report

    for name, chat in chats.items():
        got = [t for t in tg.fake.texts(chat) if TEXT in t]
        assert len(got) == (0 if name == blocked_name else 1), name
    assert tg.fake.texts(chats["Familia Esperanza 04"])[0].startswith("📣 Message from")
    assert tg.fake.texts(7101) == [] and tg.fake.texts(7102) == []
    async with tg.app.sessions() as s:
        blocked = await s.scalar(select(Person).where(Person.name == blocked_name))
    assert blocked.reachable is False

    # Nothing more happens on later passes: the batch is settled and forgotten.
    before = len(edits(tg, GESTORA)), len(tg.fake.delivered(GESTORA))
    await deliver_in_steps(tg, tg.app.clock.now())
    assert (len(edits(tg, GESTORA)), len(tg.fake.delivered(GESTORA))) == before


async def test_an_english_gestora_broadcasts_to_the_home_delivery_families(tg: Running) -> None:
    program_id = await seed_program(tg)
    await add_gestora(tg, "en")
    await add_family(tg, program_id, "Familia Casa", chat=7201, mode="domicilio")
    await add_family(tg, program_id, "Familia Local", chat=7202)
    await open_outreach(tg, "en")
    await tg.press(GESTORA, "✍️ A message")
    await tg.send(GESTORA, "Delivery on Tuesday")
    preview, confirm = await tg.press(GESTORA, "🚚 Home-delivery families", count=2)
    assert preview["text"].startswith("👀 This is how it will read in Español:")
    assert "📣 Mensaje de Ecomercado Quilpué:\n\nDelivery on Tuesday" in preview["text"]
    assert "To: the families with home delivery." in confirm["text"]
    progress = await press_and_wait_edit(tg, GESTORA, "📤 Send to 1 person")
    assert progress["text"] == "📤 Sending 0 of 1…"
    await deliver_in_steps(tg, tg.app.clock.now())
    assert edits(tg, GESTORA)[-1]["text"] == "✅ Sending finished: 1 of 1."
    report = tg.fake.delivered(GESTORA)[-1].params["text"]
    assert report.startswith("📣 How your message went out:") and "Delivered: 1 of 1" in report
    assert tg.fake.texts(7201) and not tg.fake.texts(7202)


async def test_nobody_with_a_chat_means_nothing_to_send(tg: Running) -> None:
    program_id = await seed_program(tg)
    await add_gestora(tg)
    await add_family(tg, program_id, "Familia Sin Chat", sector="Centro")
    await open_outreach(tg)
    await tg.press(GESTORA, "✍️ Un mensaje")
    await tg.send(GESTORA, "Hola")
    await tg.press(GESTORA, "📍 Familias de un sector")
    [nobody] = await tg.press(GESTORA, "Centro (1)")
    assert "Nadie ahí tiene chat todavía" in nobody["text"]
    assert "Familia Sin Chat" in nobody["text"]
    assert labels(nobody) == ["✖️ Cancelar"]


async def test_invitations_to_chosen_organisations_create_rsvps_and_the_catastro_record(
        tg: Running) -> None:
    program_id = await seed_program(tg)
    await add_gestora(tg)
    a = await add_organization(tg, program_id, "Junta de Vecinos Los Aromos",
                               reps=[(7301, "Ana Aromos"), (7302, "Beto Aromos")])
    b = await add_organization(tg, program_id, "Club Deportivo Unión",
                               reps=[(7303, "Carla Unión")])
    c = await add_organization(tg, program_id, "Comité Sin Chat")
    for i in range(9):  # a second page in the checklist
        await add_organization(tg, program_id, f"Zeta Organización {i}")
    meeting_id = await add_meeting(tg, program_id, kind="socializacion", days=7)

    await open_outreach(tg)
    [which] = await tg.press(GESTORA, "📨 Una invitación a una reunión")
    [label] = [lab for lab in labels(which) if lab.startswith("Sesión de socialización")]
    assert "9 de marzo" in label
    await tg.press(GESTORA, label)
    [checklist] = await tg.press(GESTORA, "☑️ Elegir organizaciones")
    assert "página 1 de 2" in checklist["text"]
    assert "Siguientes ▶️" in labels(checklist)
    edit = await press_and_wait_edit(tg, GESTORA, "⬜ Junta de Vecinos Los Aromos")
    assert "✅ Junta de Vecinos Los Aromos" in labels(edit)
    await press_and_wait_edit(tg, GESTORA, "⬜ Comité Sin Chat")
    await press_and_wait_edit(tg, GESTORA, "⬜ Club Deportivo Unión")
    edit = await press_and_wait_edit(tg, GESTORA, "✅ Club Deportivo Unión")  # changed her mind
    assert "Listo (2 elegidas)" in labels(edit)
    data, mid = find_button(tg, GESTORA, "Listo (2 elegidas)")
    before = len(tg.fake.delivered(GESTORA))
    tg.fake.callback(GESTORA, data, message_id=mid)
    preview, confirm = await tg.replies(GESTORA, before, 2)
    assert preview["text"].startswith("👀 Así lo leerán en Español:")
    assert "Sede vecinal" in preview["text"]
    assert preview["text"].endswith("[Asistiré] [No podré] [Tal vez] [Agregar a mi calendario]")
    assert "Para: 2 organizaciones elegidas (sus representantes)." in confirm["text"]
    assert "Lo recibirán 2 personas." in confirm["text"] and "Comité Sin Chat" in confirm["text"]

    progress = await press_and_wait_edit(tg, GESTORA, "📤 Enviar a 2 personas")
    assert progress["text"] == "📤 Enviando 0 de 2…"
    await deliver_in_steps(tg, tg.app.clock.now())

    async with tg.app.sessions() as s:
        rsvps = (await s.execute(select(Rsvp.person_id, Rsvp.organization_id).where(
            Rsvp.meeting_id == meeting_id))).all()
        invited = (await s.execute(select(OrganizationInvitation.organization_id,
                                          OrganizationInvitation.purpose))).all()
        names = dict((await s.execute(select(Person.id, Person.name))).all())
    assert sorted((names[p], o) for p, o in rsvps) == [("Ana Aromos", a), ("Beto Aromos", a)]
    assert invited == [(a, f"meeting:{meeting_id}")]
    assert b not in [o for o, _ in invited] and c not in [o for o, _ in invited]
    assert any("Asistiré" in str(m.get("reply_markup")) for m in tg.fake.bot_messages(7301))
    report = tg.fake.delivered(GESTORA)[-1].params["text"]
    assert report.startswith("📨 Así fue el envío de las invitaciones a Sesión de socialización")
    assert "Entregados: 2 de 2" in report and "Comité Sin Chat" in report

    # Inviting the same people again sends nothing new and records nothing twice.
    await open_outreach(tg)
    await tg.press(GESTORA, "📨 Una invitación a una reunión")
    await tg.press(GESTORA, label)
    await tg.press(GESTORA, "🏢 Todas las organizaciones", count=2)
    data, mid = find_button(tg, GESTORA, "📤 Enviar a 3 personas")
    before = len(tg.fake.delivered(GESTORA))
    tg.fake.callback(GESTORA, data, message_id=mid)
    await tg.fake.wait_for(lambda _r: len(edits(tg, GESTORA)) >= 2 and
                           edits(tg, GESTORA)[-1]["text"] == "📤 Enviando 0 de 1…", timeout=10)
    await deliver_in_steps(tg, tg.app.clock.now())
    async with tg.app.sessions() as s:
        invited = sorted((await s.scalars(select(OrganizationInvitation.organization_id))).all())
        assert await s.scalar(select(func.count()).select_from(Rsvp)) == 3
    assert invited == sorted([a, b])
    assert len(tg.fake.delivered(GESTORA)) > before


async def test_a_body_is_invited_to_its_own_session(tg: Running) -> None:
    program_id = await seed_program(tg)
    await add_gestora(tg)
    for i in range(3):
        await add_member(tg, program_id, "grupo_motor", 7400 + i, f"Integrante {i}")
    await add_member(tg, program_id, "consejo_local", 7410, "Consejera")
    meeting_id = await add_meeting(tg, program_id, kind="grupo_motor", days=3)
    await open_outreach(tg)
    [which] = await tg.press(GESTORA, "📨 Una invitación a una reunión")
    await tg.press(GESTORA, labels(which)[0])
    _, confirm = await tg.press(GESTORA, "👥 Grupo Motor", count=2)
    assert "Para: los integrantes de Grupo Motor." in confirm["text"]
    await press_and_wait_edit(tg, GESTORA, "📤 Enviar a 3 personas")
    await deliver_in_steps(tg, tg.app.clock.now())
    async with tg.app.sessions() as s:
        invited = (await s.scalars(select(Rsvp.person_id).where(
            Rsvp.meeting_id == meeting_id))).all()
        assert await s.scalar(select(func.count()).select_from(OrganizationInvitation)) == 0
    assert len(invited) == 3
    assert tg.fake.texts(7410) == []


async def test_cancelling_sends_nothing(tg: Running) -> None:
    program_id = await seed_program(tg)
    await add_gestora(tg)
    await add_family(tg, program_id, "Familia Uno", chat=7501)
    await open_outreach(tg)
    await tg.press(GESTORA, "✍️ Un mensaje")
    await tg.send(GESTORA, "Hola a todos")
    await tg.press(GESTORA, "🌎 Todos", count=2)
    [nudge] = await tg.send(GESTORA, "¿y ahora?")
    assert nudge["text"] == "Usa los botones de arriba para enviar o cancelar."
    [done] = await tg.press(GESTORA, "✖️ Cancelar")
    assert done["text"] == "Listo, no envié nada."
    [stale] = await tg.press(GESTORA, "📤 Enviar a 1 persona")
    assert stale["text"].startswith("Ese botón ya no sirve")
    async with tg.app.sessions() as s:
        assert await s.scalar(select(func.count()).select_from(OutboxMessage).where(
            OutboxMessage.kind == "broadcast")) == 0
