"""A channel's capabilities, declared by the channel (bot/) and read by the core and layout."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta


@dataclass(frozen=True)
class Capabilities:
    """What one message on a channel may carry. A reply beyond them is laid out within them
    (channels.layout): a list instead of buttons, pages with "more", a typed date instead of
    a month, a new message instead of an edit."""

    buttons: int  # reply buttons one message may carry
    buttons_per_row: int  # 1: one per line (or the channel lays them out itself)
    list_rows: int  # rows of a pick-one list (0: no lists)
    label_chars: int  # characters of a button's label
    text_chars: int  # characters of one message's text
    caption_chars: int  # characters of a document's caption
    action_bytes: int  # bytes of a button's (signed) payload
    can_edit: bool  # an earlier message can be replaced in place
    can_ask_phone: bool  # a button that shares the person's own phone number
    month_grid: bool  # a month of days as buttons, a week per row
    session_window: timedelta | None = None  # free-form replies only this long after they wrote
    # Characters of the text a message with options carries, where that is less than
    # text_chars (WhatsApp's interactive body: 1,024); None: text_chars.
    choice_text_chars: int | None = None
    # How a link opens a conversation with this bot carrying a payload (a family's code);
    # None: the channel has no such links.
    deep_link: Callable[[str], str] | None = None
    # Where a person writes to by hand to reach this bot, as they would type it (a phone
    # number, a bot's @name): printed beside a link for whoever cannot open it.
    handle: str | None = None
    # A web page kept one tap away beside the chat, set per person (the panel, for the team);
    # False: the channel has no such place and leaves Outgoing.menu_app out.
    menu_app: bool = False

    def link(self, payload: str) -> str | None:
        return self.deep_link(payload) if self.deep_link else None


# What a reply may count on from any channel Convoca speaks (the tightest of them): used
# where no channel is at hand, and as the bar every reply's content must pass.
LEAST = Capabilities(
    buttons=3, buttons_per_row=1, list_rows=10, label_chars=20, text_chars=4096,
    caption_chars=1024, action_bytes=64, can_edit=False, can_ask_phone=False, month_grid=False,
    session_window=timedelta(hours=24), choice_text_chars=1024,
)
