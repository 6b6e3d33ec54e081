"""What every page gets, and the checks before it runs: a signed-in session, a programme the
person holds a panel role in, a section their role may read (or change, for a POST), the CSRF
token on every POST. One unit of work per request: it commits when the page returns."""

from __future__ import annotations

import functools
import hmac
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from channels import Capabilities
from domain import schedule
from domain.roles import PANEL_ROLES, roles_here
from locales import Catalogs, reading_locale
from services import web_access
from storage import people, programs
from storage.clock import Clock
from storage.models import Person, Program, WebSession
from web import forms as _forms  # noqa: F401 (registers the {name:id} convertor)
from web import render
from web.sections import SECTIONS, Section, visible

COOKIE = "convoca_session"
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"
MAX_UPLOAD = 10 * 1024 * 1024  # a spreadsheet of a few thousand families


@dataclass
class Panel:
    """What the panel is built with, once, in the wiring (bot.app)."""

    sessions: async_sessionmaker[AsyncSession]
    clock: Clock
    catalogs: Catalogs
    public_url: str  # the base of every link, without the trailing slash
    telegram_token: str | None = None  # for the Mini App's initData
    # What each chat channel can show, for a broadcast's preview per channel.
    capabilities: Mapping[str, Capabilities] = field(default_factory=dict)
    # Tells the outbox that rows a page queued are there to send (a broadcast, a meeting's
    # invitations): it sends them in its own paced waves, recorded as they go, rather than at
    # its next poll. Told the ids, for whoever wants them (the tests).
    wake_outbox: Callable[[list[int]], Awaitable[Any]] | None = None
    default_locale: str = "es"
    # The channels whose links go on printed cards, most people's first (bot.app decides).
    handed_links: tuple[str, ...] = ()
    env: Any = None  # jinja2.Environment, built by web.app

    @property
    def secure(self) -> bool:
        return self.public_url.startswith("https://")

    def url(self, path: str) -> str:
        return self.public_url + path


class Refusal(Exception):
    """A page that will not be shown: rendered as its own short page, with no data."""

    def __init__(self, status: int, key: str) -> None:
        super().__init__(key)
        self.status = status
        self.key = key


