"""Inicio: the programme at a glance, its stage calendar first."""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo

from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from locales import Msg, Text
from storage import stages as stage_rows
from web.context import Page, page
from web.sections import HOME


@dataclass(frozen=True)
class StageView:
    name: Msg
    starts: object
    due: object
    done: int
    total: int
    overdue: int


@page(HOME)
async def home(p: Page) -> Response:
    today = p.now.astimezone(ZoneInfo(p.zone)).date()
    stages = await stage_rows.stage_status(p.db, p.program.id, today)
    views = [
        StageView(
            Msg("web.value", {"value": Text(s.name)}) if s.name else Msg("web.home.no_stage"),
            s.starts, s.due, s.done, len(s.milestones), s.overdue)
        for s in stages
    ]
    current = stage_rows.current_stage(stages, today) if stages else -1
    return p.render("home.html", stages=views, current=current)


routes: list[BaseRoute] = [
    Route("/p/{pid:int}/", home, methods=["GET"]),
]
