"""Invitations and broadcasts: who a target names, what each language will read, and queueing
them in the outbox. The chat's panel (handlers.admin.outreach) and `convoca broadcast` /
`convoca invite` both call these."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import yaml
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from channels import LEAST, Capabilities, layout
from domain import targets
from locales import LOCALES_DIR, Catalogs, Msg, Raw, Text
from services import meetings as meeting_messages
from services.messages import Button, Outgoing
from services.outbox import platform_reason, waiting_reason
from storage import broadcasts, outbox, people, targeting, wa_templates
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
CANCELLED = "cancelled before it went"  # an outbox row's reason when its broadcast was withdrawn


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
    if kind == targets.NO_ANSWER:
        meeting = await session.get(Meeting, target.get("meeting_id"))
        what: Any = Raw("?")
        if meeting is not None and meeting.program_id == program.id:
            kind_name, _ = await meeting_messages.names(session, meeting)
            what = Raw(meeting.title) if meeting.title else kind_name
        return Msg("outreach.target.no_answer", {"what": what})
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


# --- how it looks on each channel -----------------------------------------------------------

TEMPLATES_FILE = LOCALES_DIR / "whatsapp_templates.yaml"


@dataclass(frozen=True)
class TemplateText:
    """The approved WhatsApp template a message goes as outside the 24-hour window."""

    name: str
    text: str
    approved: bool


@dataclass(frozen=True)
class ChannelPreview:
    channel: str
    messages: list[str]  # each message the channel sends, as laid out within its limits
    recipients: int  # of the chosen people, how many this channel reaches
    outside_window: int  # of them, how many last wrote too long ago to be written freely
    template: TemplateText | None  # what those get instead (None: no template for it)


@functools.cache
def _templates() -> list[dict[str, Any]]:
    return list(yaml.safe_load(TEMPLATES_FILE.read_text(encoding="utf-8")) or [])


def _flat(text: str) -> str:
    # As a template parameter goes: one line (Meta refuses newlines, tabs and long runs of
    # spaces in a parameter).
    return " ".join(text.split())


def template_text(catalogs: Catalogs, out: Outgoing, locale: str, zone: str,
                  approved: set[tuple[str, str]]) -> TemplateText | None:
    """The template carrying ``out``'s message in this language, filled in, if the file
    (locales/whatsapp_templates.yaml) has one; ``approved`` holds (name, language) pairs
    Meta approved."""
    if out.text is None:
        return None
    for entry in _templates():
        if entry.get("key") != out.text.key:
            continue
        words = (entry.get("languages") or {}).get(locale)
        if not words:
            return None
        text = str(words.get("body") or "")
        for i, name in enumerate(entry.get("params") or [], start=1):
            value = out.text.params.get(name, "")
            text = text.replace(f"{{{{{i}}}}}", _flat(catalogs.param(value, locale, zone)))
        if words.get("footer"):
            text += "\n" + str(words["footer"])
        return TemplateText(entry["name"], text, (entry["name"], locale) in approved)
    return None


async def channel_previews(session: AsyncSession, catalogs: Catalogs,
                           capabilities: Mapping[str, Capabilities], person_ids: Sequence[int],
                           out: Outgoing, locale: str, zone: str, now: datetime
                           ) -> list[ChannelPreview]:
    """``out`` in ``locale`` as each channel of the installation would show it, with how
    many of these people it reaches there and, where a channel may only write first within
    a window after the person wrote (WhatsApp), how many are outside it and get the
    approved template instead."""
    reached = await targeting.reached_by(session, person_ids)
    approved = {(t.name, t.language) for t in (await wa_templates.approved(session)).values()}

    def words(m: Msg) -> str:
        return catalogs.render(m, locale, zone)

    views = []
    for name, caps in capabilities.items():
        here = [last for channel, last in reached.values() if channel == name]
        outside = 0
        template = None
        if caps.session_window is not None:
            # Outside its window a channel writes first only with an approved template.
            outside = sum(1 for last in here if last is None or now - last > caps.session_window)
            template = template_text(catalogs, out, locale, zone, approved)
        shown = [s.text for s in layout.lay_out(out, caps, words) if s.text]
        views.append(ChannelPreview(name, shown, len(here), outside, template))
    return views


# --- sending -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Queued:
    batch: str
    outbox_ids: list[int]
    recipients: targeting.Recipients


async def queue_broadcast(session: AsyncSession, program: Program, text: str,
                          target: dict[str, Any], now: datetime, *, author_id: int | None,
                          channel: str | None, send_at: datetime | None = None,
                          batch: str | None = None) -> Queued:
    """One outbox row per reachable recipient, all in the caller's transaction. With
    ``send_at`` the rows wait in the outbox until then (the outbox's own due time: nothing
    held in memory), and until then the broadcast can be cancelled. A ``batch`` the caller
    chose makes a second submit of the same form queue nothing new (the rows' keys carry it)."""
    recipients = await targeting.resolve(session, program.id, target)
    batch = batch or broadcasts.new_batch(now)
    payload = broadcast_message(program.name, text).to_json()
    later = send_at if send_at is not None and send_at > now else None
    ids = []
    for person_id in recipients.person_ids:
        new_id = await outbox.enqueue_for_person(
            session, person_id, payload, key=f"bc:{batch}:{person_id}", kind="broadcast",
            now=now, not_before=later, batch=batch, zone=program.timezone)
        if new_id is not None:
            ids.append(new_id)
    details: dict[str, Any] = {}
    if later is not None:
        details["send_at"] = later.isoformat()
    people.audit(session, now, broadcasts.COMPOSED, actor_id=author_id, channel=channel,
                 entity="program", entity_id=program.id, batch=batch, target=target,
                 queued=len(ids), not_linked=len(recipients.not_linked), text=text, **details)
    return Queued(batch, ids, recipients)


async def follow(session: AsyncSession, program: Program, queued: Queued, *,
                 watcher_id: int | None, meeting: Meeting | None = None,
                 ref: str | None = None, shown: int | None = None) -> None:
    """Watch what was queued go out (the progress, then the report with who could not be
    reached). ``watcher_id`` is told in the chat, on her message ``ref``; the panel, which
    shows its own progress, watches with nobody. Nothing queued, nothing to watch."""
    if not queued.outbox_ids:
        return
    await broadcasts.follow(session, broadcasts.Tracked(
        batch=queued.batch, kind=INVITATION if meeting else BROADCAST, program_id=program.id,
        person_id=watcher_id, total=len(queued.outbox_ids), ref=ref,
        meeting_id=meeting.id if meeting else None,
        not_linked=[list(x) for x in queued.recipients.not_linked],
        opted_out=[list(x) for x in queued.recipients.opted_out], shown=shown))


async def send_broadcast(session: AsyncSession, program: Program, text: str,
                         target: dict[str, Any], now: datetime, *, author_id: int | None,
                         channel: str | None, watcher_id: int | None, ref: str | None = None,
                         shown: int | None = None, send_at: datetime | None = None,
                         batch: str | None = None) -> Queued:
    """A broadcast queued and followed: the chat's "send" and the panel's, alike."""
    queued = await queue_broadcast(session, program, text, target, now, author_id=author_id,
                                   channel=channel, send_at=send_at, batch=batch)
    await follow(session, program, queued, watcher_id=watcher_id, ref=ref, shown=shown)
    return queued


async def cancel_broadcast(session: AsyncSession, program: Program, batch: str, now: datetime,
                           *, author_id: int | None, channel: str | None) -> int:
    """Withdraw what of a scheduled broadcast has not gone yet; returns how many rows."""
    dropped = await broadcasts.cancel(session, batch, CANCELLED, now)
    people.audit(session, now, "broadcast_cancelled", actor_id=author_id, channel=channel,
                 entity="program", entity_id=program.id, batch=batch, dropped=dropped)
    return dropped


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


def failure_reason(status: str, error: str | None = None) -> Any:
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
            "lines": [Msg("outreach.report.failed_line",
                          {"name": Raw(n), "reason": failure_reason(s, e)})
                      for n, s, e in result.failed[:NAMES_SHOWN]]}))
    if result.waiting:
        lines.append(Msg("outreach.report.waiting", {
            "count": len(result.waiting),
            "lines": [Msg("outreach.report.failed_line", {"name": Raw(n), "reason": waiting_reason()})
                      for n, _ in result.waiting[:NAMES_SHOWN]]}))
    lines += left_out_lines("outreach.report", tracked.not_linked, tracked.opted_out)
    return Outgoing(text=Msg("outreach.report", {"title": title, "lines": lines}),
                    buttons=((Button(Msg("admin.back_to_panel"), PANEL),),))
