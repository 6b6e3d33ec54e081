"""Deep-link codes that bind a chat to an organisation, a body or a family, or bring a
second representative to co-sign a form response."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage import people
from storage.models import (
    Body,
    Family,
    FormResponse,
    FormStatus,
    LinkCode,
    Membership,
    Organization,
    Person,
    Program,
    Representative,
    Role,
)

# No 0/O or 1/I/L: codes are also read aloud and typed from paper.
ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
TARGETS = ("organization", "body", "family", "form_response")
# A printed card lives about one stage of the programme: handed out at the start, used in
# the first weeks. Ninety days covers that with room; past it a lost card stops working and
# the gestora renews it (`convoca codes renew`). A programme may set its own "code_days".
CODE_DAYS = 90


def new_code(length: int = 8) -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(length))


async def create(
    session: AsyncSession,
    program_id: int,
    target_kind: str,
    target_id: int,
    now: datetime,
    max_uses: int | None = None,
    expires_at: datetime | None = None,
) -> LinkCode:
    """A new code; it expires after the programme's code lifetime unless told when."""
    if target_kind not in TARGETS:
        raise ValueError(f"unknown link target {target_kind!r}")
    if expires_at is None:
        program = await session.get(Program, program_id)
        expires_at = now + (code_lifetime(program) if program else timedelta(days=CODE_DAYS))
    while True:
        code = new_code()
        if not await session.scalar(select(LinkCode.id).where(LinkCode.code == code)):
            break
    link = LinkCode(
        code=code, program_id=program_id, target_kind=target_kind, target_id=target_id,
        max_uses=max_uses, uses=0, created_at=now, expires_at=expires_at,
    )
    session.add(link)
    await session.flush()
    return link


def code_lifetime(program: Program) -> timedelta:
    days = (program.settings or {}).get("code_days", CODE_DAYS)
    return timedelta(days=int(days))


async def renew(session: AsyncSession, program: Program, code: str, now: datetime
                ) -> LinkCode | None:
    """The programme's code made good for another lifetime from now; None when there is no
    such code in the programme."""
    link = await session.scalar(select(LinkCode).where(
        LinkCode.code == normalise(code), LinkCode.program_id == program.id))
    if link is not None:
        link.expires_at = now + code_lifetime(program)
        await session.flush()
    return link


async def listed(session: AsyncSession, program_id: int, target_kind: str,
                 target_ids: list[int]) -> list[LinkCode]:
    """The codes of these records, newest first: what the gestora sees of their uses."""
    if not target_ids:
        return []
    return list((await session.scalars(select(LinkCode).where(
        LinkCode.program_id == program_id, LinkCode.target_kind == target_kind,
        LinkCode.target_id.in_(target_ids)).order_by(LinkCode.id.desc()))).all())


def normalise(text: str) -> str:
    return "".join(ch for ch in text.upper() if ch.isalnum())


@dataclass(frozen=True)
class Linked:
    kind: str  # organization | body | family | form_response
    name: str
    role: str
    target_id: int | None = None


async def why_not_redeemable(session: AsyncSession, code: str, now: datetime) -> str:
    """Why a code links nothing, for the person who typed it: ``unknown`` (no such code,
    or what it pointed to is gone), ``expired`` or ``used_up``."""
    link = await session.scalar(select(LinkCode).where(LinkCode.code == normalise(code)))
    if link is None:
        return "unknown"
    if link.expires_at and link.expires_at <= now:
        return "expired"
    if link.max_uses is not None and link.uses >= link.max_uses:
        return "used_up"
    return "unknown"


async def exists(session: AsyncSession, code: str) -> bool:
    return await session.scalar(
        select(LinkCode.id).where(LinkCode.code == normalise(code))) is not None


class FamilyTaken(Exception):
    """The family's code was typed by someone other than the person it is linked to."""

    def __init__(self, family: Family) -> None:
        super().__init__(family.id)
        self.family = family


