"""Dates and times as people type them, wherever Convoca asks for one.

Read against ``today`` in the programme's zone (the caller takes it from the injected
clock). Numbers are day first, as in Chile: "17-12-2026", "17/12", "17.12.26", and the ISO
"2026-12-17". Words in Spanish or English: "17 de diciembre", "martes 17", "el martes 17",
"mañana", "pasado mañana", "hoy", "el próximo martes", "December 17", "next Tuesday",
"tomorrow", "en 3 días". Accents, capitals and punctuation do not matter.

A date typed without a year is the next one to come, except one just gone by (within a
week for a bare day, two months for a day and month): that one is kept, so the flow can
say it has passed instead of silently jumping a month or a year ahead.

Times: "18:30", "18.30", "18h30", "18 hrs", "6 pm", "6 de la tarde", "a las 6 y media de
la tarde", "mediodía". A date may carry its time: "mañana a las 18:30", "17/12 18:00".

No chat in it: the chat's guided steps and the command line read typed dates alike, and
:func:`date_problem` words the answer when text is not one.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date, time, timedelta
from functools import lru_cache

from babel.dates import get_day_names, get_month_names

from locales import BABEL_LOCALE, Day, Msg

UNREADABLE = "unreadable"
IMPOSSIBLE = "impossible"
WEEKDAY = "weekday"

# The years a typed date may name: anything outside is a slip of the keyboard.
MIN_YEAR, MAX_YEAR = 1900, 2199
# How far back a date without a year may lie before it is read as the next one instead.
RECENT_DAY = timedelta(days=7)
RECENT_DAY_MONTH = timedelta(days=62)

RELATIVE = {
    "hoy": 0, "today": 0, "manana": 1, "tomorrow": 1, "pasado manana": 2,
    "day after tomorrow": 2, "ayer": -1, "yesterday": -1, "antier": -2, "anteayer": -2,
}
NEXT = {"proximo", "proxima", "next", "siguiente", "viene", "coming"}
THIS = {"este", "esta", "this"}
FILLER = {"el", "la", "los", "las", "de", "del", "the", "of", "on", "para", "dia", "day", "que",
          "for", "a"}
DAYS_WORDS = {"dia", "dias", "day", "days"}
IN_WORDS = {"en", "in", "dentro"}


class DateProblem(ValueError):
    """Why typed text is not a date: ``code`` names the answer to give. For a weekday that
    does not match, ``day`` is the date typed and ``weekday`` the one the person named."""

    def __init__(self, code: str, day: date | None = None, weekday: int | None = None) -> None:
        super().__init__(code)
        self.code = code
        self.day = day
        self.weekday = weekday


def date_problem(problem: DateProblem) -> Msg:
    """A short, kind answer to a typed date that is not one, with an example to copy."""
    if problem.code == "weekday" and problem.day is not None and problem.weekday is not None:
        return Msg("widget.date_weekday", {"day": Day(problem.day),
                                           "weekday": Msg(f"widget.weekday_{problem.weekday}")})
    if problem.code == "impossible":
        return Msg("widget.date_impossible")
    return Msg("widget.date_unreadable")


@dataclass(frozen=True)
class Typed:
    day: date
    at: time | None = None


def fold(text: str) -> str:
    """No case, no accents: "Mañana" and "manana" are the same word on a phone keyboard."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _word(text: str) -> str:
    return re.sub(r"[^a-z]", "", fold(text))


@lru_cache(maxsize=1)
def _month_words() -> dict[str, int]:
    words = {"setiembre": 9, "sept": 9, "set": 9}
    for loc in BABEL_LOCALE.values():
        for width in ("wide", "abbreviated"):
            for n, name in get_month_names(width, locale=loc).items():
                words[_word(name)] = n
    return words


@lru_cache(maxsize=1)
def _weekday_words() -> dict[str, int]:
    months = _month_words()
    words = {}
    for loc in BABEL_LOCALE.values():
        for width in ("wide", "abbreviated"):
            for n, name in get_day_names(width, locale=loc).items():
                # "mar" is March before it is Tuesday: a month and a day written alike
                # would otherwise read "mar 17" two ways.
                if _word(name) not in months:
                    words[_word(name)] = n
    return words


def _lookup(word: str, words: dict[str, int]) -> int | None:
    if word in words:
        return words[word]
    # "sep", "agost", "mier": a beginning that names one only is enough.
    found = {n for w, n in words.items() if len(word) >= 3 and w.startswith(word)}
    return found.pop() if len(found) == 1 else None


def _year(text: str) -> int:
    return 2000 + int(text) if len(text) == 2 else int(text)


