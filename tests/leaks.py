"""No raw message key ever reaches a person: whatever the console and the command line print
is checked for catalog keys (``cli.no_program``, ``catastro.qr.caption.plural``) by the
harnesses in conftest.py — the ``capsys`` every CLI test reads and the console's ``screen``."""

from __future__ import annotations

import functools
import io
import re

import pytest

from locales import SUPPORTED, Catalogs

# Keys are dotted lower-case words; a token is a run of word characters and dots, so a key
# only counts when it stands whole (a sentence's closing dot is trimmed first).
_TOKEN = re.compile(r"[\w.]+")


@functools.cache
def catalog_keys() -> frozenset[str]:
    catalogs = Catalogs()
    keys: set[str] = set()
    for loc in SUPPORTED:
        keys |= catalogs.keys(loc)
        keys |= {f"{k}.plural" for k in catalogs.plural_keys(loc)}
    return frozenset(keys)


def leaked_keys(text: str) -> list[str]:
    keys = catalog_keys()
    return [tok for tok in (t.strip(".") for t in _TOKEN.findall(text)) if tok in keys]


def assert_no_raw_keys(text: str, where: str) -> None:
    leaked = leaked_keys(text)
    if leaked:
        pytest.fail(f"raw message key(s) reached {where}: {', '.join(dict.fromkeys(leaked))}\n"
                    f"--- {where} ---\n{text}", pytrace=False)


class KeyCheckedCapture:
    """pytest's capsys, with every read (and what is left unread at the end) checked."""

    def __init__(self, inner: pytest.CaptureFixture[str]) -> None:
        self._inner = inner

    def readouterr(self):  # -> CaptureResult[str]
        result = self._inner.readouterr()
        assert_no_raw_keys(result.out, "stdout")
        assert_no_raw_keys(result.err, "stderr")
        return result

    def __getattr__(self, name: str):
        return getattr(self._inner, name)


class Screen(io.StringIO):
    """The console's terminal in tests: reading it back checks it."""

    def getvalue(self) -> str:
        text = super().getvalue()
        assert_no_raw_keys(text, "the console")
        return text
