"""Channel-neutral events and replies. Channels in ``bot/`` translate to and from these."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from enum import StrEnum
from typing import Any

# What a person is sent is the use cases' too (services/ queues it); re-exported for the chat.
from services.messages import Attachment, Button, Outgoing  # noqa: F401


class EventKind(StrEnum):
    TEXT = "text"
    COMMAND = "command"
    BUTTON = "button"
    CONTACT = "contact"
    DOCUMENT = "document"
    # A picture: its largest size (``document`` holds the platform's file id). Only a flow
    # that asks for one takes it (Router.flow(photos=True)); elsewhere it is UNSUPPORTED.
    PHOTO = "photo"
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
    # The platform's key of the update, unique in its channel (for a while): what makes an
    # update offered twice handled once.
    update_id: str | None = None
    text: str | None = None
    command: str | None = None  # without the slash, lower-case
    args: str | None = None
    button: str | None = None  # the raw, still-signed button payload
    message_ref: str | None = None  # the message a button belongs to, for editing it
    message_id: str | None = None  # the platform's reference of the person's own message
    contact_phone: str | None = None
    contact_is_own: bool = False
    document: DocumentRef | None = None
    unsupported: str | None = None
    sender_name: str | None = None
    sender_locale: str | None = None  # what the platform says the person's app uses
    sender_id: str | None = None  # the platform's user id (admin lists are by user id)
    # A phone number the platform vouches for as the sender's own (E.164, with +): WhatsApp's
    # wa_id. Not a number the person typed or shared, which may be anyone's.
    sender_phone: str | None = None
    # When the person sent it (ISO 8601), where the platform says: a message handled late
    # (redelivered hours after) must not make their session window look newer than it is.
    sent_at: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The event as the intake stores it (see storage.intake)."""
        return {k: v for k, v in asdict(self).items() if v is not None and v is not False}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Incoming:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["kind"] = EventKind(values["kind"])
        if values.get("document") is not None:
            values["document"] = DocumentRef(**values["document"])
        return cls(**values)
