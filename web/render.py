"""Pages from Jinja2 templates, every word from the catalogs (locales/): ``_("web.key",
name=...)`` in a template is the catalogs' message in the reader's language, its dates in the
programme's zone. Keys and ``{name}`` parameters are the chat's, so one Catalogs serves both;
Jinja's own i18n extension formats with ``%`` and looks words up by their English text, which
the catalogs do not do."""

from __future__ import annotations

import contextvars
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import jinja2
from markupsafe import Markup

from locales import Catalogs, Day, Msg, Raw, Text, When

# The reader of the page being rendered: set by web.context for each request.
_reader: contextvars.ContextVar[Reader] = contextvars.ContextVar("web_reader")


@dataclass(frozen=True)
class Reader:
    catalogs: Catalogs
    loc: str
    zone: str | None


def reading(reader: Reader) -> contextvars.Token[Reader]:
    return _reader.set(reader)


def translate(key: str, **params: Any) -> str:
    r = _reader.get()
    return r.catalogs.render(Msg(key, params), r.loc, r.zone)


def translate_plural(key: str, count: int, **params: Any) -> str:
    return translate(key, count=count, **params)


def said(value: Msg | Text | Raw | str) -> Msg:
    """Anything a service words (a Msg, data's own text in each language, a person's own
    words) as a Msg, which the templates' ``|msg`` renders in the reader's language."""
    return value if isinstance(value, Msg) else Msg("web.value", {"value": value})


def message(value: Msg | str | None) -> str:
    """A Msg the services return (a person's label, a stage's name), in the reader's words."""
    if value is None:
        return ""
    if isinstance(value, Msg):
        r = _reader.get()
        return r.catalogs.render(value, r.loc, r.zone)
    return str(value)


def day(value: date | datetime | None, style: str = "date") -> str:
    if value is None:
        return ""
    r = _reader.get()
    if isinstance(value, datetime):
        return r.catalogs.render(Msg("web.value", {"value": When(value, "date")}), r.loc,
                                 r.zone)
    return r.catalogs.param(Day(value, style), r.loc, r.zone)


def when(value: datetime | None, style: str = "datetime") -> str:
    if value is None:
        return ""
    r = _reader.get()
    return r.catalogs.when(value, r.loc, r.zone or "UTC", style)


def channel(name: str | None) -> str:
    """A chat channel's name in the reader's words (``web.channel.<name>``), or as the
    installation calls it when the catalogs have no name for it yet (a channel added later)."""
    if not name:
        return ""
    r = _reader.get()
    key = f"web.channel.{name}"
    return r.catalogs.render(Msg(key), r.loc, r.zone) if r.catalogs.raw(r.loc, key) else name


def number(value: int | float | None) -> str:
    if value is None:
        return ""
    r = _reader.get()
    return r.catalogs.param(value, r.loc, r.zone)


def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("web", "templates"),
        autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(_=translate, ngettext=translate_plural, said=said)
    env.filters.update(msg=message, day=day, when=when, number=number, channel=channel)
    return env


def safe(html: str) -> Markup:
    """HTML the server drew itself (an SVG chart), never text a person typed."""
    return Markup(html)
