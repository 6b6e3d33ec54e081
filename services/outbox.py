"""The outbox's messages as people read about them: what each kind of message was, for the
team's panel (deliveries) and `convoca status`."""

from __future__ import annotations

from locales import Msg

# Every kind of message the outbox carries: the scheduler's notices (services.notices) and
# what handlers queue themselves. Each has its words (outbox.kind.<kind>).
KINDS = (
    "reply", "invitation", "meeting_cancelled", "meeting_reminder", "meeting_reask",
    "broadcast", "broadcast_progress", "form_notice", "pickup_notice", "pickup_dates",
    "pickup_evening", "pickup_morning", "pickup_missed", "pickup_cancelled", "pickup_team",
    "milestone_soon", "milestone_overdue", "weekly_digest", "body_nudge", "family_link",
)


def kind_name(kind: str) -> Msg:
    """What a message was, in words (the panel and `convoca status`)."""
    return Msg(f"outbox.kind.{kind}" if kind in KINDS else "outbox.kind.other")
