"""What the review of templates-as-data found: programmes made before they kept their forms
keep them on upgrade; `template validate` names a document Convoca cannot make, a document
whose form the template does not use, and a zone of another country; its problems read in
the operator's language, in line order."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from domain import forms as forms_module
from domain.forms import program_form, program_form_uses
from domain.program_templates import load_template, program_template, template_to_store
from storage import db
from storage.models import Program

# --------------------------------------------------------------------------- migration 0015


async def test_a_programme_made_before_keeps_its_forms_when_the_files_change(
        any_db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shipped = {key: forms_module.load_form(key)
               for key in ("ficha_interes", "compromiso_participacion", "declaracion_compromiso")}
    engine = db.create_engine(any_db_url)
    await db.upgrade(engine, "0013")
    # As 0004 kept it: the template of the time, which had no forms section.
    kept = json.loads(template_to_store(load_template("ecomercado-15m")))
    del kept["forms"]
    at = datetime(2026, 3, 2, 12, 0)
    async with engine.begin() as conn:
        await conn.execute(text(
            "INSERT INTO programs (id, name, template_key, start_date, timezone, settings, "
            "created_at, template) VALUES (1, 'Eco', 'ecomercado-15m', '2026-03-02', "
            "'America/Santiago', '{}', :at, :tpl)"), {"at": at, "tpl": json.dumps(kept)})
    await db.upgrade(engine)
    sessions = db.session_factory(engine)
    try:
        async with sessions() as s:
            program = await s.get(Program, 1)
            assert program.forms is not None
            assert set(program.forms) == set(shipped)
            uses = program_form_uses(program)
            assert [(u.form, u.command) for u in uses] == [
                ("ficha_interes", "ficha"), ("compromiso_participacion", None),
                ("declaracion_compromiso", None)]
            assert program_template(program).form_use("ficha_interes").button["es"] == \
                "Ficha de interés"

            # The shipped files change or go: the programme still has its forms as they were.
            changed = tmp_path / "forms"
            changed.mkdir()
            original = (forms_module.FORMS_DIR / "ficha_interes.yaml").read_text("utf-8")
            (changed / "ficha_interes.yaml").write_text(
                original.replace("Ficha de Interés", "Ficha cambiada"), "utf-8")
            monkeypatch.setattr(forms_module, "FORMS_DIR", changed)
            assert forms_module.load_form("ficha_interes").title != shipped["ficha_interes"].title
            for key, form in shipped.items():
                assert program_form(program, key) == form
            (changed / "ficha_interes.yaml").unlink()
            assert program_form(program, "ficha_interes") == shipped["ficha_interes"]
            assert program_form(program, "declaracion_compromiso") == \
                shipped["declaracion_compromiso"]
    finally:
        await engine.dispose()

