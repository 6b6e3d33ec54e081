"""Forms as data: definitions in ``domain/forms/<key>.yaml``, and how an answer is read.

A form is a list of questions (text, number, choice, multi-choice, date, phone, email,
a person's identity number, an organisation's number, yes/no), each required or optional, with validation and an optional
condition on an earlier answer.  Question texts live in the YAML in every language
(``es`` and ``en`` required); the words around them (buttons, errors) are in the
``forms.po`` catalogs, so this module hands out :class:`locales.Msg` keys, never prose.

Answers are JSON in ``FormResponse.answers``: a key absent means "not answered yet",
``None`` means "skipped" (optional questions only).  Stored values:

=============  =====================================================================
text, email    the text, whitespace collapsed (email with a lower-case domain)
number         int (``integer: true``, the default) or float
choice         the option key
multi_choice   list of option keys, in the form's order
date           ISO date string ``YYYY-MM-DD``
phone          E.164 string
national_id    ``{"compact": "123456785", "formatted": "12.345.678-5"}`` (and rut)
org_tax_id     likewise: ``{"compact": "211003420017", "formatted": "21-100342-001-7"}``
yes_no         bool
=============  =====================================================================

A question may say ``updates: <field>``: when an organisation's form is sent, that answer
becomes the organisation's field in the catastro (kind, RUT, sector, members...).

Nothing here touches the database: responses, their versions and signatures are kept by
:mod:`storage.responses`.
"""

from __future__ import annotations

import json
import re
import string
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from functools import cached_property, lru_cache
from os import PathLike
from pathlib import Path
from typing import Annotated, Any, Literal

import phonenumbers
from babel.dates import get_day_names, get_month_names
from babel.numbers import format_decimal
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from domain.countries import COUNTRIES, DEFAULT_COUNTRY, Country
from domain.names import name_key, person_name
from domain.program_templates import (
    REQUIRED_LANGUAGES,
    FormUse,
    Localized,
    TemplateError,
    YamlDocument,
    _raise_problems,
    localized_text,
    program_template_or_none,
    read_yaml,
    validate_yaml,
)
from locales import BABEL_LOCALE, Day, Msg, Raw

__all__ = [
    "FORMS_DIR",
    "LEGACY_FORM_USES",
    "AnswerError",
    "Condition",
    "Declaration",
    "Form",
    "FormError",
    "Option",
    "Question",
    "available_forms",
    "display",
    "load_form",
    "name_key",
    "parse_answer",
    "parse_date",
    "parse_form",
    "program_form",
    "program_form_uses",
    "person_name",
]

FORMS_DIR = Path(__file__).parent / "forms"
_FORM_KEY_RE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")

# Button actions carry the response id and the question key and must fit 55 bytes
# (handlers/buttons.py): "fm:t:<id up to 10 digits>:<key>:<option index>" stays under it.
KEY_MAX = 24
MAX_OPTIONS = 40
TEXT_MAX_DEFAULT = 200
# The summary is one chat message, with room left for the text around it on the channel
# that takes the least (channels.LEAST.text_chars).
SUMMARY_BUDGET = 3500
# The question a form may ask the signer's RUT in without naming it in its declaration.
SIGNER_RUT_KEY = "representative_rut"
# A declaration may name the programme it is signed for: one form serves every programme
# that uses it (a body's members' declaration), so its text cannot name one.
PROGRAM_PLACEHOLDER = "program"


class FormError(TemplateError):
    """A form file that cannot be used; one ``file: path: problem`` line per problem."""


class AnswerError(ValueError):
    """An answer that does not fit the question; ``message`` says what is expected."""

    def __init__(self, message: Msg) -> None:
        super().__init__(message.key)
        self.message = message


# --------------------------------------------------------------------------- definition

Key = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$", max_length=KEY_MAX)]
FormKey = Annotated[str, StringConstraints(pattern=_FORM_KEY_RE.pattern)]
# Buttons carry an option's index, not its key: an option may take a template body's key.
OptionKey = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)]
QuestionType = Literal[
    "text", "number", "choice", "multi_choice", "date", "phone", "email", "rut",
    "national_id", "org_tax_id", "yes_no"
]
# The programme's national identity number (domain.countries): ``rut``, its first name,
# stays for the forms written in Chile.
NATIONAL_ID_TYPES = ("national_id", "rut")
# The number an organisation is registered under, as the programme's country writes it.
# ``rut`` reads as it where it keeps the organisation's RUT (``updates: rut``): Chile's RUT
# served both, so a form written for Chile asks a Uruguayan organisation for its RUT.
ORGANIZATION_NUMBER_TYPES = ("org_tax_id", "rut")
# Answers stored as ``{"compact", "formatted"}``.
NUMBER_TYPES = ("national_id", "rut", "org_tax_id")
Prefill = Literal[
    "organization_name", "person_name", "person_phone", "person_email", "representative_position"
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, populate_by_name=True)


