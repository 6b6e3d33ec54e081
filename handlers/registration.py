"""/start: language, consent to the use of data, then linking the chat to its record."""

from __future__ import annotations

from handlers import codes, forms
from handlers.core import Router, Turn
from handlers.events import Button, EventKind
from locales import Msg, Raw
from services import families as family_links
from storage import links, meetings, people, programs
from storage.models import Family, Role

CONSENT_VERSION = "2026-1"
FLOW = "registration"

router = Router()


def _language_button(turn: Turn) -> Button:
    other = "en" if turn.locale == "es" else "es"
    return Button(Msg(f"lang.switch_to_{other}"), f"lang:{other}")


def _show_consent(turn: Turn) -> None:
    turn.say(
        "start.consent",
        buttons=[
            [Button(Msg("start.consent_yes"), "consent:yes")],
            [Button(Msg("start.consent_no"), "consent:no")],
            [_language_button(turn)],
        ],
    )
    turn.go(FLOW, "consent")


def _ask_to_link(turn: Turn) -> None:
    _ask_for_number(turn, "link.ask")
    turn.go(FLOW, "link")


def _ask_for_number(turn: Turn, key: str) -> None:
    """With a button to share one's number where there is one; where there is none
    (WhatsApp), words that do not send the person looking for it."""
    if turn.caps.can_ask_phone:
        turn.say(key, ask_phone=Msg("link.share_button"))
    else:
        turn.say(f"{key}_typed")


def _say_named(turn: Turn, key: str, name: str | None, **params: object) -> None:
    """A message that names someone, or its nameless twin: never "¡Hola de nuevo, !"."""
    name = " ".join((name or "").split())
    if name:
        turn.say(key, name=Raw(name), **params)
    else:
        turn.say(f"{key}_unnamed", **params)


def _is_admin(turn: Turn) -> bool:
    """Named in the admin list, writing from their own chat: the person is found by the chat,
    so a user id that is not the chat's (a group, a forged update) grants nothing."""
    ev = turn.event
    return (ev.sender_id is not None and ev.sender_id == ev.address
            and f"{ev.channel}:{ev.sender_id}" in turn.services.admin_ids)


@router.command("start")
async def start(turn: Turn) -> None:
    code = (turn.event.args or "").strip()
    if _is_admin(turn):
        await people.grant_everywhere(turn.session, turn.person, Role.GESTORA, turn.now)
    if turn.person.consent_at is None:
        turn.go(FLOW, "consent", code=code or turn.data("code"))
        _show_consent(turn)
        return
    if turn.person.opted_out_at is not None:
        turn.person.opted_out_at = None
        turn.audit("opt_in")
        turn.say("start.opted_in_again")
    if code:
        await _redeem(turn, code)
        return
    turn.go(None)
    _say_named(turn, "start.welcome_back", turn.person.name)


async def begin(turn: Turn) -> None:
    """Someone writes before any /start (WhatsApp has no start button: people say "Hola"):
    the consent comes first. A link code they wrote (a QR card's WhatsApp link writes it for
    them) is kept and redeemed once they accept."""
    if _is_admin(turn):
        await people.grant_everywhere(turn.session, turn.person, Role.GESTORA, turn.now)
    text = turn.event.text or ""
    code = text.strip() if links.normalise(text) and await links.exists(
        turn.session, links.normalise(text)) else None
    turn.go(FLOW, "consent", code=code)
    _show_consent(turn)


@router.on_action("lang")
async def choose_language(turn: Turn) -> None:
    lang = (turn.action or "").split(":", 1)[1]
    if lang not in ("es", "en"):
        turn.say("input.button_stale")
        return
    turn.person.locale = lang
    turn.audit("locale_changed", locale=lang)
    if turn.convo.flow == FLOW and turn.convo.step == "consent":
        _show_consent(turn)
    else:
        turn.say("lang.changed")


