"""Every word a person reads: gettext catalogs keyed by message id, and how to render them.

Message ids are stable keys (``start.consent``) rather than source sentences, because an
outbox row stores the key and its parameters and each channel renders it later (WhatsApp
maps the same key to an approved template).
"""

from __future__ import annotations

import gettext
import io
import string
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime, format_time
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal

DOMAIN = "convoca"
LOCALES_DIR = Path(__file__).parent
SUPPORTED = ("es", "en")
DEFAULT = "es"
BABEL_LOCALE = {"es": "es_CL", "en": "en_GB"}


@dataclass(frozen=True)
class Msg:
    """A message to be rendered later in the reader's language.

    Parameter values may be plain strings and numbers, nested ``Msg``s, lists of them
    (joined by newlines), or the date helpers below.
    """

    key: str
    params: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"k": self.key, "p": {k: _param_to_json(v) for k, v in self.params.items()}}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Msg:
        return cls(data["k"], {k: _param_from_json(v) for k, v in data.get("p", {}).items()})


def msg(key: str, **params: Any) -> Msg:
    return Msg(key, params)


@dataclass(frozen=True)
class When:
    """An instant, shown as people say it in the reader's zone: 'martes 7 de abril, 18:00'."""

    at: datetime
    style: str = "datetime"  # datetime | date | time


@dataclass(frozen=True)
class Day:
    on: date
    # date | month (a calendar's header) | short (a day number) | short_year (with the year)
    style: str = "date"


@dataclass(frozen=True)
class Text:
    """Text that data already holds in each language (a template's stage names)."""

    by_locale: dict[str, str]


@dataclass(frozen=True)
class Raw:
    """User-provided text (names, addresses), never translated."""

    text: str


def _param_to_json(v: Any) -> Any:
    if isinstance(v, Msg):
        return {"$msg": v.to_json()}
    if isinstance(v, When):
        return {"$when": v.at.astimezone(UTC).isoformat(), "s": v.style}
    if isinstance(v, Day):
        return {"$day": v.on.isoformat(), "s": v.style}
    if isinstance(v, Raw):
        return v.text
    if isinstance(v, Text):
        return {"$text": dict(v.by_locale)}
    if isinstance(v, list | tuple):
        return {"$list": [_param_to_json(x) for x in v]}
    if isinstance(v, datetime | date):
        raise TypeError("wrap dates in When() or Day() so they are shown in the reader's zone")
    return v


def _param_from_json(v: Any) -> Any:
    if isinstance(v, dict):
        if "$msg" in v:
            return Msg.from_json(v["$msg"])
        if "$when" in v:
            return When(datetime.fromisoformat(v["$when"]), v.get("s", "datetime"))
        if "$day" in v:
            return Day(date.fromisoformat(v["$day"]), v.get("s", "date"))
        if "$text" in v:
            return Text(v["$text"])
        if "$list" in v:
            return [_param_from_json(x) for x in v["$list"]]
    return v


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


class Catalogs:
    """The loaded catalogs; built once in ``main`` and passed to whoever renders."""

    def __init__(self, directory: Path = LOCALES_DIR, default: str = DEFAULT) -> None:
        self.default = default
        self._translations: dict[str, gettext.GNUTranslations] = {}
        self._messages: dict[str, dict[str, str]] = {}
        self._plurals: dict[str, set[str]] = {}
        self.origin: dict[str, dict[str, str]] = {}  # key -> the .po file it comes from
        for loc in SUPPORTED:
            # One .po file per area (core, forms, meetings...), merged into one catalog.
            merged = Catalog(locale=loc, domain=DOMAIN)
            origin: dict[str, str] = {}
            for po_path in sorted((directory / loc / "LC_MESSAGES").glob("*.po")):
                with po_path.open("rb") as fh:
                    part = read_po(fh, locale=loc)
                for m in part:
                    if not m.id:
                        continue
                    key = m.id if isinstance(m.id, str) else m.id[0]
                    if key in origin:
                        raise ValueError(
                            f"message {key!r} is in both {origin[key]} and {po_path.name} ({loc})"
                        )
                    origin[key] = po_path.name
                    merged[m.id] = m
            buf = io.BytesIO()
            write_mo(buf, merged)
            buf.seek(0)
            self._translations[loc] = gettext.GNUTranslations(buf)
            self._plurals[loc] = {m.id[0] for m in merged if m.id and m.pluralizable}
            self._messages[loc] = {
                (m.id if isinstance(m.id, str) else m.id[0]): (
                    m.string if isinstance(m.string, str) else m.string[0]
                )
                for m in merged
                if m.id
            }
            self.origin[loc] = origin

    def locale(self, loc: str | None) -> str:
        return loc if loc in SUPPORTED else self.default

    def keys(self, loc: str) -> set[str]:
        return set(self._messages[loc])

    def raw(self, loc: str, key: str) -> str | None:
        return self._messages[self.locale(loc)].get(key)

    def text(self, loc: str | None, key: str, **params: Any) -> str:
        return self.render(Msg(key, params), loc)

    def render(self, message: Msg, loc: str | None, tz: str = "America/Santiago") -> str:
        loc = self.locale(loc)
        tr = self._translations[loc]
        count = message.params.get("count")
        if isinstance(count, int) and message.key in self._plurals[loc]:
            template = tr.ngettext(message.key, message.key + ".plural", count)
        else:
            template = tr.gettext(message.key)
        if template == message.key and message.key not in self._messages[loc]:
            raise KeyError(f"message {message.key!r} missing from the {loc} catalog")
        values = {k: self._value(v, loc, tz) for k, v in message.params.items()}
        return template.format(**values)

    def _value(self, v: Any, loc: str, tz: str) -> Any:
        if isinstance(v, Msg):
            return self.render(v, loc, tz)
        if isinstance(v, list):
            return "\n".join(str(self._value(x, loc, tz)) for x in v)
        if isinstance(v, When):
            return self.when(v.at, loc, tz, v.style)
        if isinstance(v, Day):
            pattern = {"month": "fmt.month", "short": "fmt.day_short",
                       "short_year": "fmt.day_short_year"}.get(v.style, "fmt.date")
            return format_date(v.on, self.raw(loc, pattern) or "long", locale=BABEL_LOCALE[loc])
        if isinstance(v, Raw):
            return v.text
        if isinstance(v, Text):
            return v.by_locale.get(loc) or v.by_locale.get(self.default) or next(
                iter(v.by_locale.values()), "")
        if isinstance(v, int) and not isinstance(v, bool):
            return format_number(v, loc)
        return v

    def when(self, at: datetime, loc: str, tz: str, style: str = "datetime") -> str:
        loc = self.locale(loc)
        zone = ZoneInfo(tz)
        local = at.astimezone(zone)
        babel_loc = BABEL_LOCALE[loc]
        if style == "time":
            return format_time(local, self.raw(loc, "fmt.time") or "HH:mm", locale=babel_loc)
        if style == "date":
            return format_date(local.date(), self.raw(loc, "fmt.date") or "long", locale=babel_loc)
        return format_datetime(
            local, self.raw(loc, "fmt.datetime") or "medium", tzinfo=zone, locale=babel_loc
        )


def format_number(n: int, loc: str) -> str:
    return format_decimal(n, locale=BABEL_LOCALE.get(loc, BABEL_LOCALE[DEFAULT]))
