"""The verificadores of commitments and of the bodies' constitution: each organisation's
acuerdo y compromiso de participación, the members' declaraciones de compromiso of a body,
and the acta de constitución of the Grupo Motor or the Consejo Local.

Signed in chat, a signature shows who signed, their RUT and when; every document also
leaves boxes for handwritten signatures, and a blank copy (``blank``) carries the texts
with empty boxes only, to print and sign on paper."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from documents.base import (
    _MUTED,
    MIME,
    Ctx,
    ExportFile,
    Signer,
    _new_pdf,
    program_details,
    slugify,
)
from documents.registry import Evidence, Request, body_kind, producer
from domain.forms import PROGRAM_PLACEHOLDER, Form, plain_value
from domain.program_templates import localized_text
from storage import admin_meetings, agreed, commitments, minutes, reports
from storage.commitments import COMMITMENT_FORM, DECLARATION_FORM, declaration_form_of
from storage.meetings import body_name, meeting_kind_name
from storage.models import Body, FormResponse, Meeting, MinutesSection, Organization, Person

BLANK = "_______________"
LABEL_MAX = 40
BOX_H = 30.0  # the height documents.base gives a row of signature boxes


def _label(text: str) -> str:
    return text if len(text) <= LABEL_MAX else text[:LABEL_MAX - 1].rstrip() + "…"


async def _heading_details(req: Request, extra: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The programme's executing body, comuna and region, the stage and activity the
    document proves, then what is its own."""
    ctx = req.ctx
    details = program_details(req.program, ctx)
    m = await commitments.milestone_for(req.session, req.program.id, req.verifier)
    if m is not None:
        details.append((ctx.t("commit.doc.stage"), str(m.stage)))
        details.append((ctx.t("commit.doc.activity"), localized_text(m.name, ctx.locale)))
    return details + extra


def _estimate(pdf: Any, text: str, size: float = 9.5, pad: float = 4) -> float:
    """The height a paragraph will take, to keep it on the page of its signatures."""
    pdf.font(size)
    lines = 0
    for paragraph in text.split("\n"):
        width = pdf.get_string_width(pdf.s(paragraph))
        lines += max(1, int(width / pdf.epw) + 1)
    return lines * size * 0.5 + pad


def _keep_together(pdf: Any, height: float) -> None:
    if pdf.get_y() + height > pdf.page_break_trigger:
        pdf.add_page()


def _blank_text(form: Form, locale: str, program: str, known: dict[str, str] | None = None,
                answers: dict[str, Any] | None = None) -> str:
    """The declaration as answered; what no answer gives is taken from what is ``known``
    (the signer's name, the organisation), else a line to fill in by hand."""
    assert form.declaration is not None
    values = {PROGRAM_PLACEHOLDER: program} | {q.key: BLANK for q in form.questions}
    values.update({k: v for k, v in (known or {}).items() if v})
    for q in form.questions:
        shown = plain_value(q, (answers or {}).get(q.key), locale)
        if shown:
            values[q.key] = shown
    return localized_text(form.declaration.text, locale).format(**values)


async def _organizations(req: Request, body: Body, person_ids: list[int]) -> dict[int, str]:
    """The organisation each person comes from: their membership's, else the one they
    represent."""
    org_of = await admin_meetings.organizations_of(req.session, person_ids, body.id)
    orgs = await reports.by_id(req.session, Organization, org_of.values())
    return {pid: orgs[oid].name for pid, oid in org_of.items() if oid in orgs}


def _signed_role(ctx: Ctx, at: datetime, role: str | None = None) -> str:
    said = ctx.t("commit.doc.signed_in_chat", date=ctx.day(at))
    return f"{role} · {said}" if role else said


def _pdf_file(stem: str, pdf: Any) -> ExportFile:
    return ExportFile(f"{stem}.pdf", bytes(pdf.output()), MIME["pdf"])


# --- participation commitments ------------------------------------------------------------


