"""The issue's "done when", end to end: `convoca run` (Telegram on the fake Bot API, the panel
on the process's one HTTP server), a gestora registered through the bot sends /web, opens the
link with a real HTTP client and sees her programme's calendar in Spanish; the link does not
work twice; a page without a session shows nothing; a family gets a kind refusal and no
link. And the Mini App menu button: set for the team's chats, never for a family's."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from sqlalchemy import select
from test_webhook import SECRET, free_port

from bot.app import App, build_app, run_channels
from storage import people, programs
from storage.models import AuditEntry, Family, Person, Role, WebSession
from telegram_harness import running

GESTORA, FAMILY = 7101, 7102
PROGRAMME = "Ecomercado Solidario de Villa Alemana"
LINK = re.compile(r"(https?://\S+/web/login/[A-Za-z0-9_-]+)")
REFUSAL = "El panel web es una herramienta del equipo"


@asynccontextmanager
async def convoca_run(fake: Any, settings_for: Any, url: str, clock: Any, **extra: Any
                      ) -> AsyncIterator[tuple[App, str]]:
    """`convoca run` with the panel on a free port; yields the app and the panel's base."""
    port = free_port()
    settings = settings_for(url, telegram_bot_token=fake.token,
                            telegram_api_base=fake.base_url, web_panel=True,
                            http_listen=f"127.0.0.1:{port}", **extra)
    app = await build_app(settings, clock=clock)
    task = asyncio.create_task(run_channels(app))
    try:
        await fake.wait_for_poll(timeout=15)
        yield app, f"http://127.0.0.1:{port}"
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await app.close()


async def said(fake: Any, chat: int, command: str, count: int = 1, payload: str | None = None
               ) -> list[dict[str, Any]]:
    before = len(fake.delivered(chat))
    fake.command(chat, command, payload)
    await fake.wait_for(lambda _r: len(fake.delivered(chat)) >= before + count, timeout=15)
    return [r.params for r in fake.delivered(chat)[before:]]


async def pressed(fake: Any, chat: int, label: str, count: int = 1) -> list[dict[str, Any]]:
    data, message_id = next(
        (b["callback_data"], rec.result["message_id"]) for rec in reversed(fake.delivered(chat))
        for row in (rec.params.get("reply_markup") or {}).get("inline_keyboard", [])
        for b in row if b["text"] == label)
    before = len(fake.delivered(chat))
    fake.callback(chat, data, message_id=message_id)
    await fake.wait_for(lambda _r: len(fake.delivered(chat)) >= before + count, timeout=15)
    return [r.params for r in fake.delivered(chat)[before:]]


async def register(fake: Any, chat: int, name: str, phone: str | None = None) -> None:
    """/start and consent, as anyone joins; with a phone, shared as Telegram's button does."""
    fake.add_chat(chat, first_name=name)
    await said(fake, chat, "/start")
    await pressed(fake, chat, "✅ Sí, acepto", count=2)
    if phone is not None:
        before = len(fake.delivered(chat))
        fake.contact(chat, phone)
        await fake.wait_for(lambda _r: len(fake.delivered(chat)) > before, timeout=15)


async def seed_programme(app: App) -> int:
    now = app.clock.now()
    async with app.sessions() as s:
        program = await programs.create(s, template="ecomercado-15m",
                                        start=now.date().replace(day=1), name=PROGRAMME,
                                        now=now)
        s.add(Family(program_id=program.id, name="Rojas Pérez", phone="+56987654321",
                     created_at=now))
        await s.commit()
        return program.id


async def grant(app: App, chat: int, role: str, program_id: int) -> None:
    """What `convoca role grant` does for the person behind this chat."""
    async with app.sessions() as s:
        person = await people.by_address(s, "telegram", str(chat))
        assert person is not None and person.consent_at is not None
        await people.grant(s, person, role, program_id, app.clock.now())
        await s.commit()


def texts(fake: Any, chat: int) -> list[str]:
    return fake.texts(chat, plain=True)


