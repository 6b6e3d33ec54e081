"""Three `convoca run` processes on one PostgreSQL database, behind a round-robin load
balancer with no sticky routing, against the fake Bot API (which checks every request
against the official spec): 1,000 people talk to the bot while a 5,000-message broadcast
goes out, and the process that holds the sender's lease is killed with SIGKILL in the
middle. Counted from what the fake received: every update answered once, in each person's
order; every broadcast recipient one message; never more sends than the limit in any
one-second window, over all three processes together.

PostgreSQL only (CONVOCA_TEST_POSTGRES_URL): several processes on SQLite is not a
configuration Convoca offers."""

from __future__ import annotations

import asyncio
import os
import signal
import statistics
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import select

from handlers.events import Outgoing
from locales import Msg
from storage import db, outbox
from storage.models import ChannelAddress, Lease, OutboxMessage, OutboxStatus, Person

ROOT = Path(__file__).resolve().parents[1]
SECRET = "s3cret-Token_1-for-tests"
TOKEN = "123456:TEST-token-abcdef"
PEOPLE = 1_000  # who talk to the bot
RECIPIENTS = 5_000  # who receive the broadcast
TALKERS, LISTENERS = 700_000, 800_000  # their chat ids from here
# Each person sends two quick messages (each to another process), waits for both answers,
# then two more: a burst tests the order, the wait is how people write.
BURSTS = [["/ayuda", "/idioma"], ["hola", "/ayuda"]]
LIMIT = 250  # messages a second: high enough to finish soon, low enough to show a violation
KILL_AFTER = 1_500  # broadcast messages delivered when the sender is killed
HELP = "Esto es lo que puedes hacer"
LANGUAGE = "¿En qué idioma prefieres que te escriba?"


def expected(command: str, text: str) -> bool:
    if command == "/ayuda":
        return text.startswith(HELP)
    if command == "/idioma":
        return text == LANGUAGE
    return not text.startswith(HELP) and text != LANGUAGE


async def seed(url: str, fake: Any) -> list[int]:
    """The talkers and the broadcast's recipients: consented, each of whom once wrote to the
    bot (message 1 of their chat); returns the recipients' person ids."""
    engine = db.create_engine(url)
    await db.upgrade(engine)
    now = datetime.now(UTC)
    chats = [TALKERS + i for i in range(PEOPLE)] + [LISTENERS + i for i in range(RECIPIENTS)]
    async with db.session_factory(engine)() as s:
        for chat in chats:
            fake.add_chat(chat)
            fake.past_message(chat, "/start")
            p = Person(created_at=now, consent_at=now, locale="es", reachable=True)
            p.addresses = [ChannelAddress(channel="telegram", address=str(chat), created_at=now,
                                          last_inbound_message_id="1")]
            s.add(p)
        await s.commit()
        ids = list((await s.scalars(
            select(ChannelAddress.person_id).where(ChannelAddress.address.in_(
                [str(c) for c in chats[PEOPLE:]])))).all())
        payload = Outgoing(text=Msg("input.not_understood")).to_json()
        for pid in ids:
            await outbox.enqueue_for_person(s, pid, payload, key=f"bc:many:{pid}",
                                            kind="broadcast", now=now, batch="many")
        await s.commit()
    await engine.dispose()
    return ids


