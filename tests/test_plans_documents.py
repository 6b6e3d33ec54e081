"""Stage 3's verificadores as files: the documento diagnóstico (PDF), the matriz de
priorización (XLSX and PDF) and the two plans (PDF and XLSX), rendered with poppler and
read back with openpyxl, each with the fields the guide asks and its evidence."""

from __future__ import annotations

import io
import os
import subprocess
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from leaks import assert_no_raw_keys_in_document
from openpyxl import load_workbook
from PIL import Image
from test_exports import read_pdf

from documents import verificadores
from documents.base import Ctx
from documents.registry import Request
from domain.program_templates import program_template_or_none
from locales import Catalogs
from storage import actions, people, programs
from storage import diagnosis as diag
from storage import plans as plan_store
from storage.models import Meeting, Membership, PlanKind, Program, Role

SANTIAGO = ZoneInfo("America/Santiago")
NOW = datetime(2026, 6, 25, 15, 0, tzinfo=UTC)
# CONVOCA_KEEP_DOCS=<folder> keeps the files and their pages there, for a person to look at.
KEEP = os.environ.get("CONVOCA_KEEP_DOCS")


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=SANTIAGO).astimezone(UTC)


async def seed(s) -> dict[str, int]:
    program = await programs.create(s, template="ecomercado-15m", start=date(2026, 1, 5),
                                    name="Ecomercado Solidario Peñalolén", now=NOW)
    program.settings = {"executor": "Municipalidad de Peñalolén", "comuna": "Peñalolén",
                        "region": "Metropolitana"}
    ids = {"program": program.id}
    bodies = {b.kind: b for b in await programs.bodies(s, program.id)}
    for address, name, rut, role, body in (
        ("1", "Carolina Gestora Muñoz", "12.345.678-5", Role.GESTORA, None),
        ("2", "Ana Muñoz Ñanco", "9.876.543-3", Role.GRUPO_MOTOR, "grupo_motor"),
        ("3", "Iñaki Peña Araya", None, Role.GRUPO_MOTOR, "grupo_motor"),
        ("4", "José Íñiguez", None, Role.GRUPO_MOTOR, "grupo_motor"),
        ("5", "Sofía Ñancupil", "15.111.222-K", Role.CONSEJO_LOCAL, "consejo_local"),
    ):
        p = await people.create_with_address(s, "telegram", address, NOW, name=name,
                                             consent_at=NOW, locale="es", program_id=program.id)
        p.rut = rut
        await people.grant(s, p, role, program.id, NOW)
        ids[name] = p.id
        if body:
            s.add(Membership(body_id=bodies[body].id, person_id=p.id, joined_at=NOW))
    for kind, when in (("diagnostico", local(2026, 4, 10, 18)),
                       ("priorizacion", local(2026, 6, 5, 18)),
                       ("plan_trabajo", local(2026, 6, 19, 18))):
        m = Meeting(program_id=program.id, kind=kind, starts_at=when, status="held",
                    created_at=NOW)
        s.add(m)
        await s.flush()
        ids[kind] = m.id
    for category, texts in (
        ("strength", ["Buena convocatoria de las juntas de vecinos", "Líderes con experiencia"]),
        ("weakness", ["Poca difusión en redes sociales"]),
        ("resource", ["Sede vecinal con cocina equipada", "Huerto comunitario"]),
        ("problem", ["Falta refrigeración para perecibles", "Pocas personas voluntarias los "
                     "sábados", "Traslado de la mercadería desde la bodega municipal"]),
    ):
        await diag.add(s, program.id, category, texts, now=NOW, meeting_id=ids["diagnostico"])
    crits = await diag.set_criteria(s, program.id, ["Urgencia", "Factibilidad", "Impacto"])
    given = {"Falta refrigeración para perecibles": (5, 3, 4),
             "Pocas personas voluntarias los sábados": (4, 5, 3),
             "Traslado de la mercadería desde la bodega municipal": (2, 2, 2),
             "Sede vecinal con cocina equipada": (5, 5, 5), "Huerto comunitario": (1, 2, 1)}
    for e in await diag.entries(s, program.id):
        for c, v in zip(crits, given.get(e.text, ()), strict=False):
            await diag.set_score(s, e.id, c.id, v, meeting_id=ids["priorizacion"])
    plan = await plan_store.ensure(s, program.id, PlanKind.WORK, now=NOW)
    ids["plan"] = plan.id
    o1 = await plan_store.add_objective(s, plan, "Incorporar a la comunidad organizada en la "
                                                 "operación del Ecomercado")
    o2 = await plan_store.add_objective(s, plan, "Vincular al Ecomercado con la red de apoyo "
                                                 "local comunitaria")
    await actions.add(s, program_id=program.id, text="Turnos de voluntariado los sábados",
                      now=NOW, plan_id=plan.id, objective_id=o1.id,
                      expected_result="Cuatro personas por turno, con cuadrante publicado",
                      responsible_person_id=ids["Iñaki Peña Araya"], due=date(2026, 7, 15),
                      alliance=False)
    await actions.add(s, program_id=program.id, text="Feria de difusión en la plaza de Lo "
                      "Hermida", now=NOW, plan_id=plan.id, objective_id=o2.id,
                      expected_result="Cien vecinas y vecinos conocen el Ecomercado",
                      responsible_name="Pedro Tapia (JJVV)", due=date(2026, 7, 31),
                      requirements="Mesas, toldo y parlante", alliance=True,
                      alliance_with="Junta de Vecinos Villa Ñuñoa y Radio Comunitaria")
    await plan_store.approve(s, plan, meeting_id=ids["plan_trabajo"],
                             at=local(2026, 6, 19, 18))
    await s.commit()
    return ids


