"""The panel's Inicio: the stage calendar, what is due soon and what is overdue, the
messages that did not arrive (with why), the next meetings and delivery days with their
answers; who may see it, and that its queries do not grow with the programme's rows."""

from __future__ import annotations

import re
from datetime import date, timedelta

from sqlalchemy import event

from storage import actions, admin_meetings, plans, programs
from storage.models import (
    DeliveryDay,
    Family,
    OutboxMessage,
    OutboxStatus,
    Person,
    Pickup,
    PickupStatus,
    Program,
    Role,
    Rsvp,
    RsvpAnswer,
)


def block(html: str, title_id: str) -> str:
    """The text of one of the page's sections, by its heading's id."""
    found = re.search(rf'<section aria-labelledby="{title_id}".*?</section>', html, re.S)
    assert found, f"no section {title_id}"
    return found.group(0)


async def gestora_browser(web):
    return await web.signed_in(await web.person("Daniela Vergara", Role.GESTORA))


async def test_the_calendar_is_drawn_with_today_marked_and_listed(web) -> None:
    b = await gestora_browser(web)
    r = await b.get(web.url())
    assert r.status_code == 200
    assert "Ecomercado Solidario de Quilpué" in r.text
    assert "Calendario de etapas" in r.text
    calendar = block(r.text, "calendar-title")
    assert calendar.count('<rect class="gantt-bar') == 4  # one bar per stage
    assert 'class="gantt-today"' in calendar
    assert "Hoy es lunes 2 de marzo de 2026." in calendar
    assert "Socialización y análisis situacional" in calendar
    assert f'href="{web.url("etapas")}"' in calendar
    assert r.text.count("<h1") == 1


async def test_due_soon_and_overdue_hold_milestones_actions_and_commitments(web) -> None:
    now = web.app.clock.now()
    async with web.app.sessions() as s:
        ana = Person(program_id=web.program.id, name="Ana Pérez", created_at=now)
        s.add(ana)
        await s.flush()
        plan = await plans.ensure(s, web.program.id, "work", now=now)
        await actions.add(s, program_id=web.program.id, text="Cotizar toldos para la feria",
                          now=now, due=date(2026, 3, 7), plan_id=plan.id,
                          responsible_person_id=ana.id)
        await actions.add(s, program_id=web.program.id, text="Pedir la sede vecinal",
                          now=now, due=date(2026, 3, 1), responsible_name="Don Luis")
        # A month away: not due in the next two weeks.
        await actions.add(s, program_id=web.program.id, text="Pintar el letrero",
                          now=now, due=date(2026, 4, 2))
        await s.commit()
    gestora = await web.person("Daniela Vergara", Role.GESTORA)
    html = (await (await web.signed_in(gestora)).get(web.url())).text
    soon = block(html, "soon-title")
    assert "Cotizar toldos para la feria" in soon
    assert "Acción de un plan" in soon and "Ana Pérez" in soon and "en 5 días" in soon
    # The first stage's first activity ends on 14 March.
    assert "Catastro, invitaciones" in soon and "en 12 días" in soon
    assert "Pintar el letrero" not in html
    overdue = block(html, "overdue-title")
    assert "Pedir la sede vecinal" in overdue
    assert "Compromiso de sesión" in overdue and "Don Luis" in overdue
    assert "1 día de atraso" in overdue

    # Past its date and not marked done, the activity moves to the overdue block.
    web.app.clock.advance(timedelta(days=14))
    html = (await (await web.signed_in(gestora)).get(web.url())).text
    overdue = block(html, "overdue-title")
    assert "Catastro, invitaciones" in overdue and "2 días de atraso" in overdue
    assert "Catastro, invitaciones" not in block(html, "soon-title")


async def test_a_failed_message_shows_with_its_reason_and_only_for_this_programme(web) -> None:
    now = web.app.clock.now()
    async with web.app.sessions() as s:
        other = await programs.create(s, template="ecomercado-15m", name="Otro programa",
                                      start=web.program.start_date, now=now)
        rosa = Person(program_id=web.program.id, name="Rosa González", created_at=now)
        pedro = Person(program_id=web.program.id, name="Pedro Soto", created_at=now)
        stranger = Person(program_id=other.id, name="Elena Fuera", created_at=now)
        s.add_all([rosa, pedro, stranger])
        await s.flush()

        def row(person: Person, status: str, key: str, error: str | None) -> OutboxMessage:
            return OutboxMessage(idempotency_key=key, person_id=person.id, channel="whatsapp",
                                 address="56911111111", kind="invitation", payload={},
                                 status=status, not_before=now, created_at=now,
                                 last_error=error, attempts=1)

        s.add_all([
            row(rosa, OutboxStatus.FAILED, "t1", "whatsapp 131026: Message undeliverable"),
            row(pedro, OutboxStatus.UNCERTAIN, "t2", None),
            row(stranger, OutboxStatus.FAILED, "t3", "whatsapp 131026: Message undeliverable"),
            row(rosa, OutboxStatus.SENT, "t4", None),
        ])
        await s.commit()
    b = await gestora_browser(web)
    troubles = block((await b.get(web.url())).text, "troubles-title")
    assert "Rosa González" in troubles
    assert "ese número no recibe WhatsApp" in troubles
    assert "No llegó" in troubles
    assert "Pedro Soto" in troubles and "no sabe si llegó" in troubles
    assert "Elena Fuera" not in troubles
    assert troubles.count("<tr>") == 3  # the header and two rows; the sent one is not there
    assert f'href="{web.url("mensajes")}"' in troubles


