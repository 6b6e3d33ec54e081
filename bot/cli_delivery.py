"""`convoca delivery ...` and `convoca export ...`: delivery days and the verificadores from the
command line, for scripting. They call the same code as the team's panel in chat."""

from __future__ import annotations

import argparse
import re
from datetime import time
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from bot import cli_words
from bot.cli_meetings import typed_date
from bot.commands import CommandError, the_program, write_file
from documents import exports, progress
from locales import LOCALES, Msg, Raw
from services.dates import parse_time
from services.delivery import (
    cancel_day,
    day_summary,
    move_error,
    proxy_rut,
    refusal,
    status_label,
    window_of,
)
from services.pickups import move_day, move_family
from storage import delivery, people, pickups
from storage.delivery import DayPlan, DeliveryError
from storage.models import DeliveryDay, Meeting, Pickup, PickupMode, PickupStatus, Program

if TYPE_CHECKING:
    from bot.app import App

COMMANDS = ("delivery", "export")


def _time(text: str) -> time:
    at = parse_time(text)
    if at is None:
        raise argparse.ArgumentTypeError(cli_words.say("cli.arg.bad_time", value=text))
    return at


def _every(text: str) -> int:
    match = re.fullmatch(r"([1-8])w", text.strip().lower())
    if not match:
        raise argparse.ArgumentTypeError(cli_words.say("cli.arg.bad_every", value=text))
    return int(match[1])


def _target(text: str) -> str:
    if text == "all" or (text.startswith("sector=") and len(text) > len("sector=")):
        return text
    raise argparse.ArgumentTypeError(cli_words.say("cli.arg.bad_assign", value=text))


