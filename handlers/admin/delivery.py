"""Delivery days in the team's panel, and the premises staff's day list.

Section ``delivery`` (gestora, coordinadora): define a day or a weekly pattern with the
calendar and the time picker, assign families (all of the day's mode, a sector, or picked
from a list), choose how families hear of their dates, cancel a day.
Section ``daylist`` (also the encargado/a de recinto): today's families with their answers,
marked picked up / no-show in two taps from the window's start.

Actions are ``adm:delivery:<op>:...`` and ``adm:daylist:<op>:...``; ids, never names, so they
stay short enough for every channel's buttons (``Capabilities.action_bytes``)."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from domain.rut import format_rut
from handlers import widgets
from handlers.admin import (
    ADMIN,
    STAFF,
    action,
    allowed,
    back_to_panel,
    guard,
    int_at,
    pager,
    program_or_say,
    program_today,
    section,
)
from handlers.core import Router, Turn
from handlers.events import Button, EventKind, Outgoing
from locales import Day, Msg, Raw, When
from services import dates
from services.delivery import (
    STATUS_ICONS,
    cancel_day,
    day_summary,
    move_error,
    proxy_rut,
    refusal,
    status_label,
    where_of,
    window_of,
)
from services.messages import DatePick
from services.pickups import move_family
from storage import delivery, pickups
from storage.delivery import DayPlan, DeliveryError
from storage.models import DeliveryDay, Family, Pickup, PickupMode, PickupStatus, Program
from storage.pickups import PickupError

DELIVERY = "delivery"
DAYLIST = "daylist"
FLOW = "adm_delivery"
LIST_FLOW = "adm_daylist"
PAGE = 8
COUNT_CHOICES = (4, 8, 12)
MARKS = {"p": PickupStatus.PICKED_UP, "n": PickupStatus.NO_SHOW, "x": PickupStatus.PICKED_UP}

router = Router()


def act(*parts: object) -> str:
    return action(DELIVERY, *parts)


def lact(*parts: object) -> str:
    return action(DAYLIST, *parts)


# --- shared helpers -------------------------------------------------------------------------


def _out(text: Msg, buttons: list[list[Button]], **intents: Any) -> Outgoing:
    return Outgoing(text=text, buttons=tuple(tuple(row) for row in buttons), **intents)


def _stale(turn: Turn) -> None:
    turn.say("input.button_stale")


def _mode_label(mode: str) -> Msg:
    return Msg("adm_delivery.mode_home") if mode == PickupMode.DOMICILIO else Msg(
        "adm_delivery.mode_pickup")


def day_button_label(day: DeliveryDay, tz: str, with_year: bool = False) -> Msg:
    """with_year where past days are listed too: a programme spans two calendar years."""
    local = day.window_start.astimezone(ZoneInfo(tz)).date()
    key = "adm_delivery.btn_day_cancelled" if day.cancelled_at else "adm_delivery.btn_day"
    return Msg(key, {"day": Day(local, "short_year" if with_year else "short"), "start": When(day.window_start, "time"),
                     "end": When(day.window_end, "time"), "where": where_of(day)})


def _paging(args: list[str]) -> bool:
    """Turning a page redraws the list; opening it sends a new one."""
    return len(args) > 1 and args[1] == "e"


def _pages(total: int) -> int:
    return max((total + PAGE - 1) // PAGE, 1)


# --- the section menu -----------------------------------------------------------------------


async def _open(turn: Turn, parts: list[str], roles: frozenset[str], name: str,
                ops: dict) -> None:
    """Both sections: guard, find the programme, then the operation the button names."""
    if not guard(turn, roles, f"{name}:" + ":".join(parts[:1])):
        return
    program = await program_or_say(turn, "adm_delivery.no_program")
    if program is None:
        return
    op, args = (parts[0], parts[1:]) if parts else ("", [])
    handler = ops.get(op)
    if handler is None:
        _stale(turn)
        return
    await handler(turn, program, args)


@section(DELIVERY, "adm_delivery.section", roles=ADMIN, order=40)
async def open_delivery(turn: Turn, parts: list[str]) -> None:
    await _open(turn, parts, ADMIN, "delivery", _DELIVERY_OPS)


async def _menu(turn: Turn, program: Program, args: list[str]) -> None:
    turn.go(None)
    policy = delivery.pickup_policy(program)
    upcoming = await delivery.count_days_from(turn.session, program.id, turn.now)
    turn.say("adm_delivery.menu", count=upcoming, policy=_policy_line(program, policy),
             buttons=[
                 [Button(Msg("adm_delivery.btn_new"), act("new"))],
                 [Button(Msg("adm_delivery.btn_days"), act("days", 0))],
                 [Button(Msg("adm_delivery.btn_daylist"), lact())],
                 [Button(Msg("adm_delivery.btn_policy"), act("pol"))],
                 [back_to_panel()],
             ])


def _policy_line(program: Program, policy: str) -> Msg:
    if policy == "all_at_once":
        return Msg("adm_delivery.policy_all_at_once")
    return Msg("adm_delivery.policy_before_each",
               {"count": delivery.pickup_days_before(program)})


# --- the wizard: a new day or pattern ---------------------------------------------------


def _step(turn: Turn) -> str | None:
    return turn.convo.step if turn.convo.flow == FLOW else None


def _cancel_row() -> list[Button]:
    return [Button(Msg("adm_delivery.btn_cancel"), act("x"))]


def _data_date(turn: Turn, key: str) -> date | None:
    value = turn.data(key)
    return date.fromisoformat(value) if value else None


def _data_time(turn: Turn, key: str) -> time | None:
    value = turn.data(key)
    return time.fromisoformat(value) if value else None


async def _ask(turn: Turn, program: Program, step: str, *, redraw: bool = False) -> None:
    """Ask the wizard's current question, from what the conversation holds."""
    turn.go(FLOW, step)
    if step == "mode":
        turn.say("adm_delivery.ask_mode", buttons=[
            [Button(Msg("adm_delivery.mode_pickup"), act("mode", "r"))],
            [Button(Msg("adm_delivery.mode_home"), act("mode", "d"))],
            _cancel_row(),
        ])
    elif step in ("date", "until"):
        today = program_today(turn, program)
        earliest = today if step == "date" else (_data_date(turn, "date") or today)
        month = _data_date(turn, "month") or earliest
        prefix = act("cal") if step == "date" else act("ucal")
        key = "adm_delivery.ask_date" if step == "date" else "adm_delivery.ask_until"
        out = _out(Msg(key), [_cancel_row()],
                   date_pick=DatePick(prefix, month, earliest=earliest))
        turn.redraw(out) if redraw else turn.send(out)
    elif step == "start":
        turn.say("adm_delivery.ask_start", day=Day(_data_date(turn, "date")),
                 buttons=widgets.time_picker(act("ts")) + [_cancel_row()])
    elif step == "end":
        turn.say("adm_delivery.ask_end", start=Raw(turn.data("start")),
                 buttons=widgets.time_picker(act("te")) + [_cancel_row()])
    elif step == "place":
        buttons = []
        last = await delivery.last_place(turn.session, program.id)
        if last is not None:
            turn.go(FLOW, step, last_place=last[0], last_address=last[1])
            where = ", ".join(p for p in last if p)
            buttons.append([Button(Msg("adm_delivery.btn_same_place", {"place": Raw(where[:40])}),
                                   act("same"))])
        turn.say("adm_delivery.ask_place", buttons=buttons + [_cancel_row()])
    elif step == "address":
        turn.say("adm_delivery.ask_address", buttons=[
            [Button(Msg("adm_delivery.btn_no_address"), act("noaddr"))], _cancel_row()])
    elif step == "repeat":
        turn.say("adm_delivery.ask_repeat", buttons=[
            [Button(Msg("adm_delivery.btn_once"), act("rep", 0))],
            [Button(Msg("adm_delivery.btn_weekly"), act("rep", 1))],
            [Button(Msg("adm_delivery.btn_biweekly"), act("rep", 2))],
            _cancel_row(),
        ])
    elif step == "count":
        turn.say("adm_delivery.ask_count", buttons=[
            [Button(Msg("adm_delivery.btn_times", {"count": n}), act("cnt", n))
             for n in COUNT_CHOICES],
            [Button(Msg("adm_delivery.btn_until"), act("until"))],
            _cancel_row(),
        ])
    elif step == "confirm":
        await _ask_confirm(turn, program)
    else:
        turn.go(None)
        turn.say("input.not_understood")