async def seed_meetings_and_days(web, n: int) -> None:
    """``n`` meetings each with an answer of every kind, ``n`` delivery days each with
    families in several statuses."""
    now = web.app.clock.now()
    async with web.app.sessions() as s:
        program = await s.get(Program, web.program.id)
        kind = admin_meetings.meeting_kinds(program)[0]
        for i in range(n):
            m = await admin_meetings.create_meeting(
                s, program, kind=kind, starts_at=now + timedelta(days=3 + i),
                now=now, place=f"Sede {i}")
            for j, answer in enumerate([RsvpAnswer.YES, RsvpAnswer.YES, RsvpAnswer.MAYBE,
                                        RsvpAnswer.NO, None]):
                p = Person(program_id=program.id, name=f"Vecina {i}-{j}", created_at=now)
                s.add(p)
                await s.flush()
                s.add(Rsvp(meeting_id=m.id, person_id=p.id, invited_at=now, answer=answer))
            day = DeliveryDay(program_id=program.id, window_start=now + timedelta(days=5 + i),
                              window_end=now + timedelta(days=5 + i, hours=3),
                              place=f"Feria {i}", created_at=now)
            s.add(day)
            await s.flush()
            for j, status in enumerate([PickupStatus.CONFIRMED, PickupStatus.CONFIRMED,
                                        PickupStatus.CONFIRMED, PickupStatus.PROXY,
                                        PickupStatus.CANNOT, PickupStatus.NOTIFIED]):
                f = Family(program_id=program.id, name=f"Familia {i}-{j}", created_at=now)
                s.add(f)
                await s.flush()
                s.add(Pickup(delivery_day_id=day.id, family_id=f.id, status=status))
        await s.commit()


async def test_next_meetings_and_delivery_days_come_with_their_answers(web) -> None:
    await seed_meetings_and_days(web, 1)
    b = await gestora_browser(web)
    html = (await b.get(web.url())).text
    meetings = block(html, "meetings-title")
    assert "Sede 0" in meetings
    assert "Vienen 2 · Tal vez 1 · No pueden 1 · Sin responder 1" in meetings
    assert f'href="{web.url("reuniones")}"' in meetings
    days = block(html, "days-title")
    assert "Feria 0" in days
    assert "6 familias: confirmaron 3 · retira otra persona 1 · no pueden 1" in days
    assert "sin respuesta 1" in days
    assert f'href="{web.url("entregas")}"' in days


async def test_the_queries_do_not_grow_with_the_rows(web) -> None:
    """A query per block, never one per meeting, day, action or message."""
    b = await gestora_browser(web)
    engine = web.app.sessions.kw["bind"].sync_engine
    statements: list[str] = []

    def count(conn, cursor, statement, *args) -> None:
        statements.append(statement)

    await seed_meetings_and_days(web, 1)
    event.listen(engine, "before_cursor_execute", count)
    try:
        assert (await b.get(web.url())).status_code == 200
        few = len(statements)
        await seed_meetings_and_days(web, 4)
        statements.clear()
        assert (await b.get(web.url())).status_code == 200
        many = len(statements)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert many == few


async def test_the_supervisor_reads_it_and_the_premises_staff_do_not(web) -> None:
    supervisor = await web.signed_in(await web.person("Sara Regional", Role.SUPERVISOR))
    r = await supervisor.get(web.url())
    assert r.status_code == 200 and "Calendario de etapas" in r.text
    recinto = await web.signed_in(await web.person("Juan Recinto", Role.RECINTO))
    r = await recinto.get(web.url(), follow_redirects=False)
    assert r.status_code == 403
    assert "Calendario de etapas" not in r.text


async def test_without_a_session_there_is_no_data(web) -> None:
    r = await web.browser().get(web.url(), follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/web/entrar"
    assert "Ecomercado" not in r.text


async def test_it_reads_in_english_on_the_switch(web) -> None:
    b = await gestora_browser(web)
    await b.post("/web/idioma", data={"lang": "en", "back": web.url()})
    html = (await b.get(web.url())).text
    assert "Due in the next two weeks" in html
    assert "Next delivery days" in html
