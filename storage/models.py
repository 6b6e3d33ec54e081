"""The whole domain as SQLAlchemy 2 models. Times are UTC; enumerations are short strings
so that SQLite and PostgreSQL hold them alike and migrations stay simple."""

from __future__ import annotations

from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
)
from sqlalchemy.ext.asyncio import AsyncAttrs
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from domain.catastro import PickupMode
from domain.roles import ADMIN_ROLES, Role  # noqa: F401  (the rows' value types, re-exported)
from storage.clock import DEFAULT_TIMEZONE


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in and out, whatever the backend keeps."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: store aware UTC datetimes only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(AsyncAttrs, DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON, list[Any]: JSON}


def _fk(target: str, **kw: Any) -> Any:
    return mapped_column(ForeignKey(target, ondelete=kw.pop("ondelete", "CASCADE")), **kw)


# --- enumerations -------------------------------------------------------------------


ADMIN_LIST = "admin_list"  # RoleGrant.via of the roles ADMIN_TELEGRAM_IDS gives


class RsvpAnswer(StrEnum):
    YES = "yes"
    NO = "no"
    MAYBE = "maybe"


class MeetingStatus(StrEnum):
    SCHEDULED = "scheduled"
    CANCELLED = "cancelled"
    HELD = "held"


class PickupStatus(StrEnum):
    PENDING = "pending"
    NOTIFIED = "notified"
    CONFIRMED = "confirmed"
    CANNOT = "cannot"
    PROXY = "proxy"
    RESCHEDULE = "reschedule"
    PICKED_UP = "picked_up"
    NO_SHOW = "no_show"
    MOVED = "moved"  # moved to another day before this one began (see Pickup.moved_to_id)