async def test_a_gestora_signs_in_from_web_and_a_family_gets_no_link(
        fake_tg, settings_for, sqlite_url, clock) -> None:
    async with convoca_run(fake_tg, settings_for, sqlite_url, clock) as (app, base):
        program_id = await seed_programme(app)
        await register(fake_tg, GESTORA, "Daniela")
        await grant(app, GESTORA, Role.GESTORA, program_id)
        await register(fake_tg, FAMILY, "Rosa", phone="56987654321")
        [panel] = await said(fake_tg, GESTORA, "/panel")
        assert panel["text"].endswith("escribe /web y te envío un enlace para abrirlo en el "
                                      "computador.")
        assert len(panel["reply_markup"]["inline_keyboard"]) == 10  # a list's ten rows at most

        [answer] = await said(fake_tg, GESTORA, "/web")
        [url] = LINK.findall(answer["text"])
        assert url.startswith(f"{base}/web/login/")
        assert "15 minutos" in answer["text"]
        close = [b["text"] for row in answer["reply_markup"]["inline_keyboard"] for b in row]
        assert close == ["🔒 Cerrar mis sesiones del panel"]
        # No https address: no Mini App (Telegram loads none from http).
        assert fake_tg.calls("setChatMenuButton") == []

        token = url.rsplit("/", 1)[1]
        async with httpx.AsyncClient(follow_redirects=True, timeout=15) as browser:
            page = await browser.get(url)  # what the browser shows first: a form, nothing spent
            assert page.status_code == 200 and f'value="{token}"' in page.text
            home = await browser.post(f"{base}/web/login", data={"token": token})
            assert home.status_code == 200, home.text
            assert str(home.url) == f"{base}/web/p/{program_id}/"
            assert PROGRAMME in home.text and "Calendario de etapas" in home.text
            assert 'lang="es-CL"' in home.text
        async with httpx.AsyncClient(follow_redirects=True, timeout=15) as other:
            again = await other.post(f"{base}/web/login", data={"token": token})
            assert again.status_code == 403 and PROGRAMME not in again.text
            assert not other.cookies
            nobody = await other.get(f"{base}/web/p/{program_id}/")
            assert str(nobody.url) == f"{base}/web/entrar"
            assert PROGRAMME not in nobody.text and "Calendario de etapas" not in nobody.text

        [refusal] = await said(fake_tg, FAMILY, "/web")
        assert refusal["text"].startswith(REFUSAL)
        assert not any("/web/login/" in t for t in texts(fake_tg, FAMILY))
        assert fake_tg.menu_button(FAMILY) == {"type": "commands"}

        # "Close all my sessions" from the chat: the browser's session is over.
        [closed] = await pressed(fake_tg, GESTORA, "🔒 Cerrar mis sesiones del panel")
        assert closed["text"].startswith("🔒 Listo: cerré 1 sesión tuya del panel web.")
        async with app.sessions() as s:
            gestora = await people.by_address(s, "telegram", str(GESTORA))
            rows = (await s.scalars(select(WebSession).where(
                WebSession.person_id == gestora.id))).all()
            assert len(rows) == 1 and rows[0].closed_at is not None
            actions = list(await s.scalars(select(AuditEntry.action).where(
                AuditEntry.actor_id == gestora.id, AuditEntry.action.like("web.%"))))
            assert actions == ["web.login_link", "web.signed_in", "web.signed_out_everywhere"]
            family = await people.by_address(s, "telegram", str(FAMILY))
            refused = await s.scalar(select(AuditEntry).where(
                AuditEntry.actor_id == family.id, AuditEntry.action == "admin_refused"))
            assert refused is not None and refused.details["what"] == "web"
        [none] = await said(fake_tg, GESTORA, "/web", payload="salir")
        assert none["text"] == "No tenías sesiones abiertas en el panel web. Todo en orden 👍"


async def test_the_mini_app_menu_button_is_set_for_the_team_and_not_for_a_family(
        fake_tg, settings_for, sqlite_url, clock) -> None:
    async with running(fake_tg, settings_for, sqlite_url, clock, web_panel=True,
                       public_url="https://convoca.example.org", webhook_secret=SECRET) as r:
        program_id = await seed_programme(r.app)
        for chat, name in ((GESTORA, "Daniela"), (FAMILY, "Rosa")):
            fake_tg.add_chat(chat, first_name=name)
            await r.send(chat, "/start")
            await r.press(chat, "✅ Sí, acepto", count=2)
        await grant(r.app, GESTORA, Role.RECINTO, program_id)
        [link] = await r.send(GESTORA, "/web")
        assert "https://convoca.example.org/web/login/" in link["text"]
        assert fake_tg.menu_button(GESTORA) == {
            "type": "web_app", "text": "Panel web",
            "web_app": {"url": "https://convoca.example.org/web/telegram"}}
        [refusal] = await r.send(FAMILY, "/web")
        assert refusal["text"].startswith(REFUSAL)
        assert fake_tg.menu_button(FAMILY) == {"type": "commands"}
        assert [c.chat_id for c in fake_tg.calls("setChatMenuButton")] == [GESTORA]
        async with r.app.sessions() as s:
            family = await people.by_address(s, "telegram", str(FAMILY))
            assert family is not None and not (await s.get(Person, family.id)).roles


async def test_without_the_panel_web_says_so_kindly(tg) -> None:
    """`convoca worker` or WEB_PANEL=false: no panel, no link, and a way that works."""
    tg.fake.add_chat(GESTORA, first_name="Daniela")
    await tg.send(GESTORA, "/start")
    await tg.press(GESTORA, "✅ Sí, acepto", count=2)
    program_id = await seed_programme(tg.app)
    await grant(tg.app, GESTORA, Role.GESTORA, program_id)
    [answer] = await tg.send(GESTORA, "/web")
    assert answer["text"].startswith("El panel web no está activado en esta instalación.")
    [panel] = await tg.send(GESTORA, "/panel")
    assert "/web" not in panel["text"]
