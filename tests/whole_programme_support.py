"""Helpers for the whole-programme test (no tests here): the people and their chats, the
spreadsheets the gestora sends, tapping buttons on messages that may have been edited since,
and the scheduler and the outbox driven by the test's clock."""

from __future__ import annotations

import io
import itertools
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from openpyxl import Workbook
from sqlalchemy import func, select
from stdnum.cl import rut as cl_rut

from domain.program_templates import add_months
from scheduler.runner import NoticeScheduler, TickResult
from services import outreach
from storage import people
from telegram_harness import Running, edits_of, find_button
from telegram_harness import labels_of as labels  # noqa: F401  (the tests read it from here)

SANTIAGO = ZoneInfo("America/Santiago")
PROGRAMME = "Ecomercado Solidario Peñalolén"
START = date(2026, 3, 2)  # a Monday: month 1 of the convenio begins

# --- who is who: (chat, Telegram first name, last name) --------------------------------------

GESTORA = 9001
ANA, BETO, CARLA, DANI = 9101, 9102, 9103, 9104  # representatives; Beto reads English
STAFF = 9301  # the encargado de recinto
FAM1, FAM2, FAM3, FAM4 = 9201, 9202, 9203, 9204  # families; FAM2 reads English

NAMES = {
    GESTORA: ("Carolina", "Muñoz Peña"),
    ANA: ("Ana María", "Rojas"),
    BETO: ("Beto", "Núñez"),
    CARLA: ("Carla", "Ibáñez"),
    DANI: ("Dani", "Fuentes"),
    STAFF: ("Raúl", "Sepúlveda"),
    FAM1: ("María José", "González"),
    FAM2: ("Pedro", "Pérez"),
    FAM3: ("Rosa", "Muñoz"),
    FAM4: ("Luis", "Castañeda"),
}


def full_name(chat: int) -> str:
    first, last = NAMES[chat]
    return f"{first} {last}"


# --- the catastro as the gestora keeps it --------------------------------------------------------


def rut(body: str) -> str:
    return cl_rut.format(body + cl_rut.calc_check_digit(body))


def bad_rut(body: str) -> str:
    wrong = "0" if cl_rut.calc_check_digit(body) != "0" else "1"
    return f"{body}-{wrong}"


ORG_JUNTA = "Junta de Vecinos Villa Ñuñoa"
ORG_CLUB = "Club Deportivo Unión Peñalolén"
ORG_COMITE = "Comité de Vivienda Los Copihues"
ORG_MADRES = "Centro de Madres Begoña"
ORG_MAYOR = "Club de Adulto Mayor Años Dorados"
ORG_BAD = "Sindicato de Feria Libre Los Aromos"
REPRESENTS = {ANA: ORG_JUNTA, BETO: ORG_CLUB, CARLA: ORG_COMITE, DANI: ORG_MADRES}
ORG_RUTS = {ORG_JUNTA: rut("65123456"), ORG_CLUB: rut("65222333"), ORG_COMITE: rut("65333444"),
            ORG_MADRES: rut("65444555"), ORG_MAYOR: rut("65555666")}


def organisations_csv() -> bytes:
    """Six organisations, as a municipality's sheet has them; one RUT is wrong."""
    rows = ["Nombre organización;RUT;Teléfono;Sector"]
    phones = ["9 5555 0001", "+56 9 5555 0002", "", "955550004", "56 9 5555 0005"]
    for (name, value), phone in zip(ORG_RUTS.items(), phones, strict=True):
        rows.append(f"{name};{value};{phone};Lo Hermida")
    rows.append(f"{ORG_BAD};{bad_rut('65666777')};;La Faena")
    return ("\r\n".join(rows) + "\r\n").encode("utf-8")


# (name, phone as written in the sheet, mode, sector); the first four register.
FAMILIES = [
    ("González Soto", "9 8765 4321", "Retiro en local", "Lo Hermida"),
    ("Pérez Ñancupil", "+56 9 8765 4322", "Retiro en local", "Lo Hermida"),
    ("Muñoz Rojas", "987654323", "retiro", "La Faena"),
    ("Castañeda Vidal", "(+56) 9 8765 4324", "Retiro en local", "La Faena"),
    ("Araya Díaz", "+56987654325", "Retiro en local", "Lo Hermida"),
    ("Zúñiga Fuentes", "56 9 8765 4326", "Retiro en local", "La Faena"),
    ("Ñancucheo Lagos", "9-8765-4327", "", "Lo Hermida"),
    ("Fernández Ibáñez", "+56 9 8765 4328", "Retiro en local", "Lo Hermida"),
    ("Sepúlveda Muñoz", "+56 9 8765 4329", "Entrega a domicilio", "La Faena"),
    ("Gutiérrez Peña", "9 8765 4330", "domicilio", "La Faena"),
]
FAMILY_OF = {FAM1: "González Soto", FAM2: "Pérez Ñancupil", FAM3: "Muñoz Rojas",
             FAM4: "Castañeda Vidal"}
# What Telegram hands over when a family shares its contact: digits, country code, no plus.
SHARED_PHONE = {FAM1: "56987654321", FAM2: "56987654322", FAM3: "+56 9 8765 4323",
                FAM4: "56987654324"}
RETIRO = 8


