"""The verificadores sent in chat as documents and written by `convoca export`: every file
is opened by a real reader (openpyxl for workbooks, pdftoppm for PDFs, Pillow for the chart)
with Spanish accents and ñ intact."""

from __future__ import annotations

import argparse
import csv
import io
import shutil
import subprocess
from datetime import date, timedelta
from functools import partial
from pathlib import Path

import cli_harness
import pytest
from openpyxl import load_workbook
from PIL import Image
from sqlalchemy import select
from test_admin_delivery_support import (
    GESTORA,
    add_day,
    labels_of,
    local,
    rows,
    say,
    seed,
    tap,
)

from bot import cli_delivery
from bot.app import build_app
from bot.commands import CommandError
from domain import forms
from storage import programs, responses
from storage.models import (
    Attendance,
    AuditEntry,
    DeliveryDay,
    Family,
    FormResponse,
    FormSignature,
    Meeting,
    Organization,
    OrganizationInvitation,
    Pickup,
    PickupStatus,
    Program,
    Rsvp,
)
from telegram_harness import Running

ORG_A = "Junta de Vecinos Población Ñuñoa Alto"
ORG_B = "Club Deportivo Unión Peñalolén"


async def seed_records(sessions, program_id: int, gestora_id: int | None, now) -> dict:
    """Two organisations (invited, one with a signed ficha each), a held socialisation
    session with its attendance."""
    async with sessions() as s:
        orgs = []
        for name in (ORG_A, ORG_B):
            o = Organization(program_id=program_id, name=name, sector="Lo Hermida",
                             created_at=now)
            s.add(o)
            await s.flush()
            orgs.append(o)
            s.add(OrganizationInvitation(organization_id=o.id, purpose="socializacion",
                                         sent_at=now, answer="yes", answered_at=now))
        definition = await responses.ensure_definition(s, forms.load_form("ficha_interes"), now)
        for o in orgs:
            r = FormResponse(form_id=definition.id, organization_id=o.id, status="submitted",
                             answers={}, started_at=now, updated_at=now, submitted_at=now)
            s.add(r)
            await s.flush()
            s.add(FormSignature(response_id=r.id, signed_name="Begoña Zúñiga Díaz",
                                signed_at=now))
        m = Meeting(program_id=program_id, kind="socializacion",
                    starts_at=local(2026, 3, 10, 18), ends_at=local(2026, 3, 10, 20),
                    place="Sede Social Villa Los Aromos", status="held", created_at=now)
        s.add(m)
        await s.flush()
        if gestora_id is not None:
            s.add(Rsvp(meeting_id=m.id, person_id=gestora_id, organization_id=orgs[0].id,
                       invited_at=now, answer="yes", answered_at=now))
            s.add(Attendance(meeting_id=m.id, person_id=gestora_id, organization_id=orgs[0].id,
                             present=True, method="marked", marked_at=now))
        await s.commit()
        return {"meeting_id": m.id, "orgs": [o.id for o in orgs]}


# --------------------------------------------------------------------------- readers


def pdf_opens(data: bytes, tmp_path: Path, name: str = "doc") -> None:
    assert data.startswith(b"%PDF")
    if shutil.which("pdftoppm") is None:
        pytest.skip("pdftoppm is not installed: the PDF cannot be rendered here")
    path = tmp_path / f"{name}.pdf"
    path.write_bytes(data)
    subprocess.run(["pdftoppm", "-png", "-r", "40", "-f", "1", "-l", "1", str(path),
                    str(tmp_path / name)], check=True, capture_output=True)
    [png] = list(tmp_path.glob(f"{name}*.png"))
    with Image.open(png) as img:
        assert img.size[0] > 100 and img.size[1] > 100
    if shutil.which("pdftotext") is not None:
        text = subprocess.run(["pdftotext", str(path), "-"], check=True,
                              capture_output=True).stdout.decode()
        assert "ñ" in text.lower() or "Ñ" in text, text[:300]


def xlsx_text(data: bytes) -> str:
    wb = load_workbook(io.BytesIO(data))
    return "\n".join(str(c.value) for ws in wb.worksheets for row in ws.iter_rows()
                     for c in row if c.value is not None)


