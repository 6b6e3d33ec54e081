"""The follow-up of action items (a plan's actions, an acta's commitments): what the person
responsible is shown and the buttons they report with, shared by the reminders
(services.notices) and the chat (handlers.followup).

A report is two taps: a status (``ac:<action>:<code>``), then "Listo" or a note or photo."""

from __future__ import annotations

from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession

from locales import Day, Msg, Raw
from services.messages import Button
from storage.models import ActionItem, ActionStatus, Person

PREFIX = "ac"
# One letter per status a person reports, in the buttons' order.
CODES = {"d": ActionStatus.DONE, "u": ActionStatus.UNDER_WAY, "k": ActionStatus.STUCK}
CODE_OF = {v: k for k, v in CODES.items()}
TEXT_MAX = 60  # of an action's text inside a button or a list row


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
