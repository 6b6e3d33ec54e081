"""`/web`: the team asks the bot for a way into the web panel. A staff member gets a
one-time link (services.web_access: 15 minutes, once) and a button that closes every
session of theirs; on a channel that keeps a web app beside the chat, the panel is put there
too. Anyone else is told kindly that the panel is the team's, and gets no link.

`/web salir` (or the button ``web:out``) closes all of this person's panel sessions. The
service audits both."""

from __future__ import annotations

from handlers.core import Router, Turn
from handlers.events import Button, Outgoing
from locales import Msg, Raw
from services import web_access

PREFIX = "web"
CLOSE = f"{PREFIX}:out"

router = Router()


def close_button() -> Button:
    return Button(Msg("web_chat.close_button"), CLOSE)


def with_hint(turn: Turn, text: Msg) -> Msg:
    """/panel's text, with how to get into the web panel where this installation runs one."""
    if turn.services.panel_url is None:
        return text
    return Msg("web_chat.with_hint", {"text": text, "hint": Msg("web_chat.panel_hint")})


def help_lines(turn: Turn) -> list[Msg]:
    """/ayuda's line about /web, for whoever may open the panel where one runs."""
    if turn.services.panel_url is None or not web_access.may_use_panel(turn.person):
        return []
    return [Msg("web_chat.help")]


@router.command("web")
async def web(turn: Turn) -> None:
    turn.go(None)
    if turn.person.consent_at is None:
        turn.say("input.start_first")
        return
    if not web_access.may_use_panel(turn.person):
        turn.audit("admin_refused", what="web")
        turn.say("web_chat.not_for_you")
        return
    if (turn.event.args or "").strip().lower() in ("salir", "out", "logout"):
        await close_all(turn)
        return
    base = turn.services.panel_url
    if base is None:
        turn.say("web_chat.panel_off")
        return
    token = web_access.issue_login(turn.session, turn.person, turn.now)
    if token is None:  # may_use_panel said yes a moment ago: only a race could get here
        turn.say("web_chat.not_for_you")
        return
    app = turn.services.panel_app_url
    turn.send(Outgoing(
        text=Msg("web_chat.link", {"url": Raw(f"{base}/web/login/{token}"),
                                   "minutes": int(web_access.LOGIN_TTL.total_seconds() // 60)}),
        buttons=((close_button(),),),
        menu_app=(Msg("web_chat.menu_button"), app)
        if app is not None and turn.caps.menu_app else None,
    ))


async def close_all(turn: Turn) -> None:
    closed = await web_access.close_all(turn.session, turn.person.id, turn.now)
    if closed:
        turn.say("web_chat.closed", count=closed)
    else:
        turn.say("web_chat.closed_none")


@router.on_action(PREFIX)
async def on_button(turn: Turn) -> None:
    if turn.action != CLOSE:
        turn.say("input.button_stale")
        return
    if turn.person.consent_at is None or not web_access.may_use_panel(turn.person):
        # A button kept from before a role was taken away: nothing of theirs is open anyway.
        turn.audit("admin_refused", what=CLOSE)
        turn.say("web_chat.not_for_you")
        return
    await close_all(turn)