def csv_text(data: bytes) -> str:
    text = data.decode("utf-8-sig")
    # Semicolons: what Excel expects where the decimal mark is a comma, as in Chile.
    return "\n".join("|".join(row) for row in csv.reader(io.StringIO(text), delimiter=";"))


def document(sent: dict) -> tuple[str, bytes]:
    upload = sent["document"]
    return upload.filename, upload.data


# --------------------------------------------------------------------------- in chat


async def test_each_export_arrives_as_a_document_that_opens(tg: Running, tmp_path: Path
                                                            ) -> None:
    seeded = await seed(tg)
    records = await seed_records(tg.app.sessions, seeded.program_id, seeded.people[GESTORA],
                                 tg.app.clock.now())
    await add_day(tg, seeded, local(2026, 3, 12, 10), statuses={
        "González Soto": PickupStatus.CONFIRMED})
    [panel] = await say(tg, GESTORA, "/panel")
    assert "📄 Documentos" in labels_of(panel)
    await tap(tg, GESTORA, "📄 Documentos", sends=1)

    # The attendance list, in each format, from the same question.
    [listing], _ = await tap(tg, GESTORA, "📝 Lista de asistencia", sends=1)
    assert any("2026" in label and "Sesión de socialización" in label
               for label in labels_of(listing)), labels_of(listing)
    [ask], _ = await tap(tg, GESTORA, "Sesión de socialización", sends=1, contains=True)
    assert "¿En qué formato?" in ask["text"]
    [pdf], _ = await tap(tg, GESTORA, "PDF (para imprimir)", sends=1)
    name, data = document(pdf)
    assert name.endswith(".pdf") and "Lista de asistencia" in pdf["caption"]
    pdf_opens(data, tmp_path, "attendance")
    [xlsx], _ = await tap(tg, GESTORA, "Excel (XLSX)", sends=1)
    assert "Carolina Gestora" in xlsx_text(document(xlsx)[1])
    assert ORG_A in xlsx_text(document(xlsx)[1])
    [csv_doc], _ = await tap(tg, GESTORA, "CSV", sends=1)
    assert ORG_A in csv_text(document(csv_doc)[1])

    # Fichas: one PDF per organisation, or one workbook of all.
    await tap(tg, GESTORA, "↩️ Volver", sends=1)
    await tap(tg, GESTORA, "📋 Fichas de interés", sends=1)
    note, *pdfs = (await tap(tg, GESTORA, "Un PDF por organización", sends=3))[0]
    assert note["text"] == "Te envío 2 fichas 👇"
    assert sorted(document(p)[0] for p in pdfs) == [
        "ficha-interes-club-deportivo-union-penalolen.pdf",
        "ficha-interes-junta-de-vecinos-poblacion-nunoa-alto.pdf"]
    for i, p in enumerate(pdfs):
        pdf_opens(document(p)[1], tmp_path, f"ficha{i}")
    [book], _ = await tap(tg, GESTORA, "Una planilla con todas (XLSX)", sends=1)
    text = xlsx_text(document(book)[1])
    assert ORG_A in text and ORG_B in text and "Begoña Zúñiga Díaz" in text

    # The invited organisations.
    await tap(tg, GESTORA, "↩️ Volver", sends=1)
    await tap(tg, GESTORA, "🏘 Organizaciones invitadas", sends=1)
    [orgs], _ = await tap(tg, GESTORA, "Excel (XLSX)", sends=1)
    assert ORG_A in xlsx_text(document(orgs)[1])
    [orgs_pdf], _ = await tap(tg, GESTORA, "PDF (para imprimir)", sends=1)
    pdf_opens(document(orgs_pdf)[1], tmp_path, "orgs")

    # A delivery day's list.
    await tap(tg, GESTORA, "↩️ Volver", sends=1)
    await tap(tg, GESTORA, "🧺 Lista de un día de entrega", sends=1)
    # The lists reach back over two calendar years: each day says its year.
    await tap(tg, GESTORA, "jue 12 mar 2026", sends=1, contains=True)
    [day_pdf], _ = await tap(tg, GESTORA, "PDF (para imprimir)", sends=1)
    pdf_opens(document(day_pdf)[1], tmp_path, "day")
    [day_xlsx], _ = await tap(tg, GESTORA, "Excel (XLSX)", sends=1)
    assert "Pérez Ñancupil" in xlsx_text(document(day_xlsx)[1])

    # The informe de avance: PDF with its chart, workbook, and the chart alone.
    await tap(tg, GESTORA, "↩️ Volver", sends=1)
    await tap(tg, GESTORA, "📊 Informe de avance", sends=1)
    [report], _ = await tap(tg, GESTORA, "PDF (para imprimir)", sends=1)
    pdf_opens(document(report)[1], tmp_path, "progress")
    [report_xlsx], _ = await tap(tg, GESTORA, "Excel (XLSX)", sends=1)
    assert load_workbook(io.BytesIO(document(report_xlsx)[1])).worksheets
    [chart], _ = await tap(tg, GESTORA, "Gráfico (PNG)", sends=1)
    with Image.open(io.BytesIO(document(chart)[1])) as img:
        assert img.format == "PNG" and img.size[0] >= 800

    exported = await rows(tg, AuditEntry, AuditEntry.action == "export")
    assert {(a.details["what"], a.details["format"]) for a in exported} == {
        ("attendance", "pdf"), ("attendance", "xlsx"), ("attendance", "csv"),
        ("fichas", "pdf"), ("fichas", "xlsx"), ("organizations", "xlsx"),
        ("organizations", "pdf"), ("delivery_day", "pdf"), ("delivery_day", "xlsx"),
        ("progress", "pdf"), ("progress", "xlsx"), ("progress", "png")}
    assert records["meeting_id"] in {a.entity_id for a in exported}


