"""Programme templates: stages, activities, bodies and reminder defaults as validated data.

A programme (the Ecomercado Solidario, a rural infrastructure programme, a cooperative
support scheme...) is described in ``domain/templates/<key>.yaml``.  This module
validates those files and turns a template plus a start date into dated milestones.

Offsets and windows
-------------------
An activity runs in the half-open window ``[start, end)``, both given as an
:class:`Offset` from the programme start.  Its milestone ``starts`` on the first day of
the window and is ``due`` on the last one (``end`` minus one day).  A progress report
for month N uses the same rule with the window of month N, ``[N-1 months, N months)``,
so every deadline in a template follows one convention.
"""

import calendar
import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from os import PathLike
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Any, Literal, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from babel.core import get_global
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from domain.countries import COUNTRIES, DEFAULT_COUNTRY
from locales import LOCALES, Msg
from storage.clock import DEFAULT_TIMEZONE

__all__ = [
    "REQUIRED_LANGUAGES",
    "TEMPLATES_DIR",
    "Activity",
    "Body",
    "FormUse",
    "Localized",
    "MeetingKind",
    "MeetingReminders",
    "MilestoneReminders",
    "NonResponderReminders",
    "Offset",
    "PickupNotices",
    "PlannedMilestone",
    "ProgramTemplate",
    "ProgressReportSpec",
    "QuietHours",
    "Reminders",
    "Stage",
    "TemplateError",
    "Verifier",
    "WeeklyDigest",
    "add_months",
    "available_templates",
    "load_template",
    "localized_text",
    "parse_template",
    "program_template",
    "program_template_or_none",
    "stored_template",
    "template_to_store",
]

TEMPLATES_DIR = Path(__file__).parent / "templates"
REQUIRED_LANGUAGES: tuple[str, ...] = ("es", "en")

_TEMPLATE_KEY_RE = re.compile(r"^[a-z0-9][a-z0-9_-]*$")

Loc = tuple[str | int, ...]


# --------------------------------------------------------------------------- errors


class Renders(Protocol):
    def render(self, message: Msg, loc: str | None, tz: str | None = None) -> str: ...


# A problem is said as a message key where Convoca words it (rendered in the reader's
# language by whoever prints it), as text where a rule's own wording is kept (English).
Problem = str | Msg


class TemplateError(ValueError):
    """A template file that cannot be used; one ``file: path: problem`` line per problem,
    ``file:line:column: path: problem`` where the YAML node it is about is known, in the
    order of the file (line, then column)."""

    def __init__(self, source: str, problems: Sequence[tuple[str, Problem]],
                 marks: Sequence[tuple[int, int] | None] | None = None) -> None:
        self.source = source
        given = list(zip(problems, marks if marks is not None else [None] * len(problems),
                         strict=True))
        # Those about the whole file (no node) first; the sort is stable for the rest.
        given.sort(key=lambda pm: pm[1] or (0, 0))
        self.problems: list[tuple[str, Problem]] = [p for p, _ in given]
        # 1-based (line, column) of each problem's YAML node, None where not known.
        self.marks: list[tuple[int, int] | None] = [m for _, m in given]
        super().__init__("\n".join(self.lines))

    @property
    def lines(self) -> list[str]:
        """For logs and tracebacks: a message key stands for its words."""
        return self.lines_in(None)

    def lines_in(self, catalogs: Renders | None, loc: str | None = None) -> list[str]:
        """Each problem as a person reads it, in ``loc`` (None: the catalogs' default)."""
        out = []
        for (path, msg), mark in zip(self.problems, self.marks, strict=True):
            if isinstance(msg, Msg):
                msg = catalogs.render(msg, loc) if catalogs is not None else _as_key(msg)
            where = f"{self.source}:{mark[0]}:{mark[1]}" if mark else self.source
            out.append(f"{where}: {path}: {msg}" if path else f"{where}: {msg}")
        return out


def _as_key(message: Msg) -> str:
    params = ", ".join(f"{k}={v}" for k, v in message.params.items())
    return f"{message.key} ({params})" if params else message.key


