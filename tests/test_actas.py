"""Actas de acuerdos y compromisos and the follow-up of actions, end to end: the gestora
records a session's acta in chat (topics, agreements, commitments with who and by when,
a wrong item struck, the PDF), the scheduler reminds each responsible person at 09:00
before and on the deadline and the team the day after, the person reports "done" in two
taps, and the matriz de seguimiento shows it; foreign and stale buttons are refused kindly,
and a photo reaches the report from Telegram and from WhatsApp."""

from __future__ import annotations

import io
import subprocess
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from core_harness import CoreHarness, Reply
from openpyxl import load_workbook
from sqlalchemy import select

from bot.app import build_app
from documents import minutes as minutes_documents
from documents import verificadores
from documents.base import Ctx
from documents.registry import Request
from handlers.events import EventKind
from scheduler.planner import Planner, at_local
from scheduler.runner import NoticeScheduler
from services import notices
from storage import actions, programs
from storage import minutes as minutes_store
from storage.models import (
    ActionItem,
    ActionStatus,
    ActionUpdate,
    Attendance,
    Body,
    Meeting,
    Minutes,
    MinutesItem,
    OutboxMessage,
    Plan,
    PlanKind,
    PlanObjective,
    Program,
    Rsvp,
)
from support import add_member

SCL = ZoneInfo("America/Santiago")
GESTORA, ANA, BETO = "100", "101", "102"
# Tuesday 10 March 2026, 18:00 in Santiago (summer time, UTC-3).
SESSION = datetime(2026, 3, 10, 21, 0, tzinfo=UTC)
SETTINGS = {"executor": "Municipalidad de Ñuñoa", "comuna": "Ñuñoa",
            "facilitator": "Sofía Peña Ibáñez"}


@pytest.fixture
async def core(settings_for, sqlite_url, clock):
    app = await build_app(settings_for(sqlite_url), clock=clock)
    yield CoreHarness(app)
    await app.close()


async def seed(core: CoreHarness) -> dict[str, int]:
    """A 15-month programme from 2 March 2026, its gestora, two Grupo Motor members and a
    Grupo Motor session held on 10 March, Ana present and Beto invited."""
    now = core.app.clock.now()
    sessions = core.app.sessions
    async with sessions() as s:
        program = await programs.create(s, template="ecomercado-15m", start=date(2026, 3, 2),
                                        name="Ecomercado Ñuñoa", now=now)
        program.settings = {**(program.settings or {}), **SETTINGS}
        gm = await s.scalar(select(Body).where(Body.program_id == program.id,
                                               Body.kind == "grupo_motor"))
        await s.commit()
        ids = {"program": program.id, "gm": gm.id}
    ids["gestora"] = await add_member(sessions, now, "telegram", GESTORA, "Gabriela Muñoz",
                                      "es", "gestora")
    ids["ana"] = await add_member(sessions, now, "telegram", ANA, "Ana Pérez", "es",
                                  "grupo_motor", program_id=ids["program"], body_id=ids["gm"])
    ids["beto"] = await add_member(sessions, now, "telegram", BETO, "Beto Núñez", "es",
                                   "grupo_motor", program_id=ids["program"], body_id=ids["gm"])
    async with sessions() as s:
        m = Meeting(program_id=ids["program"], body_id=ids["gm"], kind="grupo_motor",
                    starts_at=SESSION, ends_at=SESSION + timedelta(hours=2),
                    place="Sede Villa Ñuñoa", status="scheduled", created_at=now)
        s.add(m)
        await s.flush()
        for pid in (ids["ana"], ids["beto"]):
            s.add(Rsvp(meeting_id=m.id, person_id=pid, invited_at=now, answer="yes",
                       answered_at=now))
        s.add(Attendance(meeting_id=m.id, person_id=ids["ana"], present=True, method="marked",
                         marked_at=SESSION))
        await s.commit()
        ids["meeting"] = m.id
    return ids


def texts(replies: list[Reply]) -> str:
    return "\n".join(r.text for r in replies)


async def press_payload(core: CoreHarness, address: str, person_id: int, action: str
                        ) -> list[Reply]:
    """A button as the channel sends it back: the action signed for ``person_id``."""
    packed = core.app.services.buttons.pack(person_id, action)
    return await core.event(address, EventKind.BUTTON, button=packed)


def pdf_text(content: bytes, tmp_path: Path, name: str) -> str:
    """The PDF's text, once every page has rendered as an A4 page (either way round)."""
    from PIL import Image

    path = tmp_path / name
    path.write_bytes(content)
    subprocess.run(["pdftoppm", "-r", "60", "-png", str(path), str(tmp_path / name[:-4])],
                   check=True)
    pages = sorted(tmp_path.glob(f"{name[:-4]}-*.png"))
    assert pages
    for page in pages:
        with Image.open(page) as img:
            # A4 at 60 dpi: 210 x 297 mm, about 497 x 702 pixels.
            short, long = sorted(img.size)
            assert abs(short - 497) <= 1 and abs(long - 702) <= 1, img.size
    out = subprocess.run(["pdftotext", "-layout", str(path), "-"], check=True,
                         capture_output=True, text=True).stdout
    return out


# --- the acta, recorded in chat ---------------------------------------------------------


