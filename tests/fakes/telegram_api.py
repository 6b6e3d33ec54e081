"""A fake Telegram Bot API server for tests and benchmarks.

The real aiogram runtime talks to it over HTTP. Every request is validated
against the machine-readable Bot API spec, so a test that passes here does not
rely on parameters Telegram would reject.

    async with FakeTelegram() as tg:
        bot = Bot(tg.token, session=AiohttpSession(api=TelegramAPIServer.from_base(tg.base_url)))
        tg.command(42, "/start")
        ...
        assert tg.texts(42) == ["¡Hola!"]
        tg.assert_clean()
"""

from __future__ import annotations

import asyncio
import html
import itertools
import json
import math
import os
import random
import re
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from aiohttp import web

from .raw_keys import catalog_keys, document_text, raw_keys_in

__all__ = [
    "DEFAULT_SPEC_PATH",
    "SPEC_ENV",
    "EntityParseError",
    "FakeTelegram",
    "Recorded",
    "TelegramSpec",
    "UploadedFile",
    "load_spec",
    "parse_html",
    "parse_markdown",
    "parse_markdown_v2",
    "utf16_len",
]

SPEC_ENV = "CONVOCA_TELEGRAM_SPEC"
DEFAULT_SPEC_PATH = Path(__file__).resolve().parents[3] / "shared/specs/telegram-bot-api.json"

FAULT_KINDS = ("429", "5xx", "timeout", "403")


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units, the unit Telegram uses for limits and offsets."""
    if text.isascii():
        return len(text)
    return len(text.encode("utf-16-le")) // 2


def _byte_offset(text: str, index: int) -> int:
    return len(text[:index].encode())


class _LazyOffset:
    """Byte offset computed only when an error message is formatted."""

    __slots__ = ("text", "index")

    def __init__(self, text: str, index: int) -> None:
        self.text = text
        self.index = index

    def __str__(self) -> str:
        return str(_byte_offset(self.text, self.index))


class EntityParseError(ValueError):
    """The text is not valid for its parse_mode ("can't parse entities")."""


# ---------------------------------------------------------------------------
# Formatting parsers: return (plain_text, entities) like Telegram would.
# ---------------------------------------------------------------------------

_HTML_SPECIAL = re.compile(r"[<>&]")
_HTML_ENTITY = re.compile(r"&(?:(lt|gt|amp|quot)|#([0-9]{1,7})|#[xX]([0-9a-fA-F]{1,6}));")
_HTML_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_HTML_TAG = re.compile(
    r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)"
    r"((?:\s+[a-zA-Z_:][-a-zA-Z0-9_:.]*(?:\s*=\s*(?:\"[^\"]*\"|'[^']*'|[^\s\"'=<>`]+))?)*)"
    r"\s*(/?)>"
)
_HTML_ATTR = re.compile(
    r"([a-zA-Z_:][-a-zA-Z0-9_:.]*)(?:\s*=\s*(\"[^\"]*\"|'[^']*'|[^\s\"'=<>`]+))?"
)
_HTML_SIMPLE = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
}
_HTML_TAGS = frozenset(_HTML_SIMPLE) | {"span", "a", "tg-emoji", "code", "pre", "blockquote"}


def _html_unescape_attr(value: str) -> str:
    if value[:1] in "\"'":
        value = value[1:-1]
    return html.unescape(value) if "&" in value else value


def parse_html(
    text: str, *, allow_time: bool = True, strict: bool = True
) -> tuple[str, list[dict[str, Any]]]:
    """Parse Telegram-flavoured HTML. Raises EntityParseError where Telegram would refuse.

    strict=True (default) also rejects a bare '>' and an '&' that starts no entity, which
    Telegram itself lets through: they almost always mean user input was not escaped.
    """
    if "<" not in text and ">" not in text and "&" not in text:
        return text, []
    allowed = _HTML_TAGS | {"tg-time"} if allow_time else _HTML_TAGS
    out: list[str] = []
    entities: list[dict[str, Any]] = []
    stack: list[tuple[str, int, dict[str, Any] | None]] = []
    pos = 0  # UTF-16 offset in the plain text
    i = 0
    n = len(text)
    while True:
        m = _HTML_SPECIAL.search(text, i)
        j = m.start() if m else n
        if j > i:
            chunk = text[i:j]
            out.append(chunk)
            pos += utf16_len(chunk)
        if m is None:
            break
        ch = text[j]
        if ch == "&":
            em = _HTML_ENTITY.match(text, j)
            if em is None and not strict:
                out.append("&")
                pos += 1
                i = j + 1
                continue
            if em is None:
                raise EntityParseError(
                    f"Character '&' at byte offset {_byte_offset(text, j)} does not start a "
                    "supported HTML entity (&lt; &gt; &amp; &quot; &#N;); escape it as &amp;"
                )
            name, dec, hexa = em.groups()
            try:
                decoded = _HTML_NAMED[name] if name else chr(int(dec or hexa, 16 if hexa else 10))
            except (ValueError, OverflowError) as exc:
                raise EntityParseError(f"Invalid HTML entity {em.group(0)}") from exc
            out.append(decoded)
            pos += utf16_len(decoded)
            i = em.end()
            continue
        if ch == ">":
            if not strict:
                out.append(">")
                pos += 1
                i = j + 1
                continue
            raise EntityParseError(
                f"Character '>' at byte offset {_byte_offset(text, j)} must be escaped as &gt;"
            )
        tm = _HTML_TAG.match(text, j)
        if tm is None:
            raise EntityParseError(
                f"Unexpected '<' at byte offset {_byte_offset(text, j)}; escape it as &lt;"
            )
        closing, name, attr_text, self_closing = tm.groups()
        name = name.lower()
        if closing:
            if not stack:
                raise EntityParseError(
                    f'Unexpected end tag "{name}" at byte offset {_byte_offset(text, j)}'
                )
            top, start, entity = stack.pop()
            if top != name:
                raise EntityParseError(
                    f"Unmatched end tag at byte offset {_byte_offset(text, j)}, "
                    f'expected "</{top}>", found "</{name}>"'
                )
            if entity is not None and pos > start:
                entity["offset"] = start
                entity["length"] = pos - start
                entities.append(entity)
        else:
            offset = _LazyOffset(text, j)
            if name not in allowed:
                raise EntityParseError(f'Unsupported start tag "{name}" at byte offset {offset}')
            if self_closing:
                raise EntityParseError(f'Self-closing tag "{name}" at byte offset {offset}')
            attrs = {
                a.lower(): _html_unescape_attr(v) if v is not None else ""
                for a, v in _HTML_ATTR.findall(attr_text)
            }
            if stack and stack[-1][0] in ("code", "pre"):
                parent = stack[-1]
                if not (parent[0] == "pre" and name == "code"):
                    raise EntityParseError(
                        f'Tag "{name}" can\'t be nested in "{parent[0]}" at byte offset {offset}'
                    )
            entity = _html_start_entity(name, attrs, offset, stack)
            if name == "blockquote" and any(s[0] == "blockquote" for s in stack):
                raise EntityParseError(f"Nested blockquote at byte offset {offset}")
            stack.append((name, pos, entity))
        i = tm.end()
    if stack:
        raise EntityParseError(f'Can\'t find end tag corresponding to start tag "{stack[-1][0]}"')
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return "".join(out), entities


def _html_start_entity(
    name: str, attrs: dict[str, str], offset: _LazyOffset, stack: list
) -> dict[str, Any] | None:
    simple = _HTML_SIMPLE.get(name)
    if simple:
        return {"type": simple}
    if name == "span":
        if attrs.get("class") != "tg-spoiler":
            raise EntityParseError(
                f'Tag "span" must have class "tg-spoiler" at byte offset {offset}'
            )
        return {"type": "spoiler"}
    if name == "a":
        href = attrs.get("href")
        if not href:
            raise EntityParseError(f'Tag "a" without href at byte offset {offset}')
        return {"type": "text_link", "url": href}
    if name == "tg-emoji":
        emoji_id = attrs.get("emoji-id")
        if not emoji_id:
            raise EntityParseError(f'Tag "tg-emoji" without emoji-id at byte offset {offset}')
        return {"type": "custom_emoji", "custom_emoji_id": emoji_id}
    if name == "tg-time":
        unix = attrs.get("unix", "")
        if not unix.isdigit():
            raise EntityParseError(f'Tag "tg-time" needs a numeric unix attribute at {offset}')
        entity: dict[str, Any] = {"type": "date_time", "unix_time": int(unix)}
        if attrs.get("format"):
            entity["date_time_format"] = attrs["format"]
        return entity
    if name == "blockquote":
        return {"type": "expandable_blockquote" if "expandable" in attrs else "blockquote"}
    if name == "pre":
        return {"type": "pre"}
    # code
    cls = attrs.get("class")
    if cls is not None and not cls.startswith("language-"):
        raise EntityParseError(f'Tag "code" class must be "language-..." at byte offset {offset}')
    if stack and stack[-1][0] == "pre":
        pre_entity = stack[-1][2]
        if cls and pre_entity is not None:
            pre_entity["language"] = cls[len("language-") :]
        return None  # <pre><code> is one pre entity
    return {"type": "code"}


_MDV2_RESERVED = frozenset("_*[]()~`>#+-=|{}.!")
_MDV2_SPECIAL = re.compile(r"[_*\[\]()~`>#+\-=|{}.!\\\n]")
_MDV2_NAMES = {
    "*": ("bold", "Bold"),
    "_": ("italic", "Italic"),
    "__": ("underline", "Underline"),
    "~": ("strikethrough", "Strikethrough"),
    "||": ("spoiler", "Spoiler"),
    "[": ("text_link", "TextUrl"),
    "![": ("custom_emoji", "CustomEmoji"),
}


def _mdv2_unescape_until(
    text: str, i: int, end: str, what: str, start_off: _LazyOffset
) -> tuple[str, int]:
    """Read up to an unescaped `end` (inside code/pre/URLs only '\\' and the closer escape)."""
    buf: list[str] = []
    n = len(text)
    while i < n:
        if text.startswith(end, i):
            return "".join(buf), i + len(end)
        c = text[i]
        if c == "\\" and i + 1 < n:
            buf.append(text[i + 1])
            i += 2
            continue
        buf.append(c)
        i += 1
    raise EntityParseError(f"Can't find end of {what} entity at byte offset {start_off}")


def parse_markdown_v2(text: str) -> tuple[str, list[dict[str, Any]]]:
    """Approximate Telegram's MarkdownV2 parser, including its reserved-character rule."""
    out: list[str] = []
    entities: list[dict[str, Any]] = []
    stack: list[tuple[str, int, _LazyOffset]] = []  # marker, utf16 start, error offset
    pos = 0
    i = 0
    n = len(text)
    quote: list[Any] | None = None  # [start, end, expandable]
    line_start = True

    def emit(s: str) -> None:
        nonlocal pos
        out.append(s)
        pos += utf16_len(s)

    def close_quote() -> None:
        nonlocal quote
        if quote is not None and quote[1] > quote[0]:
            kind = "expandable_blockquote" if quote[2] else "blockquote"
            entities.append({"type": kind, "offset": quote[0], "length": quote[1] - quote[0]})
        quote = None

    while i < n:
        if line_start:
            line_start = False
            if text.startswith("**>", i):
                if quote is None:
                    quote = [pos, pos, True]
                i += 3
                continue
            if text[i] == ">":
                if quote is None:
                    quote = [pos, pos, False]
                i += 1
                continue
            close_quote()
        m = _MDV2_SPECIAL.search(text, i)
        j = m.start() if m else n
        if j > i:
            emit(text[i:j])
            i = j
            if quote is not None:
                quote[1] = pos
            continue
        c = text[i]
        off = _LazyOffset(text, i)
        if c == "\n":
            emit(c)
            i += 1
            line_start = True
            continue
        if c == "\\":
            if i + 1 < n and 0 < ord(text[i + 1]) < 127:
                emit(text[i + 1])
                i += 2
            else:
                raise EntityParseError(
                    f"Character '\\' at byte offset {off} must be followed by an ASCII character"
                )
        elif c == "`":
            if text.startswith("```", i):
                body, i = _mdv2_unescape_until(text, i + 3, "```", "Pre", off)
                language = None
                first, sep, rest = body.partition("\n")
                if sep and first and " " not in first:
                    language, body = first, rest
                start = pos
                emit(body)
                if pos > start:
                    ent: dict[str, Any] = {"type": "pre", "offset": start, "length": pos - start}
                    if language:
                        ent["language"] = language
                    entities.append(ent)
            else:
                body, i = _mdv2_unescape_until(text, i + 1, "`", "Code", off)
                start = pos
                emit(body)
                if pos > start:
                    entities.append({"type": "code", "offset": start, "length": pos - start})
        elif c in "*~_" or text.startswith("||", i):
            marker = "__" if text.startswith("__", i) else ("||" if c == "|" else c)
            at_line_end = i + 2 == n or text[i + 2 : i + 3] == "\n"
            if marker == "||" and quote is not None and quote[2] and at_line_end:
                if "||" not in (s[0] for s in stack):
                    i += 2  # end marker of an expandable blockquote
                    continue
            i += len(marker)
            if stack and stack[-1][0] == marker:
                _, start, _ = stack.pop()
                if pos > start:
                    kind = _MDV2_NAMES[marker][0]
                    entities.append({"type": kind, "offset": start, "length": pos - start})
            elif any(s[0] == marker for s in stack):
                inner = stack[-1]
                raise EntityParseError(
                    f"Can't find end of {_MDV2_NAMES[inner[0]][1]} entity at byte offset {inner[2]}"
                )
            else:
                stack.append((marker, pos, off))
        elif c == "[":
            stack.append(("[", pos, off))
            i += 1
        elif c == "!" and text.startswith("![", i):
            stack.append(("![", pos, off))
            i += 2
        elif c == "]" and stack and stack[-1][0] in ("[", "!["):
            marker, start, soff = stack.pop()
            if not text.startswith("(", i + 1):
                raise EntityParseError(
                    f"Can't find end of {_MDV2_NAMES[marker][1]} entity at byte offset {soff}"
                )
            url, i = _mdv2_unescape_until(text, i + 2, ")", "URL", off)
            if pos > start:
                ent = {"type": _MDV2_NAMES[marker][0], "offset": start, "length": pos - start}
                if marker == "[":
                    ent["url"] = url
                else:
                    ent["custom_emoji_id"] = url.rpartition("id=")[2]
                entities.append(ent)
        else:
            raise EntityParseError(
                f"Character '{c}' is reserved and must be escaped with the preceding '\\'"
            )
        if quote is not None:
            quote[1] = pos
    if stack:
        marker, _, soff = stack[-1]
        raise EntityParseError(
            f"Can't find end of {_MDV2_NAMES[marker][1]} entity at byte offset {soff}"
        )
    close_quote()
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return "".join(out), entities


