"""Settings from the environment and a `.env` file, validated once at start-up."""

from __future__ import annotations

import re
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from storage.clock import DEFAULT_TIMEZONE

OFFICIAL_BOT_API = "https://api.telegram.org"
OFFICIAL_GRAPH_API = "https://graph.facebook.com/v23.0"
SUPPORTED_LOCALES = ("es", "en")
# What Telegram accepts as a webhook's secret token; shorter than 16 characters it could be
# guessed by whoever reaches the port. WhatsApp's verify token is held to the same.
WEBHOOK_SECRET = re.compile(r"[A-Za-z0-9_-]{16,256}")
MAKE_A_SECRET = "python3 -c 'import secrets; print(secrets.token_urlsafe(32))'"
DEFAULT_LISTEN = "127.0.0.1:8080"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )

    telegram_bot_token: SecretStr | None = None
    telegram_api_base: str = OFFICIAL_BOT_API
    # The client library the Telegram channel runs on (bot/telegram): on python-telegram-bot
    # `convoca run` starts in ~0.9 s and ~121 MB, on aiogram in ~2.8 s and ~237 MB
    # (BENCHMARKS.md §9); both speak the same mapping and pass the same tests.
    telegram_driver: Literal["ptb", "aiogram"] = "ptb"
    database_url: str = "sqlite+aiosqlite:///./data/convoca.sqlite3"
    timezone: str = DEFAULT_TIMEZONE
    default_locale: str = "es"
    # The https address the world reaches this server at (a TLS proxy in front of
    # HTTP_LISTEN): WhatsApp's webhook is PUBLIC_URL/whatsapp, Telegram's PUBLIC_URL/telegram.
    public_url: str | None = None
    # Telegram's webhook base by its older name; it wins over PUBLIC_URL for Telegram.
    webhook_url: str | None = None
    # Checked even when unset: with Telegram's webhook it is required (see _webhook_secret).
    webhook_secret: SecretStr | None = Field(default=None, validate_default=True)
    # The old name of HTTP_LISTEN, still read so that an installation keeps working; when
    # both are set, HTTP_LISTEN wins. A field of its own so a wrong value is named as set.
    webhook_listen: str | None = Field(default=None, exclude=True)
    # This machine only: a TLS proxy in front of it is what Telegram and Meta reach (README).
    http_listen: str = Field(default=None, validate_default=True)  # type: ignore[assignment]
    # The gestora's web panel at PUBLIC_URL/web (or http://HTTP_LISTEN/web without one), in
    # the same process and on the same server as the webhooks.
    web_panel: bool = True
    whatsapp_access_token: SecretStr | None = None
    # Checked even when unset: with the token they are required (see their validators).
    whatsapp_phone_number_id: str | None = Field(default=None, validate_default=True)
    whatsapp_business_account_id: str | None = None
    whatsapp_app_secret: SecretStr | None = Field(default=None, validate_default=True)
    whatsapp_verify_token: SecretStr | None = Field(default=None, validate_default=True)
    whatsapp_api_base: str = OFFICIAL_GRAPH_API
    # Meta's default for a business number; it raises it by itself up to 1,000 as the
    # number's quality and volume grow.
    whatsapp_messages_per_second: float = 80.0
    admin_telegram_ids: Annotated[list[int], NoDecode] = Field(default_factory=list)
    # Above Telegram's free 30 messages/s, broadcasts are sent as paid broadcasts (up to
    # 1,000/s, billed in Stars to the bot's balance): an operator's deliberate choice.
    telegram_messages_per_second: float = Field(default=30.0, gt=0, le=1000)
    # Several processes on one database (README "Several processes"): one sends for each bot
    # token and WhatsApp number, one runs the scheduler's tick, one polls getUpdates, each by
    # a lease that lasts LEASE_SECONDS unless renewed every LEASE_RENEW_SECONDS; its holder
    # stops LEASE_MARGIN_SECONDS before then (at least 1 s: the platform's rate window).
    lease_seconds: float = Field(default=10.0, gt=0, le=300)
    lease_renew_seconds: float = Field(default=2.0, gt=0)
    lease_margin_seconds: float = Field(default=2.0, ge=1.0)
    # Where the console and the command line write their log (default ./data/convoca.log);
    # in Telegram mode the log goes to stderr, and here too when this is set.
    log_file: str | None = None
    # A folder of the programme team's own templates (*.yaml) and forms (forms/*.yaml),
    # read beside the shipped ones at start (docs/templates.md).
    templates_dir: str | None = None

    @field_validator("lease_margin_seconds")
    @classmethod
    def _lease_times(cls, v: float, info: ValidationInfo) -> float:
        ttl, renew = info.data.get("lease_seconds"), info.data.get("lease_renew_seconds")
        if ttl is not None and renew is not None and renew + v >= ttl:
            raise ValueError("LEASE_RENEW_SECONDS + LEASE_MARGIN_SECONDS must be under "
                             f"LEASE_SECONDS ({ttl:g})")
        return v

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

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, v: str | None) -> str | None:
        if not v or not v.strip():
            return None
        if not v.strip().startswith("https://"):
            raise ValueError("expected the public https:// address the world reaches this "
                             "server at, like https://convoca.example.org")
        return v.strip().rstrip("/")

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
        telegram_webhook = info.data.get("webhook_url") or (
            info.data.get("public_url") and info.data.get("telegram_bot_token"))
        if not secret and not telegram_webhook:
            return None
        # Required with a webhook: without it whoever reaches the port could post updates
        # in anyone's name.
        if not WEBHOOK_SECRET.fullmatch(secret):
            raise ValueError(
                "expected a secret of 16 to 256 letters, digits, _ or - (required with "
                "WEBHOOK_URL, and with PUBLIC_URL and a Telegram token), like the output "
                f"of: {MAKE_A_SECRET}")
        return secret

    @field_validator("webhook_listen")
    @classmethod
    def _webhook_listen(cls, v: str | None) -> str | None:
        return _host_port(v) if v and v.strip() else None

    @field_validator("http_listen", mode="before")
    @classmethod
    def _http_listen(cls, v: object, info: ValidationInfo) -> str:
        if v not in (None, "") and str(v).strip():
            return _host_port(str(v))
        return info.data.get("webhook_listen") or DEFAULT_LISTEN

    @field_validator("whatsapp_access_token", mode="before")
    @classmethod
    def _whatsapp_token(cls, v: object) -> object:
        if v in (None, "") or not str(v).strip():
            return None
        token = str(v).strip()
        if any(ch.isspace() for ch in token):
            raise ValueError("expected the access token alone, without spaces or 'Bearer' "
                             "(a system user's permanent token, see README)")
        return token

    @field_validator("whatsapp_phone_number_id", mode="before")
    @classmethod
    def _phone_number_id(cls, v: object, info: ValidationInfo) -> object:
        value = str(v).strip() if v not in (None, "") else ""
        if not value and not info.data.get("whatsapp_access_token"):
            return None
        # Without it a token would run nothing, silently: the channel needs both.
        if not value.isdigit():
            raise ValueError("expected the phone number's id, digits only, from WhatsApp → "
                             "API Setup in Meta's app dashboard (required with "
                             "WHATSAPP_ACCESS_TOKEN); not the phone number itself")
        return value

    @field_validator("whatsapp_business_account_id", mode="before")
    @classmethod
    def _business_account_id(cls, v: object) -> object:
        value = str(v).strip() if v not in (None, "") else ""
        if not value:
            return None
        if not value.isdigit():
            raise ValueError("expected the WhatsApp Business Account id, digits only, from "
                             "WhatsApp → API Setup in Meta's app dashboard")
        return value

    @field_validator("whatsapp_app_secret", mode="before")
    @classmethod
    def _app_secret(cls, v: object, info: ValidationInfo) -> object:
        secret = str(v).strip() if v not in (None, "") else ""
        if not secret and not info.data.get("whatsapp_access_token"):
            return None
        # Required with the token: without it whoever reaches /whatsapp could post events in
        # anyone's name, since the signature over each one could not be checked.
        if len(secret) < 16 or any(ch.isspace() for ch in secret):
            raise ValueError("expected the Meta app's secret, from App settings → Basic in "
                             "Meta's app dashboard (required with WHATSAPP_ACCESS_TOKEN: it "
                             "checks each webhook's signature)")
        return secret

    @field_validator("whatsapp_verify_token", mode="before")
    @classmethod
    def _verify_token(cls, v: object, info: ValidationInfo) -> object:
        token = str(v).strip() if v not in (None, "") else ""
        if not token and not info.data.get("whatsapp_access_token"):
            return None
        if not WEBHOOK_SECRET.fullmatch(token):
            raise ValueError(
                "expected a token of 16 to 256 letters, digits, _ or - (required with "
                "WHATSAPP_ACCESS_TOKEN), typed also as the webhook's Verify token in Meta's "
                f"app dashboard; make one with: {MAKE_A_SECRET}")
        return token

    @field_validator("whatsapp_api_base")
    @classmethod
    def _graph_base(cls, v: str) -> str:
        if not v.startswith(("http://", "https://")):
            raise ValueError(f"expected an http(s) URL, like {OFFICIAL_GRAPH_API}")
        return v.rstrip("/")

    @field_validator("whatsapp_messages_per_second", mode="before")
    @classmethod
    def _whatsapp_rate(cls, v: object) -> float:
        try:
            rate = float(str(v).strip()) if isinstance(v, str) else float(v)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            rate = 0.0
        if not 0 < rate <= 1000:  # also refuses nan
            raise ValueError("expected messages per second above 0 and at most 1000 "
                             "(WhatsApp's default per number is 80)")
        return rate

    @field_validator("admin_telegram_ids", mode="before")
    @classmethod
    def _admins(cls, v: object) -> object:
        if isinstance(v, str):
            parts = [p for p in v.replace(";", ",").replace(" ", ",").split(",") if p]
            if not all(p.lstrip("-").isdigit() for p in parts):
                raise ValueError("expected Telegram user ids separated by commas, like 1234,5678")
            return [int(p) for p in parts]
        return v

    @field_validator("templates_dir", mode="before")
    @classmethod
    def _templates_dir(cls, v: object) -> object:
        return None if v is None or not str(v).strip() else str(v).strip()

    @property
    def token(self) -> str | None:
        return self.telegram_bot_token.get_secret_value() if self.telegram_bot_token else None

    @property
    def secrets(self) -> list[str]:
        """What must never show in a log: the tokens and the secrets the webhooks check."""
        fields = (self.telegram_bot_token, self.whatsapp_access_token, self.webhook_secret,
                  self.whatsapp_app_secret, self.whatsapp_verify_token)
        return [f.get_secret_value() for f in fields if f is not None]

    @property
    def telegram_webhook_url(self) -> str | None:
        """Where Telegram posts updates (its base, /telegram added): WEBHOOK_URL, else
        PUBLIC_URL; none, and Telegram is polled."""
        return self.webhook_url or self.public_url

    @property
    def panel_url(self) -> str:
        """The base of the panel's links: PUBLIC_URL, else this machine's HTTP_LISTEN (a
        laptop's demo, a panel reached through an SSH tunnel)."""
        if self.public_url:
            return self.public_url
        host, _, port = self.http_listen.rpartition(":")
        if host in ("0.0.0.0", "::", "[::]", ""):
            host = "127.0.0.1"
        return f"http://{host}:{port}"

    @property
    def whatsapp_enabled(self) -> bool:
        return bool(self.whatsapp_access_token and self.whatsapp_phone_number_id)


def _host_port(v: str) -> str:
    host, _, port = v.strip().rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"expected host:port, like {DEFAULT_LISTEN}")
    return v.strip()


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
