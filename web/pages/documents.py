"""(A section of the panel; its pages come with issue 15's work on it.)"""

from __future__ import annotations

from starlette.routing import BaseRoute

routes: list[BaseRoute] = []
