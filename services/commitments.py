"""Commitments and the constitution of the bodies: what signing a participation commitment
or a member's declaration means for the programme's records, asking for them, and
constituting the Grupo Motor or the Consejo Local in one of its sessions.

The forms flow calls :func:`on_submitted` for every form sent; the panel
(handlers.admin.bodies) calls the rest."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from domain.forms import Form
from domain.schedule import local_date
from locales import Msg, Raw, Text
from services.messages import Button, Outgoing
from storage import agreed, commitments, outbox, people
from storage.commitments import COMMITMENT_FORM, declaration_forms_of
from storage.meetings import body_names
from storage.models import Body, FormResponse, Meeting, Organization, Program

PROTOCOL_KEY = "protocolo_funcionamiento"


# --- what signing means --------------------------------------------------------------------


async def on_submitted(session: AsyncSession, response: FormResponse, form: Form, *,
                       person_id: int | None, now: datetime) -> None:
    """A form was sent (first version or correction): a commitment makes its organisation
    committed, a declaration its signer's membership. The first signing is the date that
    counts; a correction keeps it."""
    if form.key == COMMITMENT_FORM and response.organization_id is not None:
        org = await session.get(Organization, response.organization_id)
        if org is not None and org.committed_at is None:
            org.committed_at = now
            people.audit(session, now, "organization_committed", actor_id=person_id,
                         entity="organization", entity_id=org.id, response=response.id)
    elif response.program_id is not None and response.person_id is not None \
            and form.key in declaration_forms_of(
                await session.get(Program, response.program_id)):
        kind = (response.answers or {}).get("body")
        body = await commitments.body_of_kind(session, response.program_id, str(kind))
        member = (await commitments.membership(session, body.id, response.person_id)
                  if body is not None else None)
        if member is not None and member.commitment_signed_at is None:
            member.commitment_signed_at = now
            people.audit(session, now, "member_committed", actor_id=person_id,
                         entity="membership", entity_id=member.id, body=body.id,  # type: ignore[union-attr]
                         response=response.id)


# --- asking for them -----------------------------------------------------------------------


def commitment_request(program: Program, org: Organization) -> Outgoing:
    """What an organisation's representative receives: the button opens the commitment
    for that organisation."""
    return Outgoing(
        text=Msg("commit.ask_commitment", {"organization": Raw(org.name),
                                           "program": Raw(program.name)}),
        buttons=((Button(Msg("commit.btn_sign_commitment"),
                         f"form:start:{COMMITMENT_FORM}:{org.id}"),),),
        zone=program.timezone)


def declaration_request(program: Program, body: Body) -> Outgoing:
    """What a member receives: the button carries the body, since the declaration is one
    per person and body."""
    return Outgoing(
        text=Msg("commit.ask_declaration", {"body": Text(body_names(program, body)),
                                            "program": Raw(program.name)}),
        buttons=((Button(Msg("commit.btn_sign_declaration"),
                         f"form:start:{declaration_forms_of(program)[0]}:{body.id}"),),),
        zone=program.timezone)


@dataclass
class Sent:
    queued: int = 0
    reached: list[str] = field(default_factory=list)  # organisations or people written to
    unreachable: list[str] = field(default_factory=list)  # with nobody linked to a chat
    already: int = 0  # asked earlier today: not asked twice


async def _ask(session: AsyncSession, person_id: int, payload: dict[str, Any], key: str,
               now: datetime, zone: str) -> int | None | bool:
    """Queue one request: its id, None when the person cannot be reached, False when it
    was queued before under the same key."""
    if await outbox.existing_keys(session, [key]):
        return False
    return await outbox.enqueue_for_person(session, person_id, payload, key=key,
                                           kind="form_request", now=now, zone=zone)


async def send_commitments(session: AsyncSession, program: Program, now: datetime, *,
                           author_id: int | None, channel: str | None) -> Sent:
    """The commitment to every organisation with a ficha and no commitment yet, through
    its representatives; idempotent per organisation and day."""
    sent = Sent()
    # "Once a day" is the programme's day: late evening in Chile is already tomorrow in UTC.
    today = local_date(now, program.timezone).isoformat()
    payload_of = {}
    for org in await commitments.uncommitted_with_ficha(session, program.id):
        payload_of[org.id] = commitment_request(program, org).to_json()
        ids, before = [], 0
        for person_id in await commitments.representatives(session, org.id):
            new_id = await _ask(session, person_id, payload_of[org.id],
                                f"commitment:{org.id}:{person_id}:{today}",
                                now, program.timezone)
            if new_id is False:
                before += 1
            elif new_id is not None:
                ids.append(new_id)
        if ids:
            sent.reached.append(org.name)
        elif before:
            sent.already += 1
        else:
            sent.unreachable.append(org.name)
        sent.queued += len(ids)
    people.audit(session, now, "commitments_requested", actor_id=author_id, channel=channel,
                 entity="program", entity_id=program.id, queued=sent.queued,
                 organizations=len(sent.reached), unreachable=len(sent.unreachable))
    return sent


async def send_declarations(session: AsyncSession, program: Program, body: Body,
                            now: datetime, *, author_id: int | None,
                            channel: str | None) -> Sent:
    """The declaration to each member of the body who has not signed it."""
    sent = Sent()
    payload = declaration_request(program, body).to_json()
    today = local_date(now, program.timezone).isoformat()
    for m in await commitments.members(session, body.id):
        if m.membership.commitment_signed_at is not None:
            continue
        new_id = await _ask(session, m.person.id, payload,
                            f"declaration:{body.id}:{m.person.id}:{today}",
                            now, program.timezone)
        name = m.person.name or "?"
        if new_id is False:
            sent.already += 1
        elif new_id is None:
            sent.unreachable.append(name)
        else:
            sent.reached.append(name)
            sent.queued += 1
    people.audit(session, now, "declarations_requested", actor_id=author_id, channel=channel,
                 entity="body", entity_id=body.id, queued=sent.queued,
                 unreachable=len(sent.unreachable))
    return sent


# --- constitution --------------------------------------------------------------------------


class ConstitutionError(ValueError):
    """Why a body cannot be constituted as asked (a key of commit.error.*)."""


async def constitute(session: AsyncSession, program: Program, body: Body, meeting: Meeting,
                     *, member_ids: Sequence[int], protocol: str, now: datetime,
                     by_person_id: int | None, channel: str | None = None) -> dict[str, Any]:
    """The body is constituted in the session: its members (those added from the session's
    attendance become members, those left out leave it), the protocol it agreed, the date
    the session began."""
    if meeting.program_id != program.id or body.program_id != program.id:
        raise ConstitutionError("stale")
    if not protocol.strip():
        raise ConstitutionError("no_protocol")
    if not member_ids:
        raise ConstitutionError("no_members")
    # Whoever was a member and was not chosen leaves now: the acta and the declarations
    # asked for list only the members the session chose.
    left = []
    for m in await commitments.members(session, body.id):
        if m.person.id not in member_ids:
            m.membership.left_at = now
            left.append(m.person.id)
            people.audit(session, now, "member_left", actor_id=by_person_id, channel=channel,
                         entity="membership", entity_id=m.membership.id, body=body.id,
                         meeting=meeting.id)
    for pid in member_ids:
        await commitments.add_member(session, body.id, pid,
                                     organization_id=await commitments.organization_of(
                                         session, pid), now=now)
    text = await agreed.record(session, program.id, PROTOCOL_KEY, protocol.strip(), now=now,
                               by_person_id=by_person_id, body_id=body.id,
                               meeting_id=meeting.id)
    body.constituted_at = meeting.starts_at
    body.constitution_meeting_id = meeting.id
    details = {"meeting": meeting.id, "members": list(member_ids), "left": left,
               "protocol": text.id,
               "protocol_version": text.version}
    people.audit(session, now, "body_constituted", actor_id=by_person_id, channel=channel,
                 entity="body", entity_id=body.id, **details)
    return details
