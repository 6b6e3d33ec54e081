"""The language switch in every page's header brings the reader back where she was: the same
page with its filters for a page read; for a refused form (a POST-only address), the page
the form was on, or the section's first page, never a GET that would answer 405."""

from __future__ import annotations

import html
import re

from storage.models import Role

BACK = re.compile(r'name="back" value="([^"]*)"')


def _back(text: str) -> str:
    return html.unescape(BACK.search(text).group(1))


async def test_a_page_read_comes_back_with_its_query(web) -> None:
    c = await web.signed_in(await web.person("Daniela Vergara", Role.GESTORA))
    page = await c.get(web.url("entregas", "?mes=2026-04&x=a%26b"))
    back = _back(page.text)
    assert back == web.url("entregas", "?mes=2026-04&x=a%26b")
    r = await c.post("/web/idioma", data={"lang": "en", "back": back})
    assert r.status_code == 200 and str(r.url).endswith("/entregas/?mes=2026-04&x=a%26b")
    assert 'lang="en"' in r.text


async def test_a_refused_form_comes_back_to_a_page_not_to_the_post_address(web) -> None:
    c = await web.signed_in(await web.person("Daniela Vergara", Role.GESTORA))
    nueva = web.url("reuniones", "nueva")
    refused = await c.post(nueva, data={"date": "ayer", "time": "99"})
    assert refused.status_code == 422
    # Without a referer: the section's first page.
    assert _back(refused.text) == web.url("reuniones")
    r = await c.post("/web/idioma", data={"lang": "en", "back": _back(refused.text)})
    assert r.status_code == 200 and 'lang="en"' in r.text
    # The browser says where the form was: back there (a GET page), with its query.
    form_page = "http://panel.test" + nueva + "?x=1"
    again = await c.post(nueva, data={"date": "ayer"}, headers={"referer": form_page})
    assert again.status_code == 422 and _back(again.text) == nueva + "?x=1"
    # Another site's referer is not followed.
    other = await c.post(nueva, data={"date": "ayer"},
                         headers={"referer": "http://elsewhere.test" + nueva})
    assert _back(other.text) == web.url("reuniones")
