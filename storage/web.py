"""The web panel's login links and browser sessions, by the hashes of their tokens."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from storage.models import Person, WebLogin, WebSession


def add_login(session: AsyncSession, person_id: int, token_hash: str, now: datetime,
              expires_at: datetime) -> WebLogin:
    row = WebLogin(token_hash=token_hash, person_id=person_id, created_at=now,
                   expires_at=expires_at)
    session.add(row)
    return row


async def use_login(session: AsyncSession, token_hash: str, now: datetime) -> int | None:
    """The person a link logs in, spending it: one UPDATE, so two clicks at once cannot both
    succeed. None when it is unknown, used or expired."""
    result = await session.execute(
        update(WebLogin)
        .where(WebLogin.token_hash == token_hash, WebLogin.used_at.is_(None),
               WebLogin.expires_at > now)
        .values(used_at=now)
        .execution_options(synchronize_session=False))
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return None
    return await session.scalar(select(WebLogin.person_id).where(
        WebLogin.token_hash == token_hash))


async def login_state(session: AsyncSession, token_hash: str) -> WebLogin | None:
    return await session.scalar(select(WebLogin).where(WebLogin.token_hash == token_hash))


def add_session(session: AsyncSession, *, person_id: int, token_hash: str, csrf: str, via: str,
                locale: str | None, now: datetime, expires_at: datetime) -> WebSession:
    row = WebSession(token_hash=token_hash, person_id=person_id, csrf=csrf, via=via,
                     locale=locale, created_at=now, seen_at=now, expires_at=expires_at)
    session.add(row)
    return row


async def open_session(session: AsyncSession, token_hash: str, now: datetime
                       ) -> tuple[WebSession, Person] | None:
    row = (await session.execute(
        select(WebSession, Person).join(Person, Person.id == WebSession.person_id)
        .options(selectinload(Person.roles))
        .where(WebSession.token_hash == token_hash, WebSession.closed_at.is_(None),
               WebSession.expires_at > now))).first()
    return (row[0], row[1]) if row else None


async def close_all(session: AsyncSession, person_id: int, now: datetime) -> int:
    result = await session.execute(
        update(WebSession)
        .where(WebSession.person_id == person_id, WebSession.closed_at.is_(None),
               WebSession.expires_at > now)
        .values(closed_at=now)
        .execution_options(synchronize_session=False))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def open_count(session: AsyncSession, person_id: int, now: datetime) -> int:
    rows = await session.scalars(select(WebSession.id).where(
        WebSession.person_id == person_id, WebSession.closed_at.is_(None),
        WebSession.expires_at > now))
    return len(rows.all())
