"""Convoca on WhatsApp end to end: the real client, webhook and templates against the fake
Cloud API (tests/fakes/whatsapp_api.py), which checks every request against Meta's spec and
limits (the fixture's assert_clean)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import func, select
from whatsapp_harness import Running

from services.pickups import send_pickup_notice
from storage import programs
from storage.models import (
    ChannelAddress,
    DeliveryDay,
    Family,
    IncomingUpdate,
    OutboxMessage,
    OutboxStatus,
    Person,
    Pickup,
    PickupStatus,
)

ANA = "56912345678"
ROSA = "56987654321"


async def programme(r: Running) -> int:
    async with r.app.sessions() as s:
        program = await programs.create(s, template="ecomercado-10m", start=date(2026, 3, 2),
                                        name="Ecomercado Quilpué", now=r.app.clock.now())
        await s.commit()
        return program.id


async def seed_pickup(r: Running, program_id: int, wa_id: str, *, paper_consent: bool
                      ) -> int:
    """A family with a delivery day and its pickup notice queued: imported with its phone and
    paper consent (never wrote), or the family of whoever already wrote from ``wa_id``."""
    from storage import imported

    now = r.app.clock.now()
    start = datetime(2026, 3, 12, 13, 0, tzinfo=UTC)
    async with r.app.sessions() as s:
        family = Family(program_id=program_id, name="Díaz Rojas", phone="+" + wa_id,
                        created_at=now)
        day = DeliveryDay(program_id=program_id, window_start=start,
                          window_end=start + timedelta(hours=2), place="Sede Villa Ñuñoa",
                          address="Los Aromos 123", created_at=now)
        s.add_all([family, day])
        await s.flush()
        if paper_consent:
            await imported.reachable_with_consent(s, family, now, now)
        else:
            person = await s.scalar(select(Person).join(ChannelAddress).where(
                ChannelAddress.address == wa_id))
            family.person_id = person.id
        pickup = Pickup(delivery_day_id=day.id, family_id=family.id,
                        status=PickupStatus.PENDING)
        s.add(pickup)
        await s.flush()
        assert await send_pickup_notice(s, pickup, now) is not None
        await s.commit()
        return pickup.id


async def test_a_stranger_says_hola_and_is_guided_through_consent_and_linking(
        cloud: Running) -> None:
    program_id = await programme(cloud)
    async with cloud.app.sessions() as s:
        s.add(Family(program_id=program_id, name="González Soto", phone="+" + ANA,
                     created_at=cloud.app.clock.now()))
        await s.commit()
    [consent] = await cloud.send(ANA, "Hola")
    assert consent.type == "interactive" and consent.text.startswith("¡Hola! Soy Convoca")
    assert list(consent.buttons) == ["✅ Sí, acepto", "No, gracias", "🌐 English"]
    *_, linked = await cloud.press(ANA, "✅ Sí, acepto")
    # WhatsApp vouches for the number the person writes from: no need to ask for it.
    assert "familia González Soto" in linked.text
    async with cloud.app.sessions() as s:
        family = await s.scalar(select(Family))
        person = await s.get(Person, family.person_id)
    assert person.consent_at is not None and person.phone == "+" + ANA


async def test_a_stranger_nobody_listed_is_asked_for_a_code(cloud: Running) -> None:
    await programme(cloud)
    await cloud.send(ROSA, "Buenas tardes")
    *_, told = await cloud.press(ROSA, "✅ Sí, acepto")
    assert "aún no te encuentro en la lista" in told.text


async def test_a_family_with_paper_consent_gets_its_notice_as_a_template_and_confirms(
        cloud: Running) -> None:
    """Imported with its phone and consent, it never wrote: outside any window, the pickup
    notice goes as an approved template; its quick reply arrives as the answer."""
    program_id = await programme(cloud)
    pickup_id = await seed_pickup(cloud, program_id, ROSA, paper_consent=True)
    await cloud.deliver()
    [notice] = cloud.fake.messages(ROSA)
    assert notice.type == "template" and notice.template is not None
    assert "Confirmo" in " ".join(notice.quick_replies)
    confirm = next(t for t in notice.quick_replies if "Confirmo" in t)
    answer = await cloud.tap(ROSA, confirm)
    assert answer, "the tap on the template was not answered"
    async with cloud.app.sessions() as s:
        assert (await s.get(Pickup, pickup_id)).status == PickupStatus.CONFIRMED


async def test_the_same_webhook_twice_is_answered_once(cloud: Running) -> None:
    await programme(cloud)
    [consent] = await cloud.send(ANA, "Hola")
    assert await cloud.fake.repeat_webhook() == 200  # Meta retries: taken, not handled again
    await cloud.settled()
    assert len(cloud.fake.messages(ANA)) == 1
    async with cloud.app.sessions() as s:
        assert await s.scalar(select(func.count()).select_from(IncomingUpdate)) == 1


async def test_a_wrong_or_missing_signature_is_refused_and_nothing_stored(
        cloud: Running) -> None:
    body = {"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{
        "field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "56223456789",
                         "phone_number_id": cloud.fake.phone_number_id},
            "contacts": [{"profile": {"name": "Mallory"}, "wa_id": ANA}],
            "messages": [{"from": ANA, "id": "wamid.forged", "timestamp": "1772452800",
                          "type": "text", "text": {"body": "/start"}}]}}]}]}
    assert await cloud.fake.post_webhook(body, signature="sha256=" + "0" * 64) == 403
    import aiohttp

    async with aiohttp.ClientSession() as http:
        async with http.post(cloud.url, data=json.dumps(body)) as resp:
            assert resp.status == 401
    async with cloud.app.sessions() as s:
        assert await s.scalar(select(func.count()).select_from(IncomingUpdate)) == 0
    assert cloud.fake.messages(ANA) == []


async def test_the_subscription_check_answers_the_challenge_only_to_the_right_token(
        cloud: Running) -> None:
    import aiohttp
    from whatsapp_harness import VERIFY_TOKEN

    async with aiohttp.ClientSession() as http:
        ok = {"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "42"}
        async with http.get(cloud.url, params=ok) as resp:
            assert resp.status == 200 and await resp.text() == "42"
        async with http.get(cloud.url, params={**ok, "hub.verify_token": "wrong"}) as resp:
            assert resp.status == 403


async def test_a_reply_outside_the_window_waits_for_the_person_and_then_goes(
        cloud: Running) -> None:
    """A message no template carries, due after the window closed: it waits, with its reason,
    and goes once the person writes."""
    from handlers.events import Outgoing
    from locales import Msg
    from storage import outbox

    await programme(cloud)
    await cloud.send(ANA, "Hola")
    cloud.app.clock.advance(timedelta(hours=25))
    async with cloud.app.sessions() as s:
        person = await s.scalar(select(Person))
        person.consent_at = cloud.app.clock.now()
        await outbox.enqueue_for_person(s, person.id,
                                        Outgoing(text=Msg("input.not_understood")).to_json(),
                                        key="late", kind="notice", now=cloud.app.clock.now())
        await s.commit()
    await cloud.deliver()
    async with cloud.app.sessions() as s:
        row = await s.scalar(select(OutboxMessage).where(OutboxMessage.idempotency_key == "late"))
    assert row.status == OutboxStatus.WAITING and "24-hour window" in row.last_error
    before = len(cloud.fake.messages(ANA))
    await cloud.send(ANA, "hola de nuevo")
    await cloud.deliver()
    async with cloud.app.sessions() as s:
        row = await s.get(OutboxMessage, row.id)
    assert row.status == OutboxStatus.SENT
    assert any("No te entendí" in (m.text or "") for m in cloud.fake.messages(ANA)[before:])


async def test_receipts_only_move_forward_and_reach_the_row(cloud: Running) -> None:
    await programme(cloud)
    [consent] = await cloud.send(ANA, "Hola")
    await cloud.fake.status(consent.wamid, "read")
    await cloud.fake.status(consent.wamid, "sent")  # late, out of order
    await cloud.fake.status(consent.wamid, "delivered")
    async with cloud.app.sessions() as s:
        row = await s.scalar(select(OutboxMessage).where(OutboxMessage.channel == "whatsapp"))
    assert row.receipt == "read"


async def test_a_free_form_message_refused_as_outside_the_window_goes_again_as_a_template(
        cloud: Running) -> None:
    """Meta may accept a send and fail it later with 131047 (in a status): it is queued
    again as the approved template, once."""
    program_id = await programme(cloud)
    await cloud.send(ANA, "Hola")
    *_, linked = await cloud.press(ANA, "✅ Sí, acepto")
    await seed_pickup(cloud, program_id, ANA, paper_consent=False)
    before = len(cloud.fake.messages(ANA))
    await cloud.deliver()
    [free] = cloud.fake.messages(ANA)[before:]
    assert free.type == "interactive"  # inside the window: free-form
    await cloud.fake.status(free.wamid, "failed", code=131047)
    await cloud.deliver()
    [again] = cloud.fake.messages(ANA)[before + 1:]
    assert again.type == "template"
    await cloud.fake.status(free.wamid, "failed", code=131047)  # Meta repeats itself
    await cloud.deliver()
    assert len(cloud.fake.messages(ANA)) == before + 2


async def test_an_undeliverable_number_is_marked_with_its_reason(cloud: Running) -> None:
    await programme(cloud)
    await cloud.send(ANA, "Hola")
    cloud.fake.inject(131026, wa_id=ANA)
    await cloud.send(ANA, "ayuda")
    async with cloud.app.sessions() as s:
        address = await s.scalar(select(ChannelAddress).where(ChannelAddress.address == ANA))
        failed = await s.scalar(select(OutboxMessage).where(
            OutboxMessage.status == OutboxStatus.FAILED))
    assert address.unreachable_at is not None and "131026" in address.unreachable_reason
    assert "131026" in failed.last_error
    cloud.fake.assert_clean(allow=[131026])


async def test_throttling_waits_and_sends_once(cloud: Running) -> None:
    await programme(cloud)
    cloud.fake.inject(130429, wa_id=ANA, retry_after=0.2)
    await cloud.fake.text(ANA, "Hola", name="Ana")
    await cloud.settled()
    assert cloud.fake.messages(ANA) == []
    async with cloud.app.sessions() as s:
        row = await s.scalar(select(OutboxMessage))
    assert row.status == OutboxStatus.PENDING and "retry after" in row.last_error
    cloud.app.clock.advance(timedelta(seconds=1))
    await cloud.outbox.drain()
    assert len(cloud.fake.messages(ANA)) == 1
    cloud.fake.assert_clean(allow=[130429])


async def test_a_refused_token_stops_the_channel_with_one_clear_line(cloud: Running,
                                                                       caplog) -> None:
    await programme(cloud)
    cloud.fake.inject(190, times=5)
    await cloud.fake.text(ANA, "Hola", name="Ana")
    await cloud.fake.text(ANA, "¿Hay alguien?", name="Ana")
    await cloud.settled()
    lines = [r for r in caplog.records if "access token" in r.getMessage()]
    assert len(lines) == 1 and "WHATSAPP_ACCESS_TOKEN" in lines[0].getMessage()
    assert cloud.channel.stopped is not None
    async with cloud.app.sessions() as s:
        statuses = set(await s.scalars(select(OutboxMessage.status)))
    assert statuses == {OutboxStatus.PENDING}  # nothing lost: they wait for a valid token
    cloud.fake.assert_clean(allow=[190])
    cloud.fake.clear_faults()


async def test_declining_the_chat_keeps_a_paper_consent_family_and_stops_its_notices(
        cloud: Running) -> None:
    """A family the gestora imported with paper consent says "No, gracias" to the chat: its
    record stays the team's (not erased, still linked), and it is written to no more."""
    program_id = await programme(cloud)
    await seed_pickup(cloud, program_id, ROSA, paper_consent=True)
    await cloud.deliver()
    await cloud.send(ROSA, "Hola")
    await cloud.press(ROSA, "No, gracias")
    async with cloud.app.sessions() as s:
        family = await s.scalar(select(Family))
        person = await s.get(Person, family.person_id)
    assert person is not None and person.opted_out_at is not None
    assert person.contact_consent_at is not None


