"""Importing the catastro (organisations) and the list of families from the gestora's
spreadsheet: a preview she can read on her phone first, then one all-or-nothing insert
(storage.imported).

Problems are kept as message keys with parameters, so the preview can be shown in the
gestora's language and can wait in her conversation (as JSON) until she confirms.
Never commits: the caller's unit of work does.
"""

from __future__ import annotations

import asyncio
import csv
import io
import itertools
import re
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from domain import org_kinds
from domain.catastro import (
    FAMILY,
    ORGANIZATION,
    ImportPreview,
    ImportResult,
    PreviewRow,
    UnreadableConsent,
    contact_consent,
    pickup_mode,
    record_keys,
    whole_number,
)
from domain.countries import Country
from domain.names import plain_words
from locales import Catalogs, Msg, Raw
from storage import imported, programs

MAX_BYTES = 5 * 1024 * 1024
MAX_ROWS = 5000  # the preview waits in the conversation as JSON: keep it bounded
HEADER_SEARCH_ROWS = 10  # spreadsheets often carry a title or a blank line above the headers
SUMMARY_LINES = 15  # a phone screen; the rest goes in the CSV report


# --- headers ----------------------------------------------------------------------

# Words that say nothing about which column it is ("N° de socios" is "socios").
_HEADER_NOISE = {
    "de", "del", "la", "las", "el", "los", "en", "y", "o", "of", "the", "n", "no", "nro", "num",
    "numero", "number", "nr", "cantidad", "total", "count", "a", "as", "s",
}

# Per field, aliases in order of preference: with two name-like columns the more specific
# one wins ("Nombre organización" over "Nombre", which may be the representative's).
_COMMON: dict[str, tuple[str, ...]] = {
    # The number a sheet's row is registered under: an organisation's RUT, a person's RUT.
    "rut": ("rut", "rol unico tributario", "tax id", "taxpayer id"),
    "phone": (
        "telefono", "fono", "celular", "movil", "telefono celular", "telefono movil",
        "whatsapp", "phone", "mobile", "cell", "cellphone", "mobile phone", "phone number",
        "telefono contacto", "fono contacto", "celular contacto", "contact phone",
    ),
    "sector": (
        "sector", "barrio", "villa", "poblacion", "unidad vecinal", "uv", "territorio",
        "neighbourhood", "neighborhood", "area", "district",
    ),
    "address": ("direccion", "domicilio", "address", "direccion domicilio", "street address"),
}
_ALIASES: dict[str, dict[str, tuple[str, ...]]] = {
    ORGANIZATION: {
        "name": (
            "nombre organizacion", "organizacion", "razon social", "nombre", "organization name",
            "organisation name", "organization", "organisation", "name",
        ),
        "rut": ("rut organizacion", *_COMMON["rut"]),
        "phone": _COMMON["phone"],
        "email": (
            "correo", "correo electronico", "email", "e mail", "mail", "email address",
        ),
        "sector": _COMMON["sector"],
        "address": _COMMON["address"],
        "kind": (
            "tipo", "tipo organizacion", "kind", "type", "organization type",
            "organisation type",
        ),
        "members_count": (
            "socios", "socias", "socios socias", "integrantes", "miembros", "members",
            "membership", "members count",
        ),
    },
    FAMILY: {
        "name": (
            "nombre completo", "nombre jefa hogar", "nombre jefe hogar", "jefa hogar",
            "jefe hogar", "nombre familia", "familia", "nombre", "nombres", "full name",
            "head household", "family name", "family", "name", "first name", "given name",
            "given names",
        ),
        # Joined after the name when the sheet splits it into several columns.
        "surname": (
            "apellido paterno", "primer apellido", "apellido materno", "segundo apellido",
            "apellidos", "apellido", "last name", "surname", "surnames",
        ),
        # A person's identity number, whatever the country calls it (Uruguay: the cédula);
        # never an organisation's, whose sheet may list its representative's cédula.
        "rut": ("rut jefa hogar", "rut jefe hogar", *_COMMON["rut"], "run", "cedula",
                "cedula de identidad", "ci", "national id", "id number"),
        "phone": _COMMON["phone"],
        "sector": _COMMON["sector"],
        "address": _COMMON["address"],
        "pickup_mode": (
            "modalidad", "modalidad entrega", "tipo entrega", "entrega", "forma entrega",
            "retiro domicilio", "mode", "pickup mode", "delivery mode", "delivery",
        ),
        # Consent given on paper to be written to first on WhatsApp (domain.catastro).
        "contact_consent": (
            "consentimiento", "consentimiento whatsapp", "consent", "opt in",
            "fecha consentimiento", "consentimiento fecha", "whatsapp consent",
        ),
        "household_size": (
            "integrantes", "integrantes hogar", "integrantes familia", "grupo familiar",
            "personas", "personas hogar", "household", "household size", "members",
            "family members", "people",
        ),
    },
}

