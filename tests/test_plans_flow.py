"""Stage 3 in chat, end to end through the conversation core: the gestora records the
diagnosis from its session, the body's criteria and the scores of the priority matrix, and
the two plans with every element the guide asks, validated in a session; bad answers (a
score of 7, an empty objective, a deadline in the past) get a kind word and the question
again."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from core_harness import CoreHarness, Reply
from sqlalchemy import select

from bot.app import build_app
from handlers.admin import action
from handlers.events import EventKind
from storage import actions, people, programs
from storage import diagnosis as diag
from storage import plans as plan_store
from storage.models import (
    ActionItem,
    Body,
    Meeting,
    Membership,
    Plan,
    PlanKind,
    Role,
)

SANTIAGO = ZoneInfo("America/Santiago")
GESTORA = "900"


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=SANTIAGO).astimezone(UTC)


@pytest.fixture
async def core(settings_for, sqlite_url, clock):
    clock.set(local(2026, 6, 25, 10))
    app = await build_app(settings_for(sqlite_url), clock=clock)
    yield CoreHarness(app)
    await app.close()


async def seed(core: CoreHarness) -> dict[str, int]:
    """A 15-month programme with its gestora, two Grupo Motor members and one of the Consejo
    Local, and the stage's sessions already held."""
    now = core.app.clock.now()
    ids: dict[str, int] = {}
    async with core.app.sessions() as s:
        program = await programs.create(s, template="ecomercado-15m", start=date(2026, 1, 5),
                                        name="Ecomercado Solidario Peñalolén", now=now)
        ids["program"] = program.id
        bodies = {b.kind: b for b in await programs.bodies(s, program.id)}
        for address, name, role, body in (
            (GESTORA, "Carolina Gestora", Role.GESTORA, None),
            ("901", "Ana Muñoz", Role.GRUPO_MOTOR, "grupo_motor"),
            ("902", "Iñaki Peña", Role.GRUPO_MOTOR, "grupo_motor"),
            ("903", "Sofía Ñancupil", Role.CONSEJO_LOCAL, "consejo_local"),
        ):
            p = await people.create_with_address(s, "telegram", address, now, name=name,
                                                 consent_at=now, locale="es",
                                                 program_id=program.id)
            await people.grant(s, p, role, program.id, now)
            ids[name] = p.id
            if body:
                s.add(Membership(body_id=bodies[body].id, person_id=p.id, joined_at=now))
        for kind, when in (("diagnostico", local(2026, 4, 10, 18)),
                           ("priorizacion", local(2026, 6, 5, 18)),
                           ("plan_trabajo", local(2026, 6, 19, 18)),
                           ("plan_comunicaciones", local(2026, 6, 22, 18))):
            body = {"priorizacion": "grupo_motor", "plan_trabajo": "grupo_motor",
                    "plan_comunicaciones": "consejo_local"}.get(kind)
            m = Meeting(program_id=program.id, kind=kind, starts_at=when, status="held",
                        body_id=bodies[body].id if body else None, created_at=now)
            s.add(m)
            await s.flush()
            ids[kind] = m.id
        await s.commit()
    return ids


async def press_starting(core: CoreHarness, address: str, prefix: str) -> list[Reply]:
    for reply in reversed(core.last.get(address, [])):
        for label, payload in reply.buttons:
            if label.startswith(prefix):
                return await core.event(address, EventKind.BUTTON, button=payload)
    raise AssertionError(f"no button starting {prefix!r}: {core.buttons(address)}")


async def open_section(core: CoreHarness) -> None:
    await core.text(GESTORA, "/panel")
    await core.press(GESTORA, "📚 Actas, planes y cierre")
    [menu] = await core.press(GESTORA, "🧭 Diagnóstico y planes")
    assert "Diagnóstico y planes (etapa 3)" in menu.text


def joined(replies: list[Reply]) -> str:
    return "\n".join(r.text for r in replies)


