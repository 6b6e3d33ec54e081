"""The A4 sheet documents.qr_codes prints its cards on, 2 x 4 a page with cut lines: fpdf2
draws it and segno makes the QR codes, as vector modules.

Only documents.qr_codes.codes_pdf imports this module, when a sheet is drawn, so that
Convoca's start-up loads neither library (see there)."""

from __future__ import annotations

from pathlib import Path

import segno
from fpdf import FPDF

from storage.links import Card

# A4 portrait, 2 x 4 cards, a margin the printers can reach.
PAGE_W, PAGE_H = 210.0, 297.0
COLS, ROWS = 2, 4
MARGIN = 8.0
CARD_W = (PAGE_W - 2 * MARGIN) / COLS
CARD_H = (PAGE_H - 2 * MARGIN) / ROWS
PAD = 5.0
QR_SIZE = 40.0  # mm, quiet zone included: read easily by an old phone at arm's length


class CardSheet(FPDF):
    def __init__(self, fonts_dir: Path | None) -> None:
        super().__init__(orientation="P", unit="mm", format="A4")
        self.set_auto_page_break(False)
        self.set_margins(0, 0, 0)
        files = {
            ("sans", ""): "DejaVuSans.ttf",
            ("sans", "B"): "DejaVuSans-Bold.ttf",
            ("mono", "B"): "DejaVuSansMono-Bold.ttf",
        }
        self.unicode = bool(fonts_dir) and all((fonts_dir / f).is_file() for f in files.values())
        if self.unicode:
            for (family, style), filename in files.items():
                self.add_font(family, style, str(fonts_dir / filename))
            self.sans, self.mono = "sans", "mono"
        else:
            # The core fonts know latin-1 only, which holds Spanish accents and ñ.
            self.sans, self.mono = "helvetica", "courier"
        self.cards = 0

    def add_card(self, program: str, card: Card, label: str, instruction: str) -> None:
        """The next card in its slot, on a new page with cut lines every COLS x ROWS."""
        slot = self.cards % (COLS * ROWS)
        if slot == 0:
            self.add_page()
            self.cut_lines()
        self.card(MARGIN + (slot % COLS) * CARD_W, MARGIN + (slot // COLS) * CARD_H, program,
                  card, label, instruction)
        self.cards += 1

    def text_for_font(self, text: str) -> str:
        if self.unicode:
            return text
        plain = text.translate(_TO_LATIN1)
        return plain.encode("latin-1", "replace").decode("latin-1")

    def cut_lines(self) -> None:
        self.set_draw_color(150, 150, 150)
        self.set_line_width(0.2)
        self.set_dash_pattern(dash=2, gap=2)
        for col in range(COLS + 1):
            x = MARGIN + col * CARD_W
            self.line(x, MARGIN / 2, x, PAGE_H - MARGIN / 2)
        for row in range(ROWS + 1):
            y = MARGIN + row * CARD_H
            self.line(MARGIN / 2, y, PAGE_W - MARGIN / 2, y)
        self.set_dash_pattern()

    def card(self, x: float, y: float, program: str, card: Card, label: str,
             instruction: str) -> None:
        inner_w = CARD_W - 2 * PAD
        self.set_text_color(110, 110, 110)
        self.set_font(self.sans, "", 8)
        self.set_xy(x + PAD, y + PAD)
        self.cell(inner_w, 4, self._fit(program, inner_w))

        self.set_text_color(0, 0, 0)
        size, lines = self._name_lines(card.name, inner_w)
        self.set_font(self.sans, "B", size)
        line_h = size * 0.45
        for i, line in enumerate(lines):
            self.set_xy(x + PAD, y + PAD + 5 + i * line_h)
            self.cell(inner_w, line_h, line)

        top = y + PAD + 5 + 2 * 6.0 + 2
        right_x = x + PAD
        if card.url:
            self.qr(card.url, x + PAD - 1, top, QR_SIZE)
            right_x += QR_SIZE + 2
        right_w = CARD_W - PAD - (right_x - x)
        self.set_font(self.sans, "", 8)
        self.set_text_color(80, 80, 80)
        self.set_xy(right_x, top + 4)
        self.cell(right_w, 4, self.text_for_font(label))
        self.set_text_color(0, 0, 0)
        self.set_font(self.mono, "B", self._code_size(card.code, right_w))
        self.set_xy(right_x, top + 8)
        self.cell(right_w, 10, card.code)
        self.set_font(self.sans, "", 8.5)
        self.set_xy(right_x, top + 20)
        self.multi_cell(right_w, 3.8, self.text_for_font(instruction), align="L")

    def _fit(self, text: str, width: float) -> str:
        text = self.text_for_font(text)
        if self.get_string_width(text) <= width:
            return text
        ellipsis = "…" if self.unicode else "..."
        while text and self.get_string_width(text + ellipsis) > width:
            text = text[:-1]
        return text.rstrip() + ellipsis

    def _name_lines(self, name: str, width: float) -> tuple[float, list[str]]:
        name = self.text_for_font(" ".join(name.split()))
        for size in (14, 13, 12, 11):  # smaller is hard to read for many
            self.set_font(self.sans, "B", size)
            lines = self.multi_cell(width, 5, name, dry_run=True, output="LINES")
            if len(lines) <= 2:
                return size, lines
        lines = self.multi_cell(width, 5, name, dry_run=True, output="LINES")
        return 11, [lines[0], self._fit(" ".join(lines[1:]), width)]

    def _code_size(self, code: str, width: float) -> float:
        size = 24.0
        self.set_font(self.mono, "B", size)
        while size > 12 and self.get_string_width(code) > width:
            size -= 1
            self.set_font(self.mono, "B", size)
        return size

    def qr(self, url: str, x: float, y: float, size: float) -> None:
        """Vector modules, so the printout stays sharp at any printer resolution."""
        matrix = segno.make(url, error="m", micro=False).matrix
        border = 4  # the quiet zone the standard asks for
        module = size / (len(matrix) + 2 * border)
        self.set_fill_color(0, 0, 0)
        for r, row in enumerate(matrix):
            c = 0
            while c < len(row):
                if not row[c]:
                    c += 1
                    continue
                start = c
                while c < len(row) and row[c]:
                    c += 1
                # A hair of overlap so no white seams show between adjacent modules.
                self.rect(x + (border + start) * module, y + (border + r) * module,
                          (c - start) * module + 0.01, module + 0.01, style="F")


_TO_LATIN1 = str.maketrans({
    "\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u2013": "-", "\u2014": "-",
    "\u2026": "...",
})
