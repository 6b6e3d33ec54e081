"""A button pressed by typing its label: "asistiré" answers like tapping "✅ Asistiré".

People on a text-only channel (WhatsApp, the console) and many on channels with buttons type
the answer they see rather than tap it. The buttons that count are those of what Convoca said last in
the chat (its newest unit of work there: the replies to the person's last message, or the
notices of one scheduler tick), whatever the flow; a label is matched whole, ignoring case,
accents, emoji and punctuation."""

from __future__ import annotations

import re
import unicodedata
from typing import TYPE_CHECKING

from handlers.events import Outgoing
from storage import outbox

if TYPE_CHECKING:
    from handlers.core import Turn

_WORD = re.compile(r"\w+")
LONGEST = 80  # longer text is an answer in its own words, not a label


def plain(text: str) -> str:
    """'✅ Sí, acepto' -> 'si acepto'."""
    folded = unicodedata.normalize("NFKD", text.casefold())
    bare = "".join(ch for ch in folded if not unicodedata.combining(ch))
    return " ".join(_WORD.findall(bare))


async def offered(turn: Turn) -> dict[str, str]:
    """The actions of the buttons last offered in this chat whose label the person typed,
    with the label as shown: none, one, or several that look alike (two meetings' "Asistiré")."""
    typed = plain(turn.event.text or "")
    if not typed or len(typed) > LONGEST:
        return {}
    ev, services = turn.event, turn.services
    found: dict[str, str] = {}
    for row in await outbox.last_said(turn.session, ev.channel, ev.address, turn.person.id):
        said = Outgoing.from_json(row.payload)
        for line in said.buttons:
            for button in line:
                # As the channel showed it: in the zone of the message's programme.
                label = services.catalogs.render(button.label, row.locale,
                                                 said.zone or services.timezone)
                if plain(label) == typed:
                    found.setdefault(button.action, label)
    return found
