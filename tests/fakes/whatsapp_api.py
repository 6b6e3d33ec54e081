"""A fake WhatsApp Business Cloud API (Graph) server for tests and benchmarks.

Convoca's client talks to it over HTTP with ``WHATSAPP_API_BASE = fake.base_url``. Every
request is checked against Meta's OpenAPI spec (patched, see fakes.openapi) and against the
limits the spec does not state; the fake plays the people, posting signed webhooks to the app.

Endpoints (bearer token on each; Graph's error bodies): POST /{v}/{phone}/messages (sends and
read receipts), POST /{v}/{phone}/media (multipart: file, type, messaging_product),
GET /{v}/{media-id} → url (valid 5 minutes of the fake's clock) → GET url, GET /{v}/{phone},
GET|POST /{v}/{waba}/message_templates (paged), GET /{v}/{phone}/message_history (paged).

What a send must respect, beyond the spec, is answered with Meta's code and kept in
``violations`` for ``assert_clean()``: text ≤ 4096; 1-3 reply buttons, unique titles ≤ 20,
ids ≤ 256; lists with ≤ 10 rows in all, titles ≤ 24, descriptions ≤ 72, label ≤ 20; body
≤ 1024, header and footer ≤ 60, caption ≤ 1024; templates approved in exactly that language,
as many flat, non-empty parameters as placeholders, a payload for each quick reply; no raw
catalog key in what a person reads. A free-form send to someone who has not written in 24 h
(the fake's clock, or the app's with ``clock=``) gets 131047 — an answer, not a violation.

    async with FakeWhatsApp(webhook_url="http://127.0.0.1:8080/whatsapp") as wa:
        await wa.text("56987654321", "Hola", name="Ana")
        ...
        assert wa.texts("56987654321")[-1].startswith("¡Hola")
        await wa.press("56987654321", "Sí")
        wa.assert_clean()
"""

from __future__ import annotations

import asyncio
import base64
import bisect
import hashlib
import hmac
import itertools
import json
import os
import re
import time
from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
from aiohttp import web

from .openapi import Spec, load_spec
from .raw_keys import catalog_keys, document_text, raw_keys_in

__all__ = ["FakeWhatsApp", "GraphError", "Sent", "Template"]

WINDOW = timedelta(hours=24)
MEDIA_URL_LIFETIME = timedelta(minutes=5)
_STATUS_ORDER = ("sent", "delivered", "read")
_PLACEHOLDER = re.compile(r"\{\{(\d+)\}\}")
_BAD_PARAM = re.compile(r"[\n\t]| {4,}")
_MESSAGES_PATH = "/{Version}/{Phone-Number-ID}/messages"
_TEMPLATES_PATH = "/{Version}/{WABA-ID}/message_templates"

# What Meta answers for each code (message, HTTP status); the fake's faults and checks use them.
_GRAPH_ERRORS: dict[int, tuple[str, int]] = {
    1: ("An unknown error occurred", 500),
    2: ("Service temporarily unavailable", 503),
    4: ("(#4) Application request limit reached", 400),
    100: ("(#100) Invalid parameter", 400),
    190: ("Invalid OAuth access token - Cannot parse access token", 401),
    80007: ("(#80007) Rate limit issues", 400),
    130429: ("(#130429) Rate limit hit", 400),
    131000: ("Something went wrong", 500),
    131008: ("(#131008) Required parameter is missing", 400),
    131009: ("(#131009) Parameter value is not valid", 400),
    131026: ("(#131026) Message undeliverable", 400),
    131047: ("(#131047) Re-engagement message", 400),
    131048: ("(#131048) Spam rate limit hit", 400),
    131049: ("(#131049) This message was not delivered to maintain healthy ecosystem "
             "engagement.", 400),
    131053: ("(#131053) Media upload error", 400),
    131056: ("(#131056) (Business Account, Consumer Account) pair rate limit hit", 400),
    132000: ("(#132000) Number of parameters does not match the expected number of params",
             400),
    132001: ("(#132001) Template name does not exist in the translation", 400),
    132012: ("(#132012) Parameter format does not match format in the created template", 400),
    132015: ("(#132015) Template is paused due to low quality", 400),
    132016: ("(#132016) Template has been disabled", 400),
    132018: ("(#132018) There was an issue with the parameters in your template.", 400),
    133016: ("(#133016) Account has been registered or deregistered too many times", 400),
}


class GraphError(Exception):
    """An answer the way Graph gives it: HTTP status + {"error": {...}}."""

    def __init__(self, code: int, details: str | None = None, *, status: int | None = None,
                 subcode: int | None = None, message: str | None = None,
                 retry_after: float | None = None) -> None:
        default_message, default_status = _GRAPH_ERRORS.get(code, (f"(#{code}) Error", 400))
        self.code = code
        self.message = message or default_message
        self.status = status or default_status
        self.subcode = subcode
        self.details = details
        self.retry_after = retry_after
        super().__init__(f"{code}: {self.message} {details or ''}")

    def body(self, trace: str) -> dict[str, Any]:
        err: dict[str, Any] = {
            "message": self.message,
            "type": "OAuthException",  # what Graph calls nearly every error, 190 included
            "code": self.code,
            "fbtrace_id": trace,
        }
        if self.subcode is not None:
            err["error_subcode"] = self.subcode
        if self.details is not None:
            err["error_data"] = {"messaging_product": "whatsapp", "details": self.details}
        return {"error": err}


@dataclass(slots=True)
class Sent:
    """A message the fake accepted, as the person sees it."""

    wamid: str
    wa_id: str
    type: str  # text | interactive | template | document | location | ...
    body: dict[str, Any]  # the request as received
    at: datetime  # the fake's clock
    text: str | None = None  # body/caption, or the template's body with its parameters
    buttons: dict[str, str] = field(default_factory=dict)  # reply button title -> id
    rows: dict[str, tuple[str, str | None]] = field(default_factory=dict)  # title -> id, desc
    quick_replies: dict[str, str] = field(default_factory=dict)  # template button text -> payload
    template: tuple[str, str] | None = None  # (name, language)
    statuses: list[str] = field(default_factory=list)  # the statuses played so far

    @property
    def callback(self) -> str | None:
        return self.body.get("biz_opaque_callback_data")


@dataclass(slots=True)
class Template:
    name: str
    language: str
    category: str
    components: list[dict[str, Any]]
    id: str
    status: str = "PENDING"
    reason: str | None = None

    @property
    def body(self) -> str:
        return next((c.get("text", "") for c in self.components
                     if c.get("type", "").upper() == "BODY"), "")

    @property
    def placeholders(self) -> int:
        return len(set(_PLACEHOLDER.findall(self.body)))

    @property
    def quick_replies(self) -> list[str]:
        return [b.get("text", "") for c in self.components if c.get("type", "").upper() == "BUTTONS"
                for b in c.get("buttons", []) if b.get("type", "").upper() == "QUICK_REPLY"]

    def listing(self) -> dict[str, Any]:
        row = {"name": self.name, "language": self.language, "status": self.status,
               "category": self.category, "components": self.components, "id": self.id}
        if self.reason:
            row["rejected_reason"] = self.reason
        return row


