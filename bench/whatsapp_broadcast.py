"""Benchmark 7 — a WhatsApp broadcast at the number's limit: N families with paper consent
(a WhatsApp address, contact_consent_at, never wrote) and one broadcast queued for them as
the gestora's broadcast service queues it (services.outreach.broadcast_message, then
storage.outbox.enqueue_for_person, one row each), delivered by `convoca worker` (WhatsApp
only, its own process) to the fake Cloud API (tests/fakes/whatsapp_api.py), which enforces
the limit over a sliding second and answers 130429 beyond it. Outside the 24-hour window
every message goes as the approved template convoca_broadcast (pushed to the fake, approved
at once, synced by the worker at start).

    python -m bench.whatsapp_broadcast --runs 3 --only 80 --recipients 10000
    python -m bench.whatsapp_broadcast --runs 3 --only 1000,none --recipients 10000

Limits: "80" (WhatsApp's default per number: the fake at 80/s, WHATSAPP_MESSAGES_PER_SECOND
=80), "1000" (both at 1,000/s, the most Convoca accepts), "none" (the fake without a limit,
Convoca at 1,000/s: what the fake's own enforcement costs).

Reported per run, all counted from what the fake recorded: the achieved rate (accepted sends
between the first and the last, the fake's monotonic stamps), 130429 answers as a share of
send requests, lost (a recipient with nothing), doubled (a recipient with more than one),
the most sends accepted in any one-second window, and the outbox rows' final states."""

from __future__ import annotations

import argparse
import asyncio
import shutil
import socket
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.common import (
    RESULTS,
    child_env,
    cpu_seconds,
    final_states,
    med,
    migrate,
    print_table,
    spawn,
    sqlite_url,
    stop_process,
    summary,
    write_results,
)
from tests.fakes.whatsapp_api import FakeWhatsApp, GraphError

FIRST_WA_ID = 56_990_000_000  # wa_ids of the families: 569 9000 0000 onwards
WARM_UP = 20  # free-form sends to people who wrote, before the measured ones; not counted
WARM_UP_WA_ID = 56_980_000_000
TOKEN = "BENCH-WA-TOKEN"
APP_SECRET = "bench-app-secret"
VERIFY_TOKEN = "bench-verify-token"
PROGRAMME = "Barrio Los Aromos"
TEXT = "Este sábado a las 10:00 hay operativo de salud en la sede. ¡Los esperamos!"

# label -> (fake's limit, WHATSAPP_MESSAGES_PER_SECOND, target rate)
LIMITS: dict[str, tuple[float | None, float, float]] = {
    "80": (80, 80, 0.95 * 80),
    "1000": (1000, 1000, 0.95 * 1000),
    "none": (None, 1000, 0.95 * 1000),
}


