"""Reuniones in the web panel: creating one meeting or a series (invitations queued in the
outbox), moving and cancelling (everyone invited told), the live board, asking again,
attendance at the door and the printable list; and the refusals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from storage import admin_meetings as data
from storage import programs
from storage.models import (
    Attendance,
    AttendanceGuest,
    AuditEntry,
    Meeting,
    MeetingStatus,
    OutboxMessage,
    Person,
    Role,
    Rsvp,
    RsvpAnswer,
)

# The clock stands at Monday 2 March 2026, 12:00 UTC (09:00 in Santiago, summer time).
DAY = "17-03-2026"  # a Tuesday
AT_1800_SANTIAGO = datetime(2026, 3, 17, 21, 0, tzinfo=UTC)


async def _grupo_motor(web) -> int:
    async with web.app.sessions() as s:
        return next(b.id for b in await programs.bodies(s, web.program.id)
                    if b.kind == "grupo_motor")


async def _member(web, name: str) -> Person:
    """Someone of the Grupo Motor, as the chat's roles section makes them one."""
    person = await web.person(name)
    async with web.app.sessions() as s:
        p = await s.get(Person, person.id, options=[selectinload(Person.roles)])
        program = await programs.get(s, web.program.id)
        await data.grant_role(s, p, Role.GRUPO_MOTOR, program, web.app.clock.now())
        await s.commit()
    return person


async def _setup(web, members: tuple[str, ...] = ("Ana Pérez", "Beto Soto", "Carla Núñez")):
    gestora = await web.person("Daniela Vergara", Role.GESTORA)
    people = [await _member(web, n) for n in members]
    return await web.signed_in(gestora), gestora, people


async def _create(web, c, **fields) -> Meeting:
    form = {"body": str(await _grupo_motor(web)), "kind": "", "date": DAY, "time": "18:00",
            "place": "Sede Villa Ñuñoa", "agenda": "Plan de trabajo", "invite": "members"}
    form.update(fields)
    r = await c.post(web.url("reuniones", "nueva"), data=form)
    assert r.status_code == 200, r.text
    async with web.app.sessions() as s:
        return await s.scalar(select(Meeting).order_by(Meeting.id).limit(1))


async def _outbox(web, kind: str) -> list[OutboxMessage]:
    async with web.app.sessions() as s:
        return list((await s.scalars(select(OutboxMessage).where(OutboxMessage.kind == kind)
                                     .order_by(OutboxMessage.id))).all())


async def _audits(web, action: str) -> list[AuditEntry]:
    async with web.app.sessions() as s:
        return list((await s.scalars(select(AuditEntry).where(AuditEntry.action == action)))
                    .all())


async def test_the_list_and_the_form_render_for_the_gestora(web) -> None:
    c, _, _ = await _setup(web)
    r = await c.get(web.url("reuniones"))
    assert r.status_code == 200
    assert "<h1>Reuniones</h1>" in r.text
    assert "Aún no hay reuniones" in r.text
    r = await c.get(web.url("reuniones", "nueva"))
    assert r.status_code == 200
    assert 'for="f-date"' in r.text and "Grupo Motor" in r.text


async def test_creating_a_meeting_invites_the_body_through_the_outbox(web) -> None:
    c, gestora, members = await _setup(web)
    meeting = await _create(web, c)
    assert meeting.starts_at.replace(tzinfo=UTC) == AT_1800_SANTIAGO  # typed in Santiago
    assert meeting.kind == "grupo_motor" and meeting.place == "Sede Villa Ñuñoa"
    assert meeting.created_by == gestora.id and meeting.series_id is None
    invitations = await _outbox(web, "invitation")
    assert sorted(m.person_id for m in invitations) == sorted(p.id for p in members)
    [created] = await _audits(web, "meeting_created")
    assert created.actor_id == gestora.id and created.channel == "web"
    [invited] = await _audits(web, "meeting_invited")
    assert invited.details["invited"] == 3 and invited.details["queued"] == 3
    page = await c.get(web.url("reuniones", f"{meeting.id}/"))
    assert "Sin respuesta (3)" in page.text
    listing = await c.get(web.url("reuniones"))
    assert "0 sí · 0 no · 0 tal vez · 3 sin responder, de 3 invitadas" in listing.text
    assert "Próximas" in listing.text


