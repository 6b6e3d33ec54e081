"""`convoca role|meeting|attendance ...`: the panel's roles and meetings tools for scripts.

They call the same functions as the chat (storage.admin_meetings and
services.meetings), so a meeting made here is invited, moved, cancelled and counted
exactly like one made in /panel. Actions are recorded in the audit log with channel "cli"."""

from __future__ import annotations

import argparse
from datetime import date, time
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot import cli_words
from bot.app import App
from bot.commands import CommandError, the_program
from domain import schedule
from domain.meetings import INVITE_MEMBERS, INVITE_TARGETS, MeetingError
from domain.roles import GRANTABLE, RoleError
from locales import Msg, When
from services import dates, meetings
from services.dates import parse_time
from storage import admin_meetings as data
from storage import people, programs
from storage.models import Meeting, Program

COMMANDS = ("role", "meeting", "attendance")


def _time(text: str) -> time:
    at = parse_time(text)
    if at is None:
        raise argparse.ArgumentTypeError(cli_words.say("cli.arg.bad_time", value=text))
    return at


def typed_date(app: App, text: str, program: Program) -> date:
    """A --date as people write it ("2026-12-17", "17-12", "martes 17", "mañana"), read
    against today in the programme's zone by the app's clock."""
    today = schedule.local_date(app.clock.now(), program.timezone)
    try:
        return dates.parse_date(text, today)
    except dates.DateProblem as problem:
        raise CommandError(app.catalogs.render(dates.date_problem(problem), None,
                                               program.timezone)) from None


def register(sub: argparse._SubParsersAction) -> None:
    # Help texts are catalog keys (cli.po), translated by bot.cli_words.localize.
    role = sub.add_parser("role", help="cli.help.role")
    rsub = role.add_subparsers(dest="role_command", required=True)
    for verb in ("grant", "revoke"):
        p = rsub.add_parser(verb, help=f"cli.help.role_{verb}")
        p.add_argument("person_id", type=int, help="cli.help.opt_person_id")
        p.add_argument("role", choices=[str(r) for r in GRANTABLE],
                       help="cli.help.opt_role")
        p.add_argument("--program", type=int, help="cli.help.opt_program")
    p = rsub.add_parser("list", help="cli.help.role_list")
    p.add_argument("--program", type=int, help="cli.help.opt_program")

    meeting = sub.add_parser("meeting", help="cli.help.meeting")
    msub = meeting.add_subparsers(dest="meeting_command", required=True)
    c = msub.add_parser("create", help="cli.help.meeting_create")
    c.add_argument("--body", default="none", help="cli.help.opt_body")
    c.add_argument("--kind", required=True, help="cli.help.opt_kind")
    c.add_argument("--date", required=True, help="cli.help.opt_date")
    c.add_argument("--time", required=True, type=_time, help="cli.help.opt_time")
    c.add_argument("--place", help="cli.help.opt_place")
    c.add_argument("--agenda", help="cli.help.opt_agenda")
    c.add_argument("--invite", choices=INVITE_TARGETS, help="cli.help.opt_invite")
    c.add_argument("--repeat", action="store_true", help="cli.help.opt_repeat")
    c.add_argument("--count", type=int, default=schedule.MAX_SERIES_MEETINGS,
                   help="cli.help.opt_series_count")
    c.add_argument("--program", type=int, help="cli.help.opt_program")
    p = msub.add_parser("list", help="cli.help.meeting_list")
    p.add_argument("--program", type=int, help="cli.help.opt_program")
    p = msub.add_parser("move", help="cli.help.meeting_move")
    p.add_argument("meeting_id", type=int, help="cli.help.opt_meeting_id")
    p.add_argument("--date", help="cli.help.opt_date")
    p.add_argument("--time", type=_time, help="cli.help.opt_time")
    p = msub.add_parser("cancel", help="cli.help.meeting_cancel")
    p.add_argument("meeting_id", type=int, help="cli.help.opt_meeting_id")
    p.add_argument("--reason", help="cli.help.opt_reason")
    p = msub.add_parser("board", help="cli.help.meeting_board")
    p.add_argument("meeting_id", type=int, help="cli.help.opt_meeting_id")
    p = msub.add_parser("invite", help="cli.help.meeting_invite")
    p.add_argument("meeting_id", type=int, help="cli.help.opt_meeting_id")
    p.add_argument("--to", choices=INVITE_TARGETS, default=INVITE_MEMBERS,
                   help="cli.help.opt_invite_to")
    p = msub.add_parser("reask", help="cli.help.meeting_reask")
    p.add_argument("meeting_id", type=int, help="cli.help.opt_meeting_id")
    p = msub.add_parser("close", help="cli.help.meeting_close")
    p.add_argument("meeting_id", type=int, help="cli.help.opt_meeting_id")

    att = sub.add_parser("attendance", help="cli.help.attendance")
    asub = att.add_subparsers(dest="attendance_command", required=True)
    p = asub.add_parser("show", help="cli.help.attendance_show")
    p.add_argument("meeting_id", type=int, help="cli.help.opt_meeting_id")
    p = asub.add_parser("mark", help="cli.help.attendance_mark")
    p.add_argument("meeting_id", type=int, help="cli.help.opt_meeting_id")
    p.add_argument("person_id", type=int, help="cli.help.opt_person_id")
    # confirm / reject: only for someone who checked in alone without an invitation.
    p.add_argument("mark", choices=["present", "absent", "confirm", "reject"],
                   help="cli.help.opt_mark")
    p = asub.add_parser("add-guest", help="cli.help.attendance_add_guest")
    p.add_argument("meeting_id", type=int, help="cli.help.opt_meeting_id")
    p.add_argument("--name", required=True, help="cli.help.opt_guest_name")
    p.add_argument("--rut", help="cli.help.opt_guest_rut")
    p.add_argument("--organization", help="cli.help.opt_guest_organization")
    p.add_argument("--phone", help="cli.help.opt_guest_phone")
    p = asub.add_parser("remove-guest", help="cli.help.attendance_remove_guest")
    p.add_argument("meeting_id", type=int, help="cli.help.opt_meeting_id")
    p.add_argument("guest_id", type=int, help="cli.help.opt_guest_id")
    p = asub.add_parser("rates", help="cli.help.attendance_rates")
    p.add_argument("--program", type=int, help="cli.help.opt_program")


