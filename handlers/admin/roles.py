"""Panel section "roles": who has which role, and granting or revoking one.

Buttons (after ``adm:roles:``): ``pk`` start picking a person, ``pg:<page>`` turn the
picker's page, ``p:<person>`` show a person's roles, ``t:<person>:<role>`` grant or revoke
the role, ``x`` stop. While picking, typed text searches names (flow ``adm_roles``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from domain.roles import GRANTABLE, RoleError, roles_here
from handlers.admin import ADMIN, action, back_to_panel, current_program, guard, pager, section
from handlers.core import Router, Turn
from handlers.events import Button, EventKind, Outgoing
from locales import Msg, Raw
from services.messages import Pager
from services.people import person_label, person_name
from storage import admin_meetings as data
from storage.models import Person, Program

router = Router()

KEY = "roles"
FLOW = "adm_roles"
PAGE_SIZE = 8
LIST_MAX = 40  # lines of the roles list: more is not read, it is searched
LINE_CHARS = 100  # room one line of it takes at most: a name and its roles
QUERY_MAX = 60
VERBS = ("", "pk", "pg", "p", "t", "x")  # every button of this section, for the refusal test


# --- a person picker, shared with the meetings section ------------------------------------------


def picker(found: Sequence[Person], page: int, query: str, *,
           pick: Callable[[int], str], turn_page: Callable[[int], str], cancel: str,
           intro: str) -> tuple[Msg, list[list[Button]], Pager | None]:
    """One page of people (eight) as buttons and Cancelar, and where the pages stand."""
    pages = max(1, -(-len(found) // PAGE_SIZE))
    page = min(max(page, 0), pages - 1)
    shown = found[page * PAGE_SIZE:(page + 1) * PAGE_SIZE]
    rows = [[Button(person_label(p), pick(p.id))] for p in shown]
    rows.append([Button(Msg("adm_roles.cancel"), cancel)])
    if query and not found:
        text = Msg("adm_roles.pick_none", {"query": Raw(query), "intro": Msg(intro)})
    elif query:
        text = Msg("adm_roles.pick_results", {"query": Raw(query), "count": len(found),
                                              "intro": Msg(intro)})
    else:
        text = Msg(intro)
    return text, rows, pager(page, pages, turn_page)


def typed_query(turn: Turn) -> str | None:
    ev = turn.event
    if ev.kind != EventKind.TEXT or not (ev.text or "").strip():
        return None
    return ev.text.strip()[:QUERY_MAX]


# --- the section ---------------------------------------------------------------------------------


def _role_name(role: str) -> Msg:
    return Msg(f"adm_roles.role_{role}")


def _roles_text(roles: Sequence[str]) -> Msg:
    if not roles:
        return Msg("adm_roles.no_roles")
    # A list parameter renders one item per line; roles read better on one, so they chain.
    out = _role_name(roles[0])
    for role in roles[1:]:
        out = Msg("adm_roles.and", {"first": out, "next": _role_name(role)})
    return out


@section(KEY, "adm_roles.menu", roles=ADMIN, order=10)
async def open_roles(turn: Turn, parts: list[str]) -> None:
    if not guard(turn, ADMIN, "roles:" + ":".join(parts[:1])):
        return
    program = await current_program(turn)
    if program is None:
        turn.say("adm_roles.no_program", buttons=[[back_to_panel()]])
        return
    verb, args = (parts[0] if parts else ""), parts[1:]
    if verb == "":
        await _list(turn, program)
    elif verb == "pk":
        turn.go(FLOW, "pick", q="")
        await _show_picker(turn, program, 0, "")
    elif verb == "pg" and args and args[0].lstrip("-").isdigit():
        query = turn.data("q", "") if turn.convo.flow == FLOW else ""
        await _show_picker(turn, program, int(args[0]), query, redraw=True)
    elif verb == "p" and args and args[0].isdigit():
        await _card(turn, program, int(args[0]))
    elif verb == "t" and len(args) == 2 and args[0].isdigit():
        await _toggle(turn, program, int(args[0]), args[1])
    elif verb == "x":
        if turn.convo.flow == FLOW:
            turn.go(None)
        turn.say("adm_roles.cancelled", buttons=[[back_to_panel()]])
    else:
        turn.say("input.button_stale")


async def _list(turn: Turn, program: Program) -> None:
    rows = await data.people_with_roles(turn.session, program.id)
    # One message holds the list, within what the person's channel takes.
    shown = max(1, min(LIST_MAX, turn.caps.text_chars // LINE_CHARS))
    lines: list[Msg] = [
        Msg("adm_roles.row", {"name": person_name(p), "roles": _roles_text(roles)})
        for p, roles in rows[:shown]
    ]
    if len(rows) > shown:
        lines.append(Msg("adm_roles.more", {"count": len(rows) - shown}))
    buttons = [[Button(Msg("adm_roles.btn_change"), action(KEY, "pk"))], [back_to_panel()]]
    if not rows:
        turn.say("adm_roles.list_empty", buttons=buttons)
        return
    turn.say("adm_roles.list", program=Raw(program.name), rows=lines, count=len(rows),
             buttons=buttons)


async def _show_picker(turn: Turn, program: Program, page: int, query: str, *,
                       redraw: bool = False) -> None:
    found = await data.program_people(turn.session, program.id, query)
    text, rows, pages = picker(found, page, query, pick=lambda pid: action(KEY, "p", pid),
                        turn_page=lambda n: action(KEY, "pg", n), cancel=action(KEY, "x"),
                        intro="adm_roles.pick")
    out = Outgoing(text=text, buttons=tuple(tuple(r) for r in rows), pager=pages)
    turn.redraw(out) if redraw else turn.send(out)


def _card_message(person: Person, program: Program) -> Outgoing:
    held = roles_here(person.roles, program.id)
    buttons = [
        Button(Msg("adm_roles.has" if role in held else "adm_roles.add",
                   {"role": _role_name(role)}), action(KEY, "t", person.id, role))
        for role in GRANTABLE
    ]
    rows = [buttons[i:i + 2] for i in range(0, len(buttons), 2)]
    rows.append([Button(Msg("adm_roles.other_person"), action(KEY, "pk"))])
    rows.append([back_to_panel()])
    return Outgoing(
        text=Msg("adm_roles.card", {"name": person_label(person), "roles": _roles_text(held)}),
        buttons=tuple(tuple(r) for r in rows),
    )


async def _card(turn: Turn, program: Program, person_id: int) -> None:
    person = await data.person_with_roles(turn.session, person_id)
    if person is None or person.erased_at is not None:
        turn.say("adm_roles.gone")
        return
    if turn.convo.flow == FLOW:
        turn.go(None)
    turn.send(_card_message(person, program))


async def _toggle(turn: Turn, program: Program, person_id: int, role: str) -> None:
    person = await data.person_with_roles(turn.session, person_id)
    if person is None or person.erased_at is not None:
        turn.say("adm_roles.gone")
        return
    if role not in GRANTABLE:
        turn.say("input.button_stale")
        return
    held = role in roles_here(person.roles, program.id)
    try:
        if held:
            changed = await data.revoke_role(turn.session, person, role, program, turn.now,
                                             by=turn.person.id)
        else:
            changed = await data.grant_role(turn.session, person, role, program, turn.now,
                                            by=turn.person.id)
    except RoleError as exc:
        if exc.code == "own_last_admin":
            turn.audit("role_revoke_refused", "person", person.id, role=role,
                       reason=exc.code, program_id=program.id)
            turn.say("adm_roles.own_last_admin", role=_role_name(role))
            return
        raise
    if changed:
        turn.audit("role_revoked" if held else "role_granted", "person", person.id, role=role,
                   program_id=program.id)
    card = _card_message(person, program)
    if turn.event.message_ref:
        turn.redraw(card)
    turn.say("adm_roles.revoked" if held else "adm_roles.granted", name=person_name(person),
             role=_role_name(role))


@router.flow(FLOW)
async def roles_input(turn: Turn) -> None:
    if not guard(turn, ADMIN, f"{FLOW}:{turn.convo.step}"):
        turn.go(None)
        return
    program = await current_program(turn)
    if program is None:
        turn.go(None)
        turn.say("adm_roles.no_program", buttons=[[back_to_panel()]])
        return
    query = typed_query(turn)
    if query is None:
        turn.say("adm_roles.type_a_name", buttons=[[Button(Msg("adm_roles.cancel"),
                                                           action(KEY, "x"))]])
        return
    turn.go(FLOW, "pick", q=query)
    await _show_picker(turn, program, 0, query)
