"""ADMIN_TELEGRAM_IDS is the truth about the roles it gave: whoever it no longer names loses
them when Convoca starts, audited; roles given on purpose (`convoca admin add`, `convoca role
grant`, the panel) stay."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime

import pytest
from sqlalchemy import select, text

from bot.app import build_app, run_telegram
from bot.cli import main
from storage import db, programs
from storage.models import ADMIN_LIST, AuditEntry, ChannelAddress, RoleGrant
from telegram_harness import start, stop

ADMIN, ROSA = 900, 5003


async def test_the_list_takes_back_what_it_gave_and_nothing_else(
        fake_tg, settings_for, sqlite_url, clock, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    tg = dict(telegram_bot_token=fake_tg.token, telegram_api_base=fake_tg.base_url)
    r = await start(fake_tg, settings_for(sqlite_url, admin_telegram_ids=str(ADMIN), **tg),
                    clock)
    try:
        now = clock.now()
        async with r.app.sessions() as s:
            one = await programs.create(s, template="ecomercado-15m", start=now.date(),
                                        name="Ecomercado Quilpué", now=now)
            two = await programs.create(s, template="ecomercado-10m", start=now.date(),
                                        name="Ecomercado Limache", now=now)
            await s.commit()
        await r.send(ADMIN, "/start")  # gestora of both, by the list
        await r.send(ROSA, "/start")
        async with r.app.sessions() as s:
            ids = dict((await s.execute(select(ChannelAddress.address,
                                               ChannelAddress.person_id))).all())
            assert set((await s.execute(select(RoleGrant.person_id, RoleGrant.program_id,
                                               RoleGrant.via))).all()) == {
                (ids[str(ADMIN)], one.id, ADMIN_LIST), (ids[str(ADMIN)], two.id, ADMIN_LIST)}
    finally:
        await stop(r)
    admin, rosa = ids[str(ADMIN)], ids[str(ROSA)]

    # The operator's own grants: Rosa by `convoca admin add`, the administrator in Limache
    # by `convoca role grant` (she held it by the list already); and a programme made
    # while the list still names the administrator.
    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    monkeypatch.setenv("ADMIN_TELEGRAM_IDS", str(ADMIN))

    async def cli(*argv: str) -> int:
        return await asyncio.to_thread(main, list(argv))

    assert await cli("admin", "add", str(ROSA), "--program", str(one.id)) == 0
    assert await cli("role", "grant", str(admin), "gestora", "--program", str(two.id)) == 0
    assert await cli("program", "create", "--template", "ecomercado-15m", "--start",
                     "2026-03-02", "--name", "Ecomercado Viña") == 0
    three = one.id + 2

    # Convoca starts again; the list no longer names the administrator.
    app = await build_app(settings_for(sqlite_url, admin_telegram_ids="", **tg), clock=clock)
    began = time.monotonic()
    task = asyncio.create_task(run_telegram(app))
    try:
        with caplog.at_level(logging.WARNING, logger="bot.app"):
            await fake_tg.wait_for_poll(after=began, timeout=30)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await app.close()
    engine = db.create_engine(sqlite_url)
    async with db.session_factory(engine)() as s:
        grants = set((await s.execute(select(RoleGrant.person_id, RoleGrant.program_id,
                                             RoleGrant.via))).all())
        revoked = [(a.entity_id, a.details["program_id"], a.details["via"])
                   for a in await s.scalars(select(AuditEntry)
                                            .where(AuditEntry.action == "role_revoked"))]
    await engine.dispose()
    assert grants == {(admin, two.id, None), (rosa, one.id, None)}
    assert sorted(revoked) == [(admin, one.id, ADMIN_LIST), (admin, three, ADMIN_LIST)]
    told = [rec.getMessage() for rec in caplog.records if "no longer names" in rec.getMessage()]
    assert len(told) == 2 and all(f"person {admin}" in line for line in told)


async def test_the_upgrade_tells_the_lists_roles_from_the_ones_given_on_purpose(
        any_db_url: str) -> None:
    """Before the mark, a gestora role given by nobody and never audited as granted came
    from the list; `convoca admin add`, `convoca role grant` and the panel always audited."""
    engine = db.create_engine(any_db_url)
    await db.upgrade(engine, "0007")
    at = datetime(2026, 3, 2, 12, 0, tzinfo=UTC).replace(tzinfo=None)
    async with engine.begin() as conn:
        for pid in (1, 2):
            await conn.execute(text(
                "INSERT INTO programs (id, name, template_key, start_date, timezone, settings, "
                "created_at) VALUES (:id, :name, 'ecomercado-15m', '2026-03-02', "
                "'America/Santiago', '{}', :at)"), {"id": pid, "name": f"P{pid}", "at": at})
        await conn.execute(text("INSERT INTO people (id, reachable, created_at) VALUES "
                                "(1, true, :at), (2, true, :at), (3, true, :at), (4, true, :at)"),
                           {"at": at})
        await conn.execute(text(
            "INSERT INTO role_grants (person_id, program_id, role, granted_at, granted_by) "
            "VALUES (1, 1, 'gestora', :at, NULL), (1, 2, 'gestora', :at, NULL), "
            "(2, 1, 'gestora', :at, NULL), (2, 2, 'gestora', :at, NULL), "
            "(3, 1, 'gestora', :at, 1), (4, 1, 'gestora', :at, NULL), "
            "(4, 2, 'familia', :at, NULL)"), {"at": at})
        await conn.execute(text(
            "INSERT INTO audit_log (at, channel, action, entity, entity_id, details) VALUES "
            "(:at, 'cli', 'role_granted', 'person', 2, :two), "
            "(:at, 'cli', 'role_granted', 'person', 4, :four)"),
            {"at": at, "two": '{"role": "gestora", "program_id": 2}',
             "four": '{"role": "gestora", "program_id": null}'})
    await db.upgrade(engine)
    async with engine.connect() as conn:
        marked = sorted((await conn.execute(text(
            "SELECT person_id, program_id, role, via FROM role_grants"))).all())
    await engine.dispose()
    assert marked == [
        (1, 1, "gestora", ADMIN_LIST), (1, 2, "gestora", ADMIN_LIST),  # only the list's
        (2, 1, "gestora", ADMIN_LIST), (2, 2, "gestora", None),  # added in programme 2
        (3, 1, "gestora", None),  # given in the panel
        (4, 1, "gestora", None),  # added before any programme: may be any of hers
        (4, 2, "familia", None),
    ]
