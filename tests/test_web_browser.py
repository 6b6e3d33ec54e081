"""The panel in a real browser (Debian's chromium through Playwright, tests/browser_harness.py):
signing in with the link from chat, the language switch, the keyboard, a phone's width, and
scripts that run under the panel's CSP without one error on the console."""

from __future__ import annotations

import pytest

from storage.models import Role

pytest_plugins = ("browser_harness",)
pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_the_link_from_chat_opens_inicio_once(site) -> None:
    gestora = await site.web.person("Daniela Vergara", Role.GESTORA)
    view = await site.view()
    path = await site.web.link(gestora)
    await site.open_link(view, path)
    page = view.page
    assert page.url == site.base_url + site.web.url()
    assert await page.locator("h1").inner_text() == "Ecomercado Solidario de Quilpué"
    assert await page.get_by_role("heading", name="Calendario de etapas").is_visible()
    assert await page.locator("html").get_attribute("lang") == "es-CL"
    # HttpOnly: the page's scripts cannot read the session.
    assert "convoca_session" not in await page.evaluate("document.cookie")
    assert any(c["name"] == "convoca_session" and c["httpOnly"]
               for c in await view.context.cookies())

    # The same link again, in another browser (no cookie): refused, no data shown.
    again = await site.view()
    again.console.allow(r"status of 403")  # Chromium logs the refused POST's status
    await site.open_link(again, path)
    assert again.page.url == site.base_url + "/web/login"
    body = await again.page.locator("body").inner_text()
    assert "ya no sirve" in body
    assert "Ecomercado" not in body
    assert not await again.context.cookies()


async def test_the_language_switch_turns_the_page_to_english(site) -> None:
    gestora = await site.web.person("Daniela Vergara", Role.GESTORA)
    view = await site.signed_in(gestora)
    # No button: choosing is enough (the <noscript> button is for pages without scripts).
    await view.page.select_option("#lang", "en")
    # A locator, not wait_for_function: a string predicate is an eval, which the CSP refuses.
    await view.page.locator("html[lang='en']").wait_for(state="attached")
    await view.settled("inicio-en")
    assert view.page.url == site.base_url + site.web.url()
    assert await view.page.get_by_role("heading", name="Stage calendar").is_visible()
    assert await view.page.locator("#lang").input_value() == "en"
    # The choice is the session's: the next page is English too.
    await view.goto(site.web.url(), shot="inicio-en-again")
    assert await view.page.get_by_role("heading", name="Stage calendar").is_visible()


async def test_tab_reaches_the_skip_link_first_and_it_moves_focus_to_main(site) -> None:
    gestora = await site.web.person("Daniela Vergara", Role.GESTORA)
    view = await site.signed_in(gestora)
    page = view.page
    await page.keyboard.press("Tab")
    focused = await page.evaluate(
        "[document.activeElement.tagName, document.activeElement.className,"
        " document.activeElement.getAttribute('href')]")
    assert focused == ["A", "skip", "#main"]
    # Hidden until focused, then on screen for a sighted keyboard user.
    assert await page.locator("a.skip").is_visible()
    await view.screenshot("skip-link-focused")
    await page.keyboard.press("Enter")
    assert await page.evaluate("document.activeElement.id") == "main"
    # The next Tab goes on inside the content, not back to the header.
    await page.keyboard.press("Tab")
    inside = await page.evaluate(
        "document.getElementById('main').contains(document.activeElement)"
        " || document.activeElement.closest('footer') !== null")
    assert inside


async def test_inicio_fits_a_phone_without_sideways_scroll(site) -> None:
    from browser_harness import PHONE

    gestora = await site.web.person("Daniela Vergara", Role.GESTORA)
    view = await site.signed_in(gestora, viewport=PHONE)
    await view.screenshot("inicio-phone")
    assert await view.page.evaluate("window.innerWidth") == PHONE["width"]
    assert await view.horizontal_overflow() == 0
    assert await view.page.get_by_role("heading", name="Calendario de etapas").is_visible()


async def test_htmx_loads(site) -> None:
    gestora = await site.web.person("Daniela Vergara", Role.GESTORA)
    view = await site.signed_in(gestora)
    assert await view.page.evaluate("typeof window.htmx") == "object"
    assert await view.page.evaluate("typeof window.htmx.ajax") == "function"


async def test_htmx_loads_and_the_csp_lets_every_script_run_cleanly(site) -> None:
    gestora = await site.web.person("Daniela Vergara", Role.GESTORA)
    view = await site.view()
    view.console.strict()
    await site.open_link(view, await site.web.link(gestora))
    assert await view.page.evaluate("typeof window.htmx") == "object"
    assert await view.page.evaluate("typeof window.htmx.ajax") == "function"
    csp = (await view.page.request.get(site.base_url + site.web.url())).headers[
        "content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    # The page's own requests (htmx's included) carry the CSRF header from <body hx-headers>.
    headers = await view.page.evaluate(
        "JSON.parse(document.body.getAttribute('hx-headers'))")
    assert headers.get("X-CSRF-Token")
    view.console.check()


async def test_an_error_on_the_console_fails_the_check(site) -> None:
    """The check itself can fail: a script error and a CSP violation are both caught."""
    view = await site.view()
    await view.goto("/web/entrar", shot="signed-out")
    async with view.page.expect_event("pageerror"):
        await view.page.evaluate("setTimeout(() => { throw new Error('boom') }, 0)")
    async with view.page.expect_console_message(lambda m: m.type == "error"):
        await view.page.evaluate(
            "(() => { const s = document.createElement('script');"
            " s.textContent = 'window.ran = 1'; document.head.appendChild(s); })()")
    assert await view.page.evaluate("window.ran") is None  # the inline script was refused
    with pytest.raises(AssertionError) as failed:
        view.console.check()
    text = str(failed.value)
    assert "boom" in text
    assert "Content Security Policy" in text or "CSP violation" in text
