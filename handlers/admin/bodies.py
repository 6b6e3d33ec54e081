"""The panel's section "Instancias y compromisos": the organisations' participation
commitments and the Grupo Motor's and Consejo Local's members' declarations (who signed,
asking those who did not), and the constitution of a body in one of its sessions.

Actions: ``adm:bodies`` (the card), ``adm:bodies:sc`` (send the commitment),
``adm:bodies:st`` (who signed), ``adm:bodies:sd:<body>`` (send the declaration),
``adm:bodies:k:<body>`` (constitute: pick the session), ``adm:bodies:km:<meeting>``,
``adm:bodies:kt:<person>`` (a member in or out), ``adm:bodies:kn`` (to the protocol),
``adm:bodies:kd`` (protocol done), ``adm:bodies:kc`` (confirm).

The constitution is a flow (``adm_bodies``) whose data holds the body, the session, the
members chosen and the protocol typed so far: nothing is written until "Confirmar"."""

from __future__ import annotations

from documents.base import Ctx
from documents.registry import PRODUCERS, Request
from domain.program_templates import program_template_or_none
from handlers.admin import (
    ADMIN,
    RECORDS,
    action,
    back_to_panel,
    guard,
    int_at,
    program_or_say,
    section,
)
from handlers.core import Router, Turn
from handlers.events import Attachment, Button, EventKind, Outgoing
from locales import Msg, Raw, Text, When
from services import commitments as service
from storage import commitments
from storage.meetings import body_names, kind_names
from storage.models import Body, Meeting, Person, Program

BODIES = "bodies"
FLOW = "adm_bodies"
PROTOCOL_MAX = 8000  # an agreed text of a few pages; AgreedText.text has no limit
NAMES_SHOWN = 30
MEMBER_BUTTONS = 24

router = Router()


def act(*parts: object) -> str:
    return action(BODIES, *parts)


def _body_name(program: Program, body: Body) -> Text:
    return Text(body_names(program, body))


def _names(names: list[str]) -> Raw:
    shown = ", ".join(names[:NAMES_SHOWN])
    if len(names) > NAMES_SHOWN:
        shown += f" (+{len(names) - NAMES_SHOWN})"
    return Raw(shown or "—")


@section(BODIES, "commit.section", roles=ADMIN, order=62, group=RECORDS)
async def open_bodies(turn: Turn, parts: list[str]) -> None:
    if not guard(turn, ADMIN, "bodies:" + ":".join(parts[:1])):
        return
    program = await program_or_say(turn, "commit.no_program")
    if program is None:
        return
    op = parts[0] if parts else ""
    arg = int_at(parts, 1)
    if op == "":
        turn.go(None)
        await _card(turn, program)
    elif op == "sc":
        await _send_commitments(turn, program)
    elif op == "st":
        await _status(turn, program)
    elif op == "sd" and arg is not None:
        await _send_declarations(turn, program, arg)
    elif op == "k" and arg is not None:
        await _pick_session(turn, program, arg)
    elif op == "km" and arg is not None:
        await _chose_session(turn, program, arg)
    elif op == "kt" and arg is not None:
        await _toggle_member(turn, program, arg)
    elif op == "kn":
        await _ask_protocol(turn, program)
    elif op == "kd":
        await _protocol_done(turn, program)
    elif op == "kc":
        await _confirm(turn, program)
    elif op in DOCUMENTS:
        await _send_document(turn, program, op, arg)
    else:
        turn.say("input.button_stale")


# --- the card ------------------------------------------------------------------------------