async def test_a_series_repeats_monthly_for_the_grupo_motor(web) -> None:
    c, _, _ = await _setup(web)
    r = await c.post(web.url("reuniones", "nueva"), data={
        "body": str(await _grupo_motor(web)), "kind": "", "date": DAY, "time": "18:00",
        "place": "", "agenda": "", "repeat": "1", "invite": "later"})
    assert r.status_code == 200
    async with web.app.sessions() as s:
        rows = (await s.scalars(select(Meeting).order_by(Meeting.starts_at))).all()
    assert len(rows) > 3
    assert len({m.series_id for m in rows}) == 1 and rows[0].series_id is not None
    # Each a month after the last, on the same weekday (the third Tuesday).
    assert rows[1].starts_at.month == 4 and rows[1].starts_at.weekday() == 1
    assert "reuniones de la serie" in r.text
    assert await _outbox(web, "invitation") == []  # "invite later"
    [series] = await _audits(web, "meeting_series_created")
    assert len(series.details["meetings"]) == len(rows)


async def test_a_bad_date_is_refused_beside_the_field(web) -> None:
    c, _, _ = await _setup(web)
    r = await c.post(web.url("reuniones", "nueva"), data={
        "body": str(await _grupo_motor(web)), "kind": "", "date": "el día del níspero",
        "time": "18:00", "place": "Sede", "agenda": "", "invite": "members"})
    assert r.status_code == 422
    assert 'id="f-date-note" class="late">No entendí esa fecha' in r.text
    assert 'value="Sede"' in r.text  # nothing typed is lost
    r = await c.post(web.url("reuniones", "nueva"), data={
        "body": str(await _grupo_motor(web)), "kind": "", "date": "01-03-2026",
        "time": "18:00", "invite": "members"})
    assert r.status_code == 422 and "Ese día ya pasó" in r.text
    r = await c.post(web.url("reuniones", "nueva"), data={
        "body": "", "kind": "", "date": DAY, "time": "las tantas", "invite": "members",
        "repeat": "1"})
    assert r.status_code == 422
    assert "Elige el tipo de sesión" in r.text
    assert "No entendí esa hora" in r.text
    assert "Solo se repiten" in r.text
    async with web.app.sessions() as s:
        assert await s.scalar(select(func.count()).select_from(Meeting)) == 0


async def test_moving_tells_everyone_invited(web) -> None:
    c, _, members = await _setup(web)
    meeting = await _create(web, c)
    r = await c.post(web.url("reuniones", f"{meeting.id}/mover"),
                     data={"date": "24-03-2026", "time": "19:00"})
    assert r.status_code == 200
    assert "Les avisé a 3 personas invitadas" in r.text
    async with web.app.sessions() as s:
        moved = await s.get(Meeting, meeting.id)
    assert moved.starts_at.replace(tzinfo=UTC) == datetime(2026, 3, 24, 22, 0, tzinfo=UTC)
    assert moved.revision == 2
    new = [m for m in await _outbox(web, "invitation") if ":r2:" in m.idempotency_key]
    assert sorted(m.person_id for m in new) == sorted(p.id for p in members)
    [audit] = await _audits(web, "meeting_moved")
    assert audit.details["queued"] == 3
    # The same time again: said beside the date, nothing changes.
    again = await c.post(web.url("reuniones", f"{meeting.id}/mover"),
                         data={"date": "24-03-2026", "time": "19:00"})
    assert again.status_code == 422 and "Es la misma fecha y hora" in again.text
    bad = await c.post(web.url("reuniones", f"{meeting.id}/mover"),
                       data={"date": "99-99-2026", "time": "19:00"})
    assert bad.status_code == 422 and 'id="f-date-note" class="late"' in bad.text


async def test_cancelling_tells_everyone_invited(web) -> None:
    c, _, members = await _setup(web)
    meeting = await _create(web, c)
    r = await c.post(web.url("reuniones", f"{meeting.id}/cancelar"),
                     data={"reason": "Lluvia fuerte"})
    assert r.status_code == 200 and "Les avisé a 3 personas" in r.text
    async with web.app.sessions() as s:
        assert (await s.get(Meeting, meeting.id)).status == MeetingStatus.CANCELLED
    notices = await _outbox(web, "meeting_cancelled")
    assert sorted(m.person_id for m in notices) == sorted(p.id for p in members)
    assert (await _audits(web, "meeting_cancelled"))[0].details["queued"] == 3
    # Cancelled once is enough: a second time is refused politely.
    again = await c.post(web.url("reuniones", f"{meeting.id}/cancelar"), data={"reason": ""})
    assert again.status_code == 422


