"""Meetings: the repository (invitations, answers, check-in) and what the person receives
(invitation text in both languages, buttons, the .ics file across Chile's DST changes)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar
from sqlalchemy import select

from channels import LEAST
from handlers import meetings as meeting_handlers
from handlers.buttons import SIG_CHARS
from handlers.events import Outgoing
from locales import Catalogs, Text
from services import meetings as meeting_services
from storage import meetings, programs
from storage.models import (
    Attendance,
    Body,
    ChannelAddress,
    Meeting,
    MeetingStatus,
    Organization,
    OutboxMessage,
    Person,
    Program,
    Rsvp,
)

SANTIAGO = ZoneInfo("America/Santiago")
# Tuesday 7 April 2026, 18:00 in Santiago: after the switch to winter time (UTC-4).
STARTS = datetime(2026, 4, 7, 22, 0, tzinfo=UTC)

ZONE = "America/Santiago"  # the programme's, where times are read


@pytest.fixture(scope="module")
def catalogs() -> Catalogs:
    return Catalogs()


async def seed(s, now: datetime, *, people: int = 3) -> tuple[Program, Body, Meeting, list[Person]]:
    program = await programs.create(s, template="ecomercado-10m", start=date(2026, 3, 2),
                                    name="Ecomercado Quilpué", now=now)
    body = await s.scalar(select(Body).where(Body.program_id == program.id,
                                             Body.kind == "grupo_motor"))
    meeting = Meeting(program_id=program.id, body_id=body.id, kind="grupo_motor",
                      starts_at=STARTS, ends_at=STARTS + timedelta(hours=2),
                      place="Sede Villa Ñuñoa", address="Los Aromos 123, Quilpué",
                      agenda="Plan de trabajo", created_at=now)
    s.add(meeting)
    persons = []
    for i in range(people):
        p = Person(name=f"Persona {i}", consent_at=now, created_at=now, reachable=True)
        p.addresses = [ChannelAddress(channel="telegram", address=str(7000 + i), created_at=now)]
        s.add(p)
        persons.append(p)
    await s.flush()
    return program, body, meeting, persons


def local(y: int, m: int, d: int, hh: int, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=SANTIAGO).astimezone(UTC)


# --- repository ------------------------------------------------------------------------------


async def test_inviting_twice_keeps_one_rsvp_per_person(sessions, clock) -> None:
    now = clock.now()
    async with sessions() as s:
        program, _, meeting, (a, b, c) = await seed(s, now)
        org = Organization(program_id=program.id, name="Junta de Vecinos", created_at=now)
        s.add(org)
        await s.flush()
        first = await meetings.invite(s, meeting, [a.id, b.id, a.id], now)
        later = now + timedelta(days=1)
        second = await meetings.invite(s, meeting, [b.id, c.id], later,
                                       organization_by_person={b.id: org.id, c.id: org.id})
        await s.commit()
        assert [r.person_id for r in first] == [a.id, b.id]
        assert [r.person_id for r in second] == [b.id, c.id]
        assert second[0] is first[1]
        rows = list(await s.scalars(select(Rsvp).order_by(Rsvp.person_id)))
        assert [(r.person_id, r.invited_at, r.organization_id) for r in rows] == [
            (a.id, now, None), (b.id, now, org.id), (c.id, later, org.id)]
        code = meeting.checkin_code
        assert code and len(code) == meetings.CODE_LENGTH
        assert set(code) <= set(meetings.CODE_ALPHABET)
        await meetings.invite(s, meeting, [a.id], later)
        assert meeting.checkin_code == code  # the code on the whiteboard never changes


async def test_an_answer_is_recorded_with_its_time_and_reason(sessions, clock) -> None:
    now = clock.now()
    async with sessions() as s:
        _, _, meeting, (a, *_) = await seed(s, now)
        [rsvp] = await meetings.invite(s, meeting, [a.id], now)
        await meetings.answer(s, rsvp, "no", "  Trabajo ese día  ", now)
        assert (rsvp.answer, rsvp.reason, rsvp.answered_at) == ("no", "Trabajo ese día", now)
        later = now + timedelta(hours=1)
        await meetings.answer(s, rsvp, "yes", None, later)
        assert (rsvp.answer, rsvp.reason, rsvp.answered_at) == ("yes", None, later)
        with pytest.raises(ValueError):
            await meetings.answer(s, rsvp, "no", "x" * (meetings.REASON_MAX + 1), later)
        with pytest.raises(ValueError):
            await meetings.answer(s, rsvp, "perhaps", None, later)
        assert rsvp.answer == "yes"


async def test_upcoming_meetings_leave_out_cancelled_started_and_uninvited(
        sessions, clock) -> None:
    now = clock.now()
    async with sessions() as s:
        program, body, meeting, (a, b, _) = await seed(s, now)

        def another(starts: datetime, **kw: object) -> Meeting:
            m = Meeting(program_id=program.id, body_id=body.id, kind="grupo_motor",
                        starts_at=starts, created_at=now, **kw)
            s.add(m)
            return m

        sooner = another(now + timedelta(days=3))
        cancelled = another(now + timedelta(days=4), status=MeetingStatus.CANCELLED)
        started = another(now - timedelta(minutes=5))
        not_mine = another(now + timedelta(days=5))
        await s.flush()
        for m in (meeting, sooner, cancelled, started):
            await meetings.invite(s, m, [a.id], now)
        await meetings.invite(s, not_mine, [b.id], now)
        rows = await meetings.upcoming_for(s, a.id, now)
        assert [m.id for m, _ in rows] == [sooner.id, meeting.id]
        assert all(r.person_id == a.id and r.meeting_id == m.id for m, r in rows)
        assert await meetings.upcoming_for(s, a.id, STARTS) == []


async def test_codes_are_short_unambiguous_and_found_however_typed(sessions, clock,
                                                                   monkeypatch) -> None:
    now = clock.now()
    async with sessions() as s:
        _, _, meeting, _ = await seed(s, now, people=0)
        meeting.checkin_code = "KM4X7R"
        await s.flush()
        assert (await meetings.by_checkin_code(s, " km4-x7r ")) is meeting
        assert await meetings.by_checkin_code(s, "KM4X7T") is None
        assert await meetings.by_checkin_code(s, "  ") is None
        # A code already on another meeting is drawn again.
        draws = iter("KM4X7R" + "AAAAAA")
        monkeypatch.setattr(meetings.secrets, "choice", lambda _alphabet: next(draws))
        assert await meetings.new_checkin_code(s) == "AAAAAA"
    assert not set(meetings.CODE_ALPHABET) & set("0O1IL2Z5S8B")


async def test_check_in_is_idempotent_and_counts_people_who_were_not_invited(
        sessions, clock) -> None:
    now = clock.now()
    async with sessions() as s:
        program, _, meeting, (a, b, _) = await seed(s, now)
        org = Organization(program_id=program.id, name="Club Adulto Mayor", created_at=now)
        s.add(org)
        await s.flush()
        await meetings.invite(s, meeting, [a.id], now, organization_by_person={a.id: org.id})
        first = await meetings.check_in(s, meeting, a, STARTS)
        again = await meetings.check_in(s, meeting, a, STARTS + timedelta(minutes=5))
        assert again is first and first.marked_at == STARTS
        assert (first.present, first.method, first.organization_id, first.marked_by) == (
            True, "checkin", org.id, a.id)
        s.add(Attendance(meeting_id=meeting.id, person_id=b.id, present=False, method="marked",
                         marked_at=now, marked_by=a.id))
        await s.flush()
        came = await meetings.check_in(s, meeting, b, STARTS)
        assert (came.present, came.method, came.organization_id) == (True, "checkin", None)
        await s.commit()
        assert len(list(await s.scalars(select(Attendance)))) == 2


async def test_check_in_window(clock) -> None:
    m = Meeting(starts_at=STARTS, ends_at=STARTS + timedelta(hours=2))
    assert meetings.checkin_window(m) == (STARTS - timedelta(hours=1),
                                          STARTS + timedelta(hours=2))
    m.ends_at = None
    assert meetings.checkin_window(m)[1] == STARTS + timedelta(hours=3)


async def test_kind_and_body_names_come_from_the_template(sessions, clock) -> None:
    async with sessions() as s:
        program, body, _, _ = await seed(s, clock.now(), people=0)
        assert meetings.meeting_kind_name(program, "grupo_motor", "es") == "Sesión del Grupo Motor"
        assert meetings.meeting_kind_name(program, "grupo_motor", "en") == "Core Group meeting"
        assert meetings.meeting_kind_name(program, "no_such_kind", "en") == "no_such_kind"
        assert meetings.body_name(program, body, "en") == "Core Group"
        assert meetings.kind_names(program, "consejo_local") == {
            "es": "Sesión del Consejo Local", "en": "Local Council meeting"}
        body.name = "Grupo Motor Villa Alemana"  # renamed by the gestora: her words stay
        assert meetings.body_name(program, body, "en") == "Grupo Motor Villa Alemana"
        assert meetings.body_names(program, body) == {"es": "Grupo Motor Villa Alemana"}


# --- the .ics file -------------------------------------------------------------------------


def parse_event(data: bytes):
    [event] = Calendar.from_ical(data).walk("VEVENT")
    return event


@pytest.mark.parametrize(
    ("starts", "utc_text"),
    [
        (local(2026, 4, 3, 18), "20260403T210000Z"),  # summer time, UTC-3
        (local(2026, 4, 6, 18), "20260406T220000Z"),  # winter time, UTC-4
        (local(2026, 9, 5, 18), "20260905T220000Z"),  # winter time
        (local(2026, 9, 7, 18), "20260907T210000Z"),  # summer time again
    ],
)
def test_ics_times_are_utc_on_both_sides_of_daylight_saving(starts: datetime,
                                                            utc_text: str) -> None:
    m = Meeting(id=41, kind="grupo_motor", starts_at=starts,
                ends_at=starts + timedelta(hours=2, minutes=30), place="Sede",
                address="Los Aromos 123", agenda="1. Plan\n2. Varios", revision=1,
                status=MeetingStatus.SCHEDULED)
    data = meeting_handlers.calendar_file(m, summary="Sesión del Grupo Motor",
                                          now=datetime(2026, 3, 2, 12, tzinfo=UTC))
    assert f"DTSTART:{utc_text}".encode() in data
    event = parse_event(data)
    assert event.decoded("dtstart") == starts
    assert event.decoded("dtend") == starts + timedelta(hours=2, minutes=30)
    assert event.decoded("dtstart").utcoffset() == timedelta(0)
    assert event.decoded("dtstart").astimezone(SANTIAGO).hour == 18
    assert str(event["uid"]) == "meeting-41@convoca"
    assert str(event["summary"]) == "Sesión del Grupo Motor"
    assert str(event["location"]) == "Sede, Los Aromos 123"
    assert str(event["description"]) == "1. Plan\n2. Varios"
    assert int(event["sequence"]) == 1


def test_a_moved_meeting_updates_the_same_calendar_entry() -> None:
    m = Meeting(id=7, kind="grupo_motor", starts_at=STARTS, revision=1,
                status=MeetingStatus.SCHEDULED, latitude=-33.05, longitude=-71.44)
    now = datetime(2026, 3, 2, 12, tzinfo=UTC)
    before = parse_event(meeting_handlers.calendar_file(m, summary="GM", now=now))
    m.starts_at, m.revision = STARTS + timedelta(days=1), 2
    after = parse_event(meeting_handlers.calendar_file(m, summary="GM", now=now))
    assert str(before["uid"]) == str(after["uid"]) == "meeting-7@convoca"
    assert (int(before["sequence"]), int(after["sequence"])) == (1, 2)
    assert after.decoded("dtstart") == STARTS + timedelta(days=1)
    # No end given: the calendar still gets a block of sensible length.
    assert after.decoded("dtend") - after.decoded("dtstart") == timedelta(hours=2)
    assert "location" not in after and "description" not in after
    m.status = MeetingStatus.CANCELLED
    cancelled = parse_event(meeting_handlers.calendar_file(m, summary="GM", now=now))
    assert str(cancelled["status"]) == "CANCELLED"


# --- the invitation ---------------------------------------------------------------------------


def labels(out: Outgoing, catalogs: Catalogs, loc: str) -> list[list[str]]:
    return [[catalogs.render(b.label, loc, ZONE) for b in row] for row in out.buttons]


def sample(**kw: object) -> tuple[Meeting, Rsvp]:
    fields: dict[str, object] = dict(
        id=12, kind="grupo_motor", starts_at=STARTS, ends_at=STARTS + timedelta(hours=2),
        place="Sede Villa Ñuñoa", address="Los Aromos 123, Quilpué",
        agenda="Plan de trabajo y elección de la directiva", revision=1,
        status=MeetingStatus.SCHEDULED,
    )
    fields.update(kw)
    return Meeting(**fields), Rsvp(meeting_id=12, person_id=3)


GM_KIND = Text({"es": "Sesión del Grupo Motor", "en": "Core Group meeting"})
GM_BODY = Text({"es": "Grupo Motor", "en": "Core Group"})


def test_the_invitation_in_spanish(catalogs: Catalogs) -> None:
    meeting, rsvp = sample()
    out = meeting_services.invitation(meeting, rsvp, kind_name=GM_KIND, body_name=GM_BODY)
    out = Outgoing.from_json(out.to_json())  # what the outbox keeps is what gets rendered
    assert catalogs.render(out.text, "es", ZONE) == (
        "📅 Te invitamos a: Sesión del Grupo Motor\n"
        "🗓️ martes 7 de abril, 18:00 a 20:00\n"
        "📍 Sede Villa Ñuñoa, Los Aromos 123, Quilpué\n"
        "📝 Tabla: Plan de trabajo y elección de la directiva\n"
        "\n"
        "¿Vienes?"
    )
    assert labels(out, catalogs, "es") == [["Asistiré", "No podré", "Tal vez"],
                                           ["Agregar a mi calendario"]]
    actions = [b.action for row in out.buttons for b in row]
    assert actions == ["rsvp:12:y", "rsvp:12:n", "rsvp:12:m", "rsvp:12:c"]
    assert all(len(a.encode()) <= LEAST.action_bytes - SIG_CHARS - 1 for a in actions)
    assert out.location is None
    # The same queued message reads in English for an English reader.
    assert catalogs.render(out.text, "en", ZONE).startswith(
        "📅 You're invited to: Core Group meeting\n🗓️ Tuesday 7 April, 18:00 to 20:00\n")


def test_the_body_is_named_when_the_meeting_does_not_say_it(catalogs: Catalogs) -> None:
    meeting, rsvp = sample(kind="priorizacion", agenda=None)
    kind = Text({"es": "Sesión de priorización", "en": "Prioritisation session"})
    out = meeting_services.invitation(meeting, rsvp, kind_name=kind, body_name=GM_BODY)
    assert "\n👥 Grupo Motor\n" in catalogs.render(out.text, "es", ZONE)
    assert "\n👥 Core Group\n" in catalogs.render(out.text, "en", ZONE)
    renamed = Text({"es": "Grupo Motor Villa Alemana"})
    out = meeting_services.invitation(meeting, rsvp, kind_name=GM_KIND, body_name=renamed)
    assert "\n👥 Grupo Motor Villa Alemana\n" in catalogs.render(out.text, "en", ZONE)


def test_the_invitation_in_english_with_a_title_body_and_map_pin(catalogs: Catalogs) -> None:
    meeting, rsvp = sample(title="Planificación de abril", ends_at=None, address=None,
                           agenda=None, latitude=-33.0472, longitude=-71.4425)
    out = meeting_services.invitation(meeting, rsvp, kind_name="Core Group meeting",
                                      body_name="Core Group")
    assert catalogs.render(out.text, "en", ZONE) == (
        "📅 You're invited to: Planificación de abril\n"
        "👥 Core Group\n"
        "🗓️ Tuesday 7 April, 18:00\n"
        "📍 Sede Villa Ñuñoa\n"
        "\n"
        "Will you come?"
    )
    assert labels(out, catalogs, "en") == [["I'll be there", "I can't make it", "Maybe"],
                                           ["Add to my calendar"]]
    assert Outgoing.from_json(out.to_json()).location == (-33.0472, -71.4425)


def test_the_current_answer_is_ticked_and_said(catalogs: Catalogs) -> None:
    meeting, rsvp = sample()
    rsvp.answer = "maybe"
    out = meeting_services.invitation(meeting, rsvp, kind_name="Sesión del Grupo Motor")
    assert labels(out, catalogs, "es")[0] == ["Asistiré", "No podré", "✅ Tal vez"]
    assert catalogs.render(out.text, "es", ZONE).endswith("\n\nTu respuesta: tal vez vayas")
    card = meeting_services.card(meeting, rsvp, kind_name="Core Group meeting")
    assert catalogs.render(card.text, "en", ZONE) == (
        "📅 Core Group meeting\n"
        "🗓️ Tuesday 7 April, 18:00 to 20:00\n"
        "📍 Sede Villa Ñuñoa, Los Aromos 123, Quilpué\n"
        "Your answer: maybe"
    )
    assert [b.action for b in card.buttons[0]] == ["rsvp:12:y:l", "rsvp:12:n:l", "rsvp:12:m:l"]


def test_a_very_long_agenda_is_shortened_for_the_chat(catalogs: Catalogs) -> None:
    meeting, rsvp = sample(agenda="punto " * 1000)
    text = catalogs.render(meeting_services.invitation(meeting, rsvp, kind_name="GM").text, "es", ZONE)
    assert len(text) < 4096 and "…" in text


async def test_send_invitations_queues_each_person_once_per_revision(sessions, clock) -> None:
    now = clock.now()
    async with sessions() as s:
        _, _, meeting, (a, b, c) = await seed(s, now)
        a.locale, b.locale = "es", "en"
        c.consent_at = None  # never agreed to hear from us: invited, but nothing is sent
        await s.flush()
        first = await meeting_services.send_invitations(s, meeting, [a.id, b.id, c.id], now)
        again = await meeting_services.send_invitations(s, meeting, [a.id, b.id, c.id], now)
        assert len(first) == 2 and again == []
        meeting.revision = 2
        moved = await meeting_services.send_invitations(s, meeting, [a.id], now)
        assert len(moved) == 1
        await s.commit()
        rows = list(await s.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))
        assert [r.idempotency_key for r in rows] == [
            f"invite:{meeting.id}:r1:{a.id}", f"invite:{meeting.id}:r1:{b.id}",
            f"invite:{meeting.id}:r2:{a.id}"]
        assert {(r.kind, r.expires_at, r.address) for r in rows[:2]} == {
            ("invitation", STARTS, "7000"), ("invitation", STARTS, "7001")}
        assert len(list(await s.scalars(select(Rsvp)))) == 3
    catalogs = Catalogs()
    es = Outgoing.from_json(rows[0].payload)
    en = Outgoing.from_json(rows[1].payload)
    assert catalogs.render(es.text, "es", ZONE).startswith("📅 Te invitamos a: Sesión del Grupo Motor")
    assert catalogs.render(en.text, "en", ZONE).startswith("📅 You're invited to: Core Group meeting")


async def test_nothing_is_sent_for_a_cancelled_or_started_meeting(sessions, clock) -> None:
    now = clock.now()
    async with sessions() as s:
        _, _, meeting, (a, *_) = await seed(s, now)
        meeting.status = MeetingStatus.CANCELLED
        assert await meeting_services.send_invitations(s, meeting, [a.id], now) == []
        meeting.status = MeetingStatus.SCHEDULED
        assert await meeting_services.send_invitations(s, meeting, [a.id], STARTS) == []
        assert list(await s.scalars(select(Rsvp))) == []