async def test_the_gestora_records_an_acta_in_chat_and_gets_its_pdf(core: CoreHarness,
                                                                     tmp_path: Path) -> None:
    ids = await seed(core)
    core.app.clock.set(datetime(2026, 3, 11, 15, 0, tzinfo=UTC))  # the next day, noon
    await core.text(GESTORA, "/panel")
    await core.press(GESTORA, "📚 Actas, planes y cierre")
    await core.press(GESTORA, "📝 Actas y seguimiento")
    [listing] = await core.press(GESTORA, "📝 Escribir o ver un acta")
    assert "más recientes" in listing.text
    [(label, payload)] = [b for b in listing.buttons if "10-03" in b[0] or "10/03" in b[0]
                          or "mar" in b[0]][:1]
    assert not label.startswith("✅")
    begun = await core.event(GESTORA, EventKind.BUTTON, button=payload)
    assert "Acta de" in begun[0].text and "10 de marzo" in begun[0].text
    assert "¿Qué temas se trataron?" in begun[1].text

    # A photo or a sticker where words are asked for: the usual kind answer, nothing kept.
    [odd] = await core.event(GESTORA, EventKind.PHOTO, document=None)
    assert odd.text == core.app.catalogs.text("es", "input.unsupported")
    [kept] = await core.text(GESTORA, "Presupuesto de la feria\n- Turnos de atención en la sede")
    assert "2 temas" in kept.text
    [ask] = await core.press(GESTORA, "Listo")
    assert "acuerdos" in ask.text
    [kept] = await core.text(GESTORA, "Hacer la feria el sábado 28 de marzo, con año 2026")
    assert "1 acuerdo." in kept.text
    [ask] = await core.press(GESTORA, "Listo")
    assert "compromisos" in ask.text.lower()

    [who] = await core.text(GESTORA, "Pedir cotización de estantes")
    assert "¿Quién se hace cargo de «Pedir cotización de estantes»?" == who.text
    assert [b[0] for b in who.buttons] == ["Ana Pérez", "Beto Núñez", "✍️ Otra persona"]
    [when] = await core.press(GESTORA, "Ana Pérez")
    assert when.raw is not None and when.raw.date_pick is not None
    # A typed date that is not one: a kind answer with an example, and the question again.
    replies = await core.text(GESTORA, "el otro martes creo")
    assert len(replies) == 2 and replies[1].raw.date_pick is not None
    [noted] = await core.text(GESTORA, "20/03")
    assert "a cargo de Ana Pérez, para el viernes 20 de marzo" in noted.text

    await core.press(GESTORA, "➕ Otro compromiso")
    await core.text(GESTORA, "Difundir la feria en la radio comunitaria")
    [ask_name] = await core.press(GESTORA, "✍️ Otra persona")
    assert "nombre" in ask_name.text
    [again] = await core.text(GESTORA, "x")
    assert "nombre" in again.text
    await core.text(GESTORA, "Señora Íñiguez")
    async with core.app.sessions() as s:
        minutes = await s.scalar(select(Minutes).where(Minutes.meeting_id == ids["meeting"]))
    # Picked on the calendar: the month's day comes back as the calendar's action.
    [noted] = await press_payload(core, GESTORA, ids["gestora"],
                                  f"adm:minutes:cal{minutes.id}:d:20260325")
    assert "Señora Íñiguez" in noted.text and "25 de marzo" in noted.text
    [summary] = await core.press(GESTORA, "✔️ Terminar")
    for part in ("Presupuesto de la feria", "Turnos de atención en la sede",
                 "Hacer la feria el sábado 28 de marzo", "Pedir cotización de estantes · "
                 "Ana Pérez", "Difundir la feria en la radio comunitaria · Señora Íñiguez"):
        assert part in summary.text

    # A topic recorded by mistake is struck from the summary.
    [strike] = await core.press(GESTORA, "✏️ Corregir (quitar un punto)")
    [payload] = [p for label, p in strike.buttons
                 if label == "🗑 Tema 2: Turnos de atención en la sede"]
    replies = await core.event(GESTORA, EventKind.BUTTON, button=payload)
    assert replies[0].text == "Listo, lo quité."
    assert "Turnos de atención" not in replies[1].text
    # Its button, pressed again, is answered kindly.
    replies = await core.event(GESTORA, EventKind.BUTTON, button=payload)
    assert replies[0].text == "Ese punto ya no estaba en el acta."

    [pdf] = await core.press(GESTORA, "📄 Enviar acta en PDF")
    assert pdf.attachment and pdf.attachment.endswith(".pdf")
    text = pdf_text(pdf.raw.attachment.content, tmp_path, "acta.pdf")
    for part in ("Acta de acuerdos y compromisos", "Ecomercado Ñuñoa", "Municipalidad de Ñuñoa",
                 "Sede Villa Ñuñoa", "1 persona presente", "Sofía Peña Ibáñez",
                 "Presupuesto de la feria", "Hacer la feria el sábado 28 de marzo",
                 "Pedir cotización de estantes", "Señora Íñiguez", "Pendiente",
                 "Gabriela Muñoz", "Ana Pérez", "Firmas de las personas asistentes"):
        assert part in text, part
    assert "Turnos de atención" not in text

    # Opened again later: the session shows its acta, to add to it.
    await core.text(GESTORA, "/panel")
    await core.press(GESTORA, "📚 Actas, planes y cierre")
    await core.press(GESTORA, "📝 Actas y seguimiento")
    [listing] = await core.press(GESTORA, "📝 Escribir o ver un acta")
    [(label, payload)] = [b for b in listing.buttons if b[0].startswith("✅")]
    [summary] = await core.event(GESTORA, EventKind.BUTTON, button=payload)
    assert "Pedir cotización de estantes" in summary.text
    await core.press(GESTORA, "➕ Acuerdos")
    await core.text(GESTORA, "La próxima sesión es el 7 de abril")
    [summary] = await core.press(GESTORA, "Listo")
    assert "La próxima sesión es el 7 de abril" in summary.text and "Compromisos:" in summary.text

    async with core.app.sessions() as s:
        items = await actions.of_minutes(s, minutes.id)
        topics = (await s.scalars(select(MinutesItem).where(
            MinutesItem.minutes_id == minutes.id))).all()
    assert [(a.text, a.responsible_person_id, a.responsible_name, a.due) for a in items] == [
        ("Pedir cotización de estantes", ids["ana"], None, date(2026, 3, 20)),
        ("Difundir la feria en la radio comunitaria", None, "Señora Íñiguez",
         date(2026, 3, 25))]
    assert len(topics) == 3


async def test_a_member_cannot_open_the_actas(core: CoreHarness) -> None:
    ids = await seed(core)
    [refused] = await press_payload(core, ANA, ids["ana"], "adm:minutes:l:0")
    assert "equipo" in refused.text