async def test_the_diagnosis_is_recorded_category_by_category(core: CoreHarness) -> None:
    ids = await seed(core)
    await open_section(core)
    [empty] = await core.press(GESTORA, "🔎 Diagnóstico")
    assert "El diagnóstico está vacío" in empty.text
    [ask] = await core.press(GESTORA, "✍️ Anotar el diagnóstico")
    assert "¿En qué sesión hicieron el diagnóstico?" in ask.text
    assert [label for label, _ in ask.buttons][:2] == ["vie 10 abr 2026 · Sesión diagnóstica",
                                                      "Sin sesión"]
    [first] = await press_starting(core, GESTORA, "vie 10 abr 2026")
    assert first.text.startswith("1 de 4 · Fortalezas")
    [noted] = await core.text(GESTORA, "- Buena convocatoria\n- Líderes con experiencia")
    assert "Anoté 2 entradas en Fortalezas" in noted.text
    [again] = await core.text(GESTORA, "   ")
    assert again.text.startswith("No me llegó texto.") and "1 de 4 · Fortalezas" in again.text
    [nxt] = await core.press(GESTORA, "✅ Listo")
    assert nxt.text.startswith("2 de 4 · Debilidades")
    await core.text(GESTORA, "Poca difusión en redes")
    [nxt] = await core.text(GESTORA, "listo")  # typed, as the button says
    assert nxt.text.startswith("3 de 4 · Recursos y potencialidades")
    await core.text(GESTORA, "Sede vecinal con cocina\nHuerto comunitario")
    [nxt] = await core.press(GESTORA, "✅ Listo")
    assert nxt.text.startswith("4 de 4 · Necesidades y problemas")
    await core.text(GESTORA, "Falta refrigeración")
    await core.text(GESTORA, "Pocas personas voluntarias los sábados")
    [summary] = await core.press(GESTORA, "✅ Listo")
    assert "Sesión: Sesión diagnóstica, viernes 10 de abril de 2026" in summary.text
    for part in ("— Fortalezas —\n1. Buena convocatoria\n2. Líderes con experiencia",
                 "— Debilidades —\n1. Poca difusión en redes",
                 "— Necesidades y problemas —\n1. Falta refrigeración\n2. Pocas personas"):
        assert part in summary.text, summary.text
    [pick] = await core.press(GESTORA, "🗑 Quitar una entrada")
    assert "Fortalezas: Buena convocatoria" in [label for label, _ in pick.buttons]
    replies = await core.press(GESTORA, "Fortalezas: Buena convocatoria")
    assert "Quité «Buena convocatoria»." in joined(replies)
    await core.press(GESTORA, "◀ Volver")
    [doc] = await core.press(GESTORA, "📄 Documento PDF")
    assert doc.attachment == "diagnostico-ecomercado-solidario-penalolen-2026-04-10.pdf"
    async with core.app.sessions() as s:
        rows = await diag.entries(s, ids["program"])
        assert [(r.category, r.text) for r in rows] == [
            ("strength", "Líderes con experiencia"), ("weakness", "Poca difusión en redes"),
            ("resource", "Sede vecinal con cocina"), ("resource", "Huerto comunitario"),
            ("problem", "Falta refrigeración"),
            ("problem", "Pocas personas voluntarias los sábados")]
        assert {r.meeting_id for r in rows} == {ids["diagnostico"]}


async def seed_diagnosis(core: CoreHarness, ids: dict[str, int]) -> None:
    async with core.app.sessions() as s:
        now = core.app.clock.now()
        for category, texts in (("strength", ["Buena convocatoria"]),
                                ("problem", ["Falta refrigeración", "Pocos voluntarios"]),
                                ("resource", ["Sede vecinal", "Huerto comunitario"])):
            await diag.add(s, ids["program"], category, texts, now=now,
                           meeting_id=ids["diagnostico"])
        await s.commit()


