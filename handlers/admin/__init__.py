"""The team's tools in chat: `/panel` opens a menu of sections, each allowed to some roles.

Sections live in their own modules and register here; every admin button and flow goes
through `guard`, which refuses everyone else politely and logs the attempt."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy import select

from handlers.core import Router, Turn
from handlers.events import Button
from locales import Msg
from storage.models import Program, Role

ADMIN = frozenset({Role.GESTORA, Role.COORDINADORA})
STAFF = ADMIN | {Role.RECINTO}
PREFIX = "adm"

router = Router()

Handler = Callable[[Turn, list[str]], Awaitable[None]]


@dataclass(frozen=True)
class Section:
    key: str
    label: str  # message key of the menu button
    roles: frozenset[str]
    order: int
    open: Handler  # called with the action's remaining parts, e.g. ["list"]


SECTIONS: dict[str, Section] = {}


def section(key: str, label: str, *, roles: frozenset[str] = ADMIN, order: int = 50
            ) -> Callable[[Handler], Handler]:
    """Register a section; its buttons are actions `adm:<key>:...` routed to the handler."""

    def deco(fn: Handler) -> Handler:
        if key in SECTIONS:
            raise ValueError(f"admin section {key!r} registered twice")
        SECTIONS[key] = Section(key, label, frozenset(roles), order, fn)
        return fn
    return deco


class Verbs(dict[str, Handler]):
    """A section's buttons by verb: `adm:<section>:<verb>:<args...>` reaches the handler
    registered for <verb> with <args>; an unknown verb is a stale button."""

    def __call__(self, name: str) -> Callable[[Handler], Handler]:
        def deco(fn: Handler) -> Handler:
            self[name] = fn
            return fn
        return deco

    async def dispatch(self, turn: Turn, parts: list[str]) -> None:
        name, args = (parts[0], parts[1:]) if parts else ("", [])
        handler = self.get(name)
        if handler is None:
            turn.say("input.button_stale")
            return
        await handler(turn, args)


def roles_of(turn: Turn) -> set[str]:
    return {g.role for g in turn.person.roles}


def allowed(turn: Turn, roles: frozenset[str]) -> bool:
    return bool(roles_of(turn) & roles) and turn.person.consent_at is not None


def guard(turn: Turn, roles: frozenset[str] = ADMIN, what: str = "") -> bool:
    """True when the person may do this; otherwise a polite refusal and a log entry."""
    if allowed(turn, roles):
        return True
    turn.audit("admin_refused", what=what or turn.action or turn.event.command or "")
    turn.say("admin.refused")
    return False


async def current_program(turn: Turn) -> Program | None:
    """The programme this person works on: their own, or the newest for global admins."""
    if turn.person.program_id is not None:
        return await turn.session.get(Program, turn.person.program_id)
    return await turn.session.scalar(select(Program).order_by(Program.id.desc()).limit(1))


def action(section_key: str, *parts: object) -> str:
    return ":".join([PREFIX, section_key, *(str(p) for p in parts)])


def back_to_panel() -> Button:
    return Button(Msg("admin.back_to_panel"), action("menu"))


def menu_buttons(turn: Turn) -> list[list[Button]]:
    mine = roles_of(turn)
    visible = sorted((s for s in SECTIONS.values() if s.roles & mine), key=lambda s: s.order)
    return [[Button(Msg(s.label), action(s.key))] for s in visible]


@router.command("panel")
async def panel(turn: Turn) -> None:
    if not guard(turn, STAFF, "panel"):
        return
    turn.go(None)
    turn.say("admin.panel", buttons=menu_buttons(turn))


@router.on_action(PREFIX)
async def on_admin_button(turn: Turn) -> None:
    parts = (turn.action or "").split(":")[1:]
    if not parts:
        turn.say("input.button_stale")
        return
    if parts[0] == "menu":
        await panel(turn)
        return
    sec = SECTIONS.get(parts[0])
    if sec is None:
        turn.say("input.button_stale")
        return
    if not guard(turn, sec.roles, ":".join(parts[:2])):
        return
    await sec.open(turn, parts[1:])
