"""`convoca import`, `convoca codes`, `convoca broadcast` and `convoca invite`: the panel's
catastro and outreach sections for scripting, calling the same code.

Nothing is committed without a yes: either ``--yes`` or an answer typed at a terminal. With
no terminal (a pipe, cron, CI) the answer is no."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from pathlib import Path
from typing import Any

from sqlalchemy import select

from bot.app import App
from bot.commands import CommandError, the_program, write_file
from bot.telegram import capabilities as telegram_capabilities
from bot.whatsapp import capabilities as whatsapp_capabilities
from documents import imports, qr_codes
from domain import targets
from domain.catastro import StalePreview
from locales import LOCALES, Msg, When
from locales.collation import sort_key
from services import catastro, outreach
from storage import fichas, imported, links, people, responses, state, targeting
from storage.commitments import form_of_response
from storage.links import LinkBuilder
from storage.models import Family, Meeting, MeetingStatus, Organization, Person, Program

log = logging.getLogger(__name__)

COMMANDS = ("import", "codes", "broadcast", "invite", "fichas")
CARD_CHANNELS = ("whatsapp", "telegram")  # whose links a card may carry
YES = ("s", "si", "sí", "y", "yes")


def register(sub: argparse._SubParsersAction) -> None:
    # Help texts are catalog keys (cli.po), translated by bot.cli_words.localize.
    imp = sub.add_parser("import", help="cli.help.import")
    imp.add_argument("what", choices=["organizations", "families"], help="cli.help.opt_import_what")
    imp.add_argument("file", type=Path, help="cli.help.opt_import_file")
    imp.add_argument("--yes", action="store_true", help="cli.help.opt_import_yes")
    _common(imp)

    codes = sub.add_parser("codes", help="cli.help.codes")
    codes.add_argument("what", choices=["families", "organizations", "list", "renew"],
                       help="cli.help.opt_codes_what")
    codes.add_argument("code", nargs="?", help="cli.help.opt_codes_code")
    codes.add_argument("--sector", help="cli.help.opt_sector")
    codes.add_argument("--pdf", type=Path, help="cli.help.opt_codes_pdf")
    codes.add_argument("--channel", choices=CARD_CHANNELS, help="cli.help.opt_codes_channel")
    codes.add_argument("--bot", help="cli.help.opt_codes_bot")
    codes.add_argument("--number", help="cli.help.opt_codes_number")
    _common(codes)

    bc = sub.add_parser("broadcast", help="cli.help.broadcast")
    bc.add_argument("--target", required=True, help="cli.help.opt_target")
    bc.add_argument("--text", required=True, help="cli.help.opt_broadcast_text")
    bc.add_argument("--yes", action="store_true", help="cli.help.opt_send_yes")
    _common(bc)

    inv = sub.add_parser("invite", help="cli.help.invite")
    inv.add_argument("meeting_id", type=int, help="cli.help.opt_meeting_id")
    inv.add_argument("--target", required=True, help="cli.help.opt_target")
    inv.add_argument("--yes", action="store_true", help="cli.help.opt_send_yes")
    _common(inv)

    fi = sub.add_parser("fichas", help="cli.help.fichas")
    fisub = fi.add_subparsers(dest="fichas_command", required=True)
    _common(fisub.add_parser("list", help="cli.help.fichas_list"))
    acc = fisub.add_parser("accept", help="cli.help.fichas_accept")
    acc.add_argument("ficha_id", type=int, help="cli.help.opt_ficha_id")
    acc.add_argument("--organization", type=int, help="cli.help.opt_ficha_organization")
    _common(acc)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--program", type=int, help="cli.help.opt_program")
    p.add_argument("--locale", choices=LOCALES, help="cli.help.opt_locale")


async def run(app: App, args: argparse.Namespace) -> int | None:
    handler = {"import": _import, "codes": _codes, "broadcast": _broadcast,
               "invite": _invite, "fichas": _fichas}.get(getattr(args, "command", None))
    if handler is None:
        return None
    return await handler(app, args)


# --- helpers -----------------------------------------------------------------------------------


class _Out:
    def __init__(self, app: App, locale: str | None) -> None:
        self.app = app
        self.locale = locale
        self.zone: str | None = None  # the programme's, once it is known

    def text(self, key: str, **params: Any) -> str:
        return self.app.catalogs.render(Msg(key, params), self.locale, self.zone)

    def say(self, message: Msg) -> None:
        print(self.app.catalogs.render(message, self.locale, self.zone))

    def error(self, key: str, **params: Any) -> CommandError:
        return CommandError(self.text(key, **params))


def confirm(question: str) -> bool:
    stdin = sys.stdin
    if os.environ.get("CI") or stdin is None or not stdin.isatty():
        print(f"{question} n")
        return False
    print(question, end=" ", flush=True)
    return stdin.readline().strip().lower() in YES


async def _program(session: Any, out: _Out, program_id: int | None) -> Program:
    program = await the_program(session, out.app.catalogs, program_id, locale=out.locale)
    out.zone = program.timezone
    return program


def _target(out: _Out, spec: str) -> dict[str, Any]:
    try:
        return targets.check(targets.parse_spec(spec))
    except ValueError:
        raise out.error("cli_outreach.bad_target", target=spec) from None


# --- import ------------------------------------------------------------------------------------


async def _import(app: App, args: argparse.Namespace) -> int:
    out = _Out(app, args.locale)
    path: Path = args.file
    try:
        # One byte past the limit is enough to refuse it, whatever the file's size.
        content = await asyncio.to_thread(_head, path, imports.MAX_BYTES + 1)
    except OSError:
        raise out.error("cli_outreach.no_file", path=str(path)) from None
    # Read before the transaction opens: a big file takes seconds, and SQLite has one writer.
    sheet = await asyncio.to_thread(imports.read_sheet, path.name, content)
    now = app.clock.now()
    async with app.sessions() as s:
        program = await _program(s, out, args.program)
        make = imports.preview_organizations if args.what == "organizations" \
            else imports.preview_families
        preview = await make(s, program.id, path.name, sheet, now)
        everything = sum(len(r.problems) for r in preview.rows) + 1
        for line in imports.render_preview(preview, limit=everything):
            out.say(line)
        if not preview.can_commit:
            return 1
        count = len(preview.valid_rows)
        if not (args.yes or confirm(out.text("cli_outreach.import_ask", count=count))):
            print(out.text("cli_outreach.not_imported"))
            return 1
        try:
            result = await imported.commit_import(s, preview, now, channel="cli")
        except StalePreview:
            raise out.error("cli_outreach.stale") from None
        await s.commit()
    for line in imports.result_message(result):
        out.say(line)
    return 0


def _head(path: Path, size: int) -> bytes:
    with path.open("rb") as f:
        return f.read(size)


# --- codes ---------------------------------------------------------------------------------------


async def bot_username(app: App) -> str | None:
    """Telegram's answer when there is a token, else the username the last run on Telegram
    saw (kept in the database), else None: the cards then carry the code alone."""
    if app.settings.token:
        from bot.telegram import make_bot

        bot = make_bot(app.settings.token, app.settings.telegram_api_base, timeout=15,
                       driver=app.settings.telegram_driver)
        try:
            username = (await bot.get_me()).get("username")
        except Exception:  # Telegram out of reach: the name seen last time still serves
            log.warning("could not ask Telegram for the bot's username", exc_info=True)
            username = None
        finally:
            await bot.close()
        if username:
            await state.put(app.sessions, state.BOT_USERNAME, username)
            return username
    return await state.get(app.sessions, state.BOT_USERNAME)


async def whatsapp_number(app: App) -> str | None:
    """The business number's digits: the Cloud API's answer when WhatsApp is set up, else
    the number the last run on WhatsApp saw (kept in the database), else None: the cards
    then carry the code alone."""
    settings = app.settings
    if settings.whatsapp_enabled:
        from bot.whatsapp.client import CloudClient

        assert settings.whatsapp_access_token and settings.whatsapp_phone_number_id
        client = CloudClient(settings.whatsapp_api_base,
                             settings.whatsapp_access_token.get_secret_value(),
                             settings.whatsapp_phone_number_id,
                             settings.whatsapp_business_account_id, timeout=15)
        try:
            shown = (await client.phone_number()).get("display_phone_number") or ""
        except Exception:  # Meta out of reach: the number seen last time still serves
            log.warning("could not ask WhatsApp for the business number", exc_info=True)
            shown = ""
        finally:
            await client.close()
        digits = "".join(ch for ch in shown if ch.isdigit())
        if digits:
            await state.put(app.sessions, state.WHATSAPP_NUMBER, digits)
            return digits
    return await state.get(app.sessions, state.WHATSAPP_NUMBER)


async def card_link(app: App, args: argparse.Namespace) -> LinkBuilder | None:
    """The link the cards carry: WhatsApp's where this installation speaks it (families
    have it far more than Telegram), else Telegram's, unless --channel says; None when that
    channel's number or bot name is not known."""
    channel = args.channel or ("whatsapp" if app.settings.whatsapp_access_token else "telegram")
    if channel == "whatsapp":
        digits = "".join(ch for ch in args.number or "" if ch.isdigit())
        caps = whatsapp_capabilities(digits or await whatsapp_number(app))
    else:
        caps = telegram_capabilities((args.bot or "").lstrip("@") or await bot_username(app))
    return LinkBuilder(channel, caps.deep_link, caps.handle) if caps.deep_link else None