async def _committed(req: Request) -> list[Evidence]:
    return [Evidence(o.id, _label(o.name), req.ctx.local(o.committed_at).date())
            for o in await commitments.committed(req.session, req.program.id, req.ctx.now)
            if o.committed_at is not None]


def _kept_form(req: Request, key: str) -> Form:
    """The form as the programme keeps it (its blank page, its questions' labels)."""
    from domain.forms import program_form

    form = program_form(req.program, key)
    if form is None:
        raise ValueError(f"programme {req.program.id} does not use the form {key}")
    return form


@producer("participation_commitments", formats=("pdf",), scope="organization",
          evidence=_committed, blank=True, forms=(COMMITMENT_FORM,))
async def participation_commitments(req: Request) -> list[ExportFile]:
    kept = _kept_form(req, COMMITMENT_FORM)
    if req.subject_id is None:
        if req.blank:
            return [_commitment_pdf(req, await _heading_details(req, []), None, None,
                                    kept, [])]
        orgs = await commitments.committed(req.session, req.program.id, req.ctx.now)
    else:
        org = await req.session.get(Organization, req.subject_id)
        if org is None or org.program_id != req.program.id:
            raise ValueError(f"no organisation {req.subject_id} in this programme")
        orgs = [org]
    out = []
    for org in orgs:
        response = await commitments.commitment_of(req.session, org.id)
        if response is None and not req.blank:
            raise ValueError(f"{org.name} has not signed its commitment")
        form = (await commitments.form_of_response(req.session, response)
                if response is not None else None) or kept
        sigs = (await commitments.signatures(req.session, response.id)
                if response is not None and not req.blank else [])
        extra = [(req.ctx.t("commit.doc.organization"), org.name)]
        if org.rut:
            extra.append((req.ctx.t("commit.doc.org_rut"), org.rut))
        if response is not None and response.submitted_at and not req.blank:
            extra.append((req.ctx.t("commit.doc.signed_on"),
                          req.ctx.long_date(response.submitted_at)))
        out.append(_commitment_pdf(req, await _heading_details(req, extra), org,
                                   response, form, sigs))
    return out


def _commitment_pdf(req: Request, details: list[tuple[str, str]], org: Organization | None,
                    response: FormResponse | None, form: Form, sigs: list[Any]) -> ExportFile:
    ctx, blank = req.ctx, req.blank or response is None
    title = ctx.t("commit.doc.commitment_title")
    name = org.name if org else ""
    pdf = _new_pdf(ctx, req.font_dirs, title=title,
                   running_title=f"{title} · {name}" if name else title)
    pdf.add_page()
    pdf.heading(req.program.name, title, details)
    answers = (response.answers or {}) if response is not None and not blank else {}

    pdf.section(ctx.t("commit.doc.agreements"))
    pdf.para(ctx.t("commit.doc.agreements_intro"), 9.5)
    pdf.ln(1)
    agreements = form.question("agreements") if form.has("agreements") else None
    chosen = set(answers.get("agreements") or [])
    for option in agreements.options if agreements else []:
        mark = "[X]" if option.key in chosen else "[   ]"
        pdf.para(f"{mark}  {localized_text(option.label, ctx.locale)}", 10)
        pdf.ln(0.8)

    pdf.section(ctx.t("commit.doc.representatives"))
    pdf.para(str(answers.get("representatives") or BLANK * 3), 10)

    if form.declaration is not None:
        first = sigs[0].signed_name if sigs else ""
        text = _blank_text(form, ctx.locale, req.program.name, {"organization_name": name,
                                              "representative_name": first}, answers)
        signers = [Signer(s.signed_name, s.signed_rut, _signed_role(ctx, s.signed_at))
                   for s in sigs]
        # Room for every representative: those who signed in chat, and more by hand.
        signers += [Signer(role=ctx.t("commit.doc.representative"))] * (
            3 if blank else 2 if len(signers) % 2 == 0 else 1)
        rows = (len(signers) + 1) // 2
        _keep_together(pdf, 12 + _estimate(pdf, text) + 10 + 8 + rows * BOX_H)
        pdf.section(ctx.t("commit.doc.declaration"))
        pdf.para(text, 9.5)
        pdf.ln(2)
        pdf.para(ctx.t("commit.doc.place_date"), 9.5)
        pdf.signatures(signers, title=ctx.t("commit.doc.signatures"))
        if sigs:
            pdf.ln(1)
            pdf.para(ctx.t("commit.doc.chat_note"), 8.5, _MUTED)
    stem = ctx.t("commit.doc.commitment_file") + (f"-{slugify(name)}" if name else "")
    if blank:
        stem += "-" + ctx.t("commit.doc.blank_file")
    return _pdf_file(stem, pdf)


