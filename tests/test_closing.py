"""Agreed texts, the hand-over of goods and the evaluation of the process: the goods as the
gestora types them, the storage that keeps them, the four documents they make (rendered
and read back: A4, accents and ñ, totals in pesos), and the chat flows end to end."""

from __future__ import annotations

import io
import os
import subprocess
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from core_harness import CoreHarness
from leaks import assert_no_raw_keys_in_document
from openpyxl import load_workbook
from PIL import Image
from test_exports import needs_poppler, page_text

from bot.app import build_app
from documents import verificadores
from documents.base import Ctx, ExportFile
from documents.registry import Request
from domain import goods
from domain.goods import GoodProblem
from locales import Catalogs
from storage import agreed, handover, minutes, people, programs
from storage.models import (
    Attendance,
    Meeting,
    Membership,
    Organization,
    Person,
    Representative,
    Role,
)

PROGRAM = "Ecomercado Solidario Peñalolén"
SETTINGS = {"executor": "Fundación Añañuca", "comuna": "Peñalolén",
            "region": "Región Metropolitana"}
CREATED = datetime(2026, 3, 1, 12, tzinfo=UTC)
NOW = datetime(2027, 3, 30, 15, tzinfo=UTC)  # month 13 of a programme begun on 2 March 2026
# Where to leave the rendered pages for a person to look at (CLOSING_PAGES=/some/dir).
PAGES = os.environ.get("CLOSING_PAGES")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# --- the goods as typed -------------------------------------------------------------------


@pytest.mark.parametrize(("line", "expected"), [
    ("Refrigerador vertical; 1; 459.990", ("Refrigerador vertical", 1, 459990, None)),
    ("  Balanza   digital ;2;$ 39.990 ; nuevo", ("Balanza digital", 2, 39990, "nuevo")),
    ("Mesa de acero; 3; $45990", ("Mesa de acero", 3, 45990, None)),
    ("Carro de carga; 1.000; 1.234.567", ("Carro de carga", 1000, 1234567, None)),
    ("Estante; 4; 12.990,00", ("Estante", 4, 12990, None)),
    ("Caja; 1; CLP 5.000", ("Caja", 1, 5000, None)),
])
def test_a_good_typed_whole(line: str, expected: tuple[Any, ...]) -> None:
    good = goods.parse_line(line)
    assert (good.description, good.quantity, good.unit_value, good.condition) == expected
    assert good.total == expected[1] * expected[2]


@pytest.mark.parametrize(("line", "why"), [
    ("Refrigerador vertical 459.990", "fields_few"),
    ("Refrigerador; 1", "fields_few"),
    ("a; 1; 2; 3; 4", "fields_many"),
    ("; 1; 459.990", "description"),
    ("Refrigerador; uno; 459.990", "quantity"),
    ("Refrigerador; 1,5; 459.990", "quantity"),
    ("Refrigerador; 0; 459.990", "quantity_zero"),
    ("Refrigerador; 1; 459,990", "value"),  # a comma is the decimal mark in Chile
    ("Refrigerador; 1; 45.99", "value"),
    ("Refrigerador; 1; mucho", "value"),
    ("Refrigerador; 1; 99.999.999.999", "value_large"),
    # Past what the record holds (a 32-bit integer): refused, not lost with the message.
    ("Refrigerador; 1; 3.000.000.000", "value_large"),
    # Decimals other than ",00" are not guessed at: "459,99" is not 460.
    ("Refrigerador; 1; 459,99", "value"),
    ("Refrigerador; 1; 1,5", "value"),
    ("x" * 301 + "; 1; 1", "description_long"),
])
def test_a_bad_good_says_why(line: str, why: str) -> None:
    with pytest.raises(GoodProblem) as problem:
        goods.parse_line(line)
    assert problem.value.why == why


def test_grand_total_counts_quantities() -> None:
    assert goods.grand_total([(1, 459990), (2, 39990), (3, None)]) == 539970


# --- a programme at its close ----------------------------------------------------------------


@dataclass
class Seed:
    program_id: int
    gestora: int
    bodies: dict[str, int]
    orgs: dict[str, int]
    meetings: dict[str, int]
    handover_id: int


