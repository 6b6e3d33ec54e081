"""The verificadores as files: PDFs that open in a real reader, workbooks and CSVs that read
back with accents intact, and progress figures checked against numbers worked out by hand."""

from __future__ import annotations

import csv
import io
import shutil
import subprocess
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from leaks import assert_no_raw_keys_in_document
from openpyxl import load_workbook
from PIL import Image
from sqlalchemy import select, update

from documents import exports
from domain.forms import load_form, parse_form
from domain.program_templates import load_template
from locales import Catalogs
from storage import db, programs, progress, responses
from storage.models import (
    Attendance,
    AttendanceGuest,
    Body,
    DeliveryDay,
    Family,
    FormDefinition,
    FormResponse,
    FormSignature,
    Meeting,
    Organization,
    OrganizationInvitation,
    Person,
    Pickup,
    Program,
    Representative,
    Rsvp,
)

NOW = datetime(2026, 7, 10, 15, 0, tzinfo=UTC)  # Friday 10 July, 11:00 in Santiago (UTC-4)
# Tuesday 16 June, 11:00 in Santiago: the first delivery day's window is open, so each
# family's list status is still its own answer.
DURING_D1 = datetime(2026, 6, 16, 15, 0, tzinfo=UTC)
PROGRAM = "Ecomercado Solidario Peñalolén"
NO_FONTS: tuple[Path, ...] = ()  # forces the Helvetica fallback


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.fixture(scope="module")
def catalogs() -> Catalogs:
    return Catalogs()


# --------------------------------------------------------------------------- the seed


@dataclass
class Seed:
    sessions: Any
    program_id: int
    orgs: dict[str, int]
    people: dict[str, int]
    meetings: dict[str, int]
    days: dict[str, int]


ORGS = {
    "A": ("Junta de Vecinos Población Ñuñoa Alto", "Junta de vecinos", "Población Ñuñoa Alto"),
    "B": ("Club Deportivo Unión Peñalolén", "Club deportivo", "Lo Hermida"),
    "C": ("Comité de Allegados Los Añañucos", "Comité de allegados", "La Faena"),
    "D": ("Centro de Madres Señora Inés", "Centro de madres", "San Luis"),
    "E": ("Agrupación Cultural Peñi Ñuke", "Agrupación cultural", "Lo Hermida"),
}
PEOPLE = {
    "P1": "María José Araya Muñoz",
    "P2": "José Ignacio Peña Oñate",
    "P3": "Sofía Núñez Castañeda",
    "P4": "Héctor Muñoz Ibáñez",
    "P5": "Begoña Zúñiga Díaz",
    # Ł and ś are outside latin-1: the Helvetica fallback must still produce a document.
    "P6": "Łukasz Wiśniewski Ñancupil",
}
FAMILIES = {
    "F1": ("Familia Araya Muñoz", "Lo Hermida", "retiro"),
    "F2": ("Familia Peña Ñancupán", "La Faena", "retiro"),
    "F3": ("Familia Castañeda Rojas", "San Luis", "domicilio"),
    "F4": ("Familia Ibáñez Soto", "Lo Hermida", "retiro"),
    "F5": ("Familia Zúñiga Pérez", "La Faena", "retiro"),
    "F6": ("Familia Muñoz Quintana", "San Luis", "retiro"),
    "F7": ("Familia Oñate Vidal", "Lo Hermida", "retiro"),
    "F8": ("Familia Núñez Lagos", "La Faena", "domicilio"),
}
QUESTIONS = [
    ("motivacion", {"es": "¿Por qué quieren participar?", "en": "Why do you want to take part?"}),
    ("socios", {"es": "¿Cuántas personas socias tiene la organización?",
                "en": "How many members does the organisation have?"}),
    ("dias", {"es": "¿Qué días pueden reunirse?", "en": "Which days can you meet?"}),
]


