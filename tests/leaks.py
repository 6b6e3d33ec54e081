"""No raw message key ever reaches a person: whatever the console and the command line print
is checked for catalog keys (``cli.no_program``, ``catastro.qr.caption.plural``) by the
harnesses in conftest.py — the ``capsys`` every CLI test reads and the console's ``screen``."""

from __future__ import annotations

import io

import pytest

from fakes.raw_keys import catalog_keys, document_text, raw_keys_in

__all__ = ["KeyCheckedCapture", "Screen", "assert_no_raw_keys", "assert_no_raw_keys_in_document",
           "catalog_keys", "leaked_keys"]


def leaked_keys(text: str) -> list[str]:
    return raw_keys_in(text)


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


def assert_no_raw_keys_in_document(filename: str, data: bytes) -> None:
    """A document a person prints or opens: its name and every text in it."""
    assert_no_raw_keys(filename, "a document's name")
    text = document_text(filename, data)
    if text is not None:
        assert_no_raw_keys(text, filename)