# Column widths of the models, so that PostgreSQL never refuses a long cell mid-import.
_WIDTH = {"name": 200, "kind": 40, "sector": 120, "address": 200, "email": 200}


def normalise_header(text: str) -> str:
    return " ".join(t for t in plain_words(text) if t not in _HEADER_NOISE)


@dataclass
class _Columns:
    """Which spreadsheet columns feed which field, best first."""

    by_field: dict[str, list[int]]
    headers: list[str]
    ignored: list[str]


def _map_columns(kind: str, headers: list[str]) -> _Columns:
    aliases = _ALIASES[kind]
    ranked: dict[str, list[tuple[int, int]]] = {}
    ignored: list[str] = []
    for col, header in enumerate(headers):
        key = normalise_header(header)
        if not key:
            if header.strip():
                ignored.append(header.strip())
            continue
        hit = next(
            ((fld, names.index(key)) for fld, names in aliases.items() if key in names), None
        )
        if hit is None:
            ignored.append(header.strip())
            continue
        ranked.setdefault(hit[0], []).append((hit[1], col))
    by_field = {fld: [col for _, col in sorted(cols)] for fld, cols in ranked.items()}
    if "surname" in by_field:
        # Name parts are read left to right, as the sheet writes them.
        by_field["surname"] = sorted(by_field["surname"])
    return _Columns(by_field, headers, ignored)


# --- reading the file ---------------------------------------------------------------
#
# Whatever her file holds, reading it takes bounded time and memory: a stray cell at
# XFD1048576 must not turn a 5 KB workbook into minutes and gigabytes, nor a small zip unpack
# into gigabytes. ``read_sheet`` is plain blocking code, for a worker thread before any
# transaction opens (handlers.core.Turn.document).

MAX_COLUMNS = 100  # a catastro has a dozen or two; anything further right is not read
# What a workbook's parts may unpack to, since its XML is parsed cell by cell (slowly): twice
# what 5000 rows of 30 filled columns take, so the costliest workbook (one full of empty
# styled cells) takes a few seconds of a worker thread, like the biggest honest one.
MAX_UNPACKED = 20 * 1024 * 1024
# Rows with something in them read before giving up: the rows down to the header, and one
# more than may be imported, so "too many rows" is known without reading the rest.
_ROWS_TO_READ = HEADER_SEARCH_ROWS + MAX_ROWS + 1


@dataclass(frozen=True)
class Sheet:
    """The rows of her file that have something in them, each with the number her
    spreadsheet shows it with; or why the file cannot be read."""

    rows: list[tuple[int, list[str]]] = field(default_factory=list)
    problem: Msg | None = None
    more: bool = False  # reading stopped early: there are more rows than may be imported


def read_sheet(filename: str, content: bytes) -> Sheet:
    """The first sheet of an .xlsx, or a CSV, as rows of text. Blocking: run it in a thread."""
    try:
        rows, more = _read_rows(filename, content)
    except _Unreadable as exc:
        return Sheet(problem=exc.problem)
    return Sheet(rows, more=more)


