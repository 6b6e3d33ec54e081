"""Benchmark 1 — conversation throughput: Convoca answering steps of the Ficha de Interés
(each one a database write) against a bare echo bot on the same Telegram library, in the
same run, for each driver (aiogram, python-telegram-bot).

    python -m bench.throughput --runs 5 --people 100
    python -m bench.throughput --runs 5 --people 10,100,1000     # how it grows
    python -m bench.throughput --runs 5 --people 10 --variants echo,postgres,postgres2

Each bot runs in its own process (python -m bench.bots) polling its own instance of the
project's fake Bot API (tests/fakes/telegram_api.py, every request checked against the
spec) served by this process, where N simulated people each send the next answer as soon as
the reply arrives. Convoca's channel limit is Limits(per_second=None): the benchmark
measures Convoca's cost, not Telegram's 30 messages/s. The errors column counts steps not
answered, webhook posts refused and requests the fake refused (against the spec, or not
sent by the driver's library: its User-Agent). The bots take turns in every run
(each driver's echo, Convoca on SQLite, Convoca on PostgreSQL, rotating the order), so a
ratio is always of two windows measured seconds apart on this shared machine, and always
to the echo bot of the same driver.

postgresN (postgres2: two) is N Convoca processes on ONE PostgreSQL database, as Convoca
runs on several processes: one bot (one token, one fake server), its updates taken by
webhook, the fake POSTing each person's updates to one of the processes (the people split
between them, as a load balancer would). Any process may handle an update another stored
(the intake is shared), and sends its replies itself. Its CPU per update is the processes'
together; postgres1 is the same with one process, for comparison with polling."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import re
import tempfile
from pathlib import Path
from typing import Any

from bench.common import (
    DRIVERS,
    FIRST_CHAT,
    RESULTS,
    med,
    migrate,
    parse_drivers,
    postgres_database,
    print_table,
    seed_forms,
    seed_people,
    sqlite_url,
    summary,
    write_results,
)
from bench.conversation import BotUnderTest, start_bot

VARIANTS = ("echo", "sqlite", "postgres")


def variant(name: str) -> tuple[str, str | None, int]:
    """echo | sqlite | postgres | postgresN -> (bot, database, webhook processes or 0)."""
    if name == "echo":
        return "echo", None, 0
    m = re.fullmatch(r"(sqlite|postgres)(\d*)", name)
    if not m or (m.group(1) == "sqlite" and m.group(2)):
        raise SystemExit(f"unknown variant {name!r} (echo, sqlite, postgres, postgresN)")
    return "convoca", m.group(1), int(m.group(2) or 0)


def label(name: str) -> str:
    kind, database, processes = variant(name)
    if kind == "echo":
        return "echo"
    db = {"sqlite": "SQLite", "postgres": "PostgreSQL"}[database or ""]
    if processes:
        return f"Convoca, {db}, {processes} process{'es' if processes > 1 else ''} (webhook)"
    return f"Convoca, {db}"


def parse_variants(value: str) -> list[str]:
    names = [v for v in value.split(",") if v]
    for v in names:
        variant(v)
    return names


async def start_variants(variants: list[str], drivers: list[str], n_chats: int,
                         workdir: Path, stack: contextlib.AsyncExitStack, think: float = 0.0,
                         profile_dir: Path | None = None, cprofile: bool = False,
                         in_process: bool = False) -> dict[tuple[str, str], BotUnderTest]:
    """Every variant on every driver, each bot on its own fake server and database."""
    bots: dict[tuple[str, str], BotUnderTest] = {}
    logs = RESULTS / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    for d in drivers:
        for v in variants:
            mode, database, processes = variant(v)
            url = None
            if database == "sqlite":
                url = sqlite_url(workdir / f"convoca-{v}-{d}.sqlite3")
            elif database == "postgres":
                url = await stack.enter_async_context(postgres_database())
            if url:
                await migrate(url)
                await seed_people(url, n_chats, first_chat=FIRST_CHAT)
                await seed_forms(url)
            name = f"{v}-{d}"
            profile = str(profile_dir / f"{name}.prof") if profile_dir and cprofile else None
            sql = str(profile_dir / f"{name}.sql.json") if profile_dir else None
            bot = await start_bot(name, mode, db_url=url, n_chats=n_chats,
                                  first_chat=FIRST_CHAT, driver=d, think=think, log_dir=logs,
                                  profile=profile, sql_stats=sql, in_process=in_process,
                                  processes=processes)
            bots[(d, v)] = bot
            stack.push_async_callback(bot.stop)
    return bots


def rotated(items: list[Any], run: int) -> list[Any]:
    k = run % len(items)
    return items[k:] + items[:k]


async def window(b: BotUnderTest, n: int, warmup: float, duration: float,
                 keep_latencies: bool = False) -> dict[str, Any]:
    errors0, violations0 = b.fake.webhook_errors, len(b.fake.violations)
    w = await b.crowd.window(n, warmup, duration, b.pids, keep_latencies=keep_latencies)
    w["webhook_errors"] = b.fake.webhook_errors - errors0
    # Requests the fake refused as against the spec, or sent by another library.
    w["violations"] = b.fake.violations[violations0:]
    w["processes"] = b.processes
    return w


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    variants = parse_variants(args.variants)
    drivers = parse_drivers(args.drivers)
    people = [int(p) for p in str(args.people).split(",")]
    windows: dict[str, dict[str, dict[str, list[dict[str, Any]]]]] = {
        str(n): {d: {v: [] for v in variants} for d in drivers} for n in people}
    with tempfile.TemporaryDirectory(prefix="convoca-bench-") as tmp:
        async with contextlib.AsyncExitStack() as stack:
            profile_dir = Path(args.profile_dir) if args.profile_dir else None
            if profile_dir:
                profile_dir.mkdir(parents=True, exist_ok=True)
            bots = await start_variants(variants, drivers, max(people), Path(tmp), stack,
                                        profile_dir=profile_dir, cprofile=args.cprofile,
                                        in_process=args.in_process)
            turns = [(d, v) for v in variants for d in drivers]
            for n in people:
                for run in range(args.runs):
                    for d, v in rotated(turns, run):
                        w = await window(bots[(d, v)], n, args.warmup, args.duration)
                        w["run"] = run + 1
                        windows[str(n)][d][v].append(w)
                        print(f"  people={n} run={run + 1} {d:7s} {v:9s} "
                              f"{w['updates_per_s']:8.1f} updates/s  "
                              f"bot cpu {w['bot_cpu_ms_per_update'] or 0:6.2f} ms/update  "
                              f"driver cpu {w['driver_cpu_share']:.0%}  errors {w['errors']}",
                              flush=True)
    return {"windows": windows, "variants": variants, "drivers": drivers, "people": people}


def compare(by_variant: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """One driver's windows: each variant's figures, and its ratio to that driver's echo,
    window by window of the same run."""
    entry: dict[str, Any] = {}
    for v, ws in by_variant.items():
        entry[v] = {
            "updates_per_s": summary(w["updates_per_s"] for w in ws),
            "bot_cpu_ms_per_update": summary(
                w["bot_cpu_ms_per_update"] for w in ws if w["bot_cpu_ms_per_update"]),
            "driver_cpu_share": summary(w["driver_cpu_share"] for w in ws),
            "errors": sum(w["errors"] + w["webhook_errors"] + len(w["violations"])
                          for w in ws),
        }
    echo = {w["run"]: w for w in by_variant.get("echo", [])}
    for v, ws in by_variant.items():
        if v == "echo" or not echo:
            continue
        pairs = [(w, echo[w["run"]]) for w in ws if w["run"] in echo]
        ratios = [c["updates_per_s"] / e["updates_per_s"]
                  for c, e in pairs if e["updates_per_s"]]
        cpu = [e["bot_cpu_ms_per_update"] / c["bot_cpu_ms_per_update"]
               for c, e in pairs if c["bot_cpu_ms_per_update"] and e["bot_cpu_ms_per_update"]]
        entry[v]["ratio_to_echo"] = summary(ratios)
        entry[v]["cpu_ratio_echo_over_convoca"] = summary(cpu)
    return entry


def report(data: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    rows = []
    for n, by_driver in data["windows"].items():
        out[n] = {}
        for d, by_variant in by_driver.items():
            entry = out[n][d] = compare(by_variant)
            for v in by_variant:
                e = entry[v]
                rows.append([n, d, label(v), med(e["updates_per_s"]),
                             med(e["bot_cpu_ms_per_update"], 2),
                             med(e["ratio_to_echo"], 2) if "ratio_to_echo" in e
                             else "1" if v == "echo" else "-",
                             "≥ 0.5" if v != "echo" else "", e["errors"]])
    print_table("Conversation throughput — median (min–max) of the runs; the ratio is to "
                "the echo bot of the same driver",
                ["people", "driver", "bot", "updates/s",
                 "bot CPU ms/update (not PostgreSQL's)", "ratio to echo", "target", "errors"],
                rows)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.throughput", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--people", default="100", help="comma-separated, e.g. 10,100,1000")
    p.add_argument("--duration", type=float, default=6.0, help="seconds measured per window")
    p.add_argument("--warmup", type=float, default=1.5, help="seconds before measuring")
    p.add_argument("--variants", default=",".join(VARIANTS),
                   help="echo, sqlite, postgres, postgresN (N processes on one database, by "
                        "webhook; e.g. postgres2)")
    p.add_argument("--drivers", default=",".join(DRIVERS),
                   help="the Telegram libraries, each with its own echo bot: aiogram, ptb")
    p.add_argument("--profile-dir", help="write each Convoca's SQL statement timings here")
    p.add_argument("--cprofile", action="store_true",
                   help="also write each bot's cProfile stats to --profile-dir")
    p.add_argument("--in-process", action="store_true",
                   help="run the bots in this process (smoke tests; no CPU figures)")
    p.add_argument("--out", help="results folder (default bench/results)")
    args = p.parse_args(argv)
    data = asyncio.run(measure(args))
    data["summary"] = report(data)
    data["settings"] = vars(args)
    write_results("throughput", data, Path(args.out) if args.out else None)
    for d in data["drivers"]:
        # The lowest of the variants: a median over them would hide one under the target.
        medians = [s["ratio_to_echo"]["median"] for n in data["summary"].values()
                   for s in n[d].values() if "ratio_to_echo" in s and s["ratio_to_echo"]["n"]]
        if medians:
            print(f"{d}: ratio Convoca/echo, the lowest variant's median {min(medians):.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
