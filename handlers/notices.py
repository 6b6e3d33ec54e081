"""What each scheduled notice says: the scheduler decides *when*, this decides *what*.

Injected into the scheduler by ``main`` so that the scheduler stays free of conversation code.
Every builder re-reads the rows, so a notice composed late says what is true now; ``None``
means the notice no longer applies (a meeting moved, a milestone was marked done)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.events import Outgoing
from locales import Day, Msg, Raw, Text
from scheduler.planner import Notice
from storage.models import Body, MeetingStatus, Milestone, Program, RsvpAnswer

Builder = Callable[[AsyncSession, Notice], Awaitable[Outgoing | None]]
BUILDERS: dict[str, Builder] = {}


def builder(*kinds: str) -> Callable[[Builder], Builder]:
    def deco(fn: Builder) -> Builder:
        for k in kinds:
            BUILDERS[k] = fn
        return fn
    return deco


async def compose(session: AsyncSession, notice: Notice) -> dict[str, Any] | None:
    build = BUILDERS.get(notice.kind)
    if build is None:
        raise LookupError(f"no builder for notice kind {notice.kind!r}")
    out = await build(session, notice)
    return out.to_json() if out is not None else None


@builder("milestone_soon", "milestone_overdue")
async def milestone(session: AsyncSession, n: Notice) -> Outgoing | None:
    m = await session.get(Milestone, n.subject["milestone_id"])
    if m is None or m.done_at is not None or m.due.isoformat() != n.subject["due"]:
        return None
    params = {"name": Text(m.name), "due": Day(m.due)}
    if n.kind == "milestone_soon":
        return Outgoing(text=Msg("notice.milestone_soon", {**params, "count": n.subject["days"]}))
    return Outgoing(text=Msg("notice.milestone_overdue", params))


@builder("weekly_digest")
async def weekly_digest(session: AsyncSession, n: Notice) -> Outgoing | None:
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
    parts: list[Msg] = [Msg("notice.digest_title", {"program": Raw(program.name)})]
    if upcoming:
        parts.append(Msg("notice.digest_upcoming", {"rows": upcoming}))
    if overdue:
        parts.append(Msg("notice.digest_overdue", {"rows": overdue}))
    if not upcoming and not overdue:
        parts.append(Msg("notice.digest_nothing"))
    return Outgoing(text=Msg("notice.digest", {"parts": parts}))


@builder("body_nudge")
async def body_nudge(session: AsyncSession, n: Notice) -> Outgoing | None:
    body = await session.get(Body, n.subject["body_id"])
    if body is None:
        return None
    key = "notice.nudge_monthly" if (body.cadence_months or 1) == 1 else "notice.nudge_bimonthly"
    return Outgoing(text=Msg(key, {"body": Raw(body.name)}))


@builder("meeting_reminder", "meeting_reask")
async def meeting_notice(session: AsyncSession, n: Notice) -> Outgoing | None:
    from handlers import meetings as meeting_views
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
