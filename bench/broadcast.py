"""Benchmark 3 — broadcast at the limit: N queued notices (storage.outbox.enqueue_for_person,
one per person) delivered by Convoca's outbox Dispatcher (python -m bench.bots convoca
--no-poll) to a fake Bot API that enforces a global limit and answers 429 with retry_after
beyond it. Convoca's channel limit is set to match (Limits(per_second=30) / 300), and both
are taken away for the unlimited variant; `bare` is the driver's library alone sending as
fast as it can (python -m bench.bots blast, --blast-concurrency at a time, no database).
Each runs on every driver (--drivers aiogram,ptb: Convoca's TELEGRAM_DRIVER, and the bare
library's).

    python -m bench.broadcast --runs 5      # 2,000 at 30/s; 10,000 at 300/s, unlimited, bare
    python -m bench.broadcast --runs 5 --only bare --blast-concurrency 1,32   # the libraries
    python -m bench.broadcast --runs 1 --only 30 --recipients-30 10000  # the full 10,000 at 30/s
    python -m bench.broadcast --runs 5 --only 300,none,bare --drivers ptb

Reported per run: the achieved rate (messages/s between the first and the last delivery,
as the fake stamped them), 429s as a share of send requests, messages lost (a recipient who
got nothing) and duplicated (a recipient who got more than one), and the rows' final states."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shutil
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.common import (
    DRIVERS,
    FIRST_CHAT,
    RESULTS,
    BenchTelegram,
    final_states,
    med,
    migrate,
    parse_drivers,
    print_table,
    seed_people,
    spawn,
    sqlite_url,
    stop_process,
    summary,
    write_results,
)

# limit label -> (fake's limit, Convoca's limit, target rate). "bare@C" is the driver's
# library alone sending as fast as it can, C requests at a time, no database: the library's
# ceiling here.
LIMITS: dict[str, tuple[float | None, float | None, float]] = {
    "30": (30, 30, 0.95 * 30),
    "300": (300, 300, 0.95 * 300),
    "none": (None, None, 1000.0),
    "bare": (None, None, 1000.0),
}


def limits(label: str) -> tuple[float | None, float | None, float]:
    return LIMITS[label.split("@")[0]]


def concurrency(label: str) -> int | None:
    """bare@32 -> 32; None for Convoca's runs."""
    return int(label.split("@")[1]) if "@" in label else None


async def queue_broadcast(url: str, person_ids: list[int], batch: str = "bench") -> None:
    from handlers.events import Outgoing
    from locales import Msg
    from storage import db, outbox

    engine = db.create_engine(url)
    now = datetime.now(UTC)
    payload = Outgoing(text=Msg("input.not_understood")).to_json()
    try:
        async with db.session_factory(engine)() as s:
            for pid in person_ids:
                await outbox.enqueue_for_person(s, pid, payload, key=f"bc:{batch}:{pid}",
                                                kind="broadcast", now=now, batch=batch)
            await s.commit()
    finally:
        await engine.dispose()


async def template(workdir: Path, n: int) -> Path:
    """A database with n people and one queued notice each, built once and copied per run."""
    path = workdir / f"broadcast-{n}.sqlite3"
    if not path.exists():
        t = time.monotonic()
        url = sqlite_url(path)
        await migrate(url)
        await queue_broadcast(url, await seed_people(url, n, first_chat=FIRST_CHAT))
        print(f"  queued {n:,} notices in {time.monotonic() - t:.1f}s", flush=True)
    return path


WARM_UP = 20  # messages to chats below FIRST_CHAT, not counted


async def warm_up(fake: BenchTelegram) -> None:
    """A few sends before the measured ones, then a quiet second: the fake server's first
    requests are slow (its caches are cold), which bunched the bot's first second of sends
    on arrival, a 429 Telegram's warm servers would not give."""
    import aiohttp

    async with aiohttp.ClientSession() as http:
        for i in range(WARM_UP):
            async with http.post(f"{fake.base_url}/bot{fake.token}/sendMessage",
                                 json={"chat_id": FIRST_CHAT - WARM_UP + i,
                                       "text": "warm-up"}) as r:
                assert r.status == 200, await r.text()
    await asyncio.sleep(1.1)  # out of the fake's one-second window


