"""bot/whatsapp, piece by piece: the capabilities, the error kinds, the client against a
tiny Graph API server of its own, the rendering within WhatsApp's limits, and the webhook
read from realistic bodies (the spec's own examples among them)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web
from aiohttp.test_utils import TestServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.whatsapp import CAPABILITIES, CHANNEL, capabilities
from bot.whatsapp.client import CloudClient, CloudError
from bot.whatsapp.errors import Kind, classify, reason
from bot.whatsapp.render import Piece, pieces, with_media
from bot.whatsapp.webhook import parse, signature_ok, timestamp, verify_subscription
from handlers.core import DocumentTooBig
from handlers.events import EventKind, Incoming
from locales import Catalogs, Msg, Raw
from services.messages import Attachment, Button, DatePick, Outgoing, Pager

TOKEN = "EAAG-secret-token-never-shown"
PHONE_ID = "106540352242922"
WABA = "419561257915477"
SPEC = (Path(__file__).resolve().parents[2] / "shared" / "specs"
        / "whatsapp-business-messaging-api_v23.0.yaml")


# capabilities ----------------------------------------------------------------------------

def test_capabilities_are_whatsapps_and_links_open_the_business_chat() -> None:
    assert (CAPABILITIES.buttons, CAPABILITIES.list_rows, CAPABILITIES.label_chars) == (3, 10, 20)
    assert CAPABILITIES.choice_text_chars == 1024 and not CAPABILITIES.can_edit
    assert CAPABILITIES.session_window == timedelta(hours=24)
    assert capabilities(None).link("ABC") is None
    caps = capabilities("+56 9 8765 4321")
    assert caps.link("K7Q2") == "https://wa.me/56987654321?text=K7Q2"
    assert caps.link("a b&c") == "https://wa.me/56987654321?text=a%20b%26c"


# errors ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("code", "status", "kind"), [
    (4, 400, Kind.THROTTLED), (80007, 400, Kind.THROTTLED), (130429, 400, Kind.THROTTLED),
    (131048, 400, Kind.THROTTLED), (133016, 400, Kind.THROTTLED), (None, 429, Kind.THROTTLED),
    (131056, 400, Kind.PAIR_LIMIT),
    (131047, None, Kind.OUTSIDE_WINDOW), (131047, 400, Kind.OUTSIDE_WINDOW),
    (131026, None, Kind.UNDELIVERABLE),
    (131049, None, Kind.HOLD),
    (132000, 400, Kind.TEMPLATE_DEFECT), (132001, 404, Kind.TEMPLATE_DEFECT),
    (132012, 400, Kind.TEMPLATE_DEFECT), (132018, 400, Kind.TEMPLATE_DEFECT),
    (132005, 400, Kind.TEMPLATE_DEFECT), (132007, 400, Kind.TEMPLATE_DEFECT),
    (132015, 400, Kind.TEMPLATE_DEFECT), (132016, 400, Kind.TEMPLATE_DEFECT),
    (190, 400, Kind.TOKEN), (None, 401, Kind.TOKEN), (100, 401, Kind.TOKEN),
    (131053, 400, Kind.MEDIA),
    (None, 500, Kind.TRANSIENT), (None, 503, Kind.TRANSIENT), (1, 400, Kind.TRANSIENT),
    (2, 503, Kind.TRANSIENT), (131000, 500, Kind.TRANSIENT), (131016, None, Kind.TRANSIENT),
    (100, 400, Kind.REJECTED), (131009, 400, Kind.REJECTED), (None, 404, Kind.REJECTED),
    (131051, None, Kind.REJECTED), (None, None, Kind.REJECTED),
])
def test_each_code_family_has_its_kind(code: int | None, status: int | None, kind: Kind
                                       ) -> None:
    assert classify(code, status) is kind


def test_a_reason_names_the_code_on_one_line_within_the_column() -> None:
    assert reason(131047, "Re-engagement message") == "whatsapp 131047: Re-engagement message"
    assert reason(None, "Bad\ngateway") == "whatsapp: Bad gateway"
    assert len(reason(100, "x" * 900)) == 500


# client ----------------------------------------------------------------------------------

@dataclass
class Graph:
    """A tiny Graph API: records each request, answers what a test sets."""

    requests: list[tuple[str, str, dict[str, str], Any]] = field(default_factory=list)
    answers: dict[str, Callable[[web.Request], Any]] = field(default_factory=dict)
    server: TestServer | None = None

    @property
    def base(self) -> str:
        assert self.server is not None
        return str(self.server.make_url("/v23.0"))

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if request.content_type == "multipart/form-data":
            form = await request.post()
            body: Any = {k: (v if isinstance(v, str) else (v.filename, v.content_type,
                                                            v.file.read()))
                         for k, v in form.items()}
        else:
            raw = await request.read()
            body = json.loads(raw) if raw else None
        self.requests.append((request.method, request.path_qs, dict(request.headers), body))
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return web.json_response({"error": {"message": "Invalid OAuth access token.",
                                                "type": "OAuthException", "code": 190}},
                                     status=401)
        answer = self.answers.get(f"{request.method} {request.path}")
        if answer is None:
            return web.json_response({"error": {"message": "Unknown path", "code": 100}},
                                     status=400)
        result = answer(request)
        if asyncio.iscoroutine(result):
            result = await result
        return result if isinstance(result, web.StreamResponse) else web.json_response(result)


@pytest.fixture
async def graph() -> AsyncIterator[Graph]:
    g = Graph()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", g.handle)
    g.server = TestServer(app)
    await g.server.start_server()
    yield g
    await g.server.close()


@pytest.fixture
async def client(graph: Graph) -> AsyncIterator[CloudClient]:
    c = CloudClient(graph.base, TOKEN, PHONE_ID, WABA, timeout=2.0, user_agent="Convoca/test")
    yield c
    await c.close()


def sent(wamid: str = "wamid.HBgLNTY5ODc2NTQzMjEVAgARGBI1") -> dict[str, Any]:
    return {"messaging_product": "whatsapp",
            "contacts": [{"input": "56987654321", "wa_id": "56987654321"}],
            "messages": [{"id": wamid, "message_status": "accepted"}]}


def test_the_client_is_made_outside_a_loop_and_shows_no_token() -> None:
    c = CloudClient("https://graph.facebook.com/v23.0", TOKEN, PHONE_ID)
    assert c._session is None  # made on first use, inside the running loop
    assert TOKEN not in repr(c) and TOKEN not in str(c)


async def test_send_posts_the_message_with_bearer_and_user_agent(graph: Graph,
                                                                 client: CloudClient) -> None:
    graph.answers[f"POST /v23.0/{PHONE_ID}/messages"] = lambda r: sent()
    wamid = await client.send("56987654321", {"type": "text", "text": {"body": "Hola"}},
                              callback="row:7")
    assert wamid == "wamid.HBgLNTY5ODc2NTQzMjEVAgARGBI1"
    [(method, path, headers, body)] = graph.requests
    assert (method, path) == ("POST", f"/v23.0/{PHONE_ID}/messages")
    assert headers["Authorization"] == f"Bearer {TOKEN}"
    assert headers["User-Agent"] == "Convoca/test"
    assert body == {"messaging_product": "whatsapp", "recipient_type": "individual",
                    "to": "56987654321", "type": "text", "text": {"body": "Hola"},
                    "biz_opaque_callback_data": "row:7"}


async def test_a_business_scoped_user_id_is_sent_as_recipient(graph: Graph,
                                                             client: CloudClient) -> None:
    graph.answers[f"POST /v23.0/{PHONE_ID}/messages"] = lambda r: sent()
    await client.send("CL.1502576394655843", {"type": "text", "text": {"body": "Hola"}})
    body = graph.requests[0][3]
    assert body["recipient"] == "CL.1502576394655843" and "to" not in body
    assert "biz_opaque_callback_data" not in body
    await client.send("+56987654321", {"type": "text", "text": {"body": "Hola"}})
    assert graph.requests[1][3]["to"] == "+56987654321"


async def test_a_graph_error_becomes_a_cloud_error_with_its_parts(graph: Graph,
                                                                 client: CloudClient,
                                                                 caplog: pytest.LogCaptureFixture
                                                                 ) -> None:
    def throttled(request: web.Request) -> web.Response:
        return web.json_response({"error": {
            "message": "(#131056) (Business Account, Consumer Account) pair rate limit hit",
            "type": "OAuthException", "code": 131056, "error_subcode": 2494055,
            "error_data": {"messaging_product": "whatsapp",
                           "details": "Too many messages to this person"},
            "fbtrace_id": "AbCdEf"}}, status=400, headers={"Retry-After": "6"})

    graph.answers[f"POST /v23.0/{PHONE_ID}/messages"] = throttled
    caplog.set_level(logging.DEBUG)
    with pytest.raises(CloudError) as caught:
        await client.send("56987654321", {"type": "text", "text": {"body": "Hola"}})
    e = caught.value
    assert (e.status, e.code, e.subcode, e.retry_after) == (400, 131056, 2494055, 6.0)
    assert e.details == "Too many messages to this person" and "pair rate limit" in e.message
    assert classify(e.code, e.status) is Kind.PAIR_LIMIT
    assert TOKEN not in str(e) and TOKEN not in repr(e.args) and TOKEN not in caplog.text


async def test_a_body_that_is_not_graphs_still_tells_its_status(graph: Graph,
                                                               client: CloudClient) -> None:
    graph.answers[f"POST /v23.0/{PHONE_ID}/messages"] = lambda r: web.Response(
        status=502, text="<html>Bad Gateway</html>")
    with pytest.raises(CloudError) as caught:
        await client.send("56987654321", {"type": "text", "text": {"body": "Hola"}})
    assert (caught.value.status, caught.value.code, caught.value.retry_after) == (502, None, None)
    assert classify(caught.value.code, caught.value.status) is Kind.TRANSIENT


async def test_a_wrong_token_is_a_token_error(graph: Graph) -> None:
    c = CloudClient(graph.base, "EAAG-old", PHONE_ID)
    try:
        with pytest.raises(CloudError) as caught:
            await c.phone_number()
    finally:
        await c.close()
    assert classify(caught.value.code, caught.value.status) is Kind.TOKEN
    assert "EAAG-old" not in str(caught.value)


async def test_no_answer_in_time_is_a_timeout(graph: Graph) -> None:
    async def slow(request: web.Request) -> dict[str, Any]:
        await asyncio.sleep(1.0)
        return sent()

    graph.answers[f"POST /v23.0/{PHONE_ID}/messages"] = slow
    c = CloudClient(graph.base, TOKEN, PHONE_ID, timeout=0.2)
    try:
        with pytest.raises(TimeoutError) as caught:
            await c.send("56987654321", {"type": "text", "text": {"body": "Hola"}})
    finally:
        await c.close()
    assert TOKEN not in str(caught.value)


async def test_upload_is_multipart_with_the_type(graph: Graph, client: CloudClient) -> None:
    graph.answers[f"POST /v23.0/{PHONE_ID}/media"] = lambda r: {"id": "4490709327384033"}
    media = await client.upload(b"a;b\n1;2\n", "text/plain", "revision.csv")
    assert media == "4490709327384033"
    body = graph.requests[0][3]
    assert body["messaging_product"] == "whatsapp" and body["type"] == "text/plain"
    assert body["file"] == ("revision.csv", "text/plain", b"a;b\n1;2\n")


async def test_download_fetches_the_url_with_bearer(graph: Graph, client: CloudClient) -> None:
    content = b"PK\x03\x04" + b"x" * 5000
    graph.answers["GET /v23.0/777"] = lambda r: {
        "url": str(graph.server.make_url("/files/777")), "mime_type": "text/csv",  # type: ignore[union-attr]
        "sha256": "abc", "file_size": str(len(content)), "id": "777",
        "messaging_product": "whatsapp"}
    graph.answers["GET /files/777"] = lambda r: web.Response(body=content)
    assert await client.download("777", 10_000) == content
    (_, info, _, _), (_, fetched, headers, _) = graph.requests
    assert info == f"/v23.0/777?phone_number_id={PHONE_ID}" and fetched == "/files/777"
    assert headers["Authorization"] == f"Bearer {TOKEN}"


async def test_download_refuses_a_file_too_big_before_or_while_fetching(graph: Graph,
                                                                       client: CloudClient
                                                                       ) -> None:
    graph.answers["GET /v23.0/big"] = lambda r: {
        "url": str(graph.server.make_url("/files/big")), "file_size": 20_000}  # type: ignore[union-attr]
    with pytest.raises(DocumentTooBig):
        await client.download("big", 10_000)
    assert [r[1].split("?")[0] for r in graph.requests] == ["/v23.0/big"]  # never fetched

    graph.answers["GET /v23.0/quiet"] = lambda r: {
        "url": str(graph.server.make_url("/files/quiet"))}  # type: ignore[union-attr]
    graph.answers["GET /files/quiet"] = lambda r: web.Response(body=b"x" * 200_000)
    with pytest.raises(DocumentTooBig):
        await client.download("quiet", 10_000)


async def test_templates_follow_the_pages(graph: Graph, client: CloudClient) -> None:
    def page(request: web.Request) -> dict[str, Any]:
        if request.query.get("after") == "MjQZD":
            return {"data": [{"name": "convoca_meeting", "language": "en", "status": "PENDING",
                              "category": "UTILITY", "id": "2"}], "paging": {}}
        nxt = str(graph.server.make_url(  # type: ignore[union-attr]
            f"/v23.0/{WABA}/message_templates?limit=100&after=MjQZD"))
        return {"data": [{"name": "convoca_pickup", "language": "es", "status": "APPROVED",
                          "category": "UTILITY", "components": [], "id": "1"}],
                "paging": {"cursors": {"after": "MjQZD"}, "next": nxt}}

    graph.answers[f"GET /v23.0/{WABA}/message_templates"] = page
    found = await client.templates()
    assert [t["name"] for t in found] == ["convoca_pickup", "convoca_meeting"]
    assert len(graph.requests) == 2


async def test_the_other_calls_reach_their_paths(graph: Graph, client: CloudClient) -> None:
    graph.answers[f"POST /v23.0/{PHONE_ID}/messages"] = lambda r: {"success": True}
    graph.answers[f"GET /v23.0/{PHONE_ID}"] = lambda r: {
        "display_phone_number": "+56 2 2345 6789", "verified_name": "Convoca"}
    graph.answers[f"POST /v23.0/{WABA}/message_templates"] = lambda r: {
        "id": "594425479261596", "status": "PENDING", "category": "UTILITY"}
    graph.answers[f"GET /v23.0/{PHONE_ID}/message_history"] = lambda r: {"data": []}
    await client.mark_read("wamid.X")
    assert (await client.phone_number())["verified_name"] == "Convoca"
    made = await client.create_template({"name": "convoca_pickup", "language": "es",
                                         "category": "UTILITY", "components": []})
    assert made["status"] == "PENDING"
    assert await client.history(message_id="wamid.X") == {"data": []}
    assert graph.requests[0][3] == {"messaging_product": "whatsapp", "status": "read",
                                    "message_id": "wamid.X"}
    assert graph.requests[3][1] == f"/v23.0/{PHONE_ID}/message_history?message_id=wamid.X"
    no_waba = CloudClient(graph.base, TOKEN, PHONE_ID)
    with pytest.raises(ValueError):
        await no_waba.templates()


# render ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def catalogs() -> Catalogs:
    return Catalogs()


def render_in(catalogs: Catalogs, loc: str = "es") -> Callable[[Msg], str]:
    return lambda m: catalogs.render(m, loc, "America/Santiago")


def raw(text: str) -> Msg:
    return Msg("widget.label", {"text": Raw(text)})


def signed(action: str) -> str:
    return f"{action}|AbCdEfGh"


def choice(n: int, label: str = "Opción {}", text: str = "¿Cuál?") -> Outgoing:
    return Outgoing(text=raw(text), buttons=tuple(
        (Button(raw(label.format(i)), f"x:{i}"),) for i in range(n)))


def broken(message: dict[str, Any]) -> list[str]:
    """What of a Cloud API message WhatsApp would refuse (its documented limits), checked
    apart from the code that builds it."""
    bad = []
    kind = message["type"]
    if kind == "text":
        body = message["text"]["body"]
        if not body or len(body) > 4096:
            bad.append(f"text of {len(body)}")
    elif kind == "interactive":
        i = message["interactive"]
        body = i["body"]["text"]
        if not body or len(body) > 1024:
            bad.append(f"body of {len(body)}")
        for part in ("header", "footer"):
            if part in i and len(i[part]["text"]) > 60:
                bad.append(part)
        if i["type"] == "button":
            buttons = i["action"]["buttons"]
            titles = [b["reply"]["title"] for b in buttons]
            if not 1 <= len(buttons) <= 3:
                bad.append(f"{len(buttons)} buttons")
            if len(set(titles)) != len(titles) or any(not t or len(t) > 20 for t in titles):
                bad.append(f"titles {titles}")
            bad += [b["reply"]["id"] for b in buttons
                    if b["type"] != "reply" or len(b["reply"]["id"].encode()) > 256]
        elif i["type"] == "list":
            action = i["action"]
            rows = [r for s in action["sections"] for r in s["rows"]]
            if not action["button"] or len(action["button"]) > 20:
                bad.append(f"list button {action['button']!r}")
            if not 1 <= len(rows) <= 10 or len(action["sections"]) > 10:
                bad.append(f"{len(rows)} rows")
            titles = [r["title"] for r in rows]
            if len(set(titles)) != len(titles) or any(not t or len(t) > 24 for t in titles):
                bad.append(f"row titles {titles}")
            bad += [r["description"] for r in rows if len(r.get("description", "")) > 72]
            bad += [r["id"] for r in rows if len(r["id"].encode()) > 200]
        else:
            bad.append(f"interactive {i['type']}")
    elif kind in ("document", "image"):
        if len(message[kind].get("caption", "")) > 1024:
            bad.append("caption")
    elif kind == "location":
        loc = message["location"]
        if not all(isinstance(loc[k], float) for k in ("latitude", "longitude")):
            bad.append("location not in numbers")
    else:
        bad.append(f"type {kind}")
    return bad


def shapes(catalogs: Catalogs, out: Outgoing, pack: Callable[[str], str] | None = signed
           ) -> list[dict[str, Any]]:
    found = pieces(out, CAPABILITIES, render_in(catalogs), pack)
    for p in found:
        assert broken(p.message) == [], p.message
    return [p.message for p in found]


def test_text_goes_as_text_and_a_long_one_in_pieces(catalogs: Catalogs) -> None:
    assert shapes(catalogs, Outgoing(text=raw("Hola"))) == [
        {"type": "text", "text": {"body": "Hola"}}]
    exactly = shapes(catalogs, Outgoing(text=raw("a" * 4096)))
    assert len(exactly) == 1
    assert [len(m["text"]["body"]) for m in shapes(catalogs, Outgoing(text=raw("a" * 4097)))
            ] == [4096, 1]
    longer = shapes(catalogs, Outgoing(text=raw(("palabra " * 600).strip())))
    assert len(longer) == 2 and all(m["type"] == "text" for m in longer)
    assert shapes(catalogs, Outgoing()) == []


def test_up_to_three_options_are_reply_buttons_with_signed_ids(catalogs: Catalogs) -> None:
    [message] = shapes(catalogs, choice(3))
    assert message == {"type": "interactive", "interactive": {
        "type": "button", "body": {"text": "¿Cuál?"},
        "action": {"buttons": [{"type": "reply", "reply": {"id": f"x:{i}|AbCdEfGh",
                                                           "title": f"Opción {i}"}}
                               for i in range(3)]}}}


def test_a_label_of_twenty_is_a_button_and_of_twenty_one_a_list_row(catalogs: Catalogs
                                                                     ) -> None:
    [m] = shapes(catalogs, choice(2, "{}" + "b" * 19))
    assert m["interactive"]["type"] == "button"
    assert [b["reply"]["title"] for b in m["interactive"]["action"]["buttons"]] == [
        "0" + "b" * 19, "1" + "b" * 19]
    [m] = shapes(catalogs, choice(2, "{}" + "b" * 20))
    assert m["interactive"]["type"] == "list"


def test_four_to_ten_options_are_a_list(catalogs: Catalogs) -> None:
    [m] = shapes(catalogs, choice(10, "Sesión ordinaria del Grupo Motor número {}"))
    i = m["interactive"]
    assert i["type"] == "list" and i["body"] == {"text": "¿Cuál?"}
    assert i["action"]["button"] == "Ver opciones"
    [section] = i["action"]["sections"]
    assert "title" not in section and len(section["rows"]) == 10
    row = section["rows"][0]
    assert row["id"] == "x:0|AbCdEfGh" and len(row["title"]) <= 24
    assert row["description"]  # the rest of the long label
    [m] = shapes(catalogs, choice(4))
    assert all("description" not in r for r in m["interactive"]["action"]["sections"][0]["rows"])


def test_a_row_title_of_24_is_whole_and_of_25_continues_below(catalogs: Catalogs) -> None:
    def rows(width: int) -> list[dict[str, str]]:
        [m] = shapes(catalogs, choice(4, "{}" + "r" * (width - 1)))
        return m["interactive"]["action"]["sections"][0]["rows"]

    assert rows(24)[0] == {"id": "x:0|AbCdEfGh", "title": "0" + "r" * 23}
    row = rows(25)[0]
    assert len(row["title"]) <= 24 and row["description"] == "0" + "r" * 24


def test_more_than_ten_go_in_pages_of_a_list(catalogs: Catalogs) -> None:
    [m] = shapes(catalogs, choice(25))
    rows = m["interactive"]["action"]["sections"][0]["rows"]
    assert len(rows) == 10 and rows[-1]["id"] == "more:1|AbCdEfGh"
    [last] = shapes(catalogs, replace(choice(25), page=2))
    assert last["interactive"]["action"]["sections"][0]["rows"][-1]["id"] == "more:0|AbCdEfGh"


def test_a_pager_and_a_day_to_pick_become_options(catalogs: Catalogs) -> None:
    paged = Outgoing(text=raw("Familias"), buttons=((Button(raw("Volver"), "back"),),),
                     pager=Pager(1, 3, "p:0", "p:2"))
    [m] = shapes(catalogs, paged)
    ids = [r["id"] if "id" in r else r["reply"]["id"]
           for r in (m["interactive"]["action"].get("buttons")
                     or m["interactive"]["action"]["sections"][0]["rows"])]
    assert {"p:0|AbCdEfGh", "p:2|AbCdEfGh", "back|AbCdEfGh"} <= set(ids)
    assert "2" in m["interactive"]["body"]["text"]  # "page 2 of 3"
    day = Outgoing(text=raw("¿Qué día?"),
                   date_pick=DatePick("d", datetime(2026, 12, 1).date()))
    [m] = shapes(catalogs, day)
    assert m["interactive"]["type"] == "list"


def test_a_choice_text_of_1024_goes_with_it_and_a_longer_one_before_it(catalogs: Catalogs
                                                                       ) -> None:
    [m] = shapes(catalogs, choice(2, text="c" * 1024))
    assert m["interactive"]["body"]["text"] == "c" * 1024
    before, m = shapes(catalogs, choice(2, text="c" * 1025))
    assert before["type"] == "text" and m["type"] == "interactive"
    long = shapes(catalogs, choice(2, text=("frase larga " * 100).strip()))
    assert [m["type"] for m in long] == ["text", "interactive"]
    assert len(long[1]["interactive"]["body"]["text"]) <= 1024


def test_a_document_carries_its_caption_and_file(catalogs: Catalogs) -> None:
    pdf = Attachment("tarjetas.pdf", b"%PDF-1.7", "application/pdf")
    [p] = pieces(Outgoing(text=raw("d" * 1024), attachment=pdf), CAPABILITIES,
                 render_in(catalogs), signed)
    assert p == Piece({"type": "document", "document": {"filename": "tarjetas.pdf",
                                                        "caption": "d" * 1024}}, pdf)
    assert with_media(p, "4490709327384033")["document"] == {
        "filename": "tarjetas.pdf", "caption": "d" * 1024, "id": "4490709327384033"}
    assert p.message["document"] == {"filename": "tarjetas.pdf", "caption": "d" * 1024}
    doc, text = pieces(Outgoing(text=raw("d" * 1025), attachment=pdf), CAPABILITIES,
                       render_in(catalogs), signed)
    assert doc.message == {"type": "document", "document": {"filename": "tarjetas.pdf"}}
    assert text.message["text"]["body"] == "d" * 1025


def test_files_whatsapp_does_not_take_go_as_text_or_image(catalogs: Catalogs) -> None:
    def one(att: Attachment) -> Piece:
        [p] = pieces(Outgoing(attachment=att), CAPABILITIES, render_in(catalogs), signed)
        return p

    csv = one(Attachment("revision.csv", b"a;b", "text/csv"))
    assert csv.attachment is not None and csv.attachment.mime_type == "text/plain"
    assert csv.message == {"type": "document", "document": {"filename": "revision.csv"}}
    ics = one(Attachment("convoca-3.ics", b"BEGIN:VCALENDAR", "text/calendar"))
    assert ics.attachment is not None and ics.attachment.mime_type == "text/plain"
    xlsx = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    kept = one(Attachment("familias.xlsx", b"PK", xlsx))
    assert kept.attachment is not None and kept.attachment.mime_type == xlsx
    chart = one(Attachment("avance.png", b"\x89PNG", "image/png"))
    assert chart.message == {"type": "image", "image": {}}
    assert with_media(chart, "9")["image"] == {"id": "9"}


def test_a_document_with_options_goes_before_them(catalogs: Catalogs) -> None:
    out = replace(choice(2), attachment=Attachment("a.pdf", b"%PDF", "application/pdf"))
    assert [m["type"] for m in shapes(catalogs, out)] == ["document", "interactive"]


def test_a_place_is_a_location_in_numbers(catalogs: Catalogs) -> None:
    out = Outgoing(text=raw("Reunión en la sede"), location=(-33.4489, -70.6693))
    text, place = shapes(catalogs, out)
    assert place == {"type": "location", "location": {"latitude": -33.4489,
                                                      "longitude": -70.6693}}


def test_an_edit_is_a_new_message(catalogs: Catalogs) -> None:
    out = Outgoing(text=raw("Enviados 40 de 100"), updates="wamid.earlier", progress=True)
    assert shapes(catalogs, out) == [{"type": "text", "text": {"body": "Enviados 40 de 100"}}]


def test_with_no_one_to_sign_for_options_are_left_out(catalogs: Catalogs) -> None:
    [m] = shapes(catalogs, choice(2), pack=None)
    assert m == {"type": "text", "text": {"body": "¿Cuál?"}}


def test_ids_at_whatsapps_limits(catalogs: Catalogs) -> None:
    def padded(width: int) -> Callable[[str], str]:
        return lambda action: action.ljust(width, "z")

    assert shapes(catalogs, choice(3), padded(256))
    with pytest.raises(ValueError, match="256"):
        shapes(catalogs, choice(3), padded(257))
    assert shapes(catalogs, choice(5), padded(200))
    with pytest.raises(ValueError, match="200"):
        shapes(catalogs, choice(5), padded(201))


def test_catalog_texts_carry_no_markup_whatsapp_would_show_raw(catalogs: Catalogs) -> None:
    """WhatsApp formats *bold* _italic_ ~strike~ ```mono``` itself and shows HTML or
    Markdown's ** as typed: the catalogs write plain text, which needs no converting."""
    # A form's blank line to write on ("____") is no Markdown.
    markup = re.compile(r"<(b|i|u|a|code|pre)\b|</|\*\*[^\W_]|__[^\W_]|\]\(")
    for loc in ("es", "en"):
        for key in catalogs.keys(loc):
            for text in catalogs.forms(loc, key):
                assert not markup.search(text), (loc, key, text)


