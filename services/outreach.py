"""Invitations and broadcasts: who a target names, what each language will read, and queueing
them in the outbox. The chat's panel (handlers.admin.outreach) and `convoca broadcast` /
`convoca invite` both call these."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from channels import LEAST
from domain import targets
from locales import Catalogs, Msg, Raw, Text
from services import meetings as meeting_messages
from services.messages import Button, Outgoing
from services.outbox import platform_reason, waiting_reason
from storage import broadcasts, outbox, people, targeting
from storage.meetings import body_names
from storage.models import (
    Body,
    Meeting,
    OrganizationInvitation,
    OutboxMessage,
    OutboxStatus,
    Program,
    Rsvp,
)

# The broadcast is one message on every channel (channels.LEAST); its envelope (the
# programme's name, a greeting) takes the rest.
TEXT_MAX = LEAST.text_chars - 596
NAMES_SHOWN = 25
BROADCAST = "broadcast"
INVITATION = "invitation"
PROGRESS_KIND = "broadcast_progress"
# The report's way back to the panel: handlers.admin answers it (its back_to_panel()).
PANEL = "adm:menu"


class Languages(Protocol):
    """What a preview needs to know of the deployment (handlers.core.Services has it)."""

    catalogs: Catalogs
    default_locale: str
    timezone: str


# --- what people receive ---------------------------------------------------------------------


def broadcast_message(program_name: str, text: str) -> Outgoing:
    return Outgoing(text=Msg("outreach.broadcast", {"program": Raw(program_name),
                                                    "body": Raw(text)}))


async def invitation_preview(session: AsyncSession, meeting: Meeting) -> Outgoing:
    """The invitation as a newly invited person reads it (no answer yet)."""
    kind_name, body = await meeting_messages.names(session, meeting)
    blank = Rsvp(meeting_id=meeting.id, answer=None)
    return meeting_messages.invitation(meeting, blank, kind_name=kind_name, body_name=body)


def render(catalogs: Catalogs, out: Outgoing, locale: str | None, tz: str) -> str:
    """The message as it will read in this language, its buttons shown in brackets."""
    text = catalogs.render(out.text, locale, tz) if out.text else ""
    labels = [f"[{catalogs.render(b.label, locale, tz)}]" for row in out.buttons for b in row]
    return text + ("\n" + " ".join(labels) if labels else "")


async def preview_texts(session: AsyncSession, services: Languages,
                        recipients: targeting.Recipients, out: Outgoing, first: str | None = None,
                        *, zone: str | None = None) -> list[tuple[str, str]]:
    """(language, text) for every language among the recipients, ``first`` first; times in
    ``zone``, the programme's."""
    found = await targeting.locales_of(session, recipients.person_ids)
    langs = {services.catalogs.locale(loc or services.default_locale) for loc in found}
    ordered = sorted(langs, key=lambda loc: (loc != first, loc))
    zone = out.zone or zone or services.timezone
    return [(loc, render(services.catalogs, out, loc, zone)) for loc in ordered]


async def describe(session: AsyncSession, program: Program, target: dict[str, Any]) -> Msg:
    kind = target["kind"]
    if kind == targets.BODY:
        body = await session.scalar(
            select(Body).where(Body.program_id == program.id, Body.id == target["id"])
        ) if isinstance(target.get("id"), int) else await session.scalar(
            select(Body).where(Body.program_id == program.id,
                               Body.kind == target.get("body_kind")).limit(1))
        name: Any = Text(body_names(program, body)) if body else Raw(
            str(target.get("body_kind") or target.get("id")))
        return Msg("outreach.target.body", {"name": name})
    if kind == targets.ORGANIZATIONS:
        if "ids" in target:
            return Msg("outreach.target.some_organizations", {"count": len(target["ids"])})
        return Msg("outreach.target.organizations")
    if kind == targets.FAMILIES:
        if target.get("sector"):
            return Msg("outreach.target.families_sector", {"sector": Raw(target["sector"])})
        if target.get("mode"):
            return Msg("outreach.target.families_mode",
                       {"mode": Msg(f"outreach.mode.{target['mode']}")})
        return Msg("outreach.target.families")
    return Msg("outreach.target.everyone")


