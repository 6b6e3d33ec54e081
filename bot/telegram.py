"""The Telegram channel (aiogram 3): updates in as neutral events, outbox rows out as calls."""

from __future__ import annotations

import asyncio
import io
import logging
from collections import defaultdict
from typing import Any

from aiogram import Bot, Dispatcher, F, Router, methods
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.methods.base import Response
from aiogram.types import (
    BufferedInputFile,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    Message,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    Update,
)

from handlers.buttons import ButtonCodec
from handlers.core import Core, DocumentTooBig
from handlers.events import DocumentRef, EventKind, Incoming, Outgoing
from locales import Catalogs
from scheduler.dispatcher import (
    Blocked,
    Delivered,
    Limits,
    NotDelivered,
    Rejected,
    Result,
    RetryAfter,
    Transient,
)
from scheduler.dispatcher import (
    Dispatcher as Outbox,
)
from storage.models import OutboxMessage

log = logging.getLogger(__name__)
CHANNEL = "telegram"

# aiogram parses every answer with pydantic's Response[T], which pydantic caches only weakly:
# each garbage collection threw the models away and the next call rebuilt them (15% of the
# time under load). Holding them here keeps them built.
RESPONSE_MODELS = [
    Response[method.__returning__]
    for method in (methods.SendMessage, methods.SendDocument, methods.SendLocation,
                   methods.EditMessageText, methods.EditMessageReplyMarkup,
                   methods.AnswerCallbackQuery, methods.GetUpdates, methods.GetMe,
                   methods.DeleteWebhook, methods.SetWebhook, methods.GetFile)
]
CAPTION_LIMIT = 1024
TEXT_LIMIT = 4096
FREE_PER_SECOND = 30
PROBE_REACH = 5  # messages the person may have written since the last one we know of

UNSUPPORTED_KINDS = (
    "sticker", "photo", "voice", "video", "video_note", "audio", "animation", "location",
    "venue", "poll", "dice", "game", "story",
)


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def split_text(text: str, limit: int) -> list[str]:
    """Pieces of at most `limit` UTF-16 units (Telegram's measure), cut at line ends or
    spaces where possible."""
    if utf16_len(text) <= limit:
        return [text]
    parts, rest = [], text
    while utf16_len(rest) > limit:
        cut = limit
        while utf16_len(rest[:cut]) > limit:
            cut -= 1
        window = rest[:cut]
        at = max(window.rfind("\n"), window.rfind(" "))
        if at < cut // 2:
            at = cut
        parts.append(rest[:at].rstrip())
        rest = rest[at:].lstrip()
    if rest:
        parts.append(rest)
    return parts


def make_bot(token: str, api_base: str, timeout: float = 30.0) -> Bot:
    session = AiohttpSession(api=TelegramAPIServer.from_base(api_base), timeout=timeout)
    return Bot(token=token, session=session, default=DefaultBotProperties())


def _command(text: str) -> tuple[str, str | None]:
    head, _, rest = text[1:].partition(" ")
    name = head.split("@", 1)[0].lower()
    return name, rest.strip() or None


def message_to_event(message: Message, update_id: int | None) -> Incoming:
    user = message.from_user
    common: dict[str, Any] = dict(
        channel=CHANNEL,
        address=str(message.chat.id),
        update_id=update_id,
        message_id=message.message_id,
        sender_name=user.full_name if user else None,
        sender_locale=user.language_code if user else None,
        sender_id=str(user.id) if user else None,
    )
    if message.text is not None:
        if message.text.startswith("/") and len(message.text) > 1:
            name, args = _command(message.text)
            return Incoming(kind=EventKind.COMMAND, command=name, args=args, text=message.text,
                            **common)
        return Incoming(kind=EventKind.TEXT, text=message.text, **common)
    if message.contact is not None:
        c = message.contact
        own = user is not None and c.user_id == user.id
        return Incoming(kind=EventKind.CONTACT, contact_phone=c.phone_number, contact_is_own=own,
                        **common)
    if message.document is not None:
        d = message.document
        ref = DocumentRef(d.file_id, d.file_name, d.mime_type, d.file_size)
        return Incoming(kind=EventKind.DOCUMENT, document=ref, text=message.caption, **common)
    kind = next((k for k in UNSUPPORTED_KINDS if getattr(message, k, None)), "other")
    return Incoming(kind=EventKind.UNSUPPORTED, unsupported=kind, **common)


