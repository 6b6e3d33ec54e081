"""Commitments and the constitution of the bodies, end to end in chat: the gestora sends the
participation commitment from the panel, a representative signs it with name and RUT, the
Grupo Motor is constituted in its session with its protocol, its members sign their
declarations; and the three verificadores, rendered and read back."""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
from core_harness import CoreHarness
from sqlalchemy import select

from bot.app import build_app
from documents import verificadores
from documents.base import Ctx
from documents.registry import Request
from domain.forms import load_form
from locales import Catalogs
from services import commitments as service
from storage import agreed, people, programs, responses
from storage.models import (
    Attendance,
    AuditEntry,
    Body,
    FormResponse,
    FormSignature,
    Meeting,
    Membership,
    Organization,
    OutboxMessage,
    Person,
    Representative,
    Role,
)

ORG = "Junta de Vecinos Villa Ñuñoa"
GESTORA, ANA, BETO = "1", "2", "3"
PROTOCOL_1 = "Nos reunimos el primer martes de cada mes, a las 18:00, en la sede."
PROTOCOL_2 = "Quien falte a tres sesiones seguidas sin avisar deja su cupo; el ingreso de " \
             "nuevas personas lo decide la mayoría."


@pytest.fixture
async def core(settings_for, sqlite_url, clock):
    app = await build_app(settings_for(sqlite_url), clock=clock)
    yield CoreHarness(app)
    await app.close()


async def seed(core: CoreHarness) -> dict[str, int]:
    """A programme with its bodies, the gestora, an organisation whose ficha was sent, Ana
    (its president) and Beto (a neighbour with no organisation)."""
    now = core.app.clock.now()
    async with core.app.sessions() as s:
        program = await programs.create(s, template="ecomercado-15m", start=now.date(),
                                        name="Ecomercado Solidario Peñalolén", now=now)
        program.settings = {"executor": "Municipalidad de Peñalolén", "comuna": "Peñalolén",
                            "facilitator": "Daniela Muñoz"}
        ids: dict[str, int] = {"program": program.id}
        for address, name, role in ((GESTORA, "Daniela Muñoz", Role.GESTORA),
                                    (ANA, "Ana María Rojas", None), (BETO, "Beto Soto", None)):
            p = await people.create_with_address(s, "telegram", address, now, name=name,
                                                 consent_at=now, locale="es",
                                                 program_id=program.id)
            if role:
                await people.grant(s, p, role, program.id, now)
            ids[address] = p.id
        org = Organization(program_id=program.id, name=ORG, rut="65.123.456-5", created_at=now)
        s.add(org)
        await s.flush()
        ids["org"] = org.id
        s.add(Representative(organization_id=org.id, person_id=ids[ANA], position="Presidenta",
                             is_primary=True))
        ficha = load_form("ficha_interes")
        definition = await responses.ensure_definition(s, ficha, now)
        r = await responses.start_response(s, definition, person_id=ids[ANA],
                                           organization_id=org.id, now=now,
                                           program_id=program.id)
        r.answers = {"organization_name": ORG, "representative_name": "Ana María Rojas"}
        await responses.submit(s, r, ficha, person_id=ids[ANA], signed_name="Ana María Rojas",
                               now=now, signed_rut="12.345.678-5")
        body = await s.scalar(select(Body).where(Body.program_id == program.id,
                                                 Body.kind == "grupo_motor"))
        ids["body"] = body.id
        s.add(Membership(body_id=body.id, person_id=ids[ANA], organization_id=org.id,
                         joined_at=now))
        meeting = Meeting(program_id=program.id, body_id=body.id, kind="grupo_motor",
                          starts_at=now - timedelta(days=1), ends_at=now - timedelta(hours=22),
                          place="Sede Villa Ñuñoa", address="Los Aromos 1456",
                          created_at=now - timedelta(days=7))
        s.add(meeting)
        await s.flush()
        ids["meeting"] = meeting.id
        for pid in (ids[ANA], ids[BETO]):
            s.add(Attendance(meeting_id=meeting.id, person_id=pid, present=True,
                             method="marked", marked_at=now - timedelta(days=1)))
        await s.commit()
    return ids


