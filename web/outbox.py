"""Waking the outbox for what a page just queued, so the people hear it now rather than at
the outbox's next poll."""

from __future__ import annotations

from collections.abc import Iterable

from starlette.background import BackgroundTask
from starlette.responses import Response

from web.context import Page


def deliver_after(p: Page, response: Response, outbox_ids: Iterable[int]) -> Response:
    """The response, waking the outbox for these rows once it is sent: after the page's unit
    of work committed them (the @page decorator commits before the response goes out). Not
    Dispatcher.deliver_now, which sends a person's few replies in one claim: a broadcast's
    hundreds go in the outbox's paced waves, each recorded as it goes."""
    ids = list(outbox_ids)
    if ids and p.panel.wake_outbox is not None:
        response.background = BackgroundTask(p.panel.wake_outbox, ids)
    return response
