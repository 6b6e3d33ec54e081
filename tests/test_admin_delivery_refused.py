"""Every action of the delivery, day-list, stages and exports sections, tried by people who
may not use them: a family member, an organisation's representative and (for the gestora's
tools) the premises staff. Each is refused politely and logged, and nothing changes."""

from __future__ import annotations

from test_admin_delivery_support import (
    FAMILY_MEMBER,
    REPRESENTATIVE,
    STAFF,
    add_day,
    count,
    local,
    rows,
    say,
    seed,
)

from handlers import registration
from handlers.admin import delivery as admin_delivery
from handlers.admin import exports as admin_exports
from storage import people
from storage.models import (
    AuditEntry,
    Conversation,
    DeliveryDay,
    Milestone,
    OutboxMessage,
    Pickup,
    PickupStatus,
    Program,
    Role,
)
from telegram_harness import Running

REFUSED = "Eso lo puede hacer solo el equipo del programa"


def gestora_actions(day: int, pickup: int, family: int, milestone: int, meeting: int
                    ) -> list[str]:
    delivery = [f"adm:delivery:{a}" if a else "adm:delivery" for a in (
        "", "new", "x", "mode:r", "mode:d", "cal:d:20260312", "cal:m:202604",
        "ucal:d:20260402", "ts:t:1000", "te:t:1200", "same", "noaddr", "rep:1", "cnt:4",
        "until", "save", "to:all", "to:sec", "to:pick", "to:later", "sec:0",
        f"pk:t:{family}:0", "pk:p:1", "pk:ok", f"asg:{day}", "pol", "pol:all", "pol:each",
        "days:0", "days:1:e", f"day:{day}", f"cx:{day}", f"cxy:{day}", f"mv:{pickup}:0",
        f"mvt:{pickup}:{day}")]
    stages = [f"adm:stages:{a}" if a else "adm:stages" for a in (
        "", "s:1", f"m:{milestone}", f"done:{milestone}", f"undo:{milestone}",
        f"mv:{milestone}", f"c{milestone}:d:20260327", f"c{milestone}:m:202604")]
    exports = [f"adm:exports:{a}" if a else "adm:exports" for a in (
        "", "att:0", "att:1:e", f"am:{meeting}", f"a:{meeting}:pdf", f"a:{meeting}:xlsx",
        f"a:{meeting}:csv", "fi", "fi:pdf", "fi:xlsx", "org", "org:xlsx", "org:csv", "org:pdf",
        "dd:0", f"ddd:{day}", f"d:{day}:pdf", f"d:{day}:csv", "pr", "pr:pdf", "pr:xlsx",
        "pr:png", "vs", "vst:1", "vv:1:2", f"vf:1:2:{meeting}", f"vm:1:2:{meeting}:pdf",
        "vm:1:1:0:xlsx")]
    return delivery + stages + exports


def daylist_actions(day: int, pickup: int) -> list[str]:
    return [f"adm:daylist:{a}" if a else "adm:daylist" for a in (
        "", "pick:0", "pick:1:e", f"d:{day}:0", f"all:{day}", f"f:{pickup}:0",
        f"m:{pickup}:p:0", f"m:{pickup}:n:0", f"m:{pickup}:x:0", f"skip:{pickup}")]


def test_the_walk_covers_every_operation_of_the_sections() -> None:
    """A new operation must be added to the walk below, or this fails."""
    walked = gestora_actions(1, 2, 3, 4, 5) + daylist_actions(1, 2)

    def ops(prefix: str) -> set[str]:
        return {a.split(":")[2] if a.count(":") >= 2 else "" for a in walked
                if a.split(":")[1] == prefix}

    assert ops("delivery") >= set(admin_delivery._DELIVERY_OPS)
    assert ops("daylist") >= set(admin_delivery._DAYLIST_OPS)
    assert ops("exports") >= set(admin_exports._OPS)
    assert ops("stages") >= {"", "s", "m", "done", "undo", "mv", "c4"}


async def snapshot(r: Running) -> tuple:
    days = [(d.id, d.window_start, d.cancelled_at, d.place) for d in await rows(r, DeliveryDay)]
    pickups = [(p.id, p.status, p.marked_by, p.proxy_name, p.handed_at)
               for p in await rows(r, Pickup)]
    milestones = [(m.id, m.due, m.done_at) for m in await rows(r, Milestone)]
    settings = [dict(p.settings or {}) for p in await rows(r, Program)]
    notices = [o.idempotency_key for o in await rows(r, OutboxMessage, OutboxMessage.kind != "reply")]
    return days, pickups, milestones, settings, notices


