"""Reuniones: the programme's meetings by body, creating one or a series, moving and
cancelling (everyone invited is told), the confirmations board live, asking again, the
attendance at the door and the printable list.

Every change is services.meetings' or storage.admin_meetings', the same the chat's panel
and `convoca meeting|attendance` call, so a meeting made here is invited, moved and counted
exactly like one made there."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from documents import exports
from domain import schedule
from domain.meetings import (
    AGENDA_MAX,
    CANCEL_REASON_MAX,
    INVITE_EVERYONE,
    INVITE_MEMBERS,
    PLACE_MAX,
    MeetingError,
)
from locales import Msg, Text
from services import dates
from services import meetings as use
from storage import admin_meetings as data
from storage import meetings as meeting_store
from storage import programs
from storage.models import Body, Meeting, MeetingStatus
from web import render
from web.context import Page, Refusal, page
from web.downloads import asked_format, attachment
from web.outbox import deliver_after
from web.sections import MEETINGS

INVITE_LATER = "later"
INVITE_CHOICES = (INVITE_MEMBERS, INVITE_EVERYONE, INVITE_LATER)
LIST_FORMATS = ("pdf", "xlsx")
# What a change tells when it sends the gestora back to the meeting (?aviso=...&n=...).
NOTICES = ("created", "created_series", "invited", "reasked", "reasked_today", "moved",
           "cancelled", "closed", "guest_added", "guest_removed")
SEARCH_SHOWN = 10  # people found by name to add at the door
BOARD_EVERY = 5  # seconds between the board's refreshes while people still answer
# Seconds between refreshes of the attendance list: two tablets at the door see each
# other's marks.
ATTENDANCE_EVERY = 10


# --- what the pages show ----------------------------------------------------------------


@dataclass(frozen=True)
class MeetingRow:
    id: int
    what: Msg
    starts_at: datetime
    place: str | None
    status: str
    yes: int
    no: int
    maybe: int
    pending: int
    invited: int
    present: int
    marked: bool  # attendance was taken


@dataclass
class BodyGroup:
    key: str
    name: Msg
    upcoming: list[MeetingRow] = field(default_factory=list)
    past: list[MeetingRow] = field(default_factory=list)


async def _what(p: Page, meeting: Meeting) -> Msg:
    kind_name, _ = await use.names(p.db, meeting)
    return render.said(use.what_named(meeting, kind_name))


def _body_name(p: Page, body: Body) -> Msg:
    return render.said(Text(meeting_store.body_names(p.program, body)))


def _day_start(p: Page) -> datetime:
    return schedule.to_utc(p.today, time(0, 0), p.zone)


async def _meeting(p: Page) -> Meeting:
    meeting = await p.db.get(Meeting, p.request.path_params["mid"])
    if meeting is None or meeting.program_id != p.program.id:
        raise Refusal(404, "web.meetings.not_found")
    return meeting


def _meeting_url(p: Page, meeting: Meeting, rest: str = "", **query: Any) -> str:
    url = f"{p.base()}/{MEETINGS.key}/{meeting.id}/{rest}"
    return url + ("?" + urlencode(query) if query else "")


def _form(p: Page, name: str) -> str:
    value = p.form.get(name) if p.form is not None else None
    return value.strip() if isinstance(value, str) else ""


def _notice(p: Page) -> Msg | None:
    key = p.request.query_params.get("aviso", "")
    if key not in NOTICES:
        return None
    try:
        count = int(p.request.query_params.get("n", "0"))
    except ValueError:
        count = 0
    return Msg(f"web.meetings.done_{key}", {"count": count})


def _error(exc: MeetingError) -> Msg:
    # The chat's own words for what cannot be done, so both say it alike.
    if exc.code == "no_cadence":
        return Msg("web.meetings.err_no_cadence")
    return Msg(f"adm_meet.err_{exc.code}")


# --- the list -------------------------------------------------------------------------------


@page(MEETINGS)
async def meeting_list(p: Page) -> Response:
    bodies = await programs.bodies(p.db, p.program.id)
    groups = {b.id: BodyGroup(str(b.id), _body_name(p, b)) for b in bodies}
    others = BodyGroup("0", Msg("web.meetings.no_body"))
    all_ = await data.all_meetings(p.db, p.program.id)
    boards = await data.boards(p.db, all_)
    today = _day_start(p)
    for m in all_:
        b = boards[m.id]
        tally = b.tally
        row = MeetingRow(m.id, await _what(p, m), m.starts_at, m.place, m.status,
                         len(b.yes), len(b.no), len(b.maybe), len(b.pending), tally.invited,
                         tally.present, any(e.present is not None for e in b.everyone))
        group = groups.get(m.body_id or 0, others)
        if m.starts_at >= today and m.status == MeetingStatus.SCHEDULED:
            group.upcoming.append(row)
        else:
            group.past.append(row)
    shown = [g for g in [*groups.values(), others] if g.upcoming or g.past]
    for g in shown:
        g.past.reverse()  # the latest first
    return p.render("meetings/list.html", groups=shown, notice=_notice(p))


# --- creating -----------------------------------------------------------------------------------


@dataclass
class Typed:
    """What the gestora typed, read in the programme's zone; ``errors`` by field."""

    values: dict[str, str]
    errors: dict[str, Msg] = field(default_factory=dict)
    starts_at: datetime | None = None


