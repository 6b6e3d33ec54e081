"""The team's flows to their end on the WhatsApp-limited test channel (tests/wa_limited.py):
the panel's long lists come in pages with "more", month calendars as typed dates or lists of
days, edits in place as new messages."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select
from test_admin_catastro_telegram import ORGS_CSV, rut
from test_admin_delivery_flow import LIST_TEXTS
from test_admin_delivery_support import FAMILY_CHATS, Seed, add_day, local
from test_admin_delivery_support import GESTORA as DELIVERY_GESTORA
from test_admin_delivery_support import STAFF as DELIVERY_STAFF
from test_admin_delivery_support import seed as seed_on
from test_admin_stages_flow import TEXTS as STAGE_TEXTS
from test_pickups_moves import days_ahead
from test_wa_limited_flows import add_person, programme
from wa_limited import WaHarness

from services.outreach import update_progress_messages
from services.pickups import send_pickup_notice
from storage.models import (
    Attendance,
    DeliveryDay,
    Family,
    LinkCode,
    Meeting,
    MeetingSeries,
    MeetingStatus,
    Membership,
    Milestone,
    Pickup,
    PickupStatus,
    Rsvp,
)

GESTORA, ANA, BETO, CARLA, DANI = "56900000001", "56900000002", "56900000003", "56900000004", \
    "56900000005"
APRIL_7 = datetime(2026, 4, 7, 22, 0, tzinfo=UTC)  # Tuesday, 18:00 in Santiago


async def seed(wa: WaHarness, gestora_locale: str = "es") -> dict[str, int]:
    program_id, gm = await programme(wa)
    ids = {"program": program_id, "gm": gm}
    ids["gestora"] = await add_person(wa, GESTORA, "Gabriela Gestora", gestora_locale,
                                      "gestora")
    for address, name, loc in ((ANA, "Ana Pérez", "es"), (BETO, "Beto Soto", "en"),
                               (CARLA, "Carla Núñez", "es"), (DANI, "Dani Rojas", "es")):
        ids[address] = await add_person(wa, address, name, loc, "grupo_motor",
                                        program_id=program_id, body_id=gm)
    return ids


async def test_a_meeting_created_invited_answered_marked_and_closed(wa: WaHarness) -> None:
    await seed(wa)
    await wa.send(GESTORA, "/panel")
    await wa.press(GESTORA, "📅 Reuniones")
    await wa.press(GESTORA, "➕ Nueva reunión")
    await wa.press(GESTORA, "Grupo Motor")
    await wa.press(GESTORA, "Sesión del Grupo Motor")
    # No month of days here: the date is typed, and so is the time.
    [ask_time] = await wa.send(GESTORA, "07-04-2026")
    assert "martes 7 de abril de 2026" in ask_time.text
    await wa.send(GESTORA, "18:00")
    await wa.send(GESTORA, "Sede Villa Ñuñoa")
    [summary] = await wa.send(GESTORA, "Plan de trabajo")
    assert "🗓️ martes 7 de abril, 18:00" in summary.text
    created, ask_invite = await wa.press(GESTORA, "✅ Confirmar")
    assert created.text.startswith("✅ Reunión creada")
    [invited] = await wa.press(GESTORA, "Integrantes del Grupo", contains=True)
    assert invited.text.startswith("📨 Listo: invité a 4 personas")
    await wa.drain()
    await wa.press(ANA, "Asistiré")
    await wa.press(BETO, "I can't make it")
    await wa.send(BETO, "I work that evening")
    [board] = await wa.press(GESTORA, "📋 Ver el tablero")
    assert "✅ Asistirán (1): Ana Pérez" in board.text
    await wa.press(GESTORA, "Preguntar de nuevo", contains=True)
    meeting = await last_meeting(wa)
    wa.app.clock.set(APRIL_7 - timedelta(minutes=20))
    [checked] = await wa.send(CARLA, f"/asistencia {meeting.checkin_code}")
    assert checked.text.startswith("¡Listo!")
    await wa.press(GESTORA, "📋 Ver el tablero")
    await wa.press(GESTORA, "✍️ Tomar asistencia")
    # Each mark is a new message here (no edits); the list is pressed again from it.
    [marked] = await wa.press(GESTORA, "▫️ Ana Pérez")
    assert "Presentes: 2 de 4" in marked.text
    await wa.press(GESTORA, "▫️ Beto Soto")
    await wa.press(GESTORA, "✅ Beto Soto")
    await wa.press(GESTORA, "Agregar a alguien", contains=True)
    await wa.send(GESTORA, "dani")
    await wa.press(GESTORA, "Dani Rojas")
    [closed] = await wa.press(GESTORA, "🏁 Cerrar sesión")
    assert closed.text.startswith("🏁 Sesión cerrada.")
    async with wa.app.sessions() as s:
        meeting = await s.get(Meeting, meeting.id)
        present = await s.scalar(select(func.count()).select_from(Attendance).where(
            Attendance.present.is_(True)))
    assert meeting.status == MeetingStatus.HELD and present == 3
    [rates] = await wa.press(GESTORA, "📊 Asistencia")
    assert "Grupo Motor: " in rates.text


async def last_meeting(wa: WaHarness) -> Meeting:
    async with wa.app.sessions() as s:
        return await s.scalar(select(Meeting).order_by(Meeting.id.desc()).limit(1))


async def test_a_monthly_series_then_moving_and_cancelling_in_english(wa: WaHarness) -> None:
    await seed(wa, gestora_locale="en")
    await wa.send(GESTORA, "/panel")
    await wa.press(GESTORA, "📅 Meetings")
    await wa.press(GESTORA, "➕ New meeting")
    await wa.press(GESTORA, "Core Group")
    await wa.press(GESTORA, "Core Group meeting")
    await wa.send(GESTORA, "03-03-2026")
    await wa.press(GESTORA, "18:00")
    await wa.send(GESTORA, "Sede Villa Ñuñoa")
    await wa.press(GESTORA, "Skip")
    [repeating] = await wa.press(GESTORA, "🔁 Repeat every month")
    assert "10 sessions" in repeating.text
    created, _ = await wa.press(GESTORA, "✅ Confirm")
    assert created.text.startswith("✅ I created 10 meetings")
    await wa.press(GESTORA, "Core Group members", contains=True)
    async with wa.app.sessions() as s:
        assert await s.scalar(select(func.count()).select_from(MeetingSeries)) == 1
        first = await s.scalar(select(Meeting).order_by(Meeting.starts_at).limit(1))
    await wa.drain()
    await wa.press(ANA, "Asistiré")

    # Moving the first: the board is reached through the (paged) list of meetings.
    await wa.send(GESTORA, "/panel")
    await wa.press(GESTORA, "📅 Meetings")
    await wa.press(GESTORA, "Tuesday 3 March", contains=True)
    [ask_day] = await wa.press(GESTORA, "📅 Change date")
    # The day to pick is a list of days from today, in pages, with a line saying it may be
    # typed instead; the 19th is on the third page ("more" twice, each a new message).
    assert [c.title for c in ask_day.shown.rows][:2] == ["Mon 2 Mar", "Tue 3 Mar"]
    assert "or type the date" in ask_day.text
    before = len(wa.chat(GESTORA))
    await wa.press(GESTORA, "Thu 19 Mar")
    assert [m.text.splitlines()[-1] for m in wa.chat(GESTORA)[before:before + 2]] == [
        "Options: page 2 of 5.", "Options: page 3 of 5."]
    [confirm] = await wa.press(GESTORA, "18:00")
    assert "Thursday 19 March, 18:00" in confirm.text
    [moved] = await wa.press(GESTORA, "✅ Yes, move it")
    assert moved.text.startswith("📅 Done: the meeting is now on Thursday 19 March, 18:00.")
    await wa.drain()
    assert wa.chat(ANA)[-1].text.startswith("🔄 Cambio de fecha")

    await wa.press(GESTORA, "📋 See the board")
    await wa.press(GESTORA, "🚫 Cancel meeting")
    [cancelled] = await wa.send(GESTORA, "The hall is closed for repairs")
    assert cancelled.text.startswith("🚫 Meeting cancelled.")
    await wa.drain()
    assert "The hall is closed for repairs" in wa.chat(ANA)[-1].text
    async with wa.app.sessions() as s:
        first = await s.get(Meeting, first.id)
        answers = list(await s.scalars(select(Rsvp.answer).where(Rsvp.meeting_id == first.id)))
    assert first.status == MeetingStatus.CANCELLED and len(answers) == 4


# --- delivery days, and the day list at the premises --------------------------------------------


async def seed_delivery(wa: WaHarness, locale: str = "es") -> Seed:
    """The Telegram tests' seed (test_admin_delivery_support), its people on this channel."""
    return await seed_on(wa, locale, channel=wa.channel.name)  # type: ignore[arg-type]


