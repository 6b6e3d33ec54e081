"""Mensajes: composing a broadcast with its count and preview, sending it now (once, however
often the form is sent), scheduling it (nothing goes before its time, everything after),
cancelling it, the report with a failure's reason, and the refusals."""

from __future__ import annotations

import re
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from storage import outbox
from storage.models import (
    AuditEntry,
    ChannelAddress,
    Family,
    Meeting,
    OutboxMessage,
    OutboxStatus,
    Person,
    Role,
    Rsvp,
)


async def family(web, name: str, *, sector: str = "Villa Esperanza", locale: str | None = None,
                 chat: bool = True) -> int:
    now = web.app.clock.now()
    async with web.app.sessions() as s:
        person_id = None
        if chat:
            person = Person(name=name, locale=locale, program_id=web.program.id, reachable=True,
                            consent_at=now, created_at=now)
            person.addresses = [ChannelAddress(channel="console", address=f"c-{name}",
                                               created_at=now, last_inbound_at=now)]
            s.add(person)
            await s.flush()
            person_id = person.id
        s.add(Family(program_id=web.program.id, name=name, person_id=person_id, sector=sector,
                     created_at=now))
        await s.commit()
        return person_id or 0


async def families(web) -> list[int]:
    return [await family(web, "Pérez Soto", locale="es"),
            await family(web, "Rojas Díaz", locale="en"),
            await family(web, "Muñoz Lagos", sector="Los Aromos"),
            await family(web, "Sin Chat", chat=False)]


async def rows(web) -> list[OutboxMessage]:
    async with web.app.sessions() as s:
        return list((await s.scalars(select(OutboxMessage).where(
            OutboxMessage.kind == "broadcast").order_by(OutboxMessage.id))).all())


def nonce(html: str) -> str:
    return re.search(r'name="nonce" value="([0-9a-f]+)"', html).group(1)


async def gestora_browser(web):
    gestora = await web.person("Daniela Vergara", Role.GESTORA)
    return await web.signed_in(gestora)


async def test_the_list_and_the_compose_page_render(web) -> None:
    c = await gestora_browser(web)
    r = await c.get(web.url("mensajes"))
    assert r.status_code == 200
    assert "Todavía no se ha enviado ningún mensaje" in r.text
    r = await c.get(web.url("mensajes", "nuevo"))
    assert r.status_code == 200
    assert r.text.count("<h1") == 1
    assert 'for="f-text"' in r.text and 'for="f-target"' in r.text


async def test_a_target_shows_how_many_receive_it(web) -> None:
    await families(web)
    c = await gestora_browser(web)
    r = await c.get(web.url("mensajes", "cuantos"), params={"target": "families"})
    assert r.status_code == 200
    assert "3 personas recibirán este mensaje" in r.text
    assert "Sin Chat" in r.text  # not linked yet: named
    r = await c.get(web.url("mensajes", "cuantos"),
                    params={"target": "families:sector=Villa Esperanza"})
    assert "2 personas recibirán este mensaje" in r.text
    # The compose page itself shows the count for the chosen group.
    page = await c.get(web.url("mensajes", "nuevo"),
                       params={"target": "families:sector=Los Aromos"})
    assert "1 persona recibirá este mensaje" in page.text
    assert "families:sector=Villa Esperanza" in page.text  # the sector is offered


async def test_no_answer_to_a_meeting_is_a_group(web) -> None:
    ids = await families(web)
    now = web.app.clock.now()
    async with web.app.sessions() as s:
        m = Meeting(program_id=web.program.id, kind="socializacion", title="Asamblea",
                    starts_at=now + timedelta(days=3), place="Sede", created_at=now)
        s.add(m)
        await s.flush()
        s.add_all([Rsvp(meeting_id=m.id, person_id=ids[0], answer=None, invited_at=now),
                   Rsvp(meeting_id=m.id, person_id=ids[1], answer="yes", invited_at=now)])
        await s.commit()
        mid = m.id
    c = await gestora_browser(web)
    page = await c.get(web.url("mensajes", "nuevo"))
    assert f"no_answer:{mid}" in page.text
    r = await c.get(web.url("mensajes", "cuantos"), params={"target": f"no_answer:{mid}"})
    assert "1 persona recibirá este mensaje" in r.text


