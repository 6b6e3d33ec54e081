"""The broadcast report counts what reached the phone and what was read, per channel that
says so (none for a channel that does not: no "0 read"), names who it still waits for, and
gives WhatsApp's refusals in the gestora's words."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from locales import Catalogs
from services import outreach
from services.outbox import platform_reason
from storage import broadcasts, outbox, people, receipts
from storage.models import OutboxStatus

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


async def batch_of(s) -> broadcasts.Tracked:
    """Three on WhatsApp (read, delivered, refused later), one waiting, one refused at once,
    two on Telegram."""
    async def row(channel: str, address: str, name: str) -> int:
        person = await people.create_with_address(s, channel, address, NOW, name=name)
        env = outbox.Envelope(person.id, channel, address, {"text": {"key": "x"}}, "es")
        return await outbox.enqueue(s, env, key=f"bc:b1:{address}", kind="broadcast", now=NOW,
                                    batch="b1")

    for i, (word, name) in enumerate((("read", "Ana"), ("delivered", "Beto"),
                                      ("failed", "Carla"))):
        row_id = await row("whatsapp", f"5691{i}", name)
        await receipts.record_sent(s, row_id, "whatsapp", [f"wamid.{i}"], NOW)
        await outbox.mark_sent(s, row_id, NOW, f"wamid.{i}")
        await receipts.record_status(s, "whatsapp", f"wamid.{i}", word, NOW,
                                     131026 if word == "failed" else None,
                                     "whatsapp 131026: Message undeliverable"
                                     if word == "failed" else None)
    waiting = await row("whatsapp", "56919", "Diego")
    await outbox.mark_waiting(s, waiting, "outside the window and no approved template")
    refused = await row("whatsapp", "56918", "Elena")
    await outbox.mark_final(s, refused, OutboxStatus.FAILED, "whatsapp 132001: no such language")
    for address, name in (("71", "Fabián"), ("72", "Gloria")):
        await outbox.mark_sent(s, await row("telegram", address, name), NOW, "9")
    await s.flush()
    return broadcasts.Tracked(batch="b1", kind="broadcast", program_id=1, person_id=None,
                              total=7)


async def test_the_report_counts_receipts_only_where_a_channel_gives_them(sessions) -> None:
    async with sessions() as s:
        tracked = await batch_of(s)
        state = await broadcasts.progress(s, "b1")
        assert (state.total, state.delivered, state.failed, state.waiting, state.pending) == (
            7, 4, 2, 1, 0)
        assert state.settled  # waiting for a person does not hold the report back
        result = await broadcasts.outcome(s, "b1")
        assert result.receipts == {"whatsapp": broadcasts.Receipts(sent=3, delivered=2, read=1)}
        report = await outreach._report(s, tracked)
    text = Catalogs().render(report.text, "es")
    assert "✅ Entregados: 4 de 7" in text
    assert "📱 En WhatsApp: 2 llegaron al teléfono y 1 fueron leídos (de 3 enviados)" in text
    assert "Telegram:" not in text and "En Telegram" not in text
    assert "• Carla: ese número no recibe WhatsApp" in text
    assert "• Elena: WhatsApp rechazó la plantilla" in text
    assert "⏳ Esperando que la persona escriba: 1\n• Diego: esperando que la persona escriba" in text
    english = Catalogs().render(report.text, "en")
    assert "📱 On WhatsApp: 2 reached the phone and 1 were read (of 3 sent)" in english


@pytest.mark.parametrize(("error", "key"), [
    ("whatsapp 131026: undeliverable", "wa_undeliverable"),
    ("whatsapp 131047: re-engagement", "wa_outside_window"),
    ("whatsapp 132000: params", "wa_template"),
    ("whatsapp 132018: newline", "wa_template"),
    ("whatsapp 131049: held", "wa_hold"),
    ("whatsapp 190: token", "wa_token"),
    ("whatsapp 131053: media", "wa_media"),
    ("whatsapp 131000: something", "wa_other"),
])
def test_whatsapp_reasons_in_words(error: str, key: str) -> None:
    said = platform_reason(error)
    assert said is not None and said.key == f"outreach.reason.{key}"
    cat = Catalogs()
    for loc in ("es", "en"):
        assert not cat.render(said, loc).startswith("outreach.")


def test_other_reasons_are_left_to_the_caller() -> None:
    assert platform_reason("Forbidden: bot was blocked by the user") is None
    assert platform_reason(None) is None
