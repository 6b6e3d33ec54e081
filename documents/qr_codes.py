"""Printable cards with linking codes: the gestora hands each family (or organisation, or
body) a card whose QR code opens the bot with its code, and whose code can be typed.

The codes come from storage.links.cards; never commits: the codes it makes are only good once
the caller's unit of work commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from locales import Catalogs, Msg
from storage import links
from storage.links import LinkBuilder
from storage.models import Program

DEJAVU = Path("/usr/share/fonts/truetype/dejavu")


async def codes_pdf(
    session: AsyncSession,
    program_id: int,
    target_kind: str,
    target_ids: Sequence[int],
    link: LinkBuilder | None,
    locale: str | None,
    *,
    now: datetime,
    catalogs: Catalogs | None = None,
    fonts_dir: Path | None = DEJAVU,
) -> bytes:
    """An A4 PDF of cards, 2 x 4 a page with cut lines: name, QR code of the deep link, the
    code in large letters and how to use it on the link's channel. Without a link (``link``
    None) there is nothing to put in a QR code: the card says to send the code to the chat."""
    # Imported here, when a sheet is drawn, not when Convoca starts: fpdf2 (with the Pillow
    # and fontTools it loads) and segno took every start-up ~0.2 s and ~21 MB of peak memory
    # (python -X importtime; ru_maxrss) for cards printed now and then.
    from documents.card_sheet import CardSheet

    cat = catalogs or Catalogs()
    program = await session.get(Program, program_id)
    if program is None:
        raise ValueError(f"no programme {program_id}")
    deck = await links.cards(session, program_id, target_kind, target_ids, link, now)
    pdf = CardSheet(fonts_dir)
    pdf.set_title(cat.render(Msg("codes.pdf.title"), locale))
    pdf.set_creator("Convoca")
    pdf.set_creation_date(now)
    label = cat.render(Msg("codes.card.code_label"), locale)
    how, where = instruction(cat, locale, link)
    for card in deck:
        words = cat.render(Msg(how, {"code": card.code, **where}), locale)
        # "/start" and the code on one line: split, people type the command without the code.
        words = words.replace(f"/start {card.code}", f"/start\u00a0{card.code}")
        pdf.add_card(program.name, card, label, words)
    return bytes(pdf.output())


def instruction(cat: Catalogs, locale: str | None, link: LinkBuilder | None
                ) -> tuple[str, dict[str, str]]:
    """The catalog key that tells how to use a card, and its parameters besides the code: the
    link's channel's own words (codes.card.instruction_<channel>, naming where to write by
    hand) when it has them and its handle is known, else plain words for any chat."""
    if link is None:
        return "codes.card.instruction_no_link", {}
    own = f"codes.card.instruction_{link.channel}"
    if link.handle and own in cat.keys(cat.locale(locale)):
        return own, {"handle": link.handle}
    return "codes.card.instruction", {}
