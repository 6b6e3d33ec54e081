"""Entregas in the web panel: the month calendar with each day's counts, days made by a
weekly pattern, a day moved or cancelled with its families told, and the day list marked at
the door, by the premises' staff too; who may do which."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import pytest
from sqlalchemy import select

from services.pickups import send_pickup_notice
from storage import delivery
from storage.delivery import DayPlan
from storage.models import (
    AuditEntry,
    DeliveryDay,
    Family,
    OutboxMessage,
    OutboxStatus,
    Pickup,
    PickupMode,
    PickupStatus,
    Role,
)

THURSDAY = date(2026, 3, 5)  # the clock stands at Monday 2 March 2026, 09:00 in Santiago
HTMX = {"HX-Request": "true"}


@dataclass
class Seeded:
    day_id: int
    pickups: dict[str, int]  # family name -> its pickup on the day
    rosa_person: int


async def rows(web, model, *where):
    async with web.app.sessions() as s:
        return list((await s.scalars(select(model).where(*where))).all())


async def seed(web, on: date = THURSDAY, start: time = time(10), end: time = time(12)
               ) -> Seeded:
    """Three families on one pickup day at the sede: Rosa linked to a chat and told the date,
    Juan not linked, Ana served at home (not on the day)."""
    rosa = await web.person("Rosa González", Role.FAMILIA)
    now = web.app.clock.now()
    async with web.app.sessions() as s:
        program = await s.get(type(web.program), web.program.id)
        families = [
            Family(program_id=program.id, name="Rosa González", rut="12.345.678-5",
                   sector="Lo Hermida", person_id=rosa.id, created_at=now),
            Family(program_id=program.id, name="Juan Pérez", rut="9.876.543-3",
                   sector="Villa Sur", created_at=now),
            Family(program_id=program.id, name="Ana Soto", sector="Villa Sur",
                   pickup_mode=PickupMode.DOMICILIO, created_at=now),
        ]
        s.add_all(families)
        await s.flush()
        [day] = await delivery.create_days(s, program, DayPlan(
            PickupMode.RETIRO, (on,), start, end, place="Sede vecinal Lo Hermida"), now)
        await delivery.assign(s, [day], [f.id for f in families[:2]])
        found = {}
        for f in families[:2]:
            pickup = await s.scalar(select(Pickup).where(Pickup.family_id == f.id))
            found[f.name] = pickup.id
        rosa_pickup = await s.get(Pickup, found["Rosa González"])
        assert await send_pickup_notice(s, rosa_pickup, now) is not None
        await s.commit()
        return Seeded(day.id, found, rosa.id)


def into_the_window(web, on: date = THURSDAY) -> None:
    """To 10:30 in Santiago (UTC-3 in March) on the day."""
    target = datetime(on.year, on.month, on.day, 13, 30, tzinfo=UTC)
    web.app.clock.advance(target - web.app.clock.now())


async def audits(web, action: str) -> list[AuditEntry]:
    return await rows(web, AuditEntry, AuditEntry.action == action)


# --- the calendar -------------------------------------------------------------------------


async def test_the_calendar_shows_the_day_with_its_place_hours_and_counts(web) -> None:
    seeded = await seed(web)
    async with web.app.sessions() as s:
        (await s.get(Pickup, seeded.pickups["Juan Pérez"])).status = PickupStatus.PICKED_UP
        await s.commit()
    gestora = await web.person("Daniela", Role.GESTORA)
    c = await web.signed_in(gestora)
    r = await c.get(web.url("entregas"))
    assert r.status_code == 200
    assert "marzo" in r.text and "<h1>Entregas</h1>" in r.text
    assert "Sede vecinal Lo Hermida" in r.text
    assert "10:00 a 12:00" in r.text
    assert "1 por retirar" in r.text and "1 retiró" in r.text and "0 no vinieron" in r.text
    assert f'dia/{seeded.day_id}"' in r.text
    assert "?mes=2026-02" in r.text and "?mes=2026-04" in r.text
    assert 'scope="col"' in r.text and 'aria-current="date"' in r.text
    assert "Nuevos días de entrega" in r.text  # the gestora's button
    april = await c.get(web.url("entregas") + "?mes=2026-04")
    assert "Sede vecinal" not in april.text and "abril" in april.text
    # Nonsense in the query string is this month, not a crash.
    assert (await c.get(web.url("entregas") + "?mes=trece")).status_code == 200
    card = await c.get(web.url("entregas", f"dia/{seeded.day_id}"))
    assert card.status_code == 200 and "Cambiar y avisar" in card.text


async def test_english_calendar(web) -> None:
    await seed(web)
    c = await web.signed_in(await web.person("Daniela", Role.GESTORA))
    await c.post("/web/idioma", data={"lang": "en", "back": web.url("entregas")})
    r = await c.get(web.url("entregas"))
    assert "Deliveries" in r.text and "2 to come" in r.text


# --- making days --------------------------------------------------------------------------


async def test_days_made_by_a_weekly_pattern_with_every_pickup_family(web) -> None:
    await seed(web)
    gestora = await web.person("Daniela", Role.GESTORA)
    c = await web.signed_in(gestora)
    form = await c.get(web.url("entregas", "nuevo"))
    assert form.status_code == 200
    assert 'value="Sede vecinal Lo Hermida"' in form.text  # "same place as last time"
    assert "Sector Villa Sur" in form.text
    r = await c.post(web.url("entregas", "nuevo"), data={
        "modo": "retiro", "fecha": "2026-03-12", "inicio": "10:00", "fin": "12:00",
        "lugar": "Parroquia San José", "direccion": "Los Aromos 123", "repetir": "1",
        "veces": "4", "familias": "all"})
    assert r.status_code == 200
    assert "quedaron 4 días" in r.text
    days = await rows(web, DeliveryDay, DeliveryDay.place == "Parroquia San José")
    assert [d.window_start for d in days] == [
        datetime(2026, 3, d, 13, 0, tzinfo=UTC) for d in (12, 19, 26)
    ] + [datetime(2026, 4, 2, 13, 0, tzinfo=UTC)]
    assert all(d.window_end - d.window_start == timedelta(hours=2) for d in days)
    on_them = await rows(web, Pickup, Pickup.delivery_day_id.in_([d.id for d in days]))
    assert len(on_them) == 8  # Rosa and Juan, not Ana (home delivery), on each day
    [made] = await audits(web, "delivery_days_created")
    assert made.actor_id == gestora.id and made.channel == "web"
    assert made.details["ids"] == [d.id for d in days]
    [assigned] = await audits(web, "families_assigned")
    assert assigned.details["added"] == 8


async def test_one_day_for_a_sector_every_other_week_until_a_date(web) -> None:
    await seed(web)
    c = await web.signed_in(await web.person("Daniela", Role.GESTORA))
    r = await c.post(web.url("entregas", "nuevo"), data={
        "modo": "retiro", "fecha": "9/3", "inicio": "15", "fin": "17:30", "lugar": "Sede",
        "repetir": "2", "hasta": "2026-04-06", "familias": "sector=Villa Sur"})
    assert r.status_code == 200
    days = await rows(web, DeliveryDay, DeliveryDay.place == "Sede")
    assert [d.window_start.date() for d in days] == [date(2026, 3, 9), date(2026, 3, 23),
                                                     date(2026, 4, 6)]
    on_them = await rows(web, Pickup, Pickup.delivery_day_id.in_([d.id for d in days]))
    assert len(on_them) == 3  # Juan only: Ana is in Villa Sur but served at home


@pytest.mark.parametrize(("data", "field", "words"), [
    ({"fecha": ""}, "fecha", "Falta la fecha"),
    ({"fecha": "2026-02-20"}, "fecha", "ya pasó"),
    ({"fecha": "mañana tipo"}, "fecha", ""),
    ({"fin": "09:00"}, "fin", "va después"),
    ({"inicio": "las tantas"}, "inicio", "No entendí la hora"),
    ({"repetir": "1"}, "veces", ""),
    ({"repetir": "1", "veces": "900"}, "veces", "entre 1 y 52"),
    ({"familias": "sector=Narnia"}, "familias", ""),
])
async def test_bad_input_comes_back_with_a_message_beside_the_field(web, data, field,
                                                                     words) -> None:
    c = await web.signed_in(await web.person("Daniela", Role.GESTORA))
    base = {"modo": "retiro", "fecha": "2026-03-12", "inicio": "10:00", "fin": "12:00",
            "lugar": "Sede", "repetir": "0", "familias": "later"}
    r = await c.post(web.url("entregas", "nuevo"), data={**base, **data})
    assert r.status_code == 422
    assert f'id="f-{field}-note" class="late"' in r.text
    note = r.text.split(f'id="f-{field}-note" class="late">', 1)[1].split("<", 1)[0]
    assert note.strip() and words in note
    assert 'value="Sede"' in r.text  # what she typed stays
    assert await rows(web, DeliveryDay) == []
    assert await audits(web, "delivery_days_created") == []


# --- moving and cancelling a day ----------------------------------------------------------


async def test_moving_a_day_tells_the_families_that_had_the_date(web) -> None:
    seeded = await seed(web)
    gestora = await web.person("Daniela", Role.GESTORA)
    c = await web.signed_in(gestora)
    rosa = seeded.pickups["Rosa González"]
    r = await c.post(web.url("entregas", f"dia/{seeded.day_id}/mover"),
                     data={"fecha": "2026-03-06", "inicio": "11:00", "fin": "13:00"})
    assert r.status_code == 200 and "Avisamos a 1 familia" in r.text
    [day] = await rows(web, DeliveryDay, DeliveryDay.id == seeded.day_id)
    assert day.window_start == datetime(2026, 3, 6, 14, 0, tzinfo=UTC)
    assert day.window_end == datetime(2026, 3, 6, 16, 0, tzinfo=UTC)
    told = await rows(web, OutboxMessage, OutboxMessage.idempotency_key.like(f"pickup:{rosa}:%"))
    by_key = {m.idempotency_key.split(":", 2)[2]: m for m in told}
    # The first notice, not yet sent, is withdrawn; the new date is queued for Rosa.
    assert by_key["notice"].status == OutboxStatus.DROPPED
    moved = by_key["day_moved:20260306T1400"]
    assert moved.status == OutboxStatus.PENDING and moved.person_id == seeded.rosa_person
    assert moved.payload["text"]["k"] == "pickup.moved_notice"
    assert moved.payload["text"]["p"]["window"]["$msg"]["p"]["start"]["$when"].startswith(
        "2026-03-06T14:00")
    # Juan had not been told yet: the scheduler tells him the new date when due.
    assert await rows(web, OutboxMessage, OutboxMessage.idempotency_key.like(
        f"pickup:{seeded.pickups['Juan Pérez']}:%")) == []
    [entry] = await audits(web, "delivery_day_moved")
    assert entry.actor_id == gestora.id and entry.details["notified"] == 1
    assert entry.details["old_start"].startswith("2026-03-05T13:00")


async def test_a_move_into_the_past_or_onto_the_same_hours_is_refused(web) -> None:
    seeded = await seed(web)
    c = await web.signed_in(await web.person("Daniela", Role.GESTORA))
    url = web.url("entregas", f"dia/{seeded.day_id}/mover")
    past = await c.post(url, data={"fecha": "2026-03-01", "inicio": "10:00", "fin": "12:00"})
    assert past.status_code == 422 and 'id="f-fecha-note" class="late"' in past.text
    same = await c.post(url, data={"fecha": "2026-03-05", "inicio": "10:00", "fin": "12:00"})
    assert same.status_code == 422 and "Es la misma fecha" in same.text
    assert await audits(web, "delivery_day_moved") == []


async def test_cancelling_a_day_tells_the_families_and_closes_the_list(web) -> None:
    seeded = await seed(web)
    c = await web.signed_in(await web.person("Daniela", Role.GESTORA))
    r = await c.post(web.url("entregas", f"dia/{seeded.day_id}/cancelar"))
    assert r.status_code == 200 and "Día suspendido" in r.text
    [day] = await rows(web, DeliveryDay, DeliveryDay.id == seeded.day_id)
    assert day.cancelled_at is not None
    rosa = seeded.pickups["Rosa González"]
    [notice] = await rows(web, OutboxMessage,
                          OutboxMessage.idempotency_key == f"pickup:{rosa}:cancelled")
    assert notice.person_id == seeded.rosa_person
    assert [a.details["notified"] for a in await audits(web, "delivery_day_cancelled")] == [1]
    again = await c.post(web.url("entregas", f"dia/{seeded.day_id}/cancelar"))
    assert again.status_code == 422  # told kindly, not cancelled twice
    lst = await c.get(web.url("entregas", f"dia/{seeded.day_id}/lista"))
    assert "está suspendido" in lst.text and "Retiró" not in lst.text


# --- the day list at the door -------------------------------------------------------------


async def test_the_premises_staff_mark_a_pickup_with_one_tap(web) -> None:
    seeded = await seed(web)
    recinto = await web.person("Marta del recinto", Role.RECINTO)
    into_the_window(web)
    c = await web.signed_in(recinto)
    page = await c.get(web.url("entregas", f"dia/{seeded.day_id}/lista"))
    assert page.status_code == 200
    assert "Rosa González" in page.text and "Juan Pérez" in page.text
    assert "Lo Hermida" in page.text and "···678-5" in page.text
    assert "Retiro en el local" in page.text
    assert "2 familias" in page.text and "2 por retirar" in page.text
    juan = seeded.pickups["Juan Pérez"]
    r = await c.post(web.url("entregas", f"dia/{seeded.day_id}/lista/{juan}"),
                     data={"marca": "retiro"}, headers=HTMX)
    assert r.status_code == 200
    assert r.text.lstrip().startswith(f'<tr id="fila-{juan}"')
    assert 'aria-pressed="true"' in r.text and 'hx-swap-oob="true"' in r.text
    assert "1 retiró" in r.text
    [pickup] = await rows(web, Pickup, Pickup.id == juan)
    assert pickup.status == PickupStatus.PICKED_UP and pickup.marked_by == recinto.id
    assert pickup.handed_at is not None
    [entry] = await audits(web, "pickup_marked")
    assert entry.actor_id == recinto.id and entry.entity_id == juan
    assert entry.details["status"] == "picked_up"
    # Without JavaScript: a plain form post, then the list again.
    rosa = seeded.pickups["Rosa González"]
    plain = await c.post(web.url("entregas", f"dia/{seeded.day_id}/lista/{rosa}"),
                         data={"marca": "no_vino"})
    assert plain.status_code == 200 and "1 no vino" in plain.text
    [pickup] = await rows(web, Pickup, Pickup.id == rosa)
    assert pickup.status == PickupStatus.NO_SHOW and pickup.marked_by == recinto.id
    # The search she had typed comes back whole, "#" and "&" included.
    again = await c.post(web.url("entregas", f"dia/{seeded.day_id}/lista/{rosa}"),
                         data={"marca": "retiro", "q": "González & #1"},
                         follow_redirects=False)
    assert again.status_code == 303
    assert again.headers["location"].endswith(
        f"/lista?q=Gonz%C3%A1lez+%26+%231#fila-{rosa}")


async def test_marking_before_the_hours_start_is_refused_kindly(web) -> None:
    seeded = await seed(web)
    marta = await web.person("Marta", Role.RECINTO)
    c = await web.signed_in(marta)
    juan = seeded.pickups["Juan Pérez"]
    url = web.url("entregas", f"dia/{seeded.day_id}/lista/{juan}")
    page = await c.get(web.url("entregas", f"dia/{seeded.day_id}/lista"))
    assert "Se puede marcar desde las 10:00" in page.text
    r = await c.post(url, data={"marca": "retiro"}, headers=HTMX)
    assert r.status_code == 200 and 'role="alert"' in r.text and "Todavía no" in r.text
    plain = await c.post(url, data={"marca": "retiro"})
    assert plain.status_code == 422
    into_the_window(web)
    c = await web.signed_in(marta)  # days later: a new session
    odd = await c.post(url, data={"marca": "quizas"})
    assert odd.status_code == 422 and "No pudimos marcar" in odd.text
    [pickup] = await rows(web, Pickup, Pickup.id == juan)
    assert pickup.status == PickupStatus.PENDING
    assert await audits(web, "pickup_marked") == []


async def test_the_list_is_searchable_and_printable(web) -> None:
    seeded = await seed(web)
    c = await web.signed_in(await web.person("Marta", Role.RECINTO))
    url = web.url("entregas", f"dia/{seeded.day_id}/lista")
    found = await c.get(url + "?q=gonzalez")
    assert "Rosa González" in found.text and "Juan Pérez" not in found.text
    by_sector = await c.get(url + "?q=villa", headers={**HTMX, "HX-Target": "rows"})
    assert "<html" not in by_sector.text and "Juan Pérez" in by_sector.text
    assert "Rosa" not in by_sector.text
    page = await c.get(url)
    assert "deliveries.css" in page.text and "data-print" in page.text
    download = web.url("entregas", f"dia/{seeded.day_id}/descargar")
    printed = await c.get(download + "?formato=pdf")
    assert printed.status_code == 200 and printed.content.startswith(b"%PDF")
    assert "attachment" in printed.headers["content-disposition"]
    # The sheets carry reasons and whole RUTs: the team's, not the door's.
    for fmt in ("csv", "xlsx"):
        refused = await c.get(download + f"?formato={fmt}")
        assert refused.status_code == 403 and "12.345.678" not in refused.text
    team = await web.signed_in(await web.person("Daniela", Role.GESTORA))
    sheet = await team.get(download + "?formato=csv")
    assert sheet.status_code == 200 and "attachment" in sheet.headers["content-disposition"]
    assert "Rosa González" in sheet.content.decode("utf-8-sig")
    supervisor = await web.signed_in(await web.person("Sonia", Role.SUPERVISOR))
    assert (await supervisor.get(download + "?formato=xlsx")).status_code == 200


# --- who may do what ----------------------------------------------------------------------


async def test_the_premises_staff_see_only_the_day_lists(web) -> None:
    seeded = await seed(web)
    c = await web.signed_in(await web.person("Marta", Role.RECINTO))
    start = await c.get(web.url("entregas"))
    assert start.status_code == 200 and str(start.url).endswith("/entregas/listas")
    assert f"dia/{seeded.day_id}/lista" in start.text
    assert "Nuevos días" not in start.text and "?mes=" not in start.text
    day = web.url("entregas", f"dia/{seeded.day_id}")
    for url in (day, web.url("entregas", "nuevo")):
        assert (await c.get(url)).status_code == 403
    plan = {"modo": "retiro", "fecha": "2026-03-12", "inicio": "10:00", "fin": "12:00",
            "repetir": "0", "familias": "later"}
    assert (await c.post(web.url("entregas", "nuevo"), data=plan)).status_code == 403
    for op in ("mover", "cancelar", "asignar"):
        r = await c.post(day + "/" + op, data={"fecha": "2026-03-06", "inicio": "10:00",
                                         "fin": "12:00", "familias": "all"})
        assert r.status_code == 403
    assert await rows(web, DeliveryDay, DeliveryDay.id != seeded.day_id) == []
    [same] = await rows(web, DeliveryDay)
    assert same.cancelled_at is None and same.window_start.day == 5


async def test_the_supervisor_reads_everything_and_changes_nothing(web) -> None:
    seeded = await seed(web)
    supervisora = await web.person("Supervisora FOSIS", Role.SUPERVISOR)
    c = await web.signed_in(supervisora)
    cal = await c.get(web.url("entregas"))
    assert cal.status_code == 200 and "Sede vecinal" in cal.text
    assert "Nuevos días" not in cal.text
    card = await c.get(web.url("entregas", f"dia/{seeded.day_id}"))
    assert card.status_code == 200 and "Cambiar y avisar" not in card.text
    into_the_window(web)
    c = await web.signed_in(supervisora)
    lst = await c.get(web.url("entregas", f"dia/{seeded.day_id}/lista"))
    assert lst.status_code == 200 and 'name="marca"' not in lst.text
    juan = seeded.pickups["Juan Pérez"]
    posts = {
        f"dia/{seeded.day_id}/lista/{juan}": {"marca": "retiro"},
        "nuevo": {"modo": "retiro", "fecha": "2026-03-12", "inicio": "10", "fin": "12"},
        f"dia/{seeded.day_id}/mover": {"fecha": "2026-03-06", "inicio": "10", "fin": "12"},
        f"dia/{seeded.day_id}/cancelar": {},
    }
    for rest, data in posts.items():
        assert (await c.post(web.url("entregas", rest), data=data)).status_code == 403
    [pickup] = await rows(web, Pickup, Pickup.id == juan)
    assert pickup.status == PickupStatus.PENDING
    assert len(await rows(web, DeliveryDay)) == 1


async def test_no_session_no_data_and_another_programmes_day_is_not_found(web) -> None:
    seeded = await seed(web)
    anonymous = web.browser()
    r = await anonymous.get(web.url("entregas", f"dia/{seeded.day_id}/lista"))
    assert "Rosa" not in r.text and str(r.url).endswith("/web/entrar")
    other = await web.another_programme("Otro", start=date(2026, 3, 1))
    gestora = await web.person("Daniela", Role.GESTORA)
    async with web.app.sessions() as s:
        from storage import people
        from storage.models import Person
        person = await s.get(Person, gestora.id)
        await people.grant(s, person, Role.GESTORA, other.id, web.app.clock.now())
        await s.commit()
    c = await web.signed_in(gestora)
    r = await c.get(web.url("entregas", f"dia/{seeded.day_id}/lista", program_id=other.id))
    assert r.status_code == 404 and "Rosa" not in r.text


async def test_the_command_line_moves_a_day_the_same_way(web, capsys) -> None:
    """`convoca delivery reschedule` calls the panel's service: same notices, same audit."""
    import cli_harness

    from bot import cli_delivery
    from bot.commands import CommandError

    seeded = await seed(web)
    out = await cli_harness.lines(cli_delivery, web.app, capsys, "delivery", "reschedule",
                                  str(seeded.day_id), "--date", "2026-03-06", "--from", "11",
                                  "--to", "13")
    assert any("aviso a 1 familia" in line for line in out)
    [day] = await rows(web, DeliveryDay, DeliveryDay.id == seeded.day_id)
    assert day.window_start == datetime(2026, 3, 6, 14, 0, tzinfo=UTC)
    rosa = seeded.pickups["Rosa González"]
    assert await rows(web, OutboxMessage, OutboxMessage.idempotency_key
                      == f"pickup:{rosa}:day_moved:20260306T1400")
    [entry] = await audits(web, "delivery_day_moved")
    assert entry.channel == "cli" and entry.details["notified"] == 1
    with pytest.raises(CommandError, match="ya pasó"):
        await cli_delivery.run(web.app, cli_harness.parse(
            cli_delivery, "delivery", "reschedule", str(seeded.day_id), "--date", "2026-03-02",
            "--from", "08", "--to", "09"))