def _plan(turn: Turn) -> DayPlan:
    first = _data_date(turn, "date")
    assert first is not None
    every = int(turn.data("every") or 0)
    dates = delivery.repeat_dates(first, every, turn.data("count"), _data_date(turn, "until"))
    return DayPlan(mode=turn.data("mode"), dates=tuple(dates), start=_data_time(turn, "start"),
                   end=_data_time(turn, "end"), place=turn.data("place"),
                   address=turn.data("address"))


def _repeat_line(plan: DayPlan, every: int) -> Msg:
    if every == 0 or len(plan.dates) == 1:
        return Msg("adm_delivery.repeat_once")
    key = "adm_delivery.repeat_weekly" if every == 1 else "adm_delivery.repeat_biweekly"
    return Msg(key, {"count": len(plan.dates), "last": Day(plan.dates[-1])})


async def _ask_confirm(turn: Turn, program: Program) -> None:
    plan = _plan(turn)
    window = Msg("fmt.window", {"date": Day(plan.dates[0]), "start": Raw(f"{plan.start:%H:%M}"),
                                "end": Raw(f"{plan.end:%H:%M}")})
    where = ", ".join(p for p in (plan.place, plan.address) if p)
    turn.say("adm_delivery.confirm", mode=_mode_label(plan.mode), window=window,
             place=Raw(where) if where else _mode_label(plan.mode),
             repeat=_repeat_line(plan, int(turn.data("every") or 0)),
             buttons=[[Button(Msg("adm_delivery.btn_save"), act("save"))], _cancel_row()])


async def _new(turn: Turn, program: Program, args: list[str]) -> None:
    turn.go(None)
    await _ask(turn, program, "mode")


async def _cancel_wizard(turn: Turn, program: Program, args: list[str]) -> None:
    if turn.convo.flow != FLOW:
        _stale(turn)
        return
    turn.go(None)
    turn.say("adm_delivery.wizard_cancelled", buttons=[[back_to_panel()]])


async def _mode(turn: Turn, program: Program, args: list[str]) -> None:
    if _step(turn) != "mode" or not args or args[0] not in ("r", "d"):
        _stale(turn)
        return
    mode = PickupMode.DOMICILIO if args[0] == "d" else PickupMode.RETIRO
    turn.go(FLOW, "date", mode=str(mode), month=None)
    await _ask(turn, program, "date")


async def _calendar(turn: Turn, program: Program, args: list[str], *, until: bool) -> None:
    step = "until" if until else "date"
    if _step(turn) != step:
        _stale(turn)
        return
    picked = widgets.parse(turn.action or "", act("ucal" if until else "cal"))
    if picked is None:
        _stale(turn)
        return
    if picked.kind == "m":
        turn.go(FLOW, step, month=picked.day.isoformat())
        await _ask(turn, program, step, redraw=True)
        return
    if picked.kind != "d" or picked.day is None:
        _stale(turn)
        return
    await _set_day(turn, program, picked.day, until=until)


