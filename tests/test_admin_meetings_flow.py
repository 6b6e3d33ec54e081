"""The gestora's meetings tools end to end, through the real aiogram runtime against the fake
Bot API: creating a Grupo Motor meeting with the calendar, inviting its members, their
answers on the confirmations board, asking again, attendance by list and by check-in,
attendance rates, moving and cancelling (with the outbox rows that go and stay), and a
monthly series across the April change of time."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from domain import schedule, turnout
from domain.meetings import INVITE_MEMBERS
from scheduler.runner import NoticeScheduler
from services import meetings as meeting_services
from storage import admin_meetings as data
from storage import programs
from storage.clock import ManualClock
from storage.models import (
    Attendance,
    AuditEntry,
    Body,
    Meeting,
    MeetingSeries,
    MeetingStatus,
    OutboxMessage,
    OutboxStatus,
    Person,
    Rsvp,
)
from support import add_member
from telegram_harness import Running, find_button

SCL = ZoneInfo("America/Santiago")
GESTORA, ANA, BETO, CARLA, DANI, EVA, FEDE = 7000, 7001, 7002, 7003, 7004, 7005, 7006
MEMBERS = {ANA: ("Ana Pérez", "es"), BETO: ("Beto Soto", "en"), CARLA: ("Carla Núñez", "es"),
           DANI: ("Dani Rojas", "es")}
# Tuesday 7 April 2026, 18:00 in Santiago: winter time already (UTC-4).
APRIL_7 = datetime(2026, 4, 7, 22, 0, tzinfo=UTC)


# --- helpers, shared with the roles tests -------------------------------------------------------


async def add_person(r: Running, chat: int, name: str, locale: str, *roles: str,
                     program_id: int | None = None, body_id: int | None = None,
                     phone: str | None = None) -> int:
    r.fake.add_chat(chat, first_name=name.split()[0], language_code=locale)
    return await add_member(r.app.sessions, r.app.clock.now(), "telegram", str(chat), name,
                            locale, *roles, program_id=program_id, body_id=body_id,
                            phone=phone)


async def seed(r: Running, gestora_locale: str = "es") -> dict[str, int]:
    """A 10-month programme from Monday 2 March 2026, its gestora, four Grupo Motor members,
    a family and an organisation's representative, all linked to their chats."""
    now = r.app.clock.now()
    async with r.app.sessions() as s:
        program = await programs.create(s, template="ecomercado-10m", start=date(2026, 3, 2),
                                        name="Ecomercado Quilpué", now=now)
        gm = await s.scalar(select(Body).where(Body.program_id == program.id,
                                               Body.kind == "grupo_motor"))
        await s.commit()
        ids = {"program": program.id, "gm": gm.id}
    ids["gestora"] = await add_person(r, GESTORA, "Gabriela Gestora", gestora_locale, "gestora")
    for chat, (name, locale) in MEMBERS.items():
        ids[str(chat)] = await add_person(r, chat, name, locale, "grupo_motor",
                                          program_id=program.id, body_id=gm.id)
    ids[str(EVA)] = await add_person(r, EVA, "Eva Muñoz", "es", "familia", program_id=program.id)
    ids[str(FEDE)] = await add_person(r, FEDE, "Fede Araya", "es", "representante",
                                      program_id=program.id)
    return ids


def edits(r: Running, chat: int) -> int:
    return sum(1 for rec in r.fake.calls("editMessageText") if rec.ok and rec.chat_id == chat)




def labels(r: Running, chat: int, message_id: int | None = None) -> list[list[str]]:
    msgs = sorted(r.fake.bot_messages(chat), key=lambda m: -m["message_id"])
    msg = next(m for m in msgs if message_id is None or m["message_id"] == message_id)
    return [[b["text"] for b in row] for row in (msg.get("reply_markup") or {}).get(
        "inline_keyboard", [])]


def current_text(r: Running, chat: int, message_id: int) -> str:
    return next(m for m in r.fake.bot_messages(chat) if m["message_id"] == message_id)["text"]


async def tap(r: Running, chat: int, label: str, replies: int = 1, edited: int = 0
              ) -> list[dict]:
    """Tap a button as the chat shows it now; wait for the new messages and the edits."""
    data_, mid = find_button(r, chat, label)
    before, before_edits = len(r.fake.delivered(chat)), edits(r, chat)
    r.fake.callback(chat, data_, message_id=mid)
    await r.fake.wait_for(lambda _r: edits(r, chat) >= before_edits + edited, timeout=10)
    out = await r.replies(chat, before, replies)
    assert edits(r, chat) == before_edits + edited
    return out


