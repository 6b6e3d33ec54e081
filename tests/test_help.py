"""/ayuda lists what this person can do in their role, and nothing twice."""

from __future__ import annotations

import pytest
from core_harness import CoreHarness

from bot.app import build_app
from storage import people
from storage.models import Role


@pytest.fixture
async def core(settings_for, sqlite_url, clock):
    app = await build_app(settings_for(sqlite_url), clock=clock)
    yield CoreHarness(app)
    await app.close()


async def as_person(core: CoreHarness, address: str, *roles: Role, locale: str = "es") -> None:
    async with core.app.sessions() as s:
        p = await people.create_with_address(s, "telegram", address, core.app.clock.now(),
                                             consent_at=core.app.clock.now(), locale=locale)
        for r in roles:
            await people.grant(s, p, r, None, core.app.clock.now())
        await s.commit()


@pytest.mark.parametrize(
    ("roles", "present", "absent"),
    [
        ((), ["/idioma", "/mis_datos", "/borrar_mis_datos", "/stop"], ["/panel", "/retiro"]),
        ((Role.FAMILIA,), ["/retiro"], ["/panel", "/ficha", "/reuniones"]),
        ((Role.REPRESENTANTE, Role.GRUPO_MOTOR), ["/ficha", "/reuniones", "/asistencia"],
         ["/panel", "/retiro"]),
        ((Role.RECINTO,), ["/panel: la lista del día de entrega"], ["/etapas"]),
        ((Role.GESTORA,), ["/panel", "/etapas"], ["/retiro"]),
    ],
)
async def test_help_by_role(core: CoreHarness, roles, present, absent) -> None:
    await as_person(core, "10", *roles)
    [reply] = await core.text("10", "/ayuda")
    for cmd in present:
        assert cmd in reply.text
    for cmd in absent:
        assert cmd not in reply.text
    lines = [ln for ln in reply.text.splitlines() if ln.startswith("/")]
    assert len(lines) == len(set(lines))


async def test_help_in_english(core: CoreHarness) -> None:
    await as_person(core, "11", Role.FAMILIA, locale="en")
    [reply] = await core.text("11", "/help")
    assert reply.text.startswith("Here is what you can do:") and "/retiro: your next pickup" in reply.text
