"""A programme team's own template and form, written from docs/templates.md alone: checked
by `convoca template validate`, loaded from TEMPLATES_DIR, copied into the programme when it
is made, and still working (timeline, status, reminders, documents, the form in chat) once
the files are gone. And each kind of mistake named at its line and field."""

from __future__ import annotations

import asyncio
import shutil
from datetime import UTC, date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from core_harness import CoreHarness
from sqlalchemy import select

from bot.app import StartupError, build_app
from bot.cli import main
from bot.config import load_settings
from documents import verificadores
from documents.base import Ctx
from documents.registry import Request
from scheduler.planner import at_local
from scheduler.runner import NoticeScheduler
from services import notices
from storage import people
from storage.clock import ManualClock
from storage.models import ChannelAddress, Person, Program

DATA = Path(__file__).resolve().parent / "data" / "templates"
SCL = ZoneInfo("America/Santiago")
START = date(2026, 3, 2)


@pytest.fixture
def team(cli_env: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The fixture's files outside the package, TEMPLATES_DIR naming their folder."""
    folder = tmp_path / "team"
    shutil.copytree(DATA, folder)
    monkeypatch.setenv("TEMPLATES_DIR", str(folder))
    return folder


def at(text: str, needle: str) -> str:
    index = text.index(needle)
    return f"{text.count(chr(10), 0, index) + 1}:{index - (text.rfind(chr(10), 0, index) + 1) + 1}"


async def tick_until(app, clock: ManualClock, until: datetime) -> list[tuple[str, int, datetime]]:
    sched = NoticeScheduler(app.sessions, clock, notices.compose,
                            after_queued=notices.after_queued)
    fired = [(n.kind, n.person_id, clock.now()) for n in (await sched.tick()).queued]
    while (nxt := await sched.next_fire()) is not None and nxt <= until:
        clock.set(nxt)
        fired += [(n.kind, n.person_id, clock.now()) for n in (await sched.tick()).queued]
    return fired


async def gestora_id(app) -> int:
    """The gestora `convoca admin add` made, once she has accepted (notices go to those who
    did)."""
    async with app.sessions() as s:
        pid = await s.scalar(select(ChannelAddress.person_id)
                             .where(ChannelAddress.address == "4242"))
        person = await s.get(Person, pid)
        person.consent_at = app.clock.now()
        await s.commit()
        return pid


def test_a_template_from_the_docs_works_after_its_files_are_gone(team: Path, capsys) -> None:
    tpl, form = team / "huerta-comunitaria.yaml", team / "forms" / "inscripcion_huerta.yaml"
    assert main(["template", "validate", str(tpl), str(form)]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"{tpl}: OK, plantilla «huerta-comunitaria»: 2 etapas, 3 hitos, 1 formularios",
        f"{form}: OK, formulario «inscripcion_huerta»: 2 preguntas",
    ]
    assert main(["program", "templates"]) == 0
    assert "huerta-comunitaria" in capsys.readouterr().out.split()
    assert main(["admin", "add", "4242", "--role", "gestora"]) == 0
    assert main(["program", "create", "--template", str(tpl), "--start", START.isoformat(),
                 "--name", "Huerta Villa Alegre"]) == 0
    tpl.unlink()
    form.unlink()  # the folder stays, empty: TEMPLATES_DIR still names it
    capsys.readouterr()

    assert main(["timeline", "--locale", "en"]) == 0
    timeline = capsys.readouterr().out
    for name in ("First assembly", "Committee meetings", "Progress report"):
        assert name in timeline
    assert main(["status"]) == 0
    assert capsys.readouterr().out.strip()

    async def the_rest() -> None:
        clock = ManualClock(at_local(START, time(7), SCL))
        app = await build_app(load_settings(), clock=clock)
        try:
            gestora = await gestora_id(app)
            # The first assembly is due on 22 March; reminders 5 and 1 days before.
            fired = await tick_until(app, clock, at_local(date(2026, 3, 23), time(0), SCL))
            soon = sorted(t.astimezone(SCL).date() for k, p, t in fired
                          if k == "milestone_soon" and p == gestora)
            assert soon == [date(2026, 3, 17), date(2026, 3, 21)]

            async with app.sessions() as s:
                program = await s.scalar(select(Program))
                ctx = Ctx(app.catalogs, "es", program.timezone, clock.now())
                [made] = await verificadores.make(Request(s, program, "invitados", ctx,
                                                          fmt="xlsx"))
                assert made.content.startswith(b"PK")  # an xlsx: a zip
                person = await people.create_with_address(
                    s, "telegram", "77", clock.now(), consent_at=clock.now(), locale="es",
                    program_id=program.id)
                await s.commit()
            assert person.id
            core = CoreHarness(app)
            replies = await core.text("77", "/huerta")
            text = "\n".join(r.text for r in replies)
            assert "Inscripción en la huerta" in text
            assert "¿Cuál es tu nombre completo?" in text
            [menu] = await core.text("77", "/formularios")
            assert [label for label, _ in menu.buttons] == ["Inscripción en la huerta"]
        finally:
            await app.close()

    asyncio.run(the_rest())


def test_a_programme_made_from_a_path_survives_the_file(cli_env: str, tmp_path: Path,
                                                        capsys) -> None:
    """The issue's report: `program create --template /path/x.yaml`, then the file gone, and
    `convoca status` and the scheduler's tick failed every minute."""
    source = Path(__file__).resolve().parents[1] / "domain" / "templates" / "ecomercado-10m.yaml"
    path = tmp_path / "elsewhere" / "x.yaml"
    path.parent.mkdir()
    path.write_text(source.read_text(encoding="utf-8").replace(
        "key: ecomercado-10m", "key: x", 1), encoding="utf-8")
    assert main(["admin", "add", "4242", "--role", "gestora"]) == 0
    assert main(["program", "create", "--template", str(path), "--start", START.isoformat(),
                 "--name", "Eco"]) == 0
    path.unlink()
    assert main(["status"]) == 0
    assert main(["timeline"]) == 0
    capsys.readouterr()

    async def tick() -> None:
        clock = ManualClock(at_local(START, time(7), SCL))
        app = await build_app(load_settings(), clock=clock)
        try:
            gestora = await gestora_id(app)
            fired = await tick_until(app, clock, at_local(date(2026, 3, 16), time(0), SCL))
            # The socialisation is due on 15 March: 7 days and 1 day before.
            assert sorted(t.astimezone(SCL).date() for k, p, t in fired
                          if k == "milestone_soon" and p == gestora) == [
                date(2026, 3, 8), date(2026, 3, 14)]
        finally:
            await app.close()

    asyncio.run(tick())


# --------------------------------------------------------------------------- mistakes


def validate(capsys, *files: Path) -> tuple[int, list[str]]:
    capsys.readouterr()
    status = main(["template", "validate", *map(str, files)])
    return status, capsys.readouterr().out.splitlines()


def broken(team: Path, old: str, new: str) -> tuple[Path, str]:
    path = team / "huerta-comunitaria.yaml"
    text = path.read_text(encoding="utf-8")
    assert old in text
    text = text.replace(old, new, 1)
    path.write_text(text, encoding="utf-8")
    return path, text


@pytest.mark.parametrize(("old", "new", "needle", "expected"), [
    # a wrong field: the unknown key's value
    ("    min_members: 3\n", "    min_members: 3\n    colour: green\n", "green",
     "bodies[0].colour: campo desconocido (aquí no va; revisa cómo se escribe)"),
    # a missing field: the mapping that lacks it
    ("    cadence_months: 1\n", "", "key: comite\n",
     "bodies[0].cadence_months: falta este campo, que es obligatorio"),
    # a bad type
    ("        min_sessions: 1\n        verifiers: [invitados",
     "        min_sessions: \"1\"\n        verifiers: [invitados", "\"1\"",
     "stages[0].activities[0].min_sessions: debe ser un número entero"),
    # a form nobody wrote
    ("  - form: inscripcion_huerta", "  - form: inscripcion_granja", "inscripcion_granja",
     "forms[0].form: no hay un formulario «inscripcion_granja» (hay: compromiso_participacion, "
     "declaracion_compromiso, declaracion_integrantes, ficha_cooperativa, ficha_interes, "
     "inscripcion_huerta, postulacion_comunidad, registro_cooperativa)"),
    # a command Convoca already answers
    ("    command: huerta", "    command: ayuda", "ayuda",
     "forms[0].command: /ayuda es uno de los comandos de Convoca; elige otro"),
])
def test_each_mistake_is_named_at_its_line(team: Path, capsys, old, new, needle,
                                           expected) -> None:
    path, text = broken(team, old, new)
    status, lines = validate(capsys, path)
    assert status == 1
    assert lines == [f"{path}:{at(text, needle)}: {expected}"]


def test_a_yaml_syntax_error_is_named_at_its_line(team: Path, capsys) -> None:
    path, text = broken(team, "name: {es: Huerta comunitaria, en: Community garden}",
                        "name: {es: Huerta comunitaria, en: Community garden")
    status, [line] = validate(capsys, path)
    assert status == 1
    # Where the parser found the mapping unclosed: the next line's value.
    assert line == (f"{path}:4:16: invalid YAML: while parsing a flow mapping: did not find "
                    "expected ',' or '}'")


def test_two_forms_on_one_command_and_a_shipped_name(team: Path, capsys) -> None:
    path, text = broken(team, "forms:\n", "forms:\n  - form: ficha_interes\n"
                                          "    command: huerta\n")
    status, lines = validate(capsys, path)
    assert status == 1
    second = text.index("command: huerta", text.index("inscripcion_huerta")) + len("command: ")
    line = text.count("\n", 0, second) + 1
    col = second - text.rfind("\n", 0, second)
    assert lines == [f"{path}:{line}:{col}: forms[1].command: /huerta ya abre forms[0]"]
    shipped = team / "ecomercado-10m.yaml"
    shutil.copy(Path(__file__).resolve().parents[1] / "domain/templates/ecomercado-10m.yaml",
                shipped)
    status, lines = validate(capsys, shipped)
    text = shipped.read_text(encoding="utf-8")
    assert status == 1 and lines == [
        f"{shipped}:{at(text, 'ecomercado-10m')}: key: «ecomercado-10m» ya es el nombre de una "
        "plantilla o formulario que trae Convoca; dale otro nombre"]


def test_a_file_that_cannot_be_read_is_status_2(team: Path, capsys) -> None:
    status, lines = validate(capsys, team / "huerta-comunitaria.yaml", team / "nada.yaml")
    assert status == 2
    assert lines[1] == f"{team / 'nada.yaml'}: no se puede leer (No such file or directory)"


def test_a_bad_file_in_the_folder_stops_start_up_naming_its_line(team: Path) -> None:
    broken(team, "duration_months: 6\n", "duration_months: six\n")

    async def start() -> None:
        with pytest.raises(StartupError) as info:
            await build_app(load_settings(), clock=ManualClock(datetime(2026, 3, 1, tzinfo=UTC)))
        detail = info.value.message.params["detail"].text
        assert detail == (f"{team / 'huerta-comunitaria.yaml'}:4:18: duration_months: "
                          "debe ser un número entero")

    asyncio.run(start())