async def test_in_english_the_documents_speak_english(tg: Running, tmp_path: Path
                                                      ) -> None:
    seeded = await seed(tg, "en")
    await seed_records(tg.app.sessions, seeded.program_id, seeded.people[GESTORA],
                       tg.app.clock.now())
    await say(tg, GESTORA, "/panel")
    await tap(tg, GESTORA, "📄 Documents", sends=1)
    await tap(tg, GESTORA, "📝 Attendance list", sends=1)
    await tap(tg, GESTORA, "Information session", sends=1, contains=True)
    [xlsx], _ = await tap(tg, GESTORA, "Excel (XLSX)", sends=1)
    assert "Attendance list" in xlsx["caption"]
    text = xlsx_text(document(xlsx)[1])
    assert "Attendance" in text and ORG_A in text


async def test_nothing_to_export_is_said_plainly(tg: Running) -> None:
    await seed(tg)
    await say(tg, GESTORA, "/panel")
    await tap(tg, GESTORA, "📄 Documentos", sends=1)
    [none], _ = await tap(tg, GESTORA, "📝 Lista de asistencia", sends=1)
    assert none["text"] == "Todavía no hay sesiones."
    await tap(tg, GESTORA, "↩️ Volver", sends=1)
    await tap(tg, GESTORA, "📋 Fichas de interés", sends=1)
    [none], _ = await tap(tg, GESTORA, "Un PDF por organización", sends=1)
    assert "ninguna organización" in none["text"]


async def test_a_long_list_of_sessions_pages_newest_first(tg: Running) -> None:
    seeded = await seed(tg)
    async with tg.app.sessions() as s:
        for week in range(10):  # one page is 8
            s.add(Meeting(program_id=seeded.program_id, kind="grupo_motor",
                          title=f"Sesión {week + 1}",
                          starts_at=local(2026, 3, 2, 18) + timedelta(weeks=week),
                          status="held", created_at=tg.app.clock.now()))
        await s.commit()
    await say(tg, GESTORA, "/panel")
    await tap(tg, GESTORA, "📄 Documentos", sends=1)
    [first], _ = await tap(tg, GESTORA, "📝 Lista de asistencia", sends=1)
    shown = [label for label in labels_of(first) if "Sesión" in label]
    assert len(shown) == 8 and "Sesión 10" in shown[0] and "Sesión 3" in shown[-1]
    assert "1/2" in labels_of(first)
    _, [second] = await tap(tg, GESTORA, "▶", edits=1)
    shown = [label for label in labels_of(second) if "Sesión" in label]
    assert ["Sesión 2" in shown[0], "Sesión 1" in shown[1], len(shown)] == [True, True, 2]
    assert "2/2" in labels_of(second) and "▶" not in labels_of(second)


