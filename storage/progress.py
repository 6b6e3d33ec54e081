"""The figures of an *informe de avance* (progress report) as of one cut-off, read from the
database; documents.exports lays them out. Pure reading: never writes, never commits."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from domain.program_templates import ProgramTemplate, add_months, program_template_or_none
from storage import admin_meetings, programs
from storage import pickups as day_lists
from storage.delivery import grouped_counts
from storage.fichas import FICHA as FICHA_FORM_KEY
from storage.models import (
    Body,
    DeliveryDay,
    Family,
    FormDefinition,
    FormResponse,
    FormStatus,
    Meeting,
    MeetingStatus,
    Milestone,
    Organization,
    OrganizationInvitation,
    Pickup,
    PickupStatus,
)


def day_groups(counts: dict[str, int]) -> dict[str, int]:
    """A day's families by what its list shows (statuses as pickups.shown_status gives
    them), in the groups of the exported list's summary and of the progress report's row
    for the day: the staff's groups in chat, with a proxy among the confirmed and asking
    another date among those who cannot come."""
    g = grouped_counts(counts)
    return {"confirmed": g["confirmed"] + g["proxy"], "cannot": g["cannot"] + g["reschedule"],
            "no_answer": g["no_answer"], "picked_up": g["picked_up"], "no_show": g["no_show"],
            "moved": g["moved"]}


def share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def body_of_kind(tpl: ProgramTemplate | None, kind: str) -> str | None:
    if tpl is None:
        return None
    try:
        return tpl.meeting_kind(kind).body
    except KeyError:
        return None


def _months_between(start: date, today: date) -> int:
    """Whole months from ``start`` to ``today`` (0 before a month has passed)."""
    months = (today.year - start.year) * 12 + today.month - start.month
    if months > 0 and add_months(start, months) > today:
        months -= 1
    return max(months, 0)


async def progress_figures(session: AsyncSession, program_id: int, now: datetime) -> dict[str, Any]:
    """The figures of an *informe de avance*, as of ``now``: the one cut-off, so that
    nothing that happened after it is counted anywhere in the report.

    Counted as of ``now``: organisations and families in the catastro (created by then),
    delivery days set by then with the notices, answers and hand-overs made by then (a
    no-show once the day is over), progress reports marked done by then; organisations
    invited (an invitation sent by then), interested (a ficha submitted by then) and
    committed (``committed_at`` by then).  A session's figures are its board's Tally as it
    stood then (admin_meetings.boards), the one count the board, the attendance list and
    ``convoca attendance`` show: invited, present (the invited marked present plus walk-ins,
    in Convoca or written in) and ``walk_ins``; its attendance rate is invited people
    present over invited people.  A session is held when it started by then, is not
    cancelled, and is marked held or has someone present.  The minimum for a meeting kind
    is the sum of its milestones' ``min_sessions`` (``min_due`` counts only milestones
    already due); for a body it is the larger of what its kinds' due milestones ask and
    its cadence: whole months since it was constituted (else since its first milestone
    started) divided by ``cadence_months``; a body's rate pools its sessions.  A delivery
    day's families are counted as its list showed them then (pickups.status_as_of and
    shown_status), in the groups of the exported list (day_groups).  Families count once
    each, over delivery days not cancelled: notified (a notice sent), confirmed (answered
    that they or a proxy come; a later pickup or no-show mark keeps ``responded_at``, so an
    answer before it counts) and served (picked up).
    """
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    program = await programs.existing(session, program_id)
    zone = ZoneInfo(program.timezone)
    today = now.astimezone(zone).date()
    tpl = program_template_or_none(program)

    orgs = list((await session.scalars(
        select(Organization).where(Organization.program_id == program_id,
                                   Organization.created_at <= now))).all())
    org_ids = [o.id for o in orgs]
    invited = set((await session.scalars(
        select(OrganizationInvitation.organization_id).where(
            OrganizationInvitation.organization_id.in_(org_ids),
            OrganizationInvitation.sent_at <= now))).all()) if org_ids else set()
    interested = set((await session.scalars(
        select(FormResponse.organization_id)
        .join(FormDefinition, FormDefinition.id == FormResponse.form_id)
        .where(FormDefinition.key == FICHA_FORM_KEY, FormResponse.organization_id.in_(org_ids),
               FormResponse.status != FormStatus.DRAFT, FormResponse.submitted_at.is_not(None),
               FormResponse.submitted_at <= now))).all()) if org_ids else set()
    committed = {o.id for o in orgs if o.committed_at is not None and o.committed_at <= now}

    bodies = sorted(
        (await session.scalars(select(Body).where(Body.program_id == program_id))).all(),
        key=lambda b: b.id)
    body_by_kind = {b.kind: b for b in bodies}
    milestones = list((await session.scalars(
        select(Milestone).where(Milestone.program_id == program_id))).all())

    meetings = list((await session.scalars(
        select(Meeting).where(Meeting.program_id == program_id, Meeting.starts_at <= now,
                              Meeting.status != MeetingStatus.CANCELLED)
        .order_by(Meeting.starts_at, Meeting.id))).all())
    # The one count the board and the attendance list show, as it stood at the cut-off.
    tallies = {mid: b.tally for mid, b in (await admin_meetings.boards(
        session, meetings, as_of=now)).items()}

    def body_id_of(m: Meeting) -> int | None:
        if m.body_id is not None:
            return m.body_id
        kind_body = body_of_kind(tpl, m.kind)
        return body_by_kind[kind_body].id if kind_body in body_by_kind else None

    sessions = []
    for m in meetings:
        tally = tallies[m.id]
        if m.status != MeetingStatus.HELD and not tally.present:
            continue
        sessions.append({
            "meeting_id": m.id, "kind": m.kind, "body_id": body_id_of(m),
            "starts_at": m.starts_at, "invited": tally.invited, "present": tally.present,
            "present_invited": tally.present_invited, "walk_ins": tally.walk_ins,
            "attendance_rate": share(tally.present_invited, tally.invited),
        })
    held_by_kind = Counter(s["kind"] for s in sessions)

    kinds: dict[str, dict[str, Any]] = {}
    for ms in sorted(milestones, key=lambda m: (m.due, m.key)):
        if not ms.meeting_kind or ms.min_sessions <= 0:
            continue
        entry = kinds.setdefault(ms.meeting_kind, {
            "meeting_kind": ms.meeting_kind, "body": body_of_kind(tpl, ms.meeting_kind),
            "milestones": [], "min_sessions": 0, "min_due": 0, "due": ms.due,
            "held": held_by_kind[ms.meeting_kind]})
        entry["milestones"].append(ms.key)
        entry["min_sessions"] += ms.min_sessions
        entry["due"] = max(entry["due"], ms.due)
        if ms.due <= today:
            entry["min_due"] += ms.min_sessions
    for entry in kinds.values():
        entry["meets_minimum"] = entry["held"] >= entry["min_due"]

    body_rows = []
    for b in bodies:
        own = [s for s in sessions if s["body_id"] == b.id]
        if b.constituted_at is not None:
            since = b.constituted_at.astimezone(zone).date()
        else:
            firsts = [ms.starts for ms in milestones if ms.meeting_kind == b.kind]
            since = min(firsts) if firsts else program.start_date
        months = _months_between(since, today) if since <= today else 0
        by_cadence = months // b.cadence_months if b.cadence_months else 0
        by_milestones = sum(e["min_due"] for e in kinds.values() if e["body"] == b.kind)
        invited_sum = sum(s["invited"] for s in own)
        present_sum = sum(s["present_invited"] for s in own)
        minimum = max(by_cadence, by_milestones)
        body_rows.append({
            "body_id": b.id, "kind": b.kind, "name": b.name, "cadence_months": b.cadence_months,
            "since": since, "months_elapsed": months, "min_by_cadence": by_cadence,
            "min_by_milestones": by_milestones, "minimum": minimum, "held": len(own),
            "meets_minimum": len(own) >= minimum, "invited": invited_sum,
            "present_invited": present_sum, "attendance_rate": share(present_sum, invited_sum),
        })

    days = list((await session.scalars(
        select(DeliveryDay).where(DeliveryDay.program_id == program_id,
                                  or_(DeliveryDay.cancelled_at.is_(None),
                                      DeliveryDay.cancelled_at > now),
                                  DeliveryDay.created_at <= now)
        .order_by(DeliveryDay.window_start, DeliveryDay.id))).all())
    day_by_id = {d.id: d for d in days}
    day_ids = [d.id for d in days]
    # A family enrolled after the cut-off had no pickup before it.
    pickups = list((await session.scalars(
        select(Pickup).join(Family, Family.id == Pickup.family_id)
        .where(Pickup.delivery_day_id.in_(day_ids), Family.created_at <= now))).all()) \
        if day_ids else []
    # Each pickup as it stood at the cut-off, and as the day's list showed it then.
    kept = await day_lists.kept_lists(session, day_ids, as_of=now)
    then = {p.id: day_lists.status_as_of(p, day_by_id[p.delivery_day_id], now) for p in pickups}
    shown = {p.id: day_lists.shown_status(p, day_by_id[p.delivery_day_id], now,
                                p.delivery_day_id in kept, status=then[p.id])
             for p in pickups}
    said_yes = {PickupStatus.CONFIRMED, PickupStatus.PROXY}
    marked = {PickupStatus.PICKED_UP, PickupStatus.NO_SHOW}

    def by_then(at: datetime | None) -> bool:
        return at is not None and at <= now

    def confirmed(p: Pickup) -> bool:
        # A later pickup or no-show mark keeps the answer's time: an answer before it counts.
        return then[p.id] in said_yes or (then[p.id] in marked and by_then(p.responded_at))

    def notified(p: Pickup) -> bool:
        return by_then(p.notified_at)

    family_total = len((await session.scalars(
        select(Family.id).where(Family.program_id == program_id,
                                Family.created_at <= now))).all())
    per_day = []
    for d in days:
        ps = [p for p in pickups if p.delivery_day_id == d.id]
        # The groups of the day's list (delivery_day_list's summary), which add up to all.
        counts = Counter(shown[p.id] for p in ps)
        per_day.append({
            "delivery_day_id": d.id, "window_start": d.window_start, "families": len(ps),
            "notified": sum(1 for p in ps if notified(p)),
            **day_groups(counts),
        })

    reports = [
        {"key": ms.key, "month": int(ms.key.rsplit(".", 1)[-1]) if ms.key.rsplit(".", 1)[-1]
         .isdigit() else None, "due": ms.due, "done": by_then(ms.done_at)}
        for ms in sorted(milestones, key=lambda m: m.due) if ms.kind == "progress_report"
    ]
    return {
        "program_id": program_id,
        "as_of": now.astimezone(UTC),
        "today": today,
        "month": _months_between(program.start_date, today) + 1,
        "duration_months": tpl.duration_months if tpl else None,
        "next_report": next((r for r in reports if r["due"] >= today and not r["done"]), None),
        "reports": reports,
        "organizations": {"catalogued": len(orgs), "invited": len(invited),
                          "interested": len(interested), "committed": len(committed)},
        "sessions": sessions,
        "kinds": list(kinds.values()),
        "bodies": body_rows,
        "families": {
            "total": family_total,
            "notified": len({p.family_id for p in pickups if notified(p)}),
            "confirmed": len({p.family_id for p in pickups if confirmed(p)}),
            "served": len({p.family_id for p in pickups
                           if then[p.id] == PickupStatus.PICKED_UP}),
        },
        "pickups": {str(s): n for s, n in sorted(Counter(shown.values()).items())},
        "delivery_days": per_day,
    }
