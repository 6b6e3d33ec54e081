"""Shared fixtures: a database per test, the fake Bot API, and Convoca wired to both."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
from scratch_db import scratch_database
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import load_settings
from storage import db
from storage.clock import ManualClock

PG_ENV = "CONVOCA_TEST_POSTGRES_URL"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2026, 3, 2, 12, 0, tzinfo=UTC))


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'convoca.sqlite3'}"


@asynccontextmanager
async def pg_database() -> AsyncIterator[str]:
    """A fresh database on the local PostgreSQL, dropped afterwards."""
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(f"PostgreSQL tests need {PG_ENV} (set by .ci/run)")
    async with scratch_database(base, "convoca_t") as url:
        yield url


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    async with pg_database() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgres"])
async def any_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'convoca.sqlite3'}"
        return
    async with pg_database() as url:
        yield url


@pytest.fixture
async def sessions(any_db_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """A migrated database (SQLite, and PostgreSQL where available) and its sessions."""
    engine = db.create_engine(any_db_url)
    await db.upgrade(engine)
    yield db.session_factory(engine)
    await engine.dispose()


@pytest.fixture
def settings_for(monkeypatch: pytest.MonkeyPatch):
    # Tests never read a developer's .env or environment by accident.
    for var in ("TELEGRAM_BOT_TOKEN", "TELEGRAM_API_BASE", "DATABASE_URL", "WEBHOOK_URL",
                "ADMIN_TELEGRAM_IDS", "DEFAULT_LOCALE", "TIMEZONE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(Path(__file__).parent)

    def make(url: str, **kw: object):
        return load_settings(database_url=url, _env_file=None, **kw)

    return make


@pytest.fixture
async def fake_tg() -> AsyncIterator[object]:
    from fakes.telegram_api import FakeTelegram

    server = FakeTelegram(token="123456:TEST-token-abcdef", timeout_hold=2.0)
    await server.start()
    yield server
    await server.stop()
    server.assert_clean()
