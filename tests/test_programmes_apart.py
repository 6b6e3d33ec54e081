"""Two programmes in one installation, end to end through the fake Bot API: roles are held
per programme, a gestora works only on the programme where she holds the role, someone on
the team of two chooses (and the choice is remembered), and every time a person reads is in
the zone of its programme, a Punta Arenas meeting at 18:00 shown as 18:00 like a Quilpué one,
in replies, invitations and scheduled reminders alike.

Winter 2026: Santiago is UTC-4, Punta Arenas keeps UTC-3 all year, the installation's
TIMEZONE is Santiago's."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, time

import pytest
from sqlalchemy import select

from bot.app import notice_scheduler
from domain import schedule
from services import meetings as meeting_messages
from storage import admin_meetings as data
from storage import programs
from storage.models import Body, ChannelAddress, Person, Program
from telegram_harness import Running, start, stop

GABI, TERE, ROSA, PEDRO, MARTA, LUIS = 7301, 7302, 7303, 7304, 7305, 7306
MEETING_DAY = date(2026, 6, 9)  # a Tuesday
PUNTA_ARENAS_START = "lunes 2 de marzo de 2026"
QUILPUE_START = "lunes 4 de mayo de 2026"


@pytest.fixture
async def tg(fake_tg, settings_for, sqlite_url, clock) -> AsyncIterator[Running]:
    clock.set(datetime(2026, 6, 1, 15, 0, tzinfo=UTC))
    settings = settings_for(
        sqlite_url, telegram_bot_token=fake_tg.token, telegram_api_base=fake_tg.base_url,
    )
    assert settings.timezone == "America/Santiago"
    running = await start(fake_tg, settings, clock)
    yield running
    await stop(running)


async def person(r: Running, chat: int, name: str, grants: list[tuple[str, Program]],
                 program: Program | None = None) -> int:
    """Someone who already accepted, with roles given as the panel and the CLI give them."""
    now = r.app.clock.now()
    r.fake.add_chat(chat, first_name=name.split()[0], language_code="es")
    async with r.app.sessions() as s:
        p = Person(name=name, locale="es", consent_at=now, consent_version="2026-1",
                   created_at=now, reachable=True, program_id=program.id if program else None)
        p.addresses = [ChannelAddress(channel="telegram", address=str(chat), created_at=now)]
        p.roles = []
        s.add(p)
        await s.flush()
        for role, where in grants:
            await data.grant_role(s, p, role, await s.get(Program, where.id), now)
        await s.commit()
        return p.id


async def seed(r: Running) -> dict[str, int]:
    now = r.app.clock.now()
    async with r.app.sessions() as s:
        south = await programs.create(s, template="ecomercado-10m", start=date(2026, 3, 2),
                                      name="Ecomercado Punta Arenas", now=now)
        south.timezone = "America/Punta_Arenas"  # as a template for Magallanes would set it
        north = await programs.create(s, template="ecomercado-10m", start=date(2026, 5, 4),
                                      name="Ecomercado Quilpué", now=now)
        await s.commit()
    assert (south.timezone, north.timezone) == ("America/Punta_Arenas", "America/Santiago")
    ids = {"south": south.id, "north": north.id}
    ids["gabi"] = await person(r, GABI, "Gabriela Sur", [("gestora", south)])
    ids["tere"] = await person(r, TERE, "Teresa Norte", [("gestora", north)])
    ids["rosa"] = await person(r, ROSA, "Rosa Ambas", [("gestora", south),
                                                        ("coordinadora", north)])
    ids["pedro"] = await person(r, PEDRO, "Pedro Recinto", [("recinto", south),
                                                             ("gestora", north)])
    ids["marta"] = await person(r, MARTA, "Marta Sur", [("grupo_motor", south)], south)
    ids["luis"] = await person(r, LUIS, "Luis Norte", [("grupo_motor", north)], north)
    # A Grupo Motor session at 18:00 local in each programme, both members invited.
    async with r.app.sessions() as s:
        for key, member in (("south", "marta"), ("north", "luis")):
            program = await s.get(Program, ids[key])
            gm = await s.scalar(select(Body).where(Body.program_id == program.id,
                                                   Body.kind == "grupo_motor"))
            starts = schedule.to_utc(MEETING_DAY, time(18, 0), program.timezone)
            meeting = await data.create_meeting(s, program, kind="grupo_motor",
                                                starts_at=starts, now=now, body_id=gm.id,
                                                place="Sede vecinal")
            await meeting_messages.send_invitations(s, meeting, [ids[member]], now)
            ids[f"meeting_{key}"] = meeting.id
        await s.commit()
    return ids


async def invitations(r: Running) -> None:
    r.outbox.wake()
    for chat in (MARTA, LUIS):
        await r.fake.wait_for(lambda _r, chat=chat: len(r.fake.delivered(chat)) >= 1,
                              timeout=10)


def last_text(r: Running, chat: int) -> str:
    return r.fake.delivered(chat)[-1].params["text"]


async def test_each_programme_s_people_read_its_meeting_at_18_00(tg: Running) -> None:
    ids = await seed(tg)
    # 21:00 UTC in Punta Arenas, 22:00 UTC in Quilpué: the same 18:00 on each one's clock.
    async with tg.app.sessions() as s:
        south, north = (await s.get(Program, ids["south"]), await s.get(Program, ids["north"]))
        assert (await data.all_meetings(s, south.id))[0].starts_at.hour == 21
        assert (await data.all_meetings(s, north.id))[0].starts_at.hour == 22
    await invitations(tg)
    for chat in (MARTA, LUIS):
        text = last_text(tg, chat)
        assert "martes 9 de junio, 18:00" in text, text

    # A reply: the card redrawn when Marta answers, and her /reuniones.
    [answered] = await tg.press(MARTA, "Asistiré")
    assert "martes 9 de junio, 18:00" in answered["text"]
    [listing, card] = await tg.send(MARTA, "/reuniones", count=2)
    assert "martes 9 de junio, 18:00" in card["text"], (listing, card)
    await tg.press(LUIS, "Asistiré")

    # A scheduled notice: the reminders of the evening before, one in each zone.
    before = {chat: len(tg.fake.delivered(chat)) for chat in (MARTA, LUIS)}
    tg.app.clock.set(datetime(2026, 6, 8, 23, 0, tzinfo=UTC))
    queued = await notice_scheduler(tg.app, tg.outbox.wake).tick()
    assert {n.kind for n in queued.queued if n.person_id in (ids["marta"], ids["luis"])} == {
        "meeting_reminder"}
    for chat in (MARTA, LUIS):
        [reminder] = await tg.replies(chat, before[chat], 1)
        assert "martes 9 de junio, 18:00" in reminder["text"], reminder["text"]


async def test_the_command_line_shows_each_programme_s_times_in_its_zone(
        tg: Running, sqlite_url: str, monkeypatch, capsys) -> None:
    import asyncio

    from bot.cli import main

    ids = await seed(tg)
    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    for key in ("south", "north"):
        code = await asyncio.get_running_loop().run_in_executor(
            None, main, ["meeting", "list", "--program", str(ids[key])])
        assert code == 0
        [row] = capsys.readouterr().out.splitlines()
        assert row.split("\t")[1] == "martes 9 de junio, 18:00", row


async def test_my_data_shows_times_in_the_zone_of_the_person_s_programme(
        tg: Running, tmp_path) -> None:
    """Nadia was made gestora of Punta Arenas with `convoca admin add --program`, the only
    programme she is on: her /mis_datos PDF is made at 12:00 there (15:00 UTC), never at the
    installation's 11:00 in Santiago."""
    from test_exports import read_pdf

    from documents.exports import ExportFile
    from storage import people

    ids = await seed(tg)
    nadia = 7307
    now = tg.app.clock.now()
    tg.fake.add_chat(nadia, first_name="Nadia", language_code="es")
    async with tg.app.sessions() as s:
        p = Person(name="Nadia Admin", locale="es", consent_at=now, consent_version="2026-1",
                   created_at=now, reachable=True)
        p.addresses = [ChannelAddress(channel="telegram", address=str(nadia), created_at=now)]
        p.roles = []
        s.add(p)
        await s.flush()
        await people.grant(s, p, "gestora", ids["south"], now)  # as `convoca admin add` does
        await s.commit()
    _, pdf, _ = await tg.send(nadia, "/mis_datos", count=3)
    text, _, _ = read_pdf(ExportFile("mis_datos.pdf", pdf["document"].data, "application/pdf"),
                          tmp_path)
    assert "lunes 1 de junio de 2026 a las 12:00" in text, text
    assert "11:00" not in text


