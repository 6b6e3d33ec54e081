"""The Telegram channel's driver over python-telegram-bot: a plain ``telegram.Bot`` (httpx).

Only the Bot and its types: not PTB's Application, ConversationHandler or AIORateLimiter.
Convoca polls, routes the webhook and paces its sends itself (per chat and overall, one pause
per chat rather than one for the whole bot), and keeps every update in its database."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import warnings
from collections.abc import Iterator
from datetime import timedelta
from http import HTTPStatus
from typing import Any, BinaryIO

import httpx
from telegram import (
    Bot,
    InlineKeyboardMarkup,
    InputFile,
    MenuButtonWebApp,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    Update,
    WebAppInfo,
)
from telegram import error as ptb
from telegram.request import HTTPXRequest
from telegram.warnings import PTBDeprecationWarning

from bot.telegram import driver
from bot.telegram.driver import JSON

# PTB's documented opt-in to what its next major release does: a 429's retry_after as a
# timedelta (an int otherwise, with a deprecation warning each time PTB builds the error).
# Either is read (_seconds); an operator's own setting wins.
os.environ.setdefault("PTB_TIMEDELTA", "true")

# Requests in flight at once: a wave of the outbox (32), the taps' answers and edits beside it;
# aiogram's session allows 100 as well.
CONNECTIONS = 100


# Telegram's refusals by their HTTP status, as aiogram tells them apart (413 is its
# TelegramEntityTooLarge, a network error; a 429 without seconds its plain API error).
BY_STATUS: dict[int, type[driver.ApiError]] = {
    400: driver.BadRequest, 401: driver.Unauthorized, 403: driver.Forbidden,
    404: driver.NotFound, 409: driver.Conflict, 413: driver.NetworkError,
}
DOWNLOAD_CHUNK = 64 * 1024


class _NoUpdatesInLog(logging.Filter):
    """PTB logs a whole getUpdates batch (people's words, their phone numbers) when it cannot
    parse one update; the error is logged without them (the batch is offered again)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if str(record.msg).startswith("Error while parsing updates"):
            record.msg, record.args = "Error while parsing updates (their data is not logged)", ()
        return True


logging.getLogger("telegram.Bot").addFilter(_NoUpdatesInLog())


class _Refused(ptb.TelegramError):
    """Telegram's refusal with its own words and status. PTB rewords a description ("Bad
    Request: chat not found" becomes "Chat not found") and folds 5xx into NetworkError and
    404 into InvalidToken; the outbox keeps the reason, so both drivers keep Telegram's."""

    def __init__(self, code: int, description: str) -> None:
        super().__init__(description)
        self.code, self.description = code, description


class _Request(HTTPXRequest):
    async def do_request(self, *args: Any, **kwargs: Any) -> tuple[int, bytes]:
        code, payload = await super().do_request(*args, **kwargs)
        if code < 300:
            return code, payload
        try:
            answer = json.loads(payload)
            description, parameters = answer.get("description"), answer.get("parameters")
        except (ValueError, AttributeError):
            description, parameters = None, None
        if parameters and (parameters.get("migrate_to_chat_id")
                           or parameters.get("retry_after")):
            # A group become a supergroup (PTB's ChatMigrated), a 429's seconds (its
            # RetryAfter, an int or a timedelta)
            return code, payload
        try:
            phrase = f"{HTTPStatus(code).phrase} ({code})"
        except ValueError:
            phrase = f"HTTP {code}"
        raise _Refused(code, description or phrase)


def _seconds(retry_after: int | timedelta) -> float:
    return retry_after.total_seconds() if isinstance(retry_after, timedelta) \
        else float(retry_after)


def _markup(markup: JSON | None) -> Any:
    if markup is None:
        return None
    if "inline_keyboard" in markup:
        return InlineKeyboardMarkup.de_json(markup, None)
    if "keyboard" in markup:
        return ReplyKeyboardMarkup.de_json(markup, None)
    return ReplyKeyboardRemove.de_json(markup, None)


class PtbDriver:
    name = "ptb"

    def __init__(self, token: str, api_base: str, timeout: float) -> None:
        def request(connections: int) -> HTTPXRequest:
            return _Request(connection_pool_size=connections, read_timeout=timeout,
                            write_timeout=timeout, connect_timeout=timeout,
                            pool_timeout=timeout, media_write_timeout=timeout)

        base = api_base.rstrip("/")
        self._requests = (request(CONNECTIONS), request(1))
        self.bot = Bot(token, base_url=f"{base}/bot", base_file_url=f"{base}/file/bot",
                       request=self._requests[0], get_updates_request=self._requests[1])
        self.timeout = timeout
        self._token = token
        self._files: httpx.AsyncClient | None = None

    @contextlib.contextmanager
    def _mapped(self) -> Iterator[None]:
        """PTB's exceptions as the channel's own; never with the token, which PTB writes into
        the message of a token refused at start."""
        try:
            yield
        except ptb.RetryAfter as exc:
            with warnings.catch_warnings():  # int today, a timedelta in PTB's next major
                warnings.simplefilter("ignore", PTBDeprecationWarning)
                seconds = _seconds(exc.retry_after)
            raise driver.RetryAfter(seconds, self._clean(exc.message)) from None
        except _Refused as exc:
            kind = driver.ServerError if exc.code >= 500 else BY_STATUS.get(exc.code,
                                                                           driver.ApiError)
            raise kind(self._clean(exc.description)) from None
        except ptb.Forbidden as exc:
            raise driver.Forbidden(self._clean(exc.message)) from None
        except ptb.BadRequest as exc:
            raise driver.BadRequest(self._clean(exc.message)) from None
        except ptb.InvalidToken as exc:
            raise driver.Unauthorized(self._clean(exc.message)) from None
        except ptb.Conflict as exc:
            raise driver.Conflict(self._clean(exc.message)) from None
        except ptb.NetworkError as exc:  # time-outs (TimedOut) too
            raise driver.NetworkError(self._clean(exc.message)) from None
        except ptb.TelegramError as exc:
            raise driver.ApiError(self._clean(exc.message)) from None
        except httpx.HTTPError as exc:  # a download (the rest come as PTB's NetworkError)
            raise driver.NetworkError(self._clean(f"{type(exc).__name__}: {exc}")) from None

    def _clean(self, text: str) -> str:
        return text.replace(self._token, "<token>")

    async def get_me(self) -> JSON:
        with self._mapped():
            return (await self.bot.get_me()).to_dict()

    async def get_updates(self, offset: int | None, timeout: int,
                          allowed_updates: list[str]) -> list[JSON]:
        with self._mapped():
            updates = await self.bot.get_updates(  # PTB adds the poll's wait to read_timeout
                offset=offset, timeout=timeout, allowed_updates=allowed_updates,
                read_timeout=self.timeout)
        return [u.to_dict() for u in updates]

    def read_update(self, body: Any) -> JSON:
        if not isinstance(body, dict):
            raise ValueError("an update is a JSON object")
        try:
            Update.de_json(body, self.bot)
        except Exception as exc:  # PTB reads without a schema: a wrong shape fails anywhere
            raise ValueError(f"not an update ({type(exc).__name__})") from exc
        return body

    async def send_message(self, chat_id: int, text: str, reply_markup: JSON | None = None,
                           allow_paid_broadcast: bool | None = None) -> int:
        with self._mapped():
            sent = await self.bot.send_message(chat_id, text, reply_markup=_markup(reply_markup),
                                               allow_paid_broadcast=allow_paid_broadcast)
        return sent.message_id

    async def send_document(self, chat_id: int, filename: str, content: bytes,
                            caption: str | None = None,
                            reply_markup: JSON | None = None) -> int:
        with self._mapped():
            sent = await self.bot.send_document(
                chat_id, InputFile(content, filename=filename), caption=caption,
                reply_markup=_markup(reply_markup))
        return sent.message_id

    async def send_location(self, chat_id: int, latitude: float, longitude: float) -> int:
        with self._mapped():
            return (await self.bot.send_location(chat_id, latitude, longitude)).message_id

    async def edit_message_text(self, chat_id: int, message_id: int, text: str,
                                reply_markup: JSON | None = None) -> None:
        with self._mapped():
            await self.bot.edit_message_text(text, chat_id=chat_id, message_id=message_id,
                                             reply_markup=_markup(reply_markup))

    async def edit_message_reply_markup(self, chat_id: int, message_id: int,
                                        reply_markup: JSON | None = None) -> None:
        with self._mapped():
            await self.bot.edit_message_reply_markup(chat_id=chat_id, message_id=message_id,
                                                     reply_markup=_markup(reply_markup))

    async def answer_callback_query(self, callback_query_id: str) -> None:
        with self._mapped():
            await self.bot.answer_callback_query(callback_query_id)

    async def set_chat_menu_button(self, chat_id: int, text: str, url: str) -> None:
        with self._mapped():
            await self.bot.set_chat_menu_button(
                chat_id=chat_id, menu_button=MenuButtonWebApp(text, WebAppInfo(url)))

    async def get_file(self, file_id: str) -> JSON:
        with self._mapped():
            file = await self.bot.get_file(file_id)
        # PTB gives the path as the whole address to download it from.
        return {"file_path": file.file_path, "file_size": file.file_size}

    async def download_file(self, file_path: str, destination: BinaryIO) -> None:
        """Streamed into ``destination``, which stops it past its size (PTB's own download
        reads the whole file first, and a self-hosted Bot API server serves up to 2 GB)."""
        if self._files is None:
            self._files = httpx.AsyncClient(
                timeout=self.timeout, headers={"User-Agent": HTTPXRequest.USER_AGENT})
        with self._mapped():
            async with self._files.stream("GET", file_path) as answer:
                if answer.status_code != HTTPStatus.OK:
                    await answer.aread()
                    raise _Refused(answer.status_code, f"{answer.reason_phrase} "
                                   f"({answer.status_code})")
                async for chunk in answer.aiter_bytes(DOWNLOAD_CHUNK):
                    destination.write(chunk)

    async def set_webhook(self, url: str, secret_token: str,
                          allowed_updates: list[str]) -> None:
        with self._mapped():
            await self.bot.set_webhook(url, secret_token=secret_token,
                                       allowed_updates=allowed_updates)

    async def delete_webhook(self, drop_pending_updates: bool) -> None:
        with self._mapped():
            await self.bot.delete_webhook(drop_pending_updates=drop_pending_updates)

    async def close(self) -> None:
        # Bot.shutdown() closes nothing unless Bot.initialize() ran, and that one would ask
        # getMe with the token in its error message: the clients are closed here.
        await asyncio.gather(*(r.shutdown() for r in self._requests))
        if self._files is not None:
            await self._files.aclose()
