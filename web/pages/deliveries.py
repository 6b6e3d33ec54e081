"""Entregas: delivery days on a month calendar, made one by one or by a weekly pattern, moved
or cancelled with the families told, and the day list the premises' staff mark at the door.

The premises' staff (recinto) may read and mark the day lists only: the section lets them
in, and each admin view here turns them away. The chat's panel (handlers.admin.delivery) and
`convoca delivery ...` call the same storage and services."""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from documents import exports
from locales import Msg, Raw
from services import dates
from services.delivery import cancel_day, refusal, status_label, where_of
from services.pickups import move_day
from storage import delivery, pickups
from storage.delivery import DayPlan, DeliveryError
from storage.models import DeliveryDay, Pickup, PickupMode, PickupStatus
from storage.pickups import PickupError
from web import render
from web.context import Page, Refusal, page
from web.downloads import attachment
from web.outbox import deliver_after
from web.sections import DELIVERIES, READERS, TEAM

SECTION = DELIVERIES.key
MARKS = {"retiro": PickupStatus.PICKED_UP, "no_vino": PickupStatus.NO_SHOW}
REPEATS = (0, 1, 2)  # once, every week, every other week: the chat's pattern options
DONE = ("created", "moved", "cancelled", "assigned")
FORMATS = ("pdf", "xlsx", "csv")
# Seconds between refreshes of the day list: two tablets at the door see each other's marks.
LIVE_EVERY = 10
DOOR_FORMATS = ("pdf",)  # what the premises' staff may download
# Message keys the templates pick by value (named in full, so the catalogs' check finds them).
KEYS = {
    "mode": {PickupMode.RETIRO: "web.deliveries.mode_retiro",
             PickupMode.DOMICILIO: "web.deliveries.mode_domicilio"},
    "repeat": {0: "web.deliveries.repeat_0", 1: "web.deliveries.repeat_1",
               2: "web.deliveries.repeat_2"},
    "download": {"pdf": "web.deliveries.download_pdf", "xlsx": "web.deliveries.download_xlsx",
                 "csv": "web.deliveries.download_csv"},
    "weekdays": [(f"widget.wd{i}", f"widget.weekday_{i}") for i in range(7)],
}


# --- who may see what -------------------------------------------------------------------


def _team(p: Page) -> None:
    """Making, moving and cancelling days is the gestora's and the coordinadora's."""
    if not p.roles & TEAM:
        raise Refusal(403, "web.refused.role")


def _reader(p: Page) -> None:
    """The calendar and a day's card: the team and the supervisor, not the premises."""
    if not p.roles & READERS:
        raise Refusal(403, "web.refused.role")


def _show(p: Page, template: str, status: int = 200, **context: Any) -> Response:
    return p.render(template, status=status, keys=KEYS, **context)


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


async def _day(p: Page) -> DeliveryDay:
    day_id = _int(p.request.path_params.get("day_id"))
    day = await delivery.get_day(p.db, p.program.id, day_id) if day_id else None
    if day is None:
        raise Refusal(404, "web.deliveries.no_day")
    return day


def _done(p: Page) -> Msg | None:
    """The notice after a change, carried by the redirect's query string."""
    done = p.request.query_params.get("hecho", "")
    if done not in DONE:
        return None
    return Msg(f"web.deliveries.done_{done}", {"count": _int(p.request.query_params.get("n"))
                                                or 0})


# --- what the pages show ------------------------------------------------------------------


@dataclass(frozen=True)
class Tally:
    """A day's families as the door counts them."""

    pending: int = 0
    picked_up: int = 0
    missed: int = 0
    moved: int = 0

    @property
    def total(self) -> int:
        return self.pending + self.picked_up + self.missed + self.moved

    @classmethod
    def of(cls, counts: dict[str, int]) -> Tally:
        picked = counts.get(PickupStatus.PICKED_UP, 0)
        missed = counts.get(PickupStatus.NO_SHOW, 0)
        moved = counts.get(PickupStatus.MOVED, 0)
        return cls(sum(counts.values()) - picked - missed - moved, picked, missed, moved)