async def test_the_board_fragment_shows_answers_live(web) -> None:
    c, _, members = await _setup(web)
    meeting = await _create(web, c)
    page = await c.get(web.url("reuniones", f"{meeting.id}/"))
    assert 'hx-trigger="every 5s"' in page.text
    async with web.app.sessions() as s:
        rsvp = await s.scalar(select(Rsvp).where(Rsvp.person_id == members[0].id))
        rsvp.answer, rsvp.answered_at = RsvpAnswer.YES, web.app.clock.now()
        other = await s.scalar(select(Rsvp).where(Rsvp.person_id == members[1].id))
        other.answer, other.reason = RsvpAnswer.NO, "Trabajo"
        await s.commit()
    r = await c.get(web.url("reuniones", f"{meeting.id}/tablero"), headers={"HX-Request": "true"})
    assert r.status_code == 200
    assert "<html" not in r.text  # a fragment, not a page
    assert "Asistirá (1)" in r.text and "Ana Pérez" in r.text
    assert "No podrá (1)" in r.text and "Trabajo" in r.text
    assert "Sin respuesta (1)" in r.text


async def test_ask_again_resends_to_who_has_not_answered(web) -> None:
    c, _, members = await _setup(web)
    meeting = await _create(web, c)
    async with web.app.sessions() as s:
        rsvp = await s.scalar(select(Rsvp).where(Rsvp.person_id == members[0].id))
        rsvp.answer = RsvpAnswer.YES
        await s.commit()
    r = await c.post(web.url("reuniones", f"{meeting.id}/preguntar"))
    assert r.status_code == 200 and "Les pregunté de nuevo a 2 personas" in r.text
    again = [m for m in await _outbox(web, "invitation") if ":again" in m.idempotency_key]
    assert sorted(m.person_id for m in again) == sorted(p.id for p in members[1:])
    [audit] = await _audits(web, "meeting_reasked")
    assert audit.details == {"asked": 2, "queued": 2}
    # Pressed again the same day: nothing more goes out, and she is told why.
    r = await c.post(web.url("reuniones", f"{meeting.id}/preguntar"))
    assert "Ya les preguntamos hoy" in r.text


async def test_marking_attendance_at_the_door(web) -> None:
    c, gestora, members = await _setup(web)
    meeting = await _create(web, c)
    web.app.clock.advance(AT_1800_SANTIAGO - web.app.clock.now() - timedelta(minutes=10))
    c = await web.signed_in(gestora)  # the day of the meeting, on the tablet at the door
    page = await c.get(web.url("reuniones", f"{meeting.id}/asistencia"))
    assert page.status_code == 200 and "Marcar presente a Ana Pérez" in page.text
    ana = members[0]
    r = await c.post(web.url("reuniones", f"{meeting.id}/asistencia/{ana.id}"),
                     data={"present": "1"}, headers={"HX-Request": "true"})
    assert r.status_code == 200
    assert r.text.lstrip().startswith(f'<tr id="p{ana.id}"')
    assert 'aria-pressed="true"' in r.text and 'hx-swap-oob="true"' in r.text
    async with web.app.sessions() as s:
        row = await s.scalar(select(Attendance).where(Attendance.person_id == ana.id))
    assert row.present and row.marked_by == gestora.id and row.method == "marked"
    [audit] = await _audits(web, "attendance_marked")
    assert audit.actor_id == gestora.id
    assert audit.details["person_id"] == ana.id and audit.details["present"] is True
    # Without JavaScript: the form posts and comes back to the list.
    r = await c.post(web.url("reuniones", f"{meeting.id}/asistencia/{ana.id}"),
                     data={"present": "0"})
    assert r.status_code == 200 and "<h1>" in r.text
    async with web.app.sessions() as s:
        row = await s.scalar(select(Attendance).where(Attendance.person_id == ana.id))
    assert row.present is False
    bad = await c.post(web.url("reuniones", f"{meeting.id}/asistencia/{ana.id}"),
                       data={"present": "quizás"})
    assert bad.status_code == 400


async def test_a_guest_not_in_convoca_is_written_in_and_taken_off(web) -> None:
    c, _, _ = await _setup(web)
    meeting = await _create(web, c)
    bad = await c.post(web.url("reuniones", f"{meeting.id}/visitas"),
                       data={"name": "Marta Ríos", "rut": "12.345.678-9"})
    assert bad.status_code == 422 and 'id="f-rut-note" class="late">Ese RUT' in bad.text
    assert 'value="Marta Ríos"' in bad.text
    r = await c.post(web.url("reuniones", f"{meeting.id}/visitas"),
                     data={"name": "Marta Ríos", "rut": "12.345.678-5", "organization": "",
                           "phone": ""})
    assert r.status_code == 200 and "Marta Ríos" in r.text
    async with web.app.sessions() as s:
        guest = await s.scalar(select(AttendanceGuest))
    assert guest.rut == "12.345.678-5"
    r = await c.post(web.url("reuniones", f"{meeting.id}/visitas/{guest.id}/quitar"))
    assert r.status_code == 200
    async with web.app.sessions() as s:
        assert await s.scalar(select(func.count()).select_from(AttendanceGuest)) == 0
    assert len(await _audits(web, "attendance_guest_added")) == 1
    assert len(await _audits(web, "attendance_guest_removed")) == 1


