"""Each shipped template's verificadores, made from a simulated run: every activity's sessions
held with who came, and for every verificador the record its document is drawn from (an
acta, an agreed text, a plan and its reports, a hand-over...), chosen by the document the
template names, so a template whose verifier names a document that cannot be drawn from
what the programme records fails here. Then what the seeds' texts say of each template."""

from __future__ import annotations

import io
from datetime import date, datetime, time, timedelta

import pytest
from openpyxl import load_workbook
from sqlalchemy import select
from test_shipped_templates_run import start_of

from documents import verificadores
from documents.base import Ctx
from documents.closing import EVALUATION_SECTIONS, PER_BODY
from documents.plans import PLAN_OF_VERIFIER
from domain import forms
from domain.program_templates import ProgramTemplate, available_templates, load_template
from scheduler.planner import at_local
from storage import db, people, programs, responses
from storage.models import (
    ActionItem,
    ActionStatus,
    ActionUpdate,
    AgreedText,
    Attendance,
    Body,
    DiagnosisCategory,
    DiagnosisEntry,
    FormResponse,
    FormSignature,
    Handover,
    HandoverGood,
    Meeting,
    MeetingStatus,
    Membership,
    Minutes,
    MinutesItem,
    MinutesSection,
    Organization,
    OrganizationInvitation,
    Plan,
    PlanKind,
    PlanObjective,
    PriorityCriterion,
    PriorityScore,
    Program,
    Role,
    Rsvp,
    RsvpAnswer,
)

NAMES = ["María José Núñez", "Iñaki Muñoz", "Begoña Zúñiga", "Sofía Ñancupil", "José Peñaloza",
         "Ángela Cáceres", "Rodrigo Ibáñez", "Patricia Gómez", "Héctor Fuenzalida"]


