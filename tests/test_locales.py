"""Every word a person reads comes from the catalogs, in Spanish and English alike."""

from __future__ import annotations

import ast
import re
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from domain.program_templates import available_templates, load_template
from locales import LOCALES_DIR, Catalogs, Day, Msg, When, placeholders

ROOT = Path(__file__).resolve().parents[1]
SOURCES = [p for d in ("bot", "channels", "handlers", "scheduler", "storage") for p in (ROOT / d).rglob("*.py")]
KEY = re.compile(r"^[a-z_]+(\.[a-z0-9_]+)+$")


@pytest.fixture(scope="module")
def catalogs() -> Catalogs:
    return Catalogs()


def keys_used_in_code() -> set[str]:
    """String literals that name a message: Msg("k"), msg("k"), .say("k"), .text(loc, "k")."""
    used: set[str] = set()
    for path in SOURCES:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
            args = list(node.args)
            if name in ("Msg", "msg", "say", "t") and args:
                arg = args[0]
            elif name == "text" and len(args) >= 2:
                arg = args[1]
            else:
                continue
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str) and KEY.match(arg.value):
                used.add(arg.value)
            elif isinstance(arg, ast.JoinedStr):  # f"link.done_{kind}": check the prefix
                head = arg.values[0]
                if isinstance(head, ast.Constant):
                    used.add(head.value + "*")
    return used


def test_both_catalogs_have_the_same_keys(catalogs: Catalogs) -> None:
    assert catalogs.keys("es") == catalogs.keys("en")


def test_placeholders_match_between_languages(catalogs: Catalogs) -> None:
    differing = {
        k: (placeholders(catalogs.raw("es", k)), placeholders(catalogs.raw("en", k)))
        for k in catalogs.keys("es")
        if placeholders(catalogs.raw("es", k)) != placeholders(catalogs.raw("en", k))
    }
    assert differing == {}


def test_no_message_is_empty(catalogs: Catalogs) -> None:
    for loc in ("es", "en"):
        assert [k for k in catalogs.keys(loc) if not catalogs.raw(loc, k).strip()] == []


def test_every_key_the_code_uses_is_in_the_catalogs(catalogs: Catalogs) -> None:
    used = keys_used_in_code()
    assert len(used) > 30  # the scan itself works
    missing = []
    for key in used:
        if key.endswith("*"):
            if not any(k.startswith(key[:-1]) for k in catalogs.keys("es")):
                missing.append(key)
        elif key not in catalogs.keys("es"):
            missing.append(key)
    assert missing == []


def test_a_missing_key_is_an_error_not_a_silent_fallback(catalogs: Catalogs) -> None:
    with pytest.raises(KeyError):
        catalogs.render(Msg("no.such_key"), "es")


def test_dates_read_as_people_say_them_in_santiago(catalogs: Catalogs) -> None:
    # 7 April 2026 is after the April switch to winter time (UTC-4).
    at = datetime(2026, 4, 7, 22, 0, tzinfo=UTC)
    assert catalogs.when(at, "es", "America/Santiago") == "martes 7 de abril, 18:00"
    assert catalogs.when(at, "en", "America/Santiago") == "Tuesday 7 April, 18:00"


@pytest.mark.parametrize(
    ("utc_hour", "day", "expected"),
    [
        (21, date(2026, 4, 3), "viernes 3 de abril, 18:00"),  # summer time, UTC-3
        (22, date(2026, 4, 6), "lunes 6 de abril, 18:00"),  # winter time, UTC-4
        (22, date(2026, 9, 5), "sábado 5 de septiembre, 18:00"),  # winter time
        (21, date(2026, 9, 7), "lunes 7 de septiembre, 18:00"),  # summer time again
    ],
)
def test_both_sides_of_daylight_saving(catalogs: Catalogs, utc_hour: int, day: date,
                                       expected: str) -> None:
    at = datetime(day.year, day.month, day.day, utc_hour, tzinfo=UTC)
    assert catalogs.when(at, "es", "America/Santiago") == expected


