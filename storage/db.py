"""Engine, sessions and migrations. Built in ``main`` and passed in: nothing here is global."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from storage import folding

MIGRATIONS = Path(__file__).parent / "migrations"


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        kwargs.setdefault("connect_args", {"timeout": 30})
        # SQLite takes one writer at a time: with several connections the others spin in its
        # busy-retry loop (hundreds of ms under load); one connection makes them queue instead.
        kwargs.setdefault("pool_size", 1)
        kwargs.setdefault("max_overflow", 0)
        kwargs.setdefault("pool_timeout", 60)
        engine = create_async_engine(url, **kwargs)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        event.listen(engine.sync_engine.pool, "reset", _no_leftover_transaction)
        return engine
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("pool_pre_ping", True)
    return create_async_engine(url, **kwargs)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    # WAL lets the dispatcher read while a handler writes; NORMAL keeps every commit that a
    # killed process made (only a power cut can lose the last ones).
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    # Freed space is overwritten, so an erased person's name is gone from the file, not only
    # from the tables (many builds of SQLite leave it until the page is reused); the -wal
    # keeps the old pages until a checkpoint: storage.privacy.settle_erasure.
    cur.execute("PRAGMA secure_delete=ON")
    cur.close()
    # storage.folding's accent-blind search: the chat's own fold, as a SQL function.
    dbapi_conn.create_function(folding.SQLITE_FUNCTION, 1, folding.fold_or_none,
                               deterministic=True)


def _no_leftover_transaction(dbapi_conn: Any, record: Any, state: Any) -> None:
    """A COMMIT that failed (a full disk, a busy file) can leave SQLite's transaction open,
    and SQLAlchemy then skips its rollback on return: the next unit of work on the pooled
    connection would run inside it and commit the failed one's rows with its own (an update
    never handled would count as handled)."""
    if (state.transaction_was_reset and state.asyncio_safe
            and getattr(record.driver_connection, "in_transaction", False)):
        dbapi_conn.rollback()


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


def alembic_config(url: str | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if url:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


async def upgrade(engine: AsyncEngine, revision: str = "heads") -> None:
    def run(sync_conn: Any) -> None:
        cfg = alembic_config()
        cfg.attributes["connection"] = sync_conn
        command.upgrade(cfg, revision)

    async with engine.begin() as conn:
        await conn.run_sync(run)


async def pending_migrations(engine: AsyncEngine) -> list[str]:
    script = ScriptDirectory.from_config(alembic_config())
    heads = set(script.get_heads())

    def current(sync_conn: Any) -> set[str]:
        return set(MigrationContext.configure(sync_conn).get_current_heads())

    async with engine.connect() as conn:
        have = await conn.run_sync(current)
    if have == heads:
        return []
    return [
        rev.revision
        for rev in script.iterate_revisions(list(heads), list(have) or "base")
        if rev.revision not in have
    ]


def insert_for(dialect: str) -> Any:
    """The INSERT of the database in use: it can skip a row that is there already
    (ON CONFLICT DO NOTHING), which plain SQL INSERT cannot."""
    return pg_insert if dialect == "postgresql" else sqlite_insert


async def answers(engine: AsyncEngine, timeout: float = 3.0) -> bool:
    """Whether the database takes a query now, within ``timeout`` seconds: what a load
    balancer asks before it sends a process work (a process whose database is away would
    answer every webhook 503)."""
    try:
        async with asyncio.timeout(timeout), engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception:  # any refusal, by the driver or the pool, means "not now"
        return False
    return True
