"""Every verificador Convoca makes, found by the key its programme template names.

Importing this module imports every document module, which registers its producers in
:mod:`documents.registry`; the producers of the first documents (attendance lists,
fichas, the invited organisations, the progress report) are registered here around the
functions of :mod:`documents.exports`, which the command line also calls directly.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from documents import exports, progress
from documents.base import Ctx, ExportFile
from documents.registry import PRODUCERS, Evidence, Producer, Request, producer
from domain.program_templates import (
    ProgramTemplate,
    add_months,
    localized_text,
    program_template_or_none,
)
from storage import meetings, reports
from storage.models import Program

__all__ = ["PRODUCERS", "Producer", "Required", "evidence", "for_verifier", "make",
           "make_every", "make_for", "made_from", "required"]


def made_from() -> dict[str, tuple[str, ...]]:
    """Each document a template's ``document:`` may name, with the forms it is made from."""
    return {key: p.forms for key, p in PRODUCERS.items()}


def _kw(req: Request) -> dict[str, object]:
    return {"now": req.ctx.now, "locale": req.ctx.locale, "catalogs": req.ctx.catalogs}


# --- the first documents --------------------------------------------------------------


async def _sessions(req: Request) -> list[Evidence]:
    rows = await meetings.of_program(
        req.session, req.program.id, until=req.ctx.now,
        kinds=(req.meeting_kind,) if req.meeting_kind else None)
    return [Evidence(m.id, f"{req.ctx.day(m.starts_at)} {req.ctx.time(m.starts_at)}",
                     req.ctx.local(m.starts_at).date()) for m in rows]


@producer("attendance", formats=("pdf", "xlsx", "csv"), scope="meeting", evidence=_sessions)
async def _attendance(req: Request) -> list[ExportFile]:
    if req.subject_id is None:
        raise ValueError("an attendance list is of one session")
    return [await exports.attendance_list(req.session, req.subject_id, req.fmt, **_kw(req),
                                          font_dirs=req.font_dirs)]


def _forms_of(req: Request) -> tuple[str, ...] | None:
    """The form the asking verifier's fichas answer (its template's ``form:``); None:
    every intake form of the programme."""
    template = program_template_or_none(req.program)
    try:
        return (template.verifier_form(req.verifier),) if template is not None else None
    except KeyError:
        return None


async def _fichas_sent(req: Request) -> list[Evidence]:
    rows = await reports.latest_fichas(req.session, req.program.id, until=req.ctx.now,
                                       forms=_forms_of(req))
    days = sorted(r.submitted_at for r in rows if r.submitted_at is not None)
    if not days:
        return []
    return [Evidence(None, req.ctx.t("exports.verificadores.fichas_count", count=len(days)),
                     req.ctx.local(days[-1]).date())]


@producer("fichas", formats=("pdf", "xlsx"), scope="program", evidence=_fichas_sent)
async def _fichas(req: Request) -> list[ExportFile]:
    if req.fmt == "xlsx":
        return [await exports.fichas_xlsx(req.session, req.program.id, **_kw(req),
                                          forms=_forms_of(req))]
    return await exports.ficha_pdfs(req.session, req.program.id, **_kw(req),
                                    font_dirs=req.font_dirs, forms=_forms_of(req))


async def _invitations_sent(req: Request) -> list[Evidence]:
    first = await reports.last_invitation_at(req.session, req.program.id, req.ctx.now)
    return [] if first is None else [Evidence(None, req.ctx.t(
        "exports.verificadores.as_of", date=req.ctx.day(first)), req.ctx.local(first).date())]


@producer("invited_organizations", formats=("xlsx", "pdf", "csv"), scope="program",
          evidence=_invitations_sent)
async def _invited(req: Request) -> list[ExportFile]:
    return [await exports.invited_organizations(req.session, req.program.id, req.fmt,
                                                **_kw(req), font_dirs=req.font_dirs)]


async def _reports(req: Request) -> list[Evidence]:
    """One report per report month of the template that has begun (months 9, 11 and 13 of
    a 15-month convenio), each counted up to the end of its month; a programme whose
    template names none has one, as of today."""
    template = program_template_or_none(req.program)
    today = req.ctx.local(req.ctx.now).date()
    months = template.progress_reports if template is not None else []
    if not months:
        return [Evidence(None, req.ctx.day(today), today)]
    out = []
    for month in months:
        first = add_months(req.program.start_date, month - 1)
        if first > today:
            break
        last = min(progress.report_cut_off(req.program, month), today)
        out.append(Evidence(month, req.ctx.t("exports.verificadores.report_month",
                                             month=str(month), date=req.ctx.day(last)), last))
    return out


@producer("progress_report", formats=("pdf", "xlsx"), scope="program", evidence=_reports)
async def _progress(req: Request) -> list[ExportFile]:
    month = req.subject_id
    until = progress.report_cut_off(req.program, month) if month else None
    return [await progress.progress_report(req.session, req.program.id, req.fmt, **_kw(req),
                                           font_dirs=req.font_dirs, until=until, month=month)]


# --- finding them ------------------------------------------------------------------------


def for_verifier(template: ProgramTemplate | None, key: str) -> Producer | None:
    """The producer of the template's verifier ``key``; None when the template names none
    (a document made outside Convoca) or names one this version does not know."""
    if template is None:
        return None
    try:
        name = template.verifier(key).document
    except KeyError:
        return None
    return PRODUCERS.get(name) if name else None