_MD_SPECIAL = re.compile(r"[*_`\[\\]")


def parse_markdown(text: str) -> tuple[str, list[dict[str, Any]]]:
    """Legacy Markdown: *bold* _italic_ `code` ```pre``` [text](url); no nesting."""
    out: list[str] = []
    entities: list[dict[str, Any]] = []
    pos = 0
    i = 0
    n = len(text)
    while i < n:
        m = _MD_SPECIAL.search(text, i)
        j = m.start() if m else n
        if j > i:
            chunk = text[i:j]
            out.append(chunk)
            pos += utf16_len(chunk)
            i = j
            continue
        c = text[i]
        off = _LazyOffset(text, i)
        if c == "\\" and i + 1 < n and text[i + 1] in "*_`[":
            out.append(text[i + 1])
            pos += 1
            i += 2
            continue
        if c == "\\":
            out.append(c)
            pos += 1
            i += 1
            continue
        if c == "[":
            close = text.find("](", i + 1)
            end = text.find(")", close + 2) if close != -1 else -1
            if close == -1 or end == -1:
                raise EntityParseError(
                    f"Can't find end of the entity starting at byte offset {off}"
                )
            label = text[i + 1 : close]
            out.append(label)
            length = utf16_len(label)
            if length:
                entities.append(
                    {"type": "text_link", "offset": pos, "length": length,
                     "url": text[close + 2 : end]}
                )
            pos += length
            i = end + 1
            continue
        closer = "```" if text.startswith("```", i) else c
        end = text.find(closer, i + len(closer))
        if end == -1:
            raise EntityParseError(f"Can't find end of the entity starting at byte offset {off}")
        body = text[i + len(closer) : end]
        out.append(body)
        length = utf16_len(body)
        kind = {"*": "bold", "_": "italic", "`": "code", "```": "pre"}[closer]
        if length:
            entities.append({"type": kind, "offset": pos, "length": length})
        pos += length
        i = end + len(closer)
    return "".join(out), entities


_PARSERS: dict[str, Callable[[str], tuple[str, list[dict[str, Any]]]]] = {
    "html": parse_html,
    "markdownv2": parse_markdown_v2,
    "markdown": parse_markdown,
}

# ---------------------------------------------------------------------------
# Spec index and validator
# ---------------------------------------------------------------------------

_PRIMITIVES = frozenset({"Integer", "String", "Boolean", "Float", "True", "InputFile"})
_INT_RE = re.compile(r"-?[0-9]+")
_MISMATCH = object()
_INPUT_FILE = ("P", "InputFile")
_LIMIT_RE = re.compile(r"(\d+)-(\d+) (characters|bytes|items|elements)([^.;]*)")
_DISCRIMINATOR_RE = re.compile(r'(?:always "([^"]+)"|must be ([a-z_]+))')


@dataclass(frozen=True, slots=True)
class UploadedFile:
    """A file part of a multipart request."""

    name: str
    filename: str | None
    content_type: str | None
    data: bytes = field(repr=False)

    @property
    def size(self) -> int:
        return len(self.data)


@dataclass(slots=True)
class _Field:
    name: str
    alts: tuple
    required: bool
    limit: tuple[int, int, str, bool] | None
    attach: bool = False  # nested file fields are typed String; only the prose says attach://


@dataclass(slots=True)
class _Schema:
    name: str
    is_method: bool
    fields: dict[str, _Field]
    required: tuple[str, ...]
    string_ok: bool = False
    exclusive: tuple[bool, tuple[str, ...]] | None = None
    conditional: tuple[tuple[str, bool, tuple[str, ...]], ...] = ()
    pm_pairs: tuple[tuple[str, str], ...] = ()
    limited: tuple[_Field, ...] = ()
    discriminator: tuple[str, str] | None = None
    returns: tuple = ()
    has_rules: bool = False

    def __post_init__(self) -> None:
        self.has_rules = bool(
            self.exclusive or self.conditional or self.pm_pairs or self.limited
            or self.discriminator
        )


class _Ctx:
    __slots__ = ("files", "used_files", "parsed", "form", "strict_html")

    def __init__(
        self, files: dict[str, UploadedFile] | None = None, form: bool = False,
        strict_html: bool = True,
    ) -> None:
        self.files = files or {}
        self.used_files: set[str] = set()
        self.parsed: dict[str, tuple[str, list[dict[str, Any]]]] = {}
        self.form = form
        self.strict_html = strict_html


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, int):
        return f"integer {value}"
    if isinstance(value, float):
        return f"float {value}"
    if isinstance(value, str):
        short = value if len(value) <= 40 else value[:37] + "..."
        return f"string {short!r}"
    if isinstance(value, UploadedFile):
        return "an uploaded file"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _node_name(node: tuple) -> str:
    if node[0] == "A":
        return "Array of " + _node_name(node[1])
    return node[1]


@cache
def _parse_type(expr: str) -> tuple:
    if expr.startswith("Array of "):
        return ("A", _parse_type(expr[len("Array of ") :]))
    return ("P" if expr in _PRIMITIVES else "T", expr)


def _exclusive_rule(description: str, fields: list[dict]) -> tuple[bool, tuple[str, ...]] | None:
    names = [f["name"] for f in fields]
    m = re.search(r"(Exactly|At most) one of the fields other than (.+?) must be used", description)
    if m:
        others = set(re.findall(r"[a-z_]+", m.group(2))) - {"and"}
        return m.group(1) == "Exactly", tuple(n for n in names if n not in others)
    m = re.search(r"(?i)(exactly|at most) one of the fields (\w+) or (\w+)", description)
    if m:
        return m.group(1).lower() == "exactly", (m.group(2), m.group(3))
    m = re.search(r"(?i)(exactly|at most) one of the optional fields", description)
    if m:
        optional = tuple(f["name"] for f in fields if not f["required"])
        return m.group(1).lower() == "exactly", optional
    return None


def _conditional_rule(fdesc: str, names: set[str]) -> tuple[bool, tuple[str, ...]] | None:
    """'Required if X is not specified' -> (True, refs); 'Required if X is specified' -> False."""
    m = re.search(r"(?i)required if ([\w ]+?) (?:is|are) not specified|required if (\w+) isn't "
                  r"specified", fdesc)
    if m:
        refs = tuple(r for r in re.findall(r"\w+", m.group(1) or m.group(2)) if r in names)
        return (True, refs) if refs else None
    m = re.search(r"(?i)required if (\w+) is specified", fdesc)
    if m and m.group(1) in names:
        return False, (m.group(1),)
    return None


