"""The informe de avance of a 15-month convenio, simulated over its months (issue 14 item
7): sessions of every body, delivery days and fichas, with events after the month-9
cut-off that must count nowhere. The report's tables agree with each other and with the
attendance and delivery lists; every percentage is its two counts' quotient; the charts
carry their title and the cut-off date; the PDF prints (and was looked at) and the
workbook reads back."""

from __future__ import annotations

import asyncio
import io
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook
from PIL import Image
from pytest import approx
from sqlalchemy import select
from test_exports import above_table, read_pdf, read_xlsx, sheet_rows, table_rows

from documents import exports
from documents import progress as report
from documents.base import Ctx
from locales import Catalogs
from storage import programs
from storage.models import (
    Attendance,
    AttendanceGuest,
    Body,
    DeliveryDay,
    Family,
    FormDefinition,
    FormResponse,
    Meeting,
    Organization,
    OrganizationInvitation,
    Person,
    Pickup,
    Rsvp,
)
from storage.progress import progress_figures

SANTIAGO = ZoneInfo("America/Santiago")
START = date(2026, 3, 2)
CUT_DAY = date(2026, 12, 1)  # the last day of month 9
NOW = datetime(2027, 1, 15, 15, tzinfo=UTC)  # long after: the cut-off alone must hold
PROGRAM = "Ecomercado Solidario Quilpué"


def local(y: int, m: int, d: int, h: int = 18) -> datetime:
    return datetime(y, m, d, h, tzinfo=SANTIAGO).astimezone(UTC)


# (day, kind, body, invited, present of them, walk-ins); None body: the template's.
SESSIONS = [
    ((2026, 3, 10), "socializacion", None, 6, 5, 1),
    ((2026, 3, 24), "diagnostico", None, 6, 4, 0),
    ((2026, 4, 7), "grupo_motor", "grupo_motor", 6, 6, 0),
    ((2026, 5, 5), "grupo_motor", "grupo_motor", 6, 5, 0),
    ((2026, 5, 20), "consejo_local", "consejo_local", 4, 4, 0),
    ((2026, 6, 2), "grupo_motor", "grupo_motor", 6, 3, 0),
    ((2026, 7, 7), "grupo_motor", "grupo_motor", 6, 4, 1),
    ((2026, 7, 15), "formacion", None, 8, 6, 2),
    ((2026, 7, 14), "priorizacion", None, 6, 5, 0),
    ((2026, 7, 22), "consejo_local", "consejo_local", 4, 3, 0),
    ((2026, 8, 4), "plan_trabajo", None, 6, 5, 0),
    ((2026, 8, 12), "plan_comunicaciones", None, 4, 4, 0),
    ((2026, 8, 18), "plan_trabajo", None, 6, 6, 0),
    ((2026, 8, 26), "plan_comunicaciones", None, 4, 2, 0),
    ((2026, 9, 16), "formacion", None, 8, 7, 0),
    ((2026, 10, 6), "grupo_motor", "grupo_motor", 6, 5, 0),
    ((2026, 10, 20), "proyeccion", None, 6, 4, 0),
    ((2026, 11, 25), "consejo_local", "consejo_local", 4, 4, 0),
    # After the cut-off: counted nowhere.
    ((2026, 12, 9), "consejo_local", "consejo_local", 4, 4, 0),
    ((2026, 12, 15), "grupo_motor", "grupo_motor", 6, 6, 2),
]
CANCELLED = ((2026, 9, 1), "grupo_motor")  # cancelled: not held
DAYS = [(2026, m, 15) for m in range(4, 12)] + [(2026, 12, 10)]  # the last after the cut-off


@dataclass
class Simulated:
    sessions: Any
    program_id: int
    meetings: dict[tuple[int, int, int], int]
    days: dict[tuple[int, int, int], int]


