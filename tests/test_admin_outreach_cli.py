"""`convoca import | codes | broadcast | invite`: the same work as the panel, from a shell.
Nothing is written without --yes or a typed yes; with no terminal the answer is no."""

from __future__ import annotations

import argparse
import asyncio
import io
import shutil
import subprocess
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from stdnum.cl import rut as cl_rut
from test_imports import MB, bounded, far_cell_workbook

from bot import cli_outreach
from bot.app import App, build_app
from bot.cli import main
from bot.commands import CommandError
from storage import programs, state
from storage.models import (
    AuditEntry,
    Body,
    ChannelAddress,
    Family,
    LinkCode,
    Meeting,
    Membership,
    Organization,
    OutboxMessage,
    Person,
    Rsvp,
)


def rut(body: str) -> str:
    return cl_rut.format(body + cl_rut.calc_check_digit(body))


ORGS_CSV = (
    "Nombre;RUT;Teléfono\r\n"
    f"Junta de Vecinos Villa Esperanza;{rut('65123456')};9 1234 5678\r\n"
    "Club Deportivo Los Aromos;1-2;\r\n"
    f"Comité de Vivienda Ñuble;{rut('65111222')};\r\n"
).encode("cp1252")


def parse(*argv: str) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="convoca")
    sub = p.add_subparsers(dest="command")
    sub.add_parser("status")
    cli_outreach.register(sub)
    return p.parse_args(list(argv))


@pytest.fixture
async def app(settings_for, sqlite_url, clock, monkeypatch) -> AsyncIterator[App]:
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setattr("sys.stdin", io.StringIO(""))  # not a terminal: answers no
    a = await build_app(settings_for(sqlite_url), clock=clock)
    now = clock.now()
    async with a.sessions() as s:
        await programs.create(s, template="ecomercado-15m", start=now.date(),
                              name="Ecomercado Quilpué", now=now)
        await s.commit()
    yield a
    await a.close()


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


async def count(app: App, model: type, *where: object) -> int:
    async with app.sessions() as s:
        return await s.scalar(select(func.count()).select_from(model).where(*where))


async def test_commands_that_are_not_ours_are_left_alone(app: App) -> None:
    assert await cli_outreach.run(app, parse("status")) is None


async def test_import_prints_the_preview_and_without_a_yes_imports_nothing(
        app: App, tmp_path: Path, capsys) -> None:
    path = tmp_path / "catastro.csv"
    path.write_bytes(ORGS_CSV)
    assert await cli_outreach.run(app, parse("import", "organizations", str(path))) == 1
    out = capsys.readouterr().out
    assert "Se pueden importar 2 de 3 filas." in out and "Fila 3: RUT inválido (1-2)." in out
    assert "¿Importar 2 filas? [s/N] n" in out and "No importé nada." in out
    assert await count(app, Organization) == 0


async def test_import_with_yes_commits_all_valid_rows(app: App, tmp_path: Path, capsys) -> None:
    path = tmp_path / "catastro.csv"
    path.write_bytes(ORGS_CSV)
    assert await cli_outreach.run(app, parse("import", "organizations", str(path), "--yes",
                                             "--locale", "en")) == 0
    out = capsys.readouterr().out
    assert "2 of 3 rows can be imported." in out and "Done: I added 2 organisations" in out
    assert await count(app, Organization) == 2
    assert await count(app, AuditEntry, AuditEntry.channel == "cli") == 1
    # The same file again: every row is now a duplicate, nothing to import.
    assert await cli_outreach.run(app, parse("import", "organizations", str(path), "--yes")) == 1
    assert "ya está registrada" in capsys.readouterr().out
    assert await count(app, Organization) == 2


async def test_import_asks_at_a_terminal(app: App, tmp_path: Path, capsys, monkeypatch) -> None:
    path = tmp_path / "familias.csv"
    path.write_text("Nombre;Teléfono\nFamilia Soto;9 1234 5678\n", encoding="utf-8")
    monkeypatch.setattr("sys.stdin", Terminal("s\n"))
    assert await cli_outreach.run(app, parse("import", "families", str(path))) == 0
    assert "¿Importar 1 fila? [s/N]" in capsys.readouterr().out
    assert await count(app, Family) == 1