async def test_a_button_typed_as_shown_is_read_in_the_programme_s_zone(tg: Running) -> None:
    """Typing a button's label works as pressing it: the label as the person saw it, with
    Punta Arenas' 18:00, not as Santiago's clock would have written it (17:00)."""
    await seed(tg)
    await tg.send(GABI, "/panel")
    [meetings] = await tg.press(GABI, "📅 Reuniones")
    label = "martes 9 de junio, 18:00 · Sesión del Grupo Motor"
    assert label in [b["text"] for row in meetings["reply_markup"]["inline_keyboard"]
                     for b in row]
    [typed] = await tg.send(GABI, label)
    assert typed["text"].startswith("📋 Sesión del Grupo Motor\n🗓️ martes 9 de junio, 18:00\n")


async def test_a_gestora_works_only_on_her_programme(tg: Running) -> None:
    await seed(tg)
    # Her programme is the older one: she sees its stages, never the newest programme's.
    [stage] = await tg.send(GABI, "/etapas")
    assert PUNTA_ARENAS_START.split(" de 2026")[0] in stage["text"], stage["text"]
    assert "4 de mayo" not in stage["text"]
    [stage] = await tg.send(TERE, "/etapas")
    assert QUILPUE_START.split(" de 2026")[0] in stage["text"], stage["text"]

    await tg.send(GABI, "/panel")
    [roles] = await tg.press(GABI, "👥 Roles")
    assert roles["text"].startswith("👥 Personas con roles en Ecomercado Punta Arenas (4):")
    assert "Teresa Norte" not in roles["text"] and "Luis Norte" not in roles["text"]
    await tg.send(GABI, "/panel")
    [meetings] = await tg.press(GABI, "📅 Reuniones")
    listed = [b["text"] for row in meetings["reply_markup"]["inline_keyboard"] for b in row]
    # Only her programme's meeting, at its own 18:00 (the setting's zone would say 17:00).
    assert listed == ["martes 9 de junio, 18:00 · Sesión del Grupo Motor", "➕ Nueva reunión",
                      "📊 Asistencia", "↩️ Volver al panel"]


