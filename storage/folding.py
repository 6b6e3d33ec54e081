"""Accent- and case-blind matching in SQL: the chat's people search folds names in Python
(domain.turnout.fold_name: "nunez" finds "Núñez"); a table paged and counted in the
database needs the same fold inside the query. ``folded(column)`` is that fold, one
function per dialect with one rule:

- SQLite runs fold_name itself, registered on every connection (storage.db);
- PostgreSQL runs ``translate`` over a table made from fold_name (every Latin letter it
  turns into a plain one, and the combining accents it drops), then ``lower``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import String, func
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from domain.turnout import fold_name

SQLITE_FUNCTION = "convoca_fold"
LIKE_ESCAPE = "\\"


def fold_or_none(text: str | None) -> str | None:
    """fold_name as SQLite calls it: NULL stays NULL."""
    return None if text is None else fold_name(text)


def _translation() -> tuple[str, str]:
    source, target = [], []
    for code in range(0xC0, 0x250):  # Latin-1 Supplement to Latin Extended-B
        letter = chr(code)
        plain = fold_name(letter)
        if plain != letter and len(plain) == 1 and plain.isascii():
            source.append(letter)
            target.append(plain)
    # Letters typed decomposed ("e" + U+0301): translate drops what has no counterpart.
    marks = [chr(code) for code in range(0x300, 0x370)]
    return "".join(source + marks), "".join(target)


TRANSLATE_FROM, TRANSLATE_TO = _translation()


class folded(FunctionElement[str]):  # lower case: it reads as the SQL function it is
    """The column's text without accents and in lower case, as fold_name gives it."""

    type = String()
    name = "folded"
    inherit_cache = True


@compiles(folded)
def _fold_sqlite(element: folded, compiler: Any, **kw: Any) -> str:
    return compiler.process(getattr(func, SQLITE_FUNCTION)(*element.clauses), **kw)


@compiles(folded, "postgresql")
def _fold_postgresql(element: folded, compiler: Any, **kw: Any) -> str:
    [column] = element.clauses
    return compiler.process(
        func.lower(func.translate(column, TRANSLATE_FROM, TRANSLATE_TO)), **kw)


def contains(column: Any, text: str) -> Any:
    """The folded column holds the folded text (LIKE's own characters taken literally)."""
    plain = fold_name(text)
    for special in (LIKE_ESCAPE, "%", "_"):
        plain = plain.replace(special, LIKE_ESCAPE + special)
    return folded(column).like(f"%{plain}%", escape=LIKE_ESCAPE)
