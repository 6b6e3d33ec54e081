"""The console channel: the same conversation core, driven from a terminal. With --demo it
also lets you switch person and move a simulated clock so reminders fire."""

from __future__ import annotations

import asyncio
import calendar
import re
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import IO

from sqlalchemy import select

from channels import LEAST, Capabilities, month
from handlers.buttons import ButtonCodec
from handlers.core import Core
from handlers.events import EventKind, Incoming, Outgoing
from locales import Catalogs, Day, Msg, Raw, When
from scheduler.dispatcher import Delivered, Limits, Result
from services.messages import DatePick
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
    last: int = 0
    contact: bool = False  # the newest message asked for the phone number: [0]

    def add(self, payload: str) -> int:
        self.last += 1
        self.buttons[self.last] = payload
        while len(self.buttons) > KEPT_BUTTONS:
            del self.buttons[next(iter(self.buttons))]
        return self.last


class ConsoleChannel:
    name = CHANNEL
    limits = Limits(per_second=None, per_chat_per_second=1000.0, chat_burst=1000)
    capabilities = CAPABILITIES

    def __init__(self, catalogs: Catalogs, buttons: ButtonCodec, timezone: str,
                 out: IO[str] | None = None) -> None:
        self.catalogs = catalogs
        self.buttons = buttons
        self.timezone = timezone
        self.out = out or sys.stdout
        self.pending: dict[str, _Pending] = {}
        self.names: dict[str, str] = {}
        self.current: str | None = None
        self._counter = 0

    def is_group(self, address: str) -> bool:
        return False

    async def deliver(self, row: OutboxMessage) -> Result:
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
                await self._send(Incoming(CHANNEL, self.address, EventKind.BUTTON,
                                          button=pend.buttons[n]))
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
