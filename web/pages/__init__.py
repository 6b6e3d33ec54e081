"""Every section's pages, one module each (its routes under /p/{pid}/<section>/)."""

from __future__ import annotations

from starlette.routing import BaseRoute

from web.pages import (
    deliveries,
    documents,
    home,
    meetings,
    messages,
    people,
    plans,
    stages,
)

ROUTES: list[BaseRoute] = [
    route
    for module in (home, people, meetings, messages, deliveries, stages, plans, documents)
    for route in module.routes
]
