"""Invitations and broadcasts: choose who (a body, the organisations, some of them, the
families of a sector or of a pickup mode, everyone), see exactly what each language will
read, send through the outbox, and watch the progress: a report that updates (in place where
the channel can) until the final one (delivered, blocked, failed, not linked yet).

Button actions are ``adm:outreach:<verb>:...``; free input while in the flow
``adm_outreach`` (the broadcast's text). The progress is kept current by
``services.outreach.update_progress_messages``, which the scheduler's tick and the dispatcher's
``on_sent`` call: a handler never holds a task beyond its turn."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from domain import targets
from handlers.admin import (
    ADMIN,
    Verbs,
    action,
    back_to_panel,
    guard,
    int_at,
    program_or_say,
    section,
)
from handlers.core import Router, Turn
from handlers.events import Button, EventKind, Outgoing
from locales import Msg, Raw, Text, When
from locales.collation import sort_key
from services import meetings as meeting_messages
from services.outreach import (
    TEXT_MAX,
    broadcast_message,
    describe,
    follow,
    invitation_preview,
    preview_texts,
    progress_message,
    queue_invitations,
    recipients_lines,
    send_broadcast,
)
from storage import targeting
from storage.meetings import body_names
from storage.models import (
    Body,
    Meeting,
    MeetingStatus,
    Organization,
    PickupMode,
    Program,
)

KEY = "outreach"
FLOW = "adm_outreach"
PAGE = 8
MEETINGS_SHOWN = 8

router = Router()


# --- what the panel lists ------------------------------------------------------------------------


async def upcoming_meetings(session: AsyncSession, program_id: int, now: datetime,
                            limit: int = MEETINGS_SHOWN) -> list[Meeting]:
    return list((await session.scalars(
        select(Meeting).where(Meeting.program_id == program_id,
                              Meeting.status == MeetingStatus.SCHEDULED, Meeting.starts_at > now)
        .order_by(Meeting.starts_at, Meeting.id).limit(limit))).all())


# --- the section ---------------------------------------------------------------------------------


VERBS = Verbs()
verb = VERBS


@section(KEY, "outreach.section", roles=ADMIN, order=25)
async def open_section(turn: Turn, parts: list[str]) -> None:
    if not guard(turn, ADMIN, ":".join([KEY, *parts[:1]])):
        return
    await VERBS.dispatch(turn, parts)


def _cancel() -> Button:
    return Button(Msg("outreach.btn.cancel"), action(KEY, "x"))


def _start(turn: Turn, step: str, **data: Any) -> None:
    turn.go(None)
    turn.go(FLOW, step, **data)


def _in(turn: Turn, *steps: str) -> bool:
    return turn.convo.flow == FLOW and turn.convo.step in steps and turn.data("purpose") in (
        "bc", "inv")


@verb("")
async def menu(turn: Turn, args: list[str]) -> None:
    turn.go(None)
    turn.say("outreach.menu", buttons=[
        [Button(Msg("outreach.btn.broadcast"), action(KEY, "bc"))],
        [Button(Msg("outreach.btn.invite"), action(KEY, "inv"))],
        [back_to_panel()],
    ])


@verb("x")
async def cancel(turn: Turn, args: list[str]) -> None:
    turn.go(None)
    turn.say("outreach.cancelled", buttons=[[Button(Msg("outreach.btn.menu"), action(KEY))],
                                            [back_to_panel()]])


@verb("bc")
async def start_broadcast(turn: Turn, args: list[str]) -> None:
    if await program_or_say(turn, "outreach.no_program") is None:
        return
    _start(turn, "text", purpose="bc")
    turn.say("outreach.ask_text", max=TEXT_MAX, buttons=[[_cancel()]])


async def _text_input(turn: Turn) -> None:
    text = (turn.event.text or "").strip() if turn.event.kind == EventKind.TEXT else ""
    if not text:
        turn.say("outreach.text_only", buttons=[[_cancel()]])
        return
    if len(text) > TEXT_MAX:
        turn.say("outreach.text_too_long", max=TEXT_MAX, count=len(text), buttons=[[_cancel()]])
        return
    turn.go(FLOW, "target", text=text)
    await _ask_target(turn)


@verb("inv")
async def choose_meeting(turn: Turn, args: list[str]) -> None:
    program = await program_or_say(turn, "outreach.no_program")
    if program is None:
        return
    turn.go(None)
    found = await upcoming_meetings(turn.session, program.id, turn.now)
    if not found:
        turn.say("outreach.no_meetings", buttons=[[back_to_panel()]])
        return
    rows = []
    for meeting in found:
        kind_name, _ = await meeting_messages.names(turn.session, meeting)
        what: Any = Raw(meeting.title) if meeting.title else kind_name
        rows.append([Button(Msg("outreach.meeting_button", {"what": what,
                                                            "when": When(meeting.starts_at)}),
                            action(KEY, "m", meeting.id))])
    rows.append([_cancel()])
    turn.say("outreach.which_meeting", buttons=rows)


async def _meeting(turn: Turn, meeting_id: Any, program: Program) -> Meeting | None:
    meeting = await turn.session.get(Meeting, meeting_id) if isinstance(meeting_id, int) else None
    if meeting is None or meeting.program_id != program.id:
        return None
    if meeting.status != MeetingStatus.SCHEDULED or meeting.starts_at <= turn.now:
        return None
    return meeting


@verb("m")
async def meeting_chosen(turn: Turn, args: list[str]) -> None:
    program = await program_or_say(turn, "outreach.no_program")
    if program is None:
        return
    mid = int_at(args, 0)
    meeting = await _meeting(turn, mid, program)
    if meeting is None:
        turn.say("outreach.meeting_gone", buttons=[[back_to_panel()]])
        return
    _start(turn, "target", purpose="inv", meeting_id=meeting.id)
    await _ask_target(turn)


# --- choosing who ---------------------------------------------------------------------------------


async def _ask_target(turn: Turn) -> None:
    program = await program_or_say(turn, "outreach.no_program")
    if program is None:
        return
    rows: list[list[Button]] = []
    bodies = (await turn.session.scalars(
        select(Body).where(Body.program_id == program.id).order_by(Body.id))).all()
    if bodies:
        rows.append([Button(Msg("outreach.btn.body", {"name": Text(body_names(program, b))}),
                            action(KEY, "t", "b", b.id)) for b in bodies])
    rows += [
        [Button(Msg("outreach.btn.organizations"), action(KEY, "t", "o"))],
        [Button(Msg("outreach.btn.some_organizations"), action(KEY, "t", "s"))],
        [Button(Msg("outreach.btn.families"), action(KEY, "t", "f")),
         Button(Msg("outreach.btn.families_sector"), action(KEY, "t", "fs"))],
        [Button(Msg("outreach.btn.families_retiro"), action(KEY, "t", "fm", "r")),
         Button(Msg("outreach.btn.families_domicilio"), action(KEY, "t", "fm", "d"))],
        [Button(Msg("outreach.btn.everyone"), action(KEY, "t", "a"))],
        [_cancel()],
    ]
    turn.say("outreach.ask_target", buttons=rows)


@verb("t")
async def target_chosen(turn: Turn, args: list[str]) -> None:
    if not _in(turn, "target", "check", "confirm"):
        turn.say("input.button_stale")
        return
    program = await program_or_say(turn, "outreach.no_program")
    if program is None:
        return
    what = args[0] if args else ""
    target: dict[str, Any] | None = None
    if what == "b" and len(args) == 2 and args[1].isdigit():
        target = {"kind": targets.BODY, "id": int(args[1])}
    elif what == "o":
        target = {"kind": targets.ORGANIZATIONS}
    elif what == "s":
        turn.go(FLOW, "check", sel=[])
        await _checklist(turn, 0, redraw=False)
        return
    elif what == "f":
        target = {"kind": targets.FAMILIES}
    elif what == "fs" and len(args) == 1:
        await _ask_sector(turn, program)
        return
    elif what == "fs":
        sector = await targeting.sector_by_key(turn.session, program.id, args[1])
        if sector is not None:
            target = {"kind": targets.FAMILIES, "sector": sector}
    elif what == "fm" and len(args) == 2:
        mode = {"r": PickupMode.RETIRO, "d": PickupMode.DOMICILIO}.get(args[1])
        if mode is not None:
            target = {"kind": targets.FAMILIES, "mode": str(mode)}
    elif what == "a":
        target = {"kind": targets.EVERYONE}
    if target is None:
        turn.say("input.button_stale")
        return
    await _preview(turn, program, target)


async def _ask_sector(turn: Turn, program: Program) -> None:
    found = await targeting.sectors(turn.session, program.id)
    if not found:
        turn.say("outreach.no_sectors", buttons=[[_cancel()]])
        return
    rows = [[Button(Msg("outreach.btn.sector", {"sector": Raw(s[:40]), "count": n}),
                    action(KEY, "t", "fs", targets.sector_key(s)))] for s, n in found[:40]]
    rows.append([_cancel()])
    turn.say("outreach.which_sector", buttons=rows)


async def _checklist(turn: Turn, page: int, *, redraw: bool) -> None:
    program = await program_or_say(turn, "outreach.no_program")
    if program is None:
        return
    orgs = sorted((await turn.session.execute(
        select(Organization.id, Organization.name).where(Organization.program_id == program.id)
    )).all(), key=lambda o: (sort_key(o.name, turn.locale), o.id))
    if not orgs:
        turn.say("outreach.no_organizations", buttons=[[_cancel()]])
        return
    chosen = set(turn.data("sel") or [])
    pages = (len(orgs) + PAGE - 1) // PAGE
    page = min(max(page, 0), pages - 1)
    rows: list[tuple[Button, ...]] = [
        (Button(Msg("outreach.check_item", {"mark": "✅" if oid in chosen else "⬜",
                                            "name": Raw(name[:48])}),
                action(KEY, "tg", oid, page)),)
        for oid, name in orgs[page * PAGE:(page + 1) * PAGE]
    ]
    nav = []
    if page > 0:
        nav.append(Button(Msg("outreach.btn.previous"), action(KEY, "ck", page - 1)))
    if page < pages - 1:
        nav.append(Button(Msg("outreach.btn.next"), action(KEY, "ck", page + 1)))
    if nav:
        rows.append(tuple(nav))
    rows.append((Button(Msg("outreach.btn.check_done", {"count": len(chosen)}),
                        action(KEY, "ok")),))
    rows.append((_cancel(),))
    turn.go(FLOW, "check", page=page)
    out = Outgoing(text=Msg("outreach.check_title", {"page": page + 1, "pages": pages}),
                   buttons=tuple(rows))
    turn.redraw(out) if redraw else turn.send(out)


@verb("ck")
async def checklist_page(turn: Turn, args: list[str]) -> None:
    if not _in(turn, "check") or not args or not args[0].isdigit():
        turn.say("input.button_stale")
        return
    await _checklist(turn, int(args[0]), redraw=True)


@verb("tg")
async def toggle(turn: Turn, args: list[str]) -> None:
    if not _in(turn, "check") or len(args) != 2 or not all(a.isdigit() for a in args):
        turn.say("input.button_stale")
        return
    program = await program_or_say(turn, "outreach.no_program")
    if program is None:
        return
    org = await turn.session.get(Organization, int(args[0]))
    if org is None or org.program_id != program.id:
        turn.say("input.button_stale")
        return
    chosen = list(turn.data("sel") or [])
    if org.id in chosen:
        chosen.remove(org.id)
    else:
        chosen.append(org.id)
    turn.go(FLOW, "check", sel=chosen)
    await _checklist(turn, int(args[1]), redraw=True)


@verb("ok")
async def checklist_done(turn: Turn, args: list[str]) -> None:
    if not _in(turn, "check"):
        turn.say("input.button_stale")
        return
    chosen = list(turn.data("sel") or [])
    if not chosen:
        turn.say("outreach.pick_one")
        return
    program = await program_or_say(turn, "outreach.no_program")
    if program is None:
        return
    await _preview(turn, program, {"kind": targets.ORGANIZATIONS, "ids": chosen})


# --- preview and send -----------------------------------------------------------------------------


async def _what_they_get(turn: Turn, program: Program) -> Outgoing | None:
    if turn.data("purpose") == "bc":
        return broadcast_message(program.name, turn.data("text") or "")
    meeting = await _meeting(turn, turn.data("meeting_id"), program)
    return await invitation_preview(turn.session, meeting) if meeting else None


async def _preview(turn: Turn, program: Program, target: dict[str, Any]) -> None:
    out = await _what_they_get(turn, program)
    if out is None:
        turn.go(None)
        turn.say("outreach.meeting_gone", buttons=[[back_to_panel()]])
        return
    recipients = await targeting.resolve(turn.session, program.id, target)
    who = await describe(turn.session, program, target)
    extra = recipients_lines(recipients)
    count = len(recipients.person_ids)
    if not count:
        turn.go(FLOW, "target")
        turn.say("outreach.lines", lines=[Msg("outreach.confirm_to", {"target": who}),
                                          Msg("outreach.nobody"), *extra],
                 buttons=[[_cancel()]])
        return
    for loc, text in await preview_texts(turn.session, turn.services, recipients, out,
                                         first=turn.locale, zone=turn.zone):
        turn.say("outreach.preview_in", language=Msg(f"lang.name_{loc}"), text=Raw(text))
    turn.go(FLOW, "confirm", target=target)
    turn.say("outreach.lines", lines=[Msg("outreach.confirm_to", {"target": who}),
                                      Msg("outreach.confirm_count", {"count": count}), *extra],
             buttons=[
        [Button(Msg("outreach.btn.send", {"count": count}), action(KEY, "go"))],
        [_cancel()],
    ])


@verb("go")
async def send(turn: Turn, args: list[str]) -> None:
    if not _in(turn, "confirm") or not turn.data("target"):
        turn.say("input.button_stale")
        return
    program = await program_or_say(turn, "outreach.no_program")
    if program is None:
        return
    target = turn.data("target")
    purpose = turn.data("purpose")
    meeting = None
    if purpose == "inv":
        meeting = await _meeting(turn, turn.data("meeting_id"), program)
        if meeting is None:
            turn.go(None)
            turn.say("outreach.meeting_gone", buttons=[[back_to_panel()]])
            return
        queued = await queue_invitations(turn.session, meeting, target, turn.now,
                                         author_id=turn.person.id, channel=turn.event.channel)
        await follow(turn.session, program, queued, watcher_id=turn.person.id, meeting=meeting,
                     ref=turn.event.message_ref, shown=0)
    else:
        queued = await send_broadcast(
            turn.session, program, turn.data("text") or "", target, turn.now,
            author_id=turn.person.id, channel=turn.event.channel, watcher_id=turn.person.id,
            ref=turn.event.message_ref, shown=0)
    turn.go(None)
    total = len(queued.outbox_ids)
    if not total:
        turn.say("outreach.nothing_new", buttons=[[back_to_panel()]])
        return
    # The confirmation turns into the progress: its buttons go, so it cannot be sent twice.
    turn.redraw(Outgoing(text=progress_message(0, total), progress=True))


# --- free input ------------------------------------------------------------------------------------


@router.flow(FLOW)
async def on_input(turn: Turn) -> None:
    if not guard(turn, ADMIN, f"{FLOW}:{turn.convo.step}"):
        turn.go(None)
        return
    step = turn.convo.step
    if step == "text" and turn.data("purpose") == "bc":
        await _text_input(turn)
    elif step == "target" and _in(turn, "target"):
        await _ask_target(turn)
    elif step == "check" and _in(turn, "check"):
        await _checklist(turn, int(turn.data("page") or 0), redraw=False)
    elif step == "confirm" and _in(turn, "confirm"):
        turn.say("outreach.use_buttons", buttons=[[_cancel()]])
    else:
        turn.go(None)
        turn.say("input.not_understood")
