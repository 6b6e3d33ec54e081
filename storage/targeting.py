"""Who a message reaches: the people behind a target (see domain.targets for what a target is)
in a programme, who can be reached and who asked for no notices.

Pure reading: never writes, never commits.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from domain.names import normalise_name
from domain.targets import BODY, FAMILIES, NO_ANSWER, ORGANIZATIONS, check, sector_key
from locales.collation import sort_key
from storage.models import (
    Body,
    ChannelAddress,
    Family,
    Meeting,
    Membership,
    Organization,
    Person,
    Representative,
    Rsvp,
)

_CHUNK = 500  # SQLite refuses statements with too many bound parameters

Unlinked = tuple[str, int, str]  # (organization | family | person, id, name)


@dataclass
class Recipients:
    """Who gets it. ``person_ids`` have a chat and take notices; ``not_linked`` are the
    records with nobody reachable behind them yet; ``opted_out`` asked with /stop for no
    notices and are left out of anything not essential."""

    person_ids: list[int] = field(default_factory=list)
    not_linked: list[Unlinked] = field(default_factory=list)
    opted_out: list[Unlinked] = field(default_factory=list)
    organization_by_person: dict[int, int] = field(default_factory=dict)
    organization_ids: list[int] = field(default_factory=list)  # reached through a representative

    def _add_person(self, person_id: int) -> None:
        if person_id not in self._seen_people:
            self._seen_people.add(person_id)
            self.person_ids.append(person_id)

    def _add_unlinked(self, item: Unlinked, into: list[Unlinked]) -> None:
        if (item[0], item[1]) not in self._seen_records:
            self._seen_records.add((item[0], item[1]))
            into.append(item)

    def __post_init__(self) -> None:
        self._seen_people: set[int] = set(self.person_ids)
        self._seen_records: set[tuple[str, int]] = set()


async def sectors(session: AsyncSession, program_id: int) -> list[tuple[str, int]]:
    """The families' sectors as (how most rows write it, number of families), by name;
    'Villa Esperanza' and 'villa esperanza' are one sector."""
    spellings: dict[str, Counter[str]] = {}
    for (sector,) in await session.execute(
        select(Family.sector).where(Family.program_id == program_id, Family.sector.is_not(None))
    ):
        key = normalise_name(sector)
        if key:
            spellings.setdefault(key, Counter())[sector.strip()] += 1
    result = [(c.most_common(1)[0][0], sum(c.values())) for c in spellings.values()]
    return sorted(result, key=lambda item: sort_key(item[0]))


async def organizations(session: AsyncSession, program_id: int) -> list[tuple[int, str]]:
    """The programme's organisations as (id, name), by name: to pick some of them."""
    rows = (await session.execute(select(Organization.id, Organization.name).where(
        Organization.program_id == program_id))).all()
    return sorted(((i, n) for i, n in rows), key=lambda o: (sort_key(o[1]), o[0]))


async def sector_by_key(session: AsyncSession, program_id: int, key: str) -> str | None:
    return next((s for s, _ in await sectors(session, program_id) if sector_key(s) == key), None)


# --- resolving ---------------------------------------------------------------------------------


async def resolve(session: AsyncSession, program_id: int, target: dict[str, Any]) -> Recipients:
    kind = check(target)["kind"]
    found = Recipients()
    if kind == BODY:
        body = await _body(session, program_id, target)
        if body is not None:
            await _members(session, [body.id], found)
    elif kind == ORGANIZATIONS:
        await _organizations(session, program_id, target.get("ids"), found)
    elif kind == FAMILIES:
        await _families(session, program_id, target.get("sector"), target.get("mode"), found)
    elif kind == NO_ANSWER:
        await _no_answer(session, program_id, target["meeting_id"], found)
    else:
        bodies = (await session.scalars(select(Body.id).where(Body.program_id == program_id)))
        await _members(session, list(bodies), found)
        await _organizations(session, program_id, None, found)
        await _families(session, program_id, None, None, found)
    return found


