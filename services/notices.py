"""What each scheduled notice says: the scheduler decides *when*, this decides *what*.

Injected into the scheduler by ``main`` so that the scheduler stays free of conversation code.
Every builder re-reads the rows, so a notice composed late says what is true now; ``None``
means the notice no longer applies (a meeting moved, a milestone was marked done)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from locales import Day, Msg, Raw, Text
from scheduler.planner import Notice
from services.messages import Button, Outgoing
from storage.models import (
    Body,
    DeliveryDay,
    Family,
    MeetingStatus,
    Milestone,
    Pickup,
    PickupStatus,
    Program,
    RsvpAnswer,
)

# Builders get the moment of composing: a notice sent late must not say "in 7 days".
Builder = Callable[[AsyncSession, Notice, datetime], Awaitable[Outgoing | None]]
BUILDERS: dict[str, Builder] = {}


def builder(*kinds: str) -> Callable[[Builder], Builder]:
    def deco(fn: Builder) -> Builder:
        for k in kinds:
            BUILDERS[k] = fn
        return fn
    return deco


async def compose(session: AsyncSession, notice: Notice, now: datetime
                  ) -> dict[str, Any] | None:
    build = BUILDERS.get(notice.kind)
    if build is None:
        raise LookupError(f"no builder for notice kind {notice.kind!r}")
    out = await build(session, notice, now)
    return out.to_json() if out is not None else None


@builder("milestone_soon", "milestone_overdue")
async def milestone(session: AsyncSession, n: Notice, now: datetime) -> Outgoing | None:
    rows = (await session.scalars(
        select(Milestone).where(Milestone.id.in_(n.subject["milestone_ids"]))
        .order_by(Milestone.key)
    )).all()
    # Only what is still open and still due that day: marked done or moved, it is left out.
    still = [m for m in rows if m.done_at is None and m.due.isoformat() == n.subject["due"]]
    if not still:
        return None
    names = [Msg("notice.milestone_row", {"name": Text(m.name)}) for m in still]
    due = Day(still[0].due)
    if n.kind == "milestone_soon":
        # Counted from today, not from when it was planned: after downtime it may go late.
        program = await session.get(Program, still[0].program_id)
        assert program is not None  # a milestone always has its programme
        zone = ZoneInfo(program.timezone)
        days = (still[0].due - now.astimezone(zone).date()).days
        if days < 0:
            return None  # past: the overdue notice speaks now
        if days == 0:
            return Outgoing(text=Msg("notice.milestone_today", {"names": names, "due": due}))
        return Outgoing(text=Msg("notice.milestone_soon",
                                 {"names": names, "due": due, "count": days}))
    return Outgoing(text=Msg("notice.milestone_overdue", {"names": names, "due": due}))


@builder("action_due")
async def action_due(session: AsyncSession, n: Notice, now: datetime) -> Outgoing | None:
    """The responsible person's actions due that day or ACTION_DAYS_BEFORE after it, each
    with its status buttons; what was reported done, moved or handed to someone else is
    left out."""
    from scheduler.planner import ACTION_DAYS_BEFORE
    from services import followup
    from storage import actions

    day = date.fromisoformat(n.subject["day"])
    rows = [a for a in await actions.by_ids(session, n.subject["action_ids"])
            if a.status in actions.OPEN and a.responsible_person_id == n.person_id
            and a.due is not None
            and (a.due - day).days in (0, ACTION_DAYS_BEFORE)]
    if not rows:
        return None
    program = await session.get(Program, rows[0].program_id)
    assert program is not None
    today = max(day, now.astimezone(ZoneInfo(program.timezone)).date())
    if any(a.due < today for a in rows):
        rows = [a for a in rows if a.due >= today]  # sent late: the overdue notice speaks
        if not rows:
            return None
    if len(rows) == 1:
        [item] = rows
        assert item.due is not None
        return Outgoing(text=Msg("actas.notice_due_one", {
            "text": Raw(followup.short(item.text, 200)), "when": followup.when(item.due, today)}),
            buttons=(tuple(followup.status_buttons(item)),))
    return Outgoing(
        text=Msg("actas.notice_due_many",
                 {"rows": [followup.row(i, a, today) for i, a in enumerate(rows, 1)]}),
        buttons=tuple(tuple(followup.status_buttons(a, i)) for i, a in enumerate(rows, 1)))


@builder("action_overdue")
async def action_overdue(session: AsyncSession, n: Notice, now: datetime) -> Outgoing | None:
    from services import followup
    from storage import actions

    rows = [a for a in await actions.by_ids(session, n.subject["action_ids"])
            if a.status in actions.OPEN and a.due is not None
            and a.due.isoformat() == n.subject["due"]]
    if not rows:
        return None
    lines = [Msg("actas.overdue_row", {"text": Raw(followup.short(a.text, 120)),
                                       "who": Raw(await followup.responsible(session, a)
                                                  or "—")})
             for a in rows]
    return Outgoing(text=Msg("actas.notice_overdue", {"due": Day(rows[0].due),
                                                      "rows": lines}))


async def _overdue_actions(session: AsyncSession, program_id: int, today: date) -> list[Msg]:
    from services import followup
    from storage import actions

    return [Msg("actas.digest_row", {"due": Day(a.due), "text": Raw(followup.short(a.text)),
                                     "who": Raw(await followup.responsible(session, a) or "—")})
            for a in await actions.overdue(session, program_id, today) if a.due is not None]


@builder("weekly_digest")
async def weekly_digest(session: AsyncSession, n: Notice, now: datetime) -> Outgoing | None:
    program = await session.get(Program, n.subject["program_id"])
    if program is None:
        return None
    today = n.fire_at.astimezone(ZoneInfo(program.timezone)).date()
    rows = (await session.scalars(
        select(Milestone).where(Milestone.program_id == program.id, Milestone.done_at.is_(None),
                                Milestone.due <= today + timedelta(days=14))
        .order_by(Milestone.due, Milestone.key)
    )).all()
    upcoming = [Msg("notice.digest_row", {"due": Day(m.due), "name": Text(m.name)})
                for m in rows if m.due >= today]
    overdue = [Msg("notice.digest_row", {"due": Day(m.due), "name": Text(m.name)})
               for m in rows if m.due < today]
    parts: list[Msg | Raw] = [Msg("notice.digest_title", {"program": Raw(program.name)})]
    # A blank line before each section: the catalogs' texts neither begin nor end with one.
    if upcoming:
        parts += [Raw(""), Msg("notice.digest_upcoming", {"rows": upcoming})]
    if overdue:
        parts += [Raw(""), Msg("notice.digest_overdue", {"rows": overdue})]
    late_actions = await _overdue_actions(session, program.id, today)
    if late_actions:
        parts += [Raw(""), Msg("actas.digest_overdue", {"rows": late_actions})]
    if not upcoming and not overdue and not late_actions:
        parts.append(Msg("notice.digest_nothing"))
    return Outgoing(text=Msg("notice.digest", {"parts": parts}))


@builder("body_nudge")
async def body_nudge(session: AsyncSession, n: Notice, now: datetime) -> Outgoing | None:
    body = await session.get(Body, n.subject["body_id"])
    if body is None:
        return None
    key = "notice.nudge_monthly" if (body.cadence_months or 1) == 1 else "notice.nudge_bimonthly"
    return Outgoing(text=Msg(key, {"body": Raw(body.name)}))


@builder("meeting_reminder", "meeting_reask")
async def meeting_notice(session: AsyncSession, n: Notice, now: datetime) -> Outgoing | None:
    from services import meetings as meeting_views
    from storage import meetings

    meeting = await meetings.get(session, n.subject["meeting_id"])
    if (meeting is None or meeting.status != MeetingStatus.SCHEDULED
            or meeting.revision != n.subject["revision"]):
        return None
    rsvp = await meetings.rsvp_for(session, meeting.id, n.person_id)
    if rsvp is None:
        return None
    # The answer may have changed since the notice was planned: a re-ask is only for people
    # who still have not answered, a reminder only for those coming.
    if n.kind == "meeting_reask" and rsvp.answer is not None:
        return None
    if n.kind == "meeting_reminder" and rsvp.answer not in (RsvpAnswer.YES, RsvpAnswer.MAYBE):
        return None
    kind_name, body_name = await meeting_views.names(session, meeting)
    if n.kind == "meeting_reask":
        out = meeting_views.invitation(meeting, rsvp, kind_name=kind_name, body_name=body_name)
        key = "notice.meeting_reask"
    else:
        out = meeting_views.card(meeting, rsvp, kind_name=kind_name, body_name=body_name)
        key = "notice.meeting_reminder"
    assert out.text is not None
    return replace(out, text=Msg(key, out.text.params))


async def _pickup_rows(session: AsyncSession, n: Notice
                       ) -> tuple[Pickup, DeliveryDay, Family] | None:
    pickup = await session.get(Pickup, n.subject["pickup_id"])
    if pickup is None:
        return None
    day = await session.get(DeliveryDay, pickup.delivery_day_id)
    family = await session.get(Family, pickup.family_id)
    if day is None or family is None or day.cancelled_at is not None:
        return None
    return pickup, day, family


@builder("pickup_notice")
async def pickup_notice(session: AsyncSession, n: Notice, now: datetime) -> Outgoing | None:
    from services.pickups import pickup_notice as notice

    rows = await _pickup_rows(session, n)
    if rows is None or rows[0].status not in (PickupStatus.PENDING, PickupStatus.NOTIFIED):
        return None  # the family already answered (through /retiro): nothing to announce
    return notice(*rows)


@builder("pickup_evening", "pickup_morning", "pickup_missed")
async def pickup_reminder(session: AsyncSession, n: Notice, now: datetime) -> Outgoing | None:
    from services.delivery import place_of, window_of
    from services.pickups import answer_buttons
    from storage.pickups import is_home_delivery

    rows = await _pickup_rows(session, n)
    if rows is None:
        return None
    pickup, day, family = rows
    home = is_home_delivery(day, family)
    if pickup.status == PickupStatus.MOVED or pickup.moved_to_id is not None:
        return None  # the family has its new day, and hears of that one
    if n.kind == "pickup_missed":
        if pickup.status in (PickupStatus.PICKED_UP, PickupStatus.CANNOT,
                             PickupStatus.RESCHEDULE, PickupStatus.PROXY):
            return None
        return Outgoing(
            text=Msg("notice.pickup_missed", {"window": window_of(day)}),
            buttons=((Button(Msg("pickup.btn_reschedule"), f"pk:{pickup.id}:rs"),),),
        )
    if pickup.status in (PickupStatus.CANNOT, PickupStatus.RESCHEDULE, PickupStatus.PICKED_UP):
        return None
    where = {"address": Raw(family.address or "")} if home else {"place": place_of(day)}
    key = f"notice.{n.kind}{'_home' if home else ''}"
    buttons = () if pickup.status in (PickupStatus.CONFIRMED, PickupStatus.PROXY) else tuple(
        tuple(row) for row in answer_buttons(pickup, home))
    return Outgoing(text=Msg(key, {"window": window_of(day), **where}), buttons=buttons)


@builder("pickup_dates")
async def pickup_dates(session: AsyncSession, n: Notice, now: datetime) -> Outgoing | None:
    from services.delivery import place_of, window_of
    from storage.pickups import is_home_delivery

    family = await session.get(Family, n.subject["family_id"])
    rows = (await session.execute(
        select(Pickup, DeliveryDay).join(DeliveryDay, DeliveryDay.id == Pickup.delivery_day_id)
        .where(Pickup.id.in_(n.subject["pickup_ids"]), DeliveryDay.cancelled_at.is_(None))
        .order_by(DeliveryDay.window_start)
    )).all()
    if family is None or not rows:
        return None
    lines = [
        Msg("notice.pickup_dates_row_home" if is_home_delivery(day, family)
            else "notice.pickup_dates_row",
            {"window": window_of(day), "place": place_of(day)})
        for _, day in rows
    ]
    return Outgoing(text=Msg("notice.pickup_dates",
                             {"family": Raw(family.name), "rows": lines, "count": len(lines)}))


async def after_queued(session: AsyncSession, n: Notice, now: datetime) -> None:
    if n.kind == "pickup_notice":
        from services.pickups import notice_queued

        rows = await _pickup_rows(session, n)
        if rows is not None:
            await notice_queued(session, rows[0], rows[2], now)
    elif n.kind == "pickup_dates":
        from storage.pickups import mark_notified

        for pickup in (await session.scalars(
                select(Pickup).where(Pickup.id.in_(n.subject["pickup_ids"])))).all():
            await mark_notified(session, pickup, now)