class Recorder:
    """Writes, with the models alone, what a team would have recorded for each verifier."""

    def __init__(self, session, tpl: ProgramTemplate, program: Program, t0: datetime) -> None:
        self.s, self.tpl, self.program, self.t0 = session, tpl, program, t0
        self.zone = tpl.tz
        self.people: list[int] = []
        self.bodies: dict[str, Body] = {}
        self.organizations: list[Organization] = []
        self.plans: dict[str, Plan] = {}
        self.gestora = 0

    async def setup(self) -> None:
        async def person(i: int, name: str, role: Role) -> int:
            p = await people.create_with_address(
                self.s, "telegram", str(i + 1), self.t0, consent_at=self.t0, locale="es",
                name=name, program_id=self.program.id)
            await people.grant(self.s, p, role, self.program.id, self.t0)
            return p.id

        self.gestora = await person(0, "Carolina Gestora", Role.GESTORA)
        self.people = [await person(i + 1, n, Role.REPRESENTANTE) for i, n in enumerate(NAMES)]
        self.bodies = {b.kind: b for b in await programs.bodies(self.s, self.program.id)}
        for body in self.bodies.values():
            for pid in self.people[:max(self.tpl.body(body.kind).min_members, 3)]:
                self.s.add(Membership(body_id=body.id, person_id=pid, joined_at=self.t0))
        for name in ("Cooperativa Ñuble Unido", "Junta de Vecinos Peñablanca",
                     "Pre cooperativa Las Añañucas"):
            org = Organization(program_id=self.program.id, name=name, kind="cooperativa",
                               sector="Centro", created_at=self.t0)
            self.s.add(org)
            await self.s.flush()
            self.organizations.append(org)
        await self.s.flush()

    def at(self, d: date, hour: int) -> datetime:
        return at_local(d, time(hour), self.zone)

    async def sessions(self, kind: str, first: date, last: date, count: int) -> list[Meeting]:
        """``count`` sessions of ``kind`` spread over [first, last], each with who came."""
        body = self.tpl.meeting_kind(kind).body
        step = max((last - first).days // max(count, 1), 1)
        held = []
        for i in range(count):
            day = first + timedelta(days=i * step + 1)
            m = Meeting(program_id=self.program.id, kind=kind, starts_at=self.at(day, 18),
                        ends_at=self.at(day, 20), place="Sede", status=MeetingStatus.HELD,
                        body_id=self.bodies[body].id if body else None,
                        created_by=self.gestora, created_at=self.t0)
            self.s.add(m)
            await self.s.flush()
            for j, pid in enumerate(self.people[:5]):
                self.s.add(Rsvp(meeting_id=m.id, person_id=pid, invited_at=m.starts_at -
                                timedelta(days=7), answer=RsvpAnswer.YES,
                                answered_at=m.starts_at - timedelta(days=6)))
                self.s.add(Attendance(meeting_id=m.id, person_id=pid, present=j != 4,
                                      method="marked", marked_at=m.starts_at,
                                      marked_by=self.gestora))
            held.append(m)
        return held

    async def write_minutes(self, meeting: Meeting, sections: tuple[str, ...]) -> None:
        row = Minutes(program_id=self.program.id, meeting_id=meeting.id, recorded_by=self.gestora,
                      recorded_at=meeting.starts_at + timedelta(hours=3),
                      updated_at=meeting.starts_at + timedelta(hours=3))
        self.s.add(row)
        await self.s.flush()
        for pos, section in enumerate(sections, 1):
            self.s.add(MinutesItem(minutes_id=row.id, section=section, position=pos,
                                   text=f"Acuerdo {pos}: la mesa revisa el avance con la comunidad"))

    async def plan(self, verifier: str, body: str | None, approved: Meeting | None,
                   last_day: date) -> Plan:
        kind = PLAN_OF_VERIFIER.get(verifier, PlanKind.WORK)
        if kind in self.plans:
            return self.plans[kind]
        when = approved.starts_at if approved else self.at(last_day, 12)
        plan = Plan(program_id=self.program.id, kind=kind,
                    body_id=self.bodies[body].id if body else None, approved_at=when,
                    approved_meeting_id=approved.id if approved else None, created_at=when)
        self.s.add(plan)
        await self.s.flush()
        objective = PlanObjective(plan_id=plan.id, text="Servicios que la comunidad administra",
                                  position=1)
        self.s.add(objective)
        await self.s.flush()
        for pos, text in enumerate(("Mesa de agua potable rural", "Camino vecinal"), 1):
            self.s.add(ActionItem(program_id=self.program.id, plan_id=plan.id,
                                  objective_id=objective.id, text=text, position=pos,
                                  expected_result="Obra recibida", requirements="Permisos",
                                  alliance=False, responsible_person_id=self.people[pos],
                                  starts=last_day, due=last_day + timedelta(days=90),
                                  created_by=self.gestora, created_at=when))
        self.plans[kind] = plan
        return plan

    async def record(self, key: str) -> None:
        _, act = self.tpl.activity(key)
        first = act.start.apply(self.program.start_date)
        last = act.end.apply(self.program.start_date) - timedelta(days=1)
        held = await self.sessions(act.meeting_kind, first, last, max(act.min_sessions, 1)) \
            if act.meeting_kind else []
        body = self.tpl.meeting_kind(act.meeting_kind).body if act.meeting_kind else None
        for verifier in act.verifiers:
            document = self.tpl.verifier(verifier).document
            if document in (None, "attendance", "progress_report"):
                continue  # made outside Convoca; the sessions themselves; the report months
            await getattr(self, RENAMED.get(document, document))(verifier, act, held, body,
                                                                 first, last)
            await self.s.flush()  # the session does not autoflush: the next reads see it

    # one method per document Convoca makes, by the name the templates give it -------------

    async def actas(self, held: list[Meeting], sections: tuple[str, ...]) -> None:
        for m in held:
            if not await self.s.scalar(select(Minutes.id).where(Minutes.meeting_id == m.id)):
                await self.write_minutes(m, sections)

    async def minutes_doc(self, verifier, act, held, body, first, last) -> None:
        await self.actas(held, (MinutesSection.TOPIC, MinutesSection.AGREEMENT))

    async def evaluation(self, verifier, act, held, body, first, last) -> None:
        await self.actas(held, EVALUATION_SECTIONS)

    async def agreed_text(self, verifier, act, held, body, first, last) -> None:
        bodies = [self.bodies[body]] if verifier in PER_BODY and body else \
            list(self.bodies.values()) if verifier in PER_BODY else [None]
        for b in bodies:
            self.s.add(AgreedText(program_id=self.program.id, key=verifier,
                                  body_id=b.id if b else None,
                                  meeting_id=held[0].id if held else None, version=1,
                                  text="Acordamos reunirnos cada mes y decidir por mayoría.",
                                  recorded_by=self.gestora,
                                  recorded_at=(held[0].starts_at if held else self.at(first, 12))
                                  + timedelta(hours=3)))

    async def constitution_acta(self, verifier, act, held, body, first, last) -> None:
        matching = [b for k, b in self.bodies.items() if verifier.endswith(k)] or \
            ([self.bodies[body]] if body else list(self.bodies.values()))
        for b in matching:
            if held:
                b.constituted_at = held[0].starts_at
                b.constitution_meeting_id = held[0].id if held[0].body_id == b.id else None
            else:
                b.constituted_at = self.at(first, 18)

    async def member_declarations(self, verifier, act, held, body, first, last) -> None:
        signed = (held[0].starts_at if held else self.at(first, 18)) + timedelta(days=1)
        for b in [self.bodies[body]] if body else self.bodies.values():
            for row in (await self.s.scalars(select(Membership)
                                             .where(Membership.body_id == b.id))).all():
                row.commitment_signed_at = signed

    async def invited_organizations(self, verifier, act, held, body, first, last) -> None:
        for org in self.organizations:
            sent = self.at(first, 10)
            self.s.add(OrganizationInvitation(organization_id=org.id, purpose=act.meeting_kind
                                              or "invitacion", sent_at=sent, answer="yes",
                                              answered_at=sent + timedelta(hours=2)))

    async def fichas(self, verifier, act, held, body, first, last) -> None:
        # The form the template's verifier names: the Ficha de Interés, a cooperative's
        # ficha, a community's application.
        key = self.tpl.verifier_form(verifier)
        form = forms.program_form(self.program, key) or forms.load_form(key)
        definition = await responses.ensure_definition(self.s, form, self.t0)
        for org, pid in zip(self.organizations, self.people, strict=False):
            signed = self.at(first + timedelta(days=2), 19)
            name = NAMES[self.people.index(pid)]
            answers = {q.key: sample_answer(q) for q in form.questions}
            answers.update({"organization_name": org.name, "representative_name": name,
                            "representative_role": "Presidenta"})
            response = FormResponse(
                form_id=definition.id, person_id=pid, organization_id=org.id,
                program_id=self.program.id, status="submitted", started_at=signed,
                updated_at=signed, submitted_at=signed,
                answers={k: v for k, v in answers.items() if form.has(k)})
            self.s.add(response)
            await self.s.flush()
            self.s.add(FormSignature(response_id=response.id, person_id=pid, signed_name=name,
                                     signed_at=signed))

    async def participation_commitments(self, verifier, act, held, body, first, last) -> None:
        definition = await responses.ensure_definition(
            self.s, forms.load_form("compromiso_participacion"), self.t0)
        committed = self.at(last, 12)
        for org, pid in zip(self.organizations, self.people, strict=False):
            name = NAMES[self.people.index(pid)]
            response = FormResponse(form_id=definition.id, person_id=pid, organization_id=org.id,
                                    program_id=self.program.id, status="submitted",
                                    answers={"representative_name": name}, started_at=committed,
                                    updated_at=committed, submitted_at=committed)
            self.s.add(response)
            await self.s.flush()
            self.s.add(FormSignature(response_id=response.id, person_id=pid, signed_name=name,
                                     signed_at=committed))
            org.committed_at = committed

    async def diagnosis(self, verifier, act, held, body, first, last) -> None:
        for pos, (category, text) in enumerate([
                (DiagnosisCategory.STRENGTH, "Dirigentas con experiencia"),
                (DiagnosisCategory.RESOURCE, "Sede vecinal"),
                (DiagnosisCategory.PROBLEM, "Falta de refrigeración")], 1):
            self.s.add(DiagnosisEntry(program_id=self.program.id,
                                      meeting_id=held[0].id if held else None,
                                      category=category, text=text, position=pos,
                                      created_at=self.at(first, 20)))

    async def priority_matrix(self, verifier, act, held, body, first, last) -> None:
        entries = (await self.s.scalars(select(DiagnosisEntry.id).where(
            DiagnosisEntry.program_id == self.program.id))).all()
        criterion = PriorityCriterion(program_id=self.program.id, name="Urgencia", position=1)
        self.s.add(criterion)
        await self.s.flush()
        for i, entry_id in enumerate(entries):
            self.s.add(PriorityScore(entry_id=entry_id, criterion_id=criterion.id, score=1 + i,
                                     meeting_id=held[0].id if held else None))

    async def plan_doc(self, verifier, act, held, body, first, last) -> None:
        await self.plan(verifier, body, held[-1] if held else None, last)

    async def follow_up_matrix(self, verifier, act, held, body, first, last) -> None:
        plan = self.plans.get(PlanKind.WORK) or await self.plan(verifier, body, None, first)
        for item in (await self.s.scalars(select(ActionItem)
                                          .where(ActionItem.plan_id == plan.id))).all():
            when = self.at(last, 20)
            self.s.add(ActionUpdate(action_id=item.id, status=ActionStatus.UNDER_WAY, at=when,
                                    by_person_id=item.responsible_person_id))
            item.status, item.status_at = ActionStatus.UNDER_WAY, when

    async def handover_acta(self, verifier, act, held, body, first, last) -> None:
        if await self.s.scalar(select(Handover.id).where(Handover.program_id == self.program.id)):
            return
        on = held[-1].starts_at if held else self.at(last, 12)
        handover = Handover(program_id=self.program.id,
                            organization_id=self.organizations[0].id,
                            meeting_id=held[-1].id if held else None,
                            handed_on=on.astimezone(self.zone).date(), recorded_by=self.gestora,
                            recorded_at=on + timedelta(hours=2))
        self.s.add(handover)
        await self.s.flush()
        for pos, (what, qty, value) in enumerate([("Refrigerador 400 L", 1, 459_990),
                                                  ("Balanza digital", 2, 39_990)], 1):
            self.s.add(HandoverGood(handover_id=handover.id, description=what, quantity=qty,
                                    unit_value=value, condition="Nuevo", position=pos))

    inventory = handover_acta


def sample_answer(q: forms.Question) -> object:
    """An answer of the question's type, as the chat stores it."""
    if q.type in ("choice",):
        return q.options[0].key if q.options else "x"
    if q.type == "multi_choice":
        return [q.options[0].key]
    return {"number": 20, "yes_no": False, "phone": "+56991234567",
            "email": "org@example.org", "date": "2026-03-02",
            "rut": {"compact": "123456785", "formatted": "12.345.678-5"},
            "national_id": {"compact": "123456785", "formatted": "12.345.678-5"},
            "org_tax_id": {"compact": "651234565", "formatted": "65.123.456-5"},
            }.get(q.type, "Centro")


# The template names documents as documents.registry does; two names read better renamed.
RENAMED = {"minutes": "minutes_doc", "plan": "plan_doc"}


async def simulate(tpl: ProgramTemplate, sqlite_url: str):
    engine = db.create_engine(sqlite_url)
    await db.upgrade(engine)
    sessions = db.session_factory(engine)
    start = start_of(tpl.key)
    t0 = at_local(start, time(8), tpl.tz)
    async with sessions() as s:
        program = await programs.create(s, template=tpl, start=start, name="Programa Ñuble",
                                        now=t0)
        program.settings = {**(program.settings or {}), "executor": "Fundación Ñuble",
                            "comuna": "Quilpué", "region": "Valparaíso"}
        rec = Recorder(s, tpl, program, t0)
        await rec.setup()
        for stage in tpl.stages:
            for act in stage.activities:
                await rec.record(act.key)
        await s.commit()
        program_id = program.id
    return engine, sessions, program_id, start


@pytest.mark.parametrize("key", available_templates())
async def test_every_verificador_of_a_simulated_programme_can_be_made(
        key: str, sqlite_url: str) -> None:
    tpl = load_template(key)
    engine, sessions, program_id, start = await simulate(tpl, sqlite_url)
    now = at_local(tpl.end_date(start) + timedelta(days=1), time(12), tpl.tz)
    try:
        async with sessions() as s:
            program = await s.get(Program, program_id)
            ctx = Ctx(None, "es", program.timezone, now)
            required = await verificadores.required(s, program, ctx)
            # One file of each (activity, verifier), from its first evidence: every kind of
            # document is made without drawing each session's list (make_every's job).
            made = [(r, r.evidence[0], await verificadores.make_for(
                s, program, ctx, r, r.evidence[0].subject_id, r.producer.formats[0]))
                for r in required if r.producer is not None and r.evidence]
            # The intake (fichas) verificador, as a sheet: it lists every organisation's
            # response to the form its verifier names, that form's questions as columns.
            intake = [(r, forms.program_form(program, tpl.verifier_form(r.verifier)),
                       await verificadores.make_for(s, program, ctx, r, None, "xlsx"))
                      for r in required if r.producer is not None
                      and r.producer.key == "fichas" and r.evidence]
    finally:
        await engine.dispose()

    outside = {r.verifier for r in required if r.producer is None}
    assert outside == {v.key for v in tpl.verifiers if v.document is None} & \
        {r.verifier for r in required}
    no_evidence = sorted({f"{r.activity}: {r.verifier}" for r in required
                          if r.producer is not None and not r.evidence})
    assert not no_evidence, no_evidence
    proved = {(r.activity, r.verifier) for r, _ev, files in made if files}
    assert {(r.activity, r.verifier) for r in required if r.producer is not None} <= proved
    for r, _ev, files in made:
        for f in files:
            magic = {"pdf": b"%PDF", "xlsx": b"PK", "csv": b""}[f.filename.rsplit(".", 1)[1]]
            assert f.content.startswith(magic) and len(f.content) > 200, (r.verifier, f.filename)
    assert intake, f"{key} has no intake verificador, or it is empty"
    for r, form, [sheet] in intake:
        assert form is not None
        rows = [[c for c in row if c is not None] for row in
                load_workbook(io.BytesIO(sheet.content)).active.iter_rows(values_only=True)]
        asked = {q.label["es"] for q in form.questions if q.when is None}
        [header] = [row for row in rows if asked <= set(row)]
        listed = [row[0] for row in rows[rows.index(header) + 1:]]
        assert listed == ["Cooperativa Ñuble Unido", "Junta de Vecinos Peñablanca",
                          "Pre cooperativa Las Añañucas"], (key, r.verifier, listed)
    # Each stage's verificadores, not only some: every stage has one Convoca made.
    assert {r.stage for r, _ev, files in made if files} >= \
        {st.number for st in tpl.stages
         if any(tpl.verifier(v).document for a in st.activities for v in a.verifiers)}


# --- what each seed's text says ---------------------------------------------------------------

# Seed 003: "8 pasos críticos", each with the deliverable its words name.
RURAL_STEPS = [
    ("definicion_territorios", "mapa_indicadores"),  # "preparar mapa e indicadores"
    ("validacion_territorios", "pacto_territorial"),  # "pacto entre el sector público y..."
    ("evaluacion_oferta", "evaluacion_oferta_inversion"),
    ("elaboracion_pmdt", "pmdt"),
    ("validacion_pmdt", "acta_validacion_pmdt"),
    ("ejecucion_inversion", "expedientes_inversion"),  # "evaluación técnico económica..."
    ("capacidades_gestion_local", "modelo_gestion_local"),
    ("seguimiento_pmdt", "matriz_seguimiento"),
]


def test_the_rural_programme_runs_its_eight_critical_steps_in_order() -> None:
    tpl = load_template("infraestructura-rural")
    acts = [(st.number, a) for st in tpl.stages for a in st.activities]
    assert [a.key for _, a in acts] == [step for step, _ in RURAL_STEPS]
    for (_, act), (_, deliverable) in zip(acts, RURAL_STEPS, strict=True):
        assert deliverable in act.verifiers, act.key
    # Steps begin in their order, within the text's three headings.
    starts = [a.start.apply(date(2026, 3, 2)) for _, a in acts]
    assert starts == sorted(starts)
    assert [[a.key for a in st.activities] for st in tpl.stages] == [
        ["definicion_territorios", "validacion_territorios"],
        ["evaluacion_oferta", "elaboracion_pmdt", "validacion_pmdt"],
        ["ejecucion_inversion", "capacidades_gestion_local", "seguimiento_pmdt"]]
    assert [f"Paso {n}" for n in range(1, 9)] == [a.name["es"].split(":")[0] for _, a in acts]
    # What Convoca cannot make (a GIS map, a sector study, the State's project files).
    assert {v.key for v in tpl.verifiers if v.document is None} == {
        "mapa_indicadores", "evaluacion_oferta_inversion", "expedientes_inversion"}


def test_canelones_runs_yearly_lines_on_montevideo_time() -> None:
    tpl = load_template("economia-solidaria-canelones")
    assert tpl.timezone == "America/Montevideo" and tpl.duration_months == 24
    first, second, housing = tpl.stages
    jan = date(2026, 1, 1)  # the template counts calendar months from 1 January
    year1, year2 = (jan, date(2027, 1, 1)), (date(2027, 1, 1), date(2028, 1, 1))
    for stage, (lo, hi) in ((first, year1), (second, year2)):
        for a in stage.activities:
            assert lo <= a.start.apply(jan) and a.end.apply(jan) <= hi, a.key
    assert housing.activities[0].end.apply(jan) == date(2028, 1, 1)
    # Dated items: the seminar in July, the course in October-November, the mesas in
    # September-October, the zonal encuentros in March-April of the second year.
    window = {a.key: (a.start.apply(jan), a.end.apply(jan) - timedelta(days=1))
              for st in tpl.stages for a in st.activities}
    assert window["seminario_compras_publicas"] == (date(2026, 7, 1), date(2026, 7, 31))
    assert window["curso_cooperativismo_1"] == (date(2026, 10, 1), date(2026, 11, 30))
    assert window["intercooperativos_1"] == (date(2026, 9, 1), date(2026, 10, 31))
    assert window["encuentros_cooperativas_sociales"] == (date(2027, 3, 1), date(2027, 4, 30))
    # "Mesa departamental Intercooperativa Mensual"; the eight and five institutions.
    assert tpl.body("mesa_intercooperativa").cadence_months == 1
    assert tpl.body("comision_institucional_pando").min_members == 8
    assert tpl.body("comision_tecnica_pando").min_members == 5
    assert tpl.progress_reports == [12, 24]


def test_the_valparaiso_programme_reaches_seven_comunas_through_their_teams() -> None:
    tpl = load_template("fortalecimiento-cooperativas")
    assert tpl.timezone == "America/Santiago"
    # "Petorca, La Ligua, Olmué, Viña del Mar, Quilpué, Villa Alemana y Concón".
    assert tpl.body("mesa_tecnica_municipal").min_members == 7
    assert tpl.body("red_intercomunal").min_members == 7
    _, convocatoria = tpl.activity("convocatoria_organizaciones")
    assert convocatoria.min_sessions == 7
    # The institutional beneficiaries first, then the final users; training, investment,
    # the network, in the text's order.
    assert [st.key for st in tpl.stages] == ["instalacion_convocatoria", "formacion_asesoria",
                                             "inversion_equipamiento", "articulacion_gobernanza"]
    start = date(2026, 3, 2)
    assert tpl.activity("constitucion_mesa_tecnica")[1].end.apply(start) <= \
        tpl.activity("convocatoria_organizaciones")[1].start.apply(start)
    # "legislación, gestión y contabilidad cooperativa": a session on each at least.
    for key in ("formacion_equipos_municipales", "formacion_organizaciones"):
        assert tpl.activity(key)[1].min_sessions == 3