async def test_on_the_team_of_two_programmes_one_chooses_and_it_is_remembered(
        tg: Running) -> None:
    ids = await seed(tg)
    [ask] = await tg.send(ROSA, "/etapas")
    assert ask["text"] == ("Estás en el equipo de más de un programa. "
                           "¿En cuál quieres trabajar ahora?")
    assert [b["text"] for row in ask["reply_markup"]["inline_keyboard"] for b in row] == [
        "Ecomercado Punta Arenas", "Ecomercado Quilpué"]
    [chosen] = await tg.press(ROSA, "Ecomercado Quilpué")
    assert chosen["text"].startswith("Listo: ahora trabajas en «Ecomercado Quilpué».")
    labels = [b["text"] for row in chosen["reply_markup"]["inline_keyboard"] for b in row]
    assert labels[-1] == "🔀 Cambiar de programa" and "👥 Roles" in labels
    [stage] = await tg.send(ROSA, "/etapas")
    assert "4 de mayo" in stage["text"]
    [panel] = await tg.send(ROSA, "/panel")
    assert panel["text"] == "🧰 Panel del equipo de «Ecomercado Quilpué». ¿Qué quieres hacer?"

    # /programa shows where she is, and moves her.
    [which] = await tg.send(ROSA, "/programa")
    assert [b["text"] for row in which["reply_markup"]["inline_keyboard"] for b in row] == [
        "Ecomercado Punta Arenas", "✅ Ecomercado Quilpué"]
    await tg.press(ROSA, "Ecomercado Punta Arenas")
    [stage] = await tg.send(ROSA, "/etapas")
    assert "2 de marzo" in stage["text"]
    async with tg.app.sessions() as s:
        assert (await s.get(Person, ids["rosa"])).chosen_program_id == ids["south"]

    # Roles are checked in the programme chosen: the premises staff of Punta Arenas who is
    # the gestora of Quilpué, working on Punta Arenas, has no gestora's tools there.
    await tg.send(PEDRO, "/panel")
    await tg.press(PEDRO, "Ecomercado Punta Arenas")
    [refused] = await tg.send(PEDRO, "/etapas")
    assert refused["text"] == ("En «Ecomercado Punta Arenas» no tienes ese rol. Para trabajar "
                               "en otro de tus programas, escribe /programa.")
    await tg.send(PEDRO, "/programa")
    await tg.press(PEDRO, "Ecomercado Quilpué")
    [stage] = await tg.send(PEDRO, "/etapas")
    assert "4 de mayo" in stage["text"]

    # A choice button for a programme where she holds no role does nothing.
    data_, mid = tg.button(ROSA, "Ecomercado Quilpué")
    async with tg.app.sessions() as s:
        rosa = await s.get(Person, ids["rosa"], options=[])
        await s.refresh(rosa, ["roles"])
        for g in list(rosa.roles):
            if g.program_id == ids["north"]:
                rosa.roles.remove(g)
        await s.commit()
    before = len(tg.fake.delivered(ROSA))
    tg.fake.callback(ROSA, data_, message_id=mid)
    [refused] = await tg.replies(ROSA, before, 1)
    assert refused["text"].startswith("Eso lo puede hacer solo el equipo")
    async with tg.app.sessions() as s:
        assert (await s.get(Person, ids["rosa"])).chosen_program_id == ids["south"]


