"""`convoca role|meeting|attendance ...`: the same tools from the command line, against the
same database the bot serves, so what they queue reaches people through the fake Bot API."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta
from functools import partial

import cli_harness
import pytest
from sqlalchemy import select
from test_admin_meetings_flow import (
    ANA,
    APRIL_7,
    BETO,
    CARLA,
    DANI,
    seed,
)

from bot import cli_meetings
from bot.commands import CommandError
from storage.models import AuditEntry, Body, Meeting, MeetingStatus, Membership, RoleGrant
from telegram_harness import Running

parse = partial(cli_harness.parse, cli_meetings)




async def convoca(r: Running, capsys: pytest.CaptureFixture[str], *argv: str) -> list[str]:
    return await cli_harness.lines(cli_meetings, r.app, capsys, *argv)


async def test_create_invite_board_move_mark_close_and_rates(
        tg: Running, capsys: pytest.CaptureFixture[str]) -> None:
    ids = await seed(tg)
    created, invited = await convoca(
        tg, capsys, "meeting", "create", "--body", "grupo_motor", "--kind", "grupo_motor",
        "--date", "2026-04-07", "--time", "18:00", "--place", "Sede Villa Ñuñoa",
        "--agenda", "Plan de trabajo", "--invite", "members")
    async with tg.app.sessions() as s:
        meeting = await s.scalar(select(Meeting))
    mid, code = meeting.id, meeting.checkin_code
    assert meeting.starts_at == APRIL_7  # 18:00 in Santiago, winter time
    assert created == (f"Reunión {mid}: Sesión del Grupo Motor, martes 7 de abril, 18:00. "
                       f"Código de asistencia: {code}")
    assert invited == f"Reunión {mid}: 4 personas invitadas, 4 invitaciones en cola."
    await tg.outbox.drain()
    [inv] = await tg.replies(BETO, 0, 1)
    assert inv["text"].startswith("📅 You're invited to: Core Group meeting\n"
                                  "🗓️ Tuesday 7 April, 18:00")
    await tg.press(ANA, "Asistiré")

    assert await convoca(tg, capsys, "meeting", "list") == [
        f"{mid}\tmartes 7 de abril, 18:00\tprogramada\tSesión del Grupo Motor\t"
        "confirmaron 1 de 4"]
    board = "\n".join(await convoca(tg, capsys, "meeting", "board", str(mid)))
    assert "✅ Asistirán (1): Ana Pérez\n⏳ Sin respuesta (3): Beto Soto, Carla Núñez, " \
        "Dani Rojas" in board
    assert f"las personas escriben /asistencia {code}" in board

    [reasked] = await convoca(tg, capsys, "meeting", "reask", str(mid))
    assert reasked == f"Reunión {mid}: 3 sin responder, 3 invitaciones reenviadas."

    # Only the date changes: the time stays 18:00 local.
    [moved] = await convoca(tg, capsys, "meeting", "move", str(mid), "--date", "2026-04-09")
    assert moved == (f"Reunión {mid} movida al jueves 9 de abril, 18:00; nueva fecha enviada "
                     "a 4 de 4 personas.")
    before = len(tg.fake.delivered(ANA))
    await tg.outbox.drain()
    [news] = await tg.replies(ANA, before, 1)
    assert news["text"].startswith("🔄 Cambio de fecha: «Sesión del Grupo Motor» ya no es el "
                                   "martes 7 de abril, 18:00.")
    with pytest.raises(CommandError) as err:
        await cli_meetings.run(tg.app, parse("meeting", "close", str(mid)))
    assert str(err.value) == ("La sesión aún no empieza; podrás cerrarla desde una hora "
                              "antes.")

    tg.app.clock.set(APRIL_7 + timedelta(days=2, minutes=10))
    for chat, mark in ((ANA, "present"), (BETO, "absent"), (CARLA, "present")):
        line, tally = await convoca(tg, capsys, "attendance", "mark", str(mid),
                                    str(ids[str(chat)]), mark)
    assert line == f"Persona {ids[str(CARLA)]} marcada presente en la reunión {mid}."
    assert tally == "Presentes: 2 de 4 personas invitadas."
    [closed] = await convoca(tg, capsys, "meeting", "close", str(mid))
    assert closed == f"Reunión {mid} realizada. Presentes: 2 de 4 personas invitadas."
    rates = await convoca(tg, capsys, "attendance", "rates")
    assert rates[:4] == ["📊 Asistencia en 1 sesión realizada", "", "Por instancia:",
                         "• Grupo Motor: 50 % (2 de 4)"]
    assert rates[-4:] == ["• Ana Pérez: 100 % (1 de 1)", "• Beto Soto: 0 % (0 de 1)",
                          "• Carla Núñez: 100 % (1 de 1)", "• Dani Rojas: 0 % (0 de 1)"]
    async with tg.app.sessions() as s:
        meeting = await s.get(Meeting, mid)
        audit = [(a.action, a.channel, a.actor_id) for a in await s.scalars(
            select(AuditEntry).where(AuditEntry.channel == "cli").order_by(AuditEntry.id))]
    assert meeting.status == MeetingStatus.HELD and meeting.revision == 2
    assert [a for a, _, _ in audit] == [
        "meeting_created", "meeting_invited", "meeting_reasked", "meeting_moved",
        "attendance_marked", "attendance_marked", "attendance_marked", "meeting_closed"]
    assert {actor for _, _, actor in audit} == {None}


async def test_series_cancel_and_mistakes(tg: Running,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    await seed(tg)
    lines = await convoca(
        tg, capsys, "meeting", "create", "--body", "consejo_local", "--kind", "consejo_local",
        "--date", "2026-03-10", "--time", "18:30", "--place", "Municipalidad", "--repeat",
        "--count", "3")
    assert [line.split(": ", 1)[1].split(". ")[0] for line in lines] == [
        "Sesión del Consejo Local, martes 10 de marzo, 18:30",
        "Sesión del Consejo Local, martes 12 de mayo, 18:30",  # every two months, 2nd Tuesday
        "Sesión del Consejo Local, martes 14 de julio, 18:30"]
    async with tg.app.sessions() as s:
        starts = [m.starts_at for m in await s.scalars(select(Meeting).order_by(Meeting.id))]
    assert starts == [datetime(2026, 3, 10, 21, 30, tzinfo=UTC),
                      datetime(2026, 5, 12, 22, 30, tzinfo=UTC),
                      datetime(2026, 7, 14, 22, 30, tzinfo=UTC)]

    [cancelled] = await convoca(tg, capsys, "meeting", "cancel", "2", "--reason", "Feriado")
    assert cancelled == "Reunión 2 cancelada; aviso enviado a 0 de 0 personas."
    with pytest.raises(CommandError) as err:
        await cli_meetings.run(tg.app, parse("meeting", "move", "2", "--time", "19:00"))
    assert "ya se realizó o se canceló" in str(err.value)
    with pytest.raises(CommandError) as err:
        await cli_meetings.run(tg.app, parse(
            "meeting", "create", "--kind", "formacion", "--date", "2026-04-01", "--time",
            "10:00", "--repeat"))
    assert "Solo se repiten" in str(err.value)
    with pytest.raises(CommandError) as err:
        await cli_meetings.run(tg.app, parse(
            "meeting", "create", "--kind", "formacion", "--date", "2026-03-01", "--time",
            "10:00"))
    assert str(err.value) == "Esa fecha y hora ya pasaron. Elige una más adelante."
    with pytest.raises(CommandError):
        await cli_meetings.run(tg.app, parse(
            "meeting", "create", "--kind", "asado", "--date", "2026-04-01", "--time", "10:00"))
    with pytest.raises(CommandError) as err:
        await cli_meetings.run(tg.app, parse("meeting", "board", "99"))
    assert str(err.value) == "No existe la reunión 99."
    with pytest.raises(SystemExit):
        parse("meeting", "create", "--kind", "formacion", "--date", "2026-04-01",
              "--time", "25:00")
    assert await cli_meetings.run(tg.app, argparse.Namespace(command="program")) is None


async def test_roles_from_the_command_line(tg: Running,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    ids = await seed(tg)
    dani = ids[str(DANI)]
    assert await convoca(tg, capsys, "role", "grant", str(dani), "consejo_local") == [
        f"Rol «Consejo Local» dado a la persona {dani}."]
    assert await convoca(tg, capsys, "role", "grant", str(dani), "consejo_local") == [
        f"La persona {dani} ya tenía el rol «Consejo Local»."]
    listed = await convoca(tg, capsys, "role", "list")
    assert f"{dani}\tDani Rojas\tGrupo Motor, Consejo Local" in listed
    assert f"{ids['gestora']}\tGabriela Gestora\tGestión comunitaria" in listed
    assert await convoca(tg, capsys, "role", "revoke", str(dani), "grupo_motor") == [
        f"Rol «Grupo Motor» quitado a la persona {dani}."]
    assert await convoca(tg, capsys, "role", "revoke", str(dani), "grupo_motor") == [
        f"La persona {dani} no tenía el rol «Grupo Motor»."]
    async with tg.app.sessions() as s:
        roles = [g.role for g in await s.scalars(
            select(RoleGrant).where(RoleGrant.person_id == dani))]
        seats = {(m.body_id, m.left_at is None) for m in await s.scalars(
            select(Membership).where(Membership.person_id == dani))}
        cl = await s.scalar(select(Body.id).where(Body.kind == "consejo_local"))
        audit = [(a.action, a.details["role"]) for a in await s.scalars(
            select(AuditEntry).where(AuditEntry.channel == "cli").order_by(AuditEntry.id))]
    assert roles == ["consejo_local"]
    assert seats == {(ids["gm"], False), (cl, True)}
    assert audit == [("role_granted", "consejo_local"), ("role_revoked", "grupo_motor")]
    with pytest.raises(CommandError) as err:
        await cli_meetings.run(tg.app, parse("role", "grant", "999", "familia"))
    assert str(err.value) == "No existe la persona 999."
    with pytest.raises(SystemExit):
        parse("role", "grant", str(dani), "reina")


async def test_the_regional_supervisor_is_given_from_the_command_line(
        tg: Running, capsys: pytest.CaptureFixture[str]) -> None:
    ids = await seed(tg)
    dani = ids[str(DANI)]
    assert await convoca(tg, capsys, "role", "grant", str(dani), "supervisor") == [
        f"Rol «Supervisión» dado a la persona {dani}."]
    assert await convoca(tg, capsys, "role", "revoke", str(dani), "supervisor") == [
        f"Rol «Supervisión» quitado a la persona {dani}."]


async def test_dates_and_times_are_typed_as_people_write_them(
        tg: Running, capsys: pytest.CaptureFixture[str]) -> None:
    # Today is Monday 2 March 2026 in Santiago, by the app's clock.
    await seed(tg)
    [created] = await convoca(
        tg, capsys, "meeting", "create", "--body", "grupo_motor", "--kind", "grupo_motor",
        "--date", "el martes 7 de abril", "--time", "6 de la tarde")
    async with tg.app.sessions() as s:
        meeting = await s.scalar(select(Meeting))
    assert meeting.starts_at == APRIL_7
    assert created.startswith(f"Reunión {meeting.id}: Sesión del Grupo Motor, martes 7 de "
                              "abril, 18:00.")
    [moved] = await convoca(tg, capsys, "meeting", "move", str(meeting.id), "--date", "9/4")
    assert moved.startswith(f"Reunión {meeting.id} movida al jueves 9 de abril, 18:00;")
    [tomorrow] = await convoca(
        tg, capsys, "meeting", "create", "--kind", "formacion", "--date", "mañana", "--time",
        "10:30")
    assert "martes 3 de marzo, 10:30" in tomorrow
    with pytest.raises(CommandError) as err:
        await cli_meetings.run(tg.app, parse(
            "meeting", "create", "--kind", "formacion", "--date", "30-02-2026", "--time",
            "10:00"))
    assert str(err.value) == ("Esa fecha no existe en el calendario. Revisa el día y el mes; "
                              "por ejemplo: 17-12-2026.")
    with pytest.raises(CommandError) as err:
        await cli_meetings.run(tg.app, parse(
            "meeting", "move", str(meeting.id), "--date", "el viernes 9 de abril"))
    assert str(err.value) == ("Ojo: el jueves 9 de abril de 2026 no es viernes. Revisa la "
                              "fecha, por favor.")
