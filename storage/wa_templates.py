"""WhatsApp's message templates as the business account holds them, read back from Meta
(`convoca whatsapp templates sync`): the channel sends only an approved one, in the exact
language it was approved in. Never commits: the caller's unit of work does."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import WhatsAppTemplate

APPROVED = "APPROVED"
MISSING = "MISSING"  # ours, and the account no longer has it (or never had it)


async def upsert_templates(session: AsyncSession, rows: Iterable[Mapping[str, Any]],
                           now: datetime, *, complete: bool = False) -> list[WhatsAppTemplate]:
    """Keep what Meta says of each template: ``name``, ``language``, ``status``, and
    ``category``, ``platform_id`` or ``id`` (Meta's), ``reason`` (why rejected) when given. ``complete``: the
    rows are every template the account has, so any other one known here is MISSING."""
    known = {(t.name, t.language): t for t in await all_templates(session)}
    seen = []
    for r in rows:
        key = (str(r["name"]), str(r["language"]))
        row = known.get(key)
        if row is None:
            row = known[key] = WhatsAppTemplate(name=key[0], language=key[1])
            session.add(row)
        row.category = str(r.get("category") or row.category or "UTILITY")[:20]
        row.status = str(r.get("status") or MISSING).upper()[:20]
        platform_id = r.get("platform_id") or r.get("id")
        row.platform_id = str(platform_id)[:64] if platform_id else row.platform_id
        reason = r.get("reason") or r.get("rejected_reason")
        row.reason = str(reason)[:500] if reason and str(reason).upper() != "NONE" else None
        row.synced_at = now
        seen.append(row)
    if complete:
        kept = {id(r) for r in seen}
        for row in known.values():
            if id(row) not in kept:
                row.status, row.synced_at = MISSING, now
    await session.flush()
    return seen


async def approved(session: AsyncSession) -> dict[tuple[str, str], WhatsAppTemplate]:
    """The templates that may be sent now, by (name, language)."""
    rows = await session.scalars(select(WhatsAppTemplate).where(
        WhatsAppTemplate.status == APPROVED))
    return {(t.name, t.language): t for t in rows}


async def all_templates(session: AsyncSession) -> list[WhatsAppTemplate]:
    return list((await session.scalars(select(WhatsAppTemplate).order_by(
        WhatsAppTemplate.name, WhatsAppTemplate.language))).all())
