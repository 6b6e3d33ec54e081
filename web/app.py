"""The panel as one Starlette application, mounted at /web on the process's HTTP server:
signing in (a one-time link, Telegram's Mini App), signing out, the language switch, the
programme chooser, and every section's pages (web.pages)."""

from __future__ import annotations

import hashlib
from importlib import resources
from typing import Any

from starlette.applications import Starlette
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
)
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from domain.roles import PANEL_ROLES, roles_here
from locales import SUPPORTED
from services import web_access
from storage import programs
from web import mini_app, render
from web.context import COOKIE, MAX_UPLOAD, Panel, csrf_ok, locale_of, signed_in
from web.pages import ROUTES
from web.sections import visible

# Only what the panel itself serves runs; the Mini App page alone loads Telegram's script,
# which is what gives it initData. Telegram Web shows a Mini App in a frame of its own page:
# the one site that may frame the panel.
CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
       "frame-ancestors https://web.telegram.org; form-action 'self'; base-uri 'none'")
CSP_MINI_APP = CSP.replace("script-src 'self'", "script-src 'self' https://telegram.org")
# What a request to the panel may carry: a form is small; a spreadsheet to import is not.
BODY_LIMIT = 1024 * 1024
BODY_LIMITS = (("/login", 64 * 1024), ("/telegram", 64 * 1024), ("/importar", MAX_UPLOAD))


def _static_version() -> str:
    """A fingerprint of the static files, so a new release is never served from a stale
    cache and an unchanged one is cached for good."""
    digest = hashlib.sha256()
    root = resources.files("web") / "static"
    for item in sorted(root.iterdir(), key=lambda p: p.name):
        if item.is_file():
            digest.update(item.name.encode())
            digest.update(item.read_bytes())
    return digest.hexdigest()[:10]


def _own_path(scope: Any) -> str:
    """The path inside the panel (Starlette keeps the mount's prefix in scope["path"])."""
    path, root = scope["path"], scope.get("root_path", "")
    return path[len(root):] if root and path.startswith(root) else path


def _limit(path: str) -> int:
    return next((n for end, n in BODY_LIMITS if path.rstrip("/").endswith(end)), BODY_LIMIT)


