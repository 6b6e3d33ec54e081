"""What every benchmark shares: the machine, statistics, result files, databases, seeding,
and a fake Bot API that also notes when each update was handed out and each reply came."""

from __future__ import annotations

import asyncio
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
PG_BASE = os.environ.get("CONVOCA_BENCH_POSTGRES_URL",
                         "postgresql://postgres@127.0.0.1:5432/test")
TOKEN = "123456:BENCH-token-abcdef"
WEBHOOK_SECRET = "bench-webhook-secret"
# The Telegram libraries Convoca can run on (bot.telegram.DRIVERS), in the tables' order.
DRIVERS = ("aiogram", "ptb")
FIRST_CHAT = 900_000
# Methods whose success is a message the person sees (edits count: a tick on a button).
REPLY_METHODS = frozenset({"sendMessage", "editMessageText", "sendDocument", "sendLocation"})

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.fakes.telegram_api import FakeTelegram, Recorded  # noqa: E402
from tests.scratch_db import scratch_database  # noqa: E402

# --- the machine and the numbers ---------------------------------------------------------


def parse_drivers(value: str) -> list[str]:
    """`--drivers aiogram,ptb`: the drivers to measure, each once, in the order given."""
    drivers = list(dict.fromkeys(d.strip() for d in value.split(",") if d.strip()))
    unknown = [d for d in drivers if d not in DRIVERS]
    if unknown or not drivers:
        raise SystemExit(f"--drivers: {', '.join(unknown) or 'none given'} "
                         f"(choose from {', '.join(DRIVERS)})")
    return drivers


def library_versions() -> dict[str, str]:
    """The installed versions of what the benchmarks compare (for the results' header)."""
    from importlib import metadata

    out = {}
    for dist in ("aiogram", "python-telegram-bot", "httpx", "aiohttp", "pydantic",
                 "SQLAlchemy"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    return out


def machine() -> dict[str, Any]:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "nproc": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
        else os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "loadavg_at_start": list(os.getloadavg()),
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "libraries": library_versions(),
    }


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100); what a latency SLO means by p99."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * p // 100))  # ceil without floats
    return ordered[int(rank) - 1]


def summary(values: Iterable[float]) -> dict[str, Any]:
    vals = [v for v in values if v == v]  # drop NaN
    if not vals:
        return {"median": None, "min": None, "max": None, "n": 0, "values": []}
    return {"median": statistics.median(vals), "min": min(vals), "max": max(vals),
            "n": len(vals), "values": vals}


def fmt(x: Any, digits: int = 1) -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:,.{digits}f}"
    if isinstance(x, int):
        return f"{x:,}"
    return str(x)


def med(s: dict[str, Any], digits: int = 1) -> str:
    """'median (min–max)' of a summary."""
    if not s.get("n"):
        return "-"
    return f"{fmt(s['median'], digits)} ({fmt(s['min'], digits)}–{fmt(s['max'], digits)})"


def print_table(title: str, headers: list[str], rows: list[list[Any]]) -> None:
    cells = [[str(c) for c in headers]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    print(f"\n{title}")
    line = "  ".join("-" * w for w in widths)
    print(line)
    for n, r in enumerate(cells):
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                        for i, (c, w) in enumerate(zip(r, widths, strict=True))))
        if n == 0:
            print(line)
    print(line)


def write_results(name: str, data: dict[str, Any], out_dir: Path | None = None) -> Path:
    out = out_dir or RESULTS
    out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = out / f"{name}-{stamp}.json"
    body = json.dumps({"benchmark": name, "command": " ".join(sys.argv),
                       "machine": machine(), **data}, indent=2, default=str)
    path.write_text(body)
    (out / f"{name}-latest.json").write_text(body)
    print(f"\nresults: {path}")
    return path


def cpu_seconds(pid: int) -> float:
    """User + system CPU a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mb(pid: int) -> float | None:
    """The process's peak resident memory so far (VmHWM, the same as getrusage maxrss)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


# --- databases -----------------------------------------------------------------------------


def sqlite_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


@asynccontextmanager
async def postgres_database(prefix: str = "convoca_bench") -> AsyncIterator[str]:
    """A fresh database on the local PostgreSQL (migrated by the caller), dropped afterwards."""
    async with scratch_database(PG_BASE, prefix) as url:
        yield url


