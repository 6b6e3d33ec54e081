"""Meeting invitations end to end: queued with send_invitations, delivered by the outbox
dispatcher, answered with the buttons, /reuniones and check-in, through the real aiogram
runtime against the fake Bot API, in Spanish and in English."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from icalendar import Calendar
from sqlalchemy import select

from services import meetings as meeting_services
from storage import programs
from storage.models import (
    Attendance,
    AuditEntry,
    Body,
    ChannelAddress,
    Meeting,
    MeetingStatus,
    Membership,
    Person,
    RoleGrant,
    Rsvp,
)
from telegram_harness import Running

ANA, BETO = 6101, 6102
# Tuesday 7 April 2026, 18:00 to 20:00 in Santiago (winter time, UTC-4).
STARTS = datetime(2026, 4, 7, 22, 0, tzinfo=UTC)
ENDS = STARTS + timedelta(hours=2)
CODE = "KM4X7R"


async def seed(r: Running, members: dict[int, str], **meeting_fields: object) -> dict[str, int]:
    """A programme with its Grupo Motor, consented members linked to their chats, and a
    Grupo Motor session. Returns the ids."""
    now = r.app.clock.now()
    ids: dict[str, int] = {}
    async with r.app.sessions() as s:
        program = await programs.create(s, template="ecomercado-10m", start=date(2026, 3, 2),
                                        name="Ecomercado Quilpué", now=now)
        body = await s.scalar(select(Body).where(Body.program_id == program.id,
                                                 Body.kind == "grupo_motor"))
        for chat, locale in members.items():
            r.fake.add_chat(chat, language_code=locale)
            person = Person(name=f"Integrante {chat}", locale=locale, consent_at=now,
                            consent_version="2026-1", created_at=now, reachable=True)
            person.addresses = [ChannelAddress(channel="telegram", address=str(chat),
                                               created_at=now)]
            person.roles = [RoleGrant(role="grupo_motor", program_id=program.id,
                                      granted_at=now)]
            s.add(person)
            await s.flush()
            s.add(Membership(body_id=body.id, person_id=person.id, joined_at=now))
            ids[str(chat)] = person.id
        fields: dict[str, object] = dict(
            program_id=program.id, body_id=body.id, kind="grupo_motor", starts_at=STARTS,
            ends_at=ENDS, place="Sede Villa Ñuñoa", address="Los Aromos 123, Quilpué",
            agenda="Plan de trabajo", checkin_code=CODE, created_at=now,
        )
        fields.update(meeting_fields)
        meeting = Meeting(**fields)
        s.add(meeting)
        await s.commit()
        ids["program"], ids["body"], ids["meeting"] = program.id, body.id, meeting.id
    return ids


async def invite(r: Running, meeting_id: int, person_ids: list[int]) -> None:
    async with r.app.sessions() as s:
        meeting = await s.get(Meeting, meeting_id)
        await meeting_services.send_invitations(s, meeting, person_ids, r.app.clock.now())
        await s.commit()
    await r.outbox.drain()


async def rsvp_of(r: Running, person_id: int) -> Rsvp:
    async with r.app.sessions() as s:
        return await s.scalar(select(Rsvp).where(Rsvp.person_id == person_id))


async def set_meeting(r: Running, meeting_id: int, **fields: object) -> None:
    async with r.app.sessions() as s:
        meeting = await s.get(Meeting, meeting_id)
        for k, v in fields.items():
            setattr(meeting, k, v)
        await s.commit()


def labels_of(r: Running, chat: int, message_id: int) -> list[list[str]]:
    [msg] = [m for m in r.fake.bot_messages(chat) if m["message_id"] == message_id]
    return [[b["text"] for b in row] for row in msg["reply_markup"]["inline_keyboard"]]


async def test_invitation_answers_calendar_and_map_pin_in_spanish(tg: Running) -> None:
    ids = await seed(tg, {ANA: "es"}, latitude=-33.0472, longitude=-71.4425)
    await invite(tg, ids["meeting"], [ids[str(ANA)]])
    await tg.replies(ANA, 0, 2)
    invitation, pin = tg.fake.delivered(ANA)
    assert invitation.method == "sendMessage" and pin.method == "sendLocation"
    assert invitation.params["text"] == (
        "📅 Te invitamos a: Sesión del Grupo Motor\n"
        "🗓️ martes 7 de abril, 18:00 a 20:00\n"
        "📍 Sede Villa Ñuñoa, Los Aromos 123, Quilpué\n"
        "📝 Tabla: Plan de trabajo\n"
        "\n"
        "¿Vienes?"
    )
    assert (pin.params["latitude"], pin.params["longitude"]) == (-33.0472, -71.4425)
    mid = invitation.result["message_id"]
    assert labels_of(tg, ANA, mid) == [["Asistiré", "No podré", "Tal vez"],
                                       ["Agregar a mi calendario"]]

    [yes] = await tg.press(ANA, "Asistiré")
    assert yes["text"] == "¡Qué bueno! Te esperamos el martes 7 de abril, 18:00. 🙌"
    assert labels_of(tg, ANA, mid)[0] == ["✅ Asistiré", "No podré", "Tal vez"]
    edited = next(m for m in tg.fake.bot_messages(ANA) if m["message_id"] == mid)
    assert edited["text"].endswith("Tu respuesta: asistirás")
    assert (await rsvp_of(tg, ids[str(ANA)])).answer == "yes"

    [ask] = await tg.press(ANA, "No podré")
    assert "¿Quieres contarnos por qué?" in ask["text"]
    assert labels_of(tg, ANA, mid)[0] == ["Asistiré", "✅ No podré", "Tal vez"]
    [thanks] = await tg.send(ANA, "Tengo turno en la feria")
    assert thanks["text"] == "Gracias por contarnos. Ya lo anoté. 🙏"
    rsvp = await rsvp_of(tg, ids[str(ANA)])
    assert (rsvp.answer, rsvp.reason) == ("no", "Tengo turno en la feria")

    [maybe] = await tg.press(ANA, "Tal vez")
    assert maybe["text"].startswith("Anoté que tal vez vayas.")
    assert labels_of(tg, ANA, mid)[0] == ["Asistiré", "No podré", "✅ Tal vez"]
    rsvp = await rsvp_of(tg, ids[str(ANA)])
    assert (rsvp.answer, rsvp.reason, rsvp.answered_at) == ("maybe", None, tg.app.clock.now())

    [doc] = await tg.press(ANA, "Agregar a mi calendario")
    assert tg.fake.delivered(ANA)[-1].method == "sendDocument"
    assert doc["caption"] == "Abre este archivo para agregar «Sesión del Grupo Motor» a tu calendario."
    upload = doc["document"]
    assert upload.filename.endswith(".ics")
    [event] = Calendar.from_ical(upload.data).walk("VEVENT")
    assert event.decoded("dtstart") == STARTS and event.decoded("dtend") == ENDS
    assert str(event["uid"]) == f"meeting-{ids['meeting']}@convoca"
    assert str(event["summary"]) == "Sesión del Grupo Motor"
    assert str(event["location"]) == "Sede Villa Ñuñoa, Los Aromos 123, Quilpué"

    async with tg.app.sessions() as s:
        audit = list(await s.scalars(select(AuditEntry).order_by(AuditEntry.id)))
    answers = [(a.action, a.details.get("answer"), a.channel, a.actor_id, a.entity_id)
               for a in audit if a.action.startswith("rsvp")]
    pid, meeting_id = ids[str(ANA)], ids["meeting"]
    assert answers == [
        ("rsvp_answered", "yes", "telegram", pid, meeting_id),
        ("rsvp_answered", "no", "telegram", pid, meeting_id),
        ("rsvp_reason", "no", "telegram", pid, meeting_id),
        ("rsvp_answered", "maybe", "telegram", pid, meeting_id),
    ]


async def test_the_reason_is_optional_and_kindly_bounded(tg: Running) -> None:
    ids = await seed(tg, {ANA: "es"})
    await invite(tg, ids["meeting"], [ids[str(ANA)]])
    await tg.replies(ANA, 0, 1)
    assert tg.fake.delivered(ANA)[0].method == "sendMessage"  # no lat/lon, no pin
    await tg.press(ANA, "No podré")
    [too_long] = await tg.send(ANA, "porque " * 60)
    assert "menos de 300 letras" in too_long["text"]
    before = len(tg.fake.delivered(ANA))
    tg.fake.sticker(ANA)
    [text_only] = await tg.replies(ANA, before, 1)
    assert text_only["text"] == "Solo puedo guardar texto. Escribe el motivo, o toca «Omitir»."
    [skipped] = await tg.press(ANA, "Omitir")
    assert skipped["text"] == "De acuerdo. ¡Gracias por avisar!"
    rsvp = await rsvp_of(tg, ids[str(ANA)])
    assert (rsvp.answer, rsvp.reason) == ("no", None)
    # Out of the question now: free text is no longer taken as a reason.
    [other] = await tg.send(ANA, "hola")
    assert other["text"].startswith("No te entendí")
    assert (await rsvp_of(tg, ids[str(ANA)])).reason is None


async def test_english_invitation_list_and_card_buttons(tg: Running) -> None:
    ids = await seed(tg, {BETO: "en"}, title="April planning")
    await invite(tg, ids["meeting"], [ids[str(BETO)]])
    [invitation] = await tg.replies(BETO, 0, 1)
    assert invitation["text"] == (
        "📅 You're invited to: April planning\n"
        "👥 Core Group\n"
        "🗓️ Tuesday 7 April, 18:00 to 20:00\n"
        "📍 Sede Villa Ñuñoa, Los Aromos 123, Quilpué\n"
        "📝 Agenda: Plan de trabajo\n"
        "\n"
        "Will you come?"
    )
    [yes] = await tg.press(BETO, "I'll be there")
    assert yes["text"] == "Great! See you on Tuesday 7 April, 18:00. 🙌"

    header, card = await tg.send(BETO, "/meetings", count=2)
    assert header["text"] == "You have 1 upcoming meeting:"
    assert card["text"] == (
        "📅 April planning\n"
        "👥 Core Group\n"
        "🗓️ Tuesday 7 April, 18:00 to 20:00\n"
        "📍 Sede Villa Ñuñoa, Los Aromos 123, Quilpué\n"
        "Your answer: you'll be there"
    )
    card_id = tg.fake.delivered(BETO)[-1].result["message_id"]
    assert labels_of(tg, BETO, card_id)[0] == ["✅ I'll be there", "I can't make it", "Maybe"]
    [maybe] = await tg.press(BETO, "Maybe")
    assert maybe["text"].startswith("I noted that you might come.")
    assert labels_of(tg, BETO, card_id)[0] == ["I'll be there", "I can't make it", "✅ Maybe"]
    edited = next(m for m in tg.fake.bot_messages(BETO) if m["message_id"] == card_id)
    assert edited["text"].endswith("Your answer: maybe")
    assert (await rsvp_of(tg, ids[str(BETO)])).answer == "maybe"


async def test_reuniones_lists_only_upcoming_meetings(tg: Running) -> None:
    ids = await seed(tg, {ANA: "es"})
    [none] = await tg.send(ANA, "/reuniones")
    assert none["text"].startswith("No tienes reuniones próximas.")
    await invite(tg, ids["meeting"], [ids[str(ANA)]])
    now = tg.app.clock.now()
    async with tg.app.sessions() as s:
        extra = [
            Meeting(program_id=ids["program"], kind="formacion",
                    starts_at=STARTS - timedelta(days=7), created_at=now),
            Meeting(program_id=ids["program"], body_id=ids["body"], kind="grupo_motor",
                    starts_at=STARTS + timedelta(days=30), created_at=now),
        ]
        s.add_all(extra)
        await s.commit()
    for m in extra:
        await invite(tg, m.id, [ids[str(ANA)]])
    await set_meeting(tg, extra[1].id, status=MeetingStatus.CANCELLED)
    header, first, second = await tg.send(ANA, "/reuniones", count=3)
    assert header["text"] == "Tienes 2 reuniones próximas:"
    assert first["text"] == (
        "📅 Sesión de formación\n"
        "🗓️ martes 31 de marzo, 19:00\n"  # still summer time (UTC-3)
        "Tu respuesta: aún no respondes"
    )
    assert second["text"].startswith("📅 Sesión del Grupo Motor\n🗓️ martes 7 de abril")


async def test_check_in_with_the_code(tg: Running) -> None:
    ids = await seed(tg, {ANA: "es", BETO: "en"})
    await invite(tg, ids["meeting"], [ids[str(ANA)]])  # Beto was not invited
    clock = tg.app.clock

    clock.set(STARTS - timedelta(hours=2))
    [early] = await tg.send(ANA, f"/asistencia {CODE}")
    assert early["text"] == (
        "Aún es temprano: «Sesión del Grupo Motor» es el martes 7 de abril, 18:00. "
        "Podrás marcar tu asistencia desde las 17:00.")

    clock.set(STARTS - timedelta(minutes=30))
    [wrong] = await tg.send(ANA, "/asistencia ZZZ999")
    assert wrong["text"].startswith("El código ZZZ999 no existe: no hay ninguna reunión con ese "
                                    "código.")
    [done] = await tg.send(ANA, CODE.lower())  # typed again as the next message
    assert done["text"] == (
        "¡Listo! Quedó registrada tu asistencia a «Sesión del Grupo Motor». "
        "¡Qué bueno que viniste! 🙌")
    [ask] = await tg.send(ANA, "/asistencia")
    assert ask["text"].startswith("¿Cuál es el código de la reunión?")
    [already] = await tg.send(ANA, f"{CODE[:3]} {CODE[3:]}")
    assert already["text"].startswith("Ya tenías registrada tu asistencia")

    clock.set(STARTS + timedelta(minutes=10))
    [came] = await tg.send(BETO, f"/checkin {CODE}")
    assert came["text"] == (  # Beto was not invited: the gestora confirms him
        "Thanks for coming! I noted your arrival at “Core Group meeting”. As you had no "
        "invitation, the gestora will confirm it. 🙌")

    async with tg.app.sessions() as s:
        rows = list(await s.scalars(select(Attendance).order_by(Attendance.id)))
        checked = [a for a in await s.scalars(select(AuditEntry)) if a.action == "checked_in"]
    assert [(a.person_id, a.present, a.method, a.marked_at) for a in rows] == [
        (ids[str(ANA)], True, "checkin", STARTS - timedelta(minutes=30)),
        (ids[str(BETO)], True, "checkin", STARTS + timedelta(minutes=10)),
    ]
    assert sorted(a.details["invited"] for a in checked) == [False, True]

    clock.set(ENDS + timedelta(minutes=1))
    [late] = await tg.send(BETO, f"/checkin {CODE}")
    assert late["text"].startswith("“Core Group meeting” has already ended")


async def test_wrong_codes_end_the_question_and_cancelled_meetings_are_explained(
        tg: Running) -> None:
    ids = await seed(tg, {ANA: "es"})
    await tg.send(ANA, "/asistencia")
    await tg.send(ANA, "AAAAAA")
    await tg.send(ANA, "CCCCCC")
    [gave_up] = await tg.send(ANA, "EEEEEE")
    assert gave_up["text"].startswith("Sigo sin encontrar esa reunión.")
    # No longer in the question, the right code typed on its own still works as
    # /asistencia would (here: too early), never "No te entendí".
    [other] = await tg.send(ANA, CODE)
    assert other["text"].startswith("Aún es temprano")
    await set_meeting(tg, ids["meeting"], status=MeetingStatus.CANCELLED)
    tg.app.clock.set(STARTS)
    [cancelled] = await tg.send(ANA, f"/asistencia {CODE}")
    assert cancelled["text"] == (
        "«Sesión del Grupo Motor» se canceló, así que no hay asistencia que marcar.")
    async with tg.app.sessions() as s:
        assert list(await s.scalars(select(Attendance))) == []


async def test_after_the_start_answers_no_longer_change(tg: Running) -> None:
    ids = await seed(tg, {ANA: "es"})
    await invite(tg, ids["meeting"], [ids[str(ANA)]])
    await tg.replies(ANA, 0, 1)
    await tg.press(ANA, "Asistiré")
    tg.app.clock.set(STARTS + timedelta(minutes=1))
    [late] = await tg.press(ANA, "No podré")
    assert late["text"] == "Esa reunión ya empezó, así que ya no puedo cambiar tu respuesta."
    rsvp = await rsvp_of(tg, ids[str(ANA)])
    assert (rsvp.answer, rsvp.answered_at) == ("yes", datetime(2026, 3, 2, 12, tzinfo=UTC))
    [none] = await tg.send(ANA, "/reuniones")
    assert none["text"].startswith("No tienes reuniones próximas.")


async def test_someone_elses_or_a_forged_button_is_refused(tg: Running) -> None:
    ids = await seed(tg, {ANA: "es", BETO: "es"})
    await invite(tg, ids["meeting"], [ids[str(ANA)], ids[str(BETO)]])
    await tg.replies(ANA, 0, 1)
    await tg.replies(BETO, 0, 1)
    data, _ = tg.button(ANA, "Asistiré")
    before = len(tg.fake.delivered(BETO))
    tg.fake.callback(BETO, data)  # Ana's button, pressed in Beto's chat
    [reply] = await tg.replies(BETO, before, 1)
    assert "no es para ti" in reply["text"]
    action, _, sig = data.rpartition("|")
    before = len(tg.fake.delivered(ANA))
    tg.fake.callback(ANA, f"{action.replace(':y', ':n')}|{sig}")  # a tampered action
    [reply] = await tg.replies(ANA, before, 1)
    assert "no es para ti" in reply["text"]
    assert (await rsvp_of(tg, ids[str(ANA)])).answer is None
    assert (await rsvp_of(tg, ids[str(BETO)])).answer is None


async def test_a_cancelled_meetings_buttons_say_so(tg: Running) -> None:
    ids = await seed(tg, {ANA: "en"})
    await invite(tg, ids["meeting"], [ids[str(ANA)]])
    await tg.replies(ANA, 0, 1)
    await set_meeting(tg, ids["meeting"], status=MeetingStatus.CANCELLED)
    [reply] = await tg.press(ANA, "I'll be there")
    assert reply["text"] == "That meeting was cancelled. There's nothing else you need to do."
    [reply] = await tg.press(ANA, "Add to my calendar")
    assert reply["text"].startswith("That meeting was cancelled.")
    assert (await rsvp_of(tg, ids[str(ANA)])).answer is None
