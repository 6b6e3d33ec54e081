"""Kinds of organisation are a closed list, chosen with buttons and shown in words everywhere
(issue 10): the panel, imports (words or codes, any case or accents), the documents."""

from __future__ import annotations

import csv
import io

from openpyxl import load_workbook
from sqlalchemy import select
from test_admin_catastro_telegram import open_catastro
from test_admin_outreach_support import (
    GESTORA,
    add_gestora,
    add_organization,
    seed_program,
    send_document,
)

from documents import exports, imports
from domain import catastro, forms, org_kinds
from storage.models import Organization
from telegram_harness import Running, labels_of

KIND_BUTTONS_ES = ["Junta de vecinos", "Club de adulto mayor", "Comité", "Cooperativa",
                   "Sindicato de feria libre", "ONG", "Otra"]


def test_the_list_is_the_fichas_and_reads_what_people_write() -> None:
    question = forms.load_form("ficha_interes").question("organization_kind")
    assert tuple(o.key for o in question.options) == org_kinds.KINDS
    for written, code in [("Junta de Vecinos", "junta_vecinos"), ("JJVV", "junta_vecinos"),
                          ("junta_de_vecinos", "junta_vecinos"),
                          ("CLUB DE ADULTO MAYOR", "adulto_mayor"),
                          ("club_adulto_mayor", "adulto_mayor"), ("Comité", "comite"),
                          ("comite de vivienda", "comite"), ("ong", "ong"),
                          ("Senior citizens' club", "adulto_mayor"), ("Otra", "otra")]:
        assert org_kinds.kind_code(written) == code, written
    assert org_kinds.kind_code("Centro de madres") is None
    assert org_kinds.kind_code("  ") is None


async def test_the_kind_is_chosen_with_buttons_and_shown_in_words(tg: Running) -> None:
    program_id = await seed_program(tg)
    await add_gestora(tg)
    # An older version kept the raw code; the card must still read in words.
    org_id = await add_organization(tg, program_id, "Club Los Aromos", kind="club_adulto_mayor")
    await open_catastro(tg)
    await tg.press(GESTORA, "✏️ Editar organización")
    [card] = await tg.press(GESTORA, "Club Los Aromos")
    assert "Tipo: Club de adulto mayor" in card["text"]
    assert "club_adulto_mayor" not in card["text"]
    current, ask = await tg.press(GESTORA, "Tipo", count=2)
    assert current["text"] == "Tipo ahora: Club de adulto mayor"
    assert labels_of(ask)[:7] == KIND_BUTTONS_ES
    [again] = await tg.send(GESTORA, "club de rayuela")
    assert "No conozco el tipo «club de rayuela»" in again["text"]
    saved, card = await tg.send(GESTORA, "jjvv", count=2)
    assert "Tipo: Junta de vecinos" in card["text"]
    await tg.press(GESTORA, "Tipo", count=2)
    saved, card = await tg.press(GESTORA, "Sindicato de feria libre", count=2)
    assert saved["text"] == "✅ Guardado."
    assert "Tipo: Sindicato de feria libre" in card["text"]
    async with tg.app.sessions() as s:
        assert (await s.get(Organization, org_id)).kind == "sindicato_feria"


async def test_a_new_organisation_picks_its_kind(tg: Running) -> None:
    await seed_program(tg)
    await add_gestora(tg, "en")
    await open_catastro(tg, "en")
    await tg.press(GESTORA, "➕ Organisation")
    await tg.send(GESTORA, "Cooperativa La Huerta")
    for _ in range(5):
        [ask] = await tg.press(GESTORA, "⏭️ Skip")
    assert labels_of(ask)[:7] == ["Neighbourhood council", "Senior citizens' club",
                                  "Committee", "Cooperative", "Street-market union", "NGO",
                                  "Other"]
    await tg.press(GESTORA, "Cooperative")
    created, card = await tg.send(GESTORA, "35", count=2)
    assert "Type: Cooperative" in card["text"]
    async with tg.app.sessions() as s:
        assert (await s.scalar(select(Organization.kind))) == "cooperativa"


ORGS_CSV = (
    "Nombre;Tipo\r\n"
    "Junta de Vecinos Villa Esperanza;JUNTA DE VECINOS\r\n"
    "Club Los Aromos;club_adulto_mayor\r\n"
    "Comité Ñuble;comite\r\n"
    "Centro de Madres Renacer;Centro de madres\r\n"
).encode()


async def test_imported_kinds_become_codes_and_unknown_ones_otra(tg: Running) -> None:
    program_id = await seed_program(tg)
    await add_gestora(tg)
    await open_catastro(tg)
    await tg.press(GESTORA, "📥 Importar organizaciones")
    [preview] = await send_document(tg, GESTORA, "catastro.csv", ORGS_CSV, "text/csv", 1)
    assert "Fila 5: el tipo «Centro de madres» no está en la lista: queda como «Otra»" \
        in preview["text"]
    await tg.press(GESTORA, "✅ Importar 4 filas válidas")
    async with tg.app.sessions() as s:
        kinds = dict((await s.execute(select(Organization.name, Organization.kind))).all())
    assert kinds == {"Junta de Vecinos Villa Esperanza": "junta_vecinos",
                     "Club Los Aromos": "adulto_mayor", "Comité Ñuble": "comite",
                     "Centro de Madres Renacer": "otra"}

    now = tg.app.clock.now()
    async with tg.app.sessions() as s:
        es = await exports.invited_organizations(s, program_id, "csv", now=now)
        en = await exports.invited_organizations(s, program_id, "xlsx", now=now, locale="en")
    text = es.content.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text), delimiter=";"))
    kinds_shown = {r[1]: r[2] for r in rows if len(r) > 2 and r[0].isdigit()}
    assert kinds_shown == {"Club Los Aromos": "Club de adulto mayor",
                           "Comité Ñuble": "Comité", "Centro de Madres Renacer": "Otra",
                           "Junta de Vecinos Villa Esperanza": "Junta de vecinos"}
    ws = load_workbook(io.BytesIO(en.content)).worksheets[0]
    shown_en = {r[1]: r[2] for r in ws.iter_rows(values_only=True) if isinstance(r[0], int)}
    assert shown_en["Club Los Aromos"] == "Senior citizens' club"
    assert shown_en["Centro de Madres Renacer"] == "Other"


def test_an_import_preview_keeps_its_notes_while_it_waits() -> None:
    row = catastro.PreviewRow(4, {"name": "x", "kind": "otra"}, [],
                              [imports.Msg("imports.note.kind_other", {"value": "y"})])
    again = catastro.PreviewRow.from_json(row.to_json())
    assert again.ok and again.notes == row.notes
