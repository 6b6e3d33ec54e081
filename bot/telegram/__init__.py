"""The Telegram channel: updates in as neutral events, outbox rows out as Bot API calls.

The mapping between Bot API JSON and Convoca's events and replies is written here once; a
driver (``driver.Driver``) carries it over a client library: python-telegram-bot
(``ptb_driver``, the default: it starts in a tenth of aiogram's time and memory, see
BENCHMARKS.md) or aiogram (``aiogram_driver``). Nothing here imports either library."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import io
import json
import logging
import random
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from typing import Any

from bot.telegram.driver import (
    JSON,
    ApiError,
    BadRequest,
    Driver,
    Forbidden,
    NetworkError,
    NotFound,
    ServerError,
    Unauthorized,
)
from bot.telegram.driver import RetryAfter as TooManyRequests
from channels import Capabilities, month
from channels.layout import split_text
from handlers.buttons import ButtonCodec
from handlers.core import Core, DocumentTooBig
from handlers.events import DocumentRef, EventKind, Incoming, Outgoing
from handlers.intake import Intake
from locales import Catalogs, Msg
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
from storage.failures import StorageUnavailable
from storage.intake import Received
from storage.models import OutboxMessage

log = logging.getLogger(__name__)
CHANNEL = "telegram"

CAPTION_LIMIT = 1024
TEXT_LIMIT = 4096
# What a message on Telegram can carry. Buttons: 100 on a message, 8 on a row; labels have no
# documented limit, but clients cut them long before 64 characters.
CAPABILITIES = Capabilities(
    buttons=100, buttons_per_row=8, list_rows=0, label_chars=64, text_chars=TEXT_LIMIT,
    caption_chars=CAPTION_LIMIT, action_bytes=64, can_edit=True, can_ask_phone=True,
    month_grid=True, menu_app=True,
)
# The callback data of a button that only shows something (a pager's "2/5", a calendar's
# weekdays): pressing it stops the spinner and reaches no one. Messages sent before these
# buttons were Telegram's own carry a signed "noop" action instead, treated the same.
SHOWS_ONLY = "·"
SHOWED_ONLY = "noop|"
# How Telegram refuses an edit of a message that can no longer become the new state: too
# old, gone, or a document's.
UNEDITABLE = ("can't be edited", "not found", "no text in the message", "message_id_invalid")
FREE_PER_SECOND = 30
# Telegram's published limits: ~30 messages/s overall (more as paid broadcasts), about 1/s
# per chat with short bursts tolerated, 20/min per group.
LIMITS = Limits(per_second=FREE_PER_SECOND, per_chat_per_second=1.0, chat_burst=3,
                group_per_minute=20)
PROBE_REACH = 5  # messages the person may have written since the last one we know of

ALLOWED_UPDATES = ["message", "callback_query"]
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
POLL_SECONDS = 10  # how long one getUpdates waits for news
STOP_GRACE = 10.0  # seconds the updates being handled get to finish when stopping
LEASE_LOOK = 0.5  # how often a poller checks it still holds the poller's lease
DRIVERS = ("ptb", "aiogram")
DEFAULT_DRIVER = "ptb"

PHOTO_MIME = "image/jpeg"  # Telegram re-encodes every photo it keeps as JPEG
UNSUPPORTED_KINDS = (
    "sticker", "photo", "voice", "video", "video_note", "audio", "animation", "location",
    "venue", "poll", "dice", "game", "story",
)


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def capabilities(username: str | None) -> Capabilities:
    """Telegram's capabilities, with links that open the bot with a payload once its
    username is known."""
    if not username:
        return CAPABILITIES
    return replace(CAPABILITIES,
                   deep_link=lambda payload: f"https://t.me/{username}?start={payload}",
                   handle=f"@{username}")


def caption_and_text(text: str | None) -> tuple[list[str], str | None]:
    """A document's caption, and the messages that go before the document when the text is
    longer than a caption holds: sent whole, never cut."""
    if text is None or utf16_len(text) <= CAPTION_LIMIT:
        return [], text
    return split_text(text, TEXT_LIMIT, utf16_len), None


class Backoff:
    """Seconds to wait before trying again: longer after each failure, up to a ceiling."""

    def __init__(self, first: float, most: float, factor: float) -> None:
        self.first, self.most, self.factor = first, most, factor
        self.delay = first

    async def asleep(self) -> None:
        await asyncio.sleep(self.delay * random.uniform(0.9, 1.1))  # apart, not in step
        self.delay = min(self.delay * self.factor, self.most)

    def reset(self) -> None:
        self.delay = self.first


def make_bot(token: str, api_base: str, timeout: float = 30.0,
             driver: str = DEFAULT_DRIVER) -> Driver:
    """The Bot API client of the chosen library; only that library is imported."""
    if driver == "ptb":
        from bot.telegram.ptb_driver import PtbDriver

        return PtbDriver(token, api_base, timeout)
    if driver == "aiogram":
        from bot.telegram.aiogram_driver import AiogramDriver

        return AiogramDriver(token, api_base, timeout)
    raise ValueError(f"unknown Telegram driver {driver!r}: expected one of {DRIVERS}")


def _command(text: str) -> tuple[str, str | None]:
    head, _, rest = text[1:].partition(" ")
    name = head.split("@", 1)[0].lower()
    return name, rest.strip() or None


class UnreadableUpdate(ValueError):
    """An update the mapping cannot read: wrong types, a field missing."""


def _str(obj: JSON, key: str) -> str | None:
    """A text field of an update; ValueError when it is there and not text (a webhook's body
    as PTB reads it is not checked against the Bot API's types)."""
    value = obj.get(key)
    if value is not None and not isinstance(value, str):
        raise ValueError(f"{key} is not a string")
    return value


def full_name(user: JSON) -> str:
    return " ".join(n for n in (user.get("first_name"), user.get("last_name")) if n)


def private_sender(chat: JSON, user: JSON | None, update_id: int | None) -> int | None:
    """Whom an update speaks for: the user of a private chat, writing in it (there the chat's
    id is the user's). A group, a channel, or an update whose chat is not its sender's own
    (which Telegram never sends: a forgery) speaks for no one, and is not handled at all."""
    kind = chat.get("type")
    if (user is not None and kind == "private" and chat.get("id") == user.get("id")
            and not user.get("is_bot")):
        return int(user["id"])
    if kind == "private":
        log.warning("update %s refused: it comes from user %s in the private chat %s",
                    update_id, user.get("id") if user else None, chat.get("id"))
    else:
        log.debug("update %s from a %s chat ignored", update_id, kind)
    return None


def message_to_event(message: JSON, update_id: int | None) -> Incoming | None:
    """A Bot API Message (JSON) as the neutral event it is, or None when it speaks for no
    one."""
    user = message.get("from")
    sender = private_sender(message.get("chat") or {}, user, update_id)
    if sender is None or user is None:
        return None
    common: dict[str, Any] = dict(
        channel=CHANNEL,
        address=str(sender),
        update_id=None if update_id is None else str(update_id),
        message_id=str(message["message_id"]),
        sender_name=full_name(user),
        sender_locale=user.get("language_code"),
        sender_id=str(sender),
    )
    text = _str(message, "text")
    if text is not None:
        if text.startswith("/") and len(text) > 1:
            name, args = _command(text)
            return Incoming(kind=EventKind.COMMAND, command=name, args=args, text=text,
                            **common)
        return Incoming(kind=EventKind.TEXT, text=text, **common)
    if (c := message.get("contact")) is not None:
        return Incoming(kind=EventKind.CONTACT, contact_phone=c["phone_number"],
                        contact_is_own=c.get("user_id") == sender, **common)
    if (d := message.get("document")) is not None:
        ref = DocumentRef(d["file_id"], d.get("file_name"), d.get("mime_type"),
                          d.get("file_size"))
        return Incoming(kind=EventKind.DOCUMENT, document=ref, text=_str(message, "caption"),
                        **common)
    if photo := message.get("photo"):
        # Telegram sends every size it made; the last is the largest, the one worth keeping.
        biggest = photo[-1]
        ref = DocumentRef(biggest["file_id"], None, PHOTO_MIME, biggest.get("file_size"))
        return Incoming(kind=EventKind.PHOTO, document=ref, text=_str(message, "caption"),
                        **common)
    kind = next((k for k in UNSUPPORTED_KINDS if message.get(k)), "other")
    return Incoming(kind=EventKind.UNSUPPORTED, unsupported=kind, **common)


def callback_to_event(query: JSON, update_id: int | None) -> Incoming | None:
    """A tap on an inline button (a Bot API CallbackQuery) as the neutral event."""
    msg = query.get("message")
    if not msg or not msg.get("chat"):
        return None
    user = query.get("from") or {}
    sender = private_sender(msg["chat"], user, update_id)
    if sender is None:
        return None
    return Incoming(
        channel=CHANNEL,
        address=str(sender),
        kind=EventKind.BUTTON,
        update_id=None if update_id is None else str(update_id),
        button=_str(query, "data") or "",
        message_ref=str(msg["message_id"]),
        sender_name=full_name(user),
        sender_locale=user.get("language_code"),
        sender_id=str(sender),
    )


def update_to_event(update: JSON) -> Incoming | None:
    """The event of a Bot API Update: a message or a tap; None for the kinds not asked for."""
    update_id = update.get("update_id")
    if (message := update.get("message")) is not None:
        return message_to_event(message, update_id)
    if (query := update.get("callback_query")) is not None:
        return callback_to_event(query, update_id)
    return None


class TelegramChannel:
    """Renders neutral outbox rows into Bot API calls and maps the answers to results."""

    name = CHANNEL

    def __init__(self, bot: Driver, catalogs: Catalogs, buttons: ButtonCodec, timezone: str,
                 limits: Limits | None = None, username: str | None = None,
                 account: str | None = None) -> None:
        self.bot = bot
        self.account = account  # the bot's id: one process sends for it (dispatcher)
        self.catalogs = catalogs
        self.buttons = buttons
        self.timezone = timezone
        self.limits = limits or LIMITS
        self.capabilities = capabilities(username)

    def is_group(self, address: str) -> bool:
        return address.startswith("-")

    def _paid(self, row: OutboxMessage) -> bool:
        return (self.limits.per_second or 0) > FREE_PER_SECOND and row.kind != "reply"

    def _markup(self, out: Outgoing, row: OutboxMessage, locale: str | None) -> JSON | None:
        """The reply markup (Bot API JSON): a button to share the phone, the inline buttons,
        or the phone button taken away once answered."""
        zone = out.zone or self.timezone
        if out.ask_phone is not None:
            label = self.catalogs.render(out.ask_phone, locale, zone)
            return {"keyboard": [[{"text": label, "request_contact": True}]],
                    "resize_keyboard": True, "one_time_keyboard": True}
        rows = self._inline_rows(out, row.person_id, locale, zone)
        if rows:
            return {"inline_keyboard": rows}
        if out.phone_asked_done:
            return {"remove_keyboard": True}
        return None

    def _inline_rows(self, out: Outgoing, person_id: int | None, locale: str | None,
                     zone: str) -> list[list[JSON]]:
        """The month to pick a day from, the options, then the pager's row."""
        if person_id is None:  # no one to sign the buttons for
            return []

        def button(label: Msg, action: str | None) -> JSON:
            return {"text": self.catalogs.render(label, locale, zone),
                    "callback_data": SHOWS_ONLY if action is None
                    else self.buttons.pack(person_id, action)}

        rows = []
        if out.date_pick is not None:
            rows += [[button(c.label, c.action) for c in line]
                     for line in month.grid(out.date_pick)]
        rows += [[button(b.label, b.action) for b in line] for line in out.buttons]
        pager = out.pager
        if pager is not None and pager.pages > 1:
            line = [button(Msg("pager.previous"), pager.previous)] if pager.previous else []
            line.append(button(Msg("pager.page", {"page": pager.page + 1,
                                                  "pages": pager.pages}), None))
            if pager.next:
                line.append(button(Msg("pager.next"), pager.next))
            rows.append(line)
        return rows

    async def _update(self, out: Outgoing, chat_id: int, text: str | None,
                      markup: JSON | None) -> Delivered | None:
        """Put ``out`` in the place of the message it updates; None when Telegram refuses to
        edit that one, and it is to be sent anew."""
        assert out.updates is not None
        try:
            await self.bot.edit_message_text(chat_id, int(out.updates), text or "…",
                                             reply_markup=markup)
        except BadRequest as exc:
            reason = exc.message.lower()
            if any(word in reason for word in UNEDITABLE):
                log.info("message %s in chat %s cannot be edited (%s): sent anew", out.updates,
                         chat_id, exc.message)
                return None
            if "not modified" not in reason:
                raise
        return Delivered(out.updates)

    async def deliver(self, row: OutboxMessage) -> Result:
        out = Outgoing.from_json(row.payload)
        locale = row.locale
        # Times in the zone of the programme the message is about; the setting when unknown.
        zone = out.zone or self.timezone
        text = self.catalogs.render(out.text, locale, zone) if out.text else None
        markup = self._markup(out, row, locale)
        chat_id = int(row.address)
        try:
            if out.menu_app is not None and not self.is_group(row.address):
                # Before the message: a retry after a failure sets it again, which is
                # harmless, while a message must not be sent twice.
                await self._set_menu_app(chat_id, out.menu_app, locale, zone)
            if out.attachment is not None:
                before, caption = caption_and_text(text)
                for part in before:
                    await self.bot.send_message(chat_id, part)
                sent = await self.bot.send_document(
                    chat_id, out.attachment.filename, out.attachment.content,
                    caption=caption, reply_markup=markup,
                )
            else:
                if out.updates is not None and (markup is None or "inline_keyboard" in markup):
                    # A progress report too: Telegram edits quickly enough to show each count.
                    updated = await self._update(out, chat_id, text, markup)
                    if updated is not None:
                        return updated
                    if out.progress:
                        # Each count as a new message would flood the chat: a passing state
                        # is left out, the final one (not a progress) comes anew.
                        return Delivered(None)
                # A long text (a form's summary with long answers) goes as several messages,
                # the buttons on the last, rather than being refused by Telegram.
                *first, last = split_text(text or "…", TEXT_LIMIT, utf16_len)
                for part in first:
                    await self.bot.send_message(chat_id, part)
                sent = await self.bot.send_message(
                    chat_id, last, reply_markup=markup,
                    allow_paid_broadcast=True if self._paid(row) else None,
                )
            if out.location is not None:
                pin = await self.bot.send_location(chat_id, *out.location)
                # Both numbers are kept: a restart's probe must know every message it used.
                return Delivered(f"{sent}/{pin}")
            return Delivered(str(sent))
        except TooManyRequests as exc:
            return RetryAfter(exc.seconds)
        except Forbidden as exc:
            return Blocked(exc.message)
        except (ServerError, NetworkError) as exc:
            return Transient(f"{type(exc).__name__}: {exc.message}")
        except (BadRequest, NotFound) as exc:
            return Rejected(exc.message)
        except Unauthorized as exc:
            return Transient(f"unauthorized: {exc.message}")

    async def _set_menu_app(self, chat_id: int, menu_app: tuple[Msg, str], locale: str | None,
                            zone: str) -> None:
        """The chat's menu button opens the page as a Mini App. Telegram refusing it (an
        address it will not load) costs the button only, never the message it came with."""
        label, url = menu_app
        try:
            await self.bot.set_chat_menu_button(
                chat_id, self.catalogs.render(label, locale, zone), url)
        except BadRequest as exc:
            log.warning("Telegram refused the menu button of chat %s (%s)", chat_id,
                        exc.message)

    async def probe(self, row: OutboxMessage, known: list[str]
                    ) -> Delivered | NotDelivered | None:
        """Did a message in flight when the process died arrive? A private chat numbers its
        messages in sequence, so the next number after the last one known (ours delivered,
        or the person's) is either ours (editing it to the markup it already has answers
        "not modified"), the person's ("can't be edited": look one further), or not there
        ("not found": it never left)."""
        out = Outgoing.from_json(row.payload)
        if out.updates is not None:
            return NotDelivered()  # an edit done twice changes nothing
        after = last_message_number(known)
        if after is None or out.location is not None or self.is_group(row.address):
            return None
        markup = self._markup(out, row, row.locale)
        inline = markup if markup is not None and "inline_keyboard" in markup else None
        for message_id in range(after + 1, after + 1 + PROBE_REACH):
            try:
                await self.bot.edit_message_reply_markup(int(row.address), message_id,
                                                         reply_markup=inline)
                return Delivered(str(message_id))
            except BadRequest as exc:
                text = exc.message.lower()
                if "not modified" in text:
                    return Delivered(str(message_id))
                if "can't be edited" in text:
                    continue
                if "not found" in text:
                    return NotDelivered()
                return None
            except (NetworkError, ServerError, Forbidden):
                return None
        return None


def last_message_number(refs: list[str]) -> int | None:
    """The highest message number among references as this channel makes them: a number,
    or numbers joined by "/" (a message and the location pin sent with it)."""
    numbers = [int(part) for ref in refs for part in str(ref).split("/") if part.isdigit()]
    return max(numbers, default=None)


def shows_only(query: JSON) -> bool:
    """A button that only shows something (a header, a page number): nothing to handle."""
    data = _str(query, "data") or ""
    return data == SHOWS_ONLY or data.startswith(SHOWED_ONLY)


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
    """Feeds Telegram's updates to the intake, and the intake's updates to the core.

    An update is acknowledged to Telegram (the next getUpdates offset, or the webhook's 200)
    once it is stored, before it is handled: when the database cannot store it, Telegram
    keeps it and offers it again; once stored, a crash only delays its answer."""

    def __init__(self, bot: Driver, core: Core, outbox: Outbox) -> None:
        self.bot = bot
        self.core = core
        self.outbox = outbox
        self.intake = Intake(core, outbox, [CHANNEL])
        self._outage: str | None = None  # the storage failure being waited out, logged once
        self._stop: asyncio.Event | None = None
        self._answering: set[asyncio.Task[None]] = set()
        core.services.files[CHANNEL] = self.download

    async def settled(self) -> None:
        """Every update stored is handled and its replies sent (tests and benchmarks wait
        for it: acknowledging no longer waits for the handling)."""
        await self.intake.settled()

    async def download(self, file_id: str, max_bytes: int) -> bytes:
        """The document's bytes, refused without downloading when Telegram says it is too
        big, and cut off when the download runs past the size (a self-hosted Bot API
        server serves files of up to 2 GB, and may not say their size)."""
        file = await self.bot.get_file(file_id)
        path = file.get("file_path")
        if path is None or (file.get("file_size") or 0) > max_bytes:
            raise DocumentTooBig(file_id)  # Telegram gives no path to files over 20 MB
        buffer = _Capped(file_id, max_bytes)
        await self.bot.download_file(path, buffer)
        return buffer.getvalue()

    async def receive(self, updates: list[JSON], *, refuse_unreadable: bool = False) -> bool:
        """Store the updates (Bot API JSON, in their order); False when the database could
        not, and they must not be acknowledged. An update the mapping cannot read is logged
        and left out, or, with ``refuse_unreadable`` (a webhook's one update, which can still
        be answered 400), raises UnreadableUpdate before anything is stored."""
        received: list[Received] = []
        queries: list[JSON] = []
        for update in updates:
            query = update.get("callback_query")
            try:
                if query is not None and shows_only(query):
                    queries.append(query)  # its spinner stops; there is nothing to handle
                    continue
                event = update_to_event(update)
                if event is None:
                    continue
            except Exception as exc:  # offering it again would repeat the fault
                if refuse_unreadable:
                    raise UnreadableUpdate(f"{type(exc).__name__}: {exc}") from exc
                log.exception("update %s could not be read", update.get("update_id"))
                continue
            received.append(Received(CHANNEL, str(update["update_id"]), event.address, update,
                                     event.to_json()))
            if query is not None:
                queries.append(query)
        try:
            await self.intake.receive(received)
        except StorageUnavailable as exc:
            self._not_stored(exc)
            return False
        self._stored()
        for query in queries:  # stop the buttons' spinners: nobody should wait on our turns
            task = asyncio.create_task(self._answer(query))
            self._answering.add(task)
            task.add_done_callback(self._answering.discard)
        return True

    async def _answer(self, query: JSON) -> None:
        try:
            await self.bot.answer_callback_query(query["id"])
        except ApiError:
            log.info("could not answer callback query %s", query.get("id"))

    def _not_stored(self, exc: StorageUnavailable) -> None:
        if self._outage is None:
            self._outage = str(exc)
            log.error(
                "The database cannot store updates (%s). They are not acknowledged: Telegram "
                "keeps them for 24 hours and Convoca takes them again as soon as the database "
                "accepts writes. Free disk space, or bring the database back.", exc)
        else:
            log.debug("updates not stored either (%s)", exc)

    def _stored(self) -> None:
        if self._outage is not None:
            log.warning("The database stores updates again (it had failed with: %s)",
                        self._outage)
            self._outage = None

    @contextlib.asynccontextmanager
    async def _handling(self) -> AsyncIterator[None]:
        """The intake's worker, running beside whatever receives the updates."""
        self.intake.start()
        try:
            yield
        finally:
            # What is being handled may finish; the rest waits in the database.
            await self.intake.stop(STOP_GRACE)
            await asyncio.gather(*self._answering, return_exceptions=True)

    # long polling ---------------------------------------------------------------------------

    async def poll(self, lease: Any = None) -> None:
        """Long polling. With ``lease`` (scheduler.leases.Lease: several processes on one
        token, where a second getUpdates gets 409 Conflict) only its holder polls; every
        process handles what is stored."""
        self._stop = asyncio.Event()
        async with self._handling():
            if lease is None:
                await self.bot.delete_webhook(False)
                await self._poll_until_stopped(lambda: True)
                return
            lease.start()
            try:
                while not self._stop.is_set():
                    if lease.held():
                        await self.bot.delete_webhook(False)
                        await self._poll_until_stopped(lease.held)
                    else:
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(self._stop.wait(), LEASE_LOOK)
            finally:
                await lease.stop()

    async def _poll_until_stopped(self, may_poll: Callable[[], bool]) -> None:
        polling = asyncio.create_task(self._poll(), name="telegram-poll")
        stopping = asyncio.create_task(self._stop.wait())  # type: ignore[union-attr]
        try:
            while True:
                done, _ = await asyncio.wait({polling, stopping}, timeout=LEASE_LOOK,
                                             return_when=asyncio.FIRST_COMPLETED)
                if polling in done:
                    polling.result()
                if done or not may_poll():
                    return
        finally:
            for task in (polling, stopping):
                task.cancel()
            await asyncio.gather(polling, stopping, return_exceptions=True)

    async def stop_polling(self) -> None:
        if self._stop is not None:
            self._stop.set()

    async def _poll(self) -> None:
        """getUpdates acknowledges every update below the offset it is given: the offset
        moves past a batch once the batch is stored, whatever is still being handled."""
        offset: int | None = None
        fetching = Backoff(first=1.0, most=5.0, factor=1.3)
        retrying = Backoff(first=1.0, most=30.0, factor=2.0)
        while True:
            try:
                updates = await self.bot.get_updates(offset, POLL_SECONDS, ALLOWED_UPDATES)
            except Exception as exc:  # Telegram, or the way to it, may be away a while
                log.error("could not fetch updates (%s: %s); trying again", type(exc).__name__,
                          exc.message if isinstance(exc, ApiError) else exc)
                await fetching.asleep()
                continue
            fetching.reset()
            if not updates:
                continue
            if not await self.receive(updates):
                await retrying.asleep()  # longer each time the database refuses again
                continue  # the same offset: Telegram offers the batch again
            retrying.reset()
            offset = max(u["update_id"] for u in updates) + 1

    # webhook ---------------------------------------------------------------------------------

    async def serve_webhook(self, url: str, secret: str, listen: str) -> None:
        """The webhook on a server of its own (one channel alone, and the tests)."""
        from bot.http import HttpServer

        server = HttpServer(listen)
        self.add_webhook_route(server, secret)
        try:
            await server.start()
            await self.run_webhook(url, secret)
        finally:
            await server.stop()

    def add_webhook_route(self, server: Any, secret: str) -> None:
        """Telegram's updates at /telegram on the process's one HTTP server (bot.http)."""
        if not secret:
            raise ValueError("a webhook needs its secret token (WEBHOOK_SECRET)")

        async def on_update(request: Any) -> Any:
            return await self._on_webhook(request, secret)

        server.add("POST", "/telegram", on_update)

    async def run_webhook(self, url: str, secret: str) -> None:
        """Handle what the webhook stores, once the server listens: Telegram is told where
        only then, so its first update finds the door open."""
        async with self._handling():
            await self.bot.set_webhook(url.rstrip("/") + "/telegram", secret, ALLOWED_UPDATES)
            await asyncio.Event().wait()

    async def _on_webhook(self, request: Any, secret: str) -> Any:
        from starlette.responses import Response

        given = request.headers.get(SECRET_HEADER, "")
        if not hmac.compare_digest(given.encode(), secret.encode()):
            return Response(status_code=401)
        try:
            update = self.bot.read_update(json.loads(await request.body()))
            if type(update.get("update_id")) is not int:  # the offset and the dedupe key
                raise ValueError("update_id is not an integer")
            # Answered only once stored: a 200 before it would lose the update in a crash.
            stored = await self.receive([update], refuse_unreadable=True)
        except ValueError as exc:  # not JSON, not UTF-8, not an Update as the driver reads
            # it, or one the mapping cannot read (PTB does not check the Bot API's types)
            reason = str(exc).splitlines()[0]
            log.warning("webhook: refused a request that is not a Telegram update (%s: %s)",
                        type(exc).__name__, reason)
            return Response(status_code=400)
        if not stored:
            return Response(status_code=503)  # Telegram sends it again later
        return Response()
