"""WhatsApp message templates: the approved messages that may reach someone outside the 24-hour
window. They are data (``locales/whatsapp_templates.yaml``), each carrying one catalog message
(its key) with that message's parameters flattened into ``{{1}}..{{n}}``, and quick replies
whose payload is the notice's own signed action, so a tap arrives as the answer it stands for.

Loading refuses a file Meta would refuse (or that would fail at send time with 132000/132012/
132018), naming the template and the field, so a mistake shows at start and in the tests
rather than as a family that never got its date."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from locales import DEFAULT, LOCALES_DIR, SUPPORTED, Catalogs, placeholders
from services.messages import Outgoing

PATH = LOCALES_DIR / "whatsapp_templates.yaml"

# Meta's limits for a template (see ../shared/whatsapp.md).
NAME = re.compile(r"[a-z0-9_]{1,512}")
BODY_CHARS = 1024
FOOTER_CHARS = 60
BUTTON_CHARS = 20
QUICK_REPLIES = 10
CATEGORIES = ("UTILITY", "MARKETING", "AUTHENTICATION")
# A parameter's share of the body: the body with its parameters must stay within BODY_CHARS,
# and no single parameter should crowd the others out.
PARAM_CHARS = 700
# Meta rejects a body with too many variables for its length; this many words of its own
# per variable has been enough (its rule is not published).
WORDS_PER_VARIABLE = 2

# Our locale -> the template language code. Meta has no es_CL: "es" is the neutral Spanish
# the catalogs are written in (es_ES, es_MX and es_AR are regional), and "en" the plain
# English (en_GB and en_US exist too). The code sent must be exactly the one approved, or
# the send fails with 132001: submission and sending both read it from here.
LANGUAGES = {"es": "es", "en": "en"}

_PLACEHOLDER = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
_BULLET = re.compile(r"^[•·\-*]\s+")
_SPACES = re.compile(r"[ \t\u00a0]{2,}")


class TemplateError(ValueError):
    """What is wrong with the templates, one problem a line, each naming template and field."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass(frozen=True)
class QuickReply:
    text: str
    option: int  # index in Outgoing.options() whose action becomes the payload


@dataclass(frozen=True)
class Wording:
    """A template in one language."""

    body: str
    footer: str | None
    buttons: tuple[QuickReply, ...]
    example: tuple[str, ...]


@dataclass(frozen=True)
class TemplateSpec:
    name: str
    category: str
    key: str
    params: tuple[str, ...]
    languages: Mapping[str, Wording]  # by our locale (es, en)

    @property
    def options(self) -> int:
        """How many of a notice's options this template needs (its buttons point into them)."""
        return max((b.option + 1 for w in self.languages.values() for b in w.buttons), default=0)


def language_for(locale: str | None) -> str:
    """The template language code for one of our locales (see LANGUAGES)."""
    return LANGUAGES.get(locale or DEFAULT, LANGUAGES[DEFAULT])


# --- loading ---------------------------------------------------------------------------------


def load(path: Path | None = None, catalogs: Catalogs | None = None) -> list[TemplateSpec]:
    """The templates in ``path`` (the shipped file by default), checked against Meta's rules
    and the catalogs; raises TemplateError listing every problem."""
    path = path or PATH
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise TemplateError([f"{path.name}: {exc}"]) from None
    return parse(data, catalogs if catalogs is not None else Catalogs())


def parse(data: Any, catalogs: Catalogs | None = None) -> list[TemplateSpec]:
    problems: list[str] = []
    if not isinstance(data, list):
        raise TemplateError(["the file must be a list of templates"])
    specs: list[TemplateSpec] = []
    seen: set[tuple[str, str]] = set()
    for i, entry in enumerate(data):
        where = f"template #{i + 1}"
        if not isinstance(entry, dict):
            problems.append(f"{where}: expected a mapping")
            continue
        name = entry.get("name")
        if isinstance(name, str):
            where = name
        spec = _spec(entry, where, catalogs, problems)
        if spec is None:
            continue
        for loc in spec.languages:
            if (spec.name, loc) in seen:
                problems.append(f"{where}: name: {spec.name!r} in {loc!r} is defined twice")
            seen.add((spec.name, loc))
        specs.append(spec)
    if problems:
        raise TemplateError(problems)
    return specs


