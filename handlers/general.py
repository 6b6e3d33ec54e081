"""What anyone can do anywhere: help, language, and kind answers to what we cannot read."""

from __future__ import annotations

from handlers import codes, forms, registration, web_panel
from handlers.core import Router, Turn
from handlers.events import Button, EventKind
from locales import Msg
from storage.models import Role
from storage.programs import STAFF_ROLES

router = Router()

HELP_BY_ROLE = {
    Role.GESTORA: "help.admin",
    Role.COORDINADORA: "help.admin",
    Role.RECINTO: "help.recinto",
    Role.REPRESENTANTE: "help.representative",
    Role.GRUPO_MOTOR: "help.member",
    Role.CONSEJO_LOCAL: "help.member",
    Role.FAMILIA: "help.family",
}


@router.command("ayuda", "help")
async def help_(turn: Turn) -> None:
    roles = {g.role for g in turn.person.roles}
    sections = [Msg("help.everyone")]
    for role, key in HELP_BY_ROLE.items():
        if role in roles and Msg(key) not in sections:
            sections.append(Msg(key))
    if Msg("help.representative") in sections and Msg("help.member") in sections:
        sections.remove(Msg("help.member"))  # the representative's lines already say it
    if Msg("help.admin") in sections and Msg("help.recinto") in sections:
        sections.remove(Msg("help.recinto"))
    if len(turn.standing.programs_with(STAFF_ROLES)) > 1:
        sections.append(Msg("help.programs"))
    if roles - {Role.FAMILIA} or not roles:
        # A family's part is its pickups; the forms are the organisations' and members'.
        sections += await forms.help_lines(turn)
    sections += web_panel.help_lines(turn)
    turn.say("help.intro", sections=sections)


@router.command("idioma", "language")
async def language(turn: Turn) -> None:
    turn.say(
        "lang.ask",
        buttons=[[Button(Msg("lang.name_es"), "lang:es"), Button(Msg("lang.name_en"), "lang:en")]],
    )


async def fallback(turn: Turn) -> None:
    """The answer to what no command, button or flow took (handlers.routes makes it the
    router's fallback, after the team's stray spreadsheets)."""
    ev = turn.event
    if ev.kind == EventKind.UNSUPPORTED:
        turn.say("input.unsupported")
    elif turn.person.consent_at is None and ev.kind == EventKind.TEXT:
        await registration.begin(turn)
    elif turn.person.consent_at is None:
        turn.say("input.start_first")
    elif not await codes.typed_code(turn):
        turn.say("input.not_understood")
