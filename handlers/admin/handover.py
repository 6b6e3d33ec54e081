"""Panel section "closing": the programme's close. The hand-over of its goods to a formal
community organisation (acta de traspaso del dominio de bienes: the receiving
organisation, the session, each good with quantity and value; its rules of use are the
agreed text ``reglamento_uso``, kept in handlers.admin.texts) and the evaluation session's
record (documento de evaluación del proceso: achievements, difficulties, lessons and
recommendations, an acta of storage.minutes with its own sections).

Actions, after ``adm:closing:``: (none) the menu · ``h`` the hand-over · ``hn`` a new one ·
``ho:<page>`` pick the organisation · ``hs:<org>`` chosen (``hy:<org>`` chosen although
it has no RUT) · ``hm:<meeting|0>`` the session · ``hg`` type goods · ``hd`` done typing ·
``hr`` / ``hx:<good>`` take a good off · ``ha`` / ``hi`` send the acta / inventory ·
``e`` evaluation sessions · ``em:<meeting>`` record one · ``en`` next part · ``ec`` clear
this part · ``ep:<meeting>`` send the document · ``x`` stop. Typed goods and evaluation
lines arrive in the flow ``adm_closing``."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from documents import verificadores
from documents.base import Ctx, ExportFile
from documents.registry import Request
from domain import goods as goods_rules
from domain.goods import GoodProblem
from domain.program_templates import program_template_or_none
from handlers.admin import (
    ADMIN,
    RECORDS,
    action,
    back_to_panel,
    guard,
    int_at,
    pager,
    program_or_say,
    program_today,
    run_in_program,
    section,
    typed_done,
)
from handlers.admin import texts as agreed_texts
from handlers.core import Router, Turn
from handlers.events import Attachment, Button, EventKind, Outgoing
from locales import Day, Msg, Raw
from storage import admin_meetings, agreed, handover, meetings, minutes
from storage.models import Handover, Meeting, MinutesSection, Organization, Program

KEY = "closing"
FLOW = "adm_closing"
PAGE = 8
GOODS_SHOWN = 25
HANDOVER_KIND = "traspaso"
EVALUATION_KIND = "evaluacion"
PARTS = (MinutesSection.ACHIEVEMENT, MinutesSection.DIFFICULTY, MinutesSection.LESSON,
         MinutesSection.RECOMMENDATION)
_BULLETS = "-•*·–"
# Sessions a record may be of: those held, and those of the coming weeks (an acta is
# often drafted before the session that signs it).
AHEAD = timedelta(days=31)

router = Router()


def act(*parts: object) -> str:
    return action(KEY, *parts)


def _rows(rows: list[list[Button]]) -> tuple[tuple[Button, ...], ...]:
    return tuple(tuple(r) for r in rows)


def _menu_button() -> Button:
    return Button(Msg("adm_closing.btn_menu"), act())


@section(KEY, "adm_closing.section", roles=ADMIN, order=66, group=RECORDS)
async def open_closing(turn: Turn, parts: list[str]) -> None:
    await run_in_program(turn, parts, _VERBS, what=KEY, no_program="adm_closing.no_program")


async def _menu(turn: Turn, program: Program, args: list[str]) -> None:
    turn.go(None)
    turn.say("adm_closing.menu", buttons=[
        [Button(Msg("adm_closing.btn_handover"), act("h"))],
        [Button(Msg("adm_closing.btn_evaluation"), act("e"))],
        [back_to_panel()],
    ])


async def _stop(turn: Turn, program: Program, args: list[str]) -> None:
    turn.go(None)
    turn.say("adm_closing.stopped", buttons=[[_menu_button()]])


# --- the hand-over ---------------------------------------------------------------------------


async def _current(turn: Turn, program: Program) -> Handover | None:
    rows = await handover.of_program(turn.session, program.id)
    return rows[-1] if rows else None


async def _handover(turn: Turn, program: Program, args: list[str]) -> None:
    turn.go(None)
    h = await _current(turn, program)
    if h is None:
        turn.say("adm_closing.handover_intro", buttons=[
            [Button(Msg("adm_closing.btn_start"), act("hn"))], [_menu_button()]])
        return
    await show_handover(turn, program, h)


async def _new(turn: Turn, program: Program, args: list[str]) -> None:
    if await _current(turn, program) is None:
        await handover.create(turn.session, program.id, now=turn.now,
                              by_person_id=turn.person.id)
    await _organizations(turn, program, ["0"])


async def _organizations(turn: Turn, program: Program, args: list[str]) -> None:
    orgs = await handover.receivers(turn.session, program.id)
    if not orgs:
        turn.say("adm_closing.no_organizations", buttons=[[_menu_button()]])
        return
    page = int_at(args, 0) or 0
    pages = max((len(orgs) + PAGE - 1) // PAGE, 1)
    page = min(page, pages - 1)
    shown = orgs[page * PAGE:(page + 1) * PAGE]
    buttons = [[Button(Msg("adm_closing.org_formal" if o.rut else "adm_closing.org_informal",
                           {"name": Raw(o.name[:40])}), act("hs", o.id))] for o in shown]
    buttons.append([Button(Msg("adm_closing.btn_back"), act("h"))])
    out = Outgoing(text=Msg("adm_closing.ask_organization"), buttons=_rows(buttons),
                   pager=pager(page, pages, lambda p: act("ho", p, "e")))
    turn.redraw(out) if len(args) > 1 or page else turn.send(out)


async def _organization(turn: Turn, program: Program, org_id: int | None
                        ) -> Organization | None:
    org = await turn.session.get(Organization, org_id) if org_id else None
    if org is None or org.program_id != program.id:
        turn.say("input.button_stale")
        return None
    return org


async def _org_chosen(turn: Turn, program: Program, args: list[str], *, sure: bool = False
                      ) -> None:
    h = await _current(turn, program)
    if h is None:
        turn.say("input.button_stale")
        return
    org = await _organization(turn, program, int_at(args, 0))
    if org is None:
        return
    if not org.rut and not sure:
        # The guide asks for a formal, active organisation; the gestora may still know
        # better (a RUT not yet in the catastro), so she is told, not stopped.
        turn.say("adm_closing.org_no_rut", name=Raw(org.name), buttons=[
            [Button(Msg("adm_closing.btn_keep_org", {"name": Raw(org.name[:30])}),
                    act("hy", org.id))],
            [Button(Msg("adm_closing.btn_other_org"), act("ho", 0))],
        ])
        return
    h.organization_id = org.id
    turn.audit("handover_organization", "handover", h.id, organization=org.id)
    await turn.session.flush()
    await _ask_meeting(turn, program, h)


async def _org_sure(turn: Turn, program: Program, args: list[str]) -> None:
    await _org_chosen(turn, program, args, sure=True)


def _meeting_label(program: Program, m: Meeting) -> Msg:
    return agreed_texts.meeting_label(program, m)


async def _offered_sessions(turn: Turn, program: Program) -> list[Meeting]:
    """The programme's traspaso sessions, not cancelled, newest first."""
    return await meetings.of_program(turn.session, program.id, until=turn.now + AHEAD,
                                     kinds=(HANDOVER_KIND,), newest_first=True, limit=6)