def names_param(names: Sequence[str]) -> Msg:
    shown = ", ".join(names[:NAMES_SHOWN])
    if len(names) > NAMES_SHOWN:
        return Msg("outreach.names_more", {"names": Raw(shown), "count": len(names) - NAMES_SHOWN})
    return Msg("outreach.names", {"names": Raw(shown)})


def recipients_lines(recipients: targeting.Recipients) -> list[Msg]:
    return left_out_lines("outreach", recipients.not_linked, recipients.opted_out)


def left_out_lines(prefix: str, not_linked: Sequence[Sequence[Any]],
                   opted_out: Sequence[Sequence[Any]]) -> list[Msg]:
    """Who a message does not reach: not linked to a chat, or asked for no notices."""
    return [Msg(f"{prefix}.{key}", {"count": len(who), "names": names_param([n for *_, n in who])})
            for key, who in (("not_linked", not_linked), ("opted_out", opted_out)) if who]


# --- sending -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Queued:
    batch: str
    outbox_ids: list[int]
    recipients: targeting.Recipients


async def queue_broadcast(session: AsyncSession, program: Program, text: str,
                          target: dict[str, Any], now: datetime, *, author_id: int | None,
                          channel: str | None) -> Queued:
    """One outbox row per reachable recipient, all in the caller's transaction."""
    recipients = await targeting.resolve(session, program.id, target)
    batch = broadcasts.new_batch(now)
    payload = broadcast_message(program.name, text).to_json()
    ids = []
    for person_id in recipients.person_ids:
        new_id = await outbox.enqueue_for_person(
            session, person_id, payload, key=f"bc:{batch}:{person_id}", kind="broadcast",
            now=now, batch=batch, zone=program.timezone)
        if new_id is not None:
            ids.append(new_id)
    people.audit(session, now, "broadcast_sent", actor_id=author_id, channel=channel,
                 entity="program", entity_id=program.id, batch=batch, target=target,
                 queued=len(ids), not_linked=len(recipients.not_linked), text=text)
    return Queued(batch, ids, recipients)


async def queue_invitations(session: AsyncSession, meeting: Meeting, target: dict[str, Any],
                            now: datetime, *, author_id: int | None,
                            channel: str | None) -> Queued:
    """Invite the target to the meeting (Rsvps and invitations, idempotent) and record the
    organisations invited for the catastro's list."""
    recipients = await targeting.resolve(session, meeting.program_id, target)
    batch = broadcasts.new_batch(now)
    ids = await meeting_messages.send_invitations(
        session, meeting, recipients.person_ids, now,
        organization_by_person=recipients.organization_by_person)
    if ids:
        await session.execute(
            update(OutboxMessage).where(OutboxMessage.id.in_(ids)).values(batch=batch)
            .execution_options(synchronize_session=False))
    purpose = f"meeting:{meeting.id}"
    if recipients.organization_ids and recipients.person_ids:
        already = set((await session.scalars(
            select(OrganizationInvitation.organization_id).where(
                OrganizationInvitation.purpose == purpose,
                OrganizationInvitation.organization_id.in_(recipients.organization_ids))
        )).all())
        for org_id in recipients.organization_ids:
            if org_id not in already:
                session.add(OrganizationInvitation(organization_id=org_id, purpose=purpose,
                                                   sent_at=now))
        await session.flush()
    people.audit(session, now, "invitations_sent", actor_id=author_id, channel=channel,
                 entity="meeting", entity_id=meeting.id, batch=batch, target=target,
                 queued=len(ids), not_linked=len(recipients.not_linked),
                 organizations=len(recipients.organization_ids))
    return Queued(batch, ids, recipients)


# --- the live progress ------------------------------------------------------------------------


def progress_message(done: int, total: int) -> Msg:
    return Msg("outreach.progress", {"done": done, "total": total})


