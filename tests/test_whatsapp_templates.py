"""WhatsApp message templates (locales/whatsapp_templates.yaml, bot/whatsapp/templates.py):
the shipped file is one Meta would take, every notice Convoca sends outside a conversation has
one, real notices fill them with flat parameters, `convoca whatsapp templates ...` pushes,
syncs and lists them, and the word the footer promises ("BASTA", "STOP") stops the notices."""

from __future__ import annotations

import ast
import copy
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from cli_harness import parse
from core_harness import CoreHarness
from leaks import leaked_keys
from sqlalchemy import select
from test_pickups import START, ZONE, seed

from bot import cli, cli_whatsapp
from bot.app import build_app
from bot.whatsapp import templates
from handlers.buttons import ButtonCodec
from handlers.typed_buttons import plain
from locales import Catalogs, Msg
from scheduler.planner import Notice
from services import notices
from services import outbox as outbox_kinds
from services.meetings import card, invitation
from services.messages import Outgoing
from services.outreach import broadcast_message
from services.pickups import pickup_notice
from storage import people
from storage.models import (
    DeliveryDay,
    Family,
    Meeting,
    MeetingStatus,
    Milestone,
    Person,
    Pickup,
    PickupMode,
    PickupStatus,
    Rsvp,
    RsvpAnswer,
)

# What each kind of outbox message (services.outbox.KINDS) says, by the keys of its text:
# each of these may find its reader outside WhatsApp's 24-hour window, so each key needs a
# template. A new kind fails test_every_kind_is_accounted_for until it is listed here (with
# its keys, and templates for them) or in IN_CONVERSATION (with why it needs none).
NOTICE_KEYS = {
    "pickup_notice": {"pickup.notice", "pickup.notice_home", "pickup.moved_notice",
                      "pickup.moved_notice_home"},
    "pickup_dates": {"notice.pickup_dates"},
    "pickup_evening": {"notice.pickup_evening", "notice.pickup_evening_home"},
    "pickup_morning": {"notice.pickup_morning", "notice.pickup_morning_home"},
    "pickup_missed": {"notice.pickup_missed"},
    "pickup_cancelled": {"adm_delivery.cancel_notice", "adm_delivery.cancel_notice_home"},
    "pickup_team": {"pickup.team_moved"},
    "invitation": {"meeting.invite", "adm_meet.moved_notice"},
    "meeting_reminder": {"notice.meeting_reminder"},
    "meeting_reask": {"notice.meeting_reask"},
    "meeting_cancelled": {"adm_meet.cancel_notice", "adm_meet.cancel_notice_reason"},
    "milestone_soon": {"notice.milestone_soon", "notice.milestone_today"},
    "milestone_overdue": {"notice.milestone_overdue"},
    "weekly_digest": {"notice.digest"},
    "action_due": {"actas.notice_due_one", "actas.notice_due_many"},
    "action_overdue": {"actas.notice_overdue"},
    "form_request": {"commit.ask_commitment", "commit.ask_declaration"},
    "body_nudge": {"notice.nudge_monthly", "notice.nudge_bimonthly"},
    "broadcast": {"outreach.broadcast"},
    "family_link": {"link.family_released", "link.family_moved"},
    "form_notice": {"fichas.notice", "fichas.notice_unlinked", "anyform.notice",
                    "anyform.notice_unlinked", "form.cosigned_notice"},
}
IN_CONVERSATION = {
    "reply": "the answer to what the person just wrote: inside the window by definition",
    # The gestora follows a broadcast she has just sent from the chat; the final report
    # reaching her later outside the window waits until she writes (Waiting), by design.
    "broadcast_progress": "the gestora's live count of the broadcast she just sent",
}

NOW = datetime(2026, 3, 2, 12, tzinfo=UTC)
CODEC = ButtonCodec(b"k" * 32, 200)


@pytest.fixture(scope="module")
def catalogs() -> Catalogs:
    return Catalogs()


