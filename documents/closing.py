"""The verificadores of agreed texts and of the programme's close: each agreed text (the
internal procedure, a body's operating protocol, the municipal structure's acta and rules,
the roles of each party, the rules for using the goods...), the acta de traspaso del
dominio de bienes with its inventory, and the documento de evaluación del proceso.

Registered as producers (documents.registry) under the names the templates give them:
``agreed_text`` (one producer for every agreed text: the request's verifier says which,
its subject the body for a body's text), ``handover_acta``, ``inventory``, ``evaluation``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from documents.base import (
    MIME,
    Ctx,
    ExportFile,
    Signer,
    _body_name,
    _kind_name,
    _new_pdf,
    _new_workbook,
    _place,
    _put,
    _sheet_title,
    _workbook_bytes,
    program_details,
    slugify,
)
from documents.registry import Evidence, Request, body_kind, producer
from domain.program_templates import ProgramTemplate, localized_text, program_template_or_none
from storage import admin_meetings, agreed, handover, meetings, minutes, programs
from storage.models import (
    AgreedText,
    Body,
    Handover,
    HandoverGood,
    Meeting,
    MinutesSection,
    Organization,
    Person,
    Program,
)

# The texts each body agrees for itself (one per body); the rest are the programme's.
PER_BODY = frozenset({"protocolo_funcionamiento"})
EVALUATION_KIND = "evaluacion"
EVALUATION_SECTIONS = (MinutesSection.ACHIEVEMENT, MinutesSection.DIFFICULTY,
                       MinutesSection.LESSON, MinutesSection.RECOMMENDATION)


# --- what every document here shares ------------------------------------------------------


def verifier_name(program: Program, key: str, locale: str) -> str:
    tpl = program_template_or_none(program)
    try:
        return localized_text(tpl.verifier(key).name, locale) if tpl else key
    except KeyError:
        return key


def _activity(tpl: ProgramTemplate | None, key: str, ctx: Ctx) -> list[tuple[str, str]]:
    """The stage and activity the document proves: the first that lists its verifier."""
    if tpl is None:
        return []
    for stage in tpl.stages:
        for activity in stage.activities:
            if key in activity.verifiers:
                return [(ctx.t("closing_doc.label.activity"), ctx.t(
                    "closing_doc.activity", stage=stage.number,
                    activity=localized_text(activity.name, ctx.locale)))]
    return []


def pesos(ctx: Ctx, amount: int | None) -> str:
    return "—" if amount is None else ctx.t("closing_doc.pesos", amount=amount)


def _session_line(ctx: Ctx, tpl: ProgramTemplate | None, m: Meeting) -> str:
    return ctx.t("closing_doc.session_line", kind=_kind_name(tpl, m.kind, ctx.locale),
                 date=ctx.long_date(m.starts_at),
                 time=ctx.time_range(m.starts_at, m.ends_at))


async def _person(session: AsyncSession, person_id: int | None) -> Person | None:
    return await session.get(Person, person_id) if person_id else None


def _pdf(ctx: Ctx, req: Request, title: str, running: str) -> Any:
    pdf = _new_pdf(ctx, req.font_dirs, title=title, running_title=running)
    pdf.add_page()
    return pdf


def _file(stem: str, fmt: str, content: bytes) -> ExportFile:
    return ExportFile(f"{stem}.{fmt}", content, MIME[fmt])


# --- agreed texts --------------------------------------------------------------------------


async def _text_subjects(req: Request) -> list[Body | None]:
    if req.verifier not in PER_BODY:
        return [None]
    return sorted(await programs.bodies(req.session, req.program.id), key=lambda b: b.id)


async def _texts_in_force(req: Request) -> list[Evidence]:
    tpl = program_template_or_none(req.program)
    found = []
    wanted = body_kind(req)
    for body in await _text_subjects(req):
        if body is not None and wanted is not None and body.kind != wanted:
            continue
        row = await agreed.current(req.session, req.program.id, req.verifier,
                                   body.id if body else None)
        if row is None or row.recorded_at > req.ctx.now:
            continue
        on = req.ctx.local(row.recorded_at).date()
        label = req.ctx.t("closing_doc.text_evidence", version=row.version,
                          date=req.ctx.day(on))
        if body is not None:
            label = f"{_body_name(tpl, body, req.ctx.locale)} · {label}"
        found.append(Evidence(body.id if body else None, label[:40], on))
    return found


async def _body_signers(session: AsyncSession, body: Body, ctx: Ctx, body_name: str
                        ) -> list[Signer]:
    signers = []
    for person_id in await admin_meetings.body_members(session, body.id):
        p = await _person(session, person_id)
        if p is not None:
            signers.append(Signer(p.name or "", p.rut,
                                  ctx.t("closing_doc.member_of", body=body_name)))
    return signers


@producer("agreed_text", formats=("pdf",), scope="program", evidence=_texts_in_force)
async def agreed_text_pdf(req: Request) -> list[ExportFile]:
    """The version in force of the request's text (of the body ``subject_id`` names, for a
    body's own text), with the session it was agreed in and boxes to sign it."""
    ctx, program, session = req.ctx, req.program, req.session
    tpl = program_template_or_none(program)
    body = await session.get(Body, req.subject_id) if req.subject_id else None
    if body is not None and body.program_id != program.id:
        raise LookupError(f"body {req.subject_id} is not programme {program.id}'s")
    if req.verifier in PER_BODY and body is None:
        raise ValueError(f"{req.verifier} is a body's text: name the body")
    row = await agreed.current(session, program.id, req.verifier, body.id if body else None)
    if row is None:
        raise LookupError(f"no text recorded for {req.verifier}")
    return [_agreed_pdf(req, tpl, row, body,
                        await session.get(Meeting, row.meeting_id) if row.meeting_id else None,
                        await _body_signers(session, body, ctx, _body_name(tpl, body,
                                                                           ctx.locale))
                        if body else await _programme_signers(session, row, ctx))]