async def _body(session: AsyncSession, program_id: int, target: dict[str, Any]) -> Body | None:
    stmt = select(Body).where(Body.program_id == program_id)
    if isinstance(target.get("id"), int):
        stmt = stmt.where(Body.id == target["id"])
    else:
        stmt = stmt.where(Body.kind == target["body_kind"])
    return await session.scalar(stmt.order_by(Body.id).limit(1))


async def _members(session: AsyncSession, body_ids: list[int], found: Recipients) -> None:
    if not body_ids:
        return
    rows = await session.execute(
        select(Membership.person_id, Membership.organization_id)
        .where(Membership.body_id.in_(body_ids), Membership.left_at.is_(None))
        .order_by(Membership.id)
    )
    members = list(rows.all())
    state = await _reachability(session, [p for p, _ in members])
    names = await display_names(session, [p for p, _ in members])
    for person_id, org_id in members:
        status = state.get(person_id, "gone")
        if status == "ok":
            found._add_person(person_id)
            if org_id is not None:
                found.organization_by_person.setdefault(person_id, org_id)
        elif status == "opted_out":
            found._add_unlinked(("person", person_id, names[person_id]), found.opted_out)
        else:
            found._add_unlinked(("person", person_id, names[person_id]), found.not_linked)


async def _organizations(session: AsyncSession, program_id: int, ids: list[int] | None,
                         found: Recipients) -> None:
    stmt = select(Organization.id, Organization.name).where(
        Organization.program_id == program_id)
    if ids is not None:
        if not ids:
            return
        stmt = stmt.where(Organization.id.in_(ids))
    orgs = sorted((await session.execute(stmt)).all(), key=lambda o: (sort_key(o.name), o.id))
    reps: dict[int, list[int]] = {}
    for chunk in _chunks([o for o, _ in orgs]):
        for org_id, person_id in await session.execute(
            select(Representative.organization_id, Representative.person_id)
            .where(Representative.organization_id.in_(chunk))
            .order_by(Representative.is_primary.desc(), Representative.id)
        ):
            reps.setdefault(org_id, []).append(person_id)
    state = await _reachability(session, [p for ps in reps.values() for p in ps])
    for org_id, name in orgs:
        reached = [p for p in reps.get(org_id, []) if state.get(p) == "ok"]
        if not reached:
            stopped = any(state.get(p) == "opted_out" for p in reps.get(org_id, []))
            found._add_unlinked(("organization", org_id, name),
                                found.opted_out if stopped else found.not_linked)
            continue
        found.organization_ids.append(org_id)
        for person_id in reached:
            found._add_person(person_id)
            found.organization_by_person.setdefault(person_id, org_id)


async def _families(session: AsyncSession, program_id: int, sector: str | None,
                    mode: str | None, found: Recipients) -> None:
    stmt = select(Family.id, Family.name, Family.person_id, Family.sector).where(
        Family.program_id == program_id)
    if mode is not None:
        stmt = stmt.where(Family.pickup_mode == mode)
    rows = sorted((await session.execute(stmt)).all(), key=lambda f: (sort_key(f.name), f.id))
    if sector is not None:
        wanted = normalise_name(sector)
        rows = [r for r in rows if r.sector and normalise_name(r.sector) == wanted]
    state = await _reachability(session, [r.person_id for r in rows if r.person_id])
    for fam_id, name, person_id, _ in rows:
        status = state.get(person_id, "gone") if person_id else "gone"
        if status == "ok":
            found._add_person(person_id)
        else:
            found._add_unlinked(("family", fam_id, name),
                                found.opted_out if status == "opted_out" else found.not_linked)


