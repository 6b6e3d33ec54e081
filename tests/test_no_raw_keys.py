"""The harness check that no raw message key reaches a person (tests/leaks.py) catches one."""

from __future__ import annotations

import io

import pytest
from leaks import leaked_keys

from bot.app import build_app
from bot.cli import main
from bot.commands import run_console
from locales import Catalogs


def test_whole_keys_are_found_and_nothing_else() -> None:
    assert leaked_keys("convoca: cli.no_program") == ["cli.no_program"]
    assert leaked_keys("Listo (cli.nothing_due).") == ["cli.nothing_due"]
    assert leaked_keys("catastro.qr.caption.plural\n") == ["catastro.qr.caption.plural"]
    # Prose, file names, addresses and longer dotted words are not keys.
    assert leaked_keys("Programa 1 creado. Log en data/convoca.log; ver t.me/bot y "
                       "cli.no_program_x o xcli.no_program") == []


def _leak(monkeypatch: pytest.MonkeyPatch, key: str) -> None:
    """As a missing translation would look: the catalog gives back the key itself."""
    render = Catalogs.render

    def leaky(self, message, loc, tz="America/Santiago"):
        return message.key if message.key == key else render(self, message, loc, tz)

    monkeypatch.setattr(Catalogs, "render", leaky)


def test_a_cli_command_that_prints_a_key_fails_its_test(
        cli_env: str, capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    _leak(monkeypatch, "cli.nothing_due")
    assert main(["status"]) == 0
    with pytest.raises(pytest.fail.Exception, match="raw message key.*cli.nothing_due"):
        capsys.readouterr()


async def test_a_console_that_prints_a_key_fails_its_test(
        settings_for, sqlite_url, screen, monkeypatch: pytest.MonkeyPatch) -> None:
    _leak(monkeypatch, "console.banner")
    app = await build_app(settings_for(sqlite_url))
    try:
        await run_console(app, stdin=io.StringIO("/salir\n"), out=screen)
    finally:
        await app.close()
    with pytest.raises(pytest.fail.Exception, match="raw message key.*console.banner"):
        screen.getvalue()
    screen.seek(0)
    screen.truncate()  # shown; the fixture's own check at the end has nothing left to fail


def test_a_document_written_with_a_raw_key_fails_the_test(tmp_path) -> None:
    """Every PDF, spreadsheet or CSV a test writes is read back (conftest.py)."""
    from fpdf import FPDF
    from openpyxl import Workbook

    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", size=12)
    pdf.cell(text="Lista de asistencia: exports.attendance.present")
    with pytest.raises(pytest.fail.Exception, match="exports.attendance.present"):
        (tmp_path / "lista.pdf").write_bytes(bytes(pdf.output()))
    book = Workbook()
    book.active["B3"] = "adm_roles.role_gestora"
    buf = io.BytesIO()
    book.save(buf)
    with pytest.raises(pytest.fail.Exception, match="adm_roles.role_gestora"):
        (tmp_path / "lista.xlsx").write_bytes(buf.getvalue())
    with pytest.raises(pytest.fail.Exception, match="a document's name"):
        (tmp_path / "notice.milestone_soon.plural.csv").write_bytes(b"ok")
    # Ordinary documents pass.
    (tmp_path / "lista.csv").write_bytes(b"Nombre;RUT\\nAna Rojas;12.345.678-5\\n")
