"""Benchmark 2 — latency under load: 200 simulated people filling in the Ficha at the same
time; p50 and p99 from the update being handed out by getUpdates to the reply arriving at
the fake server (the fake's own time.monotonic() stamps).

    python -m bench.latency --runs 5 --people 200 --think 10
    python -m bench.latency --runs 5 --people 200 --think 0     # saturated: a queue, not a wait

--think is the mean pause (uniform ±50 %) a person takes to read the question and type the
answer. With no pause, N people keep the bot saturated and the "latency" is only N divided
by the throughput (Little's law); a pause gives the offered load of people at a form.
Set-up, variants, drivers and limits as in bench.throughput (Limits(per_second=None)):
every variant runs on each driver (--drivers aiogram,ptb), its echo bot on the same one."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import tempfile
from pathlib import Path
from typing import Any

from bench.common import (
    DRIVERS,
    med,
    parse_drivers,
    percentile,
    print_table,
    summary,
    write_results,
)
from bench.throughput import VARIANTS, label, parse_variants, rotated, start_variants, window


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    variants = parse_variants(args.variants)
    drivers = parse_drivers(args.drivers)
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {
        d: {v: [] for v in variants} for d in drivers}
    with tempfile.TemporaryDirectory(prefix="convoca-bench-") as tmp:
        async with contextlib.AsyncExitStack() as stack:
            bots = await start_variants(variants, drivers, args.people, Path(tmp), stack,
                                        think=args.think, in_process=args.in_process)
            turns = [(d, v) for v in variants for d in drivers]
            for run in range(args.runs):
                for d, v in rotated(turns, run):
                    w = await window(bots[(d, v)], args.people, args.warmup, args.duration,
                                     keep_latencies=True)
                    w["run"] = run + 1
                    runs[d][v].append(w)
                    print(f"  run={run + 1} {d:7s} {v:13s} {w['updates_per_s']:7.1f} "
                          f"updates/s  p50 {w['p50_ms']:7.1f} ms  p99 {w['p99_ms']:7.1f} ms  "
                          f"errors {w['errors']}", flush=True)
    return {"runs": runs, "variants": variants, "drivers": drivers}


def report(data: dict[str, Any], target_ms: float) -> dict[str, Any]:
    out: dict[str, Any] = {}
    rows = []
    for d, by_variant in data["runs"].items():
        out[d] = {}
        for v, ws in by_variant.items():
            pooled = [x for w in ws for x in w["latencies_ms"]]
            e = out[d][v] = {
                "p50_ms": summary(w["p50_ms"] for w in ws),
                "p99_ms": summary(w["p99_ms"] for w in ws),
                "updates_per_s": summary(w["updates_per_s"] for w in ws),
                "pooled_p50_ms": percentile(pooled, 50),
                "pooled_p99_ms": percentile(pooled, 99),
                "errors": sum(w["errors"] + w["webhook_errors"] + len(w["violations"])
                              for w in ws),
            }
            rows.append([d, label(v), med(e["updates_per_s"]), med(e["p50_ms"]),
                         med(e["p99_ms"]), f"≤ {target_ms:g}" if v != "echo" else "",
                         e["errors"]])
    print_table("Latency under load — median (min–max) of the runs, milliseconds",
                ["driver", "bot", "updates/s", "p50 ms", "p99 ms", "target p99", "errors"],
                rows)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.latency", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--people", type=int, default=200)
    p.add_argument("--think", type=float, default=10.0,
                   help="mean seconds a person takes per answer (uniform ±50%%)")
    p.add_argument("--duration", type=float, default=20.0)
    p.add_argument("--warmup", type=float, default=5.0)
    p.add_argument("--variants", default=",".join(VARIANTS),
                   help="echo, sqlite, postgres, postgresN (as bench.throughput)")
    p.add_argument("--drivers", default=",".join(DRIVERS),
                   help="the Telegram libraries, each with its own echo bot: aiogram, ptb")
    p.add_argument("--target-ms", type=float, default=50.0)
    p.add_argument("--in-process", action="store_true",
                   help="run the bots in this process (smoke tests)")
    p.add_argument("--out", help="results folder (default bench/results)")
    args = p.parse_args(argv)
    data = asyncio.run(measure(args))
    data["summary"] = report(data, args.target_ms)
    data["settings"] = vars(args)
    write_results("latency", data, Path(args.out) if args.out else None)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
