"""One small programme, walked as its people would (issue 10: counts agree everywhere): a
Grupo Motor session with invited members, a walk-in who is in Convoca and one written in
by hand; a delivery day with a family that confirmed and came, one whose proxy picked up,
and families who did not come, seen after the window. Every place that counts them says the
same numbers: the board and the close message in chat, `convoca attendance show`, the
attendance list (PDF and XLSX), the day list in chat, `convoca delivery day`, the exported
delivery list, and the progress report the gestora gets in chat."""

from __future__ import annotations

import argparse
import io
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy import select
from test_admin_delivery_support import (
    FAMILY_CHATS,
    FAMILY_MEMBER,
    GESTORA,
    STAFF,
    add_day,
    edits_of,
    find_button,
    local,
    seed,
)
from test_admin_meetings_flow import add_person
from test_exports import heading_rows, read_pdf, read_xlsx, sheet_rows, table_rows

from bot import cli_delivery, cli_meetings
from documents import exports
from domain.meetings import INVITE_MEMBERS
from services import meetings as meeting_services
from storage import admin_meetings as data
from storage import programs
from storage.models import Body, Pickup, PickupStatus
from telegram_harness import Running

ANA, BETO, CARLA, DANI, FEDE = 7301, 7302, 7303, 7304, 7305
PEREZ = FAMILY_CHATS["Pérez Ñancupil"]
MEMBERS = {ANA: "Ana Pérez", BETO: "Beto Soto", CARLA: "Carla Núñez", DANI: "Dani Rojas"}
SESSION = local(2026, 3, 3, 18)  # Tuesday 3 March, 18:00 in Santiago
DAY = local(2026, 3, 5, 10)  # Thursday 5 March, 10:00 to 12:00


async def tap(r: Running, chat: int, label: str, *, contains: bool = False) -> list[dict]:
    """Tap a button as the chat shows it now; the messages sent and edited in answer."""
    data_, mid = find_button(r, chat, label, contains=contains)
    sent, edited = len(r.fake.delivered(chat)), len(edits_of(r, chat))
    r.fake.callback(chat, data_, message_id=mid)
    await r.fake.wait_for(lambda _r: len(r.fake.delivered(chat)) > sent
                          or len(edits_of(r, chat)) > edited, timeout=10)
    await r.settled()  # a second message or a document still on its way
    return ([m.params for m in r.fake.delivered(chat)[sent:]]
            + edits_of(r, chat)[edited:])


async def say(r: Running, chat: int, text: str) -> list[dict]:
    before = len(r.fake.delivered(chat))
    await r.send(chat, text)
    return [m.params for m in r.fake.delivered(chat)[before:]]