@pytest.fixture(scope="module")
def specs(catalogs: Catalogs) -> list[templates.TemplateSpec]:
    return templates.load(catalogs=catalogs)


def shipped() -> list[dict[str, Any]]:
    return yaml.safe_load(templates.PATH.read_text(encoding="utf-8"))


# --- the file ----------------------------------------------------------------------------------


def test_the_shipped_templates_validate(specs: list[templates.TemplateSpec],
                                        catalogs: Catalogs) -> None:
    from handlers.core import said_words

    stop = said_words(catalogs, "privacy.stop_words")
    assert specs
    assert len({s.name for s in specs}) == len(specs)
    for spec in specs:
        assert spec.category == "UTILITY"
        assert set(spec.languages) == {"es", "en"}
        for loc, wording in spec.languages.items():
            assert wording.footer and len(wording.footer) <= 60
            # The word the footer tells people to reply is one the stop command takes.
            assert stop & set(plain(wording.footer).split()), (spec.name, loc)
            assert len(templates.submission(spec, loc)["components"][0]["text"]) <= 1024


def test_the_templates_file_is_packaged() -> None:
    text = (Path(__file__).parent.parent / "pyproject.toml").read_text(encoding="utf-8")
    assert '"locales" = ["whatsapp_templates.yaml"]' in text


def test_every_kind_is_accounted_for() -> None:
    kinds = set(outbox_kinds.KINDS)
    assert kinds == set(NOTICE_KEYS) | set(IN_CONVERSATION), (
        "a kind of message without templates: list it in NOTICE_KEYS (and give its keys "
        f"templates) or in IN_CONVERSATION: {sorted(kinds ^ (set(NOTICE_KEYS) | set(IN_CONVERSATION)))}")
    # Every notice the scheduler composes is one of them.
    assert set(notices.BUILDERS) <= set(NOTICE_KEYS)


def queued_kinds() -> set[str]:
    """The kinds the code queues messages as (``kind=`` of outbox.enqueue_for_person, a
    literal or a module's constant), read from the source: a kind queued without being in
    services.outbox.KINDS is found too."""
    found: set[str] = set()
    root = Path(__file__).resolve().parent.parent
    for package in ("services", "handlers", "scheduler", "bot"):
        for path in (root / package).rglob("*.py"):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            constants = {t.id: n.value.value for n in tree.body if isinstance(n, ast.Assign)
                         for t in n.targets if isinstance(t, ast.Name)
                         and isinstance(n.value, ast.Constant) and isinstance(n.value.value, str)}
            for call in ast.walk(tree):
                if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)
                        and call.func.attr == "enqueue_for_person"):
                    continue
                for kw in call.keywords:
                    if kw.arg == "kind" and isinstance(kw.value, ast.Constant):
                        found.add(kw.value.value)
                    elif kw.arg == "kind" and isinstance(kw.value, ast.Name):
                        found.add(constants.get(kw.value.id, kw.value.id))
    return found


def test_every_kind_the_code_queues_is_accounted_for() -> None:
    kinds = queued_kinds()
    assert {"pickup_notice", "broadcast", "invitation", "family_link"} <= kinds  # it reads
    assert kinds <= set(NOTICE_KEYS) | set(IN_CONVERSATION)


def test_every_notice_key_has_a_template(specs: list[templates.TemplateSpec]) -> None:
    carried = {s.key for s in specs}
    wanted = set().union(*NOTICE_KEYS.values())
    assert wanted - carried == set()
    assert carried - wanted == set(), "a template for a key no notice sends"


def test_the_footers_stop_word_stops_on_every_language(catalogs: Catalogs) -> None:
    from handlers.core import said_words

    assert {"basta", "stop"} <= said_words(catalogs, "privacy.stop_words")


# --- broken files name what is wrong ---------------------------------------------------------


def problems_of(data: Any, catalogs: Catalogs) -> list[str]:
    with pytest.raises(templates.TemplateError) as caught:
        templates.parse(data, catalogs)
    return caught.value.problems


