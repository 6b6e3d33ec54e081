"""Tests for the fake Telegram Bot API server (tests/fakes/telegram_api.py)."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from aiogram import Bot, Dispatcher, F, Router
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.filters import CommandStart
from aiogram.types import (
    BufferedInputFile,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    MenuButtonWebApp,
    Message,
    ReplyKeyboardMarkup,
    WebAppInfo,
)

from fakes.telegram_api import (
    DEFAULT_SPEC_PATH,
    SPEC_ENV,
    FakeTelegram,
    UploadedFile,
    load_spec,
    parse_html,
    parse_markdown_v2,
    resolve_spec_path,
    utf16_len,
)

pytestmark = pytest.mark.asyncio

CHAT = 1001
OTHER = 1002


@pytest_asyncio.fixture
async def tg():
    async with FakeTelegram(check_responses=True) as server:
        server.add_chat(CHAT)
        server.add_chat(OTHER, first_name="Luis", language_code="ca")
        yield server
        # The fake's own answers must be spec-valid too.
        assert server.response_errors == []


def make_bot(server: FakeTelegram, timeout: float | None = None) -> Bot:
    kwargs: dict[str, Any] = {} if timeout is None else {"timeout": timeout}
    session = AiohttpSession(api=TelegramAPIServer.from_base(server.base_url), **kwargs)
    return Bot(server.token, session=session)


@pytest_asyncio.fixture
async def bot(tg):
    b = make_bot(tg)
    yield b
    await b.session.close()


@pytest_asyncio.fixture
async def http():
    async with aiohttp.ClientSession() as session:
        yield session


async def call(
    http: aiohttp.ClientSession,
    tg: FakeTelegram,
    method: str,
    params: dict[str, Any] | None = None,
    *,
    body: str = "json",
    token: str | None = None,
) -> tuple[int, dict[str, Any]]:
    """A raw request, bypassing aiogram's client-side checks."""
    url = f"{tg.base_url}/bot{token or tg.token}/{method}"
    params = params or {}
    if body == "json":
        kwargs: dict[str, Any] = {"json": params}
    else:
        flat = {
            k: v if isinstance(v, str) else json.dumps(v) for k, v in params.items()
        }
        if body == "form":
            kwargs = {"data": flat}
        else:
            form = aiohttp.FormData()
            for k, v in flat.items():
                form.add_field(k, v)
            kwargs = {"data": form}
    async with http.post(url, **kwargs) as resp:
        return resp.status, await resp.json()


# ---------------------------------------------------------------------------
# Valid traffic through the real aiogram client
# ---------------------------------------------------------------------------