async def update_progress_messages(session: AsyncSession, now: datetime) -> list[int]:
    """For each batch being followed: update its progress report when the count moved, and
    when the last row is settled, the final count and a report. Returns the outbox ids it
    queued (wake the dispatcher for them). Idempotent: keys carry the count, so two
    processes calling it at once queue each edit once."""
    queued: list[int] = []
    for tracked in await broadcasts.followed(session):
        state = await broadcasts.progress(session, tracked.batch)
        who = tracked.person_id
        if state.settled:
            if who is not None:
                if tracked.ref:
                    await _queue(session, who, Outgoing(
                        text=Msg("outreach.progress_done", {"done": state.done,
                                                            "total": state.total}),
                        # The final count: not a passing state a channel may skip.
                        updates=tracked.ref), f"bc:{tracked.batch}:final", now, queued)
                report = await _report(session, tracked)
                await _queue(session, who, report, f"bc:{tracked.batch}:report", now, queued)
            await broadcasts.forget(session, tracked.batch)
            people.audit(session, now, f"{tracked.kind}_done", actor_id=who, entity="batch",
                         batch=tracked.batch, delivered=state.delivered, blocked=state.blocked,
                         failed=state.failed, total=state.total)
            continue
        if who is None or not tracked.ref or state.done == tracked.shown:
            continue
        # Only the newest count is worth sending: older edits still waiting are withdrawn.
        await outbox.drop_pending(session, f"bc:{tracked.batch}:edit:", "a newer count replaced it")
        # A passing state: a channel that cannot edit may show fewer of them.
        await _queue(session, who, Outgoing(text=progress_message(state.done, state.total),
                                            updates=tracked.ref, progress=True),
                     f"bc:{tracked.batch}:edit:{state.done}", now, queued)
        tracked.shown = state.done
        await broadcasts.save(session, tracked)
    return queued


async def _queue(session: AsyncSession, person_id: int, out: Outgoing, key: str, now: datetime,
                 into: list[int]) -> None:
    new_id = await outbox.enqueue_for_person(session, person_id, out.to_json(), key=key,
                                             kind=PROGRESS_KIND, now=now, urgent=True,
                                             essential=True)
    if new_id is not None:
        into.append(new_id)


def _reason(status: str, error: str | None = None) -> Any:
    # In words: the channel's own error (English, technical) stays in the outbox row.
    if status == OutboxStatus.UNCERTAIN:
        return Msg("outreach.reason.uncertain")
    if status == OutboxStatus.DROPPED:
        return Msg("outreach.reason.expired")
    return platform_reason(error) or Msg("outreach.reason.failed")


def channel_name(channel: str) -> Msg:
    """A channel by its name in words (outreach.channel.<name>): every channel that reports
    receipts has one."""
    return Msg(f"outreach.channel.{channel}")


async def _report(session: AsyncSession, tracked: broadcasts.Tracked) -> Outgoing:
    result = await broadcasts.outcome(session, tracked.batch)
    p = result.progress
    if tracked.kind == INVITATION and tracked.meeting_id is not None:
        meeting = await session.get(Meeting, tracked.meeting_id)
        what: Any = Raw("?")
        if meeting is not None:
            kind_name, _ = await meeting_messages.names(session, meeting)
            what = Raw(meeting.title) if meeting.title else kind_name
        title = Msg("outreach.report.title_invitation", {"what": what})
    else:
        title = Msg("outreach.report.title_broadcast")
    lines = [Msg("outreach.report.delivered", {"count": p.delivered, "total": p.total})]
    # Only what a channel that reports on its messages said: no "0 read" for the others.
    lines += [Msg("outreach.report.receipts", {"channel": channel_name(channel),
                                               "delivered": r.delivered, "read": r.read,
                                               "sent": r.sent})
              for channel, r in result.receipts.items()]
    if result.blocked:
        lines.append(Msg("outreach.report.blocked", {"count": len(result.blocked),
                                                     "names": names_param(result.blocked)}))
    if result.failed:
        lines.append(Msg("outreach.report.failed", {
            "count": len(result.failed),
            "lines": [Msg("outreach.report.failed_line", {"name": Raw(n), "reason": _reason(s, e)})
                      for n, s, e in result.failed[:NAMES_SHOWN]]}))
    if result.waiting:
        lines.append(Msg("outreach.report.waiting", {
            "count": len(result.waiting),
            "lines": [Msg("outreach.report.failed_line", {"name": Raw(n), "reason": waiting_reason()})
                      for n, _ in result.waiting[:NAMES_SHOWN]]}))
    lines += left_out_lines("outreach.report", tracked.not_linked, tracked.opted_out)
    return Outgoing(text=Msg("outreach.report", {"title": title, "lines": lines}),
                    buttons=((Button(Msg("admin.back_to_panel"), PANEL),),))
