"""`convoca verificadores`: which verificadores the programme's template asks for, stage by
stage, and which of them exist; with ``--out`` every one that can be made, written to a
folder (each session's attendance list, each body's acta, the plans...)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from bot.cli_meetings import typed_date
from bot.commands import the_program, write_file
from documents import verificadores
from documents.base import Ctx, slugify
from documents.exports import cut_off
from locales import LOCALES

if TYPE_CHECKING:
    from bot.app import App

COMMANDS = ("verificadores",)


def register(sub: argparse._SubParsersAction) -> None:
    v = sub.add_parser("verificadores", help="cli.help.verificadores")
    v.add_argument("--program", type=int, help="cli.help.opt_program")
    v.add_argument("--out", dest="folder", type=Path, help="cli.help.opt_verificadores_out")
    v.add_argument("--until", help="cli.help.opt_progress_until")
    v.add_argument("--stage", type=int, action="append", help="cli.help.opt_stage")
    v.add_argument("--locale", choices=LOCALES, help="cli.help.opt_document_locale")


async def run(app: App, args: argparse.Namespace) -> int | None:
    if getattr(args, "command", None) != "verificadores":
        return None
    locale = args.locale or app.settings.default_locale
    say = app.catalogs.text
    async with app.sessions() as s:
        program = await the_program(s, app.catalogs, args.program)
        until = typed_date(app, args.until, program) if args.until else None
        ctx = Ctx(app.catalogs, locale, program.timezone,
                  cut_off(program, app.clock.now(), until))
        if args.folder is None:
            stage, activity = None, None
            for r in await verificadores.required(s, program, ctx):
                if args.stage and r.stage not in args.stage:
                    continue
                if r.stage != stage:
                    stage = r.stage
                    print(say(locale, "cli_records.stage", number=str(stage or ""),
                              name=r.stage_name))
                if r.activity != activity:
                    activity = r.activity
                    print(say(locale, "cli_records.activity", name=r.activity_name))
                if r.producer is None:
                    key, state = "cli_records.row_outside", say(locale, "cli_records.outside")
                elif r.evidence:
                    key = "cli_records.row_exists"
                    state = say(locale, "cli_records.exists", count=len(r.evidence),
                                what=", ".join(e.label for e in r.evidence[:4]))
                else:
                    key, state = "cli_records.row_missing", say(locale, "cli_records.missing")
                print(say(locale, key, name=r.label, state=state))
            return 0
        made = await verificadores.make_every(s, program, ctx, stages=args.stage)
        for r, _ev, files in made:
            folder = args.folder / f"{r.stage or 0}-{slugify(r.activity, 40)}"
            for f in files:
                path = folder / f.filename
                write_file(app.catalogs, path, f.content)
                print(say(locale, "cli_delivery.wrote", path=str(path), size=len(f.content)))
        print(say(locale, "cli_records.made", count=sum(len(f) for _r, _e, f in made)))
    return 0
