"""What Meta's webhook sends, read: the subscription check, the signature, and a POST's body
as the messages people sent (neutral events) and the statuses of ours.

Meta delivers at least once, for hours, and adds fields and message types as it goes: a
body is read leniently (what is not understood is skipped or becomes UNSUPPORTED, logged),
never refused whole for one odd part."""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bot.whatsapp import CHANNEL
from handlers.events import DocumentRef, EventKind, Incoming

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Hub-Signature-256"
# A timestamp above this is in milliseconds (in seconds it would be past the year 5000).
MILLISECONDS_FROM = 100_000_000_000


def verify_subscription(query: Mapping[str, str], verify_token: str) -> tuple[int, str]:
    """Meta's GET when the webhook is set up: echo the challenge when the token is ours."""
    given = query.get("hub.verify_token", "")
    if (query.get("hub.mode") == "subscribe" and verify_token
            and hmac.compare_digest(given.encode(), verify_token.encode())):
        return 200, query.get("hub.challenge", "")
    return 403, ""


def signature_ok(raw: bytes, header: str | None, app_secret: str) -> bool:
    """``X-Hub-Signature-256: sha256=<hex>`` is the HMAC-SHA256 of the exact bytes received
    under the app secret."""
    if not header or not app_secret:
        return False
    scheme, _, given = header.strip().partition("=")
    if scheme.lower() != "sha256":
        return False
    expected = hmac.new(app_secret.encode(), raw, hashlib.sha256).hexdigest()
    return hmac.compare_digest(given.strip().lower().encode(), expected.encode())


@dataclass(frozen=True)
class Inbound:
    """One message a person sent."""

    key: str  # the wamid: what makes a message delivered twice handled once
    address: str  # wa_id, or the business-scoped user id of a person with no phone shown
    event: Incoming
    payload: dict[str, Any]  # the message as received, with its contact and metadata
    at: datetime


@dataclass(frozen=True)
class Status:
    """What became of a message of ours."""

    wamid: str
    status: str  # sent | delivered | read | failed
    at: datetime
    recipient: str | None
    errors: list[dict[str, Any]]
    callback: str | None  # the biz_opaque_callback_data it was sent with


def parse(body: dict[str, Any], phone_number_id: str | None = None
          ) -> tuple[list[Inbound], list[Status]]:
    """The messages and statuses of a webhook POST, in the order sent. Those of another
    business number (``phone_number_id`` given) are left out."""
    inbound: list[Inbound] = []
    statuses: list[Status] = []
    for value in _values(body):
        metadata = _dict(value.get("metadata"))
        number = metadata.get("phone_number_id")
        if phone_number_id is not None and number is not None and str(number) != phone_number_id:
            log.warning("webhook: an event for phone number %s ignored (this is %s)", number,
                        phone_number_id)
            continue
        for error in _list(value.get("errors")):
            log.warning("webhook: Meta reports an error: %s", error)
        contacts = [_dict(c) for c in _list(value.get("contacts"))]
        for message in _list(value.get("messages")):
            try:
                found = _inbound(_dict(message), contacts, metadata)
            except Exception:  # one odd message must not cost the others their handling
                log.exception("webhook: a message could not be read: %.300r", message)
                continue
            if found is not None:
                inbound.append(found)
        for status in _list(value.get("statuses")):
            try:
                found_status = _status(_dict(status))
            except Exception:
                log.exception("webhook: a status could not be read: %.300r", status)
                continue
            if found_status is not None:
                statuses.append(found_status)
    return inbound, statuses


