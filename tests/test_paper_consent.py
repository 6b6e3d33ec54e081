"""Consent given on paper at enrolment, from the families import: the family gets a record
with its WhatsApp number so its notices reach it before it writes; without it, it is listed
for the gestora to call. The same family writing later from Telegram is still recognised."""

from __future__ import annotations

from datetime import UTC, date, datetime
from functools import partial

import cli_harness
import pytest
from sqlalchemy import select
from test_family_relink import linked_by_phone
from test_imports import as_csv, as_xlsx, make_program, problems

from bot import cli_families
from documents import imports
from domain.catastro import CONSENT_YES, UnreadableConsent, contact_consent
from locales import Catalogs
from storage import imported, outbox, people, receipts
from storage.models import ChannelAddress, Family, OutboxMessage, Person, RoleGrant

TODAY = date(2026, 3, 2)


@pytest.mark.parametrize(("text", "expected"), [
    ("", None), ("no", None), ("NO", None), ("n", None), ("0", None), ("false", None),
    ("sí", CONSENT_YES), ("Si", CONSENT_YES), ("yes", CONSENT_YES), ("x", CONSENT_YES),
    ("X", CONSENT_YES), ("1", CONSENT_YES), ("true", CONSENT_YES),
    ("15-01-2026", "2026-01-15"), ("15/01/2026", "2026-01-15"), ("2026-01-15", "2026-01-15"),
    ("5/1/2026", "2026-01-05"), ("2026-01-15T00:00:00", "2026-01-15"),  # an Excel date cell
    ("02-03-2026", "2026-03-02"),
])
def test_what_a_consent_cell_says(text: str, expected: str | None) -> None:
    assert contact_consent(text, TODAY) == expected


@pytest.mark.parametrize("text", ["quizás", "31-02-2026", "15-01-26", "2026/13/01",
                                  "03-03-2026", "46000"])
def test_a_consent_cell_that_cannot_be_read(text: str) -> None:
    with pytest.raises(UnreadableConsent):
        contact_consent(text, TODAY)


FAMILIES = [
    ["Nombre", "Teléfono", "Sector", "Consentimiento", "Dirección"],
    ["Familia Ñancupil", "9 1234 5678", "Villa Alemana", "sí", ""],  # 2
    ["Familia Araya", "9 2345 6789", "Centro", "15-02-2026", ""],  # 3
    ["Familia Soto", "9 3456 7890", "", "no", ""],  # 4
    ["Familia Rojas", "9 4567 8901", "Norte", "", ""],  # 5
    ["Familia Pérez", "9 5678 9012", "", "tal vez", ""],  # 6: unreadable
    ["Familia Lagos", "", "", "sí", "Pasaje 2"],  # 7: consent, but no phone to write to
]


async def imported_families(sessions, clock, table=FAMILIES, fmt=as_xlsx) -> int:
    program_id = await make_program(sessions, clock.now())
    async with sessions() as s:
        preview = await imports.preview_families(s, program_id, "f.xlsx", fmt(table),
                                                 clock.now())
        assert problems(preview) == {6: ["bad_consent"]}
        await imported.commit_import(s, preview, clock.now())
        await s.commit()
    return program_id


def test_an_unreadable_consent_is_said_in_her_language() -> None:
    from domain.catastro import PreviewRow
    from locales import Msg, Raw

    row = PreviewRow(6, {}, [Msg("imports.problem.bad_consent", {"value": Raw("tal vez")})])
    cat = Catalogs()
    es = cat.render(row.problems[0], "es")
    en = cat.render(row.problems[0], "en")
    assert "tal vez" in es and "consentimiento" in es
    assert "tal vez" in en and "consent" in en


@pytest.mark.parametrize("header", ["consent", "Consentimiento WhatsApp", "consentimiento_whatsapp",
                                    "opt_in"])
async def test_the_consent_column_by_its_other_names(sessions, clock, header: str) -> None:
    program_id = await make_program(sessions, clock.now())
    table = [["Nombre", "Fono", header], ["Familia Uno", "9 1234 5678", "si"]]
    async with sessions() as s:
        preview = await imports.preview_families(s, program_id, "f.csv",
                                                 as_csv(table, ";", "cp1252"), clock.now())
    assert preview.rows[0].values["contact_consent"] == CONSENT_YES
    assert preview.ignored_columns == []