async def _ask_meeting(turn: Turn, program: Program, h: Handover) -> None:
    offered = await _offered_sessions(turn, program)
    buttons = [[Button(_meeting_label(program, m), act("hm", m.id))] for m in offered]
    buttons.append([Button(Msg("adm_closing.btn_no_session"), act("hm", 0))])
    turn.say("adm_closing.ask_session" if offered else "adm_closing.ask_session_none",
             buttons=buttons)


async def _meeting_chosen(turn: Turn, program: Program, args: list[str]) -> None:
    h = await _current(turn, program)
    meeting_id = int_at(args, 0)
    if h is None or meeting_id is None:
        turn.say("input.button_stale")
        return
    if meeting_id:
        # Only a session the list offered: a stale or forged button may name any meeting.
        m = next((x for x in await _offered_sessions(turn, program) if x.id == meeting_id),
                 None)
        if m is None:
            turn.say("input.button_stale")
            return
        h.meeting_id = m.id
        h.handed_on = m.starts_at.astimezone(ZoneInfo(program.timezone)).date()
    else:
        h.meeting_id = None
        h.handed_on = h.handed_on or program_today(turn, program)
    await turn.session.flush()
    if await handover.goods(turn.session, h.id):
        await show_handover(turn, program, h)
        return
    await _ask_goods(turn, program, [])