def register(sub: argparse._SubParsersAction) -> None:
    # Help texts are catalog keys (cli.po), translated by bot.cli_words.localize.
    d = sub.add_parser("delivery", help="cli.help.delivery")
    dsub = d.add_subparsers(dest="delivery_command", required=True)
    add = dsub.add_parser("add", help="cli.help.delivery_add")
    add.add_argument("--date", required=True, help="cli.help.opt_date")
    add.add_argument("--from", dest="start", required=True, type=_time, help="cli.help.opt_from")
    add.add_argument("--to", dest="end", required=True, type=_time, help="cli.help.opt_to")
    add.add_argument("--place", help="cli.help.opt_pickup_place")
    add.add_argument("--address", help="cli.help.opt_address")
    add.add_argument("--mode", choices=[str(m) for m in PickupMode], default=PickupMode.RETIRO,
                     help="cli.help.opt_mode")
    add.add_argument("--every", type=_every, help="cli.help.opt_every")
    add.add_argument("--count", type=int, help="cli.help.opt_days_count")
    add.add_argument("--until", help="cli.help.opt_until")
    add.add_argument("--assign", type=_target, help="cli.help.opt_assign")
    add.add_argument("--program", type=int, help="cli.help.opt_program")
    lst = dsub.add_parser("list", help="cli.help.delivery_list")
    lst.add_argument("--all", action="store_true", help="cli.help.opt_all_days")
    lst.add_argument("--program", type=int, help="cli.help.opt_program")
    day = dsub.add_parser("day", help="cli.help.delivery_day")
    day.add_argument("day_id", type=int, help="cli.help.opt_day_id")
    day.add_argument("--locale", choices=LOCALES, help="cli.help.opt_locale")
    cancel = dsub.add_parser("cancel", help="cli.help.delivery_cancel")
    cancel.add_argument("day_id", type=int, help="cli.help.opt_day_id")
    rs = dsub.add_parser("reschedule", help="cli.help.delivery_reschedule")
    rs.add_argument("day_id", type=int, help="cli.help.opt_day_id")
    rs.add_argument("--date", required=True, help="cli.help.opt_date")
    rs.add_argument("--from", dest="start", required=True, type=_time, help="cli.help.opt_from")
    rs.add_argument("--to", dest="end", required=True, type=_time, help="cli.help.opt_to")
    mv = dsub.add_parser("move", help="cli.help.delivery_move")
    mv.add_argument("day_id", type=int, help="cli.help.opt_move_from_day")
    mv.add_argument("--family", required=True, help="cli.help.opt_move_family")
    mv.add_argument("--to", dest="to_day", required=True, type=int, help="cli.help.opt_move_to_day")
    pol = dsub.add_parser("policy", help="cli.help.delivery_policy")
    pol.add_argument("policy", nargs="?", choices=list(delivery.POLICIES),
                     help="cli.help.opt_policy")
    pol.add_argument("--program", type=int, help="cli.help.opt_program")

    e = sub.add_parser("export", help="cli.help.export")
    esub = e.add_subparsers(dest="export_command", required=True)
    att = esub.add_parser("attendance", help="cli.help.export_attendance")
    att.add_argument("meeting_id", type=int, help="cli.help.opt_meeting_id")
    att.add_argument("--format", choices=["pdf", "xlsx", "csv"], default="pdf",
                     help="cli.help.opt_format")
    att.add_argument("--out", required=True, type=Path, help="cli.help.opt_out")
    fichas = esub.add_parser("fichas", help="cli.help.export_fichas")
    fichas.add_argument("--out", dest="folder", required=True, type=Path,
                        help="cli.help.opt_out_folder")
    fichas.add_argument("--program", type=int, help="cli.help.opt_program")
    orgs = esub.add_parser("organizations", help="cli.help.export_organizations")
    orgs.add_argument("--format", choices=["xlsx", "csv", "pdf"], default="xlsx",
                      help="cli.help.opt_format")
    orgs.add_argument("--out", required=True, type=Path, help="cli.help.opt_out")
    orgs.add_argument("--program", type=int, help="cli.help.opt_program")
    dd = esub.add_parser("delivery", help="cli.help.export_delivery")
    dd.add_argument("day_id", type=int, help="cli.help.opt_day_id")
    dd.add_argument("--format", choices=["pdf", "xlsx", "csv"], default="pdf",
                    help="cli.help.opt_format")
    dd.add_argument("--out", required=True, type=Path, help="cli.help.opt_out")
    pr = esub.add_parser("progress", help="cli.help.export_progress")
    pr.add_argument("--format", choices=["pdf", "xlsx"], default="pdf",
                    help="cli.help.opt_format")
    pr.add_argument("--out", required=True, type=Path, help="cli.help.opt_out")
    pr.add_argument("--chart", type=Path, help="cli.help.opt_chart")
    pr.add_argument("--until", help="cli.help.opt_progress_until")
    pr.add_argument("--month", type=int, help="progress.cli.opt_month")
    pr.add_argument("--comment", action="append", default=[],
                    help="progress.cli.opt_comment")
    pr.add_argument("--program", type=int, help="cli.help.opt_program")
    for p in (att, fichas, orgs, dd, pr):
        p.add_argument("--locale", choices=LOCALES, help="cli.help.opt_document_locale")


async def run(app: App, args: argparse.Namespace) -> int | None:
    if getattr(args, "command", None) == "delivery":
        return await _delivery(app, args)
    if getattr(args, "command", None) == "export":
        return await _export(app, args)
    return None


def _say(app: App, key: str, **params: object) -> None:
    print(app.catalogs.text(None, key, **params))


# --- delivery ---------------------------------------------------------------------------------


async def _delivery(app: App, args: argparse.Namespace) -> int:
    cmd = args.delivery_command
    if cmd == "add":
        return await _add(app, args)
    if cmd == "list":
        return await _list(app, args)
    if cmd == "day":
        return await _day(app, args)
    if cmd == "cancel":
        return await _cancel(app, args)
    if cmd == "move":
        return await _move(app, args)
    if cmd == "reschedule":
        return await _reschedule(app, args)
    return await _policy(app, args)


