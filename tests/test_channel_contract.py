"""The contract between the core and each channel: every reply the core produces, laid out
(channels.layout) within a channel's declared Capabilities, fits them, and every option it
shows leads to a handler. The replies are those the conversation flows produce on the
WhatsApp-limited test channel, and the synthetic maxima below."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime
from types import SimpleNamespace

import pytest
import test_wa_limited_admin as admin
import test_wa_limited_flows as flows
from wa_limited import WA_LIMITED, WaHarness, violations

from bot import console, telegram, whatsapp
from bot.app import build_app, channel_capabilities
from channels import LEAST, Capabilities
from channels.layout import lay_out
from handlers.buttons import ButtonCodec
from handlers.routes import build_router
from locales import Catalogs, Msg, Raw
from services.messages import Attachment, Button, DatePick, Outgoing, Pager
from storage.clock import ManualClock
from storage.models import OutboxMessage


def declared() -> dict[str, Capabilities]:
    """What each channel the app can build declares it can show (Telegram's also with the
    deep links it has once its bot name is known); and the bars every reply must pass
    (LEAST, the WhatsApp-limited test channel)."""
    found = {"least": LEAST, "wa_limited": WA_LIMITED,
             "telegram_with_links": telegram.capabilities("convoca_test_bot"),
             "whatsapp_with_links": whatsapp.capabilities("56223456789")}
    found.update(channel_capabilities(  # every channel the settings can turn on
        SimpleNamespace(token="t", whatsapp_enabled=True)))  # type: ignore[arg-type]
    return found


CHANNELS = declared()


def raw(text: str) -> Msg:
    return Msg("widget.label", {"text": Raw(text)})


def options(n: int, label: str = "Opción {}") -> tuple[tuple[Button, ...], ...]:
    return tuple((Button(raw(label.format(i)), f"adm:x:{i}"),) for i in range(n))


# Replies at the edge of what the core may say.
MAXIMA = {
    "100 options": Outgoing(text=raw("¿Cuál?"), buttons=options(100)),
    "long labels": Outgoing(text=raw("¿Cuál?"), buttons=options(
        5, "Sesión extraordinaria del Consejo Local de Villa Ñuñoa, número {}")),
    "labels alike when short": Outgoing(text=raw("¿Cuál?"), buttons=options(
        3, "Reunión del Grupo Motor del martes {} de abril")),
    "no text, only options": Outgoing(buttons=options(2)),
    "long text": Outgoing(text=raw("palabra " * 1200)),
    "long text with options": Outgoing(text=raw("línea\n" * 900), buttons=options(3)),
    "a pager": Outgoing(text=raw("Lista"), buttons=options(8), pager=Pager(2, 5, "adm:p:1",
                                                                             "adm:p:3")),
    "a day to pick": Outgoing(text=raw("¿Qué día?"), buttons=options(1),
                              date_pick=DatePick("adm:cal", date(2026, 3, 1))),
    "a day from the 20th": Outgoing(text=raw("¿Qué día?"),
                                    date_pick=DatePick("adm:cal", date(2026, 4, 1),
                                                       earliest=date(2026, 4, 20))),
    "a progress report": Outgoing(text=raw("3 de 10"), updates="12", progress=True),
    "an edit with options": Outgoing(text=raw("Marcado"), buttons=options(4), updates="3"),
    "a phone request": Outgoing(text=Msg("link.ask"), ask_phone=Msg("link.share_button")),
    "a document": Outgoing(text=raw("Tu PDF"), attachment=Attachment("a.pdf", b"%PDF")),
    "a document with a long caption": Outgoing(text=raw("x" * 3000),
                                               attachment=Attachment("a.pdf", b"%PDF")),
    "a place": Outgoing(text=raw("Aquí"), location=(-33.04, -71.44)),
    "a web app beside the chat": Outgoing(
        text=raw("Tu enlace"), buttons=options(1),
        menu_app=(raw("Panel web"), "https://convoca.example.org/web/telegram")),
}


@pytest.fixture(scope="module")
def catalogs() -> Catalogs:
    return Catalogs()


@pytest.fixture(scope="module")
def prefixes() -> set[str]:
    return set(build_router().actions)


def assert_fits(out: Outgoing, caps: Capabilities, catalogs: Catalogs, loc: str,
                prefixes: set[str] | None = None) -> None:
    zone = out.zone or "America/Santiago"
    shown = lay_out(out, caps, lambda m: catalogs.render(m, loc, zone))
    assert shown, out
    for s in shown:
        assert violations(s, caps) == [], (out, s)
        for c in s.choices():
            # Signed per person before it leaves: room for the signature is left.
            assert len(c.action.encode()) <= caps.action_bytes - 16, c
            if prefixes is not None:
                assert c.action.split(":", 1)[0] in prefixes, c
    # Nothing offered is lost: each option is shown on some page.
    if len(out.options()) <= 30:
        pages = [lay_out(dataclasses.replace(out, page=p), caps,
                         lambda m: catalogs.render(m, loc, zone)) for p in range(12)]
        actions = {c.action for page in pages for s in page for c in s.choices()}
        assert {b.action for b in out.options()} <= actions


@pytest.mark.parametrize("name", sorted(CHANNELS))
@pytest.mark.parametrize("shape", sorted(MAXIMA))
@pytest.mark.parametrize("loc", ["es", "en"])
def test_the_maxima_fit_every_channel(name: str, shape: str, loc: str,
                                      catalogs: Catalogs) -> None:
    assert_fits(MAXIMA[shape], CHANNELS[name], catalogs, loc)


def test_the_bot_channels_declare_what_they_can_show() -> None:
    assert {"telegram", "console"} <= set(CHANNELS), sorted(CHANNELS)


FLOWS = (
    (flows.test_consent_and_a_typed_phone_link_the_family, {"loc": "en"}),
    (flows.test_a_link_code_binds_the_chat_to_the_organisation, {}),
    (flows.test_an_invitation_is_answered_with_a_reason_and_a_calendar_file, {"loc": "es"}),
    (flows.test_a_pickup_is_confirmed_then_moved, {"loc": "en"}),
    (flows.test_my_data_and_erasure, {"loc": "es"}),
    (flows.test_the_ficha_is_filled_signed_and_cosigned_with_the_code, {}),
    (admin.test_a_meeting_created_invited_answered_marked_and_closed, {}),
    (admin.test_a_monthly_series_then_moving_and_cancelling_in_english, {}),
    (admin.test_a_fortnightly_pickup_day_for_a_sector, {}),
    (admin.test_the_staff_marks_pickups_from_the_day_list, {"locale": "en"}),
    (admin.test_a_broadcast_to_a_sector_with_its_progress_and_report, {}),
    (admin.test_a_stage_milestone_moved_by_a_typed_date_and_marked_done, {"locale": "es"}),
    (admin.test_a_role_granted_and_revoked_from_a_paged_list_of_people, {}),
    (admin.test_the_catastro_imports_adds_a_family_and_gives_codes_to_type, {}),
    (admin.test_a_family_asks_for_another_day_and_the_gestora_moves_another, {}),
)


async def test_every_reply_of_the_flows_fits_every_channel(settings_for, tmp_path, screen,
                                                           catalogs: Catalogs,
                                                           prefixes: set[str]) -> None:
    """The flows on the WhatsApp-limited channel (each on a database of its own), and every
    reply they produced laid out for every channel."""
    shapes: list[Outgoing] = []
    for i, (flow, kw) in enumerate(FLOWS):
        clock = ManualClock(datetime(2026, 3, 2, 12, 0, tzinfo=UTC))
        app = await build_app(settings_for(f"sqlite+aiosqlite:///{tmp_path / f'{i}.sqlite3'}"),
                              clock=clock)
        wa = WaHarness(app)
        try:
            await flow(wa, **({"clock": clock} if "clock" in flow.__code__.co_varnames
                              else {}), **kw)
            await wa.send(flows.ANA, "/ayuda")
        finally:
            await app.close()
        shapes += wa.channel.shapes
    assert len(shapes) >= 150
    tg = telegram.TelegramChannel(None, catalogs, ButtonCodec(b"k" * 32, 64),  # type: ignore[arg-type]
                                  "America/Santiago")
    terminal = console.ConsoleChannel(catalogs, tg.buttons, "America/Santiago", out=screen)
    for i, out in enumerate(shapes):
        for caps in CHANNELS.values():
            assert_fits(out, caps, catalogs, "es", prefixes)
        assert_telegram_takes(tg, out, catalogs)
        # The console prints each as it is (a month with the days to type): no key left raw.
        await terminal.deliver(OutboxMessage(id=i, person_id=1, address="1", locale="en",
                                             payload=out.to_json()))
    assert screen.getvalue().count("🤖") == len(shapes)


def assert_telegram_takes(tg: telegram.TelegramChannel, out: Outgoing, catalogs: Catalogs
                          ) -> None:
    """Telegram's own rendering of a reply (it lays out nothing: a month is a grid, a list is
    buttons) within what the Bot API takes, nothing of the text cut off."""
    row = OutboxMessage(person_id=1, locale="es", payload=out.to_json())
    markup = tg._markup(out, row, "es")
    buttons = [b for line in getattr(markup, "inline_keyboard", []) for b in line]
    assert len(buttons) <= telegram.CAPABILITIES.buttons, out
    assert all(0 < len(b.callback_data.encode()) <= telegram.CAPABILITIES.action_bytes
               and b.text for b in buttons), out
    assert all(len(line) <= telegram.CAPABILITIES.buttons_per_row
               for line in getattr(markup, "inline_keyboard", [])), out
    if out.attachment is not None and out.text is not None:
        text = catalogs.render(out.text, "es", out.zone or "America/Santiago")
        before, caption = telegram.caption_and_text(text)
        assert caption is None or telegram.utf16_len(caption) <= telegram.CAPTION_LIMIT, out
        assert all(telegram.utf16_len(part) <= telegram.TEXT_LIMIT for part in before), out
        assert "".join(("".join(before) + (caption or "")).split()) == "".join(text.split()), (
            "the text was cut")


@pytest.mark.parametrize("shape", sorted(MAXIMA))
def test_the_maxima_render_in_telegrams_own_markup(shape: str, catalogs: Catalogs) -> None:
    tg = telegram.TelegramChannel(None, catalogs, ButtonCodec(b"k" * 32, 64),  # type: ignore[arg-type]
                                  "America/Santiago")
    assert_telegram_takes(tg, MAXIMA[shape], catalogs)


def test_rows_queued_before_the_intents_were_renamed_still_read():
    """An outbox row written before ask_contact, remove_keyboard and edit_ref took their
    present names is still sent as it was meant."""
    from locales import Msg
    from services.messages import Outgoing

    old = {"text": Msg("link.ask").to_json(), "ask_contact": Msg("link.share_button").to_json(),
           "remove_keyboard": True, "edit_ref": "41"}
    out = Outgoing.from_json(old)
    assert out.ask_phone == Msg("link.share_button")
    assert out.phone_asked_done is True
    assert out.updates == "41"
