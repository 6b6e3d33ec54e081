"""Thousands of random events thrown at every state of every flow: no unhandled exception,
every message answered, the conversation state still valid, nothing already saved lost."""

from __future__ import annotations

import asyncio
import logging
import shutil
import string
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from core_harness import CoreHarness
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule
from sqlalchemy import func, select

from bot.app import build_app
from bot.config import load_settings
from handlers.events import DocumentRef, EventKind
from services import meetings as meeting_views
from services import pickups as pickup_services
from storage import db, links, people, programs
from storage.clock import ManualClock
from storage.models import (
    Attendance,
    AuditEntry,
    Body,
    DeliveryDay,
    Family,
    FormResponse,
    FormStatus,
    Meeting,
    Membership,
    Organization,
    Person,
    Pickup,
    Representative,
    Role,
    Rsvp,
)

START = datetime(2026, 4, 6, 14, 0, tzinfo=UTC)
PEOPLE = ["1001", "1002", "1003", "1004", "1005"]  # newcomer, representative, member, family, gestora
COMMANDS = ["/start", "/ayuda", "/idioma", "/ficha", "/reuniones", "/asistencia", "/retiro",
            "/mis_datos", "/stop", "/panel", "/etapas", "/borrar_mis_datos", "/volar", "/"]
TEXTS = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=st.characters(min_codepoint=0x1F300, max_codepoint=0x1FAFF), min_size=1,
            max_size=8),
    st.text(alphabet=string.ascii_letters + " áéíóúñÑ", min_size=1, max_size=30),
    st.from_regex(r"\d{1,2}\.\d{3}\.\d{3}-[\dkK]", fullmatch=True),
    st.sampled_from(["Sí", "no", "María José Araya", "7 de abril", "12-04-2026", "18:30", "1",
                     "0", "-5", "99999999999", "ana@example.cl", "Atrás", "Omitir", "listo"]),
    st.integers(min_value=4000, max_value=6000).map(lambda n: "á" * n),
)
UNSUPPORTED = st.sampled_from(["sticker", "photo", "voice", "video", "location", "animation"])


async def _seed(url: str) -> None:
    engine = db.create_engine(url)
    await db.upgrade(engine)
    now = START - timedelta(days=2)
    async with db.session_factory(engine)() as s:
        program = await programs.create(s, template="ecomercado-15m", start=now.date(),
                                        name="Ecomercado Quilpué", now=now)
        gm = await s.scalar(select(Body).where(Body.kind == "grupo_motor"))

        async def person(address: str, *roles: Role, name: str) -> Person:
            p = await people.create_with_address(s, "telegram", address, now, name=name,
                                                 consent_at=now, locale="es",
                                                 program_id=program.id)
            for r in roles:
                await people.grant(s, p, r, program.id, now)
            return p

        rep = await person("1002", Role.REPRESENTANTE, name="María José Araya")
        member = await person("1003", Role.GRUPO_MOTOR, name="Luis Muñoz")
        fam_person = await person("1004", Role.FAMILIA, name="Familia Soto")
        await person("1005", Role.GESTORA, name="Daniela Vergara")
        org = Organization(program_id=program.id, name="Junta de Vecinos Villa Ñuñoa",
                           created_at=now)
        s.add(org)
        await s.flush()
        s.add(Representative(organization_id=org.id, person_id=rep.id, is_primary=True))
        s.add(Membership(body_id=gm.id, person_id=member.id, joined_at=now))
        await links.create(s, program.id, "organization", org.id, now)
        meeting = Meeting(program_id=program.id, body_id=gm.id, kind="grupo_motor",
                          starts_at=START + timedelta(days=1), place="Sede", created_at=now)
        s.add(meeting)
        await s.flush()
        await meeting_views.send_invitations(s, meeting, [member.id, rep.id], now)
        fam = Family(program_id=program.id, name="Soto Pérez", phone="+56987654321",
                     person_id=fam_person.id, created_at=now)
        day = DeliveryDay(program_id=program.id, window_start=START + timedelta(days=2),
                          window_end=START + timedelta(days=2, hours=2), place="Sede",
                          created_at=now)
        s.add_all([fam, day])
        await s.flush()
        pickup = Pickup(delivery_day_id=day.id, family_id=fam.id)
        s.add(pickup)
        await s.flush()
        await pickup_services.send_pickup_notice(s, pickup, now)
        await s.commit()
    await engine.dispose()


@pytest.fixture(scope="module")
def template_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("prop") / "template.sqlite3"
    asyncio.run(_seed(f"sqlite+aiosqlite:///{path}"))
    return path


class Failures(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record.getMessage() + "\n" + (record.exc_text or ""))


