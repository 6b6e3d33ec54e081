"""Documentos on the web panel: the lists of sessions and delivery days between two dates,
each list downloaded as the chat sends it; the verificadores the template asks for, stage
by stage, with a download of each that exists; the progress figures and their charts drawn
as SVG on the server; and who may read them."""

from __future__ import annotations

import io
import re
import zipfile
from datetime import UTC, datetime
from urllib.parse import unquote
from xml.etree import ElementTree

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from documents import verificadores
from documents.base import Ctx
from storage import delivery, meetings
from storage.models import AuditEntry, Program, Role
from storage.progress import progress_figures
from web import charts

NOW = datetime(2027, 4, 5, 15, tzinfo=UTC)
SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture
async def records(web):
    return await web.simulated(NOW)


def url(web, records, rest: str = "") -> str:
    return web.url("documentos", rest, program_id=records.program_id)


async def gestora_of(web, records):
    return await web.signed_in(await web.person("Daniela Gestora", Role.GESTORA,
                                                program_id=records.program_id))


async def test_dates_choose_which_sessions_and_days_are_listed(web, records) -> None:
    b = await gestora_of(web, records)
    every = await b.get(url(web, records))
    assert every.status_code == 200
    async with web.app.sessions() as s:
        sessions = await meetings.of_program(s, records.program_id)
        days = await delivery.all_days(s, records.program_id)
    assert every.text.count('<tr class="session">') == len(sessions)
    assert every.text.count('<tr class="day">') == len(days)
    # March 2027 only, typed the way people write dates.
    march = await b.get(url(web, records), params={"desde": "01-03-2027", "hasta": "31/3/2027"})
    assert march.status_code == 200
    zone = "America/Santiago"
    ctx = Ctx(web.app.catalogs, "es", zone, NOW)
    in_march = [m for m in sessions if ctx.local(m.starts_at).strftime("%Y-%m") == "2027-03"]
    days_march = [d for d in days if ctx.local(d.window_start).strftime("%Y-%m") == "2027-03"]
    assert 0 < march.text.count('<tr class="session">') == len(in_march) < len(sessions)
    assert march.text.count('<tr class="day">') == len(days_march) < len(days)
    for m in in_march:
        assert f"asistencia/{m.id}.pdf" in march.text
    # A date nobody can read: the form again, with why beside the field, nothing listed.
    bad = await b.get(url(web, records), params={"desde": "el otro jueves tal vez"})
    assert bad.status_code == 400
    assert 'aria-invalid="true"' in bad.text and '<tr class="session">' not in bad.text
    backwards = await b.get(url(web, records), params={"desde": "2027-03-31",
                                                       "hasta": "2027-03-01"})
    assert backwards.status_code == 400 and "va antes" in backwards.text


async def test_lists_download_in_each_format(web, records) -> None:
    b = await gestora_of(web, records)
    async with web.app.sessions() as s:
        m = (await meetings.of_program(s, records.program_id))[-1]
        day = (await delivery.all_days(s, records.program_id))[-1]
    for rest in (f"asistencia/{m.id}.pdf", f"entregas/{day.id}.pdf"):
        r = await b.get(url(web, records, rest))
        assert r.status_code == 200 and r.content.startswith(b"%PDF"), rest
        assert r.headers["content-type"] == "application/pdf"
        assert "attachment;" in r.headers["content-disposition"]
    for rest in (f"asistencia/{m.id}.xlsx", f"entregas/{day.id}.xlsx",
                 "programa/organizaciones.xlsx", "programa/fichas.xlsx"):
        r = await b.get(url(web, records, rest))
        assert r.status_code == 200 and r.content[:2] == b"PK", rest
        load_workbook(io.BytesIO(r.content))
    r = await b.get(url(web, records, f"entregas/{day.id}.csv"))
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    # One ficha per organisation: several PDFs come in one zip.
    r = await b.get(url(web, records, "programa/fichas.pdf"))
    assert r.headers["content-type"] == "application/zip"
    names = zipfile.ZipFile(io.BytesIO(r.content)).namelist()
    assert len(names) == len(records.organizations) and all(n.endswith(".pdf") for n in names)
    assert (await b.get(url(web, records, f"asistencia/{m.id}.docx"))).status_code == 404
    assert (await b.get(url(web, records, "asistencia/999999.pdf"))).status_code == 404


async def test_the_verificadores_table_matches_the_template_and_downloads(web, records
                                                                          ) -> None:
    b = await gestora_of(web, records)
    r = await b.get(url(web, records, "verificadores"))
    assert r.status_code == 200
    async with web.app.sessions() as s:
        program = await s.get(Program, records.program_id)
        required = await verificadores.required(
            s, program, Ctx(web.app.catalogs, "es", program.timezone, NOW))
    assert r.text.count('<tr class="verifier">') == len(required)
    assert "Etapa 1" in r.text and "Etapa 3" in r.text
    links = [unquote(h).replace("&amp;", "&") for h in
             re.findall(r'href="([^"]*verificadores/archivo\?[^"]*)"', r.text)]
    assert len(links) >= sum(len(x.evidence) for x in required if x.producer)
    # One of each producer, in its first format.
    seen: set[str] = set()
    for x in required:
        if x.producer is None or not x.evidence or x.producer.key in seen:
            continue
        seen.add(x.producer.key)
        link = next(h for h in links if f"verificador={x.verifier}" in h
                    and f"actividad={x.activity}" in h
                    and h.endswith(f"formato={x.producer.formats[0]}"))
        got = await b.get(link)
        assert got.status_code == 200, link
        magic = {"pdf": b"%PDF", "xlsx": b"PK", "csv": b""}[x.producer.formats[0]]
        assert got.content.startswith(magic) or got.content[:2] == b"PK", link
    assert len(seen) >= 8
    forged = url(web, records, "verificadores/archivo") + \
        "?actividad=x&verificador=acta&de=0&formato=pdf"
    assert (await b.get(forged)).status_code == 404