LABELS = st.text(alphabet=st.sampled_from("abcdeñáé XYZ0123456789.,"), min_size=1, max_size=60)


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(labels=st.lists(LABELS, max_size=30), text=st.integers(0, 5000),
       document=st.booleans(), page=st.integers(0, 4), located=st.booleans(),
       paged=st.booleans())
def test_every_piece_is_within_whatsapps_limits(catalogs: Catalogs, labels: list[str],
                                                text: int, document: bool, page: int,
                                                located: bool, paged: bool) -> None:
    words = ("palabra " * (text // 8 + 1))[:text]
    out = Outgoing(
        text=raw(words) if words.strip() else None,
        buttons=tuple((Button(raw(label), f"a:{i}"),) for i, label in enumerate(labels)),
        attachment=Attachment("f.pdf", b"%PDF", "application/pdf") if document else None,
        location=(-33.45, -70.66) if located else None, page=page,
        pager=Pager(1, 3, "p:0", "p:2") if paged else None)
    found = pieces(out, CAPABILITIES, render_in(catalogs), signed)
    for p in found:
        assert broken(p.message) == [], p.message
    choices = [p for p in found if p.message["type"] == "interactive"]
    assert len(choices) == (1 if labels or paged else 0)
    assert sum(p.attachment is not None for p in found) == int(document)


# webhook ---------------------------------------------------------------------------------

def test_the_subscription_check_echoes_the_challenge_for_our_token_only() -> None:
    query = {"hub.mode": "subscribe", "hub.verify_token": "vt-123", "hub.challenge": "1158201444"}
    assert verify_subscription(query, "vt-123") == (200, "1158201444")
    assert verify_subscription(query, "other") == (403, "")
    assert verify_subscription({**query, "hub.mode": "unsubscribe"}, "vt-123") == (403, "")
    assert verify_subscription({"hub.mode": "subscribe", "hub.challenge": "1"}, "") == (403, "")
    assert verify_subscription({**query, "hub.verify_token": "vt-123ñ"}, "vt-123") == (403, "")


def test_the_signature_is_the_hmac_of_the_exact_bytes() -> None:
    raw_body = b'{"object":"whatsapp_business_account","entry":[]}'
    good = "sha256=" + hmac.new(b"app-secret", raw_body, hashlib.sha256).hexdigest()
    assert signature_ok(raw_body, good, "app-secret")
    assert not signature_ok(raw_body + b" ", good, "app-secret")
    assert not signature_ok(raw_body, good, "other-secret")
    assert not signature_ok(raw_body, None, "app-secret")
    assert not signature_ok(raw_body, "", "app-secret")
    assert not signature_ok(raw_body, good.replace("sha256", "sha1"), "app-secret")
    assert not signature_ok(raw_body, "sha256=zz", "app-secret")
    assert not signature_ok(raw_body, good, "")


def body(*values: dict[str, Any], phone_number_id: str = PHONE_ID) -> dict[str, Any]:
    return {"object": "whatsapp_business_account", "entry": [{"id": WABA, "changes": [
        {"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "56223456789",
                         "phone_number_id": phone_number_id}, **v}}
        for v in values]}]}