def _spec(entry: dict[str, Any], where: str, catalogs: Catalogs | None,
          problems: list[str]) -> TemplateSpec | None:
    before = len(problems)
    unknown = set(entry) - {"name", "category", "key", "params", "languages"}
    if unknown:
        problems.append(f"{where}: unknown fields {sorted(unknown)}")
    name = entry.get("name")
    if not isinstance(name, str) or not NAME.fullmatch(name):
        problems.append(f"{where}: name: expected lowercase letters, digits and _ "
                        f"(at most 512), got {name!r}")
    category = entry.get("category", "UTILITY")
    if category not in CATEGORIES:
        problems.append(f"{where}: category: expected one of {', '.join(CATEGORIES)}, "
                        f"got {category!r}")
    key = entry.get("key")
    if not isinstance(key, str) or not key:
        problems.append(f"{where}: key: expected the catalog key of the message it carries")
        key = ""
    params = entry.get("params", [])
    if not isinstance(params, list) or not all(isinstance(p, str) and p for p in params):
        problems.append(f"{where}: params: expected a list of the message's parameter names")
        params = []
    if len(set(params)) != len(params):
        problems.append(f"{where}: params: a parameter is named twice")
    if catalogs is not None and key:
        _check_key(catalogs, key, params, where, problems)
    languages = entry.get("languages")
    wordings: dict[str, Wording] = {}
    if not isinstance(languages, dict):
        problems.append(f"{where}: languages: expected one entry per language "
                        f"({', '.join(SUPPORTED)})")
        languages = {}
    for loc in SUPPORTED:
        if loc not in languages:
            problems.append(f"{where}: languages: {loc!r} is missing")
    for loc, raw in languages.items():
        if loc not in SUPPORTED:
            problems.append(f"{where}: languages: {loc!r} is not one of {', '.join(SUPPORTED)}")
            continue
        wording = _wording(raw, f"{where} ({loc})", len(params), problems)
        if wording is not None:
            wordings[loc] = wording
    options = {tuple(b.option for b in w.buttons) for w in wordings.values()}
    if len(options) > 1:
        problems.append(f"{where}: buttons: every language must point at the same options "
                        f"in the same order")
    if len(problems) > before:
        return None
    return TemplateSpec(name, category, key, tuple(params), wordings)  # type: ignore[arg-type]


def _check_key(catalogs: Catalogs, key: str, params: list[str], where: str,
               problems: list[str]) -> None:
    for loc in SUPPORTED:
        if catalogs.raw(loc, key) is None:
            problems.append(f"{where}: key: {key!r} is not in the {loc} catalog")
            return
        named = set().union(*(placeholders(form) for form in catalogs.forms(loc, key)))
        for p in params:
            if p not in named:
                problems.append(f"{where}: params: {p!r} is not a parameter of {key!r} ({loc})")


def _wording(raw: Any, where: str, count: int, problems: list[str]) -> Wording | None:
    before = len(problems)
    if not isinstance(raw, dict):
        problems.append(f"{where}: expected body, footer, buttons and example")
        return None
    unknown = set(raw) - {"body", "footer", "buttons", "example"}
    if unknown:
        problems.append(f"{where}: unknown fields {sorted(unknown)}")
    body = raw.get("body")
    if not isinstance(body, str) or not body.strip():
        problems.append(f"{where}: body: expected the message's text")
        body = ""
    _check_body(body, where, count, problems)
    footer = raw.get("footer")
    if footer is not None and (not isinstance(footer, str) or not footer.strip()):
        problems.append(f"{where}: footer: expected text")
    elif footer is not None:
        if len(footer) > FOOTER_CHARS:
            problems.append(f"{where}: footer: {len(footer)} characters, at most {FOOTER_CHARS}")
        if _PLACEHOLDER.search(footer):
            problems.append(f"{where}: footer: a footer takes no variables")
    buttons = _buttons(raw.get("buttons", []), where, problems)
    example = raw.get("example", [])
    if not isinstance(example, list) or not all(isinstance(e, str | int) for e in example):
        problems.append(f"{where}: example: expected a list of sample values")
        example = []
    example = [str(e) for e in example]
    if len(example) != count:
        problems.append(f"{where}: example: {len(example)} values for {count} parameters")
    for n, value in enumerate(example, 1):
        if flat(value) != value:
            problems.append(f"{where}: example: value {n} must be one line without "
                            f"tabs or runs of spaces")
    if len(problems) > before:
        return None
    return Wording(body, footer, buttons, tuple(example))


