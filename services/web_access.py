"""Who may open the web panel and how: a one-time link asked for in chat (/web), or a chat
platform's signed word for who is at an address (checked by the panel's edge), and the
browser sessions they open. Tokens are random, shown once, and kept only as hashes."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from domain.roles import PANEL_ROLES
from storage import held_imports, people, web
from storage.models import Person, WebSession

LOGIN_TTL = timedelta(minutes=15)
# A session lasts a working day without use and a week at most: a laptop left at the sede
# does not stay open for good.
SESSION_IDLE = timedelta(hours=12)
SESSION_MAX = timedelta(days=7)
TOKEN_BYTES = 32  # 256 random bits


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def may_use_panel(person: Person) -> bool:
    return person.erased_at is None and any(g.role in PANEL_ROLES for g in person.roles)


def issue_login(session: AsyncSession, person: Person, now: datetime) -> str | None:
    """A new login token for this person, or None when their roles give no panel."""
    if not may_use_panel(person):
        return None
    token = secrets.token_urlsafe(TOKEN_BYTES)
    web.add_login(session, person.id, hash_token(token), now, now + LOGIN_TTL)
    people.audit(session, now, "web.login_link", actor_id=person.id, entity="person",
                 entity_id=person.id)
    return token


@dataclass(frozen=True)
class Opened:
    cookie: str  # the session's token, for the cookie only
    row: WebSession
    person: Person


async def _open(session: AsyncSession, person: Person, now: datetime, via: str,
                locale: str | None) -> Opened | None:
    await session.refresh(person, ["roles"])
    if not may_use_panel(person):  # checked again: a role may have gone since the link
        return None
    token = secrets.token_urlsafe(TOKEN_BYTES)
    row = web.add_session(session, person_id=person.id, token_hash=hash_token(token),
                          csrf=secrets.token_urlsafe(TOKEN_BYTES), via=via, locale=locale,
                          now=now, expires_at=now + SESSION_IDLE)
    people.audit(session, now, "web.signed_in", actor_id=person.id, entity="person",
                 entity_id=person.id, via=via)
    return Opened(token, row, person)


async def redeem_login(session: AsyncSession, token: str, now: datetime,
                       locale: str | None = None) -> Opened | None:
    person_id = await web.use_login(session, hash_token(token), now)
    if person_id is None:
        return None
    person = await session.get(Person, person_id)
    if person is None:
        return None
    return await _open(session, person, now, "link", locale)


async def open_for_address(session: AsyncSession, channel: str, address: str, now: datetime,
                           via: str, locale: str | None = None) -> Opened | None:
    """A session for whoever a chat platform vouches for at this address (a Mini App's
    signed launch data, checked at the edge)."""
    person = await people.by_address(session, channel, address)
    if person is None:
        return None
    return await _open(session, person, now, via, locale)


async def close(session: AsyncSession, row: WebSession, now: datetime) -> None:
    """Sign this browser out; what it held (an import's preview) goes with it."""
    row.closed_at = now
    await held_imports.drop(session, row.id)


async def current(session: AsyncSession, cookie: str | None, now: datetime
                  ) -> tuple[WebSession, Person] | None:
    """The open session behind a cookie, kept alive by use (up to SESSION_MAX)."""
    if not cookie:
        return None
    found = await web.open_session(session, hash_token(cookie), now)
    if found is None:
        return None
    row, person = found
    if not may_use_panel(person):
        return None
    if now - row.seen_at > timedelta(minutes=5):  # not a write on every page
        row.seen_at = now
        row.expires_at = min(now + SESSION_IDLE, row.created_at + SESSION_MAX)
    return row, person


async def close_all(session: AsyncSession, person_id: int, now: datetime) -> int:
    closed = await web.close_all(session, person_id, now)
    await held_imports.drop_ended(session, now)
    people.audit(session, now, "web.signed_out_everywhere", actor_id=person_id,
                 entity="person", entity_id=person_id, sessions=closed)
    return closed