def test_a_broken_template_names_the_template_and_the_field(catalogs: Catalogs) -> None:
    data = shipped()
    first = data[0]
    es = first["languages"]["es"]
    es["body"] = es["body"].replace("{{2}}", "{{4}}")
    es["footer"] = "x" * 61
    es["buttons"][0]["text"] = "Confirmo mi asistencia ya"
    es["buttons"][1]["text"] = es["buttons"][2]["text"]
    first["languages"]["en"]["example"] = ["only one"]
    data[1]["name"] = "Convoca Notice"
    data[2]["key"] = "pickup.no_such_key"
    data[3]["params"] = ["family", "window", "nowhere"]
    data[4]["name"] = data[5]["name"]
    problems = problems_of(data, catalogs)
    text = "\n".join(problems)
    assert "convoca_pickup_notice (es): body: variables must be {{1}}..{{n}}" in text
    assert "convoca_pickup_notice (es): footer: 61 characters, at most 60" in text
    assert "convoca_pickup_notice (es): buttons[1].text: 'Confirmo mi asistencia ya'" in text
    assert "convoca_pickup_notice (es): buttons: texts must be unique" in text
    assert "convoca_pickup_notice (en): example: 1 values for 3 parameters" in text
    assert "Convoca Notice: name: expected lowercase letters" in text
    assert "convoca_pickup_moved: key: 'pickup.no_such_key' is not in the es catalog" in text
    assert "convoca_pickup_moved_home: params: 'nowhere' is not a parameter" in text
    assert f"{data[5]['name']}: name: {data[5]['name']!r} in 'es' is defined twice" in text


@pytest.mark.parametrize(("body", "why"), [
    ("{{1}} es tu retiro, en {{2}}, ¿puedes venir?", "must not start with a variable"),
    ("Tu retiro de canasta es el {{1}}, en {{2}}", "must not end with a variable"),
    ("Retiro: {{1}} {{2}}. Te esperamos.", "side by side"),
    ("Ven {{1}}, {{2}}.", "too many variables for its length"),
    ("Tu retiro es el {{1}}, en {{2}} y {{3}}. Te esperamos.", "3 variables for 2 params"),
    ("Tu retiro es el {{2}}, en {{1}}. Te esperamos.", "each once and in order"),
    ("Tu retiro es el {{window}}, en {{2}}. Te esperamos.", "variables are"),
])
def test_bodies_meta_would_reject_are_refused(catalogs: Catalogs, body: str, why: str) -> None:
    data = [copy.deepcopy(shipped()[4])]  # convoca_pickup_evening: window, place
    data[0]["languages"]["es"]["body"] = body
    problems = problems_of(data, catalogs)
    assert any(p.startswith("convoca_pickup_evening (es): body:") and why in p
               for p in problems), problems


def test_a_file_that_is_not_yaml_says_so(tmp_path: Path, catalogs: Catalogs) -> None:
    path = tmp_path / "t.yaml"
    path.write_text("- name: [unclosed\n", encoding="utf-8")
    with pytest.raises(templates.TemplateError, match="t.yaml"):
        templates.load(path, catalogs)


# --- real notices, flattened ---------------------------------------------------------------------


def assert_flat(message: dict[str, Any], spec: templates.TemplateSpec, loc: str) -> list[str]:
    t = message["template"]
    assert message["type"] == "template"
    assert t["name"] == spec.name
    assert t["language"] == {"code": templates.language_for(loc), "policy": "deterministic"}
    body = [c for c in t["components"] if c["type"] == "body"]
    texts = [p["text"] for p in body[0]["parameters"]] if body else []
    assert len(texts) == len(spec.params)
    for text in texts:
        assert text and text.strip() == text
        assert "\n" not in text and "\t" not in text and "    " not in text
    filled = spec.languages[loc].body
    for n, text in enumerate(texts, 1):
        filled = filled.replace(f"{{{{{n}}}}}", text)
    assert len(filled) <= templates.BODY_CHARS
    return texts


