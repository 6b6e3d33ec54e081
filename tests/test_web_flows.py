"""The gestora's flows in a real browser (Debian's chromium through Playwright,
tests/browser_harness.py), a screenshot at each step: the link from chat, a spreadsheet
import with a bad row, a meeting created and its attendance marked at the door on a tablet,
a broadcast scheduled for tomorrow; and every page of every section at a phone's width and
on a laptop (one <h1>, no sideways scroll, every field labelled, nothing on the console).

The programme is seeded the way the panel, the chat and the CLI fill it: organisations and
families through the import's own functions, roles granted as the chat grants them, a
delivery day and a meeting through their services."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from documents import imports
from services import meetings as meeting_use
from services import outreach
from storage import actions, admin_meetings, delivery, imported, minutes, people, programs
from storage.delivery import DayPlan
from storage.models import (
    Attendance,
    Family,
    Meeting,
    MinutesSection,
    Organization,
    OutboxMessage,
    OutboxStatus,
    Person,
    PickupMode,
    Role,
)

pytest_plugins = ("browser_harness",)
pytestmark = pytest.mark.asyncio(loop_scope="module")

# The clock stands at Monday 2 March 2026, 12:00 UTC: 09:00 in Santiago (UTC-3 in summer).
TABLET = {"width": 800, "height": 1280}
PHONE = {"width": 375, "height": 800}
DESKTOP = {"width": 1280, "height": 900}

ORGANIZATIONS_CSV = (
    "Nombre organización;Tipo;RUT;Sector;Teléfono\n"
    "Junta de Vecinos Villa Ñuñoa;Junta de vecinos;65.123.456-5;Villa Ñuñoa;+56 9 2211 3344\n"
    "Club Adulto Mayor Los Añiñuelos;Adulto mayor;;El Belloto;\n"
    "Comité de Vivienda Esperanza;Comité;;Los Aromos;+56 9 5566 7788\n"
).encode()

FAMILIES_CSV = (
    "Nombre;RUT;Teléfono;Sector;Modalidad\n"
    "Rosa González Muñoz;12.345.678-5;+56 9 2222 3333;Villa Ñuñoa;retiro\n"
    "Juan Pérez Soto;9.876.543-3;+56 9 4444 5555;El Belloto;retiro\n"
    "Ana Soto Lagos;;+56 9 6666 7777;Los Aromos;domicilio\n"
    "Begoña Zúñiga Díaz;;+56 9 8888 9999;Villa Ñuñoa;retiro\n"
    "Iñaki Muñoz Ortúzar;;+56 9 1212 3434;El Belloto;retiro\n"
).encode()

# Linked to the bot: they receive broadcasts (the others are counted as not linked).
LINKED = ("Rosa González Muñoz", "Juan Pérez Soto", "Begoña Zúñiga Díaz")
MEMBERS = ("Ana Pérez Rojas", "Beto Soto Vidal", "Carla Núñez Peña")


@dataclass
class Seeded:
    gestora: Person
    members: list[Person]
    grupo_motor: int
    organization: int
    family: int
    day: int
    meeting: int | None


async def _import(s, program_id: int, name: str, content: bytes, make, now: datetime) -> None:
    preview = await make(s, program_id, name, content, now)
    assert preview.can_commit and not any(r.problems for r in preview.rows), preview
    await imported.commit_import(s, preview, now, channel="cli")


async def seed(site, *, meeting: bool = True) -> Seeded:
    """A programme a few weeks in: three organisations, five families (three on the bot),
    the Grupo Motor with three people, a delivery day on Thursday with the families who pick
    up, and (unless told not to) a Grupo Motor meeting in two weeks with everyone invited."""
    web = site.web
    now = web.app.clock.now()
    gestora = await web.person("Daniela Vergara", Role.GESTORA)
    members = [await web.person(n) for n in MEMBERS]
    async with web.app.sessions() as s:
        program = await programs.get(s, web.program.id)
        await _import(s, program.id, "organizaciones.csv", ORGANIZATIONS_CSV,
                      imports.preview_organizations, now)
        await _import(s, program.id, "familias.csv", FAMILIES_CSV, imports.preview_families,
                      now)
        families = {f.name: f for f in (await s.scalars(
            select(Family).where(Family.program_id == program.id))).all()}
        for i, name in enumerate(LINKED):
            person = await people.create_with_address(s, "telegram", f"70{i:03d}", now=now,
                                                      name=name)
            person.consent_at = now
            await s.flush()
            families[name].person_id = person.id
        for m in members:
            p = await s.get(Person, m.id, options=[selectinload(Person.roles)])
            await admin_meetings.grant_role(s, p, Role.GRUPO_MOTOR, program, now)
        grupo_motor = next(b for b in await programs.bodies(s, program.id)
                           if b.kind == "grupo_motor")
        [day] = await delivery.create_days(s, program, DayPlan(
            PickupMode.RETIRO, (date(2026, 3, 5),), time(10), time(13),
            place="Sede vecinal Villa Ñuñoa"), now)
        await delivery.assign(s, [day], [f.id for f in families.values()
                                         if f.pickup_mode == PickupMode.RETIRO])
        meeting_id = None
        if meeting:
            made = await meeting_use.create(
                s, program, kind="grupo_motor", body=grupo_motor, now=now,
                starts_at=datetime(2026, 3, 17, 21, 30, tzinfo=UTC),  # 18:30 in Santiago
                place="Sede vecinal Villa Ñuñoa", agenda="Plan de trabajo y próxima feria",
                created_by=gestora.id)
            await meeting_use.invite_now(s, program, made.meeting, "members", now)
            # The widest code its alphabet makes: the phone's check must not hang on chance.
            made.meeting.checkin_code = "WMWWMW"
            meeting_id = made.meeting.id
        organization = await s.scalar(select(Organization.id).where(
            Organization.program_id == program.id).order_by(Organization.id))
        await s.commit()
        return Seeded(gestora, members, grupo_motor.id, organization,
                      families["Rosa González Muñoz"].id, day.id, meeting_id)


async def nav(view, name: str, shot: str) -> None:
    """A click on a link, as she would, and the page it leads to."""
    await view.page.get_by_role("link", name=name, exact=True).first.click()
    await view.settled(shot)


# --- 1. the link, and an import with a bad row ----------------------------------------------


async def type_day_and_time(page, day_label: str, day: str, hour: str) -> None:
    """Typed as she would, in the order the fields show: Debian's chromium carries only the
    en-US locale pack (chromium-l10n is not installed), so its date field reads mm/dd/yyyy
    and its time field hh:mm AM/PM, whatever the page's language."""
    for label, keys in ((day_label, day), ("Hora", hour)):
        field = page.get_by_label(label, exact=True)
        await field.click()
        await field.press_sequentially(keys)