GOODS = [
    ("Refrigerador vertical", 1, 459990, "Nuevo"),
    ("Balanza digital de plataforma", 2, 39990, "Nuevo"),
    ("Estantería metálica de cinco niveles, galvanizada", 6, 54990, "Bueno"),
    ("Mesón de acero inoxidable", 1, 189990, None),
    ("Caja plástica apilable", 40, 3490, "Bueno"),
]
GOODS_TOTAL = 459990 + 2 * 39990 + 6 * 54990 + 189990 + 40 * 3490  # 1.199.500


async def seed_close(sessions: Any, *, records: bool = True) -> Seed:
    async with sessions() as s:
        program = await programs.create(s, template="ecomercado-15m", start=date(2026, 3, 2),
                                        name=PROGRAM, now=CREATED)
        program.settings = dict(SETTINGS)
        pid = program.id
        bodies = {b.kind: b.id for b in await programs.bodies(s, pid)}
        gestora = Person(program_id=pid, name="Daniela Muñoz Peña", rut="12.345.678-5",
                         created_at=CREATED)
        s.add(gestora)
        orgs = {}
        for key, name, rut in (("formal", "Junta de Vecinos Villa Ñuñoa", "65.123.456-7"),
                               ("informal", "Comité de Allegados Los Añañucos", None)):
            o = Organization(program_id=pid, name=name, rut=rut, created_at=CREATED)
            s.add(o)
            await s.flush()
            orgs[key] = o.id
        members = []
        for i, name in enumerate(("Rosa Elena Pizarro", "Juan Ñanco Huenchul", "María José Avendaño",
                                  "Pedro Saavedra", "Inés Cáceres")):
            p = Person(program_id=pid, name=name, rut=f"1{i}.111.111-1", created_at=CREATED)
            s.add(p)
            await s.flush()
            members.append(p.id)
            s.add(Membership(body_id=bodies["grupo_motor"], person_id=p.id, joined_at=CREATED))
        s.add(Representative(organization_id=orgs["formal"], person_id=members[0],
                             position="Presidenta", is_primary=True))
        meetings = {}
        for key, kind, when in (("gm", "grupo_motor", utc(2026, 4, 7, 22)),
                                ("traspaso", "traspaso", utc(2027, 3, 10, 14)),
                                ("evaluacion", "evaluacion", utc(2027, 3, 24, 14))):
            m = Meeting(program_id=pid, kind=kind, starts_at=when, ends_at=None,
                        place="Sede Junta de Vecinos Villa Ñuñoa", address="Pasaje Los Copihues 1234",
                        status="held", created_at=CREATED,
                        body_id=bodies["grupo_motor"] if kind == "grupo_motor" else None)
            s.add(m)
            await s.flush()
            meetings[key] = m.id
        for p in members[:4]:
            s.add(Attendance(meeting_id=meetings["evaluacion"], person_id=p, present=True,
                             method="marked", marked_at=utc(2027, 3, 24, 15)))
        await agreed.record(s, pid, "protocolo_funcionamiento",
                            "Artículo 1. El Grupo Motor se reúne el primer martes de cada mes.\n"
                            "Artículo 2. Los acuerdos se toman por mayoría; la señora Ñanco "
                            "lleva el acta.", now=utc(2026, 4, 8, 12), by_person_id=gestora.id,
                            body_id=bodies["grupo_motor"], meeting_id=meetings["gm"])
        await agreed.record(s, pid, "reglamento_uso", "Borrador", now=utc(2027, 3, 1, 12),
                            by_person_id=gestora.id)
        await agreed.record(s, pid, "reglamento_uso",
                            "1. Los bienes se usan solo para el funcionamiento del Ecomercado.\n"
                            "2. La organización lleva un registro de préstamos y reparaciones.\n"
                            "3. Ningún bien puede venderse, arrendarse ni prestarse a terceros "
                            "sin acuerdo del Grupo Motor y del Consejo Local.",
                            now=utc(2027, 3, 9, 12), by_person_id=gestora.id,
                            meeting_id=meetings["traspaso"])
        await agreed.record(s, pid, "procedimiento_interno",
                            "El Ecomercado atiende los martes y jueves de 10:00 a 13:00. " * 12,
                            now=utc(2026, 3, 5, 12), by_person_id=gestora.id)
        if not records:
            await s.commit()
            return Seed(pid, gestora.id, bodies, orgs, meetings, 0)
        h = await handover.create(s, pid, now=utc(2027, 3, 10, 16), by_person_id=gestora.id,
                                  organization_id=orgs["formal"], meeting_id=meetings["traspaso"],
                                  handed_on=date(2027, 3, 10))
        for description, quantity, value, condition in GOODS:
            await handover.add_good(s, h, description, quantity, value, condition)
        acta = await minutes.for_meeting(s, pid, meetings["evaluacion"], now=utc(2027, 3, 24, 18),
                                         by_person_id=gestora.id)
        for section, text in (
                ("achievement", "Se constituyó el Grupo Motor con cinco dirigentas y dirigentes."),
                ("achievement", "Se entregaron 1.240 canastas a 96 familias."),
                ("difficulty", "Poca participación de las ferias libres en el Consejo Local."),
                ("lesson", "Las reuniones en la sede del barrio reúnen a más vecinas."),
                ("recommendation", "Mantener la sesión mensual y sumar a la municipalidad.")):
            await minutes.add_item(s, acta, section, text, now=utc(2027, 3, 24, 18))
        await s.commit()
        return Seed(pid, gestora.id, bodies, orgs, meetings, h.id)