def send(specs, catalogs: Catalogs, out: Outgoing, loc: str, person_id: int = 7
         ) -> tuple[templates.TemplateSpec, dict[str, Any], list[str]]:
    spec = templates.for_message(specs, out)
    assert spec is not None, out.text
    message = templates.message(spec, loc, out, templates.param_renderer(catalogs, loc, ZONE),
                                lambda action: CODEC.pack(person_id, action))
    return spec, message, assert_flat(message, spec, loc)


def payloads(message: dict[str, Any]) -> list[str]:
    return [CODEC.unpack(7, c["parameters"][0]["payload"])
            for c in message["template"]["components"] if c["type"] == "button"]


def pickup_rows(mode: str = PickupMode.RETIRO) -> tuple[Pickup, DeliveryDay, Family]:
    family = Family(id=3, program_id=1, name="González Soto", address="Pasaje Los Aromos 45",
                    pickup_mode=mode)
    day = DeliveryDay(id=2, program_id=1, mode=mode, window_start=START,
                      window_end=START + timedelta(hours=2), place="Sede Vecinal Villa Ñuñoa",
                      address="Los Aromos 123")
    return Pickup(id=11, delivery_day_id=2, family_id=3, status=PickupStatus.PENDING), day, family


@pytest.mark.parametrize("loc", ["es", "en"])
@pytest.mark.parametrize("mode", [PickupMode.RETIRO, PickupMode.DOMICILIO])
def test_a_pickup_notice_fills_its_template(specs, catalogs: Catalogs, loc: str,
                                            mode: str) -> None:
    out = pickup_notice(*pickup_rows(mode))
    spec, message, texts = send(specs, catalogs, out, loc)
    assert spec.name == ("convoca_pickup_notice" if mode == PickupMode.RETIRO
                         else "convoca_pickup_notice_home")
    assert texts[0] == "González Soto"
    assert "12" in texts[1] and "10:00" in texts[1]  # the day and its window, in Santiago
    # Each quick reply carries the signed action of the option it stands for.
    assert payloads(message) == [b.action for b in out.options()]
    assert payloads(message)[0] == "pk:11:ok"
    assert [c["index"] for c in message["template"]["components"][1:]] == ["0", "1", "2", "3"]


def test_a_broadcast_is_one_line_however_the_gestora_wrote_it(specs, catalogs) -> None:
    text = "Hola a todos:\n\n\tEste sábado    hay operativo.\n• Traigan carnet\n• Y ganas"
    out = broadcast_message("Barrio Los Aromos", text)
    _, _, texts = send(specs, catalogs, out, "es")
    assert texts == ["Barrio Los Aromos",
                     "Hola a todos: · Este sábado hay operativo. · Traigan carnet · Y ganas"]


def test_a_very_long_broadcast_is_cut_within_the_body(specs, catalogs) -> None:
    out = broadcast_message("Barrio", "palabra " * 400)
    _, _, texts = send(specs, catalogs, out, "es")
    assert texts[1].endswith("…") and len(texts[1]) < 1000


def test_an_empty_parameter_is_a_dash(specs, catalogs) -> None:
    out = broadcast_message("Barrio", "  \n ")
    _, _, texts = send(specs, catalogs, out, "en")
    assert texts[1] == "-"


def meeting_and_rsvp(answer: str | None = None) -> tuple[Meeting, Rsvp]:
    meeting = Meeting(id=5, program_id=1, kind="consejo_local", title="Sesión del Consejo",
                      starts_at=NOW + timedelta(days=3), ends_at=None, place="Sede",
                      address="Los Aromos 123", latitude=None, longitude=None,
                      agenda="1. Cuenta\n2. Plan de trabajo\n\n3. Varios",
                      status=MeetingStatus.SCHEDULED, revision=1)
    return meeting, Rsvp(meeting_id=5, person_id=7, answer=answer)


