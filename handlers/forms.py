"""Forms in chat: one question at a time, a summary to check, a signature, a receipt.

A programme's template names its forms and the command or menu button that opens each
(``/ficha`` opens the Ficha de Interés de Participación of the Ecomercado); invitations can
carry the action ``form:start:<key>``; ``/formularios`` lists those with a button.  What a form asks and how answers are read lives in
``domain/forms.py`` and its YAML; this module only holds the conversation.

Button actions name the response and the question they belong to
(``fm:<op>:<response id>:<question key>[:<arg>]``), so a press on an old message is
recognised and answered with the question that is current now.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

from sqlalchemy import select

from domain import forms, names
from domain.countries import Country
from domain.forms import AnswerError, Form, Question
from domain.program_templates import localized_text
from handlers.admin import action
from handlers.core import Router, Turn
from handlers.events import Button, EventKind, Outgoing
from locales import Msg, Raw, Text, When
from services import commitments
from storage import commitments as bodies
from storage import fichas, outbox, programs, responses
from storage.commitments import declaration_forms_of
from storage.models import (
    Body,
    FormDefinition,
    FormResponse,
    FormStatus,
    Organization,
    Person,
    Program,
    Representative,
)

FLOW = "form"
COSIGN_FLOW = "form_cosign"
# Someone who comes back after a pause may not remember where they were: we ask before
# taking their next words as an answer.
PAUSE = timedelta(minutes=30)

router = Router()


@dataclass
class Ctx:
    response: FormResponse
    form: Form

    @property
    def rid(self) -> int:
        return self.response.id

    @property
    def answers(self) -> dict[str, Any]:
        return self.response.answers or {}


# --------------------------------------------------------------------------- helpers


def _txt(turn: Turn, text: dict[str, str]) -> Raw:
    return Raw(localized_text(text, turn.locale))


def _title(turn: Turn, ctx: Ctx) -> Raw:
    return _txt(turn, ctx.form.title)


def _act(op: str, rid: int, *rest: object) -> str:
    return ":".join(["fm", op, str(rid), *map(str, rest)])


async def _load(turn: Turn, rid: Any) -> Ctx | None:
    if rid is None:
        return None
    response = await turn.session.get(FormResponse, int(rid))
    if response is None:
        return None
    known = turn.services.forms
    if response.form_id in known:
        return Ctx(response, known[response.form_id])
    definition = await turn.session.get(FormDefinition, response.form_id)
    if definition is None:
        return None
    return Ctx(response, responses.form_of(definition, known))


def _mine(turn: Turn, ctx: Ctx) -> bool:
    return ctx.response.person_id == turn.person.id and ctx.response.status == FormStatus.DRAFT


def _render(turn: Turn, label: Msg) -> str:
    return turn.services.catalogs.render(label, turn.locale, turn.timezone)


# --------------------------------------------------------------------------- starting


async def _programmes_of(turn: Turn) -> list[Program]:
    """The programmes a person belongs to: their own, the one they chose, those they hold a
    role in, and those of the organisations they represent."""
    ids = set(turn.standing.held) | {turn.person.program_id, turn.person.chosen_program_id}
    ids |= {o.program_id for o in await responses.organizations_of(turn.session,
                                                                    turn.person.id)}
    found = await programs.by_id(turn.session, ids)
    return [found[i] for i in sorted(found)]


# An installation with no programme yet: what Convoca offered before programmes kept their
# forms (the shipped files; a response then belongs to no programme, as it did).
NO_PROGRAMME: Any = SimpleNamespace(id=None, name="", forms=None, template=None, template_key="")


async def _every_programme(turn: Turn) -> list[Any]:
    return await programs.all_programs(turn.session) or [NO_PROGRAMME]


def _offering(among: list[Program], key: str) -> list[Program]:
    return [p for p in among if any(u.form == key for u in forms.program_form_uses(p))]


def _is_declaration(offering: list[Program], key: str) -> bool:
    """A body's members' declaration (one per person and body) in the programmes that
    offer it: the Ecomercado's, or the one another template's verifier names."""
    return any(key in declaration_forms_of(p) for p in offering)


async def _where_offered(turn: Turn, key: str) -> list[Program]:
    """The person's programmes that offer the form; for someone in none yet (a new
    organisation's representative), every programme that does."""
    mine = await _programmes_of(turn)
    if mine:
        return _offering(mine, key)
    return _offering(await _every_programme(turn), key)


@router.command("formularios", "forms")
async def menu(turn: Turn) -> None:
    """The forms a person's programmes offer with a button, one tap each."""
    if turn.person.consent_at is None:
        turn.say("input.start_first")
        return
    among = await _programmes_of(turn) or await _every_programme(turn)
    shown: dict[str, Any] = {}
    for program in among:
        for use in forms.program_form_uses(program):
            if use.button is not None and use.form not in shown:
                shown[use.form] = use.button
    if not shown:
        turn.say("templates.menu_none")
        return
    # WhatsApp shows up to ten as a list; nobody reads more on a phone.
    turn.say("templates.menu", buttons=[
        [Button(Msg("form.option", {"label": _txt(turn, label)}), f"form:start:{key}")]
        for key, label in list(shown.items())[:10]])