async def migrate(url: str) -> None:
    from storage import db

    engine = db.create_engine(url)
    try:
        await db.upgrade(engine)
    finally:
        await engine.dispose()


async def seed_forms(url: str) -> None:
    """Store the Ficha's definition, as the first /ficha would. Done ahead because on
    PostgreSQL many first /ficha at once race to insert it (see BENCHMARKS.md)."""
    from domain import forms
    from storage import db, responses

    engine = db.create_engine(url)
    try:
        async with db.session_factory(engine)() as s:
            await responses.ensure_definition(s, forms.load_form("ficha_interes"),
                                              datetime.now(UTC))
            await s.commit()
    finally:
        await engine.dispose()


async def seed_people(url: str, n: int, *, first_chat: int = FIRST_CHAT,
                      locale: str = "es") -> list[int]:
    """n registered people (consent given), each with a Telegram chat; returns their ids."""
    from sqlalchemy import insert, select

    from storage import db
    from storage.models import ChannelAddress, Person

    engine = db.create_engine(url)
    now = datetime.now(UTC)
    try:
        async with db.session_factory(engine)() as s:
            base = (await s.scalar(select(Person.id).order_by(Person.id.desc()).limit(1))) or 0
            for start in range(0, n, 5000):
                chunk = range(start, min(n, start + 5000))
                await s.execute(insert(Person), [
                    dict(id=base + 1 + i, created_at=now, consent_at=now, consent_version="1",
                         locale=locale, reachable=True) for i in chunk])
                await s.execute(insert(ChannelAddress), [
                    dict(person_id=base + 1 + i, channel="telegram",
                         address=str(first_chat + i), created_at=now,
                         last_inbound_message_id="1") for i in chunk])
            await s.commit()
            if engine.dialect.name == "postgresql":
                # Explicit ids leave the sequences behind; Convoca's own inserts need them on.
                from sqlalchemy import text

                for table in ("people", "channel_addresses"):
                    await s.execute(text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"(SELECT max(id) FROM {table}))"))
                await s.commit()
    finally:
        await engine.dispose()
    return list(range(base + 1, base + 1 + n))


# --- the fake Bot API, instrumented -----------------------------------------------------------


class BenchTelegram(FakeTelegram):
    """The project's fake Bot API (every request still checked against the spec), noting when
    getUpdates handed out each update and calling back on each reply a chat receives.

    With `webhooks` (URLs), it is Telegram with a webhook behind a load balancer: each update
    is POSTed to one of them at once (a chat always to the same one) with the secret token,
    and never queued for getUpdates; it counts as handed out when posted."""

    def __init__(self, *args: Any, keep_requests: bool = True, **kwargs: Any) -> None:
        kwargs.setdefault("token", TOKEN)
        kwargs.setdefault("timeout_hold", 2.0)
        super().__init__(*args, **kwargs)
        self.handed_out: dict[int, float] = {}
        self.on_reply: Callable[[Any, Recorded], None] | None = None
        self.keep_requests = keep_requests
        self.sent_requests = 0  # message-method requests, whatever the outcome
        self.first_seen: dict[str, float] = {}
        self.webhooks: list[str] = []
        self.webhook_errors = 0  # a webhook that did not answer 200 (the post is retried)
        self._posting: set[asyncio.Task[None]] = set()
        self._http: Any = None

    def push_update(self, update: dict[str, Any]) -> dict[str, Any]:
        if not self.webhooks:
            return super().push_update(update)
        update = self.numbered(update)  # posted to a webhook rather than queued
        body = update.get("message") or (update.get("callback_query") or {}).get("message")
        chat = int(body["chat"]["id"]) if body else 0
        self.handed_out.setdefault(update["update_id"], time.monotonic())
        task = asyncio.get_running_loop().create_task(
            self._post(self.webhooks[chat % len(self.webhooks)], update))
        self._posting.add(task)
        task.add_done_callback(self._posting.discard)
        return update

    async def _post(self, url: str, update: dict[str, Any]) -> None:
        """As Telegram: until the webhook answers 200 (here: a few tries, half a second
        apart)."""
        import aiohttp

        if self._http is None:
            self._http = aiohttp.ClientSession()
        for _ in range(10):
            try:
                async with self._http.post(url, json=update, headers={
                        "X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET}) as r:
                    if r.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            self.webhook_errors += 1
            await asyncio.sleep(0.5)

    async def stop(self) -> None:
        for task in list(self._posting):
            task.cancel()
        await asyncio.gather(*self._posting, return_exceptions=True)
        if self._http is not None:
            await self._http.close()
            self._http = None
        await super().stop()

    def _take_updates(self, limit: int) -> list[dict[str, Any]]:
        batch = super()._take_updates(limit)
        now = time.monotonic()
        for u in batch:
            self.handed_out.setdefault(u["update_id"], now)
        return batch

    def _record(self, rec: Recorded) -> None:
        self.first_seen.setdefault(rec.method, rec.at)
        if rec.method in REPLY_METHODS or rec.method.lower() in self._message_methods:
            self.sent_requests += 1
        if self.keep_requests:
            super()._record(rec)
        else:  # long runs: counts only, so the fake's memory stays flat
            self.stats["requests"] += 1
            self.stats[rec.outcome] += 1
            self._delivered.clear()
            self._delivered_by_chat.clear()
        if rec.outcome == "ok" and rec.method in REPLY_METHODS and self.on_reply is not None:
            self.on_reply(rec.chat_id, rec)

    def add_chats(self, first: int, n: int) -> None:
        for i in range(n):
            self.add_chat(first + i)


# --- processes ------------------------------------------------------------------------------


def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("TELEGRAM_", "DATABASE_", "WEBHOOK_", "ADMIN_"))}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra)
    return env


