"""The command line and the console demo as an operator uses them: nothing but the
conversation on the screen (the log goes to a file), the README's commands as written, a
pipe into `head`, timelines read by date, and help in the operator's language."""

from __future__ import annotations

import asyncio
import codecs
import io
import os
import re
import shutil
import subprocess
import sys
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from leaks import assert_no_raw_keys
from test_qr_codes import FAMILIES_CSV, decode_qr, pages_as_png, pdf_text

from bot.app import build_app, run_telegram
from bot.cli import _parser, main
from bot.config import load_settings
from locales import Catalogs
from storage import db
from storage.models import LinkCode

ROOT = Path(__file__).resolve().parents[1]
LOG_RECORD = re.compile(r"\b(DEBUG|INFO|WARNING|ERROR)\b|fontTools|Traceback")


def convoca_process(*argv: str, env: dict[str, str] | None = None,
                    **kw) -> subprocess.CompletedProcess[str]:
    """`convoca ...` as its own process, in the operator's folder and environment."""
    env = {**(os.environ if env is None else env), "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "bot", *argv], cwd=os.getcwd(), env=env,
                          text=True, timeout=180, **kw)


def create_programme(start: str = "2026-03-02") -> None:
    assert main(["program", "create", "--template", "ecomercado-15m", "--start", start,
                 "--name", "Ecomercado Quilpué"]) == 0


# --- 1. log records go to the log, not to the screen -----------------------------------------


def test_a_pdf_export_prints_what_it_wrote_and_no_log_records(cli_env: str, capsys) -> None:
    create_programme()
    capsys.readouterr()
    proc = convoca_process("export", "organizations", "--format", "pdf", "--out", "orgs.pdf",
                           capture_output=True)
    assert proc.returncode == 0, proc.stderr
    # fpdf's font subsetting logged ~75 INFO lines of fontTools here.
    assert proc.stderr == ""
    assert proc.stdout.startswith("Escrito orgs.pdf") and len(proc.stdout.splitlines()) == 1
    assert Path("orgs.pdf").read_bytes().startswith(b"%PDF")


