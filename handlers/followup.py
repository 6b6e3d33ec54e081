"""Reporting on one's actions in two taps: a status (done, under way, stuck) from the
reminder or from `/avance`, then "Listo" (or a note or a photo, kept on that report).

Only the person responsible, or the programme's gestora or coordinadora, may report on an
action; a button of an action since dropped or deleted is answered kindly.

Actions: ``ac:<action>:<d|u|k>`` reports, ``ac:<action>:a`` shows one action's buttons,
``ac:ok:<update>`` ends the report."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from handlers.core import Router, Turn
from handlers.events import Button, EventKind, Outgoing
from locales import Day, Msg, Raw
from services import followup
from services.followup import CODES, PREFIX
from storage import actions
from storage.models import ActionItem, ActionUpdate, Program

FLOW = "ac_note"
# How long after a report what the person sends is taken as its note: later, it is most
# likely about something else.
NOTE_WINDOW = timedelta(hours=2)
LIST_MAX = 20

router = Router()


def may_report(turn: Turn, item: ActionItem) -> bool:
    if turn.person.consent_at is None:
        return False
    return followup.may_report(item, turn.person.id, turn.standing.roles_in(item.program_id))


def _listo(update_id: int) -> list[list[Button]]:
    return [[Button(Msg("actas.btn_listo"), f"{PREFIX}:ok:{update_id}")]]


async def _item(turn: Turn, action_id: int) -> ActionItem | None:
    item = await followup.reportable(turn.session, action_id)
    if item is None:
        turn.say("actas.report_gone")
        return None
    if not may_report(turn, item):
        turn.audit("action_report_refused", "action_item", item.id)
        turn.say("actas.report_not_yours")
        return None
    program = await turn.session.get(Program, item.program_id)
    if program is not None:
        turn.show_times_in(program.timezone)
    return item


@router.command("avance", "progress")
async def avance(turn: Turn) -> None:
    turn.go(None)
    if turn.person.consent_at is None:
        turn.say("input.start_first")
        return
    mine = (await actions.open_for(turn.session, turn.person.id))[:LIST_MAX]
    if not mine:
        turn.say("actas.avance_none")
        return
    turn.say("actas.avance_pick", buttons=[
        [Button(Msg("actas.btn_action", {"text": Raw(followup.short(a.text, 40))}),
                f"{PREFIX}:{a.id}:a")] for a in mine])


async def _show(turn: Turn, item: ActionItem) -> None:
    due = (Msg("actas.action_due", {"due": Day(item.due)}) if item.due
           else Msg("actas.action_no_due"))
    turn.send(Outgoing(
        text=Msg("actas.action_card", {"text": Raw(item.text), "due": due,
                                       "status": followup.status_name(item.status)}),
        buttons=(tuple(followup.status_buttons(item)),)))


@router.on_action(PREFIX)
async def on_button(turn: Turn) -> None:
    parts = (turn.action or "").split(":")[1:]
    if len(parts) != 2 or not parts[1].isalnum():
        turn.say("input.button_stale")
        return
    if parts[0] == "ok":
        await _done(turn, int(parts[1]) if parts[1].isascii() and parts[1].isdigit() else 0)
        return
    if not (parts[0].isascii() and parts[0].isdigit()):
        turn.say("input.button_stale")
        return
    item = await _item(turn, int(parts[0]))
    if item is None:
        return
    if parts[1] == "a":
        await _show(turn, item)
        return
    status = CODES.get(parts[1])
    if status is None:
        turn.say("input.button_stale")
        return
    update = await followup.report(turn.session, item, status, now=turn.now,
                                   by_person_id=turn.person.id)
    turn.audit("action_reported", "action_item", item.id, status=status)
    if turn.convo.flow not in (None, FLOW):
        # She was in the middle of something else (a protocol being typed): what she sends
        # next is still that, not this report's note.
        turn.say("actas.reported_flow_kept", status=followup.status_name(status))
        return
    turn.go(None)
    turn.go(FLOW, "note", update_id=update.id)
    turn.say("actas.reported", status=followup.status_name(status), buttons=_listo(update.id))


async def _update(session: AsyncSession, turn: Turn, update_id: int) -> ActionUpdate | None:
    update = await session.get(ActionUpdate, update_id) if update_id else None
    if update is None or update.by_person_id != turn.person.id:
        return None
    return update


async def _done(turn: Turn, update_id: int) -> None:
    if await _update(turn.session, turn, update_id) is None:
        turn.say("input.button_stale")
        return
    if turn.convo.flow == FLOW:
        turn.go(None)
    turn.say("actas.report_thanks")


@router.flow(FLOW, photos=True)
async def note(turn: Turn) -> None:
    ev = turn.event
    update = await _update(turn.session, turn, int(turn.data("update_id") or 0))
    if update is None or turn.now - update.at > NOTE_WINDOW:
        turn.go(None)
        turn.say("input.not_understood")
        return
    text = (ev.text or "").strip()
    if ev.kind == EventKind.PHOTO and ev.document is not None:
        photo = {"channel": ev.channel, "file_id": ev.document.file_id,
                 "mime_type": ev.document.mime_type or "image/jpeg"}
        await actions.add_note(turn.session, update, note=text or None, photo=photo)
        turn.say("actas.photo_kept", buttons=_listo(update.id))
    elif ev.kind == EventKind.TEXT and text:
        await actions.add_note(turn.session, update, note=text[:2000])
        turn.say("actas.note_kept", buttons=_listo(update.id))
    else:
        turn.say("actas.note_or_photo", buttons=_listo(update.id))