async def test_ci_always_answers_no(app: App, tmp_path: Path, capsys, monkeypatch) -> None:
    path = tmp_path / "familias.csv"
    path.write_text("Nombre;Teléfono\nFamilia Soto;9 1234 5678\n", encoding="utf-8")
    monkeypatch.setattr("sys.stdin", Terminal("s\n"))
    monkeypatch.setenv("CI", "true")
    assert await cli_outreach.run(app, parse("import", "families", str(path))) == 1
    assert await count(app, Family) == 0


async def test_a_missing_file_is_a_clear_error(app: App, tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="No encuentro el archivo"):
        await cli_outreach.run(app, parse("import", "families", str(tmp_path / "no.csv")))


def test_import_of_a_workbook_with_a_stray_cell_far_away(cli_env: str, capsys) -> None:
    assert main(["program", "create", "--template", "ecomercado-15m", "--start", "2026-03-02",
                 "--name", "Ecomercado Quilpué"]) == 0
    Path("catastro.xlsx").write_bytes(far_cell_workbook("XFD1048576"))
    capsys.readouterr()
    # Before, this never finished.
    code, peak = bounded(lambda: main(["import", "organizations", "catastro.xlsx", "--yes"]))
    assert code == 0 and peak < 100 * MB
    out = capsys.readouterr().out
    assert "Listo: agregué 1 organización al catastro." in out


def test_import_of_a_file_too_big_reads_no_more_than_the_limit(cli_env: str, capsys) -> None:
    assert main(["program", "create", "--template", "ecomercado-15m", "--start", "2026-03-02",
                 "--name", "Ecomercado Quilpué"]) == 0
    with open("catastro.csv", "wb") as f:  # 64 MB: what only the limit's bytes were read of
        f.write(ORGS_CSV + b"Otra;;\r\n" * (8 * 1_000_000))
    capsys.readouterr()
    code, peak = bounded(lambda: main(["import", "organizations", "catastro.csv", "--yes"]))
    assert code == 1 and peak < 32 * MB
    assert "El archivo es muy grande. Envía uno de menos de 5 MB." in capsys.readouterr().out


async def _families(app: App, sector: str, names: list[str], chats: bool = False) -> list[int]:
    now = app.clock.now()
    ids = []
    async with app.sessions() as s:
        [program] = await programs.all_programs(s)
        for name in names:
            person_id = None
            if chats:
                p = Person(name=name, reachable=True, consent_at=now, created_at=now)
                s.add(p)
                await s.flush()
                chat = await s.scalar(select(func.count()).select_from(ChannelAddress))
                s.add(ChannelAddress(person_id=p.id, channel="telegram",
                                     address=str(8000 + chat), created_at=now))
                person_id = p.id
            f = Family(program_id=program.id, name=name, sector=sector, person_id=person_id,
                       created_at=now)
            s.add(f)
            await s.flush()
            ids.append(f.id)
        await s.commit()
    return ids


async def test_codes_of_a_sector_as_a_pdf(app: App, tmp_path: Path, capsys) -> None:
    await _families(app, "Villa Esperanza", ["Familia Ñancupil", "Familia Güemes"])
    await _families(app, "Centro", ["Familia Centro"])
    out_pdf = tmp_path / "tarjetas.pdf"
    assert await cli_outreach.run(app, parse("codes", "families", "--sector", "villa esperanza",
                                             "--pdf", str(out_pdf), "--bot", "@convoca_bot")) == 0
    assert out_pdf.read_bytes().startswith(b"%PDF")
    assert f"Escribí 2 tarjetas en {out_pdf}." in capsys.readouterr().out
    assert await count(app, LinkCode) == 2


async def test_codes_listed_and_printed_without_a_bot(app: App, capsys, tmp_path: Path
                                                     ) -> None:
    await _families(app, "Centro", ["Familia Centro"])
    assert await cli_outreach.run(app, parse("codes", "families")) == 0
    async with app.sessions() as s:
        code = await s.scalar(select(LinkCode.code))
    assert capsys.readouterr().out == f"Familia Centro\t{code}\n"
    # The cards then carry the code and how to send it (tests/test_cli_in_use.py).
    out_pdf = tmp_path / "x.pdf"
    assert await cli_outreach.run(app, parse("codes", "families", "--pdf", str(out_pdf))) == 0
    assert out_pdf.read_bytes().startswith(b"%PDF")
    assert await count(app, LinkCode) == 1