@router.on_action("consent")
async def consent(turn: Turn) -> None:
    if turn.person.consent_at is not None:
        turn.say("start.already_consented")
        return
    if turn.convo.flow != FLOW or turn.convo.step != "consent":
        turn.say("input.button_stale")
        return
    if turn.action == "consent:no":
        turn.say("start.consent_declined", phone_asked_done=True)
        if turn.person.contact_consent_at is not None or turn.person.roles:
            # A record the team made (a family's paper consent, a role given): theirs to
            # keep. Saying no here stops the notices, as /stop does.
            turn.person.opted_out_at = turn.now
            turn.audit("consent_declined", kept=True)
            turn.go(None)
            return
        # Nothing is kept about someone who said no: the record made on first contact goes.
        await turn.session.delete(turn.person)
        turn.erased = True
        return
    turn.person.consent_at = turn.now
    turn.person.consent_version = CONSENT_VERSION
    turn.audit("consent_given", version=CONSENT_VERSION)
    turn.say("start.consent_thanks")
    code = turn.data("code")
    if code:
        await _redeem(turn, code)
    elif turn.person.roles:
        turn.go(None)
        turn.say("start.ready")
    elif turn.event.sender_phone:
        # The channel vouches for the number the person writes from: as good as sharing it
        # with a channel's own button, and nothing more to ask.
        await _link_by_phone(turn, turn.event.sender_phone,
                             await links.families_by_phone(turn.session,
                                                           turn.event.sender_phone),
                             vouched=True)
    else:
        _ask_to_link(turn)


async def _redeem(turn: Turn, code: str) -> None:
    if await codes.refused(turn):
        _told_to_wait(turn)
        return
    try:
        linked = await links.redeem(turn.session, code, turn.person, turn.now)
    except links.FamilyTaken as taken:
        turn.audit("link_refused", entity="family", entity_id=taken.family.id, via="code",
                   reason="family_linked", holder=taken.family.person_id)
        # A card for a family someone else holds is a guess as much as a wrong code is.
        if await codes.wrong(turn, code):
            _told_to_wait(turn)
            return
        turn.say("link.family_taken")
        _not_linked(turn)
        return
    if linked is None:
        if await codes.wrong(turn, code):  # that was one too many: told to wait
            _told_to_wait(turn)
            return
        await _explain_code(turn, code)
        _not_linked(turn)
        return
    await codes.right(turn)
    turn.audit("linked", entity=linked.kind, via="code")
    turn.go(None)
    if linked.kind == "form_response" and linked.target_id is not None:
        # A co-signature link: the person came to sign, so the form is what they see next.
        await forms.begin_cosign(turn, linked.target_id)
        return
    _say_named(turn, f"link.done_{linked.kind}", linked.name, phone_asked_done=True)


def _told_to_wait(turn: Turn) -> None:
    if not turn.person.roles:
        turn.go(FLOW, "link")  # sharing the phone number is still open to them


def _not_linked(turn: Turn) -> None:
    if turn.person.roles:
        turn.go(None)  # already linked: nothing more to ask
    else:
        _ask_to_link(turn)


async def _explain_code(turn: Turn, code: str) -> None:
    """Why this code links nothing: it does not exist, expired or was used up; a meeting's
    code is told where it belongs."""
    shown = Raw(" ".join(code.split())[:40])
    problem = await links.why_not_redeemable(turn.session, code, turn.now)
    if problem == "unknown" and await meetings.by_checkin_code(turn.session, code):
        turn.say("link.code_is_checkin", code=Raw(meetings.normalise_code(code)))
    else:
        turn.say(f"link.code_{problem}", code=shown)


async def redeem_typed(turn: Turn, code: str) -> None:
    """An invitation code typed outside any question: used as /start CODE would."""
    await _redeem(turn, code)


@router.flow(FLOW, before_consent=True)
async def registration_input(turn: Turn) -> None:
    ev = turn.event
    if ev.kind == EventKind.UNSUPPORTED:
        turn.say("input.unsupported")
    if turn.convo.step == "consent":
        turn.say("start.consent_use_buttons")
        _show_consent(turn)
        return
    typed = (await _read_phone(turn, ev.text) if ev.kind == EventKind.TEXT
             and not turn.caps.can_ask_phone else None)
    if ev.kind == EventKind.CONTACT:
        await _link_by_contact(turn)
    elif typed is not None:
        await _link_by_typed_phone(turn, typed)
    elif ev.kind == EventKind.TEXT and ev.text and links.normalise(ev.text):
        await _redeem(turn, ev.text)
    else:
        _ask_for_number(turn, "link.help")


