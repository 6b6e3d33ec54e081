"""What the second review of templates, forms and countries found: a template that `template
validate` passes never crashes `program create`; its cross-reference problems read in the
operator's language; a fichas document that could never fill is refused."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from test_templates_as_data import DATA, START, at, broken, validate

from bot.cli import main
from domain import forms as forms_module
from domain.forms import FormError, load_form
from domain.program_templates import BODY_KEY_MAX, MAX_BODIES, parse_template
from locales import Catalogs
from storage import db


@pytest.fixture
def team(cli_env: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The docs' example team folder (tests/data/templates), named by TEMPLATES_DIR."""
    folder = tmp_path / "team"
    shutil.copytree(DATA, folder)
    monkeypatch.setenv("TEMPLATES_DIR", str(folder))
    return folder


DECLARATION = """  - form: declaracion_compromiso
"""


def _with_declaration(team_path):
    return broken(team_path, "forms:\n", "forms:\n" + DECLARATION)


# --------------------------------------------------------------------------- bodies as options


def test_a_body_key_too_long_is_named_at_its_line_and_program_create_says_it(
        team, capsys) -> None:
    _with_declaration(team)
    long_key = "comite_" + "x" * (BODY_KEY_MAX - 6)
    path, text_ = broken(team, "key: comite\n", f"key: {long_key}\n")
    text_ = text_.replace("body: comite\n", f"body: {long_key}\n")
    path.write_text(text_, encoding="utf-8")
    status, lines = validate(capsys, path)
    assert status == 1
    assert lines == [f"{path}:{at(text_, long_key)}: bodies[0].key: debe tener "
                     f"{BODY_KEY_MAX} caracteres o menos"]
    status = main(["program", "create", "--template", str(path), "--start", START.isoformat(),
                   "--name", "Huerta"])
    captured = capsys.readouterr()
    assert status != 0
    assert "Traceback" not in captured.err and "ValidationError" not in captured.err
    assert f"{path}:{at(text_, long_key)}: bodies[0].key: debe tener" in captured.err


def test_more_bodies_than_a_declaration_can_offer_are_refused(team, capsys) -> None:
    _with_declaration(team)
    extra = "".join(f"  - key: comite_{i}\n    name: {{es: C{i}, en: C{i}}}\n"
                    f"    cadence_months: 1\n" for i in range(MAX_BODIES))
    path, text_ = broken(team, "bodies:\n", "bodies:\n" + extra)
    status, lines = validate(capsys, path)
    assert status == 1
    assert lines == [f"{path}:{at(text_, '- key: comite_0')}: bodies: pon {MAX_BODIES} "
                     "como máximo"]


def test_bodies_no_form_can_take_are_a_form_problem_not_a_crash() -> None:
    # A template kept before the cap: the programme's copy of the declaration still cannot
    # offer its bodies, and says so as a form's problem the CLI prints.
    declaration = load_form("declaracion_compromiso")
    with pytest.raises(FormError) as info:
        declaration.for_bodies([("c" * 70, {"es": "Comité", "en": "Committee"})])
    assert "declaracion_compromiso" in info.value.lines[0]
    assert "options[0].key" in info.value.lines[0]


# --------------------------------------------------------------------------- words


def at_last(text: str, needle: str) -> str:
    """``line:column`` of the last ``needle``."""
    index = text.rindex(needle)
    return f"{text.count(chr(10), 0, index) + 1}:{index - text.rfind(chr(10), 0, index)}"


