"""Delivery days and the staff's day list, end to end: the real aiogram runtime polling the
fake Bot API, the panel's buttons pressed as a person would, the database checked after."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from test_admin_delivery_support import (
    FAMILY_CHATS,
    FAMILY_MEMBER,
    GESTORA,
    STAFF,
    add_day,
    count,
    labels_of,
    local,
    rows,
    say,
    seed,
    tap,
)

from handlers.events import Outgoing
from locales import Msg
from services import delivery as delivery_services
from storage import delivery, outbox
from storage.models import (
    AuditEntry,
    Conversation,
    DeliveryDay,
    Family,
    OutboxMessage,
    Person,
    Pickup,
    PickupMode,
    PickupStatus,
    Program,
)
from telegram_harness import Running

# --------------------------------------------------------------------------- defining days

TEXTS = {
    "es": {
        "section": "🧺 Días de entrega", "new": "➕ Nuevo día de entrega",
        "pickup": "🏪 Retiro en el local", "biweekly": "Cada dos semanas", "times": "4 veces",
        "save": "💾 Guardar", "sector": "Las de un sector", "lo_hermida": "Lo Hermida (2)",
        "ask_start": "jueves 12 de marzo de 2026. ¿A qué hora empieza",
        "bad_time": "No entendí esa hora", "end_before": "después de las 10:00",
        "window": "jueves 12 de marzo de 2026, de 10:00 a 12:00",
        "repeat": "cada dos semanas, 4 veces en total (la última el jueves 23 de abril de 2026)",
        "saved": "✅ Guardé 4 días de entrega.", "ask_assign": "¿Qué familias van a estos 4 días?",
        "assigned": "✅ Listo: 2 familias asignadas (días: 4).",
        "unlinked": "no está conectada a Convoca",
        "policy_now": "antes de cada entrega (2 días antes)",
        "days": "📅 Próximos días", "assign": "👥 Asignar familias",
        "policy": "🔔 Cómo avisar a las familias", "all_at_once": "○ Todas las fechas de una vez",
        "policy_saved": "✅ Guardado. Convoca avisará a las familias: todas las fechas de una vez",
        "same_place": "Igual que la vez anterior: Sede Vecinal Villa Ñuñoa, Los Aromos 123",
        "once": "Solo esta vez", "day_label": "jue 12 mar 10:00–12:00",
        "use_buttons": "Usa los botones",
    },
    "en": {
        "section": "🧺 Delivery days", "new": "➕ New delivery day",
        "pickup": "🏪 Pickup at the premises", "biweekly": "Every two weeks", "times": "4 times",
        "save": "💾 Save", "sector": "Those of one sector", "lo_hermida": "Lo Hermida (2)",
        "ask_start": "Thursday 12 March 2026. What time does the delivery start",
        "bad_time": "I didn't get that time", "end_before": "must be after 10:00",
        "window": "Thursday 12 March 2026, 10:00 to 12:00",
        "repeat": "every two weeks, 4 times in all (the last on Thursday 23 April 2026)",
        "saved": "✅ Saved 4 delivery days.", "ask_assign": "Which families go on these 4 days?",
        "assigned": "✅ Done: 2 families assigned (days: 4).",
        "unlinked": "connected to Convoca yet",
        "policy_now": "before each delivery day (2 days before)",
        "days": "📅 Upcoming days", "assign": "👥 Assign families",
        "policy": "🔔 How families are told", "all_at_once": "○ All dates at once",
        "policy_saved": "✅ Saved. Convoca will tell the families: all dates at once",
        "same_place": "Same as last time: Sede Vecinal Villa Ñuñoa, Los Aromos 123",
        "once": "Just this once", "day_label": "Thu 12 Mar 10:00–12:00",
        "use_buttons": "Please use the buttons",
    },
}


@pytest.mark.parametrize("locale", ["es", "en"])
async def test_the_gestora_defines_a_fortnightly_pattern_and_assigns_a_sector(
        tg: Running, locale: str) -> None:
    t = TEXTS[locale]
    seeded = await seed(tg, locale)
    [panel] = await say(tg, GESTORA, "/panel")
    assert t["section"] in labels_of(panel)
    await tap(tg, GESTORA, t["section"], sends=1)
    await tap(tg, GESTORA, t["new"], sends=1)
    [cal], _ = await tap(tg, GESTORA, t["pickup"], sends=1)
    # The calendar opens on this month and offers nothing before today (2 March).
    assert "1" not in labels_of(cal) and "2" in labels_of(cal)
    [ask], _ = await tap(tg, GESTORA, "12", sends=1)
    assert t["ask_start"] in ask["text"]
    await tap(tg, GESTORA, "10:00", sends=1)
    # Typed times are read the way people write them; nonsense gets a kind re-ask.
    nudge, again = await say(tg, GESTORA, "al tiro", count=2)
    assert t["bad_time"] in nudge["text"] and "10:00" in again["text"]
    nudge, again = await say(tg, GESTORA, "9", count=2)
    assert t["end_before"] in nudge["text"]
    [ask_place] = await say(tg, GESTORA, "12 hrs")
    assert labels_of(ask_place)[-1].endswith(("Cancelar", "Cancel"))
    # A sticker is not a place: the same question again.
    before = len(tg.fake.delivered(GESTORA))
    tg.fake.sticker(GESTORA)
    nudge, again = await tg.replies(GESTORA, before, 2)
    assert again["text"] == ask_place["text"]
    await say(tg, GESTORA, "Sede Vecinal Villa Ñuñoa")
    await say(tg, GESTORA, "Los Aromos 123")
    await tap(tg, GESTORA, t["biweekly"], sends=1)
    [confirm], _ = await tap(tg, GESTORA, t["times"], sends=1)
    assert t["window"] in confirm["text"]
    assert "Sede Vecinal Villa Ñuñoa, Los Aromos 123" in confirm["text"]
    assert t["repeat"] in confirm["text"]
    saved, ask_assign = (await tap(tg, GESTORA, t["save"], sends=2))[0]
    assert saved["text"] == t["saved"] and t["ask_assign"] in ask_assign["text"]

    days = sorted(await rows(tg, DeliveryDay), key=lambda d: d.window_start)
    # 10:00 in Santiago is 13:00 UTC in summer time and 14:00 UTC after 5 April.
    assert [d.window_start for d in days] == [
        datetime(2026, 3, 12, 13, tzinfo=UTC), datetime(2026, 3, 26, 13, tzinfo=UTC),
        datetime(2026, 4, 9, 14, tzinfo=UTC), datetime(2026, 4, 23, 14, tzinfo=UTC)]
    assert all(d.window_end - d.window_start == timedelta(hours=2) for d in days)
    assert {(d.place, d.address, d.mode) for d in days} == {
        ("Sede Vecinal Villa Ñuñoa", "Los Aromos 123", PickupMode.RETIRO)}

    await tap(tg, GESTORA, t["sector"], sends=1)
    [report], _ = await tap(tg, GESTORA, t["lo_hermida"], sends=1)
    # Both families are on Telegram: no warning about families the notice cannot reach.
    assert t["assigned"] in report["text"] and t["unlinked"] not in report["text"]
    assert t["policy_now"] in report["text"]
    # Lo Hermida's home-delivery family is not put on a pickup day.
    wanted = {seeded.families["González Soto"], seeded.families["Pérez Ñancupil"]}
    for day in days:
        assert {p.family_id for p in await rows(tg, Pickup, Pickup.delivery_day_id == day.id)} \
            == wanted
    # Assigning the same sector again adds nobody.
    await say(tg, GESTORA, "/panel")
    await tap(tg, GESTORA, t["section"], sends=1)
    await tap(tg, GESTORA, t["days"], sends=1)
    await tap(tg, GESTORA, t["day_label"], sends=1, contains=True)
    await tap(tg, GESTORA, t["assign"], sends=1)
    await tap(tg, GESTORA, t["sector"], sends=1)
    await tap(tg, GESTORA, t["lo_hermida"], sends=1)
    assert await count(tg, Pickup) == 8
    assert [a.action for a in await rows(tg, AuditEntry, AuditEntry.action.in_(
        ["delivery_days_created", "families_assigned"]))] == [
        "delivery_days_created", "families_assigned", "families_assigned"]

    # The notice policy of the internal procedure: chosen here, stored on the programme.
    await say(tg, GESTORA, "/panel")
    await tap(tg, GESTORA, t["section"], sends=1)
    await tap(tg, GESTORA, t["policy"], sends=1)
    _, [edited] = await tap(tg, GESTORA, t["all_at_once"], edits=1)
    assert t["policy_saved"] in edited["text"]
    [program] = await rows(tg, Program)
    assert program.settings["pickup_policy"] == "all_at_once"
    assert delivery.pickup_policy(program) == "all_at_once"

    # Another day: "same as last time" fills the place and address in one tap.
    await say(tg, GESTORA, "/panel")
    await tap(tg, GESTORA, t["section"], sends=1)
    await tap(tg, GESTORA, t["new"], sends=1)
    await tap(tg, GESTORA, t["pickup"], sends=1)
    await tap(tg, GESTORA, "▶", edits=1)  # April
    await tap(tg, GESTORA, "16", sends=1)
    await tap(tg, GESTORA, "15:00", sends=1)
    await tap(tg, GESTORA, "17:00", sends=1)
    await tap(tg, GESTORA, t["same_place"], sends=1)
    nudge, again = await say(tg, GESTORA, "¿y ahora?", count=2)
    assert t["use_buttons"] in nudge["text"] and t["once"] in labels_of(again)
    [confirm], _ = await tap(tg, GESTORA, t["once"], sends=1)
    assert "Sede Vecinal Villa Ñuñoa, Los Aromos 123" in confirm["text"]
    await tap(tg, GESTORA, t["save"], sends=2)
    [new_day] = await rows(tg, DeliveryDay, DeliveryDay.window_start == local(2026, 4, 16, 15))
    assert (new_day.place, new_day.address) == ("Sede Vecinal Villa Ñuñoa", "Los Aromos 123")


async def a_pickup_day_on_the_5th_up_to_its_repetition(tg: Running) -> None:
    """The gestora's wizard up to "does it repeat?": a pickup at the premises on the 5th,
    18:30 to 8 pm, at the Sede Vecinal, without an address."""
    await say(tg, GESTORA, "/panel")
    await tap(tg, GESTORA, "🧺 Días de entrega", sends=1)
    await tap(tg, GESTORA, "➕ Nuevo día de entrega", sends=1)
    await tap(tg, GESTORA, "🏪 Retiro en el local", sends=1)
    await tap(tg, GESTORA, "5", sends=1)
    await say(tg, GESTORA, "18:30")
    await say(tg, GESTORA, "8 pm")
    await say(tg, GESTORA, "Sede Vecinal Villa Ñuñoa")
    await tap(tg, GESTORA, "Sin dirección", sends=1)


async def test_weekly_until_a_date_for_every_pickup_family(tg: Running) -> None:
    seeded = await seed(tg)
    await a_pickup_day_on_the_5th_up_to_its_repetition(tg)
    await tap(tg, GESTORA, "Cada semana, el mismo día", sends=1)
    [cal], _ = await tap(tg, GESTORA, "📅 Hasta una fecha", sends=1)
    # The last day can be no earlier than the first.
    assert "4" not in labels_of(cal) and "5" in labels_of(cal)
    await tap(tg, GESTORA, "▶", edits=1)
    [confirm], _ = await tap(tg, GESTORA, "2", sends=1)
    assert "cada semana, 5 veces en total (la última el jueves 2 de abril de 2026)" \
        in confirm["text"]
    assert "jueves 5 de marzo de 2026, de 18:30 a 20:00" in confirm["text"]
    await tap(tg, GESTORA, "💾 Guardar", sends=2)
    [report], _ = await tap(tg, GESTORA, "Todas las de retiro en local (4)", sends=1)
    assert "4 familias asignadas (días: 5)" in report["text"]
    days = await rows(tg, DeliveryDay)
    assert len(days) == 5 and {d.address for d in days} == {None}
    retiro = {seeded.families[n] for n in ("González Soto", "Pérez Ñancupil", "Muñoz Rojas",
                                           "Castañeda Vidal")}
    assert {p.family_id for p in await rows(tg, Pickup)} == retiro
    assert await count(tg, Pickup) == 20


async def test_days_that_cannot_be_saved_are_refused_in_words(tg: Running) -> None:
    """What the wizard holds no longer makes days (here the end came before the start): the
    gestora reads why, in words, never the code (end_before_start), and starts again."""
    await seed(tg)
    await a_pickup_day_on_the_5th_up_to_its_repetition(tg)
    await tap(tg, GESTORA, "Solo esta vez", sends=1)
    async with tg.app.sessions() as s:
        convo = await s.scalar(select(Conversation).where(Conversation.flow.is_not(None)))
        convo.data = {**convo.data, "end": "17:00"}
        await s.commit()
    [refused, again], _ = await tap(tg, GESTORA, "💾 Guardar", sends=2)
    assert refused["text"] == ("No pude guardar esos días: la hora de término debe ser después "
                               "de la de inicio. Empecemos de nuevo.")
    assert "🏪 Retiro en el local" in labels_of(again)
    assert await count(tg, DeliveryDay) == 0


async def test_picking_families_from_a_paged_checklist(tg: Running) -> None:
    seeded = await seed(tg)
    async with tg.app.sessions() as s:
        for i in range(6):  # eleven families: two pages of eight
            s.add(Family(program_id=seeded.program_id, name=f"Zúñiga {i:02d}",
                         created_at=tg.app.clock.now()))
        await s.commit()
    day_id, _ = await add_day(tg, seeded, local(2026, 3, 12, 10), families=[])
    await say(tg, GESTORA, "/panel")
    await tap(tg, GESTORA, "🧺 Días de entrega", sends=1)
    await tap(tg, GESTORA, "📅 Próximos días", sends=1)
    await tap(tg, GESTORA, "jue 12 mar", sends=1, contains=True)
    await tap(tg, GESTORA, "👥 Asignar familias", sends=1)
    [checklist], _ = await tap(tg, GESTORA, "Elegir de la lista", sends=1)
    assert "⬜ Araya Díaz" in labels_of(checklist) and "1/2" in labels_of(checklist)
    _, [ticked] = await tap(tg, GESTORA, "⬜ Muñoz Rojas", edits=1)
    assert "✅ Muñoz Rojas" in labels_of(ticked) and "Listo (1)" in labels_of(ticked)
    _, [page2] = await tap(tg, GESTORA, "▶", edits=1)
    assert "2/2" in labels_of(page2)
    await tap(tg, GESTORA, "⬜ Zúñiga 05", edits=1)
    await tap(tg, GESTORA, "◀", edits=1)
    [report], _ = await tap(tg, GESTORA, "Listo (2)", sends=1)
    assert "2 familias asignadas" in report["text"]
    assert "2 aún no están conectadas a Convoca: no recibirán el aviso" in report["text"]
    families = {p.family_id for p in await rows(tg, Pickup, Pickup.delivery_day_id == day_id)}
    names = {f.name for f in await rows(tg, Family, Family.id.in_(families))}
    assert names == {"Muñoz Rojas", "Zúñiga 05"}


# --------------------------------------------------------------------------- the day list

LIST_TEXTS = {
    "es": {"section": "📋 Lista del día de entrega", "picked": "Retiró ✅", "no_show": "No vino ❌",
           "other": "Retiró otra persona 👥", "not_yet": "Todavía no empieza la entrega",
           "starts": "a las 10:00", "confirmed": "👍 Confirmaron: 1", "cannot": "🚫 No pueden venir: 1",
           "proxy": "👥 Retira otra persona: 1", "reschedule": "📅 Piden otra fecha: 1",
           "no_answer": "⏳ Sin respuesta: 1", "picked_n": "✅ Retiraron: {n}",
           "no_show_n": "❌ No vinieron: {n}", "ask_proxy": "¿Quién retiró por la familia",
           "noted": "Anotado: Rosa Pérez Díaz retiró por la familia Castañeda Vidal ✅",
           "found": "🔎 «perez»: 1 familia.", "none": "No encontré a «xyz»", "all": "Ver todas"},
    "en": {"section": "📋 Delivery day list", "picked": "Picked up ✅", "no_show": "Didn't come ❌",
           "other": "Someone else picked up 👥", "not_yet": "The delivery hasn't started yet",
           "starts": "at 10:00", "confirmed": "👍 Confirmed: 1", "cannot": "🚫 Can't come: 1",
           "proxy": "👥 Someone else picks up: 1", "reschedule": "📅 Ask for another date: 1",
           "no_answer": "⏳ No answer: 1", "picked_n": "✅ Picked up: {n}",
           "no_show_n": "❌ Didn't come: {n}", "ask_proxy": "Who picked up for the",
           "noted": "Noted: Rosa Pérez Díaz picked up for the Castañeda Vidal family ✅",
           "found": "🔎 “perez”: 1 family.", "none": "I found no “xyz”", "all": "Show all"},
}


@pytest.mark.parametrize("locale", ["es", "en"])
async def test_the_staff_marks_pickups_from_todays_list(tg: Running, clock, locale: str
                                                        ) -> None:
    t = LIST_TEXTS[locale]
    seeded = await seed(tg, locale)
    # Monday 2 March, 10:00 to 12:00 in Santiago; the clock says 09:00 there.
    day_id, ids = await add_day(tg, seeded, local(2026, 3, 2, 10), statuses={
        "González Soto": PickupStatus.CONFIRMED, "Pérez Ñancupil": PickupStatus.CANNOT,
        "Muñoz Rojas": PickupStatus.PROXY, "Araya Díaz": PickupStatus.RESCHEDULE,
        "Castañeda Vidal": PickupStatus.NOTIFIED})
    [panel] = await say(tg, STAFF, "/panel")
    # The premises staff see the day list and nothing of the gestora's tools.
    assert t["section"] in labels_of(panel) and len(labels_of(panel)) == 1
    [day_list], _ = await tap(tg, STAFF, t["section"], sends=1)
    for key in ("confirmed", "cannot", "proxy", "reschedule", "no_answer"):
        assert t[key] in day_list["text"]
    assert t["picked_n"].format(n=0) in day_list["text"]
    assert labels_of(day_list)[:5] == ["📅 Araya Díaz", "⏳ Castañeda Vidal", "👍 González Soto",
                                       "👥 Muñoz Rojas", "🚫 Pérez Ñancupil"]

    _, [card] = await tap(tg, STAFF, "👍 González Soto", edits=1)
    assert "González Soto" in card["text"] and t["picked"] in labels_of(card)
    # Before the window opens: a kind word, and nothing recorded.
    [early], _ = await tap(tg, STAFF, t["picked"], sends=1)
    assert t["not_yet"] in early["text"] and t["starts"] in early["text"]
    [pickup] = await rows(tg, Pickup, Pickup.id == ids["González Soto"])
    assert pickup.status == PickupStatus.CONFIRMED

    clock.set(local(2026, 3, 2, 10, 20))
    _, [back] = await tap(tg, STAFF, t["picked"], edits=1)
    assert t["picked_n"].format(n=1) in back["text"] and "✅ González Soto" in labels_of(back)
    [pickup] = await rows(tg, Pickup, Pickup.id == ids["González Soto"])
    assert (pickup.status, pickup.marked_by, pickup.handed_at) == (
        PickupStatus.PICKED_UP, seeded.people[STAFF], clock.now())

    await tap(tg, STAFF, "🚫 Pérez Ñancupil", edits=1)
    _, [back] = await tap(tg, STAFF, t["no_show"], edits=1)
    assert t["no_show_n"].format(n=1) in back["text"]

    # A proxy named beforehand: one tap, and the name the family gave is kept.
    await tap(tg, STAFF, "👥 Muñoz Rojas", edits=1)
    [noted], [back] = await tap(tg, STAFF, t["other"], sends=1, edits=1)
    assert "Luis Soto Rojas" in noted["text"]
    # Someone unannounced: the staff may write who it was.
    await tap(tg, STAFF, "⏳ Castañeda Vidal", edits=1)
    [ask], _ = await tap(tg, STAFF, t["other"], sends=1, edits=1)
    assert t["ask_proxy"] in ask["text"]
    [noted] = await say(tg, STAFF, "Rosa Pérez Díaz 12.345.678-5")
    assert noted["text"] == t["noted"]
    [pickup] = await rows(tg, Pickup, Pickup.id == ids["Castañeda Vidal"])
    assert (pickup.status, pickup.proxy_name, pickup.proxy_rut) == (
        PickupStatus.PICKED_UP, "Rosa Pérez Díaz", "12.345.678-5")

    # Typing part of a name searches the list, accents or not.
    [found] = await say(tg, STAFF, "perez")
    assert t["found"] in found["text"]
    assert [lb for lb in labels_of(found) if "Ñancupil" in lb or "Soto" in lb] == [
        "❌ Pérez Ñancupil"]
    [none] = await say(tg, STAFF, "xyz")
    assert t["none"] in none["text"]
    _, [everyone] = await tap(tg, STAFF, t["all"], edits=1)
    assert t["picked_n"].format(n=3) in everyone["text"]
    assert await count(tg, AuditEntry, AuditEntry.action == "pickup_marked") == 4


async def test_the_day_list_pages_by_eight(tg: Running, clock) -> None:
    seeded = await seed(tg)
    async with tg.app.sessions() as s:
        for i in range(7):
            f = Family(program_id=seeded.program_id, name=f"Familia {i:02d}",
                       created_at=clock.now())
            s.add(f)
            await s.flush()
            seeded.families[f.name] = f.id
        await s.commit()
    await add_day(tg, seeded, local(2026, 3, 2, 10))
    await say(tg, STAFF, "/panel")
    [first], _ = await tap(tg, STAFF, "📋 Lista del día de entrega", sends=1)
    families = [lb for lb in labels_of(first) if lb.startswith("⏳")]
    assert len(families) == 8 and "1/2" in labels_of(first)
    _, [second] = await tap(tg, STAFF, "▶", edits=1)
    assert len([lb for lb in labels_of(second) if lb.startswith("⏳")]) == 4
    assert "⏳ Pérez Ñancupil" in labels_of(second)
    # The family card remembers the page, and so does the way back.
    await tap(tg, STAFF, "⏳ Pérez Ñancupil", edits=1)
    _, [back] = await tap(tg, STAFF, "↩️ Volver a la lista", edits=1)
    assert "2/2" in labels_of(back)


async def test_no_delivery_today_offers_the_other_days(tg: Running) -> None:
    seeded = await seed(tg)
    await add_day(tg, seeded, local(2026, 3, 5, 15))
    await say(tg, STAFF, "/panel")
    [pick], _ = await tap(tg, STAFF, "📋 Lista del día de entrega", sends=1)
    assert "Hoy no hay entrega" in pick["text"]
    _, [listed] = await tap(tg, STAFF, "jue 5 mar", edits=1, contains=True)
    assert "jueves 5 de marzo de 2026, de 15:00 a 17:00" in listed["text"]


# --------------------------------------------------------------------------- cancelling


async def test_cancelling_a_day_tells_the_families_that_had_the_date(tg: Running) -> None:
    seeded = await seed(tg)
    day_id, ids = await add_day(tg, seeded, local(2026, 3, 12, 10),
                                notified=["González Soto", "Pérez Ñancupil"])
    # A reminder already queued for the day must not go out after the cancellation.
    async with tg.app.sessions() as s:
        await outbox.enqueue_for_person(
            s, seeded.people[FAMILY_MEMBER], Outgoing(text=Msg("input.not_understood")).to_json(),
            key=f"pickup:{ids['González Soto']}:eve", kind="pickup_evening",
            now=tg.app.clock.now(), not_before=tg.app.clock.now() + timedelta(days=3))
        await s.commit()
    await say(tg, GESTORA, "/panel")
    await tap(tg, GESTORA, "🧺 Días de entrega", sends=1)
    await tap(tg, GESTORA, "📅 Próximos días", sends=1)
    await tap(tg, GESTORA, "jue 12 mar", sends=1, contains=True)
    [ask], _ = await tap(tg, GESTORA, "🚫 Cancelar este día", sends=1)
    assert "Avisaré a las 2 familias que ya tenían la fecha" in ask["text"]
    before = {c: len(tg.fake.delivered(c)) for c in FAMILY_CHATS.values()}
    [done], _ = await tap(tg, GESTORA, "Sí, cancelar el día", sends=1)
    assert "Avisé a 2 familias" in done["text"]
    await tg.outbox.drain()
    for chat in FAMILY_CHATS.values():
        [notice] = await tg.replies(chat, before[chat], 1)
        assert "se suspende la entrega del jueves 12 de marzo de 2026, de 10:00 a 12:00" \
            in notice["text"]
    [day] = await rows(tg, DeliveryDay)
    assert day.cancelled_at == tg.app.clock.now()
    keys = {o.idempotency_key: o for o in await rows(tg, OutboxMessage)}
    assert keys[f"pickup:{ids['González Soto']}:eve"].status == "dropped"
    assert f"pickup:{ids['Muñoz Rojas']}:cancelled" not in keys  # never told: nothing to undo
    # Cancelling again is refused; no second notice.
    async with tg.app.sessions() as s:
        day = await s.get(DeliveryDay, day_id)
        with pytest.raises(delivery.DeliveryError):
            await delivery_services.cancel_day(s, day, tg.app.clock.now())
    assert await count(tg, AuditEntry, AuditEntry.action == "delivery_day_cancelled") == 1


async def test_a_family_answering_after_the_cancellation_is_told_so(tg: Running) -> None:
    seeded = await seed(tg)
    _, ids = await add_day(tg, seeded, local(2026, 3, 12, 10))
    async with tg.app.sessions() as s:
        day = (await s.scalars(select(DeliveryDay))).one()
        await delivery_services.cancel_day(s, day, tg.app.clock.now())
        await s.commit()
    await tg.outbox.drain()  # the cancellation notice first, then the family asks
    [reply] = await say(tg, FAMILY_MEMBER, "/retiro")
    assert "no tienes retiros agendados" in reply["text"]
    [person] = await rows(tg, Person, Person.id == seeded.people[FAMILY_MEMBER])
    assert person.id == seeded.people[FAMILY_MEMBER]
