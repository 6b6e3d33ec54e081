"""Shared fixtures: a database per test, the fake Bot API, and Convoca wired to both."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
from leaks import KeyCheckedCapture, Screen, assert_no_raw_keys_in_document
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


def operator_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never read a developer's .env or environment by accident: not their settings,
    nor the language of their shell, which the command line speaks when DEFAULT_LOCALE is
    unset."""
    for var in ("TELEGRAM_BOT_TOKEN", "TELEGRAM_API_BASE", "DATABASE_URL", "WEBHOOK_URL",
                "WEBHOOK_SECRET", "WEBHOOK_LISTEN", "ADMIN_TELEGRAM_IDS", "DEFAULT_LOCALE",
                "TIMEZONE", "LOG_FILE", "LC_ALL", "LC_MESSAGES"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("LANG", "C.UTF-8")


@pytest.fixture
def settings_for(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    operator_environment(monkeypatch)
    monkeypatch.chdir(Path(__file__).parent)
    # The command line (cli.main) logs to a file: not into the source tree.
    monkeypatch.setenv("LOG_FILE", str(tmp_path / "convoca.log"))

    def make(url: str, **kw: object):
        return load_settings(database_url=url, _env_file=None, **kw)

    return make


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """An operator's shell for ``bot.cli.main``: in a fresh folder, on its own database."""
    operator_environment(monkeypatch)
    monkeypatch.chdir(tmp_path)
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.sqlite3'}"
    monkeypatch.setenv("DATABASE_URL", url)
    return url


@pytest.fixture
async def fake_tg() -> AsyncIterator[object]:
    from fakes.telegram_api import FakeTelegram

    server = FakeTelegram(token="123456:TEST-token-abcdef", timeout_hold=2.0)
    await server.start()
    yield server
    await server.stop()
    server.assert_clean()


@pytest.fixture
def capsys(capsys: pytest.CaptureFixture[str]) -> Iterator[KeyCheckedCapture]:
    """Every CLI test reads its output through this: a raw message key in it fails the test."""
    checked = KeyCheckedCapture(capsys)
    yield checked
    checked.readouterr()  # what the test left unread is checked too


@pytest.fixture
def screen() -> Iterator[Screen]:
    """The console's terminal (``out=``): a raw message key printed there fails the test."""
    out = Screen()
    yield out
    out.getvalue()


@pytest.fixture(autouse=True)
def documents_written_are_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every PDF, spreadsheet or CSV written to disk while a test runs (what the command line
    exports, what a test renders to look at) is read back: a raw message key in its name or
    text fails the test."""
    write = Path.write_bytes

    def checked(self: Path, data: bytes) -> int:  # type: ignore[override]
        assert_no_raw_keys_in_document(self.name, bytes(data))
        return write(self, data)

    monkeypatch.setattr(Path, "write_bytes", checked)