async def help_lines(turn: Turn) -> list[Msg]:
    """The commands of the person's forms, and the menu when any form has a button."""
    among = await _programmes_of(turn) or await _every_programme(turn)
    lines: list[Msg] = []
    seen: set[str] = set()
    buttons = False
    for program in among:
        for use in forms.program_form_uses(program):
            buttons = buttons or use.button is not None
            form = forms.program_form(program, use.form)
            if use.command and use.command not in seen and form is not None:
                seen.add(use.command)
                lines.append(Msg("templates.help_line", {
                    "command": Raw(use.command),
                    "label": _txt(turn, use.button or form.title)}))
    if buttons:
        lines.append(Msg("templates.help"))
    return lines


async def form_command(turn: Turn) -> None:
    """/<command> of a form a template names (``/ficha``): the person's programmes' first;
    for someone in no programme yet, any programme's."""
    name = turn.event.command or ""
    mine = await _programmes_of(turn)
    among = mine or await _every_programme(turn)
    keys = [u.form for p in among for u in forms.program_form_uses(p) if u.command == name]
    if not keys:
        turn.say("input.unknown_command", command="/" + name)
        return
    await open_form(turn, keys[0])


router.other_commands = form_command


@router.on_action("form")
async def form_action(turn: Turn) -> None:
    # form:start:<key>[:<organisation id>]: an organisation's form sent to its people
    # (the participation commitment) opens for that organisation.
    # form:start:<declaration form>:<body id>: a member's declaration, for that body.
    _, verb, key, org = ((turn.action or "") + ":::").split(":")[:4]
    offering = await _where_offered(turn, key) if verb == "start" else []
    if not offering:
        turn.say("input.button_stale")
        return
    ref = int(org) if org.isdigit() else None
    if _is_declaration(offering, key):
        await open_form(turn, key, body_id=ref)
        return
    await open_form(turn, key, organization_id=ref)


async def open_form(turn: Turn, key: str, organization_id: int | None = None, *,
                    body_id: int | None = None) -> None:
    """What /ficha does: continue a draft, show what was sent, or start. The form is the one
    the programme kept when it was made, never a file read now."""
    if turn.person.consent_at is None:
        turn.say("input.start_first")
        return
    body = None
    if body_id is not None:
        body = await turn.session.get(Body, body_id)
        if body is None or await bodies.membership(
                turn.session, body.id, turn.person.id) is None:
            await _stale(turn)
            return
    offering = await _where_offered(turn, key)
    form = forms.program_form(offering[0], key) if offering else None
    if form is None:
        await _stale(turn)
        return
    declaration = _is_declaration(offering, key)
    draft = await responses.draft_for(turn.session, turn.person.id, key)
    if draft is not None:
        ctx = await _load(turn, draft.id)
        assert ctx is not None
        _ask_resume(turn, ctx)
        return
    orgs = await responses.organizations_of(turn.session, turn.person.id)
    if organization_id is not None:
        # A button for an organisation that is not theirs (any more) is stale.
        orgs = [o for o in orgs if o.id == organization_id]
        if not orgs:
            await _stale(turn)
            return
    elif declaration:
        # One per person and body: the organisation is only the one it names.
        pass
    elif len(orgs) > 1:
        turn.say("form.choose_org", form=_txt(turn, form.title), buttons=[
            [Button(Msg("form.option", {"label": Raw(o.name)}), f"fm:org:{o.id}:{key}")]
            for o in orgs[:20]
        ])
        return
    org = orgs[0] if orgs else None
    if declaration:
        # Never a colleague's: the person's own, for the body the button carries.
        sent = await responses.submitted_by(
            turn.session, key, person_id=turn.person.id,
            answered={"body": body.kind} if body is not None else None)
    else:
        sent = await responses.submitted_for(turn.session, key, person_id=turn.person.id,
                                             organization_id=org.id if org else None)
    if sent is not None:
        ctx = await _load(turn, sent.id)
        assert ctx is not None
        await _show_sent(turn, ctx)
        return
    program_id = body.program_id if body is not None else await fichas.program_of(
        turn.session, turn.person, org.id if org else None, turn.standing.home())
    if program_id is None:
        if len(offering) > 1:
            _ask_program(turn, form, offering)
            return
        program_id = offering[0].id
    program = (await turn.session.get(Program, program_id) if program_id is not None
               else NO_PROGRAMME)
    form = forms.program_form(program, key) if program is not None else None
    if form is None:  # the programme it belongs to does not use this form
        await _stale(turn)
        return
    definition = await responses.ensure_definition(turn.session, form, turn.now)
    response = await responses.start_response(
        turn.session, definition, person_id=turn.person.id,
        organization_id=org.id if org else None, now=turn.now, program_id=program_id,
    )
    if body is not None and form.has("body"):
        # The body is the one they were asked to declare for: not asked again.
        response.answers = {**(response.answers or {}), "body": body.kind}
    turn.audit("form_started", "form_response", response.id, form=key)
    ctx = Ctx(response, form)
    lines: list[Any] = [Msg("form.intro", {"form": _title(turn, ctx)})]
    if form.intro:
        lines.append(_txt(turn, form.intro))
    if org is not None:
        lines.append(Msg("form.intro_org", {"organization": Raw(org.name)}))
    lines.append(Msg("form.intro_back"))
    turn.say("form.lines", lines=lines)
    await _advance(turn, ctx)