class Option(_Model):
    key: OptionKey
    label: Localized


class Condition(_Model):
    """Ask a question only if an earlier answer ``equals`` a value or is ``in`` a list.

    For a multi-choice answer the condition holds when any chosen option matches."""

    question: Key
    equals: bool | str | None = None
    in_: list[str] | None = Field(default=None, alias="in")

    @model_validator(mode="after")
    def _one_test(self) -> Condition:
        if (self.equals is None) == (self.in_ is None):
            _raise_problems([((), "give exactly one of 'equals' or 'in'")])
        if self.in_ is not None and not self.in_:
            _raise_problems([(("in",), "list at least one value")])
        return self

    @property
    def values(self) -> list[Any]:
        return [self.equals] if self.equals is not None else list(self.in_ or [])

    def holds(self, answers: Mapping[str, Any]) -> bool:
        value = answers.get(self.question)
        if value is None:
            return False
        if isinstance(value, list):
            return any(v in value for v in self.values)
        # bool is an int in Python: keep True from matching a "1" or 1 by type.
        return any(type(v) is type(value) and v == value for v in self.values)


# Organisation fields a form may keep up to date, and the answers each takes.
ORGANIZATION_FIELDS: dict[str, tuple[str, ...]] = {
    "kind": ("choice", "text"), "rut": ORGANIZATION_NUMBER_TYPES, "sector": ("text",),
    "members_count": ("number",), "address": ("text",), "phone": ("phone",),
    "email": ("email",),
}
FIELD_WIDTH = {"kind": 40, "rut": 20, "sector": 120, "address": 200, "phone": 20,
                "email": 200}

_ONLY_FOR: dict[str, tuple[str, ...]] = {
    "format": ("text",),
    "min_length": ("text",),
    "min": ("number",),
    "max": ("number",),
    "integer": ("number",),
    "options": ("choice", "multi_choice"),
    "columns": ("choice", "multi_choice"),
    "min_selected": ("multi_choice",),
    "max_selected": ("multi_choice",),
    "dates": ("date",),
    "max_length": ("text", "email"),
    "options_from": ("choice",),
}


class Question(_Model):
    key: Key
    type: QuestionType
    label: Localized
    """Short name of the question, for the summary and exports ("Organización")."""
    prompt: Localized
    help: Localized | None = None
    required: bool = True
    when: Condition | None = None
    prefill: Prefill | None = None
    """Offer what Convoca already knows as a one-tap answer."""

    format: Literal["plain", "name", "full_name"] = "plain"
    min_length: Annotated[int, Field(ge=1)] | None = None
    max_length: Annotated[int, Field(ge=1, le=1000)] | None = None
    min: int | float | None = None
    max: int | float | None = None
    integer: bool = True
    options: list[Option] = Field(default_factory=list)
    columns: Annotated[int, Field(ge=1, le=4)] = 1
    min_selected: Annotated[int, Field(ge=1)] | None = None
    max_selected: Annotated[int, Field(ge=1)] | None = None
    dates: Literal["any", "past", "future"] = "any"
    options_from: Literal["bodies"] | None = None
    """``bodies``: the options become the bodies of the programme's template when a
    programme keeps its copy of the form; ``options`` are those of a programme that keeps
    none."""
    updates: str | None = None
    """The organisation's field this answer keeps up to date when an organisation's form is
    sent (``kind``, ``rut``, ``sector``, ``members_count``, ``address``, ``phone``,
    ``email``)."""

    @model_validator(mode="after")
    def _fits_its_type(self) -> Question:
        problems: list[tuple[tuple[str | int, ...], str]] = []
        for name, types in _ONLY_FOR.items():
            if name in self.model_fields_set and self.type not in types:
                problems.append(((name,), f"only for questions of type {' or '.join(types)}"))
        if self.type in ("choice", "multi_choice"):
            # A programme with a single body still has its members declare for it.
            fewest = 1 if self.options_from else 2
            if len(self.options) < fewest:
                problems.append((("options",), Msg("templates.problem.too_few",
                                                   {"min": str(fewest)})))
            if len(self.options) > MAX_OPTIONS:
                problems.append((("options",), f"at most {MAX_OPTIONS} options"))
            seen: set[str] = set()
            for i, opt in enumerate(self.options):
                if opt.key in seen:
                    problems.append((("options", i, "key"), f"option '{opt.key}' repeated"))
                seen.add(opt.key)
        if self.min is not None and self.max is not None and self.min > self.max:
            problems.append((("max",), "must not be below min"))
        if self.integer and any(isinstance(v, float) for v in (self.min, self.max)):
            problems.append((("min",), "an integer question needs integer limits"))
        if (self.min_length and self.max_length and self.min_length > self.max_length):
            problems.append((("max_length",), "must not be below min_length"))
        lo, hi = self.min_selected, self.max_selected
        if lo and hi and lo > hi:
            problems.append((("max_selected",), "must not be below min_selected"))
        if hi and hi > len(self.options):
            problems.append((("max_selected",), "more than the number of options"))
        if self.prefill and self.type in ("choice", "multi_choice", "yes_no"):
            problems.append((("prefill",), "prefill is for typed answers"))
        if self.updates is not None:
            types = ORGANIZATION_FIELDS.get(self.updates)
            if types is None:
                problems.append((("updates",), f"not an organisation field; one of "
                                               f"{', '.join(ORGANIZATION_FIELDS)}"))
            elif self.type not in types:
                problems.append((("updates",), f"'{self.updates}' takes answers of type "
                                               f"{' or '.join(types)}"))
        _raise_problems(problems)
        return self

    @property
    def text_limit(self) -> int:
        return self.max_length or TEXT_MAX_DEFAULT

    def option(self, key: str) -> Option | None:
        return next((o for o in self.options if o.key == key), None)

    @property
    def asks_organization_number(self) -> bool:
        """Whether the answer is an organisation's number rather than a person's."""
        return self.type == "org_tax_id" or (self.type == "rut" and self.updates == "rut")


