"""Issue 14, item 6: the verificadores as someone who must print, sign and upload them reads
them. Each is rendered (pdftoppm, pdftotext -layout; workbooks read back with openpyxl) and
checked for what FOSIS asks of it: the programme, executing body and comuna, the stage and
activity, the facilitator, each person's RUT and phone with a cell to sign, totals, a line
for the responsible's signature; sheets that print on A4; no text clipped; and no library
talking on the command line."""

from __future__ import annotations

import logging
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from openpyxl.utils import get_column_letter
from sqlalchemy import update
from test_exports import (
    NOW,
    PEOPLE,
    Seed,
    forms_engine,  # noqa: F401  (a fixture)
    header_row,
    heading_rows,
    read_pdf,
    read_xlsx,
    seeded,  # noqa: F401  (a fixture)
    sheet_rows,
    utc,
)

from documents import exports
from domain.forms import AnswerError, load_form, parse_answer
from locales import Catalogs
from storage import progress
from storage.models import (
    Family,
    FormSignature,
    Meeting,
    Organization,
    Person,
    Program,
    RoleGrant,
)

SETTINGS = {"executor": "Municipalidad de Peñalolén", "comuna": "Peñalolén",
            "region": "Metropolitana de Santiago"}
FACILITATOR = "Ximena Ñúñez Cárdenas"
BEFORE_M6 = utc(2026, 7, 6, 15)  # M6 (Grupo Motor, 7 July 18:00) has not begun


@pytest.fixture
def catalogs() -> Catalogs:
    return Catalogs()


@pytest.fixture
async def ready(seeded: Seed) -> Seed:  # noqa: F811
    """The seed with what the headings need: the programme's executing body and comuna, a
    facilitator who set up M3 and M6, phones, and a gestora for the rest."""
    async with seeded.sessions() as s:
        program = await s.get(Program, seeded.program_id)
        program.settings = dict(SETTINGS)
        facilitator = Person(program_id=seeded.program_id, name=FACILITATOR,
                             rut="9.876.543-3", created_at=NOW)
        gestora = Person(program_id=seeded.program_id, name="Gabriela Lota Muñoz",
                         created_at=NOW)
        s.add_all([facilitator, gestora])
        await s.flush()
        s.add(RoleGrant(person_id=gestora.id, program_id=seeded.program_id, role="gestora",
                        granted_at=NOW))
        await s.execute(update(Meeting).where(Meeting.id.in_(
            [seeded.meetings["M3"], seeded.meetings["M6"]])).values(created_by=facilitator.id))
        (await s.get(Person, seeded.people["P1"])).phone = "+56987654321"
        await s.commit()
    return seeded


def assert_printable(ws: Any, *, landscape: bool) -> None:
    """A4, one page wide, the table's header on every page, columns as wide as their text."""
    assert str(ws.page_setup.paperSize) == ws.PAPERSIZE_A4
    assert ws.page_setup.orientation == ("landscape" if landscape else "portrait")
    assert ws.sheet_properties.pageSetUpPr.fitToPage
    assert (ws.page_setup.fitToWidth, ws.page_setup.fitToHeight) == (1, 0)
    top = header_row(ws)
    assert ws.print_title_rows == f"{top}:{top}" or ws.print_title_rows == f"${top}:${top}"
    assert top > 3  # the title and details are on this sheet, above the table
    # The table's rows (what follows it, notes and signature lines, spans the columns).
    last = int(re.sub(r"\D", "", ws.auto_filter.ref.split(":")[1]))
    for cell in ws[top]:
        width = ws.column_dimensions[get_column_letter(cell.column)].width
        longest = max((len(line) for row in ws.iter_rows(
            min_row=top + 1, max_row=last, min_col=cell.column, max_col=cell.column,
            values_only=True)
            for v in row if isinstance(v, str) for line in v.split("\n")), default=0)
        # Nothing cut: as wide as its longest text (long texts wrap at 50).
        assert width >= min(longest, 50), (cell.value, width, longest)


# --------------------------------------------------------------------------- attendance