async def _code_list(app: App, args: argparse.Namespace) -> int:
    """Every family's and organisation's code with its uses, its limit and its expiry."""
    out = _Out(app, args.locale)
    now = app.clock.now()
    async with app.sessions() as s:
        program = await _program(s, out, args.program)
        shown = 0
        for kind, model in (("organization", Organization), ("family", Family)):
            names = dict((await s.execute(select(model.id, model.name).where(
                model.program_id == program.id))).all())
            for link in await links.listed(s, program.id, kind, list(names)):
                uses = Msg("cli_outreach.code_uses_of" if link.max_uses is not None
                           else "cli_outreach.code_uses", {"used": link.uses,
                                                           "max": link.max_uses or 0})
                if link.expires_at is None:
                    expiry = Msg("cli_outreach.code_no_expiry")
                else:
                    expiry = Msg("cli_outreach.code_expired" if link.expires_at <= now
                                 else "cli_outreach.code_expires",
                                 {"when": When(link.expires_at, "date")})
                print(out.text("cli_outreach.code_line", name=names[link.target_id],
                               kind=Msg(f"cli_outreach.code_kind_{kind}"), code=link.code,
                               uses=uses, expiry=expiry))
                shown += 1
        if not shown:
            print(out.text("cli_outreach.codes_none"))
            return 1
    return 0


