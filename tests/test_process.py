"""`convoca run` and `convoca worker` as real processes against the fake Bot API: /start is
answered, SIGTERM stops cleanly, and a SIGKILL at the worst moment of a delivery loses and
doubles nothing — for a broadcast, a burst of reminders, and two workers on PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

import pytest
from sqlalchemy import select

from handlers.events import Outgoing
from locales import Msg
from storage import db, outbox, programs
from storage.models import (
    ChannelAddress,
    Meeting,
    OutboxMessage,
    OutboxStatus,
    Person,
    Rsvp,
    RsvpAnswer,
)

ROOT = Path(__file__).resolve().parents[1]
FIRST_CHAT = 700_000


def env_for(fake, url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "DATABASE_"))}
    env.update(TELEGRAM_BOT_TOKEN=fake.token, TELEGRAM_API_BASE=fake.base_url, DATABASE_URL=url,
               TELEGRAM_DRIVER=fake.driver, PYTHONPATH=str(ROOT), **extra)
    return env


@pytest.fixture
async def spawn(tmp_path: Path) -> AsyncIterator:
    procs: list[asyncio.subprocess.Process] = []

    async def start(fake, url: str, command: str = "run", **extra: str):
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", command, cwd=tmp_path, env=env_for(fake, url, **extra),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )
        procs.append(proc)
        return proc

    yield start
    for p in procs:
        if p.returncode is None:
            p.kill()
            await p.wait()


async def test_convoca_run_answers_start_in_spanish_with_consent(fake_tg, sqlite_url, spawn) -> None:
    proc = await spawn(fake_tg, sqlite_url)
    await fake_tg.wait_for_poll(timeout=60)
    fake_tg.command(4242, "/start")
    await fake_tg.wait_for_sent(4242, 1, timeout=15)
    [text] = fake_tg.texts(4242)
    assert text.startswith("¡Hola! Soy Convoca") and text.rstrip().endswith("¿Aceptas?")
    proc.send_signal(signal.SIGTERM)
    out, _ = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, out.decode()
    assert b"Traceback" not in out


async def seed_people(url: str, fake, n: int) -> list[int]:
    """n consented people, each of whom once wrote /start to the bot (message number 1)."""
    engine = db.create_engine(url)
    await db.upgrade(engine)
    now = datetime.now(UTC)
    ids = []
    async with db.session_factory(engine)() as s:
        for i in range(n):
            chat = FIRST_CHAT + i
            fake.add_chat(chat)
            fake.past_message(chat, "/start")
            p = Person(created_at=now, consent_at=now, locale="es", reachable=True)
            p.addresses = [ChannelAddress(channel="telegram", address=str(chat), created_at=now,
                                          last_inbound_message_id="1")]
            s.add(p)
        await s.flush()
        ids = list((await s.scalars(select(Person.id).order_by(Person.id))).all())
        await s.commit()
    await engine.dispose()
    return ids


async def queue_broadcast(url: str, person_ids: list[int]) -> None:
    engine = db.create_engine(url)
    now = datetime.now(UTC)
    payload = Outgoing(text=Msg("input.not_understood")).to_json()
    async with db.session_factory(engine)() as s:
        for pid in person_ids:
            await outbox.enqueue_for_person(s, pid, payload, key=f"bc:t:{pid}", kind="broadcast",
                                            now=now, batch="t")
        await s.commit()
    await engine.dispose()


T = TypeVar("T")


async def rows_of(url: str, model: type[T]) -> list[T]:
    """Every row of a table, read from the database a process left behind."""
    engine = db.create_engine(url)
    async with db.session_factory(engine)() as s:
        rows = list((await s.scalars(select(model))).all())
    await engine.dispose()
    return rows


async def outbox_rows(url: str) -> list[OutboxMessage]:
    return await rows_of(url, OutboxMessage)


async def kill_at(fake, proc, count: int) -> None:
    # The worst moment: the Bot API has the message, Convoca has not yet recorded it.
    await fake.wait_for(lambda _r: len(fake.delivered()) >= count, timeout=120)
    proc.send_signal(signal.SIGKILL)
    await proc.wait()


async def finish(fake, proc, total: int) -> None:
    await fake.wait_for(lambda _r: len(fake.delivered()) >= total, timeout=180)
    await asyncio.sleep(1.0)  # a duplicate would arrive now
    proc.send_signal(signal.SIGTERM)
    await asyncio.wait_for(proc.wait(), 30)


def assert_exactly_once(fake, n: int, rows: list[OutboxMessage]) -> None:
    per_chat = Counter(r.chat_id for r in fake.delivered())
    assert per_chat == {FIRST_CHAT + i: 1 for i in range(n)}
    assert Counter(r.status for r in rows) == {OutboxStatus.SENT: n}


@pytest.mark.parametrize("kill_after", [15, 40])
async def test_sigkill_during_delivery_then_restart_delivers_the_rest_exactly_once(
    fake_tg, sqlite_url, spawn, kill_after: int
) -> None:
    n = 60
    await queue_broadcast(sqlite_url, await seed_people(sqlite_url, fake_tg, n))
    proc = await spawn(fake_tg, sqlite_url)
    await kill_at(fake_tg, proc, kill_after)
    assert len(fake_tg.delivered()) < n  # the kill really happened mid-delivery
    await finish(fake_tg, await spawn(fake_tg, sqlite_url), n)
    assert_exactly_once(fake_tg, n, await outbox_rows(sqlite_url))


async def test_sigkill_in_the_middle_of_a_2000_message_broadcast(fake_tg, sqlite_url, spawn) -> None:
    n = 2000
    await queue_broadcast(sqlite_url, await seed_people(sqlite_url, fake_tg, n))
    fast = {"TELEGRAM_MESSAGES_PER_SECOND": "400"}  # a paid broadcast, to keep the test short
    proc = await spawn(fake_tg, sqlite_url, "worker", **fast)
    await kill_at(fake_tg, proc, 700)
    assert len(fake_tg.delivered()) < n
    await finish(fake_tg, await spawn(fake_tg, sqlite_url, "worker", **fast), n)
    assert_exactly_once(fake_tg, n, await outbox_rows(sqlite_url))
    assert all(r.params.get("allow_paid_broadcast") is True for r in fake_tg.delivered())


async def test_sigkill_in_a_burst_of_reminders(fake_tg, sqlite_url, spawn) -> None:
    n = 300
    person_ids = await seed_people(sqlite_url, fake_tg, n)
    engine = db.create_engine(sqlite_url)
    now = datetime.now(UTC)
    async with db.session_factory(engine)() as s:
        program = await programs.create(s, template="ecomercado-15m", start=now.date(),
                                        name="Ecomercado", now=now - timedelta(days=3))
        for pid in person_ids:
            # One meeting each, starting in 90 minutes: the "2 hours before" reminder is due.
            m = Meeting(program_id=program.id, kind="grupo_motor", title="Sesión de prueba",
                        starts_at=now + timedelta(minutes=90), created_at=now - timedelta(days=3))
            s.add(m)
            await s.flush()
            s.add(Rsvp(meeting_id=m.id, person_id=pid, invited_at=now - timedelta(days=3),
                       answer=RsvpAnswer.YES, answered_at=now - timedelta(days=3)))
        await s.commit()
    await engine.dispose()
    fast = {"TELEGRAM_MESSAGES_PER_SECOND": "300"}
    proc = await spawn(fake_tg, sqlite_url, "worker", **fast)
    await kill_at(fake_tg, proc, 120)
    await finish(fake_tg, await spawn(fake_tg, sqlite_url, "worker", **fast), n)
    rows = [r for r in await outbox_rows(sqlite_url) if r.kind == "meeting_reminder"]
    # The evening-before reminders fell due while nothing ran; the two-hours one replaces them.
    superseded = [r for r in rows if r.status == OutboxStatus.DROPPED]
    assert len(superseded) == n and all("superseded" in r.last_error for r in superseded)
    assert_exactly_once(fake_tg, n, [r for r in rows if r.status != OutboxStatus.DROPPED])
    assert all("Recordatorio" in t for t in fake_tg.texts())


async def test_two_workers_on_one_postgresql_database_deliver_each_message_once(
    fake_tg, postgres_url, spawn
) -> None:
    n = 600
    await queue_broadcast(postgres_url, await seed_people(postgres_url, fake_tg, n))
    fast = {"TELEGRAM_MESSAGES_PER_SECOND": "200"}
    a = await spawn(fake_tg, postgres_url, "worker", **fast)
    b = await spawn(fake_tg, postgres_url, "worker", **fast)
    await fake_tg.wait_for(lambda _r: len(fake_tg.delivered()) >= n, timeout=180)
    await asyncio.sleep(1.0)
    for p in (a, b):
        p.send_signal(signal.SIGTERM)
    await asyncio.wait_for(asyncio.gather(a.wait(), b.wait()), 30)
    rows = await outbox_rows(postgres_url)
    assert_exactly_once(fake_tg, n, rows)
    # One sender per bot token (its lease): the other worker stood by, and sent nothing.
    assert len({r.claimed_by for r in rows}) == 1
