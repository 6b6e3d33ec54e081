"""The documents the programme must show (verificadores), as files a person can print, sign
or upload: attendance lists, interest forms, the list of invited organisations and
delivery-day lists. The progress report is in documents.progress (re-exported here).

Every export reads with the session it is given (and never commits), renders in the
reader's language and in the programme's time zone, and returns an :class:`ExportFile`
``(filename, content, mime_type)``, which a channel can send as an attachment as it is.

PDFs use DejaVu Sans when the machine has it and fall back to fpdf2's core Helvetica, whose
latin-1 covers Spanish (accents, ñ, ¿¡) but not much else: characters outside latin-1 are
replaced so that a document is always produced.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from documents.base import (  # noqa: F401  (re-exported: callers and tests use them)
    _FONT_FILES,
    _FORMULA_START,
    _HEAD_FILL,
    _INK,
    _LATIN1_EQUIVALENTS,
    _MUTED,
    _PLAIN_LETTERS,
    _ROW_FILL,
    _RULE,
    CHART_SIZE,
    FICHA_FORM_KEY,
    FONT_DIRS,
    MIME,
    Col,
    Ctx,
    ExportFile,
    Format,
    Listing,
    Pct,
    Section,
    Signer,
    _about_sheet,
    _body_name,
    _csv_bytes,
    _csv_text,
    _find_fonts,
    _kind_name,
    _listing_csv,
    _listing_pdf,
    _listing_xlsx,
    _new_pdf,
    _new_workbook,
    _pdf_class,
    _place,
    _plain,
    _put,
    _sheet_heading,
    _sheet_title,
    _sort_key,
    _workbook_bytes,
    _write_sheet,
    _xlsx_value,
    fit_merged_rows,
    phone_text,
    program_details,
    slugify,
    to_latin1,
)
from documents.progress import (  # noqa: F401  (re-exported: callers and tests use them)
    _chart_fonts,
    _chart_for,
    _glyph_filter,
    _png,
    cut_off,
    progress_chart,
    progress_report,
    render_attendance_chart,
)
from domain import org_kinds
from domain.forms import program_form
from domain.names import person_name
from domain.program_templates import (
    ProgramTemplate,
    localized_text,
    program_template_or_none,
)
from locales import Catalogs, format_number
from storage import admin_meetings, programs, reports, responses
from storage import pickups as day_lists
from storage.fichas import intake_forms_of
from storage.models import (
    AttendanceGuest,
    Body,
    DeliveryDay,
    Family,
    FormDefinition,
    FormResponse,
    FormSignature,
    Meeting,
    MeetingStatus,
    Milestone,
    Organization,
    OrganizationInvitation,
    Person,
    Pickup,
    PickupMode,
    PickupStatus,
    Program,
)
from storage.progress import day_groups, progress_figures

__all__ = [
    "CHART_SIZE",
    "FICHA_FORM_KEY",
    "FONT_DIRS",
    "MIME",
    "ExportFile",
    "Ficha",
    "FichaOrganization",
    "FichaSignature",
    "attendance_list",
    "delivery_day_list",
    "ficha_pdf",
    "ficha_pdfs",
    "fichas_xlsx",
    "invited_organizations",
    "progress_chart",
    "progress_report",
    "render_ficha_pdf",
    "render_fichas_xlsx",
    "slugify",
]


def _session_activity(tpl: ProgramTemplate | None, milestones: Sequence[Milestone],
                      meeting: Meeting, ctx: Ctx) -> tuple[str | None, str | None]:
    """The stage and activity a session proves, by its kind: the activity of that kind
    whose window holds the session's day, else the last one begun by then, else the
    first."""
    mine = [m for m in milestones if m.meeting_kind == meeting.kind]
    if not mine:
        return None, None
    day = ctx.local(meeting.starts_at).date()
    chosen = (next((m for m in mine if m.starts <= day <= m.due), None)
              or next((m for m in reversed(mine) if m.starts <= day), None) or mine[0])
    stage = None
    if tpl is not None:
        try:
            found = tpl.stage(chosen.stage)
            stage = ctx.t("docs.stage_name", number=str(found.number),
                          name=found.name.get(ctx.locale) or found.name["es"])
        except KeyError:
            pass
    name = chosen.name or {}
    return stage, name.get(ctx.locale) or name.get("es")


async def _facilitator(session: AsyncSession, program: Program,
                       meeting: Meeting) -> Person | None:
    """Who answers for the session: who set it up, else the programme's gestora."""
    if meeting.created_by is not None:
        person = await session.get(Person, meeting.created_by)
        if person is not None and person.name and person.erased_at is None:
            return person
    return await reports.gestora(session, program.id)