async def test_a_family_with_consent_gets_a_whatsapp_address(sessions, clock) -> None:
    program_id = await imported_families(sessions, clock)
    async with sessions() as s:
        fams = {f.name: f for f in (await s.scalars(select(Family))).all()}
        linked = {n: await s.get(Person, f.person_id) for n, f in fams.items() if f.person_id}
        assert set(linked) == {"Familia Ñancupil", "Familia Araya"}
        nancupil = linked["Familia Ñancupil"]
        assert nancupil.contact_consent_at == clock.now()
        assert nancupil.contact_consent_source == "import"
        assert nancupil.consent_at is None  # the chat's own consent step still comes
        assert (nancupil.name, nancupil.phone, nancupil.program_id) == (
            "Familia Ñancupil", "+56912345678", program_id)
        # Midnight in the programme's zone (Santiago, summer: UTC-3).
        assert linked["Familia Araya"].contact_consent_at == datetime(2026, 2, 15, 3, tzinfo=UTC)
        addresses = {(a.person_id, a.channel, a.address, a.last_inbound_at)
                     for a in (await s.scalars(select(ChannelAddress))).all()}
        assert addresses == {(nancupil.id, "whatsapp", "56912345678", None),
                             (linked["Familia Araya"].id, "whatsapp", "56923456789", None)}
        roles = (await s.scalars(select(RoleGrant.role).where(
            RoleGrant.person_id == nancupil.id))).all()
        assert roles == ["familia"]
        without = await imported.families_without_consent(s, program_id)
        assert [f.name for f in without] == ["Familia Rojas", "Familia Soto"]


async def test_a_second_programme_finds_the_same_person(sessions, clock) -> None:
    await imported_families(sessions, clock)
    other = await make_program(sessions, clock.now())
    table = [["Nombre", "Fono", "Consentimiento"], ["Familia Ñancupil", "9 1234 5678", "x"]]
    async with sessions() as s:
        preview = await imports.preview_families(s, other, "f.xlsx", as_xlsx(table),
                                                 clock.now())
        await imported.commit_import(s, preview, clock.now())
        await s.commit()
        holders = {f.person_id for f in (await s.scalars(select(Family).where(
            Family.phone == "+56912345678"))).all()}
        assert len(holders) == 1
        assert len((await s.scalars(select(ChannelAddress))).all()) == 2


async def test_notices_reach_paper_consent_on_whatsapp_only(sessions, clock) -> None:
    await imported_families(sessions, clock)
    now = clock.now()
    async with sessions() as s:
        person = await s.scalar(select(Person).where(Person.phone == "+56912345678"))
        row_id = await outbox.enqueue_for_person(s, person.id, {"text": {"key": "x"}},
                                                 key="n1", kind="pickup_notice", now=now)
        row = await s.get(OutboxMessage, row_id)
        assert (row.channel, row.address) == ("whatsapp", "56912345678")
        # A chat of theirs without the chat's consent does not count: only the paper one's
        # address may be written to first.
        s.add(ChannelAddress(person_id=person.id, channel="telegram", address="777",
                             created_at=now, last_inbound_at=now))
        await s.flush()
        row = await s.get(OutboxMessage, await outbox.enqueue_for_person(
            s, person.id, {"text": {"key": "x"}}, key="n2", kind="pickup_notice", now=now))
        assert row.channel == "whatsapp"
        # Once they consented in a chat, the address they last wrote from comes first.
        person.consent_at = now
        await s.flush()
        row = await s.get(OutboxMessage, await outbox.enqueue_for_person(
            s, person.id, {"text": {"key": "x"}}, key="n3", kind="pickup_notice", now=now))
        assert (row.channel, row.address) == ("telegram", "777")
        await s.rollback()


async def test_paper_consent_never_outlasts_stop_erasure_or_a_refused_number(sessions,
                                                                          clock) -> None:
    await imported_families(sessions, clock)
    now = clock.now()

    async def queue(s, person, key: str, essential: bool = False) -> int | None:
        return await outbox.enqueue_for_person(s, person.id, {"text": {"key": "x"}}, key=key,
                                               kind="pickup_notice", now=now,
                                               essential=essential)

    async with sessions() as s:
        person = await s.scalar(select(Person).where(Person.phone == "+56912345678"))
        person.opted_out_at = now
        await s.flush()
        assert await queue(s, person, "a") is None
        assert await queue(s, person, "b", essential=True) is None
        person.opted_out_at = None
        await receipts.mark_address_unreachable(s, "whatsapp", "56912345678",
                                                "whatsapp 131026: undeliverable", now)
        assert await queue(s, person, "c") is None
        await people.touch_address(s, "whatsapp", "56912345678", now)  # they wrote from it
        assert await queue(s, person, "d") is not None
        person.erased_at = now
        await s.flush()
        assert await queue(s, person, "e") is None
        # No paper consent and no chat consent: nothing.
        rojas = await s.scalar(select(Family).where(Family.name == "Familia Rojas"))
        assert rojas.person_id is None


