"""Every word a person reads: gettext catalogs keyed by message id, and how to render them.

Message ids are stable keys (``start.consent``) rather than source sentences, because an
outbox row stores the key and its parameters and each channel renders it later (WhatsApp
maps the same key to an approved template).
"""

from __future__ import annotations

import functools
import gettext
import io
import re
import string
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime, format_time
from babel.messages.pofile import PoFileError, read_po
from babel.numbers import format_decimal

DOMAIN = "convoca"
LOCALES_DIR = Path(__file__).parent
# The languages whose catalogs are complete: the ones a person chooses between.
SUPPORTED = ("es", "en")
# A regional variant reads its language's catalogs, overlaid by the few words its country
# says otherwise (locales/<variant>/LC_MESSAGES/*.po, optional: only those words), and
# writes dates and numbers as that country does. "es" itself is Chile's Spanish.
VARIANTS = {"es-UY": "es"}
# Every locale a message can be read in.
LOCALES = (*SUPPORTED, *VARIANTS)
DEFAULT = "es"
BABEL_LOCALE = {"es": "es_CL", "en": "en_GB", "es-UY": "es_UY"}


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


def language_of(loc: str) -> str:
    """The language a locale is written in: "es" for "es-UY"."""
    return VARIANTS.get(loc, loc)


def reading_locale(chosen: str | None, programme: str | None) -> str | None:
    """The locale a person reads, from the one they chose (None: none) and their
    programme's: the programme's regional variant of their language (Spanish in a
    Uruguayan programme reads as Uruguay's), else what they chose. None: the
    installation's default, as for everyone before there were variants."""
    variant = programme if programme in VARIANTS else None
    if chosen is None or chosen not in LOCALES:
        return variant
    if variant is not None and language_of(variant) == language_of(chosen):
        return variant
    return chosen


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