# --- reminders at the right local times ---------------------------------------------------


async def add_action(core: CoreHarness, ids: dict[str, int], text: str, due: date,
                     person: str | None = "ana", **fields: object) -> int:
    async with core.app.sessions() as s:
        item = await actions.add(s, program_id=ids["program"], text=text,
                                 now=core.app.clock.now(), due=due,
                                 responsible_person_id=ids[person] if person else None,
                                 **fields)
        await s.commit()
        return item.id


async def run_until(sched: NoticeScheduler, clock, end: datetime) -> list[tuple]:
    fired = []
    await sched.tick()
    while True:
        nxt = await sched.next_fire()
        if nxt is None or nxt > end:
            break
        clock.set(nxt)
        result = await sched.tick()
        fired += [(n.kind, n.person_id, clock.now().astimezone(SCL).replace(tzinfo=None))
                  for n in result.queued]
    return fired


async def test_reminders_3_days_before_and_on_the_day_at_9_and_the_team_the_day_after(
        core: CoreHarness) -> None:
    ids = await seed(core)
    clock = core.app.clock
    # Thursday 9 April 2026: after the April change of time (UTC-4), its reminder on Monday
    # 6 April; a second action due the same day goes in the same message.
    await add_action(core, ids, "Pedir cotización de estantes", date(2026, 4, 9))
    await add_action(core, ids, "Llevar las mesas a la sede", date(2026, 4, 9))
    await add_action(core, ids, "Difundir la feria", date(2026, 4, 6), person="beto")
    await add_action(core, ids, "Algo sin responsable en Convoca", date(2026, 4, 6),
                     person=None, responsible_name="Señora Íñiguez")
    clock.set(datetime(2026, 4, 1, 12, 0, tzinfo=UTC))
    sched = NoticeScheduler(core.app.sessions, clock, notices.compose)
    fired = await run_until(sched, clock, datetime(2026, 4, 12, tzinfo=UTC))
    mine = sorted((k, p, t) for k, p, t in fired if k.startswith("action_"))
    assert mine == sorted([
        ("action_due", ids["beto"], datetime(2026, 4, 3, 9)),
        ("action_due", ids["ana"], datetime(2026, 4, 6, 9)),
        ("action_due", ids["beto"], datetime(2026, 4, 6, 9)),
        ("action_due", ids["ana"], datetime(2026, 4, 9, 9)),
        ("action_overdue", ids["gestora"], datetime(2026, 4, 7, 9)),
        ("action_overdue", ids["gestora"], datetime(2026, 4, 10, 9)),
    ])
    async with core.app.sessions() as s:
        rows = (await s.scalars(select(OutboxMessage).where(
            OutboxMessage.kind.in_(["action_due", "action_overdue"]))
            .order_by(OutboxMessage.id))).all()
    cat = core.app.catalogs
    shown = {(r.kind, r.person_id, r.not_before): cat.render(
        notices.Outgoing.from_json(r.payload).text, "es", "America/Santiago") for r in rows}
    ana_first = next(v for (k, p, _), v in sorted(shown.items())
                     if k == "action_due" and p == ids["ana"])
    assert "Pedir cotización de estantes: vence en 3 días (jueves 9 de abril de 2026)" \
        in ana_first
    assert "Llevar las mesas a la sede" in ana_first
    overdue = [v for (k, _, _), v in shown.items() if k == "action_overdue"]
    assert any("Algo sin responsable en Convoca · Señora Íñiguez" in v for v in overdue)
    # The digest lists what is overdue too.
    async with core.app.sessions() as s:
        notice = next(n for n in await Planner(s).window(
            datetime(2026, 4, 10, tzinfo=UTC), datetime(2026, 4, 20, tzinfo=UTC))
            if n.kind == "weekly_digest")
        out = await notices.BUILDERS["weekly_digest"](s, notice, notice.fire_at)
    digest = cat.render(out.text, "es", "America/Santiago")
    assert "Acciones atrasadas" in digest and "Pedir cotización de estantes · Ana Pérez" in digest


async def test_sixty_commitments_due_one_day_fit_the_outbox_key_and_are_sent_once(
        core: CoreHarness) -> None:
    ids = await seed(core)
    clock = core.app.clock
    for n in range(60):
        await add_action(core, ids, f"Compromiso {n}", date(2026, 4, 9))
    clock.set(datetime(2026, 4, 1, 12, 0, tzinfo=UTC))
    sched = NoticeScheduler(core.app.sessions, clock, notices.compose)
    fired = await run_until(sched, clock, datetime(2026, 4, 12, tzinfo=UTC))
    await sched.tick()  # a second tick on the same window queues nothing again
    mine = sorted((k, p, t) for k, p, t in fired if k.startswith("action_"))
    assert mine == [
        ("action_due", ids["ana"], datetime(2026, 4, 6, 9)),
        ("action_due", ids["ana"], datetime(2026, 4, 9, 9)),
        ("action_overdue", ids["gestora"], datetime(2026, 4, 10, 9)),
    ]
    async with core.app.sessions() as s:
        keys = (await s.scalars(select(OutboxMessage.idempotency_key).where(
            OutboxMessage.kind.in_(["action_due", "action_overdue"])))).all()
        notices_ = await Planner(s).window(datetime(2026, 4, 1, tzinfo=UTC),
                                           datetime(2026, 4, 12, tzinfo=UTC))
    assert len(keys) == 3 and all(len(k) <= 160 for k in keys)
    assert all(len(n.key) <= 160 for n in notices_)


