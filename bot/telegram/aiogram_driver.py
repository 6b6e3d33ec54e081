"""The Telegram channel's driver over aiogram 3: its Bot, its aiohttp session, its models.

aiogram builds ~800 pydantic models when imported (~2.5 s and ~130 MB here): this module is
imported only when TELEGRAM_DRIVER=aiogram."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, BinaryIO

from aiogram import Bot, methods
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    ClientDecodeError,
    TelegramAPIError,
    TelegramBadRequest,
    TelegramConflictError,
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
    InlineKeyboardMarkup,
    MenuButtonWebApp,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    Update,
    WebAppInfo,
)
from aiohttp import ClientError

from bot.telegram import driver
from bot.telegram.driver import JSON

# aiogram parses every answer with pydantic's Response[T], which pydantic caches only weakly:
# each garbage collection threw the models away and the next call rebuilt them (15% of the
# time under load). Holding them here keeps them built.
RESPONSE_MODELS = [
    Response[method.__returning__]
    for method in (methods.SendMessage, methods.SendDocument, methods.SendLocation,
                   methods.EditMessageText, methods.EditMessageReplyMarkup,
                   methods.AnswerCallbackQuery, methods.GetUpdates, methods.GetMe,
                   methods.DeleteWebhook, methods.SetWebhook, methods.GetFile,
                   methods.SetChatMenuButton)
]


def _markup(markup: JSON | None) -> Any:
    """Bot API reply markup as aiogram's model of that kind (its union would take any dict
    for the first model that allows extra fields)."""
    if markup is None:
        return None
    if "inline_keyboard" in markup:
        return InlineKeyboardMarkup.model_validate(markup)
    if "keyboard" in markup:
        return ReplyKeyboardMarkup.model_validate(markup)
    return ReplyKeyboardRemove.model_validate(markup)


def _json(model: Any) -> JSON:
    return model.model_dump(mode="json", exclude_none=True, by_alias=True)


class AiogramDriver:
    name = "aiogram"

    def __init__(self, token: str, api_base: str, timeout: float) -> None:
        session = AiohttpSession(api=TelegramAPIServer.from_base(api_base), timeout=timeout)
        self.bot = Bot(token=token, session=session, default=DefaultBotProperties())
        self.timeout = timeout
        self._token = token

    @contextlib.contextmanager
    def _mapped(self) -> Iterator[None]:
        """aiogram's exceptions as the channel's own, never with the token (an address in an
        aiohttp error holds it)."""
        clean = self._clean
        try:
            yield
        except TelegramRetryAfter as exc:
            raise driver.RetryAfter(float(exc.retry_after), clean(exc.message)) from None
        except TelegramForbiddenError as exc:
            raise driver.Forbidden(clean(exc.message)) from None
        except TelegramBadRequest as exc:
            raise driver.BadRequest(clean(exc.message)) from None
        except TelegramNotFound as exc:
            raise driver.NotFound(clean(exc.message)) from None
        except TelegramUnauthorizedError as exc:
            raise driver.Unauthorized(clean(exc.message)) from None
        except TelegramConflictError as exc:
            raise driver.Conflict(clean(exc.message)) from None
        except TelegramServerError as exc:
            raise driver.ServerError(clean(exc.message)) from None
        except TelegramNetworkError as exc:  # time-outs too, and a body too large (413)
            raise driver.NetworkError(clean(exc.message)) from None
        except TelegramAPIError as exc:
            raise driver.ApiError(clean(exc.message)) from None
        except ClientDecodeError as exc:  # not JSON: a proxy's error page (PTB: a 5xx)
            raise driver.ServerError(clean(f"unreadable answer: {exc.message}")) from None
        except (ClientError, TimeoutError) as exc:  # a download's own request
            raise driver.NetworkError(clean(f"{type(exc).__name__}: {exc}")) from None

    def _clean(self, text: str) -> str:
        return text.replace(self._token, "<token>")

    async def get_me(self) -> JSON:
        with self._mapped():
            return _json(await self.bot.get_me())

    async def get_updates(self, offset: int | None, timeout: int,
                          allowed_updates: list[str]) -> list[JSON]:
        with self._mapped():
            updates = await self.bot.get_updates(
                offset=offset, timeout=timeout, allowed_updates=allowed_updates,
                request_timeout=int(self.timeout + timeout))
        return [u.model_dump(mode="json", exclude_none=True, exclude_unset=True, by_alias=True)
                for u in updates]

    def read_update(self, body: Any) -> JSON:
        Update.model_validate(body, context={"bot": self.bot})  # pydantic's error is a ValueError
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
                chat_id, BufferedInputFile(content, filename), caption=caption,
                reply_markup=_markup(reply_markup))
        return sent.message_id

    async def send_location(self, chat_id: int, latitude: float, longitude: float) -> int:
        with self._mapped():
            return (await self.bot.send_location(chat_id, latitude, longitude)).message_id

    async def edit_message_text(self, chat_id: int, message_id: int, text: str,
                                reply_markup: JSON | None = None) -> None:
        with self._mapped():
            await self.bot.edit_message_text(text=text, chat_id=chat_id, message_id=message_id,
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
                chat_id=chat_id, menu_button=MenuButtonWebApp(text=text,
                                                              web_app=WebAppInfo(url=url)))

    async def get_file(self, file_id: str) -> JSON:
        with self._mapped():
            return _json(await self.bot.get_file(file_id))

    async def download_file(self, file_path: str, destination: BinaryIO) -> None:
        with self._mapped():
            await self.bot.download_file(file_path, destination=destination)

    async def set_webhook(self, url: str, secret_token: str,
                          allowed_updates: list[str]) -> None:
        with self._mapped():
            await self.bot.set_webhook(url, secret_token=secret_token,
                                       allowed_updates=allowed_updates)

    async def delete_webhook(self, drop_pending_updates: bool) -> None:
        with self._mapped():
            await self.bot.delete_webhook(drop_pending_updates=drop_pending_updates)

    async def close(self) -> None:
        await self.bot.session.close()