async def test_a_notice_waiting_for_its_template_goes_once_meta_approves_it(
        fake_wa, settings_for, sqlite_url, clock) -> None:
    """Templates pushed but still in review: a paper-consent family's notice waits, with its
    reason; the sync that finds the template approved lets it go."""
    from whatsapp_harness import running

    from bot.whatsapp import templates as wa_templates
    from bot.whatsapp.sync import sync_templates

    async with running(fake_wa, settings_for, sqlite_url, clock, approve=False) as r:
        await wa_templates.push(r.client, r.channel.specs)  # in review: PENDING
        program_id = await programme(r)
        await seed_pickup(r, program_id, ROSA, paper_consent=True)
        await r.deliver()
        assert r.fake.messages(ROSA) == []
        async with r.app.sessions() as s:
            row = await s.scalar(select(OutboxMessage))
        assert row.status == OutboxStatus.WAITING and "not approved" in row.last_error
        for t in r.fake.templates:
            r.fake.approve(t.name, t.language)
        await sync_templates(r.app.sessions, r.app.clock, r.client, r.channel.specs)
        r.app.clock.advance(timedelta(seconds=11))  # past the channel's recheck
        await r.deliver()
        [notice] = r.fake.messages(ROSA)
        assert notice.type == "template"


async def _in_flight_when_a_process_died(r: Running, wa_id: str) -> int:
    """A notice a process had taken to send (its lease since run out) when it died."""
    from handlers.events import Outgoing
    from locales import Msg
    from storage import outbox

    async with r.app.sessions() as s:
        person = await s.scalar(select(Person).join(ChannelAddress).where(
            ChannelAddress.address == wa_id))
        row_id = await outbox.enqueue_for_person(
            s, person.id, Outgoing(text=Msg("input.not_understood")).to_json(), key="flight",
            kind="notice", now=r.app.clock.now())
        await outbox.claim(s, [row_id], "dead-worker", r.app.clock.now(),
                           timedelta(seconds=60))
        await s.commit()
    r.app.clock.advance(timedelta(minutes=2))
    return row_id