async def seed_programme(sessions: Any) -> Seed:
    created = utc(2026, 3, 1, 12)
    async with sessions() as s:
        program = await programs.create(s, template="ecomercado-15m", start=date(2026, 3, 2),
                                        name=PROGRAM, now=created)
        pid = program.id
        bodies = {b.kind: b for b in await programs.bodies(s, pid)}
        gm, cl = bodies["grupo_motor"], bodies["consejo_local"]
        gm.constituted_at = utc(2026, 4, 7, 22)

        orgs = {}
        for key, (name, kind, sector) in ORGS.items():
            o = Organization(program_id=pid, name=name, kind=kind, sector=sector,
                             rut="65.123.456-7" if key == "A" else None,
                             address="Pasaje Los Copihues 1234" if key == "A" else None,
                             members_count=48 if key == "A" else None, created_at=created)
            s.add(o)
            await s.flush()
            orgs[key] = o.id
        (await s.get(Organization, orgs["A"])).committed_at = utc(2026, 3, 30, 15)
        (await s.get(Organization, orgs["B"])).committed_at = utc(2026, 7, 20, 15)  # future

        people = {}
        for key, name in PEOPLE.items():
            p = Person(program_id=pid, name=name, rut=f"1{len(people) + 1}.111.111-1",
                       created_at=created)
            s.add(p)
            await s.flush()
            people[key] = p.id
        org_of = {"P1": "A", "P2": "B", "P3": "C", "P4": "D", "P5": "A", "P6": "B"}
        s.add(Representative(organization_id=orgs["A"], person_id=people["P1"],
                             position="Presidenta", is_primary=True))
        s.add(Representative(organization_id=orgs["A"], person_id=people["P5"],
                             position="Secretaria"))
        s.add(Representative(organization_id=orgs["B"], person_id=people["P2"],
                             position="Tesorero"))

        # Invitations: A twice, B, C and D once; E only in the future (after NOW).
        for key, sent, purpose, answer, answered in (
            ("A", utc(2026, 3, 3, 14), "socializacion", "yes", utc(2026, 3, 4, 13)),
            ("A", utc(2026, 3, 17, 14), "diagnostico", None, None),
            ("B", utc(2026, 3, 3, 14), "socializacion", "yes", utc(2026, 3, 5, 20)),
            ("C", utc(2026, 3, 3, 14), "socializacion", "no", utc(2026, 3, 6, 12)),
            ("D", utc(2026, 3, 3, 14), "socializacion", None, None),
            ("E", utc(2026, 7, 20, 14), "socializacion", None, None),
        ):
            s.add(OrganizationInvitation(organization_id=orgs[key], purpose=purpose,
                                         sent_at=sent, answer=answer, answered_at=answered))

        # Fichas: A sent v1 then v2 (v1 superseded), B sent one, C only a draft, D a
        # different form.
        ficha = FormDefinition(key="ficha_interes", version=1,
                               definition={"questions": [{"key": k, "text": t}
                                                         for k, t in QUESTIONS]},
                               created_at=created)
        other = FormDefinition(key="otra_encuesta", version=1, definition={"questions": []},
                               created_at=created)
        s.add_all([ficha, other])
        await s.flush()

        def response(org: str, person: str, form: FormDefinition, status: str, version: int,
                     answers: dict[str, str], submitted: datetime | None) -> FormResponse:
            r = FormResponse(form_id=form.id, person_id=people[person],
                             organization_id=orgs[org], status=status, version=version,
                             answers=answers, started_at=utc(2026, 3, 10, 12),
                             updated_at=submitted or utc(2026, 3, 10, 12),
                             submitted_at=submitted)
            s.add(r)
            return r

        a1 = response("A", "P1", ficha, "superseded", 1,
                      {"motivacion": "Versión antigua", "socios": "40"}, utc(2026, 3, 12, 15))
        await s.flush()
        a2 = response("A", "P1", ficha, "submitted", 2,
                      {"motivacion": "Queremos que la comunidad de Ñuñoa Alto se organice",
                       "socios": "48", "dias": "Martes y jueves después de las 18:00"},
                      utc(2026, 3, 14, 16))
        a2.supersedes_id = a1.id
        b1 = response("B", "P2", ficha, "submitted", 1,
                      {"motivacion": "Apoyar a las familias del club", "socios": "120"},
                      utc(2026, 3, 13, 21))
        response("C", "P3", ficha, "draft", 1, {"motivacion": "Borrador"}, None)
        response("D", "P4", other, "submitted", 1, {}, utc(2026, 3, 13, 21))
        await s.flush()
        s.add_all([
            FormSignature(response_id=a2.id, person_id=people["P1"],
                          signed_name=PEOPLE["P1"], signed_at=utc(2026, 3, 14, 16, 5)),
            FormSignature(response_id=a2.id, person_id=people["P5"],
                          signed_name=PEOPLE["P5"], signed_at=utc(2026, 3, 14, 18, 30)),
            FormSignature(response_id=b1.id, person_id=people["P2"],
                          signed_name=PEOPLE["P2"], signed_at=utc(2026, 3, 13, 21, 2)),
        ])

        meetings = {}

        async def meeting(key: str, kind: str, starts: datetime, status: str,
                          body: Body | None = None, hours: int = 2,
                          place: str = "Sede Junta de Vecinos Población Ñuñoa Alto") -> int:
            m = Meeting(program_id=pid, body_id=body.id if body else None, kind=kind,
                        starts_at=starts, ends_at=starts + timedelta(hours=hours),
                        place=place, address="Pasaje Los Copihues 1234", status=status,
                        created_at=created)
            s.add(m)
            await s.flush()
            meetings[key] = m.id
            return m.id

        async def rsvp(meeting_key: str, person: str, answer: str | None,
                       reason: str | None = None) -> None:
            s.add(Rsvp(meeting_id=meetings[meeting_key], person_id=people[person],
                       organization_id=orgs[org_of[person]], invited_at=created, answer=answer,
                       reason=reason, answered_at=created if answer else None))

        async def mark(meeting_key: str, person: str, present: bool) -> None:
            s.add(Attendance(meeting_id=meetings[meeting_key], person_id=people[person],
                             organization_id=orgs[org_of[person]], present=present,
                             method="marked", marked_at=created))

        # M1 socialisation (summer time, UTC-3): 4 invited, 2 of them present, one absent,
        # one walk-in.
        await meeting("M1", "socializacion", utc(2026, 3, 10, 22), "held",
                      place="Sede Social Villa Los Aromos")
        await rsvp("M1", "P1", "yes")
        await rsvp("M1", "P2", "yes")
        await rsvp("M1", "P3", "no", "Tengo turno en el trabajo")
        await rsvp("M1", "P4", None)
        await mark("M1", "P1", True)
        await mark("M1", "P2", True)
        await mark("M1", "P3", False)
        await mark("M1", "P5", True)  # came without an invitation
        # M2 diagnosis: still "scheduled" but attendance was taken, so it was held.
        await meeting("M2", "diagnostico", utc(2026, 3, 24, 22), "scheduled")
        for p in ("P1", "P2", "P3"):
            await rsvp("M2", p, "yes")
        await mark("M2", "P1", True)
        await mark("M2", "P3", True)
        # M3 Grupo Motor constitution, Tuesday 7 April 18:00 (winter time, UTC-4).
        await meeting("M3", "grupo_motor", utc(2026, 4, 7, 22), "held", gm)
        await rsvp("M3", "P1", "yes")
        await rsvp("M3", "P2", "yes")
        await rsvp("M3", "P4", "maybe")
        await rsvp("M3", "P5", "yes")
        await rsvp("M3", "P6", "yes")
        for p in ("P1", "P2", "P5", "P6"):
            await mark("M3", p, True)
        await mark("M3", "P4", False)
        # M4 Grupo Motor without body_id: the template's meeting kind says whose it is.
        await meeting("M4", "grupo_motor", utc(2026, 5, 5, 22), "held")
        for p in ("P1", "P2", "P5"):
            await rsvp("M4", p, "yes")
        await mark("M4", "P1", True)
        await mark("M4", "P2", True)
        # Not held: cancelled, scheduled without attendance, and in the future.
        await meeting("M5", "grupo_motor", utc(2026, 6, 2, 22), "cancelled", gm)
        await rsvp("M5", "P1", "yes")
        await mark("M5", "P1", True)
        await meeting("M6", "grupo_motor", utc(2026, 7, 7, 22), "scheduled", gm)
        await rsvp("M6", "P1", "yes")
        await meeting("M7", "consejo_local", utc(2026, 7, 21, 22), "held", cl)

        families = {}
        for key, (name, sector, mode) in FAMILIES.items():
            f = Family(program_id=pid, name=name, sector=sector, pickup_mode=mode,
                       created_at=created)
            s.add(f)
            await s.flush()
            families[key] = f.id

        days = {}
        for key, start, end, cancelled in (
            ("D1", utc(2026, 6, 16, 14), utc(2026, 6, 16, 16), None),
            ("D2", utc(2026, 7, 14, 14), utc(2026, 7, 14, 16), None),
            ("D3", utc(2026, 6, 30, 14), utc(2026, 6, 30, 16), utc(2026, 6, 25, 12)),
        ):
            d = DeliveryDay(program_id=pid, mode="retiro", window_start=start, window_end=end,
                            place="Ecomercado Peñalolén", address="Av. Grecia 8735",
                            cancelled_at=cancelled, created_at=created)
            s.add(d)
            await s.flush()
            days[key] = d.id
        told, answered = utc(2026, 6, 14, 14), utc(2026, 6, 14, 20)
        for day, fam, status, extra in (
            ("D1", "F1", "confirmed", {}),
            ("D1", "F2", "cannot", {"reason": "Estoy enferma, con licencia"}),
            ("D1", "F3", "proxy", {"proxy_name": "Ana María Sáez Yáñez",
                                   "proxy_rut": "12.345.678-5"}),
            ("D1", "F4", "reschedule", {"reason": "Trabajo ese día"}),
            ("D1", "F5", "picked_up", {"handed_at": utc(2026, 6, 16, 14, 40)}),
            ("D1", "F6", "no_show", {}),
            ("D1", "F7", "notified", {"responded_at": None}),
            ("D1", "F8", "pending", {"notified_at": None, "responded_at": None}),
            ("D2", "F1", "notified", {"responded_at": None}),
            ("D2", "F5", "confirmed", {}),
            ("D2", "F7", "confirmed", {}),
            ("D3", "F8", "confirmed", {}),
        ):
            fields = {"notified_at": told, "responded_at": answered} | extra
            s.add(Pickup(delivery_day_id=days[day], family_id=families[fam], status=status,
                         **fields))
        await s.commit()
    return Seed(sessions, pid, orgs, people, meetings, days)


@pytest.fixture
async def seeded(any_db_url: str) -> Any:
    engine = db.create_engine(any_db_url)
    await db.upgrade(engine)
    yield await seed_programme(db.session_factory(engine))
    await engine.dispose()


async def fake_answers_for_export(session: Any, response_id: int, locale: str = "es",
                                  catalogs: Any = None) -> list[tuple[str, str, str]]:
    """What storage.responses.answers_for_export returns, read from the seeded rows."""
    r = await session.get(FormResponse, response_id)
    form = await session.get(FormDefinition, r.form_id)
    return [(q["key"], q["text"][locale], str(r.answers[q["key"]]))
            for q in form.definition["questions"] if q["key"] in r.answers]


# What the seeded fichas were made with, as far as a ficha's page asks: a receipt prefix and no
# declaration (the seeded definitions are simpler than a real form's).
SEEDED_FORM = parse_form({
    "key": "ficha_interes", "receipt_prefix": "FI",
    "title": {"es": "Ficha de Interés", "en": "Interest Form"},
    "questions": [{"key": "motivo", "type": "text", "label": {"es": "Motivo", "en": "Why"},
                   "prompt": {"es": "¿Por qué?", "en": "Why?"}}],
})


@pytest.fixture
def forms_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    """Answers for the seeded fichas; the real forms engine is used by
    test_a_ficha_made_with_the_real_forms_engine."""
    monkeypatch.setattr(responses, "answers_for_export", fake_answers_for_export)
    monkeypatch.setattr(responses, "form_of", lambda row, known=None: SEEDED_FORM)


# --------------------------------------------------------------------------- readers


def needs_poppler() -> None:
    missing = [t for t in ("pdftoppm", "pdftotext", "pdffonts") if shutil.which(t) is None]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed: PDFs are checked with poppler-utils "
                    "(apt-get install poppler-utils)")


class PdfText(str):
    """The text of a PDF in reading order; ``in`` also accepts a table row as it reads
    across the page (pdftotext -layout), since a cell that wraps splits a row apart."""

    layout: str

    def __contains__(self, part: object) -> bool:
        return str.__contains__(self, part) or part in self.layout


def read_pdf(export: exports.ExportFile, tmp_path: Path) -> tuple[PdfText, list[Path], str]:
    """Renders every page to PNG and extracts the text, as a person's reader would."""
    needs_poppler()
    assert export.mime_type == "application/pdf"
    assert export.content.startswith(b"%PDF-")
    path = tmp_path / export.filename
    path.write_bytes(export.content)
    subprocess.run(["pdftoppm", "-png", "-r", "60", str(path), str(tmp_path / "page")],
                   check=True, capture_output=True)
    pages = sorted(tmp_path.glob("page*.png"))
    assert pages
    for page in pages:
        with Image.open(page) as img:
            assert img.size[0] > 400  # a real A4 page, not an empty render
            assert img.convert("L").getextrema()[0] < 100  # something dark was drawn
    def extract(*flags: str) -> str:
        out = subprocess.run(["pdftotext", "-enc", "UTF-8", *flags, str(path), "-"],
                             check=True, capture_output=True).stdout.decode("utf-8")
        return " ".join(out.split())

    text = PdfText(extract())
    text.layout = extract("-layout")
    fonts = subprocess.run(["pdffonts", str(path)], check=True,
                           capture_output=True).stdout.decode()
    return text, pages, fonts