def _read_start(p: Page, typed: Typed) -> None:
    """The date and time fields, as people write them, in the programme's zone."""
    day: date | None = None
    at: time | None = None
    try:
        when = dates.parse_when(typed.values["date"], p.today)
        day, at = when.day, when.at
    except dates.DateProblem as problem:
        typed.errors["date"] = dates.date_problem(problem)
    if day is not None and day < p.today:
        typed.errors["date"] = Msg("adm_meet.day_past")
        day = None
    if typed.values["time"]:
        at = dates.parse_time(typed.values["time"])
        if at is None:
            typed.errors["time"] = Msg("adm_meet.time_not_understood")
    elif at is None:
        typed.errors["time"] = Msg("adm_meet.time_not_understood")
    if day is not None and at is not None:
        starts = schedule.to_utc(day, at, p.zone)
        if starts <= p.now:
            typed.errors["time"] = Msg("adm_meet.time_past")
        else:
            typed.starts_at = starts


async def _new_form(p: Page, typed: Typed | None = None, status: int = 200) -> Response:
    bodies = await programs.bodies(p.db, p.program.id)
    kinds = [(k, render.said(Text(meeting_store.kind_names(p.program, k))))
             for k in data.meeting_kinds(p.program)]
    cadences = {b.id: b.cadence_months for b in bodies if b.cadence_months}
    if typed is None:
        first = bodies[0] if bodies else None
        typed = Typed({"body": str(first.id) if first else "", "kind": "", "date": "",
                       "time": "", "place": "", "agenda": "", "repeat": "",
                       "invite": INVITE_MEMBERS if first else INVITE_EVERYONE})
    return p.render("meetings/new.html", status=status, typed=typed,
                    bodies=[(b.id, _body_name(p, b), cadences.get(b.id)) for b in bodies],
                    kinds=kinds,
                    earliest=p.today.isoformat())