async def _ask_goods(turn: Turn, program: Program, args: list[str]) -> None:
    if await _current(turn, program) is None:
        turn.say("input.button_stale")
        return
    turn.go(None)
    turn.go(FLOW, "goods")
    turn.say("adm_closing.ask_goods", buttons=[[Button(Msg("adm_closing.btn_done"),
                                                       act("hd"))]])


def _goods_lines(rows: list, program: Program) -> list[Msg]:
    lines = [Msg("adm_closing.good_line", {
        "n": i, "description": Raw(g.description), "quantity": g.quantity,
        "value": Msg("adm_closing.pesos", {"amount": g.unit_value or 0}),
        "total": Msg("adm_closing.pesos", {"amount": g.quantity * (g.unit_value or 0)})})
        for i, g in enumerate(rows[:GOODS_SHOWN], start=1)]
    if len(rows) > GOODS_SHOWN:
        lines.append(Msg("adm_closing.goods_more", {"count": len(rows) - GOODS_SHOWN}))
    return lines


async def show_handover(turn: Turn, program: Program, h: Handover) -> None:
    turn.go(None)
    org = await turn.session.get(Organization, h.organization_id) if h.organization_id \
        else None
    meeting = await turn.session.get(Meeting, h.meeting_id) if h.meeting_id else None
    rows = await handover.goods(turn.session, h.id)
    rules = await agreed.current(turn.session, program.id, handover.REGLAMENTO_USO)
    lines: list[Msg | Raw] = [
        Msg("adm_closing.line_org_formal" if org.rut else "adm_closing.line_org_informal",
            {"name": Raw(org.name), "rut": Raw(org.rut or "")}) if org
        else Msg("adm_closing.line_org_none"),
        Msg("adm_closing.line_session", {"meeting": _meeting_label(program, meeting)})
        if meeting else Msg("adm_closing.line_no_session"),
    ]
    if h.handed_on:
        lines.append(Msg("adm_closing.line_date", {"date": Day(h.handed_on)}))
    lines.append(Msg("adm_closing.line_rules", {"version": rules.version, "date": Day(
        rules.recorded_at.astimezone(ZoneInfo(program.timezone)).date())}) if rules
        else Msg("adm_closing.line_rules_missing"))
    if rows:
        lines += [Raw(""), Msg("adm_closing.goods_head", {"count": len(rows)})]
        lines += _goods_lines(rows, program)
        lines.append(Msg("adm_closing.goods_total", {
            "total": Msg("adm_closing.pesos", {"amount": handover.total(rows)})}))
    else:
        lines.append(Msg("adm_closing.goods_none"))
    buttons = [[Button(Msg("adm_closing.btn_add_goods"), act("hg"))]]
    if rows:
        buttons.append([Button(Msg("adm_closing.btn_remove_good"), act("hr"))])
    buttons.append([Button(Msg("adm_closing.btn_change_org"), act("ho", 0)),
                    Button(Msg("adm_closing.btn_change_session"), act("hc"))])
    rules_entry = await _rules_entry(turn, program)
    if rules_entry is not None:
        buttons.append([Button(Msg("adm_closing.btn_rules"),
                               agreed_texts.entry_action(rules_entry))])
    if rows:
        buttons.append([Button(Msg("adm_closing.btn_acta"), act("ha")),
                        Button(Msg("adm_closing.btn_inventory"), act("hi"))])
    buttons.append([_menu_button()])
    turn.send(Outgoing(text=Msg("adm_closing.handover_card", {"lines": lines}),
                       buttons=_rows(buttons)))


async def _rules_entry(turn: Turn, program: Program) -> agreed_texts.Entry | None:
    for e in await agreed_texts.entries(turn, program):
        if e.verifier.key == handover.REGLAMENTO_USO:
            return e
    return None


async def _change_session(turn: Turn, program: Program, args: list[str]) -> None:
    h = await _current(turn, program)
    if h is None:
        turn.say("input.button_stale")
        return
    await _ask_meeting(turn, program, h)


async def _done_goods(turn: Turn, program: Program, args: list[str]) -> None:
    h = await _current(turn, program)
    if h is None:
        turn.say("input.button_stale")
        return
    await show_handover(turn, program, h)