class Declaration(_Model):
    """What signing means, and the answer the typed signature must match.

    ``text`` may name answers as ``{question_key}``; they are shown as answered.
    ``rut`` names the question (type rut) where the form already asks the signer's RUT;
    without it the signer gives their RUT right after the typed name."""

    text: Localized
    signer: Key
    rut: Key | None = None
    cosign: bool = True
    """Whether others (the organisation's other representatives) sign it too; a person's
    own declaration is theirs alone."""


class Form(_Model):
    key: FormKey
    title: Localized
    intro: Localized | None = None
    receipt_prefix: Annotated[str, StringConstraints(pattern=r"^[A-Z]{1,4}$")]
    questions: Annotated[list[Question], Field(min_length=1)]
    declaration: Declaration | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Form:
        problems: list[tuple[tuple[str | int, ...], str]] = []
        index: dict[str, int] = {}
        for i, q in enumerate(self.questions):
            if q.key in index:
                problems.append(
                    (("questions", i, "key"), f"question '{q.key}' already declared at "
                                              f"questions[{index[q.key]}]")
                )
                continue
            index[q.key] = i
            if q.when is not None:
                problems += [(("questions", i, "when") + loc, msg)
                             for loc, msg in self._condition_problems(q.when, index, i)]
        budget = sum(
            q.text_limit if q.type in ("text", "email") else 60 for q in self.questions
        ) + sum(max(len(t) for t in q.label.values()) + 6 for q in self.questions)
        if budget > SUMMARY_BUDGET:
            problems.append(
                (("questions",), f"answers could reach {budget} characters; the summary must "
                                 f"fit one message ({SUMMARY_BUDGET}): lower some max_length")
            )
        if self.declaration is not None:
            problems += self._declaration_problems(self.declaration, index)
        _raise_problems(problems)
        return self

    def _condition_problems(self, cond: Condition, index: dict[str, int],
                            at: int) -> list[tuple[tuple[str | int, ...], str]]:
        if cond.question not in index or index[cond.question] >= at:
            return [(("question",), f"'{cond.question}' is not a question asked before this one")]
        target = self.questions[index[cond.question]]
        loc: tuple[str | int, ...] = ("equals",) if cond.equals is not None else ("in",)
        if target.type == "yes_no":
            if not all(isinstance(v, bool) for v in cond.values):
                return [(loc, f"'{target.key}' is a yes/no question: compare with true or false")]
            return []
        if target.type in ("choice", "multi_choice"):
            known = {o.key for o in target.options}
            wrong = [v for v in cond.values if v not in known]
            if wrong:
                return [(loc, f"not an option of '{target.key}': {', '.join(map(str, wrong))}")]
            return []
        return [(("question",), f"conditions can only test choice, multi-choice or yes/no "
                                f"answers ('{target.key}' is {target.type})")]

    def _declaration_problems(self, decl: Declaration,
                              index: dict[str, int]) -> list[tuple[tuple[str | int, ...], str]]:
        problems: list[tuple[tuple[str | int, ...], str]] = []
        signer = self.questions[index[decl.signer]] if decl.signer in index else None
        if signer is None:
            problems.append((("declaration", "signer"), f"no question '{decl.signer}'"))
        elif signer.type != "text" or not signer.required or signer.when is not None:
            problems.append((("declaration", "signer"),
                             "must be a required text question asked to everyone"))
        if decl.rut is not None:
            asked = self.questions[index[decl.rut]] if decl.rut in index else None
            if asked is None or asked.type not in NATIONAL_ID_TYPES:
                problems.append((("declaration", "rut"),
                                 f"'{decl.rut}' is not a question of type rut or national_id"))
        for lang, text in decl.text.items():
            try:
                names = {n for _, n, _, _ in string.Formatter().parse(text) if n is not None}
            except ValueError as exc:
                problems.append((("declaration", "text", lang), f"bad placeholder: {exc}"))
                continue
            for name in sorted(names - set(index) - {PROGRAM_PLACEHOLDER}):
                problems.append((("declaration", "text", lang),
                                 f"{{{name}}} is not a question key (nor "
                                 f"{{{PROGRAM_PLACEHOLDER}}})"))
        return problems

    # ----------------------------------------------------------------- walking

    @cached_property
    def _by_key(self) -> dict[str, Question]:
        return {q.key: q for q in self.questions}

    def question(self, key: str) -> Question:
        try:
            return self._by_key[key]
        except KeyError:
            raise KeyError(f"{self.key}: no question '{key}'") from None

    def has(self, key: str | None) -> bool:
        return key is not None and key in self._by_key

    def applies(self, q: Question, answers: Mapping[str, Any]) -> bool:
        """Whether ``q`` is asked, given the answers so far (conditions chain)."""
        if q.when is None:
            return True
        target = self.question(q.when.question)
        return self.applies(target, answers) and q.when.holds(answers)

    def applicable(self, answers: Mapping[str, Any]) -> list[Question]:
        return [q for q in self.questions if self.applies(q, answers)]

    def next_unanswered(self, answers: Mapping[str, Any]) -> Question | None:
        """The first question still to ask; None when the form is complete."""
        return next((q for q in self.applicable(answers) if q.key not in answers), None)

    def previous(self, key: str, answers: Mapping[str, Any]) -> Question | None:
        """The question asked before ``key``, skipping those whose condition fails."""
        before = None
        for q in self.applicable(answers):
            if q.key == key:
                return before
            before = q
        return before

    def progress(self, key: str, answers: Mapping[str, Any]) -> tuple[int, int]:
        asked = self.applicable(answers)
        keys = [q.key for q in asked]
        return (keys.index(key) + 1 if key in keys else len(keys)), len(keys)

    def pruned(self, answers: Mapping[str, Any]) -> dict[str, Any]:
        """Only the answers to questions that apply (a RUT given before saying 'not
        formalised' goes)."""
        return {q.key: answers[q.key] for q in self.applicable(answers) if q.key in answers}

    def declaration_text(self, answers: Mapping[str, Any], locale: str, *, program: str
                         ) -> str:
        """What signing means, as answered; ``{program}`` is the name of the programme the
        form is signed for (a question of that key would win)."""
        assert self.declaration is not None
        values = {PROGRAM_PLACEHOLDER: program}
        values |= {q.key: plain_value(q, answers.get(q.key), locale) for q in self.questions}
        return localized_text(self.declaration.text, locale).format(**values)

    def for_bodies(self, bodies: Sequence[tuple[str, Mapping[str, str]]]) -> Form:
        """The form as a programme with these bodies (key, name) keeps it: a question with
        ``options_from: bodies`` offers them. Unchanged when there are none."""
        if not bodies or not any(q.options_from == "bodies" for q in self.questions):
            return self
        options = [{"key": key, "label": dict(name)} for key, name in bodies]
        data = form_to_store(self)
        for q in data["questions"]:
            if q.get("options_from") == "bodies":
                q["options"] = options
        # A template checked before its bodies were capped can still give bodies no form
        # takes: said as a form's problem (FormError), never a bare ValidationError.
        return parse_form(data, f"{self.key} (options_from: bodies)")

    @property
    def signer_rut_key(self) -> str | None:
        """The question holding the signer's RUT: the declaration's ``rut``, else a
        ``representative_rut`` question of type rut (forms written before ``rut`` existed)."""
        if self.declaration is None:
            return None
        if self.declaration.rut is not None:
            return self.declaration.rut
        q = self._by_key.get(SIGNER_RUT_KEY)
        return q.key if q is not None and q.type in NATIONAL_ID_TYPES else None

    def signer_rut(self, answers: Mapping[str, Any]) -> str | None:
        """The signer's RUT as the form already has it (formatted), if it was answered."""
        key = self.signer_rut_key
        value = answers.get(key) if key else None
        return value.get("formatted") if isinstance(value, dict) else None

    def texts(self) -> Iterable[tuple[str, Mapping[str, str]]]:
        """Every text a person reads, with where it is: for checks that all languages exist."""
        yield "title", self.title
        if self.intro:
            yield "intro", self.intro
        for q in self.questions:
            yield f"{q.key}.label", q.label
            yield f"{q.key}.prompt", q.prompt
            if q.help:
                yield f"{q.key}.help", q.help
            for o in q.options:
                yield f"{q.key}.{o.key}", o.label
        if self.declaration:
            yield "declaration", self.declaration.text