def page_text(path: Path, page: int) -> str:
    out = subprocess.run(["pdftotext", "-enc", "UTF-8", "-f", str(page), "-l", str(page),
                          str(path), "-"], check=True, capture_output=True).stdout.decode()
    return " ".join(out.split())


def read_xlsx(export: exports.ExportFile) -> Any:
    assert export.mime_type == exports.MIME["xlsx"]
    assert export.filename.endswith(".xlsx")
    assert_no_raw_keys_in_document(export.filename, export.content)
    return load_workbook(io.BytesIO(export.content))


def header_row(ws: Any) -> int:
    """The table's header: the row printed again at the top of every page."""
    titles = ws.print_title_rows
    return int(titles.split(":")[0].strip("$")) if titles else 1


def sheet_rows(ws: Any) -> list[list[Any]]:
    """The sheet from its table's header down (the title and details are above it)."""
    return [list(r) for r in ws.iter_rows(min_row=header_row(ws), values_only=True)]


def heading_rows(ws: Any) -> list[str]:
    """The title and details written above the table, one text a line."""
    return [str(r[0]) for r in ws.iter_rows(max_row=header_row(ws) - 1, values_only=True)
            if r[0] is not None]


def above_table(ws: Any) -> list[list[Any]]:
    """Every row above the table's header, cell by cell (a progress report sheet writes
    each detail's label and value in two cells)."""
    return [list(r) for r in ws.iter_rows(max_row=header_row(ws) - 1, values_only=True)]


def table_rows(ws: Any) -> list[list[Any]]:
    """A progress report sheet's table: its header row and rows, found as every sheet's
    table is (the header repeated on each printed page), under the title and details."""
    rows = sheet_rows(ws)
    assert rows and all(v is not None for v in rows[0]), rows[:1]
    return rows


def read_csv(export: exports.ExportFile) -> list[list[str]]:
    assert export.mime_type == "text/csv"
    assert_no_raw_keys_in_document(export.filename, export.content)
    assert export.content.startswith(b"\xef\xbb\xbf")  # the BOM Excel needs for UTF-8
    text = export.content.decode("utf-8-sig")
    assert "\ufeff" not in text
    return list(csv.reader(io.StringIO(text, newline=""), delimiter=";"))


def assert_header_styled(ws: Any) -> None:
    top = header_row(ws)
    assert ws.freeze_panes == f"A{top + 1}"
    assert all(c.font.bold for c in ws[top] if c.value is not None)
    assert all((ws.column_dimensions[c.column_letter].width or 0) >= 6 for c in ws[top])
    # Printable: A4, one page wide, the header repeated on every page.
    assert str(ws.page_setup.paperSize) == ws.PAPERSIZE_A4
    assert ws.sheet_properties.pageSetUpPr.fitToPage
    assert (ws.page_setup.fitToWidth, ws.page_setup.fitToHeight) == (1, 0)


# --------------------------------------------------------------------------- helpers


def test_slugs_are_ascii_and_readable() -> None:
    assert exports.slugify("Junta de Vecinos Población Ñuñoa Alto") == (
        "junta-de-vecinos-poblacion-nunoa-alto")
    assert exports.slugify("  ¿Qué?  ") == "que"
    assert exports.slugify("Łódź") == "lodz"
    assert exports.slugify("!!!") == "x"


def test_latin1_keeps_spanish_and_replaces_the_rest() -> None:
    assert exports.to_latin1("Ñuñoa, ¿señora Inés? ¡Sí!") == "Ñuñoa, ¿señora Inés? ¡Sí!"
    assert exports.to_latin1("Ecomercado – Gestión “comunitaria”") == (
        'Ecomercado - Gestión "comunitaria"')
    assert exports.to_latin1("Łukasz 😀") == "?ukasz ?"


def test_an_aware_now_is_required(catalogs: Catalogs) -> None:
    with pytest.raises(ValueError):
        exports.Ctx(catalogs, "es", "America/Santiago", datetime(2026, 7, 10, 15))


# --------------------------------------------------------------------------- attendance


ATTENDANCE_M3_ES = [
    ["1", "Begoña Zúñiga Díaz", ORGS["A"][0], "Asistirá", "Presente"],
    ["2", "Héctor Muñoz Ibáñez", ORGS["D"][0], "Tal vez", "Ausente"],
    ["3", "José Ignacio Peña Oñate", ORGS["B"][0], "Asistirá", "Presente"],
    ["4", "Łukasz Wiśniewski Ñancupil", ORGS["B"][0], "Asistirá", "Presente"],
    ["5", "María José Araya Muñoz", ORGS["A"][0], "Asistirá", "Presente"],
]


async def test_attendance_list_pdf_is_a_printable_form(seeded: Seed, catalogs: Catalogs,
                                                       tmp_path: Path) -> None:
    async with seeded.sessions() as s:
        export = await exports.attendance_list(s, seeded.meetings["M3"], "pdf", now=NOW,
                                               catalogs=catalogs)
    assert export.filename == "lista-asistencia-grupo-motor-2026-04-07.pdf"
    text, pages, fonts = read_pdf(export, tmp_path)
    assert len(pages) == 2  # the table and its blank rows, then the responsible's signature
    assert "DejaVu" in fonts
    for expected in (
        PROGRAM, "Lista de asistencia", "Instancia Grupo Motor", "Sesión del Grupo Motor",
        "martes 7 de abril de 2026", "de 18:00 a 20:00",
        "Sede Junta de Vecinos Población Ñuñoa Alto, Pasaje Los Copihues",
        "N° Nombre RUT Organización Teléfono Asistencia Firma",
        "15.111.111-1", "Firma de quien facilitó la sesión", "Responsable de la sesión",
        "María José Araya Muñoz", "Łukasz Wiśniewski Ñancupil", "Begoña Zúñiga Díaz",
        "Junta de Vecinos Población Ñuñoa Alto", "Ausente", "Presente",
        "Personas invitadas: 5 · Confirmaron asistencia: 4 · Presentes: 4",
        "Generado por Convoca el viernes 10 de julio de 2026 a las 11:00", "Página 1 de 2",
    ):
        assert expected in text, expected
    assert "Tal vez" not in text  # the answer to the invitation is on the sheet, not here
    # Alphabetical, whatever the accents: Begoña before Héctor before José.
    assert text.index("Begoña") < text.index("Héctor") < text.index("José Ignacio")


async def test_attendance_list_in_english_with_the_fallback_font(
        seeded: Seed, catalogs: Catalogs, tmp_path: Path) -> None:
    async with seeded.sessions() as s:
        export = await exports.attendance_list(s, seeded.meetings["M3"], "pdf", now=NOW,
                                               locale="en", catalogs=catalogs,
                                               font_dirs=NO_FONTS)
    assert export.filename == "attendance-list-core-group-2026-04-07.pdf"
    text, _, fonts = read_pdf(export, tmp_path)
    assert "Helvetica" in fonts and "DejaVu" not in fonts
    for expected in (
        "Attendance list", "Core Group meeting", "Tuesday 7 April 2026", "18:00 to 20:00",
        "No. Name RUT Organisation Phone Attendance Signature",
        "María José Araya Muñoz", "Junta de Vecinos Población Ñuñoa Alto",
        # Ł and ś are not in latin-1: replaced, and the rest of the name survives.
        "?ukasz Wi?niewski Ñancupil",
        "Absent", "Present", "Page 1 of 2",
        "Generated by Convoca on Friday 10 July 2026 at 11:00",
    ):
        assert expected in text, expected


async def test_attendance_list_shows_walk_ins_and_reasons(seeded: Seed, catalogs: Catalogs,
                                                          tmp_path: Path) -> None:
    async with seeded.sessions() as s:
        pdf = await exports.attendance_list(s, seeded.meetings["M1"], "pdf", now=NOW,
                                            catalogs=catalogs, font_dirs=NO_FONTS)
        sheet = await exports.attendance_list(s, seeded.meetings["M1"], "csv", now=NOW,
                                              catalogs=catalogs)
    # 10 March is still summer time (UTC-3): 22:00 UTC is 19:00.
    assert pdf.filename == "lista-asistencia-sesion-de-socializacion-2026-03-10.pdf"
    text, _, _ = read_pdf(pdf, tmp_path)
    assert "martes 10 de marzo de 2026" in text and "de 19:00 a 21:00" in text
    assert "Instancia -" in text  # the em dash, in Helvetica
    assert read_csv(sheet) == [
        ["N°", "Nombre", "RUT", "Organización", "Teléfono", "Confirmación", "Asistencia",
         "Motivo"],
        ["1", "Begoña Zúñiga Díaz", "15.111.111-1", ORGS["A"][0], "", "Sin invitación",
         "Presente", ""],
        ["2", "Héctor Muñoz Ibáñez", "14.111.111-1", ORGS["D"][0], "", "Sin respuesta", "",
         ""],
        ["3", "José Ignacio Peña Oñate", "12.111.111-1", ORGS["B"][0], "", "Asistirá",
         "Presente", ""],
        ["4", "María José Araya Muñoz", "11.111.111-1", ORGS["A"][0], "", "Asistirá",
         "Presente", ""],
        ["5", "Sofía Núñez Castañeda", "13.111.111-1", ORGS["C"][0], "", "No asistirá",
         "Ausente", "Tengo turno en el trabajo"],
    ]
    # The reason a person gave stays with the team: not on the sheet passed round the room.
    assert "Tengo turno" not in text