async def _remove_pick(turn: Turn, program: Program, args: list[str]) -> None:
    h = await _current(turn, program)
    if h is None:
        turn.say("input.button_stale")
        return
    rows = await handover.goods(turn.session, h.id)
    buttons = [[Button(Msg("adm_closing.btn_good", {"n": i, "description": Raw(
        g.description[:36])}), act("hx", g.id))] for i, g in enumerate(rows, start=1)][:30]
    buttons.append([Button(Msg("adm_closing.btn_back"), act("h"))])
    turn.say("adm_closing.ask_remove", buttons=buttons)


async def _remove(turn: Turn, program: Program, args: list[str]) -> None:
    h = await _current(turn, program)
    good_id = int_at(args, 0)
    if h is None or good_id is None or not await handover.remove_good(turn.session, h, good_id):
        turn.say("input.button_stale")
        return
    turn.audit("handover_good_removed", "handover", h.id, good=good_id)
    turn.say("adm_closing.removed")
    await show_handover(turn, program, h)


async def _goods_typed(turn: Turn, program: Program, text: str) -> None:
    h = await _current(turn, program)
    if h is None:
        turn.go(None)
        turn.say("input.button_stale")
        return
    step = turn.convo.step
    if step in ("quantity", "value"):
        await _step_by_step(turn, program, h, text)
        return
    lines = [line.strip() for line in text.split("\n") if line.strip()]
    if len(lines) == 1 and not goods_rules.is_whole_line(lines[0]):
        try:
            description = goods_rules.parse_description(lines[0])
        except GoodProblem as problem:
            turn.say(f"closing.good_problem_{problem.why}", buttons=_goods_buttons())
            return
        turn.go(FLOW, "quantity", description=description)
        turn.say("adm_closing.ask_quantity", description=Raw(description),
                 buttons=_goods_buttons())
        return
    added, problems = [], []
    for n, line in enumerate(lines, start=1):
        try:
            good = goods_rules.parse_line(line)
        except GoodProblem as problem:
            problems.append(Msg("adm_closing.bad_line", {
                "n": n, "line": Raw(line[:60]), "why": Msg(f"closing.good_problem_{problem.why}")}))
            continue
        await handover.add_good(turn.session, h, good.description, good.quantity,
                                good.unit_value, good.condition)
        added.append(good)
    if added:
        turn.audit("handover_goods_added", "handover", h.id, count=len(added))
    rows = await handover.goods(turn.session, h.id)
    turn.say("adm_closing.goods_added", count=len(added), buttons=[] if problems
             else _goods_buttons(), total=Msg("adm_closing.pesos", {
                 "amount": handover.total(rows)}), goods=len(rows))
    if problems:
        turn.say("adm_closing.bad_lines", count=len(problems), lines=problems,
                 buttons=_goods_buttons())


def _goods_buttons() -> list[list[Button]]:
    return [[Button(Msg("adm_closing.btn_done"), act("hd"))]]


async def _step_by_step(turn: Turn, program: Program, h: Handover, text: str) -> None:
    description = turn.data("description") or ""
    try:
        if turn.convo.step == "quantity":
            quantity = goods_rules.parse_quantity(text)
            turn.go(FLOW, "value", quantity=quantity)
            turn.say("adm_closing.ask_value", description=Raw(description),
                     buttons=_goods_buttons())
            return
        value = goods_rules.parse_pesos(text)
    except GoodProblem as problem:
        turn.say(f"closing.good_problem_{problem.why}", buttons=_goods_buttons())
        return
    quantity = int(turn.data("quantity") or 1)
    await handover.add_good(turn.session, h, description, quantity, value)
    turn.audit("handover_goods_added", "handover", h.id, count=1)
    rows = await handover.goods(turn.session, h.id)
    turn.go(None)
    turn.go(FLOW, "goods")
    turn.say("adm_closing.good_added", description=Raw(description), quantity=quantity,
             total=Msg("adm_closing.pesos", {"amount": handover.total(rows)}),
             buttons=_goods_buttons())


async def _send(turn: Turn, program: Program, verifier: str, fmt: str,
                subject_id: int | None, caption: str) -> None:
    ctx = Ctx(turn.services.catalogs, turn.locale, program.timezone, turn.now)
    try:
        files: list[ExportFile] = await verificadores.make(Request(
            turn.session, program, verifier, ctx, fmt, subject_id=subject_id))
    except LookupError:
        turn.say("adm_closing.no_document")
        return
    turn.audit("export", "program", program.id, what=verifier, format=fmt)
    for f in files:
        turn.send(Outgoing(text=Msg(caption),
                           attachment=Attachment(f.filename, f.content, f.mime_type)))


