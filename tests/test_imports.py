"""Importing the catastro and the families: what the gestora's spreadsheets really look like
(Excel in Chile writes ';' and Windows-1252), every problem found on the right row, and an
all-or-nothing insert."""

from __future__ import annotations

import asyncio
import csv
import io
import threading
import tracemalloc
import zipfile
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from documents import imports
from domain import catastro
from domain.catastro import ImportPreview, StalePreview
from locales import Catalogs, Msg
from storage import db, imported, people, programs
from storage.models import AuditEntry, Family, Organization

Table = list[list[Any]]


@pytest.fixture(scope="module")
def catalogs() -> Catalogs:
    return Catalogs()


@pytest.fixture
async def sessions(sqlite_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = db.create_engine(sqlite_url)
    await db.upgrade(engine)
    yield db.session_factory(engine)
    await engine.dispose()


@pytest.fixture
async def any_sessions(any_db_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = db.create_engine(any_db_url)
    await db.upgrade(engine)
    yield db.session_factory(engine)
    await engine.dispose()


async def make_program(sessions: async_sessionmaker[AsyncSession], now: datetime) -> int:
    async with sessions() as s:
        program = await programs.create(s, template="ecomercado-15m", start=now.date(),
                                        name="Ecomercado Ñuñoa", now=now)
        await s.commit()
        return program.id


@pytest.fixture
async def program_id(sessions, clock) -> int:
    return await make_program(sessions, clock.now())


# --- building files the way people's tools write them -------------------------------------


def as_csv(table: Table, delimiter: str, encoding: str) -> bytes:
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter, lineterminator="\r\n").writerows(
        [["" if v is None else str(v) for v in row] for row in table]
    )
    return out.getvalue().encode(encoding)


def as_xlsx(table: Table) -> bytes:
    book = Workbook()
    sheet = book.active
    sheet.title = "Catastro"
    for r, row in enumerate(table, start=1):
        for c, value in enumerate(row, start=1):
            if value not in (None, ""):
                sheet.cell(row=r, column=c, value=value)
    # A second sheet that must not be read.
    other = book.create_sheet("Notas")
    other.append(["Nombre", "RUT"])
    other.append(["No importar", "1-9"])
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()


FORMATS: dict[str, tuple[str, Callable[[Table], bytes]]] = {
    "csv-semicolon-windows1252": ("catastro.csv", lambda t: as_csv(t, ";", "cp1252")),
    "csv-comma-utf8-bom": ("catastro.csv", lambda t: as_csv(t, ",", "utf-8-sig")),
    "csv-semicolon-utf8": ("catastro.csv", lambda t: as_csv(t, ";", "utf-8")),
    "xlsx": ("catastro.xlsx", as_xlsx),
}


def problems(preview: ImportPreview) -> dict[int, list[str]]:
    return {r.row: [p.key.removeprefix("imports.problem.") for p in r.problems]
            for r in preview.rows if r.problems}


# The catastro as a gestora keeps it: a title and a blank line above the headings, a column
# the bot has no use for, numbers typed as numbers.
ORGS: Table = [
    ["Catastro de organizaciones – Ecomercado Ñuñoa"],  # row 1
    [],  # row 2
    ["Nombre organización", "RUT", "Tipo", "Fono", "Correo", "Sector", "Dirección",
     "N° socios", "Presidenta"],  # row 3
    ["Junta de Vecinos Villa Los Héroes", "65.123.456-5", "JJVV", 912345678, "jjvv@example.cl",
     "Villa Los Héroes", "Av. Grecia 1234, Ñuñoa", 120, "María Peña"],  # 4 ok
    ["Club Adulto Mayor Ñuñoa", "65.123.456-0", "Club", "", "", "", "", 30, ""],  # 5 bad RUT
    ["Comité de Vivienda", "", "Comité", "123", "", "", "", "", ""],  # 6 bad phone
    ["", "65.234.567-0", "", "", "", "", "", "", ""],  # 7 no name
    ["Centro de Madres", "", "", "", "correo-malo", "", "", "", ""],  # 8 bad email
    ["JUNTA DE VECINOS VILLA LOS HEROES", "", "", "", "", "", "", "", ""],  # 9 = row 4 by name
    ["Club Deportivo Unión", "65123456-5", "", "", "", "", "", "", ""],  # 10 = row 4 by RUT
    ["Taller Laboral", "", "", "", "", "", "", "doce", ""],  # 11 not a number
    ["Agrupación Cultural Ñuke", "65.345.678-6", "Cultural", "+56 9 8765 4321", "", "",
     "", "1.200", ""],  # 12 ok
    ["Comedor Solidario San Jose", "", "", "", "", "", "", "", ""],  # 13 already, by name
    ["Otro Nombre", "76543210-3", "", "", "", "", "", "", ""],  # 14 already, by RUT
]
ORG_PROBLEMS = {
    5: ["bad_rut"], 6: ["bad_phone"], 7: ["missing_name"], 8: ["bad_email"],
    9: ["duplicate_in_file"], 10: ["duplicate_in_file"], 11: ["bad_number"],
    13: ["exists_name"], 14: ["exists_rut"],
}

FAMILIES: Table = [
    ["Nombre", "Apellidos", "RUT", "Teléfono", "Dirección", "Sector", "Modalidad",
     "Integrantes"],  # row 1
    ["María", "Muñoz Peña", "15.111.222-6", "9 1234 5678", "", "Ñuñoa", "Retiro en local",
     4],  # 2 ok
    ["José", "Pérez", "", "", "Los Aromos 456, Ñuñoa", "", "Entrega en domicilio", 3],  # 3 ok
    ["Ana", "", "", "", "", "", "retiro", 2],  # 4 no phone and no address
    ["Luis", "Soto", "16.222.333-0", "9 5555 1234", "", "", "", ""],  # 5 bad RUT
    ["Rosa", "", "", "12345", "", "", "", ""],  # 6 bad phone
    ["", "", "", "9 4444 3333", "", "", "", ""],  # 7 no name
    ["Carmen", "Rojas", "", "+56 9 1234 5678", "", "", "", ""],  # 8 = row 2 by phone
    ["Pedro", "Díaz", "", "9 7777 6666", "", "", "a veces", ""],  # 9 unknown mode
    ["Julia", "Vera", "", "9 8888 1111", "", "", "", "cuatro"],  # 10 not a number
    ["Elena", "Fuentes", "17.333.444-3", "9 2222 3333", "", "", "Domicilio", 5],  # 11 already
    ["Marta", "Lagos", "18.444.555-7", "9 3333 4444", "", "", "", ""],  # 12 already, by RUT
]
FAMILY_PROBLEMS = {
    4: ["missing_contact"], 5: ["bad_rut"], 6: ["bad_phone"], 7: ["missing_name"],
    8: ["duplicate_in_file"], 9: ["bad_mode"], 10: ["bad_number"], 11: ["exists_phone"],
    12: ["exists_rut"],
}


async def seed_existing(sessions, program_id: int, now: datetime) -> None:
    async with sessions() as s:
        s.add(Organization(program_id=program_id, name="Comedor Solidario San José",
                           created_at=now))
        s.add(Organization(program_id=program_id, name="Centro Cultural Antiguo",
                           rut="76.543.210-3", created_at=now))
        s.add(Family(program_id=program_id, name="Familia Fuentes", phone="+56922223333",
                     created_at=now))
        # Typed by hand elsewhere, without dots: still the same RUT.
        s.add(Family(program_id=program_id, name="Familia Lagos", rut="184445557",
                     created_at=now))
        await s.commit()


async def count(sessions, model: type) -> int:
    async with sessions() as s:
        return await s.scalar(select(func.count()).select_from(model))


# --- the preview ---------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", list(FORMATS))
async def test_every_organisation_problem_is_found_on_its_row(sessions, program_id, clock,
                                                              fmt: str) -> None:
    await seed_existing(sessions, program_id, clock.now())
    filename, build = FORMATS[fmt]
    async with sessions() as s:
        preview = await imports.preview_organizations(s, program_id, filename, build(ORGS),
                                                      clock.now())
    assert preview.file_problems == []
    assert problems(preview) == ORG_PROBLEMS
    assert [r.row for r in preview.valid_rows] == [4, 12]
    heroes, cultural = (r.values for r in preview.valid_rows)
    assert heroes == {
        "name": "Junta de Vecinos Villa Los Héroes", "rut": "65.123.456-5", "kind": "junta_vecinos",
        "phone": "+56912345678", "email": "jjvv@example.cl", "sector": "Villa Los Héroes",
        "address": "Av. Grecia 1234, Ñuñoa", "members_count": 120,
    }
    assert cultural["name"] == "Agrupación Cultural Ñuke"
    assert cultural["members_count"] == 1200  # "1.200" is how Chile writes a thousand
    assert cultural["phone"] == "+56987654321"
    assert preview.ignored_columns == ["Presidenta"]
    # The duplicate says which row it repeats, so she can find it.
    [dup] = next(r for r in preview.rows if r.row == 10).problems
    assert dup.params == {"other": 4}


@pytest.mark.parametrize("fmt", list(FORMATS))
async def test_every_family_problem_is_found_on_its_row(sessions, program_id, clock,
                                                        fmt: str) -> None:
    await seed_existing(sessions, program_id, clock.now())
    filename, build = FORMATS[fmt]
    async with sessions() as s:
        preview = await imports.preview_families(s, program_id, filename.replace(
            "catastro", "familias"), build(FAMILIES), clock.now())
    assert problems(preview) == FAMILY_PROBLEMS
    maria, jose = (r.values for r in preview.valid_rows)
    assert maria == {
        "name": "María Muñoz Peña", "rut": "15.111.222-6", "phone": "+56912345678",
        "address": None, "sector": "Ñuñoa", "pickup_mode": "retiro", "household_size": 4,
    }
    assert jose["pickup_mode"] == "domicilio" and jose["phone"] is None
    assert jose["address"] == "Los Aromos 456, Ñuñoa"


async def test_english_headings_and_values_are_understood(sessions, program_id, clock) -> None:
    table = [
        ["Full name", "Mobile", "Address", "Delivery mode", "Household size", "Notes"],
        ["Ana Castro", "+56 9 1111 2222", "", "Home delivery", "3 people", "x"],
        ["Beto Lara", "", "Calle 2", "Pick-up at premises", "", ""],
    ]
    async with sessions() as s:
        preview = await imports.preview_families(s, program_id, "families.csv",
                                                 as_csv(table, ",", "utf-8"), clock.now())
    assert problems(preview) == {}
    assert [(r.values["name"], r.values["pickup_mode"], r.values["household_size"])
            for r in preview.rows] == [("Ana Castro", "domicilio", 3), ("Beto Lara", "retiro",
                                                                          None)]
    assert preview.ignored_columns == ["Notes"]


async def test_a_comma_file_with_quoted_commas_is_not_mistaken_for_semicolons(
        sessions, program_id, clock) -> None:
    text = ('Nombre,Dirección,Teléfono\r\n'
            '"Junta de Vecinos 1, Sector Norte","Pasaje 3, casa 4; Ñuñoa",+56912345678\r\n'
            '"Club; Deportivo","Calle 5",\r\n')
    async with sessions() as s:
        preview = await imports.preview_organizations(s, program_id, "x.csv",
                                                      text.encode("utf-8"), clock.now())
    assert [(r.values["name"], r.values["address"]) for r in preview.rows] == [
        ("Junta de Vecinos 1, Sector Norte", "Pasaje 3, casa 4; Ñuñoa"),
        ("Club; Deportivo", "Calle 5"),
    ]


@pytest.mark.parametrize(
    ("filename", "content", "key"),
    [
        ("vacio.csv", b"", "imports.file.empty"),
        ("solo_titulos.csv", b"Nombre;RUT\r\n;\r\n", "imports.file.empty"),
        ("viejo.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100,
         "imports.file.old_excel"),
        ("lista.pdf", b"%PDF-1.4 ...", "imports.file.unsupported"),
        ("roto.xlsx", b"PK\x03\x04 not really a zip", "imports.file.unreadable"),
        ("otra.csv", "Comuna;Región\r\nÑuñoa;RM\r\n".encode(), "imports.file.no_name_column"),
    ],
)
async def test_a_file_that_cannot_be_used_says_why(sessions, program_id, clock, filename: str,
                                                   content: bytes, key: str,
                                                   catalogs: Catalogs) -> None:
    async with sessions() as s:
        preview = await imports.preview_organizations(s, program_id, filename, content,
                                                      clock.now())
    assert [m.key for m in preview.file_problems] == [key]
    assert not preview.can_commit
    assert imports.render_preview(preview) == preview.file_problems
    if key == "imports.file.no_name_column":
        assert "Comuna, Región" in catalogs.render(preview.file_problems[0], "es")


@pytest.mark.parametrize(
    ("text", "expected"),
    [("12", 12), (" 4 ", 4), ("1.200", 1200), ("4 personas", 4), ("30 socios", 30),
     ("doce", None), ("4 a 5", None), ("-3", None), ("1,5", None), ("12.5", None)],
)
def test_what_counts_as_a_number(text: str, expected: int | None) -> None:
    assert catastro.whole_number(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [("", "retiro"), ("Retiro en local", "retiro"), ("RETIRO", "retiro"), ("local", "retiro"),
     ("Entrega en domicilio", "domicilio"), ("Domicilio", "domicilio"), ("despacho", "domicilio"),
     ("Home delivery", "domicilio"), ("Pick-up", "retiro"), ("D", "domicilio"),
     ("retiro o domicilio", None), ("a veces", None)],
)
def test_pickup_modes_as_people_write_them(text: str, expected: str | None) -> None:
    assert catastro.pickup_mode(text) == expected


def test_headers_are_matched_without_accents_case_or_filler_words() -> None:
    assert imports.normalise_header("  N° de Socios ") == "socios"
    assert imports.normalise_header("Nº socios") == "socios"
    assert imports.normalise_header("NOMBRE DE LA ORGANIZACIÓN") == "nombre organizacion"
    assert imports.normalise_header("Teléfono") == "telefono"


# --- commit --------------------------------------------------------------------------------


async def test_commit_inserts_exactly_the_valid_rows_and_audits_it(sessions, program_id,
                                                                  clock) -> None:
    await seed_existing(sessions, program_id, clock.now())
    async with sessions() as s:
        preview = await imports.preview_organizations(
            s, program_id, "catastro.csv", FORMATS["csv-semicolon-windows1252"][1](ORGS),
            clock.now())
    # The preview waits in her conversation between two messages.
    stored = ImportPreview.from_json(preview.to_json())
    clock.advance(hours=1)
    async with sessions() as s:
        result = await imported.commit_import(s, stored, clock.now(), actor_id=None,
                                              channel="telegram")
        await s.commit()
    assert result.inserted == 2 and result.inserted_rows == [4, 12]
    assert result.skipped_rows == sorted(ORG_PROBLEMS)
    async with sessions() as s:
        orgs = (await s.scalars(select(Organization).where(Organization.id.in_(
            result.inserted_ids)).order_by(Organization.id))).all()
        [audit] = (await s.scalars(select(AuditEntry))).all()
    assert [(o.name, o.rut, o.phone, o.members_count, o.program_id) for o in orgs] == [
        ("Junta de Vecinos Villa Los Héroes", "65.123.456-5", "+56912345678", 120, program_id),
        ("Agrupación Cultural Ñuke", "65.345.678-6", "+56987654321", 1200, program_id),
    ]
    assert orgs[0].created_at == clock.now()
    assert audit.action == "import.organization" and audit.channel == "telegram"
    assert audit.at == clock.now()
    assert audit.details["inserted"] == 2 and audit.details["skipped"] == 9
    assert audit.details["rows"] == 11 and audit.details["filename"] == "catastro.csv"


async def test_families_are_imported_without_people_until_they_register(sessions, program_id,
                                                                       clock) -> None:
    async with sessions() as s:
        preview = await imports.preview_families(s, program_id, "f.xlsx",
                                                 as_xlsx(FAMILIES[:4]), clock.now())
        assert problems(preview) == {4: ["missing_contact"]}
        result = await imported.commit_import(s, preview, clock.now())
        await s.commit()
    async with sessions() as s:
        fams = (await s.scalars(select(Family).order_by(Family.id))).all()
    assert [(f.name, f.phone, f.pickup_mode, f.household_size, f.person_id) for f in fams] == [
        ("María Muñoz Peña", "+56912345678", "retiro", 4, None),
        ("José Pérez", None, "domicilio", 3, None),
    ]
    assert result.skipped_rows == [4]


CLEAN_FAMILIES: Table = [
    ["Nombre", "Fono", "Dirección"],
    ["Familia Ñancupil", "9 1234 5678", ""],
    ["Familia Araya", "9 2345 6789", "Pasaje 2"],
    ["Familia Soto", "", "Calle Larga 10"],
]


async def test_importing_the_same_file_twice_adds_nothing_the_second_time(sessions, program_id,
                                                                         clock) -> None:
    content = as_csv(CLEAN_FAMILIES, ";", "cp1252")
    async with sessions() as s:
        first = await imports.preview_families(s, program_id, "f.csv", content, clock.now())
        await imported.commit_import(s, first, clock.now())
        await s.commit()
    async with sessions() as s:
        second = await imports.preview_families(s, program_id, "f.csv", content, clock.now())
    # Recognised by phone, or without one by the same name at the same address.
    assert problems(second) == {2: ["exists_phone"], 3: ["exists_phone"], 4: ["exists_name"]}
    assert not second.can_commit
    assert await count(sessions, Family) == 3


async def test_importing_the_same_catastro_twice_reports_every_row(sessions, program_id,
                                                                  clock) -> None:
    table = [["Nombre", "RUT"], ["Junta de Vecinos Ñuñoa", ""], ["Club Deportivo", "65.234.567-0"]]
    content = as_xlsx(table)
    async with sessions() as s:
        first = await imports.preview_organizations(s, program_id, "c.xlsx", content,
                                                    clock.now())
        await imported.commit_import(s, first, clock.now())
        await s.commit()
    async with sessions() as s:
        second = await imports.preview_organizations(s, program_id, "c.xlsx", content,
                                                     clock.now())
        assert problems(second) == {2: ["exists_name"], 3: ["exists_rut"]}
        assert not second.can_commit
        result = await imported.commit_import(s, second, clock.now())
        await s.commit()
    assert result.inserted == 0
    assert await count(sessions, Organization) == 2


async def test_pressing_import_twice_inserts_once(sessions, program_id, clock) -> None:
    content = as_csv(CLEAN_FAMILIES, ",", "utf-8-sig")
    async with sessions() as s:
        preview = await imports.preview_families(s, program_id, "f.csv", content, clock.now())
    async with sessions() as s:
        await imported.commit_import(s, preview, clock.now())
        await s.commit()
    async with sessions() as s:
        with pytest.raises(StalePreview) as stale:
            await imported.commit_import(s, preview, clock.now())
        await s.rollback()
    assert stale.value.rows == [2, 3, 4]
    assert await count(sessions, Family) == 3


async def test_a_stale_preview_inserts_nothing(sessions, program_id, clock) -> None:
    async with sessions() as s:
        preview = await imports.preview_organizations(
            s, program_id, "c.csv", as_csv(ORGS, ";", "cp1252"), clock.now())
    assert len(preview.valid_rows) == 4  # nothing was registered yet
    async with sessions() as s:  # meanwhile, someone else registers one of them
        s.add(Organization(program_id=program_id, name="Junta de vecinos villa los héroes",
                           created_at=clock.now()))
        await s.commit()
    async with sessions() as s:
        with pytest.raises(StalePreview) as stale:
            await imported.commit_import(s, preview, clock.now())
        await s.commit()
    assert stale.value.rows == [4]
    assert await count(sessions, Organization) == 1
    assert await count(sessions, AuditEntry) == 0


async def test_another_programmes_records_are_not_duplicates(sessions, program_id,
                                                             clock) -> None:
    other = await make_program(sessions, clock.now())
    await seed_existing(sessions, other, clock.now())
    async with sessions() as s:
        preview = await imports.preview_families(s, program_id, "f.csv",
                                                 as_csv(FAMILIES, ";", "cp1252"), clock.now())
    assert 11 not in problems(preview) and 12 not in problems(preview)


async def test_a_failure_mid_commit_leaves_none_of_the_rows(any_sessions, clock,
                                                            monkeypatch) -> None:
    program_id = await make_program(any_sessions, clock.now())
    async with any_sessions() as s:
        preview = await imports.preview_families(s, program_id, "f.csv",
                                                 as_csv(CLEAN_FAMILIES, ";", "cp1252"),
                                                 clock.now())

    def broken_audit(*_a: Any, **_k: Any) -> None:
        raise RuntimeError("disk full")

    # The audit entry is written after the rows reached the database.
    monkeypatch.setattr(people, "audit", broken_audit)
    async with any_sessions() as s:
        with pytest.raises(RuntimeError, match="disk full"):
            async with s.begin():
                await imported.commit_import(s, preview, clock.now())
                assert await s.scalar(select(func.count()).select_from(Family)) == 3
    assert await count(any_sessions, Family) == 0
    monkeypatch.undo()
    async with any_sessions() as s:
        result = await imported.commit_import(s, preview, clock.now())
        await s.commit()
    assert result.inserted == 3 and await count(any_sessions, Family) == 3


# --- what the gestora reads ------------------------------------------------------------------


def texts(lines: list[Msg], catalogs: Catalogs, loc: str) -> list[str]:
    return [catalogs.render(m, loc) for m in lines]


async def thirty_rows_three_bad(sessions, program_id: int, now: datetime) -> ImportPreview:
    table: Table = [["Nombre", "RUT", "Teléfono", "Dirección"]]
    for i in range(30):
        table.append([f"Familia {i}", "", f"9 1000 {i:04d}", ""])
    table[3][1] = "12.345.678-0"  # row 4
    table[8][2], table[8][3] = "", ""  # row 9
    table[12][0] = ""  # row 13
    async with sessions() as s:
        return await imports.preview_families(s, program_id, "f.csv",
                                              as_csv(table, ";", "cp1252"), now)


async def test_the_preview_reads_well_in_spanish_and_english(sessions, program_id, clock,
                                                            catalogs: Catalogs) -> None:
    preview = await thirty_rows_three_bad(sessions, program_id, clock.now())
    assert texts(imports.render_preview(preview), catalogs, "es") == [
        "Se pueden importar 27 de 30 filas.",
        "Fila 4: RUT inválido (12.345.678-0).",
        "Fila 9: falta el teléfono o la dirección.",
        "Fila 13: falta el nombre.",
    ]
    assert texts(imports.render_preview(preview), catalogs, "en") == [
        "27 of 30 rows can be imported.",
        "Row 4: invalid RUT (12.345.678-0).",
        "Row 9: the phone or the address is missing.",
        "Row 13: the name is missing.",
    ]
    assert catalogs.render(imports.preview_message(preview), "es").splitlines()[:2] == [
        "Se pueden importar 27 de 30 filas.", "Fila 4: RUT inválido (12.345.678-0).",
    ]
    assert not imports.has_more_than_fits(preview)


async def test_summaries_agree_in_number(sessions, program_id, clock,
                                         catalogs: Catalogs) -> None:
    async def summary(table: Table) -> str:
        async with sessions() as s:
            p = await imports.preview_organizations(s, program_id, "c.csv",
                                                    as_csv(table, ";", "utf-8"), clock.now())
        return catalogs.render(imports.summary(p), "es")

    head = ["Nombre", "RUT"]
    assert await summary([head, ["A", ""]]) == "La fila se puede importar."
    assert await summary([head, ["A", ""], ["B", ""]]) == "Las 2 filas se pueden importar."
    assert await summary([head, ["A", "1-1"]]) == "La fila no se puede importar."
    assert await summary([head, ["A", "1-1"], ["", "1-9"]]) == (
        "Ninguna de las 2 filas se puede importar.")
    assert await summary([head, ["A", ""], ["B", "1-1"]]) == "Se puede importar 1 de 2 filas."


async def test_a_long_list_of_problems_is_cut_short_and_the_rest_goes_in_a_report(
        sessions, program_id, clock, catalogs: Catalogs) -> None:
    table: Table = [["Nombre", "Fono"]] + [[f"Org {i}", "123"] for i in range(25)]
    table.append(["=HYPERLINK(\"http://x\")", ""])
    async with sessions() as s:
        preview = await imports.preview_organizations(s, program_id, "c.csv",
                                                      as_csv(table, ";", "utf-8"), clock.now())
    lines = texts(imports.render_preview(preview), catalogs, "es")
    assert lines[0] == "Se puede importar 1 de 26 filas."
    assert lines[1:16] == [f"Fila {r}: teléfono inválido (123)." for r in range(2, 17)]
    assert lines[16] == "…y 10 problemas más (el detalle va en el archivo adjunto)."
    assert len(lines) == 17
    assert imports.has_more_than_fits(preview)

    report = imports.preview_report_csv(preview, "es", catalogs)
    assert report.startswith(b"\xef\xbb\xbf")  # Excel then reads the accents right
    rows = list(csv.reader(io.StringIO(report.decode("utf-8-sig")), delimiter=";"))
    assert rows[0] == ["Fila", "Nombre", "Resultado", "Problemas"]
    assert rows[1] == ["2", "Org 0", "No se importa", "teléfono inválido (123)"]
    assert len(rows) == 27
    # A name that looks like a formula stays text when the report is opened in Excel.
    assert rows[-1] == ["27", "'=HYPERLINK(\"http://x\")", "Se importa", ""]
    en = imports.preview_report_csv(preview, "en", catalogs).decode("utf-8-sig")
    assert en.splitlines()[:2] == ["Row;Name;Result;Problems",
                                   "2;Org 0;Not imported;invalid phone number (123)"]


async def test_the_result_message(sessions, program_id, clock, catalogs: Catalogs) -> None:
    preview = await thirty_rows_three_bad(sessions, program_id, clock.now())
    async with sessions() as s:
        result = await imported.commit_import(s, preview, clock.now())
        await s.commit()
    assert texts(imports.result_message(result), catalogs, "es") == [
        "Listo: agregué 27 familias.", "3 filas con problemas quedaron fuera."]
    assert texts(imports.result_message(result), catalogs, "en") == [
        "Done: I added 27 families.", "3 rows with problems were left out."]


async def test_xlsx_row_numbers_are_the_sheets_even_when_it_starts_lower_down(
        sessions, program_id, clock) -> None:
    book = Workbook()
    sheet = book.active
    sheet.cell(row=3, column=2, value="Nombre")
    sheet.cell(row=3, column=3, value="RUT")
    sheet.cell(row=5, column=2, value="Junta de Vecinos El Sol")
    sheet.cell(row=5, column=3, value="1-1")
    buf = io.BytesIO()
    book.save(buf)
    async with sessions() as s:
        preview = await imports.preview_organizations(s, program_id, "c.xlsx", buf.getvalue(),
                                                      clock.now())
    assert problems(preview) == {5: ["bad_rut"]}


# --- files made to be expensive -----------------------------------------------------------------

MB = 1024 * 1024


def far_cell_workbook(ref: str) -> bytes:
    """A 5 KB workbook: a heading, one organisation, and one stray cell far away, which
    makes the sheet declare itself that big."""
    book = Workbook()
    sheet = book.active
    sheet.append(["Nombre", "RUT", "Teléfono"])
    sheet.append(["Junta de Vecinos El Sol", "", "9 1234 5678"])
    sheet[ref] = "x"
    buf = io.BytesIO()
    book.save(buf)
    assert len(buf.getvalue()) < 6000
    return buf.getvalue()


def with_sheet_xml(xml: bytes) -> bytes:
    """A real workbook whose first sheet is replaced by this XML, compressed."""
    buf = io.BytesIO()
    Workbook().save(buf)
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(buf.getvalue())) as src, \
            zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for name in src.namelist():
            dst.writestr(name, xml if name == "xl/worksheets/sheet1.xml" else src.read(name))
    return out.getvalue()


