"""Benchmark 4 — the scheduler at scale, and how its costs grow (benchmark 5).

    python -m bench.scheduler --runs 5                       # everything below
    python -m bench.scheduler --runs 5 --only claim,planner  # parts: claim, startup, imports, planner

claim    100,000 (and 1,000 / 10,000) pending, due notices in the outbox: the time to claim
         the due batch as the dispatcher does (storage.outbox.due_candidates of its window of
         rows, then storage.outbox.claim of a wave and the commit), in a child process
         that reports its peak memory (resource.getrusage maxrss); SQLite and PostgreSQL.
startup  `python -m bot run` against the fake Bot API with a database holding 100,000
         pending notices: from exec to the fake seeing getUpdates; the same split in two
         (bench/startup_probe.py imports first, marks the time, then calls bot.cli.main),
         and the process's peak memory (VmHWM) a few seconds later.
imports  python -X importtime: what importing aiogram alone costs, and all of Convoca.
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
    FIRST_CHAT,
    BenchTelegram,
    child_env,
    med,
    migrate,
    peak_rss_mb,
    postgres_database,
    print_table,
    sqlite_url,
    summary,
    wait_for_poll,
    write_results,
)
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


# --- start-up with 100,000 pending ---------------------------------------------------------------


async def bench_startup(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    template = work / "startup.sqlite3"
    n = args.startup_pending
    url0 = sqlite_url(template)
    await migrate(url0)
    await fill_outbox(url0, n)
    results: dict[str, list[dict[str, Any]]] = {"bot run": [], "split": []}
    for run in range(args.runs):
        for kind in (["bot run", "split"] if run % 2 == 0 else ["split", "bot run"]):
            db = work / f"startup-run-{run}.sqlite3"
            shutil.copy(template, db)
            fake = BenchTelegram(validate_updates=False, keep_requests=False)
            await fake.start()
            fake.add_chats(FIRST_CHAT, n)
            mark = work / "mark.txt"
            mark.unlink(missing_ok=True)
            env = child_env(TELEGRAM_BOT_TOKEN=fake.token, TELEGRAM_API_BASE=str(fake.base_url),
                            DATABASE_URL=sqlite_url(db), CONVOCA_BENCH_MARK=str(mark))
            cmd = ["-m", "bot", "run"] if kind == "bot run" else ["-m", "bench.startup_probe"]
            t_exec = time.monotonic()
            proc = await asyncio.create_subprocess_exec(
                sys.executable, *cmd, cwd=str(work), env=env,
                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
            try:
                # When it arrives, not when answered: an empty long poll is held 10 s.
                at = await wait_for_poll(fake, timeout=180, proc=proc)
                await asyncio.sleep(args.settle)  # delivering the backlog meanwhile
                peak = peak_rss_mb(proc.pid)
            finally:
                if proc.returncode is None:
                    proc.send_signal(signal.SIGTERM)
                    try:
                        await asyncio.wait_for(proc.wait(), 30)
                    except TimeoutError:
                        proc.kill()
                        await proc.wait()
                await fake.stop()
            r: dict[str, Any] = {"run": run + 1, "exec_to_getupdates_s": at - t_exec,
                                 "peak_rss_mb": peak, "sent_meanwhile": fake.stats["ok"]}
            if kind == "split" and mark.exists():
                m = float(mark.read_text())
                r["imports_s"] = m - t_exec
                r["main_to_getupdates_s"] = at - m
            results[kind].append(r)
            db.unlink(missing_ok=True)
            print(f"  run={run + 1} {kind:8s} exec→getUpdates {r['exec_to_getupdates_s']:.2f}s"
                  + (f" (imports {r['imports_s']:.2f}s, main()→getUpdates "
                     f"{r['main_to_getupdates_s']:.2f}s)" if "imports_s" in r else "")
                  + f"  peak {peak or 0:.0f} MB", flush=True)
    out = {
        "pending": n,
        "exec_to_getupdates_s": summary(r["exec_to_getupdates_s"] for r in results["bot run"]),
        "imports_s": summary(r["imports_s"] for r in results["split"] if "imports_s" in r),
        "main_to_getupdates_s": summary(
            r["main_to_getupdates_s"] for r in results["split"] if "main_to_getupdates_s" in r),
        "peak_rss_mb": summary(r["peak_rss_mb"] for r in results["bot run"] if r["peak_rss_mb"]),
        "runs": results,
    }
    print_table(f"Start-up of `python -m bot run` with {n:,} pending — median (min–max), s",
                ["measure", "value", "target"],
                [["exec → first getUpdates", med(out["exec_to_getupdates_s"], 2), "≤ 2 s"],
                 ["  of which imports (aiogram, Convoca)", med(out["imports_s"], 2), ""],
                 ["  of which main() → first getUpdates", med(out["main_to_getupdates_s"], 2),
                  ""],
                 ["peak memory, MB", med(out["peak_rss_mb"], 0), "≤ 200"]])
    return out


# --- import cost --------------------------------------------------------------------------------


def importtime(module: str) -> dict[str, float]:
    """Cumulative import time (s) of what ``import <module>`` imports directly (depth 1),
    and of every package wherever it is first imported (keys ``pkg:<name>``)."""
    proc = subprocess.run([sys.executable, "-X", "importtime", "-c", f"import {module}"],
                          env=child_env(), capture_output=True, text=True, check=True,
                          timeout=300)
    top: dict[str, float] = {}
    for line in proc.stderr.splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)", line)
        if not m:
            continue
        seconds = int(m.group(2)) / 1e6
        if len(m.group(3)) == 1:  # depth 1: imported by the statement itself
            name = m.group(4).split(".")[0]
            top[name] = top.get(name, 0.0) + seconds
        if "." not in m.group(4):  # a package's own line: all it imported, once
            top.setdefault(f"pkg:{m.group(4)}", seconds)
    return top


def bench_imports(args: argparse.Namespace) -> dict[str, Any]:
    rows_raw: dict[str, list[float]] = {"aiogram": [], "bot.telegram (all of Convoca)": [],
                                        "  of which aiogram": [], "  of which sqlalchemy": [],
                                        "  of which pydantic": []}
    for run in range(args.runs):
        a = importtime("aiogram")
        rows_raw["aiogram"].append(a.get("aiogram", 0.0))
        c = importtime("bot.telegram, bot.app, bot.cli")
        rows_raw["bot.telegram (all of Convoca)"].append(
            sum(v for k, v in c.items() if not k.startswith("pkg:")))
        rows_raw["  of which aiogram"].append(c.get("pkg:aiogram", 0.0))
        rows_raw["  of which sqlalchemy"].append(c.get("pkg:sqlalchemy", 0.0))
        rows_raw["  of which pydantic"].append(c.get("pkg:pydantic", 0.0))
        print(f"  run={run + 1} import aiogram {rows_raw['aiogram'][-1]:.2f}s, "
              f"Convoca {rows_raw['bot.telegram (all of Convoca)'][-1]:.2f}s", flush=True)
    out = {k.strip(): summary(v) for k, v in rows_raw.items()}
    print_table("Import cost (python -X importtime), seconds — median (min–max)",
                ["import", "seconds"], [[k, med(summary(v), 2)] for k, v in rows_raw.items()])
    # What aiogram building its models lazily would give (bench/aiogram_lazy_probe.py).
    probes: dict[str, list[dict[str, Any]]] = {"eager": [], "lazy": []}
    for run in range(args.runs):
        for mode in (("eager", "lazy") if run % 2 == 0 else ("lazy", "eager")):
            proc = subprocess.run([sys.executable, "-m", "bench.aiogram_lazy_probe", mode],
                                  env=child_env(), capture_output=True, text=True, check=True,
                                  timeout=300)
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
            out["imports"] = bench_imports(args)
        if "claim" in parts:
            out["claim"] = await bench_claim(args, work)
        if "startup" in parts:
            out["startup"] = await bench_startup(args, work)
        if "planner" in parts:
            out["planner"] = await bench_planner(args, work)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.scheduler", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--only", default="imports,claim,startup,planner")
    p.add_argument("--pending", default="1000,10000,100000", help="outbox sizes for claim")
    p.add_argument("--dbs", default="sqlite,postgres", help="databases for claim")
    p.add_argument("--repeat", type=int, default=20, help="claims per child process")
    p.add_argument("--startup-pending", type=int, default=100_000)
    # 15 s after the first getUpdates arrives is when memory was read before, 5 s after
    # the fake answered that long poll.
    p.add_argument("--settle", type=float, default=15.0,
                   help="seconds the process runs after getUpdates before memory is read")
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
