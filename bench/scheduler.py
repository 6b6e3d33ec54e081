"""Benchmark 4 — the scheduler at scale, and how its costs grow (benchmark 5).

    python -m bench.scheduler --runs 5                       # everything below
    python -m bench.scheduler --runs 5 --only claim,planner  # parts: below
    python -m bench.scheduler --runs 5 --only startup,console,imports --drivers aiogram,ptb

claim    100,000 (and 1,000 / 10,000) pending, due notices in the outbox: the time to claim
         the due batch as the dispatcher does (storage.outbox.due_candidates of its window of
         rows, then storage.outbox.claim of a wave and the commit), in a child process
         that reports its peak memory (resource.getrusage maxrss); SQLite and PostgreSQL.
startup  `python -m bot run` against the fake Bot API with a database holding 100,000
         pending notices, on each driver (TELEGRAM_DRIVER, --drivers): from exec to the
         fake seeing getUpdates, and the process's peak memory (VmHWM) --settle seconds
         later; the same run through bench/startup_probe.py, which imports nothing itself
         and splits that time into Python's own start, the imports made before the first
         getUpdates and Convoca's own start, and names the libraries the process loaded.
console  `convoca run --demo` (through the probe; the web panel beside it): exec → the
         console's first prompt, a few lines typed and answered, then its peak memory.
imports  python -X importtime: importing each driver's library alone (aiogram; telegram,
         python-telegram-bot), and everything `python -m bot run` imports on each driver
         up to its first getUpdates (the run itself, killed then), by package.
planner  scheduler.planner.Planner.due and next_fire over 1, 10 and 100 programmes, each of
         realistic size (100 meetings with 500 invitations, 40 delivery days with 2,000
         pickups, 60 people, two bodies), on SQLite."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.common import (
    DRIVERS,
    FIRST_CHAT,
    BenchTelegram,
    child_env,
    med,
    migrate,
    parse_drivers,
    peak_rss_mb,
    postgres_database,
    print_table,
    sqlite_url,
    summary,
    wait_for_poll,
    write_results,
)
from bench.conversation import free_listen
from scheduler.dispatcher import WAVE, WINDOW  # the dispatcher's own sizes

# --- an outbox with N pending notices ----------------------------------------------------------


async def fill_outbox(url: str, n: int) -> None:
    """n pending notices due now, the rows storage.outbox.enqueue writes, inserted in bulk."""
    from sqlalchemy import insert

    from handlers.events import Outgoing
    from locales import Msg
    from storage import db
    from storage.models import OutboxMessage, OutboxStatus

    payload = Outgoing(text=Msg("input.not_understood")).to_json()
    now = datetime.now(UTC) - timedelta(minutes=1)
    engine = db.create_engine(url)
    try:
        async with db.session_factory(engine)() as s:
            for start in range(0, n, 5000):
                await s.execute(insert(OutboxMessage), [
                    dict(idempotency_key=f"bench:{i}", person_id=None, channel="telegram",
                         address=str(FIRST_CHAT + i), kind="broadcast", payload=payload,
                         locale="es", urgent=False, status=OutboxStatus.PENDING,
                         not_before=now + timedelta(microseconds=i), attempts=0,
                         batch="bench", created_at=now)
                    for i in range(start, min(n, start + 5000))])
            await s.commit()
    finally:
        await engine.dispose()


async def claim_child(url: str, repeat: int) -> dict[str, Any]:
    """Runs in its own process: repeat the dispatcher's claim of a due batch."""
    from sqlalchemy import update

    from storage import db, outbox
    from storage.models import OutboxMessage, OutboxStatus

    engine = db.create_engine(url)
    sessions = db.session_factory(engine)
    worker = outbox.worker_identity()
    lease = timedelta(seconds=120)
    out: dict[str, list[float]] = {"candidates_ms": [], "claim_ms": [], "total_ms": []}
    try:
        for i in range(repeat + 1):
            now = datetime.now(UTC)
            t0 = time.perf_counter()
            async with sessions() as s:
                rows = await outbox.due_candidates(s, now, WINDOW, None)
            t1 = time.perf_counter()
            async with sessions() as s:
                claimed = await outbox.claim(s, [r.id for r in rows[:WAVE]], worker, now,
                                             lease)
                await s.commit()
            t2 = time.perf_counter()
            assert len(rows) == min(WINDOW, len(rows)) and len(claimed) == min(WAVE, len(rows))
            if i:  # the first pass warms the connection and the statement caches
                out["candidates_ms"].append((t1 - t0) * 1000)
                out["claim_ms"].append((t2 - t1) * 1000)
                out["total_ms"].append((t2 - t0) * 1000)
            async with sessions() as s:  # put them back: the backlog stays the same size
                await s.execute(update(OutboxMessage)
                                .where(OutboxMessage.id.in_([r.id for r in claimed]))
                                .values(status=OutboxStatus.PENDING, claimed_by=None,
                                        claimed_until=None, attempts=0))
                await s.commit()
    finally:
        await engine.dispose()
    # On Linux getrusage's maxrss survives exec: a child started from a big parent reports
    # the parent's size. VmHWM belongs to this process image alone, so it is the figure used.
    maxrss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {**out, "maxrss_mb": peak_rss_mb(os.getpid()) or maxrss_kb / 1024,
            "getrusage_maxrss_mb": maxrss_kb / 1024}