async def test_a_fortnightly_pickup_day_for_a_sector(wa: WaHarness) -> None:
    await seed_delivery(wa)
    await wa.send(DELIVERY_GESTORA, "/panel")
    await wa.press(DELIVERY_GESTORA, "🧺 Días de entrega")
    await wa.press(DELIVERY_GESTORA, "➕ Nuevo día de entrega")
    [days] = await wa.press(DELIVERY_GESTORA, "🏪 Retiro en el local")
    # Today (Monday 2 March) is the first day to pick.
    assert days.shown.rows[0].title == "lun 2 mar"
    [ask_start] = await wa.press(DELIVERY_GESTORA, "jue 12 mar")
    assert "jueves 12 de marzo de 2026. ¿A qué hora empieza" in ask_start.text
    await wa.press(DELIVERY_GESTORA, "10:00")
    await wa.send(DELIVERY_GESTORA, "12 hrs")
    await wa.send(DELIVERY_GESTORA, "Sede Vecinal Villa Ñuñoa")
    await wa.send(DELIVERY_GESTORA, "Los Aromos 123")
    await wa.press(DELIVERY_GESTORA, "Cada dos semanas")
    [confirm] = await wa.press(DELIVERY_GESTORA, "4 veces")
    assert "cada dos semanas, 4 veces en total" in confirm.text
    saved, _ = await wa.press(DELIVERY_GESTORA, "💾 Guardar")
    assert saved.text == "✅ Guardé 4 días de entrega."
    await wa.press(DELIVERY_GESTORA, "Las de un sector")
    [report] = await wa.press(DELIVERY_GESTORA, "Lo Hermida (2)")
    assert "2 familias asignadas (días: 4)" in report.text
    async with wa.app.sessions() as s:
        assert await s.scalar(select(func.count()).select_from(DeliveryDay)) == 4
        assert await s.scalar(select(func.count()).select_from(Pickup)) == 8


