"""The programme templates and forms an installation offers: those shipped with Convoca and
those of the folder ``TEMPLATES_DIR`` names, read and validated once at start.

The folder holds programme templates as ``*.yaml`` and forms as ``forms/*.yaml``; each
file's key is its name.  A key that a shipped template or form already has is an error: the
name means one thing everywhere, and a shipped one is never replaced silently (copy it under
a new name to change it).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any

from domain.forms import FORMS_DIR, Form, FormError
from domain.program_templates import (
    TEMPLATES_DIR,
    ProgramTemplate,
    TemplateError,
    YamlDocument,
    node_mark,
    read_yaml,
    validate_yaml,
)
from locales import Msg

__all__ = ["FORMS_FOLDER", "TemplateLibrary", "kind_of", "read_file"]

FORMS_FOLDER = "forms"
# A form's definition says what it asks; a template's, its stages.
_FORM_FIELDS = frozenset({"questions", "receipt_prefix"})


def kind_of(doc: YamlDocument) -> str:
    """``"form"`` or ``"template"``, told apart by what the file holds."""
    data = doc.data
    if isinstance(data, Mapping) and _FORM_FIELDS & set(data) and "stages" not in data:
        return "form"
    return "template"


def read_file(path: Path, error: type[TemplateError] = TemplateError) -> YamlDocument:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise error(str(path), [("", Msg("templates.problem.cannot_read",
                                         {"reason": str(exc.strerror or exc)}))]) from None
    return read_yaml(text, str(path), error)


def _named_as_file(obj: Any, doc: YamlDocument, path: Path,
                   error: type[TemplateError]) -> None:
    if obj.key != path.stem:
        raise error(str(path), [("key", Msg("templates.problem.key_not_file_name",
                                            {"key": obj.key, "name": path.stem}))],
                    [node_mark(doc.node, ("key",))])


def load_form_file(path: Path, doc: YamlDocument | None = None) -> Form:
    doc = doc or read_file(path, FormError)
    form = validate_yaml(Form, doc, str(path), FormError)
    _named_as_file(form, doc, path, FormError)
    return form


def load_template_file(path: Path, *, forms: Iterable[str],
                       reserved_commands: Iterable[str] = (),
                       documents: Mapping[str, Iterable[str]] | None = None,
                       doc: YamlDocument | None = None) -> ProgramTemplate:
    """``documents``: each document Convoca makes and the forms it is made from
    (``documents.verificadores.made_from``), which only the caller may import."""
    doc = doc or read_file(path)
    template = validate_yaml(ProgramTemplate, doc, str(path), context={
        "forms": frozenset(forms), "reserved_commands": frozenset(reserved_commands),
        "documents": documents})
    _named_as_file(template, doc, path, TemplateError)
    return template


def _yaml_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("*.yaml") if p.is_file()) if folder.is_dir() else []


def _clash(path: Path, key: str, error: type[TemplateError]) -> TemplateError:
    doc = read_file(path, error)
    return error(str(path), [("key", Msg("templates.shipped_name", {"name": key}))],
                 [node_mark(doc.node, ("key",))])


@dataclass(frozen=True)
class TemplateLibrary:
    templates: Mapping[str, ProgramTemplate]
    forms: Mapping[str, Form]
    folder: Path | None = None
    reserved_commands: frozenset[str] = frozenset()
    documents: Mapping[str, tuple[str, ...]] | None = None
    sources: Mapping[str, str] = field(default_factory=dict)  # key -> file, for messages

    @classmethod
    def load(cls, folder: str | PathLike[str] | None = None, *,
             reserved_commands: Iterable[str] = (),
             documents: Mapping[str, Iterable[str]] | None = None,
             shipped_templates: Path = TEMPLATES_DIR,
             shipped_forms: Path = FORMS_DIR) -> TemplateLibrary:
        """Every shipped template and form, then the folder's; the first file that is wrong
        raises its :class:`TemplateError` (a :class:`FormError` for a form)."""
        reserved = frozenset(reserved_commands)
        made = None if documents is None else {k: tuple(v) for k, v in documents.items()}
        own = Path(folder) if folder else None
        if own is not None and not own.is_dir():
            raise TemplateError(str(own), [("", Msg("templates.problem.not_a_folder"))])
        forms: dict[str, Form] = {}
        sources: dict[str, str] = {}
        for path in _yaml_files(shipped_forms):
            forms[path.stem] = load_form_file(path)
        if own is not None:
            for path in _yaml_files(own / FORMS_FOLDER):
                if path.stem in forms:
                    raise _clash(path, path.stem, FormError)
                forms[path.stem] = load_form_file(path)
                sources[f"form:{path.stem}"] = str(path)
        templates: dict[str, ProgramTemplate] = {}
        for path in _yaml_files(shipped_templates):
            templates[path.stem] = load_template_file(path, forms=forms,
                                                      reserved_commands=reserved,
                                                      documents=made)
        if own is not None:
            for path in _yaml_files(own):
                if path.stem in templates:
                    raise _clash(path, path.stem, TemplateError)
                templates[path.stem] = load_template_file(path, forms=forms,
                                                          reserved_commands=reserved,
                                                          documents=made)
                sources[path.stem] = str(path)
        return cls(templates, forms, own, reserved, made, sources)

    def keys(self) -> list[str]:
        return sorted(self.templates)

    def is_path(self, key: str | PathLike[str]) -> bool:
        return isinstance(key, PathLike) or str(key).endswith((".yaml", ".yml"))

    def template(self, key: str | PathLike[str]) -> ProgramTemplate:
        """A template by key, or read from a file (``x.yaml``) against the library's forms
        and those in a ``forms/`` folder beside it."""
        if not self.is_path(key):
            if key not in self.templates:
                raise TemplateError(str(key), [("", Msg("templates.problem.no_template", {
                    "key": str(key), "known": ", ".join(self.keys())}))])
            return self.templates[str(key)]
        path = Path(key)
        return load_template_file(path, forms=self.forms_beside(path),
                                  reserved_commands=self.reserved_commands,
                                  documents=self.documents)

    def forms_beside(self, path: Path) -> dict[str, Form]:
        """The library's forms and those of the ``forms/`` folder beside a template file."""
        found = dict(self.forms)
        beside = path.parent / FORMS_FOLDER
        if self.folder is not None and path.parent.resolve() == self.folder.resolve():
            return found
        for form_path in _yaml_files(beside):
            form = load_form_file(form_path)
            if form.key in found and found[form.key] != form:
                raise _clash(form_path, form.key, FormError)
            found[form.key] = form
        return found

    def forms_of(self, template: ProgramTemplate,
                 available: Mapping[str, Form] | None = None) -> dict[str, Form]:
        """The forms a template names, to be kept with the programme made from it."""
        available = self.forms if available is None else available
        missing = [u.form for u in template.forms if u.form not in available]
        if missing:
            raise TemplateError(template.key, [
                ("forms", Msg("templates.problem.no_form", {"key": key})) for key in missing])
        return {u.form: available[u.form] for u in template.forms}