async def bench_claim(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    sizes = [int(x) for x in args.pending.split(",")]
    dbs = [x for x in args.dbs.split(",") if x]
    urls: dict[tuple[str, int], str] = {}
    results: dict[str, dict[str, list[dict[str, Any]]]] = {
        d: {str(n): [] for n in sizes} for d in dbs}
    pg_contexts = []
    try:
        for d in dbs:
            for n in sizes:
                if d == "sqlite":
                    url = sqlite_url(work / f"claim-{n}.sqlite3")
                else:
                    ctx = postgres_database("convoca_bench_claim")
                    url = await ctx.__aenter__()
                    pg_contexts.append(ctx)
                t = time.monotonic()
                await migrate(url)
                await fill_outbox(url, n)
                print(f"  {d}: {n:,} pending queued in {time.monotonic() - t:.1f}s", flush=True)
                urls[(d, n)] = url
        for run in range(args.runs):
            for n in sizes:
                for d in (dbs if run % 2 == 0 else dbs[::-1]):
                    # One child at a time, on purpose: nothing else runs while it measures.
                    proc = subprocess.run(  # noqa: ASYNC221
                        [sys.executable, "-m", "bench.scheduler", "--child-claim",
                         urls[(d, n)], "--repeat", str(args.repeat)],
                        env=child_env(), capture_output=True, text=True, timeout=600,
                        check=True)
                    r = json.loads(proc.stdout.strip().splitlines()[-1])
                    r["run"] = run + 1
                    results[d][str(n)].append(r)
                    print(f"  run={run + 1} {d:8s} pending={n:>7,} claim median "
                          f"{sorted(r['total_ms'])[len(r['total_ms']) // 2]:7.2f} ms  "
                          f"peak {r['maxrss_mb']:.0f} MB", flush=True)
    finally:
        for ctx in pg_contexts:
            await ctx.__aexit__(None, None, None)
    out: dict[str, Any] = {}
    rows = []
    import statistics

    for d, by_n in results.items():
        out[d] = {}
        for n, rs in by_n.items():
            e = {
                "total_ms": summary(statistics.median(r["total_ms"]) for r in rs),
                "candidates_ms": summary(statistics.median(r["candidates_ms"]) for r in rs),
                "claim_ms": summary(statistics.median(r["claim_ms"]) for r in rs),
                "maxrss_mb": summary(r["maxrss_mb"] for r in rs),
                "runs": rs,
            }
            out[d][n] = e
            rows.append([d, f"{int(n):,}", med(e["total_ms"], 2), med(e["candidates_ms"], 2),
                         med(e["claim_ms"], 2), "≤ 20", med(e["maxrss_mb"], 0)])
    print_table("Claiming the due batch — per run the median of its passes; median (min–max) "
                "of the runs",
                ["database", "pending", "claim total ms", "due_candidates ms",
                 "claim+commit ms", "target", "peak MB"], rows)
    return out


# --- start-up with 100,000 pending, and memory ----------------------------------------------------


def read_mark(path: Path, poll_at: float | None) -> dict[str, Any]:
    """What bench/startup_probe.py wrote: when Python reached it, the import time spent
    before `poll_at` (the first getUpdates, or the console's prompt) and after it, and the
    libraries the process had loaded by its exit."""
    m = json.loads(path.read_text())
    before = [cum for at, cum, _ in m["imports"] if poll_at is None or at <= poll_at]
    total = m["imports"][-1][1] if m["imports"] else 0.0
    imports = before[-1] if before else 0.0
    return {"python_started": m["started"], "imports_s": imports,
            "imports_later_s": total - imports, "libraries": m["libraries"]}


async def telegram_start(kind: str, driver: str, template: Path, work: Path, run: int,
                         n: int, settle: float) -> dict[str, Any]:
    """One `python -m bot run` (kind "bot run") or the same through bench/startup_probe.py
    ("probe") on `driver`, with n pending notices: exec → the first getUpdates, peak RSS."""
    db = work / f"startup-run-{run}-{driver}.sqlite3"
    shutil.copy(template, db)
    fake = BenchTelegram(validate_updates=False, keep_requests=False)
    await fake.start()
    fake.expect_driver(driver)  # a request from another library is a violation
    fake.add_chats(FIRST_CHAT, n)
    mark = work / "mark.json"
    mark.unlink(missing_ok=True)
    env = child_env(TELEGRAM_BOT_TOKEN=fake.token, TELEGRAM_API_BASE=str(fake.base_url),
                    TELEGRAM_DRIVER=driver, DATABASE_URL=sqlite_url(db),
                    HTTP_LISTEN=free_listen(), CONVOCA_BENCH_MARK=str(mark))
    cmd = ["-m", "bot", "run"] if kind == "bot run" else ["-m", "bench.startup_probe", "run"]
    t_exec = time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, *cmd, cwd=str(work), env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    try:
        # When it arrives, not when answered: an empty long poll is held 10 s.
        at = await wait_for_poll(fake, timeout=180, proc=proc)
        await asyncio.sleep(settle)  # delivering the backlog meanwhile
        peak = peak_rss_mb(proc.pid)
    finally:
        await stop_child(proc)
        await fake.stop()
    r: dict[str, Any] = {"run": run, "driver": driver, "kind": kind,
                         "exec_to_getupdates_s": at - t_exec, "peak_rss_mb": peak,
                         "sent_meanwhile": fake.stats["ok"], "violations": fake.violations}
    if kind == "probe" and mark.exists():
        m = read_mark(mark, at)
        r.update(interpreter_s=m["python_started"] - t_exec, imports_s=m["imports_s"],
                 imports_later_s=m["imports_later_s"], libraries=m["libraries"])
        r["convoca_s"] = r["exec_to_getupdates_s"] - r["interpreter_s"] - r["imports_s"]
    db.unlink(missing_ok=True)
    return r


async def stop_child(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), 30)
        except TimeoutError:
            proc.kill()
            await proc.wait()