async def test_a_reminder_in_quiet_hours_waits_and_a_done_action_is_not_reminded(
        core: CoreHarness) -> None:
    ids = await seed(core)
    done = await add_action(core, ids, "Ya está hecho", date(2026, 4, 20))
    async with core.app.sessions() as s:
        await actions.report(s, await s.get(ActionItem, done), ActionStatus.DONE,
                             now=core.app.clock.now(), by_person_id=ids["ana"])
        await s.commit()
        notices_ = [n for n in await Planner(s).window(
            datetime(2026, 4, 16, tzinfo=UTC), datetime(2026, 4, 22, tzinfo=UTC))
            if n.kind == "action_due"]
        built = [await notices.BUILDERS["action_due"](s, n, n.fire_at) for n in notices_]
    assert notices_ and built == [None] * len(notices_)
    assert all(at_local(n.fire_at.astimezone(SCL).date(), time(9), SCL) == n.fire_at
               for n in notices_)


# --- reporting in two taps, and the matrix ---------------------------------------------------


async def reminder_for(core: CoreHarness, address: str, person_id: int) -> list[Reply]:
    """The reminder queued for this person, as their chat shows it."""
    async with core.app.sessions() as s:
        ids = list((await s.scalars(select(OutboxMessage.id).where(
            OutboxMessage.person_id == person_id, OutboxMessage.kind == "action_due")
            .order_by(OutboxMessage.id))).all())
    replies = await core._render(ids[-1:])
    core.last[address] = replies
    return replies


async def test_the_responsible_person_reports_done_in_two_taps_and_the_matrix_shows_it(
        core: CoreHarness, tmp_path: Path) -> None:
    ids = await seed(core)
    clock = core.app.clock
    async with core.app.sessions() as s:
        plan = Plan(program_id=ids["program"], kind=PlanKind.WORK, body_id=ids["gm"],
                    created_at=clock.now())
        s.add(plan)
        await s.flush()
        objective = PlanObjective(plan_id=plan.id, text="Fortalecer la difusión del Ecomercado")
        s.add(objective)
        await s.commit()
        plan_id, objective_id = plan.id, objective.id
    action_id = await add_action(core, ids, "Diseñar afiches para la feria de otoño",
                                 date(2026, 4, 9), plan_id=plan_id, objective_id=objective_id,
                                 starts=date(2026, 3, 2))
    late = await add_action(core, ids, "Conseguir toldos con la municipalidad",
                            date(2026, 3, 31), person="beto", plan_id=plan_id,
                            objective_id=objective_id)
    clock.set(datetime(2026, 4, 6, 12, 59, tzinfo=UTC))  # 08:59 in Santiago
    sched = NoticeScheduler(core.app.sessions, clock, notices.compose)
    await sched.tick()
    clock.set(datetime(2026, 4, 6, 13, 0, tzinfo=UTC))
    await sched.tick()
    [reminder] = await reminder_for(core, ANA, ids["ana"])
    assert "«Diseñar afiches para la feria de otoño» vence en 3 días" in reminder.text
    assert [b[0] for b in reminder.buttons] == ["✅ Hecho", "⏳ En curso", "⚠️ Trabada"]

    clock.set(datetime(2026, 4, 7, 19, 30, tzinfo=UTC))  # Tuesday 7 April, 15:30
    [noted] = await core.press(ANA, "✅ Hecho")  # tap 1
    assert noted.text == ("Anotado (Hecho). ¿Quieres agregar una nota o una foto? Escríbela "
                          "o envíala, o toca Listo.")
    [thanks] = await core.press(ANA, "Listo")  # tap 2
    assert thanks.text == "¡Gracias! Quedó anotado."

    # Beto says his is under way, with a note.
    [card] = (await core.text(BETO, "/avance"))
    assert "compromisos pendientes" in card.text
    await core.press(BETO, card.buttons[0][0])
    await core.press(BETO, "⏳ En curso")
    [kept] = await core.text(BETO, "Falta la firma del alcalde")
    assert "Nota guardada" in kept.text
    await core.press(BETO, "Listo")
    async with core.app.sessions() as s:
        item = await s.get(ActionItem, action_id)
        [update] = (await actions.history(s, [action_id]))[action_id]
        beto_update = (await actions.history(s, [late]))[late][-1]
    assert item.status == ActionStatus.DONE and update.by_person_id == ids["ana"]
    assert beto_update.note == "Falta la firma del alcalde"

    # Ana has nothing left to report.
    [none] = await core.text(ANA, "/avance")
    assert "No tienes compromisos pendientes" in none.text

    async with core.app.sessions() as s:
        from storage import minutes as minutes_store

        acta = await minutes_store.for_meeting(s, ids["program"], ids["meeting"],
                                               now=clock.now(), by_person_id=ids["gestora"])
        await actions.add(s, program_id=ids["program"], text="Averiguar precios de balanzas",
                          now=clock.now(), minutes_id=acta.id, due=date(2026, 6, 1),
                          responsible_name="Señora Íñiguez")
        await s.commit()
    # The programme's last month: fifteen months of history, the PDF shows the last twelve.
    clock.set(datetime(2027, 5, 4, 14, 0, tzinfo=UTC))
    async with core.app.sessions() as s:
        xlsx = await minutes_documents.follow_up_matrix(s, ids["program"], "xlsx",
                                                        now=clock.now(), catalogs=core.app.catalogs)
        pdf = await minutes_documents.follow_up_matrix(s, ids["program"], "pdf",
                                                       now=clock.now(), catalogs=core.app.catalogs)
        program = await s.get(Program, ids["program"])
        req = Request(s, program, "follow_up_matrix", Ctx(core.app.catalogs, "es",
                                                          program.timezone, clock.now()))
        [evidence] = await minutes_documents._last_report(req)
    assert evidence.on == date(2026, 4, 7)
    (tmp_path / xlsx.filename).write_bytes(xlsx.content)
    ws = load_workbook(io.BytesIO(xlsx.content)).active
    assert ws.page_setup.orientation == "landscape" and ws.page_setup.fitToWidth == 1
    assert ws["A1"].value == "Matriz de seguimiento" and ws["A2"].value == "Ecomercado Ñuñoa"
    cells = [[c for c in row] for row in ws.iter_rows(values_only=True)]
    header = next(r for r in cells if r[0] == "N°" or (r[1] == "Objetivo"))
    assert "mar 2026" in header and "abr 2026" in header and "may 2026" in header
    assert ws.print_title_rows is not None
    [done_row] = [r for r in cells if r[2] == "Diseñar afiches para la feria de otoño"]
    months = dict(zip(header, done_row, strict=True))
    assert months["Estado"] == "Hecho" and months["Desde"].date() == date(2026, 4, 7)
    assert months["mar 2026"] == "Pendiente" and months["abr 2026"] == "Hecho"
    assert months["Objetivo"] == "Fortalecer la difusión del Ecomercado"
    [late_row] = [r for r in cells if r[2] == "Conseguir toldos con la municipalidad"]
    late_cells = dict(zip(header, late_row, strict=True))
    assert late_cells["Estado"] == "En curso · atrasada"
    assert "Falta la firma del alcalde" in late_cells["Última nota"]
    assert "Plan de trabajo participativo" in [r[0] for r in cells]
    assert "Compromisos de las sesiones" in [r[0] for r in cells]
    [acta_row] = [r for r in cells if r[2] == "Averiguar precios de balanzas"]
    assert acta_row[1] == "Sesión del 10 mar 2026" and acta_row[3] == "Señora Íñiguez"
    assert "may 2027" in header and len([h for h in header if h and h[-4:].isdigit()]) == 15
    text = pdf_text(pdf.content, tmp_path, "matriz.pdf")
    for part in ("Matriz de seguimiento", "Diseñar afiches", "Municipalidad de Ñuñoa",
                 "Hecho", "atrasada", "H = Hecho"):
        assert part in text, part


