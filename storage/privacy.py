"""What Convoca holds on a person: all of it exported on request, or erased while the
anonymous counts (attendance, answers, pickups) stay true. Never commits."""

from __future__ import annotations

import base64
import logging
import re
from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal
from typing import Any, NamedTuple

from sqlalchemy import MetaData, Table, delete, false, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage import held_imports, people
from storage.models import (
    ActionItem,
    ActionUpdate,
    AuditEntry,
    Base,
    Body,
    ChannelAddress,
    Conversation,
    DeliveryDay,
    Family,
    FormDefinition,
    FormResponse,
    FormSignature,
    IncomingUpdate,
    Meeting,
    Organization,
    OutboxMessage,
    OutboxStatus,
    Person,
    Pickup,
    Representative,
    RoleGrant,
    Rsvp,
    WebLogin,
    WebSession,
)

log = logging.getLogger(__name__)

# Stored in place of erased text where a column cannot be empty or an empty value would
# read as "never filled in". It is data, not a message: exports and printed lists show it
# as is in either language, and it must never look like a real name.
ERASED = "[borrado]"


class Coverage(NamedTuple):
    section: str  # where /mis_datos puts the rows
    on_erase: str  # what /borrar_mis_datos does to them


# Every column that refers to a person: where the export shows its rows and what erasure
# does to them. tests/test_privacy.py compares this with the foreign keys to people.id in the
# models, so a new table that points at a person cannot be forgotten here.
PERSON_REFERENCES: dict[tuple[str, str], Coverage] = {
    ("channel_addresses", "person_id"): Coverage("channel_addresses", "deleted"),
    ("role_grants", "person_id"): Coverage("role_grants", "deleted"),
    ("role_grants", "granted_by"): Coverage("role_grants_given_by_you", "kept"),
    ("representatives", "person_id"): Coverage("representatives", "deleted"),
    ("memberships", "person_id"): Coverage("memberships", "kept: counts members"),
    ("families", "person_id"): Coverage("families", "name marked, phone/rut/address cleared"),
    ("form_responses", "person_id"): Coverage("form_responses",
                                              "representative's answers marked"),
    ("form_signatures", "person_id"): Coverage("form_signatures", "signed name marked"),
    ("meetings", "created_by"): Coverage("meetings_created_by_you", "kept"),
    ("rsvps", "person_id"): Coverage("rsvps", "answer kept, reason cleared"),
    ("attendance", "person_id"): Coverage("attendance", "kept: counts attendance"),
    ("attendance", "marked_by"): Coverage("attendance_marked_by_you", "kept"),
    ("pickups", "marked_by"): Coverage("pickups_marked_by_you", "kept"),
    ("outbox", "person_id"): Coverage("messages", "emptied; anything queued dropped"),
    ("conversations", "person_id"): Coverage("conversation", "deleted"),
    ("audit_log", "actor_id"): Coverage("audit_entries", "kept; personal details marked"),
    # The programme's records: an action stays in its plan or acta (the follow-up matrix
    # must still add up), without the person's own words.
    ("action_items", "responsible_person_id"): Coverage("actions_you_answer_for",
                                                        "kept; responsible name cleared"),
    ("action_items", "created_by"): Coverage("actions_recorded_by_you", "kept"),
    ("action_updates", "by_person_id"): Coverage("action_reports",
                                                 "status kept; note and photo cleared"),
    ("minutes", "recorded_by"): Coverage("minutes_recorded_by_you", "kept"),
    ("agreed_texts", "recorded_by"): Coverage("texts_recorded_by_you", "kept"),
    ("handovers", "recorded_by"): Coverage("handovers_recorded_by_you", "kept"),
    # Signed out everywhere: a panel left open on a laptop stops at once.
    ("web_logins", "person_id"): Coverage("web_logins", "deleted"),
    ("web_sessions", "person_id"): Coverage("web_sessions", "deleted"),
}