async def test_the_printable_list_downloads(web) -> None:
    c, _, _ = await _setup(web)
    meeting = await _create(web, c)
    r = await c.get(web.url("reuniones", f"{meeting.id}/lista.pdf"))
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/pdf"
    assert r.content.startswith(b"%PDF")
    assert "attachment" in r.headers["content-disposition"]
    x = await c.get(web.url("reuniones", f"{meeting.id}/lista.xlsx"))
    assert x.status_code == 200 and x.content.startswith(b"PK")
    assert (await c.get(web.url("reuniones", f"{meeting.id}/lista.doc"))).status_code == 404


async def test_refusals(web) -> None:
    c, _, _ = await _setup(web)
    meeting = await _create(web, c)
    supervisor = await web.signed_in(await web.person("Sonia", Role.SUPERVISOR))
    # The supervisor reads the board and the list, and changes nothing.
    assert (await supervisor.get(web.url("reuniones", f"{meeting.id}/"))).status_code == 200
    page = await supervisor.get(web.url("reuniones", f"{meeting.id}/asistencia"))
    assert page.status_code == 200 and "Marcar presente" not in page.text
    for rest, form in [("nueva", {"date": DAY, "time": "18:00"}),
                       (f"{meeting.id}/cancelar", {}), (f"{meeting.id}/preguntar", {}),
                       (f"{meeting.id}/mover", {"date": "24-03-2026", "time": "19:00"})]:
        r = await supervisor.post(web.url("reuniones", rest), data=form)
        assert r.status_code == 403, rest
    recinto = await web.signed_in(await web.person("Raúl", Role.RECINTO))
    assert (await recinto.get(web.url("reuniones"))).status_code == 403
    assert (await recinto.get(web.url("reuniones", f"{meeting.id}/lista.pdf"))).status_code == 403
    # No session: no data.
    anonymous = web.browser()
    r = await anonymous.get(web.url("reuniones", f"{meeting.id}/tablero"), follow_redirects=False)
    assert r.status_code == 303
    # A CSRF token missing: nothing happens.
    r = await c.post(web.url("reuniones", f"{meeting.id}/cancelar"), data={}, with_csrf=False)
    assert r.status_code == 403
    # Another programme's meeting is not found from this one.
    other = await web.another_programme("Otro")
    outsider = await web.signed_in(await web.person("Olga", Role.GESTORA, program_id=other.id))
    r = await outsider.get(web.url("reuniones", f"{meeting.id}/", program_id=other.id))
    assert r.status_code == 404
    async with web.app.sessions() as s:
        assert (await s.get(Meeting, meeting.id)).status == MeetingStatus.SCHEDULED


async def test_someone_of_the_programme_who_came_uninvited_is_found_and_marked(web) -> None:
    c, gestora, _ = await _setup(web)
    rosa = await web.person("Rosa González", Role.FAMILIA)
    meeting = await _create(web, c)
    page = await c.get(web.url("reuniones", f"{meeting.id}/asistencia"), params={"q": "rosa"})
    assert page.status_code == 200 and "Marcar presente a Rosa González" in page.text
    r = await c.post(web.url("reuniones", f"{meeting.id}/asistencia/{rosa.id}"),
                     data={"present": "1"})
    assert r.status_code == 200 and "Sin invitación" in r.text
    async with web.app.sessions() as s:
        row = await s.scalar(select(Attendance).where(Attendance.person_id == rosa.id))
    assert row.present and row.marked_by == gestora.id
    # Once on the list, the search no longer offers her.
    again = await c.get(web.url("reuniones", f"{meeting.id}/asistencia"), params={"q": "rosa"})
    assert "No encontré a nadie" in again.text


