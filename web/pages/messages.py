"""Mensajes: broadcasts. Compose one, choose who receives it (the chat's and the CLI's targets:
domain.targets), see how it reads in each language and on each channel, send it now or at a
time, watch it go and read the report. The sending is services.outreach's, as in the chat;
a scheduled broadcast is its outbox rows waiting for their time (the database says what is
due), so it can be called off until then."""

from __future__ import annotations

import re
import secrets
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from starlette.datastructures import FormData
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from domain import targets
from domain.catastro import PickupMode
from locales import SUPPORTED, Msg, Raw, Text
from services import dates, outreach
from storage import broadcasts, meetings, programs, targeting
from storage.meetings import body_names
from storage.models import OutboxStatus, Receipt
from web import render
from web.context import Page, Refusal, page
from web.forms import form_id
from web.outbox import deliver_after
from web.sections import MESSAGES

SOME_ORGANIZATIONS = "organizations:some"
NONCE = re.compile(r"[0-9a-f]{16}")
BATCH = re.compile(r"[0-9A-Za-z]{1,64}")
LISTED = 50
POLL = "every 5s"


# --- the form ---------------------------------------------------------------------------------


@dataclass
class Draft:
    """What the gestora typed, as the form holds it, and what is wrong with it."""

    text: str = ""
    target: str = targets.FAMILIES
    orgs: tuple[int, ...] = ()
    when: str = "now"  # now | later
    day: str = ""
    at: str = ""
    nonce: str = ""
    errors: dict[str, str] | None = None

    def error(self, name: str) -> str | None:
        return (self.errors or {}).get(name)


def _draft(values: Any) -> Draft:
    def get(name: str) -> str:
        v = values.get(name)
        return v.strip() if isinstance(v, str) else ""

    orgs = tuple(i for i in map(form_id, values.getlist("org")) if i is not None)
    nonce = get("nonce")
    return Draft(text=get("text"), target=get("target") or targets.FAMILIES, orgs=orgs,
                 when="later" if get("when") == "later" else "now", day=get("day"),
                 at=get("at"), nonce=nonce if NONCE.fullmatch(nonce) else "")


def _target(draft: Draft) -> dict[str, Any] | None:
    """The target the form names, in the CLI's words (domain.targets.parse_spec)."""
    if draft.target == SOME_ORGANIZATIONS:
        return {"kind": targets.ORGANIZATIONS, "ids": list(draft.orgs)} if draft.orgs else None
    try:
        return targets.check(targets.parse_spec(draft.target))
    except ValueError:
        return None


def _send_at(p: Page, draft: Draft) -> datetime | str:
    """The scheduled time in UTC, typed in the programme's zone; else the error's key."""
    try:
        day = date.fromisoformat(draft.day)
        at = time.fromisoformat(draft.at)
    except ValueError:
        return "web.messages.error.when_missing"
    if not dates.MIN_YEAR <= day.year <= dates.MAX_YEAR:
        return "web.messages.error.when_missing"  # 9999-12-31 23:00 overflows in UTC
    local = datetime.combine(day, at.replace(tzinfo=None), tzinfo=ZoneInfo(p.zone))
    utc = local.astimezone(ZoneInfo("UTC"))
    if utc <= p.now:
        return "web.messages.error.when_past"
    return utc


async def _choices(p: Page) -> dict[str, Any]:
    """Every group the form offers: the same ones the chat's buttons offer, and the people
    who have not answered an upcoming meeting."""
    program = p.program
    bodies = [(f"body:{b.id}", Msg("outreach.target.body",
                                   {"name": Text(body_names(program, b))}))
              for b in await programs.bodies(p.db, program.id)]
    sectors = [(f"families:sector={s}", Msg("web.messages.target.sector",
                                            {"sector": Raw(s), "count": n}))
               for s, n in await targeting.sectors(p.db, program.id)]
    upcoming = [m for m in await meetings.of_program(p.db, program.id) if m.starts_at > p.now]
    waiting = []
    for m in upcoming[:20]:
        waiting.append((f"{targets.NO_ANSWER}:{m.id}",
                        await outreach.describe(p.db, program, {"kind": targets.NO_ANSWER,
                                                                "meeting_id": m.id}), m))
    general = [
        (targets.FAMILIES, Msg("outreach.target.families")),
        *[(f"families:mode={mode}", Msg("outreach.target.families_mode",
                                        {"mode": Msg(f"outreach.mode.{mode}")}))
          for mode in (PickupMode.RETIRO, PickupMode.DOMICILIO)],
        (targets.ORGANIZATIONS, Msg("outreach.target.organizations")),
        (SOME_ORGANIZATIONS, Msg("web.messages.target.some_organizations")),
        (targets.EVERYONE, Msg("outreach.target.everyone")),
    ]
    return dict(general=general, bodies=bodies, sectors=sectors, waiting=waiting,
                organizations=await targeting.organizations(p.db, program.id))


