"""`convoca run` on WhatsApp as a real process against the fake Cloud API: a broadcast to
families with paper consent, the process SIGKILLed in the middle of it, another started on
the same database. Counted at the fake: nobody gets the broadcast twice; whoever got nothing
has a row honestly marked uncertain (claimed by the dead process, never accepted); and a row
left uncertain whose message Meta did accept becomes sent when its receipt arrives (the
receipt names the row: biz_opaque_callback_data), as Meta retries webhooks the dead process
did not take."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import insert
from test_process import outbox_rows
from whatsapp_harness import free_port

from bot.whatsapp import templates as wa_templates
from bot.whatsapp.client import CloudClient
from fakes.whatsapp_api import FakeWhatsApp
from services.outreach import broadcast_message
from storage import db, outbox, people
from storage.models import ChannelAddress, OutboxMessage, OutboxStatus, Person

ROOT = Path(__file__).resolve().parents[1]
FIRST = 56_970_000_000
N = 300
KILL_AFTER = 100  # messages Meta accepted before the SIGKILL
RATE = "60"  # WHATSAPP_MESSAGES_PER_SECOND: 300 in ~5 s, the kill well inside it
VERIFY_TOKEN = "process-verify-token"


def wa_id(i: int) -> str:
    return str(FIRST + i)


async def seed_and_queue(url: str, n: int) -> None:
    """n families imported with their phone and paper consent (never wrote: the broadcast
    goes as the template convoca_broadcast), and the broadcast queued for them."""
    engine = db.create_engine(url)
    await db.upgrade(engine)
    now = datetime.now(UTC)
    payload = broadcast_message("Barrio Los Aromos", "Operativo de salud el sábado").to_json()
    async with db.session_factory(engine)() as s:
        await s.execute(insert(Person), [
            dict(id=1000 + i, name=f"Familia {i}", phone=f"+{wa_id(i)}", created_at=now,
                 contact_consent_at=now, contact_consent_source=people.CONTACT_CONSENT_IMPORT,
                 locale="es", reachable=True) for i in range(n)])
        await s.execute(insert(ChannelAddress), [
            dict(person_id=1000 + i, channel=people.CONTACT_CHANNEL, address=wa_id(i),
                 created_at=now) for i in range(n)])
        for i in range(n):
            assert await outbox.enqueue_for_person(
                s, 1000 + i, payload, key=f"bc:p:{i}", kind="broadcast", now=now, batch="p",
                zone="America/Santiago") is not None
        await s.commit()
    await engine.dispose()


@pytest.fixture
async def fake() -> AsyncIterator[FakeWhatsApp]:
    server = FakeWhatsApp(auto_approve=True, auto_statuses=True, rate_limit_per_second=80,
                          enforce_rate_limit=True, timeout_hold=2.0,
                          app_secret="process-app-secret-0123456789")
    await server.start()
    # As an operator does once: `convoca whatsapp templates push` (approved at once here).
    client = CloudClient(server.base_url, server.token, server.phone_number_id,
                         server.business_account_id)
    await wa_templates.push(client, wa_templates.load())
    await client.close()
    yield server
    await server.stop()


@pytest.fixture
async def spawn(tmp_path: Path) -> AsyncIterator:
    procs: list[asyncio.subprocess.Process] = []

    async def start(fake: FakeWhatsApp, url: str, port: int) -> asyncio.subprocess.Process:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("TELEGRAM_", "DATABASE_", "WHATSAPP_", "WEBHOOK_",
                                    "HTTP_LISTEN", "PUBLIC_URL"))}
        env.update(DATABASE_URL=url, PYTHONPATH=str(ROOT), TIMEZONE="America/Santiago",
                   WHATSAPP_ACCESS_TOKEN=fake.token,
                   WHATSAPP_PHONE_NUMBER_ID=fake.phone_number_id,
                   WHATSAPP_BUSINESS_ACCOUNT_ID=fake.business_account_id,
                   WHATSAPP_APP_SECRET=fake.app_secret, WHATSAPP_VERIFY_TOKEN=VERIFY_TOKEN,
                   WHATSAPP_API_BASE=fake.base_url, WHATSAPP_MESSAGES_PER_SECOND=RATE,
                   HTTP_LISTEN=f"127.0.0.1:{port}",
                   LOG_FILE=str(tmp_path / f"convoca-{len(procs)}.log"))
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "run", cwd=tmp_path, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        procs.append(proc)
        return proc

    yield start
    for p in procs:
        if p.returncode is None:
            p.kill()
            await p.wait()


async def wait_until(test, timeout: float, what: str, proc=None, every: float = 0.02,
                     detail=None) -> None:
    deadline = time.monotonic() + timeout
    while not await test():
        if proc is not None and proc.returncode is not None:
            out = await proc.stdout.read()
            raise AssertionError(f"the process exited ({proc.returncode}) before {what}:\n"
                                 f"{out.decode()[-3000:]}")
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s: {what}"
                                 + (f"; {await detail()}" if detail else ""))
        await asyncio.sleep(every)


def log_tails(folder: Path) -> str:
    """The processes' logs, for a failure's report."""
    return "\n".join(p.read_text()[-4000:] for p in sorted(folder.glob("*.log")))


async def settled(url: str) -> bool:
    return not any(r.status in (OutboxStatus.PENDING, OutboxStatus.SENDING)
                   for r in await outbox_rows(url))


async def broadcast_killed_and_finished(fake: FakeWhatsApp, url: str, spawn, logs: Path
                                        ) -> list[OutboxMessage]:
    await seed_and_queue(url, N)
    port = free_port()
    fake.webhook_url = f"http://127.0.0.1:{port}/whatsapp"
    first = await spawn(fake, url, port)

    async def accepted(count: int) -> bool:
        return len(fake.messages()) >= count

    # The worst moment: Meta has messages Convoca has not yet recorded, some of whose
    # receipts reach the process and some not.
    # Start-up (imports, migrations, the templates' sync) takes seconds on a quiet machine and
    # nearly a minute on a busy one: the waits are long, a passing run is not.
    await wait_until(lambda: accepted(KILL_AFTER), 150, f"{KILL_AFTER} accepted sends", first)
    first.send_signal(signal.SIGKILL)
    await first.wait()
    killed_at = len(fake.messages())
    assert killed_at < N  # the kill really happened mid-broadcast
    await asyncio.sleep(0.5)  # receipts of the last sends find nobody listening
    second = await spawn(fake, url, port)

    async def done() -> bool:
        # Meta retries the webhooks nobody took, for hours; here every half second or so.
        if fake._undelivered:
            await fake.redeliver()
        return not fake._undelivered and not fake._tasks and await settled(url)

    async def where() -> str:
        rows = await outbox_rows(url)
        return (f"rows {Counter(r.status for r in rows)}, accepted {len(fake.messages())} "
                f"(at the kill {killed_at}), webhooks not taken {len(fake._undelivered)}, "
                f"statuses being posted {len(fake._tasks)}, fake {dict(fake.stats)}\n"
                + log_tails(logs))

    await wait_until(done, 150, "every row settled and every receipt taken", second, 0.5,
                     where)
    await asyncio.sleep(1.0)  # a second message to anyone would arrive now
    await fake.redeliver()
    second.send_signal(signal.SIGTERM)
    out, _ = await asyncio.wait_for(second.communicate(), 30)
    assert second.returncode == 0, out.decode()[-3000:]
    assert b"Traceback" not in out, out.decode()[-3000:]
    return await outbox_rows(url)


def assert_once_or_honestly_uncertain(fake: FakeWhatsApp, rows: list[OutboxMessage]) -> None:
    fake.assert_clean()
    per_person = Counter(m.wa_id for m in fake.messages())
    assert all(c == 1 for c in per_person.values()), "someone got the broadcast twice"
    assert all(m.template == ("convoca_broadcast", "es") for m in fake.messages())
    by_address = {r.address: r for r in rows}
    assert len(rows) == N and set(by_address) == {wa_id(i) for i in range(N)}
    states = Counter(r.status for r in rows)
    assert set(states) <= {OutboxStatus.SENT, OutboxStatus.UNCERTAIN}, states
    for address, row in by_address.items():
        if per_person[address]:
            # Meta took it: sent, by the send's answer or, for a send cut off by the kill,
            # by its receipt.
            assert row.status == OutboxStatus.SENT, (address, row.status, row.last_error)
        else:
            # Never reached Meta: claimed by the dead process and not resent, as promised.
            assert row.status == OutboxStatus.UNCERTAIN, (address, row.status)
            assert row.last_error == outbox.UNCERTAIN_REASON
    # The dead process had only what it claimed ahead of the pace in hand: a second or so.
    assert states[OutboxStatus.UNCERTAIN] <= 2 * int(RATE), states


async def test_sigkill_mid_broadcast_on_whatsapp_sends_nobody_two(fake, sqlite_url, spawn,
                                                                  tmp_path: Path) -> None:
    rows = await broadcast_killed_and_finished(fake, sqlite_url, spawn, tmp_path)
    assert_once_or_honestly_uncertain(fake, rows)


async def test_sigkill_mid_broadcast_on_whatsapp_postgresql(fake, postgres_url, spawn,
                                                            tmp_path: Path) -> None:
    rows = await broadcast_killed_and_finished(fake, postgres_url, spawn, tmp_path)
    assert_once_or_honestly_uncertain(fake, rows)