@pytest.fixture
async def closed(sessions: Any) -> Seed:
    return await seed_close(sessions)


async def make(sessions: Any, seed: Seed, verifier: str, fmt: str = "pdf",
               subject_id: int | None = None, locale: str = "es") -> ExportFile:
    async with sessions() as s:
        program = await programs.existing(s, seed.program_id)
        ctx = Ctx(Catalogs(), locale, program.timezone, NOW)
        files = await verificadores.make(Request(s, program, verifier, ctx, fmt,
                                                 subject_id=subject_id))
    assert len(files) == 1
    return files[0]


def read(file: ExportFile, tmp_path: Path) -> tuple[str, list[Path]]:
    """Every page rendered (A4 at 60 dpi: 496 x 702) and the text as a reader gets it."""
    needs_poppler()
    assert file.content.startswith(b"%PDF-")
    assert_no_raw_keys_in_document(file.filename, file.content)
    out = Path(PAGES) if PAGES else tmp_path
    out.mkdir(parents=True, exist_ok=True)
    path = out / file.filename
    path.write_bytes(file.content)
    stem = out / path.stem
    subprocess.run(["pdftoppm", "-png", "-r", "60", str(path), str(stem)], check=True,
                   capture_output=True)
    pages = sorted(out.glob(f"{path.stem}-*.png"))
    for page in pages:
        with Image.open(page) as img:
            assert sorted(img.size) in ([496, 702], [497, 702])  # A4 at 60 dpi
            assert img.convert("L").getextrema()[0] < 100
    text = subprocess.run(["pdftotext", "-enc", "UTF-8", "-layout", str(path), "-"],
                          check=True, capture_output=True).stdout.decode()
    return text, pages


def flat(text: str) -> str:
    return " ".join(text.split())


async def test_storage_keeps_versions_and_goods(closed: Seed, sessions: Any) -> None:
    async with sessions() as s:
        rows = await agreed.versions(s, closed.program_id, "reglamento_uso")
        assert [r.version for r in rows] == [1, 2]
        assert rows[0].superseded_at == utc(2027, 3, 9, 12) and rows[1].superseded_at is None
        assert (await agreed.current(s, closed.program_id, "reglamento_uso")).text.startswith(
            "1. Los bienes")
        h = await handover.get(s, closed.program_id, closed.handover_id)
        assert await handover.get(s, closed.program_id + 1, closed.handover_id) is None
        got = await handover.goods(s, h.id)
        assert [g.description for g in got] == [g[0] for g in GOODS]
        assert handover.total(got) == GOODS_TOTAL == 1199500
        assert await handover.remove_good(s, h, got[-1].id)
        assert not await handover.remove_good(s, h, got[-1].id)
        assert handover.total(await handover.goods(s, h.id)) == GOODS_TOTAL - 40 * 3490
        added = await handover.add_good(s, h, "Carro", 1, None)
        assert added.position == 5
        receivers = await handover.receivers(s, closed.program_id)
        assert [o.rut is not None for o in receivers] == [True, False]
        rep = await handover.representative(s, closed.orgs["formal"])
        assert rep is not None and rep.position == "Presidenta"
        await handover.remove(s, h)
        assert await handover.of_program(s, closed.program_id) == []


