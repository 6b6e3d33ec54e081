"""Migrations match the models on both databases; the command line does what it says."""

from __future__ import annotations

import re

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import select

from bot.app import StartupError, build_app, open_database
from bot.cli import main
from locales import Catalogs
from storage import db
from storage.models import Base, ChannelAddress, Milestone, Person, Program, RoleGrant


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


async def test_migration_keeps_templates_and_gives_roles_their_programme(any_db_url: str
                                                                         ) -> None:
    """Programmes made before they kept their template get their shipped one's content;
    a role given with no programme becomes the role in each programme there is."""
    from datetime import UTC, datetime

    from sqlalchemy import text

    from domain.program_templates import load_template, stored_template

    engine = db.create_engine(any_db_url)
    await db.upgrade(engine, "0003")
    at = datetime(2026, 3, 2, 12, 0, tzinfo=UTC).replace(tzinfo=None)
    async with engine.begin() as conn:
        for pid, key in ((1, "ecomercado-15m"), (2, "hecho-a-mano")):
            await conn.execute(text(
                "INSERT INTO programs (id, name, template_key, start_date, timezone, settings, "
                "created_at) VALUES (:id, :name, :key, '2026-03-02', 'America/Santiago', '{}', "
                ":at)"), {"id": pid, "name": f"P{pid}", "key": key, "at": at})
        await conn.execute(text("INSERT INTO people (id, reachable, created_at) "
                                "VALUES (1, true, :at), (2, true, :at)"), {"at": at})
        await conn.execute(text(
            "INSERT INTO role_grants (person_id, program_id, role, granted_at) VALUES "
            "(1, NULL, 'gestora', :at), (2, 2, 'gestora', :at), (2, NULL, 'gestora', :at)"),
            {"at": at})
    await db.upgrade(engine)
    async with db.session_factory(engine)() as s:
        kept = dict((await s.execute(select(Program.id, Program.template))).all())
        grants = sorted((g.person_id, g.program_id, g.role)
                        for g in await s.scalars(select(RoleGrant)))
    await engine.dispose()
    assert stored_template(kept[1]) == load_template("ecomercado-15m")
    assert kept[2] is None  # its file was never kept: read by its key, as before
    assert grants == [(1, 1, "gestora"), (1, 2, "gestora"), (2, 1, "gestora"),
                      (2, 2, "gestora")]


async def test_a_role_is_given_to_a_person_read_back_from_the_database(any_db_url: str
                                                                       ) -> None:
    """CI once failed here on PostgreSQL: the Person was collected from the identity map,
    read again with its roles unloaded, and granting touched them outside the event loop."""
    import gc
    from datetime import UTC, datetime

    from storage import people

    now = datetime(2026, 3, 2, 12, tzinfo=UTC)
    engine = db.create_engine(any_db_url)
    await db.upgrade(engine)
    async with db.session_factory(engine)() as s:
        person_id = (await people.create_with_address(s, "telegram", "77", now)).id
        await s.commit()  # expires it: nothing of it stays loaded
        gc.collect()
        person = await s.get(Person, person_id)
        assert await people.grant(s, person, "gestora", None, now)
        assert not await people.grant(s, person, "gestora", None, now)
        await s.commit()
        held = (await s.scalars(select(RoleGrant.role).where(RoleGrant.person_id == person_id)
                                )).all()
    await engine.dispose()
    assert held == ["gestora"]


async def test_postgres_is_not_migrated_behind_the_operators_back(postgres_url: str) -> None:
    with pytest.raises(StartupError) as refused:
        await open_database(postgres_url)
    said = Catalogs().render(refused.value.message, "es")
    assert said.startswith("La base de datos necesita ") and "«convoca db upgrade»" in said
    engine = await open_database(postgres_url, migrate=True)
    await engine.dispose()
    engine = await open_database(postgres_url)  # now it opens
    await engine.dispose()


async def test_sqlite_is_migrated_on_start(settings_for, tmp_path) -> None:
    # Not ``sqlite_url``: that one is migrated already.
    app = await build_app(settings_for(f"sqlite+aiosqlite:///{tmp_path / 'new.sqlite3'}"))
    assert await db.pending_migrations(app.engine) == []
    await app.close()


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
    assert err.startswith("convoca: No hay una plantilla «nope». Las que hay: ecomercado-10m, "
                          "ecomercado-15m"), err
    assert main(["program", "create", "--template", "mia.yaml", "--start", "2026-03-02",
                 "--name", "x"]) == 1
    assert capsys.readouterr().err == (
        "convoca: No encuentro el archivo de plantilla mia.yaml.\n")