async def test_the_preview_shows_spanish_and_english_on_each_channel(web) -> None:
    await families(web)
    c = await gestora_browser(web)
    r = await c.get(web.url("mensajes", "vista-previa"),
                    params={"text": "Mañana hay feria en la sede", "target": "families"})
    assert r.status_code == 200
    assert 'lang="es"' in r.text and 'lang="en"' in r.text
    assert "En Español (2 personas)" in r.text
    assert "(1 persona)" in r.text
    assert "Mensaje de Ecomercado Solidario de Quilpué" in r.text  # the Spanish envelope
    assert "Ecomercado Solidario de Quilpué" in r.text and "Mañana hay feria" in r.text
    assert "Consola" in r.text  # the console channel, the only one of this installation
    # Without JavaScript: the form posted with "preview" shows the same, and sends nothing.
    page = await c.get(web.url("mensajes", "nuevo"))
    r = await c.post(web.url("mensajes", "nuevo"), data={
        "text": "Mañana hay feria", "target": "families", "action": "preview",
        "nonce": nonce(page.text)})
    assert r.status_code == 200
    assert 'lang="en"' in r.text
    assert await rows(web) == []


@pytest.mark.parametrize("channel", ["whatsapp", "windowed_chan"])
async def test_whatsapp_outside_its_window_says_the_template_is_used(web, channel) -> None:
    """Any channel with a session window (the capabilities say so, not its name) writes
    first outside it with the approved template."""
    from channels import LEAST

    assert LEAST.session_window is not None
    web.panel.capabilities = {**web.panel.capabilities, channel: LEAST}
    now = web.app.clock.now()
    async with web.app.sessions() as s:
        person = Person(name="Lagos", locale="es", program_id=web.program.id, reachable=True,
                        consent_at=now, created_at=now)
        person.addresses = [ChannelAddress(channel=channel, address="56911111111",
                                           created_at=now,
                                           last_inbound_at=now - timedelta(days=3))]
        s.add(person)
        await s.flush()
        s.add(Family(program_id=web.program.id, name="Lagos", person_id=person.id,
                     created_at=now))
        await s.commit()
    c = await gestora_browser(web)
    r = await c.get(web.url("mensajes", "vista-previa"),
                    params={"text": "Hola\na todos", "target": "families"})
    assert "convoca_broadcast" in r.text
    assert "«Hola a todos»" in r.text  # a template parameter is one line
    assert "aún no está aprobada" in r.text  # no approved template synced here


async def test_send_now_queues_one_row_per_recipient_once(web) -> None:
    ids = await families(web)
    woken: list[list[int]] = []

    async def deliver_now(rows: list[int]) -> None:
        woken.append(rows)

    web.panel.wake_outbox = deliver_now
    c = await gestora_browser(web)
    page = await c.get(web.url("mensajes", "nuevo"))
    form = {"text": "Mañana hay feria en la sede", "target": "families", "when": "now",
            "action": "send", "nonce": nonce(page.text)}
    r = await c.post(web.url("mensajes", "nuevo"), data=form)
    assert r.status_code == 200
    assert "Informe del mensaje" in r.text
    queued = await rows(web)
    assert sorted(q.person_id for q in queued) == sorted(ids[:3])
    assert len({q.batch for q in queued}) == 1
    assert woken == [[q.id for q in queued]]
    # The same form again (a double click, a reload): nothing new, the same report.
    again = await c.post(web.url("mensajes", "nuevo"), data=form)
    assert again.status_code == 200 and str(again.url) == str(r.url)
    assert len(await rows(web)) == 3
    async with web.app.sessions() as s:
        audits = (await s.scalars(select(AuditEntry).where(
            AuditEntry.action == "broadcast_sent"))).all()
    assert len(audits) == 1 and audits[0].channel == "web"
    listing = await c.get(web.url("mensajes"))
    assert "Mañana hay feria en la sede" in listing.text
    assert "3 en cola" in listing.text