async def convoca(r: Running, capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    parser = argparse.ArgumentParser(prog="convoca")
    sub = parser.add_subparsers(dest="command")
    cli_meetings.register(sub)
    cli_delivery.register(sub)
    args = parser.parse_args(list(argv))
    module = cli_meetings if argv[0] in ("meeting", "attendance") else cli_delivery
    assert await module.run(r.app, args) == 0
    return capsys.readouterr().out


def numbers(pattern: str, text: str) -> tuple[int, ...]:
    found = re.search(pattern, text)
    assert found, (pattern, text)
    return tuple(int(n) for n in found.groups())


def day_counts(text: str) -> dict[str, int]:
    """The day's counts as the chat and the command line print them, one a line."""
    return {label.strip(): int(n) for label, n in
            re.findall(r"^(?:[^\w\s]+ )?([^:\n]+): (\d+)$", text, re.MULTILINE)}


def document(sent: list[dict]) -> bytes:
    [doc] = [m["document"] for m in sent if "document" in m]
    return doc.data


async def test_every_place_that_counts_says_the_same(
        tg: Running, clock: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    seeded = await seed(tg)
    program_id = seeded.program_id
    async with tg.app.sessions() as s:
        gm = await s.scalar(select(Body).where(Body.program_id == program_id,
                                               Body.kind == "grupo_motor"))
    for chat, name in MEMBERS.items():
        await add_person(tg, chat, name, "es", "grupo_motor", program_id=program_id,
                         body_id=gm.id)
    await add_person(tg, FEDE, "Fede Araya", "es", "representante",
                            program_id=program_id)

    # The session: four members invited; Ana says she will come.
    now = clock.now()
    async with tg.app.sessions() as s:
        program = await programs.get(s, program_id)
        meeting = await data.create_meeting(s, program, kind="grupo_motor", starts_at=SESSION,
                                            now=now, body_id=gm.id, place="Sede Vecinal")
        await meeting_services.invite(s, program, meeting, INVITE_MEMBERS, now)
        await s.commit()
        mid, code = meeting.id, meeting.checkin_code
    await tg.outbox.drain()
    await tg.press(ANA, "Asistiré")
    # The delivery day: González Soto confirms and Pérez Ñancupil names who picks up, in
    # chat; Muñoz Rojas had confirmed and Araya Díaz cannot come; Castañeda Vidal is silent.
    day_id, ids = await add_day(tg, seeded, DAY, statuses={
        "Muñoz Rojas": PickupStatus.CONFIRMED, "Araya Díaz": PickupStatus.CANNOT})
    async with tg.app.sessions() as s:
        for pickup in await s.scalars(select(Pickup).where(Pickup.id.in_(
                [ids["Muñoz Rojas"], ids["Araya Díaz"]]))):
            pickup.responded_at = now
        await s.commit()
    await say(tg, FAMILY_MEMBER, "/retiro")
    await tg.press(FAMILY_MEMBER, "✅ Confirmo")
    await say(tg, PEREZ, "/retiro")
    await tg.press(PEREZ, "Retira otra persona")
    await say(tg, PEREZ, "Rosa Pérez Díaz")
    await say(tg, PEREZ, "12.345.678-5")

    # At the session: Carla checks in; the gestora marks Ana present and Beto absent, adds
    # Fede (in Convoca) and writes in Juan (not in Convoca). Dani is not marked.
    clock.set(SESSION - timedelta(minutes=10))
    await tg.send(CARLA, f"/asistencia {code}")
    await say(tg, GESTORA, "/panel")
    await tap(tg, GESTORA, "📅 Reuniones")
    await tap(tg, GESTORA, "martes 3 de marzo, 18:00 · Sesión del Grupo Motor")
    await tap(tg, GESTORA, "✍️ Tomar asistencia")
    await tap(tg, GESTORA, "▫️ Ana Pérez")
    await tap(tg, GESTORA, "▫️ Beto Soto")
    await tap(tg, GESTORA, "✅ Beto Soto")
    await tap(tg, GESTORA, "➕ Agregar a alguien que vino")
    await say(tg, GESTORA, "araya")
    await tap(tg, GESTORA, "Fede Araya")
    await tap(tg, GESTORA, "➕ Agregar a alguien que vino")
    await tap(tg, GESTORA, "🆕 Alguien que no está en Convoca")
    for answer in ("Juan Pérez Rojas", "12.345.678-5", "Club Deportivo Unión"):
        await say(tg, GESTORA, answer)
    await tap(tg, GESTORA, "Omitir")
    [board] = [m["text"] for m in await tap(tg, GESTORA, "📋 Ver el tablero")]
    await tap(tg, GESTORA, "✍️ Tomar asistencia")
    [closed] = [m["text"] for m in await tap(tg, GESTORA, "🏁 Cerrar sesión")]

    # The delivery day: González Soto comes herself, Pérez Ñancupil's proxy picks up; the
    # window closes on the others.
    clock.set(DAY + timedelta(minutes=40))
    await say(tg, STAFF, "/panel")
    await tap(tg, STAFF, "📋 Lista del día de entrega")
    for family in ("👍 González Soto", "👥 Pérez Ñancupil"):
        await tap(tg, STAFF, family)
        await tap(tg, STAFF, "Retiró ✅")
    clock.set(DAY + timedelta(hours=2, minutes=31))
    await say(tg, STAFF, "/panel")
    [day_list] = [m["text"] for m in await tap(tg, STAFF, "📋 Lista del día de entrega")]

    # --- the session, everywhere --------------------------------------------------------
    # (invited, present, of them invited, walk-ins)
    tally = r"Presentes: (\d+) \((\d+) de (\d+) personas invitadas y (\d+) sin invitación\)"

    def session_from_tally(text: str) -> tuple[int, ...]:
        present, present_invited, invited, walk_ins = numbers(tally, text)
        return invited, present, present_invited, walk_ins

    expected = (4, 4, 2, 2)
    assert session_from_tally(board) == expected
    assert session_from_tally(closed) == expected
    shown = await convoca(tg, capsys, "attendance", "show", str(mid))
    assert session_from_tally(shown) == expected
    async with tg.app.sessions() as s:
        pdf = await exports.attendance_list(s, mid, "pdf", now=clock.now(),
                                            catalogs=tg.app.catalogs)
        xlsx = await exports.attendance_list(s, mid, "xlsx", now=clock.now(),
                                             catalogs=tg.app.catalogs)
    (tmp_path / "attendance").mkdir()
    text, _, _ = read_pdf(pdf, tmp_path / "attendance")
    on_the_list = r"Personas invitadas: (\d+) · .* Presentes: (\d+) \(invitadas: (\d+) · " \
                  r"sin invitación: (\d+)\)"
    assert numbers(on_the_list, str(text)) == expected
    book = read_xlsx(xlsx)
    # The session's details are above the table, on the one sheet that is printed.
    [attendance] = [line for line in heading_rows(book.worksheets[0])
                    if line.startswith("Asistencia: ")]
    assert numbers(on_the_list, attendance) == expected
    rows = sheet_rows(book.worksheets[0])
    assert sum(1 for r in rows[1:] if r[6] == "Presente") == expected[1]

    # --- the delivery day, everywhere ---------------------------------------------------
    # (families, confirmed, cannot or another date, no answer, picked up, not come, moved)
    chat = day_counts(day_list)
    from_chat = (chat["Familias en la lista"], chat["Confirmaron"] + chat["Retira otra persona"],
                 chat["No pueden venir"] + chat["Piden otra fecha"], chat["Sin respuesta"],
                 chat["Retiraron"], chat["No vinieron"], chat["Pasaron a otro día"])
    expected_day = (5, 0, 1, 0, 2, 2, 0)
    assert from_chat == expected_day
    assert day_counts(await convoca(tg, capsys, "delivery", "day", str(day_id))) == chat
    async with tg.app.sessions() as s:
        listed = await exports.delivery_day_list(s, day_id, "pdf", now=clock.now(),
                                                 catalogs=tg.app.catalogs)
    (tmp_path / "day").mkdir()
    text, _, _ = read_pdf(listed, tmp_path / "day")
    summary = (r"Familias: (\d+) · Confirmaron: (\d+) · No pueden o piden otra fecha: (\d+) · "
               r"Sin respuesta: (\d+) · Retiraron: (\d+) · No vinieron: (\d+) · "
               r"Pasaron a otro día: (\d+)")
    assert numbers(summary, str(text)) == expected_day

    # --- the progress report the gestora gets in chat -----------------------------------
    await say(tg, GESTORA, "/panel")
    await tap(tg, GESTORA, "📄 Documentos")
    await tap(tg, GESTORA, "📊 Informe de avance")
    report = load_workbook(io.BytesIO(document(await tap(tg, GESTORA, "Excel (XLSX)"))))
    [session] = table_rows(report["Sesiones realizadas"])[1:]
    # Present in all, walk-ins, invited, of them present; the rate divides the last two.
    assert tuple(session[3:7]) == (expected[1], expected[3], expected[0], expected[2])
    assert session[7] == expected[2] / expected[0]
    [day] = table_rows(report["Días de entrega"])[1:]
    assert (day[1], *day[3:]) == expected_day
    assert day[2] == 5  # every family was told of the day
    bodies = table_rows(report["Sesiones por instancia"])
    assert (bodies[1][0], bodies[1][6]) == ("Grupo Motor", 1)
    summary_sheet = dict(table_rows(report["Organizaciones y familias"])[1:])
    assert summary_sheet["Familias que recibieron su canasta"] == expected_day[4]
    # Who said they would come, whether or not they did: González Soto, Pérez Ñancupil's
    # proxy, Muñoz Rojas.
    assert summary_sheet["Familias que confirmaron"] == 3
    # The same report as a PDF, to print: the same rows.
    pdf_report = document(await tap(tg, GESTORA, "PDF (para imprimir)"))
    (tmp_path / "report").mkdir()
    text, _, _ = read_pdf(exports.ExportFile("informe.pdf", pdf_report, exports.MIME["pdf"]),
                          tmp_path / "report")
    assert "Grupo Motor 4 2 4 2 50%" in text
    assert "5 mar 2026, 10:00 5 5 0 1 0 2 2 0" in text