class _Guard:
    """Before any page runs: a body past its limit is refused (413) before it is read
    whole, and a state-changing request from another site is refused (403) even before
    its CSRF token is looked at (the sign-in forms have none)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1")
                   for k, v in scope.get("headers", [])}
        if not _same_origin(scope["app"].state.panel if "app" in scope else None, headers):
            await PlainTextResponse("cross-site request refused", status_code=403)(
                scope, receive, send)
            return
        limit = _limit(_own_path(scope))
        declared = headers.get("content-length", "")
        if declared.isascii() and declared.isdigit() and int(declared) > limit:
            await PlainTextResponse("request body too large", status_code=413)(
                scope, receive, send)
            return
        seen = 0
        too_large = False
        started = False

        async def counting() -> Any:
            nonlocal seen, too_large
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:  # no Content-Length: counted as it comes
                    too_large = True
                    return {"type": "http.disconnect"}
            return message

        async def sending(message: Any) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting, sending)
        except Exception:
            if not too_large or started:
                raise
        if too_large and not started:
            await PlainTextResponse("request body too large", status_code=413)(
                scope, receive, send)


def _same_origin(panel: Panel | None, headers: dict[str, str]) -> bool:
    """A browser names the site a POST comes from: this server (as its Host header or
    PUBLIC_URL say), or none (not a browser's cross-site form)."""
    if headers.get("sec-fetch-site") == "cross-site":
        return False
    origin = headers.get("origin")
    if origin is None or origin == "null":
        # Under the panel's no-referrer policy a browser names no origin ("null"): then
        # Sec-Fetch-Site, which every current browser sends, is the word.
        return True
    own = {f"http://{headers.get('host', '')}", f"https://{headers.get('host', '')}"}
    if panel is not None:
        own.add(panel.public_url)
    return origin.rstrip("/") in own


class _Headers:
    """Security headers on every answer of the panel."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = _own_path(scope)
        mini_app = path.rstrip("/").endswith("/telegram")

        async def sending(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {k.lower() for k, _ in headers}
                extra = {
                    b"content-security-policy": (CSP_MINI_APP if mini_app else CSP).encode(),
                    b"referrer-policy": b"no-referrer",
                    b"x-content-type-options": b"nosniff",
                    b"cache-control": b"no-store",
                }
                if path.startswith("/static/"):
                    extra[b"cache-control"] = b"public, max-age=31536000, immutable"
                headers += [(k, v) for k, v in extra.items() if k not in names]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, sending)


def _set_cookie(panel: Panel, response: Response, token: str, *, framed: bool = False
                ) -> None:
    """``framed``: opened from Telegram's Mini App, which Telegram Web shows in a frame of
    its own site, where a Lax cookie is never sent; over https only, and kept to that frame
    (Partitioned). The CSRF token still guards every change."""
    cross_site = framed and panel.secure
    response.set_cookie(
        COOKIE, token, max_age=int(web_access.SESSION_MAX.total_seconds()), path="/web",
        httponly=True, samesite="none" if cross_site else "lax", secure=panel.secure)
    if cross_site:  # Starlette writes Partitioned only on Python 3.14+
        name, value = response.raw_headers[-1]
        response.raw_headers[-1] = (name, value + b"; Partitioned")


def _page(panel: Panel, template: str, loc: str, status: int = 200, **context: Any
          ) -> HTMLResponse:
    token = render.reading(render.Reader(panel.catalogs, loc, None))
    try:
        html = panel.env.get_template(template).render(page=None, nav=[], **context)
    finally:
        render._reader.reset(token)
    return HTMLResponse(html, status_code=status)


async def login_page(request: Request) -> Response:
    """The link from chat. Only a POST spends it: a chat app's link preview fetches the page
    (GET) and must not sign anyone in. A small script posts it at once in a browser."""
    panel: Panel = request.app.state.panel
    return _page(panel, "login.html", panel.default_locale, token=request.path_params["token"])


async def login(request: Request) -> Response:
    panel: Panel = request.app.state.panel
    form = await request.form()
    token = str(form.get("token", ""))
    now = panel.clock.now()
    async with panel.sessions() as db:
        opened = await web_access.redeem_login(db, token, now) if token else None
        await db.commit()
    if opened is None:
        return _page(panel, "login_failed.html", panel.default_locale, status=403)
    response = RedirectResponse("/web/", status_code=303)
    _set_cookie(panel, response, opened.cookie)
    return response


async def mini_app_page(request: Request) -> Response:
    panel: Panel = request.app.state.panel
    return _page(panel, "mini_app.html", panel.default_locale)


async def mini_app_login(request: Request) -> Response:
    panel: Panel = request.app.state.panel
    form = await request.form()
    now = panel.clock.now()
    address = mini_app.user_address(str(form.get("init_data", "")),
                                    panel.telegram_token or "", now)
    async with panel.sessions() as db:
        opened = await web_access.open_for_address(
            db, mini_app.CHANNEL, address, now, mini_app.VIA) if address else None
        await db.commit()
    if opened is None:
        return JSONResponse({"ok": False}, status_code=403)
    response = JSONResponse({"ok": True, "next": "/web/"})
    _set_cookie(panel, response, opened.cookie, framed=True)
    return response


async def help_page(request: Request) -> Response:
    """Where someone without a session lands: how to get a link, and no data."""
    panel: Panel = request.app.state.panel
    return _page(panel, "signed_out.html", panel.default_locale)


async def home(request: Request) -> Response:
    """The programmes this person may open: straight in when there is one."""
    panel: Panel = request.app.state.panel
    now = panel.clock.now()
    async with panel.sessions() as db:
        found = await signed_in(panel, db, request, now)
        if found is None:
            await db.commit()
            return RedirectResponse("/web/entrar", status_code=303)
        row, person = found
        loc = locale_of(panel, request, row)
        mine = [p for p in await programs.all_programs(db)
                if set(roles_here(person.roles, p.id)) & PANEL_ROLES]
        await db.commit()
    if len(mine) == 1:
        return RedirectResponse(landing(mine[0].id, person), status_code=303)
    return _page(panel, "programmes.html", loc, programmes=mine, landing=landing, person=person)


def landing(program_id: int, person: Any) -> str:
    """A programme's first page this person may read: Inicio for the team, the day list for
    the premises' staff."""
    sections = visible(frozenset(roles_here(person.roles, program_id)))
    if not sections or sections[0].key == "inicio":
        return f"/web/p/{program_id}/"
    return f"/web/p/{program_id}/{sections[0].key}/"


async def _session_post(request: Request, action: str) -> Response:
    panel: Panel = request.app.state.panel
    now = panel.clock.now()
    async with panel.sessions() as db:
        found = await signed_in(panel, db, request, now)
        if found is None:
            await db.commit()
            return RedirectResponse("/web/entrar", status_code=303)
        row, person = found
        if not await csrf_ok(request, row):
            await db.commit()
            return _page(panel, "refused_plain.html", locale_of(panel, request, row),
                         status=403, key="web.refused.csrf")
        back = request.headers.get("referer") or "/web/"
        if action == "logout":
            await web_access.close(db, row, now)
            back = "/web/entrar"
        elif action == "logout_all":
            await web_access.close_all(db, person.id, now)
            back = "/web/entrar"
        elif action == "language":
            form = await request.form()
            chosen = str(form.get("lang", ""))
            if chosen in SUPPORTED:
                row.locale = chosen
            back = str(form.get("back") or "/web/")
            if not back.startswith("/web/"):
                back = "/web/"
        await db.commit()
    return RedirectResponse(back, status_code=303)


async def logout(request: Request) -> Response:
    return await _session_post(request, "logout")


async def logout_all(request: Request) -> Response:
    return await _session_post(request, "logout_all")


async def language(request: Request) -> Response:
    return await _session_post(request, "language")


def build(panel: Panel) -> Starlette:
    panel.env = render.environment()
    panel.env.globals["static_version"] = _static_version()
    routes: list[BaseRoute] = [
        Route("/", home, methods=["GET"]),
        Route("/entrar", help_page, methods=["GET"]),
        Route("/login/{token}", login_page, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/telegram", mini_app_page, methods=["GET"]),
        Route("/telegram", mini_app_login, methods=["POST"]),
        Route("/salir", logout, methods=["POST"]),
        Route("/salir-de-todo", logout_all, methods=["POST"]),
        Route("/idioma", language, methods=["POST"]),
        Mount("/static", app=StaticFiles(packages=[("web", "static")]), name="static"),
        *ROUTES,
    ]
    app = Starlette(routes=routes)
    app.state.panel = panel
    app.add_middleware(_Guard)
    app.add_middleware(_Headers)
    # A day's list of 500 families is ~500 kB of HTML and ~73 kB compressed: phones on paid
    # data, and tablets on a sede's weak signal.
    app.add_middleware(GZipMiddleware, minimum_size=1024)
    return app
