"""Signing in to the web panel and every refusal: no session, a used or expired link, a
family member's link, the wrong role, another programme, a missing or wrong CSRF token."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from datetime import timedelta
from urllib.parse import urlencode

from sqlalchemy import func, select

from services import web_access
from storage.models import AuditEntry, Role, WebLogin, WebSession


async def test_a_link_signs_in_once_and_shows_the_programme_in_spanish(web) -> None:
    gestora = await web.person("Daniela Vergara", Role.GESTORA)
    b = web.browser()
    path = await web.link(gestora)
    token = path.rsplit("/", 1)[1]
    # The GET (a chat app's link preview does one) spends nothing.
    assert (await b.get(path)).status_code == 200
    assert (await b.get(path)).status_code == 200
    home = await b.post("/web/login", data={"token": token}, with_csrf=False)
    assert home.status_code == 200
    assert str(home.url).endswith(web.url())
    assert "Ecomercado Solidario de Quilpué" in home.text
    assert "Calendario de etapas" in home.text
    assert 'lang="es-CL"' in home.text
    cookie = next(c for c in b.cookies.jar if c.name == "convoca_session")
    assert cookie.has_nonstandard_attr("HttpOnly")
    # The same link a second time, in another browser: no session.
    other = web.browser()
    again = await other.post("/web/login", data={"token": token}, with_csrf=False)
    assert again.status_code == 403
    assert "ya no sirve" in again.text
    assert "Ecomercado" not in again.text
    assert not any(c.name == "convoca_session" for c in other.cookies.jar)


async def test_only_the_hash_of_a_token_is_kept(web) -> None:
    gestora = await web.person("Daniela", Role.GESTORA)
    path = await web.link(gestora)
    token = path.rsplit("/", 1)[1]
    assert len(token) >= 43  # 256 bits, base64
    async with web.app.sessions() as s:
        [row] = (await s.scalars(select(WebLogin))).all()
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in row.token_hash


async def test_an_expired_link_does_not_sign_in(web) -> None:
    gestora = await web.person("Daniela", Role.GESTORA)
    path = await web.link(gestora)
    web.app.clock.advance(timedelta(minutes=16))
    r = await web.browser().post("/web/login", data={"token": path.rsplit("/", 1)[1]})
    assert r.status_code == 403


async def test_a_link_whose_role_went_does_not_sign_in(web) -> None:
    gestora = await web.person("Daniela", Role.GESTORA)
    path = await web.link(gestora)
    async with web.app.sessions() as s:
        from storage import people
        person = await people.by_address(s, "telegram", gestora.addresses[0].address) \
            if gestora.addresses else None
        assert person is not None
        await people.revoke(s, person.id, Role.GESTORA, web.program.id)
        await s.commit()
    r = await web.browser().post("/web/login", data={"token": path.rsplit("/", 1)[1]})
    assert r.status_code == 403


async def test_a_family_gets_no_link(web) -> None:
    family = await web.person("Rosa González", Role.FAMILIA)
    async with web.app.sessions() as s:
        person = await s.get(type(family), family.id)
        await s.refresh(person, ["roles"])
        assert web_access.issue_login(s, person, web.app.clock.now()) is None


async def test_no_session_shows_no_data(web) -> None:
    await web.person("Daniela", Role.GESTORA)
    b = web.browser()
    for path in (web.url(), "/web/"):
        r = await b.get(path)
        assert str(r.url).endswith("/web/entrar")
        assert "Ecomercado" not in r.text
        assert "/web" in r.text
    htmx = await b.get(web.url(), headers={"HX-Request": "true"}, follow_redirects=False)
    assert htmx.status_code == 401 and htmx.headers["HX-Redirect"] == "/web/entrar"


async def test_wrong_programme_and_wrong_role_are_refused(web) -> None:
    other = await web.another_programme("Ecomercado de Otra Comuna", "ecomercado-10m")
    gestora = await web.person("Daniela", Role.GESTORA)
    b = await web.signed_in(gestora)
    r = await b.get(web.url(program_id=other.id))
    assert r.status_code == 404 and "Otra Comuna" not in r.text
    r = await b.get(web.url(program_id=999))
    assert r.status_code == 404
    recinto = await web.person("Don Pedro", Role.RECINTO)
    c = await web.signed_in(recinto)
    r = await c.get(web.url())
    assert r.status_code == 403 and "no es para tu rol" in r.text


async def test_a_post_without_the_csrf_token_changes_nothing(web) -> None:
    gestora = await web.person("Daniela", Role.GESTORA)
    b = await web.signed_in(gestora)
    r = await b.post("/web/idioma", data={"lang": "en"}, with_csrf=False)
    assert r.status_code == 403
    r = await b.post("/web/idioma", data={"lang": "en", "csrf": "forged"}, with_csrf=False)
    assert r.status_code == 403
    assert 'lang="es-CL"' in (await b.get(web.url())).text


async def test_english_on_a_switch(web) -> None:
    gestora = await web.person("Daniela", Role.GESTORA)
    b = await web.signed_in(gestora)
    r = await b.post("/web/idioma", data={"lang": "en", "back": web.url()})
    assert r.status_code == 200
    assert "Stage calendar" in r.text and 'lang="en"' in r.text


async def test_signing_out_everywhere_closes_every_session(web) -> None:
    gestora = await web.person("Daniela", Role.GESTORA)
    laptop = await web.signed_in(gestora)
    phone = await web.signed_in(gestora)
    r = await laptop.post("/web/salir-de-todo")
    assert str(r.url).endswith("/web/entrar")
    r = await phone.get(web.url())
    assert str(r.url).endswith("/web/entrar")
    async with web.app.sessions() as s:
        open_ = await s.scalar(select(func.count()).select_from(WebSession).where(
            WebSession.closed_at.is_(None)))
        audited = (await s.scalars(select(AuditEntry.action))).all()
    assert open_ == 0
    assert {"web.login_link", "web.signed_in", "web.signed_out_everywhere"} <= set(audited)


def _init_data(token: str, user_id: int, auth_date: int, **extra: str) -> str:
    fields = {"auth_date": str(auth_date), "query_id": "AAHdF6IQAAAAAN0XohDhrOrc",
              "user": json.dumps({"id": user_id, "first_name": "Daniela"}), **extra}
    check = "\n".join(f"{k}={v}" for k, v in sorted(fields.items()))
    secret = hmac.new(b"WebAppData", token.encode(), hashlib.sha256).digest()
    fields["hash"] = hmac.new(secret, check.encode(), hashlib.sha256).hexdigest()
    return urlencode(fields)


async def test_the_mini_app_signs_in_with_fresh_signed_init_data(web) -> None:
    web.panel.telegram_token = "123456:TEST-TOKEN"
    await web.person("Daniela", Role.GESTORA, address="424242")
    now = int(web.app.clock.now().timestamp())
    b = web.browser()
    page = await b.get("/web/telegram")
    assert "telegram-web-app.js" in page.text
    assert "https://telegram.org" in page.headers["content-security-policy"]
    good = _init_data("123456:TEST-TOKEN", 424242, now - 30)
    r = await b.post("/web/telegram", data={"init_data": good}, with_csrf=False)
    assert r.status_code == 200 and r.json()["ok"]
    assert "Calendario de etapas" in (await b.get(web.url())).text

    for refused in (
        _init_data("999:OTHER-TOKEN", 424242, now),  # signed by another bot
        _init_data("123456:TEST-TOKEN", 424242, now - 2 * 3600),  # stale
        _init_data("123456:TEST-TOKEN", 555, now),  # nobody we know
        good.replace("Daniela", "Mallory"),  # tampered
    ):
        other = web.browser()
        r = await other.post("/web/telegram", data={"init_data": refused}, with_csrf=False)
        assert r.status_code == 403
        assert not any(c.name == "convoca_session" for c in other.cookies.jar)


async def test_the_csrf_token_reads_differently_in_every_page_and_pages_are_compressed(web
                                                                                       ) -> None:
    gestora = await web.person("Daniela", Role.GESTORA)
    b = await web.signed_in(gestora)
    first = (await b.get(web.url())).text
    second = (await b.get(web.url())).text
    token = re.compile(r'name="csrf" value="([^"]+)"')
    one, two = token.search(first).group(1), token.search(second).group(1)
    assert one != two  # a fixed secret beside reflected text leaks through compression
    for given in (one, two):
        r = await b.post("/web/idioma", data={"lang": "es", "back": web.url(), "csrf": given})
        assert r.status_code == 200
    async with web.app.sessions() as s:
        [row] = (await s.scalars(select(WebSession))).all()
    refused = await b.post("/web/idioma", data={"lang": "en", "csrf": row.csrf}, with_csrf=False)
    assert refused.status_code == 403  # the unmasked secret itself is not a token
    raw = await b.get(web.url(), headers={"Accept-Encoding": "gzip"})
    assert raw.headers["content-encoding"] == "gzip"


async def test_a_post_from_another_site_is_refused_before_anything_else(web) -> None:
    gestora = await web.person("Daniela", Role.GESTORA)
    path = await web.link(gestora)
    token = path.rsplit("/", 1)[1]
    b = web.browser()
    for headers in ({"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"},
                    {"Origin": "null", "Sec-Fetch-Site": "cross-site"}):
        r = await b.post("/web/login", data={"token": token}, headers=headers,
                         with_csrf=False)
        assert r.status_code == 403
    # The link was not spent by the refused tries: the panel's own page still signs in.
    ok = await b.post("/web/login", data={"token": token}, with_csrf=False,
                      headers={"Origin": "http://panel.test"})
    assert "Calendario de etapas" in ok.text


async def test_a_body_past_its_limit_is_refused_unread(web) -> None:
    b = web.browser()
    big = b"token=" + b"x" * (200 * 1024)
    r = await b.post("/web/login", content=big, with_csrf=False,
                     headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 413

    async def chunks():  # no Content-Length: counted as it comes
        for _ in range(100):
            yield b"x" * 1024

    r = await b.post("/web/telegram", content=chunks(), with_csrf=False,
                     headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 413


async def test_static_files_are_cached_and_pages_are_not(web) -> None:
    gestora = await web.person("Daniela", Role.GESTORA)
    b = await web.signed_in(gestora)
    css = await b.get("/web/static/convoca.css")
    assert css.status_code == 200 and "immutable" in css.headers["cache-control"]
    assert (await b.get(web.url())).headers["cache-control"] == "no-store"


async def test_a_mini_app_session_cookie_works_in_telegram_webs_frame(web) -> None:
    web.panel.telegram_token = "123456:TEST-TOKEN"
    web.panel.public_url = "https://panel.test"
    await web.person("Daniela", Role.GESTORA, address="424242")
    now = int(web.app.clock.now().timestamp())
    r = await web.browser().post(
        "/web/telegram", data={"init_data": _init_data("123456:TEST-TOKEN", 424242, now)},
        with_csrf=False)
    cookie = r.headers["set-cookie"].lower()
    assert "samesite=none" in cookie and "secure" in cookie and "partitioned" in cookie
    assert "web.telegram.org" in r.headers["content-security-policy"]


async def test_someone_on_two_programmes_chooses_and_can_switch(web) -> None:
    other = await web.another_programme("Ecomercado de Villa Alemana", "ecomercado-10m")
    coordinadora = await web.person("Paula", Role.COORDINADORA)
    async with web.app.sessions() as s:
        from storage import people
        person = await s.get(type(coordinadora), coordinadora.id)
        await people.grant(s, person, Role.COORDINADORA, other.id, web.app.clock.now())
        await s.commit()
    b = await web.signed_in(coordinadora)
    chooser = await b.get("/web/")
    assert "Ecomercado Solidario de Quilpué" in chooser.text
    assert "Ecomercado de Villa Alemana" in chooser.text
    there = await b.get(web.url(program_id=other.id))
    assert there.status_code == 200 and "Cambiar de programa" in there.text
    gestora = await web.person("Daniela", Role.GESTORA)
    alone = await web.signed_in(gestora)
    assert "Cambiar de programa" not in (await alone.get(web.url())).text
