"""How the Telegram channel shows what a reply means, against the fake Bot API (every call
checked against the published spec): a day to pick as a month of buttons, a list's pager as
a row of arrows, the new state of a message as an edit (a new message when Telegram will not
edit that one), and the buttons that only show something answering harmlessly."""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Any

import pytest

from bot.telegram import SHOWS_ONLY, TelegramChannel
from locales import Msg, Raw
from scheduler.dispatcher import Delivered
from services.messages import Attachment, Button, DatePick, Outgoing, Pager
from storage import people
from storage.models import OutboxMessage
from telegram_harness import Running

ANA = 4100


async def _ana(tg: Running) -> int:
    await tg.send(ANA, "/start")
    async with tg.app.sessions() as s:
        person = await people.by_address(s, "telegram", str(ANA))
        assert person is not None
        return person.id


def _channel(tg: Running) -> TelegramChannel:
    return TelegramChannel(tg.runtime.bot, tg.app.catalogs, tg.app.services.buttons,
                           tg.app.settings.timezone)


async def _deliver(tg: Running, person_id: int, out: Outgoing) -> tuple[Any, dict]:
    """Deliver ``out`` to Ana as the outbox would; the result, and her newest message as
    Telegram holds it now."""
    row = OutboxMessage(payload=out.to_json(), person_id=person_id, address=str(ANA),
                        locale="es", kind="reply", channel="telegram")
    result = await _channel(tg).deliver(row)
    newest = max(tg.fake.bot_messages(ANA), key=lambda m: m["message_id"])
    return result, newest


def _grid(message: dict) -> list[list[tuple[str, str]]]:
    return [[(b["text"], b["callback_data"]) for b in row]
            for row in message["reply_markup"]["inline_keyboard"]]


def _action(tg: Running, person_id: int, data: str) -> str | None:
    return None if data == SHOWS_ONLY else tg.app.services.buttons.unpack(person_id, data)


async def test_a_day_to_pick_is_a_month_of_buttons_from_the_earliest_day(tg: Running) -> None:
    ana = await _ana(tg)
    out = Outgoing(text=Msg("adm_meet.ask_date"),
                   buttons=((Button(Msg("adm_meet.btn_cancel"), "adm:meetings:x"),),),
                   date_pick=DatePick("cal", date(2026, 3, 20), earliest=date(2026, 3, 10)))
    _, shown = await _deliver(tg, ana, out)
    rows = [[(label, _action(tg, ana, data)) for label, data in row] for row in _grid(shown)]
    # March can go forward only: every day before the earliest is in a month not to be seen.
    assert rows[0] == [(" ", None), ("marzo de 2026", None), ("▶", "cal:m:202604")]
    assert [label for label, _ in rows[1]] == ["L", "M", "M", "J", "V", "S", "D"]
    days = [cell for row in rows[2:-1] for cell in row]
    assert all(action is None for _, action in days[:days.index(("10", "cal:d:20260310"))])
    assert ("9", "cal:d:20260309") not in days and ("31", "cal:d:20260331") in days
    assert rows[-1] == [("Cancelar", "adm:meetings:x")]  # the options follow the month
    # Turned to April: back to March is offered again, since days of it may be picked.
    april = Outgoing(text=Msg("adm_meet.ask_date"),
                     date_pick=DatePick("cal", date(2026, 4, 1), earliest=date(2026, 3, 10)))
    _, shown = await _deliver(tg, ana, april)
    head = [(label, _action(tg, ana, data)) for label, data in _grid(shown)[0]]
    assert head == [("◀", "cal:m:202603"), ("abril de 2026", None), ("▶", "cal:m:202605")]
    assert ("1", "cal:d:20260401") in [(label, _action(tg, ana, data))
                                       for row in _grid(shown)[2:] for label, data in row]


@pytest.mark.parametrize(("pager", "row"), [
    (Pager(0, 3, None, "adm:roles:pg:1"), [("1/3", None), ("▶", "adm:roles:pg:1")]),
    (Pager(1, 3, "adm:roles:pg:0", "adm:roles:pg:2"),
     [("◀", "adm:roles:pg:0"), ("2/3", None), ("▶", "adm:roles:pg:2")]),
    (Pager(2, 3, "adm:roles:pg:1", None), [("◀", "adm:roles:pg:1"), ("3/3", None)]),
    (Pager(0, 1), None),
])
async def test_a_pager_is_a_row_of_arrows_after_the_options(tg: Running, pager: Pager,
                                                            row: list | None) -> None:
    ana = await _ana(tg)
    out = Outgoing(text=Msg("adm_roles.pick"),
                   buttons=((Button(Msg("adm_roles.cancel"), "adm:roles:x"),),), pager=pager)
    _, shown = await _deliver(tg, ana, out)
    rows = [[(label, _action(tg, ana, data)) for label, data in r] for r in _grid(shown)]
    assert rows == [[("Cancelar", "adm:roles:x")]] + ([row] if row else [])