async def test_attendance_after_the_session_is_a_verificador(
        ready: Seed, catalogs: Catalogs, tmp_path: Path) -> None:
    async with ready.sessions() as s:
        pdf = await exports.attendance_list(s, ready.meetings["M3"], "pdf", now=NOW,
                                            catalogs=catalogs)
        xlsx = await exports.attendance_list(s, ready.meetings["M3"], "xlsx", now=NOW,
                                             catalogs=catalogs)
    text, pages, _ = read_pdf(pdf, tmp_path)
    for expected in (
        "Ejecutor Municipalidad de Peñalolén", "Comuna Peñalolén",
        "Región Metropolitana de Santiago",
        "Etapa 2. Constitución de instancias de participación y formación",
        "Actividad Constitución del Grupo Motor", "Sesión Sesión del Grupo Motor",
        f"Facilitador/a {FACILITATOR}",
        "N° Nombre RUT Organización Teléfono Asistencia Firma",
        "María José Araya Muñoz 11.111.111-1", "+56 9 8765 4321", "Łukasz Wiśniewski Ñancupil",
        "Personas invitadas: 5 · Confirmaron asistencia: 4 · Presentes: 4",
        "Firma de quien facilitó la sesión", f"{FACILITATOR} 9.876.543-3 · Responsable de la "
        "sesión",
    ):
        assert expected in text, expected
    assert text.count("Presente") >= 4 and "Ausente" in text
    # The signature line is at the foot of the list, after the last row.
    assert text.index("N° Nombre") < text.index("Firma de quien facilitó")
    assert len(pages) <= 2

    book = read_xlsx(xlsx)
    assert len(book.worksheets) == 1
    ws = book.worksheets[0]
    assert_printable(ws, landscape=True)
    heading = heading_rows(ws)
    assert heading[:2] == ["Lista de asistencia", "Ecomercado Solidario Peñalolén"]
    for line in ("Ejecutor: Municipalidad de Peñalolén", "Comuna: Peñalolén",
                 f"Facilitador/a: {FACILITATOR}",
                 "Asistencia: Personas invitadas: 5 · Confirmaron asistencia: 4 · Presentes: 4"):
        assert line in heading, line
    rows = sheet_rows(ws)
    assert rows[0][-1] == "Firma" and rows[0][2] == "RUT" and rows[0][4] == "Teléfono"
    araya = next(r for r in rows if r[1] == "María José Araya Muñoz")
    assert araya[2:5] == ["11.111.111-1", "Junta de Vecinos Población Ñuñoa Alto",
                          "+56 9 8765 4321"]
    assert araya[6] == "Presente" and araya[-1] is None  # an empty cell to sign
    top = header_row(ws)
    assert ws.row_dimensions[top + 1].height >= 25  # room for a handwritten signature
    assert any(r[0] == FACILITATOR for r in rows)  # the responsible's signature line


async def test_attendance_printed_before_the_session_marks_nobody(
        ready: Seed, catalogs: Catalogs, tmp_path: Path) -> None:
    async with ready.sessions() as s:
        pdf = await exports.attendance_list(s, ready.meetings["M6"], "pdf", now=BEFORE_M6,
                                            catalogs=catalogs)
        xlsx = await exports.attendance_list(s, ready.meetings["M6"], "xlsx", now=BEFORE_M6,
                                             catalogs=catalogs)
    text, _, _ = read_pdf(pdf, tmp_path)
    # Nobody is present or absent before the session: the signatures will say who came.
    assert "Presente" not in text and "Ausente" not in text
    assert "Personas invitadas: 1 · Confirmaron asistencia: 1" in text
    assert "Presentes:" not in text
    assert "María José Araya Muñoz 11.111.111-1" in text
    rows = sheet_rows(read_xlsx(xlsx).worksheets[0])
    araya = next(r for r in rows if r[1] == "María José Araya Muñoz")
    assert araya[6] is None and araya[-1] is None


