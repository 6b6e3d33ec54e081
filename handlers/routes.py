"""The one router: every area's commands, buttons and flows, and the fallback, put together
here and nowhere else. Area modules never import this one; a command, button prefix, flow or
panel section claimed twice raises RouteConflict while assembling, naming both handlers."""

from __future__ import annotations

from handlers import (
    admin,
    followup,
    forms,
    general,
    meetings,
    more,
    pickups,
    privacy,
    registration,
    web_panel,
)
from handlers.admin import (
    bodies,
    catastro,
    handover,
    minutes,
    outreach,
    plans,
    roles,
    stages,
    texts,
)
from handlers.admin import deliveries as admin_deliveries
from handlers.admin import delivery as admin_delivery
from handlers.admin import exports as admin_exports
from handlers.admin import meetings as admin_meetings
from handlers.core import Router, Turn

# Importing an admin module registers its panel section; each is listed here too so that
# what the panel offers and what the router reaches are the same list.
AREAS = (
    general.router,
    registration.router,
    forms.router,
    meetings.router,
    pickups.router,
    privacy.router,
    more.router,
    admin.router,
    roles.router,
    admin_meetings.router,
    outreach.router,
    catastro.router,
    admin_delivery.router,
    stages.router,
    admin_exports.router,
    admin_deliveries.router,
    texts.router,
    handover.router,
    plans.router,
    bodies.router,
    minutes.router,
    followup.router,
    web_panel.router,
)


async def anything_else(turn: Turn) -> None:
    """Input no command, button or flow took: a spreadsheet the team sends outside a wizard
    is read as an import; the rest gets the general answer."""
    if not await catastro.stray_document(turn):
        await general.fallback(turn)


def build_router() -> Router:
    router = Router()
    for area in AREAS:
        router.include(area)
    router.fallback = anything_else
    return router
