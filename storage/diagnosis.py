"""The diagnosis (fortalezas, debilidades, recursos y potencialidades, necesidades y
problemas) and the priority matrix that scores its needs and resources by the criteria the
body chose. Persistence only; the ranking rule is domain.priorities."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from domain.priorities import rank
from storage.models import (
    DiagnosisCategory,
    DiagnosisEntry,
    Meeting,
    PriorityCriterion,
    PriorityScore,
)

CATEGORIES = (DiagnosisCategory.STRENGTH, DiagnosisCategory.WEAKNESS,
              DiagnosisCategory.RESOURCE, DiagnosisCategory.PROBLEM)
# What the matrix scores, in the order the guide names them: needs first.
SCORED = (DiagnosisCategory.PROBLEM, DiagnosisCategory.RESOURCE)


async def add(session: AsyncSession, program_id: int, category: str, texts: Sequence[str], *,
              now: datetime, meeting_id: int | None) -> list[DiagnosisEntry]:
    if category not in set(DiagnosisCategory):
        raise ValueError(f"unknown diagnosis category {category!r}")
    last = await session.scalar(select(func.max(DiagnosisEntry.position)).where(
        DiagnosisEntry.program_id == program_id, DiagnosisEntry.category == category))
    rows = [DiagnosisEntry(program_id=program_id, meeting_id=meeting_id, category=category,
                           text=text, position=(last or 0) + i + 1, created_at=now)
            for i, text in enumerate(texts)]
    session.add_all(rows)
    await session.flush()
    return rows


async def entries(session: AsyncSession, program_id: int,
                  category: str | None = None) -> list[DiagnosisEntry]:
    q = select(DiagnosisEntry).where(DiagnosisEntry.program_id == program_id)
    if category is not None:
        q = q.where(DiagnosisEntry.category == category)
    rows = (await session.scalars(q.order_by(DiagnosisEntry.position, DiagnosisEntry.id))).all()
    order = {c: i for i, c in enumerate(CATEGORIES)}
    return sorted(rows, key=lambda e: (order.get(e.category, 9), e.position, e.id))


async def entry(session: AsyncSession, program_id: int, entry_id: int) -> DiagnosisEntry | None:
    row = await session.get(DiagnosisEntry, entry_id)
    return row if row is not None and row.program_id == program_id else None


async def remove(session: AsyncSession, row: DiagnosisEntry) -> None:
    """The entry goes, and with it its scores: a matrix row of nothing ranks nothing."""
    await session.execute(delete(PriorityScore).where(PriorityScore.entry_id == row.id))
    await session.delete(row)
    await session.flush()


async def session_of(session: AsyncSession, program_id: int) -> Meeting | None:
    """The diagnosis session: the one its latest entries were recorded from."""
    meeting_id = await session.scalar(
        select(DiagnosisEntry.meeting_id).where(DiagnosisEntry.program_id == program_id,
                                                DiagnosisEntry.meeting_id.is_not(None))
        .order_by(DiagnosisEntry.created_at.desc(), DiagnosisEntry.id.desc()).limit(1))
    return await session.get(Meeting, meeting_id) if meeting_id else None


async def last_recorded(session: AsyncSession, program_id: int) -> datetime | None:
    return await session.scalar(select(func.max(DiagnosisEntry.created_at))
                                .where(DiagnosisEntry.program_id == program_id))


# --- the priority matrix ------------------------------------------------------------------


async def criteria(session: AsyncSession, program_id: int) -> list[PriorityCriterion]:
    return list((await session.scalars(
        select(PriorityCriterion).where(PriorityCriterion.program_id == program_id)
        .order_by(PriorityCriterion.position, PriorityCriterion.id))).all())


async def set_criteria(session: AsyncSession, program_id: int,
                       names: Sequence[str]) -> list[PriorityCriterion]:
    """The body's criteria from now on. A criterion kept by name keeps its scores; one
    dropped takes its scores with it."""
    before = {c.name.casefold(): c for c in await criteria(session, program_id)}
    kept: list[PriorityCriterion] = []
    for i, name in enumerate(names):
        row = before.pop(name.casefold(), None)
        if row is None:
            row = PriorityCriterion(program_id=program_id, name=name)
            session.add(row)
        row.name, row.position = name, i + 1
        kept.append(row)
    for gone in before.values():
        await session.execute(delete(PriorityScore).where(PriorityScore.criterion_id == gone.id))
        await session.delete(gone)
    await session.flush()
    return kept


async def set_score(session: AsyncSession, entry_id: int, criterion_id: int, value: int, *,
                    meeting_id: int | None) -> PriorityScore:
    row = await session.scalar(select(PriorityScore).where(
        PriorityScore.entry_id == entry_id, PriorityScore.criterion_id == criterion_id))
    if row is None:
        row = PriorityScore(entry_id=entry_id, criterion_id=criterion_id, score=value,
                            meeting_id=meeting_id)
        session.add(row)
    else:
        row.score, row.meeting_id = value, meeting_id
    await session.flush()
    return row


async def scores(session: AsyncSession, program_id: int) -> dict[tuple[int, int], int]:
    """Every score of the programme, by (entry, criterion)."""
    rows = await session.execute(
        select(PriorityScore.entry_id, PriorityScore.criterion_id, PriorityScore.score)
        .join(DiagnosisEntry, DiagnosisEntry.id == PriorityScore.entry_id)
        .where(DiagnosisEntry.program_id == program_id))
    return {(e, c): s for e, c, s in rows.all()}


async def scoring_session(session: AsyncSession, program_id: int) -> Meeting | None:
    meeting_id = await session.scalar(
        select(PriorityScore.meeting_id)
        .join(DiagnosisEntry, DiagnosisEntry.id == PriorityScore.entry_id)
        .where(DiagnosisEntry.program_id == program_id, PriorityScore.meeting_id.is_not(None))
        .order_by(PriorityScore.id.desc()).limit(1))
    return await session.get(Meeting, meeting_id) if meeting_id else None


@dataclass(frozen=True)
class MatrixRow:
    entry: DiagnosisEntry
    scores: list[int | None]  # by criterion, in the criteria's order
    total: int
    rank: int | None  # None until every criterion has its score


@dataclass(frozen=True)
class Matrix:
    criteria: list[PriorityCriterion]
    # Needs/problems and resources/potentials apart, each by rank (unscored ones last).
    tables: dict[str, list[MatrixRow]]

    @property
    def scored(self) -> int:
        return sum(1 for rows in self.tables.values() for r in rows if r.rank is not None)

    @property
    def size(self) -> int:
        return sum(len(rows) for rows in self.tables.values())


async def matrix(session: AsyncSession, program_id: int) -> Matrix:
    crits = await criteria(session, program_id)
    given = await scores(session, program_id)
    tables: dict[str, list[MatrixRow]] = {}
    for category in SCORED:
        rows = await entries(session, program_id, category)
        by_entry = {e.id: [given.get((e.id, c.id)) for c in crits] for e in rows}
        complete = [(e.id, sum(s for s in by_entry[e.id] if s))
                    for e in rows if crits and all(s is not None for s in by_entry[e.id])]
        ranks = {r.key: r.rank for r in rank(complete)}
        made = [MatrixRow(e, by_entry[e.id], sum(s for s in by_entry[e.id] if s), ranks.get(e.id))
                for e in rows]
        made.sort(key=lambda r: (r.rank is None, r.rank or 0, r.entry.position, r.entry.id))
        tables[category] = made
    return Matrix(crits, tables)