async def _code_renew(app: App, args: argparse.Namespace) -> int:
    out = _Out(app, args.locale)
    now = app.clock.now()
    async with app.sessions() as s:
        program = await _program(s, out, args.program)
        link = await links.renew(s, program, args.code or "", now)
        if link is None:
            raise out.error("cli_outreach.code_not_found", code=args.code or "")
        people.audit(s, now, "code_renewed", actor_id=None, channel="cli", entity="link_code",
                     entity_id=link.id, expires_at=link.expires_at.isoformat())
        await s.commit()
        print(out.text("cli_outreach.code_renewed", code=link.code,
                       when=When(link.expires_at, "date")))
    return 0


async def _codes(app: App, args: argparse.Namespace) -> int:
    if args.what == "list":
        return await _code_list(app, args)
    if args.what == "renew":
        return await _code_renew(app, args)
    out = _Out(app, args.locale)
    now = app.clock.now()
    link = await card_link(app, args)
    async with app.sessions() as s:
        program = await _program(s, out, args.program)
        if args.what == "families":
            kind = "family"
            ids = await catastro.family_ids(s, program.id, args.sector)
        else:
            kind = "organization"
            ids = [i for i, _ in sorted((await s.execute(
                select(Organization.id, Organization.name)
                .where(Organization.program_id == program.id))).all(),
                key=lambda o: (sort_key(o.name, out.locale), o.id))]
        if not ids:
            print(out.text("cli_outreach.codes_none"))
            return 1
        if args.pdf:
            # The cards are for families and organisations: their language, not the operator's.
            pdf = await qr_codes.codes_pdf(s, program.id, kind, ids, link,
                                           args.locale or app.settings.default_locale,
                                           now=now, catalogs=app.catalogs)
            await asyncio.to_thread(write_file, app.catalogs, args.pdf, pdf)
            await s.commit()
            print(out.text("cli_outreach.pdf_written", count=len(ids), path=str(args.pdf)))
            return 0
        if link:
            for card in await links.cards(s, program.id, kind, ids, link, now):
                print(f"{card.name}\t{card.code}\t{card.url}")
        else:
            model = Organization if kind == "organization" else Family
            names = dict((await s.execute(
                select(model.id, model.name).where(model.id.in_(ids)))).all())
            for rid in ids:
                row = await links.code_for(s, program.id, kind, rid, now)
                print(f"{names[rid]}\t{row.code}")
        await s.commit()
    return 0


# --- broadcast and invite --------------------------------------------------------------------------


