"""The conversation core: one unit of work per incoming event, whatever the channel."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from channels import LEAST, Capabilities
from domain.countries import Country
from handlers import typed_buttons
from handlers.buttons import ButtonCodec
from handlers.events import Button, EventKind, Incoming, Outgoing
from locales import SUPPORTED, Catalogs, Msg, reading_locale
from storage import failures, intake, outbox, people, privacy, programs, receipts
from storage.clock import Clock
from storage.failures import StorageUnavailable, unavailable
from storage.links import LinkBuilder
from storage.models import Conversation, OutboxMessage, Person

log = logging.getLogger(__name__)
T = TypeVar("T")
MAX_DOCUMENTS = 3  # documents one event may read; handlers read one


class DocumentTooBig(Exception):
    """The document is larger than its reader takes: refused before or while downloading."""


@dataclass(frozen=True)
class DocumentWanted:
    """A document a handler needs read, by ``read`` (blocking: run in a worker thread)."""

    file_id: str
    read: Callable[[bytes], Any]
    max_bytes: int


@dataclass
class Services:
    """What every handler may use; built once in ``main`` and passed in."""

    sessions: async_sessionmaker[AsyncSession]
    clock: Clock
    catalogs: Catalogs
    buttons: ButtonCodec
    timezone: str  # TIMEZONE: for a time with no programme to take the zone from
    default_locale: str = "es"
    admin_ids: frozenset[str] = frozenset()  # platform user ids, as "<channel>:<user id>"
    # How each channel hands over the bytes of a document a person sent (by its file id), up
    # to a size: beyond it, DocumentTooBig.
    files: dict[str, Callable[[str, int], Awaitable[bytes]]] = field(default_factory=dict)
    # Form definitions already read, by row id (rows never change; see storage.responses.form_of).
    forms: dict[int, Any] = field(default_factory=dict)
    # What each channel can show, as it declares it (channels.Capabilities), by channel name.
    capabilities: dict[str, Capabilities] = field(default_factory=dict)
    # The channels whose links go on what the team hands people (a printed card, a code to
    # pass on), the one most people have first: the composition root knows which that is.
    handed_links: tuple[str, ...] = ()
    # The web panel's base address for the links /web sends (PUBLIC_URL, else HTTP_LISTEN's);
    # None: this installation runs no panel.
    panel_url: str | None = None
    # The panel's page that a channel able to hold a web app beside the chat opens
    # (Capabilities.menu_app): only at a public https address, the only kind such apps load.
    panel_app_url: str | None = None

    def link_to_hand(self, own: str) -> LinkBuilder | None:
        """How a code handed to someone becomes a link: on the first channel of
        ``handed_links`` this installation can link to, else on ``own`` (the channel of the
        one asking), else None (the code alone). Not the asker's channel first: the people
        who get a card are not where the gestora is, they are where most people are."""
        for name in (*self.handed_links, own):
            caps = self.capabilities.get(name)
            if caps is not None and caps.deep_link is not None:
                return LinkBuilder(name, caps.deep_link, caps.handle)
        return None

    async def fetch_document(self, channel: str, file_id: str, max_bytes: int) -> bytes:
        fetch = self.files.get(channel)
        if fetch is None:
            raise LookupError(f"channel {channel!r} cannot hand over documents")
        content = await fetch(file_id, max_bytes)
        if len(content) > max_bytes:
            raise DocumentTooBig(file_id)
        return content


@dataclass
class Turn:
    """One incoming event being handled: the person, where they are, and what we answer."""

    services: Services
    session: AsyncSession
    event: Incoming
    person: Person
    convo: Conversation
    now: datetime
    action: str | None = None  # the verified button action
    replies: list[Outgoing] = field(default_factory=list)
    erased: bool = False
    # The person's roles in each programme and the one they work on (see storage.programs).
    standing: programs.Standing = field(default_factory=programs.Standing)
    # The zone the replies show times in: the person's programme's, or the one a handler
    # named because the turn is about another programme (see show_times_in).
    zone: str | None = None
    zone_named: bool = False
    # The country and locale of the person's programme (see place()).
    where: programs.Place = field(default_factory=programs.place_of_nothing)
    # Documents read before this attempt at the event, by file id: what their reader made of
    # them, or what fetching them raised (see document()).
    documents: dict[str, Any] = field(default_factory=dict)
    wanted: DocumentWanted | None = None

    @property
    def locale(self) -> str:
        return reading_locale(self.person.locale, self.where.locale) or \
            self.services.default_locale

    @property
    def country(self) -> Country:
        """The country of the person's programme: how their numbers are read."""
        return self.where.country

    @property
    def caps(self) -> Capabilities:
        """What the person's channel can show."""
        return self.services.capabilities.get(self.event.channel, LEAST)

    @property
    def timezone(self) -> str:
        """The zone this turn's times are in: the programme's, else the installation's."""
        return self.zone or self.services.timezone

    def today(self, zone: str | None = None) -> date:
        """The day it is in ``zone`` (a programme's), or where this turn's times are."""
        return self.now.astimezone(ZoneInfo(zone or self.timezone)).date()

    def say(
        self,
        key: str,
        *,
        buttons: list[list[Button]] | None = None,
        ask_phone: Msg | None = None,
        phone_asked_done: bool = False,
        **params: Any,
    ) -> None:
        self.replies.append(
            Outgoing(
                text=Msg(key, params),
                buttons=tuple(tuple(row) for row in buttons or []),
                ask_phone=ask_phone,
                phone_asked_done=phone_asked_done,
            )
        )

    def send(self, out: Outgoing) -> None:
        self.replies.append(out)

    def redraw(self, out: Outgoing) -> None:
        """``out`` is the new state of the message whose button was pressed (a list turned
        to another page, a card with a box ticked): the channel puts it in that message's
        place where it can. With no such message (a typed answer), it is a new one."""
        ref = self.event.message_ref
        self.send(dataclasses.replace(out, updates=ref) if ref else out)

    def show_times_in(self, zone: str) -> None:
        """This turn is about a programme of this zone (the one a team member works on)."""
        self.zone, self.zone_named = zone, True

    async def place(self) -> None:
        """Where the person stands now, and the zone of their programme unless a handler
        named one: called before the turn, and again after it (they may have just joined)."""
        self.standing = await programs.standing(self.session, self.person)
        if not self.zone_named:
            self.zone = await programs.zone_of(self.session, self.standing.home())
        self.where = await programs.place_of(self.session, self.standing.home())

    def document(self, file_id: str, read: Callable[[bytes], T], max_bytes: int) -> T | None:
        """What ``read`` makes of the document, read outside any transaction and off the
        event loop: a big spreadsheet takes seconds, and a transaction held that long stops
        every other writer (SQLite has one). ``None`` at first: the handler returns, the core
        drops this attempt, fetches and reads the document in a worker thread and handles
        the event again, when this returns the result or raises what fetching it raised
        (LookupError, DocumentTooBig, a network error)."""
        if file_id in self.documents:
            got = self.documents[file_id]
            if isinstance(got, Exception):
                raise got
            return got  # type: ignore[no-any-return]
        self.wanted = DocumentWanted(file_id, read, max_bytes)
        return None

    def go(self, flow: str | None, step: str | None = None, **data: Any) -> None:
        self.convo.flow = flow
        self.convo.step = step
        self.convo.data = {**(self.convo.data or {}), **data} if flow else {}
        self.convo.updated_at = self.now

    def data(self, key: str, default: Any = None) -> Any:
        return (self.convo.data or {}).get(key, default)

    def audit(self, action: str, entity: str | None = None, entity_id: int | None = None,
              **details: Any) -> None:
        people.audit(
            self.session, self.now, action, actor_id=self.person.id, channel=self.event.channel,
            entity=entity, entity_id=entity_id, **details,
        )