async def press_action(core: CoreHarness, address: str, person_id: int, action: str) -> list:
    """What a person does when they tap a button of a message the outbox delivered."""
    from handlers.events import EventKind

    return await core.event(address, EventKind.BUTTON,
                            button=core.app.services.buttons.pack(person_id, action))


async def queued_for(core: CoreHarness, person_id: int, kind: str) -> list[OutboxMessage]:
    async with core.app.sessions() as s:
        return list((await s.scalars(select(OutboxMessage).where(
            OutboxMessage.person_id == person_id, OutboxMessage.kind == kind))).all())


def texts(replies: list) -> str:
    return "\n".join(r.text for r in replies)


# --------------------------------------------------------------------------- commitment


async def test_the_commitment_is_sent_and_signed_with_name_and_rut(core: CoreHarness) -> None:
    ids = await seed(core)
    await core.text(GESTORA, "/panel")
    await core.press(GESTORA, "📚 Actas, planes y cierre")
    [card] = await core.press(GESTORA, "🤝 Instancias y compromisos")
    assert "0 de 1 organizaciones con ficha lo firmaron" in card.text
    assert "Grupo Motor: 1 integrantes, 0 firmaron" in card.text
    [sent] = await core.press(GESTORA, "📨 Enviar compromiso a 1 organización")
    assert sent.text.startswith("📨 Enviado el compromiso a 1 organización.")

    [row] = await queued_for(core, ids[ANA], "form_request")
    button = row.payload["buttons"][0][0]
    action = button.get("action") or button.get("a")
    assert action == f"form:start:compromiso_participacion:{ids['org']}"
    rendered = core.app.catalogs.render(
        __import__("handlers.events", fromlist=["Outgoing"]).Outgoing.from_json(row.payload).text,
        "es", "America/Santiago")
    assert rendered.startswith(f"🤝 {ORG}: ya recibimos su ficha")

    replies = await press_action(core, ANA, ids[ANA], action)
    assert replies[0].text.startswith("📝 Carta de acuerdo y compromiso de participación")
    await core.press(ANA, f"Usar: {ORG}")
    await core.press(ANA, "Participar en las sesiones del programa")
    await core.press(ANA, "Designar representantes al Grupo Motor")
    await core.press(ANA, "Colaborar en la recolección y el armado de canastas")
    [reps] = await core.press(ANA, "✔️ Listo")
    assert "¿Quiénes representarán" in reps.text
    await core.text(ANA, "Ana María Rojas y Pía Núñez")
    await core.press(ANA, "Usar: Ana María Rojas")
    [summary] = await core.press(ANA, "Usar: Presidenta")
    assert "• Acuerdos: Participar en las sesiones del programa, Designar representantes al " \
           "Grupo Motor, Colaborar en la recolección y el armado de canastas" in summary.text
    [declaration] = await core.press(ANA, "✅ Confirmar")
    assert "declaro que la organización acuerda y se compromete a participar" in \
        declaration.text
    [ask_rut] = await core.text(ANA, "ana maria rojas")
    assert "Ahora escribe tu RUT" in ask_rut.text
    [kind] = await core.text(ANA, "12.345.678-0")
    assert kind.text.startswith("Ese RUT no me cuadra 🙏")
    receipt = await core.text(ANA, "12345678-5")
    assert "Comprobante N.º CP-" in texts(receipt)

    now = core.app.clock.now()
    async with core.app.sessions() as s:
        org = await s.get(Organization, ids["org"])
        assert org.committed_at == now
        [sig] = (await s.scalars(select(FormSignature).join(FormResponse).where(
            FormResponse.organization_id == ids["org"],
            FormResponse.id == FormSignature.response_id).order_by(FormSignature.id.desc())
            .limit(1))).all()
        assert (sig.signed_name, sig.signed_rut) == ("Ana María Rojas", "12.345.678-5")
        assert await s.scalar(select(AuditEntry).where(
            AuditEntry.action == "organization_committed")) is not None

    # A correction later keeps the date of the first signing.
    core.app.clock.advance(days=3)
    async with core.app.sessions() as s:
        response = await s.scalar(select(FormResponse).where(
            FormResponse.organization_id == ids["org"]).order_by(FormResponse.id.desc()))
        await service.on_submitted(s, response, load_form("compromiso_participacion"),
                                   person_id=ids[ANA], now=core.app.clock.now())
        assert (await s.get(Organization, ids["org"])).committed_at == now

    # Nothing left to send: the card says so and offers no sending button.
    [card] = await core.press(GESTORA, "↩️ Volver")
    assert "1 de 1 organizaciones con ficha lo firmaron" in card.text
    assert not any(label.startswith("📨 Enviar compromiso") for label, _ in core.buttons(GESTORA))
    [status] = await core.press(GESTORA, "📋 Quién firmó y quién no")
    assert f"✅ Compromiso firmado (1): {ORG}" in status.text