@dataclass(slots=True)
class _Fault:
    kind: str | int  # "5xx", "timeout", "lost" or a Graph error code
    path: str  # "messages", "media", "templates", ... or "*"
    wa_id: str | None
    remaining: int
    retry_after: float | None = None


@dataclass(slots=True)
class _Media:
    id: str
    data: bytes
    mime_type: str
    filename: str | None

    def meta(self) -> dict[str, Any]:
        return {"id": self.id, "mime_type": self.mime_type, "file_size": len(self.data),
                "sha256": hashlib.sha256(self.data).hexdigest(), "messaging_product": "whatsapp"}


class FakeWhatsApp:
    """An aiohttp server impersonating the Cloud API; see the module docstring."""

    def __init__(
        self,
        token: str = "TEST-TOKEN",
        phone_number_id: str = "100200300400500",
        business_account_id: str = "900800700600500",
        spec_path: str | os.PathLike[str] | None = None,
        *,
        display_phone_number: str = "56 2 2345 6789",
        verified_name: str = "Convoca",
        app_secret: str = "test-app-secret",
        webhook_url: str | None = None,
        auto_approve: bool = False,
        auto_statuses: bool = False,
        outside_window: str = "error",  # "error": answer 131047; "status": 200, then `failed`
        rate_limit_per_second: float | None = None,
        enforce_rate_limit: bool = False,
        timeout_hold: float = 30.0,
        message_keys: Iterable[str] | None = None,
        now: datetime | None = None,
        clock: Any = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        if outside_window not in ("error", "status"):
            raise ValueError("outside_window is 'error' or 'status'")
        self.spec: Spec = load_spec(spec_path)
        self.version = self.spec.version
        self.token = token
        self.phone_number_id = phone_number_id
        self.business_account_id = business_account_id
        self.display_phone_number = display_phone_number
        self.verified_name = verified_name
        self.app_secret = app_secret
        self.webhook_url = webhook_url
        self.auto_approve = auto_approve
        self.auto_statuses = auto_statuses
        self.outside_window = outside_window
        self.rate_limit_per_second = rate_limit_per_second
        self.enforce_rate_limit = enforce_rate_limit
        self.timeout_hold = timeout_hold
        self._message_keys = catalog_keys() if message_keys is None else frozenset(message_keys)
        self.host = host
        self.port = port
        self.root_url: str | None = None
        self._now = now or datetime.now(UTC).replace(microsecond=0)
        # The app's clock (anything with now(), like storage.clock.ManualClock): the fake then
        # keeps the same time, so the window it enforces is the one the app reckons with.
        self.clock = clock

        self.violations: list[str] = []  # "<code>: what" — spec or limit broken by the app
        self.fake_errors: list[str] = []  # bugs of the fake itself (a webhook off the spec...)
        self.requests: list[tuple[str, str, int]] = []  # (method, path, HTTP status answered)
        self.stats: Counter[str] = Counter()
        self.webhooks: list[tuple[dict[str, Any], int]] = []  # (body, app's HTTP status)
        self.send_times: list[float] = []  # time.monotonic() of each accepted send
        self.reads: list[str] = []  # wamids the app marked read
        self.downloads: list[str] = []  # media ids whose bytes the app fetched
        self._sent: list[Sent] = []
        self._by_wamid: dict[str, Sent] = {}
        self._by_person: dict[str, list[Sent]] = {}
        self._inbound: dict[str, datetime] = {}  # wa_id -> when they last wrote
        self._names: dict[str, str] = {}
        self._pending_failures: list[tuple[str, int]] = []  # (wamid, code) for outside_window
        self._templates: dict[tuple[str, str], Template] = {}
        self._media: dict[str, _Media] = {}
        self._faults: list[_Fault] = []
        self._window: deque[float] = deque()
        self._ids = itertools.count(1)
        self._valid_cache: dict[str, list[str]] = {}
        self._last_webhook: tuple[bytes, dict[str, str]] | None = None
        self._held: list[tuple[bytes, dict[str, str]]] | None = None
        self._undelivered: list[tuple[bytes, dict[str, str]]] = []
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self._closing: asyncio.Event | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    # -- lifecycle --------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """What WHATSAPP_API_BASE is set to (with the version, like graph.facebook.com/v23.0)."""
        assert self.root_url is not None, "start() the fake first"
        return f"{self.root_url}/{self.version}"

    async def start(self) -> str:
        if self._runner is None:
            self._closing = asyncio.Event()
            app = web.Application(client_max_size=128 * 1024 * 1024)
            app.router.add_get("/whatsapp_business/attachments/", self._handle_download)
            app.router.add_route("*", "/{version}/{path:.+}", self._handle)
            self._runner = web.AppRunner(app, access_log=None, handle_signals=False,
                                         shutdown_timeout=0.5, handler_cancellation=True)
            await self._runner.setup()
            await web.TCPSite(self._runner, self.host, self.port).start()
            self.port = self._runner.addresses[0][1]
            self.root_url = f"http://{self.host}:{self.port}"
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
        return self.base_url

    async def stop(self) -> None:
        if self._runner is None:
            return
        assert self._closing is not None and self._session is not None
        self._closing.set()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        runner, self._runner = self._runner, None
        await runner.cleanup()
        await self._session.close()

    async def __aenter__(self) -> FakeWhatsApp:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- the fake's clock and the 24 h window ---------------------------------------------------

    @property
    def _now(self) -> datetime:
        return self.clock.now() if self.clock is not None else self._own_now

    @_now.setter
    def _now(self, value: datetime) -> None:
        self._own_now = value

    @property
    def now(self) -> datetime:
        return self._now

    @now.setter
    def now(self, value: datetime) -> None:
        if self.clock is not None:
            raise RuntimeError("the fake follows the app's clock: set that one")
        self._now = value

    def advance(self, delta: timedelta | float) -> datetime:
        delta = delta if isinstance(delta, timedelta) else timedelta(seconds=delta)
        if self.clock is not None:
            return self.clock.advance(delta)
        self._now += delta
        return self._now

    def window_open(self, wa_id: str) -> bool:
        last = self._inbound.get(wa_id)
        return last is not None and self._now - last < WINDOW

    def wrote_at(self, wa_id: str, at: datetime | None = None, name: str | None = None) -> None:
        """Say the person wrote at ``at`` (now) without sending a webhook: a test's past."""
        self._inbound[wa_id] = at or self._now
        if name:
            self._names[wa_id] = name

    # -- templates ----------------------------------------------------------------------------

    def add_template(self, name: str, language: str, body: str, *, buttons: Iterable[str] = (),
                     footer: str | None = None, category: str = "UTILITY",
                     status: str = "APPROVED") -> Template:
        """A template the business account already has (as if pushed and reviewed before)."""
        components: list[dict[str, Any]] = [{"type": "BODY", "text": body}]
        if footer:
            components.append({"type": "FOOTER", "text": footer})
        if buttons:
            components.append({"type": "BUTTONS", "buttons": [
                {"type": "QUICK_REPLY", "text": b} for b in buttons]})
        tpl = Template(name, language, category, components, self._id(), status)
        self._templates[(name, language)] = tpl
        return tpl

    def template(self, name: str, language: str) -> Template | None:
        return self._templates.get((name, language))

    @property
    def templates(self) -> list[Template]:
        return list(self._templates.values())

    def approve(self, name: str, language: str) -> None:
        self._templates[(name, language)].status = "APPROVED"

    def reject(self, name: str, language: str, reason: str = "INVALID_FORMAT") -> None:
        tpl = self._templates[(name, language)]
        tpl.status, tpl.reason = "REJECTED", reason

    def set_template_status(self, name: str, language: str, status: str) -> None:
        """PAUSED, DISABLED...: a template Meta took back."""
        self._templates[(name, language)].status = status

    # -- faults -------------------------------------------------------------------------------

    def inject(self, kind: str | int, *, times: int = 1, path: str = "messages",
               wa_id: str | None = None, retry_after: float | None = None) -> None:
        """Answer the next ``times`` matching requests with ``kind``: "5xx", "timeout" (hold
        ``timeout_hold`` seconds, then drop the connection), "lost" (a send is accepted and
        recorded, then its answer dropped the same way: the outcome the app cannot know, for
        message_history to tell), or a Graph error code (4, 80007,
        130429, 131026, 131047, 131048, 131049, 131056, 133016, 190, 132001...). ``path`` is
        the last segment of the endpoint ("messages", "media", "message_templates", the media
        download "attachments") or "*"; ``wa_id`` limits it to sends to that person;
        ``retry_after`` adds a Retry-After header (Meta seldom sends one)."""
        if kind not in ("5xx", "timeout", "lost") and not isinstance(kind, int):
            raise ValueError(f"unknown fault {kind!r}")
        self._faults.append(_Fault(kind, path, wa_id, times, retry_after))

    def clear_faults(self) -> None:
        self._faults.clear()

    def _take_fault(self, path: str, wa_id: str | None) -> _Fault | None:
        for fault in self._faults:
            if fault.path not in ("*", path) or (fault.wa_id and fault.wa_id != wa_id):
                continue
            fault.remaining -= 1
            if fault.remaining <= 0:
                self._faults.remove(fault)
            return fault
        return None

    # -- what the app sent ----------------------------------------------------------------------

    def messages(self, wa_id: str | None = None) -> list[Sent]:
        return list(self._sent if wa_id is None else self._by_person.get(wa_id, ()))

    def texts(self, wa_id: str | None = None) -> list[str]:
        """What a person read, in order: texts, captions, interactive bodies, templates."""
        return [m.text for m in self.messages(wa_id) if m.text is not None]

    def message(self, wamid: str) -> Sent | None:
        return self._by_wamid.get(wamid)

    def choices(self, wa_id: str) -> list[str]:
        """The titles the person can press on the newest message that has any."""
        for m in reversed(self._by_person.get(wa_id, ())):
            if m.buttons or m.rows or m.quick_replies:
                return [*m.buttons, *m.rows, *m.quick_replies]
        return []

    def media_bytes(self, media_id: str) -> bytes | None:
        media = self._media.get(media_id)
        return media.data if media else None

    def max_per_second(self) -> int:
        """The most sends accepted in any sliding 1 s window."""
        best, start = 0, 0
        times = self.send_times
        for end in range(len(times)):
            while times[end] - times[start] >= 1.0:
                start += 1
            best = max(best, end - start + 1)
        return best

    async def wait_for_sent(self, wa_id: str, count: int = 1, timeout: float = 5.0) -> list[str]:
        """Wait until ``count`` messages reached the person; returns texts(wa_id)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(self._by_person.get(wa_id, ())) < count:
            if loop.time() > deadline:
                raise TimeoutError(f"{wa_id} got {len(self._by_person.get(wa_id, ()))} "
                                   f"messages, not {count}, within {timeout}s")
            await asyncio.sleep(0.01)
        return self.texts(wa_id)

    def assert_clean(self, allow: Iterable[int] = ()) -> None:
        """Fail on any spec or limit violation or raw catalog key (codes in ``allow`` pass:
        a test that provokes 132000 on purpose)."""
        allowed = {str(code) for code in allow}
        problems = [v for v in self.violations if v.split(":", 1)[0] not in allowed]
        problems += self.fake_errors
        if problems:
            raise AssertionError("WhatsApp Cloud API violations:\n  " + "\n  ".join(problems))

    def clear(self) -> None:
        """Forget what was sent and seen (templates, media, people's windows are kept)."""
        self.violations.clear()
        self.fake_errors.clear()
        self.requests.clear()
        self.stats.clear()
        self.webhooks.clear()
        self.send_times.clear()
        self._sent.clear()
        self._by_person.clear()

    # -- playing people: signed webhooks ----------------------------------------------------------

    async def text(self, wa_id: str, body: str, *, name: str | None = None,
                   context: str | None = None) -> str:
        msg: dict[str, Any] = {"type": "text", "text": {"body": body}}
        if context:
            msg["context"] = {"from": self._digits(), "id": context}
        return await self.inbound(wa_id, msg, name=name)

    async def press(self, wa_id: str, title: str, *, name: str | None = None) -> str:
        """The person taps ``title`` on the newest message showing it as a reply button or a
        list row; the app receives the id it gave that choice."""
        for m in reversed(self._by_person.get(wa_id, ())):
            if title in m.buttons:
                reply = {"type": "button_reply",
                         "button_reply": {"id": m.buttons[title], "title": title}}
            elif title in m.rows:
                row_id, desc = m.rows[title]
                reply = {"type": "list_reply", "list_reply": {"id": row_id, "title": title}}
                if desc:
                    reply["list_reply"]["description"] = desc
            else:
                continue
            msg = {"type": "interactive", "interactive": reply,
                   "context": {"from": self._digits(), "id": m.wamid}}
            return await self.inbound(wa_id, msg, name=name)
        raise LookupError(f"{wa_id} has no message with a button or row {title!r}; "
                          f"they see {self.choices(wa_id)}")

    async def tap_template(self, wa_id: str, text: str, *, name: str | None = None) -> str:
        """The person taps a template's quick reply; the app receives its payload."""
        for m in reversed(self._by_person.get(wa_id, ())):
            if text in m.quick_replies:
                msg = {"type": "button", "button": {"payload": m.quick_replies[text], "text": text},
                       "context": {"from": self._digits(), "id": m.wamid}}
                return await self.inbound(wa_id, msg, name=name)
        raise LookupError(f"{wa_id} has no template with a quick reply {text!r}")

    async def document(self, wa_id: str, filename: str, content: bytes,
                       mime_type: str = "application/octet-stream", *,
                       caption: str | None = None, name: str | None = None) -> str:
        """The person sends a file; its media id is then downloadable by the app."""
        media = self._store_media(content, mime_type, filename)
        doc = {"id": media.id, "filename": filename, "mime_type": mime_type,
               "sha256": base64.b64encode(hashlib.sha256(content).digest()).decode()}
        if caption is not None:
            doc["caption"] = caption
        return await self.inbound(wa_id, {"type": "document", "document": doc}, name=name)

    async def image(self, wa_id: str, content: bytes = b"\xff\xd8fakejpeg",
                    mime_type: str = "image/jpeg", *, caption: str | None = None,
                    name: str | None = None) -> str:
        """The person sends a photo; its media id is then downloadable by the app."""
        media = self._store_media(content, mime_type, None)
        image = {"id": media.id, "mime_type": mime_type,
                 "sha256": base64.b64encode(hashlib.sha256(content).digest()).decode()}
        if caption is not None:
            image["caption"] = caption
        return await self.inbound(wa_id, {"type": "image", "image": image}, name=name)

    async def contact_card(self, wa_id: str, phone: str, *, first_name: str = "Ana",
                           last_name: str | None = None, card_wa_id: str | None = None,
                           name: str | None = None) -> str:
        card_name = {"first_name": first_name,
                     "formatted_name": " ".join(filter(None, (first_name, last_name)))}
        if last_name:
            card_name["last_name"] = last_name
        ph: dict[str, Any] = {"phone": phone, "type": "CELL"}
        if card_wa_id:
            ph["wa_id"] = card_wa_id
        return await self.inbound(wa_id, {"type": "contacts",
                                          "contacts": [{"name": card_name, "phones": [ph]}]},
                                  name=name)

    async def unsupported(self, wa_id: str, kind: str = "sticker", *,
                          name: str | None = None) -> str:
        """Something Convoca does not take: a sticker, image, audio, location... (the spec's
        shapes), or kind="unsupported" for what WhatsApp itself cannot pass on."""
        media = {"id": self._id(), "mime_type": "image/webp", "sha256": "x"}
        bodies: dict[str, dict[str, Any]] = {
            "sticker": {"sticker": {**media, "animated": False}},
            "image": {"image": {**media, "mime_type": "image/jpeg"}},
            "audio": {"audio": {**media, "mime_type": "audio/ogg", "voice": True}},
            "video": {"video": {**media, "mime_type": "video/mp4"}},
            "location": {"location": {"latitude": -33.45, "longitude": -70.66}},
            "reaction": {"reaction": {"message_id": self._sent[-1].wamid if self._sent else "x",
                                      "emoji": "👍"}},
            "unsupported": {"errors": [{"code": 131051, "title": "Message type unknown",
                                        "message": "Message type unknown",
                                        "error_data": {"details": "Message type is currently "
                                                       "not supported."}}]},
        }
        return await self.inbound(wa_id, {"type": kind, **bodies[kind]}, name=name)

    async def inbound(self, wa_id: str, message: dict[str, Any], *, name: str | None = None,
                      renew_window: bool = True) -> str:
        """Post any inbound message object (``from``, ``id``, ``timestamp`` filled in)."""
        wamid = message.get("id") or self._wamid(wa_id, inbound=True)
        if name:
            self._names[wa_id] = name
        msg = {"from": wa_id, "id": wamid, "timestamp": self._ts(), **message}
        if renew_window and message.get("type") not in ("reaction", "unsupported"):
            self._inbound[wa_id] = self._now
        contact = {"profile": {"name": self._names.get(wa_id, "Persona")}, "wa_id": wa_id}
        await self.post_webhook(self._envelope({"contacts": [contact], "messages": [msg]}))
        return wamid

    async def status(self, wamid: str, status: str, *, errors: list[dict[str, Any]] | None = None,
                     code: int | None = None) -> int:
        """Post one status of a sent message (``code`` builds the errors of a ``failed``)."""
        return await self.post_webhook(self._envelope(
            {"statuses": [self._status_object(wamid, status, errors, code)]}))

    def _status_object(self, wamid: str, status: str, errors: list[dict[str, Any]] | None,
                       code: int | None) -> dict[str, Any]:
        sent = self._by_wamid[wamid]
        st: dict[str, Any] = {"id": wamid, "status": status, "timestamp": self._ts(),
                              "recipient_id": sent.wa_id}
        if sent.callback:
            st["biz_opaque_callback_data"] = sent.callback
        if status != "failed":
            st["pricing"] = {"billable": True, "pricing_model": "PMP",
                             "category": "utility" if sent.template else "service"}
        if code is not None:
            message, _ = _GRAPH_ERRORS.get(code, (f"Error {code}", 400))
            errors = [{"code": code, "title": message, "message": message,
                       "error_data": {"details": message}}]
        if errors:
            st["errors"] = errors
        sent.statuses.append(status)
        return st

    async def deliver_statuses(self, wa_id: str | None = None, *, up_to: str = "read",
                               order: Iterable[str] | None = None, batch: bool = False) -> int:
        """Play sent → delivered → read (up to ``up_to``) for each accepted message not yet
        given them, one webhook each (``batch``: all in one webhook, as Meta also does);
        ``order`` plays them out of order (e.g. ("read", "sent", "delivered")). Late 131047
        failures (outside_window="status") go first. Returns how many statuses were posted."""
        todo = [(wamid, "failed", code) for wamid, code in self._pending_failures]
        self._pending_failures = []
        steps = tuple(order) if order else _STATUS_ORDER[:_STATUS_ORDER.index(up_to) + 1]
        failed = {wamid for wamid, _, _ in todo}
        for m in self.messages(wa_id):
            if "failed" in m.statuses or m.wamid in failed:
                continue
            todo += [(m.wamid, step, None) for step in steps if step not in m.statuses]
        objects = [self._status_object(wamid, step, None, code) for wamid, step, code in todo]
        if batch and objects:
            await self.post_webhook(self._envelope({"statuses": objects}))
        else:
            for obj in objects:
                await self.post_webhook(self._envelope({"statuses": [obj]}))
        return len(objects)

    async def fail(self, wamid: str, code: int) -> int:
        """A message that got its wamid fails later (131047, 131026, 131049...)."""
        return await self.status(wamid, "failed", code=code)

    async def repeat_webhook(self) -> int:
        """Post the last webhook again, byte for byte (Meta's at-least-once delivery)."""
        assert self._last_webhook is not None, "no webhook was posted yet"
        return await self._post(*self._last_webhook)

    def hold_webhooks(self) -> None:
        """Keep the webhooks played from now on until ``release_webhooks``."""
        if self._held is None:
            self._held = []

    async def release_webhooks(self, *, reverse: bool = True) -> list[int]:
        """Post the held webhooks, newest first by default (Meta does not keep order)."""
        held, self._held = self._held or [], None
        return [await self._post(*w) for w in (reversed(held) if reverse else held)]

    async def redeliver(self) -> list[int]:
        """Post again every webhook the app did not take (an answer other than 2xx, or no
        answer at all), as Meta retries for hours; returns the app's new answers."""
        pending, self._undelivered = self._undelivered, []
        return [await self._post(*w) for w in pending]

    async def post_webhook(self, body: dict[str, Any], *, signature: str | None = None) -> int:
        """Sign (or use ``signature``, e.g. a wrong one) and post; returns the app's status
        (0: the app did not answer, or the webhook is held)."""
        problems = self.spec.errors("WebhookPayload", body)
        if problems:
            self.fake_errors.extend(f"webhook off the spec: {p}" for p in problems)
        raw = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json",
                   "X-Hub-Signature-256": signature or self.sign(raw)}
        self._last_webhook = (raw, headers)
        if self._held is not None:
            self._held.append((raw, headers))
            return 0
        return await self._post(raw, headers)

    def sign(self, raw: bytes) -> str:
        return "sha256=" + hmac.new(self.app_secret.encode(), raw, hashlib.sha256).hexdigest()

    async def _post(self, raw: bytes, headers: dict[str, str]) -> int:
        assert self._session is not None, "start() the fake first"
        if not self.webhook_url:
            raise RuntimeError("set fake.webhook_url to the app's /whatsapp URL")
        try:
            async with self._session.post(self.webhook_url, data=raw, headers=headers) as resp:
                await resp.read()
                status = resp.status
        except (aiohttp.ClientError, OSError, TimeoutError):
            status = 0  # the app is down: Meta keeps the webhook and tries again later
        self.webhooks.append((json.loads(raw), status))
        if not 200 <= status < 300:
            self._undelivered.append((raw, headers))
        return status

    def _envelope(self, value: dict[str, Any]) -> dict[str, Any]:
        return {"object": "whatsapp_business_account", "entry": [{
            "id": self.business_account_id,
            "changes": [{"field": "messages", "value": {
                "messaging_product": "whatsapp",
                "metadata": {"display_phone_number": self._digits(),
                             "phone_number_id": self.phone_number_id},
                **value}}]}]}

    # -- HTTP -------------------------------------------------------------------------------------

    def _trace(self) -> str:
        return "A" + base64.b32encode(next(self._ids).to_bytes(8, "big")).decode().rstrip("=")

    def _answer(self, method: str, path: str, payload: Any, status: int = 200,
                headers: dict[str, str] | None = None) -> web.Response:
        self.requests.append((method, path, status))
        self.stats["requests"] += 1
        self.stats[str(status)] += 1
        return web.json_response(payload, status=status, headers=headers,
                                 dumps=lambda o: json.dumps(o, ensure_ascii=False))

    def _refuse(self, method: str, path: str, err: GraphError) -> web.Response:
        headers = {"Retry-After": f"{err.retry_after:g}"} if err.retry_after is not None else None
        return self._answer(method, path, err.body(self._trace()), err.status, headers)

    def _authorised(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        return hmac.compare_digest(header.encode(), f"Bearer {self.token}".encode())

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        method, path = request.method, request.path
        if not self._authorised(request):
            self.violations.append(f"190: {method} {path} without the right bearer token")
            return self._refuse(method, path, GraphError(190, subcode=463 if "Authorization"
                                                         in request.headers else None))
        version, parts = request.match_info["version"], request.match_info["path"].split("/")
        if version != self.version:
            self.violations.append(f"100: {method} {path}: version {version}, the spec is "
                                   f"{self.version}")
        node, edge = parts[0], "/".join(parts[1:])
        phone, waba = node == self.phone_number_id, node == self.business_account_id
        try:
            match method, edge:
                case "POST", "messages" if phone:
                    return await self._messages(request)
                case "POST", "media" if phone:
                    await self._fault("media", None, request)
                    return self._answer(method, path, await self._upload(request))
                case "GET", "message_history" if phone:
                    return self._answer(method, path, self._history(request.query))
                case "GET", "" if phone:
                    return self._answer(method, path, {
                        "id": self.phone_number_id, "verified_name": self.verified_name,
                        "display_phone_number": self.display_phone_number,
                        "quality_rating": "GREEN"})
                case "GET", "message_templates" if waba:
                    await self._fault("message_templates", None, request)
                    return self._answer(method, path, self._list_templates(request.query))
                case "POST", "message_templates" if waba:
                    await self._fault("message_templates", None, request)
                    body = await self._json_body(request)
                    return self._answer(method, path, self._create_template(body))
                case "GET", "" if node.isdigit():
                    return self._answer(method, path, await self._media_url(node, request))
            self.violations.append(f"100: {method} {path}: not an endpoint Convoca should call")
            raise _no_such_object(method, node)
        except GraphError as err:
            return self._refuse(method, path, err)
        except Exception as exc:  # a bug in the fake must not pass for an answer of Meta's
            self.fake_errors.append(f"{method} {path}: the fake crashed: {exc!r}")
            return self._refuse(method, path, GraphError(1, f"fake crashed: {exc!r}"))

    async def _messages(self, request: web.Request) -> web.StreamResponse:
        body = await self._json_body(request)
        wa_id = body.get("to") if isinstance(body, dict) else None
        fault = await self._fault("messages", wa_id, request, lose_answer=True)
        answer = self._answer(request.method, request.path, self._send(body))
        if fault is not None:  # "lost": the message went, its answer never comes
            await self._drop(request)
        return answer

    async def _media_url(self, media_id: str, request: web.Request) -> dict[str, Any]:
        if media_id not in self._media:  # a stale id is the app's bad luck, not its bug
            raise _no_such_object("GET", media_id)
        await self._fault("media", None, request)
        # Meta's URL works for 5 minutes: the fake's clock is written into it.
        return {**self._media[media_id].meta(),
                "url": f"{self.root_url}/whatsapp_business/attachments/?mid={media_id}"
                       f"&ext={int(self._now.timestamp())}"}

    async def _json_body(self, request: web.Request) -> Any:
        try:
            return await request.json()
        except ValueError as exc:
            self.violations.append(f"100: {request.path}: body is not JSON ({exc})")
            raise GraphError(100, "The request body is not JSON") from None

    async def _fault(self, path: str, wa_id: str | None, request: web.Request, *,
                     lose_answer: bool = False) -> _Fault | None:
        """Apply a fault due for this request; returns a "lost" one for the caller to play
        after doing the work (only where ``lose_answer``)."""
        fault = self._take_fault(path, wa_id)
        if fault is None:
            return None
        self.stats[f"fault {fault.kind}"] += 1
        if fault.kind == "lost" and lose_answer:
            return fault
        if fault.kind in ("timeout", "lost"):
            await self._drop(request)
        if fault.kind == "5xx":
            raise GraphError(131000, status=500, retry_after=fault.retry_after)
        raise GraphError(int(fault.kind), retry_after=fault.retry_after)

    async def _drop(self, request: web.Request) -> None:
        """Hold the request ``timeout_hold`` seconds, then close the connection unanswered,
        like a dead upstream."""
        assert self._closing is not None
        try:
            await asyncio.wait_for(self._closing.wait(), self.timeout_hold)
        except TimeoutError:
            pass
        if request.transport is not None:
            request.transport.close()
        raise asyncio.CancelledError

    # -- sending ------------------------------------------------------------------------------

    def _send(self, body: Any) -> dict[str, Any]:
        self._check_spec(body)
        if body.get("status") == "read":
            self.reads.append(body["message_id"])
            return {"success": True}
        to, kind = body["to"], body["type"]
        self._rate(to)
        sent = Sent(self._wamid(to), to, kind, body, self._now)
        problems, leaks = self._describe(sent)
        # A raw key is Convoca's bug, not something Meta refuses: noted, and the message goes.
        self.violations.extend(f"raw key: to {to}: {leak}" for leak in leaks)
        if problems:
            self.violations.extend(f"{code}: to {to}: {what}" for code, what in problems)
            code, what = problems[0]
            raise GraphError(code, what)
        late_failure = False
        if kind != "template" and kind != "reaction" and not self.window_open(to):
            if self.outside_window == "error":
                raise GraphError(131047, "Message failed to send because more than 24 hours "
                                 "have passed since the customer last replied to this number.")
            late_failure = True
        self.send_times.append(time.monotonic())
        self._sent.append(sent)
        self._by_wamid[sent.wamid] = sent
        self._by_person.setdefault(to, []).append(sent)
        self.stats["sent"] += 1
        if late_failure:
            self._pending_failures.append((sent.wamid, 131047))
        elif self.auto_statuses and self.webhook_url:
            task = asyncio.get_running_loop().create_task(self._auto_status(sent.wamid))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return {"messaging_product": "whatsapp", "contacts": [{"input": to, "wa_id": to}],
                "messages": [{"id": sent.wamid, **({"message_status": "accepted"}
                                                   if kind == "template" else {})}]}

    async def _auto_status(self, wamid: str) -> None:
        try:
            for step in ("sent", "delivered"):
                await self.status(wamid, step)
        except (aiohttp.ClientError, OSError) as exc:
            self.stats["webhook errors"] += 1
            self.fake_errors.append(f"status webhook for {wamid} not delivered: {exc!r}")

    def _check_spec(self, body: Any) -> None:
        # A broadcast sends the same shape to thousands, each with its own name, date and
        # callback: the spec is checked once per shape (see _shape), the real body on a miss.
        if not isinstance(body, dict):
            self.violations.append("100: the body is not a JSON object")
            raise GraphError(100, "the body is not a JSON object")
        key = json.dumps(self._shape(body, None), sort_keys=True)
        problems = self._valid_cache.get(key)
        if problems is None:
            problems = self.spec.errors(self._schema_for(body), body)
            if len(self._valid_cache) < 4096:
                self._valid_cache[key] = problems
        if problems:
            self.violations.extend(f"100: {p}" for p in problems)
            raise GraphError(100, problems[0])

    # Fields the spec constrains by length alone (no enum, const or pattern): their text is
    # replaced by its length class in the shape. `to` is not checked beyond being a string.
    _FREE_TEXT = frozenset({"body", "text", "title", "description", "id", "payload", "caption",
                            "filename", "address", "message_id", "button", "link",
                            "biz_opaque_callback_data", "to"})

    def _shape(self, value: Any, key: str | None) -> Any:
        if isinstance(value, dict):
            return {k: self._shape(v, k) for k, v in value.items()}
        if isinstance(value, list):
            return [self._shape(v, key) for v in value]
        if isinstance(value, str) and key in self._FREE_TEXT:
            bounds = self.spec.length_bounds  # left for maxLength, right for minLength
            return ("str", bisect.bisect_left(bounds, len(value)),
                    bisect.bisect_right(bounds, len(value)))
        return value

    def _schema_for(self, body: dict[str, Any]) -> str:
        # The discriminator followed by hand: one message type checked, not a dozen.
        if "status" in body:
            return "ReadReceipt"
        mapping = self.spec.schemas["Message"].get("allOf", [])
        for branch in mapping:
            if branch.get("if", {}).get("properties", {}).get("type", {}).get("const") == \
                    body.get("type"):
                return branch["then"]["$ref"].rsplit("/", 1)[1]
        return "SendRequest"

    def _rate(self, to: str) -> None:
        if self.rate_limit_per_second is None:
            return
        now = time.monotonic()
        while self._window and self._window[0] <= now - 1.0:
            self._window.popleft()
        if len(self._window) >= self.rate_limit_per_second:
            if self.enforce_rate_limit:
                raise GraphError(130429, "Cloud API message throughput has been reached.")
            self.violations.append(f"130429: to {to}: more than {self.rate_limit_per_second} "
                                   "sends in one second")
        self._window.append(now)

    def _describe(self, sent: Sent) -> tuple[list[tuple[int, str]], list[str]]:
        """Fill in what the person sees; return the limits broken (code, what) and the raw
        catalog keys a person would read."""
        body, out = sent.body, []
        readable: list[str] = []

        def limit(value: Any, most: int, what: str, code: int = 131009) -> None:
            if isinstance(value, str):
                readable.append(value)
                if len(value) > most:
                    out.append((code, f"{what} has {len(value)} characters, at most {most}"))

        if sent.type == "text":
            sent.text = body["text"].get("body", "")
            if not sent.text.strip():
                out.append((100, "text.body is empty"))
            limit(sent.text, 4096, "text.body", 100)
        elif sent.type == "interactive":
            inter = body["interactive"]
            sent.text = inter.get("body", {}).get("text")
            limit(sent.text, 1024, "interactive body")
            limit(inter.get("header", {}).get("text"), 60, "interactive header")
            limit(inter.get("footer", {}).get("text"), 60, "interactive footer")
            action = inter.get("action", {})
            if inter.get("type") == "button":
                buttons = action.get("buttons", [])
                if not 1 <= len(buttons) <= 3:
                    out.append((131009, f"{len(buttons)} reply buttons, 1 to 3 allowed"))
                for b in buttons:
                    title, bid = b["reply"]["title"], b["reply"]["id"]
                    limit(title, 20, f"button title {title!r}")
                    if len(bid) > 256 or bid != bid.strip() or not bid:
                        out.append((131009, f"button id {bid[:40]!r} is empty, padded or over "
                                    "256 characters"))
                    if title in sent.buttons:
                        out.append((131009, f"button title {title!r} twice"))
                    if not title.strip():
                        out.append((131009, "an empty button title"))
                    sent.buttons[title] = bid
            elif inter.get("type") == "list":
                limit(action.get("button"), 20, "list button label")
                sections = action.get("sections", [])
                if len(sections) > 10:
                    out.append((131009, f"{len(sections)} sections, at most 10"))
                if len(sections) > 1 and any(not s.get("title") for s in sections):
                    out.append((131009, "a list of several sections needs each one's title"))
                rows = [r for s in sections for r in s.get("rows", [])]
                if not 1 <= len(rows) <= 10:
                    out.append((131009, f"{len(rows)} rows in all, 1 to 10 allowed"))
                for s in sections:
                    limit(s.get("title"), 24, "section title")
                for r in rows:
                    limit(r["title"], 24, f"row title {r['title']!r}")
                    limit(r.get("description"), 72, f"row description of {r['title']!r}")
                    if len(r["id"]) > 200:
                        out.append((131009, f"row id of {r['title']!r} over 200 characters"))
                    if r["title"] in sent.rows or r["id"] in {i for i, _ in sent.rows.values()}:
                        out.append((131009, f"row {r['title']!r} is not unique"))
                    sent.rows[r["title"]] = (r["id"], r.get("description"))
        elif sent.type in ("document", "image", "video"):
            media = body[sent.type]
            sent.text = media.get("caption")
            limit(sent.text, 1024, f"{sent.type} caption")
            if media.get("filename"):
                readable.append(media["filename"])
            if "id" in media and media["id"] not in self._media:
                out.append((131053, f"media id {media['id']} was never uploaded"))
        elif sent.type == "location":
            loc = body["location"]
            sent.text = "\n".join(filter(None, (loc.get("name"), loc.get("address"))))
            readable.append(sent.text)
        elif sent.type == "template":
            out += self._describe_template(sent, readable)
        leaks = [f"a raw message key {key!r} reaches a person in {text[:120]!r}"
                 for text in readable for key in raw_keys_in(text, self._message_keys)[:1]]
        return out, leaks

    def _describe_template(self, sent: Sent, readable: list[str]) -> list[tuple[int, str]]:
        spec = sent.body["template"]
        name, language = spec["name"], spec["language"]["code"]
        sent.template = (name, language)
        tpl = self._templates.get((name, language))
        if tpl is None or tpl.status != "APPROVED":
            known = sorted(lang for (n, lang), t in self._templates.items()
                           if n == name and t.status == "APPROVED")
            state = "missing" if tpl is None else tpl.status
            code = {"PAUSED": 132015, "DISABLED": 132016}.get(state, 132001)
            return [(code, f"template {name!r} in {language!r} is {state}; approved in "
                           f"{known or 'no language'}")]
        out: list[tuple[int, str]] = []
        comps = spec.get("components", [])
        params = [p for c in comps if c["type"] == "body" for p in c.get("parameters", [])]
        texts = [p.get("text", "") for p in params if p.get("type") == "text"]
        for value in texts:
            readable.append(value)
            if not value.strip():
                out.append((131008, "an empty template parameter"))
            elif _BAD_PARAM.search(value):
                out.append((132018, f"parameter {value[:60]!r} has a newline, tab or 4 spaces"))
        if len(params) != tpl.placeholders:
            out.append((132000, f"{len(params)} body parameters for {tpl.placeholders} "
                                f"placeholders of {name!r}"))
        sent.text = _PLACEHOLDER.sub(
            lambda m: texts[int(m.group(1)) - 1] if int(m.group(1)) <= len(texts) else m.group(0),
            tpl.body)
        payloads = {int(c["index"]): c["parameters"][0].get("payload")
                    for c in comps if c["type"] == "button" and c.get("sub_type") == "quick_reply"}
        for i, text in enumerate(tpl.quick_replies):
            if not payloads.get(i):
                out.append((131008, f"quick reply {text!r} of {name!r} has no payload"))
            else:
                sent.quick_replies[text] = payloads[i]
        if any(i >= len(tpl.quick_replies) for i in payloads):
            out.append((131009, f"a quick-reply payload for a button {name!r} does not have"))
        return out

    # -- media --------------------------------------------------------------------------------

    async def _upload(self, request: web.Request) -> dict[str, Any]:
        if request.content_type != "multipart/form-data":
            self.violations.append(f"100: media upload as {request.content_type}, not multipart")
            raise GraphError(100, "Upload the file as multipart/form-data")
        form = await request.post()
        part = form.get("file")
        if form.get("messaging_product") != "whatsapp" or not isinstance(part, web.FileField):
            self.violations.append("100: media upload without messaging_product=whatsapp "
                                   "or without a file part")
            raise GraphError(100, "messaging_product and file are required")
        data = part.file.read()
        if not form.get("type"):
            # Meta's upload reference requires the `type` field (the spec's schema lacks it).
            self.violations.append("100: media upload without its `type` (the MIME type)")
            raise GraphError(100, "Param type is required")
        mime = str(form["type"])
        if mime in ("text/csv", "") or len(data) > 100 * 1024 * 1024:
            self.violations.append(f"131053: media of type {mime!r} ({len(data)} bytes) is not "
                                   "accepted")
            raise GraphError(131053, f"Param file must be a file with one of the supported "
                             f"types, not {mime!r}")
        text = document_text(part.filename, data)
        for key in raw_keys_in(text or "", self._message_keys)[:1]:
            self.violations.append(f"raw key: a raw message key {key!r} in document "
                                   f"{part.filename!r}")
        return {"id": self._store_media(data, mime, part.filename).id}

    def _store_media(self, data: bytes, mime: str, filename: str | None) -> _Media:
        media = _Media(str(next(self._ids) + 10**15), data, mime, filename)
        self._media[media.id] = media
        return media

    async def _handle_download(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        if not self._authorised(request):
            self.violations.append(f"190: media download without the bearer token ({path})")
            return self._refuse("GET", path, GraphError(190))
        media = self._media.get(request.query.get("mid", ""))
        if media is None:
            return self._refuse("GET", path, GraphError(100, "no such media"))
        issued = int(request.query.get("ext", "0"))
        if self._now.timestamp() - issued > MEDIA_URL_LIFETIME.total_seconds():
            # Not a violation: the app may have waited; it must ask for a new URL.
            return self._refuse("GET", path, GraphError(
                131053, "The media URL expired; retrieve the media id again", status=404))
        try:
            await self._fault("attachments", None, request)
        except GraphError as err:
            return self._refuse("GET", path, err)
        self.downloads.append(media.id)
        self.requests.append(("GET", path, 200))
        return web.Response(body=media.data, content_type=media.mime_type)

    # -- templates and history over HTTP ------------------------------------------------------

    def _list_templates(self, query: Any) -> dict[str, Any]:
        rows = [t.listing() for t in self._templates.values()
                if not query.get("name") or t.name == query["name"]]
        limit = int(query.get("limit", 25))
        start = int(base64.b64decode(query["after"]).decode()) if query.get("after") else 0
        page = rows[start:start + limit]
        out: dict[str, Any] = {"data": page}
        if rows:
            cursors = {"before": base64.b64encode(str(start).encode()).decode(),
                       "after": base64.b64encode(str(start + len(page)).encode()).decode()}
            out["paging"] = {"cursors": cursors}
            if start + len(page) < len(rows):
                out["paging"]["next"] = (f"{self.base_url}/{self.business_account_id}/"
                                         f"message_templates?limit={limit}&after="
                                         f"{cursors['after']}")
        return out

    def _create_template(self, body: Any) -> dict[str, Any]:
        problems = self.spec.request_errors(_TEMPLATES_PATH, "post", body)
        if not problems:
            for key in ("name", "language", "category", "components"):
                if not body.get(key):
                    problems.append(f"{key} is required")
        if not problems and not re.fullmatch(r"[a-z0-9_]{1,512}", body["name"]):
            problems.append(f"name {body['name']!r}: lower case letters, digits and _ only")
        if not problems:
            problems += _template_problems(body)
            for comp in body["components"]:
                for text in (comp.get("text"), *(b.get("text") for b in comp.get("buttons", []))):
                    for key in raw_keys_in(text or "", self._message_keys)[:1]:
                        self.violations.append(f"raw key: template {body['name']!r} shows "
                                               f"{key!r} in {text[:120]!r}")
        if problems:
            self.violations.extend(f"100: message_templates: {p}" for p in problems)
            raise GraphError(100, problems[0])
        key = (body["name"], body["language"])
        if key in self._templates:
            raise GraphError(100, "Content in this language already exists", subcode=2388024)
        tpl = Template(body["name"], body["language"], body["category"].upper(),
                       body["components"], self._id(),
                       "APPROVED" if self.auto_approve else "PENDING")
        self._templates[key] = tpl
        return {"id": tpl.id, "status": tpl.status, "category": tpl.category}

    def _history(self, query: Any) -> dict[str, Any]:
        """Newest first, paged; events only when ``fields`` asks for them (the spec's default
        fields are id and message_id)."""
        limit = int(query.get("limit", 25))
        if not 1 <= limit <= 100:
            self.violations.append(f"100: message_history limit={limit}, 1 to 100 allowed")
            raise GraphError(100, "limit must be between 1 and 100")
        wamid = query.get("message_id")
        rows = [m for m in reversed(self._sent) if wamid is None or m.wamid == wamid]
        start = int(base64.b64decode(query["after"]).decode()) if query.get("after") else 0
        events = "events" in query.get("fields", "")
        data = []
        for m in rows[start:start + limit]:
            entry: dict[str, Any] = {"id": m.wamid.removeprefix("wamid.")[:16],
                                     "message_id": m.wamid}
            if events:
                entry["events"] = {"data": [
                    {"delivery_status": s.upper(), "timestamp": int(m.at.timestamp())}
                    for s in (m.statuses or ["sent"])]}
            data.append(entry)
        after = base64.b64encode(str(start + len(data)).encode()).decode()
        out: dict[str, Any] = {"data": data, "paging": {"cursors": {
            "before": base64.b64encode(str(start).encode()).decode(), "after": after}}}
        if start + len(data) < len(rows):
            out["paging"]["next"] = (f"{self.base_url}/{self.phone_number_id}/message_history"
                                     f"?limit={limit}&after={after}")
        return out

    # -- small helpers ------------------------------------------------------------------------

    def _id(self) -> str:
        return str(next(self._ids) + 10**14)

    def _wamid(self, wa_id: str, inbound: bool = False) -> str:
        raw = f"{wa_id}:{'in' if inbound else 'out'}:{next(self._ids)}".encode()
        return "wamid." + base64.b64encode(raw).decode()

    def _ts(self) -> str:
        return str(int(self._now.timestamp()))

    def _digits(self) -> str:
        return re.sub(r"\D", "", self.display_phone_number)


def _no_such_object(method: str, node: str) -> GraphError:
    return GraphError(100, subcode=33, message=(
        f"Unsupported {method.lower()} request. Object with ID '{node}' does not exist, cannot "
        "be loaded due to missing permissions, or does not support this operation"))


def _template_problems(body: dict[str, Any]) -> list[str]:
    """What Meta's review refuses outright (before any human looks)."""
    out = []
    comps = {c.get("type", "").upper(): c for c in body["components"]}
    text = comps.get("BODY", {}).get("text", "")
    if not text:
        return ["a template needs a BODY with text"]
    numbers = [int(n) for n in _PLACEHOLDER.findall(text)]
    if sorted(set(numbers)) != list(range(1, len(set(numbers)) + 1)):
        out.append(f"placeholders {numbers} are not numbered 1..n")
    examples = comps["BODY"].get("example", {}).get("body_text", [[]])
    if numbers and len(examples[0]) != len(set(numbers)):
        out.append(f"{len(examples[0])} example values for {len(set(numbers))} placeholders")
    if len(text) > 1024:
        out.append(f"body has {len(text)} characters, at most 1024")
    footer = comps.get("FOOTER", {}).get("text", "")
    if len(footer) > 60:
        out.append(f"footer has {len(footer)} characters, at most 60")
    for b in comps.get("BUTTONS", {}).get("buttons", []):
        if len(b.get("text", "")) > 25:
            out.append(f"button {b.get('text')!r} over 25 characters")
    return out