async def test_a_long_attendance_list_numbers_its_pages_and_repeats_its_headings(
        seeded: Seed, catalogs: Catalogs, tmp_path: Path) -> None:
    async with seeded.sessions() as s:
        meeting = Meeting(program_id=seeded.program_id, kind="formacion",
                          title="Manipulación de alimentos", starts_at=utc(2026, 9, 8, 21),
                          place="Gimnasio Municipal", created_at=NOW)
        s.add(meeting)
        await s.flush()
        for n in range(40):
            p = Person(program_id=seeded.program_id, name=f"Persona Ñandú {n:02d}",
                       created_at=NOW)
            s.add(p)
            await s.flush()
            s.add(Rsvp(meeting_id=meeting.id, person_id=p.id, invited_at=NOW, answer="yes"))
        await s.commit()
        export = await exports.attendance_list(s, meeting.id, "pdf", now=NOW,
                                               catalogs=catalogs)
    text, pages, _ = read_pdf(export, tmp_path)
    assert len(pages) >= 2
    assert f"Página {len(pages)} de {len(pages)}" in text
    last = page_text(tmp_path / export.filename, len(pages))
    # A loose sheet still says what it is, and its table still has its headings.
    assert ("Lista de asistencia · Sesión de formación: Manipulación de alimentos · "
            "martes 8 de septiembre de 2026") in last
    assert "Nombre" in last and "Firma" in last
    assert "Persona Ñandú 39" in text and "Persona Ñandú 00" in text
    # Summer time again from 6 September (UTC-3); with no end time, only the start.
    assert "Instancia —" in text and "Hora 18:00" in text
    assert "Lugar Gimnasio Municipal" in text


async def test_attendance_list_xlsx_and_csv(seeded: Seed, catalogs: Catalogs) -> None:
    async with seeded.sessions() as s:
        xlsx = await exports.attendance_list(s, seeded.meetings["M3"], "xlsx", now=NOW,
                                             catalogs=catalogs)
        xlsx_en = await exports.attendance_list(s, seeded.meetings["M3"], "xlsx", now=NOW,
                                                locale="en", catalogs=catalogs)
        sheet = await exports.attendance_list(s, seeded.meetings["M3"], "csv", now=NOW,
                                              catalogs=catalogs)
    assert xlsx.filename == "lista-asistencia-grupo-motor-2026-04-07.xlsx"
    assert sheet.filename == "lista-asistencia-grupo-motor-2026-04-07.csv"
    wb = read_xlsx(xlsx)
    ws = wb.worksheets[0]
    assert ws.title == "Lista de asistencia"
    assert_header_styled(ws)
    rows = sheet_rows(ws)
    assert rows[0] == ["N°", "Nombre", "RUT", "Organización", "Teléfono", "Confirmación",
                       "Asistencia", "Motivo", "Firma"]
    people = [r for r in rows[1:] if isinstance(r[0], int) and r[1]]
    assert [[str(r[0]), r[1], r[3], r[5], r[6]] for r in people] == ATTENDANCE_M3_ES
    # One sheet: the session's details above the table, nothing on another sheet.
    assert len(wb.worksheets) == 1
    heading = heading_rows(ws)
    assert heading[0] == "Lista de asistencia"
    assert "Fecha: martes 7 de abril de 2026" in heading
    assert ("Lugar: Sede Junta de Vecinos Población Ñuñoa Alto, Pasaje Los Copihues 1234"
            in heading)
    assert sheet_rows(read_xlsx(xlsx_en).worksheets[0])[0] == [
        "No.", "Name", "RUT", "Organisation", "Phone", "RSVP", "Attendance", "Reason",
        "Signature"]
    assert [[r[0], r[1], r[3], r[5], r[6]] for r in read_csv(sheet)[1:]] == ATTENDANCE_M3_ES


# --------------------------------------------------------------------------- fichas


def hand_made_ficha(signed: bool = True) -> exports.Ficha:
    return exports.Ficha(
        program=PROGRAM, tz="America/Santiago",
        organization=exports.FichaOrganization(
            name="Junta de Vecinos Población Ñuñoa Alto", kind="Junta de vecinos",
            rut="65.123.456-7", sector="Población Ñuñoa Alto", members_count=1200),
        answers=[("motivacion", "¿Por qué quieren participar?",
                  "Para que las familias de la población tengan dónde comprar barato"),
                 ("dias", "¿Qué días pueden reunirse?", "Martes y jueves")],
        signatures=[exports.FichaSignature("María José Araya Muñoz", utc(2026, 3, 14, 16, 5),
                                           "Presidenta", "12.111.111-1")] if signed else [],
        submitted_at=utc(2026, 3, 14, 16),
    )


@pytest.mark.parametrize("font_dirs", [exports.FONT_DIRS, NO_FONTS], ids=["dejavu", "helvetica"])
def test_ficha_pdf_from_a_hand_made_list(font_dirs: tuple[Path, ...], catalogs: Catalogs,
                                         tmp_path: Path) -> None:
    export = exports.render_ficha_pdf(hand_made_ficha(), now=NOW, catalogs=catalogs,
                                      font_dirs=font_dirs)
    assert export.filename == "ficha-interes-junta-de-vecinos-poblacion-nunoa-alto.pdf"
    text, _, fonts = read_pdf(export, tmp_path)
    assert ("DejaVu" in fonts) == bool(font_dirs)
    for expected in (
        "Ficha de Interés de Participación", PROGRAM, "Junta de Vecinos Población Ñuñoa Alto",
        "RUT 65.123.456-7", "N° de socios 1.200",
        "Enviada sábado 14 de marzo de 2026 a las 13:00",
        "Pregunta Respuesta", "¿Por qué quieren participar?",
        "Para que las familias de la población tengan dónde comprar barato",
        "Firmas", "María José Araya Muñoz", "Presidenta",
        "sábado 14 de marzo de 2026 a las 13:05", "Firmas de puño y letra",
        "Nombre RUT Cargo Firma", "12.111.111-1", "Lugar y fecha", "Página 1 de 1",
    ):
        assert expected in text, expected


def test_an_unsigned_ficha_still_has_lines_to_sign(catalogs: Catalogs, tmp_path: Path) -> None:
    export = exports.render_ficha_pdf(hand_made_ficha(signed=False), now=NOW, locale="en",
                                      catalogs=catalogs)
    text, _, _ = read_pdf(export, tmp_path)
    assert "Participation Interest Form" in text
    assert "Nobody has signed this form in Convoca yet." in text
    assert "Handwritten signatures" in text and "Name RUT Position Signature" in text


async def test_fichas_from_the_database_use_the_latest_submitted_version(
        seeded: Seed, catalogs: Catalogs, forms_engine: None, tmp_path: Path) -> None:
    async with seeded.sessions() as s:
        pdfs = await exports.ficha_pdfs(s, seeded.program_id, now=NOW, catalogs=catalogs)
        one = await exports.ficha_pdf(s, seeded.orgs["A"], now=NOW, locale="en",
                                      catalogs=catalogs)
        none = await exports.ficha_pdf(s, seeded.orgs["C"], now=NOW, catalogs=catalogs)
    assert none is None  # C only has a draft
    assert [p.filename for p in pdfs] == [
        "ficha-interes-club-deportivo-union-penalolen.pdf",
        "ficha-interes-junta-de-vecinos-poblacion-nunoa-alto.pdf",
    ]
    text, _, _ = read_pdf(pdfs[1], tmp_path)
    assert "Queremos que la comunidad de Ñuñoa Alto se organice" in text
    assert "Versión antigua" not in text
    assert ("Begoña Zúñiga Díaz 15.111.111-1 Secretaria sábado 14 de marzo de 2026 a las"
            in text)
    assert ("María José Araya Muñoz 11.111.111-1 Presidenta sábado 14 de marzo de 2026 a las"
            in text)
    assert one is not None and one.filename == (
        "interest-form-junta-de-vecinos-poblacion-nunoa-alto.pdf")
    (tmp_path / "en").mkdir()
    text_en, _, _ = read_pdf(one, tmp_path / "en")
    assert "Why do you want to take part?" in text_en
    assert "Saturday 14 March 2026 at 13:05" in text_en