@pytest.mark.parametrize("locale", ["es", "en"])
async def test_the_staff_marks_pickups_from_the_day_list(wa: WaHarness, clock,
                                                         locale: str) -> None:
    t = LIST_TEXTS[locale]
    seeded = await seed_delivery(wa, locale)
    _, ids = await add_day(wa, seeded, local(2026, 3, 2, 10), statuses={
        "González Soto": PickupStatus.CONFIRMED, "Pérez Ñancupil": PickupStatus.CANNOT,
        "Muñoz Rojas": PickupStatus.PROXY, "Araya Díaz": PickupStatus.RESCHEDULE,
        "Castañeda Vidal": PickupStatus.NOTIFIED})
    clock.set(local(2026, 3, 2, 10, 20))
    await wa.send(DELIVERY_STAFF, "/panel")
    [day_list] = await wa.press(DELIVERY_STAFF, t["section"])
    assert t["confirmed"] in day_list.text
    # The card of a family replaces the list where it can; here it is a new message.
    await wa.press(DELIVERY_STAFF, "👍 González Soto")
    [back] = await wa.press(DELIVERY_STAFF, t["picked"])
    assert t["picked_n"].format(n=1) in back.text
    await wa.press(DELIVERY_STAFF, "🚫 Pérez Ñancupil")
    await wa.press(DELIVERY_STAFF, t["no_show"])
    await wa.press(DELIVERY_STAFF, "⏳ Castañeda Vidal")
    await wa.press(DELIVERY_STAFF, t["other"], contains=True)
    [noted] = await wa.send(DELIVERY_STAFF, "Rosa Pérez Díaz 12.345.678-5")
    assert noted.text == t["noted"]
    async with wa.app.sessions() as s:
        statuses = {p.id: p.status for p in await s.scalars(select(Pickup))}
    assert statuses[ids["González Soto"]] == PickupStatus.PICKED_UP
    assert statuses[ids["Pérez Ñancupil"]] == PickupStatus.NO_SHOW
    assert statuses[ids["Castañeda Vidal"]] == PickupStatus.PICKED_UP


