"""The gestora sees, in the bot, which messages did not arrive and why."""

from __future__ import annotations

import pytest
from core_harness import CoreHarness

from bot.app import build_app
from scheduler.dispatcher import Blocked, Dispatcher, Rejected, Transient
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
    carla = await add(core, "4", "Carla Rojas")
    await enqueue_many(core.app.sessions, [(ana, "2"), (beto, "3"), (beto, "3")], now)
    await enqueue_many(core.app.sessions, [(carla, "4")], now, kind="meeting_reminder",
                       key_prefix="r", batch=None)
    chan = ScriptedChannel(script={"2": [Blocked("Forbidden: bot was blocked by the user")],
                                   "3": [Transient("502 Bad Gateway")],
                                   "4": [Rejected("Bad Request: message is too long")]})
    await Dispatcher(core.app.sessions, core.app.clock, [chan], max_attempts=1).drain()
    async with core.app.sessions() as s:
        rows = await outbox.upcoming(s, 10)
        assert rows == []
        counts = await outbox.counts(s)
    assert counts[("broadcast", OutboxStatus.FAILED)] == 2
    await core.text("1", "/panel")
    [reply] = await core.press("1", "📬 Envíos con problemas")
    assert "1 entregados" in reply.text and "3 fallidos" in reply.text
    # What each message was and why it failed, in words: no kind's code (broadcast,
    # meeting_reminder), no error of Telegram's in English.
    assert ("Ana Muñoz · mensaje del equipo: bloqueó el bot o dejó de usar la aplicación de "
            "mensajería; ya no le llegan mensajes.") in reply.text
    assert ("Beto Soto · mensaje del equipo: la aplicación de mensajería no lo aceptó o no "
            "respondió. Si vuelve a pasar, avísale a quien administra Convoca.") in reply.text
    assert ("Carla Rojas · recordatorio de reunión: la aplicación de mensajería no lo aceptó o "
            "no respondió.") in reply.text
    for raw in ("broadcast", "meeting_reminder", "Forbidden", "Bad Gateway", "Bad Request"):
        assert raw not in reply.text


async def test_others_cannot_see_them(core: CoreHarness) -> None:
    await add(core, "5", "Familia", Role.FAMILIA)
    [reply] = await core.text("5", "/panel")
    assert reply.text.startswith("Eso lo puede hacer solo el equipo")


def _kinds_queued_in_code() -> set[str]:
    """The kind of every message the code queues: enqueue(..., kind=...) and the scheduler's
    Notice("kind", ...), with a module's constants (PROGRESS_KIND) read through."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    found: set[str] = set()
    for path in [p for d in ("handlers", "services", "scheduler", "storage", "bot")
                 for p in (root / d).rglob("*.py")]:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        constants = {t.id: node.value.value for node in tree.body
                     if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
                     for t in node.targets if isinstance(t, ast.Name)}
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
            values = []
            if name in ("enqueue", "enqueue_for_person", "row_values"):
                values = [k.value for k in node.keywords if k.arg == "kind"]
            elif name == "Notice" and node.args:
                values = [node.args[0]]
            for v in values:
                if isinstance(v, ast.Constant) and isinstance(v.value, str):
                    found.add(v.value)
                elif isinstance(v, ast.Name) and isinstance(constants.get(v.id), str):
                    found.add(constants[v.id])
    return found


def test_every_kind_of_message_has_its_words_in_both_languages() -> None:
    from locales import Catalogs
    from services import notices
    from services.outbox import KINDS

    queued = _kinds_queued_in_code()
    assert {"reply", "broadcast_progress", "meeting_reminder", "weekly_digest"} <= queued
    assert queued | set(notices.BUILDERS) <= set(KINDS)
    catalogs = Catalogs()
    for loc in ("es", "en"):
        assert {f"outbox.kind.{k}" for k in (*KINDS, "other")} <= catalogs.keys(loc)
