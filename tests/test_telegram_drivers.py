"""Two Telegram drivers over one mapping (bot/telegram): each fails the way the other does,
neither lets the token into a message or a log, and `convoca run` really runs on the one
TELEGRAM_DRIVER names. The flows themselves run on both through every test that uses the
fake Bot API (tests/conftest.py: the fixture `telegram_driver`)."""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import os
import signal
import sys
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from test_process import env_for

from bot.telegram import TelegramChannel
from bot.telegram import driver as api
from handlers.buttons import ButtonCodec
from locales import Catalogs, Msg
from scheduler.dispatcher import Blocked, Rejected, RetryAfter, Transient
from services.messages import Outgoing
from storage.models import OutboxMessage
from telegram_harness import bot_for

CHAT = 5150


def row(chat: int = CHAT) -> OutboxMessage:
    return OutboxMessage(person_id=1, address=str(chat), locale="es", kind="reply",
                         payload=Outgoing(text=Msg("input.not_understood")).to_json())


@pytest.fixture
async def channel(fake_tg):
    bot = bot_for(fake_tg, timeout=0.5)
    fake_tg.timeout_hold = 1.0
    fake_tg.add_chat(CHAT)
    try:
        yield TelegramChannel(bot, Catalogs(), ButtonCodec(b"k" * 32, 64), "America/Santiago")
    finally:
        await bot.close()


async def test_each_refusal_is_the_same_result_on_either_driver(fake_tg, channel) -> None:
    """What the outbox does next (wait, give up on the person, try again, give up on the
    message) depends on this mapping alone, whichever library made the request."""
    fake_tg.inject("429", retry_after=3)
    assert await channel.deliver(row()) == RetryAfter(3.0)
    fake_tg.inject("5xx")
    result = await channel.deliver(row())
    assert isinstance(result, Transient) and result.reason.startswith("ServerError: ")
    fake_tg.inject("timeout")
    result = await channel.deliver(row())
    assert isinstance(result, Transient) and result.reason.startswith("NetworkError: ")
    result = await channel.deliver(row(chat=999_999))  # a chat Telegram does not know
    assert result == Rejected("Bad Request: chat not found")
    fake_tg.block(CHAT)
    result = await channel.deliver(row())
    assert isinstance(result, Blocked) and "blocked" in result.reason
    fake_tg.unblock(CHAT)
    assert type(await channel.deliver(row())).__name__ == "Delivered"


async def test_the_driver_raises_the_channels_own_errors(fake_tg) -> None:
    bot = bot_for(fake_tg)
    fake_tg.add_chat(CHAT)
    try:
        fake_tg.inject("403", chat_id=CHAT)
        with pytest.raises(api.Forbidden):
            await bot.send_message(CHAT, "hola")
        with pytest.raises(api.BadRequest, match="^Bad Request: message to edit not found$"):
            await bot.edit_message_text(CHAT, 9_999, "hola")
        fake_tg.inject("429", method="*", retry_after=7)
        with pytest.raises(api.RetryAfter) as waited:
            await bot.get_me()
        assert waited.value.seconds == 7.0
    finally:
        await bot.close()


@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")  # PTB_TIMEDELTA=false
@pytest.mark.parametrize("as_timedelta", ["true", "false"])
@pytest.mark.parametrize("telegram_driver", ["ptb"])  # PTB_TIMEDELTA is PTB's own setting
async def test_a_429_waits_its_seconds_whether_ptb_gives_an_int_or_a_timedelta(
        fake_tg, monkeypatch: pytest.MonkeyPatch, as_timedelta: str) -> None:
    """PTB 22 gives retry_after as an int, or as a timedelta once PTB_TIMEDELTA is set (its
    next major release's type); aiogram as an int. The outbox waits the same either way."""
    from bot.telegram.ptb_driver import _seconds

    assert _seconds(5) == _seconds(timedelta(seconds=5)) == 5.0
    monkeypatch.setenv("PTB_TIMEDELTA", as_timedelta)
    bot = bot_for(fake_tg)
    fake_tg.add_chat(CHAT)
    try:
        fake_tg.inject("429", retry_after=4)
        with pytest.raises(api.RetryAfter) as waited:
            await bot.send_message(CHAT, "hola")
        assert waited.value.seconds == 4.0
    finally:
        await bot.close()


