"""Every verificador the programme guide lists for stages 1-4, made from the records of a
simulated 15-month Ecomercado: the list comes from the programme template itself, so a
verificador added to a template without a document to prove it fails here. Each PDF is
A4 with no word off its page or printed over another; each workbook prints fitted to the
page's width."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from openpyxl import load_workbook
from programme_records import simulate

from documents import verificadores
from documents.base import Ctx
from domain.program_templates import available_templates, load_template
from storage import db
from storage.models import Program

A4 = (595.0, 842.0)  # points
NOW = datetime(2027, 4, 5, 15, tzinfo=UTC)  # month 14: every stage's work is done


@pytest.mark.parametrize("key", available_templates())
def test_every_verifier_of_a_template_names_a_document_convoca_makes(key: str) -> None:
    tpl = load_template(key)
    asked = {v for st in tpl.stages for a in st.activities for v in a.verifiers
             if st.number <= 4} | set(tpl.progress_report.verifiers)
    missing = sorted(k for k in asked if tpl.verifier(k).document is None)
    unknown = sorted(f"{k} -> {tpl.verifier(k).document}" for k in asked
                     if tpl.verifier(k).document is not None
                     and tpl.verifier(k).document not in verificadores.PRODUCERS)
    # The Ecomercado guide's verificadores are all records Convoca keeps; another programme
    # may name a document made outside Convoca (a map, a feasibility study), which its
    # template says by naming none (the seeds' own tests list which).
    if key.startswith("ecomercado-"):
        assert not missing, f"{key}: verifiers with no document: {missing}"
    assert not unknown, f"{key}: documents Convoca does not make: {unknown}"


WORD = re.compile(r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">'
                  r"([^<]*)</word>")
PAGE = re.compile(r'<page width="([\d.]+)" height="([\d.]+)">(.*?)</page>', re.S)


def pdf_problems(data: bytes, path: Path) -> list[str]:
    """Pages that are not A4, words off the page, and words printed over each other (text
    overflowing its cell into the next)."""
    path.write_bytes(data)
    html = subprocess.run(["pdftotext", "-bbox", str(path), "-"], check=True,
                          capture_output=True).stdout.decode()
    problems = []
    pages = PAGE.findall(html)
    assert pages, f"{path.name}: no pages"
    for number, (w, h, body) in enumerate(pages, 1):
        size = sorted((float(w), float(h)))
        if abs(size[0] - A4[0]) > 2 or abs(size[1] - A4[1]) > 2:
            problems.append(f"{path.name} p{number}: {w}x{h} is not A4")
        words = [(float(a), float(b), float(c), float(d), t) for a, b, c, d, t in
                 WORD.findall(body)]
        for x0, y0, x1, y1, t in words:
            if x0 < 0 or y0 < 0 or x1 > float(w) + 0.5 or y1 > float(h) + 0.5:
                problems.append(f"{path.name} p{number}: {t!r} off the page")
        words.sort(key=lambda r: (r[1], r[0]))
        for i, (x0, y0, x1, y1, t) in enumerate(words):
            for u0, v0, u1, v1, t2 in words[i + 1:i + 40]:
                if v0 > y1:
                    break
                dx = min(x1, u1) - max(x0, u0)
                dy = min(y1, v1) - max(y0, v0)
                if dx > 1.0 and dy > 0.5 * min(y1 - y0, v1 - v0):
                    problems.append(f"{path.name} p{number}: {t!r} over {t2!r}")
    return problems


async def test_a_simulated_15_month_programme_yields_every_verificador(
        sqlite_url: str, tmp_path: Path) -> None:
    if shutil.which("pdftotext") is None or shutil.which("pdftoppm") is None:
        pytest.skip("poppler-utils (pdftotext, pdftoppm) is not installed")
    engine = db.create_engine(sqlite_url)
    await db.upgrade(engine)
    sessions = db.session_factory(engine)
    async with sessions() as s:
        records = await simulate(s, NOW)
        await s.commit()
    async with sessions() as s:
        program = await s.get(Program, records.program_id)
        ctx = Ctx(None, "es", program.timezone, NOW)
        required = [r for r in await verificadores.required(s, program, ctx)
                    if r.stage is not None and r.stage <= 4]
        no_producer = sorted({r.verifier for r in required if r.producer is None})
        no_evidence = sorted({f"{r.activity}: {r.label}" for r in required
                              if r.producer is not None and not r.evidence})
        assert not no_producer, no_producer
        assert not no_evidence, no_evidence
        made = await verificadores.make_every(s, program, ctx, stages=(1, 2, 3, 4))
    await engine.dispose()

    proved = {(r.activity, r.verifier) for r, _ev, files in made if files}
    assert {(r.activity, r.verifier) for r in required} <= proved
    problems: list[str] = []
    for i, (_r, _ev, files) in enumerate(made):
        for j, f in enumerate(files):
            if f.filename.endswith(".pdf"):
                problems += pdf_problems(f.content, tmp_path / f"{i}-{j}-{f.filename}")
            elif f.filename.endswith(".xlsx"):
                wb = load_workbook(io.BytesIO(f.content))
                for ws in wb.worksheets:
                    if ws.max_row > 1 and not ws.sheet_properties.pageSetUpPr.fitToPage:
                        problems.append(f"{f.filename}/{ws.title}: not fitted to the page")
    assert not problems, "\n".join(problems[:40])
    # One file per piece of evidence at least: each session's list, each plan, each body.
    assert len(made) >= len(required)