@dataclass
class Page:
    request: Request
    panel: Panel
    db: AsyncSession
    person: Person
    web_session: WebSession
    program: Program
    roles: frozenset[str]
    section: Section
    loc: str
    now: datetime
    form: FormData | None = None  # a POST's (empty when it sent none); None for a GET

    @property
    def zone(self) -> str:
        return self.program.timezone

    @property
    def today(self) -> date:
        """Today where the programme is."""
        return schedule.local_date(self.now, self.zone)

    @property
    def several_programmes(self) -> bool:
        """Whether the chooser has more than this programme to offer (a grant of no
        programme counts in all of them)."""
        ids = {g.program_id for g in self.person.roles if g.role in PANEL_ROLES}
        return None in ids or len(ids) > 1

    @property
    def can_write(self) -> bool:
        return bool(self.roles & self.section.write)

    @property
    def csrf(self) -> str:
        return masked(self.web_session.csrf)

    def base(self) -> str:
        return f"/web/p/{self.program.id}"

    def link(self, section: str, rest: str = "") -> str:
        return f"{self.base()}/{section}/{rest}".rstrip("/") + ("/" if not rest else "")

    def here(self) -> str:
        """Where the language switch brings the reader back. A page read (GET): itself, with
        its query (filters, ?mes=). A refused form (POST): its address may take no GET, so
        the page the form was on (the referer, if it is this panel's), else the section."""
        url = self.request.url
        if self.request.method in ("GET", "HEAD"):
            return url.path + ("?" + url.query if url.query else "")
        came = urlsplit(self.request.headers.get("referer", ""))
        if came.netloc == url.netloc and came.path.startswith(self.base() + "/"):
            return came.path + ("?" + came.query if came.query else "")
        return self.base() + "/" if self.section.key == "inicio" else self.link(self.section.key)

    def t(self, key: str, **params: Any) -> str:
        return render.translate(key, **params)

    def audit(self, action: str, *, entity: str | None = None, entity_id: int | None = None,
              **details: Any) -> None:
        """Every change made from the panel, with who made it."""
        people.audit(self.db, self.now, action, actor_id=self.person.id, channel="web",
                     entity=entity, entity_id=entity_id, **details)

    def render(self, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        html = self.panel.env.get_template(template).render(
            page=self, nav=visible(self.roles), **context)
        return HTMLResponse(html, status_code=status)

    def fragment(self, template: str, **context: Any) -> HTMLResponse:
        """A piece of a page htmx swaps in (a live board, a table's next page)."""
        return self.render(template, **context)

    def redirect(self, url: str) -> Response:
        """After a POST: back to a page, also for htmx (which follows HX-Redirect)."""
        if self.request.headers.get("hx-request"):
            return Response(status_code=204, headers={"HX-Redirect": url})
        return RedirectResponse(url, status_code=303)


def locale_of(panel: Panel, request: Request, row: WebSession | None) -> str:
    chosen = row.locale if row is not None else None
    return panel.catalogs.locale(chosen or panel.default_locale)


async def signed_in(panel: Panel, db: AsyncSession, request: Request, now: datetime
                    ) -> tuple[WebSession, Person] | None:
    return await web_access.current(db, request.cookies.get(COOKIE), now)


def masked(token: str) -> str:
    """The session's CSRF token under a fresh one-time pad, different in every page: pages
    are compressed, and a secret that reads the same in every response beside text a
    visitor can reflect (a search) would leak through the compressed size (BREACH)."""
    raw = token.encode()
    pad = secrets.token_bytes(len(raw))
    return (pad + bytes(a ^ b for a, b in zip(pad, raw, strict=True))).hex()


def unmasked(given: str) -> str | None:
    try:
        data = bytes.fromhex(given)
    except ValueError:
        return None
    half = len(data) // 2
    if not half or len(data) % 2:
        return None
    try:
        return bytes(a ^ b for a, b in zip(data[:half], data[half:], strict=True)).decode()
    except UnicodeDecodeError:
        return None


async def csrf_ok(request: Request, row: WebSession) -> bool:
    given = request.headers.get(CSRF_HEADER)
    if given is None:
        form = await request.form(max_part_size=MAX_UPLOAD)
        value = form.get(CSRF_FIELD)
        given = value if isinstance(value, str) else None
    token = unmasked(given) if given is not None else None
    return token is not None and hmac.compare_digest(token.encode(), row.csrf.encode())


PageFn = Callable[[Page], Awaitable[Response]]


def page(section: Section | str) -> Callable[[PageFn], Callable[[Request], Awaitable[Response]]]:
    """A page of ``section`` at /web/p/{pid}/...: GET needs the section's read roles, any
    other method its write roles and the session's CSRF token."""
    sec = SECTIONS[section] if isinstance(section, str) else section

    def deco(fn: PageFn) -> Callable[[Request], Awaitable[Response]]:
        @functools.wraps(fn)
        async def endpoint(request: Request) -> Response:
            panel: Panel = request.app.state.panel
            now = panel.clock.now()
            async with panel.sessions() as db:
                found = await signed_in(panel, db, request, now)
                if found is None:
                    await db.commit()
                    return not_signed_in(panel, request)
                row, person = found
                loc = locale_of(panel, request, row)
                # {pid:id} (web.forms): a bounded int, or absent on a route without it.
                pid = request.path_params.get("pid")
                program = await db.get(Program, pid) if isinstance(pid, int) else None
                if program is not None:  # its regional variant of the language chosen
                    loc = reading_locale(loc, (await programs.place_of(db, program.id)).locale) \
                        or loc
                roles = frozenset(roles_here(person.roles, program.id)) if program else \
                    frozenset()
                token = render.reading(render.Reader(panel.catalogs, loc,
                                                     program.timezone if program else None))
                try:
                    if program is None or not roles & PANEL_ROLES:
                        raise Refusal(404, "web.refused.no_programme")
                    if not roles & sec.read:
                        raise Refusal(403, "web.refused.role")
                    writing = request.method not in ("GET", "HEAD")
                    form = None
                    if writing:
                        if not await csrf_ok(request, row):
                            raise Refusal(403, "web.refused.csrf")
                        if not roles & sec.write:
                            raise Refusal(403, "web.refused.read_only")
                        # Anything but a form (htmx with no fields, a script's JSON) is an
                        # empty form: each page then refuses it field by field.
                        form = FormData()
                        if request.headers.get("content-type", "").startswith(
                                ("multipart/form-data", "application/x-www-form-urlencoded")):
                            form = await request.form(max_part_size=MAX_UPLOAD)
                    p = Page(request, panel, db, person, row, program, roles, sec, loc, now,
                             form)
                    response = await fn(p)
                    await db.commit()
                    return response
                except Refusal as refusal:
                    await db.commit()  # the session's last use
                    return refused(panel, request, refusal, person=person, row=row,
                                   program=program, roles=roles)
                finally:
                    render._reader.reset(token)
        return endpoint
    return deco


def not_signed_in(panel: Panel, request: Request) -> Response:
    """No data without a session: htmx is told to go to the sign-in help, a browser sent."""
    if request.headers.get("hx-request"):
        return Response(status_code=401, headers={"HX-Redirect": "/web/entrar"})
    return RedirectResponse("/web/entrar", status_code=303)


def refused(panel: Panel, request: Request, refusal: Refusal, **context: Any) -> Response:
    html = panel.env.get_template("refused.html").render(
        refusal=refusal, nav=[], page=None, **context)
    return HTMLResponse(html, status_code=refusal.status)