# --------------------------------------------------------------------------- constitution


async def constitute_in_chat(core: CoreHarness) -> None:
    await core.text(GESTORA, "/panel")
    await core.press(GESTORA, "📚 Actas, planes y cierre")
    await core.press(GESTORA, "🤝 Instancias y compromisos")
    [pick] = await core.press(GESTORA, "🏛 Constituir Grupo Motor")
    assert pick.text == "🏛 Constituir el Grupo Motor. ¿En qué sesión se constituyó?"
    session_label = next(label for label, _ in core.buttons(GESTORA)
                         if label.startswith("Sesión del Grupo Motor · "))
    [members] = await core.press(GESTORA, session_label)
    labels = [label for label, _ in core.buttons(GESTORA)]
    assert "✅ Ana María Rojas" in labels and "➕ Beto Soto" in labels
    [members] = await core.press(GESTORA, "➕ Beto Soto")
    assert "Hay 2 marcadas" in members.text
    [ask] = await core.press(GESTORA, "➡️ Seguir")
    assert "protocolo de funcionamiento" in ask.text
    [kept] = await core.text(GESTORA, PROTOCOL_1)
    assert kept.text.startswith("Guardé 1 parte.")
    await core.text(GESTORA, PROTOCOL_2)
    [confirm] = await core.press(GESTORA, "✅ Listo")
    assert "👥 Integrantes (2): Ana María Rojas, Beto Soto" in confirm.text
    assert PROTOCOL_1 in confirm.text and PROTOCOL_2 in confirm.text
    [done] = await core.press(GESTORA, "✅ Confirmar constitución")
    assert done.text.startswith("🎉 Quedó constituido el Grupo Motor el ")
    assert "con 2 integrantes" in done.text
    assert "Les envié la declaración de compromiso a 2 integrantes" in done.text


