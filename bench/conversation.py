"""Simulated people talking to a bot through the fake Bot API, for the throughput and latency
benchmarks. Each person sends one update, waits for the whole reply, (thinks,) and sends the
next: the Ficha de Interés step by step, typing where the form asks for words and tapping
where it shows buttons, over and over ("/ficha" → "Empezar de nuevo" after the summary).

The echo bot gets the very same updates (the same texts; a callback for each tap) and
answers each with one message, as Convoca answers each step of the form with one.

Each bot polls its own fake server, or (several Convoca processes on one database) the fake
posts each update to one of their webhooks, a chat always to the same one; every request the
fake gets must come from the library of the bot's driver (FakeTelegram.expect_driver)."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from bench.common import (
    BenchTelegram,
    Recorded,
    cpu_seconds,
    percentile,
    spawn,
    stop_process,
    wait_for_poll,
)

# (kind, value, replies expected). One cycle of the Ficha for a person not linked to an
# organisation, formalised (so the RUT is asked), from the first question to the summary.
PRIME = ("text", "/ficha", 2)  # the first time: the intro and question 1
CYCLE: list[tuple[str, str, int]] = [
    ("text", "Junta de Vecinos Villa Ñuñoa", 1),
    ("tap", "Junta de vecinos", 1),
    ("tap", "Sí", 1),
    ("text", "65.123.456-5", 1),
    ("tap", "Omitir", 1),  # the registration number, not at hand
    ("text", "Villa Ñuñoa", 1),
    ("text", "unos 40", 1),
    ("text", "Ana María Rojas", 1),
    ("text", "12.345.678-5", 1),  # the representative's RUT
    ("text", "Presidenta", 1),
    ("text", "9 8765 4321", 1),
    ("tap", "Omitir", 1),
    ("tap", "Grupo Motor", 1),  # a tick: the question's message is edited
    ("tap", "Difusión", 1),
    ("tap", "✔️ Listo", 1),
    ("tap", "Martes", 1),
    ("tap", "✔️ Listo", 1),
    ("tap", "Tarde", 1),
    ("tap", "✔️ Listo", 1),  # the summary
    ("text", "/ficha", 1),  # "you have a draft": continue or start again
    ("tap", "🔄 Empezar de nuevo", 1),  # question 1 again
]
STEP_TIMEOUT = 30.0


class StepFailed(Exception):
    pass


@dataclass
class Waiter:
    expect: int
    fut: asyncio.Future[Recorded]
    got: int = 0


@dataclass
class Done:
    at: float  # Recorded.at of the reply that completed the step
    latency: float  # from getUpdates handing the update out to that reply
    kind: str


@dataclass
class Crowd:
    """N people on one bot (one fake server)."""

    fake: BenchTelegram
    mode: str  # "echo" or "convoca"
    first_chat: int
    think: float = 0.0  # mean seconds between a reply and the next answer (uniform ±50%)
    seed: int = 1
    position: dict[int, int] = field(default_factory=dict)  # chat -> index in CYCLE
    primed: set[int] = field(default_factory=set)
    done: list[Done] = field(default_factory=list)
    errors: int = 0
    unexpected: int = 0

    def __post_init__(self) -> None:
        self.waiting: dict[int, Waiter] = {}
        self.keyboards: dict[int, tuple[int, list[list[dict[str, Any]]]]] = {}
        self.fake.on_reply = self._on_reply
        self._stop = asyncio.Event()
        self._rng = random.Random(self.seed)

    # replies ---------------------------------------------------------------------------

    def _on_reply(self, chat: Any, rec: Recorded) -> None:
        markup = rec.params.get("reply_markup")
        if isinstance(markup, dict) and "inline_keyboard" in markup:
            if rec.method == "editMessageText":
                mid = rec.params.get("message_id")
            else:
                mid = (rec.result or {}).get("message_id")
            self.keyboards[chat] = (mid, markup["inline_keyboard"])
        w = self.waiting.get(chat)
        if w is None or w.fut.done():
            self.unexpected += 1
            return
        w.got += 1
        if w.got >= w.expect:
            w.fut.set_result(rec)

    def _button(self, chat: int, label: str) -> tuple[str, int]:
        mid, rows = self.keyboards.get(chat, (None, []))
        for row in rows:
            for b in row:
                if b.get("text") == label and mid is not None:
                    return b["callback_data"], mid
        raise StepFailed(f"no button {label!r} in chat {chat}")

    # one step --------------------------------------------------------------------------

    async def step(self, chat: int, kind: str, value: str, expect: int) -> Done:
        fut: asyncio.Future[Recorded] = asyncio.get_running_loop().create_future()
        self.waiting[chat] = Waiter(expect, fut)
        try:
            if kind == "text" and value.startswith("/"):
                update = self.fake.command(chat, value)
            elif kind == "text":
                update = self.fake.message(chat, value)
            elif self.mode == "echo":
                update = self.fake.callback(chat, "tap:" + value.encode()[:40].decode(
                    errors="ignore"))
            else:
                data, mid = self._button(chat, value)
                update = self.fake.callback(chat, data, message_id=mid)
            try:
                rec = await asyncio.wait_for(fut, STEP_TIMEOUT)
            except TimeoutError:
                raise StepFailed(f"no reply to {value!r} in chat {chat}") from None
        finally:
            self.waiting.pop(chat, None)
        self._trim(chat)
        handed = self.fake.handed_out.pop(update["update_id"], rec.at)
        done = Done(rec.at, rec.at - handed, kind)
        self.done.append(done)
        return done

    def _trim(self, chat: int) -> None:
        # The fake keeps every message of every chat; a person needs only the last few.
        msgs = self.fake._messages.get(chat)
        if msgs and len(msgs) > 8:
            for mid in sorted(msgs)[:-4]:
                del msgs[mid]

    async def prime(self, chat: int) -> None:
        if chat in self.primed:
            return
        if self.mode == "convoca":
            try:
                await self.step(chat, *PRIME)
            except StepFailed:
                self.errors += 1
        self.position.setdefault(chat, 0)
        self.primed.add(chat)

    async def resync(self, chat: int) -> None:
        """After a surprise, go back to the start of the form."""
        self.errors += 1
        if self.mode == "convoca":
            await self.step(chat, "text", "/ficha", 1)
            await self.step(chat, "tap", "🔄 Empezar de nuevo", 1)
        self.position[chat] = 0

    # people ----------------------------------------------------------------------------

    async def person(self, chat: int) -> None:
        while not self._stop.is_set():
            if self.think:
                pause = self.think * (0.5 + self._rng.random())
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), pause)
                if self._stop.is_set():
                    return
            i = self.position[chat]
            try:
                await self.step(chat, *CYCLE[i])
                self.position[chat] = (i + 1) % len(CYCLE)
            except StepFailed:
                try:
                    await self.resync(chat)
                except StepFailed:
                    self.errors += 1
                    return

    async def window(self, n: int, warmup: float, duration: float,
                     pids: Sequence[int] = (), keep_latencies: bool = False) -> dict[str, Any]:
        """n people talk for warmup + duration seconds; what happened in `duration`. The
        bot's CPU is that of its processes `pids` together."""
        pid = bool(pids)
        chats = [self.first_chat + i for i in range(n)]
        await asyncio.gather(*(self.prime(c) for c in chats))
        self._stop.clear()
        self.done.clear()
        errors0 = self.errors
        tasks = [asyncio.create_task(self.person(c)) for c in chats]
        await asyncio.sleep(warmup)
        t0, drv0 = time.monotonic(), time.process_time()
        cpu0 = sum(cpu_seconds(p) for p in pids) if pid else None
        await asyncio.sleep(duration)
        t1, drv1 = time.monotonic(), time.process_time()
        cpu1 = sum(cpu_seconds(p) for p in pids) if pid else None
        self._stop.set()
        await asyncio.gather(*tasks)
        inside = [d for d in self.done if t0 <= d.at < t1]
        lat = [d.latency * 1000 for d in inside]
        count = len(inside)
        extra = {"latencies_ms": sorted(round(x, 3) for x in lat)} if keep_latencies else {}
        return {
            **extra,
            "people": n,
            "updates": count,
            "seconds": t1 - t0,
            "updates_per_s": count / (t1 - t0),
            "bot_cpu_ms_per_update": ((cpu1 - cpu0) * 1000 / count)
            if (pid and count and cpu0 is not None and cpu1 is not None) else None,
            "bot_cpu_share": ((cpu1 - cpu0) / (t1 - t0))
            if (pid and cpu0 is not None and cpu1 is not None) else None,
            "driver_cpu_share": (drv1 - drv0) / (t1 - t0),
            "p50_ms": percentile(lat, 50),
            "p99_ms": percentile(lat, 99),
            "max_ms": max(lat) if lat else None,
            "errors": self.errors - errors0,
        }