@dataclass(frozen=True)
class DayView:
    day: DeliveryDay
    on: date
    where: Msg
    tally: Tally

    @property
    def cancelled(self) -> bool:
        return self.day.cancelled_at is not None

    @property
    def home(self) -> bool:
        return self.day.mode == PickupMode.DOMICILIO


def _where(day: DeliveryDay) -> Msg:
    return render.said(where_of(day))


def _view(p: Page, day: DeliveryDay, counts: dict[str, int]) -> DayView:
    on = day.window_start.astimezone(ZoneInfo(p.zone)).date()
    return DayView(day, on, _where(day), Tally.of(counts))


@dataclass
class Cell:
    on: date
    in_month: bool
    today: bool
    days: list[DayView] = field(default_factory=list)


def _month(text: str | None, today: date) -> date:
    """``?mes=2026-03``; anything else (a year no one means: 9999, 0001) is this month."""
    try:
        year, month = (int(x) for x in (text or "").split("-"))
        if dates.MIN_YEAR <= year <= dates.MAX_YEAR:
            return date(year, month, 1)
    except ValueError:
        pass
    return today.replace(day=1)


def _shift(month: date, by: int) -> date:
    n = month.year * 12 + month.month - 1 + by
    return date(n // 12, n % 12 + 1, 1)


@page(DELIVERIES)
async def month_calendar(p: Page) -> Response:
    if not p.roles & READERS:
        # The premises' staff open the section at the day lists.
        return p.redirect(p.link(SECTION, "listas"))
    zone = ZoneInfo(p.zone)
    today = p.today
    month = _month(p.request.query_params.get("mes"), today)
    weeks = calendar.Calendar(firstweekday=0).monthdatescalendar(month.year, month.month)
    start = datetime.combine(weeks[0][0], time(0), zone).astimezone(UTC)
    end = datetime.combine(weeks[-1][-1] + timedelta(days=1), time(0), zone).astimezone(UTC)
    days = await delivery.days_between(p.db, p.program.id, start, end)
    counts = await pickups.counts_by_day(p.db, days, p.now)
    grid = [[Cell(d, d.month == month.month, d == today) for d in week] for week in weeks]
    cells = {c.on: c for week in grid for c in week}
    for day in days:
        view = _view(p, day, counts.get(day.id, {}))
        if view.on in cells:
            cells[view.on].days.append(view)
    return _show(p, "deliveries/calendar.html", month=month, weeks=grid,
                 previous=f"{_shift(month, -1):%Y-%m}", next=f"{_shift(month, 1):%Y-%m}",
                 this_month=f"{today:%Y-%m}", shown=len(days), done=_done(p),
                 is_team=bool(p.roles & TEAM))


# --- new days: one, or a pattern ----------------------------------------------------------


@dataclass
class DaysForm:
    """What the gestora typed, kept as typed so a refused form comes back as she left it."""

    mode: str = PickupMode.RETIRO
    first: str = ""
    start: str = "10:00"
    end: str = "12:00"
    place: str = ""
    address: str = ""
    repeat: str = "0"
    count: str = ""
    until: str = ""
    families: str = "later"
    errors: dict[str, Msg] = field(default_factory=dict)
    problem: Msg | None = None  # not one field's: the plan as a whole

    @classmethod
    def read(cls, form: Any) -> DaysForm:
        def get(name: str, default: str = "") -> str:
            value = form.get(name) if form is not None else None
            return " ".join(value.split())[:200] if isinstance(value, str) else default

        return cls(mode=get("modo", PickupMode.RETIRO), first=get("fecha"),
                   start=get("inicio"), end=get("fin"), place=get("lugar"),
                   address=get("direccion"), repeat=get("repetir", "0"), count=get("veces"),
                   until=get("hasta"), families=get("familias", "later"))


def _parse_date(form: DaysForm, name: str, text: str, today: date) -> date | None:
    if not text:
        form.errors[name] = Msg("web.deliveries.need_date")
        return None
    try:
        typed = dates.parse_when(text, today).day
    except dates.DateProblem as problem:
        form.errors[name] = dates.date_problem(problem)
        return None
    if typed < today:
        form.errors[name] = Msg("web.deliveries.date_past")
        return None
    return typed


def _parse_time(form: DaysForm, name: str, text: str) -> time | None:
    at = dates.parse_time(text) if text else None
    if at is None:
        form.errors[name] = Msg("web.deliveries.bad_time")
    return at


def _window(p: Page, form: DaysForm) -> tuple[date, time, time] | None:
    """The first date and the hours, checked beside their fields; shared by a new day and
    a moved one."""
    on = _parse_date(form, "fecha", form.first, p.today)
    start = _parse_time(form, "inicio", form.start)
    end = _parse_time(form, "fin", form.end)
    if start is not None and end is not None and end <= start:
        form.errors["fin"] = Msg("web.deliveries.end_before_start")
    if on is None or start is None or end is None or form.errors:
        return None
    if delivery.local_window(p.zone, on, start, end)[1] <= p.now:
        form.errors["inicio"] = Msg("web.deliveries.window_past")
        return None
    return on, start, end


def _plan(p: Page, form: DaysForm) -> DayPlan | None:
    if form.mode not in (PickupMode.RETIRO, PickupMode.DOMICILIO):
        form.errors["modo"] = refusal("unknown_mode")
    every = _int(form.repeat)
    if every not in REPEATS:
        form.errors["repetir"] = Msg("web.deliveries.bad_repeat")
    window = _window(p, form)
    count = until = None
    if every:
        if form.count:
            count = _int(form.count)
            if count is None or not 1 <= count <= delivery.MAX_DAYS:
                form.errors["veces"] = Msg("web.deliveries.bad_count",
                                           {"max": delivery.MAX_DAYS})
        if form.until:
            until = _parse_date(form, "hasta", form.until, p.today)
        if not form.count and not form.until:
            form.errors["veces"] = refusal("repeat_without_end")
    if window is None or form.errors:
        return None
    on, start, end = window
    try:
        plan_dates = delivery.repeat_dates(on, every or 0, count, until)
    except DeliveryError as exc:
        form.errors["hasta"] = refusal(exc.code)
        return None
    home = form.mode == PickupMode.DOMICILIO
    # Home deliveries go to each family's address: the place is not asked, as in the chat.
    return DayPlan(mode=form.mode, dates=tuple(plan_dates), start=start, end=end,
                   place=None if home else form.place or None,
                   address=None if home else form.address or None)


async def _targets(p: Page, mode: str | None = None) -> list[tuple[str, Msg]]:
    """Whom to put on the days: nobody yet, everyone served this way, or a sector."""
    options = [("later", Msg("web.deliveries.assign_later")),
               ("all", Msg("web.deliveries.assign_all"))]
    for sector, n in await delivery.sectors(p.db, p.program.id, mode):
        options.append((f"sector={sector}", Msg("web.deliveries.assign_sector",
                                                {"sector": Raw(sector), "count": n})))
    return options


async def _assign(p: Page, days: list[DeliveryDay], target: str) -> delivery.Assigned | None:
    if target == "later" or not days:
        return None
    families = await delivery.families_by_target(p.db, p.program.id, days[0].mode, target)
    result = await delivery.assign(p.db, days, [f.id for f in families])
    p.audit("families_assigned", entity="delivery_day", entity_id=days[0].id,
            days=[d.id for d in days], how=target, families=result.families,
            added=result.added)
    return result


def _new_form(p: Page, form: DaysForm, targets: list[tuple[str, Msg]], status: int = 200
              ) -> Response:
    return _show(p, "deliveries/new.html", status=status, form=form, targets=targets,
                 repeats=REPEATS, modes=(PickupMode.RETIRO, PickupMode.DOMICILIO),
                 max_days=delivery.MAX_DAYS)


@page(DELIVERIES)
async def new_days(p: Page) -> Response:
    _team(p)
    targets = await _targets(p)
    if p.request.method == "GET":
        last = await delivery.last_place(p.db, p.program.id)
        form = DaysForm(place=last[0] if last else "", address=(last[1] or "") if last else "")
        return _new_form(p, form, targets)
    form = DaysForm.read(p.form)
    if form.families not in {value for value, _ in targets}:
        form.errors["familias"] = refusal("unknown_target")
    plan = _plan(p, form)
    if plan is None:
        return _new_form(p, form, targets, 422)
    try:
        days = await delivery.create_days(p.db, p.program, plan, p.now)
        await _assign(p, days, form.families)
    except DeliveryError as exc:
        form.problem = refusal(exc.code)
        return _new_form(p, form, targets, 422)
    ids = [d.id for d in days]
    p.audit("delivery_days_created", entity="delivery_day", entity_id=ids[0], ids=ids,
            mode=plan.mode)
    return p.redirect(p.link(SECTION, f"?mes={plan.dates[0]:%Y-%m}&hecho=created&n={len(ids)}"))


# --- one day: its card, moving, cancelling, its families -----------------------------------


def _move_form(p: Page, day: DeliveryDay) -> DaysForm:
    zone = ZoneInfo(p.zone)
    start, end = day.window_start.astimezone(zone), day.window_end.astimezone(zone)
    return DaysForm(first=start.date().isoformat(), start=f"{start:%H:%M}", end=f"{end:%H:%M}")


async def _day_card(p: Page, day: DeliveryDay, *, move: DaysForm | None = None,
                    problem: Msg | None = None, status: int = 200) -> Response:
    counts = (await pickups.counts_by_day(p.db, [day], p.now)).get(day.id, {})
    told = sum(1 for r in await pickups.day_list(p.db, day.id, p.now)
               if r.notified_at is not None)
    open_ = day.cancelled_at is None and p.now < day.window_end
    return _show(p, "deliveries/day.html", status=status, view=_view(p, day, counts),
                 move=move or _move_form(p, day), problem=problem, done=_done(p),
                 told=told, can_change=open_ and bool(p.roles & TEAM) and p.can_write,
                 can_move=open_ and p.now < day.window_start,
                 targets=await _targets(p, day.mode), formats=FORMATS)


@page(DELIVERIES)
async def day_card(p: Page) -> Response:
    _reader(p)
    return await _day_card(p, await _day(p))


@page(DELIVERIES)
async def move_a_day(p: Page) -> Response:
    _team(p)
    day = await _day(p)
    form = DaysForm.read(p.form)
    window = _window(p, form)
    if window is None:
        return await _day_card(p, day, move=form, status=422)
    old = (day.window_start, day.window_end)
    start, end = delivery.local_window(p.zone, *window)
    try:
        queued = await move_day(p.db, day, start, end, p.now)
    except DeliveryError as exc:
        form.problem = Msg(f"web.deliveries.move_refused_{exc.code}") \
            if exc.code in ("cancelled", "begun", "same_day") else refusal(exc.code)
        return await _day_card(p, day, move=form, status=422)
    p.audit("delivery_day_moved", entity="delivery_day", entity_id=day.id,
            old_start=old[0].isoformat(), old_end=old[1].isoformat(),
            start=start.isoformat(), end=end.isoformat(), notified=len(queued))
    return deliver_after(
        p, p.redirect(p.link(SECTION, f"dia/{day.id}?hecho=moved&n={len(queued)}")), queued)


@page(DELIVERIES)
async def cancel_a_day(p: Page) -> Response:
    _team(p)
    day = await _day(p)
    try:
        queued = await cancel_day(p.db, day, p.now)
    except DeliveryError as exc:
        return await _day_card(p, day, problem=refusal(exc.code), status=422)
    p.audit("delivery_day_cancelled", entity="delivery_day", entity_id=day.id,
            notified=len(queued))
    return deliver_after(
        p, p.redirect(p.link(SECTION, f"dia/{day.id}?hecho=cancelled&n={len(queued)}")),
        queued)


@page(DELIVERIES)
async def assign_families(p: Page) -> Response:
    _team(p)
    day = await _day(p)
    value = p.form.get("familias") if p.form is not None else None
    target = value if isinstance(value, str) else ""
    if target == "later" or target not in {v for v, _ in await _targets(p, day.mode)}:
        return await _day_card(p, day, problem=refusal("unknown_target"), status=422)
    try:
        result = await _assign(p, [day], target)
    except DeliveryError as exc:
        return await _day_card(p, day, problem=refusal(exc.code), status=422)
    added = result.added if result else 0
    return p.redirect(p.link(SECTION, f"dia/{day.id}?hecho=assigned&n={added}"))


# --- the day lists: what the premises' staff see ---------------------------------------


@page(DELIVERIES)
async def day_lists(p: Page) -> Response:
    days = await delivery.around(p.db, p.program, p.now)
    counts = await pickups.counts_by_day(p.db, days, p.now)
    views = [_view(p, d, counts.get(d.id, {})) for d in days]
    return _show(p, "deliveries/lists.html", days=views, today=p.today)


def _rut_tail(rut: str | None) -> str:
    """Enough of the RUT to tell two namesakes apart at the door, not the whole of it."""
    return rut[-5:] if rut else ""


@dataclass(frozen=True)
class Row:
    n: int
    row: pickups.DayListRow
    status: Msg

    @property
    def rut_tail(self) -> str:
        return _rut_tail(self.row.rut)

    @property
    def home(self) -> bool:
        return self.row.mode == PickupMode.DOMICILIO

    @property
    def marked(self) -> str:
        return {PickupStatus.PICKED_UP: "retiro", PickupStatus.NO_SHOW: "no_vino"}.get(
            self.row.status, "")


def _matches(row: pickups.DayListRow, query: str) -> bool:
    return any(delivery.matches(text, query)
               for text in (row.family_name, row.sector or "", row.rut or ""))


def _marking(p: Page, day: DeliveryDay) -> bool:
    """Marks open when the window does (pickups.respond says the same)."""
    return p.can_write and day.cancelled_at is None and p.now >= day.window_start


async def _list_context(p: Page, day: DeliveryDay) -> dict[str, Any]:
    rows = await pickups.day_list(p.db, day.id, p.now)
    query = " ".join(p.request.query_params.get("q", "").split())[:60]
    numbered = [Row(n, r, status_label(r.status)) for n, r in enumerate(rows, start=1)]
    shown = [r for r in numbered if not query or _matches(r.row, query)]
    view = _view(p, day, pickups.counts_of(rows))
    # Refreshed while marks may still come: a day neither suspended nor gone by.
    live = day.cancelled_at is None and view.on >= p.today
    return dict(view=view, rows=shown, total=len(rows), q=query, marking=_marking(p, day),
                formats=FORMATS, is_reader=bool(p.roles & READERS), error=None, live=live,
                live_every=LIVE_EVERY)


@page(DELIVERIES)
async def day_list(p: Page) -> Response:
    day = await _day(p)
    context = await _list_context(p, day)
    if p.request.headers.get("hx-request") and p.request.headers.get("hx-target") == "rows":
        # A search as it is typed, or the list's refresh: the rows, and the counts beside.
        return _show(p, "deliveries/_live.html", **context)
    return _show(p, "deliveries/daylist.html", **context)


@page(DELIVERIES)
async def mark_pickup(p: Page) -> Response:
    day = await _day(p)
    pickup = await p.db.get(Pickup, _int(p.request.path_params.get("pickup_id")) or 0)
    if pickup is None or pickup.delivery_day_id != day.id:
        raise Refusal(404, "web.deliveries.no_day")
    value = p.form.get("marca") if p.form is not None else None
    error: Msg | None = None
    if value not in MARKS:
        error = Msg("web.deliveries.mark_unknown")
    else:
        try:
            await pickups.respond(p.db, pickup, MARKS[value], p.now, marked_by=p.person.id)
        except PickupError as exc:
            error = Msg(f"web.deliveries.mark_{exc.code}"
                        if exc.code in ("window_not_started", "cancelled")
                        else "web.deliveries.mark_unknown")
        else:
            p.audit("pickup_marked", entity="pickup", entity_id=pickup.id,
                    status=str(pickup.status), day=day.id)
    context = await _list_context(p, day)
    if p.request.headers.get("hx-request"):
        # The tapped row and the counts above the list, swapped in place; 200 even when
        # refused, so htmx shows the reason beside the row.
        everyone = await pickups.day_list(p.db, day.id, p.now)
        [(n, row)] = [(n, r) for n, r in enumerate(everyone, start=1)
                      if r.pickup_id == pickup.id]
        context["rows"] = [Row(n, row, status_label(row.status))]
        context["error"] = error
        return _show(p, "deliveries/_marked.html", **context)
    if error is not None:
        context["error"] = error
        return _show(p, "deliveries/daylist.html", status=422, **context)
    back = p.link(SECTION, f"dia/{day.id}/lista")
    q = p.form.get("q") if p.form is not None else None
    # The search kept as typed: "Villa #2" or "A & B" would cut the address unencoded.
    return p.redirect(back + ("?" + urlencode({"q": q}) if isinstance(q, str) and q else "") +
                      f"#fila-{pickup.id}")


@page(DELIVERIES)
async def download(p: Page) -> Response:
    """The printable list (and the team's sheet): the export the chat and CLI give."""
    day = await _day(p)
    fmt = p.request.query_params.get("formato", "pdf")
    if fmt not in FORMATS:
        fmt = "pdf"
    # The sheets carry the families' reasons and whole RUTs, for the team; the premises'
    # staff print the day's list at the door, and that is all they take away.
    if fmt not in DOOR_FORMATS and not p.roles & READERS:
        raise Refusal(403, "web.refused.role")
    file = await exports.delivery_day_list(p.db, day.id, fmt, now=p.now, locale=p.loc,
                                           catalogs=p.panel.catalogs)
    p.audit("export", entity="delivery_day", entity_id=day.id, what="day_list", format=fmt)
    return attachment(file)


BASE = "/p/{pid:id}/entregas"
routes: list[BaseRoute] = [
    Route(BASE + "/", month_calendar, methods=["GET"]),
    Route(BASE + "/nuevo", new_days, methods=["GET", "POST"]),
    Route(BASE + "/listas", day_lists, methods=["GET"]),
    Route(BASE + "/dia/{day_id:id}", day_card, methods=["GET"]),
    Route(BASE + "/dia/{day_id:id}/mover", move_a_day, methods=["POST"]),
    Route(BASE + "/dia/{day_id:id}/cancelar", cancel_a_day, methods=["POST"]),
    Route(BASE + "/dia/{day_id:id}/asignar", assign_families, methods=["POST"]),
    Route(BASE + "/dia/{day_id:id}/lista", day_list, methods=["GET"]),
    Route(BASE + "/dia/{day_id:id}/lista/{pickup_id:id}", mark_pickup, methods=["POST"]),
    Route(BASE + "/dia/{day_id:id}/descargar", download, methods=["GET"]),
]
