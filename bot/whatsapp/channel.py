"""The WhatsApp channel: outbox rows out as Cloud API messages (free-form inside the person's
24-hour window, an approved template outside it), webhooks in as neutral events and receipts."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

from aiohttp import ClientConnectorError, ClientError, web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

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
from locales import Catalogs
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
from storage.failures import StorageUnavailable
from storage.intake import Received
from storage.models import OutboxMessage

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Hub-Signature-256"
# Free-form only while the window is surely open: a message queued at 23 h 59 min would
# reach Meta after it closed, and fail.
WINDOW_MARGIN = timedelta(minutes=15)
HOLD_SECONDS = 24 * 3600.0  # 131049: Meta asks to wait at least a day before trying again
TOKEN_PAUSE = 600.0  # a refused token: rows wait (nothing is lost) until an operator fixes it
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
        self._windows: dict[int, bool] = {}  # outbox row id -> its window was open (prepare)

    def is_group(self, address: str) -> bool:
        return False

    async def prepare(self, session: AsyncSession, rows: list[OutboxMessage]) -> None:
        """Whose window is open, for a wave of rows at once (in the claim's session): a
        query per send held SQLite's one connection between sends and stalled the pace. Read
        well under a second before the send; WINDOW_MARGIN covers a window closing meanwhile,
        and one opening meanwhile only makes the message a template."""
        if len(self._windows) > PREPARED_MOST:  # rows prepared and never sent (expired...)
            self._windows.clear()
        now = self.clock.now()
        open_ = await receipts.windows_open(session, CHANNEL, [r.address for r in rows], now,
                                            WINDOW_MARGIN)
        for row in rows:
            self._windows[row.id] = row.address in open_

    async def refresh_templates(self) -> None:
        async with self.sessions() as s:
            self.approved = set(await template_rows.approved(s))

    # sending ----------------------------------------------------------------------------

    async def deliver(self, row: OutboxMessage) -> Result:
        prepared = self._windows.pop(row.id, None)
        if self.stopped is not None:
            return Transient(self.stopped, after=TOKEN_PAUSE)
        out = Outgoing.from_json(row.payload)
        now = self.clock.now()
        if not self.throttle.due(row.address, out, now):
            return Delivered(None)  # a passing state of a progress report, left out
        forced = bool(out.meta.get("template"))
        if not forced:
            if prepared is not None:
                open_ = prepared
            else:
                async with self.sessions() as s:
                    open_ = await receipts.window_open(s, CHANNEL, row.address, now,
                                                       WINDOW_MARGIN)
            if open_:
                try:
                    return Delivered(None, await self._free_form(row, out))
                except CloudError as exc:
                    if classify(exc.code, exc.status) is not Kind.OUTSIDE_WINDOW:
                        return self._result(exc)
                    # The window closed on Meta's side before ours: as a template.
                except (TimeoutError, ClientError) as exc:
                    return unknown_outcome(exc)
        return await self._as_template(row, out)

    def _render(self, row: OutboxMessage, out: Outgoing) -> Any:
        zone = out.zone or self.timezone
        return lambda m: self.catalogs.render(m, row.locale, zone)

    def _pack(self, row: OutboxMessage) -> Any:
        if row.person_id is None:
            return None
        person_id = row.person_id
        return lambda action: self.buttons.pack(person_id, action)

    async def _free_form(self, row: OutboxMessage, out: Outgoing) -> tuple[str, ...]:
        """The messages showing ``out``, sent in order; their wamids (longer than the outbox's
        platform id holds) are kept with their receipts (storage.receipts)."""
        sent: list[str] = []
        for piece in pieces(out, self.capabilities, self._render(row, out), self._pack(row)):
            message = piece.message
            if piece.attachment is not None:
                a = piece.attachment
                media = await self.client.upload(a.content, a.mime_type, a.filename)
                message = with_media(piece, media)
            sent.append(await self.client.send(row.address, message,
                                               callback=callback_of(row)))
        return tuple(sent)

    async def _as_template(self, row: OutboxMessage, out: Outgoing) -> Result:
        spec = wa_templates.for_message(self.specs, out)
        if spec is None:
            return Waiting(reason(None, "outside the 24-hour window and no template carries "
                                        "this message: it goes when the person writes"))
        locale = row.locale if row.locale in spec.languages else wa_templates.DEFAULT
        code = wa_templates.language_for(locale)
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
        except CloudError as exc:
            return self._result(exc)
        except (TimeoutError, ClientError) as exc:
            return unknown_outcome(exc)
        return Delivered(None, (wamid,))

    def _result(self, exc: CloudError) -> Result:
        kind = classify(exc.code, exc.status)
        why = reason(exc.code, exc.message)
        if kind is Kind.THROTTLED:
            return RetryAfter(exc.retry_after or THROTTLE_PAUSE.get(exc.code or 0, 5.0), why)
        if kind in (Kind.PAIR_LIMIT, Kind.MEDIA, Kind.TRANSIENT):
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
        if kind is Kind.OUTSIDE_WINDOW:
            return Transient(why)  # a template refused as outside the window: Meta's fault
        return Rejected(why)  # template defects too: shown to the gestora as such

    async def probe(self, row: OutboxMessage, known: list[str]
                    ) -> Delivered | NotDelivered | None:
        """Whether a message in flight when a process died left: Meta's receipts name the
        row they belong to (biz_opaque_callback_data), so one that arrived since says so."""
        async with self.sessions() as s:
            found = await receipts.sent_for(s, CHANNEL, row.id)
        if found:
            return Delivered(None, tuple(found))
        return None


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

    async def _on_subscribe(self, request: web.Request) -> web.Response:
        status, body = verify_subscription(request.query, self.verify_token)
        if status != 200:
            log.warning("webhook subscription refused: wrong verify token")
        return web.Response(status=status, text=body)

    async def _on_event(self, request: web.Request) -> web.Response:
        raw = await request.read()
        header = request.headers.get(SIGNATURE_HEADER)
        if not header:
            return web.Response(status=401)
        if not signature_ok(raw, header, self.app_secret):
            log.warning("webhook: refused a request whose signature is wrong")
            return web.Response(status=403)
        try:
            body = json.loads(raw)
            inbound, statuses = parse(body, self.phone_number_id)
        except ValueError as exc:
            log.warning("webhook: refused a body that is not Meta's (%s)", exc)
            return web.Response(status=400)
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
            return web.Response(status=503)
        if self._outage is not None:
            log.warning("The database stores WhatsApp events again")
            self._outage = None
        return web.Response(text="ok")

    async def receipts(self, statuses: Sequence[Status]) -> None:
        """Each receipt on its row, only ever forward; a message that failed because the
        window had closed is queued again as a template, an undeliverable number marked."""
        now = self.core.services.clock.now()
        requeued = False
        try:
            async with self.core.services.sessions() as s:
                for st in statuses:
                    code = int(st.errors[0]["code"]) if st.errors and str(
                        st.errors[0].get("code", "")).isdigit() else None
                    error = reason(code, _error_text(st.errors)) if st.errors else None
                    row_id = row_of_callback(st.callback)
                    if row_id is not None:
                        # Known by the row it names even when the send's answer was lost.
                        await receipts.settle_by_receipt(s, row_id, CHANNEL, st.wamid, now)
                    row = await receipts.record_status(s, CHANNEL, st.wamid, st.status, st.at,
                                                       code, error)
                    if row is None or st.status != "failed":
                        continue
                    kind = classify(code)
                    if kind is Kind.OUTSIDE_WINDOW:
                        requeued |= await receipts.requeue_as_template(s, row, now) is not None
                    elif kind is Kind.UNDELIVERABLE:
                        await receipts.mark_address_unreachable(s, CHANNEL, row.address,
                                                                error or "", now)
                await s.commit()
        except Exception as exc:
            from storage.failures import reason as failure
            from storage.failures import unavailable

            if unavailable(exc):
                raise StorageUnavailable(failure(exc)) from exc
            raise
        if requeued:
            self.outbox.wake()


def _error_text(errors: list[dict[str, Any]]) -> str:
    e = errors[0]
    details = (e.get("error_data") or {}).get("details")
    return " ".join(str(x) for x in (e.get("title") or e.get("message"), details) if x)