async def test_login_then_an_import_with_a_bad_row(site, tmp_path: Path) -> None:
    seeded = await seed(site, meeting=False)
    view = await site.signed_in(seeded.gestora)
    page = view.page
    await view.screenshot("inicio")
    assert await page.locator("h1").inner_text() == "Ecomercado Solidario de Quilpué"

    await nav(view, "Organizaciones y familias", "organizaciones")
    assert await page.get_by_role("link", name="Junta de Vecinos Villa Ñuñoa").is_visible()
    await nav(view, "Familias", "familias")
    assert await page.get_by_role("link", name="Rosa González Muñoz").is_visible()
    await nav(view, "Importar planilla", "importar")

    sheet = tmp_path / "familias nuevas.csv"
    sheet.write_bytes((
        "Nombre;RUT;Teléfono;Sector;Modalidad\n"
        "Marta Rojas Vidal;;+56 9 3131 4141;Los Aromos;retiro\n"
        "Luis Soto Araya;11.111.111-2;+56 9 3333 4444;El Belloto;retiro\n"  # a wrong RUT
        "Carmen Díaz Peña;;912345670;El Belloto;domicilio\n"
    ).encode())
    await page.get_by_label("¿Qué trae la planilla?").select_option("family")
    await page.get_by_label("Archivo").set_input_files(sheet)
    await page.get_by_role("button", name="Revisar planilla").click()
    await view.settled("vista-previa")
    assert "Se pueden importar 2 de 3 filas" in await page.get_by_role("status").first.inner_text()
    bad = page.locator("table tbody tr").filter(has_text="Luis Soto Araya")
    assert await bad.locator("th[scope=row]").inner_text() == "3"  # her sheet's row number
    assert "RUT" in await bad.inner_text()
    assert "Se omite" in await bad.inner_text()

    await page.get_by_role("button", name=re.compile(r"^Importar 2 filas")).click()
    await view.settled("importadas")
    assert page.url.split("?")[0].endswith("/organizaciones/familias")
    assert "se importaron 2 familias" in await page.locator("main").inner_text()
    await page.get_by_label("Buscar").fill("carmen")
    await page.get_by_label("Buscar").press("Enter")
    await view.settled("buscar-carmen")
    assert await page.get_by_role("link", name="Carmen Díaz Peña").is_visible()
    assert not await page.get_by_role("link", name="Luis Soto Araya").count()
    async with site.web.app.sessions() as s:
        names = set((await s.scalars(select(Family.name))).all())
    assert {"Marta Rojas Vidal", "Carmen Díaz Peña"} <= names
    assert "Luis Soto Araya" not in names