async def test_the_grupo_motor_is_constituted_and_its_members_declare(
        core: CoreHarness) -> None:
    ids = await seed(core)
    await constitute_in_chat(core)
    async with core.app.sessions() as s:
        body = await s.get(Body, ids["body"])
        meeting = await s.get(Meeting, ids["meeting"])
        assert body.constituted_at == meeting.starts_at
        assert body.constitution_meeting_id == meeting.id
        text = await agreed.current(s, ids["program"], "protocolo_funcionamiento", body.id)
        assert text.text == f"{PROTOCOL_1}\n{PROTOCOL_2}" and text.meeting_id == meeting.id
        members = (await s.scalars(select(Membership.person_id).where(
            Membership.body_id == body.id))).all()
        assert sorted(members) == sorted([ids[ANA], ids[BETO]])
        assert await s.scalar(select(AuditEntry).where(
            AuditEntry.action == "body_constituted")) is not None

    [row] = await queued_for(core, ids[BETO], "form_request")
    # The acta, from the same card, ready to print.
    await core.press(GESTORA, "↩️ Volver")
    [acta] = await core.press(GESTORA, "📄 Acta de constitución")
    assert acta.attachment == "acta-constitucion-grupo-motor.pdf"
    await core.text(GESTORA, "/panel")
    await core.press(GESTORA, "📚 Actas, planes y cierre")
    await core.press(GESTORA, "🤝 Instancias y compromisos")
    [blank] = await core.press(GESTORA, "🖨 Compromiso para imprimir")
    assert blank.attachment == "compromiso-participacion-para-firmar.pdf"
    await core.text(GESTORA, "/panel")
    await core.press(GESTORA, "📚 Actas, planes y cierre")
    # Asked again from the card the same day, nobody gets it twice.
    await core.press(GESTORA, "🤝 Instancias y compromisos")
    [sent] = await core.press(GESTORA, "📨 Declaración: Grupo Motor (2 faltan)")
    assert sent.text.startswith("📨 Enviada la declaración a 0 integrantes del Grupo Motor.")
    assert "2 ya lo recibieron hoy" in sent.text
    assert len(await queued_for(core, ids[BETO], "form_request")) == 1

    # Beto declares: his RUT is one of the form's questions, so signing asks it no more.
    await press_action(core, BETO, ids[BETO], "form:start:declaracion_compromiso")
    await core.press(BETO, "Grupo Motor")
    await core.press(BETO, "Usar: Beto Soto")
    [org_q] = await core.text(BETO, "7.654.321-6")
    assert "¿A qué organización representas?" in org_q.text
    [summary] = await core.text(BETO, "Dirigente del sector Ñuñoa")
    assert "• RUT: 7.654.321-6" in summary.text
    [declaration] = await core.press(BETO, "✅ Confirmar")
    # The Ecomercado's official words, not the other programmes' declaration.
    assert "integrante del Grupo Motor del Ecomercado Solidario, me comprometo a asistir" in \
        declaration.text
    receipt = await core.text(BETO, "Beto Soto")
    assert "Comprobante N.º DC-" in texts(receipt)
    async with core.app.sessions() as s:
        m = await s.scalar(select(Membership).where(Membership.person_id == ids[BETO]))
        assert m.commitment_signed_at == core.app.clock.now()
        ana = await s.scalar(select(Membership).where(Membership.person_id == ids[ANA]))
        assert ana.commitment_signed_at is None
        sig = await s.scalar(select(FormSignature).order_by(FormSignature.id.desc()).limit(1))
        assert (sig.signed_name, sig.signed_rut) == ("Beto Soto", "7.654.321-6")
        assert (await s.get(Person, ids[BETO])).rut == "7.654.321-6"


# --------------------------------------------------------------------------- documents


def _pdf_text(path: Path) -> str:
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], check=True,
                          capture_output=True, text=True).stdout


def _render(path: Path) -> list[Path]:
    subprocess.run(["pdftoppm", "-r", "60", "-png", str(path), str(path.with_suffix(""))],
                   check=True)
    pages = sorted(path.parent.glob(path.stem + "-*.png"))
    assert pages
    info = subprocess.run(["pdfinfo", str(path)], check=True, capture_output=True,
                          text=True).stdout
    assert "595.28 x 841.89 pts (A4)" in info
    return pages


@pytest.mark.skipif(not shutil.which("pdftoppm") or not shutil.which("pdftotext"),
                    reason="needs poppler-utils")
