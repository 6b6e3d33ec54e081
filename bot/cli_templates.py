"""`convoca template validate FILE ...`: a programme team checks its templates and forms
before an installation reads them, each problem at its line (docs/templates.md)."""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from pathlib import Path

from bot.config import Settings
from domain.forms import FORMS_DIR, FormError
from domain.program_templates import (
    TEMPLATES_DIR,
    TemplateError,
    YamlDocument,
    node_mark,
    read_yaml,
)
from domain.template_library import (
    FORMS_FOLDER,
    kind_of,
    load_form_file,
    load_template_file,
)
from locales import Catalogs, Msg

# The exit status: each file fine; a file with problems; a file that could not be read.
OK, PROBLEMS, UNREADABLE = 0, 1, 2


def register(sub: argparse._SubParsersAction) -> None:
    tpl = sub.add_parser("template", help="cli.help.template")
    tplsub = tpl.add_subparsers(dest="template_command", required=True)
    check = tplsub.add_parser("validate", help="cli.help.template_validate")
    check.add_argument("files", nargs="+", type=Path, help="cli.help.opt_template_files")


def reserved_commands() -> frozenset[str]:
    """Convoca's own chat commands, which no form may take."""
    from bot.app import assemble_router

    return frozenset(assemble_router().commands)


def _stems(folder: Path) -> set[str]:
    return {p.stem for p in folder.glob("*.yaml")} if folder.is_dir() else set()


def known_forms(settings: Settings, files: Iterable[Path],
                docs: dict[Path, YamlDocument]) -> set[str]:
    """The forms a template may name: shipped, in TEMPLATES_DIR/forms, beside a template
    (its ``forms/`` folder), or among the files being checked."""
    known = _stems(FORMS_DIR)
    if settings.templates_dir:
        known |= _stems(Path(settings.templates_dir) / FORMS_FOLDER)
    for path in files:
        known |= _stems(path.parent / FORMS_FOLDER)
    known |= {p.stem for p, doc in docs.items() if kind_of(doc) == "form"}
    return known


def validate(settings: Settings, catalogs: Catalogs, files: list[Path]) -> int:
    """Print each file's problems (or its OK line), in the order given; the exit status."""
    said: dict[Path, list[str]] = {path: [] for path in files}
    status = OK
    docs: dict[Path, YamlDocument] = {}
    for path in files:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc)
            said[path].append(catalogs.text(None, "templates.unreadable", file=str(path),
                                            reason=reason))
            status = max(status, UNREADABLE)
            continue
        try:
            docs[path] = read_yaml(text, str(path))
        except TemplateError as exc:  # YAML that does not parse: its line
            said[path] += exc.lines_in(catalogs)
            status = max(status, PROBLEMS)
    forms = known_forms(settings, files, docs)
    reserved = reserved_commands()
    from documents.verificadores import made_from

    documents = made_from()
    for path, doc in docs.items():
        try:
            said[path].append(_checked(catalogs, path, doc, forms, reserved, documents))
        except TemplateError as exc:
            said[path] += exc.lines_in(catalogs)
            status = max(status, PROBLEMS)
    for path in dict.fromkeys(files):
        for line in said[path]:
            print(line)
    return status


def _checked(catalogs: Catalogs, path: Path, doc: YamlDocument, forms: set[str],
             reserved: frozenset[str], documents: dict[str, tuple[str, ...]]) -> str:
    """The OK line of a file that passes; TemplateError (FormError) naming what does not."""
    kind = kind_of(doc)
    shipped = (FORMS_DIR if kind == "form" else TEMPLATES_DIR) / path.name
    if shipped.is_file() and shipped.resolve() != path.resolve():
        error = FormError if kind == "form" else TemplateError
        raise error(str(path), [("key", Msg("templates.shipped_name", {"name": path.stem}))],
                    [node_mark(doc.node, ("key",))])
    if kind == "form":
        form = load_form_file(path, doc)
        return catalogs.text(None, "templates.form_ok", file=str(path), name=form.key,
                             questions=len(form.questions))
    tpl = load_template_file(path, forms=forms, reserved_commands=reserved,
                             documents=documents, doc=doc)
    milestones = sum(len(s.activities) for s in tpl.stages) + len(tpl.progress_reports)
    return catalogs.text(None, "templates.template_ok", file=str(path), name=tpl.key,
                         stages=len(tpl.stages), milestones=milestones, forms=len(tpl.forms))