def _verifier_for(program: Program, document: str, fallback: str) -> str:
    tpl = program_template_or_none(program)
    for v in tpl.verifiers if tpl else []:
        if v.document == document:
            return v.key
    return fallback


async def _acta(turn: Turn, program: Program, args: list[str]) -> None:
    h = await _current(turn, program)
    await _send(turn, program, _verifier_for(program, "handover_acta", "acta_traspaso_bienes"),
                "pdf", h.id if h else None, "adm_closing.sent_acta")


async def _inventory(turn: Turn, program: Program, args: list[str]) -> None:
    h = await _current(turn, program)
    await _send(turn, program, _verifier_for(program, "inventory", "inventario"), "xlsx",
                h.id if h else None, "adm_closing.sent_inventory")


# --- the evaluation session ----------------------------------------------------------------


async def _evaluations(turn: Turn, program: Program, args: list[str]) -> None:
    turn.go(None)
    held = await meetings.of_program(turn.session, program.id, until=turn.now + AHEAD,
                                     kinds=(EVALUATION_KIND,), newest_first=True, limit=6)
    if not held:
        turn.say("adm_closing.no_evaluation_session", buttons=[[_menu_button()]])
        return
    buttons = [[Button(_meeting_label(program, m), act("em", m.id))] for m in held]
    buttons.append([_menu_button()])
    turn.say("adm_closing.ask_evaluation_session", buttons=buttons)


async def _evaluation_meeting(turn: Turn, program: Program, meeting_id: int | None
                              ) -> Meeting | None:
    m = await turn.session.get(Meeting, meeting_id) if meeting_id else None
    if m is None or m.program_id != program.id:
        turn.say("input.button_stale")
        return None
    return m


async def _evaluation_start(turn: Turn, program: Program, args: list[str]) -> None:
    m = await _evaluation_meeting(turn, program, int_at(args, 0))
    if m is None:
        return
    turn.go(None)
    turn.go(FLOW, "eval", meeting=m.id, part=0)
    await _ask_part(turn, program, m, 0)


async def _ask_part(turn: Turn, program: Program, m: Meeting, part: int) -> None:
    section_ = PARTS[part]
    acta = await minutes.of_meeting(turn.session, m.id)
    have = [i.text for i in await minutes.items(turn.session, acta.id, section_)] if acta \
        else []
    buttons = [[Button(Msg("adm_closing.btn_next_part" if part < len(PARTS) - 1
                           else "adm_closing.btn_finish"), act("en"))]]
    if have:
        buttons.append([Button(Msg("adm_closing.btn_clear_part"), act("ec"))])
    buttons.append([Button(Msg("adm_closing.btn_stop"), act("x"))])
    turn.say(f"adm_closing.ask_{section_.value}", n=part + 1, buttons=buttons,
             have=Msg("adm_closing.part_has", {"count": len(have), "items": [
                 Msg("adm_closing.part_item", {"text": Raw(t[:120])}) for t in have]})
             if have else Raw(""))


async def _evaluation_flow(turn: Turn) -> tuple[Meeting, int] | None:
    if turn.convo.flow != FLOW or turn.convo.step != "eval":
        turn.say("input.button_stale")
        return None
    m = await turn.session.get(Meeting, turn.data("meeting") or 0)
    if m is None:
        turn.go(None)
        turn.say("input.button_stale")
        return None
    return m, int(turn.data("part") or 0)


async def _next_part(turn: Turn, program: Program, args: list[str]) -> None:
    found = await _evaluation_flow(turn)
    if found is None:
        return
    m, part = found
    if part + 1 < len(PARTS):
        turn.go(FLOW, "eval", part=part + 1)
        await _ask_part(turn, program, m, part + 1)
        return
    turn.go(None)
    await _evaluation_summary(turn, program, m)


async def _clear_part(turn: Turn, program: Program, args: list[str]) -> None:
    found = await _evaluation_flow(turn)
    if found is None:
        return
    m, part = found
    acta = await minutes.of_meeting(turn.session, m.id)
    if acta is not None:
        for item in await minutes.items(turn.session, acta.id, PARTS[part]):
            await minutes.remove_item(turn.session, item, now=turn.now)
    turn.audit("evaluation_part_cleared", "meeting", m.id, part=PARTS[part].value)
    await _ask_part(turn, program, m, part)