# --- a broadcast, its progress thinned out ------------------------------------------------------


async def test_a_broadcast_to_a_sector_with_its_progress_and_report(wa: WaHarness) -> None:
    program_id, _ = await programme(wa, "ecomercado-15m")
    await add_person(wa, GESTORA, "Gabriela Gestora", "es", "gestora")
    for i in range(12):
        pid = await add_person(wa, f"5699000{i:04d}", f"Familia Esperanza {i:02d}", "es",
                               "familia", program_id=program_id)
        async with wa.app.sessions() as s:
            s.add(Family(program_id=program_id, name=f"Familia Esperanza {i:02d}",
                         person_id=pid, sector="Villa Esperanza", created_at=wa.app.clock.now()))
            await s.commit()
    wa.hold.add("broadcast")
    await wa.send(GESTORA, "/panel")
    await wa.press(GESTORA, "📣 Invitaciones y mensajes")
    [ask] = await wa.press(GESTORA, "✍️ Un mensaje")
    assert "hasta 3.500 caracteres" in ask.text
    await wa.send(GESTORA, "Mañana no hay entrega por lluvia.")
    await wa.press(GESTORA, "📍 Familias de un sector")
    *previews, confirm = await wa.press(GESTORA, "Villa Esperanza (12)")
    assert "Lo recibirán 12 personas." in confirm.text
    [progress] = await wa.press(GESTORA, "📤 Enviar a 12 personas")
    assert progress.text == "📤 Enviando 0 de 12…" and not progress.titles()

    # Two messages go out every 10 seconds; each time the count moves, a new state of the
    # report is queued: a channel that cannot edit shows at most one every 30 seconds.
    for _ in range(8):
        wa.app.clock.advance(seconds=10)
        await wa.drain(kind="broadcast", limit=2)
        async with wa.app.sessions() as s:
            await update_progress_messages(s, wa.app.clock.now())
            await s.commit()
        await wa.drain()
    said = [m.text for m in wa.chat(GESTORA)[wa.chat(GESTORA).index(progress):]]
    counts = [t for t in said if t.startswith("📤 Enviando")]
    assert counts[0] == "📤 Enviando 0 de 12…" and 2 <= len(counts) <= 3, said
    if wa.variant == "limited":  # only the test channel counts what it thinned out
        assert len(wa.channel.skipped) >= 2
    # The final state always arrives, then the report.
    assert said[-2] == "✅ Envío terminado: 12 de 12."
    assert said[-1].startswith("📣 Así fue el envío de tu mensaje:")
    assert all("Mañana no hay entrega" in wa.chat(f"5699000{i:04d}")[-1].text
               for i in range(12))
    # The families never wrote: on WhatsApp the broadcast is a template for each. The
    # gestora's progress and report fall in the window her own messages opened.
    if wa.variant == "limited":
        assert wa.channel.templates_needed == ["broadcast"] * 12
    else:
        assert all(wa.chat(f"5699000{i:04d}")[-1].template == ("convoca_broadcast", "es")
                   for i in range(12))
        assert not any(m.template for m in wa.chat(GESTORA))


# --- stages, and roles ------------------------------------------------------------------------------