async def outbox_rows(r: Running, prefix: str = "") -> list[OutboxMessage]:
    async with r.app.sessions() as s:
        return list(await s.scalars(
            select(OutboxMessage).where(OutboxMessage.idempotency_key.startswith(prefix))
            .order_by(OutboxMessage.id)))


async def only_meeting(r: Running) -> Meeting:
    async with r.app.sessions() as s:
        return await s.scalar(select(Meeting).order_by(Meeting.id.desc()).limit(1))


async def create_gm_meeting_in_chat(r: Running) -> Meeting:
    """Grupo Motor, its ordinary session, Tuesday 7 April at 18:00, Sede Villa Ñuñoa."""
    await r.send(GESTORA, "/panel")
    await tap(r, GESTORA, "📅 Reuniones")
    await tap(r, GESTORA, "➕ Nueva reunión")
    await tap(r, GESTORA, "Grupo Motor")
    await tap(r, GESTORA, "Sesión del Grupo Motor")
    await tap(r, GESTORA, "▶", replies=0, edited=1)
    await tap(r, GESTORA, "7")
    await tap(r, GESTORA, "18:00")
    await r.send(GESTORA, "Sede Villa Ñuñoa")
    await r.send(GESTORA, "Plan de trabajo")
    await tap(r, GESTORA, "✅ Confirmar", replies=2)
    return await only_meeting(r)


# --- creating, inviting, the board, attendance, rates ---------------------------------------------