# --- a bot process with its own fake server ------------------------------------------------


@dataclass
class BotUnderTest:
    """A bot on its own fake server: one process polling it, or several (Convoca) taking its
    updates by webhook, the fake sending each chat to one of them."""

    name: str
    fake: BenchTelegram
    procs: list[asyncio.subprocess.Process]
    crowd: Crowd
    tasks: list[asyncio.Task[None]] = field(default_factory=list)  # in-process: no CPU

    async def stop(self) -> None:
        for proc in self.procs:
            await stop_process(proc)
        for task in self.tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.fake.stop()

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]

    @property
    def processes(self) -> int:
        """Bots answering (processes, or tasks in-process)."""
        return len(self.procs) or len(self.tasks)


def _suffixed(path: str, suffix: str) -> str:
    """bench/x/postgres.prof -> bench/x/postgres-1.prof: one file per process."""
    from pathlib import Path

    stem, dot, ext = Path(path).name.partition(".")
    return str(Path(path).with_name(f"{stem}{suffix}{dot}{ext}"))


def free_listen() -> str:
    """A HOST:PORT nobody listens on now, for a webhook."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{s.getsockname()[1]}"


async def wait_listening(listen: str, timeout: float,
                         proc: asyncio.subprocess.Process | None = None,
                         task: asyncio.Task[None] | None = None) -> None:
    host, _, port = listen.rpartition(":")
    deadline = time.monotonic() + timeout
    while True:
        try:
            _, writer = await asyncio.open_connection(host, int(port))
            writer.close()
            return
        except OSError:
            if proc is not None and proc.returncode is not None:
                raise RuntimeError(f"the process exited ({proc.returncode}) before listening"
                                   ) from None
            if task is not None and task.done():
                task.result()  # its error
                raise RuntimeError("the bot ended before listening") from None
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing listens on {listen} after {timeout}s") from None
            await asyncio.sleep(0.05)


async def start_bot(name: str, mode: str, *, db_url: str | None, n_chats: int,
                    first_chat: int, driver: str, think: float = 0.0, log_dir: Any = None,
                    profile: str | None = None, sql_stats: str | None = None,
                    in_process: bool = False, processes: int = 0) -> BotUnderTest:
    """`mode` echo or convoca on `driver`; `processes` > 0: that many Convoca processes
    taking the updates by webhook (one database), started one after the other, instead of
    one polling."""
    fake = BenchTelegram(validate_updates=False, keep_requests=False)
    await fake.start()
    fake.expect_driver(driver)  # a request from another library is a violation
    fake.add_chats(first_chat, n_chats)
    listens = [free_listen() for _ in range(processes)]
    procs: list[asyncio.subprocess.Process] = []
    tasks: list[asyncio.Task[None]] = []
    bot = BotUnderTest(name, fake, procs, Crowd(fake, mode, first_chat, think), tasks)
    args = ["-m", "bench.bots", mode, "--driver", driver,
            "--api-base", str(fake.base_url), "--token", fake.token]
    if mode == "convoca":
        args += ["--db", str(db_url), "--per-second", "none"]
    try:
        for i, listen in enumerate(listens or [None]):
            proc = task = None
            if in_process:  # smoke tests: the same code, without a process of its own
                from bench import bots

                task = asyncio.create_task(
                    bots.run_echo(str(fake.base_url), fake.token, driver) if mode == "echo"
                    else bots.run_convoca(str(fake.base_url), fake.token, str(db_url), None,
                                          True, driver=driver, webhook=listen))
                tasks.append(task)
            else:
                suffix = f"-{i + 1}" if listen else ""
                extra = ["--webhook", listen] if listen else []
                if profile:
                    extra += ["--profile", _suffixed(profile, suffix)]
                if sql_stats and mode == "convoca":
                    extra += ["--sql-stats", _suffixed(sql_stats, suffix)]
                log_path = (log_dir / f"{name}{suffix}.log") if log_dir else None
                if log_path is not None and log_path.exists():
                    log_path.unlink()
                proc = await spawn(*args, *extra, log_path=log_path)
                procs.append(proc)
            if listen:
                await wait_listening(listen, 180, proc, task)
            else:
                await wait_for_poll(fake, timeout=180 if proc else 60, proc=proc)
        fake.webhooks = [f"http://{listen}/telegram" for listen in listens]
    except BaseException:
        await bot.stop()
        raise
    return bot