def test_a_chart_is_valid_svg_with_a_title_and_one_bar_per_figure() -> None:
    svg = charts.bars("c", "Sesiones <y> canastas", "Al 5 de abril", ("Plan", "Hecho"),
                      [charts.Group("Diagnóstico", (2, 1)), charts.Group("Plan & más", (1, 1)),
                       charts.Group("Evaluación", (1, 0))], empty="Nada")
    root = ElementTree.fromstring(svg)
    assert root.tag == f"{SVG}svg" and root.get("role") == "img"
    assert root.find(f"{SVG}title").text == "Sesiones <y> canastas"
    assert root.get("aria-labelledby") == "c-title c-desc"
    bars = root.findall(f".//{SVG}rect[@class]")
    assert len(bars) == 6
    assert [b.find(f"{SVG}title").text for b in bars][:2] == [
        "Diagnóstico, Plan: 2", "Diagnóstico, Hecho: 1"]
    widths = [float(b.get("width")) for b in bars]
    assert widths[0] == 2 * widths[1] and widths[5] == 0
    empty = ElementTree.fromstring(charts.bars("e", "T", "D", ("a", "b"), [], empty="Nada"))
    assert not empty.findall(f".//{SVG}rect[@class]")
    assert "Nada" in "".join(empty.itertext())


async def test_the_progress_figures_and_their_charts(web, records) -> None:
    b = await gestora_of(web, records)
    r = await b.get(url(web, records, "avance"))
    assert r.status_code == 200
    async with web.app.sessions() as s:
        figures = await progress_figures(s, records.program_id, NOW)
    asked = [a for a in figures["activities"] if a["planned_sessions"]]
    svgs = re.findall(r"<svg.*?</svg>", r.text, re.S)
    assert len(svgs) == 2
    sessions, months = (ElementTree.fromstring(x) for x in svgs)
    assert sessions.find(f"{SVG}title").text.startswith("Sesiones planificadas")
    assert len(sessions.findall(f".//{SVG}rect[@class]")) == 2 * len(asked)
    assert len(months.findall(f".//{SVG}rect[@class]")) == 2 * len(figures["months"])
    assert r.text.count('<tr class="activity">') == len(asked)
    assert f">{figures['baskets']}<" in r.text or f">{figures['baskets']:,}<".replace(
        ",", ".") in r.text
    # An earlier cut-off counts less, and its download carries it.
    early = await b.get(url(web, records, "avance"), params={"hasta": "30-06-2026"})
    assert early.status_code == 200 and "avance.pdf?hasta=2026-06-30" in early.text
    early_months = ElementTree.fromstring(re.findall(r"<svg.*?</svg>", early.text, re.S)[1])
    assert len(early_months.findall(f".//{SVG}rect[@class]")) < \
        len(months.findall(f".//{SVG}rect[@class]"))
    for fmt, magic in (("pdf", b"%PDF"), ("xlsx", b"PK")):
        got = await b.get(url(web, records, f"avance.{fmt}"), params={"hasta": "2026-06-30"})
        assert got.status_code == 200 and got.content.startswith(magic)
    async with web.app.sessions() as s:
        audit = (await s.scalars(select(AuditEntry).where(AuditEntry.action == "export"))).all()
    assert [a.details.get("until") for a in audit if a.details.get("what") == "progress"] == [
        "2026-06-30", "2026-06-30"]


async def test_supervisor_reads_and_downloads_recinto_and_strangers_do_not(web, records
                                                                           ) -> None:
    supervisor = await web.signed_in(await web.person(
        "Sra. Supervisora", Role.SUPERVISOR, program_id=records.program_id))
    for rest in ("", "verificadores", "avance", "programa/organizaciones.csv"):
        assert (await supervisor.get(url(web, records, rest))).status_code == 200, rest
    recinto = await web.signed_in(await web.person(
        "Don Pedro", Role.RECINTO, program_id=records.program_id))
    for rest in ("", "verificadores", "avance", "programa/organizaciones.csv"):
        r = await recinto.get(url(web, records, rest))
        assert r.status_code == 403 and "Lo Hermida" not in r.text, rest
    r = await web.browser().get(url(web, records, "programa/organizaciones.csv"))
    assert str(r.url).endswith("/web/entrar") and "Lo Hermida" not in r.text


async def test_a_programme_with_nothing_recorded_renders_every_page(web) -> None:
    b = await web.signed_in(await web.person("Daniela", Role.GESTORA))
    for rest in ("", "verificadores", "avance"):
        r = await b.get(web.url("documentos", rest))
        assert r.status_code == 200, rest
        assert r.text.count("<h1") == 1
    r = await b.get(web.url("documentos", "avance"))
    sessions, months = (ElementTree.fromstring(x)
                        for x in re.findall(r"<svg.*?</svg>", r.text, re.S))
    # What the template plans is drawn; nothing is held yet, and no basket handed over.
    held = sessions.findall(f".//{SVG}rect[@class='bar s1']")
    assert held and all(float(x.get("width")) == 0 for x in held)
    assert not months.findall(f".//{SVG}rect[@class]")