async def _programme_signers(session: AsyncSession, row: AgreedText, ctx: Ctx) -> list[Signer]:
    recorder = await _person(session, row.recorded_by)
    return [Signer(recorder.name or "" if recorder else "", recorder.rut if recorder else None,
                   ctx.t("closing_doc.role_gestora")),
            Signer("", None, ctx.t("closing_doc.role_representative"))]


def _agreed_pdf(req: Request, tpl: ProgramTemplate | None, row: AgreedText, body: Body | None,
                meeting: Meeting | None, signers: list[Signer]) -> ExportFile:
    ctx = req.ctx
    title = verifier_name(req.program, req.verifier, ctx.locale)
    body_name = _body_name(tpl, body, ctx.locale) if body else None
    details = program_details(req.program, ctx) + _activity(tpl, req.verifier, ctx)
    if body_name:
        details.append((ctx.t("exports.label.body"), body_name))
    details.append((ctx.t("closing_doc.label.agreed_in"),
                    _session_line(ctx, tpl, meeting) if meeting
                    else ctx.t("closing_doc.no_session")))
    details.append((ctx.t("closing_doc.label.version"), ctx.t(
        "closing_doc.version_of", version=row.version, date=ctx.long_date(row.recorded_at))))
    full_title = f"{title} · {body_name}" if body_name else title
    pdf = _pdf(ctx, req, full_title, f"{full_title} · v{row.version}")
    pdf.heading(req.program.name, full_title, details)
    pdf.section(ctx.t("closing_doc.agreed_text"))
    pdf.text_block(row.text)
    pdf.signatures(signers, title=ctx.t("closing_doc.signatures"))
    stem = f"{slugify(title)}{'-' + slugify(body_name) if body_name else ''}-v{row.version}"
    return _file(stem, "pdf", bytes(pdf.output()))


# --- the hand-over of goods -----------------------------------------------------------------