async def simulate(sessions: Any) -> Simulated:
    created = local(2026, 3, 1, 9)
    async with sessions() as s:
        program = await programs.create(s, template="ecomercado-15m", start=START,
                                        name=PROGRAM, now=created)
        program.settings = {"executor": "Municipalidad de Quilpué", "comuna": "Quilpué",
                            "facilitator": "Carolina Muñoz Peña"}
        pid = program.id
        bodies = {b.kind: b for b in (await s.scalars(
            select(Body).where(Body.program_id == pid))).all()}
        bodies["grupo_motor"].constituted_at = local(2026, 4, 7, 20)
        bodies["consejo_local"].constituted_at = local(2026, 5, 20, 20)

        orgs = []
        for name in ("Junta de Vecinos Villa Ñuñoa", "Club Deportivo Peñablanca",
                     "Centro de Madres Señora Inés", "Comité de Allegados Los Añañucos",
                     "Agrupación Cultural Peñi Ñuke", "Club de Adulto Mayor Los Aromos"):
            o = Organization(program_id=pid, name=name, created_at=created)
            s.add(o)
            await s.flush()
            orgs.append(o.id)
            s.add(OrganizationInvitation(organization_id=o.id, purpose="socializacion",
                                         sent_at=local(2026, 3, 3, 10)))
        ficha = FormDefinition(key="ficha_interes", version=1, definition={}, created_at=created)
        s.add(ficha)
        await s.flush()
        # Four fichas by the cut-off, a fifth on 5 December.
        for org, day in zip(orgs, ((3, 12), (3, 13), (3, 14), (3, 20)), strict=False):
            at = local(2026, *day, 12)
            s.add(FormResponse(form_id=ficha.id, organization_id=org, program_id=pid,
                               status="submitted", answers={}, started_at=at, updated_at=at,
                               submitted_at=at))
        late = local(2026, 12, 5, 12)
        s.add(FormResponse(form_id=ficha.id, organization_id=orgs[4], program_id=pid,
                           status="submitted", answers={}, started_at=late, updated_at=late,
                           submitted_at=late))

        people = []
        for i in range(8):
            p = Person(program_id=pid, name=f"Integrante {i + 1} Muñoz", created_at=created)
            s.add(p)
            await s.flush()
            people.append(p.id)

        meetings = {}
        for day, kind, body, invited, present, walk_ins in SESSIONS:
            starts = local(*day)
            m = Meeting(program_id=pid, kind=kind, starts_at=starts,
                        ends_at=starts + timedelta(hours=2), status="held",
                        body_id=bodies[body].id if body else None, place="Sede Villa Ñuñoa",
                        created_at=created)
            s.add(m)
            await s.flush()
            meetings[day] = m.id
            for n in range(invited):
                s.add(Rsvp(meeting_id=m.id, person_id=people[n], invited_at=starts - timedelta(days=7),
                           answer="yes", answered_at=starts - timedelta(days=6)))
                s.add(Attendance(meeting_id=m.id, person_id=people[n], present=n < present,
                                 method="marked", marked_at=starts + timedelta(minutes=10)))
            for n in range(walk_ins):
                s.add(AttendanceGuest(meeting_id=m.id, name=f"Vecina {n + 1} Núñez",
                                      added_at=starts + timedelta(minutes=20)))
        s.add(Meeting(program_id=pid, kind=CANCELLED[1], starts_at=local(*CANCELLED[0]),
                      status="cancelled", body_id=bodies["grupo_motor"].id, created_at=created))

        families = []
        for name in ("Araya Muñoz", "Peña Ñancupán", "Castañeda Rojas", "Ibáñez Soto",
                     "Zúñiga Pérez"):
            f = Family(program_id=pid, name=name, pickup_mode="retiro", created_at=created)
            s.add(f)
            await s.flush()
            families.append(f.id)
        days = {}
        for day in DAYS:
            start = local(*day, 10)
            d = DeliveryDay(program_id=pid, mode="retiro", window_start=start,
                            window_end=start + timedelta(hours=2), place="Ecomercado Quilpué",
                            created_at=start - timedelta(days=20))
            s.add(d)
            await s.flush()
            days[day] = d.id
            told, answered = start - timedelta(days=5), start - timedelta(days=4)
            even = day[1] % 2 == 0
            for fam, status in zip(families, ("picked_up", "picked_up", "no_show", "cannot",
                                              "picked_up" if even else "no_show"), strict=True):
                s.add(Pickup(delivery_day_id=d.id, family_id=fam, status=status,
                             notified_at=told, responded_at=answered,
                             reason="Trabajo ese día" if status == "cannot" else None,
                             handed_at=start + timedelta(minutes=30)
                             if status == "picked_up" else None))
        await s.commit()
    return Simulated(sessions, pid, meetings, days)