def _format_loc(loc: Iterable[str | int]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


# Pydantic's wording is written for API payloads, in English; the mistakes a person editing
# YAML makes most are said in their language instead (templates.po). The rarer ones keep
# pydantic's words.
_READABLE_ERRORS = {
    "extra_forbidden": "templates.problem.unknown_field",
    "missing": "templates.problem.missing",
    "string_type": "templates.problem.not_text",
    "int_type": "templates.problem.not_integer",
    "float_type": "templates.problem.not_number",
    "bool_type": "templates.problem.not_boolean",
    "list_type": "templates.problem.not_list",
    "dict_type": "templates.problem.not_mapping",
    "model_type": "templates.problem.not_mapping",
    "literal_error": "templates.problem.one_of",
    "greater_than_equal": "templates.problem.at_least",
    "less_than_equal": "templates.problem.at_most",
    "too_short": "templates.problem.too_few",
    "too_long": "templates.problem.too_many",
    "string_too_long": "templates.problem.text_too_long",
    "localized_missing": "templates.problem.missing_translation",
}


def _readable(err: Mapping[str, Any]) -> Problem:
    key = _READABLE_ERRORS.get(err["type"])
    if key is None:
        return str(err["msg"])
    ctx = err.get("ctx") or {}
    params: dict[str, Any] = {}
    if "expected" in ctx:  # "'a', 'b' or 'c'": the words around the values are English
        params["expected"] = str(ctx["expected"]).replace(" or ", ", ")
    for name, param in (("ge", "min"), ("le", "max"), ("min_length", "min"),
                        ("max_length", "max"), ("missing", "missing")):
        if name in ctx:
            params[param] = str(ctx[name])
    return Msg(key, params)


_CONSISTENCY_ERROR = "template_consistency"


def _located_problems(exc: ValidationError) -> list[tuple[Loc, Problem]]:
    """Each problem with its field path as a tuple, to be found again in the YAML."""
    problems: list[tuple[Loc, Problem]] = []
    for err in exc.errors(include_url=False):
        loc = tuple(err["loc"])
        ctx = err.get("ctx") or {}
        if err["type"] == _CONSISTENCY_ERROR and "problems" in ctx:
            for sub_loc, msg in ctx["problems"]:
                problems.append((loc + tuple(sub_loc), msg))
        else:
            problems.append((loc, _readable(err)))
    return problems


def _problems_from_validation(exc: ValidationError) -> list[tuple[str, Problem]]:
    return [(_format_loc(loc), msg) for loc, msg in _located_problems(exc)]


def _raise_problems(problems: list[tuple[Loc, Problem]]) -> None:
    # The structured list travels in ctx so TemplateError can give each problem its own
    # field path; the summary keeps a bare ValidationError readable too.
    if problems:
        summary = "; ".join(f"{_format_loc(loc)}: {_as_key(msg) if isinstance(msg, Msg) else msg}"
                            for loc, msg in problems)
        raise PydanticCustomError(
            _CONSISTENCY_ERROR, "{summary}", {"summary": summary, "problems": problems}
        )


def _duplicates(values: Iterable[Any]) -> list[Any]:
    return [value for value, count in Counter(values).items() if count > 1]


# --------------------------------------------------------------------------- basic types

Key = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$")]
TemplateKey = Annotated[str, StringConstraints(pattern=_TEMPLATE_KEY_RE.pattern)]
NonEmptyText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
LanguageCode = Annotated[str, StringConstraints(pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")]


def _require_languages(value: dict[str, str]) -> dict[str, str]:
    missing = [lang for lang in REQUIRED_LANGUAGES if lang not in value]
    if missing:
        raise PydanticCustomError(
            "localized_missing",
            "missing translation(s): {missing}",
            {"missing": ", ".join(missing)},
        )
    return value


Localized = Annotated[dict[LanguageCode, NonEmptyText], AfterValidator(_require_languages)]
"""Text in several languages; ``es`` and ``en`` are always required and non-empty."""


def localized_text(value: Mapping[str, str], lang: str) -> str:
    """The text for ``lang`` ("es-CL" falls back to "es"), else Spanish."""
    if lang in value:
        return value[lang]
    base = lang.split("-", 1)[0]
    return value.get(base) or value["es"]


def _parse_clock(value: Any) -> Any:
    if isinstance(value, time):
        return value
    if isinstance(value, bool) or not isinstance(value, str):
        # PyYAML reads an unquoted 18:00 as the base-60 integer 1080; pydantic would then
        # accept it silently as 00:18:00.
        raise PydanticCustomError(
            "clock_time",
            'write the time as a quoted "HH:MM" string, e.g. "18:00" (got {got})',
            {"got": value},
        )
    match = re.fullmatch(r"([01]?\d|2[0-3]):([0-5]\d)", value.strip())
    if not match:
        raise PydanticCustomError(
            "clock_time",
            "expected a time \"HH:MM\" between 00:00 and 23:59, got '{got}'",
            {"got": value},
        )
    return time(int(match[1]), int(match[2]))


# Written back as "HH:MM", so a template dumped to JSON (what a programme keeps) reads again.
ClockTime = Annotated[time, BeforeValidator(_parse_clock),
                      PlainSerializer(lambda t: t.strftime("%H:%M"), when_used="json")]

Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]

DaysBefore = Annotated[int, Field(ge=0)]


class _Model(BaseModel):
    # strict: a YAML typo such as `min_sessions: "2"` or `recurring: 1` is an error, not
    # a silent coercion.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


# --------------------------------------------------------------------------- dates


def add_months(day: date, months: int) -> date:
    """``day`` moved by whole months, clamped to the target month's last day.

    2026-01-31 + 1 month is 2026-02-28 (and 2024-02-29 in a leap year).
    """
    index = day.year * 12 + (day.month - 1) + months
    year, month0 = divmod(index, 12)
    month = month0 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _reference_starts() -> tuple[date, ...]:
    # Offsets mix months (variable length) with weeks/days, so "a <= b" can depend on
    # the start date.  Before the 29th no clamping happens and the result depends only
    # on the month lengths crossed; these starts cover every month of a 4-year leap
    # cycle plus every clamping day, so a check that holds for all of them holds for
    # any start (century years aside).
    starts = []
    for year in range(2024, 2028):
        for month in range(1, 13):
            last = calendar.monthrange(year, month)[1]
            starts.extend(date(year, month, d) for d in (1, 28, 29, 30, 31) if d <= last)
    return tuple(starts)


_REFERENCE_STARTS = _reference_starts()


class Offset(_Model):
    """A distance from the programme start: whole months first (clamped), then weeks and days."""

    months: Annotated[int, Field(ge=0)] = 0
    weeks: Annotated[int, Field(ge=0)] = 0
    days: Annotated[int, Field(ge=0)] = 0

    def apply(self, start: date) -> date:
        return add_months(start, self.months) + timedelta(weeks=self.weeks, days=self.days)

    @property
    def _extra_days(self) -> int:
        return self.weeks * 7 + self.days

    def always_before(self, other: "Offset") -> bool:
        """True when this offset falls strictly before ``other`` whatever the start date."""
        # add_months never goes backwards, so fewer months and fewer days settles it.
        if self.months <= other.months and self._extra_days < other._extra_days:
            return True
        return all(self.apply(s) < other.apply(s) for s in _REFERENCE_STARTS)

    def never_after(self, other: "Offset") -> bool:
        """True when this offset never falls after ``other``, whatever the start date."""
        if self.months <= other.months and self._extra_days <= other._extra_days:
            return True
        return all(self.apply(s) <= other.apply(s) for s in _REFERENCE_STARTS)

    def __str__(self) -> str:
        parts = [
            f"{n} {unit}{'' if n == 1 else 's'}"
            for n, unit in ((self.months, "month"), (self.weeks, "week"), (self.days, "day"))
            if n
        ]
        return " ".join(parts) or "0 days"


# --------------------------------------------------------------------------- reminders


def _distinct_descending(values: list[int]) -> list[int]:
    dupes = _duplicates(values)
    if dupes:
        raise PydanticCustomError(
            "duplicate_days", "repeated value(s): {dupes}", {"dupes": ", ".join(map(str, dupes))}
        )
    return sorted(values, reverse=True)


DaysBeforeList = Annotated[list[DaysBefore], AfterValidator(_distinct_descending)]


class MeetingReminders(_Model):
    day_before_at: ClockTime = time(18, 0)
    hours_before: Annotated[int, Field(ge=0, le=24)] = 2


class NonResponderReminders(_Model):
    """When people who have not answered an invitation are asked again."""

    days_before: DaysBeforeList = Field(default_factory=lambda: [3, 1])


class MilestoneReminders(_Model):
    days_before: DaysBeforeList = Field(default_factory=lambda: [7, 1])


class QuietHours(_Model):
    """No message is sent in ``[start, end)``; the window may cross midnight."""

    start: ClockTime = time(21, 0)
    end: ClockTime = time(8, 0)

    @model_validator(mode="after")
    def _not_empty(self) -> "QuietHours":
        if self.start == self.end:
            _raise_problems([(("end",), "must differ from start")])
        return self

    def contains(self, moment: time) -> bool:
        if self.start < self.end:
            return self.start <= moment < self.end
        return moment >= self.start or moment < self.end


class WeeklyDigest(_Model):
    weekday: Weekday = "monday"
    at: ClockTime = time(9, 0)


class PickupNotices(_Model):
    """How families hear about their pickup dates.

    ``all_at_once`` sends every date of the period in one message; ``before_each``
    announces each pickup ``days_before`` it.  Both remind the evening before and on
    the morning of the pickup.
    """

    # before_each mirrors the "call before each delivery day" practice the bot replaces
    # and suits families who lose track of a long list of dates.
    policy: Literal["all_at_once", "before_each"] = "before_each"
    days_before: Annotated[int, Field(ge=1)] = 2
    evening_before_at: ClockTime = time(19, 0)
    morning_of_at: ClockTime = time(8, 0)


class Reminders(_Model):
    meeting: MeetingReminders = Field(default_factory=MeetingReminders)
    non_responders: NonResponderReminders = Field(default_factory=NonResponderReminders)
    milestones: MilestoneReminders = Field(default_factory=MilestoneReminders)
    quiet_hours: QuietHours = Field(default_factory=QuietHours)
    weekly_digest: WeeklyDigest = Field(default_factory=WeeklyDigest)
    pickup: PickupNotices = Field(default_factory=PickupNotices)

    @model_validator(mode="after")
    def _outside_quiet_hours(self) -> "Reminders":
        fixed_times: list[tuple[Loc, time]] = [
            (("meeting", "day_before_at"), self.meeting.day_before_at),
            (("weekly_digest", "at"), self.weekly_digest.at),
            (("pickup", "evening_before_at"), self.pickup.evening_before_at),
            (("pickup", "morning_of_at"), self.pickup.morning_of_at),
        ]
        quiet = self.quiet_hours
        _raise_problems([
            (loc, Msg("templates.problem.in_quiet_hours", {
                "time": f"{moment:%H:%M}", "start": f"{quiet.start:%H:%M}",
                "end": f"{quiet.end:%H:%M}"}))
            for loc, moment in fixed_times if quiet.contains(moment)
        ])
        return self


# --------------------------------------------------------------------------- programme


# A body's key is its row's kind (storage.models.Body, 40 characters), and each body is an
# option of a members' declaration (``options_from: bodies``; domain.forms.MAX_OPTIONS).
BODY_KEY_MAX = 40
MAX_BODIES = 40


class Body(_Model):
    """A participation body (Grupo Motor, Consejo Local, a water committee...)."""

    key: Annotated[Key, Field(max_length=BODY_KEY_MAX)]
    name: Localized
    description: Localized | None = None
    cadence_months: Annotated[int, Field(ge=1)]
    """The body meets at least once every this many months."""
    min_members: Annotated[int, Field(ge=1)] = 1


class MeetingKind(_Model):
    key: Key
    name: Localized
    body: Key | None = None
    """The body whose members are convened, if the meeting belongs to one."""


# A command every channel can offer: lower-case letters, digits and "_", at most 32 long
# (the strictest platform rule among the channels Convoca speaks).
COMMAND_RE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
FormCommand = Annotated[str, StringConstraints(pattern=COMMAND_RE.pattern)]
FormKey = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,31}$")]

# The document of the programme's intake (the forms organisations send to take part), and
# the form it is made from when its verifier names none: the Ecomercado's.
INTAKE_DOCUMENT = "fichas"
DEFAULT_INTAKE_FORM = "ficha_interes"
# The document of a body's members' declarations, and the form they sign when its verifier
# names none: the Ecomercado's, whose words are official.
DECLARATION_DOCUMENT = "member_declarations"
DEFAULT_DECLARATION_FORM = "declaracion_compromiso"
# The documents a verifier's ``form:`` may name the form of, and the form each reads
# without one.
FORM_DEFAULTS = {INTAKE_DOCUMENT: DEFAULT_INTAKE_FORM,
                 DECLARATION_DOCUMENT: DEFAULT_DECLARATION_FORM}


class Verifier(_Model):
    """A document the programme must be able to show (verificador)."""

    key: Key
    name: Localized
    description: Localized | None = None
    document: Key | None = None
    """Which of Convoca's documents proves it (``documents.registry``: attendance, fichas,
    minutes, plan, agreed_text...); none for a document made outside Convoca."""
    form: FormKey | None = None
    """For a ``fichas`` or ``member_declarations`` verifier: the form whose signed
    responses it lists, one of the template's ``forms:``. None reads as ``ficha_interes``
    (``declaracion_compromiso``), so templates and programmes made before a verifier could
    name its form keep theirs."""


class Activity(_Model):
    key: Key
    name: Localized
    description: Localized | None = None
    start: Offset
    end: Offset
    meeting_kind: Key | None = None
    min_sessions: Annotated[int, Field(ge=0)] = 0
    recurring: bool = False
    """Sessions repeat across the whole window (training) instead of closing it."""
    verifiers: list[Key] = Field(default_factory=list)

    @model_validator(mode="after")
    def _window(self) -> "Activity":
        problems: list[tuple[Loc, Problem]] = []
        if not self.start.always_before(self.end):
            problems.append(
                (("end",), f"must be after start ({self.end} is not after {self.start})")
            )
        if (self.min_sessions or self.recurring) and self.meeting_kind is None:
            problems.append(
                (("meeting_kind",), "required when min_sessions > 0 or recurring is true")
            )
        for dupe in _duplicates(self.verifiers):
            problems.append((("verifiers",), f"verifier '{dupe}' listed more than once"))
        _raise_problems(problems)
        return self


class Stage(_Model):
    number: Annotated[int, Field(ge=1)]
    key: Key
    name: Localized
    description: Localized | None = None
    activities: Annotated[list[Activity], Field(min_length=1)]


class ProgressReportSpec(_Model):
    """What a progress-report milestone is called and what proves it was delivered."""

    key: Key = "informe_avance"
    """Milestone keys are ``<key>.<month>``."""
    name: Localized = Field(
        default_factory=lambda: {"es": "Informe de avance", "en": "Progress report"}
    )
    stage: Annotated[int, Field(ge=1)] | None = None
    verifiers: list[Key] = Field(default_factory=list)




class FormUse(_Model):
    """A form the programme uses, and how a person opens it: ``/command`` typed in chat,
    and/or a ``button`` in the forms menu (``/formularios``). With neither, the form opens
    only from a button Convoca sends (an invitation's, a body's declaration)."""

    form: FormKey
    command: FormCommand | None = None
    button: Localized | None = None


class ProgramTemplate(_Model):
    key: TemplateKey
    name: Localized
    description: Localized | None = None
    duration_months: Annotated[int, Field(ge=1, le=240)]
    timezone: str
    # Where the programme runs (domain.countries): how its people's phone and identity
    # numbers are read; and the locale they read (its regional variant of their language).
    country: str = DEFAULT_COUNTRY
    locale: str = ""  # empty: the country's
    bodies: Annotated[list[Body], Field(max_length=MAX_BODIES)] = Field(default_factory=list)
    meeting_kinds: list[MeetingKind] = Field(default_factory=list)
    verifiers: list[Verifier] = Field(default_factory=list)
    stages: Annotated[list[Stage], Field(min_length=1)]
    progress_reports: list[Annotated[int, Field(ge=1)]] = Field(default_factory=list)
    """Months (counted from the start) at whose end a progress report is due."""
    progress_report: ProgressReportSpec = Field(default_factory=ProgressReportSpec)
    reminders: Reminders = Field(default_factory=Reminders)
    forms: list[FormUse] = Field(default_factory=list)
    """The forms the programme's people fill in; none when the section is left out."""

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise PydanticCustomError(
                "timezone",
                f"unknown time zone '{{zone}}' (use an IANA name such as '{DEFAULT_TIMEZONE}')",
                {"zone": value},
            ) from exc
        return value

    @field_validator("country")
    @classmethod
    def _known_country(cls, value: str) -> str:
        if value not in COUNTRIES:
            raise PydanticCustomError(
                "country", "unknown country '{country}' (one of: {known})",
                {"country": value, "known": ", ".join(COUNTRIES)})
        return value

    @field_validator("locale")
    @classmethod
    def _known_locale(cls, value: str) -> str:
        if value and value not in LOCALES:
            raise PydanticCustomError(
                "locale", "unknown locale '{locale}' (one of: {known})",
                {"locale": value, "known": ", ".join(LOCALES)})
        return value

    @model_validator(mode="before")
    @classmethod
    def _country_locale(cls, data: Any) -> Any:
        # Filled before validation (the model is frozen): the kept copy states it.
        if isinstance(data, dict) and not data.get("locale") and data.get(
                "country", DEFAULT_COUNTRY) in COUNTRIES:
            data = {**data, "locale": COUNTRIES[data.get("country", DEFAULT_COUNTRY)].locale}
        return data

    @model_validator(mode="after")
    def _consistent(self, info: ValidationInfo) -> "ProgramTemplate":
        context = info.context or {}
        problems: list[tuple[Loc, Problem]] = self._form_problems(context)
        problems += self._document_problems(context)
        if not context.get("kept"):
            problems += self._zone_problems()

        def unique(section: str, keys: list[Any]) -> None:
            for dupe in _duplicates(keys):
                idx = [i for i, k in enumerate(keys) if k == dupe][1]
                problems.append(((section, idx), Msg("templates.problem.declared_twice",
                                                     {"key": str(dupe)})))

        unique("bodies", [b.key for b in self.bodies])
        unique("meeting_kinds", [m.key for m in self.meeting_kinds])
        unique("verifiers", [v.key for v in self.verifiers])
        unique("stages", [s.number for s in self.stages])
        unique("stages", [s.key for s in self.stages])

        numbers = [s.number for s in self.stages]
        if numbers != sorted(numbers):
            problems.append((("stages",), Msg("templates.problem.stages_order")))

        bodies = {b.key for b in self.bodies}
        kinds = {m.key for m in self.meeting_kinds}
        verifiers = {v.key for v in self.verifiers}

        problems += self._intake_problems(info.context or {})

        for i, kind in enumerate(self.meeting_kinds):
            if kind.body is not None and kind.body not in bodies:
                problems.append((("meeting_kinds", i, "body"), Msg(
                    "templates.problem.undeclared_body", {"kind": kind.key, "body": kind.body})))

        # Activity keys are unique across stages so an activity can be named on its own
        # (in commands, exports and logs) without its stage.
        seen_activities: dict[str, tuple[int, int]] = {}
        duration = Offset(months=self.duration_months)
        for si, stage in enumerate(self.stages):
            for ai, act in enumerate(stage.activities):
                loc: Loc = ("stages", si, "activities", ai)
                if act.key in seen_activities:
                    first = seen_activities[act.key]
                    problems.append((loc + ("key",), Msg(
                        "templates.problem.activity_twice",
                        {"activity": act.key,
                         "other": f"stages[{first[0]}].activities[{first[1]}]"})))
                else:
                    seen_activities[act.key] = (si, ai)
                if act.meeting_kind is not None and act.meeting_kind not in kinds:
                    problems.append((loc + ("meeting_kind",), Msg(
                        "templates.problem.undeclared_meeting_kind",
                        {"activity": act.key, "kind": act.meeting_kind})))
                for vi, ver in enumerate(act.verifiers):
                    if ver not in verifiers:
                        problems.append((loc + ("verifiers", vi), Msg(
                            "templates.problem.undeclared_verifier",
                            {"activity": act.key, "verifier": ver})))
                if not act.end.never_after(duration):
                    problems.append((loc + ("end",), Msg(
                        "templates.problem.ends_after_programme",
                        {"activity": act.key, "months": str(self.duration_months)})))

        for i, month in enumerate(self.progress_reports):
            if month > self.duration_months:
                problems.append((("progress_reports", i), Msg(
                    "templates.problem.month_after_programme",
                    {"month": str(month), "months": str(self.duration_months)})))
        if _duplicates(self.progress_reports):
            problems.append((("progress_reports",), Msg("templates.problem.month_twice")))
        elif self.progress_reports != sorted(self.progress_reports):
            problems.append((("progress_reports",), Msg("templates.problem.months_order")))

        spec = self.progress_report
        if spec.stage is not None and spec.stage not in numbers:
            problems.append((("progress_report", "stage"), Msg(
                "templates.problem.undeclared_stage", {"stage": str(spec.stage)})))
        for vi, ver in enumerate(spec.verifiers):
            if ver not in verifiers:
                problems.append((("progress_report", "verifiers", vi), Msg(
                    "templates.problem.report_undeclared_verifier", {"verifier": ver})))

        _raise_problems(problems)
        return self

    def _form_problems(self, context: Mapping[str, Any]) -> list[tuple[Loc, Problem]]:
        # Which forms exist and which commands Convoca keeps for itself are known where the
        # template is loaded (the template library), not here: checked when given.
        known = context.get("forms")
        reserved = context.get("reserved_commands") or frozenset()
        problems: list[tuple[Loc, Problem]] = []
        seen_forms: set[str] = set()
        seen_commands: dict[str, int] = {}
        for i, use in enumerate(self.forms):
            if use.form in seen_forms:
                problems.append((("forms", i, "form"), Msg("templates.problem.form_twice",
                                                           {"form": use.form})))
            seen_forms.add(use.form)
            if known is not None and use.form not in known:
                problems.append((("forms", i, "form"), Msg("templates.problem.unknown_form", {
                    "form": use.form, "known": ", ".join(sorted(known)) or "-"})))
            if use.command is None:
                continue
            if use.command in reserved:
                problems.append((("forms", i, "command"), Msg(
                    "templates.problem.own_command", {"command": use.command})))
            elif use.command in seen_commands:
                problems.append((("forms", i, "command"), Msg(
                    "templates.problem.command_twice",
                    {"command": use.command, "other": f"forms[{seen_commands[use.command]}]"})))
            else:
                seen_commands[use.command] = i
        return problems

    def _intake_problems(self, context: Mapping[str, Any]) -> list[tuple[Loc, Problem]]:
        listed = [u.form for u in self.forms]
        problems: list[tuple[Loc, Problem]] = []
        for i, ver in enumerate(self.verifiers):
            if ver.form is not None and ver.document not in FORM_DEFAULTS:
                problems.append((("verifiers", i, "form"), Msg(
                    "templates.problem.form_only_for_fichas",
                    {"fichas": INTAKE_DOCUMENT, "declarations": DECLARATION_DOCUMENT})))
            elif ver.form is not None and ver.form not in listed:
                problems.append((("verifiers", i, "form"), Msg(
                    "templates.problem.form_not_listed",
                    {"form": ver.form, "listed": ", ".join(listed) or "-"})))
            elif (ver.document == INTAKE_DOCUMENT and ver.form is None
                  and DEFAULT_INTAKE_FORM not in listed and "forms" in context):
                # The mistake that leaves a programme's fichas document empty (with no forms
                # at all too): checked where a file is read, not on a programme's kept copy,
                # which must stay readable.
                problems.append((("verifiers", i), Msg(
                    "templates.problem.name_fichas_form",
                    {"listed": ", ".join(listed), "default": DEFAULT_INTAKE_FORM})
                    if listed else Msg("templates.problem.fichas_without_forms")))
        return problems

    @property
    def intake_forms(self) -> tuple[str, ...]:
        """The forms of the programme's intake, those its ``fichas`` verifiers are made
        from: a signed response to one is a ficha (it reaches the team, waits for the
        catastro, counts, is listed in the document). ``ficha_interes`` when no verifier
        says, as before templates could name it."""
        found: list[str] = []
        for ver in self.verifiers:
            key = ver.form or DEFAULT_INTAKE_FORM
            if ver.document == INTAKE_DOCUMENT and key not in found:
                found.append(key)
        return tuple(found) or (DEFAULT_INTAKE_FORM,)

    @property
    def declaration_forms(self) -> tuple[str, ...]:
        """The forms a body's members sign their declaration on (its ``member_declarations``
        verifiers'): sending one marks the signer's membership committed.
        ``declaracion_compromiso`` when no verifier says."""
        found: list[str] = []
        for ver in self.verifiers:
            key = ver.form or DEFAULT_DECLARATION_FORM
            if ver.document == DECLARATION_DOCUMENT and key not in found:
                found.append(key)
        return tuple(found) or (DEFAULT_DECLARATION_FORM,)

    def declaration_verifier(self) -> str | None:
        """The key of the programme's first ``member_declarations`` verifier, if any."""
        return next((v.key for v in self.verifiers if v.document == DECLARATION_DOCUMENT),
                    None)

    def verifier_form(self, key: str) -> str:
        """The form a ``fichas`` or ``member_declarations`` verifier's document is made
        from."""
        ver = self.verifier(key)
        return ver.form or FORM_DEFAULTS.get(ver.document or "", DEFAULT_INTAKE_FORM)

    def _document_problems(self, context: Mapping[str, Any]) -> list[tuple[Loc, Problem]]:
        # The documents Convoca makes, and the form each is made from, are the documents
        # package's (documents.registry) and are given by whoever loads the file.
        documents: Mapping[str, Iterable[str]] | None = context.get("documents")
        if documents is None:
            return []
        used = {u.form for u in self.forms}
        problems: list[tuple[Loc, Problem]] = []
        for i, ver in enumerate(self.verifiers):
            if ver.document is None:
                continue
            if ver.document not in documents:
                problems.append((("verifiers", i, "document"), Msg(
                    "templates.problem.no_document",
                    {"document": ver.document, "known": ", ".join(sorted(documents))})))
                continue
            # A verifier naming its form is made from that one instead (checked listed
            # by _intake_problems).
            for form in (() if ver.form is not None else documents[ver.document]):
                if form not in used:
                    problems.append((("verifiers", i, "document"), Msg(
                        "templates.problem.document_needs_form",
                        {"document": ver.document, "form": form})))
        return problems

    def _zone_problems(self) -> list[tuple[Loc, Problem]]:
        """A zone of another country than the programme's: every date its people read would
        be that other country's hour. Not judged again in a programme's kept copy (one made
        before this rule keeps working)."""
        if self.country not in COUNTRIES:
            return []  # said by the country's own check
        aliases = get_global("zone_aliases")
        zones = {COUNTRIES[self.country].timezone,
                 *get_global("territory_zones").get(self.country, ())}
        if aliases.get(self.timezone, self.timezone) in zones:
            return []
        return [(("timezone",), Msg("templates.problem.zone_of_another_country",
                                    {"zone": self.timezone, "country": self.country,
                                     "zones": ", ".join(sorted(zones))}))]

    def form_use(self, key: str) -> FormUse | None:
        return next((u for u in self.forms if u.form == key), None)

    # ----------------------------------------------------------------- lookups

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def body(self, key: str) -> Body:
        return _find(self.bodies, key, "body")

    def meeting_kind(self, key: str) -> MeetingKind:
        return _find(self.meeting_kinds, key, "meeting kind")

    def verifier(self, key: str) -> Verifier:
        return _find(self.verifiers, key, "verifier")

    def stage(self, number: int) -> Stage:
        for stage in self.stages:
            if stage.number == number:
                return stage
        raise KeyError(f"{self.key}: no stage {number}")

    def activity(self, key: str) -> tuple[Stage, Activity]:
        for stage in self.stages:
            for act in stage.activities:
                if act.key == key:
                    return stage, act
        raise KeyError(f"{self.key}: no activity '{key}'")

    # ----------------------------------------------------------------- calendar

    def milestones(self, start: date) -> list["PlannedMilestone"]:
        """Dated milestones for a programme starting on ``start``, by due date then key."""
        if isinstance(start, datetime) or not isinstance(start, date):
            # datetime is a date subclass and would leak times into every due date.
            raise TypeError(f"start must be a date, not {type(start).__name__}")
        out: list[PlannedMilestone] = []
        for stage in self.stages:
            for act in stage.activities:
                out.append(
                    PlannedMilestone(
                        key=f"s{stage.number}.{act.key}",
                        stage=stage.number,
                        kind="activity",
                        name=MappingProxyType(dict(act.name)),
                        starts=act.start.apply(start),
                        due=act.end.apply(start) - timedelta(days=1),
                        meeting_kind=act.meeting_kind,
                        min_sessions=act.min_sessions,
                        verifiers=tuple(act.verifiers),
                        recurring=act.recurring,
                    )
                )
        spec = self.progress_report
        for month in self.progress_reports:
            out.append(
                PlannedMilestone(
                    key=f"{spec.key}.{month}",
                    stage=spec.stage,
                    kind="progress_report",
                    name=MappingProxyType(dict(spec.name)),
                    starts=add_months(start, month - 1),
                    due=add_months(start, month) - timedelta(days=1),
                    meeting_kind=None,
                    min_sessions=0,
                    verifiers=tuple(spec.verifiers),
                )
            )
        out.sort(key=lambda m: (m.due, m.key))
        return out

    def end_date(self, start: date) -> date:
        """The programme's last day."""
        return add_months(start, self.duration_months) - timedelta(days=1)


def _find(items: Sequence[Any], key: str, what: str) -> Any:
    for item in items:
        if item.key == key:
            return item
    raise KeyError(f"no {what} '{key}'")


@dataclass(frozen=True, slots=True)
class PlannedMilestone:
    """One dated deadline of a programme instance, before the gestora moves anything."""

    key: str
    stage: int | None
    kind: Literal["activity", "progress_report"]
    name: Mapping[str, str] = field(hash=False)
    starts: date
    due: date
    meeting_kind: str | None
    min_sessions: int
    verifiers: tuple[str, ...]
    recurring: bool = False


# --------------------------------------------------------------------------- loading


# libyaml's parser is several times faster; the constructor (and so the safety and the
# duplicate-key check) is the same Python SafeConstructor either way.
_SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _UniqueKeyLoader(_SafeLoader):
    """SafeLoader that refuses a mapping key given twice (PyYAML keeps the last one)."""


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                "while constructing a mapping",
                node.start_mark,
                f"duplicate key {key!r}",
                key_node.start_mark,
            )
        seen.add(key)
    return loader.construct_mapping(node, deep=True)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _yaml_problem(exc: yaml.YAMLError) -> tuple[str, str, tuple[int, int] | None]:
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        what = ": ".join(p for p in (exc.context, exc.problem) if p) or str(exc)
        return "", f"invalid YAML: {what}", (mark.line + 1, mark.column + 1) if mark else None
    return "", f"invalid YAML: {exc}", None