async def _card(turn: Turn, program: Program) -> None:
    with_ficha = await commitments.with_ficha(turn.session, program.id)
    pending = [o for o in with_ficha if o.committed_at is None]
    lines: list[Msg] = [Msg("commit.card_orgs", {"count": len(with_ficha) - len(pending),
                                                 "total": len(with_ficha)})]
    rows: list[list[Button]] = []
    if pending:
        rows.append([Button(Msg("commit.btn_send_commitment", {"count": len(pending)}),
                            act("sc"))])
    rows.append([Button(Msg("commit.btn_status"), act("st"))])
    docs = [Button(Msg("commit.btn_doc_commitment_blank"), act("dcb"))]
    if len(with_ficha) > len(pending):
        docs.append(Button(Msg("commit.btn_doc_commitments"), act("dc")))
    rows.append(docs)
    for body in await commitments.bodies(turn.session, program.id):
        members = await commitments.members(turn.session, body.id)
        signed = sum(1 for m in members if m.membership.commitment_signed_at is not None)
        name = _body_name(program, body)
        lines.append(Msg("commit.card_body", {"body": name, "count": len(members),
                                              "signed": signed}))
        lines.append(Msg("commit.card_constituted", {"when": When(body.constituted_at, "date")})
                     if body.constituted_at else Msg("commit.card_not_constituted"))
        rows.append([Button(Msg("commit.btn_constitute", {"body": name}), act("k", body.id))])
        docs = [Button(Msg("commit.btn_doc_declarations"), act("dd", body.id))]
        if body.constituted_at:
            docs.append(Button(Msg("commit.btn_doc_acta"), act("da", body.id)))
        rows.append(docs)
        if signed < len(members):
            rows.append([Button(Msg("commit.btn_send_declaration", {
                "body": name, "count": len(members) - signed}), act("sd", body.id))])
    rows.append([back_to_panel()])
    turn.say("commit.card", lines=lines, buttons=rows)


async def _status(turn: Turn, program: Program) -> None:
    with_ficha = await commitments.with_ficha(turn.session, program.id)
    signed = [o.name for o in with_ficha if o.committed_at is not None]
    missing = [o.name for o in with_ficha if o.committed_at is None]
    lines = [Msg("commit.status_orgs", {"count": len(signed), "names": _names(signed)}),
             Msg("commit.status_orgs_missing", {"count": len(missing),
                                                "names": _names(missing)})]
    for body in await commitments.bodies(turn.session, program.id):
        members = await commitments.members(turn.session, body.id)
        yes = [m.person.name or "?" for m in members if m.membership.commitment_signed_at]
        no = [m.person.name or "?" for m in members if not m.membership.commitment_signed_at]
        lines.append(Msg("commit.status_body", {
            "body": _body_name(program, body), "signed": len(yes), "names": _names(yes),
            "missing": len(no), "missing_names": _names(no)}))
    turn.say("commit.status", lines=lines, buttons=[[Button(Msg("commit.btn_back"), act())]])


def _already(sent: service.Sent) -> list[Msg]:
    return [Msg("commit.already_asked", {"count": sent.already})] if sent.already else []


async def _send_commitments(turn: Turn, program: Program) -> None:
    sent = await service.send_commitments(turn.session, program, turn.now,
                                          author_id=turn.person.id, channel=turn.event.channel)
    lines = _already(sent)
    if sent.unreachable:
        lines.append(Msg("commit.unreachable_orgs", {"count": len(sent.unreachable),
                                                     "names": _names(sent.unreachable)}))
    turn.say("commit.sent_commitments", count=len(sent.reached), lines=lines,
             buttons=[[Button(Msg("commit.btn_back"), act())]])


async def _send_declarations(turn: Turn, program: Program, body_id: int) -> None:
    body = await commitments.body(turn.session, program.id, body_id)
    if body is None:
        turn.say("input.button_stale")
        return
    sent = await service.send_declarations(turn.session, program, body, turn.now,
                                           author_id=turn.person.id,
                                           channel=turn.event.channel)
    lines = _already(sent)
    if sent.unreachable:
        lines.append(Msg("commit.unreachable_people", {"count": len(sent.unreachable),
                                                       "names": _names(sent.unreachable)}))
    turn.say("commit.sent_declarations", count=sent.queued, body=_body_name(program, body),
             lines=lines, buttons=[[Button(Msg("commit.btn_back"), act())]])


# --- the documents, to print and sign ------------------------------------------------------

# op: (producer, verifier key it proves, blank copy); the acta's key names the body's kind.
DOCUMENTS = {
    "dc": ("participation_commitments", "compromiso_participacion", False),
    "dcb": ("participation_commitments", "compromiso_participacion", True),
    "dd": ("member_declarations", "declaracion_compromiso", False),
    "da": ("constitution_acta", "acta_constitucion_", False),
}


