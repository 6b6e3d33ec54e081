"""The progress report has one cut-off (issue 10): `convoca export progress --until DATE`
(today in the programme's zone by default) counts only what happened up to that day, in
every figure of the report, never something that happened after it."""

from __future__ import annotations

import asyncio
import io
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from openpyxl import load_workbook
from test_exports import table_rows

from bot.app import build_app
from bot.cli import main
from bot.config import load_settings
from storage.models import (
    Attendance,
    DeliveryDay,
    Family,
    FormDefinition,
    FormResponse,
    Meeting,
    Organization,
    OrganizationInvitation,
    Person,
    Pickup,
    Rsvp,
)

SANTIAGO = ZoneInfo("America/Santiago")


def at(month: int, day: int, hour: int = 12) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=SANTIAGO).astimezone(UTC)


async def seed() -> None:
    """Each kind of event once before 10 April 2026 and once after it."""
    app = await build_app(load_settings())
    try:
        async with app.sessions() as s:
            a = Organization(program_id=1, name="Junta de Vecinos Villa Ñuñoa",
                             created_at=at(3, 5))
            b = Organization(program_id=1, name="Club Los Aromos", created_at=at(4, 20))
            early = Family(program_id=1, name="Rojas Muñoz", created_at=at(3, 5))
            late = Family(program_id=1, name="Soto Castro", created_at=at(4, 15))
            form = FormDefinition(key="ficha_interes", version=1, definition={},
                                  created_at=at(3, 5))
            s.add_all([a, b, early, late, form])
            await s.flush()
            s.add_all([
                OrganizationInvitation(organization_id=a.id, purpose="socializacion",
                                       sent_at=at(3, 6)),
                OrganizationInvitation(organization_id=b.id, purpose="socializacion",
                                       sent_at=at(4, 21)),
                FormResponse(form_id=form.id, organization_id=a.id, program_id=1,
                             status="submitted", answers={}, started_at=at(3, 20),
                             updated_at=at(3, 20), submitted_at=at(3, 20)),
                FormResponse(form_id=form.id, organization_id=b.id, program_id=1,
                             status="submitted", answers={}, started_at=at(4, 22),
                             updated_at=at(4, 22), submitted_at=at(4, 22)),
            ])
            first = DeliveryDay(program_id=1, window_start=at(4, 5, 10),
                                window_end=at(4, 5, 12), created_at=at(3, 10))
            second = DeliveryDay(program_id=1, window_start=at(4, 20, 10),
                                 window_end=at(4, 20, 12), created_at=at(4, 12))
            s.add_all([first, second])
            await s.flush()
            s.add_all([
                Pickup(delivery_day_id=first.id, family_id=early.id, status="picked_up",
                       notified_at=at(3, 11), responded_at=at(3, 12), handed_at=at(4, 5, 11)),
                Pickup(delivery_day_id=first.id, family_id=late.id, status="confirmed",
                       notified_at=at(4, 16), responded_at=at(4, 16)),
                Pickup(delivery_day_id=second.id, family_id=early.id, status="picked_up",
                       notified_at=at(4, 13), responded_at=at(4, 13), handed_at=at(4, 20, 11)),
            ])
            # A socialisation held before the cut-off, whose list got a late mark after it.
            meeting = Meeting(program_id=1, kind="socializacion", starts_at=at(3, 10, 18),
                              status="held", created_at=at(3, 1))
            rosa = Person(name="Rosa Lagos", created_at=at(3, 1), program_id=1)
            luis = Person(name="Luis Soto", created_at=at(3, 1), program_id=1)
            s.add_all([meeting, rosa, luis])
            await s.flush()
            s.add_all([
                Rsvp(meeting_id=meeting.id, person_id=rosa.id, invited_at=at(3, 2)),
                Rsvp(meeting_id=meeting.id, person_id=luis.id, invited_at=at(4, 30)),
                Attendance(meeting_id=meeting.id, person_id=rosa.id, present=True,
                           method="marked", marked_at=at(3, 10, 19)),
                Attendance(meeting_id=meeting.id, person_id=luis.id, present=True,
                           method="marked", marked_at=at(4, 30)),
            ])
            await s.commit()
    finally:
        await app.close()


