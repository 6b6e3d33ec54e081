"""What is due soon and what is overdue in a programme: its stage milestones, its plans'
actions and its sessions' commitments, on one list by deadline (the panel's Inicio)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from locales import Msg, Raw, Text
from services import stages as stage_words
from services.followup import short
from storage import actions
from storage.models import ActionItem
from storage.stages import StageStatus

SOON = timedelta(days=14)  # "the next two weeks"

MILESTONE, ACTION, COMMITMENT = "milestone", "action", "commitment"


@dataclass(frozen=True)
class Deadline:
    due: date
    what: Text | Msg | Raw
    kind: str  # milestone | action (a plan's) | commitment (a session's)
    ref: int  # the milestone's or the action item's id
    days: int  # from today to the deadline: negative when it has passed
    who: str = ""  # who answers for it, when someone does

    @property
    def late(self) -> bool:
        return self.days < 0


@dataclass(frozen=True)
class Agenda:
    soon: list[Deadline]  # due from today to SOON ahead, soonest first
    overdue: list[Deadline]  # passed and not done, oldest first


def _kind(item: ActionItem) -> str:
    return ACTION if item.plan_id is not None else COMMITMENT


async def agenda(session: AsyncSession, program_id: int, stages: list[StageStatus],
                 today: date) -> Agenda:
    """The programme's deadlines as of ``today`` (a date in its zone); ``stages`` are its
    stage_status of today, which the caller has already read."""
    last = today + SOON
    soon: list[Deadline] = []
    late: list[Deadline] = []
    for stage in stages:
        for m in stage.milestones:
            if m.done:
                continue
            d = Deadline(m.due, stage_words.name(m), MILESTONE, m.id, (m.due - today).days)
            if m.overdue:
                late.append(d)
            elif m.due <= last:
                soon.append(d)
    due = await actions.open_due_between(session, program_id, today, last)
    passed = await actions.overdue(session, program_id, today)
    names = await actions.responsible_names(session, due + passed)
    for item, into in [(a, soon) for a in due] + [(a, late) for a in passed]:
        assert item.due is not None  # both queries select by deadline
        into.append(Deadline(item.due, Raw(short(item.text, 120)), _kind(item), item.id,
                             (item.due - today).days, names.get(item.id, "")))

    def order(d: Deadline) -> tuple[date, int, int]:
        return d.due, d.kind != MILESTONE, d.ref

    return Agenda(sorted(soon, key=order), sorted(late, key=order))