async def test_foreign_and_stale_buttons_are_refused_kindly(core: CoreHarness) -> None:
    ids = await seed(core)
    mine = await add_action(core, ids, "Pedir cotización de estantes", date(2026, 4, 9))
    # Beto presses a report on Ana's action (a button made for him, not his action).
    [refused] = await press_payload(core, BETO, ids["beto"], f"ac:{mine}:d")
    assert "está a cargo de otra persona" in refused.text
    # Ana's own button, sent by Beto: its signature is not his.
    packed = core.app.services.buttons.pack(ids["ana"], f"ac:{mine}:d")
    [forged] = await core.event(BETO, EventKind.BUTTON, button=packed)
    assert forged.text == core.app.catalogs.text("es", "input.button_invalid")
    # The gestora may report on anyone's action.
    [noted] = await press_payload(core, GESTORA, ids["gestora"], f"ac:{mine}:u")
    assert noted.text.startswith("Anotado (En curso)")
    # An action struck since: the old reminder's button is answered kindly.
    async with core.app.sessions() as s:
        await actions.remove(s, await s.get(ActionItem, mine))
        await s.commit()
    [gone] = await press_payload(core, ANA, ids["ana"], f"ac:{mine}:d")
    assert "ya no está vigente" in gone.text
    [stale] = await press_payload(core, ANA, ids["ana"], "ac:ok:99999")
    assert stale.text == core.app.catalogs.text("es", "input.button_stale")


async def test_a_photo_after_a_report_is_kept_and_elsewhere_is_unsupported(
        core: CoreHarness) -> None:
    from handlers.events import DocumentRef

    ids = await seed(core)
    mine = await add_action(core, ids, "Pintar el letrero", date(2026, 4, 9))
    photo = DocumentRef("AgACAgEAAxkBAAIBZ2", None, "image/jpeg", 12345)
    [unsupported] = await core.event(ANA, EventKind.PHOTO, document=photo)
    async with core.app.sessions() as s:
        assert (await s.scalar(select(ActionUpdate))) is None
    assert unsupported.text
    await press_payload(core, ANA, ids["ana"], f"ac:{mine}:d")
    [kept] = await core.event(ANA, EventKind.PHOTO, document=photo, text="Así quedó")
    assert "Foto guardada" in kept.text
    async with core.app.sessions() as s:
        update = await s.scalar(select(ActionUpdate))
    assert update.photo == {"channel": "telegram", "file_id": "AgACAgEAAxkBAAIBZ2",
                            "mime_type": "image/jpeg"}
    assert update.note == "Así quedó"


# --- photos from the platforms --------------------------------------------------------------


def test_a_telegram_photo_is_a_photo_event_of_its_largest_size() -> None:
    from bot.telegram import message_to_event
    from fakes.telegram_api import FakeTelegram

    server = FakeTelegram()
    update = server.photo(4242, caption="El letrero pintado")
    assert server.spec.validate_object("Update", update) == []
    ev = message_to_event(update["message"], update["update_id"])
    sizes = update["message"]["photo"]
    assert ev.kind == EventKind.PHOTO and ev.text == "El letrero pintado"
    assert ev.document.file_id == sizes[-1]["file_id"] != sizes[0]["file_id"]
    assert ev.document.mime_type == "image/jpeg"


async def test_a_whatsapp_image_reaches_the_report(fake_wa, settings_for, sqlite_url,
                                                   clock) -> None:
    from wa_cloud import CloudHarness
    from whatsapp_harness import running

    async with running(fake_wa, settings_for, sqlite_url, clock, dispatch=False) as r:
        wa = CloudHarness(r)
        now = clock.now()
        async with r.app.sessions() as s:
            program = await programs.create(s, template="ecomercado-15m",
                                            start=date(2026, 3, 2), name="Ecomercado Ñuñoa",
                                            now=now)
            await s.commit()
            program_id = program.id
        ana = await add_member(r.app.sessions, now, "whatsapp", "56911110001", "Ana Pérez",
                               "es", "grupo_motor", program_id=program_id)
        async with r.app.sessions() as s:
            item = await actions.add(s, program_id=program_id, text="Pintar el letrero",
                                     now=now, due=date(2026, 4, 9), responsible_person_id=ana)
            await s.commit()
        await wa.send("56911110001", "/avance")
        await wa.press("56911110001", "Pintar el letrero", contains=True)
        await wa.press("56911110001", "✅ Hecho")
        await wa._after("56911110001", fake_wa.image("56911110001", caption="Así quedó"))
        async with r.app.sessions() as s:
            update = await s.scalar(select(ActionUpdate).where(
                ActionUpdate.action_id == item.id))
        assert update.status == ActionStatus.DONE
        assert update.photo["channel"] == "whatsapp" and update.photo["mime_type"] == "image/jpeg"
        assert update.photo["file_id"] and update.note == "Así quedó"
        assert "Foto guardada" in wa.chat("56911110001")[-1].text


