"""The delivery-day list as the staff read it in chat, on the command line and in the exported
list: after the window, families who did not come count as not come; whoever picked up for a
family is named with the RUT; a proxy whose RUT the family did not know is to be checked."""

from __future__ import annotations

import re
from functools import partial
from pathlib import Path
from typing import Any

import cli_harness
import pytest
from test_admin_delivery_support import (
    FAMILY_CHATS,
    FAMILY_MEMBER,
    STAFF,
    add_day,
    labels_of,
    local,
    rows,
    say,
    seed,
    tap,
)
from test_exports import read_csv, read_pdf

from bot import cli_delivery
from documents import exports
from storage.models import Pickup, PickupStatus
from telegram_harness import Running

PEREZ = FAMILY_CHATS["Pérez Ñancupil"]


parse = partial(cli_harness.parse, cli_delivery)


async def cli(r: Running, capsys, *argv: str) -> str:
    assert await cli_delivery.run(r.app, parse(*argv)) == 0
    return capsys.readouterr().out


async def exported(r: Running, day_id: int, fmt: str, tmp_path: Path) -> Any:
    """The PDF's text, or the CSV's rows."""
    async with r.app.sessions() as s:
        file = await exports.delivery_day_list(s, day_id, fmt, now=r.app.clock.now(),
                                               catalogs=r.app.catalogs)
    return read_csv(file) if fmt == "csv" else read_pdf(file, tmp_path)[0]


def counts_in(text: str) -> dict[str, int]:
    """The day's counts as the chat and the command line print them."""
    return {label.strip(): int(n) for label, n in
            re.findall(r"^(?:[^\w\s]+ )?([^:\n]+): (\d+)$", text, re.MULTILINE)}


async def test_after_the_window_the_lists_count_who_did_not_come_and_name_the_proxy(
        tg: Running, clock, capsys, tmp_path: Path) -> None:
    seeded = await seed(tg)
    day, ids = await add_day(tg, seeded, local(2026, 3, 2, 10), statuses={
        "González Soto": PickupStatus.CONFIRMED, "Pérez Ñancupil": PickupStatus.PROXY,
        "Muñoz Rojas": PickupStatus.NOTIFIED, "Araya Díaz": PickupStatus.CANNOT,
        "Castañeda Vidal": PickupStatus.NOTIFIED})
    clock.set(local(2026, 3, 2, 10, 40))
    await say(tg, STAFF, "/panel")
    await tap(tg, STAFF, "📋 Lista del día de entrega", sends=1)
    await tap(tg, STAFF, "⏳ Castañeda Vidal", edits=1)
    await tap(tg, STAFF, "Retiró otra persona 👥", sends=1, edits=1)
    await say(tg, STAFF, "Rosa Pérez Díaz 12.345.678-5")
    # The window closes; "no alcanzamos a verte" goes to the families not marked.
    clock.set(local(2026, 3, 2, 12, 31))

    [listed] = await say(tg, STAFF, "/panel")
    [listed], _ = await tap(tg, STAFF, "📋 Lista del día de entrega", sends=1)
    counts = counts_in(listed["text"])
    assert counts["No vinieron"] == 3 and counts["Sin respuesta"] == 0
    assert counts["Confirmaron"] == 0 and counts["Retira otra persona"] == 0
    assert counts["Retiraron"] == 1 and counts["No pueden venir"] == 1
    total = counts.pop("Familias en la lista")
    assert total == 5 == sum(counts.values())
    assert "✅ Castañeda Vidal · 👥 Rosa Pérez Díaz" in labels_of(listed)
    assert "❌ González Soto" in labels_of(listed)
    _, [card] = await tap(tg, STAFF, "✅ Castañeda Vidal · 👥 Rosa Pérez Díaz", edits=1)
    assert "Retiró: Rosa Pérez Díaz (RUT 12.345.678-5)" in card["text"]

    printed = await cli(tg, capsys, "delivery", "day", str(day))
    cli_counts = counts_in(printed)
    assert cli_counts == {**counts, "Familias en la lista": 5}
    assert "González Soto — no vino ❌" in printed
    assert "Castañeda Vidal — retiró ✅ · retiró Rosa Pérez Díaz (RUT 12.345.678-5)" in printed

    pdf = await exported(tg, day, "pdf", tmp_path)
    assert "Retiró Rosa Pérez Díaz (RUT 12.345.678-5)" in pdf
    assert ("Familias: 5 · Confirmaron: 0 · No pueden o piden otra fecha: 1 · Sin respuesta: 0 "
            "· Retiraron: 1 · No vinieron: 3") in pdf
    sheet = await exported(tg, day, "csv", tmp_path)
    # N°, recipient, RUT, family, sector, mode, status, reason, proxy, their RUT, ...
    by_family = {r[3]: r for r in sheet[1:]}
    assert [by_family[f][6] for f in ("González Soto", "Pérez Ñancupil", "Muñoz Rojas")] == [
        "No vino"] * 3
    assert by_family["Castañeda Vidal"][6:11] == ["Retiró", "", "Rosa Pérez Díaz",
                                                   "12.345.678-5", ""]


