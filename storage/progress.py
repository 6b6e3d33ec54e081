"""The figures of an *informe de avance* (progress report) as of one cut-off, read from the
database. This module is the one place where each figure is defined: the progress report
(documents.progress), the delivery and attendance lists and the chat count with the same
rules, and README.md ("Las cifras / The figures") states them in words. Pure reading:
never writes, never commits.

=======================  ==============================================================
figure                   what counts
=======================  ==============================================================
cut-off                  One instant: the end of the day (or of the programme month)
                         asked for in the programme's zone, never later than now. Every
                         figure counts only what had happened by then: a session that
                         began, a mark, an answer, a notice, a ficha submitted, a
                         hand-over noted, a delivery day whose window had begun.
session held             Began by the cut-off, not cancelled, and marked held or with
                         someone present (walk-ins written in by hand too).
invited                  People on the session's board invited by the cut-off (the
                         board's Tally: the attendance list shows the same number).
present                  People marked present by the cut-off: the invited who came
                         (``present_invited``) plus the walk-ins.
walk-ins                 People present without an invitation, in Convoca or written in.
attendance rate          ``present_invited / invited`` (walk-ins are not in it); a body's
                         rate pools its sessions' counts. Always printed beside the two
                         counts it divides.
activity's sessions      Held sessions of the activity's meeting kind dated within the
                         activity's window (its start to its due day), as /etapas counts
                         them. Planned: the activity's ``min_sessions``.
body's sessions          Held sessions of the body (its own meetings and those of every
                         meeting kind the template gives it).
body's minimum           As of a day: the larger of (a) whole cadence periods elapsed
                         since the body was constituted (else since its first activity
                         began): a monthly body one per whole month, a bimonthly one per
                         two; and (b) the sessions its activities due by that day ask
                         for. The same number in every table of the report.
delivery day held        Set by the cut-off, not cancelled by then, its window begun by
                         then. A day after the cut-off counts nowhere.
families notified        Families told of a delivery day held, by the cut-off (each once).
families confirmed       Families that answered they (or a proxy) come to a delivery day
                         held, by the cut-off; a later pickup or no-show mark keeps it.
families served          Families with at least one basket delivered.
baskets delivered        Pickups of a delivery day held marked picked up (handed over,
                         at the premises or at home) by the cut-off: one per family and
                         day. Per programme month by the day's date; cumulative sums
                         them, and cumulative families counts each family once.
organisations            In the catastro by the cut-off; invited (an invitation sent),
                         interested (a ficha submitted), committed (``committed_at``), all
                         by the cut-off.
=======================  ==============================================================

A delivery day's families are counted in the groups of its exported list (day_groups):
the status each pickup had at the cut-off (pickups.status_as_of) as the list shows it
(pickups.shown_status). Programme month *k* runs from ``start + (k-1) months`` to the day
before ``start + k months``.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from domain.program_templates import ProgramTemplate, add_months, program_template_or_none
from storage import admin_meetings, fichas, programs
from storage import pickups as day_lists
from storage.delivery import grouped_counts
from storage.models import (
    Body,
    DeliveryDay,
    Family,
    FormResponse,
    Meeting,
    MeetingStatus,
    Milestone,
    Organization,
    OrganizationInvitation,
    Pickup,
    PickupStatus,
)

# The three statuses of a planned-vs-achieved row (as the FOSIS and UNDP reports word
# them), and two for what is not due yet.
TOTAL, PARTIAL, NONE = "total", "partial", "none"
UNDER_WAY, NOT_STARTED = "under_way", "not_started"


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
    """A percentage's value, from the two counts printed beside it."""
    return part / whole if whole else None


def status(achieved: int, planned: int, *, due: bool, started: bool = True) -> str:
    """Totally, partly or not achieved once due; under way or not started before."""
    if planned and achieved >= planned:
        return TOTAL
    if not due:
        return UNDER_WAY if started else NOT_STARTED
    return PARTIAL if achieved else NONE


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


def programme_month(start: date, day: date) -> int:
    """The programme month ``day`` falls in (month 1 begins on the start date)."""
    return _months_between(start, day) + 1


def month_span(start: date, month: int) -> tuple[date, date]:
    """Programme month ``month``: its first and last day."""
    return add_months(start, month - 1), add_months(start, month) - timedelta(days=1)


def cut_off_of_month(start: date, month: int) -> date:
    """The last day of programme month ``month``: where its progress report cuts off."""
    return month_span(start, month)[1]


def body_minimum(cadence_months: int, since: date, due_asks: Iterable[tuple[date, int]],
                 day: date) -> tuple[int, int, int]:
    """A body's minimum number of sessions as of ``day``: (minimum, by cadence, by its
    activities). See the module's table: the larger of the whole cadence periods since
    ``since`` and what its activities due by then ask for."""
    months = _months_between(since, day) if since <= day else 0
    by_cadence = months // cadence_months if cadence_months else 0
    by_activities = sum(n for due, n in due_asks if due <= day)
    return max(by_cadence, by_activities), by_cadence, by_activities