async def test_fichas_workbook_has_a_row_per_organisation_and_a_column_per_question(
        seeded: Seed, catalogs: Catalogs, forms_engine: None) -> None:
    async with seeded.sessions() as s:
        export = await exports.fichas_xlsx(s, seeded.program_id, now=NOW, catalogs=catalogs)
    assert export.filename == "fichas-interes-2026-07-10.xlsx"
    ws = read_xlsx(export).worksheets[0]
    assert_header_styled(ws)
    rows = sheet_rows(ws)
    assert rows[0] == ["Organización", "Tipo", "Sector", "Enviada",
                       "¿Por qué quieren participar?",
                       "¿Cuántas personas socias tiene la organización?",
                       "¿Qué días pueden reunirse?", "Firmas", "En el catastro"]
    assert rows[1][:3] == [ORGS["B"][0], "Club deportivo", "Lo Hermida"]
    assert rows[1][3] == datetime(2026, 3, 13, 18, 0)  # Santiago wall-clock time
    assert rows[1][4:7] == ["Apoyar a las familias del club", "120", None]
    assert rows[1][7] == "José Ignacio Peña Oñate (13 mar 2026, 18:02)"
    assert rows[2][0] == "Junta de Vecinos Población Ñuñoa Alto"
    assert rows[2][4:7] == ["Queremos que la comunidad de Ñuñoa Alto se organice", "48",
                            "Martes y jueves después de las 18:00"]
    assert rows[2][7] == ("María José Araya Muñoz (14 mar 2026, 13:05)\n"
                          "Begoña Zúñiga Díaz (14 mar 2026, 15:30)")
    assert len(rows) == 3


async def test_a_ficha_made_with_the_real_forms_engine(seeded: Seed, catalogs: Catalogs,
                                                       tmp_path: Path) -> None:
    async with seeded.sessions() as s:
        definition = await responses.ensure_definition(s, load_form("ficha_interes"), NOW)
        # The seeded fichas use a simpler definition than the engine reads: set them aside.
        await s.execute(update(FormResponse).where(FormResponse.form_id != definition.id)
                        .values(status="draft"))
        org = await s.get(Organization, seeded.orgs["E"])
        response = FormResponse(
            form_id=definition.id, person_id=seeded.people["P6"], organization_id=org.id,
            status="submitted", version=1, started_at=utc(2026, 7, 1, 14),
            updated_at=utc(2026, 7, 1, 15), submitted_at=utc(2026, 7, 1, 15),
            answers={
                "organization_name": org.name, "organization_kind": "otra",
                "organization_kind_other": "Agrupación mapuche", "formalized": False,
                "sector": "Lo Hermida", "members_count": 1200,
                "representative_name": PEOPLE["P6"], "representative_role": "Lonko",
                "representative_phone": "+56912345678", "representative_email": None,
                "participation": ["grupo_motor", "difusion"],
                "available_days": ["martes", "jueves"], "available_times": ["tarde"],
            })
        s.add(response)
        await s.flush()
        s.add(FormSignature(response_id=response.id, person_id=seeded.people["P6"],
                            signed_name=PEOPLE["P6"], signed_at=utc(2026, 7, 1, 15, 1)))
        await s.commit()
        pdf = await exports.ficha_pdf(s, org.id, now=NOW, catalogs=catalogs)
        sheet = await exports.fichas_xlsx(s, seeded.program_id, now=NOW, locale="en",
                                          catalogs=catalogs)
    assert pdf is not None
    text, _, _ = read_pdf(pdf, tmp_path)
    for expected in (
        "Agrupación Cultural Peñi Ñuke", "Sector o barrio", "Lo Hermida", "Días disponibles",
        "Martes, Jueves", "Grupo Motor, Difusión", "1.200", "Lonko",
        f"FI-{response.id:05d}",
        f"Yo, {PEOPLE['P6']}, Lonko de Agrupación Cultural Peñi Ñuke, declaro",
        "miércoles 1 de julio de 2026 a las 11:01",
    ):
        assert expected in text, expected
    rows = sheet_rows(read_xlsx(sheet).worksheets[0])
    row = next(r for r in rows if r[0] == "Agrupación Cultural Peñi Ñuke")
    assert dict(zip(rows[0], row, strict=True))["Available days"] == "Tuesday, Thursday"


# --------------------------------------------------------------------------- organisations


ORG_ROWS_ES = [
    # E's invitation and B's commitment are dated after the cut-off (NOW): E is not among
    # the invited, but in its own section below.
    ["1", "Centro de Madres Señora Inés", "Centro de madres", "San Luis",
     "3 mar 2026 · Sesión de socialización", "Sin respuesta", "No", ""],
    ["2", "Club Deportivo Unión Peñalolén", "Club deportivo", "Lo Hermida",
     "3 mar 2026 · Sesión de socialización", "Sí (5 mar 2026)", "Sí, 13 mar 2026", ""],
    ["3", "Comité de Allegados Los Añañucos", "Comité de allegados", "La Faena",
     "3 mar 2026 · Sesión de socialización", "No (6 mar 2026)", "No", ""],
    ["4", "Junta de Vecinos Población Ñuñoa Alto", "Junta de vecinos", "Población Ñuñoa Alto",
     "3 mar 2026 · Sesión de socialización\n17 mar 2026 · Sesión diagnóstica",
     "Sí (4 mar 2026)\nSin respuesta", "Sí, 14 mar 2026", "30 mar 2026"],
]


async def test_invited_organisations_in_three_formats(seeded: Seed, catalogs: Catalogs,
                                                      tmp_path: Path) -> None:
    async with seeded.sessions() as s:
        got = {fmt: await exports.invited_organizations(s, seeded.program_id, fmt, now=NOW,
                                                        catalogs=catalogs)
               for fmt in ("xlsx", "csv", "pdf")}
        en = await exports.invited_organizations(s, seeded.program_id, "csv", now=NOW,
                                                 locale="en", catalogs=catalogs)
    assert got["csv"].filename == "organizaciones-invitadas-2026-07-10.csv"
    header = ["N°", "Organización", "Tipo", "Sector", "Invitaciones", "Respuesta",
              "Ficha de interés", "Compromiso"]
    assert read_csv(got["csv"]) == [header] + ORG_ROWS_ES + [
        [], ["En el catastro, sin invitar (1 organización)"],
        ["N°", "Organización", "Tipo", "Sector"],
        ["1", "Agrupación Cultural Peñi Ñuke", "Agrupación cultural", "Lo Hermida"]]
    ws = read_xlsx(got["xlsx"]).worksheets[0]
    assert_header_styled(ws)
    rows = sheet_rows(ws)
    assert rows[0] == header
    assert [[str(v) if v is not None else "" for v in r] for r in rows[1:5]] == ORG_ROWS_ES
    after = [r[0] for r in rows[5:] if r[0]]
    assert after[1] == "En el catastro, sin invitar (1 organización)"
    assert rows[-1][:4] == [1, "Agrupación Cultural Peñi Ñuke", "Agrupación cultural",
                            "Lo Hermida"]
    assert ws[f"E{header_row(ws) + 4}"].alignment.wrap_text  # two invitations, one a line
    assert read_csv(en)[0] == ["No.", "Organisation", "Type", "Area", "Invitations", "Answer",
                               "Interest form", "Commitment"]
    assert read_csv(en)[4][4] == ("3 Mar 2026 · Information session\n"
                                  "17 Mar 2026 · Diagnosis session")
    text, _, _ = read_pdf(got["pdf"], tmp_path)
    for expected in ("Listado de organizaciones invitadas", "Comité de Allegados Los Añañucos",
                     "En el catastro, sin invitar (1 organización)",
                     "Agrupación Cultural Peñi Ñuke", "Sesión diagnóstica",
                     "Fecha de corte viernes 10 de julio de 2026",
                     "Organizaciones en el catastro: 5 · Invitadas: 4 · Con ficha de interés: 2"):
        assert expected in text, expected


# --------------------------------------------------------------------------- delivery days


DELIVERY_ROWS_ES = [
    # N°, recipient, RUT, family, sector, mode, status, reason, proxy, proxy RUT, answered,
    # handed over (the seeded families have no person of their own: the family's name).
    ["1", "Familia Araya Muñoz", "", "Familia Araya Muñoz", "Lo Hermida", "Retiro en local",
     "Confirmó", "", "", "", "14 jun 2026, 16:00", ""],
    ["2", "Familia Castañeda Rojas", "", "Familia Castañeda Rojas", "San Luis",
     "Entrega a domicilio", "Retira otra persona", "", "Ana María Sáez Yáñez",
     "12.345.678-5", "14 jun 2026, 16:00", ""],
    ["3", "Familia Ibáñez Soto", "", "Familia Ibáñez Soto", "Lo Hermida", "Retiro en local",
     "Pide otra fecha", "Trabajo ese día", "", "", "14 jun 2026, 16:00", ""],
    ["4", "Familia Muñoz Quintana", "", "Familia Muñoz Quintana", "San Luis",
     "Retiro en local", "Confirmó", "", "", "", "14 jun 2026, 16:00", ""],
    ["5", "Familia Núñez Lagos", "", "Familia Núñez Lagos", "La Faena", "Entrega a domicilio",
     "Sin avisar", "", "", "", "", ""],
    ["6", "Familia Oñate Vidal", "", "Familia Oñate Vidal", "Lo Hermida", "Retiro en local",
     "Sin respuesta", "", "", "", "", ""],
    ["7", "Familia Peña Ñancupán", "", "Familia Peña Ñancupán", "La Faena", "Retiro en local",
     "No puede venir", "Estoy enferma, con licencia", "", "", "14 jun 2026, 16:00", ""],
    ["8", "Familia Zúñiga Pérez", "", "Familia Zúñiga Pérez", "La Faena", "Retiro en local",
     "Retiró", "", "", "", "14 jun 2026, 16:00", "16 jun 2026, 10:40"],
]


