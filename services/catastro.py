"""The catastro's families as the code cards list them: shared by the chat's panel and
`convoca codes families`."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from domain import names
from locales.collation import sort_key
from storage.models import Family


async def family_ids(session: AsyncSession, program_id: int, sector: str | None) -> list[int]:
    """The families of the programme (or of a sector), by name: the order cards print in."""
    rows = await session.execute(
        select(Family.id, Family.sector, Family.name).where(Family.program_id == program_id))
    wanted = names.normalise_name(sector) if sector else None
    return [i for i, s, _ in sorted(rows, key=lambda r: (sort_key(r[2]), r[0]))
            if wanted is None or (s and names.normalise_name(s) == wanted)]