class Catalogs:
    """The loaded catalogs; built once in ``main`` and passed to whoever renders.

    A language's plural rule is the one its .po files declare (``Plural-Forms``), never the
    installed Babel's CLDR data, which changes between releases (Babel 2.19 gives Spanish a
    third form the catalogs do not have). Every file of a language must declare the same
    rule and every plural message must carry all its forms, or loading fails.
    """

    def __init__(self, directory: Path = LOCALES_DIR, default: str = DEFAULT) -> None:
        self.default = default
        self._messages: dict[str, dict[str, str]] = {}
        self._forms: dict[str, dict[str, tuple[str, ...]]] = {}
        self._plural: dict[str, Callable[[int], int]] = {}
        self.plural_forms: dict[str, str] = {}  # loc -> the Plural-Forms every file declares
        self.origin: dict[str, dict[str, str]] = {}  # key -> the .po file it comes from
        for loc in SUPPORTED:
            # One .po file per area (core, forms, meetings...), merged into one catalog.
            messages: dict[str, str] = {}
            forms: dict[str, tuple[str, ...]] = {}
            origin: dict[str, str] = {}
            rule: tuple[str, str] | None = None  # (Plural-Forms, the file that set it)
            for po_path in sorted((directory / loc / "LC_MESSAGES").glob("*.po")):
                text = po_path.read_text(encoding="utf-8")
                declared = _declared_plural_forms(text, po_path)
                if rule is None:
                    rule = (declared, po_path.name)
                elif declared != rule[0]:
                    raise ValueError(
                        f"{loc}/{po_path.name} declares Plural-Forms {declared!r} but "
                        f"{rule[1]} declares {rule[0]!r}"
                    )
                for key, strings in _read_entries(text, loc, po_path.name):
                    if key in origin:
                        raise ValueError(
                            f"message {key!r} is in both {origin[key]} and {po_path.name} ({loc})"
                        )
                    origin[key] = po_path.name
                    if isinstance(strings, tuple):
                        forms[key] = strings
                        messages[key] = strings[0]
                    else:
                        messages[key] = strings
            if rule is None:
                raise ValueError(f"no catalog for {loc!r} in {directory}")
            nplurals, expr = _parse_plural_forms(rule[0], f"{loc}/{rule[1]}")
            plural = _compile_plural(expr, nplurals, f"{loc}/{rule[1]}")
            for key, strings in forms.items():
                if len(strings) != nplurals or not all(s.strip() for s in strings):
                    raise ValueError(
                        f"{loc}/{origin[key]}: {key!r} has {sum(1 for s in strings if s.strip())}"
                        f" of the {nplurals} plural forms its Plural-Forms asks for"
                    )
            self._messages[loc] = messages
            self._forms[loc] = forms
            self._plural[loc] = plural
            self.plural_forms[loc] = rule[0]
            self.origin[loc] = origin
        for variant, base in VARIANTS.items():
            self._load_variant(directory, variant, base)

    def _load_variant(self, directory: Path, variant: str, base: str) -> None:
        """The base language's catalog with the variant's own words over it: no copy of the
        catalogs to fall out of step, and a word only where the country says it otherwise."""
        messages, forms = dict(self._messages[base]), dict(self._forms[base])
        origin = dict(self.origin[base])
        for po_path in sorted((directory / variant / "LC_MESSAGES").glob("*.po")):
            text = po_path.read_text(encoding="utf-8")
            declared = _declared_plural_forms(text, po_path)
            if declared != self.plural_forms[base]:
                raise ValueError(f"{variant}/{po_path.name} declares Plural-Forms {declared!r} "
                                 f"but {base} declares {self.plural_forms[base]!r}")
            for key, strings in _read_entries(text, BABEL_LOCALE[variant], po_path.name):
                if key not in self._messages[base]:
                    raise ValueError(f"{variant}/{po_path.name}: {key!r} is not a message of "
                                     f"{base}: a variant only says otherwise what {base} says")
                wanted = set().union(*(placeholders(f) for f in self.forms(base, key)))
                given = set().union(*(placeholders(f) for f in (
                    strings if isinstance(strings, tuple) else (strings,))))
                if given != wanted:
                    raise ValueError(f"{variant}/{po_path.name}: {key!r} has the parameters "
                                     f"{sorted(given)}, {base} has {sorted(wanted)}")
                if isinstance(strings, tuple) != (key in self._forms[base]):
                    raise ValueError(f"{variant}/{po_path.name}: {key!r} must be plural "
                                     f"exactly where {base}'s is")
                if isinstance(strings, tuple):
                    forms[key] = strings
                    messages[key] = strings[0]
                else:
                    messages[key] = strings
                origin[key] = f"{variant}/{po_path.name}"
        self._messages[variant] = messages
        self._forms[variant] = forms
        self._plural[variant] = self._plural[base]
        self.plural_forms[variant] = self.plural_forms[base]
        self.origin[variant] = origin

    def locale(self, loc: str | None) -> str:
        return loc if loc in self._messages else self.default

    def keys(self, loc: str) -> set[str]:
        return set(self._messages[loc])

    def plural_keys(self, loc: str) -> set[str]:
        return set(self._forms[loc])

    def forms(self, loc: str, key: str) -> tuple[str, ...]:
        """Every form of a message: one for a plain message, nplurals for a plural one."""
        loc = self.locale(loc)
        return self._forms[loc].get(key) or (self._messages[loc][key],)

    def raw(self, loc: str, key: str) -> str | None:
        return self._messages[self.locale(loc)].get(key)

    def text(self, loc: str | None, key: str, **params: Any) -> str:
        """A message without times (a date, ``Day``, needs no zone)."""
        return self.render(Msg(key, params), loc)

    def render(self, message: Msg, loc: str | None, tz: str | None = None) -> str:
        """The message in ``loc``, its times in the zone ``tz``: the reader's programme's,
        which only the caller knows. Without one, a message holding a time (``When``) is
        refused rather than shown in some zone nobody chose."""
        loc = self.locale(loc)
        template = self._messages[loc].get(message.key)
        if template is None:
            raise KeyError(f"message {message.key!r} missing from the {loc} catalog")
        count = message.params.get("count")
        forms = self._forms[loc].get(message.key)
        if forms is not None and isinstance(count, int) and not isinstance(count, bool):
            template = forms[self._plural[loc](count)]
        values = {k: self._value(v, loc, tz) for k, v in message.params.items()}
        return template.format(**values)

    def param(self, value: Any, loc: str | None, tz: str | None = None) -> str:
        """One parameter of a message as it reads inside the message (a ``Day`` as a date,
        a nested ``Msg`` rendered, a list one item a line): for a channel that fills a
        platform's template with the parameters one by one (WhatsApp)."""
        return str(self._value(value, self.locale(loc), tz))

    def _value(self, v: Any, loc: str, tz: str | None) -> Any:
        if isinstance(v, Msg):
            return self.render(v, loc, tz)
        if isinstance(v, list):
            return "\n".join(str(self._value(x, loc, tz)) for x in v)
        if isinstance(v, When):
            if tz is None:
                raise ValueError("a message with a time needs the zone it is read in (tz)")
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


