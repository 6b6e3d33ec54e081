"""The team's flows to their end on the WhatsApp-limited test channel (tests/wa_limited.py):
the panel's long lists come in pages with "more", month calendars as typed dates or lists of
days, edits in place as new messages."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from test_wa_limited_flows import add_person, programme
from wa_limited import WaHarness

from bot.app import build_app
from storage.models import Attendance, Meeting, MeetingSeries, MeetingStatus, Rsvp

GESTORA, ANA, BETO, CARLA, DANI = "56900000001", "56900000002", "56900000003", "56900000004", \
    "56900000005"
APRIL_7 = datetime(2026, 4, 7, 22, 0, tzinfo=UTC)  # Tuesday, 18:00 in Santiago


@pytest.fixture
async def wa(settings_for, sqlite_url, clock) -> AsyncIterator[WaHarness]:
    app = await build_app(settings_for(sqlite_url), clock=clock)
    yield WaHarness(app)
    await app.close()


async def seed(wa: WaHarness, gestora_locale: str = "es") -> dict[str, int]:
    program_id, gm = await programme(wa)
    ids = {"program": program_id, "gm": gm}
    ids["gestora"] = await add_person(wa, GESTORA, "Gabriela Gestora", gestora_locale,
                                      "gestora")
    for address, name, loc in ((ANA, "Ana Pérez", "es"), (BETO, "Beto Soto", "en"),
                               (CARLA, "Carla Núñez", "es"), (DANI, "Dani Rojas", "es")):
        ids[address] = await add_person(wa, address, name, loc, "grupo_motor",
                                        program_id=program_id, body_id=gm)
    return ids


async def test_a_meeting_created_invited_answered_marked_and_closed(wa: WaHarness) -> None:
    await seed(wa)
    await wa.send(GESTORA, "/panel")
    await wa.press(GESTORA, "📅 Reuniones")
    await wa.press(GESTORA, "➕ Nueva reunión")
    await wa.press(GESTORA, "Grupo Motor")
    await wa.press(GESTORA, "Sesión del Grupo Motor")
    # No month of days here: the date is typed, and so is the time.
    [ask_time] = await wa.send(GESTORA, "07-04-2026")
    assert "martes 7 de abril de 2026" in ask_time.text
    await wa.send(GESTORA, "18:00")
    await wa.send(GESTORA, "Sede Villa Ñuñoa")
    [summary] = await wa.send(GESTORA, "Plan de trabajo")
    assert "🗓️ martes 7 de abril, 18:00" in summary.text
    created, ask_invite = await wa.press(GESTORA, "✅ Confirmar")
    assert created.text.startswith("✅ Reunión creada")
    [invited] = await wa.press(GESTORA, "Integrantes del Grupo", contains=True)
    assert invited.text.startswith("📨 Listo: invité a 4 personas")
    await wa.drain()
    await wa.press(ANA, "Asistiré")
    await wa.press(BETO, "I can't make it")
    await wa.send(BETO, "I work that evening")
    [board] = await wa.press(GESTORA, "📋 Ver el tablero")
    assert "✅ Asistirán (1): Ana Pérez" in board.text
    await wa.press(GESTORA, "Preguntar de nuevo", contains=True)
    meeting = await last_meeting(wa)
    wa.app.clock.set(APRIL_7 - timedelta(minutes=20))
    [checked] = await wa.send(CARLA, f"/asistencia {meeting.checkin_code}")
    assert checked.text.startswith("¡Listo!")
    await wa.press(GESTORA, "📋 Ver el tablero")
    await wa.press(GESTORA, "✍️ Tomar asistencia")
    # Each mark is a new message here (no edits); the list is pressed again from it.
    [marked] = await wa.press(GESTORA, "▫️ Ana Pérez")
    assert "Presentes: 2 de 4" in marked.text
    await wa.press(GESTORA, "▫️ Beto Soto")
    await wa.press(GESTORA, "✅ Beto Soto")
    await wa.press(GESTORA, "Agregar a alguien", contains=True)
    await wa.send(GESTORA, "dani")
    await wa.press(GESTORA, "Dani Rojas")
    [closed] = await wa.press(GESTORA, "🏁 Cerrar sesión")
    assert closed.text.startswith("🏁 Sesión cerrada.")
    async with wa.app.sessions() as s:
        meeting = await s.get(Meeting, meeting.id)
        present = await s.scalar(select(func.count()).select_from(Attendance).where(
            Attendance.present.is_(True)))
    assert meeting.status == MeetingStatus.HELD and present == 3
    [rates] = await wa.press(GESTORA, "📊 Asistencia")
    assert "Grupo Motor: " in rates.text


async def last_meeting(wa: WaHarness) -> Meeting:
    async with wa.app.sessions() as s:
        return await s.scalar(select(Meeting).order_by(Meeting.id.desc()).limit(1))


async def test_a_monthly_series_then_moving_and_cancelling_in_english(wa: WaHarness) -> None:
    await seed(wa, gestora_locale="en")
    await wa.send(GESTORA, "/panel")
    await wa.press(GESTORA, "📅 Meetings")
    await wa.press(GESTORA, "➕ New meeting")
    await wa.press(GESTORA, "Core Group")
    await wa.press(GESTORA, "Core Group meeting")
    await wa.send(GESTORA, "03-03-2026")
    await wa.press(GESTORA, "18:00")
    await wa.send(GESTORA, "Sede Villa Ñuñoa")
    await wa.press(GESTORA, "Skip")
    [repeating] = await wa.press(GESTORA, "🔁 Repeat every month")
    assert "10 sessions" in repeating.text
    created, _ = await wa.press(GESTORA, "✅ Confirm")
    assert created.text.startswith("✅ I created 10 meetings")
    await wa.press(GESTORA, "Core Group members", contains=True)
    async with wa.app.sessions() as s:
        assert await s.scalar(select(func.count()).select_from(MeetingSeries)) == 1
        first = await s.scalar(select(Meeting).order_by(Meeting.starts_at).limit(1))
    await wa.drain()
    await wa.press(ANA, "Asistiré")

    # Moving the first: the board is reached through the (paged) list of meetings.
    await wa.send(GESTORA, "/panel")
    await wa.press(GESTORA, "📅 Meetings")
    await wa.press(GESTORA, "Tuesday 3 March", contains=True)
    [ask_day] = await wa.press(GESTORA, "📅 Change date")
    # The day to pick is a list of days from today, in pages, with a line saying it may be
    # typed instead; the 19th is on the third page ("more" twice, each a new message).
    assert [c.title for c in ask_day.shown.rows][:2] == ["Mon 2 Mar", "Tue 3 Mar"]
    assert "or type the date" in ask_day.text
    before = len(wa.chat(GESTORA))
    await wa.press(GESTORA, "Thu 19 Mar")
    assert [m.text.splitlines()[-1] for m in wa.chat(GESTORA)[before:before + 2]] == [
        "Options: page 2 of 5.", "Options: page 3 of 5."]
    [confirm] = await wa.press(GESTORA, "18:00")
    assert "Thursday 19 March, 18:00" in confirm.text
    [moved] = await wa.press(GESTORA, "✅ Yes, move it")
    assert moved.text.startswith("📅 Done: the meeting is now on Thursday 19 March, 18:00.")
    await wa.drain()
    assert wa.chat(ANA)[-1].text.startswith("🔄 Cambio de fecha")

    await wa.press(GESTORA, "📋 See the board")
    await wa.press(GESTORA, "🚫 Cancel meeting")
    [cancelled] = await wa.send(GESTORA, "The hall is closed for repairs")
    assert cancelled.text.startswith("🚫 Meeting cancelled.")
    await wa.drain()
    assert "The hall is closed for repairs" in wa.chat(ANA)[-1].text
    async with wa.app.sessions() as s:
        first = await s.get(Meeting, first.id)
        answers = list(await s.scalars(select(Rsvp.answer).where(Rsvp.meeting_id == first.id)))
    assert first.status == MeetingStatus.CANCELLED and len(answers) == 4