async def _set_day(turn: Turn, program: Program, day: date, *, until: bool,
                   at: time | None = None) -> None:
    """The day picked on the calendar or typed; a start time typed with it is kept."""
    step = "until" if until else "date"
    first = _data_date(turn, "date")
    earliest = program_today(turn, program) if not until else (first or program_today(turn, program))
    if day < earliest:
        turn.say("adm_delivery.date_past")
        await _ask(turn, program, step)
        return
    if until:
        turn.go(FLOW, "confirm", until=day.isoformat(), count=None)
        await _ask(turn, program, "confirm")
    else:
        turn.go(FLOW, "start", date=day.isoformat(), month=None)
        if at is not None:
            await _set_start(turn, program, at)
            return
        await _ask(turn, program, "start")


async def _date(turn: Turn, program: Program, args: list[str]) -> None:
    await _calendar(turn, program, args, until=False)


async def _until_date(turn: Turn, program: Program, args: list[str]) -> None:
    await _calendar(turn, program, args, until=True)


async def _set_start(turn: Turn, program: Program, at: time) -> None:
    turn.go(FLOW, "end", start=f"{at:%H:%M}")
    await _ask(turn, program, "end")


async def _set_end(turn: Turn, program: Program, at: time) -> None:
    start = _data_time(turn, "start")
    if start is None or at <= start:
        turn.say("adm_delivery.end_before_start", start=Raw(f"{start:%H:%M}" if start else ""))
        await _ask(turn, program, "end")
        return
    _, end = delivery.local_window(program.timezone, _data_date(turn, "date"), start, at)
    if end <= turn.now:
        turn.say("adm_delivery.window_past")
        await _ask(turn, program, "start")
        return
    turn.go(FLOW, "place", end=f"{at:%H:%M}")
    if turn.data("mode") == PickupMode.DOMICILIO:
        # Home deliveries go to each family's address: no place to ask for.
        turn.go(FLOW, "repeat", place=None, address=None)
        await _ask(turn, program, "repeat")
        return
    await _ask(turn, program, "place")


async def _time(turn: Turn, program: Program, args: list[str], *, end: bool) -> None:
    step = "end" if end else "start"
    picked = widgets.parse(turn.action or "", act("te" if end else "ts"))
    if _step(turn) != step or picked is None or picked.at is None:
        _stale(turn)
        return
    if end:
        await _set_end(turn, program, picked.at)
    else:
        await _set_start(turn, program, picked.at)


async def _time_start(turn: Turn, program: Program, args: list[str]) -> None:
    await _time(turn, program, args, end=False)


async def _time_end(turn: Turn, program: Program, args: list[str]) -> None:
    await _time(turn, program, args, end=True)


async def _same_place(turn: Turn, program: Program, args: list[str]) -> None:
    if _step(turn) != "place" or not turn.data("last_place"):
        _stale(turn)
        return
    turn.go(FLOW, "repeat", place=turn.data("last_place"), address=turn.data("last_address"))
    await _ask(turn, program, "repeat")


async def _no_address(turn: Turn, program: Program, args: list[str]) -> None:
    if _step(turn) != "address":
        _stale(turn)
        return
    turn.go(FLOW, "repeat", address=None)
    await _ask(turn, program, "repeat")


async def _repeat(turn: Turn, program: Program, args: list[str]) -> None:
    every = int_at(args, 0)
    if _step(turn) != "repeat" or every not in (0, 1, 2):
        _stale(turn)
        return
    if every == 0:
        turn.go(FLOW, "confirm", every=0, count=None, until=None)
        await _ask(turn, program, "confirm")
    else:
        turn.go(FLOW, "count", every=every, count=None, until=None)
        await _ask(turn, program, "count")


async def _count(turn: Turn, program: Program, args: list[str]) -> None:
    n = int_at(args, 0)
    if _step(turn) != "count" or n is None or not 1 <= n <= delivery.MAX_DAYS:
        _stale(turn)
        return
    turn.go(FLOW, "confirm", count=n, until=None)
    await _ask(turn, program, "confirm")


async def _until(turn: Turn, program: Program, args: list[str]) -> None:
    if _step(turn) != "count":
        _stale(turn)
        return
    turn.go(FLOW, "until", month=None)
    await _ask(turn, program, "until")


async def _save(turn: Turn, program: Program, args: list[str]) -> None:
    if _step(turn) != "confirm":
        _stale(turn)
        return
    try:
        days = await delivery.create_days(turn.session, program, _plan(turn), turn.now)
    except DeliveryError as exc:
        turn.say("adm_delivery.cannot_save", reason=refusal(exc.code))
        await _ask(turn, program, "mode")
        return
    ids = [d.id for d in days]
    turn.audit("delivery_days_created", "delivery_day", ids[0], ids=ids, mode=days[0].mode)
    turn.go(None)
    turn.say("adm_delivery.saved", count=len(days))
    await _ask_assign(turn, program, ids, days[0].mode)


# --- assigning families ---------------------------------------------------------------------


async def _ask_assign(turn: Turn, program: Program, day_ids: list[int], mode: str) -> None:
    turn.go(None)
    turn.go(FLOW, "assign", day_ids=day_ids, mode=mode, picked=[])
    everyone = len(await delivery.families_of_mode(turn.session, program.id, mode))
    all_key = ("adm_delivery.btn_assign_all_home" if mode == PickupMode.DOMICILIO
               else "adm_delivery.btn_assign_all")
    turn.say("adm_delivery.ask_assign", count=len(day_ids), buttons=[
        [Button(Msg(all_key, {"count": everyone}), act("to", "all"))],
        [Button(Msg("adm_delivery.btn_assign_sector"), act("to", "sec"))],
        [Button(Msg("adm_delivery.btn_assign_pick"), act("to", "pick"))],
        [Button(Msg("adm_delivery.btn_assign_later"), act("to", "later"))],
    ])