async def test_evidence_of_every_closing_verifier(closed: Seed, sessions: Any) -> None:
    async with sessions() as s:
        program = await programs.existing(s, closed.program_id)
        ctx = Ctx(Catalogs(), "es", program.timezone, NOW)

        async def found(key: str) -> list[Any]:
            return await verificadores.evidence(Request(s, program, key, ctx))

        protocol = await found("protocolo_funcionamiento")
        assert [(e.subject_id, e.on) for e in protocol] == [
            (closed.bodies["grupo_motor"], date(2026, 4, 8))]
        assert protocol[0].label.startswith("Grupo Motor · v1")
        rules = await found("reglamento_uso")
        assert [(e.subject_id, e.on) for e in rules] == [(None, date(2027, 3, 9))]
        assert "v2" in rules[0].label
        assert await found("acta_estructura_municipal") == []
        for key in ("acta_traspaso_bienes", "inventario"):
            [e] = await found(key)
            assert (e.subject_id, e.on) == (closed.handover_id, date(2027, 3, 10))
        [e] = await found("documento_evaluacion")
        assert (e.subject_id, e.on) == (closed.meetings["evaluacion"], date(2027, 3, 24))


async def test_the_handover_acta(closed: Seed, sessions: Any, tmp_path: Path) -> None:
    file = await make(sessions, closed, "acta_traspaso_bienes", subject_id=closed.handover_id)
    assert file.filename == ("acta-de-traspaso-del-dominio-de-bienes-junta-de-vecinos-villa-"
                             "nunoa-2027-03-10.pdf")
    text, pages = read(file, tmp_path)
    words = flat(text)
    for part in ("Acta de traspaso del dominio de bienes", PROGRAM, "Fundación Añañuca",
                 "Peñalolén", "Región Metropolitana", "Etapa 4", "Junta de Vecinos Villa Ñuñoa, RUT "
                 "65.123.456-7", "representada por Rosa Elena Pizarro, RUT 10.111.111-1",
                 "miércoles 10 de marzo de 2027", "Sesión de traspaso de bienes",
                 "Refrigerador vertical", "$ 459.990", "$ 79.980", "$ 329.940", "$ 139.600",
                 "$ 1.199.500", "5 bienes, por un valor total de $ 1.199.500",
                 "no son de libre uso ni disposición",
                 "Reglamento de uso de los bienes, versión 2", "Por Fundación Añañuca",
                 "Por Junta de Vecinos", "(Presidenta)", "testigo",
                 "Anexo: Reglamento de uso de los bienes (versión 2",
                 "Ningún bien puede venderse"):
        assert part in words, part
    assert "Borrador" not in words  # the superseded version is not the one annexed
    # The acta itself on one page, the rules of use annexed on the next.
    assert len(pages) == 2
    first = page_text(pages[0].parent / file.filename, 1)
    assert "Ministro/a de fe o testigo" in first and "Anexo" not in first

    # A version recorded after the hand-over does not change what the signed acta annexes.
    async with sessions() as s:
        await agreed.record(s, closed.program_id, "reglamento_uso", "Reglamento posterior.",
                            now=utc(2027, 3, 20, 12), by_person_id=closed.gestora)
        await s.commit()
    later = flat(read(await make(sessions, closed, "acta_traspaso_bienes"), tmp_path)[0])
    assert "versión 2" in later and "Reglamento posterior" not in later

    english = await make(sessions, closed, "acta_traspaso_bienes", locale="en")
    words = flat(read(english, tmp_path)[0])
    for part in ("Deed of transfer of the goods", "CLP 459,990", "CLP 1,199,500",
                 "5 goods, for a total value of CLP 1,199,500", "Wednesday 10 March 2027",
                 "Annex: Rules for using the goods (version 2"):
        assert part in words, part


async def test_the_inventory_as_a_workbook_and_a_pdf(closed: Seed, sessions: Any,
                                                     tmp_path: Path) -> None:
    xlsx = await make(sessions, closed, "inventario", "xlsx", closed.handover_id)
    assert xlsx.filename.endswith(".xlsx")
    assert_no_raw_keys_in_document(xlsx.filename, xlsx.content)
    wb = load_workbook(io.BytesIO(xlsx.content))
    ws = wb.active
    assert ws["A1"].value == "Inventario de bienes"
    rows = [list(r) for r in ws.iter_rows(values_only=True)]
    cells = [c for r in rows for c in r if c is not None]
    assert PROGRAM in cells and "Junta de Vecinos Villa Ñuñoa, RUT 65.123.456-7" in cells
    head = next(i for i, r in enumerate(rows) if r[1] == "Descripción del bien")
    body = rows[head + 1:]
    assert body[0][:6] == [1, "Refrigerador vertical", 1, 459990, 459990, "Nuevo"]
    assert body[-1][1] == "Total" and body[-1][4] == GOODS_TOTAL and body[-1][2] == 50
    assert ws.page_setup.orientation == "landscape"
    assert ws.page_setup.fitToWidth == 1 and ws.sheet_properties.pageSetUpPr.fitToPage
    assert ws.cell(row=head + 2, column=4).number_format == '"$" #,##0'

    pdf = await make(sessions, closed, "inventario", "pdf", closed.handover_id)
    text, pages = read(pdf, tmp_path)
    assert len(pages) == 1
    words = flat(text)
    for part in ("Inventario de bienes", "Caja plástica apilable", "$ 3.490", "$ 1.199.500",
                 "Valor total $ 1.199.500"):
        assert part in words, part


