"""What Meta's error codes mean for a message: wait, send it as a template, hold it, stop."""

from __future__ import annotations

from enum import StrEnum


class Kind(StrEnum):
    THROTTLED = "throttled"  # too fast for the number, the account or the person: back off
    PAIR_LIMIT = "pair_limit"  # too many to this one person in a short time
    OUTSIDE_WINDOW = "outside_window"  # 24 h since they wrote: only a template goes
    UNDELIVERABLE = "undeliverable"  # not on WhatsApp, an old app, terms not accepted
    HOLD = "hold"  # WhatsApp held the message back for this person: not before 24 h
    TEMPLATE_DEFECT = "template_defect"  # our template or its parameters: for the gestora
    TOKEN = "token"  # the access token expired or was revoked: nothing goes until replaced
    MEDIA = "media"  # uploading or fetching a file failed: worth another try
    TRANSIENT = "transient"  # Meta's side failed: try again
    REJECTED = "rejected"  # refused as it is: sending it again changes nothing


_CODES: dict[int, Kind] = {
    **dict.fromkeys((4, 80007, 130429, 133016, 131048), Kind.THROTTLED),
    131056: Kind.PAIR_LIMIT,
    131047: Kind.OUTSIDE_WINDOW,
    131026: Kind.UNDELIVERABLE,
    131049: Kind.HOLD,
    **dict.fromkeys((132000, 132001, 132005, 132007, 132012, 132015, 132016, 132018),
                    Kind.TEMPLATE_DEFECT),
    190: Kind.TOKEN,
    131053: Kind.MEDIA,
    **dict.fromkeys((1, 2, 131000, 131016), Kind.TRANSIENT),
}


def classify(code: int | None, status: int | None = None) -> Kind:
    """The kind of a refusal by its Graph error code, else by its HTTP status (a failed
    status webhook has a code and no status)."""
    if code is not None and code in _CODES:
        return _CODES[code]
    if status == 401:
        return Kind.TOKEN
    if status == 429:
        return Kind.THROTTLED
    if status is not None and status >= 500:
        return Kind.TRANSIENT
    return Kind.REJECTED


REASON_CHARS = 500  # what outbox.last_error holds


def reason(code: int | None, message: str) -> str:
    """The refusal as the outbox keeps it: ``whatsapp <code>: <message>``, read back by code
    when the gestora is told why in her language."""
    head = "whatsapp" if code is None else f"whatsapp {code}"
    return f"{head}: {' '.join(message.split())}"[:REASON_CHARS]
