"""When meetings are: local dates and times turned into UTC across daylight-saving changes,
and recurring series ("the first Tuesday of every month")."""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

from domain.program_templates import add_months

MAX_SERIES_MEETINGS = 12  # a year of monthly sessions, counting the first
LAST = -1  # "the last Tuesday" of a month, for a first date in its fifth week


def to_utc(day: date, at: time, tz: str) -> datetime:
    """The instant a local date and time name in ``tz``, as aware UTC.

    The offset is the one in force on that day (Santiago is UTC-3 in summer and UTC-4 in
    winter), which a fixed offset added to a UTC date would get wrong."""
    local = datetime.combine(day, at.replace(tzinfo=None), ZoneInfo(tz))
    return local.astimezone(UTC)


def local_date(moment: datetime, tz: str) -> date:
    return moment.astimezone(ZoneInfo(tz)).date()


def local_time(moment: datetime, tz: str) -> time:
    return moment.astimezone(ZoneInfo(tz)).time().replace(tzinfo=None, second=0, microsecond=0)


def weekday_rule(day: date) -> tuple[int, int]:
    """(weekday, nth) for "the nth <weekday> of the month"; a day in the fifth week is the
    month's last such weekday, since not every month has a fifth one."""
    nth = (day.day - 1) // 7 + 1
    return day.weekday(), LAST if nth == 5 else nth


def nth_weekday(year: int, month: int, weekday: int, nth: int) -> date:
    days = [d for d in calendar.Calendar().itermonthdates(year, month)
            if d.month == month and d.weekday() == weekday]
    return days[-1] if nth == LAST else days[nth - 1]


def series_days(first: date, every_months: int, until: date,
                limit: int = MAX_SERIES_MEETINGS) -> list[date]:
    """The first day and the following ones on the same weekday of the month, every
    ``every_months`` months, up to ``until`` and at most ``limit`` days in all."""
    if every_months < 1:
        raise ValueError("a series repeats every one month or more")
    weekday, nth = weekday_rule(first)
    days = [first]
    k = 1
    while len(days) < limit:
        month = add_months(first.replace(day=1), k * every_months)
        day = nth_weekday(month.year, month.month, weekday, nth)
        if day > until:
            break
        days.append(day)
        k += 1
    return days
