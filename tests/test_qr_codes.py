"""Printed cards with linking codes: the QR code really opens the bot with the card's code,
on Telegram or on WhatsApp, with the words of that channel; the names print with their
accents, and reprinting does not kill cards already handed out."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from wa_limited import WaHarness
from whatsapp_harness import Running as Cloud

from bot import telegram, whatsapp
from documents import imports, qr_codes
from locales import Catalogs
from storage import db, imported, links, people, programs
from storage.links import LinkBuilder
from storage.models import Family, LinkCode, Organization, Person
from telegram_harness import Running

NAMES = [
    "María José Muñoz Peña", "Familia Ñanculef", "José Pérez",
    "Agrupación de Mujeres Emprendedoras y Artesanas de la Población Santa Julia, Villa Los "
    "Jardines del Sector Oriente, con un nombre larguísimo",
    "Lucía Núñez", "Óscar Úbeda", "Ignacio Araya", "Fernanda Soto", "Camila Rojas Güell",
]


@pytest.fixture
async def sessions(sqlite_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = db.create_engine(sqlite_url)
    await db.upgrade(engine)
    yield db.session_factory(engine)
    await engine.dispose()


async def seed(sessions, now: datetime) -> tuple[int, list[int]]:
    async with sessions() as s:
        program = await programs.create(s, template="ecomercado-15m", start=now.date(),
                                        name="Ecomercado Solidario Ñuñoa", now=now)
        fams = [Family(program_id=program.id, name=n, created_at=now) for n in NAMES]
        s.add_all(fams)
        await s.commit()
        return program.id, [f.id for f in fams]


def need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.skip(f"{tool} is not installed (apt-get install poppler-utils zbar-tools)")
    return path


def pages_as_png(pdf: bytes, tmp_path: Path) -> list[Path]:
    pdftoppm = need("pdftoppm")
    (tmp_path / "cards.pdf").write_bytes(pdf)
    subprocess.run([pdftoppm, "-r", "110", "-png", str(tmp_path / "cards.pdf"),
                    str(tmp_path / "page")], check=True)
    return sorted(tmp_path.glob("page-*.png"))


def decode_qr(png: Path) -> list[str]:
    zbarimg = need("zbarimg")
    out = subprocess.run([zbarimg, "-q", "--raw", str(png)], capture_output=True, text=True)
    assert out.returncode in (0, 4), out.stderr  # 4: no code found, checked by the caller
    return out.stdout.split()


def pdf_text(pdf: bytes, tmp_path: Path) -> str:
    pdftotext = need("pdftotext")
    (tmp_path / "t.pdf").write_bytes(pdf)
    return subprocess.run([pdftotext, str(tmp_path / "t.pdf"), "-"], check=True,
                          capture_output=True, text=True).stdout


async def codes_of(sessions, kind: str, ids: list[int]) -> list[str]:
    async with sessions() as s:
        rows = dict((await s.execute(
            select(LinkCode.target_id, LinkCode.code).where(
                LinkCode.target_kind == kind, LinkCode.target_id.in_(ids))
        )).all())
    return [rows[i] for i in ids]


def builder(channel: str, caps) -> LinkBuilder:
    assert caps.deep_link is not None
    return LinkBuilder(channel, caps.deep_link, caps.handle)


TELEGRAM_LINK = builder(telegram.CHANNEL, telegram.capabilities("ConvocaBot"))
BUSINESS = "56 9 8765 4321"  # as Meta shows the business number
WHATSAPP_LINK = builder(whatsapp.CHANNEL, whatsapp.capabilities(BUSINESS))


def test_telegram_builds_the_cards_links() -> None:
    assert TELEGRAM_LINK("ABCD2345") == "https://t.me/ConvocaBot?start=ABCD2345"
    assert TELEGRAM_LINK.handle == "@ConvocaBot"


def test_whatsapp_builds_the_cards_links() -> None:
    # Opening it writes the code in a chat with the business number, ready to send.
    assert WHATSAPP_LINK("ABCD2345") == "https://wa.me/56987654321?text=ABCD2345"
    assert WHATSAPP_LINK.handle == "+56987654321"


def test_each_channel_has_its_own_words_and_any_other_the_plain_ones() -> None:
    cat = Catalogs()
    assert qr_codes.instruction(cat, "es", WHATSAPP_LINK) == (
        "codes.card.instruction_whatsapp", {"handle": "+56987654321"})
    assert qr_codes.instruction(cat, "en", TELEGRAM_LINK) == (
        "codes.card.instruction_telegram", {"handle": "@ConvocaBot"})
    # A channel with links but no words of its own, or whose handle is not known: words
    # that fit any chat.
    assert qr_codes.instruction(cat, "es", LinkBuilder("signal", str)) == (
        "codes.card.instruction", {})
    assert qr_codes.instruction(cat, "es", LinkBuilder("whatsapp", str)) == (
        "codes.card.instruction", {})
    assert qr_codes.instruction(cat, "es", None) == ("codes.card.instruction_no_link", {})
    for locale in ("es", "en"):
        for key in ("codes.card.instruction", "codes.card.instruction_no_link"):
            assert "telegram" not in cat.text(locale, key, code="X").lower()
            assert "whatsapp" not in cat.text(locale, key, code="X").lower()


@pytest.mark.parametrize("fonts", ["dejavu", "core"])
async def test_every_qr_code_opens_the_bot_with_its_card_code(sessions, clock, tmp_path,
                                                              fonts: str) -> None:
    program_id, ids = await seed(sessions, clock.now())
    fonts_dir = qr_codes.DEJAVU if fonts == "dejavu" else tmp_path / "no-fonts"
    async with sessions() as s:
        pdf = await qr_codes.codes_pdf(s, program_id, "family", ids, TELEGRAM_LINK, "es",
                                       now=clock.now(), fonts_dir=fonts_dir)
        await s.commit()
    assert pdf.startswith(b"%PDF")
    codes = await codes_of(sessions, "family", ids)
    assert len(set(codes)) == len(NAMES)

    pages = pages_as_png(pdf, tmp_path)
    assert len(pages) == 2  # 2 x 4 a page: 8 + 1
    first, second = (set(decode_qr(p)) for p in pages)
    assert first == {TELEGRAM_LINK(c) for c in codes[:8]}
    assert second == {TELEGRAM_LINK(codes[8])}

    text = pdf_text(pdf, tmp_path)
    for name in ("María José Muñoz Peña", "Familia Ñanculef", "Óscar Úbeda",
                 "Camila Rojas Güell", "Ecomercado Solidario Ñuñoa"):
        assert name in text
    for code in codes:
        assert code in text
        # One line, so nobody types the command without its code.
        assert f"/start {code}" in text.replace("\xa0", " ")
    assert "Escanea el código con la" in text
    # Far too long for two lines: cut, never spilling over the QR code.
    assert "larguísimo" not in text and "Agrupación de Mujeres" in text


async def test_the_card_speaks_english_too(sessions, clock, tmp_path) -> None:
    program_id, ids = await seed(sessions, clock.now())
    async with sessions() as s:
        pdf = await qr_codes.codes_pdf(s, program_id, "family", ids[:1], TELEGRAM_LINK, "en",
                                       now=clock.now())
        await s.commit()
    text = " ".join(pdf_text(pdf, tmp_path).split())
    [code] = await codes_of(sessions, "family", ids[:1])
    assert f"Scan the code with your camera or type /start {code} to @ConvocaBot in Telegram" \
        in text


@pytest.mark.parametrize(("language", "words"), [
    ("es", "Escanea el código con la cámara: se abrirá WhatsApp con tu código. Envíalo tal "
           "cual. O escríbelo al +56987654321 por WhatsApp."),
    ("en", "Scan the code with your camera: WhatsApp opens with your code. Send it as it is. "
           "Or write it to +56987654321 on WhatsApp."),
])
async def test_whatsapp_cards_open_a_chat_with_the_code_written(sessions, clock, tmp_path,
                                                                language: str, words: str
                                                                ) -> None:
    program_id, ids = await seed(sessions, clock.now())
    async with sessions() as s:
        pdf = await qr_codes.codes_pdf(s, program_id, "family", ids, WHATSAPP_LINK, language,
                                       now=clock.now())
        await s.commit()
    codes = await codes_of(sessions, "family", ids)
    first, second = (set(decode_qr(p)) for p in pages_as_png(pdf, tmp_path))
    assert first | second == {f"https://wa.me/56987654321?text={c}" for c in codes}
    text = pdf_text(pdf, tmp_path)
    flat = " ".join(text.split())
    assert flat.count(words) == len(NAMES)
    assert "Telegram" not in text and "/start" not in text
    for code in codes:
        assert code in text


async def test_cards_without_a_link_say_to_send_the_code_to_the_chat(sessions, clock,
                                                                      tmp_path) -> None:
    program_id, ids = await seed(sessions, clock.now())
    async with sessions() as s:
        pdf = await qr_codes.codes_pdf(s, program_id, "family", ids[:2], None, "es",
                                       now=clock.now())
        await s.commit()
    flat = " ".join(pdf_text(pdf, tmp_path).split())
    for code in await codes_of(sessions, "family", ids[:2]):
        assert f"Envía {code} al chat del programa." in flat
    assert "Telegram" not in flat and "WhatsApp" not in flat
    [page] = pages_as_png(pdf, tmp_path)
    assert decode_qr(page) == []


async def test_reprinting_reuses_unused_codes_and_replaces_used_ones(sessions, clock) -> None:
    program_id, ids = await seed(sessions, clock.now())
    async with sessions() as s:
        await qr_codes.codes_pdf(s, program_id, "family", ids[:3], TELEGRAM_LINK, "es",
                                 now=clock.now())
        await s.commit()
    before = await codes_of(sessions, "family", ids[:3])
    async with sessions() as s:
        person = await people.create_with_address(s, "telegram", "42", clock.now())
        linked = await links.redeem(s, before[0], person, clock.now())
        assert linked is not None and linked.name == NAMES[0]
        await s.commit()
    async with sessions() as s:
        await qr_codes.codes_pdf(s, program_id, "family", ids[:3], TELEGRAM_LINK, "es",
                                 now=clock.now())
        await s.commit()
        unused = (await s.scalars(select(LinkCode.code).where(LinkCode.uses == 0))).all()
        total = await s.scalar(select(func.count()).select_from(LinkCode))
        [fresh] = (await s.scalars(select(LinkCode).where(
            LinkCode.target_id == ids[0], LinkCode.uses == 0))).all()
    assert total == 4
    assert set(unused) == {before[1], before[2], fresh.code}
    # A family's card links one chat: a second would take over its notices.
    assert fresh.max_uses == 1
    async with sessions() as s:
        stranger = await people.create_with_address(s, "telegram", "43", clock.now())
        for code in (before[0], fresh.code):
            with pytest.raises(links.FamilyTaken):
                await links.redeem(s, code, stranger, clock.now())


async def test_expired_codes_are_not_reprinted(sessions, clock) -> None:
    program_id, ids = await seed(sessions, clock.now())
    async with sessions() as s:
        old = await links.create(s, program_id, "family", ids[0], clock.now())
        old.expires_at = clock.now() + timedelta(days=1)
        await s.commit()
    clock.advance(hours=48)
    async with sessions() as s:
        [card] = await links.cards(s, program_id, "family", ids[:1], None, clock.now())
    assert card.code != old.code


async def test_organisation_cards_serve_several_representatives(sessions, clock) -> None:
    program_id, _ = await seed(sessions, clock.now())
    async with sessions() as s:
        org = Organization(program_id=program_id, name="Junta de Vecinos Villa Ñuñoa",
                           created_at=clock.now())
        s.add(org)
        await s.flush()
        [card] = await links.cards(s, program_id, "organization", [org.id],
                                   builder("telegram", telegram.capabilities("b")),
                                   clock.now())
        link = await s.scalar(select(LinkCode).where(LinkCode.code == card.code))
    assert card.name == "Junta de Vecinos Villa Ñuñoa"
    assert card.url == f"https://t.me/b?start={card.code}"
    assert link.max_uses is None


async def test_only_the_programmes_own_records_get_cards(sessions, clock) -> None:
    program_id, ids = await seed(sessions, clock.now())
    other_id, other_ids = await seed(sessions, clock.now())
    async with sessions() as s:
        with pytest.raises(ValueError, match="no family"):
            await qr_codes.codes_pdf(s, program_id, "family", [ids[0], other_ids[0]], None,
                                     "es", now=clock.now())
        with pytest.raises(ValueError, match="unknown link target"):
            await qr_codes.codes_pdf(s, program_id, "person", ids, None, "es", now=clock.now())
        assert await s.scalar(select(func.count()).select_from(LinkCode)) == 0


# --- end to end: from the gestora's spreadsheet to a family linked in Telegram ----------------

FAMILIES_CSV = (
    "Nombre;Teléfono;Dirección;Modalidad\r\n"
    "Familia Ñancupil;9 1234 5678;;Retiro en local\r\n"
    "Familia Güemes;;Pasaje Los Aromos 12;Entrega en domicilio\r\n"
).encode("cp1252")


@pytest.mark.parametrize(
    ("language", "accept", "done"),
    [("es", "✅ Sí, acepto", "¡Listo! Te encontré: familia {name}."),
     ("en", "✅ Yes, I agree", "Done! I found you: the {name} family.")],
)
async def test_a_family_scans_its_printed_card_and_is_linked(tg: Running, tmp_path, language,
                                                             accept, done) -> None:
    now = tg.app.clock.now()
    async with tg.app.sessions() as s:
        program = await programs.create(s, template="ecomercado-15m", start=now.date(),
                                        name="Ecomercado Ñuñoa", now=now)
        preview = await imports.preview_families(s, program.id, "familias.csv", FAMILIES_CSV,
                                                 now)
        result = await imported.commit_import(s, preview, now)
        pdf = await qr_codes.codes_pdf(s, program.id, "family", result.inserted_ids,
                                       builder("telegram", telegram.capabilities(
                                           tg.fake._bot_user["username"])),
                                       language, now=now, catalogs=tg.app.catalogs)
        await s.commit()
    [page] = pages_as_png(pdf, tmp_path)
    urls = decode_qr(page)
    assert len(urls) == 2
    prefix = f"https://t.me/{tg.fake._bot_user['username']}?start="
    assert all(u.startswith(prefix) for u in urls)
    async with tg.app.sessions() as s:
        by_code = dict((await s.execute(select(LinkCode.code, LinkCode.target_id))).all())
        names = {f.id: f.name for f in (await s.scalars(select(Family))).all()}
    url = next(u for u in urls if names[by_code[u.removeprefix(prefix)]] == "Familia Güemes")

    # Opening the link is Telegram sending "/start CODE" from the family's chat.
    chat = 7001
    await tg.send(chat, f"/start {url.removeprefix(prefix)}")
    if language == "en":
        await tg.press(chat, "🌐 English")
    _, linked = await tg.press(chat, accept, count=2)
    assert linked["text"].startswith(done.format(name="Familia Güemes"))
    async with tg.app.sessions() as s:
        family = await s.scalar(select(Family).where(Family.name == "Familia Güemes"))
        person = await s.get(Person, family.person_id)
    assert person.consent_at is not None and person.locale in (language, None)


async def test_a_family_scans_its_whatsapp_card_and_is_linked(wa: WaHarness, tmp_path) -> None:
    """The QR opens WhatsApp with the code written; sent as it is, it is the family's first
    message: the consent comes first, then the code links the chat."""
    now = wa.app.clock.now()
    async with wa.app.sessions() as s:
        program = await programs.create(s, template="ecomercado-15m", start=now.date(),
                                        name="Ecomercado Ñuñoa", now=now)
        preview = await imports.preview_families(s, program.id, "familias.csv", FAMILIES_CSV,
                                                 now)
        result = await imported.commit_import(s, preview, now)
        pdf = await qr_codes.codes_pdf(s, program.id, "family", result.inserted_ids,
                                       WHATSAPP_LINK, "es", now=now, catalogs=wa.app.catalogs)
        await s.commit()
        names = {f.id: f.name for f in (await s.scalars(select(Family))).all()}
        by_code = dict((await s.execute(select(LinkCode.code, LinkCode.target_id))).all())
    [page] = pages_as_png(pdf, tmp_path)
    urls = [urlsplit(u) for u in decode_qr(page)]
    assert {u.netloc + u.path for u in urls} == {"wa.me/56987654321"}
    written = [parse_qs(u.query)["text"][0] for u in urls]
    [code] = [c for c in written if names[by_code[c]] == "Familia Güemes"]

    [consent] = await wa.send("56911112222", code)
    assert "✅ Sí, acepto" in consent.titles()
    replies = await wa.press("56911112222", "✅ Sí, acepto")
    assert any(m.text.startswith("¡Listo! Te encontré: familia Familia Güemes.")
               for m in replies), [m.text for m in replies]
    async with wa.app.sessions() as s:
        family = await s.scalar(select(Family).where(Family.name == "Familia Güemes"))
    assert family.person_id is not None


async def test_on_whatsapp_itself_the_card_opens_the_business_and_links_the_family(
        cloud: Cloud, tmp_path) -> None:
    """The whole chain on the real channel against the fake Cloud API: the channel declares
    its links from the business number, the card carries them, and the text the link writes,
    sent as it is, links the family after the consent."""
    now = cloud.app.clock.now()
    builder = cloud.app.services.link_to_hand("telegram")  # asked from any chat: WhatsApp's
    assert builder is not None and builder.channel == "whatsapp"
    async with cloud.app.sessions() as s:
        program = await programs.create(s, template="ecomercado-15m", start=now.date(),
                                        name="Ecomercado Ñuñoa", now=now)
        preview = await imports.preview_families(s, program.id, "familias.csv", FAMILIES_CSV,
                                                 now)
        result = await imported.commit_import(s, preview, now)
        pdf = await qr_codes.codes_pdf(s, program.id, "family", result.inserted_ids, builder,
                                       "es", now=now, catalogs=cloud.app.catalogs)
        await s.commit()
        names = {f.id: f.name for f in (await s.scalars(select(Family))).all()}
        by_code = dict((await s.execute(select(LinkCode.code, LinkCode.target_id))).all())
    [page] = pages_as_png(pdf, tmp_path)
    urls = [urlsplit(u) for u in decode_qr(page)]
    number = "".join(c for c in (await cloud.client.phone_number())["display_phone_number"]
                     if c.isdigit())
    assert {u.netloc + u.path for u in urls} == {f"wa.me/{number}"}
    assert f"+{number}" in " ".join(pdf_text(pdf, tmp_path).split())
    written = [parse_qs(u.query)["text"][0] for u in urls]
    [code] = [c for c in written if names[by_code[c]] == "Familia Güemes"]

    [consent] = await cloud.send("56911112222", code)
    assert "✅ Sí, acepto" in consent.buttons
    *_, linked = await cloud.press("56911112222", "✅ Sí, acepto")
    assert linked.text.startswith("¡Listo! Te encontré: familia Familia Güemes.")
