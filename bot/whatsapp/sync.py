"""What the business account says of Convoca's templates, kept in the database: the channel
sends a template only once it is approved there (read at start, daily, and by `convoca
whatsapp templates sync`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.whatsapp import CHANNEL, templates
from storage.clock import Clock
from storage.receipts import release_all_waiting
from storage.wa_templates import approved, upsert_templates


async def sync_templates(sessions: async_sessionmaker[AsyncSession], clock: Clock, client: Any,
                         specs: Sequence[templates.TemplateSpec]) -> list[dict[str, Any]]:
    rows = await templates.sync(client, specs)
    async with sessions() as s:
        before = set(await approved(s))
        await upsert_templates(s, rows, clock.now())
        if set(await approved(s)) - before:
            # Newly approved: what waited for want of a template may go now.
            await release_all_waiting(s, CHANNEL, clock.now())
        await s.commit()
    return rows
