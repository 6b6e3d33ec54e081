"""What every document shares: the reader's context (language, zone, moment), the A4 page
with the programme's typography, tables that fit, workbooks that print, CSV, and the
helpers that name kinds and bodies. The documents themselves are in their own modules
(documents.exports and beside it).

PDFs use DejaVu Sans when the machine has it and fall back to fpdf2's core Helvetica, whose
latin-1 covers Spanish (accents, ñ, ¿¡) but not much else: characters outside latin-1 are
replaced so that a document is always produced.
"""

from __future__ import annotations

import csv
import io
import logging
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Literal, NamedTuple
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime
from babel.numbers import format_percent

from domain.countries import COUNTRIES, DEFAULT_COUNTRY, Country
from domain.program_templates import (
    ProgramTemplate,
)
from locales import BABEL_LOCALE, Catalogs, Msg, format_number
from locales.collation import sort_key
from storage.models import (
    Body,
)

Format = Literal["pdf", "xlsx", "csv"]

MIME = {
    "pdf": "application/pdf",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "csv": "text/csv",
    "png": "image/png",
}

FICHA_FORM_KEY = "ficha_interes"

# Where DejaVu lives on Debian/Ubuntu, Fedora/Arch and a hand install.
FONT_DIRS: tuple[Path, ...] = (
    Path("/usr/share/fonts/truetype/dejavu"),
    Path("/usr/share/fonts/dejavu"),
    Path("/usr/share/fonts/dejavu-sans-fonts"),
    Path("/usr/share/fonts/TTF"),
    Path("/usr/local/share/fonts"),
)
# Condensed first: tables of names and organisations fit without wrapping every row.
_FONT_FILES = (
    ("DejaVuSansCondensed.ttf", "DejaVuSansCondensed-Bold.ttf"),
    ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf"),
)

CHART_SIZE = (1600, 800)  # px; drawn large so it stays sharp when printed at 18 cm


class ExportFile(NamedTuple):
    filename: str
    content: bytes
    mime_type: str


# --------------------------------------------------------------------------- helpers


# Letters that Unicode does not decompose into a base letter and an accent.
_PLAIN_LETTERS = str.maketrans({
    "ł": "l", "Ł": "L", "ø": "o", "Ø": "O", "đ": "d", "Đ": "D", "ß": "ss", "æ": "ae",
    "Æ": "AE", "œ": "oe", "Œ": "OE", "þ": "th", "Þ": "Th", "ı": "i",
})


def _plain(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.translate(_PLAIN_LETTERS))
    return decomposed.encode("ascii", "ignore").decode("ascii")


def slugify(text: str, max_len: int = 60) -> str:
    """ASCII, lower case, words joined by '-': 'Población Ñuñoa' -> 'poblacion-nunoa'."""
    slug = re.sub(r"[^a-z0-9]+", "-", _plain(text).lower()).strip("-")
    return slug[:max_len].rstrip("-") or "x"


def _sort_key(text: str | None, locale: str | None = "es") -> tuple[str, str, str]:
    # Alphabetical as a reader expects it of names: accents do not move a name to the end
    # of the list, and in Spanish "ñ" comes after "n".
    return sort_key(text, locale)


# Typographic marks that latin-1 lacks but that have a plain equivalent, so a programme
# called "Ecomercado – Gestión" reads "Ecomercado - Gestión" in Helvetica, not "?".
_LATIN1_EQUIVALENTS = str.maketrans({
    "\u2013": "-", "\u2014": "-", "\u2212": "-", "\u2018": "'", "\u2019": "'",
    "\u201c": '"', "\u201d": '"', "\u2026": "...", "\u00a0": " ", "\u202f": " ",
    "\u2022": "\u00b7", "\u2009": " ",
})


def to_latin1(text: str) -> str:
    """Text that Helvetica can show: accents and ñ stay, the rest becomes '?'."""
    text = unicodedata.normalize("NFC", text).translate(_LATIN1_EQUIVALENTS)
    return text.encode("latin-1", "replace").decode("latin-1")


def _find_fonts(font_dirs: Sequence[Path]) -> tuple[Path, Path] | None:
    for regular, bold in _FONT_FILES:
        for directory in font_dirs:
            r, b = Path(directory) / regular, Path(directory) / bold
            if r.is_file() and b.is_file():
                return r, b
    return None


