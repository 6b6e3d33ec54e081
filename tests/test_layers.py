"""Which layer may import which: front ends (bot/) at the edge, use cases (services/) that any
front end calls, chat handlers (handlers/) as one such caller, the scheduler, documents
(documents/: exports, QR cards, PDFs, imported spreadsheets) drawn from what storage reads,
storage (persistence only) underneath, and the domain's rules (domain/) and locales at the
bottom. Read from the source with ast, so an import inside a function or under
TYPE_CHECKING counts too; a failure names the importing module and the import."""

from __future__ import annotations

import ast
import fnmatch
import functools
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("bot", "channels", "handlers", "services", "scheduler", "documents", "storage",
            "domain", "locales", "web")
# What talks to a chat platform or the network; only bot/ may.
PLATFORM = ("aiogram", "aiohttp", "telegram")
# What draws a document (PDF, workbook, image, QR code); only documents/ may.
DRAWING = ("fpdf", "openpyxl", "PIL", "segno")
# The chat's front ends: each a channel of its own.
FRONT_ENDS = ("bot.console", "bot.telegram", "bot.whatsapp")
# What reaches the database; domain/ may not.
DATABASE = ("sqlalchemy", "alembic", "aiosqlite", "asyncpg")


def everything_but(*packages: str) -> tuple[str, ...]:
    return tuple(p for name in PACKAGES if name not in packages for p in (name, f"{name}.*"))


@dataclass(frozen=True)
class Rule:
    name: str
    importers: tuple[str, ...]  # module patterns (fnmatch) whose imports are checked
    forbidden: tuple[str, ...]  # module prefixes they may not import
    allowed: tuple[str, ...] = ()  # module prefixes under a forbidden one that stay allowed