# Keys of audit details that hold a person's own words or identifiers.
PERSONAL_DETAIL_KEYS = frozenset({
    "name", "phone", "email", "rut", "address", "reason", "text", "proxy_name", "proxy_rut",
    "signed_name", "contact", "contact_phone", "sender_name",
})
# Form answers about the representative (not the organisation), when the definition does not
# say so itself: domain/forms/ficha_interes.yaml names them representative_*.
_PERSONAL_ANSWER = re.compile(
    r"^(representative|representante|rep|person|persona|contact|contacto)_"
    r"|(^|_)(name|nombre|apellido|phone|telefono|teléfono|celular|email|correo|rut)($|_)",
    re.IGNORECASE,
)
_ORGANISATION_ANSWER = re.compile(r"(^|_)(org|organi[sz]ation|organizaci[oó]n|entidad)",
                                  re.IGNORECASE)
# Prefills that copy the person's own record into a form mark a question as personal.
_PERSONAL_PREFILL = re.compile(r"^(person|representative)_")


def person_reference_columns(metadata: MetaData = Base.metadata) -> set[tuple[str, str]]:
    """(table, column) of every foreign key to people.id in the models."""
    found = set()
    for table in metadata.tables.values():
        for fk in table.foreign_keys:
            if fk.column.table.name == "people" and fk.column.name == "id":
                found.add((table.name, fk.parent.name))
    return found


# --- export ---------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _row(obj: Any) -> dict[str, Any]:
    return {c.key: _plain(getattr(obj, c.key)) for c in obj.__table__.columns}


def _without_files(payload: Any) -> Any:
    """A message as it was sent, minus the bytes of any file (an earlier export, say)."""
    if isinstance(payload, dict):
        out = {}
        for k, v in payload.items():
            if k == "attachment" and isinstance(v, dict):
                out[k] = {kk: vv for kk, vv in v.items() if kk != "content"}
            else:
                out[k] = _without_files(v)
        return out
    if isinstance(payload, list):
        return [_without_files(v) for v in payload]
    return payload


async def _rows_referring(session: AsyncSession, table: Table, column: str,
                          person_id: int) -> list[dict[str, Any]]:
    pk = list(table.primary_key.columns)
    result = await session.execute(
        select(table).where(table.c[column] == person_id).order_by(*pk)
    )
    return [{k: _plain(v) for k, v in r._mapping.items()} for r in result]


async def _names(session: AsyncSession, model: Any, ids: Iterable[int | None]) -> dict[int, str]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    rows = await session.execute(select(model.id, model.name).where(model.id.in_(wanted)))
    return {k: v for k, v in rows.all()}


async def export_person(session: AsyncSession, person_id: int) -> dict[str, Any]:
    """Everything Convoca holds on a person, JSON-ready: their row, then every row of every
    table that refers to them (see PERSON_REFERENCES), with names added where an id alone
    would mean nothing to them."""
    await session.flush()
    person = await session.get(Person, person_id)
    if person is None:
        raise LookupError(f"no person {person_id}")
    data: dict[str, Any] = {"person": _row(person)}
    tables = Base.metadata.tables
    for (table, column), (section, _) in PERSON_REFERENCES.items():
        data.setdefault(section, [])
        data[section].extend(await _rows_referring(session, tables[table], column, person_id))
    data["conversation"] = data["conversation"][0] if data["conversation"] else None
    for msg in data["messages"]:
        msg["payload"] = _without_files(msg.get("payload"))

    orgs = await _names(session, Organization, [
        *(r["organization_id"] for r in data["representatives"]),
        *(r["organization_id"] for r in data["memberships"]),
        *(r["organization_id"] for r in data["rsvps"]),
        *(r["organization_id"] for r in data["attendance"]),
        *(r["organization_id"] for r in data["form_responses"]),
    ])
    bodies = await _names(session, Body, (r["body_id"] for r in data["memberships"]))
    for r in data["representatives"] + data["memberships"] + data["rsvps"] + data[
            "attendance"] + data["form_responses"]:
        r["organization_name"] = orgs.get(r.get("organization_id"))
    for r in data["memberships"]:
        r["body_name"] = bodies.get(r["body_id"])
    meeting_ids = {r["meeting_id"] for r in data["rsvps"] + data["attendance"]}
    if meeting_ids:
        meetings = {
            m.id: m for m in await session.scalars(select(Meeting).where(
                Meeting.id.in_(meeting_ids)))
        }
        for r in data["rsvps"] + data["attendance"]:
            m = meetings.get(r["meeting_id"])
            if m is not None:
                r["meeting"] = {"kind": m.kind, "title": m.title,
                                "starts_at": _plain(m.starts_at), "place": m.place}
    forms = await _names_of_forms(session, (r["form_id"] for r in data["form_responses"]))
    for r in data["form_responses"]:
        r["form_key"] = forms.get(r["form_id"])

    # Pickups refer to the family, not to the person: they come through the family.
    family_ids = [f["id"] for f in data["families"]]
    data["pickups"] = []
    if family_ids:
        rows = await session.execute(
            select(Pickup, DeliveryDay)
            .join(DeliveryDay, DeliveryDay.id == Pickup.delivery_day_id)
            .where(Pickup.family_id.in_(family_ids))
            .order_by(DeliveryDay.window_start, Pickup.id)
        )
        for pickup, day in rows.all():
            entry = _row(pickup)
            entry["delivery_day"] = {k: v for k, v in _row(day).items()
                                     if k in ("mode", "window_start", "window_end", "place",
                                              "address", "cancelled_at")}
            data["pickups"].append(entry)
    data["roles"] = sorted({g["role"] for g in data["role_grants"]})
    return data


