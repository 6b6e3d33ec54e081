"""The outbox's messages as people read about them: what each kind of message was, for the
team's panel (deliveries) and `convoca status`."""

from __future__ import annotations

import re

from locales import Msg
from storage.models import OutboxStatus

# Every kind of message the outbox carries: the scheduler's notices (services.notices) and
# what handlers queue themselves. Each has its words (outbox.kind.<kind>).
KINDS = (
    "reply", "invitation", "meeting_cancelled", "meeting_reminder", "meeting_reask",
    "broadcast", "broadcast_progress", "form_notice", "pickup_notice", "pickup_dates",
    "pickup_evening", "pickup_morning", "pickup_missed", "pickup_cancelled", "pickup_team",
    "milestone_soon", "milestone_overdue", "weekly_digest", "body_nudge", "family_link",
    "action_due", "action_overdue", "form_request",
)


def kind_name(kind: str) -> Msg:
    """What a message was, in words (the panel and `convoca status`)."""
    return Msg(f"outbox.kind.{kind}" if kind in KINDS else "outbox.kind.other")


# A platform's refusal as the channel stores it ("whatsapp <code>: <its words>"), by code,
# in the team's words: what happened and what she can do.
_WHATSAPP_REASONS = {
    131026: "outreach.reason.wa_undeliverable",
    131047: "outreach.reason.wa_outside_window",
    131049: "outreach.reason.wa_hold",
    190: "outreach.reason.wa_token",
    131053: "outreach.reason.wa_media",
}
_WHATSAPP_ERROR = re.compile(r"whatsapp (\d+):")


def platform_reason(error: str | None) -> Msg | None:
    """Why a platform refused a message, in words, when the stored reason says which
    platform and code; None for another reason (the caller's general words)."""
    found = _WHATSAPP_ERROR.match(error or "")
    if found is None:
        return None
    code = int(found.group(1))
    if 132000 <= code < 133000:
        return Msg("outreach.reason.wa_template")
    return Msg(_WHATSAPP_REASONS.get(code, "outreach.reason.wa_other"))


def waiting_reason() -> Msg:
    """A message waiting for its person to write before it may go."""
    return Msg("outreach.reason.waiting")


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