# --- who and how it reads -----------------------------------------------------------------------


@dataclass(frozen=True)
class Reach:
    count: int
    left_out: list[Msg]
    languages: list[tuple[str, Msg, int]]  # (locale, its name, how many read it), all of them


async def _reach(p: Page, target: dict[str, Any] | None) -> tuple[Reach | None, list[int]]:
    if target is None:
        return None, []
    found = await targeting.resolve(p.db, p.program.id, target)
    catalogs = p.panel.catalogs
    read: Counter[str] = Counter()
    for loc, n in (await targeting.locales_of(p.db, found.person_ids)).items():
        read[catalogs.locale(loc or p.panel.default_locale)] += n
    # Every language, not only the recipients': whoever links tomorrow may read the other.
    langs = sorted({*SUPPORTED, *read}, key=lambda loc: (loc != p.loc, loc))
    return (Reach(len(found.person_ids), outreach.recipients_lines(found),
                  [(loc, language_name(loc), read.get(loc, 0)) for loc in langs]),
            found.person_ids)


def language_name(loc: str) -> Msg:
    return Msg(f"lang.name_{loc}")


@dataclass(frozen=True)
class LanguagePreview:
    locale: str
    name: Msg
    readers: int
    channels: list[tuple[Msg, outreach.ChannelPreview]]


def channel_label(name: str) -> str:
    return render.channel(name)


async def _previews(p: Page, draft: Draft, reach: Reach | None, person_ids: list[int]
                    ) -> list[LanguagePreview]:
    if not draft.text or len(draft.text) > outreach.TEXT_MAX:
        return []
    out = outreach.broadcast_message(p.program.name, draft.text)
    langs = reach.languages if reach else [(loc, language_name(loc), 0) for loc in SUPPORTED]
    result = []
    for loc, name, readers in langs:
        views = await outreach.channel_previews(
            p.db, p.panel.catalogs, p.panel.capabilities, person_ids, out, loc, p.zone, p.now)
        result.append(LanguagePreview(loc, name, readers, [(channel_label(v.channel), v)
                                                     for v in views]))
    return result


async def _compose(p: Page, draft: Draft, status: int = 200) -> Response:
    if not draft.nonce:
        draft.nonce = secrets.token_hex(8)
    target = _target(draft)
    reach, ids = await _reach(p, target)
    return p.render("messages/compose.html", status=status, draft=draft, reach=reach,
                    previews=await _previews(p, draft, reach, ids), text_max=outreach.TEXT_MAX,
                    some=SOME_ORGANIZATIONS, **await _choices(p))


# --- pages -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Listed:
    composed: broadcasts.Composed
    target: Msg
    board: broadcasts.Board


@page(MESSAGES)
async def index(p: Page) -> Response:
    rows = []
    for c in await broadcasts.composed(p.db, p.program.id, LISTED):
        rows.append(Listed(c, await _describe(p, c.target),
                           await broadcasts.board(p.db, c.batch, p.now)))
    return p.render("messages/index.html", rows=rows)


async def _describe(p: Page, target: dict[str, Any]) -> Msg:
    try:
        return await outreach.describe(p.db, p.program, targets.check(target))
    except (ValueError, KeyError):
        return Msg("web.messages.target.unknown")


@page(MESSAGES)
async def compose(p: Page) -> Response:
    if p.request.method == "GET":
        return await _compose(p, _draft(p.request.query_params))
    form = p.form if p.form is not None else FormData()
    draft = _draft(form)
    if form.get("action") == "preview":  # without JavaScript: the same form, previewed
        return await _compose(p, draft)
    errors: dict[str, str] = {}
    if not draft.text:
        errors["text"] = "web.messages.error.text_missing"
    elif len(draft.text) > outreach.TEXT_MAX:
        errors["text"] = "web.messages.error.text_too_long"
    target = _target(draft)
    if target is None:
        errors["target"] = ("web.messages.error.pick_organizations"
                            if draft.target == SOME_ORGANIZATIONS
                            else "web.messages.error.target")
    send_at: datetime | None = None
    if draft.when == "later":
        found = _send_at(p, draft)
        if isinstance(found, str):
            errors["when"] = found
        else:
            send_at = found
    if target is not None and "target" not in errors:
        reach, _ = await _reach(p, target)
        if reach is not None and not reach.count:
            errors["target"] = "web.messages.error.nobody"
    if errors:
        draft.errors = errors
        return await _compose(p, draft, status=422)
    assert target is not None
    batch = f"web{draft.nonce}" if draft.nonce else None
    if batch is not None:
        already = await broadcasts.composed_one(p.db, p.program.id, batch)
        if already is not None:  # the same form sent twice: it went the first time
            return p.redirect(p.link("mensajes", batch))
    # Followed by nobody in the chat: the panel shows its own progress and report.
    queued = await outreach.send_broadcast(
        p.db, p.program, draft.text, target, p.now, author_id=p.person.id, channel="web",
        watcher_id=None, send_at=send_at, batch=batch)
    response = p.redirect(p.link("mensajes", queued.batch))
    return deliver_after(p, response, queued.outbox_ids if send_at is None else ())


