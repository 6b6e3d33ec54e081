"""`convoca run --demo --channel whatsapp`: the demo as WhatsApp would show it, offline. Up to
3 options as reply buttons, up to 10 as a list behind its button, more as pages with "more";
no edits (a new state is a new message, progress only now and then); no phone button; days
as a list or a typed date; and what goes out after the person's 24-hour window has closed
marked as the template it would have to be."""

from __future__ import annotations

import asyncio
import io
import re
from datetime import date, timedelta
from pathlib import Path

import pytest
from test_console_demo import JORGE, MARIA_JOSE, MONDAY, Typist, answers, button

from bot.app import build_app, console_look
from bot.cli import main
from bot.commands import run_console
from bot.console import CAPABILITIES, ConsoleChannel, Look
from bot.demo import run_demo
from bot.whatsapp import CAPABILITIES as WHATSAPP_CAPABILITIES
from handlers.buttons import ButtonCodec
from locales import Catalogs, Msg
from services.messages import Button, DatePick, Outgoing
from storage.clock import ManualClock
from storage.models import OutboxMessage, RsvpAnswer

NEVER_WROTE = "[plantilla: aún no ha escrito al bot]"
WINDOW_CLOSED = "[plantilla: pasaron más de 24 horas desde su último mensaje]"
LIST = "☰ Ver opciones"


async def whatsapp_demo(settings_for, tmp_path: Path, screen):
    url = f"sqlite+aiosqlite:///{tmp_path / 'demo.sqlite3'}"
    you = Typist(screen)
    task = asyncio.create_task(run_demo(settings_for(url), stdin=you, out=screen, start=MONDAY,
                                        channel="whatsapp"))
    await you.ready()
    return you, task, url


async def leave(you: Typist, task: asyncio.Task) -> None:
    you.lines.put("!salir\n")
    await asyncio.wait_for(task, 60)


def messages(answer: str) -> list[str]:
    """Each message the bot sent, as printed (a 🤖 line and its indented body)."""
    return [m.strip("\n") for m in answer.split("\n🤖")[1:]]


def options_of(message: str) -> tuple[list[str], list[str]]:
    """A message's reply buttons and its list rows, by their titles."""
    head, _, rows = message.partition(LIST)
    pick = re.compile(r"^\s*\[\d+\] (.+)$", re.M)
    return pick.findall(head), pick.findall(rows)


async def test_the_demo_speaks_whatsapps_limits_and_marks_templates(settings_for, tmp_path,
                                                                    screen) -> None:
    you, task, url = await whatsapp_demo(settings_for, tmp_path, screen)
    try:
        start = screen.getvalue()
        assert "tal como se vería en WhatsApp" in start
        # Nobody has written to the bot yet: every invitation would have to be a template,
        # and its four answers are a list (WhatsApp's reply buttons are three).
        invitations = [m for m in messages(start) if "Te invitamos a" in m]
        assert len(invitations) == 9
        assert all(m.splitlines()[1].strip().startswith(NEVER_WROTE) for m in invitations)
        buttons, rows = options_of(invitations[0])
        assert buttons == [] and rows == ["Asistiré", "No podré", "Tal vez",
                                          "Agregar a mi calendario"]

        await you.type(f"!persona {MARIA_JOSE}")
        listed = await you.type("/reuniones")
        assert "[plantilla" not in listed  # she just wrote: inside her window
        answered = await you.type(button(listed, "Asistiré"))
        assert (await answers(settings_for, url, MARIA_JOSE))["grupo_motor"] == RsvpAnswer.YES
        # No edits: the meeting's new state comes as a new message, not "in place of".
        assert "en lugar del mensaje anterior" not in answered
        assert "Te esperamos el miércoles 4 de marzo" in answered

        # Tuesday 10:00, then Wednesday 10:00: her reminder goes out more than 24 hours after
        # she last wrote; the others never wrote at all.
        later = await you.type("!avanzar 1d") + await you.type("!avanzar 1d")
        # Hers has no "[→ name]": she is the one typing.
        [mine] = [m for m in messages(later) if "Recordatorio" in m and "[→" not in m]
        assert mine.splitlines()[1].strip().startswith(WINDOW_CLOSED)
        # Everyone else's notices (the members asked again, the families' pickups) too.
        others = [m for m in messages(later) if "[→" in m.splitlines()[0]]
        assert sum("Aún no nos cuentas si vienes a: Sesión mensual" in m for m in others) == 4
        assert all(m.splitlines()[1].strip().startswith(NEVER_WROTE) for m in others)
    finally:
        await leave(you, task)


