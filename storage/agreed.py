"""Texts a body or session agreed (protocolo de funcionamiento, reglamento de uso,
procedimiento interno...), each under the template verifier it proves, versioned: a new
version supersedes the current one and every version is kept. Persistence only."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import AgreedText


def _same(key: str, program_id: int, body_id: int | None) -> list[object]:
    return [AgreedText.program_id == program_id, AgreedText.key == key,
            AgreedText.body_id.is_(None) if body_id is None else AgreedText.body_id == body_id]


async def current(session: AsyncSession, program_id: int, key: str,
                  body_id: int | None = None) -> AgreedText | None:
    """The version in force of the text ``key`` (of the body, when it is a body's)."""
    return await session.scalar(
        select(AgreedText).where(*_same(key, program_id, body_id),
                                 AgreedText.superseded_at.is_(None))
        .order_by(AgreedText.version.desc()).limit(1))


async def record(session: AsyncSession, program_id: int, key: str, text: str, *,
                 now: datetime, by_person_id: int | None, body_id: int | None = None,
                 meeting_id: int | None = None, title: str | None = None) -> AgreedText:
    """A new version of the text; the one in force until now is kept, superseded."""
    before = await current(session, program_id, key, body_id)
    if before is not None:
        before.superseded_at = now
    row = AgreedText(program_id=program_id, key=key, body_id=body_id, meeting_id=meeting_id,
                     title=title, text=text, version=(before.version + 1) if before else 1,
                     recorded_by=by_person_id, recorded_at=now)
    session.add(row)
    await session.flush()
    return row


async def versions(session: AsyncSession, program_id: int, key: str,
                   body_id: int | None = None) -> list[AgreedText]:
    """Every version, oldest first."""
    return list((await session.scalars(
        select(AgreedText).where(*_same(key, program_id, body_id))
        .order_by(AgreedText.version))).all())


async def in_force(session: AsyncSession, program_id: int) -> list[AgreedText]:
    """Every text in force in the programme, by key and body."""
    return list((await session.scalars(
        select(AgreedText).where(AgreedText.program_id == program_id,
                                 AgreedText.superseded_at.is_(None))
        .order_by(AgreedText.key, AgreedText.body_id, AgreedText.id))).all())