# --------------------------------------------------------------------------- loading


def parse_form(data: Any, source: str = "<form>") -> Form:
    """Validate YAML text or already-parsed data as a form; :class:`FormError` names
    ``source`` and each wrong field path (and, for YAML text, its line)."""
    doc = read_yaml(data, source, FormError) if isinstance(data, str) else YamlDocument(data, None)
    return validate_yaml(Form, doc, source, FormError)


def available_forms() -> list[str]:
    if not FORMS_DIR.is_dir():
        return []
    return sorted(p.stem for p in FORMS_DIR.glob("*.yaml") if _FORM_KEY_RE.match(p.stem))


def load_form(key: str | PathLike[str]) -> Form:
    """A shipped form by key (``"ficha_interes"``) or any YAML file by path; the form's
    ``key`` must equal the file name. A file is parsed again only when it changed."""
    if isinstance(key, PathLike) or str(key).endswith((".yaml", ".yml")):
        path = Path(key)
    else:
        if not _FORM_KEY_RE.match(key):
            raise FormError(str(key), [("", "not a valid form key")])
        path = FORMS_DIR / f"{key}.yaml"
        if not path.is_file():
            raise FormError(str(path), [("", Msg("templates.problem.unknown_form", {
                "form": key, "known": ", ".join(available_forms()) or "-"}))])
    try:
        stat = path.stat()
        seen = _PARSED.get(str(path))
        if seen is not None and seen[0] == (stat.st_mtime_ns, stat.st_size):
            return seen[1]
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise FormError(str(path), [("", Msg("templates.problem.cannot_read",
                                             {"reason": str(exc.strerror or exc)}))]) from None
    form = parse_form(text, str(path))
    if form.key != path.stem:
        raise FormError(str(path), [("key", f"'{form.key}' must match the file name "
                                            f"'{path.stem}'")])
    _PARSED[str(path)] = ((stat.st_mtime_ns, stat.st_size), form)
    return form