def too_big() -> Msg:
    return Msg("imports.file.too_big", {"max": MAX_BYTES // (1024 * 1024)})


class _Unreadable(Exception):
    def __init__(self, problem: Msg) -> None:
        super().__init__(problem.key)
        self.problem = problem


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        # Excel keeps phones and counts typed as numbers as floats: 912345678.0.
        return str(int(value)) if value.is_integer() else str(value)
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time() else value.isoformat()
    if isinstance(value, date | time):
        return value.isoformat()
    return " ".join(str(value).replace("\xa0", " ").split())


_NOT_TABLES = (".pdf", ".doc", ".docx", ".ods", ".odt", ".jpg", ".jpeg", ".png", ".zip")
Rows = list[tuple[int, list[str]]]


def _read_rows(filename: str, content: bytes) -> tuple[Rows, bool]:
    if len(content) > MAX_BYTES:
        raise _Unreadable(too_big())
    if not content.strip():
        raise _Unreadable(Msg("imports.file.empty"))
    if content.startswith(b"\xd0\xcf\x11\xe0"):
        # The old binary .xls: asking her to save as .xlsx beats a dependency for it.
        raise _Unreadable(Msg("imports.file.old_excel"))
    if filename.lower().endswith(_NOT_TABLES):
        raise _Unreadable(Msg("imports.file.unsupported"))
    if content.startswith(b"PK\x03\x04"):
        return _read_xlsx(content)
    return _read_csv(_decode(content))


def _kept(numbered: Iterable[tuple[int, Sequence[Any]]]) -> tuple[Rows, bool]:
    """The rows with something in their first MAX_COLUMNS cells, as text without empty
    cells at the end; and whether more such rows were left unread."""
    rows: Rows = []
    for number, values in numbered:
        if not values:  # a row the file skips costs nothing more than this
            continue
        cells = [_cell(v) for v in values[:MAX_COLUMNS]]
        while cells and not cells[-1]:
            cells.pop()
        if not cells:
            continue
        if len(rows) == _ROWS_TO_READ:
            return rows, True
        rows.append((number, cells))
    return rows, False


def _read_xlsx(content: bytes) -> tuple[Rows, bool]:
    from openpyxl import load_workbook

    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            # The sizes a zip declares are enforced when it is read (a CRC error past them).
            unpacked = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError) as exc:
        raise _Unreadable(Msg("imports.file.unreadable")) from exc
    if unpacked > MAX_UNPACKED:
        raise _Unreadable(too_big())
    try:
        # Read-only streams the sheet row by row instead of building every cell first.
        book = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except Exception as exc:  # a damaged or foreign zip fails in many different ways
        raise _Unreadable(Msg("imports.file.unreadable")) from exc
    try:
        sheet = book.worksheets[0]
        # The size a sheet declares is its maker's word (one stray cell at XFD1048576
        # declares a million rows by 16384 columns): read only the cells that are there.
        # Rows the file skips then come as empty tuples, counted so row numbers stay hers.
        sheet.reset_dimensions()
        return _kept(enumerate(sheet.iter_rows(values_only=True), start=1))
    except Exception as exc:
        raise _Unreadable(Msg("imports.file.unreadable")) from exc
    finally:
        book.close()


def _decode(content: bytes) -> str:
    if content.startswith((b"\xff\xfe", b"\xfe\xff")):
        return content.decode("utf-16")  # Excel's "Unicode text" export
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return content.decode("cp1252")  # what Excel in Chile writes as "CSV"
    except UnicodeDecodeError:
        return content.decode("latin-1")


def _read_csv(text: str) -> tuple[Rows, bool]:
    delimiter = _sniff_delimiter(text)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        return _kept(enumerate(reader, start=1))
    except csv.Error as exc:
        raise _Unreadable(Msg("imports.file.unreadable")) from exc


def _sniff_delimiter(text: str) -> str:
    """The delimiter that splits the most lines into the same number of fields: Excel in
    Chile writes ';' (the comma is the decimal mark), other tools write ','."""
    sample = "".join(itertools.islice(io.StringIO(text), 30))
    best, best_score = ";", (0, 0)
    for delimiter in (";", ",", "\t"):
        try:
            widths = [len(r) for r in csv.reader(io.StringIO(sample), delimiter=delimiter) if r]
        except csv.Error:
            continue
        wide = [w for w in widths if w > 1]
        if not wide:
            continue
        mode = max(set(wide), key=wide.count)
        score = (wide.count(mode), mode)
        if score > best_score:
            best, best_score = delimiter, score
    return best


# --- the preview ---------------------------------------------------------------------


async def preview_organizations(
    session: AsyncSession, program_id: int, filename: str, content: bytes | Sheet,
    now: datetime,
) -> ImportPreview:
    return await _preview(session, ORGANIZATION, program_id, filename, content, now)


async def preview_families(
    session: AsyncSession, program_id: int, filename: str, content: bytes | Sheet,
    now: datetime,
) -> ImportPreview:
    return await _preview(session, FAMILY, program_id, filename, content, now)


async def _preview(
    session: AsyncSession, kind: str, program_id: int, filename: str, content: bytes | Sheet,
    now: datetime,
) -> ImportPreview:
    """The preview of a file: given as read by ``read_sheet`` (in a thread, before the caller's
    transaction), or as bytes, read here in a thread."""
    preview = ImportPreview(kind=kind, program_id=program_id, filename=filename, created_at=now)
    sheet = content if isinstance(content, Sheet) \
        else await asyncio.to_thread(read_sheet, filename, content)
    if sheet.problem is not None:
        preview.file_problems.append(sheet.problem)
        return preview
    found = _find_header(kind, sheet.rows)
    if found is None:
        first = sheet.rows[0][1] if sheet.rows else []
        seen = ", ".join(c for c in first if c)[:200]
        preview.file_problems.append(Msg("imports.file.no_name_column", {"found": Raw(seen)}))
        return preview
    header_at, columns = found
    preview.ignored_columns = columns.ignored
    below = sheet.rows[header_at + 1:]
    if sheet.more or len(below) > MAX_ROWS:
        preview.file_problems.append(Msg("imports.file.too_many_rows", {"max": MAX_ROWS}))
        return preview
    if not below:
        preview.file_problems.append(Msg("imports.file.empty"))
        return preview
    # Phones and identity numbers are read as the programme's country writes them.
    country = await programs.country_of(session, program_id)
    preview.rows = [_parse_row(kind, number, cells, columns, now, country)
                    for number, cells in below]
    _mark_duplicates(kind, preview.rows, await imported.existing_keys(session, kind, program_id))
    return preview


def _find_header(kind: str, rows: Rows) -> tuple[int, _Columns] | None:
    for index, (number, cells) in enumerate(rows):
        if number > HEADER_SEARCH_ROWS:
            break
        columns = _map_columns(kind, cells)
        if "name" in columns.by_field:
            return index, columns
    return None


def _parse_row(kind: str, number: int, cells: list[str], columns: _Columns, now: datetime,
               country: Country) -> PreviewRow:
    def raw(fld: str) -> str:
        for col in columns.by_field.get(fld, []):
            if col < len(cells) and cells[col]:
                return cells[col]
        return ""

    def header(fld: str) -> str:
        return columns.headers[columns.by_field[fld][0]]

    problems: list[Msg] = []
    notes: list[Msg] = []
    values: dict[str, Any] = {}

    parts = [raw("name")] + [
        cells[c] for c in columns.by_field.get("surname", []) if c < len(cells) and cells[c]
    ]
    name = " ".join(p for p in parts if p)
    values["name"] = name[: _WIDTH["name"]] or None
    if not name:
        problems.append(Msg("imports.problem.missing_name"))

    phone_raw = raw("phone")
    values["phone"] = _phone(phone_raw, country)
    address = raw("address")
    values["address"] = address[: _WIDTH["address"]] or None
    if kind == FAMILY and not phone_raw and not address:
        problems.append(Msg("imports.problem.missing_contact"))

    rut_raw = raw("rut")
    values["rut"] = None
    if rut_raw:
        id_number = country.organization_number if kind == ORGANIZATION else country.national_id
        values["rut"] = id_number.format(rut_raw)
        if values["rut"] is None:
            problems.append(Msg(id_number.import_wrong, {"value": Raw(rut_raw)}))

    if phone_raw and values["phone"] is None:
        problems.append(Msg("imports.problem.bad_phone", {"value": Raw(phone_raw)}))

    sector = raw("sector")
    values["sector"] = sector[: _WIDTH["sector"]] or None

    if kind == ORGANIZATION:
        email = raw("email")
        values["email"] = email[: _WIDTH["email"]] or None
        if email and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", email):
            problems.append(Msg("imports.problem.bad_email", {"value": Raw(email)}))
        kind_text = raw("kind")
        values["kind"] = org_kinds.kind_code(kind_text)
        if kind_text and values["kind"] is None:
            # The list of kinds is closed: one it does not name is "otra", and she is told.
            values["kind"] = org_kinds.OTHER
            notes.append(Msg("imports.note.kind_other", {"value": Raw(kind_text[:60])}))
        count_field = "members_count"
    else:
        mode_raw = raw("pickup_mode")
        mode = pickup_mode(mode_raw)
        values["pickup_mode"] = str(mode) if mode else None
        if mode is None:
            problems.append(Msg("imports.problem.bad_mode", {"value": Raw(mode_raw)}))
        count_field = "household_size"
        if "contact_consent" in columns.by_field:  # a sheet without it reads as before
            consent_raw = raw("contact_consent")
            try:
                values["contact_consent"] = contact_consent(consent_raw, now.date())
            except UnreadableConsent:
                values["contact_consent"] = None
                problems.append(Msg("imports.problem.bad_consent",
                                    {"value": Raw(consent_raw)}))

    count_raw = raw(count_field)
    values[count_field] = whole_number(count_raw) if count_raw else None
    if count_raw and values[count_field] is None:
        problems.append(
            Msg("imports.problem.bad_number",
                {"column": Raw(header(count_field)), "value": Raw(count_raw)})
        )
    return PreviewRow(number, values, problems, notes)


def _phone(raw: str, country: Country) -> str | None:
    if not raw:
        return None
    found = country.phone(raw)
    if found:
        return found
    # "9 1234 5678 / 2 2345 6789": the first number that reads is the one to call.
    for part in re.split(r"[/;,]|\s+[yo]\s+|\s+or\s+|\s+-\s+", raw):
        found = country.phone(part)
        if found:
            return found
    return None


# --- duplicates ---------------------------------------------------------------------------


def _mark_duplicates(
    kind: str, rows: list[PreviewRow], existing: dict[tuple[str, str], str]
) -> None:
    first_seen: dict[tuple[str, str], int] = {}
    for row in rows:
        keys = record_keys(kind, row.values)
        earlier = next((first_seen[k] for k in keys if k in first_seen), None)
        if earlier is not None:
            row.problems.append(Msg("imports.problem.duplicate_in_file", {"other": earlier}))
        for key in keys:
            first_seen.setdefault(key, row.row)
        clash = next((k for k in keys if k in existing), None)
        if clash is not None:
            row.problems.append(_existing_problem(clash[0], existing[clash]))


def _existing_problem(by: str, name: str) -> Msg:
    if by == "rut":
        return Msg("imports.problem.exists_rut", {"name": Raw(name)})
    if by == "phone":
        return Msg("imports.problem.exists_phone", {"name": Raw(name)})
    return Msg("imports.problem.exists_name", {"name": Raw(name)})


# --- what the gestora reads ---------------------------------------------------------------


def summary(preview: ImportPreview) -> Msg:
    total, valid = len(preview.rows), len(preview.valid_rows)
    if valid == total:
        return Msg("imports.summary.all", {"count": total})
    if valid == 0:
        return Msg("imports.summary.none", {"count": total})
    return Msg("imports.summary.partial", {"count": valid, "total": total})


def problem_lines(preview: ImportPreview) -> Iterator[Msg]:
    for row in preview.rows:
        for problem in [*row.problems, *row.notes]:
            yield Msg("imports.line", {"row": row.row, "problem": problem})


def render_preview(preview: ImportPreview, limit: int = SUMMARY_LINES) -> list[Msg]:
    """The lines of the preview, short enough for a phone; with more than ``limit``
    problems the rest is counted ('…y 12 más') and belongs in ``preview_report_csv``."""
    if preview.file_problems:
        return list(preview.file_problems)
    lines = [summary(preview)]
    problems = list(problem_lines(preview))
    lines += problems[:limit]
    if len(problems) > limit:
        lines.append(Msg("imports.more", {"count": len(problems) - limit}))
    if preview.ignored_columns:
        lines.append(
            Msg("imports.ignored_columns", {"columns": Raw(", ".join(preview.ignored_columns))})
        )
    return lines


def preview_message(preview: ImportPreview, limit: int = SUMMARY_LINES) -> Msg:
    """The whole preview as one chat message, its lines one under the other."""
    return Msg("imports.preview", {"lines": render_preview(preview, limit)})


def has_more_than_fits(preview: ImportPreview, limit: int = SUMMARY_LINES) -> bool:
    """Whether the chat should attach ``preview_report_csv``."""
    return sum(len(r.problems) + len(r.notes) for r in preview.rows) > limit


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _safe_cell(text: str) -> str:
    # A cell starting with '=' is run as a formula when the report is opened in Excel.
    return "'" + text if text.startswith(_FORMULA_START) else text


def preview_report_csv(
    preview: ImportPreview, locale: str | None, catalogs: Catalogs | None = None
) -> bytes:
    """Every row and every problem, for Excel in Chile: ';'-separated UTF-8 with a BOM."""
    cat = catalogs or Catalogs()

    def t(message: Msg) -> str:
        return cat.render(message, locale)

    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow([
        t(Msg("imports.report.col_row")), t(Msg("imports.report.col_name")),
        t(Msg("imports.report.col_result")), t(Msg("imports.report.col_problems")),
    ])
    for problem in preview.file_problems:
        writer.writerow(["", "", t(Msg("imports.report.skipped")), _safe_cell(t(problem))])
    for row in preview.rows:
        ok = row.ok and not preview.file_problems
        result = t(Msg("imports.report.ok" if ok else "imports.report.skipped"))
        writer.writerow([
            row.row, _safe_cell(row.name), result,
            _safe_cell(" · ".join(t(p) for p in [*row.problems, *row.notes])),
        ])
    return out.getvalue().encode("utf-8-sig")


def result_message(result: ImportResult) -> list[Msg]:
    done = Msg(
        "imports.done.organization" if result.kind == ORGANIZATION else "imports.done.family",
        {"count": result.inserted},
    )
    if not result.skipped:
        return [done]
    return [done, Msg("imports.done.skipped", {"count": result.skipped})]
