"""The intake's rules, on SQLite and PostgreSQL: an update stored twice is stored once (per
channel), a person's updates are taken one at a time and in the order they came (the next
only once the previous one's replies are sent), a lease that ran out or a process that died
gives its updates back, and the migration keeps what was there."""

from __future__ import annotations

import asyncio
import socket
from datetime import UTC, datetime, timedelta
from typing import Any

from alembic import command
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage import db, intake
from storage.models import ChannelAddress, IncomingUpdate

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
W1, W2 = "here:1:a", "here:2:b"


def update(key: str, address: str, channel: str = "telegram") -> intake.Received:
    return intake.Received(channel, key, address, {"update_id": key},
                           {"channel": channel, "address": address, "kind": "text",
                            "update_id": key, "text": key})


async def store(sessions: async_sessionmaker[AsyncSession], *updates: intake.Received,
                now: datetime = NOW) -> int:
    async with sessions() as s:
        new = await intake.store(s, updates, now)
        await s.commit()
    return new


async def claim(sessions: async_sessionmaker[AsyncSession], worker: str, limit: int = 10,
                now: datetime = NOW) -> list[str]:
    async with sessions() as s:
        taken = await intake.claim(s, worker, now, limit, ("telegram", "whatsapp"))
        await s.commit()
    return [t.key for t in taken]


async def claimed(sessions: async_sessionmaker[AsyncSession], key: str) -> intake.Claimed:
    async with sessions() as s:
        row = await s.scalar(select(IncomingUpdate).where(IncomingUpdate.key == key))
    assert row is not None and row.claimed_by is not None
    return intake.Claimed(row.id, row.channel, row.address, row.key, row.event, row.claimed_by)


async def handle(sessions: async_sessionmaker[AsyncSession], key: str, *, release: bool = True,
                 now: datetime = NOW) -> bool:
    entry = await claimed(sessions, key)
    async with sessions() as s:
        done = await intake.mark_handled(s, entry, now)
        await s.commit()
    if release:
        async with sessions() as s:
            await intake.release(s, [entry.id], entry.worker)
            await s.commit()
    return done


async def test_an_update_offered_twice_is_stored_once_per_channel(sessions) -> None:
    assert await store(sessions, update("1", "ana"), update("2", "ana")) == 2
    assert await store(sessions, update("2", "ana"), update("3", "ana")) == 1
    assert await store(sessions, update("2", "ana", channel="whatsapp")) == 1
    async with sessions() as s:
        keys = (await s.execute(select(IncomingUpdate.channel, IncomingUpdate.key)
                                .order_by(IncomingUpdate.id))).all()
    assert keys == [("telegram", "1"), ("telegram", "2"), ("telegram", "3"),
                    ("whatsapp", "2")]


async def test_a_persons_updates_are_taken_one_at_a_time_in_order(sessions) -> None:
    await store(sessions, update("1", "ana"), update("2", "beto"), update("3", "ana"),
                update("4", "ana"), update("5", "carla", channel="whatsapp"))
    # The oldest of each person; Ana's second waits for her first.
    assert await claim(sessions, W1) == ["1", "2", "5"]
    assert await claim(sessions, W2) == []
    # Handled, but its replies not yet sent: still Ana's turn to wait.
    assert await handle(sessions, "1", release=False)
    assert await claim(sessions, W2) == []
    async with sessions() as s:
        await intake.release(s, [(await claimed(sessions, "1")).id], W1)
        await s.commit()
    assert await claim(sessions, W2) == ["3"]  # another process may take it: no stickiness
    assert await claim(sessions, W1) == []
    assert await handle(sessions, "3")
    assert await claim(sessions, W1, limit=1) == ["4"]
    async with sessions() as s:
        assert await intake.pending(s) == 3  # Beto's, Ana's last and Carla's


async def test_an_update_is_handled_once_and_a_lapsed_lease_passes_it_on(sessions) -> None:
    await store(sessions, update("1", "ana"), update("2", "ana"))
    assert await claim(sessions, W1) == ["1"]
    first = await claimed(sessions, "1")
    later = NOW + intake.LEASE + timedelta(seconds=1)
    # W1 is stuck beyond its lease: W2 takes the update over and handles it.
    assert await claim(sessions, W2, now=later) == ["1"]
    async with sessions() as s:
        assert await intake.mark_handled(s, first, later) is False  # W1's turn is not kept
        await s.rollback()
    assert await handle(sessions, "1", now=later)
    async with sessions() as s:
        assert await intake.mark_handled(s, first, later) is False  # nor later, handled now
    assert await claim(sessions, W1, now=later) == ["2"]