@dataclass
class HandoverFacts:
    """Everything the acta and the inventory say, read once."""

    handover: Handover
    goods: list[HandoverGood]
    organization: Organization | None
    representative: Person | None
    representative_position: str | None
    meeting: Meeting | None
    rules: AgreedText | None  # the reglamento de uso in force at the hand-over

    @property
    def total(self) -> int:
        return handover.total(self.goods)


async def _handovers(req: Request) -> list[Evidence]:
    found = []
    for h in await handover.of_program(req.session, req.program.id):
        if not await handover.goods(req.session, h.id):
            continue
        org = await req.session.get(Organization, h.organization_id) if h.organization_id \
            else None
        on = h.handed_on or req.ctx.local(h.recorded_at).date()
        label = f"{org.name if org else '—'} · {req.ctx.day(on)}"
        found.append(Evidence(h.id, label[:40], on))
    return found


async def _facts(req: Request) -> HandoverFacts:
    session = req.session
    rows = await handover.of_program(session, req.program.id)
    if req.subject_id is not None:
        rows = [h for h in rows if h.id == req.subject_id]
    if not rows:
        raise LookupError("no hand-over of goods recorded")
    h = rows[-1]
    org = await session.get(Organization, h.organization_id) if h.organization_id else None
    rep = await handover.representative(session, org.id) if org else None
    return HandoverFacts(
        h, await handover.goods(session, h.id), org,
        await _person(session, rep.person_id) if rep else None, rep.position if rep else None,
        await session.get(Meeting, h.meeting_id) if h.meeting_id else None,
        await _rules_at(req, h))


async def _rules_at(req: Request, h: Handover) -> AgreedText | None:
    """The rules of use the acta annexes: the version in force on the day of the hand-over
    (a signed acta keeps citing what was signed when the rules change later), else, when
    they were recorded only afterwards, the version in force now."""
    rows = await agreed.versions(req.session, req.program.id, handover.REGLAMENTO_USO)
    if h.handed_on is not None:
        then = [r for r in rows if req.ctx.local(r.recorded_at).date() <= h.handed_on]
        if then:
            return then[-1]
    return next((r for r in reversed(rows) if r.superseded_at is None), None)


def _goods_table(ctx: Ctx, facts: HandoverFacts) -> tuple[list[str], list[list[str]]]:
    headers = [ctx.t("closing_doc.col.number"), ctx.t("closing_doc.col.description"),
               ctx.t("closing_doc.col.quantity"), ctx.t("closing_doc.col.unit_value"),
               ctx.t("closing_doc.col.total_value"), ctx.t("closing_doc.col.condition")]
    rows = [[str(i), g.description, ctx.text(g.quantity), pesos(ctx, g.unit_value),
             pesos(ctx, g.quantity * g.unit_value if g.unit_value is not None else None),
             g.condition or ""] for i, g in enumerate(facts.goods, start=1)]
    rows.append(["", ctx.t("closing_doc.grand_total"),
                 ctx.text(sum(g.quantity for g in facts.goods)), "", pesos(ctx, facts.total),
                 ""])
    return headers, rows


def _handover_day(ctx: Ctx, facts: HandoverFacts) -> str:
    h = facts.handover
    if h.handed_on is not None:
        return ctx.long_date(h.handed_on)
    return ctx.long_date(facts.meeting.starts_at if facts.meeting else h.recorded_at)


def _receiver(ctx: Ctx, facts: HandoverFacts) -> str:
    org = facts.organization
    if org is None:
        return "—"
    rut = org.rut or ctx.t("closing_doc.no_rut")
    return ctx.t("closing_doc.receiver", name=org.name, rut=rut)


def _handover_details(req: Request, tpl: ProgramTemplate | None, facts: HandoverFacts,
                      key: str) -> list[tuple[str, str]]:
    ctx = req.ctx
    details = program_details(req.program, ctx) + _activity(tpl, key, ctx)
    details.append((ctx.t("closing_doc.label.receiver"), _receiver(ctx, facts)))
    details.append((ctx.t("exports.label.date"), _handover_day(ctx, facts)))
    if facts.meeting is not None:
        details.append((ctx.t("exports.label.session"), _session_line(ctx, tpl, facts.meeting)))
    return details