async def test_a_refused_token_stops_the_start_with_one_line_that_never_holds_it(
        fake_tg, sqlite_url: str, tmp_path: Path) -> None:
    """PTB writes the token into the message of a token refused at start (`Bot.initialize`);
    the operator reads what to check, and neither the terminal nor the log shows it."""
    wrong = "987654:WRONG-token-never-to-be-shown"
    env = {**env_for(fake_tg, sqlite_url, WEB_PANEL="false", LOG_FILE=str(tmp_path / "run.log")),
           "TELEGRAM_BOT_TOKEN": wrong}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "run", cwd=tmp_path, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = (b.decode() for b in await asyncio.wait_for(proc.communicate(), 60))
    assert proc.returncode == 1
    assert "Telegram no aceptó el token de Convoca" in err and "TELEGRAM_BOT_TOKEN" in err
    log = (tmp_path / "run.log").read_text(encoding="utf-8") \
        if (tmp_path / "run.log").exists() else ""
    assert wrong.split(":")[1] not in out + err + log
    assert [r.outcome for r in fake_tg.requests] == ["401"]


def test_a_secret_is_written_as_such_wherever_a_record_shows_it(tmp_path: Path) -> None:
    """A library's message, its arguments, a traceback: the log file holds none of them."""
    from bot import logs

    token = "123456:SECRET-token-in-a-url"
    file = tmp_path / "c.log"
    with logs.configured(verbose=False, server=True, file=file, operator_line=str,
                         secrets=[token, None]):
        log = logging.getLogger("bot.telegram")
        log.warning("GET https://api.telegram.org/bot%s/getMe failed", token)
        try:
            raise RuntimeError(f"The token `{token}` was rejected by the server.")
        except RuntimeError:
            log.exception("start failed")
        logging.getLogger("httpx").info("HTTP Request: POST .../bot%s/getUpdates", token)
    text = file.read_text(encoding="utf-8")
    assert token not in text
    assert text.count("<secret>") == 2  # in the message, in the traceback's exception
    assert "getUpdates" not in text  # httpx's line per request stays below WARNING


async def test_convoca_run_runs_on_the_driver_the_setting_names(
        fake_tg, sqlite_url: str, tmp_path: Path, telegram_driver: str) -> None:
    """`convoca run` as an operator starts it answers /start, and the fake sees that
    driver's client (its User-Agent) on every request. (What the process imports, the other
    library not among it: tests/test_startup_imports.py.)"""
    env = env_for(fake_tg, sqlite_url, WEB_PANEL="false")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "run", cwd=tmp_path, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        await fake_tg.wait_for_poll(timeout=60)
        fake_tg.command(4242, "/start")
        [text] = await fake_tg.wait_for_sent(4242, 1, timeout=15)
        assert text.startswith("¡Hola! Soy Convoca")
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, err.decode()[-2000:]
    library = {"ptb": "python-telegram-bot v", "aiogram": " aiogram/"}[telegram_driver]
    assert fake_tg.requests and all(library in r.user_agent for r in fake_tg.requests)


@contextlib.asynccontextmanager
async def answering(handler) -> AsyncIterator[str]:
    """A throwaway HTTP server answering every request with ``handler``: what the fake Bot
    API never says. Yields its base address."""
    from aiohttp import web

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


CANNED = [
    (502, "text/html", b"<html><body>502 Bad Gateway</body></html>", api.ServerError),
    (500, "application/json",
     b'{"ok":false,"error_code":500,"description":"Internal Server Error"}', api.ServerError),
    (413, "application/json",
     b'{"ok":false,"error_code":413,"description":"Request Entity Too Large"}',
     api.NetworkError),
    (429, "application/json",
     b'{"ok":false,"error_code":429,"description":"Too Many Requests"}', api.ApiError),
    (404, "application/json", b'{"ok":false,"error_code":404,"description":"Not Found"}',
     api.NotFound),
    (401, "application/json", b'{"ok":false,"error_code":401,"description":"Unauthorized"}',
     api.Unauthorized),
    (409, "application/json", b'{"ok":false,"error_code":409,"description":"Conflict: '
     b'terminated by other getUpdates request"}', api.Conflict),
    # A proxy's page is not Telegram speaking: never "blocked" nor "rejected".
    (403, "text/html", b"<html><body>403 Forbidden</body></html>", api.ServerError),
    (404, "text/html", b"<html><body>404 Not Found</body></html>", api.ServerError),
    (200, "text/html", b"<html><body>Welcome to nginx!</body></html>", api.ServerError),
]


@pytest.mark.parametrize(("status", "kind", "body", "expected"), CANNED,
                         ids=[f"{c[0]}-{c[1].split('/')[1]}" for c in CANNED])