# --- 2. a meeting created, and its attendance marked at the door ------------------------------


async def test_create_a_meeting_and_mark_attendance_on_a_tablet(site) -> None:
    seeded = await seed(site, meeting=False)
    view = await site.signed_in(seeded.gestora)
    page = view.page
    await nav(view, "Reuniones", "reuniones")
    await nav(view, "Nueva reunión", "nueva-reunion")

    body = page.get_by_label("Instancia", exact=True)
    grupo = await body.locator("option", has_text="Grupo Motor").get_attribute("value")
    await body.select_option(grupo)
    await type_day_and_time(page, "Fecha", "03022026", "0630PM")
    assert await page.get_by_label("Fecha", exact=True).input_value() == "2026-03-02"
    assert await page.get_by_label("Hora", exact=True).input_value() == "18:30"
    await page.get_by_label("Lugar", exact=True).press_sequentially("Sede vecinal Villa Ñuñoa")
    await page.get_by_label("A las personas de la instancia").check()
    await view.screenshot("nueva-reunion-llena")
    await page.get_by_role("button", name="Crear reunión").click()
    await view.settled("reunion-creada")

    async with site.web.app.sessions() as s:
        meeting = await s.scalar(select(Meeting))
        invited = (await s.scalars(select(OutboxMessage.person_id).where(
            OutboxMessage.kind == "invitation"))).all()
    assert meeting.starts_at.replace(tzinfo=UTC) == datetime(2026, 3, 2, 21, 30, tzinfo=UTC)
    assert sorted(invited) == sorted(m.id for m in seeded.members)
    assert page.url.endswith(f"/reuniones/{meeting.id}/?aviso=created&n=1")
    board = page.locator("#board")
    assert "Sin respuesta (3)" in await board.inner_text()
    for m in seeded.members:
        assert m.name in await board.inner_text()

    # At the door, on a tablet, the evening of the meeting.
    site.web.app.clock.advance(timedelta(hours=9, minutes=25))  # 18:25 in Santiago
    await page.set_viewport_size(TABLET)
    await page.get_by_role("link", name="Tomar asistencia").click()
    await view.settled("asistencia-tablet")
    tally = page.locator("#tally")
    assert await tally.inner_text() == "Presentes: 0 de 3 personas invitadas"
    ana, beto, carla = seeded.members
    for person, mark, count in ((ana, "Presente", 1), (carla, "Presente", 2),
                                (beto, "Ausente", 2)):
        row = page.locator(f"tr#p{person.id}")
        button = row.get_by_role("button", name=f"Marcar {mark.lower()} a {person.name}")
        assert await button.inner_text() == mark
        await button.click()
        # htmx swaps the row in place and the count at the top with it (hx-swap-oob).
        pressed = page.locator(f"tr#p{person.id}").get_by_role(
            "button", name=f"Marcar {mark.lower()} a {person.name}", pressed=True)
        await pressed.wait_for()
        await tally.filter(has_text=f"Presentes: {count} de 3").wait_for()
        await view.settled(f"marcada-{person.name.split()[0].lower()}")
    assert "is-present" in await page.locator(f"tr#p{ana.id}").get_attribute("class")
    assert "is-absent" in await page.locator(f"tr#p{beto.id}").get_attribute("class")
    assert page.url.endswith("/asistencia")  # no page load: the rows were swapped
    async with site.web.app.sessions() as s:
        marks = {a.person_id: a.present for a in (await s.scalars(select(Attendance))).all()}
    assert marks == {ana.id: True, carla.id: True, beto.id: False}

    async with page.expect_download() as downloading:
        await page.get_by_role("link", name="Lista de asistencia para imprimir (PDF)").click()
    download = await downloading.value
    assert download.suggested_filename.endswith(".pdf")
    pdf = await asyncio.to_thread(Path(await download.path()).read_bytes)
    assert pdf[:5] == b"%PDF-"


