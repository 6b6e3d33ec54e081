"""Settings from the environment and a `.env` file, validated once at start-up."""

from __future__ import annotations

import re
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from storage.clock import DEFAULT_TIMEZONE

OFFICIAL_BOT_API = "https://api.telegram.org"
SUPPORTED_LOCALES = ("es", "en")
# What Telegram accepts as a webhook's secret token; shorter than 16 characters it could be
# guessed by whoever reaches the port.
WEBHOOK_SECRET = re.compile(r"[A-Za-z0-9_-]{16,256}")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )

    telegram_bot_token: SecretStr | None = None
    telegram_api_base: str = OFFICIAL_BOT_API
    database_url: str = "sqlite+aiosqlite:///./data/convoca.sqlite3"
    timezone: str = DEFAULT_TIMEZONE
    default_locale: str = "es"
    webhook_url: str | None = None
    # Checked even when unset: with WEBHOOK_URL it is required (see _webhook_secret).
    webhook_secret: SecretStr | None = Field(default=None, validate_default=True)
    # This machine only: a TLS proxy in front of it is what Telegram reaches (see README).
    webhook_listen: str = "127.0.0.1:8080"
    admin_telegram_ids: Annotated[list[int], NoDecode] = Field(default_factory=list)
    # Above Telegram's free 30 messages/s, broadcasts are sent as paid broadcasts (up to
    # 1,000/s, billed in Stars to the bot's balance): an operator's deliberate choice.
    telegram_messages_per_second: float = Field(default=30.0, gt=0, le=1000)
    # Where the console and the command line write their log (default ./data/convoca.log);
    # in Telegram mode the log goes to stderr, and here too when this is set.
    log_file: str | None = None

    @field_validator("telegram_bot_token", mode="before")
    @classmethod
    def _token(cls, v: object) -> object:
        if v in (None, ""):
            return None
        token = str(v).strip()
        head, _, tail = token.partition(":")
        if not head.isdigit() or len(tail) < 5:
            raise ValueError("expected the token BotFather gives, like 123456789:AAE...")
        return token

    @field_validator("telegram_api_base")
    @classmethod
    def _api_base(cls, v: str) -> str:
        if not v.startswith(("http://", "https://")):
            raise ValueError("expected an http(s) URL, like https://api.telegram.org")
        return v.rstrip("/")

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, v: str) -> str:
        if v.startswith("postgresql://") or v.startswith("postgres://"):
            return "postgresql+asyncpg://" + v.split("://", 1)[1]
        if not v.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError(
                "expected sqlite+aiosqlite:///path/file.sqlite3 or postgresql://user@host/db"
            )
        return v

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"expected an IANA time zone, like {DEFAULT_TIMEZONE}") from None
        return v

    @field_validator("default_locale")
    @classmethod
    def _locale(cls, v: str) -> str:
        if v not in SUPPORTED_LOCALES:
            raise ValueError(f"expected one of {', '.join(SUPPORTED_LOCALES)}")
        return v

    @field_validator("webhook_url")
    @classmethod
    def _webhook(cls, v: str | None) -> str | None:
        if not v:
            return None
        if not v.startswith("https://"):
            raise ValueError("expected a public https:// URL that Telegram can reach")
        return v

    @field_validator("webhook_secret", mode="before")
    @classmethod
    def _webhook_secret(cls, v: object, info: ValidationInfo) -> object:
        secret = str(v).strip() if v not in (None, "") else ""
        if not secret and not info.data.get("webhook_url"):
            return None
        # Required with a webhook: without it whoever reaches the port could post updates
        # in anyone's name.
        if not WEBHOOK_SECRET.fullmatch(secret):
            raise ValueError(
                "expected a secret of 16 to 256 letters, digits, _ or - (required with "
                "WEBHOOK_URL), like the output of: python3 -c 'import secrets; "
                "print(secrets.token_urlsafe(32))'")
        return secret

    @field_validator("webhook_listen")
    @classmethod
    def _webhook_listen(cls, v: str) -> str:
        host, _, port = v.strip().rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError("expected host:port, like 127.0.0.1:8080")
        return v.strip()

    @field_validator("admin_telegram_ids", mode="before")
    @classmethod
    def _admins(cls, v: object) -> object:
        if isinstance(v, str):
            parts = [p for p in v.replace(";", ",").replace(" ", ",").split(",") if p]
            if not all(p.lstrip("-").isdigit() for p in parts):
                raise ValueError("expected Telegram user ids separated by commas, like 1234,5678")
            return [int(p) for p in parts]
        return v

    @property
    def token(self) -> str | None:
        return self.telegram_bot_token.get_secret_value() if self.telegram_bot_token else None


class SettingsError(Exception):
    """One line per wrong variable, naming it and what it expects."""


def load_settings(**overrides: object) -> Settings:
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            name = str(err["loc"][0]).upper() if err["loc"] else "?"
            msg = err["msg"].removeprefix("Value error, ")
            lines.append(f"Configuration error: {name}: {msg}")
        raise SettingsError("\n".join(lines)) from None
