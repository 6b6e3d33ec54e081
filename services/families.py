"""Whose chat a family's notices go to. A family is linked to one person at a time: its
printed code links it only while no one else has it (storage.links), the gestora releases
it (`convoca family release`, or the family's code in the panel), and the family's own
phone, shared from its own chat, moves it. Whoever loses the family is told and every
change is audited."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from locales import Msg, Raw
from services.messages import Outgoing
from storage import outbox, people
from storage.models import Family, Pickup, Role

KIND = "family_link"  # the outbox kind of the notice to the person who lost the family


async def release(session: AsyncSession, family: Family, now: datetime, *,
                  actor_id: int | None, channel: str) -> bool | None:
    """Free the family for its code or its phone to link again. None when it was linked to
    no one; else whether the person who had it was told."""
    previous = family.person_id
    if previous is None:
        return None
    family.person_id = None
    told = await _let_go(session, family, previous, "link.family_released", now)
    people.audit(session, now, "family_released", actor_id=actor_id, channel=channel,
                 entity="family", entity_id=family.id, previous_person=previous, told=told)
    return told


async def hand_over(session: AsyncSession, family: Family, person_id: int, now: datetime, *,
                    channel: str, via: str) -> None:
    """Link the family to ``person_id``; when someone else had it, they are told."""
    previous = family.person_id
    family.person_id = person_id
    if previous is None or previous == person_id:
        return
    told = await _let_go(session, family, previous, "link.family_moved", now)
    people.audit(session, now, "family_link_moved", actor_id=person_id, channel=channel,
                 entity="family", entity_id=family.id, previous_person=previous, via=via,
                 told=told)


async def _let_go(session: AsyncSession, family: Family, previous: int, key: str,
                  now: datetime) -> bool:
    await session.flush()
    others = await session.scalar(select(Family.id).where(
        Family.person_id == previous, Family.program_id == family.program_id).limit(1))
    if others is None:  # no family of theirs left in the programme
        await people.revoke(session, previous, Role.FAMILIA, family.program_id)
    # The family's dates now belong to whoever holds it (or to no one until someone does).
    pickup_ids = (await session.scalars(
        select(Pickup.id).where(Pickup.family_id == family.id))).all()
    await outbox.let_go(session, previous,
                        [f"pickup:{pid}:" for pid in pickup_ids] + [f"pickup:dates:{family.id}:"],
                        reason="the family is no longer linked to this person")
    text = Msg(key, {"name": Raw(family.name)})
    # Essential: losing one's family's notices is news even after /stop.
    new_id = await outbox.enqueue_for_person(
        session, previous, Outgoing(text=text).to_json(),
        key=f"family:{family.id}:let_go:{previous}:{now.isoformat()}", kind=KIND, now=now,
        essential=True, urgent=True)
    return new_id is not None
