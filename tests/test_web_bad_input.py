"""Whatever arrives in an address, a query or a form, the panel answers 4xx, never a 500: ids
beyond the database's integer, digits int() refuses ('²'), years no one means, a POST with no
form at all, and an empty or garbage form sent to every POST route of every section."""

from __future__ import annotations

import re
from datetime import date, time

import pytest
from sqlalchemy import select
from starlette.routing import Route

from storage import admin_meetings, delivery, programs
from storage.delivery import DayPlan
from storage.models import ActionItem, Family, Meeting, Milestone, Pickup, PickupMode, Role
from web.forms import form_id, small_int
from web.pages import ROUTES

BIG = "99999999999999999999999"  # past SQLite's 64-bit integer
SUPERSCRIPT = "²"  # str.isdigit() says yes, int() says no


async def _world(web) -> tuple[object, dict[str, str]]:
    """A gestora signed in, and one row of each kind a route names by id."""
    gestora = await web.person("Daniela Vergara", Role.GESTORA)
    ana = await web.person("Ana Pérez", Role.FAMILIA)
    now = web.app.clock.now()
    async with web.app.sessions() as s:
        program = await programs.get(s, web.program.id)
        family = Family(program_id=program.id, name="Rosa González", rut="12.345.678-5",
                        sector="Lo Hermida", created_at=now)
        s.add(family)
        await s.flush()
        [day] = await delivery.create_days(s, program, DayPlan(
            PickupMode.RETIRO, (date(2026, 3, 5),), time(10), time(12), place="Sede"), now)
        await delivery.assign(s, [day], [family.id])
        pickup = await s.scalar(select(Pickup).where(Pickup.family_id == family.id))
        meeting = Meeting(program_id=program.id, kind="reunion", starts_at=now.replace(
            year=2026, month=3, day=17), status="scheduled", created_at=now)
        s.add(meeting)
        await s.flush()
        guest = await admin_meetings.add_guest(s, meeting, name="Marta Ríos", now=now)
        milestone = await s.scalar(select(Milestone).where(
            Milestone.program_id == program.id).limit(1))
        action = await s.scalar(select(ActionItem).limit(1))
        await s.commit()
        ids = {"mid": str(meeting.id), "person": str(ana.id), "guest": str(guest.id),
               "day_id": str(day.id), "pickup_id": str(pickup.id),
               "aid": str(action.id if action else 1), "batch": "web0123456789abcdef",
               "rid": str(family.id)}
        ids["milestone"] = str(milestone.id)
    return await web.signed_in(gestora), ids


def _path(web, route: Route, ids: dict[str, str]) -> str:
    path = route.path

    def value(m: re.Match[str]) -> str:
        name = m.group(1)
        if name == "pid":
            return str(web.program.id)
        if name == "mid" and "/etapas/" in route.path:
            return ids["milestone"]
        return ids.get(name, "1")

    return "/web" + re.sub(r"\{(\w+)(?::\w+)?\}", value, path)


def test_ids_from_forms_are_ascii_digits_the_database_holds() -> None:
    assert form_id("42") == 42 and form_id(" 7 ") == 7
    assert form_id(SUPERSCRIPT) is None and form_id(BIG) is None and form_id("-1") is None
    assert form_id("١٢") is None and form_id(None) is None and form_id("") is None
    assert small_int("3") == 3 and small_int(BIG, 1) == 1 and small_int(SUPERSCRIPT) is None


