"""The catastro (the programme's organisations and families) as its records are read and
compared: what a cell means, whoever reads it (an imported spreadsheet, a target typed by
the gestora, a record edited in chat), what makes two records the same one, and what an
import of a spreadsheet found before anything is written."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from domain.names import normalise_name, plain_words
from domain.rut import rut_key
from locales import Msg

ORGANIZATION = "organization"
FAMILY = "family"
KINDS = (ORGANIZATION, FAMILY)


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


# The family's consent, given on paper at enrolment, to be written to first on WhatsApp:
# a date, or a yes (given by the import's day), or a no or nothing.
CONSENT_YES = "yes"
_CONSENT_YES = {"si", "yes", "y", "s", "x", "1", "true", "verdadero", "ok"}
_CONSENT_NO = {"no", "n", "0", "false", "falso", "-"}
_DAY_FIRST = re.compile(r"(\d{1,2})[-/.](\d{1,2})[-/.](\d{4})")
_YEAR_FIRST = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})(?:[T ]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?")


class UnreadableConsent(ValueError):
    pass


def contact_consent(text: str, today: date) -> str | None:
    """What a consent cell says: None (no consent), CONSENT_YES, or the day it was given as
    an ISO date. Raises UnreadableConsent for anything else, a day after ``today`` too."""
    cleaned = text.strip()
    words = " ".join(plain_words(cleaned))
    if not cleaned or words in _CONSENT_NO or cleaned == "-":
        return None
    if words in _CONSENT_YES:
        return CONSENT_YES
    day_first, year_first = _DAY_FIRST.fullmatch(cleaned), _YEAR_FIRST.fullmatch(cleaned)
    try:
        if day_first:
            d, m, y = (int(g) for g in day_first.groups())
        elif year_first:
            y, m, d = (int(g) for g in year_first.groups())
        else:
            raise UnreadableConsent(text)
        given = date(y, m, d)
    except ValueError as exc:
        raise UnreadableConsent(text) from exc
    if given > today:
        raise UnreadableConsent(text)
    return given.isoformat()


# --- what makes two records the same one ----------------------------------------------


def record_keys(kind: str, values: dict[str, Any]) -> list[tuple[str, str]]:
    """What makes two records the same one, strongest first."""
    keys: list[tuple[str, str]] = []
    rut = rut_key(values.get("rut"))
    if rut:
        keys.append(("rut", rut))
    if kind == ORGANIZATION:
        name_key = normalise_name(values.get("name") or "")
        if name_key:
            keys.append(("name", name_key))
    else:
        if values.get("phone"):
            keys.append(("phone", values["phone"]))
        # Without phone or RUT, the same name at the same address is the same household.
        name_key = normalise_name(values.get("name") or "")
        address_key = normalise_name(values.get("address") or "")
        if name_key and address_key:
            keys.append(("name", f"{name_key}|{address_key}"))
    return keys


# --- what an import found --------------------------------------------------------------


class StalePreview(Exception):
    """Records that clash with the preview's rows appeared after the preview was made."""

    def __init__(self, rows: list[int]) -> None:
        super().__init__(f"preview is stale: rows {rows} now duplicate existing records")
        self.rows = rows


@dataclass
class PreviewRow:
    row: int  # as numbered in her spreadsheet
    values: dict[str, Any]
    problems: list[Msg] = field(default_factory=list)
    notes: list[Msg] = field(default_factory=list)  # worth knowing, but the row goes in

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def name(self) -> str:
        return self.values.get("name") or ""

    def to_json(self) -> dict[str, Any]:
        return {"r": self.row, "v": self.values, "p": [m.to_json() for m in self.problems],
                "n": [m.to_json() for m in self.notes]}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> PreviewRow:
        return cls(d["r"], dict(d["v"]), [Msg.from_json(m) for m in d["p"]],
                   [Msg.from_json(m) for m in d.get("n", [])])


@dataclass
class ImportPreview:
    kind: str  # organization | family
    program_id: int
    filename: str
    created_at: datetime
    rows: list[PreviewRow] = field(default_factory=list)
    file_problems: list[Msg] = field(default_factory=list)  # nothing can be imported
    ignored_columns: list[str] = field(default_factory=list)

    @property
    def valid_rows(self) -> list[PreviewRow]:
        return [] if self.file_problems else [r for r in self.rows if r.ok]

    @property
    def problem_rows(self) -> list[PreviewRow]:
        return [r for r in self.rows if not r.ok]

    @property
    def can_commit(self) -> bool:
        return bool(self.valid_rows)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind, "program_id": self.program_id, "filename": self.filename,
            "created_at": self.created_at.isoformat(),
            "rows": [r.to_json() for r in self.rows],
            "file_problems": [m.to_json() for m in self.file_problems],
            "ignored_columns": list(self.ignored_columns),
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> ImportPreview:
        return cls(
            kind=d["kind"], program_id=d["program_id"], filename=d["filename"],
            created_at=datetime.fromisoformat(d["created_at"]),
            rows=[PreviewRow.from_json(r) for r in d["rows"]],
            file_problems=[Msg.from_json(m) for m in d["file_problems"]],
            ignored_columns=list(d.get("ignored_columns", [])),
        )


@dataclass(frozen=True)
class ImportResult:
    kind: str
    inserted_ids: list[int]
    inserted_rows: list[int]
    skipped_rows: list[int]

    @property
    def inserted(self) -> int:
        return len(self.inserted_ids)

    @property
    def skipped(self) -> int:
        return len(self.skipped_rows)
