"""Every verificador the programme's template asks for, reached from one place: the panel
(Documentos → Verificadores por etapa) and `convoca verificadores`, both from
documents.verificadores, so they list the same things."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime

import cli_harness
import pytest
from test_admin_delivery_support import GESTORA, labels_of, say, seed, tap
from test_admin_exports_flow import document, pdf_opens, seed_records

from bot import cli_records
from bot.app import build_app
from documents import verificadores
from documents.base import Ctx
from storage import programs
from storage.models import Program
from telegram_harness import Running


async def test_the_panel_walks_stage_by_stage_to_a_verificador(tg: Running, tmp_path) -> None:
    seeded = await seed(tg)
    await seed_records(tg.app.sessions, seeded.program_id, seeded.people[GESTORA],
                       tg.app.clock.now())
    tg.app.clock.set(datetime(2026, 3, 11, 15, tzinfo=UTC))  # the day after the session
    await say(tg, GESTORA, "/panel")
    await tap(tg, GESTORA, "📄 Documentos", sends=1)
    [stages], _ = await tap(tg, GESTORA, "✅ Verificadores por etapa", sends=1)
    labels = labels_of(stages)
    assert any(label.startswith("Etapa 1 · ") for label in labels), labels
    assert any(label.startswith("Etapa 4 · ") for label in labels), labels

    [stage1], _ = await tap(tg, GESTORA, "Etapa 1 · ", sends=1, contains=True)
    labels = labels_of(stage1)
    # The socialisation session was held: its attendance list can be made; the invited
    # organisations too; the internal procedure is a text the team records.
    assert "✓ Lista de asistencia · Sesión de socialización (1)" in labels, labels
    assert "⏳ Lista de asistencia · Sesión diagnóstica" in labels, labels
    assert "✓ Listado de organizaciones invitadas (1)" in labels, labels

    [ask], _ = await tap(tg, GESTORA, "✓ Lista de asistencia · Sesión de socialización (1)",
                         sends=1)
    assert "¿en qué formato?" in ask["text"]
    [pdf], _ = await tap(tg, GESTORA, "PDF (para imprimir)", sends=1)
    name, data = document(pdf)
    assert name.endswith(".pdf") and pdf["caption"] == "✅ Lista de asistencia"
    pdf_opens(data, tmp_path, "attendance")


async def test_a_stale_verificador_button_is_answered_kindly(tg: Running) -> None:
    seeded = await seed(tg)
    await say(tg, GESTORA, "/panel")
    await tap(tg, GESTORA, "📄 Documentos", sends=1)
    await tap(tg, GESTORA, "✅ Verificadores por etapa", sends=1)
    [stage1], _ = await tap(tg, GESTORA, "Etapa 1 · ", sends=1, contains=True)
    # Nothing held yet: the attendance list says what is missing instead of failing.
    [missing], _ = await tap(tg, GESTORA, "⏳ Lista de asistencia · Sesión diagnóstica",
                             sends=1)
    assert "todavía no hay datos" in missing["text"]
    async with tg.app.sessions() as s:
        program = await s.get(Program, seeded.program_id)
        ctx = Ctx(tg.app.catalogs, "es", program.timezone, tg.app.clock.now())
        rows = await verificadores.required(s, program, ctx)
    assert rows and all(r.stage is not None for r in rows)
    # A button for a session's document with no session in it (old, or not from this
    # menu): a kind answer, not a crash and not a document.
    index = next(i for i, r in enumerate(r for r in rows if r.stage == 1)
                 if r.producer is not None and r.producer.key == "attendance")
    before = len(tg.fake.delivered(GESTORA))
    tg.fake.callback(GESTORA, tg.app.services.buttons.pack(
        seeded.people[GESTORA], f"adm:exports:vm:1:{index}:0:pdf"))
    await tg.fake.wait_for(lambda _r: len(tg.fake.delivered(GESTORA)) > before, timeout=10)
    await tg.settled()
    [stale] = [m.params for m in tg.fake.delivered(GESTORA)[before:]]
    assert "document" not in stale
    assert stale["text"] == tg.app.catalogs.text("es", "input.button_stale")
    assert io  # the module's readers are shared with the exports tests


@pytest.fixture
async def app(settings_for, sqlite_url, clock):
    application = await build_app(settings_for(sqlite_url), clock=clock)
    yield application
    await application.close()


async def test_the_command_line_lists_them_and_writes_every_one(app, capsys, tmp_path) -> None:
    now = app.clock.now()
    async with app.sessions() as s:
        program = await programs.create(s, template="ecomercado-15m", start=date(2026, 3, 2),
                                        name="Ecomercado Peñalolén", now=now)
        await s.commit()
    await seed_records(app.sessions, program.id, None, now)
    app.clock.set(datetime(2026, 3, 11, 15, tzinfo=UTC))
    listed = await cli_harness.lines(cli_records, app, capsys, "verificadores")
    assert listed[0] == "Etapa 1 · Socialización y análisis situacional"
    assert "    ✓ Lista de asistencia · Sesión de socialización: 1 (10 mar 2026 18:00)" \
        in listed, listed
    assert any(line.startswith("Etapa 4 · ") for line in listed)
    only = await cli_harness.lines(cli_records, app, capsys, "verificadores", "--stage", "2")
    assert only[0].startswith("Etapa 2 · ") and not any(
        line.startswith("Etapa 1") for line in only)

    out = await cli_harness.lines(cli_records, app, capsys, "verificadores", "--out",
                                  str(tmp_path / "v"))
    written = sorted(p.relative_to(tmp_path / "v").as_posix()
                     for p in (tmp_path / "v").rglob("*.*"))
    assert any(p.startswith("1-socializacion/") and p.endswith(".pdf") for p in written), written
    assert out[-1].startswith("Listo: ") and str(len(written)) in out[-1]
    for path in (tmp_path / "v").rglob("*.pdf"):
        assert path.read_bytes().startswith(b"%PDF")
