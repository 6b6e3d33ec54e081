"""The bots under test, each run in a process of its own so that its CPU is its own:

    python -m bench.bots echo --api-base URL
    python -m bench.bots convoca --api-base URL --db URL [--per-second N|none] [--no-poll]

`echo` is a bare aiogram bot: a text is echoed, a button tap is answered and echoed.
`convoca` is Convoca's real Telegram runtime as tests/telegram_harness.py builds it
(build_app with the production router, TelegramChannel, the outbox Dispatcher,
TelegramRuntime polling), with the channel's global limit set by --per-second: `none` takes
Telegram's 30/s away, so a benchmark measures Convoca's own cost and not Telegram's limits.
SIGTERM stops either cleanly; --profile FILE writes cProfile stats on the way out."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import TOKEN


async def run_blast(api_base: str, token: str, first_chat: int, n: int,
                    concurrency: int) -> None:
    """Bare aiogram sending n messages, `concurrency` at a time: the library's own ceiling
    for a broadcast on this machine, with no database."""
    from aiogram import Bot
    from aiogram.client.session.aiohttp import AiohttpSession
    from aiogram.client.telegram import TelegramAPIServer

    bot = Bot(token, session=AiohttpSession(api=TelegramAPIServer.from_base(api_base)))
    gate = asyncio.Semaphore(concurrency)

    async def one(chat: int) -> None:
        async with gate:
            await bot.send_message(chat, "Hola")

    try:
        await asyncio.gather(*(one(first_chat + i) for i in range(n)))
        await asyncio.Event().wait()
    finally:
        await bot.session.close()


async def run_echo(api_base: str, token: str) -> None:
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
                      poll: bool, sql_stats: str | None = None) -> None:
    from bot.app import build_app, freeze_startup_objects
    from bot.config import load_settings
    from bot.telegram import TelegramChannel, TelegramRuntime, make_bot
    from scheduler.dispatcher import Limits

    settings = load_settings(database_url=db_url, telegram_bot_token=token,
                             telegram_api_base=api_base, _env_file=None)
    app = await build_app(settings, migrate=True)
    if sql_stats:
        watch_sql(app.engine, sql_stats)
    bot = make_bot(settings.token, settings.telegram_api_base)
    try:
        me = await bot.get_me()
        channel = TelegramChannel(bot, app.catalogs, app.services.buttons, settings.timezone,
                                  limits=Limits(per_second=per_second), username=me.username)
        outbox = app.outbox([channel])
        freeze_startup_objects()  # before sending: the collection itself is a stall
        await outbox.start()
        runtime = TelegramRuntime(bot, app.core, outbox)
        try:
            if poll:
                await runtime.poll()
            else:
                await asyncio.Event().wait()
        finally:
            await outbox.stop()
    finally:
        await bot.session.close()
        await app.close()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.bots", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("kind", choices=["echo", "convoca", "blast"])
    p.add_argument("--api-base", required=True)
    p.add_argument("--token", default=TOKEN)
    p.add_argument("--db", help="database URL (convoca)")
    p.add_argument("--per-second", default="none",
                   help="the channel's global limit in messages/s, or 'none' (convoca)")
    p.add_argument("--first-chat", type=int, default=0, help="first recipient (blast)")
    p.add_argument("--count", type=int, default=0, help="messages to send (blast)")
    p.add_argument("--concurrency", type=int, default=32, help="requests at a time (blast)")
    p.add_argument("--no-poll", action="store_true", help="deliver the outbox only (convoca)")
    p.add_argument("--profile", help="write cProfile stats to this file on exit")
    p.add_argument("--sql-stats", help="write each SQL statement's count and time here (convoca)")
    args = p.parse_args(argv)
    # As `convoca run` logs: INFO, without aiogram's line per update.
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("aiogram.event", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)

    if args.kind == "echo":
        def coro():
            return run_echo(args.api_base, args.token)
    elif args.kind == "blast":
        def coro():
            return run_blast(args.api_base, args.token, args.first_chat, args.count,
                             args.concurrency)
    else:
        per_second = None if args.per_second.lower() == "none" else float(args.per_second)

        def coro():
            return run_convoca(args.api_base, args.token, args.db, per_second,
                               not args.no_poll, args.sql_stats)

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