async def test_a_day_whose_list_nobody_kept_does_not_invent_no_shows(
        tg: Running, clock, capsys) -> None:
    seeded = await seed(tg)
    day, _ = await add_day(tg, seeded, local(2026, 3, 2, 10))
    clock.set(local(2026, 3, 2, 13))
    printed = await cli(tg, capsys, "delivery", "day", str(day))
    assert counts_in(printed)["No vinieron"] == 0 and counts_in(printed)["Sin respuesta"] == 5


@pytest.mark.parametrize("text", ["No lo sé", "no se", "NOSE", "ni idea", "No sé cuál es",
                                  "no lo tengo", "no", "I don't know", "dont know"])
def test_ways_of_saying_the_rut_is_not_known(text: str) -> None:
    from handlers.pickups import says_not_known

    assert says_not_known(text)


@pytest.mark.parametrize("text", ["12.345.678-5", "Noelia", "nosotros lo llevamos", "sí"])
def test_what_is_not_saying_so(text: str) -> None:
    from handlers.pickups import says_not_known

    assert not says_not_known(text)


@pytest.mark.parametrize("locale", ["es", "en"])
async def test_a_proxy_whose_rut_the_family_does_not_know(tg: Running, capsys, tmp_path: Path,
                                                         locale: str) -> None:
    seeded = await seed(tg, locale)
    day, ids = await add_day(tg, seeded, local(2026, 3, 4, 10))
    t = {"es": ("Retira otra persona", "No lo sé", "no sé",
                "Listo: Rosa Pérez Díaz retirará la canasta por ti el miércoles 4 de marzo de "
                "2026, de 10:00 a 12:00. Que lleve su carnet"),
         "en": ("Someone else picks up", "I don't know", "no idea",
                "Done: Rosa Pérez Díaz will pick up the basket for you on Wednesday 4 March "
                "2026, 10:00 to 12:00. They should bring their ID card")}[locale]
    await say(tg, FAMILY_MEMBER, "/retiro")
    await tg.press(FAMILY_MEMBER, t[0])
    [ask] = await say(tg, FAMILY_MEMBER, "Rosa Pérez Díaz")
    assert labels_of(ask) == [t[1]]
    [done] = await tg.press(FAMILY_MEMBER, t[1])
    assert done["text"].startswith(t[3])
    # Typed, the same: "no sé" / "no idea".
    await say(tg, PEREZ, "/retiro")
    await tg.press(PEREZ, t[0])
    await say(tg, PEREZ, "Luis Soto Rojas")
    [done] = await say(tg, PEREZ, t[2])
    assert "Luis Soto Rojas" in done["text"]
    for name in ("González Soto", "Pérez Ñancupil"):
        [p] = await rows(tg, Pickup, Pickup.id == ids[name])
        assert (p.status, p.proxy_rut) == (PickupStatus.PROXY, None)
    assert {p.proxy_name for p in await rows(tg, Pickup, Pickup.id.in_(ids.values()))} >= {
        "Rosa Pérez Díaz", "Luis Soto Rojas"}

    # Every list says the RUT is to be checked at the pickup.
    await say(tg, STAFF, "/panel")
    [pick], _ = await tap(tg, STAFF, "📋 Lista del día de entrega" if locale == "es"
                          else "📋 Delivery day list", sends=1)
    await tap(tg, STAFF, "mié 4 mar" if locale == "es" else "Wed 4 Mar", edits=1,
              contains=True)
    _, [card] = await tap(tg, STAFF, "👥 González Soto", edits=1)
    assert ("Retira: Rosa Pérez Díaz (RUT por verificar al retirar)" if locale == "es" else
            "Picking up: Rosa Pérez Díaz (RUT to be checked at pickup)") in card["text"]
    printed = await cli(tg, capsys, "delivery", "day", str(day))
    assert "González Soto — retira otra persona 👥 · retira Rosa Pérez Díaz (RUT por " \
           "verificar al retirar)" in printed
    pdf = await exported(tg, day, "pdf", tmp_path)
    assert "Retira Rosa Pérez Díaz (RUT por verificar al retirar)" in pdf
    sheet = await exported(tg, day, "csv", tmp_path)
    assert [r[8:10] for r in sheet[1:] if r[3] == "González Soto"] == [
        ["Rosa Pérez Díaz", "por verificar al retirar"]]
