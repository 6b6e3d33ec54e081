"""Ids read from the address, a form or a query string, kept within what the database holds.

A row's id in the panel's paths is `{name:id}`: one to nine ASCII digits. Starlette's `int`
takes any length, and an id beyond SQLite's 64-bit integer overflows in the driver (a 500);
`str.isdigit()` takes '²', which int() refuses. Nine digits are a billion rows, more than an
installation will ever hold, so a longer id is simply not found (404)."""

from __future__ import annotations

import re
from typing import Any

from starlette.convertors import Convertor, register_url_convertor

MAX_ID_DIGITS = 9
_ID = re.compile(rf"[0-9]{{1,{MAX_ID_DIGITS}}}")


class IdConvertor(Convertor[int]):
    regex = _ID.pattern

    def convert(self, value: str) -> int:
        return int(value)

    def to_string(self, value: int) -> str:
        if not 0 <= value < 10 ** MAX_ID_DIGITS:
            raise ValueError("an id is 1 to 9 digits")
        return str(value)


# Registered once, before any page's Route is built: web.context imports this module, and
# every page module imports web.context.
register_url_convertor("id", IdConvertor())


def form_id(value: Any) -> int | None:
    """An id typed or sent in a form or query: ASCII digits, at most nine; else None."""
    if not isinstance(value, str):
        return None
    value = value.strip()
    return int(value) if _ID.fullmatch(value) else None


def small_int(value: Any, default: int | None = None, *, limit: int = 10 ** 6) -> int | None:
    """A count or a page number from a query or a form: ASCII digits up to ``limit``."""
    if not isinstance(value, str):
        return default
    value = value.strip()
    if not value.isascii() or not value.isdigit() or len(value) > len(str(limit)):
        return default
    number = int(value)
    return number if number <= limit else default
