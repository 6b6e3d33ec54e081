"""The outbox: every message that leaves is a row here first. Repositories never commit;
the caller's unit of work does."""

from __future__ import annotations

import logging
import os
import socket
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import String, and_, bindparam, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from locales import reading_locale
from storage import programs
from storage.db import insert_for
from storage.models import (
    OutboxMessage,
    OutboxStatus,
    Person,
    RoleGrant,
    SentMessage,
    Worker,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Envelope:
    """Where and what: one message for one address."""

    person_id: int | None
    channel: str
    address: str
    payload: dict[str, Any]
    locale: str | None
    zone: str | None = None  # the programme's time zone, kept in the payload unless it has one


@dataclass(frozen=True)
class ReplyClaim:
    """Replies born already claimed by the worker that will send them at once, so the
    dispatcher need not claim them again; a crash before sending is settled by recovery."""

    worker: str
    lease: timedelta


# Hot statements built once per dialect and executed with parameters: building a statement
# and its cache key on every call cost more than running it.
_STATEMENTS: dict[tuple[str, str], Any] = {}


def _statement(session: AsyncSession, name: str) -> Any:
    dialect = session.bind.dialect.name
    stmt = _STATEMENTS.get((dialect, name))
    if stmt is None:
        stmt = _STATEMENTS[(dialect, name)] = _BUILDERS[name](dialect)
    return stmt


def _insert_row(dialect: str) -> Any:
    insert = insert_for(dialect)
    table = OutboxMessage.__table__
    return (insert(table).on_conflict_do_nothing(index_elements=["idempotency_key"])
            .returning(table.c.id))


def _by(table: Any, by: Any) -> Any:
    """A result recorded only by the worker still sending the row: another that settled it
    (a lease taken over) has the last word, and a late result for it is dropped."""
    return or_(by.is_(None), and_(table.c.claimed_by == by,
                                  table.c.status == OutboxStatus.SENDING))


def _mark_sent_row(dialect: str) -> Any:
    table = OutboxMessage.__table__
    return (update(table).where(table.c.id == bindparam("row_id"),
                                _by(table, bindparam("by", type_=String)))
            .values(status=OutboxStatus.SENT, sent_at=bindparam("at"),
                    platform_message_id=bindparam("platform_id"),
                    claimed_until=None, last_error=None))


_BUILDERS = {"insert": _insert_row, "mark_sent": _mark_sent_row}

ZONE = "tz"  # the payload's key for the zone its times are shown in


def _with_zone(payload: dict[str, Any], zone: str | None) -> dict[str, Any]:
    return {**payload, ZONE: zone} if zone and not payload.get(ZONE) and payload else payload


def row_values(envelope: Envelope, *, key: str, kind: str, now: datetime,
               not_before: datetime | None = None, expires_at: datetime | None = None,
               urgent: bool = False, batch: str | None = None,
               status: str = OutboxStatus.PENDING, reason: str | None = None,
               claim: ReplyClaim | None = None) -> dict[str, Any]:
    values: dict[str, Any] = dict(
        idempotency_key=key,
        person_id=envelope.person_id,
        channel=envelope.channel,
        address=envelope.address,
        kind=kind,
        payload=_with_zone(envelope.payload, envelope.zone),
        locale=envelope.locale,
        urgent=urgent,
        status=status,
        last_error=reason,
        not_before=not_before or now,
        expires_at=expires_at,
        attempts=0,
        claimed_by=None,
        claimed_until=None,
        batch=batch,
        created_at=now,
    )
    if claim is not None:
        values.update(status=OutboxStatus.SENDING, attempts=1, claimed_by=claim.worker,
                      claimed_until=now + claim.lease)
    return values


async def enqueue(
    session: AsyncSession,
    envelope: Envelope,
    *,
    key: str,
    kind: str,
    now: datetime,
    not_before: datetime | None = None,
    expires_at: datetime | None = None,
    urgent: bool = False,
    batch: str | None = None,
    status: str = OutboxStatus.PENDING,
    reason: str | None = None,
) -> int | None:
    """Add a message unless one with the same idempotency key exists; returns its id if new.
    A row may be born dropped: the record that a notice was due but no longer made sense."""
    values = row_values(envelope, key=key, kind=kind, now=now, not_before=not_before,
                        expires_at=expires_at, urgent=urgent, batch=batch, status=status,
                        reason=reason)
    return await insert_row(session, values)


async def insert_row(session: AsyncSession, values: dict[str, Any]) -> int | None:
    """Insert prepared :func:`row_values`; None when the key was already there."""
    result = await session.execute(_statement(session, "insert"), values)
    return result.scalar_one_or_none()


async def due_candidates(
    session: AsyncSession, now: datetime, limit: int, exclude: set[int] | None = None,
    channels: list[str] | None = None,
) -> list[OutboxMessage]:
    """Pending rows that may go now, urgent first, oldest first. Not yet claimed.

    Two index range scans (urgent, then the rest) rather than one query ordered by urgency,
    which would have to sort every due row: with 100,000 waiting that sort was the cost."""
    rows: list[OutboxMessage] = []
    for urgent in (True, False):
        stmt = (
            select(OutboxMessage)
            .where(OutboxMessage.status == OutboxStatus.PENDING,
                   OutboxMessage.urgent.is_(urgent), OutboxMessage.not_before <= now)
            .order_by(OutboxMessage.not_before, OutboxMessage.id)
            .limit(limit - len(rows))
        )
        if exclude:
            stmt = stmt.where(OutboxMessage.id.not_in(exclude))
        if channels is not None:  # the ones this process sends for now
            stmt = stmt.where(OutboxMessage.channel.in_(channels))
        rows += (await session.scalars(stmt)).all()
        if len(rows) >= limit:
            break
    return rows


async def claim(
    session: AsyncSession, ids: list[int], worker: str, now: datetime, lease: timedelta
) -> list[OutboxMessage]:
    """Mark rows as being sent by this worker; rows another worker took are left out.

    On PostgreSQL the rows are locked with SKIP LOCKED first so two processes never wait on
    or take the same row; on SQLite the conditional UPDATE alone is atomic. The lock looks
    rows up by id alone: with a status test too, a table whose statistics lag a big insert
    (a broadcast) was read through its status index, every pending row of it."""
    if not ids:
        return []
    # On SQLite the status is tested as an expression (status || '') for the same reason:
    # its planner, with no statistics, would rather read the status index than the ids.
    pick = [OutboxMessage.id.in_(ids), OutboxMessage.status.concat("") == OutboxStatus.PENDING]
    if session.bind.dialect.name == "postgresql":
        locked = select(OutboxMessage.id, OutboxMessage.status).where(
            OutboxMessage.id.in_(ids)).with_for_update(skip_locked=True)
        ids = [i for i, status in (await session.execute(locked)).all()
               if status == OutboxStatus.PENDING]
        if not ids:
            return []
        pick = [OutboxMessage.id.in_(ids)]  # locked and seen pending: nobody else can move them
    stmt = (
        update(OutboxMessage)
        .where(*pick)
        .values(
            status=OutboxStatus.SENDING,
            claimed_by=worker,
            claimed_until=now + lease,
            attempts=OutboxMessage.attempts + 1,
        )
        .returning(OutboxMessage)
        .execution_options(synchronize_session=False)
    )
    return list((await session.scalars(stmt)).all())


UNCERTAIN_REASON = "process stopped while sending; not resent to avoid a duplicate"
HEARTBEAT_STALE = timedelta(seconds=45)


def worker_identity() -> str:
    """host:pid:random, so a restart on the same machine can tell its predecessor is gone."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def is_dead(worker_id: str | None, heartbeat_at: datetime | None, lease_until: datetime | None,
            now: datetime) -> bool:
    if worker_id is None or (lease_until is not None and lease_until < now):
        return True
    if heartbeat_at is not None and now - heartbeat_at > HEARTBEAT_STALE:
        return True
    host, _, rest = worker_id.partition(":")
    pid = rest.partition(":")[0]
    return host == socket.gethostname() and pid.isdigit() and not _pid_alive(int(pid))


async def register_worker(session: AsyncSession, worker: str, now: datetime) -> None:
    session.add(Worker(id=worker, started_at=now, heartbeat_at=now))


async def heartbeat(session: AsyncSession, worker: str, now: datetime) -> None:
    await session.execute(update(Worker).where(Worker.id == worker).values(heartbeat_at=now)
                          .execution_options(synchronize_session=False))


async def unregister_worker(session: AsyncSession, worker: str) -> None:
    await session.execute(delete(Worker).where(Worker.id == worker))


async def take_over_abandoned(session: AsyncSession, worker: str, now: datetime,
                              lease: timedelta, *, channels: list[str] | None = None,
                              every: bool = False) -> list[OutboxMessage]:
    """Rows a dead process was sending (of these channels), now claimed by this worker to
    settle them; with ``every``, whoever else was sending them: the sender's lease of their
    channel changed hands, so the one that claimed them may not send any more."""
    stmt = select(OutboxMessage).where(OutboxMessage.status == OutboxStatus.SENDING,
                                       or_(OutboxMessage.claimed_by.is_(None),
                                           OutboxMessage.claimed_by != worker))
    if channels is not None:
        stmt = stmt.where(OutboxMessage.channel.in_(channels))
    rows = list((await session.scalars(stmt)).all())
    if not rows:
        return []
    beats = {w.id: w.heartbeat_at for w in (await session.scalars(
        select(Worker).where(Worker.id.in_({r.claimed_by for r in rows if r.claimed_by}))
    )).all()}
    dead = [r for r in rows if every
            or is_dead(r.claimed_by, beats.get(r.claimed_by or ""), r.claimed_until, now)]
    taken = []
    for r in dead:
        result = await session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == r.id, OutboxMessage.status == OutboxStatus.SENDING,
                   OutboxMessage.claimed_by.is_(None) if r.claimed_by is None
                   else OutboxMessage.claimed_by == r.claimed_by)
            .values(claimed_by=worker, claimed_until=now + lease)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount:
            taken.append(r)
    for w in {r.claimed_by for r in dead if r.claimed_by
              and (not every or is_dead(r.claimed_by, beats.get(r.claimed_by), None, now))}:
        await session.execute(delete(Worker).where(Worker.id == w))
    return sorted(taken, key=lambda r: r.id)


async def delivered_refs(session: AsyncSession, channel: str, address: str) -> list[str]:
    """What the platform called the messages delivered to this address, as it called them."""
    return [ref for ref in (await session.scalars(
        select(OutboxMessage.platform_message_id).where(
            OutboxMessage.channel == channel, OutboxMessage.address == address,
            OutboxMessage.status == OutboxStatus.SENT,
            OutboxMessage.platform_message_id.is_not(None)))).all() if ref]


async def mark_sent(
    session: AsyncSession, msg_id: int, now: datetime, platform_id: str | None, *,
    by: str | None = None
) -> None:
    await mark_sent_many(session, [(msg_id, platform_id)], now, by=by)


async def mark_sent_many(session: AsyncSession, sent: list[tuple[int, str | None]],
                         now: datetime, *, by: str | None = None) -> None:
    """Record deliveries in one statement (executemany): (row id, platform message id).
    ``by``: only rows that worker is still sending (see _by); None for a row nobody
    claimed."""
    if sent:
        await session.execute(_statement(session, "mark_sent"), [
            {"row_id": row_id, "platform_id": platform_id, "at": now, "by": by}
            for row_id, platform_id in sent
        ])


async def release(session: AsyncSession, ids: list[int], worker: str) -> None:
    """Hand rows this worker claimed but never began to send back to the queue."""
    if ids:
        await session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(ids), OutboxMessage.status == OutboxStatus.SENDING,
                   OutboxMessage.claimed_by == worker)
            .values(status=OutboxStatus.PENDING, claimed_by=None, claimed_until=None)
            .execution_options(synchronize_session=False)
        )


def _still_sending(by: str | None) -> tuple[Any, ...]:
    if by is None:
        return ()
    return (OutboxMessage.claimed_by == by, OutboxMessage.status == OutboxStatus.SENDING)


def _dropped_if_settled(result: Any, msg_id: int, by: str | None) -> None:
    if by is not None and not result.rowcount:
        log.warning("outbox row %s was settled by another worker meanwhile: this result of "
                    "%s is dropped", msg_id, by)


async def mark_retry(session: AsyncSession, msg_id: int, at: datetime, error: str, *,
                     by: str | None = None) -> None:
    result = await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == msg_id, *_still_sending(by))
        .values(
            status=OutboxStatus.PENDING, not_before=at, last_error=error[:500],
            claimed_by=None, claimed_until=None,
        )
        .execution_options(synchronize_session=False)
    )
    _dropped_if_settled(result, msg_id, by)


async def mark_final(session: AsyncSession, msg_id: int, status: str, error: str, *,
                     by: str | None = None) -> None:
    result = await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == msg_id, *_still_sending(by))
        .values(status=status, last_error=error[:500], claimed_until=None)
        .execution_options(synchronize_session=False)
    )
    _dropped_if_settled(result, msg_id, by)


async def mark_waiting(session: AsyncSession, msg_id: int, reason: str, *,
                     by: str | None = None) -> None:
    """Not sent, not failed: the channel may not write first now. storage.receipts.
    release_waiting puts it back in the queue when the person writes."""
    result = await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == msg_id, *_still_sending(by))
        .values(status=OutboxStatus.WAITING, last_error=reason[:500], claimed_by=None,
                claimed_until=None)
        .execution_options(synchronize_session=False)
    )
    _dropped_if_settled(result, msg_id, by)


async def mark_unreachable(session: AsyncSession, person_id: int, reason: str) -> None:
    await session.execute(
        update(Person)
        .where(Person.id == person_id)
        .values(reachable=False, unreachable_reason=reason[:200])
        .execution_options(synchronize_session=False)
    )


async def next_due_at(session: AsyncSession, channels: list[str] | None = None
                      ) -> datetime | None:
    stmt = select(func.min(OutboxMessage.not_before)).where(
        OutboxMessage.status == OutboxStatus.PENDING)
    if channels is not None:
        stmt = stmt.where(OutboxMessage.channel.in_(channels))
    return await session.scalar(stmt)


async def unsettled(session: AsyncSession, ids: list[int]) -> set[int]:
    """Which of these rows are still to send or being sent."""
    if not ids:
        return set()
    return set((await session.scalars(select(OutboxMessage.id).where(
        OutboxMessage.id.in_(ids),
        OutboxMessage.status.in_((OutboxStatus.PENDING, OutboxStatus.SENDING))))).all())


async def counts(session: AsyncSession) -> dict[tuple[str, str], int]:
    rows = await session.execute(
        select(OutboxMessage.kind, OutboxMessage.status, func.count()).group_by(
            OutboxMessage.kind, OutboxMessage.status
        )
    )
    return {(k, s): n for k, s, n in rows.all()}


async def upcoming(session: AsyncSession, limit: int = 10) -> list[OutboxMessage]:
    stmt = (
        select(OutboxMessage)
        .where(OutboxMessage.status == OutboxStatus.PENDING)
        .order_by(OutboxMessage.not_before, OutboxMessage.id)
        .limit(limit)
    )
    return list((await session.scalars(stmt)).all())


# What did not reach its person: given up on, perhaps sent twice had it been retried, or
# waiting for the person to write first.
TROUBLE = (OutboxStatus.FAILED, OutboxStatus.UNCERTAIN, OutboxStatus.WAITING)


@dataclass(frozen=True)
class Trouble:
    message: OutboxMessage
    name: str | None  # whom it was for
    reachable: bool | None


def _of_program(program_id: int) -> Any:
    """Messages to the programme's people: its participants and its team."""
    return OutboxMessage.person_id.in_(
        select(Person.id).where(or_(
            Person.program_id == program_id,
            Person.id.in_(select(RoleGrant.person_id)
                          .where(RoleGrant.program_id == program_id)))))


async def status_counts(session: AsyncSession, program_id: int | None, since: datetime
                        ) -> dict[str, int]:
    """How many messages since then are in each status (replies left out), to the
    programme's people (everyone's without a programme)."""
    ours = [] if program_id is None else [_of_program(program_id)]
    return dict((await session.execute(
        select(OutboxMessage.status, func.count())
        .where(OutboxMessage.created_at >= since, OutboxMessage.kind != "reply", *ours)
        .group_by(OutboxMessage.status))).all())


async def troubles(session: AsyncSession, program_id: int | None, since: datetime, *,
                   limit: int) -> list[Trouble]:
    """The latest messages since then that did not reach the programme's people."""
    ours = [] if program_id is None else [_of_program(program_id)]
    rows = await session.execute(
        select(OutboxMessage, Person.name, Person.reachable)
        .outerjoin(Person, Person.id == OutboxMessage.person_id)
        .where(OutboxMessage.status.in_(TROUBLE), OutboxMessage.created_at >= since, *ours)
        .order_by(OutboxMessage.id.desc())
        .limit(limit))
    return [Trouble(m, name, reachable) for m, name, reachable in rows.all()]


def is_expired(row: OutboxMessage, now: datetime) -> bool:
    return row.expires_at is not None and row.expires_at <= now




async def enqueue_for_person(
    session: AsyncSession,
    person_id: int,
    payload: dict[str, Any],
    *,
    key: str,
    kind: str,
    now: datetime,
    not_before: datetime | None = None,
    expires_at: datetime | None = None,
    essential: bool = False,
    batch: str | None = None,
    urgent: bool = False,
    status: str = OutboxStatus.PENDING,
    reason: str | None = None,
    zone: str | None = None,
) -> int | None:
    """Queue a notice for a person at the channel they last used. Nothing is queued for
    someone erased, not linked to any chat, or (unless the notice is essential) who asked
    with /stop for no more notices; nor to an address the platform refused. Returns the new
    row's id, if any.

    Someone who never passed the chat's consent step is written to only where the consent
    they gave on paper covers writing first (people.CONTACT_CHANNEL, from the families
    import), at that address.

    Its times are shown in ``zone`` (the programme the notice is about), else in the zone
    of the person's own programme."""
    from storage.models import ChannelAddress
    from storage.people import CONTACT_CHANNEL

    person = await session.get(Person, person_id)
    if person is None or person.erased_at is not None:
        return None
    if person.consent_at is None and person.contact_consent_at is None:
        return None
    # Paper consent never outlasts a /stop, even for an essential notice.
    if person.opted_out_at is not None and (not essential or person.consent_at is None):
        return None
    stmt = select(ChannelAddress).where(ChannelAddress.person_id == person_id,
                                        ChannelAddress.unreachable_at.is_(None))
    if person.consent_at is None:
        stmt = stmt.where(ChannelAddress.channel == CONTACT_CHANNEL)
    addr = await session.scalar(
        stmt.order_by(ChannelAddress.last_inbound_at.desc().nulls_last(),
                      ChannelAddress.id.desc())
        .limit(1)
    )
    if addr is None:
        return None
    if payload and not zone and not payload.get(ZONE):
        zone = await programs.zone_of_person(session, person)
    # Read in their programme's regional variant of their language, as their replies are.
    place = await programs.place_of_person(session, person)
    env = Envelope(person_id, addr.channel, addr.address, payload,
                   reading_locale(person.locale, place.locale), zone)
    return await enqueue(
        session, env, key=key, kind=kind, now=now, not_before=not_before,
        expires_at=expires_at, batch=batch, urgent=urgent, status=status, reason=reason,
    )


async def existing_keys(session: AsyncSession, keys: list[str]) -> set[str]:
    found: set[str] = set()
    for i in range(0, len(keys), 500):
        chunk = keys[i : i + 500]
        found.update(
            (await session.scalars(
                select(OutboxMessage.idempotency_key).where(
                    OutboxMessage.idempotency_key.in_(chunk))
            )).all()
        )
    return found


async def drop_pending(session: AsyncSession, key_prefix: str, reason: str) -> int:
    """Withdraw queued, unsent messages (a meeting was moved or cancelled)."""
    result = await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.status == OutboxStatus.PENDING,
               OutboxMessage.idempotency_key.startswith(key_prefix, autoescape=True))
        .values(status=OutboxStatus.DROPPED, last_error=reason[:500])
        .execution_options(synchronize_session=False)
    )
    return result.rowcount or 0


