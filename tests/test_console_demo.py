"""The console channel and `convoca run --demo`: the same core, offline, with a movable clock."""

from __future__ import annotations

import asyncio
import io
import queue
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select

from bot.app import build_app
from bot.commands import run_console
from bot.demo import run_demo
from storage.models import (
    Family,
    Meeting,
    Organization,
    OutboxMessage,
    OutboxStatus,
    Person,
    Program,
    Rsvp,
    RsvpAnswer,
)

ROOT = Path(__file__).resolve().parents[1]


async def test_console_runs_registration_on_the_same_core(settings_for, sqlite_url,
                                                          screen) -> None:
    app = await build_app(settings_for(sqlite_url))
    out = screen
    await run_console(app, stdin=io.StringIO("/start\n1\n/ayuda\n/salir\n"), out=out)
    await app.close()
    text = out.getvalue()
    assert "Para conectar Telegram, define TELEGRAM_BOT_TOKEN" in text
    assert "¿Aceptas?" in text and "[1] ✅ Sí, acepto" in text
    assert "¡Gracias! 🙌" in text and "[0] 📱 Compartir mi número" in text
    assert "/idioma: cambiar el idioma" in text


async def test_demo_seeds_a_programme_and_moving_the_clock_fires_reminders(
    settings_for, tmp_path: Path, screen
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'demo.sqlite3'}"
    out = screen
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


# --- the demo as a person uses it: line by line, reading the screen --------------------------

# Monday 2 March 2026, 10:00 in Santiago: the Grupo Motor meets on Wednesday 4 at 18:00, the
# Consejo Local on Wednesday 11 at 17:00; Jorge Fuentes (person 8) is invited to both.
MONDAY = datetime(2026, 3, 2, 13, 0, tzinfo=UTC)
JORGE, MARIA_JOSE = 8, 5


class Typist:
    """Types a line each time the console asks for one (its prompt), and reads what the
    console printed in answer."""

    def __init__(self, screen) -> None:
        self.screen = screen
        self.lines: queue.Queue[str] = queue.Queue()

    def readline(self) -> str:  # the console reads its input from here, in a thread
        return self.lines.get(timeout=60)

    def _prompts(self) -> int:
        return self.screen.getvalue().count("\n> ")

    async def ready(self, prompts: int = 1) -> None:
        for _ in range(600):
            if self._prompts() >= prompts:
                return
            await asyncio.sleep(0.05)
        raise AssertionError("the console stopped asking:\n" + self.screen.getvalue())

    async def type(self, line: str) -> str:
        before, seen = self._prompts(), len(self.screen.getvalue())
        self.lines.put(line + "\n")
        await self.ready(before + 1)
        return self.screen.getvalue()[seen:]


def button(answer: str, label: str, nth: int = 0) -> str:
    """The number printed next to a button in the console's answer."""
    numbers = re.findall(rf"\[(\d+)\] {re.escape(label)}", answer)
    assert len(numbers) > nth, f"no button {label!r} in:\n{answer}"
    return numbers[nth]


async def demo(settings_for, tmp_path: Path, screen):
    url = f"sqlite+aiosqlite:///{tmp_path / 'demo.sqlite3'}"
    you = Typist(screen)
    task = asyncio.create_task(run_demo(settings_for(url), stdin=you, out=screen, start=MONDAY))
    await you.ready()
    return you, task, url


async def leave(you: Typist, task: asyncio.Task) -> None:
    you.lines.put("!salir\n")
    await asyncio.wait_for(task, 60)


async def answers(settings_for, url: str, person_id: int) -> dict[str, str | None]:
    app = await build_app(settings_for(url))
    async with app.sessions() as s:
        rows = (await s.execute(select(Meeting.kind, Rsvp.answer).join(Meeting)
                                .where(Rsvp.person_id == person_id))).all()
    await app.close()
    return dict(rows)


async def test_every_messages_buttons_keep_working(settings_for, tmp_path: Path, screen
                                                   ) -> None:
    you, task, url = await demo(settings_for, tmp_path, screen)
    try:
        await you.type(f"!persona {JORGE}")
        listed = await you.type("/reuniones")
        assert listed.index("Sesión mensual del Grupo Motor") < listed.index(
            "Sesión del Consejo Local")
        # The first meeting's buttons still work once the second one is on the screen.
        first_yes, second_no = button(listed, "Asistiré", 0), button(listed, "No podré", 1)
        assert first_yes != second_no
        assert "Te esperamos el miércoles 4 de marzo, 18:00" in await you.type(first_yes)
        assert await answers(settings_for, url, JORGE) == {
            "grupo_motor": RsvpAnswer.YES, "consejo_local": None}
        assert "no podrás ir" in await you.type(second_no)
        assert await answers(settings_for, url, JORGE) == {
            "grupo_motor": RsvpAnswer.YES, "consejo_local": RsvpAnswer.NO}
    finally:
        await leave(you, task)


async def test_typing_a_buttons_label_presses_it(settings_for, tmp_path: Path, screen) -> None:
    you, task, url = await demo(settings_for, tmp_path, screen)
    try:
        await you.type(f"!persona {MARIA_JOSE}")
        await you.type("/reuniones")
        # Without its emoji, accents or capitals, as people type it.
        assert "Te esperamos el miércoles 4 de marzo" in await you.type("asistire")
        assert (await answers(settings_for, url, MARIA_JOSE))["grupo_motor"] == RsvpAnswer.YES
        # Two meetings on the screen, both with "Asistiré": which one is not guessed.
        await you.type(f"!persona {JORGE}")
        await you.type("/reuniones")
        assert "Hay más de un botón «Asistiré»" in await you.type("ASISTIRÉ")
        assert await answers(settings_for, url, JORGE) == {
            "grupo_motor": None, "consejo_local": None}
    finally:
        await leave(you, task)


async def test_people_keep_their_numbers_when_someone_is_erased(settings_for, tmp_path: Path,
                                                                screen) -> None:
    you, task, url = await demo(settings_for, tmp_path, screen)
    try:
        before = await you.type("!personas")
        assert "  5. María José Araya" in before and "  6. Luis Muñoz" in before
        assert "  7. Carolina Pérez" in before
        await you.type("!persona 6")
        asked = await you.type("/borrar_mis_datos")
        assert "borré tus datos" in await you.type(button(asked, "🗑️ Sí, borrar"))
        after = await you.type("!personas")
        assert "Luis Muñoz" not in after and "  6. " not in after
        assert "  5. María José Araya" in after and "  7. Carolina Pérez" in after
        assert "Ahora escribes como: Carolina Pérez" in await you.type("!persona 7")
        assert "No hay una persona con ese número" in await you.type("!persona 6")
    finally:
        await leave(you, task)
    app = await build_app(settings_for(url))
    async with app.sessions() as s:
        assert (await s.get(Person, 7)).name == "Carolina Pérez"
    await app.close()