async def _assign_day(turn: Turn, program: Program, args: list[str]) -> None:
    day = await _admin_day(turn, program, args)
    if day is None:
        return
    if day.cancelled_at is not None:
        turn.say("adm_delivery.day_is_cancelled")
        return
    await _ask_assign(turn, program, [day.id], day.mode)


async def _assign_days(turn: Turn, program: Program) -> list[DeliveryDay] | None:
    days = []
    for day_id in turn.data("day_ids") or []:
        day = await delivery.get_day(turn.session, program.id, int(day_id))
        if day is None or day.cancelled_at is not None:
            turn.go(None)
            turn.say("adm_delivery.day_is_cancelled")
            return None
        days.append(day)
    return days or None


async def _do_assign(turn: Turn, program: Program, family_ids: list[int], how: str) -> None:
    days = await _assign_days(turn, program)
    if days is None:
        return
    result = await delivery.assign(turn.session, days, family_ids)
    turn.audit("families_assigned", "delivery_day", days[0].id, days=[d.id for d in days],
               how=how, families=result.families, added=result.added)
    turn.go(None)
    lines = [Msg("adm_delivery.assigned", {"count": result.families, "days": len(days)})]
    if result.unlinked:
        lines.append(Msg("adm_delivery.assigned_unlinked", {"count": result.unlinked}))
    lines.append(Msg("adm_delivery.policy_now",
                     {"policy": _policy_line(program, delivery.pickup_policy(program))}))
    turn.say("adm_delivery.assigned_report", lines=lines, buttons=[
        [Button(Msg("adm_delivery.btn_policy"), act("pol"))],
        [Button(Msg("adm_delivery.btn_days"), act("days", 0))],
        [back_to_panel()],
    ])


async def _assign_to(turn: Turn, program: Program, args: list[str]) -> None:
    how = args[0] if args else ""
    if _step(turn) != "assign" or how not in ("all", "sec", "pick", "later"):
        _stale(turn)
        return
    mode = turn.data("mode")
    if how == "later":
        turn.go(None)
        turn.say("adm_delivery.assign_later", buttons=[[back_to_panel()]])
    elif how == "all":
        families = await delivery.families_of_mode(turn.session, program.id, mode)
        await _do_assign(turn, program, [f.id for f in families], "all")
    elif how == "sec":
        found = await delivery.sectors(turn.session, program.id, mode)
        if not found:
            turn.say("adm_delivery.no_sectors")
            await _ask_assign(turn, program, turn.data("day_ids"), mode)
            return
        turn.go(FLOW, "sector", sectors=[s for s, _ in found])
        turn.say("adm_delivery.ask_sector", buttons=[
            [Button(Msg("adm_delivery.btn_sector", {"sector": Raw(s[:40]), "count": n}),
                    act("sec", i))] for i, (s, n) in enumerate(found)
        ] + [_cancel_row()])
    else:
        turn.go(FLOW, "pick", picked=[])
        await _checklist(turn, program, 0, redraw=False)


async def _sector(turn: Turn, program: Program, args: list[str]) -> None:
    index = int_at(args, 0)
    names = turn.data("sectors") or []
    if _step(turn) != "sector" or index is None or index >= len(names):
        _stale(turn)
        return
    families = await delivery.families_in_sector(turn.session, program.id, names[index],
                                                 turn.data("mode"))
    await _do_assign(turn, program, [f.id for f in families], "sector")


async def _checklist(turn: Turn, program: Program, page: int, *, redraw: bool) -> None:
    families, total = await delivery.families_page(turn.session, program.id, page, PAGE)
    pages = _pages(total)
    if page >= pages:
        families, total = await delivery.families_page(turn.session, program.id, 0, PAGE)
        page = 0
    picked = set(turn.data("picked") or [])
    rows = [[Button(Msg("adm_delivery.check_on" if f.id in picked else "adm_delivery.check_off",
                        {"name": Raw(f.name[:40])}), act("pk", "t", f.id, page))]
            for f in families]
    rows.append([Button(Msg("adm_delivery.btn_picked_done", {"count": len(picked)}),
                        act("pk", "ok"))])
    rows.append(_cancel_row())
    out = _out(Msg("adm_delivery.ask_pick", {"count": total}), rows,
               pager=pager(page, pages, lambda p: act("pk", "p", p)))
    turn.redraw(out) if redraw else turn.send(out)


async def _pick(turn: Turn, program: Program, args: list[str]) -> None:
    if _step(turn) != "pick" or not args:
        _stale(turn)
        return
    op = args[0]
    if op == "t" and len(args) == 3 and int_at(args, 1) is not None and int_at(args, 2) is not None:
        family = await turn.session.get(Family, int(args[1]))
        if family is None or family.program_id != program.id:
            _stale(turn)
            return
        picked = set(turn.data("picked") or [])
        picked ^= {family.id}
        turn.go(FLOW, "pick", picked=sorted(picked))
        await _checklist(turn, program, int(args[2]), redraw=True)
    elif op == "p" and len(args) == 2 and int_at(args, 1) is not None:
        await _checklist(turn, program, int(args[1]), redraw=True)
    elif op == "ok":
        picked = [int(i) for i in turn.data("picked") or []]
        if not picked:
            turn.say("adm_delivery.pick_none")
            return
        await _do_assign(turn, program, picked, "picked")
    else:
        _stale(turn)