# --- the documents as verificadores -----------------------------------------------------------


async def test_the_acta_is_evidence_and_renders_in_english_too(core: CoreHarness,
                                                               tmp_path: Path) -> None:
    ids = await seed(core)
    core.app.clock.set(datetime(2026, 3, 11, 15, 0, tzinfo=UTC))
    async with core.app.sessions() as s:
        from storage import minutes as minutes_store

        m = await minutes_store.for_meeting(s, ids["program"], ids["meeting"],
                                            now=core.app.clock.now(), by_person_id=ids["gestora"])
        await minutes_store.add_item(s, m, "topic", "Año de cosecha: ñandú y pingüinos",
                                     now=core.app.clock.now())
        await s.commit()
        program = await s.get(Program, ids["program"])
        assert verificadores.PRODUCERS["minutes"].scope == "meeting"
        req = Request(s, program, "minutes", Ctx(core.app.catalogs, "en", program.timezone,
                                                 core.app.clock.now()),
                      subject_id=ids["meeting"], meeting_kind="grupo_motor")
        [ev] = await verificadores.PRODUCERS["minutes"].evidence(req)
        [file] = await verificadores.PRODUCERS["minutes"].make(req)
    assert ev.on == date(2026, 3, 10) and ev.subject_id == ids["meeting"]
    text = pdf_text(file.content, tmp_path, "minutes.pdf")
    assert "Minutes of agreements and commitments" in text
    assert "Año de cosecha: ñandú y pingüinos" in text and "None recorded." in text


async def test_what_is_sent_long_after_a_report_is_not_taken_as_its_note(
        core: CoreHarness) -> None:
    ids = await seed(core)
    mine = await add_action(core, ids, "Pintar el letrero", date(2026, 4, 9))
    await press_payload(core, ANA, ids["ana"], f"ac:{mine}:u")
    core.app.clock.set(core.app.clock.now() + timedelta(hours=5))
    [reply] = await core.text(ANA, "¿A qué hora es la reunión?")
    assert "Nota guardada" not in reply.text
    async with core.app.sessions() as s:
        update = await s.scalar(select(ActionUpdate))
    assert update.note is None


async def test_on_whatsapp_the_reminder_outside_the_window_is_a_template_tapped_twice(
        fake_wa, settings_for, sqlite_url, clock) -> None:
    from wa_cloud import CloudHarness
    from whatsapp_harness import running

    async with running(fake_wa, settings_for, sqlite_url, clock, dispatch=False) as r:
        wa = CloudHarness(r)
        now = clock.now()
        async with r.app.sessions() as s:
            program = await programs.create(s, template="ecomercado-15m",
                                            start=date(2026, 3, 2), name="Ecomercado Ñuñoa",
                                            now=now)
            await s.commit()
            program_id = program.id
        ana = await add_member(r.app.sessions, now, "whatsapp", "56911110001", "Ana Pérez",
                               "es", "grupo_motor", program_id=program_id)
        async with r.app.sessions() as s:
            item = await actions.add(s, program_id=program_id, text="Pintar el letrero",
                                     now=now, due=date(2026, 3, 12), responsible_person_id=ana)
            await s.commit()
        clock.set(at_local(date(2026, 3, 9), time(9), SCL))
        await NoticeScheduler(r.app.sessions, clock, notices.compose).tick()
        await wa.drain()
        [reminder] = wa.chat("56911110001")
        assert reminder.template == ("convoca_action_due", "es")
        assert "Pintar el letrero" in reminder.text
        [noted] = await wa.press("56911110001", "✅ Hecho")
        assert noted.text.startswith("Anotado (Hecho).")
        [thanks] = await wa.press("56911110001", "Listo")
        assert thanks.text == "¡Gracias! Quedó anotado."
        async with r.app.sessions() as s:
            assert (await s.get(ActionItem, item.id)).status == ActionStatus.DONE


async def test_the_acta_on_a_channel_with_whatsapps_limits(wa) -> None:
    """Three buttons, lists of ten, short labels, no month of days: the date is typed."""
    from test_wa_limited_flows import add_person, programme

    program_id, gm = await programme(wa)
    gestora = "56900000001"
    await add_person(wa, gestora, "Gabriela Muñoz", "es", "gestora")
    ana = await add_person(wa, "56900000002", "Ana Pérez", "es", "grupo_motor",
                           program_id=program_id, body_id=gm)
    now = wa.app.clock.now()
    async with wa.app.sessions() as s:
        m = Meeting(program_id=program_id, body_id=gm, kind="grupo_motor",
                    starts_at=now - timedelta(days=1), place="Sede Villa Ñuñoa",
                    status="scheduled", created_at=now - timedelta(days=3))
        s.add(m)
        await s.flush()
        s.add(Rsvp(meeting_id=m.id, person_id=ana, invited_at=now - timedelta(days=3),
                   answer="yes", answered_at=now - timedelta(days=3)))
        await s.commit()
    await wa.send(gestora, "/panel")
    await wa.press(gestora, "Actas, planes y cierre", contains=True)
    await wa.press(gestora, "Actas y seguimiento", contains=True)
    await wa.press(gestora, "Escribir o ver un acta", contains=True)
    await wa.press(gestora, "mar 2026 · Sesión", contains=True)
    await wa.send(gestora, "Presupuesto de la feria")
    await wa.press(gestora, "Listo")
    await wa.send(gestora, "Hacer la feria en abril")
    await wa.press(gestora, "Listo")
    await wa.send(gestora, "Pedir cotización de estantes")
    await wa.press(gestora, "Ana Pérez")
    [noted] = await wa.send(gestora, "20-03-2026")
    assert "a cargo de Ana Pérez, para el viernes 20 de marzo" in noted.text
    [summary] = await wa.press(gestora, "Terminar", contains=True)
    assert "Pedir cotización de estantes · Ana Pérez" in summary.text
    [pdf] = await wa.press(gestora, "Enviar acta en PDF", contains=True)
    assert "lista para imprimir" in pdf.text