@dataclass(frozen=True, slots=True)
class YamlDocument:
    """A YAML file's data and the node tree it was built from, to say where a field is."""

    data: Any
    node: yaml.Node | None


def read_yaml(text: str, source: str, error: type[TemplateError] = TemplateError
              ) -> YamlDocument:
    """Parse YAML text once with the duplicate-refusing loader, keeping its nodes."""
    loader = _UniqueKeyLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        path, msg, mark = _yaml_problem(exc)
        raise error(source, [(path, msg)], [mark]) from None
    finally:
        loader.dispose()
    return YamlDocument(data, node)


def _scalar_equals(node: yaml.Node, part: str | int) -> bool:
    return isinstance(node, yaml.ScalarNode) and node.value == str(part)


def node_mark(root: yaml.Node | None, loc: Iterable[str | int]) -> tuple[int, int] | None:
    """The 1-based line and column of the node at ``loc`` (a pydantic ``loc``); for a field
    that is missing, the mapping that lacks it; for a path that leads nowhere else (a
    validator's whole-list check), the deepest node reached."""
    node = root
    if node is None:
        return None
    for part in loc:
        nxt = None
        if isinstance(node, yaml.MappingNode):
            nxt = next((v for k, v in node.value if _scalar_equals(k, part)), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            nxt = node.value[part] if 0 <= part < len(node.value) else None
        if nxt is None:
            break
        node = nxt
    return node.start_mark.line + 1, node.start_mark.column + 1


def validate_yaml(model: type[BaseModel], doc: YamlDocument, source: str,
                  error: type[TemplateError] = TemplateError,
                  context: Mapping[str, Any] | None = None) -> Any:
    """``model`` validated from a document, each problem at the line of its node."""
    if not isinstance(doc.data, Mapping):
        raise error(source, [("", f"expected a mapping at the top level, got "
                                  f"{type(doc.data).__name__}")],
                    [node_mark(doc.node, ())])
    try:
        return model.model_validate(dict(doc.data), context=dict(context or {}))
    except ValidationError as exc:
        located = _located_problems(exc)
        raise error(source, [(_format_loc(loc), msg) for loc, msg in located],
                    [node_mark(doc.node, loc) for loc, _ in located]) from None


def parse_template(data: Any, source: str = "<template>", *,
                   context: Mapping[str, Any] | None = None) -> ProgramTemplate:
    """Validate already-parsed data (or YAML text) as a template.

    Raises :class:`TemplateError` naming ``source`` and each wrong field path (and, for
    YAML text, its line).  ``context`` may hold ``forms`` (the form keys there are) and
    ``reserved_commands`` (Convoca's own commands) to check the ``forms:`` section,
    ``documents`` (each document Convoca makes, with the forms it is made from) to check the
    verifiers' ``document:``, and ``kept`` for a programme's copy, judged as it was made.
    """
    doc = read_yaml(data, source) if isinstance(data, str) else YamlDocument(data, None)
    return validate_yaml(ProgramTemplate, doc, source, context=context)


def available_templates() -> list[str]:
    """Keys of the templates shipped with Convoca, sorted."""
    if not TEMPLATES_DIR.is_dir():
        return []
    return sorted(p.stem for p in TEMPLATES_DIR.glob("*.yaml") if _TEMPLATE_KEY_RE.match(p.stem))


def load_template(key: str | PathLike[str]) -> ProgramTemplate:
    """Load a shipped template by key (``"ecomercado-15m"``) or any YAML file by path.

    A ``PathLike`` or a string ending in ``.yaml``/``.yml`` is read as a path.  The
    template's ``key`` must equal the file name without extension, so keys stay the
    single name of a template everywhere.
    """
    if isinstance(key, PathLike) or str(key).endswith((".yaml", ".yml")):
        path = Path(key)
    else:
        if not _TEMPLATE_KEY_RE.match(key):
            raise TemplateError(str(key), [("", "not a valid template key")])
        path = TEMPLATES_DIR / f"{key}.yaml"
        if not path.is_file():
            known = ", ".join(available_templates()) or "none"
            raise TemplateError(str(path), [("", f"no template '{key}' (available: {known})")])
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise TemplateError(source, [("", f"cannot read: {exc.strerror or exc}")]) from None
    template = parse_template(text, source)
    if template.key != path.stem:
        raise TemplateError(
            source, [("key", f"'{template.key}' must match the file name '{path.stem}'")]
        )
    return template


# --------------------------------------------------------------------------- kept by a programme


def template_to_store(template: ProgramTemplate) -> str:
    """The validated template as a programme keeps it (canonical JSON text), so that the
    programme never again depends on the file it was made from."""
    return json.dumps(template.model_dump(mode="json"), ensure_ascii=False, sort_keys=True)


@lru_cache(maxsize=64)
def stored_template(text: str) -> ProgramTemplate:
    # Validating a template takes milliseconds and a programme's never changes: once each.
    return parse_template(json.loads(text), "<programme's template>", context={"kept": True})


def program_template(program: Any) -> ProgramTemplate:
    """The template of a programme (anything with ``template`` and ``template_key``): the
    content it kept when it was created; the shipped template of its key only for a row
    made before programmes kept theirs and whose template was not shipped then."""
    kept = getattr(program, "template", None)
    return stored_template(kept) if kept else load_template(program.template_key)


def program_template_or_none(program: Any) -> ProgramTemplate | None:
    """The programme's template, or None where it cannot be read (a listing still shows
    what it can, without the template's names)."""
    try:
        return program_template(program)
    except TemplateError:
        return None