def callback_to_event(query: CallbackQuery, update_id: int | None) -> Incoming | None:
    msg = query.message
    if msg is None or msg.chat is None:
        return None
    return Incoming(
        channel=CHANNEL,
        address=str(msg.chat.id),
        kind=EventKind.BUTTON,
        update_id=update_id,
        button=query.data or "",
        message_ref=str(msg.message_id),
        sender_name=query.from_user.full_name,
        sender_locale=query.from_user.language_code,
        sender_id=str(query.from_user.id),
    )


class TelegramChannel:
    """Renders neutral outbox rows into Bot API calls and maps the answers to results."""

    name = CHANNEL

    def __init__(self, bot: Bot, catalogs: Catalogs, buttons: ButtonCodec, timezone: str,
                 limits: Limits | None = None) -> None:
        self.bot = bot
        self.catalogs = catalogs
        self.buttons = buttons
        self.timezone = timezone
        self.limits = limits or Limits()

    def is_group(self, address: str) -> bool:
        return address.startswith("-")

    def _paid(self, row: OutboxMessage) -> bool:
        return (self.limits.per_second or 0) > FREE_PER_SECOND and row.kind != "reply"

    def _markup(self, out: Outgoing, row: OutboxMessage, locale: str | None) -> Any:
        zone = out.zone or self.timezone
        if out.ask_contact is not None:
            label = self.catalogs.render(out.ask_contact, locale, zone)
            return ReplyKeyboardMarkup(
                keyboard=[[KeyboardButton(text=label, request_contact=True)]],
                resize_keyboard=True, one_time_keyboard=True,
            )
        if out.buttons and row.person_id is not None:
            rows = [
                [
                    InlineKeyboardButton(
                        text=self.catalogs.render(b.label, locale, zone),
                        callback_data=self.buttons.pack(row.person_id, b.action),
                    )
                    for b in line
                ]
                for line in out.buttons
            ]
            return InlineKeyboardMarkup(inline_keyboard=rows)
        if out.remove_keyboard:
            return ReplyKeyboardRemove()
        return None

    async def deliver(self, row: OutboxMessage) -> Result:
        out = Outgoing.from_json(row.payload)
        locale = row.locale
        # Times in the zone of the programme the message is about; the setting when unknown.
        zone = out.zone or self.timezone
        text = self.catalogs.render(out.text, locale, zone) if out.text else None
        markup = self._markup(out, row, locale)
        chat_id = int(row.address)
        try:
            if out.attachment is not None:
                sent = await self.bot.send_document(
                    chat_id,
                    BufferedInputFile(out.attachment.content, out.attachment.filename),
                    caption=text[:CAPTION_LIMIT] if text else None,
                    reply_markup=markup,
                )
            elif out.edit_ref is not None and isinstance(markup, InlineKeyboardMarkup | None):
                try:
                    await self.bot.edit_message_text(
                        text=text or "…", chat_id=chat_id, message_id=int(out.edit_ref),
                        reply_markup=markup,
                    )
                except TelegramBadRequest as exc:
                    if "not modified" not in exc.message:
                        raise
                return Delivered(out.edit_ref)
            else:
                # A long text (a form's summary with long answers) goes as several messages,
                # the buttons on the last, rather than being refused by Telegram.
                *first, last = split_text(text or "…", TEXT_LIMIT)
                for part in first:
                    await self.bot.send_message(chat_id, part)
                sent = await self.bot.send_message(
                    chat_id, last, reply_markup=markup,
                    allow_paid_broadcast=True if self._paid(row) else None,
                )
            if out.location is not None:
                pin = await self.bot.send_location(chat_id, *out.location)
                # Both numbers are kept: a restart's probe must know every message it used.
                return Delivered(f"{sent.message_id}/{pin.message_id}")
            return Delivered(str(sent.message_id))
        except TelegramRetryAfter as exc:
            return RetryAfter(float(exc.retry_after))
        except TelegramForbiddenError as exc:
            return Blocked(exc.message)
        except (TelegramServerError, TelegramNetworkError, TimeoutError) as exc:
            return Transient(f"{type(exc).__name__}: {exc}")
        except (TelegramBadRequest, TelegramNotFound) as exc:
            return Rejected(exc.message)
        except TelegramUnauthorizedError as exc:
            return Transient(f"unauthorized: {exc.message}")


    async def probe(self, row: OutboxMessage, after: int | None
                    ) -> Delivered | NotDelivered | None:
        """Did a message in flight when the process died arrive? A private chat numbers its
        messages in sequence, so the next number after the last one known is either ours
        (editing it to the markup it already has answers "not modified"), the person's
        ("can't be edited": look one further), or not there ("not found": it never left)."""
        out = Outgoing.from_json(row.payload)
        if out.edit_ref is not None:
            return NotDelivered()  # an edit done twice changes nothing
        if after is None or out.location is not None or self.is_group(row.address):
            return None
        markup = self._markup(out, row, row.locale)
        inline = markup if isinstance(markup, InlineKeyboardMarkup) else None
        for message_id in range(after + 1, after + 1 + PROBE_REACH):
            try:
                await self.bot.edit_message_reply_markup(
                    chat_id=int(row.address), message_id=message_id, reply_markup=inline)
                return Delivered(str(message_id))
            except TelegramBadRequest as exc:
                text = exc.message.lower()
                if "not modified" in text:
                    return Delivered(str(message_id))
                if "can't be edited" in text:
                    continue
                if "not found" in text:
                    return NotDelivered()
                return None
            except (TelegramNetworkError, TelegramServerError, TelegramForbiddenError,
                    TimeoutError):
                return None
        return None