async def _send_document(turn: Turn, program: Program, op: str, body_id: int | None) -> None:
    key, verifier, blank = DOCUMENTS[op]
    body = await commitments.body(turn.session, program.id, body_id) \
        if body_id is not None else None
    if key != "participation_commitments" and body is None:
        turn.say("input.button_stale")
        return
    if body is not None and verifier.endswith("_"):
        verifier += body.kind
    tpl = program_template_or_none(program)
    if key == "member_declarations" and tpl is not None:
        # The template's own declarations verifier: its form is the one members signed.
        verifier = tpl.declaration_verifier() or verifier
    ctx = Ctx(turn.services.catalogs, turn.locale, program.timezone, turn.now)
    req = Request(turn.session, program, verifier, ctx, "pdf",
                  body.id if body is not None else None, blank)
    try:
        files = await PRODUCERS[key].make(req)
    except ValueError:
        turn.say("commit.doc_none")
        return
    for f in files:
        turn.send(Outgoing(text=Msg("commit.doc_caption"),
                           attachment=Attachment(f.filename, f.content, f.mime_type)))
    turn.audit("document_made", "program", program.id, document=key, blank=blank,
               count=len(files))


# --- constituting a body -------------------------------------------------------------------


def _session_label(program: Program, meeting: Meeting) -> Msg:
    return Msg("commit.session_option", {"kind": Text(kind_names(program, meeting.kind)),
                                         "when": When(meeting.starts_at)})


async def _pick_session(turn: Turn, program: Program, body_id: int) -> None:
    body = await commitments.body(turn.session, program.id, body_id)
    if body is None:
        turn.say("input.button_stale")
        return
    turn.go(None)
    sessions = await commitments.body_sessions(turn.session, body, turn.now)
    if not sessions:
        turn.say("commit.no_sessions", body=_body_name(program, body),
                 buttons=[[Button(Msg("commit.btn_back"), act())]])
        return
    turn.go(FLOW, "session", body=body.id)
    rows = [[Button(_session_label(program, m), act("km", m.id))] for m in sessions[:8]]
    rows.append([Button(Msg("commit.btn_cancel"), act())])
    turn.say("commit.pick_session", body=_body_name(program, body), buttons=rows)


async def _flow_body(turn: Turn, program: Program) -> Body | None:
    if turn.convo.flow != FLOW or turn.data("body") is None:
        return None
    return await commitments.body(turn.session, program.id, int(turn.data("body")))


async def _chose_session(turn: Turn, program: Program, meeting_id: int) -> None:
    body = await _flow_body(turn, program)
    # Only a session the list offered: a stale or forged button names any meeting.
    offered = await commitments.body_sessions(turn.session, body, turn.now) if body else []
    meeting = next((m for m in offered if m.id == meeting_id), None)
    if body is None or meeting is None:
        turn.say("input.button_stale")
        return
    members = [m.person.id for m in await commitments.members(turn.session, body.id)]
    present = [p.id for p in await commitments.present_people(turn.session, meeting.id)]
    turn.go(FLOW, "members", meeting=meeting.id, chosen=members,
            candidates=list(dict.fromkeys(members + present)), protocol=[])
    await _members_card(turn, program, body, meeting, redraw=False)


async def _members_card(turn: Turn, program: Program, body: Body, meeting: Meeting, *,
                        redraw: bool) -> None:
    chosen = set(turn.data("chosen") or [])
    candidates = list(turn.data("candidates") or [])
    people = {p.id: p for p in [await turn.session.get(Person, pid) for pid in candidates]
              if p is not None}
    rows = [[Button(Msg("commit.member_in" if pid in chosen else "commit.member_out",
                        {"name": Raw(people[pid].name or "?")}), act("kt", pid))]
            for pid in candidates[:MEMBER_BUTTONS] if pid in people]
    if chosen:
        rows.append([Button(Msg("commit.btn_next"), act("kn"))])
    rows.append([Button(Msg("commit.btn_cancel"), act())])
    params = {"body": _body_name(program, body), "session": _session_label(program, meeting),
              "count": len(chosen)}
    if not candidates:
        turn.say("commit.no_candidates", **params, buttons=rows)
        return
    out = Outgoing(text=Msg("commit.members", params), buttons=tuple(tuple(r) for r in rows))
    turn.redraw(out) if redraw else turn.send(out)


