"""A section of the command line run in-process on a built App, as `convoca ...` would run it:
`parse = partial(cli_harness.parse, cli_meetings)` and the like in a test module."""

from __future__ import annotations

import argparse
from typing import Any

import pytest


def parse(*sections_then_argv: Any) -> argparse.Namespace:
    """``parse(cli_meetings, "meeting", "list")``: the sections' commands only, as typed."""
    sections = [s for s in sections_then_argv if not isinstance(s, str)]
    argv = [a for a in sections_then_argv if isinstance(a, str)]
    parser = argparse.ArgumentParser(prog="convoca")
    sub = parser.add_subparsers(dest="command")
    for section in sections:
        section.register(sub)
    return parser.parse_args(argv)


async def lines(section: Any, app: Any, capsys: pytest.CaptureFixture[str], *argv: str
                ) -> list[str]:
    """What a command that succeeds prints, line by line (read through the key check)."""
    assert await section.run(app, parse(section, *argv)) == 0
    return capsys.readouterr().out.splitlines()