@dataclass(frozen=True)
class Pct:
    """A share (0..1) shown as a percentage; None when there is nothing to divide by."""

    value: float | None


class Ctx:
    """The reader's language, the programme's zone and the moment of generation."""

    def __init__(self, catalogs: Catalogs | None, locale: str | None, tz: str,
                 now: datetime, country: Country | None = None) -> None:
        if now.tzinfo is None:
            raise ValueError("now must be an aware datetime")
        self.catalogs = catalogs or Catalogs()
        self.locale = self.catalogs.locale(locale)
        self.tz = tz
        self.zone = ZoneInfo(tz)
        self.now = now.astimezone(UTC)
        self.babel = BABEL_LOCALE[self.locale]
        # Whose identity numbers the document lists (Chile's RUT unless told).
        self.country = country or COUNTRIES[DEFAULT_COUNTRY]

    def id_heading(self) -> str:
        """The heading of a column of identity numbers: "RUT" in Chile, "CI" in Uruguay."""
        return self.t(self.country.national_id.short)

    def t(self, key: str, **params: Any) -> str:
        return self.catalogs.render(Msg(key, params), self.locale, self.tz)

    def local(self, at: datetime) -> datetime:
        return at.astimezone(self.zone)

    def long_date(self, at: datetime | date) -> str:
        day = self.local(at).date() if isinstance(at, datetime) else at
        return format_date(day, self.catalogs.raw(self.locale, "fmt.date") or "long",
                           locale=self.babel)

    def time(self, at: datetime) -> str:
        return self.catalogs.when(at, self.locale, self.tz, "time")

    def stamp(self, at: datetime) -> str:
        return format_datetime(self.local(at), self.t("exports.fmt.stamp"), tzinfo=self.zone,
                               locale=self.babel)

    def day(self, on: date | datetime) -> str:
        on = self.local(on).date() if isinstance(on, datetime) else on
        return format_date(on, self.t("exports.fmt.day"), locale=self.babel)

    def time_range(self, start: datetime, end: datetime | None) -> str:
        if end is None:
            return self.time(start)
        return self.t("exports.time_range", start=self.time(start), end=self.time(end))

    def generated(self) -> str:
        return self.t("exports.generated", date=self.long_date(self.now), time=self.time(self.now))

    def percent(self, value: float | None) -> str:
        return "—" if value is None else format_percent(value, locale=self.babel)

    def text(self, value: Any, *, for_csv: bool = False) -> str:
        """A cell as text, for PDF and CSV."""
        if value is None:
            return ""
        if isinstance(value, bool):
            return self.t("exports.yes") if value else self.t("exports.no")
        if isinstance(value, int):
            return str(value) if for_csv else format_number(value, self.locale)
        if isinstance(value, Pct):
            return "" if (for_csv and value.value is None) else self.percent(value.value)
        if isinstance(value, datetime):
            return self.stamp(value)
        if isinstance(value, date):
            return self.day(value)
        return str(value)