def test_cross_references_read_in_the_operators_language(
        team, capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    path, text_ = broken(team, "verifiers: [invitados, lista_asistencia]",
                         "verifiers: [invitados, lista_asistenci]")
    text_ = text_.replace("    body: comite\n", "    body: comitee\n")
    text_ = text_.replace("progress_reports: [3]", "progress_reports: [7]")
    text_ = text_.replace("  - key: informe\n", "  - key: invitados\n")
    path.write_text(text_, encoding="utf-8")
    status, lines = validate(capsys, path)
    assert status == 1
    assert lines == [
        f"{path}:{at(text_, 'comitee')}: meeting_kinds[1].body: el tipo de reunión «comite» "
        "nombra la instancia «comitee», que no está en «bodies:»",
        f"{path}:{at_last(text_, 'key: invitados')}: verifiers[2]: «invitados» ya está "
        "declarado más arriba; dale otra clave",
        f"{path}:{at(text_, 'lista_asistenci]')}: stages[0].activities[0].verifiers[1]: la "
        "actividad «asamblea_inicial» nombra el verificador «lista_asistenci», que no está en "
        "«verifiers:»",
        f"{path}:{at(text_, '7]')}: progress_reports[0]: el mes 7 es posterior al último mes "
        "del programa (6)",
        f"{path}:{at(text_, 'informe]')}: progress_report.verifiers[0]: los informes de avance "
        "nombran el verificador «informe», que no está en «verifiers:»",
    ]
    monkeypatch.setenv("DEFAULT_LOCALE", "en")
    status, lines = validate(capsys, path)
    assert lines[0].endswith("meeting kind 'comite' refers to undeclared body 'comitee'")


# --------------------------------------------------------------------------- fichas


FICHAS = """  - key: fichas
    document: fichas
    name: {es: Fichas, en: Fichas}
"""


def test_fichas_with_no_form_to_be_made_from_are_refused(team, capsys) -> None:
    path, text_ = broken(team, "verifiers:\n", "verifiers:\n" + FICHAS)
    text_ = text_[:text_.index("forms:\n")]
    path.write_text(text_, encoding="utf-8")
    status, lines = validate(capsys, path)
    assert status == 1
    assert lines == [f"{path}:{at(text_, 'key: fichas')}: verifiers[0]: sus fichas se hacen "
                     "con un formulario: agrégalo en «forms:» y nómbralo aquí en «form:»"]
    # A programme's kept copy of such a template stays readable.
    kept = parse_template(text_)
    assert kept.intake_forms == ("ficha_interes",)


# --------------------------------------------------------------------------- migration 0015


async def test_an_unreadable_shipped_form_stops_the_upgrade_naming_it(
        any_db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = db.create_engine(any_db_url)
    try:
        await db.upgrade(engine, "0013")
        broken_forms = tmp_path / "forms"
        shutil.copytree(forms_module.FORMS_DIR, broken_forms)
        (broken_forms / "declaracion_compromiso.yaml").write_text("key: [", encoding="utf-8")
        monkeypatch.setattr(forms_module, "FORMS_DIR", broken_forms)
        with pytest.raises(FormError) as info:
            await db.upgrade(engine)
        assert info.value.source == str(broken_forms / "declaracion_compromiso.yaml")
        assert await db.pending_migrations(engine)
    finally:
        await engine.dispose()


def test_db_upgrade_says_which_form_stopped_it(cli_env: str, tmp_path: Path, capsys,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    broken_forms = tmp_path / "forms"
    shutil.copytree(forms_module.FORMS_DIR, broken_forms)
    (broken_forms / "ficha_interes.yaml").unlink()
    monkeypatch.setattr(forms_module, "FORMS_DIR", broken_forms)
    assert main(["db", "upgrade"]) != 0
    err = capsys.readouterr().err
    assert "La base de datos no se actualizó" in err
    assert f"{broken_forms / 'ficha_interes.yaml'}: no hay un formulario «ficha_interes»" in err
    assert "Traceback" not in err


# --------------------------------------------------------------------------- nits


def test_a_representatives_cedula_is_not_an_organisations_number() -> None:
    from documents.imports import FAMILY, ORGANIZATION, _map_columns

    org = _map_columns(ORGANIZATION, ["Nombre", "CI representante", "Cédula", "Celular"])
    assert "rut" not in org.by_field
    assert _map_columns(ORGANIZATION, ["Nombre", "RUT"]).by_field["rut"] == [1]
    assert _map_columns(FAMILY, ["Nombre", "Cédula"]).by_field["rut"] == [1]
    assert _map_columns(FAMILY, ["Nombre", "CI"]).by_field["rut"] == [1]


def test_a_choice_from_bodies_asks_for_one_option_in_words() -> None:
    from domain.forms import parse_form

    text_ = ("key: prueba\nreceipt_prefix: PR\ntitle: {es: P, en: P}\nquestions:\n"
             "  - {key: a, type: choice, options_from: bodies, label: {es: A, en: A},"
             " prompt: {es: A, en: A}}\n")
    with pytest.raises(FormError) as info:
        parse_form(text_, "prueba.yaml")
    [line] = info.value.lines_in(Catalogs(), "es")
    assert line.endswith("questions[0].options: pon al menos 1")