# --- the notice policy ----------------------------------------------------------------------


async def _policy(turn: Turn, program: Program, args: list[str]) -> None:
    choice = {"all": "all_at_once", "each": "before_each"}.get(args[0]) if args else None
    if args and choice is None:
        _stale(turn)
        return
    if choice is not None:
        before = delivery.pickup_policy(program)
        if delivery.set_pickup_policy(program, choice):
            turn.audit("pickup_policy_set", "program", program.id, policy=choice, before=before)
    policy = delivery.pickup_policy(program)
    mark = {p: ("adm_delivery.btn_chosen" if p == policy else "adm_delivery.btn_choose")
            for p in delivery.POLICIES}
    text = Msg("adm_delivery.policy_saved" if choice else "adm_delivery.policy_ask",
               {"policy": _policy_line(program, policy)})
    out = _out(text, [
        [Button(Msg(mark["all_at_once"], {"label": Msg("adm_delivery.policy_btn_all")}),
                act("pol", "all"))],
        [Button(Msg(mark["before_each"], {"label": Msg("adm_delivery.policy_btn_each")}),
                act("pol", "each"))],
        [back_to_panel()],
    ])
    turn.redraw(out) if choice is not None else turn.send(out)


# --- the team's list of days, one day, cancelling ---------------------------------------------


async def _days(turn: Turn, program: Program, args: list[str]) -> None:
    page = int_at(args, 0) if args else 0
    page = page or 0
    total = await delivery.count_days_from(turn.session, program.id, turn.now)
    pages = _pages(total)
    page = min(page, pages - 1)
    days = await delivery.days_from(turn.session, program.id, turn.now, limit=PAGE,
                                    offset=page * PAGE)
    turn.go(None)
    if not days:
        turn.say("adm_delivery.no_days", buttons=[
            [Button(Msg("adm_delivery.btn_new"), act("new"))], [back_to_panel()]])
        return
    rows = [[Button(day_button_label(d, program.timezone), act("day", d.id))] for d in days]
    rows.append([back_to_panel()])
    out = _out(Msg("adm_delivery.days", {"count": total}), rows,
               pager=pager(page, pages, lambda p: act("days", p, "e")))
    turn.redraw(out) if _paging(args) else turn.send(out)


async def _admin_day(turn: Turn, program: Program, args: list[str]) -> DeliveryDay | None:
    day_id = int_at(args, 0)
    day = await delivery.get_day(turn.session, program.id, day_id) if day_id else None
    if day is None:
        _stale(turn)
    return day


async def _day(turn: Turn, program: Program, args: list[str]) -> None:
    day = await _admin_day(turn, program, args)
    if day is None:
        return
    turn.go(None)
    counts = await pickups.day_counts(turn.session, day.id, turn.now)
    total = sum(counts.values())
    rows = []
    if day.cancelled_at is None:
        rows.append([Button(Msg("adm_delivery.btn_assign"), act("asg", day.id))])
        rows.append([Button(Msg("adm_delivery.btn_daylist"), lact("d", day.id, 0))])
    rows.append([Button(Msg("adm_delivery.btn_export_day"), action("exports", "ddd", day.id))])
    if day.cancelled_at is None and turn.now < day.window_end:
        rows.append([Button(Msg("adm_delivery.btn_cancel_day"), act("cx", day.id))])
    rows.append([Button(Msg("adm_delivery.btn_days"), act("days", 0))])
    text = day_summary(day, counts, total)
    if day.cancelled_at is not None:
        text = Msg("adm_delivery.day_cancelled_card", {"day": text})
    turn.say("adm_delivery.day_card", day=text, mode=_mode_label(day.mode), buttons=rows)


async def _cancel_ask(turn: Turn, program: Program, args: list[str]) -> None:
    day = await _admin_day(turn, program, args)
    if day is None:
        return
    if day.cancelled_at is not None:
        turn.say("adm_delivery.day_is_cancelled")
        return
    told = sum(1 for p in await pickups.day_list(turn.session, day.id, turn.now)
               if p.notified_at is not None)
    turn.say("adm_delivery.cancel_ask", window=window_of(day), count=told, buttons=[
        [Button(Msg("adm_delivery.btn_cancel_yes"), act("cxy", day.id))],
        [Button(Msg("adm_delivery.btn_cancel_no"), act("day", day.id))],
    ])


async def _cancel_do(turn: Turn, program: Program, args: list[str]) -> None:
    day = await _admin_day(turn, program, args)
    if day is None:
        return
    try:
        queued = len(await cancel_day(turn.session, day, turn.now))
    except DeliveryError as exc:
        turn.say("adm_delivery.day_is_cancelled" if exc.code == "already_cancelled"
                 else "adm_delivery.day_over")
        return
    turn.audit("delivery_day_cancelled", "delivery_day", day.id, notified=queued)
    turn.say("adm_delivery.cancelled_done", window=window_of(day), count=queued,
             buttons=[[Button(Msg("adm_delivery.btn_days"), act("days", 0))], [back_to_panel()]])


# --- moving a family to another day ---------------------------------------------------------


async def _move_pickup(turn: Turn, program: Program, args: list[str]
                       ) -> tuple[Pickup, DeliveryDay, Family] | None:
    pickup = await turn.session.get(Pickup, int_at(args, 0)) if int_at(args, 0) else None
    day = await delivery.get_day(turn.session, program.id, pickup.delivery_day_id) \
        if pickup is not None else None
    family = await turn.session.get(Family, pickup.family_id) if day is not None else None
    if pickup is None or day is None or family is None:
        _stale(turn)
        return None
    return pickup, day, family


