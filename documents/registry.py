"""The verificadores Convoca can make, by the name a programme template gives them
(``verifiers: - key: ... document: <producer>``).

A producer says what it is made for (the whole programme, one session, one body, one
plan, one agreed text), which of them exist already (its *evidence*: the progress report
lists them, the chat and the command line offer them) and how to make the file. Each
document module registers its producers when imported; :mod:`documents.verificadores`
imports them all, so callers import that one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession

from documents.base import FONT_DIRS, Ctx, ExportFile
from domain.program_templates import program_template_or_none
from storage.models import Program

Scope = Literal["program", "meeting", "body", "organization", "plan", "text"]
SCOPES: tuple[Scope, ...] = ("program", "meeting", "body", "organization", "plan", "text")


@dataclass(frozen=True)
class Evidence:
    """One document that can be made now for a verifier: what it is of, and the day it
    speaks of (the session's, the signing's, the plan's approval...)."""

    subject_id: int | None  # the meeting, body, organisation, plan or text; None: programme
    label: str  # in the reader's language, short enough for a button (≤ 40 characters)
    on: date | None


@dataclass(frozen=True)
class Request:
    session: AsyncSession
    program: Program
    verifier: str  # the template's key: one producer may serve several (agreed_text)
    ctx: Ctx  # the reader's language, the programme's zone, the moment of generation
    fmt: str = "pdf"
    subject_id: int | None = None
    # Printable for handwritten signatures: the names and the text, no signature recorded.
    blank: bool = False
    # For evidence of a session's document: the kind of session of the activity asking.
    meeting_kind: str | None = None
    font_dirs: Sequence[Path] = field(default=FONT_DIRS)


def body_kind(req: Request) -> str | None:
    """The kind of body (grupo_motor, consejo_local) whose sessions the asking activity is
    about, if any: the Consejo Local's constitution asks for the Consejo Local's
    declarations and protocol, not the Grupo Motor's."""
    if not req.meeting_kind:
        return None
    template = program_template_or_none(req.program)
    if template is None:
        return None
    try:
        return template.meeting_kind(req.meeting_kind).body
    except KeyError:
        return None


Make = Callable[[Request], Awaitable[list[ExportFile]]]
Find = Callable[[Request], Awaitable[list[Evidence]]]


@dataclass(frozen=True)
class Producer:
    key: str
    formats: tuple[str, ...]  # the first is the one to offer first
    scope: Scope
    evidence: Find
    make: Make
    blank: bool = False  # offers a blank copy for handwritten signatures
    # The forms it is made from: a programme template naming it must use them (checked
    # where a template is loaded; without them making it fails).
    forms: tuple[str, ...] = ()


PRODUCERS: dict[str, Producer] = {}


def register(producer: Producer) -> Producer:
    if producer.key in PRODUCERS:
        raise ValueError(f"document producer {producer.key!r} registered twice")
    if producer.scope not in SCOPES or not producer.formats:
        raise ValueError(f"document producer {producer.key!r}: bad scope or no formats")
    PRODUCERS[producer.key] = producer
    return producer


def producer(key: str, *, formats: tuple[str, ...], scope: Scope, evidence: Find,
             blank: bool = False, forms: tuple[str, ...] = ()) -> Callable[[Make], Make]:
    """Register the decorated function as the maker of document ``key``."""

    def deco(make: Make) -> Make:
        register(Producer(key, formats, scope, evidence, make, blank, forms))
        return make
    return deco
