"""Typed dates and times (services.dates): the forms people use, worked out by hand, and
properties checked over thousands of dates, days of the week and random text."""

from __future__ import annotations

from datetime import date, time, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from locales import Catalogs, Msg
from services.dates import (
    IMPOSSIBLE,
    RECENT_DAY_MONTH,
    UNREADABLE,
    WEEKDAY,
    DateProblem,
    Typed,
    date_problem,
    parse_date,
    parse_time,
    parse_when,
)

# Monday 2 November 2026: the 17th is a Tuesday, December's 17th a Thursday.
TODAY = date(2026, 11, 2)
MONTHS_ES = ["enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto",
             "septiembre", "octubre", "noviembre", "diciembre"]
MONTHS_EN = ["January", "February", "March", "April", "May", "June", "July", "August",
             "September", "October", "November", "December"]
DAYS_ES = ["lunes", "martes", "miércoles", "jueves", "viernes", "sábado", "domingo"]
DAYS_EN = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


@pytest.mark.parametrize(("text", "expected"), [
    ("17-12-2026", date(2026, 12, 17)),
    ("17/12/2026", date(2026, 12, 17)),
    ("17/12", date(2026, 12, 17)),
    ("17.12.26", date(2026, 12, 17)),
    ("2026-12-17", date(2026, 12, 17)),
    ("17 de diciembre", date(2026, 12, 17)),
    ("17 de Diciembre de 2026", date(2026, 12, 17)),
    ("17 dic", date(2026, 12, 17)),
    ("jueves 17 de diciembre", date(2026, 12, 17)),
    ("martes 17", date(2026, 11, 17)),
    ("el martes 17", date(2026, 11, 17)),
    ("El Martes 17.", date(2026, 11, 17)),
    ("el 17", date(2026, 11, 17)),
    ("hoy", TODAY),
    ("mañana", date(2026, 11, 3)),
    ("manana", date(2026, 11, 3)),
    ("pasado mañana", date(2026, 11, 4)),
    ("el próximo martes", date(2026, 11, 3)),
    ("el martes que viene", date(2026, 11, 3)),
    ("el lunes", date(2026, 11, 9)),  # said on a Monday: next week's
    ("este lunes", TODAY),
    ("en 3 días", date(2026, 11, 5)),
    ("December 17", date(2026, 12, 17)),
    ("Dec 17th, 2026", date(2026, 12, 17)),
    ("Tuesday the 17th", date(2026, 11, 17)),
    ("next Tuesday", date(2026, 11, 3)),
    ("tomorrow", date(2026, 11, 3)),
    ("1ro de enero", date(2027, 1, 1)),  # January is next year's
    ("28 de octubre", date(2026, 10, 28)),  # just gone: kept, so the flow can say so
])
def test_the_forms_people_type(text: str, expected: date) -> None:
    assert parse_date(text, TODAY) == expected


@pytest.mark.parametrize(("text", "code"), [
    ("31-02-2026", IMPOSSIBLE), ("30 de febrero", IMPOSSIBLE), ("17-13", IMPOSSIBLE),
    ("el 32", IMPOSSIBLE), ("29/02/2027", IMPOSSIBLE),
    ("9999-12-31", IMPOSSIBLE), ("1-1-0001", IMPOSSIBLE),  # no one means them; UTC overflows
    ("", UNREADABLE), ("hola", UNREADABLE), ("2026", UNREADABLE), ("diciembre", UNREADABLE),
    ("17 12", UNREADABLE), ("martes y jueves", UNREADABLE), ("🗓️", UNREADABLE),
    ("martes 17 de diciembre", WEEKDAY), ("el viernes 17", WEEKDAY),
])
def test_what_is_not_a_date_says_why(text: str, code: str) -> None:
    with pytest.raises(DateProblem) as problem:
        parse_date(text, TODAY)
    assert problem.value.code == code


def test_a_weekday_that_does_not_match_names_the_real_date() -> None:
    with pytest.raises(DateProblem) as problem:
        parse_date("martes 17 de diciembre de 2026", TODAY)
    assert (problem.value.day, problem.value.weekday) == (date(2026, 12, 17), 1)
    catalogs = Catalogs()
    assert catalogs.render(date_problem(problem.value), "es") == (
        "Ojo: el jueves 17 de diciembre de 2026 no es martes. Revisa la fecha, por favor.")
    assert catalogs.render(date_problem(problem.value), "en") == (
        "Careful: Thursday 17 December 2026 isn't a Tuesday. Please check the date.")
    assert catalogs.render(date_problem(DateProblem(UNREADABLE)), "es").startswith(
        "No entendí esa fecha. Escríbela así: 17-12-2026")


@pytest.mark.parametrize(("text", "expected"), [
    ("18:30", time(18, 30)), ("18.30", time(18, 30)), ("18h30", time(18, 30)),
    ("18 hrs", time(18)), ("18", time(18)), ("6 pm", time(18)), ("6:30 p.m.", time(18, 30)),
    ("6 de la tarde", time(18)), ("a las 6 y media de la tarde", time(18, 30)),
    ("seis de la tarde", time(18)), ("8 de la noche", time(20)), ("9 de la mañana", time(9)),
    ("12 am", time(0)), ("mediodía", time(12)), ("18 de la tarde", time(18)),
    ("en la tarde", None), ("25:00", None), ("18:75", None), ("0 pm", None),
    ("14 de la mañana", None), ("", None),
])
def test_typed_times(text: str, expected: time | None) -> None:
    assert parse_time(text) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("mañana a las 18:30", Typed(date(2026, 11, 3), time(18, 30))),
    ("el martes 17 a las 6 de la tarde", Typed(date(2026, 11, 17), time(18))),
    ("17/12 18:00", Typed(date(2026, 12, 17), time(18))),
    ("17 de diciembre, 18:30 hrs", Typed(date(2026, 12, 17), time(18, 30))),
    ("pasado mañana", Typed(date(2026, 11, 4))),
    ("martes 17", Typed(date(2026, 11, 17))),
])
def test_a_date_with_its_time(text: str, expected: Typed) -> None:
    assert parse_when(text, TODAY) == expected