async def test_the_gestora_lists_who_has_no_consent(sessions, clock, capsys,
                                                    settings_for, sqlite_url) -> None:
    from bot.app import build_app

    app = await build_app(settings_for(sqlite_url), clock=clock)
    try:
        await imported_families(app.sessions, clock)
        out = await cli_harness.lines(cli_families, app, capsys, "family",
                                      "without-consent")
        assert out == [
            "Ecomercado Ñuñoa: 2 familias sin consentimiento para escribirles primero por "
            "WhatsApp. Llámalas o entrégales su tarjeta con QR:",
            "• Familia Rojas · +56945678901 · Norte",
            "• Familia Soto · +56934567890 · sin sector",
        ]
        parse = partial(cli_harness.parse, cli_families)
        assert parse("family", "without-consent", "--program", "1").program == 1
    finally:
        await app.close()


async def test_a_family_with_paper_consent_that_writes_from_telegram_is_the_same(
        tg, clock) -> None:
    """Its record has a WhatsApp address it never wrote from: that is no chat of its own,
    so sharing its phone on Telegram finds it, merges into it, and no one is told they lost
    the family."""
    program_id = await make_program(tg.app.sessions, clock.now())
    table = [["Nombre", "Teléfono", "Consentimiento"], ["González Soto", "9 1234 5678", "sí"]]
    async with tg.app.sessions() as s:
        preview = await imports.preview_families(s, program_id, "f.xlsx", as_xlsx(table),
                                                 clock.now())
        await imported.commit_import(s, preview, clock.now())
        await s.commit()
        imported_person = (await s.scalar(select(Family))).person_id
        assert [p.id for p in await people.imported_by_phone(s, "+56912345678")] == [
            imported_person]
    await linked_by_phone(tg, 5001)
    async with tg.app.sessions() as s:
        family = await s.scalar(select(Family))
        assert family.person_id == imported_person
        person = await s.get(Person, imported_person)
        assert person.consent_at is not None and person.contact_consent_at is not None
        assert sorted((a.channel, a.address) for a in (await s.scalars(
            select(ChannelAddress).where(ChannelAddress.person_id == person.id))).all()) == [
            ("telegram", "5001"), ("whatsapp", "56912345678")]
        assert len((await s.scalars(select(Person))).all()) == 1
        assert (await s.scalars(select(OutboxMessage).where(
            OutboxMessage.kind == "family_link"))).all() == []
        # Now it wrote from a chat: the number no longer finds it as an imported record.
        assert await people.imported_by_phone(s, "+56912345678") == []


@pytest.mark.wa_limited_only("WhatsApp vouches for the number a person writes from: "
                             "nobody types it there")
async def test_a_typed_phone_finds_the_family_its_paper_record_holds(wa) -> None:
    """Where no button shares the number (a typed one), the family its paper record holds is
    no other chat's: typing the number links it, into that record."""
    clock = wa.app.clock
    program_id = await make_program(wa.app.sessions, clock.now())
    table = [["Nombre", "Teléfono", "Consentimiento"], ["González Soto", "9 1234 5678", "sí"]]
    async with wa.app.sessions() as s:
        preview = await imports.preview_families(s, program_id, "f.xlsx", as_xlsx(table),
                                                 clock.now())
        await imported.commit_import(s, preview, clock.now())
        await s.commit()
        paper = (await s.scalar(select(Family))).person_id
    await wa.send("56911110001", "/start")
    await wa.press("56911110001", "✅ Sí, acepto")
    [done] = await wa.send("56911110001", "+56 9 1234 5678")
    assert "González Soto" in done.text and "otro chat" not in done.text
    async with wa.app.sessions() as s:
        assert (await s.scalar(select(Family))).person_id == paper
        assert len((await s.scalars(select(Person))).all()) == 1