MARIA = {"profile": {"name": "María José"}, "wa_id": "56987654321"}


def message(kind: str, content: Any, wamid: str = "wamid.HBgLNTY5ODc2NTQzMjEVAgASGBQ",
            **more: Any) -> dict[str, Any]:
    return {"from": "56987654321", "id": wamid, "timestamp": "1765000000", "type": kind,
            kind: content, **more}


def one(b: dict[str, Any]) -> Incoming:
    [inbound], statuses = parse(b, PHONE_ID)
    assert statuses == []
    return inbound.event


def test_a_text_is_an_event_keyed_by_its_wamid() -> None:
    [inbound], _ = parse(body({"contacts": [MARIA], "messages": [
        message("text", {"body": "Hola"})]}), PHONE_ID)
    assert inbound.key == "wamid.HBgLNTY5ODc2NTQzMjEVAgASGBQ"
    assert inbound.address == "56987654321"
    assert inbound.at == datetime(2025, 12, 6, 5, 46, 40, tzinfo=UTC)
    assert inbound.payload["text"] == {"body": "Hola"} and inbound.payload["contact"] == MARIA
    assert inbound.payload["metadata"]["phone_number_id"] == PHONE_ID
    ev = inbound.event
    assert (ev.channel, ev.kind, ev.text, ev.sender_name) == (
        CHANNEL, EventKind.TEXT, "Hola", "María José")
    assert ev.update_id == ev.message_id == inbound.key
    assert ev.sender_phone == "+56987654321" and ev.sender_id == "56987654321"
    assert Incoming.from_json(ev.to_json()) == ev