# Parsed files by path, with the version of the file they came from.
_PARSED: dict[str, tuple[tuple[int, int], Form]] = {}



# --------------------------------------------------------------------------- answers


def _clean(text: str) -> str:
    return " ".join(text.split())




_NAME_CHARS = re.compile(r"^[^\W\d_]+(?:[ '’.\-]+[^\W\d_]+)*\.?$")


def _parse_text(q: Question, text: str) -> str:
    value = _clean(text)
    if len(value) > q.text_limit:
        raise AnswerError(Msg("form.error.too_long", {"max": q.text_limit, "count": len(value)}))
    if not any(ch.isalnum() for ch in value):
        raise AnswerError(Msg("form.error.name" if q.format != "plain" else "form.error.letters"))
    if q.format != "plain":
        letters = sum(ch.isalpha() for ch in value)
        if letters < 2 or not _NAME_CHARS.match(value):
            raise AnswerError(Msg("form.error.name"))
        if q.format == "full_name" and len(value.split()) < 2:
            raise AnswerError(Msg("form.error.full_name"))
        value = person_name(value)
    if q.min_length and len(value) < q.min_length:
        raise AnswerError(Msg("form.error.too_short", {"min": q.min_length}))
    return value


_NUMBER = re.compile(r"(?<![\w.,])-?\d+(?:[.,]\d+)*")
_GROUPED = re.compile(r"\d{1,3}(?:\.\d{3})+|\d{1,3}(?:,\d{3})+")