RULES = (
    Rule("the layers under bot/ talk to no platform", everything_but("bot"), PLATFORM),
    # Storage persists what the domain defines (a programme's template, a form, a pickup
    # mode), so it imports domain/; nothing above it.
    Rule("storage/ knows no caller",
         ("storage", "storage.*"), ("documents", "handlers", "services", "scheduler", "bot")),
    # The rules hold without a database: the clock's default time zone is the one thing of
    # storage/ they read (storage.clock is a protocol and a constant, no persistence).
    Rule("domain/ is rules: no database, no documents, no caller",
         ("domain", "domain.*"),
         ("storage", "documents", "handlers", "services", "scheduler", "bot", *DATABASE,
          *DRAWING), allowed=("storage.clock",)),
    Rule("documents/ are drawn from storage and the domain, for any caller",
         ("documents", "documents.*"), ("handlers", "services", "scheduler", "bot")),
    Rule("only documents/ draws documents", everything_but("documents"), DRAWING),
    # A document is drawn from what storage's repositories read; it writes no query itself.
    Rule("documents/ read through storage", ("documents", "documents.*"), ("sqlalchemy",),
         allowed=("sqlalchemy.ext.asyncio",)),
    Rule("services/ know no front end", ("services", "services.*"), ("handlers", "bot")),
    Rule("the scheduler knows no front end", ("scheduler", "scheduler.*"), ("bot",)),
    # A channel's layout is about messages, not about what the programme does or keeps.
    Rule("channels/ lay out replies and know nothing above messages",
         ("channels", "channels.*"),
         ("handlers", "services", "scheduler", "storage", "documents", "domain", "bot"),
         allowed=("services.messages",)),
    Rule("only bot/ itself imports bot/", everything_but("bot"), ("bot",)),
    # What another channel can show reaches a front end from the wiring (bot.app: the demo
    # shown as WhatsApp would), never by importing that channel.
    *(Rule(f"the front end {front} imports no other front end", (front, f"{front}.*"),
           tuple(other for other in FRONT_ENDS if other != front))
      for front in FRONT_ENDS),
    # The web panel is a front end like the chat's: the same use cases, none of the chat.
    Rule("the web panel knows no chat and no other front end", ("web", "web.*"),
         ("handlers", "bot")),
    Rule("the web panel reads through storage and services", ("web", "web.*"),
         ("sqlalchemy",), allowed=("sqlalchemy.ext.asyncio",)),
    Rule("only the wiring mounts the web panel", everything_but("bot", "web"), ("web",)),
    # One Telegram mapping over two drivers (issue 16): the mapping speaks Bot API JSON, and
    # each driver only its own library, so choosing one never loads the other.
    Rule("the Telegram mapping imports no client library",
         ("bot.telegram", "bot.telegram.driver"), ("aiogram", "telegram", "aiohttp", "httpx")),
    Rule("the PTB driver knows nothing of aiogram", ("bot.telegram.ptb_driver",),
         ("aiogram", "httpx", "bot.telegram.aiogram_driver")),
    Rule("the aiogram driver knows nothing of PTB", ("bot.telegram.aiogram_driver",),
         ("telegram", "httpx", "bot.telegram.ptb_driver")),
    Rule("only a Telegram driver imports a Telegram library",
         tuple(f"bot.{m}" for m in ("app", "cli*", "commands", "console", "demo", "http",
                                    "logs", "config", "whatsapp", "whatsapp.*")),
         ("aiogram", "telegram")),
    Rule("the command line reaches use cases, not the chat's panel", ("bot.cli*",),
         ("handlers.admin",)),
    # The wiring builds the chat (its Core, its router, the buttons' codec) and hands it to the
    # channels; everything else the entry points do goes through services/.
    Rule("the entry points and the command line need the chat only to wire it",
         ("bot.app", "bot.commands", "bot.cli*"), ("handlers",),
         allowed=("handlers.core", "handlers.routes", "handlers.buttons")),
)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def is_module(name: str) -> bool:
    path = ROOT.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def imports_of(path: Path) -> set[str]:
    """Every module the file imports, absolute; ``from a import b`` also counts as ``a.b``
    when b is one of the project's modules, so a rule on a package catches its submodules."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    here = module_name(path)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = package.split(".")
                base_parts = base_parts[: len(base_parts) - (node.level - 1)]
                base = ".".join(base_parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names
                         if is_module(f"{base}.{alias.name}"))
    return found


@functools.cache
def all_imports() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            found[module_name(path)] = imports_of(path)
    return found


def within(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def violations(rule: Rule, imports: dict[str, set[str]]) -> set[tuple[str, str]]:
    bad: set[tuple[str, str]] = set()
    for importer, imported in imports.items():
        if not any(fnmatch.fnmatchcase(importer, p) for p in rule.importers):
            continue
        for target in imported:
            if any(within(target, a) for a in rule.allowed):
                continue
            for prefix in rule.forbidden:
                # "from handlers import admin" names the package too; report the deepest.
                if within(target, prefix) and not any(
                        other != target and within(other, target) for other in imported):
                    bad.add((importer, target))
    return bad


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.name)
def test_no_module_imports_what_its_layer_may_not(rule: Rule) -> None:
    found = violations(rule, all_imports())
    new = sorted(found)
    assert not new, f"{rule.name}:\n" + "\n".join(
        f"  {importer} imports {imported}" for importer, imported in new)


def test_the_rules_see_the_imports_they_judge() -> None:
    imports = all_imports()
    assert "handlers.core" in imports["bot.app"]
    assert "services.meetings" in imports["bot.cli_meetings"]
    assert "aiogram" in imports["bot.telegram.aiogram_driver"]
    assert "telegram" in imports["bot.telegram.ptb_driver"]
    assert "bot.telegram.ptb_driver" in imports["bot.telegram"]  # inside make_bot
    assert "services.catastro" in imports["bot.cli_outreach"]  # from a package import a module
    assert "storage.delivery" in imports["handlers.pickups"]
    assert "storage.delivery.DeliveryError" not in imports["handlers.pickups"]  # a name, no module
    assert "services.notices" in imports["bot.app"]  # inside a function
    assert "domain.program_templates" in imports["storage.programs"]
    assert "fpdf" in imports["documents.card_sheet"]
    assert "openpyxl" in imports["documents.base"]  # imported where a workbook is made


def test_a_rule_names_what_breaks_it() -> None:
    rules = {r.name: r for r in RULES}
    imports = {"domain.forms": {"sqlalchemy.ext.asyncio", "storage.clock", "locales"},
               "storage.progress": {"openpyxl.styles", "domain.forms"},
               "documents.exports": {"openpyxl.styles", "storage.models"}}
    assert violations(rules["domain/ is rules: no database, no documents, no caller"],
                      imports) == {("domain.forms", "sqlalchemy.ext.asyncio")}
    assert violations(rules["only documents/ draws documents"], imports) == {
        ("storage.progress", "openpyxl.styles")}
    assert violations(rules["storage/ knows no caller"], imports) == set()
