"""Forms as data: the YAML schema, every question type's reading of typed answers, and
conditions; the shipped Ficha de Interés in both languages."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from domain import forms, names
from domain.forms import AnswerError, FormError, Question, load_form, parse_answer, parse_form
from locales import Catalogs
from storage import responses
from storage.db import create_engine, session_factory, upgrade
from storage.models import FormDefinition, FormResponse, FormStatus

TODAY = date(2026, 3, 2)

BASE: dict[str, Any] = {
    "key": "prueba",
    "receipt_prefix": "PR",
    "title": {"es": "Prueba", "en": "Test"},
    "questions": [
        {"key": "nombre", "type": "text", "label": {"es": "Nombre", "en": "Name"},
         "prompt": {"es": "¿Nombre?", "en": "Name?"}},
    ],
}


def form_with(*questions: dict[str, Any], **top: Any) -> dict[str, Any]:
    data = {**BASE, **top}
    data["questions"] = [
        {"label": {"es": q["key"], "en": q["key"]}, "prompt": {"es": "¿?", "en": "?"}, **q}
        for q in questions
    ]
    return data


def q(type_: str, **kw: Any) -> Question:
    return Question.model_validate({
        "key": "x", "type": type_, "label": {"es": "X", "en": "X"},
        "prompt": {"es": "¿X?", "en": "X?"}, **kw,
    })


def error_of(question: Question, text: str) -> str:
    with pytest.raises(AnswerError) as info:
        parse_answer(question, text, today=TODAY)
    return info.value.message.key


# --------------------------------------------------------------------------- schema


def test_the_ficha_loads_and_asks_what_the_programme_needs() -> None:
    form = load_form("ficha_interes")
    keys = [q.key for q in form.questions]
    assert keys[:5] == ["organization_name", "organization_kind", "organization_kind_other",
                        "formalized", "organization_rut"]
    assert {"sector", "members_count", "representative_name", "representative_role",
            "representative_phone", "representative_email", "participation",
            "available_days", "available_times"} <= set(keys)
    kinds = [o.key for o in form.question("organization_kind").options]
    assert kinds == ["junta_vecinos", "adulto_mayor", "comite", "cooperativa",
                     "sindicato_feria", "ong", "otra"]
    assert not form.question("representative_email").required
    assert form.declaration is not None and form.declaration.signer == "representative_name"
    assert "ficha_interes" in forms.available_forms()


def test_every_text_of_every_shipped_form_is_in_spanish_and_english() -> None:
    for key in forms.available_forms():
        form = load_form(key)
        texts = list(form.texts())
        assert len(texts) > 40 if key == "ficha_interes" else texts
        for where, text in texts:
            assert text["es"].strip() and text["en"].strip(), where
        assert forms.missing_languages(form) == []


def test_a_missing_language_is_refused_naming_file_and_field() -> None:
    data = form_with({"key": "a", "type": "text", "prompt": {"es": "¿A?"}})
    with pytest.raises(FormError) as info:
        parse_form(data, "mi_form.yaml")
    assert "mi_form.yaml: questions[0].prompt: missing translation(s): en" in \
        "\n".join(info.value.lines_in(Catalogs(), "en"))


def test_unknown_fields_and_misplaced_options_are_refused() -> None:
    data = form_with({"key": "a", "type": "text", "colour": "red"},
                     {"key": "b", "type": "number", "options": []})
    with pytest.raises(FormError) as info:
        parse_form(data, "f.yaml")
    text = "\n".join(info.value.lines_in(Catalogs(), "en"))
    assert "f.yaml: questions[0].colour: unknown field" in text
    assert "questions[1].options: only for questions of type choice or multi_choice" in text


def test_an_answer_may_keep_an_organisation_field_of_its_kind_up_to_date() -> None:
    ok = parse_form(form_with({"key": "a", "type": "number", "updates": "members_count"}))
    assert ok.questions[0].updates == "members_count"
    data = form_with({"key": "a", "type": "text", "updates": "colour"},
                     {"key": "b", "type": "text", "updates": "members_count"})
    with pytest.raises(FormError) as info:
        parse_form(data, "f.yaml")
    text = str(info.value)
    assert "questions[0].updates: not an organisation field; one of kind, rut" in text
    assert "questions[1].updates: 'members_count' takes answers of type number" in text


def test_yaml_errors_and_duplicate_keys_are_reported_with_a_line() -> None:
    with pytest.raises(FormError) as info:
        parse_form("key: a\nkey: b\n", "dup.yaml")
    assert str(info.value).startswith("dup.yaml:2:1: ") and "duplicate key" in str(info.value)


@pytest.mark.parametrize(
    ("when", "problem"),
    [
        ({"question": "later", "equals": "x"}, "is not a question asked before this one"),
        ({"question": "kind", "equals": "nope"}, "not an option of 'kind': nope"),
        ({"question": "ok", "equals": "yes"}, "compare with true or false"),
        ({"question": "kind", "equals": "a", "in": ["b"]}, "exactly one of 'equals' or 'in'"),
        ({"question": "name", "equals": "x"}, "conditions can only test"),
    ],
)
def test_conditions_must_point_back_at_a_fitting_answer(when: dict, problem: str) -> None:
    data = form_with(
        {"key": "name", "type": "text"},
        {"key": "kind", "type": "choice", "options": [
            {"key": "a", "label": {"es": "A", "en": "A"}},
            {"key": "b", "label": {"es": "B", "en": "B"}}]},
        {"key": "ok", "type": "yes_no"},
        {"key": "cond", "type": "text", "when": when},
        {"key": "later", "type": "choice", "options": [
            {"key": "x", "label": {"es": "X", "en": "X"}},
            {"key": "y", "label": {"es": "Y", "en": "Y"}}]},
    )
    with pytest.raises(FormError) as info:
        parse_form(data, "c.yaml")
    assert "questions[3].when" in str(info.value) and problem in str(info.value)


def test_declaration_placeholders_and_signer_are_checked() -> None:
    data = form_with({"key": "nombre", "type": "text", "required": False},
                     declaration={"signer": "nombre",
                                  "text": {"es": "Yo, {nombre}, de {org}", "en": "I, {nombre}"}})
    with pytest.raises(FormError) as info:
        parse_form(data, "d.yaml")
    text = str(info.value)
    assert "declaration.signer: must be a required text question" in text
    assert "declaration.text.es: {org} is not a question key" in text


def test_long_texts_must_still_fit_one_summary_message() -> None:
    data = form_with(*[{"key": f"q{i}", "type": "text", "max_length": 1000} for i in range(5)])
    with pytest.raises(FormError, match="summary must fit one message"):
        parse_form(data, "long.yaml")


def test_keys_are_short_enough_for_a_button() -> None:
    data = form_with({"key": "a" * 30, "type": "text"})
    with pytest.raises(FormError, match=r"questions\[0\]\.key"):
        parse_form(data, "k.yaml")


def test_the_file_name_must_match_the_key(tmp_path: Path) -> None:
    path = tmp_path / "otra.yaml"
    path.write_text("key: prueba\nreceipt_prefix: PR\ntitle: {es: P, en: P}\n"
                    "questions:\n  - {key: a, type: text, label: {es: A, en: A},"
                    " prompt: {es: A, en: A}}\n", encoding="utf-8")
    with pytest.raises(FormError, match="must match the file name 'otra'"):
        load_form(path)
    with pytest.raises(FormError) as info:
        load_form("no_existe")
    assert "no form 'no_existe' (known: " in info.value.lines_in(Catalogs(), "en")[0]


# --------------------------------------------------------------------------- answers


def test_text_collapses_spaces_and_says_the_limit() -> None:
    question = q("text", max_length=12)
    assert parse_answer(question, "  Villa   Ñuñoa ", today=TODAY) == "Villa Ñuñoa"
    with pytest.raises(AnswerError) as info:
        parse_answer(question, "x" * 25, today=TODAY)
    assert info.value.message.key == "form.error.too_long"
    assert info.value.message.params == {"max": 12, "count": 25}
    assert error_of(question, "🙂🙂🎉") == "form.error.letters"
    assert error_of(q("text", min_length=3), "ab") == "form.error.too_short"


@pytest.mark.parametrize("text", ["🙂", "😀😀😀", "12345", "Ana 2", "María!!"])
def test_a_name_needs_letters(text: str) -> None:
    assert error_of(q("text", format="name"), text) == "form.error.name"


def test_a_full_name_needs_a_surname_and_accepts_chilean_names() -> None:
    question = q("text", format="full_name")
    assert error_of(question, "Ana") == "form.error.full_name"
    for name in ("María José Pérez Soto", "Juan O'Ryan", "Ana-María Núñez", "Sra. Rosa Díaz"):
        assert parse_answer(question, name, today=TODAY) == name


@pytest.mark.parametrize(
    ("text", "value"),
    [("35", 35), ("unos 35", 35), ("35 socias", 35), ("1.200", 1200), ("1,200", 1200)],
)
def test_numbers_as_people_write_them(text: str, value: int) -> None:
    assert parse_answer(q("number", min=1, max=5000), text, today=TODAY) == value


def test_numbers_out_of_range_or_unclear_say_what_is_expected() -> None:
    question = q("number", min=1, max=500)
    with pytest.raises(AnswerError) as info:
        parse_answer(question, "900", today=TODAY)
    assert info.value.message.key == "form.error.number_range"
    assert info.value.message.params == {"min": 1, "max": 500}
    assert error_of(question, "0") == "form.error.number_range"
    assert error_of(question, "-3") == "form.error.number_range"
    assert error_of(question, "30 o 40") == "form.error.number"
    assert error_of(question, "treinta") == "form.error.number"
    assert error_of(question, "3,5") == "form.error.integer"
    assert error_of(q("number", min=1), "0") == "form.error.number_min"
    assert parse_answer(q("number", integer=False), "3,5", today=TODAY) == 3.5


@pytest.mark.parametrize(
    "text",
    ["07-04-2026", "7/4/2026", "07.04.26", "2026-04-07", "7 de abril", "7 de abril de 2026",
     "martes 7 de abril", "7 abril 2026", "7 abr", "7 April 2026", "April 7", "7 Apr"],
)
def test_dates_in_the_ways_people_write_them_are_stored_iso(text: str) -> None:
    assert parse_answer(q("date"), text, today=TODAY) == "2026-04-07"


def test_bad_dates_are_explained() -> None:
    assert error_of(q("date"), "mañana temprano") == "form.error.date"
    assert error_of(q("date"), "31-02-2026") == "form.error.date_missing"
    assert error_of(q("date"), "7 de abrilo de 20266") == "form.error.date"
    assert error_of(q("date", dates="past"), "07-04-2026") == "form.error.date_past"
    assert error_of(q("date", dates="future"), "07-01-2026") == "form.error.date_future"


def test_a_date_without_year_is_the_next_or_last_one_as_the_question_needs() -> None:
    assert parse_answer(q("date", dates="future"), "7 de enero", today=TODAY) == "2027-01-07"
    assert parse_answer(q("date", dates="past"), "7 de abril", today=TODAY) == "2025-04-07"
    assert parse_answer(q("date"), "7 de enero", today=TODAY) == "2026-01-07"


@pytest.mark.parametrize("text", ["9 1234 5678", "+56 9 1234 5678", "912345678",
                                  "+56912345678", "(9) 1234-5678"])
def test_phones_are_stored_in_e164(text: str) -> None:
    assert parse_answer(q("phone"), text, today=TODAY) == "+56912345678"


@pytest.mark.parametrize("text", ["123", "mi celular", "9 1234", "hola 912345678"])
def test_unreadable_phones_are_refused(text: str) -> None:
    assert error_of(q("phone"), text) == "form.error.phone"


def test_emails() -> None:
    assert parse_answer(q("email"), " Ana.Perez@Correo.CL ", today=TODAY) == \
        "Ana.Perez@correo.cl"
    for bad in ("ana", "ana@", "ana@correo", "ana perez@correo.cl", "a@@b.cl", "a..b@c.cl"):
        assert error_of(q("email"), bad) == "form.error.email", bad


@pytest.mark.parametrize("text", ["12.345.678-5", "12345678-5", "123456785", " 12 345 678 5 "])
def test_a_valid_rut_is_kept_compact_and_formatted(text: str) -> None:
    assert parse_answer(q("rut"), text, today=TODAY) == {
        "compact": "123456785", "formatted": "12.345.678-5"}


def test_a_rut_with_k_verifier_digit() -> None:
    from stdnum.cl import rut

    number = next(f"{n}" for n in range(10_000_000, 10_000_100)
                  if rut.calc_check_digit(str(n)) == "K")
    value = parse_answer(q("rut"), f"{number}-k", today=TODAY)
    assert value["compact"].endswith("K") and value["formatted"].endswith("-K")


@pytest.mark.parametrize("text", ["12.345.678-9", "12345", "abc", "11.111.111-2"])
def test_an_invalid_rut_is_refused_with_an_example(text: str) -> None:
    assert error_of(q("rut"), text) == "form.error.rut"
    rendered = Catalogs().render(AnswerError(forms.Msg("form.error.rut")).message, "es")
    assert rendered == "El RUT no es válido. Escríbelo así: 12.345.678-5"


def test_button_questions_do_not_take_typed_answers_here() -> None:
    for kind in ("yes_no", "choice", "multi_choice"):
        extra = {"options": [{"key": "a", "label": {"es": "A", "en": "A"}},
                             {"key": "b", "label": {"es": "B", "en": "B"}}]} \
            if kind != "yes_no" else {}
        assert error_of(q(kind, **extra), "sí") == "form.error.use_buttons"


def test_signature_names_compare_without_case_accents_or_spacing() -> None:
    assert names.name_key("  MARIA  jose PÉREZ ") == names.name_key("María José Pérez")
    assert names.name_key("María Pérez") != names.name_key("María Pérez Soto")
    assert names.name_key("🙂") == ""


# --------------------------------------------------------------------------- conditions


def test_rut_is_asked_only_when_formalised_and_other_kind_only_for_otra() -> None:
    form = load_form("ficha_interes")
    rut, other = form.question("organization_rut"), form.question("organization_kind_other")
    assert not form.applies(rut, {})
    assert form.applies(rut, {"formalized": True})
    assert not form.applies(rut, {"formalized": False})
    assert form.applies(other, {"organization_kind": "otra"})
    assert not form.applies(other, {"organization_kind": "ong"})


def test_walking_the_ficha_respects_conditions() -> None:
    form = load_form("ficha_interes")
    answers = {"organization_name": "Junta Villa Ñuñoa", "organization_kind": "junta_vecinos",
               "formalized": False}
    assert form.next_unanswered(answers).key == "sector"
    # Going back from "sector" skips the RUT, which was never asked.
    assert form.previous("sector", answers).key == "formalized"
    # Formalised: the RUT, then the registration number (optional), then the sector.
    assert form.previous("sector", {**answers, "formalized": True}).key == \
        "registration_number"
    assert form.previous("registration_number", {**answers, "formalized": True}).key == \
        "organization_rut"
    assert form.previous("organization_name", answers) is None
    # The representative's RUT is asked right after their name.
    assert form.previous("representative_rut", answers).key == "representative_name"
    n, total = form.progress("sector", answers)
    assert (n, total) == (4, 13)
    assert form.progress("sector", {**answers, "formalized": True}) == (6, 15)
    # A RUT given before saying "not formalised" does not survive submission.
    assert "organization_rut" not in form.pruned(
        {**answers, "organization_rut": {"compact": "1", "formatted": "1"}})


def test_in_conditions_and_multi_choice_answers() -> None:
    data = form_with(
        {"key": "modes", "type": "multi_choice", "options": [
            {"key": "a", "label": {"es": "A", "en": "A"}},
            {"key": "b", "label": {"es": "B", "en": "B"}},
            {"key": "c", "label": {"es": "C", "en": "C"}}]},
        {"key": "why", "type": "text", "when": {"question": "modes", "in": ["b", "c"]}},
    )
    form = parse_form(data)
    why = form.question("why")
    assert form.applies(why, {"modes": ["a", "c"]})
    assert not form.applies(why, {"modes": ["a"]})
    assert not form.applies(why, {"modes": None})


def test_the_declaration_names_the_answers() -> None:
    form = load_form("ficha_interes")
    answers = {"representative_name": "Rosa Díaz", "representative_role": "presidenta",
               "organization_name": "Club Los Aromos"}
    text = form.declaration_text(answers, "es", program="Ecomercado Solidario Quilpué")
    assert text.startswith("Yo, Rosa Díaz, presidenta de Club Los Aromos, declaro")
    assert form.declaration_text(answers, "en", program="").startswith("I, Rosa Díaz, presidenta of Club")


# --------------------------------------------------------------------------- storage


async def test_definitions_are_versioned_and_answers_exported(any_db_url: str) -> None:
    engine = create_engine(any_db_url)
    await upgrade(engine)
    sessions = session_factory(engine)
    now = datetime(2026, 3, 2, 12, tzinfo=UTC)
    form = load_form("ficha_interes")
    try:
        async with sessions() as s:
            first = await responses.ensure_definition(s, form, now)
            again = await responses.ensure_definition(s, form, now)
            assert again.id == first.id and first.version == 1
            changed = form.model_copy(update={"receipt_prefix": "FX"})
            second = await responses.ensure_definition(s, changed, now)
            assert second.version == 2
            assert responses.form_of(first) == form
            response = await responses.start_response(s, first, person_id=None, organization_id=None,
                                                      now=now)
            answers = {"organization_name": "Club Los Aromos", "organization_kind": "otra",
                       "organization_kind_other": "Agrupación cultural", "formalized": True,
                       "organization_rut": {"compact": "123456785",
                                            "formatted": "12.345.678-5"},
                       "members_count": 1200, "representative_phone": "+56987654321",
                       "representative_email": None, "participation": ["grupo_motor", "difusion"]}
            for key, value in answers.items():
                responses.set_answer(response, key, value, now)
            await s.commit()
            rows = await responses.answers_for_export(s, response.id)
            by_key = {k: (label, value) for k, label, value in rows}
            assert [k for k, _, _ in rows][:5] == ["organization_name", "organization_kind",
                                                   "organization_kind_other", "formalized",
                                                   "organization_rut"]
            assert by_key["organization_kind"] == ("Tipo de organización", "Otra")
            assert by_key["formalized"] == ("Con personalidad jurídica", "Sí")
            assert by_key["organization_rut"][1] == "12.345.678-5"
            assert by_key["members_count"][1] == "1.200"
            assert by_key["representative_phone"][1] == "+56 9 8765 4321"
            assert by_key["representative_email"][1] == "(sin respuesta)"
            assert by_key["sector"][1] == "(sin respuesta)"
            assert by_key["participation"][1] == "Grupo Motor, Difusión"
            english = {k: v for k, _, v in await responses.answers_for_export(s, response.id, "en")}
            assert english["formalized"] == "Yes" and english["members_count"] == "1,200"
            assert english["participation"] == "Core Group, Spreading the word"
            stored = await s.get(FormResponse, response.id)
            assert stored.status == FormStatus.DRAFT
            assert (await s.get(FormDefinition, stored.form_id)).key == "ficha_interes"
    finally:
        await engine.dispose()


async def test_versions_of_a_response_stay_one_line(any_db_url: str) -> None:
    """Drafts, the valid version, corrections (even two at once) and co-sign codes."""
    from storage import people, programs
    from storage.models import Organization

    engine = create_engine(any_db_url)
    await upgrade(engine)
    sessions = session_factory(engine)
    now = datetime(2026, 3, 2, 12, tzinfo=UTC)
    form = load_form("ficha_interes")
    try:
        async with sessions() as s:
            program = await programs.create(s, template="ecomercado-10m", start=now.date(),
                                            name="P", now=now)
            org = Organization(program_id=program.id, name="Club", created_at=now)
            s.add(org)
            ana = await people.create_with_address(s, "telegram", "1", now, name="Ana")
            beto = await people.create_with_address(s, "telegram", "2", now, name="Beto")
            definition = await responses.ensure_definition(s, form, now)
            first = await responses.start_response(s, definition, person_id=ana.id,
                                                   organization_id=org.id, now=now)
            responses.set_answer(first, "sector", "Centro", now)
            assert (await responses.draft_for(s, ana.id, "ficha_interes")).id == first.id
            assert await responses.draft_for(s, beto.id, "ficha_interes") is None
            await responses.submit(s, first, form, person_id=ana.id, signed_name="Ana Rojas",
                                   now=now)
            assert await responses.draft_for(s, ana.id, "ficha_interes") is None
            found = await responses.submitted_for(s, "ficha_interes", person_id=beto.id,
                                                  organization_id=org.id)
            assert found.id == first.id
            code = await responses.cosign_code(s, first, program.id, now)
            assert await responses.cosign_code(s, first, program.id, now) == code

            # Two representatives correct the same version at once.
            by_ana = await responses.start_response(s, definition, person_id=ana.id,
                                                    organization_id=None, now=now, supersedes=first)
            by_beto = await responses.start_response(s, definition, person_id=beto.id,
                                                     organization_id=None, now=now, supersedes=first)
            assert by_ana.organization_id == org.id and by_ana.answers == {"sector": "Centro"}
            assert first.status == FormStatus.SUBMITTED  # valid until a correction is sealed
            await responses.submit(s, by_ana, form, person_id=ana.id, signed_name="Ana Rojas",
                                   now=now)
            await responses.submit(s, by_beto, form, person_id=beto.id, signed_name="Beto Díaz",
                                   now=now)
            assert [first.status, by_ana.status, by_beto.status] == [
                FormStatus.SUPERSEDED, FormStatus.SUPERSEDED, FormStatus.SUBMITTED]
            assert (by_ana.version, by_ana.supersedes_id) == (2, first.id)
            assert (by_beto.version, by_beto.supersedes_id) == (3, by_ana.id)
            assert (await responses.current_version(s, first)).id == by_beto.id
            assert [x.signed_name for x in await responses.signatures(s, first.id)] == ["Ana Rojas"]
            assert await responses.has_signed(s, by_beto.id, beto.id)
            assert not await responses.has_signed(s, by_beto.id, ana.id)
            await s.commit()
    finally:
        await engine.dispose()
