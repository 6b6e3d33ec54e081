"""Panel section "Documentos acordados": the texts a body or session agreed that the
programme template asks for as verificadores (``document: agreed_text``: the internal
procedure, each body's operating protocol, the municipal structure's acta and rules, the
roles of each party, the rules for using the goods...). The gestora sees which exist (the
version in force and its date) and records a new one: the session where it was agreed, if
any, then the text typed in one or more messages and "Listo". A new version supersedes the
one in force; every version is kept (storage.agreed), and the constitution flow records
the body protocols with the same call, so they show here too.

Actions, after ``adm:texts:``: (none) the list · ``o:<i>:<body>`` one text (``i`` its place
among the template's agreed texts, ``body`` 0 for a programme-wide one) · ``w:<i>:<body>``
write a new version · ``m:<meeting|0>`` the session it was agreed in · ``ok`` save ·
``x`` stop · ``pdf:<i>:<body>`` send the document. Typed text arrives in the flow
``adm_texts``."""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo

from documents import verificadores
from documents.base import Ctx
from documents.registry import Request
from domain.program_templates import ProgramTemplate, Verifier, program_template_or_none
from handlers.admin import (
    ADMIN,
    RECORDS,
    action,
    back_to_panel,
    guard,
    int_at,
    program_or_say,
    section,
    typed_done,
)
from handlers.core import Router, Turn
from handlers.events import Attachment, Button, EventKind, Outgoing
from locales import Day, Msg, Raw, Text
from storage import agreed, meetings, programs
from storage.meetings import body_names, kind_names
from storage.models import AgreedText, Body, Meeting, Program

KEY = "texts"
FLOW = "adm_texts"
DOCUMENT = "agreed_text"
# The texts each body agrees for itself: one per body, not one for the programme.
PER_BODY = frozenset({"protocolo_funcionamiento"})
TEXT_MAX = 60_000  # a long reglamento fits; a pasted book does not
PREVIEW = 280
MEETINGS_SHOWN = 6

router = Router()


def act(*parts: object) -> str:
    return action(KEY, *parts)


@dataclass(frozen=True)
class Entry:
    """One text to keep: a template verifier, and the body it is of when it is a body's."""

    index: int  # among the template's agreed texts
    verifier: Verifier
    body: Body | None

    @property
    def body_id(self) -> int | None:
        return self.body.id if self.body else None


def agreed_verifiers(tpl: ProgramTemplate | None) -> list[Verifier]:
    return [v for v in (tpl.verifiers if tpl else []) if v.document == DOCUMENT]


async def entries(turn: Turn, program: Program) -> list[Entry]:
    found = []
    bodies = sorted(await programs.bodies(turn.session, program.id), key=lambda b: b.id)
    for i, v in enumerate(agreed_verifiers(program_template_or_none(program))):
        if v.key in PER_BODY:
            found += [Entry(i, v, b) for b in bodies]
        else:
            found.append(Entry(i, v, None))
    return found


def entry_name(program: Program, e: Entry) -> Msg | Text:
    if e.body is None:
        return Text(dict(e.verifier.name))
    return Msg("adm_texts.of_body", {"name": Text(dict(e.verifier.name)),
                                     "body": Text(body_names(program, e.body))})


def _day(program: Program, row: AgreedText) -> Day:
    return Day(row.recorded_at.astimezone(ZoneInfo(program.timezone)).date())


async def _find(turn: Turn, program: Program, index: int | None, body: int | None
                ) -> Entry | None:
    for e in await entries(turn, program):
        if e.index == index and (e.body_id or 0) == (body or 0):
            return e
    turn.say("input.button_stale")
    return None


def entry_action(e: Entry) -> str:
    """The button that opens this text's card (the hand-over links to the rules of use)."""
    return act("o", e.index, e.body_id or 0)


