"""What did not reach people, and why: failed and uncertain deliveries for the team."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, or_, select

from handlers.admin import ADMIN, back_to_panel, current_program, section
from handlers.core import Router, Turn
from locales import Msg, Raw, When
from services.outbox import kind_name, platform_reason, waiting_reason
from storage.models import OutboxMessage, OutboxStatus, Person, RoleGrant

router = Router()  # the section is reached through /panel; nothing else to route
SHOWN = 10
SINCE = timedelta(days=30)
TROUBLE = (OutboxStatus.FAILED, OutboxStatus.UNCERTAIN, OutboxStatus.WAITING)


def problem(status: str, reachable: bool | None, error: str | None = None) -> Msg:
    """Why a message did not arrive, in words. The channel's own error (English, technical)
    stays in the outbox row for whoever administers Convoca."""
    if status == OutboxStatus.UNCERTAIN:
        return Msg("admin.deliveries.uncertain")
    if status == OutboxStatus.WAITING:
        return waiting_reason()
    if reachable is False:
        return Msg("admin.deliveries.blocked")
    if status == OutboxStatus.DROPPED:
        return Msg("admin.deliveries.dropped")
    return platform_reason(error) or Msg("admin.deliveries.failed")


@section("deliveries", "admin.deliveries.label", roles=ADMIN, order=90)
async def deliveries(turn: Turn, parts: list[str]) -> None:
    since = turn.now - SINCE
    program = await current_program(turn)
    # Only the messages to the people of the programme the team member works on.
    ours = [] if program is None else [OutboxMessage.person_id.in_(
        select(Person.id).where(or_(
            Person.program_id == program.id,
            Person.id.in_(select(RoleGrant.person_id)
                          .where(RoleGrant.program_id == program.id)))))]
    counts = dict((await turn.session.execute(
        select(OutboxMessage.status, func.count())
        .where(OutboxMessage.created_at >= since, OutboxMessage.kind != "reply", *ours)
        .group_by(OutboxMessage.status)
    )).all())
    rows = (await turn.session.execute(
        select(OutboxMessage, Person.name, Person.reachable)
        .outerjoin(Person, Person.id == OutboxMessage.person_id)
        .where(OutboxMessage.status.in_(TROUBLE), OutboxMessage.created_at >= since, *ours)
        .order_by(OutboxMessage.id.desc())
        .limit(SHOWN)
    )).all()
    lines = [
        Msg("admin.deliveries.row", {
            "when": When(row.created_at),
            "who": Raw(name or "—"),
            "kind": kind_name(row.kind),
            "reason": problem(row.status, reachable, row.last_error),
        })
        for row, name, reachable in rows
    ]
    turn.say(
        "admin.deliveries.summary",
        sent=counts.get(OutboxStatus.SENT, 0),
        pending=counts.get(OutboxStatus.PENDING, 0) + counts.get(OutboxStatus.SENDING, 0),
        failed=counts.get(OutboxStatus.FAILED, 0),
        uncertain=counts.get(OutboxStatus.UNCERTAIN, 0),
        waiting=counts.get(OutboxStatus.WAITING, 0),
        rows=lines or [Msg("admin.deliveries.none")],
        buttons=[[back_to_panel()]],
    )