def test_parameters_render_dates_numbers_and_nested_messages(catalogs: Catalogs) -> None:
    m = Msg("help.intro", {"sections": [Msg("help.everyone"), Msg("help.family")]})
    assert Msg.from_json(m.to_json()) == m
    text = catalogs.render(Msg.from_json(m.to_json()), "es")
    assert "/retiro" in text and "/idioma" in text
    w = Msg("console.clock", {"when": When(datetime(2026, 12, 24, 23, 30, tzinfo=UTC))})
    assert catalogs.render(Msg.from_json(w.to_json()), "es", "America/Santiago") == (
        "Reloj simulado: jueves 24 de diciembre, 20:30")
    d = Msg("timeline.row", {"stage": "1", "due": Day(date(2026, 3, 15)), "name": "x",
                             "state": "y"})
    assert "domingo 15 de marzo de 2026" in catalogs.render(Msg.from_json(d.to_json()), "es")


def test_a_time_is_never_shown_in_a_zone_nobody_named(catalogs: Catalogs) -> None:
    """No default zone: the reader's programme's zone is said, or a message with a time is
    refused; one without times (a Day is a calendar date) needs none."""
    at = When(datetime(2026, 6, 1, 15, 0, tzinfo=UTC))
    with pytest.raises(ValueError, match="zone"):
        catalogs.render(Msg("console.clock", {"when": at}), "es")
    with pytest.raises(ValueError, match="zone"):
        catalogs.text("es", "console.clock", when=at)
    assert catalogs.render(Msg("console.clock", {"when": at}), "es", "America/Punta_Arenas") \
        == "Reloj simulado: lunes 1 de junio, 12:00"
    assert catalogs.render(Msg("console.clock", {"when": at}), "es", "America/Santiago") \
        == "Reloj simulado: lunes 1 de junio, 11:00"
    assert "domingo 15 de marzo de 2026" in catalogs.text(
        "es", "timeline.row", stage="1", due=Day(date(2026, 3, 15)), name="x", state="y")


def test_dates_must_be_wrapped_so_the_zone_is_never_forgotten() -> None:
    with pytest.raises(TypeError):
        Msg("x", {"at": datetime(2026, 1, 1, tzinfo=UTC)}).to_json()


def test_thousands_are_grouped_the_chilean_way(catalogs: Catalogs) -> None:
    from locales import format_number

    assert format_number(1200, "es") == "1.200"
    assert format_number(1200, "en") == "1,200"


def test_unknown_locale_falls_back_to_the_default(catalogs: Catalogs) -> None:
    assert catalogs.text("fr", "lang.changed") == catalogs.text("es", "lang.changed")


@pytest.mark.parametrize("key", available_templates())
def test_template_texts_exist_in_both_languages(key: str) -> None:
    tpl = load_template(key)
    names = [tpl.name] + [b.name for b in tpl.bodies] + [k.name for k in tpl.meeting_kinds]
    names += [a.name for s in tpl.stages for a in s.activities] + [s.name for s in tpl.stages]
    assert all(n["es"].strip() and n["en"].strip() for n in names)


def test_no_text_begins_or_ends_with_a_newline_its_key_lacks() -> None:
    """gettext's own check (msgfmt -c) refuses a translation that begins or ends with a
    newline when its msgid does not: a translator's tool would refuse the catalog. Blank
    lines between parts are the code's to put."""
    from babel.messages.pofile import read_po

    found = []
    for path in sorted(Path("locales").rglob("*.po")):
        with path.open("rb") as f:
            catalog = read_po(f)
        for message in catalog:
            if not message.id:
                continue
            ids = message.id if isinstance(message.id, tuple) else (message.id,)
            strings = message.string if isinstance(message.string, tuple) else (message.string,)
            for text in strings:
                for end, test in (("begins", str.startswith), ("ends", str.endswith)):
                    if test(text, "\n") and not test(ids[0], "\n"):
                        found.append(f"{path}: {ids[0]} {end} with a newline")
    assert not found, "\n".join(found)


def test_no_programme_is_named_in_the_words_every_programme_reads() -> None:
    """One installation runs many kinds of programme (docs/templates.md): a message names
    the programme through its parameters ({program}), never as the Ecomercado."""
    found = [f"{po.relative_to(LOCALES_DIR)}:{n}: {line.strip()}"
             for po in sorted(LOCALES_DIR.glob("*/LC_MESSAGES/*.po"))
             for n, line in enumerate(po.read_text(encoding="utf-8").splitlines(), 1)
             if line.startswith(("msgstr", '"')) and re.search(r"Ecomercado|Ecomarket", line)]
    assert not found, "\n".join(found)
