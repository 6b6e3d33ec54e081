"""The panel's Etapas: every stage and activity with its dates and what it lacks; moving an
activity's date (typed as people say dates) and marking it done or pending, audited; bad
input answered beside the field; the supervisor reads and changes nothing."""

from __future__ import annotations

import re
from datetime import date

from sqlalchemy import select

from storage.models import AuditEntry, Milestone, Role


async def milestones(web, program_id: int | None = None) -> list[Milestone]:
    async with web.app.sessions() as s:
        return list((await s.scalars(
            select(Milestone).where(Milestone.program_id == (program_id or web.program.id))
            .order_by(Milestone.stage, Milestone.starts, Milestone.id))).all())


async def first(web) -> Milestone:
    return (await milestones(web))[0]


async def audits(web, action: str) -> list[AuditEntry]:
    async with web.app.sessions() as s:
        return list((await s.scalars(
            select(AuditEntry).where(AuditEntry.action == action))).all())


async def gestora(web):
    return await web.signed_in(await web.person("Daniela Vergara", Role.GESTORA))


def row(html: str, milestone_id: int) -> str:
    found = re.search(rf'<tr id="m-{milestone_id}".*?</tr>', html, re.S)
    assert found, f"no row for milestone {milestone_id}"
    return found.group(0)


async def test_every_stage_and_activity_is_shown_with_its_dates_and_records(web) -> None:
    b = await gestora(web)
    r = await b.get(web.url("etapas"))
    assert r.status_code == 200
    assert r.text.count("<h1") == 1
    for n, name in enumerate(["Socialización y análisis situacional",
                              "Constitución de instancias de participación y formación",
                              "Elaboración de planes de trabajo",
                              "Ejecución de planes y proyección"], start=1):
        assert f"Etapa {n}: {name}" in r.text
    all_of_them = await milestones(web)
    assert r.text.count('<tr id="m-') == len(all_of_them)
    m = all_of_them[0]
    first_row = row(r.text, m.id)
    assert "sáb 14 mar" in first_row  # its due date, as people say it
    assert "en curso" in first_row
    # Begun: what Convoca cannot find yet is said ("Falta: ...").
    assert "Falta:" in first_row
    assert "Marcar como hecha" in first_row and 'name="due"' in first_row
    assert 'value="14-03-2026"' in first_row