async def one_run(label: str, driver: str, n: int, workdir: Path, run: int,
                  in_process: bool = False) -> dict[str, Any]:
    fake_limit, convoca_limit, target = limits(label)
    blast = concurrency(label)
    db_path = workdir / f"run-{label}-{driver}-{run}.sqlite3"
    shutil.copy(await template(workdir, n), db_path)
    url = sqlite_url(db_path)
    fake = BenchTelegram(rate_limit_per_second=fake_limit, validate_updates=False)
    await fake.start()
    fake.add_chats(FIRST_CHAT - WARM_UP, n + WARM_UP)
    await warm_up(fake)
    fake.expect_driver(driver)  # from now on a request from another library is a violation
    logs = RESULTS / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    if blast:
        args = ["blast", "--first-chat", str(FIRST_CHAT), "--count", str(n),
                "--concurrency", str(blast)]
    else:
        args = ["convoca", "--db", url, "--no-poll", "--per-second",
                "none" if convoca_limit is None else str(convoca_limit)]
    task = None
    if in_process:  # smoke tests: the same code, without a process of its own
        from bench import bots

        task = asyncio.create_task(
            bots.run_blast(str(fake.base_url), fake.token, FIRST_CHAT, n, blast, driver)
            if blast else
            bots.run_convoca(str(fake.base_url), fake.token, url, convoca_limit, False,
                             driver=driver))
        proc = None
    else:
        proc = await spawn("-m", "bench.bots", *args, "--driver", driver,
                           "--api-base", str(fake.base_url), "--token", fake.token,
                           log_path=logs / f"broadcast-{label.replace('@', '')}-{driver}.log")
    expected = n / (fake_limit or 1000)
    drv0 = time.process_time()
    deadline = time.monotonic() + 120 + 2 * expected
    try:
        while len(fake._delivered) < n and time.monotonic() < deadline:
            if (proc is not None and proc.returncode is not None) or (task and task.done()):
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)  # a duplicate would arrive now
    finally:
        drv_cpu = time.process_time() - drv0
        if proc is not None:
            await stop_process(proc)
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await fake.stop()
    delivered = [r for r in fake.delivered() if r.chat_id >= FIRST_CHAT]
    times = sorted(r.at for r in delivered)
    per_chat = Counter(r.chat_id for r in delivered)
    span = times[-1] - times[0] if len(times) > 1 else float("nan")
    rate = (len(times) - 1) / span if len(times) > 1 and span > 0 else float("nan")
    sends = fake.sent_requests - WARM_UP
    states = await final_states(url)
    db_path.unlink(missing_ok=True)
    return {
        "limit": label, "driver": driver, "recipients": n, "run": run,
        "rate_per_s": rate, "target_rate": target,
        "rate_share_of_limit": rate / fake_limit if fake_limit else None,
        "seconds": span,
        # Where the time went: deliveries in each second from the first, the longest pause.
        "per_second": [sum(1 for t in times if int(t - times[0]) == k)
                       for k in range(int(span) + 1)] if len(times) > 1 else [],
        "longest_gap_s": max((b - a for a, b in zip(times, times[1:], strict=False)),
                             default=0.0),
        "send_requests": sends,
        "429": fake.stats["429"],
        "share_429": fake.stats["429"] / sends if sends else None,
        "lost": sum(1 for i in range(n) if per_chat.get(FIRST_CHAT + i, 0) == 0),
        "duplicated": sum(c - 1 for c in per_chat.values() if c > 1),
        "states": states,
        "violations": fake.violations,
        # The fake server's process (this one): near 1.0 it, not the bot, sets the pace.
        "fake_cpu_seconds": drv_cpu,
    }


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    only = [x for x in args.only.split(",") if x]
    unknown = [x for x in only if x not in LIMITS]
    if unknown:
        raise SystemExit(f"--only: unknown {', '.join(unknown)} (choose from "
                         f"{', '.join(LIMITS)})")
    labels = [y for x in only for y in (
        [f"bare@{int(c)}" for c in args.blast_concurrency.split(",")] if x == "bare" else [x])]
    drivers = parse_drivers(args.drivers)
    sizes = {x: args.recipients_30 if x == "30" else args.recipients for x in labels}
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {
        d: {x: [] for x in labels} for d in drivers}
    turns = [(d, x) for x in labels for d in drivers]
    with tempfile.TemporaryDirectory(prefix="convoca-bench-") as tmp:
        work = Path(tmp)
        for run in range(args.runs):
            k = run % len(turns)
            for driver, label in turns[k:] + turns[:k]:
                r = await one_run(label, driver, sizes[label], work, run + 1, args.in_process)
                runs[driver][label].append(r)
                print(f"  run={run + 1} {driver:7s} limit={label:4s} n={r['recipients']:,} "
                      f"{r['rate_per_s']:8.1f} msg/s  429s {r['429']} "
                      f"({(r['share_429'] or 0):.2%})  lost {r['lost']}  "
                      f"dup {r['duplicated']}  states {r['states']}", flush=True)
    return {"runs": runs, "drivers": drivers}