async def test_a_grupo_motor_meeting_from_the_calendar_to_the_attendance_rates(
        tg: Running) -> None:
    ids = await seed(tg)
    await tg.send(GESTORA, "/panel")
    [meetings_list] = await tap(tg, GESTORA, "📅 Reuniones")
    assert meetings_list["text"].startswith("📅 No hay reuniones próximas ni recientes.")
    [ask_body] = await tap(tg, GESTORA, "➕ Nueva reunión")
    assert ask_body["text"] == "¿De qué instancia es la reunión?"
    assert labels(tg, GESTORA) == [["Grupo Motor"], ["Consejo Local"], ["Ninguna (abierta)"],
                                   ["Cancelar"]]
    [ask_kind] = await tap(tg, GESTORA, "Grupo Motor")
    assert ask_kind["text"] == "¿Qué tipo de sesión es?"
    # The Grupo Motor's own kinds come first.
    assert [row[0] for row in labels(tg, GESTORA)][:3] == [
        "Sesión del Grupo Motor", "Sesión de priorización",
        "Sesión del plan de trabajo participativo"]
    # Typed text where a button is expected gets the question again, kindly.
    [again] = await tg.send(GESTORA, "la del grupo motor")
    assert again["text"] == ("Para esto necesito que toques uno de los botones. 🙂\n\n"
                             "¿Qué tipo de sesión es?")
    [ask_date] = await tap(tg, GESTORA, "Sesión del Grupo Motor")
    assert ask_date["text"] == ("¿Qué día? Elígelo o escríbelo, por ejemplo "
                                "17-12 o «martes 17».")
    march = labels(tg, GESTORA)
    # Today is Monday 2 March: neither February nor the 1st can be picked any more.
    assert march[0] == [" ", "marzo de 2026", "▶"]
    assert march[1] == ["L", "M", "M", "J", "V", "S", "D"]
    assert march[2] == [" "] * 7 and march[3] == [str(d) for d in range(2, 9)]
    assert march[-1] == ["Cancelar"]
    await tap(tg, GESTORA, "▶", replies=0, edited=1)
    assert labels(tg, GESTORA)[0][1] == "abril de 2026"
    [ask_time] = await tap(tg, GESTORA, "7")
    assert ask_time["text"] == ("¿A qué hora, el martes 7 de abril de 2026? Toca una hora o "
                                "escríbela, por ejemplo 18:30.")
    [not_a_time] = await tg.send(GESTORA, "en la tarde")
    assert not_a_time["text"].startswith("No entendí esa hora. Escríbela así: 18:30 o «6 de la "
                                         "tarde».")
    [ask_place] = await tg.send(GESTORA, "18:30")
    assert ask_place["text"] == "¿Dónde será? Escribe el lugar."
    assert labels(tg, GESTORA) == [["Cancelar"]]  # no earlier meeting: no "same place"
    before = len(tg.fake.delivered(GESTORA))
    tg.fake.sticker(GESTORA)
    [sticker] = await tg.replies(GESTORA, before, 1)
    assert sticker["text"] == ("Aquí necesito que lo escribas con palabras. 🙂\n\n"
                               "¿Dónde será? Escribe el lugar.")
    [ask_agenda] = await tg.send(GESTORA, "Sede Villa Ñuñoa")
    assert "Escríbelos, o toca «Omitir»" in ask_agenda["text"]
    [summary] = await tg.send(GESTORA, "Plan de trabajo")
    assert summary["text"] == (
        "Revisa la reunión antes de crearla:\n"
        "👥 Grupo Motor\n"
        "🏷️ Sesión del Grupo Motor\n"
        "🗓️ martes 7 de abril, 18:30\n"
        "📍 Sede Villa Ñuñoa\n"
        "📝 Tabla: Plan de trabajo\n"
        "\n"
        "¿Está todo bien?")
    assert labels(tg, GESTORA) == [["✅ Confirmar"], ["🔁 Repetir cada mes"],
                                   ["✏️ Cambiar algo"], ["Cancelar"]]
    # Change the time: the answer goes straight back to the summary.
    await tap(tg, GESTORA, "✏️ Cambiar algo")
    await tap(tg, GESTORA, "Hora")
    [summary] = await tap(tg, GESTORA, "18:00")
    assert "🗓️ martes 7 de abril, 18:00\n" in summary["text"]
    created, ask_invite = await tap(tg, GESTORA, "✅ Confirmar", replies=2)
    assert created["text"] == "✅ Reunión creada para el martes 7 de abril, 18:00."
    assert ask_invite["text"] == "¿A quién invito?"
    assert labels(tg, GESTORA) == [["👥 Integrantes del Grupo Motor (4)"],
                                   ["🌐 Todas las personas con un rol (6)"], ["⏰ Más tarde"]]
    # A second tap on the old summary creates nothing more.
    [stale] = await tap(tg, GESTORA, "✅ Confirmar")
    assert stale["text"].startswith("Esa pregunta ya terminó.")
    meeting = await only_meeting(tg)
    async with tg.app.sessions() as s:
        assert await s.scalar(select(func.count()).select_from(Meeting)) == 1
    assert (meeting.starts_at, meeting.body_id, meeting.kind, meeting.place, meeting.agenda) == (
        APRIL_7, ids["gm"], "grupo_motor", "Sede Villa Ñuñoa", "Plan de trabajo")
    code = meeting.checkin_code
    assert code and len(code) == 6

    [invited] = await tap(tg, GESTORA, "👥 Integrantes del Grupo Motor (4)")
    assert invited["text"] == ("📨 Listo: invité a 4 personas; 4 reciben la invitación por "
                               "aquí.")
    await tg.outbox.drain()
    [ana_inv] = await tg.replies(ANA, 0, 1)
    assert ana_inv["text"].startswith("📅 Te invitamos a: Sesión del Grupo Motor\n"
                                      "🗓️ martes 7 de abril, 18:00\n📍 Sede Villa Ñuñoa")
    [beto_inv] = await tg.replies(BETO, 0, 1)
    assert beto_inv["text"].startswith("📅 You're invited to: Core Group meeting\n"
                                       "🗓️ Tuesday 7 April, 18:00")
    for chat in (CARLA, DANI, EVA, FEDE):
        assert len(tg.fake.delivered(chat)) == (1 if chat in (CARLA, DANI) else 0)

    # The members answer with the invitation's own buttons.
    await tg.press(ANA, "Asistiré")
    await tg.press(BETO, "I can't make it")
    await tg.send(BETO, "I work that evening")
    await tg.press(CARLA, "Tal vez")

    [board] = await tap(tg, GESTORA, "📋 Ver el tablero")
    assert board["text"] == (
        "📋 Sesión del Grupo Motor\n"
        "🗓️ martes 7 de abril, 18:00\n"
        "📍 Sede Villa Ñuñoa\n"
        "\n"
        "✅ Asistirán (1): Ana Pérez\n"
        "❌ No podrán (1):\n"
        "   • Beto Soto: «I work that evening»\n"
        "🤔 Tal vez (1): Carla Núñez\n"
        "⏳ Sin respuesta (1): Dani Rojas\n"
        "\n"
        f"🔑 Código para marcar asistencia: {code} — las personas escriben /asistencia {code}\n"
        "\n"
        f"      {' '.join(code)}")
    assert labels(tg, GESTORA) == [["🔁 Preguntar de nuevo (1)"], ["✍️ Tomar asistencia"],
                                   ["📨 Invitar"], ["📅 Cambiar fecha", "🚫 Cancelar reunión"],
                                   ["📅 Reuniones"]]

    # Asking again reaches only Dani, once a day however often it is pressed.
    counts = {c: len(tg.fake.delivered(c)) for c in MEMBERS}
    [reasked] = await tap(tg, GESTORA, "🔁 Preguntar de nuevo (1)")
    assert reasked["text"] == ("🔁 Volví a enviar la invitación a 1 persona que no ha "
                               "respondido.")
    await tg.outbox.drain()
    [again] = await tg.replies(DANI, counts[DANI], 1)
    assert again["text"].startswith("📅 Te invitamos a: Sesión del Grupo Motor")
    assert {c: len(tg.fake.delivered(c)) for c in (ANA, BETO, CARLA)} == {
        c: counts[c] for c in (ANA, BETO, CARLA)}
    await tap(tg, GESTORA, "📋 Ver el tablero")
    [same_day] = await tap(tg, GESTORA, "🔁 Preguntar de nuevo (1)")
    assert same_day["text"].startswith("Ya les volví a preguntar hoy")
    tg.app.clock.advance(days=1)
    await tap(tg, GESTORA, "📋 Ver el tablero")
    await tap(tg, GESTORA, "🔁 Preguntar de nuevo (1)")
    await tg.outbox.drain()
    again_keys = [r.idempotency_key for r in await outbox_rows(tg, f"invite:{meeting.id}:")
                  if "again" in r.idempotency_key]
    assert again_keys == [f"invite:{meeting.id}:r1:{ids[str(DANI)]}:again20260302",
                          f"invite:{meeting.id}:r1:{ids[str(DANI)]}:again20260303"]

    # At the meeting: Carla checks in with the code; the gestora marks the rest.
    tg.app.clock.set(APRIL_7 - timedelta(minutes=20))
    [checked] = await tg.send(CARLA, f"/asistencia {code}")
    assert checked["text"].startswith("¡Listo! Quedó registrada tu asistencia")
    await tap(tg, GESTORA, "📋 Ver el tablero")
    [attendance] = await tap(tg, GESTORA, "✍️ Tomar asistencia")
    assert attendance["text"] == (
        "✍️ Asistencia: Sesión del Grupo Motor, martes 7 de abril, 18:00\n"
        "Presentes: 1 de 4 personas invitadas.\n"
        "Toca a cada persona para marcarla presente o ausente.")
    att_id = tg.fake.delivered(GESTORA)[-1].result["message_id"]
    assert labels(tg, GESTORA, att_id) == [
        ["▫️ Ana Pérez"], ["▫️ Beto Soto"], ["✅ Carla Núñez"], ["▫️ Dani Rojas"],
        ["➕ Agregar a alguien que vino"], ["🏁 Cerrar sesión"], ["📋 Ver el tablero"]]
    await tap(tg, GESTORA, "▫️ Ana Pérez", replies=0, edited=1)
    await tap(tg, GESTORA, "▫️ Beto Soto", replies=0, edited=1)
    await tap(tg, GESTORA, "✅ Beto Soto", replies=0, edited=1)  # a slip, put right
    assert [row[0] for row in labels(tg, GESTORA, att_id)[:4]] == [
        "✅ Ana Pérez", "❌ Beto Soto", "✅ Carla Núñez", "▫️ Dani Rojas"]
    assert current_text(tg, GESTORA, att_id).split("\n")[1] == (
        "Presentes: 2 de 4 personas invitadas.")

    # Fede came without an invitation: found by typing part of his name.
    [pick] = await tap(tg, GESTORA, "➕ Agregar a alguien que vino")
    assert pick["text"].startswith("¿Quién vino?")
    [found] = await tg.send(GESTORA, "araya")
    assert found["text"].startswith("Encontré 1 persona con «araya».")
    assert labels(tg, GESTORA) == [["Fede Araya"], ["🆕 Alguien que no está en Convoca"],
                                   ["Cancelar"]]
    added, relisted = await tap(tg, GESTORA, "Fede Araya", replies=2)
    assert added["text"] == "Listo: anoté a Fede Araya como presente."
    # One count everywhere: Fede came too, and he was not among the four invited.
    assert relisted["text"].split("\n")[1] == (
        "Presentes: 3 (2 de 4 personas invitadas y 1 sin invitación).")
    [closed] = await tap(tg, GESTORA, "🏁 Cerrar sesión")
    assert closed["text"] == ("🏁 Sesión cerrada. Presentes: 3 (2 de 4 personas invitadas y 1 "
                              "sin invitación). Ya cuenta para la asistencia.")

    async with tg.app.sessions() as s:
        meeting = await s.get(Meeting, meeting.id)
        marks = {(a.person_id, a.present, a.method)
                 for a in await s.scalars(select(Attendance))}
        rates = await data.attendance_rates(s, ids["program"])
    assert meeting.status == MeetingStatus.HELD
    assert marks == {(ids[str(ANA)], True, "marked"), (ids[str(BETO)], False, "marked"),
                     (ids[str(CARLA)], True, "checkin"), (ids[str(FEDE)], True, "marked")}
    # By hand: 4 invited, Ana and Carla came (Fede was not invited: not counted).
    assert rates["body"] == {ids["gm"]: turnout.Rate(2, 4)}
    assert rates["person"] == {ids[str(ANA)]: turnout.Rate(1, 1), ids[str(BETO)]: turnout.Rate(0, 1),
                               ids[str(CARLA)]: turnout.Rate(1, 1), ids[str(DANI)]: turnout.Rate(0, 1)}
    [rates_view] = await tap(tg, GESTORA, "📊 Asistencia")
    assert rates_view["text"] == (
        "📊 Asistencia en 1 sesión realizada\n\n"
        "Por instancia:\n"
        "• Grupo Motor: 50 % (2 de 4)\n\n"
        "Por persona:\n"
        "• Ana Pérez: 100 % (1 de 1)\n"
        "• Beto Soto: 0 % (0 de 1)\n"
        "• Carla Núñez: 100 % (1 de 1)\n"
        "• Dani Rojas: 0 % (0 de 1)")

    async with tg.app.sessions() as s:
        actions = [a.action for a in await s.scalars(
            select(AuditEntry).where(AuditEntry.actor_id == ids["gestora"])
            .order_by(AuditEntry.id))]
    assert actions == ["meeting_created", "meeting_invited", "meeting_reasked",
                       "meeting_reasked", "meeting_reasked", "attendance_marked",
                       "attendance_marked", "attendance_marked", "attendance_marked",
                       "meeting_closed"]


