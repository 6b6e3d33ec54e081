"""The command line's actions. Each builds what it needs and closes it again."""

from __future__ import annotations

import argparse
import asyncio
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from bot.app import (
    App,
    StartupError,
    build_app,
    console_look,
    is_sqlite,
    load_templates,
    run_channels,
    run_until_signalled,
    start_delivery,
)
from bot.config import Settings
from domain.program_templates import TemplateError
from locales import Catalogs, Day, Msg, Raw
from locales.collation import sort_key
from storage import db, outbox, people, programs
from storage.models import ADMIN_LIST, ChannelAddress, Person, Program, Role

if TYPE_CHECKING:
    from bot.console import Look

log = logging.getLogger("convoca")


class CommandError(Exception):
    pass


def run(settings: Settings, catalogs: Catalogs, *, demo: bool = False,
        channel: str | None = None) -> int:
    """``channel``: how the console shows messages (the demo, or Convoca without a token)."""
    if channel and not demo and settings.token:
        raise CommandError(catalogs.text(None, "cli.channel_console_only"))

    async def main() -> None:
        try:
            if demo:
                from bot.demo import run_demo

                await run_demo(settings, catalogs=catalogs, channel=channel)
                return
            app = await build_app(settings, catalogs=catalogs)
        except StartupError as exc:
            raise CommandError(catalogs.render(exc.message, None)) from None
        try:
            if settings.token or settings.whatsapp_enabled:
                try:
                    await run_channels(app)
                except StartupError as exc:
                    raise CommandError(catalogs.render(exc.message, None)) from None
            else:
                await run_console(app, channel=channel)
        finally:
            await app.close()

    return run_until_signalled(main)


def worker(settings: Settings, catalogs: Catalogs) -> int:
    if not settings.token and not settings.whatsapp_enabled:
        raise CommandError(catalogs.text(None, "cli.worker_needs_token"))

    async def main() -> None:
        try:
            app = await build_app(settings, catalogs=catalogs)
        except StartupError as exc:
            raise CommandError(catalogs.render(exc.message, None)) from None
        try:
            await run_channels(app, poll=False)
        finally:
            await app.close()

    return run_until_signalled(main)


async def run_console(app: App, *, stdin=None, out=None, channel: str | None = None) -> None:
    from bot.console import ConsoleChannel, ConsoleSession

    console = ConsoleChannel(app.catalogs, app.services.buttons, app.settings.timezone, out,
                             look=console_look_of(app, channel))
    delivery = await start_delivery(app, [console])
    dispatcher = delivery.outbox
    server = await start_panel(app, dispatcher)
    try:
        session = ConsoleSession(
            app.core, console, dispatcher.deliver_now, dispatcher.drain, app.clock,
            app.settings.default_locale,
        )
        where = app.settings.database_url.split("///")[-1] if is_sqlite(
            app.settings.database_url) else "PostgreSQL"
        session.say("console.banner_whatsapp" if console.look else "console.banner",
                    database=where)
        log.info("console on %s", where)
        if server is not None:
            session.say("console.panel", url=Raw(app.settings.panel_url + "/web/"))
        await session.loop(stdin)
    finally:
        if server is not None:
            await server.stop()
        await delivery.stop()


async def start_panel(app: App, outbox: Any) -> Any:
    """The web panel beside the console (the demo, Convoca without a token), on HTTP_LISTEN:
    the HTTP server that would take the webhooks."""
    if not app.settings.web_panel:
        return None
    from bot.app import mount_panel
    from bot.http import HttpServer

    server = HttpServer(app.settings.http_listen)
    mount_panel(app, server, outbox)
    try:
        await server.start()
    except OSError as exc:  # the port taken: the console still works
        log.error("the web panel could not listen on %s (%s)", app.settings.http_listen, exc)
        return None
    return server


def console_look_of(app: App, channel: str | None) -> Look | None:
    """The console showing messages as ``channel`` would, measuring session windows on the
    app's clock (the demo's simulated one)."""
    from bot.console import Look

    caps = console_look(channel)
    if caps is None:
        return None
    template_for = None
    if channel == "whatsapp":
        from bot.whatsapp import templates

        specs = templates.load()

        def template_for(out: Any) -> str | None:
            spec = templates.for_message(specs, out)
            return spec.name if spec is not None else None

    return Look(caps, app.sessions, app.clock, template_for)


async def dispatch(settings: Settings, catalogs: Catalogs, args: argparse.Namespace) -> int:
    if args.command == "db":
        engine = db.create_engine(settings.database_url)
        try:
            await db.upgrade(engine)
        except TemplateError as exc:
            # A migration that keeps a shipped form in each programme could not read it.
            raise CommandError(catalogs.text(None, "cli.upgrade_stopped", problems=Raw(
                "\n".join(exc.lines_in(catalogs))))) from None
        finally:
            await engine.dispose()
        print(catalogs.text(None, "cli.db_upgraded"))
        return 0
    try:
        app = await build_app(settings, catalogs=catalogs)
    except StartupError as exc:
        raise CommandError(catalogs.render(exc.message, None)) from None
    log.debug("%s on %s", args.command, app.engine.url.render_as_string(hide_password=True))
    try:
        from bot.cli import extensions

        for module in extensions():
            result = await module.run(app, args)
            if result is not None:
                return result
        handler = {
            "program": _program,
            "timeline": _timeline,
            "admin": _admin,
            "status": _status,
        }[args.command]
        return await handler(app, args)
    finally:
        await app.close()