def test_a_slash_text_is_a_command() -> None:
    ev = one(body({"contacts": [MARIA], "messages": [
        message("text", {"body": "/Start  K7Q2 "})]}))
    assert (ev.kind, ev.command, ev.args, ev.text) == (
        EventKind.COMMAND, "start", "K7Q2", "/Start  K7Q2 ")


@pytest.mark.parametrize("reply", [
    {"type": "button_reply", "button_reply": {"id": "pk:5:c|AbCdEfGh", "title": "Confirmo"}},
    {"type": "list_reply", "list_reply": {"id": "pk:5:c|AbCdEfGh", "title": "Confirmo",
                                          "description": "el sábado"}},
])
def test_a_button_or_list_reply_is_a_button_event(reply: dict[str, Any]) -> None:
    ev = one(body({"contacts": [MARIA], "messages": [message(
        "interactive", reply, context={"from": "56223456789", "id": "wamid.ours"})]}))
    assert (ev.kind, ev.button, ev.message_ref) == (
        EventKind.BUTTON, "pk:5:c|AbCdEfGh", "wamid.ours")


def test_a_template_quick_reply_is_a_button_event() -> None:
    ev = one(body({"contacts": [MARIA], "messages": [message(
        "button", {"payload": "pk:5:c|AbCdEfGh", "text": "Confirmo"},
        context={"from": "56223456789", "id": "wamid.template"})]}))
    assert (ev.kind, ev.button, ev.message_ref) == (
        EventKind.BUTTON, "pk:5:c|AbCdEfGh", "wamid.template")


