"""A code typed on its own, outside any question: an invitation's or a meeting's check-in
code is used as /start or /asistencia would use it, and one that does not exist is said to
not exist, instead of "I didn't understand"."""

from __future__ import annotations

from handlers.core import Turn
from handlers.events import EventKind
from locales import Raw
from storage import links, meetings


def looks_like_code(text: str) -> bool:
    """One word of 6 to 8 letters and digits, with both: the shape of Convoca's codes, and
    not of a word or a number a person would type."""
    raw = text.strip()
    code = links.normalise(raw)
    return (len(raw.split()) == 1 and 6 <= len(code) <= 8
            and any(c.isdigit() for c in code) and any(c.isalpha() for c in code))


async def typed_code(turn: Turn) -> bool:
    """True when the text was a code and has been answered."""
    from handlers import meetings as meeting_handlers
    from handlers import registration

    ev = turn.event
    if ev.kind != EventKind.TEXT or not ev.text or turn.person.consent_at is None:
        return False
    text = ev.text.strip()
    if len(text.split()) != 1 or len(text) > 20:
        return False
    if await links.exists(turn.session, text):
        await registration.redeem_typed(turn, text)
        return True
    if await meetings.by_checkin_code(turn.session, text) is not None:
        await meeting_handlers.check_in_typed(turn, text)
        return True
    if looks_like_code(text):
        turn.say("link.code_unknown_any", code=Raw(text))
        return True
    return False