# --- members' declarations ------------------------------------------------------------------


async def _declared(req: Request) -> list[Evidence]:
    out = []
    wanted = body_kind(req)
    for body in await commitments.bodies(req.session, req.program.id):
        if wanted is not None and body.kind != wanted:
            continue
        signed = [m.membership.commitment_signed_at
                  for m in await commitments.members(req.session, body.id)
                  if m.membership.commitment_signed_at is not None
                  and m.membership.commitment_signed_at <= req.ctx.now]
        if signed:
            out.append(Evidence(body.id, _label(body_name(req.program, body, req.ctx.locale)),
                                req.ctx.local(max(signed)).date()))
    return out


async def _body(req: Request) -> Body:
    if req.subject_id is None:
        raise ValueError("this document is of one body")
    body = await commitments.body(req.session, req.program.id, req.subject_id)
    if body is None:
        raise ValueError(f"no body {req.subject_id} in this programme")
    return body


# The Ecomercado's form unless the template's verifier names another (``form:``).
@producer("member_declarations", formats=("pdf",), scope="body", evidence=_declared,
          blank=True, forms=(DECLARATION_FORM,))
async def member_declarations(req: Request) -> list[ExportFile]:
    ctx = req.ctx
    body = await _body(req)
    bname = body_name(req.program, body, ctx.locale)
    members = await commitments.members(req.session, body.id)
    declared = await commitments.declarations_of(req.session, req.program.id, body.kind,
                                                 [m.person.id for m in members])
    form = _kept_form(req, declaration_form_of(req.program, req.verifier))
    title = ctx.t("commit.doc.declarations_title", body=bname)
    pdf = _new_pdf(ctx, req.font_dirs, title=title, running_title=title)
    pdf.add_page()
    extra = [(ctx.t("commit.doc.body"), bname),
             (ctx.t("commit.doc.members"), str(len(members)))]
    if body.constituted_at:
        extra.append((ctx.t("commit.doc.constituted_on"), ctx.long_date(body.constituted_at)))
    pdf.heading(req.program.name, title, await _heading_details(req, extra))
    pdf.para(ctx.t("commit.doc.declarations_intro"), 9.5, _MUTED)

    option = form.question("body").option(body.kind) if form.has("body") else None
    body_label = localized_text(option.label, ctx.locale) if option else bname
    org_names = await _organizations(req, body, [m.person.id for m in members])
    entries: list[tuple[str, str, Signer]] = []
    for n, m in enumerate(members, start=1):
        response = None if req.blank else declared.get(m.person.id)
        org = org_names.get(m.person.id, "")
        if response is not None:
            answered = await commitments.form_of_response(req.session, response) or form
            sigs = await commitments.signatures(req.session, response.id)
            text = _blank_text(answered, ctx.locale, req.program.name, {
                "full_name": m.person.name or "", "organization": org, "body": body_label,
                "person_rut": (sigs[0].signed_rut if sigs else None) or m.person.rut or ""},
                response.answers or {})
            signer = Signer(sigs[0].signed_name, sigs[0].signed_rut or m.person.rut,
                            _signed_role(ctx, sigs[0].signed_at)) if sigs else Signer(
                m.person.name or "", m.person.rut)
        else:
            known = {"full_name": m.person.name or BLANK, "body": body_label}
            if org:
                known["organization"] = org
            if m.person.rut and not req.blank:
                known["person_rut"] = m.person.rut
            text = _blank_text(form, ctx.locale, req.program.name, known)
            signer = Signer(m.person.name or "", None if req.blank else m.person.rut,
                            ctx.t("commit.doc.not_signed_yet") if not req.blank else None)
        entries.append((f"{n}. {m.person.name or '?'}" + (f" · {org}" if org else ""), text,
                        signer))
    if not members:  # nobody recorded yet: copies to fill in by hand
        text = _blank_text(form, ctx.locale, req.program.name, {"body": body_label})
        entries = [(f"{n}.", text, Signer()) for n in range(1, 5)]
    for head, text, signer in entries:
        _keep_together(pdf, 14 + _estimate(pdf, text) + BOX_H + 2)
        pdf.section(head)
        pdf.para(text, 9.5)
        pdf.signatures([signer], per_row=2)
    stem = f"{ctx.t('commit.doc.declarations_file')}-{slugify(bname)}"
    if req.blank:
        stem += "-" + ctx.t("commit.doc.blank_file")
    return [_pdf_file(stem, pdf)]


