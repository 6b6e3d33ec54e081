"""Migrations match the models on both databases; the command line does what it says."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import select

from bot.app import StartupError, build_app, open_database
from bot.cli import main
from storage import db
from storage.models import Base, Milestone, Person, Program, RoleGrant


async def test_migrations_produce_exactly_the_models(any_db_url: str) -> None:
    engine = db.create_engine(any_db_url)
    await db.upgrade(engine)

    def diff(conn):
        return compare_metadata(MigrationContext.configure(conn), Base.metadata)

    async with engine.connect() as conn:
        changes = await conn.run_sync(diff)
    await engine.dispose()
    assert changes == []
    assert await db.pending_migrations(db.create_engine(any_db_url)) == []


async def test_postgres_is_not_migrated_behind_the_operators_back(postgres_url: str) -> None:
    with pytest.raises(StartupError, match="convoca db upgrade"):
        await open_database(postgres_url)
    engine = await open_database(postgres_url, migrate=True)
    await engine.dispose()
    engine = await open_database(postgres_url)  # now it opens
    await engine.dispose()


async def test_sqlite_is_migrated_on_start(settings_for, sqlite_url) -> None:
    app = await build_app(settings_for(sqlite_url))
    assert await db.pending_migrations(app.engine) == []
    await app.close()


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path) -> str:
    for var in ("TELEGRAM_BOT_TOKEN", "TELEGRAM_API_BASE", "ADMIN_TELEGRAM_IDS", "TIMEZONE",
                "DEFAULT_LOCALE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.sqlite3'}"
    monkeypatch.setenv("DATABASE_URL", url)
    return url


def test_program_create_and_timeline(cli_env: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["db", "upgrade"]) == 0
    assert main(["program", "create", "--template", "ecomercado-15m", "--start", "2026-03-02",
                 "--name", "Ecomercado Quilpué"]) == 0
    out = capsys.readouterr().out
    assert "Programa 1 creado: Ecomercado Quilpué (17 hitos)" in out
    assert main(["timeline"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "Ecomercado Quilpué · fechas en America/Santiago"
    assert lines[1].startswith("Etapa 1 · domingo 15 de marzo de 2026 · ")
    assert any("martes 1 de diciembre de 2026" in ln and "informe" in ln.lower() for ln in lines)
    # Under each activity that has begun and is not done: what it still lacks, as /etapas.
    assert lines[2:4] == [
        "    Sesiones: 0 de un mínimo de 1 ⏳",
        "    Falta: Listado de organizaciones invitadas, Lista de asistencia, Ficha de interés "
        "de participación",
    ]
    assert main(["timeline", "--locale", "en"]) == 0
    assert "Stage 1 · Sunday 15 March 2026 · " in capsys.readouterr().out


def test_unknown_template_is_a_clear_error(cli_env: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["program", "create", "--template", "nope", "--start", "2026-03-02",
                 "--name", "x"]) == 1
    err = capsys.readouterr().err
    assert "nope" in err and "ecomercado-15m" in err


def test_admin_add_grants_the_role_once(cli_env: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["admin", "add", "123456789"]) == 0
    assert main(["admin", "add", "123456789"]) == 0
    out = capsys.readouterr().out.splitlines()
    # The role in words, as in the panel: never its code.
    assert out == ["Listo: 123456789 ahora tiene el rol «Gestión comunitaria».",
                   "123456789 ya tenía el rol «Gestión comunitaria»."]


async def _rows(url: str, model: type) -> list:
    engine = db.create_engine(url)
    async with db.session_factory(engine)() as s:
        rows = list((await s.scalars(select(model))).all())
    await engine.dispose()
    return rows


async def test_cli_results_are_in_the_database(cli_env: str) -> None:
    import asyncio

    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, main, ["admin", "add", "55", "--role", "coordinadora"])
    await loop.run_in_executor(None, main, ["program", "create", "--template", "ecomercado-10m",
                                            "--start", "2026-01-31", "--name", "Eco Lota"])
    [grant] = await _rows(cli_env, RoleGrant)
    [person] = await _rows(cli_env, Person)
    assert grant.role == "coordinadora" and grant.person_id == person.id
    [program] = await _rows(cli_env, Program)
    milestones = await _rows(cli_env, Milestone)
    assert program.template_key == "ecomercado-10m" and len(milestones) > 10
    assert all(m.due == m.planned_due for m in milestones)


def test_status_shows_counts(cli_env: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["status"]) == 0
    out = capsys.readouterr().out
    assert "en cola" in out and "No hay avisos pendientes." in out


def test_status_shows_the_next_notices_due(cli_env: str, capsys: pytest.CaptureFixture[str]
                                           ) -> None:
    from datetime import date, timedelta

    soon = date.today() + timedelta(days=3)
    assert main(["admin", "add", "77"]) == 0
    assert main(["program", "create", "--template", "ecomercado-15m", "--start",
                 soon.isoformat(), "--name", "Eco"]) == 0
    capsys.readouterr()
    assert main(["status"]) == 0
    out = capsys.readouterr().out
    assert "Próximos avisos:" in out
    lines = [ln for ln in out.splitlines() if ln.startswith("  ")]
    assert 1 <= len(lines) <= 10
    assert any("weekly_digest" in ln or "milestone_soon" in ln for ln in lines)
