"""Country profiles: how a programme's people write their phone numbers and national
identity number, how its organisations' number is written (a tax number: Chile's RUT is
both, Uruguay's organisations have a RUT and its people a cédula), which words name those
numbers, and the locale, zone and currency a programme of that country starts with.

A profile is data in ``COUNTRIES``; code asks the programme's profile (``country(code)``)
rather than testing for a country. A programme's country is its template's ``country``
(``domain.program_templates``); Chile where a template predates it.

The identity number is kept in the columns named ``rut`` (people, families, guests,
signatures): they hold the programme's national number, formatted as its country writes
it. ``organizations.rut`` holds the organisation's number, formatted likewise.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Protocol

from stdnum.cl import rut as cl_rut
from stdnum.exceptions import ValidationError
from stdnum.uy import rut as uy_rut

from domain import uy_ci
from domain.phones import to_e164

__all__ = [
    "COUNTRIES", "DEFAULT_COUNTRY", "Country", "IdScheme", "NationalId", "OrganizationNumber",
    "country",
]

DEFAULT_COUNTRY = "CL"


class IdScheme(Protocol):
    """What a python-stdnum module offers (``stdnum.cl.rut``, ``domain.uy_ci``)."""

    def compact(self, number: str) -> str: ...
    def validate(self, number: str) -> str: ...
    def format(self, number: str) -> str: ...


@dataclass(frozen=True)
class _Number:
    """A number a country's records carry, checked by its python-stdnum module."""

    scheme: IdScheme

    def compact(self, text: str | None) -> str | None:
        """The number's digits and check digit, or None when it does not check out."""
        if not text or not text.strip():
            return None
        try:
            return self.scheme.validate(text.strip())
        except ValidationError:
            return None

    def format(self, text: str | None) -> str | None:
        """The number as people of the country write it, or None when it does not check out."""
        compact = self.compact(text)
        return self.scheme.format(compact) if compact else None

    def key(self, value: str | None) -> str | None:
        """What makes two records' numbers the same one (their digits, however typed); None
        for none. Lenient: a record with a mistyped number still matches its twin."""
        if not value:
            return None
        try:
            return self.scheme.compact(value) or None
        except ValidationError:
            return None


@dataclass(frozen=True)
class NationalId(_Number):
    """A country's identity number: its check and, as message keys, the words that name it
    where a person reads them (their grammar differs: "ese RUT", "esa cédula")."""

    name: str  # "RUT", "cédula de identidad"
    short: str  # a column's heading: "RUT", "CI"
    form_wrong: str  # a form's answer that does not check out
    sign_ask: str  # asked right after a signer's typed name ({name})
    sign_wrong: str
    guest_ask: str  # a walk-in's number, typed by the team
    guest_wrong: str
    import_wrong: str  # a spreadsheet's cell ({value})
    catastro_ask: str  # the catastro's field ({kind})
    catastro_wrong: str  # ({value})


@dataclass(frozen=True)
class OrganizationNumber(_Number):
    """The number an organisation is registered under (its tax number), and as message keys
    the words that ask for it and refuse one that does not check out."""

    name: str  # "RUT"
    form_wrong: str  # a form's answer that does not check out
    import_wrong: str  # a spreadsheet's cell ({value})
    catastro_ask: str  # the catastro's field ({kind})
    catastro_wrong: str  # ({value})


@dataclass(frozen=True)
class Country:
    code: str  # ISO 3166-1 alpha-2
    phone_region: str  # phonenumbers' region for numbers typed without a country code
    national_id: NationalId
    organization_number: OrganizationNumber
    locale: str  # a programme's locale unless its template names one (locales.LOCALES)
    timezone: str  # the zone a template of this country would usually name
    currency: str  # ISO 4217, for goods valued in money
    phone_wrong: str  # message key: a phone number that cannot be read, with an example

    def phone(self, raw: str | None) -> str | None:
        """A phone number in E.164, read as the country's people write it."""
        return to_e164(raw, self.phone_region)


_CHILE = Country(
    code="CL",
    phone_region="CL",
    national_id=NationalId(
        scheme=cl_rut,
        name="country.cl.id_name",
        short="country.cl.id_short",
        # Chile's words were there before the profiles: they stay the ones people read.
        form_wrong="form.error.rut",
        sign_ask="commit.sign_rut",
        sign_wrong="commit.rut_wrong",
        guest_ask="adm_meet.ask_guest_rut",
        guest_wrong="adm_meet.err_guest_rut",
        import_wrong="imports.problem.bad_rut",
        catastro_ask="catastro.ask.rut",
        catastro_wrong="catastro.bad.rut",
    ),
    # An organisation's RUT is checked as a person's is: the words are the same ones.
    organization_number=OrganizationNumber(
        scheme=cl_rut,
        name="country.cl.id_name",
        form_wrong="form.error.rut",
        import_wrong="imports.problem.bad_rut",
        catastro_ask="catastro.ask.rut",
        catastro_wrong="catastro.bad.rut",
    ),
    locale="es",
    timezone="America/Santiago",
    currency="CLP",
    phone_wrong="form.error.phone",
)

_URUGUAY = Country(
    code="UY",
    phone_region="UY",
    national_id=NationalId(
        # python-stdnum has no uy.ci yet (arthurdejong/python-stdnum#120): see domain.uy_ci.
        scheme=uy_ci,
        name="country.uy.id_name",
        short="country.uy.id_short",
        form_wrong="country.uy.form_wrong",
        sign_ask="country.uy.sign_ask",
        sign_wrong="country.uy.sign_wrong",
        guest_ask="country.uy.guest_ask",
        guest_wrong="country.uy.guest_wrong",
        import_wrong="country.uy.import_wrong",
        catastro_ask="country.uy.catastro_ask",
        catastro_wrong="country.uy.catastro_wrong",
    ),
    # Organisations are registered with the DGI under a RUT of 12 digits (21-100342-001-7).
    organization_number=OrganizationNumber(
        scheme=uy_rut,
        name="country.uy.org_name",
        form_wrong="country.uy.org_form_wrong",
        import_wrong="country.uy.org_import_wrong",
        catastro_ask="country.uy.org_catastro_ask",
        catastro_wrong="country.uy.org_catastro_wrong",
    ),
    locale="es-UY",
    timezone="America/Montevideo",
    currency="UYU",
    phone_wrong="country.uy.phone_wrong",
)

COUNTRIES: MappingProxyType[str, Country] = MappingProxyType(
    {c.code: c for c in (_CHILE, _URUGUAY)})


def country(code: str | None) -> Country:
    """The profile of a country code; Chile's for none (a template written before
    templates named their country)."""
    return COUNTRIES[(code or DEFAULT_COUNTRY).upper()]
