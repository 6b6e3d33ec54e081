"""/etapas end to end through the fake Bot API: one stage at a time with its dates and what
it still lacks, an activity's details, moving its date with the calendar, marking it done."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select
from test_admin_delivery_support import GESTORA, labels_of, local, rows, say, seed, tap

from domain import forms
from storage import responses
from storage.models import (
    Attendance,
    AuditEntry,
    FormResponse,
    Meeting,
    Milestone,
    Organization,
)
from telegram_harness import Running

TEXTS = {
    "es": {
        "header": "🗂 Etapa 1 de 4: Socialización y análisis situacional",
        "range": "lunes 2 de marzo de 2026 → miércoles 1 de abril de 2026",
        "soc": "1. ⚠️ Catastro, invitaciones, sesión de socialización y fichas de interés",
        "soc_dates": "🗓 lun 2 mar → dom 15 mar · atrasada ⚠️",
        "soc_sessions": "Sesiones: 1 de 1 ✅",
        "soc_missing": "Falta: Listado de organizaciones invitadas",
        "soc_manual": "📎 1 documento por subir o confirmar",
        "diag_dates": "🗓 lun 16 mar → mié 1 abr · en curso",
        "diag_sessions": "Sesiones: 0 de un mínimo de 1 ⏳",
        "diag_missing": "Falta: Lista de asistencia\n📎 2 documentos por subir o confirmar",
        "overdue": "⚠️ 1 atrasada", "btn_soc": "1. ⚠️ Catastro, invitaciones",
        "ready": "✅ Lista de asistencia: asistencia tomada en 1 sesión",
        "ficha": "✅ Ficha de interés de participación: 1 ficha recibida",
        "missing": "❌ Listado de organizaciones invitadas: falta",
        "manual": "📎 Procedimiento interno del Ecomercado: por subir o confirmar",
        "move": "📅 Mover la fecha", "ask": "Ahora vence el domingo 15 de marzo de 2026",
        "moved": "ahora vence el viernes 27 de marzo de 2026",
        "planned": "Fecha original: domingo 15 de marzo de 2026",
        "typed": "el viernes 27",
        "bad_date": "Esa fecha no existe en el calendario. Revisa el día y el mes; por "
                    "ejemplo: 17-12-2026.",
        "done": "✅ Marcar como hecha", "undo": "↩️ Marcar como pendiente",
        "done_on": "Hecha el viernes 20 de marzo de 2026 ✅",
        "back": "◀ Volver a la etapa 1", "next": "Etapa 2 ▶", "prev": "◀ Etapa 1",
        "stage2": "🗂 Etapa 2 de 4: Constitución de instancias de participación y formación",
        "summary": "Actividades hechas: 1 de 2",
    },
    "en": {
        "header": "🗂 Stage 1 of 4: Outreach and situational analysis",
        "range": "Monday 2 March 2026 → Wednesday 1 April 2026",
        "soc": "1. ⚠️ Register of organisations, invitations, information session, interest "
               "forms",
        "soc_dates": "🗓 Mon 2 Mar → Sun 15 Mar · overdue ⚠️",
        "soc_sessions": "Sessions: 1 of 1 ✅",
        "soc_missing": "Missing: List of invited organisations",
        "soc_manual": "📎 1 document to upload or confirm",
        "diag_dates": "🗓 Mon 16 Mar → Wed 1 Apr · under way",
        "diag_sessions": "Sessions: 0 of the 1 required ⏳",
        "diag_missing": "Missing: Attendance list\n📎 2 documents to upload or confirm",
        "overdue": "⚠️ 1 overdue", "btn_soc": "1. ⚠️ Register of organisations",
        "ready": "✅ Attendance list: attendance taken at 1 session",
        "ficha": "✅ Participation interest form: 1 form received",
        "missing": "❌ List of invited organisations: missing",
        "manual": "📎 Ecomarket internal procedure: to upload or confirm",
        "move": "📅 Move the date", "ask": "It is now due on Sunday 15 March 2026",
        "moved": "is now due on Friday 27 March 2026",
        "planned": "Original date: Sunday 15 March 2026",
        "typed": "Friday the 27th",
        "bad_date": "That date isn't on the calendar. Check the day and the month; for "
                    "example: 17-12-2026.",
        "done": "✅ Mark as done", "undo": "↩️ Mark as not done",
        "done_on": "Done on Friday 20 March 2026 ✅",
        "back": "◀ Back to stage 1", "next": "Stage 2 ▶", "prev": "◀ Stage 1",
        "stage2": "🗂 Stage 2 of 4: Setting up participation bodies and training",
        "summary": "Activities done: 1 of 2",
    },
}


async def seed_stage_one(r: Running, locale: str) -> int:
    """A socialisation session held on 10 March with its attendance, and a ficha sent."""
    seeded = await seed(r, locale)
    now = r.app.clock.now()
    async with r.app.sessions() as s:
        org = Organization(program_id=seeded.program_id, name="Junta de Vecinos Villa Ñuñoa",
                           created_at=now)
        m = Meeting(program_id=seeded.program_id, kind="socializacion",
                    starts_at=local(2026, 3, 10, 18), status="held", created_at=now)
        s.add_all([org, m])
        await s.flush()
        s.add(Attendance(meeting_id=m.id, person_id=seeded.people[GESTORA], present=True,
                         method="marked", marked_at=now))
        definition = await responses.ensure_definition(s, forms.load_form("ficha_interes"), now)
        s.add(FormResponse(form_id=definition.id, organization_id=org.id, status="submitted",
                           answers={}, started_at=now, updated_at=now, submitted_at=now))
        await s.commit()
    return seeded.program_id


@pytest.mark.parametrize("locale", ["es", "en"])
async def test_etapas_shows_stage_one_moves_a_date_and_marks_it_done(
        tg: Running, clock, locale: str) -> None:
    t = TEXTS[locale]
    await seed_stage_one(tg, locale)
    clock.set(local(2026, 3, 20, 9))
    [card] = await say(tg, GESTORA, "/etapas")
    text = card["text"]
    for key in ("header", "range", "soc", "soc_dates", "soc_sessions", "soc_missing",
                "soc_manual", "diag_dates", "diag_sessions", "diag_missing", "overdue"):
        assert t[key] in text, (key, text)
    buttons = labels_of(card)
    assert buttons[0].startswith(t["btn_soc"]) and buttons[0].endswith("…")
    assert t["next"] in buttons
    assert not any(lb.startswith("◀ E") or lb.startswith("◀ S") for lb in labels_of(card))

    _, [detail] = await tap(tg, GESTORA, t["btn_soc"], edits=1, contains=True)
    for key in ("ready", "ficha", "missing", "manual"):
        assert t[key] in detail["text"], (key, detail["text"])
    [ask], _ = await tap(tg, GESTORA, t["move"], sends=1)
    assert t["ask"] in ask["text"]
    # A date that does not exist: a kind word with an example, and the calendar again.
    nudge, again = await say(tg, GESTORA, "el 45", count=2)
    assert nudge["text"] == t["bad_date"] and "27" in labels_of(again)
    # A typed date is read like a tapped one.
    detail, moved = await say(tg, GESTORA, t["typed"], count=2)
    assert t["moved"] in moved["text"] and t["planned"] in detail["text"]
    async with tg.app.sessions() as s:
        m = await s.scalar(select(Milestone).where(Milestone.key == "s1.socializacion"))
        assert (m.due, m.planned_due) == (date(2026, 3, 27), date(2026, 3, 15))
    [audit] = await rows(tg, AuditEntry, AuditEntry.action == "milestone_moved")
    assert audit.details["before"] == "2026-03-15" and audit.details["due"] == "2026-03-27"

    _, [detail] = await tap(tg, GESTORA, t["done"], edits=1)
    assert t["done_on"] in detail["text"] and t["undo"] in labels_of(detail)
    _, [card] = await tap(tg, GESTORA, t["back"], edits=1)
    assert t["summary"] in card["text"] and t["overdue"] not in card["text"]
    _, [card2] = await tap(tg, GESTORA, t["next"], edits=1)
    assert t["stage2"] in card2["text"] and t["prev"] in labels_of(card2)

    # Undone again: the milestone counts as open.
    _, [card] = await tap(tg, GESTORA, t["prev"], edits=1)
    await tap(tg, GESTORA, t["btn_soc"].replace("⚠️", "✅"), edits=1, contains=True)
    await tap(tg, GESTORA, t["undo"], edits=1)
    async with tg.app.sessions() as s:
        m = await s.scalar(select(Milestone).where(Milestone.key == "s1.socializacion"))
        assert m.done_at is None
    assert [a.action for a in await rows(tg, AuditEntry, AuditEntry.entity == "milestone")] \
        == ["milestone_moved", "milestone_done", "milestone_undone"]


async def test_the_panel_opens_the_stage_under_way(tg: Running, clock) -> None:
    await seed_stage_one(tg, "es")
    clock.set(local(2026, 5, 5, 9))  # month 3: stage 2 is under way
    [panel] = await say(tg, GESTORA, "/panel")
    assert "🗂 Etapas y plazos" in labels_of(panel)
    [card], _ = await tap(tg, GESTORA, "🗂 Etapas y plazos", sends=1)
    # Stage 1's diagnosis is still open and overdue: that is where work is.
    assert "Etapa 1 de 4" in card["text"]
    async with tg.app.sessions() as s:
        for m in (await s.scalars(select(Milestone).where(Milestone.stage == 1))).all():
            m.done_at = clock.now()
        await s.commit()
    [card] = await say(tg, GESTORA, "/etapas")
    assert "Etapa 2 de 4" in card["text"] and "en curso" in card["text"]