class Conversations(RuleBasedStateMachine):
    template: Path
    workdir: Path

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.failures = Failures()
        logging.getLogger("handlers").addHandler(self.failures)
        Conversations.counter = getattr(Conversations, "counter", 0) + 1
        path = self.workdir / f"case{Conversations.counter}.sqlite3"
        shutil.copy(self.template, path)
        self.clock = ManualClock(START)
        settings_ = load_settings(database_url=f"sqlite+aiosqlite:///{path}", _env_file=None)
        self.app = self.run(build_app(settings_, clock=self.clock))
        self.app.services.files["telegram"] = self._fetch
        self.core = CoreHarness(self.app)
        self.flows = set(self.app.core.router.flows) | {None}
        self.saved = self.run(self._saved())
        self.stale: list[str] = []
        self.answered_every_message = True

    async def _fetch(self, file_id: str, max_bytes: int) -> bytes:
        return "Nombre;Teléfono\nJunta Ñuble;9 1234 5678\n".encode()

    def run(self, coro):
        return self.loop.run_until_complete(coro)

    async def _saved(self) -> dict[str, int]:
        async with self.app.sessions() as s:
            async def count(model, *where) -> int:
                return await s.scalar(select(func.count()).select_from(model).where(*where))

            return {
                "forms": await count(FormResponse, FormResponse.status != FormStatus.DRAFT),
                "answers": await count(Rsvp, Rsvp.answer.is_not(None)),
                "attendance": await count(Attendance),
                "pickups": await count(Pickup),
                "audit": await count(AuditEntry),
            }

    def teardown(self) -> None:
        logging.getLogger("handlers").removeHandler(self.failures)
        self.run(self.app.close())
        self.loop.close()

    def _send(self, address: str, kind: EventKind, expect_answer: bool, **kw: object) -> None:
        replies = self.run(self.core.event(address, kind, **kw))
        assert not self.failures.records, self.failures.records
        texts = [r.text for r in replies]
        assert not any("algo falló de mi lado" in t or "something failed on my side" in t
                       for t in texts), texts
        if expect_answer:
            assert replies, f"{kind} from {address} got no answer"
        for r in replies:
            self.stale.extend(p for _, p in r.buttons)
        self.stale = self.stale[-200:]

    @initialize()
    def nothing(self) -> None:
        pass

    @rule(who=st.sampled_from(PEOPLE), text=TEXTS)
    def types(self, who: str, text: str) -> None:
        self._send(who, EventKind.TEXT, True, text=text)

    @rule(who=st.sampled_from(PEOPLE), command=st.sampled_from(COMMANDS),
          args=st.one_of(st.none(), st.text(max_size=12)))
    def command(self, who: str, command: str, args: str | None) -> None:
        self._send(who, EventKind.COMMAND, True, command=command[1:].lower(), args=args,
                   text=command)

    @rule(who=st.sampled_from(PEOPLE), data=st.data())
    def presses_a_button_shown(self, who: str, data: st.DataObject) -> None:
        buttons = self.core.buttons(who)
        if not buttons:
            return
        _, payload = data.draw(st.sampled_from(buttons))
        self._send(who, EventKind.BUTTON, False, button=payload)

    @rule(who=st.sampled_from(PEOPLE), data=st.data())
    def presses_an_old_or_borrowed_button(self, who: str, data: st.DataObject) -> None:
        if not self.stale:
            return
        payload = data.draw(st.sampled_from(self.stale))
        self._send(who, EventKind.BUTTON, False, button=payload)

    @rule(who=st.sampled_from(PEOPLE), payload=st.text(max_size=64))
    def forges_a_button(self, who: str, payload: str) -> None:
        self._send(who, EventKind.BUTTON, True, button=payload)

    @rule(who=st.sampled_from(PEOPLE), own=st.booleans(),
          phone=st.one_of(st.sampled_from(["+56987654321", "56912345678", "9 1234 5678"]),
                          st.text(max_size=15)))
    def shares_a_contact(self, who: str, own: bool, phone: str) -> None:
        self._send(who, EventKind.CONTACT, True, contact_phone=phone, contact_is_own=own)

    @rule(who=st.sampled_from(PEOPLE), kind=UNSUPPORTED)
    def sends_something_we_cannot_read(self, who: str, kind: str) -> None:
        self._send(who, EventKind.UNSUPPORTED, True, unsupported=kind)

    @rule(who=st.sampled_from(PEOPLE), name=st.sampled_from(["lista.csv", "foto.jpg", "x"]))
    def sends_a_document(self, who: str, name: str) -> None:
        self._send(who, EventKind.DOCUMENT, True,
                   document=DocumentRef("file-1", name, "text/csv", 40))

    @rule(hours=st.integers(min_value=1, max_value=72))
    def time_passes(self, hours: int) -> None:
        self.clock.advance(hours=hours)

    @invariant()
    def state_is_valid_and_nothing_saved_is_lost(self) -> None:
        from storage.models import Conversation

        async def check() -> None:
            async with self.app.sessions() as s:
                flows = set((await s.scalars(select(Conversation.flow))).all())
            assert flows <= self.flows, flows - self.flows
            now = await self._saved()
            for key, before in self.saved.items():
                assert now[key] >= before, (key, before, now[key])
            self.saved = now

        self.run(check())


@pytest.mark.filterwarnings("ignore::hypothesis.errors.NonInteractiveExampleWarning")
def test_random_events_in_every_state(template_db: Path, tmp_path: Path) -> None:
    Conversations.template = template_db
    Conversations.workdir = tmp_path
    run = Conversations.TestCase
    run.settings = settings(max_examples=40, stateful_step_count=60, deadline=None,
                            suppress_health_check=list(HealthCheck))
    run().runTest()