def _limit(v: int | float) -> Any:
    return v if isinstance(v, int) else Raw(str(v))


# Words people put around a count ("unos 40", "40 personas", "más o menos 35"): with these
# the answer is still a count.
_AROUND_A_COUNT = frozenset("""
    unos unas uno una como aprox aproximadamente aproximado alrededor de del cerca mas menos
    o y al en somos son hay hasta casi personas persona socios socias socio socia
    integrantes integrante miembros miembro familias familia vecinos vecinas gente total
    about around approximately approx some roughly nearly almost people persons members
    member families or more less we are there
""".split())
# How many other words a count may carry after it ("40 adultos mayores") before the answer
# reads as something else.
_FREE_WORDS_AFTER = 2


def _mostly_not_a_count(text: str, token: str) -> bool:
    """Whether the text around the only number is something else that holds a number (an
    address, "Los Aromos 1456, Quilpué"; "Pasaje 12"), not a count with a few words: a
    word before the number or a capitalised word, unless it is one of the words people put
    around a count, or more than a couple of words after it."""
    before, _, after = text.partition(token)

    def words(part: str) -> list[str]:
        return re.findall(r"[^\W\d_]+", part)

    def known(word: str) -> bool:
        plain = "".join(ch for ch in unicodedata.normalize("NFKD", word)
                        if not unicodedata.combining(ch)).casefold()
        return plain in _AROUND_A_COUNT

    if re.search(r"[,#°º/]", after) and words(after):
        return True  # "1456, Quilpué", "12 #3": the number is part of an address
    if any(not known(w) for w in words(before)):
        return True
    unknown_after = [w for w in words(after) if not known(w)]
    return (len(unknown_after) > _FREE_WORDS_AFTER
            or any(w[:1].isupper() for w in unknown_after))


def _parse_number(q: Question, text: str) -> int | float:
    tokens = _NUMBER.findall(text)
    if len(tokens) != 1:
        raise AnswerError(Msg("form.error.number"))
    if _mostly_not_a_count(text, tokens[0]):
        raise AnswerError(Msg("form.error.number_in_words"))
    token = tokens[0]
    sign, digits = (-1, token[1:]) if token.startswith("-") else (1, token)
    value: int | float
    if digits.isdigit():
        value = int(digits)
    elif _GROUPED.fullmatch(digits) and (q.integer or "." in digits):
        value = int(re.sub(r"[.,]", "", digits))  # 1.200 is twelve hundred in Chile
    elif re.fullmatch(r"\d+[.,]\d+", digits):
        if q.integer:
            raise AnswerError(Msg("form.error.integer"))
        value = float(digits.replace(",", "."))
    else:
        raise AnswerError(Msg("form.error.number"))
    value *= sign
    lo, hi = q.min, q.max
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        if lo is not None and hi is not None:
            raise AnswerError(Msg("form.error.number_range", {"min": _limit(lo),
                                                              "max": _limit(hi)}))
        if lo is not None:
            raise AnswerError(Msg("form.error.number_min", {"min": _limit(lo)}))
        raise AnswerError(Msg("form.error.number_max", {"max": _limit(hi)}))  # type: ignore[arg-type]
    return value


def _month_words() -> dict[str, int]:
    words: dict[str, int] = {}
    for loc in BABEL_LOCALE.values():
        for width in ("wide", "abbreviated"):
            for n, name in get_month_names(width, locale=loc).items():
                words[name_key(name)] = n
    return words


def _weekday_words() -> set[str]:
    return {name_key(name) for loc in BABEL_LOCALE.values()
            for width in ("wide", "abbreviated")
            for name in get_day_names(width, locale=loc).values()}


_MONTHS = _month_words()
_WEEKDAYS = _weekday_words()
_FILLER = {"de", "del", "of", "the"}


def _month(word: str) -> int | None:
    if word in _MONTHS:
        return _MONTHS[word]
    # "sep", "agost", "febr": a beginning that names one month only is enough.
    found = {n for w, n in _MONTHS.items() if len(word) >= 3 and w.startswith(word)}
    return found.pop() if len(found) == 1 else None


def _year(text: str, today: date) -> int:
    y = int(text)
    if len(text) == 2:
        y += 2000 if 2000 + y <= today.year + 10 else 1900
    return y