async def _ruts(req: Request, body: Body, person_ids: list[int]) -> dict[int, str]:
    """Each person's RUT: as registered, else as their declaration for the body gives it."""
    declared = await commitments.declarations_of(req.session, req.program.id, body.kind,
                                                 person_ids)
    out: dict[int, str] = {}
    for pid, response in declared.items():
        value = (response.answers or {}).get("person_rut")
        if isinstance(value, dict) and value.get("formatted"):
            out[pid] = value["formatted"]
    for pid in person_ids:
        person = await req.session.get(Person, pid)
        if person is not None and person.rut:
            out[pid] = person.rut
    return out


# --- acta de constitución -------------------------------------------------------------------


def _kind_of(verifier: str, bodies: list[Body]) -> list[Body]:
    """The template names one verifier per body (acta_constitucion_grupo_motor): its key
    ends in the body's kind. A verifier naming none serves every body."""
    matching = [b for b in bodies if verifier.endswith(b.kind)]
    return matching or bodies


async def _constituted(req: Request) -> list[Evidence]:
    bodies = _kind_of(req.verifier, await commitments.bodies(req.session, req.program.id))
    return [Evidence(b.id, _label(body_name(req.program, b, req.ctx.locale)),
                     req.ctx.local(b.constituted_at).date())
            for b in bodies if b.constituted_at is not None and b.constituted_at <= req.ctx.now]


@producer("constitution_acta", formats=("pdf",), scope="body", evidence=_constituted,
          blank=True)