async def test_a_commitment_agreed_after_its_reminders_morning_is_reminded_on_the_day_only(
        core: CoreHarness) -> None:
    ids = await seed(core)
    core.app.clock.set(at_local(date(2026, 3, 11), time(18), SCL))  # the session's evening
    await add_action(core, ids, "Llamar al municipio", date(2026, 3, 14))
    async with core.app.sessions() as s:
        planned = [(n.kind, n.fire_at.astimezone(SCL).replace(tzinfo=None))
                   for n in await Planner(s).window(datetime(2026, 3, 10, tzinfo=UTC),
                                                    datetime(2026, 3, 20, tzinfo=UTC))
                   if n.kind == "action_due"]
    assert planned == [("action_due", datetime(2026, 3, 14, 9))]


async def test_a_simulated_programmes_actas_and_matrix_are_made_as_verificadores(
        sessions, tmp_path: Path) -> None:
    """From a 15-month programme on record (tests/programme_records.py): every acta of a
    sustainability session and the follow-up matrix, found by the template's verifiers."""
    from programme_records import simulate

    from locales import Catalogs

    now = datetime(2027, 4, 2, 15, tzinfo=UTC)  # month 13
    async with sessions() as s:
        rec = await simulate(s, now)
        await s.commit()
        program = await s.get(Program, rec.program_id)
        ctx = Ctx(Catalogs(), "es", program.timezone, now)
        made = [(r, ev, files) for r, ev, files in await verificadores.make_every(
            s, program, ctx, stages=[4]) if r.producer.key in ("minutes", "follow_up_matrix")]
    keys = {r.producer.key for r, _, _ in made}
    assert keys == {"minutes", "follow_up_matrix"}
    actas = [files[0] for r, _, files in made if r.producer.key == "minutes"]
    assert len(actas) >= 2
    text = pdf_text(actas[0].content, tmp_path, "acta-simulada.pdf")
    assert "El municipio aporta el local por dos años" in text and "Peñalolén" in text
    assert "Enviar el borrador del reglamento al Consejo Local" in text
    assert "Pendiente ·" in text and "atrasada" in text  # its deadline passed long ago
    async with sessions() as s:
        pdf = await minutes_documents.follow_up_matrix(s, rec.program_id, "pdf", now=now)
    text = pdf_text(pdf.content, tmp_path, "matriz-simulada.pdf")
    assert "Plan de comunicaciones" in text and "Falta el permiso del municipio" in text
    [matrix] = {files[0].filename: files[0] for r, _, files in made
                if r.producer.key == "follow_up_matrix"}.values()
    ws = load_workbook(io.BytesIO(matrix.content)).active
    cells = [r for r in ws.iter_rows(values_only=True)]
    assert "Plan de comunicaciones" in [r[0] for r in cells]
    assert any(r[5] and "atrasada" in r[5] for r in cells if r[0] and isinstance(r[0], int))


async def test_a_telegram_photo_reaches_the_report_through_the_running_bot(tg) -> None:
    now = tg.app.clock.now()
    async with tg.app.sessions() as s:
        program = await programs.create(s, template="ecomercado-15m", start=date(2026, 3, 2),
                                        name="Ecomercado Ñuñoa", now=now)
        await s.commit()
        program_id = program.id
    tg.fake.add_chat(4301, first_name="Ana", language_code="es")
    ana = await add_member(tg.app.sessions, now, "telegram", "4301", "Ana Pérez", "es",
                           "grupo_motor", program_id=program_id)
    async with tg.app.sessions() as s:
        item = await actions.add(s, program_id=program_id, text="Pintar el letrero", now=now,
                                 due=date(2026, 4, 9), responsible_person_id=ana)
        await s.commit()
    await tg.send(4301, "/avance")
    await tg.press(4301, "Pintar el letrero")
    await tg.press(4301, "⏳ En curso")
    before = len(tg.fake.delivered(4301))
    update = tg.fake.photo(4301, caption="Va la mitad")
    [kept] = await tg.replies(4301, before, 1)
    assert kept["text"].startswith("📷 Foto guardada")
    async with tg.app.sessions() as s:
        report = await s.scalar(select(ActionUpdate).where(ActionUpdate.action_id == item.id))
    largest = update["message"]["photo"][-1]["file_id"]
    assert report.photo == {"channel": "telegram", "file_id": largest,
                            "mime_type": "image/jpeg"}
    assert report.note == "Va la mitad" and report.status == ActionStatus.UNDER_WAY


# --- reviewer's findings: reports kept, the right acta, flows left alone, forged digits -----


async def acta_of(core: CoreHarness, ids: dict[str, int], meeting_id: int) -> int:
    async with core.app.sessions() as s:
        minutes = await minutes_store.for_meeting(s, ids["program"], meeting_id,
                                                  now=core.app.clock.now(),
                                                  by_person_id=ids["gestora"])
        await s.commit()
        return minutes.id


async def second_session(core: CoreHarness, ids: dict[str, int]) -> int:
    """Another Grupo Motor session, a week before, with Ana invited too."""
    async with core.app.sessions() as s:
        m = Meeting(program_id=ids["program"], body_id=ids["gm"], kind="grupo_motor",
                    starts_at=SESSION - timedelta(days=7),
                    ends_at=SESSION - timedelta(days=7, hours=-2), place="Sede",
                    status="scheduled", created_at=core.app.clock.now())
        s.add(m)
        await s.flush()
        s.add(Rsvp(meeting_id=m.id, person_id=ids["ana"], invited_at=m.created_at,
                   answer="yes", answered_at=m.created_at))
        await s.commit()
        return m.id