@page(MEETINGS)
async def new_meeting(p: Page) -> Response:
    if p.request.method == "GET":
        return await _new_form(p)
    names = ("body", "kind", "date", "time", "place", "agenda", "repeat", "invite")
    typed = Typed({n: _form(p, n) for n in names})
    v, errors = typed.values, typed.errors
    body: Body | None = None
    try:
        body = await data.body_of(p.db, p.program.id, v["body"] or None)
    except (MeetingError, ValueError):
        errors["body"] = Msg("adm_meet.err_no_body")
    kind = v["kind"] or (data.default_kind(p.program, body) if body else None)
    if not kind or kind not in data.meeting_kinds(p.program):
        errors["kind"] = Msg("web.meetings.err_kind")
    _read_start(p, typed)
    if len(v["place"]) > PLACE_MAX:
        errors["place"] = Msg("adm_meet.too_long")
    if len(v["agenda"]) > AGENDA_MAX:
        errors["agenda"] = Msg("adm_meet.too_long")
    repeat = bool(v["repeat"])
    if repeat and (body is None or not body.cadence_months):
        errors["repeat"] = Msg("web.meetings.err_no_cadence")
    if v["invite"] not in INVITE_CHOICES or (v["invite"] == INVITE_MEMBERS and body is None):
        errors["invite"] = Msg("web.meetings.err_invite")
    if errors or typed.starts_at is None or kind is None:
        return await _new_form(p, typed, 422)
    try:
        made = await use.create(p.db, p.program, kind=kind, starts_at=typed.starts_at,
                                now=p.now, body=body, place=v["place"], agenda=v["agenda"],
                                repeat=repeat, created_by=p.person.id)
    except MeetingError as exc:
        errors["date"] = _error(exc)
        return await _new_form(p, typed, 422)
    meeting = made.meeting
    if made.series is not None:
        p.audit("meeting_series_created", entity="meeting_series", entity_id=made.series.id,
                every_months=made.series.every_months, meetings=[m.id for m in made.meetings])
    p.audit("meeting_created", entity="meeting", entity_id=meeting.id, kind=meeting.kind,
            body_id=meeting.body_id, starts_at=meeting.starts_at.isoformat(),
            series_id=meeting.series_id)
    queued: tuple[int, ...] = ()
    if v["invite"] != INVITE_LATER:
        done = await use.invite_now(p.db, p.program, meeting, v["invite"], p.now)
        queued = done.outbox_ids
        p.audit("meeting_invited", entity="meeting", entity_id=meeting.id, target=v["invite"],
                invited=done.invited, queued=done.queued, series_queued=done.series_queued)
    if made.series is not None:
        return deliver_after(p, p.redirect(_meeting_url(p, meeting, aviso="created_series",
                                                        n=len(made.meetings))), queued)
    return deliver_after(p, p.redirect(_meeting_url(p, meeting, aviso="created", n=1)), queued)


# --- one meeting: its board, asking again, inviting, moving, cancelling -------------------------


@dataclass(frozen=True)
class BoardView:
    meeting: Meeting
    board: data.Board
    live: bool  # answers may still come: the page polls for them
    upcoming: bool


async def _board_view(p: Page, meeting: Meeting) -> BoardView:
    board = await data.board(p.db, meeting)
    upcoming = meeting.status == MeetingStatus.SCHEDULED and meeting.starts_at > p.now
    live = meeting.status == MeetingStatus.SCHEDULED and meeting.starts_at >= _day_start(p)
    return BoardView(meeting, board, live, upcoming)


async def _meeting_page(p: Page, meeting: Meeting, *, status: int = 200,
                        errors: dict[str, Msg] | None = None,
                        values: dict[str, str] | None = None,
                        failure: Msg | None = None) -> Response:
    view = await _board_view(p, meeting)
    body = await p.db.get(Body, meeting.body_id) if meeting.body_id else None
    local = meeting.starts_at.astimezone(ZoneInfo(p.zone))
    members = len(await data.body_members(p.db, body.id)) if body else 0
    everyone = len(await data.role_holders(p.db, p.program.id))
    return p.render(
        "meetings/meeting.html", status=status, meeting=meeting, what=await _what(p, meeting),
        body=_body_name(p, body) if body else None, view=view, notice=_notice(p),
        failure=failure, errors=errors or {},
        values=values or {"date": local.date().isoformat(), "time": f"{local:%H:%M}",
                          "reason": ""},
        members=members, everyone=everyone, has_body=body is not None,
        kind_name=render.said(Text(meeting_store.kind_names(p.program, meeting.kind))),
        board_every=BOARD_EVERY)


@page(MEETINGS)
async def meeting_page(p: Page) -> Response:
    return await _meeting_page(p, await _meeting(p))