async def _move_ask(turn: Turn, program: Program, args: list[str]) -> None:
    found = await _move_pickup(turn, program, args)
    if found is None:
        return
    pickup, day, family = found
    page = int_at(args, 1) or 0
    back = [Button(Msg("adm_daylist.btn_back"), lact("d", day.id, page))]
    options = await delivery.days_to_move_to(turn.session, pickup, day, turn.now, limit=PAGE)
    if not options:
        turn.say("adm_delivery.move_no_days", family=Raw(family.name), buttons=[
            [Button(Msg("adm_delivery.btn_new"), act("new"))], back])
        return
    rows = [[Button(day_button_label(d, program.timezone), act("mvt", pickup.id, d.id))]
            for d in options]
    turn.say("adm_delivery.move_ask", family=Raw(family.name), window=window_of(day),
             buttons=rows + [back])


async def _move_do(turn: Turn, program: Program, args: list[str]) -> None:
    found = await _move_pickup(turn, program, args)
    to_day = await delivery.get_day(turn.session, program.id, int_at(args, 1)) \
        if found is not None and int_at(args, 1) else None
    if found is None or to_day is None:
        if found is not None:
            _stale(turn)
        return
    pickup, day, family = found
    back = [[Button(Msg("adm_delivery.btn_back_to_list"), lact("d", day.id, 0))]]
    try:
        moved = await move_family(turn.session, pickup, to_day, turn.now, by_family=False)
    except DeliveryError as exc:
        turn.say("adm_delivery.move_refused", reason=move_error(exc.code), buttons=back)
        return
    turn.audit("pickup_moved", "pickup", pickup.id, to_pickup=moved.pickup.id,
               to_day=to_day.id, by="team", family_told=moved.family_told)
    key = "adm_delivery.move_done" if moved.family_told else "adm_delivery.move_done_untold"
    turn.say(key, family=Raw(family.name), window=window_of(to_day), buttons=back)


_DELIVERY_OPS = {
    "": _menu, "mv": _move_ask, "mvt": _move_do, "new": _new, "x": _cancel_wizard, "mode": _mode, "cal": _date,
    "ucal": _until_date, "ts": _time_start, "te": _time_end, "same": _same_place,
    "noaddr": _no_address, "rep": _repeat, "cnt": _count, "until": _until, "save": _save,
    "to": _assign_to, "sec": _sector, "pk": _pick, "asg": _assign_day, "pol": _policy,
    "days": _days, "day": _day, "cx": _cancel_ask, "cxy": _cancel_do,
}


@router.flow(FLOW)
async def wizard_input(turn: Turn) -> None:
    if not guard(turn, ADMIN, "delivery:input"):
        turn.go(None)
        return
    program = await program_or_say(turn, "adm_delivery.no_program")
    if program is None:
        return
    step = turn.convo.step or ""
    ev = turn.event
    text = (ev.text or "").strip() if ev.kind == EventKind.TEXT else ""
    if step in ("date", "until") and text:
        try:
            typed = dates.parse_when(text, program_today(turn, program))
        except dates.DateProblem as problem:
            turn.send(Outgoing(text=dates.date_problem(problem)))
        else:
            await _set_day(turn, program, typed.day, until=step == "until",
                           at=typed.at if step == "date" else None)
            return
    elif step in ("start", "end") and text:
        at = dates.parse_time(text)
        if at is None:
            turn.say("adm_delivery.time_invalid")
        elif step == "start":
            await _set_start(turn, program, at)
            return
        else:
            await _set_end(turn, program, at)
            return
    elif step == "place" and text:
        turn.go(FLOW, "address", place=text[:200])
        await _ask(turn, program, "address")
        return
    elif step == "address" and text:
        turn.go(FLOW, "repeat", address=text[:200])
        await _ask(turn, program, "repeat")
        return
    elif step == "count" and text.isdigit() and 1 <= int(text) <= delivery.MAX_DAYS:
        turn.go(FLOW, "confirm", count=int(text), until=None)
        await _ask(turn, program, "confirm")
        return
    elif ev.kind == EventKind.UNSUPPORTED:
        turn.say("input.unsupported")
    else:
        turn.say("adm_delivery.use_buttons")
    if step == "assign":
        await _ask_assign(turn, program, turn.data("day_ids") or [], turn.data("mode"))
    elif step == "sector":
        await _assign_to(turn, program, ["sec"])
    elif step == "pick":
        await _checklist(turn, program, 0, redraw=False)
    else:
        await _ask(turn, program, step)


# --- the staff's day list ---------------------------------------------------------------------


@section(DAYLIST, "adm_daylist.section", roles=STAFF, order=41)
async def open_daylist(turn: Turn, parts: list[str]) -> None:
    await _open(turn, parts, STAFF, "daylist", _DAYLIST_OPS)


async def _today_list(turn: Turn, program: Program, args: list[str]) -> None:
    today = await delivery.days_on(turn.session, program, program_today(turn, program))
    if len(today) == 1:
        await _show_list(turn, program, today[0], 0, query=None, redraw=False)
        return
    if len(today) > 1:
        await _pick_day(turn, program, ["0"], key="adm_daylist.pick_today", days=today)
        return
    await _pick_day(turn, program, ["0"], key="adm_daylist.none_today")