def _verifier_key(req: Request, document: str, fallback: str) -> str:
    """The template's key of this document (the one asked for, else the one it names)."""
    tpl = program_template_or_none(req.program)
    if tpl is not None:
        try:
            if tpl.verifier(req.verifier).document == document:
                return req.verifier
        except KeyError:
            pass
        for v in tpl.verifiers:
            if v.document == document:
                return v.key
    return fallback


_GOODS_WIDTHS = (8, 70, 18, 28, 30, 32)
_GOODS_ALIGNS = ("RIGHT", "LEFT", "RIGHT", "RIGHT", "RIGHT", "LEFT")


@producer("handover_acta", formats=("pdf",), scope="program", evidence=_handovers)
async def handover_acta(req: Request) -> list[ExportFile]:
    """The acta de traspaso del dominio de bienes: the parties, the goods with quantity and
    value, the rules of use cited (and annexed), and the signatures of both parties."""
    ctx = req.ctx
    facts = await _facts(req)
    tpl = program_template_or_none(req.program)
    key = _verifier_key(req, "handover_acta", "acta_traspaso_bienes")
    title = verifier_name(req.program, key, ctx.locale)
    settings = req.program.settings or {}
    executor = str(settings.get("executor") or ctx.t("closing_doc.executor_unknown"))
    org_name = facts.organization.name if facts.organization else "—"
    pdf = _pdf(ctx, req, title, f"{title} · {org_name}")
    pdf.heading(req.program.name, title, _handover_details(req, tpl, facts, key))

    pdf.section(ctx.t("closing_doc.parties"))
    rep = facts.representative
    pdf.para(ctx.t(
        "closing_doc.parties_text", executor=executor, program=req.program.name,
        receiver=_receiver(ctx, facts), date=_handover_day(ctx, facts),
        representative=ctx.t("closing_doc.represented_by", name=rep.name or "",
                             rut=rep.rut or ctx.t("closing_doc.no_rut"))
        if rep is not None else ctx.t("closing_doc.represented_blank")), 9.5)

    pdf.section(ctx.t("closing_doc.goods"))
    headers, rows = _goods_table(ctx, facts)
    pdf.grid(headers, rows, _GOODS_WIDTHS, aligns=_GOODS_ALIGNS)
    pdf.ln(1.5)
    pdf.para(ctx.t("closing_doc.total_words", count=len(facts.goods),
                   total=pesos(ctx, facts.total)), 9.5)

    pdf.section(ctx.t("closing_doc.clauses"))
    pdf.para(ctx.t("closing_doc.clause_use", program=req.program.name), 9.5)
    pdf.ln(1)
    rules = facts.rules
    pdf.para(ctx.t("closing_doc.clause_rules", version=rules.version,
                   date=ctx.long_date(rules.recorded_at)) if rules is not None
             else ctx.t("closing_doc.clause_rules_missing"), 9.5)
    pdf.ln(1)
    pdf.para(ctx.t("closing_doc.clause_copies"), 9.5)

    pdf.signatures([
        Signer("", None, ctx.t("closing_doc.for_executor", executor=executor)),
        Signer(rep.name or "" if rep else "", rep.rut if rep else None,
               ctx.t("closing_doc.for_receiver", name=org_name)
               + (f" ({facts.representative_position})" if facts.representative_position
                  else "")),
        Signer("", None, ctx.t("closing_doc.witness")),
    ], per_row=3, title=ctx.t("closing_doc.signatures"))

    if rules is not None:
        pdf.add_page()
        pdf.section(ctx.t("closing_doc.annex_rules", version=rules.version,
                          date=ctx.long_date(rules.recorded_at)))
        pdf.text_block(rules.text)
    day = facts.handover.handed_on or ctx.local(facts.handover.recorded_at).date()
    stem = f"{slugify(title)}-{slugify(org_name)}-{day.isoformat()}"
    return [_file(stem, "pdf", bytes(pdf.output()))]


