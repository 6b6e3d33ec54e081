"""An organisation's number is its own, not a person's: a Uruguayan organisation has a RUT
(21-100342-001-7, stdnum.uy.rut) while its people have a cédula; a Chilean one a RUT, read
as before. The ficha's question, the organisations import and the catastro all read it."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from documents import imports
from domain.countries import COUNTRIES
from domain.forms import (
    AnswerError,
    FormError,
    load_form,
    parse_answer,
    parse_form,
    plain_value,
)
from handlers.admin.catastro import FAMILY_FIELDS, ORG_FIELDS, parse_value
from locales import Catalogs, Msg, Raw
from storage import imported, programs
from storage.models import Organization

UY, CL = COUNTRIES["UY"], COUNTRIES["CL"]
TODAY = date(2026, 9, 7)
UY_RUT = "21-100342-001-7"
UY_CEDULA = "1.234.567-2"
CL_RUT = "65.123.456-5"


def _org_question():
    return load_form("ficha_interes").question("organization_rut")


def test_a_uruguayan_organisation_gives_its_rut_and_not_a_cedula() -> None:
    q = _org_question()
    for typed in (UY_RUT, "211003420017", "UY 21 100342 001 7"):
        assert parse_answer(q, typed, today=TODAY, country=UY) == {
            "compact": "211003420017", "formatted": UY_RUT}
    with pytest.raises(AnswerError) as wrong:
        parse_answer(q, UY_CEDULA, today=TODAY, country=UY)
    assert wrong.value.message == Msg("country.uy.org_form_wrong")
    text = Catalogs().render(wrong.value.message, "es-UY")
    assert "organización" in text and UY_RUT in text


def test_a_chilean_organisation_is_read_as_before() -> None:
    q = _org_question()
    assert parse_answer(q, "65123456-5", today=TODAY, country=CL) == {
        "compact": "651234565", "formatted": CL_RUT}
    assert parse_answer(q, "65123456-5", today=TODAY) == {
        "compact": "651234565", "formatted": CL_RUT}
    with pytest.raises(AnswerError) as wrong:
        parse_answer(q, UY_RUT, today=TODAY, country=CL)
    assert wrong.value.message == Msg("form.error.rut")


FORM = """\
key: prueba
receipt_prefix: PR
title: {{es: Prueba, en: Test}}
questions:
  - key: numero
    type: {type}
    {updates}
    label: {{es: Número, en: Number}}
    prompt: {{es: ¿Número?, en: Number?}}
