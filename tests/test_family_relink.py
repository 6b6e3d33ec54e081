"""A family's printed code links it to one chat at a time: it never takes the family from
the chat that has it (linked by phone or by an earlier code), the gestora releases it from
the command line, and the family's own phone, shared from its own chat, moves it. Whoever
loses the family is told, and every refusal and release is audited."""

from __future__ import annotations

from functools import partial

import cli_harness
import pytest
from sqlalchemy import select

from bot import cli_families
from bot.cli import main
from bot.commands import CommandError
from storage import links, programs
from storage.models import AuditEntry, Family, LinkCode, OutboxMessage, Person, RoleGrant
from telegram_harness import Running

ANA, BETO = 5001, 5002
FAMILY_PHONE = "+56912345678"
TAKEN = ("Esa familia ya está vinculada a otro chat, así que no puedo vincularla aquí. "
         "Si es tu familia, pídele a la gestora que lo revise.")
DONE = "¡Listo! Te encontré: familia González Soto. Por aquí te avisaré tus fechas de retiro."


async def seed(r: Running) -> str:
    """A programme with the González Soto family and the code on its printed card."""
    now = r.app.clock.now()
    async with r.app.sessions() as s:
        program = await programs.create(s, template="ecomercado-15m", start=now.date(),
                                        name="Ecomercado Quilpué", now=now)
        family = Family(program_id=program.id, name="González Soto", phone=FAMILY_PHONE,
                        created_at=now)
        s.add(family)
        await s.flush()
        code = (await links.code_for(s, program.id, "family", family.id, now)).code
        await s.commit()
    return code


async def holder(r: Running) -> int | None:
    async with r.app.sessions() as s:
        return (await s.scalar(select(Family))).person_id


async def person_of(r: Running, chat: int) -> Person:
    async with r.app.sessions() as s:
        from storage import people

        found = await people.by_address(s, "telegram", str(chat))
        assert found is not None
        return found


async def roles_of(r: Running, person_id: int) -> list[str]:
    async with r.app.sessions() as s:
        return list((await s.scalars(
            select(RoleGrant.role).where(RoleGrant.person_id == person_id))).all())


async def audited(r: Running, action: str) -> list[AuditEntry]:
    async with r.app.sessions() as s:
        return list((await s.scalars(
            select(AuditEntry).where(AuditEntry.action == action))).all())


async def linked_by_phone(r: Running, chat: int, phone: str = FAMILY_PHONE) -> None:
    await r.send(chat, "/start")
    await r.press(chat, "✅ Sí, acepto", count=2)
    [done] = await r.share_contact(chat, phone)
    assert done["text"] == DONE


async def linked_by_code(r: Running, chat: int, code: str) -> None:
    await r.send(chat, f"/start {code}")
    _, done = await r.press(chat, "✅ Sí, acepto", count=2)
    assert done["text"] == DONE


async def refused(r: Running, chat: int, code: str) -> None:
    await r.send(chat, f"/start {code}")
    _, refusal, ask = await r.press(chat, "✅ Sí, acepto", count=3)
    assert refusal["text"] == TAKEN
    assert ask["reply_markup"]["keyboard"][0][0]["request_contact"] is True


parse = partial(cli_harness.parse, cli_families)




async def convoca(r: Running, capsys: pytest.CaptureFixture[str], *argv: str) -> list[str]:
    return await cli_harness.lines(cli_families, r.app, capsys, *argv)


async def test_a_family_linked_by_phone_is_not_taken_by_its_printed_code(tg: Running) -> None:
    code = await seed(tg)
    await linked_by_phone(tg, ANA)
    ana = await person_of(tg, ANA)
    seen = len(tg.fake.delivered(ANA))
    await refused(tg, BETO, code)
    beto = await person_of(tg, BETO)
    assert await holder(tg) == ana.id
    assert await roles_of(tg, beto.id) == [] and await roles_of(tg, ana.id) == ["familia"]
    async with tg.app.sessions() as s:
        assert (await s.scalar(select(LinkCode))).uses == 0  # the card is not spent
    [entry] = await audited(tg, "link_refused")
    assert (entry.actor_id, entry.entity, entry.details) == (
        beto.id, "family", {"via": "code", "reason": "family_linked", "holder": ana.id})
    await tg.outbox.drain()
    assert len(tg.fake.delivered(ANA)) == seen  # nothing to Ana: her family did not move


