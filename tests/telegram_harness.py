"""Convoca's real Telegram runtime (its own polling) against the fake Bot API, in-process."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from bot.app import App, build_app
from bot.telegram import TelegramChannel, TelegramRuntime, make_bot
from bot.telegram.driver import Driver
from fakes.telegram_api import FakeTelegram
from scheduler.dispatcher import Dispatcher


@dataclass
class Running:
    fake: FakeTelegram
    app: App
    outbox: Dispatcher
    runtime: TelegramRuntime
    task: asyncio.Task[None]

    async def send(self, chat: int, text: str, count: int = 1, **kw: Any) -> list[dict]:
        """A person types; returns the bot messages that answer it."""
        before = len(self.fake.delivered(chat))
        if text.startswith("/"):
            cmd, _, payload = text.partition(" ")
            self.fake.command(chat, cmd, payload or None, **kw)
        else:
            self.fake.message(chat, text, **kw)
        return await self.replies(chat, before, count)

    async def press(self, chat: int, label: str, count: int = 1) -> list[dict]:
        """A person taps the inline button with this label on the latest message that has it."""
        data, mid = self.button(chat, label)
        before = len(self.fake.delivered(chat))
        self.fake.callback(chat, data, message_id=mid)
        return await self.replies(chat, before, count)

    async def share_contact(self, chat: int, phone: str, user_id: int | None = None,
                            count: int = 1) -> list[dict]:
        before = len(self.fake.delivered(chat))
        self.fake.contact(chat, phone, user_id)
        return await self.replies(chat, before, count)

    async def replies(self, chat: int, before: int, count: int) -> list[dict]:
        await self.fake.wait_for(lambda _r: len(self.fake.delivered(chat)) >= before + count,
                                 timeout=10)
        await self.settled()  # anything extra would show up as a failed count below
        return [r.params for r in self.fake.delivered(chat)[before:]]

    async def settled(self) -> None:
        """Every update given to the fake is handled and what answers it is sent: the
        runtime is back to a long poll (every update given is stored), and every update
        stored is handled, its replies sent (stored first, handled after: the runtime's
        own wait)."""
        await self.fake.wait_until_listening(timeout=10)
        await asyncio.wait_for(self.runtime.settled(), 10)

    def button(self, chat: int, label: str) -> tuple[str, int]:
        for rec in reversed(self.fake.delivered(chat)):
            markup = rec.params.get("reply_markup") or {}
            for row in markup.get("inline_keyboard", []):
                for b in row:
                    if b["text"] == label:
                        return b["callback_data"], rec.result["message_id"]
        raise AssertionError(f"no button {label!r} in chat {chat}")


def labels_of(message: dict) -> list[str]:
    """The inline buttons' labels of a message, row after row."""
    markup = message.get("reply_markup") or {}
    return [b["text"] for row in markup.get("inline_keyboard", []) for b in row]


def find_button(r: Running, chat: int, label: str, *, contains: bool = False
                ) -> tuple[str, int]:
    """The button as the person sees it now: on the newest message showing it, edits
    included (``Running.button`` sees messages only as first sent)."""
    for m in sorted(r.fake.bot_messages(chat), key=lambda m: -m["message_id"]):
        for row in (m.get("reply_markup") or {}).get("inline_keyboard", []):
            for b in row:
                if b["text"] == label or (contains and label in b["text"]):
                    return b["callback_data"], m["message_id"]
    raise AssertionError(f"no button {label!r} in chat {chat}")


def edits_of(r: Running, chat: int) -> list[dict]:
    """The parameters of every editMessageText the chat received."""
    return [c.params for c in r.fake.calls("editMessageText") if c.ok and c.chat_id == chat]


def bot_for(fake: FakeTelegram, timeout: float = 5) -> Driver:
    """A Bot API client of the driver under test, speaking to the fake."""
    return make_bot(fake.token, fake.base_url, timeout=timeout, driver=fake.driver)


async def start(fake: FakeTelegram, settings: Any, clock: Any) -> Running:
    app = await build_app(settings, clock=clock)
    bot = make_bot(settings.token, settings.telegram_api_base, timeout=5,
                   driver=settings.telegram_driver)
    assert bot.name == fake.driver  # the fake_tg fixture expects that driver's requests only
    me = await bot.get_me()
    channel = TelegramChannel(bot, app.catalogs, app.services.buttons, settings.timezone,
                              username=me.get("username"))
    outbox = app.outbox([channel])
    await outbox.start()
    runtime = TelegramRuntime(bot, app.core, outbox)
    task = asyncio.create_task(runtime.poll())
    return Running(fake, app, outbox, runtime, task)


@asynccontextmanager
async def running(fake: FakeTelegram, settings_for: Any, url: str, clock: Any, **settings: Any
                  ) -> AsyncIterator[Running]:
    """Convoca on ``url`` talking to ``fake``, with any other settings given; stopped after."""
    settings.setdefault("telegram_driver", fake.driver)
    r = await start(fake, settings_for(url, telegram_bot_token=fake.token,
                                       telegram_api_base=fake.base_url, **settings), clock)
    try:
        yield r
    finally:
        await stop(r)


async def stop(r: Running) -> None:
    await r.runtime.stop_polling()
    try:
        await asyncio.wait_for(r.task, 15)
    except (TimeoutError, asyncio.CancelledError):
        r.task.cancel()
    await r.outbox.stop()
    await r.runtime.bot.close()
    await r.app.close()
