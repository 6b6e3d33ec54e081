"""Channel-neutral events and replies. Channels in ``bot/`` translate to and from these."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

# What a person is sent is the use cases' too (services/ queues it); re-exported for the chat.
from services.messages import Attachment, Button, Outgoing  # noqa: F401


class EventKind(StrEnum):
    TEXT = "text"
    COMMAND = "command"
    BUTTON = "button"
    CONTACT = "contact"
    DOCUMENT = "document"
    UNSUPPORTED = "unsupported"  # stickers, photos, voice notes...


@dataclass(frozen=True)
class DocumentRef:
    file_id: str
    filename: str | None
    mime_type: str | None
    size: int | None = None


@dataclass(frozen=True)
class Incoming:
    channel: str
    address: str  # the chat, in the channel's own terms
    kind: EventKind
    update_id: int | None = None
    text: str | None = None
    command: str | None = None  # without the slash, lower-case
    args: str | None = None
    button: str | None = None  # the raw, still-signed button payload
    message_ref: str | None = None  # the message a button belongs to, for editing it
    message_id: int | None = None  # the platform's number of the person's own message
    contact_phone: str | None = None
    contact_is_own: bool = False
    document: DocumentRef | None = None
    unsupported: str | None = None
    sender_name: str | None = None
    sender_locale: str | None = None  # what the platform says the person's app uses
    sender_id: str | None = None  # the platform's user id (admin lists are by user id)