def _ask_program(turn: Turn, form: Form, offering: list[Program]) -> None:
    """Someone no code linked to any programme, where several programmes use the form:
    which programme it is for decides whose team receives it, so they say it."""
    turn.say("form.choose_program", form=_txt(turn, form.title), buttons=[
        [Button(Msg("form.option", {"label": Raw(p.name)}), f"fm:prg:{p.id}:{form.key}")]
        for p in offering[:20]
    ])


async def _chose_program(turn: Turn, program_id: int, key: str) -> None:
    program = await turn.session.get(Program, program_id)
    if (program is None or forms.program_form(program, key) is None
            or turn.person.consent_at is None):
        await _stale(turn)
        return
    if turn.person.program_id is None:
        # They belong to it from now on: their next form, and their clock, are its.
        turn.person.program_id = program.id
        turn.audit("program_joined", "program", program.id, via="form")
        await turn.place()
    await open_form(turn, key)


def _ask_resume(turn: Turn, ctx: Ctx) -> None:
    q = _current_question(ctx)
    n, total = ctx.form.progress(q.key, ctx.answers) if q else (0, 0)
    key = "form.resume" if q else "form.resume_summary"
    turn.say(key, form=_title(turn, ctx), n=n, total=total, buttons=[
        [Button(Msg("form.continue"), _act("go", ctx.rid))],
        [Button(Msg("form.restart"), _act("nw", ctx.rid))],
    ])
    turn.go(FLOW, "resume", rid=ctx.rid)


def _current_question(ctx: Ctx) -> Question | None:
    cur = ctx.response.current
    if ctx.form.has(cur):
        q = ctx.form.question(cur)  # type: ignore[arg-type]
        if ctx.form.applies(q, ctx.answers):
            return q
    return ctx.form.next_unanswered(ctx.answers)


# --------------------------------------------------------------------------- asking


async def _advance(turn: Turn, ctx: Ctx, *, editing: bool = False) -> None:
    """Ask the first question still unanswered, or show the summary when none is left."""
    q = ctx.form.next_unanswered(ctx.answers)
    if q is None:
        _show_summary(turn, ctx)
    else:
        await _go_to(turn, ctx, q, editing=editing)


async def _go_to(turn: Turn, ctx: Ctx, q: Question, *, editing: bool = False) -> None:
    ctx.response.current = q.key
    sel = _selected_from_answer(q, ctx.answers.get(q.key))
    turn.go(FLOW, "q", rid=ctx.rid, editing=editing, selq=q.key, sel=sel)
    turn.send(await _question_message(turn, ctx, q))


def _selected_from_answer(q: Question, value: Any) -> list[int]:
    if q.type != "multi_choice" or not isinstance(value, list):
        return []
    return [i for i, o in enumerate(q.options) if o.key in value]


def _selection(turn: Turn, q: Question, ctx: Ctx) -> list[int]:
    if turn.data("selq") == q.key:
        return list(turn.data("sel") or [])
    return _selected_from_answer(q, ctx.answers.get(q.key))


async def _prefill(turn: Turn, ctx: Ctx, q: Question) -> Any:
    source = q.prefill
    value: Any = None
    if source == "organization_name" and ctx.response.organization_id:
        org = await turn.session.get(Organization, ctx.response.organization_id)
        value = org.name if org else None
    elif source == "person_name":
        value = turn.person.name
    elif source == "person_phone":
        value = turn.person.phone
    elif source == "person_email":
        value = turn.person.email
    elif source == "representative_position" and ctx.response.organization_id:
        value = await turn.session.scalar(select(Representative.position).where(
            Representative.organization_id == ctx.response.organization_id,
            Representative.person_id == turn.person.id))
    return forms.validate_stored(q, value, today=turn.today(), country=await _country(turn, ctx))


async def _question_buttons(turn: Turn, ctx: Ctx, q: Question) -> list[list[Button]]:
    rows: list[list[Button]] = []
    answer = ctx.answers.get(q.key)
    answered = q.key in ctx.answers
    if q.type in ("choice", "multi_choice"):
        chosen = set(_selection(turn, q, ctx)) if q.type == "multi_choice" else {
            i for i, o in enumerate(q.options) if o.key == answer}
        op = "t" if q.type == "multi_choice" else "a"
        buttons = [
            Button(Msg("form.option_selected" if i in chosen else "form.option",
                       {"label": _txt(turn, o.label)}), _act(op, ctx.rid, q.key, i))
            for i, o in enumerate(q.options)
        ]
        rows += [buttons[i:i + q.columns] for i in range(0, len(buttons), q.columns)]
        if q.type == "multi_choice":
            rows.append([Button(Msg("form.done"), _act("d", ctx.rid, q.key))])
    elif q.type == "yes_no":
        rows.append([
            Button(Msg("form.option_selected" if answer is True else "form.option",
                       {"label": Msg("form.yes")}), _act("a", ctx.rid, q.key, "y")),
            Button(Msg("form.option_selected" if answer is False else "form.option",
                       {"label": Msg("form.no")}), _act("a", ctx.rid, q.key, "n")),
        ])
    elif answered:
        rows.append([Button(Msg("form.keep"), _act("k", ctx.rid, q.key))])
    else:
        known = await _prefill(turn, ctx, q)
        if known is not None:
            shown = forms.plain_value(q, known, turn.locale)
            rows.append([Button(Msg("form.use_known", {"value": Raw(shown)}),
                                _act("k", ctx.rid, q.key))])
    nav = []
    if turn.data("editing") or ctx.form.previous(q.key, ctx.answers) is not None:
        nav.append(Button(Msg("form.back"), _act("b", ctx.rid, q.key)))
    if not q.required:
        nav.append(Button(Msg("form.skip"), _act("s", ctx.rid, q.key)))
    if nav:
        rows.append(nav)
    return rows