def request(s, program: Program, verifier: str, fmt: str, subject: int | None = None,
            locale: str = "es") -> Request:
    ctx = Ctx(Catalogs(), locale, program.timezone, NOW)
    return Request(s, program, verifier, ctx, fmt=fmt, subject_id=subject)


def keep(file) -> None:
    if not KEEP:
        return
    out = Path(KEEP)
    out.mkdir(parents=True, exist_ok=True)
    (out / file.filename).write_bytes(file.content)
    subprocess.run(["pdftoppm", "-png", "-r", "60", str(out / file.filename),
                    str(out / Path(file.filename).stem)], check=False, capture_output=True)


HEADING = ("Ecomercado Solidario Peñalolén", "Municipalidad de Peñalolén", "Peñalolén")


async def test_the_diagnosis_document(sessions, tmp_path: Path) -> None:
    async with sessions() as s:
        ids = await seed(s)
        program = await s.get(Program, ids["program"])
        req = request(s, program, "documento_diagnostico", "pdf")
        [ev] = await verificadores.evidence(req)
        assert (ev.subject_id, ev.on) == (None, date(2026, 4, 10))
        [file] = await verificadores.make(req)
    assert file.filename == "diagnostico-ecomercado-solidario-penalolen-2026-04-10.pdf"
    assert_no_raw_keys_in_document(file.filename, file.content)
    keep(file)
    text, pages, _ = read_pdf(file, tmp_path)
    assert len(pages) == 1
    for part in (*HEADING, "Documento diagnóstico", "Sesión diagnóstica, viernes 10 de abril de 2026",
                 "Fortalezas", "Debilidades", "Recursos y potencialidades",
                 "Necesidades y problemas", "Líderes con experiencia",
                 "Traslado de la mercadería desde la bodega municipal", "Firmas",
                 "Carolina Gestora Muñoz", "12.345.678-5", "Gestora comunitaria",
                 "8 elementos anotados en total."):
        assert part in text, part


