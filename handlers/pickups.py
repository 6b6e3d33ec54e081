"""Pickup notices for families: the date, hour window and place (or the home delivery), and
the family's answer: it comes, it cannot, someone else picks up, or it needs another date."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from handlers.core import Router, Turn
from handlers.events import Button, EventKind, Outgoing
from locales import Msg, Raw, When
from storage import outbox, people, pickups
from storage.models import DeliveryDay, Family, Pickup, PickupStatus
from storage.pickups import PickupError

FLOW = "pickup"
ACTION = "pk"

router = Router()


# --- what the family reads ------------------------------------------------------------


def window_of(day: DeliveryDay) -> Msg:
    return Msg("fmt.window", {
        "date": When(day.window_start, "date"),
        "start": When(day.window_start, "time"),
        "end": When(day.window_end, "time"),
    })


def place_of(day: DeliveryDay) -> Msg | Raw:
    parts = [p.strip() for p in (day.place, day.address) if p and p.strip()]
    return Raw(", ".join(parts)) if parts else Msg("pickup.place_unknown")


def _home_address(family: Family) -> Msg | Raw:
    return Raw(family.address) if family.address else Msg("pickup.address_unknown")


def _answer(pickup: Pickup) -> Msg:
    status = pickup.status
    if status == PickupStatus.PROXY:
        return Msg("pickup.answer_proxy", {"name": Raw(pickup.proxy_name or ""),
                                           "rut": Raw(pickup.proxy_rut or "")})
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
    return Msg("pickup.answer_pending")


def answer_buttons(pickup: Pickup, home: bool) -> list[list[Button]]:
    p = pickup.id
    return [
        [Button(Msg("pickup.btn_confirm"), f"{ACTION}:{p}:ok")],
        [Button(Msg("pickup.btn_cannot_home") if home else Msg("pickup.btn_cannot"),
                f"{ACTION}:{p}:no")],
        [Button(Msg("pickup.btn_proxy_home") if home else Msg("pickup.btn_proxy"),
                f"{ACTION}:{p}:px")],
        [Button(Msg("pickup.btn_reschedule"), f"{ACTION}:{p}:rs")],
    ]


def pickup_notice(pickup: Pickup, day: DeliveryDay, family: Family) -> Outgoing:
    """The notice a family gets for a delivery day, with its four answers as buttons."""
    home = pickups.is_home_delivery(day, family)
    params = {"family": Raw(family.name), "window": window_of(day)}
    if home:
        text = Msg("pickup.notice_home", {**params, "address": _home_address(family)})
    else:
        text = Msg("pickup.notice", {**params, "place": place_of(day)})
    buttons = answer_buttons(pickup, home)
    return Outgoing(text=text, buttons=tuple(tuple(row) for row in buttons))


async def send_pickup_notice(session: AsyncSession, pickup: Pickup, now: datetime) -> int | None:
    """Queue the notice for the family's contact person and mark the pickup notified.

    Returns the outbox id, or None when nothing was queued: no one to write to, the day is
    cancelled or over, the person asked with /stop for no notices, or it was queued before."""
    day = await pickups.day_of(session, pickup)
    family = await session.get(Family, pickup.family_id)
    if family is None or family.person_id is None or day.cancelled_at is not None:
        return None
    if now >= day.window_end:
        return None
    out = pickup_notice(pickup, day, family)
    # The date itself is what a family needs to get its basket: it goes even after /stop.
    new_id = await outbox.enqueue_for_person(
        session, family.person_id, out.to_json(), key=f"pickup:{pickup.id}:notice",
        kind="pickup_notice", now=now, expires_at=day.window_end, essential=True,
    )
    if new_id is None:
        return None
    await notice_queued(session, pickup, family, now)
    return new_id


async def notice_queued(session: AsyncSession, pickup: Pickup, family: Family,
                        now: datetime) -> None:
    """What follows a queued notice, whoever queued it (the gestora or the scheduler)."""
    await pickups.mark_notified(session, pickup, now)
    if family.person_id is None:
        return
    # Free text right after the notice is most likely an answer to it; a person already in
    # another conversation is left where they are.
    convo = await people.conversation(session, family.person_id, now)
    if convo.flow is None:
        convo.flow, convo.step = FLOW, "choose"
        convo.data, convo.updated_at = {"pickup_id": pickup.id}, now


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
    else:
        turn.say("pickup.too_late")


def _audit(turn: Turn, pickup: Pickup) -> None:
    details = {"status": pickup.status}
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
        params["address"] = _home_address(family)
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


def _after_reason(turn: Turn, status: str, given: bool) -> None:
    turn.go(None)
    if status == PickupStatus.RESCHEDULE:
        turn.say("pickup.reschedule_done")
    elif given:
        turn.say("pickup.reason_saved")
    else:
        turn.say("pickup.reason_skipped")


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
    found = await _own_pickup(turn, int(parts[1])) if len(parts) == 3 and parts[1].isdigit() \
        else None
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
    elif what in ("no", "rs"):
        status = PickupStatus.CANNOT if what == "no" else PickupStatus.RESCHEDULE
        # The answer counts at once: the reason is a courtesy the family may skip.
        if await _record(turn, pickup, status):
            _enter(turn, "reason", pickup_id=pickup.id, status=str(status))
            _ask_reason(turn, pickup, status)
    elif what == "px":
        _enter(turn, "proxy_name", pickup_id=pickup.id)
        _ask_proxy_name(turn, home)
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
        if await _record(turn, pickup, status, reason=text):
            _after_reason(turn, status, given=True)
    elif step == "proxy_name":
        name = _proxy_name(text)
        if name is None:
            turn.say("pickup.proxy_name_invalid")
            return
        turn.go(FLOW, "proxy_rut", proxy_name=name)
        turn.say("pickup.ask_proxy_rut", name=Raw(name))
    elif step == "proxy_rut":
        rut = pickups.format_rut(text)
        if rut is None:
            turn.say("pickup.proxy_rut_invalid")
            return
        name = turn.data("proxy_name")
        if await _record(turn, pickup, PickupStatus.PROXY, proxy_name=name, proxy_rut=rut):
            turn.go(None)
            params = {"name": Raw(name), "rut": Raw(rut), "window": window_of(day)}
            if home:
                turn.say("pickup.proxy_done_home", **params)
            else:
                turn.say("pickup.proxy_done", **params)
    else:
        turn.go(None)
        turn.say("input.not_understood")


def _reask(turn: Turn, pickup: Pickup, step: str | None, home: bool) -> None:
    if step == "reason":
        _ask_reason(turn, pickup, turn.data("status"))
    elif step == "proxy_name":
        _ask_proxy_name(turn, home)
    elif step == "proxy_rut":
        turn.say("pickup.ask_proxy_rut", name=Raw(turn.data("proxy_name") or ""))
    else:
        turn.go(None)
        turn.say("input.not_understood")
