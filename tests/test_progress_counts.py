"""The progress report counts as the lists do (issue 10): a session's figures are the one
tally of the board and the attendance list, written-in walk-ins included, as they stood at
the cut-off; a delivery day's families are counted as its list shows them, "did not come"
after the window included."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from test_exports import NOW, Seed, read_pdf, read_xlsx, seed_programme, table_rows, utc

from documents import exports
from locales import Catalogs
from storage import admin_meetings, db, progress
from storage.models import AttendanceGuest, Meeting, Pickup


@pytest.fixture
async def seeded(any_db_url: str) -> Any:
    engine = db.create_engine(any_db_url)
    await db.upgrade(engine)
    yield await seed_programme(db.session_factory(engine))
    await engine.dispose()


@pytest.fixture(scope="module")
def catalogs() -> Catalogs:
    return Catalogs()


async def write_in(seeded: Seed, meeting: str, name: str, added: datetime) -> None:
    async with seeded.sessions() as s:
        s.add(AttendanceGuest(meeting_id=seeded.meetings[meeting], name=name,
                              organization="Club de Adulto Mayor Los Aromos", added_at=added))
        await s.commit()


async def test_written_in_walk_ins_count_in_the_progress_report_as_on_the_list(
        seeded: Seed, catalogs: Catalogs, tmp_path: Path) -> None:
    # M1 (held): one walk-in in Convoca already; now one more written in by hand.
    await write_in(seeded, "M1", "Juan Pérez Rojas", utc(2026, 3, 10, 23))
    # M6 (Grupo Motor, 7 July, left "scheduled"): nobody marked, one person written in.
    await write_in(seeded, "M6", "Rosa Lagos Díaz", utc(2026, 7, 7, 23))
    # M2: written in after the cut-off (NOW), so not in the report as of NOW.
    await write_in(seeded, "M2", "Luis Soto Vera", utc(2026, 7, 11, 12))
    m = seeded.meetings
    async with seeded.sessions() as s:
        f = await progress.progress_figures(s, seeded.program_id, NOW)
        report = await exports.progress_report(s, seeded.program_id, "xlsx", now=NOW,
                                               catalogs=catalogs)
        listed = await exports.attendance_list(s, m["M1"], "pdf", now=NOW, catalogs=catalogs)
        tallies = {mid: (await admin_meetings.board(s, await s.get(Meeting, mid))).tally
                   for mid in m.values()}

    figures = {x["meeting_id"]: (x["invited"], x["present"], x["present_invited"],
                                 x["walk_ins"]) for x in f["sessions"]}
    assert figures == {
        m["M1"]: (4, 4, 2, 2), m["M2"]: (3, 2, 2, 0), m["M3"]: (5, 4, 4, 0),
        m["M4"]: (3, 2, 2, 0),
        # Someone came, so it was held: the same rule as a mark of someone present.
        m["M6"]: (1, 1, 0, 1)}
    # The list's own count, from the same tally; M2's as it stood at the cut-off.
    for mid in (m["M1"], m["M6"]):
        t = tallies[mid]
        assert figures[mid] == (t.invited, t.present, t.present_invited, t.walk_ins)
    assert tallies[m["M2"]].walk_ins == 1 and figures[m["M2"]][3] == 0
    text, _, _ = read_pdf(listed, tmp_path)
    assert "Presentes: 4 (invitadas: 2 · sin invitación: 2)" in text

    gm = next(b for b in f["bodies"] if b["kind"] == "grupo_motor")
    assert (gm["held"], gm["invited"], gm["present_invited"]) == (3, 9, 6)
    # The constitution's sessions are those within its window (to 15 May): not M6.
    activities = {a["key"]: a["held"] for a in f["activities"]}
    assert activities["s2.constitucion_grupo_motor"] == 2

    # Present in all, walk-ins, invited, of them present, and the rate of the last two.
    rows = table_rows(read_xlsx(report)["Sesiones realizadas"])
    assert [r[3:8] for r in rows[1:]] == [
        [4, 2, 4, 2, 0.5], [2, 0, 3, 2, 2 / 3], [4, 0, 5, 4, 0.8], [2, 0, 3, 2, 2 / 3],
        [1, 1, 1, 0, 0]]
    assert all(r[7] == r[6] / r[5] for r in rows[1:])


SUMMARY = re.compile(
    r"Familias: (\d+) · Confirmaron: (\d+) · No pueden o piden otra fecha: (\d+) · "
    r"Sin respuesta: (\d+) · Retiraron: (\d+) · No vinieron: (\d+) · Pasaron a otro día: (\d+)")


@pytest.mark.parametrize("cut", [NOW, utc(2026, 6, 20, 12)], ids=["now", "on-20-june"])
async def test_each_delivery_day_counts_as_its_list_shows_it(
        seeded: Seed, catalogs: Catalogs, tmp_path: Path, cut: datetime) -> None:
    # On 20 June D3 (30 June) still stood: it was cancelled on the 25th.
    shown = ("D1", "D3", "D2") if cut < NOW else ("D1", "D2")
    async with seeded.sessions() as s:
        f = await progress.progress_figures(s, seeded.program_id, cut)
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
    # A day whose window had not begun by the cut-off counts nowhere in the report (D3 on
    # 30 June, D2 on 14 July): only D1 was held by then, counted as its list shows it.
    held = on_the_lists[:1]
    assert [(d["families"], d["confirmed"], d["picked_up"], d["no_show"])
            for d in f["delivery_days"]] == [(n[0], n[1], n[4], n[5]) for n in held]
    keys = ("families", "confirmed", "cannot", "no_answer", "picked_up", "no_show", "moved")
    assert [tuple(d[k] for k in keys) for d in f["delivery_days"]] == held
    days = table_rows(read_xlsx(report)["Días de entrega"])
    assert days[0] == ["Fecha", "Familias", "Avisadas", "Confirmaron",
                       "No pueden o piden otra fecha", "Sin respuesta", "Retiraron",
                       "No vinieron", "Pasaron a otro día"]
    assert [tuple(r[1:2] + r[3:]) for r in days[1:]] == held
    assert [r[2] for r in days[1:]] == [7]  # told of it


async def test_a_hand_over_noted_after_the_cut_off_is_not_counted_by_then(seeded: Seed) -> None:
    # The staff noted F5's pickup the next morning: on the evening of D1 nobody had been
    # marked as picked up, so nobody was yet known not to have come, except F6 (marked so).
    async with seeded.sessions() as s:
        [f5] = [p for p in await s.scalars(select(Pickup).where(
            Pickup.delivery_day_id == seeded.days["D1"], Pickup.status == "picked_up"))]
        f5.handed_at = utc(2026, 6, 17, 13)
        await s.commit()
        evening = await progress.progress_figures(s, seeded.program_id, utc(2026, 6, 16, 22))
        morning = await progress.progress_figures(s, seeded.program_id, utc(2026, 6, 17, 14))
    keys = ("families", "confirmed", "cannot", "no_answer", "picked_up", "no_show", "moved")
    assert tuple(evening["delivery_days"][0][k] for k in keys) == (8, 3, 2, 2, 0, 1, 0)
    assert tuple(morning["delivery_days"][0][k] for k in keys) == (8, 0, 2, 0, 1, 5, 0)
    assert (evening["families"]["served"], morning["families"]["served"]) == (0, 1)
