"""`convoca`: run the bot, migrate the database, create programmes, print the timeline."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
from datetime import date
from pathlib import Path

from bot import cli_templates, cli_words, logs
from bot.cli_words import Words
from bot.config import Settings, SettingsError, load_settings
from locales import LOCALES, Catalogs

log = logging.getLogger("convoca")

DEMO_DATABASE = "sqlite+aiosqlite:///./data/demo.sqlite3"
# How the console may show messages (bot.app.console_look): its own way, which is
# Telegram's too, or WhatsApp's.
CONSOLE_LOOKS = ("console", "telegram", "whatsapp")


def _parser() -> argparse.ArgumentParser:
    # Help texts and metavars are catalog keys, translated by cli_words.localize; a
    # subcommand's help is also its description.
    p = argparse.ArgumentParser(prog="convoca", description="cli.help.convoca")
    p.add_argument("-v", "--verbose", action="store_true", help="cli.help.verbose")
    sub = p.add_subparsers(dest="command")

    run = sub.add_parser("run", help="cli.help.run")
    run.add_argument("--demo", action="store_true", help="cli.help.run_demo")
    run.add_argument("--channel", choices=CONSOLE_LOOKS, help="cli.help.run_channel")

    dbp = sub.add_parser("db", help="cli.help.db")
    dbsub = dbp.add_subparsers(dest="db_command", required=True)
    dbsub.add_parser("upgrade", help="cli.help.db_upgrade")

    prog = sub.add_parser("program", help="cli.help.program")
    progsub = prog.add_subparsers(dest="program_command", required=True)
    create = progsub.add_parser("create", help="cli.help.program_create")
    create.add_argument("--template", required=True, help="cli.help.opt_template")
    create.add_argument("--start", required=True, type=date.fromisoformat,
                        help="cli.help.opt_start")
    create.add_argument("--name", required=True, help="cli.help.opt_program_name")
    progsub.add_parser("templates", help="cli.help.program_templates")
    progsub.add_parser("list", help="cli.help.program_list")
    # The details every verificador's heading carries (documents.base.program_details).
    pset = progsub.add_parser("set", help="cli.help.program_set")
    pset.add_argument("--program", type=int, help="cli.help.opt_program")
    pset.add_argument("--executor", help="cli.help.opt_executor")
    pset.add_argument("--comuna", help="cli.help.opt_comuna")
    pset.add_argument("--region", help="cli.help.opt_region")

    tl = sub.add_parser("timeline", help="cli.help.timeline")
    tl.add_argument("--program", type=int, help="cli.help.opt_program")
    tl.add_argument("--locale", choices=LOCALES, help="cli.help.opt_locale")

    adm = sub.add_parser("admin", help="cli.help.admin")
    admsub = adm.add_subparsers(dest="admin_command", required=True)
    add = admsub.add_parser("add", help="cli.help.admin_add")
    add.add_argument("telegram_id", metavar="ID_OR_PHONE", help="cli.help.opt_telegram_id")
    add.add_argument("--role", default="gestora", choices=["gestora", "coordinadora"],
                     help="cli.help.opt_admin_role")
    add.add_argument("--program", type=int, help="cli.help.opt_program")
    add.add_argument("--name", help="cli.help.opt_person_name")

    cli_templates.register(sub)

    sub.add_parser("status", help="cli.help.status")
    sub.add_parser("worker", help="cli.help.worker")
    for module in extensions():
        module.register(sub)
    return p


def extensions() -> list:
    """The panel's tools for scripts: each module adds its subcommands and runs them."""
    from bot import (
        cli_delivery,
        cli_families,
        cli_meetings,
        cli_outreach,
        cli_records,
        cli_whatsapp,
    )

    return [cli_meetings, cli_outreach, cli_delivery, cli_families, cli_whatsapp, cli_records]


def main(argv: list[str] | None = None) -> int:
    try:
        return _main(argv)
    except BrokenPipeError:
        return _reader_gone()


def _reader_gone() -> int:
    """`convoca timeline | head`: the reader left, which is no error. What is still buffered
    for stdout goes to /dev/null (Python would otherwise fail again flushing it at exit), and
    the status is the one a shell gives a command that SIGPIPE ended."""
    with contextlib.suppress(OSError, ValueError):
        null = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(null, sys.stdout.fileno())
        finally:
            os.close(null)  # main() may be called again in the same process (the tests)
    return 128 + signal.SIGPIPE


def _main(argv: list[str] | None) -> int:
    try:
        settings: Settings | None = load_settings()
        problem = None
    except SettingsError as exc:
        settings, problem = None, exc
    locale = cli_words.operator_locale(
        settings.default_locale if settings and "default_locale" in settings.model_fields_set
        else os.environ.get("DEFAULT_LOCALE"))
    # Loaded once: the help below and the command share them.
    catalogs = Catalogs(default=locale)
    words = Words(catalogs, locale)
    with cli_words.speaking(words):
        parser = _parser()
        cli_words.localize(parser, words)
        try:
            args = parser.parse_args(argv)
        except SystemExit:  # after --help: a reader that left shows here, not at exit
            sys.stdout.flush()
            raise
    command = args.command or "run"
    demo = command == "run" and getattr(args, "demo", False)
    if demo:  # its own database, whatever DATABASE_URL says
        try:
            settings = load_settings(database_url=DEMO_DATABASE)
        except SettingsError as exc:
            problem = exc
    if problem or settings is None:
        print(problem, file=sys.stderr)
        return 2
    server = command in ("run", "worker") and bool(settings.token) and not demo
    if command in ("run", "worker"):
        catalogs.default = settings.default_locale  # people's language, not the operator's

    def operator_line(record: logging.LogRecord) -> str:
        key = "cli.log.error" if record.levelno >= logging.ERROR else "cli.log.warning"
        return words.text(key, path=str(log_file))

    with logs.configured(verbose=args.verbose, server=server,
                         file=Path(settings.log_file) if settings.log_file else None,
                         operator_line=operator_line, secrets=settings.secrets) as log_file:
        from bot import commands

        try:
            if command == "run":
                status = commands.run(settings, catalogs, demo=demo,
                                      channel=getattr(args, "channel", None))
            elif command == "worker":
                status = commands.worker(settings, catalogs)
            elif command == "template":  # no database: a team checks its files anywhere
                status = cli_templates.validate(settings, catalogs, args.files)
            else:
                status = asyncio.run(commands.dispatch(settings, catalogs, args))
            sys.stdout.flush()  # a reader that left shows here, not at exit
            return status
        except commands.CommandError as exc:
            try:
                sys.stdout.flush()
            except BrokenPipeError:  # the reader left; the operator still reads why it failed
                _reader_gone()
            # A library's words in it may hold a token (an address in a network error).
            print(f"convoca: {logs.Redacted(settings.secrets).clean(str(exc))}",
                  file=sys.stderr)
            return 1


if __name__ == "__main__":
    raise SystemExit(main())
