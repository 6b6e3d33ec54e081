"""Which form a body's members sign their declaration on: the Ecomercado's
``declaracion_compromiso`` keeps its official words; the other programmes' members sign
``declaracion_integrantes``, which names the programme, because their template's
``member_declarations`` verifier names it (``form:``)."""

from __future__ import annotations

import json

import pytest
from test_program_templates import at

from documents.verificadores import made_from
from domain.forms import FORMS_DIR, load_form
from domain.program_templates import (
    TEMPLATES_DIR,
    TemplateError,
    load_template,
    stored_template,
    template_to_store,
)
from domain.template_library import load_template_file
from locales import Catalogs

SEEDS = ("infraestructura-rural", "fortalecimiento-cooperativas",
         "economia-solidaria-canelones")
FORMS = {p.stem for p in FORMS_DIR.glob("*.yaml")}


def test_each_programme_declares_on_its_own_form() -> None:
    for key in ("ecomercado-10m", "ecomercado-15m"):
        tpl = load_template(key)
        assert tpl.declaration_forms == ("declaracion_compromiso",)
        assert tpl.verifier_form("declaracion_compromiso") == "declaracion_compromiso"
    for key in SEEDS:
        tpl = load_template(key)
        assert tpl.declaration_forms == ("declaracion_integrantes",)
        assert tpl.verifier_form("declaracion_compromiso") == "declaracion_integrantes"
        assert tpl.declaration_verifier() == "declaracion_compromiso"
        assert tpl.intake_forms != tpl.declaration_forms


def test_the_ecomercado_declaration_keeps_its_official_words() -> None:
    official = load_form("declaracion_compromiso")
    assert official.receipt_prefix == "DC"
    for locale in ("es", "es-UY"):
        text = official.declaration.text[locale]
        assert "integrante del {body} del Ecomercado Solidario, me comprometo" in text
        assert "{program}" not in text
    assert "Solidarity Ecomarket" in official.declaration.text["en"]
    assert "del Ecomercado Solidario" in official.intro["es"]

    generic = load_form("declaracion_integrantes")
    assert generic.receipt_prefix == "DI"
    assert generic.question("body").options_from == "bodies"
    for locale in ("es", "en", "es-UY"):
        assert "{program}" in generic.declaration.text[locale]
        assert "Ecomercado" not in generic.declaration.text[locale]


def _rural(tmp_path, old: str, new: str):
    text = (TEMPLATES_DIR / "infraestructura-rural.yaml").read_text(encoding="utf-8")
    assert old in text
    text = text.replace(old, new, 1)
    path = tmp_path / "infraestructura-rural.yaml"
    path.write_text(text, encoding="utf-8")
    return text, path


def _problem(path, text: str) -> tuple[str, str]:
    with pytest.raises(TemplateError) as info:
        load_template_file(path, forms=FORMS, documents=made_from())
    [problem] = info.value.lines_in(Catalogs(), "en")
    return problem, text


@pytest.mark.parametrize(("old", "new", "needle", "message"), [
    # Named, but not among the programme's forms.
    ("    form: declaracion_integrantes\n", "    form: declaracion_compromiso\n",
     "form: declaracion_compromiso\n",
     "verifiers[4].form: form 'declaracion_compromiso' is not in the template's forms: "
     "(postulacion_comunidad, declaracion_integrantes)"),
    # Not named: the Ecomercado's, which the template does not list.
    ("    # The Ecomercado's declaration names its own programme: this one names ours.\n"
     "    form: declaracion_integrantes\n", "", "document: member_declarations",
     "verifiers[4].document: the document 'member_declarations' is made from the form "
     "'declaracion_compromiso': add it under 'forms:'"),
])
def test_a_wrong_declaration_form_is_named_at_its_line(tmp_path, old, new, needle,
                                                        message) -> None:
    text, path = _rural(tmp_path, old, new)
    problem, _ = _problem(path, text)
    line, _ = at(text, needle).split(":")
    assert problem.startswith(f"{path}:{line}:") and problem.endswith(message), problem


def test_a_form_on_another_document_is_refused(tmp_path) -> None:
    text, path = _rural(tmp_path, "    document: constitution_acta\n",
                        "    document: constitution_acta\n    form: declaracion_integrantes\n")
    problem, _ = _problem(path, text)
    assert problem.endswith("only a 'fichas' or 'member_declarations' verifier is made from "
                            "a form; take out 'form:'"), problem


def test_a_programme_kept_before_keeps_the_ecomercado_declaration() -> None:
    """A programme made from a seed template before its verifier named a form kept
    `declaracion_compromiso` among its forms: it reads as that, nothing to migrate."""
    data = json.loads(template_to_store(load_template("infraestructura-rural")))
    for verifier in data["verifiers"]:
        verifier["form"] = None
    for use in data["forms"]:
        if use["form"] == "declaracion_integrantes":
            use["form"] = "declaracion_compromiso"
    kept = stored_template(json.dumps(data))
    assert kept.declaration_forms == ("declaracion_compromiso",)
    assert kept.verifier_form("declaracion_compromiso") == "declaracion_compromiso"
