"""Every ficha sent reaches the gestora (issue 10): one from a person whose organisation is not
in the catastro gets her a notice, waits in the panel and in the fichas export marked as not
in the catastro, and she takes it in (a new organisation from its answers) or links it to
one that is there, in chat or from the command line (one use case for both)."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from openpyxl import load_workbook
from sqlalchemy import select
from sqlalchemy.orm import selectinload
from test_admin_outreach_cli import parse
from test_admin_outreach_support import (
    GESTORA,
    add_gestora,
    add_organization,
    add_person,
    seed_program,
)
from test_forms_flow import toggle

from bot import cli_outreach
from bot.commands import CommandError
from documents import exports
from domain import forms
from storage import responses
from storage.models import (
    AuditEntry,
    FormResponse,
    FormSignature,
    Organization,
    Person,
    Representative,
)
from telegram_harness import Running, labels_of, start, stop

ROSA = 7001
COORDINADORA = 901
TYPED = "Club Adulto Mayor Los Aromos"


@pytest.fixture
async def tg(fake_tg, settings_for, sqlite_url, clock) -> AsyncIterator[Running]:
    settings = settings_for(sqlite_url, telegram_bot_token=fake_tg.token,
                            telegram_api_base=fake_tg.base_url)
    r = await start(fake_tg, settings, clock)
    try:
        yield r
    finally:
        await stop(r)


async def send_ficha_unlinked(tg: Running, chat: int, name: str = "Rosa Pizarro",
                              programme: str | None = None) -> list[dict]:
    """Someone no code linked to any organisation fills the ficha in, from /start; with
    several programmes, they say which one it is for."""
    await tg.send(chat, "/start")
    await tg.press(chat, "✅ Sí, acepto", count=2)
    if programme is None:
        await tg.send(chat, "/ficha", count=2)
    else:
        [ask] = await tg.send(chat, "/ficha")
        assert ask["text"] == ("¿De qué programa es tu Ficha de Interés de Participación? "
                               "Así llega al equipo que la recibe.")
        assert labels_of(ask) == ["Ecomercado Lota", "Ecomercado Tomé"]
        await tg.press(chat, programme, count=2)
    await tg.send(chat, TYPED)
    await tg.press(chat, "Club de adulto mayor")
    await tg.press(chat, "No")
    await tg.send(chat, "Los Aromos")
    await tg.send(chat, "unos 30")
    await tg.send(chat, name)
    await tg.send(chat, "12.345.678-5")
    await tg.send(chat, "Presidenta")
    await tg.send(chat, "9 8765 4321")
    await tg.press(chat, "Omitir")
    await toggle(tg, chat, "Grupo Motor")
    await tg.press(chat, "✔️ Listo")
    await toggle(tg, chat, "Martes")
    await tg.press(chat, "✔️ Listo")
    await toggle(tg, chat, "Tarde")
    await tg.press(chat, "✔️ Listo")
    await tg.press(chat, "✅ Confirmar")
    # The name signs; the RUT answered above goes with it.
    return await tg.send(chat, name, count=2)


async def test_a_ficha_from_outside_the_catastro_reaches_the_gestora_who_takes_it_in(
        tg: Running) -> None:
    program_id = await seed_program(tg)
    await add_gestora(tg)
    await add_person(tg, COORDINADORA, "Rodrigo Salinas", role="coordinadora",
                     program_id=program_id)
    gestora_before = len(tg.fake.delivered(GESTORA))
    coord_before = len(tg.fake.delivered(COORDINADORA))

    receipt, _ = await send_ficha_unlinked(tg, ROSA)
    assert "Comprobante N.º FI-00001" in receipt["text"]

    # The gestora and the coordinadora hear of it, with who sent it and the name as typed.
    [notice] = await tg.replies(GESTORA, gestora_before, 1)
    assert f"«{TYPED}»" in notice["text"] and "Rosa Pizarro" in notice["text"]
    assert "FI-00001" in notice["text"] and "aún no está en el catastro" in notice["text"]
    assert labels_of(notice) == ["📝 Revisar la ficha"]
    [also] = await tg.replies(COORDINADORA, coord_before, 1)
    assert f"«{TYPED}»" in also["text"]

    # It waits in the panel, first in the catastro's menu...
    await tg.send(GESTORA, "/panel")
    [menu] = await tg.press(GESTORA, "🗂️ Catastro y familias")
    assert labels_of(menu)[0] == "📝 1 ficha fuera del catastro"
    [listed] = await tg.press(GESTORA, "📝 1 ficha fuera del catastro")
    assert labels_of(listed)[0] == f"FI-00001 · {TYPED}"

    # ...and in the fichas export, marked as not in the catastro.
    async with tg.app.sessions() as s:
        book = await exports.fichas_xlsx(s, program_id, now=tg.app.clock.now())
        pdfs = await exports.ficha_pdfs(s, program_id, now=tg.app.clock.now())
    ws = load_workbook(io.BytesIO(book.content)).worksheets[0]
    top = int(ws.print_title_rows.split(":")[0].strip("$"))  # title and details above
    header, row = list(ws.iter_rows(min_row=top, values_only=True))[:2]
    assert header[:3] == ("Organización", "Tipo", "Sector")
    assert header[-1] == "En el catastro"
    assert row[:3] == (TYPED, "Club de adulto mayor", "Los Aromos")
    assert row[-1] == "No, aún no está en el catastro"
    assert len(pdfs) == 1 and pdfs[0].filename.endswith("-fi-00001.pdf")

    # From the notice: the ficha, then into the catastro.
    [card] = await tg.press(GESTORA, "📝 Revisar la ficha")
    assert "La envió Rosa Pizarro" in card["text"] and f"«{TYPED}»" in card["text"]
    assert "Tipo de organización: Club de adulto mayor" in card["text"]
    assert labels_of(card)[:2] == ["➕ Agregarla al catastro", "🔗 Es una organización que ya está"]
    done, org_card = await tg.press(GESTORA, "➕ Agregarla al catastro", count=2)
    assert done["text"].startswith(f"✅ Agregué «{TYPED}» al catastro")
    assert "Tipo: Club de adulto mayor" in org_card["text"] and "Socios: 30" in org_card["text"]

    async with tg.app.sessions() as s:
        org = await s.scalar(select(Organization).where(Organization.name == TYPED))
        response = await s.scalar(select(FormResponse))
        signature = await s.scalar(select(FormSignature))
        rosa = await s.scalar(select(Person).where(Person.id == response.person_id)
                              .options(selectinload(Person.roles)))
        rep = await s.scalar(select(Representative))
        audit = await s.scalar(select(AuditEntry).where(AuditEntry.action == "ficha_accepted"))
    assert (org.kind, org.sector, org.members_count) == ("adulto_mayor", "Los Aromos", 30)
    assert response.organization_id == org.id and response.program_id == program_id
    assert (signature.signed_name, signature.signed_rut) == ("Rosa Pizarro", "12.345.678-5")
    assert (rep.organization_id, rep.person_id, rep.position) == (org.id, rosa.id, "Presidenta")
    assert {(g.role, g.program_id) for g in rosa.roles} >= {("representante", program_id)}
    assert audit.actor_id is not None and audit.details["organization_id"] == org.id

    # The menu no longer offers it, and the old button says where it went.
    [menu] = await tg.press(GESTORA, "◀️ Volver a las fichas")
    assert "cada organización que envió su ficha está en el catastro" in menu["text"]
    [again] = await tg.press(GESTORA, "📝 Revisar la ficha")
    assert again["text"] == f"Esa ficha ya está en el catastro, con «{TYPED}»."


async def test_with_several_programmes_the_ficha_goes_to_the_one_its_sender_names(
        tg: Running) -> None:
    """Not to the newest programme: to the one the newcomer says, whose gestora hears of it;
    they belong to it from then on, and their next form needs no question."""
    lota = await seed_program(tg, "Ecomercado Lota")
    tome = await seed_program(tg, "Ecomercado Tomé")
    await add_person(tg, GESTORA, "Gabriela Lota", role="gestora", program_id=lota)
    await add_person(tg, COORDINADORA, "Teresa Tomé", role="gestora", program_id=tome)
    before = {chat: len(tg.fake.delivered(chat)) for chat in (GESTORA, COORDINADORA)}

    receipt, _ = await send_ficha_unlinked(tg, ROSA, programme="Ecomercado Lota")
    assert "Comprobante N.º FI-00001" in receipt["text"]
    [notice] = await tg.replies(GESTORA, before[GESTORA], 1)
    assert f"«{TYPED}»" in notice["text"]
    assert len(tg.fake.delivered(COORDINADORA)) == before[COORDINADORA]
    async with tg.app.sessions() as s:
        response = await s.scalar(select(FormResponse))
        rosa = await s.get(Person, response.person_id)
    assert (response.program_id, rosa.program_id) == (lota, lota)
    shown = await tg.send(ROSA, "/ficha")
    assert "¿De qué programa" not in shown[0]["text"]


async def test_a_ficha_named_like_an_organisation_there_is_linked_to_it(tg: Running) -> None:
    program_id = await seed_program(tg)
    await add_gestora(tg)
    org_id = await add_organization(tg, program_id, "Club Adulto Mayor los Aromos")
    before = len(tg.fake.delivered(GESTORA))
    await send_ficha_unlinked(tg, ROSA)
    await tg.replies(GESTORA, before, 1)
    [card] = await tg.press(GESTORA, "📝 Revisar la ficha")
    assert labels_of(card)[0] == "🔗 Es «Club Adulto Mayor los Aromos»"
    done, _ = await tg.press(GESTORA, "🔗 Es «Club Adulto Mayor los Aromos»", count=2)
    assert done["text"].startswith("✅ Listo: la ficha quedó con «Club Adulto Mayor los Aromos»")
    async with tg.app.sessions() as s:
        assert (await s.scalar(select(FormResponse.organization_id))) == org_id
        assert (await s.get(Organization, org_id)).kind == "adulto_mayor"


async def test_from_the_command_line_through_the_same_use_case(tg: Running, capsys) -> None:
    program_id = await seed_program(tg)
    org_id = await add_organization(tg, program_id, "Junta de Vecinos Villa Esperanza")
    now = tg.app.clock.now()
    async with tg.app.sessions() as s:
        sender = Person(name="Luis Muñoz", program_id=program_id, consent_at=now,
                        reachable=True, created_at=now)
        s.add(sender)
        await s.flush()
        form = forms.load_form("ficha_interes")
        definition = await responses.ensure_definition(s, form, now)
        ids = []
        for typed in ("JJVV Villa Esperanza", "Taller Laboral Renacer"):
            r = await responses.start_response(s, definition, person_id=sender.id,
                                               organization_id=None, now=now,
                                               program_id=program_id)
            r.answers = {"organization_name": typed, "organization_kind": "otra",
                         "representative_role": "Tesorero"}
            await responses.submit(s, r, form, person_id=sender.id, signed_name=None,
                                   now=now + timedelta(minutes=len(ids)))
            ids.append(r.id)
        await s.commit()

    assert await cli_outreach.run(tg.app, parse("fichas", "list")) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split("\t")[:4] for line in lines] == [
        [str(ids[0]), "FI-00001", "JJVV Villa Esperanza", "Luis Muñoz"],
        [str(ids[1]), "FI-00002", "Taller Laboral Renacer", "Luis Muñoz"]]

    assert await cli_outreach.run(tg.app, parse(
        "fichas", "accept", str(ids[0]), "--organization", str(org_id))) == 0
    assert "«Junta de Vecinos Villa Esperanza»" in capsys.readouterr().out
    assert await cli_outreach.run(tg.app, parse("fichas", "accept", str(ids[1]))) == 0
    with pytest.raises(CommandError, match="ya está en el catastro"):
        await cli_outreach.run(tg.app, parse("fichas", "accept", str(ids[1])))
    async with tg.app.sessions() as s:
        linked = dict((await s.execute(select(FormResponse.id, FormResponse.organization_id)))
                      .all())
        new = await s.scalar(select(Organization).where(
            Organization.name == "Taller Laboral Renacer"))
        reps = (await s.scalars(select(Representative.organization_id))).all()
    assert linked == {ids[0]: org_id, ids[1]: new.id}
    assert new.kind == "otra" and sorted(reps) == sorted([org_id, new.id])
    assert await cli_outreach.run(tg.app, parse("fichas", "list")) == 0
    assert "No hay fichas" in capsys.readouterr().out
