"""Finding a raw message key in text a person reads: one finder for every fake platform, the
console, the command line and the documents, so they all agree on what a leak is."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable

# Keys are dotted lower-case words; a token is a run of word characters and dots, so a key
# only counts when it stands whole (a sentence's closing dot is trimmed first).
_TOKEN = re.compile(r"[\w.]+")


@functools.cache
def catalog_keys() -> frozenset[str]:
    """Every key of Convoca's catalogs, and each plural key's untranslated ``.plural`` twin."""
    try:
        from locales import SUPPORTED, Catalogs
    except ImportError:  # a fake used outside Convoca: nothing to look for
        return frozenset()
    catalogs = Catalogs()
    keys: set[str] = set()
    for loc in SUPPORTED:
        keys |= catalogs.keys(loc)
        keys |= {f"{k}.plural" for k in catalogs.plural_keys(loc)}
    return frozenset(keys)


def raw_keys_in(text: str, keys: Iterable[str] | None = None) -> list[str]:
    """The keys that stand in ``text``, in order (the catalogs' keys by default): a token that
    is a key, or begins with one before a dot (``….plural`` untranslated, ``….pdf`` a file
    named after its key)."""
    known = catalog_keys() if keys is None else keys
    if not known:
        return []
    found = []
    for token in (t.strip(".") for t in _TOKEN.findall(text)):
        parts = token.split(".")
        for n in range(len(parts), 1, -1):
            head = ".".join(parts[:n])
            if head in known:
                found.append(head)
                break
    return found


def document_text(filename: str | None, data: bytes) -> str | None:
    """The text a person reads in a document (PDF, XLSX, CSV), or None when it is another
    kind of file or poppler's pdftotext is not installed to read a PDF."""
    import io
    import shutil
    import subprocess

    name = (filename or "").lower()
    if data.startswith(b"%PDF-"):
        if shutil.which("pdftotext") is None:
            return None
        out = subprocess.run(["pdftotext", "-enc", "UTF-8", "-", "-"], input=data,
                             capture_output=True, check=False)
        # Not a PDF poppler can read (a test's stand-in bytes): nothing to look in.
        return out.stdout.decode("utf-8") if out.returncode == 0 else None
    if name.endswith(".xlsx"):
        from openpyxl import load_workbook

        try:
            book = load_workbook(io.BytesIO(data), read_only=True)
        except Exception:  # not a workbook openpyxl can read: nothing to look in
            return None
        for ws in book.worksheets:
            # What a sheet declares may be a million rows by 16384 columns (a test's hostile
            # workbook): read the cells that are there.
            ws.reset_dimensions()
        cells = [str(v) for ws in book.worksheets for row in ws.iter_rows(values_only=True)
                 for v in row if v is not None]
        return "\n".join([*book.sheetnames, *cells])
    if name.endswith((".csv", ".txt")):
        return data.decode("utf-8-sig", errors="replace")
    return None