async def test_the_three_verificadores_render_and_read_back(core: CoreHarness,
                                                            tmp_path: Path) -> None:
    ids = await seed(core)
    await constitute_in_chat(core)
    now = core.app.clock.now()
    async with core.app.sessions() as s:
        # Ana signed the commitment in chat, and her declaration too.
        for key, answers in (
            ("compromiso_participacion", {
                "organization_name": ORG, "agreements": ["sesiones", "grupo_motor"],
                "representatives": "Ana María Rojas y Pía Núñez",
                "representative_name": "Ana María Rojas", "representative_role": "Presidenta"}),
            ("declaracion_compromiso", {
                "body": "grupo_motor", "full_name": "Ana María Rojas",
                "person_rut": {"compact": "123456785", "formatted": "12.345.678-5"},
                "organization": ORG}),
        ):
            form = load_form(key)
            definition = await responses.ensure_definition(s, form, now)
            r = await responses.start_response(
                s, definition, person_id=ids[ANA], program_id=ids["program"], now=now,
                organization_id=ids["org"] if key == "compromiso_participacion" else None)
            r.answers = answers
            await responses.submit(s, r, form, person_id=ids[ANA],
                                   signed_name="Ana María Rojas", now=now,
                                   signed_rut="12.345.678-5")
            await service.on_submitted(s, r, form, person_id=ids[ANA], now=now)
        await s.commit()

    async with core.app.sessions() as s:
        from storage.models import Program

        program = await s.get(Program, ids["program"])
        ctx = Ctx(Catalogs(), "es", program.timezone, now)

        def req(verifier: str, subject: int | None, blank: bool = False) -> Request:
            return Request(s, program, verifier, ctx, "pdf", subject, blank)

        found = await verificadores.evidence(req("compromiso_participacion", None))
        assert [(e.subject_id, e.label) for e in found] == [(ids["org"], ORG)]
        assert [e.subject_id for e in await verificadores.evidence(
            req("acta_constitucion_grupo_motor", None))] == [ids["body"]]
        assert await verificadores.evidence(req("acta_constitucion_consejo_local", None)) == []
        assert [e.subject_id for e in await verificadores.evidence(
            req("declaracion_compromiso", None))] == [ids["body"]]

        made = {
            "commitment": await verificadores.make(req("compromiso_participacion", ids["org"])),
            "commitment_blank": await verificadores.make(
                req("compromiso_participacion", ids["org"], blank=True)),
            "declarations": await verificadores.make(req("declaracion_compromiso", ids["body"])),
            "declarations_blank": await verificadores.make(
                req("declaracion_compromiso", ids["body"], blank=True)),
            "acta": await verificadores.make(req("acta_constitucion_grupo_motor", None)),
            # In English, and with Helvetica where the machine has no DejaVu.
            "acta_en": await verificadores.make(Request(
                s, program, "acta_constitucion_grupo_motor",
                Ctx(Catalogs(), "en", program.timezone, now), "pdf", ids["body"], False, None,
                ())),
        }
    read: dict[str, str] = {}
    for name, [file] in made.items():
        path = tmp_path / f"{name}.pdf"
        path.write_bytes(file.content)
        _render(path)
        read[name] = _pdf_text(path)

    c = read["commitment"]
    assert re.search(r"\[X\]\s+Participar en las sesiones del programa", c)
    assert re.search(r"\[\s+\]\s+Difundir el Ecomercado en la comunidad", c)
    for expected in ("Acuerdo y compromiso de participación", "Municipalidad de Peñalolén",
                     ORG,
                     "Ana María Rojas y Pía Núñez", "12.345.678-5",
                     "Firmó en el chat el", "Lugar y fecha"):
        assert expected in c, expected
    b = read["commitment_blank"]
    assert "Firmó en el chat" not in b and "12.345.678-5" not in b and "[X]" not in b
    assert "Firmas de representantes" in b

    d = read["declarations"]
    assert "Declaraciones de compromiso · Grupo Motor" in d
    assert "1. Ana María Rojas · Junta de Vecinos Villa Ñuñoa" in d
    assert "Yo, Ana María Rojas, RUT 12.345.678-5" in d
    assert "2. Beto Soto" in d and "Firma pendiente" in d
    assert "Firmó en el chat" not in read["declarations_blank"]

    a = read["acta"]
    for expected in ("Acta de constitución del Grupo Motor", "Sesión del Grupo Motor",
                     "Sede Villa Ñuñoa, Los Aromos 1456", "Integrantes presentes",
                     "Ana María Rojas", "Beto Soto", ORG, "Versión 1, acordada el",
                     "Nos reunimos el primer martes", "Se constituye el Grupo Motor",
                     "Gestora territorial", "Daniela Muñoz", "Etapa", "Peñalolén"):
        assert expected in a, expected
    e = read["acta_en"]
    assert "Minutes of the constitution of the Core Group" in e
    assert "Members present" in e and "Sede Villa Ñuñoa" in e and "Nos reunimos" in e
    # Ana's RUT, from her declaration, stands in the list of those present.
    assert re.search(r"1\s+Ana María Rojas\s+Junta de Vecinos Villa Ñuñoa\s+12\.345\.678-5", a)


