"""What one person is sent, still in keys: composed by the use cases (queued in the outbox) and
by the chat handlers, rendered by each channel its own way."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

from locales import Msg
from storage.outbox import ZONE


@dataclass(frozen=True)
class Button:
    label: Msg
    action: str  # neutral payload, signed per person by the core before it leaves

    def to_json(self) -> dict[str, Any]:
        return {"l": self.label.to_json(), "a": self.action}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Button:
        return cls(Msg.from_json(d["l"]), d["a"])


@dataclass(frozen=True)
class Attachment:
    filename: str
    content: bytes
    mime_type: str = "application/octet-stream"


@dataclass(frozen=True)
class Outgoing:
    """One message to a person, still in keys: each channel renders it its own way."""

    text: Msg | None = None
    buttons: tuple[tuple[Button, ...], ...] = ()
    ask_contact: Msg | None = None  # label of a "share my phone number" button
    remove_keyboard: bool = False
    attachment: Attachment | None = None
    location: tuple[float, float] | None = None
    edit_ref: str | None = None  # edit this earlier message instead of sending a new one
    meta: dict[str, Any] = field(default_factory=dict)
    # The zone its times are shown in (its programme's); the outbox fills it in from the
    # person's programme when the sender did not, and a channel without one uses its own.
    zone: str | None = None

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {}
        if self.text:
            d["text"] = self.text.to_json()
        if self.buttons:
            d["buttons"] = [[b.to_json() for b in row] for row in self.buttons]
        if self.ask_contact:
            d["ask_contact"] = self.ask_contact.to_json()
        if self.remove_keyboard:
            d["remove_keyboard"] = True
        if self.attachment:
            a = self.attachment
            d["attachment"] = {
                "filename": a.filename,
                "mime_type": a.mime_type,
                "content": base64.b64encode(a.content).decode(),
            }
        if self.location:
            d["location"] = list(self.location)
        if self.edit_ref:
            d["edit_ref"] = self.edit_ref
        if self.meta:
            d["meta"] = self.meta
        if self.zone:
            d[ZONE] = self.zone
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Outgoing:
        att = d.get("attachment")
        return cls(
            text=Msg.from_json(d["text"]) if "text" in d else None,
            buttons=tuple(tuple(Button.from_json(b) for b in row) for row in d.get("buttons", [])),
            ask_contact=Msg.from_json(d["ask_contact"]) if "ask_contact" in d else None,
            remove_keyboard=d.get("remove_keyboard", False),
            attachment=Attachment(
                att["filename"], base64.b64decode(att["content"]), att["mime_type"]
            )
            if att
            else None,
            location=tuple(d["location"]) if "location" in d else None,  # type: ignore[arg-type]
            edit_ref=d.get("edit_ref"),
            meta=d.get("meta", {}),
            zone=d.get(ZONE),
        )
