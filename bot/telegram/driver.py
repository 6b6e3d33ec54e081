"""What the Telegram channel asks of a Bot API client library, and how it fails.

The channel and the runtime (``bot.telegram``) speak Bot API JSON and these errors only; a
driver carries them over one library (``aiogram_driver``, ``ptb_driver``) and turns that
library's exceptions into these, so both fail the same way."""

from __future__ import annotations

from typing import Any, BinaryIO, Protocol

JSON = dict[str, Any]


class ApiError(Exception):
    """Telegram, or the way to it, refused a request; ``message`` is Telegram's own words
    (never the token)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class RetryAfter(ApiError):
    """429: flood control; the same request succeeds after ``seconds``."""

    def __init__(self, seconds: float, message: str = "") -> None:
        super().__init__(message or f"retry after {seconds:g} s")
        self.seconds = seconds


class Forbidden(ApiError):
    """403: the person blocked the bot, or the bot may not write there."""


class BadRequest(ApiError):
    """400: the request itself is wrong (a message that cannot be edited, a chat not found)."""


class NotFound(ApiError):
    """404: no such method or object."""


class Unauthorized(ApiError):
    """401: the token is not (or no longer) valid."""


class Conflict(ApiError):
    """409: another process polls with this token, or a webhook is set."""


class ServerError(ApiError):
    """5xx: Telegram's trouble; the request may succeed later."""


class NetworkError(ApiError):
    """No answer: the connection failed or the time-out ran out."""


class Driver(Protocol):
    """One Bot API client library. ``reply_markup`` values are Bot API JSON; a sent
    message's answer is its ``message_id``."""

    name: str
    timeout: float  # seconds one request may take (a long poll adds its own wait)

    async def get_me(self) -> JSON: ...

    async def get_updates(self, offset: int | None, timeout: int,
                          allowed_updates: list[str]) -> list[JSON]: ...

    def read_update(self, body: Any) -> JSON:
        """A webhook's body checked as the library reads an Update: the same JSON back, or
        ValueError when it is not one."""
        ...

    async def send_message(self, chat_id: int, text: str, reply_markup: JSON | None = None,
                           allow_paid_broadcast: bool | None = None) -> int: ...

    async def send_document(self, chat_id: int, filename: str, content: bytes,
                            caption: str | None = None,
                            reply_markup: JSON | None = None) -> int: ...

    async def send_location(self, chat_id: int, latitude: float, longitude: float) -> int: ...

    async def edit_message_text(self, chat_id: int, message_id: int, text: str,
                                reply_markup: JSON | None = None) -> None: ...

    async def edit_message_reply_markup(self, chat_id: int, message_id: int,
                                        reply_markup: JSON | None = None) -> None: ...

    async def answer_callback_query(self, callback_query_id: str) -> None: ...

    async def set_chat_menu_button(self, chat_id: int, text: str, url: str) -> None: ...

    async def get_file(self, file_id: str) -> JSON:
        """``file_path`` (as ``download_file`` takes it; absent past the server's size
        limit) and ``file_size`` when known."""
        ...

    async def download_file(self, file_path: str, destination: BinaryIO) -> None: ...

    async def set_webhook(self, url: str, secret_token: str,
                          allowed_updates: list[str]) -> None: ...

    async def delete_webhook(self, drop_pending_updates: bool) -> None: ...

    async def close(self) -> None: ...