async def _question_message(turn: Turn, ctx: Ctx, q: Question) -> Outgoing:
    n, total = ctx.form.progress(q.key, ctx.answers)
    lines: list[Any] = [Msg("form.progress", {"n": n, "total": total}), _txt(turn, q.prompt)]
    if q.help:
        lines.append(Msg("form.help", {"help": _txt(turn, q.help)}))
    if q.type == "multi_choice":
        lines.append(Msg("form.multi_hint"))
    if q.key in ctx.answers and q.type not in ("choice", "multi_choice", "yes_no"):
        value = forms.display(q, ctx.answers[q.key], turn.locale)
        lines.append(Msg("form.current", {"value": value}))
    buttons = await _question_buttons(turn, ctx, q)
    return Outgoing(text=Msg("form.lines", {"lines": lines}),
                    buttons=tuple(tuple(r) for r in buttons))


async def _save(turn: Turn, ctx: Ctx, q: Question, value: Any) -> None:
    responses.set_answer(ctx.response, q.key, value, turn.now)
    turn.audit("form_answer", "form_response", ctx.rid, question=q.key,
               skipped=value is None)
    await _advance(turn, ctx, editing=bool(turn.data("editing")))


# --------------------------------------------------------------------------- summary


def _summary_lines(turn: Turn, ctx: Ctx) -> list[Msg]:
    answers = ctx.answers
    return [
        Msg("form.summary_line", {
            "label": _txt(turn, q.label),
            "value": forms.display(q, answers.get(q.key), turn.locale),
        })
        for q in ctx.form.applicable(answers)
    ]


def _show_summary(turn: Turn, ctx: Ctx) -> None:
    ctx.response.current = None
    turn.go(FLOW, "summary", rid=ctx.rid, editing=False)
    turn.say("form.summary", form=_title(turn, ctx), lines=_summary_lines(turn, ctx), buttons=[
        [Button(Msg("form.confirm"), _act("ok", ctx.rid))],
        [Button(Msg("form.edit"), _act("ed", ctx.rid))],
    ])


def _show_edit_list(turn: Turn, ctx: Ctx) -> None:
    ctx.response.current = None
    turn.go(FLOW, "edit", rid=ctx.rid, editing=False)
    rows = [[Button(Msg("form.option", {"label": _txt(turn, q.label)}),
                    _act("eq", ctx.rid, q.key))]
            for q in ctx.form.applicable(ctx.answers)]
    rows.append([Button(Msg("form.to_summary"), _act("sm", ctx.rid))])
    turn.say("form.edit_pick", buttons=rows)


async def _declaration(turn: Turn, ctx: Ctx) -> Raw:
    """The declaration as answered, naming the programme the form is signed for (the
    person's own for a draft begun before responses knew their programme)."""
    program_id = ctx.response.program_id or turn.person.program_id
    program = await turn.session.get(Program, program_id) if program_id is not None else None
    return Raw(ctx.form.declaration_text(ctx.answers, turn.locale,
                                         program=program.name if program else ""))


async def _show_sign(turn: Turn, ctx: Ctx) -> None:
    decl = ctx.form.declaration
    assert decl is not None
    declaration = await _declaration(turn, ctx)
    turn.go(FLOW, "sign", rid=ctx.rid, editing=False)
    turn.say(
        "form.sign", declaration=declaration,
        name=Raw(str(ctx.answers.get(decl.signer, ""))),
        buttons=[[Button(Msg("form.to_summary"), _act("sm", ctx.rid))]],
    )


async def _submit(turn: Turn, ctx: Ctx, signed_name: str | None,
                  signed_rut: str | None = None) -> None:
    response = ctx.response
    if response.program_id is None:  # a draft begun before responses knew their programme
        response.program_id = await fichas.program_of(turn.session, turn.person,
                                                      response.organization_id,
                                                      turn.standing.home())
    await responses.submit(turn.session, response, ctx.form, person_id=turn.person.id,
                           signed_name=signed_name, now=turn.now, signed_rut=signed_rut)
    await commitments.on_submitted(turn.session, response, ctx.form, person_id=turn.person.id,
                                   now=turn.now)
    number = responses.receipt_number(ctx.form, response)
    turn.audit("form_submitted", "form_response", response.id, receipt=number,
               version=response.version, supersedes=response.supersedes_id)
    turn.go(None)
    turn.say("form.receipt", form=_title(turn, ctx), number=Raw(number), when=When(turn.now))
    await _offer_cosign(turn, ctx)
    await _tell_the_team(turn, ctx, number)


