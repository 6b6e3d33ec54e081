"""The fake WhatsApp Cloud API on its own: what it checks, what it answers, what it plays."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from datetime import timedelta

import aiohttp
import pytest
from aiohttp import web

from fakes.openapi import load_spec
from fakes.whatsapp_api import FakeWhatsApp

PERSON = "56987654321"
MESSAGES = "/{Version}/{Phone-Number-ID}/messages"


class Webhook:
    """The app's side of the webhook: keeps every body and checks its signature."""

    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.bodies: list[dict] = []
        self.signatures_ok: list[bool] = []
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        expected = "sha256=" + hmac.new(self.secret.encode(), raw, hashlib.sha256).hexdigest()
        ok = hmac.compare_digest(expected, request.headers.get("X-Hub-Signature-256", ""))
        self.signatures_ok.append(ok)
        if not ok:
            return web.Response(status=403)
        self.bodies.append(json.loads(raw))
        return web.Response(text="ok")

    async def __aenter__(self) -> Webhook:
        app = web.Application()
        app.router.add_post("/whatsapp", self.handle)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", 0).start()
        self.url = f"http://127.0.0.1:{self.runner.addresses[0][1]}/whatsapp"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.runner is not None
        await self.runner.cleanup()

    def messages(self) -> list[dict]:
        return [m for b in self.bodies for e in b["entry"] for c in e["changes"]
                for m in c["value"].get("messages", [])]

    def statuses(self) -> list[dict]:
        return [s for b in self.bodies for e in b["entry"] for c in e["changes"]
                for s in c["value"].get("statuses", [])]


@pytest.fixture
async def wa():
    async with Webhook("test-app-secret") as hook, FakeWhatsApp(message_keys=()) as fake:
        fake.webhook_url = hook.url
        fake.hook = hook
        async with aiohttp.ClientSession(
                headers={"Authorization": f"Bearer {fake.token}"}) as http:
            fake.http = http
            yield fake


async def send(wa: FakeWhatsApp, message: dict, to: str = PERSON) -> tuple[int, dict]:
    body = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": to, **message}
    url = f"{wa.base_url}/{wa.phone_number_id}/messages"
    async with wa.http.post(url, json=body) as resp:
        return resp.status, await resp.json()


def text(body: str) -> dict:
    return {"type": "text", "text": {"body": body}}


def buttons(*titles: str, body: str = "¿Vienes?") -> dict:
    return {"type": "interactive", "interactive": {
        "type": "button", "body": {"text": body},
        "action": {"buttons": [{"type": "reply", "reply": {"id": f"a:{t}", "title": t}}
                               for t in titles]}}}


def rows(*titles: str, label: str = "Elegir", descriptions: bool = True) -> dict:
    return {"type": "interactive", "interactive": {
        "type": "list", "body": {"text": "¿Qué día?"},
        "action": {"button": label, "sections": [{"title": "Días", "rows": [
            {"id": f"d:{t}", "title": t, **({"description": "por la tarde"} if descriptions
                                            else {})} for t in titles]}]}}}


def template(name: str, language: str, *params: str, payloads: tuple[str, ...] = ()) -> dict:
    comps: list[dict] = [{"type": "body", "parameters": [{"type": "text", "text": p}
                                                         for p in params]}]
    comps += [{"type": "button", "sub_type": "quick_reply", "index": str(i),
               "parameters": [{"type": "payload", "payload": p}]} for i, p in enumerate(payloads)]
    return {"type": "template", "template": {
        "name": name, "language": {"code": language, "policy": "deterministic"},
        "components": comps}}


# -- the spec and its patches -------------------------------------------------------------------

EXAMPLES = ["Send Text Message", "Send Reply Button", "Send List Message",
            "Send Message Template Text", "Send Message Template Interactive",
            "Send Document Message by ID", "Send Location Message",
            "Send typing indicator and read receipt"]


