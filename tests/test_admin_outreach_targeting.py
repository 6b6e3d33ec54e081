"""Who a target reaches (every kind of target), and how a batch's progress and final report
are tracked: storage.targeting, storage.broadcasts and services.outreach.update_progress_messages."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from domain import targets
from handlers.admin import back_to_panel
from handlers.events import Outgoing
from locales import Catalogs, Msg
from services import outreach
from storage import broadcasts, outbox, programs, targeting
from storage.models import (
    AuditEntry,
    ChannelAddress,
    Family,
    Membership,
    Organization,
    OutboxMessage,
    OutboxStatus,
    Person,
    Representative,
)


class World:
    """A programme with bodies, organisations and families in every state that matters."""

    def __init__(self, s: AsyncSession, now: datetime) -> None:
        self.s, self.now = s, now
        self.ids: dict[str, int] = {}  # people
        self.rec: dict[str, int] = {}  # organisations and families
        self._chat = 100

    async def person(self, key: str, *, chat: bool = True, consent: bool = True,
                     locale: str | None = None, opted_out: bool = False,
                     erased: bool = False) -> int:
        p = Person(name=key, locale=locale, reachable=True, created_at=self.now,
                   consent_at=self.now if consent else None,
                   opted_out_at=self.now if opted_out else None,
                   erased_at=self.now if erased else None)
        self.s.add(p)
        await self.s.flush()
        if chat:
            self._chat += 1
            self.s.add(ChannelAddress(person_id=p.id, channel="telegram",
                                      address=str(self._chat), created_at=self.now))
        self.ids[key] = p.id
        return p.id


async def build(s: AsyncSession, now: datetime) -> tuple[World, int, int]:
    w = World(s, now)
    program = await programs.create(s, template="ecomercado-15m", start=now.date(),
                                    name="Ecomercado Quilpué", now=now)
    other = await programs.create(s, template="ecomercado-15m", start=now.date(),
                                  name="Otro", now=now)
    bodies = {b.kind: b for b in await programs.bodies(s, program.id)}

    async def member(body: str, key: str, left: bool = False, **kw: object) -> None:
        pid = await w.person(key, **kw)
        s.add(Membership(body_id=bodies[body].id, person_id=pid, joined_at=now,
                         left_at=now if left else None))

    await member("grupo_motor", "m1")
    await member("grupo_motor", "m_left", left=True)
    await member("grupo_motor", "m_nochat", chat=False)
    await member("grupo_motor", "m_stop", opted_out=True)
    await member("consejo_local", "c1")

    async def org(name: str, reps: list[tuple[str, dict]], program_id: int = program.id) -> int:
        o = Organization(program_id=program_id, name=name, created_at=now)
        s.add(o)
        await s.flush()
        for i, (key, kw) in enumerate(reps):
            s.add(Representative(organization_id=o.id, person_id=await w.person(key, **kw),
                                 is_primary=i == 0))
        w.rec[name] = o.id
        return o.id

    await org("A Junta", [("a1", {}), ("a2", {})])
    await org("B Club", [("b_stop", {"opted_out": True})])
    await org("C Comité", [])
    await org("D Taller", [("d_noconsent", {"consent": False})])

    async def family(name: str, sector: str | None, mode: str = "retiro",
                     person: str | None = None, program_id: int = program.id,
                     **kw: object) -> None:
        pid = (w.ids.get(person) or await w.person(person, **kw)) if person else None
        f = Family(program_id=program_id, name=name, sector=sector, pickup_mode=mode,
                   person_id=pid, created_at=now)
        s.add(f)
        await s.flush()
        w.rec[name] = f.id

    await family("F1", "Villa Esperanza", person="f1")
    await family("F2", "villa  ESPERANZA", mode="domicilio", person="f2", locale="en")
    await family("F3", "Villa Esperanza")
    await family("F4", "Centro", person="f4_erased", erased=True)
    await family("F5", None, person="f5")
    await family("F6", "Centro", person="a1")  # a representative is also a family
    await family("Q1", "Villa Esperanza", person="q1", program_id=other.id)
    await s.flush()
    return w, program.id, bodies["grupo_motor"].id


async def resolve(sessions, target: dict) -> tuple[targeting.Recipients, World]:
    now = datetime.fromisoformat("2026-03-02T12:00:00+00:00")
    async with sessions() as s:
        w, program_id, _ = await build(s, now)
        return await targeting.resolve(s, program_id, target), w


def names(w: World, ids: list[int]) -> list[str]:
    back = {v: k for k, v in w.ids.items()}
    return [back[i] for i in ids]


async def test_a_body_reaches_its_active_members(sessions) -> None:
    now = datetime.fromisoformat("2026-03-02T12:00:00+00:00")
    async with sessions() as s:
        w, program_id, gm = await build(s, now)
        by_id = await targeting.resolve(s, program_id, {"kind": "body", "id": gm})
        by_kind = await targeting.resolve(s, program_id, {"kind": "body",
                                                          "body_kind": "grupo_motor"})
        foreign = await targeting.resolve(s, program_id + 1, {"kind": "body", "id": gm})
    assert names(w, by_id.person_ids) == ["m1"]
    assert [(k, n) for k, _, n in by_id.not_linked] == [("person", "m_nochat")]
    assert [n for _, _, n in by_id.opted_out] == ["m_stop"]
    assert by_kind.person_ids == by_id.person_ids
    assert foreign.person_ids == [] and foreign.not_linked == []


async def test_all_organisations_reach_their_representatives(sessions) -> None:
    found, w = await resolve(sessions, {"kind": "organizations"})
    assert names(w, found.person_ids) == ["a1", "a2"]
    assert found.organization_ids == [w.rec["A Junta"]]
    assert found.organization_by_person == {w.ids["a1"]: w.rec["A Junta"],
                                            w.ids["a2"]: w.rec["A Junta"]}
    assert [(k, n) for k, _, n in found.not_linked] == [("organization", "C Comité"),
                                                       ("organization", "D Taller")]
    assert [n for _, _, n in found.opted_out] == ["B Club"]


async def test_selected_organisations_only(sessions) -> None:
    now = datetime.fromisoformat("2026-03-02T12:00:00+00:00")
    async with sessions() as s:
        w, program_id, _ = await build(s, now)
        some = await targeting.resolve(s, program_id, {
            "kind": "organizations", "ids": [w.rec["A Junta"], w.rec["C Comité"]]})
        none = await targeting.resolve(s, program_id, {"kind": "organizations", "ids": []})
    assert names(w, some.person_ids) == ["a1", "a2"]
    assert [n for _, _, n in some.not_linked] == ["C Comité"] and some.opted_out == []
    assert none.person_ids == [] and none.not_linked == []


async def test_the_families_of_a_sector_however_it_is_written(sessions) -> None:
    found, w = await resolve(sessions, {"kind": "families", "sector": "VILLA esperanza"})
    assert names(w, found.person_ids) == ["f1", "f2"]  # not the other programme's Q1
    assert [(k, n) for k, _, n in found.not_linked] == [("family", "F3")]


async def test_the_families_of_a_pickup_mode(sessions) -> None:
    found, w = await resolve(sessions, {"kind": "families", "mode": "domicilio"})
    assert names(w, found.person_ids) == ["f2"] and found.not_linked == []
    found, w = await resolve(sessions, {"kind": "families", "mode": "retiro"})
    assert names(w, found.person_ids) == ["f1", "f5", "a1"]  # by family name
    assert [n for _, _, n in found.not_linked] == ["F3", "F4"]  # F4's person was erased


async def test_everyone_is_everybody_once(sessions) -> None:
    found, w = await resolve(sessions, {"kind": "everyone"})
    assert sorted(names(w, found.person_ids)) == ["a1", "a2", "c1", "f1", "f2", "f5", "m1"]
    assert len(found.person_ids) == len(set(found.person_ids))
    assert sorted(n for _, _, n in found.not_linked) == ["C Comité", "D Taller", "F3", "F4",
                                                        "m_nochat"]
    assert sorted(n for _, _, n in found.opted_out) == ["B Club", "m_stop"]


async def test_languages_and_sectors_of_the_programme(sessions) -> None:
    now = datetime.fromisoformat("2026-03-02T12:00:00+00:00")
    async with sessions() as s:
        w, program_id, _ = await build(s, now)
        found = await targeting.resolve(s, program_id, {"kind": "families"})
        langs = await targeting.locales_of(s, found.person_ids)
        sectors = await targeting.sectors(s, program_id)
        key = targets.sector_key("villa esperanza")
        by_key = await targeting.sector_by_key(s, program_id, key)
        shown = await targeting.display_names(s, [w.ids["f1"], 10_000])
    assert langs == {None: 3, "en": 1}
    assert [c for _, c in sectors] == [2, 3] and sectors[0][0] == "Centro"
    assert by_key in ("Villa Esperanza", "villa  ESPERANZA")
    assert shown == {w.ids["f1"]: "f1", 10_000: "#10000"}


@pytest.mark.parametrize(("spec", "target"), [
    ("body:grupo_motor", {"kind": "body", "body_kind": "grupo_motor"}),
    ("body:3", {"kind": "body", "id": 3}),
    ("organizations", {"kind": "organizations"}),
    ("organizations:1, 4", {"kind": "organizations", "ids": [1, 4]}),
    ("families", {"kind": "families"}),
    ("families:sector=Villa Esperanza", {"kind": "families", "sector": "Villa Esperanza"}),
    ("families:mode=Entrega en domicilio", {"kind": "families", "mode": "domicilio"}),
    ("everyone", {"kind": "everyone"}),
    ("all", {"kind": "everyone"}),
])
def test_command_line_targets(spec: str, target: dict) -> None:
    assert targets.check(targets.parse_spec(spec)) == target


@pytest.mark.parametrize("spec", ["body", "families:mode=avion", "families:color=red",
                                  "organizations:a,b", "vecinos", "everyone:x"])
def test_unknown_targets_are_refused(spec: str) -> None:
    with pytest.raises(ValueError):
        targets.parse_spec(spec)


@pytest.mark.parametrize("target", [None, {}, {"kind": "body"}, {"kind": "nobody"},
                                    {"kind": "organizations", "ids": "1,2"},
                                    {"kind": "families", "mode": "avion"}])
def test_malformed_targets_are_refused(target) -> None:
    with pytest.raises(ValueError):
        targets.check(target)


# --- progress and report ------------------------------------------------------------------------


def test_progress_counts_group_thousands_as_each_language_does() -> None:
    cat = Catalogs()
    assert cat.render(outreach.progress_message(340, 1200), "es") == "📤 Enviando 340 de 1.200…"
    assert cat.render(outreach.progress_message(340, 1200), "en") == "📤 Sending 340 of 1,200…"


async def _batch(s: AsyncSession, now: datetime, n: int) -> tuple[int, list[int], str]:
    gestora = Person(name="Gestora", reachable=True, consent_at=now, created_at=now)
    s.add(gestora)
    await s.flush()
    s.add(ChannelAddress(person_id=gestora.id, channel="telegram", address="900",
                         created_at=now))
    ids = []
    for i in range(n):
        p = Person(name=f"Vecina {i}", reachable=True, consent_at=now, created_at=now)
        s.add(p)
        await s.flush()
        s.add(ChannelAddress(person_id=p.id, channel="telegram", address=str(500 + i),
                             created_at=now))
        ids.append(p.id)
    await s.flush()
    batch = broadcasts.new_batch(now)
    payload = Outgoing(text=Msg("outreach.broadcast", {"program": "P", "body": "Hola"})).to_json()
    for pid in ids:
        await outbox.enqueue_for_person(s, pid, payload, key=f"bc:{batch}:{pid}",
                                        kind="broadcast", now=now, batch=batch)
    return gestora.id, ids, batch


async def _settle(s: AsyncSession, batch: str, person_id: int, status: str,
                  error: str | None = None) -> None:
    await s.execute(update(OutboxMessage).where(
        OutboxMessage.batch == batch, OutboxMessage.person_id == person_id
    ).values(status=status, last_error=error, platform_message_id="1"))


async def _progress_rows(s: AsyncSession) -> list[OutboxMessage]:
    return list((await s.scalars(select(OutboxMessage).where(
        OutboxMessage.kind == outreach.PROGRESS_KIND).order_by(OutboxMessage.id))).all())


async def test_progress_is_edited_when_the_count_moves_and_reported_when_settled(
        sessions) -> None:
    now = datetime.fromisoformat("2026-03-02T12:00:00+00:00")
    cat = Catalogs()
    async with sessions() as s:
        gestora, ids, batch = await _batch(s, now, 5)
        await broadcasts.follow(s, broadcasts.Tracked(
            batch=batch, kind="broadcast", program_id=1, person_id=gestora, total=5, ref="77",
            not_linked=[["family", 9, "Familia Sin Chat"]], shown=0))
        assert await outreach.update_progress_messages(s, now) == []  # nothing moved yet

        await _settle(s, batch, ids[0], OutboxStatus.SENT)
        await _settle(s, batch, ids[1], OutboxStatus.SENT)
        [first] = await outreach.update_progress_messages(s, now)
        assert await outreach.update_progress_messages(s, now) == []  # same count: no edit

        await _settle(s, batch, ids[2], OutboxStatus.FAILED, "Forbidden: bot was blocked")
        await s.execute(update(Person).where(Person.id == ids[2]).values(reachable=False))
        [second] = await outreach.update_progress_messages(s, now)
        rows = await _progress_rows(s)
        assert [(r.id, r.status) for r in rows] == [(first, OutboxStatus.DROPPED),
                                                    (second, OutboxStatus.PENDING)]
        edit = Outgoing.from_json(rows[-1].payload)
        assert edit.updates == "77" and rows[-1].urgent and rows[-1].batch is None
        assert cat.render(edit.text, "es") == "📤 Enviando 3 de 5…"

        await _settle(s, batch, ids[3], OutboxStatus.FAILED, "Bad Request: chat not found")
        await _settle(s, batch, ids[4], OutboxStatus.DROPPED, "expired before it could go")
        final, report = await outreach.update_progress_messages(s, now)
        assert await outreach.update_progress_messages(s, now) == []  # forgotten once reported
        rows = {r.id: r for r in await _progress_rows(s)}
        assert cat.render(Outgoing.from_json(rows[final].payload).text, "es") == (
            "✅ Envío terminado: 5 de 5.")
        text = cat.render(Outgoing.from_json(rows[report].payload).text, "es")
        # The report's button is the panel's own way back, which the chat answers.
        assert Outgoing.from_json(rows[report].payload).buttons == ((back_to_panel(),),)
        assert await broadcasts.followed(s) == []
        await s.flush()
        done = await s.scalar(select(AuditEntry).where(AuditEntry.action == "broadcast_done"))
    assert text.splitlines() == [
        "📣 Así fue el envío de tu mensaje:",
        "✅ Entregados: 2 de 5",
        "⛔ Bloquearon el bot: 1 — Vecina 2",
        "❗ No se pudo entregar: 2",
        "• Vecina 3: la aplicación de mensajería no lo aceptó o no respondió",  # never in English
        "• Vecina 4: ya no tenía sentido enviarlo (la reunión había empezado)",
        "🔗 Aún sin vincular (no tienen chat): 1 — Familia Sin Chat",
    ]
    assert done.details["delivered"] == 2 and done.details["blocked"] == 1


async def test_without_a_message_to_edit_only_the_report_is_sent(sessions) -> None:
    now = datetime.fromisoformat("2026-03-02T12:00:00+00:00")
    async with sessions() as s:
        gestora, ids, batch = await _batch(s, now, 2)
        await broadcasts.follow(s, broadcasts.Tracked(
            batch=batch, kind="broadcast", program_id=1, person_id=gestora, total=2, shown=0))
        await _settle(s, batch, ids[0], OutboxStatus.SENT)
        assert await outreach.update_progress_messages(s, now) == []
        await _settle(s, batch, ids[1], OutboxStatus.UNCERTAIN)
        [report] = await outreach.update_progress_messages(s, now)
        row = await s.get(OutboxMessage, report)
    text = Catalogs().render(Outgoing.from_json(row.payload).text, "en")
    assert "Delivered: 1 of 2" in text and "unsure whether it arrived" in text


async def test_progress_counts_only_its_own_batch_and_waits_for_rows_being_sent(
        sessions) -> None:
    now = datetime.fromisoformat("2026-03-02T12:00:00+00:00")
    async with sessions() as s:
        _, ids, batch = await _batch(s, now, 3)
        other = broadcasts.new_batch(now)
        await outbox.enqueue_for_person(s, ids[0], {}, key=f"bc:{other}:{ids[0]}",
                                        kind="broadcast", now=now, batch=other)
        await _settle(s, batch, ids[0], OutboxStatus.SENT)
        await _settle(s, batch, ids[1], OutboxStatus.SENDING)
        p = await broadcasts.progress(s, batch)
    assert (p.total, p.done, p.delivered, p.pending, p.settled) == (3, 1, 1, 2, False)