@pytest.mark.parametrize("loc", ["es", "en"])
def test_an_invitation_and_its_reminder_fill_their_templates(specs, catalogs, loc) -> None:
    meeting, rsvp = meeting_and_rsvp()
    out = invitation(meeting, rsvp, kind_name="Consejo Local")
    spec, message, texts = send(specs, catalogs, out, loc)
    assert spec.name == "convoca_meeting_invite"
    assert texts[0] == "Sesión del Consejo"
    assert "Plan de trabajo" in texts[1] and " · " in texts[1]
    assert payloads(message) == ["rsvp:5:y", "rsvp:5:n", "rsvp:5:m"]

    meeting, rsvp = meeting_and_rsvp(RsvpAnswer.YES)
    shown = card(meeting, rsvp, kind_name="Consejo Local")
    assert shown.text is not None
    reminder = Outgoing(text=Msg("notice.meeting_reminder", shown.text.params),
                        buttons=shown.buttons)
    spec, message, texts = send(specs, catalogs, reminder, loc)
    assert spec.name == "convoca_meeting_reminder"
    assert payloads(message) == ["rsvp:5:y:l", "rsvp:5:n:l", "rsvp:5:m:l"]


async def test_the_scheduler_notices_fill_their_templates(sessions, catalogs, specs) -> None:
    """The pickup reminders and the milestone alerts as the scheduler composes them."""
    async with sessions() as s:
        program, family, day, pickup, person = await seed(s, NOW)
        notice = Notice("pickup_evening", person.id, "k1", NOW, subject={"pickup_id": pickup.id})
        asked = await notices.BUILDERS["pickup_evening"](s, notice, NOW)
        pickup.status = PickupStatus.CONFIRMED
        confirmed = await notices.BUILDERS["pickup_evening"](s, notice, NOW)
        missed = await notices.BUILDERS["pickup_missed"](
            s, Notice("pickup_missed", person.id, "k2", NOW, subject={"pickup_id": pickup.id}),
            NOW)
        milestone = (await s.scalars(select(Milestone).where(
            Milestone.program_id == program.id).order_by(Milestone.due))).first()
        overdue = await notices.BUILDERS["milestone_overdue"](s, Notice(
            "milestone_overdue", person.id, "k3", NOW,
            subject={"milestone_ids": [milestone.id], "due": milestone.due.isoformat()}), NOW)
        digest = await notices.BUILDERS["weekly_digest"](s, Notice(
            "weekly_digest", person.id, "k4", NOW, subject={"program_id": program.id}), NOW)
    for loc in ("es", "en"):
        spec, message, _ = send(specs, catalogs, asked, loc)
        assert spec.name == "convoca_pickup_evening"
        assert payloads(message)[0] == f"pk:{pickup.id}:ok"
        spec, message, _ = send(specs, catalogs, confirmed, loc)
        # Confirmed: no answers to offer, so the template without buttons.
        assert spec.name == "convoca_pickup_evening_plain" and payloads(message) == []
        spec, message, _ = send(specs, catalogs, missed, loc)
        assert payloads(message) == [f"pk:{pickup.id}:rs"]
        spec, _, texts = send(specs, catalogs, overdue, loc)
        assert spec.name == "convoca_milestone_overdue" and texts[1]
        spec, _, texts = send(specs, catalogs, digest, loc)
        assert spec.name == "convoca_weekly_digest" and program.name in texts[0]


def test_for_message_refuses_what_has_no_template(specs) -> None:
    assert templates.for_message(specs, Outgoing(text=Msg("start.consent"))) is None
    assert templates.for_message(specs, Outgoing()) is None
    # A pickup notice that somehow lost its options has no template that fits it.
    bare = Outgoing(text=pickup_notice(*pickup_rows()).text)
    assert templates.for_message(specs, bare) is None


def test_a_person_without_a_language_gets_the_default_one(specs, catalogs) -> None:
    out = broadcast_message("Barrio", "Hola")
    spec = templates.for_message(specs, out)
    message = templates.message(spec, None, out, templates.param_renderer(catalogs, None, ZONE),
                                str)
    assert message["template"]["language"]["code"] == "es"


