"""Pickup notices for families: the date, hour window and place (or the home delivery), and
the family's answer: it comes, it cannot, someone else picks up, or it needs another date."""

from __future__ import annotations

import re
import unicodedata
from zoneinfo import ZoneInfo

from domain.rut import format_rut
from handlers.core import Router, Turn
from handlers.events import Button, EventKind, Outgoing
from locales import Day, Msg, Raw, When
from services.delivery import place_of, window_of
from services.pickups import (
    ACTION,
    FLOW,
    answer_buttons,
    home_address,
    move_family,
    tell_team,
)
from storage import delivery, pickups
from storage.delivery import DeliveryError
from storage.models import DeliveryDay, Family, Pickup, PickupStatus, Program
from storage.pickups import PickupError

# Days offered to a family that asks for another date: a short list fits a phone and stays
# well inside a chat's limits on buttons.
NEW_DAYS_SHOWN = 4

router = Router()


# --- what the family reads ------------------------------------------------------------


def proxy_rut(pickup: Pickup) -> Msg | Raw:
    """The proxy's RUT, or what stands for it when the family did not know it."""
    if pickup.proxy_rut:
        return Raw(pickup.proxy_rut)
    if pickup.status == PickupStatus.PICKED_UP:
        return Msg("pickup.rut_not_noted")
    return Msg("pickup.rut_to_check")


def _answer(pickup: Pickup) -> Msg:
    status = pickup.status
    if status == PickupStatus.PROXY:
        return Msg("pickup.answer_proxy", {"name": Raw(pickup.proxy_name or ""),
                                           "rut": proxy_rut(pickup)})
    if status == PickupStatus.CONFIRMED:
        return Msg("pickup.answer_confirmed")
    if status == PickupStatus.CANNOT:
        return Msg("pickup.answer_cannot")
    if status == PickupStatus.RESCHEDULE:
        return Msg("pickup.answer_reschedule")
    if status == PickupStatus.PICKED_UP:
        return Msg("pickup.answer_picked_up")
    if status == PickupStatus.NO_SHOW:
        return Msg("pickup.answer_no_show")
    if status == PickupStatus.MOVED:
        return Msg("pickup.answer_moved")
    return Msg("pickup.answer_pending")


def _phone(family: Family) -> Msg | Raw:
    return Raw(family.phone) if family.phone else Msg("pickup.phone_unknown")


# --- conversation helpers -------------------------------------------------------------------


def _enter(turn: Turn, step: str, **data: object) -> None:
    """Start a question afresh, dropping what an earlier one (or another flow) left behind."""
    turn.go(None)
    turn.go(FLOW, step, **data)


def _explain(turn: Turn, problem: str) -> None:
    if problem == "cancelled":
        turn.say("pickup.cancelled")
    elif problem == "closed":
        turn.say("pickup.closed")
    elif problem == "moved":
        turn.say("pickup.moved_away")
    else:
        turn.say("pickup.too_late")


def _audit(turn: Turn, pickup: Pickup) -> None:
    details: dict[str, object] = {"status": pickup.status}
    for name in ("reason", "proxy_name", "proxy_rut"):
        value = getattr(pickup, name)
        if value:
            details[name] = value
    turn.audit("pickup_answer", "pickup", pickup.id, **details)


async def _own_pickup(turn: Turn, pickup_id: int | None) -> (
    tuple[Pickup, DeliveryDay, Family] | None
):
    """The pickup, if it belongs to this person's family (links can change after a button
    was sent)."""
    if pickup_id is None:
        return None
    pickup = await turn.session.get(Pickup, pickup_id)
    if pickup is None:
        return None
    family = await pickups.family_of_person(turn.session, turn.person.id)
    if family is None or family.id != pickup.family_id:
        return None
    return pickup, await pickups.day_of(turn.session, pickup), family


async def _record(turn: Turn, pickup: Pickup, status: str, **fields: str | None) -> bool:
    try:
        await pickups.respond(turn.session, pickup, status, turn.now, **fields)
    except PickupError as exc:
        turn.go(None)
        _explain(turn, exc.code)
        return False
    _audit(turn, pickup)
    return True


def _show(turn: Turn, pickup: Pickup, day: DeliveryDay, family: Family) -> None:
    home = pickups.is_home_delivery(day, family)
    params = {"window": window_of(day), "answer": _answer(pickup)}
    if home:
        params["address"] = home_address(family)
    else:
        params["place"] = place_of(day)
    problem = pickups.why_not_answerable(pickup, day, turn.now)
    buttons = None if problem else answer_buttons(pickup, home)
    text = Msg("pickup.next_home", params) if home else Msg("pickup.next", params)
    turn.send(Outgoing(text=text, buttons=tuple(tuple(row) for row in buttons or [])))
    if problem:
        if turn.convo.flow == FLOW:
            turn.go(None)
        _explain(turn, problem)
        return
    _enter(turn, "choose", pickup_id=pickup.id)


