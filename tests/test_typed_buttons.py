"""A button's label typed instead of tapped presses it, on any channel: the core remembers the
buttons it offered last in the chat (what WhatsApp users, and many others, will do)."""

from __future__ import annotations

import pytest
from core_harness import CoreHarness

from bot.app import build_app
from handlers.typed_buttons import plain
from storage import people


@pytest.fixture
async def core(settings_for, sqlite_url, clock):
    app = await build_app(settings_for(sqlite_url), clock=clock)
    yield CoreHarness(app)
    await app.close()


def test_labels_are_compared_without_case_accents_emoji_or_punctuation() -> None:
    assert plain("✅ Sí, acepto") == plain("si acepto") == plain("  SÍ ACEPTO! ") == "si acepto"
    assert plain("🗓️ Agregar a mi calendario") == "agregar a mi calendario"
    assert plain("Sí") != plain("✅ Sí, acepto")


async def test_typing_the_consent_button_gives_consent(core: CoreHarness) -> None:
    [consent] = await core.text("31", "/start")
    assert ("✅ Sí, acepto", ) == tuple(label for label, _ in consent.buttons[:1])
    # Half a label is an answer in the person's own words, not a button.
    [again, _] = await core.text("31", "sí")
    assert again.text == "Para seguir, elige una opción con los botones, por favor."
    thanks = await core.text("31", "si, acepto")
    assert thanks[0].text.startswith("¡Gracias! 🙌")
    async with core.app.sessions() as s:
        person = await people.by_address(s, "telegram", "31")
        assert person.consent_at is not None


async def test_only_the_buttons_offered_last_count(core: CoreHarness) -> None:
    await core.text("32", "/start")
    await core.text("32", "✅ Sí, acepto")
    # The consent question is over: its "No, gracias" is no longer on offer.
    replies = await core.text("32", "No, gracias")
    assert not any("No guardé ningún dato" in r.text for r in replies)
    async with core.app.sessions() as s:
        assert (await people.by_address(s, "telegram", "32")).consent_at is not None
