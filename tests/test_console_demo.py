"""The console channel and `convoca run --demo`: the same core, offline, with a movable clock."""

from __future__ import annotations

import io
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select

from bot.app import build_app
from bot.commands import run_console
from bot.demo import run_demo
from storage.models import Family, Meeting, Organization, OutboxMessage, OutboxStatus, Program

ROOT = Path(__file__).resolve().parents[1]


async def test_console_runs_registration_on_the_same_core(settings_for, sqlite_url) -> None:
    app = await build_app(settings_for(sqlite_url))
    out = io.StringIO()
    await run_console(app, stdin=io.StringIO("/start\n1\n/ayuda\n/salir\n"), out=out)
    await app.close()
    text = out.getvalue()
    assert "Para conectar Telegram, define TELEGRAM_BOT_TOKEN" in text
    assert "¿Aceptas?" in text and "[1] ✅ Sí, acepto" in text
    assert "¡Gracias! 🙌" in text and "[0] 📱 Compartir mi número" in text
    assert "/idioma: cambiar el idioma" in text


async def test_demo_seeds_a_programme_and_moving_the_clock_fires_reminders(
    settings_for, tmp_path: Path
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'demo.sqlite3'}"
    out = io.StringIO()
    # María José (person 5) accepts her Grupo Motor invitation; the others never answer.
    script = ("!personas\n!persona 5\n1\n!avanzar 1d\n!avanzar 1d\n!persona 1\n/start\n"
              "!salir\n")
    # Monday 2 March 2026, 10:00 in Santiago: the Grupo Motor meets on Wednesday at 18:00.
    start = datetime(2026, 3, 2, 13, 0, tzinfo=UTC)
    await run_demo(settings_for(url), stdin=io.StringIO(script), out=out, start=start)
    text = out.getvalue()
    app = await build_app(settings_for(url))
    async with app.sessions() as s:
        program = await s.scalar(select(Program))
        assert program.template_key == "ecomercado-15m"
        assert await s.scalar(select(func.count()).select_from(Organization)) == 8
        assert await s.scalar(select(func.count()).select_from(Family)) == 30
        assert await s.scalar(select(func.count()).select_from(Meeting)) == 2
        sent = list(await s.scalars(
            select(OutboxMessage).where(OutboxMessage.status == OutboxStatus.SENT)))
    await app.close()
    # The role once, in words, after the name (the name holds no role of its own).
    assert "2. Daniela Vergara · Gestión comunitaria\n" in text
    assert "3. Rodrigo Salinas · Coordinación\n" in text
    assert "Ahora escribes como: María José Araya · Grupo Motor, Representante" in text
    assert "Te invitamos a: Sesión mensual del Grupo Motor" in text
    assert re.search(r"Recordatorio: Sesión mensual del Grupo Motor", text)
    kinds = [r.kind for r in sent]
    assert kinds.count("meeting_reminder") == 1  # María José, the evening before
    assert kinds.count("meeting_reask") == 4  # the four who did not answer, the day before
    assert "Reloj simulado: martes 3 de marzo, 10:00" in text
    assert text.index("Reloj simulado: miércoles 4 de marzo, 10:00") < text.index("Recordatorio:")
    assert "¿Aceptas?" in text  # person 1 is a newcomer who has not registered yet


def test_readme_commands_are_the_ones_ci_runs() -> None:
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "<!-- test-command -->" in readme and "<!-- run-command -->" in readme
    extracted = subprocess.run(
        ["awk", "/<!-- test-command -->/{found=1; next} found && /^```sh/{getline; print; exit}",
         str(ROOT / "README.md")], capture_output=True, text=True, check=True).stdout.strip()
    assert extracted.endswith("pytest -q") and "pip install" in extracted
    assert 'bash -c "$cmd"' in ci


def test_python_dash_m_bot_is_the_same_program() -> None:
    proc = subprocess.run([sys.executable, "-m", "bot", "--help"], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0 and "program" in proc.stdout and "timeline" in proc.stdout