Handler = Callable[[Turn], Awaitable[None]]


def said_words(catalogs: Catalogs, key: str) -> frozenset[str]:
    """Every language's words for ``key`` (comma-separated in the catalogs), compared as
    typed labels are (typed_buttons.plain: "¡Basta!" is "basta"): a person may write in a
    language other than the one the bot speaks to them in."""
    words = (typed_buttons.plain(w) for loc in SUPPORTED
             for w in (catalogs.raw(loc, key) or "").split(","))
    return frozenset(w for w in words if w)


def place(fn: Callable[..., Any]) -> str:
    """Where a handler is written, as ``module:function``."""
    return f"{fn.__module__}:{fn.__qualname__}"


class RouteConflict(Exception):
    """Two handlers claim one command, button prefix, flow, or the fallback. Only one of them
    would ever answer, and which depended on the order of assembly: refused instead, so the
    bot does not start with a part nobody can reach."""

    def __init__(self, what: str, first: Callable[..., Any], second: Callable[..., Any]
                 ) -> None:
        self.what, self.first, self.second = what, place(first), place(second)
        super().__init__(f"{what} is registered twice: by {self.first} and by {self.second}")


def _claim(table: dict[str, Handler], key: str, fn: Handler, what: str) -> None:
    if key in table:
        raise RouteConflict(what, table[key], fn)
    table[key] = fn