@section(KEY, "adm_texts.section", roles=ADMIN, order=65, group=RECORDS)
async def open_texts(turn: Turn, parts: list[str]) -> None:
    verb = parts[0] if parts else ""
    if not guard(turn, ADMIN, f"{KEY}:{verb}"):
        return
    program = await program_or_say(turn, "adm_texts.no_program")
    if program is None:
        return
    args = parts[1:]
    if verb == "":
        turn.go(None)
        await show_list(turn, program)
    elif verb == "o":
        if turn.convo.flow == FLOW:
            turn.go(None)
        found = await _find(turn, program, int_at(args, 0), int_at(args, 1))
        if found:
            await show_card(turn, program, found)
    elif verb == "w":
        found = await _find(turn, program, int_at(args, 0), int_at(args, 1))
        if found:
            await _ask_meeting(turn, program, found)
    elif verb == "m":
        await _meeting_chosen(turn, program, int_at(args, 0))
    elif verb == "ok":
        await _save(turn, program)
    elif verb == "x":
        turn.go(None)
        turn.say("adm_texts.cancelled", buttons=[[Button(Msg("adm_texts.btn_list"), act())]])
    elif verb == "pdf":
        found = await _find(turn, program, int_at(args, 0), int_at(args, 1))
        if found:
            await _send_pdf(turn, program, found)
    else:
        turn.say("input.button_stale")


async def show_list(turn: Turn, program: Program) -> None:
    found = await entries(turn, program)
    if not found:
        turn.say("adm_texts.none", buttons=[[back_to_panel()]])
        return
    lines, buttons = [], []
    for n, e in enumerate(found, start=1):
        row = await agreed.current(turn.session, program.id, e.verifier.key, e.body_id)
        name = entry_name(program, e)
        if row is None:
            lines.append(Msg("adm_texts.line_missing", {"n": n, "name": name}))
        else:
            lines.append(Msg("adm_texts.line_recorded", {"n": n, "name": name,
                                                         "version": row.version,
                                                         "date": _day(program, row)}))
        buttons.append([Button(Msg("adm_texts.btn_entry", {"n": n, "name": name}),
                               entry_action(e))])
    buttons.append([back_to_panel()])
    turn.say("adm_texts.list", lines=lines, buttons=buttons)


async def show_card(turn: Turn, program: Program, e: Entry) -> None:
    rows = await agreed.versions(turn.session, program.id, e.verifier.key, e.body_id)
    current = next((r for r in reversed(rows) if r.superseded_at is None), None)
    name = entry_name(program, e)
    buttons = []
    if current is None:
        text = Msg("adm_texts.card_missing", {"name": name})
        buttons.append([Button(Msg("adm_texts.btn_write"), act("w", e.index, e.body_id or 0))])
    else:
        preview = current.text if len(current.text) <= PREVIEW else (
            current.text[:PREVIEW].rstrip() + "…")
        where = await _meeting_line(turn, program, current.meeting_id)
        text = Msg("adm_texts.card", {"name": name, "version": current.version,
                                      "date": _day(program, current), "where": where,
                                      "earlier": len(rows) - 1, "preview": Raw(preview)})
        buttons.append([Button(Msg("adm_texts.btn_new_version"),
                               act("w", e.index, e.body_id or 0))])
        buttons.append([Button(Msg("adm_texts.btn_pdf"), act("pdf", e.index, e.body_id or 0))])
    buttons.append([Button(Msg("adm_texts.btn_list"), act())])
    turn.send(Outgoing(text=text, buttons=tuple(tuple(r) for r in buttons)))


def meeting_label(program: Program, m: Meeting) -> Msg:
    local = m.starts_at.astimezone(ZoneInfo(program.timezone)).date()
    what = Raw(m.title[:30]) if m.title else Text(kind_names(program, m.kind))
    return Msg("adm_texts.meeting", {"day": Day(local, "short_year"), "what": what})


async def _meeting_line(turn: Turn, program: Program, meeting_id: int | None) -> Msg:
    m = await turn.session.get(Meeting, meeting_id) if meeting_id else None
    if m is None:
        return Msg("adm_texts.agreed_no_session")
    return Msg("adm_texts.agreed_in", {"meeting": meeting_label(program, m)})


async def _recent_meetings(turn: Turn, program: Program, body_id: int | None) -> list[Meeting]:
    """The sessions it may have been agreed in: the latest ones that have begun (the body's,
    for a body's protocol), newest first."""
    return await meetings.of_program(turn.session, program.id, until=turn.now,
                                     body_id=body_id, newest_first=True, limit=MEETINGS_SHOWN)