async def _no_answer(session: AsyncSession, program_id: int, meeting_id: int,
                     found: Recipients) -> None:
    rows = (await session.execute(
        select(Rsvp.person_id, Rsvp.organization_id)
        .join(Meeting, Meeting.id == Rsvp.meeting_id)
        .where(Meeting.id == meeting_id, Meeting.program_id == program_id,
               Rsvp.answer.is_(None), Rsvp.person_id.is_not(None))
        .order_by(Rsvp.id))).all()
    state = await _reachability(session, [p for p, _ in rows])
    names = await display_names(session, [p for p, _ in rows])
    for person_id, org_id in rows:
        status = state.get(person_id, "gone")
        if status == "ok":
            found._add_person(person_id)
            if org_id is not None:
                found.organization_by_person.setdefault(person_id, org_id)
        else:
            found._add_unlinked(("person", person_id, names[person_id]),
                                found.opted_out if status == "opted_out" else found.not_linked)


async def reached_by(session: AsyncSession, person_ids: Sequence[int]
                     ) -> dict[int, tuple[str, datetime | None]]:
    """Per person, the chat a notice goes to (the one they last wrote from, as the outbox
    chooses it) and when they last wrote there: a preview tells who is outside a channel's
    window for writing first."""
    found: dict[int, tuple[str, datetime | None]] = {}
    for chunk in _chunks(list(person_ids)):
        rows = await session.execute(
            select(ChannelAddress.person_id, ChannelAddress.channel,
                   ChannelAddress.last_inbound_at)
            .where(ChannelAddress.person_id.in_(chunk), ChannelAddress.unreachable_at.is_(None))
            .order_by(ChannelAddress.last_inbound_at.desc().nulls_last(),
                      ChannelAddress.id.desc()))
        for pid, channel, last in rows.all():
            found.setdefault(pid, (channel, last))
    return found


async def _reachability(session: AsyncSession, person_ids: Iterable[int]) -> dict[int, str]:
    """Per person: "ok" (a chat, consent, not erased), "opted_out" (asked for no notices) or
    "gone" (no chat yet, no consent, or erased). Someone who blocked the bot is still "ok":
    the delivery report names them, which is what the gestora needs to know."""
    ids = list(dict.fromkeys(person_ids))
    result: dict[int, str] = {}
    with_chat: set[int] = set()
    for chunk in _chunks(ids):
        with_chat.update(
            (await session.scalars(
                select(ChannelAddress.person_id).where(ChannelAddress.person_id.in_(chunk))
            )).all()
        )
        for pid, consent, erased, opted_out in await session.execute(
            select(Person.id, Person.consent_at, Person.erased_at, Person.opted_out_at)
            .where(Person.id.in_(chunk))
        ):
            if consent is None or erased is not None or pid not in with_chat:
                result[pid] = "gone"
            elif opted_out is not None:
                result[pid] = "opted_out"
            else:
                result[pid] = "ok"
    return result


async def display_names(session: AsyncSession, person_ids: Sequence[int]) -> dict[int, str]:
    """What to call each person in a report: their name, else their family's, else a
    number the gestora can look up."""
    ids = list(dict.fromkeys(person_ids))
    names: dict[int, str] = {}
    for chunk in _chunks(ids):
        for pid, name in await session.execute(
            select(Person.id, Person.name).where(Person.id.in_(chunk))
        ):
            if name:
                names[pid] = name
        missing = [p for p in chunk if p not in names]
        if missing:
            for pid, name in await session.execute(
                select(Family.person_id, Family.name).where(Family.person_id.in_(missing))
            ):
                names.setdefault(pid, name)
    return {p: names.get(p, f"#{p}") for p in ids}


async def locales_of(session: AsyncSession, person_ids: Sequence[int]) -> Counter[str | None]:
    """How many recipients read each language (None: the installation's default)."""
    found: Counter[str | None] = Counter()
    for chunk in _chunks(list(person_ids)):
        for (loc,) in await session.execute(select(Person.locale).where(Person.id.in_(chunk))):
            found[loc] += 1
    return found


def _chunks(items: Sequence[int]) -> Iterable[list[int]]:
    for i in range(0, len(items), _CHUNK):
        yield list(items[i:i + _CHUNK])