@pytest.mark.parametrize("title", EXAMPLES)
def test_the_specs_own_examples_pass_once_patched(title):
    spec = load_spec()
    example = spec.examples(MESSAGES)[title]
    assert spec.errors("SendRequest", example) == []


def test_the_spec_as_published_refuses_its_own_examples():
    raw = load_spec(patched=False)
    examples = raw.examples(MESSAGES)
    # The closed allOf refuses even the simplest text; the template trips on the policy too.
    for title in EXAMPLES[:-1]:
        assert raw.errors("Message", examples[title]), title


def test_the_patched_spec_still_refuses_what_meta_refuses():
    spec = load_spec()
    good = spec.examples(MESSAGES)["Send Reply Button"]
    assert spec.errors("SendRequest", {**good, "surprise": 1})
    long_title = json.loads(json.dumps(good))
    long_title["interactive"]["action"]["buttons"][0]["reply"]["title"] = "x" * 21
    assert spec.errors("SendRequest", long_title)
    tpl = json.loads(json.dumps(spec.examples(MESSAGES)["Send Message Template Text"]))
    tpl["template"]["components"][0]["parameters"][0] = {"type": "text"}  # no text
    assert spec.errors("SendRequest", tpl)


def test_the_specs_webhook_examples_pass_once_patched():
    spec = load_spec()
    body = spec.operation("/whatsapp/webhooks", "post")["requestBody"]["content"]
    examples = body["application/json"]["examples"]
    for title in ("Text Message", "Image Message", "Location Message", "Button Message",
                  "Interactive List Reply Message", "Interactive Button Reply Message",
                  "Unsupported Message", "Contact Sharing Message", "Reaction Message"):
        assert spec.errors("WebhookPayload", examples[title]["value"]) == [], title


# -- auth and errors ----------------------------------------------------------------------------

async def test_a_wrong_or_missing_token_is_refused_like_graph(wa):
    url = f"{wa.base_url}/{wa.phone_number_id}/messages"
    async with aiohttp.ClientSession() as anon:
        for headers in ({}, {"Authorization": "Bearer nope"}):
            async with anon.post(url, json=text("Hola"), headers=headers) as resp:
                assert resp.status == 401
                err = (await resp.json())["error"]
                assert err["code"] == 190 and err["type"] == "OAuthException"
                assert err["fbtrace_id"]
    with pytest.raises(AssertionError, match="190"):
        wa.assert_clean()


async def test_an_unknown_field_is_a_violation_answered_100(wa):
    wa.wrote_at(PERSON)
    status, body = await send(wa, {**text("Hola"), "colour": "red"})
    assert status == 400 and body["error"]["code"] == 100
    assert "colour" in body["error"]["error_data"]["details"]
    with pytest.raises(AssertionError, match="colour"):
        wa.assert_clean()


# -- sends of each kind -------------------------------------------------------------------------

async def test_each_kind_of_message_is_accepted_and_recorded(wa):
    wa.wrote_at(PERSON, name="Ana")
    async with wa.http.post(f"{wa.base_url}/{wa.phone_number_id}/media", data={
            "messaging_product": "whatsapp", "type": "application/pdf",
            "file": aiohttp.formdata.io.BytesIO(b"%PDF-1.4 x")}) as resp:
        assert resp.status == 200, await resp.text()
        media_id = (await resp.json())["id"]
    for message in (text("Hola"), buttons("Sí", "No"), rows("Lunes", "Martes"),
                    {"type": "document", "document": {"id": media_id, "filename": "r.pdf",
                                                      "caption": "Tu recibo"}},
                    {"type": "location", "location": {"latitude": -33.4, "longitude": -70.6,
                                                      "name": "Sede", "address": "Calle 1"}}):
        status, body = await send(wa, message)
        assert status == 200, body
        assert body["messages"][0]["id"].startswith("wamid.")
        assert body["contacts"] == [{"input": PERSON, "wa_id": PERSON}]
    assert wa.texts(PERSON) == ["Hola", "¿Vienes?", "¿Qué día?", "Tu recibo", "Sede\nCalle 1"]
    assert wa.choices(PERSON) == ["Lunes", "Martes"]
    assert [m.type for m in wa.messages(PERSON)] == ["text", "interactive", "interactive",
                                                      "document", "location"]
    wa.assert_clean()