_PLURAL_FORMS = re.compile(r"^\s*nplurals\s*=\s*(\d+)\s*;\s*plural\s*=\s*(.+?)\s*;?\s*$")


@functools.lru_cache(maxsize=64)
def _read_entries(po_text: str, loc: str, name: str
                  ) -> tuple[tuple[str, str | tuple[str, ...]], ...]:
    """A .po file's messages, key and text (every form, for a plural): read once per
    process for the same text, as parsing is most of what building Catalogs costs and the
    command line, the exports and each test build their own."""
    _check_entries(po_text, f"{loc}/{name}")
    try:
        part = read_po(io.StringIO(po_text), locale=loc, abort_invalid=True)
    except PoFileError as exc:
        raise ValueError(f"{loc}/{name}: {exc}") from exc
    return tuple((m.id if isinstance(m.id, str) else m.id[0],
                  tuple(m.string) if m.pluralizable else m.string)
                 for m in part if m.id)


def _declared_plural_forms(po_text: str, path: Path) -> str:
    # Read from the file itself: a parser would fill in its own CLDR default when absent.
    found = re.search(r'^"Plural-Forms:\s*(.*?)\\n"\s*$', po_text, re.MULTILINE)
    if found is None:
        raise ValueError(f"{path} has no Plural-Forms header")
    return found.group(1).strip()


def _check_entries(po_text: str, where: str) -> None:
    # The parser would silently keep the last of two entries with one key, or pass over a
    # translation left without its key (what a careless merge leaves behind): which text
    # people read must never depend on that.
    keys = re.findall(r'^msgid "(.*)"$', po_text, re.MULTILINE)
    seen: set[str] = set()
    for key in keys:
        if key in seen:
            raise ValueError(f"{where}: message {key!r} is defined twice")
        seen.add(key)
    translations = len(re.findall(r'^msgstr(?: |\[0\] )"', po_text, re.MULTILINE))
    if translations != len(keys):
        raise ValueError(f"{where}: {len(keys)} keys but {translations} translations "
                         "(a msgstr without its msgid, or the other way round)")


def _parse_plural_forms(header: str, where: str) -> tuple[int, str]:
    m = _PLURAL_FORMS.match(header)
    if m is None or int(m.group(1)) < 1:
        raise ValueError(f"{where}: cannot read Plural-Forms {header!r}")
    return int(m.group(1)), m.group(2)


def _compile_plural(expr: str, nplurals: int, where: str) -> Callable[[int], int]:
    """The C expression of a Plural-Forms header as a function, as gettext reads it."""
    try:
        # What GNUTranslations does with a .mo file's header (it validates the expression).
        fn = gettext.c2py(expr)
    except (ValueError, SyntaxError) as exc:
        raise ValueError(f"{where}: bad plural expression {expr!r}: {exc}") from exc
    samples = (*range(1000), 10**4, 10**5, 10**6, 10**9)
    if any(not 0 <= fn(n) < nplurals for n in samples):
        raise ValueError(f"{where}: {expr!r} chooses a form beyond nplurals={nplurals}")
    return fn


def format_number(n: int, loc: str) -> str:
    return format_decimal(n, locale=BABEL_LOCALE.get(loc, BABEL_LOCALE[DEFAULT]))
