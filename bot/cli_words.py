"""The command line in the operator's language: Convoca's help texts and argparse's own words
("usage:", "options", its error messages) come from the catalogs (``cli.po``).

argparse takes its own words from the module functions ``argparse._`` (GNU gettext).
:func:`speaking` points that at the catalogs while a parser is built and used: each argparse
sentence listed in ``ARGPARSE`` maps to a key whose ``{placeholders}`` are turned back into
the ``%(name)s`` argparse fills in; a sentence not listed (a later Python's new wording, or a
programming error no operator meets) stays as argparse wrote it rather than fail. argparse's
one plural sentence, "expected %s arguments", is for ``nargs=N``, which no command uses.

Convoca's own help texts are written as keys (``help="cli.help.run"``): :func:`localize`
translates them once the parser is built, and names every argument's value in the
operator's words (``--start FECHA``), in the usage, the help and the error messages alike.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import string
from collections.abc import Iterator
from typing import Any

from locales import SUPPORTED, Catalogs

# argparse's sentences (Python 3.11 to 3.13) -> their keys in cli.po.
ARGPARSE = {
    "usage: ": "cli.argparse.usage",
    "positional arguments": "cli.argparse.positionals",
    "options": "cli.argparse.options",
    "show this help message and exit": "cli.argparse.help",
    "%(prog)s: error: %(message)s\n": "cli.argparse.error",
    "argument %(argument_name)s: %(message)s": "cli.argparse.argument",
    "the following arguments are required: %s": "cli.argparse.required",
    "unrecognized arguments: %s": "cli.argparse.unrecognized",
    "invalid choice: %(value)r (choose from %(choices)s)": "cli.argparse.invalid_choice",
    # The type's name (int, fromisoformat) is code, not words: the translation leaves it out.
    "invalid %(type)s value: %(value)r": "cli.argparse.invalid_value",
    "expected one argument": "cli.argparse.expected_one",
    "expected at most one argument": "cli.argparse.expected_at_most_one",
    "expected at least one argument": "cli.argparse.expected_at_least_one",
    "ambiguous option: %(option)s could match %(matches)s": "cli.argparse.ambiguous",
    "not allowed with argument %s": "cli.argparse.not_allowed_with",
    "one of the arguments %s is required": "cli.argparse.one_required",
    "ignored explicit argument %r": "cli.argparse.ignored_argument",
}
_SPEC = re.compile(r"%(?:\((\w+)\))?[sdr]")


def _percent(translated: str, original: str) -> str:
    """'{prog}: error: {message}' -> '%(prog)s: error: %(message)s', with the conversions
    the original used; a '%' of the text itself is doubled so argparse leaves it alone."""
    named = {m[1]: m[0] for m in _SPEC.finditer(original) if m[1]}
    bare = [m[0] for m in _SPEC.finditer(original) if not m[1]]
    out = translated.replace("%", "%%")
    for _, name, _, _ in string.Formatter().parse(translated):
        if name is not None:
            spec = named.get(name) or (bare.pop(0) if bare else "")
            out = out.replace("{" + name + "}", spec, 1)
    # A catalog's text never ends in a newline (msgfmt -c refuses one that the key lacks);
    # argparse's own line ends are kept here.
    if original.endswith("\n") and not out.endswith("\n"):
        out += "\n"
    return out


def operator_locale(configured: str | None) -> str:
    """DEFAULT_LOCALE when it is set; else the language of the operator's environment
    (LC_ALL, LC_MESSAGES, LANG, as gettext reads them) when Convoca speaks it; else
    Spanish."""
    if configured in SUPPORTED:
        return configured
    for var in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = os.environ.get(var)
        if value:
            lang = value.split("_")[0].split(".")[0].lower()
            return lang if lang in SUPPORTED else "es"
    return "es"


class Words:
    def __init__(self, catalogs: Catalogs, locale: str) -> None:
        self.catalogs = catalogs
        self.locale = locale

    def text(self, key: str, **params: Any) -> str:
        return self.catalogs.text(self.locale, key, **params)

    def gettext(self, message: str) -> str:
        key = ARGPARSE.get(message)
        template = self.catalogs.raw(self.locale, key) if key else None
        return message if template is None else _percent(template, message)

    def help(self, text: str | None) -> str | None:
        # argparse expands '%(default)s' in help texts: a translation's own '%' is doubled.
        if text and text in self.catalogs.keys(self.locale):
            return self.text(text).replace("%", "%%")
        return text

    def metavar(self, dest: str, *, positional: bool) -> str:
        key = f"cli.metavar.{dest}"
        word = self.text(key) if key in self.catalogs.keys(self.locale) else dest
        return word if positional else word.upper()


_active: Words | None = None


@contextlib.contextmanager
def speaking(words: Words) -> Iterator[Words]:
    global _active
    saved = argparse._
    _active, argparse._ = words, words.gettext
    try:
        yield words
    finally:
        _active, argparse._ = None, saved


def say(key: str, **params: Any) -> str:
    """A text for a value's checker (``type=``), which argparse calls while parsing: in the
    language of the parser that is speaking; outside ``speaking`` (a test's own parser), in
    the default one."""
    return (_active or Words(Catalogs(), "es")).text(key, **params)


def localize(parser: argparse.ArgumentParser, words: Words) -> None:
    """Translate the help texts written as keys and name the values, in this parser and its
    subcommands. Reaches into argparse's actions, a layout unchanged since Python 3.2."""
    parser.description = words.help(parser.description)
    for action in parser._actions:
        action.help = words.help(action.help)
        if isinstance(action, argparse._SubParsersAction):
            # Errors name an argument by its metavar, else by its dest ('db_command'): a
            # word where the catalogs have one ('comando'), else the choices, as usage does.
            if action.metavar is None:
                word = f"cli.metavar.{action.dest}"
                action.metavar = (words.text(word) if word in words.catalogs.keys(words.locale)
                                  else "{" + ",".join(action.choices) + "}")
            helps = {choice.dest: choice for choice in action._choices_actions}
            for name, sub in action.choices.items():
                if name in helps:
                    helps[name].help = words.help(helps[name].help)
                    sub.description = sub.description or helps[name].help
                localize(sub, words)
        elif action.metavar is None and action.choices is None and action.nargs != 0:
            action.metavar = words.metavar(action.dest, positional=not action.option_strings)
