"""Whether the staff kept a day's list is decided once (pickups.kept_lists), for the
scheduler's "no alcanzamos a verte" and for every list and report that says "did not come":
they cannot drift apart."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta

import pytest

from documents import exports
from locales import Catalogs
from scheduler.planner import Planner
from storage import people, pickups, programs, progress
from storage.models import DeliveryDay, Family, Pickup, PickupStatus, Role

# Thursday 5 March 2026, 10:00 to 12:00 in Santiago (UTC-3).
OPENS = datetime(2026, 3, 5, 13, tzinfo=UTC)
CLOSES = OPENS + timedelta(hours=2)
AFTER = CLOSES + timedelta(hours=3)


async def a_day_nobody_marked(sessions) -> tuple[int, int, int]:
    """A day over with two families who confirmed and nobody marked as picked up."""
    created = datetime(2026, 3, 1, 12, tzinfo=UTC)
    async with sessions() as s:
        program = await programs.create(s, template="ecomercado-15m", start=date(2026, 3, 2),
                                        name="Ecomercado Quilpué", now=created)
        person = await people.create_with_address(s, "telegram", "7101", created,
                                                   name="María José González", locale="es",
                                                   consent_at=created, program_id=program.id)
        await people.grant(s, person, Role.FAMILIA, program.id, created)
        day = DeliveryDay(program_id=program.id, window_start=OPENS, window_end=CLOSES,
                          created_at=created)
        s.add(day)
        for name, person_id in (("González Soto", person.id), ("Muñoz Rojas", None)):
            family = Family(program_id=program.id, name=name, person_id=person_id,
                            created_at=created)
            s.add(family)
            await s.flush()
            s.add(Pickup(delivery_day_id=day.id, family_id=family.id,
                         status=PickupStatus.CONFIRMED, notified_at=created,
                         responded_at=created))
        await s.commit()
        return program.id, day.id, person.id


async def what_each_says(sessions, program_id: int, day_id: int, person_id: int
                         ) -> tuple[bool, list[str], list[str], dict]:
    """(the scheduler says "we missed you", the chat's list, the exported list, the report's
    row for the day)."""
    async with sessions() as s:
        notices = await Planner(s).window(CLOSES, AFTER)
        missed = any(n.kind == "pickup_missed" and n.person_id == person_id for n in notices)
        chat = [r.status for r in await pickups.day_list(s, day_id, AFTER)]
        export = await exports.delivery_day_list(s, day_id, "csv", now=AFTER,
                                                 catalogs=Catalogs())
        figures = await progress.progress_figures(s, program_id, AFTER)
    rows = export.content.decode("utf-8-sig").splitlines()[1:]
    # N°, recipient, RUT, family, sector, mode, then the status.
    return missed, chat, [r.split(";")[6] for r in rows], figures["delivery_days"][0]


async def test_the_scheduler_and_the_lists_ask_the_same_question(
        sessions, monkeypatch: pytest.MonkeyPatch) -> None:
    program_id, day_id, person_id = await a_day_nobody_marked(sessions)

    # Nobody was marked: nobody is told "we missed you", nobody is listed as not come.
    missed, chat, export, row = await what_each_says(sessions, program_id, day_id, person_id)
    assert not missed
    assert chat == [PickupStatus.CONFIRMED] * 2 and export == ["Confirmó"] * 2
    assert (row["confirmed"], row["no_show"]) == (2, 0)

    # Were the rule to say the list was kept, every one of them would follow it at once.
    async def every_day_kept(session, delivery_day_ids: Iterable[int], *,
                             as_of: datetime | None = None) -> set[int]:
        return set(delivery_day_ids)

    monkeypatch.setattr(pickups, "kept_lists", every_day_kept, raising=False)
    missed, chat, export, row = await what_each_says(sessions, program_id, day_id, person_id)
    assert missed
    assert chat == [PickupStatus.NO_SHOW] * 2 and export == ["No vino"] * 2
    assert (row["confirmed"], row["no_show"]) == (0, 2)