def _ask_reason(turn: Turn, pickup: Pickup, status: str) -> None:
    skip = [[Button(Msg("pickup.btn_skip"), f"{ACTION}:{pickup.id}:skip")]]
    if status == PickupStatus.RESCHEDULE:
        turn.say("pickup.ask_reason_reschedule", buttons=skip)
    else:
        turn.say("pickup.ask_reason_cannot", buttons=skip)


def _ask_proxy_name(turn: Turn, home: bool) -> None:
    if home:
        turn.say("pickup.ask_proxy_name_home")
    else:
        turn.say("pickup.ask_proxy_name")


def _ask_proxy_rut(turn: Turn, pickup: Pickup, name: str) -> None:
    turn.say("pickup.ask_proxy_rut", name=Raw(name),
             buttons=[[Button(Msg("pickup.btn_rut_unknown"), f"{ACTION}:{pickup.id}:norut")]])


def _after_reason(turn: Turn, status: str, given: bool) -> None:
    turn.go(None)
    if status == PickupStatus.RESCHEDULE:
        turn.say("pickup.reschedule_done")
    elif given:
        turn.say("pickup.reason_saved")
    else:
        turn.say("pickup.reason_skipped")


_NOT_KNOWN = re.compile(
    r"(no|nop|nose|ni idea|sin rut|desconozco|no tiene rut"
    r"|no (lo |la )?(se|sabe|sabemos|tengo|tiene|recuerdo|me acuerdo|conozco)( .*)?"
    r"|(i )?(dont|do not) know( .*)?|no idea|unknown|not sure|no clue)")


def says_not_known(text: str) -> bool:
    """"No lo sé", "nose", "ni idea", "I don't know"...: the family does not know the RUT."""
    plain = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(ch for ch in plain if not unicodedata.combining(ch))
    plain = " ".join(re.sub(r"[^\w\s]", "", plain).split())
    return bool(_NOT_KNOWN.fullmatch(plain))


async def _save_proxy(turn: Turn, pickup: Pickup, day: DeliveryDay, family: Family,
                      rut: str | None) -> None:
    name = turn.data("proxy_name")
    if not await _record(turn, pickup, PickupStatus.PROXY, proxy_name=name, proxy_rut=rut):
        return
    turn.go(None)
    home = pickups.is_home_delivery(day, family)
    params = {"name": Raw(name), "window": window_of(day)}
    if rut:
        key = "pickup.proxy_done_home" if home else "pickup.proxy_done"
        turn.say(key, rut=Raw(rut), **params)
    else:
        turn.say("pickup.proxy_done_no_rut_home" if home else "pickup.proxy_done_no_rut",
                 **params)


# --- another date, asked by the family ------------------------------------------------------


def _day_button(day: DeliveryDay, tz: str, pickup: Pickup) -> Button:
    on = day.window_start.astimezone(ZoneInfo(tz)).date()
    label = Msg("pickup.btn_day", {"day": Day(on, "short"), "start": When(day.window_start, "time"),
                                   "end": When(day.window_end, "time")})
    return Button(label, f"{ACTION}:{pickup.id}:to:{day.id}")


async def _offer_days(turn: Turn, pickup: Pickup, day: DeliveryDay, family: Family) -> None:
    """The family asked for another date: its programme's next days, one tap each."""
    options = await delivery.days_to_move_to(turn.session, pickup, day, turn.now,
                                             limit=NEW_DAYS_SHOWN)
    if not options:
        turn.go(None)
        # Days ahead on which the family is already expected are not "another date": moving
        # there would cost it a basket, which is for the team to decide.
        booked = any(d.mode == day.mode and d.id != day.id and d.window_start > turn.now
                     for d in await delivery.days_from(turn.session, day.program_id, turn.now))
        why = "booked" if booked else "nodays"
        text = Msg(f"pickup.team_{'all_booked' if booked else 'no_days'}", {
            "family": Raw(family.name), "window": window_of(day), "phone": _phone(family)})
        await tell_team(turn.session, family, text, f"team:pickup:{pickup.id}:{why}", turn.now)
        turn.audit("pickup_new_date_none", "pickup", pickup.id, offered=0, why=why)
        turn.say("pickup.all_days_booked" if booked else "pickup.no_other_days")
        return
    program = await turn.session.get(Program, day.program_id)
    tz = program.timezone if program else turn.services.timezone
    rows = [Msg("notice.pickup_dates_row_home" if pickups.is_home_delivery(d, family)
                else "notice.pickup_dates_row", {"window": window_of(d), "place": place_of(d)})
            for d in options]
    buttons = [[_day_button(d, tz, pickup)] for d in options]
    buttons.append([Button(Msg("pickup.btn_no_day_fits"), f"{ACTION}:{pickup.id}:none")])
    _enter(turn, "new_day", pickup_id=pickup.id, offered=[d.id for d in options])
    turn.say("pickup.ask_new_day", rows=rows, buttons=buttons)