async def test_striking_a_reported_commitment_asks_first_and_keeps_its_reports(
        core: CoreHarness) -> None:
    ids = await seed(core)
    core.app.clock.set(datetime(2026, 3, 11, 15, 0, tzinfo=UTC))
    acta = await acta_of(core, ids, ids["meeting"])
    reported = await add_action(core, ids, "Pedir cotización", date(2026, 4, 9),
                                minutes_id=acta)
    untouched = await add_action(core, ids, "Anotado por error", date(2026, 4, 9),
                                 minutes_id=acta)
    await press_payload(core, ANA, ids["ana"], f"ac:{reported}:u")
    await core.text(GESTORA, "/panel")
    # One tap on a commitment with reports only asks.
    [ask] = await press_payload(core, GESTORA, ids["gestora"],
                                f"adm:minutes:x:{acta}:c{reported}")
    assert "ya tiene avances informados" in ask.text
    assert [b[0] for b in ask.buttons] == ["Sí, quitarlo", "No"]
    async with core.app.sessions() as s:
        assert (await s.get(ActionItem, reported)).status != ActionStatus.DROPPED
    # "No": back to the summary, nothing struck.
    replies = await core.press(GESTORA, "No")
    assert "Pedir cotización" in replies[-1].text
    [ask] = await press_payload(core, GESTORA, ids["gestora"],
                                f"adm:minutes:x:{acta}:c{reported}")
    replies = await core.press(GESTORA, "Sí, quitarlo")
    assert "queda en el seguimiento como descartado" in replies[0].text
    assert "Pedir cotización" not in replies[1].text
    # One never reported on goes at once, as before.
    replies = await press_payload(core, GESTORA, ids["gestora"],
                                  f"adm:minutes:x:{acta}:c{untouched}")
    assert replies[0].text == "Listo, lo quité."
    async with core.app.sessions() as s:
        kept = await s.get(ActionItem, reported)
        assert kept is not None and kept.status == ActionStatus.DROPPED
        assert len((await actions.history(s, [reported]))[reported]) >= 1
        assert await s.get(ActionItem, untouched) is None
        assert await actions.of_minutes(s, acta) == []


async def test_an_old_button_of_another_acta_does_not_take_the_commitment_being_typed(
        core: CoreHarness) -> None:
    ids = await seed(core)
    core.app.clock.set(datetime(2026, 3, 11, 15, 0, tzinfo=UTC))
    acta_b = await acta_of(core, ids, await second_session(core, ids))
    acta_a = await acta_of(core, ids, ids["meeting"])
    await core.text(GESTORA, "/panel")
    await press_payload(core, GESTORA, ids["gestora"], f"adm:minutes:c:{acta_a}")
    [who] = await core.text(GESTORA, "Comprar pintura")
    assert "Comprar pintura" in who.text
    stale = core.app.catalogs.text("es", "input.button_stale")
    # Acta B's old "who" button, then its calendar, while A's commitment is being typed.
    [refused] = await press_payload(core, GESTORA, ids["gestora"],
                                    f"adm:minutes:w:{acta_b}:{ids['ana']}")
    assert refused.text == stale
    await press_payload(core, GESTORA, ids["gestora"], f"adm:minutes:w:{acta_a}:{ids['ana']}")
    [refused] = await press_payload(core, GESTORA, ids["gestora"],
                                    f"adm:minutes:cal{acta_b}:d:20260325")
    assert refused.text == stale
    [refused] = await press_payload(core, GESTORA, ids["gestora"], f"adm:minutes:n:{acta_b}")
    assert refused.text == stale
    [noted] = await press_payload(core, GESTORA, ids["gestora"],
                                  f"adm:minutes:cal{acta_a}:d:20260325")
    assert "Comprar pintura" in noted.text
    async with core.app.sessions() as s:
        assert [a.text for a in await actions.of_minutes(s, acta_a)] == ["Comprar pintura"]
        assert await actions.of_minutes(s, acta_b) == []


async def test_a_report_button_leaves_another_flow_as_it_was(core: CoreHarness) -> None:
    ids = await seed(core)
    core.app.clock.set(datetime(2026, 3, 11, 15, 0, tzinfo=UTC))
    mine = await add_action(core, ids, "Llevar las mesas", date(2026, 4, 9), person="gestora")
    acta = await acta_of(core, ids, ids["meeting"])
    await core.text(GESTORA, "/panel")
    await press_payload(core, GESTORA, ids["gestora"], f"adm:minutes:t:{acta}")
    [noted] = await press_payload(core, GESTORA, ids["gestora"], f"ac:{mine}:d")
    assert noted.text.startswith("Anotado (")
    assert "/avance" in noted.text
    # What she types next is still a topic of the acta, not the report's note.
    [kept] = await core.text(GESTORA, "Presupuesto de la feria")
    assert "1 tema" in kept.text
    async with core.app.sessions() as s:
        [update] = (await actions.history(s, [mine]))[mine]
        assert update.status == ActionStatus.DONE and not update.note


async def test_a_forged_button_with_a_superscript_digit_is_stale(core: CoreHarness) -> None:
    ids = await seed(core)
    acta = await acta_of(core, ids, ids["meeting"])
    stale = core.app.catalogs.text("es", "input.button_stale")
    await core.text(GESTORA, "/panel")
    for forged in ("ac:²:d", "ac:ok:²"):
        [reply] = await press_payload(core, ANA, ids["ana"], forged)
        assert reply.text == stale, forged
    [reply] = await press_payload(core, GESTORA, ids["gestora"], "adm:minutes:s:²")
    assert reply.text == stale
    [reply] = await press_payload(core, GESTORA, ids["gestora"], "adm:minutes:cal²:d:20260325")
    assert reply.text == stale
    replies = await press_payload(core, GESTORA, ids["gestora"], f"adm:minutes:x:{acta}:c²")
    assert replies[0].text == "Ese punto ya no estaba en el acta."
