"""Every verificador Convoca makes, found by the key its programme template names.

Importing this module imports every document module, which registers its producers in
:mod:`documents.registry`; the producers of the first documents (attendance lists,
fichas, the invited organisations, the progress report) are registered here around the
functions of :mod:`documents.exports`, which the command line also calls directly.
"""

from __future__ import annotations

from documents import exports
from documents.base import ExportFile
from documents.registry import PRODUCERS, Evidence, Producer, Request, producer
from domain.program_templates import ProgramTemplate, program_template_or_none
from storage import reports

__all__ = ["PRODUCERS", "Producer", "evidence", "for_verifier", "make"]


def _kw(req: Request) -> dict[str, object]:
    return {"now": req.ctx.now, "locale": req.ctx.locale, "catalogs": req.ctx.catalogs}


# --- the first documents --------------------------------------------------------------


async def _sessions(req: Request) -> list[Evidence]:
    rows = await reports.held_sessions(req.session, req.program.id, req.ctx.now,
                                       req.meeting_kind)
    return [Evidence(m.id, f"{req.ctx.day(m.starts_at)} {req.ctx.time(m.starts_at)}",
                     req.ctx.local(m.starts_at).date()) for m in rows]


@producer("attendance", formats=("pdf", "xlsx", "csv"), scope="meeting", evidence=_sessions)
async def _attendance(req: Request) -> list[ExportFile]:
    if req.subject_id is None:
        raise ValueError("an attendance list is of one session")
    return [await exports.attendance_list(req.session, req.subject_id, req.fmt, **_kw(req),
                                          font_dirs=req.font_dirs)]


async def _fichas_sent(req: Request) -> list[Evidence]:
    rows = await reports.latest_fichas(req.session, req.program.id, until=req.ctx.now)
    days = sorted(r.submitted_at for r in rows if r.submitted_at is not None)
    if not days:
        return []
    return [Evidence(None, req.ctx.t("exports.verificadores.fichas_count", count=len(days)),
                     req.ctx.local(days[-1]).date())]


@producer("fichas", formats=("pdf", "xlsx"), scope="program", evidence=_fichas_sent)
async def _fichas(req: Request) -> list[ExportFile]:
    if req.fmt == "xlsx":
        return [await exports.fichas_xlsx(req.session, req.program.id, **_kw(req))]
    return await exports.ficha_pdfs(req.session, req.program.id, **_kw(req),
                                    font_dirs=req.font_dirs)


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
    # A report can always be drawn up; its evidence is the day it is drawn up for.
    today = req.ctx.local(req.ctx.now).date()
    return [Evidence(None, req.ctx.day(today), today)]


@producer("progress_report", formats=("pdf", "xlsx"), scope="program", evidence=_reports)
async def _progress(req: Request) -> list[ExportFile]:
    return [await exports.progress_report(req.session, req.program.id, req.fmt, **_kw(req),
                                          font_dirs=req.font_dirs)]


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


# The other document modules register their producers on import (one line each).
from documents import commitments as _commitments  # noqa: E402, F401
from documents import (  # noqa: E402, F401  (imported for their registrations)
    exports as _exports,
)