async def test_updates_held_by_a_process_that_died_are_given_back(sessions) -> None:
    dead = f"{socket.gethostname()}:999999999:gone"  # no such process on this machine
    await store(sessions, update("1", "ana"), update("2", "beto"))
    assert await claim(sessions, dead, limit=1) == ["1"]
    assert await claim(sessions, W1) == ["2"]
    async with sessions() as s:
        assert await intake.release_abandoned(s, NOW) == 1  # W1 is alive: its claim stays
        await s.commit()
    assert await claim(sessions, W2) == ["1"]


async def test_two_processes_claiming_at_once_never_take_the_same_update(sessions) -> None:
    await store(sessions, *(update(str(i), f"p{i % 40}") for i in range(200)))
    seen: list[str] = []
    for _ in range(6):
        rounds = await asyncio.gather(*(claim(sessions, w, limit=7) for w in (W1, W2, "c:3:x")))
        taken = [k for keys in rounds for k in keys]
        assert len(taken) == len(set(taken))
        seen += taken
        for key in taken:
            assert await handle(sessions, key)
    assert len(seen) == len(set(seen))
    firsts = {}
    for key in seen:
        firsts.setdefault(f"p{int(key) % 40}", []).append(int(key))
    assert all(keys == sorted(keys) for keys in firsts.values())


async def test_handled_updates_are_forgotten_after_the_window(sessions) -> None:
    await store(sessions, update("1", "ana"), update("2", "beto"))
    await claim(sessions, W1)
    assert await handle(sessions, "1")
    async with sessions() as s:
        assert await intake.forget_handled(s, NOW + intake.UPDATE_WINDOW) == 0
        assert await intake.forget_handled(
            s, NOW + intake.UPDATE_WINDOW + timedelta(seconds=1)) == 1  # never one unhandled
        await s.commit()
    assert await store(sessions, update("1", "ana")) == 1  # its key is new again


async def test_the_migration_keeps_handled_updates_and_message_references(any_db_url: str
                                                                           ) -> None:
    engine = db.create_engine(any_db_url)
    await db.upgrade(engine, "0009")
    at = NOW.replace(tzinfo=None)
    async with engine.begin() as conn:
        await conn.execute(text("INSERT INTO people (id, reachable, created_at) "
                                "VALUES (1, true, :at)"), {"at": at})
        await conn.execute(text(
            "INSERT INTO channel_addresses (person_id, channel, address, "
            "last_inbound_message_id, created_at) VALUES (1, 'telegram', '42', 9007199254740993, "
            ":at)"), {"at": at})
        await conn.execute(text("INSERT INTO processed_updates (channel, update_id, "
                                "processed_at) VALUES ('telegram', 123456789012, :at)"),
                           {"at": at})
    await db.upgrade(engine)
    async with db.session_factory(engine)() as s:
        ref = await s.scalar(select(ChannelAddress.last_inbound_message_id))
        [kept] = (await s.scalars(select(IncomingUpdate))).all()
    assert (kept.channel, kept.key, kept.handled_at) == ("telegram", "123456789012", NOW)
    assert await store(db.session_factory(engine), update("123456789012", "42")) == 0
    assert ref == "9007199254740993"

    def down(sync_conn: Any) -> None:
        cfg = db.alembic_config()
        cfg.attributes["connection"] = sync_conn
        command.downgrade(cfg, "0009")

    async with engine.begin() as conn:
        await conn.run_sync(down)
    async with engine.connect() as conn:
        back = (await conn.execute(text(
            "SELECT last_inbound_message_id FROM channel_addresses"))).scalar()
        updates = (await conn.execute(text("SELECT channel, update_id FROM processed_updates"))
                   ).all()
    await engine.dispose()
    assert int(back) == 9007199254740993
    assert [tuple(u) for u in updates] == [("telegram", 123456789012)]


async def test_a_process_takes_only_the_updates_of_the_channels_it_answers_on(sessions
                                                                             ) -> None:
    await store(sessions, update("1", "ana", channel="whatsapp"), update("1", "ana"))
    async with sessions() as s:
        taken = await intake.claim(s, W1, NOW, 10, ("telegram",))
        await s.commit()
    assert [(t.channel, t.key) for t in taken] == [("telegram", "1")]
