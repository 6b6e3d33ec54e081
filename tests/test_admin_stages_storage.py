"""storage.stages: what each milestone still lacks, computed from the records Convoca keeps
(sessions held, attendance taken, fichas, invitations), and moving or closing a milestone."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from storage import programs, stages
from storage.models import (
    Attendance,
    FormDefinition,
    FormResponse,
    Meeting,
    Milestone,
    Organization,
    OrganizationInvitation,
    Person,
)
from storage.stages import MANUAL, MISSING, READY

SANTIAGO = ZoneInfo("America/Santiago")
NOW = datetime(2026, 3, 2, 12, tzinfo=UTC)


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=SANTIAGO).astimezone(UTC)


async def seed(s) -> int:
    program = await programs.create(s, template="ecomercado-15m", start=date(2026, 3, 2),
                                    name="Ecomercado Peñalolén", now=NOW)
    org = Organization(program_id=program.id, name="Junta de Vecinos Villa Ñuñoa",
                       created_at=NOW)
    s.add(org)
    await s.flush()

    async def meeting(kind: str, starts: datetime, status: str, present: list[bool]) -> None:
        m = Meeting(program_id=program.id, kind=kind, starts_at=starts, status=status,
                    created_at=NOW)
        s.add(m)
        await s.flush()
        for was_there in present:
            person = Person(name="Vecina de la Junta", program_id=program.id, created_at=NOW)
            s.add(person)
            await s.flush()
            s.add(Attendance(meeting_id=m.id, person_id=person.id, present=was_there,
                             method="marked", marked_at=starts))

    # Socialisation: held with attendance (counts), one cancelled (does not), one after
    # the window (belongs to no socialisation milestone).
    await meeting("socializacion", local(2026, 3, 10, 18), "held", [True, True, False])
    await meeting("socializacion", local(2026, 3, 12, 18), "cancelled", [True])
    await meeting("socializacion", local(2026, 3, 18, 18), "held", [True])
    # Diagnosis: one marked held but whose list nobody took, one still "scheduled" in the
    # future.
    await meeting("diagnostico", local(2026, 3, 17, 18), "held", [])
    await meeting("diagnostico", local(2026, 3, 25, 18), "scheduled", [])
    form = FormDefinition(key="ficha_interes", version=1, definition={}, created_at=NOW)
    s.add(form)
    await s.flush()
    s.add(FormResponse(form_id=form.id, organization_id=org.id, status="submitted",
                       answers={}, started_at=NOW, updated_at=NOW,
                       submitted_at=local(2026, 3, 11, 12)))
    await s.commit()
    return program.id


def by_key(all_stages: list[stages.StageStatus]) -> dict[str, stages.MilestoneStatus]:
    return {m.key: m for st in all_stages for m in st.milestones}


def states(m: stages.MilestoneStatus) -> dict[str, str]:
    return {v.key: v.state for v in m.verifiers}


async def test_what_each_milestone_still_lacks(sessions) -> None:
    async with sessions() as s:
        program_id = await seed(s)
        today = date(2026, 3, 20)
        all_stages = await stages.stage_status(s, program_id, today)
    assert [st.number for st in all_stages] == [1, 2, 3, 4]
    assert all_stages[0].name == {"es": "Socialización y análisis situacional",
                                  "en": "Outreach and situational analysis"}
    ms = by_key(all_stages)
    soc = ms["s1.socializacion"]
    assert (soc.starts, soc.due, soc.sessions_held, soc.min_sessions) == (
        date(2026, 3, 2), date(2026, 3, 15), 1, 1)
    assert states(soc) == {"procedimiento_interno": MANUAL,
                           "lista_organizaciones_invitadas": MISSING,
                           "lista_asistencia": READY, "ficha_interes": READY}
    assert soc.overdue and not soc.current and soc.lacking
    diag = ms["s1.diagnostico"]
    assert (diag.starts, diag.due, diag.sessions_held) == (
        date(2026, 3, 16), date(2026, 4, 1), 1)
    # Held, but no list was taken: the attendance list is what is missing.
    assert states(diag)["lista_asistencia"] == MISSING
    assert diag.current and not diag.overdue and diag.sessions_missing == 0
    # Progress reports go with the stage the template names.
    last = all_stages[3].milestones
    assert [m.key for m in last if m.kind == "progress_report"] == [
        "informe_avance.9", "informe_avance.11", "informe_avance.13"]
    assert [m.starts for m in last] == sorted(m.starts for m in last)
    assert last[0].report_month is None and last[-1].report_month is None
    assert [m.report_month for m in last if m.kind == "progress_report"] == [9, 11, 13]
    assert stages.current_stage(all_stages, today) == 0


async def test_invitations_make_the_list_ready_and_done_closes_the_lacks(sessions) -> None:
    async with sessions() as s:
        program_id = await seed(s)
        org = await s.scalar(select(Organization))
        s.add(OrganizationInvitation(organization_id=org.id, purpose="socializacion",
                                     sent_at=NOW))
        m = await s.scalar(select(Milestone).where(Milestone.key == "s1.socializacion"))
        assert stages.set_done(m, NOW) is True
        assert stages.set_done(m, NOW) is False
        await s.flush()
        soc = by_key(await stages.stage_status(s, program_id, date(2026, 3, 20)))[
            "s1.socializacion"]
    assert states(soc)["lista_organizaciones_invitadas"] == READY
    assert soc.done and not soc.overdue and not soc.lacking


async def test_moving_a_milestone_keeps_the_templates_date(sessions) -> None:
    async with sessions() as s:
        program_id = await seed(s)
        m = await s.scalar(select(Milestone).where(Milestone.key == "s1.socializacion"))
        assert stages.move(m, date(2026, 3, 27)) == date(2026, 3, 15)
        with pytest.raises(stages.StageError):
            stages.move(m, date(2026, 3, 1))  # before the activity starts
        await s.commit()
    async with sessions() as s:
        soc = by_key(await stages.stage_status(s, program_id, date(2026, 3, 20)))[
            "s1.socializacion"]
        # The session on 18 March now falls inside the window, and the milestone is no
        # longer overdue.
        assert (soc.due, soc.planned_due, soc.moved, soc.sessions_held, soc.overdue) == (
            date(2026, 3, 27), date(2026, 3, 15), True, 2, False)
        assert await stages.milestone_of(s, program_id + 1, soc.id) is None


async def test_when_everything_is_done_the_last_stage_is_shown(sessions) -> None:
    async with sessions() as s:
        program_id = await seed(s)
        for m in (await s.scalars(select(Milestone))).all():
            m.done_at = NOW
        await s.flush()
        all_stages = await stages.stage_status(s, program_id, date(2026, 3, 20))
        assert stages.current_stage(all_stages, date(2026, 3, 20)) == 3
        # Before anything starts, the first stage with work to do is shown.
        for m in (await s.scalars(select(Milestone))).all():
            m.done_at = None
        await s.flush()
        early = await stages.stage_status(s, program_id, date(2026, 3, 1) - timedelta(days=30))
        assert stages.current_stage(early, date(2026, 1, 30)) == 0
