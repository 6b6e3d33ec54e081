"""Many people at once: every one of them is answered, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select

from bot.app import build_app
from handlers.events import EventKind, Incoming
from storage import people
from storage.models import FormDefinition, OutboxMessage, Role


async def test_forty_representatives_open_the_ficha_at_the_same_moment(
    any_db_url, settings_for, clock
) -> None:
    app = await build_app(settings_for(any_db_url), clock=clock, migrate=True)
    try:
        async with app.sessions() as s:
            for i in range(40):
                p = await people.create_with_address(s, "telegram", str(3000 + i), clock.now(),
                                                     consent_at=clock.now(), locale="es")
                await people.grant(s, p, Role.REPRESENTANTE, None, clock.now())
            await s.commit()
        events = [Incoming("telegram", str(3000 + i), EventKind.COMMAND, update_id=i + 1,
                           command="ficha") for i in range(40)]
        results = await asyncio.gather(*(app.core.handle(e) for e in events))
        assert all(results), "someone got no answer"
        async with app.sessions() as s:
            assert await s.scalar(select(func.count()).select_from(FormDefinition)) == 1
            texts = [r.payload["text"]["k"] for r in (await s.scalars(select(OutboxMessage)))]
        assert "error.generic" not in texts
    finally:
        await app.close()