async def test_what_the_panel_queues_is_delivered_now_not_at_the_next_poll(web) -> None:
    woken: list[list[int]] = []

    async def deliver_now(rows: list[int]) -> None:
        woken.append(rows)

    web.panel.wake_outbox = deliver_now
    c, _, _ = await _setup(web)
    meeting = await _create(web, c)
    invitations = [m.id for m in await _outbox(web, "invitation")]
    assert len(invitations) == 3 and woken == [invitations]
    await c.post(web.url("reuniones", f"{meeting.id}/preguntar"))
    again = [m.id for m in await _outbox(web, "invitation") if ":again" in m.idempotency_key]
    assert len(again) == 3 and woken[-1] == again
    before = {m.id for m in await _outbox(web, "invitation")}
    await c.post(web.url("reuniones", f"{meeting.id}/invitar"), data={"invite": "everyone"})
    added = [m.id for m in await _outbox(web, "invitation") if m.id not in before]
    assert len(added) == 1 and woken[-1] == added  # the gestora herself, the one not invited
    await c.post(web.url("reuniones", f"{meeting.id}/mover"),
                 data={"date": "24-03-2026", "time": "19:00"})
    moved = [m.id for m in await _outbox(web, "invitation") if ":r2:" in m.idempotency_key]
    assert len(moved) == 4 and woken[-1] == moved
    await c.post(web.url("reuniones", f"{meeting.id}/cancelar"), data={"reason": ""})
    cancelled = [m.id for m in await _outbox(web, "meeting_cancelled")]
    assert len(cancelled) == 4 and woken[-1] == cancelled
    # Every row woken is a row that exists, committed before the outbox was woken.
    async with web.app.sessions() as s:
        stored = set((await s.scalars(select(OutboxMessage.id))).all())
    assert {i for rows in woken for i in rows} <= stored


async def test_the_attendance_list_shows_what_another_tablet_marked(web) -> None:
    c, gestora, members = await _setup(web)
    meeting = await _create(web, c)
    web.app.clock.advance(AT_1800_SANTIAGO - web.app.clock.now() - timedelta(minutes=10))
    door = await web.signed_in(gestora)
    other = await web.signed_in(await web.person("Marta Coordinadora", Role.COORDINADORA))
    rows_url = web.url("reuniones", f"{meeting.id}/asistencia/filas")
    page = await door.get(web.url("reuniones", f"{meeting.id}/asistencia") + "?q=carla")
    assert f'hx-get="{rows_url}" hx-trigger="every 10s"' in page.text
    assert 'data-live-pause="#f-q"' in page.text and 'value="carla"' in page.text
    ana = members[0]
    before = await door.get(rows_url, headers={"HX-Request": "true"})
    assert f'<tr id="p{ana.id}" class="att-row">' in before.text
    marked = await other.post(web.url("reuniones", f"{meeting.id}/asistencia/{ana.id}"),
                              data={"present": "1"}, headers={"HX-Request": "true"})
    assert marked.status_code == 200
    after = await door.get(rows_url, headers={"HX-Request": "true"})
    assert after.status_code == 200 and "<html" not in after.text
    assert f'<tr id="p{ana.id}" class="att-row is-present">' in after.text
    assert after.text.count("<tr ") == 3
    assert 'id="tally"' in after.text and 'hx-swap-oob="true"' in after.text
    assert "Presentes: 0 de 3 personas invitadas" in before.text
    assert "Presentes: 1 de 3 personas invitadas" in after.text
    # A cancelled meeting changes no more: its list stops asking.
    await door.post(web.url("reuniones", f"{meeting.id}/cancelar"), data={"reason": ""})
    page = await door.get(web.url("reuniones", f"{meeting.id}/asistencia"))
    assert "hx-trigger" not in page.text.split('<tbody id="rows"')[1].split(">")[0]


async def test_a_person_of_another_programme_cannot_be_marked_at_this_meeting(web) -> None:
    """A mark lists the person (name, RUT) on the board: an id typed in the address must not
    bring in someone of another programme, nor someone erased."""
    c, _, _ = await _setup(web)
    other = await web.another_programme("Otro programa", "ecomercado-10m")
    stranger = await web.person("Zoila Extraña", Role.FAMILIA, program_id=other.id)
    gone = await web.person("Elvira Borrada", Role.FAMILIA)
    async with web.app.sessions() as s:
        (await s.get(Person, stranger.id)).program_id = other.id  # a family of programme B
        (await s.get(Person, gone.id)).erased_at = web.app.clock.now()
        await s.commit()
    meeting = await _create(web, c)
    for who in (stranger, gone):
        r = await c.post(web.url("reuniones", f"{meeting.id}/asistencia/{who.id}"),
                         data={"present": "1"})
        assert r.status_code == 422 and "No encuentro a esa persona" in r.text
        assert who.name not in r.text
    async with web.app.sessions() as s:
        assert await s.scalar(select(func.count()).select_from(Attendance)) == 0
    assert await _audits(web, "attendance_marked") == []