@page(MEETINGS)
async def board_fragment(p: Page) -> Response:
    """The confirmations board alone, for htmx to swap in every few seconds."""
    view = await _board_view(p, await _meeting(p))
    return p.fragment("meetings/_board.html", view=view, board_every=BOARD_EVERY)


@page(MEETINGS)
async def invite_people(p: Page) -> Response:
    meeting = await _meeting(p)
    target = _form(p, "invite")
    if target not in (INVITE_MEMBERS, INVITE_EVERYONE) or (
            target == INVITE_MEMBERS and meeting.body_id is None):
        return await _meeting_page(p, meeting, status=422,
                                   errors={"invite": Msg("web.meetings.err_invite")})
    try:
        done = await use.invite_now(p.db, p.program, meeting, target, p.now)
    except MeetingError as exc:
        return await _meeting_page(p, meeting, status=422, failure=_error(exc))
    p.audit("meeting_invited", entity="meeting", entity_id=meeting.id, target=target,
            invited=done.invited, queued=done.queued, series_queued=done.series_queued)
    return deliver_after(p, p.redirect(_meeting_url(p, meeting, aviso="invited",
                                                    n=done.invited)), done.outbox_ids)


@page(MEETINGS)
async def ask_again(p: Page) -> Response:
    meeting = await _meeting(p)
    try:
        asked, queued, outbox_ids = await use.reask(p.db, meeting, p.now)
    except MeetingError as exc:
        return await _meeting_page(p, meeting, status=422, failure=_error(exc))
    p.audit("meeting_reasked", entity="meeting", entity_id=meeting.id, asked=asked,
            queued=queued)
    if asked and not queued:
        return p.redirect(_meeting_url(p, meeting, aviso="reasked_today", n=asked))
    return deliver_after(p, p.redirect(_meeting_url(p, meeting, aviso="reasked", n=queued)),
                         outbox_ids)


@page(MEETINGS)
async def move_meeting(p: Page) -> Response:
    meeting = await _meeting(p)
    typed = Typed({"date": _form(p, "date"), "time": _form(p, "time"), "reason": ""})
    _read_start(p, typed)
    if typed.errors or typed.starts_at is None:
        return await _meeting_page(p, meeting, status=422, errors=typed.errors,
                                   values=typed.values)
    old = meeting.starts_at
    try:
        invited, queued, outbox_ids = await use.move_and_notify(p.db, meeting,
                                                                typed.starts_at, p.now)
    except MeetingError as exc:
        return await _meeting_page(p, meeting, status=422, errors={"date": _error(exc)},
                                   values=typed.values)
    p.audit("meeting_moved", entity="meeting", entity_id=meeting.id, old=old.isoformat(),
            new=meeting.starts_at.isoformat(), revision=meeting.revision, invited=invited,
            queued=queued)
    return deliver_after(p, p.redirect(_meeting_url(p, meeting, aviso="moved", n=invited)),
                         outbox_ids)


@page(MEETINGS)
async def cancel_meeting(p: Page) -> Response:
    meeting = await _meeting(p)
    reason = _form(p, "reason")
    if len(reason) > CANCEL_REASON_MAX:
        return await _meeting_page(p, meeting, status=422,
                                   errors={"reason": Msg("adm_meet.too_long")},
                                   values={"date": "", "time": "", "reason": reason})
    try:
        invited, queued, outbox_ids = await use.cancel_and_notify(p.db, meeting,
                                                                  reason or None, p.now)
    except MeetingError as exc:
        return await _meeting_page(p, meeting, status=422, failure=_error(exc))
    p.audit("meeting_cancelled", entity="meeting", entity_id=meeting.id, invited=invited,
            queued=queued, reason_length=len(reason))
    return deliver_after(p, p.redirect(_meeting_url(p, meeting, aviso="cancelled",
                                                    n=queued)), outbox_ids)


# --- attendance at the door --------------------------------------------------------------------


def _row_id(e: data.Entry) -> str:
    return f"g{e.guest_id}" if e.guest_id is not None else f"p{e.person_id}"


