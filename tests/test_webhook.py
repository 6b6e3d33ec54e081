"""Webhook mode: Telegram's calls carry the secret token; anything else is refused, what is
not an update is answered 400, and an update the database cannot store is answered 503 so
that Telegram sends it again."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from sqlalchemy import func, select
from test_update_intake import FullDisk

from bot.app import App, build_app
from bot.telegram import TelegramChannel, TelegramRuntime
from storage.models import Person, RoleGrant
from telegram_harness import bot_for

SECRET = "s3cret-Token_1-for-tests"
ADMIN, ATTACKER = 900, 6666


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_update(update_id: int, chat: int, sender: int | None = None) -> dict[str, Any]:
    """A /start as Telegram posts it; `sender` other than the chat is a forgery."""
    return {"update_id": update_id, "message": {
        "message_id": update_id, "date": 1_770_000_000, "text": "/start",
        "entities": [{"type": "bot_command", "offset": 0, "length": 6}],
        "chat": {"id": chat, "type": "private", "first_name": "Ana"},
        "from": {"id": sender or chat, "is_bot": False, "first_name": "Ana"}}}


@dataclass
class Hook:
    fake: Any
    app: App
    url: str
    http: aiohttp.ClientSession

    async def post(self, body: Any, *, secret: str | None = SECRET, raw: bytes | None = None
                   ) -> int:
        headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret is not None else {}
        for _ in range(50):  # the site needs a moment to bind
            try:
                if raw is not None:
                    async with self.http.post(self.url, data=raw, headers=headers) as resp:
                        return resp.status
                async with self.http.post(self.url, json=body, headers=headers) as resp:
                    return resp.status
            except aiohttp.ClientConnectionError:
                await asyncio.sleep(0.1)
        raise AssertionError("the webhook never listened")


@pytest.fixture
async def hook(fake_tg, settings_for, sqlite_url, clock) -> AsyncIterator[Hook]:
    settings = settings_for(sqlite_url, telegram_bot_token=fake_tg.token,
                            telegram_api_base=fake_tg.base_url,
                            admin_telegram_ids=str(ADMIN))
    app = await build_app(settings, clock=clock)
    bot = bot_for(fake_tg)
    channel = TelegramChannel(bot, app.catalogs, app.services.buttons, settings.timezone)
    outbox = app.outbox([channel])
    await outbox.start()
    runtime = TelegramRuntime(bot, app.core, outbox)
    port = free_port()
    task = asyncio.create_task(
        runtime.serve_webhook("https://convoca.example.org", SECRET, f"127.0.0.1:{port}"))
    try:
        async with aiohttp.ClientSession() as http:
            yield Hook(fake_tg, app, f"http://127.0.0.1:{port}/telegram", http)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await outbox.stop()
        await bot.close()
        await app.close()


async def test_webhook_checks_the_secret_and_answers(hook: Hook) -> None:
    fake_tg = hook.fake
    setup = await fake_tg.wait_for(lambda r: r.method == "setWebhook", timeout=10)
    assert setup.params["url"] == "https://convoca.example.org/telegram"
    assert setup.params["secret_token"] == SECRET
    fake_tg.add_chat(321)
    update = start_update(77, 321)
    assert await hook.post(update, secret=None) == 401
    assert await hook.post(update, secret="wrong") == 401
    assert fake_tg.delivered(321) == []
    assert await hook.post(update) == 200
    [text] = await fake_tg.wait_for_sent(321, 1, timeout=10)
    assert "¿Aceptas?" in text


async def test_a_webhook_without_a_secret_does_not_start(fake_tg, settings_for, sqlite_url,
                                                         clock) -> None:
    settings = settings_for(sqlite_url, telegram_bot_token=fake_tg.token,
                            telegram_api_base=fake_tg.base_url)
    app = await build_app(settings, clock=clock)
    bot = bot_for(fake_tg)
    runtime = TelegramRuntime(bot, app.core, app.outbox([]))
    port = free_port()
    try:
        with pytest.raises(ValueError, match="secret"):
            await asyncio.wait_for(
                runtime.serve_webhook("https://convoca.example.org", "", f"127.0.0.1:{port}"),
                5)
    finally:
        await bot.close()
        await app.close()
    assert fake_tg.calls("setWebhook") == []
    with socket.socket() as s:  # and nothing listens
        assert s.connect_ex(("127.0.0.1", port)) != 0


async def test_a_start_in_an_admins_name_from_another_chat_grants_nothing(hook: Hook) -> None:
    """The adversarial trial's request: the attacker's chat, the administrator's user id."""
    await hook.fake.wait_for(lambda r: r.method == "setWebhook", timeout=10)
    hook.fake.add_chat(ATTACKER)
    assert await hook.post(start_update(501, ATTACKER, sender=ADMIN)) == 200
    assert await hook.post(start_update(502, ATTACKER)) == 200  # then the attacker, as such
    await hook.fake.wait_for_sent(ATTACKER, 1, timeout=10)
    await asyncio.sleep(0.3)
    assert len(hook.fake.delivered(ATTACKER)) == 1  # only the real /start was answered
    async with hook.app.sessions() as s:
        assert await s.scalar(select(func.count()).select_from(RoleGrant)) == 0
        assert await s.scalar(select(func.count()).select_from(Person)) == 1


@pytest.mark.parametrize("body", [b"{not json", b"\xff\xfe\x00garbage", b"[1, 2]",
                                  b'{"update_id": "many"}',
                                  # PTB reads these without the Bot API's types; aiogram not
                                  b'{"update_id": 9, "message": {"date": 1, "text": "x", '
                                  b'"chat": {"id": 5, "type": "private"}, '
                                  b'"from": {"id": 5, "is_bot": false, "first_name": "A"}}}',
                                  b'{"update_id": 9, "callback_query": {"id": "q", "data": 5, '
                                  b'"chat_instance": "c", '
                                  b'"from": {"id": 5, "is_bot": false, "first_name": "A"}}}'])
async def test_what_is_not_an_update_is_answered_400_and_logged_once(
        hook: Hook, caplog: pytest.LogCaptureFixture, body: bytes) -> None:
    await hook.fake.wait_for(lambda r: r.method == "setWebhook", timeout=10)
    with caplog.at_level(logging.INFO):
        assert await hook.post(None, raw=body) == 400
    said = [r for r in caplog.records if r.name.startswith(("bot", "aiohttp", "aiogram"))
            and r.levelno >= logging.WARNING]
    assert len(said) == 1, [r.getMessage() for r in said]
    assert "not a Telegram update" in said[0].getMessage() and said[0].exc_info is None
    assert await hook.post(None, raw=body, secret="wrong") == 401  # the secret comes first


async def test_an_update_that_cannot_be_stored_is_answered_503_and_taken_later(
        hook: Hook, monkeypatch: pytest.MonkeyPatch) -> None:
    await hook.fake.wait_for(lambda r: r.method == "setWebhook", timeout=10)
    disk = FullDisk(hook.app, monkeypatch)
    hook.fake.add_chat(321)
    disk.full = True
    assert await hook.post(start_update(88, 321)) == 503
    assert disk.refused >= 1 and hook.fake.delivered(321) == []
    disk.full = False
    assert await hook.post(start_update(88, 321)) == 200  # Telegram's retry
    [text] = await hook.fake.wait_for_sent(321, 1, timeout=10)
    assert "¿Aceptas?" in text
    assert await hook.post(start_update(88, 321)) == 200  # once more: handled already
    await asyncio.sleep(0.3)
    assert len(hook.fake.delivered(321)) == 1
