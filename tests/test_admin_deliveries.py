"""The gestora sees, in the bot, which messages did not arrive and why."""

from __future__ import annotations

import pytest
from core_harness import CoreHarness

from bot.app import build_app
from scheduler.dispatcher import Blocked, Dispatcher, Transient
from storage import outbox, people
from storage.models import OutboxStatus, Role
from support import ScriptedChannel, enqueue_many


@pytest.fixture
async def core(settings_for, sqlite_url, clock):
    app = await build_app(settings_for(sqlite_url), clock=clock)
    yield CoreHarness(app)
    await app.close()


async def add(core: CoreHarness, address: str, name: str, *roles: Role) -> int:
    async with core.app.sessions() as s:
        p = await people.create_with_address(s, "telegram", address, core.app.clock.now(),
                                             name=name, consent_at=core.app.clock.now(),
                                             locale="es")
        for r in roles:
            await people.grant(s, p, r, None, core.app.clock.now())
        await s.commit()
        return p.id


async def test_failed_and_uncertain_deliveries_with_their_reasons(core: CoreHarness) -> None:
    now = core.app.clock.now()
    await add(core, "1", "Daniela", Role.GESTORA)
    ana = await add(core, "2", "Ana Muñoz")
    beto = await add(core, "3", "Beto Soto")
    await enqueue_many(core.app.sessions, [(ana, "2"), (beto, "3"), (beto, "3")], now)
    chan = ScriptedChannel(script={"2": [Blocked("Forbidden: bot was blocked by the user")],
                                   "3": [Transient("502 Bad Gateway")]})
    await Dispatcher(core.app.sessions, core.app.clock, [chan], max_attempts=1).drain()
    async with core.app.sessions() as s:
        rows = await outbox.upcoming(s, 10)
        assert rows == []
        counts = await outbox.counts(s)
    assert counts[("broadcast", OutboxStatus.FAILED)] == 2
    await core.text("1", "/panel")
    [reply] = await core.press("1", "📬 Envíos con problemas")
    assert "1 entregados" in reply.text and "2 fallidos" in reply.text
    assert "Ana Muñoz · broadcast: Forbidden: bot was blocked by the user" in reply.text
    assert "Beto Soto · broadcast: 502 Bad Gateway" in reply.text


async def test_others_cannot_see_them(core: CoreHarness) -> None:
    await add(core, "5", "Familia", Role.FAMILIA)
    [reply] = await core.text("5", "/panel")
    assert reply.text.startswith("Eso lo puede hacer solo el equipo")
