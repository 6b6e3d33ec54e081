"""Helpers shared by the catastro and outreach tests (no tests of its own): the real aiogram
runtime with these sections' routers, seeding people with chats, pressing buttons on
messages that were edited in place, and driving the outbox step by step."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta

from sqlalchemy import select

from services.outreach import update_progress_messages
from storage import programs
from storage.models import (
    ChannelAddress,
    Family,
    Meeting,
    Membership,
    Organization,
    Person,
    PickupMode,
    Representative,
    RoleGrant,
)
from telegram_harness import Running, find_button, start, stop
from telegram_harness import labels_of as labels  # noqa: F401  (the tests read it from here)

GESTORA = 900


@asynccontextmanager
async def running(fake, settings_for, sqlite_url: str, clock) -> AsyncIterator[Running]:
    settings = settings_for(sqlite_url, telegram_bot_token=fake.token,
                            telegram_api_base=fake.base_url, admin_telegram_ids=str(GESTORA))
    r = await start(fake, settings, clock)
    try:
        yield r
    finally:
        await stop(r)


async def seed_program(r: Running, name: str = "Ecomercado Quilpué") -> int:
    now = r.app.clock.now()
    async with r.app.sessions() as s:
        program = await programs.create(s, template="ecomercado-15m", start=now.date(),
                                        name=name, now=now)
        await s.commit()
        return program.id


async def add_person(r: Running, chat: int | None, name: str, *, role: str | None = None,
                     locale: str | None = None, program_id: int | None = None,
                     consent: bool = True) -> int:
    """Someone who went through /start: consent given and a chat the fake knows."""
    now = r.app.clock.now()
    async with r.app.sessions() as s:
        person = Person(name=name, locale=locale, program_id=program_id, reachable=True,
                        consent_at=now if consent else None, created_at=now)
        person.addresses = [] if chat is None else [
            ChannelAddress(channel="telegram", address=str(chat), created_at=now)]
        person.roles = [] if role is None else [
            RoleGrant(role=role, program_id=program_id, granted_at=now)]
        s.add(person)
        await s.commit()
        if chat is not None:
            r.fake.add_chat(chat, first_name=name.split()[0], language_code=locale or "es")
        return person.id


async def add_gestora(r: Running, locale: str | None = None) -> int:
    return await add_person(r, GESTORA, "Gabriela Gestora", role="gestora", locale=locale)


async def add_family(r: Running, program_id: int, name: str, *, chat: int | None = None,
                     sector: str | None = None, mode: str = PickupMode.RETIRO,
                     locale: str | None = None, phone: str | None = None) -> int:
    person_id = await add_person(r, chat, name, role="familia", locale=locale,
                                 program_id=program_id) if chat else None
    async with r.app.sessions() as s:
        fam = Family(program_id=program_id, name=name, person_id=person_id, sector=sector,
                     pickup_mode=mode, phone=phone, created_at=r.app.clock.now())
        s.add(fam)
        await s.commit()
        return fam.id


async def add_organization(r: Running, program_id: int, name: str,
                           reps: list[tuple[int, str]] = (), **fields: object) -> int:
    rep_ids = [await add_person(r, chat, rep, role="representante", program_id=program_id)
               for chat, rep in reps]
    async with r.app.sessions() as s:
        org = Organization(program_id=program_id, name=name, created_at=r.app.clock.now(),
                           **fields)
        s.add(org)
        await s.flush()
        for i, pid in enumerate(rep_ids):
            s.add(Representative(organization_id=org.id, person_id=pid, is_primary=i == 0))
        await s.commit()
        return org.id


async def add_member(r: Running, program_id: int, body_kind: str, chat: int, name: str) -> int:
    from storage.models import Body

    pid = await add_person(r, chat, name, role=body_kind, program_id=program_id)
    async with r.app.sessions() as s:
        body = await s.scalar(select(Body).where(Body.program_id == program_id,
                                                 Body.kind == body_kind))
        s.add(Membership(body_id=body.id, person_id=pid, joined_at=r.app.clock.now()))
        await s.commit()
    return pid


async def add_meeting(r: Running, program_id: int, *, kind: str = "socializacion",
                      days: int = 7, title: str | None = None) -> int:
    now = r.app.clock.now()
    async with r.app.sessions() as s:
        m = Meeting(program_id=program_id, kind=kind, title=title,
                    starts_at=now + timedelta(days=days), place="Sede vecinal",
                    created_at=now)
        s.add(m)
        await s.commit()
        return m.id


# --- the chat ----------------------------------------------------------------------------------






async def press_and_wait_edit(r: Running, chat: int, label: str) -> dict:
    """Press a button whose answer edits its own message; returns the edit request."""
    data, mid = find_button(r, chat, label)
    seen = len(edits(r, chat))
    r.fake.callback(chat, data, message_id=mid)
    await r.fake.wait_for(lambda _rec: len(edits(r, chat)) > seen, timeout=10)
    await r.settled()
    return edits(r, chat)[-1]


def edits(r: Running, chat: int) -> list[dict]:
    return [rec.params for rec in r.fake.calls("editMessageText")
            if rec.ok and rec.chat_id == chat]


async def send_document(r: Running, chat: int, filename: str, content: bytes, mime: str,
                        count: int, caption: str | None = None) -> list[dict]:
    before = len(r.fake.delivered(chat))
    r.fake.document(chat, filename, content, mime, caption=caption)
    return await r.replies(chat, before, count)


async def deliver_in_steps(r: Running, now: datetime, window: int = 8) -> None:
    """What the lead's wiring does: the dispatcher delivers a few rows at a time and, after
    each pass, the progress messages are brought up to date and sent at once. (The test's
    own dispatcher loop is stopped, so passes happen only here.)"""
    stepper = r.app.outbox(list(r.outbox.channels.values()), window=window)
    for _ in range(200):
        settled = await stepper.run_once()
        async with r.app.sessions() as s:
            ids = await update_progress_messages(s, now)
            await s.commit()
        await r.outbox.deliver_now(ids)
        if not settled and not ids:
            return
    raise AssertionError("the outbox never settled")
