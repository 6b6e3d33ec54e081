"""Why the PTB driver sends over aiohttp: python-telegram-bot's plain Bot sending n messages
on its default transport (httpx) and on the driver's (bot.telegram.ptb_driver.AiohttpRequest),
1 and 32 at a time, and aiogram beside them; CPU per message of the sending process.

    python -m bench.ptb_transport --runs 5 --messages 3000

Each sender is `python -m bench.bots blast` in its own process, against the project's fake
Bot API served by this process (every request checked against the spec); the variants take
turns in every run."""

from __future__ import annotations

import argparse
import asyncio
import time
from pathlib import Path
from typing import Any

from bench.broadcast import WARM_UP, warm_up
from bench.common import (
    FIRST_CHAT,
    BenchTelegram,
    cpu_seconds,
    med,
    print_table,
    spawn,
    stop_process,
    summary,
    write_results,
)

VARIANTS = [("ptb", "httpx"), ("ptb", "aiohttp"), ("aiogram", "aiohttp")]


async def one(driver: str, transport: str, concurrency: int, n: int) -> dict[str, float]:
    fake = BenchTelegram(validate_updates=False, keep_requests=False)
    await fake.start()
    fake.add_chats(FIRST_CHAT - WARM_UP, n + WARM_UP)
    await warm_up(fake)
    fake.expect_driver(driver)
    proc = await spawn("-m", "bench.bots", "blast", "--driver", driver, "--ptb-transport",
                       transport, "--api-base", str(fake.base_url), "--token", fake.token,
                       "--first-chat", str(FIRST_CHAT), "--count", str(n),
                       "--concurrency", str(concurrency))
    try:
        # From its first message (start-up and imports are not sending) to its last.
        cpu0 = t0 = None
        deadline = time.monotonic() + 300
        while fake.sent_requests - WARM_UP < n and time.monotonic() < deadline:
            if cpu0 is None and fake.sent_requests > WARM_UP:
                cpu0, t0 = cpu_seconds(proc.pid), time.monotonic()
            if proc.returncode is not None:
                break
            await asyncio.sleep(0.005 if cpu0 is None else 0.02)
        assert cpu0 is not None and t0 is not None, "the sender sent nothing"
        seconds, cpu = time.monotonic() - t0, cpu_seconds(proc.pid) - cpu0
    finally:
        await stop_process(proc)
        await fake.stop()
    sent = fake.sent_requests - WARM_UP
    assert not fake.violations, fake.violations[:3]
    return {"per_second": sent / seconds, "cpu_ms_per_message": 1000 * cpu / sent,
            "sent": sent}


async def measure(runs: int, n: int, concurrencies: list[int]) -> dict[str, Any]:
    found: dict[str, list[dict[str, float]]] = {}
    order = [(d, t, c) for c in concurrencies for d, t in VARIANTS]
    for run in range(runs):
        shift = run % len(order)
        for driver, transport, c in order[shift:] + order[:shift]:
            r = await one(driver, transport, c, n)
            found.setdefault(f"{driver}|{transport}|{c}", []).append(r)
            print(f"  run={run + 1} {driver:7} {transport:7} x{c:<3} {r['per_second']:8.1f}/s"
                  f"  {r['cpu_ms_per_message']:.3f} ms CPU/message", flush=True)
    return {key: {"per_second": summary(r["per_second"] for r in rs),
                  "cpu_ms_per_message": summary(r["cpu_ms_per_message"] for r in rs)}
            for key, rs in found.items()}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.ptb_transport", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--messages", type=int, default=3000)
    p.add_argument("--concurrency", default="1,32")
    p.add_argument("--out", default=None, help="results folder (default bench/results)")
    args = p.parse_args(argv)
    data = asyncio.run(measure(args.runs, args.messages,
                               [int(c) for c in args.concurrency.split(",")]))
    rows = []
    for key, s in data.items():
        driver, transport, c = key.split("|")
        rows.append([driver, transport, c, med(s["per_second"]),
                     med(s["cpu_ms_per_message"], 3)])
    print_table("A bare bot sending — median (min–max)",
                ["library", "transport", "at a time", "messages/s", "CPU ms/message"], rows)
    write_results("ptb_transport", {"runs": data}, Path(args.out) if args.out else None)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