async def test_codes_ask_telegram_for_the_bot_name(fake_tg, settings_for, sqlite_url, clock,
                                                   capsys) -> None:
    app = await build_app(settings_for(sqlite_url, telegram_bot_token=fake_tg.token,
                                       telegram_api_base=fake_tg.base_url), clock=clock)
    try:
        now = clock.now()
        async with app.sessions() as s:
            program = await programs.create(s, template="ecomercado-15m", start=now.date(),
                                            name="Ecomercado", now=now)
            s.add(Organization(program_id=program.id, name="Junta Ñuñoa", created_at=now))
            await s.commit()
        assert await cli_outreach.run(app, parse("codes", "organizations")) == 0
        name, code, url = capsys.readouterr().out.strip().split("\t")
        assert name == "Junta Ñuñoa" and url == f"https://t.me/convoca_test_bot?start={code}"
    finally:
        await app.close()


async def test_codes_for_whatsapp_open_a_chat_with_the_business_number(
        app: App, capsys, tmp_path: Path) -> None:
    await _families(app, "Centro", ["Familia Centro"])
    # No number given and none seen: the code alone, as for a bot with no known name.
    assert await cli_outreach.run(app, parse("codes", "families", "--channel", "whatsapp")) == 0
    async with app.sessions() as s:
        code = await s.scalar(select(LinkCode.code))
    assert capsys.readouterr().out == f"Familia Centro\t{code}\n"
    assert await cli_outreach.run(app, parse("codes", "families", "--channel", "whatsapp",
                                             "--number", "+56 9 8765 4321")) == 0
    assert capsys.readouterr().out == \
        f"Familia Centro\t{code}\thttps://wa.me/56987654321?text={code}\n"
    # The number a run on WhatsApp kept serves when none is given.
    await state.put(app.sessions, state.WHATSAPP_NUMBER, "56922223333")
    out_pdf = tmp_path / "wa.pdf"
    assert await cli_outreach.run(app, parse("codes", "families", "--channel", "whatsapp",
                                             "--pdf", str(out_pdf))) == 0
    if shutil.which("pdftotext"):
        done = await asyncio.to_thread(subprocess.run, ["pdftotext", str(out_pdf), "-"],
                                       check=True, capture_output=True, text=True)
        text = " ".join(done.stdout.split())
        assert "se abrirá WhatsApp con tu código" in text and "+56922223333" in text
        assert "Telegram" not in text


async def test_codes_link_to_whatsapp_where_it_is_set_up(settings_for, sqlite_url, clock,
                                                         capsys, monkeypatch) -> None:
    """With WhatsApp's token the cards open WhatsApp unless --channel says Telegram; the
    number is asked from the Cloud API and kept, and one seen before serves when Meta is
    out of reach."""
    asked: list[tuple[str, str]] = []

    class Cloud:
        def __init__(self, base: str, token: str, phone_number_id: str, *_: object,
                     **__: object) -> None:
            asked.append((token, phone_number_id))

        async def phone_number(self) -> dict[str, str]:
            if len(asked) > 1:
                raise OSError("Meta out of reach")
            return {"display_phone_number": "+56 9 5555 0000", "verified_name": "Ecomercado"}

        async def close(self) -> None:
            pass

    monkeypatch.setattr("bot.whatsapp.client.CloudClient", Cloud)
    app = await build_app(settings_for(
        sqlite_url, whatsapp_access_token="EAAG-test", whatsapp_phone_number_id="1098",
        whatsapp_app_secret="app-secret-of-the-tests",
        whatsapp_verify_token="verify-token-of-the-tests"), clock=clock)
    try:
        now = clock.now()
        async with app.sessions() as s:
            program = await programs.create(s, template="ecomercado-15m", start=now.date(),
                                            name="Ecomercado", now=now)
            s.add(Organization(program_id=program.id, name="Junta Ñuñoa", created_at=now))
            await s.commit()
        for _ in range(2):  # asked, then out of reach: the number kept the first time
            assert await cli_outreach.run(app, parse("codes", "organizations")) == 0
            name, code, url = capsys.readouterr().out.strip().split("\t")
            assert url == f"https://wa.me/56955550000?text={code}"
        assert asked == [("EAAG-test", "1098")] * 2
        assert await state.get(app.sessions, state.WHATSAPP_NUMBER) == "56955550000"
        assert await cli_outreach.run(app, parse("codes", "organizations", "--channel",
                                                 "telegram", "--bot", "@convoca_bot")) == 0
        assert capsys.readouterr().out.strip().endswith(f"https://t.me/convoca_bot?start={code}")
    finally:
        await app.close()