@producer("inventory", formats=("xlsx", "pdf"), scope="program", evidence=_handovers)
async def inventory(req: Request) -> list[ExportFile]:
    """The inventory of the goods handed over: the acta's table, with its totals."""
    ctx = req.ctx
    facts = await _facts(req)
    tpl = program_template_or_none(req.program)
    key = _verifier_key(req, "inventory", "inventario")
    title = verifier_name(req.program, key, ctx.locale)
    details = _handover_details(req, tpl, facts, key)
    details.append((ctx.t("closing_doc.label.total"), pesos(ctx, facts.total)))
    org_name = facts.organization.name if facts.organization else "—"
    day = facts.handover.handed_on or ctx.local(facts.handover.recorded_at).date()
    stem = f"{slugify(title)}-{slugify(org_name)}-{day.isoformat()}"
    if req.fmt == "xlsx":
        return [_file(stem, "xlsx", _inventory_xlsx(ctx, req.program, title, details, facts))]
    pdf = _pdf(ctx, req, title, f"{title} · {org_name}")
    pdf.heading(req.program.name, title, details)
    headers, rows = _goods_table(ctx, facts)
    pdf.grid(headers, rows, _GOODS_WIDTHS, aligns=_GOODS_ALIGNS)
    pdf.signatures([
        Signer("", None, ctx.t("closing_doc.role_gestora")),
        Signer(facts.representative.name or "" if facts.representative else "",
               facts.representative.rut if facts.representative else None,
               ctx.t("closing_doc.for_receiver", name=org_name)),
    ], title=ctx.t("closing_doc.signatures"))
    return [_file(stem, "pdf", bytes(pdf.output()))]


def _inventory_xlsx(ctx: Ctx, program: Program, title: str,
                    details: Sequence[tuple[str, str]], facts: HandoverFacts) -> bytes:
    from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
    from openpyxl.utils import get_column_letter

    wb = _new_workbook(ctx, title)
    ws = wb.active
    ws.title = _sheet_title(title)
    _put(ws, 1, 1, title).font = Font(bold=True, size=14)
    _put(ws, 2, 1, program.name)
    row = 3
    for label, value in details:
        _put(ws, row, 1, label).font = Font(bold=True)
        _put(ws, row, 2, value)
        row += 1
    _put(ws, row, 1, ctx.generated()).font = Font(italic=True, color="646A73")
    head = row + 2
    headers = [ctx.t("closing_doc.col.number"), ctx.t("closing_doc.col.description"),
               ctx.t("closing_doc.col.quantity"), ctx.t("closing_doc.col.unit_value"),
               ctx.t("closing_doc.col.total_value"), ctx.t("closing_doc.col.condition")]
    thin = Side(style="thin", color="A0A8B4")
    for c, h in enumerate(headers, start=1):
        cell = _put(ws, head, c, h)
        cell.font = Font(bold=True)
        cell.fill = PatternFill("solid", fgColor="DEE4ED")
        cell.border = Border(bottom=thin)
        cell.alignment = Alignment(wrap_text=True, vertical="center")
    money = '"$" #,##0'
    r = head
    for i, g in enumerate(facts.goods, start=1):
        r = head + i
        _put(ws, r, 1, i)
        _put(ws, r, 2, g.description).alignment = Alignment(wrap_text=True, vertical="top")
        _put(ws, r, 3, g.quantity)
        _put(ws, r, 4, g.unit_value).number_format = money
        total = _put(ws, r, 5, g.quantity * g.unit_value if g.unit_value is not None else None)
        total.number_format = money
        _put(ws, r, 6, g.condition or "")
    total_row = r + 1
    _put(ws, total_row, 2, ctx.t("closing_doc.grand_total")).font = Font(bold=True)
    _put(ws, total_row, 3, sum(g.quantity for g in facts.goods)).font = Font(bold=True)
    cell = _put(ws, total_row, 5, facts.total)
    cell.number_format = money
    cell.font = Font(bold=True)
    for c in range(1, 7):
        ws.cell(row=total_row, column=c).border = Border(top=thin)
    for c, width in enumerate((6, 48, 11, 16, 18, 22), start=1):
        ws.column_dimensions[get_column_letter(c)].width = width
    ws.print_title_rows = f"{head}:{head}"
    ws.print_area = f"A1:F{total_row}"
    ws.page_setup.orientation = ws.ORIENTATION_LANDSCAPE
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.freeze_panes = f"A{head + 1}"
    return _workbook_bytes(wb)


