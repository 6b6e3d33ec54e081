"""Telegram's Mini App: the panel opened from the chat's menu button. Telegram signs the
launch data (initData) with the bot's token; a valid, fresh signature says which Telegram
user opened it, and that user's private chat is the address Convoca knows them by."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime, timedelta
from urllib.parse import parse_qsl

CHANNEL = "telegram"
VIA = "telegram_app"
# The Mini App is opened and used at once: older data is someone replaying it.
MAX_AGE = timedelta(hours=1)


def check_init_data(init_data: str, bot_token: str, now: datetime,
                    max_age: timedelta = MAX_AGE) -> dict[str, str] | None:
    """Telegram's rule: the fields but ``hash``, sorted and joined by newlines, signed with
    HMAC-SHA256 under HMAC-SHA256("WebAppData", bot token); and not stale."""
    fields = dict(parse_qsl(init_data, keep_blank_values=True))
    given = fields.pop("hash", "")
    if not given or not bot_token:
        return None
    check = "\n".join(f"{k}={v}" for k, v in sorted(fields.items()))
    secret = hmac.new(b"WebAppData", bot_token.encode(), hashlib.sha256).digest()
    expected = hmac.new(secret, check.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, given):
        return None
    try:
        signed_at = datetime.fromtimestamp(int(fields.get("auth_date", "")), now.tzinfo)
    except ValueError:
        return None
    if not (now - max_age <= signed_at <= now + timedelta(minutes=5)):
        return None
    return fields


def user_address(init_data: str, bot_token: str, now: datetime) -> str | None:
    """The private chat of the user the signed data names, or None."""
    fields = check_init_data(init_data, bot_token, now)
    if fields is None:
        return None
    try:
        return str(json.loads(fields.get("user", "{}"))["id"])
    except (ValueError, KeyError, TypeError):
        return None
