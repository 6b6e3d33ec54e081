"""Updates are acknowledged to Telegram only once stored: while the database refuses writes
(a full disk) the long-polling offset stays put, and the people who wrote meanwhile are
answered when space comes back, in order. Update ids are remembered for a window only:
Telegram may use an id again, and then it is a new update."""

from __future__ import annotations

import asyncio
import logging
import socket
import sqlite3
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event, select
from sqlalchemy import exc as sa_exc

from bot.app import App, build_app, notice_scheduler
from handlers.events import EventKind, Incoming
from storage import intake
from storage.failures import StorageUnavailable, unavailable
from storage.models import IncomingUpdate
from telegram_harness import Running, start, stop

ANA, BETO = 5001, 5002


class FullDisk:
    """The database refuses every commit, as on a full disk, until space is freed."""

    def __init__(self, app: App, monkeypatch: pytest.MonkeyPatch) -> None:
        dialect = app.engine.sync_engine.dialect
        self.commit = dialect.do_commit
        self.full = False
        self.refused = 0
        monkeypatch.setattr(dialect, "do_commit", self)

    def __call__(self, dbapi_connection: Any) -> None:
        if self.full:
            self.refused += 1
            raise sqlite3.OperationalError("database or disk is full")
        self.commit(dbapi_connection)