class Processes:
    """The three processes, each with its port and its log file."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.procs: list[asyncio.subprocess.Process] = []
        self.ports: list[int] = []
        self.alive: list[bool] = []

    async def start(self, fake: Any, url: str, n: int) -> None:
        from test_webhook import free_port

        for i in range(n):
            port = free_port()
            env = {k: v for k, v in os.environ.items()
                   if not k.startswith(("TELEGRAM_", "DATABASE_", "WEBHOOK_", "LEASE_"))}
            env.update(TELEGRAM_BOT_TOKEN=fake.token, TELEGRAM_API_BASE=fake.base_url,
                       TELEGRAM_DRIVER=fake.driver, DATABASE_URL=url, PYTHONPATH=str(ROOT),
                       TELEGRAM_MESSAGES_PER_SECOND=str(LIMIT), WEB_PANEL="false",
                       WEBHOOK_URL="https://convoca.example.org", WEBHOOK_SECRET=SECRET,
                       HTTP_LISTEN=f"127.0.0.1:{port}")
            log = (self.folder / f"convoca-{i}.log").open("wb")
            self.procs.append(await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot", "run", cwd=self.folder, env=env,
                stdout=log, stderr=asyncio.subprocess.STDOUT))
            self.ports.append(port)
            self.alive.append(True)

    async def listening(self, timeout: float = 60) -> None:
        """Every process takes requests: a load balancer's health check before traffic."""
        deadline = time.monotonic() + timeout
        for port in self.ports:
            while True:
                try:
                    _, writer = await asyncio.open_connection("127.0.0.1", port)
                    writer.close()
                    break
                except OSError:
                    assert time.monotonic() < deadline, self.logs()
                    await asyncio.sleep(0.1)

    def logs(self) -> str:
        return "\n".join(f"--- process {i}\n" + (self.folder / f"convoca-{i}.log")
                         .read_text(errors="replace")[-3000:] for i in range(len(self.procs)))

    async def kill(self, pid: int) -> int:
        i = next(i for i, p in enumerate(self.procs) if p.pid == pid)
        self.procs[i].send_signal(signal.SIGKILL)
        await self.procs[i].wait()
        self.alive[i] = False
        return i

    async def stop(self) -> None:
        for p in self.procs:
            if p.returncode is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                await asyncio.wait_for(p.wait(), 30)
            except TimeoutError:
                p.kill()
                await p.wait()


class Balancer:
    """Round robin over the processes, no stickiness; one that does not answer is skipped,
    as a load balancer's health check would."""

    def __init__(self, procs: Processes) -> None:
        self.procs = procs
        self.turn = 0
        self.http = aiohttp.ClientSession()

    async def post(self, update: dict[str, Any]) -> None:
        headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
        for _ in range(600):
            self.turn += 1
            i = self.turn % len(self.procs.ports)
            if not self.procs.alive[i]:
                continue
            try:
                async with self.http.post(f"http://127.0.0.1:{self.procs.ports[i]}/telegram",
                                          json=update, headers=headers) as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass  # starting, or just killed: the next one takes it
            await asyncio.sleep(0.05)
        raise AssertionError(f"no process took update {update['update_id']}")


def max_in_one_second(times: list[float]) -> int:
    times = sorted(times)
    most, start = 0, 0
    for end, t in enumerate(times):
        while t - times[start] >= 1.0:
            start += 1
        most = max(most, end - start + 1)
    return most


async def holder_pid(url: str) -> int:
    engine = db.create_engine(url)
    async with db.session_factory(engine)() as s:
        holder = await s.scalar(select(Lease.holder).where(
            Lease.name == f"sender:telegram:{TOKEN.split(':')[0]}"))
    await engine.dispose()
    assert holder, "nobody holds the sender's lease"
    return int(holder.split(":")[1])


