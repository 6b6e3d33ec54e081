"""Roles from the panel, end to end through the fake Bot API: the list of who has which role,
the person picker (eight a page, searched by typing part of a name), granting and revoking
with the body membership that goes with the Grupo Motor and Consejo Local roles, and the
gestora who cannot take away her own last admin role. In Spanish and in English."""

from __future__ import annotations

from sqlalchemy import select
from test_admin_meetings_flow import GESTORA, add_person, labels, seed, tap

from storage.models import AuditEntry, Body, Membership, Person, RoleGrant
from telegram_harness import Running

HUGO, INES, JUAN, COORD = 7101, 7102, 7103, 7104


async def seed_more(r: Running) -> dict[str, int]:
    ids = await seed(r)
    # Hugo registered with /start but is not linked to anything yet: he can still be picked.
    ids["hugo"] = await add_person(r, HUGO, "Hugo Núñez", "es", phone="+56912345678")
    ids["ines"] = await add_person(r, INES, "Inés Tapia", "es", program_id=ids["program"])
    ids["juan"] = await add_person(r, JUAN, "Juan Vera", "es", program_id=ids["program"])
    return ids


async def grants(r: Running, person_id: int) -> list[tuple[str, int | None]]:
    async with r.app.sessions() as s:
        return [(g.role, g.program_id) for g in await s.scalars(
            select(RoleGrant).where(RoleGrant.person_id == person_id).order_by(RoleGrant.id))]


