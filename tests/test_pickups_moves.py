"""Another date: a family that asks for one (before its day or after missing it) picks one of
its programme's next days and the team is told; the team moves a family from the panel or the
command line and the family hears its new date. End to end on the fake Bot API."""

from __future__ import annotations

from functools import partial

import cli_harness
import pytest
from sqlalchemy import select
from test_admin_delivery_support import (
    FAMILY_CHATS,
    FAMILY_MEMBER,
    GESTORA,
    STAFF,
    add_day,
    labels_of,
    local,
    rows,
    say,
    seed,
    tap,
)

from bot import cli_delivery
from bot.commands import CommandError
from handlers.admin.delivery import list_message
from scheduler.runner import NoticeScheduler
from services import notices
from storage.models import AuditEntry, DeliveryDay, OutboxMessage, Pickup, PickupStatus
from telegram_harness import Running

PEREZ = FAMILY_CHATS["Pérez Ñancupil"]


async def days_ahead(r: Running, seeded) -> dict[str, int]:
    """Monday 2 March (today, both linked families on it), then the next Mondays: the 9th
    and the 23rd with nobody yet, the 16th with González Soto already on it, and a
    cancelled Thursday 5th."""
    d2, _ = await add_day(r, seeded, local(2026, 3, 2, 10),
                          families=["González Soto", "Pérez Ñancupil"])
    d9, _ = await add_day(r, seeded, local(2026, 3, 9, 10), families=[])
    d16, _ = await add_day(r, seeded, local(2026, 3, 16, 10), families=["González Soto"])
    d23, _ = await add_day(r, seeded, local(2026, 3, 23, 10), families=[])
    d5, _ = await add_day(r, seeded, local(2026, 3, 5, 10), families=[])
    async with r.app.sessions() as s:
        (await s.get(DeliveryDay, d5)).cancelled_at = r.app.clock.now()
        await s.commit()
    return {"d2": d2, "d9": d9, "d16": d16, "d23": d23, "d5": d5}


async def pickup_of(r: Running, day_id: int, family_id: int) -> Pickup:
    [p] = await rows(r, Pickup, Pickup.delivery_day_id == day_id, Pickup.family_id == family_id)
    return p