async def test_an_agreed_text_of_a_body_and_of_the_programme(closed: Seed, sessions: Any,
                                                             tmp_path: Path) -> None:
    body = await make(sessions, closed, "protocolo_funcionamiento",
                      subject_id=closed.bodies["grupo_motor"])
    assert body.filename == "protocolo-de-funcionamiento-grupo-motor-v1.pdf"
    text, pages = read(body, tmp_path)
    words = flat(text)
    for part in ("Protocolo de funcionamiento · Grupo Motor", "Fundación Añañuca",
                 "Etapa 2", "Sesión del Grupo Motor, martes 7 de abril de 2026",
                 "1, registrada el miércoles 8 de abril de 2026", "la señora Ñanco",
                 "Rosa Elena Pizarro", "Juan Ñanco Huenchul", "Inés Cáceres",
                 "Integrante, Grupo Motor"):
        assert part in words, part
    assert len(pages) == 1
    with pytest.raises(ValueError):
        await make(sessions, closed, "protocolo_funcionamiento")

    programme = await make(sessions, closed, "procedimiento_interno")
    text, _ = read(programme, tmp_path)
    words = flat(text)
    for part in ("Procedimiento interno del Ecomercado", "Sin sesión indicada",
                 "Daniela Muñoz Peña", "Gestora comunitaria", "Representante de la comunidad"):
        assert part in words, part
    with pytest.raises(LookupError):
        await make(sessions, closed, "reglamento_interno_municipal")

    english = await make(sessions, closed, "reglamento_uso", locale="en")
    text, _ = read(english, tmp_path)
    assert "Rules for using the goods" in flat(text) and "version 2" not in flat(text)
    assert "2, recorded on" in flat(text)


async def test_the_evaluation_document(closed: Seed, sessions: Any, tmp_path: Path) -> None:
    file = await make(sessions, closed, "documento_evaluacion",
                      subject_id=closed.meetings["evaluacion"])
    text, pages = read(file, tmp_path)
    words = flat(text)
    for part in ("Documento de evaluación del proceso", "Fundación Añañuca",
                 "Sesión de evaluación del proceso, miércoles 24 de marzo de 2027",
                 "4 personas presentes", "Logros", "1. Se constituyó el Grupo Motor",
                 "2. Se entregaron 1.240 canastas", "Dificultades", "Aprendizajes",
                 "Recomendaciones", "sumar a la municipalidad", "ADL FOSIS",
                 "Daniela Muñoz Peña"):
        assert part in words, part
    assert len(pages) == 1


# --- the chat flows ------------------------------------------------------------------------

GESTORA = "100"


@pytest.fixture
async def core(settings_for, sqlite_url: str, clock) -> Any:
    app = await build_app(settings_for(sqlite_url), clock=clock)
    clock.set(NOW)
    async with app.sessions() as s:
        p = await people.create_with_address(s, "telegram", GESTORA, NOW, name="Daniela",
                                             consent_at=NOW, locale="es")
        await people.grant(s, p, Role.GESTORA, None, NOW)
        await s.commit()
    yield CoreHarness(app)
    await app.close()


async def tap(core: CoreHarness, part: str) -> list[Any]:
    """Press the last offered button whose label holds ``part``."""
    for label, _ in reversed(core.buttons(GESTORA)):
        if part in label:
            return await core.press(GESTORA, label)
    raise AssertionError(f"no button with {part!r} in {core.buttons(GESTORA)}")


def said(replies: list[Any]) -> str:
    return "\n".join(r.text for r in replies)