class TelegramSpec:
    """Index of the Bot API spec JSON, precompiled for fast validation."""

    def __init__(self, raw: dict[str, Any], source: str = "<memory>") -> None:
        self.source = source
        self.version = raw.get("version", "?")
        types = raw["types"]
        entity_fields = types.get("MessageEntity", {}).get("fields", [])
        entity_doc = " ".join(f["description"] for f in entity_fields if f["name"] == "type")
        # <tg-time> is the HTML form of date_time entities; allow it only if the spec has them.
        self.html_allows_time = '"date_time"' in entity_doc
        self.types: dict[str, _Schema] = {}
        self.subtypes: dict[str, tuple] = {}
        for name, t in types.items():
            if t.get("subtypes"):
                self.subtypes[name] = tuple(_parse_type(s) for s in t["subtypes"])
            else:
                self.types[name] = self._compile(t, is_method=False)
        self.methods: dict[str, _Schema] = {}
        self.method_names: dict[str, str] = {}
        for name, m in raw["methods"].items():
            schema = self._compile(m, is_method=True)
            schema.returns = tuple(_parse_type(r) for r in m.get("returns", []))
            self.methods[name.lower()] = schema
            self.method_names[name.lower()] = name
        for expr in itertools.chain(
            (a for s in [*self.types.values(), *self.methods.values()] for f in s.fields.values()
             for a in f.alts),
            (a for alts in self.subtypes.values() for a in alts),
        ):
            self._check_known(expr)

    def _check_known(self, node: tuple) -> None:
        while node[0] == "A":
            node = node[1]
        if node[0] == "T" and node[1] not in self.types and node[1] not in self.subtypes:
            raise ValueError(f"{self.source}: unknown type {node[1]!r} referenced")

    def _compile(self, raw: dict[str, Any], *, is_method: bool) -> _Schema:
        raw_fields = raw.get("fields", [])
        description = " ".join(raw.get("description", []))
        names = {f["name"] for f in raw_fields}
        fields: dict[str, _Field] = {}
        conditional = []
        discriminator = None
        for f in raw_fields:
            alts = tuple(_parse_type(t) for t in f["types"])
            limit = None
            m = _LIMIT_RE.search(f["description"])
            if m:
                unit = m.group(3)
                is_string = any(a == ("P", "String") for a in alts)
                is_array = any(a[0] == "A" for a in alts)
                if (unit in ("characters", "bytes") and is_string) or (
                    unit in ("items", "elements") and is_array
                ):
                    unit = "items" if unit == "elements" else unit
                    after = "after entit" in m.group(4)
                    limit = (int(m.group(1)), int(m.group(2)), unit, after)
            fields[f["name"]] = _Field(f["name"], alts, bool(f["required"]), limit,
                                      attach="attach://" in f["description"])
            cond = _conditional_rule(f["description"], names - {f["name"]})
            if cond and not f["required"]:
                conditional.append((f["name"], *cond))
            if (
                discriminator is None
                and raw.get("subtype_of")
                and f["name"] in ("type", "source", "status")
            ):
                dm = _DISCRIMINATOR_RE.search(f["description"])
                if dm:
                    discriminator = (f["name"], dm.group(1) or dm.group(2))
        pm_pairs = []
        for fname in fields:
            if fname.endswith("parse_mode"):
                base = fname[: -len("parse_mode")].rstrip("_")
                if base and base in fields:
                    pm_pairs.append((base, fname))
                elif not base:
                    for candidate in ("text", "caption", "message_text", "title"):
                        if candidate in fields:
                            pm_pairs.append((candidate, fname))
                            break
        schema = _Schema(
            name=raw["name"],
            is_method=is_method,
            fields=fields,
            required=tuple(f["name"] for f in raw_fields if f["required"]),
            string_ok="String can be used instead of this object" in description,
            exclusive=_exclusive_rule(description, raw_fields),
            conditional=tuple(conditional),
            pm_pairs=tuple(pm_pairs),
            limited=tuple(f for f in fields.values() if f.limit),
            discriminator=discriminator,
        )
        return schema

    # -- public API ---------------------------------------------------------

    def method(self, name: str) -> _Schema | None:
        return self.methods.get(name.lower())

    def canonical(self, name: str) -> str | None:
        return self.method_names.get(name.lower())

    def validate_params(
        self,
        method: str,
        params: dict[str, Any],
        *,
        form: bool = False,
        files: dict[str, UploadedFile] | None = None,
        ctx: _Ctx | None = None,
    ) -> tuple[dict[str, Any], list[str]]:
        """Validate a request. Returns (decoded params, violations)."""
        schema = self.method(method)
        if schema is None:
            return dict(params), [f"{method}: unknown method (not in {self.version})"]
        ctx = ctx or _Ctx(files, form)
        errs: list[str] = []
        out = self._obj(schema, params, schema.name, errs, ctx, top=True)
        for key in ctx.files:
            if key not in ctx.used_files and key not in schema.fields:
                errs.append(f"{schema.name}: unknown parameter '{key}' (unreferenced file part)")
        return out, errs

    def validate_object(self, type_name: str, value: Any, path: str | None = None) -> list[str]:
        """Validate a decoded object (e.g. an Update you built) against a spec type."""
        errs: list[str] = []
        self._alts((_parse_type(type_name),), value, path or type_name, errs, _Ctx(), False)
        return errs

    def validate_result(self, method: str, value: Any) -> list[str]:
        schema = self.method(method)
        if schema is None:
            return [f"{method}: unknown method"]
        errs: list[str] = []
        self._alts(schema.returns, value, f"{schema.name}() result", errs, _Ctx(), False)
        return errs

    # -- validator core -----------------------------------------------------

    def _alts(
        self, alts: tuple, value: Any, path: str, errs: list[str], ctx: _Ctx, top: bool
    ) -> Any:
        if len(alts) == 1:
            result = self._one(alts[0], value, path, errs, ctx, top)
            if result is _MISMATCH:
                errs.append(f"{path}: expected {_node_name(alts[0])}, got {_describe(value)}")
                return value
            return result
        if isinstance(value, str) and value.startswith("attach://") and _INPUT_FILE in alts:
            alts = (_INPUT_FILE,)  # a dangling attach:// is an error, not a file_id string
            return self._alts(alts, value, path, errs, ctx, top)
        if all(a[0] == "A" for a in alts):
            return self._array_union(alts, value, path, errs, ctx, top)
        best: list[str] | None = None
        best_value = value
        for alt in alts:
            trial: list[str] = []
            result = self._one(alt, value, path, trial, ctx, top)
            if result is _MISMATCH:
                continue
            if not trial:
                return result
            if best is None or len(trial) < len(best):
                best, best_value = trial, result
        if best is None:
            expected = " or ".join(_node_name(a) for a in alts)
            errs.append(f"{path}: expected {expected}, got {_describe(value)}")
            return value
        errs.extend(best)
        return best_value

    def _array_union(
        self, alts: tuple, value: Any, path: str, errs: list[str], ctx: _Ctx, top: bool
    ) -> Any:
        """'Array of A | Array of B' (sendMediaGroup): the prose allows mixing photos and
        videos, but documents and audios only group with their own kind."""
        item_alts = tuple(a[1] for a in alts)
        if top and isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                pass
        if not isinstance(value, list):
            expected = " or ".join(_node_name(a) for a in alts)
            errs.append(f"{path}: expected {expected}, got {_describe(value)}")
            return value
        out = [self._alts(item_alts, item, f"{path}[{i}]", errs, ctx, False)
               for i, item in enumerate(value)]
        kinds = {item.get("type") for item in out if isinstance(item, dict)}
        if len(kinds) > 1 and kinds & {"document", "audio"}:
            errs.append(f"{path}: documents and audios can only be grouped with items of the "
                        f"same type, got {', '.join(sorted(map(str, kinds)))}")
        return out

    def _one(
        self, node: tuple, value: Any, path: str, errs: list[str], ctx: _Ctx, top: bool
    ) -> Any:
        kind, name = node
        if kind == "P":
            return self._primitive(name, value, path, errs, ctx, top and ctx.form)
        if top and isinstance(value, str):
            # Objects and arrays arrive JSON-encoded in form fields (and are allowed so in JSON).
            try:
                decoded = json.loads(value)
            except ValueError:
                decoded = None
            if isinstance(decoded, (dict, list)):
                value = decoded
        if kind == "A":
            if not isinstance(value, list):
                return _MISMATCH
            item_alts = (name,)
            return [
                self._alts(item_alts, item, f"{path}[{i}]", errs, ctx, False)
                for i, item in enumerate(value)
            ]
        subtypes = self.subtypes.get(name)
        if subtypes is not None:
            candidates = subtypes
            if isinstance(value, dict):
                candidates = self._discriminate(name, subtypes, value, path, errs)
                if not candidates:
                    return value
            elif all(a[0] == "T" for a in subtypes):
                return _MISMATCH
            return self._alts(candidates, value, path, errs, ctx, False)
        schema = self.types[name]
        if not isinstance(value, dict):
            if schema.string_ok and isinstance(value, str):
                return value
            return _MISMATCH
        return self._obj(schema, value, path, errs, ctx, top=False)

    def _discriminate(
        self, name: str, subtypes: tuple, value: dict, path: str, errs: list[str]
    ) -> tuple:
        out = []
        disc_field = None
        for alt in subtypes:
            schema = self.types.get(alt[1]) if alt[0] == "T" else None
            if schema is None or schema.discriminator is None:
                out.append(alt)
                continue
            disc_field, const = schema.discriminator
            if value.get(disc_field, const) == const:
                out.append(alt)
        if not out and disc_field is not None:
            errs.append(f"{path}.{disc_field}: unknown {name} {disc_field} "
                        f"{value.get(disc_field)!r}")
        return tuple(out)

    def _primitive(
        self, name: str, value: Any, path: str, errs: list[str], ctx: _Ctx, raw: bool
    ) -> Any:
        if name == "String":
            return value if isinstance(value, str) else _MISMATCH
        if name == "Integer":
            if type(value) is int:
                return value
            if raw and isinstance(value, str) and _INT_RE.fullmatch(value):
                return int(value)
            return _MISMATCH
        if name == "Boolean":
            if type(value) is bool:
                return value
            if raw and isinstance(value, str) and value.lower() in ("true", "false"):
                return value.lower() == "true"
            return _MISMATCH
        if name == "Float":
            if isinstance(value, (int, float)) and type(value) is not bool:
                return value
            if raw and isinstance(value, str):
                try:
                    return float(value)
                except ValueError:
                    return _MISMATCH
            return _MISMATCH
        if name == "True":
            if value is True or (raw and isinstance(value, str) and value.lower() == "true"):
                return True
            return _MISMATCH
        # InputFile
        if isinstance(value, UploadedFile):
            ctx.used_files.add(value.name)
            return value
        if isinstance(value, str) and value.startswith("attach://"):
            return self._attachment(value, path, errs, ctx)
        return _MISMATCH

    @staticmethod
    def _attachment(value: str, path: str, errs: list[str], ctx: _Ctx) -> Any:
        key = value[len("attach://") :]
        part = ctx.files.get(key)
        if part is None:
            errs.append(f"{path}: {value} refers to no file part of the request")
            return value
        ctx.used_files.add(key)
        return part

    def _obj(
        self, schema: _Schema, value: dict, path: str, errs: list[str], ctx: _Ctx, top: bool
    ) -> dict[str, Any]:
        fields = schema.fields
        out: dict[str, Any] = {}
        for key, item in value.items():
            if item is None:
                continue
            f = fields.get(key)
            if f is None:
                if schema.is_method and key in ctx.files:
                    continue  # file part; checked for references afterwards
                what = "parameter" if schema.is_method else f"field of {schema.name}"
                errs.append(f"{path}: unknown {what} '{key}'")
                continue
            if f.attach and isinstance(item, str) and item.startswith("attach://"):
                out[key] = self._attachment(item, f"{path}.{key}", errs, ctx)
                continue
            out[key] = self._alts(f.alts, item, f"{path}.{key}", errs, ctx, top)
        for key in schema.required:
            if key not in out and key not in value:
                what = "parameter" if schema.is_method else f"field of {schema.name}"
                errs.append(f"{path}: missing required {what} '{key}'")
        if schema.has_rules:
            self._rules(schema, out, path, errs, ctx, top)
        return out

    def _rules(
        self, schema: _Schema, out: dict[str, Any], path: str, errs: list[str], ctx: _Ctx,
        top: bool,
    ) -> None:
        plains: dict[str, str | None] = {}
        for text_field, pm_field in schema.pm_pairs:
            mode = out.get(pm_field)
            text = out.get(text_field)
            if not isinstance(mode, str) or not mode:
                continue
            parser = _PARSERS.get(mode.lower())
            if parser is None:
                errs.append(f"{path}.{pm_field}: unsupported parse_mode {mode!r}")
                continue
            if not isinstance(text, str):
                continue
            try:
                if parser is parse_html:
                    parsed = parse_html(text, allow_time=self.html_allows_time,
                                        strict=ctx.strict_html)
                else:
                    parsed = parser(text)
            except EntityParseError as exc:
                errs.append(f"{path}.{text_field}: can't parse entities ({mode}): {exc}")
                plains[text_field] = None
                continue
            plains[text_field] = parsed[0]
            if top:
                ctx.parsed[text_field] = parsed
        for f in schema.limited:
            v = out.get(f.name)
            if v is None:
                continue
            lo, hi, unit, after = f.limit  # type: ignore[misc]
            if unit == "items":
                if not isinstance(v, list):
                    continue
                size = len(v)
                empty = size == 0
            elif not isinstance(v, str):
                continue
            elif unit == "bytes":
                size = len(v.encode())
                empty = size == 0
            else:
                s = plains.get(f.name, v) if after else v
                if s is None:
                    continue
                size = utf16_len(s)
                empty = not s.strip()
            where = " after entities parsing" if after else ""
            if lo > 0 and (size < lo or empty):
                errs.append(
                    f"{path}.{f.name}: must be {lo}-{hi} {unit}{where}, got "
                    f"{'an empty value' if empty else size}"
                )
            elif size > hi:
                errs.append(f"{path}.{f.name}: must be {lo}-{hi} {unit}{where}, got {size}")
        if schema.exclusive:
            exact, group = schema.exclusive
            present = [g for g in group if g in out]
            if len(present) > 1 or (exact and not present):
                how = "exactly" if exact else "at most"
                errs.append(
                    f"{path}: {how} one of {', '.join(group)} must be set, got "
                    f"{', '.join(present) if present else 'none'}"
                )
        for fname, when_absent, refs in schema.conditional:
            if fname in out:
                continue
            if when_absent and not any(r in out for r in refs):
                errs.append(
                    f"{path}: missing parameter '{fname}' (required unless "
                    f"{' and '.join(refs)} {'is' if len(refs) == 1 else 'are'} given)"
                )
            elif not when_absent and any(r in out for r in refs):
                errs.append(f"{path}: missing parameter '{fname}' (required with {refs[0]})")
        if schema.discriminator:
            dfield, const = schema.discriminator
            if dfield in out and out[dfield] != const:
                errs.append(f"{path}.{dfield}: must be {const!r} for {schema.name}")


