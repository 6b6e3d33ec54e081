"""A test channel with WhatsApp's limits (3 reply buttons, lists of 10 rows, labels of 20, no
edits, no phone button, no month of days, a 24-hour window), and a harness that drives the
conversation core through it without HTTP: a person types, or picks an option by its title.

It is not the WhatsApp client (no Cloud API, no templates): it lays every outbox row out
with channels.layout and fails the test the moment a message would not fit those limits."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from bot.app import App
from channels import Capabilities
from channels.layout import (
    ELLIPSIS,
    ROW_DESCRIPTION_CHARS,
    ROW_TITLE_CHARS,
    ProgressThrottle,
    Shown,
    lay_out,
)
from handlers.events import DocumentRef, EventKind, Incoming, Outgoing
from scheduler.dispatcher import Delivered, Limits, Result
from storage import outbox
from storage.models import ChannelAddress, OutboxMessage, OutboxStatus

CHANNEL = "wa_limited"
WA_LIMITED = Capabilities(
    buttons=3, buttons_per_row=1, list_rows=10, label_chars=20, text_chars=4096,
    caption_chars=1024, action_bytes=200, can_edit=False, can_ask_phone=False,
    month_grid=False, session_window=timedelta(hours=24), choice_text_chars=1024,
)


def violations(shown: Shown, caps: Capabilities, packed: dict[str, str] | None = None
               ) -> list[str]:
    """What of one laid-out message a channel with ``caps`` (and WhatsApp's list rows)
    would refuse; ``packed``: each action as it leaves, signed."""
    bad = []
    choices = shown.choices()
    if len(shown.text) > caps.text_chars:
        bad.append(f"text of {len(shown.text)} characters")
    if choices and len(shown.text) > (caps.choice_text_chars or caps.text_chars):
        bad.append(f"text of {len(shown.text)} characters with options")
    if shown.attachment and len(shown.text) > caps.caption_chars:
        bad.append(f"caption of {len(shown.text)} characters")
    if shown.buttons and shown.rows:
        bad.append("both buttons and a list")
    buttons = [c for row in shown.buttons for c in row]
    if len(buttons) > caps.buttons:
        bad.append(f"{len(buttons)} buttons")
    if any(len(row) > caps.buttons_per_row for row in shown.buttons):
        bad.append("a row wider than the channel's")
    bad += [f"label {c.title!r}" for c in buttons if not c.title or len(c.title) > caps.label_chars]
    if shown.rows:
        if not caps.list_rows:
            bad.append("a list where there are none")
        if len(shown.rows) > caps.list_rows:
            bad.append(f"{len(shown.rows)} list rows")
        if not shown.list_label or len(shown.list_label) > caps.label_chars:
            bad.append(f"list button {shown.list_label!r}")
        bad += [f"row title {c.title!r}" for c in shown.rows
                if not c.title or len(c.title) > ROW_TITLE_CHARS]
        bad += [f"row description {c.description!r}" for c in shown.rows
                if len(c.description) > ROW_DESCRIPTION_CHARS]
    titles = [c.title for c in choices]
    if len(set(titles)) != len(titles):
        bad.append(f"titles alike: {titles}")
    if choices and not shown.text:
        bad.append("options without a text")
    if shown.updates and not caps.can_edit:
        bad.append("an edit")
    if shown.ask_phone and not caps.can_ask_phone:
        bad.append("a phone button")
    for c in choices:
        payload = (packed or {}).get(c.action, c.action)
        if len(payload.encode()) > caps.action_bytes:
            bad.append(f"action {c.action!r} of {len(payload.encode())} bytes")
    return bad


@dataclass
class Message:
    """One message as the person got it."""

    id: str
    shown: Shown
    actions: dict[str, str] = field(default_factory=dict)  # title -> packed payload
    row_id: int | None = None
    raw: Outgoing | None = None

    @property
    def text(self) -> str:
        return self.shown.text

    def titles(self) -> list[str]:
        return [c.title for c in self.shown.choices()]


class WaLimitedChannel:
    """Delivers outbox rows laid out within ``caps``; a row that would not fit fails."""

    name = CHANNEL
    limits = Limits(per_second=None, per_chat_per_second=1000.0, chat_burst=1000)

    def __init__(self, app: App, caps: Capabilities = WA_LIMITED) -> None:
        self.app = app
        self.caps = self.capabilities = caps
        self.ids = itertools.count(1)
        self.chats: dict[str, list[Message]] = {}
        self.throttle = ProgressThrottle()
        self.skipped: list[Outgoing] = []  # progress reports thinned out
        self.shapes: list[Outgoing] = []  # every reply laid out: the contract test reads them
        self.templates_needed: list[str] = []  # kinds sent outside the session window

    def is_group(self, address: str) -> bool:
        return False

    async def deliver(self, row: OutboxMessage) -> Result:
        out = Outgoing.from_json(row.payload)
        self.shapes.append(out)
        if not self.throttle.due(row.address, out, self.app.clock.now()):
            self.skipped.append(out)
            return Delivered(None)
        zone = out.zone or self.app.services.timezone
        cat, codec = self.app.catalogs, self.app.services.buttons
        last = None
        for shown in lay_out(out, self.caps, lambda m: cat.render(m, row.locale, zone)):
            packed = ({c.action: codec.pack(row.person_id, c.action) for c in shown.choices()}
                      if row.person_id is not None else {})
            bad = violations(shown, self.caps, packed)
            assert not bad, f"{out} cannot be shown on {self.name}: {bad}"
            last = Message(str(next(self.ids)), shown,
                           {c.title: packed[c.action] for c in shown.choices() if packed},
                           row.id, out)
            self.chats.setdefault(row.address, []).append(last)
        return Delivered(last.id if last else None)


class WaHarness:
    """The core through the WhatsApp-limited channel: events in, messages out, in order."""

    variant = "limited"

    def __init__(self, app: App) -> None:
        self.app = app
        self.channel = WaLimitedChannel(app)
        app.services.capabilities[CHANNEL] = WA_LIMITED
        self.update_id = 0
        # Kinds of rows left waiting until a test delivers them itself (drain(kind=...)),
        # as a paced dispatcher would leave a broadcast going out behind the replies.
        self.hold: set[str] = set()
        self.files: dict[str, bytes] = {}
        app.services.files[CHANNEL] = self._file
        self.phones: dict[str, str] = {}  # address -> the number the platform vouches for

    async def _file(self, file_id: str, max_bytes: int) -> bytes:
        return self.files[file_id][:max_bytes + 1]

    def chat(self, address: str | int) -> list[Message]:
        return self.channel.chats.get(str(address), [])

    async def event(self, address: str | int, kind: EventKind, **kw: object) -> list[Message]:
        address = str(address)
        self.update_id += 1
        kw.setdefault("sender_id", address)
        # A channel that vouches for the sender's number says so on every event (WhatsApp).
        kw.setdefault("sender_phone", self.phones.get(address))
        before = len(self.chat(address))
        ev = Incoming(CHANNEL, address, kind, update_id=self.update_id, **kw)  # type: ignore[arg-type]
        await self.app.core.handle(ev)
        await self.drain()
        return self.chat(address)[before:]

    async def send(self, address: str | int, text: str) -> list[Message]:
        if text.startswith("/") and len(text) > 1:
            head, _, rest = text[1:].partition(" ")
            return await self.event(address, EventKind.COMMAND, command=head.lower(),
                                    args=rest.strip() or None, text=text)
        return await self.event(address, EventKind.TEXT, text=text)

    @staticmethod
    def _is(shown: str, title: str, contains: bool) -> bool:
        """The option shown as ``shown`` is the one labelled ``title``: the same, holding it
        (``contains``), or the label shortened to fit."""
        return (shown == title or (contains and title in shown)
                or (shown.endswith(ELLIPSIS) and title.startswith(shown[:-1])))

    def find(self, address: str | int, title: str, *, contains: bool = False
             ) -> tuple[Message, str] | None:
        """The newest message showing the option, and its title as shown."""
        for m in reversed(self.chat(address)):
            for t in m.actions:
                if self._is(t, title, contains):
                    return m, t
        return None

    def offered(self, address: str | int) -> Message | None:
        """The newest message with options."""
        return next((m for m in reversed(self.chat(address)) if m.actions), None)

    async def press(self, address: str | int, title: str, *, contains: bool = False,
                    pages: int = 12) -> list[Message]:
        """Pick the option with this title (or holding it, ``contains``) on the newest
        message showing it; when the newest choice is a list whose later page may hold it,
        its "more" row is pressed until the option shows."""
        for _ in range(pages):
            last = self.offered(address)
            here = last is not None and any(self._is(t, title, contains) for t in last.actions)
            more = [c.title for c in last.shown.choices()
                    if c.action.startswith("more:") and c.action != "more:0"] if last else []
            if not here and more:
                await self.event(address, EventKind.BUTTON, button=last.actions[more[0]],
                                 message_ref=last.id)
                continue
            found = self.find(address, title, contains=contains)
            if found is None:
                break
            m, t = found
            return await self.event(address, EventKind.BUTTON, button=m.actions[t],
                                    message_ref=m.id)
        raise AssertionError(f"no option {title!r} for {address}; last: "
                             f"{[m.titles() for m in self.chat(address)[-3:]]}")

    async def send_document(self, address: str | int, filename: str, content: bytes,
                            mime: str, caption: str | None = None) -> list[Message]:
        file_id = f"f{len(self.files) + 1}"
        self.files[file_id] = content
        return await self.event(address, EventKind.DOCUMENT, text=caption,
                                document=DocumentRef(file_id, filename, mime, len(content)))

    def _window(self, row: OutboxMessage, last_inbound: datetime | None, now: datetime) -> None:
        """A reply falls in the session window (the person just wrote); anything else sent
        after it closed would have to be an approved template on WhatsApp: noted."""
        window = self.channel.caps.session_window
        if window is None or row.kind == "reply":
            return
        if last_inbound is not None and last_inbound.tzinfo is None:
            last_inbound = last_inbound.replace(tzinfo=UTC)
        if last_inbound is None or now - last_inbound > window:
            self.channel.templates_needed.append(row.kind)

    async def drain(self, kind: str | None = None, limit: int | None = None) -> None:
        """Deliver the rows due on this channel (of one kind, at most ``limit``), oldest
        first, as the dispatcher would."""
        now = self.app.clock.now()
        async with self.app.sessions() as s:
            rows = list((await s.scalars(
                select(OutboxMessage).where(OutboxMessage.channel == CHANNEL,
                                            OutboxMessage.status == OutboxStatus.PENDING,
                                            OutboxMessage.not_before <= now)
                .where(OutboxMessage.kind == kind if kind else OutboxMessage.kind.not_in(
                    self.hold))
                .order_by(OutboxMessage.id).limit(limit))).all())
            for row in rows:
                if outbox.is_expired(row, now):
                    continue
                self._window(row, await s.scalar(select(ChannelAddress.last_inbound_at).where(
                    ChannelAddress.channel == CHANNEL, ChannelAddress.address == row.address)),
                    now)
                result = await self.channel.deliver(row)
                assert isinstance(result, Delivered)
                await outbox.mark_sent(s, row.id, now, result.platform_id)
            await s.commit()
