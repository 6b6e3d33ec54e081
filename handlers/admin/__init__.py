"""The team's tools in chat: `/panel` opens a menu of sections, each allowed to some roles.

Sections live in their own modules and register here; every admin button and flow goes
through `guard`, which refuses everyone else politely and logs the attempt.

Roles are held per programme. A team member works on one programme at a time: the only
one where they are on the team, or the one they chose (`/programa`, or the buttons the
panel shows) when they are on the team of several. Every section works on that one, and
only with the roles held there."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date
from zoneinfo import ZoneInfo

from handlers import typed_buttons, web_panel
from handlers.core import RouteConflict, Router, Turn, said_words
from handlers.events import Button, Outgoing
from locales import Msg, Raw
from services.messages import Pager
from storage.models import Program, Role
from storage.programs import STAFF_ROLES, Choose

ADMIN = frozenset({Role.GESTORA, Role.COORDINADORA})
STAFF = STAFF_ROLES
PREFIX = "adm"
CHOOSE = "prg"  # the buttons that choose the programme to work on: prg:<id>

router = Router()

Handler = Callable[[Turn, list[str]], Awaitable[None]]


@dataclass(frozen=True)
class Section:
    key: str
    label: str  # message key of the menu button
    roles: frozenset[str]
    order: int
    open: Handler  # called with the action's remaining parts, e.g. ["list"]
    group: str | None = None  # shown inside one of GROUPS' buttons, not on the panel itself


@dataclass(frozen=True)
class Group:
    """Sections the panel shows behind one button, so that it stays one short list (WhatsApp
    shows at most ten rows at once)."""

    key: str
    label: str  # message key of the panel's button
    prompt: str  # message key of the text above the group's buttons
    order: int


# The programme's records, in the order the programme makes them: commitments and bodies,
# the diagnosis and the plans, the actas and their follow-up, the agreed texts, the closing.
RECORDS = "records"
GROUPS: dict[str, Group] = {
    RECORDS: Group(RECORDS, "admin.group_records", "admin.group_records_prompt", 62),
}
GROUP_ACTION = "grp"

SECTIONS: dict[str, Section] = {}


def section(key: str, label: str, *, roles: frozenset[str] = ADMIN, order: int = 50,
            group: str | None = None) -> Callable[[Handler], Handler]:
    """Register a section; its buttons are actions `adm:<key>:...` routed to the handler."""
    if group is not None and group not in GROUPS:
        raise ValueError(f"the panel section {key!r} names an unknown group {group!r}")

    def deco(fn: Handler) -> Handler:
        if key in SECTIONS or key in (GROUP_ACTION, "menu", "program"):
            raise RouteConflict(f"the panel section {key!r}",
                                SECTIONS[key].open if key in SECTIONS else panel, fn)
        SECTIONS[key] = Section(key, label, frozenset(roles), order, fn, group)
        return fn
    return deco


class Verbs(dict[str, Handler]):
    """A section's buttons by verb: `adm:<section>:<verb>:<args...>` reaches the handler
    registered for <verb> with <args>; an unknown verb is a stale button."""

    def __call__(self, name: str) -> Callable[[Handler], Handler]:
        def deco(fn: Handler) -> Handler:
            if name in self:
                raise RouteConflict(f"the panel verb {name!r}", self[name], fn)
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


def acting_program(turn: Turn) -> int | Choose | None:
    """The programme this team member works on now (see the module's docstring)."""
    return turn.standing.acting(STAFF)


def roles_of(turn: Turn) -> frozenset[str]:
    """The person's roles in the programme they work on (all of them while none exists)."""
    acting = acting_program(turn)
    if isinstance(acting, Choose):
        return frozenset()
    return turn.standing.roles_in(acting)


def allowed(turn: Turn, roles: frozenset[str]) -> bool:
    return bool(roles_of(turn) & roles) and turn.person.consent_at is not None


def guard(turn: Turn, roles: frozenset[str] = ADMIN, what: str = "") -> bool:
    """True when the person may do this in the programme they work on; otherwise a polite
    refusal and a log entry, or, on the team of several programmes without having chosen
    one, the question which."""
    if allowed(turn, roles):
        return True
    acting = acting_program(turn)
    if isinstance(acting, Choose) and turn.person.consent_at is not None and any(
            turn.standing.roles_in(p) & roles for p in acting.program_ids):
        turn.go(None)
        ask_program(turn)
        return False
    turn.audit("admin_refused", what=what or turn.action or turn.event.command or "")
    if isinstance(acting, int) and turn.person.consent_at is not None and any(
            turn.standing.roles_in(p) & roles for p in turn.standing.held):
        # They hold it in another of their programmes: say where they are and how to move.
        turn.say("admin.refused_here", program=Raw(turn.standing.names.get(acting, "")))
        return False
    turn.say("admin.refused")
    return False


async def current_program(turn: Turn) -> Program | None:
    """The programme this person works on; its zone is the one this turn's times are in."""
    acting = acting_program(turn)
    if not isinstance(acting, int):
        return None
    program = await turn.session.get(Program, acting)
    if program is not None:
        turn.show_times_in(program.timezone)
    return program


async def program_or_say(turn: Turn, no_program: str) -> Program | None:
    """The programme this person works on; without one, the section's ``no_program``
    message (and an end to any flow), so the caller only has to stop."""
    program = await current_program(turn)
    if program is None:
        turn.go(None)
        turn.say(no_program, buttons=[[back_to_panel()]])
    return program


def program_today(turn: Turn, program: Program) -> date:
    """Today where the programme is: the day its dates and deadlines are counted from."""
    return turn.now.astimezone(ZoneInfo(program.timezone)).date()


def ask_program(turn: Turn, key: str = "admin.choose_program") -> None:
    """Which programme to work on: one button each, the current one marked."""
    st = turn.standing
    current = acting_program(turn)
    turn.say(key, buttons=[
        [Button(Msg("admin.program_current" if pid == current else "admin.program_other",
                    {"name": Raw(st.names.get(pid, str(pid)))}), f"{CHOOSE}:{pid}")]
        for pid in st.programs_with(STAFF)
    ])


@router.command("programa", "program")
async def programa(turn: Turn) -> None:
    if not guard(turn, STAFF, "programa"):
        return
    if len(turn.standing.programs_with(STAFF)) < 2:
        program = await current_program(turn)
        if program is None:
            turn.say("adm_stages.no_program")
        else:
            turn.say("admin.only_program", program=Raw(program.name))
        return
    ask_program(turn, "admin.which_program")


@router.on_action(CHOOSE)
async def choose_program(turn: Turn) -> None:
    chosen = (turn.action or "").partition(":")[2]
    if turn.person.consent_at is None or not (chosen.isascii() and chosen.isdigit()) \
            or int(chosen) not in turn.standing.programs_with(STAFF):
        # A button from before a role was taken away, or not from this person at all.
        turn.audit("admin_refused", what=f"{CHOOSE}:{chosen}")
        turn.say("admin.refused")
        return
    turn.person.chosen_program_id = int(chosen)
    turn.audit("program_chosen", "program", int(chosen))
    await turn.place()
    program = await current_program(turn)
    turn.go(None)
    turn.say("admin.program_chosen", program=Raw(program.name if program else chosen),
             buttons=menu_buttons(turn))


def action(section_key: str, *parts: object) -> str:
    return ":".join([PREFIX, section_key, *(str(p) for p in parts)])


def int_at(parts: list[str], i: int) -> int | None:
    """The ``i``-th part of a button's data or a typed command as a number, if it is one."""
    return int(parts[i]) if len(parts) > i and parts[i].isascii() and parts[i].isdigit() else None


def pager(page: int, pages: int, make: Callable[[int], str]) -> Pager | None:
    """Where a list of ``pages`` pages stands (``make`` gives a page's action); none for one."""
    if pages <= 1:
        return None
    return Pager(page, pages, make(page - 1) if page > 0 else None,
                 make(page + 1) if page < pages - 1 else None)


ProgramVerb = Callable[[Turn, Program, list[str]], Awaitable[None]]


async def run_in_program(turn: Turn, parts: list[str], verbs: dict[str, ProgramVerb], *,
                         what: str, no_program: str) -> None:
    """A section's button ``<verb>:<args...>`` run in the programme the person works on:
    refused to whoever may not, the section's ``no_program`` message without one, an
    unknown verb answered as a stale button."""
    verb = parts[0] if parts else ""
    if not guard(turn, ADMIN, f"{what}:{verb}"):
        return
    program = await program_or_say(turn, no_program)
    if program is None:
        return
    handler = verbs.get(verb)
    if handler is None:
        turn.say("input.button_stale")
        return
    await handler(turn, program, parts[1:])


def typed_done(turn: Turn, text: str) -> bool:
    """Whether the text a person types in a long entry ("listo", "terminé", in any
    language) means they have finished it, as the "Listo" button would."""
    return typed_buttons.plain(text) in said_words(turn.services.catalogs,
                                                   "adm_texts.done_words")


def back_to_panel() -> Button:
    return Button(Msg("admin.back_to_panel"), action("menu"))


def menu_buttons(turn: Turn) -> list[list[Button]]:
    mine = roles_of(turn)
    visible = [s for s in SECTIONS.values() if s.roles & mine]
    entries: list[tuple[int, Button]] = [
        (s.order, Button(Msg(s.label), action(s.key))) for s in visible if s.group is None]
    for g in GROUPS.values():
        if any(s.group == g.key for s in visible):
            entries.append((g.order, Button(Msg(g.label), action(GROUP_ACTION, g.key))))
    rows = [[b] for _order, b in sorted(entries, key=lambda e: e[0])]
    if len(turn.standing.programs_with(STAFF)) > 1:
        rows.append([Button(Msg("admin.change_program"), action("program"))])
    return rows


@router.command("panel")
async def panel(turn: Turn) -> None:
    if not guard(turn, STAFF, "panel"):
        return
    turn.go(None)
    if len(turn.standing.programs_with(STAFF)) > 1:
        program = await current_program(turn)
        text = Msg("admin.panel_of", {"program": Raw(program.name if program else "")})
    else:
        text = Msg("admin.panel")
    # The way to the web panel goes in the text: the menu is at the ten rows a list holds.
    turn.send(Outgoing(text=web_panel.with_hint(turn, text),
                       buttons=tuple(tuple(row) for row in menu_buttons(turn))))


@router.on_action(PREFIX)
async def on_admin_button(turn: Turn) -> None:
    parts = (turn.action or "").split(":")[1:]
    if not parts:
        turn.say("input.button_stale")
        return
    if parts[0] == "menu":
        await panel(turn)
        return
    if parts[0] == "program":
        await programa(turn)
        return
    if parts[0] == GROUP_ACTION:
        await _open_group(turn, parts[1] if len(parts) > 1 else "")
        return
    sec = SECTIONS.get(parts[0])
    if sec is None:
        turn.say("input.button_stale")
        return
    if not guard(turn, sec.roles, ":".join(parts[:2])):
        return
    await sec.open(turn, parts[1:])


async def _open_group(turn: Turn, key: str) -> None:
    g = GROUPS.get(key)
    mine = roles_of(turn)
    members = sorted((s for s in SECTIONS.values() if s.group == key and s.roles & mine),
                     key=lambda s: s.order)
    if g is None or not members:
        if g is not None and not guard(turn, frozenset().union(
                *(s.roles for s in SECTIONS.values() if s.group == key)), f"grp:{key}"):
            return
        turn.say("input.button_stale")
        return
    turn.go(None)
    turn.say(g.prompt, buttons=[[Button(Msg(s.label), action(s.key))] for s in members]
             + [[back_to_panel()]])
