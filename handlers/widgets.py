"""Inline pickers for the team's guided steps: a month calendar and common times. Typed
dates and times are read by :mod:`services.dates`, with the kind answer when they cannot be.

Buttons carry `<prefix>:d:<yyyymmdd>` for a day, `<prefix>:m:<yyyymm>` to turn the month and
`<prefix>:t:<hhmm>` for a time; the caller owns the prefix and reads them with `parse`."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, time

from handlers.core import Router, Turn
from handlers.events import Button
from locales import Day, Msg

__all__ = ["NOOP", "Picked", "month_picker", "parse", "time_picker"]

NOOP = "noop"
COMMON_TIMES = (time(9), time(10), time(11), time(12), time(15), time(16), time(17), time(18),
                time(19))

router = Router()


@router.on_action(NOOP)
async def noop(turn: Turn) -> None:
    """Calendar headers are buttons too; pressing one changes nothing."""


def _label(text: str) -> Msg:
    return Msg("widget.label", {"text": text})


def month_picker(prefix: str, month: date, *, earliest: date | None = None
                 ) -> list[list[Button]]:
    first = month.replace(day=1)
    prev_month = date(first.year - (first.month == 1), (first.month - 2) % 12 + 1, 1)
    next_month = date(first.year + (first.month == 12), first.month % 12 + 1, 1)
    rows: list[list[Button]] = []
    can_go_back = earliest is None or prev_month >= earliest.replace(day=1)
    rows.append([
        Button(_label("◀"), f"{prefix}:m:{prev_month:%Y%m}") if can_go_back
        else Button(_label(" "), NOOP),
        Button(Msg("widget.month", {"month": Day(first, "month")}), NOOP),
        Button(_label("▶"), f"{prefix}:m:{next_month:%Y%m}"),
    ])
    rows.append([Button(Msg(f"widget.wd{i}"), NOOP) for i in range(7)])
    for week in calendar.Calendar(firstweekday=0).monthdatescalendar(first.year, first.month):
        row = []
        for d in week:
            if d.month != first.month or (earliest is not None and d < earliest):
                row.append(Button(_label(" "), NOOP))
            else:
                row.append(Button(_label(str(d.day)), f"{prefix}:d:{d:%Y%m%d}"))
        rows.append(row)
    return rows


def time_picker(prefix: str) -> list[list[Button]]:
    buttons = [Button(_label(f"{t:%H:%M}"), f"{prefix}:t:{t:%H%M}") for t in COMMON_TIMES]
    return [buttons[i:i + 3] for i in range(0, len(buttons), 3)]


@dataclass(frozen=True)
class Picked:
    kind: str  # "d" day, "m" month turned, "t" time
    day: date | None = None
    at: time | None = None


def parse(action: str, prefix: str) -> Picked | None:
    if not action.startswith(prefix + ":"):
        return None
    kind, _, value = action[len(prefix) + 1:].partition(":")
    try:
        if kind == "d" and len(value) == 8:
            return Picked("d", day=date(int(value[:4]), int(value[4:6]), int(value[6:])))
        if kind == "m" and len(value) == 6:
            return Picked("m", day=date(int(value[:4]), int(value[4:]), 1))
        if kind == "t" and len(value) == 4:
            return Picked("t", at=time(int(value[:2]), int(value[2:])))
    except ValueError:
        return None
    return None