# --------------------------------------------------------------------------- command line


@pytest.fixture
async def app(settings_for, sqlite_url, clock):
    application = await build_app(settings_for(sqlite_url), clock=clock)
    yield application
    await application.close()


parse = partial(cli_harness.parse, cli_delivery)


async def cli(app, capsys, *argv: str) -> str:
    assert await cli_delivery.run(app, parse(*argv)) == 0
    return capsys.readouterr().out


async def test_the_command_line_defines_days_and_prints_the_day_list(app, capsys) -> None:
    now = app.clock.now()
    async with app.sessions() as s:
        program = await programs.create(s, template="ecomercado-15m", start=date(2026, 3, 2),
                                        name="Ecomercado Peñalolén", now=now)
        for name, sector in (("González Soto", "Lo Hermida"), ("Pérez Ñancupil", "Lo Hermida"),
                             ("Muñoz Rojas", "La Faena")):
            s.add(Family(program_id=program.id, name=name, sector=sector, created_at=now))
        await s.commit()
    out = await cli(app, capsys, "delivery", "add", "--date", "2026-03-12", "--from", "10:00",
                    "--to", "12:00", "--place", "Sede Vecinal Villa Ñuñoa", "--every", "1w",
                    "--count", "3", "--assign", "sector=Lo Hermida")
    assert "Creados 3 días de entrega" in out and "Familias asignadas: 2" in out
    async with app.sessions() as s:
        days = (await s.scalars(select(DeliveryDay).order_by(DeliveryDay.window_start))).all()
        assert [d.window_start for d in days] == [local(2026, 3, 12, 10), local(2026, 3, 19, 10),
                                                  local(2026, 3, 26, 10)]
        assert len((await s.scalars(select(Pickup))).all()) == 6
        pickup = await s.scalar(select(Pickup).where(Pickup.delivery_day_id == days[0].id)
                                .order_by(Pickup.id))
        pickup.status = PickupStatus.CANNOT
        pickup.reason = "Turno en la feria"
        await s.commit()
    # Running the same line again changes nothing.
    await cli(app, capsys, "delivery", "add", "--date", "2026-03-12", "--from", "10:00",
              "--to", "12:00", "--place", "Sede Vecinal Villa Ñuñoa", "--every", "1w",
              "--count", "3", "--assign", "sector=Lo Hermida")
    async with app.sessions() as s:
        assert len((await s.scalars(select(DeliveryDay))).all()) == 3

    listed = await cli(app, capsys, "delivery", "list")
    assert f"#{days[0].id}  jueves 12 de marzo de 2026, de 10:00 a 12:00 · " \
           "Sede Vecinal Villa Ñuñoa · retiro en local · familias: 2" in listed
    day = await cli(app, capsys, "delivery", "day", str(days[0].id))
    assert "🚫 No pueden venir: 1" in day and "⏳ Sin respuesta: 1" in day
    assert "González Soto — avisó que no puede venir 🚫 · motivo: Turno en la feria" in day
    day_en = await cli(app, capsys, "delivery", "day", str(days[0].id), "--locale", "en")
    assert "🚫 Can't come: 1" in day_en

    assert "all_at_once" in await cli(app, capsys, "delivery", "policy", "all_at_once")
    async with app.sessions() as s:
        assert (await s.scalar(select(Program))).settings["pickup_policy"] == "all_at_once"
    assert "Día" in await cli(app, capsys, "delivery", "cancel", str(days[2].id))
    assert "CANCELADO" in await cli(app, capsys, "delivery", "list", "--all")
    # Refusals are sentences in the operator's words, never a code (already_cancelled).
    for argv, said in [
        (("delivery", "cancel", str(days[2].id)), "No se pudo: ese día ya estaba cancelado."),
        (("delivery", "add", "--date", "2026-03-12", "--from", "12", "--to", "10"),
         "No se pudo: la hora de término debe ser después de la de inicio."),
        (("delivery", "add", "--date", "2026-03-12", "--from", "10", "--to", "12", "--every",
          "1w", "--until", "2026-03-05"),
         "No se pudo: la fecha final es antes del primer día."),
    ]:
        with pytest.raises(CommandError) as refused:
            await cli_delivery.run(app, parse(*argv))
        assert str(refused.value) == said

    with pytest.raises(CommandError):
        await cli_delivery.run(app, parse("delivery", "day", "999"))
    with pytest.raises(CommandError):
        await cli_delivery.run(app, parse("delivery", "add", "--date", "2026-03-12", "--from",
                                          "10", "--to", "12", "--every", "2w"))
    with pytest.raises(SystemExit):
        parse("delivery", "add", "--date", "2026-03-12", "--from", "10", "--to", "12",
              "--every", "fortnightly")
    assert await cli_delivery.run(app, argparse.Namespace(command="status")) is None
    cli_audit = (await _all(app, AuditEntry))
    assert {a.action for a in cli_audit} >= {"delivery_days_created", "families_assigned",
                                              "pickup_policy_set", "delivery_day_cancelled"}
    assert all(a.channel == "cli" for a in cli_audit)