async def _tell_the_team(turn: Turn, ctx: Ctx, number: str) -> None:
    """Every ficha sent (a response to one of the programme's intake forms) reaches the
    programme's gestora, also (above all) one from an organisation the catastro does not
    have yet: she takes it in from the notice."""
    response = ctx.response
    if response.program_id is None or ctx.form.key not in await fichas.intake_forms(
            turn.session, response.program_id):
        return
    org = (await turn.session.get(Organization, response.organization_id)
           if response.organization_id else None)
    sender = fichas.sender_name(response, turn.person)
    params = {"organization": Raw(fichas.typed_name(response) or (org.name if org else "?")),
              "name": Raw(sender), "number": Raw(number), "when": When(turn.now)}
    # The Ficha de Interés keeps its words; another intake form is named by its title, in
    # each reader's language (the notice is worded when it is sent to her).
    prefix = "fichas" if ctx.form.key == fichas.FICHA else "anyform"
    if prefix == "anyform":
        params["form"] = Text(dict(ctx.form.title))
    if org is None:
        notice = Outgoing(text=Msg(f"{prefix}.notice_unlinked", params), buttons=((
            Button(Msg("fichas.btn_review"), action("catastro", "fi", response.id)),),))
    else:
        notice = Outgoing(text=Msg(f"{prefix}.notice", {**params, "catastro": Raw(org.name)}))
    for person_id in await fichas.team(turn.session, response.program_id):
        if person_id == turn.person.id:
            continue
        await outbox.enqueue_for_person(
            turn.session, person_id, notice.to_json(),
            key=f"ficha_sent:{response.id}:{person_id}", kind="form_notice", now=turn.now)


async def _offer_cosign(turn: Turn, ctx: Ctx) -> None:
    """A message of its own, so the representative can forward it to whoever co-signs."""
    program_id = ctx.response.program_id  # the form's programme, the code's too
    if program_id is None or ctx.form.declaration is None or not ctx.form.declaration.cosign:
        return
    code = await responses.cosign_code(turn.session, ctx.response, program_id, turn.now)
    link = turn.caps.link(code)
    if link:
        turn.say("form.cosign_link", link=Raw(link))
    else:  # a channel without links that open a chat: the code, and how to use it
        turn.say("form.cosign_code", code=Raw(code))


async def _show_sent(turn: Turn, ctx: Ctx) -> None:
    sigs = await responses.signatures(turn.session, ctx.rid)
    submitted_at = ctx.response.submitted_at or ctx.response.updated_at
    # Nothing to type here: "Corregir" carries the response, so no flow holds the person.
    turn.go(None)
    turn.say(
        "form.sent_view", form=_title(turn, ctx),
        number=Raw(responses.receipt_number(ctx.form, ctx.response)), when=When(submitted_at),
        lines=_summary_lines(turn, ctx),
        signatures=[Msg("form.signature_line", {"name": Raw(s.signed_name),
                                                "when": When(s.signed_at)}) for s in sigs],
        buttons=[[Button(Msg("form.amend"), _act("fx", ctx.rid))]],
    )
    await _offer_cosign(turn, ctx)


# --------------------------------------------------------------------------- buttons


QUESTION_OPS = {"a", "t", "d", "s", "k", "b"}


@router.on_action("fm")
async def on_button(turn: Turn) -> None:
    parts = (turn.action or "").split(":")
    op = parts[1] if len(parts) > 1 else ""
    if op == "org" and len(parts) == 4 and parts[2].isdigit():
        await _chose_org(turn, int(parts[2]), parts[3])
        return
    if op == "prg" and len(parts) == 4 and parts[2].isdigit():
        await _chose_program(turn, int(parts[2]), parts[3])
        return
    if len(parts) < 3 or not parts[2].isdigit():
        turn.say("input.button_stale")
        return
    ctx = await _load(turn, parts[2])
    qkey = parts[3] if len(parts) > 3 else None
    arg = parts[4] if len(parts) > 4 else None
    if ctx is None:
        await _stale(turn)
        return
    if op in QUESTION_OPS:
        if not _mine(turn, ctx) or ctx.response.current != qkey or not ctx.form.has(qkey):
            await _stale(turn)
            return
        await _question_op(turn, ctx, op, ctx.form.question(qkey), arg)  # type: ignore[arg-type]
    elif op == "fx":
        await _amend(turn, ctx)
    elif op == "cx":
        if turn.convo.flow != COSIGN_FLOW:
            await _stale(turn)
            return
        turn.go(None)
        turn.say("form.cosign_later")
    else:
        await _screen_op(turn, ctx, op, qkey)


async def _chose_org(turn: Turn, org_id: int, key: str) -> None:
    orgs = await responses.organizations_of(turn.session, turn.person.id)
    if not await _where_offered(turn, key) or org_id not in {o.id for o in orgs}:
        await _stale(turn)
        return
    await open_form(turn, key, organization_id=org_id)


# The screen a button belongs to must still be on show: a summary's "Confirmar" pressed
# after the person went on editing would confirm something they have not seen.
SCREEN_OPS = {"ok": {"summary"}, "ed": {"summary", "q"}, "eq": {"edit"},
              "sm": {"edit", "sign", "sign_rut"},
              "go": {"resume", "summary", "q", "edit", "sign", "sign_rut"}, "nw": {"resume"}}


