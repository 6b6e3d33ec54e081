"""The kinds of organisation the catastro knows: a closed list, stored as a short code and
shown in words (``org_kind.<code>`` in the catalogs, both languages).

The codes are the options of the Ficha de Interés's question "¿Qué tipo de organización
es?", so what an organisation declares in its ficha is what the catastro shows. Whatever
people type or import ("JJVV", "Club de Adulto Mayor", "junta_de_vecinos") is read into a
code with :func:`kind_code`; a kind that fits none is "otra".
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from locales import Catalogs, Msg, Raw

KINDS = ("junta_vecinos", "adulto_mayor", "comite", "cooperativa", "sindicato_feria", "ong",
         "otra")
OTHER = "otra"

# Ways of writing a kind that its words in the catalogs do not cover: abbreviations,
# plurals, and the codes older versions stored.
_ALIASES = {
    "junta_vecinos": ("jjvv", "jj vv", "junta vecinal", "juntas vecinos", "junta_de_vecinos",
                      "neighborhood council", "neighbourhood association"),
    "adulto_mayor": ("club adulto mayor", "club adultos mayores", "adultos mayores",
                     "club_adulto_mayor", "seniors club", "senior club", "senior citizens club"),
    "comite": ("comites",),
    "cooperativa": ("cooperativas", "coop"),
    "sindicato_feria": ("sindicato feria", "sindicato feria libre", "feria libre",
                        "sindicato feriantes", "feriantes", "street market union"),
    "ong": ("organizacion no gubernamental", "fundacion", "corporacion", "ngo"),
    "otra": ("otro", "other"),
}
# Words that name a kind when a longer text starts with them ("Comité de vivienda ...").
_LEADING = {"junta": "junta_vecinos", "comite": "comite",
            "cooperativa": "cooperativa", "sindicato": "sindicato_feria", "ong": "ong",
            "fundacion": "ong", "corporacion": "ong"}
_NOISE = {"de", "del", "la", "las", "el", "los", "y", "of", "the", "s"}


def _words(text: str) -> list[str]:
    decomposed = unicodedata.normalize("NFKD", text or "")
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()
    return [w for w in re.findall(r"[a-z0-9]+", plain) if w not in _NOISE]


@lru_cache(maxsize=1)
def _known() -> dict[str, str]:
    catalogs = Catalogs()
    known: dict[str, str] = {}
    for code in KINDS:
        spellings = [code, *_ALIASES.get(code, ())]
        spellings += [catalogs.text(loc, f"org_kind.{code}") for loc in ("es", "en")]
        for text in spellings:
            known.setdefault(" ".join(_words(text.replace("_", " "))), code)
    return known


def kind_code(text: str | None, *, exact: bool = False) -> str | None:
    """The code of a kind as people write it, in words or as a code, any case or accents;
    None for a blank text or one that names no kind on the list. Unless ``exact``, a text
    that starts with a kind's word ("Comité de vivienda") is that kind."""
    words = _words((text or "").replace("_", " "))
    if not words:
        return None
    found = _known().get(" ".join(words))
    if found is None and not exact and words[0] in _LEADING and len(words) > 1:
        found = _LEADING[words[0]]
    return found


def shown(kind: str | None) -> Msg | Raw | None:
    """A stored kind as a person reads it: its words for a code (or a kind written the old
    way), the text itself for anything else an older version kept."""
    if not kind:
        return None
    # Words an older version kept that say more than the kind ("Comité de allegados")
    # are shown as they are.
    code = kind if kind in KINDS else kind_code(kind, exact=True)
    return Msg(f"org_kind.{code}") if code else Raw(kind)


def text(kind: str | None, catalogs: Catalogs, locale: str | None) -> str:
    """:func:`shown` rendered, for documents."""
    message = shown(kind)
    return "" if message is None else catalogs.render(message, locale) \
        if isinstance(message, Msg) else message.text
