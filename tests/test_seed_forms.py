"""The forms of the seeds' programmes in chat: for the rural infrastructure programme, the
cooperative-strengthening programme and Canelones' solidarity-economy unit, a person opens
the programme's own form by its command, answers every question (one wrong answer on the
way, answered kindly), signs, and the response is stored with its receipt; Canelones asks
for a cédula. The members' declaration offers each programme's own bodies and names the
programme."""

from __future__ import annotations

import io
from dataclasses import dataclass

import pytest
from core_harness import CoreHarness
from openpyxl import load_workbook
from sqlalchemy import select

from bot.app import build_app
from bot.cli import main
from documents import verificadores
from documents.base import Ctx, slugify
from domain.forms import FORMS_DIR, load_form, program_form
from domain.program_templates import TEMPLATES_DIR, load_template
from handlers.admin import action
from handlers.events import EventKind
from services.commitments import declaration_request
from services.messages import Outgoing
from storage import catastro, fichas, people, programs, responses
from storage.models import (
    Body,
    FormResponse,
    FormSignature,
    FormStatus,
    Membership,
    Organization,
    OutboxMessage,
    Person,
    Program,
    Role,
)

PERSON = "501"
GESTORA = "502"


@dataclass
class Step:
    """One turn: ``text`` typed or ``press`` a button; the reply must contain ``expect``."""

    text: str | None = None
    press: str | None = None
    expect: str = ""


def typed(text: str, expect: str = "") -> Step:
    return Step(text=text, expect=expect)


def press(label: str, expect: str = "") -> Step:
    return Step(press=label, expect=expect)


RURAL = [
    typed("Junta de Vecinos Los Maitenes", "¿Qué tipo de organización es?"),
    press("Junta de vecinos", "¿En qué región está la comunidad?"),
    press("Los Ríos", "¿En qué comuna?"),
    typed("Panguipulli", "¿Cómo se llama la localidad o el sector?"),
    typed("Los Maitenes", "¿Cuántas familias viven en la localidad"),
    # A wrong answer once: a word for a number.
    typed("muchas", "Escribe solo un número"),
    typed("unas 60", "¿Qué infraestructura le falta a la comunidad?"),
    press("Agua potable"), press("Caminos"),
    press("✔️ Listo", "¿De qué vive la mayoría de la comunidad?"),
    press("Agricultura"), press("Turismo rural"),
    press("✔️ Listo", "organizarse para cuidar y mantener las obras"),
    press("Sí", "¿Cuál es tu nombre completo?"),
    typed("Rosa Catrileo Huenchual", "¿Cuál es tu RUT?"),
    typed("12.345.678-5", "¿Qué cargo tienes"),
    typed("Presidenta", "¿A qué teléfono"),
    typed("9 8765 4321", "Revisa"),
]
COOPERATIVES = [
    typed("Cooperativa Apícola Las Palmas", "¿En qué comuna está?"),
    press("Olmué", "¿Qué es?"),
    press("Cooperativa", "¿Para qué se organizan?"),
    press("Para producir", "¿A qué se dedican?"),
    typed("Miel y cera", "¿La organización tiene personalidad jurídica?"),
    press("Sí", "¿Cuál es el RUT de la organización?"),
    # A wrong answer once: a RUT whose check digit is wrong.
    typed("65.123.456-4", "El RUT no es válido"),
    typed("65.123.456-5", "¿Cuántas socias y socios tiene"),
    typed("14", "¿Participan en algún programa de la municipalidad?"),
    press("Fomento productivo", "¿En qué temas quieren formarse?"),
    press("Gestión"), press("Contabilidad"),
    press("✔️ Listo", "¿Necesitan inversión o equipamiento"),
    press("Sí", "¿Cuál es tu nombre completo?"),
    typed("Marta Fuentes Soto", "¿Cuál es tu RUT?"),
    typed("12.345.678-5", "¿Qué cargo tienes"),
    typed("Tesorera", "¿A qué teléfono"),
    typed("+56 9 8765 4321", "Revisa"),
]
CANELONES = [
    typed("Cooperativa Pan Canario", "¿Qué tipo de cooperativa o emprendimiento es?"),
    press("Cooperativa de trabajo", "¿Tiene personería jurídica?"),
    press("Sí", "¿Cuál es el RUT de la cooperativa?"),
    # A wrong answer once: a cédula where the cooperative's RUT is asked.
    typed("1.234.567-2", "Ese RUT no parece correcto"),
    typed("21 100342 001 7", "¿En qué localidad de Canelones está?"),
    typed("Pando", "¿Cuál es su rubro?"),
    typed("Panificados", "¿Qué hacen?"),
    press("Producimos"), press("Vendemos"),
    press("✔️ Listo", "¿Cuántas personas la integran"),
    typed("9", "¿En qué líneas de trabajo quieren participar?"),
    press("Ferias y espacios de venta"), press("Marca Cooperativa Canaria"),
    press("✔️ Listo", "¿Cuál es tu nombre completo?"),
    typed("Lucía Pereira Silva", "¿Cuál es tu cédula de identidad?"),
    # A wrong answer once: a Chilean RUT where a cédula is asked.
    typed("12.345.678-5", "Esa cédula no parece correcta"),
    typed("1.234.567-2", "¿Qué rol tienes"),
    typed("Secretaria", "¿A qué celular o teléfono"),
    typed("099 123 456", "¿Tienes un correo electrónico?"),
    press("Omitir", "Revisa"),
]