class Terminal:
    """A person at `convoca run --demo`: types a line once the console asks for one, and
    presses a button by its label, wherever it is numbered."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.decode = codecs.getincrementaldecoder("utf-8")()
        self.screen = ""

    async def prompt(self) -> str:
        chunk = ""
        while not chunk.endswith("\n> "):
            data = await asyncio.wait_for(self.proc.stdout.read(4096), 60)
            assert data, f"the console ended:\n{self.screen + chunk}"
            chunk += self.decode.decode(data)
        self.screen += chunk
        return chunk

    async def type(self, line: str) -> str:
        self.proc.stdin.write(line.encode() + b"\n")
        await self.proc.stdin.drain()
        return await self.prompt()

    async def press(self, answer: str, label: str) -> str:
        match = re.search(rf"\[(\d+)\] {re.escape(label)}", answer)
        assert match, f"no button {label!r} in:\n{answer}"
        return await self.type(match[1])


async def test_the_demo_conversation_shows_no_log_records(tmp_path: Path, monkeypatch) -> None:
    for var in ("DATABASE_URL", "TELEGRAM_BOT_TOKEN", "LOG_FILE", "DEFAULT_LOCALE"):
        monkeypatch.delenv(var, raising=False)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "run", "--demo", cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)}, stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        you = Terminal(proc)
        await you.prompt()
        await you.type("!persona 2")
        panel = await you.type("/panel")
        documents = await you.press(panel, "📄 Documentos")
        formats = await you.press(documents, "🏘 Organizaciones invitadas")
        sent = await you.press(formats, "PDF (para imprimir)")
        assert "📎 organizaciones-invitadas-" in sent
        proc.stdin.write(b"!salir\n")
        await proc.stdin.drain()
        rest, err = await asyncio.wait_for(proc.communicate(), 60)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    screen = you.screen + rest.decode()
    assert proc.returncode == 0, err.decode()
    assert err.decode() == ""  # the PDF's fontTools records went nowhere near the terminal
    assert not LOG_RECORD.search(screen), screen
    assert_no_raw_keys(screen, "the demo console")
    log = (tmp_path / "data" / "convoca.log").read_text()
    assert "INFO bot.demo: demo on" in log and "fontTools" not in log


def test_a_warning_reaches_the_operator_as_one_short_line(
        cli_env: str, capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    create_programme()
    capsys.readouterr()
    # A token, but Telegram cannot be reached: the codes are listed all the same.
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123456:ABCDEF-unreachable")
    monkeypatch.setenv("TELEGRAM_API_BASE", "http://127.0.0.1:9")
    assert main(["codes", "organizations"]) == 1
    out, err = capsys.readouterr()
    assert out == "No hay registros para esos códigos.\n"
    assert err == f"convoca: ⚠️ quedó un aviso en {Path('data') / 'convoca.log'}\n"
    log = Path("data/convoca.log").read_text()
    assert "WARNING bot.cli_outreach: could not ask Telegram" in log and "Traceback" in log


def test_verbose_raises_convocas_own_level_and_no_one_elses(cli_env: str, capsys,
                                                            monkeypatch) -> None:
    monkeypatch.setenv("LOG_FILE", "convoca-v.log")
    assert main(["status"]) == 0
    assert not Path("convoca-v.log").exists()  # nothing at INFO or above: no file at all
    assert main(["-v", "program", "create", "--template", "ecomercado-15m", "--start",
                 "2026-03-02", "--name", "Eco"]) == 0
    assert main(["-v", "export", "organizations", "--format", "pdf", "--out", "o.pdf"]) == 0
    out, err = capsys.readouterr()
    assert err == "" and not LOG_RECORD.search(out)
    log = Path("convoca-v.log").read_text()
    assert "DEBUG convoca: export on" in log
    assert "fontTools" not in log and "alembic" not in log


# --- 2. the README's commands, pipes, the timeline and the help --------------------------------


def two_families() -> None:
    create_programme()
    Path("familias.csv").write_bytes(FAMILIES_CSV)
    assert main(["import", "families", "familias.csv", "--yes"]) == 0


def codes_pdf() -> bytes:
    assert main(["codes", "families", "--pdf", "codes.pdf"]) == 0
    return Path("codes.pdf").read_bytes()


async def test_codes_pdf_as_the_readme_writes_it_needs_no_bot_name(
        cli_env: str, capsys, tmp_path: Path) -> None:
    await asyncio.to_thread(two_families)
    capsys.readouterr()
    pdf = await asyncio.to_thread(codes_pdf)
    assert capsys.readouterr().out == "Escribí 2 tarjetas en codes.pdf.\n"
    codes = await _codes(cli_env)
    text = " ".join(pdf_text(pdf, tmp_path).split())
    # No bot name ever seen: no link to put in a QR code, the code and how to send it.
    for code in codes:
        assert f"Envía {code} al chat del programa." in text
    [page] = pages_as_png(pdf, tmp_path)
    assert decode_qr(page) == []


async def test_codes_pdf_links_to_the_bot_a_telegram_run_has_seen(
        cli_env: str, capsys, fake_tg, tmp_path: Path) -> None:
    await asyncio.to_thread(two_families)
    # The bot ran on Telegram once, against this database.
    app = await build_app(load_settings(database_url=cli_env, telegram_bot_token=fake_tg.token,
                                        telegram_api_base=fake_tg.base_url, _env_file=None))
    running = asyncio.create_task(run_telegram(app))
    await fake_tg.wait_for_poll(timeout=60)
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    await app.close()
    capsys.readouterr()
    # Now, with no token at all, the cards link to that bot.
    [page] = pages_as_png(await asyncio.to_thread(codes_pdf), tmp_path)
    assert sorted(decode_qr(page)) == sorted(
        f"https://t.me/convoca_test_bot?start={c}" for c in await _codes(cli_env))


async def _codes(url: str) -> list[str]:
    from sqlalchemy import select

    engine = db.create_engine(url)
    async with db.session_factory(engine)() as s:
        codes = list((await s.scalars(select(LinkCode.code))).all())
    await engine.dispose()
    assert len(codes) == 2
    return codes


def _stdout_on(fd: int, *, buffered: bool) -> io.TextIOWrapper:
    """The sys.stdout the interpreter builds on ``fd`` (CPython's create_stdio): under
    PYTHONUNBUFFERED the text layer writes through to the descriptor itself, else through a
    BufferedWriter."""
    binary = open(fd, "wb", buffering=-1 if buffered else 0, closefd=False)
    return io.TextIOWrapper(binary, encoding="utf-8", errors="strict", newline="\n",
                            line_buffering=False, write_through=not buffered)


def _open_descriptors() -> int | None:
    fds = Path("/proc/self/fd")
    return len(list(fds.iterdir())) if fds.is_dir() else None


def main_for_a_reader_that_left(argv: list[str], *, buffered: bool) -> int:
    """`convoca ... | head`, in this process: bot.cli.main writing to a real pipe whose
    reading end is closed, through the stdout the interpreter would build; then what the
    interpreter does at exit. Returns the status the process would end with."""
    open_before = _open_descriptors()
    read, write = os.pipe()
    os.close(read)
    try:
        stdout = _stdout_on(write, buffered=buffered)
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(sys, "stdout", stdout)
            try:
                status = main(argv)
            except SystemExit as done:  # argparse's --help
                status = done.code or 0
        # At exit stdout is flushed (a failure there prints "Exception ignored ...
        # BrokenPipeError" and ends the process with 120), then closed.
        stdout.flush()
        stdout.close()
    finally:
        os.close(write)
    # This process runs every case: the command leaves no descriptor open behind it.
    assert _open_descriptors() == open_before
    return status


# Unbuffered (PYTHONUNBUFFERED), the first line already meets the closed pipe, inside the
# command; buffered (a shell's default), the command's last flush meets it, or a write once
# the buffer is full, or the flush at exit.
WRITES = {"unbuffered": False, "buffered": True}


@pytest.mark.parametrize("buffered", list(WRITES.values()), ids=list(WRITES))
@pytest.mark.parametrize("argv", [["--help"], ["timeline"], ["status"], ["program", "list"],
                                  ["meeting", "list"], ["delivery", "list"]])
def test_a_reader_that_leaves_early_is_no_error(cli_env: str, capsys, argv: list[str],
                                                buffered: bool) -> None:
    create_programme()
    capsys.readouterr()
    # `convoca timeline | head -0`: the reading end is closed before anything is written.
    assert main_for_a_reader_that_left(argv, buffered=buffered) in (0, 141)
    # No traceback, no "Exception ignored ... BrokenPipeError".
    assert capsys.readouterr() == ("", "")


def test_help_for_a_reader_that_left_as_its_own_process(cli_env: str) -> None:
    """The same for `convoca --help | head -0` in a process of its own, buffered as in a
    shell: the interpreter's own flush at exit, its status and all it says on stderr."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    read, write = os.pipe()
    os.close(read)
    try:
        proc = convoca_process("--help", stdout=write, stderr=subprocess.PIPE, env=env)
    finally:
        os.close(write)
    assert (proc.returncode, proc.stderr) in ((0, ""), (141, ""))


# Every command that prints, with what it needs to print (and not stop at an error) in the
# installation below; "+7" is a date a week from today. `run` is the console or the bot,
# `worker` a server: neither writes for a pipe.
PRINTING: dict[tuple[str, ...], list[str]] = {
    ("db", "upgrade"): [],
    ("program", "create"): ["--template", "ecomercado-10m", "--start", "+0", "--name", "Otro"],
    ("program", "templates"): [],
    ("program", "list"): [],
    ("template", "validate"): [str(ROOT / "domain" / "templates" / "ecomercado-10m.yaml")],
    ("program", "set"): ["--program", "1", "--comuna", "Quilpué"],
    ("timeline",): [],
    ("admin", "add"): ["777"],
    ("status",): [],
    ("role", "grant"): ["1", "coordinadora"],
    ("role", "revoke"): ["1", "coordinadora"],
    ("role", "list"): [],
    ("meeting", "create"): ["--kind", "grupo_motor", "--date", "+40", "--time", "18:00"],
    ("meeting", "list"): [],
    ("meeting", "move"): ["1", "--time", "19:00"],
    ("meeting", "cancel"): ["1"],
    ("meeting", "board"): ["1"],
    ("meeting", "invite"): ["1"],
    ("meeting", "reask"): ["1"],
    ("meeting", "close"): ["2"],
    ("attendance", "show"): ["1"],
    ("attendance", "mark"): ["2", "1", "present"],
    ("attendance", "add-guest"): ["1", "--name", "Rosa Pizarro"],
    ("attendance", "remove-guest"): ["1", "1"],
    ("attendance", "rates"): [],
    ("import",): ["families", "familias.csv", "--yes"],
    ("codes",): ["families"],
    ("broadcast",): ["--target", "everyone", "--text", "Hola", "--yes"],
    ("invite",): ["1", "--target", "everyone", "--yes"],
    ("fichas", "list"): [],
    ("fichas", "accept"): ["1"],
    ("delivery", "add"): ["--date", "+21", "--from", "10:00", "--to", "12:00"],
    ("delivery", "list"): [],
    ("delivery", "day"): ["1"],
    ("delivery", "cancel"): ["2"],
    ("delivery", "move"): ["1", "--family", "1", "--to", "2"],
    ("delivery", "reschedule"): ["1", "--date", "+8", "--from", "11:00", "--to", "13:00"],
    ("delivery", "policy"): [],
    ("export", "attendance"): ["1", "--out", "asistencia.pdf"],
    ("export", "fichas"): ["--out", "fichas"],
    ("export", "organizations"): ["--out", "organizaciones.xlsx"],
    ("export", "delivery"): ["1", "--out", "entrega.pdf"],
    ("export", "progress"): ["--out", "avance.pdf"],
    ("family", "release"): ["familia ñancupil"],
    ("family", "without-consent"): [],
    ("whatsapp", "templates", "list"): [],
    ("verificadores",): [],
}
NOT_FOR_A_PIPE = {("run",), ("worker",)}
# They speak to Meta's Cloud API: without its settings they say so and stop, nothing to pipe.
NOT_FOR_A_PIPE |= {("whatsapp", "templates", "push"), ("whatsapp", "templates", "sync")}


def _on(offset: str) -> str:
    return (date.today() + timedelta(days=int(offset))).isoformat() \
        if re.fullmatch(r"[+-]\d+", offset) else offset


@pytest.fixture(scope="module")
def installation(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A programme with families, an organisation, a gestora, an upcoming meeting and one
    that has begun, two delivery days (the families on the first) and a ficha from outside
    the catastro: what every command needs to print something."""
    from conftest import operator_environment

    folder = tmp_path_factory.mktemp("installation")
    url = f"sqlite+aiosqlite:///{folder / 'cli.sqlite3'}"
    with pytest.MonkeyPatch.context() as mp:
        operator_environment(mp)
        mp.chdir(folder)
        mp.setenv("DATABASE_URL", url)
        mp.setenv("LOG_FILE", str(folder / "convoca.log"))
        create_programme(_on("-10"))
        Path("familias.csv").write_bytes(FAMILIES_CSV)
        Path("orgs.csv").write_text("Nombre;Tipo\nJunta de Vecinos Las Rosas;Junta de vecinos\n",
                                    encoding="utf-8")
        for argv in (["import", "families", "familias.csv", "--yes"],
                     ["import", "organizations", "orgs.csv", "--yes"],
                     ["admin", "add", "555", "--name", "Gabriela Gestora"],
                     ["meeting", "create", "--kind", "grupo_motor", "--date", _on("+30"),
                      "--time", "18:00"],
                     ["delivery", "add", "--date", _on("+7"), "--from", "10:00", "--to", "12:00",
                      "--assign", "all"],
                     ["delivery", "add", "--date", _on("+14"), "--from", "10:00", "--to",
                      "12:00"],
                     ["attendance", "add-guest", "1", "--name", "Invitada Uno"]):
            assert main(argv) == 0, argv
        asyncio.run(_a_begun_meeting_and_a_ficha(url))
        Path("familias.csv").write_bytes(FAMILIES_CSV.replace(b"Familia ", b"Hogar "))
    return folder


async def _a_begun_meeting_and_a_ficha(url: str) -> None:
    from datetime import UTC

    from domain import forms
    from storage import admin_meetings, programs, responses
    from storage.models import Person

    engine = db.create_engine(url)
    now = datetime.now(UTC)
    async with db.session_factory(engine)() as s:
        program = await programs.get(s, 1)
        await admin_meetings.create_meeting(s, program, kind="grupo_motor",
                                            starts_at=now - timedelta(minutes=30),
                                            now=now - timedelta(days=1))
        sender = Person(name="Luis Muñoz", program_id=program.id, consent_at=now,
                        reachable=True, created_at=now)
        s.add(sender)
        await s.flush()
        form = forms.load_form("ficha_interes")
        response = await responses.start_response(
            s, await responses.ensure_definition(s, form, now), person_id=sender.id,
            organization_id=None, now=now, program_id=program.id)
        response.answers = {"organization_name": "Taller Laboral Renacer",
                            "organization_kind": "otra", "representative_role": "Tesorera"}
        await responses.submit(s, response, form, person_id=sender.id, signed_name=None, now=now)
        await s.commit()
    await engine.dispose()


def test_every_command_that_prints_is_tried_with_a_reader_that_left() -> None:
    leaves = {path for path in _commands() if path and not _subcommands(path)}
    assert leaves == set(PRINTING) | NOT_FOR_A_PIPE


def _subcommands(path: tuple[str, ...]) -> bool:
    return any(other[:len(path)] == path and len(other) > len(path) for other in _commands())


def _an_installation_of_its_own(installation: Path, folder: Path) -> None:
    for file in installation.iterdir():
        if file.is_file():
            shutil.copy(file, folder / file.name)


def _argv(command: tuple[str, ...]) -> list[str]:
    return [*command, *map(_on, PRINTING[command])]


@pytest.mark.parametrize("buffered", list(WRITES.values()), ids=list(WRITES))
@pytest.mark.parametrize("command", list(PRINTING), ids=" ".join)
def test_every_command_ends_quietly_when_its_reader_leaves(
        installation: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys,
        command: tuple[str, ...], buffered: bool) -> None:
    """`convoca delivery day 1 | head`: the reader leaves while the command still writes.
    In this process, on a real pipe whose reading end is closed: the two cases below run it
    as a process of its own."""
    from conftest import operator_environment

    _an_installation_of_its_own(installation, tmp_path)
    operator_environment(monkeypatch)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'cli.sqlite3'}")
    monkeypatch.setenv("LOG_FILE", str(tmp_path / "convoca.log"))
    status = main_for_a_reader_that_left(_argv(command), buffered=buffered)
    # 141 is what a shell reports for a command SIGPIPE ended: it did write, and stopped.
    assert status == 141
    assert capsys.readouterr() == ("", "")


@pytest.mark.parametrize(("command", "buffered"), [(("delivery", "day"), False),
                                                   (("export", "delivery"), True)],
                         ids=["delivery day unbuffered", "export delivery buffered"])
def test_a_command_as_its_own_process_ends_quietly_when_its_reader_leaves(
        installation: Path, tmp_path: Path, command: tuple[str, ...], buffered: bool) -> None:
    """The same, end to end: the interpreter's own stdout, its flush at exit, the status the
    process ends with and all it says on stderr."""
    _an_installation_of_its_own(installation, tmp_path)
    env = {**os.environ, "PYTHONPATH": str(ROOT),
           "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'cli.sqlite3'}",
           "LOG_FILE": str(tmp_path / "convoca.log")}
    env.pop("PYTHONUNBUFFERED", None)
    if not buffered:
        env["PYTHONUNBUFFERED"] = "1"
    read, write = os.pipe()
    os.close(read)
    try:
        proc = subprocess.run([sys.executable, "-m", "bot", *_argv(command)],
                              cwd=tmp_path, env=env, stdout=write, stderr=subprocess.PIPE,
                              text=True, timeout=180)
    finally:
        os.close(write)
    assert (proc.returncode, proc.stderr) == (141, "")


def test_a_command_that_fails_after_its_reader_left_still_says_why(
        cli_env: str, capsys, monkeypatch) -> None:
    """A command wrote some lines, the reader left (`| head`), then it could not go on: the
    operator still reads why on stderr, and the status is the failure's, not the pipe's."""
    from bot import commands

    async def prints_then_fails(settings, catalogs, args) -> int:
        print("una línea que nadie leerá")
        raise commands.CommandError("No existe la reunión 9.")

    monkeypatch.setattr(commands, "dispatch", prints_then_fails)
    read, write = os.pipe()
    os.close(read)
    with open(write, "w", encoding="utf-8") as gone, pytest.MonkeyPatch.context() as mp:
        mp.setattr(sys, "stdout", gone)
        status = main(["meeting", "board", "9"])
    assert status == 1
    assert capsys.readouterr().err == "convoca: No existe la reunión 9.\n"


def test_a_document_that_cannot_be_written_is_said_plainly(cli_env: str, capsys) -> None:
    """Bad input gets a short answer, never a traceback: here a path through a file."""
    two_families()
    Path("ocupado").write_text("un archivo, no una carpeta", encoding="utf-8")
    capsys.readouterr()
    for argv, path in ((["export", "organizations", "--out", "ocupado/o.xlsx"], "ocupado/o.xlsx"),
                       (["export", "fichas", "--out", "ocupado"], "ocupado/"),
                       (["codes", "families", "--pdf", "ocupado/c.pdf"], "ocupado/c.pdf")):
        assert main(argv) == 1
        said = capsys.readouterr()
        assert said.err.startswith(f"convoca: No pude escribir {path}"), said.err
        assert "Traceback" not in said.err and said.out == ""


def test_the_timeline_reads_by_date_within_each_stage(cli_env: str, capsys) -> None:
    create_programme()
    capsys.readouterr()
    assert main(["timeline", "--locale", "en"]) == 0
    rows = [ln.split(" · ") for ln in capsys.readouterr().out.splitlines()
            if ln.startswith("Stage ")]
    assert len(rows) == 17
    by_stage: dict[str, list[date]] = {}
    for stage, day, *_ in rows:
        by_stage.setdefault(stage, []).append(datetime.strptime(day, "%A %d %B %Y").date())
    assert list(by_stage) == ["Stage 1", "Stage 2", "Stage 3", "Stage 4"]
    for stage, days in by_stage.items():
        assert days == sorted(days), stage


def _commands(parser=None, path=()) -> list[tuple[str, ...]]:
    """Every command and subcommand of `convoca`, as the words typed before --help."""
    import argparse

    parser = parser or _parser()
    found = [path]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found += _commands(sub, (*path, name))
    return found


def _help(argv: tuple[str, ...], capsys) -> str:
    with pytest.raises(SystemExit) as done:
        main([*argv, "--help"])
    assert done.value.code == 0
    return capsys.readouterr().out  # read through the harness: no raw key in it


def test_every_help_is_in_spanish_by_default(cli_env: str, capsys) -> None:
    commands = _commands()
    assert len(commands) > 40
    for argv in commands:
        text = _help(argv, capsys)
        assert text.startswith("uso: convoca"), argv
        assert "opciones:" in text and "-h, --help  " in text and "muestra esta ayuda" in text
        assert not re.search(r"\b(usage|options|show this help)\b", text), text
    text = _help(("program", "create"), capsys)
    assert "crea un programa a partir de una plantilla" in text
    assert "--start INICIO" in text and "inicio del convenio, AAAA-MM-DD" in text
    assert "reunión" in _help(("meeting", "move"), capsys)


def test_every_positional_argument_is_named_in_the_operators_words() -> None:
    """An argument's name shows in the help's usage line ("convoca codes ... [código]"):
    each positional one has its word in the catalogs, not its English variable name."""
    import argparse

    keys = Catalogs().keys("es")

    def untranslated(parser: argparse.ArgumentParser, path: tuple[str, ...]) -> list[str]:
        out = []
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    out += untranslated(sub, (*path, name))
            elif not action.option_strings and action.choices is None \
                    and f"cli.metavar.{action.dest}" not in keys:
                out.append(f"{' '.join(path)}: {action.dest}")
        return out

    assert untranslated(_parser(), ()) == []


@pytest.mark.parametrize("env", [{"DEFAULT_LOCALE": "en"}, {"LANG": "en_US.UTF-8"}])
def test_help_in_english_when_the_operator_asks(cli_env: str, capsys, monkeypatch, env) -> None:
    for var, value in env.items():
        monkeypatch.setenv(var, value)
    for argv in _commands():
        text = _help(argv, capsys)
        assert text.startswith("usage: convoca") and "show this help message and exit" in text
    text = _help(("program", "create"), capsys)
    assert "create a programme from a template" in text and "--start START" in text


def test_argparse_errors_are_in_the_operators_language(cli_env: str, capsys,
                                                        monkeypatch) -> None:
    cases = [
        (["meeting", "move"], "convoca meeting move: error: faltan estos argumentos: reunión"),
        (["db"], "convoca db: error: faltan estos argumentos: {upgrade}"),
        (["timeline", "--program", "x"],
         "convoca timeline: error: argumento --program: 'x' no es un valor válido"),
        (["role", "grant", "1", "reina"],
         "convoca role grant: error: argumento role: 'reina' no es una opción (elige entre"),
        (["meeting", "create", "--kind", "k", "--date", "2026-04-07", "--time", "25:00"],
         "convoca meeting create: error: argumento --time: «25:00» no es una hora; "
         "escríbela como 18:30"),
        (["timeline", "--zz"], "convoca: error: no conozco estos argumentos: --zz"),
    ]
    for argv, message in cases:
        with pytest.raises(SystemExit) as done:
            main(argv)
        assert done.value.code == 2
        err = capsys.readouterr().err
        assert err.startswith("uso: convoca") and message in err, err
    monkeypatch.setenv("DEFAULT_LOCALE", "en")
    with pytest.raises(SystemExit):
        main(["meeting", "move"])
    assert "error: the following arguments are required: meeting" in capsys.readouterr().err
