"""The WhatsApp channel, through Meta's Cloud API: a thin client of our own (client), its
errors in the dispatcher's terms (errors), replies laid out as Cloud API messages (render),
and the webhook read into neutral events and statuses (webhook)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from urllib.parse import quote

from channels import Capabilities

CHANNEL = "whatsapp"
# Reply buttons: 3, titles of 20. Lists: 10 rows in all. An interactive message's body holds
# 1,024 characters of the 4,096 a text does. A button's id takes 256 bytes and a list row's
# 200: the row is the tighter. Nothing sent can be edited, nor a phone number asked by a
# button; outside 24 hours since the person last wrote only approved templates go.
CAPABILITIES = Capabilities(
    buttons=3, buttons_per_row=1, list_rows=10, label_chars=20, text_chars=4096,
    caption_chars=1024, action_bytes=200, can_edit=False, can_ask_phone=False,
    month_grid=False, session_window=timedelta(hours=24), choice_text_chars=1024,
)


def capabilities(display_number: str | None) -> Capabilities:
    """WhatsApp's capabilities, with links that open a chat with the business carrying a
    payload (a family's code) once its number is known, and the number to write to by hand."""
    digits = "".join(c for c in display_number or "" if c.isdigit())
    if not digits:
        return CAPABILITIES
    return replace(CAPABILITIES,
                   deep_link=lambda payload: f"https://wa.me/{digits}?text={quote(payload)}",
                   handle=f"+{digits}")
