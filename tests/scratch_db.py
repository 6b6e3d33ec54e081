"""A throw-away PostgreSQL database, for the tests and the benchmarks alike."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import text
from sqlalchemy.engine import make_url

from bot.config import load_settings
from storage import db


async def create_database(server: str, name: str, template: str | None = None) -> None:
    """A database on ``server``: empty, or a copy of ``template`` (nobody connected to it)."""
    admin = db.create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            copy = f' TEMPLATE "{template}"' if template else ""
            await conn.execute(text(f'CREATE DATABASE "{name}"{copy}'))
    finally:
        await admin.dispose()


@asynccontextmanager
async def scratch_database(base_url: str, prefix: str,
                           template: str | None = None) -> AsyncIterator[str]:
    """A fresh database on the server of ``base_url``, dropped afterwards: empty, or a copy
    of the database named ``template`` (which nobody may be connected to)."""
    url = make_url(load_settings(database_url=base_url, _env_file=None).database_url)
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    server = url.render_as_string(hide_password=False)
    await create_database(server, name, template)
    admin = db.create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()