async def test_three_options_are_buttons_and_the_phone_is_typed(settings_for, tmp_path,
                                                                screen) -> None:
    you, task, _ = await whatsapp_demo(settings_for, tmp_path, screen)
    try:
        await you.type("!persona 1")  # a newcomer
        asked = await you.type("/start")
        [consent] = messages(asked)
        buttons, rows = options_of(consent)
        assert buttons == ["✅ Sí, acepto", "No, gracias", "🌐 English"] and rows == []
        linked = await you.type(button(asked, "✅ Sí, acepto"))
        # No button shares a phone on WhatsApp: the person types the number.
        assert "[0]" not in linked
        assert "Escríbeme tu número de teléfono" in linked
        assert "aún no te encuentro en la lista" in await you.type("+56 9 1234 5678")
    finally:
        await leave(you, task)


async def test_a_long_choice_is_a_list_in_pages_that_more_turns(settings_for, tmp_path,
                                                                screen) -> None:
    you, task, _ = await whatsapp_demo(settings_for, tmp_path, screen)
    try:
        await you.type("!persona 2")  # the gestora
        panel = await you.type("/panel")
        _, rows = options_of(messages(panel)[-1])
        # Ten: the most a WhatsApp list shows at once (the records behind one of them).
        assert len(rows) == 10 and "🧺 Días de entrega" in rows
        days = await you.type(button(panel, "🧺 Días de entrega"))
        kind = await you.type(button(days, "➕ Nuevo día de entrega"))
        first = await you.type(button(kind, "🏪 Retiro en el local"))
        # No month of buttons: a list of days, ten rows at most, and a typed date.
        _, rows = options_of(messages(first)[-1])
        assert len(rows) == 10 and rows[0] == "lun 2 mar" and rows[-1].startswith("Más opciones")
        assert "o escribe la fecha" in first and "Opciones: página 1 de" in first
        second = await you.type(button(first, "Más opciones"))
        _, rows = options_of(messages(second)[-1])
        assert rows[0] == "lun 9 mar" and "Opciones: página 2 de" in second
        hours = await you.type(button(second, "jue 12 mar"))
        assert "jueves 12 de marzo de 2026" in hours
    finally:
        await leave(you, task)


async def test_a_typed_answer_is_what_whatsapp_would_receive(settings_for, tmp_path,
                                                             screen) -> None:
    """A person on WhatsApp types the option's title: the core matches it, as it would."""
    you, task, url = await whatsapp_demo(settings_for, tmp_path, screen)
    try:
        await you.type(f"!persona {JORGE}")
        await you.type("/reuniones")
        assert "Hay más de un botón «Asistiré»" in await you.type("asistiré")
        assert await answers(settings_for, url, JORGE) == {
            "grupo_motor": None, "consejo_local": None}
    finally:
        await leave(you, task)


# --- the console's channel, shown as WhatsApp, one message at a time ------------------------

PERSON = 3


def _whatsapp_console(clock: ManualClock) -> tuple[ConsoleChannel, io.StringIO]:
    screen = io.StringIO()
    codec = ButtonCodec(b"k" * 32, CAPABILITIES.action_bytes)
    look = Look(WHATSAPP_CAPABILITIES, clock=clock)  # no database: no window to measure
    return ConsoleChannel(Catalogs(), codec, "America/Santiago", screen, look=look), screen


async def _deliver(channel: ConsoleChannel, out: Outgoing) -> None:
    await channel.deliver(OutboxMessage(payload=out.to_json(), person_id=PERSON, address="1",
                                        locale="es", kind="reply", channel="console"))