async def test_broadcast_previews_then_queues_with_yes(app: App, capsys) -> None:
    await _families(app, "Villa Esperanza", ["Familia Uno", "Familia Dos"], chats=True)
    await _families(app, "villa esperanza", ["Familia Sin Chat"])
    await _families(app, "Centro", ["Familia Centro"], chats=True)
    target = "families:sector=Villa Esperanza"
    assert await cli_outreach.run(app, parse("broadcast", "--target", target,
                                             "--text", "Hola vecinas")) == 1
    out = capsys.readouterr().out
    assert "Para: las familias de Villa Esperanza." in out
    assert "📣 Mensaje de Ecomercado Quilpué:\n\nHola vecinas" in out
    assert "Familia Sin Chat" in out and "¿Enviar a 2 personas? [s/N] n" in out
    assert await count(app, OutboxMessage) == 0

    assert await cli_outreach.run(app, parse("broadcast", "--target", target,
                                             "--text", "Hola vecinas", "--yes")) == 0
    assert "Quedaron 2 mensajes en cola" in capsys.readouterr().out
    async with app.sessions() as s:
        rows = (await s.scalars(select(OutboxMessage))).all()
    assert len(rows) == 2 and {r.kind for r in rows} == {"broadcast"}
    assert len({r.batch for r in rows}) == 1


async def test_broadcast_refuses_bad_targets_and_long_texts(app: App) -> None:
    with pytest.raises(CommandError, match="No entiendo el destino vecinos"):
        await cli_outreach.run(app, parse("broadcast", "--target", "vecinos", "--text", "x"))
    with pytest.raises(CommandError, match="3.501 caracteres"):
        await cli_outreach.run(app, parse("broadcast", "--target", "everyone",
                                          "--text", "x" * 3501))


async def test_invite_a_body_to_its_meeting(app: App, capsys) -> None:
    now = app.clock.now()
    async with app.sessions() as s:
        [program] = await programs.all_programs(s)
        body = await s.scalar(select(Body).where(Body.program_id == program.id,
                                                 Body.kind == "grupo_motor"))
        for i in range(2):
            p = Person(name=f"Integrante {i}", reachable=True, consent_at=now, created_at=now)
            s.add(p)
            await s.flush()
            s.add(ChannelAddress(person_id=p.id, channel="telegram", address=str(8100 + i),
                                 created_at=now))
            s.add(Membership(body_id=body.id, person_id=p.id, joined_at=now))
        meeting = Meeting(program_id=program.id, body_id=body.id, kind="grupo_motor",
                          starts_at=now + timedelta(days=5), created_at=now)
        past = Meeting(program_id=program.id, kind="grupo_motor",
                       starts_at=now - timedelta(days=1), created_at=now)
        s.add_all([meeting, past])
        await s.commit()
    assert await cli_outreach.run(app, parse("invite", str(meeting.id), "--target",
                                             "body:grupo_motor", "--yes")) == 0
    out = capsys.readouterr().out
    assert "Para: los integrantes de Grupo Motor." in out and "[Asistiré]" in out
    assert await count(app, Rsvp, Rsvp.meeting_id == meeting.id) == 2
    assert await count(app, OutboxMessage, OutboxMessage.kind == "invitation") == 2
    with pytest.raises(CommandError, match=f"número {past.id}"):
        await cli_outreach.run(app, parse("invite", str(past.id), "--target", "everyone"))
