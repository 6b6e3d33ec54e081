"""Stage 3's verificadores: the documento diagnóstico, the matriz de priorización and the
two plans (plan de trabajo participativo, plan de comunicaciones), drawn from what the
gestora recorded in chat (handlers.admin.plans). Each heads with the programme, executing
body and comuna, the stage and activity it proves, its session and date, and closes with
the signatures it needs."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from documents.base import (
    MIME,
    Ctx,
    ExportFile,
    Signer,
    _body_name,
    _kind_name,
    _new_pdf,
    _new_workbook,
    _put,
    _sheet_title,
    _workbook_bytes,
    _xlsx_value,
    program_details,
    slugify,
)
from documents.registry import Evidence, Request, producer
from domain.program_templates import ProgramTemplate, program_template_or_none
from storage import actions
from storage import diagnosis as diag
from storage import plans as plan_store
from storage.models import ActionStatus, Body, Meeting, Person, Plan, PlanKind, Program

# The template verifiers the producer ``plan`` serves, and the plan each one proves.
PLAN_OF_VERIFIER = {"plan_trabajo_participativo": PlanKind.WORK,
                    "plan_comunicaciones": PlanKind.COMMUNICATIONS}
VERIFIER_OF_PLAN = {v: k for k, v in PLAN_OF_VERIFIER.items()}
DIAGNOSIS_VERIFIER = "documento_diagnostico"
MATRIX_VERIFIER = "matriz_priorizacion"


# --- shared ------------------------------------------------------------------------------


def _activity(tpl: ProgramTemplate | None, verifier: str, locale: str) -> tuple[str, str] | None:
    """The stage and activity the verifier proves, as the template names them."""
    if tpl is None:
        return None
    for stage in tpl.stages:
        for activity in stage.activities:
            if verifier in activity.verifiers:
                return (f"{stage.number}. {stage.name.get(locale) or stage.name['es']}",
                        activity.name.get(locale) or activity.name["es"])
    return None


def _heading_details(req: Request, verifier: str) -> list[tuple[str, str]]:
    ctx = req.ctx
    details = program_details(req.program, ctx)
    found = _activity(program_template_or_none(req.program), verifier, ctx.locale)
    if found is not None:
        details += [(ctx.t("plans_doc.label.stage"), found[0]),
                    (ctx.t("plans_doc.label.activity"), found[1])]
    return details


def _session_text(req: Request, meeting: Meeting | None) -> str:
    if meeting is None:
        return req.ctx.t("plans_doc.no_session")
    kind = _kind_name(program_template_or_none(req.program), meeting.kind, req.ctx.locale)
    what = kind + (f": {meeting.title}" if meeting.title else "")
    return req.ctx.t("plans_doc.session_on", session=what, date=req.ctx.long_date(meeting.starts_at))


async def _gestora_signers(req: Request) -> list[Signer]:
    role = req.ctx.t("plans_doc.role.gestora")
    named = (req.program.settings or {}).get("facilitator")
    people = await plan_store.gestoras(req.session, req.program.id)
    if people:
        return [Signer(p.name or "", p.rut, role) for p in people[:2]]
    return [Signer(str(named) if named else "", None, role)]


def _stem(ctx: Ctx, key: str, program: Program, on: date) -> str:
    return f"{ctx.t(key)}-{slugify(program.name)}-{on.isoformat()}"


def _file(stem: str, fmt: str, data: bytes) -> ExportFile:
    return ExportFile(f"{stem}.{fmt}", data, MIME[fmt])


def _sheet_heading(ws: Any, title: str, program: str, details: Sequence[tuple[str, str]],
                   generated: str) -> int:
    """Title and details on the data sheet itself (it is the sheet that gets printed);
    returns the first free row."""
    from openpyxl.styles import Font

    _put(ws, 1, 1, title).font = Font(bold=True, size=14)
    _put(ws, 2, 1, program).font = Font(italic=True)
    row = 3
    for label, value in details:
        _put(ws, row, 1, label).font = Font(bold=True)
        _put(ws, row, 2, value)
        row += 1
    _put(ws, row, 1, generated).font = Font(italic=True, size=8, color="646A73")
    return row + 2


def _sheet_table(ws: Any, row: int, title: str | None, headers: Sequence[str],
                 rows: Sequence[Sequence[Any]], ctx: Ctx) -> int:
    from openpyxl.styles import Alignment, Border, Font, PatternFill, Side

    thin = Side(style="thin", color="A0A8B4")
    if title:
        _put(ws, row, 1, title).font = Font(bold=True, size=12)
        row += 1
    for c, header in enumerate(headers, start=1):
        cell = _put(ws, row, c, header)
        cell.font = Font(bold=True)
        cell.fill = PatternFill("solid", fgColor="DEE4ED")
        cell.alignment = Alignment(vertical="center", wrap_text=True)
        cell.border = Border(top=thin, bottom=thin, left=thin, right=thin)
    for values in rows:
        row += 1
        for c, raw in enumerate(values, start=1):
            value, number_format = _xlsx_value(raw, ctx)
            cell = _put(ws, row, c, value)
            cell.alignment = Alignment(wrap_text=True, vertical="top")
            cell.border = Border(top=thin, bottom=thin, left=thin, right=thin)
            if number_format:
                cell.number_format = number_format
    return row + 2


def _print_setup(ws: Any, widths: Sequence[float], *, landscape: bool) -> None:
    from openpyxl.utils import get_column_letter

    for c, width in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(c)].width = width
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.orientation = "landscape" if landscape else "portrait"
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True


def _today(req: Request) -> date:
    return req.ctx.local(req.ctx.now).date()


# --- the diagnosis -------------------------------------------------------------------------


async def _diagnosis_evidence(req: Request) -> list[Evidence]:
    if not await diag.entries(req.session, req.program.id):
        return []
    meeting = await diag.session_of(req.session, req.program.id)
    if meeting is not None:
        on = req.ctx.local(meeting.starts_at).date()
        return [Evidence(None, req.ctx.t("plans_doc.evidence_session", date=req.ctx.day(on)), on)]
    last = await diag.last_recorded(req.session, req.program.id)
    on = req.ctx.local(last).date() if last else _today(req)
    return [Evidence(None, req.ctx.t("exports.verificadores.as_of", date=req.ctx.day(on)), on)]


@producer("diagnosis", formats=("pdf",), scope="program", evidence=_diagnosis_evidence)
async def diagnosis_document(req: Request) -> list[ExportFile]:
    ctx = req.ctx
    entries = await diag.entries(req.session, req.program.id)
    if not entries:
        raise LookupError("the diagnosis has no entries yet")
    meeting = await diag.session_of(req.session, req.program.id)
    title = ctx.t("plans_doc.diagnosis.title")
    details = _heading_details(req, DIAGNOSIS_VERIFIER)
    details.append((ctx.t("exports.label.session"), _session_text(req, meeting)))
    pdf = _new_pdf(ctx, req.font_dirs, title=title,
                   running_title=f"{title} · {req.program.name}")
    pdf.add_page()
    pdf.heading(req.program.name, title, details)
    pdf.para(ctx.t("plans_doc.diagnosis.intro"), 9.5)
    pdf.ln(2)

    def cell(category: str) -> str:
        mine = [e.text for e in entries if e.category == category]
        return "\n".join(f"• {t}" for t in mine) or ctx.t("plans_doc.nothing_noted")

    s, w, r, p = diag.CATEGORIES
    half = pdf.epw / 2
    # The FODA-like square: inside the organisation above, what it can draw on and what it
    # needs below; each category also a section the reader can find by its name.
    for left, right in ((s, w), (r, p)):
        pdf.grid([ctx.t(f"plans_doc.cat.{left}"), ctx.t(f"plans_doc.cat.{right}")],
                 [[cell(left), cell(right)]], [half, half], min_row_height=30, size=9.5)
        pdf.ln(3)
    count = len(entries)
    pdf.para(ctx.t("plans_doc.diagnosis.count", count=count), 8.5)
    pdf.ln(4)
    pdf.signatures(await _gestora_signers(req), title=ctx.t("plans_doc.signatures"))
    on = ctx.local(meeting.starts_at).date() if meeting else _today(req)
    return [_file(_stem(ctx, "plans_doc.file.diagnosis", req.program, on), "pdf",
                  bytes(pdf.output()))]


# --- the priority matrix -----------------------------------------------------------------


async def _matrix_evidence(req: Request) -> list[Evidence]:
    m = await diag.matrix(req.session, req.program.id)
    if not m.scored:
        return []
    meeting = await diag.scoring_session(req.session, req.program.id)
    on = req.ctx.local(meeting.starts_at).date() if meeting else _today(req)
    key = "plans_doc.evidence_session" if meeting else "exports.verificadores.as_of"
    return [Evidence(None, req.ctx.t(key, date=req.ctx.day(on)), on)]


def _matrix_rows(ctx: Ctx, rows: list[diag.MatrixRow]) -> list[list[Any]]:
    return [[r.rank if r.rank else "—", r.entry.text,
             *[s if s is not None else "—" for s in r.scores], r.total,
             ] for r in rows]


@producer("priority_matrix", formats=("xlsx", "pdf"), scope="program", evidence=_matrix_evidence)
async def priority_matrix(req: Request) -> list[ExportFile]:
    ctx = req.ctx
    m = await diag.matrix(req.session, req.program.id)
    if not m.criteria or not m.size:
        raise LookupError("the priority matrix has no criteria or nothing to score")
    meeting = await diag.scoring_session(req.session, req.program.id)
    title = ctx.t("plans_doc.matrix.title")
    details = _heading_details(req, MATRIX_VERIFIER)
    details += [(ctx.t("exports.label.session"), _session_text(req, meeting)),
                (ctx.t("plans_doc.label.criteria"), ", ".join(c.name for c in m.criteria)),
                (ctx.t("plans_doc.label.scale"), ctx.t("plans_doc.matrix.scale")),
                (ctx.t("plans_doc.label.order"), ctx.t("plans_doc.matrix.note"))]
    headers_for = {
        category: [ctx.t("plans_doc.col.rank"), ctx.t(f"plans_doc.col.entry_{category}"),
                   *[c.name for c in m.criteria], ctx.t("plans_doc.col.total")]
        for category in diag.SCORED}
    on = ctx.local(meeting.starts_at).date() if meeting else _today(req)
    stem = _stem(ctx, "plans_doc.file.matrix", req.program, on)
    if req.fmt == "xlsx":
        wb = _new_workbook(ctx, title)
        ws = wb.active
        ws.title = _sheet_title(title)
        row = _sheet_heading(ws, title, req.program.name, details, ctx.generated())
        for category in diag.SCORED:
            row = _sheet_table(ws, row, ctx.t(f"plans_doc.cat.{category}"),
                               headers_for[category], _matrix_rows(ctx, m.tables[category]), ctx)
        ws.print_title_rows = None
        _print_setup(ws, [10, 60, *[14] * len(m.criteria), 10], landscape=True)
        return [_file(stem, "xlsx", _workbook_bytes(wb))]
    pdf = _new_pdf(ctx, req.font_dirs, landscape=True, title=title,
                   running_title=f"{title} · {req.program.name}")
    pdf.add_page()
    pdf.heading(req.program.name, title, details)
    n = len(m.criteria)
    crit_w = min(30.0, 110.0 / max(n, 1))
    text_w = pdf.epw - 22 - 20 - crit_w * n
    for category in diag.SCORED:
        pdf.section(ctx.t(f"plans_doc.cat.{category}"))
        rows = [[ctx.text(v) for v in r] for r in _matrix_rows(ctx, m.tables[category])]
        if not rows:
            pdf.para(ctx.t("plans_doc.nothing_noted"), 9)
            continue
        pdf.grid(headers_for[category], rows, [22, text_w, *[crit_w] * n, 20],
                 aligns=["CENTER", "LEFT", *["CENTER"] * n, "CENTER"])
    pdf.signatures(await _gestora_signers(req), title=ctx.t("plans_doc.signatures"))
    return [_file(stem, "pdf", bytes(pdf.output()))]


# --- the plans ---------------------------------------------------------------------------


async def _plan_for(req: Request) -> Plan | None:
    if req.subject_id is not None:
        plan = await req.session.get(Plan, req.subject_id)
        return plan if plan is not None and plan.program_id == req.program.id else None
    kind = PLAN_OF_VERIFIER.get(req.verifier)
    if kind is None:
        raise ValueError(f"which plan? verifier {req.verifier!r} names none")
    return await plan_store.of_kind(req.session, req.program.id, kind)


async def _plan_evidence(req: Request) -> list[Evidence]:
    kinds = [PLAN_OF_VERIFIER[req.verifier]] if req.verifier in PLAN_OF_VERIFIER \
        else list(PlanKind)
    out = []
    for kind in kinds:
        plan = await plan_store.of_kind(req.session, req.program.id, kind)
        if plan is None or not [a for a in await actions.of_plan(req.session, plan.id)
                                if a.status != ActionStatus.DROPPED]:
            continue
        at = plan.approved_at or await plan_store.last_change(req.session, plan)
        on = req.ctx.local(at).date()
        key = "plans_doc.evidence_validated" if plan.approved_at else "plans_doc.evidence_draft"
        out.append(Evidence(plan.id, req.ctx.t(key, date=req.ctx.day(on)), on))
    return out


@producer("plan", formats=("pdf", "xlsx"), scope="plan", evidence=_plan_evidence)
async def plan_document(req: Request) -> list[ExportFile]:
    ctx = req.ctx
    plan = await _plan_for(req)
    if plan is None:
        raise LookupError("no such plan in this programme")
    tpl = program_template_or_none(req.program)
    body = await req.session.get(Body, plan.body_id) if plan.body_id else None
    objectives = await plan_store.objectives(req.session, plan.id)
    items = [a for a in await actions.of_plan(req.session, plan.id)
             if a.status != ActionStatus.DROPPED]
    meeting = await req.session.get(Meeting, plan.approved_meeting_id) \
        if plan.approved_meeting_id else None
    title = ctx.t(f"plans_doc.plan.title_{plan.kind}")
    details = _heading_details(req, VERIFIER_OF_PLAN[PlanKind(plan.kind)])
    details.append((ctx.t("plans_doc.label.led_by"),
                    _body_name(tpl, body, ctx.locale) if body else "—"))
    details.append((ctx.t("plans_doc.label.validated"), _session_text(req, meeting)
                    if meeting else ctx.t("plans_doc.plan.not_validated")))
    number = {o.id: i for i, o in enumerate(objectives, start=1)}
    people = {}
    for a in items:
        if a.responsible_person_id and a.responsible_person_id not in people:
            people[a.responsible_person_id] = await req.session.get(Person,
                                                                    a.responsible_person_id)

    def responsible(a: Any) -> str:
        p = people.get(a.responsible_person_id)
        return (p.name if p is not None and p.name else None) or a.responsible_name or "—"

    counter: dict[int | None, int] = {}

    def numbered(a: Any) -> str:
        counter[a.objective_id] = counter.get(a.objective_id, 0) + 1
        head = number.get(a.objective_id)
        return f"{head}.{counter[a.objective_id]}" if head else str(counter[a.objective_id])

    rows = [[numbered(a), a.text, a.expected_result or "—", responsible(a), a.due,
             a.requirements or ctx.t("plans_doc.none_needed"),
             ctx.t("exports.yes") if a.alliance else ctx.t("exports.no"),
             a.alliance_with or "—" if a.alliance else "—"] for a in items]
    headers = [ctx.t(f"plans_doc.col.{c}") for c in (
        "number", "action", "result", "responsible", "due", "requirements", "alliance",
        "alliance_with")]
    at = plan.approved_at or await plan_store.last_change(req.session, plan)
    stem = _stem(ctx, f"plans_doc.file.plan_{plan.kind}", req.program, ctx.local(at).date())
    members = await plan_store.members(req.session, plan.body_id)
    body_role = _body_name(tpl, body, ctx.locale) if body else ""
    objectives_lines = [f"{i}. {o.text}" for i, o in enumerate(objectives, start=1)]
    if req.fmt == "xlsx":
        wb = _new_workbook(ctx, title)
        ws = wb.active
        ws.title = _sheet_title(title)
        row = _sheet_heading(ws, title, req.program.name, details, ctx.generated())
        row = _sheet_table(ws, row, ctx.t("plans_doc.plan.objectives"),
                           [ctx.t("plans_doc.col.number"), ctx.t("plans_doc.col.objective")],
                           [[i, o.text] for i, o in enumerate(objectives, start=1)], ctx)
        _sheet_table(ws, row, ctx.t("plans_doc.plan.actions"), headers, rows, ctx)
        _print_setup(ws, [8, 40, 32, 22, 14, 28, 10, 24], landscape=True)
        return [_file(stem, "xlsx", _workbook_bytes(wb))]
    pdf = _new_pdf(ctx, req.font_dirs, landscape=True, title=title,
                   running_title=f"{title} · {req.program.name}")
    pdf.add_page()
    pdf.heading(req.program.name, title, details)
    pdf.section(ctx.t("plans_doc.plan.objectives"))
    for line in objectives_lines or [ctx.t("plans_doc.nothing_noted")]:
        pdf.para(line, 10)
    pdf.section(ctx.t("plans_doc.plan.actions"))
    if rows:
        pdf.grid(headers, [[ctx.text(v) for v in r] for r in rows],
                 [12, 55, 48, 34, 26, 45, 17, 36], size=8.5)
    else:
        pdf.para(ctx.t("plans_doc.nothing_noted"), 9)
    signers = [Signer(p.name or "", p.rut, body_role) for p in members]
    signers += await _gestora_signers(req)
    pdf.ln(2)
    pdf.signatures(signers, per_row=4, title=ctx.t("plans_doc.signatures"))
    return [_file(stem, "pdf", bytes(pdf.output()))]
