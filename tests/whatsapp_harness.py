"""Convoca's real WhatsApp channel (its client, webhook and templates) against the fake Cloud
API, in-process: people write through signed webhooks, Convoca answers over HTTP.

    async with running(fake, settings_for, sqlite_url, clock) as r:
        sent = await r.send("56912345678", "Hola")
        sent = await r.press("56912345678", "✅ Sí, acepto")
"""

from __future__ import annotations

import asyncio
import functools
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from bot.app import App, build_app
from bot.http import HttpServer
from bot.whatsapp import templates as wa_templates
from bot.whatsapp.channel import WhatsAppChannel, WhatsAppRuntime
from bot.whatsapp.client import CloudClient
from bot.whatsapp.sync import sync_templates
from fakes.whatsapp_api import FakeWhatsApp, Sent
from scheduler.dispatcher import Dispatcher
from storage.outbox import register_worker

APP_SECRET = "test-app-secret"
VERIFY_TOKEN = "test-verify-token-1234"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@functools.cache
def template_specs() -> tuple[wa_templates.TemplateSpec, ...]:
    """The repository's templates, read and checked once a process: every test starts a
    channel, and they are frozen."""
    return tuple(wa_templates.load())


def whatsapp_settings(fake: FakeWhatsApp, port: int) -> dict[str, Any]:
    return dict(whatsapp_access_token=fake.token, whatsapp_phone_number_id=fake.phone_number_id,
                whatsapp_business_account_id=fake.business_account_id,
                whatsapp_app_secret=fake.app_secret, whatsapp_verify_token=VERIFY_TOKEN,
                whatsapp_api_base=fake.base_url, http_listen=f"127.0.0.1:{port}")


@dataclass
class Running:
    fake: FakeWhatsApp
    app: App
    client: CloudClient
    channel: WhatsAppChannel
    outbox: Dispatcher
    runtime: WhatsAppRuntime
    server: HttpServer
    task: asyncio.Task[None]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}/whatsapp"

    async def settled(self) -> None:
        """What the fake posted is stored, handled, and its replies sent."""
        await asyncio.wait_for(self.runtime.settled(), 10)

    async def _after(self, wa_id: str, act: Any) -> list[Sent]:
        before = len(self.fake.messages(wa_id))
        await act
        await self.settled()
        return self.fake.messages(wa_id)[before:]

    async def send(self, wa_id: str, text: str, name: str | None = "Ana") -> list[Sent]:
        """A person writes; returns the messages that answer it."""
        return await self._after(wa_id, self.fake.text(wa_id, text, name=name))

    async def press(self, wa_id: str, title: str) -> list[Sent]:
        return await self._after(wa_id, self.fake.press(wa_id, title))

    async def tap(self, wa_id: str, text: str) -> list[Sent]:
        """A quick reply on a template."""
        return await self._after(wa_id, self.fake.tap_template(wa_id, text))

    async def document(self, wa_id: str, filename: str, content: bytes, mime: str,
                       caption: str | None = None) -> list[Sent]:
        return await self._after(wa_id, self.fake.document(wa_id, filename, content, mime,
                                                           caption=caption))

    async def deliver(self) -> None:
        """Send what is due now (notices, broadcasts), as the dispatcher's next pass would."""
        await self.outbox.drain()


async def start(fake: FakeWhatsApp, settings: Any, clock: Any, *, approve: bool = True,
                dispatch: bool = True) -> Running:
    """``dispatch=False``: no dispatcher running in the background; replies still go at once
    (the intake sends them), the rest when the test delivers it (tests/wa_cloud.py)."""
    app = await build_app(settings, clock=clock)
    client = CloudClient(settings.whatsapp_api_base,
                         settings.whatsapp_access_token.get_secret_value(),
                         settings.whatsapp_phone_number_id,
                         settings.whatsapp_business_account_id, timeout=5)
    specs = template_specs()
    number = await client.phone_number()
    digits = "".join(c for c in number["display_phone_number"] if c.isdigit())
    channel = WhatsAppChannel(client, app.catalogs, app.services.buttons, settings.timezone,
                              app.sessions, app.clock, specs, display_number=digits)
    if approve:
        # As an operator would: push the templates (the fake approves them at once), sync.
        fake.auto_approve = True
        await wa_templates.push(client, specs)
    await sync_templates(app.sessions, app.clock, client, specs)
    await channel.refresh_templates()
    outbox = app.outbox([channel])
    if dispatch:
        await outbox.start()
    else:
        async with app.sessions() as s:
            await register_worker(s, outbox.worker_id, app.clock.now())
            await s.commit()
    runtime = WhatsAppRuntime(client, app.core, outbox, app_secret=fake.app_secret,
                              verify_token=VERIFY_TOKEN,
                              phone_number_id=settings.whatsapp_phone_number_id)
    server = HttpServer(settings.http_listen)
    runtime.add_routes(server)
    await server.start()
    fake.webhook_url = f"http://127.0.0.1:{server.port}/whatsapp"
    task = asyncio.create_task(runtime.run())
    return Running(fake, app, client, channel, outbox, runtime, server, task)


async def stop(r: Running) -> None:
    r.task.cancel()
    await asyncio.gather(r.task, return_exceptions=True)
    await r.server.stop()
    await r.outbox.stop()
    await r.client.close()
    await r.app.close()


@asynccontextmanager
async def running(fake: FakeWhatsApp, settings_for: Any, url: str, clock: Any, *,
                  approve: bool = True, dispatch: bool = True, **settings: Any
                  ) -> AsyncIterator[Running]:
    r = await start(fake, settings_for(url, **whatsapp_settings(fake, free_port()),
                                       **settings), clock, approve=approve, dispatch=dispatch)
    try:
        yield r
    finally:
        await stop(r)