@dataclass
class Router:
    """Commands by name, button actions by prefix, and free input by the flow a person is in;
    at most one handler for each, and one fallback for whatever none of them takes."""

    commands: dict[str, Handler] = field(default_factory=dict)
    actions: dict[str, Handler] = field(default_factory=dict)
    flows: dict[str, Handler] = field(default_factory=dict)
    # Flows that take what someone types before they accepted the use of their data (the
    # consent itself, erasing what little there is); every other flow's typing asks for it.
    before_consent: set[str] = field(default_factory=set)
    # Flows that take a photo (a report's picture); anywhere else a photo is answered as
    # any other message Convoca cannot read.
    takes_photos: set[str] = field(default_factory=set)
    said: dict[str, str] = field(default_factory=dict)  # catalog key of words -> command
    _fallback: Handler | None = field(default=None, repr=False)
    # A command no handler claims by name: a programme's own (its template's forms), known
    # only from the database.
    _other_commands: Handler | None = field(default=None, repr=False)

    def command(self, *names: str, said: str | None = None) -> Callable[[Handler], Handler]:
        """``said``: a catalog key whose words (comma-separated, in any language), typed
        alone, act as this command: where a platform tells people to reply a word (a
        WhatsApp template's "Responde BASTA") and a slash command is not what they type."""
        def deco(fn: Handler) -> Handler:
            for n in names:
                self._claim_command(n, fn)
            if said is not None:
                self._claim_said(said, names[0])
            return fn
        return deco

    def on_action(self, prefix: str) -> Callable[[Handler], Handler]:
        def deco(fn: Handler) -> Handler:
            self._claim_action(prefix, fn)
            return fn
        return deco

    def flow(self, name: str, *, before_consent: bool = False, photos: bool = False
             ) -> Callable[[Handler], Handler]:
        def deco(fn: Handler) -> Handler:
            self._claim_flow(name, fn)
            if before_consent:
                self.before_consent.add(name)
            if photos:
                self.takes_photos.add(name)
            return fn
        return deco

    @property
    def fallback(self) -> Handler | None:
        return self._fallback

    @fallback.setter
    def fallback(self, fn: Handler) -> None:
        if self._fallback is not None:
            raise RouteConflict("the fallback", self._fallback, fn)
        self._fallback = fn

    @property
    def other_commands(self) -> Handler | None:
        return self._other_commands

    @other_commands.setter
    def other_commands(self, fn: Handler) -> None:
        if self._other_commands is not None:
            raise RouteConflict("the other commands", self._other_commands, fn)
        self._other_commands = fn

    def include(self, other: Router) -> Router:
        """Add another router's routes; one already here raises RouteConflict."""
        for name, fn in other.commands.items():
            self._claim_command(name, fn)
        for prefix, fn in other.actions.items():
            self._claim_action(prefix, fn)
        for name, fn in other.flows.items():
            self._claim_flow(name, fn)
        self.before_consent |= other.before_consent
        self.takes_photos |= other.takes_photos
        for key, name in other.said.items():
            self._claim_said(key, name)
        if other.fallback is not None:
            self.fallback = other.fallback
        if other.other_commands is not None:
            self.other_commands = other.other_commands
        return self

    def _claim_command(self, name: str, fn: Handler) -> None:
        _claim(self.commands, name, fn, f"the command /{name}")

    def _claim_action(self, prefix: str, fn: Handler) -> None:
        _claim(self.actions, prefix, fn, f"the button prefix {prefix!r}")

    def _claim_flow(self, name: str, fn: Handler) -> None:
        _claim(self.flows, name, fn, f"the flow {name!r}")

    def _claim_said(self, key: str, name: str) -> None:
        if key in self.said:
            first, second = self.commands[self.said[key]], self.commands[name]
            raise RouteConflict(f"the words {key!r}", first, second)
        self.said[key] = name

    async def dispatch(self, turn: Turn) -> None:
        ev = turn.event
        if ev.kind == EventKind.PHOTO and turn.convo.flow not in self.takes_photos:
            ev = turn.event = dataclasses.replace(ev, kind=EventKind.UNSUPPORTED,
                                                  unsupported="photo", document=None)
        if ev.kind == EventKind.COMMAND and ev.command in self.commands:
            await self.commands[ev.command](turn)
            return
        said = self._said(turn) if ev.kind == EventKind.TEXT else None
        if said is not None:
            # Before any flow: "BASTA" must stop the notices whatever the person was doing.
            await self.commands[said](turn)
            return
        if ev.kind == EventKind.BUTTON:
            action = turn.services.buttons.unpack(turn.person.id, ev.button or "")
            if action is None:
                turn.say("input.button_invalid")
                return
            await self._press(turn, action)
            return
        if ev.kind == EventKind.TEXT:
            pressed = await typed_buttons.offered(turn)
            if len(pressed) > 1:
                turn.say("input.label_ambiguous", label=next(iter(pressed.values())))
                return
            if pressed:
                await self._press(turn, next(iter(pressed)))
                return
        flow = turn.convo.flow
        if (ev.kind == EventKind.TEXT and turn.person.consent_at is None
                and flow not in self.before_consent and self.fallback):
            # A family written to first (paper consent) answers its notice's buttons; what it
            # types is its first word to the bot: the consent comes first (the fallback).
            await self.fallback(turn)
            return
        if ev.kind != EventKind.COMMAND and flow in self.flows:
            await self.flows[flow](turn)
            return
        if ev.kind == EventKind.COMMAND:
            if self.other_commands is not None:
                await self.other_commands(turn)
            else:
                turn.say("input.unknown_command", command="/" + (ev.command or ""))
            return
        if self.fallback:
            await self.fallback(turn)

    def _said(self, turn: Turn) -> str | None:
        typed = typed_buttons.plain(turn.event.text or "")
        if not typed:
            return None
        catalogs = turn.services.catalogs
        for key, name in self.said.items():
            if typed in said_words(catalogs, key):
                return name
        return None

    async def _press(self, turn: Turn, action: str) -> None:
        turn.action = action
        handler = self.actions.get(action.split(":", 1)[0])
        if handler is None:
            turn.say("input.button_stale")
            return
        await handler(turn)