class OutboxStatus(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"  # gave up: the reason is kept
    UNCERTAIN = "uncertain"  # the process died mid-request; never resent, shown to the gestora
    DROPPED = "dropped"  # no longer makes sense (the meeting has begun)
    # Neither sent nor failed: the channel may not write first now (WhatsApp outside its
    # 24-hour window with no approved template); pending again when the person writes.
    WAITING = "waiting"


class Receipt(StrEnum):
    """What the platform said of a message after accepting it, in the order it happens:
    a later word never goes back (a late "sent" does not undo "read")."""

    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    FAILED = "failed"


class FormStatus(StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    SUPERSEDED = "superseded"


# --- programme and its calendar --------------------------------------------------------


class AppState(Base):
    __tablename__ = "app_state"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class Program(Base):
    __tablename__ = "programs"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    template_key: Mapped[str] = mapped_column(String(64))
    start_date: Mapped[date] = mapped_column(Date)
    timezone: Mapped[str] = mapped_column(String(64), default=DEFAULT_TIMEZONE)
    # The validated template as it was when the programme was made (JSON text): the
    # programme reads its stages, kinds and reminders from here, never from the file again.
    template: Mapped[str | None] = mapped_column(Text)
    # The forms its template names, as they were then (JSON by form key). Migration 0015 gave
    # the rows made before it the forms Convoca offered then; None only for a programme not
    # yet stored (domain.forms.program_form then reads the shipped files).
    forms: Mapped[dict[str, Any] | None] = mapped_column()
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime]

    milestones: Mapped[list[Milestone]] = relationship(
        back_populates="program", order_by="Milestone.due", cascade="all, delete-orphan"
    )


class Milestone(Base):
    __tablename__ = "milestones"
    __table_args__ = (UniqueConstraint("program_id", "key"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    program_id: Mapped[int] = _fk("programs.id", index=True)
    key: Mapped[str] = mapped_column(String(100))
    stage: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(32))
    name: Mapped[dict[str, Any]] = mapped_column()  # {"es": ..., "en": ...} from the template
    starts: Mapped[date] = mapped_column(Date)
    due: Mapped[date] = mapped_column(Date)
    planned_due: Mapped[date] = mapped_column(Date)  # the template's date, before any move
    meeting_kind: Mapped[str | None] = mapped_column(String(64))
    min_sessions: Mapped[int] = mapped_column(Integer, default=0)
    verifiers: Mapped[list[Any]] = mapped_column(default=list)
    done_at: Mapped[datetime | None]

    program: Mapped[Program] = relationship(back_populates="milestones")


# --- people and organisations ------------------------------------------------------------


class Person(Base):
    __tablename__ = "people"
    id: Mapped[int] = mapped_column(primary_key=True)
    program_id: Mapped[int | None] = _fk("programs.id", ondelete="SET NULL", index=True)
    # The programme someone with roles in several chose to work on (/programa). Only one
    # where they still hold a role counts, so it needs no foreign key (adding one would
    # make SQLite rebuild the people table, whose dependants cascade).
    chosen_program_id: Mapped[int | None] = mapped_column(Integer)
    name: Mapped[str | None] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(20), index=True)  # E.164
    email: Mapped[str | None] = mapped_column(String(200))
    # The national identity number of the programme's country (domain.countries), formatted
    # as it writes it: a RUT in Chile (12.345.678-5), a cédula in Uruguay (1.234.567-2).
    # "rut" is the name from when Convoca was Chile only; no column was renamed.
    rut: Mapped[str | None] = mapped_column(String(12))
    locale: Mapped[str | None] = mapped_column(String(5))
    consent_at: Mapped[datetime | None]
    consent_version: Mapped[str | None] = mapped_column(String(16))
    opted_out_at: Mapped[datetime | None]
    reachable: Mapped[bool] = mapped_column(Boolean, default=True)
    unreachable_reason: Mapped[str | None] = mapped_column(String(200))
    # Consent given on paper (at enrolment) to be written to first where a channel asks for
    # it (WhatsApp); not the chat's own consent step (consent_at), which still comes.
    contact_consent_at: Mapped[datetime | None]
    contact_consent_source: Mapped[str | None] = mapped_column(String(40))  # "import"
    # The phone is the person's own, as a platform vouched (Telegram's contact button, the
    # number WhatsApp writes from), not typed or copied from a list: only such a number makes
    # someone writing from another app the same person (handlers.core).
    phone_vouched: Mapped[bool] = mapped_column(Boolean, default=False,
                                                server_default=false())
    erased_at: Mapped[datetime | None]
    created_at: Mapped[datetime]

    addresses: Mapped[list[ChannelAddress]] = relationship(
        back_populates="person", cascade="all, delete-orphan"
    )
    roles: Mapped[list[RoleGrant]] = relationship(
        back_populates="person", cascade="all, delete-orphan", foreign_keys="RoleGrant.person_id"
    )


class ChannelAddress(Base):
    """Where a person can be reached: a Telegram chat, a WhatsApp number, the console."""

    __tablename__ = "channel_addresses"
    __table_args__ = (UniqueConstraint("channel", "address"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = _fk("people.id", index=True)
    channel: Mapped[str] = mapped_column(String(16))
    address: Mapped[str] = mapped_column(String(64))
    # WhatsApp allows free-form messages only within 24 h of the person's last message.
    last_inbound_at: Mapped[datetime | None]
    # The platform's reference of the person's last message, in its own terms: a channel
    # may use it to find out whether a message in flight when a process died arrived.
    last_inbound_message_id: Mapped[str | None] = mapped_column(String(64))
    # The platform refused this address for good (WhatsApp 131026: not on WhatsApp): the
    # address, not the person, who may still be reached elsewhere.
    unreachable_reason: Mapped[str | None] = mapped_column(String(200))
    unreachable_at: Mapped[datetime | None]
    created_at: Mapped[datetime]

    person: Mapped[Person] = relationship(back_populates="addresses")


class RoleGrant(Base):
    __tablename__ = "role_grants"
    __table_args__ = (UniqueConstraint("person_id", "program_id", "role"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = _fk("people.id", index=True)
    program_id: Mapped[int | None] = _fk("programs.id")
    role: Mapped[str] = mapped_column(String(20))
    granted_at: Mapped[datetime]
    granted_by: Mapped[int | None] = _fk("people.id", ondelete="SET NULL")
    # ADMIN_LIST when ADMIN_TELEGRAM_IDS gave it: the list then takes it back too.
    via: Mapped[str | None] = mapped_column(String(16))

    person: Mapped[Person] = relationship(back_populates="roles", foreign_keys=[person_id])


class Organization(Base):
    __tablename__ = "organizations"
    id: Mapped[int] = mapped_column(primary_key=True)
    program_id: Mapped[int] = _fk("programs.id", index=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str | None] = mapped_column(String(40))
    # Its own number (its RUT, in Chile and Uruguay alike), formatted as its programme's country
    # writes it: Uruguay's is 15 characters (21-100342-001-7).
    rut: Mapped[str | None] = mapped_column(String(20))
    sector: Mapped[str | None] = mapped_column(String(120))
    address: Mapped[str | None] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(20))
    email: Mapped[str | None] = mapped_column(String(200))
    members_count: Mapped[int | None] = mapped_column(Integer)
    committed_at: Mapped[datetime | None]  # compromiso de participación
    created_at: Mapped[datetime]


class OrganizationInvitation(Base):
    """The catastro's record of who was invited when, for the list of invited organisations."""

    __tablename__ = "organization_invitations"
    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = _fk("organizations.id", index=True)
    purpose: Mapped[str] = mapped_column(String(64))
    sent_at: Mapped[datetime]
    answer: Mapped[str | None] = mapped_column(String(20))
    answered_at: Mapped[datetime | None]


class Representative(Base):
    __tablename__ = "representatives"
    __table_args__ = (UniqueConstraint("organization_id", "person_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = _fk("organizations.id", index=True)
    person_id: Mapped[int] = _fk("people.id", index=True)
    position: Mapped[str | None] = mapped_column(String(100))  # presidenta, secretario...
    is_primary: Mapped[bool] = mapped_column(Boolean, default=False)


class Body(Base):
    """A participation body: the Grupo Motor or the Consejo Local."""

    __tablename__ = "bodies"
    id: Mapped[int] = mapped_column(primary_key=True)
    program_id: Mapped[int] = _fk("programs.id", index=True)
    kind: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(200))
    cadence_months: Mapped[int | None] = mapped_column(Integer)
    constituted_at: Mapped[datetime | None]
    # The session in which the body was constituted (its acta de constitución is drawn
    # from it); its protocol is an AgreedText with key "protocolo_funcionamiento".
    # A plain integer, as Person.chosen_program_id: a foreign key added to an existing table
    # makes SQLite rebuild it and every table that cascades from it.
    constitution_meeting_id: Mapped[int | None] = mapped_column(Integer)


class Membership(Base):
    __tablename__ = "memberships"
    __table_args__ = (UniqueConstraint("body_id", "person_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    body_id: Mapped[int] = _fk("bodies.id", index=True)
    person_id: Mapped[int] = _fk("people.id", index=True)
    organization_id: Mapped[int | None] = _fk("organizations.id", ondelete="SET NULL")
    commitment_signed_at: Mapped[datetime | None]  # declaración de compromiso
    joined_at: Mapped[datetime]
    left_at: Mapped[datetime | None]


class Family(Base):
    __tablename__ = "families"
    id: Mapped[int] = mapped_column(primary_key=True)
    program_id: Mapped[int] = _fk("programs.id", index=True)
    person_id: Mapped[int | None] = _fk("people.id", ondelete="SET NULL", index=True)
    name: Mapped[str] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(20), index=True)
    # The programme country's identity number, formatted (see Person.rut).
    rut: Mapped[str | None] = mapped_column(String(12))
    pickup_mode: Mapped[str] = mapped_column(String(12), default=PickupMode.RETIRO)
    sector: Mapped[str | None] = mapped_column(String(120))
    address: Mapped[str | None] = mapped_column(String(200))
    household_size: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime]


class LinkCode(Base):
    """A deep-link code (t.me/<bot>?start=CODE) that binds a chat to a record."""

    __tablename__ = "link_codes"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    program_id: Mapped[int] = _fk("programs.id")
    target_kind: Mapped[str] = mapped_column(String(16))  # organization | body | family
    target_id: Mapped[int] = mapped_column(Integer)
    max_uses: Mapped[int | None] = mapped_column(Integer)
    uses: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime | None]


# --- forms -------------------------------------------------------------------------


class FormDefinition(Base):
    __tablename__ = "form_definitions"
    __table_args__ = (UniqueConstraint("key", "version"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer, default=1)
    definition: Mapped[dict[str, Any]] = mapped_column()
    created_at: Mapped[datetime]


class FormResponse(Base):
    __tablename__ = "form_responses"
    id: Mapped[int] = mapped_column(primary_key=True)
    form_id: Mapped[int] = _fk("form_definitions.id", index=True)
    person_id: Mapped[int | None] = _fk("people.id", ondelete="SET NULL", index=True)
    organization_id: Mapped[int | None] = _fk("organizations.id", ondelete="SET NULL")
    # Whose gestora receives it, also while the organisation is not in the catastro yet.
    program_id: Mapped[int | None] = _fk("programs.id", ondelete="SET NULL", index=True)
    status: Mapped[str] = mapped_column(String(12), default=FormStatus.DRAFT)
    version: Mapped[int] = mapped_column(Integer, default=1)
    supersedes_id: Mapped[int | None] = _fk("form_responses.id", ondelete="SET NULL")
    answers: Mapped[dict[str, Any]] = mapped_column(default=dict)
    current: Mapped[str | None] = mapped_column(String(64))
    started_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    submitted_at: Mapped[datetime | None]


class FormSignature(Base):
    __tablename__ = "form_signatures"
    id: Mapped[int] = mapped_column(primary_key=True)
    response_id: Mapped[int] = _fk("form_responses.id", index=True)
    person_id: Mapped[int | None] = _fk("people.id", ondelete="SET NULL")
    signed_name: Mapped[str] = mapped_column(String(200))
    # The signer's RUT as they typed it at signing (formatted), for the printed signature
    # table: a document signed for an organisation names each representative by RUT.
    signed_rut: Mapped[str | None] = mapped_column(String(12))
    signed_at: Mapped[datetime]


# --- meetings --------------------------------------------------------------------------


class MeetingSeries(Base):
    __tablename__ = "meeting_series"
    id: Mapped[int] = mapped_column(primary_key=True)
    program_id: Mapped[int] = _fk("programs.id")
    body_id: Mapped[int | None] = _fk("bodies.id")
    kind: Mapped[str] = mapped_column(String(40))
    every_months: Mapped[int] = mapped_column(Integer)
    rule: Mapped[dict[str, Any]] = mapped_column(default=dict)  # weekday, nth, time, place


class Meeting(Base):
    __tablename__ = "meetings"
    id: Mapped[int] = mapped_column(primary_key=True)
    program_id: Mapped[int] = _fk("programs.id", index=True)
    body_id: Mapped[int | None] = _fk("bodies.id", ondelete="SET NULL")
    series_id: Mapped[int | None] = _fk("meeting_series.id", ondelete="SET NULL")
    kind: Mapped[str] = mapped_column(String(40))
    title: Mapped[str | None] = mapped_column(String(200))
    starts_at: Mapped[datetime] = mapped_column(index=True)
    ends_at: Mapped[datetime | None]
    place: Mapped[str | None] = mapped_column(String(200))
    address: Mapped[str | None] = mapped_column(String(200))
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    agenda: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(12), default=MeetingStatus.SCHEDULED)
    checkin_code: Mapped[str | None] = mapped_column(String(12), unique=True)
    revision: Mapped[int] = mapped_column(Integer, default=1)  # bumps on every move
    created_by: Mapped[int | None] = _fk("people.id", ondelete="SET NULL")
    created_at: Mapped[datetime]


class Rsvp(Base):
    """An invitation to a meeting and the person's answer to it."""

    __tablename__ = "rsvps"
    __table_args__ = (UniqueConstraint("meeting_id", "person_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int] = _fk("meetings.id", index=True)
    person_id: Mapped[int | None] = _fk("people.id", ondelete="SET NULL", index=True)
    organization_id: Mapped[int | None] = _fk("organizations.id", ondelete="SET NULL")
    invited_at: Mapped[datetime]
    answer: Mapped[str | None] = mapped_column(String(8))
    reason: Mapped[str | None] = mapped_column(String(500))
    answered_at: Mapped[datetime | None]


class Attendance(Base):
    __tablename__ = "attendance"
    __table_args__ = (UniqueConstraint("meeting_id", "person_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int] = _fk("meetings.id", index=True)
    person_id: Mapped[int | None] = _fk("people.id", ondelete="SET NULL")
    organization_id: Mapped[int | None] = _fk("organizations.id", ondelete="SET NULL")
    present: Mapped[bool] = mapped_column(Boolean)
    method: Mapped[str] = mapped_column(String(12))  # checkin | marked
    marked_at: Mapped[datetime]
    marked_by: Mapped[int | None] = _fk("people.id", ondelete="SET NULL")


class AttendanceGuest(Base):
    """Someone who came to a meeting and is not in Convoca: the staff write them in by hand,
    so they count as present and sign the printed list like everyone else."""

    __tablename__ = "attendance_guests"
    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int] = _fk("meetings.id", index=True)
    name: Mapped[str] = mapped_column(String(200))
    # The programme country's identity number, formatted (see Person.rut).
    rut: Mapped[str | None] = mapped_column(String(12))
    organization: Mapped[str | None] = mapped_column(String(200))  # in their own words
    phone: Mapped[str | None] = mapped_column(String(20))  # E.164
    # Who wrote them in is in the audit log; a link to the person here would put a
    # stranger's RUT and phone in that person's /mis_datos.
    added_at: Mapped[datetime]


# --- the programme's records: actas, diagnosis, plans, their follow-up, hand-over ----------


class ActionStatus(StrEnum):
    PENDING = "pending"  # nobody has reported on it yet
    UNDER_WAY = "under_way"
    DONE = "done"
    STUCK = "stuck"
    DROPPED = "dropped"  # the body decided not to do it; kept, struck out in the matrix


class DiagnosisCategory(StrEnum):
    STRENGTH = "strength"
    WEAKNESS = "weakness"
    RESOURCE = "resource"  # recursos / potencialidades: scored in the priority matrix
    PROBLEM = "problem"  # necesidades / problemas: scored in the priority matrix


class MinutesSection(StrEnum):
    AGREEMENT = "agreement"  # acuerdos
    TOPIC = "topic"  # temas tratados
    # The evaluation session's record (documento de evaluación del proceso).
    ACHIEVEMENT = "achievement"
    DIFFICULTY = "difficulty"
    LESSON = "lesson"
    RECOMMENDATION = "recommendation"


class Minutes(Base):
    """The acta of one session: what was discussed and agreed. Its commitments are
    ActionItems (minutes_id), followed up like a plan's actions."""

    __tablename__ = "minutes"
    id: Mapped[int] = mapped_column(primary_key=True)
    program_id: Mapped[int] = _fk("programs.id", index=True)
    meeting_id: Mapped[int | None] = _fk("meetings.id", ondelete="SET NULL", unique=True)
    recorded_by: Mapped[int | None] = _fk("people.id", ondelete="SET NULL")
    recorded_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class MinutesItem(Base):
    __tablename__ = "minutes_items"
    id: Mapped[int] = mapped_column(primary_key=True)
    minutes_id: Mapped[int] = _fk("minutes.id", index=True)
    section: Mapped[str] = mapped_column(String(20))  # MinutesSection
    text: Mapped[str] = mapped_column(Text)
    position: Mapped[int] = mapped_column(Integer, default=0)


class AgreedText(Base):
    """A text a body or session agreed (protocolo de funcionamiento, reglamento de uso,
    procedimiento interno...), keyed by the template's verifier it proves. A new version
    supersedes the last; every version is kept."""

    __tablename__ = "agreed_texts"
    id: Mapped[int] = mapped_column(primary_key=True)
    program_id: Mapped[int] = _fk("programs.id", index=True)
    key: Mapped[str] = mapped_column(String(64))  # the verifier key
    body_id: Mapped[int | None] = _fk("bodies.id", ondelete="SET NULL")
    meeting_id: Mapped[int | None] = _fk("meetings.id", ondelete="SET NULL")
    title: Mapped[str | None] = mapped_column(String(200))
    text: Mapped[str] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, default=1)
    superseded_at: Mapped[datetime | None]
    recorded_by: Mapped[int | None] = _fk("people.id", ondelete="SET NULL")
    recorded_at: Mapped[datetime]


class DiagnosisEntry(Base):
    """One line of the diagnosis (stage 1) that the priority matrix (stage 3) scores."""

    __tablename__ = "diagnosis_entries"
    id: Mapped[int] = mapped_column(primary_key=True)
    program_id: Mapped[int] = _fk("programs.id", index=True)
    meeting_id: Mapped[int | None] = _fk("meetings.id", ondelete="SET NULL")
    category: Mapped[str] = mapped_column(String(12))  # DiagnosisCategory
    text: Mapped[str] = mapped_column(Text)
    position: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]


class PriorityCriterion(Base):
    """A criterion the body chose to score needs and resources by (urgency, feasibility...)."""

    __tablename__ = "priority_criteria"
    id: Mapped[int] = mapped_column(primary_key=True)
    program_id: Mapped[int] = _fk("programs.id", index=True)
    name: Mapped[str] = mapped_column(String(120))
    position: Mapped[int] = mapped_column(Integer, default=0)


class PriorityScore(Base):
    __tablename__ = "priority_scores"
    __table_args__ = (UniqueConstraint("entry_id", "criterion_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    entry_id: Mapped[int] = _fk("diagnosis_entries.id", index=True)
    criterion_id: Mapped[int] = _fk("priority_criteria.id")
    score: Mapped[int] = mapped_column(Integer)
    meeting_id: Mapped[int | None] = _fk("meetings.id", ondelete="SET NULL")


class PlanKind(StrEnum):
    WORK = "work"  # plan de trabajo participativo (Grupo Motor)
    COMMUNICATIONS = "communications"  # plan de comunicaciones (Consejo Local)


class Plan(Base):
    __tablename__ = "plans"
    __table_args__ = (UniqueConstraint("program_id", "kind"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    program_id: Mapped[int] = _fk("programs.id", index=True)
    kind: Mapped[str] = mapped_column(String(20))  # PlanKind
    body_id: Mapped[int | None] = _fk("bodies.id", ondelete="SET NULL")
    # Validated with the community in a session (the guide's "socialización y validación").
    approved_at: Mapped[datetime | None]
    approved_meeting_id: Mapped[int | None] = _fk("meetings.id", ondelete="SET NULL")
    created_at: Mapped[datetime]


class PlanObjective(Base):
    __tablename__ = "plan_objectives"
    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = _fk("plans.id", index=True)
    text: Mapped[str] = mapped_column(Text)
    position: Mapped[int] = mapped_column(Integer, default=0)


class ActionItem(Base):
    """Something someone committed to do by a date: a plan's action (plan_id) or a session's
    commitment (minutes_id). Its reports are ActionUpdates: the matriz de seguimiento."""

    __tablename__ = "action_items"
    id: Mapped[int] = mapped_column(primary_key=True)
    program_id: Mapped[int] = _fk("programs.id", index=True)
    plan_id: Mapped[int | None] = _fk("plans.id", index=True)
    objective_id: Mapped[int | None] = _fk("plan_objectives.id", ondelete="SET NULL")
    minutes_id: Mapped[int | None] = _fk("minutes.id", index=True)
    text: Mapped[str] = mapped_column(Text)
    expected_result: Mapped[str | None] = mapped_column(Text)
    requirements: Mapped[str | None] = mapped_column(Text)
    alliance: Mapped[bool | None] = mapped_column(Boolean)  # activación de alianzas
    alliance_with: Mapped[str | None] = mapped_column(String(300))
    # Who answers for it: a person in Convoca (reminded in chat) or, failing that, a name.
    responsible_person_id: Mapped[int | None] = _fk("people.id", ondelete="SET NULL",
                                                    index=True)
    responsible_name: Mapped[str | None] = mapped_column(String(200))
    starts: Mapped[date | None] = mapped_column(Date)
    due: Mapped[date | None] = mapped_column(Date, index=True)
    status: Mapped[str] = mapped_column(String(12), default=ActionStatus.PENDING)
    status_at: Mapped[datetime | None]
    position: Mapped[int] = mapped_column(Integer, default=0)
    created_by: Mapped[int | None] = _fk("people.id", ondelete="SET NULL")
    created_at: Mapped[datetime]


class ActionUpdate(Base):
    """One report on an action: its status from then on, with an optional note or photo."""

    __tablename__ = "action_updates"
    id: Mapped[int] = mapped_column(primary_key=True)
    action_id: Mapped[int] = _fk("action_items.id", index=True)
    status: Mapped[str] = mapped_column(String(12))
    note: Mapped[str | None] = mapped_column(Text)
    # A photo as the channel keeps it ({"channel", "file_id", "mime_type"}): kept as a
    # reference, fetched from the platform when a document shows it.
    photo: Mapped[dict[str, Any] | None] = mapped_column()
    at: Mapped[datetime] = mapped_column(index=True)
    by_person_id: Mapped[int | None] = _fk("people.id", ondelete="SET NULL")


class Handover(Base):
    """The hand-over of the programme's goods to a formal community organisation (acta de
    traspaso del dominio de bienes)."""

    __tablename__ = "handovers"
    id: Mapped[int] = mapped_column(primary_key=True)
    program_id: Mapped[int] = _fk("programs.id", index=True)
    organization_id: Mapped[int | None] = _fk("organizations.id", ondelete="SET NULL")
    meeting_id: Mapped[int | None] = _fk("meetings.id", ondelete="SET NULL")
    # The rules of use are the AgreedText "reglamento_uso"; the acta cites its version.
    handed_on: Mapped[date | None] = mapped_column(Date)
    recorded_by: Mapped[int | None] = _fk("people.id", ondelete="SET NULL")
    recorded_at: Mapped[datetime]


class HandoverGood(Base):
    __tablename__ = "handover_goods"
    id: Mapped[int] = mapped_column(primary_key=True)
    handover_id: Mapped[int] = _fk("handovers.id", index=True)
    description: Mapped[str] = mapped_column(String(300))
    quantity: Mapped[int] = mapped_column(Integer, default=1)
    unit_value: Mapped[int | None] = mapped_column(Integer)  # whole pesos
    condition: Mapped[str | None] = mapped_column(String(120))  # estado: nuevo, bueno...
    position: Mapped[int] = mapped_column(Integer, default=0)


# --- delivery days and pickups -----------------------------------------------------------


class DeliveryDay(Base):
    __tablename__ = "delivery_days"
    id: Mapped[int] = mapped_column(primary_key=True)
    program_id: Mapped[int] = _fk("programs.id", index=True)
    mode: Mapped[str] = mapped_column(String(12), default=PickupMode.RETIRO)
    window_start: Mapped[datetime] = mapped_column(index=True)
    window_end: Mapped[datetime]
    place: Mapped[str | None] = mapped_column(String(200))
    address: Mapped[str | None] = mapped_column(String(200))
    cancelled_at: Mapped[datetime | None]
    created_at: Mapped[datetime]


class Pickup(Base):
    __tablename__ = "pickups"
    __table_args__ = (UniqueConstraint("delivery_day_id", "family_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    delivery_day_id: Mapped[int] = _fk("delivery_days.id", index=True)
    family_id: Mapped[int] = _fk("families.id", index=True)
    status: Mapped[str] = mapped_column(String(12), default=PickupStatus.PENDING)
    reason: Mapped[str | None] = mapped_column(String(500))
    proxy_name: Mapped[str | None] = mapped_column(String(200))
    # The programme country's identity number, formatted (see Person.rut).
    proxy_rut: Mapped[str | None] = mapped_column(String(12))
    notified_at: Mapped[datetime | None]
    responded_at: Mapped[datetime | None]
    handed_at: Mapped[datetime | None]
    marked_by: Mapped[int | None] = _fk("people.id", ondelete="SET NULL")
    # The pickup on the day the family was moved to; the status here stays what happened on
    # this day (moved, or not come when the move came after the window).
    moved_to_id: Mapped[int | None] = _fk("pickups.id", ondelete="SET NULL")


# --- delivery machinery -------------------------------------------------------------------


class OutboxMessage(Base):
    """A message Convoca will send: its key and parameters, not only rendered text, so each
    channel renders it its own way (WhatsApp needs a template outside its 24-hour window)."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_due", "status", "not_before"),
        Index("ix_outbox_chat", "channel", "address"),
        Index("ix_outbox_pick", "status", "urgent", "not_before", "id"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(160), unique=True)
    person_id: Mapped[int | None] = _fk("people.id", ondelete="SET NULL", index=True)
    channel: Mapped[str] = mapped_column(String(16))
    address: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))  # reply, invitation, reminder, broadcast...
    payload: Mapped[dict[str, Any]] = mapped_column()  # the neutral Outgoing, as JSON
    locale: Mapped[str | None] = mapped_column(String(5))
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(12), default=OutboxStatus.PENDING)
    not_before: Mapped[datetime]
    expires_at: Mapped[datetime | None]  # past this it no longer makes sense to send
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    claimed_until: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(500))
    platform_message_id: Mapped[str | None] = mapped_column(String(64))
    batch: Mapped[str | None] = mapped_column(String(64), index=True)  # a broadcast's id
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    # The platform's later word on it (Receipt: delivered, read, failed), where it gives one.
    receipt: Mapped[str | None] = mapped_column(String(12))
    receipt_at: Mapped[datetime | None]


class SentMessage(Base):
    """One message a platform accepted for an outbox row (a row may become several: a long
    text split, a document after its text), and the last word the platform said of it."""

    __tablename__ = "platform_messages"
    __table_args__ = (UniqueConstraint("channel", "platform_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    outbox_id: Mapped[int] = _fk("outbox.id", index=True)
    channel: Mapped[str] = mapped_column(String(16))
    platform_id: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(12), default=Receipt.SENT)
    status_at: Mapped[datetime]
    error_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(String(500))


class WhatsAppTemplate(Base):
    """A message template as the WhatsApp business account holds it (synced from Meta):
    only an APPROVED one may be sent."""

    __tablename__ = "wa_templates"
    __table_args__ = (UniqueConstraint("name", "language"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(512))
    language: Mapped[str] = mapped_column(String(16))
    category: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20))  # APPROVED, PENDING, REJECTED, MISSING…
    platform_id: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(String(500))
    synced_at: Mapped[datetime]


class Worker(Base):
    """A running dispatcher, so another one can tell when it died holding rows."""

    __tablename__ = "workers"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    started_at: Mapped[datetime]
    heartbeat_at: Mapped[datetime]


class Lease(Base):
    """One process's right to do what only one may do at a time (send for a bot token or a
    WhatsApp number, run the scheduler's tick, poll getUpdates), until ``expires_at`` unless
    renewed. ``epoch`` grows with each new holder, so a holder that lost it cannot renew."""

    __tablename__ = "leases"
    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    holder: Mapped[str | None] = mapped_column(String(64))
    epoch: Mapped[int] = mapped_column(Integer, default=0)
    expires_at: Mapped[datetime]


class IncomingUpdate(Base):
    """An update a channel received, stored before the platform is told it arrived, then
    handled once, in order per address (storage.intake). Kept a while after it is handled,
    so that the platform offering it again is recognised; the key is the platform's own."""

    __tablename__ = "intake"
    __table_args__ = (
        UniqueConstraint("channel", "key"),
        Index("ix_intake_address", "channel", "address", "id"),
        Index("ix_intake_pending", "handled_at", "id"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    key: Mapped[str] = mapped_column(String(128))
    address: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column()  # what the platform sent, as it sent it
    event: Mapped[dict[str, Any]] = mapped_column()  # the neutral Incoming, as JSON
    received_at: Mapped[datetime]
    handled_at: Mapped[datetime | None]
    # The process handling it, until when; kept after handling until its replies are sent,
    # so that the address's next update waits for them.
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    claimed_until: Mapped[datetime | None]


class CodeAttempt(Base):
    """A wrong code someone typed: counted to slow guessing (storage.attempts), kept only
    while it still counts."""

    __tablename__ = "code_attempts"
    id: Mapped[int] = mapped_column(primary_key=True)
    who: Mapped[str] = mapped_column(String(64), index=True)  # "telegram:<chat id>"
    at: Mapped[datetime] = mapped_column(index=True)


class Conversation(Base):
    """Where each person is in a flow; survives restarts because it lives here."""

    __tablename__ = "conversations"
    person_id: Mapped[int] = mapped_column(
        ForeignKey("people.id", ondelete="CASCADE"), primary_key=True
    )
    flow: Mapped[str | None] = mapped_column(String(40))
    step: Mapped[str | None] = mapped_column(String(64))
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    updated_at: Mapped[datetime]


class AuditEntry(Base):
    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(index=True)
    actor_id: Mapped[int | None] = _fk("people.id", ondelete="SET NULL")
    channel: Mapped[str | None] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(64))
    entity: Mapped[str | None] = mapped_column(String(40))
    entity_id: Mapped[int | None] = mapped_column(Integer)
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)


# --- the web panel ----------------------------------------------------------------------


class WebLogin(Base):
    """A one-time login link sent in chat (/web): only its hash is kept, so a copy of the
    database opens no door."""

    __tablename__ = "web_logins"
    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    person_id: Mapped[int] = _fk("people.id", index=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class WebSession(Base):
    """A browser signed in to the panel; the cookie holds the token, the row its hash."""

    __tablename__ = "web_sessions"
    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    person_id: Mapped[int] = _fk("people.id", index=True)
    csrf: Mapped[str] = mapped_column(String(64))
    via: Mapped[str] = mapped_column(String(16))  # link | telegram_app
    locale: Mapped[str | None] = mapped_column(String(8))
    created_at: Mapped[datetime]
    seen_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]