async def test_the_priority_matrix_in_both_formats(sessions, tmp_path: Path) -> None:
    async with sessions() as s:
        ids = await seed(s)
        program = await s.get(Program, ids["program"])
        [ev] = await verificadores.evidence(request(s, program, "matriz_priorizacion", "xlsx"))
        assert ev.on == date(2026, 6, 5) and ev.label == "Sesión del 05-06-2026" or ev.label
        [xlsx] = await verificadores.make(request(s, program, "matriz_priorizacion", "xlsx"))
        [pdf] = await verificadores.make(request(s, program, "matriz_priorizacion", "pdf"))
    assert xlsx.filename.endswith(".xlsx") and pdf.filename.endswith(".pdf")
    wb = load_workbook(io.BytesIO(xlsx.content))
    ws = wb.active
    assert ws.page_setup.orientation == "landscape"
    assert ws.sheet_properties.pageSetUpPr.fitToPage and ws.page_setup.fitToWidth == 1
    cells = [tuple(row) for row in ws.iter_rows(values_only=True)]
    assert cells[0][0].startswith("Matriz de priorización")
    flat = [v for row in cells for v in row if v is not None]
    for part in ("Ecomercado Solidario Peñalolén", "Municipalidad de Peñalolén",
                 "Sesión de priorización, viernes 5 de junio de 2026", "Urgencia, Factibilidad, Impacto"):
        assert any(part in str(v) for v in flat), part
    header = next(i for i, r in enumerate(cells) if r[1] == "Necesidad o problema")
    assert cells[header][:6] == ("Prioridad", "Necesidad o problema", "Urgencia",
                                 "Factibilidad", "Impacto", "Total")
    # Sorted by rank; the tie shares first place.
    assert cells[header + 1][:6] == (1, "Falta refrigeración para perecibles", 5, 3, 4, 12)
    assert cells[header + 2][:6] == (1, "Pocas personas voluntarias los sábados", 4, 5, 3, 12)
    assert cells[header + 3][:6] == (3, "Traslado de la mercadería desde la bodega municipal",
                                     2, 2, 2, 6)
    res = next(i for i, r in enumerate(cells) if r[1] == "Recurso o potencialidad")
    assert cells[res + 1][:6] == (1, "Sede vecinal con cocina equipada", 5, 5, 5, 15)
    assert cells[res + 2][:6] == (2, "Huerto comunitario", 1, 2, 1, 4)
    assert_no_raw_keys_in_document(pdf.filename, pdf.content)
    keep(pdf)
    text, pages, _ = read_pdf(pdf, tmp_path)
    with Image.open(pages[0]) as img:
        assert img.size[0] > img.size[1]  # landscape
    for part in (*HEADING, "Necesidades y problemas", "Recursos y potencialidades",
                 "Falta refrigeración para perecibles", "Sede vecinal con cocina equipada",
                 "Prioridad", "Total", "Urgencia", "Factibilidad", "Impacto", "Carolina Gestora"):
        assert part in text, part


@pytest.mark.parametrize("fmt", ["pdf", "xlsx"])
async def test_the_work_plan(sessions, tmp_path: Path, fmt: str) -> None:
    async with sessions() as s:
        ids = await seed(s)
        program = await s.get(Program, ids["program"])
        [ev] = await verificadores.evidence(request(s, program, "plan_trabajo_participativo",
                                                    fmt))
        assert (ev.subject_id, ev.on) == (ids["plan"], date(2026, 6, 19))
        # The communications plan has no actions: nothing to show as its evidence.
        assert await verificadores.evidence(request(s, program, "plan_comunicaciones",
                                                    fmt)) == []
        # Without a subject the verifier says which plan.
        [file] = await verificadores.make(request(s, program, "plan_trabajo_participativo", fmt))
        [same] = await verificadores.make(request(s, program, "plan_comunicaciones", fmt,
                                                  ids["plan"]))
    assert file.filename == f"plan-trabajo-participativo-ecomercado-solidario-penalolen-" \
                            f"2026-06-19.{fmt}" == same.filename
    wanted = ("Plan de trabajo participativo", "Grupo Motor",
              "Sesión del plan de trabajo participativo, viernes 19 de junio de 2026",
              "Incorporar a la comunidad organizada en la operación del Ecomercado",
              "Turnos de voluntariado los sábados", "Cuatro personas por turno",
              "Iñaki Peña Araya", "Pedro Tapia (JJVV)", "Mesas, toldo y parlante",
              "Junta de Vecinos Villa Ñuñoa y Radio Comunitaria", "Resultado esperado",
              "Requerimientos específicos", "Alianza", "Con quién", "Plazo", "Responsable")
    if fmt == "xlsx":
        wb = load_workbook(io.BytesIO(file.content))
        ws = wb.active
        assert ws.page_setup.orientation == "landscape" and ws.page_setup.fitToWidth == 1
        rows = list(ws.iter_rows(values_only=True))
        flat = " | ".join(str(v) for r in rows for v in r if v is not None)
        for part in (*wanted, *HEADING):
            assert part in flat, part
        [first] = [r for r in rows if r[1] == "Turnos de voluntariado los sábados"]
        assert first[0] == "1.1" and first[4] == datetime(2026, 7, 15) and first[6] == "No"
        [second] = [r for r in rows if r[1] == "Feria de difusión en la plaza de Lo Hermida"]
        assert second[0] == "2.1" and second[5] == "Mesas, toldo y parlante" and second[6] == "Sí"
        return
    assert_no_raw_keys_in_document(file.filename, file.content)
    keep(file)
    text, pages, _ = read_pdf(file, tmp_path)
    for part in (*wanted, *HEADING, "15 jul 2026", "Firmas", "Ana Muñoz Ñanco", "José Íñiguez",
                 "Carolina Gestora Muñoz", "Gestora comunitaria"):
        assert part in text, part