def test_a_document_is_a_document_event() -> None:
    ev = one(body({"contacts": [MARIA], "messages": [message("document", {
        "caption": "familias", "filename": "familias.xlsx",
        "mime_type": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "sha256": "x", "id": "1075224587766921"})]}))
    assert ev.kind is EventKind.DOCUMENT and ev.text == "familias"
    assert ev.document is not None and ev.document.file_id == "1075224587766921"
    assert ev.document.filename == "familias.xlsx" and ev.document.size is None


def test_a_shared_contact_card_is_a_contact_not_their_own() -> None:
    ev = one(body({"contacts": [MARIA], "messages": [message("contacts", [
        {"name": {"formatted_name": "Lucía Gómez", "first_name": "Lucía"},
         "phones": [{"phone": "+56 9 1234 5678", "wa_id": "56912345678", "type": "CELL"}]}])]}))
    assert (ev.kind, ev.contact_phone, ev.contact_is_own) == (
        EventKind.CONTACT, "+56 9 1234 5678", False)
    ev = one(body({"contacts": [MARIA], "messages": [message("contacts", [
        {"name": {"formatted_name": "Sin número"}}])]}))
    assert (ev.kind, ev.unsupported) == (EventKind.UNSUPPORTED, "contacts")


@pytest.mark.parametrize("kind", ["audio", "sticker", "location", "video",
                                  "reaction", "unsupported", "order", "hologram"])
