"""How the team sees a person named, on every surface."""

from __future__ import annotations

from locales import Msg, Raw
from storage.models import Person


def person_name(person: Person) -> Msg:
    if person.name:
        return Msg("adm_roles.name", {"name": Raw(person.name)})
    return Msg("adm_roles.unnamed", {"id": str(person.id)})


def person_label(person: Person) -> Msg:
    # The last digits tell apart two people with the same name without showing the number.
    if person.phone and len(person.phone) >= 4:
        return Msg("adm_roles.person_phone", {"name": person_name(person),
                                              "tail": Raw(person.phone[-4:])})
    return person_name(person)