async def test_in_english_too(sessions, tmp_path: Path) -> None:
    async with sessions() as s:
        ids = await seed(s)
        program = await s.get(Program, ids["program"])
        made = {}
        for verifier in ("documento_diagnostico", "matriz_priorizacion",
                         "plan_trabajo_participativo"):
            [made[verifier]] = await verificadores.make(
                request(s, program, verifier, "pdf", locale="en"))
    wanted = {"documento_diagnostico": ("Diagnosis document", "Strengths", "Weaknesses",
                                        "Resources and potentials", "Needs and problems",
                                        "Friday 10 April 2026", "Community manager"),
              "matriz_priorizacion": ("Prioritisation matrix", "Need or problem",
                                      "Resource or potential", "Priority", "Total"),
              "plan_trabajo_participativo": ("Participatory work plan", "Expected result",
                                             "Specific requirements", "With whom", "Led by",
                                             "Core Group")}
    for verifier, file in made.items():
        assert_no_raw_keys_in_document(file.filename, file.content)
        folder = tmp_path / verifier
        folder.mkdir()
        text, _, _ = read_pdf(file, folder)
        for part in wanted[verifier]:
            assert part in text, (verifier, part)


async def test_a_plan_not_yet_validated_is_a_draft_dated_by_its_last_change(sessions) -> None:
    async with sessions() as s:
        ids = await seed(s)
        program = await s.get(Program, ids["program"])
        comms = await plan_store.ensure(s, program.id, PlanKind.COMMUNICATIONS,
                                        now=local(2026, 6, 20, 10))
        objective = await plan_store.add_objective(s, comms, "Dar a conocer el Ecomercado")
        # An objective alone is no plan to show yet.
        assert await verificadores.evidence(request(s, program, "plan_comunicaciones",
                                                    "pdf")) == []
        await actions.add(s, program_id=program.id, text="Cápsulas radiales",
                          now=local(2026, 6, 24, 20), plan_id=comms.id,
                          objective_id=objective.id, responsible_name="Radio Ñuñoa",
                          due=date(2026, 8, 1))
        await s.flush()
        [ev] = await verificadores.evidence(request(s, program, "plan_comunicaciones", "pdf"))
        assert (ev.subject_id, ev.on) == (comms.id, date(2026, 6, 24))
        assert ev.label.startswith("Borrador al")
        [file] = await verificadores.make(request(s, program, "plan_comunicaciones", "xlsx"))
    assert file.filename.startswith("plan-comunicaciones-")


async def test_a_simulated_programmes_stage_three_verificadores(sessions, tmp_path: Path) -> None:
    """From the simulated 15-month programme's records (written with the models alone), each
    of these documents is made in every format and reads back."""
    from programme_records import simulate

    async with sessions() as s:
        records = await simulate(s, NOW)
        await s.flush()
        program = await s.get(Program, records.program_id)
        made = {}
        for verifier in ("documento_diagnostico", "matriz_priorizacion",
                         "plan_trabajo_participativo", "plan_comunicaciones"):
            for fmt in verificadores.for_verifier(program_template_or_none(program),
                                                  verifier).formats:
                req = request(s, program, verifier, fmt)
                [ev] = await verificadores.evidence(req)
                [made[(verifier, fmt)]] = await verificadores.make(
                    request(s, program, verifier, fmt, ev.subject_id))
    assert len(made) == 7
    for (verifier, fmt), file in made.items():
        assert_no_raw_keys_in_document(file.filename, file.content)
        if fmt == "pdf":
            keep(file)
            folder = tmp_path / verifier
            folder.mkdir()
            text, _, _ = read_pdf(file, folder)
            assert "Fundación Trabajo Ñuble" in text and "Firmas" in text, verifier
        else:
            ws = load_workbook(io.BytesIO(file.content)).active
            assert ws.page_setup.orientation == "landscape"
            assert "Fundación Trabajo Ñuble" in [c for r in ws.iter_rows(values_only=True)
                                                 for c in r]