def test_what_convoca_cannot_read_is_unsupported(kind: str) -> None:
    ev = one(body({"contacts": [MARIA], "messages": [message(kind, {"id": "1"}, errors=[
        {"code": 131051, "title": "Message type unknown"}])]}))
    assert (ev.kind, ev.unsupported) == (EventKind.UNSUPPORTED, kind)


def test_a_person_with_a_username_only_is_addressed_by_their_bsuid() -> None:
    contact = {"profile": {"name": "Ana", "username": "@ana"}, "user_id": "CL.1502576394655843"}
    msg = message("text", {"body": "Hola"})
    del msg["from"]
    msg["from_user_id"] = "CL.1502576394655843"
    [inbound], _ = parse(body({"contacts": [contact], "messages": [msg]}), PHONE_ID)
    assert inbound.address == "CL.1502576394655843"
    assert inbound.event.sender_phone is None and inbound.event.sender_name == "Ana"
    both = {**MARIA, "user_id": "CL.99"}
    [inbound], _ = parse(body({"contacts": [both], "messages": [
        {**message("text", {"body": "Hola"}), "from_user_id": "CL.99"}]}), PHONE_ID)
    assert inbound.address == "56987654321" and inbound.event.sender_phone == "+56987654321"


def test_a_message_without_contacts_is_still_read() -> None:
    ev = one(body({"messages": [message("text", {"body": "Hola"})]}))
    assert ev.address == "56987654321" and ev.sender_name is None