PICKUP_COLUMNS = (Pickup.id, Pickup.delivery_day_id, Pickup.family_id, Pickup.status,
                  Pickup.responded_at, Pickup.proxy_name, Pickup.notified_at, Pickup.handed_at)


async def progress_figures(session: AsyncSession, program_id: int, now: datetime) -> dict[str, Any]:
    """The figures of an *informe de avance*, as of ``now``: the one cut-off, so that
    nothing that happened after it is counted anywhere in the report. Each figure is as
    the module's table defines it."""
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    program = await programs.existing(session, program_id)
    zone = ZoneInfo(program.timezone)
    today = now.astimezone(zone).date()
    start = program.start_date
    tpl = program_template_or_none(program)

    def by_then(at: datetime | None) -> bool:
        return at is not None and at <= now

    def local_day(at: datetime) -> date:
        return at.astimezone(zone).date()

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
        .where(fichas.signed(now, forms=fichas.intake_forms_of(program)),
               FormResponse.organization_id.in_(org_ids)))).all()
    ) if org_ids else set()
    committed = {o.id for o in orgs if by_then(o.committed_at)}

    bodies = sorted(
        (await session.scalars(select(Body).where(Body.program_id == program_id))).all(),
        key=lambda b: b.id)
    body_by_kind = {b.kind: b for b in bodies}
    milestones = sorted((await session.scalars(
        select(Milestone).where(Milestone.program_id == program_id))).all(),
        key=lambda m: (m.stage, m.starts, m.due, m.key))

    meetings = list((await session.scalars(
        select(Meeting).where(Meeting.program_id == program_id, Meeting.starts_at <= now,
                              Meeting.status != MeetingStatus.CANCELLED)
        .order_by(Meeting.starts_at, Meeting.id))).all())
    # The one count the board and the attendance list show, as it stood at the cut-off.
    tallies = {mid: b.tally for mid, b in (await admin_meetings.boards(
        session, meetings, as_of=now, ordered=False)).items()}

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
            "starts_at": m.starts_at, "day": local_day(m.starts_at),
            "invited": tally.invited, "present": tally.present,
            "present_invited": tally.present_invited, "walk_ins": tally.walk_ins,
            "attendance_rate": share(tally.present_invited, tally.invited),
        })

    activities = []
    for ms in milestones:
        if ms.kind != "activity":
            continue
        held = [s for s in sessions if ms.meeting_kind and s["kind"] == ms.meeting_kind
                and ms.starts <= s["day"] <= ms.due]
        planned = ms.min_sessions if ms.meeting_kind else 0
        is_due, started = ms.due <= today, ms.starts <= today
        activities.append({
            "milestone_id": ms.id, "key": ms.key, "stage": ms.stage, "name": dict(ms.name),
            "starts": ms.starts, "due": ms.due, "meeting_kind": ms.meeting_kind,
            "body": body_of_kind(tpl, ms.meeting_kind) if ms.meeting_kind else None,
            "verifiers": list(ms.verifiers or []), "done": by_then(ms.done_at),
            "is_due": is_due, "started": started,
            "planned_sessions": planned, "held": len(held),
            "session_days": [s["day"] for s in held],
            "rate": share(len(held), planned),
            "status": status(len(held), planned, due=is_due, started=started)
            if planned else None,
        })

    current_month = programme_month(start, today) if start <= today else 0
    body_rows = []
    for b in bodies:
        own = [s for s in sessions if s["body_id"] == b.id]
        if b.constituted_at is not None and b.constituted_at <= now:
            since = local_day(b.constituted_at)
        else:
            firsts = [ms.starts for ms in milestones
                      if ms.meeting_kind and body_of_kind(tpl, ms.meeting_kind) == b.kind]
            since = min(firsts) if firsts else start
        asks = [(ms.due, ms.min_sessions) for ms in milestones
                if ms.kind == "activity" and ms.meeting_kind and ms.min_sessions > 0
                and body_of_kind(tpl, ms.meeting_kind) == b.kind]
        minimum, by_cadence, by_activities = body_minimum(b.cadence_months, since, asks, today)
        invited_sum = sum(s["invited"] for s in own)
        present_sum = sum(s["present_invited"] for s in own)
        months = []
        held_so_far = 0
        previous_minimum = 0
        for k in range(1, current_month + 1):
            first, last = month_span(start, k)
            last = min(last, today)
            in_month = sum(1 for s in own if first <= s["day"] <= last)
            held_so_far += in_month
            cumulative_minimum = body_minimum(b.cadence_months, since, asks, last)[0]
            months.append({
                "month": k, "first": first, "last": last, "held": in_month,
                "held_cumulative": held_so_far,
                "minimum_in_month": cumulative_minimum - previous_minimum,
                "minimum_cumulative": cumulative_minimum,
                "meets_minimum": held_so_far >= cumulative_minimum,
            })
            previous_minimum = cumulative_minimum
        body_rows.append({
            "body_id": b.id, "kind": b.kind, "name": b.name, "cadence_months": b.cadence_months,
            "since": since, "months_elapsed": _months_between(since, today) if since <= today
            else 0, "min_by_cadence": by_cadence, "min_by_milestones": by_activities,
            "minimum": minimum, "held": len(own), "meets_minimum": len(own) >= minimum,
            "rate": share(len(own), minimum),
            "invited": invited_sum, "present_invited": present_sum,
            "attendance_rate": share(present_sum, invited_sum), "months": months,
        })

    # A delivery day counts once its window has begun by the cut-off (and it stood then).
    days = list((await session.scalars(
        select(DeliveryDay).where(DeliveryDay.program_id == program_id,
                                  or_(DeliveryDay.cancelled_at.is_(None),
                                      DeliveryDay.cancelled_at > now),
                                  DeliveryDay.created_at <= now,
                                  DeliveryDay.window_start <= now)
        .order_by(DeliveryDay.window_start, DeliveryDay.id))).all())
    day_by_id = {d.id: d for d in days}
    day_ids = [d.id for d in days]
    # A family enrolled after the cut-off had no pickup before it.
    # Plain rows of the columns the figures read (a Row reads like the Pickup it comes
    # from): a year's 12,000 pickups as ORM objects took most of the report's time.
    pickups = list((await session.execute(
        select(*PICKUP_COLUMNS).join(Family, Family.id == Pickup.family_id)
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

    def confirmed(p: Pickup) -> bool:
        # A later pickup or no-show mark keeps the answer's time: an answer before it counts.
        return then[p.id] in said_yes or (then[p.id] in marked and by_then(p.responded_at))

    def notified(p: Pickup) -> bool:
        return by_then(p.notified_at)

    def basket(p: Pickup) -> bool:
        return then[p.id] == PickupStatus.PICKED_UP

    family_total = len((await session.scalars(
        select(Family.id).where(Family.program_id == program_id,
                                Family.created_at <= now))).all())
    per_day = []
    of_day: dict[int, list[Pickup]] = {d.id: [] for d in days}
    for p in pickups:  # grouped once: a year has 12,000 pickups over dozens of days
        of_day[p.delivery_day_id].append(p)
    for d in days:
        ps = of_day[d.id]
        # The groups of the day's list (delivery_day_list's summary), which add up to all.
        counts = Counter(shown[p.id] for p in ps)
        per_day.append({
            "delivery_day_id": d.id, "window_start": d.window_start,
            "day": local_day(d.window_start), "families": len(ps),
            "notified": sum(1 for p in ps if notified(p)),
            **day_groups(counts),
        })

    # Families and baskets per programme month, by the delivery day's date.
    delivered = [p for p in pickups if basket(p)]
    month_of_day = {d.id: programme_month(start, local_day(d.window_start))
                    if local_day(d.window_start) >= start else 0 for d in days}
    of_month: dict[int, list[Any]] = defaultdict(list)
    for p in delivered:  # grouped once, not once per month
        of_month[month_of_day[p.delivery_day_id]].append(p)
    month_rows = []
    served_so_far: set[int] = set()
    baskets_so_far = 0
    for k in range(1, current_month + 1):
        first, last = month_span(start, k)
        in_month = of_month.get(k, [])
        served_so_far |= {p.family_id for p in in_month}
        baskets_so_far += len(in_month)
        month_rows.append({
            "month": k, "first": first, "last": min(last, today),
            "delivery_days": sum(1 for d in days if month_of_day[d.id] == k),
            "baskets": len(in_month), "families": len({p.family_id for p in in_month}),
            "baskets_cumulative": baskets_so_far, "families_cumulative": len(served_so_far),
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
        "start": start,
        "month": current_month,
        "duration_months": tpl.duration_months if tpl else None,
        "next_report": next((r for r in reports if r["due"] >= today and not r["done"]), None),
        "reports": reports,
        "organizations": {"catalogued": len(orgs), "invited": len(invited),
                          "interested": len(interested), "committed": len(committed)},
        "sessions": sessions,
        "activities": activities,
        "bodies": body_rows,
        "families": {
            "total": family_total,
            "notified": len({p.family_id for p in pickups if notified(p)}),
            "confirmed": len({p.family_id for p in pickups if confirmed(p)}),
            "served": len({p.family_id for p in delivered}),
        },
        "baskets": len(delivered),
        "months": month_rows,
        "pickups": {str(s): n for s, n in sorted(Counter(shown.values()).items())},
        "delivery_days": per_day,
    }
