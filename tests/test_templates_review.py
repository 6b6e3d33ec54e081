"""What the review of templates-as-data found: programmes made before they kept their forms
keep them on upgrade; `template validate` names a document Convoca cannot make, a document
whose form the template does not use, and a zone of another country; its problems read in
the operator's language, in line order."""

from __future__ import annotations

import asyncio
import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text
from test_templates_as_data import DATA, at, broken, validate

from bot.app import StartupError, build_app
from bot.config import load_settings
from domain import forms as forms_module
from domain.forms import program_form, program_form_uses
from domain.program_templates import (
    TemplateError,
    load_template,
    program_template,
    stored_template,
    template_to_store,
)
from domain.template_library import TemplateLibrary
from locales import Catalogs
from storage import db
from storage.clock import ManualClock
from storage.models import Program


@pytest.fixture
def team(cli_env: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The docs' example team folder (tests/data/templates), named by TEMPLATES_DIR."""
    folder = tmp_path / "team"
    shutil.copytree(DATA, folder)
    monkeypatch.setenv("TEMPLATES_DIR", str(folder))
    return folder


# --------------------------------------------------------------------------- migration 0015


async def test_a_programme_made_before_keeps_its_forms_when_the_files_change(
        any_db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shipped = {key: forms_module.load_form(key)
               for key in ("ficha_interes", "compromiso_participacion", "declaracion_compromiso")}
    engine = db.create_engine(any_db_url)
    await db.upgrade(engine, "0013")
    # As 0004 kept it: the template of the time, which had no forms section.
    kept = json.loads(template_to_store(load_template("ecomercado-15m")))
    del kept["forms"]
    at = datetime(2026, 3, 2, 12, 0)
    async with engine.begin() as conn:
        await conn.execute(text(
            "INSERT INTO programs (id, name, template_key, start_date, timezone, settings, "
            "created_at, template) VALUES (1, 'Eco', 'ecomercado-15m', '2026-03-02', "
            "'America/Santiago', '{}', :at, :tpl)"), {"at": at, "tpl": json.dumps(kept)})
    await db.upgrade(engine)
    sessions = db.session_factory(engine)
    try:
        async with sessions() as s:
            program = await s.get(Program, 1)
            assert program.forms is not None
            assert set(program.forms) == set(shipped)
            uses = program_form_uses(program)
            assert [(u.form, u.command) for u in uses] == [
                ("ficha_interes", "ficha"), ("compromiso_participacion", None),
                ("declaracion_compromiso", None)]
            assert program_template(program).form_use("ficha_interes").button["es"] == \
                "Ficha de interés"

            # The shipped files change or go: the programme still has its forms as they were.
            changed = tmp_path / "forms"
            changed.mkdir()
            original = (forms_module.FORMS_DIR / "ficha_interes.yaml").read_text("utf-8")
            (changed / "ficha_interes.yaml").write_text(
                original.replace("Ficha de Interés", "Ficha cambiada"), "utf-8")
            monkeypatch.setattr(forms_module, "FORMS_DIR", changed)
            assert forms_module.load_form("ficha_interes").title != shipped["ficha_interes"].title
            for key, form in shipped.items():
                assert program_form(program, key) == form
            (changed / "ficha_interes.yaml").unlink()
            assert program_form(program, "ficha_interes") == shipped["ficha_interes"]
            assert program_form(program, "declaracion_compromiso") == \
                shipped["declaracion_compromiso"]
    finally:
        await engine.dispose()



# --------------------------------------------------------------------------- documents

DECLARATIONS = """  - key: declaraciones
    document: member_declarations
    name: {es: Declaraciones del comité, en: Committee declarations}
"""


def test_a_misspelt_document_is_named_at_its_line(team: Path, capsys) -> None:
    path, text_ = broken(team, "document: attendance", "document: attendence")
    status, lines = validate(capsys, path)
    assert status == 1
    assert len(lines) == 1
    assert lines[0].startswith(f"{path}:{at(text_, 'attendence')}: verifiers[0].document: "
                               "Convoca no hace un documento «attendence» (hace: agreed_text, "
                               "attendance, ")
    assert lines[0].endswith("para uno hecho fuera de Convoca, quita «document:»")


def test_a_misspelt_document_stops_start_up(team: Path) -> None:
    broken(team, "document: attendance", "document: attendence")

    async def start() -> None:
        with pytest.raises(StartupError) as info:
            await build_app(load_settings(), clock=ManualClock(datetime(2026, 3, 1, tzinfo=UTC)))
        detail = info.value.message.params["detail"].text
        assert detail.startswith(f"{team / 'huerta-comunitaria.yaml'}:22:15: "
                                 "verifiers[0].document: Convoca no hace un documento "
                                 "«attendence»")

    asyncio.run(start())


def test_a_document_made_from_a_form_the_template_does_not_use(team: Path, capsys) -> None:
    path, text_ = broken(team, "verifiers:\n", "verifiers:\n" + DECLARATIONS)
    status, lines = validate(capsys, path)
    assert status == 1
    assert lines == [f"{path}:{at(text_, 'member_declarations')}: verifiers[0].document: el "
                     "documento «member_declarations» se hace con el formulario "
                     "«declaracion_compromiso»: agrégalo en «forms:»"]
    # With the form in its forms: section, it passes.
    path.write_text(text_ + "  - form: declaracion_compromiso\n", encoding="utf-8")
    status, lines = validate(capsys, path)
    assert status == 0 and lines[0].startswith(f"{path}: OK")


def test_a_document_made_outside_convoca_still_passes(team: Path, capsys) -> None:
    path, _ = broken(team, "    document: attendance\n", "")
    status, lines = validate(capsys, path)
    assert status == 0 and lines[0].startswith(f"{path}: OK")


def test_every_shipped_template_uses_the_forms_of_its_documents() -> None:
    from documents.verificadores import made_from

    made = made_from()
    assert made["member_declarations"] == ("declaracion_compromiso",)
    assert made["participation_commitments"] == ("compromiso_participacion",)
    library = TemplateLibrary.load(None, documents=made)
    for template in library.templates.values():
        used = {u.form for u in template.forms}
        for verifier in template.verifiers:
            assert verifier.document is None or verifier.document in made
            # A verifier naming its form (the seeds' declarations) is made from that one.
            needed = ({verifier.form} if verifier.form
                      else set(made.get(verifier.document or "", ())))
            assert needed <= used, (template.key, verifier)


# --------------------------------------------------------------------------- zone and country


def test_a_zone_of_another_country_is_refused(team: Path, capsys) -> None:
    path, text_ = broken(team, "timezone: America/Santiago", "timezone: America/Montevideo")
    status, lines = validate(capsys, path)
    assert status == 1
    assert lines == [f"{path}:{at(text_, 'America/Montevideo')}: timezone: la zona "
                     "«America/Montevideo» no es del país CL (sus zonas: America/Coyhaique, "
                     "America/Punta_Arenas, America/Santiago, Pacific/Easter); cambia "
                     "«timezone:» o «country:»"]
    # The country that zone is in, or another of Chile's zones: fine.
    path.write_text(text_.replace("timezone: America/Montevideo",
                                  "timezone: America/Montevideo\ncountry: UY"), "utf-8")
    assert validate(capsys, path)[0] == 0
    path.write_text(text_.replace("America/Montevideo", "America/Punta_Arenas"), "utf-8")
    assert validate(capsys, path)[0] == 0


def test_a_programmes_kept_copy_is_not_judged_again() -> None:
    """A programme made before the rule, on a zone not of its country, keeps working."""
    kept = json.loads(template_to_store(load_template("ecomercado-10m")))
    kept["timezone"] = "America/Montevideo"
    assert stored_template(json.dumps(kept)).timezone == "America/Montevideo"


# --------------------------------------------------------------------------- words and order


def test_problems_come_in_line_order_in_the_operators_language(
        team: Path, capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    # The forms section (the file's end) is checked before the stages: printed after them.
    text_ = (team / "huerta-comunitaria.yaml").read_text(encoding="utf-8")
    text_ = text_.replace("  - form: inscripcion_huerta", "  - form: inscripcion_granja")
    text_ = text_.replace("verifiers: [lista_asistencia]", "verifiers: [lista_asistenci]")
    path = team / "huerta-comunitaria.yaml"
    path.write_text(text_, encoding="utf-8")
    status, lines = validate(capsys, path)
    assert status == 1
    assert [line.split(": ")[1] for line in lines] == [
        "stages[1].activities[0].verifiers[0]", "forms[0].form"]
    assert "no hay un formulario «inscripcion_granja»" in lines[1]

    monkeypatch.setenv("DEFAULT_LOCALE", "en")
    status, lines = validate(capsys, path)
    assert [line.split(": ")[1] for line in lines] == [
        "stages[1].activities[0].verifiers[0]", "forms[0].form"]
    assert lines[1].split(": ", 1)[1].startswith(
        "forms[0].form: no form 'inscripcion_granja' (known: compromiso_participacion, ")


@pytest.mark.parametrize(("old", "new", "needle", "es", "en"), [
    ("duration_months: 6", "duration_months: [6]", "[6]", "duration_months: debe ser un "
     "número entero", "duration_months: must be a whole number"),
    ("progress_reports: [3]", "progress_reports: 3", "3\nprogress_report:",
     "progress_reports: debe ser una lista (cada elemento en una línea que empieza con «- »)",
     "progress_reports: must be a list (each item on a line starting with \"- \")"),
    ("        recurring: true", "        recurring: yes please", "yes please",
     "stages[1].activities[0].recurring: debe ser true o false",
     "stages[1].activities[0].recurring: must be true or false"),
])
def test_the_common_mistakes_read_in_spanish_and_english(
        team: Path, capsys, monkeypatch: pytest.MonkeyPatch, old, new, needle, es, en) -> None:
    path, text_ = broken(team, old, new)
    status, lines = validate(capsys, path)
    assert status == 1 and lines == [f"{path}:{at(text_, needle)}: {es}"]
    monkeypatch.setenv("DEFAULT_LOCALE", "en")
    status, lines = validate(capsys, path)
    assert status == 1 and lines == [f"{path}:{at(text_, needle)}: {en}"]


def test_a_wrong_question_type_names_the_types(team: Path, capsys) -> None:
    form = team / "forms" / "inscripcion_huerta.yaml"
    text_ = form.read_text(encoding="utf-8").replace("type: yes_no", "type: si_no")
    form.write_text(text_, encoding="utf-8")
    status, lines = validate(capsys, form)
    assert status == 1
    assert lines == [f"{form}:{at(text_, 'si_no')}: questions[1].type: debe ser uno de estos: "
                     "'text', 'number', 'choice', 'multi_choice', 'date', 'phone', 'email', "
                     "'rut', 'national_id', 'org_tax_id', 'yes_no'"]


def test_the_librarys_own_problems_are_message_keys(tmp_path: Path) -> None:
    (tmp_path / "ecomercado-10m.yaml").write_text(
        (Path(__file__).resolve().parents[1] / "domain/templates/ecomercado-10m.yaml")
        .read_text(encoding="utf-8"), encoding="utf-8")
    with pytest.raises(TemplateError) as info:
        TemplateLibrary.load(tmp_path)
    catalogs = Catalogs()
    [line] = info.value.lines_in(catalogs, "es")
    assert line.endswith("key: «ecomercado-10m» ya es el nombre de una plantilla o formulario "
                         "que trae Convoca; dale otro nombre")
    [line] = info.value.lines_in(catalogs, "en")
    assert line.endswith("key: 'ecomercado-10m' is already the name of a template or form "
                         "Convoca ships; give it another name")
    with pytest.raises(TemplateError) as info:
        TemplateLibrary.load(tmp_path / "nada")
    assert info.value.lines_in(catalogs, "es") == [
        f"{tmp_path / 'nada'}: no es una carpeta (TEMPLATES_DIR)"]
    library = TemplateLibrary.load(None)
    with pytest.raises(TemplateError) as info:
        library.template("huerta")
    assert info.value.lines_in(catalogs, "es")[0].startswith(
        "huerta: no hay una plantilla «huerta» (hay: ecomercado-10m, ")
