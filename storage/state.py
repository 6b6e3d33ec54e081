"""Small values the installation keeps for itself, such as the key that signs buttons."""

from __future__ import annotations

import secrets

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.models import AppState

# The Telegram bot's @username, kept from the last run that asked Telegram, so that the
# command line can print cards with links without a token of its own.
BOT_USERNAME = "telegram_bot_username"
WHATSAPP_NUMBER = "whatsapp_number"  # the business number, digits: for wa.me links


async def get_or_create(sessions: async_sessionmaker[AsyncSession], key: str,
                        make: object = None) -> str:
    async with sessions() as s:
        row = await s.get(AppState, key)
        if row is not None:
            return row.value
        value = make() if callable(make) else secrets.token_hex(32)
        s.add(AppState(key=key, value=value))
        try:
            await s.commit()
            return value
        except IntegrityError:  # another process made it first
            await s.rollback()
            row = await s.get(AppState, key)
            assert row is not None
            return row.value


async def get(sessions: async_sessionmaker[AsyncSession], key: str) -> str | None:
    async with sessions() as s:
        row = await s.get(AppState, key)
        return row.value if row is not None else None


async def put(sessions: async_sessionmaker[AsyncSession], key: str, value: str) -> None:
    async with sessions() as s:
        await s.merge(AppState(key=key, value=value))
        try:
            await s.commit()
        except IntegrityError:  # another process wrote it at the same moment
            await s.rollback()
