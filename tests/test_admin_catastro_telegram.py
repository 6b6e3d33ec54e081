"""The catastro in chat, end to end through the real aiogram runtime and the fake Bot API:
importing spreadsheets sent as documents, one family added and corrected by guided steps,
linking codes and the printable QR cards."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import shutil
import subprocess
import threading

import openpyxl
import pytest
from openpyxl import Workbook
from sqlalchemy import func, select
from stdnum.cl import rut as cl_rut
from test_admin_outreach_support import (
    GESTORA,
    add_family,
    add_gestora,
    add_organization,
    seed_program,
    send_document,
)

from bot import whatsapp
from documents import imports
from handlers.core import DocumentTooBig
from storage.models import AuditEntry, Family, LinkCode, Organization
from telegram_harness import Running, labels_of


def rut(body: str) -> str:
    return cl_rut.format(body + cl_rut.calc_check_digit(body))


def bad_rut(body: str) -> str:
    wrong = "0" if cl_rut.calc_check_digit(body) != "0" else "1"
    return f"{body}-{wrong}"


ORGS_CSV = (
    "Nombre;RUT;Teléfono;Sector\r\n"
    f"Junta de Vecinos Villa Esperanza;{rut('65123456')};9 1234 5678;Villa Esperanza\r\n"
    f"Club Deportivo Los Aromos;{bad_rut('65987654')};;Los Aromos\r\n"
    f"Comité de Vivienda Ñuble;{rut('65111222')};;Centro\r\n"
).encode()


async def count(r: Running, model: type) -> int:
    async with r.app.sessions() as s:
        return await s.scalar(select(func.count()).select_from(model))


async def open_catastro(tg: Running, locale: str = "es") -> None:
    await tg.send(GESTORA, "/panel")
    await tg.press(GESTORA, "🗂️ Catastro y familias" if locale == "es"
                   else "🗂️ Organisations and families")


@pytest.mark.parametrize(
    ("locale", "import_button", "preview_bits", "go", "done"),
    [("es", "📥 Importar organizaciones",
      ["Se pueden importar 2 de 3 filas.", "Fila 3: RUT inválido"],
      "✅ Importar 2 filas válidas", "Listo: agregué 2 organizaciones al catastro."),
     ("en", "📥 Import organisations",
      ["2 of 3 rows can be imported.", "Row 3: invalid RUT"],
      "✅ Import 2 valid rows", "Done: I added 2 organisations to the catastro.")],
)
async def test_organisations_imported_from_a_document_with_a_bad_row_left_out(
        tg: Running, locale, import_button, preview_bits, go, done) -> None:
    await seed_program(tg)
    await add_gestora(tg, locale)
    await open_catastro(tg, locale)
    [ask] = await tg.press(GESTORA, import_button)
    assert ("RUT" in ask["text"]) and labels_of(ask) == [
        "✖️ Cancelar" if locale == "es" else "✖️ Cancel"]
    [preview] = await send_document(tg, GESTORA, "catastro.csv", ORGS_CSV, "text/csv", 1)
    for bit in preview_bits:
        assert bit in preview["text"]
    assert await count(tg, Organization) == 0  # nothing before she confirms
    [result] = await tg.press(GESTORA, go)
    assert result["text"].startswith(done)
    async with tg.app.sessions() as s:
        names = sorted((await s.scalars(select(Organization.name))).all())
        audit = await s.scalar(select(AuditEntry).where(AuditEntry.action == "import.organization"))
    assert names == ["Comité de Vivienda Ñuble", "Junta de Vecinos Villa Esperanza"]
    assert audit.actor_id is not None and audit.details["inserted"] == 2
    # The button was spent with the import: pressing it again imports nothing twice.
    await tg.press(GESTORA, go)
    assert await count(tg, Organization) == 2




def families_xlsx(rows: int, bad: int) -> bytes:
    book = Workbook()
    sheet = book.active
    sheet.append(["Listado de familias 2026"])  # a title above the headers, as people do
    sheet.append(["Nombre", "Teléfono", "Modalidad", "Sector", "Integrantes"])
    for i in range(rows):
        sheet.append([f"Familia Número {i + 1}", f"9 {5000_0000 + i:08d}", "Retiro en local",
                      "Villa Esperanza", 4])
    for i in range(bad):
        sheet.append([f"Familia Sin Teléfono {i + 1}", "12", "a veces", "Centro", "muchos"])
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()


async def test_families_sent_with_a_caption_skip_the_menu_and_bring_the_full_report(
        tg: Running) -> None:
    await seed_program(tg)
    await add_gestora(tg)
    xlsx = families_xlsx(12, 9)  # 9 bad rows x 3 problems: more than fits on a phone
    report, preview = await send_document(
        tg, GESTORA, "familias.xlsx", xlsx,
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", 2,
        caption="familias")
    assert report["document"].filename == "revision_importacion.csv"
    csv_text = report["document"].data.decode("utf-8-sig")
    assert "Familia Sin Teléfono 9" in csv_text and "No se importa" in csv_text
    assert "Se pueden importar 12 de 21 filas." in preview["text"]
    assert "problemas más" in preview["text"]
    [done] = await tg.press(GESTORA, "✅ Importar 12 filas válidas")
    assert done["text"].startswith("Listo: agregué 12 familias.")
    assert "9 filas con problemas quedaron fuera." in done["text"]
    assert await count(tg, Family) == 12


async def test_a_document_without_caption_asks_what_it_holds(tg: Running) -> None:
    await seed_program(tg)
    await add_gestora(tg)
    [which] = await send_document(tg, GESTORA, "planilla.csv", ORGS_CSV, "text/csv", 1)
    assert which["text"] == "¿Qué trae este archivo?"
    [preview] = await tg.press(GESTORA, "🏢 Organizaciones")
    assert "Se pueden importar 2 de 3 filas." in preview["text"]


async def test_records_added_meanwhile_make_the_preview_stale_and_a_fresh_one_is_shown(
        tg: Running) -> None:
    program_id = await seed_program(tg)
    await add_gestora(tg)
    await open_catastro(tg)
    await tg.press(GESTORA, "📥 Importar organizaciones")
    await send_document(tg, GESTORA, "catastro.csv", ORGS_CSV, "text/csv", 1)
    # Someone else adds one of the file's organisations before she confirms.
    await add_organization(tg, program_id, "Junta de Vecinos Villa Esperanza")
    stale, fresh = await tg.press(GESTORA, "✅ Importar 2 filas válidas", count=2)
    assert "no importé nada" in stale["text"]
    assert "Se puede importar 1 de 3 filas." in fresh["text"]
    assert "ya está registrada: Junta de Vecinos Villa Esperanza" in fresh["text"]
    assert await count(tg, Organization) == 1
    [done] = await tg.press(GESTORA, "✅ Importar 1 fila válida")
    assert "agregué 1 organización" in done["text"]
    assert await count(tg, Organization) == 2


async def test_a_photo_instead_of_the_file_gets_a_kind_reask(tg: Running) -> None:
    await seed_program(tg)
    await add_gestora(tg)
    await open_catastro(tg)
    await tg.press(GESTORA, "📥 Importar familias")
    before = len(tg.fake.delivered(GESTORA))
    tg.fake.photo(GESTORA)
    [reask] = await tg.replies(GESTORA, before, 1)
    assert "archivo adjunto" in reask["text"]
    bad, fix = await send_document(tg, GESTORA, "foto.pdf", b"%PDF-1.4 x", "application/pdf", 2)
    assert "Solo puedo leer planillas" in bad["text"]
    assert "envíamela de nuevo" in fix["text"]


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
NEWCOMER = 4242


def orgs_xlsx() -> bytes:
    book = Workbook()
    for line in ORGS_CSV.decode().splitlines():
        book.active.append(line.split(";"))
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()


async def test_someone_elses_start_is_answered_while_her_file_is_being_read(
        tg: Running, monkeypatch: pytest.MonkeyPatch) -> None:
    await seed_program(tg)
    await add_gestora(tg)
    # Reading her workbook takes as long as the test says: a big file, slowed down at will.
    reading, go_on, read = threading.Event(), threading.Event(), threading.Event()
    load = openpyxl.load_workbook

    def slow_load(*args, **kw):
        reading.set()
        go_on.wait(10)  # on the event loop, nobody would be answered meanwhile
        book = load(*args, **kw)
        read.set()
        return book

    monkeypatch.setattr(openpyxl, "load_workbook", slow_load)
    before = len(tg.fake.delivered(GESTORA))
    tg.fake.document(GESTORA, "catastro.xlsx", orgs_xlsx(), XLSX, caption="catastro")
    for _ in range(200):
        if reading.is_set():
            break
        await asyncio.sleep(0.05)
    # Not tg.send: it waits for the bot to have every update done, and hers is not.
    tg.fake.command(NEWCOMER, "/start")
    await tg.fake.wait_for_sent(NEWCOMER, 1, timeout=10)
    await asyncio.sleep(0.05)  # anything extra would show up as a failed count below
    [hello] = [m.params for m in tg.fake.delivered(NEWCOMER)]
    assert "¿Aceptas?" in hello["text"]
    assert not read.is_set()  # she is answered while the file is still being read
    go_on.set()
    [preview] = await tg.replies(GESTORA, before, 1)
    assert "Se pueden importar 2 de 3 filas." in preview["text"]
    [done] = await tg.press(GESTORA, "✅ Importar 2 filas válidas")
    assert "agregué 2 organizaciones" in done["text"]


async def test_a_file_too_big_is_refused_without_downloading_it(tg: Running) -> None:
    await seed_program(tg)
    await add_gestora(tg)
    big = ORGS_CSV + b"Otra;;;\r\n" * (imports.MAX_BYTES // 9)
    # Without a caption the size waits with the question of what the file holds.
    [which] = await send_document(tg, GESTORA, "planilla.csv", big, "text/csv", 1)
    assert which["text"] == "¿Qué trae este archivo?"
    [refused] = await tg.press(GESTORA, "🏢 Organizaciones")
    assert refused["text"] == "El archivo es muy grande. Envía uno de menos de 5 MB."
    assert tg.fake.downloads == []
    await send_document(tg, GESTORA, "catastro.csv", ORGS_CSV, "text/csv", 1)
    assert len(tg.fake.downloads) == 1


async def test_a_download_stops_at_the_size_even_when_telegram_does_not_say_it(
        tg: Running) -> None:
    small = tg.fake._new_file("document", b"x" * 100, ".csv")["file_id"]
    big = tg.fake._new_file("document", b"x" * 300_000, ".csv")["file_id"]
    del tg.fake._files[big]["file_size"]  # as a self-hosted Bot API server may
    download = tg.runtime.download
    assert await download(small, 100) == b"x" * 100
    with pytest.raises(DocumentTooBig):
        await download(small, 99)
    with pytest.raises(DocumentTooBig):
        await download(big, 200_000)
    assert tg.fake.downloads == [small, big]
    # Cut off while it comes, not read whole first: a self-hosted Bot API server serves files
    # of up to 2 GB.
    huge = tg.fake._new_file("document", b"x" * 40_000_000, ".csv")["file_id"]
    del tg.fake._files[huge]["file_size"]
    with pytest.raises(DocumentTooBig):
        await download(huge, 200_000)
    for _ in range(100):
        if huge in tg.fake.served:
            break
        await asyncio.sleep(0.05)
    assert tg.fake.served[huge] < 20_000_000


# --- one family by guided steps -----------------------------------------------------------------


async def test_a_family_added_step_by_step_then_corrected(tg: Running) -> None:
    await seed_program(tg)
    await add_gestora(tg)
    await open_catastro(tg)
    [ask] = await tg.press(GESTORA, "➕ Familia")
    assert "nombre de la familia" in ask["text"]
    [ask] = await tg.send(GESTORA, "Rojas Muñoz")
    assert "teléfono de la familia" in ask["text"]
    [again] = await tg.send(GESTORA, "123")
    assert again["text"].startswith("No reconozco el teléfono 123.")
    before = len(tg.fake.delivered(GESTORA))
    tg.fake.sticker(GESTORA)
    [again] = await tg.replies(GESTORA, before, 1)
    assert again["text"].startswith("Escríbelo como texto")
    [ask] = await tg.send(GESTORA, "9 8765 4321")
    assert "RUT" in ask["text"]
    [ask] = await tg.press(GESTORA, "⏭️ Omitir")
    assert "canasta" in ask["text"]
    [ask] = await tg.press(GESTORA, "🚚 Entrega a domicilio")
    assert "sector" in ask["text"]
    await tg.send(GESTORA, "Villa Esperanza")
    await tg.send(GESTORA, "Pasaje 3 #45")
    [again] = await tg.send(GESTORA, "muchos")
    assert "Necesito un número" in again["text"]
    created, card = await tg.send(GESTORA, "4 personas", count=2)
    assert created["text"] == "✅ Agregué la familia."
    assert card["text"].startswith("🏠 Rojas Muñoz")
    assert "Teléfono: +56987654321" in card["text"] and "Integrantes: 4" in card["text"]
    assert "Modalidad: 🚚 Entrega a domicilio" in card["text"] and "RUT: —" in card["text"]
    async with tg.app.sessions() as s:
        fam = await s.scalar(select(Family))
    assert (fam.phone, fam.pickup_mode, fam.sector, fam.address, fam.household_size) == (
        "+56987654321", "domicilio", "Villa Esperanza", "Pasaje 3 #45", 4)

    # Later: find her and correct the RUT.
    await open_catastro(tg)
    [pick] = await tg.press(GESTORA, "✏️ Editar familia")
    assert pick["text"] == "¿Cuál?"
    [card] = await tg.press(GESTORA, "Rojas Muñoz")
    [ask] = await tg.press(GESTORA, "RUT")
    assert "RUT de la familia" in ask["text"]
    [again] = await tg.send(GESTORA, bad_rut("12345678"))
    assert "no es válido" in again["text"]
    saved, card = await tg.send(GESTORA, rut("12345678").replace(".", ""), count=2)
    assert saved["text"] == "✅ Guardado."
    assert f"RUT: {rut('12345678')}" in card["text"]
    current, ask = await tg.press(GESTORA, "Sector", count=2)
    assert current["text"] == "Sector ahora: Villa Esperanza"
    assert "🧹 Dejar vacío" in labels_of(ask)
    _, card = await tg.press(GESTORA, "🧹 Dejar vacío", count=2)
    assert "Sector: —" in card["text"]
    async with tg.app.sessions() as s:
        fam = await s.scalar(select(Family))
        audits = (await s.scalars(select(AuditEntry.action).where(
            AuditEntry.action.in_(["catastro_created", "catastro_updated"])))).all()
    assert fam.rut == rut("12345678") and fam.sector is None
    assert sorted(audits) == ["catastro_created", "catastro_updated", "catastro_updated"]


async def test_a_duplicate_phone_is_explained_and_a_family_needs_phone_or_address(
        tg: Running) -> None:
    program_id = await seed_program(tg)
    await add_gestora(tg)
    await add_family(tg, program_id, "González Soto", phone="+56912345678")
    await open_catastro(tg)
    await tg.press(GESTORA, "➕ Familia")
    await tg.send(GESTORA, "Pérez Araya")
    [again] = await tg.send(GESTORA, "+56 9 1234 5678")
    assert "Ya hay una familia con ese teléfono: González Soto." in again["text"]
    await tg.press(GESTORA, "⏭️ Omitir")  # no phone
    await tg.press(GESTORA, "⏭️ Omitir")  # no RUT
    await tg.press(GESTORA, "🏪 Retiro en local")
    [ask] = await tg.press(GESTORA, "⏭️ Omitir")  # no sector
    assert "dirección" in ask["text"] and "⏭️ Omitir" not in labels_of(ask)
    [cancelled] = await tg.press(GESTORA, "✖️ Cancelar")
    assert cancelled["text"] == "Listo, lo dejé sin cambios."
    assert await count(tg, Family) == 1


async def test_an_organisation_in_english(tg: Running) -> None:
    await seed_program(tg)
    await add_gestora(tg, "en")
    await open_catastro(tg, "en")
    [ask] = await tg.press(GESTORA, "➕ Organisation")
    assert ask["text"] == "What is the organisation called?"
    await tg.send(GESTORA, "Centro de Madres Las Camelias")
    for _ in range(6):
        await tg.press(GESTORA, "⏭️ Skip")
    created, card = await tg.send(GESTORA, "35", count=2)
    assert created["text"] == "✅ I added the organisation to the register."
    assert "Members: 35" in card["text"] and "Phone: —" in card["text"]


# --- linking codes -------------------------------------------------------------------------------


async def test_codes_for_an_organisation_a_body_and_a_family_are_deep_links(tg: Running) -> None:
    program_id = await seed_program(tg)
    await add_gestora(tg)
    await add_organization(tg, program_id, "Junta de Vecinos Villa Ñuñoa")
    await add_family(tg, program_id, "Familia Güemes", sector="Centro")
    await open_catastro(tg)
    await tg.press(GESTORA, "🔗 Códigos para vincularse")
    await tg.press(GESTORA, "🏢 De una organización")
    [shown] = await tg.press(GESTORA, "Junta de Vecinos Villa Ñuñoa")
    async with tg.app.sessions() as s:
        code = await s.scalar(select(LinkCode.code).where(LinkCode.target_kind == "organization"))
    assert f"https://t.me/convoca_test_bot?start={code}" in shown["text"]
    assert "Junta de Vecinos Villa Ñuñoa" in shown["text"]
    [shown] = await tg.press(GESTORA, "👥 Grupo Motor")
    assert "Grupo Motor" in shown["text"] and "?start=" in shown["text"]
    await tg.press(GESTORA, "🔗 Códigos para vincularse")
    await tg.press(GESTORA, "🏠 De una familia")
    [shown] = await tg.press(GESTORA, "Familia Güemes")
    assert "una sola vez" in shown["text"]
    async with tg.app.sessions() as s:
        kinds = sorted((await s.scalars(select(LinkCode.target_kind))).all())
    assert kinds == ["body", "family", "organization"]

    # Asking again shows the same, still unused code: printed cards stay good.
    [again] = await tg.press(GESTORA, "Familia Güemes")
    assert again["text"] == shown["text"]


async def test_the_qr_pdf_of_a_sector_arrives_as_a_document(tg: Running, tmp_path) -> None:
    program_id = await seed_program(tg)
    await add_gestora(tg)
    for name in ("Familia Ñancupil", "Familia Güemes"):
        await add_family(tg, program_id, name, sector="Villa Esperanza")
    await add_family(tg, program_id, "Familia Otro Sector", sector="Centro")
    await open_catastro(tg)
    await tg.press(GESTORA, "🔗 Códigos para vincularse")
    [which] = await tg.press(GESTORA, "🖨️ PDF con QR de las familias")
    assert labels_of(which)[:3] == ["Todas las familias", "Centro (1)", "Villa Esperanza (2)"]
    [pdf] = await tg.press(GESTORA, "Villa Esperanza (2)")
    doc = pdf["document"]
    assert doc.filename == "codigos_convoca.pdf" and doc.data.startswith(b"%PDF")
    assert pdf["caption"].startswith("🖨️ 2 tarjetas con código QR")
    if shutil.which("pdftotext"):
        (tmp_path / "cards.pdf").write_bytes(doc.data)
        text = (await asyncio.to_thread(
            subprocess.run, ["pdftotext", str(tmp_path / "cards.pdf"), "-"],
            capture_output=True, text=True, check=True)).stdout
        assert "Familia Ñancupil" in text and "Familia Güemes" in text
        assert "Otro Sector" not in text
    async with tg.app.sessions() as s:
        assert await s.scalar(select(func.count()).select_from(LinkCode)) == 2


async def test_where_the_installation_has_whatsapp_the_families_cards_open_it(
        tg: Running, tmp_path) -> None:
    """The gestora works on Telegram, the families are on WhatsApp: the cards and the code
    she is shown open WhatsApp, and say so."""
    program_id = await seed_program(tg)
    await add_gestora(tg)
    await add_family(tg, program_id, "Familia Güemes", sector="Centro")
    tg.app.services.capabilities["whatsapp"] = whatsapp.capabilities("56 9 8765 4321")
    await open_catastro(tg)
    await tg.press(GESTORA, "🔗 Códigos para vincularse")
    await tg.press(GESTORA, "🏠 De una familia")
    [shown] = await tg.press(GESTORA, "Familia Güemes")
    async with tg.app.sessions() as s:
        code = await s.scalar(select(LinkCode.code))
    assert f"https://wa.me/56987654321?text={code}" in shown["text"]
    assert "t.me" not in shown["text"]
    await tg.press(GESTORA, "🔗 Códigos para vincularse")
    await tg.press(GESTORA, "🖨️ PDF con QR de las familias")
    [pdf] = await tg.press(GESTORA, "Todas las familias")
    (tmp_path / "cards.pdf").write_bytes(pdf["document"].data)
    if shutil.which("pdftoppm") and shutil.which("zbarimg"):
        await asyncio.to_thread(subprocess.run, ["pdftoppm", "-r", "110", "-png",
                                                 str(tmp_path / "cards.pdf"),
                                                 str(tmp_path / "page")], check=True)
        found = (await asyncio.to_thread(
            subprocess.run, ["zbarimg", "-q", "--raw", str(tmp_path / "page-1.png")],
            capture_output=True, text=True)).stdout.split()
        assert found == [f"https://wa.me/56987654321?text={code}"]
    if shutil.which("pdftotext"):
        text = (await asyncio.to_thread(
            subprocess.run, ["pdftotext", str(tmp_path / "cards.pdf"), "-"],
            capture_output=True, text=True, check=True)).stdout
        assert "se abrirá WhatsApp" in " ".join(text.split()) and "Telegram" not in text


async def test_long_cells_never_push_the_preview_past_what_telegram_takes(tg: Running) -> None:
    await seed_program(tg)
    await add_gestora(tg)
    rows = "".join(f"Junta {i};{'9' * 300}-{i}\r\n" for i in range(14))
    report, preview, _ = await send_document(tg, GESTORA, "largo.csv",
                                             ("Nombre;RUT\r\n" + rows).encode(), "text/csv", 3,
                                             caption="organizaciones")
    assert report["document"].filename == "revision_importacion.csv"
    assert len(preview["text"]) <= 4096 and "problemas más" in preview["text"]
    assert "Ninguna de las 14 filas se puede importar." in preview["text"]


async def test_without_the_bot_name_codes_are_given_to_type(tg: Running) -> None:
    program_id = await seed_program(tg)
    await add_gestora(tg)
    await add_family(tg, program_id, "Familia Güemes", sector="Centro")
    # As the console: no bot name, hence no deep links and no QR.
    caps = tg.app.services.capabilities
    caps["telegram"] = dataclasses.replace(caps["telegram"], deep_link=None)
    await open_catastro(tg)
    await tg.press(GESTORA, "🔗 Códigos para vincularse")
    await tg.press(GESTORA, "🏠 De una familia")
    [shown] = await tg.press(GESTORA, "Familia Güemes")
    async with tg.app.sessions() as s:
        code = await s.scalar(select(LinkCode.code))
    assert f"escriben /start {code} al bot" in shown["text"] and "t.me" not in shown["text"]
    await tg.press(GESTORA, "🔗 Códigos para vincularse")
    await tg.press(GESTORA, "🖨️ PDF con QR de las familias")
    [listed] = await tg.press(GESTORA, "Todas las familias")
    assert "document" not in listed and f"Familia Güemes: {code}" in listed["text"]
