"""The verificadores sent to the gestora in chat as documents (section ``exports``): the
attendance list of a meeting, the fichas de interés, the invited organisations, a delivery
day's list and the figures of the informe de avance with its chart. The files themselves
come from documents.exports, the same code the command line (`convoca export ...`) runs.

Actions: ``adm:exports:<op>:...``: ``att``/``dd`` list meetings or days (a trailing ``e``
turns the page in place), ``am``/``ddd`` ask the format, ``a``/``d`` send; ``fi``, ``org`` and
``pr`` ask the format, then send with it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from documents import exports, verificadores
from documents.exports import ExportFile
from handlers.admin import (
    ADMIN,
    action,
    back_to_panel,
    current_program,
    guard,
    int_at,
    pager,
    section,
)
from handlers.admin.delivery import day_button_label
from handlers.core import Router, Turn
from handlers.events import Attachment, Button, Outgoing
from locales import Day, Msg, Raw, Text, When
from storage.meetings import kind_names
from storage.models import DeliveryDay, Meeting, Program

EXPORTS = "exports"
PAGE = 8
LISTING_FORMATS = ("pdf", "xlsx", "csv")
ORG_FORMATS = ("xlsx", "pdf", "csv")
PROGRESS_FORMATS = ("pdf", "xlsx", "png")

# Every step here is a button; the router exists so the wiring is the same for all sections.
router = Router()


def act(*parts: object) -> str:
    return action(EXPORTS, *parts)


def _send(turn: Turn, file: ExportFile, caption: Msg) -> None:
    turn.send(Outgoing(text=caption,
                       attachment=Attachment(file.filename, file.content, file.mime_type)))


def _format_buttons(formats: tuple[str, ...], make: Callable[[str], str]) -> list[list[Button]]:
    return [[Button(Msg(f"adm_exports.fmt_{f}"), make(f)) for f in formats],
            [Button(Msg("adm_exports.btn_back"), act())]]


@section(EXPORTS, "adm_exports.section", roles=ADMIN, order=70)
async def open_exports(turn: Turn, parts: list[str]) -> None:
    if not guard(turn, ADMIN, "exports:" + ":".join(parts[:1])):
        return
    program = await current_program(turn)
    if program is None:
        turn.say("adm_delivery.no_program", buttons=[[back_to_panel()]])
        return
    op, args = (parts[0], parts[1:]) if parts else ("", [])
    handler = _OPS.get(op)
    if handler is None:
        turn.say("input.button_stale")
        return
    await handler(turn, program, args)


async def _menu(turn: Turn, program: Program, args: list[str]) -> None:
    turn.go(None)
    turn.say("adm_exports.menu", buttons=[
        [Button(Msg("adm_exports.btn_attendance"), act("att", 0))],
        [Button(Msg("adm_exports.btn_fichas"), act("fi"))],
        [Button(Msg("adm_exports.btn_organizations"), act("org"))],
        [Button(Msg("adm_exports.btn_delivery"), act("dd", 0))],
        [Button(Msg("adm_exports.btn_progress"), act("pr"))],
        [Button(Msg("adm_exports.btn_verificadores"), act("vs"))],
        [back_to_panel()],
    ])


# --- attendance lists -----------------------------------------------------------------------


def _meeting_label(program: Program, m: Meeting) -> Msg:
    # With the year: the lists reach back over a programme that spans two calendar years.
    local = m.starts_at.astimezone(ZoneInfo(program.timezone)).date()
    what = Raw(m.title[:30]) if m.title else Text(kind_names(program, m.kind))
    return Msg("adm_exports.btn_meeting", {"day": Day(local, "short_year"),
                                           "time": When(m.starts_at, "time"), "what": what})


async def _pick(turn: Turn, args: list[str], model: Any, newest_first: tuple[Any, ...],
                program: Program, *, label: Callable[[Any], Msg], pick: str, page_verb: str,
                title: str, empty: str) -> None:
    """A page of the programme's meetings or delivery days, newest first (the list the
    gestora needs is usually of what just happened), each a button to pick it."""
    page = int_at(args, 0) or 0
    of_program = model.program_id == program.id
    total = int(await turn.session.scalar(
        select(func.count()).select_from(model).where(of_program)) or 0)
    if not total:
        turn.say(empty, buttons=[[Button(Msg("adm_exports.btn_back"), act())]])
        return
    pages = max((total + PAGE - 1) // PAGE, 1)
    page = min(page, pages - 1)
    rows = (await turn.session.scalars(
        select(model).where(of_program).order_by(*newest_first)
        .offset(page * PAGE).limit(PAGE))).all()
    buttons = [[Button(label(r), act(pick, r.id))] for r in rows]
    buttons.append([Button(Msg("adm_exports.btn_back"), act())])
    out = Outgoing(text=Msg(title), buttons=tuple(tuple(r) for r in buttons),
                   pager=pager(page, pages, lambda p: act(page_verb, p, "e")))
    # Turning a page redraws the list; opening it sends a new one.
    turn.redraw(out) if len(args) > 1 and args[1] == "e" else turn.send(out)


async def _meetings(turn: Turn, program: Program, args: list[str]) -> None:
    await _pick(turn, args, Meeting, (Meeting.starts_at.desc(), Meeting.id.desc()), program,
                label=lambda m: _meeting_label(program, m), pick="am", page_verb="att",
                title="adm_exports.pick_meeting", empty="adm_exports.no_meetings")


async def _meeting(turn: Turn, program: Program, meeting_id: int | None) -> Meeting | None:
    m = await turn.session.get(Meeting, meeting_id) if meeting_id else None
    if m is None or m.program_id != program.id:
        turn.say("input.button_stale")
        return None
    return m


async def _meeting_format(turn: Turn, program: Program, args: list[str]) -> None:
    m = await _meeting(turn, program, int_at(args, 0))
    if m is None:
        return
    turn.say("adm_exports.ask_format_attendance", what=_meeting_label(program, m),
             buttons=_format_buttons(LISTING_FORMATS, lambda f: act("a", m.id, f)))


async def _attendance(turn: Turn, program: Program, args: list[str]) -> None:
    m = await _meeting(turn, program, int_at(args, 0))
    fmt = args[1] if len(args) > 1 else ""
    if m is None:
        return
    if fmt not in LISTING_FORMATS:
        turn.say("input.button_stale")
        return
    file = await exports.attendance_list(turn.session, m.id, fmt, now=turn.now,
                                         locale=turn.locale, catalogs=turn.services.catalogs)
    turn.audit("export", "meeting", m.id, what="attendance", format=fmt)
    _send(turn, file, Msg("adm_exports.sent_attendance", {"what": _meeting_label(program, m)}))


# --- fichas, organisations, progress ----------------------------------------------------------


async def _fichas(turn: Turn, program: Program, args: list[str]) -> None:
    fmt = args[0] if args else ""
    if not fmt:
        turn.say("adm_exports.ask_format_fichas", buttons=[
            [Button(Msg("adm_exports.btn_fichas_pdf"), act("fi", "pdf"))],
            [Button(Msg("adm_exports.btn_fichas_xlsx"), act("fi", "xlsx"))],
            [Button(Msg("adm_exports.btn_back"), act())],
        ])
        return
    kw = dict(now=turn.now, locale=turn.locale, catalogs=turn.services.catalogs)
    if fmt == "pdf":
        files = await exports.ficha_pdfs(turn.session, program.id, **kw)
        if not files:
            turn.say("adm_exports.no_fichas")
            return
        turn.say("adm_exports.sending_fichas", count=len(files))
        for f in files:
            _send(turn, f, Msg("adm_exports.sent_ficha"))
    elif fmt == "xlsx":
        files = [await exports.fichas_xlsx(turn.session, program.id, **kw)]
        _send(turn, files[0], Msg("adm_exports.sent_fichas_xlsx"))
    else:
        turn.say("input.button_stale")
        return
    turn.audit("export", "program", program.id, what="fichas", format=fmt, files=len(files))


async def _organizations(turn: Turn, program: Program, args: list[str]) -> None:
    fmt = args[0] if args else ""
    if not fmt:
        turn.say("adm_exports.ask_format_organizations",
                 buttons=_format_buttons(ORG_FORMATS, lambda f: act("org", f)))
        return
    if fmt not in ORG_FORMATS:
        turn.say("input.button_stale")
        return
    file = await exports.invited_organizations(turn.session, program.id, fmt, now=turn.now,
                                               locale=turn.locale,
                                               catalogs=turn.services.catalogs)
    turn.audit("export", "program", program.id, what="organizations", format=fmt)
    _send(turn, file, Msg("adm_exports.sent_organizations"))


async def _progress(turn: Turn, program: Program, args: list[str]) -> None:
    fmt = args[0] if args else ""
    if not fmt:
        turn.say("adm_exports.ask_format_progress",
                 buttons=_format_buttons(PROGRESS_FORMATS, lambda f: act("pr", f)))
        return
    kw = dict(now=turn.now, locale=turn.locale, catalogs=turn.services.catalogs)
    if fmt == "png":
        file = await exports.progress_chart(turn.session, program.id, **kw)
    elif fmt in ("pdf", "xlsx"):
        file = await exports.progress_report(turn.session, program.id, fmt, **kw)
    else:
        turn.say("input.button_stale")
        return
    turn.audit("export", "program", program.id, what="progress", format=fmt)
    _send(turn, file, Msg("adm_exports.sent_chart" if fmt == "png"
                          else "adm_exports.sent_progress"))


# --- delivery-day lists -----------------------------------------------------------------------


async def _days(turn: Turn, program: Program, args: list[str]) -> None:
    await _pick(turn, args, DeliveryDay,
                (DeliveryDay.window_start.desc(), DeliveryDay.id.desc()), program,
                label=lambda d: day_button_label(d, program.timezone, with_year=True),
                pick="ddd", page_verb="dd", title="adm_exports.pick_day",
                empty="adm_exports.no_days")


async def _day(turn: Turn, program: Program, day_id: int | None) -> DeliveryDay | None:
    day = await turn.session.get(DeliveryDay, day_id) if day_id else None
    if day is None or day.program_id != program.id:
        turn.say("input.button_stale")
        return None
    return day


async def _day_format(turn: Turn, program: Program, args: list[str]) -> None:
    day = await _day(turn, program, int_at(args, 0))
    if day is None:
        return
    turn.say("adm_exports.ask_format_day",
             what=day_button_label(day, program.timezone, with_year=True),
             buttons=_format_buttons(LISTING_FORMATS, lambda f: act("d", day.id, f)))


async def _day_list(turn: Turn, program: Program, args: list[str]) -> None:
    day = await _day(turn, program, int_at(args, 0))
    fmt = args[1] if len(args) > 1 else ""
    if day is None:
        return
    if fmt not in LISTING_FORMATS:
        turn.say("input.button_stale")
        return
    file = await exports.delivery_day_list(turn.session, day.id, fmt, now=turn.now,
                                           locale=turn.locale, catalogs=turn.services.catalogs)
    turn.audit("export", "delivery_day", day.id, what="delivery_day", format=fmt)
    _send(turn, file, Msg("adm_exports.sent_day", {
        "what": day_button_label(day, program.timezone, with_year=True)}))


# --- every verificador, stage by stage --------------------------------------------------------


def _ctx(turn: Turn, program: Program) -> exports.Ctx:
    return exports.Ctx(turn.services.catalogs, turn.locale, program.timezone, turn.now)


async def _required(turn: Turn, program: Program, stage: int | None
                    ) -> list[verificadores.Required]:
    every = await verificadores.required(turn.session, program, _ctx(turn, program))
    return [r for r in every if stage is None or r.stage == stage]


async def _stages(turn: Turn, program: Program, args: list[str]) -> None:
    """The stages, each with how many of its verificadores exist already."""
    every = await _required(turn, program, None)
    stages: dict[int, list[verificadores.Required]] = {}
    for r in every:
        stages.setdefault(r.stage or 0, []).append(r)
    if not stages:
        turn.say("adm_exports.no_verificadores", buttons=[[Button(Msg("adm_exports.btn_back"),
                                                                  act())]])
        return
    buttons = [[Button(Msg("adm_exports.btn_stage", {
        "number": str(n), "name": Raw(rows[0].stage_name[:40]),
        "done": sum(1 for r in rows if r.evidence), "total": len(rows)}), act("vst", n))]
        for n, rows in sorted(stages.items())]
    buttons.append([Button(Msg("adm_exports.btn_back"), act())])
    turn.say("adm_exports.pick_stage", buttons=buttons)


def _state_label(r: verificadores.Required) -> Msg:
    name = Raw(r.label[:56])
    if r.producer is None:
        return Msg("adm_exports.btn_verifier_outside", {"name": name})
    if r.evidence:
        return Msg("adm_exports.btn_verifier_done", {"name": name, "count": len(r.evidence)})
    return Msg("adm_exports.btn_verifier_missing", {"name": name})


async def _stage(turn: Turn, program: Program, args: list[str]) -> None:
    stage = int_at(args, 0)
    rows = await _required(turn, program, stage)
    if stage is None or not rows:
        turn.say("input.button_stale")
        return
    buttons = [[Button(_state_label(r), act("vv", stage, i))] for i, r in enumerate(rows)]
    buttons.append([Button(Msg("adm_exports.btn_back"), act("vs"))])
    turn.say("adm_exports.pick_verifier", number=str(stage), name=Raw(rows[0].stage_name),
             buttons=buttons)


async def _one(turn: Turn, program: Program, args: list[str]
               ) -> tuple[int, int, verificadores.Required] | None:
    stage, index = int_at(args, 0), int_at(args, 1)
    rows = await _required(turn, program, stage) if stage is not None else []
    if stage is None or index is None or index >= len(rows):
        turn.say("input.button_stale")
        return None
    return stage, index, rows[index]


async def _verifier(turn: Turn, program: Program, args: list[str]) -> None:
    """One verificador: made outside, still missing, or what it can be made of."""
    found = await _one(turn, program, args)
    if found is None:
        return
    stage, index, r = found
    back = [Button(Msg("adm_exports.btn_back"), act("vst", stage))]
    if r.producer is None:
        turn.say("adm_exports.verifier_outside", name=Raw(r.name), buttons=[back])
        return
    if not r.evidence:
        turn.say("adm_exports.verifier_missing", name=Raw(r.name), buttons=[back])
        return
    if len(r.evidence) == 1:
        await _verifier_formats(turn, program, [str(stage), str(index),
                                                str(r.evidence[0].subject_id or 0)])
        return
    buttons = [[Button(Raw(e.label[:60]), act("vf", stage, index, e.subject_id or 0))]
               for e in r.evidence[-12:]]
    buttons.append(back)
    turn.say("adm_exports.pick_evidence", name=Raw(r.name), buttons=buttons)


async def _verifier_formats(turn: Turn, program: Program, args: list[str]) -> None:
    found = await _one(turn, program, args)
    subject = int_at(args, 2)
    if found is None or subject is None:
        if found is not None:
            turn.say("input.button_stale")
        return
    stage, index, r = found
    if r.producer is None or (subject and subject not in {e.subject_id for e in r.evidence}):
        turn.say("input.button_stale")
        return
    buttons = [[Button(Msg(f"adm_exports.fmt_{f}"), act("vm", stage, index, subject, f))
                for f in r.producer.formats]]
    if r.producer.blank:
        buttons.append([Button(Msg("adm_exports.btn_blank"),
                               act("vm", stage, index, subject, "blank"))])
    buttons.append([Button(Msg("adm_exports.btn_back"), act("vst", stage))])
    turn.say("adm_exports.ask_format_verifier", name=Raw(r.name), buttons=buttons)


async def _verifier_make(turn: Turn, program: Program, args: list[str]) -> None:
    found = await _one(turn, program, args)
    subject = int_at(args, 2)
    fmt = args[3] if len(args) > 3 else ""
    if found is None:
        return
    _stage_n, _index, r = found
    if subject is None:
        turn.say("input.button_stale")
        return
    try:
        files = await verificadores.make_for(turn.session, program, _ctx(turn, program), r,
                                             subject, fmt)
    except (ValueError, LookupError):
        # A button from before the record changed (or not from this menu at all): the
        # document it names cannot be made as asked.
        turn.say("input.button_stale")
        return
    turn.audit("export", "program", program.id, what=r.verifier, format=fmt,
               subject=subject or None, files=len(files))
    for f in files:
        _send(turn, f, Msg("adm_exports.sent_verifier", {"name": Raw(r.name)}))


_OPS = {
    "": _menu, "att": _meetings, "am": _meeting_format, "a": _attendance, "fi": _fichas,
    "org": _organizations, "pr": _progress, "dd": _days, "ddd": _day_format, "d": _day_list,
    "vs": _stages, "vst": _stage, "vv": _verifier, "vf": _verifier_formats,
    "vm": _verifier_make,
}