async def _all(app, model) -> list:
    async with app.sessions() as s:
        return list((await s.scalars(select(model))).all())


async def test_the_command_line_writes_every_export(app, capsys, tmp_path: Path) -> None:
    now = app.clock.now()
    async with app.sessions() as s:
        program = await programs.create(s, template="ecomercado-15m", start=date(2026, 3, 2),
                                        name="Ecomercado Peñalolén", now=now)
        family = Family(program_id=program.id, name="Pérez Ñancupil", created_at=now)
        day = DeliveryDay(program_id=program.id, window_start=local(2026, 3, 12, 10),
                          window_end=local(2026, 3, 12, 12), place="Sede Ñuñoa",
                          created_at=now)
        s.add_all([family, day])
        await s.flush()
        s.add(Pickup(delivery_day_id=day.id, family_id=family.id))
        await s.commit()
        program_id, day_id = program.id, day.id
    records = await seed_records(app.sessions, program_id, None, now)
    app.clock.advance(timedelta(days=20))

    out = await cli(app, capsys, "export", "attendance", str(records["meeting_id"]),
                    "--format", "pdf", "--out", str(tmp_path / "asistencia.pdf"))
    assert "asistencia.pdf" in out
    pdf_opens((tmp_path / "asistencia.pdf").read_bytes(), tmp_path, "cli-attendance")
    await cli(app, capsys, "export", "attendance", str(records["meeting_id"]), "--format",
              "csv", "--out", str(tmp_path / "asistencia.csv"))
    # Nobody was invited to this session: the sheet has its headings and no rows.
    assert csv_text((tmp_path / "asistencia.csv").read_bytes()).split("|")[:4] == [
        "N°", "Nombre", "RUT", "Organización"]

    await cli(app, capsys, "export", "fichas", "--out", str(tmp_path / "fichas"))
    files = sorted(p.name for p in (tmp_path / "fichas").iterdir())
    assert len([f for f in files if f.endswith(".pdf")]) == 2
    [book] = [f for f in files if f.endswith(".xlsx")]
    assert ORG_A in xlsx_text((tmp_path / "fichas" / book).read_bytes())

    await cli(app, capsys, "export", "organizations", "--format", "xlsx", "--out",
              str(tmp_path / "orgs.xlsx"))
    assert ORG_B in xlsx_text((tmp_path / "orgs.xlsx").read_bytes())

    await cli(app, capsys, "export", "delivery", str(day_id), "--format", "xlsx", "--out",
              str(tmp_path / "dia.xlsx"))
    assert "Pérez Ñancupil" in xlsx_text((tmp_path / "dia.xlsx").read_bytes())

    await cli(app, capsys, "export", "progress", "--format", "pdf", "--out",
              str(tmp_path / "avance.pdf"), "--chart", str(tmp_path / "grafico.png"),
              "--locale", "en")
    pdf_opens((tmp_path / "avance.pdf").read_bytes(), tmp_path, "cli-progress")
    with Image.open(tmp_path / "grafico.png") as img:
        assert img.format == "PNG"
    await cli(app, capsys, "export", "progress", "--format", "xlsx", "--out",
              str(tmp_path / "avance.xlsx"))
    assert load_workbook(tmp_path / "avance.xlsx").worksheets

    with pytest.raises(CommandError):
        await cli_delivery.run(app, parse("export", "attendance", "999", "--out",
                                          str(tmp_path / "x.pdf")))