def test_flat() -> None:
    assert templates.flat("a\n\n• b\r\n\tc     d") == "a · b · c d"
    assert templates.flat("   ") == "-"
    assert templates.flat("x" * 50, 10) == "x" * 9 + "…"


def test_submission_is_what_meta_takes(specs) -> None:
    spec = next(s for s in specs if s.name == "convoca_pickup_notice")
    body = templates.submission(spec, "es")
    assert body["name"] == "convoca_pickup_notice"
    assert body["language"] == "es" and body["category"] == "UTILITY"
    kinds = [c["type"] for c in body["components"]]
    assert kinds == ["BODY", "FOOTER", "BUTTONS"]
    assert body["components"][0]["example"] == {"body_text": [list(spec.languages["es"].example)]}
    assert [b["type"] for b in body["components"][2]["buttons"]] == ["QUICK_REPLY"] * 4
    assert templates.language_for("en") == "en" and templates.language_for("xx") == "es"


# --- the business account ----------------------------------------------------------------------


@dataclass
class StubClient:
    """The two calls of bot.whatsapp.client.CloudClient that templates use."""

    have: list[dict[str, Any]]
    created: list[dict[str, Any]] | None = None
    closed: bool = False

    async def templates(self) -> list[dict[str, Any]]:
        return list(self.have)

    async def create_template(self, template: dict[str, Any]) -> dict[str, Any]:
        self.created = [*(self.created or []), template]
        return {"id": str(len(self.created)), "status": "PENDING", "category": "UTILITY"}

    async def close(self) -> None:
        self.closed = True


@pytest.fixture
async def app(settings_for, sqlite_url, clock):
    built = await build_app(settings_for(
        sqlite_url, whatsapp_access_token="TEST-TOKEN", whatsapp_phone_number_id="1002003004",
        whatsapp_business_account_id="9008007006", whatsapp_app_secret="an-app-secret-0123456",
        whatsapp_verify_token="a-verify-token-0123456"), clock=clock)
    yield built
    await built.close()


async def stored(app) -> dict[tuple[str, str], Any]:
    from storage.wa_templates import all_templates

    async with app.sessions() as s:
        return {(r.name, r.language): r for r in await all_templates(s)}


async def test_push_submits_only_what_the_account_lacks(app, specs, monkeypatch, capsys) -> None:
    client = StubClient([{"name": "convoca_pickup_notice", "language": "es", "status": "APPROVED",
                          "id": "1"}])
    monkeypatch.setattr(cli_whatsapp, "make_client", lambda settings: client)
    args = parse(cli_whatsapp, "whatsapp", "templates", "push")
    assert await cli_whatsapp.run(app, args) == 0
    sent = {(c["name"], c["language"]) for c in client.created or []}
    assert len(sent) == 2 * len(specs) - 1 and ("convoca_pickup_notice", "es") not in sent
    assert client.closed
    out = capsys.readouterr().out
    assert "Enviada a revisión: convoca_pickup_notice (en)" in out

    client.have = [{"name": n, "language": c} for n, c in sent] + client.have
    client.created = None
    assert await cli_whatsapp.run(app, args) == 0
    assert client.created is None
    assert "La cuenta de WhatsApp ya tiene todas las plantillas." in capsys.readouterr().out


