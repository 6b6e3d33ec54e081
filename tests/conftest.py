"""Shared fixtures: a database per test, the fake Bot API, and Convoca wired to both."""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
from leaks import KeyCheckedCapture, Screen, assert_no_raw_keys_in_document
from scratch_db import create_database, scratch_database
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from wa_limited import WaHarness

from bot.app import build_app
from bot.config import Settings, load_settings
from storage import db
from storage.clock import ManualClock

PG_ENV = "CONVOCA_TEST_POSTGRES_URL"
# A developer's shell choosing a Telegram driver must not choose it for the tests: each test
# on the fake Bot API sets its own (fake_tg), the others run on the default.
os.environ.pop("TELEGRAM_DRIVER", None)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2026, 3, 2, 12, 0, tzinfo=UTC))




class MigratedOnce:
    """The database a ``sessions`` test starts from, migrated once per run on each server.
    SQLite: a copy of the file for every test. PostgreSQL: one copy of the template for the
    run, emptied before each test (every table but alembic's, every sequence back to 1): as
    good as a fresh copy, since migrating leaves every table empty, in a few milliseconds
    where a CREATE DATABASE takes 0.3 s to 2 s here. Each test starts at the head
    migration, with nothing in it and ids from 1."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._sqlite: Path | None = None
        self._postgres: tuple[str, str] | None = None  # the server's URL, the template's name
        self._postgres_ready = False
        self._reused: tuple[str, str] | None = None  # its URL, the statement that empties it

    async def sqlite(self) -> Path:
        if self._sqlite is None:
            path = self.folder / "migrated.sqlite3"
            engine = db.create_engine(f"sqlite+aiosqlite:///{path}")
            await db.upgrade(engine)
            await engine.dispose()
            # The last connection closed checkpoints the WAL: the file alone is the database.
            assert not path.with_name(path.name + "-wal").exists()
            self._sqlite = path
        return self._sqlite

    def sqlite_now(self) -> Path:
        """``sqlite``, for a synchronous fixture: migrated in a thread of its own, whose
        event loop leaves the test's alone."""
        if self._sqlite is None:
            with ThreadPoolExecutor(1) as pool:
                pool.submit(asyncio.run, self.sqlite()).result()
        assert self._sqlite is not None
        return self._sqlite

    async def postgres(self, base: str) -> str:
        if not self._postgres_ready:
            assert self._postgres is None, "the template database could not be migrated"
            name = f"convoca_tmpl_{uuid.uuid4().hex[:10]}"
            server = _pg_server(base)
            await create_database(server, name)
            self._postgres = (server, name)
            # Disposed: a database is copied only while nobody is connected to it.
            engine = db.create_engine(make_url(server).set(database=name)
                                      .render_as_string(hide_password=False))
            try:
                await db.upgrade(engine)
            finally:
                await engine.dispose()
            self._postgres_ready = True
        return self._postgres[1]

    async def postgres_emptied(self, base: str) -> str:
        """The run's PostgreSQL database, at the head migration, emptied now."""
        if self._reused is None:
            template = await self.postgres(base)
            assert self._postgres is not None
            server = self._postgres[0]
            name = f"convoca_t_{uuid.uuid4().hex[:10]}"
            await create_database(server, name, template)
            url = make_url(server).set(database=name).render_as_string(hide_password=False)
            engine = db.create_engine(url)
            try:
                async with engine.connect() as conn:
                    tables = (await conn.scalars(text(
                        "SELECT quote_ident(tablename) FROM pg_tables WHERE schemaname = "
                        "'public' AND tablename <> 'alembic_version' ORDER BY tablename"))).all()
                    sequences = (await conn.scalars(text(
                        "SELECT quote_ident(sequencename) FROM pg_sequences "
                        "WHERE schemaname = 'public' ORDER BY sequencename"))).all()
            finally:
                await engine.dispose()
            # DELETE, not TRUNCATE: no new files to write (TRUNCATE took 0.2 s); as the
            # replica, foreign keys do not ask for an order.
            self._reused = (url, "DO $$BEGIN SET LOCAL session_replication_role = replica; "
                            + " ".join(f"DELETE FROM {t};" for t in tables)
                            + " ".join(f" PERFORM setval('{q}', 1, false);" for q in sequences)
                            + " END$$")
            return url
        url, empty = self._reused
        engine = db.create_engine(url, isolation_level="AUTOCOMMIT")
        try:
            async with engine.connect() as conn:
                # What the last test left connected (a pool, a transaction) could hold the
                # rows, or see them vanish.
                await conn.execute(text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"))
                await conn.exec_driver_sql(empty)
        finally:
            await engine.dispose()
        return url

    async def drop(self) -> None:
        names = [make_url(self._reused[0]).database] if self._reused else []
        if self._postgres is not None:
            server, name = self._postgres
            admin = db.create_engine(server, isolation_level="AUTOCOMMIT")
            async with admin.connect() as conn:
                for drop in (*names, name):
                    await conn.execute(text(f'DROP DATABASE IF EXISTS "{drop}" WITH (FORCE)'))
            await admin.dispose()


def _pg_server(base: str) -> str:
    return make_url(load_settings(database_url=base, _env_file=None).database_url
                    ).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def migrated_once(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MigratedOnce]:
    once = MigratedOnce(tmp_path_factory.mktemp("migrated"))
    yield once
    asyncio.run(once.drop())


@pytest.fixture
def sqlite_url(tmp_path: Path, migrated_once: MigratedOnce) -> str:
    """A SQLite file of the test's own, already at the head migration (a copy of the one
    migrated once per run): Convoca's migration on start finds nothing to do. A test of
    that migration itself opens a file of its own."""
    path = tmp_path / "convoca.sqlite3"
    shutil.copyfile(migrated_once.sqlite_now(), path)
    return f"sqlite+aiosqlite:///{path}"


def _pg_base() -> str:
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(f"PostgreSQL tests need {PG_ENV} (set by .ci/run)")
    return base


@asynccontextmanager
async def pg_database() -> AsyncIterator[str]:
    """A fresh, empty database on the local PostgreSQL, dropped afterwards."""
    async with scratch_database(_pg_base(), "convoca_t") as url:
        yield url


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    async with pg_database() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgres"])
async def any_db_url(request: pytest.FixtureRequest, tmp_path: Path,
                     migrated_once: MigratedOnce) -> AsyncIterator[str]:
    # Empty, unless the test asks for ``sessions``: then already migrated.
    migrated = migrated_once if "sessions" in request.fixturenames else None
    if request.param == "sqlite":
        path = tmp_path / "convoca.sqlite3"
        if migrated:
            shutil.copyfile(await migrated.sqlite(), path)
        yield f"sqlite+aiosqlite:///{path}"
        return
    if migrated:
        yield await migrated.postgres_emptied(_pg_base())
        return
    async with pg_database() as url:
        yield url


@pytest.fixture
async def sessions(any_db_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """A migrated database (SQLite, and PostgreSQL where available) and its sessions."""
    engine = db.create_engine(any_db_url)
    yield db.session_factory(engine)
    await engine.dispose()


def operator_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never read a developer's .env or environment by accident: not their settings,
    nor the language of their shell, which the command line speaks when DEFAULT_LOCALE is
    unset."""
    # Every setting by its own name, so a setting added later is cleared without a list to
    # keep. TELEGRAM_DRIVER is fake_tg's to set (it may run first); a shell's is dropped once,
    # when this file loads.
    for var in [*(name.upper() for name in Settings.model_fields if name != "telegram_driver"),
                "LC_ALL", "LC_MESSAGES"]:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("LANG", "C.UTF-8")
    # The web panel listens on HTTP_LISTEN (8080 by default): tests running side by side
    # would take each other's port. A test of the panel turns it on with a free port.
    monkeypatch.setenv("WEB_PANEL", "false")


@pytest.fixture
def settings_for(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    operator_environment(monkeypatch)
    monkeypatch.chdir(Path(__file__).parent)
    # The command line (cli.main) logs to a file: not into the source tree.
    monkeypatch.setenv("LOG_FILE", str(tmp_path / "convoca.log"))

    def make(url: str, **kw: object):
        return load_settings(database_url=url, _env_file=None, **kw)

    return make


@pytest.fixture(params=["sqlite", "postgres"])
async def web(request: pytest.FixtureRequest, settings_for, sqlite_url: str, clock: ManualClock,
              migrated_once: MigratedOnce) -> AsyncIterator[object]:
    """The web panel on a programme of its own (tests/web_harness.py), on each database a
    gestora's installation may run on."""
    from web_harness import make_harness

    from bot.app import build_app

    url = sqlite_url if request.param == "sqlite" else \
        await migrated_once.postgres_emptied(_pg_base())
    app = await build_app(settings_for(url), clock=clock)
    harness = await make_harness(app)
    try:
        yield harness
    finally:
        await harness.close()
        await app.close()


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """An operator's shell for ``bot.cli.main``: in a fresh folder, on its own database."""
    operator_environment(monkeypatch)
    monkeypatch.chdir(tmp_path)
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.sqlite3'}"
    monkeypatch.setenv("DATABASE_URL", url)
    return url


@pytest.fixture(params=["ptb", "aiogram"])
def telegram_driver(request: pytest.FixtureRequest) -> str:
    """The Telegram driver Convoca runs on (bot/telegram): every test that talks to the fake
    Bot API runs on each, and the fake refuses requests from the other one's library."""
    return request.param


@pytest.fixture
async def fake_tg(telegram_driver: str, monkeypatch: pytest.MonkeyPatch
                  ) -> AsyncIterator[object]:
    """The fake Bot API, which takes requests from the driver under test only; Convoca's
    settings (and a `convoca` process's environment) name that driver."""
    from fakes.telegram_api import FakeTelegram

    server = FakeTelegram(token="123456:TEST-token-abcdef", timeout_hold=2.0)
    server.driver = telegram_driver
    server.expect_driver(telegram_driver)
    monkeypatch.setenv("TELEGRAM_DRIVER", telegram_driver)
    await server.start()
    yield server
    await server.stop()
    server.assert_clean()


@pytest.fixture
async def fake_wa(clock: ManualClock) -> AsyncIterator[object]:
    """The fake Cloud API on the tests' clock (its 24-hour window is the app's); every
    request the test made Convoca send must pass the spec and the limits."""
    from fakes.whatsapp_api import FakeWhatsApp

    server = FakeWhatsApp(clock=clock, timeout_hold=2.0, app_secret="test-app-secret-0123456789")
    await server.start()
    yield server
    await server.stop()
    server.assert_clean()


@pytest.fixture
async def cloud(fake_wa, settings_for, sqlite_url: str, clock: ManualClock
                ) -> AsyncIterator[object]:
    """Convoca on WhatsApp (the fake Cloud API), its templates pushed and approved."""
    from whatsapp_harness import running

    async with running(fake_wa, settings_for, sqlite_url, clock) as r:
        yield r


@pytest.fixture
async def tg(fake_tg, settings_for, sqlite_url: str, clock: ManualClock) -> AsyncIterator[object]:
    """Convoca on Telegram (the fake Bot API) on a fresh SQLite file; a test module that
    needs other settings defines its own."""
    from telegram_harness import running

    async with running(fake_tg, settings_for, sqlite_url, clock) as r:
        yield r


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


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "wa_limited_only(reason): a WhatsApp flow that runs on "
                            "the limited test channel only, for the reason given")
    config.addinivalue_line("markers", "wa_cloud_bug(reason): a WhatsApp flow the real "
                            "channel fails for a known bug (strict xfail on the cloud variant)")


@pytest.fixture(params=["limited", "cloud"])
def wa(request: pytest.FixtureRequest) -> WaHarness:
    """A flow on WhatsApp, twice: "limited", Convoca's core driven through the WhatsApp-limited
    test channel (tests/wa_limited.py); "cloud", the real WhatsApp channel against the fake
    Cloud API (tests/wa_cloud.py), every request checked against Meta's spec and limits. A
    test marked ``wa_limited_only(reason)`` asserts what only the limited channel knows; one
    marked ``wa_cloud_bug(reason)`` fails on the real channel for a known bug, until fixed."""
    if request.param == "cloud":
        marker = request.node.get_closest_marker("wa_limited_only")
        if marker is not None:
            pytest.skip(f"limited channel only: {marker.args[0]}")
        marker = request.node.get_closest_marker("wa_cloud_bug")
        if marker is not None:
            request.applymarker(pytest.mark.xfail(reason=marker.args[0], strict=True))
    return request.getfixturevalue(f"wa_{request.param}")


@pytest.fixture
async def wa_limited(settings_for, sqlite_url: str, clock: ManualClock
                     ) -> AsyncIterator[WaHarness]:
    app = await build_app(settings_for(sqlite_url), clock=clock)
    yield WaHarness(app)
    await app.close()


@pytest.fixture
async def wa_cloud(fake_wa, settings_for, sqlite_url: str, clock: ManualClock
                   ) -> AsyncIterator[object]:
    """The real channel, its templates pushed and approved, no dispatcher in the background:
    the flows deliver what is due themselves (wa.drain), as on the limited channel."""
    from wa_cloud import CloudHarness
    from whatsapp_harness import running

    async with running(fake_wa, settings_for, sqlite_url, clock, dispatch=False) as r:
        yield CloudHarness(r)


@pytest.fixture(autouse=True, scope="session")
def bot_sessions_close_at_once() -> Iterator[None]:
    """aiogram's session waits 250 ms after closing for TLS connections to finish, and reads
    the system's certificates anew for each bot made; the fake Bot API speaks plain HTTP on
    loopback, and tests make and close a bot hundreds of times."""
    import ssl
    from types import SimpleNamespace

    import certifi
    from aiogram.client.session import aiohttp as aiogram_aiohttp
    from aiogram.client.session.aiohttp import AiohttpSession

    context = ssl.create_default_context(cafile=certifi.where())

    async def close(self: AiohttpSession) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(AiohttpSession, "close", close)
        patch.setattr(aiogram_aiohttp, "ssl",
                      SimpleNamespace(create_default_context=lambda **_kw: context))
        yield