def parse_date(text: str, today: date, dates: str = "any") -> date:
    """Dates as people in Chile write them: 07-04-2026, 7/4/2026, 2026-04-07, "7 de abril",
    "martes 7 de abril de 2026", "7 April 2026", "April 7". Numbers are day first."""
    raw = _clean(text).casefold()
    day = month = year = None
    if m := re.fullmatch(r"(\d{4})-(\d{1,2})-(\d{1,2})", raw):
        year, month, day = int(m[1]), int(m[2]), int(m[3])
    elif m := re.fullmatch(r"(\d{1,2})\s*[-/.]\s*(\d{1,2})(?:\s*[-/.]\s*(\d{2}|\d{4}))?", raw):
        day, month = int(m[1]), int(m[2])
        year = _year(m[3], today) if m[3] else None
    else:
        words = [w for w in name_key(raw).split() if w not in _FILLER]
        while words and words[0] in _WEEKDAYS:
            words.pop(0)
        nums = [w for w in words if w.isdigit()]
        names = [w for w in words if not w.isdigit()]
        if len(names) == 1 and 1 <= len(nums) <= 2 and (month := _month(names[0])):
            day = int(nums[0])
            if len(nums) == 2:
                if len(nums[1]) not in (2, 4):
                    raise AnswerError(Msg("form.error.date"))
                year = _year(nums[1], today)
        else:
            raise AnswerError(Msg("form.error.date"))
    inferred = year is None
    try:
        value = date(year or today.year, month, day)
    except ValueError:
        raise AnswerError(Msg("form.error.date_missing")) from None
    if inferred and dates == "future" and value < today:
        value = _next_year(value)
    elif inferred and dates == "past" and value > today:
        value = _next_year(value, -1)
    if dates == "future" and value < today:
        raise AnswerError(Msg("form.error.date_future"))
    if dates == "past" and value > today:
        raise AnswerError(Msg("form.error.date_past"))
    return value


def _next_year(d: date, step: int = 1) -> date:
    try:
        return d.replace(year=d.year + step)
    except ValueError:  # 29 February
        raise AnswerError(Msg("form.error.date_missing")) from None


_EMAIL = re.compile(r"^[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$")


def _parse_email(q: Question, text: str) -> str:
    value = text.strip()
    if len(value) > (q.max_length or 200):
        raise AnswerError(Msg("form.error.too_long", {"max": q.max_length or 200,
                                                      "count": len(value)}))
    if not _EMAIL.match(value) or ".." in value:
        raise AnswerError(Msg("form.error.email"))
    local, _, domain = value.partition("@")
    return f"{local}@{domain.lower()}"


def parse_rut(text: str, country: Country | None = None) -> dict[str, str]:
    """The programme's identity number (Chile's RUT unless ``country`` says otherwise), or
    the kind answer that names that country's document."""
    national_id = (country or COUNTRIES[DEFAULT_COUNTRY]).national_id
    compact, formatted = national_id.compact(text), national_id.format(text)
    if compact is None or formatted is None:
        raise AnswerError(Msg(national_id.form_wrong))
    return {"compact": compact, "formatted": formatted}


def parse_organization_number(text: str, country: Country | None = None) -> dict[str, str]:
    """An organisation's number as its programme's country writes it (Chile's RUT unless
    ``country`` says otherwise), or the kind answer that names it."""
    number = (country or COUNTRIES[DEFAULT_COUNTRY]).organization_number
    compact, formatted = number.compact(text), number.format(text)
    if compact is None or formatted is None:
        raise AnswerError(Msg(number.form_wrong))
    return {"compact": compact, "formatted": formatted}


def parse_answer(q: Question, text: str, *, today: date, country: Country | None = None
                 ) -> Any:
    """A typed answer as it is stored, or :class:`AnswerError` saying what is expected.

    Choice, multi-choice and yes/no questions are answered with buttons; typed text for
    them is matched against the button labels by the caller."""
    if not text or not text.strip():
        raise AnswerError(Msg("form.error.empty"))
    if q.type == "text":
        return _parse_text(q, text)
    if q.type == "number":
        return _parse_number(q, text)
    if q.type == "date":
        return parse_date(text, today, q.dates).isoformat()
    if q.type == "phone":
        where = country or COUNTRIES[DEFAULT_COUNTRY]
        phone = where.phone(text) if re.fullmatch(r"[\d\s()+.\-]{6,25}", text.strip()) else None
        if phone is None:
            raise AnswerError(Msg(where.phone_wrong))
        return phone
    if q.type == "email":
        return _parse_email(q, text)
    if q.asks_organization_number:
        return parse_organization_number(text, country)
    if q.type in NATIONAL_ID_TYPES:
        return parse_rut(text, country)
    raise AnswerError(Msg("form.error.use_buttons"))


