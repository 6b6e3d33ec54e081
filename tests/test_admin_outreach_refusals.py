"""Every catastro and outreach action, tried by a family member and by a representative:
each is refused politely, logged, and changes nothing. Their buttons are signed for them
(as if an old admin button had reached them), so only the guard stands in the way."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from test_admin_outreach_support import (
    add_family,
    add_gestora,
    add_meeting,
    add_organization,
    add_person,
    seed_program,
)

from handlers.admin import catastro, outreach
from storage.models import (
    AppState,
    AuditEntry,
    Conversation,
    Family,
    LinkCode,
    Organization,
    OrganizationInvitation,
    OutboxMessage,
    Rsvp,
)
from telegram_harness import Running

REFUSED = "Eso lo puede hacer solo el equipo del programa."
INTRUDER = 6001


def actions(org: int, fam: int, meeting: int) -> list[str]:
    return [
        "adm:catastro", "adm:catastro:x", "adm:catastro:imp:o", "adm:catastro:fk:f",
        "adm:catastro:imc", "adm:catastro:new:f", "adm:catastro:find:o:e",
        f"adm:catastro:ed:o:{org}", f"adm:catastro:ef:f:{fam}:p", "adm:catastro:sk",
        "adm:catastro:clr", "adm:catastro:pm:d", "adm:catastro:codes",
        f"adm:catastro:cd:f:{fam}", f"adm:catastro:cd:o:{org}", "adm:catastro:qr:f:all",
        "adm:catastro:qr:o", "adm:catastro:ok:comite", "adm:catastro:fis",
        "adm:catastro:fi:1", "adm:catastro:fia:1", f"adm:catastro:fio:1:{org}",
        "adm:outreach", "adm:outreach:x", "adm:outreach:bc", "adm:outreach:inv",
        f"adm:outreach:m:{meeting}", "adm:outreach:t:a", "adm:outreach:t:fs",
        "adm:outreach:ck:0", f"adm:outreach:tg:{org}:0", "adm:outreach:ok", "adm:outreach:go",
    ]


# What an admin would have in her conversation at each step, so that only the guard can stop
# the input from doing something.
FLOWS = [
    (catastro.FLOW, "file", {"kind": "o"}, "text"),
    (catastro.FLOW, "file", {"kind": "f"}, "document"),
    (catastro.FLOW, "file_kind", {"file_id": "x", "filename": "a.csv"}, "text"),
    (catastro.FLOW, "confirm", {"kind": "o", "preview": {}}, "text"),
    (catastro.FLOW, "field", {"k": "f", "rid": None, "f": "n", "v": {}}, "text"),
    (catastro.FLOW, "search", {"k": "o", "p": "c"}, "text"),
    (outreach.FLOW, "text", {"purpose": "bc"}, "text"),
    (outreach.FLOW, "target", {"purpose": "bc", "text": "Hola"}, "text"),
    (outreach.FLOW, "check", {"purpose": "bc", "text": "Hola", "sel": []}, "text"),
    (outreach.FLOW, "confirm", {"purpose": "bc", "text": "Hola",
                                "target": {"kind": "everyone"}}, "text"),
]


async def snapshot(r: Running) -> dict[str, object]:
    async with r.app.sessions() as s:
        result: dict[str, object] = {}
        for model in (Organization, Family, LinkCode, Rsvp, OrganizationInvitation, AppState):
            result[model.__name__] = await s.scalar(select(func.count()).select_from(model))
        result["sent"] = await s.scalar(select(func.count()).select_from(OutboxMessage).where(
            OutboxMessage.kind.in_(["broadcast", "invitation", "broadcast_progress"])))
        result["families"] = sorted((await s.execute(
            select(Family.name, Family.phone, Family.pickup_mode))).all())
        return result


@pytest.mark.parametrize("role", ["familia", "representante"])
async def test_every_action_and_step_is_refused_to_people_outside_the_team(
        tg: Running, role: str) -> None:
    program_id = await seed_program(tg)
    await add_gestora(tg)
    org = await add_organization(tg, program_id, "Junta de Vecinos", reps=[(6101, "Rita Rep")])
    fam = await add_family(tg, program_id, "Familia Soto", chat=6102, sector="Centro",
                           phone="+56911112222")
    meeting = await add_meeting(tg, program_id)
    intruder = await add_person(tg, INTRUDER, "Iván Intruso", role=role, program_id=program_id)
    before = await snapshot(tg)

    walked = actions(org, fam, meeting)
    verbs = {(a.split(":")[1], (a.split(":")[2:] or [""])[0]) for a in walked}
    assert verbs == {("catastro", v) for v in catastro.VERBS} | {
        ("outreach", v) for v in outreach.VERBS}  # a new verb must be walked too

    attempts = 0
    for act in walked:
        data = tg.app.services.buttons.pack(intruder, act)
        count = len(tg.fake.delivered(INTRUDER))
        tg.fake.callback(INTRUDER, data)
        [reply] = await tg.replies(INTRUDER, count, 1)
        assert reply["text"].startswith(REFUSED), act
        attempts += 1

    for flow, step, data, kind in FLOWS:
        async with tg.app.sessions() as s:
            convo = await s.get(Conversation, intruder)
            if convo is None:
                convo = Conversation(person_id=intruder, updated_at=tg.app.clock.now())
                s.add(convo)
            convo.flow, convo.step, convo.data = flow, step, data
            await s.commit()
        count = len(tg.fake.delivered(INTRUDER))
        if kind == "document":
            tg.fake.document(INTRUDER, "familias.csv", b"Nombre;Telefono\nX;912345678\n",
                             "text/csv")
        else:
            tg.fake.message(INTRUDER, "Junta Nueva")
        [reply] = await tg.replies(INTRUDER, count, 1)
        assert reply["text"].startswith(REFUSED), (flow, step)
        attempts += 1
        async with tg.app.sessions() as s:
            assert (await s.get(Conversation, intruder)).flow is None  # sent out of the wizard

    # A spreadsheet sent with a caption that names the import, outside any wizard.
    count = len(tg.fake.delivered(INTRUDER))
    tg.fake.document(INTRUDER, "catastro.csv", b"Nombre\nJunta Falsa\n", "text/csv",
                     caption="organizaciones")
    [reply] = await tg.replies(INTRUDER, count, 1)
    assert reply["text"].startswith(REFUSED)
    attempts += 1

    assert await snapshot(tg) == before
    async with tg.app.sessions() as s:
        refused = (await s.scalars(select(AuditEntry).where(
            AuditEntry.action == "admin_refused", AuditEntry.actor_id == intruder))).all()
    assert len(refused) == attempts
    assert all(a.details.get("what") for a in refused)


async def test_a_document_from_someone_outside_the_team_without_caption_is_not_ours(
        tg: Running) -> None:
    program_id = await seed_program(tg)
    await add_person(tg, INTRUDER, "Iván Intruso", role="familia", program_id=program_id)
    count = len(tg.fake.delivered(INTRUDER))
    tg.fake.document(INTRUDER, "receta.pdf", b"%PDF-1.4", "application/pdf")
    [reply] = await tg.replies(INTRUDER, count, 1)
    assert reply["text"].startswith("No te entendí")