async def test_a_family_linked_by_its_card_is_not_taken_by_a_reprinted_card(
        tg: Running) -> None:
    first = await seed(tg)
    await linked_by_code(tg, ANA, first)
    async with tg.app.sessions() as s:
        family = await s.scalar(select(Family))
        # The gestora prints the cards again: the used code gives way to a new one.
        second = (await links.code_for(s, family.program_id, "family", family.id,
                                       tg.app.clock.now())).code
        await s.commit()
    assert second != first
    await refused(tg, BETO, second)
    ana, beto = await person_of(tg, ANA), await person_of(tg, BETO)
    assert await holder(tg) == ana.id and await roles_of(tg, beto.id) == []
    [entry] = await audited(tg, "link_refused")
    assert entry.entity_id == family.id and entry.actor_id == beto.id
    # And the first card, typed by someone else, is refused for the same reason.
    [again, _] = await tg.send(BETO, first, count=2)
    assert again["text"] == TAKEN and await holder(tg) == ana.id


async def test_the_same_card_typed_again_by_the_person_who_holds_the_family_is_done(
        tg: Running) -> None:
    code = await seed(tg)
    await linked_by_code(tg, ANA, code)
    [done] = await tg.send(ANA, code)
    assert done["text"] == DONE
    ana = await person_of(tg, ANA)
    assert await holder(tg) == ana.id and await audited(tg, "link_refused") == []


async def test_the_gestora_releases_the_family_and_its_card_then_links_the_new_chat(
        tg: Running, capsys: pytest.CaptureFixture[str]) -> None:
    code = await seed(tg)
    tg.fake.add_chat(ANA, first_name="Ana", last_name="Pérez")
    tg.fake.add_chat(BETO, first_name="Beto", last_name="Rojas")
    await linked_by_phone(tg, ANA)
    ana = await person_of(tg, ANA)
    await refused(tg, BETO, code)

    assert await convoca(tg, capsys, "family", "release", code.lower()) == [
        "Familia González Soto: desvinculada del chat de Ana Pérez, a quien le avisamos. "
        "Su código o su teléfono la vuelve a vincular."]
    await tg.outbox.drain()
    [told] = await tg.replies(ANA, 4, 1)
    assert told["text"] == (
        "La gestora desvinculó a la familia González Soto de este chat: desde ahora sus "
        "avisos no llegarán aquí. Si crees que es un error, habla con ella.")
    assert await holder(tg) is None and await roles_of(tg, ana.id) == []
    [entry] = await audited(tg, "family_released")
    assert (entry.actor_id, entry.channel, entry.details) == (
        None, "cli", {"previous_person": ana.id, "told": True})

    [done] = await tg.send(BETO, code)
    beto = await person_of(tg, BETO)
    assert done["text"] == DONE
    assert await holder(tg) == beto.id and await roles_of(tg, beto.id) == ["familia"]
    # By words of its name, too; and a family linked to no one is said to be so.
    assert await convoca(tg, capsys, "family", "release", "gonzalez soto") == [
        "Familia González Soto: desvinculada del chat de Beto Rojas, a quien le avisamos. "
        "Su código o su teléfono la vuelve a vincular."]
    assert await convoca(tg, capsys, "family", "release", "soto") == [
        "La familia González Soto no está vinculada a ningún chat: su código o su teléfono "
        "ya la vinculan."]
    assert len(await audited(tg, "family_released")) == 2
    async with tg.app.sessions() as s:
        s.add(Family(program_id=1, name="Pérez Soto", created_at=tg.app.clock.now()))
        await s.commit()
    with pytest.raises(CommandError) as refused_cli:
        await cli_families.run(tg.app, parse("family", "release", "soto"))
    assert str(refused_cli.value) == (
        "Varias familias de Ecomercado Quilpué calzan con «soto»: González Soto, Pérez Soto. "
        "Escribe más palabras del nombre o el código de su tarjeta.")


async def test_the_familys_phone_moves_it_from_a_card_holders_chat_who_is_told(
        tg: Running) -> None:
    code = await seed(tg)
    # Ana shares her own number (not the family's), then types the family's card.
    await tg.send(ANA, "/start")
    await tg.press(ANA, "✅ Sí, acepto", count=2)
    await tg.share_contact(ANA, "+56 9 8765 4321")
    [done] = await tg.send(ANA, code)
    assert done["text"] == DONE
    ana = await person_of(tg, ANA)
    seen = len(tg.fake.delivered(ANA))

    # Beto shares the family's registered number from his own chat: stronger than a card.
    await linked_by_phone(tg, BETO)
    beto = await person_of(tg, BETO)
    assert await holder(tg) == beto.id
    assert await roles_of(tg, ana.id) == [] and await roles_of(tg, beto.id) == ["familia"]
    await tg.outbox.drain()
    [told] = await tg.replies(ANA, seen, 1)
    assert told["text"] == (
        "La familia González Soto quedó vinculada a otro chat, que compartió el teléfono "
        "registrado de la familia: desde ahora sus avisos llegarán allá. Si no fue alguien "
        "de tu familia, avísale a la gestora.")
    [moved] = await audited(tg, "family_link_moved")
    assert (moved.actor_id, moved.details) == (
        beto.id, {"previous_person": ana.id, "via": "phone", "told": True})
    async with tg.app.sessions() as s:
        kinds = (await s.scalars(select(OutboxMessage.kind)
                                 .where(OutboxMessage.person_id == ana.id))).all()
    assert "family_link" in kinds