async def _press(tg: Running, data: str, message_id: int) -> None:
    answered = len(tg.fake.calls("answerCallbackQuery"))
    tg.fake.callback(ANA, data, message_id=message_id)
    await tg.fake.wait_for(
        lambda _r: len(tg.fake.calls("answerCallbackQuery")) > answered, timeout=5)
    await asyncio.sleep(0.3)  # a reply, had there been one, would be out by now


async def test_a_button_that_only_shows_answers_harmlessly(tg: Running) -> None:
    """The page number between the arrows, and the do-nothing buttons of messages sent
    before the channel drew them (a signed "noop" action the core no longer knows): the
    spinner stops, nothing is said, nothing changes."""
    ana = await _ana(tg)
    _, shown = await _deliver(tg, ana, Outgoing(text=Msg("adm_roles.pick"),
                                                pager=Pager(0, 2, None, "adm:roles:pg:1")))
    before = len(tg.fake.delivered(ANA))
    await _press(tg, SHOWS_ONLY, shown["message_id"])
    await _press(tg, tg.app.services.buttons.pack(ana, "noop"), shown["message_id"])
    assert len(tg.fake.delivered(ANA)) == before
    assert not [c for c in tg.fake.calls("editMessageText") if c.chat_id == ANA]


async def test_a_new_state_edits_the_message_or_comes_anew_when_it_cannot(tg: Running
                                                                          ) -> None:
    ana = await _ana(tg)
    _, first = await _deliver(tg, ana, Outgoing(text=Msg("outreach.progress",
                                                         {"done": 0, "total": 4})))
    sends = len(tg.fake.delivered(ANA))
    # A progress report updates in place: Telegram edits it as often as it changes.
    result, now = await _deliver(tg, ana, Outgoing(
        text=Msg("outreach.progress", {"done": 2, "total": 4}),
        updates=str(first["message_id"]), progress=True))
    assert result == Delivered(str(first["message_id"])) and now["message_id"] == first[
        "message_id"]
    assert "2" in now["text"] and len(tg.fake.delivered(ANA)) == sends
    # Ana's own message cannot be edited by the bot; one that is not there cannot either:
    # the new state is sent as a new message rather than lost.
    before = len(tg.fake.delivered(ANA))
    hers = tg.fake.message(ANA, "hola")["message"]["message_id"]
    await tg.replies(ANA, before, 1)  # what the bot answers her, out of the way
    # A passing count is left out rather than sent anew (each would be one more message).
    sends = len(tg.fake.delivered(ANA))
    result, _ = await _deliver(tg, ana, Outgoing(
        text=Msg("outreach.progress", {"done": 3, "total": 4}), updates=str(hers),
        progress=True))
    assert result == Delivered(None) and len(tg.fake.delivered(ANA)) == sends
    for gone in (hers, hers + 1000):
        sends = len(tg.fake.delivered(ANA))
        result, now = await _deliver(tg, ana, Outgoing(
            text=Msg("outreach.progress_done", {"done": 4, "total": 4}), updates=str(gone)))
        assert result == Delivered(str(now["message_id"]))
        assert now["message_id"] not in (gone, first["message_id"])
        assert len(tg.fake.delivered(ANA)) == sends + 1


async def test_a_document_whose_text_a_caption_cannot_hold_comes_after_the_whole_text(
        tg: Running) -> None:
    ana = await _ana(tg)
    words = " ".join(f"palabra{i}" for i in range(400))  # ~4,000 characters, over 1,024
    out = Outgoing(text=Msg("widget.label", {"text": Raw(words)}),
                   attachment=Attachment("lista.pdf", b"%PDF-1.4 x", "application/pdf"))
    earlier = {m["message_id"] for m in tg.fake.bot_messages(ANA)}
    result, _ = await _deliver(tg, ana, out)
    assert isinstance(result, Delivered)
    said = sorted((m for m in tg.fake.bot_messages(ANA) if m["message_id"] not in earlier),
                  key=lambda m: m["message_id"])
    *texts, document = said
    texts = [m["text"] for m in texts]
    assert "document" in document and not document.get("caption")
    # Nothing of the text is cut: every word arrives, before the document it speaks of.
    assert " ".join(texts).split() == words.split()