async def test_configured_administrators_are_gestoras_of_every_programme(
        fake_tg, settings_for, sqlite_url, clock, monkeypatch) -> None:
    """ADMIN_TELEGRAM_IDS: the administrator holds the gestora's role in each programme
    (given at /start for those there are, by `convoca program create` for a new one; one
    given before any programme existed is the first programme's)."""
    import asyncio

    from bot.cli import main
    from storage.models import RoleGrant

    admin = 900
    settings = settings_for(sqlite_url, telegram_bot_token=fake_tg.token,
                            telegram_api_base=fake_tg.base_url, admin_telegram_ids=str(admin))
    r = await start(fake_tg, settings, clock)

    async def grants() -> list[tuple[str, int | None]]:
        async with r.app.sessions() as s:
            return [(g.role, g.program_id) for g in await s.scalars(
                select(RoleGrant).order_by(RoleGrant.program_id))]

    async def cli(*args: str) -> int:
        return await asyncio.get_running_loop().run_in_executor(None, main, list(args))

    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    monkeypatch.setenv("ADMIN_TELEGRAM_IDS", str(admin))
    try:
        await r.send(admin, "/start")
        await r.press(admin, "✅ Sí, acepto", count=2)
        assert await grants() == [("gestora", None)]
        for name in ("Eco Lota", "Eco Tomé"):
            assert await cli("program", "create", "--template", "ecomercado-10m", "--start",
                             "2026-03-02", "--name", name) == 0
        assert await grants() == [("gestora", 1), ("gestora", 2)]
        async with r.app.sessions() as s:
            await programs.create(s, template="ecomercado-15m", start=date(2026, 3, 2),
                                  name="Eco Penco", now=r.app.clock.now())
            await s.commit()
        await r.send(admin, "/start")
        assert await grants() == [("gestora", 1), ("gestora", 2), ("gestora", 3)]
        [ask] = await r.send(admin, "/panel")
        assert [b["text"] for row in ask["reply_markup"]["inline_keyboard"] for b in row] == [
            "Eco Lota", "Eco Tomé", "Eco Penco"]
    finally:
        await stop(r)


# --- the command line never guesses which programme ----------------------------------------