_SPEC_CACHE: dict[str, TelegramSpec] = {}


def resolve_spec_path(path: str | os.PathLike[str] | None = None) -> Path:
    if path is not None:
        return Path(path)
    env = os.environ.get(SPEC_ENV)
    return Path(env) if env else DEFAULT_SPEC_PATH


def load_spec(path: str | os.PathLike[str] | None = None) -> TelegramSpec:
    """Load (once per path) and index the spec; it is read-only so it is shared."""
    resolved = resolve_spec_path(path).resolve()
    key = str(resolved)
    spec = _SPEC_CACHE.get(key)
    if spec is None:
        with resolved.open(encoding="utf-8") as fh:
            spec = TelegramSpec(json.load(fh), source=key)
        _SPEC_CACHE[key] = spec
    return spec


# ---------------------------------------------------------------------------
# The fake server
# ---------------------------------------------------------------------------


@dataclass(slots=True)
class Recorded:
    """One API request as the fake saw it.

    `at` is time.monotonic() on arrival. `outcome` is "ok", "violation" (spec
    violation, 400; 404 for an unknown method), "400"/"409" (behavioural errors such as
    chat not found), "401", "403", "429", "5xx", "timeout" or "crash" (a bug in the fake).
    `params` are decoded to spec types (JSON fields parsed, form strings converted, file
    parts as UploadedFile); `result` is what the fake answered.
    """

    method: str
    params: dict[str, Any]
    at: float
    outcome: str = "ok"
    result: Any = None
    description: str | None = None
    chat_id: int | str | None = None
    user_agent: str | None = None  # which client library sent it

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"


@dataclass(slots=True)
class _Fault:
    kind: str
    method: str | None  # lower-case name, None = any send method, "*" = any method
    chat_id: int | None
    remaining: int
    retry_after: int


@dataclass(slots=True)
class _ChatInfo:
    id: int
    first_name: str
    language_code: str | None
    username: str | None
    last_name: str | None

    def chat(self) -> dict[str, Any]:
        if self.id < 0:
            return {"id": self.id, "type": "supergroup", "title": self.first_name}
        chat: dict[str, Any] = {"id": self.id, "type": "private", "first_name": self.first_name}
        if self.last_name:
            chat["last_name"] = self.last_name
        if self.username:
            chat["username"] = self.username
        return chat

    def user(self) -> dict[str, Any]:
        user: dict[str, Any] = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        if self.last_name:
            user["last_name"] = self.last_name
        if self.username:
            user["username"] = self.username
        if self.language_code:
            user["language_code"] = self.language_code
        return user


class _ApiError(Exception):
    def __init__(
        self, status: int, description: str, outcome: str | None = None,
        parameters: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.outcome = outcome or str(status)
        self.parameters = parameters


class _Notifier:
    """Wake every waiter; cheaper than a Condition and usable from sync code."""

    def __init__(self) -> None:
        self._waiters: list[asyncio.Future[None]] = []

    async def wait(self, timeout: float) -> None:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(fut)
        try:
            await asyncio.wait_for(fut, timeout)
        except TimeoutError:
            pass
        finally:
            if fut in self._waiters:
                self._waiters.remove(fut)

    def notify_all(self) -> None:
        waiters, self._waiters = self._waiters, []
        for fut in waiters:
            if not fut.done():
                fut.set_result(None)


_DEFAULT_EXCLUDED_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})
_MEDIA_FIELDS = ("photo", "document", "audio", "video", "animation", "voice", "video_note",
                 "sticker", "live_photo")
_NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are "
    "exactly the same as a current content and reply markup of the message"
)


# Fields whose strings a person reads (message text, captions, button labels, command menus,
# callback answers, placeholders, poll texts), and the names and text of documents they
# receive.
_READABLE_FIELDS = frozenset({
    "text", "caption", "description", "short_description", "title", "input_field_placeholder",
    "question", "explanation", "name", "placeholder", "button_text",
})


def _readable_texts(value: Any, path: str, field_name: str | None = None
                    ) -> Iterable[tuple[str, str]]:
    if isinstance(value, str):
        if field_name in _READABLE_FIELDS:
            yield path, value
    elif isinstance(value, UploadedFile):
        if value.filename:
            yield path + ".filename", value.filename
        content = document_text(value.filename, value.data)
        if content is not None:
            yield path + " (the document's text)", content
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _readable_texts(v, f"{path}.{k}", k)
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            yield from _readable_texts(v, f"{path}[{i}]", field_name)


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


# What each Telegram driver's HTTP client says it is (bot/telegram/*_driver.py).
DRIVER_AGENTS = {"ptb": "python-telegram-bot", "aiogram": "aiogram/"}