# --- the evaluation of the process ------------------------------------------------------------


async def _evaluations(req: Request) -> list[Evidence]:
    found = []
    held = await meetings.of_program(req.session, req.program.id, until=req.ctx.now,
                                     kinds=(EVALUATION_KIND,))
    for m in held:
        acta = await minutes.of_meeting(req.session, m.id)
        if acta is None or not [i for i in await minutes.items(req.session, acta.id)
                                if i.section in EVALUATION_SECTIONS]:
            continue
        found.append(Evidence(m.id, f"{req.ctx.day(m.starts_at)} {req.ctx.time(m.starts_at)}",
                              req.ctx.local(m.starts_at).date()))
    return found


@producer("evaluation", formats=("pdf",), scope="meeting", evidence=_evaluations)
async def evaluation(req: Request) -> list[ExportFile]:
    """The documento de evaluación del proceso: the evaluation session, how many came, and
    what it found (achievements, difficulties, lessons, recommendations)."""
    ctx, session = req.ctx, req.session
    if req.subject_id is None:
        raise ValueError("an evaluation document is of one session")
    meeting = await session.get(Meeting, req.subject_id)
    if meeting is None or meeting.program_id != req.program.id:
        raise LookupError(f"no meeting {req.subject_id} in programme {req.program.id}")
    tpl = program_template_or_none(req.program)
    acta = await minutes.of_meeting(session, meeting.id)
    items = await minutes.items(session, acta.id) if acta else []
    key = _verifier_key(req, "evaluation", "documento_evaluacion")
    title = verifier_name(req.program, key, ctx.locale)
    tally = (await admin_meetings.board(session, meeting)).tally
    details = program_details(req.program, ctx) + _activity(tpl, key, ctx)
    details += [
        (ctx.t("exports.label.session"), _session_line(ctx, tpl, meeting)),
        (ctx.t("exports.label.place"), _place(meeting.place, meeting.address)),
        (ctx.t("exports.label.attendance"), ctx.t("closing_doc.present", count=tally.present)),
    ]
    pdf = _pdf(ctx, req, title, f"{title} · {ctx.long_date(meeting.starts_at)}")
    pdf.heading(req.program.name, title, details)
    for section in EVALUATION_SECTIONS:
        pdf.section(ctx.t(f"closing_doc.section.{section.value}"))
        mine = [i.text for i in items if i.section == section]
        if not mine:
            pdf.para(ctx.t("closing_doc.section_empty"), 9.5)
        for n, text in enumerate(mine, start=1):
            pdf.para(f"{n}. {text}", 9.5)
            pdf.ln(0.8)
    recorder = await _person(session, acta.recorded_by) if acta else None
    pdf.signatures([
        Signer(recorder.name or "" if recorder else "", recorder.rut if recorder else None,
               ctx.t("closing_doc.role_gestora")),
        Signer("", None, ctx.t("closing_doc.role_adl")),
    ], title=ctx.t("closing_doc.signatures"))
    stem = f"{slugify(title)}-{ctx.local(meeting.starts_at).date().isoformat()}"
    return [_file(stem, "pdf", bytes(pdf.output()))]


__all__ = ["PER_BODY", "agreed_text_pdf", "evaluation", "handover_acta", "inventory",
           "verifier_name"]
