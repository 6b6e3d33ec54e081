"""The intake as real processes (`convoca run`) against the fake Bot API: an update Telegram
was told arrived is answered exactly once even when the process is killed before answering
it, by long polling and by webhook; and two processes on one PostgreSQL database, each
receiving every other update of the same people, answer each update once and in order."""

from __future__ import annotations

import asyncio
import signal
from typing import Any

import aiohttp
from test_process import rows_of, seed_people, spawn  # noqa: F401  (spawn is a fixture)
from test_webhook import SECRET, free_port

from storage.models import IncomingUpdate

CHAT = 4343
HELP = "Esto es lo que puedes hacer"
LANGUAGE = "¿En qué idioma prefieres que te escriba?"


def webhook_env(port: int) -> dict[str, str]:
    return {"WEBHOOK_URL": "https://convoca.example.org", "WEBHOOK_SECRET": SECRET,
            "WEBHOOK_LISTEN": f"127.0.0.1:{port}"}


def command_update(update_id: int, chat: int, command: str) -> dict[str, Any]:
    """A command as Telegram posts it to a webhook (the message numbered as the update)."""
    return {"update_id": update_id, "message": {
        "message_id": update_id, "date": 1_770_000_000, "text": command,
        "entities": [{"type": "bot_command", "offset": 0, "length": len(command)}],
        "chat": {"id": chat, "type": "private", "first_name": "Ana"},
        "from": {"id": chat, "is_bot": False, "first_name": "Ana"}}}


async def post(http: aiohttp.ClientSession, port: int, body: dict[str, Any]) -> int:
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
    for _ in range(300):  # a process starting takes a few seconds to listen
        try:
            async with http.post(f"http://127.0.0.1:{port}/telegram", json=body,
                                 headers=headers) as resp:
                return resp.status
        except aiohttp.ClientConnectionError:
            await asyncio.sleep(0.1)
    raise AssertionError(f"nothing listens on port {port}")


async def stall_replies(fake, chat: int) -> None:
    """The Bot API takes the chat's next reply and never answers (until the fake stops)."""
    fake.timeout_hold = 120.0
    fake.inject("timeout", method="sendMessage", chat_id=chat)


async def stalled(fake, chat: int) -> None:
    await fake.wait_for(lambda r: r.method == "sendMessage" and r.chat_id == chat
                        and r.outcome == "timeout", timeout=60)


async def kill(proc) -> None:
    proc.send_signal(signal.SIGKILL)
    await proc.wait()


async def answered_once(fake, proc, chat: int) -> list[str]:
    await fake.wait_for_sent(chat, 1, timeout=90)
    await asyncio.sleep(2.0)  # a second answer would arrive now
    proc.send_signal(signal.SIGTERM)
    await asyncio.wait_for(proc.wait(), 30)
    return fake.texts(chat)


async def stored_updates(url: str) -> list[IncomingUpdate]:
    return await rows_of(url, IncomingUpdate)


async def test_polling_sigkill_after_the_offset_moved_and_before_the_reply(
        fake_tg, sqlite_url, spawn) -> None:  # noqa: F811
    proc = await spawn(fake_tg, sqlite_url)
    await fake_tg.wait_for_poll(timeout=60)
    fake_tg.add_chat(CHAT)
    await stall_replies(fake_tg, CHAT)
    fake_tg.command(CHAT, "/start")
    await stalled(fake_tg, CHAT)
    # Telegram was told (a later getUpdates offset), the person has no answer yet.
    await fake_tg.wait_for(lambda _r: fake_tg.pending_updates == 0, timeout=30)
    assert fake_tg.delivered(CHAT) == []
    await kill(proc)
    fake_tg.clear_faults()
    [text] = await answered_once(fake_tg, await spawn(fake_tg, sqlite_url), CHAT)
    assert text.startswith("¡Hola! Soy Convoca")
    [row] = await stored_updates(sqlite_url)
    assert row.handled_at is not None and row.payload["message"]["text"] == "/start"


