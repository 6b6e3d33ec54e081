"""Who may do what: the roles a person holds in a programme, which of them the team may
give, and which make a member of a body. Value types and rules only; the grants themselves
are rows (storage.models.RoleGrant), given and taken back by storage.admin_meetings."""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from typing import Protocol


class Role(StrEnum):
    GESTORA = "gestora"
    COORDINADORA = "coordinadora"
    RECINTO = "recinto"
    GRUPO_MOTOR = "grupo_motor"
    CONSEJO_LOCAL = "consejo_local"
    REPRESENTANTE = "representante"
    FAMILIA = "familia"
    SUPERVISOR = "supervisor"


ADMIN_ROLES = frozenset({Role.GESTORA, Role.COORDINADORA})
# Who may open the web panel: the team, the premises' staff (the day list only) and the
# regional supervisor (who reads without changing).
PANEL_ROLES = frozenset({Role.GESTORA, Role.COORDINADORA, Role.RECINTO, Role.SUPERVISOR})

# What the team may give and take back, in the order the roles are shown. The supervisor
# comes with the premises' staff: both open the web panel only, never the chat's team panel
# (storage.programs.STAFF_ROLES leaves the supervisor out; the web panel reads read-only).
GRANTABLE: tuple[str, ...] = (
    Role.GESTORA, Role.COORDINADORA, Role.RECINTO, Role.SUPERVISOR, Role.GRUPO_MOTOR,
    Role.CONSEJO_LOCAL, Role.REPRESENTANTE, Role.FAMILIA,
)
# A role that is a seat in a body: giving it makes the person a member, taking it, not.
BODY_OF_ROLE = {Role.GRUPO_MOTOR: "grupo_motor", Role.CONSEJO_LOCAL: "consejo_local"}


class RoleError(ValueError):
    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


class Grant(Protocol):
    @property
    def role(self) -> str: ...

    @property
    def program_id(self) -> int | None: ...


def counts_here(grant: Grant, program_id: int) -> bool:
    """A grant of no programme (the installation's) counts in every programme."""
    return grant.program_id in (None, program_id)


def roles_here(grants: Iterable[Grant], program_id: int) -> list[str]:
    """The roles these grants give in this programme (global grants included), in
    GRANTABLE order."""
    held = {g.role for g in grants if counts_here(g, program_id)}
    return [r for r in (*GRANTABLE, *sorted(held - set(GRANTABLE))) if r in held]
