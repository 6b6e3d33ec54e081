"""The Telegram channel's driver over python-telegram-bot: a plain ``telegram.Bot``.

Only the Bot and its types: not PTB's Application, ConversationHandler or AIORateLimiter.
Convoca polls, routes the webhook and paces its sends itself (per chat and overall, one pause
per chat rather than one for the whole bot), and keeps every update in its database.

Its requests go over aiohttp (``AiohttpRequest``, PTB's documented way to bring a transport of
one's own), not PTB's default httpx: httpcore's connection pool cost 1.1 ms of CPU per request
sent one at a time and 2.4-3.6 ms at 32 at a time here, aiohttp 0.25 and 0.20 ms
(BENCHMARKS.md §9); an unlimited broadcast ran at ~470/s on httpx. aiohttp is Convoca's
client for WhatsApp already."""

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

import aiohttp
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
from telegram.request import BaseRequest, RequestData
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


UNREADABLE = 0  # the code of an answer that is not Telegram's JSON: a proxy's error page


class _Refused(ptb.TelegramError):
    """Telegram's refusal with its own words and status. PTB rewords a description ("Bad
    Request: chat not found" becomes "Chat not found") and folds 5xx into NetworkError and
    404 into InvalidToken; the outbox keeps the reason, so both drivers keep Telegram's."""

    def __init__(self, code: int, description: str) -> None:
        super().__init__(description)
        self.code, self.description = code, description


class AiohttpRequest(BaseRequest):
    """PTB's requests over one aiohttp session; a refusal keeps Telegram's status and words
    (``_Refused``), a 429 with its seconds and a migrated group are PTB's own errors."""

    def __init__(self, connections: int, timeout: float) -> None:
        self._connections, self._timeout = connections, timeout
        self._session: aiohttp.ClientSession | None = None
        self._closed = False

    @property
    def read_timeout(self) -> float:
        return self._timeout

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._closed:  # a session made now would never be closed
            raise ptb.NetworkError("the driver is closed")
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._connections),
                headers={"User-Agent": self.USER_AGENT})
        return self._session

    async def initialize(self) -> None:
        pass  # the session is made by the first request, in its event loop

    async def shutdown(self) -> None:
        self._closed = True
        if self._session is not None:
            await self._session.close()
            self._session = None

    @staticmethod
    def parse_json_payload(payload: bytes) -> Any:
        """A 200 that is not JSON is a proxy's page, not Telegram's answer: a server error,
        as aiogram takes it (PTB would log the page and raise a bare TelegramError)."""
        try:
            return json.loads(payload.decode("utf-8", "replace"))
        except ValueError:
            raise _Refused(UNREADABLE, "an answer that is not the Bot API's JSON") from None

    def _seconds(self, value: Any) -> float | None:
        if isinstance(value, type(BaseRequest.DEFAULT_NONE)):  # PTB's "not given"
            return self._timeout
        return None if value is None else float(value)  # None: no limit, as in PTB

    async def do_request(self, url: str, method: str, request_data: RequestData | None = None,
                         read_timeout: Any = BaseRequest.DEFAULT_NONE,
                         write_timeout: Any = BaseRequest.DEFAULT_NONE,
                         connect_timeout: Any = BaseRequest.DEFAULT_NONE,
                         pool_timeout: Any = BaseRequest.DEFAULT_NONE) -> tuple[int, bytes]:
        data: Any = None
        files = request_data is not None and request_data.contains_files
        if request_data is not None:
            if files:
                # Names as they are ("lista de asistencia ñ.pdf"), not percent-encoded: no
                # server decodes them back (aiogram sends them so too).
                data = aiohttp.FormData(quote_fields=False)
                for name, value in request_data.json_parameters.items():
                    data.add_field(name, value)
                for name, (filename, content, mime) in request_data.multipart_data.items():
                    data.add_field(name, content, filename=filename, content_type=mime)
            else:
                data = request_data.json_parameters
        read, connect = self._seconds(read_timeout), self._seconds(connect_timeout)
        # aiohttp's read timer starts once the body is written: an upload to a server that
        # stops reading is bounded by the whole request's time.
        total = (read or 0) + (self._seconds(write_timeout) or 0) + (connect or 0) \
            if files else None
        timeout = aiohttp.ClientTimeout(total=total or None, sock_read=read, connect=connect)
        try:
            async with self.session.request(method, url, data=data, timeout=timeout) as answer:
                code, payload = answer.status, await answer.read()
        except TimeoutError as exc:
            raise ptb.TimedOut("request timed out") from exc
        except aiohttp.ClientError as exc:
            raise ptb.NetworkError(f"{type(exc).__name__}: {exc}") from exc
        if code >= 300:
            _refusal(code, payload)
        return code, payload


