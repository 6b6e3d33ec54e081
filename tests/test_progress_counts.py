"""The progress report counts as the lists do (issue 10): a delivery day's families are
counted as its list shows them, "did not come" after the window included, as they stood
at the cut-off."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from test_exports import NOW, Seed, read_pdf, read_xlsx, seed_programme, sheet_rows, utc

from locales import Catalogs
from storage import db, exports
from storage.models import Pickup


@pytest.fixture
async def seeded(any_db_url: str) -> Any:
    engine = db.create_engine(any_db_url)
    await db.upgrade(engine)
    yield await seed_programme(db.session_factory(engine))
    await engine.dispose()


@pytest.fixture(scope="module")
def catalogs() -> Catalogs:
    return Catalogs()


SUMMARY = re.compile(
    r"Familias: (\d+) · Confirmaron: (\d+) · No pueden o piden otra fecha: (\d+) · "
    r"Sin respuesta: (\d+) · Retiraron: (\d+) · No vinieron: (\d+) · Pasaron a otro día: (\d+)")


@pytest.mark.parametrize("cut", [NOW, utc(2026, 6, 20, 12)], ids=["now", "on-20-june"])
async def test_each_delivery_day_counts_as_its_list_shows_it(
        seeded: Seed, catalogs: Catalogs, tmp_path: Path, cut: datetime) -> None:
    # On 20 June D3 (30 June) still stood: it was cancelled on the 25th.
    shown = ("D1", "D3", "D2") if cut < NOW else ("D1", "D2")
    async with seeded.sessions() as s:
        f = await exports.progress_figures(s, seeded.program_id, cut)
        report = await exports.progress_report(s, seeded.program_id, "xlsx", now=cut,
                                               catalogs=catalogs)
        lists = [await exports.delivery_day_list(s, seeded.days[d], "pdf", now=cut,
                                                 catalogs=catalogs) for d in shown]
    on_the_lists = []
    for i, export in enumerate(lists):
        (tmp_path / str(i)).mkdir()
        text, _, _ = read_pdf(export, tmp_path / str(i))
        [found] = SUMMARY.findall(str(text))
        on_the_lists.append(tuple(int(n) for n in found))
    # D1 is over and F5 picked up: everyone still expected did not come (F1, F3 with its
    # proxy, F7 never answered, F8 never told; F6 was marked so).
    assert on_the_lists[0] == (8, 0, 2, 0, 1, 5, 0)
    assert on_the_lists[-1] == (3, 2, 0, 1, 0, 0, 0)
    # Who came, who did not and who is still expected, as on the list; then every group.
    assert [(d["families"], d["confirmed"], d["picked_up"], d["no_show"])
            for d in f["delivery_days"]] == [(n[0], n[1], n[4], n[5]) for n in on_the_lists]
    keys = ("families", "confirmed", "cannot", "no_answer", "picked_up", "no_show", "moved")
    assert [tuple(d[k] for k in keys) for d in f["delivery_days"]] == on_the_lists
    days = sheet_rows(read_xlsx(report)["Días de entrega"])
    assert days[0] == ["Fecha", "Familias", "Avisadas", "Confirmaron",
                       "No pueden o piden otra fecha", "Sin respuesta", "Retiraron",
                       "No vinieron", "Pasaron a otro día"]
    assert [tuple(r[1:2] + r[3:]) for r in days[1:]] == on_the_lists
    assert [r[2] for r in days[1:]] == ([7, 1, 3] if cut < NOW else [7, 3])  # told of it


async def test_a_hand_over_noted_after_the_cut_off_is_not_counted_by_then(seeded: Seed) -> None:
    # The staff noted F5's pickup the next morning: on the evening of D1 nobody had been
    # marked as picked up, so nobody was yet known not to have come, except F6 (marked so).
    async with seeded.sessions() as s:
        [f5] = [p for p in await s.scalars(select(Pickup).where(
            Pickup.delivery_day_id == seeded.days["D1"], Pickup.status == "picked_up"))]
        f5.handed_at = utc(2026, 6, 17, 13)
        await s.commit()
        evening = await exports.progress_figures(s, seeded.program_id, utc(2026, 6, 16, 22))
        morning = await exports.progress_figures(s, seeded.program_id, utc(2026, 6, 17, 14))
    keys = ("families", "confirmed", "cannot", "no_answer", "picked_up", "no_show", "moved")
    assert tuple(evening["delivery_days"][0][k] for k in keys) == (8, 3, 2, 2, 0, 1, 0)
    assert tuple(morning["delivery_days"][0][k] for k in keys) == (8, 0, 2, 0, 1, 5, 0)
    assert (evening["families"]["served"], morning["families"]["served"]) == (0, 1)
