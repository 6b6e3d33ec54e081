"""Alphabetical order as each language's readers expect it of names.

Python sorts by code point: "Soto" before "Sánchez", "Álvarez" after "Zúñiga". People read
lists of names in dictionary order instead: case and accents do not move a name (they only
break ties), and in Spanish "ñ" is a letter of its own, after "n" ("Nuñez" < "Ñuñoa" <
"Ocaña"). This follows CLDR's collation for Spanish and English at the three levels that
matter for names (letters, then accents, then case) without pulling in ICU.

Use :func:`sort_key` wherever people or organisations are listed, in Python: SQL's
``ORDER BY name`` sorts by the database's own rules, which differ between SQLite and
PostgreSQL and are not the reader's.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from typing import Any

__all__ = ["by_name", "sort_key"]

# Letters that Unicode does not decompose into a base letter and an accent.
_PLAIN_LETTERS = str.maketrans({
    "ł": "l", "ø": "o", "đ": "d", "ß": "ss", "æ": "ae", "œ": "oe", "þ": "th", "ı": "i",
})
# After every letter, so that in Spanish "ñ" sorts after "nz" and before "o".
_AFTER_N = "n\x7f"
_TILDE = "\u0303"


def _primary(folded_nfd: str, locale: str) -> str:
    out = []
    for ch in folded_nfd:
        if unicodedata.combining(ch):
            if ch == _TILDE and locale == "es" and out and out[-1] == "n":
                out[-1] = _AFTER_N
            continue
        out.append(ch)
    return "".join(out).translate(_PLAIN_LETTERS)


def sort_key(text: str | None, locale: str | None = "es") -> tuple[str, str, str]:
    """A key that orders names as a reader of ``locale`` ("es" or "en") expects: letters
    first, ignoring accents and case; then unaccented before accented; then lower case
    before upper case."""
    text = " ".join((text or "").split())
    folded = unicodedata.normalize("NFD", text.casefold())
    language = "es" if (locale or "es").split("_")[0].split("-")[0] == "es" else "en"
    return (_primary(folded, language), folded, unicodedata.normalize("NFD", text).swapcase())


def by_name(locale: str | None = "es", name: Callable[[Any], str | None] | None = None
            ) -> Callable[[Any], tuple[str, str, str]]:
    """A ``key=`` for ``sorted``: the item itself is the name unless ``name`` reads it."""
    if name is None:
        return lambda item: sort_key(item, locale)
    return lambda item: sort_key(name(item), locale)
