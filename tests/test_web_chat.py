"""/web in the chat, on every channel: who gets a link and who a kind refusal, how /panel
points to it, the console printing the link as text, and the Mini App kept to the channel
that has one (Outgoing.menu_app, stored in the outbox)."""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator

import pytest
from core_harness import CoreHarness
from sqlalchemy import func, select

from bot import console, telegram, whatsapp
from bot.app import App, build_app
from handlers.buttons import ButtonCodec
from locales import Catalogs, Msg
from services.messages import Button, Outgoing
from storage import people, programs
from storage.models import OutboxMessage, Person, Role, WebLogin
from telegram_harness import bot_for

PUBLIC = "https://convoca.example.org"


@pytest.fixture
async def app(settings_for, sqlite_url, clock) -> AsyncIterator[App]:
    built = await build_app(settings_for(sqlite_url, web_panel=True, public_url=PUBLIC),
                            clock=clock)
    yield built
    await built.close()


async def someone(app: App, channel: str, address: str, *roles: str, consent: bool = True
                  ) -> int:
    now = app.clock.now()
    async with app.sessions() as s:
        program = (await programs.all_programs(s) or [None])[0]
        if program is None:
            program = await programs.create(s, template="ecomercado-15m",
                                            start=now.date().replace(day=1),
                                            name="Ecomercado de Limache", now=now)
        person = await people.create_with_address(s, channel, address, now=now, name=address)
        person.consent_at = now if consent else None
        await s.flush()
        for role in roles:
            await people.grant(s, person, role, program.id, now)
        await s.commit()
        return person.id


async def logins(app: App) -> int:
    async with app.sessions() as s:
        return await s.scalar(select(func.count()).select_from(WebLogin))


@pytest.mark.parametrize("role", [Role.GESTORA, Role.COORDINADORA, Role.RECINTO,
                                  Role.SUPERVISOR])
async def test_the_staff_gets_a_link_on_the_console_printed_as_text(app: App, role: str
                                                                    ) -> None:
    await someone(app, "console", "1", role)
    h = CoreHarness(app, "console")
    [reply] = await h.text("1", "/web")
    assert f"{PUBLIC}/web/login/" in reply.text and "15 minutos" in reply.text
    assert [label for label, _ in reply.buttons] == ["🔒 Cerrar mis sesiones del panel"]
    # The console keeps no web app beside the chat: none is asked of it.
    assert reply.raw.menu_app is None and not console.CAPABILITIES.menu_app
    assert await logins(app) == 1
    screen = io.StringIO()
    terminal = console.ConsoleChannel(app.catalogs, app.services.buttons, "America/Santiago",
                                      out=screen)
    async with app.sessions() as s:
        row = await s.scalar(select(OutboxMessage).order_by(OutboxMessage.id.desc()))
    await terminal.deliver(row)
    printed = screen.getvalue()
    assert f"{PUBLIC}/web/login/" in printed and "Cerrar mis sesiones del panel" in printed


@pytest.mark.parametrize("roles", [(Role.FAMILIA,), (Role.REPRESENTANTE,),
                                   (Role.GRUPO_MOTOR, Role.CONSEJO_LOCAL), ()])
async def test_everyone_else_is_refused_kindly_and_gets_no_link(app: App, roles) -> None:
    await someone(app, "whatsapp", "56911111111", *roles)
    h = CoreHarness(app, "whatsapp")
    [reply] = await h.text("56911111111", "/web")
    assert reply.text.startswith("El panel web es una herramienta del equipo")
    assert "/web/login/" not in reply.text and not reply.buttons
    [again] = await h.text("56911111111", "/web salir")
    assert again.text == reply.text
    assert await logins(app) == 0


async def test_a_newcomer_is_asked_to_start_first(app: App) -> None:
    await someone(app, "whatsapp", "56922222222", Role.GESTORA, consent=False)
    [reply] = await CoreHarness(app, "whatsapp").text("56922222222", "/web")
    assert reply.text == "¡Hola! Escribe /start para comenzar."
    assert await logins(app) == 0


async def test_only_a_channel_with_a_menu_app_is_given_one(app: App) -> None:
    app.services.capabilities["telegram"] = telegram.CAPABILITIES
    await someone(app, "telegram", "501", Role.GESTORA)
    await someone(app, "whatsapp", "56933333333", Role.GESTORA)
    [tg] = await CoreHarness(app, "telegram").text("501", "/web")
    assert tg.raw.menu_app == (Msg("web_chat.menu_button"), f"{PUBLIC}/web/telegram")
    [wa] = await CoreHarness(app, "whatsapp").text("56933333333", "/web")
    assert wa.raw.menu_app is None and not whatsapp.CAPABILITIES.menu_app
    assert f"{PUBLIC}/web/login/" in wa.text