def _values(body: Any) -> Iterator[dict[str, Any]]:
    if not isinstance(body, dict):
        return
    for entry in _list(body.get("entry")):
        for change in _list(_dict(entry).get("changes")):
            change = _dict(change)
            if change.get("field", "messages") != "messages":
                log.info("webhook: %s change ignored", change.get("field"))
                continue
            yield _dict(change.get("value"))


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _str(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None


def timestamp(value: Any) -> datetime:
    """A webhook's timestamp (seconds, or milliseconds, as a string or a number), in UTC;
    now when it has none that reads."""
    try:
        number = float(value)
        if number >= MILLISECONDS_FROM:
            number /= 1000
        return datetime.fromtimestamp(number, UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return datetime.now(UTC)


def _sender(message: dict[str, Any], contacts: list[dict[str, Any]]
            ) -> tuple[str | None, str | None, dict[str, Any]]:
    """The sender's address, their phone (E.164) when WhatsApp gives one, and their contact
    entry. The phone is the wa_id (or ``from``) when it is digits; a person who took a
    username may come with a business-scoped user id only ("CL.1234…")."""
    sender = _str(message.get("from"))
    user_id = _str(message.get("from_user_id"))
    contact = next((c for c in contacts if sender and _str(c.get("wa_id")) == sender), None)
    if contact is None:
        contact = next((c for c in contacts if user_id and _str(c.get("user_id")) == user_id),
                       contacts[0] if len(contacts) == 1 else {})
    wa_id = _str(contact.get("wa_id")) or sender
    phone = wa_id if wa_id and wa_id.isdigit() else None
    address = phone or user_id or _str(contact.get("user_id")) or sender
    return address, f"+{phone}" if phone else None, contact


def _command(text: str) -> tuple[str, str | None]:
    head, _, rest = text[1:].partition(" ")
    return head.lower(), rest.strip() or None


def _inbound(message: dict[str, Any], contacts: list[dict[str, Any]],
             metadata: dict[str, Any]) -> Inbound | None:
    key = _str(message.get("id"))
    kind = _str(message.get("type")) or "unknown"
    if key is None:
        log.warning("webhook: a %s message without an id ignored", kind)
        return None
    if message.get("group_id"):
        log.info("webhook: group message %s ignored", key)  # Convoca speaks to people
        return None
    if kind == "system":  # WhatsApp's notice (a changed number), not something they said
        log.info("webhook: system message %s: %.200r", key, message.get("system"))
        return None
    address, phone, contact = _sender(message, contacts)
    if address is None:
        log.warning("webhook: message %s has no sender: ignored", key)
        return None
    at = timestamp(message.get("timestamp"))
    common: dict[str, Any] = dict(
        channel=CHANNEL, address=address, update_id=key, message_id=key,
        sender_name=_str(_dict(contact.get("profile")).get("name")), sender_id=address,
        sender_phone=phone, sent_at=at.isoformat(),
    )
    event = _event(kind, message, common)
    payload = {**message, "contact": contact, "metadata": metadata}
    return Inbound(key, address, event, payload, at)


def _event(kind: str, message: dict[str, Any], common: dict[str, Any]) -> Incoming:
    body = _dict(message.get(kind))
    context = _str(_dict(message.get("context")).get("id"))
    if kind == "text":
        text = str(body.get("body") or "")
        if text.startswith("/") and len(text) > 1:
            name, args = _command(text)
            return Incoming(kind=EventKind.COMMAND, command=name, args=args, text=text,
                            **common)
        return Incoming(kind=EventKind.TEXT, text=text, **common)
    if kind == "interactive":
        reply = _dict(body.get(body.get("type"))) if body.get("type") in (
            "button_reply", "list_reply") else {}
        if _str(reply.get("id")):
            return Incoming(kind=EventKind.BUTTON, button=str(reply["id"]),
                            message_ref=context, **common)
        kind = f"interactive.{body.get('type')}"  # a flow's answer, say: not ours
    elif kind == "button" and _str(body.get("payload")):  # a template's quick reply
        return Incoming(kind=EventKind.BUTTON, button=str(body["payload"]),
                        message_ref=context, **common)
    elif kind == "document" and _str(body.get("id")):
        ref = DocumentRef(str(body["id"]), _str(body.get("filename")),
                          _str(body.get("mime_type")), _size(body.get("file_size")))
        return Incoming(kind=EventKind.DOCUMENT, document=ref, text=_str(body.get("caption")),
                        **common)
    elif kind == "image" and _str(body.get("id")):
        ref = DocumentRef(str(body["id"]), None, _str(body.get("mime_type")) or "image/jpeg",
                          _size(body.get("file_size")))
        return Incoming(kind=EventKind.PHOTO, document=ref, text=_str(body.get("caption")),
                        **common)
    elif kind == "contacts":
        cards = _list(message.get("contacts"))
        phones = [_dict(p) for c in cards for p in _list(_dict(c).get("phones"))]
        phone = next((_str(p.get("phone")) or f"+{p['wa_id']}" for p in phones
                      if _str(p.get("phone")) or _str(p.get("wa_id"))), None)
        if phone is not None:
            return Incoming(kind=EventKind.CONTACT, contact_phone=phone, contact_is_own=False,
                            **common)
    return Incoming(kind=EventKind.UNSUPPORTED, unsupported=kind, **common)


def _size(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


STATES = ("sent", "delivered", "read", "failed")


def _status(status: dict[str, Any]) -> Status | None:
    wamid, state = _str(status.get("id")), _str(status.get("status"))
    if wamid is None or state is None:
        log.warning("webhook: a status without id or state ignored: %.300r", status)
        return None
    if state not in STATES:
        # Meta adds states now and then ("deleted", "warning"): none moves a message on.
        log.info("webhook: status %r of %s ignored", state, wamid)
        return None
    recipient = _str(status.get("recipient_id")) or _str(status.get("recipient_user_id"))
    return Status(wamid, state, timestamp(status.get("timestamp")), recipient,
                  [_dict(e) for e in _list(status.get("errors"))],
                  _str(status.get("biz_opaque_callback_data")))