async def test_a_scheduled_broadcast_waits_for_its_time_and_then_goes(web) -> None:
    await families(web)
    c = await gestora_browser(web)
    zone = ZoneInfo(web.program.timezone)
    at = (web.app.clock.now() + timedelta(days=2)).astimezone(zone).replace(
        hour=10, minute=30, second=0, microsecond=0)
    page = await c.get(web.url("mensajes", "nuevo"))
    r = await c.post(web.url("mensajes", "nuevo"), data={
        "text": "Recuerden la feria", "target": "families", "when": "later",
        "day": at.date().isoformat(), "at": "10:30", "action": "send",
        "nonce": nonce(page.text)})
    assert r.status_code == 200
    assert "Cancelar el envío" in r.text
    queued = await rows(web)
    assert len(queued) == 3
    assert all(q.not_before.replace(tzinfo=ZoneInfo("UTC")) == at for q in queued)
    async with web.app.sessions() as s:
        assert await outbox.due_candidates(s, web.app.clock.now(), 100) == []
    web.app.clock.advance(at - web.app.clock.now() + timedelta(seconds=1))
    async with web.app.sessions() as s:
        due = await outbox.due_candidates(s, web.app.clock.now(), 100)
    assert sorted(d.id for d in due) == sorted(q.id for q in queued)


async def test_a_scheduled_broadcast_can_be_cancelled(web) -> None:
    await families(web)
    c = await gestora_browser(web)
    page = await c.get(web.url("mensajes", "nuevo"))
    day = (web.app.clock.now() + timedelta(days=5)).date().isoformat()
    r = await c.post(web.url("mensajes", "nuevo"), data={
        "text": "Recuerden la feria", "target": "families", "when": "later", "day": day,
        "at": "09:00", "action": "send", "nonce": nonce(page.text)})
    report = str(r.url)
    r = await c.post(report + "/cancelar")
    assert r.status_code == 200
    assert "Cancelar el envío" not in r.text
    assert {q.status for q in await rows(web)} == {OutboxStatus.DROPPED}
    web.app.clock.advance(timedelta(days=6))
    async with web.app.sessions() as s:
        assert await outbox.due_candidates(s, web.app.clock.now(), 100) == []
        cancelled = await s.scalar(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.action == "broadcast_cancelled"))
    assert cancelled == 1


async def test_the_report_shows_a_failure_and_its_reason(web) -> None:
    await families(web)
    c = await gestora_browser(web)
    page = await c.get(web.url("mensajes", "nuevo"))
    r = await c.post(web.url("mensajes", "nuevo"), data={
        "text": "Hola", "target": "families", "action": "send", "nonce": nonce(page.text)})
    report = str(r.url)
    first, second, _ = await rows(web)
    async with web.app.sessions() as s:
        await outbox.mark_final(s, first.id, OutboxStatus.FAILED, "whatsapp 131026: undeliverable")
        await outbox.mark_sent(s, second.id, web.app.clock.now(), "m-1")
        await s.commit()
    r = await c.get(report)
    assert "131026" in r.text
    assert "falló" in r.text
    progress = await c.get(report + "/avance")
    assert progress.status_code == 200
    assert re.search(r"Fallaron</dt><dd>1<", progress.text)
    assert re.search(r"Enviados</dt><dd>1<", progress.text)
    assert 'hx-trigger="every 5s"' in progress.text  # one still queued: it keeps polling


