"""Every button and typed step of the roles and meetings sections, tried by a family member
and by an organisation's representative: each is refused kindly, logged, and changes
nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select
from test_admin_meetings_flow import (
    ANA,
    APRIL_7,
    EVA,
    FEDE,
    seed,
)

from handlers.admin import meetings as admin_meetings
from handlers.admin import roles as admin_roles
from storage import admin_meetings as data
from storage import meetings, programs
from storage.models import (
    Attendance,
    AttendanceGuest,
    AuditEntry,
    Conversation,
    Meeting,
    MeetingSeries,
    Membership,
    OutboxMessage,
    RoleGrant,
    Rsvp,
)
from telegram_harness import Running

REFUSED = ("Eso lo puede hacer solo el equipo del programa. Si crees que es un error, habla "
           "con la gestora.")


def actions(ids: dict[str, int], mid: int, me: int) -> list[str]:
    ana = ids[str(ANA)]
    m = "adm:meetings"
    return [
        m, f"{m}:new", f"{m}:nb:{ids['gm']}", f"{m}:nb:0", f"{m}:nk:grupo_motor",
        f"{m}:cal:d:20260407", f"{m}:cal:m:202605", f"{m}:tm:t:1800", f"{m}:sp", f"{m}:sk",
        f"{m}:rp", f"{m}:ch", f"{m}:ch:date", f"{m}:ok", f"{m}:x", f"{m}:iv:{mid}",
        f"{m}:iv:{mid}:m", f"{m}:iv:{mid}:a", f"{m}:bd:{mid}", f"{m}:ra:{mid}",
        f"{m}:at:{mid}", f"{m}:at:{mid}:1", f"{m}:tg:{mid}:{ana}:0", f"{m}:tg:{mid}:{me}:0",
        f"{m}:ag:{mid}", f"{m}:ag:{mid}:1", f"{m}:ap:{mid}:{me}", f"{m}:cl:{mid}",
        f"{m}:mv:{mid}", f"{m}:mok", f"{m}:cn:{mid}", f"{m}:cns", f"{m}:rt",
        f"{m}:gn:{mid}", f"{m}:gs", f"{m}:gx:{mid}:1:0", f"{m}:gxy:{mid}:1",
        "adm:roles", "adm:roles:pk", "adm:roles:pg:1", f"adm:roles:p:{ana}",
        f"adm:roles:t:{me}:gestora", f"adm:roles:t:{me}:coordinadora",
        f"adm:roles:t:{ana}:grupo_motor", "adm:roles:x",
    ]


def test_the_walk_covers_every_button_of_both_sections() -> None:
    walked = actions({str(ANA): 1, "gm": 1}, 1, 2)
    for key, verbs in (("meetings", admin_meetings.VERBS), ("roles", admin_roles.VERBS)):
        seen = {(a.split(":") + [""])[2] for a in walked if a.split(":")[1] == key}
        assert seen == set(verbs)
    assert set(admin_meetings.VERBS) == set(admin_meetings._VERB_HANDLERS)


async def snapshot(r: Running) -> dict[str, object]:
    async with r.app.sessions() as s:
        out: dict[str, object] = {}
        for model in (Meeting, MeetingSeries, Rsvp, Attendance, AttendanceGuest, RoleGrant,
                      Membership):
            out[model.__name__] = await s.scalar(select(func.count()).select_from(model))
        out["meetings"] = [(m.status, m.revision, m.starts_at) for m in await s.scalars(
            select(Meeting).order_by(Meeting.id))]
        out["answers"] = sorted((r.person_id, r.answer) for r in await s.scalars(select(Rsvp)))
        out["roles"] = sorted((g.person_id, g.role) for g in await s.scalars(select(RoleGrant)))
        out["notices"] = sorted(
            (o.idempotency_key, o.status) for o in await s.scalars(select(OutboxMessage))
            if not o.idempotency_key.startswith("reply:"))
        return out


@pytest.mark.parametrize("who", [EVA, FEDE], ids=["family", "representative"])
async def test_non_admins_are_refused_every_action_and_nothing_changes(tg: Running,
                                                                       who: int) -> None:
    ids = await seed(tg)
    now = tg.app.clock.now()
    async with tg.app.sessions() as s:
        program = await programs.get(s, ids["program"])
        meeting = await data.create_meeting(s, program, kind="grupo_motor", starts_at=APRIL_7,
                                            now=now, body_id=ids["gm"], place="Sede")
        await meetings.invite(s, meeting, [ids[str(ANA)]], now)
        await s.commit()
        mid = meeting.id
    me = ids[str(who)]
    tg.app.clock.set(APRIL_7 + timedelta(minutes=5))  # the meeting is on: closing would work
    before = await snapshot(tg)

    walked = actions(ids, mid, me)
    for act in walked:
        count = len(tg.fake.delivered(who))
        tg.fake.callback(who, tg.app.services.buttons.pack(me, act))
        [reply] = await tg.replies(who, count, 1)
        assert reply["text"] == REFUSED, act
        assert "reply_markup" not in reply

    # Typed answers of every step that takes text, as if the person were in the wizard.
    steps = [("adm_meet", "time", "18:00"), ("adm_meet", "place", "Sede"),
             ("adm_meet", "agenda", "Tabla"), ("adm_meet", "cancel_reason", "Porque sí"),
             ("adm_meet", "add_pick", "ana"), ("adm_meet", "summary", "ok"),
             ("adm_meet", "guest_name", "Juan Pérez"), ("adm_meet", "guest_rut", "12345678-5"),
             ("adm_meet", "guest_org", "Club"), ("adm_meet", "guest_phone", "912345678"),
             ("adm_roles", "pick", "ana")]
    for flow, step, text in steps:
        async with tg.app.sessions() as s:
            convo = await s.get(Conversation, me)
            convo.flow, convo.step, convo.data = flow, step, {"meeting_id": mid, "day": "2026-04-09"}
            await s.commit()
        [reply] = await tg.send(who, text)
        assert reply["text"] == REFUSED, (flow, step)
        async with tg.app.sessions() as s:
            assert (await s.get(Conversation, me)).flow is None
    [panel] = await tg.send(who, "/panel")
    assert panel["text"] == REFUSED

    assert await snapshot(tg) == before
    async with tg.app.sessions() as s:
        refusals = list(await s.scalars(
            select(AuditEntry).where(AuditEntry.action == "admin_refused",
                                     AuditEntry.actor_id == me).order_by(AuditEntry.id)))
    assert len(refusals) == len(walked) + len(steps) + 1
    assert {a.channel for a in refusals} == {"telegram"}
    assert refusals[0].details["what"] == "meetings"
    assert refusals[-1].details["what"] == "panel"