# --- moving and cancelling, in English --------------------------------------------------------------


async def queue_due_notices(r: Running, at_local: datetime) -> None:
    """What the scheduler queues by then; the rows wait in the outbox, unsent, because for
    this process it is still 2 March."""
    from services import notices

    await NoticeScheduler(r.app.sessions, ManualClock(at_local), notices.compose).tick()


async def test_moving_and_cancelling_tell_everyone_invited(tg: Running) -> None:
    ids = await seed(tg, gestora_locale="en")
    now = tg.app.clock.now()
    async with tg.app.sessions() as s:
        program = await programs.get(s, ids["program"])
        meeting = await data.create_meeting(
            s, program, kind="grupo_motor", starts_at=APRIL_7, now=now, body_id=ids["gm"],
            place="Sede Villa Ñuñoa", created_by=ids["gestora"])
        dani = await s.get(Person, ids[str(DANI)])
        dani.opted_out_at = now  # asked for no more notices: only essential ones reach her
        await meeting_services.invite(s, program, meeting, INVITE_MEMBERS, now)
        await s.commit()
        mid = meeting.id
    await tg.outbox.drain()
    assert len(tg.fake.delivered(DANI)) == 0
    await tg.press(ANA, "Asistiré")
    await tg.press(BETO, "Maybe")

    await queue_due_notices(tg, datetime(2026, 4, 6, 18, 1, tzinfo=SCL))
    pending = {r.idempotency_key for r in await outbox_rows(tg)
               if r.status == OutboxStatus.PENDING}
    # The gestora's weekly digest waits too; it has nothing to do with the meeting.
    digest = {k for k in pending if k.startswith("wd:")}
    assert len(digest) == 1
    waiting = pending - digest
    ana, beto, carla = ids[str(ANA)], ids[str(BETO)], ids[str(CARLA)]
    # Dani asked for no notices, so nothing waits for her; what the scheduler thought stale
    # it recorded as dropped already.
    assert waiting == {f"remind:m{mid}.r1.p{ana}:eve", f"remind:m{mid}.r1.p{beto}:eve",
                       f"reask:m{mid}.r1.p{carla}:d1"}
    dropped_before = {r.idempotency_key for r in await outbox_rows(tg)
                      if r.status == OutboxStatus.DROPPED}

    await tg.send(GESTORA, "/panel")
    [listing] = await tap(tg, GESTORA, "📅 Meetings")
    assert listing["text"].startswith("📅 Upcoming meetings and those of the last 30 days.")
    [board] = await tap(tg, GESTORA, "Tuesday 7 April, 18:00 · Core Group meeting")
    assert board["text"].startswith(
        "📋 Core Group meeting\n🗓️ Tuesday 7 April, 18:00\n📍 Sede Villa Ñuñoa\n\n"
        "✅ Coming (1): Ana Pérez\n🤔 Maybe (1): Beto Soto\n"
        "⏳ No answer yet (2): Carla Núñez, Dani Rojas\n\n🔑 Check-in code: ")
    [ask_day] = await tap(tg, GESTORA, "📅 Change date")
    assert ask_day["text"] == ("Which day shall we move “Core Group meeting” to (now Tuesday "
                               "7 April, 18:00)? Pick it or type it.")
    assert labels(tg, GESTORA)[0][1] == "April 2026"
    await tap(tg, GESTORA, "9")
    [confirm] = await tap(tg, GESTORA, "18:00")
    assert confirm["text"] == ("Shall I move “Core Group meeting” from Tuesday 7 April, 18:00 "
                               "to Thursday 9 April, 18:00? I'll tell the 4 people invited.")
    before = {c: len(tg.fake.delivered(c)) for c in MEMBERS}
    [moved] = await tap(tg, GESTORA, "✅ Yes, move it")
    assert moved["text"] == ("📅 Done: the meeting is now on Thursday 9 April, 18:00. I sent "
                             "the new date to 4 of 4 invited people.")

    rows = {r.idempotency_key: r for r in await outbox_rows(tg)}
    assert {k for k, r in rows.items() if r.status == OutboxStatus.DROPPED} == (
        waiting | dropped_before)
    assert {rows[k].status for k in digest} == {OutboxStatus.PENDING}
    new_invites = {k for k in rows if k.startswith(f"invite:{mid}:r2:")}
    assert new_invites == {f"invite:{mid}:r2:{ids[str(c)]}" for c in MEMBERS}
    async with tg.app.sessions() as s:
        meeting = await s.get(Meeting, mid)
        answers = [r.answer for r in await s.scalars(select(Rsvp).where(Rsvp.meeting_id == mid))]
    assert (meeting.revision, meeting.starts_at) == (2, APRIL_7 + timedelta(days=2))
    assert answers == [None] * 4  # asked again: the new day may not suit them

    await tg.outbox.drain()
    [ana_moved] = await tg.replies(ANA, before[ANA], 1)
    assert ana_moved["text"] == (
        "🔄 Cambio de fecha: «Sesión del Grupo Motor» ya no es el martes 7 de abril, 18:00.\n"
        "\n"
        "📅 Te invitamos a: Sesión del Grupo Motor\n"
        "🗓️ jueves 9 de abril, 18:00\n"
        "📍 Sede Villa Ñuñoa\n"
        "\n"
        "¿Vienes?")
    [beto_moved] = await tg.replies(BETO, before[BETO], 1)
    assert beto_moved["text"].startswith(
        "🔄 Date changed: “Core Group meeting” is no longer on Tuesday 7 April, 18:00.\n\n"
        "📅 You're invited to: Core Group meeting\n🗓️ Thursday 9 April, 18:00")
    [dani_moved] = await tg.replies(DANI, before[DANI], 1)  # essential, despite /stop
    assert dani_moved["text"].startswith("🔄 Cambio de fecha")
    await tg.press(ANA, "Asistiré")

    # The new date's reminders, queued by the scheduler, are withdrawn by the cancellation.
    await queue_due_notices(tg, datetime(2026, 4, 8, 18, 1, tzinfo=SCL))
    waiting = {r.idempotency_key for r in await outbox_rows(tg)
               if r.status == OutboxStatus.PENDING} - digest
    assert waiting and all(k.startswith((f"remind:m{mid}.r2.", f"reask:m{mid}.r2."))
                           for k in waiting)
    await tap(tg, GESTORA, "📋 See the board")
    [ask_reason] = await tap(tg, GESTORA, "🚫 Cancel meeting")
    assert ask_reason["text"].startswith(
        "Shall I cancel “Core Group meeting” on Thursday 9 April, 18:00? I'll tell the 4 "
        "people invited.")
    assert labels(tg, GESTORA) == [["🚫 Cancel without a reason"], ["↩️ No, keep it"]]
    before = {c: len(tg.fake.delivered(c)) for c in MEMBERS}
    [cancelled] = await tg.send(GESTORA, "The hall is closed for repairs")
    assert cancelled["text"] == "🚫 Meeting cancelled. I told 4 people."
    rows = {r.idempotency_key: r for r in await outbox_rows(tg)}
    assert all(rows[k].status == OutboxStatus.DROPPED for k in waiting)
    notices_ = [r for r in rows.values() if r.kind == "meeting_cancelled"]
    assert sorted(r.idempotency_key for r in notices_) == sorted(
        f"cancel:{mid}:{ids[str(c)]}" for c in MEMBERS)

    await tg.outbox.drain()
    [ana_cancel] = await tg.replies(ANA, before[ANA], 1)
    assert ana_cancel["text"] == (
        "🚫 Se canceló «Sesión del Grupo Motor» del jueves 9 de abril, 18:00.\n"
        "Motivo: The hall is closed for repairs\n"
        "No tienes que hacer nada más. Disculpa las molestias.")
    [beto_cancel] = await tg.replies(BETO, before[BETO], 1)
    assert beto_cancel["text"].startswith(
        "🚫 “Core Group meeting” on Thursday 9 April, 18:00 has been cancelled.\n"
        "Reason: The hall is closed for repairs")
    [dani_cancel] = await tg.replies(DANI, before[DANI], 1)
    assert dani_cancel["text"].startswith("🚫 Se canceló")
    [too_late] = await tg.press(ANA, "Asistiré")
    assert too_late["text"].startswith("Esa reunión se canceló.")

    [board] = await tap(tg, GESTORA, "📋 See the board")
    assert board["text"] == (
        "📋 Core Group meeting\n🗓️ Thursday 9 April, 18:00\n📍 Sede Villa Ñuñoa\n🚫 Cancelled\n\n"
        "✅ Coming (1): Ana Pérez\n⏳ No answer yet (3): Beto Soto, Carla Núñez, Dani Rojas")
    assert labels(tg, GESTORA) == [["📅 Meetings"]]
    async with tg.app.sessions() as s:
        meeting = await s.get(Meeting, mid)
        audit = [(a.action, a.details.get("reason_length"))
                 for a in await s.scalars(select(AuditEntry).where(
                     AuditEntry.actor_id == ids["gestora"]).order_by(AuditEntry.id))]
    assert meeting.status == MeetingStatus.CANCELLED
    assert audit == [("meeting_moved", None),
                     ("meeting_cancelled", len("The hall is closed for repairs"))]