async def stand_ins(r: Running, program_id: int, role: str, first_chat: int, n: int
                    ) -> list[tuple[int, int]]:
    """More people with the same role, each in their own chat: Telegram allows about one
    message a second per chat, so spreading the walk keeps it quick."""
    now = r.app.clock.now()
    out = []
    async with r.app.sessions() as s:
        for chat in range(first_chat, first_chat + n):
            r.fake.add_chat(chat, first_name="Ana", language_code="es")
            person = await people.create_with_address(
                s, "telegram", str(chat), now, name="Ana", locale="es", consent_at=now,
                consent_version=registration.CONSENT_VERSION, program_id=program_id)
            await people.grant(s, person, role, program_id, now)
            out.append((chat, person.id))
        await s.commit()
    return out


async def walk(r: Running, who: list[tuple[int, int]], actions: list[str]) -> None:
    """Press every action, a few per person; each gets exactly the polite refusal."""
    per = -(-len(actions) // len(who))
    plan = [(chat, pid, actions[i * per:(i + 1) * per]) for i, (chat, pid) in enumerate(who)]
    before = {chat: len(r.fake.delivered(chat)) for chat, _, _ in plan}
    for chat, pid, mine in plan:
        for a in mine:
            r.fake.callback(chat, r.app.services.buttons.pack(pid, a))
    for chat, _, mine in plan:
        replies = await r.replies(chat, before[chat], len(mine)) if mine else []
        assert len(replies) == len(mine)
        assert all(REFUSED in x.get("text", "") for x in replies), [
            x.get("text") for x in replies if REFUSED not in x.get("text", "")]
    assert not r.fake.calls("sendDocument")


async def test_family_members_and_representatives_are_refused_everything(tg: Running, clock
                                                                         ) -> None:
    seeded = await seed(tg)
    day, pickups = await add_day(tg, seeded, local(2026, 3, 2, 10))
    pickup, family = pickups["González Soto"], seeded.families["Muñoz Rojas"]
    [milestone] = [m.id for m in await rows(tg, Milestone, Milestone.key == "s1.socializacion")]
    clock.set(local(2026, 3, 2, 10, 30))  # the window is open: marking would work for staff
    before = await snapshot(tg)

    everything = gestora_actions(day, pickup, family, milestone, 1) + daylist_actions(day,
                                                                                      pickup)
    families = [(FAMILY_MEMBER, seeded.people[FAMILY_MEMBER])] + await stand_ins(
        tg, seeded.program_id, Role.FAMILIA, 7500, 30)
    representatives = [(REPRESENTATIVE, seeded.people[REPRESENTATIVE])] + await stand_ins(
        tg, seeded.program_id, Role.REPRESENTANTE, 7600, 30)
    for who in (families, representatives):
        await walk(tg, who, everything)
        for command in ("/etapas", "/stages"):
            [reply] = await say(tg, who[0][0], command)
            assert REFUSED in reply["text"]
    # The premises staff keep the day list but none of the gestora's tools.
    staff = [(STAFF, seeded.people[STAFF])] + await stand_ins(tg, seeded.program_id,
                                                              Role.RECINTO, 7700, 24)
    await walk(tg, staff, gestora_actions(day, pickup, family, milestone, 1))
    [reply] = await say(tg, STAFF, "/etapas")
    assert REFUSED in reply["text"]

    # Someone whose role was taken away mid-wizard is refused too, and let out of it.
    flows = [("adm_delivery", "place", {"mode": "retiro", "date": "2026-03-12",
                                        "start": "10:00", "end": "12:00"}),
             ("adm_delivery", "count", {"every": 1}),
             ("adm_daylist", "list", {"day_id": day}),
             ("adm_daylist", "proxy", {"day_id": day, "pickup_id": pickup}),
             ("adm_stages", "move", {"milestone_id": milestone})]
    for flow, step, data in flows:
        async with tg.app.sessions() as s:
            convo = await s.get(Conversation, seeded.people[FAMILY_MEMBER])
            convo.flow, convo.step, convo.data = flow, step, data
            await s.commit()
        [reply] = await say(tg, FAMILY_MEMBER, "Rosa Pérez 12")
        assert REFUSED in reply["text"]
        async with tg.app.sessions() as s:
            assert (await s.get(Conversation, seeded.people[FAMILY_MEMBER])).flow is None

    assert await snapshot(tg) == before
    [p] = await rows(tg, Pickup, Pickup.id == pickup)
    assert p.status == PickupStatus.NOTIFIED
    refused = 2 * (len(everything) + 2) + len(gestora_actions(1, 1, 1, 1, 1)) + 1 + len(flows)
    assert await count(tg, AuditEntry, AuditEntry.action == "admin_refused") == refused
    assert await count(tg, AuditEntry, AuditEntry.action != "admin_refused") == 0
    representative_ids = {pid for _, pid in representatives}
    logged = [a for a in await rows(tg, AuditEntry) if a.actor_id in representative_ids]
    assert {a.details["what"] for a in logged} >= {"delivery:cxy", "stages:done",
                                                   "exports:fi", "daylist:m", "etapas"}
