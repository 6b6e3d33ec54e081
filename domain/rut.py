"""Chile's RUT, read as people type it (with or without dots, dash or check digit's case)
and written as they expect it (12.345.678-5). python-stdnum checks the check digit."""

from __future__ import annotations

from stdnum.cl import rut as cl_rut
from stdnum.exceptions import ValidationError


def compact_rut(text: str) -> str | None:
    """The RUT's digits and check digit (123456785), or None when the check digit is wrong."""
    try:
        return cl_rut.validate(text.strip())
    except ValidationError:
        return None


def format_rut(text: str) -> str | None:
    """The RUT as people write it (12.345.678-5), or None when its check digit is wrong."""
    compact = compact_rut(text)
    return cl_rut.format(compact) if compact else None


def rut_key(value: str | None) -> str | None:
    """What makes two records' RUTs the same one (their digits, however typed); None for
    none. Lenient: a record with a mistyped RUT still matches its twin."""
    if not value:
        return None
    try:
        return cl_rut.compact(value)
    except ValidationError:
        return None