async def test_a_typed_date_moves_the_activity_and_is_audited(web) -> None:
    b = await gestora(web)
    m = await first(web)
    await b.get(web.url("etapas"))
    r = await b.post(web.url("etapas", f"{m.id}/fecha"), data={"due": "20 de marzo"},
                     follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"].endswith(f"etapas/?aviso=moved&m={m.id}#m-{m.id}")
    page = await b.get(r.headers["location"])
    assert "ahora vence el viernes 20 de marzo de 2026" in page.text
    assert "Fecha original: sáb 14 mar" in row(page.text, m.id)
    moved = await first(web)
    assert moved.due == date(2026, 3, 20)
    assert moved.planned_due == m.planned_due == date(2026, 3, 14)
    [entry] = await audits(web, "milestone_moved")
    assert entry.channel == "web" and entry.entity_id == m.id and entry.actor_id is not None
    assert entry.details["before"] == "2026-03-14" and entry.details["due"] == "2026-03-20"
    # The same date again changes nothing and records nothing.
    await b.post(web.url("etapas", f"{m.id}/fecha"), data={"due": "20-03-2026"})
    assert len(await audits(web, "milestone_moved")) == 1


async def test_bad_dates_are_answered_beside_the_field_and_nothing_changes(web) -> None:
    b = await gestora(web)
    m = await first(web)
    await b.get(web.url("etapas"))
    for typed, said in [("30 de febrero", "no existe en el calendario"),
                        ("cuando se pueda", "No entendí esa fecha"),
                        ("", "Escribe la nueva fecha"),
                        ("15-02-2026", "antes del inicio de la actividad")]:
        r = await b.post(web.url("etapas", f"{m.id}/fecha"), data={"due": typed})
        assert r.status_code == 422, typed
        field = row(r.text, m.id)
        assert said in field, typed
        assert 'aria-invalid="true"' in field
        assert f'value="{typed}"' in field  # what she typed stays, to correct it
        assert "No se guardó" in r.text
    assert (await first(web)).due == m.due
    assert await audits(web, "milestone_moved") == []


async def test_marking_done_and_pending_again_is_saved_and_audited(web) -> None:
    b = await gestora(web)
    m = await first(web)
    await b.get(web.url("etapas"))
    r = await b.post(web.url("etapas", f"{m.id}/hecha"))
    assert r.status_code == 200
    assert "quedó marcada como hecha" in r.text
    assert "Hecha el lunes 2 de marzo de 2026" in row(r.text, m.id)
    assert "Volver a pendiente" in row(r.text, m.id)
    assert (await first(web)).done_at is not None
    [done] = await audits(web, "milestone_done")
    assert done.channel == "web" and done.entity_id == m.id

    r = await b.post(web.url("etapas", f"{m.id}/pendiente"))
    assert "volvió a quedar pendiente" in r.text
    assert (await first(web)).done_at is None
    assert len(await audits(web, "milestone_undone")) == 1


async def test_the_supervisor_sees_everything_and_changes_nothing(web) -> None:
    m = await first(web)
    b = await web.signed_in(await web.person("Sara Regional", Role.SUPERVISOR))
    r = await b.get(web.url("etapas"))
    assert r.status_code == 200
    assert "Etapa 1: Socialización" in r.text
    assert "Marcar como hecha" not in r.text and 'name="due"' not in r.text
    assert "los cambios los hace el equipo" in r.text
    for path, data in [(f"{m.id}/hecha", {}), (f"{m.id}/fecha", {"due": "20-03-2026"})]:
        r = await b.post(web.url("etapas", path), data=data)
        assert r.status_code == 403
    after = await first(web)
    assert after.done_at is None and after.due == m.due
    assert await audits(web, "milestone_done") == []


async def test_refusals_wrong_role_no_session_bad_token_other_programme(web) -> None:
    m = await first(web)
    recinto = await web.signed_in(await web.person("Juan Recinto", Role.RECINTO))
    assert (await recinto.get(web.url("etapas"))).status_code == 403
    assert (await recinto.post(web.url("etapas", f"{m.id}/hecha"))).status_code == 403

    nobody = web.browser()
    r = await nobody.post(web.url("etapas", f"{m.id}/hecha"), follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/web/entrar"

    b = await gestora(web)
    await b.get(web.url("etapas"))
    r = await b.post(web.url("etapas", f"{m.id}/hecha"), data={"csrf": "not-it"})
    assert r.status_code == 403

    other = await web.another_programme("Otro programa")
    theirs = (await milestones(web, other.id))[0]
    r = await b.post(web.url("etapas", f"{theirs.id}/hecha"))
    assert r.status_code == 404
    assert "No encontramos esa actividad" in r.text
    async with web.app.sessions() as s:
        assert (await s.get(Milestone, theirs.id)).done_at is None
    assert (await first(web)).done_at is None


async def test_the_chat_sees_what_the_panel_changed(web) -> None:
    """One use case for both: a date moved on the panel is the chat's date too."""
    from handlers.admin.stages import stage_card
    from storage import stages as stage_rows

    b = await gestora(web)
    m = await first(web)
    await b.get(web.url("etapas"))
    await b.post(web.url("etapas", f"{m.id}/fecha"), data={"due": "2026-03-25"})
    async with web.app.sessions() as s:
        stages = await stage_rows.stage_status(s, web.program.id, date(2026, 3, 2))
    card = web.app.catalogs.render(stage_card(stages, 0).text, "es", "America/Santiago")
    assert "mié 25 mar" in card


async def test_an_activity_not_begun_says_what_it_will_ask_for(web) -> None:
    b = await gestora(web)
    second = (await milestones(web))[1]
    later = row((await b.get(web.url("etapas"))).text, second.id)
    assert "más adelante" in later
    assert "Pedirá:" in later and "Documento diagnóstico" in later
    assert "Falta:" not in later  # nothing is missing before it begins