def _check_body(body: str, where: str, count: int, problems: list[str]) -> None:
    found = _PLACEHOLDER.findall(body)
    numbers = [int(f) if f.isdigit() else None for f in found]
    if None in numbers:
        problems.append(f"{where}: body: variables are {{{{1}}}}..{{{{n}}}}, found "
                        f"{[f for f in found if not f.isdigit()]}")
        return
    if numbers != list(range(1, len(numbers) + 1)):
        problems.append(f"{where}: body: variables must be {{{{1}}}}..{{{{n}}}}, each once and "
                        f"in order; found {numbers}")
    if len(numbers) != count:
        problems.append(f"{where}: body: {len(numbers)} variables for {count} params")
    if len(body) > BODY_CHARS:
        problems.append(f"{where}: body: {len(body)} characters, at most {BODY_CHARS}")
    if not numbers:
        return
    pieces = _PLACEHOLDER.split(body)[::2]
    if not _has_words(pieces[0]):
        problems.append(f"{where}: body: must not start with a variable")
    if not _has_words(pieces[-1]):
        problems.append(f"{where}: body: must not end with a variable")
    if not all(p.strip() for p in pieces[1:-1]):
        problems.append(f"{where}: body: two variables side by side need something between")
    words = sum(len(re.findall(r"\w+", p)) for p in pieces)
    if words < WORDS_PER_VARIABLE * len(numbers) + 1:
        problems.append(f"{where}: body: too many variables for its length ({words} words "
                        f"for {len(numbers)} variables)")


def _has_words(text: str) -> bool:
    return re.search(r"[^\W\d_]", text) is not None


def _buttons(raw: Any, where: str, problems: list[str]) -> tuple[QuickReply, ...]:
    if not isinstance(raw, list):
        problems.append(f"{where}: buttons: expected a list of {{text, option}}")
        return ()
    if len(raw) > QUICK_REPLIES:
        problems.append(f"{where}: buttons: {len(raw)} quick replies, at most {QUICK_REPLIES}")
    out = []
    for n, b in enumerate(raw, 1):
        text = b.get("text") if isinstance(b, dict) else None
        option = b.get("option") if isinstance(b, dict) else None
        if not isinstance(text, str) or not text.strip():
            problems.append(f"{where}: buttons[{n}].text: expected the button's words")
            continue
        if len(text) > BUTTON_CHARS:
            problems.append(f"{where}: buttons[{n}].text: {text!r} has {len(text)} characters, "
                            f"at most {BUTTON_CHARS}")
        if not isinstance(option, int) or isinstance(option, bool) or option < 0:
            problems.append(f"{where}: buttons[{n}].option: expected the index of the "
                            f"notice's option it answers, got {option!r}")
            continue
        out.append(QuickReply(text, option))
    texts = [b.text for b in out]
    if len(set(texts)) != len(texts):
        problems.append(f"{where}: buttons: texts must be unique")
    return tuple(out)


# --- choosing and sending ----------------------------------------------------------------------


def for_message(specs: Iterable[TemplateSpec], out: Outgoing) -> TemplateSpec | None:
    """The template that carries this message: by its key, the one with the most of the
    message's options as buttons. A template whose buttons point at options the message has
    not (a reminder to a family that already answered) is never used for it."""
    if out.text is None:
        return None
    have = len(out.options())
    fitting = [s for s in specs if s.key == out.text.key and s.options <= have]
    return max(fitting, key=lambda s: s.options, default=None)


def flat(text: str, limit: int = PARAM_CHARS) -> str:
    """A parameter as Meta takes it: one line (each line of a list joined by " · ", its
    bullet dropped), no tabs, no runs of spaces, never empty, at most ``limit`` characters."""
    lines = (_BULLET.sub("", line.strip()) for line in text.splitlines())
    one = " · ".join(line for line in lines if line)
    one = _SPACES.sub(" ", one.replace("\t", " ")).strip()
    if len(one) > limit:
        one = one[: limit - 1].rstrip() + "…"
    return one or "-"


def param_renderer(catalogs: Catalogs, locale: str | None, zone: str | None
                   ) -> Callable[[Any], str]:
    """How the channel renders one of a message's parameters for ``message``: as it reads
    inside the catalog's text, in the reader's language and zone."""
    def render(value: Any) -> str:
        return catalogs.param(value, locale, zone)
    return render


