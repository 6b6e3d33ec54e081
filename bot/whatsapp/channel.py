"""The WhatsApp channel: outbox rows out as Cloud API messages (free-form inside the person's
24-hour window, an approved template outside it), webhooks in as neutral events and receipts."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import ClientConnectorError, ClientError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from bot.whatsapp import CHANNEL, capabilities
from bot.whatsapp import templates as wa_templates
from bot.whatsapp.client import CloudClient, CloudError
from bot.whatsapp.errors import Kind, classify, reason
from bot.whatsapp.render import pieces, with_media
from bot.whatsapp.webhook import Status, parse, signature_ok, verify_subscription
from channels.layout import ProgressThrottle
from handlers.buttons import ButtonCodec
from handlers.core import Core
from handlers.events import Outgoing
from handlers.intake import Intake
from locales import DEFAULT, Catalogs, language_of
from scheduler.dispatcher import (
    Blocked,
    Delivered,
    Limits,
    NotDelivered,
    Rejected,
    Result,
    RetryAfter,
    Transient,
    Uncertain,
    Waiting,
)
from scheduler.dispatcher import Dispatcher as Outbox
from storage import receipts
from storage import wa_templates as template_rows
from storage.clock import Clock
from storage.failures import StorageUnavailable, unavailable
from storage.failures import reason as failure_reason
from storage.intake import Received
from storage.models import OutboxMessage

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Hub-Signature-256"
HOLD_SECONDS = 24 * 3600.0  # 131049: Meta asks to wait at least a day before trying again
TOKEN_PAUSE = 600.0  # a refused token: rows wait (nothing is lost) until an operator fixes it
PAIR_PAUSE = 6.0  # 131056: Meta's pace for one number to one person (unverified: a guess)
# A dead process's row was taken at most a lease before it lapsed: the history is read back
# this far (generously) for messages no row accounts for, at most this many pages of 100.
HISTORY_SPAN = timedelta(minutes=15)
HISTORY_PAGES = 10
TEMPLATES_FRESH = timedelta(minutes=5)  # how long the list of approved templates is trusted
TEMPLATES_RECHECK = timedelta(seconds=10)  # ...before a message is held for want of one
STOP_GRACE = 10.0
PREPARED_MOST = 10_000  # rows whose window is known ahead (prepare), at most
# Meta's published default (per business number); configurable up to 1,000 (settings).
LIMITS = Limits(per_second=80, per_chat_per_second=1.0, chat_burst=3, group_per_minute=20)
# How long Meta's throttling codes ask us to wait, when no Retry-After says it: 130429 is
# the number's throughput (a short pause), the others the account's or app's hourly limits.
THROTTLE_PAUSE = {130429: 2.0, 131048: 60.0, 133016: 60.0, 4: 60.0, 80007: 60.0}


class WhatsAppChannel:
    """Renders neutral outbox rows into Cloud API messages and maps Meta's answers."""

    name = CHANNEL

    def __init__(self, client: CloudClient, catalogs: Catalogs, buttons: ButtonCodec,
                 timezone: str, sessions: async_sessionmaker[AsyncSession], clock: Clock,
                 specs: Sequence[wa_templates.TemplateSpec] | None = None, *,
                 limits: Limits | None = None, display_number: str | None = None) -> None:
        self.client = client
        # The phone number Meta limits: one process sends for it (dispatcher).
        self.account = client.phone_number_id
        self.catalogs = catalogs
        self.buttons = buttons
        self.timezone = timezone
        self.sessions = sessions
        self.clock = clock
        self.specs = list(specs if specs is not None else wa_templates.load())
        self.limits = limits or LIMITS
        self.capabilities = capabilities(display_number)
        self.approved: set[tuple[str, str]] = set()  # (name, language) Meta approved
        self.throttle = ProgressThrottle()
        self.stopped: str | None = None  # why the channel stopped sending (a refused token)
        self._refreshed: datetime | None = None
        self._wrote: dict[int, datetime | None] = {}  # row id -> last wrote (prepare)

    def is_group(self, address: str) -> bool:
        return False

    async def prepare(self, session: AsyncSession, rows: list[OutboxMessage]) -> None:
        """When each person of a wave last wrote, read at once in the claim's session: a
        query per send held SQLite's one connection between sends and stalled the pace. Read
        well under a second before the send; receipts.WINDOW_MARGIN covers a window closing meanwhile,
        and one opening meanwhile only makes the message a template."""
        if len(self._wrote) > PREPARED_MOST:  # rows prepared and never sent (expired...)
            self._wrote.clear()
        wrote = await receipts.last_wrote_many(session, CHANNEL, [r.address for r in rows])
        for row in rows:
            self._wrote[row.id] = wrote.get(row.address)

    async def refresh_templates(self) -> None:
        async with self.sessions() as s:
            self.approved = set(await template_rows.approved(s))
        self._refreshed = self.clock.now()

    def _stale(self, age: timedelta) -> bool:
        return self._refreshed is None or self.clock.now() - self._refreshed > age

    # sending ----------------------------------------------------------------------------

    async def deliver(self, row: OutboxMessage) -> Result:
        prepared = self._wrote.pop(row.id, _UNPREPARED)
        if self.stopped is not None:
            return Transient(self.stopped, after=TOKEN_PAUSE)
        out = Outgoing.from_json(row.payload)
        now = self.clock.now()
        if not self.throttle.due(row.address, out, now):
            return Delivered(None)  # a passing state of a progress report, left out
        if self._stale(TEMPLATES_FRESH):
            # Another process (`convoca whatsapp templates sync`) may have seen approvals.
            await self.refresh_templates()
        wrote = prepared
        gone: list[str] = []
        if prepared is _UNPREPARED or row.attempts > 1:
            async with self.sessions() as s:
                if prepared is _UNPREPARED:
                    wrote = await receipts.last_wrote(s, CHANNEL, row.address)
                if row.attempts > 1:
                    # Tried before: what Meta's receipts say went is not sent again (the
                    # first pieces of a long message, a send whose answer was lost).
                    gone = await receipts.sent_for(s, CHANNEL, row.id)
        open_ = receipts.window_is_open(wrote, now)
        # Sent again as a template after Meta said the window had closed; once the person
        # has written since, free-form is right again.
        forced = bool(out.meta.get("template")) and (wrote is None or wrote <= row.created_at)
        if open_ and not forced:
            try:
                return Delivered(None, await self._free_form(row, out, len(gone)))
            except _Partly as partly:
                result = partly.result
                if not isinstance(result, _OutsideWindow):
                    return result
                if partly.sent:  # the rest cannot follow as free-form: it waits for them
                    return Waiting(reason(131047, "the window closed in the middle of a "
                                                  "message: the rest goes when they write"))
        elif gone:
            return Delivered(None, tuple(gone))
        return await self._as_template(row, out)

    def _render(self, row: OutboxMessage, out: Outgoing) -> Any:
        zone = out.zone or self.timezone
        return lambda m: self.catalogs.render(m, row.locale, zone)

    def _pack(self, row: OutboxMessage) -> Any:
        if row.person_id is None:
            return None
        person_id = row.person_id
        return lambda action: self.buttons.pack(person_id, action)

    async def _free_form(self, row: OutboxMessage, out: Outgoing, skip: int = 0
                         ) -> tuple[str, ...]:
        """The messages showing ``out``, sent in order from the ``skip``-th (those before went
        on an earlier try); their wamids (longer than the outbox's platform id holds) are kept
        with their receipts (storage.receipts). A failure part way raises _Partly, after
        keeping what went."""
        sent: list[str] = []
        shown = pieces(out, self.capabilities, self._render(row, out), self._pack(row))
        try:
            for piece in shown[skip:]:
                message = piece.message
                if piece.attachment is not None:
                    a = piece.attachment
                    media = await self.client.upload(a.content, a.mime_type, a.filename)
                    message = with_media(piece, media)
                sent.append(await self.client.send(row.address, message,
                                                   callback=callback_of(row)))
        except (CloudError, TimeoutError, ClientError) as exc:
            if sent:
                async with self.sessions() as s:
                    await receipts.record_sent(s, row.id, CHANNEL, sent, self.clock.now())
                    await s.commit()
            raise _Partly(sent, self._failure(exc)) from exc
        return tuple(sent)

    def _failure(self, exc: Exception) -> Result | _OutsideWindow:
        if isinstance(exc, CloudError):
            if classify(exc.code, exc.status) is Kind.OUTSIDE_WINDOW:
                return _OutsideWindow()
            return self._result(exc)
        return unknown_outcome(exc)

    async def _as_template(self, row: OutboxMessage, out: Outgoing) -> Result:
        spec = wa_templates.for_message(self.specs, out)
        if spec is None:
            return Waiting(reason(None, "outside the 24-hour window and no template carries "
                                        "this message: it goes when the person writes"))
        # A regional variant (es-UY) goes as its language's approved template (Meta's "es"),
        # its parameters (dates) still written as its country writes them.
        locale = next((loc for loc in (row.locale, language_of(row.locale or DEFAULT))
                       if loc in spec.languages), wa_templates.DEFAULT)
        code = wa_templates.language_for(locale)
        if (spec.name, code) not in self.approved and self._stale(TEMPLATES_RECHECK):
            await self.refresh_templates()  # approved since, by a sync in another process?
        if (spec.name, code) not in self.approved:
            return Waiting(reason(None, f"outside the 24-hour window and template {spec.name} "
                                        f"({code}) is not approved: it goes when the person "
                                        "writes"))
        pack = self._pack(row)
        if pack is None and spec.options:
            return Rejected(reason(None, f"template {spec.name} needs buttons signed for a "
                                         "person, and the message has none"))
        zone = out.zone or self.timezone
        message = wa_templates.message(
            spec, locale, out, wa_templates.param_renderer(self.catalogs, row.locale, zone),
            pack or (lambda action: action))
        try:
            wamid = await self.client.send(row.address, message, callback=callback_of(row))
        except (CloudError, TimeoutError, ClientError) as exc:
            failure = self._failure(exc)
            return Transient(reason(131047, "refused as outside the window although sent as "
                                            "a template")) if isinstance(
                failure, _OutsideWindow) else failure
        return Delivered(None, (wamid,))

    def _result(self, exc: CloudError) -> Result:
        kind = classify(exc.code, exc.status)
        why = reason(exc.code, exc.message)
        if kind is Kind.THROTTLED:
            return RetryAfter(exc.retry_after or THROTTLE_PAUSE.get(exc.code or 0, 5.0), why)
        if kind is Kind.PAIR_LIMIT:
            # Too many to this one person in a short time: a wait, not a failed attempt.
            return Transient(why, after=PAIR_PAUSE)
        if kind in (Kind.MEDIA, Kind.TRANSIENT):
            return Transient(why)
        if kind is Kind.HOLD:
            return Transient(why, after=HOLD_SECONDS)
        if kind is Kind.UNDELIVERABLE:
            return Blocked(why, channel_only=True)
        if kind is Kind.TOKEN:
            if self.stopped is None:
                log.error("WhatsApp refused the access token (%s): Convoca stops sending on "
                          "WhatsApp; messages wait in the outbox. Set a valid "
                          "WHATSAPP_ACCESS_TOKEN and restart.", exc.message)
            self.stopped = why
            return Transient(why, after=TOKEN_PAUSE)
        return Rejected(why)  # template defects too: shown to the gestora as such

    async def probe(self, row: OutboxMessage, known: list[str]
                    ) -> Delivered | NotDelivered | None:
        """Whether a message in flight when a process died left. Meta's receipts name the
        row they belong to (biz_opaque_callback_data): one that arrived says so. Otherwise
        the number's message history since the row was taken tells: no message there that
        no row of ours accounts for, and it never left (it goes again); one, and which row
        it was cannot be told (uncertain, as on Telegram)."""
        async with self.sessions() as s:
            found = await receipts.sent_for(s, CHANNEL, row.id)
        if found:
            return Delivered(None, tuple(found))
        if row.claimed_until is None:
            return None
        since = row.claimed_until.replace(tzinfo=row.claimed_until.tzinfo or UTC) - HISTORY_SPAN
        try:
            strangers = await self._unaccounted_since(since)
        except Exception:  # history unreadable: nothing can be told
            log.exception("could not read the message history for outbox row %s", row.id)
            return None
        return NotDelivered() if strangers == 0 else None

    async def _unaccounted_since(self, since: datetime) -> int | None:
        """How many messages the number sent since ``since`` no row of ours accounts for;
        None when the history does not reach back that far."""
        after: str | None = None
        strangers = 0
        for _ in range(HISTORY_PAGES):
            params: dict[str, Any] = {"limit": 100,
                                      "fields": "id,message_id,events{delivery_status,timestamp}"}
            if after:
                params["after"] = after
            page = await self.client.history(**params)
            entries = page.get("data") or []
            recent = []
            for entry in entries:
                stamps = [int(e["timestamp"]) for e in (entry.get("events") or {}).get(
                    "data", []) if str(e.get("timestamp", "")).isdigit()]
                if stamps and datetime.fromtimestamp(min(stamps), UTC) < since:
                    async with self.sessions() as s:
                        ours = await receipts.known(s, CHANNEL, recent)
                    return strangers + len(set(recent) - ours)
                if entry.get("message_id"):
                    recent.append(str(entry["message_id"]))
            async with self.sessions() as s:
                ours = await receipts.known(s, CHANNEL, recent)
            strangers += len(set(recent) - ours)
            after = ((page.get("paging") or {}).get("cursors") or {}).get("after")
            if not (page.get("paging") or {}).get("next") or not entries:
                return strangers  # the whole history read
        return None