async def test_the_priority_matrix_is_scored_one_question_at_a_time(core: CoreHarness) -> None:
    ids = await seed(core)
    await seed_diagnosis(core, ids)
    await open_section(core)
    [first] = await core.press(GESTORA, "📊 Matriz de priorización")
    assert "Hay 4 necesidades y recursos por priorizar" in first.text
    [ask] = await core.press(GESTORA, "⚖️ Elegir los criterios")
    assert "¿Con qué criterios van a priorizar?" in ask.text
    [too_many] = await core.text(GESTORA, "a, b, c, d, e, f")
    assert too_many.text.startswith("Son muchos criterios: elijan entre 1 y 5.")
    replies = await core.press(GESTORA, "Usar Urgencia, Factibilidad y Impacto")
    assert "Criterios: Urgencia, Factibilidad, Impacto." in joined(replies)
    await press_starting(core, GESTORA, "vie 5 jun 2026 · Sesión de priorización")
    [q] = core.last[GESTORA]
    assert q.text.startswith("Necesidades y problemas 1 de 2:\n«Falta refrigeración»")
    assert "¿Qué puntaje tiene en Urgencia?" in q.text
    assert [label for label, _ in q.buttons][:5] == ["1", "2", "3", "4", "5"]
    [bad] = await core.text(GESTORA, "7")
    assert bad.text.startswith("El puntaje va de 1 (poco) a 5 (mucho).")
    assert "en Urgencia?" in bad.text
    [q] = await core.press(GESTORA, "5")
    assert "en Factibilidad?" in q.text
    await core.press(GESTORA, "3")
    [q] = await core.text(GESTORA, "4")  # typed: the button of that label
    assert "Necesidades y problemas 2 de 2:\n«Pocos voluntarios»" in q.text
    [bad] = await core.text(GESTORA, "4 5")
    assert bad.text.startswith("Escribe un puntaje, o uno para cada criterio")
    await core.text(GESTORA, "4 5 3")
    [q] = core.last[GESTORA]
    assert q.text.startswith("Recursos y potencialidades 1 de 2:\n«Sede vecinal»")
    await core.text(GESTORA, "5 5 5")
    replies = await core.text(GESTORA, "1, 2, 1")
    text = joined(replies)
    assert "Listo, quedaron todos los puntajes." in text
    assert "Criterios: Urgencia, Factibilidad, Impacto" in text
    assert "Sesión: Sesión de priorización, viernes 5 de junio de 2026" in text
    # A tie shares its place: both needs total 12.
    assert "1° Falta refrigeración · 5 · 3 · 4 = 12" in text
    assert "1° Pocos voluntarios · 4 · 5 · 3 = 12" in text
    assert "1° Sede vecinal · 5 · 5 · 5 = 15\n2° Huerto comunitario · 1 · 2 · 1 = 4" in text
    [sheet] = await core.press(GESTORA, "📊 Planilla Excel")
    assert sheet.attachment == ("matriz-priorizacion-ecomercado-solidario-penalolen-"
                                "2026-06-05.xlsx")
    async with core.app.sessions() as s:
        m = await diag.matrix(s, ids["program"])
        assert m.scored == 4
        assert [c.name for c in m.criteria] == ["Urgencia", "Factibilidad", "Impacto"]


async def test_criteria_typed_and_changed_keep_the_scores_of_those_kept(
        core: CoreHarness) -> None:
    ids = await seed(core)
    await seed_diagnosis(core, ids)
    async with core.app.sessions() as s:
        kept = await diag.set_criteria(s, ids["program"], ["Urgencia", "Costo"])
        entry = (await diag.entries(s, ids["program"], "problem"))[0]
        await diag.set_score(s, entry.id, kept[0].id, 4, meeting_id=None)
        await diag.set_score(s, entry.id, kept[1].id, 2, meeting_id=None)
        await s.commit()
    await open_section(core)
    await core.press(GESTORA, "📊 Matriz de priorización")
    await core.press(GESTORA, "⚖️ Elegir los criterios")
    replies = await core.text(GESTORA, "Urgencia\nImpacto")
    assert "Criterios: Urgencia, Impacto." in joined(replies)
    async with core.app.sessions() as s:
        given = await diag.scores(s, ids["program"])
        crits = await diag.criteria(s, ids["program"])
        assert [c.name for c in crits] == ["Urgencia", "Impacto"]
        assert given == {(entry.id, crits[0].id): 4}


