"""The priority matrix of stage 3 and the plans' answers, as rules without a database: how
scores are read, how totals rank, what a criterion's or an answer's text may be."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

SCORE_MIN, SCORE_MAX = 1, 5
CRITERIA_MIN, CRITERIA_MAX = 1, 5
CRITERION_MAX_LEN = 120
ENTRY_MAX_LEN = 1000
NAME_MAX_LEN = 200
ALLIANCE_MAX_LEN = 300


class Problem(ValueError):
    """An answer that does not fit, by a code the chat words kindly."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def lines(text: str) -> list[str]:
    """One entry per line (a pasted list keeps its lines), bullets and numbering dropped."""
    out = []
    for raw in (text or "").splitlines():
        # A marker only when a space follows it: "3.500 familias sin agua" keeps its number.
        line = re.sub(r"^\s*(?:[-*•·–]|\d{1,2}(?:[.)]|\.-))\s+", "", raw).strip()
        if line:
            out.append(line)
    return out


def entries(text: str) -> list[str]:
    found = lines(text)
    if not found:
        raise Problem("empty")
    if any(len(e) > ENTRY_MAX_LEN for e in found):
        raise Problem("too_long")
    return found


def criteria(text: str) -> list[str]:
    """The criteria typed one per line or separated by commas."""
    found = [c.strip() for line in lines(text) for c in re.split(r"[,;]", line) if c.strip()]
    # The same criterion twice (whatever its capitals) would score the same thing twice.
    seen: dict[str, str] = {}
    for c in found:
        seen.setdefault(c.casefold(), c)
    unique = list(seen.values())
    if not unique:
        raise Problem("empty")
    if len(unique) > CRITERIA_MAX:
        raise Problem("too_many_criteria")
    if any(len(c) > CRITERION_MAX_LEN for c in unique):
        raise Problem("too_long")
    return unique


def score(value: str | int) -> int:
    text = str(value).strip()
    if not re.fullmatch(r"\d+", text):
        raise Problem("score_not_number")
    n = int(text)
    if not SCORE_MIN <= n <= SCORE_MAX:
        raise Problem("score_range")
    return n


def scores(text: str, wanted: int) -> list[int]:
    """A typed answer: one score (for the criterion asked) or one for every criterion at
    once ("4 5 3")."""
    parts = re.split(r"[\s,;/]+", (text or "").strip())
    parts = [p for p in parts if p]
    if not parts:
        raise Problem("score_not_number")
    if len(parts) not in (1, wanted):
        raise Problem("score_count")
    return [score(p) for p in parts]


def short_text(text: str, limit: int) -> str:
    value = (text or "").strip()
    if not value:
        raise Problem("empty")
    if len(value) > limit:
        raise Problem("too_long")
    return value


@dataclass(frozen=True)
class Ranked:
    key: int
    total: int
    rank: int


def rank(totals: Sequence[tuple[int, int]]) -> list[Ranked]:
    """Highest total first; ties share a rank and the next rank skips (1, 1, 3), as a
    table of standings does, so a tie never hides how many are ahead."""
    ordered = sorted(totals, key=lambda kt: (-kt[1], kt[0]))
    out: list[Ranked] = []
    for i, (key, total) in enumerate(ordered):
        shared = out[-1].rank if out and out[-1].total == total else i + 1
        out.append(Ranked(key, total, shared))
    return out
