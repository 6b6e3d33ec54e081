"""Counting attendance: who was expected and who came (Tally), and how many of those called
came over the held meetings (Rate)."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass


@dataclass(frozen=True)
class Tally:
    """Who was expected and who came: the one count the board, the attendance list, the
    session-close message, ``convoca attendance`` and the exported list all show.

    Expected are the invited, whatever they answered. Present are the invited marked present
    (by check-in or by the staff) plus whoever came without an invitation, in Convoca or
    written in by hand. The attendance rate is ``present_invited`` over ``invited``."""

    invited: int
    present_invited: int
    walk_ins: int
    to_confirm: int = 0  # self checked-in walk-ins not confirmed yet: in no count above

    @property
    def present(self) -> int:
        return self.present_invited + self.walk_ins


@dataclass(frozen=True)
class Rate:
    """Invited people marked present over invited people, over held meetings."""

    present: int
    invited: int

    @property
    def value(self) -> float | None:
        return self.present / self.invited if self.invited else None

    @property
    def percent(self) -> int | None:
        return None if self.invited == 0 else round(100 * self.present / self.invited)


def fold_name(text: str) -> str:
    # "nunez" finds "Núñez": people type names without accents on a phone.
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))