class FakeTelegram:
    """An aiohttp server impersonating the Bot API; see the module docstring."""

    def __init__(
        self,
        token: str = "123456:TEST",
        spec_path: str | os.PathLike[str] | None = None,
        *,
        username: str = "convoca_test_bot",
        first_name: str = "Convoca Test",
        rate_limit_per_second: float | None = None,
        per_chat_limit_per_second: int | None = None,
        timeout_hold: float = 30.0,
        strict_html: bool = True,
        check_responses: bool = False,
        validate_updates: bool = True,
        message_keys: Iterable[str] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.spec = load_spec(spec_path)
        # Any text a person would read that is, or contains, one of these is a violation:
        # by default the keys of Convoca's own catalogs; () turns the check off.
        self._message_keys = catalog_keys() if message_keys is None else frozenset(message_keys)
        self.token = token
        self.bot_id = int(token.split(":", 1)[0]) if token.split(":", 1)[0].isdigit() else 1
        self.username = username
        self.first_name = first_name
        self.rate_limit_per_second = rate_limit_per_second
        self.per_chat_limit_per_second = per_chat_limit_per_second
        self.timeout_hold = timeout_hold
        self.strict_html = strict_html
        self.check_responses = check_responses
        self.validate_updates = validate_updates
        self.host = host
        self.port = port
        self.base_url: str | None = None

        self.requests: list[Recorded] = []
        # The Telegram driver the test runs Convoca on (tests/conftest.py), and the
        # User-Agent every request must then carry (expect_driver).
        self.driver = "ptb"
        self.expected_agent: str | None = None
        self.violations: list[str] = []
        self.response_errors: list[str] = []  # bugs of the fake itself (check_responses=True)
        # "requests", "delivered" and one key per Recorded.outcome ("ok", "429", ...).
        self.stats: Counter[str] = Counter()
        self._delivered: list[Recorded] = []
        self._delivered_by_chat: dict[Any, list[Recorded]] = {}

        self._chats: dict[int, _ChatInfo] = {}
        self._messages: dict[int, dict[int, dict[str, Any]]] = {}
        self._last_bot_message: dict[int, int] = {}
        self._next_message_id: dict[int, int] = {}
        self._updates: deque[dict[str, Any]] = deque()
        self._next_update_id = 1
        self._allowed_updates: frozenset[str] | None = None
        self._callbacks: dict[str, int] = {}
        self._files: dict[str, dict[str, Any]] = {}  # file_id -> meta (+ "data")
        self._files_by_path: dict[str, str] = {}
        self.downloads: list[str] = []  # file ids whose bytes the bot fetched, in order
        self.served: dict[str, int] = {}  # file id -> bytes written before the client left
        self._counter = itertools.count(1)
        self._commands: dict[str, list[dict[str, Any]]] = {}
        self._webhook_url = ""
        # setChatMenuButton's buttons by private chat; None holds the bot's default one.
        self._menu_buttons: dict[int | None, dict[str, Any]] = {}

        self._faults: list[_Fault] = []
        self._blocked: set[int] = set()
        self._fault_p = 0.0
        self._fault_kinds: tuple[str, ...] = ("5xx", "timeout")
        self._rng = random.Random()
        self._window: deque[float] = deque()
        self._chat_windows: dict[Any, deque[float]] = {}
        self._poll_generation = 0
        self._listening: int | None = None  # the long poll held with nothing to hand out

        self._update_notifier = _Notifier()
        self._record_notifier = _Notifier()
        self._closing: asyncio.Event | None = None
        self._runner: web.AppRunner | None = None
        self._last_getupdates = 0.0
        self.polls: list[float] = []  # when each getUpdates arrived, answered yet or not

        self._message_methods = frozenset(
            lc for lc, s in self.spec.methods.items()
            if lc.startswith(("send", "copy", "forward"))
            and any(_node_name(r).endswith(("Message", "MessageId")) for r in s.returns)
        )
        self._chat_methods = self._message_methods | {
            lc for lc in self.spec.methods if lc.startswith("edit") or lc == "sendchataction"
        }
        self._bot_user = {
            "id": self.bot_id, "is_bot": True, "first_name": first_name, "username": username,
        }
        self._handlers: dict[str, Callable[..., Any]] = {
            "getme": self._get_me,
            "sendmessage": self._send_message,
            "editmessagetext": self._edit_message_text,
            "editmessagecaption": self._edit_message_caption,
            "editmessagereplymarkup": self._edit_message_reply_markup,
            "deletemessage": self._delete_message,
            "answercallbackquery": self._answer_callback_query,
            "getfile": self._get_file,
            "getwebhookinfo": self._get_webhook_info,
            "setwebhook": self._set_webhook,
            "deletewebhook": self._delete_webhook,
            "setmycommands": self._set_my_commands,
            "getmycommands": self._get_my_commands,
            "deletemycommands": self._delete_my_commands,
            "getchat": self._get_chat,
            "copymessage": self._copy_message,
            "setchatmenubutton": self._set_chat_menu_button,
            "getchatmenubutton": self._get_chat_menu_button,
        }

    # -- lifecycle ----------------------------------------------------------

    async def start(self) -> str:
        """Start listening; returns the base URL for TelegramAPIServer.from_base()."""
        if self._runner is not None:
            assert self.base_url is not None
            return self.base_url
        self._closing = asyncio.Event()
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_get("/file/bot{token}/{path:.+}", self._handle_file)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_api)
        # handler_cancellation: drop long polls/holds as soon as the client goes away.
        runner = web.AppRunner(
            app, access_log=None, handle_signals=False, shutdown_timeout=0.5,
            handler_cancellation=True,
        )
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        await site.start()
        self._runner = runner
        port = runner.addresses[0][1]
        self.port = port
        self.base_url = f"http://{self.host}:{port}"
        return self.base_url

    async def stop(self) -> None:
        if self._runner is None:
            return
        assert self._closing is not None
        self._closing.set()
        self._update_notifier.notify_all()
        runner, self._runner = self._runner, None
        await runner.cleanup()

    async def __aenter__(self) -> FakeTelegram:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def file_base_url(self) -> str:
        return f"{self.base_url}/file/bot{self.token}"

    # -- chats & incoming updates ---------------------------------------------

    def add_chat(
        self,
        chat_id: int,
        *,
        first_name: str = "Ana",
        language_code: str | None = "es",
        username: str | None = None,
        last_name: str | None = None,
    ) -> dict[str, Any]:
        """Make a chat known (as if the user had written to the bot). Returns the Chat."""
        info = _ChatInfo(int(chat_id), first_name, language_code, username, last_name)
        self._chats[info.id] = info
        return info.chat()

    def _chat(
        self, chat_id: int, first_name: str | None = None, language_code: str | None = None
    ) -> _ChatInfo:
        info = self._chats.get(chat_id)
        if info is None:
            self.add_chat(chat_id, first_name=first_name or "Ana",
                          language_code=language_code or "es")
            return self._chats[chat_id]
        if first_name is not None:
            info.first_name = first_name
        if language_code is not None:
            info.language_code = language_code
        return info

    def known_chats(self) -> list[int]:
        return list(self._chats)

    def block(self, chat_id: int) -> None:
        """The user blocked the bot: every send/edit to the chat answers 403 from now on."""
        self._blocked.add(int(chat_id))

    def unblock(self, chat_id: int) -> None:
        self._blocked.discard(int(chat_id))

    def push_update(self, update: dict[str, Any]) -> dict[str, Any]:
        """Queue an update for getUpdates; assigns the next update_id. Returns the update."""
        update = self.numbered(update)
        self._updates.append(update)
        self._update_notifier.notify_all()
        return update

    def numbered(self, update: dict[str, Any]) -> dict[str, Any]:
        """The update as Telegram would give it next: its update_id, checked against the
        spec, its chat known from now on."""
        update = {"update_id": self._next_update_id,
                  **{k: v for k, v in update.items() if k != "update_id"}}
        if self.validate_updates:
            errors = self.spec.validate_object("Update", update)
            if errors:
                raise ValueError("invalid Update: " + "; ".join(errors))
        self._next_update_id += 1
        self._learn_chats(update)
        return update

    def _learn_chats(self, update: dict[str, Any]) -> None:
        """A chat that wrote to the bot becomes known, as on Telegram."""
        for key, body in update.items():
            if not isinstance(body, dict):
                continue
            message = body.get("message") if key == "callback_query" else body
            chat = message.get("chat") if isinstance(message, dict) else None
            if isinstance(chat, dict) and chat.get("id") not in self._chats:
                sender = body.get("from") or {}
                self.add_chat(chat["id"],
                              first_name=chat.get("first_name") or chat.get("title") or "Ana",
                              language_code=sender.get("language_code"),
                              username=chat.get("username"), last_name=chat.get("last_name"))

    @property
    def pending_updates(self) -> int:
        """Updates not yet confirmed by a getUpdates offset."""
        return len(self._updates)

    def _next_mid(self, chat_id: int) -> int:
        mid = self._next_message_id.get(chat_id, 1)
        self._next_message_id[chat_id] = mid + 1
        return mid

    def _store(self, message: dict[str, Any]) -> dict[str, Any]:
        self._messages.setdefault(message["chat"]["id"], {})[message["message_id"]] = message
        return message

    def _sender(self, info: _ChatInfo, from_id: int | None) -> dict[str, Any]:
        """The message's `from`: the chat's own user, or (from_id) another user; in a group
        that is always someone else, and a private chat's update from someone other than
        its user is what only a forger would send."""
        if from_id is None or from_id == info.id:
            return info.user()
        known = self._chats.get(int(from_id))
        if known is not None and known.id > 0:
            return known.user()
        return {"id": int(from_id), "is_bot": False, "first_name": "Otra"}

    def restart_update_numbering(self, next_update_id: int) -> None:
        """After a week without updates Telegram numbers the next one afresh (at random): an
        id the bot has seen before may come again."""
        self._next_update_id = int(next_update_id)

    def _incoming(
        self, chat_id: int, content: dict[str, Any], first_name: str | None = None,
        language_code: str | None = None, from_id: int | None = None,
    ) -> dict[str, Any]:
        info = self._chat(int(chat_id), first_name, language_code)
        message = {
            "message_id": self._next_mid(info.id),
            "from": self._sender(info, from_id),
            "chat": info.chat(),
            "date": int(time.time()),
            **content,
        }
        self._store(message)
        return self.push_update({"message": message})

    def past_message(self, chat_id: int, text: str) -> dict[str, Any]:
        """A message the person sent before the test began: it is in the chat's history and
        uses up a message number, but no update is queued for it."""
        info = self._chat(int(chat_id))
        message = {"message_id": self._next_mid(info.id), "from": info.user(),
                   "chat": info.chat(), "date": int(time.time()), "text": text}
        return self._store(message)

    def message(
        self, chat_id: int, text: str, *, first_name: str | None = None,
        language_code: str | None = None, entities: list[dict[str, Any]] | None = None,
        from_id: int | None = None,
    ) -> dict[str, Any]:
        """A text message from the user (first_name defaults to "Ana", language to "es"); from
        another user with from_id (see _sender)."""
        content: dict[str, Any] = {"text": text}
        if entities:
            content["entities"] = entities
        return self._incoming(chat_id, content, first_name, language_code, from_id)

    def command(
        self, chat_id: int, command: str, payload: str | None = None, *,
        first_name: str | None = None, language_code: str | None = None,
        from_id: int | None = None,
    ) -> dict[str, Any]:
        """A bot command such as "/start" (with optional deep-link payload)."""
        if not command.startswith("/"):
            command = "/" + command
        text = f"{command} {payload}" if payload else command
        entity = {"type": "bot_command", "offset": 0, "length": utf16_len(command)}
        return self.message(chat_id, text, first_name=first_name, language_code=language_code,
                            entities=[entity], from_id=from_id)

    def callback(
        self, chat_id: int, data: str, message_id: int | None = None, *,
        from_id: int | None = None,
    ) -> dict[str, Any]:
        """The user pressed an inline button on a bot message (default: the latest one); or
        another user did (from_id), as in a group."""
        info = self._chat(int(chat_id))
        chat_messages = self._messages.setdefault(info.id, {})
        if message_id is None:
            message_id = self._last_bot_message.get(info.id)
        message = chat_messages.get(message_id) if message_id is not None else None
        if message is None:
            if message_id is not None:
                self._next_message_id[info.id] = max(
                    self._next_message_id.get(info.id, 1), message_id + 1)
            # No such bot message yet: invent one so edits of it still work.
            message = {
                "message_id": message_id or self._next_mid(info.id),
                "from": dict(self._bot_user),
                "chat": info.chat(),
                "date": int(time.time()),
                "text": "…",
            }
            self._store(message)
        query_id = str(next(self._counter) * 7919 + 10**12)
        self._callbacks[query_id] = info.id
        return self.push_update({
            "callback_query": {
                "id": query_id,
                "from": self._sender(info, from_id),
                "message": message,
                "chat_instance": f"ci{info.id}",
                "data": data,
            }
        })

    def contact(
        self, chat_id: int, phone_number: str, user_id: int | None = None, *,
        first_name: str | None = None, from_id: int | None = None,
    ) -> dict[str, Any]:
        """The user shared a contact (their own by default)."""
        info = self._chat(int(chat_id))
        contact = {
            "phone_number": phone_number,
            "first_name": first_name or info.first_name,
            "user_id": info.id if user_id is None else user_id,
        }
        return self._incoming(chat_id, {"contact": contact}, from_id=from_id)

    def _new_file(
        self, kind: str, data: bytes | None = None, ext: str = "", **meta: Any
    ) -> dict[str, Any]:
        n = next(self._counter)
        file_id = f"{kind}-{n:08d}-fake"
        obj = {"file_id": file_id, "file_unique_id": f"u{n:08d}", **meta}
        if data is not None:
            obj["file_size"] = len(data)
            path = f"{kind}s/file_{n}{ext}"
            self._files[file_id] = {**obj, "data": data, "file_path": path}
            self._files_by_path[path] = file_id
        else:
            self._files[file_id] = dict(obj)
        return obj

    def document(
        self, chat_id: int, filename: str, content: bytes,
        mime_type: str = "application/octet-stream", *, caption: str | None = None,
    ) -> dict[str, Any]:
        """The user sent a file; its bytes are downloadable via getFile + /file/."""
        doc = self._new_file("document", content, Path(filename).suffix,
                             file_name=filename, mime_type=mime_type)
        body: dict[str, Any] = {"document": doc}
        if caption:
            body["caption"] = caption
        return self._incoming(chat_id, body)

    def photo(self, chat_id: int, *, caption: str | None = None) -> dict[str, Any]:
        sizes = [
            self._new_file("photo", b"\xff\xd8fakejpeg" * s, ".jpg", width=s * 10, height=s * 10)
            for s in (9, 32, 80)
        ]
        body: dict[str, Any] = {"photo": sizes}
        if caption:
            body["caption"] = caption
        return self._incoming(chat_id, body)

    def sticker(self, chat_id: int, emoji: str = "👍") -> dict[str, Any]:
        sticker = self._new_file(
            "sticker", b"RIFFfakewebp", ".webp", type="regular", width=512, height=512,
            is_animated=False, is_video=False, emoji=emoji,
        )
        return self._incoming(chat_id, {"sticker": sticker})

    def voice(self, chat_id: int, duration: int = 3) -> dict[str, Any]:
        voice = self._new_file("voice", b"OggSfakeopus", ".oga", duration=duration,
                               mime_type="audio/ogg")
        return self._incoming(chat_id, {"voice": voice})

    def file_bytes(self, file_id: str) -> bytes | None:
        meta = self._files.get(file_id)
        return meta.get("data") if meta else None

    # -- faults -------------------------------------------------------------

    def inject(
        self, kind: str, *, method: str | None = "sendMessage", times: int = 1,
        chat_id: int | None = None, retry_after: int = 1,
    ) -> None:
        """Fail the next `times` matching requests with `kind` ("429", "5xx", "timeout", "403").

        method=None matches any message-sending method, "*" any method at all.
        """
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {FAULT_KINDS}")
        lc = method.lower() if method and method != "*" else method
        self._faults.append(_Fault(kind, lc, chat_id, times, int(retry_after)))

    def fault_rate(
        self, p: float, kinds: Iterable[str] = ("5xx", "timeout"), seed: int | None = None
    ) -> None:
        """Randomly fail a fraction p of send requests (p=0 turns it off)."""
        kinds = tuple(kinds)
        for kind in kinds:
            if kind not in FAULT_KINDS:
                raise ValueError(f"unknown fault kind {kind!r}")
        self._fault_p = p
        self._fault_kinds = kinds
        self._rng = random.Random(seed)

    def clear_faults(self) -> None:
        self._faults.clear()
        self._fault_p = 0.0
        self._blocked.clear()

    def _take_fault(self, lc: str, chat_id: Any) -> _Fault | None:
        for fault in self._faults:
            if fault.method == "*" or fault.method == lc or (
                fault.method is None and lc in self._message_methods
            ):
                if fault.chat_id is not None and fault.chat_id != chat_id:
                    continue
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self._faults.remove(fault)
                return fault
        if self._fault_p and lc in self._message_methods and self._rng.random() < self._fault_p:
            return _Fault(self._rng.choice(self._fault_kinds), lc, None, 1, 1)
        return None

    # -- inspection -----------------------------------------------------------

    def delivered(self, chat_id: int | None = None) -> list[Recorded]:
        """Successful message sends (sendMessage, sendDocument, copyMessage, ...)."""
        if chat_id is None:
            return list(self._delivered)
        return list(self._delivered_by_chat.get(chat_id, ()))

    def sent(self, chat_id: int | None = None) -> list[Recorded]:
        """Messages the bot sent (same as delivered(): faults and rejections excluded)."""
        return self.delivered(chat_id)

    def texts(self, chat_id: int | None = None, *, plain: bool = False) -> list[str]:
        """Texts and captions of delivered messages in order (as sent, or plain if asked)."""
        out = []
        for rec in self.delivered(chat_id):
            if plain and isinstance(rec.result, dict):
                value = rec.result.get("text", rec.result.get("caption"))
            else:
                value = rec.params.get("text", rec.params.get("caption"))
            if isinstance(value, str):
                out.append(value)
        return out

    def bot_messages(self, chat_id: int) -> list[dict[str, Any]]:
        """Current state (after edits/deletes) of the bot's messages in a chat."""
        return [m for m in self._messages.get(chat_id, {}).values()
                if m.get("from", {}).get("id") == self.bot_id]

    def calls(self, method: str) -> list[Recorded]:
        lc = method.lower()
        return [r for r in self.requests if r.method.lower() == lc]

    async def wait_for(
        self, predicate: Callable[[Recorded], bool], timeout: float = 5.0
    ) -> Recorded:
        """Wait until a recorded request (past or future) matches; returns it."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        index = 0
        while True:
            while index < len(self.requests):
                rec = self.requests[index]
                index += 1
                if predicate(rec):
                    return rec
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"no matching request within {timeout}s")
            await self._record_notifier.wait(remaining)

    async def wait_for_poll(self, after: float = float("-inf"), timeout: float = 5.0) -> float:
        """Wait until a getUpdates arrives (after the monotonic time ``after``); returns when.
        A long poll is recorded only once answered, up to its timeout later: this is the
        moment the bot began to listen."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            arrived = [at for at in self.polls if at > after]
            if arrived:
                return arrived[0]
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"no getUpdates within {timeout}s")
            await self._record_notifier.wait(remaining)

    def listening(self) -> bool:
        """The bot holds a long poll with nothing to hand it: every update was taken and
        confirmed (it asked for the ones after it)."""
        return (self._listening is not None and self._listening == self._poll_generation
                and not self._updates)

    async def wait_until_listening(self, timeout: float = 10.0) -> None:
        """Wait until ``listening``. A bot that long-polls only with no update in hand (Convoca's
        polling asks with timeout=0 while one is being handled) has by then handled every
        update given to the fake and sent what those answer, so a test need not sleep to
        see whether anything more comes."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not self.listening():
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"the bot did not come back to a long poll within {timeout}s")
            await self._record_notifier.wait(remaining)

    async def wait_for_sent(self, chat_id: int, count: int = 1, timeout: float = 5.0) -> list[str]:
        """Wait until `count` messages were delivered to the chat; returns texts(chat_id)."""
        await self.wait_for(lambda _r: len(self._delivered_by_chat.get(chat_id, ())) >= count,
                            timeout)
        return self.texts(chat_id)

    def assert_clean(self) -> None:
        problems = self.violations + self.response_errors
        if problems:
            raise AssertionError("Telegram API violations:\n  " + "\n  ".join(problems))

    def clear(self) -> None:
        """Forget recorded requests, violations and stats (state such as chats is kept)."""
        self.requests.clear()
        self.polls.clear()
        self.violations.clear()
        self.response_errors.clear()
        self.stats.clear()
        self._delivered.clear()
        self._delivered_by_chat.clear()

    # -- HTTP ---------------------------------------------------------------

    @staticmethod
    def _json(payload: dict[str, Any], status: int = 200) -> web.Response:
        return web.Response(body=json.dumps(payload, ensure_ascii=False).encode(), status=status,
                            content_type="application/json")

    def _error(self, err: _ApiError) -> web.Response:
        body: dict[str, Any] = {"ok": False, "error_code": err.status,
                                "description": err.description}
        if err.parameters:
            body["parameters"] = err.parameters
        return self._json(body, err.status)

    def _record(self, rec: Recorded) -> None:
        self.requests.append(rec)
        self.stats["requests"] += 1
        self.stats[rec.outcome] += 1
        self._record_notifier.notify_all()

    async def _read_params(
        self, request: web.Request
    ) -> tuple[dict[str, Any], dict[str, UploadedFile], bool]:
        params: dict[str, Any] = dict(request.query)
        files: dict[str, UploadedFile] = {}
        if request.method != "POST" or not request.body_exists:
            return params, files, True
        ctype = request.content_type
        if ctype == "application/json":
            body = await request.json()
            if not isinstance(body, dict):
                raise _ApiError(400, "Bad Request: JSON body must be an object")
            params.update(body)
            return params, files, False
        form = await request.post()
        for key, value in form.items():
            if isinstance(value, web.FileField):
                part = UploadedFile(key, value.filename, value.content_type, value.file.read())
                files[key] = part
                params[key] = part
            else:
                params[key] = value
        return params, files, True

    def expect_driver(self, name: str) -> None:
        """Every request from now on must come from this Telegram driver's library (its
        User-Agent), so that a test run "with the PTB driver" cannot pass on aiogram."""
        self.expected_agent = DRIVER_AGENTS[name]

    def _check_agent(self, method: str, agent: str | None) -> None:
        if self.expected_agent and self.expected_agent not in (agent or ""):
            self.violations.append(f"{method}: sent by {agent!r}, not by the driver under test "
                                   f"({self.expected_agent})")

    async def _handle_api(self, request: web.Request) -> web.StreamResponse:
        at = time.monotonic()
        raw_method = request.match_info["method"]
        agent = request.headers.get("User-Agent")
        self._check_agent(raw_method, agent)
        if request.match_info["token"] != self.token:
            self._record(Recorded(raw_method, {}, at, "401", description="Unauthorized",
                                  user_agent=agent))
            return self._json({"ok": False, "error_code": 401, "description": "Unauthorized"}, 401)
        try:
            raw, files, form = await self._read_params(request)
        except (ValueError, _ApiError) as exc:
            desc = exc.description if isinstance(exc, _ApiError) else f"Bad Request: {exc}"
            self.violations.append(f"{raw_method}: unreadable request body ({desc})")
            self._record(Recorded(raw_method, {}, at, "violation", description=desc,
                                  user_agent=agent))
            return self._json({"ok": False, "error_code": 400, "description": desc}, 400)
        lc = raw_method.lower()
        schema = self.spec.methods.get(lc)
        if schema is None:
            msg = f"{raw_method}: unknown method (not in {self.spec.version})"
            self.violations.append(msg)
            self._record(Recorded(raw_method, raw, at, "violation", description="Not Found",
                                  user_agent=agent))
            return self._json({"ok": False, "error_code": 404, "description": "Not Found"}, 404)
        ctx = _Ctx(files, form, self.strict_html)
        params, errors = self.spec.validate_params(schema.name, raw, form=form, ctx=ctx)
        chat_id = _norm_chat(params.get("chat_id", raw.get("chat_id")))
        rec = Recorded(schema.name, params, at, chat_id=chat_id, user_agent=agent)
        if errors:
            self.violations.extend(errors)
            rec.params = {**raw, **params}  # keep what the spec did not know, for debugging
            rec.outcome = "violation"
            rec.description = "Bad Request: " + errors[0]
            self._record(rec)
            return self._json({"ok": False, "error_code": 400, "description": rec.description},
                              400)
        try:
            fault = self._take_fault(lc, chat_id)
            if fault is not None:
                if fault.kind == "timeout":
                    rec.outcome = "timeout"
                    self._record(rec)
                    return await self._hold_and_drop(request)
                raise self._fault_error(fault)
            self._rate_limit(lc, chat_id, at)
            if lc == "getupdates":
                result = await self._get_updates(params, at)
            else:
                self._check_chat(lc, chat_id, params)
                handler = self._handlers.get(lc)
                if handler is not None:
                    result = handler(params, ctx)
                elif lc in self._message_methods:
                    result = self._send_generic(schema, params, ctx)
                else:
                    result = self._generic_result(schema)
        except _ApiError as err:
            rec.outcome = err.outcome
            rec.description = err.description
            self._record(rec)
            return self._error(err)
        except Exception as exc:  # a bug in the fake must not look like a Telegram answer
            self.response_errors.append(f"{schema.name}: fake server crashed: {exc!r}")
            rec.outcome = "crash"
            self._record(rec)
            return self._json({"ok": False, "error_code": 500,
                               "description": "Internal Server Error (fake crashed)"}, 500)
        rec.result = result
        self.violations.extend(self._raw_keys_in(schema.name, params))
        if self.check_responses:
            self.response_errors.extend(self.spec.validate_result(schema.name, result))
        if lc in self._message_methods:
            self._delivered.append(rec)
            self._delivered_by_chat.setdefault(chat_id, []).append(rec)
            self.stats["delivered"] += 1
        self._record(rec)
        return self._json({"ok": True, "result": result})

    def _raw_keys_in(self, method: str, params: dict[str, Any]) -> list[str]:
        found = []
        for path, text in _readable_texts(params, method):
            leaked = raw_keys_in(text, self._message_keys)
            if leaked:
                found.append(f"{path}: a raw message key {leaked[0]!r} reaches a person "
                             f"in {text[:120]!r}")
        return found

    def _rate_limit(self, lc: str, chat_id: Any, now: float) -> None:
        if lc not in self._message_methods:
            return
        windows = []
        if self.rate_limit_per_second is not None:
            windows.append((self._window, self.rate_limit_per_second))
        if self.per_chat_limit_per_second is not None:
            windows.append((self._chat_windows.setdefault(chat_id, deque()),
                            self.per_chat_limit_per_second))
        for window, limit in windows:
            while window and window[0] <= now - 1.0:
                window.popleft()
            if len(window) >= limit:
                retry = max(1, math.ceil(window[0] + 1.0 - now))
                raise _ApiError(429, f"Too Many Requests: retry after {retry}",
                                parameters={"retry_after": retry})
        for window, _ in windows:  # only accepted sends count
            window.append(now)

    def _fault_error(self, fault: _Fault) -> _ApiError:
        if fault.kind == "429":
            return _ApiError(429, f"Too Many Requests: retry after {fault.retry_after}",
                             parameters={"retry_after": fault.retry_after})
        if fault.kind == "403":
            return _ApiError(403, "Forbidden: bot was blocked by the user")
        return _ApiError(502, "Bad Gateway", outcome="5xx")

    async def _hold_and_drop(self, request: web.Request) -> web.StreamResponse:
        assert self._closing is not None
        try:
            await asyncio.wait_for(self._closing.wait(), self.timeout_hold)
        except TimeoutError:
            pass
        # Like a dead upstream: close the socket without an HTTP response.
        if request.transport is not None:
            request.transport.close()
        raise asyncio.CancelledError

    def _check_chat(self, lc: str, chat_id: Any, params: dict[str, Any]) -> None:
        if chat_id is not None:
            if chat_id not in self._chats:
                raise _ApiError(400, "Bad Request: chat not found")
            if chat_id in self._blocked and lc in self._chat_methods:
                raise _ApiError(403, "Forbidden: bot was blocked by the user")
        from_chat = params.get("from_chat_id")
        if from_chat is not None and _norm_chat(from_chat) not in self._chats:
            raise _ApiError(400, "Bad Request: chat not found")

    async def _handle_file(self, request: web.Request) -> web.StreamResponse:
        self._check_agent("file download", request.headers.get("User-Agent"))
        if request.match_info["token"] != self.token:
            return web.Response(status=401, text="Unauthorized")
        file_id = self._files_by_path.get(request.match_info["path"])
        meta = self._files.get(file_id) if file_id else None
        if meta is None or meta.get("data") is None:
            return self._json({"ok": False, "error_code": 404, "description": "Not Found"}, 404)
        self.downloads.append(meta["file_id"])
        # Streamed, and counted as it goes: a client that stops reading past its size limit
        # shows here (``served``), where a client that reads the whole file does too.
        data = meta["data"]
        response = web.StreamResponse(headers={
            "Content-Type": meta.get("mime_type") or "application/octet-stream"})
        response.content_length = len(data)
        await response.prepare(request)
        served = 0
        try:
            for start in range(0, len(data), 64 * 1024):
                chunk = data[start:start + 64 * 1024]
                await response.write(chunk)
                served += len(chunk)
            await response.write_eof()
        finally:
            self.served[meta["file_id"]] = served
        return response

    # -- method implementations ---------------------------------------------

    async def _get_updates(self, params: dict[str, Any], at: float) -> list[dict[str, Any]]:
        if self._webhook_url:
            raise _ApiError(409, "Conflict: can't use getUpdates method while webhook is active; "
                                 "use deleteWebhook to delete the webhook first")
        if "allowed_updates" in params:
            allowed = params["allowed_updates"]
            self._allowed_updates = frozenset(allowed) if allowed else None
        self._update_notifier.notify_all()  # wakes an older poll so it answers 409
        self.polls.append(at)
        self._record_notifier.notify_all()
        queue = self._updates
        offset = params.get("offset")
        if offset is not None:
            if offset < 0:
                while len(queue) > -offset:
                    queue.popleft()
            else:
                while queue and queue[0]["update_id"] < offset:
                    queue.popleft()
        limit = min(max(params.get("limit", 100), 1), 100)
        timeout = max(params.get("timeout", 0), 0)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        assert self._closing is not None
        self._poll_generation += 1
        generation = self._poll_generation
        while True:
            if generation != self._poll_generation:
                raise _ApiError(409, "Conflict: terminated by other getUpdates request; make sure "
                                     "that only one bot instance is running")
            batch = self._take_updates(limit)
            if batch or self._closing.is_set():
                return batch
            remaining = deadline - loop.time()
            if remaining <= 0:
                return []
            self._listening = generation
            self._record_notifier.notify_all()
            try:
                await self._update_notifier.wait(remaining)
            finally:
                self._listening = None

    def _take_updates(self, limit: int) -> list[dict[str, Any]]:
        allowed = self._allowed_updates
        batch = []
        for u in self._updates:
            if (allowed.intersection(u) if allowed is not None
                    else not _DEFAULT_EXCLUDED_UPDATES.intersection(u)):
                batch.append(u)
                if len(batch) >= limit:
                    break
        if not batch and self._updates:
            self._updates.clear()  # only updates the bot did not subscribe to: Telegram drops them
        return batch

    def _get_me(self, params: dict[str, Any], ctx: _Ctx) -> dict[str, Any]:
        return {**self._bot_user, "can_join_groups": False, "can_read_all_group_messages": False,
                "supports_inline_queries": False}

    def _bot_message(self, chat_id: int, content: dict[str, Any]) -> dict[str, Any]:
        info = self._chats[chat_id]
        message = {
            "message_id": self._next_mid(chat_id),
            "from": dict(self._bot_user),
            "chat": info.chat(),
            "date": int(time.time()),
            **content,
        }
        self._store(message)
        self._last_bot_message[chat_id] = message["message_id"]
        return message

    @staticmethod
    def _formatted(
        params: dict[str, Any], ctx: _Ctx, text_field: str, entities_field: str,
        out_field: str, out_entities: str, content: dict[str, Any],
    ) -> None:
        text = params.get(text_field)
        if not isinstance(text, str):
            return
        parsed = ctx.parsed.get(text_field)
        if parsed is not None:
            text, entities = parsed
        else:
            entities = params.get(entities_field) or []
        content[out_field] = text
        if entities:
            content[out_entities] = entities

    @staticmethod
    def _inline_markup(params: dict[str, Any]) -> dict[str, Any] | None:
        markup = params.get("reply_markup")
        if isinstance(markup, dict) and "inline_keyboard" in markup:
            return markup
        return None

    def _send_message(self, params: dict[str, Any], ctx: _Ctx) -> dict[str, Any]:
        content: dict[str, Any] = {}
        self._formatted(params, ctx, "text", "entities", "text", "entities", content)
        markup = self._inline_markup(params)
        if markup:
            content["reply_markup"] = markup
        return self._bot_message(params["chat_id"], content)

    def _send_generic(self, schema: _Schema, params: dict[str, Any], ctx: _Ctx) -> Any:
        chat_id = params["chat_id"]
        if schema.name in ("forwardMessages", "copyMessages"):
            return [self._copy_message({**params, "message_id": mid}, ctx)
                    for mid in params["message_ids"]]
        if schema.name == "forwardMessage":
            source = self._source_message(params)
            return self._bot_message(chat_id, self._copyable(source))
        content: dict[str, Any] = {}
        self._formatted(params, ctx, "caption", "caption_entities", "caption",
                        "caption_entities", content)
        message_fields = self.spec.types["Message"].fields
        kind = _snake(schema.name[4:]) if schema.name.startswith("send") else ""
        if kind in _MEDIA_FIELDS and kind in message_fields:
            content[kind] = self._media_object(kind, params.get(kind), message_fields[kind].alts)
        elif kind in message_fields:
            node = message_fields[kind].alts[0]
            obj = self._minimal(node)
            target = self.spec.types.get(node[1]) if node[0] == "T" else None
            if isinstance(obj, dict) and target is not None:
                # Echo scalar parameters that share a name with the result's fields.
                for key, value in params.items():
                    if key in target.fields and not isinstance(value, (dict, list, UploadedFile)):
                        obj[key] = value
            content[kind] = obj
        markup = self._inline_markup(params)
        if markup:
            content["reply_markup"] = markup
        if schema.returns and _node_name(schema.returns[0]) == "Array of Message":
            return [self._bot_message(chat_id, dict(content)) for _ in params.get("media") or [0]]
        return self._bot_message(chat_id, content)

    def _media_object(self, kind: str, value: Any, alts: tuple) -> Any:
        if isinstance(value, str) and value in self._files:
            meta = {k: v for k, v in self._files[value].items() if k not in ("data", "file_path")}
            return [meta] if alts[0][0] == "A" else meta
        template = self._minimal(alts[0])
        item = template[-1] if isinstance(template, list) else template
        data = value.data if isinstance(value, UploadedFile) else None
        extra: dict[str, Any] = {k: v for k, v in item.items()
                                 if k not in ("file_id", "file_unique_id", "file_size")}
        if kind == "document" and isinstance(value, UploadedFile):
            extra["file_name"] = value.filename or "file"
            extra["mime_type"] = value.content_type or "application/octet-stream"
        if kind == "sticker":
            extra["type"] = "regular"
        ext = Path(value.filename).suffix if isinstance(value, UploadedFile) and value.filename \
            else ""
        obj = self._new_file(kind, data, ext, **extra)
        return [obj] if isinstance(template, list) else obj

    def _minimal(self, node: tuple, depth: int = 0) -> Any:
        """Smallest spec-valid value for a type: used to answer methods generically."""
        kind, name = node
        if kind == "A":
            return [self._minimal(name, depth + 1)]
        if kind == "P":
            return {"Integer": 1, "Float": 0.0, "Boolean": False, "True": True}.get(name, "x")
        if name in self.spec.subtypes:
            return self._minimal(self.spec.subtypes[name][0], depth + 1)
        schema = self.spec.types[name]
        obj: dict[str, Any] = {}
        for key in schema.required:
            obj[key] = self._minimal(schema.fields[key].alts[0], depth + 1)
        if "file_id" in obj:
            n = next(self._counter)
            obj["file_id"] = f"{name.lower()}-{n:08d}-fake"
            obj["file_unique_id"] = f"u{n:08d}"
        if schema.discriminator:
            obj[schema.discriminator[0]] = schema.discriminator[1]
        return obj

    def _generic_result(self, schema: _Schema) -> Any:
        returns = schema.returns
        if returns and all(r[0] == "A" for r in returns):
            return []
        return True

    def _find_message(self, params: dict[str, Any], action: str) -> dict[str, Any] | None:
        if "inline_message_id" in params:
            return None
        message = self._messages.get(params.get("chat_id"), {}).get(params.get("message_id"))
        if message is None:
            raise _ApiError(400, f"Bad Request: message to {action} not found")
        if action == "edit" and message.get("from", {}).get("id") != self.bot_id:
            raise _ApiError(400, "Bad Request: message can't be edited")
        return message

    def _apply_edit(self, message: dict[str, Any], changes: dict[str, Any],
                    drop: Iterable[str]) -> dict[str, Any]:
        updated = {k: v for k, v in message.items() if k not in drop and k != "edit_date"}
        updated.update(changes)
        before = {k: v for k, v in message.items() if k != "edit_date"}
        if updated == before:
            raise _ApiError(400, _NOT_MODIFIED)
        updated["edit_date"] = int(time.time())
        self._store(updated)
        return updated

    def _edit_message_text(self, params: dict[str, Any], ctx: _Ctx) -> Any:
        message = self._find_message(params, "edit")
        if message is None:
            return True
        if "text" not in message:
            raise _ApiError(400, "Bad Request: there is no text in the message to edit")
        changes: dict[str, Any] = {}
        self._formatted(params, ctx, "text", "entities", "text", "entities", changes)
        markup = self._inline_markup(params)
        if markup:
            changes["reply_markup"] = markup
        return self._apply_edit(message, changes, ("text", "entities", "reply_markup"))

    def _edit_message_caption(self, params: dict[str, Any], ctx: _Ctx) -> Any:
        message = self._find_message(params, "edit")
        if message is None:
            return True
        changes: dict[str, Any] = {}
        self._formatted(params, ctx, "caption", "caption_entities", "caption",
                        "caption_entities", changes)
        markup = self._inline_markup(params)
        if markup:
            changes["reply_markup"] = markup
        return self._apply_edit(message, changes, ("caption", "caption_entities", "reply_markup"))

    def _edit_message_reply_markup(self, params: dict[str, Any], ctx: _Ctx) -> Any:
        message = self._find_message(params, "edit")
        if message is None:
            return True
        markup = self._inline_markup(params)
        return self._apply_edit(message, {"reply_markup": markup} if markup else {},
                                ("reply_markup",))

    def _delete_message(self, params: dict[str, Any], ctx: _Ctx) -> bool:
        chat_messages = self._messages.get(params["chat_id"], {})
        if chat_messages.pop(params["message_id"], None) is None:
            raise _ApiError(400, "Bad Request: message to delete not found")
        return True

    def _answer_callback_query(self, params: dict[str, Any], ctx: _Ctx) -> bool:
        if params["callback_query_id"] not in self._callbacks:
            raise _ApiError(400, "Bad Request: query is too old and response timeout expired or "
                                 "query ID is invalid")
        return True

    def _get_file(self, params: dict[str, Any], ctx: _Ctx) -> dict[str, Any]:
        meta = self._files.get(params["file_id"])
        if meta is None:
            raise _ApiError(400, "Bad Request: invalid file_id")
        result = {"file_id": meta["file_id"], "file_unique_id": meta["file_unique_id"]}
        if "file_size" in meta:
            result["file_size"] = meta["file_size"]
        if "file_path" in meta:
            result["file_path"] = meta["file_path"]
        return result

    def _get_webhook_info(self, params: dict[str, Any], ctx: _Ctx) -> dict[str, Any]:
        return {"url": self._webhook_url, "has_custom_certificate": False,
                "pending_update_count": len(self._updates)}

    def _set_webhook(self, params: dict[str, Any], ctx: _Ctx) -> bool:
        self._webhook_url = params["url"]
        if params.get("drop_pending_updates"):
            self._updates.clear()
        return True

    def _delete_webhook(self, params: dict[str, Any], ctx: _Ctx) -> bool:
        self._webhook_url = ""
        if params.get("drop_pending_updates"):
            self._updates.clear()
        return True

    @staticmethod
    def _commands_key(params: dict[str, Any]) -> str:
        return json.dumps([params.get("scope"), params.get("language_code")], sort_keys=True)

    def _set_my_commands(self, params: dict[str, Any], ctx: _Ctx) -> bool:
        self._commands[self._commands_key(params)] = params["commands"]
        return True

    def _get_my_commands(self, params: dict[str, Any], ctx: _Ctx) -> list[dict[str, Any]]:
        return self._commands.get(self._commands_key(params), [])

    def _delete_my_commands(self, params: dict[str, Any], ctx: _Ctx) -> bool:
        self._commands.pop(self._commands_key(params), None)
        return True

    def _get_chat(self, params: dict[str, Any], ctx: _Ctx) -> dict[str, Any]:
        info = self._chats[params["chat_id"]]
        full = self._minimal(("T", "ChatFullInfo"))
        full.update(info.chat())
        full["max_reaction_count"] = 11
        return full

    def _source_message(self, params: dict[str, Any]) -> dict[str, Any]:
        source = self._messages.get(_norm_chat(params["from_chat_id"]), {}).get(
            params["message_id"])
        if source is None:
            raise _ApiError(400, "Bad Request: message to copy not found")
        return source

    @staticmethod
    def _copyable(source: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in source.items()
                if k not in ("message_id", "from", "chat", "date", "edit_date")}

    def _copy_message(self, params: dict[str, Any], ctx: _Ctx) -> dict[str, Any]:
        source = self._source_message(params)
        copy = self._bot_message(params["chat_id"], self._copyable(source))
        return {"message_id": copy["message_id"]}

    def _set_chat_menu_button(self, params: dict[str, Any], ctx: _Ctx) -> bool:
        chat_id = params.get("chat_id")
        if chat_id is not None and self._chats[chat_id].id < 0:
            raise _ApiError(400, "Bad Request: the menu button can be set only in private chats")
        button = params.get("menu_button") or {"type": "default"}
        if button.get("type") == "web_app":
            url = str(button.get("web_app", {}).get("url", ""))
            # Telegram loads Web Apps from HTTPS addresses only (t.me links aside).
            if not url.startswith(("https://", "t.me/", "https://t.me/")):
                raise _ApiError(400, "Bad Request: BUTTON_URL_INVALID: only HTTPS links are "
                                     "allowed")
        if button.get("type") == "default":
            self._menu_buttons.pop(chat_id, None)
        else:
            self._menu_buttons[chat_id] = button
        return True

    def _get_chat_menu_button(self, params: dict[str, Any], ctx: _Ctx) -> dict[str, Any]:
        return self.menu_button(params.get("chat_id"))

    def menu_button(self, chat_id: int | None = None) -> dict[str, Any]:
        """The menu button a private chat shows now: its own, else the bot's default."""
        return (self._menu_buttons.get(chat_id) or self._menu_buttons.get(None)
                or {"type": "commands"})

    def commands(self, scope: dict[str, Any] | None = None,
                 language_code: str | None = None) -> list[dict[str, Any]]:
        """Commands set with setMyCommands for a scope/language."""
        return self._commands.get(
            self._commands_key({"scope": scope, "language_code": language_code}), [])


def _norm_chat(value: Any) -> Any:
    if isinstance(value, str) and _INT_RE.fullmatch(value):
        return int(value)
    return value
