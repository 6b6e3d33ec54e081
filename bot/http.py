"""The one HTTP server of a Convoca process: each channel's webhook and the web panel, each at
its own path, on HTTP_LISTEN. Channels add their routes and the panel mounts itself before it
starts. An ASGI server (uvicorn) under one Starlette application, because the panel is
Starlette's; the webhooks are plain routes of it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp

log = logging.getLogger(__name__)

Handler = Callable[[Request], Awaitable[Response]]

# What a load balancer or `docker compose` probes: 200 while the database answers, else 503.
HEALTH_PATH = "/healthz"

# A webhook's body is small; a larger one is refused before it is read whole.
MAX_BODY = 2 * 1024 * 1024


class BodyTooLarge(Exception):
    pass


async def read_body(request: Request, limit: int = MAX_BODY) -> bytes:
    """The request's body, refused past ``limit`` without reading the rest into memory."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    body = b"".join(chunks)
    request._body = body  # what request.body() returns from now on
    return body


def _limited(handler: Handler) -> Handler:
    async def route(request: Request) -> Response:
        try:
            await read_body(request)
        except BodyTooLarge:
            return PlainTextResponse("request body too large", status_code=413)
        return await handler(request)
    return route


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # The process's own handlers (bot.commands.run_until_signalled) stop everything, the
        # server included; uvicorn's would swallow the first Ctrl+C.
        yield


class HttpServer:
    def __init__(self, listen: str) -> None:
        host, _, port = listen.rpartition(":")
        self.host, self.port = host or "127.0.0.1", int(port)
        self.routes: list[BaseRoute] = []
        self.paths: list[str] = []
        self._server: _Server | None = None
        self._task: asyncio.Task[None] | None = None
        self.app: Starlette | None = None

    def add(self, method: str, path: str, handler: Handler) -> None:
        """A webhook: its body read (and capped) before ``handler`` sees the request."""
        self.routes.append(Route(path, _limited(handler), methods=[method]))
        if path not in self.paths:
            self.paths.append(path)

    def mount(self, path: str, app: ASGIApp, *, home: bool = False) -> None:
        """An application of its own under ``path`` (the web panel); ``home``: ``/`` leads
        there."""
        self.routes.append(Mount(path, app=app))
        if home:
            async def to_home(request: Request) -> Response:
                return RedirectResponse(path + "/", status_code=307)
            self.routes.append(Route("/", to_home, methods=["GET", "HEAD"]))
        if path not in self.paths:
            self.paths.append(path)

    def health(self, database_answers: Callable[[], Awaitable[bool]]) -> None:
        """``GET /healthz``: 200 while ``database_answers``, else 503, so a proxy sends
        webhooks only to a process that can store them. Not one of ``paths``: by itself it
        gives no reason to listen."""
        async def healthz(request: Request) -> Response:
            if await database_answers():
                return PlainTextResponse("ok")
            return PlainTextResponse("database unavailable", status_code=503)
        self.routes.append(Route(HEALTH_PATH, healthz, methods=["GET", "HEAD"]))

    def build(self) -> Starlette:
        self.app = Starlette(routes=list(self.routes))
        return self.app

    async def start(self) -> None:
        app = self.build()
        config = uvicorn.Config(
            app, lifespan="off", access_log=False, log_config=None, server_header=False,
            proxy_headers=True, forwarded_allow_ips="127.0.0.1", timeout_graceful_shutdown=5,
        )
        self._server = _Server(config)
        # Bound here, so a port in use is an OSError of ours, not uvicorn's sys.exit.
        sock = socket.create_server((self.host, self.port), reuse_port=False)
        self.port = sock.getsockname()[1]
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]))
        while not self._server.started:
            if self._task.done():
                self._task.result()
                raise RuntimeError("the HTTP server stopped before it started")
            await asyncio.sleep(0.01)
        log.info("listening on %s:%s (%s)", self.host, self.port, ", ".join(self.paths))

    async def stop(self) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await self._task
        self._server = None
        self._task = None

    async def __aenter__(self) -> HttpServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.stop()
