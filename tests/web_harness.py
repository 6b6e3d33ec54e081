"""The web panel under test: the app built as `convoca run` builds it, a programme with its
team, and browsers (httpx through ASGI, Starlette's async test client) signed in as any of
them the way a person is: a one-time link from /web, opened and posted.

    async def test_x(web):                 # fixture in conftest
        gestora = await web.person("Daniela", Role.GESTORA)
        c = await web.signed_in(gestora)
        r = await c.get(web.url("inicio"))
        await c.post(web.url("reuniones", "nueva"), data={...})  # the CSRF token is added
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import httpx
from sqlalchemy.orm import selectinload
from starlette.applications import Starlette
from starlette.routing import Mount

from bot.app import App
from services import web_access
from storage import people, programs
from storage.models import Person, Program
from web.app import build
from web.context import Panel

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


class Browser(httpx.AsyncClient):
    """A signed-in browser: every POST carries the page's CSRF token unless told not to."""

    csrf: str | None = None

    async def post(self, url: Any, *, with_csrf: bool = True, **kw: Any  # type: ignore[override]
                   ) -> httpx.Response:
        if with_csrf and self.csrf:
            data = kw.get("data")
            if isinstance(data, dict) and "csrf" not in data:
                kw["data"] = {**data, "csrf": self.csrf}
            elif data is None and "json" not in kw and "content" not in kw:
                kw["data"] = {"csrf": self.csrf}
        return await super().post(url, **kw)

    async def send(self, request: httpx.Request, **kw: Any) -> httpx.Response:  # type: ignore[override]
        response = await super().send(request, **kw)
        if "text/html" in response.headers.get("content-type", ""):
            await response.aread()
            found = CSRF.search(response.text)
            if found:
                self.csrf = html.unescape(found.group(1))
        return response


@dataclass
class WebHarness:
    app: App
    program: Program
    panel: Panel
    asgi: Any
    browsers: list[Browser] = field(default_factory=list)

    def url(self, section: str = "inicio", rest: str = "", program_id: int | None = None) -> str:
        pid = program_id or self.program.id
        if section == "inicio" and not rest:
            return f"/web/p/{pid}/"
        return f"/web/p/{pid}/{section}/{rest}"

    def browser(self) -> Browser:
        b = Browser(transport=httpx.ASGITransport(app=self.asgi), base_url="http://panel.test",
                    follow_redirects=True)
        self.browsers.append(b)
        return b

    async def person(self, name: str, *roles: str, program_id: int | None = None,
                     channel: str = "telegram", address: str | None = None) -> Person:
        pid = program_id or self.program.id
        async with self.app.sessions() as s:
            person = await people.create_with_address(
                s, channel, address or f"{abs(hash(name)) % 10**9}", now=self.app.clock.now(),
                name=name)
            person.consent_at = self.app.clock.now()
            await s.flush()
            for role in roles:
                await people.grant(s, person, role, pid, self.app.clock.now())
            await s.commit()
            return await s.get(Person, person.id, options=[selectinload(Person.roles)])

    async def another_programme(self, name: str, template: str = "ecomercado-15m",
                                start: date | None = None) -> Program:
        """A second programme in the same installation (starting with this one unless
        told), for what one programme's staff must not see of another."""
        async with self.app.sessions() as s:
            other = await programs.create(s, template=template,
                                          start=start or self.program.start_date, name=name,
                                          now=self.app.clock.now())
            await s.commit()
        return other

    async def link(self, person: Person) -> str:
        """What /web sends this person: the path of a fresh one-time link."""
        async with self.app.sessions() as s:
            p = await s.get(Person, person.id, options=[selectinload(Person.roles)])
            token = web_access.issue_login(s, p, self.app.clock.now())
            await s.commit()
        assert token is not None, f"{person.name} may not use the panel"
        return f"/web/login/{token}"

    async def signed_in(self, person: Person) -> Browser:
        b = self.browser()
        path = await self.link(person)
        page = await b.get(path)
        assert page.status_code == 200
        token = path.rsplit("/", 1)[1]
        r = await b.post("/web/login", data={"token": token}, with_csrf=False)
        assert r.history and r.history[0].status_code == 303, r.text
        assert any(c.name == "convoca_session" for c in b.cookies.jar)
        return b

    async def simulated(self, now: datetime) -> Any:
        """A whole programme's records up to ``now`` (tests/programme_records.simulate), the
        clock set there; its Records name the programme."""
        from programme_records import simulate

        self.app.clock.set(now)
        async with self.app.sessions() as s:
            records = await simulate(s, now)
            await s.commit()
        return records

    async def close(self) -> None:
        for b in self.browsers:
            await b.aclose()


async def make_harness(app: App, *, template: str = "ecomercado-15m",
                       start: date | None = None, name: str = "Ecomercado Solidario de Quilpué"
                       ) -> WebHarness:
    async with app.sessions() as s:
        program = await programs.create(
            s, template=template, start=start or app.clock.now().date().replace(day=1),
            name=name, now=app.clock.now())
        await s.commit()
    panel = Panel(app.sessions, app.clock, app.catalogs, "http://panel.test",
                  telegram_token=app.settings.token, capabilities=app.services.capabilities,
                  default_locale=app.settings.default_locale)
    # Mounted where the process's server mounts it (bot.http), so paths and cookies match.
    root = Starlette(routes=[Mount("/web", app=build(panel))])
    return WebHarness(app, program, panel, root)