async def test_three_processes_a_thousand_people_a_broadcast_and_a_sigkill(
        postgres_url: str, tmp_path: Path) -> None:
    from fakes.telegram_api import FakeTelegram

    fake = FakeTelegram(token=TOKEN, timeout_hold=2.0, rate_limit_per_second=LIMIT)
    fake.expect_driver(fake.driver)
    await fake.start()
    procs = Processes(tmp_path)
    balancer = Balancer(procs)
    try:
        await seed(postgres_url, fake)
        began = time.monotonic()
        await procs.start(fake, postgres_url, 3)
        await procs.listening()
        posted: dict[tuple[int, int], float] = {}

        async def person(n: int) -> None:
            chat = TALKERS + n
            await asyncio.sleep(n * 0.02)  # people arrive over 20 seconds
            sent = 0
            for burst in BURSTS:
                for command in burst:
                    update = fake.command(chat, command)
                    posted[(chat, sent)] = time.monotonic()
                    sent += 1
                    await balancer.post(update)
                deadline = time.monotonic() + 150
                while len(fake.delivered(chat)) < sent:  # a person waits for the answers
                    assert time.monotonic() < deadline, f"chat {chat} left unanswered"
                    await asyncio.sleep(0.1)

        talking = asyncio.gather(*(person(n) for n in range(PEOPLE)))
        # The sender's lease holder killed mid-broadcast, its sends in flight.
        await fake.wait_for(lambda _r: sum(
            1 for r in fake.delivered() if r.chat_id >= LISTENERS) >= KILL_AFTER, timeout=120)
        victim = await procs.kill(await holder_pid(postgres_url))
        killed_at = time.monotonic()
        await talking
        total = PEOPLE * sum(map(len, BURSTS)) + RECIPIENTS
        await fake.wait_for(lambda _r: len(fake.delivered()) >= total, timeout=150)
        await asyncio.sleep(3.0)  # a duplicate would arrive now
        finished = time.monotonic()
    except BaseException:
        print(procs.logs())
        print(await _state(postgres_url, fake))
        raise
    finally:
        await balancer.http.close()
        await procs.stop()
        await fake.stop()

    # Every update answered, once, in each person's order.
    commands = [c for burst in BURSTS for c in burst]
    wrong = {}
    for n in range(PEOPLE):
        texts = fake.texts(TALKERS + n)
        if len(texts) != len(commands) or not all(
                expected(c, t) for c, t in zip(commands, texts, strict=False)):
            wrong[TALKERS + n] = [t[:40] for t in texts]
    assert not wrong, f"{len(wrong)} people: {list(wrong.items())[:3]}"
    # Every recipient of the broadcast: one message.
    per_chat = Counter(r.chat_id for r in fake.delivered() if r.chat_id >= LISTENERS)
    assert per_chat == {LISTENERS + i: 1 for i in range(RECIPIENTS)}
    rows = await _rows(postgres_url)
    statuses = Counter(r.status for r in rows)
    assert statuses == {OutboxStatus.SENT: len(rows)}, statuses
    # The platform's rate: all sends of the three processes together, as the fake saw them.
    sends = [r for r in fake.requests if r.method.lower() == "sendmessage"]
    assert not [r for r in sends if r.outcome == "429"]
    busiest = max_in_one_second([r.at for r in sends])
    assert busiest <= LIMIT, busiest
    fake.assert_clean()
    after = [r.at for r in sends if r.at > killed_at]
    latencies = sorted(fake.delivered(chat)[i].at - at for (chat, i), at in posted.items())
    print(f"\n3 processes, {len(posted)} updates, {RECIPIENTS} broadcast, "
          f"{len(sends)} sendMessage in {finished - began:.1f}s; busiest second {busiest}/"
          f"{LIMIT}; process {victim} killed, sends resumed {min(after) - killed_at:.2f}s "
          f"later; reply latency median {statistics.median(latencies) * 1000:.0f} ms, "
          f"p95 {latencies[int(len(latencies) * 0.95)] * 1000:.0f} ms")


async def _state(url: str, fake: Any) -> str:
    """What the database and the fake say, for a failure's report."""
    from storage.models import IncomingUpdate

    engine = db.create_engine(url)
    async with db.session_factory(engine)() as s:
        rows = list((await s.scalars(select(OutboxMessage))).all())
        updates = list((await s.scalars(select(IncomingUpdate))).all())
        held = (await s.execute(select(Lease.name, Lease.holder, Lease.expires_at))).all()
    await engine.dispose()
    unanswered = [TALKERS + n for n in range(PEOPLE)
                  if len(fake.delivered(TALKERS + n)) < sum(map(len, BURSTS))]
    lines = [f"outbox: {Counter((r.kind, r.status) for r in rows)}",
             f"intake: {Counter((u.handled_at is not None, u.claimed_by) for u in updates)}",
             f"leases: {held}", f"{len(unanswered)} unanswered: {unanswered[:10]}"]
    for chat in unanswered[:3]:
        lines.append(f"chat {chat}: fake {[(r.method, r.outcome) for r in fake.requests if r.chat_id == chat]}")
        lines += [f"  in {u.id} {u.key} handled={u.handled_at} by={u.claimed_by}"
                  for u in updates if u.address == str(chat)]
        lines += [f"  out {r.id} {r.status} by={r.claimed_by} {r.last_error}"
                  for r in rows if r.address == str(chat)]
    return "\n".join(lines)