async def test_refusals(web) -> None:
    await families(web)
    c = await gestora_browser(web)
    page = await c.get(web.url("mensajes", "nuevo"))
    r = await c.post(web.url("mensajes", "nuevo"), data={
        "text": "", "target": "families", "action": "send", "nonce": nonce(page.text)})
    assert r.status_code == 422
    assert re.search(r'id="f-text-note" class="late">Escribe el mensaje', r.text)
    r = await c.post(web.url("mensajes", "nuevo"), data={
        "text": "Hola", "target": "families", "when": "later", "day": "2001-01-01",
        "at": "10:00", "action": "send", "nonce": nonce(page.text)})
    assert r.status_code == 422 and "Esa hora ya pasó" in r.text
    r = await c.post(web.url("mensajes", "nuevo"), data={
        "text": "Hola", "target": "organizations:some", "action": "send",
        "nonce": nonce(page.text)})
    assert r.status_code == 422 and "Marca al menos una organización" in r.text
    assert await rows(web) == []

    supervisor = await web.signed_in(await web.person("Sonia", Role.SUPERVISOR))
    assert (await supervisor.get(web.url("mensajes"))).status_code == 200
    r = await supervisor.post(web.url("mensajes", "nuevo"), data={
        "text": "Hola", "target": "families", "action": "send"})
    assert r.status_code == 403
    recinto = await web.signed_in(await web.person("Rita", Role.RECINTO))
    assert (await recinto.get(web.url("mensajes"))).status_code == 403
    assert (await recinto.get(web.url("mensajes", "nuevo"))).status_code == 403
    nobody = web.browser()
    r = await nobody.get(web.url("mensajes", "nuevo"), follow_redirects=False)
    assert r.status_code == 303
    assert await rows(web) == []
    # Another programme's broadcast, or none: not found.
    assert (await c.get(web.url("mensajes", "web0123456789abcdef"))).status_code == 404


async def test_the_panel_and_the_chat_send_and_follow_through_one_use_case(web) -> None:
    """services.outreach.send_broadcast: queued and followed (who could not be reached kept
    for the report), watched by nobody in the chat when the panel sent it; nothing queued,
    nothing followed."""
    from services import outreach
    from storage import broadcasts, programs

    await families(web)
    now = web.app.clock.now()
    async with web.app.sessions() as s:
        program = await programs.get(s, web.program.id)
        queued = await outreach.send_broadcast(
            s, program, "Mañana hay entrega", {"kind": "families"}, now, author_id=None,
            channel="web", watcher_id=None)
        [tracked] = await broadcasts.followed(s)
        assert (tracked.batch, tracked.kind, tracked.person_id, tracked.total) == (
            queued.batch, outreach.BROADCAST, None, 3)
        assert [x[2] for x in tracked.not_linked] == ["Sin Chat"]
        again = await outreach.send_broadcast(
            s, program, "Mañana hay entrega", {"kind": "families"}, now, author_id=None,
            channel="web", watcher_id=None, batch=queued.batch)
        assert again.outbox_ids == [] and len(await broadcasts.followed(s)) == 1


async def test_a_row_waiting_to_retry_is_not_scheduled_and_cannot_be_called_off(web) -> None:
    """A send-now broadcast whose one row waits out a 429 is going, not scheduled: no cancel
    button, and a cancel posted anyway drops nothing."""
    await families(web)
    c = await gestora_browser(web)
    page = await c.get(web.url("mensajes", "nuevo"))
    r = await c.post(web.url("mensajes", "nuevo"), data={
        "text": "Hoy hay feria", "target": "families", "when": "now", "action": "send",
        "nonce": nonce(page.text)})
    report = str(r.url)
    queued = await rows(web)
    async with web.app.sessions() as s:
        retrying = await s.get(OutboxMessage, queued[0].id)
        retrying.attempts, retrying.last_error = 1, "429 Too Many Requests"
        retrying.not_before = web.app.clock.now() + timedelta(seconds=30)
        await s.commit()
    shown = await c.get(report)
    assert "/cancelar" not in shown.text
    refused = await c.post(report.rstrip("/") + "/cancelar")
    assert refused.status_code == 409
    async with web.app.sessions() as s:
        statuses = {m.status for m in await s.scalars(select(OutboxMessage).where(
            OutboxMessage.batch == queued[0].batch))}
    assert OutboxStatus.DROPPED not in statuses