async def test_mark_read(wa):
    wamid = await wa.text(PERSON, "Hola")
    async with wa.http.post(f"{wa.base_url}/{wa.phone_number_id}/messages", json={
            "messaging_product": "whatsapp", "status": "read", "message_id": wamid}) as resp:
        assert resp.status == 200 and (await resp.json()) == {"success": True}
    assert wa.reads == [wamid]
    wa.assert_clean()


# -- limits -------------------------------------------------------------------------------------

LIMITS = [
    (text("x" * 4097), 100),
    (buttons("Uno", "Dos", "Tres", "Cuatro"), 100),  # the spec's maxItems
    (buttons("Sí", "Sí"), 131009),
    (buttons("x" * 21), 100),
    (buttons("Sí", body="x" * 1025), 100),
    (rows(*[f"Día {i}" for i in range(11)]), 100),
    (rows("x" * 25), 100),
    (rows("Lunes", label="x" * 21), 100),
    ({"type": "document", "document": {"id": "nope", "caption": "c"}}, 131053),
]


@pytest.mark.parametrize(("message", "code"), LIMITS)
async def test_each_limit_is_caught(wa, message, code):
    wa.wrote_at(PERSON)
    status, body = await send(wa, message)
    assert status == 400 and body["error"]["code"] == code, body
    assert wa.messages(PERSON) == []
    with pytest.raises(AssertionError):
        wa.assert_clean()


async def test_ten_rows_across_sections_is_the_most(wa):
    wa.wrote_at(PERSON)
    message = rows(*[f"Día {i}" for i in range(6)])
    message["interactive"]["action"]["sections"].append(
        {"title": "Más", "rows": [{"id": f"m{i}", "title": f"Otro {i}"} for i in range(5)]})
    status, body = await send(wa, message)
    assert status == 400 and body["error"]["code"] == 131009
    assert "11 rows" in body["error"]["error_data"]["details"]


async def test_a_raw_catalog_key_is_a_violation_but_goes(wa):
    fake_keys = FakeWhatsApp(message_keys={"notice.pickup"})
    await fake_keys.start()
    try:
        fake_keys.wrote_at(PERSON)
        async with aiohttp.ClientSession(
                headers={"Authorization": f"Bearer {fake_keys.token}"}) as http:
            fake_keys.http = http
            status, _ = await send(fake_keys, text("notice.pickup"))
        assert status == 200
        with pytest.raises(AssertionError, match="notice.pickup"):
            fake_keys.assert_clean()
    finally:
        await fake_keys.stop()


# -- the 24 h window ----------------------------------------------------------------------------

async def test_free_form_outside_the_window_is_131047(wa):
    status, body = await send(wa, text("Hola"))
    assert status == 400 and body["error"]["code"] == 131047
    await wa.text(PERSON, "Hola")
    assert (await send(wa, text("Hola")))[0] == 200
    wa.advance(timedelta(hours=24, seconds=1))
    assert (await send(wa, text("¿Sigues?")))[1]["error"]["code"] == 131047
    wa.assert_clean()  # the app cannot always know: an answer, not a violation


async def test_outside_the_window_may_fail_later_as_a_status(wa):
    wa.outside_window = "status"
    status, body = await send(wa, text("Hola"))
    assert status == 200
    wamid = body["messages"][0]["id"]
    await wa.deliver_statuses()
    failed = [s for s in wa.hook.statuses() if s["status"] == "failed"]
    assert failed[0]["id"] == wamid and failed[0]["errors"][0]["code"] == 131047


# -- templates ----------------------------------------------------------------------------------