async def attendance_list(
    session: AsyncSession, meeting_id: int, fmt: Format = "pdf", *, now: datetime,
    locale: str | None = "es", catalogs: Catalogs | None = None,
    font_dirs: Sequence[Path] = FONT_DIRS, blank_rows: int = 5,
) -> ExportFile:
    """The *lista de asistencia* of one meeting: everyone invited and everyone who came,
    each with a cell to sign. Printed before the session its attendance column is empty
    (the signatures are the attendance); after it, each row says present or absent and
    the totals are shown."""
    meeting = await session.get(Meeting, meeting_id)
    if meeting is None:
        raise LookupError(f"no meeting {meeting_id}")
    program = await programs.existing(session, meeting.program_id)
    ctx = Ctx(catalogs, locale, program.timezone, now,
              await programs.country_of(session, program.id))
    tpl = program_template_or_none(program)
    body = await session.get(Body, meeting.body_id) if meeting.body_id else None
    kind = _kind_name(tpl, meeting.kind, ctx.locale)
    body_name = _body_name(tpl, body, ctx.locale) if body else None
    # Attendance is marked once the session begins, or once its taking began (people
    # check in a few minutes early); before that the printed list marks nobody.
    started = ctx.now >= meeting.starts_at or meeting.status == MeetingStatus.HELD

    # The same roll and count the chat and `convoca attendance` show (admin_meetings.board).
    roll = await admin_meetings.board(session, meeting)
    tally = roll.tally
    started = started or any(e.present is not None or e.to_confirm for e in roll.everyone)
    orgs = await reports.by_id(session, Organization, (e.organization_id for e in roll.everyone))
    people = await reports.by_id(session, Person, (e.person_id for e in roll.everyone))
    guests = await reports.by_id(session, AttendanceGuest, (e.guest_id for e in roll.everyone))

    def presence(e: admin_meetings.Entry) -> str:
        if not started:
            return ""  # nobody is present or absent before the session begins
        if e.to_confirm:
            return ctx.t("exports.attendance.to_confirm")
        if e.present is None:
            return ""
        return ctx.t("exports.attendance.present" if e.present else "exports.attendance.absent")

    uninvited = {id(e) for e in roll.walk_ins}

    def answer(e: admin_meetings.Entry) -> str:
        if id(e) in uninvited:
            return ctx.t("exports.rsvp.walk_in")
        return ctx.t(f"exports.rsvp.{e.answer}") if e.answer in {"yes", "no", "maybe"} else (
            ctx.t("exports.rsvp.none"))

    def organization(e: admin_meetings.Entry) -> str:
        org = orgs.get(e.organization_id)
        return org.name if org else (e.organization or "")

    def phone(e: admin_meetings.Entry) -> str:
        person, guest = people.get(e.person_id), guests.get(e.guest_id)
        number = person.phone if person else guest.phone if guest else None
        return phone_text(number)

    def rut(e: admin_meetings.Entry) -> str:
        person = people.get(e.person_id)
        return e.rut or (person.rut if person and person.rut else "")

    # A walk-in marked absent was put there by mistake: not on the list, as not in the count.
    # One who checked in alone is listed, marked as waiting for the gestora's word.
    listed = roll.invited + roll.came_uninvited + roll.unconfirmed
    entries = sorted(
        ((e.name or ctx.t("exports.unknown_person"), rut(e), organization(e), phone(e),
          answer(e), presence(e), e.reason or "") for e in listed),
        key=lambda e: (_sort_key(e[0]), _sort_key(e[2])))
    yes = len(roll.yes)
    session_label = kind + (f": {meeting.title}" if meeting.title else "")
    stage, activity = _session_activity(tpl, await reports.milestones(session, program.id),
                                        meeting, ctx)
    facilitator = await _facilitator(session, program, meeting)
    facilitator_name = (person_name(facilitator.name) if facilitator and facilitator.name
                        else str((program.settings or {}).get("facilitator") or ""))
    details = [
        *program_details(program, ctx),
        (ctx.t("docs.label.stage"), stage or "—"),
        (ctx.t("docs.label.activity"), activity or "—"),
        (ctx.t("exports.label.session"), session_label),
        (ctx.t("exports.label.body"), body_name or "—"),
        (ctx.t("exports.label.date"), ctx.long_date(meeting.starts_at)),
        (ctx.t("exports.label.time"), ctx.time_range(meeting.starts_at, meeting.ends_at)),
        (ctx.t("exports.label.place"), _place(meeting.place, meeting.address)),
        (ctx.t("docs.label.facilitator"), facilitator_name or "—"),
    ]
    if meeting.status == MeetingStatus.CANCELLED:
        details.append((ctx.t("exports.label.status"), ctx.t("exports.meeting.cancelled")))
    if started:
        summary = ctx.t("exports.attendance.summary_walk_ins" if tally.walk_ins
                        else "exports.attendance.summary", invited=tally.invited, yes=yes,
                        present=tally.present, present_invited=tally.present_invited,
                        walk_ins=tally.walk_ins)
    else:
        summary = ctx.t("docs.attendance.before", invited=tally.invited, yes=yes)
    details.append((ctx.t("exports.label.attendance"), summary))
    title = ctx.t("exports.attendance.title")
    local_day = ctx.local(meeting.starts_at).date().isoformat()
    # Without a name the line still asks for one: whoever led the session writes it in.
    signer = Signer(facilitator_name or ctx.t("docs.signature.name_blank"),
                    facilitator.rut if facilitator else None, ctx.t("docs.role.facilitator"))
    listing = Listing(
        stem=f"{ctx.t('exports.file.attendance')}-{slugify(body_name or kind)}-{local_day}",
        title=title,
        program=program.name,
        details=details,
        sheet=title,
        running_title=f"{title} · {session_label} · {ctx.long_date(meeting.starts_at)}",
        landscape=True,
        columns=[
            Col(ctx.t("exports.col.number"), 8, align="RIGHT"),
            Col(ctx.t("exports.col.name"), 52),
            Col(ctx.id_heading(), 24),
            Col(ctx.t("exports.col.organization"), 46),
            Col(ctx.t("exports.col.phone"), 30),
            Col(ctx.t("exports.col.rsvp"), 24, in_pdf=False),
            Col(ctx.t("exports.col.attendance"), 23, align="CENTER"),
            Col(ctx.t("exports.col.reason"), 30, in_pdf=False),
            Col(ctx.t("exports.col.signature"), 60, signature=True),
        ],
        rows=[[n, *e, ""] for n, e in enumerate(entries, start=1)],
        blank_rows=blank_rows if meeting.status != MeetingStatus.CANCELLED else 0,
        signers=[signer],
        signers_title=ctx.t("docs.attendance.responsible"),
    )
    return listing.render(fmt, ctx, font_dirs)


