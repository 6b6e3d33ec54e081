"""Organizaciones / Familias in the web panel: the two tables (search, filters, sort, pages),
a record's page, the spreadsheet import (preview with each bad row's problem, nothing
written until she confirms), the QR cards as a download, and who may do what."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from domain.forms import load_form
from locales import Catalogs
from storage import people, responses
from storage.models import (
    AppState,
    AuditEntry,
    ChannelAddress,
    DeliveryDay,
    Family,
    FormResponse,
    FormSignature,
    FormStatus,
    LinkCode,
    Organization,
    OutboxMessage,
    Pickup,
    Representative,
    Role,
)
from web.pages.people import LABELS


async def _catastro(web, families: int = 0) -> dict[str, int]:
    """Two organisations (one with a representative on Telegram) and families: Rosa linked
    on WhatsApp, a pickup and a failed message; the rest plain, in two sectors. The
    installation runs Telegram and WhatsApp (the tables tell apart the channels it runs)."""
    from channels import LEAST

    web.panel.capabilities = {**web.panel.capabilities, "telegram": LEAST, "whatsapp": LEAST}
    now = web.app.clock.now()
    pid = web.program.id
    async with web.app.sessions() as s:
        junta = Organization(program_id=pid, name="Junta de Vecinos Los Aromos",
                             kind="junta_vecinos", rut="65.111.222-3", sector="Los Aromos",
                             phone="+56911112222", created_at=now)
        club = Organization(program_id=pid, name="Club Adulto Mayor Renacer",
                            kind="adulto_mayor", sector="El Belloto", created_at=now)
        s.add_all([junta, club])
        rep = await people.create_with_address(s, "telegram", "7001", now=now, name="Marta Rojas")
        rosa_person = await people.create_with_address(s, "whatsapp", "56922223333", now=now,
                                                       name="Rosa González")
        await s.flush()
        s.add(Representative(organization_id=junta.id, person_id=rep.id, position="presidenta",
                             is_primary=True))
        rosa = Family(program_id=pid, name="Rosa González", phone="+56922223333",
                      rut="12.345.678-5", sector="Villa Esperanza", person_id=rosa_person.id,
                      household_size=4, created_at=now)
        s.add(rosa)
        for i in range(families):
            s.add(Family(program_id=pid, name=f"Familia {i:03d}",
                         sector="El Belloto" if i % 2 else "Villa Esperanza",
                         household_size=i % 6, phone=f"+5698{i:07d}", created_at=now))
        await s.flush()
        day = DeliveryDay(program_id=pid, window_start=now + timedelta(days=3),
                          window_end=now + timedelta(days=3, hours=3), place="Sede Los Aromos",
                          created_at=now)
        s.add(day)
        await s.flush()
        s.add(Pickup(delivery_day_id=day.id, family_id=rosa.id, status="confirmed"))
        s.add(OutboxMessage(idempotency_key="t:1", person_id=rosa_person.id, channel="whatsapp",
                            address="56922223333", kind="pickup_notice", payload={},
                            status="failed", last_error="131026 not on WhatsApp",
                            not_before=now, created_at=now))
        await s.commit()
        return {"junta": junta.id, "club": club.id, "rosa": rosa.id}


async def test_the_families_table_searches_filters_sorts_and_pages(web) -> None:
    ids = await _catastro(web, families=60)
    gestora = await web.person("Daniela", Role.GESTORA)
    b = await web.signed_in(gestora)
    r = await b.get(web.url("organizaciones", "familias"))
    assert r.status_code == 200
    assert "61 familias" in r.text
    assert "Familia 000" in r.text and "Rosa González" not in r.text  # page 1 of 2, by name
    assert 'rel="next"' in r.text
    r = await b.get(web.url("organizaciones", "familias"), params={"page": "2"})
    assert "Rosa González" in r.text and "Familia 000" not in r.text
    # Search by the RUT's digits however typed, by phone, by sector words.
    for q in ("12345678", "9 2222 3333", "rosa"):
        r = await b.get(web.url("organizaciones", "familias"), params={"q": q})
        assert "1 familia" in r.text and f'href="/web/p/{web.program.id}/organizaciones/f/' \
            f'{ids["rosa"]}"' in r.text, q
    r = await b.get(web.url("organizaciones", "familias"),
                    params={"sector": "el belloto", "sort": "-household"})
    assert "30 familias" in r.text and "Rosa" not in r.text
    first = r.text.index("Familia 005")  # household 5 first when sorted descending
    assert first < r.text.index("Familia 001")
    assert 'aria-sort="descending"' in r.text
    r = await b.get(web.url("organizaciones", "familias"),
                    params={"linked": "yes", "channel": "whatsapp"})
    assert "1 familia" in r.text and "Rosa González" in r.text
    r = await b.get(web.url("organizaciones", "familias"), params={"channel": "telegram"})
    assert "0 familias" in r.text


async def test_the_organisations_table_filters_by_kind_link_and_channel(web) -> None:
    await _catastro(web)
    gestora = await web.person("Daniela", Role.GESTORA)
    b = await web.signed_in(gestora)
    r = await b.get(web.url("organizaciones"))
    assert r.status_code == 200 and "2 organizaciones" in r.text
    assert "Junta de vecinos" in r.text  # the kind in words
    r = await b.get(web.url("organizaciones"), params={"linked": "no"})
    assert "Club Adulto Mayor Renacer" in r.text and "Los Aromos</a>" not in r.text
    r = await b.get(web.url("organizaciones"), params={"channel": "telegram"})
    assert "1 organización" in r.text and "Junta de Vecinos Los Aromos" in r.text
    r = await b.get(web.url("organizaciones"), params={"kind": "adulto_mayor", "ficha": "no"})
    assert "1 organización" in r.text and "Renacer" in r.text
    r = await b.get(web.url("organizaciones"), params={"q": "65111"})
    assert "1 organización" in r.text and "Los Aromos" in r.text
    r = await b.get(web.url("organizaciones"), params={"sort": "-name"})
    assert r.text.index("Junta de Vecinos") < r.text.index("Club Adulto")


async def _ficha(web, organization_id: int) -> None:
    now = web.app.clock.now()
    async with web.app.sessions() as s:
        definition = await responses.ensure_definition(s, load_form("ficha_interes"), now)
        response = FormResponse(
            form_id=definition.id, organization_id=organization_id, program_id=web.program.id,
            status=FormStatus.SUBMITTED, answers={
                "organization_name": "Junta de Vecinos Los Aromos",
                "organization_kind": "junta_vecinos", "members_count": 85},
            started_at=now, updated_at=now, submitted_at=now)
        s.add(response)
        await s.flush()
        s.add(FormSignature(response_id=response.id, signed_name="Marta Rojas",
                            signed_rut="9.876.543-3", signed_at=now))
        await s.commit()


async def test_a_record_shows_its_pickups_messages_and_people(web) -> None:
    ids = await _catastro(web)
    await _ficha(web, ids["junta"])
    gestora = await web.person("Daniela", Role.GESTORA)
    b = await web.signed_in(gestora)
    r = await b.get(web.url("organizaciones", f"f/{ids['rosa']}"))
    assert r.status_code == 200
    assert "<h1>Rosa González</h1>" in r.text
    assert "Sede Los Aromos" in r.text and "Confirmó" in r.text
    assert "Falló" in r.text and "131026" in r.text
    r = await b.get(web.url("organizaciones", f"o/{ids['junta']}"))
    assert r.status_code == 200
    assert "Marta Rojas" in r.text and "presidenta" in r.text
    assert "Tipo de organización" in r.text and "Junta de vecinos" in r.text
    assert "85" in r.text and "Marta Rojas 9.876.543-3" in r.text
    r = await b.get(web.url("organizaciones"), params={"ficha": "yes"})
    assert "1 organización" in r.text and "Los Aromos" in r.text
    # Another programme's record, or none, is not shown.
    r = await b.get(web.url("organizaciones", "f/999999"))
    assert r.status_code == 404


CSV = (
    "Nombre;RUT;Teléfono;Sector;Modalidad\n"
    "Ana Pérez;;+56 9 1111 2222;Villa Esperanza;retiro\n"
    "Luis Soto;11.111.111-2;+56 9 3333 4444;El Belloto;retiro\n"
    "Carmen Díaz;;912345670;El Belloto;domicilio\n"
).encode()


async def test_an_import_shows_the_bad_row_and_imports_only_when_confirmed(web) -> None:
    gestora = await web.person("Daniela", Role.GESTORA)
    b = await web.signed_in(gestora)
    assert (await b.get(web.url("organizaciones", "importar"))).status_code == 200
    r = await b.post(web.url("organizaciones", "importar"), data={"kind": "family"},
                     files={"file": ("familias.csv", CSV, "text/csv")})
    assert r.status_code == 200
    assert "Se pueden importar 2 de 3 filas" in r.text
    # Row 3 of her sheet (the header is row 1), and what is wrong with it, in Spanish.
    assert '<th scope="row">3</th>' in r.text and "Luis Soto" in r.text
    assert "RUT" in r.text and "Se omite" in r.text
    async with web.app.sessions() as s:
        assert await s.scalar(select(func.count(Family.id))) == 0
    token = r.text.split('name="token" value="', 1)[1].split('"', 1)[0]
    r = await b.post(web.url("organizaciones", "importar/confirmar"), data={"token": token})
    assert r.status_code == 200
    assert "se importaron 2 familias" in r.text
    async with web.app.sessions() as s:
        names = set((await s.scalars(select(Family.name))).all())
        audit = await s.scalar(select(AuditEntry).where(AuditEntry.action == "import.family"))
    assert names == {"Ana Pérez", "Carmen Díaz"}
    assert audit is not None and audit.actor_id == gestora.id and audit.channel == "web"
    # The same preview a second time imports nothing more.
    r = await b.post(web.url("organizaciones", "importar/confirmar"), data={"token": token})
    assert r.status_code == 409
    async with web.app.sessions() as s:
        assert await s.scalar(select(func.count(Family.id))) == 2


async def test_an_import_without_a_file_or_with_nothing_good_is_refused_kindly(web) -> None:
    gestora = await web.person("Daniela", Role.GESTORA)
    b = await web.signed_in(gestora)
    r = await b.post(web.url("organizaciones", "importar"), data={"kind": "family"})
    assert r.status_code == 422 and "Elige el archivo" in r.text
    r = await b.post(web.url("organizaciones", "importar"), data={"kind": "family"},
                     files={"file": ("x.pdf", b"%PDF-1.4", "application/pdf")})
    assert r.status_code == 422 and 'name="token"' not in r.text


async def test_the_qr_cards_download_as_a_pdf(web) -> None:
    ids = await _catastro(web, families=3)
    gestora = await web.person("Daniela", Role.GESTORA)
    b = await web.signed_in(gestora)
    r = await b.post(web.url("organizaciones", "tarjetas"),
                     data={"target": "family", "id": str(ids["rosa"])})
    assert r.status_code == 200
    assert r.content.startswith(b"%PDF")
    assert r.headers["content-type"] == "application/pdf"
    assert r.headers["content-disposition"].startswith("attachment;")
    r = await b.post(web.url("organizaciones", "tarjetas"),
                     data={"target": "family", "cards-sector": "El Belloto"})
    assert r.content.startswith(b"%PDF")
    async with web.app.sessions() as s:
        codes = (await s.scalars(select(LinkCode.target_id).where(
            LinkCode.target_kind == "family"))).all()
        audited = await s.scalar(select(func.count(AuditEntry.id)).where(
            AuditEntry.action == "link_codes_pdf"))
    assert ids["rosa"] in codes and audited == 2
    # The record now shows the code its card carries.
    page = await b.get(web.url("organizaciones", f"f/{ids['rosa']}"))
    async with web.app.sessions() as s:
        code = await s.scalar(select(LinkCode.code).where(LinkCode.target_id == ids["rosa"],
                                                          LinkCode.target_kind == "family"))
    assert code in page.text


async def test_refusals(web) -> None:
    await _catastro(web)
    supervisor = await web.person("Sofía", Role.SUPERVISOR)
    sb = await web.signed_in(supervisor)
    assert (await sb.get(web.url("organizaciones"))).status_code == 200
    assert (await sb.get(web.url("organizaciones", "familias"))).status_code == 200
    r = await sb.post(web.url("organizaciones", "importar"), data={"kind": "family"},
                      files={"file": ("familias.csv", CSV, "text/csv")})
    assert r.status_code == 403
    r = await sb.post(web.url("organizaciones", "tarjetas"), data={"target": "family"})
    assert r.status_code == 403
    recinto = await web.person("Don Pedro", Role.RECINTO)
    rb = await web.signed_in(recinto)
    r = await rb.get(web.url("organizaciones", "familias"))
    assert r.status_code == 403 and "Rosa" not in r.text
    nobody = web.browser()
    r = await nobody.get(web.url("organizaciones", "familias"))
    assert str(r.url).endswith("/web/entrar") and "Rosa" not in r.text
    gestora = await web.person("Daniela", Role.GESTORA)
    gb = await web.signed_in(gestora)
    r = await gb.post(web.url("organizaciones", "importar"), data={"kind": "family"},
                      files={"file": ("familias.csv", CSV, "text/csv")}, with_csrf=False)
    assert r.status_code == 403
    async with web.app.sessions() as s:
        assert await s.scalar(select(func.count(Family.id))) == 1  # Rosa only


async def test_every_label_is_in_both_languages() -> None:
    catalogs = Catalogs()
    missing = [key for group in LABELS.values() for key in group.values()
               for loc in ("es", "en") if catalogs.raw(loc, key) is None]
    assert not missing


async def test_a_channel_address_counts_as_the_family_chat(web) -> None:
    ids = await _catastro(web)
    async with web.app.sessions() as s:
        rosa = await s.get(Family, ids["rosa"])
        s.add(ChannelAddress(person_id=rosa.person_id, channel="telegram", address="8001",
                             created_at=web.app.clock.now()))
        await s.commit()
    gestora = await web.person("Daniela", Role.GESTORA)
    b = await web.signed_in(gestora)
    r = await b.get(web.url("organizaciones", "familias"), params={"channel": "telegram"})
    assert "1 familia" in r.text
    r = await b.get(web.url("organizaciones", "familias"), params={"channel": "none"})
    assert "0 familias" in r.text


async def test_an_organisations_workbook_in_english(web) -> None:
    import io

    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.append(["Nombre organización", "Tipo", "Correo", "Sector"])
    sheet.append(["Comité Vivienda Nuevo Horizonte", "Comité", "nh@example.cl", "Centro"])
    sheet.append(["Cooperativa La Unión", "Cooperativa", "not-an-email", "Centro"])
    out = io.BytesIO()
    book.save(out)
    gestora = await web.person("Daniela", Role.GESTORA)
    b = await web.signed_in(gestora)
    await b.post("/web/idioma", data={"lang": "en", "back": web.url()})
    r = await b.post(web.url("organizaciones", "importar"), data={"kind": "organization"},
                     files={"file": ("orgs.xlsx", out.getvalue(), "application/octet-stream")})
    assert r.status_code == 200
    assert '<th scope="row">3</th>' in r.text and "not-an-email" in r.text
    assert "Skipped" in r.text
    token = r.text.split('name="token" value="', 1)[1].split('"', 1)[0]
    r = await b.post(web.url("organizaciones", "importar/confirmar"), data={"token": token})
    assert str(r.url).split("?")[0].endswith("/organizaciones/")
    assert "1 organisation imported" in r.text and "Nuevo Horizonte" in r.text
    async with web.app.sessions() as s:
        kinds = (await s.scalars(select(Organization.kind))).all()
    assert kinds == ["comite"]


async def test_a_discarded_preview_is_gone_and_an_ended_sessions_goes_too(web) -> None:
    gestora = await web.person("Daniela", Role.GESTORA)
    laptop = await web.signed_in(gestora)
    r = await laptop.post(web.url("organizaciones", "importar"), data={"kind": "family"},
                          files={"file": ("familias.csv", CSV, "text/csv")})
    token = r.text.split('name="token" value="', 1)[1].split('"', 1)[0]
    await laptop.post("/web/salir")
    async with web.app.sessions() as s:  # signing out takes the preview (names, RUTs) along
        assert await s.scalar(select(func.count()).select_from(AppState).where(
            AppState.key.like("web.import.%"))) == 0
    phone = await web.signed_in(gestora)
    r = await phone.post(web.url("organizaciones", "importar"), data={"kind": "family"},
                         files={"file": ("familias.csv", CSV, "text/csv")})
    async with web.app.sessions() as s:
        held = (await s.scalars(select(AppState.key).where(
            AppState.key.like("web.import.%")))).all()
    assert len(held) == 1  # the signed-out laptop's preview went
    r = await phone.post(web.url("organizaciones", "importar/descartar"))
    r = await phone.post(web.url("organizaciones", "importar/confirmar"), data={"token": token})
    assert r.status_code == 409
    async with web.app.sessions() as s:
        assert await s.scalar(select(func.count(Family.id))) == 0
        assert await s.scalar(select(func.count()).select_from(AppState).where(
            AppState.key.like("web.import.%"))) == 0


async def test_the_channels_shown_are_those_the_installation_runs(web) -> None:
    """A channel no code names (here "signal") gets its filter choice and its badge from the
    wiring alone; one the installation does not run is not offered."""
    from channels import LEAST

    ids = await _catastro(web)
    web.panel.capabilities = {"console": LEAST, "signal": LEAST}
    async with web.app.sessions() as s:
        rosa = await s.get(Family, ids["rosa"])
        s.add(ChannelAddress(person_id=rosa.person_id, channel="signal", address="s-1",
                             created_at=web.app.clock.now()))
        await s.commit()
    b = await web.signed_in(await web.person("Daniela", Role.GESTORA))
    r = await b.get(web.url("organizaciones", "familias"))
    assert '<option value="signal">signal</option>' in r.text
    assert '<option value="console">Consola</option>' in r.text
    assert 'value="whatsapp"' not in r.text and 'value="telegram"' not in r.text
    assert '<span class="badge ok">signal</span>' in r.text
    r = await b.get(web.url("organizaciones", "familias"), params={"channel": "signal"})
    assert "1 familia" in r.text and "Rosa González" in r.text
    # WhatsApp is not run here: Rosa, on it, is on none of this installation's channels.
    r = await b.get(web.url("organizaciones", "familias"), params={"channel": "whatsapp"})
    assert "0 familias" in r.text
