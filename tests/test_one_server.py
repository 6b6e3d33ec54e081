"""`convoca run` with Telegram and WhatsApp both set: one process, one outbox, one HTTP server
at HTTP_LISTEN taking Telegram's webhook at /telegram and WhatsApp's at /whatsapp."""

from __future__ import annotations

import asyncio

import aiohttp
from test_webhook import SECRET, start_update
from whatsapp_harness import VERIFY_TOKEN, free_port, whatsapp_settings

from bot.app import build_app, run_channels
from storage import leases

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
        await fake_wa.text(ANA, "Hola", name="Ana")
        assert fake_wa.webhooks[-1][1] == 200  # stored before Meta hears it arrived
        [telegram] = await fake_tg.wait_for_sent(321, 1, timeout=10)
        [whatsapp] = await fake_wa.wait_for_sent(ANA, 1, timeout=10)
        assert telegram.startswith("¡Hola! Soy Convoca") and whatsapp.startswith(
            "¡Hola! Soy Convoca")
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        await app.close()


async def test_a_refused_whatsapp_token_at_start_leaves_telegram_running(
        fake_tg, fake_wa, settings_for, sqlite_url, clock, caplog) -> None:
    port = free_port()
    settings = settings_for(
        sqlite_url, telegram_bot_token=fake_tg.token, telegram_api_base=fake_tg.base_url,
        **{**whatsapp_settings(fake_wa, port), "whatsapp_access_token": "WRONG-TOKEN"})
    app = await build_app(settings, clock=clock)
    running = asyncio.create_task(run_channels(app))
    try:
        fake_tg.add_chat(321)
        fake_tg.command(321, "/start")
        [text] = await fake_tg.wait_for_sent(321, 1, timeout=15)
        assert text.startswith("¡Hola! Soy Convoca")
        lines = [r.getMessage() for r in caplog.records if "WhatsApp does not run" in
                 r.getMessage()]
        assert len(lines) == 1 and "WHATSAPP_ACCESS_TOKEN" in lines[0]
        assert "WRONG-TOKEN" not in caplog.text
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        await app.close()
    fake_wa.assert_clean(allow=[190])
    fake_wa.violations.clear()


async def test_whatsapp_alone_with_a_refused_token_does_not_start(
        fake_wa, settings_for, sqlite_url, clock) -> None:
    from bot.app import StartupError

    settings = settings_for(sqlite_url, **{**whatsapp_settings(fake_wa, free_port()),
                                           "whatsapp_access_token": "WRONG-TOKEN"})
    app = await build_app(settings, clock=clock)
    try:
        try:
            await asyncio.wait_for(run_channels(app), 10)
        except StartupError as exc:
            text = app.catalogs.render(exc.message, None)
        else:
            raise AssertionError("started with a token Meta refused")
    finally:
        await app.close()
    assert "WHATSAPP_ACCESS_TOKEN" in text and "WRONG-TOKEN" not in text
    fake_wa.violations.clear()


async def test_one_process_on_sqlite_takes_no_lease_and_answers_at_once(
        fake_tg, settings_for, sqlite_url, clock) -> None:
    settings = settings_for(sqlite_url, telegram_bot_token=fake_tg.token,
                            telegram_api_base=fake_tg.base_url)
    app = await build_app(settings, clock=clock)
    running = asyncio.create_task(run_channels(app))
    try:
        fake_tg.add_chat(321)
        fake_tg.push_update(start_update(1, 321))
        [answer] = await fake_tg.wait_for_sent(321, 1, timeout=10)
        assert answer.startswith("¡Hola! Soy Convoca")
        # One SQLite file serves one process: nothing to share, so no lease is kept.
        async with app.sessions() as s:
            assert await leases.holders(s) == {}
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        await app.close()
