"""Inicio: the programme at a glance. Its stage calendar first (bars across the programme's
months with today marked, and the same as a list a screen reader reads), then what is due
in the next two weeks, what is overdue, the messages that did not arrive, the next meetings
and the next delivery days; each block leads to its section.

A handful of queries whatever the programme's size: counts are grouped in the database,
never read row by row."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from babel.dates import format_date
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from locales import BABEL_LOCALE, Msg, Raw, Text
from services import agenda as agenda_use
from services.delivery import where_of, window_of
from services.meetings import what_named
from services.outbox import kind_name, problem
from storage import admin_meetings, delivery, meetings, outbox, pickups
from storage import stages as stage_rows
from storage.models import Program
from storage.stages import StageStatus
from web import render
from web.context import Page, page
from web.sections import HOME

SHOWN_MEETINGS = 5
SHOWN_DAYS = 5
SHOWN_TROUBLES = 8
TROUBLE_SINCE = timedelta(days=30)  # as the chat's "deliveries with problems" looks back


@dataclass(frozen=True)
class StageView:
    number: int
    name: Msg
    starts: date
    due: date
    done: int
    total: int
    overdue: int
    # Where its bar lies across the programme, in percent of the whole span.
    left: float = 0.0
    width: float = 0.0

    @property
    def state(self) -> str:
        if self.total and self.done == self.total:
            return "done"
        return "late" if self.overdue else "open"


@dataclass(frozen=True)
class Tick:
    left: float
    label: str


@dataclass(frozen=True)
class Timeline:
    stages: list[StageView]
    months: list[Tick]
    today: float | None  # None when today lies outside the programme


def _months(first: date, last: date) -> list[date]:
    out, d = [], first.replace(day=1)
    while d <= last:
        out.append(d)
        d = (d + timedelta(days=32)).replace(day=1)
    return out


def timeline(p: Page, stages: list[StageStatus], today: date) -> Timeline:
    if not stages:
        return Timeline([], [], None)
    start = min(s.starts for s in stages)
    end = max(s.due for s in stages) + timedelta(days=1)
    span = max((end - start).days, 1)

    def at(d: date) -> float:
        return round(100 * min(max((d - start).days, 0), span) / span, 2)

    loc = p.loc
    tick = p.panel.catalogs.raw(loc, "web.home.fmt_month_tick") or "MMM"
    first_tick = p.panel.catalogs.raw(loc, "web.home.fmt_month_tick_year") or "MMM y"
    months = [Tick(at(m), format_date(m, first_tick if i == 0 or m.month == 1 else tick,
                                      locale=BABEL_LOCALE[loc]))
              for i, m in enumerate(_months(start, end - timedelta(days=1)))]
    views = [
        StageView(s.number,
                  render.said(Text(s.name)) if s.name else
                  Msg("web.home.no_stage"),
                  s.starts, s.due, s.done, len(s.milestones), s.overdue,
                  left=at(s.starts),
                  width=round(max(at(s.due + timedelta(days=1)) - at(s.starts), 1), 2))
        for s in stages
    ]
    return Timeline(views, months, at(today) if start <= today < end else None)


@dataclass(frozen=True)
class MeetingView:
    starts_at: object
    what: Raw | Text
    place: str | None
    yes: int
    maybe: int
    no: int
    pending: int


async def next_meetings(p: Page, program: Program) -> list[MeetingView]:
    ahead, _ = await admin_meetings.list_meetings(p.db, program.id, p.now,
                                                  upcoming_max=SHOWN_MEETINGS, recent_max=0)
    counts = await admin_meetings.answer_counts(p.db, [m.id for m in ahead])
    out = []
    for m in ahead:
        c = counts[m.id]
        out.append(MeetingView(
            m.starts_at, what_named(m, Text(meetings.kind_names(program, m.kind))), m.place,
            c.get("yes", 0), c.get("maybe", 0), c.get("no", 0), c.get(None, 0)))
    return out


@dataclass(frozen=True)
class DayView:
    window: Msg
    where: Msg | Raw
    total: int
    counts: dict[str, int]


async def next_days(p: Page, program: Program) -> list[DayView]:
    days = await delivery.days_from(p.db, program.id, p.now, limit=SHOWN_DAYS)
    counts = await pickups.counts_by_day(p.db, days, p.now)
    return [DayView(window_of(d), where_of(d), sum(counts[d.id].values()),
                    delivery.grouped_counts(counts[d.id]))
            for d in days]


@page(HOME)
async def home(p: Page) -> Response:
    today = p.today
    stages = await stage_rows.stage_status(p.db, p.program.id, today)
    current = stage_rows.current_stage(stages, today) if stages else -1
    deadlines = await agenda_use.agenda(p.db, p.program.id, stages, today)
    troubles = await outbox.troubles(p.db, p.program.id, p.now - TROUBLE_SINCE,
                                     limit=SHOWN_TROUBLES)
    return p.render(
        "home/index.html",
        calendar=timeline(p, stages, today), current=current, today=today,
        agenda=deadlines,
        troubles=[(t, kind_name(t.message.kind),
                   problem(t.message.status, t.reachable, t.message.last_error))
                  for t in troubles],
        meetings=await next_meetings(p, p.program),
        days=await next_days(p, p.program),
    )


routes: list[BaseRoute] = [
    Route("/p/{pid:id}/", home, methods=["GET"]),
]