# --- a monthly series across the change of time ------------------------------------------------------


async def test_a_monthly_series_keeps_1800_local_and_invites_30_days_ahead(tg: Running) -> None:
    await seed(tg)
    await tg.send(GESTORA, "/panel")
    await tap(tg, GESTORA, "📅 Reuniones")
    await tap(tg, GESTORA, "➕ Nueva reunión")
    await tap(tg, GESTORA, "Grupo Motor")
    await tap(tg, GESTORA, "Sesión del Grupo Motor")
    await tap(tg, GESTORA, "3")
    await tap(tg, GESTORA, "18:00")
    await tg.send(GESTORA, "Sede Villa Ñuñoa")
    [summary] = await tap(tg, GESTORA, "Omitir")
    assert "📝 (sin tabla)" in summary["text"]
    summary_id = tg.fake.delivered(GESTORA)[-1].result["message_id"]
    await tap(tg, GESTORA, "🔁 Repetir cada mes", replies=0, edited=1)
    assert current_text(tg, GESTORA, summary_id).split("\n")[-3] == (
        "🔁 Se repite cada mes, el primer martes: 10 sesiones hasta el martes 1 de diciembre "
        "de 2026.")
    assert labels(tg, GESTORA, summary_id)[1] == ["↩️ No repetir"]
    created, _ = await tap(tg, GESTORA, "✅ Confirmar", replies=2)
    assert created["text"] == "✅ Creé 10 reuniones, desde el martes 3 de marzo, 18:00."
    [invited] = await tap(tg, GESTORA, "👥 Integrantes del Grupo Motor (4)")
    assert invited["text"] == (
        "📨 Listo: invité a 4 personas a la primera; 4 la reciben por aquí. Las siguientes "
        "sesiones se invitan solas 30 días antes.")

    async with tg.app.sessions() as s:
        series = await s.scalar(select(MeetingSeries))
        meetings_ = list(await s.scalars(select(Meeting).order_by(Meeting.starts_at)))
        invited_to = set(await s.scalars(select(Rsvp.meeting_id)))
    assert series.every_months == 1 and series.rule["invite"] == "members"
    assert series.rule | {"invite": None} == {"weekday": 1, "nth": 1, "time": "18:00",
                                              "place": "Sede Villa Ñuñoa", "agenda": None,
                                              "invite": None}
    assert {m.series_id for m in meetings_} == {series.id}
    local = [m.starts_at.astimezone(SCL) for m in meetings_]
    assert [d.date() for d in local] == schedule.series_days(date(2026, 3, 3), 1, date(2027, 1, 1))
    assert {d.time() for d in local} == {datetime.min.time().replace(hour=18)}
    # The same 18:00 is 21:00 UTC in summer time and 22:00 UTC from the April change on.
    assert [m.starts_at.hour for m in meetings_] == [21, 22, 22, 22, 22, 22, 22, 21, 21, 21]
    assert invited_to == {meetings_[0].id}  # April is more than 30 days away

    await tg.outbox.drain()
    assert len(tg.fake.delivered(ANA)) == 1
    tg.app.clock.set(datetime(2026, 3, 10, 12, tzinfo=UTC))  # 7 April is now 28 days away
    await tg.send(GESTORA, "/panel")
    await tap(tg, GESTORA, "📅 Reuniones")
    await tg.outbox.drain()
    [april] = await tg.replies(ANA, 1, 1)
    assert april["text"].startswith("📅 Te invitamos a: Sesión del Grupo Motor\n"
                                    "🗓️ martes 7 de abril, 18:00")
    async with tg.app.sessions() as s:
        assert await meeting_services.invite_due_series_meetings(s, tg.app.clock.now()) == 0
        invited_to = set(await s.scalars(select(Rsvp.meeting_id)))
    assert invited_to == {meetings_[0].id, meetings_[1].id}

    # A new meeting of another body offers the last place used in the programme.
    await tap(tg, GESTORA, "➕ Nueva reunión")
    await tap(tg, GESTORA, "Consejo Local")
    await tap(tg, GESTORA, "Sesión del Consejo Local")
    await tap(tg, GESTORA, "12")
    [ask_place] = await tap(tg, GESTORA, "18:00")
    assert labels(tg, GESTORA)[0] == ["📍 Igual que la última vez: Sede Villa Ñuñoa"]
    [ask_agenda] = await tap(tg, GESTORA, "📍 Igual que la última vez: Sede Villa Ñuñoa")
    assert ask_agenda["text"].startswith("¿Qué temas se verán")
    [stopped] = await tap(tg, GESTORA, "Cancelar")
    assert stopped["text"] == "Listo, lo dejé ahí. No cambié nada."
    async with tg.app.sessions() as s:
        assert await s.scalar(select(func.count()).select_from(Meeting)) == 10