SUBMISSION = {
    "name": "convoca_pickup", "language": "es", "category": "UTILITY",
    "components": [
        {"type": "BODY", "text": "Hola {{1}}, tu retiro es el {{2}}.",
         "example": {"body_text": [["Ana", "lunes 3"]]}},
        {"type": "FOOTER", "text": "Responde BASTA para no recibir más avisos"},
        {"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": "Confirmo"}]}],
}


async def test_template_flow(wa):
    url = f"{wa.base_url}/{wa.business_account_id}/message_templates"
    async with wa.http.post(url, json=SUBMISSION) as resp:
        created = await resp.json()
        assert resp.status == 200 and created["status"] == "PENDING", created
    status, body = await send(wa, template("convoca_pickup", "es", "Ana", "lunes 3",
                                           payloads=("p1",)))
    assert body["error"]["code"] == 132001  # not approved yet
    wa.approve("convoca_pickup", "es")
    async with wa.http.get(url) as resp:
        listed = (await resp.json())["data"]
        assert [(t["name"], t["status"]) for t in listed] == [("convoca_pickup", "APPROVED")]
    wa.violations.clear()
    # Outside the window: a template still goes.
    status, body = await send(wa, template("convoca_pickup", "es", "Ana", "lunes 3",
                                           payloads=("p1",)))
    assert status == 200, body
    assert wa.texts(PERSON) == ["Hola Ana, tu retiro es el lunes 3."]
    wamid = await wa.tap_template(PERSON, "Confirmo")
    tapped = wa.hook.messages()[-1]
    assert tapped["id"] == wamid and tapped["type"] == "button"
    assert tapped["button"] == {"payload": "p1", "text": "Confirmo"}
    assert wa.window_open(PERSON)
    wa.assert_clean()


@pytest.mark.parametrize(("message", "code"), [
    (template("convoca_pickup", "es_CL", "Ana", "lunes 3", payloads=("p",)), 132001),
    (template("convoca_pickup", "es", "Ana", payloads=("p",)), 132000),
    (template("convoca_pickup", "es", "Ana", "lunes\n3", payloads=("p",)), 132018),
    (template("convoca_pickup", "es", "Ana", "    3", payloads=("p",)), 132018),
    (template("convoca_pickup", "es", "Ana", " ", payloads=("p",)), 131008),
    (template("convoca_pickup", "es", "Ana", "lunes 3"), 131008),  # no quick-reply payload
    (template("nonexistent", "es", "Ana"), 132001),
])
async def test_template_defects(wa, message, code):
    wa.add_template("convoca_pickup", "es", "Hola {{1}}, tu retiro es el {{2}}.",
                    buttons=["Confirmo"])
    status, body = await send(wa, message)
    assert status == 400 and body["error"]["code"] == code, body
    wa.assert_clean(allow=[code])
    with pytest.raises(AssertionError):
        wa.assert_clean()


async def test_a_paused_or_disabled_template_says_so(wa):
    wa.add_template("convoca_pickup", "es", "Hola {{1}}")
    for state, code in (("PAUSED", 132015), ("DISABLED", 132016)):
        wa.set_template_status("convoca_pickup", "es", state)
        status, body = await send(wa, template("convoca_pickup", "es", "Ana"))
        assert status == 400 and body["error"]["code"] == code


async def test_templates_are_listed_in_pages(wa):
    for i in range(30):
        wa.add_template(f"t{i}", "es", "Hola", status="PENDING" if i % 2 else "APPROVED")
    url = f"{wa.base_url}/{wa.business_account_id}/message_templates?limit=20"
    names = []
    while url:
        async with wa.http.get(url) as resp:
            page = await resp.json()
        names += [t["name"] for t in page["data"]]
        url = page["paging"].get("next")
    assert names == [f"t{i}" for i in range(30)]


# -- playing people -----------------------------------------------------------------------------