def _items_of(text: str) -> list[str]:
    """What one message says: each bulleted line an item, else the whole message one."""
    lines = [line.strip() for line in text.split("\n") if line.strip()]
    if len(lines) > 1 and all(line[0] in _BULLETS for line in lines):
        return [line.lstrip(_BULLETS).strip() for line in lines if line.lstrip(_BULLETS).strip()]
    return [text.strip()]


async def _evaluation_typed(turn: Turn, program: Program, text: str) -> None:
    found = await _evaluation_flow(turn)
    if found is None:
        return
    m, part = found
    acta = await minutes.for_meeting(turn.session, program.id, m.id, now=turn.now,
                                     by_person_id=turn.person.id)
    items = _items_of(text)
    for item in items:
        await minutes.add_item(turn.session, acta, PARTS[part], item, now=turn.now)
    turn.audit("evaluation_noted", "meeting", m.id, part=PARTS[part].value, count=len(items))
    have = await minutes.items(turn.session, acta.id, PARTS[part])
    turn.say("adm_closing.part_noted", count=len(have), buttons=[
        [Button(Msg("adm_closing.btn_next_part" if part < len(PARTS) - 1
                    else "adm_closing.btn_finish"), act("en"))]])


async def _evaluation_summary(turn: Turn, program: Program, m: Meeting) -> None:
    acta = await minutes.of_meeting(turn.session, m.id)
    items = await minutes.items(turn.session, acta.id) if acta else []
    counts = {p: sum(1 for i in items if i.section == p) for p in PARTS}
    present = (await admin_meetings.board(turn.session, m)).tally.present
    turn.say("adm_closing.evaluation_summary", meeting=_meeting_label(program, m),
             achievements=counts[MinutesSection.ACHIEVEMENT],
             difficulties=counts[MinutesSection.DIFFICULTY],
             lessons=counts[MinutesSection.LESSON],
             recommendations=counts[MinutesSection.RECOMMENDATION], present=present,
             buttons=[[Button(Msg("adm_closing.btn_evaluation_pdf"), act("ep", m.id))],
                      [Button(Msg("adm_closing.btn_edit_evaluation"), act("em", m.id))],
                      [_menu_button()]])


async def _evaluation_pdf(turn: Turn, program: Program, args: list[str]) -> None:
    m = await _evaluation_meeting(turn, program, int_at(args, 0))
    if m is None:
        return
    await _send(turn, program, _verifier_for(program, "evaluation", "documento_evaluacion"),
                "pdf", m.id, "adm_closing.sent_evaluation")


# --- typed input -----------------------------------------------------------------------------



@router.flow(FLOW)
async def closing_input(turn: Turn) -> None:
    if not guard(turn, ADMIN, "closing:input"):
        turn.go(None)
        return
    program = await program_or_say(turn, "adm_closing.no_program")
    if program is None:
        return
    text = (turn.event.text or "").strip() if turn.event.kind == EventKind.TEXT else ""
    if not text:
        turn.say("input.unsupported" if turn.event.kind == EventKind.UNSUPPORTED
                 else "adm_closing.type_it")
        return
    step = turn.convo.step
    if step == "eval":
        if typed_done(turn, text):
            await _next_part(turn, program, [])
            return
        await _evaluation_typed(turn, program, text)
    elif step in ("goods", "quantity", "value"):
        if typed_done(turn, text):
            await _done_goods(turn, program, [])
            return
        await _goods_typed(turn, program, text)
    else:
        turn.go(None)
        turn.say("input.not_understood")


_VERBS = {
    "": _menu, "x": _stop, "h": _handover, "hn": _new, "ho": _organizations,
    "hs": _org_chosen, "hy": _org_sure, "hm": _meeting_chosen, "hc": _change_session,
    "hg": _ask_goods, "hd": _done_goods, "hr": _remove_pick, "hx": _remove, "ha": _acta,
    "hi": _inventory, "e": _evaluations, "em": _evaluation_start, "en": _next_part,
    "ec": _clear_part, "ep": _evaluation_pdf,
}