def families_xlsx() -> bytes:
    book = Workbook()
    sheet = book.active
    sheet.title = "Familias"
    sheet.append(["Nómina de familias beneficiarias 2026"])  # a title above the headers
    sheet.append(["Nombre familia", "Teléfono", "Modalidad", "Sector", "Integrantes"])
    for i, (name, phone, mode, sector) in enumerate(FAMILIES):
        sheet.append([name, phone, mode, sector, 2 + i % 4])
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def local(day: date, at: time) -> datetime:
    return datetime.combine(day, at, SANTIAGO).astimezone(UTC)


# --- the chat ----------------------------------------------------------------------------------








def message_now(r: Running, chat: int, message_id: int) -> dict:
    return next(m for m in r.fake.bot_messages(chat) if m["message_id"] == message_id)


async def tap(r: Running, chat: int, label: str, *, sends: int = 1, edits: int = 0,
              contains: bool = False) -> list[dict]:
    """Tap a button; wait for exactly the messages and edits it should cause. Returns the new
    messages followed by the edited messages as they read now."""
    data, mid = find_button(r, chat, label, contains=contains)
    sent_before, edits_before = len(r.fake.delivered(chat)), len(edits_of(r, chat))
    r.fake.callback(chat, data, message_id=mid)
    await r.fake.wait_for(
        lambda _r: len(r.fake.delivered(chat)) >= sent_before + sends
        and len(edits_of(r, chat)) >= edits_before + edits, timeout=10)
    await r.settled()  # anything extra would show in the counts below
    sent = [x.params for x in r.fake.delivered(chat)[sent_before:]]
    edited = edits_of(r, chat)[edits_before:]
    assert (len(sent), len(edited)) == (sends, edits), (label, sent, edited)
    return sent + [message_now(r, chat, int(e["message_id"])) for e in edited]


async def say(r: Running, chat: int, text: str, count: int = 1) -> list[dict]:
    replies = await r.send(chat, text, count)
    assert len(replies) == count, replies
    return replies


async def send_document(r: Running, chat: int, filename: str, content: bytes, mime: str,
                        count: int = 1) -> list[dict]:
    before = len(r.fake.delivered(chat))
    r.fake.document(chat, filename, content, mime)
    return await r.replies(chat, before, count)


def texts_since(r: Running, chat: int, before: int) -> list[str]:
    return [rec.params.get("text", rec.params.get("caption", ""))
            for rec in r.fake.delivered(chat)[before:]]


# --- time passing: the scheduler and the outbox ------------------------------------------------


class _DaysGoBy:
    """The dispatcher's rate limits count real seconds; the test jumps days at a time, after
    which every chat's allowance is full again. A monotonic clock that leaps forward on every
    reading says just that, without any real waiting."""

    def __init__(self) -> None:
        self._t = itertools.count(start=10_000, step=3_600)

    def __call__(self) -> float:
        return float(next(self._t))


@dataclass
class Programme:
    """The running Convoca, the scheduler the lead wires in, and what the test keeps."""

    r: Running
    sched: NoticeScheduler
    ids: dict[str, Any] = field(default_factory=dict)
    ticks: list[TickResult] = field(default_factory=list)

    @property
    def clock(self) -> Any:
        return self.r.app.clock

    def now_local(self) -> datetime:
        return self.clock.now().astimezone(SANTIAGO)

    async def deliver(self) -> int:
        """Deliver whatever is due now, as the dispatcher would, and keep the outreach
        progress messages current as the lead's wiring does; returns rows settled."""
        stepper = self.r.app.outbox(list(self.r.outbox.channels.values()),
                                    monotonic=_DaysGoBy())
        settled = 0
        for _ in range(100):
            n = await stepper.run_once()
            async with self.r.app.sessions() as s:
                ids = await outreach.update_progress_messages(s, self.clock.now())
                await s.commit()
            n += await stepper.deliver_now(ids)
            settled += n
            if not n:
                return settled
        raise AssertionError("the outbox never settled")

    async def at(self, when: datetime) -> TickResult:
        """The clock moves to ``when``; the scheduler ticks; the outbox delivers."""
        assert when >= self.clock.now(), (when, self.clock.now())
        self.clock.set(when)
        result = await self.sched.tick()
        self.ticks.append(result)
        await self.deliver()
        return result

    async def days(self, first: date, last: date, at: time) -> list[TickResult]:
        """A tick every day from ``first`` to ``last`` at the same local time. A process that
        runs all along ticks every minute; a daily tick sees the same notices (the scheduler
        looks three days back), only later, and drops those that no longer make sense."""
        out = []
        day = first
        while day <= last:
            out.append(await self.at(local(day, at)))
            day += timedelta(days=1)
        return out


def kinds(results: Iterable[TickResult]) -> list[tuple[str, int]]:
    return sorted((n.kind, n.person_id) for res in results for n in res.queued)


def month_of_convenio(n: int) -> tuple[date, date]:
    """Month ``n`` of the convenio, first and last day (month 1 begins on the start date)."""
    return add_months(START, n - 1), add_months(START, n) - timedelta(days=1)


def mondays(first: date, last: date) -> int:
    return sum(1 for i in range((last - first).days + 1)
               if (first + timedelta(days=i)).weekday() == 0)


async def person_id(r: Running, chat: int) -> int:
    async with r.app.sessions() as s:
        person = await people.by_address(s, "telegram", str(chat))
        assert person is not None, chat
        return person.id


async def count(r: Running, model: type, *where: object) -> int:
    async with r.app.sessions() as s:
        return int(await s.scalar(select(func.count()).select_from(model).where(*where)))


async def rows(r: Running, model: type, *where: object) -> list:
    async with r.app.sessions() as s:
        return list((await s.scalars(select(model).where(*where))).all())
