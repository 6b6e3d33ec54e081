"""What a meeting may hold: the limits of what the gestora types for it, whom a series invites,
and how a walk-in written in by hand is read (name, RUT, organisation, phone)."""

from __future__ import annotations

from datetime import timedelta

from domain.countries import COUNTRIES, DEFAULT_COUNTRY, Country

PLACE_MAX = 200  # Meeting.place
AGENDA_MAX = 1500  # what an invitation shows in full
CANCEL_REASON_MAX = 200
SERIES_INVITE_AHEAD = timedelta(days=30)

INVITE_MEMBERS = "members"
INVITE_EVERYONE = "everyone"
INVITE_TARGETS = (INVITE_MEMBERS, INVITE_EVERYONE)


class MeetingError(ValueError):
    """A request that cannot be done; ``code`` names the reason for the message shown."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


GUEST_NAME_MAX = 200  # AttendanceGuest.name
GUEST_ORGANIZATION_MAX = 200


def guest_name(text: str) -> str:
    name = " ".join((text or "").split())
    if not name or len(name) > GUEST_NAME_MAX or not any(ch.isalpha() for ch in name):
        raise MeetingError("guest_name")
    return name


def guest_rut(text: str, country: Country | None = None) -> str:
    """The programme's identity number as its people write it (a RUT: 12.345.678-5),
    whatever way it was typed."""
    formatted = (country or COUNTRIES[DEFAULT_COUNTRY]).national_id.format(text)
    if formatted is None:
        raise MeetingError("guest_rut")
    return formatted


def guest_organization(text: str) -> str:
    org = " ".join((text or "").split())
    if not org or len(org) > GUEST_ORGANIZATION_MAX:
        raise MeetingError("guest_organization")
    return org


def guest_phone(text: str, country: Country | None = None) -> str:
    phone = (country or COUNTRIES[DEFAULT_COUNTRY]).phone(text)
    if phone is None:
        raise MeetingError("guest_phone")
    return phone