class BenchWhatsApp(FakeWhatsApp):
    """The project's fake Cloud API (every request still checked against the spec), counting
    the 130429 it answers."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.throttled = 0

    def _rate(self, to: str) -> None:
        try:
            super()._rate(to)
        except GraphError as exc:
            if exc.code == 130429:
                self.throttled += 1
            raise

    def send_requests(self) -> int:
        return sum(1 for method, path, _ in self.requests
                   if method == "POST" and path.endswith("/messages"))


def wa_id(i: int) -> str:
    return str(FIRST_WA_ID + i)


async def seed_families(url: str, n: int) -> list[int]:
    """n families imported with their phone and paper consent (as storage.imported's
    reachable_with_consent leaves them: a person with contact_consent_at and a WhatsApp
    address, no chat consent, never wrote); returns their ids."""
    from sqlalchemy import insert, select

    from storage import db, people
    from storage.models import ChannelAddress, Person

    engine = db.create_engine(url)
    now = datetime.now(UTC)
    try:
        async with db.session_factory(engine)() as s:
            base = (await s.scalar(select(Person.id).order_by(Person.id.desc()).limit(1))) or 0
            for start in range(0, n, 5000):
                chunk = range(start, min(n, start + 5000))
                await s.execute(insert(Person), [
                    dict(id=base + 1 + i, name=f"Familia {i}", phone=f"+{wa_id(i)}",
                         created_at=now, contact_consent_at=now,
                         contact_consent_source=people.CONTACT_CONSENT_IMPORT, locale="es",
                         reachable=True) for i in chunk])
                await s.execute(insert(ChannelAddress), [
                    dict(person_id=base + 1 + i, channel=people.CONTACT_CHANNEL,
                         address=wa_id(i), created_at=now) for i in chunk])
            await s.commit()
    finally:
        await engine.dispose()
    return list(range(base + 1, base + 1 + n))


async def queue_broadcast(url: str, person_ids: list[int], batch: str = "bench-wa") -> int:
    """As services.outreach.queue_broadcast queues it (its payload, key and batch), without
    the programme and targeting around it."""
    from services.outreach import broadcast_message
    from storage import db, outbox

    engine = db.create_engine(url)
    now = datetime.now(UTC)
    payload = broadcast_message(PROGRAMME, TEXT).to_json()
    queued = 0
    try:
        async with db.session_factory(engine)() as s:
            for pid in person_ids:
                queued += await outbox.enqueue_for_person(
                    s, pid, payload, key=f"bc:{batch}:{pid}", kind="broadcast", now=now,
                    batch=batch, zone="America/Santiago") is not None
            await s.commit()
    finally:
        await engine.dispose()
    return queued


async def template(workdir: Path, n: int) -> Path:
    """A database with n families and the broadcast queued, built once and copied per run."""
    path = workdir / f"wa-broadcast-{n}.sqlite3"
    if not path.exists():
        t = time.monotonic()
        url = sqlite_url(path)
        await migrate(url)
        queued = await queue_broadcast(url, await seed_families(url, n))
        assert queued == n, f"queued {queued} of {n}: paper consent did not let them in"
        print(f"  queued {n:,} broadcast rows in {time.monotonic() - t:.1f}s", flush=True)
    return path


async def approve_templates(fake: FakeWhatsApp) -> None:
    """As an operator does once: `convoca whatsapp templates push` (the fake approves at
    once); the worker syncs their status when it starts."""
    from bot.whatsapp import templates as wa_templates
    from bot.whatsapp.client import CloudClient

    fake.auto_approve = True
    client = CloudClient(fake.base_url, fake.token, fake.phone_number_id,
                         fake.business_account_id)
    try:
        await wa_templates.push(client, wa_templates.load())
    finally:
        await client.close()


async def warm_up(fake: BenchWhatsApp) -> None:
    """A few sends before the measured ones, then a quiet second: the fake server's first
    requests are slow (cold caches), which would bunch the worker's first sends on arrival."""
    from bot.whatsapp.client import CloudClient

    client = CloudClient(fake.base_url, fake.token, fake.phone_number_id)
    try:
        for i in range(WARM_UP):
            to = str(WARM_UP_WA_ID + i)
            fake._inbound[to] = fake.now  # they wrote: free-form is allowed
            await client.send(to, {"type": "text", "text": {"body": "Hola"}})
    finally:
        await client.close()
    await asyncio.sleep(1.1)  # out of the fake's one-second window
    fake.clear()
    fake.throttled = 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def worker_env(fake: FakeWhatsApp, url: str, per_second: float) -> dict[str, str]:
    env = child_env(
        DATABASE_URL=url,
        WHATSAPP_ACCESS_TOKEN=fake.token,
        WHATSAPP_PHONE_NUMBER_ID=fake.phone_number_id,
        WHATSAPP_BUSINESS_ACCOUNT_ID=fake.business_account_id,
        WHATSAPP_APP_SECRET=fake.app_secret,
        WHATSAPP_VERIFY_TOKEN=VERIFY_TOKEN,
        WHATSAPP_API_BASE=fake.base_url,
        WHATSAPP_MESSAGES_PER_SECOND=f"{per_second:g}",
        HTTP_LISTEN=f"127.0.0.1:{free_port()}",
        TIMEZONE="America/Santiago",
    )
    for k in list(env):
        if k.startswith(("WHATSAPP_", "HTTP_", "PUBLIC_URL")) and k not in (
                "WHATSAPP_ACCESS_TOKEN", "WHATSAPP_PHONE_NUMBER_ID",
                "WHATSAPP_BUSINESS_ACCOUNT_ID", "WHATSAPP_APP_SECRET", "WHATSAPP_VERIFY_TOKEN",
                "WHATSAPP_API_BASE", "WHATSAPP_MESSAGES_PER_SECOND", "HTTP_LISTEN"):
            del env[k]
    return env


