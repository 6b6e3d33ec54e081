"""What one person is sent, still in keys: composed by the use cases (queued in the outbox) and
by the chat handlers, rendered by each channel its own way."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import date
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
class Pager:
    """Where a long list stands (``page`` counts from 0) and the actions that turn it; each
    channel shows it its own way."""

    page: int
    pages: int
    previous: str | None = None
    next: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"p": self.page, "n": self.pages, "b": self.previous, "f": self.next}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Pager:
        return cls(d["p"], d["n"], d.get("b"), d.get("f"))


@dataclass(frozen=True)
class DatePick:
    """A day to pick from a month. The step that asks also reads a typed date, so a channel
    that cannot show a month may ask for one. Picks come back as ``<prefix>:d:<yyyymmdd>``
    and turning the month as ``<prefix>:m:<yyyymm>`` (see handlers.widgets.parse)."""

    prefix: str
    month: date
    earliest: date | None = None

    def to_json(self) -> dict[str, Any]:
        return {"x": self.prefix, "m": self.month.isoformat(),
                "e": self.earliest.isoformat() if self.earliest else None}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> DatePick:
        return cls(d["x"], date.fromisoformat(d["m"]),
                   date.fromisoformat(d["e"]) if d.get("e") else None)


@dataclass(frozen=True)
class Outgoing:
    """One message to a person, said by what it means rather than how it looks: text, a
    choice among options (``buttons``: rows group options that belong together, a channel
    may lay them out otherwise), a list's pager, a day to pick, a request for the person's
    phone number, a document, a place. Each channel renders it within what it can
    (channels.Capabilities): a channel that cannot edit sends ``updates`` as a new message,
    one with few buttons shows a list or pages."""

    text: Msg | None = None
    buttons: tuple[tuple[Button, ...], ...] = ()
    pager: Pager | None = None
    date_pick: DatePick | None = None
    ask_phone: Msg | None = None  # label of a "share my phone number" button
    phone_asked_done: bool = False  # the request for a phone number is over: take it away
    attachment: Attachment | None = None
    location: tuple[float, float] | None = None
    updates: str | None = None  # the earlier message this one is the new state of
    progress: bool = False  # a report that updates often: a channel may show fewer states
    page: int = 0  # which page of the options a channel with few buttons shows ("more")
    meta: dict[str, Any] = field(default_factory=dict)
    # The zone its times are shown in (its programme's); the outbox fills it in from the
    # person's programme when the sender did not, and a channel without one uses its own.
    zone: str | None = None
    # A web page put one tap away beside the chat from now on (its label and address), on a
    # channel that has such a place (Capabilities.menu_app); the others leave it out.
    menu_app: tuple[Msg, str] | None = None

    def options(self) -> list[Button]:
        """Every option, in order, whatever the rows."""
        return [b for row in self.buttons for b in row]

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {}
        if self.text:
            d["text"] = self.text.to_json()
        if self.buttons:
            d["buttons"] = [[b.to_json() for b in row] for row in self.buttons]
        if self.pager:
            d["pager"] = self.pager.to_json()
        if self.date_pick:
            d["date_pick"] = self.date_pick.to_json()
        if self.ask_phone:
            d["ask_phone"] = self.ask_phone.to_json()
        if self.phone_asked_done:
            d["phone_asked_done"] = True
        if self.attachment:
            a = self.attachment
            d["attachment"] = {
                "filename": a.filename,
                "mime_type": a.mime_type,
                "content": base64.b64encode(a.content).decode(),
            }
        if self.location:
            d["location"] = list(self.location)
        if self.updates:
            d["updates"] = self.updates
        if self.progress:
            d["progress"] = True
        if self.page:
            d["page"] = self.page
        if self.meta:
            d["meta"] = self.meta
        if self.zone:
            d[ZONE] = self.zone
        if self.menu_app:
            d["menu_app"] = {"l": self.menu_app[0].to_json(), "u": self.menu_app[1]}
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Outgoing:
        att = d.get("attachment")
        # Rows queued before these names (ask_contact, remove_keyboard, edit_ref) still read.
        ask = d.get("ask_phone", d.get("ask_contact"))
        return cls(
            text=Msg.from_json(d["text"]) if "text" in d else None,
            buttons=tuple(tuple(Button.from_json(b) for b in row) for row in d.get("buttons", [])),
            pager=Pager.from_json(d["pager"]) if "pager" in d else None,
            date_pick=DatePick.from_json(d["date_pick"]) if "date_pick" in d else None,
            ask_phone=Msg.from_json(ask) if ask else None,
            phone_asked_done=d.get("phone_asked_done", d.get("remove_keyboard", False)),
            attachment=Attachment(
                att["filename"], base64.b64decode(att["content"]), att["mime_type"]
            )
            if att
            else None,
            location=tuple(d["location"]) if "location" in d else None,  # type: ignore[arg-type]
            updates=d.get("updates", d.get("edit_ref")),
            progress=d.get("progress", False),
            page=d.get("page", 0),
            meta=d.get("meta", {}),
            zone=d.get(ZONE),
            menu_app=(Msg.from_json(d["menu_app"]["l"]), d["menu_app"]["u"])
            if "menu_app" in d else None,
        )