async def test_delivery_day_list_pdf(seeded: Seed, catalogs: Catalogs, tmp_path: Path) -> None:
    async with seeded.sessions() as s:
        export = await exports.delivery_day_list(s, seeded.days["D1"], "pdf", now=DURING_D1,
                                                 catalogs=catalogs)
    assert export.filename == "lista-entrega-2026-06-16-1000.pdf"
    text, _, _ = read_pdf(export, tmp_path)
    for expected in (
        "Lista de entrega", "martes 16 de junio de 2026", "de 10:00 a 12:00",
        "Ecomercado Peñalolén, Av. Grecia 8735", "Modalidad Mixta: ver cada fila",
        "N° Nombre de quien recibe RUT Familia Sector Modalidad Estado Firma de recepción",
        "Confirmó", "No puede venir", "Entrega a domicilio",
        "Retira Ana María Sáez Yáñez (RUT 12.345.678-5)", "Pide otra fecha",
        "Retiró", "Sin respuesta", "Sin avisar", "Familia Peña Ñancupán",
        # Counted as the progress report counts the day (storage.progress): while the window
        # is open a family marked "no vino" is still one that confirmed.
        "Familias: 8 · Confirmaron: 3 · No pueden o piden otra fecha: 2 · Sin respuesta: 2 · "
        "Retiraron: 1 · No vinieron: 0",
    ):
        assert expected in text, expected
    # Every family signs this sheet: no family's reasons on it.
    assert "Estoy enferma" not in text and "Trabajo ese día" not in text


async def test_delivery_day_list_xlsx_csv_and_english(seeded: Seed, catalogs: Catalogs) -> None:
    async with seeded.sessions() as s:
        xlsx = await exports.delivery_day_list(s, seeded.days["D1"], "xlsx", now=DURING_D1,
                                               catalogs=catalogs)
        sheet = await exports.delivery_day_list(s, seeded.days["D1"], "csv", now=DURING_D1,
                                                catalogs=catalogs)
        en = await exports.delivery_day_list(s, seeded.days["D1"], "csv", now=DURING_D1,
                                             locale="en", catalogs=catalogs)
    header = ["N°", "Nombre de quien recibe", "RUT", "Familia", "Sector", "Modalidad", "Estado",
              "Motivo", "Retira en su nombre", "RUT de quien retira", "Respondió", "Entregada"]
    assert read_csv(sheet) == [header] + DELIVERY_ROWS_ES
    ws = read_xlsx(xlsx).worksheets[0]
    assert_header_styled(ws)
    assert ws.page_setup.orientation == "landscape"
    rows = sheet_rows(ws)
    assert rows[0] == [*header, "Firma de recepción"]
    assert [r[1] for r in rows[1:9]] == [r[1] for r in DELIVERY_ROWS_ES]
    assert rows[8][10:12] == [datetime(2026, 6, 14, 16, 0), datetime(2026, 6, 16, 10, 40)]
    assert ws[f"L{header_row(ws) + 8}"].number_format == "dd-mm-yyyy hh:mm"
    en_rows = read_csv(en)
    assert en.filename == "delivery-list-2026-06-16-1000.csv"
    assert en_rows[0] == ["No.", "Recipient's name", "RUT", "Family", "Area", "Mode", "Status",
                          "Reason", "Picks up for them", "Their RUT", "Answered",
                          "Handed over"]
    assert [r[6] for r in en_rows[1:]] == [
        "Confirmed", "Someone else picks up", "Asks for another date", "Confirmed",
        "Not told yet", "No answer", "Can't come", "Picked up"]


async def test_text_typed_into_the_chat_never_runs_as_a_formula(
        seeded: Seed, catalogs: Catalogs) -> None:
    async with seeded.sessions() as s:
        fam = Family(program_id=seeded.program_id, name='=HYPERLINK("http://x.example","Ñ")',
                     sector="+56 9", created_at=NOW)
        s.add(fam)
        await s.flush()
        s.add(Pickup(delivery_day_id=seeded.days["D2"], family_id=fam.id, status="pending"))
        await s.commit()
        xlsx = await exports.delivery_day_list(s, seeded.days["D2"], "xlsx", now=NOW,
                                               catalogs=catalogs)
        sheet = await exports.delivery_day_list(s, seeded.days["D2"], "csv", now=NOW,
                                                catalogs=catalogs)
    ws = read_xlsx(xlsx).worksheets[0]
    cell = next(c for c in ws["B"] if "HYPERLINK" in str(c.value))
    assert cell.data_type == "s" and cell.value == '=HYPERLINK("http://x.example","Ñ")'
    row = next(r for r in read_csv(sheet) if "HYPERLINK" in r[1])
    assert row[1] == "'=HYPERLINK(\"http://x.example\",\"Ñ\")" and row[4] == "'+56 9"


# Every column people's own words reach (typed into the chat, into the panel, or imported).
PEOPLES_TEXT: list[tuple[Any, tuple[str, ...]]] = [
    (Program, ("name",)),
    (Organization, ("name", "sector", "address", "phone", "email", "rut")),
    (Person, ("name", "rut", "phone", "email")),
    (Representative, ("position",)),
    (Body, ("name",)),
    (Family, ("name", "sector", "address", "phone", "rut")),
    (Meeting, ("title", "place", "address", "agenda")),
    (Rsvp, ("reason",)),
    (AttendanceGuest, ("name", "organization", "rut", "phone")),
    (DeliveryDay, ("place", "address")),
    (Pickup, ("reason", "proxy_name", "proxy_rut")),
    (FormSignature, ("signed_name",)),
]
LEADS = ("=", "+", "-", "@")


def formula_like(lead: str, text: str, width: int | None = None) -> str:
    made = f'=HYPERLINK("http://x.example/?q=1","{text}")' if lead == "=" else lead + text
    return made[:width] if width else made


async def words_like_formulas(seeded: Seed, lead: str) -> dict[str, set[str]]:
    """Every text field of the seed rewritten to start like a formula; by field, the values."""
    written: dict[str, set[str]] = {}
    async with seeded.sessions() as s:
        s.add(AttendanceGuest(meeting_id=seeded.meetings["M1"], name="Rosa Invitada",
                              organization="Club de Rayuela", rut="12.345.678-5",
                              phone="+56911112222", added_at=NOW))
        m1 = await s.get(Meeting, seeded.meetings["M1"])
        m1.title, m1.agenda = "Sesión de marzo", "Presentación del Ecomercado"
        await s.flush()
        for model, columns in PEOPLES_TEXT:
            for obj in (await s.scalars(select(model))).all():
                for col in columns:
                    old = getattr(obj, col)
                    if old:
                        width = getattr(model.__table__.c[col].type, "length", None)
                        new = formula_like(lead, old, width)
                        setattr(obj, col, new)
                        written.setdefault(f"{model.__name__}.{col}", set()).add(new)
        for r in (await s.scalars(select(FormResponse))).all():
            r.answers = {k: formula_like(lead, v) for k, v in r.answers.items()}
            written.setdefault("FormResponse.answers", set()).update(r.answers.values())
        for d in (await s.scalars(select(FormDefinition))).all():
            d.definition = {"questions": [
                {**q, "text": {loc: formula_like(lead, t) for loc, t in q["text"].items()}}
                for q in d.definition["questions"]]}
            written.setdefault("FormDefinition.question", set()).update(
                q["text"]["es"] for q in d.definition["questions"])
        await s.commit()
    return written


async def every_spreadsheet(seeded: Seed, catalogs: Catalogs) -> list[exports.ExportFile]:
    made = []
    async with seeded.sessions() as s:
        for fmt in ("xlsx", "csv"):
            for meeting_id in seeded.meetings.values():
                made.append(await exports.attendance_list(s, meeting_id, fmt, now=NOW,
                                                          catalogs=catalogs))
            for day_id in seeded.days.values():
                made.append(await exports.delivery_day_list(s, day_id, fmt, now=NOW,
                                                            catalogs=catalogs))
            made.append(await exports.invited_organizations(s, seeded.program_id, fmt,
                                                            now=NOW, catalogs=catalogs))
        made.append(await exports.fichas_xlsx(s, seeded.program_id, now=NOW,
                                              catalogs=catalogs))
        made.append(await exports.progress_report(s, seeded.program_id, "xlsx", now=NOW,
                                                  catalogs=catalogs))
    return made


