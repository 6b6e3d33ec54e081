"""storage.diagnosis, storage.plans and domain.priorities on their own: entries in order,
criteria replaced keeping the scores of those kept, ranks with ties, plans one per kind led
by their body, and what removing an objective or an action keeps for the follow-up."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import func, select

from domain import priorities
from domain.priorities import Problem
from storage import actions, programs
from storage import diagnosis as diag
from storage import plans as plan_store
from storage.models import (
    ActionItem,
    ActionStatus,
    Body,
    PlanKind,
    PlanObjective,
    PriorityScore,
)

NOW = datetime(2026, 6, 1, 15, tzinfo=UTC)


def test_ranks_share_ties_and_skip_after_them() -> None:
    ranked = priorities.rank([(1, 12), (2, 15), (3, 12), (4, 6), (5, 6), (6, 3)])
    assert [(r.key, r.total, r.rank) for r in ranked] == [
        (2, 15, 1), (1, 12, 2), (3, 12, 2), (4, 6, 4), (5, 6, 4), (6, 3, 6)]
    assert priorities.rank([]) == []


def test_answers_are_read_kindly() -> None:
    assert priorities.entries("- uno\n\n2) dos\n• tres ") == ["uno", "dos", "tres"]
    assert priorities.criteria("Urgencia, Impacto\nurgencia\nCosto") == [
        "Urgencia", "Impacto", "Costo"]
    assert priorities.scores("4 5 3", 3) == [4, 5, 3]
    assert priorities.scores("4", 3) == [4]
    assert priorities.scores("4,5,3", 3) == [4, 5, 3]
    for text, wanted, code in (("7", 3, "score_range"), ("0", 1, "score_range"),
                               ("cuatro", 3, "score_not_number"), ("4 5", 3, "score_count"),
                               ("", 3, "score_not_number")):
        with pytest.raises(Problem) as exc:
            priorities.scores(text, wanted)
        assert exc.value.code == code, text
    with pytest.raises(Problem, match="too_many_criteria"):
        priorities.criteria("a\nb\nc\nd\ne\nf")
    with pytest.raises(Problem, match="empty"):
        priorities.short_text("   ", 10)
    with pytest.raises(Problem, match="too_long"):
        priorities.short_text("x" * 11, 10)


async def test_the_matrix_scores_needs_and_resources_apart(sessions) -> None:
    async with sessions() as s:
        program = await programs.create(s, template="ecomercado-10m", start=date(2026, 1, 5),
                                        name="Ecomercado Ñuñoa", now=NOW)
        await diag.add(s, program.id, "strength", ["Buena convocatoria"], now=NOW,
                       meeting_id=None)
        needs = await diag.add(s, program.id, "problem", ["A", "B", "C"], now=NOW,
                               meeting_id=None)
        [res] = await diag.add(s, program.id, "resource", ["Sede"], now=NOW, meeting_id=None)
        assert [e.position for e in needs] == [1, 2, 3]
        urg, imp = await diag.set_criteria(s, program.id, ["Urgencia", "Impacto"])
        for e, (u, i) in zip(needs, ((3, 3), (5, 4), (4, 2)), strict=True):
            await diag.set_score(s, e.id, urg.id, u, meeting_id=None)
            await diag.set_score(s, e.id, imp.id, i, meeting_id=None)
        await diag.set_score(s, res.id, urg.id, 2, meeting_id=None)
        await diag.set_score(s, needs[0].id, urg.id, 3, meeting_id=None)  # again: one row
        m = await diag.matrix(s, program.id)
        assert [(r.entry.text, r.scores, r.total, r.rank) for r in m.tables["problem"]] == [
            ("B", [5, 4], 9, 1), ("A", [3, 3], 6, 2), ("C", [4, 2], 6, 2)]
        # Not scored on every criterion: listed last, without a rank.
        assert [(r.entry.text, r.scores, r.rank) for r in m.tables["resource"]] == [
            ("Sede", [2, None], None)]
        assert (m.scored, m.size) == (3, 4)
        # A criterion dropped takes its scores; one kept by name keeps them.
        await diag.set_criteria(s, program.id, ["urgencia", "Factibilidad"])
        crits = await diag.criteria(s, program.id)
        assert [c.name for c in crits] == ["urgencia", "Factibilidad"] and crits[0].id == urg.id
        assert set((await diag.scores(s, program.id)).values()) == {3, 5, 4, 2}
        assert len(await diag.scores(s, program.id)) == 4
        # Removing an entry removes its scores.
        await diag.remove(s, needs[1])
        assert await s.scalar(select(func.count()).select_from(PriorityScore)) == 3
        assert [e.text for e in await diag.entries(s, program.id)] == [
            "Buena convocatoria", "Sede", "A", "C"]
        with pytest.raises(ValueError):
            await diag.add(s, program.id, "opportunity", ["x"], now=NOW, meeting_id=None)


async def test_plans_one_per_kind_and_what_removing_keeps(sessions) -> None:
    async with sessions() as s:
        program = await programs.create(s, template="ecomercado-10m", start=date(2026, 1, 5),
                                        name="Ecomercado Ñuñoa", now=NOW)
        work = await plan_store.ensure(s, program.id, PlanKind.WORK, now=NOW)
        assert await plan_store.ensure(s, program.id, PlanKind.WORK, now=NOW) is work
        comms = await plan_store.ensure(s, program.id, PlanKind.COMMUNICATIONS, now=NOW)
        assert (await s.get(Body, work.body_id)).kind == "grupo_motor"
        assert (await s.get(Body, comms.body_id)).kind == "consejo_local"
        o1 = await plan_store.add_objective(s, work, "Uno")
        o2 = await plan_store.add_objective(s, work, "Dos")
        assert [o.position for o in await plan_store.objectives(s, work.id)] == [1, 2]
        a1 = await actions.add(s, program_id=program.id, text="a1", now=NOW, plan_id=work.id,
                               objective_id=o1.id, due=date(2026, 7, 1))
        a2 = await actions.add(s, program_id=program.id, text="a2", now=NOW, plan_id=work.id,
                               objective_id=o1.id, due=date(2026, 7, 2))
        await actions.report(s, a2, ActionStatus.UNDER_WAY, now=NOW, by_person_id=None)
        a3 = await actions.add(s, program_id=program.id, text="a3", now=NOW, plan_id=work.id,
                               objective_id=o2.id)
        assert await plan_store.next_action_position(s, work.id) == 1  # positions unset here
        # An action with a report is kept, dropped; one without goes.
        assert await plan_store.remove_action(s, a3, now=NOW) is True
        await plan_store.remove_objective(s, o1, now=NOW)
        left = (await s.scalars(select(ActionItem))).all()
        assert [(a.text, a.status, a.objective_id) for a in left] == [
            ("a2", ActionStatus.DROPPED, None)]
        assert a1 not in left
        assert [o.text for o in await plan_store.objectives(s, work.id)] == ["Dos"]
        assert await s.scalar(select(func.count()).select_from(PlanObjective)) == 1
        await plan_store.approve(s, work, meeting_id=None, at=NOW)  # type: ignore[arg-type]
        assert work.approved_at == NOW
        assert await plan_store.last_change(s, work) >= work.created_at


def test_numbering_is_dropped_but_a_number_in_the_words_stays() -> None:
    assert priorities.lines("1. Falta agua\n2) Sede\n- Camioneta\n10.- Difusión\n"
                            "3.500 familias sin agua\n• Huerto") == [
        "Falta agua", "Sede", "Camioneta", "Difusión", "3.500 familias sin agua", "Huerto"]