async def _ask_new_date(turn: Turn, pickup: Pickup, day: DeliveryDay, family: Family) -> None:
    if pickup.status == PickupStatus.PICKED_UP:
        turn.go(None)
        _explain(turn, "closed")
        return
    if pickup.status == PickupStatus.MOVED or pickup.moved_to_id is not None:
        turn.go(None)
        _explain(turn, "moved")
        return
    # Before the window the answer itself changes; after it (a missed pickup) the day keeps
    # what happened and only the new date is arranged.
    if pickups.why_not_answerable(pickup, day, turn.now) is None:
        if not await _record(turn, pickup, PickupStatus.RESCHEDULE):
            return
    await _offer_days(turn, pickup, day, family)


async def _choose_new_day(turn: Turn, pickup: Pickup, day: DeliveryDay, family: Family,
                          day_id: int | None) -> None:
    offered = turn.data("offered") or []
    in_step = (turn.convo.flow == FLOW and turn.convo.step == "new_day"
               and turn.data("pickup_id") == pickup.id)
    to_day = await delivery.get_day(turn.session, day.program_id, day_id) if day_id else None
    if not in_step or to_day is None or to_day.id not in offered:
        turn.say("input.button_stale")
        return
    try:
        moved = await move_family(turn.session, pickup, to_day, turn.now, by_family=True)
    except DeliveryError:
        # Taken in the meantime (cancelled, begun, or the team moved the family already).
        turn.say("pickup.day_gone")
        await _ask_new_date(turn, pickup, day, family)
        return
    turn.audit("pickup_moved", "pickup", pickup.id, to_pickup=moved.pickup.id,
               to_day=to_day.id, by="family", team_told=moved.team_told)
    turn.go(None)
    if pickups.is_home_delivery(to_day, family):
        turn.say("pickup.moved_done_home", window=window_of(to_day))
    else:
        turn.say("pickup.moved_done", window=window_of(to_day), place=place_of(to_day))


async def _no_day_fits(turn: Turn, pickup: Pickup, day: DeliveryDay, family: Family) -> None:
    if not (turn.convo.flow == FLOW and turn.convo.step == "new_day"
            and turn.data("pickup_id") == pickup.id):
        turn.say("input.button_stale")
        return
    text = Msg("pickup.team_no_fit", {"family": Raw(family.name), "window": window_of(day),
                                      "phone": _phone(family)})
    await tell_team(turn.session, family, text, f"team:pickup:{pickup.id}:nofit", turn.now)
    turn.audit("pickup_new_date_none", "pickup", pickup.id,
               offered=len(turn.data("offered") or []))
    _enter(turn, "reason", pickup_id=pickup.id, status=str(PickupStatus.RESCHEDULE))
    turn.say("pickup.no_day_fits")
    _ask_reason(turn, pickup, PickupStatus.RESCHEDULE)


# --- commands, buttons, free input ----------------------------------------------------------


@router.command("retiro", "pickup")
async def next_pickup(turn: Turn) -> None:
    family = await pickups.family_of_person(turn.session, turn.person.id)
    if family is None:
        turn.say("pickup.not_family")
        return
    upcoming = await pickups.next_for_family(turn.session, family.id, turn.now)
    if upcoming is None:
        turn.say("pickup.none")
        return
    _show(turn, upcoming.pickup, upcoming.day, family)


