"""A day to pick (services.messages.DatePick) as a month of days, for the channels that can
show one (``Capabilities.month_grid``): the month's name between the arrows that turn it, the
weekdays, then a week per row. Cells that only show something carry no action; the channel
makes them answer harmlessly in its own way."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date

from locales import Day, Msg
from services.messages import DatePick


@dataclass(frozen=True)
class Cell:
    label: Msg
    action: str | None = None  # None: shown, and pressing it does nothing


def _label(text: str) -> Msg:
    return Msg("widget.label", {"text": text})


def previous_month(pick: DatePick) -> date | None:
    """The month before, unless every day of it is before the earliest one."""
    first = pick.month.replace(day=1)
    before = date(first.year - (first.month == 1), (first.month - 2) % 12 + 1, 1)
    if pick.earliest is not None and before < pick.earliest.replace(day=1):
        return None
    return before


def next_month(pick: DatePick) -> date:
    first = pick.month.replace(day=1)
    return date(first.year + (first.month == 12), first.month % 12 + 1, 1)


def turn_to(pick: DatePick, month: date) -> str:
    return f"{pick.prefix}:m:{month:%Y%m}"


def choose(pick: DatePick, day: date) -> str:
    return f"{pick.prefix}:d:{day:%Y%m%d}"


def days(pick: DatePick) -> list[date]:
    """The days of the month that may be picked."""
    first = pick.month.replace(day=1)
    last = calendar.monthrange(first.year, first.month)[1]
    return [d for d in (first.replace(day=n) for n in range(1, last + 1))
            if pick.earliest is None or d >= pick.earliest]


def grid(pick: DatePick) -> list[list[Cell]]:
    first = pick.month.replace(day=1)
    before = previous_month(pick)
    rows = [[
        Cell(_label("◀"), turn_to(pick, before)) if before else Cell(_label(" ")),
        Cell(Msg("widget.month", {"month": Day(first, "month")})),
        Cell(_label("▶"), turn_to(pick, next_month(pick))),
    ], [Cell(Msg(f"widget.wd{i}")) for i in range(7)]]
    open_days = set(days(pick))
    for week in calendar.Calendar(firstweekday=0).monthdatescalendar(first.year, first.month):
        rows.append([Cell(_label(str(d.day)), choose(pick, d)) if d in open_days
                     else Cell(_label(" ")) for d in week])
    return rows