# --------------------------------------------------------------------------- fichas


@dataclass(frozen=True)
class FichaOrganization:
    name: str
    kind: str | None = None
    rut: str | None = None
    sector: str | None = None
    address: str | None = None
    phone: str | None = None
    email: str | None = None
    members_count: int | None = None


@dataclass(frozen=True)
class FichaSignature:
    name: str
    signed_at: datetime
    position: str | None = None
    rut: str | None = None


@dataclass(frozen=True)
class Ficha:
    """One organisation's submitted interest form, ready to render."""

    program: str
    tz: str
    organization: FichaOrganization
    answers: list[tuple[str, str, str]]  # (question key, question text, answer as shown)
    signatures: list[FichaSignature]
    submitted_at: datetime | None
    version: int = 1
    folio: str | None = None  # the receipt number the representative was given
    declaration: str | None = None  # what the signers declared, with their answers in it
    # False while the organisation is not in the catastro: its details are as typed.
    in_catastro: bool = True
    registration_number: str | None = None  # N.º de registro / personalidad jurídica
    # The programme's settings: its executing body, comuna and region for the heading.
    settings: dict[str, Any] = field(default_factory=dict)
    # The title of the form it answers when that is not the Ficha de Interés (a
    # cooperative's ficha, a community's application), in the reader's language.
    title: str | None = None


def _ficha_stem(ctx: Ctx, ficha: Ficha) -> str:
    kind = slugify(ficha.title) if ficha.title else ctx.t("exports.file.ficha")
    stem = f"{kind}-{slugify(ficha.organization.name)}"
    # Two people may send a ficha for the same organisation before it is in the catastro.
    return stem if ficha.in_catastro or not ficha.folio else f"{stem}-{slugify(ficha.folio)}"


HANDWRITTEN_SPARE_ROWS = 2  # for representatives who sign on paper only


def _ficha_signing(pdf: Any, ctx: Ctx, ficha: Ficha) -> None:
    """The declaration, who signed it in Convoca, the rows to sign by hand, the stamp and
    the registration number: one block on one page, so that no signature is ever on a
    sheet without what it signs (a new page starts before the declaration if need be)."""
    signers = list(ficha.signatures) + [FichaSignature("", ctx.now)] * HANDWRITTEN_SPARE_ROWS
    row_h = 14
    pdf.font(9.5)
    declaration_h = (len(pdf.multi_cell(pdf.epw, 4.75, pdf.s(ficha.declaration),
                                        dry_run=True, output="LINES")) * 4.75 + 13
                     if ficha.declaration else 0)
    chat_h = 11 + 8 + 7 * max(len(ficha.signatures), 1) + 10
    block = (declaration_h + chat_h + 11 + 8 + row_h * len(signers) + 6 + 34 + 10)
    if pdf.get_y() + block > pdf.page_break_trigger and pdf.get_y() > pdf.t_margin + 30:
        pdf.add_page()
    if ficha.declaration:
        pdf.section(ctx.t("exports.ficha.declaration"))
        pdf.para(ficha.declaration, 9.5)
        pdf.ln(1)

    pdf.section(ctx.t("exports.ficha.signatures"))
    if ficha.signatures:
        pdf.grid([ctx.t("exports.col.name"), ctx.id_heading(),
                  ctx.t("exports.col.position"), ctx.t("exports.col.signed_at")],
                 [[s.name, s.rut or "", s.position or "",
                   ctx.t("exports.at", date=ctx.long_date(s.signed_at), time=ctx.time(s.signed_at))]
                  for s in ficha.signatures], [62, 28, 38, pdf.epw - 128])
        pdf.ln(1.5)
        pdf.para(ctx.t("exports.ficha.signed_note"), 8.5, _MUTED)
    else:
        pdf.para(ctx.t("exports.ficha.unsigned"), color=_MUTED)

    pdf.section(ctx.t("exports.ficha.handwritten"))
    pdf.grid([ctx.t("exports.col.name"), ctx.id_heading(),
              ctx.t("exports.col.position"), ctx.t("exports.col.signature")],
             [[s.name, s.rut or "", s.position or "", ""] for s in signers],
             [58, 30, 38, pdf.epw - 126], min_row_height=row_h)
    pdf.ln(4)
    # The stamp's box at the left; the registration number and place and date beside it.
    top = pdf.get_y()
    box_w, box_h = 58, 32
    pdf.set_draw_color(*_RULE)
    pdf.rect(pdf.l_margin, top, box_w, box_h)
    pdf.set_xy(pdf.l_margin + 2, top + box_h - 6)
    pdf.font(8, color=_MUTED)
    pdf.cell(box_w - 4, 4, pdf.s(ctx.t("docs.ficha.stamp")), align="C")
    x = pdf.l_margin + box_w + 8
    width = pdf.epw - box_w - 8
    pdf.set_xy(x, top + 4)
    pdf.font(9.5)
    number = ficha.registration_number
    pdf.multi_cell(width, 5, pdf.s(ctx.t("docs.ficha.registration", number=number)
                                   if number else ctx.t("docs.ficha.registration_blank")),
                   new_x="LEFT", new_y="NEXT")
    pdf.set_xy(x, top + 18)
    pdf.multi_cell(width, 5, pdf.s(ctx.t("exports.ficha.place_date")), new_x="LEFT",
                   new_y="NEXT")
    pdf.set_xy(pdf.l_margin, top + box_h + 2)


