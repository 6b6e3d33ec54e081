"""A person's own data: see all of it (/mis_datos), erase it (/borrar_mis_datos), or stop
the notices (/stop; /start turns them back on)."""

from __future__ import annotations

import json
from typing import Any

from documents.privacy_pdf import personal_data_pdf
from handlers.core import Router, Turn
from handlers.events import Attachment, Button, EventKind, Outgoing
from locales import Msg, Raw, When
from storage import privacy
from storage.models import Person, Role

FLOW = "erase"
EXPORT_FILENAME = "mis_datos.json"

router = Router()

ROLE_NAMES = {
    Role.GESTORA: Msg("privacy.role_gestora"),
    Role.COORDINADORA: Msg("privacy.role_coordinadora"),
    Role.RECINTO: Msg("privacy.role_recinto"),
    Role.GRUPO_MOTOR: Msg("privacy.role_grupo_motor"),
    Role.CONSEJO_LOCAL: Msg("privacy.role_consejo_local"),
    Role.REPRESENTANTE: Msg("privacy.role_representante"),
    Role.FAMILIA: Msg("privacy.role_familia"),
    Role.SUPERVISOR: Msg("privacy.role_supervisor"),
}
LANGUAGE_NAMES = {"es": Msg("lang.name_es"), "en": Msg("lang.name_en")}


def _or_none(text: str | None, noun: str) -> Msg | Raw:
    # Each noun its own empty text: "Familia: (ninguna)", never one shared "(ninguno)".
    return Raw(text) if text else Msg(f"privacy.none_{noun}")


def _items(values: list[Msg | Raw], noun: str) -> list[Msg]:
    return [Msg("privacy.item", {"item": v})
            for v in values or [Msg(f"privacy.none_{noun}")]]


def _unique(names: list[str | None]) -> list[Raw]:
    return [Raw(n) for n in dict.fromkeys(n for n in names if n)]


def summary(data: dict[str, Any], person: Person) -> Msg:
    """The export in a few lines a person can read on a small phone."""
    counts = privacy.summary_counts(data)
    roles = [ROLE_NAMES.get(r) or Raw(r) for r in data["roles"]]
    return Msg("privacy.summary", {
        "name": _or_none(person.name, "name"),
        "phone": _or_none(person.phone, "phone"),
        "language": LANGUAGE_NAMES.get(person.locale or "", Msg("privacy.none_language")),
        "consent": When(person.consent_at, "date") if person.consent_at
        else Msg("privacy.consent_none"),
        "roles": _items(roles, "roles"),
        "organizations": _items(_unique([r.get("organization_name")
                                         for r in data["representatives"]]), "organizations"),
        "bodies": _items(_unique([r.get("body_name") for r in data["memberships"]]), "bodies"),
        "family": _or_none(", ".join(f["name"] for f in data["families"]) or None, "family"),
        **counts,
    })


@router.command("mis_datos", "my_data")
async def my_data(turn: Turn) -> None:
    """A few lines to read at once, a PDF to read or print, and the complete JSON for a
    computer, in that order: most people need only the first two."""
    data = await privacy.export_person(turn.session, turn.person.id)
    document = {"exported_at": turn.now.isoformat(), **data}
    content = json.dumps(document, ensure_ascii=False, indent=2).encode("utf-8")
    readable = await personal_data_pdf(
        turn.session, data, now=turn.now, locale=turn.locale, catalogs=turn.services.catalogs,
        timezone=turn.timezone)  # the person's programme's, as every reply of theirs
    turn.send(Outgoing(text=summary(data, turn.person)))
    turn.send(Outgoing(
        text=Msg("privacy.pdf_caption"),
        attachment=Attachment(readable.filename, readable.content, readable.mime_type),
    ))
    turn.send(Outgoing(
        text=Msg("privacy.file_caption"),
        attachment=Attachment(EXPORT_FILENAME, content, "application/json"),
    ))
    turn.audit("data_exported", "person", turn.person.id)


def _erase_buttons() -> list[list[Button]]:
    return [[Button(Msg("privacy.erase_yes"), "erase:yes"),
             Button(Msg("privacy.erase_no"), "erase:no")]]


@router.command("borrar_mis_datos", "delete_my_data")
async def ask_erase(turn: Turn) -> None:
    turn.go(None)
    turn.go(FLOW, "confirm")
    turn.say("privacy.erase_confirm", buttons=_erase_buttons())


@router.on_action("erase")
async def on_erase(turn: Turn) -> None:
    # Erasing cannot be undone: an old button pressed outside the question does nothing.
    if turn.convo.flow != FLOW:
        turn.say("privacy.erase_expired")
        return
    if turn.action != "erase:yes":
        turn.go(None)
        turn.say("privacy.erase_cancelled")
        return
    locale = turn.locale
    pid = turn.person.id
    await privacy.erase_person(turn.session, pid, turn.now, actor_id=pid,
                               channel=turn.event.channel)
    turn.say("privacy.erased")
    # The goodbye goes to the address this event came from (the core writes it without a
    # person); this unsaved stand-in only keeps it in the language the person used.
    turn.person = Person(locale=locale)
    turn.erased = True


@router.flow(FLOW, before_consent=True)
async def erase_input(turn: Turn) -> None:
    if turn.event.kind == EventKind.UNSUPPORTED:
        turn.say("input.unsupported")
    turn.say("privacy.erase_use_buttons", buttons=_erase_buttons())


@router.command("stop", said="privacy.stop_words")
async def stop(turn: Turn) -> None:
    if turn.person.opted_out_at is not None:
        turn.say("privacy.already_stopped")
        return
    turn.person.opted_out_at = turn.now
    turn.audit("opt_out")
    turn.say("privacy.stopped")