async def _rows(url: str) -> list[OutboxMessage]:
    engine = db.create_engine(url)
    async with db.session_factory(engine)() as s:
        rows = list((await s.scalars(select(OutboxMessage))).all())
    await engine.dispose()
    return rows



async def test_two_polling_processes_one_polls_and_the_other_takes_over_when_it_dies(
        postgres_url: str, tmp_path: Path) -> None:
    """Long polling: two getUpdates on one token conflict (409), so one process polls, by
    its lease; killed, the other polls within seconds, and nothing is lost or doubled."""
    from fakes.telegram_api import FakeTelegram

    fake = FakeTelegram(token=TOKEN, timeout_hold=2.0)
    fake.expect_driver(fake.driver)
    await fake.start()
    procs = Processes(tmp_path)
    chats = [TALKERS + i for i in range(10)]
    try:
        engine = db.create_engine(postgres_url)
        await db.upgrade(engine)
        await engine.dispose()
        for i in range(2):
            env = {k: v for k, v in os.environ.items()
                   if not k.startswith(("TELEGRAM_", "DATABASE_", "WEBHOOK_", "LEASE_"))}
            env.update(TELEGRAM_BOT_TOKEN=fake.token, TELEGRAM_API_BASE=fake.base_url,
                       TELEGRAM_DRIVER=fake.driver, DATABASE_URL=postgres_url,
                       PYTHONPATH=str(ROOT), WEB_PANEL="false")
            log = (tmp_path / f"convoca-{i}.log").open("wb")
            procs.procs.append(await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot", "run", cwd=tmp_path, env=env, stdout=log,
                stderr=asyncio.subprocess.STDOUT))
            procs.alive.append(True)
        await fake.wait_for_poll(timeout=60)
        for chat in chats:
            fake.command(chat, "/ayuda")
        await fake.wait_for(lambda _r: len(fake.delivered()) >= len(chats), timeout=60)
        poller = await holder_pid_of(postgres_url, f"poller:telegram:{TOKEN.split(':')[0]}")
        await procs.kill(poller)
        killed_at = time.monotonic()
        for chat in chats:
            fake.command(chat, "/idioma")
        await fake.wait_for(lambda _r: len(fake.delivered()) >= 2 * len(chats), timeout=60)
        answered_after = time.monotonic() - killed_at
        await asyncio.sleep(2.0)  # a duplicate would arrive now
    except BaseException:
        print(procs.logs())
        raise
    finally:
        await procs.stop()
        await fake.stop()
    for chat in chats:
        texts = fake.texts(chat)
        assert len(texts) == 2 and texts[0].startswith(HELP) and texts[1] == LANGUAGE, texts
    # Never two pollers at once: Telegram would have ended the older poll with 409.
    polls = fake.calls("getUpdates")
    assert polls and not [r for r in polls if r.outcome == "409"]
    assert answered_after < 30, answered_after
    print(f"\npoller killed; its updates answered by the other {answered_after:.1f}s later")
    fake.assert_clean()


async def holder_pid_of(url: str, name: str) -> int:
    engine = db.create_engine(url)
    async with db.session_factory(engine)() as s:
        holder = await s.scalar(select(Lease.holder).where(Lease.name == name))
    await engine.dispose()
    assert holder, f"nobody holds {name}"
    return int(holder.split(":")[1])
