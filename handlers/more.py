""""More options": a channel that shows few options at once lays a long choice out in pages
(channels.layout) whose last row asks for the next. Its press comes back as ``more:<page>``
on the message it was shown on; that message is sent again at the page asked for."""

from __future__ import annotations

import dataclasses

from channels.layout import MORE
from handlers.core import Router, Turn
from handlers.events import Outgoing
from storage import outbox

router = Router()


@router.on_action(MORE)
async def more(turn: Turn) -> None:
    _, _, page = (turn.action or "").partition(":")
    ref = turn.event.message_ref
    row = None
    if page.isdigit() and ref:
        row = await outbox.shown_as(turn.session, turn.event.channel, turn.event.address,
                                    turn.person.id, ref)
    if row is None:
        turn.say("input.button_stale")
        return
    said = Outgoing.from_json(row.payload)
    # The same message at another page, in place where the channel can edit it.
    turn.send(dataclasses.replace(said, page=int(page), updates=ref, progress=False))