def summary(path: Path) -> tuple[dict[str, int], dict[str, str]]:
    book = load_workbook(io.BytesIO(path.read_bytes()))
    figures = dict(table_rows(book["Organizaciones y familias"])[1:])
    about = {r[0]: r[1] for r in book.worksheets[-1].iter_rows(values_only=True) if r[0]}
    return figures, about


EVERYTHING = {"Organizaciones en el catastro": 2, "Organizaciones invitadas": 2,
              "Organizaciones con ficha de interés": 2,
              "Familias registradas": 2, "Familias avisadas de su retiro": 2,
              "Familias que confirmaron": 2, "Familias que recibieron su canasta": 1}
UP_TO_THE_CUT_OFF = {"Organizaciones en el catastro": 1, "Organizaciones invitadas": 1,
                     "Organizaciones con ficha de interés": 1,
                     "Familias registradas": 1, "Familias avisadas de su retiro": 1,
                     "Familias que confirmaron": 1, "Familias que recibieron su canasta": 1}


def test_export_progress_until_counts_only_what_happened_by_then(
        cli_env: str, tmp_path: Path, capsys) -> None:
    assert main(["db", "upgrade"]) == 0
    assert main(["program", "create", "--template", "ecomercado-15m", "--start",
                 "2026-03-02", "--name", "Ecomercado Quilpué"]) == 0
    asyncio.run(seed())

    cut = tmp_path / "avance-abril.xlsx"
    assert main(["export", "progress", "--format", "xlsx", "--until", "2026-04-10",
                 "--out", str(cut)]) == 0
    figures, about = summary(cut)
    for label, value in UP_TO_THE_CUT_OFF.items():
        assert figures[label] == value, label
    assert about["Fecha de corte"] == "viernes 10 de abril de 2026"
    book = load_workbook(io.BytesIO(cut.read_bytes()))
    days = table_rows(book["Días de entrega"])[1:]
    # The first day only, as its list showed it then: one family, told, picked up.
    assert [d[1:] for d in days] == [[1, 1, 0, 0, 0, 1, 0, 0]]
    [session] = table_rows(book["Sesiones realizadas"])[1:]
    # Present, walk-ins, invited, of them present: the later ones left out.
    assert session[3:7] == [1, 0, 1, 1]

    # Without --until: today (long after April), so everything counts.
    now = tmp_path / "avance-hoy.xlsx"
    assert main(["export", "progress", "--format", "xlsx", "--out", str(now)]) == 0
    figures, _ = summary(now)
    for label, value in EVERYTHING.items():
        assert figures[label] == value, label


def test_the_figures_at_a_cut_off_leave_out_every_later_event(
        cli_env: str) -> None:
    assert main(["db", "upgrade"]) == 0
    assert main(["program", "create", "--template", "ecomercado-15m", "--start",
                 "2026-03-02", "--name", "Ecomercado Quilpué"]) == 0
    asyncio.run(seed())

    async def figures() -> dict:
        from storage.progress import progress_figures

        app = await build_app(load_settings())
        try:
            async with app.sessions() as s:
                return await progress_figures(s, 1, at(4, 10, 23))
        finally:
            await app.close()

    f = asyncio.run(figures())
    assert f["organizations"] == {"catalogued": 1, "invited": 1, "interested": 1,
                                  "committed": 0}
    assert f["families"] == {"total": 1, "notified": 1, "confirmed": 1, "served": 1}
    assert [(d["families"], d["notified"], d["confirmed"], d["picked_up"])
            for d in f["delivery_days"]] == [(1, 1, 0, 1)]
    assert [(x["invited"], x["present"]) for x in f["sessions"]] == [(1, 1)]