def render_ficha_pdf(
    ficha: Ficha, *, now: datetime, locale: str | None = "es", catalogs: Catalogs | None = None,
    font_dirs: Sequence[Path] = FONT_DIRS,
) -> ExportFile:
    """The PDF of one *Ficha de Interés de Participación*, from data already read."""
    ctx = Ctx(catalogs, locale, ficha.tz, now)
    org = ficha.organization
    title = ficha.title or ctx.t("exports.ficha.title")
    pdf = _new_pdf(ctx, font_dirs, title=title, running_title=f"{title} · {org.name}")
    pdf.add_page()
    details = [*program_details(ficha, ctx), (ctx.t("exports.col.organization"), org.name)]
    if not ficha.in_catastro:
        details.append((ctx.t("exports.ficha.catastro"), ctx.t("exports.ficha.not_in_catastro")))
    if ficha.folio:
        details.append((ctx.t("exports.ficha.folio"), ficha.folio))
    for label, value in (
        ("exports.col.kind", org_kinds.text(org.kind, ctx.catalogs, ctx.locale)),
        ("exports.col.rut", org.rut),
        ("exports.col.sector", org.sector), ("exports.col.address", org.address),
        ("exports.col.phone", org.phone), ("exports.col.email", org.email),
        ("exports.col.members", format_number(org.members_count, ctx.locale)
         if org.members_count is not None else None),
    ):
        if value:
            details.append((ctx.t(label), value))
    if ficha.submitted_at is not None:
        details.append((ctx.t("exports.ficha.submitted"), ctx.t(
            "exports.at", date=ctx.long_date(ficha.submitted_at), time=ctx.time(ficha.submitted_at))))
    pdf.heading(ficha.program, title, details)

    pdf.section(ctx.t("exports.ficha.answers"))
    if ficha.answers:
        pdf.grid([ctx.t("exports.col.question"), ctx.t("exports.col.answer")],
                 [[q, a or "—"] for _, q, a in ficha.answers], [78, pdf.epw - 78])
    else:
        pdf.para(ctx.t("exports.ficha.no_answers"), color=_MUTED)

    _ficha_signing(pdf, ctx, ficha)
    return ExportFile(f"{_ficha_stem(ctx, ficha)}.pdf", bytes(pdf.output()), MIME["pdf"])


