"""Pickups as the family and the team hear of them: the notice of a delivery day with its four
answers, queueing it, telling the team, and moving a family to another day. The family's
chat (handlers.pickups), the panel, `convoca delivery ...` and the scheduler's notices call
these.

The notice's buttons are ``pk:<pickup id>:<op>``; handlers.pickups answers them, in its
flow ``pickup``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from locales import Msg, Raw
from services.delivery import place_of, window_of
from services.messages import Button, Outgoing
from storage import delivery, outbox, people, pickups
from storage.models import DeliveryDay, Family, Pickup

FLOW = "pickup"
ACTION = "pk"


# --- what the family reads ------------------------------------------------------------


def home_address(family: Family) -> Msg | Raw:
    return Raw(family.address) if family.address else Msg("pickup.address_unknown")


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


def pickup_notice(pickup: Pickup, day: DeliveryDay, family: Family, *,
                  moved: bool = False) -> Outgoing:
    """The notice a family gets for a delivery day, with its four answers as buttons;
    ``moved`` when the team has just moved the family to this day."""
    home = pickups.is_home_delivery(day, family)
    params = {"family": Raw(family.name), "window": window_of(day)}
    key = "pickup.moved_notice" if moved else "pickup.notice"
    if home:
        text = Msg(f"{key}_home", {**params, "address": home_address(family)})
    else:
        text = Msg(key, {**params, "place": place_of(day)})
    buttons = answer_buttons(pickup, home)
    return Outgoing(text=text, buttons=tuple(tuple(row) for row in buttons))


async def send_pickup_notice(session: AsyncSession, pickup: Pickup, now: datetime, *,
                             moved: bool = False) -> int | None:
    """Queue the notice for the family's contact person and mark the pickup notified.

    Returns the outbox id, or None when nothing was queued: no one to write to, the day is
    cancelled or over, the person asked with /stop for no notices, or it was queued before."""
    day = await pickups.day_of(session, pickup)
    family = await session.get(Family, pickup.family_id)
    if family is None or family.person_id is None or day.cancelled_at is not None:
        return None
    if now >= day.window_end:
        return None
    out = pickup_notice(pickup, day, family, moved=moved)
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


# --- another day: the one step the family's chat, the panel and the CLI share -------------


@dataclass(frozen=True)
class Moved:
    pickup: Pickup  # the family's pickup on its new day
    day: DeliveryDay
    family_told: bool  # the notice of the new date was queued for the family
    team_told: int  # notices queued for the gestora and coordinadora


async def move_family(session: AsyncSession, pickup: Pickup, to_day: DeliveryDay,
                      now: datetime, *, by_family: bool) -> Moved:
    """Move the family of ``pickup`` to ``to_day``. When the family chose the day the team
    is told; when the team moved it, the family gets the new date with its answers.

    Raises DeliveryError when the move is not possible (see ``delivery.move``)."""
    from_day = await pickups.day_of(session, pickup)
    family = await session.get(Family, pickup.family_id)
    assert family is not None  # the foreign key guarantees it
    new = await delivery.move(session, pickup, to_day, now, chosen_by_family=by_family)
    if by_family:
        text = Msg("pickup.team_moved", {"family": Raw(family.name),
                                         "old": window_of(from_day), "new": window_of(to_day)})
        told = await tell_team(session, family, text, f"team:pickup:{pickup.id}:moved", now)
        return Moved(new, to_day, False, told)
    sent = await send_pickup_notice(session, new, now, moved=True)
    return Moved(new, to_day, sent is not None, 0)


async def tell_team(session: AsyncSession, family: Family, text: Msg, key: str,
                    now: datetime) -> int:
    """Queue ``text`` for each gestora and coordinadora of the family's programme; returns
    how many were queued (someone unreachable or erased is skipped)."""
    told = 0
    for person_id in await pickups.team_of(session, family.program_id):
        new_id = await outbox.enqueue_for_person(
            session, person_id, Outgoing(text=text).to_json(), key=f"{key}:{person_id}",
            kind="pickup_team", now=now)
        told += new_id is not None
    return told


# --- a whole day to another date: the panel and the command line ------------------------


async def move_day(session: AsyncSession, day: DeliveryDay, start: datetime, end: datetime,
                   now: datetime) -> list[int]:
    """Move the day to the window ``start``-``end`` (aware UTC) and send every family that
    already had the old date the new one, with its answers; returns the outbox rows of the
    notices queued (the panel wakes the outbox for them after its commit). The families not told yet hear the new date when the scheduler's notice is due.

    Raises DeliveryError when the day cannot move (see ``delivery.reschedule``)."""
    told = await delivery.reschedule(session, day, start, end, now)
    queued: list[int] = []
    for pickup, family in told:
        out = pickup_notice(pickup, day, family, moved=True)
        # One key per new date: a day moved twice is told twice, each time once.
        new_id = await outbox.enqueue_for_person(
            session, family.person_id, out.to_json(),
            key=f"pickup:{pickup.id}:day_moved:{start:%Y%m%dT%H%M}", kind="pickup_notice",
            now=now, expires_at=day.window_end, essential=True,
        )
        if new_id is not None:
            queued.append(new_id)
            await notice_queued(session, pickup, family, now)
    return queued