async def _add(app: App, args: argparse.Namespace) -> int:
    cat = app.catalogs
    if args.every and args.count is None and args.until is None:
        raise CommandError(cat.text(None, "cli_delivery.every_needs_end"))
    now = app.clock.now()
    async with app.sessions() as s:
        program = await the_program(s, app.catalogs, args.program)
        try:
            until = typed_date(app, args.until, program) if args.until else None
            dates = delivery.repeat_dates(typed_date(app, args.date, program), args.every or 0,
                                          args.count, until)
            plan = DayPlan(mode=args.mode, dates=tuple(dates), start=args.start, end=args.end,
                           place=args.place, address=args.address)
            days = await delivery.create_days(s, program, plan, now)
            assigned = None
            if args.assign:
                families = await delivery.families_by_target(s, program.id, args.mode,
                                                             args.assign)
                assigned = await delivery.assign(s, days, [f.id for f in families])
        except DeliveryError as exc:
            raise CommandError(cat.text(None, "cli_delivery.refused",
                                        reason=refusal(exc.code))) from None
        ids = [d.id for d in days]
        people.audit(s, now, "delivery_days_created", actor_id=None, channel="cli",
                     entity="delivery_day", entity_id=ids[0], ids=ids, mode=args.mode)
        if assigned is not None:
            people.audit(s, now, "families_assigned", actor_id=None, channel="cli",
                         entity="delivery_day", entity_id=ids[0], days=ids, how=args.assign,
                         families=assigned.families, added=assigned.added)
        await s.commit()
        _say(app, "cli_delivery.created", count=len(days), ids=", ".join(map(str, ids)))
        if assigned is not None:
            _say(app, "cli_delivery.assigned", count=assigned.families, added=assigned.added,
                 unlinked=assigned.unlinked)
    return 0


async def _list(app: App, args: argparse.Namespace) -> int:
    cat = app.catalogs
    now = app.clock.now()
    async with app.sessions() as s:
        program = await the_program(s, app.catalogs, args.program)
        days = (await delivery.all_days(s, program.id) if args.all
                else await delivery.days_from(s, program.id, now))
        if not days:
            _say(app, "cli_delivery.no_days")
            return 0
        for d in days:
            key = "cli_delivery.day_line_cancelled" if d.cancelled_at else "cli_delivery.day_line"
            line = Msg(key, {
                "id": str(d.id), "window": window_of(d), "place": Raw(_place(d)),
                "mode": Msg(f"cli_delivery.mode_{d.mode}"),
                "families": await delivery.families_on(s, d.id),
            })
            print(cat.render(line, None, program.timezone))
    return 0


def _place(day: DeliveryDay) -> str:
    return ", ".join(p for p in (day.place, day.address) if p) or "—"


async def _day(app: App, args: argparse.Namespace) -> int:
    cat = app.catalogs
    loc = args.locale
    async with app.sessions() as s:
        day = await _get_day(app, s, args.day_id)
        program = await s.get(Program, day.program_id)
        tz = program.timezone if program else app.settings.timezone
        rows = await pickups.day_list(s, day.id, app.clock.now())
        print(cat.render(day_summary(day, pickups.counts_of(rows), len(rows)), loc, tz))
        if day.cancelled_at is not None:
            print(cat.text(loc, "adm_daylist.cancelled"))
        print()
        for n, r in enumerate(rows, start=1):
            extra = []
            if r.proxy_name:
                key = "cli_delivery.row_proxy_done" if r.status == PickupStatus.PICKED_UP \
                    else "cli_delivery.row_proxy"
                extra.append(Msg(key, {"name": Raw(r.proxy_name),
                                       "rut": proxy_rut(r.proxy_rut, r.status)}))
            if r.moved_to is not None:
                extra.append(Msg("cli_delivery.row_moved", {"window": window_of(r.moved_to)}))
            if r.reason:
                extra.append(Msg("cli_delivery.row_reason", {"reason": Raw(r.reason)}))
            print(cat.render(Msg("cli_delivery.day_row", {
                "n": str(n), "name": Raw(r.family_name), "status": status_label(r.status),
                "extra": Raw("".join(cat.render(m, loc, tz) for m in extra))}), loc, tz))
    return 0