def _make(year: int, month: int, day: int) -> date:
    if not MIN_YEAR <= year <= MAX_YEAR:
        # "9999-12-31 23:00" is a date, but not one anyone means, and it overflows once
        # moved to UTC or shifted by a month.
        raise DateProblem(IMPOSSIBLE)
    try:
        return date(year, month, day)
    except ValueError:
        raise DateProblem(IMPOSSIBLE) from None


def _add_months(first: date, months: int) -> date:
    index = first.year * 12 + first.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def _day_month(day: int, month: int, today: date, weekday: int | None) -> date:
    if not 1 <= month <= 12 or not 1 <= day <= 31:
        raise DateProblem(IMPOSSIBLE)
    found = []
    for year in (today.year - 1, today.year, today.year + 1, today.year + 2):
        try:
            found.append(date(year, month, day))
        except ValueError:  # 29 February outside a leap year
            continue
    found = [d for d in found if d >= today - RECENT_DAY_MONTH]
    if not found:
        raise DateProblem(IMPOSSIBLE)
    if weekday is not None and found[0].weekday() != weekday:
        # Rather than a year ahead where it would fit, the person hears of the mismatch.
        raise DateProblem(WEEKDAY, found[0], weekday)
    return found[0]


def _bare_day(day: int, today: date, weekday: int | None) -> date:
    if not 1 <= day <= 31:
        raise DateProblem(IMPOSSIBLE)
    first = _add_months(today.replace(day=1), -1)
    found = []
    for k in range(14):
        month = _add_months(first, k)
        try:
            d = month.replace(day=day)
        except ValueError:  # no 31st in June
            continue
        if d >= today - RECENT_DAY:
            found.append(d)
    if weekday is None:
        return found[0]
    # "el martes 17": the coming 17th, or the one after it, must be a Tuesday.
    match = [d for d in found[:2] if d.weekday() == weekday]
    if not match:
        raise DateProblem(WEEKDAY, found[0], weekday)
    return match[0]


def _weekday_only(weekday: int, today: date, this: bool) -> date:
    ahead = (weekday - today.weekday()) % 7
    if ahead == 0 and not this:
        ahead = 7  # "el martes", said on a Tuesday, is next week's
    return today + timedelta(days=ahead)


def parse_date(text: str, today: date) -> date:
    """The date the text names, or :class:`DateProblem` saying why there is none."""
    raw = " ".join(fold(text or "").split())
    if not raw or len(raw) > 80:
        raise DateProblem(UNREADABLE)
    if m := re.fullmatch(r"(\d{4})\s*[-/.]\s*(\d{1,2})\s*[-/.]\s*(\d{1,2})", raw):
        return _make(int(m[1]), int(m[2]), int(m[3]))
    if m := re.fullmatch(r"(\d{1,2})\s*[-/.]\s*(\d{1,2})(?:\s*[-/.]\s*(\d{4}|\d{2}))?\.?", raw):
        day, month = int(m[1]), int(m[2])
        if m[3]:
            return _make(_year(m[3]), month, day)
        return _day_month(day, month, today, None)
    # Ordinals: 17th, 1st, 1ro, 1°, 1º (folded to 1o).
    raw = re.sub(r"(\d+)\s*(?:st|nd|rd|th|ro|er|o|°)\b", r"\1", raw)
    words = re.findall(r"[a-z]+|\d+", raw)
    joined = " ".join(w for w in words if w not in ("el", "la", "the"))
    if joined in RELATIVE:
        return today + timedelta(days=RELATIVE[joined])
    rest = [w for w in words if w != "de"]
    if (len(rest) == 3 and rest[0] in IN_WORDS and rest[1].isdigit() and len(rest[1]) <= 3
            and rest[2] in DAYS_WORDS):
        return today + timedelta(days=int(rest[1]))

    weekday = month = None
    this = False
    numbers: list[str] = []
    for w in words:
        if w.isdigit():
            numbers.append(w)
        elif w in FILLER or w in NEXT:
            continue
        elif w in THIS:
            this = True
        elif (n := _lookup(w, _month_words())) is not None and month is None:
            month = n
        elif (n := _lookup(w, _weekday_words())) is not None and weekday is None:
            weekday = n
        else:
            raise DateProblem(UNREADABLE)
    years = [n for n in numbers if len(n) == 4]
    small = [n for n in numbers if len(n) <= 2]
    if len(years) + len(small) != len(numbers) or len(years) > 1:
        raise DateProblem(UNREADABLE)
    year = int(years[0]) if years else None
    if month is not None and len(small) == 2 and year is None and len(small[1]) == 2:
        year = _year(small.pop())  # "17 dic 26"
    if not small:
        if weekday is not None and month is None and year is None:
            return _weekday_only(weekday, today, this)
        raise DateProblem(UNREADABLE)
    if len(small) > 1:
        raise DateProblem(UNREADABLE)
    day = int(small[0])
    if month is None:
        if year is not None:
            raise DateProblem(UNREADABLE)
        return _bare_day(day, today, weekday)
    if year is None:
        return _day_month(day, month, today, weekday)
    found = _make(year, month, day)
    if weekday is not None and found.weekday() != weekday:
        raise DateProblem(WEEKDAY, found, weekday)
    return found


