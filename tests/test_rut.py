"""Chile's RUT as people type it: one reader for the chat, the imports, the forms and the
walk-ins (domain/rut.py)."""

from __future__ import annotations

import pytest

from domain.rut import compact_rut, format_rut, rut_key


@pytest.mark.parametrize("typed", ["12.345.678-5", "12345678-5", "123456785", " 12345678 - 5 "])
def test_a_rut_however_typed_is_written_as_people_expect(typed: str) -> None:
    assert format_rut(typed) == "12.345.678-5"
    assert compact_rut(typed) == "123456785"


def test_a_k_check_digit_is_read_in_either_case() -> None:
    assert format_rut("10.000.013-k") == format_rut("10000013K") == "10.000.013-K"


@pytest.mark.parametrize("typed", ["12.345.678-4", "abc", "", "1"])
def test_a_wrong_check_digit_or_no_rut_is_none(typed: str) -> None:
    assert format_rut(typed) is None and compact_rut(typed) is None


def test_the_key_that_matches_records_forgives_a_wrong_check_digit() -> None:
    assert rut_key("12.345.678-4") == "123456784" and rut_key("12345678-4") == "123456784"
    assert rut_key(None) is None and rut_key("") is None
