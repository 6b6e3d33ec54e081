"""`convoca`: run the bot, migrate the database, create programmes, print the timeline."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from datetime import date

from bot.config import SettingsError, load_settings

log = logging.getLogger("convoca")

DEMO_DATABASE = "sqlite+aiosqlite:///./data/demo.sqlite3"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="convoca", description=__doc__)
    p.add_argument("-v", "--verbose", action="store_true", help="log more")
    sub = p.add_subparsers(dest="command")

    run = sub.add_parser("run", help="run Convoca (Telegram with a token, else the console)")
    run.add_argument("--demo", action="store_true",
                     help="seed a demo programme in its own database and simulate the clock")

    dbp = sub.add_parser("db", help="database maintenance")
    dbsub = dbp.add_subparsers(dest="db_command", required=True)
    dbsub.add_parser("upgrade", help="apply pending migrations")

    prog = sub.add_parser("program", help="programmes")
    progsub = prog.add_subparsers(dest="program_command", required=True)
    create = progsub.add_parser("create", help="create a programme from a template")
    create.add_argument("--template", required=True)
    create.add_argument("--start", required=True, type=date.fromisoformat, help="YYYY-MM-DD")
    create.add_argument("--name", required=True)
    progsub.add_parser("templates", help="list the shipped templates")
    progsub.add_parser("list", help="list programmes")

    tl = sub.add_parser("timeline", help="print a programme's dated milestones")
    tl.add_argument("--program", type=int, help="programme id (default: the latest)")
    tl.add_argument("--locale", choices=["es", "en"])

    adm = sub.add_parser("admin", help="administrators")
    admsub = adm.add_subparsers(dest="admin_command", required=True)
    add = admsub.add_parser("add", help="make a Telegram user an administrator (gestora)")
    add.add_argument("telegram_id", type=int)
    add.add_argument("--role", default="gestora", choices=["gestora", "coordinadora"])
    add.add_argument("--program", type=int,
                     help="programme id (needed when there are several)")
    add.add_argument("--name")

    sub.add_parser("status", help="outbox counts and the next notices due")
    sub.add_parser("worker", help="only deliver the outbox and run the scheduler (no updates)")
    for module in extensions():
        module.register(sub)
    return p


def extensions() -> list:
    """The panel's tools for scripts: each module adds its subcommands and runs them."""
    from bot import cli_delivery, cli_meetings, cli_outreach

    return [cli_meetings, cli_outreach, cli_delivery]


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for noisy in ("aiogram.event", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    command = args.command or "run"
    overrides = {}
    if command == "run" and getattr(args, "demo", False):
        overrides["database_url"] = DEMO_DATABASE
    try:
        settings = load_settings(**overrides)
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        return 2
    from bot import commands

    try:
        if command == "run":
            return commands.run(settings, demo=getattr(args, "demo", False))
        if command == "worker":
            return commands.worker(settings)
        return asyncio.run(commands.dispatch(settings, args))
    except commands.CommandError as exc:
        print(f"convoca: {exc}", file=sys.stderr)
        return 1



if __name__ == "__main__":
    raise SystemExit(main())