async def test_after_we_missed_you_the_family_picks_its_next_day_and_the_gestora_hears(
        tg: Running, clock, capsys) -> None:
    seeded = await seed(tg)
    days = await days_ahead(tg, seeded)
    gonzalez = seeded.families["González Soto"]
    # The staff kept the day's list: Pérez came, González did not.
    clock.set(local(2026, 3, 2, 10, 30))
    async with tg.app.sessions() as s:
        perez = await pickup_of(tg, days["d2"], seeded.families["Pérez Ñancupil"])
        (await s.get(Pickup, perez.id)).status = PickupStatus.PICKED_UP
        await s.commit()
    clock.set(local(2026, 3, 2, 12, 31))
    before = len(tg.fake.delivered(FAMILY_MEMBER))
    await NoticeScheduler(tg.app.sessions, clock, notices.compose,
                          after_queued=notices.after_queued).tick()
    await tg.outbox.drain()
    [missed] = await tg.replies(FAMILY_MEMBER, before, 1)
    assert "no alcanzamos a verte" in missed["text"]

    [offer] = await tg.press(FAMILY_MEMBER, "Pedir otra fecha")
    # Not "that pickup already started": the next days of the same kind, one tap each,
    # without the cancelled day or the one the family is already on.
    assert "ya comenzó" not in offer["text"]
    assert "lunes 9 de marzo de 2026, de 10:00 a 12:00, en Sede Vecinal Villa Ñuñoa" \
        in offer["text"]
    assert labels_of(offer) == ["lun 9 mar, 10:00 a 12:00", "lun 23 mar, 10:00 a 12:00",
                                "Ninguna me sirve"]
    before_gestora = len(tg.fake.delivered(GESTORA))
    [done] = await tg.press(FAMILY_MEMBER, "lun 9 mar, 10:00 a 12:00")
    assert done["text"].startswith("✅ Listo: tu nuevo retiro es el lunes 9 de marzo de 2026, "
                                   "de 10:00 a 12:00, en Sede Vecinal Villa Ñuñoa")
    await tg.outbox.drain()
    [told] = await tg.replies(GESTORA, before_gestora, 1)
    assert told["text"] == ("📅 La familia González Soto pidió otra fecha: pasa del lunes 2 de "
                            "marzo de 2026, de 10:00 a 12:00 al lunes 9 de marzo de 2026, de "
                            "10:00 a 12:00.")
    assert not tg.fake.delivered(STAFF)  # the premises staff are not the ones to arrange it

    old, new = await pickup_of(tg, days["d2"], gonzalez), await pickup_of(tg, days["d9"],
                                                                          gonzalez)
    # The missed day keeps what happened there; the new day counts as confirmed.
    assert (old.status, old.moved_to_id) == (PickupStatus.NOTIFIED, new.id)
    assert (new.status, new.responded_at, new.notified_at) == (
        PickupStatus.CONFIRMED, clock.now(), clock.now())
    [shown] = await say(tg, FAMILY_MEMBER, "/retiro")
    assert "lunes 9 de marzo de 2026" in shown["text"] and "vienes ✅" in shown["text"]
    # The button of the "we missed you" message, pressed again, does not move it twice.
    data = missed["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    before = len(tg.fake.delivered(FAMILY_MEMBER))
    tg.fake.callback(FAMILY_MEMBER, data)
    [again] = await tg.replies(FAMILY_MEMBER, before, 1)
    assert "se cambió a otra fecha" in again["text"]
    [entry] = await rows(tg, AuditEntry, AuditEntry.action == "pickup_moved")
    assert entry.details["by"] == "family" and entry.details["to_day"] == days["d9"]
    # The missed day's list: not come, and where the family went.
    printed = await cli_run(tg, capsys, "delivery", "day", str(days["d2"]))
    assert "González Soto — no vino ❌ · nueva fecha: lunes 9 de marzo de 2026, de 10:00 a " \
           "12:00" in printed


async def test_before_its_day_a_family_for_which_no_day_fits_says_which_suit_it(
        tg: Running) -> None:
    seeded = await seed(tg)
    days = await days_ahead(tg, seeded)
    perez = seeded.families["Pérez Ñancupil"]
    await say(tg, PEREZ, "/retiro")
    [offer] = await tg.press(PEREZ, "Pedir otra fecha")
    # Pérez is on no other day: the 16th is offered too.
    assert labels_of(offer)[:3] == ["lun 9 mar, 10:00 a 12:00", "lun 16 mar, 10:00 a 12:00",
                                    "lun 23 mar, 10:00 a 12:00"]
    assert (await pickup_of(tg, days["d2"], perez)).status == PickupStatus.RESCHEDULE
    # Typing instead of tapping gets the dates again.
    nudge, offer_again = await say(tg, PEREZ, "el sábado", count=2)
    assert "toca uno de los botones" in nudge["text"]
    assert labels_of(offer_again) == labels_of(offer)
    before_gestora = len(tg.fake.delivered(GESTORA))
    told, ask = await tg.press(PEREZ, "Ninguna me sirve", count=2)
    assert "le avisé a la gestora" in told["text"]
    assert "¿Qué días u horarios te acomodan?" in ask["text"] and labels_of(ask) == ["Omitir"]
    [thanks] = await say(tg, PEREZ, "Solo puedo los sábados")
    assert "La gestora te contactará para acordar otra fecha" in thanks["text"]
    old = await pickup_of(tg, days["d2"], perez)
    assert (old.status, old.reason, old.moved_to_id) == (
        PickupStatus.RESCHEDULE, "Solo puedo los sábados", None)
    await tg.outbox.drain()
    [gestora] = await tg.replies(GESTORA, before_gestora, 1)
    assert gestora["text"] == ("📅 La familia Pérez Ñancupil pidió otra fecha en vez del lunes 2 "
                               "de marzo de 2026, de 10:00 a 12:00 y ninguna de las próximas le "
                               "sirve. Contáctala, por favor: +56912345678")


@pytest.mark.parametrize("locale", ["es", "en"])
async def test_with_no_day_ahead_the_family_is_told_kindly_and_the_gestora_too(
        tg: Running, locale: str) -> None:
    seeded = await seed(tg, locale)
    day, ids = await add_day(tg, seeded, local(2026, 3, 4, 10),
                             families=["González Soto"])
    await say(tg, FAMILY_MEMBER, "/retiro")
    button = "Pedir otra fecha" if locale == "es" else "Ask for another date"
    before_gestora = len(tg.fake.delivered(GESTORA))
    [reply] = await tg.press(FAMILY_MEMBER, button)
    expected = ("no hay otras fechas de entrega", "te contactará") if locale == "es" else (
        "no other delivery dates", "will contact you")
    assert all(e in reply["text"] for e in expected) and not labels_of(reply)
    await tg.outbox.drain()
    [gestora] = await tg.replies(GESTORA, before_gestora, 1)
    expected = "no hay próximos días de entrega" if locale == "es" else \
        "there are no upcoming delivery days"
    assert expected in gestora["text"] and "González Soto" in gestora["text"]
    [p] = await rows(tg, Pickup, Pickup.id == ids["González Soto"])
    assert (p.status, p.moved_to_id) == (PickupStatus.RESCHEDULE, None)


async def test_a_family_already_on_every_day_ahead_is_not_told_there_are_none(
        tg: Running) -> None:
    seeded = await seed(tg)
    _, ids = await add_day(tg, seeded, local(2026, 3, 4, 10), families=["González Soto"])
    await add_day(tg, seeded, local(2026, 3, 11, 10), families=["González Soto"])
    await say(tg, FAMILY_MEMBER, "/retiro")
    before_gestora = len(tg.fake.delivered(GESTORA))
    [reply] = await tg.press(FAMILY_MEMBER, "Pedir otra fecha")
    # Moving onto a day it already has would cost the family a basket: the team decides.
    assert reply["text"].startswith("Ya estás en la lista de las próximas fechas de entrega")
    await tg.outbox.drain()
    [gestora] = await tg.replies(GESTORA, before_gestora, 1)
    assert "ya está en la lista de todos los próximos días de entrega" in gestora["text"]
    [p] = await rows(tg, Pickup, Pickup.id == ids["González Soto"])
    assert (p.status, p.moved_to_id) == (PickupStatus.RESCHEDULE, None)


async def test_the_gestora_moves_a_family_from_the_day_list_and_the_family_hears_it(
        tg: Running) -> None:
    seeded = await seed(tg)
    days = await days_ahead(tg, seeded)
    gonzalez = seeded.families["González Soto"]
    await say(tg, GESTORA, "/panel")
    await tap(tg, GESTORA, "🧺 Días de entrega", sends=1)
    await tap(tg, GESTORA, "📅 Próximos días", sends=1)
    await tap(tg, GESTORA, "lun 2 mar", sends=1, contains=True)
    await tap(tg, GESTORA, "📋 Lista del día", edits=1)
    _, [card] = await tap(tg, GESTORA, "⏳ González Soto", edits=1)
    [ask], _ = await tap(tg, GESTORA, "📅 Cambiar de día", sends=1)
    assert "¿A qué día pasa la familia González Soto?" in ask["text"]
    assert [lb for lb in labels_of(ask) if "mar" in lb] == [
        "lun 9 mar 10:00–12:00 · Sede Vecinal Villa Ñuñoa, Los Aromos 123",
        "lun 23 mar 10:00–12:00 · Sede Vecinal Villa Ñuñoa, Los Aromos 123"]
    before = len(tg.fake.delivered(FAMILY_MEMBER))
    [done], _ = await tap(tg, GESTORA, "lun 23 mar", sends=1, contains=True)
    assert done["text"] == ("✅ La familia González Soto pasa al lunes 23 de marzo de 2026, de "
                            "10:00 a 12:00. Le avisé su nueva fecha.")
    await tg.outbox.drain()
    [notice] = await tg.replies(FAMILY_MEMBER, before, 1)
    assert notice["text"].startswith("📅 ¡Hola, familia González Soto! Cambiamos tu retiro de "
                                     "canasta: ahora es el lunes 23 de marzo de 2026, de 10:00 "
                                     "a 12:00")
    assert labels_of(notice) == ["✅ Confirmo", "No puedo ir", "Retira otra persona",
                                 "Pedir otra fecha"]
    old, new = await pickup_of(tg, days["d2"], gonzalez), await pickup_of(tg, days["d23"],
                                                                          gonzalez)
    # Moved before the day: the old day says so; the new one waits for the family's answer.
    assert (old.status, old.moved_to_id, new.status) == (
        PickupStatus.MOVED, new.id, PickupStatus.NOTIFIED)
    await tg.press(FAMILY_MEMBER, "✅ Confirmo")
    assert (await pickup_of(tg, days["d23"], gonzalez)).status == PickupStatus.CONFIRMED
    # The old day's list shows where the family went.
    async with tg.app.sessions() as s:
        day = await s.get(DeliveryDay, days["d2"])
        out, _ = await list_message(s, day, 0, None, tg.app.clock.now())
    text = tg.app.catalogs.render(out.text, "es", "America/Santiago")
    assert "➡️ Pasaron a otro día: 1" in text
    assert "➡️ González Soto" in [tg.app.catalogs.render(b.label, "es") for row in out.buttons
                                  for b in row]
    # The premises staff see the card, but moving families is the gestora's.
    await say(tg, STAFF, "/panel")
    await tap(tg, STAFF, "📋 Lista del día de entrega", sends=1)
    _, [staff_card] = await tap(tg, STAFF, "⏳ Pérez Ñancupil", edits=1)
    assert "📅 Cambiar de día" not in labels_of(staff_card)
    assert "📅 Cambiar de día" in labels_of(card)


parse = partial(cli_harness.parse, cli_delivery)


async def test_the_command_line_moves_a_family_with_the_same_step(tg: Running, capsys) -> None:
    seeded = await seed(tg)
    days = await days_ahead(tg, seeded)
    perez = seeded.families["Pérez Ñancupil"]
    d2, d16 = str(days["d2"]), str(days["d16"])
    # Words of the name, as the team would type them; the family is told.
    assert await cli_delivery.run(tg.app, parse("delivery", "move", d2, "--family", "perez",
                                                "--to", d16)) == 0
    out = capsys.readouterr().out
    assert f"La familia Pérez Ñancupil pasa al día {d16} (lunes 16 de marzo de 2026, de 10:00 " \
           "a 12:00). Se le avisó su nueva fecha." in out
    new = await pickup_of(tg, days["d16"], perez)
    assert (await pickup_of(tg, days["d2"], perez)).moved_to_id == new.id
    [notice] = await rows(tg, OutboxMessage, OutboxMessage.idempotency_key
                          == f"pickup:{new.id}:notice")
    assert notice.payload["text"]["k"] == "pickup.moved_notice"
    day_list = await cli_run(tg, capsys, "delivery", "day", d2)
    assert "Pérez Ñancupil — pasó a otro día ➡️ · nueva fecha: lunes 16 de marzo de 2026" in day_list
    # Refusals are sentences, not codes.
    with pytest.raises(CommandError) as err:
        await cli_delivery.run(tg.app, parse("delivery", "move", d2, "--family", "gonzalez",
                                             "--to", d16))
    assert "la familia ya está en la lista de ese día" in str(err.value)
    assert "No se pudo cambiar de día a la familia González Soto" in str(err.value)
    with pytest.raises(CommandError) as err:
        await cli_delivery.run(tg.app, parse("delivery", "move", d2, "--family", "z",
                                             "--to", d16))
    assert "Varias familias" in str(err.value) and "Pérez Ñancupil" in str(err.value)
    with pytest.raises(CommandError) as err:
        await cli_delivery.run(tg.app, parse("delivery", "move", d2, "--family", "xyz",
                                             "--to", d16))
    assert "no hay ninguna familia que calce con «xyz»" in str(err.value)
    async with tg.app.sessions() as s:
        cli_moves = list(await s.scalars(select(AuditEntry).where(
            AuditEntry.action == "pickup_moved")))
    assert [(a.channel, a.details["by"]) for a in cli_moves] == [("cli", "team")]


async def cli_run(r: Running, capsys, *argv: str) -> str:
    assert await cli_delivery.run(r.app, parse(*argv)) == 0
    return capsys.readouterr().out