async def _attendance_page(p: Page, meeting: Meeting, *, status: int = 200,
                           errors: dict[str, Msg] | None = None,
                           guest: dict[str, str] | None = None,
                           failure: Msg | None = None) -> Response:
    board = await data.board(p.db, meeting)
    # Someone of the programme who came without an invitation: found by name, marked present.
    query = p.request.query_params.get("q", "").strip()[:100]
    listed = {e.person_id for e in board.everyone if e.person_id is not None}
    found = [person for person in await data.program_people(p.db, p.program.id, query)
             if person.id not in listed][:SEARCH_SHOWN] if query else []
    return p.render("meetings/attendance.html", query=query, found=found, status=status, meeting=meeting,
                    what=await _what(p, meeting), board=board, entries=board.everyone,
                    tally=use.tally_text(board.tally), notice=_notice(p), failure=failure,
                    errors=errors or {}, guest=guest or {}, row_id=_row_id,
                    walk_ins={_row_id(e) for e in board.walk_ins},
                    open_=meeting.status != MeetingStatus.CANCELLED,
                    closable=meeting.status == MeetingStatus.SCHEDULED
                    and p.now >= meeting.starts_at - meeting_store.CHECKIN_OPENS_BEFORE,
                    live=meeting.status == MeetingStatus.SCHEDULED,
                    live_every=ATTENDANCE_EVERY)


@page(MEETINGS)
async def attendance(p: Page) -> Response:
    return await _attendance_page(p, await _meeting(p))


@page(MEETINGS)
async def attendance_rows(p: Page) -> Response:
    """The attendance list's rows and count alone, for htmx to swap in every few seconds:
    what another tablet at the door marked shows here too."""
    meeting = await _meeting(p)
    board = await data.board(p.db, meeting)
    return p.fragment("meetings/_attendance_rows.html", meeting=meeting,
                      entries=board.everyone, tally=use.tally_text(board.tally),
                      row_id=_row_id, walk_ins={_row_id(e) for e in board.walk_ins},
                      open_=meeting.status != MeetingStatus.CANCELLED)


@page(MEETINGS)
async def mark(p: Page) -> Response:
    """One tap at the door: present or absent; htmx gets the row back, a browser the list."""
    meeting = await _meeting(p)
    person_id = p.request.path_params["person"]
    present = {"1": True, "0": False}.get(_form(p, "present"))
    if present is None:
        return await _attendance_page(p, meeting, status=400,
                                      failure=Msg("web.meetings.err_mark"))
    try:
        marked = await use.mark_attendance(p.db, meeting, person_id, present, p.person.id,
                                           p.now)
    except MeetingError as exc:
        return await _attendance_page(p, meeting, status=422, failure=_error(exc))
    p.audit("attendance_marked", entity="meeting", entity_id=meeting.id, person_id=person_id,
            present=marked.present, walk_in_confirmed=marked.walk_in_confirmed)
    if p.request.headers.get("hx-request"):
        board = await data.board(p.db, meeting)
        entry = next(e for e in board.everyone if e.person_id == person_id)
        return p.fragment("meetings/_attendance_marked.html", meeting=meeting, e=entry,
                          row_id=_row_id, open_=True, tally=use.tally_text(board.tally),
                          walk_ins={_row_id(w) for w in board.walk_ins})
    return p.redirect(_meeting_url(p, meeting, "asistencia") + f"#p{person_id}")


@page(MEETINGS)
async def add_guest(p: Page) -> Response:
    """Someone who came and is not in Convoca, written in by hand."""
    meeting = await _meeting(p)
    values = {n: _form(p, n) for n in ("name", "rut", "organization", "phone")}
    try:
        guest = await data.add_guest(p.db, meeting, name=values["name"], now=p.now,
                                     rut=values["rut"] or None,
                                     organization=values["organization"] or None,
                                     phone=values["phone"] or None)
    except MeetingError as exc:
        fields = {"guest_name": "name", "guest_rut": "rut",
                  "guest_organization": "organization", "guest_phone": "phone"}
        if exc.code in fields:
            return await _attendance_page(p, meeting, status=422, guest=values,
                                          errors={fields[exc.code]: _error(exc)})
        return await _attendance_page(p, meeting, status=422, guest=values,
                                      failure=_error(exc))
    # The audit keeps that someone was written in, not who: they never agreed to Convoca.
    p.audit("attendance_guest_added", entity="meeting", entity_id=meeting.id,
            guest_id=guest.id, rut=guest.rut is not None, phone=guest.phone is not None)
    return p.redirect(_meeting_url(p, meeting, "asistencia", aviso="guest_added", n=1))


