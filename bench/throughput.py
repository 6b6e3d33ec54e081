"""Benchmark 1 — conversation throughput: Convoca answering steps of the Ficha de Interés
(each one a database write) against a bare aiogram echo bot, in the same run.

    python -m bench.throughput --runs 5 --people 100
    python -m bench.throughput --runs 5 --people 10,100,1000     # how it grows

Each bot runs in its own process (python -m bench.bots) polling its own instance of the
project's fake Bot API (tests/fakes/telegram_api.py, every request checked against the
spec) served by this process, where N simulated people each send the next answer as soon as
the reply arrives. Convoca's channel limit is Limits(per_second=None): the benchmark
measures Convoca's cost, not Telegram's 30 messages/s. The variants take turns in every run
(echo, Convoca on SQLite, Convoca on PostgreSQL, rotating the order), so a ratio is always
of two windows measured seconds apart on this shared machine."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import tempfile
from pathlib import Path
from typing import Any

from bench.common import (
    FIRST_CHAT,
    RESULTS,
    med,
    migrate,
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


async def start_variants(variants: list[str], n_chats: int, workdir: Path,
                         stack: contextlib.AsyncExitStack, think: float = 0.0,
                         profile_dir: Path | None = None,
                         cprofile: bool = False, in_process: bool = False
                         ) -> dict[str, BotUnderTest]:
    bots: dict[str, BotUnderTest] = {}
    for v in variants:
        url = None
        if v == "sqlite":
            url = sqlite_url(workdir / f"convoca-{v}.sqlite3")
        elif v == "postgres":
            url = await stack.enter_async_context(postgres_database())
        if url:
            await migrate(url)
            await seed_people(url, n_chats, first_chat=FIRST_CHAT)
            await seed_forms(url)
        profile = str(profile_dir / f"{v}.prof") if profile_dir and cprofile else None
        sql = str(profile_dir / f"{v}.sql.json") if profile_dir else None
        logs = RESULTS / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        bot = await start_bot(v, "echo" if v == "echo" else "convoca", db_url=url,
                              n_chats=n_chats, first_chat=FIRST_CHAT, think=think,
                              log_dir=logs, profile=profile, sql_stats=sql,
                              in_process=in_process)
        bots[v] = bot
        stack.push_async_callback(bot.stop)
    return bots


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    variants = [v for v in args.variants.split(",") if v]
    people = [int(p) for p in str(args.people).split(",")]
    windows: dict[str, dict[str, list[dict[str, Any]]]] = {
        str(n): {v: [] for v in variants} for n in people}
    with tempfile.TemporaryDirectory(prefix="convoca-bench-") as tmp:
        async with contextlib.AsyncExitStack() as stack:
            profile_dir = Path(args.profile_dir) if args.profile_dir else None
            if profile_dir:
                profile_dir.mkdir(parents=True, exist_ok=True)
            bots = await start_variants(variants, max(people), Path(tmp), stack,
                                        profile_dir=profile_dir, cprofile=args.cprofile,
                                        in_process=args.in_process)
            for n in people:
                for run in range(args.runs):
                    order = variants[run % len(variants):] + variants[:run % len(variants)]
                    for v in order:
                        b = bots[v]
                        w = await b.crowd.window(n, args.warmup, args.duration, b.pid)
                        w["run"] = run + 1
                        windows[str(n)][v].append(w)
                        print(f"  people={n} run={run + 1} {v:9s} "
                              f"{w['updates_per_s']:8.1f} updates/s  "
                              f"bot cpu {w['bot_cpu_ms_per_update'] or 0:6.2f} ms/update  "
                              f"driver cpu {w['driver_cpu_share']:.0%}  errors {w['errors']}",
                              flush=True)
    return {"windows": windows, "variants": variants, "people": people}


def report(data: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    rows = []
    for n, by_variant in data["windows"].items():
        entry: dict[str, Any] = {}
        for v, ws in by_variant.items():
            entry[v] = {
                "updates_per_s": summary(w["updates_per_s"] for w in ws),
                "bot_cpu_ms_per_update": summary(
                    w["bot_cpu_ms_per_update"] for w in ws if w["bot_cpu_ms_per_update"]),
                "driver_cpu_share": summary(w["driver_cpu_share"] for w in ws),
                "errors": sum(w["errors"] for w in ws),
            }
        echo = by_variant.get("echo")
        for v, ws in by_variant.items():
            if v == "echo" or not echo:
                continue
            ratios = [c["updates_per_s"] / e["updates_per_s"]
                      for c, e in zip(ws, echo, strict=False) if e["updates_per_s"]]
            cpu = [e["bot_cpu_ms_per_update"] / c["bot_cpu_ms_per_update"]
                   for c, e in zip(ws, echo, strict=False)
                   if c["bot_cpu_ms_per_update"] and e["bot_cpu_ms_per_update"]]
            entry[v]["ratio_to_echo"] = summary(ratios)
            entry[v]["cpu_ratio_echo_over_convoca"] = summary(cpu)
        out[n] = entry
        for v in by_variant:
            e = entry[v]
            rows.append([n, v, med(e["updates_per_s"]), med(e["bot_cpu_ms_per_update"], 2),
                         med(e["ratio_to_echo"], 2) if "ratio_to_echo" in e else "1",
                         "≥ 0.5" if v != "echo" else "", e["errors"]])
    print_table("Conversation throughput — median (min–max) of the runs",
                ["people", "bot", "updates/s", "bot CPU ms/update", "ratio to echo",
                 "target", "errors"], rows)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.throughput", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--people", default="100", help="comma-separated, e.g. 10,100,1000")
    p.add_argument("--duration", type=float, default=6.0, help="seconds measured per window")
    p.add_argument("--warmup", type=float, default=1.5, help="seconds before measuring")
    p.add_argument("--variants", default=",".join(VARIANTS),
                   help="echo, sqlite, postgres")
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
    medians = [s["ratio_to_echo"]["median"] for n in data["summary"].values()
               for s in n.values() if "ratio_to_echo" in s and s["ratio_to_echo"]["n"]]
    if medians:
        print(f"ratio Convoca/echo: median of medians {statistics.median(medians):.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