def phone_text(e164: str | None) -> str:
    """A stored phone (E.164) as people write it: +56 9 1234 5678."""
    if not e164:
        return ""
    import phonenumbers

    try:
        return phonenumbers.format_number(phonenumbers.parse(e164, None),
                                          phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    except phonenumbers.NumberParseException:
        return e164


def _place(place: str | None, address: str | None) -> str:
    return ", ".join(p for p in (place, address) if p) or "—"


def _kind_name(tpl: ProgramTemplate | None, kind: str, locale: str) -> str:
    if tpl is not None:
        try:
            return tpl.meeting_kind(kind).name.get(locale) or tpl.meeting_kind(kind).name["es"]
        except KeyError:
            pass
    return kind.replace("_", " ").capitalize()


def _body_name(tpl: ProgramTemplate | None, body: Body, locale: str) -> str:
    # Body.name is the Spanish name chosen when the programme was created; the template
    # knows the other languages.
    if tpl is not None and locale != "es":
        try:
            return tpl.body(body.kind).name.get(locale) or body.name
        except KeyError:
            pass
    return body.name


# --------------------------------------------------------------------------- listings


@dataclass(frozen=True)
class Signer:
    """Who signs a printed document: a name (empty for a line to fill in by hand), their
    RUT and role when known."""

    name: str = ""
    rut: str | None = None
    role: str | None = None


@dataclass
class Col:
    header: str
    width: float  # mm on the PDF page
    align: str = "LEFT"
    signature: bool = False  # an empty column to sign in, on paper only
    in_pdf: bool = True
    in_sheet: bool = True


@dataclass
class Section:
    """A smaller table after a listing's own, with its title: its columns (header, PDF
    width in mm) and its rows."""

    title: str
    columns: list[tuple[str, float]]
    rows: list[list[Any]]


@dataclass
class Listing:
    """One table with a title: what attendance, delivery and organisation lists share."""

    stem: str  # filename without extension
    title: str
    program: str
    details: list[tuple[str, str]]
    columns: list[Col]
    rows: list[list[Any]]
    sheet: str
    running_title: str = ""
    landscape: bool = False
    blank_rows: int = 0  # empty numbered rows on paper for people not on the list
    notes: list[str] = field(default_factory=list)
    # Who signs the whole list at its foot (the session's responsible), on paper and sheet.
    signers: list[Signer] = field(default_factory=list)
    signers_title: str | None = None
    # Tables after the main one, each under its own title (what the main one leaves out).
    sections: list[Section] = field(default_factory=list)

    def render(self, fmt: Format, ctx: Ctx, font_dirs: Sequence[Path]) -> ExportFile:
        if fmt == "pdf":
            data = _listing_pdf(self, ctx, font_dirs)
        elif fmt == "xlsx":
            data = _listing_xlsx(self, ctx)
        elif fmt == "csv":
            data = _listing_csv(self, ctx)
        else:
            raise ValueError(f"unknown format {fmt!r}")
        return ExportFile(f"{self.stem}.{fmt}", data, MIME[fmt])


# --------------------------------------------------------------------------- PDF

_INK = (33, 37, 41)
_MUTED = (100, 106, 115)
_RULE = (160, 168, 180)
_HEAD_FILL = (222, 228, 237)
_ROW_FILL = (246, 247, 249)


# Program.settings keys for the document heading: who executes the convenio, where.
PROGRAM_DETAIL_KEYS = ("executor", "comuna", "region")


def program_details(program: Any, ctx: Ctx) -> list[tuple[str, str]]:
    """The heading lines every verificador carries about its programme: the executing
    body, comuna and region as the programme's settings name them (none left blank)."""
    settings = getattr(program, "settings", None) or {}
    return [(ctx.t(f"exports.label.{key}"), str(settings[key]))
            for key in PROGRAM_DETAIL_KEYS if settings.get(key)]


def _quiet_font_libraries() -> None:
    """fontTools logs every table it subsets (hundreds of INFO lines per PDF): whoever
    makes a PDF, from the command line or a test, reads none of them."""
    for name in ("fontTools", "fpdf"):
        logger = logging.getLogger(name)
        if logger.getEffectiveLevel() < logging.WARNING:
            logger.setLevel(logging.WARNING)


def _pdf_class() -> type:
    from fpdf import FPDF

    _quiet_font_libraries()

    class Document(FPDF):
        """A4 with the programme's typography, page numbers and the generation time."""

        def __init__(self, ctx: Ctx, font_dirs: Sequence[Path], *, landscape: bool = False,
                     title: str = "", running_title: str = "") -> None:
            super().__init__(orientation="L" if landscape else "P", unit="mm", format="A4")
            self.ctx = ctx
            self.running_title = running_title
            self.set_margins(12, 14, 12)
            self.set_auto_page_break(True, margin=18)
            fonts = _find_fonts(font_dirs)
            if fonts is not None:
                self.add_font("Doc", "", str(fonts[0]))
                self.add_font("Doc", "B", str(fonts[1]))
                self.family = "Doc"
                self.unicode = True
            else:
                self.family = "helvetica"
                self.unicode = False
            self.set_creation_date(ctx.now)
            self.set_creator("Convoca")
            self.set_author("Convoca")
            self.set_lang(ctx.babel.replace("_", "-"))
            self.set_title(self.s(title))
            self.alias_nb_pages("{nb}")
            self._footer_left = ctx.generated()

        def s(self, text: str) -> str:
            return text if self.unicode else to_latin1(text)

        def font(self, size: float, bold: bool = False, color: tuple[int, int, int] = _INK) -> None:
            self.set_font(self.family, "B" if bold else "", size)
            self.set_text_color(*color)

        def header(self) -> None:
            # A signed sheet that comes loose still says what it belongs to.
            if self.page_no() > 1 and self.running_title:
                self.font(8, color=_MUTED)
                self.cell(0, 5, self.s(self.running_title), new_x="LMARGIN", new_y="NEXT")
                self.ln(2)

        def footer(self) -> None:
            self.set_y(-13)
            self.set_draw_color(*_RULE)
            self.line(self.l_margin, self.get_y(), self.w - self.r_margin, self.get_y())
            self.ln(1.5)
            self.font(7.5, color=_MUTED)
            y = self.get_y()
            self.cell(0, 4, self.s(self._footer_left), align="L")
            self.set_xy(self.l_margin, y)
            page = self.ctx.t("exports.page", page=str(self.page_no()), pages="{nb}")
            self.cell(0, 4, self.s(page), align="R")

        def heading(self, program: str, title: str, details: Iterable[tuple[str, str]]) -> None:
            self.font(9, color=_MUTED)
            self.multi_cell(0, 4.5, self.s(program), new_x="LMARGIN", new_y="NEXT")
            self.ln(0.5)
            self.font(16, bold=True)
            self.multi_cell(0, 8, self.s(title), new_x="LMARGIN", new_y="NEXT")
            self.set_draw_color(*_INK)
            self.set_line_width(0.5)
            self.line(self.l_margin, self.get_y() + 1, self.w - self.r_margin, self.get_y() + 1)
            self.set_line_width(0.2)
            self.ln(3.5)
            details = list(details)
            # A landscape page has room for the details side by side, which leaves the
            # table (and its signatures) more of the first page.
            pairs = 2 if self.w > self.h and len(details) > 5 else 1
            if details:
                self.font(9.5)
                label_w = 32
                value_w = (self.epw - pairs * label_w - (pairs - 1) * 6) / pairs
                widths = ((label_w, value_w, 6) * pairs)[:-1] if pairs > 1 else (
                    label_w, value_w)
                half = -(-len(details) // pairs)
                columns = [details[i * half:(i + 1) * half] for i in range(pairs)]
                with self.table(
                    col_widths=widths, width=self.epw, borders_layout="NONE",
                    first_row_as_headings=False, line_height=5, text_align="LEFT",
                    padding=(0.6, 1, 0.6, 0), v_align="TOP",
                ) as table:
                    for n in range(half):
                        row = table.row()
                        for c, column in enumerate(columns):
                            if c:
                                row.cell("")
                            label, value = column[n] if n < len(column) else ("", "")
                            self.font(9.5, bold=True)
                            row.cell(self.s(label))
                            self.font(9.5)
                            row.cell(self.s(value))
                self.ln(3)

        def section(self, title: str) -> None:
            if self.get_y() > self.h - 40:
                self.add_page()
            self.ln(2)
            self.font(11.5, bold=True)
            self.cell(0, 7, self.s(title), new_x="LMARGIN", new_y="NEXT")
            self.set_draw_color(*_RULE)
            self.line(self.l_margin, self.get_y(), self.w - self.r_margin, self.get_y())
            self.ln(2)

        def grid(self, headers: Sequence[str], rows: Sequence[Sequence[str]],
                 widths: Sequence[float], *, aligns: Sequence[str] | None = None,
                 min_row_height: float | None = None, size: float = 9) -> None:
            from fpdf.fonts import FontFace

            aligns = list(aligns or ["LEFT"] * len(headers))
            widths = self.fit_widths(headers, rows, widths, size)
            self.set_draw_color(*_RULE)
            self.font(size)
            heading_style = FontFace(family=self.family, emphasis="BOLD", color=_INK,
                                     fill_color=_HEAD_FILL, size_pt=size)
            with self.table(
                col_widths=tuple(widths), width=min(sum(widths), self.epw), align="LEFT",
                headings_style=heading_style, line_height=size * 0.48, text_align=tuple(aligns),
                cell_fill_color=_ROW_FILL, cell_fill_mode="ROWS", padding=(1.4, 1.6),
                v_align="MIDDLE", repeat_headings=1,
            ) as table:
                head = table.row()
                for h in headers:
                    head.cell(self.s(h), align="CENTER")
                for values in rows:
                    # Tall rows leave room for a handwritten signature; the header stays slim.
                    row = table.row(min_height=min_row_height)
                    for v in values:
                        row.cell(self.s(v))

        def fit_widths(self, headers: Sequence[str], rows: Sequence[Sequence[str]],
                       widths: Sequence[float], size: float) -> list[float]:
            """Widths no narrower than each column's longest word, taken from the widest
            columns, so that 'Confirmación' never breaks into 'Confirmació / n'."""
            pad = 3.6
            need = []
            for i, header in enumerate(headers):
                self.font(size, bold=True)
                longest = max((self.get_string_width(self.s(w)) for w in header.split()),
                              default=0)
                self.font(size)
                for row in rows:
                    for word in row[i].split():
                        longest = max(longest, self.get_string_width(self.s(word)))
                need.append(min(longest + pad, self.epw / 2))
            out = [max(w, n) for w, n in zip(widths, need, strict=True)]
            excess = sum(out) - sum(widths)
            while excess > 0.01:
                slack = [max(w - n, 0) for w, n in zip(out, need, strict=True)]
                total = sum(slack)
                if total <= 0:
                    break
                cut = min(excess, total)
                out = [w - cut * s / total for w, s in zip(out, slack, strict=True)]
                excess -= cut
            return out

        def para(self, text: str, size: float = 9, color: tuple[int, int, int] = _INK) -> None:
            self.font(size, color=color)
            self.multi_cell(0, size * 0.5, self.s(text), new_x="LMARGIN", new_y="NEXT")

        def signatures(self, signers: Sequence[Signer], *, per_row: int = 2,
                       title: str | None = None) -> None:
            """Signature boxes: a line to sign on, then the name, RUT and role under it.
            Kept together on one page with the title (and so with what precedes it when
            the caller keeps that short): a signature alone on a page proves nothing."""
            per_row = max(1, per_row)
            rows = [signers[i:i + per_row] for i in range(0, len(signers), per_row)] or [[]]
            box_h, gap = 30.0, 6.0
            need = (8 if title else 0) + len(rows) * box_h
            if self.get_y() + min(need, box_h * 2 + 8) > self.page_break_trigger:
                self.add_page()
            if title:
                self.ln(2)
                self.font(10, bold=True)
                self.cell(0, 6, self.s(title), new_x="LMARGIN", new_y="NEXT")
            width = (self.epw - gap * (per_row - 1)) / per_row
            for row in rows:
                if self.get_y() + box_h > self.page_break_trigger:
                    self.add_page()
                top = self.get_y()
                for i, signer in enumerate(row):
                    x = self.l_margin + i * (width + gap)
                    line_y = top + 16
                    self.set_draw_color(*_INK)
                    self.line(x, line_y, x + width, line_y)
                    self.set_xy(x, line_y + 0.8)
                    self.font(8.5, bold=True)
                    self.multi_cell(width, 4, self.s(signer.name or " "), new_x="LEFT",
                                    new_y="NEXT")
                    self.font(8, color=_MUTED)
                    extra = " · ".join(p for p in (signer.rut, signer.role) if p)
                    if extra:
                        self.multi_cell(width, 3.8, self.s(extra), new_x="LEFT", new_y="NEXT")
                self.set_xy(self.l_margin, top + box_h)

        def text_block(self, text: str, size: float = 10) -> None:
            """An agreed text as it was written: its paragraphs kept, justified."""
            self.font(size)
            for paragraph in (text or "").split("\n"):
                if paragraph.strip():
                    self.multi_cell(0, size * 0.5, self.s(paragraph.strip()), align="J",
                                    new_x="LMARGIN", new_y="NEXT")
                    self.ln(1.2)

    return Document


def _new_pdf(ctx: Ctx, font_dirs: Sequence[Path], **kw: Any) -> Any:
    return _pdf_class()(ctx, font_dirs, **kw)


def _listing_pdf(listing: Listing, ctx: Ctx, font_dirs: Sequence[Path]) -> bytes:
    pdf = _new_pdf(ctx, font_dirs, landscape=listing.landscape, title=listing.title,
                   running_title=listing.running_title)
    pdf.add_page()
    pdf.heading(listing.program, listing.title, listing.details)
    cols = [(i, c) for i, c in enumerate(listing.columns) if c.in_pdf]
    widths = [c.width for _, c in cols]
    scale = pdf.epw / sum(widths)
    rows = [[ctx.text(r[i]) for i, _ in cols] for r in listing.rows]
    start = len(rows)
    for n in range(listing.blank_rows):
        # Blank rows keep the numbering so late arrivals can be counted too.
        rows.append([str(start + n + 1) if j == 0 else "" for j in range(len(cols))])
    signing = any(c.signature for _, c in cols)
    pdf.grid([c.header for _, c in cols], rows, [w * scale for w in widths],
             aligns=[c.align for _, c in cols], min_row_height=11 if signing else None)
    for note in listing.notes:
        pdf.ln(1.5)
        pdf.para(note, 8.5, _MUTED)
    for extra in listing.sections:
        pdf.section(extra.title)
        scale = pdf.epw / sum(w for _, w in extra.columns)
        pdf.grid([h for h, _ in extra.columns], [[ctx.text(v) for v in r] for r in extra.rows],
                 [w * scale for _, w in extra.columns])
    if listing.signers:
        pdf.ln(2)
        pdf.signatures(listing.signers, per_row=max(len(listing.signers), 2),
                       title=listing.signers_title)
    return bytes(pdf.output())


# --------------------------------------------------------------------------- XLSX and CSV


def _xlsx_value(value: Any, ctx: Ctx) -> tuple[Any, str | None]:
    """The typed value Excel should hold, and its number format."""
    if isinstance(value, datetime):
        # Excel has no time zones: the programme's wall-clock time is what people expect.
        return ctx.local(value).replace(tzinfo=None), ctx.t("exports.xlsx.datetime")
    if isinstance(value, date):
        return value, ctx.t("exports.xlsx.date")
    if isinstance(value, Pct):
        return value.value, "0%"
    if isinstance(value, bool):
        return ctx.text(value), None
    return value, None


# A sheet wider than this (in Excel's character widths, about what fits across a portrait
# A4 at a readable size) prints landscape.
PORTRAIT_SHEET_WIDTH = 100


def print_setup(ws: Any, *, header_row: int | None = 1, landscape: bool | None = None) -> None:
    """How every sheet prints: A4, one page wide and as many tall as it needs, the table's
    header row repeated on every page, landscape when the columns are wider than a portrait
    page holds (or when ``landscape`` says so)."""
    from openpyxl.worksheet.page import PageMargins

    if landscape is None:
        width = sum((d.width or 9) for d in ws.column_dimensions.values())
        landscape = width > PORTRAIT_SHEET_WIDTH
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.orientation = "landscape" if landscape else "portrait"
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.page_margins = PageMargins(left=0.4, right=0.4, top=0.5, bottom=0.6)
    ws.print_options.horizontalCentered = True
    if header_row:
        ws.print_title_rows = f"{header_row}:{header_row}"


def _sheet_heading(ws: Any, program: str, title: str, details: Sequence[tuple[str, str]],
                   span: int) -> int:
    """The document's title, programme and details above the table, on the sheet that is
    printed (a second sheet is never printed with it); returns the table's first row."""
    from openpyxl.styles import Alignment, Font

    span = max(span, 2)

    def line(row: int, text: str, *, font: Any = None) -> None:
        cell = _put(ws, row, 1, text)
        if font is not None:
            cell.font = font
        cell.alignment = Alignment(wrap_text=True, vertical="top")
        ws.merge_cells(start_row=row, start_column=1, end_row=row, end_column=span)

    line(1, title, font=Font(bold=True, size=14))
    line(2, program, font=Font(color="646A73"))
    row = 3
    for label, value in details:
        line(row, f"{label}: {value}" if label else value)
        row += 1
    return row + 1


def fit_merged_rows(ws: Any) -> None:
    """A merged cell does not grow with its text in Excel or LibreOffice: each row that
    holds one is made as tall as its text needs across the merged columns' width (called
    once the widths are set)."""
    from openpyxl.utils import get_column_letter

    for merged in ws.merged_cells.ranges:
        cell = ws.cell(row=merged.min_row, column=merged.min_col)
        text = str(cell.value or "")
        width = sum(ws.column_dimensions[get_column_letter(c)].width or 9
                    for c in range(merged.min_col, merged.max_col + 1))
        size = (cell.font.sz or 11) if cell.font else 11
        per_line = max(int(width * 11 / size) - 2, 10)
        lines = sum(max(1, -(-len(part) // per_line)) for part in text.split("\n"))
        ws.row_dimensions[merged.min_row].height = max(lines * size * 1.35, size * 1.5)


def _write_sheet(ws: Any, headers: Sequence[str], rows: Sequence[Sequence[Any]], ctx: Ctx,
                 widths: Sequence[float] | None = None, *, top: int = 1,
                 landscape: bool | None = None) -> None:
    """A table from row ``top`` (its header), columns as wide as their text, printable."""
    from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
    from openpyxl.utils import get_column_letter

    thin = Side(style="thin", color="A0A8B4")
    for c, header in enumerate(headers, start=1):
        _put(ws, top, c, header)
    for cell in ws[top]:
        cell.font = Font(bold=True)
        cell.fill = PatternFill("solid", fgColor="DEE4ED")
        cell.alignment = Alignment(vertical="center", wrap_text=True)
        cell.border = Border(bottom=thin)
    longest = [len(h) for h in headers]
    for r, values in enumerate(rows, start=top + 1):
        for c, raw in enumerate(values, start=1):
            value, number_format = _xlsx_value(raw, ctx)
            cell = _put(ws, r, c, value)
            if isinstance(value, str):
                if "\n" in value:
                    cell.alignment = Alignment(wrap_text=True, vertical="top")
                else:
                    cell.alignment = Alignment(vertical="top")
            if number_format:
                cell.number_format = number_format
            shown = ctx.text(raw) if not isinstance(raw, str) else raw
            longest[c - 1] = max(longest[c - 1], *(len(line) for line in shown.split("\n")))
    for c, width in enumerate(longest, start=1):
        chosen = widths[c - 1] if widths else min(max(width, 6), 50) + 2
        ws.column_dimensions[get_column_letter(c)].width = chosen
    ws.freeze_panes = f"A{top + 1}"
    if rows:
        last = get_column_letter(len(headers))
        ws.auto_filter.ref = f"A{top}:{last}{top + len(rows)}"
    print_setup(ws, header_row=top, landscape=landscape)


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _put(ws: Any, row: int, column: int, value: Any) -> Any:
    """Every cell of every sheet is written here. Text stays text: openpyxl makes a formula
    of any string that starts with '=', and names, places, reasons and answers typed into
    the chat reach these sheets (a place typed as =HYPERLINK(...) would be a live link).
    Control characters a workbook cannot hold are dropped instead of failing the export."""
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    cell = ws.cell(row=row, column=column)
    if isinstance(value, str):
        value = ILLEGAL_CHARACTERS_RE.sub("", value)
        cell.value = value
        cell.data_type = "s"
        if value.startswith(_FORMULA_START):
            # Excel's own mark for "typed with a leading apostrophe": editing the cell
            # later does not turn it into a formula either.
            cell.quotePrefix = True
    else:
        cell.value = value
    return cell


def _sheet_title(text: str) -> str:
    return re.sub(r"[\[\]:*?/\\]", " ", text)[:31]


def _new_workbook(ctx: Ctx, title: str) -> Any:
    from openpyxl import Workbook

    wb = Workbook()
    wb.properties.creator = "Convoca"
    wb.properties.title = title
    wb.properties.created = ctx.now.replace(tzinfo=None)
    wb.properties.modified = ctx.now.replace(tzinfo=None)
    return wb


def _about_sheet(wb: Any, ctx: Ctx, program: str, title: str,
                 details: Sequence[tuple[str, str]]) -> None:
    from openpyxl.styles import Font

    ws = wb.create_sheet(_sheet_title(ctx.t("exports.sheet.about")))
    _put(ws, 1, 1, title).font = Font(bold=True, size=13)
    _put(ws, 2, 1, program)
    row = 4
    for label, value in details:
        _put(ws, row, 1, label).font = Font(bold=True)
        _put(ws, row, 2, value)
        row += 1
    _put(ws, row + 1, 1, ctx.generated())
    ws.column_dimensions["A"].width = 28
    ws.column_dimensions["B"].width = 70


def _workbook_bytes(wb: Any) -> bytes:
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _listing_xlsx(listing: Listing, ctx: Ctx) -> bytes:
    """One sheet that prints as the PDF does: title and details above the table, the
    columns to sign in with room for a signature, the responsible's signature below."""
    from openpyxl.styles import Alignment, Border, Font, Side

    wb = _new_workbook(ctx, listing.title)
    ws = wb.active
    ws.title = _sheet_title(listing.sheet)
    cols = [(i, c) for i, c in enumerate(listing.columns) if c.in_sheet]
    top = _sheet_heading(ws, listing.program, listing.title,
                         [*listing.details, ("", ctx.generated())],
                         len(cols))
    rows = [[r[i] for i, _ in cols] for r in listing.rows]
    signing = [n for n, (_, c) in enumerate(cols) if c.signature]
    if signing:
        start = len(rows)
        rows += [[start + n + 1 if j == 0 else "" for j in range(len(cols))]
                 for n in range(listing.blank_rows)]
    widths = None
    if signing:
        widths = [max(len(c.header) + 2, 8) for _, c in cols]
        for n, (_, c) in enumerate(cols):
            if not c.signature:
                texts = [ctx.text(r[n]) for r in rows]
                widths[n] = min(max([widths[n], *(len(t) for t in texts)]) + 2, 50)
            else:
                widths[n] = 30
    _write_sheet(ws, [c.header for _, c in cols], rows, ctx, widths, top=top,
                 landscape=listing.landscape or None)
    if signing:
        thin = Side(style="thin", color="646A73")
        for r in range(top + 1, top + 1 + len(rows)):
            ws.row_dimensions[r].height = 30  # room for a handwritten signature
            for c in range(1, len(cols) + 1):
                cell = ws.cell(row=r, column=c)
                cell.border = Border(left=thin, right=thin, top=thin, bottom=thin)
                cell.alignment = Alignment(vertical="center", wrap_text=True)
    row = top + len(rows) + 2
    for note in listing.notes:
        cell = _put(ws, row, 1, note)
        cell.alignment = Alignment(wrap_text=True, vertical="top")
        ws.merge_cells(start_row=row, start_column=1, end_row=row, end_column=len(cols))
        row += 1
    for extra in listing.sections:
        row += 1
        _put(ws, row, 1, extra.title).font = Font(bold=True, size=12)
        row += 1
        for c, (header, _) in enumerate(extra.columns, start=1):
            _put(ws, row, c, header).font = Font(bold=True)
        for values in extra.rows:
            row += 1
            for c, raw in enumerate(values, start=1):
                value, number_format = _xlsx_value(raw, ctx)
                cell = _put(ws, row, c, value)
                if number_format:
                    cell.number_format = number_format
        row += 2
    if listing.signers:
        row += 1
        if listing.signers_title:
            _put(ws, row, 1, listing.signers_title).font = Font(bold=True)
            row += 1
        for signer in listing.signers:
            row += 2  # room to sign above the line
            line = _put(ws, row, 1, "_" * 40)
            line.alignment = Alignment(vertical="bottom")
            row += 1
            _put(ws, row, 1, signer.name or ctx.t("docs.signature.name_blank")).font = Font(
                bold=True)
            extra = " · ".join(p for p in (signer.rut, signer.role) if p)
            if extra:
                row += 1
                _put(ws, row, 1, extra)
            row += 1
    fit_merged_rows(ws)
    return _workbook_bytes(wb)


def _csv_bytes(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> bytes:
    buf = io.StringIO()
    # ';' because Excel with Chilean (es-CL) regional settings uses ',' as the decimal
    # mark and so ';' as its list separator: a double-clicked CSV only splits into columns
    # on ';'.  The BOM (utf-8-sig) is what makes Excel read the file as UTF-8 instead of
    # the Windows code page, so "Ñuñoa" does not arrive as "Ã‘uÃ±oa".
    writer = csv.writer(buf, delimiter=";", lineterminator="\r\n")
    for row in [headers, *rows]:
        writer.writerow([_csv_text(v) for v in row])
    return buf.getvalue().encode("utf-8-sig")


def _csv_text(text: str) -> str:
    """A CSV cell Excel shows as the text it is: a leading '=' (or + - @, or a tab or
    return before them) would run as a formula, so it is quoted with an apostrophe."""
    return "'" + text if text.startswith(_FORMULA_START) else text


def _listing_csv(listing: Listing, ctx: Ctx) -> bytes:
    # Data for the team: nobody signs a CSV.
    cols = [(i, c) for i, c in enumerate(listing.columns) if c.in_sheet and not c.signature]
    rows = [[ctx.text(r[i], for_csv=True) for i, _ in cols] for r in listing.rows]
    for extra in listing.sections:
        # After a blank line, under its title, as the sheet and the PDF show it.
        rows += [[], [extra.title], [h for h, _ in extra.columns]]
        rows += [[ctx.text(v, for_csv=True) for v in r] for r in extra.rows]
    return _csv_bytes([c.header for _, c in cols], rows)


# --------------------------------------------------------------------------- attendance