# --------------------------------------------------------------------------- the forms


def test_the_signers_rut_is_taken_from_the_form_when_it_asks_it() -> None:
    from domain.forms import FormError, parse_form

    ficha = load_form("ficha_interes").model_dump(mode="json", by_alias=True,
                                                   exclude_defaults=True)
    assert load_form("declaracion_compromiso").signer_rut_key == "person_rut"
    assert load_form("compromiso_participacion").signer_rut_key is None
    # The ficha asks the representative's RUT among its questions, and its declaration
    # names that question: signing asks it no more.
    assert load_form("ficha_interes").signer_rut_key == "representative_rut"
    form = parse_form(ficha)
    rut = {"compact": "123456785", "formatted": "12.345.678-5"}
    assert form.signer_rut({"representative_rut": rut}) == "12.345.678-5"
    assert form.signer_rut({}) is None
    # A form written before the declaration could name it: the question is found by its key.
    unnamed = parse_form({**ficha, "declaration": {
        k: v for k, v in ficha["declaration"].items() if k != "rut"}})
    assert unnamed.signer_rut_key == "representative_rut"
    assert unnamed.signer_rut({"representative_rut": rut}) == "12.345.678-5"
    # Without the question (nor a declared one), the signer is asked the RUT after the name.
    without = {**ficha, "declaration": unnamed.declaration.model_dump(
        mode="json", by_alias=True, exclude_defaults=True),
        "questions": [q for q in ficha["questions"] if q["key"] != "representative_rut"]}
    assert parse_form(without).signer_rut_key is None
    with pytest.raises(FormError, match="not a question of type rut"):
        parse_form({**ficha, "declaration": {**ficha["declaration"],
                                             "rut": "representative_name"}})
    assert load_form("declaracion_compromiso").declaration.cosign is False


# --------------------------------------------------------------------------- review fixes


async def test_each_member_signs_their_own_declaration_not_a_colleagues(
        core: CoreHarness) -> None:
    """Ana and Beto represent the same organisation: Beto signing does not sign for Ana,
    and Ana's button opens her own declaration, for the body it names."""
    ids = await seed(core)
    async with core.app.sessions() as s:
        s.add(Representative(organization_id=ids["org"], person_id=ids[BETO], position="Socio",
                             is_primary=False))
        await s.commit()
    await constitute_in_chat(core)
    [row] = await queued_for(core, ids[BETO], "form_request")
    button = row.payload["buttons"][0][0]
    action = button.get("action") or button.get("a")
    assert action == f"form:start:declaracion_compromiso:{ids['body']}"

    # The body travels with the button: Beto is not asked which one.
    first = await press_action(core, BETO, ids[BETO], action)
    assert "¿De qué instancia eres integrante?" not in texts(first)
    await core.press(BETO, "Usar: Beto Soto")
    await core.text(BETO, "7.654.321-6")
    await core.press(BETO, f"Usar: {ORG}")
    await core.press(BETO, "✅ Confirmar")
    assert "Comprobante N.º DC-" in texts(await core.text(BETO, "Beto Soto"))

    ana = await press_action(core, ANA, ids[ANA], action)
    assert "Beto Soto" not in texts(ana) and "7.654.321-6" not in texts(ana)
    assert "Comprobante" not in texts(ana)
    assert any("Ana María Rojas" in label for label, _ in core.buttons(ANA))
    async with core.app.sessions() as s:
        mine = (await s.scalars(select(FormResponse).where(
            FormResponse.person_id == ids[ANA]).order_by(FormResponse.id.desc()))).first()
        assert mine.answers.get("body") == "grupo_motor" and mine.status == "draft"

    # A button of a body they are not a member of is stale; so is an organisation not theirs.
    stale = await press_action(core, ANA, ids[ANA], "form:start:declaracion_compromiso:999")
    assert "Ese botón ya no sirve" in texts(stale)