def render_fichas_xlsx(
    fichas: Sequence[Ficha], *, program: str, tz: str, now: datetime,
    locale: str | None = "es", catalogs: Catalogs | None = None,
    details: Sequence[tuple[str, str]] = (), form_titles: Sequence[str] = (),
) -> ExportFile:
    """All organisations' fichas in one sheet: one row each, one column per question.
    ``form_titles``: the titles of the forms asked for, when not the Ficha de Interés,
    for a sheet that has no ficha yet."""
    ctx = Ctx(catalogs, locale, tz, now)
    questions: dict[str, str] = {}
    for f in fichas:
        for key, text, _ in f.answers:
            questions.setdefault(key, text)
    headers = [ctx.t("exports.col.organization"), ctx.t("exports.col.kind"),
               ctx.t("exports.col.sector"), ctx.t("exports.ficha.submitted")]
    headers += list(questions.values())
    headers += [ctx.t("exports.ficha.signatures"), ctx.t("exports.ficha.catastro")]
    rows = []
    for f in sorted(fichas, key=lambda f: _sort_key(f.organization.name, ctx.locale)):
        answers = {k: v for k, _, v in f.answers}
        signed = "\n".join(
            ctx.t("exports.signed_by", name=s.name, when=ctx.stamp(s.signed_at))
            for s in f.signatures)
        rows.append([f.organization.name,
                     org_kinds.text(f.organization.kind, ctx.catalogs, ctx.locale),
                     f.organization.sector or "",
                     f.submitted_at] + [answers.get(k, "") for k in questions] + [
                        signed, ctx.t("exports.yes") if f.in_catastro
                        else ctx.t("exports.ficha.not_in_catastro")])
    # Titled by the form when all are of one other than the Ficha de Interés.
    own = {f.title for f in fichas}
    form_title = own.pop() if len(own) == 1 else None
    if not fichas and form_titles:
        form_title = " / ".join(form_titles)
    title = ctx.t("anyform.list_title", form=form_title) if form_title \
        else ctx.t("exports.fichas.title")
    wb = _new_workbook(ctx, title)
    ws = wb.active
    ws.title = _sheet_title(title)
    outside = sum(1 for f in fichas if not f.in_catastro)
    about = [*details, (ctx.t("exports.fichas.count"), str(len(fichas)))]
    if outside:
        about.append((ctx.t("exports.ficha.not_in_catastro"), str(outside)))
    about.append(("", ctx.generated()))
    top = _sheet_heading(ws, program, title, about, min(len(headers), 8))
    _write_sheet(ws, headers, rows, ctx, top=top, landscape=True)
    fit_merged_rows(ws)
    kind = slugify(form_title) if form_title else ctx.t("exports.file.fichas")
    stem = f"{kind}-{ctx.local(ctx.now).date().isoformat()}"
    return ExportFile(f"{stem}.xlsx", _workbook_bytes(wb), MIME["xlsx"])


def _form_extras(definition: FormDefinition | None, response: FormResponse,
                 locale: str, program: str) -> tuple[str | None, str | None]:
    """The receipt number and the signed declaration of a sent form."""
    if definition is None:
        return None, None
    form = responses.form_of(definition)
    declaration = None
    if form.declaration is not None:
        declaration = form.declaration_text(response.answers or {}, locale, program=program)
    return responses.receipt_number(form, response), declaration


def _typed_organization(response: FormResponse) -> FichaOrganization:
    """The organisation as its ficha describes it, for one the catastro lacks."""
    a = response.answers or {}
    rut = a.get("organization_rut")
    members = a.get("members_count")
    return FichaOrganization(
        name=" ".join(str(a.get("organization_name") or "").split()) or "—",
        kind=a.get("organization_kind"),
        rut=rut.get("formatted") if isinstance(rut, dict) else None,
        sector=a.get("sector"), email=a.get("representative_email"),
        members_count=int(members) if isinstance(members, int | float) else None)


async def _ficha(session: AsyncSession, response: FormResponse, program: Program,
                 locale: str, catalogs: Catalogs) -> Ficha:
    org = await session.get(Organization, response.organization_id) \
        if response.organization_id is not None else None
    sigs = await responses.signatures(session, response.id)
    people = await reports.by_id(session, Person, (s.person_id for s in sigs))
    definition = await session.get(FormDefinition, response.form_id)
    folio, declaration = _form_extras(definition, response, locale, program.name)
    reps = await reports.representatives(session, org.id) if org is not None else {}
    answers = response.answers or {}

    def rut_of(s: FormSignature) -> str | None:
        # As typed at signing; else the sender's own answer; else the person's RUT.
        if s.signed_rut:
            return s.signed_rut
        typed = answers.get("representative_rut")
        if s.person_id is not None and s.person_id == response.person_id and \
                isinstance(typed, dict) and typed.get("formatted"):
            return typed["formatted"]
        person = people.get(s.person_id)
        return person.rut if person is not None and person.rut else None

    registration = answers.get("registration_number")
    return Ficha(
        program=program.name,
        tz=program.timezone,
        organization=FichaOrganization(
            name=org.name, kind=org.kind, rut=org.rut, sector=org.sector, address=org.address,
            phone=org.phone, email=org.email, members_count=org.members_count)
        if org is not None else _typed_organization(response),
        in_catastro=org is not None,
        answers=await responses.answers_for_export(session, response.id, locale, catalogs),
        signatures=[
            FichaSignature(
                # One spelling of each signer's name on the page, whatever was typed.
                name=person_name(s.signed_name, [people[s.person_id].name]
                                 if s.person_id in people else []),
                signed_at=s.signed_at,
                position=reps[s.person_id].position if s.person_id in reps else (
                    # Before the catastro has the organisation, the sender's own words.
                    (response.answers or {}).get("representative_role")
                    if s.person_id is not None and s.person_id == response.person_id
                    else None),
                rut=rut_of(s))
            for s in sigs],
        registration_number=str(registration).strip() or None if registration else None,
        settings=dict(program.settings or {}),
        submitted_at=response.submitted_at,
        version=response.version,
        folio=folio,
        declaration=declaration,
        title=_own_title(definition, locale),
    )


def _own_title(definition: FormDefinition | None, locale: str) -> str | None:
    if definition is None or definition.key == FICHA_FORM_KEY:
        return None
    return localized_text(responses.form_of(definition).title, locale)