async def test_a_moved_or_cancelled_day_is_delivered_now_not_at_the_next_poll(web) -> None:
    woken: list[list[int]] = []

    async def deliver_now(rows: list[int]) -> None:
        woken.append(rows)

    web.panel.wake_outbox = deliver_now
    seeded = await seed(web)
    c = await web.signed_in(await web.person("Daniela", Role.GESTORA))
    rosa = seeded.pickups["Rosa González"]
    await c.post(web.url("entregas", f"dia/{seeded.day_id}/mover"),
                 data={"fecha": "2026-03-06", "inicio": "11:00", "fin": "13:00"})
    [moved] = await rows(web, OutboxMessage, OutboxMessage.idempotency_key.like(
        f"pickup:{rosa}:day_moved:%"))
    assert woken == [[moved.id]]
    await c.post(web.url("entregas", f"dia/{seeded.day_id}/cancelar"))
    [cancelled] = await rows(web, OutboxMessage,
                             OutboxMessage.idempotency_key == f"pickup:{rosa}:cancelled")
    assert woken == [[moved.id], [cancelled.id]]


async def test_two_tablets_at_the_door_see_each_others_marks(web) -> None:
    seeded = await seed(web)
    into_the_window(web)
    first = await web.signed_in(await web.person("Marta", Role.RECINTO))
    second = await web.signed_in(await web.person("Pablo", Role.RECINTO))
    url = web.url("entregas", f"dia/{seeded.day_id}/lista")
    page = await first.get(url + "?q=perez")
    assert f'<tbody id="rows" hx-get="{url}" hx-trigger="every 10s" hx-include="#f-q"' in page.text
    assert 'data-live-pause="#f-q"' in page.text and 'value="perez"' in page.text
    juan = seeded.pickups["Juan Pérez"]
    await second.post(web.url("entregas", f"dia/{seeded.day_id}/lista/{juan}"),
                      data={"marca": "retiro"}, headers=HTMX)
    # The first tablet's refresh, with its search box's words (hx-include).
    live = await first.get(url + "?q=perez", headers={**HTMX, "HX-Target": "rows"})
    assert live.status_code == 200 and "<html" not in live.text
    assert f'<tr id="fila-{juan}" class="retiro">' in live.text
    assert "Rosa González" not in live.text  # the search still holds
    assert 'id="counts"' in live.text and 'hx-swap-oob="true"' in live.text
    assert "1 retiró" in live.text and "1 por retirar" in live.text
    everyone = await first.get(url, headers={**HTMX, "HX-Target": "rows"})
    assert "Rosa González" in everyone.text and "Juan Pérez" in everyone.text


async def test_a_suspended_day_list_does_not_refresh(web) -> None:
    seeded = await seed(web)
    c = await web.signed_in(await web.person("Daniela", Role.GESTORA))
    await c.post(web.url("entregas", f"dia/{seeded.day_id}/cancelar"))
    page = await c.get(web.url("entregas", f"dia/{seeded.day_id}/lista"))
    assert page.status_code == 200 and 'hx-trigger="every' not in page.text
