"""Documents on WhatsApp end to end, through the real channel and the fake Cloud API: a
gestora's spreadsheets sent as documents are downloaded by media id and imported as on
Telegram (paper consent included); every file Convoca makes is uploaded in a type Meta
takes and arrives byte for byte; a meeting's place goes as a location message; a media URL
that expired or failed (131053) is fetched again or answered kindly."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from openpyxl import Workbook
from sqlalchemy import select
from test_admin_catastro_telegram import ORGS_CSV
from test_whatsapp_cloud import programme
from whatsapp_harness import Running

from bot.whatsapp.render import DOCUMENT_TYPES, IMAGE_TYPES
from documents import imports
from services import meetings as meeting_services
from services.messages import Outgoing
from services.pickups import send_pickup_notice
from storage import imported
from storage.models import (
    ChannelAddress,
    DeliveryDay,
    Family,
    Meeting,
    Organization,
    OutboxMessage,
    Person,
    Pickup,
    PickupStatus,
)
from support import add_member

GESTORA = "56900000001"
ANA = "56900000002"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
STARTS = datetime(2026, 3, 20, 21, 0, tzinfo=UTC)


async def add_gestora(r: Running, program_id: int) -> int:
    return await add_member(r.app.sessions, r.app.clock.now(), "whatsapp", GESTORA,
                            "Gabriela Gestora", "es", "gestora", program_id=program_id)


def families_with_consent(bad: int = 0) -> bytes:
    """The families sheet as programmes keep it, with the paper consent column: a date, a
    "sí", a "no", a blank; ``bad`` rows that cannot be imported."""
    book = Workbook()
    sheet = book.active
    sheet.append(["Nombre", "Teléfono", "Modalidad", "Sector", "Integrantes", "Consentimiento"])
    sheet.append(["Familia Díaz Rojas", "9 8765 4321", "Retiro en local", "Centro", 4,
                  "02-03-2026"])
    sheet.append(["Familia Soto Pérez", "9 8765 4322", "Retiro en local", "Centro", 3, "sí"])
    sheet.append(["Familia Muñoz Lara", "9 8765 4323", "Retiro en local", "Centro", 2, "no"])
    sheet.append(["Familia Reyes Vega", "9 8765 4324", "Retiro en local", "Centro", 5, None])
    for i in range(bad):
        sheet.append([f"Familia Sin Teléfono {i + 1}", "12", "a veces", "Centro", "muchos",
                      "quizás"])
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()


def made(r: Running, wa_id: str, rows: list[OutboxMessage]) -> dict[str, bytes]:
    """What Convoca made for the person: each attachment of their outbox rows, by filename."""
    files = {}
    for row in rows:
        if row.address == wa_id:
            a = Outgoing.from_json(row.payload).attachment
            if a is not None:
                files[a.filename] = a.content
    return files


async def received(r: Running, wa_id: str) -> dict[str, tuple[str, bytes]]:
    """Each file the person got, as their phone fetches it (by media id, over HTTP): by the
    name it was uploaded under, its uploaded type and bytes."""
    got = {}
    for m in r.fake.messages(wa_id):
        if m.type in ("document", "image"):
            media_id = m.body[m.type]["id"]
            media = r.fake._media[media_id]
            content = await r.client.download(media_id, 100 * 1024 * 1024)
            got[media.filename] = (media.mime_type, content)
    return got


async def choose(r: Running, wa_id: str, title: str) -> list:
    """Press ``title`` as WhatsApp shows it: cut with "…" where it passes 20 characters (a
    button) or 24 (a list row), a row's whole label in its description when two cut ones
    would read the same."""
    for m in reversed(r.fake.messages(wa_id)):
        for shown in (*m.buttons, *m.rows):
            whole = m.rows[shown][1] if shown in m.rows else None
            if title in (shown, whole) or (shown.endswith("…") and whole is None
                                           and title.startswith(shown[:-1])):
                return await r.press(wa_id, shown)
    raise LookupError(f"{title!r} is not shown to {wa_id}")


def import_button(r: Running) -> str:
    # "✅ Importar 4 filas válidas" is cut to WhatsApp's 20 characters of a button.
    return next(c for c in r.fake.choices(GESTORA) if c.startswith("✅ Importar"))


async def rows(r: Running) -> list[OutboxMessage]:
    async with r.app.sessions() as s:
        return list(await s.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


async def assert_arrived_as_made(r: Running, wa_id: str) -> dict[str, tuple[str, bytes]]:
    """Every file reached the person in a type Meta takes, byte for byte as made."""
    got = await received(r, wa_id)
    wanted = made(r, wa_id, await rows(r))
    assert set(got) == set(wanted)
    for name, (mime, content) in got.items():
        assert mime in DOCUMENT_TYPES | IMAGE_TYPES, (name, mime)
        assert content == wanted[name], name
    r.fake.assert_clean()
    return got


# --- a gestora's spreadsheets ----------------------------------------------------------------


async def test_families_xlsx_with_paper_consent_imported_and_a_consenting_family_reached_first(
        cloud: Running) -> None:
    program_id = await programme(cloud)
    await add_gestora(cloud, program_id)
    # 3 bad rows x 3 problems: more than the chat message takes, so the full review comes
    # as a file too (a CSV Convoca makes: it must reach WhatsApp in a type Meta takes).
    answer = await cloud.document(GESTORA, "familias.xlsx", families_with_consent(bad=9), XLSX,
                                  caption="familias")
    report, preview = answer
    assert report.type == "document" and report.body["document"]["filename"] \
        == "revision_importacion.csv"
    assert "Se pueden importar 4 de 13 filas." in preview.text
    assert cloud.fake.downloads, "the sheet was not fetched by its media id"
    await assert_arrived_as_made(cloud, GESTORA)
    [done] = await cloud.press(GESTORA, import_button(cloud))
    assert done.text.startswith("Listo: agregué 4 familias.")
    async with cloud.app.sessions() as s:
        families = {f.name: f for f in await s.scalars(select(Family))}
        consented = {f.name for f in families.values() if f.person_id is not None and (
            await s.get(Person, f.person_id)).contact_consent_at is not None}
        addresses = set(await s.scalars(select(ChannelAddress.address).where(
            ChannelAddress.channel == "whatsapp")))
        without = [f.name for f in await imported.families_without_consent(s, program_id)]
        diaz = await s.get(Person, families["Familia Díaz Rojas"].person_id)
    assert consented == {"Familia Díaz Rojas", "Familia Soto Pérez"}
    # The others are listed for the gestora to call or hand the QR card.
    assert without == ["Familia Muñoz Lara", "Familia Reyes Vega"]
    assert diaz.contact_consent_at.astimezone(ZoneInfo("America/Santiago")).date() == date(
        2026, 3, 2)
    assert {"56987654321", "56987654322"} <= addresses
    assert not {"56987654323", "56987654324"} & addresses

    # The consenting family never wrote: its pickup notice goes first, as a template.
    now = cloud.app.clock.now()
    async with cloud.app.sessions() as s:
        family = await s.get(Family, families["Familia Díaz Rojas"].id)
        day = DeliveryDay(program_id=program_id, window_start=STARTS,
                          window_end=STARTS + timedelta(hours=2), place="Sede Villa Ñuñoa",
                          address="Los Aromos 123", created_at=now)
        s.add(day)
        await s.flush()
        pickup = Pickup(delivery_day_id=day.id, family_id=family.id,
                        status=PickupStatus.PENDING)
        s.add(pickup)
        await s.flush()
        assert await send_pickup_notice(s, pickup, now) is not None
        await s.commit()
    await cloud.deliver()
    [notice] = cloud.fake.messages("56987654321")
    assert notice.type == "template" and notice.template is not None
    # The first thing Convoca writes says how to stop it.
    footer = next(c["text"] for c in cloud.fake.template(*notice.template).components
                  if c["type"].upper() == "FOOTER")
    assert "BASTA" in footer
    assert cloud.fake.messages("56987654323") == []
    cloud.fake.assert_clean()


async def test_organisations_csv_without_caption_asks_what_it_holds_then_imports(
        cloud: Running) -> None:
    program_id = await programme(cloud)
    await add_gestora(cloud, program_id)
    [which] = await cloud.document(GESTORA, "planilla.csv", ORGS_CSV, "text/csv")
    assert which.text == "¿Qué trae este archivo?"
    [preview] = await cloud.press(GESTORA, "🏢 Organizaciones")
    assert "Se pueden importar 2 de 3 filas." in preview.text
    [done] = await cloud.press(GESTORA, import_button(cloud))
    assert done.text.startswith("Listo: agregué 2 organizaciones al catastro.")
    async with cloud.app.sessions() as s:
        names = sorted(await s.scalars(select(Organization.name)))
    assert names == ["Comité de Vivienda Ñuble", "Junta de Vecinos Villa Esperanza"]
    cloud.fake.assert_clean()


async def test_a_file_too_big_is_refused_kindly_without_fetching_its_bytes(
        cloud: Running) -> None:
    program_id = await programme(cloud)
    await add_gestora(cloud, program_id)
    big = ORGS_CSV + b"Otra;;;\r\n" * (imports.MAX_BYTES // 9)
    [refused] = await cloud.document(GESTORA, "catastro.csv", big, "text/csv",
                                     caption="organizaciones")
    assert refused.text == "El archivo es muy grande. Envía uno de menos de 5 MB."
    assert cloud.fake.downloads == []  # Meta said its size: the URL was never fetched
    [preview] = await cloud.document(GESTORA, "catastro.csv", ORGS_CSV, "text/csv",
                                     caption="organizaciones")
    assert "Se pueden importar 2 de 3 filas." in preview.text
    cloud.fake.assert_clean()


@pytest.mark.parametrize(("fault", "path"), [
    (131053, "attachments"),  # the URL's fetch: Meta's media store failed
    (131053, "media"),  # asking the media id for its URL
    ("5xx", "attachments"),
    ("timeout", "attachments"),  # the connection dropped while the file came
])
async def test_a_download_that_fails_once_is_fetched_again(cloud: Running, fault, path
                                                           ) -> None:
    """Meta's media store fails now and then (131053, 5xx, a dropped connection): the media
    id is asked for a fresh URL and the file comes, with no word to the gestora."""
    program_id = await programme(cloud)
    await add_gestora(cloud, program_id)
    cloud.fake.inject(fault, path=path)
    [preview] = await cloud.document(GESTORA, "catastro.csv", ORGS_CSV, "text/csv",
                                     caption="organizaciones")
    assert "Se pueden importar 2 de 3 filas." in preview.text
    cloud.fake.assert_clean(allow=[131053])


async def test_a_download_that_keeps_failing_is_answered_kindly_and_nothing_is_lost(
        cloud: Running) -> None:
    program_id = await programme(cloud)
    await add_gestora(cloud, program_id)
    cloud.fake.inject(131053, path="attachments", times=2)
    [again] = await cloud.document(GESTORA, "catastro.csv", ORGS_CSV, "text/csv",
                                   caption="organizaciones")
    assert again.text == "No pude descargar el archivo. ¿Me lo envías de nuevo?"
    [preview] = await cloud.document(GESTORA, "catastro.csv", ORGS_CSV, "text/csv",
                                     caption="organizaciones")
    assert "Se pueden importar 2 de 3 filas." in preview.text
    [done] = await cloud.press(GESTORA, import_button(cloud))
    assert "agregué 2 organizaciones" in done.text
    cloud.fake.assert_clean(allow=[131053])


async def test_a_media_url_that_expired_is_fetched_again(cloud: Running, monkeypatch) -> None:
    """Five minutes pass between asking for the URL and fetching it (a slow worker): Meta
    answers 131053, and a fresh URL is asked for."""
    media_id = cloud.fake._store_media(b"Nombre;RUT\r\n", "text/csv", "x.csv").id
    fake, real = cloud.fake, cloud.fake._media_url

    asked: list[str] = []

    async def late(node, request):
        answer = await real(node, request)
        if not asked:  # the first URL is fetched 6 minutes after Meta gave it
            fake.advance(timedelta(minutes=6))
        asked.append(node)
        return answer

    monkeypatch.setattr(fake, "_media_url", late)
    assert await cloud.client.download(media_id, 1000) == b"Nombre;RUT\r\n"
    assert asked == [media_id, media_id] and fake.downloads == [media_id]


# --- what Convoca sends -----------------------------------------------------------------------


async def test_a_persons_data_export_arrives_as_a_pdf_and_a_json_as_made(cloud: Running) -> None:
    program_id = await programme(cloud)
    await add_member(cloud.app.sessions, cloud.app.clock.now(), "whatsapp", ANA, "Ana Pérez",
                     "es", "familia", program_id=program_id)
    answer = await cloud.send(ANA, "/mis_datos")
    assert [m.type for m in answer] == ["text", "document", "document"]
    got = await assert_arrived_as_made(cloud, ANA)
    # The JSON goes as plain text (Meta takes no application/json) under its own name.
    assert sorted(mime for mime, _ in got.values()) == ["application/pdf", "text/plain"]
    assert any(name.endswith(".json") for name in got)


async def test_a_meeting_place_as_a_location_and_its_calendar_file_as_made(
        cloud: Running) -> None:
    program_id = await programme(cloud)
    pid = await add_member(cloud.app.sessions, cloud.app.clock.now(), "whatsapp", ANA,
                           "Ana Pérez", "es", "grupo_motor", program_id=program_id)
    await cloud.send(ANA, "Hola")  # inside the window: the invitation goes as itself
    async with cloud.app.sessions() as s:
        meeting = Meeting(program_id=program_id, kind="grupo_motor", starts_at=STARTS,
                          ends_at=STARTS + timedelta(hours=2), place="Sede Villa Ñuñoa",
                          address="Los Aromos 123, Quilpué", latitude=-33.0472,
                          longitude=-71.4425, created_at=cloud.app.clock.now())
        s.add(meeting)
        await s.flush()
        await meeting_services.send_invitations(s, meeting, [pid], cloud.app.clock.now())
        await s.commit()
    before = len(cloud.fake.messages(ANA))
    await cloud.deliver()
    invitation, pin = cloud.fake.messages(ANA)[before:]
    assert invitation.type == "interactive"
    assert pin.type == "location"
    assert (pin.body["location"]["latitude"], pin.body["location"]["longitude"]) == (
        -33.0472, -71.4425)
    calendar = next(c for c in cloud.fake.choices(ANA) if "calendario" in c)
    [ics] = await cloud.press(ANA, calendar)
    assert ics.type == "document" and ics.body["document"]["filename"].endswith(".ics")
    got = await assert_arrived_as_made(cloud, ANA)
    [(mime, content)] = got.values()
    assert mime == "text/plain" and content.startswith(b"BEGIN:VCALENDAR")


EXPORTS = [  # (the menu's option, the formats it offers)
    ("📊 Informe de avance", ["PDF (para imprimir)", "Excel (XLSX)", "Gráfico (PNG)"]),
    ("🏘 Organizaciones invitadas", ["Excel (XLSX)", "PDF (para imprimir)", "CSV"]),
]


async def test_every_export_of_the_gestora_arrives_in_a_type_meta_takes_as_made(
        cloud: Running) -> None:
    program_id = await programme(cloud)
    await add_gestora(cloud, program_id)
    now = cloud.app.clock.now()
    async with cloud.app.sessions() as s:
        s.add(Organization(program_id=program_id, name="Junta de Vecinos Villa Esperanza",
                           created_at=now))
        s.add(Meeting(program_id=program_id, kind="socializacion", starts_at=now - timedelta(
            days=1), place="Sede vecinal", created_at=now))
        s.add(DeliveryDay(program_id=program_id, window_start=now - timedelta(days=2),
                          window_end=now - timedelta(days=2) + timedelta(hours=2),
                          place="Sede", created_at=now))
        await s.commit()
    await cloud.send(GESTORA, "/panel")
    await choose(cloud, GESTORA, "📄 Documentos")
    for option, formats in EXPORTS:
        await choose(cloud, GESTORA, option)
        for fmt in formats:
            [sent] = await choose(cloud, GESTORA, fmt)
            assert sent.type in ("document", "image"), (option, fmt, sent.text)
    for option in ("📝 Lista de asistencia", "🧺 Lista de un día de entrega"):
        [pick] = await choose(cloud, GESTORA, option)
        first = next(iter({**pick.buttons, **pick.rows}))
        await cloud.press(GESTORA, first)
        for fmt in ("PDF (para imprimir)", "Excel (XLSX)", "CSV"):
            [sent] = await choose(cloud, GESTORA, fmt)
            assert sent.type == "document", (option, fmt, sent.text)
    await choose(cloud, GESTORA, "📋 Fichas de interés")
    [sent] = await choose(cloud, GESTORA, "Una planilla con todas (XLSX)")
    assert sent.type == "document"
    got = await assert_arrived_as_made(cloud, GESTORA)
    assert len(got) == 13
    csvs = {name: mime for name, (mime, _) in got.items() if name.endswith(".csv")}
    # A CSV goes as the plain text it is, under its .csv name: Meta takes no text/csv.
    assert len(csvs) == 3 and set(csvs.values()) == {"text/plain"}
    assert any(mime == "image/png" for mime, _ in got.values())


async def test_an_upload_meta_fails_is_sent_again_later_once(cloud: Running) -> None:
    """131053 on the upload: the row waits its turn and goes again, the file once."""
    from storage.models import OutboxStatus

    program_id = await programme(cloud)
    await add_member(cloud.app.sessions, cloud.app.clock.now(), "whatsapp", ANA, "Ana Pérez",
                     "es", "familia", program_id=program_id)
    cloud.fake.inject(131053, path="media")
    answer = await cloud.send(ANA, "/mis_datos")
    assert [m.type for m in answer] == ["text", "document"]  # the PDF waits, the JSON went
    waiting = [r for r in await rows(cloud) if r.status == OutboxStatus.PENDING]
    assert len(waiting) == 1 and "131053" in waiting[0].last_error
    cloud.app.clock.advance(timedelta(minutes=5))
    await cloud.deliver()
    assert [m.type for m in cloud.fake.messages(ANA)] == ["text", "document", "document"]
    await assert_arrived_as_made(cloud, ANA)


async def qr_cards_pdf(r: Running) -> bytes:
    program_id = await programme(r)
    await add_gestora(r, program_id)
    async with r.app.sessions() as s:
        for name in ("Familia Ñancupil", "Familia Güemes"):
            s.add(Family(program_id=program_id, name=name, sector="Villa Esperanza",
                         created_at=r.app.clock.now()))
        await s.commit()
    await r.send(GESTORA, "/panel")
    await choose(r, GESTORA, "🗂️ Catastro y familias")
    await choose(r, GESTORA, "🔗 Códigos para vincularse")
    await choose(r, GESTORA, "🖨️ PDF con QR de las familias")
    [pdf] = await choose(r, GESTORA, "Todas las familias")
    assert pdf.type == "document" and pdf.text.startswith("🖨️ 2 tarjetas con código QR")
    [(mime, content)] = (await assert_arrived_as_made(r, GESTORA)).values()
    assert mime == "application/pdf" and content.startswith(b"%PDF")
    return content


async def pdf_text(content: bytes, tmp_path) -> str | None:
    import asyncio
    import shutil
    import subprocess

    if not shutil.which("pdftotext"):
        return None
    (tmp_path / "cards.pdf").write_bytes(content)
    return (await asyncio.to_thread(
        subprocess.run, ["pdftotext", str(tmp_path / "cards.pdf"), "-"],
        capture_output=True, text=True, check=True)).stdout


async def test_the_qr_cards_arrive_as_made_and_say_whatsapp(cloud: Running, tmp_path
                                                            ) -> None:
    text = await pdf_text(await qr_cards_pdf(cloud), tmp_path)
    if text is not None:
        assert "Familia Ñancupil" in text and "Familia Güemes" in text
        assert "WhatsApp" in text and "Telegram" not in text


async def test_a_file_from_someone_who_imports_nothing_is_answered_not_fetched(
        cloud: Running) -> None:
    program_id = await programme(cloud)
    await add_member(cloud.app.sessions, cloud.app.clock.now(), "whatsapp", ANA, "Ana Pérez",
                     "es", "familia", program_id=program_id)
    [answer] = await cloud.document(ANA, "receta.pdf", b"%PDF-1.4 x", "application/pdf")
    assert answer.text.startswith("No te entendí.")
    assert cloud.fake.downloads == []
    cloud.fake.assert_clean()


async def test_a_stale_preview_an_hour_later_fetches_the_file_again_by_its_media_id(
        cloud: Running) -> None:
    """The URL Meta gave lasted 5 minutes; the media id lasts days: a preview made stale an
    hour later is read again from a fresh URL."""
    program_id = await programme(cloud)
    await add_gestora(cloud, program_id)
    await cloud.document(GESTORA, "catastro.csv", ORGS_CSV, "text/csv",
                         caption="organizaciones")
    async with cloud.app.sessions() as s:
        s.add(Organization(program_id=program_id, name="Junta de Vecinos Villa Esperanza",
                           created_at=cloud.app.clock.now()))
        await s.commit()
    cloud.app.clock.advance(timedelta(hours=1))
    stale, fresh = await cloud.press(GESTORA, import_button(cloud))
    assert "no importé nada" in stale.text
    assert "Se puede importar 1 de 3 filas." in fresh.text
    assert len(cloud.fake.downloads) == 2
    [done] = await cloud.press(GESTORA, import_button(cloud))
    assert "agregué 1 organización" in done.text
    cloud.fake.assert_clean()


async def test_a_file_whose_upload_fails_sends_nothing_of_its_message_until_it_goes(
        cloud: Running) -> None:
    """A caption too long for a file goes as text after it: a failed upload sends nothing of
    the message, and it all goes later, once."""
    from handlers.events import Attachment
    from locales import Msg, Raw
    from storage import outbox
    from storage.models import OutboxStatus

    program_id = await programme(cloud)
    pid = await add_member(cloud.app.sessions, cloud.app.clock.now(), "whatsapp", ANA,
                           "Ana Pérez", "es", "familia", program_id=program_id)
    await cloud.send(ANA, "/ayuda")
    before = len(cloud.fake.messages(ANA))
    long = "Minuta de la reunión. " * 70  # 1,540 characters: more than a caption takes
    out = Outgoing(text=Msg("widget.label", {"text": Raw(long)}),
                   attachment=Attachment("minuta.pdf", b"%PDF-1.4 minuta", "application/pdf"))
    async with cloud.app.sessions() as s:
        await outbox.enqueue_for_person(s, pid, out.to_json(), key="minuta", kind="notice",
                                        now=cloud.app.clock.now())
        await s.commit()
    cloud.fake.inject(131053, path="media")
    await cloud.deliver()
    assert cloud.fake.messages(ANA)[before:] == []
    [row] = [r for r in await rows(cloud) if r.idempotency_key == "minuta"]
    assert row.status == OutboxStatus.PENDING and "131053" in row.last_error
    cloud.app.clock.advance(timedelta(minutes=5))
    await cloud.deliver()
    assert [m.type for m in cloud.fake.messages(ANA)[before:]] == ["document", "text"]
    await assert_arrived_as_made(cloud, ANA)


async def test_a_piece_that_fails_after_others_went_sends_only_the_rest_later(
        cloud: Running, monkeypatch) -> None:
    """An invitation is two messages on WhatsApp (the text with its options, then the place):
    when the second fails, the first is not sent again with it."""
    from bot.whatsapp.client import CloudError

    program_id = await programme(cloud)
    pid = await add_member(cloud.app.sessions, cloud.app.clock.now(), "whatsapp", ANA,
                           "Ana Pérez", "es", "grupo_motor", program_id=program_id)
    await cloud.send(ANA, "Hola")
    real, failed = cloud.client.send, []

    async def flaky(to, message, **kw):
        if message["type"] == "location" and not failed:
            failed.append(message)
            raise CloudError(500, 131000, "Something went wrong")
        return await real(to, message, **kw)

    monkeypatch.setattr(cloud.client, "send", flaky)
    async with cloud.app.sessions() as s:
        meeting = Meeting(program_id=program_id, kind="grupo_motor", starts_at=STARTS,
                          place="Sede Villa Ñuñoa", latitude=-33.0472, longitude=-71.4425,
                          created_at=cloud.app.clock.now())
        s.add(meeting)
        await s.flush()
        await meeting_services.send_invitations(s, meeting, [pid], cloud.app.clock.now())
        await s.commit()
    before = len(cloud.fake.messages(ANA))
    await cloud.deliver()
    cloud.app.clock.advance(timedelta(minutes=5))
    await cloud.deliver()
    assert failed
    assert [m.type for m in cloud.fake.messages(ANA)[before:]] == ["interactive", "location"]
