"""The rest of the flows to their end on the WhatsApp-limited test channel (tests/wa_limited.py):
help and language, the programme chosen and the panel's sections, a member's meetings and a
check-in, the stages view, a family's next pickup, /stop, the documents a gestora asks for,
and the list of messages that did not arrive."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select
from test_admin_stages_flow import TEXTS as STAGE_TEXTS
from test_wa_limited_flows import ANA as FAMILY
from test_wa_limited_flows import WORDS, add_person, programme, seed_pickup
from wa_limited import WaHarness

from scheduler.dispatcher import Blocked, Dispatcher
from services import meetings as meeting_services
from storage import programs
from storage.models import Attendance, DeliveryDay, Meeting, Person, PickupMode, Rsvp
from support import ScriptedChannel, enqueue_many

GESTORA, ANA, BETO = "56922220001", "56922220002", "56922220003"
APRIL_7 = datetime(2026, 4, 7, 22, 0, tzinfo=UTC)  # Tuesday, 18:00 in Santiago
CHECKIN = {
    "es": {"header": "Tienes 1 reunión próxima:", "wrong": "El código ZZZZZZ no existe",
           "walk_in": "¡Gracias por venir! Anoté tu llegada a «Sesión del Grupo Motor». Como "
                      "no tenías invitación", "already": "Ya tenías registrada tu asistencia"},
    "en": {"header": "You have 1 upcoming meeting:", "wrong": "The code ZZZZZZ doesn't exist",
           "walk_in": "Thanks for coming! I noted your arrival at “Core Group meeting”. As you "
                      "had no invitation",
           "already": "Your attendance at “Core Group meeting” was already recorded."},
}
STALE = ("Ese botón ya no sirve.", "Eso lo puede hacer solo el equipo")


async def a_meeting(wa: WaHarness, program_id: int, body_id: int, invited: list[int]) -> Meeting:
    async with wa.app.sessions() as s:
        meeting = Meeting(program_id=program_id, body_id=body_id, kind="grupo_motor",
                          starts_at=APRIL_7, ends_at=APRIL_7 + timedelta(hours=2),
                          place="Sede Villa Ñuñoa", checkin_code="KM4X7R",
                          created_at=wa.app.clock.now())
        s.add(meeting)
        await s.flush()
        await meeting_services.send_invitations(s, meeting, invited, wa.app.clock.now())
        await s.commit()
    await wa.drain()
    return meeting


# --- help, and the language ------------------------------------------------------------------


@pytest.mark.parametrize(("loc", "other", "pick", "help_cmd", "said"), [
    ("es", "en", "English", "/help", "Here is what you can do:"),
    ("en", "es", "Español", "/ayuda", "Esto es lo que puedes hacer:"),
])
async def test_help_then_another_language_and_help_in_it(
        wa: WaHarness, loc: str, other: str, pick: str, help_cmd: str, said: str) -> None:
    await add_person(wa, ANA, "Ana Pérez", loc, "familia")
    [first] = await wa.send(ANA, "/ayuda" if loc == "es" else "/help")
    assert "/stop" in first.text and "/retiro" in first.text
    [ask] = await wa.send(ANA, "/idioma" if loc == "es" else "/language")
    assert ask.titles() == ["Español", "English"] and ask.shown.buttons
    await wa.press(ANA, pick)
    [again] = await wa.send(ANA, help_cmd)
    assert again.text.startswith(said)
    async with wa.app.sessions() as s:
        assert (await s.scalar(select(Person.locale))) == other


# --- the programme to work on, and the panel's sections -------------------------------------------


async def two_programmes(wa: WaHarness) -> tuple[int, int]:
    south, _ = await programme(wa)
    async with wa.app.sessions() as s:
        north = await programs.create(s, template="ecomercado-10m", start=date(2026, 5, 4),
                                      name="Ecomercado Punta Arenas", now=wa.app.clock.now())
        await s.commit()
        return south, north.id


async def test_a_gestora_of_two_programmes_chooses_one_then_moves(wa: WaHarness) -> None:
    south, north = await two_programmes(wa)
    await add_person(wa, GESTORA, "Gabriela Gestora", "es", "gestora")
    [ask] = await wa.send(GESTORA, "/panel")
    # A name longer than a button's label: a list, the name whole in its row.
    assert ask.titles() == ["Ecomercado Quilpué", "Ecomercado Punta Arenas"]
    assert ask.shown.rows
    [chosen] = await wa.press(GESTORA, "Ecomercado Punta Arenas")
    assert chosen.text.startswith("Listo: ahora trabajas en «Ecomercado Punta Arenas».")
    # Eleven rows: the list shows nine and "more"; the way to change is said in the text too.
    assert "/programa" in chosen.text
    [more] = await wa.press(GESTORA, [t for t in chosen.titles() if t.startswith("Más")][0])
    assert "🔀 Cambiar de programa" in more.titles()
    [which] = await wa.send(GESTORA, "/programa")
    # The current one marked; cut to fit a row, whole in the row's description.
    assert which.titles() == ["Ecomercado Quilpué", "✅ Ecomercado Punta…"]
    assert which.shown.rows[1].description == "✅ Ecomercado Punta Arenas"
    [moved] = await wa.press(GESTORA, "Ecomercado Quilpué")
    assert moved.text.startswith("Listo: ahora trabajas en «Ecomercado Quilpué».")
    async with wa.app.sessions() as s:
        person = await s.scalar(select(Person).where(Person.name == "Gabriela Gestora"))
    assert person.chosen_program_id == south != north


async def test_every_section_of_the_panel_opens(wa: WaHarness) -> None:
    await two_programmes(wa)
    await add_person(wa, GESTORA, "Gabriela Gestora", "es", "gestora")
    await wa.send(GESTORA, "/panel")
    [menu] = await wa.press(GESTORA, "Ecomercado Quilpué")
    # More sections than a list's ten rows: the rest on the next pages.
    titles: list[str] = []
    while True:
        titles += [c.title for c in menu.shown.choices() if not c.action.startswith("more:")]
        more = [c.title for c in menu.shown.choices()
                if c.action.startswith("more:") and c.action != "more:0"]
        if not more:
            break
        [menu] = await wa.press(GESTORA, more[0])
    assert len(titles) > 3 and titles[-1] == "🔀 Cambiar de programa", titles
    opened = {}
    for title in titles:
        await wa.send(GESTORA, "/panel")
        first, *_ = await wa.press(GESTORA, title)
        assert not first.text.startswith(STALE), (title, first.text)
        opened[title] = first.text
    assert opened["🔀 Cambiar de programa"] == "¿En qué programa quieres trabajar?"
    assert opened["📬 Envíos con problemas"].startswith("📬 Envíos de los últimos 30 días")


# --- a member's meetings, and checking in --------------------------------------------------------


@pytest.mark.parametrize("loc", ["es", "en"])
async def test_a_member_lists_her_meetings_and_a_walk_in_checks_in(
        wa: WaHarness, loc: str) -> None:
    program_id, gm = await programme(wa)
    ana = await add_person(wa, ANA, "Ana Pérez", loc, "grupo_motor", program_id=program_id,
                           body_id=gm)
    await add_person(wa, BETO, "Beto Soto", loc, "grupo_motor", program_id=program_id)
    meeting = await a_meeting(wa, program_id, gm, [ana])
    w = CHECKIN[loc]
    header, card = await wa.send(ANA, "/reuniones" if loc == "es" else "/meetings")
    assert header.text == w["header"]
    assert card.shown.buttons or card.shown.rows
    await wa.press(ANA, WORDS[loc]["coming"])
    async with wa.app.sessions() as s:
        assert (await s.scalar(select(Rsvp.answer))) == "yes"
    wa.app.clock.set(APRIL_7 - timedelta(minutes=20))
    # Beto was not invited: his check-in waits for the gestora to confirm it.
    [ask] = await wa.send(BETO, "/asistencia" if loc == "es" else "/checkin")
    [wrong] = await wa.send(BETO, "ZZZZZZ")
    assert wrong.text.startswith(w["wrong"])
    [done] = await wa.send(BETO, "km4x7r")
    assert done.text.startswith(w["walk_in"])
    async with wa.app.sessions() as s:
        beto = await s.scalar(select(Person).where(Person.name == "Beto Soto"))
        seen = await s.scalar(select(Attendance).where(Attendance.meeting_id == meeting.id,
                                                        Attendance.person_id == beto.id))
    assert seen is not None and seen.present
    await wa.send(ANA, f"/asistencia {meeting.checkin_code}")
    [again] = await wa.send(ANA, f"/asistencia {meeting.checkin_code}")
    assert again.text.startswith(w["already"])
    async with wa.app.sessions() as s:
        present = list(await s.scalars(select(Attendance.person_id).where(
            Attendance.meeting_id == meeting.id, Attendance.present.is_(True))))
    assert sorted(present) == sorted([ana, beto.id])


# --- the stages, for the team -------------------------------------------------------------------


@pytest.mark.parametrize("loc", ["es", "en"])
async def test_the_stages_view_turns_to_the_next_stage_and_back(wa: WaHarness, loc: str) -> None:
    t = STAGE_TEXTS[loc]
    await programme(wa)
    await add_person(wa, GESTORA, "Gabriela Gestora", loc, "gestora")
    [card] = await wa.send(GESTORA, "/etapas" if loc == "es" else "/stages")
    assert t["header"] in card.text
    [card2] = await wa.press(GESTORA, t["next"])
    assert t["stage2"] in card2.text
    [card1] = await wa.press(GESTORA, t["prev"])
    assert t["header"] in card1.text


# --- a family's next pickup -------------------------------------------------------------------------


@pytest.mark.parametrize("loc", ["es", "en"])
async def test_a_family_asks_for_its_next_pickup_and_confirms(wa: WaHarness, loc: str) -> None:
    await seed_pickup(wa, loc)
    await wa.drain()
    [shown] = await wa.send(FAMILY, "/retiro" if loc == "es" else "/pickup")
    assert shown.shown.rows and WORDS[loc]["confirm"] in shown.titles()
    [thanks] = await wa.press(FAMILY, WORDS[loc]["confirm"])
    assert thanks.text.startswith(WORDS[loc]["confirmed"])


# --- /stop ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("loc", "stopped"), [
    ("es", "Listo, ya no te enviaré avisos ni recordatorios."),
    ("en", "Done, I won't send you notices or reminders any more."),
])
async def test_stop_and_no_invitation_arrives(wa: WaHarness, loc: str, stopped: str) -> None:
    program_id, gm = await programme(wa)
    ana = await add_person(wa, ANA, "Ana Pérez", loc, "grupo_motor", program_id=program_id,
                           body_id=gm)
    [done] = await wa.send(ANA, "/stop")
    assert done.text.startswith(stopped)
    before = len(wa.chat(ANA))
    await a_meeting(wa, program_id, gm, [ana])
    assert wa.chat(ANA)[before:] == []


# --- documents, and the messages that did not arrive ------------------------------------------------


LISTING = {"PDF (para imprimir)": ".pdf", "Excel (XLSX)": ".xlsx", "CSV": ".csv"}
DOCUMENTS = [  # the button, whether a meeting or day is picked first, each format's file
    ("📝 Lista de asistencia", True, LISTING),
    ("🏘 Organizaciones invitadas", False, LISTING),
    ("🧺 Lista de un día de entrega", True, LISTING),
    ("📊 Informe de avance", False,
     {"PDF (para imprimir)": ".pdf", "Excel (XLSX)": ".xlsx", "Gráfico (PNG)": ".png"}),
]


async def test_each_document_of_the_section_arrives_as_a_file(wa: WaHarness) -> None:
    program_id, gm = await programme(wa)
    await add_person(wa, GESTORA, "Gabriela Gestora", "es", "gestora")
    ana = await add_person(wa, ANA, "Ana Pérez", "es", "grupo_motor", program_id=program_id,
                           body_id=gm)
    await a_meeting(wa, program_id, gm, [ana])
    now = wa.app.clock.now()
    async with wa.app.sessions() as s:
        s.add(DeliveryDay(program_id=program_id, mode=PickupMode.RETIRO,
                          window_start=now + timedelta(days=3),
                          window_end=now + timedelta(days=3, hours=2), place="Sede",
                          address="Los Aromos 123", created_at=now))
        await s.commit()
    sent = []
    for button, pick_first, formats in DOCUMENTS:
        for fmt, suffix in formats.items():
            await wa.send(GESTORA, "/panel")
            await wa.press(GESTORA, "📄 Documentos")
            [ask] = await wa.press(GESTORA, button)
            if pick_first:
                # The one meeting or day, then "back".
                assert len(ask.titles()) == 2, ask.titles()
                await wa.press(GESTORA, ask.titles()[0])
            [doc] = await wa.press(GESTORA, fmt)
            assert doc.shown.attachment is not None, (button, fmt, doc.text)
            assert doc.shown.attachment.filename.endswith(suffix)
            assert doc.shown.attachment.content
            sent.append(doc.shown.attachment.filename)
    assert len(set(sent)) == len(sent) == 12, sent


async def test_the_gestora_reads_which_message_did_not_arrive(wa: WaHarness) -> None:
    program_id, _ = await programme(wa)
    await add_person(wa, GESTORA, "Gabriela Gestora", "es", "gestora")
    ana = await add_person(wa, ANA, "Ana Muñoz", "es", program_id=program_id)
    await enqueue_many(wa.app.sessions, [(ana, ANA)], wa.app.clock.now(), channel=wa.channel.name)
    blocked = ScriptedChannel(name=wa.channel.name, script={ANA: [Blocked("131051 user blocked")]})
    await Dispatcher(wa.app.sessions, wa.app.clock, [blocked], max_attempts=1).drain()
    await wa.send(GESTORA, "/panel")
    [report] = await wa.press(GESTORA, "📬 Envíos con problemas")
    assert "0 entregados, 0 en cola, 1 fallidos" in report.text
    # Whatever the channel: the reason does not name another one (it said Telegram).
    assert ("Ana Muñoz · mensaje del equipo: bloqueó el bot o dejó de usar la aplicación de "
            "mensajería; ya no le llegan mensajes.") in report.text