async def test_without_a_creator_the_gestora_is_the_facilitator(
        ready: Seed, catalogs: Catalogs, tmp_path: Path) -> None:
    async with ready.sessions() as s:
        pdf = await exports.attendance_list(s, ready.meetings["M1"], "pdf", now=NOW,
                                            catalogs=catalogs)
    text, _, _ = read_pdf(pdf, tmp_path)
    assert "Facilitador/a Gabriela Lota Muñoz" in text
    assert "Etapa 1. Socialización" in text


# --------------------------------------------------------------------------- delivery


async def test_the_delivery_list_names_who_receives_and_keeps_reasons_off_paper(
        ready: Seed, catalogs: Catalogs, tmp_path: Path) -> None:
    during = utc(2026, 6, 16, 15)
    async with ready.sessions() as s:
        # The Peña Ñancupán family's basket is for Sofía, whose RUT the family gave.
        fam = await s.scalar(Family.__table__.select().where(
            Family.name == "Familia Peña Ñancupán").with_only_columns(Family.id))
        family = await s.get(Family, fam)
        family.person_id = ready.people["P3"]
        family.rut = "13.111.111-1"
        await s.commit()
        pdf = await exports.delivery_day_list(s, ready.days["D1"], "pdf", now=during,
                                              catalogs=catalogs)
        xlsx = await exports.delivery_day_list(s, ready.days["D1"], "xlsx", now=during,
                                               catalogs=catalogs)
        figures = await progress.progress_figures(s, ready.program_id, during)
    text, _, _ = read_pdf(pdf, tmp_path)
    assert "Sofía Núñez Castañeda 13.111.111-1 Familia Peña Ñancupán" in text
    assert "Ejecutor Municipalidad de Peñalolén" in text and "Comuna Peñalolén" in text
    # Two families are visited at home, the rest come: the heading says so, not "retiro".
    assert "Modalidad Mixta: ver cada fila" in text
    assert "Entrega a domicilio" in text and "Retiro en local" in text
    # Every family signs this sheet: nobody's reasons on it.
    assert "Estoy enferma" not in text and "licencia" not in text
    assert "Trabajo ese día" not in text
    # "Confirmaron" is the progress report's own figure for the day.
    [day] = [d for d in figures["delivery_days"] if d["delivery_day_id"] == ready.days["D1"]]
    confirmed = re.search(r"Confirmaron: (\d+)", str(text))
    assert confirmed and int(confirmed.group(1)) == day["confirmed"]
    # The team's sheet keeps the reasons, and prints landscape with a column to sign.
    ws = read_xlsx(xlsx).worksheets[0]
    assert_printable(ws, landscape=True)
    rows = sheet_rows(ws)
    assert rows[0][-1] == "Firma de recepción"
    sofia = next(r for r in rows if r[1] == "Sofía Núñez Castañeda")
    assert sofia[2] == "13.111.111-1" and sofia[7] == "Estoy enferma, con licencia"


# --------------------------------------------------------------------------- ficha


def long_ficha(answers: int, signatures: list[exports.FichaSignature]) -> exports.Ficha:
    return exports.Ficha(
        program="Ecomercado Solidario Peñalolén", tz="America/Santiago",
        organization=exports.FichaOrganization(
            name="Junta de Vecinos Población Ñuñoa Alto", kind="junta_de_vecinos",
            rut="65.123.456-7", sector="Población Ñuñoa Alto", members_count=48),
        answers=[(f"q{n}", f"Pregunta número {n} de la ficha", f"Respuesta {n} con ñandú")
                 for n in range(answers)],
        signatures=signatures, submitted_at=utc(2026, 3, 14, 16),
        declaration=("Yo, María José Araya Muñoz, Presidenta de Junta de Vecinos Población "
                     "Ñuñoa Alto, declaro que la organización tiene interés en participar."),
        registration_number="N.º 4521", settings=dict(SETTINGS))


SIGNED = [
    exports.FichaSignature(PEOPLE["P1"], utc(2026, 3, 14, 16, 5), "Presidenta", "11.111.111-1"),
    exports.FichaSignature(PEOPLE["P5"], utc(2026, 3, 14, 18, 30), "Secretaria",
                           "15.111.111-1"),
    exports.FichaSignature(PEOPLE["P2"], utc(2026, 3, 15, 12), "Tesorero", "12.111.111-1"),
]


