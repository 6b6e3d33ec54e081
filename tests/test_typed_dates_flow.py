"""Typed dates where the team is asked for one, end to end on the fake Bot API: a meeting
made and moved by writing "el martes 7 a las 6 de la tarde" and "jueves 9 de abril", a
delivery day by "jueves 12 a las 10", and the kind answers (with the calendar still there)
for a date that does not exist, has passed or names the wrong day of the week. The stage
deadline typed in /etapas is in test_admin_stages_flow."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from test_admin_delivery_support import GESTORA as DELIVERY_GESTORA
from test_admin_delivery_support import labels_of, running
from test_admin_delivery_support import say as delivery_say
from test_admin_delivery_support import seed as delivery_seed
from test_admin_delivery_support import tap as delivery_tap
from test_admin_meetings_flow import (
    APRIL_7,
    GESTORA,
    labels,
    only_meeting,
    seed,
    tap,
)

from telegram_harness import Running, start, stop

CALENDAR_MARCH = [" ", "marzo de 2026", "▶"]


@pytest.fixture
async def tg(fake_tg, settings_for, sqlite_url, clock) -> AsyncIterator[Running]:
    settings = settings_for(
        sqlite_url, telegram_bot_token=fake_tg.token, telegram_api_base=fake_tg.base_url,
    )
    running_ = await start(fake_tg, settings, clock)
    yield running_
    await stop(running_)


async def test_a_meeting_is_made_and_moved_with_typed_dates(tg: Running) -> None:
    # Today is Monday 2 March 2026, 09:00 in Santiago.
    await seed(tg)
    await tg.send(GESTORA, "/panel")
    await tap(tg, GESTORA, "📅 Reuniones")
    await tap(tg, GESTORA, "➕ Nueva reunión")
    await tap(tg, GESTORA, "Grupo Motor")
    await tap(tg, GESTORA, "Sesión del Grupo Motor")
    question = "¿Qué día? Elígelo o escríbelo, por ejemplo 17-12 o «martes 17»."

    [impossible] = await tg.send(GESTORA, "31 de febrero")
    assert impossible["text"] == ("Esa fecha no existe en el calendario. Revisa el día y el "
                                  "mes; por ejemplo: 17-12-2026.\n\n" + question)
    assert labels(tg, GESTORA)[0] == CALENDAR_MARCH  # the calendar is still there
    [gone] = await tg.send(GESTORA, "ayer")
    assert gone["text"] == "Ese día ya pasó. Elige otro.\n\n" + question
    # Saturday 7 March, and April's 7th is a Tuesday: neither is a Friday.
    [weekday] = await tg.send(GESTORA, "el viernes 7")
    assert weekday["text"] == ("Ojo: el sábado 7 de marzo de 2026 no es viernes. Revisa la "
                               "fecha, por favor.\n\n" + question)
    [nonsense] = await tg.send(GESTORA, "cuando se pueda")
    assert nonsense["text"].startswith("No entendí esa fecha. Escríbela así: 17-12-2026, "
                                       "«17 de diciembre» o «martes 17».")
    # The date and the time in one go: straight to the place.
    [ask_place] = await tg.send(GESTORA, "el martes 7 a las 6 de la tarde")
    assert ask_place["text"] == "¿Dónde será? Escribe el lugar."
    await tg.send(GESTORA, "Sede Villa Ñuñoa")
    [summary] = await tg.send(GESTORA, "Plan de trabajo")
    assert "🗓️ martes 7 de abril, 18:00\n" in summary["text"]
    await tap(tg, GESTORA, "✅ Confirmar", replies=2)
    meeting = await only_meeting(tg)
    assert meeting.starts_at == APRIL_7

    await tap(tg, GESTORA, "⏰ Más tarde")
    await tap(tg, GESTORA, "📋 Ver el tablero")
    await tap(tg, GESTORA, "📅 Cambiar fecha")
    [ask_time] = await tg.send(GESTORA, "jueves 9 de abril")
    assert ask_time["text"].startswith("¿A qué hora, el jueves 9 de abril de 2026?")
    [confirm] = await tg.send(GESTORA, "18:30 hrs")
    assert confirm["text"].startswith("¿Muevo «Sesión del Grupo Motor» del martes 7 de abril, "
                                      "18:00 al jueves 9 de abril, 18:30?")
    await tap(tg, GESTORA, "✅ Sí, moverla")
    meeting = await only_meeting(tg)
    assert meeting.starts_at == datetime(2026, 4, 9, 22, 30, tzinfo=UTC)


@pytest.fixture
async def staff(fake_tg, settings_for, sqlite_url, clock) -> AsyncIterator[Running]:
    async with running(fake_tg, settings_for, sqlite_url, clock) as r:
        yield r


async def test_a_delivery_day_with_a_typed_date_and_start(staff: Running) -> None:
    await delivery_seed(staff, "es")
    await delivery_say(staff, DELIVERY_GESTORA, "/panel")
    await delivery_tap(staff, DELIVERY_GESTORA, "🧺 Días de entrega", sends=1)
    await delivery_tap(staff, DELIVERY_GESTORA, "➕ Nuevo día de entrega", sends=1)
    await delivery_tap(staff, DELIVERY_GESTORA, "🏪 Retiro en el local", sends=1)
    nudge, again = await delivery_say(staff, DELIVERY_GESTORA, "el otro jueves", count=2)
    assert nudge["text"].startswith("No entendí esa fecha. Escríbela así: 17-12-2026")
    assert "12" in labels_of(again)  # the calendar again
    [ask_end] = await delivery_say(staff, DELIVERY_GESTORA, "jueves 12 a las 10")
    assert ask_end["text"] == "¿Y a qué hora termina? Empieza a las 10:00."
    [ask_place] = await delivery_say(staff, DELIVERY_GESTORA, "mediodía")
    assert ask_place["text"].startswith("📍")
    await delivery_say(staff, DELIVERY_GESTORA, "Sede Vecinal Villa Ñuñoa")
    await delivery_tap(staff, DELIVERY_GESTORA, "Sin dirección", sends=1, contains=True)
    [confirm], _ = await delivery_tap(staff, DELIVERY_GESTORA, "Solo esta vez", sends=1)
    assert "jueves 12 de marzo de 2026, de 10:00 a 12:00" in confirm["text"]
