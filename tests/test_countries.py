"""Country profiles: Uruguay's cédula as a python-stdnum module would check it, each
country's numbers read as its people write them, and the locale es-UY over es."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from stdnum.exceptions import InvalidChecksum, InvalidFormat, InvalidLength

from domain import uy_ci
from domain.countries import COUNTRIES, country
from domain.forms import AnswerError, load_form, parse_answer
from locales import LOCALES, Catalogs, Day, Msg, reading_locale

UY, CL = COUNTRIES["UY"], COUNTRIES["CL"]
bodies = st.integers(min_value=100_000, max_value=9_999_999).map(str)


def with_check(body: str) -> str:
    return body + uy_ci.calc_check_digit(body)


@given(bodies)
def test_a_cedula_survives_format_and_compact(body: str) -> None:
    number = with_check(body)
    shown = uy_ci.format(number)
    assert uy_ci.compact(shown) == number
    assert uy_ci.validate(shown) == number
    assert uy_ci.format(shown) == shown


@given(bodies, st.data())
def test_a_single_digit_changed_fails_unless_the_scheme_cannot_see_it(
        body: str, data: st.DataObject) -> None:
    """Every change of one digit fails, but one the check digit's arithmetic cannot see:
    the even weights (2, 8, 6, 4) times a change of 5 add a multiple of 10. That is the
    scheme's own blind spot (6.234.567-2 checks as 1.234.567-2 does), not this module's."""
    number = with_check(body).zfill(8)  # weights line up with a seven-digit body
    at = data.draw(st.integers(min_value=0, max_value=7))
    digit = data.draw(st.sampled_from([d for d in "0123456789" if d != number[at]]))
    changed = number[:at] + digit + number[at + 1:]
    weight = (2, 9, 8, 7, 6, 3, 4, 1)[at]  # the check digit itself counts once
    # (A change that leaves fewer than six digits before the check digit is no number.)
    blind = (weight % 2 == 0 and abs(int(digit) - int(number[at])) == 5
             and len(changed.lstrip("0")) >= 7)
    assert uy_ci.is_valid(changed) is blind


def test_the_blind_spot_is_the_schemes() -> None:
    assert uy_ci.is_valid("1.234.567-2") and uy_ci.is_valid("6.234.567-2")
    assert not uy_ci.is_valid("2.234.567-2")


def test_the_cedula_rules_as_stdnum_raises_them() -> None:
    assert uy_ci.validate("1.234.567-2") == "12345672"
    assert uy_ci.format("12345672") == "1.234.567-2"
    assert uy_ci.format("1234561") == "123.456-1"  # six digits before the check digit
    assert uy_ci.validate("0.123.456-1") == "1234561"  # the padding zero drops
    with pytest.raises(InvalidChecksum):
        uy_ci.validate("1.234.567-3")
    with pytest.raises(InvalidFormat):
        uy_ci.validate("1.234.56A-2")
    with pytest.raises(InvalidLength):
        uy_ci.validate("12.345.678-9")
    with pytest.raises(InvalidLength):
        uy_ci.validate("12.345-6")


@pytest.mark.parametrize("typed", ["1.234.567-2", "12345672", "1234567-2", " 1 234 567 2 "])
def test_a_uruguayan_form_keeps_the_cedula_as_uruguayans_write_it(typed: str) -> None:
    q = load_form("ficha_interes").question("representative_rut")
    assert parse_answer(q, typed, today=date(2026, 9, 7), country=UY) == {
        "compact": "12345672", "formatted": "1.234.567-2"}


def test_a_chilean_rut_is_not_a_uruguayan_cedula_nor_the_other_way_round() -> None:
    q = load_form("ficha_interes").question("representative_rut")
    with pytest.raises(AnswerError) as wrong:
        parse_answer(q, "12.345.678-5", today=date(2026, 9, 7), country=UY)
    assert wrong.value.message == Msg("country.uy.form_wrong")
    with pytest.raises(AnswerError) as wrong:
        parse_answer(q, "1.234.567-2", today=date(2026, 9, 7), country=CL)
    assert wrong.value.message == Msg("form.error.rut")
    # Without a country, as before the profiles: Chile's.
    assert parse_answer(q, "12.345.678-5", today=date(2026, 9, 7))["formatted"] == "12.345.678-5"


def test_phone_numbers_are_read_in_the_programmes_country() -> None:
    q = load_form("ficha_interes").question("representative_phone")
    today = date(2026, 9, 7)
    assert parse_answer(q, "099 123 456", today=today, country=UY) == "+59899123456"
    assert parse_answer(q, "9 8765 4321", today=today, country=CL) == "+56987654321"
    # A number with its country code is that country's wherever it is typed.
    assert parse_answer(q, "+56 9 8765 4321", today=today, country=UY) == "+56987654321"
    with pytest.raises(AnswerError) as wrong:
        parse_answer(q, "12 34", today=today, country=UY)
    assert wrong.value.message == Msg("country.uy.phone_wrong")


def test_every_word_a_profile_names_is_in_both_catalogs() -> None:
    catalogs = Catalogs()
    for profile in COUNTRIES.values():
        nid = profile.national_id
        keys = [nid.name, nid.short, nid.form_wrong, nid.sign_ask, nid.sign_wrong,
                nid.guest_ask, nid.guest_wrong, nid.import_wrong, nid.catastro_ask,
                nid.catastro_wrong, profile.phone_wrong]
        for loc in ("es", "en"):
            assert [k for k in keys if catalogs.raw(loc, k) is None] == [], (profile.code, loc)
        assert profile.locale in LOCALES
    assert country(None) is CL and country("uy") is UY


def test_es_uy_is_spanish_with_its_own_dates() -> None:
    catalogs = Catalogs()
    assert catalogs.keys("es-UY") == catalogs.keys("es")
    # Its own words only where Uruguay writes otherwise; the rest is es's.
    assert catalogs.raw("es-UY", "form.error.date") != catalogs.raw("es", "form.error.date")
    assert catalogs.raw("es-UY", "help.intro") == catalogs.raw("es", "help.intro")
    day = Msg("form.value", {"value": Day(date(2026, 9, 7))})
    assert catalogs.render(day, "es-UY") == "lunes 7 de setiembre de 2026"
    assert catalogs.render(day, "es") == "lunes 7 de septiembre de 2026"


def test_a_variant_says_nothing_its_language_does_not(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[1] / "locales"
    for loc in ("es", "en"):
        (tmp_path / loc).symlink_to(root / loc, target_is_directory=True)
    overlay = tmp_path / "es-UY" / "LC_MESSAGES"
    overlay.mkdir(parents=True)
    header = ('msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=UTF-8\\n"\n'
              '"Plural-Forms: nplurals=2; plural=(n != 1);\\n"\n\n')
    (overlay / "x.po").write_text(header + 'msgid "no.such.key"\nmsgstr "x"\n')
    with pytest.raises(ValueError, match="not a message of es"):
        Catalogs(tmp_path)
    (overlay / "x.po").write_text(header + 'msgid "layout.date_typed"\nmsgstr "sin mes"\n')
    with pytest.raises(ValueError, match="parameters"):
        Catalogs(tmp_path)


def test_a_person_reads_their_programmes_variant_of_their_language() -> None:
    assert reading_locale(None, "es-UY") == "es-UY"
    assert reading_locale("es", "es-UY") == "es-UY"
    assert reading_locale("en", "es-UY") == "en"
    # A Chilean programme: what the person chose, else the installation's default.
    assert reading_locale("en", "es") == "en"
    assert reading_locale(None, "es") is None
    assert reading_locale(None, None) is None
