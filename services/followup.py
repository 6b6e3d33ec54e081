"""The follow-up of action items (a plan's actions, an acta's commitments): what the person
responsible is shown and the buttons they report with, shared by the reminders
(services.notices) and the chat (handlers.followup).

A report is two taps: a status (``ac:<action>:<code>``), then "Listo" or a note or photo."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from locales import Day, Msg, Raw
from services.messages import Button
from storage import actions
from storage.models import ActionItem, ActionStatus, ActionUpdate, Person, Role

PREFIX = "ac"
# One letter per status a person reports, in the buttons' order.
CODES = {"d": ActionStatus.DONE, "u": ActionStatus.UNDER_WAY, "k": ActionStatus.STUCK}
CODE_OF = {v: k for k, v in CODES.items()}
TEXT_MAX = 60  # of an action's text inside a button or a list row
NOTE_MAX = 2000
# Besides the person responsible, who may report on anyone's action.
TEAM = frozenset({Role.GESTORA, Role.COORDINADORA})


def short(text: str, limit: int = TEXT_MAX) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 1].rstrip() + "…"


def status_name(status: str) -> Msg:
    return Msg(f"actas.status.{status}")


def status_buttons(item: ActionItem, n: int | None = None) -> list[Button]:
    """Done / under way / stuck for one action; numbered when a message lists several."""
    if n is None:
        return [Button(Msg(f"actas.btn.{s}"), f"{PREFIX}:{item.id}:{c}")
                for c, s in CODES.items()]
    return [Button(Msg(f"actas.btn_n.{s}", {"n": n}), f"{PREFIX}:{item.id}:{c}")
            for c, s in CODES.items()]


async def responsible(session: AsyncSession, item: ActionItem) -> str:
    """Who answers for it, as a name to show."""
    if item.responsible_person_id is not None:
        person = await session.get(Person, item.responsible_person_id)
        if person is not None and person.name:
            return person.name
    return item.responsible_name or ""


def when(due: date, today: date) -> Msg:
    days = (due - today).days
    if days <= 0:
        return Msg("actas.when_today", {"due": Day(due)})
    return Msg("actas.when_in", {"due": Day(due), "count": days})


def row(n: int, item: ActionItem, today: date) -> Msg:
    assert item.due is not None
    return Msg("actas.due_row", {"n": n, "text": Raw(short(item.text, 200)),
                                 "when": when(item.due, today)})


async def reportable(session: AsyncSession, action_id: int,
                     program_id: int | None = None) -> ActionItem | None:
    """The action a report is about; None once it is dropped or gone (an old button, a
    stale page), or when it is of another programme."""
    item = await session.get(ActionItem, action_id)
    if item is None or item.status == ActionStatus.DROPPED:
        return None
    if program_id is not None and item.program_id != program_id:
        return None
    return item


def may_report(item: ActionItem, person_id: int, roles: frozenset[str] | set[str]) -> bool:
    """The person responsible, or the programme's gestora or coordinadora."""
    return item.responsible_person_id == person_id or bool(set(roles) & TEAM)


async def report(session: AsyncSession, item: ActionItem, status: str, *, now: datetime,
                 by_person_id: int, note: str | None = None) -> ActionUpdate:
    """A report on the action (done, under way, stuck), from the chat's buttons or the
    panel, with its note when one comes with it."""
    if status not in CODES.values():
        raise ValueError(f"not a status a person reports: {status!r}")
    update = await actions.report(session, item, status, now=now, by_person_id=by_person_id)
    text = (note or "").strip()
    if text:
        await actions.add_note(session, update, note=text[:NOTE_MAX])
    return update