async def _names_of_forms(session: AsyncSession, ids: Iterable[int]) -> dict[int, str]:
    wanted = set(ids)
    if not wanted:
        return {}
    rows = await session.execute(
        select(FormDefinition.id, FormDefinition.key).where(FormDefinition.id.in_(wanted))
    )
    return {k: v for k, v in rows.all()}


def summary_counts(data: dict[str, Any]) -> dict[str, int]:
    return {
        "rsvps": sum(1 for r in data["rsvps"] if r.get("answer")),
        "attendance": sum(1 for r in data["attendance"] if r.get("present")),
        "pickups": len(data["pickups"]),
        "forms": len(data["form_responses"]),
    }


# --- erasure ----------------------------------------------------------------------------------


def _pattern(values: Iterable[str | None]) -> re.Pattern[str] | None:
    """Whole-word matches of a person's identifying strings, longest first. Very short
    strings are left out: scrubbing every 'Al' would damage other people's records."""
    words = sorted({v.strip() for v in values if v and len(v.strip()) >= 3}, key=len,
                   reverse=True)
    if not words:
        return None
    return re.compile(r"(?<!\w)(?:" + "|".join(re.escape(w) for w in words) + r")(?!\w)",
                      re.IGNORECASE)


def _scrub(value: Any, pattern: re.Pattern[str] | None, keys: frozenset[str] = frozenset(),
           key_test: Any = None) -> Any:
    """A copy of a JSON value with personal strings replaced by ERASED: values under
    ``keys`` (or keys ``key_test`` accepts) wholesale, and matches of ``pattern`` anywhere."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if v not in (None, "") and not isinstance(v, bool) and (
                    k in keys or (key_test is not None and key_test(k))):
                out[k] = ERASED
            elif k == "attachment" and isinstance(v, dict) and "content" in v:
                out[k] = _scrub_file(v, pattern)
            else:
                out[k] = _scrub(v, pattern, keys, key_test)
        return out
    if isinstance(value, list):
        return [_scrub(v, pattern, keys, key_test) for v in value]
    if isinstance(value, str) and pattern is not None:
        return pattern.sub(ERASED, value)
    return value


def _scrub_file(att: dict[str, Any], pattern: re.Pattern[str] | None) -> dict[str, Any]:
    """A file that mentions the person is emptied: its bytes cannot be edited safely."""
    if pattern is None:
        return att
    try:
        text = base64.b64decode(att["content"]).decode("utf-8", "ignore")
    except (ValueError, TypeError):
        return att
    if pattern.search(text):
        return {**att, "content": ""}
    return att


def _personal_answer(key: str) -> bool:
    return bool(_PERSONAL_ANSWER.search(key)) and not _ORGANISATION_ANSWER.search(key)


def _flagged_personal(definition: Any) -> set[str]:
    """Questions a form definition marks ``personal: true`` or fills from the person."""
    found: set[str] = set()
    if isinstance(definition, dict):
        prefill = definition.get("prefill")
        if definition.get("personal") is True or (
                isinstance(prefill, str) and _PERSONAL_PREFILL.match(prefill)):
            for k in ("key", "id", "name"):
                if isinstance(definition.get(k), str):
                    found.add(definition[k])
                    break
        for v in definition.values():
            found |= _flagged_personal(v)
    elif isinstance(definition, list):
        for v in definition:
            found |= _flagged_personal(v)
    return found


async def _scrub_column(session: AsyncSession, model: Any, column: str,
                        pattern: re.Pattern[str] | None, *, where: Any = None,
                        keys: frozenset[str] = frozenset(), batch: int = 500) -> None:
    """Rewrite one JSON column batch by batch, only where something changes."""
    if pattern is None and not keys:
        return
    col = getattr(model, column)
    last = 0
    while True:
        stmt = select(model.id, col).where(model.id > last).order_by(model.id).limit(batch)
        if where is not None:
            stmt = stmt.where(where)
        rows = (await session.execute(stmt)).all()
        if not rows:
            return
        for row_id, value in rows:
            new = _scrub(value, pattern, keys)
            if new != value:
                await session.execute(
                    update(model).where(model.id == row_id).values({column: new})
                    .execution_options(synchronize_session=False)
                )
        last = rows[-1][0]


async def erase_person(session: AsyncSession, person_id: int, now: datetime, *,
                       actor_id: int | None = None, channel: str | None = None) -> bool:
    """Erase or anonymise everything that identifies a person. Rows that only count stay
    (attendance, meeting answers, pickup statuses, memberships), pointing at the emptied
    person row, so attendance lists and progress figures do not change. Returns False if
    there is no such person."""
    await session.flush()
    person = await session.get(Person, person_id)
    if person is None:
        return False
    addresses = list(await session.scalars(
        select(ChannelAddress).where(ChannelAddress.person_id == person_id)))
    families = list(await session.scalars(select(Family).where(Family.person_id == person_id)))
    family_pickups = list(await session.scalars(
        select(Pickup).where(Pickup.family_id.in_([f.id for f in families])))) if families else []
    signatures = list(await session.scalars(
        select(FormSignature).where(FormSignature.person_id == person_id)))
    org_ids = list(await session.scalars(
        select(Representative.organization_id).where(Representative.person_id == person_id)))

    identifying: list[str | None] = [person.name, person.phone, person.email, person.rut]
    if person.phone:
        identifying.append(person.phone.lstrip("+"))
    for f in families:
        identifying += [f.name, f.phone, f.rut, f.address]
    for p in family_pickups:
        identifying += [p.proxy_name, p.proxy_rut]
    identifying += [s.signed_name for s in signatures]
    identifying += [s.signed_rut for s in signatures]
    pattern = _pattern(identifying)

    # The family stays as a row so its pickups still count on their delivery days.
    for f in families:
        f.name, f.phone, f.rut, f.address = ERASED, None, None, None
    for p in family_pickups:
        p.reason = p.proxy_name = p.proxy_rut = None
    for rsvp in await session.scalars(select(Rsvp).where(Rsvp.person_id == person_id)):
        rsvp.reason = None
    for s in signatures:
        s.signed_name, s.signed_rut = ERASED, None
    for item in await session.scalars(
            select(ActionItem).where(ActionItem.responsible_person_id == person_id)):
        item.responsible_name = None
    for report in await session.scalars(
            select(ActionUpdate).where(ActionUpdate.by_person_id == person_id)):
        report.note, report.photo = None, None

    # Form answers: the representative's own fields go, the organisation's data stays.
    responses = list(await session.scalars(select(FormResponse).where(or_(
        FormResponse.person_id == person_id,
        FormResponse.organization_id.in_(org_ids) if org_ids else false(),
    ))))
    definitions = {d.id: d for d in await session.scalars(select(FormDefinition).where(
        FormDefinition.id.in_({r.form_id for r in responses})))} if responses else {}
    for r in responses:
        flagged = _flagged_personal(definitions[r.form_id].definition) \
            if r.form_id in definitions else set()
        if r.person_id == person_id:
            r.answers = _scrub(r.answers or {}, pattern, frozenset(flagged),
                               key_test=_personal_answer)
        else:
            r.answers = _scrub(r.answers or {}, pattern)

    await session.execute(delete(Representative).where(Representative.person_id == person_id))
    await session.execute(delete(RoleGrant).where(RoleGrant.person_id == person_id))
    await session.execute(delete(WebLogin).where(WebLogin.person_id == person_id))
    await session.execute(delete(WebSession).where(WebSession.person_id == person_id))
    await held_imports.drop_ended(session, now)  # an import's preview they left, with names
    convo = await session.get(Conversation, person_id)
    if convo is not None:
        await session.delete(convo)
    for a in addresses:
        await session.delete(a)

    # Messages to the person: what they said goes, and nothing still queued leaves. The
    # rows stay (emptied) so a broadcast's delivery figures keep adding up.
    own = or_(OutboxMessage.person_id == person_id, *(
        (OutboxMessage.channel == a.channel) & (OutboxMessage.address == a.address)
        for a in addresses
    ))
    for row in await session.scalars(select(OutboxMessage).where(own)):
        row.payload, row.address, row.locale, row.last_error = {}, "", None, None
        row.idempotency_key = f"erased:{row.id}"
        if row.status in (OutboxStatus.PENDING, OutboxStatus.SENDING, OutboxStatus.WAITING):
            row.status, row.last_error = OutboxStatus.DROPPED, "person erased"
    await session.flush()
    await _scrub_column(session, OutboxMessage, "payload", pattern)

    # What they sent, as it arrived: emptied, the key kept so that Telegram offering an
    # update again still finds it handled. One not handled yet stays, to be answered as a
    # newcomer's (the person wrote after asking to be erased).
    for a in addresses:
        await session.execute(
            update(IncomingUpdate)
            .where(IncomingUpdate.channel == a.channel, IncomingUpdate.address == a.address,
                   IncomingUpdate.handled_at.is_not(None))
            .values(payload={}, event={}, address="")
            .execution_options(synchronize_session=False))
    await _scrub_column(session, IncomingUpdate, "payload", pattern)
    await _scrub_column(session, IncomingUpdate, "event", pattern)

    # The audit log keeps what happened and when; not who said what in their own words.
    pickup_ids = [p.id for p in family_pickups]
    about_them = or_(
        AuditEntry.actor_id == person_id,
        (AuditEntry.entity == "person") & (AuditEntry.entity_id == person_id),
        (AuditEntry.entity == "family") & AuditEntry.entity_id.in_([f.id for f in families]),
        (AuditEntry.entity == "pickup") & AuditEntry.entity_id.in_(pickup_ids),
    )
    await _scrub_column(session, AuditEntry, "details", pattern, where=about_them,
                        keys=PERSONAL_DETAIL_KEYS)
    await _scrub_column(session, AuditEntry, "details", pattern)

    person.name = person.phone = person.email = person.rut = person.locale = None
    person.consent_at = person.consent_version = None
    person.contact_consent_at = person.contact_consent_source = None
    person.opted_out_at = None
    person.unreachable_reason = None
    person.reachable = False
    person.erased_at = now
    people.audit(session, now, "person_erased", actor_id=actor_id, channel=channel,
                 entity="person", entity_id=person_id)
    await session.flush()
    return True


async def settle_erasure(sessions: async_sessionmaker[AsyncSession]) -> None:
    """After an erasure is committed: on SQLite, copy the erased pages into the database file
    and empty its -wal, which still holds them as they were before (the file itself overwrites
    freed space: storage.db sets secure_delete). PostgreSQL needs VACUUM for the same: see the
    README's Operations."""
    async with sessions() as session:
        if session.get_bind().dialect.name != "sqlite":
            return
        busy, _, _ = (await session.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))).one()
    if busy:
        # Another process is reading: the next checkpoint (SQLite makes one every 1000
        # pages written) finishes it.
        log.warning("the -wal could not be emptied after an erasure: a reader was busy")
