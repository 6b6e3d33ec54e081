"""Planes on the web panel: the diagnosis, the priority matrix, both plans with their
actions, the follow-up matrix month by month and the session actas, read from the records
of a simulated programme; each document downloaded as the chat sends it; a report on an
action recorded from the panel as /avance records it; and who may do what."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from documents.base import Ctx
from documents.minutes import follow_up_rows
from storage import actions, diagnosis
from storage.models import ActionItem, ActionStatus, ActionUpdate, AuditEntry, Minutes, Role

NOW = datetime(2027, 4, 5, 15, tzinfo=UTC)  # month 14: every plan made, a year of reports


@pytest.fixture
async def records(web):
    return await web.simulated(NOW)


def url(web, records, rest: str = "") -> str:
    return web.url("planes", rest, program_id=records.program_id)


async def gestora_of(web, records):
    return await web.signed_in(await web.person("Daniela Gestora", Role.GESTORA,
                                                program_id=records.program_id))


async def test_the_overview_shows_the_diagnosis_the_matrix_and_both_plans(web, records) -> None:
    b = await gestora_of(web, records)
    r = await b.get(url(web, records))
    assert r.status_code == 200, r.text
    assert r.text.count("<h1") == 1
    for heading in ("Diagnóstico", "Fortalezas", "Debilidades", "Recursos y potencialidades",
                    "Necesidades y problemas", "Matriz de priorización",
                    "Plan de trabajo participativo", "Plan de comunicaciones"):
        assert heading in r.text, heading
    async with web.app.sessions() as s:
        entries = await diagnosis.entries(s, records.program_id)
        matrix = await diagnosis.matrix(s, records.program_id)
        first = next(rows[0] for rows in matrix.tables.values() if rows)
        items = await actions.of_program(s, records.program_id)
    for e in entries:
        assert e.text.replace('"', "&#34;") in r.text or e.text in r.text
    for c in matrix.criteria:
        assert f">{c.name}</th>" in r.text
    assert first.rank == 1 and f"<strong>{first.total}</strong>" in r.text
    planned = [a for a in items if a.plan_id and a.status != ActionStatus.DROPPED]
    for a in planned:
        assert f"acciones/{a.id}\"" in r.text
    # An open action past its deadline is marked as such.
    today = NOW.date()
    late = [a for a in planned if a.status in actions.OPEN and a.due and a.due < today]
    assert r.text.count("badge late") == len(late)
    assert 'href="' + url(web, records, "diagnostico.pdf") + '"' in r.text


async def test_the_follow_up_matrix_shows_the_documents_own_rows(web, records) -> None:
    b = await gestora_of(web, records)
    r = await b.get(url(web, records, "seguimiento"))
    assert r.status_code == 200, r.text
    async with web.app.sessions() as s:
        rows, months, _last = await follow_up_rows(
            s, records.program_id, Ctx(web.app.catalogs, "es", "America/Santiago", NOW))
    assert rows and len(months) >= 6
    body = r.text.split("<tbody>", 1)[1]
    assert body.count('<td class="month">') == sum(len(x.months) for x in rows)
    # Each row's month cells are the document's cells, in order.
    for row in rows[:5]:
        cells = re.findall(r'<td class="month">([^<]*)</td>',
                           r.text.split(f"acciones/{row.action_id}\"", 1)[1])[:len(months)]
        assert cells == row.months
    assert f"{sum(x.overdue for x in rows)} atrasada" in r.text


async def test_the_actas_and_one_acta_with_its_commitments(web, records) -> None:
    b = await gestora_of(web, records)
    r = await b.get(url(web, records, "actas"))
    assert r.status_code == 200
    async with web.app.sessions() as s:
        minutes = (await s.scalars(select(Minutes).where(
            Minutes.program_id == records.program_id))).all()
        committed_of = {m.id: await actions.of_minutes(s, m.id) for m in minutes}
        one = next(m for m in minutes if committed_of[m.id])
        committed = committed_of[one.id]
    assert len(minutes) >= 2
    assert r.text.count("/acta.pdf") == len(minutes)
    r = await b.get(url(web, records, f"actas/{one.meeting_id}"))
    assert r.status_code == 200
    assert "Temas tratados" in r.text and "Acuerdos" in r.text
    for a in committed:
        assert f"acciones/{a.id}\"" in r.text
    assert (await b.get(url(web, records, "actas/999999"))).status_code == 404


async def test_every_document_downloads_as_a_file(web, records) -> None:
    b = await gestora_of(web, records)
    async with web.app.sessions() as s:
        meeting_id = (await s.scalars(select(Minutes.meeting_id).where(
            Minutes.program_id == records.program_id))).first()
    for rest in ("diagnostico.pdf", "priorizacion.pdf", "plan-trabajo.pdf",
                 "plan-comunicaciones.pdf", "seguimiento.pdf", f"actas/{meeting_id}/acta.pdf"):
        r = await b.get(url(web, records, rest))
        assert r.status_code == 200, rest
        assert r.headers["content-type"] == "application/pdf", rest
        assert r.content.startswith(b"%PDF"), rest
        assert r.headers["content-disposition"].startswith("attachment; filename="), rest
    for rest in ("priorizacion.xlsx", "plan-trabajo.xlsx", "seguimiento.xlsx"):
        r = await b.get(url(web, records, rest))
        assert r.status_code == 200, rest
        assert r.content[:2] == b"PK", rest
        assert r.headers["content-type"].startswith(
            "application/vnd.openxmlformats-officedocument.spreadsheetml"), rest
        load_workbook(io.BytesIO(r.content))
    assert (await b.get(url(web, records, "diagnostico.xlsx"))).status_code == 404
    assert (await b.get(url(web, records, "plan-otro.pdf"))).status_code == 404
    async with web.app.sessions() as s:
        exports = (await s.scalars(select(AuditEntry).where(AuditEntry.action == "export"))).all()
    assert len(exports) == 9


async def test_a_report_from_the_panel_is_recorded_as_avance_records_it(web, records) -> None:
    b = await gestora_of(web, records)
    async with web.app.sessions() as s:
        item = next(a for a in await actions.of_program(s, records.program_id)
                    if a.plan_id and a.status in actions.OPEN)
        before = len((await actions.history(s, [item.id]))[item.id])
    page = await b.get(url(web, records, f"acciones/{item.id}"))
    assert page.status_code == 200 and 'name="status"' in page.text
    # No status chosen: the form again, with why, and nothing recorded.
    r = await b.post(url(web, records, f"acciones/{item.id}"), data={"note": "Algo"})
    assert r.status_code == 422
    assert "Elige cómo va" in r.text and ">Algo</textarea>" in r.text
    r = await b.post(url(web, records, f"acciones/{item.id}"),
                     data={"status": "stuck", "note": "Falta el permiso municipal"})
    assert r.status_code == 200 and "quedó guardado" in r.text
    assert "Falta el permiso municipal" in r.text
    async with web.app.sessions() as s:
        again = await s.get(ActionItem, item.id)
        history = (await actions.history(s, [item.id]))[item.id]
        audit = (await s.scalars(select(AuditEntry).where(
            AuditEntry.action == "action_reported"))).all()
    assert again.status == ActionStatus.STUCK
    assert len(history) == before + 1
    last = history[-1]
    assert (last.status, last.note) == ("stuck", "Falta el permiso municipal")
    assert audit and audit[-1].entity_id == item.id and audit[-1].channel == "web"
    # A forged status is refused too.
    r = await b.post(url(web, records, f"acciones/{item.id}"), data={"status": "dropped"})
    assert r.status_code == 422


async def test_who_may_read_and_who_may_report(web, records) -> None:
    async with web.app.sessions() as s:
        item = next(a for a in await actions.of_program(s, records.program_id)
                    if a.plan_id and a.status in actions.OPEN)
        updates = len((await s.scalars(select(ActionUpdate))).all())
    supervisor = await web.signed_in(await web.person(
        "Sra. Supervisora", Role.SUPERVISOR, program_id=records.program_id))
    for rest in ("", "seguimiento", "actas", f"acciones/{item.id}", "seguimiento.xlsx"):
        assert (await supervisor.get(url(web, records, rest))).status_code == 200, rest
    page = await supervisor.get(url(web, records, f"acciones/{item.id}"))
    assert 'name="status"' not in page.text  # no form she could not send
    r = await supervisor.post(url(web, records, f"acciones/{item.id}"), data={"status": "done"})
    assert r.status_code == 403
    recinto = await web.signed_in(await web.person(
        "Don Pedro", Role.RECINTO, program_id=records.program_id))
    for rest in ("", "seguimiento", "diagnostico.pdf"):
        r = await recinto.get(url(web, records, rest))
        assert r.status_code == 403 and "Fortalezas" not in r.text
    gestora = await gestora_of(web, records)
    r = await gestora.post(url(web, records, f"acciones/{item.id}"), data={"status": "done"},
                           with_csrf=False)
    assert r.status_code == 403
    nobody = web.browser()
    r = await nobody.get(url(web, records))
    assert str(r.url).endswith("/web/entrar")
    async with web.app.sessions() as s:
        assert len((await s.scalars(select(ActionUpdate))).all()) == updates
        assert (await s.get(ActionItem, item.id)).status == item.status


async def test_a_programme_with_nothing_recorded_says_so(web) -> None:
    b = await web.signed_in(await web.person("Daniela", Role.GESTORA))
    for rest, words in (("", "Todavía no hay diagnóstico"), ("seguimiento", "no hay acciones"),
                        ("actas", "Todavía no hay actas")):
        r = await b.get(web.url("planes", rest))
        assert r.status_code == 200 and words in r.text, rest
    r = await b.get(web.url("planes", "diagnostico.pdf"))
    assert r.status_code == 404 and "Aún no hay nada registrado" in r.text
    assert (await b.get(web.url("planes", "acciones/1"))).status_code == 404