async def _pick_day(turn: Turn, program: Program, args: list[str], *,
                    key: str = "adm_daylist.pick", days: list[DeliveryDay] | None = None
                    ) -> None:
    page = int_at(args, 0) if args else 0
    page = page or 0
    days = days if days is not None else await delivery.around(turn.session, program, turn.now)
    if not days:
        turn.go(None)
        turn.say("adm_daylist.no_days", buttons=[[back_to_panel()]])
        return
    pages = _pages(len(days))
    page = min(page, pages - 1)
    rows = [[Button(day_button_label(d, program.timezone), lact("d", d.id, 0))]
            for d in days[page * PAGE:(page + 1) * PAGE]]
    rows.append([back_to_panel()])
    out = _out(Msg(key), rows, pager=pager(page, pages, lambda p: lact("pick", p, "e")))
    turn.redraw(out) if _paging(args) else turn.send(out)


async def _staff_day(turn: Turn, program: Program, day_id: int | None) -> DeliveryDay | None:
    day = await delivery.get_day(turn.session, program.id, day_id) if day_id else None
    if day is None:
        _stale(turn)
    return day


def row_label(row: pickups.DayListRow) -> Msg:
    """A family's button on the day list: its status mark and name, and who picked up for
    it when that was someone else."""
    name = Raw(row.family_name[:40])
    if row.status == PickupStatus.PICKED_UP and row.proxy_name:
        return Msg("adm_daylist.row_picked_up_proxy",
                   {"name": name, "proxy": Raw(row.proxy_name[:30])})
    return Msg(f"adm_daylist.row_{STATUS_ICONS.get(row.status, 'no_answer')}", {"name": name})


async def list_message(session: AsyncSession, day: DeliveryDay, page: int,
                       query: str | None, now: datetime) -> tuple[Outgoing, int]:
    """The day list as the staff sees it: counts, then a page of families to tap."""
    rows = await pickups.day_list(session, day.id, now)
    counts = pickups.counts_of(rows)
    shown = [r for r in rows if not query or delivery.matches(r.family_name, query)]
    pages = _pages(len(shown))
    page = max(min(page, pages - 1), 0)
    lines: list[Msg] = [day_summary(day, counts, len(rows))]
    if day.cancelled_at is not None:
        lines.append(Msg("adm_daylist.cancelled"))
    if query:
        key = "adm_daylist.search_found" if shown else "adm_daylist.search_none"
        lines.append(Msg(key, {"query": Raw(query), "count": len(shown)}))
    elif not rows:
        lines.append(Msg("adm_daylist.empty"))
    if shown:
        lines.append(Msg("adm_daylist.hint"))
    buttons = [[Button(row_label(r), lact("f", r.pickup_id, page))]
               for r in shown[page * PAGE:(page + 1) * PAGE]]
    if query:
        buttons.append([Button(Msg("adm_daylist.btn_all"), lact("all", day.id))])
    buttons.append([Button(Msg("adm_daylist.btn_refresh"), lact("d", day.id, page)),
                    Button(Msg("adm_daylist.btn_other_day"), lact("pick", 0))])
    return _out(Msg("adm_daylist.list", {"lines": lines}), buttons,
                pager=pager(page, pages, lambda p: lact("d", day.id, p))), page


async def _show_list(turn: Turn, program: Program, day: DeliveryDay, page: int, *,
                     query: str | None, redraw: bool) -> None:
    out, page = await list_message(turn.session, day, page, query, turn.now)
    # Typing while the list is open searches it.
    turn.go(None)
    turn.go(LIST_FLOW, "list", day_id=day.id, q=query, page=page)
    turn.redraw(out) if redraw else turn.send(out)


def _query_for(turn: Turn, day_id: int) -> str | None:
    if turn.convo.flow == LIST_FLOW and turn.data("day_id") == day_id:
        return turn.data("q")
    return None


async def _list(turn: Turn, program: Program, args: list[str]) -> None:
    day = await _staff_day(turn, program, int_at(args, 0))
    if day is None:
        return
    page = int_at(args, 1) or 0
    await _show_list(turn, program, day, page, query=_query_for(turn, day.id), redraw=True)


async def _list_all(turn: Turn, program: Program, args: list[str]) -> None:
    day = await _staff_day(turn, program, int_at(args, 0))
    if day is None:
        return
    await _show_list(turn, program, day, 0, query=None, redraw=True)


async def _staff_pickup(turn: Turn, program: Program, pickup_id: int | None
                        ) -> tuple[Pickup, DeliveryDay, Family] | None:
    pickup = await turn.session.get(Pickup, pickup_id) if pickup_id else None
    if pickup is None:
        _stale(turn)
        return None
    day = await delivery.get_day(turn.session, program.id, pickup.delivery_day_id)
    family = await turn.session.get(Family, pickup.family_id)
    if day is None or family is None:
        _stale(turn)
        return None
    return pickup, day, family


def proxy_line(name: str, rut: str | None, status: str) -> Msg:
    """Who picks up (or picked up) for the family, with the RUT or what stands for it."""
    key = "adm_daylist.card_proxy_done" if status == PickupStatus.PICKED_UP \
        else "adm_daylist.card_proxy"
    return Msg(key, {"name": Raw(name), "rut": proxy_rut(rut, status)})