CASES = {
    "infraestructura-rural": ("postular", "Postulación de la comunidad", "es", "PC", RURAL,
                              "Junta de Vecinos Los Maitenes",
                              "Programa Infraestructura Rural Panguipulli",
                              {"region": "los_rios", "families": 60,
                               "needs": ["agua_potable", "caminos"],
                               "representative_rut": {"compact": "123456785",
                                                      "formatted": "12.345.678-5"}}),
    "fortalecimiento-cooperativas": ("cooperativa", "Ficha de la cooperativa", "es", "FC",
                                     COOPERATIVES, "Cooperativa Apícola Las Palmas",
                                     "Fortalecimiento Cooperativo Valparaíso",
                                     {"comuna": "olmue", "organization_kind": "cooperativa",
                                      "training": ["gestion", "contabilidad"],
                                      "organization_rut": {"compact": "651234565",
                                                           "formatted": "65.123.456-5"}}),
    "economia-solidaria-canelones": ("registro", "Registro de cooperativas", "es-UY", "RC",
                                     CANELONES, "Cooperativa Pan Canario",
                                     "Economía Solidaria Canelones",
                                     {"organization_kind": "cooperativa_trabajo",
                                      "organization_rut": {"compact": "211003420017",
                                                           "formatted": "21-100342-001-7"},
                                      "interests": ["comercializacion", "marca_cooperativa"],
                                      "representative_phone": "+59899123456",
                                      "representative_rut": {"compact": "12345672",
                                                             "formatted": "1.234.567-2"},
                                      "representative_email": None}),
}


@pytest.fixture
async def core(settings_for, sqlite_url, clock):
    app = await build_app(settings_for(sqlite_url), clock=clock)
    yield CoreHarness(app)
    await app.close()


async def make_programme(core: CoreHarness, key: str, name: str, locale: str) -> tuple[int, int]:
    now = core.app.clock.now()
    async with core.app.sessions() as s:
        program = await programs.create(s, template=key, start=now.date(), name=name, now=now)
        person = await people.create_with_address(s, "telegram", PERSON, now, consent_at=now,
                                                  locale=locale, program_id=program.id)
        await s.commit()
        return program.id, person.id


