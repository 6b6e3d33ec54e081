"""Delivers the outbox: keeps to the channel's limits, waits out 429s, retries transient
failures with backoff, marks people who blocked the bot, and never sends a row twice."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, timedelta
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from channels.capabilities import Capabilities
from scheduler.leases import Lease, LeaseTimes
from storage import outbox, people, receipts
from storage.clock import Clock
from storage.models import OutboxMessage, OutboxStatus, Person

log = logging.getLogger(__name__)


# --- what a channel answers ------------------------------------------------------------


@dataclass(frozen=True)
class Delivered:
    platform_id: str | None = None
    # Every message the platform made of the row, where it reports on each later (WhatsApp's
    # receipts): kept so that each receipt finds its row.
    parts: tuple[str, ...] = ()


@dataclass(frozen=True)
class RetryAfter:
    seconds: float
    reason: str = "rate limited"


@dataclass(frozen=True)
class Transient:
    reason: str
    # Seconds to wait before the next try, when the platform says how long (WhatsApp holds a
    # template back for a day); otherwise the backoff decides.
    after: float | None = None


@dataclass(frozen=True)
class Blocked:
    reason: str
    # Unreachable on this channel only (a number not on WhatsApp): the person may still be
    # reached on another.
    channel_only: bool = False


@dataclass(frozen=True)
class Rejected:
    reason: str


@dataclass(frozen=True)
class Waiting:
    """Not sent and not failed: the message may only go once the person writes again (outside
    WhatsApp's 24-hour window, with no approved template for it). It waits, its reason shown
    to the gestora, and goes as soon as the person writes."""

    reason: str


@dataclass(frozen=True)
class Uncertain:
    """The send went out and no answer came back (a time-out, a dropped connection): the
    platform may or may not have the message. Not sent again, because twice is worse than
    asking the gestora to check; a receipt that names the row later settles it as sent
    (storage.receipts.settle_by_receipt)."""

    reason: str


@dataclass(frozen=True)
class NotDelivered:
    """What a channel's probe says of a message that never reached the person."""


Result = Delivered | RetryAfter | Transient | Blocked | Rejected | Waiting | Uncertain


@dataclass(frozen=True)
class Limits:
    """How fast a channel may send, as it declares it; the defaults are a cautious pace for
    a chat platform: ~30 messages/s overall, about 1/s per chat (short bursts are
    tolerated), 20/min per group."""

    per_second: float | None = 30.0
    per_chat_per_second: float = 1.0
    chat_burst: int = 3
    group_per_minute: int = 20


class Channel(Protocol):
    name: str
    limits: Limits
    capabilities: Capabilities  # what one of its messages can show
    # The platform account it sends as (a bot's id, a WhatsApp phone-number id), when the
    # platform limits the account's rate: one process at a time sends for it (a lease).
    # Optional: a channel without one (the console) is sent by every process that has it.

    async def deliver(self, message: OutboxMessage) -> Result: ...

    def is_group(self, address: str) -> bool: ...


class Preparing(Protocol):
    async def prepare(self, session: AsyncSession, rows: list[OutboxMessage]) -> None:
        """Read at once, in the session that claimed them, what the channel would otherwise
        look up for each of these rows when sending it (WhatsApp: whose 24-hour window is
        open). Optional: a channel without it looks up per row, as it must for rows it was
        not prepared for."""
        ...


class Probing(Protocol):
    async def probe(self, message: OutboxMessage, known: list[str]
                    ) -> Delivered | NotDelivered | None:
        """Whether a message in flight when a process died reached the person: Delivered,
        NotDelivered, or None when the channel cannot tell. ``known`` is what the platform
        called the messages of that chat known here (ours delivered, the person's last), in
        the channel's own terms."""
        ...


# Not sent: this process no longer holds its channel's sender lease (recorded as a release).
UNSENT = "unsent"


# --- rate limiting (real time, not the domain clock: it is about the wire) ----------------


def window_cap(per_second: float) -> int:
    """Sends allowed in any one-second window, and the pace: ~3% under the limit and at
    least one message under it, for what is left of the jitter between our clock and the
    far side's; 30/s -> 29, 300/s -> 291."""
    limit = int(per_second)
    return max(1, limit - max(1, round(limit * 0.03)))


START_LEAD = 0.05  # seconds: the first slot after idle, time for its wave to be claimed
CATCH_UP = 0.8  # late paced sends go at most 1/0.8 = 1.25 times the pace


class Pacer:
    """Spaces sends evenly at the cap a little under the limit (``window_cap``), so a
    sliding one-second window on the other side never sees more than the limit."""

    def __init__(self, per_second: float | None, monotonic: Callable[[], float]) -> None:
        self.interval = 0.0 if not per_second else 1.0 / window_cap(per_second)
        self._next = 0.0
        self._paused_until = 0.0
        self._now = monotonic

    def pause(self, seconds: float) -> None:
        self._paused_until = max(self._paused_until, self._now() + seconds)

    def delay(self) -> float:
        now = self._now()
        return max(0.0, self._paused_until - now, self._next - now)

    def reserve(self) -> float:
        """The next free moment to send at (monotonic), taken for the caller. Coming from
        idle, the first slot leaves the rows time to be claimed: a slot already past when
        its row is ready is caught up, and a start that begins behind bunched its sends."""
        now = self._now()
        slot = max(now + START_LEAD if self._next < now else now, self._next,
                   self._paused_until)
        self._next = slot + self.interval
        return slot

    def paused_for(self) -> float:
        return max(0.0, self._paused_until - self._now())


class ChatBuckets:
    """A token bucket per chat: bursts of a few, then the per-chat rate."""

    def __init__(self, limits: Limits, is_group: Callable[[str], bool],
                 monotonic: Callable[[], float]) -> None:
        self._limits = limits
        self._is_group = is_group
        self._now = monotonic
        self._state: dict[str, tuple[float, float]] = {}  # address -> (tokens, at)

    def _params(self, address: str) -> tuple[float, float]:
        if self._is_group(address):
            return self._limits.group_per_minute / 60.0, 1.0
        return self._limits.per_chat_per_second, float(self._limits.chat_burst)

    def _tokens(self, address: str) -> float:
        rate, burst = self._params(address)
        tokens, at = self._state.get(address, (burst, self._now()))
        return min(burst, tokens + (self._now() - at) * rate)

    def ready(self, address: str) -> bool:
        return self._tokens(address) >= 1.0

    def wait(self, address: str) -> float:
        rate, _ = self._params(address)
        return max(0.0, (1.0 - self._tokens(address)) / rate)

    def take(self, address: str) -> None:
        # Replies go at once even with no token left; the debt is capped so that a busy
        # conversation delays the chat's next notice by a second, not by one per reply.
        self._state[address] = (max(0.0, self._tokens(address) - 1.0), self._now())
        if len(self._state) > 50_000:
            self._prune()

    def _prune(self) -> None:
        now = self._now()
        self._state = {a: v for a, v in self._state.items() if now - v[1] < 10}


# --- the dispatcher -----------------------------------------------------------------------


HEARTBEAT_EVERY = 10.0  # seconds; see storage.outbox.HEARTBEAT_STALE
# While this process sends for a leased channel, how often it looks for rows another process
# queued (replies to the updates it handled): the reply latency those pay, about half of it.
HOLDER_POLL = 0.1
HANDED_POLL = 0.05  # how often a process waits on replies it left to the sender
HANDED_WAIT = 100.0  # then it lets the person go on (the intake's own lease is 120 s)
PACED_AHEAD = 0.5  # seconds of slots handed out ahead: rows claimed but not yet sent
WAVE = 32  # rows claimed, sent side by side and recorded together
# Due rows read per pass: enough for several waves and half a second at 300/s; more only
# costs reading rows whose turn is far off (500 took ~8 ms to read).
WINDOW = 256
MAX_WAVES = 4  # waves in flight at once: one being claimed or recorded while others send


def backoff(attempts: int, rng: random.Random) -> float:
    base = min(300.0, 2.0 ** max(0, attempts - 1))
    return base * (0.75 + rng.random() / 2)


class Dispatcher:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        clock: Clock,
        channels: Iterable[Channel],
        *,
        worker_id: str | None = None,
        concurrency: int = WAVE,
        lease: timedelta = timedelta(seconds=120),
        max_attempts: int = 8,
        window: int = WINDOW,
        monotonic: Callable[[], float] = time.monotonic,
        on_sent: Callable[[OutboxMessage, Result], None] | None = None,
        leases: LeaseTimes | None = None,
    ) -> None:
        self.sessions = sessions
        self.clock = clock
        self.channels = {c.name: c for c in channels}
        self.worker_id = worker_id or outbox.worker_identity()
        self.concurrency = concurrency
        self.lease = lease
        self.max_attempts = max_attempts
        self.window = window
        self._monotonic = monotonic
        self._pacers = {n: Pacer(c.limits.per_second, monotonic) for n, c in self.channels.items()}
        self._buckets = {
            n: ChatBuckets(c.limits, c.is_group, monotonic) for n, c in self.channels.items()
        }
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._rng = random.Random()
        self._on_sent = on_sent
        self._busy: set[int] = set()
        self._waves: set[asyncio.Task[int]] = set()
        self._chats_busy: dict[tuple[str, str], int] = {}
        self._gates: dict[str, asyncio.Lock] = {}
        # Per limited channel, the last sends: [counted from, let go at] (see _gated).
        self._recent: dict[str, deque[list[float]]] = {
            n: deque(maxlen=window_cap(c.limits.per_second))
            for n, c in self.channels.items() if c.limits.per_second
        }
        # One sender per platform account, whichever processes run (see scheduler.leases).
        self.leases: dict[str, Lease] = {}
        for name, channel in self.channels.items():
            account = getattr(channel, "account", None)
            if leases is not None and account:
                self.leases[name] = Lease(
                    sessions, clock, f"sender:{name}:{account}", self.worker_id, leases,
                    on_gained=self._settler(name), on_changed=self.wake, monotonic=monotonic)
        self._handed: dict[int, asyncio.Future[None]] = {}
        self._handed_task: asyncio.Task[None] | None = None

    # the sender's lease ----------------------------------------------------------------

    def may_send(self, channel: str) -> bool:
        lease = self.leases.get(channel)
        return lease is None or lease.held()

    def sendable(self) -> list[str] | None:
        """The channels this process sends for now; None: all of its own."""
        if not self.leases:
            return None
        return [name for name in self.channels if self.may_send(name)]

    def claim_for(self, channel: str) -> outbox.ReplyClaim | None:
        """How the core writes a turn's replies: claimed by this worker, to send at once,
        when it sends for the channel; else queued for the process that does."""
        return self.reply_claim if self.may_send(channel) else None

    def _settler(self, channel: str) -> Callable[[str | None], Awaitable[None]]:
        async def settle(previous: str | None) -> None:
            # Whoever claimed rows of this channel before may not send them now: each is
            # probed, else left uncertain, before this process sends anything for it.
            await self.recover(channels=[channel], every=True)
        return settle

    # lifecycle -----------------------------------------------------------------------

    async def recover(self, channels: list[str] | None = None, every: bool = False) -> int:
        """Settle rows a dead process was sending. Where the channel can tell whether the
        message arrived, it is marked sent or sent again; otherwise it is marked uncertain
        and never resent, because sending twice is worse than asking the gestora to check.
        Returns how many rows were left uncertain. Only rows of the channels this process
        sends for; with ``every``, whoever claimed them (a lease taken over)."""
        now = self.clock.now()
        if channels is None:
            channels = self.sendable()
            if channels is not None and not channels:
                return 0
        async with self.sessions() as s:
            rows = await outbox.take_over_abandoned(s, self.worker_id, now, self.lease,
                                                    channels=channels, every=every)
            await s.commit()
        if not rows:
            return 0
        uncertain = 0
        by_chat: dict[tuple[str, str], list[OutboxMessage]] = {}
        for row in rows:
            by_chat.setdefault((row.channel, row.address), []).append(row)
        for (chan, address), chat_rows in by_chat.items():
            channel = self.channels.get(chan)
            probe = getattr(channel, "probe", None)
            known: list[str] = []
            if probe is not None:
                async with self.sessions() as s:
                    known = await outbox.delivered_refs(s, chan, address)
                    last = await people.last_inbound_message(s, chan, address)
                known += [last] if last is not None else []
            for row in chat_rows:
                verdict = None
                if probe is not None:
                    try:
                        verdict = await probe(row, known)
                    except Exception:  # a probe that fails knows nothing
                        log.exception("probing outbox row %s failed", row.id)
                async with self.sessions() as s:
                    if isinstance(verdict, Delivered):
                        await outbox.mark_sent(s, row.id, now, verdict.platform_id,
                                               by=self.worker_id)
                        if verdict.parts:
                            await receipts.record_sent(s, row.id, row.channel,
                                                       list(verdict.parts), now)
                        if verdict.platform_id is not None:
                            known.append(verdict.platform_id)
                    elif isinstance(verdict, NotDelivered) and outbox.is_dead(
                            row.claimed_by, None, row.claimed_until, now):
                        # Its place in the chat's order kept: replies queued since go after it.
                        at = min(now, row.not_before) if row.not_before else now
                        await outbox.mark_retry(s, row.id, at, "not delivered before a restart",
                                                by=self.worker_id)
                    else:
                        # Not found yet may be a request still under way in a claimer that
                        # lost its lease but lives (its claim outlasts the HTTP timeout): only
                        # a claimer proven gone is sent again.
                        await outbox.mark_final(s, row.id, OutboxStatus.UNCERTAIN,
                                                outbox.UNCERTAIN_REASON, by=self.worker_id)
                        uncertain += 1
                    await s.commit()
        log.warning("settled %d message(s) a stopped process was sending; %d uncertain",
                    len(rows), uncertain)
        return uncertain

    async def start(self) -> None:
        async with self.sessions() as s:
            await outbox.register_worker(s, self.worker_id, self.clock.now())
            await s.commit()
        for lease in self.leases.values():  # a first try now: one process starts sending at once
            await lease.attempt()
            lease.start()
        await self.recover()
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name="outbox-dispatcher")
        self._handed_task = asyncio.create_task(self._watch_handed(), name="outbox-handed")

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        if self._task:
            await self._task
            self._task = None
        await self.settle()
        if self._handed_task is not None:
            self._handed_task.cancel()
            await asyncio.gather(self._handed_task, return_exceptions=True)
            self._handed_task = None
        for lease in self.leases.values():  # after the last send: the next holder starts now
            await lease.stop()
        async with self.sessions() as s:
            await outbox.unregister_worker(s, self.worker_id)
            await s.commit()

    def wake(self) -> None:
        self._wake.set()

    async def _run(self) -> None:
        last_sweep = self._monotonic()
        while not self._stopping:
            # Cleared before the pass, not when idle begins: a wake() or stop() that comes
            # while the pass or idle's query runs ends the idle wait at once, not 5 s later.
            self._wake.clear()
            try:
                if self._monotonic() - last_sweep > HEARTBEAT_EVERY:
                    last_sweep = self._monotonic()
                    async with self.sessions() as s:
                        await outbox.heartbeat(s, self.worker_id, self.clock.now())
                        await s.commit()
                    await self.recover()
                handled = await self._start_pass()
            except Exception:  # a bad row or a lost connection must not stop delivery
                log.exception("outbox pass failed; retrying shortly")
                handled = 0
                await asyncio.sleep(1.0)
            if handled or self._stopping:
                continue
            await self._idle()

    async def _idle(self) -> None:
        timeout = 5.0
        sendable = self.sendable()
        if self.leases and any(lease.held() for lease in self.leases.values()):
            timeout = HOLDER_POLL  # other processes queue replies for this one to send
        async with self.sessions() as s:
            nxt = await outbox.next_due_at(s, sendable) if sendable != [] else None
        if nxt is not None:
            timeout = min(timeout, max(0.05, (nxt - self.clock.now()).total_seconds()))
        # A wave finishing may free a chat whose next message waits behind it.
        woken = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait({woken, *self._waves}, timeout=timeout,
                               return_when=asyncio.FIRST_COMPLETED)
        finally:
            woken.cancel()

    # one pass --------------------------------------------------------------------------

    async def run_once(self) -> int:
        """Send what is due and what the limits allow now, and wait for it; returns how many
        rows it handled."""
        handled = await self._start_pass()
        await self.settle()
        return handled

    async def _start_pass(self) -> int:
        """Start sending what is due and what the limits allow now. Waves of rows stay in
        flight after it returns, so the next pass picks rows while they are being sent (no
        gap at the pace); returns how many rows it started or saw settled."""
        handled = self._reap()
        now = self.clock.now()
        sendable = self.sendable()
        if sendable == []:
            return handled
        async with self.sessions() as s:
            candidates = await outbox.due_candidates(s, now, self.window, self._busy or None,
                                                     sendable)
        if not candidates:
            return handled
        wave: list[OutboxMessage] = []
        slots: list[float] = []
        in_wave: set[tuple[str, str]] = set()
        deferred_chats: set[tuple[str, str]] = set()
        for row in candidates:
            if self._stopping:
                break
            chan = row.channel
            if chan not in self.channels or row.id in self._busy or not self.may_send(chan):
                continue  # another pass of this process has it in hand
            chat = (chan, row.address)
            buckets = self._buckets[chan]
            # A reply goes whatever the chat's bucket says, as one sent at once does
            # (deliver_claimed): it may be one another process queued for this one to send.
            if (chat in deferred_chats or chat in in_wave or chat in self._chats_busy
                    or (row.kind != "reply" and not buckets.ready(row.address))):
                # A chat's messages go one after another: one a wave, and the next waits
                # until the wave with the last has been sent.
                deferred_chats.add(chat)
                continue
            pacer = self._pacers[chan]
            if pacer.interval:
                # Under a rate limit each row gets a time slot; a group of rows is claimed and
                # recorded together while each is sent at its own slot, so the sends keep the
                # pace exactly and the database work is shared and overlaps the waiting.
                slots.append(pacer.reserve())
                ahead = slots[-1] - self._monotonic()
            else:
                delay = pacer.delay()  # only after a 429 without a limit
                if delay > 0:
                    await asyncio.sleep(delay)
                ahead = 0.0
            buckets.take(row.address)
            wave.append(row)
            self._busy.add(row.id)
            in_wave.add(chat)
            handled += 1
            if len(wave) >= self.concurrency or ahead > PACED_AHEAD:
                await self._launch(wave, slots or None)
                wave, slots, in_wave = [], [], set()
                if ahead > PACED_AHEAD:
                    await asyncio.sleep(ahead - PACED_AHEAD / 2)
        if wave:
            await self._launch(wave, slots or None)
        if not handled and deferred_chats and not self._waves:
            # Everything due waits on a per-chat limit: sleep until the first chat frees up.
            waits = [self._buckets[c].wait(a) for c, a in deferred_chats]
            await asyncio.sleep(min(waits))
        return handled

    async def _launch(self, wave: list[OutboxMessage], slots: list[float] | None) -> None:
        chats = [(r.channel, r.address) for r in wave]
        for chat in chats:
            self._chats_busy[chat] = self._chats_busy.get(chat, 0) + 1
        task = asyncio.create_task(self._send_wave(wave, slots))
        task.add_done_callback(lambda _t: self._release_chats(chats))
        self._waves.add(task)
        while len(running := {t for t in self._waves if not t.done()}) >= MAX_WAVES:
            await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)

    def _release_chats(self, chats: list[tuple[str, str]]) -> None:
        for chat in chats:
            left = self._chats_busy.pop(chat, 1) - 1
            if left:
                self._chats_busy[chat] = left

    def _reap(self) -> int:
        done = {t for t in self._waves if t.done()}
        self._waves -= done
        settled = 0
        for t in done:
            if t.cancelled():
                continue
            if t.exception() is not None:  # its rows stay claimed; recovery settles them
                log.error("an outbox wave failed", exc_info=t.exception())
            else:
                settled += t.result()
        return settled

    async def settle(self) -> None:
        """Wait for the waves in flight."""
        while self._waves:
            await asyncio.wait(self._waves)
            self._reap()

    @property
    def reply_claim(self) -> outbox.ReplyClaim:
        """How the core writes replies already claimed by this worker (deliver_claimed)."""
        return outbox.ReplyClaim(self.worker_id, self.lease)

    async def deliver_now(self, ids: list[int]) -> int:
        """Send specific rows at once (replies to a person who is waiting), in order: one
        session claims them all, one records what happened."""
        if not ids:
            return 0
        now = self.clock.now()
        self._busy.update(ids)
        try:
            async with self.sessions() as s:
                claimed = sorted(await outbox.claim(s, ids, self.worker_id, now, self.lease),
                                 key=lambda r: r.id)
                others = [r.id for r in claimed if not self.may_send(r.channel)]
                if others:  # the sender of their channel is another process: left to it
                    await outbox.release(s, others, self.worker_id)
                    claimed = [r for r in claimed if r.id not in others]
                people = await self._people(s, claimed)
                await self._prepare(s, claimed)
                await s.commit()
            return await self._send_in_order(claimed, people)
        finally:
            self._busy.difference_update(ids)

    async def send_replies(self, rows: list[OutboxMessage]) -> None:
        """A turn's replies (``claim_for``): those claimed by this worker go at once; those
        queued for the process that sends for their channel are waited for, so that the
        person's next update, which may be answered sooner, is answered after them."""
        mine = [r for r in rows if r.claimed_by == self.worker_id]
        results: list[Result | str] = []
        if mine:
            await self.deliver_claimed(mine, results)
        left = [r.id for r in rows if r.claimed_by != self.worker_id]
        left += [r.id for r, result in zip(mine, results, strict=False) if result == UNSENT]
        if left:
            self.wake()  # this process may hold the lease by now
            await self.wait_sent(left)

    async def wait_sent(self, ids: list[int], timeout: float = HANDED_WAIT) -> bool:
        """Wait until these rows are sent (or settled otherwise) by whichever process sends
        them; False when ``timeout`` passed first."""
        loop = asyncio.get_running_loop()
        futures = [self._handed.setdefault(i, loop.create_future()) for i in ids]
        if self._handed_task is None or self._handed_task.done():
            self._handed_task = asyncio.create_task(self._watch_handed(), name="outbox-handed")
        _, pending = await asyncio.wait(futures, timeout=timeout)
        for i in ids:
            if i in self._handed and self._handed[i].done():
                del self._handed[i]
        if pending:
            log.warning("%d repl(ies) not sent within %gs by the sender of their channel",
                        len(pending), timeout)
            for i in ids:
                self._handed.pop(i, None)
        return not pending

    async def _watch_handed(self) -> None:
        """One query for every row waited on (wait_sent), however many turns wait."""
        while True:
            await asyncio.sleep(HANDED_POLL)
            waiting = [i for i, f in self._handed.items() if not f.done()]
            if not waiting:
                continue
            try:
                async with self.sessions() as s:
                    left = await outbox.unsettled(s, waiting)
            except Exception:  # looked again at the next poll
                log.exception("could not read the replies waited on")
                continue
            for i in waiting:
                if i not in left:
                    future = self._handed.pop(i, None)
                    if future is not None and not future.done():
                        future.set_result(None)

    async def deliver_claimed(self, rows: list[OutboxMessage],
                              results: list[Result | str] | None = None) -> int:
        """Send replies the core wrote already claimed by this worker (``reply_claim``): no
        claim to make, only the results to record, in one statement for all of them. What
        each came to is appended to ``results``."""
        if not rows:
            return 0
        ids = [r.id for r in rows]
        self._busy.update(ids)
        results = [] if results is None else results
        try:
            return await self._send_in_order(rows, {}, results)
        except asyncio.CancelledError:
            # Stopping: record what went, and hand back what never started to the
            # dispatcher; the one being sent, if any, is left for recovery to settle.
            async with self.sessions() as s:
                await self._record_all(s, rows[:len(results)], results)
                await outbox.release(s, ids[len(results) + 1:], self.worker_id)
                await s.commit()
            raise
        finally:
            self._busy.difference_update(ids)

    async def _send_in_order(self, rows: list[OutboxMessage], people: dict[int, Person],
                             results: list[Result | str] | None = None) -> int:
        results = [] if results is None else results
        for row in rows:
            pacer = self._pacers[row.channel]
            if not pacer.interval:
                delay = pacer.delay()  # only after a 429 without a limit
                if delay > 0:
                    await asyncio.sleep(delay)
            self._buckets[row.channel].take(row.address)
            results.append(await self._gated(row, people.get(row.person_id), catch_up=False))
        if rows:
            async with self.sessions() as s:
                await self._record_all(s, rows, results)
                await s.commit()
        return len(rows)

    async def _send_wave(self, wave: list[OutboxMessage],
                         slots: list[float] | None = None) -> int:
        now = self.clock.now()
        ids = [r.id for r in wave]
        self._busy.update(ids)
        try:
            async with self.sessions() as s:
                claimed = await outbox.claim(s, ids, self.worker_id, now, self.lease)
                people = await self._people(s, claimed)
                await self._prepare(s, claimed)
                await s.commit()
            if not claimed:
                return 0
            if slots is not None:
                at = {r.id: t for r, t in zip(wave, slots, strict=True)}
                results = await asyncio.gather(*(
                    self._deliver_at(at[row.id], row, people.get(row.person_id))
                    for row in claimed))
            else:
                results = await asyncio.gather(
                    *(self._deliver_one(row, people.get(row.person_id)) for row in claimed)
                )
            async with self.sessions() as s:
                await self._record_all(s, claimed, results)
                await s.commit()
            if self._on_sent:
                for row, result in zip(claimed, results, strict=True):
                    self._on_sent(row, result)
            return len(claimed)
        finally:
            self._busy.difference_update(ids)

    async def _deliver_at(self, slot: float, row: OutboxMessage, person: Person | None
                          ) -> Result | str:
        pacer = self._pacers[row.channel]
        await asyncio.sleep(max(0.0, slot - self._monotonic(), pacer.paused_for()))
        return await self._gated(row, person, catch_up=True)

    async def _gated(self, row: OutboxMessage, person: Person | None, *, catch_up: bool
                     ) -> Result | str:
        """Send through the channel's gate. The send counts in the window from when its
        answer came back, not from when the gate let it go: a stall between the two (the
        event loop busy, the first use of a statement) delays the request on the wire, and
        counted from the gate a delayed group would share the far side's window with the
        sends that follow it on time, one more second's worth than the limit."""
        stamp = await self._through_gate(row.channel, catch_up=catch_up)
        try:
            return await self._deliver_one(row, person)
        finally:
            if stamp is not None:
                stamp[0] = max(stamp[0], self._monotonic())

    async def _through_gate(self, channel: str, *, catch_up: bool) -> list[float] | None:
        """Wait until a send keeps under the channel's cap in every one-second window, and
        out of a 429's pause. Every send of a limited channel passes here, replies too.

        Paced sends that fell behind their slots (a busy moment) catch up at up to 1.25
        times the pace (``catch_up``); a reply goes as soon as the window allows. (Spacing each
        send from the last one instead lost every delay for good, ~83% of the limit;
        catching up in one burst drew 429s.)"""
        pacer = self._pacers[channel]
        recent = self._recent.get(channel)
        if recent is None:
            return None
        async with self._gates.setdefault(channel, asyncio.Lock()):
            while True:
                now = self._monotonic()
                wait = pacer.paused_for()
                if catch_up and recent:  # spaced from when the last one was let go
                    wait = max(wait, recent[-1][1] + pacer.interval * CATCH_UP - now)
                if len(recent) == recent.maxlen:  # counted from when its answer came
                    wait = max(wait, recent[0][0] + 1.0 - now)
                if wait <= 0:
                    break
                await asyncio.sleep(wait)
            at = self._monotonic()
            stamp = [at, at]  # [counted from, let go at]
            recent.append(stamp)
            return stamp

    async def _prepare(self, s: AsyncSession, rows: list[OutboxMessage]) -> None:
        by_channel: dict[str, list[OutboxMessage]] = {}
        for row in rows:
            by_channel.setdefault(row.channel, []).append(row)
        for name, of_channel in by_channel.items():
            prepare = getattr(self.channels.get(name), "prepare", None)
            if prepare is not None:
                await prepare(s, of_channel)

    async def _people(self, s: AsyncSession, rows: list[OutboxMessage]) -> dict[int, Person]:
        pids = {r.person_id for r in rows if r.person_id is not None}
        if not pids:
            return {}
        return {p.id: p for p in (await s.scalars(select(Person).where(Person.id.in_(pids))))}

    async def _deliver_one(self, row: OutboxMessage, person: Person | None) -> Result | str:
        now = self.clock.now()
        if not self.may_send(row.channel):
            # The lease lapsed (or was lost) while the row waited for its slot: the fence.
            return UNSENT
        if outbox.is_expired(row, now):
            return "expired"
        if person is not None and not person.reachable and row.kind != "reply":
            return "unreachable"
        try:
            result = await self.channels[row.channel].deliver(row)
        except Exception as exc:  # an unexpected channel error is a transient failure
            log.exception("channel %s failed on outbox row %s", row.channel, row.id)
            return Transient(f"{type(exc).__name__}: {exc}")
        if isinstance(result, RetryAfter):
            # At once, not when the wave is recorded: its other sends must wait too.
            self._pacers[row.channel].pause(result.seconds)
        return result

    async def _record_all(self, s: AsyncSession, rows: list[OutboxMessage],
                          results: list[Result | str]) -> None:
        sent = []
        parts: dict[str, list[tuple[int, tuple[str, ...]]]] = {}
        now = self.clock.now()
        for row, result in zip(rows, results, strict=True):
            if isinstance(result, Delivered):
                sent.append((row.id, result.platform_id))
                if result.parts:
                    parts.setdefault(row.channel, []).append((row.id, result.parts))
            else:
                await self._record(s, row, result)
        for channel, of_rows in parts.items():
            await receipts.record_sent_many(s, channel, of_rows, now)
        await outbox.mark_sent_many(s, sent, now, by=self.worker_id)

    async def _record(self, s: AsyncSession, row: OutboxMessage, result: Result | str) -> None:
        now = self.clock.now()
        by = self.worker_id  # a late result for a row another worker settled is dropped
        if result == UNSENT:
            await outbox.release(s, [row.id], self.worker_id)
        elif result == "expired":
            log.info("dropped outbox row %s (%s): no longer makes sense", row.id, row.kind)
            await outbox.mark_final(s, row.id, OutboxStatus.DROPPED, "expired before it could go",
                                    by=by)
        elif result == "unreachable":
            await outbox.mark_final(s, row.id, OutboxStatus.FAILED, "person unreachable", by=by)
        elif isinstance(result, Delivered):
            await outbox.mark_sent(s, row.id, now, result.platform_id, by=by)
            if result.parts:
                await receipts.record_sent(s, row.id, row.channel, list(result.parts), now)
        elif isinstance(result, RetryAfter):
            # The channel was paused when the 429 arrived (_deliver_one); pausing again now,
            # after the wave, stretched one 429 into ~2.5 s of silence.
            at = now + timedelta(seconds=result.seconds)
            await outbox.mark_retry(s, row.id, at, f"429: retry after {result.seconds:g}s", by=by)
        elif isinstance(result, Transient):
            if result.after is not None:
                # The platform said when: a wait it asked for is not a failed attempt.
                await outbox.mark_retry(s, row.id, now + timedelta(seconds=result.after),
                                        result.reason)
            elif row.attempts >= self.max_attempts:
                await outbox.mark_final(s, row.id, OutboxStatus.FAILED, result.reason, by=by)
            else:
                at = now + timedelta(seconds=backoff(row.attempts, self._rng))
                await outbox.mark_retry(s, row.id, at, result.reason, by=by)
        elif isinstance(result, Waiting):
            # Written to while it was being tried, the person released nothing (it was not
            # waiting yet): it goes now rather than wait for their next message.
            tried = row.claimed_until - self.lease if row.claimed_until else now
            wrote = await receipts.last_wrote(s, row.channel, row.address)
            if wrote is not None and wrote.replace(tzinfo=wrote.tzinfo or UTC) >= tried.replace(
                    tzinfo=tried.tzinfo or UTC):
                await outbox.mark_retry(s, row.id, now, result.reason, by=by)
            else:
                await outbox.mark_waiting(s, row.id, result.reason, by=by)
        elif isinstance(result, Uncertain):
            # Its receipt may have come already, while the send waited for its answer.
            if await receipts.sent_for(s, row.channel, row.id):
                await outbox.mark_sent(s, row.id, now, None, by=by)
            else:
                await outbox.mark_final(s, row.id, OutboxStatus.UNCERTAIN, result.reason, by=by)
        elif isinstance(result, Blocked):
            await outbox.mark_final(s, row.id, OutboxStatus.FAILED, result.reason, by=by)
            if result.channel_only:
                await receipts.mark_address_unreachable(s, row.channel, row.address,
                                                        result.reason, now)
            elif row.person_id is not None:
                await outbox.mark_unreachable(s, row.person_id, result.reason)
        elif isinstance(result, Rejected):
            await outbox.mark_final(s, row.id, OutboxStatus.FAILED, result.reason, by=by)

    async def drain(self, max_seconds: float = 30.0) -> None:
        """Deliver until nothing is due now (tests and the console use it)."""
        deadline = self._monotonic() + max_seconds
        while self._monotonic() < deadline:
            if await self.run_once() == 0:
                async with self.sessions() as s:
                    nxt = await outbox.next_due_at(s)
                if nxt is None or nxt > self.clock.now():
                    return
                await asyncio.sleep(0.01)