async def _family_on(app: App, session: AsyncSession, day: DeliveryDay, query: str) -> Pickup:
    """The family as the team names it: its number on the day list, or words of its name."""
    rows = await pickups.day_list(session, day.id, app.clock.now())
    query = query.strip()
    if query.isdigit() and 1 <= int(query) <= len(rows):
        found = [rows[int(query) - 1]]
    else:
        found = [r for r in rows if delivery.matches(r.family_name, query)]
    cat = app.catalogs
    if not found:
        raise CommandError(cat.text(None, "cli_delivery.no_family", id=str(day.id), query=query))
    if len(found) > 1:
        raise CommandError(cat.text(None, "cli_delivery.family_ambiguous", id=str(day.id),
                                    query=query, names=", ".join(r.family_name for r in found)))
    pickup = await session.get(Pickup, found[0].pickup_id)
    assert pickup is not None
    return pickup


async def _move(app: App, args: argparse.Namespace) -> int:
    cat = app.catalogs
    now = app.clock.now()
    async with app.sessions() as s:
        day = await _get_day(app, s, args.day_id)
        to_day = await _get_day(app, s, args.to_day)
        program = await s.get(Program, day.program_id)
        tz = program.timezone if program else app.settings.timezone
        pickup = await _family_on(app, s, day, args.family)
        rows = {r.pickup_id: r for r in await pickups.day_list(s, day.id, now)}
        family = rows[pickup.id].family_name
        try:
            moved = await move_family(s, pickup, to_day, now, by_family=False)
        except DeliveryError as exc:
            raise CommandError(cat.render(Msg("cli_delivery.move_refused", {
                "family": Raw(family), "reason": move_error(exc.code)}), None, tz)) from None
        people.audit(s, now, "pickup_moved", actor_id=None, channel="cli", entity="pickup",
                     entity_id=pickup.id, to_pickup=moved.pickup.id, to_day=to_day.id,
                     by="team", family_told=moved.family_told)
        await s.commit()
        key = "cli_delivery.moved" if moved.family_told else "cli_delivery.moved_untold"
        print(cat.render(Msg(key, {"family": Raw(family), "id": str(to_day.id),
                                   "window": window_of(to_day)}), None, tz))
    return 0


async def _reschedule(app: App, args: argparse.Namespace) -> int:
    """The whole day to another date or hours; the families that had the date hear it."""
    now = app.clock.now()
    async with app.sessions() as s:
        day = await _get_day(app, s, args.day_id)
        program = await s.get(Program, day.program_id)
        assert program is not None  # the foreign key guarantees it
        old = (day.window_start, day.window_end)
        try:
            start, end = delivery.local_window(program.timezone,
                                               typed_date(app, args.date, program),
                                               args.start, args.end)
            queued = len(await move_day(s, day, start, end, now))
        except DeliveryError as exc:
            raise CommandError(app.catalogs.text(None, "cli_delivery.refused",
                                                 reason=refusal(exc.code))) from None
        people.audit(s, now, "delivery_day_moved", actor_id=None, channel="cli",
                     entity="delivery_day", entity_id=day.id, old_start=old[0].isoformat(),
                     old_end=old[1].isoformat(), start=start.isoformat(),
                     end=end.isoformat(), notified=queued)
        await s.commit()
        print(app.catalogs.render(Msg("cli_delivery.rescheduled", {
            "id": str(day.id), "window": window_of(day), "count": queued}),
            None, program.timezone))
    return 0