async def test_what_comes_back_on_the_way_maps_alike(telegram_driver: str, status: int,
                                                     kind: str, body: bytes,
                                                     expected: type) -> None:
    """Answers the fake Bot API never gives: a proxy's HTML page, a 413, a 429 without its
    seconds. Both drivers raise the same error of the channel's, and never the token."""
    from aiohttp import web

    from bot.telegram import make_bot

    async def answer(_request: web.Request) -> web.Response:
        return web.Response(status=status, body=body, content_type=kind)

    async with answering(answer) as base:
        bot = make_bot("4242:CANNED-secret-token", base, timeout=5, driver=telegram_driver)
        try:
            with pytest.raises(api.ApiError) as raised:
                await bot.send_message(1, "hola")
            assert type(raised.value) is expected
            assert "CANNED" not in raised.value.message
        finally:
            await bot.close()


def test_ptbs_refused_token_message_never_reaches_the_channel() -> None:
    """PTB's Bot.initialize() words a refused token as "The token `…` was rejected"."""
    from telegram import error

    from bot.telegram.ptb_driver import PtbDriver

    token = "123456:NEVER-shown-token"
    driver = PtbDriver(token, "http://127.0.0.1:9", 1)
    with pytest.raises(api.Unauthorized) as raised, driver._mapped():
        raise error.InvalidToken(f"The token `{token}` was rejected by the server.")
    assert token not in raised.value.message and "<token>" in raised.value.message
    asyncio.run(driver.close())


async def test_closing_the_ptb_driver_closes_its_connections() -> None:
    """Its requests' sessions (PTB's Bot.shutdown() closes nothing unless Bot.initialize()
    ran, which Convoca does not call: it asks getMe with the token in its error)."""
    from bot.telegram.ptb_driver import PtbDriver

    driver = PtbDriver("123456:x", "http://127.0.0.1:9", 1)
    sessions = [r.session for r in driver._requests]
    assert not any(s.closed for s in sessions)
    await driver.close()
    assert all(s.closed for s in sessions)


async def test_telegram_out_of_reach_at_start_is_one_line_for_the_operator(
        telegram_driver: str, sqlite_url: str, tmp_path: Path) -> None:
    token = "123456:UNREACHABLE-token-abcdef"
    env = {**os.environ, "TELEGRAM_BOT_TOKEN": token, "TELEGRAM_API_BASE": "http://127.0.0.1:9",
           "TELEGRAM_DRIVER": telegram_driver, "DATABASE_URL": sqlite_url, "WEB_PANEL": "false",
           "LOG_FILE": str(tmp_path / "run.log"), "PYTHONPATH": str(Path(__file__).parents[1])}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "run", cwd=tmp_path, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = (b.decode() for b in await asyncio.wait_for(proc.communicate(), 90))
    assert proc.returncode == 1
    assert "Convoca no pudo hablar con Telegram en http://127.0.0.1:9" in err
    assert "Traceback" not in err and "UNREACHABLE" not in out + err


async def test_a_document_keeps_its_name_as_people_read_it(fake_tg) -> None:
    """Not percent-encoded: "lista%20de%20asistencia" is what a person would see."""
    bot = bot_for(fake_tg)
    fake_tg.add_chat(CHAT)
    try:
        await bot.send_document(CHAT, "lista de asistencia ñandú.pdf", b"%PDF-1.4 x",
                                caption="Lista")
    finally:
        await bot.close()
    [sent] = fake_tg.calls("sendDocument")
    assert sent.ok and sent.params["document"].filename == "lista de asistencia ñandú.pdf"


@pytest.mark.parametrize("telegram_driver", ["ptb"])  # aiogram's own download raises itself
async def test_a_download_told_to_wait_says_so(fake_tg) -> None:
    """A 429 on a file's address is a failure to download, not an empty file: PTB's driver
    streams files itself (PTB's own download would read a 2 GB file whole first)."""
    from aiohttp import web

    async def busy(_request: web.Request) -> web.Response:
        return web.json_response({"ok": False, "error_code": 429, "description":
                                  "Too Many Requests: retry after 5",
                                  "parameters": {"retry_after": 5}}, status=429)

    bot = bot_for(fake_tg)
    buffer = io.BytesIO()
    async with answering(busy) as base:
        try:
            with pytest.raises(api.ApiError):
                await bot.download_file(f"{base}/file/bot1:x/documents/a.csv", buffer)
        finally:
            await bot.close()
    assert buffer.getvalue() == b""
