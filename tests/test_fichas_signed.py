"""One meaning of "a signed ficha" (storage.fichas.signed), shared by the catastro's filter
and column, the stage timeline's verifier, the verificadores and the progress figures: a
Ficha de Interés sealed with its sender's signature, counted once per organisation through
its corrections, and as of a date by the version it had then. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime

from storage import catastro, programs, reports, stages
from storage.catastro import Filters
from storage.models import FormDefinition, FormResponse, Organization, Person

NOW = datetime(2026, 3, 2, 12, tzinfo=UTC)


def on(day: int) -> datetime:
    return datetime(2026, 3, day, 15, tzinfo=UTC)


async def _seed(s) -> tuple[int, dict[str, int]]:
    program = await programs.create(s, template="ecomercado-15m", start=date(2026, 3, 2),
                                    name="Ecomercado Peñalolén", now=NOW)
    orgs = {name: Organization(program_id=program.id, name=name, created_at=NOW)
            for name in ("Corrigió", "Borrador", "Una vez")}
    sender = Person(name="Rosa Pizarro", program_id=program.id, created_at=NOW)
    s.add_all([*orgs.values(), sender])
    form = FormDefinition(key="ficha_interes", version=1, definition={}, created_at=NOW)
    s.add(form)
    await s.flush()

    async def ficha(status: str, day: int | None, org: str | None = None,
                    replaces: FormResponse | None = None) -> FormResponse:
        row = FormResponse(form_id=form.id, person_id=sender.id, status=status,
                           organization_id=orgs[org].id if org else None,
                           program_id=program.id, answers={}, started_at=NOW,
                           updated_at=NOW, submitted_at=on(day) if day else None,
                           supersedes_id=replaces.id if replaces else None,
                           version=2 if replaces else 1)
        s.add(row)
        await s.flush()
        return row

    first = await ficha("superseded", 6, "Corrigió")
    await ficha("submitted", 15, "Corrigió", replaces=first)  # the correction, later
    await ficha("draft", None, "Borrador")  # begun, never signed
    await ficha("submitted", 6, "Una vez")
    sent = await ficha("superseded", 6)  # from an organisation not in the catastro
    await ficha("submitted", 8, replaces=sent)
    await s.commit()
    return program.id, {name: o.id for name, o in orgs.items()}


async def test_every_count_of_signed_fichas_means_the_same(sessions) -> None:
    async with sessions() as s:
        pid, ids = await _seed(s)
        # The catastro's table, today: the filter and the column agree.
        signed = await catastro.organizations(s, pid, Filters(ficha=True))
        unsigned = await catastro.organizations(s, pid, Filters(ficha=False))
        assert sorted(r.name for r in signed) == ["Corrigió", "Una vez"]
        assert [r.name for r in unsigned] == ["Borrador"]
        every = await catastro.organizations(s, pid, Filters())
        assert {r.name: r.ficha for r in every} == {
            "Corrigió": True, "Borrador": False, "Una vez": True}
        assert await catastro.count_organizations(s, pid, Filters(ficha=True)) == 2
        # Today the verificadores list the valid version of each, and the stages count
        # each ficha once whatever its corrections: two organisations and one not listed.
        latest = await reports.latest_fichas(s, pid, until=on(20), unlinked=True)
        assert sorted(r.version for r in latest) == [1, 2, 2]
        assert await stages._fichas(s, pid, on(20)) == 3
        # As of the 10th, before the correction: "Corrigió" had signed its first version.
        then = await reports.latest_fichas(s, pid, until=on(10))
        assert {(r.organization_id, r.version) for r in then} == {
            (ids["Corrigió"], 1), (ids["Una vez"], 1)}
        assert await stages._fichas(s, pid, on(10)) == 3
        # Before anything was signed, nothing counts.
        assert await stages._fichas(s, pid, on(5)) == 0
        assert await reports.latest_fichas(s, pid, until=on(5), unlinked=True) == []