@page(MEETINGS)
async def remove_guest(p: Page) -> Response:
    meeting = await _meeting(p)
    guest_id = p.request.path_params["guest"]
    try:
        await data.remove_guest(p.db, meeting, guest_id)
    except MeetingError as exc:
        return await _attendance_page(p, meeting, status=422, failure=_error(exc))
    p.audit("attendance_guest_removed", entity="meeting", entity_id=meeting.id,
            guest_id=guest_id)
    return p.redirect(_meeting_url(p, meeting, "asistencia", aviso="guest_removed", n=1))


@page(MEETINGS)
async def close_meeting(p: Page) -> Response:
    meeting = await _meeting(p)
    try:
        await data.close(p.db, meeting, p.now)
    except MeetingError as exc:
        return await _attendance_page(p, meeting, status=422, failure=_error(exc))
    tally = (await data.board(p.db, meeting)).tally
    p.audit("meeting_closed", entity="meeting", entity_id=meeting.id,
            present=tally.present_invited, invited=tally.invited, walk_ins=tally.walk_ins)
    return p.redirect(_meeting_url(p, meeting, "asistencia", aviso="closed",
                                   n=tally.present))


@page(MEETINGS)
async def printable_list(p: Page) -> Response:
    """The lista de asistencia as the chat's exports send it: PDF to print, or a workbook."""
    meeting = await _meeting(p)
    fmt = asked_format(p, LIST_FORMATS, "web.meetings.not_found")
    file = await exports.attendance_list(p.db, meeting.id, fmt, now=p.now, locale=p.loc,
                                         catalogs=p.panel.catalogs)
    p.audit("export", entity="meeting", entity_id=meeting.id, what="attendance", format=fmt)
    return attachment(file)


routes: list[BaseRoute] = [
    Route("/p/{pid:id}/reuniones/", meeting_list, methods=["GET"]),
    Route("/p/{pid:id}/reuniones/nueva", new_meeting, methods=["GET", "POST"]),
    Route("/p/{pid:id}/reuniones/{mid:id}/", meeting_page, methods=["GET"]),
    Route("/p/{pid:id}/reuniones/{mid:id}/tablero", board_fragment, methods=["GET"]),
    Route("/p/{pid:id}/reuniones/{mid:id}/invitar", invite_people, methods=["POST"]),
    Route("/p/{pid:id}/reuniones/{mid:id}/preguntar", ask_again, methods=["POST"]),
    Route("/p/{pid:id}/reuniones/{mid:id}/mover", move_meeting, methods=["POST"]),
    Route("/p/{pid:id}/reuniones/{mid:id}/cancelar", cancel_meeting, methods=["POST"]),
    Route("/p/{pid:id}/reuniones/{mid:id}/asistencia", attendance, methods=["GET"]),
    Route("/p/{pid:id}/reuniones/{mid:id}/asistencia/filas", attendance_rows,
          methods=["GET"]),
    Route("/p/{pid:id}/reuniones/{mid:id}/asistencia/{person:id}", mark,
          methods=["POST"]),
    Route("/p/{pid:id}/reuniones/{mid:id}/visitas", add_guest, methods=["POST"]),
    Route("/p/{pid:id}/reuniones/{mid:id}/visitas/{guest:id}/quitar", remove_guest,
          methods=["POST"]),
    Route("/p/{pid:id}/reuniones/{mid:id}/cerrar", close_meeting, methods=["POST"]),
    Route("/p/{pid:id}/reuniones/{mid:id}/lista.{fmt}", printable_list, methods=["GET"]),
]