@pytest.fixture
async def simulated(sessions: Any) -> Simulated:
    return await simulate(sessions)


@pytest.fixture(scope="module")
def catalogs() -> Catalogs:
    return Catalogs()


def by_header(rows: list[list[Any]]) -> list[dict[str, Any]]:
    return [dict(zip(rows[0], r, strict=True)) for r in rows[1:]]


def every_value(wb: Any) -> list[Any]:
    return [v for ws in wb.worksheets for r in ws.iter_rows(values_only=True) for v in r
            if v is not None]


async def test_the_figures_at_month_9_count_nothing_after_its_end(simulated: Simulated) -> None:
    cut = report.cut_off(await _program(simulated), NOW, CUT_DAY)
    async with simulated.sessions() as s:
        f = await progress_figures(s, simulated.program_id, cut)
    assert f["today"] == CUT_DAY and f["month"] == 9
    held = [x for x in SESSIONS if date(*x[0]) <= CUT_DAY]
    assert len(f["sessions"]) == len(held) == 18
    assert all(x["day"] <= CUT_DAY for x in f["sessions"])
    assert [d["day"] for d in f["delivery_days"]] == [date(*d) for d in DAYS[:-1]]
    assert f["organizations"]["interested"] == 4  # the fifth ficha came on 5 December
    # Two baskets each day and a third on the even months' days (April, June, August,
    # October): 8 × 2 + 4; three families were ever served.
    assert f["baskets"] == 20 and f["families"]["served"] == 3
    assert sum(m["baskets"] for m in f["months"]) == f["baskets"]
    assert f["months"][-1]["families_cumulative"] == f["families"]["served"]
    assert [m["baskets"] for m in f["months"]] == [0, 3, 2, 3, 2, 3, 2, 3, 2]

    gm, cl = f["bodies"]
    # Monthly since 7 April: seven whole months by 1 December. Not 1 (the constitution's).
    assert (gm["min_by_cadence"], gm["min_by_milestones"], gm["minimum"]) == (7, 4, 7)
    # Its own sessions and those of its kinds (priorizacion, plan_trabajo): 5 + 1 + 2.
    assert gm["held"] == 8 and gm["meets_minimum"]
    # Every two months since 20 May: six whole months, three periods; its activities ask 3.
    assert (cl["min_by_cadence"], cl["min_by_milestones"], cl["minimum"]) == (3, 3, 3)
    assert cl["held"] == 5
    for b in (gm, cl):
        assert b["months"][-1]["minimum_cumulative"] == b["minimum"]
        assert b["months"][-1]["held_cumulative"] == b["held"]
        assert sum(m["held"] for m in b["months"]) == b["held"]
        assert b["rate"] == b["held"] / b["minimum"]


async def _program(simulated: Simulated) -> Any:
    async with simulated.sessions() as s:
        return await programs.existing(s, simulated.program_id)