async def test_progress_is_a_few_new_messages_and_the_final_state_always_one() -> None:
    clock = ManualClock(MONDAY)
    channel, screen = _whatsapp_console(clock)
    progress = [Outgoing(text=Msg("console.clock", {"when": f"{n}"}), updates="7",
                         progress=True) for n in range(5)]
    for out in progress[:3]:  # within seconds of each other: only the first is sent
        await _deliver(channel, out)
        clock.advance(timedelta(seconds=5))
    clock.advance(timedelta(seconds=30))
    await _deliver(channel, progress[3])
    await _deliver(channel, Outgoing(text=Msg("console.clock", {"when": "final"}), updates="7"))
    shown = screen.getvalue()
    assert [m.splitlines()[1].strip() for m in messages(shown)] == [
        "Reloj simulado: 0", "Reloj simulado: 3", "Reloj simulado: final"]
    assert "en lugar del mensaje anterior" not in shown


async def test_a_month_is_a_list_of_days_and_its_turns() -> None:
    channel, screen = _whatsapp_console(ManualClock(MONDAY))
    await _deliver(channel, Outgoing(
        text=Msg("adm_meet.ask_date"),
        buttons=((Button(Msg("adm_meet.btn_cancel"), "adm:meetings:x"),),),
        date_pick=DatePick("cal", date(2026, 3, 20), earliest=date(2026, 3, 25))))
    [message] = messages(screen.getvalue())
    buttons, rows = options_of(message)
    assert buttons == []
    assert rows[:7] == [f"{d} {n} mar" for d, n in zip(
        ["mié", "jue", "vie", "sáb", "dom", "lun", "mar"], range(25, 32), strict=True)]
    assert "abril de 2026 ▶" in rows and rows[-1] == "Cancelar"
    assert " L  M  M  J" not in message  # no printed month


def test_the_console_shows_whatsapp_only_when_asked() -> None:
    assert console_look("whatsapp") is WHATSAPP_CAPABILITIES
    assert console_look("telegram") is None and console_look(None) is None
    caps = WHATSAPP_CAPABILITIES
    assert (caps.buttons, caps.list_rows, caps.label_chars, caps.can_edit,
            caps.can_ask_phone, caps.month_grid, caps.session_window) == (
        3, 10, 20, False, False, False, timedelta(hours=24))


def test_channel_outside_the_console_is_refused_in_one_line(settings_for, monkeypatch, capsys
                                                            ) -> None:
    settings_for("sqlite+aiosqlite:///unused.sqlite3")  # the operator's environment, cleaned
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123456:ABCDEFGH")
    assert main(["run", "--channel", "whatsapp"]) == 1
    assert capsys.readouterr().err == (
        "convoca: --channel cambia cómo se ven los mensajes en la consola: úsalo con --demo, "
        "o sin TELEGRAM_BOT_TOKEN.\n")


@pytest.mark.parametrize("look", ["telegram", "console"])
async def test_telegram_and_the_console_look_as_always(settings_for, tmp_path, look) -> None:
    screen = io.StringIO()
    url = f"sqlite+aiosqlite:///{tmp_path / 'demo.sqlite3'}"
    await run_demo(settings_for(url), stdin=io.StringIO("!persona 1\n/start\n!salir\n"),
                   out=screen, start=MONDAY, channel=look)
    text = screen.getvalue()
    assert "Para conectar Telegram" in text and "[plantilla" not in text
    assert "[1] ✅ Sí, acepto" in text and LIST not in text


async def test_the_console_without_a_token_shows_whatsapp_too(settings_for, sqlite_url, screen
                                                              ) -> None:
    app = await build_app(settings_for(sqlite_url))
    try:
        await run_console(app, stdin=io.StringIO("/start\n!salir\n"), out=screen,
                          channel="whatsapp")
    finally:
        await app.close()
    text = screen.getvalue()
    assert "tal como se vería en WhatsApp" in text
    [consent] = [m for m in messages(text) if "¿Aceptas?" in m]
    assert "[plantilla" not in consent  # an answer to what they just wrote
    assert options_of(consent) == (["✅ Sí, acepto", "No, gracias", "🌐 English"], [])
