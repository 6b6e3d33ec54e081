"""Texts as people read them: an empty list says "(ninguna)" for an organisation and a
family, "(ninguno)" for a role; two numbers in one sentence agree each with its own noun
("invité a 4 personas; 1 recibe la invitación", "1 gets the invitation"); the command line
counts in the singular too. (A person's role shown once and in words is checked where it
is shown: test_admin_roles_flow, test_admin_meetings_cli, test_console_demo and
test_storage_and_cli.)"""

from __future__ import annotations

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
    GESTORA,
    seed,
    tap,
)

from bot import cli_meetings
from locales import Catalogs, Msg, When
from storage import admin_meetings as data
from storage import people, programs
from storage.models import Meeting, Person
from telegram_harness import Running

ZONE = "America/Santiago"  # the programme's, where times are read


@pytest.mark.parametrize(("loc", "button", "expected"), [
    ("es", "👥 Integrantes del Grupo Motor (4)",
     "📨 Listo: invité a 4 personas; 1 recibe la invitación por aquí."),
    ("en", "👥 Core Group members (4)",
     "📨 Done: I invited 4 people; 1 gets the invitation here."),
])
async def test_the_invited_and_those_reached_agree_each_with_their_number(
        tg: Running, loc: str, button: str, expected: str) -> None:
    ids = await seed(tg, gestora_locale=loc)
    now = tg.app.clock.now()
    async with tg.app.sessions() as s:
        program = await programs.get(s, ids["program"])
        await data.create_meeting(s, program, kind="grupo_motor", starts_at=APRIL_7, now=now,
                                  body_id=ids["gm"])
        for chat in (BETO, CARLA, DANI):  # asked for no notices: only Ana gets it by chat
            (await s.get(Person, ids[str(chat)])).opted_out_at = now
        await s.commit()
    await tg.send(GESTORA, "/panel")
    await tap(tg, GESTORA, "📅 Reuniones" if loc == "es" else "📅 Meetings")
    await tap(tg, GESTORA, ("martes 7 de abril, 18:00 · Sesión del Grupo Motor" if loc == "es"
                            else "Tuesday 7 April, 18:00 · Core Group meeting"))
    await tap(tg, GESTORA, "📨 Invitar" if loc == "es" else "📨 Invite")
    [done] = await tap(tg, GESTORA, button)
    assert done["text"] == expected


@pytest.mark.parametrize(("loc", "lines"), [
    ("es", ["Nombre: Ana Rivas", "Teléfono: (sin teléfono)", "Roles:\n• (ninguno)\n",
            "Organizaciones:\n• (ninguna)\n", "Grupo Motor o Consejo Local:\n• (ninguno)\n",
            "Familia: (ninguna)\n"]),
    ("en", ["Name: Ana Rivas", "Phone: (no phone)", "Roles:\n• (none)\n",
            "Organisations:\n• (none)\n", "Family: (none)\n"]),
])
async def test_an_empty_list_agrees_with_its_noun(tg: Running, loc: str,
                                                   lines: list[str]) -> None:
    chat = 8301
    tg.fake.add_chat(chat, first_name="Ana", language_code=loc)
    now = tg.app.clock.now()
    async with tg.app.sessions() as s:
        await people.create_with_address(s, "telegram", str(chat), now, name="Ana Rivas",
                                         locale=loc, consent_at=now, consent_version="2026-1")
        await s.commit()
    summary, _pdf, _json = await tg.send(chat, "/mis_datos" if loc == "es" else "/my_data",
                                         count=3)
    for line in lines:
        assert line in summary["text"], (line, summary["text"])
    assert "(ninguno)\nGrupo" not in summary["text"]


parse = partial(cli_harness.parse, cli_meetings)


async def test_the_command_line_counts_in_the_singular_too(
        tg: Running, capsys: pytest.CaptureFixture[str]) -> None:
    ids = await seed(tg)

    async def convoca(*argv: str) -> list[str]:
        assert await cli_meetings.run(tg.app, parse(*argv)) == 0
        return capsys.readouterr().out.splitlines()

    # The Consejo Local has one member: Ana.
    await convoca("role", "grant", str(ids[str(ANA)]), "consejo_local")
    created, invited = await convoca(
        "meeting", "create", "--body", "consejo_local", "--kind", "consejo_local", "--date",
        "2026-04-14", "--time", "18:00", "--invite", "members")
    async with tg.app.sessions() as s:
        mid = await s.scalar(select(Meeting.id))
    assert invited == f"Reunión {mid}: 1 persona invitada, 1 invitación en cola."
    [reasked] = await convoca("meeting", "reask", str(mid))
    assert reasked == f"Reunión {mid}: 1 sin responder, 1 invitación reenviada."
    [moved] = await convoca("meeting", "move", str(mid), "--date", "2026-04-15")
    assert moved.endswith("nueva fecha enviada a 1 de 1 persona.")
    [cancelled] = await convoca("meeting", "cancel", str(mid))
    assert cancelled == f"Reunión {mid} cancelada; aviso enviado a 1 de 1 persona."


def test_a_series_of_one_session_says_one_session() -> None:
    catalogs = Catalogs()
    params = {"every": Msg("adm_meet.every_1", {"count": 1}),
              "rule": Msg("adm_meet.rule_2", {"weekday": Msg("adm_meet.weekday_1")}),
              "count": 1, "last": When(APRIL_7, "date")}
    assert catalogs.render(Msg("adm_meet.line_repeat", params), "es", ZONE) == (
        "🔁 Se repite cada mes, el segundo martes: 1 sesión hasta el martes 7 de abril de "
        "2026.")
    assert catalogs.render(Msg("adm_meet.line_repeat", params), "en", ZONE).endswith(
        ": 1 session until Tuesday 7 April 2026.")