async def test_the_month_9_workbook_agrees_with_itself(
        simulated: Simulated, catalogs: Catalogs) -> None:
    async with simulated.sessions() as s:
        xlsx = await exports.progress_report(s, simulated.program_id, "xlsx", now=NOW,
                                             catalogs=catalogs, month=9,
                                             comments={"diagnostico": "Se hizo en la sede"})
    assert xlsx.filename == "informe-avance-mes-9.xlsx"
    wb = read_xlsx(xlsx)
    assert wb["Información"]["A1"].value == "Informe de avance del mes 9"
    for ws in wb.worksheets[:-1]:
        rows = above_table(ws)
        assert ["Fecha de corte", "martes 1 de diciembre de 2026"] in [r[:2] for r in rows]
        assert ["Ejecutor", "Municipalidad de Quilpué"] in [r[:2] for r in rows]
        assert ws.page_setup.orientation == "landscape" and ws.page_setup.fitToWidth == 1

    # Nothing after the cut-off anywhere: no date past it, no session or day of December.
    for v in every_value(wb):
        if isinstance(v, datetime):
            assert v.date() <= CUT_DAY, v
        if isinstance(v, str):
            assert not re.search(r"\b(5|9|10|15) dic 2026", v), v

    activities = by_header(table_rows(wb["Avance por etapa y actividad"]))
    for r in activities:
        # Every percentage is the achieved count over the planned one beside it.
        assert r["%"] == approx(r["Logrado"] / r["Planificado"]), r
        assert r["Estado"].split(" (")[0] in {
            "Totalmente alcanzado", "Parcialmente alcanzado", "No alcanzado", "En curso",
            "Por iniciar", "—"}, r
    bodies = {r["Instancia"]: r for r in by_header(table_rows(wb["Sesiones por instancia"]))}
    # The Grupo Motor's minimum is the same in every table: 7, its monthly cadence's.
    cadence = {r["Indicador"]: r for r in activities if "periodicidad" in r["Indicador"]}
    gm_row = cadence["Grupo Motor: sesiones según su periodicidad (mensual)"]
    cl_row = cadence["Consejo Local: sesiones según su periodicidad (cada 2 meses)"]
    assert (gm_row["Planificado"], gm_row["Logrado"]) == (7, 8) == (
        bodies["Grupo Motor"]["Mínimo a la fecha"], bodies["Grupo Motor"]["Realizadas"])
    assert (cl_row["Planificado"], cl_row["Logrado"]) == (3, 5) == (
        bodies["Consejo Local"]["Mínimo a la fecha"], bodies["Consejo Local"]["Realizadas"])
    for r in bodies.values():
        assert r["%"] == approx(r["Realizadas"] / r["Mínimo a la fecha"])
        assert r["Cumple"] == ("Sí" if r["Realizadas"] >= r["Mínimo a la fecha"] else "No")
    months = by_header(table_rows(wb["Sesiones por instancia y mes"]))
    for name, b in bodies.items():
        last = [m for m in months if m["Instancia"] == name][-1]
        assert last["Mes"] == "Mes 9"
        assert (last["Mínimo acumulado"], last["Realizadas acumuladas"]) == (
            b["Mínimo a la fecha"], b["Realizadas"])
    assert {m["Cumple"] for m in months} <= {"Sí", "No"}
    # The diagnosis activity carries the comment it was given.
    diag = [r for r in activities if r["Actividad (producto)"].startswith("Sesión diagnóstica")]
    assert [r["Comentarios"] for r in diag] == ["Se hizo en la sede"] + [None] * (len(diag) - 1)
    # Evidence: what Convoca holds, with dates; what it cannot make; what is still missing.
    evidence = "\n".join(r["Evidencia (verificadores)"] or "" for r in activities)
    assert "Ficha de interés de participación: 4 fichas" in evidence
    assert "Lista de asistencia: 10 mar 2026" in evidence
    assert "no disponible en Convoca" in evidence or "pendiente" in evidence

    attendance_rows = by_header(table_rows(wb["Asistencia por instancia"]))
    for r in attendance_rows:
        rate = r["Asistencia (invitadas presentes / invitadas)"]
        assert rate == approx(r["Invitadas presentes"] / r["Personas invitadas"])
    sessions = by_header(table_rows(wb["Sesiones realizadas"]))
    assert len(sessions) == 18
    for r in sessions:
        assert r["Asistencia (invitadas presentes / invitadas)"] == approx(
            r["Invitadas presentes"] / r["Personas invitadas"])
        assert r["Presentes en total"] == r["Invitadas presentes"] + r["Sin invitación"]

    summary = dict(table_rows(wb["Organizaciones y familias"])[1:])
    per_month = by_header(table_rows(wb["Familias y canastas por mes"]))
    assert sum(m["Canastas entregadas"] for m in per_month) == summary["Canastas entregadas"] == 20
    assert per_month[-1]["Canastas acumuladas"] == 20
    assert per_month[-1]["Familias atendidas acumuladas"] == summary[
        "Familias que recibieron su canasta"] == 3
    days = by_header(table_rows(wb["Días de entrega"]))
    assert len(days) == summary["Días de entrega realizados"] == 8
    assert sum(d["Retiraron"] for d in days) == 20