@pytest.mark.parametrize("lead", LEADS)
async def test_no_cell_of_any_export_is_a_formula_whatever_people_typed(
        seeded: Seed, catalogs: Catalogs, forms_engine: None, lead: str) -> None:
    written = await words_like_formulas(seeded, lead)
    shown: list[str] = []
    formulas, unmarked, runnable = [], [], []
    for export in await every_spreadsheet(seeded, catalogs):
        if export.filename.endswith(".csv"):
            for row in read_csv(export):
                # Excel runs a cell that starts like this: the apostrophe keeps it text.
                runnable += [c for c in row if c.startswith((*LEADS, "\t", "\r"))]
                shown += [c.removeprefix("'") for c in row]
            continue
        for ws in read_xlsx(export).worksheets:
            for cell in (c for row in ws.iter_rows() for c in row):
                where = f"{export.filename} {ws.title}!{cell.coordinate}"
                if cell.data_type == "f":
                    formulas.append(f"{where}: {cell.value}")
                elif isinstance(cell.value, str):
                    if cell.value.startswith(LEADS) and not cell.quotePrefix:
                        unmarked.append(where)
                    shown.append(cell.value)
    assert formulas == []
    assert runnable == []
    assert unmarked == []  # Excel's "typed with an apostrophe": editing keeps it text
    # Names, places, reasons, organisations, sectors and answers all reached a cell; only the
    # PDFs show the agenda and the position, and a phone or RUT may be shown reformatted.
    unseen = {f for f, values in written.items()
              if not any(v in cell for v in values for cell in shown)}
    assert {f for f in unseen if not f.endswith((".phone", ".rut"))} <= {
        "Meeting.agenda", "Representative.position"}
    assert len(written) - len(unseen) >= 20


def test_a_control_character_in_a_name_does_not_stop_the_export(catalogs: Catalogs) -> None:
    made = hand_made_ficha()
    ficha = replace(made, organization=replace(made.organization,
                                               name="Junta\x07 de Vecinos\x00 El Sol"))
    export = exports.render_fichas_xlsx([ficha], program="Ecomercado\x1b Peñalolén",
                                        tz="America/Santiago", now=NOW, catalogs=catalogs)
    cells = [c.value for ws in read_xlsx(export).worksheets for row in ws.iter_rows()
             for c in row]
    assert "Junta de Vecinos El Sol" in cells and "Ecomercado Peñalolén" in cells


# --------------------------------------------------------------------------- progress


async def test_progress_figures_are_exactly_the_seeded_facts(seeded: Seed) -> None:
    async with seeded.sessions() as s:
        f = await progress.progress_figures(s, seeded.program_id, NOW)
        bodies = {b.kind: b.id for b in (await s.scalars(select(Body))).all()}
    m = seeded.meetings
    assert f["today"] == date(2026, 7, 10)
    assert f["month"] == 5  # 2 July starts month 5 of a programme begun on 2 March
    assert f["duration_months"] == 15
    assert f["next_report"] == {"key": "informe_avance.9", "month": 9,
                                "due": date(2026, 12, 1), "done": False}
    # E's invitation and B's commitment are dated after NOW; C only has a draft and D
    # sent another form.
    assert f["organizations"] == {"catalogued": 5, "invited": 4, "interested": 2,
                                  "committed": 1}
    # M5 is cancelled, M6 has no attendance, M7 has not happened yet.
    assert [(x["meeting_id"], x["invited"], x["present"], x["present_invited"], x["walk_ins"])
            for x in f["sessions"]] == [
        (m["M1"], 4, 3, 2, 1), (m["M2"], 3, 2, 2, 0), (m["M3"], 5, 4, 4, 0),
        (m["M4"], 3, 2, 2, 0)]
    assert [x["attendance_rate"] for x in f["sessions"]] == [2 / 4, 2 / 3, 4 / 5, 2 / 3]
    assert [x["body_id"] for x in f["sessions"]] == [None, None, bodies["grupo_motor"],
                                                      bodies["grupo_motor"]]
    # Each activity's sessions of its kind within its window, against its minimum: the
    # Grupo Motor's constitution (to 15 May) had M3 and M4; M6 on 7 July is outside it.
    activities = {a["key"]: (a["held"], a["planned_sessions"], a["status"])
                  for a in f["activities"] if a["planned_sessions"]}
    assert activities == {
        "s1.socializacion": (1, 1, "total"), "s1.diagnostico": (1, 1, "total"),
        "s2.constitucion_grupo_motor": (2, 1, "total"),
        "s2.constitucion_consejo_local": (0, 1, "none"),
        "s2.formacion": (0, 1, "under_way"), "s3.priorizacion": (0, 1, "under_way"),
        "s3.plan_trabajo": (0, 2, "not_started"),
        "s3.plan_comunicaciones": (0, 2, "not_started"),
        "s4.proyeccion": (0, 2, "not_started"), "s4.traspaso": (0, 2, "not_started"),
        "s4.evaluacion": (0, 1, "not_started"),
    }
    gm, cl = f["bodies"]
    # Grupo Motor: constituted 7 April, three whole months to 10 July at one a month; its
    # due milestones ask for 1 (priorizacion and plan_trabajo are not due yet).
    assert (gm["kind"], gm["since"], gm["months_elapsed"], gm["min_by_cadence"],
            gm["min_by_milestones"], gm["minimum"], gm["held"], gm["meets_minimum"]) == (
        "grupo_motor", date(2026, 4, 7), 3, 3, 1, 3, 2, False)
    assert (gm["invited"], gm["present_invited"], gm["attendance_rate"]) == (8, 6, 0.75)
    # Consejo Local: not constituted; its window opened 16 May, one whole month ago, at
    # one every two months; its constitution milestone was due 1 July.
    assert (cl["since"], cl["months_elapsed"], cl["min_by_cadence"], cl["min_by_milestones"],
            cl["minimum"], cl["held"], cl["meets_minimum"], cl["attendance_rate"]) == (
        date(2026, 5, 16), 1, 0, 1, 1, 0, False, None)
    # D3 is cancelled and D2 (14 July) comes after the cut-off: only D1 counts. F6's
    # no-show and F5's pickup keep their earlier answer; F7 confirmed for D2 only.
    assert f["families"] == {"total": 8, "notified": 7, "confirmed": 4, "served": 1}
    assert f["baskets"] == 1
    # As the lists show them: F5 picked up on D1, so whoever was still expected after its
    # window did not come (F1, F3, F7, F8, and F6 marked so).
    assert f["pickups"] == {"cannot": 1, "no_show": 5, "picked_up": 1, "reschedule": 1}
    assert [(d["families"], d["notified"], d["confirmed"], d["cannot"], d["no_answer"],
             d["picked_up"], d["no_show"], d["moved"])
            for d in f["delivery_days"]] == [(8, 7, 0, 2, 0, 1, 5, 0)]
    # Baskets per programme month (D1 on 16 June is in month 4) and cumulative.
    assert [(m["month"], m["baskets"], m["families"], m["baskets_cumulative"],
             m["families_cumulative"]) for m in f["months"]] == [
        (1, 0, 0, 0, 0), (2, 0, 0, 0, 0), (3, 0, 0, 0, 0), (4, 1, 1, 1, 1), (5, 0, 0, 1, 1)]
    # The Grupo Motor month by month: the last cumulative minimum is its minimum.
    assert [(m["held"], m["minimum_cumulative"]) for m in gm["months"]] == [
        (0, 0), (1, 0), (1, 1), (0, 2), (0, 3)]


async def test_progress_figures_earlier_count_only_what_had_happened(seeded: Seed) -> None:
    async with seeded.sessions() as s:
        f = await progress.progress_figures(s, seeded.program_id, utc(2026, 3, 20, 12))
    assert f["month"] == 1
    assert f["organizations"] == {"catalogued": 5, "invited": 4, "interested": 2,
                                  "committed": 0}
    assert [x["meeting_id"] for x in f["sessions"]] == [seeded.meetings["M1"]]
    assert {a["key"]: a["is_due"] for a in f["activities"]}["s1.socializacion"] is True
    assert f["bodies"][0]["min_by_cadence"] == 0  # the Grupo Motor's window is not open


