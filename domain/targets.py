"""What a target is: a body, the organisations, the families of a sector or of a pickup mode,
or everyone in a programme; storage.targeting finds the people behind one.

A target is a small JSON-able dict, so it can wait in the gestora's conversation and be
written in the audit log:

    {"kind": "body", "id": 3}                  a body's active members (or "body_kind")
    {"kind": "organizations"}                  every organisation's representatives
    {"kind": "organizations", "ids": [1, 4]}   the representatives of these organisations
    {"kind": "families"}                       every family (optionally "sector" or "mode")
    {"kind": "everyone"}                       bodies, organisations and families together
    {"kind": "no_answer", "meeting_id": 7}     whoever was invited to it and has not answered
"""

from __future__ import annotations

import zlib
from typing import Any

from domain.catastro import PickupMode, pickup_mode
from domain.names import normalise_name

BODY = "body"
ORGANIZATIONS = "organizations"
FAMILIES = "families"
EVERYONE = "everyone"
NO_ANSWER = "no_answer"
KINDS = (BODY, ORGANIZATIONS, FAMILIES, EVERYONE, NO_ANSWER)


def _id(value: Any) -> bool:
    # A row's id as the database can hold it: a longer number typed in would overflow there.
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2 ** 63


def check(target: Any) -> dict[str, Any]:
    """The target if it is well formed, else ``ValueError``."""
    if not isinstance(target, dict) or target.get("kind") not in KINDS:
        raise ValueError(f"unknown target {target!r}")
    kind = target["kind"]
    if kind == BODY and not (_id(target.get("id")) or target.get("body_kind")):
        raise ValueError("a body target needs its id or its kind")
    if kind == ORGANIZATIONS and "ids" in target and not (
        isinstance(target["ids"], list) and all(_id(i) for i in target["ids"])
    ):
        raise ValueError("organisation ids must be a list of numbers")
    if kind == FAMILIES and target.get("mode") not in (None, *PickupMode):
        raise ValueError(f"unknown pickup mode {target.get('mode')!r}")
    if kind == NO_ANSWER and not _id(target.get("meeting_id")):
        raise ValueError("a no-answer target needs its meeting's id")
    return target


def parse_spec(text: str) -> dict[str, Any]:
    """The command line's way of writing a target: ``body:grupo_motor``, ``body:3``,
    ``organizations``, ``organizations:1,4``, ``families``, ``families:sector=Villa
    Esperanza``, ``families:mode=retiro``, ``no_answer:7`` (a meeting's id), ``everyone``."""
    head, _, rest = text.strip().partition(":")
    head, rest = head.strip().lower(), rest.strip()
    if head == BODY and rest:
        return {"kind": BODY, "id": int(rest)} if rest.isdigit() else {
            "kind": BODY, "body_kind": rest}
    if head in (ORGANIZATIONS, "organisations", "orgs"):
        if not rest:
            return {"kind": ORGANIZATIONS}
        try:
            return {"kind": ORGANIZATIONS, "ids": [int(i) for i in rest.split(",") if i.strip()]}
        except ValueError:
            raise ValueError(f"organisation ids must be numbers: {rest!r}") from None
    if head == FAMILIES:
        if not rest:
            return {"kind": FAMILIES}
        name, _, value = rest.partition("=")
        name, value = name.strip().lower(), value.strip()
        if name == "sector" and value:
            return {"kind": FAMILIES, "sector": value}
        if name == "mode" and value:
            mode = pickup_mode(value)
            if mode is None:
                raise ValueError(f"unknown pickup mode {value!r}")
            return {"kind": FAMILIES, "mode": str(mode)}
        raise ValueError(f"families take sector=... or mode=..., not {rest!r}")
    if head == NO_ANSWER and rest.isdigit():
        return {"kind": NO_ANSWER, "meeting_id": int(rest)}
    if head in (EVERYONE, "all") and not rest:
        return {"kind": EVERYONE}
    raise ValueError(f"unknown target {text!r}")


def sector_key(sector: str) -> str:
    """A short, stable tag for a sector, to carry in a button instead of its name."""
    return f"{zlib.crc32(normalise_name(sector).encode()):08x}"