def test_admin_add_grants_the_role_once(cli_env: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["admin", "add", "123456789"]) == 0
    assert main(["admin", "add", "123456789"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [
        "Listo: 123456789 tendrá el rol «Gestión comunitaria» en el primer programa que crees "
        "(convoca program create).",
        "123456789 ya tenía el rol «Gestión comunitaria»: lo tendrá en el primer programa que "
        "crees."]


def test_admin_add_takes_a_whatsapp_number(cli_env: str,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    """A gestora on WhatsApp is named by her phone: her address there is the number."""
    import asyncio

    assert main(["admin", "add", "+56 9 8765 4321"]) == 0
    assert asyncio.run(_channels(cli_env)) == [("whatsapp", "56987654321", "+56987654321")]
    assert main(["admin", "add", "9 8765 4321"]) == 1
    assert "ni un teléfono con código de país" in capsys.readouterr().err


async def _channels(url: str) -> list[tuple[str, str, str | None]]:
    engine = db.create_engine(url)
    async with db.session_factory(engine)() as s:
        rows = (await s.execute(select(ChannelAddress.channel, ChannelAddress.address,
                                       Person.phone).join(Person))).all()
    await engine.dispose()
    return [tuple(r) for r in rows]


async def _grants(url: str) -> list[tuple[str, str, int | None]]:
    engine = db.create_engine(url)
    async with db.session_factory(engine)() as s:
        rows = (await s.execute(
            select(ChannelAddress.address, RoleGrant.role, RoleGrant.program_id)
            .join(RoleGrant, RoleGrant.person_id == ChannelAddress.person_id)
            .order_by(RoleGrant.id))).all()
    await engine.dispose()
    return [tuple(r) for r in rows]


def test_admin_add_gives_the_role_in_one_programme(cli_env: str,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    import asyncio

    assert main(["admin", "add", "11"]) == 0  # before any programme: the first one takes it
    for name in ("Eco Lota", "Eco Tomé"):
        assert main(["program", "create", "--template", "ecomercado-10m", "--start",
                     "2026-03-02", "--name", name]) == 0
    capsys.readouterr()
    # With two programmes, which one is never guessed.
    assert main(["admin", "add", "22"]) == 1
    assert capsys.readouterr().err.splitlines() == [
        "convoca: Hay varios programas: di en cuál con --program.",
        "  --program 1: Eco Lota", "  --program 2: Eco Tomé"]
    assert main(["admin", "add", "22", "--program", "3"]) == 1
    assert "No hay un programa 3." in capsys.readouterr().err
    assert main(["admin", "add", "22", "--program", "2", "--role", "coordinadora"]) == 0
    assert capsys.readouterr().out == (
        "Listo: 22 ahora tiene el rol «Coordinación» en «Eco Tomé».\n")
    assert main(["role", "grant", "1", "recinto"]) == 1  # the same for `convoca role`
    assert "Hay varios programas" in capsys.readouterr().err
    assert asyncio.run(_grants(cli_env)) == [("11", "gestora", 1), ("22", "coordinadora", 2)]


def test_a_programme_made_from_a_template_file_outlives_the_file(
        cli_env: str, tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    """`program create --template /path/x.yaml` keeps the template's content: with the file
    gone the scheduler, `convoca status` and /etapas go on working."""
    import asyncio
    from datetime import UTC, date, datetime, time, timedelta
    from zoneinfo import ZoneInfo

    from test_program_templates import RURAL

    path = tmp_path / "plantillas" / "infraestructura-rural.yaml"
    path.parent.mkdir()
    path.write_text(RURAL, encoding="utf-8")
    start = date.today() - timedelta(days=20)
    assert main(["admin", "add", "42"]) == 0
    assert main(["program", "create", "--template", str(path), "--start", start.isoformat(),
                 "--name", "Rural Ñuble"]) == 0
    path.unlink()
    capsys.readouterr()

    assert main(["status"]) == 0
    out = capsys.readouterr().out
    assert "Próximos avisos:" in out and "resumen semanal" in out, out

    async def in_chat_and_scheduler() -> None:
        from core_harness import CoreHarness

        from bot.app import notice_scheduler
        from bot.config import load_settings
        from storage.clock import ManualClock

        monday = start + timedelta(days=(7 - start.weekday()) % 7)
        zone = ZoneInfo("America/Santiago")
        clock = ManualClock(datetime.combine(monday, time(9, 30), zone).astimezone(UTC))
        app = await build_app(load_settings(_env_file=None), clock=clock)
        try:
            core = CoreHarness(app)
            await core.text("42", "/start")
            *_, ready = await core.press("42", "✅ Sí, acepto")
            assert ready.text.startswith("Todo listo."), ready.text
            [stage] = await core.text("42", "/etapas")
            assert stage.text.startswith("🗂 Etapa 1 de 4: Instalación del programa"), stage.text
            result = await notice_scheduler(app).tick()
            assert [n.kind for n in result.queued] == ["weekly_digest"]
        finally:
            await app.close()

    asyncio.run(in_chat_and_scheduler())


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
    # Each kind of notice in words, never its code (weekly_digest, milestone_soon).
    assert any("resumen semanal" in ln or "aviso de plazo próximo" in ln for ln in lines)
    assert not re.search(r"\b[a-z]+_[a-z_]+\b", out), out


def test_status_counts_each_kind_of_message_in_words(cli_env: str, capsys) -> None:
    import asyncio
    from datetime import UTC, datetime

    from storage.models import OutboxMessage

    async def queue() -> None:
        engine = db.create_engine(cli_env)
        await db.upgrade(engine)
        now = datetime.now(UTC)
        async with db.session_factory(engine)() as s:
            for n, (kind, status) in enumerate([("meeting_reminder", "failed"),
                                                ("meeting_reminder", "sent"),
                                                ("pickup_evening", "sent"),
                                                ("a_kind_no_longer_sent", "dropped")]):
                s.add(OutboxMessage(idempotency_key=f"k{n}", channel="telegram", address="1",
                                    kind=kind, payload={}, status=status, attempts=0,
                                    not_before=now, created_at=now))
            await s.commit()
        await engine.dispose()

    asyncio.run(queue())
    assert main(["status"]) == 0
    table = capsys.readouterr().out.split("\n\n")[0].splitlines()
    assert [ln.split("  ")[0] for ln in table] == [
        "tipo", "otro mensaje", "recordatorio de retiro (víspera)", "recordatorio de reunión"]
    # pending, sending, sent, failed, uncertain, waiting (for the person to write), dropped
    assert table[3].split()[-7:] == ["0", "0", "1", "1", "0", "0", "0"]
    assert table[1].split()[-7:] == ["0", "0", "0", "0", "0", "0", "1"]