@pytest.mark.parametrize("answers", [3, 12, 17, 22, 30])
def test_the_declaration_and_its_signatures_share_a_page(
        answers: int, catalogs: Catalogs, tmp_path: Path) -> None:
    pdf = exports.render_ficha_pdf(long_ficha(answers, SIGNED), now=NOW, catalogs=catalogs)
    text, pages, _ = read_pdf(pdf, tmp_path)
    pages_text = [subprocess.run(
        ["pdftotext", "-layout", "-f", str(n), "-l", str(n), str(tmp_path / pdf.filename), "-"],
        check=True, capture_output=True).stdout.decode() for n in range(1, len(pages) + 1)]
    [with_declaration] = [n for n, t in enumerate(pages_text) if "Declaración" in t]
    page = pages_text[with_declaration]
    for part in ("Firmas de puño y letra", "Timbre de la organización",
                 "N.º de registro / personalidad jurídica: N.º 4521", "Lugar y fecha"):
        assert part in page, (answers, part)
    # Every representative who signed, with their RUT, in both tables, and rows to spare.
    for signer in SIGNED:
        assert page.count(signer.rut) == 2, signer
    assert "Ejecutor" in text and "Municipalidad de Peñalolén" in text
    assert "Tipo Junta de vecinos" in text  # the kind in words, never its code


async def test_the_ficha_shows_each_signers_rut_as_signed(
        seeded: Seed, catalogs: Catalogs, tmp_path: Path,  # noqa: F811
        forms_engine: None) -> None:  # noqa: F811
    async with seeded.sessions() as s:
        sig = await s.scalar(FormSignature.__table__.select().where(
            FormSignature.person_id == seeded.people["P5"]).with_only_columns(FormSignature.id))
        (await s.get(FormSignature, sig)).signed_rut = "15.222.333-4"
        await s.commit()
        pdf = await exports.ficha_pdf(s, seeded.orgs["A"], now=NOW, catalogs=catalogs)
    assert pdf is not None
    text, _, _ = read_pdf(pdf, tmp_path)
    assert "Begoña Zúñiga Díaz 15.222.333-4 Secretaria" in text  # as typed at signing
    assert "María José Araya Muñoz 11.111.111-1 Presidenta" in text  # the person's own


def test_the_ficha_asks_the_representatives_rut_and_the_registration_number() -> None:
    form = load_form("ficha_interes")
    keys = [q.key for q in form.questions]
    assert keys[keys.index("representative_name") + 1] == "representative_rut"
    rut = next(q for q in form.questions if q.key == "representative_rut")
    # The programme's country's personal number (a RUT in Chile, a cédula in Uruguay).
    assert rut.type == "national_id" and rut.required
    registration = next(q for q in form.questions if q.key == "registration_number")
    assert not registration.required
    assert registration.when is not None and registration.when.question == "formalized"


@pytest.mark.parametrize(("text", "value"), [
    ("35", 35), ("unos 40", 40), ("40 personas", 40), ("más o menos 40", 40),
    ("Somos 35 socias", 35), ("aprox. 35", 35), ("1.200", 1200), ("40 adultos mayores", 40),
])
def test_a_count_with_words_around_it_is_a_number(text: str, value: int) -> None:
    members = next(q for q in load_form("ficha_interes").questions if q.key == "members_count")
    assert parse_answer(members, text, today=NOW.date()) == value


@pytest.mark.parametrize("text", [
    "Los Aromos 1456, Quilpué", "Pasaje 12", "Av. Grecia 8735", "1456 Los Aromos",
    "Calle Uno 123",
])
def test_an_address_is_not_a_number_of_members(text: str, catalogs: Catalogs) -> None:
    members = next(q for q in load_form("ficha_interes").questions if q.key == "members_count")
    with pytest.raises(AnswerError) as info:
        parse_answer(members, text, today=NOW.date())
    said = catalogs.render(info.value.message, "es")
    assert "no una cantidad" in said and "35" in said