@pytest.mark.parametrize("locale", ["es", "en"])
async def test_a_stage_milestone_moved_by_a_typed_date_and_marked_done(
        wa: WaHarness, clock, locale: str) -> None:
    t = STAGE_TEXTS[locale]
    seeded = await seed_delivery(wa, locale)
    now = wa.app.clock.now()
    async with wa.app.sessions() as s:
        m = Meeting(program_id=seeded.program_id, kind="socializacion",
                    starts_at=local(2026, 3, 10, 18), status="held", created_at=now)
        s.add(m)
        await s.flush()
        s.add(Attendance(meeting_id=m.id, person_id=seeded.people[DELIVERY_GESTORA], present=True,
                         method="marked", marked_at=now))
        await s.commit()
    clock.set(local(2026, 3, 20, 9))
    [card] = await wa.send(DELIVERY_GESTORA, "/etapas")
    assert t["header"] in card.text
    [detail] = await wa.press(DELIVERY_GESTORA, t["btn_soc"], contains=True)
    assert t["missing"] in detail.text
    [ask] = await wa.press(DELIVERY_GESTORA, t["move"])
    assert t["ask"] in ask.text
    detail, moved = await wa.send(DELIVERY_GESTORA, t["typed"])
    assert t["moved"] in moved.text and t["planned"] in detail.text
    [detail] = await wa.press(DELIVERY_GESTORA, t["done"])
    assert t["done_on"] in detail.text
    [card] = await wa.press(DELIVERY_GESTORA, t["back"])
    [card2] = await wa.press(DELIVERY_GESTORA, t["next"])
    assert t["stage2"] in card2.text
    async with wa.app.sessions() as s:
        milestone = await s.scalar(select(Milestone).where(
            Milestone.key == "s1.socializacion"))
    assert milestone.due == date(2026, 3, 27) and milestone.done_at is not None


async def test_a_role_granted_and_revoked_from_a_paged_list_of_people(wa: WaHarness) -> None:
    ids = await seed(wa)
    for address, name in (("56900000011", "Eva Muñoz"), ("56900000012", "Fede Araya"),
                          ("56900000013", "Hugo Núñez"), ("56900000014", "Inés Tapia"),
                          ("56900000015", "Juan Vera")):
        ids[name] = await add_person(wa, address, name, "es", program_id=ids["program"])
    await wa.send(GESTORA, "/panel")
    await wa.press(GESTORA, "👥 Roles")
    [pick] = await wa.press(GESTORA, "✏️ Dar o quitar un rol")
    # Eight names, "Cancelar" and the pager's next page: ten rows.
    assert pick.text.endswith("Página 1 de 2.")
    assert len(pick.shown.rows) == 10
    [page2] = await wa.press(GESTORA, "Siguiente ▶")
    assert "Juan Vera" in page2.titles() and "◀ Anterior" in page2.titles()
    [found] = await wa.send(GESTORA, "nunez")
    assert found.titles()[:2] == ["Carla Núñez", "Hugo Núñez"]
    [card] = await wa.press(GESTORA, "Hugo Núñez")
    assert card.text.startswith("👤 Hugo Núñez")
    granted = await wa.press(GESTORA, "➕ Consejo Local")
    assert any(m.text == "Listo: Hugo Núñez ahora tiene el rol «Consejo Local»."
               for m in granted)
    wa.app.clock.advance(days=3)
    revoked = await wa.press(GESTORA, "✅ Consejo Local")
    assert any(m.text == "Listo: Hugo Núñez ya no tiene el rol «Consejo Local»."
               for m in revoked)
    async with wa.app.sessions() as s:
        seat = await s.scalar(select(Membership).where(Membership.person_id == ids["Hugo Núñez"]))
    assert seat.left_at == wa.app.clock.now()


# --- the catastro: an import, a family step by step, codes to type ---------------------------------


