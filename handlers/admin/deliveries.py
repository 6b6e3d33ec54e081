"""What did not reach people, and why: failed and uncertain deliveries for the team."""

from __future__ import annotations

from datetime import timedelta

from handlers.admin import ADMIN, back_to_panel, current_program, section
from handlers.core import Router, Turn
from locales import Msg, Raw, When
from services.outbox import kind_name, problem
from storage import outbox
from storage.models import OutboxStatus

router = Router()  # the section is reached through /panel; nothing else to route
SHOWN = 10
SINCE = timedelta(days=30)


@section("deliveries", "admin.deliveries.label", roles=ADMIN, order=90)
async def deliveries(turn: Turn, parts: list[str]) -> None:
    since = turn.now - SINCE
    program = await current_program(turn)
    pid = None if program is None else program.id
    counts = await outbox.status_counts(turn.session, pid, since)
    rows = await outbox.troubles(turn.session, pid, since, limit=SHOWN)
    lines = [
        Msg("admin.deliveries.row", {
            "when": When(t.message.created_at),
            "who": Raw(t.name or "—"),
            "kind": kind_name(t.message.kind),
            "reason": problem(t.message.status, t.reachable, t.message.last_error),
        })
        for t in rows
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
