"""Which form a programme's fichas are made from: a template's ``fichas`` verifier names it
(``form:``), one of the template's ``forms:``; without it the Ficha de Interés, so the
Ecomercado templates and programmes made before read as they did."""

from __future__ import annotations

import json

import pytest
from test_program_templates import RURAL, at, write

from domain.program_templates import (
    TemplateError,
    load_template,
    parse_template,
    stored_template,
    template_to_store,
)
from domain.template_library import load_template_file
from locales import Catalogs

FORMS = {"ficha_interes", "postulacion_comunidad", "declaracion_compromiso"}

INTAKE = RURAL.replace(
    "  - key: informe_anual\n",
    "  - key: postulaciones\n"
    "    document: fichas\n"
    "    form: postulacion_comunidad\n"
    "    name: {es: Postulaciones, en: Applications}\n"
    "  - key: informe_anual\n", 1,
).replace("verifiers: [mapa_territorios]", "verifiers: [mapa_territorios, postulaciones]") + (
    "forms:\n"
    "  - form: postulacion_comunidad\n"
    "    command: postular\n"
    "  - form: declaracion_compromiso\n")


def test_the_shipped_templates_name_their_intake_form() -> None:
    assert load_template("ecomercado-10m").intake_forms == ("ficha_interes",)
    assert load_template("ecomercado-15m").intake_forms == ("ficha_interes",)
    assert load_template("infraestructura-rural").intake_forms == ("postulacion_comunidad",)
    assert load_template("fortalecimiento-cooperativas").intake_forms == ("ficha_cooperativa",)
    assert load_template("economia-solidaria-canelones").intake_forms == (
        "registro_cooperativa",)
    tpl = load_template("infraestructura-rural")
    assert tpl.verifier_form("postulaciones_comunidades") == "postulacion_comunidad"


def test_a_verifier_names_its_form(tmp_path) -> None:
    tpl = load_template_file(write(tmp_path, INTAKE), forms=FORMS)
    assert tpl.intake_forms == ("postulacion_comunidad",)
    # The programme's kept copy says the same; a copy kept before verifiers named a form
    # (no `form` at all) reads as the Ficha de Interés.
    assert stored_template(template_to_store(tpl)).intake_forms == ("postulacion_comunidad",)
    old = json.loads(template_to_store(load_template("ecomercado-15m")))
    for verifier in old["verifiers"]:
        del verifier["form"]
    assert stored_template(json.dumps(old)).intake_forms == ("ficha_interes",)
    # No fichas verifier at all: the Ficha de Interés, as before.
    assert load_template_file(write(tmp_path, RURAL), forms=FORMS).intake_forms == (
        "ficha_interes",)


@pytest.mark.parametrize(("change", "needle", "message"), [
    (("form: postulacion_comunidad\n    name", "form: ficha_interes\n    name"),
     "form: ficha_interes", "verifiers[3].form: form 'ficha_interes' is not in the "
     "template's forms: (postulacion_comunidad, declaracion_compromiso)"),
    (("    document: fichas\n", ""), "form: postulacion_comunidad",
     "verifiers[3].form: only a 'fichas' or 'member_declarations' verifier is made from a "
     "form; take out 'form:'"),
    (("    form: postulacion_comunidad\n    name", "    name"), "key: postulaciones",
     "verifiers[3]: name the form its fichas are made from (form: one of "
     "postulacion_comunidad, declaracion_compromiso); without it they are 'ficha_interes', "
     "which forms: does not list"),
])
def test_a_wrong_intake_form_is_named_at_its_line(tmp_path, change, needle, message) -> None:
    text = INTAKE.replace(*change)
    path = write(tmp_path, text)
    with pytest.raises(TemplateError) as info:
        load_template_file(path, forms=FORMS)
    line, _ = at(text, needle).split(":")
    [problem] = info.value.lines_in(Catalogs(), "en")
    assert problem.startswith(f"{path}:{line}:") and problem.endswith(message), problem


def test_a_kept_copy_is_read_whatever_its_forms() -> None:
    """The check of the default form is made where a file is read, never on a programme's
    kept copy: a programme made from a template that lacked `form:` stays readable."""
    data = json.loads(template_to_store(load_template("fortalecimiento-cooperativas")))
    for verifier in data["verifiers"]:
        verifier["form"] = None
    assert parse_template(data).intake_forms == ("ficha_interes",)