async def _preview(app: App, out: _Out, session: Any, program: Program, target: dict[str, Any],
                   message: Any) -> int:
    recipients = await targeting.resolve(session, program.id, target)
    who = await outreach.describe(session, program, target)
    out.say(Msg("outreach.confirm_to", {"target": who}))
    for line in outreach.recipients_lines(recipients):
        out.say(line)
    count = len(recipients.person_ids)
    if not count:
        out.say(Msg("outreach.nobody"))
        return 0
    for loc, text in await outreach.preview_texts(session, app.services, recipients, message,
                                                  first=out.locale, zone=program.timezone):
        print(out.text("cli_outreach.preview_in", language=Msg(f"lang.name_{loc}"), text=text))
    out.say(Msg("outreach.confirm_count", {"count": count}))
    return count


async def _broadcast(app: App, args: argparse.Namespace) -> int:
    out = _Out(app, args.locale)
    target = _target(out, args.target)
    text = args.text.strip()
    if not text:
        raise out.error("outreach.text_only")
    if len(text) > outreach.TEXT_MAX:
        raise out.error("cli_outreach.text_too_long", count=len(text), max=outreach.TEXT_MAX)
    now = app.clock.now()
    async with app.sessions() as s:
        program = await _program(s, out, args.program)
        count = await _preview(app, out, s, program, target,
                               outreach.broadcast_message(program.name, text))
        if not count:
            return 1
        if not (args.yes or confirm(out.text("cli_outreach.send_ask", count=count))):
            print(out.text("cli_outreach.not_sent"))
            return 1
        queued = await outreach.queue_broadcast(s, program, text, target, now, author_id=None,
                                                channel="cli")
        await s.commit()
    print(out.text("cli_outreach.queued", count=len(queued.outbox_ids), batch=queued.batch))
    return 0


async def _invite(app: App, args: argparse.Namespace) -> int:
    out = _Out(app, args.locale)
    target = _target(out, args.target)
    now = app.clock.now()
    async with app.sessions() as s:
        meeting = await s.get(Meeting, args.meeting_id)
        program = await s.get(Program, meeting.program_id) if meeting else None
        if meeting is None or program is None or meeting.status != MeetingStatus.SCHEDULED \
                or meeting.starts_at <= now \
                or (args.program is not None and program.id != args.program):
            raise out.error("cli_outreach.no_meeting", id=str(args.meeting_id))
        out.zone = program.timezone
        message = await outreach.invitation_preview(s, meeting)
        count = await _preview(app, out, s, program, target, message)
        if not count:
            return 1
        if not (args.yes or confirm(out.text("cli_outreach.send_ask", count=count))):
            print(out.text("cli_outreach.not_sent"))
            return 1
        queued = await outreach.queue_invitations(s, meeting, target, now, author_id=None,
                                                  channel="cli")
        await s.commit()
    print(out.text("cli_outreach.queued", count=len(queued.outbox_ids), batch=queued.batch))
    return 0


# --- fichas ------------------------------------------------------------------------------------


async def _fichas(app: App, args: argparse.Namespace) -> int:
    out = _Out(app, args.locale)
    now = app.clock.now()
    async with app.sessions() as s:
        program = await _program(s, out, args.program)
        if args.fichas_command == "list":
            waiting = await fichas.pending(s, program.id)
            if not waiting:
                print(out.text("cli_outreach.fichas_none"))
                return 0
            for r in waiting:
                sender = await s.get(Person, r.person_id) if r.person_id else None
                form = await form_of_response(s, r)  # the form it was answered on
                out.say(Msg("cli_outreach.ficha_line", {
                    "id": str(r.id), "number": responses.receipt_number(form, r),
                    "organization": fichas.typed_name(r) or "?",
                    "sender": fichas.sender_name(r, sender),
                    "when": When(r.submitted_at or r.updated_at)}))
            return 0
        try:
            org = await fichas.accept(s, args.ficha_id, program.id, now=now,
                                      organization_id=args.organization, channel="cli")
        except fichas.FichaError as exc:
            key = {"linked": "ficha_linked_already"}.get(exc.code, f"ficha_{exc.code}")
            raise out.error(f"cli_outreach.{key}", id=str(args.ficha_id), name=exc.name) \
                from None
        await s.commit()
        print(out.text("cli_outreach.ficha_linked" if args.organization
                       else "cli_outreach.ficha_accepted", name=org.name, id=str(org.id)))
    return 0