def message(spec: TemplateSpec, language: str | None, out: Outgoing,
            render_param: Callable[[Any], str], pack: Callable[[str], str]) -> dict[str, Any]:
    """The Cloud API message (``type: template``) carrying ``out`` in our locale
    ``language`` (the default one when the template lacks it); ``render_param`` renders one
    Msg parameter in that language (see param_renderer), ``pack`` signs an option's action
    into the quick reply's payload."""
    if language not in spec.languages:
        language = DEFAULT if DEFAULT in spec.languages else next(iter(spec.languages))
    wording = spec.languages[language]
    assert out.text is not None  # for_message chose the spec by its text's key
    values = [render_param(out.text.params[p]) if p in out.text.params else ""
              for p in spec.params]
    components: list[dict[str, Any]] = []
    if values:
        components.append({"type": "body", "parameters": [
            {"type": "text", "text": text} for text in _fit(wording.body, values)]})
    options = out.options()
    for index, button in enumerate(wording.buttons):
        components.append({
            "type": "button", "sub_type": "quick_reply", "index": str(index),
            "parameters": [{"type": "payload", "payload": pack(options[button.option].action)}],
        })
    template: dict[str, Any] = {
        "name": spec.name,
        "language": {"code": language_for(language), "policy": "deterministic"},
    }
    if components:
        template["components"] = components
    return {"type": "template", "template": template}


def _fit(body: str, values: list[str]) -> list[str]:
    """The parameters flattened, the longest shortened so the whole body stays within
    BODY_CHARS (a short parameter keeps all of itself)."""
    texts = [flat(v) for v in values]
    room = BODY_CHARS - len(_PLACEHOLDER.sub("", body))
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    for n, i in enumerate(order):
        share = max(room // (len(order) - n), 1)
        if len(texts[i]) > share:
            texts[i] = flat(texts[i], max(share, 2))
        room -= len(texts[i])
    return texts


def submission(spec: TemplateSpec, language: str) -> dict[str, Any]:
    """The body of POST /{waba-id}/message_templates for one language of the template."""
    wording = spec.languages[language]
    body: dict[str, Any] = {"type": "BODY", "text": wording.body}
    if wording.example:
        body["example"] = {"body_text": [list(wording.example)]}
    components: list[dict[str, Any]] = [body]
    if wording.footer:
        components.append({"type": "FOOTER", "text": wording.footer})
    if wording.buttons:
        components.append({"type": "BUTTONS", "buttons": [
            {"type": "QUICK_REPLY", "text": b.text} for b in wording.buttons]})
    return {"name": spec.name, "language": language_for(language), "category": spec.category,
            "components": components}


# --- the business account ----------------------------------------------------------------------


def wanted(specs: Iterable[TemplateSpec]) -> list[tuple[TemplateSpec, str]]:
    """Every (template, our locale) the account should hold."""
    return [(spec, loc) for spec in specs for loc in spec.languages]


async def push(client: Any, specs: Iterable[TemplateSpec]) -> list[tuple[str, str]]:
    """Submit the templates the business account lacks (by name and language code); returns
    (name, code) of those submitted. One already there, whatever its status, is left alone:
    Meta keeps a rejected one's name, and editing an approved one sends it to review again."""
    have = {(t.get("name"), t.get("language")) for t in await client.templates()}
    sent = []
    for spec, loc in wanted(specs):
        code = language_for(loc)
        if (spec.name, code) in have:
            continue
        await client.create_template(submission(spec, loc))
        sent.append((spec.name, code))
    return sent


def status_rows(specs: Iterable[TemplateSpec], remote: list[dict[str, Any]]
                ) -> list[dict[str, Any]]:
    """What the account says of each template (the wa_templates rows): ours not there are
    MISSING, so a notice never waits on a template nobody pushed without it showing."""
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for t in remote:
        name, code = t.get("name"), t.get("language")
        if not name or not code:
            continue
        reason = t.get("rejected_reason")
        rows[(name, code)] = {
            "name": name, "language": code, "category": t.get("category") or "UTILITY",
            "status": str(t.get("status") or "PENDING").upper(),
            "platform_id": str(t["id"]) if t.get("id") is not None else None,
            "reason": None if reason in (None, "", "NONE") else str(reason)[:500],
        }
    for spec, loc in wanted(specs):
        code = language_for(loc)
        rows.setdefault((spec.name, code), {
            "name": spec.name, "language": code, "category": spec.category,
            "status": "MISSING", "platform_id": None, "reason": None})
    return [rows[k] for k in sorted(rows)]


async def sync(client: Any, specs: Iterable[TemplateSpec]) -> list[dict[str, Any]]:
    return status_rows(specs, await client.templates())