def bounded(work: Callable[[], Any], seconds: float = 120) -> tuple[Any, int]:
    """What ``work`` returns and the most memory it held at once (tracemalloc). It runs in a
    thread of its own, so a reader that never ends fails the test after ``seconds`` (a
    generous guard, not a speed target: those are in bench/) instead of hanging it."""
    done: dict[str, Any] = {}

    def run() -> None:
        tracemalloc.start()
        try:
            done["result"] = work()
            done["peak"] = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still reading after {seconds} s"
    return done["result"], done["peak"]


def preview_apart(url: str, program_id: int, filename: str, content: bytes,
                  now: datetime) -> ImportPreview:
    """The preview as the chat makes it, on an event loop and engine of its own."""
    async def make() -> ImportPreview:
        engine = db.create_engine(url)
        try:
            async with db.session_factory(engine)() as s:
                return await imports.preview_organizations(s, program_id, filename, content,
                                                           now)
        finally:
            await engine.dispose()

    return asyncio.run(make())


@pytest.mark.parametrize(("ref", "rows"), [
    # Within the columns read, the stray cell is a row like any other, without a name.
    ("Z200000", {2: [], 200000: ["missing_name"]}),
    # Past them, it is not read at all.
    ("XFD1048576", {2: []}),
])
async def test_a_stray_cell_far_away_costs_neither_time_nor_memory(
        sessions, program_id, clock, sqlite_url, ref: str, rows: dict[int, list[str]]) -> None:
    content = far_cell_workbook(ref)
    # Before: 49 s and 1.17 GB for Z200000; XFD1048576 never finished.
    preview, peak = await asyncio.to_thread(bounded, lambda: preview_apart(
        sqlite_url, program_id, "catastro.xlsx", content, clock.now()))
    assert peak < 40 * MB
    assert not preview.file_problems
    assert {r.row: [p.key.removeprefix("imports.problem.") for p in r.problems]
            for r in preview.rows} == rows


