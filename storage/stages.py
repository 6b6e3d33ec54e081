"""The stage timeline: for each stage of the programme, its milestones with their dates and
what each still lacks: sessions held against the minimum, and the verifiers Convoca can
tell are ready or missing (the others the gestora confirms by marking the milestone done).

Used by `/etapas` in chat and available to the command line (`convoca timeline`).
Repositories never commit; the caller's unit of work does."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from domain.program_templates import (
    DECLARATION_DOCUMENT,
    DEFAULT_INTAKE_FORM,
    INTAKE_DOCUMENT,
    ProgramTemplate,
    program_template_or_none,
)
from locales import Msg
from storage import admin_meetings, fichas, programs
from storage.models import (
    Body,
    FormResponse,
    Meeting,
    MeetingStatus,
    Membership,
    Milestone,
    Organization,
    OrganizationInvitation,
    Program,
)

READY, MISSING, MANUAL = "ready", "missing", "manual"
# What Convoca holds itself counts as evidence: the fichas it received, the attendance it
# took, the invitations it sent. Missing when it holds none: it is where they are kept.
ATTENDANCE = "lista_asistencia"
FICHAS = "ficha_interes"
INVITED = "lista_organizaciones_invitadas"
# Records Convoca keeps when someone enters them, but that may as well live on paper:
# ready when it holds some, else for the gestora to check by hand.
COMMITMENTS = "compromiso_participacion"
DECLARATIONS = "declaracion_compromiso"


@dataclass(frozen=True)
class VerifierStatus:
    key: str
    name: dict[str, str]
    state: str  # ready | missing | manual
    found: Msg | None = None  # what Convoca holds for it: "3 fichas recibidas"


@dataclass(frozen=True)
class MilestoneStatus:
    id: int
    key: str
    stage: int
    kind: str
    name: dict[str, str]
    starts: date
    due: date
    planned_due: date
    done_at: datetime | None
    meeting_kind: str | None
    min_sessions: int
    sessions_held: int
    verifiers: tuple[VerifierStatus, ...]
    overdue: bool  # due passed and not done
    current: bool  # today lies in [starts, due]

    @property
    def done(self) -> bool:
        return self.done_at is not None

    @property
    def moved(self) -> bool:
        return self.due != self.planned_due

    @property
    def started(self) -> bool:
        return self.current or self.overdue or self.done

    @property
    def report_month(self) -> int | None:
        """The month a progress report is for (keys are ``<report key>.<month>``)."""
        if self.kind != "progress_report":
            return None
        tail = self.key.rsplit(".", 1)[-1]
        return int(tail) if tail.isdigit() else None

    @property
    def sessions_missing(self) -> int:
        return max(self.min_sessions - self.sessions_held, 0)

    def in_state(self, state: str) -> list[VerifierStatus]:
        return [v for v in self.verifiers if v.state == state]

    @property
    def lacking(self) -> bool:
        """Something Convoca knows is still missing."""
        return not self.done and (self.sessions_missing > 0 or bool(self.in_state(MISSING)))


@dataclass(frozen=True)
class StageStatus:
    number: int
    name: dict[str, str] | None  # None for milestones the template puts in no stage
    milestones: tuple[MilestoneStatus, ...] = field(default_factory=tuple)

    @property
    def starts(self) -> date:
        return min(m.starts for m in self.milestones)

    @property
    def due(self) -> date:
        return max(m.due for m in self.milestones)

    @property
    def overdue(self) -> int:
        return sum(1 for m in self.milestones if m.overdue)

    @property
    def done(self) -> int:
        return sum(1 for m in self.milestones if m.done)


def _verifier_name(tpl: ProgramTemplate | None, key: str) -> dict[str, str]:
    if tpl is not None:
        try:
            return dict(tpl.verifier(key).name)
        except KeyError:
            pass
    words = key.replace("_", " ").capitalize()
    return {"es": words, "en": words}


def _stage_name(tpl: ProgramTemplate | None, number: int) -> dict[str, str] | None:
    if tpl is None:
        return None
    try:
        return dict(tpl.stage(number).name)
    except KeyError:
        return None


def _local_day(at: datetime, zone: ZoneInfo) -> date:
    return at.astimezone(zone).date()


async def _sessions(session: AsyncSession, program: Program, today: date
                    ) -> dict[str, list[tuple[date, bool]]]:
    """Per meeting kind, the sessions held up to today: (local date, attendance taken).

    A session is held when it is not cancelled and is marked held or has someone present
    (walk-ins written in by hand too), as the progress figures count it: its board's
    tally, counted in the database (admin_meetings.turnouts). Its attendance was taken
    when anyone on its board is marked."""
    zone = ZoneInfo(program.timezone)
    until = datetime.combine(today + timedelta(days=1), time(0), zone).astimezone(UTC)
    meetings = (await session.scalars(
        select(Meeting).where(Meeting.program_id == program.id,
                              Meeting.status != MeetingStatus.CANCELLED,
                              Meeting.starts_at < until))).all()
    turnouts = await admin_meetings.turnouts(session, [m.id for m in meetings])
    out: dict[str, list[tuple[date, bool]]] = defaultdict(list)
    for m in meetings:
        turnout = turnouts[m.id]
        if m.status == MeetingStatus.HELD or turnout.present:
            out[m.kind].append((_local_day(m.starts_at, zone), turnout.taken))
    return out


async def _fichas(session: AsyncSession, program_id: int, until: datetime,
                  forms: tuple[str, ...] | None = None) -> int:
    """Valid fichas received by then (of ``forms``, else of every intake form of the
    programme): each organisation's, and each one from an organisation the catastro does
    not have yet."""
    if forms is None:
        forms = await fichas.intake_forms(session, program_id)
    rows = (await session.execute(
        select(FormResponse.organization_id, FormResponse.id)
        .outerjoin(Organization, Organization.id == FormResponse.organization_id)
        .where(fichas.signed(until, forms=forms),
               or_(Organization.program_id == program_id,
                   FormResponse.organization_id.is_(None)
                   & (FormResponse.program_id == program_id))))).all()
    return len({org if org is not None else ("sent", rid) for org, rid in rows})


async def _invited(session: AsyncSession, program_id: int, until: datetime) -> int:
    return len(set((await session.scalars(
        select(OrganizationInvitation.organization_id)
        .join(Organization, Organization.id == OrganizationInvitation.organization_id)
        .where(Organization.program_id == program_id,
               OrganizationInvitation.sent_at < until))).all()))


async def _committed(session: AsyncSession, program_id: int, until: datetime) -> int:
    return len((await session.scalars(
        select(Organization.id).where(Organization.program_id == program_id,
                                      Organization.committed_at < until))).all())


async def _declarations(session: AsyncSession, program_id: int, until: datetime
                        ) -> dict[str, int]:
    """Commitment declarations signed by then, by body kind."""
    rows = (await session.execute(
        select(Body.kind, Membership.id).join(Body, Body.id == Membership.body_id)
        .where(Body.program_id == program_id, Membership.commitment_signed_at < until))).all()
    out: dict[str, int] = defaultdict(int)
    for kind, _ in rows:
        out[kind] += 1
    return out


def _intake_forms(tpl: ProgramTemplate | None, key: str) -> tuple[str, ...] | None:
    """The forms a fichas verifier counts (its template's document says so; the Ficha de
    Interés for the Ecomercado's key without a template); None for another verifier."""
    try:
        verifier = tpl.verifier(key) if tpl is not None else None
    except KeyError:
        verifier = None
    if verifier is not None:
        return (tpl.verifier_form(key),) if verifier.document == INTAKE_DOCUMENT else None
    return (DEFAULT_INTAKE_FORM,) if key == FICHAS else None


def _is_declarations(tpl: ProgramTemplate | None, key: str) -> bool:
    """A verifier of the members' declarations: its template's document says so, whatever
    its key; the Ecomercado's key without a template."""
    try:
        verifier = tpl.verifier(key) if tpl is not None else None
    except KeyError:
        verifier = None
    if verifier is not None:
        return verifier.document == DECLARATION_DOCUMENT
    return key == DECLARATIONS


def _body_of(tpl: ProgramTemplate | None, meeting_kind: str | None) -> str | None:
    if tpl is None or not meeting_kind:
        return None
    try:
        return tpl.meeting_kind(meeting_kind).body
    except KeyError:
        return None


def _counted(key: str, count: int, *, missing: str) -> tuple[str, Msg | None]:
    if count:
        return READY, Msg(f"adm_stages.found_{key}", {"count": count})
    return missing, None


async def stage_status(session: AsyncSession, program_id: int, today: date
                       ) -> list[StageStatus]:
    """Each stage with its milestones in the order they begin, as of ``today`` (a date in
    the programme's zone)."""
    program = await programs.existing(session, program_id)
    tpl = program_template_or_none(program)
    milestones = (await session.scalars(
        select(Milestone).where(Milestone.program_id == program_id)
        .order_by(Milestone.stage, Milestone.starts, Milestone.due, Milestone.key))).all()
    sessions = await _sessions(session, program, today)
    until = datetime.combine(today + timedelta(days=1), time(0),
                             ZoneInfo(program.timezone)).astimezone(UTC)
    fichas_of: dict[tuple[str, ...], int] = {}
    invited = await _invited(session, program_id, until)
    committed = await _committed(session, program_id, until)
    declarations = await _declarations(session, program_id, until)

    by_stage: dict[int, list[MilestoneStatus]] = defaultdict(list)
    for m in milestones:
        held = [attended for on, attended in sessions.get(m.meeting_kind or "", [])
                if m.starts <= on <= m.due]
        verifiers = []
        for key in m.verifiers or []:
            found: Msg | None = None
            if key == ATTENDANCE and m.meeting_kind:
                lists = sum(held)
                state = READY if held and all(held) else MISSING
                if lists and state == READY:
                    found = Msg("adm_stages.found_attendance", {"count": lists})
                elif held and not all(held):
                    found = Msg("adm_stages.found_no_list", {"count": len(held) - lists})
            elif (forms := _intake_forms(tpl, key)) is not None:
                if forms not in fichas_of:
                    fichas_of[forms] = await _fichas(session, program_id, until, forms)
                state, found = _counted("fichas", fichas_of[forms], missing=MISSING)
            elif key == INVITED:
                state, found = _counted("invited", invited, missing=MISSING)
            elif key == COMMITMENTS:
                state, found = _counted("committed", committed, missing=MANUAL)
            elif _is_declarations(tpl, key) and _body_of(tpl, m.meeting_kind):
                state, found = _counted("declarations",
                                        declarations[_body_of(tpl, m.meeting_kind) or ""],
                                        missing=MANUAL)
            else:
                state = MANUAL
            verifiers.append(VerifierStatus(key, _verifier_name(tpl, key), state, found))
        by_stage[m.stage].append(MilestoneStatus(
            id=m.id, key=m.key, stage=m.stage, kind=m.kind, name=dict(m.name),
            starts=m.starts, due=m.due, planned_due=m.planned_due, done_at=m.done_at,
            meeting_kind=m.meeting_kind, min_sessions=m.min_sessions,
            sessions_held=len(held), verifiers=tuple(verifiers),
            overdue=m.done_at is None and m.due < today,
            current=m.starts <= today <= m.due,
        ))
    # Stage 0 holds milestones the template gives no stage: they go last.
    order = sorted(by_stage, key=lambda n: (n == 0, n))
    return [StageStatus(n, _stage_name(tpl, n), tuple(by_stage[n])) for n in order]


def current_stage(stages: list[StageStatus], today: date) -> int:
    """The index of the stage to show first: the earliest with unfinished work that has
    begun, else the earliest with unfinished work, else the last."""
    for s in stages:
        if any(not m.done and m.starts <= today for m in s.milestones):
            return stages.index(s)
    for s in stages:
        if any(not m.done for m in s.milestones):
            return stages.index(s)
    return max(len(stages) - 1, 0)


async def milestone_of(session: AsyncSession, program_id: int, milestone_id: int
                       ) -> Milestone | None:
    m = await session.get(Milestone, milestone_id)
    return m if m is not None and m.program_id == program_id else None


def set_done(milestone: Milestone, now: datetime | None) -> bool:
    """Mark done (with ``now``) or not done (None); True if it changed."""
    before = milestone.done_at
    milestone.done_at = now
    return (before is None) != (now is None)


class StageError(Exception):
    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def move(milestone: Milestone, new_due: date) -> date:
    """Move a milestone's deadline; the template's date stays in ``planned_due``. The
    scheduler's notices are keyed by the due date, so they follow by themselves. Returns
    the previous date."""
    if new_due < milestone.starts:
        raise StageError("before_start")
    before = milestone.due
    milestone.due = new_due
    return before