def test_a_date_with_a_time_and_a_wrong_weekday_says_the_weekday() -> None:
    with pytest.raises(DateProblem) as problem:
        parse_when("el viernes 17 a las 18:00", TODAY)
    assert problem.value.code == WEEKDAY


# --- properties -------------------------------------------------------------------------------

DAYS = st.dates(min_value=date(2001, 1, 1), max_value=date(2098, 12, 31))


def numeric_forms(d: date) -> list[str]:
    return [f"{d:%d-%m-%Y}", f"{d.day}/{d.month}/{d.year}", f"{d:%d.%m.%y}", d.isoformat(),
            f"{d.year}/{d.month}/{d.day}", f" {d.day} - {d.month} - {d.year} "]


def word_forms(d: date) -> list[str]:
    es, en = MONTHS_ES[d.month - 1], MONTHS_EN[d.month - 1]
    return [f"{d.day} de {es} de {d.year}", f"{DAYS_ES[d.weekday()]} {d.day} de {es} de "
            f"{d.year}", f"El {DAYS_ES[d.weekday()].upper()} {d.day} DE {es.upper()} DEL "
            f"{d.year}", f"{en} {d.day}, {d.year}", f"{DAYS_EN[d.weekday()]} {d.day} {en} "
            f"{d.year}", f"{d.day} {es[:3]} {d.year}", f"{d.day}-{en[:3]}-{d.year}"]


@given(day=DAYS, today=DAYS)
def test_a_date_with_its_year_is_read_back_whatever_today_is(day: date, today: date) -> None:
    for text in numeric_forms(day) + word_forms(day):
        assert parse_date(text, today) == day, text


@given(day=DAYS, today=DAYS)
def test_a_date_without_its_year_is_the_next_one_or_one_just_gone(day: date,
                                                                   today: date) -> None:
    for text in (f"{day.day}/{day.month}", f"{day.day} de {MONTHS_ES[day.month - 1]}",
                 f"{MONTHS_EN[day.month - 1]} {day.day}"):
        try:
            found = parse_date(text, today)
        except DateProblem as problem:
            # Only 29 February, with no leap year near enough, has no answer.
            assert (day.month, day.day, problem.code) == (2, 29, IMPOSSIBLE)
            continue
        assert (found.month, found.day) == (day.month, day.day)
        assert found >= today - RECENT_DAY_MONTH
        try:
            earlier = found.replace(year=found.year - 1)
        except ValueError:
            continue
        assert earlier < today - RECENT_DAY_MONTH  # no earlier one would have done


@given(today=DAYS, weekday=st.integers(0, 6), english=st.booleans())
def test_the_next_weekday_is_within_a_week(today: date, weekday: int, english: bool) -> None:
    text = f"next {DAYS_EN[weekday]}" if english else f"el próximo {DAYS_ES[weekday]}"
    found = parse_date(text, today)
    assert found.weekday() == weekday
    assert 1 <= (found - today).days <= 7


@given(today=DAYS)
def test_relative_days(today: date) -> None:
    assert parse_date("Hoy", today) == today
    assert parse_date("mañana", today) == today + timedelta(days=1)
    assert parse_date("pasado mañana", today) == today + timedelta(days=2)
    assert parse_date("the day after tomorrow", today) == today + timedelta(days=2)


@given(today=DAYS, day=st.integers(1, 31))
def test_a_weekday_and_a_day_agree_or_say_so(today: date, day: int) -> None:
    for weekday in range(7):
        try:
            found = parse_date(f"el {DAYS_ES[weekday]} {day}", today)
        except DateProblem as problem:
            assert problem.code == WEEKDAY and problem.day.day == day
            assert problem.day.weekday() != weekday
            continue
        assert (found.day, found.weekday()) == (day, weekday)


@given(at=st.times().map(lambda t: t.replace(second=0, microsecond=0)))
def test_any_clock_time_is_read_back(at: time) -> None:
    assert parse_time(f"{at:%H:%M}") == at
    assert parse_time(f"{at.hour}.{at.minute:02d} hrs") == at
    if 1 <= at.hour <= 11:
        assert parse_time(f"{at.hour}:{at.minute:02d} de la tarde") == at.replace(
            hour=at.hour + 12)


@given(text=st.text(max_size=60), today=DAYS)
def test_any_text_is_a_date_or_a_reason(text: str, today: date) -> None:
    try:
        assert isinstance(parse_date(text, today), date)
    except DateProblem as problem:
        assert problem.code in (UNREADABLE, IMPOSSIBLE, WEEKDAY)
        assert isinstance(date_problem(problem), Msg)
    try:
        assert isinstance(parse_when(text, today), Typed)
    except DateProblem:
        pass
    assert parse_time(text) is None or isinstance(parse_time(text), time)