# --- 3. a broadcast scheduled for tomorrow ----------------------------------------------------


async def test_a_broadcast_scheduled_for_tomorrow_waits_in_the_outbox(site) -> None:
    seeded = await seed(site)
    view = await site.signed_in(seeded.gestora)
    page = view.page
    await nav(view, "Mensajes", "mensajes")
    await nav(view, "Escribir un mensaje", "mensaje-nuevo")

    text = ("Hola, les recordamos que el jueves 5 de marzo es el día de retiro en la sede "
            "vecinal Villa Ñuñoa, de 10:00 a 13:00. ¡Las esperamos!")
    await page.get_by_label("Mensaje", exact=True).press_sequentially(text, delay=0)
    reach = page.locator("#reach")
    target = page.get_by_label("¿Quién lo recibe?", exact=True)
    # Another group first, then back: the count follows the choice (htmx asks the server).
    await target.select_option(label="todas las organizaciones (sus representantes)")
    await reach.filter(has_text="0 personas recibirán").wait_for()
    await target.select_option(label="todas las familias")
    await reach.filter(has_text="3 personas recibirán este mensaje.").wait_for()
    await view.settled("mensaje-cuantos")
    # The two families not on the bot yet, counted apart and named.
    assert "2 aún no se vinculan" in await reach.inner_text()
    assert "Ana Soto Lagos" in await reach.inner_text()

    await page.get_by_role("button", name="Ver cómo se verá").click()
    preview = page.locator("#preview")
    await preview.get_by_text("Villa Ñuñoa, de 10:00 a 13:00").first.wait_for()
    await view.settled("mensaje-vista-previa")
    assert "Ecomercado Solidario de Quilpué" in await preview.inner_text()

    await page.get_by_label("Programar para un día y hora").check()
    # Tomorrow, Tuesday 3 March, at 10:00 in Santiago.
    await type_day_and_time(page, "Día", "03032026", "1000AM")
    assert await page.get_by_label("Día", exact=True).input_value() == "2026-03-03"
    assert await page.get_by_label("Hora", exact=True).input_value() == "10:00"
    await view.screenshot("mensaje-programado-lleno")
    await page.get_by_role("button", name="Enviar", exact=True).click()
    await view.settled("mensaje-programado")

    main = page.locator("main")
    assert re.search(r"/mensajes/web[0-9a-f]{16}$", page.url)
    assert "Programado para el martes 3 de marzo, 10:00" in await main.inner_text()
    figures = page.locator("#progress dl")
    assert await figures.locator("div", has_text="Programados").locator("dd").inner_text() == "3"
    assert await figures.locator("div", has_text="Enviados").locator("dd").inner_text() == "0"
    batch = page.url.rsplit("/", 1)[1]
    async with site.web.app.sessions() as s:
        rows = (await s.scalars(select(OutboxMessage).where(
            OutboxMessage.batch == batch))).all()
    assert len(rows) == 3
    # 10:00 in Santiago (UTC-3 in summer) is 13:00 UTC; nothing has gone.
    assert {r.not_before.replace(tzinfo=UTC) for r in rows} == {
        datetime(2026, 3, 3, 13, 0, tzinfo=UTC)}
    assert {r.status for r in rows} == {OutboxStatus.PENDING}

    # Called off before its time: she confirms, nothing will go.
    page.once("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
    await page.get_by_role("button", name="Cancelar el envío").click()
    await view.settled("mensaje-cancelado")
    async with site.web.app.sessions() as s:
        statuses = set((await s.scalars(select(OutboxMessage.status).where(
            OutboxMessage.batch == batch))).all())
    assert statuses == {OutboxStatus.DROPPED}


# --- 4. every page, on a phone and on a laptop --------------------------------------------------


@dataclass
class Record:
    held: int  # a meeting held last week, with its acta
    action: int  # a commitment of that acta
    batch: str  # a broadcast sent this morning


async def seed_history(site, seeded: Seeded) -> Record:
    """What the last week left: a Grupo Motor session held (attendance marked, closed), its
    acta with a topic, an agreement and a commitment; a broadcast to every family."""
    web = site.web
    now = web.app.clock.now()
    week_ago = now - timedelta(days=7)
    async with web.app.sessions() as s:
        program = await programs.get(s, web.program.id)
        grupo_motor = next(b for b in await programs.bodies(s, program.id)
                           if b.id == seeded.grupo_motor)
        made = await meeting_use.create(
            s, program, kind="grupo_motor", body=grupo_motor, now=week_ago - timedelta(days=7),
            starts_at=week_ago, place="Sede vecinal Villa Ñuñoa",
            agenda="Diagnóstico participativo", created_by=seeded.gestora.id)
        held = made.meeting
        await meeting_use.invite_now(s, program, held, "members",
                                     week_ago - timedelta(days=7))
        for person, present in zip(seeded.members, (True, True, False), strict=True):
            await meeting_use.mark_attendance(s, held, person.id, present, seeded.gestora.id,
                                              week_ago)
        await admin_meetings.close(s, held, week_ago + timedelta(hours=2))
        acta = await minutes.for_meeting(s, program.id, held.id, now=week_ago,
                                         by_person_id=seeded.gestora.id)
        await minutes.add_item(s, acta, MinutesSection.TOPIC,
                               "Necesidades de las familias del sector El Belloto", now=week_ago)
        await minutes.add_item(s, acta, MinutesSection.AGREEMENT,
                               "Hacer la feria en la sede vecinal el primer sábado del mes",
                               now=week_ago)
        action = await actions.add(
            s, program_id=program.id, now=week_ago, created_by=seeded.gestora.id,
            text="Pedir la sede vecinal para la feria de abril", minutes_id=acta.id,
            responsible_person_id=seeded.members[0].id, due=date(2026, 3, 20))
        queued = await outreach.queue_broadcast(
            s, program, "Mañana a las 10:00 abrimos la inscripción para la feria.",
            {"kind": "families"}, now, author_id=seeded.gestora.id, channel="web")
        await s.commit()
        return Record(held.id, action.id, queued.batch)


def every_page(site, seeded: Seeded, record: Record) -> list[tuple[str, str]]:
    """(screenshot's name, path) of each page a section shows."""
    url = site.web.url
    m, d = seeded.meeting, seeded.day
    return [
        ("inicio", url()),
        ("organizaciones", url("organizaciones")),
        ("organizacion", url("organizaciones", f"o/{seeded.organization}")),
        ("familias", url("organizaciones", "familias")),
        ("familia", url("organizaciones", f"f/{seeded.family}")),
        ("importar", url("organizaciones", "importar")),
        ("reuniones", url("reuniones")),
        ("reunion-nueva", url("reuniones", "nueva")),
        ("reunion", url("reuniones", f"{m}/")),
        ("reunion-asistencia", url("reuniones", f"{m}/asistencia")),
        ("reunion-realizada", url("reuniones", f"{record.held}/")),
        ("reunion-realizada-asistencia", url("reuniones", f"{record.held}/asistencia")),
        ("mensajes", url("mensajes")),
        ("mensaje-nuevo", url("mensajes", "nuevo")),
        ("mensaje-informe", url("mensajes", record.batch)),
        ("entregas", url("entregas")),
        ("entregas-nuevo", url("entregas", "nuevo")),
        ("entregas-listas", url("entregas", "listas")),
        ("entrega-dia", url("entregas", f"dia/{d}")),
        ("entrega-lista", url("entregas", f"dia/{d}/lista")),
        ("etapas", url("etapas")),
        ("planes", url("planes")),
        ("planes-seguimiento", url("planes", "seguimiento")),
        ("planes-actas", url("planes", "actas")),
        ("planes-acta", url("planes", f"actas/{record.held}")),
        ("planes-accion", url("planes", f"acciones/{record.action}")),
        ("documentos", url("documentos")),
        ("documentos-verificadores", url("documentos", "verificadores")),
        ("documentos-avance", url("documentos", "avance")),
    ]


# Every form control's accessible name, as a screen reader would announce it: its
# aria-labelledby, its aria-label, its <label>s, or its title.
UNLABELLED = """
() => [...document.querySelectorAll("input:not([type=hidden]), select, textarea")]
  .filter((el) => {
    const by = (el.getAttribute("aria-labelledby") || "").split(/\\s+/).filter(Boolean)
      .map((id) => document.getElementById(id)?.textContent || "").join(" ");
    const labels = [...(el.labels || [])].map((l) => l.textContent).join(" ");
    const name = [by, el.getAttribute("aria-label") || "", labels, el.title || ""].join("");
    return !name.trim();
  })
  .map((el) => el.outerHTML.slice(0, 120))
"""

OVERFLOW = ("document.scrollingElement.scrollWidth"
            " - document.scrollingElement.clientWidth")


async def page_problems(view, name: str, path: str) -> list[str]:
    page = view.page
    response = await view.goto(path, shot=name)
    found = []
    if response is None or response.status != 200:
        found.append(f"status {response.status if response else None}")
    h1 = await page.locator("h1").count()
    if h1 != 1:
        found.append(f"{h1} <h1>")
    wider = await page.evaluate(OVERFLOW)
    if wider > 1:
        found.append(f"the page scrolls sideways by {wider}px")
    for control in await page.evaluate(UNLABELLED):
        found.append(f"no label: {control}")
    if view.console.unexpected():
        found.append("console: " + "; ".join(view.console.unexpected()))
        view.console.errors.clear()
    return [f"{name} ({path}) at {page.viewport_size['width']}px: {f}" for f in found]


async def test_every_page_on_a_phone_and_on_a_laptop(site) -> None:
    seeded = await seed(site)
    record = await seed_history(site, seeded)
    pages = every_page(site, seeded, record)
    problems: list[str] = []
    for label, viewport in (("telefono", PHONE), ("escritorio", DESKTOP)):
        view = await site.signed_in(seeded.gestora, viewport=viewport)
        for name, path in pages:
            problems += await page_problems(view, f"{label}-{name}", path)
    assert not problems, "\n".join(problems)