async def test_the_attendance_list_pages_by_eight_and_marks_in_place(tg: Running) -> None:
    ids = await seed(tg)
    for i in range(5):
        await add_person(tg, 7200 + i, f"Zoe Integrante {i}", "es", "grupo_motor",
                         program_id=ids["program"], body_id=ids["gm"])
    now = tg.app.clock.now()
    async with tg.app.sessions() as s:
        program = await programs.get(s, ids["program"])
        meeting = await data.create_meeting(s, program, kind="grupo_motor", starts_at=APRIL_7,
                                            now=now, body_id=ids["gm"])
        done = await meeting_services.invite(s, program, meeting, INVITE_MEMBERS, now)
        assert (done.invited, done.queued, len(done.outbox_ids)) == (9, 9, 9)
        await s.commit()
    tg.app.clock.set(APRIL_7)
    await tg.send(GESTORA, "/panel")
    await tap(tg, GESTORA, "📅 Reuniones")
    [board] = await tap(tg, GESTORA, "martes 7 de abril, 18:00 · Sesión del Grupo Motor")
    assert "⏳ Sin respuesta (9):" in board["text"]
    # It has begun: nobody is asked again, and there is nothing to move or cancel.
    assert labels(tg, GESTORA) == [["✍️ Tomar asistencia"], ["📅 Reuniones"]]
    await tap(tg, GESTORA, "✍️ Tomar asistencia")
    mid = tg.fake.delivered(GESTORA)[-1].result["message_id"]
    page = labels(tg, GESTORA, mid)
    assert [row[0] for row in page[:8]] == [
        "▫️ Ana Pérez", "▫️ Beto Soto", "▫️ Carla Núñez", "▫️ Dani Rojas",
        "▫️ Zoe Integrante 0", "▫️ Zoe Integrante 1", "▫️ Zoe Integrante 2",
        "▫️ Zoe Integrante 3"]
    assert page[-1] == ["1/2", "▶"]  # the pager's row, last
    await tap(tg, GESTORA, "▶", replies=0, edited=1)
    assert labels(tg, GESTORA, mid)[0] == ["▫️ Zoe Integrante 4"]
    assert labels(tg, GESTORA, mid)[-1] == ["◀", "2/2"]
    await tap(tg, GESTORA, "▫️ Zoe Integrante 4", replies=0, edited=1)
    assert labels(tg, GESTORA, mid)[0] == ["✅ Zoe Integrante 4"]
    assert labels(tg, GESTORA, mid)[-1] == ["◀", "2/2"]
    assert current_text(tg, GESTORA, mid).split("\n")[1] == (
        "Presentes: 1 de 9 personas invitadas.")
    await tap(tg, GESTORA, "◀", replies=0, edited=1)
    assert labels(tg, GESTORA, mid)[0] == ["▫️ Ana Pérez"]