async def _get_day(app: App, session: AsyncSession, day_id: int) -> DeliveryDay:
    day = await session.get(DeliveryDay, day_id)
    if day is None:
        raise CommandError(app.catalogs.text(None, "cli_delivery.no_day", id=str(day_id)))
    return day


async def _cancel(app: App, args: argparse.Namespace) -> int:
    now = app.clock.now()
    async with app.sessions() as s:
        day = await _get_day(app, s, args.day_id)
        try:
            queued = len(await cancel_day(s, day, now))
        except DeliveryError as exc:
            raise CommandError(app.catalogs.text(None, "cli_delivery.refused",
                                                 reason=refusal(exc.code))) from None
        people.audit(s, now, "delivery_day_cancelled", actor_id=None, channel="cli",
                     entity="delivery_day", entity_id=day.id, notified=queued)
        await s.commit()
    _say(app, "cli_delivery.cancelled", id=str(args.day_id), count=queued)
    return 0


async def _policy(app: App, args: argparse.Namespace) -> int:
    now = app.clock.now()
    async with app.sessions() as s:
        program = await the_program(s, app.catalogs, args.program)
        if args.policy:
            before = delivery.pickup_policy(program)
            if delivery.set_pickup_policy(program, args.policy):
                people.audit(s, now, "pickup_policy_set", actor_id=None, channel="cli",
                             entity="program", entity_id=program.id, policy=args.policy,
                             before=before)
            await s.commit()
        _say(app, "cli_delivery.policy",
             policy=Msg(f"cli_delivery.policy_{delivery.pickup_policy(program)}"))
    return 0


# --- exports ----------------------------------------------------------------------------------


def _write(app: App, path: Path, file: exports.ExportFile) -> None:
    write_file(app.catalogs, path, file.content)
    _say(app, "cli_delivery.wrote", path=str(path), size=len(file.content))


async def _export(app: App, args: argparse.Namespace) -> int:
    cmd = args.export_command
    now = app.clock.now()
    kw = dict(now=now, locale=args.locale or app.settings.default_locale,
              catalogs=app.catalogs)
    async with app.sessions() as s:
        if cmd == "attendance":
            meeting = await s.get(Meeting, args.meeting_id)
            if meeting is None:
                raise CommandError(app.catalogs.text(None, "cli_delivery.no_meeting",
                                                     id=str(args.meeting_id)))
            _write(app, args.out, await exports.attendance_list(s, meeting.id, args.format, **kw))
        elif cmd == "delivery":
            day = await _get_day(app, s, args.day_id)
            _write(app, args.out, await exports.delivery_day_list(s, day.id, args.format, **kw))
        elif cmd == "fichas":
            program = await the_program(s, app.catalogs, args.program)
            files = await exports.ficha_pdfs(s, program.id, **kw)
            files.append(await exports.fichas_xlsx(s, program.id, **kw))
            for f in files:
                _write(app, args.folder / f.filename, f)
        elif cmd == "organizations":
            program = await the_program(s, app.catalogs, args.program)
            _write(app, args.out, await exports.invited_organizations(
                s, program.id, args.format, **kw))
        else:
            program = await the_program(s, app.catalogs, args.program)
            # One cut-off for every figure, the chart included: the end of the report's
            # programme month, or the day given.
            if args.month is not None:
                try:
                    kw["until"] = progress.report_cut_off(program, args.month)
                except ValueError:
                    raise CommandError(app.catalogs.text(
                        None, "progress.cli.bad_month", month=str(args.month))) from None
            else:
                kw["until"] = typed_date(app, args.until, program) if args.until else None
            comments = dict(c.split("=", 1) for c in args.comment if "=" in c)
            _write(app, args.out, await progress.progress_report(
                s, program.id, args.format, **kw, month=args.month, comments=comments))
            if args.chart:
                _write(app, args.chart, await progress.progress_chart(s, program.id, **kw))
    return 0