class _OutsideWindow:
    """Meta refused a free-form message as outside the window (131047)."""


class _Partly(Exception):
    """A message of several pieces failed part way: ``sent`` went, ``result`` says why the
    rest did not."""

    def __init__(self, sent: list[str], result: Result | _OutsideWindow) -> None:
        super().__init__(result)
        self.sent, self.result = sent, result


_UNPREPARED = object()  # a row the dispatcher did not prepare (sent alone, a reply)


def unknown_outcome(exc: BaseException) -> Transient | Uncertain:
    """A send that failed without Meta's answer. Refused before it left (no connection):
    try again. Cut off after it left (a time-out, a dropped connection): Meta may have it,
    and the Cloud API has no idempotency key, so it is not sent again; its receipt, which
    names the row, settles it."""
    what = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, ClientConnectorError) and not isinstance(exc, TimeoutError):
        return Transient(what)
    return Uncertain(reason(None, f"no answer to the send ({what}); not sent again to avoid "
                                  "a duplicate: its receipt settles it"))


def callback_of(row: OutboxMessage) -> str:
    """What Meta echoes in every receipt of the message: the row it came from, so a receipt
    can settle a row whose send was cut off before its answer was kept."""
    return f"outbox:{row.id}"


def row_of_callback(callback: str | None) -> int | None:
    if callback and callback.startswith("outbox:") and callback[7:].isdigit():
        return int(callback[7:])
    return None