async def test_what_arrives_while_the_disk_is_full_is_answered_when_space_comes_back(
        tg: Running, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    await tg.send(ANA, "/start")
    disk = FullDisk(tg.app, monkeypatch)
    disk.full = True
    with caplog.at_level(logging.INFO, logger="bot.telegram"):
        tg.fake.command(BETO, "/start")
        tg.fake.message(ANA, "hola")
        # Long enough for a few attempts (one second apart, then two, ...).
        await tg.fake.wait_for(lambda _r: disk.refused >= 4, timeout=15)
        assert tg.fake.delivered(BETO) == []
        assert tg.fake.pending_updates == 2  # neither was acknowledged to Telegram
        disk.full = False
        [hello] = await tg.replies(BETO, 0, 1)
        assert "¿Aceptas?" in hello["text"]
        [nudge, again] = await tg.replies(ANA, 1, 2)
        assert "elige una opción" in nudge["text"] and "¿Aceptas?" in again["text"]
        await tg.fake.wait_for(lambda _r: tg.fake.pending_updates == 0, timeout=15)
    failures = [r for r in caplog.records
                if r.name == "bot.telegram" and r.levelno >= logging.ERROR]
    assert len(failures) == 1, [r.getMessage() for r in failures]  # said once, with what to do
    said = failures[0].getMessage()
    assert "database or disk is full" in said and "Free disk space" in said
    assert "INSERT" not in said and "\n" not in said  # one line, no statement or data in it
    assert any("stores updates again" in r.getMessage() for r in caplog.records)
    async with tg.app.sessions() as s:
        stored = (await s.scalars(select(IncomingUpdate))).all()
    assert len(stored) == 3 and all(u.handled_at is not None for u in stored)


class FullOnce:
    """Storing one update finds the disk full the first time (its statement fails)."""

    def __init__(self, app: App, update_id: int) -> None:
        self.engine, self.update_id, self.left = app.engine.sync_engine, str(update_id), 1
        event.listen(self.engine, "before_cursor_execute", self)

    def __call__(self, conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if (self.left and statement.startswith("INSERT INTO intake")
                and self.update_id in tuple(parameters or ())):
            self.left -= 1
            raise sa_exc.OperationalError(statement, parameters,
                                          sqlite3.OperationalError("database or disk is full"))

    def remove(self) -> None:
        event.remove(self.engine, "before_cursor_execute", self)


async def test_a_chat_whose_update_was_not_stored_keeps_its_order(tg: Running) -> None:
    """The first update fails to be stored once; the second, of the same chat, is not taken
    before it: the person reads the answers in order."""
    await tg.send(ANA, "/start")
    await tg.press(ANA, "✅ Sí, acepto", count=2)
    first = tg.fake.command(ANA, "/ayuda")["update_id"]
    tg.fake.command(ANA, "/idioma")  # in the same getUpdates batch as /ayuda
    full = FullOnce(tg.app, first)
    try:
        help_text, language = await tg.replies(ANA, 3, 2)
    finally:
        full.remove()
    assert full.left == 0  # the first attempt did fail
    assert help_text["text"].startswith("Esto es lo que puedes hacer")
    assert language["text"] == "¿En qué idioma prefieres que te escriba?"


async def test_an_update_id_used_again_after_the_window_is_a_new_update(
        fake_tg, settings_for, sqlite_url, clock) -> None:
    """After a week without updates Telegram numbers them afresh: an id it used before
    comes again, from a restarted Convoca's point of view a new update."""
    settings = settings_for(sqlite_url, telegram_bot_token=fake_tg.token,
                            telegram_api_base=fake_tg.base_url)
    r = await start(fake_tg, settings, clock)
    try:
        first = fake_tg.command(ANA, "/start")["update_id"]
        await r.replies(ANA, 0, 1)
        await fake_tg.wait_for(lambda _r: fake_tg.pending_updates == 0, timeout=15)
    finally:
        await stop(r)
    clock.advance(days=8)
    r = await start(fake_tg, settings, clock)
    try:
        await notice_scheduler(r.app).tick()  # its housekeeping forgets ids past the window
        fake_tg.restart_update_numbering(first)
        assert fake_tg.command(ANA, "/start")["update_id"] == first
        [again] = await r.replies(ANA, 1, 1)
        assert "¿Aceptas?" in again["text"]
    finally:
        await stop(r)


async def test_update_ids_are_remembered_for_48_hours(tg: Running, clock) -> None:
    app, tick = tg.app, notice_scheduler(tg.app).tick
    tg.fake.add_chat(ANA)
    event = Incoming("telegram", str(ANA), EventKind.COMMAND, update_id=9001, command="start",
                     sender_id=str(ANA))
    assert len(await app.core.handle(event)) == 1
    clock.advance(hours=47)
    await tick()
    assert await app.core.handle(event) == []  # a redelivery within the window
    clock.advance(hours=2)
    await tick()
    assert len(await app.core.handle(event)) == 1  # an id used again after it
    async with app.sessions() as s:
        kept = (await s.scalars(select(IncomingUpdate.key))).all()
    assert kept == ["9001"]


def test_what_counts_as_the_database_refusing() -> None:
    def wrapped(orig: BaseException) -> sa_exc.DBAPIError:
        return sa_exc.OperationalError("COMMIT", None, orig)

    full = sqlite3.OperationalError("database or disk is full")
    assert unavailable(wrapped(full)) and unavailable(full)
    assert unavailable(StorageUnavailable("x"))
    assert unavailable(ConnectionRefusedError(111, "Connect call failed"))
    mistake = sqlite3.OperationalError("no such column: people.nickname")
    assert not unavailable(wrapped(mistake))
    assert not unavailable(sa_exc.IntegrityError("INSERT", None, sqlite3.IntegrityError("UNIQUE")))
    assert not unavailable(ValueError("a bug"))

    class PgError(Exception):
        def __init__(self, sqlstate: str) -> None:
            super().__init__(sqlstate)
            self.sqlstate = sqlstate

    assert unavailable(sa_exc.DBAPIError("COMMIT", None, PgError("53100")))  # disk full
    assert unavailable(sa_exc.DBAPIError("SELECT", None, PgError("57P01")))  # admin shutdown
    assert not unavailable(sa_exc.DBAPIError("SELECT", None, PgError("42703")))  # no column


async def test_a_failed_commit_leaves_nothing_behind_for_the_next_one(
        settings_for, sqlite_url, clock, monkeypatch: pytest.MonkeyPatch) -> None:
    """SQLite keeps its transaction open after a failed COMMIT, and SQLAlchemy does not roll
    back a connection whose commit it tried: the next unit of work on the pooled connection
    would run inside it, find the failed update "already handled" and drop it."""
    app = await build_app(settings_for(sqlite_url), clock=clock)
    try:
        disk = FullDisk(app, monkeypatch)
        event = Incoming("telegram", str(BETO), EventKind.COMMAND, update_id=7001,
                         command="start", sender_id=str(BETO))
        disk.full = True
        with pytest.raises((StorageUnavailable, sa_exc.OperationalError)):
            await app.core.handle(event)
        disk.full = False
        assert len(await app.core.handle(event)) == 1  # handled now, not "already handled"
        async with app.sessions() as s:
            assert (await s.scalars(select(IncomingUpdate.key))).all() == ["7001"]
    finally:
        await app.close()


async def test_updates_stored_before_a_crash_are_handled_on_start(
        fake_tg, settings_for, sqlite_url, clock) -> None:
    """What a process that died had stored (acknowledged to Telegram) but not answered:
    one it never took, and one it held when it died. The next process answers both, once."""
    settings = settings_for(sqlite_url, telegram_bot_token=fake_tg.token,
                            telegram_api_base=fake_tg.base_url)
    app = await build_app(settings, clock=clock)
    dead = f"{socket.gethostname()}:999999999:gone"
    try:
        async with app.sessions() as s:
            for key, chat in (("9101", ANA), ("9102", BETO)):
                fake_tg.add_chat(chat)
                event = Incoming("telegram", str(chat), EventKind.COMMAND, update_id=key,
                                 command="start", text="/start", sender_id=str(chat))
                await intake.store(s, [intake.Received("telegram", key, str(chat), {},
                                                       event.to_json())], clock.now())
            await intake.claim(s, dead, clock.now(), 1, lease=timedelta(hours=1))
            await s.commit()
    finally:
        await app.close()
    r = await start(fake_tg, settings, clock)
    try:
        [ana] = await r.replies(ANA, 0, 1)
        [beto] = await r.replies(BETO, 0, 1)
        assert "¿Aceptas?" in ana["text"] and "¿Aceptas?" in beto["text"]
        await asyncio.sleep(0.5)
        assert len(fake_tg.delivered()) == 2
        assert fake_tg.polls  # and it went on taking new ones
    finally:
        await stop(r)