async def _screen_op(turn: Turn, ctx: Ctx, op: str, qkey: str | None) -> None:
    steps = SCREEN_OPS.get(op)
    on_show = (turn.convo.flow == FLOW and turn.data("rid") == ctx.rid
               and turn.convo.step in (steps or ()))
    if not _mine(turn, ctx) or not on_show:
        await _stale(turn)
        return
    if op == "ok":
        if ctx.form.next_unanswered(ctx.answers) is not None:
            await _advance(turn, ctx)
        elif ctx.form.declaration is None:
            await _submit(turn, ctx, None)
        else:
            await _show_sign(turn, ctx)
    elif op == "ed":
        _show_edit_list(turn, ctx)
    elif op == "eq":
        if not ctx.form.has(qkey) or not ctx.form.applies(ctx.form.question(qkey), ctx.answers):  # type: ignore[arg-type]
            await _stale(turn)
            return
        await _go_to(turn, ctx, ctx.form.question(qkey), editing=True)  # type: ignore[arg-type]
    elif op == "sm":
        _show_summary(turn, ctx)
    elif op == "go":
        q = _current_question(ctx)
        if q is None:
            _show_summary(turn, ctx)
        else:
            await _go_to(turn, ctx, q)
    elif op == "nw":
        previous = (await turn.session.get(FormResponse, ctx.response.supersedes_id)
                    if ctx.response.supersedes_id else None)
        kept = ({k: v for k, v in previous.answers.items() if ctx.form.has(k)}
                if previous else {})
        ctx.response.answers = kept
        ctx.response.current = None
        ctx.response.updated_at = turn.now
        turn.audit("form_restarted", "form_response", ctx.rid)
        await _advance(turn, ctx)


async def _question_op(turn: Turn, ctx: Ctx, op: str, q: Question, arg: str | None) -> None:
    if op == "b":
        if turn.data("editing") and turn.convo.flow == FLOW:
            _show_edit_list(turn, ctx)
            return
        prev = ctx.form.previous(q.key, ctx.answers)
        await _go_to(turn, ctx, prev or q)
    elif op == "s":
        if q.required:
            await _stale(turn)
            return
        await _save(turn, ctx, q, None)
    elif op == "k":
        value = ctx.answers[q.key] if q.key in ctx.answers else await _prefill(turn, ctx, q)
        if value is None and q.required:
            await _stale(turn)
            return
        await _save(turn, ctx, q, value)
    elif op == "a":
        if q.type == "yes_no" and arg in ("y", "n"):
            await _save(turn, ctx, q, arg == "y")
        elif q.type == "choice" and arg is not None and arg.isdigit() \
                and int(arg) < len(q.options):
            await _save(turn, ctx, q, q.options[int(arg)].key)
        else:
            await _stale(turn)
    elif op == "t":
        if q.type != "multi_choice" or arg is None or not arg.isdigit() \
                or int(arg) >= len(q.options):
            await _stale(turn)
            return
        await _toggle(turn, ctx, q, int(arg))
    elif op == "d":
        await _multi_done(turn, ctx, q)


async def _toggle(turn: Turn, ctx: Ctx, q: Question, index: int) -> None:
    sel = _selection(turn, q, ctx)
    if index in sel:
        sel.remove(index)
    elif q.max_selected and len(sel) >= q.max_selected:
        turn.say("form.error.max_selected", count=q.max_selected)
        return
    else:
        sel.append(index)
    turn.go(FLOW, "q", rid=ctx.rid, selq=q.key, sel=sorted(sel))
    out = await _question_message(turn, ctx, q)
    # The ticks change on the message that was tapped, instead of a new message per tap.
    turn.redraw(out)


async def _multi_done(turn: Turn, ctx: Ctx, q: Question) -> None:
    sel = _selection(turn, q, ctx)
    least = q.min_selected or (1 if q.required else 0)
    if len(sel) < least:
        turn.say("form.error.min_selected", count=least)
        turn.send(await _question_message(turn, ctx, q))
        return
    chosen = [o.key for i, o in enumerate(q.options) if i in sel]
    await _save(turn, ctx, q, chosen or None)


async def _stale(turn: Turn) -> None:
    """An old or misplaced button: say so, and show again what the person is doing now."""
    turn.say("form.stale")
    await _reshow(turn)


async def _reshow(turn: Turn) -> None:
    flow, step = turn.convo.flow, turn.convo.step
    if flow == COSIGN_FLOW:
        ctx = await _load(turn, turn.data("rid"))
        if ctx is not None:
            await _cosign_prompt(turn, ctx)
        return
    if flow != FLOW:
        return
    ctx = await _load(turn, turn.data("rid"))
    if ctx is None:
        turn.go(None)
        return
    if not _mine(turn, ctx):
        turn.go(None)
        return
    if step == "summary":
        _show_summary(turn, ctx)
    elif step == "edit":
        _show_edit_list(turn, ctx)
    elif step == "sign":
        await _show_sign(turn, ctx)
    elif step == "sign_rut":
        await _ask_signer_rut(turn, ctx, str(turn.data("name") or ""))
    elif step == "resume":
        _ask_resume(turn, ctx)
    else:
        q = _current_question(ctx)
        if q is None:
            _show_summary(turn, ctx)
        elif q.key == ctx.response.current:
            turn.send(await _question_message(turn, ctx, q))
        else:
            await _go_to(turn, ctx, q, editing=bool(turn.data("editing")))


