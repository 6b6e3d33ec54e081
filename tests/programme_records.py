"""A 15-month Ecomercado on record, as a gestora would have left it by month 13: the catastro
and its invitations, fichas and commitments signed with RUT, the bodies constituted with
their protocols, every kind of session held with its attendance, the diagnosis and the
priority matrix, both plans with their actions reported on month after month, actas with
commitments, delivery days with their families, the hand-over of goods and the evaluation.

Written with the models alone (no flow, no service), so that it stands for the data any
version of the flows leaves behind; the names carry accents and ñ on purpose."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from domain import forms
from domain.program_templates import add_months, load_template
from storage import people, programs, responses
from storage.models import (
    ActionItem,
    ActionStatus,
    ActionUpdate,
    AgreedText,
    Attendance,
    Body,
    DeliveryDay,
    DiagnosisCategory,
    DiagnosisEntry,
    Family,
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
    Person,
    Pickup,
    PickupStatus,
    Plan,
    PlanKind,
    PlanObjective,
    PriorityCriterion,
    PriorityScore,
    Program,
    Representative,
    Role,
    Rsvp,
    RsvpAnswer,
)

SCL = ZoneInfo("America/Santiago")
START = date(2026, 3, 2)

ORGS = [
    ("Junta de Vecinos Población Ñuñoa Alto", "junta_vecinos", "65.123.456-5"),
    ("Club de Adulto Mayor Los Añiñuelos", "adulto_mayor", "65.234.567-1"),
    ("Sindicato de Feria Libre Peñalolén", "sindicato_feria", "65.345.678-8"),
    ("Comité de Vivienda Esperanza Mañío", "comite", None),
    ("Cooperativa Campesina Ñuble Unido", "cooperativa", "65.456.789-3"),
    ("ONG Manos Solidarias", "ong", "65.567.890-K"),
]
LEADERS = [
    ("María José Núñez Peña", "12.345.678-5", "Presidenta"),
    ("Begoña Zúñiga Díaz", "9.876.543-3", "Secretaria"),
    ("Iñaki Muñoz Ortúzar", "15.234.567-4", "Presidente"),
    ("Sofía Ñancupil Huenchumán", "17.345.678-2", "Tesorera"),
    ("José Andrés Peñaloza", "8.765.432-1", "Presidente"),
    ("Ángela Cáceres Muñoz", "11.222.333-9", "Coordinadora"),
]
COUNCIL = [
    ("Rodrigo Saavedra Ibáñez", "10.111.222-3", "Municipalidad de Peñalolén"),
    ("Patricia Gómez Ñilipán", "13.444.555-6", "Sindicato de Feria Libre Peñalolén"),
    ("Héctor Fuenzalida", "14.666.777-8", "ONG Manos Solidarias"),
]
AGREED = {
    "procedimiento_interno": "Procedimiento interno del Ecomercado Solidario de Peñalolén.\n"
    "1. Las familias retiran su canasta en el local los jueves de 10:00 a 12:00.\n"
    "2. Quien no puede venir avisa por el bot y puede mandar a otra persona con su RUT.",
    "acta_estructura_municipal": "El municipio, el Grupo Motor y el Consejo Local acuerdan una "
    "mesa de gestión del Ecomercado con un encargado municipal y dos dirigentas.",
    "reglamento_interno_municipal": "La mesa se reúne una vez al mes; sus acuerdos constan en "
    "acta; el encargado municipal convoca y la secretaria lleva el registro.",
    "documento_funciones_atribuciones": "Municipio: local y servicios básicos. Grupo Motor: "
    "turnos y difusión. Consejo Local: donaciones de la feria y redes.",
    "procedimiento_interno_modificado": "Se agrega la entrega a domicilio para personas "
    "mayores y con discapacidad, coordinada por la junta de vecinos.",
    "reglamento_uso": "Los bienes se usan solo para el Ecomercado. La organización receptora "
    "los mantiene, no los vende ni presta, y rinde cuenta al Consejo Local cada seis meses.",
}
PROTOCOL = ("Nos reunimos el primer martes de cada mes a las 18:00 en la sede de la junta de "
            "vecinos.\nLos acuerdos se toman por mayoría de las personas presentes y constan "
            "en acta.\nQuien falta a tres sesiones seguidas sin avisar deja su cupo a otra "
            "organización comprometida.")


def at(d: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(d, time(hour, minute), SCL).astimezone(UTC)


@dataclass
class Records:
    program_id: int
    gestora_id: int
    meetings: dict[str, list[int]] = field(default_factory=dict)  # kind -> ids
    bodies: dict[str, int] = field(default_factory=dict)
    organizations: list[int] = field(default_factory=list)
    plans: dict[str, int] = field(default_factory=dict)
    actions: list[int] = field(default_factory=list)
    delivery_days: list[int] = field(default_factory=list)


async def simulate(session, now: datetime, *, months: int = 13) -> Records:
    """The programme's records up to the end of month ``months`` (13: everything)."""
    tpl = load_template("ecomercado-15m")
    t0 = at(START, 8)
    program = await programs.create(session, template=tpl, start=START,
                                    name="Ecomercado Solidario Peñalolén", now=t0)
    program.settings = {**(program.settings or {}), "executor": "Fundación Trabajo Ñuble",
                        "comuna": "Peñalolén", "region": "Metropolitana"}
    end = at(add_months(START, months), 0)

    async def person(address: str, name: str, rut: str | None, role: Role) -> int:
        p = await people.create_with_address(
            session, "telegram", address, t0, consent_at=t0, locale="es", name=name, rut=rut,
            phone=f"+5699{address.zfill(7)}", program_id=program.id)
        await people.grant(session, p, role, program.id, t0)
        return p.id

    gestora = await person("1", "Carolina Gestora Ñúñez", "16.123.456-0", Role.GESTORA)
    rec = Records(program.id, gestora)
    bodies = {b.kind: b for b in await programs.bodies(session, program.id)}
    rec.bodies = {k: b.id for k, b in bodies.items()}

    # --- catastro, invitations, fichas and commitments (stage 1) ---------------------------
    ficha_def = await responses.ensure_definition(session, forms.load_form("ficha_interes"), t0)
    try:
        commit_def = await responses.ensure_definition(
            session, forms.load_form("compromiso_participacion"), t0)
        declare_def = await responses.ensure_definition(
            session, forms.load_form("declaracion_compromiso"), t0)
    except Exception:
        commit_def = declare_def = None
    leaders: list[int] = []
    for i, ((org_name, kind, org_rut), (leader, rut, position)) in enumerate(
            zip(ORGS, LEADERS, strict=True)):
        org = Organization(program_id=program.id, name=org_name, kind=kind, rut=org_rut,
                           sector="Lo Hermida", address=f"Los Aromos {1400 + i}, Peñalolén",
                           members_count=20 + 5 * i, created_at=t0)
        session.add(org)
        await session.flush()
        rec.organizations.append(org.id)
        pid = await person(str(10 + i), leader, rut, Role.REPRESENTANTE)
        leaders.append(pid)
        session.add(Representative(organization_id=org.id, person_id=pid, position=position,
                                   is_primary=True))
        sent = at(START + timedelta(days=1), 10)
        session.add(OrganizationInvitation(organization_id=org.id, purpose="socializacion",
                                           sent_at=sent, answer="yes",
                                           answered_at=sent + timedelta(hours=3)))
        signed = at(START + timedelta(days=5 + i), 19)
        answers = {"organization_name": org_name, "organization_kind": kind,
                   "formalized": org_rut is not None, "sector": "Lo Hermida",
                   "members_count": 20 + 5 * i, "representative_name": leader,
                   "representative_rut": {"compact": rut.replace(".", "").replace("-", ""),
                                          "formatted": rut},
                   "representative_role": position, "representative_phone": f"+5699{10 + i:07d}",
                   "participation": ["grupo_motor", "difusion"],
                   "available_days": ["martes", "jueves"], "available_times": ["tarde"]}
        if org_rut:
            answers["organization_rut"] = {"compact": org_rut.replace(".", "").replace("-", ""),
                                           "formatted": org_rut}
        ficha = FormResponse(form_id=ficha_def.id, person_id=pid, organization_id=org.id,
                             program_id=program.id, status="submitted", answers=answers,
                             started_at=signed, updated_at=signed, submitted_at=signed)
        session.add(ficha)
        await session.flush()
        session.add(FormSignature(response_id=ficha.id, person_id=pid, signed_name=leader,
                                  signed_rut=rut, signed_at=signed))
        if commit_def is not None:
            committed = signed + timedelta(days=14)
            c = FormResponse(form_id=commit_def.id, person_id=pid, organization_id=org.id,
                             program_id=program.id, status="submitted",
                             answers={"representative_name": leader}, started_at=committed,
                             updated_at=committed, submitted_at=committed)
            session.add(c)
            await session.flush()
            session.add(FormSignature(response_id=c.id, person_id=pid, signed_name=leader,
                                      signed_rut=rut, signed_at=committed))
            org.committed_at = committed

    council: list[int] = []
    for i, (name, rut, _where) in enumerate(COUNCIL):
        council.append(await person(str(30 + i), name, rut, Role.CONSEJO_LOCAL))

    # --- sessions, with who came ---------------------------------------------------------
    async def held(kind: str, day: date, attendees: list[int], body: str | None = None,
                   place: str = "Sede Junta de Vecinos Ñuñoa Alto") -> int:
        m = Meeting(program_id=program.id, kind=kind, starts_at=at(day, 18),
                    ends_at=at(day, 20), place=place, address="Los Aromos 1456, Peñalolén",
                    status=MeetingStatus.HELD,
                    body_id=rec.bodies.get(body) if body else None, created_by=gestora,
                    created_at=t0)
        session.add(m)
        await session.flush()
        for j, pid in enumerate(attendees):
            session.add(Rsvp(meeting_id=m.id, person_id=pid, invited_at=at(day, 9) -
                             timedelta(days=7), answer=RsvpAnswer.YES, answered_at=at(day, 9)))
            # One in five who said yes does not come: attendance is not confirmation.
            session.add(Attendance(meeting_id=m.id, person_id=pid, present=j % 5 != 4,
                                   method="marked", marked_at=at(day, 18, 15),
                                   marked_by=gestora))
        rec.meetings.setdefault(kind, []).append(m.id)
        return m.id

    def month_day(month: int, day: int = 1) -> date:
        """A Tuesday near day ``day`` of programme month ``month`` (1-based)."""
        d = add_months(START, month - 1) + timedelta(days=day - 1)
        return d + timedelta(days=(1 - d.weekday()) % 7)

    everyone = leaders + council
    gm_members = leaders[:5]
    cl_members = council + leaders[:1]
    await held("socializacion", START + timedelta(days=8), leaders)
    diag = await held("diagnostico", START + timedelta(days=20), leaders)
    gm_first = await held("grupo_motor", month_day(2, 10), gm_members, "grupo_motor")
    for month in range(3, months + 1):
        await held("grupo_motor", month_day(month), gm_members, "grupo_motor")
    cl_first = await held("consejo_local", month_day(3, 20), cl_members, "consejo_local")
    for month in range(5, months + 1, 2):
        await held("consejo_local", month_day(month, 12), cl_members, "consejo_local")
    for month in (5, 7, 9, 11):
        await held("formacion", month_day(month, 20), everyone)
    prio = await held("priorizacion", month_day(5, 15), gm_members, "grupo_motor")
    for day in (3, 17):
        await held("plan_trabajo", month_day(6, day), gm_members, "grupo_motor")
        await held("plan_comunicaciones", month_day(6, day + 2), cl_members, "consejo_local")
    proyeccion = [await held("proyeccion", month_day(m, 24), gm_members + council[:1])
                  for m in (8, 10)]
    traspaso = [await held("traspaso", month_day(13, d), everyone) for d in (3, 10)]
    evaluacion = await held("evaluacion", month_day(13, 20), everyone)

    # --- the bodies: members, declarations, constitution, protocol (stage 2) --------------
    for kind, members, first in (("grupo_motor", gm_members, gm_first),
                                 ("consejo_local", cl_members, cl_first)):
        body = bodies[kind]
        first_at = (await session.get(Meeting, first)).starts_at
        body.constituted_at = first_at
        body.constitution_meeting_id = first
        for pid in members:
            signed = first_at + timedelta(days=2)
            session.add(Membership(body_id=body.id, person_id=pid, joined_at=first_at,
                                   commitment_signed_at=signed if declare_def else None))
            if declare_def is not None:
                name = (await session.get(Person, pid)).name
                d = FormResponse(form_id=declare_def.id, person_id=pid, program_id=program.id,
                                 status="submitted", answers={"body": kind},
                                 started_at=signed, updated_at=signed, submitted_at=signed)
                session.add(d)
                await session.flush()
                session.add(FormSignature(response_id=d.id, person_id=pid, signed_name=name,
                                          signed_at=signed))
        session.add(AgreedText(program_id=program.id, key="protocolo_funcionamiento",
                               body_id=body.id, meeting_id=first, text=PROTOCOL, version=1,
                               recorded_by=gestora, recorded_at=first_at))
    for key, text in AGREED.items():
        session.add(AgreedText(program_id=program.id, key=key, text=text, version=1,
                               recorded_by=gestora, recorded_at=at(START + timedelta(days=3), 12)
                               if key == "procedimiento_interno" else at(month_day(10), 21),
                               meeting_id=proyeccion[-1] if key != "procedimiento_interno"
                               else None))

    # --- diagnosis and the priority matrix (stages 1 and 3) --------------------------------
    entries = {
        DiagnosisCategory.STRENGTH: ["Dirigentas con experiencia en ollas comunes",
                                     "Sede vecinal disponible los jueves"],
        DiagnosisCategory.WEAKNESS: ["Poca participación de jóvenes"],
        DiagnosisCategory.RESOURCE: ["Donaciones de la feria libre", "Camioneta municipal"],
        DiagnosisCategory.PROBLEM: ["Falta de refrigeración", "Familias sin teléfono",
                                    "Difusión escasa en los pasajes"],
    }
    entry_ids: list[int] = []
    for cat, texts in entries.items():
        for pos, text in enumerate(texts, 1):
            e = DiagnosisEntry(program_id=program.id, meeting_id=diag, category=cat, text=text,
                               position=pos, created_at=at(START + timedelta(days=20), 20))
            session.add(e)
            await session.flush()
            if cat in (DiagnosisCategory.RESOURCE, DiagnosisCategory.PROBLEM):
                entry_ids.append(e.id)
    criteria = []
    for pos, name in enumerate(("Urgencia", "Factibilidad", "Impacto en las familias"), 1):
        c = PriorityCriterion(program_id=program.id, name=name, position=pos)
        session.add(c)
        await session.flush()
        criteria.append(c.id)
    for i, eid in enumerate(entry_ids):
        for j, cid in enumerate(criteria):
            session.add(PriorityScore(entry_id=eid, criterion_id=cid, score=1 + (i + j) % 5,
                                      meeting_id=prio))

    # --- the two plans, their actions and a year of reports (stages 3 and 4) --------------
    plan_data = {
        PlanKind.WORK: ("grupo_motor", rec.meetings["plan_trabajo"][-1], [
            ("Que la comunidad organizada administre el local", [
                ("Turnos de atención con tres organizaciones", "Local abierto 2 días por "
                 "semana", gm_members[0], 7, "Llaves y cuaderno de turnos", False, None),
                ("Capacitación en manipulación de alimentos", "12 personas capacitadas",
                 gm_members[1], 8, "Relator del Cesfam", True, "Cesfam Peñalolén"),
            ]),
            ("Sumar donantes estables", [
                ("Convenio con la feria libre", "Donación semanal", gm_members[2], 9,
                 "Carta de compromiso", True, "Sindicato de Feria Libre Peñalolén"),
            ]),
        ]),
        PlanKind.COMMUNICATIONS: ("consejo_local", rec.meetings["plan_comunicaciones"][-1], [
            ("Que todas las familias sepan cómo funciona el Ecomercado", [
                ("Afiches en almacenes y sedes", "30 afiches", council[0], 7, "Impresión",
                 False, None),
                ("Mensaje mensual por radio comunitaria", "6 mensajes al aire", council[1], 10,
                 "Guion", True, "Radio Ñuñoa FM"),
            ]),
        ]),
    }
    statuses = [ActionStatus.UNDER_WAY, ActionStatus.STUCK, ActionStatus.UNDER_WAY,
                ActionStatus.DONE]
    for kind, (body_kind, approved_in, objectives) in plan_data.items():
        approved = (await session.get(Meeting, approved_in)).starts_at
        plan = Plan(program_id=program.id, kind=kind, body_id=rec.bodies[body_kind],
                    approved_at=approved, approved_meeting_id=approved_in, created_at=approved)
        session.add(plan)
        await session.flush()
        rec.plans[kind] = plan.id
        for opos, (objective, actions) in enumerate(objectives, 1):
            o = PlanObjective(plan_id=plan.id, text=objective, position=opos)
            session.add(o)
            await session.flush()
            for apos, (text, result, who, due_month, needs, alliance, ally) in enumerate(
                    actions, 1):
                a = ActionItem(program_id=program.id, plan_id=plan.id, objective_id=o.id,
                               text=text, expected_result=result, requirements=needs,
                               alliance=alliance, alliance_with=ally,
                               responsible_person_id=who, starts=add_months(START, 6),
                               due=add_months(START, due_month) - timedelta(days=1),
                               position=apos, created_by=gestora, created_at=approved)
                session.add(a)
                await session.flush()
                rec.actions.append(a.id)
                # A report at the end of each month from month 7, until done or the end.
                for k, month in enumerate(range(7, min(months, due_month + 1) + 1)):
                    status = statuses[min(k, len(statuses) - 1)]
                    if month == due_month + 1 and apos % 2 == 0:
                        status = ActionStatus.STUCK  # one left stuck, past its deadline
                    when = at(add_months(START, month) - timedelta(days=3), 20)
                    if when > end:
                        break
                    session.add(ActionUpdate(action_id=a.id, status=status, at=when,
                                             by_person_id=who,
                                             note="Falta el permiso del municipio"
                                             if status == ActionStatus.STUCK else None))
                    a.status, a.status_at = status, when

    # --- actas of the sustainability sessions, with commitments (stage 4) ------------------
    for mid in proyeccion:
        m = await session.get(Meeting, mid)
        minutes = Minutes(program_id=program.id, meeting_id=mid, recorded_by=gestora,
                          recorded_at=m.starts_at + timedelta(hours=3),
                          updated_at=m.starts_at + timedelta(hours=3))
        session.add(minutes)
        await session.flush()
        for pos, (section, text) in enumerate([
                (MinutesSection.TOPIC, "Continuidad del Ecomercado después del convenio"),
                (MinutesSection.AGREEMENT, "El municipio aporta el local por dos años"),
                (MinutesSection.AGREEMENT, "El Grupo Motor propone el reglamento de uso")], 1):
            session.add(MinutesItem(minutes_id=minutes.id, section=section, text=text,
                                    position=pos))
        a = ActionItem(program_id=program.id, minutes_id=minutes.id,
                       text="Enviar el borrador del reglamento al Consejo Local",
                       responsible_person_id=gm_members[1],
                       due=m.starts_at.astimezone(SCL).date() + timedelta(days=14),
                       created_by=gestora, created_at=m.starts_at + timedelta(hours=3))
        session.add(a)
        await session.flush()
        rec.actions.append(a.id)

    # --- closing: hand-over of goods and the evaluation (stage 4) ---------------------------
    handed = await session.get(Meeting, traspaso[-1])
    handover = Handover(program_id=program.id, organization_id=rec.organizations[0],
                        meeting_id=handed.id, handed_on=handed.starts_at.astimezone(SCL).date(),
                        recorded_by=gestora, recorded_at=handed.starts_at + timedelta(hours=2))
    session.add(handover)
    await session.flush()
    for pos, (what, qty, value, state) in enumerate([
            ("Refrigerador vertical 400 L", 1, 459_990, "Nuevo"),
            ("Balanza digital 30 kg", 2, 39_990, "Nuevo"),
            ("Estantería metálica de 5 niveles", 4, 54_990, "Bueno"),
            ("Carro de carga plegable", 1, 89_990, "Bueno")], 1):
        session.add(HandoverGood(handover_id=handover.id, description=what, quantity=qty,
                                 unit_value=value, condition=state, position=pos))
    ev = await session.get(Meeting, evaluacion)
    ev_minutes = Minutes(program_id=program.id, meeting_id=evaluacion, recorded_by=gestora,
                         recorded_at=ev.starts_at + timedelta(hours=3),
                         updated_at=ev.starts_at + timedelta(hours=3))
    session.add(ev_minutes)
    await session.flush()
    for pos, (section, text) in enumerate([
            (MinutesSection.ACHIEVEMENT, "Seis organizaciones comprometidas y un local propio"),
            (MinutesSection.DIFFICULTY, "Costó sumar a las familias sin teléfono"),
            (MinutesSection.LESSON, "Los recordatorios por WhatsApp subieron la asistencia"),
            (MinutesSection.RECOMMENDATION, "Mantener la mesa municipal cada mes")], 1):
        session.add(MinutesItem(minutes_id=ev_minutes.id, section=section, text=text,
                                position=pos))

    # --- families and their delivery days ---------------------------------------------------
    families = []
    for i in range(24):
        f = Family(program_id=program.id, name=f"Familia {['Soto', 'Núñez', 'Peña', 'Ñirre'][i % 4]}"
                   f" {i + 1}", rut=f"{20_000_000 + i * 7919}-{i % 10}",
                   phone=f"+56988{i:06d}", sector="Lo Hermida",
                   pickup_mode="domicilio" if i % 8 == 0 else "retiro", created_at=t0)
        session.add(f)
        await session.flush()
        families.append(f.id)
    day = START + timedelta(days=10)
    while at(day, 12) <= min(end, now):
        dd = DeliveryDay(program_id=program.id, window_start=at(day, 10), window_end=at(day, 12),
                         place="Sede Junta de Vecinos Ñuñoa Alto", created_at=t0)
        session.add(dd)
        await session.flush()
        rec.delivery_days.append(dd.id)
        for j, fid in enumerate(families):
            status = [PickupStatus.PICKED_UP, PickupStatus.CONFIRMED, PickupStatus.CANNOT,
                      PickupStatus.NO_SHOW][j % 4]
            session.add(Pickup(delivery_day_id=dd.id, family_id=fid, status=status,
                               notified_at=at(day, 10) - timedelta(days=2),
                               responded_at=at(day, 10) - timedelta(days=1),
                               reason="Estoy enferma, con licencia"
                               if status == PickupStatus.CANNOT else None))
        day += timedelta(weeks=4)
    await session.flush()
    assert isinstance(program, Program) and isinstance(bodies["grupo_motor"], Body)
    return rec
