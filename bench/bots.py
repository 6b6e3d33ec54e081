"""The bots under test, each run in a process of its own so that its CPU is its own:

    python -m bench.bots echo --driver aiogram|ptb --api-base URL
    python -m bench.bots blast --driver aiogram|ptb --api-base URL --first-chat N --count N
    python -m bench.bots convoca --driver aiogram|ptb --api-base URL --db URL
        [--per-second N|none] [--no-poll | --webhook HOST:PORT]

`echo` is a bare bot on the driver's library: a text is echoed, a button tap is answered
and echoed (aiogram: its Dispatcher polling; ptb: a plain python-telegram-bot `Bot` polled
by a loop of getUpdates, no Application). `blast` is the bare library sending a broadcast
with no database. `convoca` is Convoca's real Telegram runtime as tests/telegram_harness.py
builds it (build_app with the production router, TelegramChannel on the driver, the outbox
Dispatcher, TelegramRuntime polling, or taking a webhook), with the channel's global limit
set by --per-second: `none` takes Telegram's 30/s away, so a benchmark measures Convoca's
own cost and not Telegram's limits. SIGTERM stops any of them cleanly; --profile FILE
writes cProfile stats on the way out."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import DRIVERS, TOKEN, WEBHOOK_SECRET


async def run_blast(api_base: str, token: str, first_chat: int, n: int,
                    concurrency: int, driver: str = "aiogram", transport: str = "aiohttp"
                    ) -> None:
    """A bare library sending n messages, `concurrency` at a time: its own ceiling for a
    broadcast on this machine, with no database."""
    gate = asyncio.Semaphore(concurrency)
    if driver == "ptb":
        bot = ptb_bot(api_base, token, concurrency, transport)
        await bot.initialize()
        send = bot.send_message
    else:
        from aiogram import Bot
        from aiogram.client.session.aiohttp import AiohttpSession
        from aiogram.client.telegram import TelegramAPIServer

        bot = Bot(token, session=AiohttpSession(api=TelegramAPIServer.from_base(api_base)))
        send = bot.send_message

    async def one(chat: int) -> None:
        async with gate:
            await send(chat, "Hola")

    try:
        await asyncio.gather(*(one(first_chat + i) for i in range(n)))
        await asyncio.Event().wait()
    finally:
        await (bot.shutdown() if driver == "ptb" else bot.session.close())


def ptb_bot(api_base: str, token: str, connections: int = 100, transport: str = "aiohttp"
            ) -> Any:
    """A plain python-telegram-bot `Bot` on the fake (PTB joins the token to these bases), on
    the transport Convoca's PTB driver gives it (bot.telegram.ptb_driver.AiohttpRequest: the
    echo and Convoca pay the same HTTP client): `connections` at a time, a request waiting
    for a free one as aiogram's session does, and a connection of its own for the long poll."""
    from telegram import Bot

    from bot.telegram.ptb_driver import AiohttpRequest

    if transport == "httpx":  # PTB's default transport (bench/ptb_transport.py compares)
        from telegram.request import HTTPXRequest

        return Bot(token, base_url=f"{api_base}/bot", base_file_url=f"{api_base}/file/bot",
                   request=HTTPXRequest(connection_pool_size=connections, pool_timeout=None),
                   get_updates_request=HTTPXRequest(connection_pool_size=1))
    return Bot(token, base_url=f"{api_base}/bot", base_file_url=f"{api_base}/file/bot",
               request=AiohttpRequest(connections, 30.0),
               get_updates_request=AiohttpRequest(1, 30.0))


async def run_echo(api_base: str, token: str, driver: str = "aiogram") -> None:
    """A text is echoed; a button tap is answered and its data echoed."""
    await (run_echo_ptb if driver == "ptb" else run_echo_aiogram)(api_base, token)