def write_file(catalogs: Catalogs, path: Path, content: bytes) -> None:
    """A document where the operator asked for it, or a short answer why not (a folder
    that is not there, no permission), never a traceback."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    except OSError:
        raise CommandError(catalogs.text(None, "cli.cannot_write", path=str(path))) from None


async def the_program(session: AsyncSession, catalogs: Catalogs, program_id: int | None, *,
                      locale: str | None = None) -> Program:
    """The programme a command works on: the one ``--program`` names, else the only one
    there is. With several it never guesses (the newest is not the one meant more often
    than any other): it stops and lists them."""
    every = await programs.all_programs(session)
    if program_id is None and len(every) > 1:
        raise CommandError(catalogs.text(locale, "cli.which_program", programs=[
            catalogs.text(locale, "cli.program_row", id=str(p.id), name=p.name)
            for p in every]))
    if not every:
        raise CommandError(catalogs.text(locale, "cli.no_program"))
    chosen = every[0].id if program_id is None else program_id
    program = await programs.get(session, chosen)
    if program is None:
        raise CommandError(catalogs.text(locale, "cli.no_such_program", id=str(program_id)))
    return program


async def _program(app: App, args: argparse.Namespace) -> int:
    library = app.templates or load_templates(app.settings, frozenset(), app.catalogs)
    if args.program_command == "templates":
        for key in library.keys():
            print(key)
        return 0
    if args.program_command == "list":
        async with app.sessions() as s:
            for p in await programs.all_programs(s):
                print(f"{p.id}\t{p.name}\t{p.template_key}\t{p.start_date}")
        return 0
    if args.program_command == "set":
        return await _program_set(app, args)
    cat = app.catalogs
    if library.is_path(args.template):
        if not await asyncio.to_thread(Path(args.template).is_file):
            raise CommandError(cat.text(None, "cli.no_template_file", path=args.template))
    elif args.template not in library.templates:
        raise CommandError(cat.text(None, "cli.no_such_template", template=args.template,
                                    templates=", ".join(library.keys())))
    try:
        template = library.template(args.template)
        # The forms it names are kept with the programme, like the template itself.
        kept = library.forms_of(template, library.forms_beside(Path(args.template))
                                if library.is_path(args.template) else None)
        async with app.sessions() as s:
            now = app.clock.now()
            program = await programs.create(
                s, template=template, forms=kept, start=args.start, name=args.name, now=now
            )
            # The administrators ADMIN_TELEGRAM_IDS names are gestoras of every programme.
            for telegram_id in app.settings.admin_telegram_ids:
                admin = await people.by_address(s, "telegram", str(telegram_id))
                if admin is not None:
                    await people.grant(s, admin, Role.GESTORA, program.id, now,
                                       via=ADMIN_LIST)
            await s.commit()
    except TemplateError as exc:
        # Each problem names the line and field of the YAML file, as the template checker
        # words it.
        raise CommandError(cat.text(None, "cli.template_problems", template=args.template,
                                    problems=Raw("\n".join(exc.lines_in(cat))))) from None
    print(app.catalogs.text(None, "cli.program_created", id=str(program.id), name=program.name,
                            count=len(program.milestones)))
    return 0


async def _program_set(app: App, args: argparse.Namespace) -> int:
    """The programme's executing body, comuna and region, as its documents' headings show
    them; a value given empty ("") takes it away."""
    given = {key: getattr(args, key) for key in ("executor", "comuna", "region")
             if getattr(args, key) is not None}
    if not given:
        raise CommandError(app.catalogs.text(None, "docs.cli.program_set_nothing"))
    async with app.sessions() as s:
        program = await the_program(s, app.catalogs, args.program)
        settings = dict(program.settings or {})
        for key, value in given.items():
            if value.strip():
                settings[key] = " ".join(value.split())
            else:
                settings.pop(key, None)
        program.settings = settings  # a new dict: the JSON column sees the change
        await s.commit()
        shown = ", ".join(settings[k] for k in ("executor", "comuna", "region") if settings.get(k))
        print(app.catalogs.text(None, "docs.cli.program_set", name=program.name,
                                details=shown or "—"))
    return 0


async def _timeline(app: App, args: argparse.Namespace) -> int:
    from services.stages import evidence, lacks
    from storage.stages import stage_status

    loc = args.locale or app.settings.default_locale
    async with app.sessions() as s:
        program = await the_program(s, app.catalogs, args.program, locale=loc)
        today = app.clock.now().astimezone(ZoneInfo(program.timezone)).date()
        stages = await stage_status(s, program.id, today)
    cat = app.catalogs
    print(cat.text(loc, "timeline.header", name=program.name, zone=program.timezone))
    for stage in stages:
        for m in sorted(stage.milestones, key=lambda m: (m.due, m.starts)):  # read by date
            state = "timeline.done" if m.done else (
                "timeline.overdue" if m.overdue else "timeline.upcoming")
            print(cat.text(loc, "timeline.row", stage=str(m.stage), due=Day(m.due),
                           name=m.name.get(loc) or m.name.get("es", m.key),
                           state=cat.text(loc, state)))
            for line in [*evidence(m), *lacks(m)]:
                print("    " + cat.render(line, loc, program.timezone))
    return 0


async def _admin(app: App, args: argparse.Namespace) -> int:
    now = app.clock.now()
    cat = app.catalogs
    async with app.sessions() as s:
        # The role is held in one programme; with none yet, the first programme made
        # takes it.
        program = await the_program(s, cat, args.program) \
            if args.program is not None or await programs.all_programs(s) else None
        channel, address, phone = _admin_address(cat, str(args.telegram_id))
        person = await people.by_address(s, channel, address)
        if person is None:
            person = Person(created_at=now, reachable=True, name=args.name, phone=phone)
            person.addresses = [ChannelAddress(channel=channel, address=address,
                                               created_at=now)]
            person.roles = []
            s.add(person)
            await s.flush()
        added = await people.grant(s, person, Role(args.role),
                                   program.id if program else None, now)
        if added:
            people.audit(s, now, "role_granted", actor_id=None, channel="cli", entity="person",
                         entity_id=person.id, role=args.role,
                         program_id=program.id if program else None)
        await s.commit()
    role = Msg(f"adm_roles.role_{args.role}")
    if program is None:
        print(cat.text(None, "cli.admin_added_first" if added else "cli.admin_already_first",
                       id=str(args.telegram_id), role=role))
    else:
        print(cat.text(None, "cli.admin_added" if added else "cli.admin_already",
                       id=str(args.telegram_id), role=role, program=program.name))
    return 0


def _admin_address(cat: Catalogs, who: str) -> tuple[str, str, str | None]:
    """Where the new administrator writes from: a Telegram user id (digits), or a phone
    number with its country code (+56 9 …): WhatsApp, whose address is the number."""
    from domain.phones import to_e164

    who = who.strip()
    if who.isdigit():
        return "telegram", who, None
    phone = to_e164(who) if who.startswith("+") else None
    if phone is None:
        raise CommandError(cat.text(None, "cli.admin_who", who=who))
    return "whatsapp", phone.lstrip("+"), phone


async def _status(app: App, args: argparse.Namespace) -> int:
    from scheduler.planner import HORIZON, Planner

    now = app.clock.now()
    async with app.sessions() as s:
        counts = await outbox.counts(s)
        queued = await outbox.upcoming(s, 10)
        planned = sorted(await Planner(s).window(now, now + HORIZON), key=lambda n: n.fire_at)
        have = await outbox.existing_keys(s, [n.key for n in planned])
    from services.outbox import kind_name

    cat, loc, tz = app.catalogs, None, app.settings.timezone

    def kind(code: str) -> str:
        return cat.render(kind_name(code), loc)

    statuses = ["pending", "sending", "sent", "failed", "uncertain", "waiting", "dropped"]
    table: dict[str, dict[str, int]] = {}
    for (code, status), n in counts.items():
        # Kinds Convoca no longer sends share one name ("otro mensaje"): counted together.
        row = table.setdefault(kind(code), {})
        row[status] = row.get(status, 0) + n
    width = max([len(cat.text(loc, "cli.status_kind")), *map(len, table)]) + 2
    print(cat.text(loc, "cli.status_kind").ljust(width)
          + "".join(cat.text(loc, f"cli.status_{st}").rjust(11) for st in statuses))
    for name in sorted(table, key=lambda name: sort_key(name, cat.locale(loc))):
        print(name.ljust(width) + "".join(str(table[name].get(st, 0)).rjust(11)
                                          for st in statuses))
    print()
    # Each time in the zone of the programme it belongs to, as its message will show it.
    upcoming = [(row.not_before, kind(row.kind), f"{row.channel}:{row.address}",
                 (row.payload or {}).get(outbox.ZONE) or tz) for row in queued]
    upcoming += [(n.fire_at, kind(n.kind),
                  cat.text(loc, "cli.status_person", id=str(n.person_id)), n.zone or tz)
                 for n in planned if n.key not in have]
    upcoming.sort(key=lambda item: item[0])
    if not upcoming:
        print(cat.text(loc, "cli.nothing_due"))
        return 0
    print(cat.text(loc, "cli.status_next"))
    shown = [(cat.when(when, loc, zone), what, who) for when, what, who, zone in upcoming[:10]]
    wide = [max(len(row[i]) for row in shown) for i in (0, 1)]
    for when, what, who in shown:
        print(f"  {when:<{wide[0]}}  {what:<{wide[1]}}  {who}")
    return 0