class WhatsAppRuntime:
    """Feeds the webhook's messages to the intake (stored before Meta hears 200) and its
    receipts to the outbox rows they belong to."""

    def __init__(self, client: CloudClient, core: Core, outbox: Outbox, *, app_secret: str,
                 verify_token: str, phone_number_id: str) -> None:
        self.client = client
        self.core = core
        self.outbox = outbox
        self.app_secret = app_secret
        self.verify_token = verify_token
        self.phone_number_id = phone_number_id
        self.intake = Intake(core, outbox, [CHANNEL])
        self._outage: str | None = None
        core.services.files[CHANNEL] = client.download

    async def settled(self) -> None:
        await self.intake.settled()

    def add_routes(self, server: Any) -> None:
        server.add("GET", "/whatsapp", self._on_subscribe)
        server.add("POST", "/whatsapp", self._on_event)

    @asynccontextmanager
    async def handling(self) -> AsyncIterator[None]:
        self.intake.start()
        try:
            yield
        finally:
            await self.intake.stop(STOP_GRACE)

    async def run(self) -> None:
        async with self.handling():
            await asyncio.Event().wait()

    async def _on_subscribe(self, request: Request) -> Response:
        status, body = verify_subscription(request.query_params, self.verify_token)
        if status != 200:
            log.warning("webhook subscription refused: wrong verify token")
        return PlainTextResponse(body, status_code=status)

    async def _on_event(self, request: Request) -> Response:
        raw = await request.body()
        header = request.headers.get(SIGNATURE_HEADER)
        if not header:
            return Response(status_code=401)
        if not signature_ok(raw, header, self.app_secret):
            log.warning("webhook: refused a request whose signature is wrong")
            return Response(status_code=403)
        try:
            body = json.loads(raw)
            inbound, statuses = parse(body, self.phone_number_id)
        except ValueError as exc:
            log.warning("webhook: refused a body that is not Meta's (%s)", exc)
            return Response(status_code=400)
        try:
            if inbound:
                await self.intake.receive([
                    Received(CHANNEL, i.key, i.address, i.payload, i.event.to_json())
                    for i in inbound])
            if statuses:
                await self.receipts(statuses)
        except StorageUnavailable as exc:
            if self._outage is None:
                self._outage = str(exc)
                log.error("The database cannot store WhatsApp events (%s). They are refused "
                          "with 503: Meta sends them again for hours.", exc)
            return Response(status_code=503)
        if self._outage is not None:
            log.warning("The database stores WhatsApp events again")
            self._outage = None
        return PlainTextResponse("ok")

    async def receipts(self, statuses: Sequence[Status]) -> None:
        """Each receipt on its row, only ever forward; a message that failed because the
        window had closed is queued again as a template, an undeliverable number marked.
        One receipt that cannot be read is logged and left: the others still count, and
        Meta is not made to send them all again."""
        now = self.core.services.clock.now()
        requeued = False
        try:
            async with self.core.services.sessions() as s:
                for st in statuses:
                    try:
                        async with s.begin_nested():
                            requeued |= await self._receipt(s, st, now)
                    except Exception as exc:
                        if unavailable(exc):
                            raise
                        log.exception("receipt %s of %s could not be kept", st.status, st.wamid)
                await s.commit()
        except Exception as exc:
            if unavailable(exc):
                raise StorageUnavailable(failure_reason(exc)) from exc
            raise
        if requeued:
            self.outbox.wake()

    async def _receipt(self, s: AsyncSession, st: Status, now: datetime) -> bool:
        code = next((int(e["code"]) for e in st.errors if str(e.get("code", "")).isdigit()),
                    None)
        error = reason(code, _error_text(st.errors)) if st.errors else None
        row_id = row_of_callback(st.callback)
        if row_id is not None:
            # Known by the row it names even when the send's answer was lost.
            await receipts.settle_by_receipt(s, row_id, CHANNEL, st.wamid, now)
        row = await receipts.record_status(s, CHANNEL, st.wamid, st.status, st.at, code, error)
        if row is None or st.status != "failed":
            return False
        kind = classify(code)
        if kind is Kind.OUTSIDE_WINDOW:
            return await receipts.requeue_as_template(s, row, now) is not None
        if kind is Kind.UNDELIVERABLE:
            await receipts.mark_address_unreachable(s, CHANNEL, row.address, error or "", now)
        return False


def _error_text(errors: list[dict[str, Any]]) -> str:
    e = errors[0]
    said = str(e.get("title") or e.get("message") or "")
    details = str((e.get("error_data") or {}).get("details") or "")
    # Meta often repeats the title in the details: said once.
    return said if not details or details in said else f"{said}: {details}".strip(": ")