async def run_echo_aiogram(api_base: str, token: str) -> None:
    from aiogram import Bot, Dispatcher, Router
    from aiogram.client.session.aiohttp import AiohttpSession
    from aiogram.client.telegram import TelegramAPIServer
    from aiogram.types import CallbackQuery, Message

    bot = Bot(token, session=AiohttpSession(api=TelegramAPIServer.from_base(api_base)))
    router = Router()

    @router.message()
    async def echo(message: Message) -> None:
        await message.answer(message.text or "…")

    @router.callback_query()
    async def tap(query: CallbackQuery) -> None:
        await query.answer()
        assert query.message is not None
        await bot.send_message(query.message.chat.id, query.data or "…")

    dp = Dispatcher()
    dp.include_router(router)
    try:
        await bot.delete_webhook(drop_pending_updates=False)
        await dp.start_polling(bot, handle_signals=False, close_bot_session=False,
                               allowed_updates=["message", "callback_query"])
    finally:
        await bot.session.close()


async def run_echo_ptb(api_base: str, token: str) -> None:
    """The same echo on a plain python-telegram-bot `Bot` (no Application, Updater or
    handlers): polled as aiogram's Dispatcher polls (getMe first, 10 s long polls, each
    update handled in a task of its own while the next batch is fetched)."""
    from telegram import Update

    bot = ptb_bot(api_base, token)
    handling: set[asyncio.Task[None]] = set()

    async def handle(update: Update) -> None:
        try:
            if update.message is not None:
                await bot.send_message(update.message.chat.id, update.message.text or "…")
            elif update.callback_query is not None:
                query = update.callback_query
                await bot.answer_callback_query(query.id)
                assert query.message is not None
                await bot.send_message(query.message.chat.id, query.data or "…")
        except Exception:  # as aiogram's dispatcher: log it, keep polling
            logging.getLogger("bench.echo").exception("update %s failed", update.update_id)

    await bot.initialize()  # getMe, as aiogram's start_polling
    try:
        await bot.delete_webhook(drop_pending_updates=False)
        offset = None
        while True:
            try:
                updates = await bot.get_updates(offset=offset, timeout=10,
                                                allowed_updates=["message", "callback_query"])
            except Exception as exc:  # as aiogram's polling: wait a little, try again
                logging.getLogger("bench.echo").error("getUpdates failed: %s", exc)
                await asyncio.sleep(1.0)
                continue
            for update in updates:
                offset = update.update_id + 1
                task = asyncio.create_task(handle(update))
                handling.add(task)
                task.add_done_callback(handling.discard)
    finally:
        for task in handling:
            task.cancel()
        await bot.shutdown()


def watch_sql(engine: object, path: str) -> None:
    """Time every SQL statement (wall time, as the caller waits for it); dump at exit."""
    import atexit
    import json
    import time

    from sqlalchemy import event

    stats: dict[str, list[float]] = {}

    @event.listens_for(engine.sync_engine, "before_cursor_execute")  # type: ignore[attr-defined]
    def before(conn, cursor, statement, parameters, context, executemany):
        conn.info.setdefault("t0", []).append(time.perf_counter())

    @event.listens_for(engine.sync_engine, "after_cursor_execute")  # type: ignore[attr-defined]
    def after(conn, cursor, statement, parameters, context, executemany):
        took = time.perf_counter() - conn.info["t0"].pop()
        entry = stats.setdefault(" ".join(statement.split())[:300], [0, 0.0])
        entry[0] += 1
        entry[1] += took

    def dump() -> None:
        rows = sorted(stats.items(), key=lambda kv: -kv[1][1])
        Path(path).write_text(json.dumps(
            [{"sql": k, "count": c, "seconds": t} for k, (c, t) in rows], indent=1))

    atexit.register(dump)