# --- times ---------------------------------------------------------------------------------

NUMBER_WORDS = {
    "una": 1, "uno": 1, "one": 1, "dos": 2, "two": 2, "tres": 3, "three": 3, "cuatro": 4,
    "four": 4, "cinco": 5, "five": 5, "seis": 6, "six": 6, "siete": 7, "seven": 7, "ocho": 8,
    "eight": 8, "nueve": 9, "nine": 9, "diez": 10, "ten": 10, "once": 11, "eleven": 11,
    "doce": 12, "twelve": 12,
}
MORNING = ("de la manana", "de la madrugada", "in the morning", "am", "a m")
AFTERNOON = ("de la tarde", "de la noche", "in the afternoon", "in the evening", "at night",
             "pm", "p m")
NOON = {"mediodia", "medio dia", "noon", "midday", "12 del dia"}


def parse_time(text: str) -> time | None:
    """What people type for a time: 18, 18:30, 18.30, 18h30, 18 hrs, 6:30 pm, 6 de la
    tarde, a las 6 y media, mediodía. None when it is not one."""
    t = " ".join(re.sub(r"[.,]+(?!\d)", " ", fold(text or "")).split())
    t = re.sub(r"^(?:a\s+las|a\s+la|las|at|a)\s+", "", t)
    t = re.sub(r"\s*(?:hrs?|horas?|h)\s*$", "", t)
    if t in NOON:
        return time(12)
    half = 0
    for period, words in ((-1, MORNING), (1, AFTERNOON)):
        for w in words:
            if t.endswith(" " + w) or (t.endswith(w) and w in ("am", "pm")):
                t = t[: -len(w)].strip()
                half = period
                break
        if half:
            break
    extra = 0
    for phrase, minutes in ((" y media", 30), (" y cuarto", 15), (" and a half", 30)):
        if t.endswith(phrase):
            t, extra = t[: -len(phrase)].strip(), minutes
            break
    t = t.replace("h", ":").replace(".", ":").replace(" ", "") if re.fullmatch(
        r"\d{1,2}\s*[h.:]\s*\d{2}|\d{1,2}", t) else t
    if t in NUMBER_WORDS:
        t = str(NUMBER_WORDS[t])
    m = re.fullmatch(r"(\d{1,2})(?::(\d{2}))?", t)
    if m is None:
        return None
    h, minute = int(m[1]), int(m[2] or 0)
    if extra and m[2]:
        return None  # "6:15 y media" is not a time
    minute += extra
    if (half == -1 and not 1 <= h <= 12) or (half == 1 and h == 0):
        return None  # "18 de la mañana" and "0 pm" are no time; "18 de la tarde" is 18:00
    if half == 1 and h < 12:
        h += 12
    elif half == -1 and h == 12:
        h = 0
    if not (0 <= h < 24 and 0 <= minute < 60):
        return None
    return time(h, minute)


def _looks_like_time(text: str) -> bool:
    # A bare number after a date is more likely part of it ("17 12") than an hour.
    return bool(re.search(r"\d\s*[:.h]\s*\d|[a-z]", fold(text)))


def parse_when(text: str, today: date) -> Typed:
    """A date, with the time too when one follows it ("mañana a las 18:30"). The date
    alone is tried first, so "pasado mañana" is never read as a morning."""
    try:
        return Typed(parse_date(text, today))
    except DateProblem as first:
        words = (text or "").split()
        for cut in range(len(words) - 1, 0, -1):
            tail = " ".join(words[cut:])
            at = parse_time(tail) if _looks_like_time(tail) else None
            if at is None:
                continue
            try:
                return Typed(parse_date(" ".join(words[:cut]).strip(" ,"), today), at)
            except DateProblem as problem:
                # "el martes 17 a las 18:00" on a Thursday 17th: say so, not "unreadable".
                if first.code == UNREADABLE:
                    first = problem
        raise first
