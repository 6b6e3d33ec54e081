"""`convoca family without-consent`: the families not to be written to first on WhatsApp.
`convoca family release`: the gestora frees a family from the chat it is linked to, so
that its printed code or its phone links it again (a code never takes a family from the
chat that has it: see services.families)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.commands import CommandError, the_program
from locales import Msg, Raw
from services import families
from storage import delivery, imported, links
from storage.models import Family, LinkCode, Person, Program

if TYPE_CHECKING:
    from bot.app import App

COMMANDS = ("family",)


def register(sub: argparse._SubParsersAction) -> None:
    # Help texts are catalog keys (cli.po), translated by bot.cli_words.localize.
    f = sub.add_parser("family", help="cli.help.family")
    fsub = f.add_subparsers(dest="family_command", required=True)
    rel = fsub.add_parser("release", help="cli.help.family_release")
    rel.add_argument("family", help="cli.help.opt_release_family")
    rel.add_argument("--program", type=int, help="cli.help.opt_program")
    wc = fsub.add_parser("without-consent", help="cli.help.family_without_consent")
    wc.add_argument("--program", type=int, help="cli.help.opt_program")


async def run(app: App, args: argparse.Namespace) -> int | None:
    if getattr(args, "command", None) not in COMMANDS:
        return None
    if args.family_command == "without-consent":
        return await _without_consent(app, args)
    return await _release(app, args)


async def _without_consent(app: App, args: argparse.Namespace) -> int:
    """Who may not be written to first on WhatsApp, for the gestora to call or hand the
    card: name, phone, sector."""
    cat = app.catalogs
    async with app.sessions() as s:
        program = await the_program(s, cat, args.program)
        rows = await imported.families_without_consent(s, program.id)
    if not rows:
        print(cat.render(Msg("cli_family.all_consent", {"program": Raw(program.name)}), None))
        return 0
    print(cat.render(Msg("cli_family.without_consent", {"program": Raw(program.name),
                                                        "count": len(rows)}), None))
    for f in rows:
        print(cat.render(Msg("cli_family.without_consent_row", {
            "name": Raw(f.name), "phone": Raw(f.phone or ""),
            "sector": Raw(f.sector) if f.sector else Msg("cli_family.no_sector")}), None))
    return 0


async def _release(app: App, args: argparse.Namespace) -> int:
    cat = app.catalogs
    now = app.clock.now()
    async with app.sessions() as s:
        program = await the_program(s, cat, args.program)
        family = await _family(app, s, program, args.family)
        holder = await s.get(Person, family.person_id) if family.person_id else None
        told = await families.release(s, family, now, actor_id=None, channel="cli")
        await s.commit()
    name = Raw(family.name)
    if told is None:
        print(cat.render(Msg("cli_family.not_linked", {"family": name}), None))
        return 0
    person = Raw(holder.name) if holder is not None and holder.name \
        else Msg("cli_family.someone")
    key = "cli_family.released" if told else "cli_family.released_untold"
    print(cat.render(Msg(key, {"family": name, "person": person}), None))
    return 0


async def _family(app: App, session: AsyncSession, program: Program, query: str) -> Family:
    """The family as the gestora names it: the code on its card, or words of its name."""
    cat = app.catalogs
    target = await session.scalar(select(LinkCode.target_id).where(
        LinkCode.code == links.normalise(query), LinkCode.target_kind == "family",
        LinkCode.program_id == program.id))
    if target is not None:
        family = await session.get(Family, target)
        if family is not None:
            return family
    rows = (await session.scalars(select(Family).where(Family.program_id == program.id)
                                  .order_by(Family.id))).all()
    found = [f for f in rows if delivery.matches(f.name, query)] if query.strip() else []
    if not found:
        raise CommandError(cat.text(None, "cli_family.no_family", program=program.name,
                                    query=query))
    if len(found) > 1:
        raise CommandError(cat.text(None, "cli_family.ambiguous", program=program.name,
                                    query=query, names=", ".join(f.name for f in found)))
    return found[0]