async def _ask_meeting(turn: Turn, program: Program, e: Entry) -> None:
    turn.go(None)
    turn.go(FLOW, "meeting", index=e.index, body=e.body_id or 0, parts=[])
    recent = await _recent_meetings(turn, program, e.body_id)
    buttons = [[Button(meeting_label(program, m), act("m", m.id))] for m in recent]
    buttons.append([Button(Msg("adm_texts.btn_no_session"), act("m", 0))])
    buttons.append([Button(Msg("adm_texts.btn_cancel"), act("x"))])
    turn.say("adm_texts.ask_meeting" if recent else "adm_texts.ask_meeting_none",
             name=entry_name(program, e), buttons=buttons)


async def _meeting_chosen(turn: Turn, program: Program, meeting_id: int | None) -> None:
    if turn.convo.flow != FLOW:
        turn.say("input.button_stale")
        return
    if meeting_id:
        m = await turn.session.get(Meeting, meeting_id)
        if m is None or m.program_id != program.id:
            turn.say("input.button_stale")
            return
    turn.go(FLOW, "text", meeting=meeting_id or 0, parts=[])
    turn.say("adm_texts.ask_text", buttons=[[Button(Msg("adm_texts.btn_cancel"), act("x"))]])



@router.flow(FLOW)
async def texts_input(turn: Turn) -> None:
    if not guard(turn, ADMIN, "texts:input"):
        turn.go(None)
        return
    program = await program_or_say(turn, "adm_texts.no_program")
    if program is None:
        return
    text = (turn.event.text or "").strip() if turn.event.kind == EventKind.TEXT else ""
    if turn.convo.step != "text":
        turn.say("adm_texts.use_buttons")
        return
    if not text:
        turn.say("input.unsupported" if turn.event.kind == EventKind.UNSUPPORTED
                 else "adm_texts.type_it")
        return
    if typed_done(turn, text):
        await _save(turn, program)
        return
    parts = list(turn.data("parts", []))
    if sum(len(p) for p in parts) + len(text) > TEXT_MAX:
        turn.say("adm_texts.too_long", buttons=_typing_buttons())
        return
    parts.append(text)
    turn.go(FLOW, "text", parts=parts)
    turn.say("adm_texts.noted", count=len(parts), buttons=_typing_buttons())


def _typing_buttons() -> list[list[Button]]:
    return [[Button(Msg("adm_texts.btn_done"), act("ok"))],
            [Button(Msg("adm_texts.btn_cancel"), act("x"))]]


async def _save(turn: Turn, program: Program) -> None:
    if turn.convo.flow != FLOW or turn.convo.step != "text":
        turn.say("input.button_stale")
        return
    parts = [p for p in turn.data("parts", []) if p.strip()]
    if not parts:
        turn.say("adm_texts.nothing_yet", buttons=[[Button(Msg("adm_texts.btn_cancel"),
                                                           act("x"))]])
        return
    e = await _find(turn, program, turn.data("index"), turn.data("body"))
    if e is None:
        turn.go(None)
        return
    row = await agreed.record(turn.session, program.id, e.verifier.key, "\n".join(parts),
                              now=turn.now, by_person_id=turn.person.id, body_id=e.body_id,
                              meeting_id=turn.data("meeting") or None)
    turn.audit("agreed_text_recorded", "agreed_text", row.id, key=e.verifier.key,
               version=row.version, body=e.body_id)
    turn.go(None)
    turn.say("adm_texts.saved", name=entry_name(program, e), version=row.version)
    await show_card(turn, program, e)


async def _send_pdf(turn: Turn, program: Program, e: Entry) -> None:
    ctx = Ctx(turn.services.catalogs, turn.locale, program.timezone, turn.now)
    req = Request(turn.session, program, e.verifier.key, ctx, "pdf", subject_id=e.body_id)
    files = await verificadores.make(req)
    turn.audit("export", "program", program.id, what=e.verifier.key, format="pdf")
    for f in files:
        turn.send(Outgoing(text=Msg("adm_texts.sent", {"name": entry_name(program, e)}),
                           attachment=Attachment(f.filename, f.content, f.mime_type)))