async def test_sync_stores_the_status_and_list_shows_it(app, specs, monkeypatch, capsys) -> None:
    client = StubClient([
        {"name": "convoca_pickup_notice", "language": "es", "status": "APPROVED", "id": "91",
         "category": "UTILITY"},
        {"name": "convoca_broadcast", "language": "en", "status": "REJECTED", "id": "92",
         "category": "UTILITY", "rejected_reason": "INVALID_FORMAT"},
        {"name": "hello_world", "language": "en_US", "status": "APPROVED", "id": "1",
         "category": "UTILITY"},
    ])
    monkeypatch.setattr(cli_whatsapp, "make_client", lambda settings: client)
    assert await cli_whatsapp.run(app, parse(cli_whatsapp, "whatsapp", "templates", "sync")) == 0
    rows = await stored(app)
    assert rows[("convoca_pickup_notice", "es")].status == "APPROVED"
    assert rows[("convoca_pickup_notice", "es")].platform_id == "91"
    assert rows[("convoca_broadcast", "en")].reason == "INVALID_FORMAT"
    assert rows[("convoca_pickup_notice", "en")].status == "MISSING"
    assert len(rows) == 2 * len(specs) + 1
    assert "aprobadas: 2" in capsys.readouterr().out

    assert await cli_whatsapp.run(app, parse(cli_whatsapp, "whatsapp", "templates", "list")) == 0
    # The last column is the catalog key each template carries, on purpose (what the
    # operator matches against the code and the .po files): the rest must be words.
    lines = capsys._inner.readouterr().out.splitlines()
    keys = {s.key for s in specs}
    assert leaked_keys("\n".join(line.rpartition(" · ")[0] for line in lines)) == []
    assert {line.rpartition(" · ")[2] for line in lines[:-1]} == keys
    assert "convoca_pickup_notice · es · APPROVED · pickup.notice" in lines
    assert "convoca_pickup_notice · en · MISSING · pickup.notice" in lines
    assert lines[-1] == "hello_world · en_US · APPROVED · (no es de Convoca)"


def test_without_the_account_settings_push_says_so_and_exits_2(cli_env, monkeypatch, capsys
                                                              ) -> None:
    for name in ("WHATSAPP_ACCESS_TOKEN", "WHATSAPP_BUSINESS_ACCOUNT_ID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(cli_whatsapp, "make_client", lambda settings: pytest.fail("no client"))
    assert cli.main(["whatsapp", "templates", "push"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["Para hablar con WhatsApp falta configurar WHATSAPP_ACCESS_TOKEN, "
                   "WHATSAPP_BUSINESS_ACCOUNT_ID (ver README, «Conectar WhatsApp»)."]


# --- the stop word ---------------------------------------------------------------------------------


@pytest.fixture
async def core(settings_for, sqlite_url, clock):
    app = await build_app(settings_for(sqlite_url), clock=clock)
    yield CoreHarness(app, channel="whatsapp")
    await app.close()


@pytest.mark.parametrize("word", ["BASTA", "basta", "¡Basta!", "Stop", " STOP. "])
async def test_the_stop_word_stops_the_notices_like_stop(core: CoreHarness, word: str) -> None:
    await core.text("56911", "/start")
    await core.text("56911", "✅ Sí, acepto")
    [stopped] = await core.text("56911", word)
    assert stopped.text.startswith("Listo, ya no te enviaré avisos")
    async with core.app.sessions() as s:
        person = await people.by_address(s, "whatsapp", "56911")
        assert person.opted_out_at is not None


async def test_the_stop_word_wins_over_a_pending_question(core: CoreHarness) -> None:
    """A family with a pickup notice open (its flow waits for an answer) still stops."""
    async with core.app.sessions() as s:
        person = await people.create_with_address(
            s, "whatsapp", "56922", NOW, name="Ana", locale="en", consent_at=NOW,
            consent_version="2026-1")
        convo = await people.conversation(s, person.id, NOW)
        convo.flow, convo.step, convo.data = "pickup", "choose", {"pickup_id": 1}
        await s.commit()
    [stopped] = await core.text("56922", "stop")
    assert stopped.text.startswith("Done, I won't send you notices")
    [again] = await core.text("56922", "BASTA")
    assert "already paused" in again.text
    async with core.app.sessions() as s:
        assert (await s.get(Person, person.id)).opted_out_at is not None


async def test_a_sentence_with_the_word_is_not_the_command(core: CoreHarness) -> None:
    await core.text("56933", "/start")
    await core.text("56933", "✅ Sí, acepto")
    await core.text("56933", "basta de lluvia")
    async with core.app.sessions() as s:
        assert (await people.by_address(s, "whatsapp", "56933")).opted_out_at is None