async def test_progress_chart_png(seeded: Seed, catalogs: Catalogs, tmp_path: Path) -> None:
    async with seeded.sessions() as s:
        chart = await exports.progress_chart(s, seeded.program_id, now=NOW, catalogs=catalogs)
        fallback = await exports.progress_chart(s, seeded.program_id, now=NOW, locale="en",
                                                catalogs=catalogs, font_dirs=NO_FONTS)
    assert chart.filename == "asistencia-por-sesion-2026-07-10.png"
    assert fallback.filename == "attendance-per-session-2026-07-10.png"
    for export in (chart, fallback):
        assert export.mime_type == "image/png"
        with Image.open(io.BytesIO(export.content)) as img:
            assert img.format == "PNG" and img.size == exports.CHART_SIZE
            colours = {c for _, c in img.convert("RGB").getcolors(maxcolors=1 << 20)}
            assert (38, 99, 163) in colours and (189, 201, 217) in colours  # both bar kinds
    empty = exports.render_attendance_chart([], title="Asistencia por sesión",
                                            legend=("Invitadas", "Presentes"),
                                            empty="Aún no hay sesiones realizadas.")
    with Image.open(io.BytesIO(empty)) as img:
        assert img.size == exports.CHART_SIZE


def test_the_chart_never_draws_a_box_for_a_letter_its_font_lacks() -> None:
    from PIL import ImageFont

    clean = exports._glyph_filter(ImageFont.load_default(size=24))
    assert clean("Sesión en Ñuñoa") in ("Sesión en Ñuñoa", "Sesion en Nunoa")
    assert clean("a – b") in ("a – b", "a - b")
    assert clean("\U0010fffd") == "?"
    with_dejavu = exports._find_fonts(exports.FONT_DIRS)
    if with_dejavu is not None:
        dejavu = exports._glyph_filter(ImageFont.truetype(str(with_dejavu[0]), 24))
        assert dejavu("Sesión en Ñuñoa – Łukasz") == "Sesión en Ñuñoa – Łukasz"


async def test_progress_report_pdf_with_the_chart(seeded: Seed, catalogs: Catalogs,
                                                  tmp_path: Path) -> None:
    async with seeded.sessions() as s:
        export = await exports.progress_report(s, seeded.program_id, "pdf", now=NOW,
                                               catalogs=catalogs)
        en = await exports.progress_report(s, seeded.program_id, "pdf", now=NOW, locale="en",
                                           catalogs=catalogs, font_dirs=NO_FONTS)
    assert export.filename == "informe-avance-2026-07-10.pdf"
    text, pages, _ = read_pdf(export, tmp_path)
    assert b"/Subtype /Image" in export.content
    for expected in (
        "Informe de avance", "Fecha de corte viernes 10 de julio de 2026",
        "Mes del convenio Mes 5 de 15",
        "Próximo informe Informe del mes 9, vence el martes 1 de diciembre de 2026",
        "Organizaciones invitadas 4", "Organizaciones con ficha de interés 2",
        "Organizaciones con compromiso de participación 1", "Familias que confirmaron 4",
        "Familias que recibieron su canasta 1", "Canastas entregadas 1",
        "Avance por etapa y actividad", "Etapa 1: Socialización y análisis situacional",
        "Totalmente alcanzado",
            # Every verifier of the template has its producer: one not made yet is pending.
            "Documento diagnóstico: pendiente",
        # The Grupo Motor's minimum is its cadence's, 3, with the same 2 held everywhere.
        "Grupo Motor mensual 7 abr 2026 3 1 3 2 67% No",
        "Consejo Local cada 2 meses 16 may 2026 0 1 1 0 0% No",
        "Grupo Motor 2 8 6 75%",
        "Sesión de socialización", "10 mar 2026, 19:00",
        "Familias y canastas por mes", "Gestora comunitaria", "Persona coordinadora",
    ):
        assert expected in text, expected
    assert "Informe de avance: cifras" not in text
    assert len(pages) >= 2

    def shows_the_bars(page: Path) -> bool:
        with Image.open(page) as img:
            rgb = img.convert("RGB")
            return any(abs(r - 38) + abs(g - 99) + abs(b - 163) < 30
                       for _, (r, g, b) in rgb.getcolors(maxcolors=1 << 22))

    assert any(shows_the_bars(p) for p in pages)  # the chart is drawn on a page
    (tmp_path / "en").mkdir()
    text_en, _, _ = read_pdf(en, tmp_path / "en")
    for expected in ("Progress report", "Month 5 of 15", "Core Group monthly 7 Apr 2026 3 1 3 2 67% No",
                     "Families that confirmed 4", "Sessions per body", "Page 1 of",
                     "Fully achieved", "Coordinator"):
        assert expected in text_en, expected


async def test_progress_report_workbook(seeded: Seed, catalogs: Catalogs) -> None:
    async with seeded.sessions() as s:
        export = await exports.progress_report(s, seeded.program_id, "xlsx", now=NOW,
                                               catalogs=catalogs)
    wb = read_xlsx(export)
    assert export.filename == "informe-avance-2026-07-10.xlsx"
    assert wb.sheetnames == ["Organizaciones y familias", "Avance por etapa y actividad",
                             "Sesiones por instancia", "Sesiones por instancia y mes",
                             "Asistencia por instancia", "Sesiones realizadas",
                             "Familias y canastas por mes", "Días de entrega", "Información"]
    for ws in wb.worksheets[:-1]:
        # Each sheet prints on its own: title, programme, cut-off, landscape, fit to width.
        assert ws["A1"].value.startswith("Informe de avance: ")
        assert ws["A2"].value == PROGRAM
        assert ["Fecha de corte", "viernes 10 de julio de 2026"] in [
            r[:2] for r in above_table(ws)]
        assert ws.page_setup.orientation == "landscape" and ws.page_setup.fitToWidth == 1
        assert ws.sheet_properties.pageSetUpPr.fitToPage
    summary = table_rows(wb["Organizaciones y familias"])
    assert summary[0] == ["Indicador", "Total"]
    assert dict(summary[1:]) == {
        "Organizaciones en el catastro": 5, "Organizaciones invitadas": 4,
        "Organizaciones con ficha de interés": 2,
        "Organizaciones con compromiso de participación": 1, "Sesiones realizadas": 4,
        "Familias registradas": 8, "Días de entrega realizados": 1,
        "Familias avisadas de su retiro": 7, "Familias que confirmaron": 4,
        "Familias que recibieron su canasta": 1, "Canastas entregadas": 1}
    bodies = table_rows(wb["Sesiones por instancia"])
    assert bodies[1] == ["Grupo Motor", "mensual", datetime(2026, 4, 7), 3, 1, 3, 2, 2 / 3, "No"]
    assert bodies[2] == ["Consejo Local", "cada 2 meses", datetime(2026, 5, 16), 0, 1, 1, 0, 0,
                         "No"]
    sessions = wb["Sesiones realizadas"]
    rows = table_rows(sessions)
    assert all(c for c in rows[0])
    assert [r[:7] for r in rows[1:]] == [
        [datetime(2026, 3, 10, 19), "Sesión de socialización", None, 3, 1, 4, 2],
        [datetime(2026, 3, 24, 19), "Sesión diagnóstica", None, 2, 0, 3, 2],
        [datetime(2026, 4, 7, 18), "Sesión del Grupo Motor", "Grupo Motor", 4, 0, 5, 4],
        [datetime(2026, 5, 5, 18), "Sesión del Grupo Motor", "Grupo Motor", 2, 0, 3, 2],
    ]
    assert [r[7] for r in rows[1:]] == [r[6] / r[5] for r in rows[1:]]
    assert len(sessions._images) == 1  # the chart beside the table


async def test_an_invitation_to_a_meeting_shows_its_kind_and_the_organisations_answer(
    seeded: Seed, catalogs: Catalogs
) -> None:
    # The outreach section records "meeting:<id>"; the answer lives in the people's Rsvp.
    meeting_id, org_id = seeded.meetings["M3"], seeded.orgs["E"]
    async with seeded.sessions() as s:
        meeting = await s.get(Meeting, meeting_id)
        s.add(OrganizationInvitation(organization_id=org_id, purpose=f"meeting:{meeting_id}",
                                     sent_at=NOW - timedelta(days=3)))
        rsvp = await s.scalar(select(Rsvp).where(Rsvp.meeting_id == meeting_id,
                                                 Rsvp.person_id == seeded.people["P1"]))
        if rsvp is None:
            rsvp = Rsvp(meeting_id=meeting_id, person_id=seeded.people["P1"], invited_at=NOW)
            s.add(rsvp)
        rsvp.organization_id, rsvp.answer = org_id, "yes"
        rsvp.answered_at = NOW - timedelta(days=1)
        await s.commit()
        org = await s.get(Organization, org_id)
        got = await exports.invited_organizations(s, seeded.program_id, "csv", now=NOW,
                                                  catalogs=catalogs)
    kind_es = load_template("ecomercado-15m").meeting_kind(meeting.kind).name["es"]
    [row] = [r for r in read_csv(got)[1:] if r[1] == org.name]
    assert row[4].splitlines()[-1] == f"7 jul 2026 · {kind_es}"
    assert row[5].splitlines()[-1] == "Sí (9 jul 2026)"
