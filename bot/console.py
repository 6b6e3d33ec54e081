"""The console channel: the same conversation core, driven from a terminal. With --demo it
also lets you switch person and move a simulated clock so reminders fire."""

from __future__ import annotations

import asyncio
import calendar
import re
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import IO

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from channels import LEAST, Capabilities, month
from channels.layout import ProgressThrottle, Shown, lay_out
from handlers.buttons import ButtonCodec
from handlers.core import Core
from handlers.events import EventKind, Incoming, Outgoing
from locales import Catalogs, Day, Msg, Raw, When
from scheduler.dispatcher import Delivered, Limits, Result, Waiting
from services.messages import DatePick
from storage import receipts
from storage.clock import Clock, ManualClock
from storage.models import ChannelAddress, OutboxMessage, Person, Role, RoleGrant

CHANNEL = "console"
KEPT_BUTTONS = 500
# A terminal shows any number of numbered options and prints a message's new state below the
# old one. Texts and payloads are held to what every chat channel carries, so that a flow
# tried here fits them all; a day is typed, with the month printed to read it from.
CAPABILITIES = Capabilities(
    buttons=KEPT_BUTTONS, buttons_per_row=8, list_rows=0, label_chars=200,
    text_chars=LEAST.text_chars, caption_chars=LEAST.caption_chars,
    action_bytes=LEAST.action_bytes, can_edit=True, can_ask_phone=True, month_grid=False,
)


@dataclass
class _Pending:
    """A chat's buttons, numbered on from one message to the next so that every message's
    buttons keep working and a number never means two of them (only the newest are kept)."""

    buttons: dict[int, str] = field(default_factory=dict)  # number -> packed payload
    shown_on: dict[int, str] = field(default_factory=dict)  # number -> the message it is on
    last: int = 0
    contact: bool = False  # the newest message asked for the phone number: [0]

    def add(self, payload: str, message: str | None = None) -> int:
        self.last += 1
        self.buttons[self.last] = payload
        if message is not None:
            self.shown_on[self.last] = message
        while len(self.buttons) > KEPT_BUTTONS:
            gone = next(iter(self.buttons))
            del self.buttons[gone]
            self.shown_on.pop(gone, None)
        return self.last


@dataclass(frozen=True)
class Look:
    """The console showing each message as another channel would (`--demo --channel
    whatsapp`): laid out within that channel's capabilities (channels.layout), which the
    composition root hands in, so that this front end imports no other. ``sessions`` and
    ``clock`` measure the person's session window, when the channel has one."""

    capabilities: Capabilities
    sessions: async_sessionmaker[AsyncSession] | None = None
    clock: Clock | None = None
    # The approved template that would carry a message outside the window (its name), None
    # when none would: the real channel then holds the message until the person writes.
    template_for: Callable[[Outgoing], str | None] | None = None