async def test_agreed_texts_listed_recorded_and_versioned(core: CoreHarness) -> None:
    seed = await seed_close(core.app.sessions)
    await core.text(GESTORA, "/panel")
    await core.press(GESTORA, "📚 Actas, planes y cierre")
    text = said(await tap(core, "Documentos acordados"))
    for line in ("✅ Procedimiento interno del Ecomercado: versión 1, jueves 5 de marzo de 2026",
                 "✅ Protocolo de funcionamiento (Grupo Motor): versión 1",
                 "❌ Protocolo de funcionamiento (Consejo Local): falta",
                 "❌ Acta de definición de la estructura municipal: falta",
                 "✅ Reglamento de uso de los bienes: versión 2, martes 9 de marzo de 2027"):
        assert line in text, text
    text = said(await tap(core, "Reglamento de uso"))
    assert "Versión 2, del martes 9 de marzo de 2027" in text
    assert "Acordado en: mié 10 mar 2027 · Sesión de traspaso de bienes" in text
    assert "Versiones anteriores: 1" in text and "«1. Los bienes se usan solo" in text
    text = said(await tap(core, "versión nueva"))
    assert "¿En qué sesión se acordó Reglamento de uso de los bienes?" in text
    await tap(core, "Sin sesión")
    assert "Anotado (1 mensaje)" in said(await core.text(GESTORA, "1. Solo para el Ecomercado."))
    assert "Anotado (2 mensajes)" in said(await core.text(
        GESTORA, "2. La organización lleva el registro de préstamos."))
    text = said(await core.text(GESTORA, "Listo"))
    assert "✅ Guardé Reglamento de uso de los bienes, versión 3." in text
    assert "Versión 3, del martes 30 de marzo de 2027" in text and "Sin sesión indicada" in text
    replies = await tap(core, "Documento PDF")
    assert replies[0].attachment == "reglamento-de-uso-de-los-bienes-v3.pdf"
    async with core.app.sessions() as s:
        rows = await agreed.versions(s, seed.program_id, "reglamento_uso")
        assert [(r.version, r.superseded_at is None) for r in rows] == [
            (1, False), (2, False), (3, True)]
        assert rows[-1].text == ("1. Solo para el Ecomercado.\n"
                                 "2. La organización lleva el registro de préstamos.")
        assert rows[-1].meeting_id is None

    # A body's protocol, agreed at one of its sessions; "Listo" before any text is answered.
    await core.text(GESTORA, "/panel")
    await core.press(GESTORA, "📚 Actas, planes y cierre")
    await tap(core, "Documentos acordados")
    await tap(core, "(Grupo Motor)")
    text = said(await tap(core, "versión nueva"))
    assert "Sesión del Grupo Motor" in " ".join(label for label, _ in core.buttons(GESTORA))
    await tap(core, "Sesión del Grupo Motor")
    assert "Todavía no escribiste nada" in said(await core.text(GESTORA, "listo"))
    await core.text(GESTORA, "Artículo único. Nos reunimos cada mes.")
    assert "versión 2" in said(await core.text(GESTORA, "Listo"))
    async with core.app.sessions() as s:
        row = await agreed.current(s, seed.program_id, "protocolo_funcionamiento",
                                   seed.bodies["grupo_motor"])
        assert (row.version, row.meeting_id) == (2, seed.meetings["gm"])
        assert await agreed.current(s, seed.program_id, "protocolo_funcionamiento") is None