@pytest.mark.parametrize(("method", "where", "data"), [
    ("GET", ("entregas", "?mes=9999-12"), None),
    ("GET", ("entregas", "?mes=0001-01"), None),
    ("GET", ("organizaciones", "familias?importadas=" + SUPERSCRIPT), None),
    ("GET", ("organizaciones", "familias?page=" + BIG), None),
    ("GET", ("organizaciones", "?page=" + SUPERSCRIPT), None),
    ("GET", ("etapas", "?aviso=moved&m=" + SUPERSCRIPT), None),
    ("GET", ("etapas", "?aviso=moved&m=" + BIG), None),
    ("GET", ("reuniones", "?aviso=created&n=" + BIG), None),
    ("GET", ("organizaciones", "o/" + BIG), None),
    ("GET", ("reuniones", BIG + "/"), None),
    ("GET", ("documentos", "verificadores/archivo?de=" + BIG), None),
    ("GET", ("mensajes", "cuantos?target=body:" + BIG), None),
    ("GET", ("mensajes", "vista-previa?text=hola&target=no_answer:" + BIG), None),
    ("GET", ("mensajes", "cuantos?target=organizations:some&org=" + SUPERSCRIPT), None),
    ("POST", ("mensajes", "nuevo"), {"text": "Hola", "target": "organizations:some",
                                     "org": [SUPERSCRIPT, BIG]}),
    ("POST", ("mensajes", "nuevo"), {"text": "Hola", "target": "families", "when": "later",
                                     "day": "9999-12-31", "at": "23:00"}),
    ("POST", ("mensajes", "nuevo"), {"text": "Hola", "target": "body:" + BIG}),
    ("POST", ("etapas", "{milestone}/fecha"), {"due": "31-12-9999"}),
    ("POST", ("entregas", "nuevo"), {"fecha": "9999-12-31", "inicio": "23:00",
                                     "fin": "23:30"}),
    ("POST", ("reuniones", "nueva"), {"date": "9999-12-31", "time": "23:00",
                                      "invite": "everyone"}),
    ("POST", ("reuniones", "{mid}/mover"), {"date": "9999-12-31", "time": "23:59"}),
    ("POST", ("organizaciones", "tarjetas"), {"target": "family", "id": BIG}),
    ("POST", ("organizaciones", "tarjetas"), {"target": "family", "id": SUPERSCRIPT}),
])
async def test_bad_input_is_refused_not_a_crash(web, method, where, data) -> None:
    c, ids = await _world(web)
    section, rest = where
    url = web.url(section, rest.format(milestone=ids["milestone"], mid=ids["mid"]))
    r = await (c.get(url) if method == "GET" else c.post(url, data=data))
    assert r.status_code < 500, r.text


async def test_an_id_past_the_database_integer_is_not_found(web) -> None:
    c, _ = await _world(web)
    r = await c.get(f"/web/p/{BIG}/")
    assert r.status_code == 404
    r = await c.get(web.url("reuniones", f"{BIG}/asistencia"))
    assert r.status_code == 404


async def test_a_post_with_the_token_but_no_form_is_an_empty_form(web) -> None:
    c, _ = await _world(web)
    r = await c.post(web.url("mensajes", "nuevo"), content=b'{"text": "hola"}',
                     headers={"content-type": "application/json", "x-csrf-token": c.csrf})
    assert r.status_code == 422 and "<h1>" in r.text


def _post_routes() -> list[Route]:
    return [r for r in ROUTES if isinstance(r, Route) and "POST" in (r.methods or ())]


@pytest.mark.parametrize("route", _post_routes(), ids=lambda r: r.path)
async def test_every_post_route_takes_an_empty_or_garbage_form(web, route: Route) -> None:
    c, ids = await _world(web)
    url = _path(web, route, ids)
    garbage = {name: value for name in (
        "text", "target", "org", "when", "day", "at", "date", "time", "invite", "body", "kind",
        "present", "reason", "name", "rut", "fecha", "inicio", "fin", "repetir", "veces",
        "hasta", "familias", "modo", "marca", "q", "due", "status", "note", "id", "token",
        "action", "place", "agenda", "repeat", "kind", "file")
        for value in ([SUPERSCRIPT, BIG, "\x00", "9999-12-31", "<script>"],)}
    for data in ({}, garbage, {"date": "9999-12-31", "time": "23:59", "fecha": "0001-01-01",
                               "day": "9999-12-31", "at": "23:59", "due": "9999-12-31"}):
        r = await c.post(url, data=data)
        assert r.status_code < 500, (route.path, data, r.text[:500])
    r = await c.post(url, content=b"\xff\xfe not a form", headers={
        "content-type": "application/x-www-form-urlencoded", "x-csrf-token": c.csrf})
    assert r.status_code < 500, route.path
    r = await c.post(url, content=b"{}", headers={"content-type": "application/json",
                                                  "x-csrf-token": c.csrf})
    assert r.status_code < 500, route.path