"""


def test_a_rut_question_that_keeps_the_organisations_rut_reads_the_organisations_number(
) -> None:
    # Forms written for Chile say ``type: rut``: in Uruguay, where it keeps the
    # organisation's RUT it reads that, and elsewhere a person's cédula.
    keeps = parse_form(FORM.format(type="rut", updates="updates: rut")).question("numero")
    person = parse_form(FORM.format(type="rut", updates="")).question("numero")
    assert parse_answer(keeps, UY_RUT, today=TODAY, country=UY)["formatted"] == UY_RUT
    assert parse_answer(person, UY_CEDULA, today=TODAY, country=UY)["formatted"] == UY_CEDULA
    with pytest.raises(AnswerError):
        parse_answer(person, UY_RUT, today=TODAY, country=UY)
    with pytest.raises(FormError, match="'rut' takes answers of type org_tax_id or rut"):
        parse_form(FORM.format(type="national_id", updates="updates: rut"))


def test_the_catastro_asks_an_organisation_for_its_rut_and_a_family_for_its_cedula() -> None:
    org_rut = next(f for f in ORG_FIELDS if f.name == "rut")
    family_rut = next(f for f in FAMILY_FIELDS if f.name == "rut")
    assert parse_value(org_rut, UY_RUT, UY) == (UY_RUT, None)
    assert parse_value(org_rut, UY_CEDULA, UY) == (
        None, Msg("country.uy.org_catastro_wrong", {"value": Raw(UY_CEDULA)}))
    assert parse_value(family_rut, "12345672", UY) == (UY_CEDULA, None)
    assert parse_value(family_rut, UY_RUT, UY)[0] is None
    # Chile: one RUT for both, with the words it always had.
    assert parse_value(org_rut, "651234565", CL) == (CL_RUT, None)
    assert parse_value(family_rut, "651234565", CL) == (CL_RUT, None)
    assert parse_value(org_rut, UY_RUT, CL) == (
        None, Msg("catastro.bad.rut", {"value": Raw(UY_RUT)}))
    assert UY.organization_number.catastro_ask != UY.national_id.catastro_ask
    assert CL.organization_number.catastro_ask == CL.national_id.catastro_ask


def test_every_word_an_organisation_number_names_is_in_both_catalogs() -> None:
    catalogs = Catalogs()
    for profile in COUNTRIES.values():
        n = profile.organization_number
        keys = [n.name, n.form_wrong, n.import_wrong, n.catastro_ask, n.catastro_wrong]
        for loc in ("es", "en"):
            assert [k for k in keys if catalogs.raw(loc, k) is None] == [], (profile.code, loc)


ORGS = [["Organización", "RUT", "Teléfono"],
        ["Cooperativa Las Piedras", UY_RUT, "099 123 456"],
        ["Club Social Pando", UY_CEDULA, ""],
        ["Junta Villa Alegre", CL_RUT, "9 1234 5678"]]


async def test_an_organisations_import_reads_each_countrys_organisation_number(
        sessions, clock) -> None:
    content = "\r\n".join(",".join(r) for r in ORGS).encode()
    now = clock.now()
    async with sessions() as s:
        uy = await programs.create(s, template="economia-solidaria-canelones",
                                   start=now.date(), name="Canelones", now=now)
        cl = await programs.create(s, template="ecomercado-10m", start=now.date(),
                                   name="Quilpué", now=now)
        in_uy = await imports.preview_organizations(s, uy.id, "orgs.csv", content, now)
        in_cl = await imports.preview_organizations(s, cl.id, "orgs.csv", content, now)
        piedras, pando, villa = in_uy.rows
        assert piedras.values["rut"] == UY_RUT and piedras.problems == []
        assert pando.problems == [Msg("country.uy.org_import_wrong",
                                      {"value": Raw(UY_CEDULA)})]
        assert villa.problems == [Msg("country.uy.org_import_wrong", {"value": Raw(CL_RUT)})]
        # Chile: its RUT as before; Uruguay's numbers are no RUT there.
        assert [r.values["rut"] for r in in_cl.rows] == [None, None, CL_RUT]
        assert [r.problems[:1] for r in in_cl.rows] == [
            [Msg("imports.problem.bad_rut", {"value": Raw(UY_RUT)})],
            [Msg("imports.problem.bad_rut", {"value": Raw(UY_CEDULA)})], []]
        # The 15 characters fit the column (migration 0016), on PostgreSQL too.
        await imported.commit_import(s, in_uy, now)
        await s.commit()
    async with sessions() as s:
        kept = await s.scalar(select(Organization.rut).where(
            Organization.program_id == uy.id, Organization.rut.is_not(None)))
        assert kept == UY_RUT


def test_uruguay_reads_its_own_phone_examples_and_dates() -> None:
    catalogs = Catalogs()
    family = Msg("catastro.kind.family")
    for key in ("layout.phone_typed", "adm_meet.err_guest_phone"):
        assert "099 123 456" in catalogs.render(Msg(key), "es-UY")
        assert "9 1234 5678" in catalogs.render(Msg(key), "es")
    assert "099 123 456" in catalogs.render(Msg("catastro.ask.phone", {"kind": family}), "es-UY")
    q = load_form("ficha_interes").question("representative_rut")
    day = parse_form(FORM.format(type="date", updates="")).question("numero")
    assert plain_value(day, "2026-12-07", "es-UY") == "7/12/2026"
    assert plain_value(day, "2026-12-07", "es") == "07-12-2026"
    assert plain_value(q, {"compact": "12345672", "formatted": UY_CEDULA}, "es-UY") == UY_CEDULA


def test_a_documents_language_may_be_uruguays() -> None:
    from bot.cli import _parser

    for argv in (["export", "fichas", "--out", "x"], ["verificadores", "--out", "x"],
                 ["import", "organizations", "x.csv"], ["timeline"]):
        assert _parser().parse_args([*argv, "--locale", "es-UY"]).locale == "es-UY"
