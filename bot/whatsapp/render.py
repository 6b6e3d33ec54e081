"""A reply as the Cloud API messages that show it, within WhatsApp's limits.

channels.layout.lay_out does the fitting (text cut at 4,096, a choice's text at 1,024,
options as up to 3 reply buttons, else a list of 10 rows, else pages of it, a pager and a
day to pick as options, an edit as a new message); this turns each laid-out message into
the Cloud API's object. Catalog texts are plain (no HTML, no Markdown), which WhatsApp
shows as written."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from channels import Capabilities
from channels.layout import Choice, Shown, lay_out
from locales import Msg
from services.messages import Attachment, Outgoing

BUTTON_ID_BYTES = 256
ROW_ID_BYTES = 200
# What WhatsApp takes as a document. Convoca's other text files (a CSV report, a calendar
# .ics, a JSON export) go as plain text under their own name, which the phone opens by its
# extension; a PNG goes as an image.
DOCUMENT_TYPES = frozenset({
    "text/plain", "application/pdf", "application/msword", "application/vnd.ms-excel",
    "application/vnd.ms-powerpoint",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
})
IMAGE_TYPES = frozenset({"image/jpeg", "image/png"})
AS_TEXT = ("text/", "application/json")


@dataclass(frozen=True)
class Piece:
    """One Cloud API message, without messaging_product and to: ``{"type": ..., <type>:
    {...}}``. With an attachment, the file to upload first: its media id goes in the
    message (``with_media``)."""

    message: dict[str, Any]
    attachment: Attachment | None = None


def with_media(piece: Piece, media_id: str) -> dict[str, Any]:
    """The piece's message carrying its uploaded file's media id."""
    kind = piece.message["type"]
    return {**piece.message, kind: {**piece.message[kind], "id": media_id}}


def pieces(out: Outgoing, caps: Capabilities, render: Callable[[Msg], str],
           pack: Callable[[str], str] | None) -> list[Piece]:
    """The messages that show ``out``, in order. ``pack`` signs an option's action for the
    person (its id as it comes back); without it (no one to sign for) options are left out,
    and their message goes as text."""
    found: list[Piece] = []
    for shown in lay_out(out, caps, render):
        if shown.attachment is not None:
            found.append(_document(shown.attachment, shown.text))
        elif shown.location is not None:
            latitude, longitude = shown.location
            found.append(Piece({"type": "location", "location": {
                "latitude": float(latitude), "longitude": float(longitude)}}))
        elif shown.choices() and pack is not None:
            found.append(Piece(_interactive(shown, pack)))
        elif shown.text:
            found.append(Piece({"type": "text", "text": {"body": shown.text}}))
    return found


def _document(attachment: Attachment, caption: str) -> Piece:
    mime = attachment.mime_type.split(";")[0].strip().lower()
    if mime in IMAGE_TYPES:
        media: dict[str, Any] = {}
        kind = "image"
    else:
        if mime not in DOCUMENT_TYPES and mime.startswith(AS_TEXT):
            attachment = replace(attachment, mime_type="text/plain")
        media = {"filename": attachment.filename}
        kind = "document"
    if caption:
        media["caption"] = caption
    return Piece({"type": kind, kind: media}, attachment)


def _id(choice: Choice, pack: Callable[[str], str], limit: int) -> str:
    packed = pack(choice.action)
    if len(packed.encode()) > limit:
        # The codec keeps actions within the channel's action_bytes; one past Meta's limit
        # would be refused whole, so it is refused here, naming the action.
        raise ValueError(f"option {choice.action!r} is {len(packed.encode())} bytes signed; "
                         f"WhatsApp takes {limit}")
    return packed


def _title(choice: Choice, place: int) -> str:
    # A label of nothing but spaces (a blank name) shows as its place: WhatsApp refuses an
    # empty title.
    return choice.title.strip() or f"{place + 1}."


def _interactive(shown: Shown, pack: Callable[[str], str]) -> dict[str, Any]:
    body = {"text": shown.text}
    if shown.rows:
        rows = []
        for place, c in enumerate(shown.rows):
            row = {"id": _id(c, pack, ROW_ID_BYTES), "title": _title(c, place)}
            if c.description:
                row["description"] = c.description
            rows.append(row)
        return {"type": "interactive", "interactive": {
            "type": "list", "body": body,
            "action": {"button": shown.list_label, "sections": [{"rows": rows}]}}}
    buttons = [{"type": "reply", "reply": {"id": _id(c, pack, BUTTON_ID_BYTES),
                                           "title": _title(c, place)}}
               for place, c in enumerate(shown.choices())]
    return {"type": "interactive", "interactive": {
        "type": "button", "body": body, "action": {"buttons": buttons}}}
