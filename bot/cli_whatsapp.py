"""`convoca whatsapp templates push|sync|list`: the message templates WhatsApp must approve
before Convoca may write to someone outside the 24-hour window (bot/whatsapp/templates.py).

push submits what the business account lacks, sync reads their status into the database
(what the channel consults before sending a template), list shows each with its status."""

from __future__ import annotations

import argparse
import os
import sys
from collections import Counter
from typing import TYPE_CHECKING, Any

from bot.commands import CommandError
from bot.whatsapp import templates

if TYPE_CHECKING:
    from bot.app import App

COMMANDS = ("whatsapp",)
# What push and sync need to reach the business account, as the operator sets them.
NEEDED = ("WHATSAPP_ACCESS_TOKEN", "WHATSAPP_BUSINESS_ACCOUNT_ID")
DEFAULT_API_BASE = "https://graph.facebook.com/v23.0"


def register(sub: argparse._SubParsersAction) -> None:
    # Help texts are catalog keys (cli.po), translated by bot.cli_words.localize.
    w = sub.add_parser("whatsapp", help="cli.help.whatsapp")
    wsub = w.add_subparsers(dest="whatsapp_command", required=True)
    t = wsub.add_parser("templates", help="cli.help.whatsapp_templates")
    tsub = t.add_subparsers(dest="templates_command", required=True)
    tsub.add_parser("push", help="cli.help.whatsapp_templates_push")
    tsub.add_parser("sync", help="cli.help.whatsapp_templates_sync")
    tsub.add_parser("list", help="cli.help.whatsapp_templates_list")


async def run(app: App, args: argparse.Namespace) -> int | None:
    if getattr(args, "command", None) != "whatsapp":
        return None
    specs = _specs(app)
    action = args.templates_command
    if action == "list":
        return await _list(app, specs)
    missing = [name for name in NEEDED if not setting(app.settings, name)]
    if missing:
        print(app.catalogs.text(None, "cli_whatsapp.missing_settings",
                                names=", ".join(missing)), file=sys.stderr)
        return 2
    client = make_client(app.settings)
    try:
        if action == "push":
            return await _push(app, client, specs)
        return await _sync(app, client, specs)
    except _api_errors() as exc:
        raise CommandError(app.catalogs.text(None, "cli_whatsapp.api_error",
                                             reason=_reason(exc))) from None
    finally:
        await client.close()


def setting(settings: Any, name: str) -> str | None:
    """A WHATSAPP_* setting: from Settings once it declares it, else from the environment
    (the same variable; Settings ignores the ones it does not know)."""
    value = getattr(settings, name.lower(), None)
    if value is not None and hasattr(value, "get_secret_value"):
        value = value.get_secret_value()
    text = str(value or os.environ.get(name) or "").strip()
    return text or None


def make_client(settings: Any) -> Any:
    """The Cloud API client (bot.whatsapp.client.CloudClient); the tests put a stub here."""
    from bot.whatsapp.client import CloudClient

    return CloudClient(
        setting(settings, "WHATSAPP_API_BASE") or DEFAULT_API_BASE,
        setting(settings, "WHATSAPP_ACCESS_TOKEN") or "",
        setting(settings, "WHATSAPP_PHONE_NUMBER_ID") or "",
        setting(settings, "WHATSAPP_BUSINESS_ACCOUNT_ID"),
    )


def _api_errors() -> tuple[type[BaseException], ...]:
    errors: list[type[BaseException]] = [TimeoutError, OSError]
    try:
        from aiohttp import ClientError

        errors.append(ClientError)
    except ImportError:  # pragma: no cover - aiohttp is a dependency
        pass
    try:
        from bot.whatsapp.client import CloudError

        errors.append(CloudError)
    except ImportError:  # the client is not there yet: its errors cannot happen either
        pass
    return tuple(errors)


def _reason(exc: BaseException) -> str:
    # The platform's own words (code and message), never the request: it carries the token.
    code = getattr(exc, "code", None)
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return f"{code}: {message}" if code is not None else message


def _specs(app: App) -> list[templates.TemplateSpec]:
    try:
        return templates.load(catalogs=app.catalogs)
    except templates.TemplateError as exc:
        raise CommandError(app.catalogs.text(None, "cli_whatsapp.invalid",
                                             problems=str(exc))) from None


async def _push(app: App, client: Any, specs: list[templates.TemplateSpec]) -> int:
    cat = app.catalogs
    sent = await templates.push(client, specs)
    for name, code in sent:
        print(cat.text(None, "cli_whatsapp.pushed", name=name, language=code))
    if not sent:
        print(cat.text(None, "cli_whatsapp.push_none"))
    else:
        print(cat.text(None, "cli_whatsapp.push_done", count=len(sent)))
    return 0


async def _sync(app: App, client: Any, specs: list[templates.TemplateSpec]) -> int:
    from bot.whatsapp.sync import sync_templates

    rows = await sync_templates(app.sessions, app.clock, client, specs)
    counts = Counter(_group(r["status"]) for r in rows)
    print(app.catalogs.text(None, "cli_whatsapp.synced", count=len(rows),
                            approved=counts["approved"], pending=counts["pending"],
                            missing=counts["missing"], other=counts["other"]))
    return 0


def _group(status: str) -> str:
    return {"APPROVED": "approved", "PENDING": "pending", "IN_APPEAL": "pending",
            "MISSING": "missing"}.get(status, "other")


async def _list(app: App, specs: list[templates.TemplateSpec]) -> int:
    """Ours first, in the file's order, then any the account has that Convoca does not use."""
    from storage.wa_templates import all_templates

    cat = app.catalogs
    async with app.sessions() as s:
        stored = {(r.name, r.language): r for r in await all_templates(s)}
    for spec, loc in templates.wanted(specs):
        code = templates.language_for(loc)
        row = stored.pop((spec.name, code), None)
        status = row.status if row is not None else cat.text(None, "cli_whatsapp.not_synced")
        print(cat.text(None, "cli_whatsapp.row", name=spec.name, language=code, status=status,
                       message=spec.key))
    for (name, code), row in sorted(stored.items()):
        print(cat.text(None, "cli_whatsapp.row", name=name, language=code, status=row.status,
                       message=cat.text(None, "cli_whatsapp.not_ours")))
    return 0