def test_statuses_with_and_without_their_extras() -> None:
    _, statuses = parse(body({"statuses": [
        {"id": "wamid.A", "status": "sent", "timestamp": "1765000000",
         "recipient_id": "56987654321", "biz_opaque_callback_data": "row:7",
         "conversation": {"id": "c1", "expiration_timestamp": "1765086400",
                          "origin": {"type": "utility"}},
         "pricing": {"billable": True, "pricing_model": "PMP", "category": "utility"}},
        {"id": "wamid.A", "status": "read", "timestamp": "1765000060000",
         "recipient_id": "56987654321"},
        {"id": "wamid.B", "status": "failed", "timestamp": 1765000120,
         "recipient_id": "56987654321",
         "errors": [{"code": 131047, "title": "Re-engagement message",
                     "message": "Re-engagement message",
                     "error_data": {"details": "Message failed to send because more than 24 "
                                               "hours have passed since the customer last "
                                               "replied to this number."}}]},
        {"id": "wamid.C", "status": "delivered", "timestamp": "1765000000",
         "recipient_user_id": "CL.1502576394655843"},
    ]}), PHONE_ID)
    sent_, read, failed, bsuid = statuses
    assert (sent_.wamid, sent_.status, sent_.callback, sent_.errors) == (
        "wamid.A", "sent", "row:7", [])
    assert read.at == datetime(2025, 12, 6, 5, 47, 40, tzinfo=UTC)  # milliseconds
    assert read.callback is None
    assert failed.errors[0]["code"] == 131047 and failed.recipient == "56987654321"
    assert bsuid.recipient == "CL.1502576394655843"