# --------------------------------------------------------------------------- organisations


async def test_organisation_kinds_in_words_and_the_uninvited_apart(
        ready: Seed, catalogs: Catalogs, tmp_path: Path) -> None:
    async with ready.sessions() as s:
        (await s.get(Organization, ready.orgs["C"])).kind = "junta_de_vecinos"
        await s.commit()
        pdf = await exports.invited_organizations(s, ready.program_id, "pdf", now=NOW,
                                                  catalogs=catalogs)
        xlsx = await exports.invited_organizations(s, ready.program_id, "xlsx", now=NOW,
                                                   catalogs=catalogs)
    text, _, _ = read_pdf(pdf, tmp_path)
    assert "junta_de_vecinos" not in text and "Junta de vecinos" in text
    assert "Ejecutor Municipalidad de Peñalolén" in text
    listed, apart = str(text).split("En el catastro, sin invitar")
    assert "Agrupación Cultural Peñi Ñuke" not in listed and "Agrupación Cultural" in apart
    ws = read_xlsx(xlsx).worksheets[0]
    assert_printable(ws, landscape=True)
    rows = sheet_rows(ws)
    comite = next(r for r in rows if r[1] == "Comité de Allegados Los Añañucos")
    assert comite[2] == "Junta de vecinos"


async def test_the_fichas_workbook_prints_landscape_with_its_details(
        ready: Seed, catalogs: Catalogs, forms_engine: None) -> None:  # noqa: F811
    async with ready.sessions() as s:
        export = await exports.fichas_xlsx(s, ready.program_id, now=NOW, catalogs=catalogs)
    ws = read_xlsx(export).worksheets[0]
    assert_printable(ws, landscape=True)
    assert "Ejecutor: Municipalidad de Peñalolén" in heading_rows(ws)


# --------------------------------------------------------------------------- noise


async def test_making_a_pdf_tells_nothing_of_fonttools(
        ready: Seed, catalogs: Catalogs, capfd: pytest.CaptureFixture[str]) -> None:
    """Even where the root logger says everything (a script, a debugging session),
    fontTools' subsetting is not heard."""
    root = logging.getLogger()
    handler = logging.StreamHandler(sys.stderr)
    before = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    # As in a fresh process, whatever an earlier test set.
    library = {name: logging.getLogger(name).level for name in ("fontTools", "fpdf")}
    for name in library:
        logging.getLogger(name).setLevel(logging.NOTSET)
    try:
        async with ready.sessions() as s:
            await exports.attendance_list(s, ready.meetings["M3"], "pdf", now=NOW,
                                          catalogs=catalogs)
    finally:
        root.removeHandler(handler)
        root.setLevel(before)
        for name, level in library.items():
            logging.getLogger(name).setLevel(level)
    err = capfd.readouterr().err
    assert "fontTools" not in err and "subset" not in err


def test_cli_exports_write_no_library_lines(cli_env: str) -> None:
    from test_cli_in_use import convoca_process, create_programme

    create_programme()
    for argv in (("export", "organizations", "--format", "pdf", "--out", "orgs.pdf"),
                 ("-v", "export", "organizations", "--format", "pdf", "--out", "o.pdf"),
                 ("export", "fichas", "--out", "fichas")):
        proc = convoca_process(*argv, capture_output=True)
        assert proc.returncode == 0, proc.stderr
        assert "fontTools" not in proc.stderr and "subset" not in proc.stderr, argv
        assert len(proc.stderr.splitlines()) == 0, proc.stderr


def test_program_set_names_the_executor_comuna_and_region(cli_env: str, capsys) -> None:
    from test_cli_in_use import create_programme

    from bot.cli import main

    create_programme()
    capsys.readouterr()
    assert main(["program", "set", "--executor", "Municipalidad de Quilpué", "--comuna",
                 "Quilpué", "--region", "Valparaíso"]) == 0
    out = capsys.readouterr().out
    assert "Municipalidad de Quilpué, Quilpué, Valparaíso" in out
    assert main(["program", "set"]) == 1
    assert "--executor" in capsys.readouterr().err