class Core:
    def __init__(self, services: Services, router: Router) -> None:
        self.services = services
        self.router = router

    async def handle(self, event: Incoming) -> list[int]:
        """Handle one event in one unit of work, recording its update (when it has one) as
        handled in that same unit: for a channel with no platform waiting for an
        acknowledgement (the console). Returns the outbox ids of the replies, which the
        channel may deliver at once (the dispatcher would pick them up anyway)."""
        return [row.id for row in await self._handle(event, None, None)]

    async def handle_stored(self, entry: intake.Claimed, claim: outbox.ReplyClaim | None
                            ) -> list[OutboxMessage]:
        """Handle an update the intake stored and this process claimed, marking it handled in
        the turn's unit of work; nothing when it is not this process's to handle any more.
        The replies written are claimed by ``claim``'s worker (when given) and returned as
        rows, so that worker sends them with no second look at the database.

        Raises StorageUnavailable when the database could not keep the turn (a full disk, a
        lost connection): nothing of it was kept, and the update is still to be handled."""
        return await self._handle(Incoming.from_json(entry.event), entry, claim)

    async def _handle(self, event: Incoming, entry: intake.Claimed | None,
                      claim: outbox.ReplyClaim | None) -> list[OutboxMessage]:
        try:
            return await self._handle_claimed(event, entry, claim)
        except StorageUnavailable:
            raise
        except Exception as exc:
            if unavailable(exc):
                raise StorageUnavailable(failures.reason(exc)) from exc
            raise

    async def _handle_claimed(self, event: Incoming, entry: intake.Claimed | None,
                              claim: outbox.ReplyClaim | None) -> list[OutboxMessage]:
        now = self.services.clock.now()
        documents: dict[str, Any] = {}
        while True:
            done = await self._attempt(event, entry, claim, now, documents)
            if not isinstance(done, DocumentWanted):
                return done
            if len(documents) >= MAX_DOCUMENTS:
                log.error("handling %s wants more than %d documents", event.kind, MAX_DOCUMENTS)
                return await self._apologise(event, entry, None, now, claim)
            documents[done.file_id] = await self._read_document(event.channel, done)

    async def _read_document(self, channel: str, wanted: DocumentWanted) -> Any:
        try:
            content = await self.services.fetch_document(channel, wanted.file_id,
                                                         wanted.max_bytes)
            return await asyncio.to_thread(wanted.read, content)
        except Exception as exc:  # the handler answers for it on the next attempt
            return exc

    async def _attempt(self, event: Incoming, entry: intake.Claimed | None,
                       claim: outbox.ReplyClaim | None, now: datetime,
                       documents: dict[str, Any]) -> list[OutboxMessage] | DocumentWanted:
        s = self.services
        async with s.sessions() as session:
            if not await _first_sight(session, event, entry, now):
                log.info("update %s:%s already handled", event.channel, event.update_id)
                return []
            person = await people.by_address(session, event.channel, event.address)
            if person is None:
                person = await _known_elsewhere(session, event, now)
            if person is None:
                person = await people.create_with_address(
                    session, event.channel, event.address, now, name=event.sender_name
                )
            if not person.reachable:
                person.reachable, person.unreachable_reason = True, None
            await people.touch_address(session, event.channel, event.address,
                                       _written_at(event, now), event.message_id)
            if s.capabilities.get(event.channel, LEAST).session_window is not None:
                # They wrote: what waited for their window may go now (the intake wakes the
                # dispatcher once the turn is done). Only a channel with a window holds any.
                await receipts.release_waiting(session, event.channel, event.address, now)
            convo = await people.conversation(session, person.id, now)
            locale = person.locale  # still readable after a rollback, for the apology
            turn = Turn(s, session, event, person, convo, now, documents=documents)
            try:
                await turn.place()
                await self.router.dispatch(turn)
                if turn.wanted is not None:
                    # A document to read first, outside any transaction: nothing is kept.
                    await session.rollback()
                    return turn.wanted
                await session.flush()
                rows = await self._enqueue_replies(session, turn, now, claim)
                await session.commit()
            except Exception as exc:
                if unavailable(exc):
                    # Not the turn's fault: no apology, and nothing marked handled.
                    raise
                log.exception("handling %s from %s:%s failed", event.kind, event.channel,
                              event.address)
                await session.rollback()
                failed = True
            else:
                failed = False
        if failed:
            # The apology gets a session of its own, once this one has let its connection go.
            return await self._apologise(event, entry, locale, now, claim)
        if turn.erased:
            await privacy.settle_erasure(s.sessions)
        return rows

    async def _enqueue_replies(self, session: AsyncSession, turn: Turn, now: datetime,
                               claim: outbox.ReplyClaim | None) -> list[OutboxMessage]:
        ev = turn.event
        person_id = None if turn.erased else turn.person.id
        if not turn.erased and turn.replies:
            await turn.place()
        ref = _reply_ref(ev, now)
        rows = []
        for i, out in enumerate(turn.replies):
            env = outbox.Envelope(person_id, ev.channel, ev.address, out.to_json(), turn.locale,
                                  turn.zone)
            row = await _insert_reply(session, env, f"reply:{ev.channel}:{ev.address}:{ref}:{i}",
                                      now, claim, self.services.clock)
            if row is not None:
                rows.append(row)
        return rows

    async def _apologise(self, event: Incoming, entry: intake.Claimed | None,
                         locale: str | None, now: datetime,
                         claim: outbox.ReplyClaim | None) -> list[OutboxMessage]:
        # The person still gets an answer, and the update is still marked handled, so a
        # redelivery does not hit the same failure again.
        async with self.services.sessions() as session:
            if not await _first_sight(session, event, entry, now):
                return []  # another process took it over meanwhile, and answers it
            env = outbox.Envelope(
                None, event.channel, event.address,
                Outgoing(text=Msg("error.generic")).to_json(),
                locale or self.services.default_locale,
            )
            ref = _reply_ref(event, now)
            row = await _insert_reply(session, env,
                                      f"reply:{event.channel}:{event.address}:{ref}:err",
                                      now, claim, self.services.clock)
            await session.commit()
        return [row] if row is not None else []


