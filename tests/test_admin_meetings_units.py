"""The date, time and series arithmetic behind the meetings section, and its data work
(moving, cancelling, attendance rates, roles) on both databases."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from domain import schedule, turnout
from domain.meetings import MeetingError
from domain.roles import RoleError, roles_here
from storage import admin_meetings as data
from storage import db, outbox, people, programs
from storage.models import (
    Attendance,
    Body,
    Meeting,
    MeetingStatus,
    Membership,
    OutboxMessage,
    OutboxStatus,
    Person,
    Role,
    Rsvp,
    RsvpAnswer,
)

SCL = "America/Santiago"
NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


# --- local time and the calendar --------------------------------------------------------------


@pytest.mark.parametrize(("day", "utc_hour"), [
    (date(2026, 3, 3), 21),   # summer time, UTC-3
    (date(2026, 4, 4), 21),   # the last summer day
    (date(2026, 4, 5), 22),   # winter time from 5 April, UTC-4
    (date(2026, 9, 5), 22),   # still winter
    (date(2026, 9, 6), 21),   # summer again from 6 September
])
def test_a_local_1800_is_the_right_utc_instant_on_both_sides_of_dst(day: date,
                                                                    utc_hour: int) -> None:
    at = schedule.to_utc(day, time(18), SCL)
    assert at == datetime(day.year, day.month, day.day, utc_hour, tzinfo=UTC)
    assert at.astimezone(ZoneInfo(SCL)).time() == time(18)
    assert schedule.local_time(at, SCL) == time(18) and schedule.local_date(at, SCL) == day


def test_a_late_evening_meeting_is_on_the_next_utc_day_but_the_same_local_day() -> None:
    at = schedule.to_utc(date(2026, 3, 3), time(22, 30), SCL)
    assert at == datetime(2026, 3, 4, 1, 30, tzinfo=UTC)
    assert schedule.local_date(at, SCL) == date(2026, 3, 3)


@pytest.mark.parametrize(("day", "rule"), [
    (date(2026, 3, 3), (1, 1)),   # first Tuesday
    (date(2026, 3, 10), (1, 2)),
    (date(2026, 3, 24), (1, 4)),
    (date(2026, 3, 31), (1, schedule.LAST)),  # a fifth Tuesday: "the last Tuesday"
    (date(2026, 3, 7), (5, 1)),   # first Saturday
])
def test_the_weekday_of_the_month_rule(day: date, rule: tuple[int, int]) -> None:
    assert schedule.weekday_rule(day) == rule


def test_nth_and_last_weekday_of_a_month() -> None:
    assert schedule.nth_weekday(2026, 4, 1, 1) == date(2026, 4, 7)
    assert schedule.nth_weekday(2026, 2, 1, schedule.LAST) == date(2026, 2, 24)
    assert schedule.nth_weekday(2026, 4, 1, schedule.LAST) == date(2026, 4, 28)
    assert schedule.nth_weekday(2026, 12, 3, 4) == date(2026, 12, 24)


def test_a_monthly_series_stays_on_the_first_tuesday_until_the_programme_ends() -> None:
    days = schedule.series_days(date(2026, 3, 3), 1, until=date(2027, 1, 1))
    assert days == [date(2026, 3, 3), date(2026, 4, 7), date(2026, 5, 5), date(2026, 6, 2),
                    date(2026, 7, 7), date(2026, 8, 4), date(2026, 9, 1), date(2026, 10, 6),
                    date(2026, 11, 3), date(2026, 12, 1)]
    assert all(d.weekday() == 1 and d.day <= 7 for d in days)


def test_every_two_months_and_the_last_weekday_rule() -> None:
    assert schedule.series_days(date(2026, 3, 10), 2, until=date(2027, 1, 1)) == [
        date(2026, 3, 10), date(2026, 5, 12), date(2026, 7, 14), date(2026, 9, 8),
        date(2026, 11, 10)]
    assert schedule.series_days(date(2026, 3, 31), 1, until=date(2026, 6, 30)) == [
        date(2026, 3, 31), date(2026, 4, 28), date(2026, 5, 26), date(2026, 6, 30)]


def test_a_series_has_at_most_twelve_meetings() -> None:
    days = schedule.series_days(date(2026, 3, 3), 1, until=date(2027, 5, 31))
    assert len(days) == 12 and days[-1] == date(2027, 2, 2)
    assert schedule.series_days(date(2026, 3, 3), 1, until=date(2027, 5, 31), limit=3) == [
        date(2026, 3, 3), date(2026, 4, 7), date(2026, 5, 5)]
    with pytest.raises(ValueError):
        schedule.series_days(date(2026, 3, 3), 0, until=date(2027, 1, 1))


def test_a_series_plan_keeps_1800_local_across_both_dst_changes() -> None:
    from storage.models import Program

    program = Program(name="x", template_key="ecomercado-10m", start_date=date(2026, 3, 2),
                      timezone=SCL, settings={}, created_at=NOW)
    plan = data.series_plan(program, schedule.to_utc(date(2026, 3, 3), time(18), SCL), 1)
    assert len(plan) == 10  # the 10-month programme ends on 1 January 2027
    assert {schedule.local_time(p, SCL) for p in plan} == {time(18)}
    assert [p.hour for p in plan] == [21, 22, 22, 22, 22, 22, 22, 21, 21, 21]


# --- data work on a database --------------------------------------------------------------------


@pytest.fixture
async def world(any_db_url: str):
    engine = db.create_engine(any_db_url)
    await db.upgrade(engine)
    sessions = db.session_factory(engine)
    async with sessions() as s:
        program = await programs.create(s, template="ecomercado-10m", start=date(2026, 3, 2),
                                        name="Ecomercado Quilpué", now=NOW)
        ids = {"program": program.id}
        for name in ("Gestora", "Ana", "Beto", "Carla"):
            p = await people.create_with_address(s, "telegram", name, NOW, name=name,
                                                 consent_at=NOW, locale="es")
            ids[name] = p.id
        gestora = await s.get(Person, ids["Gestora"])
        await people.grant(s, gestora, Role.GESTORA, None, NOW)
        await s.commit()
    yield sessions, ids
    await engine.dispose()


async def test_granting_grupo_motor_makes_a_member_and_revoking_ends_it(world) -> None:
    sessions, ids = world
    async with sessions() as s:
        program = await programs.get(s, ids["program"])
        ana = await data.person_with_roles(s, ids["Ana"])
        assert await data.grant_role(s, ana, Role.GRUPO_MOTOR, program, NOW, ids["Gestora"])
        assert not await data.grant_role(s, ana, Role.GRUPO_MOTOR, program, NOW)
        body = await s.scalar(select(Body).where(Body.kind == "grupo_motor"))
        assert await data.body_members(s, body.id) == [ana.id]
        assert ana.program_id == program.id
        later = NOW + timedelta(days=10)
        assert await data.revoke_role(s, ana, Role.GRUPO_MOTOR, program, later)
        assert await data.body_members(s, body.id) == []
        row = await s.scalar(select(Membership).where(Membership.person_id == ana.id))
        assert row.left_at == later
        assert roles_here(ana.roles, program.id) == []
        # Back again: the same membership row, rejoined.
        assert await data.grant_role(s, ana, Role.GRUPO_MOTOR, program, later)
        assert await data.body_members(s, body.id) == [ana.id]
        assert row.left_at is None and row.joined_at == later
        await s.commit()


async def test_nobody_revokes_their_own_last_admin_role(world) -> None:
    sessions, ids = world
    async with sessions() as s:
        program = await programs.get(s, ids["program"])
        gestora = await data.person_with_roles(s, ids["Gestora"])
        with pytest.raises(RoleError) as err:
            await data.revoke_role(s, gestora, Role.GESTORA, program, NOW, by=gestora.id)
        assert err.value.code == "own_last_admin"
        assert roles_here(gestora.roles, program.id) == [Role.GESTORA]
        # With a second admin role she may let the first go; another admin may revoke any.
        await data.grant_role(s, gestora, Role.COORDINADORA, program, NOW, gestora.id)
        assert await data.revoke_role(s, gestora, Role.GESTORA, program, NOW, by=gestora.id)
        with pytest.raises(RoleError):
            await data.revoke_role(s, gestora, Role.COORDINADORA, program, NOW, by=gestora.id)
        assert await data.revoke_role(s, gestora, Role.COORDINADORA, program, NOW, by=ids["Ana"])


async def _meeting(s, program_id: int, starts: datetime, **kw) -> Meeting:
    program = await programs.get(s, program_id)
    return await data.create_meeting(s, program, kind=kw.pop("kind", "grupo_motor"),
                                     starts_at=starts, now=NOW, **kw)


async def test_moving_bumps_the_revision_drops_what_waits_and_clears_answers(world) -> None:
    sessions, ids = world
    starts = schedule.to_utc(date(2026, 3, 10), time(18), SCL)
    async with sessions() as s:
        m = await _meeting(s, ids["program"], starts)
        other = await _meeting(s, ids["program"], starts + timedelta(days=1))
        from storage import meetings

        [ana] = await meetings.invite(s, m, [ids["Ana"]], NOW)
        await meetings.answer(s, ana, RsvpAnswer.NO, "trabajo", NOW)
        for key in (f"remind:m{m.id}.r1.p{ids['Ana']}:eve", f"reask:m{m.id}.r1.p1:d3",
                    f"invite:{m.id}:r1:{ids['Ana']}", f"remind:m{other.id}.r1.p1:eve"):
            await outbox.enqueue_for_person(s, ids["Ana"], {}, key=key, kind="x", now=NOW)
        later = NOW + timedelta(hours=1)
        old = await data.move(s, m, starts + timedelta(days=2), later)
        assert old == starts and m.revision == 2
        rows = {r.idempotency_key: r.status for r in await s.scalars(select(OutboxMessage))}
        assert rows == {
            f"remind:m{m.id}.r1.p{ids['Ana']}:eve": OutboxStatus.DROPPED,
            f"reask:m{m.id}.r1.p1:d3": OutboxStatus.DROPPED,
            f"invite:{m.id}:r1:{ids['Ana']}": OutboxStatus.DROPPED,
            f"remind:m{other.id}.r1.p1:eve": OutboxStatus.PENDING,
        }
        assert (ana.answer, ana.reason, ana.answered_at, ana.invited_at) == (
            None, None, None, later)
        with pytest.raises(MeetingError):
            await data.move(s, m, NOW - timedelta(days=1), later)
        await data.cancel(s, m, later)
        assert m.status == MeetingStatus.CANCELLED
        with pytest.raises(MeetingError) as err:
            await data.move(s, m, starts + timedelta(days=5), later)
        assert err.value.code == "not_scheduled"


async def test_attendance_rates_by_body_and_person_over_held_meetings(world) -> None:
    sessions, ids = world
    a, b, c = ids["Ana"], ids["Beto"], ids["Carla"]
    async with sessions() as s:
        body = await s.scalar(select(Body).where(Body.kind == "grupo_motor"))
        first = await _meeting(s, ids["program"], NOW + timedelta(days=1), body_id=body.id)
        second = await _meeting(s, ids["program"], NOW + timedelta(days=2), body_id=body.id)
        open_one = await _meeting(s, ids["program"], NOW + timedelta(days=3), kind="formacion")
        not_held = await _meeting(s, ids["program"], NOW + timedelta(days=4), body_id=body.id)
        for m, invited in ((first, [a, b, c]), (second, [a, b]), (open_one, [a, c]),
                           (not_held, [a, b, c])):
            for pid in invited:
                s.add(Rsvp(meeting_id=m.id, person_id=pid, invited_at=NOW))
        await s.flush()
        marks = [(first, a, True), (first, b, False), (first, c, True), (second, a, True),
                 (open_one, c, True), (open_one, ids["Gestora"], True),  # a walk-in
                 (not_held, a, True), (not_held, b, True)]
        for m, pid, present in marks:
            await data.mark(s, m, pid, present, ids["Gestora"], NOW)
        for m in (first, second, open_one):
            await data.close(s, m, m.starts_at)
        rates = await data.attendance_rates(s, ids["program"])
    # Grupo Motor: first 2 of 3, second 1 of 2; the open session has no body; the fourth
    # was not held. The gestora came uninvited to the open one: not counted.
    assert rates["body"] == {body.id: turnout.Rate(3, 5)}
    assert rates["body"][body.id].percent == 60
    # Ana was invited to the open session too and did not come.
    assert rates["person"] == {a: turnout.Rate(2, 3), b: turnout.Rate(0, 2), c: turnout.Rate(2, 2)}


async def test_marks_are_one_row_per_person_and_the_last_mark_wins(world) -> None:
    sessions, ids = world
    async with sessions() as s:
        m = await _meeting(s, ids["program"], NOW + timedelta(days=1))
        await data.mark(s, m, ids["Ana"], True, ids["Gestora"], NOW)
        await data.mark(s, m, ids["Ana"], False, ids["Gestora"], NOW + timedelta(minutes=5))
        rows = list(await s.scalars(select(Attendance)))
        assert [(r.person_id, r.present, r.method) for r in rows] == [(ids["Ana"], False,
                                                                       "marked")]
        board = await data.board(s, m)
        # Listed, so the slip can be put right, but not counted: she is marked absent.
        assert [e.name for e in board.walk_ins] == ["Ana"] and board.tally.present == 0
        with pytest.raises(MeetingError):
            await data.mark(s, m, 999999, True, None, NOW)
