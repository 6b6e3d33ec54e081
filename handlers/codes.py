"""A code typed on its own, outside any question: an invitation's or a meeting's check-in
code is used as /start or /asistencia would use it, and one that does not exist is said to
not exist, instead of "I didn't understand"."""

from __future__ import annotations

import math

from handlers.core import Turn
from handlers.events import EventKind
from locales import Raw
from storage import attempts, links, meetings


def looks_like_code(text: str) -> bool:
    """One word of 6 to 8 letters and digits, with both: the shape of Convoca's codes, and
    not of a word or a number a person would type."""
    raw = text.strip()
    code = links.normalise(raw)
    return (len(raw.split()) == 1 and 6 <= len(code) <= 8
            and any(c.isdigit() for c in code) and any(c.isalpha() for c in code))


def could_be_code(text: str) -> bool:
    """Made only of the letters and digits codes use, as long as one: anything else cannot
    match, so it is not counted as a guess (a "gracias" sent twice locks nobody out)."""
    code = links.normalise(text)
    return 6 <= len(code) <= 8 and set(code) <= set(links.ALPHABET)


def _who(turn: Turn) -> str:
    # The chat, not the Person row: erasing oneself and starting again does not reset it.
    return f"{turn.event.channel}:{turn.event.address}"


def _say_wait(turn: Turn, lock: attempts.Lock) -> None:
    minutes = max(1, math.ceil((lock.until - turn.now).total_seconds() / 60))
    turn.say("code.wait_everyone" if lock.everyone else "code.wait", count=minutes)


async def refused(turn: Turn) -> bool:
    """True when codes from this chat wait (too many wrong ones): it has been told how long,
    and the code must not even be looked up."""
    lock = await attempts.locked(turn.session, _who(turn), turn.now)
    if lock is None:
        return False
    _say_wait(turn, lock)
    return True


async def wrong(turn: Turn, text: str) -> bool:
    """Count a code that matched nothing; the one that reaches the limit is told to wait
    (then True)."""
    if not could_be_code(text):
        return False
    return await wrong_guess(turn)


async def wrong_guess(turn: Turn) -> bool:
    """Count a guess that matched nothing (a code, a typed phone number); the one that
    reaches the limit is told to wait (then True)."""
    lock = await attempts.wrong(turn.session, _who(turn), turn.now)
    if lock is None:
        return False
    turn.audit("code_lockout", scope="everyone" if lock.everyone else "person",
               until=lock.until.isoformat())
    _say_wait(turn, lock)
    return True


async def right(turn: Turn) -> None:
    await attempts.right(turn.session, _who(turn))


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
    lock = await attempts.locked(turn.session, _who(turn), turn.now)
    if lock is not None:
        # Not looked up; a word that is no code goes on to "I didn't understand".
        if looks_like_code(text):
            _say_wait(turn, lock)
            return True
        return False
    if await links.exists(turn.session, text):
        await registration.redeem_typed(turn, text)
        return True
    if await meetings.by_checkin_code(turn.session, text) is not None:
        await meeting_handlers.check_in_typed(turn, text)
        return True
    if looks_like_code(text):
        if not await wrong(turn, text):
            turn.say("link.code_unknown_any", code=Raw(text))
        return True
    # An all-letters code is a guess too, though it is not answered as one.
    return await wrong(turn, text)
