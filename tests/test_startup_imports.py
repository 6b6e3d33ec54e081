"""What `convoca run` loads at start: only what the channels it runs use. The console (the demo,
or Convoca without a token) loads no Telegram library, Convoca on Telegram only the chosen
driver's (TELEGRAM_DRIVER), and nothing loads a document library (PDF, workbook, image, QR
code, calendar) before a document is made: each costs every start-up its import time and
memory for something made now and then (issue 16).

Each test runs the real command line in a process of its own, which on its way out writes the
top-level modules it loaded."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Either Telegram driver's library and the HTTP clients it brings (aiohttp for both drivers
# and WhatsApp; PTB imports httpx, its default transport, though Convoca's requests go over
# aiohttp); the console is neither.
TELEGRAM = {"aiogram", "aiohttp", "telegram", "httpx"}
# Each driver's library, and what only the other one brings.
DRIVER_LIBRARY = {"ptb": "telegram", "aiogram": "aiogram"}
OTHER_DRIVER = {"ptb": {"aiogram"}, "aiogram": {"telegram", "httpx"}}
# What draws a document: PDF (fpdf2, with the fontTools and Pillow it loads), workbook, QR
# code, calendar file.
DOCUMENTS = {"fpdf", "fontTools", "PIL", "openpyxl", "segno", "icalendar"}
# What the console's start-up does load: the database, and the panel's web server.
STARTED = {"sqlalchemy", "aiosqlite", "starlette", "uvicorn"}

# `python -c PROBE FILE ARGS...`: `convoca ARGS...`, then the modules it loaded into FILE.
PROBE = """\
import json, sys
from pathlib import Path

from bot.cli import main

status = main(sys.argv[2:])
Path(sys.argv[1]).write_text(json.dumps(sorted({m.partition(".")[0] for m in sys.modules})))
raise SystemExit(status)
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def convoca(tmp_path: Path, *args: str, **env: str) -> tuple[list[str], dict[str, str]]:
    """The command and its environment: Convoca's settings only as given (the panel on a
    port of its own), run in ``tmp_path`` (the demo's database is ./data/demo.sqlite3)."""
    base = {k: os.environ[k] for k in ("PATH", "HOME", "TMPDIR", "LANG") if k in os.environ}
    env = {**base, "PYTHONPATH": str(ROOT), "HTTP_LISTEN": f"127.0.0.1:{free_port()}", **env}
    return [sys.executable, "-c", PROBE, str(tmp_path / "loaded.json"), *args], env


def loaded(tmp_path: Path) -> set[str]:
    return set(json.loads((tmp_path / "loaded.json").read_text()))


def run_console(tmp_path: Path, *args: str, typed: str = "") -> tuple[set[str], str]:
    command, env = convoca(tmp_path, *args)
    proc = subprocess.run(command, input=typed, capture_output=True, text=True, cwd=tmp_path,
                          env=env, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return loaded(tmp_path), proc.stdout


@pytest.mark.parametrize("args", [("run", "--demo"), ("run", "--demo", "--channel", "whatsapp"),
                                  ("run",)], ids=["demo", "demo-as-whatsapp", "no-token"])
def test_the_console_loads_no_telegram_and_no_document_library(tmp_path: Path,
                                                               args: tuple[str, ...]) -> None:
    """The demo, as its console shows it and as WhatsApp would, and Convoca without a token:
    start-up, the panel listening, then the console's end (nothing typed)."""
    modules, out = run_console(tmp_path, *args)
    assert "/web/" in out, out  # the panel's link: it was mounted and listening
    assert STARTED <= modules  # the probe sees what start-up loads
    assert sorted(modules & (TELEGRAM | DOCUMENTS)) == []


def test_a_document_library_loads_once_a_document_is_made(tmp_path: Path) -> None:
    """María José (the demo's person 5) asks for her invitation's calendar file, then for her
    data as a PDF: both are made, and only now are their libraries loaded."""
    modules, out = run_console(tmp_path, "run", "--demo",
                               typed="!persona 5\n4\n/mis_datos\n!salir\n")
    assert "📎 convoca-1.ics" in out and ".pdf (" in out, out
    assert {"icalendar", "fpdf"} <= modules


async def run_on_telegram(fake_tg, sqlite_url: str, tmp_path: Path, **driver: str
                          ) -> set[str]:
    """`convoca run` with a token, from exec to its first getUpdates, then stopped: the
    modules it loaded."""
    command, env = convoca(tmp_path, "run", TELEGRAM_BOT_TOKEN=fake_tg.token,
                           TELEGRAM_API_BASE=fake_tg.base_url, DATABASE_URL=sqlite_url,
                           **driver)
    proc = await asyncio.create_subprocess_exec(
        *command, cwd=tmp_path, env=env, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT)
    try:
        await fake_tg.wait_for_poll(timeout=60)
        proc.send_signal(signal.SIGTERM)
        out, _ = await asyncio.wait_for(proc.communicate(), 30)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0, out.decode()
    return loaded(tmp_path)


async def test_convoca_on_telegram_loads_its_driver_alone_and_no_document_library(
        fake_tg, sqlite_url, tmp_path: Path) -> None:
    """The chosen driver's library and the panel, not the other driver's (the fake takes
    requests from the chosen one's only), no document library."""
    driver = fake_tg.driver
    modules = await run_on_telegram(fake_tg, sqlite_url, tmp_path, TELEGRAM_DRIVER=driver)
    assert {DRIVER_LIBRARY[driver], "sqlalchemy", "starlette", "uvicorn"} <= modules
    assert sorted(modules & (OTHER_DRIVER[driver] | DOCUMENTS)) == []


@pytest.mark.parametrize("telegram_driver", ["ptb"])  # what the fake expects
async def test_without_telegram_driver_convoca_runs_on_python_telegram_bot(
        fake_tg, sqlite_url, tmp_path: Path) -> None:
    """The default (README: it meets the start-up and memory targets, aiogram does not)."""
    modules = await run_on_telegram(fake_tg, sqlite_url, tmp_path)
    assert "telegram" in modules and "aiogram" not in modules
