"""`convoca run --demo`: a 15-month Ecomercado seeded in its own database, a console where
you can switch person, and a simulated clock you move forward to see notices go out."""

from __future__ import annotations

import logging
import random
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from bot.app import build_app, start_delivery
from bot.config import Settings
from locales import Catalogs, Raw, When
from services.meetings import send_invitations
from storage import links, people, programs
from storage.clock import DEFAULT_TIMEZONE, ManualClock
from storage.models import (
    ChannelAddress,
    DeliveryDay,
    Family,
    Meeting,
    Membership,
    Organization,
    Person,
    Pickup,
    PickupMode,
    PickupStatus,
    Program,
    Representative,
    Role,
    RoleGrant,
)

log = logging.getLogger(__name__)

ORGANIZATIONS = [
    ("Junta de Vecinos Villa Esperanza", "junta_vecinos", "Villa Esperanza"),
    ("Club de Adulto Mayor Los Aromos", "adulto_mayor", "Los Aromos"),
    ("Comité de Vivienda Nuevo Amanecer", "comite", "El Sauce"),
    ("Sindicato de Feria Libre Quilpué Centro", "sindicato_feria", "Centro"),
    ("Cooperativa La Huerta Común", "cooperativa", "Belloto Norte"),
    ("Junta de Vecinos Población Ñuñoa Alto", "junta_vecinos", "Ñuñoa Alto"),
    ("Centro de Madres Renacer", "otra", "Villa Esperanza"),
    ("ONG Manos que Ayudan", "ong", "Centro"),
]
REPRESENTATIVES = [
    "María José Araya", "Luis Muñoz", "Carolina Pérez", "Jorge Fuentes", "Patricia Soto",
    "Héctor Rojas", "Verónica Díaz", "Camila Contreras",
]
FAMILY_NAMES = [
    "González", "Muñoz", "Rojas", "Díaz", "Pérez", "Soto", "Contreras", "Silva", "Martínez",
    "Sepúlveda", "Morales", "Rodríguez", "López", "Fuentes", "Hernández", "Torres", "Araya",
    "Flores", "Espinoza", "Valenzuela", "Castillo", "Tapia", "Reyes", "Gutiérrez", "Castro",
    "Pizarro", "Álvarez", "Vásquez", "Sánchez", "Fernández",
]
# The person in each of the first ten families who talks to the bot; the role says
# "familia" beside the name, so the name is only a name.
FIRST_NAMES = ["Rosa", "Juana", "Patricio", "Ximena", "Carmen", "Luis", "Gloria", "Sergio",
               "Marisol", "Claudia"]
SECTORS = ["Villa Esperanza", "Los Aromos", "El Sauce", "Ñuñoa Alto"]
PLACE = "Sede Junta de Vecinos Villa Esperanza"
ADDRESS = "Los Aromos 1234, Quilpué"