class ConsoleChannel:
    name = CHANNEL
    limits = Limits(per_second=None, per_chat_per_second=1000.0, chat_burst=1000)
    capabilities = CAPABILITIES

    def __init__(self, catalogs: Catalogs, buttons: ButtonCodec, timezone: str,
                 out: IO[str] | None = None, *, look: Look | None = None) -> None:
        self.catalogs = catalogs
        self.buttons = buttons
        self.timezone = timezone
        self.out = out or sys.stdout
        self.pending: dict[str, _Pending] = {}
        self.names: dict[str, str] = {}
        self.current: str | None = None
        self._counter = 0
        self.look = look
        if look is not None:  # what the core reads: replies are made for that channel
            self.capabilities = look.capabilities
        self.throttle = ProgressThrottle()

    def is_group(self, address: str) -> bool:
        return False

    async def deliver(self, row: OutboxMessage) -> Result:
        if self.look is not None:
            return await self._deliver_as(self.look, row)
        out = Outgoing.from_json(row.payload)
        loc = row.locale
        zone = out.zone or self.timezone  # the programme's zone, which the message carries
        self._counter += 1
        who = "" if row.address == self.current else f"[→ {self.names.get(row.address, row.address)}] "
        lines = []
        if out.updates:  # the new state of an earlier message, printed anew
            lines.append(self.catalogs.render(Msg("console.updated"), loc, zone))
        if out.text:
            lines.append(self.catalogs.render(out.text, loc, zone))
        if out.attachment:
            lines.append(f"📎 {out.attachment.filename} ({len(out.attachment.content)} B)")
        pend = self.pending.setdefault(row.address, _Pending())

        def option(label: Msg, action: str) -> str:
            assert row.person_id is not None
            n = pend.add(self.buttons.pack(row.person_id, action))
            return f"[{n}] {self.catalogs.render(label, loc, zone)}"

        if row.person_id is not None:
            if out.date_pick is not None:
                lines += self._month(out.date_pick, option, loc, zone)
            lines += ["   ".join(option(b.label, b.action) for b in line) for line in out.buttons]
            pager = out.pager
            if pager is not None and pager.pages > 1:
                where = self.catalogs.render(Msg("pager.page", {"page": pager.page + 1,
                                                                "pages": pager.pages}), loc, zone)
                turns = [option(Msg("pager.previous"), pager.previous)] if pager.previous else []
                turns.append(where)
                if pager.next:
                    turns.append(option(Msg("pager.next"), pager.next))
                lines.append("   ".join(turns))
        if out.options() or out.date_pick or out.pager or out.ask_phone:
            pend.contact = out.ask_phone is not None  # a new question: [0] only if this asks
        if out.ask_phone:
            lines.append(f"[0] {self.catalogs.render(out.ask_phone, loc, zone)}")
        text = "\n".join(lines)
        body = "\n".join("  " + ln for ln in text.splitlines())
        print(f"\n🤖 {who}\n{body}", file=self.out, flush=True)
        return Delivered(str(self._counter))

    async def _deliver_as(self, look: Look, row: OutboxMessage) -> Result:
        """Each message the other channel would send for this row, one after the other: its
        reply buttons, or a list behind its button, numbered like the console's own; a
        progress report only as often as a new message per report is bearable there."""
        out = Outgoing.from_json(row.payload)
        now = look.clock.now() if look.clock else datetime.now(UTC)
        if not self.throttle.due(row.address, out, now):
            return Delivered(None)
        loc = row.locale
        zone = out.zone or self.timezone
        caps = look.capabilities
        who = "" if row.address == self.current else f"[→ {self.names.get(row.address, row.address)}] "
        template = await self._template_mark(look, row, now)
        if template is not None and look.template_for is not None:
            name = look.template_for(out)
            if name is None:
                # As the channel does: it waits, and goes once the person writes.
                waits = self.catalogs.render(Msg("console.template_none"), loc, self.timezone)
                print(f"\n⏳ {who}{waits}", file=self.out, flush=True)
                return Waiting("outside the 24-hour window and no template carries this "
                               "message: it goes when the person writes")
            template = f"{template} · {name}"
        pend = self.pending.setdefault(row.address, _Pending())
        pend.contact = False  # no button shares a phone here: the number is typed
        last = None
        for shown in lay_out(out, caps, lambda m: self.catalogs.render(m, loc, zone)):
            self._counter += 1
            last = str(self._counter)
            lines = [template] if template else []
            template = None  # one template: the first message of the row
            lines += self._shown_lines(shown, row, pend, last)
            body = "\n".join("  " + ln for ln in "\n".join(lines).splitlines())
            print(f"\n🤖 {who}\n{body}", file=self.out, flush=True)
        return Delivered(last)

    def _shown_lines(self, shown: Shown, row: OutboxMessage, pend: _Pending,
                     message: str) -> list[str]:
        lines = []
        if shown.attachment is not None:
            lines.append(f"📎 {shown.attachment.filename} ({len(shown.attachment.content)} B)")
        if shown.location is not None:
            lines.append(f"📍 {shown.location[0]}, {shown.location[1]}")
        if shown.text:
            lines.append(shown.text)

        def number(action: str) -> str:
            assert row.person_id is not None
            return f"[{pend.add(self.buttons.pack(row.person_id, action), message)}]"

        if row.person_id is None:
            return lines
        lines += [f"{number(c.action)} {c.title}" for line in shown.buttons for c in line]
        if shown.rows:  # behind the list's button, as the person sees it once opened
            lines.append(f"☰ {shown.list_label}")
            for c in shown.rows:
                mark = number(c.action)
                lines.append(f"   {mark} {c.title}")
                if c.description:  # the rest of a long label, in smaller print below it
                    lines.append(f"   {' ' * len(mark)} {c.description}")
        return lines

    async def _template_mark(self, look: Look, row: OutboxMessage, now: datetime
                             ) -> str | None:
        """A line saying the row would go as an approved template, when the person's session
        window (from their last message) has closed, or they never wrote."""
        window = look.capabilities.session_window
        if window is None or look.sessions is None:
            return None
        async with look.sessions() as s:
            wrote = await receipts.last_wrote(s, row.channel, row.address)
        # The margin the channel keeps: the demo marks what it would send as a template.
        if receipts.window_is_open(wrote, now, window=window):
            return None
        key = "console.template_never_wrote" if wrote is None else "console.template_window"
        return self.catalogs.render(Msg(key), row.locale, self.timezone)

    def _month(self, pick: DatePick, option: Callable[[Msg, str], str],
               loc: str | None, zone: str) -> list[str]:
        """The month printed as a calendar to read the day from (days before the earliest as
        dots), its turns as options, and how to type the day."""
        first = pick.month.replace(day=1)
        render = self.catalogs.render
        open_days = set(month.days(pick))
        lines = [render(Msg("widget.month", {"month": Day(first, "month")}), loc, zone),
                 " ".join(f"{render(Msg(f'widget.wd{i}'), loc, zone):>2}" for i in range(7))]
        for week in calendar.Calendar().monthdatescalendar(first.year, first.month):
            lines.append(" ".join(
                "  " if d.month != first.month else f"{d.day:>2}" if d in open_days else " ·"
                for d in week).rstrip())
        turns = []
        before = month.previous_month(pick)
        if before is not None:
            turns.append(option(Msg("console.month_before", {"month": Day(before, "month")}),
                                month.turn_to(pick, before)))
        after = month.next_month(pick)
        turns.append(option(Msg("console.month_after", {"month": Day(after, "month")}),
                            month.turn_to(pick, after)))
        lines.append("   ".join(turns))
        example = min(open_days, default=first)
        lines.append(render(Msg("console.date_typed", {"example": Raw(f"{example:%d-%m-%Y}")}),
                            loc, zone))
        return lines