def family_card(pickup: Pickup, day: DeliveryDay, family: Family, page: int, *,
                status: str | None = None, moved_to: DeliveryDay | None = None,
                can_move: bool = False) -> Outgoing:
    """``status`` as the list shows it (see pickups.shown_status); ``can_move`` for the
    gestora and the coordinadora."""
    status = status or pickup.status
    lines: list[Msg] = [Msg("adm_daylist.card_status", {"status": status_label(status)})]
    if pickup.proxy_name:
        lines.append(proxy_line(pickup.proxy_name, pickup.proxy_rut, status))
    if moved_to is not None:
        lines.append(Msg("adm_daylist.card_moved", {"window": window_of(moved_to)}))
    if pickup.reason:
        lines.append(Msg("adm_daylist.card_reason", {"reason": Raw(pickup.reason)}))
    if family.household_size:
        lines.append(Msg("adm_daylist.card_household", {"count": family.household_size}))
    if family.sector:
        lines.append(Msg("adm_daylist.card_sector", {"sector": Raw(family.sector)}))
    if family.phone:
        lines.append(Msg("adm_daylist.card_phone", {"phone": Raw(family.phone)}))
    if pickups.is_home_delivery(day, family) and family.address:
        lines.append(Msg("adm_daylist.card_address", {"address": Raw(family.address)}))
    p = pickup.id
    buttons = []
    if day.cancelled_at is None:
        buttons += [
            [Button(Msg("adm_daylist.btn_picked_up"), lact("m", p, "p", page)),
             Button(Msg("adm_daylist.btn_no_show"), lact("m", p, "n", page))],
            [Button(Msg("adm_daylist.btn_other_person"), lact("m", p, "x", page))],
        ]
    if can_move and pickup.status != PickupStatus.PICKED_UP and moved_to is None \
            and pickup.status != PickupStatus.MOVED:
        buttons.append([Button(Msg("adm_daylist.btn_move"), act("mv", p, page))])
    buttons.append([Button(Msg("adm_daylist.btn_back"), lact("d", day.id, page))])
    return _out(Msg("adm_daylist.card", {"name": Raw(family.name), "lines": lines}), buttons)


async def _family(turn: Turn, program: Program, args: list[str]) -> None:
    found = await _staff_pickup(turn, program, int_at(args, 0))
    if found is None:
        return
    page = int_at(args, 1) or 0
    pickup, day, family = found
    kept = await pickups.list_kept(turn.session, day.id)
    turn.redraw(family_card(
        pickup, day, family, page, status=pickups.shown_status(pickup, day, turn.now, kept),
        moved_to=await pickups.moved_to_day(turn.session, pickup),
        can_move=allowed(turn, ADMIN)))


async def _mark(turn: Turn, program: Program, args: list[str]) -> None:
    found = await _staff_pickup(turn, program, int_at(args, 0))
    op = args[1] if len(args) > 1 else ""
    if found is None:
        return
    if op not in MARKS:
        _stale(turn)
        return
    pickup, day, family = found
    page = int_at(args, 2) or 0
    try:
        await pickups.respond(turn.session, pickup, MARKS[op], turn.now, marked_by=turn.person.id)
    except PickupError as exc:
        if exc.code == "window_not_started":
            turn.say("adm_daylist.not_yet", date=When(day.window_start, "date"),
                     start=When(day.window_start, "time"))
        elif exc.code == "cancelled":
            turn.say("adm_daylist.cancelled")
        else:
            _stale(turn)
        return
    turn.audit("pickup_marked", "pickup", pickup.id, status=str(pickup.status),
               by_other=op == "x")
    await _show_list(turn, program, day, page, query=_query_for(turn, day.id), redraw=True)
    if op == "x" and not pickup.proxy_name:
        turn.go(LIST_FLOW, "proxy", pickup_id=pickup.id)
        turn.say("adm_daylist.ask_proxy", family=Raw(family.name),
                 buttons=[[Button(Msg("adm_daylist.btn_skip"), lact("skip", pickup.id))]])
    elif op == "x":
        turn.say("adm_daylist.marked_proxy", family=Raw(family.name),
                 name=Raw(pickup.proxy_name))


async def _skip_proxy(turn: Turn, program: Program, args: list[str]) -> None:
    if not (turn.convo.flow == LIST_FLOW and turn.convo.step == "proxy"
            and args and turn.data("pickup_id") == int_at(args, 0)):
        _stale(turn)
        return
    turn.go(LIST_FLOW, "list")
    turn.say("adm_daylist.proxy_skipped")


_DAYLIST_OPS = {
    "": _today_list, "pick": _pick_day, "d": _list, "all": _list_all, "f": _family,
    "m": _mark, "skip": _skip_proxy,
}


@router.flow(LIST_FLOW)
async def daylist_input(turn: Turn) -> None:
    if not guard(turn, STAFF, "daylist:input"):
        turn.go(None)
        return
    program = await program_or_say(turn, "adm_delivery.no_program")
    if program is None:
        return
    ev = turn.event
    text = " ".join((ev.text or "").split()) if ev.kind == EventKind.TEXT else ""
    if not text:
        turn.say("input.unsupported" if ev.kind == EventKind.UNSUPPORTED
                 else "adm_daylist.type_to_search")
        return
    if turn.convo.step == "proxy":
        found = await _staff_pickup(turn, program, turn.data("pickup_id"))
        if found is None:
            turn.go(LIST_FLOW, "list")
            return
        pickup, _, family = found
        name, rut = _proxy_words(text)
        pickup.proxy_name, pickup.proxy_rut = name[:200], rut
        turn.audit("pickup_proxy_noted", "pickup", pickup.id, proxy_name=pickup.proxy_name,
                   proxy_rut=rut)
        turn.go(LIST_FLOW, "list")
        turn.say("adm_daylist.marked_proxy", family=Raw(family.name), name=Raw(pickup.proxy_name))
        return
    day = await _staff_day(turn, program, turn.data("day_id"))
    if day is None:
        turn.go(None)
        return
    await _show_list(turn, program, day, 0, query=text[:60], redraw=False)


def _proxy_words(text: str) -> tuple[str, str | None]:
    """"Pedro Soto 12.345.678-5" → the name and, when its check digit is right, the RUT."""
    words = text.split()
    if words:
        rut = format_rut(words[-1])
        if rut is not None and len(words) > 1:
            return " ".join(words[:-1]), rut
    return text, None