async def evidence(req: Request) -> list[Evidence]:
    """What exists now for the request's verifier (empty when Convoca cannot make it)."""
    found = for_verifier(program_template_or_none(req.program), req.verifier)
    return [] if found is None else await found.evidence(req)


async def make(req: Request) -> list[ExportFile]:
    found = for_verifier(program_template_or_none(req.program), req.verifier)
    if found is None:
        raise LookupError(f"Convoca makes no document for verifier {req.verifier!r}")
    if req.fmt not in found.formats:
        raise ValueError(f"{found.key}: no format {req.fmt!r} (has {found.formats})")
    return await found.make(req)


@dataclass(frozen=True)
class Required:
    """A verificador one activity of the programme asks for, and what of it exists now."""

    stage: int | None
    stage_name: str
    activity: str  # the activity's key; the progress report's key for its reports
    activity_name: str
    verifier: str
    name: str  # the verifier's name in the reader's language
    # The name to tell it apart within its stage: a session's document says which kind of
    # session ("Lista de asistencia · Sesión diagnóstica"), since several activities ask.
    label: str
    producer: Producer | None  # None: a document made outside Convoca
    meeting_kind: str | None
    evidence: tuple[Evidence, ...]


async def required(session: AsyncSession, program: Program, ctx: Ctx) -> list[Required]:
    """Every verificador the programme's template lists, activity by activity in the
    template's order (the progress report's last), with its evidence as of ``ctx.now``."""
    template = program_template_or_none(program)
    if template is None:
        return []
    out: list[Required] = []
    stage_names = {st.number: localized_text(st.name, ctx.locale) for st in template.stages}
    rows: list[tuple[int | None, str, str, str | None, tuple[str, ...]]] = [
        (stage.number, act.key, localized_text(act.name, ctx.locale), act.meeting_kind,
         tuple(act.verifiers))
        for stage in template.stages for act in stage.activities]
    spec = template.progress_report
    if template.progress_reports:
        rows.append((spec.stage, spec.key, localized_text(spec.name, ctx.locale), None,
                     tuple(spec.verifiers)))
    for stage, act_key, act_name, kind, verifiers in rows:
        for key in verifiers:
            found = for_verifier(template, key)
            req = Request(session, program, key, ctx, meeting_kind=kind)
            evidence = tuple(await found.evidence(req)) if found is not None else ()
            name = localized_text(template.verifier(key).name, ctx.locale)
            label = name
            if kind and found is not None and found.scope == "meeting":
                label = f"{name} · {localized_text(template.meeting_kind(kind).name, ctx.locale)}"
            out.append(Required(stage, stage_names.get(stage or 0, ""), act_key, act_name, key,
                                name, label, found, kind, evidence))
    return out


async def make_every(session: AsyncSession, program: Program, ctx: Ctx, *,
                     stages: Iterable[int] | None = None,
                     ) -> list[tuple[Required, Evidence, list[ExportFile]]]:
    """Every verificador that can be made now, in its first format, one per piece of
    evidence (each session's attendance list, each body's acta...)."""
    wanted = set(stages) if stages is not None else None
    out: list[tuple[Required, Evidence, list[ExportFile]]] = []
    # A document two activities ask for (the work plan's follow-up matrix and the
    # communications plan's) is made once and listed under both.
    made: dict[tuple[str, str, int | None], list[ExportFile]] = {}
    for r in await required(session, program, ctx):
        if r.producer is None or (wanted is not None and r.stage not in wanted):
            continue
        for ev in r.evidence:
            key = (r.producer.key, r.verifier, ev.subject_id)
            if key not in made:
                req = Request(session, program, r.verifier, ctx, fmt=r.producer.formats[0],
                              subject_id=ev.subject_id, meeting_kind=r.meeting_kind)
                made[key] = await r.producer.make(req)
            out.append((r, ev, made[key]))
    return out


async def make_for(session: AsyncSession, program: Program, ctx: Ctx, r: Required,
                   subject_id: int | None, fmt: str) -> list[ExportFile]:
    """One verificador as asked from a menu or a page: of one of its pieces of evidence
    (``subject_id``; None for the programme's own), in one of its formats, or ``blank``
    for handwritten signatures. LookupError or ValueError when it cannot be made as asked
    (a button or link from before the record changed)."""
    blank = fmt == "blank"
    if r.producer is None:
        raise LookupError(f"Convoca makes no document for verifier {r.verifier!r}")
    if not blank and fmt not in r.producer.formats:
        raise ValueError(f"{r.producer.key}: no format {fmt!r}")
    if subject_id and subject_id not in {e.subject_id for e in r.evidence}:
        raise LookupError(f"{r.verifier}: nothing of {subject_id}")
    req = Request(session, program, r.verifier, ctx,
                  fmt=r.producer.formats[0] if blank else fmt, subject_id=subject_id or None,
                  blank=blank, meeting_kind=r.meeting_kind)
    return await r.producer.make(req)


# The other document modules register their producers on import (one line each).
from documents import closing as _closing  # noqa: E402, F401
from documents import commitments as _commitments  # noqa: E402, F401
from documents import (  # noqa: E402, F401  (imported for their registrations)
    exports as _exports,
)
from documents import minutes as _minutes  # noqa: E402, F401
from documents import plans as _plans  # noqa: E402, F401  (registers diagnosis, priority_matrix, plan)