async def ficha_pdf(
    session: AsyncSession, organization_id: int, *, now: datetime, locale: str | None = "es",
    catalogs: Catalogs | None = None, font_dirs: Sequence[Path] = FONT_DIRS,
) -> ExportFile | None:
    """The PDF of the organisation's latest submitted ficha; None if it never sent one."""
    org = await session.get(Organization, organization_id)
    if org is None:
        raise LookupError(f"no organisation {organization_id}")
    program = await programs.existing(session, org.program_id)
    found = await reports.latest_fichas(session, program.id, organization_id)
    if not found:
        return None
    catalogs = catalogs or Catalogs()
    loc = catalogs.locale(locale)
    return render_ficha_pdf(await _ficha(session, found[0], program, loc, catalogs), now=now,
                            locale=loc, catalogs=catalogs, font_dirs=font_dirs)


async def ficha_pdfs(
    session: AsyncSession, program_id: int, *, now: datetime, locale: str | None = "es",
    catalogs: Catalogs | None = None, font_dirs: Sequence[Path] = FONT_DIRS,
    forms: Sequence[str] | None = None,
) -> list[ExportFile]:
    """One PDF per organisation with a submitted ficha, by organisation name: of the
    programme's intake forms, or of ``forms`` (one verifier's)."""
    catalogs = catalogs or Catalogs()
    program = await programs.existing(session, program_id)
    fichas = [await _ficha(session, r, program, catalogs.locale(locale), catalogs)
              for r in await reports.latest_fichas(session, program_id, unlinked=True,
                                                   forms=forms)]
    fichas.sort(key=lambda f: _sort_key(f.organization.name, locale))
    return [render_ficha_pdf(f, now=now, locale=locale, catalogs=catalogs, font_dirs=font_dirs)
            for f in fichas]


async def fichas_xlsx(
    session: AsyncSession, program_id: int, *, now: datetime, locale: str | None = "es",
    catalogs: Catalogs | None = None, forms: Sequence[str] | None = None,
) -> ExportFile:
    """Every ficha of the programme's intake forms (or of ``forms``) in one sheet."""
    catalogs = catalogs or Catalogs()
    program = await programs.existing(session, program_id)
    loc = catalogs.locale(locale)
    fichas = [await _ficha(session, r, program, loc, catalogs)
              for r in await reports.latest_fichas(session, program_id, unlinked=True,
                                                   forms=forms)]
    titles = [localized_text(form.title, loc)
              for key in (forms or intake_forms_of(program)) if key != FICHA_FORM_KEY
              and (form := program_form(program, key)) is not None]
    return render_fichas_xlsx(fichas, program=program.name, tz=program.timezone, now=now,
                              locale=locale, catalogs=catalogs, details=program_details(
                                  program, Ctx(catalogs, locale, program.timezone, now)),
                              form_titles=titles)


# --------------------------------------------------------------------------- organisations