async def _flow_meeting(turn: Turn, program: Program) -> tuple[Body, Meeting] | None:
    body = await _flow_body(turn, program)
    mid = turn.data("meeting")
    meeting = await turn.session.get(Meeting, int(mid)) if mid is not None else None
    if body is None or meeting is None or meeting.program_id != program.id:
        return None
    return body, meeting


async def _toggle_member(turn: Turn, program: Program, person_id: int) -> None:
    found = await _flow_meeting(turn, program)
    if found is None or turn.convo.step != "members" \
            or person_id not in (turn.data("candidates") or []):
        turn.say("input.button_stale")
        return
    chosen = list(turn.data("chosen") or [])
    chosen = [p for p in chosen if p != person_id] if person_id in chosen \
        else [*chosen, person_id]
    turn.go(FLOW, "members", chosen=chosen)
    await _members_card(turn, program, *found, redraw=True)


async def _ask_protocol(turn: Turn, program: Program) -> None:
    found = await _flow_meeting(turn, program)
    if found is None or not turn.data("chosen"):
        turn.say("input.button_stale")
        return
    turn.go(FLOW, "protocol")
    turn.say("commit.ask_protocol", body=_body_name(program, found[0]),
             buttons=[[Button(Msg("commit.btn_cancel"), act())]])


@router.flow(FLOW)
async def bodies_input(turn: Turn) -> None:
    if not guard(turn, ADMIN, "bodies:input"):
        turn.go(None)
        return
    program = await program_or_say(turn, "commit.no_program")
    if program is None:
        return
    text = (turn.event.text or "").strip() if turn.event.kind == EventKind.TEXT else ""
    if turn.convo.step != "protocol":
        turn.say("commit.use_buttons")
        return
    if not text:
        turn.say("commit.protocol_text_only")
        return
    parts = [*(turn.data("protocol") or []), text]
    if sum(len(p) for p in parts) > PROTOCOL_MAX:
        turn.say("commit.protocol_too_long", max=PROTOCOL_MAX)
        return
    turn.go(FLOW, "protocol", protocol=parts)
    turn.say("commit.protocol_kept", count=len(parts),
             buttons=[[Button(Msg("commit.btn_protocol_done"), act("kd"))],
                      [Button(Msg("commit.btn_cancel"), act())]])


async def _protocol_done(turn: Turn, program: Program) -> None:
    found = await _flow_meeting(turn, program)
    parts = turn.data("protocol") or []
    if found is None or turn.convo.step != "protocol" or not parts:
        turn.say("input.button_stale")
        return
    body, meeting = found
    turn.go(FLOW, "confirm")
    chosen = turn.data("chosen") or []
    names = [p.name or "?" for p in [await turn.session.get(Person, pid) for pid in chosen]
             if p is not None]
    turn.say("commit.confirm", body=_body_name(program, body),
             session=_session_label(program, meeting), count=len(names), names=_names(names),
             protocol=Raw("\n".join(parts)),
             buttons=[[Button(Msg("commit.btn_confirm"), act("kc"))],
                      [Button(Msg("commit.btn_cancel"), act())]])


async def _confirm(turn: Turn, program: Program) -> None:
    found = await _flow_meeting(turn, program)
    if found is None or turn.convo.step != "confirm":
        turn.say("input.button_stale")
        return
    body, meeting = found
    chosen = [int(p) for p in turn.data("chosen") or []]
    protocol = "\n".join(turn.data("protocol") or [])
    try:
        await service.constitute(turn.session, program, body, meeting, member_ids=chosen,
                                 protocol=protocol, now=turn.now, by_person_id=turn.person.id,
                                 channel=turn.event.channel)
    except service.ConstitutionError as exc:
        turn.say(f"commit.error.{exc}")
        return
    turn.go(None)
    # Constituted, its members sign their declarations: each is asked now.
    sent = await service.send_declarations(turn.session, program, body, turn.now,
                                           author_id=turn.person.id,
                                           channel=turn.event.channel)
    lines = [Msg("commit.declarations_on_the_way", {"count": sent.queued})]
    if sent.unreachable:
        lines.append(Msg("commit.unreachable_people", {"count": len(sent.unreachable),
                                                       "names": _names(sent.unreachable)}))
    turn.say("commit.constituted", body=_body_name(program, body),
             when=When(meeting.starts_at, "date"), count=len(chosen), lines=lines,
             buttons=[[Button(Msg("commit.btn_back"), act())]])