# Every command that works on a programme, with what else it needs to run.
NEEDS_A_PROGRAMME: dict[tuple[str, ...], list[str]] = {
    ("timeline",): [],
    ("program", "set"): ["--comuna", "Lota"],
    ("admin", "add"): ["123456"],
    ("role", "grant"): ["1", "gestora"],
    ("role", "revoke"): ["1", "gestora"],
    ("role", "list"): [],
    ("meeting", "create"): ["--kind", "grupo_motor", "--date", "2026-07-01", "--time", "18:00"],
    ("meeting", "list"): [],
    ("attendance", "rates"): [],
    ("import",): ["organizations", "orgs.csv", "--yes"],
    ("codes",): ["families"],
    ("broadcast",): ["--target", "everyone", "--text", "Hola", "--yes"],
    ("fichas", "list"): [],
    ("fichas", "accept"): ["1"],
    ("delivery", "add"): ["--date", "2026-07-01", "--from", "10:00", "--to", "12:00"],
    ("delivery", "list"): [],
    ("delivery", "policy"): ["before_each"],
    ("export", "fichas"): ["--out", "fichas"],
    ("export", "organizations"): ["--out", "orgs.xlsx"],
    ("export", "progress"): ["--out", "avance.pdf"],
    ("family", "release"): ["Soto"],
    ("family", "without-consent"): [],
    ("verificadores",): [],
}
# There --program only checks the programme of the meeting the command names.
NAMED_BY_WHAT_IT_ACTS_ON = {("invite",)}


def _with_program_option(parser=None, path: tuple[str, ...] = ()) -> set[tuple[str, ...]]:
    import argparse

    from bot.cli import _parser

    parser = parser or _parser()
    found = {path} if any("--program" in a.option_strings for a in parser._actions) else set()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found |= _with_program_option(sub, (*path, name))
    return found


def test_every_command_with_a_program_option_is_tried_below() -> None:
    assert _with_program_option() == set(NEEDS_A_PROGRAMME) | NAMED_BY_WHAT_IT_ACTS_ON


@pytest.mark.parametrize("command", list(NEEDS_A_PROGRAMME), ids=" ".join)
def test_with_several_programmes_a_command_asks_which_and_does_nothing(
        cli_env: str, capsys, command: tuple[str, ...]) -> None:
    from pathlib import Path

    from bot.cli import main

    for name in ("Ecomercado Lota", "Ecomercado Tomé"):
        assert main(["program", "create", "--template", "ecomercado-10m", "--start",
                     "2026-03-02", "--name", name]) == 0
    Path("orgs.csv").write_text("nombre;tipo\nJunta de Vecinos Las Rosas;junta de vecinos\n",
                                encoding="utf-8")
    capsys.readouterr()
    assert main([*command, *NEEDS_A_PROGRAMME[command]]) == 1
    said = capsys.readouterr()
    assert said.out == ""
    assert said.err == ("convoca: Hay varios programas: di en cuál con --program.\n"
                        "  --program 1: Ecomercado Lota\n"
                        "  --program 2: Ecomercado Tomé\n")


def test_a_programme_that_is_not_there_is_named_and_the_only_one_needs_no_option(
        cli_env: str, capsys) -> None:
    from bot.cli import main

    assert main(["meeting", "list"]) == 1
    assert capsys.readouterr().err == (
        "convoca: Aún no hay programas. Crea uno con: convoca program create\n")
    assert main(["program", "create", "--template", "ecomercado-10m", "--start", "2026-03-02",
                 "--name", "Ecomercado Lota"]) == 0
    assert main(["delivery", "list", "--program", "7"]) == 1
    assert capsys.readouterr().err.endswith(
        "No hay un programa 7. Míralos con: convoca program list\n")
    assert main(["delivery", "list"]) == 0
    assert capsys.readouterr().out == "No hay días de entrega.\n"
    with pytest.raises(SystemExit):
        main(["delivery", "list", "--help"])
    assert "--program NÚMERO  número del programa (si hay uno solo, no hace falta)" in (
        capsys.readouterr().out)