# --- the command line as the operator runs it ----------------------------------------------


def test_release_asks_which_programme_and_names_the_family_in_words(cli_env: str,
                                                                   capsys) -> None:
    for name in ("Ecomercado Quilpué", "Ecomercado Villa Alemana"):
        assert main(["program", "create", "--template", "ecomercado-15m", "--start",
                     "2026-03-02", "--name", name]) == 0
    capsys.readouterr()
    assert main(["family", "release", "Soto"]) == 1
    out, err = capsys.readouterr()
    assert out == "" and "Ecomercado Quilpué" in err and "Ecomercado Villa Alemana" in err
    assert "--program" in err
    assert main(["family", "release", "Soto", "--program", "1"]) == 1
    out, err = capsys.readouterr()
    assert err == ("convoca: En Ecomercado Quilpué no hay ninguna familia que calce con "
                   "«Soto».\n")


def test_release_speaks_the_operators_language(cli_env: str, capsys,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LANG", "en_GB.UTF-8")
    assert main(["program", "create", "--template", "ecomercado-15m", "--start",
                 "2026-03-02", "--name", "Ecomercado Quilpué"]) == 0
    capsys.readouterr()
    assert main(["family", "release", "Soto"]) == 1
    assert capsys.readouterr().err == \
        "convoca: No family in Ecomercado Quilpué matches “Soto”.\n"


async def test_trying_a_held_familys_card_again_and_again_counts_as_guessing(tg: Running
                                                                             ) -> None:
    code = await seed(tg)
    await linked_by_phone(tg, ANA)
    await refused(tg, BETO, code)
    for _ in range(3):
        [again, _ask] = await tg.send(BETO, f"/start {code}", count=2)
        assert again["text"] == TAKEN
    [wait] = await tg.send(BETO, f"/start {code}")
    assert wait["text"].startswith("Has probado varios códigos que no existen")
    assert await holder(tg) == (await person_of(tg, ANA)).id


async def test_the_familys_dates_follow_it_to_the_chat_that_holds_it_now(tg: Running) -> None:
    """A reminder queued for the card holder is withdrawn when the family's phone moves the
    family, and the same reminder can then be queued for the new holder."""
    from datetime import timedelta

    from handlers.events import Outgoing
    from locales import Msg
    from storage import outbox
    from storage.models import DeliveryDay, OutboxStatus, Pickup

    code = await seed(tg)
    await tg.send(ANA, "/start")
    await tg.press(ANA, "✅ Sí, acepto", count=2)
    await tg.share_contact(ANA, "+56 9 8765 4321")
    await tg.send(ANA, code)
    ana = await person_of(tg, ANA)
    now = tg.app.clock.now()
    async with tg.app.sessions() as s:
        family = await s.scalar(select(Family))
        day = DeliveryDay(program_id=family.program_id, window_start=now + timedelta(days=5),
                          window_end=now + timedelta(days=5, hours=3), created_at=now)
        s.add(day)
        await s.flush()
        pickup = Pickup(delivery_day_id=day.id, family_id=family.id)
        s.add(pickup)
        await s.flush()
        key = f"pickup:{pickup.id}:eve"
        payload = Outgoing(text=Msg("link.family_taken")).to_json()
        assert await outbox.enqueue_for_person(s, ana.id, payload, key=key, kind="pickup_evening",
                                               now=now, not_before=now + timedelta(days=4))
        await s.commit()

    await linked_by_phone(tg, BETO)
    beto = await person_of(tg, BETO)
    async with tg.app.sessions() as s:
        [withdrawn] = (await s.scalars(select(OutboxMessage).where(
            OutboxMessage.person_id == ana.id, OutboxMessage.kind == "pickup_evening"))).all()
        assert withdrawn.status == OutboxStatus.DROPPED and withdrawn.idempotency_key != key
        assert await outbox.enqueue_for_person(s, beto.id, payload, key=key,
                                               kind="pickup_evening", now=now,
                                               not_before=now + timedelta(days=4))
        await s.commit()


async def test_the_familys_phone_from_another_chat_does_not_become_the_card_holder(
        tg: Running) -> None:
    """Linking by card copies the family's phone onto the card holder; sharing that number
    later from another chat moves the family, but never makes that chat the holder's record
    (which would let each read the other's data)."""
    code = await seed(tg)
    await linked_by_code(tg, ANA, code)
    ana = await person_of(tg, ANA)
    assert ana.phone == FAMILY_PHONE
    await linked_by_phone(tg, BETO)
    beto = await person_of(tg, BETO)
    assert beto.id != ana.id
    assert await holder(tg) == beto.id
    assert (await person_of(tg, ANA)).id == ana.id