async def test_a_send_that_never_reached_meta_goes_again_after_a_crash(cloud: Running) -> None:
    """The message history shows nothing no row accounts for: it never left, so it goes."""
    await programme(cloud)
    await cloud.send(ANA, "Hola")
    await cloud.press(ANA, "✅ Sí, acepto")
    row_id = await _in_flight_when_a_process_died(cloud, ANA)
    before = len(cloud.fake.messages(ANA))
    assert await cloud.outbox.recover() == 0
    await cloud.deliver()
    async with cloud.app.sessions() as s:
        assert (await s.get(OutboxMessage, row_id)).status == OutboxStatus.SENT
    assert len(cloud.fake.messages(ANA)) == before + 1


async def test_a_send_meta_took_but_nobody_recorded_is_uncertain_until_its_receipt(
        cloud: Running) -> None:
    """Meta took it (the history shows a message no row accounts for): never sent twice;
    uncertain until Meta's receipt, which names the row, settles it as sent."""
    from bot.whatsapp.channel import callback_of

    await programme(cloud)
    await cloud.send(ANA, "Hola")
    await cloud.press(ANA, "✅ Sí, acepto")
    row_id = await _in_flight_when_a_process_died(cloud, ANA)
    async with cloud.app.sessions() as s:
        row = await s.get(OutboxMessage, row_id)
    # What the dead process sent before it could record the answer.
    wamid = await cloud.client.send(ANA, {"type": "text", "text": {"body": "No te entendí."}},
                                    callback=callback_of(row))
    before = len(cloud.fake.messages(ANA))
    assert await cloud.outbox.recover() == 1
    await cloud.deliver()
    assert len(cloud.fake.messages(ANA)) == before
    async with cloud.app.sessions() as s:
        assert (await s.get(OutboxMessage, row_id)).status == OutboxStatus.UNCERTAIN
    await cloud.fake.status(wamid, "delivered")
    async with cloud.app.sessions() as s:
        row = await s.get(OutboxMessage, row_id)