async def constitution_acta(req: Request) -> list[ExportFile]:
    ctx = req.ctx
    if req.subject_id is None:
        found = [b for b in _kind_of(req.verifier,
                                     await commitments.bodies(req.session, req.program.id))
                 if b.constituted_at is not None]
        if not found:
            raise ValueError("no body constituted yet")
        body = found[0]
    else:
        body = await _body(req)
    meeting = (await req.session.get(Meeting, body.constitution_meeting_id)
               if body.constitution_meeting_id else None)
    if meeting is None and not req.blank:
        raise ValueError(f"{body.name} has not been constituted")
    bname = body_name(req.program, body, ctx.locale)
    title = ctx.t("commit.doc.acta_title", body=bname)
    pdf = _new_pdf(ctx, req.font_dirs, title=title, running_title=title)
    pdf.add_page()
    extra = [(ctx.t("commit.doc.body"), bname)]
    if meeting is not None:
        extra += [
            (ctx.t("commit.doc.session"), meeting_kind_name(req.program, meeting.kind,
                                                            ctx.locale)),
            (ctx.t("commit.doc.date"), ctx.t("commit.doc.date_time", date=ctx.long_date(
                meeting.starts_at), time=ctx.time_range(meeting.starts_at, meeting.ends_at))),
            (ctx.t("commit.doc.place"), ", ".join(p for p in (meeting.place, meeting.address)
                                                  if p) or "—"),
        ]
    else:
        extra += [(ctx.t("commit.doc.date"), BLANK), (ctx.t("commit.doc.place"), BLANK)]
    facilitator = (req.program.settings or {}).get("facilitator")
    if facilitator:
        extra.append((ctx.t("commit.doc.facilitator"), str(facilitator)))
    pdf.heading(req.program.name, title, await _heading_details(req, extra))
    pdf.para(ctx.t("commit.doc.acta_intro", body=bname, program=req.program.name), 10)

    # Who was there: the session's attendance, else (nothing marked) the members.
    members = await commitments.members(req.session, body.id)
    people: list[Person] = (await commitments.present_people(req.session, meeting.id)
                            if meeting is not None else [])
    from_attendance = bool(people)
    if not people:
        people = [m.person for m in members]
    org_of = await admin_meetings.organizations_of(req.session, [p.id for p in people],
                                                   body.id)
    orgs = await reports.by_id(req.session, Organization, org_of.values())
    rut = await _ruts(req, body, [p.id for p in people] + [m.person.id for m in members])
    rows = []
    for n, p in enumerate(people, start=1):
        org = orgs.get(org_of.get(p.id)) if org_of.get(p.id) else None
        rows.append([str(n), p.name or "?", org.name if org else "", rut.get(p.id) or ""])
    pdf.section(ctx.t("commit.doc.present" if from_attendance else "commit.doc.members_list"))
    if rows:
        pdf.grid([ctx.t("commit.doc.col_n"), ctx.t("commit.doc.col_name"),
                  ctx.t("commit.doc.col_organization"), ctx.t("commit.doc.col_rut")],
                 rows, [10, 70, 75, pdf.epw - 155])
    else:
        pdf.para(ctx.t("commit.doc.nobody"), 9.5, _MUTED)

    pdf.section(ctx.t("commit.doc.protocol"))
    protocol = await agreed.current(req.session, req.program.id, "protocolo_funcionamiento",
                                    body.id)
    if protocol is not None:
        pdf.para(ctx.t("commit.doc.protocol_version", version=protocol.version,
                       date=ctx.long_date(protocol.recorded_at)), 8.5, _MUTED)
        pdf.ln(1)
        pdf.text_block(protocol.text)
    else:
        pdf.para(ctx.t("commit.doc.no_protocol"), 9.5, _MUTED)

    agreements = [ctx.t("commit.doc.agreement_constituted", body=bname),
                  ctx.t("commit.doc.agreement_protocol"),
                  ctx.t("commit.doc.agreement_declarations")]
    acta = await minutes.of_meeting(req.session, meeting.id) if meeting is not None else None
    if acta is not None:
        agreements += [i.text for i in await minutes.items(req.session, acta.id,
                                                           MinutesSection.AGREEMENT)]
    org_names = await _organizations(req, body, [m.person.id for m in members])
    signers = [Signer(m.person.name or "", rut.get(m.person.id), org_names.get(m.person.id))
               for m in members]
    signers.append(Signer(str(facilitator) if facilitator else "",
                          None, ctx.t("commit.doc.gestora")))
    per_row = 3 if len(signers) > 6 else 2
    # The agreements, the place and date and every signature on one page where they fit:
    # a page of signatures alone proves nothing.
    block = (14 + sum(_estimate(pdf, t, 10, pad=1) for t in agreements) + 10 + 8
             + -(-len(signers) // per_row) * BOX_H)
    if block < pdf.page_break_trigger - pdf.t_margin:
        _keep_together(pdf, block)
    pdf.section(ctx.t("commit.doc.agreements_acta"))
    for n, text in enumerate(agreements, start=1):
        pdf.para(f"{n}. {text}", 10)
        pdf.ln(0.8)
    pdf.ln(2)
    pdf.para(ctx.t("commit.doc.place_date"), 9.5)
    pdf.signatures(signers, per_row=per_row, title=ctx.t("commit.doc.acta_signatures"))
    stem = f"{ctx.t('commit.doc.acta_file')}-{slugify(bname)}"
    return [_pdf_file(stem, pdf)]


__all__ = ["COMMITMENT_FORM", "constitution_acta", "member_declarations",
           "participation_commitments"]