async def let_go(session: AsyncSession, person_id: int, key_prefixes: list[str], reason: str
                 ) -> int:
    """A person's messages about something no longer theirs (a family whose link moved):
    the unsent ones are withdrawn with ``reason``, and each gives up its key (the one in
    flight keeps it), so the same notices are planned afresh for whoever holds it now."""
    if not key_prefixes:
        return 0
    rows = (await session.scalars(select(OutboxMessage).where(
        OutboxMessage.person_id == person_id,
        OutboxMessage.status != OutboxStatus.SENDING,
        or_(*[OutboxMessage.idempotency_key.startswith(p, autoescape=True)
              for p in key_prefixes])))).all()
    for row in rows:
        if row.status == OutboxStatus.PENDING:
            row.status, row.last_error = OutboxStatus.DROPPED, reason[:500]
        suffix = f"~{row.id}"  # the row's own id: unique however often a family moves
        row.idempotency_key = row.idempotency_key[:160 - len(suffix)] + suffix
    await session.flush()
    return len(rows)


async def last_said(session: AsyncSession, channel: str, address: str, person_id: int,
                    rows: int = 20) -> list[OutboxMessage]:
    """What Convoca said last in a chat: the delivered rows of its newest unit of work there,
    oldest first — the replies to one message of the person's (their keys differ only in
    the last part), or else the notices queued at one moment."""
    newest = list((await session.scalars(
        select(OutboxMessage)
        .where(OutboxMessage.channel == channel, OutboxMessage.address == address,
               OutboxMessage.person_id == person_id,
               OutboxMessage.status == OutboxStatus.SENT)
        .order_by(OutboxMessage.id.desc())
        .limit(rows)
    )).all())
    if not newest:
        return []
    last = newest[0]
    if last.kind == "reply":
        turn = last.idempotency_key.rsplit(":", 1)[0] + ":"
        unit = [r for r in newest if r.idempotency_key.startswith(turn)]
    else:  # a clock that stands still (the demo's) gives many ticks one moment: not replies
        unit = [r for r in newest if r.kind != "reply" and r.created_at == last.created_at]
    return unit[::-1]


async def shown_as(session: AsyncSession, channel: str, address: str, person_id: int,
                   platform_message_id: str) -> OutboxMessage | None:
    """The row sent to this person in this chat as that platform message: only theirs, so a
    reference from another chat finds nothing."""
    # A channel whose ids do not fit platform_message_id (WhatsApp's wamids) keeps each
    # message a row became in sent_messages: either names the row.
    parts = select(SentMessage.outbox_id).where(SentMessage.channel == channel,
                                                SentMessage.platform_id == platform_message_id)
    return (await session.scalars(
        select(OutboxMessage)
        .where(OutboxMessage.channel == channel, OutboxMessage.address == address,
               OutboxMessage.person_id == person_id,
               or_(OutboxMessage.platform_message_id == platform_message_id,
                   OutboxMessage.id.in_(parts)),
               OutboxMessage.status == OutboxStatus.SENT)
        .order_by(OutboxMessage.id.desc())
        .limit(1)
    )).first()