def report(data: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    rows = []
    for driver, by_label in data["runs"].items():
        out[driver] = {}
        for label, rs in by_label.items():
            e = {
                "recipients": sorted({r["recipients"] for r in rs}),
                "rate_per_s": summary(r["rate_per_s"] for r in rs),
                "share_429": summary(r["share_429"] or 0.0 for r in rs),
                "lost": sum(r["lost"] for r in rs),
                "duplicated": sum(r["duplicated"] for r in rs),
                "violations": sum(len(r["violations"]) for r in rs),
            }
            out[driver][label] = e
            target = limits(label)[2]
            limit = (f"bare {driver}, no database ({concurrency(label)} at a time)"
                     if concurrency(label) else
                     "Convoca, unlimited" if label == "none" else f"Convoca, {label}/s")
            share = {k: 100 * (e["share_429"][k] or 0) for k in ("median", "min", "max")}
            rows.append([driver, limit, ",".join(f"{x:,}" for x in e["recipients"]),
                         med(e["rate_per_s"]), f"≥ {target:g}",
                         med({**e["share_429"], **share}, 2), e["lost"], e["duplicated"]])
    print_table("Broadcast — median (min–max) of the runs",
                ["driver", "sender, limit", "recipients", "messages/s", "target",
                 "429s % of sends", "lost", "duplicated"], rows)
    refused = sum(e["violations"] for by_label in out.values() for e in by_label.values())
    if refused:
        print(f"!! the fake refused {refused} requests (against the spec, or from another "
              "library than the driver's): see the results' `violations`")
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.broadcast", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--only", default="30,300,none,bare",
                   help="what to run: 30, 300, none (no limit), bare (the driver's library "
                        "alone, no database)")
    p.add_argument("--drivers", default=",".join(DRIVERS),
                   help="the Telegram libraries, each run with every limit: aiogram, ptb")
    p.add_argument("--blast-concurrency", default="32",
                   help="requests at a time for `bare`, comma-separated (e.g. 1,32): each a "
                        "run of its own")
    p.add_argument("--recipients", type=int, default=10_000,
                   help="for 300/s, unlimited and bare")
    p.add_argument("--recipients-30", type=int, default=2_000,
                   help="for 30/s (10,000 take ~6 minutes a run)")
    p.add_argument("--in-process", action="store_true",
                   help="run Convoca (or the bare library) in this process (smoke tests)")
    p.add_argument("--out", help="results folder (default bench/results)")
    args = p.parse_args(argv)
    data = asyncio.run(measure(args))
    data["summary"] = report(data)
    data["settings"] = vars(args)
    write_results("broadcast", data, Path(args.out) if args.out else None)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