async def test_valid_send_message_with_inline_keyboard(tg, bot):
    keyboard = InlineKeyboardMarkup(inline_keyboard=[
        [InlineKeyboardButton(text="Sí", callback_data="rsvp:yes"),
         InlineKeyboardButton(text="No", callback_data="rsvp:no")],
        [InlineKeyboardButton(text="Web", url="https://example.org/?a=1&b=2")],
    ])
    text = "<b>Hola</b> Ana &amp; <i>compañía</i> &lt;3"
    msg = await bot.send_message(CHAT, text, parse_mode="HTML", reply_markup=keyboard)

    assert tg.violations == []
    assert msg.message_id == 1
    assert msg.chat.id == CHAT
    assert msg.from_user.is_bot and msg.from_user.username == "convoca_test_bot"
    assert msg.text == "Hola Ana & compañía <3"
    assert [(e.type, e.offset, e.length) for e in msg.entities] == [
        ("bold", 0, 4), ("italic", 11, 8)]
    assert msg.reply_markup.model_dump(exclude_none=True) == keyboard.model_dump(exclude_none=True)

    rec = tg.sent(CHAT)[0]
    assert rec.method == "sendMessage"
    assert rec.params["chat_id"] == CHAT  # form strings are decoded to spec types
    assert rec.params["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "rsvp:yes"
    assert tg.texts(CHAT) == [text]
    assert tg.texts(CHAT, plain=True) == ["Hola Ana & compañía <3"]
    second = await bot.send_message(CHAT, "otra")
    assert second.message_id == 2  # per-chat counter


async def test_reply_keyboard_with_contact_request_and_string_buttons(tg, bot, http):
    markup = ReplyKeyboardMarkup(
        keyboard=[[KeyboardButton(text="Compartir teléfono", request_contact=True)]],
        resize_keyboard=True, one_time_keyboard=True,
    )
    msg = await bot.send_message(CHAT, "¿Tu teléfono?", reply_markup=markup)
    assert msg.reply_markup is None  # Telegram does not echo reply keyboards
    # The spec allows plain strings instead of KeyboardButton objects.
    status, _ = await call(http, tg, "sendMessage", {
        "chat_id": CHAT, "text": "x", "reply_markup": {"keyboard": [["a", "b"]]}})
    assert status == 200
    assert tg.violations == []


async def test_getme_and_setup_calls(tg, bot):
    me = await bot.get_me()
    assert me.username == "convoca_test_bot" and me.id == 123456
    assert await bot.delete_webhook(drop_pending_updates=True) is True
    assert await bot.set_my_commands([{"command": "start", "description": "Empezar"}]) is True
    assert [c.command for c in await bot.get_my_commands()] == ["start"]
    assert await bot.send_chat_action(CHAT, "typing") is True
    assert await bot.set_my_description("Convoca") is True  # generic fallback
    assert tg.violations == []
    assert tg.sent() == []  # none of these is a message


async def test_bodies_json_urlencoded_multipart_and_case_insensitive(tg, http):
    for body in ("json", "form", "multipart"):
        status, data = await call(http, tg, "sendMessage",
                                  {"chat_id": CHAT, "text": f"via {body}",
                                   "disable_notification": True}, body=body)
        assert status == 200, data
        assert data["ok"] and data["result"]["text"] == f"via {body}"
    status, _ = await call(http, tg, "SENDMESSAGE", {"chat_id": CHAT, "text": "upper"})
    assert status == 200
    assert tg.requests[-1].method == "sendMessage"
    assert tg.texts(CHAT) == ["via json", "via form", "via multipart", "upper"]
    assert tg.violations == []


# ---------------------------------------------------------------------------
# Violations
# ---------------------------------------------------------------------------

INLINE_65 = {"inline_keyboard": [[{"text": "x", "callback_data": "a" * 65}]]}
INLINE_65_UTF8 = {"inline_keyboard": [[{"text": "x", "callback_data": "ñ" * 32 + "a"}]]}

VIOLATIONS = [
    ("unknown_param", {"chat_id": CHAT, "text": "hi", "colour": "red"},
     "unknown parameter 'colour'"),
    ("missing_required", {"chat_id": CHAT}, "missing required parameter 'text'"),
    ("wrong_type_bool", {"chat_id": CHAT, "text": "hi", "disable_notification": "yes"},
     "disable_notification: expected Boolean"),
    ("wrong_type_nested", {"chat_id": CHAT, "text": "hi",
                           "reply_parameters": {"message_id": "first"}},
     "reply_parameters.message_id: expected Integer"),
    ("callback_data_65_bytes", {"chat_id": CHAT, "text": "hi", "reply_markup": INLINE_65},
     "callback_data: must be 1-64 bytes, got 65"),
    ("callback_data_65_utf8_bytes", {"chat_id": CHAT, "text": "hi",
                                     "reply_markup": INLINE_65_UTF8},
     "callback_data: must be 1-64 bytes, got 65"),
    ("text_4097", {"chat_id": CHAT, "text": "a" * 4097}, "got 4097"),
    ("text_utf16_4098", {"chat_id": CHAT, "text": "😀" * 2049}, "got 4098"),
    ("only_tags", {"chat_id": CHAT, "text": "<b></b><i> </i>", "parse_mode": "HTML"},
     "got an empty value"),
    ("div_tag", {"chat_id": CHAT, "text": "<div>hola</div>", "parse_mode": "HTML"},
     'Unsupported start tag "div"'),
    ("unclosed_b", {"chat_id": CHAT, "text": "<b>hola", "parse_mode": "HTML"},
     'Can\'t find end tag corresponding to start tag "b"'),
    ("bare_lt", {"chat_id": CHAT, "text": "1 < 2", "parse_mode": "HTML"}, "Unexpected '<'"),
    ("bare_amp", {"chat_id": CHAT, "text": "Tom & Jerry", "parse_mode": "HTML"},
     "Character '&'"),
    ("misnested", {"chat_id": CHAT, "text": "<b><i>x</b></i>", "parse_mode": "HTML"},
     "Unmatched end tag"),
    ("mdv2_unescaped_dot", {"chat_id": CHAT, "text": "Hola.", "parse_mode": "MarkdownV2"},
     "Character '.' is reserved"),
    ("bad_parse_mode", {"chat_id": CHAT, "text": "x", "parse_mode": "BBCode"},
     "unsupported parse_mode"),
    ("button_without_action", {"chat_id": CHAT, "text": "x",
                               "reply_markup": {"inline_keyboard": [[{"text": "x"}]]}},
     "exactly one of url, callback_data"),
    ("button_two_actions", {"chat_id": CHAT, "text": "x", "reply_markup": {
        "inline_keyboard": [[{"text": "x", "url": "https://a.b", "callback_data": "d"}]]}},
     "got url, callback_data"),
    ("unknown_button_field", {"chat_id": CHAT, "text": "x", "reply_markup": {
        "inline_keyboard": [[{"text": "x", "callback_data": "d", "colour": "red"}]]}},
     "unknown field of InlineKeyboardButton 'colour'"),
]


@pytest.mark.parametrize("body", ["json", "multipart"])
@pytest.mark.parametrize(("params", "expected"), [v[1:] for v in VIOLATIONS],
                         ids=[v[0] for v in VIOLATIONS])
async def test_violations_are_recorded_and_rejected(tg, http, body, params, expected):
    status, data = await call(http, tg, "sendMessage", params, body=body)
    assert status == 400
    assert data["ok"] is False and data["error_code"] == 400
    assert data["description"].startswith("Bad Request: ")
    assert len(tg.violations) == 1, tg.violations
    assert expected in tg.violations[0]
    assert tg.requests[-1].outcome == "violation"
    assert tg.sent() == [] and tg.delivered() == []
    with pytest.raises(AssertionError):
        tg.assert_clean()


@pytest.mark.parametrize("text", ["a" * 4096, "😀" * 2048, "<b>" + "a" * 4096 + "</b>",
                                  "&lt;" * 4096])
async def test_text_limit_counts_after_parsing_in_utf16(tg, http, text):
    status, data = await call(http, tg, "sendMessage",
                              {"chat_id": CHAT, "text": text, "parse_mode": "HTML"})
    assert status == 200, data
    assert tg.violations == []


async def test_caption_and_callback_answer_limits(tg, http):
    await call(http, tg, "sendDocument", {"chat_id": CHAT, "document": "doc-id",
                                          "caption": "c" * 1025})
    await call(http, tg, "answerCallbackQuery", {"callback_query_id": "1", "text": "t" * 201})
    assert len(tg.violations) == 2
    assert "caption: must be 0-1024 characters after entities parsing, got 1025" in \
        tg.violations[0]
    assert "text: must be 0-200 characters, got 201" in tg.violations[1]


async def test_unknown_method_and_bad_token(tg, http):
    status, data = await call(http, tg, "sendTelepathy", {"chat_id": CHAT})
    assert status == 404 and data["description"] == "Not Found"
    assert tg.violations == ["sendTelepathy: unknown method (not in Bot API 10.1)"]
    status, data = await call(http, tg, "getMe", token="999:WRONG")
    assert status == 401 and data["description"] == "Unauthorized"


async def test_conditional_requirements_from_descriptions(tg, http):
    status, _ = await call(http, tg, "editMessageText", {"text": "x"})
    assert status == 400
    assert any("'inline_message_id' (required unless chat_id and message_id are given)" in v
               for v in tg.violations)


async def test_union_subtypes_and_discriminators(tg, bot, http):
    assert await bot.set_my_commands(
        [{"command": "start", "description": "Empezar"}],
        scope={"type": "chat", "chat_id": CHAT}, language_code="es",
    )
    assert tg.violations == []
    assert tg.commands({"type": "chat", "chat_id": CHAT}, "es")[0]["command"] == "start"
    await call(http, tg, "setMyCommands", {"commands": [{"command": "a", "description": "b"}],
                                           "scope": {"type": "everyone"}})
    assert tg.violations == ["setMyCommands.scope.type: unknown BotCommandScope type 'everyone'"]


async def test_a_chats_menu_button_opens_a_web_app_at_an_https_address_only(tg, bot, http):
    assert tg.menu_button(CHAT) == {"type": "commands"}
    assert await bot.set_chat_menu_button(chat_id=CHAT, menu_button=MenuButtonWebApp(
        text="Panel", web_app=WebAppInfo(url="https://convoca.example.org/web/telegram")))
    assert tg.violations == []
    assert tg.menu_button(CHAT) == {"type": "web_app", "text": "Panel", "web_app": {
        "url": "https://convoca.example.org/web/telegram"}}
    assert (await bot.get_chat_menu_button(chat_id=CHAT)).type == "web_app"
    assert tg.menu_button(CHAT + 1) == {"type": "commands"}  # set for that chat alone
    with pytest.raises(TelegramBadRequest, match="HTTPS"):
        await bot.set_chat_menu_button(chat_id=CHAT, menu_button=MenuButtonWebApp(
            text="Panel", web_app=WebAppInfo(url="http://127.0.0.1:8080/web/telegram")))
    assert tg.violations == []  # Telegram's refusal, not a request outside the spec
    status, _ = await call(http, tg, "setChatMenuButton", {
        "chat_id": CHAT, "menu_button": {"type": "web_app", "text": "Panel"}})
    assert status == 400 and any("web_app" in v for v in tg.violations)
    tg.violations.clear()
    assert await bot.set_chat_menu_button(chat_id=CHAT, menu_button={"type": "default"})
    assert tg.menu_button(CHAT) == {"type": "commands"}


async def test_chat_not_found_is_behaviour_not_violation(tg, bot):
    with pytest.raises(TelegramBadRequest, match="chat not found"):
        await bot.send_message(424242, "¿hola?")
    assert tg.violations == []
    assert tg.requests[-1].outcome == "400"
    tg.add_chat(424242)
    await bot.send_message(424242, "ahora sí")
    assert tg.texts(424242) == ["ahora sí"]


# ---------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------


async def test_multipart_send_document_recorded_with_filename(tg, bot):
    payload = b"%PDF-1.4 fake report"
    msg = await bot.send_document(
        CHAT, BufferedInputFile(payload, filename="informe.pdf"), caption="<b>Informe</b>",
        parse_mode="HTML",
    )
    assert tg.violations == []
    rec = tg.sent(CHAT)[0]
    assert rec.method == "sendDocument"
    doc = rec.params["document"]
    assert isinstance(doc, UploadedFile)
    assert doc.filename == "informe.pdf" and doc.data == payload
    assert msg.document.file_name == "informe.pdf"
    assert msg.document.file_size == len(payload)
    assert msg.caption == "Informe" and msg.caption_entities[0].type == "bold"
    assert tg.texts(CHAT) == ["<b>Informe</b>"]
    # Re-sending by file_id and downloading the bot's own upload both work.
    again = await bot.send_document(OTHER, msg.document.file_id)
    assert again.document.file_id == msg.document.file_id
    downloaded = await bot.download(msg.document.file_id)
    assert downloaded.read() == payload


async def test_unreferenced_file_part_is_a_violation(tg, http):
    form = aiohttp.FormData()
    form.add_field("chat_id", str(CHAT))
    form.add_field("document", "attach://f1")
    form.add_field("f1", b"abc", filename="a.txt")
    form.add_field("stray", b"zzz", filename="b.txt")
    async with http.post(f"{tg.base_url}/bot{tg.token}/sendDocument", data=form) as resp:
        assert resp.status == 400
    assert tg.violations == ["sendDocument: unknown parameter 'stray' (unreferenced file part)"]
    form = aiohttp.FormData()
    form.add_field("chat_id", str(CHAT))
    form.add_field("document", "attach://missing")
    async with http.post(f"{tg.base_url}/bot{tg.token}/sendDocument", data=form) as resp:
        assert resp.status == 400
    assert "refers to no file part" in tg.violations[-1]


# ---------------------------------------------------------------------------
# Updates and long polling with aiogram's Dispatcher
# ---------------------------------------------------------------------------


async def test_update_helpers_build_spec_valid_updates():
    server = FakeTelegram()
    spec = server.spec
    updates = [
        server.message(CHAT, "hola"),
        server.command(CHAT, "/start", payload="evento_42"),
        server.callback(CHAT, "rsvp:yes"),
        server.contact(CHAT, "+34600111222"),
        server.document(CHAT, "lista.csv", b"a,b\n1,2\n", "text/csv"),
        server.sticker(CHAT),
        server.photo(CHAT, caption="foto"),
        server.voice(CHAT),
        server.contact(OTHER, "+34600333444", user_id=77),
    ]
    for update in updates:
        assert spec.validate_object("Update", update) == []
        body = next(v for k, v in update.items() if k != "update_id")
        sender = body["from"]
        assert sender["id"] == CHAT or update is updates[-1]
    assert [u["update_id"] for u in updates] == list(range(1, len(updates) + 1))
    start = updates[1]["message"]
    assert start["text"] == "/start evento_42"
    assert start["entities"] == [{"type": "bot_command", "offset": 0, "length": 6}]
    assert updates[3]["message"]["contact"]["user_id"] == CHAT
    assert updates[-1]["message"]["contact"]["user_id"] == 77
    assert updates[0]["message"]["from"]["language_code"] == "es"
    assert server.pending_updates == len(updates)
    with pytest.raises(ValueError, match="invalid Update"):
        server.push_update({"message": {"message_id": 1, "chat": {"id": 1}}})


async def test_a_long_poll_is_known_to_have_arrived_before_it_is_answered(tg, http):
    before = time.monotonic()
    poll = asyncio.create_task(call(http, tg, "getUpdates", {"timeout": 5}))
    arrived = await tg.wait_for_poll(after=before, timeout=2)
    assert before < arrived <= time.monotonic()
    assert not poll.done() and tg.calls("getUpdates") == []  # held, not yet recorded
    with pytest.raises(TimeoutError):
        await tg.wait_for_poll(after=arrived, timeout=0.05)
    tg.message(CHAT, "uno")
    status, data = await asyncio.wait_for(poll, 2)
    assert status == 200 and [u["message"]["text"] for u in data["result"]] == ["uno"]
    assert [r.at for r in tg.calls("getUpdates")] == [arrived]


async def test_get_updates_long_polling_offset_and_limit(tg, http):
    started = time.monotonic()
    status, data = await call(http, tg, "getUpdates", {"timeout": 0})
    assert status == 200 and data["result"] == []
    poll = asyncio.create_task(call(http, tg, "getUpdates", {"timeout": 5}))
    await asyncio.sleep(0.1)
    assert not poll.done()
    tg.message(CHAT, "uno")
    status, data = await asyncio.wait_for(poll, 2)
    assert [u["message"]["text"] for u in data["result"]] == ["uno"]
    assert time.monotonic() - started < 2
    for text in ("dos", "tres", "cuatro"):
        tg.message(CHAT, text)
    last = data["result"][-1]["update_id"]
    _, data = await call(http, tg, "getUpdates", {"offset": last + 1, "limit": 2})
    assert [u["message"]["text"] for u in data["result"]] == ["dos", "tres"]
    _, data = await call(http, tg, "getUpdates", {"offset": data["result"][-1]["update_id"] + 1})
    assert [u["message"]["text"] for u in data["result"]] == ["cuatro"]
    assert tg.pending_updates == 1  # confirmed only by the next offset
    _, data = await call(http, tg, "getUpdates", {"offset": data["result"][-1]["update_id"] + 1,
                                                  "timeout": 0})
    assert data["result"] == [] and tg.pending_updates == 0
    # allowed_updates filters (and is remembered) like Telegram.
    tg.callback(CHAT, "x")
    tg.message(CHAT, "cinco")
    _, data = await call(http, tg, "getUpdates", {"allowed_updates": ["message"]})
    assert [list(u)[1] for u in data["result"]] == ["message"]
    assert tg.violations == []


async def test_dispatcher_polling_roundtrip(tg, bot):
    router = Router()

    @router.message(CommandStart())
    async def start(message: Message) -> None:
        keyboard = InlineKeyboardMarkup(inline_keyboard=[[
            InlineKeyboardButton(text="Voy", callback_data="rsvp:yes")]])
        await message.answer(f"¡Hola, <b>{message.from_user.first_name}</b>!",
                             parse_mode="HTML", reply_markup=keyboard)

    @router.callback_query(F.data == "rsvp:yes")
    async def rsvp(query: CallbackQuery) -> None:
        await query.answer("¡Apuntada!")
        await query.message.edit_text("Apuntada ✅")

    @router.message(F.document)
    async def document(message: Message) -> None:
        data = await message.bot.download(message.document)
        await message.answer(f"{message.document.file_name}: {len(data.read())} bytes")

    @router.message(F.contact)
    async def contact(message: Message) -> None:
        await message.answer(f"Gracias, {message.contact.phone_number}")

    @router.message(F.text)
    async def echo(message: Message) -> None:
        await message.answer(message.text)

    dp = Dispatcher()
    dp.include_router(router)
    polling = asyncio.create_task(
        dp.start_polling(bot, handle_signals=False, close_bot_session=False, polling_timeout=1))
    try:
        tg.command(CHAT, "/start")
        assert await tg.wait_for_sent(CHAT, 1) == ["¡Hola, <b>Ana</b>!"]
        tg.message(OTHER, "eco")
        assert await tg.wait_for_sent(OTHER, 1) == ["eco"]

        tg.callback(CHAT, "rsvp:yes")
        edit = await tg.wait_for(lambda r: r.method == "editMessageText" and r.ok)
        assert edit.params["message_id"] == tg.sent(CHAT)[0].result["message_id"]
        answer = tg.calls("answerCallbackQuery")[0]
        assert answer.ok and answer.params["text"] == "¡Apuntada!"
        assert [m["text"] for m in tg.bot_messages(CHAT)] == ["Apuntada ✅"]
        assert "reply_markup" not in tg.bot_messages(CHAT)[0]  # edit without markup drops it

        tg.document(CHAT, "lista.csv", b"nombre\nAna\n", "text/csv")
        assert (await tg.wait_for_sent(CHAT, 2))[-1] == "lista.csv: 11 bytes"
        tg.contact(CHAT, "+34600111222")
        assert (await tg.wait_for_sent(CHAT, 3))[-1] == "Gracias, +34600111222"
    finally:
        await dp.stop_polling()
        await asyncio.wait_for(polling, 5)
    assert tg.violations == []
    get_updates = tg.calls("getUpdates")[0]
    assert get_updates.params["timeout"] == 1
    assert "callback_query" in get_updates.params["allowed_updates"]


async def test_edit_delete_and_callback_behaviour(tg, bot):
    msg = await bot.send_message(CHAT, "uno")
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_text(text="uno", chat_id=CHAT, message_id=msg.message_id)
    edited = await bot.edit_message_text(text="dos", chat_id=CHAT, message_id=msg.message_id)
    assert edited.text == "dos" and edited.edit_date
    with pytest.raises(TelegramBadRequest, match="message to edit not found"):
        await bot.edit_message_text(text="x", chat_id=CHAT, message_id=999)
    assert await bot.delete_message(CHAT, msg.message_id)
    with pytest.raises(TelegramBadRequest, match="message to delete not found"):
        await bot.delete_message(CHAT, msg.message_id)
    with pytest.raises(TelegramBadRequest, match="query ID is invalid"):
        await bot.answer_callback_query("nope")
    assert tg.violations == []


# ---------------------------------------------------------------------------
# Fault injection and rate limiting
# ---------------------------------------------------------------------------


async def test_inject_429(tg, bot):
    tg.inject("429", retry_after=7)
    with pytest.raises(TelegramRetryAfter) as exc:
        await bot.send_message(CHAT, "uno")
    assert exc.value.retry_after == 7
    assert "retry after 7" in exc.value.message
    await bot.send_message(CHAT, "dos")
    assert tg.texts(CHAT) == ["dos"]
    assert [r.outcome for r in tg.requests] == ["429", "ok"]
    assert tg.stats["429"] == 1


async def test_inject_403_and_block(tg, bot):
    tg.inject("403")
    with pytest.raises(TelegramForbiddenError, match="bot was blocked by the user"):
        await bot.send_message(CHAT, "uno")
    await bot.send_message(CHAT, "dos")
    tg.block(OTHER)
    for _ in range(3):
        with pytest.raises(TelegramForbiddenError):
            await bot.send_message(OTHER, "hola")
    with pytest.raises(TelegramForbiddenError):
        await bot.send_document(OTHER, BufferedInputFile(b"x", filename="x.txt"))
    assert tg.delivered(OTHER) == []
    assert tg.texts(CHAT) == ["dos"]
    assert len(tg.requests) == 6 and tg.stats["403"] == 5


async def test_inject_5xx(tg, bot):
    tg.inject("5xx", times=2)
    for _ in range(2):
        with pytest.raises((TelegramServerError, TelegramNetworkError), match="Bad Gateway"):
            await bot.send_message(CHAT, "uno")
    await bot.send_message(CHAT, "uno")
    assert tg.stats["5xx"] == 2 and len(tg.sent(CHAT)) == 1


async def test_inject_only_matches_method_and_chat(tg, bot):
    tg.inject("5xx", chat_id=OTHER)
    tg.inject("429", method="sendDocument")
    await bot.send_message(CHAT, "a")
    with pytest.raises(TelegramServerError):
        await bot.send_message(OTHER, "b")
    await bot.send_message(CHAT, "c")
    with pytest.raises(TelegramRetryAfter):
        await bot.send_document(CHAT, "file-id")
    assert tg.texts(CHAT) == ["a", "c"]


async def test_inject_timeout_client_gives_up(tg):
    tg.timeout_hold = 2.0
    tg.inject("timeout")
    bot = make_bot(tg, timeout=0.3)
    try:
        started = time.monotonic()
        with pytest.raises(TelegramNetworkError):
            await bot.send_message(CHAT, "uno")
        assert time.monotonic() - started < 1.5
        await bot.send_message(CHAT, "dos")
    finally:
        await bot.session.close()
    assert tg.requests[0].outcome == "timeout"
    assert tg.texts(CHAT) == ["dos"]
    assert tg.stats["timeout"] == 1


async def test_inject_timeout_server_drops_connection(tg):
    tg.timeout_hold = 0.2
    tg.inject("timeout")
    bot = make_bot(tg, timeout=5)
    try:
        started = time.monotonic()
        with pytest.raises(TelegramNetworkError):
            await bot.send_message(CHAT, "uno")
        assert 0.2 <= time.monotonic() - started < 3
    finally:
        await bot.session.close()
    assert tg.delivered() == []


async def test_fault_rate_is_random_but_seeded(tg, http):
    async def run(seed: int) -> list[int]:
        tg.fault_rate(0.5, kinds=("5xx", "429"), seed=seed)
        statuses = []
        for i in range(40):
            status, _ = await call(http, tg, "sendMessage", {"chat_id": CHAT, "text": str(i)})
            statuses.append(status)
        return statuses

    first = await run(3)
    assert await run(3) == first
    assert {200, 502, 429} == set(first)
    tg.fault_rate(0)
    status, _ = await call(http, tg, "getMe")
    assert status == 200
    assert len(tg.delivered()) == 2 * first.count(200)


async def test_rate_limit_answers_429_beyond_limit():
    async with FakeTelegram(rate_limit_per_second=5) as tg, aiohttp.ClientSession() as http:
        tg.add_chat(CHAT)
        results = await asyncio.gather(*[
            call(http, tg, "sendMessage", {"chat_id": CHAT, "text": str(i)}) for i in range(8)
        ])
        statuses = sorted(status for status, _ in results)
        assert statuses == [200] * 5 + [429] * 3
        limited = [data for status, data in results if status == 429]
        assert all(d["parameters"]["retry_after"] >= 1 for d in limited)
        assert all(d["description"].startswith("Too Many Requests: retry after") for d in limited)
        assert tg.stats["429"] == 3 and len(tg.delivered()) == 5
        # Non-send methods are not limited.
        status, _ = await call(http, tg, "getMe")
        assert status == 200
        await asyncio.sleep(1.05)
        status, _ = await call(http, tg, "sendMessage", {"chat_id": CHAT, "text": "again"})
        assert status == 200


async def test_wait_for_times_out(tg):
    with pytest.raises(TimeoutError):
        await tg.wait_for(lambda r: r.method == "sendMessage", timeout=0.1)


# ---------------------------------------------------------------------------
# Spec and parsers (pure functions)
# ---------------------------------------------------------------------------


async def test_spec_path_resolution(monkeypatch, tmp_path):
    assert DEFAULT_SPEC_PATH.parts[-3:] == ("shared", "specs", "telegram-bot-api.json")
    monkeypatch.delenv(SPEC_ENV, raising=False)
    assert resolve_spec_path() == DEFAULT_SPEC_PATH
    raw = json.loads(DEFAULT_SPEC_PATH.read_text())
    del raw["methods"]["sendDice"]
    custom = tmp_path / "spec.json"
    custom.write_text(json.dumps(raw))
    monkeypatch.setenv(SPEC_ENV, str(custom))
    assert resolve_spec_path() == custom
    assert FakeTelegram().spec.method("sendDice") is None
    assert load_spec().method("sendMessage") is not None
    assert load_spec(DEFAULT_SPEC_PATH).method("sendDice") is not None


async def test_html_parser_entities_and_utf16_offsets():
    plain, entities = parse_html(
        '😀 <a href="https://x.org/?a=1&amp;b=2">link</a> '
        '<pre><code class="language-python">x = 1</code></pre>'
        ' <span class="tg-spoiler">s</span> &#x27;q&#39;'
    )
    assert plain == "😀 link x = 1 s 'q'"
    assert entities == [
        {"type": "text_link", "url": "https://x.org/?a=1&b=2", "offset": 3, "length": 4},
        {"type": "pre", "language": "python", "offset": 8, "length": 5},
        {"type": "spoiler", "offset": 14, "length": 1},
    ]
    assert utf16_len("😀a") == 3


async def test_markdown_v2_parser():
    plain, entities = parse_markdown_v2("*Hola* _mundo_\\! [web](https://a.b/c\\)d)")
    assert plain == "Hola mundo! web"
    assert [e["type"] for e in entities] == ["bold", "italic", "text_link"]
    assert entities[2]["url"] == "https://a.b/c)d"


# ---------------------------------------------------------------------------
# Generic sends, knobs and Telegram behaviours
# ---------------------------------------------------------------------------


async def test_generic_sends_return_spec_valid_messages(tg, bot):
    # The tg fixture runs with check_responses=True: every result is validated too.
    from aiogram.types import (
        InputMediaDocument,
        InputMediaPhoto,
        InputMediaVideo,
        InputPollOption,
    )

    photo = await bot.send_photo(CHAT, BufferedInputFile(b"\xff\xd8jpeg", filename="a.jpg"),
                                 caption="Foto")
    assert photo.photo[-1].file_id and photo.caption == "Foto"
    group = await bot.send_media_group(CHAT, [
        InputMediaPhoto(media=BufferedInputFile(b"1", filename="1.jpg")),
        InputMediaVideo(media=BufferedInputFile(b"2", filename="2.mp4"), caption="dos"),
    ])
    assert len(group) == 2
    media = tg.sent(CHAT)[-1].params["media"]
    assert [m["media"].filename for m in media] == ["1.jpg", "2.mp4"]  # attach:// resolved
    with pytest.raises(TelegramBadRequest, match="only be grouped with items of the same type"):
        await bot.send_media_group(CHAT, [InputMediaPhoto(media="photo-id"),
                                          InputMediaDocument(media="doc-id")])
    assert len(tg.violations) == 1
    tg.violations.clear()
    loc = await bot.send_location(CHAT, latitude=41.39, longitude=2.17)
    assert (loc.location.latitude, loc.location.longitude) == (41.39, 2.17)
    contact = await bot.send_contact(CHAT, phone_number="+34600111222", first_name="Ana")
    assert contact.contact.phone_number == "+34600111222"
    poll = await bot.send_poll(CHAT, "¿Vienes?", [InputPollOption(text="Sí"),
                                                 InputPollOption(text="No")])
    assert poll.poll.question == "¿Vienes?"
    copied = await bot.copy_message(OTHER, CHAT, photo.message_id)
    forwarded = await bot.forward_message(OTHER, CHAT, contact.message_id)
    assert copied.message_id == 1 and forwarded.contact.first_name == "Ana"
    assert tg.violations == []
    assert len(tg.delivered()) == 7


async def test_violation_record_keeps_unknown_params(tg, http):
    await call(http, tg, "sendMessage", {"chat_id": CHAT, "text": "hi", "colour": "red"})
    rec = tg.requests[-1]
    assert rec.params == {"chat_id": CHAT, "text": "hi", "colour": "red"}
    assert rec.chat_id == CHAT and not rec.ok


async def test_lenient_html_mode_matches_telegram():
    async with FakeTelegram(strict_html=False) as tg, aiohttp.ClientSession() as http:
        tg.add_chat(CHAT)
        status, data = await call(http, tg, "sendMessage", {
            "chat_id": CHAT, "text": "<b>A & B -></b>", "parse_mode": "HTML"})
        assert status == 200 and data["result"]["text"] == "A & B ->"
        status, _ = await call(http, tg, "sendMessage", {
            "chat_id": CHAT, "text": "<div>x</div>", "parse_mode": "HTML"})
        assert status == 400


async def test_per_chat_rate_limit():
    async with FakeTelegram(per_chat_limit_per_second=1) as tg, aiohttp.ClientSession() as http:
        tg.add_chat(CHAT)
        tg.add_chat(OTHER)
        statuses = [
            (await call(http, tg, "sendMessage", {"chat_id": chat, "text": "x"}))[0]
            for chat in (CHAT, CHAT, OTHER)
        ]
        assert statuses == [200, 429, 200]
        assert tg.stats["429"] == 1


async def test_pushed_updates_make_chats_known(tg, bot):
    tg.push_update({"message": {
        "message_id": 1, "date": 1, "text": "hola",
        "chat": {"id": 5555, "type": "private", "first_name": "Eva"},
        "from": {"id": 5555, "is_bot": False, "first_name": "Eva", "language_code": "eu"},
    }})
    await bot.send_message(5555, "kaixo")
    assert tg.texts(5555) == ["kaixo"]


async def test_competing_get_updates_gets_409(tg, http):
    first = asyncio.create_task(call(http, tg, "getUpdates", {"timeout": 5}))
    await asyncio.sleep(0.1)
    second = asyncio.create_task(call(http, tg, "getUpdates", {"timeout": 5}))
    status, data = await asyncio.wait_for(first, 2)
    assert status == 409 and data["description"].startswith("Conflict: terminated by other")
    tg.message(CHAT, "hola")
    status, data = await asyncio.wait_for(second, 2)
    assert status == 200 and data["result"][0]["message"]["text"] == "hola"
    assert tg.violations == []


# ---------------------------------------------------------------------------
# No raw message key reaches a person
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "params"), [
    ("sendMessage", {"text": "start.consent"}),
    ("sendMessage", {"text": "Hola\nnotice.milestone_soon.plural"}),
    ("sendMessage", {"text": "ok", "reply_markup": {"inline_keyboard": [[
        {"text": "meeting.btn_yes", "callback_data": "x"}]]}}),
    ("sendMessage", {"text": "ok", "reply_markup": {"keyboard": [[
        {"text": "(form.skip)"}]], "resize_keyboard": True}}),
    ("setMyCommands", {"commands": [{"command": "ayuda", "description": "help.intro"}]}),
])
async def test_a_raw_catalog_key_in_what_a_person_reads_is_a_violation(http, method, params):
    async with FakeTelegram() as tg:
        tg.add_chat(CHAT)
        status, _ = await call(http, tg, method, {"chat_id": CHAT, **params}
                               if method != "setMyCommands" else params)
        assert status == 200
        assert len(tg.violations) == 1 and "raw message key" in tg.violations[0]
        with pytest.raises(AssertionError, match="raw message key"):
            tg.assert_clean()