async def test_a_workbook_that_unpacks_into_too_much_is_refused_unread(
        sessions, program_id, clock, sqlite_url) -> None:
    # 20 KB of zip, 22 MB of XML: a million rows of one empty formatted cell each.
    xml = (b'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.'
           b'openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
           + b'<row><c s="0"/></row>' * 1_040_000 + b"</sheetData></worksheet>")
    content = with_sheet_xml(xml)
    preview, peak = await asyncio.to_thread(bounded, lambda: preview_apart(
        sqlite_url, program_id, "catastro.xlsx", content, clock.now()))
    assert [m.key for m in preview.file_problems] == ["imports.file.too_big"]
    assert peak < 40 * MB
    assert len(content) < 100_000 and len(xml) > imports.MAX_UNPACKED


async def test_reading_stops_at_the_row_limit(sessions, program_id, clock, sqlite_url) -> None:
    # Four bytes a row: 5 MB of CSV is over a million rows.
    content = b"Nombre;RUT\n" + b"a;\n" * (imports.MAX_BYTES // 3 - 10)
    preview, peak = await asyncio.to_thread(bounded, lambda: preview_apart(
        sqlite_url, program_id, "catastro.csv", content, clock.now()))
    assert [m.key for m in preview.file_problems] == ["imports.file.too_many_rows"]
    assert preview.rows == []
    assert peak < 80 * MB


async def test_the_most_rows_that_may_be_imported_are_all_read(sessions, program_id,
                                                              clock) -> None:
    lines = ["Nombre;RUT", ""] + [f"Junta {n};" for n in range(imports.MAX_ROWS)]
    content = "\n".join(lines).encode()
    async with sessions() as s:
        preview = await imports.preview_organizations(s, program_id, "c.csv", content,
                                                      clock.now())
        assert not preview.file_problems and len(preview.rows) == imports.MAX_ROWS
        assert preview.rows[-1].row == imports.MAX_ROWS + 2
        one_more = await imports.preview_organizations(
            s, program_id, "c.csv", content + b"\nJunta otra;", clock.now())
    assert [m.key for m in one_more.file_problems] == ["imports.file.too_many_rows"]
