"""The panel's sections: what each is called, who may read it, who may change things in it.
Pages register here; the navigation, the guards and the tests read the same table."""

from __future__ import annotations

from dataclasses import dataclass

from domain.roles import Role

TEAM = frozenset({Role.GESTORA, Role.COORDINADORA})
READERS = TEAM | {Role.SUPERVISOR}  # the supervisor reads everything, changes nothing


@dataclass(frozen=True)
class Section:
    key: str  # its path under /web/p/<programme>/, and its id in the navigation
    label: str  # message key
    order: int
    read: frozenset[str] = READERS
    write: frozenset[str] = TEAM


SECTIONS: dict[str, Section] = {}


def register(section: Section) -> Section:
    if section.key in SECTIONS:
        raise ValueError(f"two panel sections are called {section.key!r}")
    SECTIONS[section.key] = section
    return section


HOME = register(Section("inicio", "web.nav.home", 10))
PEOPLE = register(Section("organizaciones", "web.nav.people", 20))
MEETINGS = register(Section("reuniones", "web.nav.meetings", 30))
MESSAGES = register(Section("mensajes", "web.nav.messages", 40))
# The premises' staff see and mark the day list only (the page checks which view).
DELIVERIES = register(Section("entregas", "web.nav.deliveries", 50,
                              read=READERS | {Role.RECINTO}, write=TEAM | {Role.RECINTO}))
STAGES = register(Section("etapas", "web.nav.stages", 60))
PLANS = register(Section("planes", "web.nav.plans", 70))
DOCUMENTS = register(Section("documentos", "web.nav.documents", 80))


def visible(roles: frozenset[str]) -> list[Section]:
    return sorted((s for s in SECTIONS.values() if s.read & roles), key=lambda s: s.order)
