"""Shared by the delivery, day-list, stages, exports and refusal tests: Convoca with these
sections on the fake Bot API, seeding, and tapping a button on a message that may since have
been edited. (No tests here.)"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from handlers import registration
from storage import people, programs
from storage.models import DeliveryDay, Family, Pickup, PickupMode, PickupStatus, Role
from telegram_harness import Running, edits_of, find_button, labels_of, running  # noqa: F401

SANTIAGO = ZoneInfo("America/Santiago")
GESTORA, STAFF, FAMILY_MEMBER, REPRESENTATIVE = 7001, 7002, 7101, 7201
FAMILY_CHATS = {"González Soto": 7101, "Pérez Ñancupil": 7102}
# (name, sector, mode)
FAMILIES = [
    ("González Soto", "Lo Hermida", PickupMode.RETIRO),
    ("Pérez Ñancupil", "Lo Hermida", PickupMode.RETIRO),
    ("Muñoz Rojas", "La Faena", PickupMode.RETIRO),
    ("Araya Díaz", "Lo Hermida", PickupMode.DOMICILIO),
    ("Castañeda Vidal", "La Faena", PickupMode.RETIRO),
]


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=SANTIAGO).astimezone(UTC)


# --------------------------------------------------------------------------- harness










async def tap(r: Running, chat: int, label: str, *, sends: int = 0, edits: int = 0,
              contains: bool = False) -> tuple[list[dict], list[dict]]:
    """Tap a button; wait for the new messages and the edits it should cause."""
    data, mid = find_button(r, chat, label, contains=contains)
    sent_before, edits_before = len(r.fake.delivered(chat)), len(edits_of(r, chat))
    r.fake.callback(chat, data, message_id=mid)
    await r.fake.wait_for(
        lambda _r: len(r.fake.delivered(chat)) >= sent_before + sends
        and len(edits_of(r, chat)) >= edits_before + edits, timeout=10)
    await r.settled()  # anything extra shows up in the counts below
    sent = [x.params for x in r.fake.delivered(chat)[sent_before:]]
    edited = edits_of(r, chat)[edits_before:]
    assert (len(sent), len(edited)) == (sends, edits), (sent, edited)
    return sent, edited


async def say(r: Running, chat: int, text: str, count: int = 1) -> list[dict]:
    replies = await r.send(chat, text, count)
    assert len(replies) == count, replies
    return replies


# --------------------------------------------------------------------------- seeding


@dataclass
class Seed:
    program_id: int
    people: dict[int, int]  # chat -> person id
    families: dict[str, int] = field(default_factory=dict)


async def seed(r: Running, locale: str = "es", *, start: date = date(2026, 3, 2),
               channel: str = "telegram") -> Seed:
    """A programme with its gestora, the premises staff, a family member and an
    organisation's representative (all consented, in this chat), and five families; the
    people on ``channel`` (another than the fake Bot API's: its test double)."""
    now = r.app.clock.now()
    out: dict[int, int] = {}
    async with r.app.sessions() as s:
        program = await programs.create(s, template="ecomercado-15m", start=start,
                                        name="Ecomercado Solidario Peñalolén", now=now)
        for chat, name, role in (
            (GESTORA, "Carolina Gestora", Role.GESTORA), (STAFF, "Raúl Recinto", Role.RECINTO),
            (FAMILY_MEMBER, "María José González", Role.FAMILIA),
            (7102, "Pedro Pérez", Role.FAMILIA),
            (REPRESENTATIVE, "Juana Dirigenta", Role.REPRESENTANTE),
        ):
            if channel == "telegram":
                r.fake.add_chat(chat, first_name=name.split()[0], language_code=locale)
            person = await people.create_with_address(
                s, channel, str(chat), now, name=name, locale=locale, consent_at=now,
                consent_version=registration.CONSENT_VERSION, program_id=program.id)
            await people.grant(s, person, role, program.id, now)
            out[chat] = person.id
        families = {}
        for name, sector, mode in FAMILIES:
            chat = FAMILY_CHATS.get(name)
            f = Family(program_id=program.id, name=name, sector=sector, pickup_mode=mode,
                       person_id=out.get(chat) if chat else None, phone="+56912345678",
                       address="Pasaje Los Copihues 1234", household_size=4, created_at=now)
            s.add(f)
            await s.flush()
            families[name] = f.id
        await s.commit()
    return Seed(program.id, out, families)


async def add_day(r: Running, seeded: Seed, start: datetime, *, hours: int = 2,
                  families: list[str] | None = None, place: str = "Sede Vecinal Villa Ñuñoa",
                  statuses: dict[str, str] | None = None, notified: list[str] | None = None
                  ) -> tuple[int, dict[str, int]]:
    """A delivery day straight in the database, with its pickups."""
    now = r.app.clock.now()
    async with r.app.sessions() as s:
        day = DeliveryDay(program_id=seeded.program_id, mode=PickupMode.RETIRO,
                          window_start=start, window_end=start + timedelta(hours=hours),
                          place=place, address="Los Aromos 123", created_at=now)
        s.add(day)
        await s.flush()
        ids = {}
        for name in families if families is not None else list(seeded.families):
            p = Pickup(delivery_day_id=day.id, family_id=seeded.families[name],
                       status=(statuses or {}).get(name, PickupStatus.NOTIFIED),
                       notified_at=now if name in (notified or [name]) else None)
            if p.status == PickupStatus.PROXY:
                p.proxy_name, p.proxy_rut = "Luis Soto Rojas", "12.345.678-5"
            if p.status in (PickupStatus.CANNOT, PickupStatus.RESCHEDULE):
                p.reason = "Tengo turno en el trabajo"
            s.add(p)
            await s.flush()
            ids[name] = p.id
        await s.commit()
        return day.id, ids


async def rows(r: Running, model: type, *where: object) -> list:
    async with r.app.sessions() as s:
        return list((await s.scalars(select(model).where(*where))).all())


async def count(r: Running, model: type, *where: object) -> int:
    async with r.app.sessions() as s:
        return await s.scalar(select(func.count()).select_from(model).where(*where))