async def _link_by_contact(turn: Turn) -> None:
    ev = turn.event
    if not ev.contact_is_own:
        turn.say("link.contact_not_own")
        return
    phone = await _read_phone(turn, ev.contact_phone)
    if phone is None:
        turn.say("link.phone_unreadable")
        return
    await _link_by_phone(turn, phone, await links.families_by_phone(turn.session, phone),
                         vouched=True)


async def _read_phone(turn: Turn, raw: str | None) -> str | None:
    """A phone number in E.164, as the person's programme's country writes it. A person in
    no programme yet has no country of their own: the installation's programmes say it,
    and where they are in several countries the number is read in each, the reading that
    finds a family or an imported person first."""
    if turn.where is not programs.place_of_nothing():
        return turn.country.phone(raw)
    countries = await programs.countries_in_use(turn.session) or [turn.country]
    readings = list(dict.fromkeys(p for c in countries if (p := c.phone(raw)) is not None))
    if len(readings) > 1:
        for phone in readings:
            if (await links.families_by_phone(turn.session, phone)
                    or await people.imported_by_phone(turn.session, phone)):
                return phone
    return readings[0] if readings else None


async def _link_by_typed_phone(turn: Turn, phone: str) -> None:
    """A number typed where the channel has no button to share one's own: nobody vouches
    that it is the person's, so it is a guess like a code (counted, and waited for when there
    are too many) and it links no family another chat holds."""
    if await codes.refused(turn):
        return
    families = await links.families_by_phone(turn.session, phone)
    # A family the import gave a record of its own (for its paper consent) is held by no
    # chat: the number that may merge into that record may take its family too.
    unclaimed = {p.id for p in await people.imported_by_phone(turn.session, phone)}
    free = [f for f in families if f.person_id in (None, turn.person.id, *unclaimed)]
    if families and not free:
        turn.audit("link_refused", entity="family", entity_id=families[0].id, via="typed_phone",
                   reason="family_linked", holder=families[0].person_id)
        if not await codes.wrong_guess(turn):
            turn.say("link.family_taken")
        return
    if not free and not await people.imported_by_phone(turn.session, phone):
        if await codes.wrong_guess(turn):
            return
    else:
        await codes.right(turn)
    await _link_by_phone(turn, phone, free)


async def _link_by_phone(turn: Turn, phone: str, families: list[Family], *,
                         vouched: bool = False) -> None:
    imported = await people.imported_by_phone(turn.session, phone)
    if not families and not imported:
        turn.person.phone, turn.person.phone_vouched = phone, vouched
        turn.say("link.not_found", phone_asked_done=True)
        turn.go(None)
        return
    if imported:
        await people.merge_into(turn.session, turn.person, imported[0])
        turn.person = imported[0]
        turn.convo = await people.conversation(turn.session, turn.person.id, turn.now)
    turn.person.phone = phone
    turn.person.phone_vouched = vouched
    if families:
        for family in families:
            # The family's registered number, shared as the chat's own (the channel vouches
            # for it), is stronger proof than a printed card anyone may hold: it moves the
            # family even from another chat, which is told, so a mistake is noticed. A typed
            # number comes here only with families no other chat holds.
            await family_links.hand_over(turn.session, family, turn.person.id, turn.now,
                                         channel=turn.event.channel, via="phone")
            await people.grant(turn.session, turn.person, Role.FAMILIA, family.program_id,
                               turn.now)
            turn.audit("linked", entity="family", entity_id=family.id, via="phone")
        turn.person.name = turn.person.name or families[0].name
        turn.person.program_id = turn.person.program_id or families[0].program_id
        turn.go(None)
        _say_named(turn, "link.done_family", families[0].name, phone_asked_done=True)
    else:
        turn.audit("linked", entity="person", via="phone")
        turn.go(None)
        _say_named(turn, "link.done_person", turn.person.name, phone_asked_done=True)
