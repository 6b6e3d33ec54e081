"""People's names as Chileans write them, and how two spellings of one name are compared.
Kept apart from the forms engine so that documents can use it without it."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

__all__ = ["name_key", "normalise_name", "person_name", "plain_words"]


def _strip_accents(text: str) -> str:
    return "".join(ch for ch in unicodedata.normalize("NFKD", text)
                   if not unicodedata.combining(ch))


def name_key(text: str) -> str:
    """Text reduced for comparing names and labels: no case, accents, emoji or punctuation."""
    return " ".join(re.findall(r"[^\W_]+", _strip_accents(text).casefold()))


def _clean(text: str) -> str:
    return " ".join(text.split())


# Words that join a Chilean name's parts and are written in lower case inside it:
# "María de la Luz del Río", "Ortúzar y Vergara".
_PARTICLES = frozenset({"de", "del", "la", "las", "los", "y", "e", "da", "das", "do", "dos",
                        "di", "van", "von", "der"})


def _capitalised(word: str) -> str:
    # Each part of "pérez-cotapos" or "o'higgins" starts with a capital.
    return re.sub(r"[^\W\d_]+", lambda m: m[0][:1].upper() + m[0][1:], word.lower())


def person_name(text: str, known: Iterable[str | None] = ()) -> str:
    """A name as typed, written as Chileans write names: single spaces, a capital at the
    start of each name ("rosa elena pizarro carvajal" → "Rosa Elena Pizarro Carvajal"),
    particles in lower case ("de la", "del"). A word typed in mixed case ("McDonald") is
    kept. When the text is one of the ``known`` names but for accents and case, that
    spelling is used: a person's name reads the same everywhere."""
    clean = _clean(text)
    for name in known:
        if name and name_key(name) == name_key(clean) and name_key(clean):
            return _clean(name)
    words = []
    for i, word in enumerate(clean.split(" ")):
        if i > 0 and word.lower() in _PARTICLES:
            words.append(word.lower())
        elif word.islower() or word.isupper():
            words.append(_capitalised(word))
        else:
            words.append(word)
    return " ".join(words)


def plain_words(text: str) -> list[str]:
    """The words of a text in lower case without accents, punctuation dropped."""
    decomposed = unicodedata.normalize("NFKD", str(text))
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch)).lower()
    return re.findall(r"[a-z0-9]+", plain)


def normalise_name(text: str) -> str:
    """The same organisation written 'JUNTA DE VECINOS LOS HÉROES' or 'Junta de vecinos
    Los Heroes' is one organisation."""
    return " ".join(plain_words(text))