def _log_file(path: Path | None) -> Any:
    return path.open("ab") if path else asyncio.subprocess.DEVNULL


async def spawn(*args: str, log_path: Path | None = None, cwd: Path | None = None,
                env: dict[str, str] | None = None) -> asyncio.subprocess.Process:
    out = _log_file(log_path)
    try:
        return await asyncio.create_subprocess_exec(
            sys.executable, *args, cwd=str(cwd or ROOT), env=env or child_env(),
            stdout=out, stderr=asyncio.subprocess.STDOUT,
        )
    finally:
        if log_path:
            out.close()


async def stop_process(proc: asyncio.subprocess.Process, timeout: float = 20.0) -> None:
    if proc.returncode is not None:
        return
    proc.terminate()
    try:
        await asyncio.wait_for(proc.wait(), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()


async def wait_for_call(fake: BenchTelegram, method: str, timeout: float,
                        proc: asyncio.subprocess.Process | None = None) -> float:
    """Wait until the fake sees `method`; returns its Recorded.at."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if method in fake.first_seen:
            return fake.first_seen[method]
        if proc is not None and proc.returncode is not None:
            raise RuntimeError(f"the process exited ({proc.returncode}) before {method}")
        await asyncio.sleep(0.02)
    raise TimeoutError(f"no {method} within {timeout}s")


async def wait_for_poll(fake: BenchTelegram, timeout: float,
                        proc: asyncio.subprocess.Process | None = None) -> float:
    """Wait until the bot's first getUpdates arrives; returns when. wait_for_call sees it
    only once answered: a long poll with nothing to hand out is held for its whole timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if fake.polls:
            return fake.polls[0]
        if proc is not None and proc.returncode is not None:
            raise RuntimeError(f"the process exited ({proc.returncode}) before getUpdates")
        await asyncio.sleep(0.02)
    raise TimeoutError(f"no getUpdates within {timeout}s")


async def final_states(url: str) -> dict[str, int]:
    """How many outbox rows ended in each state: a broadcast benchmark's last count."""
    from sqlalchemy import func, select

    from storage import db
    from storage.models import OutboxMessage

    engine = db.create_engine(url)
    try:
        async with db.session_factory(engine)() as s:
            rows = await s.execute(select(OutboxMessage.status, func.count())
                                   .group_by(OutboxMessage.status))
            return {str(k): int(v) for k, v in rows.all()}
    finally:
        await engine.dispose()