async def redeem(session: AsyncSession, code: str, person: Person, now: datetime) -> Linked | None:
    """What the code links ``person`` to, or None. Raises FamilyTaken for a family's code
    while the family is linked to someone else."""
    link = await session.scalar(select(LinkCode).where(LinkCode.code == normalise(code)))
    if link is None:
        return None
    if link.expires_at and link.expires_at <= now:
        return None
    # A family's code is bounded by who holds the family, not by a count (see below).
    if link.max_uses is not None and link.uses >= link.max_uses and link.target_kind != "family":
        return None
    result: Linked | None = None
    if link.target_kind == "organization":
        org = await session.get(Organization, link.target_id)
        if org:
            await _add_representative(session, org.id, person.id)
            result = Linked("organization", org.name, Role.REPRESENTANTE)
    elif link.target_kind == "body":
        body = await session.get(Body, link.target_id)
        if body:
            exists = await session.scalar(
                select(Membership.id).where(
                    Membership.body_id == body.id, Membership.person_id == person.id
                )
            )
            if not exists:
                session.add(Membership(body_id=body.id, person_id=person.id, joined_at=now))
            role = Role.CONSEJO_LOCAL if body.kind == "consejo_local" else Role.GRUPO_MOTOR
            result = Linked("body", body.name, role)
    elif link.target_kind == "family":
        fam = await session.get(Family, link.target_id)
        if fam:
            # A printed card is no proof against the chat that already has the family: the
            # gestora releases it first (services.families). The holder may use it again.
            if fam.person_id not in (None, person.id):
                raise FamilyTaken(fam)
            fam.person_id = person.id
            person.name = person.name or fam.name
            person.phone = person.phone or fam.phone
            result = Linked("family", fam.name, Role.FAMILIA)
    elif link.target_kind == "form_response":
        resp = await session.get(FormResponse, link.target_id)
        if resp and resp.status != FormStatus.DRAFT:
            # Whoever co-signs an organisation's form represents it too.
            org = await session.get(Organization, resp.organization_id) \
                if resp.organization_id else None
            if org is not None:
                await _add_representative(session, org.id, person.id)
            result = Linked("form_response", org.name if org else "", Role.REPRESENTANTE,
                            target_id=resp.id)
    if result is None:
        return None
    link.uses += 1
    person.program_id = person.program_id or link.program_id
    await people.grant(session, person, result.role, link.program_id, now)
    return result


async def _add_representative(session: AsyncSession, org_id: int, person_id: int) -> None:
    exists = await session.scalar(
        select(Representative.id).where(
            Representative.organization_id == org_id, Representative.person_id == person_id
        )
    )
    if not exists:
        session.add(Representative(organization_id=org_id, person_id=person_id))


async def families_by_phone(session: AsyncSession, phone: str) -> list[Family]:
    """Every family with this phone: a household may be enrolled in more than one
    programme (one row in each), and sharing the number once links them all."""
    return list((await session.scalars(
        select(Family).where(Family.phone == phone).order_by(Family.id)
    )).all())


# --- printed cards ------------------------------------------------------------------------

_MODELS: dict[str, type[Organization] | type[Family] | type[Body]] = {
    "organization": Organization,
    "family": Family,
    "body": Body,
}


@dataclass(frozen=True)
class LinkBuilder:
    """How a code becomes a link that opens a chat with the bot carrying it, as one channel
    builds it (channels.Capabilities.deep_link), and which channel that is: a card says how
    to use its link in that channel's words, and where to write the code by hand."""

    channel: str  # its name: picks the card's words (codes.card.instruction_<channel>)
    build: Callable[[str], str]
    handle: str | None = None  # where a person writes to by hand (Capabilities.handle)

    def __call__(self, code: str) -> str:
        return self.build(code)


async def unused(session: AsyncSession, program_id: int, target_kind: str, target_id: int,
                 now: datetime) -> LinkCode | None:
    """The target's newest code nobody used yet that still works: the one a card printed
    now carries (the panel shows it without making one)."""
    return await session.scalar(
        select(LinkCode)
        .where(
            LinkCode.program_id == program_id,
            LinkCode.target_kind == target_kind,
            LinkCode.target_id == target_id,
            LinkCode.uses == 0,
            or_(LinkCode.expires_at.is_(None), LinkCode.expires_at > now),
            or_(LinkCode.max_uses.is_(None), LinkCode.max_uses > 0),
        )
        .order_by(LinkCode.id.desc())
        .limit(1)
    )


async def code_for(
    session: AsyncSession, program_id: int, target_kind: str, target_id: int, now: datetime
) -> LinkCode:
    """An unused, unexpired code of the target if there is one (reprinting does not leave old
    cards dead), else a new one. A family's code links one chat only: while the family has
    one, no code takes it (see redeem)."""
    existing = await unused(session, program_id, target_kind, target_id, now)
    if existing is not None:
        return existing
    return await create(session, program_id, target_kind, target_id, now,
                        max_uses=1 if target_kind == "family" else None)


@dataclass(frozen=True)
class Card:
    name: str
    code: str
    url: str | None  # None where the channel has no links (or does not know its own name yet)


async def cards(
    session: AsyncSession,
    program_id: int,
    target_kind: str,
    target_ids: Sequence[int],
    link: LinkBuilder | None,
    now: datetime,
) -> list[Card]:
    model = _MODELS.get(target_kind)
    if model is None:
        raise ValueError(f"unknown link target {target_kind!r}")
    rows = await session.execute(
        select(model.id, model.name).where(
            model.program_id == program_id, model.id.in_(list(target_ids))
        )
    )
    names: dict[int, str] = {i: n for i, n in rows}
    missing = [i for i in target_ids if i not in names]
    if missing:
        raise ValueError(f"no {target_kind} {missing} in programme {program_id}")
    result = []
    for target_id in dict.fromkeys(target_ids):  # in the caller's order, once each
        code = (await code_for(session, program_id, target_kind, target_id, now)).code
        result.append(Card(names[target_id], code, link(code) if link else None))
    return result