def test_messages_and_statuses_of_another_number_are_left_out() -> None:
    other = body({"contacts": [MARIA], "messages": [message("text", {"body": "Hola"})],
                  "statuses": [{"id": "wamid.A", "status": "sent", "timestamp": "1"}]},
                 phone_number_id="999")
    assert parse(other, PHONE_ID) == ([], [])
    assert len(parse(other)[0]) == 1  # no number given: everything


def test_system_group_and_other_fields_are_not_messages_of_a_person() -> None:
    system = message("system", {"body": "User changed number", "wa_id": "56911111111",
                                "type": "user_changed_number"})
    grouped = {**message("text", {"body": "Hola a todos"}), "group_id": "Y2FwaV9n"}
    b = body({"messages": [system]}, {"contacts": [MARIA], "messages": [grouped]})
    b["entry"][0]["changes"].append({"field": "message_template_status_update", "value": {
        "event": "APPROVED", "message_template_name": "convoca_pickup"}})
    assert parse(b, PHONE_ID) == ([], [])


@pytest.mark.parametrize("junk", [
    {}, [], "x", None, {"entry": "x"}, {"entry": [None, 3, {"changes": None}]},
    {"entry": [{"changes": [{"field": "messages", "value": None}]}]},
    {"entry": [{"changes": [{"field": "messages", "value": {
        "messages": [None, {"type": "text"}, {"id": "w", "type": "text", "text": "oops"},
                     {"id": "w2", "from": "5", "timestamp": "soon", "type": "interactive",
                      "interactive": {"type": ["list_reply"]}}],
        "statuses": [None, {"id": "w"}, {"status": "read"}],
        "contacts": "nobody", "errors": [{"code": 131000}]}}]}]},
])
def test_whatever_meta_sends_is_read_without_crashing(junk: Any) -> None:
    inbound, statuses = parse(junk, PHONE_ID)
    assert all(i.event.kind in EventKind for i in inbound) and statuses == []


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8)
    | st.sampled_from(["messages", "text", "interactive", "button", "document", "contacts",
                       "statuses", "entry", "changes", "value", "id", "from", "type"]),
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.sampled_from(["entry", "changes", "value", "field", "messages",
                                       "statuses", "contacts", "metadata", "id", "from",
                                       "type", "text", "body", "interactive", "button_reply",
                                       "timestamp", "wa_id", "user_id", "phones", "errors"]),
                      inner, max_size=5),
    max_leaves=30)


@settings(max_examples=200, deadline=None)
@given(JSON)
def test_random_bodies_never_crash_the_parser(junk: Any) -> None:
    parse(junk, PHONE_ID)
    parse({"entry": [{"changes": [{"field": "messages", "value": junk}]}]})


def test_timestamps_in_seconds_or_milliseconds() -> None:
    assert timestamp("1765000000") == timestamp(1765000000000) == datetime(
        2025, 12, 6, 5, 46, 40, tzinfo=UTC)
    assert timestamp("nonsense").tzinfo is UTC and timestamp(10 ** 30).tzinfo is UTC


@pytest.mark.skipif(not SPEC.exists(), reason="the Cloud API spec is not at ../shared/specs")
def test_the_specs_own_webhook_examples_read_as_expected() -> None:
    spec = yaml.load(SPEC.read_text(encoding="utf-8"), Loader=yaml.CSafeLoader)
    examples = spec["paths"]["/whatsapp/webhooks"]["post"]["requestBody"]["content"][
        "application/json"]["examples"]
    kinds = {}
    for name, example in examples.items():
        inbound, statuses = parse(example["value"])
        assert statuses == []
        kinds[name] = [(i.event.kind, i.event.button or i.event.unsupported or i.event.text
                        or i.event.contact_phone) for i in inbound]
        for i in inbound:
            assert i.event.sender_phone == f"+{i.address}" and i.at.year >= 2025
    assert kinds["Text Message"] == [(EventKind.TEXT, "Does it come in another color?")]
    assert kinds["Button Message"] == [(EventKind.BUTTON, "Unsubscribe")]
    assert kinds["Interactive List Reply Message"] == [(EventKind.BUTTON, "priority_express")]
    assert kinds["Interactive Button Reply Message"][0][0] is EventKind.BUTTON
    assert kinds["Contact Sharing Message"] == [(EventKind.CONTACT, "+1 (983) 555-2319")]
    assert kinds["Unsupported Message"] == [(EventKind.UNSUPPORTED, "unsupported")]
    # A picture is a photo (a report on an action may carry one); elsewhere the core
    # answers it as it answers what it cannot read.
    assert [k for k, _ in kinds["Image Message"]] == [EventKind.PHOTO]
    assert kinds["System Message"] == [] and kinds["Group Create Message"] == []