@page(MESSAGES)
async def count(p: Page) -> Response:
    draft = _draft(p.request.query_params)
    reach, _ = await _reach(p, _target(draft))
    return p.fragment("messages/_count.html", draft=draft, reach=reach,
                      some=SOME_ORGANIZATIONS)


@page(MESSAGES)
async def preview(p: Page) -> Response:
    draft = _draft(p.request.query_params)
    reach, ids = await _reach(p, _target(draft))
    return p.fragment("messages/_preview.html", draft=draft,
                      previews=await _previews(p, draft, reach, ids))


async def _found(p: Page) -> broadcasts.Composed | None:
    batch = p.request.path_params["batch"]
    if not BATCH.fullmatch(batch):
        return None
    return await broadcasts.composed_one(p.db, p.program.id, batch)


@dataclass(frozen=True)
class Row:
    delivery: broadcasts.Delivery
    state: str  # scheduled | queued | sent | delivered | read | waiting | cancelled | failed
    reason: Any  # a Msg, or None

    @property
    def state_name(self) -> Msg:
        return Msg(f"web.messages.state.{self.state}")


def _row(d: broadcasts.Delivery, now: datetime, due: datetime | None) -> Row:
    if d.status == OutboxStatus.PENDING and due is not None and due > now:
        return Row(d, "scheduled", None)
    if d.status in (OutboxStatus.PENDING, OutboxStatus.SENDING):
        return Row(d, "queued", None)
    if d.status == OutboxStatus.WAITING:
        return Row(d, "waiting", Msg("outreach.reason.waiting"))
    if d.status == OutboxStatus.DROPPED and d.error == outreach.CANCELLED:
        return Row(d, "cancelled", None)
    if d.blocked:
        return Row(d, "failed", Msg("web.messages.reason.blocked"))
    if d.status == OutboxStatus.SENT and d.receipt != Receipt.FAILED:
        return Row(d, {Receipt.READ: "read", Receipt.DELIVERED: "delivered"}.get(
            d.receipt or "", "sent"), None)
    return Row(d, "failed", outreach.failure_reason(
        OutboxStatus.FAILED if d.status == OutboxStatus.SENT else d.status, d.error))


async def _progress(p: Page, c: broadcasts.Composed) -> dict[str, Any]:
    board = await broadcasts.board(p.db, c.batch, p.now)
    due = await broadcasts.due_at(p.db, c.batch)
    return dict(composed=c, board=board, due=due, poll=POLL if board.live else None,
                can_cancel=p.can_write and board.scheduled > 0)


@page(MESSAGES)
async def report(p: Page) -> Response:
    c = await _found(p)
    if c is None:
        return p.render("messages/missing.html", status=404)
    state = await _progress(p, c)
    rows = [_row(d, p.now, state["due"]) for d in await broadcasts.deliveries(p.db, c.batch)]
    order = {"failed": 0, "waiting": 1}
    rows.sort(key=lambda r: order.get(r.state, 2))
    return p.render("messages/report.html", target=await _describe(p, c.target), rows=rows,
                    channel_label=channel_label, **state)


@page(MESSAGES)
async def progress(p: Page) -> Response:
    c = await _found(p)
    if c is None:
        return Response(status_code=404)
    return p.fragment("messages/_progress.html", **await _progress(p, c))


@page(MESSAGES)
async def cancel(p: Page) -> Response:
    c = await _found(p)
    if c is None:
        return p.render("messages/missing.html", status=404)
    if not (await broadcasts.board(p.db, c.batch, p.now)).scheduled:
        raise Refusal(409, "web.messages.not_scheduled")  # it is going, or it went
    # Audited by the service, with who called it off and from where.
    await outreach.cancel_broadcast(p.db, p.program, c.batch, p.now, author_id=p.person.id,
                                    channel="web")
    return p.redirect(p.link("mensajes", c.batch))


routes: list[BaseRoute] = [
    Route("/p/{pid:id}/mensajes/", index, methods=["GET"]),
    Route("/p/{pid:id}/mensajes/nuevo", compose, methods=["GET", "POST"]),
    Route("/p/{pid:id}/mensajes/cuantos", count, methods=["GET"]),
    Route("/p/{pid:id}/mensajes/vista-previa", preview, methods=["GET"]),
    Route("/p/{pid:id}/mensajes/{batch:str}", report, methods=["GET"]),
    Route("/p/{pid:id}/mensajes/{batch:str}/avance", progress, methods=["GET"]),
    Route("/p/{pid:id}/mensajes/{batch:str}/cancelar", cancel, methods=["POST"]),
]