async def test_an_organisation_that_is_not_theirs_is_a_stale_button(core: CoreHarness) -> None:
    ids = await seed(core)
    out = await press_action(core, BETO, ids[BETO],
                             f"form:start:compromiso_participacion:{ids['org']}")
    assert "Ese botón ya no sirve" in texts(out)
    async with core.app.sessions() as s:
        assert await s.scalar(select(FormResponse).where(
            FormResponse.person_id == ids[BETO])) is None


async def test_a_member_left_out_at_the_constitution_leaves_the_body(core: CoreHarness) -> None:
    ids = await seed(core)
    await core.text(GESTORA, "/panel")
    await core.press(GESTORA, "📚 Actas, planes y cierre")
    await core.press(GESTORA, "🤝 Instancias y compromisos")
    await core.press(GESTORA, "🏛 Constituir Grupo Motor")
    session_label = next(label for label, _ in core.buttons(GESTORA)
                         if label.startswith("Sesión del Grupo Motor · "))
    await core.press(GESTORA, session_label)
    await core.press(GESTORA, "➕ Beto Soto")
    [members] = await core.press(GESTORA, "✅ Ana María Rojas")
    assert "Hay 1 marcada" in members.text
    await core.press(GESTORA, "➡️ Seguir")
    await core.text(GESTORA, PROTOCOL_1)
    [confirm] = await core.press(GESTORA, "✅ Listo")
    assert "👥 Integrantes (1): Beto Soto" in confirm.text
    await core.press(GESTORA, "✅ Confirmar constitución")
    async with core.app.sessions() as s:
        ana = await s.scalar(select(Membership).where(Membership.person_id == ids[ANA]))
        assert ana.left_at == core.app.clock.now()
        from storage import commitments
        assert [m.person.id for m in await commitments.members(s, ids["body"])] == [ids[BETO]]
        assert await s.scalar(select(AuditEntry).where(
            AuditEntry.action == "member_left", AuditEntry.entity_id == ana.id)) is not None
    assert await queued_for(core, ids[ANA], "form_request") == []
    assert len(await queued_for(core, ids[BETO], "form_request")) == 1


async def test_a_session_the_list_did_not_offer_is_stale(core: CoreHarness) -> None:
    ids = await seed(core)
    now = core.app.clock.now()
    async with core.app.sessions() as s:
        other = Meeting(program_id=ids["program"], kind="diagnostico",
                        starts_at=now - timedelta(days=2), ends_at=now - timedelta(days=2),
                        place="Sede", created_at=now - timedelta(days=7))
        s.add(other)
        await s.commit()
        other_id = other.id
    await core.text(GESTORA, "/panel")
    await core.press(GESTORA, "📚 Actas, planes y cierre")
    await core.press(GESTORA, "🤝 Instancias y compromisos")
    await core.press(GESTORA, "🏛 Constituir Grupo Motor")
    from handlers.admin.bodies import act
    out = await press_action(core, GESTORA, ids[GESTORA], act("km", other_id))
    assert "Ese botón ya no sirve" in texts(out)
    assert "✅ Ana María Rojas" not in [label for label, _ in core.buttons(GESTORA)]


async def test_once_a_day_is_the_programmes_day(core: CoreHarness) -> None:
    """23:30 in Santiago is already tomorrow in UTC: asking again then is the same day."""
    ids = await seed(core)
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo
    # The clock is UTC, as turn.now is.
    evening = datetime(2026, 3, 10, 19, 0, tzinfo=ZoneInfo("America/Santiago")).astimezone(UTC)
    late = datetime(2026, 3, 10, 23, 30, tzinfo=ZoneInfo("America/Santiago")).astimezone(UTC)
    assert late.date() != evening.date()
    async with core.app.sessions() as s:
        from storage.models import Program
        program = await s.get(Program, ids["program"])
        assert program.timezone == "America/Santiago"
        body = await s.get(Body, ids["body"])
        first = await service.send_declarations(s, program, body, evening, author_id=None,
                                                channel=None)
        again = await service.send_declarations(s, program, body, late, author_id=None,
                                                channel=None)
        assert (first.queued, again.queued, again.already) == (1, 0, 1)
