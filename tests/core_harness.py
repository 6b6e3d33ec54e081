"""The conversation core without a transport: events in, rendered replies out. For tests
that need thousands of events (the property tests) where HTTP would only add time."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select, update

from bot.app import App
from handlers.events import EventKind, Incoming, Outgoing
from storage.models import OutboxMessage, OutboxStatus


@dataclass
class Reply:
    text: str
    buttons: list[tuple[str, str]] = field(default_factory=list)  # (label, packed payload)
    asks_contact: bool = False
    attachment: str | None = None
    raw: Outgoing | None = None


class CoreHarness:
    def __init__(self, app: App, channel: str = "telegram") -> None:
        self.app = app
        self.channel = channel
        self.update_id = 0
        self.last: dict[str, list[Reply]] = {}

    async def event(self, address: str, kind: EventKind, **kw: object) -> list[Reply]:
        self.update_id += 1
        kw.setdefault("sender_id", address)
        ev = Incoming(self.channel, address, kind, update_id=self.update_id, **kw)  # type: ignore[arg-type]
        ids = await self.app.core.handle(ev)
        replies = await self._render(ids)
        if replies:
            self.last[address] = replies
        return replies

    async def text(self, address: str, text: str) -> list[Reply]:
        if text.startswith("/") and len(text) > 1:
            head, _, rest = text[1:].partition(" ")
            return await self.event(address, EventKind.COMMAND, command=head.lower(),
                                    args=rest.strip() or None, text=text)
        return await self.event(address, EventKind.TEXT, text=text)

    async def press(self, address: str, label: str) -> list[Reply]:
        for reply in reversed(self.last.get(address, [])):
            for lab, payload in reply.buttons:
                if lab == label:
                    return await self.event(address, EventKind.BUTTON, button=payload)
        raise AssertionError(f"no button {label!r} for {address}")

    def buttons(self, address: str) -> list[tuple[str, str]]:
        return [b for r in self.last.get(address, []) for b in r.buttons]

    async def _render(self, ids: list[int]) -> list[Reply]:
        if not ids:
            return []
        cat, codec, tz = self.app.catalogs, self.app.services.buttons, self.app.services.timezone
        async with self.app.sessions() as s:
            rows = list((await s.scalars(
                select(OutboxMessage).where(OutboxMessage.id.in_(ids)).order_by(OutboxMessage.id)
            )).all())
            await s.execute(update(OutboxMessage).where(OutboxMessage.id.in_(ids))
                            .values(status=OutboxStatus.SENT))
            await s.commit()
        out = []
        for row in rows:
            o = Outgoing.from_json(row.payload)
            zone = o.zone or tz  # as the channels do
            text = cat.render(o.text, row.locale, zone) if o.text else ""
            buttons = []
            if row.person_id is not None:
                buttons = [(cat.render(b.label, row.locale, zone),
                            codec.pack(row.person_id, b.action))
                           for line in o.buttons for b in line]
            out.append(Reply(text, buttons, o.ask_phone is not None,
                             o.attachment.filename if o.attachment else None, o))
        return out
