"""What Convoca holds counts as evidence in the stage timeline (issue 10): the fichas it
received (also those from organisations not in the catastro yet), the attendance it took and
the invitations it sent are shown as found ("3 fichas recibidas"), in /etapas and in
`convoca timeline`; only what it cannot see is left for the gestora to check by hand."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from bot.app import build_app
from bot.cli import main
from bot.config import load_settings
from handlers.admin.stages import milestone_card, stage_card
from locales import Catalogs
from storage import programs, progress, stages
from storage.models import (
    Attendance,
    AttendanceGuest,
    FormDefinition,
    FormResponse,
    Meeting,
    Organization,
    OrganizationInvitation,
    Person,
)
from storage.stages import MANUAL, READY

SANTIAGO = ZoneInfo("America/Santiago")
START = date(2026, 3, 2)
NOW = datetime(2026, 3, 2, 12, tzinfo=UTC)


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=SANTIAGO).astimezone(UTC)


async def seed_records(s, program_id: int) -> None:
    """Three valid fichas (one of an organisation in the catastro, two of organisations it
    lacks), one replaced and one draft that do not count; a socialisation session with its
    attendance; one organisation invited."""
    org = Organization(program_id=program_id, name="Junta de Vecinos Villa Ñuñoa",
                       created_at=NOW)
    sender = Person(name="Rosa Pizarro", program_id=program_id, created_at=NOW)
    s.add_all([org, sender])
    await s.flush()
    form = FormDefinition(key="ficha_interes", version=1, definition={}, created_at=NOW)
    s.add(form)
    await s.flush()

    def ficha(status: str, *, org_id: int | None = None, day: int = 6) -> FormResponse:
        return FormResponse(form_id=form.id, organization_id=org_id, person_id=sender.id,
                            program_id=None if org_id else program_id, status=status,
                            answers={}, started_at=NOW, updated_at=NOW,
                            submitted_at=None if status == "draft" else local(2026, 3, day, 12))

    s.add_all([ficha("submitted", org_id=org.id), ficha("superseded", org_id=org.id),
               ficha("submitted"), ficha("submitted", day=7), ficha("draft"),
               ficha("submitted", day=20)])  # after the day the timeline is read
    meeting = Meeting(program_id=program_id, kind="socializacion",
                      starts_at=local(2026, 3, 5, 18), status="held", created_at=NOW)
    s.add(meeting)
    await s.flush()
    neighbour = Person(name="Luis Soto", program_id=program_id, created_at=NOW)
    s.add(neighbour)
    await s.flush()
    s.add_all([Attendance(meeting_id=meeting.id, person_id=p.id, present=True,
                          method="marked", marked_at=meeting.starts_at)
               for p in (sender, neighbour)])
    s.add(OrganizationInvitation(organization_id=org.id, purpose="socializacion",
                                 sent_at=local(2026, 3, 3, 10)))
    await s.commit()


async def test_what_convoca_holds_is_evidence_with_what_it_found(sessions) -> None:
    async with sessions() as s:
        program = await programs.create(s, template="ecomercado-15m", start=START,
                                        name="Ecomercado Peñalolén", now=NOW)
        await seed_records(s, program.id)
        all_stages = await stages.stage_status(s, program.id, date(2026, 3, 10))
    soc = all_stages[0].milestones[0]
    assert soc.key == "s1.socializacion"
    assert {v.key: v.state for v in soc.verifiers} == {
        "procedimiento_interno": MANUAL, "lista_organizaciones_invitadas": READY,
        "lista_asistencia": READY, "ficha_interes": READY}
    assert not soc.lacking

    catalogs = Catalogs()
    detail = catalogs.render(milestone_card(all_stages[0], soc).text, "es")
    assert "✅ Ficha de interés de participación: 3 fichas recibidas" in detail
    assert "✅ Lista de asistencia: asistencia tomada en 1 sesión" in detail
    assert "✅ Listado de organizaciones invitadas: 1 organización invitada" in detail
    # Only the document Convoca cannot see is left to check by hand.
    assert "📎 Procedimiento interno del Ecomercado: por subir o confirmar" in detail
    assert "falta" not in detail
    card = catalogs.render(stage_card(all_stages, 0).text, "en")
    assert "✅ Participation interest form: 3 forms received" in card
    assert "Missing" not in card.split("\n\n")[2]  # the socialisation's own lines


def test_convoca_timeline_prints_what_it_found(cli_env: str, capsys) -> None:
    assert main(["db", "upgrade"]) == 0
    assert main(["program", "create", "--template", "ecomercado-15m", "--start",
                 START.isoformat(), "--name", "Ecomercado Quilpué"]) == 0

    async def seed() -> None:
        app = await build_app(load_settings())
        try:
            async with app.sessions() as s:
                await seed_records(s, 1)
        finally:
            await app.close()

    asyncio.run(seed())
    capsys.readouterr()
    assert main(["timeline"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].startswith("Etapa 1 · domingo 15 de marzo de 2026 · ")
    # Read today (long after the socialisation): every ficha, the session's attendance,
    # the invitation; nothing Convoca holds is reported missing.
    assert lines[2:5] == [
        "    ✅ Listado de organizaciones invitadas: 1 organización invitada",
        "    ✅ Lista de asistencia: asistencia tomada en 1 sesión",
        "    ✅ Ficha de interés de participación: 4 fichas recibidas",
    ]
    assert lines[5].startswith("Etapa 1 · miércoles 1 de abril de 2026 · Sesión diagnóstica")


async def test_a_session_only_written_in_walk_ins_came_to_was_held(sessions) -> None:
    # Left "scheduled", nobody in Convoca marked: the people who came were written in by
    # hand. The board counts them, so it was held and its attendance taken, as in the
    # progress report.
    async with sessions() as s:
        program = await programs.create(s, template="ecomercado-15m", start=START,
                                        name="Ecomercado Peñalolén", now=NOW)
        meeting = Meeting(program_id=program.id, kind="socializacion",
                          starts_at=local(2026, 3, 5, 18), status="scheduled", created_at=NOW)
        s.add(meeting)
        await s.flush()
        s.add(AttendanceGuest(meeting_id=meeting.id, name="Juan Pérez Rojas",
                              added_at=meeting.starts_at))
        await s.commit()
        soc = (await stages.stage_status(s, program.id, date(2026, 3, 10)))[0].milestones[0]
        figures = await progress.progress_figures(s, program.id, local(2026, 3, 10, 12))
    assert soc.key == "s1.socializacion" and soc.sessions_held == 1
    assert {v.key: v.state for v in soc.verifiers}["lista_asistencia"] == READY
    assert [x["meeting_id"] for x in figures["sessions"]] == [meeting.id]