def validate_stored(q: Question, value: Any, *, today: date, country: Country | None = None
                    ) -> Any:
    """Whether a known value (a prefill) would be accepted as an answer; None if not."""
    if value is None or value == "":
        return None
    try:
        return parse_answer(q, str(value), today=today, country=country)
    except AnswerError:
        return None


# --------------------------------------------------------------------------- display


def _format_phone(e164: str) -> str:
    try:
        return phonenumbers.format_number(phonenumbers.parse(e164, None),
                                          phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    except phonenumbers.NumberParseException:
        return e164


def display(q: Question, value: Any, locale: str) -> Msg:
    """An answer as people read it, still as a message so the catalogs render it."""
    if value is None:
        return Msg("form.skipped")
    if q.type == "yes_no":
        return Msg("form.yes" if value else "form.no")
    if q.type == "date":
        return Msg("form.value", {"value": Day(date.fromisoformat(value))})
    if q.type == "number" and isinstance(value, int):
        return Msg("form.value", {"value": value})
    return Msg("form.value", {"value": Raw(plain_value(q, value, locale))})


def plain_value(q: Question, value: Any, locale: str) -> str:
    """The answer as plain text for places that take no message (the declaration)."""
    if value is None:
        return ""
    if q.type in ("choice", "multi_choice"):
        keys = value if isinstance(value, list) else [value]
        labels = [localized_text(o.label, locale) for o in q.options if o.key in keys]
        return ", ".join(labels)
    if q.type in NUMBER_TYPES:
        return value["formatted"]
    if q.type == "phone":
        return _format_phone(value)
    if q.type == "number":
        return format_decimal(value, locale=BABEL_LOCALE.get(locale, BABEL_LOCALE["es"]))
    if q.type == "date":
        return _plain_date(date.fromisoformat(value), locale)
    return str(value)


def _plain_date(day: date, locale: str) -> str:
    """A date in figures as the reader's country writes it: Chile 07-12-2026, Uruguay
    7/12/2026 (English reads Chile's, as before there were variants)."""
    if locale == "es-UY":
        return f"{day.day}/{day.month}/{day.year}"
    return day.strftime("%d-%m-%Y")



def missing_languages(form: Form) -> list[str]:
    """Texts lacking a required language (the schema refuses them; kept for tests)."""
    return [f"{where}:{lang}" for where, text in form.texts()
            for lang in REQUIRED_LANGUAGES if not (text.get(lang) or "").strip()]


# --------------------------------------------------------------------------- kept by a programme

# What Convoca offered everyone before programmes kept their forms (/ficha, and the two
# forms its invitations' buttons open): what migration 0015 gave the programmes made then,
# and what a person sees while an installation has no programme yet.
LEGACY_FORM_USES: tuple[FormUse, ...] = (
    FormUse(form="ficha_interes", command="ficha",
            button={"es": "Ficha de interés", "en": "Interest form"}),
    FormUse(form="compromiso_participacion"),
    FormUse(form="declaracion_compromiso"),
)


def form_to_store(form: Form) -> dict[str, Any]:
    # Without defaults, so that reading it back sets only what the YAML set.
    return form.model_dump(mode="json", by_alias=True, exclude_defaults=True)


def forms_to_store(forms: Mapping[str, Form]) -> dict[str, Any]:
    """The forms a programme keeps (JSON by key), so that it never again depends on their
    files."""
    return {key: form_to_store(form) for key, form in forms.items()}


@lru_cache(maxsize=256)
def _stored_form(text: str) -> Form:
    return Form.model_validate(json.loads(text))


def program_form_uses(program: Any) -> list[FormUse]:
    """The forms a programme offers and how they open: its template's ``forms:`` section; for
    a programme made before programmes kept their forms, what Convoca offered then."""
    if getattr(program, "forms", None) is None:
        return list(LEGACY_FORM_USES)
    template = program_template_or_none(program)
    return list(template.forms) if template is not None else []


def program_form(program: Any, key: str) -> Form | None:
    """A form as the programme keeps it; the shipped one of that key only for a programme
    that keeps none (made before programmes kept their forms). None: not the programme's."""
    kept = getattr(program, "forms", None)
    if kept is None:
        if key not in {u.form for u in LEGACY_FORM_USES} and key not in available_forms():
            return None
        try:
            return load_form(key)
        except FormError:
            return None
    data = kept.get(key)
    if data is None:
        return None
    return _stored_form(json.dumps(data, sort_keys=True))
