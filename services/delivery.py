"""Delivery days as the team and the families read them, and cancelling a day: shared by the
chat's panel, `convoca delivery ...` and the scheduler's notices."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from locales import Msg, Raw, When
from services.messages import Outgoing
from storage import delivery, outbox, pickups
from storage.models import DeliveryDay, PickupMode, PickupStatus

STATUS_ICONS = {
    PickupStatus.PENDING: "no_answer", PickupStatus.NOTIFIED: "no_answer",
    PickupStatus.CONFIRMED: "confirmed", PickupStatus.CANNOT: "cannot",
    PickupStatus.PROXY: "proxy", PickupStatus.RESCHEDULE: "reschedule",
    PickupStatus.PICKED_UP: "picked_up", PickupStatus.NO_SHOW: "no_show",
    PickupStatus.MOVED: "moved",
}
MOVE_ERRORS = ("picked_up", "already_moved", "same_day", "other_program", "cancelled", "begun",
               "already_on_day")
REFUSALS = ("already_cancelled", "over", "repeat_without_end", "until_before_first",
            "unknown_mode", "end_before_start", "no_dates", "too_many_days", "unknown_target",
            "unknown_policy", "window_past")


def window_of(day: DeliveryDay) -> Msg:
    return Msg("fmt.window", {
        "date": When(day.window_start, "date"),
        "start": When(day.window_start, "time"),
        "end": When(day.window_end, "time"),
    })


def place_of(day: DeliveryDay) -> Msg | Raw:
    parts = [p.strip() for p in (day.place, day.address) if p and p.strip()]
    return Raw(", ".join(parts)) if parts else Msg("pickup.place_unknown")


def where_of(day: DeliveryDay) -> Msg | Raw:
    if day.mode == PickupMode.DOMICILIO and not day.place:
        return Msg("adm_delivery.mode_home")
    return place_of(day)


def day_summary(day: DeliveryDay, counts: dict[str, int], total: int) -> Msg:
    grouped = delivery.grouped_counts(counts)
    return Msg("adm_daylist.header", {
        "window": window_of(day), "place": where_of(day), "total": total,
        "counts": Msg("adm_daylist.counts", grouped),
    })


def status_label(status: str) -> Msg:
    """A pickup's status as the staff reads it."""
    return Msg(f"adm_daylist.status_{STATUS_ICONS.get(status, 'no_answer')}")


def proxy_rut(rut: str | None, status: str) -> Msg | Raw:
    """A RUT the family did not know is checked at the pickup; after it, it was not noted."""
    if rut:
        return Raw(rut)
    return Msg("adm_daylist.rut_not_noted" if status == PickupStatus.PICKED_UP
               else "adm_daylist.rut_to_check")


def move_error(code: str) -> Msg:
    """Why a family could not be moved, as the team reads it (chat and command line)."""
    return Msg(f"adm_delivery.move_error_{code if code in MOVE_ERRORS else 'other'}")


def refusal(code: str) -> Msg:
    """Why delivery days could not be made, filled or cancelled (a DeliveryError), in words:
    chat and command line alike."""
    if code in MOVE_ERRORS:
        return move_error(code)
    return Msg(f"adm_delivery.refusal_{code if code in REFUSALS else 'other'}",
               {"max": delivery.MAX_DAYS})


async def cancel_day(session: AsyncSession, day: DeliveryDay, now: datetime) -> list[int]:
    """Cancel the day and tell every family that already had the date; returns the outbox
    rows of the notices queued. The chat, the command line and the panel all call this."""
    told = await delivery.cancel(session, day, now)
    queued: list[int] = []
    for pickup, family in told:
        home = pickups.is_home_delivery(day, family)
        text = Msg("adm_delivery.cancel_notice_home" if home else "adm_delivery.cancel_notice",
                   {"family": Raw(family.name), "window": window_of(day), "place": where_of(day)})
        # Like the date itself, knowing it is off is what the family needs: essential.
        new_id = await outbox.enqueue_for_person(
            session, family.person_id, Outgoing(text=text).to_json(),
            key=f"pickup:{pickup.id}:cancelled", kind="pickup_cancelled", now=now,
            expires_at=day.window_end, essential=True,
        )
        if new_id is not None:
            queued.append(new_id)
    return queued
