"""/mis_datos, /borrar_mis_datos, /stop and /start again, end to end through the real aiogram
runtime and the fake Bot API, in Spanish and English."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import event, func, make_url, select
from sqlalchemy.pool import Pool
from test_exports import read_pdf
from test_privacy import (
    HOME,
    NAME,
    NEEDLES,
    ORG_NAME,
    PHONE,
    PROXY,
    anonymous_counts,
    leaks,
    seed_everything,
)

from documents import exports
from handlers.events import Outgoing
from locales import Msg
from services.pickups import send_pickup_notice
from storage import outbox
from storage.models import AuditEntry, ChannelAddress, Person, Pickup
from telegram_harness import Running

CHAT = 8101

TEXTS = {
    "es": {
        "summary": ["📋 Esto es lo que Convoca guarda sobre ti:", f"Nombre: {NAME}",
                    f"Teléfono: {PHONE}", "Idioma: Español",
                    "Aceptaste el uso de tus datos: lunes 2 de marzo de 2026",
                    "• Familia del programa\n• Representante de una organización",
                    f"Organizaciones:\n• {ORG_NAME}", "• Grupo Motor",
                    "Familia: González Soto",
                    "Respuestas a reuniones: 1 · Asistencias: 1 · Retiros: 1 · Formularios: 1"],
        "caption": "💾 Copia completa para computadores (JSON), por si la pides a otro "
                   "servicio. Para leer, usa el PDF de arriba.",
        "pdf_caption": "📄 Tus datos para leer o imprimir (PDF).", "pdf_name": "mis_datos.pdf",
        "pdf": ["Tus datos en Convoca", f"Nombre {NAME}", f"Teléfono {PHONE}",
                "Familia del programa, en Ecomercado Quilpué", "Familia González Soto",
                "Tus retiros de canasta", "Retira Pedro Soto Rojas", "Sesión de marzo",
                "No asistirá", "Presente", "Ficha de Interés de Participación",
                f"Organizaciones que representas • {ORG_NAME}", "/borrar_mis_datos"],
        "yes": "🗑️ Sí, borrar", "no": "No", "ask": "No se puede deshacer. ¿Borro tus datos?",
        "kept": "Bien, no borré nada. 🙂", "nudge": "elige «Sí, borrar» o «No»",
        "erased": "Listo: borré tus datos y desconecté este chat.",
        "stopped": "Listo, ya no te enviaré avisos ni recordatorios.", "again": "ya estaban pausados",
        "back": "Volverás a recibir mis avisos.",
    },
    "en": {
        "summary": ["📋 This is what Convoca keeps about you:", f"Name: {NAME}",
                    f"Phone: {PHONE}", "Language: English",
                    "You agreed to the use of your data: Monday 2 March 2026",
                    "• Programme family\n• Representative of an organisation",
                    f"Organisations:\n• {ORG_NAME}", "• Grupo Motor",
                    "Family: González Soto",
                    "Meeting answers: 1 · Attendance: 1 · Pickups: 1 · Forms: 1"],
        "caption": "💾 Complete copy for computers (JSON), in case another service asks "
                   "for it. To read, use the PDF above.",
        "pdf_caption": "📄 Your data to read or print (PDF).", "pdf_name": "my_data.pdf",
        "pdf": ["Your data in Convoca", f"Name {NAME}", f"Phone {PHONE}",
                "Programme family, in Ecomercado Quilpué", "The González Soto family",
                "Your basket pickups", "Pedro Soto Rojas picks up", "Sesión de marzo",
                "Not coming", "Present", "Participation Interest Form",
                f"Organisations you represent • {ORG_NAME}", "/borrar_mis_datos"],
        "yes": "🗑️ Yes, erase", "no": "No", "ask": "This cannot be undone.",
        "kept": "All right, I erased nothing. 🙂", "nudge": "choose «Yes, erase» or «No»",
        "erased": "Done: I erased your data and disconnected this chat.",
        "stopped": "Done, I won't send you notices or reminders any more.", "again": "already paused",
        "back": "You'll get my notices again.",
    },
}


async def seed(r: Running, locale: str) -> object:
    r.fake.add_chat(CHAT, first_name="María José", language_code=locale)
    async with r.app.sessions() as s:
        seeded = await seed_everything(s, r.app.clock.now(), address=str(CHAT), locale=locale)
        await s.commit()
    await r.outbox.drain()  # what the seed queued arrives first, not among the replies
    return seeded


def labels(message: dict) -> list[str]:
    return [b["text"] for row in message["reply_markup"]["inline_keyboard"] for b in row]


async def queue(r: Running, person_id: int, key: str, essential: bool) -> int | None:
    now = r.app.clock.now()
    async with r.app.sessions() as s:
        new_id = await outbox.enqueue_for_person(
            s, person_id, Outgoing(text=Msg("pickup.none")).to_json(), key=key, kind="notice",
            now=now, not_before=now + timedelta(days=1), essential=essential)
        await s.commit()
    return new_id


@pytest.mark.parametrize("loc", ["es", "en"])
async def test_my_data_sends_a_summary_a_readable_pdf_and_the_whole_file(
        tg: Running, loc: str, tmp_path: Path) -> None:
    t = TEXTS[loc]
    seeded = await seed(tg, loc)
    summary, pdf, document = await tg.send(CHAT, "/mis_datos" if loc == "es" else "/my_data",
                                           count=3)
    for line in t["summary"]:
        assert line in summary["text"]
    # First what a person reads: a PDF, in words and in their language.
    assert pdf["caption"] == t["pdf_caption"] and pdf["document"].filename == t["pdf_name"]
    text, pages, _ = read_pdf(exports.ExportFile(t["pdf_name"], pdf["document"].data,
                                                 "application/pdf"), tmp_path)
    for expected in t["pdf"]:
        assert expected in text, expected
    assert len(pages) <= 2 and '"person"' not in text and "channel_addresses" not in text
    # Then, clearly labelled, the machine-readable copy.
    sent = tg.fake.delivered(CHAT)[-1]
    assert sent.method == "sendDocument" and document["caption"] == t["caption"]
    upload = document["document"]
    assert upload.filename == "mis_datos.json"
    assert NAME.encode("utf-8") in upload.data  # UTF-8 as is, not \u escapes
    data = json.loads(upload.data.decode("utf-8"))
    assert (data["person"]["id"], data["person"]["name"], data["person"]["phone"]) == (
        seeded.person_id, NAME, PHONE)
    assert data["exported_at"].startswith("2026-03-02T12:00:00")
    assert [a["address"] for a in data["channel_addresses"]] == [str(CHAT)]
    assert data["families"][0]["name"] == "González Soto"
    assert data["pickups"][0]["proxy_name"] == "Pedro Soto Rojas"
    assert data["rsvps"][0]["reason"] == "Tengo control médico con mi hija"
    assert data["form_signatures"][0]["signed_name"] == NAME
    assert data["form_responses"][0]["answers"]["representative_phone"] == PHONE
    async with tg.app.sessions() as s:
        assert await s.scalar(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.action == "data_exported",
            AuditEntry.actor_id == seeded.person_id)) == 1


@pytest.mark.parametrize("loc", ["es", "en"])
async def test_erasing_keeps_the_counts_and_leaves_no_trace(tg: Running, loc: str) -> None:
    t = TEXTS[loc]
    seeded = await seed(tg, loc)
    async with tg.app.sessions() as s:
        before = await anonymous_counts(s, seeded)
    # /mis_datos first, so a file full of her data sits in the outbox too.
    await tg.send(CHAT, "/mis_datos", count=3)
    command = "/borrar_mis_datos" if loc == "es" else "/delete_my_data"
    [ask] = await tg.send(CHAT, command)
    assert t["ask"] in ask["text"] and labels(ask) == [t["yes"], t["no"]]
    [kept] = await tg.press(CHAT, t["no"])
    assert kept["text"] == t["kept"]
    async with tg.app.sessions() as s:
        assert (await s.get(Person, seeded.person_id)).name == NAME
    [stale] = await tg.press(CHAT, t["yes"])  # the old question's button, after "No"
    assert "/borrar_mis_datos" in stale["text"]

    await tg.send(CHAT, command)
    [nudge] = await tg.send(CHAT, "mmm no sé")
    assert t["nudge"] in nudge["text"] and labels(nudge) == [t["yes"], t["no"]]
    [bye] = await tg.press(CHAT, t["yes"])
    assert bye["text"].startswith(t["erased"]) and "reply_markup" not in bye

    assert await leaks(tg.app.sessions, NEEDLES) == []
    async with tg.app.sessions() as s:
        assert await anonymous_counts(s, seeded) == before
        person = await s.get(Person, seeded.person_id)
        assert person.erased_at == tg.app.clock.now() and person.name is None
        assert await s.scalar(select(func.count()).select_from(ChannelAddress).where(
            ChannelAddress.address == str(CHAT))) == 0
        assert await s.scalar(select(func.count()).select_from(Pickup)) == 2
    # The chat is a stranger now: writing again starts from the beginning, in the default
    # language, since not even her language was kept.
    [hello] = await tg.send(CHAT, "/start")
    assert "¿Aceptas?" in hello["text"]
    async with tg.app.sessions() as s:
        newcomer = await s.scalar(select(Person).join(ChannelAddress).where(
            ChannelAddress.address == str(CHAT)))
        assert newcomer.id != seeded.person_id and newcomer.consent_at is None


@pytest.fixture
def sqlite_as_most_builds() -> Iterator[None]:
    """Every SQLite connection starts without secure_delete, as most builds do (this
    machine's is built with it on, which would hide a missing PRAGMA)."""
    def off(dbapi_conn, _record) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA secure_delete=OFF")
        cur.close()

    event.listen(Pool, "connect", off)  # before any engine's own listeners
    yield
    event.remove(Pool, "connect", off)


def on_disk(sqlite_url: str) -> bytes:
    """The database file and its -wal, byte for byte, as anyone who copies them has them."""
    path = Path(make_url(sqlite_url).database)
    return b"".join(p.read_bytes() for p in (path, path.with_name(path.name + "-wal"))
                    if p.exists())


def found_in(data: bytes, needles: list[str]) -> list[str]:
    # JSON columns keep "María" as "Mar\u00eda".
    return [n for n in needles
            if n.encode() in data or json.dumps(n)[1:-1].encode() in data]


async def test_erased_words_are_gone_from_the_database_file_and_its_wal(
        sqlite_as_most_builds: None, tg: Running, sqlite_url: str) -> None:
    await seed(tg, "es")
    await tg.send(CHAT, "/mis_datos", count=3)
    before = found_in(on_disk(sqlite_url), NEEDLES)
    assert {NAME, PHONE, PROXY, HOME} <= set(before)  # the check can see them
    await tg.send(CHAT, "/borrar_mis_datos")
    [bye] = await tg.press(CHAT, TEXTS["es"]["yes"])
    assert bye["text"].startswith(TEXTS["es"]["erased"])
    assert await leaks(tg.app.sessions, NEEDLES) == []
    assert found_in(on_disk(sqlite_url), NEEDLES) == []


@pytest.mark.parametrize("loc", ["es", "en"])
async def test_stop_pauses_notices_and_start_brings_them_back(tg: Running, loc: str) -> None:
    t = TEXTS[loc]
    seeded = await seed(tg, loc)
    [stopped] = await tg.send(CHAT, "/stop")
    assert stopped["text"].startswith(t["stopped"]) and "/start" in stopped["text"]
    async with tg.app.sessions() as s:
        assert (await s.get(Person, seeded.person_id)).opted_out_at == tg.app.clock.now()
    [again] = await tg.send(CHAT, "/stop")
    assert t["again"] in again["text"]

    assert await queue(tg, seeded.person_id, "n1", essential=False) is None
    assert await queue(tg, seeded.person_id, "e1", essential=True) is not None
    async with tg.app.sessions() as s:
        pickup = await s.scalar(select(Pickup).where(Pickup.proxy_name.is_not(None)))
        # The date of a pickup is essential: it still goes, only reminders stop.
        assert await send_pickup_notice(s, pickup, tg.app.clock.now()) is not None

    back, welcome = await tg.send(CHAT, "/start", count=2)
    assert back["text"].startswith(t["back"]) and NAME in welcome["text"]
    async with tg.app.sessions() as s:
        assert (await s.get(Person, seeded.person_id)).opted_out_at is None
        actions = list(await s.scalars(select(AuditEntry.action).where(
            AuditEntry.actor_id == seeded.person_id).order_by(AuditEntry.id)))
    assert actions[-2:] == ["opt_out", "opt_in"]
    assert await queue(tg, seeded.person_id, "n2", essential=False) is not None


async def test_a_check_in_without_an_invitation_reads_as_the_official_list_says_it(
        tg: Running, tmp_path: Path) -> None:
    """Until the gestora confirms it, the person's own PDF says "Por confirmar", as the
    attendance list does, not "Presente"; once confirmed, "Presente"."""
    from storage import admin_meetings
    from storage.models import Attendance, Meeting

    seeded = await seed(tg, "es")
    now = tg.app.clock.now()
    async with tg.app.sessions() as s:
        first = await s.get(Meeting, seeded.meeting_id)
        talk = Meeting(program_id=first.program_id, kind="formacion", title="Taller de compostaje",
                       starts_at=first.starts_at + timedelta(days=1), place="Sede",
                       created_by=seeded.gestora_id, created_at=now)
        s.add(talk)
        await s.flush()
        s.add(Attendance(meeting_id=talk.id, person_id=seeded.person_id, present=True,
                         method="checkin", marked_at=now))
        await s.commit()
        talk_id = talk.id

    async def attendance_in_pdf() -> str:
        _summary, pdf, _document = await tg.send(CHAT, "/mis_datos", count=3)
        text, _, _ = read_pdf(exports.ExportFile("mis_datos.pdf", pdf["document"].data,
                                                 "application/pdf"), tmp_path)
        return text.split("Taller de compostaje", 1)[1].split("Formularios", 1)[0]

    row = await attendance_in_pdf()
    assert "Por confirmar" in row and "Presente" not in row
    async with tg.app.sessions() as s:
        await admin_meetings.confirm_walk_in(s, await s.get(Meeting, talk_id),
                                             seeded.person_id, True, seeded.gestora_id, now)
        await s.commit()
    row = await attendance_in_pdf()
    assert "Presente" in row and "Por confirmar" not in row
