"""Every admin entry point, for everyone who is not on the team: a polite refusal, a line in
the audit log, and nothing else. The sections come from the live registry, so a new one is
covered the day it is added."""

from __future__ import annotations

import pytest
from core_harness import CoreHarness
from sqlalchemy import func, select

from bot.app import build_app
from handlers.admin import SECTIONS, STAFF, action
from handlers.events import EventKind
from storage import people
from storage.models import AuditEntry, Role

REFUSED = "Eso lo puede hacer solo el equipo del programa"


@pytest.fixture
async def core(settings_for, sqlite_url, clock):
    app = await build_app(settings_for(sqlite_url), clock=clock)
    yield CoreHarness(app)
    await app.close()


async def person(core: CoreHarness, address: str, *roles: Role) -> int:
    async with core.app.sessions() as s:
        p = await people.create_with_address(s, "telegram", address, core.app.clock.now(),
                                             consent_at=core.app.clock.now(), locale="es")
        for r in roles:
            await people.grant(s, p, r, None, core.app.clock.now())
        await s.commit()
        return p.id


async def audit_count(core: CoreHarness) -> int:
    async with core.app.sessions() as s:
        return await s.scalar(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.action == "admin_refused"))


@pytest.mark.parametrize("roles", [(Role.FAMILIA,), (Role.REPRESENTANTE, Role.GRUPO_MOTOR),
                                   (Role.CONSEJO_LOCAL,), ()],
                         ids=["family", "representative", "consejo", "no-role"])
async def test_every_section_and_admin_command_is_refused(core: CoreHarness, roles) -> None:
    assert len(SECTIONS) >= 6  # the registry is populated by build_router()
    pid = await person(core, "77", *roles)
    before = await audit_count(core)
    tried = 0
    for command in ("/panel", "/etapas"):
        [reply] = await core.text("77", command)
        assert reply.text.startswith(REFUSED), command
        tried += 1
    for key in SECTIONS:
        for parts in ((), ("list",), ("1",), ("new",)):
            payload = core.app.services.buttons.pack(pid, action(key, *parts))
            replies = await core.event("77", EventKind.BUTTON, button=payload)
            assert [r.text for r in replies] and replies[0].text.startswith(REFUSED), key
            tried += 1
    assert await audit_count(core) - before == tried


async def test_the_premises_staff_see_only_their_sections(core: CoreHarness) -> None:
    pid = await person(core, "78", Role.RECINTO)
    [menu] = await core.text("78", "/panel")
    labels = [label for label, _ in menu.buttons]
    staff_sections = [s for s in SECTIONS.values() if s.roles & STAFF - {Role.GESTORA,
                                                                          Role.COORDINADORA}]
    assert len(labels) == len(staff_sections) >= 1
    for key, sec in SECTIONS.items():
        if Role.RECINTO in sec.roles:
            continue
        payload = core.app.services.buttons.pack(pid, action(key))
        [reply] = await core.event("78", EventKind.BUTTON, button=payload)
        assert reply.text.startswith(REFUSED), key