async def test_every_list_totals_what_the_report_says_of_its_day_or_session(
        simulated: Simulated, catalogs: Catalogs) -> None:
    """One definition: each delivery list's and each attendance list's totals, read back
    from their workbooks, are the report's row for the same day or session."""
    async with simulated.sessions() as s:
        xlsx = await exports.progress_report(s, simulated.program_id, "xlsx", now=NOW,
                                             catalogs=catalogs, month=9)
        deliveries = {day: await exports.delivery_day_list(s, simulated.days[day], "xlsx",
                                                           now=NOW, catalogs=catalogs)
                      for day in DAYS[:-1]}
        attendances = {day: await exports.attendance_list(s, simulated.meetings[day], "xlsx",
                                                          now=NOW, catalogs=catalogs)
                       for day, *_ in SESSIONS if date(*day) <= CUT_DAY}
    wb = read_xlsx(xlsx)
    days = {d["Fecha"].date(): d for d in by_header(table_rows(wb["Días de entrega"]))}
    sessions = {r["Fecha"].date(): r for r in by_header(table_rows(wb["Sesiones realizadas"]))}
    assert set(days) == {date(*d) for d in deliveries}
    assert set(sessions) == {date(*d) for d in attendances}

    t = catalogs.text
    picked, present = t("es", "exports.pickup.picked_up"), t("es", "exports.attendance.present")
    for day, export in deliveries.items():
        listed = _listed(read_xlsx(export), t("es", "exports.col.status"))
        row = days[date(*day)]
        assert len(listed) == row["Familias"], day
        assert sum(1 for status in listed if status == picked) == row["Retiraron"], day
    for day, export in attendances.items():
        marks = _listed(read_xlsx(export), t("es", "exports.col.attendance"))
        row = sessions[date(*day)]
        assert sum(1 for m in marks if m == present) == row["Presentes en total"], day
    summary = dict(table_rows(wb["Organizaciones y familias"])[1:])
    assert sum(d["Retiraron"] for d in days.values()) == summary["Canastas entregadas"]


def _listed(wb: Any, header: str) -> list[Any]:
    """A list's column, read under its heading wherever the sheet puts it (other helpers
    reshape these lists: only the heading's words are relied on)."""
    ws = wb.worksheets[0]
    rows = sheet_rows(ws)
    for i, r in enumerate(rows):
        if header in r:
            col = r.index(header)
            return [x[col] for x in rows[i + 1:] if any(v is not None for v in x)
                    and x[col] is not None]
    raise AssertionError(f"no column {header!r}")