def print_startup(out: dict[str, Any]) -> None:
    rows = []
    for d, e in out["drivers"].items():
        rows += [
            [d, "exec → first getUpdates", med(e["exec_to_getupdates_s"], 2), "≤ 2 s"],
            [d, "  through the probe", med(e["probe_exec_to_getupdates_s"], 2), ""],
            [d, "    of which Python's own start", med(e["interpreter_s"], 2), ""],
            [d, "    of which imports", med(e["imports_s"], 2), ""],
            [d, "    of which Convoca's start (main())", med(e["convoca_s"], 2), ""],
            [d, "  imports after it (first use)", med(e["imports_later_s"], 2), ""],
            [d, "peak memory, MB", med(e["peak_rss_mb"], 0), "≤ 200"],
            [d, "libraries loaded", " ".join(e["libraries"]) or "-", ""],
            [d, "requests the fake refused", e["violations"], "0"],
        ]
    print_table(f"Start-up of `python -m bot run` on Telegram with {out['pending']:,} pending — "
                "median (min–max), s", ["driver", "measure", "value", "target"], rows)


async def bench_startup(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    drivers = parse_drivers(args.drivers)
    template = work / "startup.sqlite3"
    n = args.startup_pending
    url0 = sqlite_url(template)
    await migrate(url0)
    await fill_outbox(url0, n)
    results: dict[str, list[dict[str, Any]]] = {d: [] for d in drivers}
    turns = [(d, kind) for d in drivers for kind in ("bot run", "probe")]
    for run in range(args.runs):
        k = run % len(turns)
        for d, kind in turns[k:] + turns[:k]:
            r = await telegram_start(kind, d, template, work, run + 1, n, args.settle)
            results[d].append(r)
            print(f"  run={run + 1} {d:7s} {kind:7s} exec→getUpdates "
                  f"{r['exec_to_getupdates_s']:.2f}s"
                  + (f" (python {r['interpreter_s']:.2f}s, imports {r['imports_s']:.2f}s, "
                     f"Convoca {r['convoca_s']:.2f}s; later imports "
                     f"{r['imports_later_s']:.2f}s; loaded {' '.join(r['libraries'])})"
                     if "imports_s" in r else "")
                  + f"  peak {r['peak_rss_mb'] or 0:.0f} MB", flush=True)
    out: dict[str, Any] = {"pending": n, "drivers": {}, "runs": results}
    for d, rs in results.items():
        plain = [r for r in rs if r["kind"] == "bot run"]
        probe = [r for r in rs if r["kind"] == "probe" and "imports_s" in r]
        out["drivers"][d] = {
            "exec_to_getupdates_s": summary(r["exec_to_getupdates_s"] for r in plain),
            "probe_exec_to_getupdates_s": summary(r["exec_to_getupdates_s"] for r in probe),
            **{k: summary(r[k] for r in probe)
               for k in ("interpreter_s", "imports_s", "convoca_s", "imports_later_s")},
            "peak_rss_mb": summary(r["peak_rss_mb"] for r in plain if r["peak_rss_mb"]),
            "probe_peak_rss_mb": summary(r["peak_rss_mb"] for r in probe if r["peak_rss_mb"]),
            "libraries": sorted({lib for r in probe for lib in r["libraries"]}),
            "violations": sum(len(r["violations"]) for r in rs),
        }
    print_startup(out)
    return out


# --- the console demo's start-up and memory ------------------------------------------------------

DEMO_LINES = ("/start", "/ficha", "!personas")  # typed once the prompt shows, one at a time


async def console_start(work: Path, run: int, settle: float,
                        lines: tuple[str, ...] = DEMO_LINES) -> dict[str, Any]:
    """`convoca run --demo` (through bench/startup_probe.py) in `work`, its database kept from
    the run before (the first start seeds the demo: a warm-up, not counted): exec → the
    console's first prompt, the lines typed and answered, then its peak RSS."""
    mark = work / "mark.json"
    mark.unlink(missing_ok=True)
    env = child_env(HTTP_LISTEN=free_listen(), CONVOCA_BENCH_MARK=str(mark))
    t_exec = time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.startup_probe", "run", "--demo", cwd=str(work), env=env,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL)
    assert proc.stdin is not None and proc.stdout is not None
    seen = bytearray()
    prompts: list[float] = []

    async def read() -> None:
        assert proc.stdout is not None
        while chunk := await proc.stdout.read(65536):
            seen.extend(chunk)
            while seen.count(b"\n> ") > len(prompts):
                prompts.append(time.monotonic())

    reader = asyncio.create_task(read())

    async def prompt(k: int, timeout: float = 180) -> float:
        deadline = time.monotonic() + timeout
        while len(prompts) < k:
            if proc.returncode is not None or reader.done():
                raise RuntimeError(f"the console demo exited ({proc.returncode}) before its "
                                   f"prompt {k}: {bytes(seen[-400:]).decode(errors='replace')}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"no prompt {k} from the console demo in {timeout}s")
            await asyncio.sleep(0.02)
        return prompts[k - 1]

    try:
        ready = await prompt(1)
        for i, line in enumerate(lines):
            proc.stdin.write(line.encode() + b"\n")
            await proc.stdin.drain()
            await prompt(i + 2, 60)
        await asyncio.sleep(settle)
        peak = peak_rss_mb(proc.pid)
        proc.stdin.close()  # end of input: the console ends as on Ctrl-D
        try:
            await asyncio.wait_for(proc.wait(), 30)
        except TimeoutError:
            await stop_child(proc)
    finally:
        await stop_child(proc)
        await reader
    r: dict[str, Any] = {"run": run, "exec_to_prompt_s": ready - t_exec, "peak_rss_mb": peak,
                         "answered": len(lines), "exit": proc.returncode}
    if mark.exists():
        m = read_mark(mark, ready)
        r.update(interpreter_s=m["python_started"] - t_exec, imports_s=m["imports_s"],
                 imports_later_s=m["imports_later_s"], libraries=m["libraries"])
        r["convoca_s"] = r["exec_to_prompt_s"] - r["interpreter_s"] - r["imports_s"]
    return r


async def bench_console(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    demo = work / "console-demo"
    demo.mkdir(exist_ok=True)
    t = time.monotonic()
    await console_start(demo, 0, 0.0, ())  # migrates and seeds the demo's database
    print(f"  console demo seeded in {time.monotonic() - t:.1f}s", flush=True)
    rs = []
    for run in range(args.runs):
        r = await console_start(demo, run + 1, args.console_settle)
        rs.append(r)
        print(f"  run={run + 1} console demo exec→prompt {r['exec_to_prompt_s']:.2f}s"
              + (f" (python {r['interpreter_s']:.2f}s, imports {r['imports_s']:.2f}s, "
                 f"Convoca {r['convoca_s']:.2f}s; later imports {r['imports_later_s']:.2f}s; "
                 f"loaded {' '.join(r['libraries']) or '-'})" if "imports_s" in r else "")
              + f"  peak {r['peak_rss_mb'] or 0:.0f} MB", flush=True)
    out = {
        **{k: summary(r[k] for r in rs if k in r)
           for k in ("exec_to_prompt_s", "interpreter_s", "imports_s", "convoca_s",
                     "imports_later_s")},
        "peak_rss_mb": summary(r["peak_rss_mb"] for r in rs if r["peak_rss_mb"]),
        "libraries": sorted({lib for r in rs for lib in r.get("libraries", [])}),
        "lines": list(DEMO_LINES), "runs": rs,
    }
    print_table("The console demo (`convoca run --demo`, the web panel beside it) — "
                "median (min–max)", ["measure", "value", "target"],
                [["exec → first prompt, s", med(out["exec_to_prompt_s"], 2), ""],
                 ["  of which Python's own start", med(out["interpreter_s"], 2), ""],
                 ["  of which imports", med(out["imports_s"], 2), ""],
                 ["  of which Convoca's start (main())", med(out["convoca_s"], 2), ""],
                 [f"imports after it ({', '.join(DEMO_LINES)})",
                  med(out["imports_later_s"], 2), ""],
                 ["peak memory, MB", med(out["peak_rss_mb"], 0), "≤ 200"],
                 ["libraries loaded", " ".join(out["libraries"]) or "-", ""]])
    return out


# --- import cost --------------------------------------------------------------------------------

LIBRARY = {"aiogram": "aiogram", "ptb": "telegram"}
# The packages shown under a whole run's import time, when it imports them.
PACKAGES = ("aiogram", "telegram", "aiohttp", "httpx", "pydantic", "sqlalchemy", "alembic",
            "babel", "starlette", "uvicorn", "jinja2", "fpdf", "PIL", "openpyxl")


def parse_importtime(stderr: str) -> dict[str, float]:
    """Cumulative import time (s) of what the statement or the process imported itself (the
    outermost imports, by top-level name), and (keys ``pkg:<name>``) of every package's
    modules where something outside the package imported them, with what they imported."""
    entries: list[tuple[int, str, float]] = []  # (depth, module, cumulative s)
    for line in stderr.splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|( +)(\S+)", line)
        if m:
            entries.append(((len(m.group(3)) - 1) // 2, m.group(4), int(m.group(2)) / 1e6))
    # -X importtime writes a module after what it imported, one level deeper: a line's
    # parent is the next line that is less deep.
    parent: dict[int, int] = {}
    pending: list[int] = []
    for i, (depth, _, _) in enumerate(entries):
        while pending and entries[pending[-1]][0] > depth:
            parent[pending.pop()] = i
        pending.append(i)
    top: dict[str, float] = {}
    for i, (depth, module, seconds) in enumerate(entries):
        package = module.split(".")[0]
        if depth == 0:
            top[package] = top.get(package, 0.0) + seconds
        above = parent.get(i)
        if above is None or entries[above][1].split(".")[0] != package:
            top[f"pkg:{package}"] = top.get(f"pkg:{package}", 0.0) + seconds
    return top


def importtime(module: str) -> dict[str, float]:
    """``python -X importtime -c "import <module>"``, read by parse_importtime."""
    proc = subprocess.run([sys.executable, "-X", "importtime", "-c", f"import {module}"],
                          env=child_env(), capture_output=True, text=True, check=True,
                          timeout=300)
    return parse_importtime(proc.stderr)


async def importtime_run(driver: str, work: Path) -> dict[str, float]:
    """``python -X importtime -m bot run`` on `driver` against the fake Bot API, killed as its
    first getUpdates arrives: every import the run made up to then, wherever it was made."""
    db = work / f"importtime-{driver}.sqlite3"
    await migrate(sqlite_url(db))
    fake = BenchTelegram(validate_updates=False, keep_requests=False)
    await fake.start()
    log = work / f"importtime-{driver}.txt"
    env = child_env(TELEGRAM_BOT_TOKEN=fake.token, TELEGRAM_API_BASE=str(fake.base_url),
                    TELEGRAM_DRIVER=driver, DATABASE_URL=sqlite_url(db),
                    HTTP_LISTEN=free_listen())
    with log.open("wb") as err:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-X", "importtime", "-m", "bot", "run", cwd=str(work), env=env,
            stdout=asyncio.subprocess.DEVNULL, stderr=err)
    try:
        await wait_for_poll(fake, timeout=180, proc=proc)
    finally:
        if proc.returncode is None:
            proc.kill()  # no shutdown: what it would import on the way out is not start-up
            await proc.wait()
        await fake.stop()
        db.unlink(missing_ok=True)
    return parse_importtime(log.read_text(errors="replace"))


async def bench_imports(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    drivers = parse_drivers(args.drivers)
    alone: dict[str, list[float]] = {d: [] for d in drivers}
    runs: dict[str, list[dict[str, float]]] = {d: [] for d in drivers}
    for run in range(args.runs):
        for d in (drivers if run % 2 == 0 else drivers[::-1]):
            lib = LIBRARY[d]
            alone[d].append(importtime(lib).get(lib, 0.0))
            c = await importtime_run(d, work)
            runs[d].append(c)
            total = sum(v for k, v in c.items() if not k.startswith("pkg:"))
            print(f"  run={run + 1} import {lib} alone {alone[d][-1]:.2f}s; `bot run` on {d} "
                  f"imported {total:.2f}s before its first getUpdates", flush=True)
    out: dict[str, Any] = {"alone": {LIBRARY[d]: summary(alone[d]) for d in drivers}, "run": {}}
    rows = [[f"{LIBRARY[d]} alone ({d})", med(out["alone"][LIBRARY[d]], 2)] for d in drivers]
    for d in drivers:
        e = out["run"][d] = {
            "total_s": summary(sum(v for k, v in c.items() if not k.startswith("pkg:"))
                               for c in runs[d]),
            **{pkg: summary(c.get(f"pkg:{pkg}", 0.0) for c in runs[d]) for pkg in PACKAGES},
        }
        rows.append([f"`python -m bot run` on {d}, up to its first getUpdates",
                     med(e["total_s"], 2)])
        rows += [[f"  of which {pkg}", med(e[pkg], 2)] for pkg in PACKAGES
                 if any(c.get(f"pkg:{pkg}") for c in runs[d])]
    print_table("Import cost (python -X importtime; a package: its modules, with what they "
                "import, where first imported from outside it), seconds — median (min–max)",
                ["import", "seconds"], rows)
    if "aiogram" not in drivers:
        return out
    # What aiogram building its models lazily would give (bench/aiogram_lazy_probe.py).
    probes: dict[str, list[dict[str, Any]]] = {"eager": [], "lazy": []}
    for run in range(args.runs):
        for mode in (("eager", "lazy") if run % 2 == 0 else ("lazy", "eager")):
            # One child at a time, on purpose: nothing else runs while it measures.
            proc = subprocess.run(  # noqa: ASYNC221
                [sys.executable, "-m", "bench.aiogram_lazy_probe", mode], env=child_env(),
                capture_output=True, text=True, check=True, timeout=300)
            probes[mode].append(json.loads(proc.stdout.strip().splitlines()[-1]))
    out["aiogram_models"] = {
        mode: {k: summary(r[k] for r in rs)
               for k in ("import_s", "first_update_ms", "first_send_message_ms", "maxrss_mb")}
        for mode, rs in probes.items()}
    print_table("aiogram's models built at import (as it is) or on first use — median (min–max)",
                ["models built", "import s", "first Update ms", "first SendMessage ms",
                 "peak MB"],
                [[mode, med(e["import_s"], 2), med(e["first_update_ms"], 1),
                  med(e["first_send_message_ms"], 1), med(e["maxrss_mb"], 0)]
                 for mode, e in out["aiogram_models"].items()])
    return out


# --- the planner ---------------------------------------------------------------------------------


MEETINGS, INVITED, DAYS, FAMILIES = 100, 5, 40, 50


async def programme_db(url: str, programmes: int, start: date) -> dict[str, int]:
    """`programmes` programmes of realistic size; returns the row counts."""
    from sqlalchemy import insert, select

    from storage import db, programs
    from storage.models import (
        Body,
        DeliveryDay,
        Family,
        Meeting,
        Membership,
        Person,
        Pickup,
        Role,
        RoleGrant,
        Rsvp,
        RsvpAnswer,
    )

    rng = random.Random(7)
    engine = db.create_engine(url)
    created = datetime.combine(start, datetime.min.time(), UTC) - timedelta(days=10)
    counts = {"programmes": programmes, "meetings": 0, "rsvps": 0, "pickups": 0, "people": 0}
    ids = {"person": 0, "meeting": 0, "day": 0, "family": 0}

    def nxt(kind: str) -> int:
        ids[kind] += 1
        return ids[kind]

    try:
        async with db.session_factory(engine)() as s:
            for _ in range(programmes):
                prog = await programs.create(s, template="ecomercado-15m", start=start,
                                             name="Ecomercado", now=created)
                await s.flush()
                existing = list((await s.scalars(
                    select(Body).where(Body.program_id == prog.id))).all())
                people, grants, members, meetings, rsvps = [], [], [], [], []
                families, days, pickups = [], [], []
                staff = [nxt("person") for _ in range(2)]
                invited = [nxt("person") for _ in range(10)]
                fam_people = [nxt("person") for _ in range(FAMILIES)]
                for pid in staff + invited + fam_people:
                    people.append(dict(id=pid, program_id=prog.id, created_at=created,
                                       consent_at=created, locale="es", reachable=True))
                for pid in staff:
                    grants.append(dict(person_id=pid, program_id=prog.id, role=Role.GESTORA,
                                       granted_at=created))
                body_ids = []
                for body in existing:  # the template's Grupo Motor and Consejo Local
                    body.cadence_months = body.cadence_months or 1
                    body_ids.append(body.id)
                for k in ("grupo_motor", "consejo_local")[len(body_ids):]:
                    body = Body(program_id=prog.id, kind=k, name=k, cadence_months=1,
                                constituted_at=created)
                    s.add(body)
                    await s.flush()
                    body_ids.append(body.id)
                for bid in body_ids:
                    for pid in invited[:5]:
                        members.append(dict(body_id=bid, person_id=pid, joined_at=created))
                for m in range(MEETINGS):
                    mid = nxt("meeting")
                    at = created + timedelta(days=10 + m * 4.5, hours=rng.randint(12, 22))
                    meetings.append(dict(id=mid, program_id=prog.id, body_id=body_ids[m % 2],
                                         kind="grupo_motor", title="Sesión", starts_at=at,
                                         status="scheduled", revision=1, created_at=created))
                    for pid in rng.sample(invited, INVITED):
                        answer = rng.choice([RsvpAnswer.YES, RsvpAnswer.MAYBE, None])
                        rsvps.append(dict(meeting_id=mid, person_id=pid, invited_at=created,
                                          answer=answer,
                                          answered_at=created if answer else None))
                for pid in fam_people:
                    families.append(dict(id=nxt("family"), program_id=prog.id, person_id=pid,
                                         name="Familia", created_at=created))
                for d in range(DAYS):
                    did = nxt("day")
                    ws = created + timedelta(days=12 + d * 11, hours=14)
                    days.append(dict(id=did, program_id=prog.id, window_start=ws,
                                     window_end=ws + timedelta(hours=4), created_at=created))
                    for f in families:
                        pickups.append(dict(delivery_day_id=did, family_id=f["id"],
                                            status="pending"))
                for model, rows in ((Person, people), (RoleGrant, grants),
                                    (Membership, members), (Meeting, meetings), (Rsvp, rsvps),
                                    (Family, families), (DeliveryDay, days), (Pickup, pickups)):
                    for i in range(0, len(rows), 5000):
                        await s.execute(insert(model), rows[i:i + 5000])
                counts["meetings"] += len(meetings)
                counts["rsvps"] += len(rsvps)
                counts["pickups"] += len(pickups)
                counts["people"] += len(people)
            await s.commit()
    finally:
        await engine.dispose()
    return counts


async def bench_planner(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    from scheduler.planner import Planner
    from storage import db

    scales = [int(x) for x in args.programmes.split(",")]
    start = date(2026, 3, 2)
    now = datetime(2026, 9, 15, 13, 0, tzinfo=UTC)  # mid-programme
    engines = {}
    counts = {}
    for k in scales:
        url = sqlite_url(work / f"planner-{k}.sqlite3")
        await migrate(url)
        t = time.monotonic()
        counts[k] = await programme_db(url, k, start)
        print(f"  {k} programme(s): {counts[k]} in {time.monotonic() - t:.1f}s", flush=True)
        engines[k] = db.create_engine(url)
    results: dict[str, dict[str, list[float]]] = {
        str(k): {"due_ms": [], "next_fire_ms": [], "due_notices": []} for k in scales}
    try:
        for run in range(args.runs):
            for k in (scales if run % 2 == 0 else scales[::-1]):
                sessions = db.session_factory(engines[k])
                for what in ("due", "next_fire"):
                    times = []
                    for i in range(4):
                        async with sessions() as s:
                            t0 = time.perf_counter()
                            value = await (Planner(s).due(now) if what == "due"
                                           else Planner(s).next_fire(now))
                            took = (time.perf_counter() - t0) * 1000
                        if i:
                            times.append(took)
                        if what == "due":
                            results[str(k)]["due_notices"].append(len(value))
                    results[str(k)][f"{what}_ms"].append(sorted(times)[len(times) // 2])
                print(f"  run={run + 1} programmes={k:3d} due "
                      f"{results[str(k)]['due_ms'][-1]:8.1f} ms  next_fire "
                      f"{results[str(k)]['next_fire_ms'][-1]:8.1f} ms", flush=True)
    finally:
        for e in engines.values():
            await e.dispose()
    out: dict[str, Any] = {}
    rows = []
    for k in scales:
        r = results[str(k)]
        e = {"rows": counts[k], "due_ms": summary(r["due_ms"]),
             "next_fire_ms": summary(r["next_fire_ms"]),
             "due_notices": max(r["due_notices"]) if r["due_notices"] else 0}
        out[str(k)] = e
        c = counts[k]
        rows.append([k, f"{c['meetings']:,}", f"{c['rsvps']:,}", f"{c['pickups']:,}",
                     med(e["due_ms"]), med(e["next_fire_ms"]), e["due_notices"]])
    print_table("Planner (SQLite) — median (min–max) of the runs, ms",
                ["programmes", "meetings", "rsvps", "pickups", "Planner.due ms",
                 "Planner.next_fire ms", "notices due"], rows)
    return out


# --- main -----------------------------------------------------------------------------------------


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    parts = [x for x in args.only.split(",") if x]
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="convoca-bench-") as tmp:
        work = Path(tmp)
        if "imports" in parts:
            out["imports"] = await bench_imports(args, work)
        if "claim" in parts:
            out["claim"] = await bench_claim(args, work)
        if "startup" in parts:
            out["startup"] = await bench_startup(args, work)
        if "console" in parts:
            out["console"] = await bench_console(args, work)
        if "planner" in parts:
            out["planner"] = await bench_planner(args, work)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.scheduler", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--only", default="imports,claim,startup,console,planner",
                   help="parts: imports, claim, startup, console, planner")
    p.add_argument("--drivers", default=",".join(DRIVERS),
                   help="Telegram drivers for startup and imports: aiogram, ptb")
    p.add_argument("--pending", default="1000,10000,100000", help="outbox sizes for claim")
    p.add_argument("--dbs", default="sqlite,postgres", help="databases for claim")
    p.add_argument("--repeat", type=int, default=20, help="claims per child process")
    p.add_argument("--startup-pending", type=int, default=100_000)
    # 15 s after the first getUpdates arrives is when memory was read before, 5 s after
    # the fake answered that long poll.
    p.add_argument("--settle", type=float, default=15.0,
                   help="seconds the process runs after getUpdates before memory is read")
    p.add_argument("--console-settle", type=float, default=5.0,
                   help="seconds the console demo runs after its last answer before memory "
                        "is read")
    p.add_argument("--programmes", default="1,10,100", help="planner scales")
    p.add_argument("--out", help="results folder (default bench/results)")
    p.add_argument("--child-claim", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child_claim:
        print(json.dumps(asyncio.run(claim_child(args.child_claim, args.repeat))))
        return 0
    data = asyncio.run(measure(args))
    data["settings"] = {k: v for k, v in vars(args).items() if k != "child_claim"}
    write_results("scheduler", data, Path(args.out) if args.out else None)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    raise SystemExit(main())