# --------------------------------------------------------------------------- typing


@router.flow(FLOW)
async def form_input(turn: Turn) -> None:
    ev = turn.event
    ctx = await _load(turn, turn.data("rid"))
    step = turn.convo.step
    if ctx is None or not _mine(turn, ctx):
        turn.go(None)
        turn.say("input.not_understood")
        return
    if step == "q" and turn.now - turn.convo.updated_at >= PAUSE:
        _ask_resume(turn, ctx)
        return
    if ev.kind == EventKind.CONTACT and step == "q":
        q = _current_question(ctx)
        if q is not None and q.type == "phone" and ev.contact_is_own:
            await _typed_answer(turn, ctx, ev.contact_phone or "")
            return
    if ev.kind != EventKind.TEXT or not (ev.text or "").strip():
        turn.say("form.unsupported")
        await _reshow(turn)
        return
    if step == "q":
        await _typed_answer(turn, ctx, ev.text or "")
    elif step == "sign":
        await _typed_signature(turn, ctx, ev.text or "")
    elif step == "sign_rut":
        await _typed_signer_rut(turn, ctx, ev.text or "")
    else:
        turn.say("form.use_buttons")
        await _reshow(turn)


async def _typed_answer(turn: Turn, ctx: Ctx, text: str) -> None:
    q = _current_question(ctx)
    if q is None:
        _show_summary(turn, ctx)
        return
    if q.key != ctx.response.current:
        await _go_to(turn, ctx, q)
        return
    # Typing what a button says is the same as tapping it (some people type "Sí").
    wanted = names.name_key(text)
    for row in await _question_buttons(turn, ctx, q):
        for b in row:
            if wanted and names.name_key(_render(turn, b.label)) == wanted:
                turn.action = b.action
                await on_button(turn)
                return
    if q.type in ("choice", "yes_no", "multi_choice"):
        turn.say("form.error.use_buttons" if q.type != "multi_choice"
                 else "form.error.multi_use_buttons")
        turn.send(await _question_message(turn, ctx, q))
        return
    try:
        value = forms.parse_answer(q, text, today=turn.today(),
                                   country=await _country(turn, ctx))
    except AnswerError as exc:
        turn.send(Outgoing(text=exc.message))
        turn.go(FLOW, "q", rid=ctx.rid)
        turn.send(await _question_message(turn, ctx, q))
        return
    if q.type == "text" and q.format != "plain":
        # Their own name typed without accents is still their name, spelt as registered.
        value = names.person_name(value, [turn.person.name])
    await _save(turn, ctx, q, value)


async def _typed_signature(turn: Turn, ctx: Ctx, text: str) -> None:
    decl = ctx.form.declaration
    assert decl is not None
    expected = str(ctx.answers.get(decl.signer, ""))
    if names.name_key(text) != names.name_key(expected) or not names.name_key(text):
        turn.say("form.sign_mismatch", name=Raw(expected),
                 buttons=[[Button(Msg("form.to_summary"), _act("sm", ctx.rid))]])
        return
    # The signature reads as the name in the declaration, not as typed in a hurry.
    name = names.person_name(text, [turn.person.name, expected])
    known = ctx.form.signer_rut(ctx.answers)
    if known is not None:  # the form asked it already: no need to type it twice
        _keep_rut(turn, known)
        await _submit(turn, ctx, name, known)
        return
    await _ask_signer_rut(turn, ctx, name)


async def _country(turn: Turn, ctx: Ctx) -> Country:
    """The country of the form's programme (the person's own, for a form sent for none):
    whose identity number and phone numbers its answers are."""
    if ctx.response.program_id is None:
        return turn.country
    return await programs.country_of(turn.session, ctx.response.program_id)


async def _ask_signer_rut(turn: Turn, ctx: Ctx, name: str) -> None:
    """A signature on a verificador carries the signer's identity number (a RUT in Chile),
    asked right after the name."""
    turn.go(FLOW, "sign_rut", rid=ctx.rid, name=name)
    turn.say((await _country(turn, ctx)).national_id.sign_ask, name=Raw(name),
             buttons=[[Button(Msg("form.to_summary"), _act("sm", ctx.rid))]])


async def _read_rut(turn: Turn, ctx: Ctx, text: str) -> str | None:
    """The identity number as the form's questions read it (formatted), or None after
    saying kindly how to write it."""
    country = await _country(turn, ctx)
    try:
        return forms.parse_rut(text, country)["formatted"]
    except AnswerError:
        turn.say(country.national_id.sign_wrong)
        return None


async def _typed_signer_rut(turn: Turn, ctx: Ctx, text: str) -> None:
    name = str(turn.data("name") or "")
    if not name:  # a step saved before the name was kept: sign again from the start
        await _show_sign(turn, ctx)
        return
    rut = await _read_rut(turn, ctx, text)
    if rut is None:
        return
    _keep_rut(turn, rut)
    await _submit(turn, ctx, name, rut)


def _keep_rut(turn: Turn, rut: str) -> None:
    # Their own RUT, given to sign: lists and actas printed later carry it.
    if not turn.person.rut:
        turn.person.rut = rut


# --------------------------------------------------------------------------- corrections