async def test_a_send_whose_answer_is_lost_is_not_sent_again_and_its_receipt_settles_it(
        cloud: Running) -> None:
    """Meta took the message and its answer never came (the connection dropped): the Cloud
    API has no idempotency key, so Convoca does not send it again; the row waits as
    uncertain until a receipt naming it (biz_opaque_callback_data) says it went."""
    program_id = await programme(cloud)
    await seed_pickup(cloud, program_id, ROSA, paper_consent=True)
    cloud.fake.inject("lost", wa_id=ROSA)
    await cloud.deliver()
    [notice] = cloud.fake.messages(ROSA)
    assert notice.callback is not None and notice.callback.startswith("outbox:")
    async with cloud.app.sessions() as s:
        row = await s.scalar(select(OutboxMessage))
    assert row.status == OutboxStatus.UNCERTAIN and "not sent again" in row.last_error
    cloud.app.clock.advance(timedelta(minutes=10))
    await cloud.deliver()
    assert len(cloud.fake.messages(ROSA)) == 1  # never twice
    await cloud.fake.deliver_statuses(ROSA, up_to="delivered")
    async with cloud.app.sessions() as s:
        row = await s.scalar(select(OutboxMessage))
    assert row.status == OutboxStatus.SENT and row.receipt == "delivered"
