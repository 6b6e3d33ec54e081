"""Names are listed in dictionary order, as their readers expect: accents and case do not move
a name, and in Spanish "ñ" is a letter after "n" (issue 10). Checked on the key itself and
where people read lists: the catastro in chat, the command line and the documents."""

from __future__ import annotations

from openpyxl import load_workbook
from test_admin_catastro_telegram import open_catastro
from test_admin_outreach_cli import parse
from test_admin_outreach_support import (
    GESTORA,
    add_gestora,
    add_organization,
    seed_program,
)

from bot import cli_outreach
from documents import exports
from locales.collation import sort_key
from telegram_harness import Running, labels_of

# As a Spanish reader orders them; the database's ORDER BY (code points) put "Soto Castro"
# before "Sánchez Muñoz", "Ñuñoa" after "Zúñiga" and "Álvarez Díaz" last.
SPANISH = ["Álvarez Díaz", "ana rojas", "Ana Rojas", "Nuble Sur", "Núñez Pérez", "Ñuñoa Alto",
           "Ocaña Vera", "Sánchez Muñoz", "Soto Castro", "Zúñiga Ríos"]


def test_spanish_order_ignores_accents_and_case_and_puts_ene_after_n() -> None:
    shuffled = list(reversed(SPANISH))
    assert sorted(shuffled, key=sort_key) == SPANISH
    assert sorted(["Ñandú", "Oso", "Nube"], key=sort_key) == ["Nube", "Ñandú", "Oso"]


def test_english_order_reads_ene_as_n() -> None:
    assert sorted(["Oso", "Nube", "Ñandú"], key=lambda n: sort_key(n, "en")) == [
        "Ñandú", "Nube", "Oso"]
    assert sorted(["Soto", "Álvarez", "sánchez"], key=lambda n: sort_key(n, "en")) == [
        "Álvarez", "sánchez", "Soto"]


ORGS = ["Soto Castro", "Zúñiga Ríos", "Álvarez Díaz", "Ñuñoa Alto", "Sánchez Muñoz",
        "Nuble Sur"]
IN_ORDER = ["Álvarez Díaz", "Nuble Sur", "Ñuñoa Alto", "Sánchez Muñoz", "Soto Castro",
            "Zúñiga Ríos"]


async def test_the_catastro_in_chat_lists_organisations_alphabetically(tg: Running) -> None:
    program_id = await seed_program(tg)
    for name in ORGS:
        await add_organization(tg, program_id, name)
    await add_gestora(tg)
    await open_catastro(tg)
    [pick] = await tg.press(GESTORA, "✏️ Editar organización")
    assert labels_of(pick)[:-1] == IN_ORDER


async def test_the_command_line_and_the_documents_list_them_alphabetically(
        tg: Running, capsys) -> None:
    program_id = await seed_program(tg)
    for name in ORGS:
        await add_organization(tg, program_id, name)
    assert await cli_outreach.run(tg.app, parse("codes", "organizations", "--bot", "")) == 0
    listed = [line.split("\t")[0] for line in capsys.readouterr().out.splitlines()]
    assert listed == IN_ORDER
    async with tg.app.sessions() as s:
        sheet = await exports.invited_organizations(s, program_id, "xlsx",
                                                    now=tg.app.clock.now())
    from io import BytesIO

    ws = load_workbook(BytesIO(sheet.content)).worksheets[0]
    names = [row[1] for row in ws.iter_rows(values_only=True) if isinstance(row[0], int)]
    assert names == IN_ORDER
