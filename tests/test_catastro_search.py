"""The panel's organisations and families tables search as the chat's people search does:
accents and case aside ("gonzalez" finds "González", "nunoa" finds "Ñuñoa"), every word
typed in the name or the sector, on SQLite and on PostgreSQL alike (storage.folding)."""

from __future__ import annotations

import unicodedata
from datetime import date

import pytest

from domain.turnout import fold_name
from storage import catastro, folding, programs
from storage.catastro import Filters
from storage.models import Family, Organization


async def _seed(s, now) -> int:
    program = await programs.create(s, template="ecomercado-10m", start=date(2026, 3, 2),
                                    name="Ecomercado Quilpué", now=now)
    s.add_all([
        Family(program_id=program.id, name="Rosa González", sector="Villa Ñuñoa",
               rut="12.345.678-5", created_at=now),
        Family(program_id=program.id, name="JOSÉ MUÑOZ", sector="Lo Hermida", created_at=now),
        # Typed decomposed: an "e" and a combining acute accent.
        Family(program_id=program.id, name=unicodedata.normalize("NFD", "Inés Pérez"),
               sector=None, created_at=now),
        Family(program_id=program.id, name="Juan Soto", sector="Villa Sur", created_at=now),
        Organization(program_id=program.id, name="Junta de Vecinos Ñuñoa Alto",
                     sector="Ñuñoa", created_at=now),
        Organization(program_id=program.id, name="Club 50% Feliz", created_at=now),
    ])
    await s.commit()
    return program.id


async def _families(s, pid: int, q: str) -> list[str]:
    rows = await catastro.families(s, pid, Filters(q=q))
    assert await catastro.count_families(s, pid, Filters(q=q)) == len(rows)
    return sorted(unicodedata.normalize("NFC", r.name) for r in rows)


async def _organizations(s, pid: int, q: str) -> list[str]:
    rows = await catastro.organizations(s, pid, Filters(q=q))
    assert await catastro.count_organizations(s, pid, Filters(q=q)) == len(rows)
    return sorted(r.name for r in rows)


async def test_search_ignores_accents_and_case_on_every_database(sessions, clock) -> None:
    async with sessions() as s:
        pid = await _seed(s, clock.now())
        assert await _families(s, pid, "gonzalez") == ["Rosa González"]
        assert await _families(s, pid, "GONZÁLEZ") == ["Rosa González"]
        assert await _families(s, pid, "nunoa") == ["Rosa González"]  # by the sector
        assert await _families(s, pid, "muñoz") == ["JOSÉ MUÑOZ"]
        assert await _families(s, pid, "jose munoz") == ["JOSÉ MUÑOZ"]
        assert await _families(s, pid, "perez ines") == ["Inés Pérez"]
        assert await _families(s, pid, "villa") == ["Juan Soto", "Rosa González"]
        assert await _families(s, pid, "rosa sur") == []  # every word must be there
        assert await _families(s, pid, "12345678") == ["Rosa González"]  # the RUT's digits
        assert await _organizations(s, pid, "nunoa alto") == ["Junta de Vecinos Ñuñoa Alto"]
        # LIKE's own characters are taken as typed.
        assert await _organizations(s, pid, "50%") == ["Club 50% Feliz"]
        assert await _organizations(s, pid, "%") == ["Club 50% Feliz"]
        assert await _organizations(s, pid, "_") == []


@pytest.mark.parametrize("text", ["Núñez", "ÁLVAREZ", "Çelik", "Ñuñoa", "Zúñiga", "Ø"])
def test_the_postgresql_table_folds_as_the_chat_does(text: str) -> None:
    table = str.maketrans(folding.TRANSLATE_FROM[:len(folding.TRANSLATE_TO)],
                          folding.TRANSLATE_TO,
                          folding.TRANSLATE_FROM[len(folding.TRANSLATE_TO):])
    for form in ("NFC", "NFD"):
        typed = unicodedata.normalize(form, text)
        assert typed.translate(table).lower() == fold_name(typed)
