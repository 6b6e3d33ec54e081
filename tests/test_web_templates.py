"""Every word a person reads on the panel comes from the catalogs: a template's own text is
markup, punctuation and ``_("web.key")`` calls, never a word. Also: every key a template
names exists in both languages."""

from __future__ import annotations

import re
from pathlib import Path

import jinja2
import pytest

from locales import Catalogs
from web.render import environment

TEMPLATES = Path(__file__).resolve().parent.parent / "web" / "templates"
# Attributes a person reads or hears (a screen reader says aria-label and title).
READ_ATTRS = re.compile(
    r'\b(aria-label|title|placeholder|alt|data-confirm|aria-description)="([^"]*)"')
TAG = re.compile(r"<[^>]*>", re.S)
ENTITY = re.compile(r"&[a-z]+;|&#\d+;")
KEY_CALL = re.compile(r"""\b_\(\s*['"]([a-z0-9_.]+)['"]""")
# Symbols are not words: the brand's dot, arrows, the separator between figures.
LETTER = re.compile(r"[^\W\d_]", re.U)


def _templates() -> list[Path]:
    return sorted(TEMPLATES.rglob("*.html"))


JINJA = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.S)
# What is code, not text: scripts and styles.
CODE = re.compile(r"<(script|style)\b[^>]*>.*?</\1>", re.S)


@pytest.mark.parametrize("path", _templates(), ids=lambda p: str(p.relative_to(TEMPLATES)))
def test_a_template_holds_no_words_of_its_own(path: Path) -> None:
    source = JINJA.sub("§", path.read_text(encoding="utf-8"))
    for attr, text in READ_ATTRS.findall(source):
        assert not LETTER.search(text), \
            f"{path.name}: {attr}=\"{text}\" is words, not a catalog key"
    text = ENTITY.sub(" ", TAG.sub(" ", CODE.sub(" ", source)))
    words = [w for w in text.split() if LETTER.search(w)]
    assert not words, f"{path.name}: {words[:5]} are words, not catalog keys"


def test_every_key_a_template_names_is_in_both_languages() -> None:
    catalogs = Catalogs()
    missing = []
    for path in _templates():
        for key in KEY_CALL.findall(path.read_text(encoding="utf-8")):
            for loc in ("es", "en"):
                if catalogs.raw(loc, key) is None:
                    missing.append(f"{path.name}: {key} ({loc})")
    assert not missing, "\n".join(missing)


def test_the_templates_compile() -> None:
    env = environment()
    for path in _templates():
        try:
            env.get_template(str(path.relative_to(TEMPLATES)))
        except jinja2.TemplateSyntaxError as exc:  # pragma: no cover - the message is the point
            pytest.fail(f"{path.name}:{exc.lineno}: {exc.message}")
