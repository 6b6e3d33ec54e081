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

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import (
    Attendance,
    FormDefinition,
    FormResponse,
    FormStatus,
    Meeting,
    MeetingStatus,
    Milestone,
    Organization,
    OrganizationInvitation,
    Program,
)
from storage.program_templates import ProgramTemplate, TemplateError, program_template

FICHA_FORM_KEY = "ficha_interes"

READY, MISSING, MANUAL = "ready", "missing", "manual"
# What Convoca can know from its own records; every other verifier is a document the
# gestora uploads or confirms elsewhere.
ATTENDANCE = "lista_asistencia"
FICHAS = "ficha_interes"
INVITED = "lista_organizaciones_invitadas"


@dataclass(frozen=True)
class VerifierStatus:
    key: str
    name: dict[str, str]
    state: str  # ready | missing | manual


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


def _template(program: Program) -> ProgramTemplate | None:
    try:
        return program_template(program)
    except TemplateError:
        return None


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

    A session is held when it is not cancelled and is marked held or has someone marked
    present, as the progress figures count it."""
    zone = ZoneInfo(program.timezone)
    until = datetime.combine(today + timedelta(days=1), time(0), zone).astimezone(UTC)
    meetings = (await session.scalars(
        select(Meeting).where(Meeting.program_id == program.id,
                              Meeting.status != MeetingStatus.CANCELLED,
                              Meeting.starts_at < until))).all()
    if not meetings:
        return {}
    marks = (await session.execute(
        select(Attendance.meeting_id, func.count(), func.sum(case((Attendance.present.is_(True), 1), else_=0)))
        .where(Attendance.meeting_id.in_([m.id for m in meetings]))
        .group_by(Attendance.meeting_id))).all()
    taken = {mid: (int(n), int(p or 0)) for mid, n, p in marks}
    out: dict[str, list[tuple[date, bool]]] = defaultdict(list)
    for m in meetings:
        n, present = taken.get(m.id, (0, 0))
        if m.status == MeetingStatus.HELD or present:
            out[m.kind].append((_local_day(m.starts_at, zone), n > 0))
    return out


async def _has_fichas(session: AsyncSession, program_id: int) -> bool:
    found = await session.scalar(
        select(FormResponse.id)
        .join(FormDefinition, FormDefinition.id == FormResponse.form_id)
        .join(Organization, Organization.id == FormResponse.organization_id)
        .where(FormDefinition.key == FICHA_FORM_KEY, Organization.program_id == program_id,
               FormResponse.status != FormStatus.DRAFT, FormResponse.submitted_at.is_not(None))
        .limit(1))
    return found is not None


async def _has_invitations(session: AsyncSession, program_id: int) -> bool:
    found = await session.scalar(
        select(OrganizationInvitation.id)
        .join(Organization, Organization.id == OrganizationInvitation.organization_id)
        .where(Organization.program_id == program_id).limit(1))
    return found is not None


async def stage_status(session: AsyncSession, program_id: int, today: date
                       ) -> list[StageStatus]:
    """Each stage with its milestones in the order they begin, as of ``today`` (a date in
    the programme's zone)."""
    program = await session.get(Program, program_id)
    if program is None:
        raise LookupError(f"no programme {program_id}")
    tpl = _template(program)
    milestones = (await session.scalars(
        select(Milestone).where(Milestone.program_id == program_id)
        .order_by(Milestone.stage, Milestone.starts, Milestone.due, Milestone.key))).all()
    sessions = await _sessions(session, program, today)
    fichas = await _has_fichas(session, program_id)
    invited = await _has_invitations(session, program_id)

    by_stage: dict[int, list[MilestoneStatus]] = defaultdict(list)
    for m in milestones:
        held = [attended for on, attended in sessions.get(m.meeting_kind or "", [])
                if m.starts <= on <= m.due]
        verifiers = []
        for key in m.verifiers or []:
            if key == ATTENDANCE and m.meeting_kind:
                state = READY if held and all(held) else MISSING
            elif key == FICHAS:
                state = READY if fichas else MISSING
            elif key == INVITED:
                state = READY if invited else MISSING
            else:
                state = MANUAL
            verifiers.append(VerifierStatus(key, _verifier_name(tpl, key), state))
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
