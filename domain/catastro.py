"""What a catastro's cells mean, whoever reads them (an imported spreadsheet, a target
typed by the gestora, a family's record edited in chat): how a family receives its food
and how many people a count says."""

from __future__ import annotations

import re
from enum import StrEnum

from storage.names import plain_words


class PickupMode(StrEnum):
    RETIRO = "retiro"  # retiro en local
    DOMICILIO = "domicilio"  # entrega en domicilio


_COUNT = re.compile(r"(\d{1,3}(?:\.\d{3})+|\d+)(?:\s+[^\W\d_]+)*")


def whole_number(text: str) -> int | None:
    """'12', '1.200' (Chilean thousands) and '4 personas' are numbers; 'doce' and '4 a 5'
    are not."""
    match = _COUNT.fullmatch(text.strip())
    if not match:
        return None
    return int(match.group(1).replace(".", ""))


_HOME = ("domicil", "despacho", "reparto", "home", "deliver", "casa")
_PREMISES = ("retir", "local", "recinto", "sede", "presencial", "pickup", "pick", "collect",
             "premises")


def pickup_mode(text: str) -> PickupMode | None:
    """'Retiro en local' or 'Entrega en domicilio' and their short forms; a blank cell is
    the usual retiro en local."""
    words = plain_words(text)
    if not words:
        return PickupMode.RETIRO
    home = any(w.startswith(_HOME) for w in words)
    premises = any(w.startswith(_PREMISES) for w in words)
    if home and not premises:
        return PickupMode.DOMICILIO
    if premises and not home:
        return PickupMode.RETIRO
    if words in (["r"], ["d"]):
        return PickupMode.RETIRO if words == ["r"] else PickupMode.DOMICILIO
    return None