@router.on_action(ACTION)
async def on_answer(turn: Turn) -> None:
    parts = (turn.action or "").split(":")
    found = await _own_pickup(turn, int(parts[1])) \
        if len(parts) in (3, 4) and parts[1].isdigit() else None
    if found is None:
        turn.say("input.button_stale")
        return
    pickup, day, family = found
    what = parts[2]
    home = pickups.is_home_delivery(day, family)
    if what == "skip":
        in_step = (turn.convo.flow == FLOW and turn.convo.step == "reason"
                   and turn.data("pickup_id") == pickup.id)
        if not in_step:
            turn.say("input.button_stale")
            return
        _after_reason(turn, turn.data("status"), given=False)
        return
    # Another date can be asked for at any time, a missed pickup included.
    if what == "rs":
        await _ask_new_date(turn, pickup, day, family)
        return
    if what == "to":
        await _choose_new_day(turn, pickup, day, family,
                              int(parts[3]) if len(parts) == 4 and parts[3].isdigit() else None)
        return
    if what == "none":
        await _no_day_fits(turn, pickup, day, family)
        return
    problem = pickups.why_not_answerable(pickup, day, turn.now)
    if problem:
        if turn.convo.flow == FLOW:
            turn.go(None)
        _explain(turn, problem)
        return
    if what == "ok":
        if await _record(turn, pickup, PickupStatus.CONFIRMED):
            turn.go(None)
            if home:
                turn.say("pickup.confirmed_home", window=window_of(day))
            else:
                turn.say("pickup.confirmed", window=window_of(day), place=place_of(day))
    elif what == "no":
        # The answer counts at once: the reason is a courtesy the family may skip.
        if await _record(turn, pickup, PickupStatus.CANNOT):
            _enter(turn, "reason", pickup_id=pickup.id, status=str(PickupStatus.CANNOT))
            _ask_reason(turn, pickup, PickupStatus.CANNOT)
    elif what == "px":
        _enter(turn, "proxy_name", pickup_id=pickup.id)
        _ask_proxy_name(turn, home)
    elif what == "norut":
        if not (turn.convo.flow == FLOW and turn.convo.step == "proxy_rut"
                and turn.data("pickup_id") == pickup.id):
            turn.say("input.button_stale")
            return
        await _save_proxy(turn, pickup, day, family, None)
    else:
        turn.say("input.button_stale")


def _proxy_name(text: str) -> str | None:
    name = " ".join(text.split())
    words = name.split(" ")
    if len(words) < 2 or len(name) > 200 or any(ch.isdigit() for ch in name):
        return None
    if not all(any(ch.isalpha() for ch in w) for w in words):
        return None
    return name


@router.flow(FLOW)
async def pickup_input(turn: Turn) -> None:
    found = await _own_pickup(turn, turn.data("pickup_id"))
    if found is None:
        turn.go(None)
        turn.say("input.not_understood")
        return
    pickup, day, family = found
    step = turn.convo.step
    home = pickups.is_home_delivery(day, family)
    ev = turn.event
    text = (ev.text or "").strip() if ev.kind == EventKind.TEXT else ""
    if step == "new_day":
        turn.say("input.unsupported" if ev.kind == EventKind.UNSUPPORTED
                 else "pickup.use_buttons")
        await _offer_days(turn, pickup, day, family)
        return
    if step == "choose":
        if pickups.why_not_answerable(pickup, day, turn.now):
            # The moment for this answer has passed: the text is about something else.
            turn.go(None)
            turn.say("input.not_understood")
            return
        if ev.kind == EventKind.UNSUPPORTED:
            turn.say("input.unsupported")
        else:
            turn.say("pickup.use_buttons")
        _show(turn, pickup, day, family)
        return
    if not text:
        if ev.kind == EventKind.UNSUPPORTED:
            turn.say("input.unsupported")
        _reask(turn, pickup, step, home)
        return
    if step == "reason":
        status = turn.data("status")
        if status == PickupStatus.RESCHEDULE:
            # Which dates suit the family, for the team; kept even after a missed day.
            await pickups.note_reason(turn.session, pickup, text)
            _audit(turn, pickup)
            _after_reason(turn, status, given=True)
        elif await _record(turn, pickup, status, reason=text):
            _after_reason(turn, status, given=True)
    elif step == "proxy_name":
        name = _proxy_name(text)
        if name is None:
            turn.say("pickup.proxy_name_invalid")
            return
        turn.go(FLOW, "proxy_rut", proxy_name=name)
        _ask_proxy_rut(turn, pickup, name)
    elif step == "proxy_rut":
        if says_not_known(text):
            await _save_proxy(turn, pickup, day, family, None)
            return
        rut = format_rut(text)
        if rut is None:
            turn.say("pickup.proxy_rut_invalid", buttons=[[
                Button(Msg("pickup.btn_rut_unknown"), f"{ACTION}:{pickup.id}:norut")]])
            return
        await _save_proxy(turn, pickup, day, family, rut)
    else:
        turn.go(None)
        turn.say("input.not_understood")


def _reask(turn: Turn, pickup: Pickup, step: str | None, home: bool) -> None:
    if step == "reason":
        _ask_reason(turn, pickup, turn.data("status"))
    elif step == "proxy_name":
        _ask_proxy_name(turn, home)
    elif step == "proxy_rut":
        _ask_proxy_rut(turn, pickup, turn.data("proxy_name") or "")
    else:
        turn.go(None)
        turn.say("input.not_understood")