async def seed(session: AsyncSession, now: datetime) -> Program:
    """Everything a newcomer needs to see every flow, relative to today."""
    rng = random.Random(7)
    tz = ZoneInfo(DEFAULT_TIMEZONE)
    today = now.astimezone(tz).date()
    program = await programs.create(
        session, template="ecomercado-15m", start=today.replace(day=1),
        name="Ecomercado Solidario de Quilpué (demo)", now=now,
    )
    # Who executes the convenio and where: every verificador's heading names them.
    program.settings = {**(program.settings or {}), "executor": "Municipalidad de Quilpué",
                        "comuna": "Quilpué", "region": "Valparaíso"}
    bodies = {b.kind: b for b in await programs.bodies(session, program.id)}
    address_no = iter(range(1, 1000))

    async def person(name: str | None, *, role: Role | None, consent: bool = True,
                     phone: str | None = None) -> Person:
        p = await people.create_with_address(
            session, "console", str(next(address_no)), now, name=name, phone=phone,
            program_id=program.id, locale="es",
            consent_at=now if consent else None, consent_version="2026-1" if consent else None,
        )
        if role:
            await people.grant(session, p, role, program.id, now)
        return p

    # 1: a newcomer who has not registered yet, to try /start; 2: the gestora.
    await person(None, role=None, consent=False)
    gestora = await person("Daniela Vergara", role=Role.GESTORA)
    await person("Rodrigo Salinas", role=Role.COORDINADORA)
    await person("Marta Leiva", role=Role.RECINTO)

    reps: list[Person] = []
    for (org_name, kind, sector), rep_name in zip(ORGANIZATIONS, REPRESENTATIVES, strict=True):
        org = Organization(program_id=program.id, name=org_name, kind=kind, sector=sector,
                           members_count=rng.randint(12, 120), created_at=now)
        session.add(org)
        await session.flush()
        rep = await person(rep_name, role=Role.REPRESENTANTE,
                           phone=f"+5698{rng.randint(1000000, 9999999)}")
        session.add(Representative(organization_id=org.id, person_id=rep.id, is_primary=True,
                                   position="presidenta" if rep_name[-1] == "a" else "presidente"))
        reps.append(rep)
        await links.create(session, program.id, "organization", org.id, now)

    for rep in reps[:5]:
        await people.grant(session, rep, Role.GRUPO_MOTOR, program.id, now)
        session.add(Membership(body_id=bodies["grupo_motor"].id, person_id=rep.id, joined_at=now))
    for rep in reps[3:7]:
        await people.grant(session, rep, Role.CONSEJO_LOCAL, program.id, now)
        session.add(Membership(body_id=bodies["consejo_local"].id, person_id=rep.id,
                               joined_at=now))

    families: list[Family] = []
    for i, surname in enumerate(FAMILY_NAMES):
        mode = PickupMode.DOMICILIO if i % 8 == 7 else PickupMode.RETIRO
        phone = f"+5699{rng.randint(1000000, 9999999)}"
        fam = Family(program_id=program.id, name=f"{surname} {FAMILY_NAMES[-1 - i]}",
                     phone=phone, pickup_mode=mode, sector=SECTORS[i % len(SECTORS)],
                     address=f"Pasaje {i + 1} #{rng.randint(100, 999)}, Quilpué",
                     household_size=rng.randint(1, 7), created_at=now)
        session.add(fam)
        await session.flush()
        families.append(fam)
        if i < 10:  # the first ten families are already in the bot
            p = await person(f"{FIRST_NAMES[i]} {fam.name}", role=Role.FAMILIA, phone=phone)
            fam.person_id = p.id
        await links.create(session, program.id, "family", fam.id, now)

    def local(day: date, at: time) -> datetime:
        return datetime.combine(day, at, tz).astimezone(UTC)

    meetings = [
        Meeting(program_id=program.id, body_id=bodies["grupo_motor"].id, kind="grupo_motor",
                title="Sesión mensual del Grupo Motor",
                starts_at=local(today + timedelta(days=2), time(18, 0)),
                ends_at=local(today + timedelta(days=2), time(19, 30)), place=PLACE,
                address=ADDRESS, agenda="1. Bienvenida\n2. Turnos de armado de canastas\n3. Varios",
                checkin_code="GM" + str(rng.randint(1000, 9999)), created_by=gestora.id,
                created_at=now),
        Meeting(program_id=program.id, body_id=bodies["consejo_local"].id, kind="consejo_local",
                title="Sesión del Consejo Local",
                starts_at=local(today + timedelta(days=9), time(17, 0)), place=PLACE,
                address=ADDRESS, agenda="1. Donaciones de ferias libres\n2. Plan de comunicaciones",
                checkin_code="CL" + str(rng.randint(1000, 9999)), created_by=gestora.id,
                created_at=now),
    ]
    session.add_all(meetings)
    await session.flush()
    for meeting, members in ((meetings[0], reps[:5]), (meetings[1], reps[3:7])):
        await send_invitations(session, meeting, [m.id for m in members], now)

    for week in range(3):
        day = today + timedelta(days=(3 - today.weekday()) % 7 + 7 * week)  # Thursdays
        dd = DeliveryDay(program_id=program.id, mode=PickupMode.RETIRO,
                         window_start=local(day, time(10, 0)), window_end=local(day, time(12, 0)),
                         place=PLACE, address=ADDRESS, created_at=now)
        session.add(dd)
        await session.flush()
        for fam in families:
            if fam.pickup_mode == PickupMode.RETIRO:
                session.add(Pickup(delivery_day_id=dd.id, family_id=fam.id,
                                   status=PickupStatus.PENDING))
    return program


async def run_demo(settings: Settings, *, stdin=None, out=None,
                   start: datetime | None = None, catalogs: Catalogs | None = None,
                   channel: str | None = None) -> None:
    """``channel``: "whatsapp" shows every message as WhatsApp would (bot.app.console_look);
    else the console's own."""
    from bot.commands import console_look_of, start_panel
    from bot.console import ConsoleChannel, ConsoleSession

    clock = ManualClock(start or datetime.now(UTC).replace(second=0, microsecond=0))
    app = await build_app(settings, clock=clock, catalogs=catalogs)
    try:
        async with app.sessions() as s:
            if not await s.scalar(select(func.count()).select_from(Program)):
                await seed(s, clock.now())
                await s.commit()
        console = ConsoleChannel(app.catalogs, app.services.buttons, settings.timezone, out,
                                 look=console_look_of(app, channel))
        async with app.sessions() as s:
            rows = await s.execute(
                select(ChannelAddress.address, Person.name).join(Person)
                .where(ChannelAddress.channel == "console")
            )
            newcomer = app.catalogs.text(settings.default_locale, "console.newcomer")
            console.names = {a: n or newcomer for a, n in rows.all()}
        # The real scheduler on the simulated clock: moving the clock is what makes it tick.
        delivery = await start_delivery(app, [console], tick_on_schedule=False)
        dispatcher, sched = delivery.outbox, delivery.scheduler
        session = ConsoleSession(
            app.core, console, dispatcher.deliver_now, dispatcher.drain, clock,
            settings.default_locale, demo=True, on_clock_moved=sched.tick,
        )
        session.say("console.banner_whatsapp" if console.look else "console.banner",
                    database="data/demo.sqlite3")
        log.info("demo on %s, simulated clock at %s", settings.database_url, clock.now())
        session.say("console.demo_help")
        session.say("console.clock", when=When(clock.now()))
        server = await start_panel(app, dispatcher)
        if server is not None:
            async with app.sessions() as s:
                token = await demo_login(s, clock.now())
                await s.commit()
            if token is not None:
                session.say("console.panel_login",
                            url=Raw(f"{settings.panel_url}/web/login/{token}"))
        try:
            await sched.tick()
            await dispatcher.drain()
            await session.loop(stdin)
        finally:
            if server is not None:
                await server.stop()
            await delivery.stop()
    finally:
        await app.close()


async def demo_login(session: AsyncSession, now: datetime) -> str | None:
    """A one-time link for the demo's gestora, as /web would send her."""
    from services import web_access

    gestora = await session.scalar(
        select(Person).join(Person.roles).where(RoleGrant.role == Role.GESTORA)
        .options(selectinload(Person.roles)).order_by(Person.id).limit(1))
    return web_access.issue_login(session, gestora, now) if gestora is not None else None
