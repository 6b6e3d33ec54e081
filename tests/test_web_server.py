"""The panel on the process's one HTTP server when its port is taken: a bot that polls keeps
running without the panel; a webhook cannot, so Convoca stops and names HTTP_LISTEN."""

from __future__ import annotations

import asyncio
import logging
import socket

import pytest
from test_webhook import SECRET, start_update

from bot.app import StartupError, build_app, run_channels


@pytest.fixture
def taken_port():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


async def test_a_taken_port_leaves_a_polled_bot_running_without_the_panel(
        fake_tg, settings_for, sqlite_url, clock, taken_port, caplog) -> None:
    settings = settings_for(sqlite_url, telegram_bot_token=fake_tg.token,
                            telegram_api_base=fake_tg.base_url, web_panel=True,
                            http_listen=f"127.0.0.1:{taken_port}")
    app = await build_app(settings, clock=clock)
    running = asyncio.create_task(run_channels(app))
    try:
        with caplog.at_level(logging.ERROR, logger="bot.app"):
            fake_tg.add_chat(321)
            fake_tg.push_update(start_update(1, 321))
            [answer] = await fake_tg.wait_for_sent(321, 1, timeout=10)
        assert answer.startswith("¡Hola! Soy Convoca")
        assert not running.done()
        assert any("web panel could not listen" in r.getMessage() for r in caplog.records)
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        await app.close()


async def test_a_taken_port_stops_a_webhook_and_names_the_setting(
        fake_tg, settings_for, sqlite_url, clock, taken_port) -> None:
    settings = settings_for(sqlite_url, telegram_bot_token=fake_tg.token,
                            telegram_api_base=fake_tg.base_url,
                            public_url="https://convoca.example.org", webhook_secret=SECRET,
                            http_listen=f"127.0.0.1:{taken_port}")
    app = await build_app(settings, clock=clock)
    try:
        with pytest.raises(StartupError) as raised:
            await asyncio.wait_for(run_channels(app), 20)
        text = app.catalogs.render(raised.value.message, "es")
        assert f"HTTP_LISTEN=127.0.0.1:{taken_port}" in text
    finally:
        await app.close()


async def test_the_panel_wakes_the_outbox_rather_than_sending_a_broadcast_itself(
        settings_for, sqlite_url, clock) -> None:
    """A broadcast's hundreds of rows go in the outbox's paced waves, recorded as they go;
    the panel only says they are there."""
    from bot.app import mount_panel
    from bot.http import HttpServer

    class Outbox:
        woken = 0

        def wake(self) -> None:
            self.woken += 1

        async def deliver_now(self, ids: list[int]) -> None:  # pragma: no cover - the point
            raise AssertionError("the panel must not send rows itself")

    app = await build_app(settings_for(sqlite_url, web_panel=True), clock=clock)
    try:
        server, outbox = HttpServer("127.0.0.1:0"), Outbox()
        mount_panel(app, server, outbox)  # type: ignore[arg-type]
        panel = server.routes[0].app.state.panel
        await panel.wake_outbox([1, 2, 3])
        assert outbox.woken == 1
    finally:
        await app.close()