async def test_played_webhooks_are_signed_and_shaped_like_metas(wa):
    await wa.text(PERSON, "Hola", name="Ana")
    assert wa.hook.signatures_ok == [True]
    body = wa.hook.bodies[0]
    value = body["entry"][0]["changes"][0]["value"]
    assert body["object"] == "whatsapp_business_account"
    assert value["metadata"]["phone_number_id"] == wa.phone_number_id
    assert value["contacts"] == [{"profile": {"name": "Ana"}, "wa_id": PERSON}]
    assert value["messages"][0]["text"] == {"body": "Hola"}
    assert await wa.post_webhook(body, signature="sha256=" + "0" * 64) == 403
    assert await wa.repeat_webhook() == 403  # the last one, byte for byte: the wrong one
    await wa.text(PERSON, "Otra vez")
    assert await wa.repeat_webhook() == 200
    assert [m["id"] for m in wa.hook.messages()][-2:] == [wa.hook.messages()[-1]["id"]] * 2
    wa.assert_clean()


async def test_press_a_button_or_a_row(wa):
    await wa.text(PERSON, "Hola")
    _, sent = await send(wa, buttons("Sí", "No"))
    await send(wa, rows("Lunes", "Martes"))
    await wa.press(PERSON, "Sí")
    await wa.press(PERSON, "Martes")
    pressed = wa.hook.messages()[-2:]
    assert pressed[0]["interactive"] == {"type": "button_reply",
                                         "button_reply": {"id": "a:Sí", "title": "Sí"}}
    assert pressed[0]["context"]["id"] == sent["messages"][0]["id"]
    assert pressed[1]["interactive"]["list_reply"]["id"] == "d:Martes"
    with pytest.raises(LookupError):
        await wa.press(PERSON, "Quizás")
    wa.assert_clean()


