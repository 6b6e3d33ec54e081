"""What platforms say of sent messages only ever moves forward, whatever order and however
often it arrives; the window, the messages waiting for their person, unreachable addresses,
sending again as a template, and the templates' rows."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from storage import db, outbox, people, receipts, wa_templates
from storage.models import ChannelAddress, OutboxMessage, OutboxStatus, SentMessage

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
WORDS = ["sent", "delivered", "read", "failed"]


def expected(words: list[str]) -> str:
    """sent < delivered < read; failed beats sent and delivered, never read."""
    if "read" in words:
        return "read"
    if "failed" in words:
        return "failed"
    return "delivered" if "delivered" in words else "sent"


async def queued(session, key: str = "k1", channel: str = "whatsapp", address: str = "56911",
                 **kw) -> OutboxMessage:
    env = outbox.Envelope(None, channel, address, {"text": {"key": "x"}}, "es")
    row_id = await outbox.enqueue(session, env, key=key, kind="broadcast", now=NOW, **kw)
    return await session.get(OutboxMessage, row_id)


async def test_receipts_move_forward_only(sessions) -> None:
    async with sessions() as s:
        row = await queued(s)
        await receipts.record_sent(s, row.id, "whatsapp", ["wamid.A"], NOW)
        await receipts.record_sent(s, row.id, "whatsapp", ["wamid.A"], NOW)  # again: no-op
        assert (await receipts.record_status(s, "whatsapp", "wamid.A", "read", NOW)).id == row.id
        assert await receipts.record_status(s, "whatsapp", "wamid.A", "sent", NOW) is None
        assert await receipts.record_status(s, "whatsapp", "wamid.A", "delivered", NOW) is None
        assert await receipts.record_status(
            s, "whatsapp", "wamid.A", "failed", NOW, 131047, "whatsapp 131047: late") is None
        assert await receipts.record_status(s, "whatsapp", "wamid.B", "read", NOW) is None
        await s.commit()
        await s.refresh(row)
        assert (row.receipt, row.receipt_at) == ("read", NOW)
        assert row.last_error is None


async def test_a_failure_is_returned_once_with_its_reason(sessions) -> None:
    async with sessions() as s:
        row = await queued(s)
        await receipts.record_sent(s, row.id, "whatsapp", ["wamid.A"], NOW)
        await outbox.mark_sent(s, row.id, NOW, "wamid.A")
        late = NOW + timedelta(minutes=1)
        assert await receipts.record_status(s, "whatsapp", "wamid.A", "delivered", late)
        got = await receipts.record_status(s, "whatsapp", "wamid.A", "failed", late, 131047,
                                           "whatsapp 131047: re-engagement")
        assert got is not None and got.receipt == "failed"
        assert got.last_error == "whatsapp 131047: re-engagement"
        assert await receipts.record_status(s, "whatsapp", "wamid.A", "failed", late, 131047,
                                            "whatsapp 131047: re-engagement") is None
        sent = await s.scalar(select(SentMessage))
        assert (sent.status, sent.error_code) == ("failed", 131047)


async def test_a_row_of_several_messages_reads_as_its_weakest(sessions) -> None:
    async with sessions() as s:
        row = await queued(s)
        await receipts.record_sent(s, row.id, "whatsapp", ["w1", "w2"], NOW)
        await receipts.record_status(s, "whatsapp", "w1", "read", NOW)
        assert row.receipt is None  # w2 only sent
        await receipts.record_status(s, "whatsapp", "w2", "delivered", NOW)
        assert row.receipt == "delivered"
        await receipts.record_status(s, "whatsapp", "w2", "read", NOW)
        assert row.receipt == "read"


@pytest.fixture(scope="module")
def one_database(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = Path(tmp_path_factory.mktemp("receipts")) / "r.sqlite3"
    url = f"sqlite+aiosqlite:///{path}"

    async def migrate() -> None:
        engine = db.create_engine(url)
        await db.upgrade(engine)
        await engine.dispose()

    asyncio.run(migrate())
    return url


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(words=st.lists(st.sampled_from(WORDS), min_size=1, max_size=8).flatmap(
    lambda ws: st.permutations(ws)))
def test_any_order_and_any_repeats_end_in_the_same_word(one_database: str,
                                                        words: list[str]) -> None:
    async def run() -> tuple[str, str | None, int]:
        engine = db.create_engine(one_database)
        try:
            async with db.session_factory(engine)() as s:
                key = f"k{id(words)}:{'-'.join(words)}:{datetime.now().timestamp()}"
                row = await queued(s, key=key, address="5690")
                pid = f"wamid.{row.id}"
                await receipts.record_sent(s, row.id, "whatsapp", [pid], NOW)
                moved = 0
                for i, word in enumerate(words):
                    got = await receipts.record_status(
                        s, "whatsapp", pid, word, NOW + timedelta(seconds=i),
                        131026 if word == "failed" else None,
                        "whatsapp 131026: undeliverable" if word == "failed" else None)
                    moved += got is not None
                await s.commit()
                sent = await s.scalar(select(SentMessage).where(SentMessage.platform_id == pid))
                await s.refresh(row)
                return sent.status, row.receipt, moved
        finally:
            await engine.dispose()

    status, receipt, moved = asyncio.run(run())
    final = expected(words)
    assert status == final
    assert receipt == (None if final == "sent" else final)
    # Each word that moved it moved it up: never more moves than steps up the ladder.
    assert moved <= 3


async def test_the_window_and_its_margin(sessions) -> None:
    async with sessions() as s:
        await people.create_with_address(s, "whatsapp", "569", NOW)
        margin = timedelta(minutes=15)
        assert not await receipts.window_open(s, "whatsapp", "569", NOW, margin)  # never wrote
        await people.touch_address(s, "whatsapp", "569", NOW)
        assert await receipts.window_open(s, "whatsapp", "569", NOW + timedelta(hours=23), margin)
        assert not await receipts.window_open(s, "whatsapp", "569",
                                              NOW + timedelta(hours=23, minutes=50), margin)
        assert not await receipts.window_open(s, "whatsapp", "other", NOW, margin)


async def test_waiting_rows_go_when_the_person_writes(sessions) -> None:
    async with sessions() as s:
        row = await queued(s)
        other = await queued(s, key="k2", address="56922")
        await outbox.mark_waiting(s, row.id, "no approved template")
        await outbox.mark_waiting(s, other.id, "no approved template")
        await s.commit()
        later = NOW + timedelta(hours=5)
        assert await receipts.release_waiting(s, "whatsapp", "56911", later) == 1
        assert await receipts.release_waiting(s, "whatsapp", "56911", later) == 0
        await s.commit()
        await s.refresh(row)
        await s.refresh(other)
        assert (row.status, row.not_before, row.last_error) == ("pending", later, None)
        assert other.status == OutboxStatus.WAITING
        assert other.last_error == "no approved template"


async def test_an_unreachable_address_is_marked_until_they_write(sessions) -> None:
    async with sessions() as s:
        person = await people.create_with_address(s, "whatsapp", "569", NOW)
        await receipts.mark_address_unreachable(s, "whatsapp", "569", "whatsapp 131026: x", NOW)
        address = await s.scalar(select(ChannelAddress))
        await s.refresh(address)
        assert (address.unreachable_reason, address.unreachable_at) == ("whatsapp 131026: x", NOW)
        await s.refresh(person)
        assert person.reachable  # the person, not the address
        await people.touch_address(s, "whatsapp", "569", NOW)  # they wrote from it
        await s.refresh(address)
        assert address.unreachable_at is None and address.unreachable_reason is None


async def test_sent_again_as_a_template_once(sessions) -> None:
    async with sessions() as s:
        row = await queued(s, batch="b1")
        new_id = await receipts.requeue_as_template(s, row, NOW)
        assert new_id is not None
        assert await receipts.requeue_as_template(s, row, NOW) is None
        copy = await s.get(OutboxMessage, new_id)
        assert copy.idempotency_key == "k1:template"
        assert copy.payload["meta"] == {"template": True}
        assert copy.batch == "b1" and row.batch is None  # the copy counts, once
        assert await receipts.requeue_as_template(s, copy, NOW) is None


async def test_templates_are_kept_as_meta_says(sessions) -> None:
    async with sessions() as s:
        await wa_templates.upsert_templates(s, [
            {"name": "convoca_pickup", "language": "es", "status": "APPROVED",
             "category": "UTILITY", "id": "111"},
            {"name": "convoca_pickup", "language": "en", "status": "PENDING",
             "category": "UTILITY", "id": "112"},
        ], NOW)
        await s.commit()
        assert set(await wa_templates.approved(s)) == {("convoca_pickup", "es")}
        later = NOW + timedelta(days=1)
        await wa_templates.upsert_templates(s, [
            {"name": "convoca_pickup", "language": "en", "status": "REJECTED",
             "category": "UTILITY", "id": "112", "rejected_reason": "INVALID_FORMAT"},
        ], later, complete=True)
        await s.commit()
        rows = {(t.name, t.language): t for t in await wa_templates.all_templates(s)}
        assert rows["convoca_pickup", "en"].status == "REJECTED"
        assert rows["convoca_pickup", "en"].reason == "INVALID_FORMAT"
        assert rows["convoca_pickup", "es"].status == "MISSING"
        assert await wa_templates.approved(s) == {}


async def test_a_message_waiting_for_its_person_goes_when_they_write(wa) -> None:
    """The core's moment "the person wrote" releases what waited for them; the dispatcher's
    next pass sends it."""
    from locales import Msg
    from services.messages import Outgoing

    await wa.send("56900000001", "/start")
    async with wa.app.sessions() as s:
        person = await people.by_address(s, wa.channel.name, "56900000001")
        env = outbox.Envelope(person.id, wa.channel.name, "56900000001", Outgoing(
            text=Msg("outreach.reason.waiting")).to_json(), "es")
        row_id = await outbox.enqueue(s, env, key="w1", kind="broadcast",
                                      now=wa.app.clock.now())
        await outbox.mark_waiting(s, row_id, "outside the window, no approved template")
        await s.commit()
    shown = await wa.send("56900000001", "hola")
    async with wa.app.sessions() as s:
        row = await s.get(OutboxMessage, row_id)
    assert row.status == OutboxStatus.SENT
    assert any("esperando que la persona escriba" in m.text for m in shown)


async def test_the_team_sees_what_waits_and_why(wa) -> None:
    from storage.models import Role
    from support import add_member

    now = wa.app.clock.now()
    gestora = await add_member(wa.app.sessions, now, wa.channel.name, "56900000009", "Daniela", "es",
                               Role.GESTORA)
    ana = await add_member(wa.app.sessions, now, "whatsapp", "56900000002", "Ana Muñoz", "es")
    async with wa.app.sessions() as s:
        env = outbox.Envelope(ana, "whatsapp", "56900000002", {"text": {"key": "x"}}, "es")
        await outbox.mark_waiting(s, await outbox.enqueue(s, env, key="w2", kind="broadcast",
                                                          now=now), "no approved template")
        await s.commit()
    assert gestora
    await wa.send("56900000009", "/panel")
    [reply] = await wa.press("56900000009", "📬 Envíos con problemas")
    assert "1 esperando que la persona escriba" in reply.text
    assert "Ana Muñoz · mensaje del equipo: esperando que la persona escriba" in reply.text
