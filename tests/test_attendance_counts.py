"""One count of who was expected and who came, whatever shows it: the confirmations board,
the attendance list in chat, the session-close message, `convoca attendance` and the
exported attendance list (PDF and XLSX). A walk-in who is not in Convoca is written in
from the chat or the command line, counted, and printed on the list; taken off, they leave
every count again."""

from __future__ import annotations

import re
from datetime import timedelta
from functools import partial
from pathlib import Path

import cli_harness
import pytest
from sqlalchemy import select
from test_admin_meetings_flow import (
    ANA,
    APRIL_7,
    BETO,
    CARLA,
    GESTORA,
    current_text,
    labels,
    seed,
    tap,
)
from test_exports import heading_rows, read_pdf, read_xlsx, sheet_rows

from bot import cli_meetings
from bot.commands import CommandError
from documents import exports
from domain.meetings import INVITE_MEMBERS
from locales import Catalogs
from services import meetings as admin_meetings
from storage import admin_meetings as data
from storage import programs
from storage.models import AttendanceGuest, AuditEntry, ChannelAddress
from telegram_harness import Running

TALLY = "Presentes: 4 (2 de 4 personas invitadas y 2 sin invitación)"


parse = partial(cli_harness.parse, cli_meetings)




async def convoca(r: Running, capsys: pytest.CaptureFixture[str], *argv: str) -> list[str]:
    return await cli_harness.lines(cli_meetings, r.app, capsys, *argv)


async def grupo_motor_session(tg: Running, ids: dict) -> tuple[int, str]:
    """The Grupo Motor's session of 7 April at the Sede, its members invited and told; its
    id and check-in code."""
    now = tg.app.clock.now()
    async with tg.app.sessions() as s:
        program = await programs.get(s, ids["program"])
        meeting = await data.create_meeting(s, program, kind="grupo_motor", starts_at=APRIL_7,
                                            now=now, body_id=ids["gm"], place="Sede")
        await admin_meetings.invite(s, program, meeting, INVITE_MEMBERS, now)
        await s.commit()
        mid, code = meeting.id, meeting.checkin_code
    await tg.outbox.drain()
    return mid, code


async def attendance_lists(tg: Running, mid: int) -> tuple[exports.ExportFile, ...]:
    """The meeting's attendance list as the gestora downloads it: PDF, then XLSX."""
    catalogs = Catalogs()
    async with tg.app.sessions() as s:
        return tuple([await exports.attendance_list(s, mid, fmt, now=tg.app.clock.now(),
                                                    catalogs=catalogs) for fmt in ("pdf", "xlsx")])