async def invited_organizations(
    session: AsyncSession, program_id: int, fmt: Format = "xlsx", *, now: datetime,
    locale: str | None = "es", catalogs: Catalogs | None = None,
    font_dirs: Sequence[Path] = FONT_DIRS,
) -> ExportFile:
    """The catastro with the invitations sent to each organisation, their answers, and
    whether the organisation sent its ficha and signed its commitment, as of ``now`` (the
    cut-off date the list shows, as the progress figures count them)."""
    program = await programs.existing(session, program_id)
    ctx = Ctx(catalogs, locale, program.timezone, now)
    tpl = program_template_or_none(program)
    orgs = await reports.organizations(session, program_id)
    orgs.sort(key=lambda o: _sort_key(o.name, ctx.locale))
    invitations = await reports.invitations(session, program_id, now)
    fichas = {r.organization_id: r
              for r in await reports.latest_fichas(session, program_id, until=now)}
    # An invitation to a meeting ("meeting:<id>") is answered by the organisation's people
    # through their Rsvp; its purpose is shown as the meeting's kind.
    meeting_ids = {int(i.purpose.split(":", 1)[1]) for invs in invitations.values()
                   for i in invs if i.purpose.startswith("meeting:")
                   and i.purpose.split(":", 1)[1].isdigit()}
    meetings_by_id = await reports.by_id(session, Meeting, meeting_ids)
    org_answers = await reports.organization_answers(session, meeting_ids, now)

    def purpose_name(inv: OrganizationInvitation) -> str:
        kind, _, ref = inv.purpose.partition(":")
        meeting = meetings_by_id.get(int(ref)) if kind == "meeting" and ref.isdigit() else None
        return _kind_name(tpl, meeting.kind if meeting else inv.purpose, ctx.locale)

    def answer(inv: OrganizationInvitation) -> str:
        given, when = inv.answer, inv.answered_at
        kind, _, ref = inv.purpose.partition(":")
        if given is None and kind == "meeting" and ref.isdigit():
            rsvp = org_answers.get((int(ref), inv.organization_id))
            if rsvp is not None:
                given, when = rsvp.answer, rsvp.answered_at
        if given is None:
            return ctx.t("exports.rsvp.none")
        label = (ctx.t(f"exports.answer.{given}")
                 if given in {"yes", "no", "maybe"} else given)
        return f"{label} ({ctx.day(when)})" if when else label

    def kind(org: Organization) -> str:
        return org_kinds.text(org.kind, ctx.catalogs, ctx.locale)

    # Under "invitadas" only the organisations that were invited; the rest of the catastro
    # follows in its own section, so that nobody reads them as invited.
    invited_orgs = [o for o in orgs if invitations.get(o.id)]
    others = [o for o in orgs if not invitations.get(o.id)]
    rows = []
    for n, org in enumerate(invited_orgs, start=1):
        invs = invitations[org.id]
        sent = "\n".join(f"{ctx.day(i.sent_at)} · {purpose_name(i)}" for i in invs)
        answers = "\n".join(answer(i) for i in invs)
        ficha = fichas.get(org.id)
        rows.append([
            n, org.name, kind(org), org.sector or "", sent, answers,
            ctx.t("exports.ficha.sent_on", date=ctx.day(ficha.submitted_at))
            if ficha is not None and ficha.submitted_at else ctx.t("exports.no"),
            ctx.day(org.committed_at) if org.committed_at and org.committed_at <= now else "",
        ])
    title = ctx.t("exports.org.title")
    sections = []
    if others:
        sections.append(Section(
            ctx.t("docs.org.not_invited_title", count=len(others)),
            [(ctx.t("exports.col.number"), 8), (ctx.t("exports.col.organization"), 80),
             (ctx.t("exports.col.kind"), 40), (ctx.t("exports.col.sector"), 40)],
            [[n, o.name, kind(o), o.sector or ""] for n, o in enumerate(others, start=1)]))
    listing = Listing(
        stem=f"{ctx.t('exports.file.organizations')}-{ctx.local(ctx.now).date().isoformat()}",
        title=title,
        program=program.name,
        details=[*program_details(program, ctx),
                 (ctx.t("exports.label.as_of"), ctx.long_date(ctx.now))],
        sheet=ctx.t("exports.org.sheet"),
        running_title=title,
        landscape=True,
        columns=[
            Col(ctx.t("exports.col.number"), 8, align="RIGHT"),
            Col(ctx.t("exports.col.organization"), 58),
            Col(ctx.t("exports.col.kind"), 28),
            Col(ctx.t("exports.col.sector"), 28),
            Col(ctx.t("exports.col.invitations"), 58),
            Col(ctx.t("exports.col.answer"), 34),
            Col(ctx.t("exports.col.ficha"), 30),
            Col(ctx.t("exports.col.committed"), 25),
        ],
        rows=rows,
        notes=[ctx.t("exports.org.summary", total=len(orgs), invited=len(invited_orgs),
                     fichas=len(fichas))],
        sections=sections,
    )
    return listing.render(fmt, ctx, font_dirs)


# --------------------------------------------------------------------------- delivery days


def _proxy_rut(ctx: Ctx, p: Pickup, status: str) -> str:
    """A RUT the family did not know is checked at the pickup; after it, it was not noted."""
    if p.proxy_rut or not p.proxy_name:
        return p.proxy_rut or ""
    return ctx.t("exports.pickup.rut_not_noted" if status == PickupStatus.PICKED_UP
                 else "exports.pickup.rut_to_check")


def _pickup_status(ctx: Ctx, p: Pickup, status: str, moved_to: DeliveryDay | None, *,
                   reasons: bool = True) -> str:
    """``status`` as the lists show it (see pickups.shown_status), with the proxy, the
    reason (unless ``reasons`` is False: a sheet every family signs keeps each family's
    reasons to itself) or the day the family moved to."""
    if status == PickupStatus.CANNOT:
        text = ctx.t("exports.pickup.cannot_reason", reason=p.reason) \
            if p.reason and reasons else ctx.t("exports.pickup.cannot")
    elif status in (PickupStatus.PROXY, PickupStatus.PICKED_UP) and p.proxy_name:
        key = "exports.pickup.proxy_named" if status == PickupStatus.PROXY \
            else "exports.pickup.picked_up_by"
        text = ctx.t(key, name=p.proxy_name, rut=_proxy_rut(ctx, p, status))
    elif status == PickupStatus.RESCHEDULE and p.reason and reasons:
        text = ctx.t("exports.pickup.reschedule_reason", reason=p.reason)
    elif status in set(PickupStatus):
        text = ctx.t(f"exports.pickup.{status}")
    else:
        text = status
    if moved_to is not None:
        text = ctx.t("exports.pickup.then_moved", status=text,
                     date=ctx.long_date(moved_to.window_start))
    return text


def _mode_name(ctx: Ctx, mode: str) -> str:
    return ctx.t(f"exports.mode.{mode}") if mode in set(PickupMode) else mode