async def test_the_panel_says_how_to_reach_the_web_and_keeps_its_ten_rows(app: App) -> None:
    await someone(app, "whatsapp", "56944444444", Role.GESTORA)
    h = CoreHarness(app, "whatsapp")
    [panel] = await h.text("56944444444", "/panel")
    assert panel.text.startswith("🧰 Panel del equipo. ¿Qué quieres hacer?")
    assert panel.text.endswith("🖥️ Panel web: escribe /web y te envío un enlace para abrirlo "
                               "en el computador.")
    assert len(panel.raw.buttons) == 10


async def test_the_close_button_closes_and_says_how_many(app: App, clock) -> None:
    from services import web_access

    pid = await someone(app, "whatsapp", "56955555555", Role.COORDINADORA)
    for _ in range(2):  # two browsers signed in
        async with app.sessions() as s:
            person = await s.get(Person, pid)
            await s.refresh(person, ["roles"])
            token = web_access.issue_login(s, person, clock.now())
            await s.commit()
        async with app.sessions() as s:
            assert await web_access.redeem_login(s, token, clock.now()) is not None
            await s.commit()
    h = CoreHarness(app, "whatsapp")
    await h.text("56955555555", "/web")
    [closed] = await h.press("56955555555", "🔒 Cerrar mis sesiones del panel")
    assert closed.text.startswith("🔒 Listo: cerré 2 sesiones tuyas del panel web.")
    [none] = await h.text("56955555555", "/web salir")
    assert none.text.startswith("No tenías sesiones abiertas")


def test_a_menu_app_survives_the_outbox() -> None:
    out = Outgoing(text=Msg("web_chat.link", {"url": "https://x/web/login/t", "minutes": 15}),
                   buttons=((Button(Msg("web_chat.close_button"), "web:out"),),),
                   menu_app=(Msg("web_chat.menu_button"), "https://x/web/telegram"))
    stored = json.loads(json.dumps(out.to_json()))
    assert Outgoing.from_json(stored) == out
    assert "menu_app" not in Outgoing(text=Msg("web_chat.menu_button")).to_json()


async def test_telegram_sets_the_menu_button_before_the_message(fake_tg) -> None:
    """The menu first: a retry after a failure sets it again (harmless) rather than sending
    the message twice. An address Telegram refuses costs the button, not the message."""
    catalogs = Catalogs()
    bot = bot_for(fake_tg)
    channel = telegram.TelegramChannel(bot, catalogs, ButtonCodec(b"k" * 32, 64),
                                       "America/Santiago")
    fake_tg.add_chat(77)
    try:
        for url in ("https://x.example/web/telegram", "http://127.0.0.1:8080/web/telegram"):
            out = Outgoing(text=Msg("web_chat.menu_button"),
                           menu_app=(Msg("web_chat.menu_button"), url))
            result = await channel.deliver(OutboxMessage(
                person_id=1, address="77", locale="es", kind="reply", payload=out.to_json()))
            assert type(result).__name__ == "Delivered"
    finally:
        await bot.close()
    methods = [c.method for c in fake_tg.requests if c.chat_id == 77]
    assert methods == ["setChatMenuButton", "sendMessage"] * 2
    assert fake_tg.menu_button(77)["web_app"]["url"] == "https://x.example/web/telegram"


async def test_help_names_web_for_whoever_may_open_the_panel(app: App) -> None:
    await someone(app, "whatsapp", "56966666666", Role.SUPERVISOR)
    await someone(app, "whatsapp", "56977777777", Role.FAMILIA)
    h = CoreHarness(app, "whatsapp")
    [staff] = await h.text("56966666666", "/ayuda")
    assert "/web: un enlace para entrar al panel web" in staff.text
    [family] = await h.text("56977777777", "/ayuda")
    assert "/web" not in family.text


async def test_a_supervisor_given_by_the_team_gets_a_link_but_not_the_chat_panel(
        app: App) -> None:
    from storage import admin_meetings
    from storage.programs import STAFF_ROLES

    gestora = await someone(app, "whatsapp", "56966666666", Role.GESTORA)
    pid = await someone(app, "whatsapp", "56977777777")
    async with app.sessions() as s:
        person = await s.get(Person, pid)
        await s.refresh(person, ["roles"])
        program = (await programs.all_programs(s))[0]
        # The use case the chat's roles section and `convoca role grant` both call.
        assert await admin_meetings.grant_role(s, person, Role.SUPERVISOR, program,
                                               app.clock.now(), by=gestora)
        await s.commit()
    h = CoreHarness(app, "whatsapp")
    [reply] = await h.text("56977777777", "/web")
    assert f"{PUBLIC}/web/login/" in reply.text
    assert await logins(app) == 1
    # Reading the programme is the web panel's business: the chat's team panel stays closed.
    assert Role.SUPERVISOR not in STAFF_ROLES
    [panel] = await h.text("56977777777", "/panel")
    assert panel.text.startswith("Eso lo puede hacer solo el equipo del programa.")