async def test_a_raw_key_in_a_document_name_is_a_violation(http):
    async with FakeTelegram() as tg:
        tg.add_chat(CHAT)
        form = aiohttp.FormData()
        form.add_field("chat_id", str(CHAT))
        form.add_field("document", b"%PDF-1.4", filename="exports.attendance.title.pdf")
        async with http.post(f"{tg.base_url}/bot{tg.token}/sendDocument", data=form) as resp:
            assert resp.status == 200
        assert any("raw message key" in v for v in tg.violations)


async def test_ordinary_text_and_machine_fields_are_not_flagged(http):
    async with FakeTelegram() as tg:
        tg.add_chat(CHAT)
        status, _ = await call(http, tg, "sendMessage", {
            "chat_id": CHAT,
            "text": "Escribe /start para empezar. Más en t.me/convoca_test_bot o form.nope",
            "reply_markup": {"inline_keyboard": [[
                {"text": "Sí", "callback_data": "start.consent"}]]}})
        assert status == 200 and tg.violations == []


async def test_the_check_can_be_given_its_own_keys_or_turned_off(http):
    async with FakeTelegram(message_keys={"greet.hello"}) as tg:
        tg.add_chat(CHAT)
        await call(http, tg, "sendMessage", {"chat_id": CHAT, "text": "greet.hello"})
        await call(http, tg, "sendMessage", {"chat_id": CHAT, "text": "start.consent"})
        assert len(tg.violations) == 1
    async with FakeTelegram(message_keys=()) as tg:
        tg.add_chat(CHAT)
        await call(http, tg, "sendMessage", {"chat_id": CHAT, "text": "start.consent"})
        assert tg.violations == []


async def test_a_raw_key_inside_a_sent_document_is_a_violation(http):
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", size=12)
    pdf.cell(text="Presentes: exports.attendance.summary")
    async with FakeTelegram() as tg:
        tg.add_chat(CHAT)
        form = aiohttp.FormData()
        form.add_field("chat_id", str(CHAT))
        form.add_field("document", bytes(pdf.output()), filename="asistencia.pdf")
        async with http.post(f"{tg.base_url}/bot{tg.token}/sendDocument", data=form) as resp:
            assert resp.status == 200
        assert any("exports.attendance.summary" in v for v in tg.violations), tg.violations
