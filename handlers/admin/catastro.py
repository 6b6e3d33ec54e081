"""The catastro and the families in chat: importing a spreadsheet (a preview first, then
all valid rows or nothing), adding or correcting one record by guided steps, and the codes
that link a chat to an organisation, a body or a family (deep links and printable QR cards).

Button actions are ``adm:catastro:<verb>:...``; free input while in the flow
``adm_catastro`` (a file, a field's value, a name to search)."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from functools import partial
from typing import Any

from sqlalchemy import select

from documents import imports, qr_codes
from domain import catastro, names, org_kinds, targets
from domain.catastro import FAMILY, ORGANIZATION, ImportPreview, StalePreview
from domain.countries import COUNTRIES, DEFAULT_COUNTRY, Country, NationalId, OrganizationNumber
from domain.rut import rut_key
from handlers.admin import (
    ADMIN,
    Verbs,
    action,
    allowed,
    back_to_panel,
    current_program,
    guard,
    int_at,
    program_or_say,
    section,
)
from handlers.core import DocumentTooBig, Router, Turn
from handlers.events import Attachment, Button, EventKind, Outgoing
from locales import Msg, Raw, Text, When
from locales.collation import sort_key
from services.catastro import family_ids
from storage import fichas, imported, links, programs, responses, targeting
from storage.commitments import form_of_response
from storage.meetings import body_names
from storage.models import (
    Body,
    Family,
    FormResponse,
    FormStatus,
    Organization,
    Person,
    PickupMode,
    Program,
)

log = logging.getLogger(__name__)

KEY = "catastro"
FLOW = "adm_catastro"
KINDS = {"o": ORGANIZATION, "f": FAMILY}
MODELS: dict[str, type[Organization] | type[Family]] = {"o": Organization, "f": Family}
LINK_TARGETS = {"o": "organization", "f": "family", "b": "body"}
SEARCH_SHOWN = 8
MARKS_CHARS = 296  # room in a message left for what the channel adds around the preview
CODES_LISTED = 60  # without a bot name there is no QR: the codes go out as text instead

router = Router()


# --- fields of a record ------------------------------------------------------------------------


@dataclass(frozen=True)
class Field:
    code: str  # one letter, carried in buttons
    name: str  # the model's attribute
    ask: str  # message key of the question
    optional: bool = True
    width: int = 200
    organization: bool = False  # an organisation's field (its rut is its own number)


ORG_FIELDS = (
    Field("n", "name", "catastro.ask.org_name", optional=False),
    Field("r", "rut", "catastro.ask.rut", organization=True),
    Field("p", "phone", "catastro.ask.phone"),
    Field("e", "email", "catastro.ask.email"),
    Field("s", "sector", "catastro.ask.sector", width=120),
    Field("a", "address", "catastro.ask.address"),
    Field("k", "kind", "catastro.ask.kind", width=40),
    Field("c", "members_count", "catastro.ask.members"),
)
FAMILY_FIELDS = (
    Field("n", "name", "catastro.ask.family_name", optional=False),
    Field("p", "phone", "catastro.ask.phone"),
    Field("r", "rut", "catastro.ask.rut"),
    Field("m", "pickup_mode", "catastro.ask.mode", optional=False),
    Field("s", "sector", "catastro.ask.sector", width=120),
    Field("a", "address", "catastro.ask.address"),
    Field("h", "household_size", "catastro.ask.household"),
)
FIELDS = {"o": ORG_FIELDS, "f": FAMILY_FIELDS}
COUNTS = ("members_count", "household_size")
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def _field(kind: str, code: str) -> Field | None:
    return next((f for f in FIELDS.get(kind, ()) if f.code == code), None)


def _label(f: Field) -> Msg:
    return Msg(f"catastro.field.{f.name}")


def _number(f: Field, country: Country) -> NationalId | OrganizationNumber:
    """The number a record's rut holds: an organisation's, or a family's person's."""
    return country.organization_number if f.organization else country.national_id


def parse_value(f: Field, text: str, country: Country | None = None
                ) -> tuple[Any, Msg | None]:
    """The value as stored, or the kind explanation of why it cannot be; phones and
    identity numbers as the programme's country writes them (Chile's without one)."""
    country = country or COUNTRIES[DEFAULT_COUNTRY]
    value = " ".join(text.split())
    shown = Raw(value[:60])
    if not value:
        return None, Msg("catastro.bad.empty")
    if len(value) > f.width:
        return None, Msg("catastro.bad.too_long", {"max": f.width})
    if f.name == "rut":
        number = _number(f, country)
        rut = number.format(value)
        return (rut, None) if rut else (None, Msg(number.catastro_wrong, {"value": shown}))
    if f.name == "phone":
        phone = country.phone(value)
        return (phone, None) if phone else (None, Msg("catastro.bad.phone", {"value": shown}))
    if f.name == "email":
        return (value, None) if EMAIL.fullmatch(value) else (
            None, Msg("catastro.bad.email", {"value": shown}))
    if f.name in COUNTS:
        n = catastro.whole_number(value)
        if n is None or not 0 < n < 100_000:
            return None, Msg("catastro.bad.number", {"value": shown})
        return n, None
    if f.name == "pickup_mode":
        mode = catastro.pickup_mode(value)
        return (str(mode), None) if mode else (None, Msg("catastro.bad.mode"))
    if f.name == "kind":
        code = org_kinds.kind_code(value)
        return (code, None) if code else (None, Msg("catastro.bad.kind", {"value": shown}))
    return value, None


async def clash(turn: Turn, kind: str, program_id: int, f: Field, value: Any,
                own_id: int | None) -> str | None:
    """The name of another record of the programme this value would duplicate."""
    model = MODELS[kind]
    if f.name == "rut":
        rows = await turn.session.execute(
            select(model.id, model.name, model.rut).where(
                model.program_id == program_id, model.rut.is_not(None)))
        key = rut_key(value)
        return next((n for i, n, r in rows if i != own_id and rut_key(r) == key), None)
    if f.name == "phone" and kind == "f":
        return await turn.session.scalar(
            select(Family.name).where(Family.program_id == program_id, Family.phone == value,
                                      Family.id != (own_id or 0)).limit(1))
    if f.name == "name" and kind == "o":
        rows = await turn.session.execute(
            select(Organization.id, Organization.name).where(
                Organization.program_id == program_id))
        key = names.normalise_name(value)
        return next((n for i, n in rows if i != own_id and names.normalise_name(n) == key),
                    None)
    return None


# --- small pieces ------------------------------------------------------------------------------


def _cancel() -> Button:
    return Button(Msg("catastro.btn.cancel"), action(KEY, "x"))


def _to_menu() -> Button:
    return Button(Msg("catastro.btn.menu"), action(KEY))


def _start(turn: Turn, step: str, **data: Any) -> None:
    """Enter a step with only this data: nothing left over from an earlier wizard."""
    turn.go(None)
    turn.go(FLOW, step, **data)


def _in(turn: Turn, *steps: str) -> bool:
    return turn.convo.flow == FLOW and turn.convo.step in steps


async def _record(turn: Turn, kind: str, rid: int, program: Program) -> Any:
    model = MODELS.get(kind) if kind != "b" else Body
    if model is None:
        return None
    rec = await turn.session.get(model, rid)
    return rec if rec is not None and rec.program_id == program.id else None


# --- the section ---------------------------------------------------------------------------


VERBS = Verbs()
verb = VERBS


@section(KEY, "catastro.section", roles=ADMIN, order=15)
async def open_section(turn: Turn, parts: list[str]) -> None:
    if not guard(turn, ADMIN, ":".join([KEY, *parts[:1]])):
        return
    await VERBS.dispatch(turn, parts)


@verb("")
async def menu(turn: Turn, args: list[str]) -> None:
    turn.go(None)
    program = await current_program(turn)
    waiting = len(await fichas.pending(turn.session, program.id)) if program else 0
    # Fichas from organisations the catastro lacks come first: nobody else will see them.
    first = [[Button(Msg("catastro.btn.fichas", {"count": waiting}), action(KEY, "fis"))]] \
        if waiting else []
    turn.say("catastro.menu", buttons=[
        *first,
        [Button(Msg("catastro.btn.import_orgs"), action(KEY, "imp", "o"))],
        [Button(Msg("catastro.btn.import_families"), action(KEY, "imp", "f"))],
        [Button(Msg("catastro.btn.add_org"), action(KEY, "new", "o")),
         Button(Msg("catastro.btn.add_family"), action(KEY, "new", "f"))],
        [Button(Msg("catastro.btn.edit_org"), action(KEY, "find", "o", "e")),
         Button(Msg("catastro.btn.edit_family"), action(KEY, "find", "f", "e"))],
        [Button(Msg("catastro.btn.codes"), action(KEY, "codes"))],
        [back_to_panel()],
    ])


@verb("x")
async def cancel(turn: Turn, args: list[str]) -> None:
    turn.go(None)
    turn.say("catastro.cancelled", buttons=[[_to_menu()], [back_to_panel()]])


# --- importing a spreadsheet --------------------------------------------------------------------


@verb("imp")
async def ask_for_file(turn: Turn, args: list[str]) -> None:
    kind = args[0] if args else ""
    if kind not in KINDS:
        turn.say("input.button_stale")
        return
    _start(turn, "file", kind=kind)
    turn.say(f"catastro.import.ask_{KINDS[kind]}", buttons=[[_cancel()]])


def kind_from_caption(caption: str | None) -> str | None:
    """'familias', 'Catastro de organizaciones', 'families.xlsx': what the file holds."""
    words = names.normalise_name(caption or "").split()
    if any(w.startswith(("famil", "hogar", "household")) for w in words):
        return "f"
    if any(w.startswith(("organi", "catastro", "org", "junta", "club")) for w in words):
        return "o"
    return None


async def on_document(turn: Turn) -> bool:
    """A spreadsheet sent outside any wizard: the caption may say what it holds, or we
    ask. Returns False when it is not for us (the general fallback answers then)."""
    said = kind_from_caption(turn.event.text)
    if not allowed(turn, ADMIN):
        # Only a caption asking for an import is refused; any other file is not ours.
        if said is None:
            return False
        guard(turn, ADMIN, f"{KEY}:document")
        return True
    kind = said or kind_from_caption(turn.event.document.filename if turn.event.document
                                     else None)
    if kind is not None:
        await _preview_document(turn, kind)
        return True
    doc = turn.event.document
    assert doc is not None
    _start(turn, "file_kind", file_id=doc.file_id, filename=doc.filename or "archivo",
           size=doc.size)
    _ask_file_kind(turn)
    return True


def _ask_file_kind(turn: Turn) -> None:
    turn.say("catastro.import.which", buttons=[
        [Button(Msg("catastro.btn.file_orgs"), action(KEY, "fk", "o")),
         Button(Msg("catastro.btn.file_families"), action(KEY, "fk", "f"))],
        [_cancel()],
    ])


@verb("fk")
async def file_kind_chosen(turn: Turn, args: list[str]) -> None:
    kind = args[0] if args else ""
    if kind not in KINDS or not _in(turn, "file_kind") or not turn.data("file_id"):
        turn.say("input.button_stale")
        return
    await _preview_file(turn, kind, turn.data("file_id"), turn.data("filename"),
                        turn.data("size"))


async def _preview_document(turn: Turn, kind: str) -> None:
    doc = turn.event.document
    assert doc is not None
    await _preview_file(turn, kind, doc.file_id, doc.filename or "archivo", doc.size)


async def _preview_file(turn: Turn, kind: str, file_id: str, filename: str,
                        size: int | None) -> None:
    program = await program_or_say(turn, "catastro.no_program")
    if program is None:
        return
    if size is not None and size > imports.MAX_BYTES:
        _too_big(turn, kind)
        return
    try:
        sheet = turn.document(file_id, partial(imports.read_sheet, filename), imports.MAX_BYTES)
    except DocumentTooBig:
        _too_big(turn, kind)
        return
    except LookupError:
        turn.go(None)
        turn.say("catastro.import.no_files_here", buttons=[[_to_menu()]])
        return
    except Exception:  # a lost connection to the platform: she can simply send it again
        log.exception("could not download document %s", file_id)
        _start(turn, "file", kind=kind)
        turn.say("catastro.import.download_failed", buttons=[[_cancel()]])
        return
    if sheet is None:
        return  # read before the transaction, then this event is handled again
    make = imports.preview_organizations if kind == "o" else imports.preview_families
    preview = await make(turn.session, program.id, filename, sheet, turn.now)
    _show_preview(turn, kind, preview, file_id)


def _too_big(turn: Turn, kind: str) -> None:
    _start(turn, "file", kind=kind)
    turn.send(Outgoing(text=imports.too_big(), buttons=((_cancel(),),)))


def _fitting(turn: Turn, preview: ImportPreview) -> int:
    """How many problem lines the chat message can hold: long cells quoted in the problems
    must not push it past what the platform accepts."""
    cat = turn.services.catalogs
    limit = imports.SUMMARY_LINES
    room = turn.caps.text_chars - MARKS_CHARS
    while limit > 0 and len(cat.render(imports.preview_message(preview, limit), turn.locale,
                                       turn.timezone)) > room:
        limit -= 1
    return limit


def _show_preview(turn: Turn, kind: str, preview: ImportPreview, file_id: str) -> None:
    cat = turn.services.catalogs
    limit = _fitting(turn, preview)
    if imports.has_more_than_fits(preview, limit):
        turn.send(Outgoing(
            text=Msg("catastro.import.report_caption"),
            attachment=Attachment(cat.text(turn.locale, "imports.report.filename"),
                                  imports.preview_report_csv(preview, turn.locale, cat),
                                  "text/csv"),
        ))
    if not preview.can_commit:
        _start(turn, "file", kind=kind)
        turn.send(Outgoing(text=imports.preview_message(preview, limit)))
        turn.say("catastro.import.fix_and_resend", buttons=[[_cancel()]])
        return
    _start(turn, "confirm", kind=kind, preview=preview.to_json(), file_id=file_id,
           filename=preview.filename)
    turn.send(Outgoing(text=imports.preview_message(preview, limit),
                       buttons=_confirm_buttons(preview)))


def _confirm_buttons(preview: ImportPreview) -> tuple[tuple[Button, ...], ...]:
    n = len(preview.valid_rows)
    return ((Button(Msg("catastro.btn.import_rows", {"count": n}), action(KEY, "imc")),),
            (_cancel(),))


@verb("imc")
async def commit(turn: Turn, args: list[str]) -> None:
    if not _in(turn, "confirm") or not turn.data("preview"):
        turn.say("input.button_stale")
        return
    preview = ImportPreview.from_json(turn.data("preview"))
    try:
        result = await imported.commit_import(turn.session, preview, turn.now,
                                              actor_id=turn.person.id, channel=turn.event.channel)
    except StalePreview as exc:
        turn.audit("import_stale", "program", preview.program_id, rows=exc.rows)
        turn.say("catastro.import.stale")
        await _preview_file(turn, turn.data("kind"), turn.data("file_id"),
                            turn.data("filename") or preview.filename, None)
        return
    turn.go(None)
    turn.say("catastro.lines", lines=imports.result_message(result),
             buttons=[[_to_menu()], [back_to_panel()]])


async def _file_step(turn: Turn) -> None:
    if turn.event.kind == EventKind.DOCUMENT and turn.event.document is not None:
        await _preview_document(turn, turn.data("kind"))
        return
    kind = turn.data("kind")
    turn.say("catastro.import.send_as_document", buttons=[[_cancel()]])
    if kind not in KINDS:
        turn.go(None)


# --- one record at a time ---------------------------------------------------------------------


@verb("new")
async def new_record(turn: Turn, args: list[str]) -> None:
    kind = args[0] if args else ""
    if kind not in FIELDS or await program_or_say(turn, "catastro.no_program") is None:
        if kind not in FIELDS:
            turn.say("input.button_stale")
        return
    _start(turn, "field", k=kind, rid=None, f=FIELDS[kind][0].code, v={})
    _ask_field(turn)


def _ask_field(turn: Turn, problem: Msg | None = None) -> None:
    kind, f = turn.data("k"), _field(turn.data("k"), turn.data("f"))
    assert f is not None
    editing = turn.data("rid") is not None
    rows: list[list[Button]] = []
    if f.name == "kind":
        kinds = [Button(Msg(f"org_kind.{code}"), action(KEY, "ok", code))
                 for code in org_kinds.KINDS]
        rows += [kinds[i:i + 2] for i in range(0, len(kinds), 2)]
    if f.name == "pickup_mode":
        rows.append([Button(Msg("catastro.mode.retiro"), action(KEY, "pm", "r")),
                     Button(Msg("catastro.mode.domicilio"), action(KEY, "pm", "d"))])
    elif f.optional and editing:
        rows.append([Button(Msg("catastro.btn.clear"), action(KEY, "clr"))])
    elif f.optional and not _needs_contact(turn, f):
        rows.append([Button(Msg("catastro.btn.skip"), action(KEY, "sk"))])
    rows.append([_cancel()])
    ask = _number(f, turn.country).catastro_ask if f.name == "rut" else f.ask
    question = Msg(ask, {"kind": Msg(f"catastro.kind.{KINDS[kind]}")})
    if problem is not None:
        turn.say("catastro.problem_then_ask", problem=problem, question=question, buttons=rows)
    else:
        turn.send(Outgoing(text=question, buttons=tuple(tuple(r) for r in rows)))


def _needs_contact(turn: Turn, f: Field) -> bool:
    """A new family without a phone needs an address: the team must reach it somehow."""
    values = turn.data("v") or {}
    return (turn.data("k") == "f" and turn.data("rid") is None and f.name == "address"
            and not values.get("phone"))


async def _field_input(turn: Turn) -> None:
    f = _field(turn.data("k"), turn.data("f"))
    if f is None:
        turn.go(None)
        turn.say("input.not_understood")
        return
    if turn.event.kind != EventKind.TEXT or not (turn.event.text or "").strip():
        _ask_field(turn, Msg("catastro.bad.text_only"))
        return
    value, problem = parse_value(f, turn.event.text or "", turn.country)
    if problem is not None:
        _ask_field(turn, problem)
        return
    await _accept(turn, f, value)


async def _accept(turn: Turn, f: Field, value: Any) -> None:
    program = await program_or_say(turn, "catastro.no_program")
    if program is None:
        return
    kind, rid = turn.data("k"), turn.data("rid")
    if value is not None:
        other = await clash(turn, kind, program.id, f, value, rid)
        if other is not None:
            _ask_field(turn, Msg(f"catastro.exists.{f.name}", {"name": Raw(other)})
                       if f.name in ("rut", "phone") else Msg("catastro.exists.name",
                                                              {"name": Raw(other)}))
            return
    if rid is not None:
        rec = await _record(turn, kind, rid, program)
        if rec is None:
            turn.go(None)
            turn.say("input.button_stale")
            return
        setattr(rec, f.name, value)
        await turn.session.flush()
        turn.audit("catastro_updated", KINDS[kind], rec.id, field=f.name, cleared=value is None)
        turn.go(None)
        turn.say("catastro.saved")
        turn.send(_card(kind, rec))
        return
    values = dict(turn.data("v") or {})
    values[f.name] = value
    fields = FIELDS[kind]
    nxt = next((g for g in fields[fields.index(f) + 1:]), None)
    if nxt is not None:
        turn.go(FLOW, "field", f=nxt.code, v=values)
        _ask_field(turn)
        return
    await _create(turn, kind, program, values)


async def _create(turn: Turn, kind: str, program: Program, values: dict[str, Any]) -> None:
    fields = {k: v for k, v in values.items() if v is not None}
    if kind == "o":
        rec: Any = Organization(program_id=program.id, created_at=turn.now, **fields)
    else:
        fields.setdefault("pickup_mode", PickupMode.RETIRO)
        rec = Family(program_id=program.id, created_at=turn.now, **fields)
    turn.session.add(rec)
    await turn.session.flush()
    turn.audit("catastro_created", KINDS[kind], rec.id)
    turn.go(None)
    turn.say(f"catastro.created.{KINDS[kind]}")
    turn.send(_card(kind, rec))


@verb("sk")
async def skip(turn: Turn, args: list[str]) -> None:
    f = _field(turn.data("k"), turn.data("f")) if _in(turn, "field") else None
    if f is None or not f.optional or turn.data("rid") is not None:
        turn.say("input.button_stale")
        return
    if _needs_contact(turn, f):
        _ask_field(turn, Msg("catastro.bad.needs_contact"))
        return
    await _accept(turn, f, None)


@verb("clr")
async def clear(turn: Turn, args: list[str]) -> None:
    f = _field(turn.data("k"), turn.data("f")) if _in(turn, "field") else None
    if f is None or not f.optional or turn.data("rid") is None:
        turn.say("input.button_stale")
        return
    await _accept(turn, f, None)


@verb("ok")
async def kind_chosen(turn: Turn, args: list[str]) -> None:
    f = _field(turn.data("k"), turn.data("f")) if _in(turn, "field") else None
    code = args[0] if args else ""
    if f is None or f.name != "kind" or code not in org_kinds.KINDS:
        turn.say("input.button_stale")
        return
    await _accept(turn, f, code)


@verb("pm")
async def mode_chosen(turn: Turn, args: list[str]) -> None:
    f = _field(turn.data("k"), turn.data("f")) if _in(turn, "field") else None
    mode = {"r": PickupMode.RETIRO, "d": PickupMode.DOMICILIO}.get(args[0] if args else "")
    if f is None or f.name != "pickup_mode" or mode is None:
        turn.say("input.button_stale")
        return
    await _accept(turn, f, str(mode))


def _shown(f: Field, value: Any) -> Any:
    if value is None or value == "":
        return Msg("catastro.card.empty")
    if f.name == "pickup_mode":
        return Msg(f"catastro.mode.{value}")
    if f.name == "kind":
        return org_kinds.shown(value)
    return value if isinstance(value, int) else Raw(str(value))


def _card(kind: str, rec: Any) -> Outgoing:
    fields = FIELDS[kind]
    lines = [Msg("catastro.card.line", {"label": _label(f), "value": _shown(f, getattr(rec, f.name))})
             for f in fields if f.name != "name"]
    text = Msg(f"catastro.card.{KINDS[kind]}", {"name": Raw(rec.name), "lines": lines})
    edit = [Button(_label(f), action(KEY, "ef", kind, rec.id, f.code)) for f in fields]
    rows = [tuple(edit[i:i + 2]) for i in range(0, len(edit), 2)]
    rows.append((Button(Msg("catastro.btn.code"), action(KEY, "cd", kind, rec.id)),))
    rows.append((_to_menu(),))
    return Outgoing(text=text, buttons=tuple(rows))


@verb("ed")
async def show_record(turn: Turn, args: list[str]) -> None:
    program = await program_or_say(turn, "catastro.no_program")
    if program is None:
        return
    kind, rid = (args[0], int_at(args, 1)) if len(args) == 2 else ("", None)
    rec = await _record(turn, kind, rid, program) if kind in FIELDS and rid else None
    if rec is None:
        turn.say("input.button_stale")
        return
    turn.go(None)
    turn.send(_card(kind, rec))


@verb("ef")
async def edit_field(turn: Turn, args: list[str]) -> None:
    program = await program_or_say(turn, "catastro.no_program")
    if program is None:
        return
    kind, rid, code = (args[0], int_at(args, 1), args[2]) if len(args) == 3 else ("", None, "")
    f = _field(kind, code)
    rec = await _record(turn, kind, rid, program) if f is not None and rid else None
    if rec is None or f is None:
        turn.say("input.button_stale")
        return
    _start(turn, "field", k=kind, rid=rec.id, f=f.code)
    current = getattr(rec, f.name)
    if current not in (None, ""):
        turn.say("catastro.current_value", label=_label(f), value=_shown(f, current))
    _ask_field(turn)


# --- finding a record -------------------------------------------------------------------------


@verb("find")
async def find(turn: Turn, args: list[str]) -> None:
    kind, purpose = (args[0], args[1]) if len(args) >= 2 else ("", "")
    ficha = int_at(args, 2) if len(args) == 3 and purpose == "l" else None
    if kind not in FIELDS or purpose not in ("e", "c", "l") or (purpose == "l") != bool(ficha):
        turn.say("input.button_stale")
        return
    program = await program_or_say(turn, "catastro.no_program")
    if program is None:
        return
    everything = await _names(turn, kind, program)
    if not everything:
        turn.go(None)
        turn.say(f"catastro.search.empty_{KINDS[kind]}", buttons=[[_to_menu()]])
        return
    _start(turn, "search", k=kind, p=purpose, fr=ficha)
    if len(everything) <= SEARCH_SHOWN:
        turn.say("catastro.search.pick",
                 buttons=_result_buttons(kind, purpose, everything, ficha))
        return
    turn.say(f"catastro.search.ask_{KINDS[kind]}", buttons=[[_cancel()]])


async def _names(turn: Turn, kind: str, program: Program) -> list[tuple[int, str]]:
    model = MODELS[kind]
    rows = await turn.session.execute(
        select(model.id, model.name).where(model.program_id == program.id))
    return sorted(((i, n) for i, n in rows), key=lambda r: (sort_key(r[1], turn.locale), r[0]))


def _result_buttons(kind: str, purpose: str, found: list[tuple[int, str]],
                    ficha: int | None = None) -> list[list[Button]]:
    def act(rid: int) -> str:
        if purpose == "l":  # the organisation a ficha belongs to
            return action(KEY, "fio", ficha, rid)
        return action(KEY, "ed" if purpose == "e" else "cd", kind, rid)

    rows = [[Button(Msg("catastro.search.result", {"name": Raw(name[:60])}), act(rid))]
            for rid, name in found[:SEARCH_SHOWN]]
    rows.append([_cancel()])
    return rows


async def _search_input(turn: Turn) -> None:
    kind, purpose = turn.data("k"), turn.data("p")
    query = names.normalise_name(turn.event.text or "") if turn.event.kind == EventKind.TEXT \
        else ""
    if not query or kind not in FIELDS:
        turn.say(f"catastro.search.ask_{KINDS.get(kind, 'organization')}", buttons=[[_cancel()]])
        return
    program = await program_or_say(turn, "catastro.no_program")
    if program is None:
        return
    found = [(i, n) for i, n in await _names(turn, kind, program)
             if query in names.normalise_name(n)]
    if not found:
        turn.say("catastro.search.none", query=Raw((turn.event.text or "")[:60]),
                 buttons=[[_cancel()]])
        return
    ficha = turn.data("fr")
    if len(found) > SEARCH_SHOWN:
        turn.say("catastro.search.many", count=len(found),
                 buttons=_result_buttons(kind, purpose, found, ficha))
        return
    turn.say("catastro.search.pick", buttons=_result_buttons(kind, purpose, found, ficha))


# --- fichas from organisations not in the catastro yet ---------------------------------------


@verb("fis")
async def pending_fichas(turn: Turn, args: list[str]) -> None:
    program = await program_or_say(turn, "catastro.no_program")
    if program is None:
        return
    turn.go(None)
    waiting = await fichas.pending(turn.session, program.id)
    if not waiting:
        turn.say("catastro.fichas.none", buttons=[[_to_menu()]])
        return
    # Each ficha numbered by the form it was answered on, whatever files there are now.
    answered = {r.id: await form_of_response(turn.session, r) for r in waiting}
    rows = [[Button(Msg("catastro.fichas.item", {
        "number": Raw(responses.receipt_number(answered[r.id], r)),
        "name": Raw((fichas.typed_name(r) or "?")[:40])}), action(KEY, "fi", r.id))]
        for r in waiting[:SEARCH_SHOWN * 2]]
    rows.append([_to_menu()])
    turn.say("catastro.fichas.list", count=len(waiting), buttons=rows)


async def _pending(turn: Turn, args: list[str]) -> tuple[Program, Any] | None:
    """The programme and the unlinked ficha a button names; a kind word if it is gone."""
    program = await program_or_say(turn, "catastro.no_program")
    if program is None:
        return None
    rid = int_at(args, 0)
    response = await turn.session.get(FormResponse, rid) if rid else None
    if response is None or response.program_id != program.id:
        turn.say("input.button_stale")
        return None
    if response.organization_id is not None or response.status != FormStatus.SUBMITTED:
        org = await turn.session.get(Organization, response.organization_id) \
            if response.organization_id else None
        turn.go(None)
        turn.say("catastro.fichas.already", name=Raw(org.name if org else "?"),
                 buttons=[[_to_menu()]])
        return None
    return program, response


@verb("fi")
async def show_ficha(turn: Turn, args: list[str]) -> None:
    found = await _pending(turn, args)
    if found is None:
        return
    program, response = found
    turn.go(None)
    form = await form_of_response(turn.session, response)
    rows = await responses.answers_for_export(turn.session, response.id, turn.locale,
                                              turn.services.catalogs)
    sender = await turn.session.get(Person, response.person_id) if response.person_id else None
    lines = [Msg("catastro.card.line", {"label": Raw(label), "value": Raw(value)})
             for _, label, value in rows]
    typed = fichas.typed_name(response)
    twin = await fichas.same_name(turn.session, program.id, typed) if typed else None
    buttons = []
    if twin is not None:
        buttons.append([Button(Msg("catastro.fichas.btn_is", {"name": Raw(twin.name[:40])}),
                               action(KEY, "fio", response.id, twin.id))])
    else:
        buttons.append([Button(Msg("catastro.fichas.btn_accept"), action(KEY, "fia", response.id))])
    buttons.append([Button(Msg("catastro.fichas.btn_link"), action(KEY, "find", "o", "l",
                                                                   response.id))])
    buttons.append([Button(Msg("catastro.fichas.btn_list"), action(KEY, "fis"))])
    turn.say("catastro.fichas.card", number=Raw(responses.receipt_number(form, response)),
             when=When(response.submitted_at or response.updated_at),
             sender=Raw(fichas.sender_name(response, sender)),
             organization=Raw(typed or "?"), lines=lines, buttons=buttons)


@verb("fia")
async def accept_ficha(turn: Turn, args: list[str]) -> None:
    await _take_in(turn, args, None)


@verb("fio")
async def link_ficha(turn: Turn, args: list[str]) -> None:
    org_id = int_at(args, 1) if len(args) == 2 else None
    if org_id is None:
        turn.say("input.button_stale")
        return
    await _take_in(turn, args[:1], org_id)


async def _take_in(turn: Turn, args: list[str], organization_id: int | None) -> None:
    found = await _pending(turn, args)
    if found is None:
        return
    program, response = found
    try:
        org = await fichas.accept(turn.session, response.id, program.id, now=turn.now,
                                  organization_id=organization_id, actor_id=turn.person.id,
                                  channel=turn.event.channel)
    except fichas.FichaError as exc:
        if exc.code == "exists":
            twin = await fichas.same_name(turn.session, program.id, exc.name)
            turn.say("catastro.fichas.exists", name=Raw(exc.name), buttons=[
                [Button(Msg("catastro.fichas.btn_is", {"name": Raw(exc.name[:40])}),
                        action(KEY, "fio", response.id, twin.id if twin else 0))],
                [_to_menu()]])
            return
        turn.say("input.button_stale")
        return
    turn.go(None)
    turn.say("catastro.fichas.accepted" if organization_id is None else "catastro.fichas.linked",
             name=Raw(org.name))
    turn.send(_card("o", org))


# --- linking codes -----------------------------------------------------------------------------


@verb("codes")
async def codes_menu(turn: Turn, args: list[str]) -> None:
    program = await program_or_say(turn, "catastro.no_program")
    if program is None:
        return
    turn.go(None)
    rows = [
        [Button(Msg("catastro.btn.code_org"), action(KEY, "find", "o", "c"))],
        [Button(Msg("catastro.btn.code_family"), action(KEY, "find", "f", "c"))],
    ]
    for body in await programs.bodies(turn.session, program.id):
        rows.append([Button(Msg("catastro.btn.code_body", {"name": Text(body_names(program, body))}),
                            action(KEY, "cd", "b", body.id))])
    rows.append([Button(Msg("catastro.btn.qr_families"), action(KEY, "qr", "f"))])
    rows.append([Button(Msg("catastro.btn.qr_orgs"), action(KEY, "qr", "o"))])
    rows.append([_to_menu()])
    turn.say("catastro.codes.menu", buttons=rows)


@verb("cd")
async def show_code(turn: Turn, args: list[str]) -> None:
    program = await program_or_say(turn, "catastro.no_program")
    if program is None:
        return
    kind, rid = (args[0], int_at(args, 1)) if len(args) == 2 else ("", None)
    rec = await _record(turn, kind, rid, program) if kind in LINK_TARGETS and rid else None
    if rec is None:
        turn.say("input.button_stale")
        return
    turn.go(None)
    link = await links.code_for(turn.session, program.id, LINK_TARGETS[kind], rec.id, turn.now)
    turn.audit("link_code_shown", LINK_TARGETS[kind], rec.id)
    name: Any = Text(body_names(program, rec)) if kind == "b" else Raw(rec.name)
    if kind == "f":
        note = Msg("catastro.code.family_linked" if rec.person_id is not None
                   else "catastro.code.family_once")
    else:
        note = Msg(f"catastro.code.note_{LINK_TARGETS[kind]}")
    back = [[Button(Msg("catastro.btn.codes"), action(KEY, "codes"))]]
    builder = turn.services.link_to_hand(turn.event.channel)
    url = builder(link.code) if builder else None
    if url:
        turn.say("catastro.code.link", name=name, code=link.code, link=url, note=note,
                 buttons=back)
    else:
        turn.say("catastro.code.typed", name=name, code=link.code, note=note, buttons=back)


@verb("qr")
async def qr_pdf(turn: Turn, args: list[str]) -> None:
    program = await program_or_say(turn, "catastro.no_program")
    if program is None:
        return
    kind = args[0] if args else ""
    turn.go(None)
    if kind == "f" and len(args) == 1:
        rows = [[Button(Msg("catastro.btn.qr_all_families"), action(KEY, "qr", "f", "all"))]]
        for sector, count in await targeting.sectors(turn.session, program.id):
            rows.append([Button(Msg("catastro.btn.qr_sector",
                                    {"sector": Raw(sector[:40]), "count": count}),
                                action(KEY, "qr", "f", targets.sector_key(sector)))])
        rows.append([_to_menu()])
        turn.say("catastro.qr.which_sector", buttons=rows)
        return
    if kind == "f":
        sector = None
        if args[1] != "all":
            sector = await targeting.sector_by_key(turn.session, program.id, args[1])
            if sector is None:
                turn.say("input.button_stale")
                return
        ids = await family_ids(turn.session, program.id, sector)
        target = "family"
    elif kind == "o":
        ids = [i for i, _ in await _names(turn, "o", program)]
        target = "organization"
    else:
        turn.say("input.button_stale")
        return
    if not ids:
        turn.say(f"catastro.qr.none_{target}", buttons=[[_to_menu()]])
        return
    cat = turn.services.catalogs
    builder = turn.services.link_to_hand(turn.event.channel)
    if builder is None:
        cards = []
        for rid in ids[:CODES_LISTED]:
            code = await links.code_for(turn.session, program.id, target, rid, turn.now)
            rec = await turn.session.get(MODELS["f" if target == "family" else "o"], rid)
            cards.append(Msg("catastro.qr.text_line", {"name": Raw(rec.name), "code": code.code}))
        if len(ids) > CODES_LISTED:
            cards.append(Msg("catastro.qr.text_more", {"count": len(ids) - CODES_LISTED}))
        turn.say("catastro.qr.no_bot", lines=cards, buttons=[[_to_menu()]])
        return
    pdf = await qr_codes.codes_pdf(turn.session, program.id, target, ids, builder, turn.locale,
                                   now=turn.now, catalogs=cat)
    turn.audit("link_codes_pdf", target, None, count=len(ids))
    turn.send(Outgoing(
        text=Msg("catastro.qr.caption", {"count": len(ids)}),
        attachment=Attachment(cat.text(turn.locale, "codes.pdf.filename"), pdf,
                              "application/pdf"),
    ))


# --- free input -------------------------------------------------------------------------------


@router.flow(FLOW)
async def on_input(turn: Turn) -> None:
    if not guard(turn, ADMIN, f"{FLOW}:{turn.convo.step}"):
        turn.go(None)
        return
    step = turn.convo.step
    if step == "file":
        await _file_step(turn)
    elif step == "file_kind":
        _ask_file_kind(turn)
    elif step == "confirm":
        if turn.event.kind == EventKind.DOCUMENT and turn.event.document is not None:
            await _preview_document(turn, turn.data("kind"))
            return
        preview = ImportPreview.from_json(turn.data("preview"))
        turn.say("catastro.import.use_buttons", buttons=[list(r) for r in _confirm_buttons(preview)])
    elif step == "field":
        await _field_input(turn)
    elif step == "search":
        await _search_input(turn)
    else:
        turn.go(None)
        turn.say("input.not_understood")


async def stray_document(turn: Turn) -> bool:
    """A document sent outside any wizard: a spreadsheet for the team is read here; False
    leaves anything else to the general answer."""
    return (turn.event.kind == EventKind.DOCUMENT and turn.event.document is not None
            and await on_document(turn))