def _refusal(code: int, payload: bytes, *, ptb_may_say_more: bool = True) -> None:
    """Raise Telegram's refusal as ``_Refused``, unless PTB's own error says more: a 429's
    seconds (its RetryAfter, an int or a timedelta) or a group become a supergroup. An answer
    that is not Telegram's JSON (a proxy's page) is a server error, whatever its status, as
    on aiogram."""
    try:
        answer = json.loads(payload)
        description, parameters = answer.get("description"), answer.get("parameters")
    except (ValueError, AttributeError):
        raise _Refused(UNREADABLE, f"an answer that is not the Bot API's JSON ({code})"
                       ) from None
    if parameters and ptb_may_say_more:
        if parameters.get("migrate_to_chat_id") or parameters.get("retry_after"):
            return
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
        base = api_base.rstrip("/")
        self._requests = (AiohttpRequest(CONNECTIONS, timeout), AiohttpRequest(1, timeout))
        self.bot = Bot(token, base_url=f"{base}/bot", base_file_url=f"{base}/file/bot",
                       request=self._requests[0], get_updates_request=self._requests[1])
        self.timeout = timeout
        self._token = token

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
            kind = driver.ServerError if exc.code >= 500 or exc.code == UNREADABLE \
                else BY_STATUS.get(exc.code, driver.ApiError)
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
        except (aiohttp.ClientError, TimeoutError) as exc:  # a download's own request
            raise driver.NetworkError(self._clean(f"{type(exc).__name__}: {exc}")) from None

    def _clean(self, text: str) -> str:
        return text.replace(self._token, "<token>")

    async def get_me(self) -> JSON:
        with self._mapped():
            return (await self.bot.get_me()).to_dict()

    async def get_updates(self, offset: int | None, timeout: int,
                          allowed_updates: list[str]) -> list[JSON]:
        with self._mapped():
            try:
                updates = await self.bot.get_updates(  # PTB adds the poll's wait to read_timeout
                    offset=offset, timeout=timeout, allowed_updates=allowed_updates,
                    read_timeout=self.timeout)
            except (KeyError, TypeError, ValueError, AttributeError):
                # An update PTB cannot read (a Bot API change it does not know yet) would
                # stop the poll at this offset for good: the same batch as Telegram's JSON,
                # where the mapping skips only the update it cannot read itself.
                with warnings.catch_warnings():  # "use Bot.get_updates": it was
                    warnings.simplefilter("ignore")
                    raw = await self.bot.do_api_request(
                        "getUpdates", api_kwargs={"offset": offset, "timeout": timeout,
                                                  "allowed_updates": allowed_updates},
                        read_timeout=self.timeout + timeout)
                return list(raw)
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
        timeout = aiohttp.ClientTimeout(total=None, sock_read=self.timeout,
                                        connect=self.timeout)
        with self._mapped():
            async with self._requests[0].session.get(file_path, timeout=timeout) as answer:
                if answer.status != HTTPStatus.OK:
                    _refusal(answer.status, await answer.read(), ptb_may_say_more=False)
                async for chunk in answer.content.iter_chunked(DOWNLOAD_CHUNK):
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