async def test_every_surface_shows_the_same_count_with_walk_ins(
        tg: Running, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    ids = await seed(tg)
    mid, code = await grupo_motor_session(tg, ids)
    await tg.press(ANA, "Asistiré")
    tg.app.clock.set(APRIL_7 - timedelta(minutes=10))
    await tg.send(CARLA, f"/asistencia {code}")

    # Four invited: Ana marked present, Beto absent, Carla checked in, Dani not marked.
    await tg.send(GESTORA, "/panel")
    await tap(tg, GESTORA, "📅 Reuniones")
    await tap(tg, GESTORA, "martes 7 de abril, 18:00 · Sesión del Grupo Motor")
    await tap(tg, GESTORA, "✍️ Tomar asistencia")
    await tap(tg, GESTORA, "▫️ Ana Pérez", replies=0, edited=1)
    await tap(tg, GESTORA, "▫️ Beto Soto", replies=0, edited=1)
    await tap(tg, GESTORA, "✅ Beto Soto", replies=0, edited=1)
    # Fede came uninvited; Eva was added by mistake and put right (absent: not counted).
    for name in ("Fede Araya", "Eva Muñoz"):
        await tap(tg, GESTORA, "➕ Agregar a alguien que vino")
        await tg.send(GESTORA, name.split()[1].lower())
        await tap(tg, GESTORA, name, replies=2)
    await tap(tg, GESTORA, "✅ Eva Muñoz", replies=0, edited=1)

    # Juan is not in Convoca: written in from the chat, one question at a time.
    await tap(tg, GESTORA, "➕ Agregar a alguien que vino")
    [ask_name] = await tap(tg, GESTORA, "🆕 Alguien que no está en Convoca")
    assert ask_name["text"] == ("¿Cómo se llama la persona que vino? Escribe su nombre y "
                                "apellido.")
    [ask_rut] = await tg.send(GESTORA, "Juan Pérez Rojas")
    assert ask_rut["text"] == ("¿Cuál es el RUT de Juan Pérez Rojas? Si no lo tienes, toca "
                               "«Omitir».")
    [bad_rut] = await tg.send(GESTORA, "12.345.678-9")
    assert bad_rut["text"].startswith("Ese RUT no es válido. Revisa el dígito verificador;")
    [ask_org] = await tg.send(GESTORA, "12345678-5")
    assert ask_org["text"].startswith("¿De qué organización viene Juan Pérez Rojas?")
    [ask_phone] = await tg.send(GESTORA, "Club Deportivo Unión")
    assert labels(tg, GESTORA) == [["Omitir"], ["Cancelar"]]
    [bad_phone] = await tg.send(GESTORA, "123")
    assert bad_phone["text"].startswith("Ese teléfono no parece válido.")
    added, listed = await tap(tg, GESTORA, "Omitir", replies=2)
    assert added["text"] == "Listo: anoté a Juan Pérez Rojas como presente."
    assert listed["text"].split("\n")[1] == TALLY + "."
    att_id = tg.fake.delivered(GESTORA)[-1].result["message_id"]
    assert [row[0] for row in labels(tg, GESTORA, att_id)[:7]] == [
        "✅ Ana Pérez", "❌ Beto Soto", "✅ Carla Núñez", "▫️ Dani Rojas", "❌ Eva Muñoz",
        "✅ Fede Araya", "✅ Juan Pérez Rojas · sin registro"]
    async with tg.app.sessions() as s:
        [juan] = list(await s.scalars(select(AttendanceGuest)))
    assert (juan.name, juan.rut, juan.organization, juan.phone) == (
        "Juan Pérez Rojas", "12.345.678-5", "Club Deportivo Unión", None)

    [board] = await tap(tg, GESTORA, "📋 Ver el tablero")
    assert "🙋 Vinieron sin invitación (2): Fede Araya, Juan Pérez Rojas\n" in board["text"]
    assert f"🧾 {TALLY}\n" in board["text"]
    await tap(tg, GESTORA, "✍️ Tomar asistencia")
    [closed] = await tap(tg, GESTORA, "🏁 Cerrar sesión")
    assert closed["text"] == f"🏁 Sesión cerrada. {TALLY}. Ya cuenta para la asistencia."

    shown = await convoca(tg, capsys, "attendance", "show", str(mid))
    assert shown[:2] == [f"Reunión {mid}: Sesión del Grupo Motor, martes 7 de abril, 18:00",
                         TALLY + "."]
    assert shown[2:] == [
        f"{ids[str(ANA)]}\tAna Pérez\tasistirá\tpresente",
        f"{ids[str(BETO)]}\tBeto Soto\tsin respuesta\tausente",
        f"{ids[str(CARLA)]}\tCarla Núñez\tsin respuesta\tpresente",
        f"{ids['7004']}\tDani Rojas\tsin respuesta\tsin marcar",
        f"{ids['7005']}\tEva Muñoz\tsin invitación\tausente",
        f"{ids['7006']}\tFede Araya\tsin invitación\tpresente",
        f"sin registro #{juan.id}\tJuan Pérez Rojas\tsin invitación\tpresente"]

    pdf, xlsx = await attendance_lists(tg, mid)
    text, _, _ = read_pdf(pdf, tmp_path)
    assert ("Personas invitadas: 4 · Confirmaron asistencia: 1 · Presentes: 4 (invitadas: 2 · "
            "sin invitación: 2)") in text
    # Name, RUT, organisation, phone, then the mark: the answer to the invitation is on
    # the sheet, not on the page passed round the room.
    assert re.search(r"Juan Pérez Rojas\s+12\.345\.678-5\s+Club Deportivo Unión\s+Presente",
                     text.layout)
    assert "Eva Muñoz" not in text  # put right: not on the list, as not in the count
    wb = read_xlsx(xlsx)
    rows = sheet_rows(wb.worksheets[0])
    assert [r[1:] for r in rows if r[1] == "Juan Pérez Rojas"] == [
        ["Juan Pérez Rojas", "12.345.678-5", "Club Deportivo Unión", None, "Sin invitación",
         "Presente", None, None]]
    assert sum(1 for r in rows[1:] if r[6] == "Presente") == 4
    [attendance] = [line for line in heading_rows(wb.worksheets[0])
                    if line.startswith("Asistencia: ")]
    assert attendance.endswith("Presentes: 4 (invitadas: 2 · sin invitación: 2)")

    # Taken off again, from the chat: every count follows.
    await tap(tg, GESTORA, "📋 Ver el tablero")
    await tap(tg, GESTORA, "✍️ Tomar asistencia")
    await tap(tg, GESTORA, "✅ Juan Pérez Rojas · sin registro", replies=0, edited=1)
    att_id = tg.fake.delivered(GESTORA)[-1].result["message_id"]
    assert current_text(tg, GESTORA, att_id) == (
        "¿Quito a Juan Pérez Rojas de la asistencia de esta sesión?")
    removed, relisted = await tap(tg, GESTORA, "🗑️ Sí, quitar", replies=2)
    assert removed["text"] == "Listo: quité a Juan Pérez Rojas de la asistencia."
    assert relisted["text"].split("\n")[1] == (
        "Presentes: 3 (2 de 4 personas invitadas y 1 sin invitación).")
    async with tg.app.sessions() as s:
        assert list(await s.scalars(select(AttendanceGuest))) == []
        audit = [a.action for a in await s.scalars(
            select(AuditEntry).where(AuditEntry.action.like("attendance_guest%"))
            .order_by(AuditEntry.id))]
    assert audit == ["attendance_guest_added", "attendance_guest_removed"]


async def test_walk_ins_from_the_command_line(tg: Running,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    ids = await seed(tg)
    now = tg.app.clock.now()
    async with tg.app.sessions() as s:
        program = await programs.get(s, ids["program"])
        meeting = await data.create_meeting(s, program, kind="grupo_motor", starts_at=APRIL_7,
                                            now=now, body_id=ids["gm"])
        await admin_meetings.invite(s, program, meeting, INVITE_MEMBERS, now)
        await s.commit()
        mid = meeting.id
    added, tally = await convoca(
        tg, capsys, "attendance", "add-guest", str(mid), "--name", "Rosa Lagos",
        "--rut", "123456785", "--organization", "Centro de Madres", "--phone", "9 1234 5678")
    async with tg.app.sessions() as s:
        [rosa] = list(await s.scalars(select(AttendanceGuest)))
    assert (rosa.rut, rosa.phone) == ("12.345.678-5", "+56912345678")
    assert added == f"Anoté a Rosa Lagos como presente en la reunión {mid} (sin registro #{rosa.id})."
    assert tally == "Presentes: 1 (0 de 4 personas invitadas y 1 sin invitación)."
    [_, tally] = await convoca(tg, capsys, "attendance", "mark", str(mid), str(ids[str(ANA)]),
                               "present")
    assert tally == "Presentes: 2 (1 de 4 personas invitadas y 1 sin invitación)."
    with pytest.raises(CommandError) as err:
        await cli_meetings.run(tg.app, parse("attendance", "add-guest", str(mid), "--name",
                                             "Pedro", "--rut", "1-2"))
    assert str(err.value).startswith("Ese RUT no es válido.")
    [removed, tally] = await convoca(tg, capsys, "attendance", "remove-guest", str(mid),
                                     str(rosa.id))
    assert removed == f"Quité a Rosa Lagos de la asistencia de la reunión {mid}."
    assert tally == "Presentes: 1 de 4 personas invitadas."
    with pytest.raises(CommandError) as err:
        await cli_meetings.run(tg.app, parse("attendance", "remove-guest", str(mid),
                                             str(rosa.id)))
    assert str(err.value) == "Esa persona ya no está en la lista de asistencia."


async def test_a_name_searched_in_vain_is_offered_as_a_walk_in(tg: Running) -> None:
    ids = await seed(tg)
    now = tg.app.clock.now()
    async with tg.app.sessions() as s:
        program = await programs.get(s, ids["program"])
        await data.create_meeting(s, program, kind="grupo_motor", starts_at=APRIL_7, now=now,
                                  body_id=ids["gm"])
        await s.commit()
    await tg.send(GESTORA, "/panel")
    await tap(tg, GESTORA, "📅 Reuniones")
    await tap(tg, GESTORA, "martes 7 de abril, 18:00 · Sesión del Grupo Motor")
    await tap(tg, GESTORA, "✍️ Tomar asistencia")
    await tap(tg, GESTORA, "➕ Agregar a alguien que vino")
    [none] = await tg.send(GESTORA, "Rosa Lagos")
    assert none["text"].startswith("No encontré a nadie con «Rosa Lagos».")
    assert labels(tg, GESTORA) == [["🆕 Anotar a «Rosa Lagos» (no está en Convoca)"],
                                   ["Cancelar"]]
    [ask_rut] = await tap(tg, GESTORA, "🆕 Anotar a «Rosa Lagos» (no está en Convoca)")
    assert ask_rut["text"].startswith("¿Cuál es el RUT de Rosa Lagos?")
    await tap(tg, GESTORA, "Omitir")
    await tap(tg, GESTORA, "Omitir")
    added, listed = await tap(tg, GESTORA, "Omitir", replies=2)
    assert added["text"] == "Listo: anoté a Rosa Lagos como presente."
    # Nobody was invited to this one: the count says so rather than «0 de 0».
    assert listed["text"].split("\n")[1] == "Presentes: 1 sin invitación."


async def test_someone_linked_to_nothing_who_checks_in_waits_for_the_gestora(
        tg: Running, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    ids = await seed(tg)
    mid, code = await grupo_motor_session(tg, ids)
    strangers = {7801: "Zoe Extraña", 7802: "Yara Otra"}
    for chat, name in strangers.items():
        tg.fake.add_chat(chat, first_name=name)
        await tg.send(chat, "/start")
        await tg.press(chat, "✅ Sí, acepto", count=2)
    tg.app.clock.set(APRIL_7 - timedelta(minutes=10))
    for chat in strangers:
        said = await tg.send(chat, f"/asistencia {code}")
        assert "la gestora la confirmará" in said[0]["text"]  # not "quedó registrada"
    async with tg.app.sessions() as s:
        zoe, yara = [(await s.scalar(select(ChannelAddress.person_id).where(
            ChannelAddress.address == str(chat)))) for chat in strangers]

    shown = await convoca(tg, capsys, "attendance", "show", str(mid))
    assert shown[1] == "Presentes: 0 de 4 personas invitadas."  # not counted yet
    assert [line.split("\t")[2:] for line in shown[2:] if line.split("\t")[0] in
            (str(zoe), str(yara))] == [["sin invitación", "sin invitación, por confirmar"]] * 2

    pdf, xlsx = await attendance_lists(tg, mid)
    text, _, _ = read_pdf(pdf, tmp_path)
    assert text.count("Por confirmar") == 2 and "Presente " not in text
    assert "Presentes: 0" in text
    rows = sheet_rows(read_xlsx(xlsx).worksheets[0])
    assert sorted(r[5:7] for r in rows[1:] if r[5] == "Sin invitación") == [
        ["Sin invitación", "Por confirmar"]] * 2
    assert not any(r[6] == "Presente" for r in rows[1:])

    [confirmed, tally] = await convoca(tg, capsys, "attendance", "mark", str(mid), str(zoe),
                                       "confirm")
    assert tally == "Presentes: 1 (0 de 4 personas invitadas y 1 sin invitación)."
    [rejected, tally] = await convoca(tg, capsys, "attendance", "mark", str(mid), str(yara),
                                      "reject")
    assert tally == "Presentes: 1 (0 de 4 personas invitadas y 1 sin invitación)."
    with pytest.raises(CommandError) as err:  # already answered: nothing left to confirm
        await cli_meetings.run(tg.app, parse("attendance", "mark", str(mid), str(yara),
                                             "confirm"))
    assert str(err.value).startswith("Esa persona no marcó su asistencia sin invitación")
    _pdf, xlsx = await attendance_lists(tg, mid)
    async with tg.app.sessions() as s:
        confirmations = [a.details for a in await s.scalars(select(AuditEntry))
                         if a.action == "attendance_marked"]
    rows = sheet_rows(read_xlsx(xlsx).worksheets[0])
    assert [r[5:7] for r in rows[1:] if r[5] == "Sin invitación"] == [
        ["Sin invitación", "Presente"]]  # the rejected one is off the list
    assert [c["walk_in_confirmed"] for c in confirmations] == [True, False]