async def test_the_handover_flow_with_bad_lines_answered_kindly(core: CoreHarness) -> None:
    seed = await seed_close(core.app.sessions, records=False)
    await core.text(GESTORA, "/panel")
    await core.press(GESTORA, "📚 Actas, planes y cierre")
    await tap(core, "Cierre")
    text = said(await tap(core, "Traspaso de bienes"))
    assert "acta de traspaso" in text
    text = said(await tap(core, "Empezar"))
    labels = [label for label, _ in core.buttons(GESTORA)]
    assert labels[:2] == ["✅ Junta de Vecinos Villa Ñuñoa", "Comité de Allegados Los Añañucos"]
    text = said(await tap(core, "Comité de Allegados"))
    assert "no tiene RUT en el catastro" in text and "formal" in text
    await tap(core, "Elegir otra")
    text = said(await tap(core, "Junta de Vecinos"))
    assert "¿En qué sesión de traspaso" in text
    # A forged or stale button naming a session that is not a traspaso is stale.
    offered = core.last[GESTORA]  # still in the chat, above the forged one
    from sqlalchemy import select

    from handlers.admin.handover import act as handover_act
    from handlers.events import EventKind
    async with core.app.sessions() as s:
        gestora = await s.scalar(select(Person.id).where(Person.name == "Daniela")
                                 .order_by(Person.id).limit(1))
    forged = await core.event(GESTORA, EventKind.BUTTON, button=core.app.services.buttons.pack(
        gestora, handover_act("hm", seed.meetings["gm"])))
    assert said(forged).startswith("Ese botón ya no sirve")
    core.last[GESTORA] = offered
    text = said(await tap(core, "Sesión de traspaso"))
    assert "descripción; cantidad; valor unitario" in text

    replies = await core.text(GESTORA, "Refrigerador vertical; 1; 459.990\n"
                                       "Balanza; dos; 39.990\n"
                                       "Mesón de acero; 1; $ 189.990; bueno\n"
                                       "Estante 4 54.990")
    text = said(replies)
    assert "✅ Anoté 2 bienes. Llevas 2 en total, por $ 649.980." in text
    assert "No pude leer 2 líneas" in text
    assert ("Línea 2 («Balanza; dos; 39.990»): la cantidad debe ser un número entero, por "
            "ejemplo: 2.") in text
    assert "Línea 4 («Estante 4 54.990»): faltan datos." in text

    text = said(await core.text(GESTORA, "Caja plástica apilable"))
    assert "¿Cuántos Caja plástica apilable?" in text
    assert "número entero" in said(await core.text(GESTORA, "cuarenta"))
    assert "valor unitario de Caja plástica apilable" in said(await core.text(GESTORA, "40"))
    assert "459.990 o $ 459.990" in said(await core.text(GESTORA, "3,490"))
    text = said(await core.text(GESTORA, "$3.490"))
    assert "✅ Anoté Caja plástica apilable (40). Total hasta ahora: $ 789.580." in text

    text = said(await core.text(GESTORA, "Listo"))
    for part in ("Recibe: Junta de Vecinos Villa Ñuñoa (RUT 65.123.456-7)",
                 "Sesión: mié 10 mar 2027 · Sesión de traspaso de bienes",
                 "Fecha del traspaso: miércoles 10 de marzo de 2027",
                 "Reglamento de uso: versión 2, martes 9 de marzo de 2027", "3 bienes:",
                 "1. Refrigerador vertical · 1 × $ 459.990 = $ 459.990",
                 "3. Caja plástica apilable · 40 × $ 3.490 = $ 139.600",
                 "Total: $ 789.580"):
        assert part in text, text
    await tap(core, "Quitar un bien")
    text = said(await tap(core, "2. Mesón de acero"))
    assert "Total: $ 599.590" in text and "2 bienes:" in text
    [acta] = await tap(core, "Acta (PDF)")
    assert acta.attachment.endswith(".pdf") and acta.attachment.startswith("acta-de-traspaso")
    await core.text(GESTORA, "/panel")
    await core.press(GESTORA, "📚 Actas, planes y cierre")
    await tap(core, "Cierre")
    await tap(core, "Traspaso de bienes")
    [inventory] = await tap(core, "Inventario (Excel)")
    assert inventory.attachment.endswith(".xlsx")
    async with core.app.sessions() as s:
        [h] = await handover.of_program(s, seed.program_id)
        assert (h.organization_id, h.meeting_id, h.handed_on) == (
            seed.orgs["formal"], seed.meetings["traspaso"], date(2027, 3, 10))
        assert [(g.description, g.quantity, g.unit_value) for g in
                await handover.goods(s, h.id)] == [("Refrigerador vertical", 1, 459990),
                                                   ("Caja plástica apilable", 40, 3490)]


