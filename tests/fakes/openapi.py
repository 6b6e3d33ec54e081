"""Meta's OpenAPI spec of the WhatsApp Business Cloud API, loaded once, patched where it
contradicts itself, and turned into JSON Schema validators.

The published spec does not validate its own examples. Each patch below says what is wrong
and why the change is what the API really accepts; ``load_spec(patched=False)`` keeps the
spec as published so a test can show a patch is needed.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import itertools
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator

__all__ = ["DEFAULT_SPEC_PATH", "PATCHES", "SPEC_ENV", "Spec", "load_spec", "resolve_spec_path"]

SPEC_ENV = "CONVOCA_WHATSAPP_SPEC"
DEFAULT_SPEC_PATH = (Path(__file__).resolve().parents[3]
                     / "shared/specs/whatsapp-business-messaging-api_v23.0.yaml")
_ROOT = "urn:whatsapp-cloud-api"
_SCHEMAS = "#/components/schemas/"


def resolve_spec_path(path: str | os.PathLike[str] | None = None) -> Path:
    if path is not None:
        return Path(path)
    env = os.environ.get(SPEC_ENV)
    return Path(env) if env else DEFAULT_SPEC_PATH


# ---------------------------------------------------------------------------
# Loading: the YAML is 30k lines (half a second even with libyaml); the suite starts many
# processes, so the parsed document is kept as JSON next to the temp files, keyed by the
# file's content hash, and read back in a few milliseconds.
# ---------------------------------------------------------------------------


def _read_yaml(path: Path) -> dict[str, Any]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with path.open(encoding="utf-8") as fh:
        doc = yaml.load(fh, Loader=loader)
    # Through JSON so the document holds what an HTTP body can: YAML's integer keys
    # (`200:`) become strings, an unquoted date its text.
    return json.loads(json.dumps(doc, default=str))


@cache
def _document(path: Path) -> dict[str, Any]:
    raw = path.read_bytes()
    digest = hashlib.sha256(raw).hexdigest()[:24]
    cached = Path(tempfile.gettempdir()) / f"convoca-openapi-{digest}.json"
    try:
        return json.loads(cached.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        pass
    doc = _read_yaml(path)
    try:
        tmp = cached.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(doc), encoding="utf-8")
        os.replace(tmp, cached)
    except OSError:  # a read-only temp dir costs the next process half a second, no more
        pass
    return doc


# ---------------------------------------------------------------------------
# Patches. Each takes the components' schemas (a private deep copy) and changes them.
# ---------------------------------------------------------------------------


def _walk(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def _incoming_messages(s: dict[str, Any]) -> None:
    """Webhook messages (``IncomingMessage``) are built on the *outgoing* schemas and their
    base (``BaseMessageProperties``: messaging_product, recipient_type and ``to`` required,
    ``from``/``id``/``timestamp`` unknown), and the outgoing ``additionalProperties: false``
    forbids what an inbound carries (an image's ``mime_type`` and ``sha256``, a location's
    ``url``). Every webhook example fails. Each inbound type gets its own copy on an inbound
    base, open to fields Meta adds (a receiver must tolerate them anyway)."""
    s["IncomingMessageBase"] = {
        "type": "object",
        "required": ["from", "id", "timestamp", "type"],
        "properties": {
            "from": {"type": "string"}, "id": {"type": "string"},
            "timestamp": {"type": "string", "pattern": "^[0-9]+$"}, "type": {"type": "string"},
            "context": {"type": "object"}, "referral": {"type": "object"},
            "errors": {"type": "array", "items": {"$ref": _SCHEMAS + "ErrorObject"}},
        },
    }
    base_ref = _SCHEMAS + "BaseMessageProperties"
    incoming = s["IncomingMessage"]
    renamed: dict[str, str] = {}
    for target in set(incoming["discriminator"]["mapping"].values()):
        name = target.removeprefix(_SCHEMAS)
        copy_name = "Incoming" + name if not name.startswith("Incoming") else name + "In"
        schema = copy.deepcopy(s[name])
        for node in _walk(schema):
            if node.get("$ref") == base_ref:
                node["$ref"] = _SCHEMAS + "IncomingMessageBase"
            if node.get("additionalProperties") is False:
                del node["additionalProperties"]
            if node.get("type") == "string" and isinstance(node.get("example"), int | float):
                node["type"] = "number"  # location's latitude/longitude, see _coordinates
        s[copy_name] = schema
        renamed[target] = _SCHEMAS + copy_name
    mapping = incoming["discriminator"]["mapping"]
    for key, target in mapping.items():
        mapping[key] = renamed[target]
    incoming["oneOf"] = [{"$ref": renamed[b["$ref"]]} for b in incoming["oneOf"]]
    # Unsupported inbounds carry errors as {code, title, message, error_data} (the spec's own
    # example); ErrorObject requires a `type` no webhook sends.
    s["ErrorObject"]["required"] = ["code"]
    # A list reply names the row's description only when the row had one: the app chose
    # (rows of people's names have none), and Meta cannot echo what was never sent.
    s["InteractiveListReplyContent"]["properties"]["list_reply"]["required"] = [
        "id", "title"]


def _language_policy(s: dict[str, Any]) -> None:
    """``LanguageObject.policy`` is required, yet every template example omits it and Meta's
    reference calls it optional (only "deterministic" exists)."""
    s["LanguageObject"]["required"] = ["code"]


def _button_index(s: dict[str, Any]) -> None:
    """The template button ``index`` pattern ``^[2-6, 11-14]$`` is a character class (one of
    2-6, comma, space, 1, 4): "0", the first button of every template, fails. The description
    says 0-9; Meta also takes it as a number (the catalog example sends 0)."""
    fixed = {"type": ["string", "integer"], "pattern": "^[0-9]$", "minimum": 0, "maximum": 9}
    for name in ("TemplateComponent", "ButtonComponent"):
        for node in _walk(s[name]):
            props = node.get("properties")
            if isinstance(props, dict) and "index" in props:
                props["index"] = {**props["index"], **fixed}


def _coordinates(s: dict[str, Any]) -> None:
    """Location latitude and longitude are typed string while the examples (and Meta's
    reference) send numbers."""
    location = s["LocationMessage"]["allOf"][1]["properties"]["location"]["properties"]
    for key in ("latitude", "longitude"):
        location[key] = {**location[key], "type": "number"}


def _send_extras(s: dict[str, Any]) -> None:
    """Fields Meta documents for a send that the spec's message schema lacks: the
    ``biz_opaque_callback_data`` echoed in statuses (the spec shows it only on the calls API),
    and the read receipt (``status: read`` + ``message_id``), whose example is listed under
    this very operation but matches none of the message types."""
    s["BaseMessageProperties"]["properties"]["biz_opaque_callback_data"] = {
        "type": "string", "maxLength": 512}
    s["ReadReceipt"] = {
        "type": "object", "additionalProperties": False,
        "required": ["messaging_product", "status", "message_id"],
        "properties": {
            "messaging_product": {"const": "whatsapp"}, "status": {"const": "read"},
            "message_id": {"type": "string"},
            "typing_indicator": {"type": "object", "required": ["type"],
                                 "properties": {"type": {"const": "text"}}},
        },
    }
    s["SendRequest"] = {"if": {"required": ["status"]},
                        "then": {"$ref": _SCHEMAS + "ReadReceipt"},
                        "else": {"$ref": _SCHEMAS + "Message"}}


def _closed_allof(s: dict[str, Any]) -> None:
    """Each message type is ``allOf: [BaseMessageProperties, {additionalProperties: false,
    ...}]``: the closed half refuses the base's own fields (messaging_product, to...), so no
    message at all validates. The two halves are merged into one closed object (base
    properties and requirements plus the type's): unknown fields are still refused, and it is
    several times faster to check than ``unevaluatedProperties`` over the allOf."""
    for node in list(_walk(s)):
        parts = node.get("allOf")
        if not isinstance(parts, list) or not any(
                isinstance(p, dict) and p.get("additionalProperties") is False for p in parts):
            continue
        merged: dict[str, Any] = {"type": "object", "properties": {}, "required": [],
                                  "additionalProperties": False}
        for part in parts:
            if "$ref" in part:
                part = s[part["$ref"].removeprefix(_SCHEMAS)]
            for key, value in part.items():
                if key == "properties":
                    for prop, sub in value.items():  # the type's own word wins over the base's
                        merged["properties"][prop] = sub
                elif key == "required":
                    merged["required"] += [r for r in value if r not in merged["required"]]
                elif key not in ("type", "additionalProperties", "description"):
                    merged[key] = value
        del node["allOf"]
        node.update(merged)


def _optional_recipient_type(s: dict[str, Any]) -> None:
    """``recipient_type`` is required by the base, but the contact and test examples omit it
    and Meta's reference defaults it to "individual"."""
    base = s["BaseMessageProperties"]
    base["required"] = [r for r in base["required"] if r != "recipient_type"]


def _phone_types(s: dict[str, Any]) -> None:
    """A shared contact's phone ``type`` is limited to HOME/WORK, yet the spec's own webhook
    example has MOBILE and Meta's reference lists CELL, MAIN, IPHONE too."""
    s["PhoneObject"]["properties"]["type"] = {"type": "string"}


def _discriminators(s: dict[str, Any]) -> None:
    """JSON Schema ignores OpenAPI's ``discriminator``. Where it is the only link to the
    variants (a template's body parameters are checked only for a known ``type`` until the
    mapping is followed), and where a ``oneOf`` of a dozen types would answer "not valid under
    any of the given schemas", the mapping becomes if/then on the discriminating property.
    A variant built on its base (allOf [base, ...]) is pointed at a copy of the base without
    the discriminator, or it would refer back to itself forever."""
    for name in list(s):
        schema = s[name]
        for node in list(_walk(schema)):
            disc = node.get("discriminator")
            if not isinstance(disc, dict) or "mapping" not in disc:
                continue
            prop, mapping = disc["propertyName"], disc["mapping"]
            core_ref = None
            if node is schema:
                core = {k: v for k, v in copy.deepcopy(schema).items() if k != "discriminator"}
                s[name + "Core"] = core
                core_ref = _SCHEMAS + name + "Core"
            for target in set(mapping.values()):
                tname = target.removeprefix(_SCHEMAS)
                if core_ref and tname in s:
                    for part in s[tname].get("allOf", []):
                        if part.get("$ref") == _SCHEMAS + name:
                            part["$ref"] = core_ref
            node.pop("oneOf", None)
            node.pop("discriminator")
            node.setdefault("required", [])
            if prop not in node["required"]:
                node["required"] = [*node["required"], prop]
            node["allOf"] = [*node.get("allOf", []), *(
                {"if": {"properties": {prop: {"const": key}}, "required": [prop]},
                 "then": {"$ref": target}}
                for key, target in mapping.items())]
            node.setdefault("properties", {})[prop] = {
                **node.get("properties", {}).get(prop, {}), "enum": list(mapping)}


# Order matters: the inbound copies are made from the schemas as published (then opened);
# the closed types are merged before the discriminators point at them.
PATCHES: tuple[Callable[[dict[str, Any]], None], ...] = (
    _incoming_messages, _language_policy, _button_index, _coordinates, _send_extras,
    _optional_recipient_type, _phone_types, _closed_allof, _discriminators,
)


# ---------------------------------------------------------------------------
# The spec
# ---------------------------------------------------------------------------


class Spec:
    """Validators for the spec's named schemas (``components/schemas``), by name."""

    def __init__(self, doc: dict[str, Any], source: str = "<memory>") -> None:
        self.doc = doc
        self.source = source
        self.version = doc.get("info", {}).get("version", "?")
        # Imported here: jsonschema takes a third of a second to import, paid only by the
        # processes that build a spec, not by every one that imports the fakes.
        from jsonschema import Draft202012Validator
        from referencing import Registry, Resource
        from referencing.jsonschema import DRAFT202012

        self._validator_class = Draft202012Validator
        resource = Resource.from_contents(doc, default_specification=DRAFT202012)
        self._registry = Registry().with_resource(_ROOT, resource)
        self._validators: dict[Any, Draft202012Validator] = {}

    @property
    def schemas(self) -> dict[str, Any]:
        return self.doc["components"]["schemas"]

    @functools.cached_property
    def length_bounds(self) -> tuple[int, ...]:
        """Every maxLength and minLength in the schemas: two strings that fall between the
        same two bounds get the same verdict wherever only their length is checked."""
        return tuple(sorted({n[key] for n in _walk(self.schemas)
                             for key in ("maxLength", "minLength") if isinstance(n.get(key), int)}))

    def validator(self, name: str) -> Draft202012Validator:
        validator = self._validators.get(name)
        if validator is None:
            if name not in self.schemas:
                raise KeyError(f"no schema {name!r} in {self.source}")
            validator = self._validator_class({"$ref": f"{_ROOT}{_SCHEMAS}{name}"},
                                              registry=self._registry)
            self._validators[name] = validator
        return validator

    def errors(self, name: str, instance: Any, limit: int = 5) -> list[str]:
        """What is wrong with ``instance`` as a ``name``, most specific first ([] = valid)."""
        out = []
        for err in self.validator(name).iter_errors(instance):
            leaf = _deepest(err)
            where = "".join(f"[{p!r}]" if isinstance(p, int) else f".{p}"
                            for p in leaf.absolute_path) or "(top)"
            out.append(f"{name}{where}: {leaf.message}")
            if len(out) >= limit:
                break
        return out

    def request_errors(self, path: str, method: str, body: Any, limit: int = 5) -> list[str]:
        """What is wrong with ``body`` as the JSON request body of an operation."""
        key = (path, method)
        validator = self._validators.get(key)
        if validator is None:
            pointer = "/".join(p.replace("~", "~0").replace("/", "~1") for p in (
                "paths", path, method, "requestBody", "content", "application/json", "schema"))
            validator = self._validator_class({"$ref": f"{_ROOT}#/{pointer}"},
                                              registry=self._registry)
            self._validators[key] = validator
        return [f"{method.upper()} {path}: {_deepest(e).message}"
                for e in itertools.islice(validator.iter_errors(body), limit)]

    def operation(self, path: str, method: str) -> dict[str, Any]:
        return self.doc["paths"][path][method]

    def examples(self, path: str, method: str = "post",
                 content_type: str = "application/json") -> dict[str, Any]:
        """The request-body examples of one operation, by their title."""
        body = self.operation(path, method).get("requestBody", {}).get("content", {})
        return {k: v["value"] for k, v in body.get(content_type, {}).get("examples", {}).items()}


def _deepest(err: Any) -> Any:
    # A failing if/then or oneOf nests the real reason; the longest path is the one to show.
    while err.context:
        err = max(err.context, key=lambda e: len(e.absolute_path))
    return err


@cache
def _spec(path: Path, patched: bool) -> Spec:
    doc = _document(path)
    if patched:
        doc = {**doc, "components": {**doc["components"],
                                     "schemas": copy.deepcopy(doc["components"]["schemas"])}}
        for patch in PATCHES:
            patch(doc["components"]["schemas"])
    return Spec(doc, str(path))


def load_spec(path: str | os.PathLike[str] | None = None, *, patched: bool = True) -> Spec:
    """The spec (once per path and process; read-only, so shared)."""
    return _spec(resolve_spec_path(path).resolve(), patched)