async def test_grant_and_revoke_a_consejo_local_seat_from_a_searched_list(tg: Running) -> None:
    ids = await seed_more(tg)
    await tg.send(GESTORA, "/panel")
    [listing] = await tap(tg, GESTORA, "👥 Roles")
    assert listing["text"] == (
        "👥 Personas con roles en Ecomercado Quilpué (7):\n"
        "• Ana Pérez: Grupo Motor\n"
        "• Beto Soto: Grupo Motor\n"
        "• Carla Núñez: Grupo Motor\n"
        "• Dani Rojas: Grupo Motor\n"
        "• Eva Muñoz: Familia\n"
        "• Fede Araya: Representante de organización\n"
        "• Gabriela Gestora: Gestión comunitaria")
    [pick] = await tap(tg, GESTORA, "✏️ Dar o quitar un rol")
    assert pick["text"] == "¿A quién? Toca su nombre, o escribe parte del nombre para buscar."
    page_one = labels(tg, GESTORA)
    assert [row[0] for row in page_one[:8]] == [
        "Ana Pérez", "Beto Soto", "Carla Núñez", "Dani Rojas", "Eva Muñoz", "Fede Araya",
        "Gabriela Gestora", "Hugo Núñez · …5678"]
    # The pager's row comes last, with no arrow where there is no page to turn to.
    assert page_one[8:] == [["Cancelar"], ["1/2", "▶"]]
    await tap(tg, GESTORA, "▶", replies=0, edited=1)
    assert labels(tg, GESTORA) == [["Inés Tapia"], ["Juan Vera"], ["Cancelar"], ["◀", "2/2"]]
    # Typed without accents, the search still finds both Núñez.
    [found] = await tg.send(GESTORA, "nunez")
    assert found["text"].startswith("Encontré 2 personas con «nunez».")
    assert labels(tg, GESTORA) == [["Carla Núñez"], ["Hugo Núñez · …5678"], ["Cancelar"]]
    [card] = await tap(tg, GESTORA, "Hugo Núñez · …5678")
    assert card["text"] == ("👤 Hugo Núñez · …5678\nRoles: ninguno\n\n"
                            "Toca un rol para darlo (➕) o quitarlo (✅).")
    assert labels(tg, GESTORA) == [
        ["➕ Gestión comunitaria", "➕ Coordinación"],
        ["➕ Encargado/a de recinto", "➕ Supervisión"],
        ["➕ Grupo Motor", "➕ Consejo Local"],
        ["➕ Representante de organización", "➕ Familia"],
        ["👥 Elegir a otra persona"], ["↩️ Volver al panel"]]
    card_id = tg.fake.delivered(GESTORA)[-1].result["message_id"]

    [granted] = await tap(tg, GESTORA, "➕ Consejo Local", edited=1)
    assert granted["text"] == "Listo: Hugo Núñez ahora tiene el rol «Consejo Local»."
    [granted] = await tap(tg, GESTORA, "➕ Encargado/a de recinto", edited=1)
    assert labels(tg, GESTORA, card_id)[1:3] == [
        ["✅ Encargado/a de recinto", "➕ Supervisión"],
        ["➕ Grupo Motor", "✅ Consejo Local"]]
    card_text = next(m for m in tg.fake.bot_messages(GESTORA)
                     if m["message_id"] == card_id)["text"]
    assert "Roles: Encargado/a de recinto, Consejo Local" in card_text
    async with tg.app.sessions() as s:
        cl = await s.scalar(select(Body).where(Body.kind == "consejo_local"))
        seat = await s.scalar(select(Membership).where(Membership.person_id == ids["hugo"]))
        hugo = await s.get(Person, ids["hugo"])
    assert (seat.body_id, seat.left_at) == (cl.id, None)
    assert hugo.program_id == ids["program"]  # now part of the programme
    assert await grants(tg, ids["hugo"]) == [("consejo_local", ids["program"]),
                                             ("recinto", ids["program"])]

    tg.app.clock.advance(days=3)
    [revoked] = await tap(tg, GESTORA, "✅ Consejo Local", edited=1)
    assert revoked["text"] == "Listo: Hugo Núñez ya no tiene el rol «Consejo Local»."
    async with tg.app.sessions() as s:
        seat = await s.scalar(select(Membership).where(Membership.person_id == ids["hugo"]))
    assert seat.left_at == tg.app.clock.now()
    assert await grants(tg, ids["hugo"]) == [("recinto", ids["program"])]

    # The gestora herself: her only admin role stays.
    await tap(tg, GESTORA, "👥 Elegir a otra persona")
    await tg.send(GESTORA, "gabriela")
    await tap(tg, GESTORA, "Gabriela Gestora")
    [refused] = await tap(tg, GESTORA, "✅ Gestión comunitaria")
    assert refused["text"].startswith(
        "No puedo quitarte «Gestión comunitaria»: es tu último rol de administración")
    assert await grants(tg, ids["gestora"]) == [("gestora", None)]
    await tap(tg, GESTORA, "👥 Elegir a otra persona")
    [stopped] = await tap(tg, GESTORA, "Cancelar")
    assert stopped["text"] == "Listo, no cambié nada."

    async with tg.app.sessions() as s:
        audit = [(a.action, a.entity_id, a.details.get("role"), a.channel)
                 for a in await s.scalars(select(AuditEntry).where(
                     AuditEntry.actor_id == ids["gestora"]).order_by(AuditEntry.id))]
    assert audit == [
        ("role_granted", ids["hugo"], "consejo_local", "telegram"),
        ("role_granted", ids["hugo"], "recinto", "telegram"),
        ("role_revoked", ids["hugo"], "consejo_local", "telegram"),
        ("role_revoke_refused", ids["gestora"], "gestora", "telegram"),
    ]


async def test_a_coordinator_in_english_links_a_family(tg: Running) -> None:
    ids = await seed_more(tg)
    ids["coord"] = await add_person(tg, COORD, "Carolina Coordinadora", "en", "coordinadora")
    await tg.send(COORD, "/panel")
    await tap(tg, COORD, "👥 Roles")
    [pick] = await tap(tg, COORD, "✏️ Grant or revoke a role")
    assert pick["text"] == "Who? Tap their name, or type part of it to search."
    before = len(tg.fake.delivered(COORD))
    tg.fake.sticker(COORD)
    [again] = await tg.replies(COORD, before, 1)
    assert again["text"] == "Type part of the name to search, or tap “Cancel”."
    [found] = await tg.send(COORD, "ines")
    assert found["text"].startswith("I found 1 person matching “ines”.")
    [card] = await tap(tg, COORD, "Inés Tapia")
    assert card["text"].startswith("👤 Inés Tapia\nRoles: none\n")
    [done] = await tap(tg, COORD, "➕ Family", edited=1)
    assert done["text"] == "Done: Inés Tapia now has the role “Family”."
    assert await grants(tg, ids["ines"]) == [("familia", ids["program"])]