class _Capped(io.BytesIO):
    """A download's buffer that refuses to hold more than ``limit`` bytes."""

    def __init__(self, file_id: str, limit: int) -> None:
        super().__init__()
        self.file_id, self.limit = file_id, limit

    def write(self, data: Any) -> int:
        if self.tell() + len(data) > self.limit:
            raise DocumentTooBig(self.file_id)
        return super().write(data)


class TelegramRuntime:
    """Feeds aiogram's updates to the core, one person at a time, and answers at once."""

    def __init__(self, bot: Bot, core: Core, outbox: Outbox) -> None:
        self.bot = bot
        self.core = core
        self.outbox = outbox
        self.dispatcher = Dispatcher()
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        router = Router(name="convoca")
        router.message.register(self._on_message, F.chat.type == "private")
        router.callback_query.register(self._on_callback)
        self.dispatcher.include_router(router)
        core.services.files[CHANNEL] = self.download

    async def download(self, file_id: str, max_bytes: int) -> bytes:
        """The document's bytes, refused without downloading when Telegram says it is too
        big, and cut off when the download runs past the size (a self-hosted Bot API
        server serves files of up to 2 GB, and may not say their size)."""
        file = await self.bot.get_file(file_id)
        if file.file_path is None or (file.file_size or 0) > max_bytes:
            raise DocumentTooBig(file_id)  # Telegram gives no path to files over 20 MB
        buffer = _Capped(file_id, max_bytes)
        await self.bot.download_file(file.file_path, destination=buffer)
        return buffer.getvalue()

    async def _handle(self, event: Incoming) -> None:
        # Updates of one chat are handled in order; different chats run side by side.
        async with self._locks[event.address]:
            replies = await self.core.handle_claimed(event, self.outbox.reply_claim)
        await self.outbox.deliver_claimed(replies)
        # What the update queued beyond its replies (a broadcast, invitations) starts now
        # rather than at the dispatcher's next idle check.
        self.outbox.wake()
        if len(self._locks) > 10_000:
            for addr in [a for a, lock in self._locks.items() if not lock.locked()]:
                del self._locks[addr]

    async def _on_message(self, message: Message, event_update: Update) -> None:
        await self._handle(message_to_event(message, event_update.update_id))

    async def _on_callback(self, query: CallbackQuery, event_update: Update) -> None:
        # Stop the button's spinner first: the person should not wait on our database.
        try:
            await query.answer()
        except (TelegramBadRequest, TelegramNetworkError, TelegramServerError):
            log.info("could not answer callback query %s", query.id)
        event = callback_to_event(query, event_update.update_id)
        if event is not None:
            await self._handle(event)

    async def poll(self) -> None:
        await self.bot.delete_webhook(drop_pending_updates=False)
        await self.dispatcher.start_polling(
            self.bot, handle_signals=False, close_bot_session=False,
            allowed_updates=["message", "callback_query"],
        )

    async def stop_polling(self) -> None:
        try:
            await self.dispatcher.stop_polling()
        except RuntimeError:
            pass

    async def serve_webhook(self, url: str, secret: str | None, listen: str) -> None:
        from aiogram.webhook.aiohttp_server import SimpleRequestHandler, setup_application
        from aiohttp import web

        app = web.Application()
        SimpleRequestHandler(self.dispatcher, self.bot, secret_token=secret).register(
            app, path="/telegram"
        )
        setup_application(app, self.dispatcher, bot=self.bot)
        await self.bot.set_webhook(
            url.rstrip("/") + "/telegram", secret_token=secret,
            allowed_updates=["message", "callback_query"],
        )
        host, _, port = listen.rpartition(":")
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, host or "0.0.0.0", int(port)).start()
        try:
            await asyncio.Event().wait()
        finally:
            await runner.cleanup()