DURATION = re.compile(r"^(\d+)\s*([dhm])$")


def parse_duration(text: str) -> timedelta | None:
    m = DURATION.match(text.strip().lower())
    if not m:
        return None
    n, unit = int(m.group(1)), m.group(2)
    return {"d": timedelta(days=n), "h": timedelta(hours=n), "m": timedelta(minutes=n)}[unit]


class ConsoleSession:
    """Reads lines, turns them into events for the current person, and prints answers."""

    def __init__(
        self,
        core: Core,
        channel: ConsoleChannel,
        deliver: Callable[[list[int]], Awaitable[object]],
        drain: Callable[[], Awaitable[object]],
        clock: Clock,
        locale: str,
        *,
        demo: bool = False,
        on_clock_moved: Callable[[], Awaitable[object]] | None = None,
    ) -> None:
        self.core = core
        self.channel = channel
        self.deliver = deliver
        self.drain = drain
        self.clock = clock
        self.locale = locale
        self.demo = demo
        self.on_clock_moved = on_clock_moved
        self.address = "1"
        self.channel.current = self.address
        self._awaiting_phone = False

    def say(self, key: str, **params: object) -> None:
        print(self.channel.catalogs.render(Msg(key, params), self.locale, self.channel.timezone),
              file=self.channel.out, flush=True)

    async def people(self) -> dict[int, tuple[str, str]]:
        """The console's people by their number, which is their id (erasing someone leaves
        a gap rather than renumbering everyone after them), each with their roles in words
        after the name."""
        sessions = self.core.services.sessions
        async with sessions() as s:
            rows = (await s.execute(
                select(Person.id, ChannelAddress.address, Person.name)
                .join(Person)
                .where(ChannelAddress.channel == CHANNEL)
                .order_by(Person.id, ChannelAddress.id)
            )).all()
            held: dict[int, set[str]] = {}
            for pid, role in (await s.execute(select(RoleGrant.person_id, RoleGrant.role).where(
                    RoleGrant.person_id.in_([r[0] for r in rows])))).all():
                held.setdefault(pid, set()).add(role)
        cat = self.channel.catalogs
        newcomer = cat.text(self.locale, "console.newcomer")
        order = [str(r) for r in Role]
        out: dict[int, tuple[str, str]] = {}
        for pid, address, name in rows:
            roles = sorted(held.get(pid, ()), key=lambda r: order.index(r) if r in order else 99)
            label = name or newcomer
            if roles:
                words = ", ".join(cat.text(self.locale, f"adm_roles.role_{r}") for r in roles)
                label = cat.text(self.locale, "console.person", name=label, roles=words)
            out[pid] = (address, label)
        return out

    async def handle_line(self, line: str) -> bool:
        """Returns False when the person wants to leave."""
        line = line.strip()
        if not line:
            return True
        if line.lower() in ("/salir", "!salir", "/quit", "!quit"):
            return False
        if line.startswith("!"):
            await self._meta(line[1:])
            return True
        pend = self.channel.pending.get(self.address)
        if self._awaiting_phone:
            self._awaiting_phone = False
            await self._send(Incoming(CHANNEL, self.address, EventKind.CONTACT,
                                      contact_phone=line, contact_is_own=True))
            return True
        if pend and line.isdigit():
            n = int(line)
            if n == 0 and pend.contact:
                self._awaiting_phone = True
                print("📱 ?", file=self.channel.out, flush=True)
                return True
            if n in pend.buttons:
                # As the other channel reports a tap: with the message it was on (a "more"
                # row re-sends that message at its next page).
                ref = pend.shown_on.get(n) if self.channel.look else None
                await self._send(Incoming(CHANNEL, self.address, EventKind.BUTTON,
                                          button=pend.buttons[n], message_ref=ref))
                return True
        if line.startswith("/") and len(line) > 1:
            head, _, rest = line[1:].partition(" ")
            await self._send(Incoming(CHANNEL, self.address, EventKind.COMMAND,
                                      command=head.lower(), args=rest.strip() or None, text=line))
        else:
            await self._send(Incoming(CHANNEL, self.address, EventKind.TEXT, text=line))
        return True

    async def _send(self, event: Incoming) -> None:
        ids = await self.core.handle(event)
        await self.deliver(ids)

    async def _meta(self, cmd: str) -> None:
        name, _, arg = cmd.partition(" ")
        name = name.lower()
        if name in ("personas", "people"):
            for number, (addr, label) in (await self.people()).items():
                mark = "*" if addr == self.address else " "
                print(f" {mark}{number:>3}. {label}", file=self.channel.out)
        elif name in ("persona", "person"):
            people = await self.people()
            number = int(arg) if arg.strip().isdigit() else None
            if number not in people:
                self.say("console.no_such_person")
                return
            self.address, label = people[number]
            self.channel.current = self.address
            self.say("console.you_are", name=label)
        elif name in ("avanzar", "advance") and isinstance(self.clock, ManualClock):
            delta = parse_duration(arg)
            if delta is None:
                self.say("console.bad_duration")
                return
            self.clock.advance(delta)
            self.say("console.clock", when=When(self.clock.now()))
            if self.on_clock_moved:
                await self.on_clock_moved()
            await self.drain()
        elif name in ("hora", "time"):
            self.say("console.clock", when=When(self.clock.now()))
        else:
            self.say("console.demo_help")

    async def loop(self, stdin: IO[str] | None = None) -> None:
        stdin = stdin or sys.stdin
        loop = asyncio.get_running_loop()
        while True:
            print("\n> ", end="", file=self.channel.out, flush=True)
            line = await loop.run_in_executor(None, stdin.readline)
            if line == "":
                return
            if not await self.handle_line(line):
                return
