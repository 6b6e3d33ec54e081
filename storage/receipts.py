"""What a platform says of the messages it accepted (sent, delivered, read, failed), the
window in which a channel lets us write first, and the messages that wait for the person to
write. Platforms repeat themselves and reorder: every function here gives the same result
whatever order and however often the same word arrives. Never commits: the caller's unit of
work does."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage import outbox
from storage.db import insert_for
from storage.models import (
    ChannelAddress,
    IncomingUpdate,
    OutboxMessage,
    OutboxStatus,
    Person,
    Receipt,
    SentMessage,
)

# How far each word goes. "failed" outranks "delivered" (a message that got a wamid may still
# fail later) but not "read": a message read has arrived, whatever came after.
_RANK = {Receipt.SENT: 0, Receipt.DELIVERED: 1, Receipt.FAILED: 2, Receipt.READ: 3}

# The time a channel allows free-form messages after the person last wrote (WhatsApp's).
SESSION_WINDOW = timedelta(hours=24)
# Free-form only while the window is surely open: a message queued at 23 h 59 min would
# reach the platform after it closed, and fail.
WINDOW_MARGIN = timedelta(minutes=15)

TEMPLATE_SUFFIX = ":template"  # the key of a row sent again as a template


def rank(status: str) -> int:
    return _RANK[Receipt(status)]


async def record_sent(session: AsyncSession, outbox_id: int, channel: str,
                      platform_ids: Iterable[str], now: datetime) -> None:
    """The platform's ids of the messages one outbox row became. Once each: a status that
    arrived first is not undone."""
    values = [dict(outbox_id=outbox_id, channel=channel, platform_id=pid,
                   status=Receipt.SENT, status_at=now) for pid in dict.fromkeys(platform_ids)]
    if not values:
        return
    insert = insert_for(session.bind.dialect.name)
    await session.execute(insert(SentMessage).on_conflict_do_nothing(
        index_elements=["channel", "platform_id"]), values)


async def record_sent_many(session: AsyncSession, channel: str,
                           sent: Iterable[tuple[int, Iterable[str]]], now: datetime) -> None:
    """record_sent for many rows in one statement: (outbox id, the platform's ids) each. A
    wave of a broadcast is recorded at once; a statement per row held SQLite's one
    connection long enough to stall the sends waiting for it."""
    values = [dict(outbox_id=outbox_id, channel=channel, platform_id=pid, status=Receipt.SENT,
                   status_at=now)
              for outbox_id, pids in sent for pid in dict.fromkeys(pids)]
    if not values:
        return
    insert = insert_for(session.bind.dialect.name)
    await session.execute(insert(SentMessage).on_conflict_do_nothing(
        index_elements=["channel", "platform_id"]), values)


async def record_status(session: AsyncSession, channel: str, platform_id: str, status: str,
                        at: datetime, error_code: int | None = None, error: str | None = None
                        ) -> OutboxMessage | None:
    """Record what the platform says of one of its messages, only ever forward. Returns the
    outbox row when the word moved it (a "failed" that is news, for the caller to act on, say
    by sending again as a template); None for a message we do not know, a repeat, or a word
    that comes too late to count. ``error`` is the reason as the channel stores it
    ("whatsapp <code>: <message>"); a failure keeps it in the row's last_error too."""
    # Locked: two webhooks handled at once (read, delivered) must not both start from sent.
    sent = await session.scalar(select(SentMessage).where(
        SentMessage.channel == channel, SentMessage.platform_id == platform_id)
        .with_for_update())
    if sent is None or rank(status) <= rank(sent.status):
        return None
    sent.status, sent.status_at = Receipt(status).value, at
    if status == Receipt.FAILED:
        sent.error_code, sent.error = error_code, (error or "")[:500] or None
    await session.flush()
    row = await session.get(OutboxMessage, sent.outbox_id)
    if row is None:
        return None
    receipt = combined((await session.scalars(select(SentMessage.status).where(
        SentMessage.outbox_id == row.id))).all())
    if receipt != row.receipt:
        row.receipt, row.receipt_at = receipt, at
    if status == Receipt.FAILED and error:
        # The gestora's report reads why from here (services.outbox.platform_reason).
        row.last_error = error[:500]
    await session.flush()
    return row


def combined(statuses: Iterable[str]) -> str | None:
    """The word for a row from its messages' words: failed when one of them failed (a part
    of it did not arrive), else what all of them reached; None while that is only "sent"."""
    statuses = list(statuses)
    if not statuses:
        return None
    if Receipt.FAILED in statuses:
        return Receipt.FAILED.value
    weakest = min(statuses, key=rank)
    return None if weakest == Receipt.SENT else Receipt(weakest).value


async def last_wrote(session: AsyncSession, channel: str, address: str) -> datetime | None:
    """When the person at this address last wrote, if ever."""
    return await session.scalar(select(ChannelAddress.last_inbound_at).where(
        ChannelAddress.channel == channel, ChannelAddress.address == address))


def window_is_open(wrote: datetime | None, now: datetime, margin: timedelta = WINDOW_MARGIN,
                   window: timedelta = SESSION_WINDOW) -> bool:
    """Whether someone who last wrote at ``wrote`` (None: never) may still get a free-form
    message, with ``margin`` to spare for the time the sending itself takes."""
    if wrote is None:
        return False
    if wrote.tzinfo is None:  # SQLite gives back what it was given, without the zone
        wrote = wrote.replace(tzinfo=UTC)
    return now < wrote + window - margin


async def window_open(session: AsyncSession, channel: str, address: str, now: datetime,
                      margin: timedelta = WINDOW_MARGIN, window: timedelta = SESSION_WINDOW
                      ) -> bool:
    """window_is_open for the person at this address."""
    return window_is_open(await last_wrote(session, channel, address), now, margin, window)


async def last_wrote_many(session: AsyncSession, channel: str, addresses: Iterable[str]
                          ) -> dict[str, datetime]:
    """last_wrote for many addresses in one statement (those who never wrote are left out)."""
    wanted = list(dict.fromkeys(addresses))
    if not wanted:
        return {}
    rows = await session.execute(select(ChannelAddress.address, ChannelAddress.last_inbound_at)
                                 .where(ChannelAddress.channel == channel,
                                        ChannelAddress.address.in_(wanted),
                                        ChannelAddress.last_inbound_at.is_not(None)))
    return {address: last for address, last in rows.all()}


# Run on every message a person sends: built once (see storage.people._TOUCH).
_outbox = OutboxMessage.__table__
_addresses = ChannelAddress.__table__
_RELEASE = (update(_outbox)
            .where(_outbox.c.channel == bindparam("b_channel"),
                   _outbox.c.address == bindparam("b_address"),
                   _outbox.c.status == OutboxStatus.WAITING)
            .values(status=OutboxStatus.PENDING, not_before=bindparam("b_at"), last_error=None,
                    claimed_by=None, claimed_until=None))
async def release_waiting(session: AsyncSession, channel: str, address: str, now: datetime
                          ) -> int:
    """The person wrote: what waited for them goes with the dispatcher's next pass."""
    result = await session.execute(_RELEASE, {"b_channel": channel, "b_address": address,
                                              "b_at": now})
    return result.rowcount or 0


async def mark_address_unreachable(session: AsyncSession, channel: str, address: str,
                                   reason: str, now: datetime) -> None:
    """The platform will not take messages for this address (not the person: they may have
    another). enqueue_for_person passes it over until they write from it again."""
    await session.execute(
        update(ChannelAddress)
        .where(ChannelAddress.channel == channel, ChannelAddress.address == address)
        .values(unreachable_reason=reason[:200], unreachable_at=now)
        .execution_options(synchronize_session=False))


async def requeue_as_template(session: AsyncSession, row: OutboxMessage, now: datetime
                              ) -> int | None:
    """Queue again a row the platform refused outside its window, marked to go as a template
    (payload meta {"template": true}). Once only: a row that is itself such a copy, or whose
    copy exists, gives None. The copy takes the row's place in its broadcast, so the report
    counts the person once."""
    if row.idempotency_key.endswith(TEMPLATE_SUFFIX) or (row.payload or {}).get(
            "meta", {}).get("template"):
        return None
    if row.person_id is not None:
        # Erased, or stopped the notices, since the first try: nothing goes again.
        person = await session.get(Person, row.person_id)
        if person is None or person.erased_at is not None or (
                person.opted_out_at is not None and row.kind != "reply"):
            return None
    payload = dict(row.payload or {})
    payload["meta"] = {**payload.get("meta", {}), "template": True}
    envelope = outbox.Envelope(row.person_id, row.channel, row.address, payload, row.locale)
    key = row.idempotency_key[:160 - len(TEMPLATE_SUFFIX)] + TEMPLATE_SUFFIX
    new_id = await outbox.enqueue(session, envelope, key=key, kind=row.kind, now=now,
                                  expires_at=row.expires_at, urgent=row.urgent, batch=row.batch)
    if new_id is not None and row.batch is not None:
        row.batch = None
        await session.flush()
    return new_id


async def sent_for(session: AsyncSession, channel: str, outbox_id: int) -> list[str]:
    """The platform's ids of the messages this row became, as far as they are known."""
    return list((await session.scalars(
        select(SentMessage.platform_id)
        .where(SentMessage.channel == channel, SentMessage.outbox_id == outbox_id)
        .order_by(SentMessage.id))).all())


async def settle_by_receipt(session: AsyncSession, outbox_id: int, channel: str,
                            platform_id: str, now: datetime) -> bool:
    """A receipt names the row its message came from (the platform echoes what we sent with
    it): the message is the row's, even if the answer to its send was lost. A row left
    uncertain after a restart is so settled as sent. True when the row exists."""
    row = await session.get(OutboxMessage, outbox_id)
    if row is None or row.channel != channel:
        return False
    await record_sent(session, outbox_id, channel, [platform_id], now)
    if row.status == OutboxStatus.UNCERTAIN:
        row.status, row.sent_at, row.last_error = OutboxStatus.SENT, now, None
        await session.flush()
    return True


async def release_all_waiting(session: AsyncSession, channel: str, now: datetime) -> int:
    """Every row waiting on ``channel`` tries again (a template it lacked may be approved
    now); those still without a way to go wait again."""
    result = await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.channel == channel, OutboxMessage.status == OutboxStatus.WAITING)
        .values(status=OutboxStatus.PENDING, not_before=now, claimed_by=None,
                claimed_until=None)
        .execution_options(synchronize_session=False))
    return result.rowcount or 0


async def known(session: AsyncSession, channel: str, platform_ids: Iterable[str]) -> set[str]:
    """Which of these platform ids are accounted for: messages of ours whose row is known,
    or people's messages the intake stored."""
    ids = list(dict.fromkeys(platform_ids))
    if not ids:
        return set()
    sent = set((await session.scalars(select(SentMessage.platform_id).where(
        SentMessage.channel == channel, SentMessage.platform_id.in_(ids)))).all())
    taken = set((await session.scalars(select(IncomingUpdate.key).where(
        IncomingUpdate.channel == channel, IncomingUpdate.key.in_(ids)))).all())
    return sent | taken