async def test_the_evaluation_session_recorded_part_by_part(core: CoreHarness,
                                                           tmp_path: Path) -> None:
    seed = await seed_close(core.app.sessions, records=False)
    await core.text(GESTORA, "/panel")
    await core.press(GESTORA, "📚 Actas, planes y cierre")
    await tap(core, "Cierre")
    await tap(core, "Sesión de evaluación")
    text = said(await tap(core, "Sesión de evaluación del proceso"))
    assert "1 de 4 · 🌱 Logros" in text
    assert "(1 en esta parte)" in said(await core.text(GESTORA, "Se formó el Grupo Motor."))
    assert "(3 en esta parte)" in said(await core.text(
        GESTORA, "- Se abrió el local los martes\n- Llegaron 96 familias"))
    assert "2 de 4 · 🧱 Dificultades" in said(await core.text(GESTORA, "Listo"))
    await core.text(GESTORA, "Poca gente en invierno.")
    assert "3 de 4 · 💡 Aprendizajes" in said(await tap(core, "Listo, siguiente"))
    assert "4 de 4 · 🧭 Recomendaciones" in said(await core.text(GESTORA, "listo"))
    await core.text(GESTORA, "Seguir con la sesión mensual.")
    text = said(await core.text(GESTORA, "Listo"))
    for part in ("Logros: 3", "Dificultades: 1", "Aprendizajes: 0", "Recomendaciones: 1",
                 "Personas presentes: 4"):
        assert part in text, text
    [doc] = await tap(core, "Documento de evaluación (PDF)")
    assert doc.attachment == "documento-de-evaluacion-del-proceso-2027-03-24.pdf"
    file = ExportFile(doc.attachment, doc.raw.attachment.content, "application/pdf")
    words = flat(read(file, tmp_path)[0])
    assert "3. Llegaron 96 familias" in words and "4 personas presentes" in words

    # Going through it again shows what is there, and a part can be cleared and rewritten.
    await core.text(GESTORA, "/panel")
    await core.press(GESTORA, "📚 Actas, planes y cierre")
    await tap(core, "Cierre")
    await tap(core, "Sesión de evaluación")
    text = said(await tap(core, "Sesión de evaluación del proceso"))
    assert "Ya hay 3 anotados" in text and "• Se abrió el local los martes" in text
    await tap(core, "Borrar y escribir de nuevo")
    await core.text(GESTORA, "Un Grupo Motor activo.")
    async with core.app.sessions() as s:
        acta = await minutes.of_meeting(s, seed.meetings["evaluacion"])
        by_section = {sec: [i.text for i in await minutes.items(s, acta.id, sec)]
                      for sec in ("achievement", "difficulty", "lesson", "recommendation")}
    assert by_section == {"achievement": ["Un Grupo Motor activo."],
                          "difficulty": ["Poca gente en invierno."], "lesson": [],
                          "recommendation": ["Seguir con la sesión mensual."]}


@pytest.mark.parametrize("template", ["ecomercado-10m", "ecomercado-15m"])
def test_every_closing_verifier_of_the_templates_has_its_producer(template: str) -> None:
    from domain.program_templates import load_template

    tpl = load_template(template)
    mine = {"agreed_text", "handover_acta", "inventory", "evaluation"}
    keys = [v.key for v in tpl.verifiers if v.document in mine]
    assert {"reglamento_uso", "protocolo_funcionamiento", "acta_traspaso_bienes", "inventario",
            "documento_evaluacion"} <= set(keys)
    for key in keys:
        found = verificadores.for_verifier(tpl, key)
        assert found is not None and found.key in mine, key


async def test_the_simulated_programme_yields_every_closing_document(sessions: Any,
                                                                    tmp_path: Path) -> None:
    """From a 15-month programme written by programme_records (not by these flows), every
    agreed text, the acta, the inventory and the evaluation are made and open."""
    from programme_records import simulate

    now = utc(2027, 3, 31, 15)
    async with sessions() as s:
        rec = await simulate(s, now)
        await s.commit()
    async with sessions() as s:
        program = await programs.existing(s, rec.program_id)
        ctx = Ctx(Catalogs(), "es", program.timezone, now)
        made = await verificadores.make_every(s, program, ctx, stages=[1, 2, 4])
    mine = {"agreed_text", "handover_acta", "inventory", "evaluation"}
    by_verifier: dict[str, list[ExportFile]] = {}
    for required, _evidence, files in made:
        if required.producer is not None and required.producer.key in mine:
            by_verifier.setdefault(required.verifier, []).extend(files)
    assert {"procedimiento_interno", "protocolo_funcionamiento", "acta_traspaso_bienes",
            "inventario", "documento_evaluacion"} <= set(by_verifier), sorted(by_verifier)
    # One protocol per body, each signed by its members.
    assert len({f.filename for f in by_verifier["protocolo_funcionamiento"]}) == 2
    acta = by_verifier["acta_traspaso_bienes"][0]
    words = flat(read(acta, tmp_path)[0])
    total = 459_990 + 2 * 39_990 + 4 * 54_990 + 89_990
    assert "Fundación Trabajo Ñuble" in words
    assert f"$ {total:,}".replace(",", ".") in words
    for f in (f for files in by_verifier.values() for f in files if f.filename.endswith(".pdf")):
        read(f, tmp_path)