async def _amend(turn: Turn, ctx: Ctx) -> None:
    """'Corregir': a new version that starts from the one sent; the sent one stays valid
    until the correction is signed, and is kept afterwards as superseded."""
    old = ctx.response
    allowed = old.person_id == turn.person.id or (
        old.organization_id is not None and old.organization_id in
        {o.id for o in await responses.organizations_of(turn.session, turn.person.id)})
    if old.status != FormStatus.SUBMITTED or not allowed:
        await _stale(turn)
        return
    draft = await responses.draft_for(turn.session, turn.person.id, ctx.form.key)
    if draft is not None:
        again = await _load(turn, draft.id)
        assert again is not None
        _ask_resume(turn, again)
        return
    # The programme's copy of the form; the version first answered where it keeps none.
    program = await turn.session.get(Program, old.program_id) if old.program_id else None
    current = (forms.program_form(program, ctx.form.key) if program is not None else None)
    definition = await responses.ensure_definition(turn.session, current or ctx.form, turn.now)
    response = await responses.start_response(turn.session, definition, person_id=turn.person.id,
                                              organization_id=old.organization_id, now=turn.now,
                                              supersedes=old)
    turn.audit("form_amend_started", "form_response", response.id, supersedes=old.id,
               version=response.version)
    new = Ctx(response, responses.form_of(definition))
    turn.say("form.amend_started", form=_title(turn, new))
    await _advance(turn, new)


# --------------------------------------------------------------------------- co-signing


async def begin_cosign(turn: Turn, response_id: int) -> None:
    """A second representative opened the co-signature link (after /start and consent)."""
    response = await turn.session.get(FormResponse, response_id)
    current = await responses.current_version(turn.session, response) if response else None
    ctx = await _load(turn, current.id) if current else None
    if ctx is None or ctx.form.declaration is None or not ctx.form.declaration.cosign:
        turn.go(None)
        turn.say("form.cosign_gone")
        return
    if await responses.has_signed(turn.session, ctx.rid, turn.person.id):
        turn.go(None)
        turn.say("form.cosign_already", form=_title(turn, ctx))
        return
    turn.audit("form_cosign_opened", "form_response", ctx.rid)
    await _cosign_prompt(turn, ctx)


async def _cosign_prompt(turn: Turn, ctx: Ctx) -> None:
    declaration = await _declaration(turn, ctx)
    turn.go(COSIGN_FLOW, "sign", rid=ctx.rid)
    turn.say(
        "form.cosign_intro", form=_title(turn, ctx), lines=_summary_lines(turn, ctx),
        declaration=declaration,
        buttons=[[Button(Msg("form.cosign_not_now"), _act("cx", ctx.rid))]],
    )


@router.flow(COSIGN_FLOW)
async def cosign_input(turn: Turn) -> None:
    ev = turn.event
    ctx = await _load(turn, turn.data("rid"))
    if ctx is None or ctx.response.status != FormStatus.SUBMITTED or ctx.form.declaration is None:
        turn.go(None)
        turn.say("form.cosign_gone")
        return
    if ev.kind != EventKind.TEXT or not (ev.text or "").strip():
        turn.say("form.unsupported")
        await _cosign_prompt(turn, ctx)
        return
    not_now = ((Button(Msg("form.cosign_not_now"), _act("cx", ctx.rid)),),)
    if turn.convo.step != "rut":
        signer = ctx.form.question(ctx.form.declaration.signer)
        try:
            name = names.person_name(forms.parse_answer(signer, ev.text or "",
                                                        today=turn.today()),
                                     [turn.person.name])
        except AnswerError as exc:
            turn.send(Outgoing(text=exc.message, buttons=not_now))
            return
        # Co-signers give their RUT too: every signature on a verificador carries one.
        turn.go(COSIGN_FLOW, "rut", rid=ctx.rid, name=name)
        turn.say((await _country(turn, ctx)).national_id.sign_ask, name=Raw(name),
                 buttons=[list(not_now[0])])
        return
    name = str(turn.data("name") or "")
    rut = await _read_rut(turn, ctx, ev.text or "")
    if rut is None:
        return
    if await responses.has_signed(turn.session, ctx.rid, turn.person.id):
        turn.go(None)
        turn.say("form.cosign_already", form=_title(turn, ctx))
        return
    _keep_rut(turn, rut)
    signature = await responses.sign(turn.session, ctx.response, person_id=turn.person.id,
                                     signed_name=name, now=turn.now, signed_rut=rut)
    turn.audit("form_cosigned", "form_response", ctx.rid, signature=signature.id)
    turn.go(None)
    turn.say("form.cosign_done", form=_title(turn, ctx), when=When(turn.now))
    owner = await turn.session.get(Person, ctx.response.person_id) \
        if ctx.response.person_id else None
    if owner is not None and owner.id != turn.person.id:
        title = localized_text(ctx.form.title, owner.locale or turn.services.default_locale)
        notice = Outgoing(text=Msg("form.cosigned_notice", {
            "name": Raw(name), "form": Raw(title), "when": When(turn.now)}))
        await outbox.enqueue_for_person(
            turn.session, ctx.response.person_id, notice.to_json(),
            key=f"form_cosigned:{signature.id}", kind="form_notice", now=turn.now,
        )
