"""Webhook mode: Telegram's calls carry the secret token; anything else is refused."""

from __future__ import annotations

import asyncio
import socket

import aiohttp

from bot.app import build_app
from bot.telegram import TelegramChannel, TelegramRuntime, make_bot


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_webhook_checks_the_secret_and_answers(fake_tg, settings_for, sqlite_url, clock) -> None:
    settings = settings_for(sqlite_url, telegram_bot_token=fake_tg.token,
                            telegram_api_base=fake_tg.base_url)
    app = await build_app(settings, clock=clock)
    bot = make_bot(settings.token, settings.telegram_api_base, timeout=5)
    channel = TelegramChannel(bot, app.catalogs, app.services.buttons, settings.timezone)
    outbox = app.outbox([channel])
    await outbox.start()
    runtime = TelegramRuntime(bot, app.core, outbox)
    port = free_port()
    task = asyncio.create_task(
        runtime.serve_webhook("https://convoca.example.org", "s3cret-Token_1", f"127.0.0.1:{port}"))
    try:
        hook = await fake_tg.wait_for(lambda r: r.method == "setWebhook", timeout=10)
        assert hook.params["url"] == "https://convoca.example.org/telegram"
        assert hook.params["secret_token"] == "s3cret-Token_1"
        fake_tg.add_chat(321)
        update = {"update_id": 77, "message": {
            "message_id": 1, "date": 1_770_000_000, "text": "/start",
            "entities": [{"type": "bot_command", "offset": 0, "length": 6}],
            "chat": {"id": 321, "type": "private", "first_name": "Ana"},
            "from": {"id": 321, "is_bot": False, "first_name": "Ana"}}}
        url = f"http://127.0.0.1:{port}/telegram"
        async with aiohttp.ClientSession() as http:
            for _ in range(50):  # the site needs a moment to bind
                try:
                    async with http.post(url, json=update) as resp:
                        forged = resp.status
                    break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.1)
            assert forged == 401
            async with http.post(url, json=update,
                                 headers={"X-Telegram-Bot-Api-Secret-Token": "wrong"}) as resp:
                assert resp.status == 401
            assert fake_tg.delivered(321) == []
            async with http.post(url, json=update,
                                 headers={"X-Telegram-Bot-Api-Secret-Token": "s3cret-Token_1"}) as resp:
                assert resp.status == 200
        [text] = await fake_tg.wait_for_sent(321, 1, timeout=10)
        assert "¿Aceptas?" in text
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await outbox.stop()
        await bot.session.close()
        await app.close()