async def _first_sight(session: AsyncSession, event: Incoming, entry: intake.Claimed | None,
                       now: datetime) -> bool:
    """Mark the event's update handled in this unit of work; False when it was before (or,
    stored, is no longer this process's to handle)."""
    if entry is not None:
        return await intake.mark_handled(session, entry, now)
    if event.update_id is None:
        return True
    return await intake.record_handled(session, intake.Received(
        event.channel, str(event.update_id), event.address, {}, event.to_json()), now)


def _written_at(event: Incoming, now: datetime) -> datetime:
    """When the person wrote: the platform's word for it, never later than now."""
    if event.sent_at:
        with contextlib.suppress(ValueError):
            return min(now, datetime.fromisoformat(event.sent_at))
    return now


async def _known_elsewhere(session: AsyncSession, event: Incoming, now: datetime
                           ) -> Person | None:
    """Someone writing from a new channel whose number the platform vouches for (WhatsApp's
    sender is a phone) is the person already known by that number on another chat: one
    person with one history, not two. Only when exactly one person has it: two would be a
    guess."""
    if not event.sender_phone:
        return None
    known = await people.with_chat_by_phone(session, event.sender_phone)
    if len(known) != 1:
        return None
    await people.add_address(session, known[0], event.channel, event.address, now)
    people.audit(session, now, "address_added", actor_id=known[0].id, channel=event.channel,
                 entity="person", entity_id=known[0].id, via="phone")
    return await people.by_address(session, event.channel, event.address)


def _reply_ref(event: Incoming, now: datetime) -> str:
    """What makes a reply's key unique: its update, and the day it was handled (an update id
    is remembered for two days only, and the platform may use it again later)."""
    if event.update_id is None:
        return uuid.uuid4().hex
    return f"{event.update_id}@{now:%Y%m%d}"


async def _insert_reply(session: AsyncSession, env: outbox.Envelope, key: str, now: datetime,
                        claim: outbox.ReplyClaim | None, clock: Clock) -> OutboxMessage | None:
    values = outbox.row_values(env, key=key, kind="reply", now=now, urgent=True, claim=claim)
    if claim is not None:  # the lease runs from now, not from when the turn began
        values["claimed_until"] = clock.now() + claim.lease
    new_id = await outbox.insert_row(session, values)
    # A detached copy of what was stored: the worker that claimed it sends from this.
    return None if new_id is None else OutboxMessage(id=new_id, **values)