async def test_the_work_plan_with_every_element_validated_in_a_session(
        core: CoreHarness) -> None:
    ids = await seed(core)
    await open_section(core)
    [plan] = await core.press(GESTORA, "🛠 Plan de trabajo participativo")
    assert "Lo lidera: Grupo Motor" in plan.text and "Todavía no tiene objetivos" in plan.text
    [ask] = await core.press(GESTORA, "➕ Agregar un objetivo")
    assert ask.text.startswith("🎯 ¿Qué queremos lograr?")
    [again] = await core.text(GESTORA, "  ")
    assert again.text.startswith("No me llegó texto.") and "¿Qué queremos lograr?" in again.text
    [added] = await core.text(GESTORA, "Incorporar a la comunidad en la operación del Ecomercado")
    assert "Objetivo anotado" in added.text
    replies = await core.press(GESTORA, "➕ Agregar una acción a este objetivo")
    assert "¿Qué haremos?" in joined(replies)
    [q] = await core.text(GESTORA, "Turnos de voluntariado los sábados")
    assert "¿Qué resultado esperan" in q.text
    [q] = await core.text(GESTORA, "Cuatro personas por turno, con cuadrante publicado")
    assert "¿Quién es responsable?" in q.text
    assert [label for label, _ in q.buttons][:3] == ["Ana Muñoz", "Iñaki Peña", "👤 Otra persona"]
    [q] = await core.press(GESTORA, "Iñaki Peña")
    assert "¿Para cuándo?" in q.text and q.raw.date_pick is not None
    [past] = await core.text(GESTORA, "01-05-2026")
    assert past.text.startswith("Ese día ya pasó. Elige un plazo desde hoy en adelante.")
    # The calendar's day, as a channel that shows one sends it back.
    pid = ids["Carolina Gestora"]
    payload = core.app.services.buttons.pack(pid, action("plans", "cal", "d", "20260715"))
    [q] = await core.event(GESTORA, EventKind.BUTTON, button=payload)
    assert "¿Qué se necesita para lograrla?" in q.text
    [q] = await core.press(GESTORA, "Ninguno")
    assert "¿Hay que activar alguna alianza?" in q.text
    [done] = await core.press(GESTORA, "No")
    assert "Acción anotada" in done.text and "Responsable: Iñaki Peña" in done.text
    assert "Plazo: miércoles 15 de julio de 2026" in done.text
    # A second action, with someone not in Convoca and an alliance.
    await core.press(GESTORA, "➕ Agregar una acción a este objetivo")
    await core.text(GESTORA, "Feria de difusión en la plaza")
    await core.text(GESTORA, "Cien vecinas y vecinos conocen el Ecomercado")
    [q] = await core.press(GESTORA, "👤 Otra persona")
    assert "Escribe el nombre" in q.text
    await core.text(GESTORA, "Pedro Tapia (JJVV)")
    [q] = await core.text(GESTORA, "31-07-2026")
    assert "¿Qué se necesita" in q.text
    await core.text(GESTORA, "Mesas, toldo y parlante")
    [q] = await core.press(GESTORA, "Sí")
    assert "¿Con quién o quiénes?" in q.text
    [done] = await core.text(GESTORA, "Junta de Vecinos Villa Ñuñoa")
    assert "Alianzas: sí, con Junta de Vecinos Villa Ñuñoa" in done.text
    [plan] = await core.press(GESTORA, "📋 Ver el plan")
    assert "🎯 Objetivo 1: Incorporar a la comunidad" in plan.text
    assert "1.1 Turnos de voluntariado los sábados" in plan.text
    assert "1.2 Feria de difusión en la plaza" in plan.text
    assert "Aún no se valida en una sesión." in plan.text
    [ask] = await core.press(GESTORA, "✅ Validar el plan en una sesión")
    assert "¿En qué sesión validaron el plan?" in ask.text
    # A forged or stale button naming a session the list did not offer (the diagnosis) is
    # answered as stale: the plan is not validated there.
    offered = core.last[GESTORA]  # still in the chat, above the forged one
    from handlers.admin.plans import act as plans_act
    [forged] = await core.event(GESTORA, EventKind.BUTTON, button=core.app.services.buttons.pack(
        ids["Carolina Gestora"], plans_act("pvm", ids["diagnostico"])))
    assert forged.text.startswith("Ese botón ya no sirve")
    async with core.app.sessions() as s:
        unvalidated = await plan_store.of_kind(s, ids["program"], PlanKind.WORK)
        assert unvalidated is None or unvalidated.approved_at is None
    core.last[GESTORA] = offered
    replies = await press_starting(core, GESTORA, "vie 19 jun 2026")
    text = joined(replies)
    assert "Plan validado en la sesión del viernes 19 de junio de 2026." in text
    assert "✅ Validado en la sesión del viernes 19 de junio de 2026" in text
    async with core.app.sessions() as s:
        plan_row = await plan_store.of_kind(s, ids["program"], PlanKind.WORK)
        assert plan_row.approved_meeting_id == ids["plan_trabajo"]
        assert plan_row.approved_at is not None
        body = await s.get(Body, plan_row.body_id)
        assert body.kind == "grupo_motor"
        items = await actions.of_plan(s, plan_row.id)
        first, second = items
        assert (first.text, first.responsible_person_id, first.due, first.requirements,
                first.alliance) == ("Turnos de voluntariado los sábados", ids["Iñaki Peña"],
                                    date(2026, 7, 15), None, False)
        assert (second.responsible_name, second.due, second.requirements, second.alliance,
                second.alliance_with) == ("Pedro Tapia (JJVV)", date(2026, 7, 31),
                                          "Mesas, toldo y parlante", True,
                                          "Junta de Vecinos Villa Ñuñoa")
        assert first.objective_id == second.objective_id is not None
    # Removing an action.
    [pick] = await core.press(GESTORA, "🗑 Quitar algo")
    replies = await core.press(GESTORA, "▪️ Feria de difusión en la plaza")
    assert "Quité «Feria de difusión en la plaza»." in joined(replies)
    [doc] = await core.press(GESTORA, "📄 Documento PDF")
    assert doc.attachment == ("plan-trabajo-participativo-ecomercado-solidario-penalolen-"
                              "2026-06-19.pdf")
    assert doc.text == "📎 Aquí está, listo para imprimir y firmar."
    async with core.app.sessions() as s:
        assert len((await s.scalars(select(ActionItem))).all()) == 1


