"""The goods handed over at the close of a programme (acta de traspaso del dominio de
bienes), read as the gestora types them: "Refrigerador vertical; 1; 459.990", one a line.

Amounts are whole Chilean pesos written the Chilean way: a dot between thousands, "$"
before the number if one likes ("$ 459.990", "459990"). A comma is the decimal mark in
Chile, so "459,990" is refused with an example rather than guessed at: in an acta that
FOSIS's legal office reviews, a value read wrong is worse than one asked again."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

DESCRIPTION_MAX = 300  # HandoverGood.description
CONDITION_MAX = 120  # HandoverGood.condition
QUANTITY_MAX = 100_000
# HandoverGood.unit_value is a 32-bit integer; two thousand million pesos is no good's value.
VALUE_MAX = 2_147_483_647
SEPARATOR = ";"

_GROUPED = re.compile(r"^\d{1,3}(\.\d{3})+$")
_PLAIN = re.compile(r"^\d+$")
# ",00" (or ",0") is how some spreadsheets copy whole pesos; any other decimals are refused.
_CENTS = re.compile(r"^(?P<whole>\d{1,3}(?:\.\d{3})*|\d+),0{1,2}$")


@dataclass(frozen=True)
class Good:
    description: str
    quantity: int
    unit_value: int
    condition: str | None = None

    @property
    def total(self) -> int:
        return self.quantity * self.unit_value


class GoodProblem(ValueError):
    """What is wrong with a typed good, by its catalog word (``closing.good_problem_<why>``)."""

    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why


def parse_pesos(text: str) -> int:
    """'$ 459.990' -> 459990. Raises GoodProblem('value') for anything else."""
    bare = re.sub(r"\s+", "", text.strip()).removeprefix("$").removeprefix("CLP")
    bare = bare.removeprefix("$").removesuffix(".-").removesuffix("-")
    if _GROUPED.match(bare) or _PLAIN.match(bare):
        value = int(bare.replace(".", ""))
    else:
        cents = _CENTS.match(bare)
        if cents is None:
            raise GoodProblem("value")
        value = int(cents["whole"].replace(".", ""))
    if value > VALUE_MAX:
        raise GoodProblem("value_large")
    return value


def parse_quantity(text: str) -> int:
    bare = text.strip()
    if not (_PLAIN.match(bare) or _GROUPED.match(bare)):
        raise GoodProblem("quantity")
    value = int(bare.replace(".", ""))
    if value < 1:
        raise GoodProblem("quantity_zero")
    if value > QUANTITY_MAX:
        raise GoodProblem("quantity")
    return value


def parse_description(text: str) -> str:
    description = " ".join(text.split())
    if not description:
        raise GoodProblem("description")
    if len(description) > DESCRIPTION_MAX:
        raise GoodProblem("description_long")
    return description


def parse_condition(text: str) -> str | None:
    condition = " ".join(text.split())
    if len(condition) > CONDITION_MAX:
        raise GoodProblem("condition_long")
    return condition or None


def parse_line(line: str) -> Good:
    """One good typed whole: description; quantity; unit value[; condition]."""
    fields = [f.strip() for f in line.split(SEPARATOR)]
    if len(fields) < 3:
        raise GoodProblem("fields_few")
    if len(fields) > 4:
        raise GoodProblem("fields_many")
    condition = parse_condition(fields[3]) if len(fields) == 4 else None
    return Good(parse_description(fields[0]), parse_quantity(fields[1]),
                parse_pesos(fields[2]), condition)


def is_whole_line(text: str) -> bool:
    """Typed as a whole line (with the separator), not a description to go on step by step."""
    return SEPARATOR in text


def grand_total(goods: Iterable[tuple[int, int | None]]) -> int:
    """The value of everything: sum of quantity x unit value (an unvalued good adds 0)."""
    return sum(q * (v or 0) for q, v in goods)