async def test_documents_contacts_and_unsupported(wa):
    await wa.document(PERSON, "familias.xlsx", b"PK\x03\x04data",
                      "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                      caption="La lista")
    doc = wa.hook.messages()[-1]["document"]
    async with wa.http.get(f"{wa.base_url}/{doc['id']}") as resp:
        meta = await resp.json()
    assert meta["file_size"] == 8 and meta["mime_type"].endswith("sheet")
    async with wa.http.get(meta["url"]) as resp:
        assert await resp.read() == b"PK\x03\x04data"
    async with aiohttp.ClientSession() as anon, anon.get(meta["url"]) as resp:
        assert resp.status == 401
    wa.violations.clear()
    await wa.contact_card(PERSON, "+56 9 1111 2222", first_name="Rosa")
    assert wa.hook.messages()[-1]["contacts"][0]["phones"][0]["phone"] == "+56 9 1111 2222"
    for kind in ("sticker", "image", "location", "unsupported"):
        await wa.unsupported(PERSON, kind)
    assert [m["type"] for m in wa.hook.messages()[-4:]] == ["sticker", "image", "location",
                                                            "unsupported"]
    wa.assert_clean()


async def test_statuses_forward_out_of_order_and_failed(wa):
    await wa.text(PERSON, "Hola")
    _, first = await send(wa, text("Uno"))
    await wa.deliver_statuses(PERSON, up_to="delivered")
    assert [s["status"] for s in wa.hook.statuses()] == ["sent", "delivered"]
    _, second = await send(wa, text("Dos"), )
    await wa.deliver_statuses(PERSON, order=("read", "sent", "delivered"))
    tail = [(s["id"], s["status"]) for s in wa.hook.statuses()[2:]]
    first_id, second_id = first["messages"][0]["id"], second["messages"][0]["id"]
    assert tail == [(first_id, "read"), (second_id, "read"), (second_id, "sent"),
                    (second_id, "delivered")]
    _, third = await send(wa, text("Tres"))
    await wa.fail(third["messages"][0]["id"], 131026)
    assert wa.hook.statuses()[-1]["errors"][0]["code"] == 131026
    wa.assert_clean()


# -- faults and throughput ----------------------------------------------------------------------

async def test_faults(wa):
    wa.wrote_at(PERSON)
    wa.inject("5xx")
    wa.inject(130429, times=2)
    wa.inject(131026, wa_id="56911111111")
    assert (await send(wa, text("a")))[0] == 500
    for _ in range(2):
        status, body = await send(wa, text("a"))
        assert status == 400 and body["error"]["code"] == 130429
    assert (await send(wa, text("a")))[0] == 200
    wa.wrote_at("56911111111")
    assert (await send(wa, text("a"), to="56911111111"))[1]["error"]["code"] == 131026
    wa.timeout_hold = 0.2
    wa.inject("timeout")
    with pytest.raises(aiohttp.ClientError):
        await send(wa, text("a"))
    wa.assert_clean()


async def test_rate_is_recorded_and_may_be_enforced(wa):
    wa.wrote_at(PERSON)
    wa.rate_limit_per_second = 5
    wa.enforce_rate_limit = True
    codes = [(await send(wa, text(f"m{i}")))[0] for i in range(8)]
    assert codes.count(200) == 5 and codes.count(400) == 3
    assert wa.max_per_second() == 5
    wa.assert_clean()


async def test_phone_number_and_history(wa):
    async with wa.http.get(f"{wa.base_url}/{wa.phone_number_id}") as resp:
        info = await resp.json()
    assert info["verified_name"] == "Convoca" and info["display_phone_number"]
    await wa.text(PERSON, "Hola")
    _, sent = await send(wa, text("Hola"))
    wamid = sent["messages"][0]["id"]
    async with wa.http.get(f"{wa.base_url}/{wa.phone_number_id}/message_history",
                           params={"message_id": wamid}) as resp:
        history = await resp.json()
    assert [h["message_id"] for h in history["data"]] == [wamid]
    async with wa.http.get(f"{wa.base_url}/{wa.phone_number_id}/message_history",
                           params={"message_id": "wamid.unknown"}) as resp:
        assert (await resp.json())["data"] == []
    wa.assert_clean()


async def test_the_callback_is_echoed_in_statuses_and_checked(wa):
    wa.wrote_at(PERSON)
    _, sent = await send(wa, {**text("Hola"), "biz_opaque_callback_data": "row:7"})
    await wa.deliver_statuses(PERSON, up_to="sent")
    assert wa.hook.statuses()[-1]["biz_opaque_callback_data"] == "row:7"
    status, body = await send(wa, {**text("Hola"), "biz_opaque_callback_data": "x" * 513})
    assert status == 400 and body["error"]["code"] == 100
    with pytest.raises(AssertionError, match="biz_opaque_callback_data"):
        wa.assert_clean()


async def test_a_throttling_fault_may_say_when_to_retry(wa):
    wa.wrote_at(PERSON)
    wa.inject(131056, retry_after=6)
    url = f"{wa.base_url}/{wa.phone_number_id}/messages"
    body = {"messaging_product": "whatsapp", "to": PERSON, **text("Hola")}
    async with wa.http.post(url, json=body) as resp:
        assert resp.status == 400 and resp.headers["Retry-After"] == "6"
        assert (await resp.json())["error"]["code"] == 131056


async def test_a_media_url_lasts_five_minutes_and_an_upload_names_its_type(wa):
    await wa.document(PERSON, "a.pdf", b"%PDF-1.4", "application/pdf")
    media_id = wa.hook.messages()[-1]["document"]["id"]
    async with wa.http.get(f"{wa.base_url}/{media_id}") as resp:
        url = (await resp.json())["url"]
    wa.advance(timedelta(minutes=5, seconds=1))
    async with wa.http.get(url) as resp:
        assert resp.status == 404
    async with wa.http.get(f"{wa.base_url}/{media_id}") as resp:
        url = (await resp.json())["url"]
    async with wa.http.get(url) as resp:
        assert resp.status == 200 and wa.downloads == [media_id]
    wa.assert_clean()
    form = aiohttp.FormData({"messaging_product": "whatsapp"})
    form.add_field("file", b"a,b\n", filename="x.csv", content_type="text/csv")
    async with wa.http.post(f"{wa.base_url}/{wa.phone_number_id}/media", data=form) as resp:
        assert resp.status == 400
    with pytest.raises(AssertionError, match="type"):
        wa.assert_clean()


async def test_statuses_may_follow_each_send_by_themselves(wa):
    wa.auto_statuses = True
    await wa.text(PERSON, "Hola")
    _, sent = await send(wa, text("Hola"))
    for _ in range(100):
        if len(wa.hook.statuses()) == 2:
            break
        await asyncio.sleep(0.01)
    assert [(s["id"], s["status"]) for s in wa.hook.statuses()] == [
        (sent["messages"][0]["id"], "sent"), (sent["messages"][0]["id"], "delivered")]
    wa.assert_clean()


async def test_a_lost_answer_leaves_the_message_sent_and_in_the_history(wa):
    wa.wrote_at(PERSON)
    wa.timeout_hold = 0.1
    wa.inject("lost")
    with pytest.raises(aiohttp.ClientError):
        await send(wa, text("¿Llegó?"))
    assert wa.texts(PERSON) == ["¿Llegó?"]
    wamid = wa.messages(PERSON)[0].wamid
    async with wa.http.get(f"{wa.base_url}/{wa.phone_number_id}/message_history",
                           params={"fields": "id,message_id,events"}) as resp:
        history = await resp.json()
    assert history["data"][0]["message_id"] == wamid
    assert history["data"][0]["events"]["data"][0]["delivery_status"] == "SENT"
    async with wa.http.get(f"{wa.base_url}/123456") as resp:  # a media id that is no more
        assert resp.status == 400 and (await resp.json())["error"]["error_subcode"] == 33
    wa.assert_clean()


async def test_a_shape_checked_once_still_catches_a_longer_text(wa):
    # The spec check is remembered per shape: a title over the limit is another shape.
    wa.wrote_at(PERSON)
    assert (await send(wa, buttons("x" * 20)))[0] == 200
    assert (await send(wa, buttons("y" * 19)))[0] == 200
    status, body = await send(wa, buttons("z" * 21))
    assert status == 400 and "z" * 21 in body["error"]["error_data"]["details"]


async def test_the_fake_may_follow_the_apps_clock():
    from storage.clock import ManualClock

    clock = ManualClock()
    fake = FakeWhatsApp(clock=clock, message_keys=())
    fake.wrote_at(PERSON)
    assert fake.window_open(PERSON) and fake.now == clock.now()
    clock.advance(hours=23)
    assert fake.window_open(PERSON)
    fake.advance(timedelta(hours=1))
    assert clock.now() == fake.now and not fake.window_open(PERSON)
    with pytest.raises(RuntimeError):
        fake.now = clock.now()


async def test_webhooks_held_and_released_out_of_order_batched_and_redelivered(wa):
    wa.hold_webhooks()
    first = await wa.text(PERSON, "uno")
    second = await wa.text(PERSON, "dos")
    assert wa.hook.bodies == []
    assert await wa.release_webhooks() == [200, 200]
    assert [m["id"] for m in wa.hook.messages()] == [second, first]
    await send(wa, text("a"))
    await send(wa, text("b"))
    assert await wa.deliver_statuses(up_to="delivered", batch=True) == 4
    assert len(wa.hook.bodies) == 3 and len(wa.hook.statuses()) == 4
    url, wa.webhook_url = wa.webhook_url, "http://127.0.0.1:9/whatsapp"  # the app is down
    assert await wa.text(PERSON, "¿hola?") == wa.webhooks[-1][0]["entry"][0]["changes"][0][
        "value"]["messages"][0]["id"]
    assert wa.webhooks[-1][1] == 0
    wa.webhook_url = url
    assert await wa.redeliver() == [200]
    assert wa.hook.messages()[-1]["text"]["body"] == "¿hola?"
    wa.assert_clean()
