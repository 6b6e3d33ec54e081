"""The console shows what a reply means in a terminal: numbered options, a list's pager as
numbered arrows around the page, a day to pick as a printed month to type the day from, and
a message's new state printed anew, marked as such."""

from __future__ import annotations

import io
from datetime import date

from bot.console import CAPABILITIES, ConsoleChannel
from channels import LEAST
from handlers.buttons import ButtonCodec
from locales import Catalogs, Msg
from services.messages import Button, DatePick, Outgoing, Pager
from storage.models import OutboxMessage

PERSON = 3


def _channel() -> tuple[ConsoleChannel, io.StringIO]:
    screen = io.StringIO()
    codec = ButtonCodec(b"k" * 32, CAPABILITIES.action_bytes)
    return ConsoleChannel(Catalogs(), codec, "America/Santiago", screen), screen


async def _show(channel: ConsoleChannel, out: Outgoing) -> dict[int, str]:
    """Deliver ``out``; the actions of the numbers it showed."""
    before = set(channel.pending.get("1", None).buttons if "1" in channel.pending else ())
    await channel.deliver(OutboxMessage(payload=out.to_json(), person_id=PERSON, address="1",
                                        locale="es", kind="reply", channel="console"))
    pend = channel.pending["1"]
    return {n: channel.buttons.unpack(PERSON, data) or "" for n, data in pend.buttons.items()
            if n not in before}


async def test_a_pager_is_numbered_arrows_around_the_page() -> None:
    channel, screen = _channel()
    shown = await _show(channel, Outgoing(
        text=Msg("adm_roles.pick"), buttons=((Button(Msg("adm_roles.cancel"), "adm:roles:x"),),),
        pager=Pager(1, 3, "adm:roles:pg:0", "adm:roles:pg:2")))
    assert shown == {1: "adm:roles:x", 2: "adm:roles:pg:0", 3: "adm:roles:pg:2"}
    assert "[1] Cancelar\n  [2] ◀   2/3   [3] ▶" in screen.getvalue()


async def test_a_day_to_pick_is_a_printed_month_and_a_typed_day() -> None:
    channel, screen = _channel()
    shown = await _show(channel, Outgoing(
        text=Msg("adm_meet.ask_date"),
        buttons=((Button(Msg("adm_meet.btn_cancel"), "adm:meetings:x"),),),
        date_pick=DatePick("cal", date(2026, 3, 20), earliest=date(2026, 3, 10))))
    text = screen.getvalue()
    # No way back to February (all of it is before the earliest day); April is a turn away.
    assert shown == {1: "cal:m:202604", 2: "adm:meetings:x"}
    lines = [line.rstrip() for line in text.splitlines()]
    at = lines.index("  marzo de 2026")
    assert lines[at + 1:at + 8] == [
        "   L  M  M  J  V  S  D",
        "                     ·",  # 1 March, a Sunday, before the earliest day
        "   ·  ·  ·  ·  ·  ·  ·",
        "   · 10 11 12 13 14 15",
        "  16 17 18 19 20 21 22",
        "  23 24 25 26 27 28 29",
        "  30 31"]
    assert "[1] abril de 2026 ▶" in text
    assert "Escribe el día, por ejemplo 10-03-2026." in text
    shown = await _show(channel, Outgoing(
        text=Msg("adm_meet.ask_date"),
        date_pick=DatePick("cal", date(2026, 4, 1), earliest=date(2026, 3, 10))))
    assert shown == {3: "cal:m:202603", 4: "cal:m:202605"}


async def test_a_new_state_is_printed_anew_and_said_to_be_one() -> None:
    channel, screen = _channel()
    await _show(channel, Outgoing(text=Msg("outreach.progress", {"done": 1, "total": 2}),
                                  updates="4", progress=True))
    assert "↻ (en lugar del mensaje anterior)" in screen.getvalue()


def test_the_console_holds_texts_and_payloads_to_what_every_channel_carries() -> None:
    assert CAPABILITIES.text_chars == LEAST.text_chars
    assert CAPABILITIES.action_bytes == LEAST.action_bytes
    assert not CAPABILITIES.month_grid and CAPABILITIES.can_edit
