"""CI (Cédula de Identidad, Uruguay's national identity number).

Shaped like a python-stdnum module (``compact``, ``validate``, ``is_valid``, ``format``)
because python-stdnum 2.2 has no ``uy.ci`` yet: upstream issue
https://github.com/arthurdejong/python-stdnum/issues/120. When a release has it, import
``stdnum.uy.ci`` in ``domain.countries`` instead and delete this module.

The number is 6 or 7 digits and a check digit, written 1.234.567-2.

>>> validate('1.234.567-2')
'12345672'
>>> format('12345672')
'1.234.567-2'
"""

from __future__ import annotations

from stdnum.exceptions import InvalidChecksum, InvalidFormat, InvalidLength, ValidationError
from stdnum.util import clean, isdigits

__all__ = ["calc_check_digit", "compact", "format", "is_valid", "validate"]

_WEIGHTS = (2, 9, 8, 7, 6, 3, 4)


def compact(number: str) -> str:
    """The digits alone: separators, spaces and a leading ``UY`` dropped, and the zeros a
    six-digit number is sometimes padded with (they weigh nothing in the check digit)."""
    number = clean(number, " -./").upper().strip()
    if number.startswith("UY"):
        number = number[2:]
    return number.lstrip("0")


def calc_check_digit(number: str) -> str:
    """The check digit of the number without it."""
    total = sum(w * int(n) for w, n in zip(_WEIGHTS, number.zfill(7), strict=True))
    return str((10 - total % 10) % 10)


def validate(number: str) -> str:
    """The compact number, or a ``stdnum.exceptions.ValidationError``."""
    number = compact(number)
    if not isdigits(number):
        raise InvalidFormat()
    if len(number) not in (7, 8):
        raise InvalidLength()
    if number[-1] != calc_check_digit(number[:-1]):
        raise InvalidChecksum()
    return number


def is_valid(number: str) -> bool:
    try:
        return bool(validate(number))
    except ValidationError:
        return False


def format(number: str) -> str:
    """As Uruguayans write it: 1.234.567-2 (or 123.456-7)."""
    number = compact(number)
    body = number[:-1]
    groups = []
    while body:
        groups.insert(0, body[-3:])
        body = body[:-3]
    return ".".join(groups) + "-" + number[-1]