async def test_the_month_9_pdf_prints_with_titled_dated_charts_and_signatures(
        simulated: Simulated, catalogs: Catalogs, tmp_path: Path) -> None:
    program = await _program(simulated)
    async with simulated.sessions() as s:
        pdf = await exports.progress_report(s, simulated.program_id, "pdf", now=NOW,
                                            catalogs=catalogs, month=9)
        chart = await exports.progress_chart(s, simulated.program_id, now=NOW,
                                             catalogs=catalogs, until=CUT_DAY)
        f = await progress_figures(s, simulated.program_id,
                                   report.cut_off(program, NOW, CUT_DAY))
    text, pages, fonts = read_pdf(pdf, tmp_path)
    (tmp_path / "kept").mkdir()
    for page in pages:  # kept for a person to look at when the test is run by hand
        page.rename(tmp_path / "kept" / page.name)
    for expected in (
        "Informe de avance del mes 9", "Ejecutor Municipalidad de Quilpué",
        "Fecha de corte martes 1 de diciembre de 2026", "Mes del convenio Mes 9 de 15",
        "Etapa 1: Socialización y análisis situacional",
        "Etapa 4: Ejecución de planes y proyección", "Totalmente alcanzado",
        "Grupo Motor mensual 7 abr 2026 7 4 7 8 114% Sí",
        "Familias y canastas por mes", "Firmas", "Carolina Muñoz Peña",
        "Gestora comunitaria", "Persona coordinadora",
    ):
        assert expected in text, expected
    assert "dic 2026" not in text.replace("1 dic 2026", "")
    # Each "planned achieved %" read back from the page: the percentage is their quotient.
    triples = re.findall(r"(?<![\d,.])(\d+) +(\d+) +(\d+)%", text.layout)
    assert len(triples) > 20
    for planned, achieved, pct in triples:
        assert int(pct) == round(100 * int(achieved) / int(planned)), (planned, achieved, pct)

    # The charts: titled and dated on the image and in its text chunks.
    ctx = Ctx(catalogs, "es", program.timezone, NOW)
    charts = [report.attendance_chart(f, ctx, None, report.FONT_DIRS),
              report.months_chart(f, ctx, report.FONT_DIRS)]
    assert [c.title for c in charts] == ["Asistencia por sesión",
                                         "Familias atendidas y canastas entregadas por mes"]
    for c in charts:
        assert c.subtitle == "Fecha de corte: martes 1 de diciembre de 2026"
        with Image.open(io.BytesIO(c.png)) as img:
            assert img.text["Title"] == c.title and img.text["Description"] == c.subtitle
            band = img.convert("L").crop((40, 20, 900, 110))
            assert band.getextrema()[0] < 80  # the title and date are drawn up there
    with Image.open(io.BytesIO(chart.content)) as img:
        assert img.text["Title"] == "Asistencia por sesión"
        assert "1 de diciembre de 2026" in img.text["Description"]


def test_convoca_export_progress_month_cuts_off_at_the_end_of_that_month(
        cli_env: str, tmp_path: Path) -> None:
    from bot.app import build_app
    from bot.cli import main
    from bot.config import load_settings

    assert main(["db", "upgrade"]) == 0
    assert main(["program", "create", "--template", "ecomercado-15m", "--start",
                 "2026-03-02", "--name", PROGRAM]) == 0

    async def seed() -> None:
        app = await build_app(load_settings())
        try:
            await simulate(app.sessions)
        finally:
            await app.close()

    asyncio.run(seed())
    out = tmp_path / "informe.xlsx"
    assert main(["export", "progress", "--month", "9", "--format", "xlsx", "--out", str(out),
                 "--program", "2", "--comment", "diagnostico=Hecho en la sede"]) == 0
    wb = load_workbook(io.BytesIO(out.read_bytes()))
    about = {r[0]: r[1] for r in wb["Información"].iter_rows(values_only=True) if r[0]}
    assert about["Fecha de corte"] == "martes 1 de diciembre de 2026"
    assert "Hecho en la sede" in [r[-1] for r in table_rows(wb["Avance por etapa y actividad"])]
    assert main(["export", "progress", "--month", "16", "--out", str(out),
                 "--program", "2"]) != 0


@pytest.mark.parametrize(("template", "months"), [("ecomercado-10m", [8]),
                                                   ("ecomercado-15m", [9, 11, 13])])
async def test_each_report_month_cuts_off_on_that_months_last_day(
        sessions: Any, template: str, months: list[int]) -> None:
    async with sessions() as s:
        program = await programs.create(s, template=template, start=START, name=PROGRAM,
                                        now=local(2026, 3, 1, 9))
        await s.commit()
        f = await progress_figures(s, program.id, NOW)
    assert [r["month"] for r in f["reports"]] == months
    for r in f["reports"]:
        # The report milestone is due on the last day of its month: the report's cut-off.
        assert report.report_cut_off(program, r["month"]) == r["due"]
    with pytest.raises(ValueError):
        report.report_cut_off(program, 16)