def test_every_seed_form_and_template_passes_validate(capsys) -> None:
    files = [TEMPLATES_DIR / f"{key}.yaml" for key in CASES]
    files += [FORMS_DIR / f"{key}.yaml" for key in
              ("postulacion_comunidad", "ficha_cooperativa", "registro_cooperativa",
               "declaracion_integrantes")]
    assert main(["template", "validate", *map(str, files)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == len(files) and all(": OK, " in line for line in out)
    for key in CASES:
        uses = {u.form: u for u in load_template(key).forms}
        # Their members sign the declaration naming the programme, not the Ecomercado's.
        assert "declaracion_integrantes" in uses and len(uses) == 2
        assert load_template(key).declaration_forms == ("declaracion_integrantes",)


@pytest.mark.parametrize("key", list(CASES))
async def test_the_programme_form_is_filled_signed_and_kept(core: CoreHarness, key: str) -> None:
    command, button, locale, prefix, steps, org, name, stored = CASES[key]
    program_id, person_id = await make_programme(core, key, name, locale)

    [menu] = await core.text(PERSON, "/formularios")
    assert [label for label, _ in menu.buttons] == [button]
    replies = await core.text(PERSON, f"/{command}")
    text = "\n".join(r.text for r in replies)
    assert "Ecomercado" not in text
    first = load_form(program_form_key(key)).questions[0].prompt["es"]
    assert first in text
    for step in steps:
        if step.text is not None:
            replies = await core.text(PERSON, step.text)
        else:
            assert step.press is not None
            replies = await core.press(PERSON, step.press)
        shown = "\n".join(r.text for r in replies)
        assert step.expect in shown, (step, shown)

    [declaration] = await core.press(PERSON, "✅ Confirmar")
    assert f"«{name}»" in declaration.text and "Ecomercado" not in declaration.text
    # The signer types the name they gave: the one answer followed by the identity question.
    signer = next(s.text for s in steps if s.expect.startswith(("¿Cuál es tu RUT?",
                                                                 "¿Cuál es tu cédula")))
    receipt = "\n".join(r.text for r in await core.text(PERSON, signer))
    assert f"Comprobante N.º {prefix}-" in receipt

    async with core.app.sessions() as s:
        response = await s.scalar(select(FormResponse).where(FormResponse.person_id == person_id))
        assert response.status == FormStatus.SUBMITTED
        assert response.program_id == program_id
        assert response.answers["organization_name"] == org
        for question, value in stored.items():
            assert response.answers[question] == value, question
        sig = await s.scalar(select(FormSignature).where(
            FormSignature.response_id == response.id))
        assert sig.signed_name == signer
        form = program_form(await s.get(Program, program_id), program_form_key(key))
        assert responses.receipt_number(form, response).startswith(f"{prefix}-")
        assert responses.receipt_number(form, response) in receipt


def program_form_key(template_key: str) -> str:
    return next(u.form for u in load_template(template_key).forms if u.command)


async def test_the_members_declaration_offers_the_programme_bodies(core: CoreHarness) -> None:
    """Canelones' declaration: its four bodies as the choices, its cédula, its name."""
    name = "Economía Solidaria Canelones"
    program_id, person_id = await make_programme(core, "economia-solidaria-canelones", name,
                                                 "es-UY")
    async with core.app.sessions() as s:
        body = await s.scalar(select(Body).where(Body.program_id == program_id,
                                                 Body.kind == "comision_tecnica_pando"))
        s.add(Membership(body_id=body.id, person_id=person_id, joined_at=core.app.clock.now()))
        (await s.get(Person, person_id)).name = "Lucía Pereira Silva"
        await s.commit()
        # The button the panel sends a member opens the programme's declaration (for the
        # body it names: opened here without it, to be offered the programme's bodies).
        [[button]] = declaration_request(await s.get(Program, program_id), body).buttons
        assert button.action == f"form:start:declaracion_integrantes:{body.id}"
    from handlers.events import EventKind

    [*_, body_q] = await core.event(
        PERSON, EventKind.BUTTON,
        button=core.app.services.buttons.pack(person_id, "form:start:declaracion_integrantes"))
    assert "Ecomercado" not in body_q.text
    assert [label for label, _ in body_q.buttons][:4] == [
        "Comisión institucional Plataforma Pando", "Comisión técnica Plataforma Pando",
        "Mesa departamental intercooperativa",
        "Espacio técnico interinstitucional de cooperativas sociales"]
    await core.press(PERSON, "Comisión técnica Plataforma Pando")
    [rut_q] = await core.press(PERSON, "Usar: Lucía Pereira Silva")
    assert "¿Cuál es tu cédula de identidad?" in rut_q.text
    wrong = "\n".join(r.text for r in await core.text(PERSON, "12.345.678-5"))
    assert "Esa cédula no parece correcta" in wrong
    assert "¿Cuál es tu cédula de identidad?" in wrong  # asked again, nothing lost
    await core.text(PERSON, "1.234.567-2")
    await core.text(PERSON, "Cooperativa Pan Canario")
    [declaration] = await core.press(PERSON, "✅ Confirmar")
    assert ("CI 1.234.567-2, de Cooperativa Pan Canario, integrante de la instancia «Comisión "
            "técnica Plataforma Pando» del programa «Economía Solidaria Canelones»") in \
        declaration.text
    receipt = "\n".join(r.text for r in await core.text(PERSON, "Lucía Pereira Silva"))
    assert "Comprobante N.º DI-" in receipt
    async with core.app.sessions() as s:
        member = await s.scalar(select(Membership).where(Membership.person_id == person_id))
        assert member.commitment_signed_at == core.app.clock.now()


# What each programme's intake form puts in its row of the fichas verificador: the column
# of one of its own questions (not the Ficha de Interés's) and the answer as shown.
OWN_COLUMN = {"infraestructura-rural": ("N.º aproximado de familias", "60"),
              "fortalecimiento-cooperativas": ("Comuna", "Olmué"),
              "economia-solidaria-canelones": ("Localidad", "Pando")}


@pytest.mark.parametrize("key", list(CASES))
async def test_the_intake_form_reaches_the_gestora_and_its_verificador(
        core: CoreHarness, key: str) -> None:
    """Filled in chat by a representative the catastro does not know yet: the gestora is
    told (with the form's own title), finds it among the fichas waiting in her panel, takes
    it into the catastro, and the template's fichas verificador lists it with its answers."""
    command, _button, locale, prefix, steps, org, name, _stored = CASES[key]
    program_id, _ = await make_programme(core, key, name, locale)
    now = core.app.clock.now()
    async with core.app.sessions() as s:
        gestora = await people.create_with_address(s, "telegram", GESTORA, now, consent_at=now,
                                                   locale="es", name="Carolina Gestora",
                                                   program_id=program_id)
        await people.grant(s, gestora, Role.GESTORA, program_id, now)
        await s.commit()
        gestora_id = gestora.id
    await core.text(PERSON, f"/{command}")
    for step in steps:
        await (core.text(PERSON, step.text) if step.text is not None
               else core.press(PERSON, step.press or ""))
    await core.press(PERSON, "✅ Confirmar")
    signer = next(s.text for s in steps if s.expect.startswith(("¿Cuál es tu RUT?",
                                                                 "¿Cuál es tu cédula")))
    await core.text(PERSON, signer or "")

    form = load_form(program_form_key(key))
    async with core.app.sessions() as s:
        response = await s.scalar(select(FormResponse).where(
            FormResponse.program_id == program_id, FormResponse.status == FormStatus.SUBMITTED))
        number = responses.receipt_number(form, response)
        [row] = (await s.scalars(select(OutboxMessage).where(
            OutboxMessage.kind == "form_notice", OutboxMessage.address == GESTORA))).all()
        assert [r.id for r in await fichas.pending(s, program_id)] == [response.id]
    notice = Outgoing.from_json(row.payload)
    text = core.app.catalogs.render(notice.text, row.locale, notice.zone)
    assert text.startswith(f"📝 Llegó al equipo «{form.title['es']}» ({number}) de «{org}»")
    assert "Ficha de Interés" not in text and number.startswith(f"{prefix}-")

    # Her review button opens the ficha in the panel, and she takes it into the catastro.
    review = action("catastro", "fi", response.id)
    assert [b.action for line in notice.buttons for b in line] == [review]
    [card] = await core.event(GESTORA, EventKind.BUTTON,
                              button=core.app.services.buttons.pack(gestora_id, review))
    assert f"Ficha {number}" in card.text and org in card.text
    await core.event(GESTORA, EventKind.BUTTON, button=core.app.services.buttons.pack(
        gestora_id, action("catastro", "fia", response.id)))

    own_label, own_answer = OWN_COLUMN[key]
    async with core.app.sessions() as s:
        taken = await s.scalar(select(Organization).where(Organization.program_id == program_id))
        assert taken is not None and taken.name == org
        assert await fichas.pending(s, program_id) == []
        assert await catastro.count_organizations(s, program_id,
                                                  catastro.Filters(ficha=True)) == 1
        program = await s.get(Program, program_id)
        ctx = Ctx(core.app.catalogs, "es", program.timezone, now)
        # Canelones asks for it in each year's registration: every activity finds it.
        asked = [r for r in await verificadores.required(s, program, ctx)
                 if r.producer is not None and r.producer.key == "fichas"]
        assert asked and all(r.evidence for r in asked), "the intake verificador is empty"
        intake = asked[0]
        files = {fmt: await verificadores.make_for(s, program, ctx, intake, None, fmt)
                 for fmt in intake.producer.formats}
    [pdf] = files["pdf"]
    assert pdf.content.startswith(b"%PDF")
    assert pdf.filename == f"{slugify(form.title['es'])}-{slugify(org)}.pdf"
    [xlsx] = files["xlsx"]
    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    cells = [[str(c) if c is not None else "" for c in r]
             for r in sheet.iter_rows(values_only=True)]
    heading = [r[0] for r in cells[:3]]
    assert f"{form.title['es']}: respuestas recibidas" in heading and name in heading
    [header] = [r for r in cells if own_label in r]
    [line] = [r for r in cells if org in r]
    assert line[header.index(own_label)] == own_answer
    assert line[header.index("Representante")] == signer