async def run_convoca(api_base: str, token: str, db_url: str, per_second: float | None,
                      poll: bool, sql_stats: str | None = None, driver: str = "ptb",
                      webhook: str | None = None) -> None:
    """Convoca's Telegram runtime on `driver`: polling, or (`webhook` HOST:PORT) taking the
    updates at http://HOST:PORT/telegram with WEBHOOK_SECRET, as `convoca run` behind a
    load balancer."""
    from bot.app import build_app, freeze_startup_objects
    from bot.config import load_settings
    from bot.telegram import TelegramChannel, TelegramRuntime, make_bot
    from scheduler.dispatcher import Limits

    settings = load_settings(database_url=db_url, telegram_bot_token=token,
                             telegram_api_base=api_base, telegram_driver=driver,
                             _env_file=None)
    app = await build_app(settings, migrate=True)
    if sql_stats:
        watch_sql(app.engine, sql_stats)
    bot = make_bot(settings.token, settings.telegram_api_base, driver=settings.telegram_driver)
    try:
        me = await bot.get_me()
        channel = TelegramChannel(bot, app.catalogs, app.services.buttons, settings.timezone,
                                  limits=Limits(per_second=per_second),
                                  username=me["username"])
        outbox = app.outbox([channel])
        freeze_startup_objects()  # before sending: the collection itself is a stall
        await outbox.start()
        runtime = TelegramRuntime(bot, app.core, outbox)
        try:
            if webhook:
                await runtime.serve_webhook(f"http://{webhook}", WEBHOOK_SECRET, webhook)
            elif poll:
                await runtime.poll()
            else:
                await asyncio.Event().wait()
        finally:
            await outbox.stop()
    finally:
        await bot.close()
        await app.close()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.bots", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("kind", choices=["echo", "convoca", "blast"])
    p.add_argument("--ptb-transport", choices=["aiohttp", "httpx"], default="aiohttp",
                   help="the HTTP client of a bare PTB bot (blast): the driver's, or PTB's own")
    p.add_argument("--driver", choices=DRIVERS, required=True,
                   help="the Telegram library: aiogram or ptb (python-telegram-bot)")
    p.add_argument("--api-base", required=True)
    p.add_argument("--token", default=TOKEN)
    p.add_argument("--db", help="database URL (convoca)")
    p.add_argument("--per-second", default="none",
                   help="the channel's global limit in messages/s, or 'none' (convoca)")
    p.add_argument("--first-chat", type=int, default=0, help="first recipient (blast)")
    p.add_argument("--count", type=int, default=0, help="messages to send (blast)")
    p.add_argument("--concurrency", type=int, default=32, help="requests at a time (blast)")
    p.add_argument("--no-poll", action="store_true", help="deliver the outbox only (convoca)")
    p.add_argument("--webhook", metavar="HOST:PORT",
                   help="take the updates by webhook at http://HOST:PORT/telegram instead of "
                        "polling (convoca)")
    p.add_argument("--profile", help="write cProfile stats to this file on exit")
    p.add_argument("--sql-stats", help="write each SQL statement's count and time here (convoca)")
    args = p.parse_args(argv)
    # As `convoca run` logs: INFO, without aiogram's line per update or httpx's per request.
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("aiogram.event", "alembic", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)

    if args.kind == "echo":
        def coro():
            return run_echo(args.api_base, args.token, args.driver)
    elif args.kind == "blast":
        def coro():
            return run_blast(args.api_base, args.token, args.first_chat, args.count,
                             args.concurrency, args.driver, args.ptb_transport)
    else:
        per_second = None if args.per_second.lower() == "none" else float(args.per_second)

        def coro():
            return run_convoca(args.api_base, args.token, args.db, per_second,
                               not args.no_poll, args.sql_stats, args.driver, args.webhook)

    async def runner() -> None:
        task = asyncio.ensure_future(coro())
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, task.cancel)
        with contextlib.suppress(asyncio.CancelledError):
            await task

    profiler = None
    if args.profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    try:
        asyncio.run(runner())
    finally:
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(args.profile)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