async def run(app: App, args: argparse.Namespace) -> int | None:
    if getattr(args, "command", None) not in COMMANDS:
        return None
    cli = _Cli(app)
    async with app.sessions() as s:
        try:
            if args.command == "role":
                await cli.role(s, args)
            elif args.command == "meeting":
                await cli.meeting(s, args)
            else:
                await cli.attendance(s, args)
        except MeetingError as exc:
            raise CommandError(cli.t(f"adm_meet.err_{exc.code}")) from None
        except RoleError as exc:
            raise CommandError(cli.t(f"cli_meet.role_error_{exc.code}")) from None
        await s.commit()
    return 0


class _Cli:
    def __init__(self, app: App) -> None:
        self.app = app
        self.now = app.clock.now()
        self.zone: str | None = None  # the programme's, once it is known

    def t(self, key: str, **params: Any) -> str:
        return self.app.catalogs.render(Msg(key, params), None, self.zone)

    def say(self, key: str, **params: Any) -> None:
        print(self.t(key, **params))

    def audit(self, s: AsyncSession, what: str, entity: str, entity_id: int, **details: Any
              ) -> None:
        people.audit(s, self.now, what, actor_id=None, channel="cli", entity=entity,
                     entity_id=entity_id, **details)

    async def program(self, s: AsyncSession, program_id: int | None) -> Program:
        program = await the_program(s, self.app.catalogs, program_id)
        self.zone = program.timezone
        return program

    async def meeting_of(self, s: AsyncSession, meeting_id: int) -> tuple[Meeting, Program]:
        meeting = await s.get(Meeting, meeting_id)
        if meeting is None:
            raise CommandError(self.t("cli_meet.no_meeting", id=str(meeting_id)))
        program = await programs.get(s, meeting.program_id)
        assert program is not None
        self.zone = program.timezone
        return meeting, program

    # roles ----------------------------------------------------------------------------------

    async def role(self, s: AsyncSession, args: argparse.Namespace) -> None:
        program = await self.program(s, args.program)
        if args.role_command == "list":
            for person, roles in await data.people_with_roles(s, program.id):
                names = ", ".join(self.t(f"adm_roles.role_{r}") for r in roles)
                print(f"{person.id}\t{person.name or ''}\t{names}")
            return
        person = await data.person_with_roles(s, args.person_id)
        if person is None:
            raise CommandError(self.t("cli_meet.no_person", id=str(args.person_id)))
        role_name = self.t(f"adm_roles.role_{args.role}")
        if args.role_command == "grant":
            changed = await data.grant_role(s, person, args.role, program, self.now)
            key = "cli_meet.role_granted" if changed else "cli_meet.role_already"
            what = "role_granted"
        else:
            changed = await data.revoke_role(s, person, args.role, program, self.now)
            key = "cli_meet.role_revoked" if changed else "cli_meet.role_not_held"
            what = "role_revoked"
        if changed:
            self.audit(s, what, "person", person.id, role=args.role, program_id=program.id)
        self.say(key, id=str(person.id), role=role_name)

    # meetings -------------------------------------------------------------------------------

    async def meeting(self, s: AsyncSession, args: argparse.Namespace) -> None:
        verb = args.meeting_command
        if verb == "create":
            await self.create(s, args)
            return
        if verb == "list":
            program = await self.program(s, args.program)
            for m in await data.all_meetings(s, program.id):
                kind_name, _ = await meetings.names(s, m)
                board = await data.board(s, m)
                self.say("cli_meet.meeting_row", id=str(m.id), when=When(m.starts_at),
                         status=Msg(f"cli_meet.status_{m.status}"),
                         what=meetings.what_named(m, kind_name), yes=len(board.yes),
                         count=len(board.invited))
            return
        meeting, program = await self.meeting_of(s, args.meeting_id)
        if verb == "board":
            print(self.app.catalogs.render(await meetings.board_text(s, meeting), None, self.zone))
        elif verb == "move":
            tz = program.timezone
            day = typed_date(self.app, args.date, program) if args.date \
                else schedule.local_date(meeting.starts_at, tz)
            at = args.time or schedule.local_time(meeting.starts_at, tz)
            old = meeting.starts_at
            invited, queued, _ = await meetings.move_and_notify(
                s, meeting, schedule.to_utc(day, at, tz), self.now)
            self.audit(s, "meeting_moved", "meeting", meeting.id, old=old.isoformat(),
                       new=meeting.starts_at.isoformat(), revision=meeting.revision,
                       invited=invited, queued=queued)
            self.say("cli_meet.moved", id=str(meeting.id), when=When(meeting.starts_at),
                     count=invited, sent=queued)
        elif verb == "cancel":
            invited, queued, _ = await meetings.cancel_and_notify(s, meeting, args.reason,
                                                                  self.now)
            self.audit(s, "meeting_cancelled", "meeting", meeting.id, invited=invited,
                       queued=queued, reason_length=len(args.reason or ""))
            self.say("cli_meet.cancelled", id=str(meeting.id), count=invited, sent=queued)
        elif verb == "invite":
            await self.invite(s, program, meeting, args.to)
        elif verb == "reask":
            asked, queued, _ = await meetings.reask(s, meeting, self.now)
            self.audit(s, "meeting_reasked", "meeting", meeting.id, asked=asked, queued=queued)
            self.say("cli_meet.reasked", id=str(meeting.id), count=asked,
                     resent=Msg("cli_meet.resent", {"count": queued}))
        elif verb == "close":
            await data.close(s, meeting, self.now)
            tally = (await data.board(s, meeting)).tally
            self.audit(s, "meeting_closed", "meeting", meeting.id,
                       present=tally.present_invited, invited=tally.invited,
                       walk_ins=tally.walk_ins)
            self.say("cli_meet.closed", id=str(meeting.id), tally=meetings.tally_text(tally))

    async def create(self, s: AsyncSession, args: argparse.Namespace) -> None:
        program = await self.program(s, args.program)
        body = await data.body_of(s, program.id, args.body)
        starts = schedule.to_utc(typed_date(self.app, args.date, program), args.time,
                                 program.timezone)
        if args.repeat and (body is None or not body.cadence_months):
            raise CommandError(self.t("cli_meet.repeat_needs_body"))
        made = await meetings.create(
            s, program, kind=args.kind, starts_at=starts, now=self.now, body=body,
            place=args.place, agenda=args.agenda, repeat=args.repeat, limit=max(1, args.count))
        meeting, created = made.meeting, made.meetings
        if made.series is not None:
            self.audit(s, "meeting_series_created", "meeting_series", made.series.id,
                       every_months=made.series.every_months, meetings=[m.id for m in created])
        self.audit(s, "meeting_created", "meeting", meeting.id, kind=meeting.kind,
                   body_id=meeting.body_id, starts_at=meeting.starts_at.isoformat(),
                   series_id=meeting.series_id)
        kind_name, _ = await meetings.names(s, meeting)
        for m in created:
            self.say("cli_meet.created", id=str(m.id), what=meetings.what_named(m, kind_name),
                     when=When(m.starts_at), code=m.checkin_code or "")
        if args.invite:
            await self.invite(s, program, meeting, args.invite)

    async def invite(self, s: AsyncSession, program: Program, meeting: Meeting, target: str
                     ) -> None:
        invited, queued, later, _ = await meetings.invite_now(s, program, meeting, target,
                                                             self.now)
        self.audit(s, "meeting_invited", "meeting", meeting.id, target=target, invited=invited,
                   queued=queued, series_queued=later)
        self.say("cli_meet.invited", id=str(meeting.id), count=invited,
                 queued=Msg("cli_meet.queued", {"count": queued}))

    # attendance -----------------------------------------------------------------------------

    async def attendance(self, s: AsyncSession, args: argparse.Namespace) -> None:
        if args.attendance_command == "rates":
            program = await self.program(s, args.program)
            print(self.app.catalogs.render(await meetings.rates_text(s, program), None, self.zone))
            return
        meeting, _ = await self.meeting_of(s, args.meeting_id)
        verb = args.attendance_command
        if verb == "show":
            await self.show_attendance(s, meeting)
            return
        if verb == "add-guest":
            guest = await data.add_guest(s, meeting, name=args.name, rut=args.rut,
                                         organization=args.organization, phone=args.phone,
                                         now=self.now)
            self.audit(s, "attendance_guest_added", "meeting", meeting.id, guest_id=guest.id,
                       rut=guest.rut is not None, phone=guest.phone is not None)
            self.say("cli_meet.guest_added", name=guest.name, meeting=str(meeting.id),
                     guest=str(guest.id))
        elif getattr(args, "mark", None) in ("confirm", "reject"):
            confirmed = args.mark == "confirm"
            await data.confirm_walk_in(s, meeting, args.person_id, confirmed, None, self.now)
            self.audit(s, "attendance_marked", "meeting", meeting.id, person_id=args.person_id,
                       present=confirmed, walk_in_confirmed=confirmed)
            self.say("cli_meet.marked", id=str(args.person_id), meeting=str(meeting.id),
                     mark=Msg("cli_meet.mark_present" if confirmed else "cli_meet.mark_absent"))
        elif verb == "remove-guest":
            name = await data.remove_guest(s, meeting, args.guest_id)
            self.audit(s, "attendance_guest_removed", "meeting", meeting.id,
                       guest_id=args.guest_id)
            self.say("cli_meet.guest_removed", name=name, meeting=str(meeting.id))
        else:
            present = args.mark == "present"
            await data.mark(s, meeting, args.person_id, present, None, self.now)
            self.audit(s, "attendance_marked", "meeting", meeting.id, person_id=args.person_id,
                       present=present)
            self.say("cli_meet.marked", id=str(args.person_id), meeting=str(meeting.id),
                     mark=Msg(f"cli_meet.mark_{args.mark}"))
        self.say("cli_meet.tally", tally=meetings.tally_text((await data.board(s, meeting)).tally))

    async def show_attendance(self, s: AsyncSession, meeting: Meeting) -> None:
        """The attendance list as the panel shows it, one person a line, for scripts."""
        board = await data.board(s, meeting)
        kind_name, _ = await meetings.names(s, meeting)
        self.say("cli_meet.attendance_head", id=str(meeting.id),
                 what=meetings.what_named(meeting, kind_name), when=When(meeting.starts_at),
                 tally=meetings.tally_text(board.tally))
        uninvited = {id(e) for e in board.walk_ins}
        for e in board.everyone:
            ref = Msg("cli_meet.guest_ref", {"id": str(e.guest_id)}) if e.guest_id is not None \
                else str(e.person_id)
            answer = "walk_in" if id(e) in uninvited else (e.answer or "none")
            mark = "to_confirm" if e.to_confirm else {
                True: "present", False: "absent"}.get(e.present, "none")
            self.say("cli_meet.attendance_row", ref=ref, name=e.name or "",
                     answer=Msg(f"cli_meet.answer_{answer}"), mark=Msg(f"cli_meet.mark_{mark}"))