async def test_the_catastro_imports_adds_a_family_and_gives_codes_to_type(wa: WaHarness) -> None:
    program_id, _ = await programme(wa, "ecomercado-15m")
    await add_person(wa, GESTORA, "Gabriela Gestora", "es", "gestora")
    await wa.send(GESTORA, "/panel")
    await wa.press(GESTORA, "🗂️ Catastro y familias")
    await wa.press(GESTORA, "📥 Importar organizaciones")
    [preview] = await wa.send_document(GESTORA, "catastro.csv", ORGS_CSV, "text/csv")
    assert "Se pueden importar 2 de 3 filas." in preview.text
    [result] = await wa.press(GESTORA, "✅ Importar 2 filas válidas")
    assert result.text.startswith("Listo: agregué 2 organizaciones al catastro.")

    await wa.send(GESTORA, "/panel")
    await wa.press(GESTORA, "🗂️ Catastro y familias")
    await wa.press(GESTORA, "➕ Familia")
    await wa.send(GESTORA, "Rojas Muñoz")
    await wa.send(GESTORA, "9 8765 4321")
    await wa.press(GESTORA, "⏭️ Omitir")
    await wa.press(GESTORA, "🚚 Entrega a domicilio")
    await wa.send(GESTORA, "Villa Esperanza")
    await wa.send(GESTORA, "Pasaje 3 #45")
    created, card = await wa.send(GESTORA, "4 personas")
    assert created.text == "✅ Agregué la familia." and card.text.startswith("🏠 Rojas Muñoz")
    await wa.send(GESTORA, "/panel")
    await wa.press(GESTORA, "🗂️ Catastro y familias")
    await wa.press(GESTORA, "✏️ Editar familia")
    await wa.press(GESTORA, "Rojas Muñoz")
    await wa.press(GESTORA, "RUT")
    saved, card = await wa.send(GESTORA, rut("12345678").replace(".", ""))
    assert saved.text == "✅ Guardado." and f"RUT: {rut('12345678')}" in card.text

    # No links that open a chat here: the code is given to type after /start.
    await wa.press(GESTORA, "🔗 Códigos para vincularse")
    await wa.press(GESTORA, "🏢 De una organización")
    [shown] = await wa.press(GESTORA, "Junta de Vecinos Villa Esperanza")
    async with wa.app.sessions() as s:
        code = await s.scalar(select(LinkCode.code).where(LinkCode.target_kind == "organization"))
        family = await s.scalar(select(Family))
    assert code in shown.text and "t.me" not in shown.text
    assert family.rut == rut("12345678") and family.household_size == 4


# --- pickups moved to another day: by the family, and by the gestora -------------------------------


async def test_a_family_asks_for_another_day_and_the_gestora_moves_another(
        wa: WaHarness) -> None:
    seeded = await seed_delivery(wa)
    days = await days_ahead(wa, seeded)  # type: ignore[arg-type]
    perez = str(FAMILY_CHATS["Pérez Ñancupil"])
    async with wa.app.sessions() as s:
        pickup = await s.scalar(select(Pickup).where(
            Pickup.delivery_day_id == days["d2"],
            Pickup.family_id == seeded.families["Pérez Ñancupil"]))
        assert await send_pickup_notice(s, pickup, wa.app.clock.now()) is not None
        await s.commit()
    await wa.drain()
    [offer] = await wa.press(perez, "Pedir otra fecha")
    # A title longer than a row's is cut; the row's description below keeps it whole.
    assert offer.titles()[:2] == ["lun 9 mar, 10:00 a 12:00", "lun 16 mar, 10:00 a…"]
    assert offer.shown.rows[1].description == "lun 16 mar, 10:00 a 12:00"
    [done] = await wa.press(perez, "lun 9 mar, 10:00 a 12:00")
    assert done.text.startswith("✅ Listo: tu nuevo retiro es el lunes 9 de marzo de 2026")

    # The gestora moves González Soto from the day list; the family hears and confirms.
    gonzalez = str(FAMILY_CHATS["González Soto"])
    await wa.send(DELIVERY_GESTORA, "/panel")
    await wa.press(DELIVERY_GESTORA, "🧺 Días de entrega")
    await wa.press(DELIVERY_GESTORA, "📅 Próximos días")
    await wa.press(DELIVERY_GESTORA, "lun 2 mar", contains=True)
    await wa.press(DELIVERY_GESTORA, "📋 Lista del día")
    await wa.press(DELIVERY_GESTORA, "⏳ González Soto")
    [ask] = await wa.press(DELIVERY_GESTORA, "📅 Cambiar de día")
    assert "¿A qué día pasa la familia González Soto?" in ask.text
    [moved] = await wa.press(DELIVERY_GESTORA, "lun 23 mar", contains=True)
    assert moved.text.startswith("✅ La familia González Soto pasa al lunes 23 de marzo")
    notice = wa.chat(gonzalez)[-1]
    assert notice.text.startswith("📅 ¡Hola, familia González Soto! Cambiamos tu retiro")
    await wa.press(gonzalez, "✅ Confirmo")
    async with wa.app.sessions() as s:
        new = await s.scalar(select(Pickup).where(
            Pickup.delivery_day_id == days["d23"],
            Pickup.family_id == seeded.families["González Soto"]))
    assert new.status == PickupStatus.CONFIRMED
