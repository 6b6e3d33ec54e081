"""The core speaks no platform: no Telegram word, limit or markup name in the neutral
layers (comments included: a comment naming Telegram's limit is the sign of a number that
should have come from a channel's capabilities), and the button codec's payload limit is the
least any channel in use carries."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from bot import console, telegram
from bot.app import build_app, channel_capabilities

ROOT = Path(__file__).resolve().parents[1]
NEUTRAL = ("handlers", "services", "scheduler", "channels", "domain", "documents")
LITERALS = re.compile(
    r"telegram|aiogram|\bt\.me\b|\b4096\b|64 bytes|callback_data|inline_keyboard|reply_markup"
    r"|bot api|getupdates|sendmessage|editmessage", re.IGNORECASE)
# (file, the line as written): each with why it is not a Telegram literal.
ALLOWED = {
    # The least every channel Convoca speaks takes: WhatsApp's text limit is 4,096 too.
    ("channels/capabilities.py",
     "buttons=3, buttons_per_row=1, list_rows=10, label_chars=20, text_chars=4096,"),
}


def literals_in(root: Path, folders: tuple[str, ...]) -> list[str]:
    found = []
    for folder in folders:
        for path in sorted((root / folder).rglob("*.py")):
            rel = path.relative_to(root).as_posix()
            for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
                if LITERALS.search(line) and (rel, line.strip()) not in ALLOWED:
                    found.append(f"{rel}:{n}: {line.strip()}")
    return found


def test_no_telegram_literal_in_the_neutral_layers() -> None:
    found = literals_in(ROOT, NEUTRAL)
    assert not found, "Telegram literals outside bot/:\n" + "\n".join(found)


def test_the_scan_names_the_file_and_line_of_a_literal(tmp_path: Path) -> None:
    (tmp_path / "handlers").mkdir()
    (tmp_path / "handlers" / "x.py").write_text(
        "A = 1\n# Telegram refuses texts over 4096 characters\nB = {'reply_markup': None}\n",
        encoding="utf-8")
    assert literals_in(tmp_path, ("handlers",)) == [
        "handlers/x.py:2: # Telegram refuses texts over 4096 characters",
        "handlers/x.py:3: B = {'reply_markup': None}",
    ]


def test_each_allowance_is_still_there() -> None:
    """An allowance whose line changed or went away must go too, not linger as a hole."""
    for rel, line in ALLOWED:
        lines = [ln.strip() for ln in (ROOT / rel).read_text(encoding="utf-8").splitlines()]
        assert line in lines, (rel, line)


async def test_the_codec_carries_what_the_least_capable_channel_does(
        settings_for, sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = settings_for(sqlite_url, telegram_bot_token="123456:TEST-token-abcdef")
    assert channel_capabilities(settings) == {"console": console.CAPABILITIES,
                                              "telegram": telegram.CAPABILITIES}
    app = await build_app(settings)
    try:
        assert app.services.buttons.max_bytes == 64
    finally:
        await app.close()
    narrow = dataclasses.replace(console.CAPABILITIES, action_bytes=32)
    monkeypatch.setattr(console, "CAPABILITIES", narrow)
    app = await build_app(settings)
    try:
        codec = app.services.buttons
        assert codec.max_bytes == 32
        fits = "adm:x:" + "1" * (32 - 9 - 6)  # the signature and its separator take 9
        assert codec.unpack(7, codec.pack(7, fits)) == fits
        with pytest.raises(ValueError):
            codec.pack(7, fits + "1")
    finally:
        await app.close()


def test_without_a_token_only_the_console_is_spoken(settings_for, sqlite_url: str) -> None:
    assert channel_capabilities(settings_for(sqlite_url)) == {"console": console.CAPABILITIES}
