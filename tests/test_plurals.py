"""Plural messages take their rule from the catalogs, never from the installed Babel."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from locales import LOCALES_DIR, SUPPORTED, Catalogs, Msg, format_number, placeholders

COUNTS = (0, 1, 2, 5, 21, 1_000_000)
LEFTOVER = re.compile(r"\{[a-z_]+\}")


@pytest.fixture(scope="module")
def catalogs() -> Catalogs:
    return Catalogs()


def _sample_params(catalogs: Catalogs, loc: str, key: str, count: int) -> dict[str, object]:
    names = placeholders(catalogs.raw(loc, key)) | {"count"}
    for form in catalogs.forms(loc, key):
        names |= placeholders(form)
    return {n: (count if n == "count" else f"<{n}>") for n in names}


def test_there_are_plural_messages_in_every_language(catalogs: Catalogs) -> None:
    for loc in SUPPORTED:
        assert len(catalogs.plural_keys(loc)) >= 50, loc


@pytest.mark.parametrize("loc", SUPPORTED)
@pytest.mark.parametrize("count", COUNTS)
def test_every_plural_message_renders_for_every_count(catalogs: Catalogs, loc: str,
                                                      count: int) -> None:
    keys = catalogs.plural_keys(loc) | catalogs.plural_keys("es")
    broken = {}
    for key in sorted(keys):
        try:
            text = catalogs.render(Msg(key, _sample_params(catalogs, loc, key, count)), loc)
        except (KeyError, IndexError) as exc:
            broken[key] = f"raised {exc!r}"
            continue
        if (key in text or ".plural" in text or LEFTOVER.search(text)
                or not text.strip()):
            broken[key] = text
    assert broken == {}


@pytest.mark.parametrize("loc", SUPPORTED)
def test_one_and_every_other_count_take_their_own_form(catalogs: Catalogs, loc: str) -> None:
    # The catalogs' own rule (n != 1): 1 is the singular, every other count the plural.
    for key in catalogs.plural_keys(loc):
        one, other = catalogs.forms(loc, key)
        for count in COUNTS:
            params = _sample_params(catalogs, loc, key, count)
            text = catalogs.render(Msg(key, params), loc)
            shown = {**params, "count": format_number(count, loc)}
            assert text == (one if count == 1 else other).format(**shown), (key, count)


def test_the_rule_comes_from_the_catalogs_not_from_babel(tmp_path: Path) -> None:
    # A made-up language rule with three forms: the catalog's header alone decides them.
    for loc in SUPPORTED:
        d = tmp_path / loc / "LC_MESSAGES"
        d.mkdir(parents=True)
        (d / "x.po").write_text(
            'msgid ""\nmsgstr ""\n"Language: ' + loc + '\\n"\n'
            '"Plural-Forms: nplurals=3; plural=(n==0 ? 0 : n==1 ? 1 : 2);\\n"\n\n'
            'msgid "apples"\nmsgid_plural "apples.plural"\n'
            'msgstr[0] "none"\nmsgstr[1] "one"\nmsgstr[2] "{count} of them"\n',
            encoding="utf-8")
    c = Catalogs(tmp_path)
    assert [c.text("es", "apples", count=n) for n in (0, 1, 2, 1_000_000)] == [
        "none", "one", "2 of them", "1.000.000 of them"]


def _copy_catalogs(tmp_path: Path) -> Path:
    shutil.copytree(LOCALES_DIR / "es", tmp_path / "es")
    shutil.copytree(LOCALES_DIR / "en", tmp_path / "en")
    return tmp_path


def test_a_plural_message_missing_a_form_is_refused_at_load(tmp_path: Path) -> None:
    root = _copy_catalogs(tmp_path)
    po = root / "es" / "LC_MESSAGES" / "notices.po"
    text = po.read_text(encoding="utf-8")
    cut = re.sub(r'(msgid_plural "notice\.milestone_soon\.plural"\nmsgstr\[0\] "[^\n]*"\n)'
                 r'msgstr\[1\] "[^\n]*"\n', r"\1", text)
    assert cut != text
    po.write_text(cut, encoding="utf-8")
    with pytest.raises(ValueError, match="notice.milestone_soon"):
        Catalogs(root)


def test_files_of_one_language_must_agree_on_the_rule(tmp_path: Path) -> None:
    root = _copy_catalogs(tmp_path)
    po = root / "en" / "LC_MESSAGES" / "forms.po"
    po.write_text(po.read_text(encoding="utf-8").replace(
        "nplurals=2; plural=(n != 1);", "nplurals=2; plural=(n > 1);"), encoding="utf-8")
    with pytest.raises(ValueError, match="forms.po"):
        Catalogs(root)


def test_a_catalog_without_a_plural_rule_is_refused(tmp_path: Path) -> None:
    root = _copy_catalogs(tmp_path)
    po = root / "es" / "LC_MESSAGES" / "privacy.po"
    po.write_text(re.sub(r'"Plural-Forms:[^\n]*\n', "", po.read_text(encoding="utf-8")),
                  encoding="utf-8")
    with pytest.raises(ValueError, match="Plural-Forms"):
        Catalogs(root)


def test_a_key_defined_twice_in_one_file_is_refused(tmp_path: Path) -> None:
    # What a careless merge of two branches leaves behind: the reader would get either.
    root = _copy_catalogs(tmp_path)
    po = root / "en" / "LC_MESSAGES" / "convoca.po"
    po.write_text(po.read_text(encoding="utf-8")
                  + '\nmsgid "lang.changed"\nmsgstr "Another text"\n', encoding="utf-8")
    with pytest.raises(ValueError, match="lang.changed"):
        Catalogs(root)


def test_a_stray_translation_without_its_key_is_refused(tmp_path: Path) -> None:
    root = _copy_catalogs(tmp_path)
    po = root / "es" / "LC_MESSAGES" / "convoca.po"
    text = po.read_text(encoding="utf-8")
    head, sep, tail = text.partition('msgid "lang.changed"\n')
    po.write_text(head + 'msgstr "sobrante"\n' + sep + tail, encoding="utf-8")
    with pytest.raises(ValueError, match="convoca.po"):
        Catalogs(root)
