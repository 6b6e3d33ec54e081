"""The team's guided steps' pickers: common times as options, and reading what a day to pick
(services.messages.DatePick) or a time sends back. Typed dates and times are read by
:mod:`services.dates`, with the kind answer when they cannot be.

Actions are `<prefix>:d:<yyyymmdd>` for a day, `<prefix>:m:<yyyymm>` to turn the month and
`<prefix>:t:<hhmm>` for a time; the caller owns the prefix and reads them with `parse`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, time

from handlers.events import Button
from locales import Msg

__all__ = ["Picked", "parse", "time_picker"]

COMMON_TIMES = (time(9), time(10), time(11), time(12), time(15), time(16), time(17), time(18),
                time(19))


def _label(text: str) -> Msg:
    return Msg("widget.label", {"text": text})


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