async def test_polling_sigkill_as_soon_as_the_offset_moved(fake_tg, sqlite_url,
                                                           spawn) -> None:  # noqa: F811
    """Killed at the first sign of the acknowledgement, wherever the turn is then."""
    proc = await spawn(fake_tg, sqlite_url)
    await fake_tg.wait_for_poll(timeout=60)
    fake_tg.add_chat(CHAT)
    fake_tg.command(CHAT, "/start")
    await fake_tg.wait_for(lambda _r: fake_tg.pending_updates == 0, timeout=30)
    await kill(proc)
    [text] = await answered_once(fake_tg, await spawn(fake_tg, sqlite_url), CHAT)
    assert text.startswith("¡Hola! Soy Convoca")


async def test_webhook_sigkill_after_the_200_and_before_the_reply(fake_tg, sqlite_url,
                                                                  spawn) -> None:  # noqa: F811
    port = free_port()
    proc = await spawn(fake_tg, sqlite_url, **webhook_env(port))
    fake_tg.add_chat(CHAT)
    await stall_replies(fake_tg, CHAT)
    async with aiohttp.ClientSession() as http:
        assert await post(http, port, command_update(501, CHAT, "/start")) == 200
    # The 200 came with the person still unanswered: only the database has the update.
    assert fake_tg.delivered(CHAT) == []
    await stalled(fake_tg, CHAT)
    await kill(proc)
    fake_tg.clear_faults()
    again = await spawn(fake_tg, sqlite_url, **webhook_env(free_port()))
    [text] = await answered_once(fake_tg, again, CHAT)
    assert text.startswith("¡Hola! Soy Convoca")


async def test_webhook_sigkill_the_moment_the_200_arrives(fake_tg, sqlite_url,
                                                        spawn) -> None:  # noqa: F811
    """Killed at the first sign of the acknowledgement, most likely before the turn began:
    the update is in the database only, and the restarted process answers it once."""
    port = free_port()
    proc = await spawn(fake_tg, sqlite_url, **webhook_env(port))
    fake_tg.add_chat(CHAT)
    async with aiohttp.ClientSession() as http:
        assert await post(http, port, command_update(502, CHAT, "/start")) == 200
    await kill(proc)
    assert fake_tg.delivered(CHAT) == []
    [row] = await stored_updates(sqlite_url)
    assert row.key and row.payload["message"]["text"] == "/start"
    again = await spawn(fake_tg, sqlite_url, **webhook_env(free_port()))
    [text] = await answered_once(fake_tg, again, CHAT)
    assert text.startswith("¡Hola! Soy Convoca")


async def test_two_processes_on_postgresql_answer_each_update_once_and_in_order(
        fake_tg, postgres_url, spawn) -> None:  # noqa: F811
    people, rounds = 4, 6
    await seed_people(postgres_url, fake_tg, people)
    chats = [700_000 + i for i in range(people)]
    ports = [free_port(), free_port()]
    procs = [await spawn(fake_tg, postgres_url, **webhook_env(p)) for p in ports]
    commands = ["/ayuda", "/idioma"] * (rounds // 2)

    async def person(http: aiohttp.ClientSession, n: int, chat: int) -> None:
        for i, command in enumerate(commands):
            # Each update to the other process than the one before: no sticky routing.
            update_id = 10_000 + n * 100 + i
            assert await post(http, ports[i % 2], command_update(update_id, chat, command)
                              ) == 200

    async with aiohttp.ClientSession() as http:
        await asyncio.gather(*(person(http, n, chat) for n, chat in enumerate(chats)))
    await fake_tg.wait_for(lambda _r: len(fake_tg.delivered()) >= people * rounds,
                           timeout=120)
    await asyncio.sleep(2.0)  # a duplicate would arrive now
    for p in procs:
        p.send_signal(signal.SIGTERM)
    await asyncio.wait_for(asyncio.gather(*(p.wait() for p in procs)), 30)
    for chat in chats:
        texts = fake_tg.texts(chat)
        assert len(texts) == rounds, texts
        assert all(t.startswith(HELP) for t in texts[0::2]), texts
        assert all(t == LANGUAGE for t in texts[1::2]), texts
    # Each process stored the updates posted to it; whichever was free handled them.
    rows = await stored_updates(postgres_url)
    assert len(rows) == people * rounds and all(r.handled_at for r in rows)
