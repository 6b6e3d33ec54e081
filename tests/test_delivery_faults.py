"""Under injected faults every deliverable message is delivered once, blocked people are
marked and skipped, and every failure keeps its reason — through the real Telegram channel."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from sqlalchemy import select

from bot.app import build_app
from bot.telegram import TelegramChannel
from scheduler.dispatcher import Limits
from storage.models import OutboxMessage, OutboxStatus, Person
from support import add_person, enqueue_many
from telegram_harness import bot_for

N = 150


async def test_faults_retries_and_blocked_people(fake_tg, settings_for, sqlite_url, clock) -> None:
    settings = settings_for(sqlite_url, telegram_bot_token=fake_tg.token,
                            telegram_api_base=fake_tg.base_url)
    app = await build_app(settings, clock=clock)
    bot = bot_for(fake_tg, timeout=0.5)
    fake_tg.timeout_hold = 1.0
    channel = TelegramChannel(bot, app.catalogs, app.services.buttons, settings.timezone,
                              limits=Limits(per_second=None, per_chat_per_second=100,
                                            chat_burst=100))
    outbox = app.outbox([channel], concurrency=16, max_attempts=12)
    try:
        chats = [900_000 + i for i in range(N)]
        rows = []
        for chat in chats:
            fake_tg.add_chat(chat)
            rows.append((await add_person(app.sessions, str(chat), clock.now(),
                                          consent_at=clock.now()), str(chat)))
        blocked = set(chats[:5])
        for chat in blocked:
            fake_tg.block(chat)
        await enqueue_many(app.sessions, rows, clock.now())
        fake_tg.fault_rate(0.2, kinds=("5xx", "timeout"), seed=7)
        fake_tg.inject("429", method=None, times=15, retry_after=3)
        # Advance the injected clock past each backoff instead of waiting for it.
        for _ in range(40):
            await outbox.run_once()
            outbox._pacers["telegram"]._paused_until = 0  # real seconds are not the point here
            clock.advance(minutes=6)
            async with app.sessions() as s:
                left = (await s.scalars(select(OutboxMessage.id).where(
                    OutboxMessage.status.in_([OutboxStatus.PENDING, OutboxStatus.SENDING])))).all()
            if not left:
                break
        async with app.sessions() as s:
            final = {r.address: r for r in (await s.scalars(select(OutboxMessage))).all()}
            people = {p.id: p for p in (await s.scalars(select(Person))).all()}
    finally:
        await outbox.stop()
        await bot.close()
        await app.close()

    stats = fake_tg.stats
    assert stats["5xx"] > 5 and stats["timeout"] > 5 and stats["429"] == 15  # faults did happen
    per_chat = Counter(r.chat_id for r in fake_tg.delivered())
    deliverable = [c for c in chats if c not in blocked]
    # The fake drops a timed-out request unprocessed, so a retry is the only delivery.
    assert {c: per_chat[c] for c in deliverable} == {c: 1 for c in deliverable}
    assert all(per_chat[c] == 0 for c in blocked)
    assert {final[str(c)].status for c in deliverable} == {OutboxStatus.SENT}
    for c in blocked:
        row = final[str(c)]
        assert row.status == OutboxStatus.FAILED and "blocked" in row.last_error
        assert not people[row.person_id].reachable
    assert clock.now() - final[str(chats[-1])].created_at < timedelta(hours=5)
