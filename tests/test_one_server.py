"""`convoca run` with Telegram and WhatsApp both set: one process, one outbox, one HTTP server
at HTTP_LISTEN taking Telegram's webhook at /telegram and WhatsApp's at /whatsapp."""

from __future__ import annotations

import asyncio

import aiohttp
from test_webhook import SECRET, start_update
from whatsapp_harness import VERIFY_TOKEN, free_port, whatsapp_settings

from bot.app import build_app, run_channels

ANA = "56912345678"


async def test_both_channels_answer_through_one_server(fake_tg, fake_wa, settings_for,
                                                       sqlite_url, clock) -> None:
    port = free_port()
    settings = settings_for(
        sqlite_url, telegram_bot_token=fake_tg.token, telegram_api_base=fake_tg.base_url,
        public_url="https://convoca.example.org", webhook_secret=SECRET,
        **whatsapp_settings(fake_wa, port))
    fake_wa.webhook_url = f"http://127.0.0.1:{port}/whatsapp"
    fake_wa.auto_approve = True
    app = await build_app(settings, clock=clock)
    running = asyncio.create_task(run_channels(app))
    try:
        hooked = await fake_tg.wait_for(lambda r: r.method == "setWebhook", timeout=15)
        assert hooked.params["url"] == "https://convoca.example.org/telegram"
        async with aiohttp.ClientSession() as http:
            check = {"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN,
                     "hub.challenge": "1158201444"}
            async with http.get(f"http://127.0.0.1:{port}/whatsapp", params=check) as resp:
                assert resp.status == 200 and await resp.text() == "1158201444"
            fake_tg.add_chat(321)
            async with http.post(f"http://127.0.0.1:{port}/telegram", json=start_update(1, 321),
                                 headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}) as resp:
                assert resp.status == 200
        assert await fake_wa.text(ANA, "Hola", name="Ana") is not None
        [telegram] = await fake_tg.wait_for_sent(321, 1, timeout=10)
        [whatsapp] = await fake_wa.wait_for_sent(ANA, 1, timeout=10)
        assert telegram.startswith("¡Hola! Soy Convoca") and whatsapp.startswith(
            "¡Hola! Soy Convoca")
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        await app.close()
