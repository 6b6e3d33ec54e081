"""`convoca run` as a real process against the fake Bot API: it answers /start, stops cleanly
on SIGTERM, and a SIGKILL in the middle of an outbox delivery loses and doubles nothing."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from storage import db
from storage.models import OutboxMessage, OutboxStatus
from support import add_person, enqueue_many

ROOT = Path(__file__).resolve().parents[1]


def env_for(fake, url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "DATABASE_"))}
    env.update(TELEGRAM_BOT_TOKEN=fake.token, TELEGRAM_API_BASE=fake.base_url, DATABASE_URL=url,
               PYTHONPATH=str(ROOT))
    return env


async def spawn(fake, url: str, cwd: Path) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "run", cwd=cwd, env=env_for(fake, url),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )


@pytest.fixture
async def proc_cleanup() -> AsyncIterator[list[asyncio.subprocess.Process]]:
    procs: list[asyncio.subprocess.Process] = []
    yield procs
    for p in procs:
        if p.returncode is None:
            p.kill()
            await p.wait()


async def test_convoca_run_answers_start_in_spanish_with_consent(
    fake_tg, sqlite_url: str, tmp_path: Path, proc_cleanup
) -> None:
    proc = await spawn(fake_tg, sqlite_url, tmp_path)
    proc_cleanup.append(proc)
    await fake_tg.wait_for(lambda r: r.method == "getUpdates", timeout=30)
    fake_tg.command(4242, "/start")
    await fake_tg.wait_for_sent(4242, 1, timeout=15)
    [text] = fake_tg.texts(4242)
    assert text.startswith("¡Hola! Soy Convoca") and text.rstrip().endswith("¿Aceptas?")
    proc.send_signal(signal.SIGTERM)
    out, _ = await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode == 0, out.decode()
    assert b"Traceback" not in out


async def _seed_broadcast(url: str, fake, n: int) -> None:
    engine = db.create_engine(url)
    await db.upgrade(engine)
    sessions = db.session_factory(engine)
    now = datetime.now(UTC)
    rows = []
    for i in range(n):
        chat = 700_000 + i
        fake.add_chat(chat)
        rows.append((await add_person(sessions, str(chat), now), str(chat)))
    await enqueue_many(sessions, rows, now)
    await engine.dispose()


async def _outbox(url: str) -> list[OutboxMessage]:
    engine = db.create_engine(url)
    async with db.session_factory(engine)() as s:
        rows = list((await s.scalars(select(OutboxMessage))).all())
    await engine.dispose()
    return rows


@pytest.mark.parametrize("kill_at", [15, 40])
async def test_sigkill_during_delivery_then_restart_delivers_the_rest_exactly_once(
    fake_tg, sqlite_url: str, tmp_path: Path, proc_cleanup, kill_at: int
) -> None:
    n = 60
    await _seed_broadcast(sqlite_url, fake_tg, n)
    proc = await spawn(fake_tg, sqlite_url, tmp_path)
    proc_cleanup.append(proc)
    # Kill the moment the Bot API has received message number `kill_at`, before Convoca can
    # record the answer: the worst moment, the one a naive outbox would resend.
    await fake_tg.wait_for(lambda _r: len(fake_tg.delivered()) >= kill_at, timeout=30)
    proc.send_signal(signal.SIGKILL)
    await proc.wait()
    before_restart = len(fake_tg.delivered())
    assert before_restart < n  # the kill really happened mid-delivery

    proc2 = await spawn(fake_tg, sqlite_url, tmp_path)
    proc_cleanup.append(proc2)
    await fake_tg.wait_for(lambda _r: len(fake_tg.delivered()) >= n, timeout=60)
    await asyncio.sleep(0.5)  # a duplicate would arrive now
    proc2.send_signal(signal.SIGTERM)
    await asyncio.wait_for(proc2.wait(), 20)

    per_chat = Counter(r.chat_id for r in fake_tg.delivered())
    assert per_chat == {700_000 + i: 1 for i in range(n)}
    rows = await _outbox(sqlite_url)
    statuses = Counter(r.status for r in rows)
    # The row in flight at the kill cannot be known to have left: it stays claimed by the dead
    # process until its lease runs out, then is flagged uncertain; it is never resent.
    in_doubt = [r for r in rows if r.status in (OutboxStatus.SENDING, OutboxStatus.UNCERTAIN)]
    assert len(in_doubt) <= 1
    assert statuses[OutboxStatus.SENT] == n - len(in_doubt)
    first_worker = {r.claimed_by for r in in_doubt}
    assert all(r.claimed_by in first_worker for r in in_doubt)