async def test_the_communications_plan_is_the_consejo_locals(core: CoreHarness) -> None:
    ids = await seed(core)
    await open_section(core)
    [plan] = await core.press(GESTORA, "📣 Plan de comunicaciones")
    assert "Lo lidera: Consejo Local" in plan.text
    assert "➕ Agregar una acción" not in [label for label, _ in plan.buttons]
    await core.press(GESTORA, "➕ Agregar un objetivo")
    await core.text(GESTORA, "Dar a conocer el Ecomercado en la comuna")
    [plan] = await core.press(GESTORA, "📋 Ver el plan")
    # One objective: the action goes under it without asking which.
    replies = await core.press(GESTORA, "➕ Agregar una acción")
    assert "🎯 Objetivo 1: Dar a conocer el Ecomercado en la comuna" in joined(replies)
    await core.text(GESTORA, "Cápsulas en la radio comunitaria")
    await core.text(GESTORA, "Dos cápsulas al mes")
    [q] = core.last[GESTORA]
    assert [label for label, _ in q.buttons][:2] == ["Sofía Ñancupil", "👤 Otra persona"]
    await core.press(GESTORA, "Sofía Ñancupil")
    await core.text(GESTORA, "15-08-2026")
    await core.text(GESTORA, "Ninguno")
    await core.text(GESTORA, "sí")
    [done] = await core.text(GESTORA, "Radio Ñuñoa FM")
    assert "Responsable: Sofía Ñancupil" in done.text
    async with core.app.sessions() as s:
        row = await plan_store.of_kind(s, ids["program"], PlanKind.COMMUNICATIONS)
        assert (await s.get(Body, row.body_id)).kind == "consejo_local"
        [item] = await actions.of_plan(s, row.id)
        assert (item.responsible_person_id, item.alliance_with, item.requirements) == (
            ids["Sofía Ñancupil"], "Radio Ñuñoa FM", None)


@pytest.mark.parametrize("typed", ["hola", ""])
async def test_a_button_question_answered_in_words_asks_again(core: CoreHarness,
                                                              typed: str) -> None:
    await seed(core)
    await open_section(core)
    await core.press(GESTORA, "🔎 Diagnóstico")
    await core.press(GESTORA, "✍️ Anotar el diagnóstico")
    [again] = await core.text(GESTORA, typed or "¿?")
    assert again.text.startswith("Para esto necesito que toques uno de los botones.")
    assert "¿En qué sesión hicieron el diagnóstico?" in again.text


async def test_a_family_cannot_open_it(core: CoreHarness) -> None:
    ids = await seed(core)
    pid = ids["Ana Muñoz"]
    payload = core.app.services.buttons.pack(pid, action("plans", "pl", "w"))
    [reply] = await core.event("901", EventKind.BUTTON, button=payload)
    assert reply.text.startswith("Eso lo puede hacer solo el equipo")
    async with core.app.sessions() as s:
        assert (await s.scalars(select(Plan))).all() == []