async def delivery_day_list(
    session: AsyncSession, delivery_day_id: int, fmt: Format = "pdf", *, now: datetime,
    locale: str | None = "es", catalogs: Catalogs | None = None,
    font_dirs: Sequence[Path] = FONT_DIRS,
) -> ExportFile:
    """Who should come (or be visited) on a delivery day: each recipient's name and RUT,
    how they receive (at the premises or at home), what they answered, and a cell to sign
    when the basket is handed over. The printed list carries no family's reasons; the
    sheet and CSV, for the team, do.

    Each family is counted as the progress report counts it (storage.progress): its status
    as it stood ``now`` (pickups.status_as_of), as the day's list shows it (shown_status),
    in the groups of day_groups; the summary is the report's row for the day."""
    day = await session.get(DeliveryDay, delivery_day_id)
    if day is None:
        raise LookupError(f"no delivery day {delivery_day_id}")
    program = await programs.existing(session, day.program_id)
    ctx = Ctx(catalogs, locale, program.timezone, now,
              await programs.country_of(session, program.id))
    pickups = await reports.pickups_of(session, day.id)
    families = await reports.by_id(session, Family, (p.family_id for p in pickups))
    people = await reports.by_id(session, Person, (f.person_id for f in families.values()))
    pickups.sort(key=lambda p: _sort_key(families[p.family_id].name))
    moved_to = await reports.days_of_pickups(session, (p.moved_to_id for p in pickups))
    kept = day.id in await day_lists.kept_lists(session, [day.id], as_of=ctx.now)
    shown = {p.id: day_lists.shown_status(p, day, ctx.now, kept,
                                          status=day_lists.status_as_of(p, day, ctx.now))
             for p in pickups}

    def recipient(fam: Family) -> str:
        person = people.get(fam.person_id)
        return person_name(person.name) if person and person.name and \
            person.erased_at is None else fam.name

    def rut(fam: Family) -> str:
        person = people.get(fam.person_id)
        return fam.rut or (person.rut if person and person.rut else "")

    rows, modes = [], []
    for n, p in enumerate(pickups, start=1):
        fam = families[p.family_id]
        status = shown[p.id]
        mode = PickupMode.DOMICILIO if day_lists.is_home_delivery(day, fam) \
            else PickupMode.RETIRO
        modes.append(mode)
        rows.append([
            n, recipient(fam), rut(fam), fam.name, fam.sector or "", _mode_name(ctx, mode),
            _pickup_status(ctx, p, status, moved_to.get(p.moved_to_id), reasons=False),
            ctx.t(f"exports.pickup.{status}") if status in set(PickupStatus) else status,
            p.reason or "", p.proxy_name or "", _proxy_rut(ctx, p, status),
            p.responded_at, p.handed_at, "",
        ])
    # The report's own row for this day, so the two never disagree; a cancelled day is in
    # no report, and is counted here with the same groups.
    figures = await progress_figures(session, program.id, ctx.now)
    row = next((d for d in figures["delivery_days"] if d["delivery_day_id"] == day.id), None)
    groups = {k: row[k] for k in day_groups({})} if row is not None \
        else day_groups(Counter(shown.values()))
    kinds = set(modes)
    mode_text = _mode_name(ctx, kinds.pop()) if len(kinds) == 1 else (
        ctx.t("docs.mode.mixed") if kinds else _mode_name(ctx, day.mode))
    details = [
        *program_details(program, ctx),
        (ctx.t("exports.label.date"), ctx.long_date(day.window_start)),
        (ctx.t("exports.label.time"), ctx.time_range(day.window_start, day.window_end)),
        (ctx.t("exports.label.place"), _place(day.place, day.address)),
        (ctx.t("exports.label.mode"), mode_text),
    ]
    if day.cancelled_at is not None:
        details.append((ctx.t("exports.label.status"), ctx.t("exports.delivery.cancelled")))
    title = ctx.t("exports.delivery.title")
    local = ctx.local(day.window_start)
    listing = Listing(
        stem=f"{ctx.t('exports.file.delivery')}-{local.date().isoformat()}-{local:%H%M}",
        title=title,
        program=program.name,
        details=details,
        sheet=title,
        running_title=f"{title} · {ctx.long_date(day.window_start)}",
        landscape=True,
        columns=[
            Col(ctx.t("exports.col.number"), 8, align="RIGHT"),
            Col(ctx.t("docs.col.recipient"), 50),
            Col(ctx.id_heading(), 24),
            Col(ctx.t("exports.col.family"), 36),
            Col(ctx.t("exports.col.sector"), 26),
            Col(ctx.t("exports.col.mode"), 28),
            Col(ctx.t("exports.col.status"), 44, in_sheet=False),
            Col(ctx.t("exports.col.status"), 0, in_pdf=False),
            Col(ctx.t("exports.col.reason"), 0, in_pdf=False),
            Col(ctx.t("exports.col.proxy_name"), 0, in_pdf=False),
            Col(ctx.t("exports.col.proxy_rut"), 0, in_pdf=False),
            Col(ctx.t("exports.col.responded_at"), 0, in_pdf=False),
            Col(ctx.t("exports.col.handed_at"), 0, in_pdf=False),
            Col(ctx.t("exports.col.received_signature"), 50, signature=True),
        ],
        rows=rows,
        notes=[ctx.t("exports.delivery.summary", total=len(pickups), **groups)],
    )
    return listing.render(fmt, ctx, font_dirs)