async def one_run(label: str, n: int, workdir: Path, run: int) -> dict[str, Any]:
    fake_limit, per_second, target = LIMITS[label]
    db_path = workdir / f"run-{label}-{run}.sqlite3"
    shutil.copy(await template(workdir, n), db_path)
    url = sqlite_url(db_path)
    fake = BenchWhatsApp(token=TOKEN, app_secret=APP_SECRET, rate_limit_per_second=fake_limit,
                         enforce_rate_limit=True, timeout_hold=2.0)
    await fake.start()
    await approve_templates(fake)
    await warm_up(fake)
    logs = RESULTS / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    proc = await spawn("-m", "bot", "worker", env=worker_env(fake, url, per_second),
                       log_path=logs / f"whatsapp-broadcast-{label}.log")
    recipients = {wa_id(i) for i in range(n)}
    expected = n / (fake_limit or 1000)
    drv0 = time.process_time()
    deadline = time.monotonic() + 120 + 2 * expected
    worker_cpu = float("nan")
    try:
        while len(fake._sent) < n and time.monotonic() < deadline:
            if proc.returncode is not None:
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)  # a double would arrive now
        if proc.returncode is None:
            worker_cpu = cpu_seconds(proc.pid)
    finally:
        drv_cpu = time.process_time() - drv0
        await stop_process(proc)
        await fake.stop()
    sent = [m for m in fake.messages() if m.wa_id in recipients]
    times = sorted(t for m, t in zip(fake._sent, fake.send_times, strict=True)
                   if m.wa_id in recipients)
    per_person = Counter(m.wa_id for m in sent)
    span = times[-1] - times[0] if len(times) > 1 else float("nan")
    rate = (len(times) - 1) / span if len(times) > 1 and span > 0 else float("nan")
    requests = fake.send_requests()
    states = await final_states(url)
    db_path.unlink(missing_ok=True)
    return {
        "limit": label, "recipients": n, "run": run,
        "rate_per_s": rate, "target_rate": target,
        "rate_share_of_limit": rate / fake_limit if fake_limit else None,
        "seconds": span,
        "per_second": [sum(1 for t in times if int(t - times[0]) == k)
                       for k in range(int(span) + 1)] if len(times) > 1 else [],
        "longest_gap_s": max((b - a for a, b in zip(times, times[1:], strict=False)),
                             default=0.0),
        "max_per_second": fake.max_per_second(),
        "send_requests": requests,
        "130429": fake.throttled,
        "share_130429": fake.throttled / requests if requests else None,
        "templates": sum(1 for m in sent if m.template == ("convoca_broadcast", "es")),
        "lost": sum(1 for w in recipients if per_person.get(w, 0) == 0),
        "doubled": sum(c - 1 for c in per_person.values() if c > 1),
        "states": states,
        "violations": fake.violations + fake.fake_errors,
        "fake_cpu_seconds": drv_cpu,
        "worker_cpu_seconds": worker_cpu,
    }


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    labels = [x for x in args.only.split(",") if x]
    runs: dict[str, list[dict[str, Any]]] = {x: [] for x in labels}
    with tempfile.TemporaryDirectory(prefix="convoca-bench-wa-") as tmp:
        work = Path(tmp)
        for run in range(args.runs):
            order = labels[run % len(labels):] + labels[:run % len(labels)]
            for label in order:
                r = await one_run(label, args.recipients, work, run + 1)
                runs[label].append(r)
                print(f"  run={run + 1} limit={label:4s} n={r['recipients']:,} "
                      f"{r['rate_per_s']:8.1f} msg/s  max/1s {r['max_per_second']}  "
                      f"130429 {r['130429']} ({(r['share_130429'] or 0):.2%})  "
                      f"lost {r['lost']}  doubled {r['doubled']}  states {r['states']}  "
                      f"violations {len(r['violations'])}", flush=True)
    return {"runs": runs}


def report(data: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    rows = []
    for label, rs in data["runs"].items():
        e = {
            "recipients": sorted({r["recipients"] for r in rs}),
            "rate_per_s": summary(r["rate_per_s"] for r in rs),
            "share_130429": summary(100 * (r["share_130429"] or 0.0) for r in rs),
            "max_per_second": summary(float(r["max_per_second"]) for r in rs),
            "lost": sum(r["lost"] for r in rs),
            "doubled": sum(r["doubled"] for r in rs),
            "states": [r["states"] for r in rs],
        }
        out[label] = e
        fake_limit, per_second, target = LIMITS[label]
        limit = f"{fake_limit:g}/s" if fake_limit else "none"
        rows.append([limit, f"{per_second:g}/s", ",".join(f"{x:,}" for x in e["recipients"]),
                     med(e["rate_per_s"]), f"≥ {target:g}", med(e["share_130429"], 2),
                     med(e["max_per_second"], 0), e["lost"], e["doubled"]])
    print_table("WhatsApp broadcast — median (min–max) of the runs",
                ["fake's limit", "Convoca's", "recipients", "messages/s", "target",
                 "130429 % of sends", "max in 1 s", "lost", "doubled"], rows)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.whatsapp_broadcast", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--only", default="80,1000,none",
                   help="what to run: 80, 1000 (the fake's limit and Convoca's), none (the "
                        "fake without a limit, Convoca at 1,000/s)")
    p.add_argument("--recipients", type=int, default=10_000)
    p.add_argument("--out", help="results folder (default bench/results)")
    args = p.parse_args(argv)
    data = asyncio.run(measure(args))
    data["summary"] = report(data)
    data["settings"] = vars(args)
    write_results("whatsapp_broadcast", data, Path(args.out) if args.out else None)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
