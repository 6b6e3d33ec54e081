"""The flows of tests/wa_limited.py through Convoca's real WhatsApp channel: the same harness
interface (WaHarness's), backed by the client, webhook, templates and dispatcher against the
fake Cloud API over HTTP (tests/whatsapp_harness.py). A person's words, presses and files go
in as signed webhooks; what the fake accepted comes back as the messages the person sees.

Two things only the limited channel knows stay there: which rows would have needed a
template (here they are templates) and which progress reports were thinned out."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from wa_limited import Message
from whatsapp_harness import Running

from bot.whatsapp import CHANNEL
from channels.layout import ELLIPSIS, Choice, Shown, lay_out
from fakes.whatsapp_api import FakeWhatsApp, Sent
from handlers.events import EventKind, Outgoing
from services.messages import Attachment
from storage import outbox
from storage.models import OutboxMessage, OutboxStatus, SentMessage

SEP = "|"  # handlers.buttons: "action|signature"


def _action(packed: str) -> str:
    action, sep, _ = packed.rpartition(SEP)
    return action if sep else packed


class CloudMessage(Message):
    """A message as the fake shows it; ``template`` is (name, language) for a template."""

    template: tuple[str, str] | None = None


class Phones(dict[str, str]):
    """WhatsApp vouches for the number a person writes from: it is their wa_id. A test that
    says another number vouches for an address asks for what this channel cannot do."""

    def __setitem__(self, address: str, phone: str) -> None:
        assert phone == "+" + address, (
            f"on WhatsApp {address} writes from +{address}, not {phone}")
        super().__setitem__(address, phone)


class CloudHarness:
    """WaHarness's interface over the real WhatsApp channel and the fake Cloud API."""

    variant = "cloud"

    def __init__(self, r: Running) -> None:
        self.r = r
        self.app = r.app
        self.fake: FakeWhatsApp = r.fake
        self.channel = r.channel
        self.hold: set[str] = set()
        self.phones: dict[str, str] = Phones()
        self.files: dict[str, bytes] = {}  # file id -> content, for event(DOCUMENT, ...)
        self._seen: dict[str, CloudMessage] = {}  # wamid -> the message made of it
        self._labels: dict[str, dict[str, tuple[str, ...]]] = {}  # see _learn_labels

    # what people see ---------------------------------------------------------------------

    def _message(self, sent: Sent) -> CloudMessage:
        known = self._seen.get(sent.wamid)
        if known is not None:
            return known
        body = sent.body
        text = sent.text or ""
        template = None
        actions: dict[str, str] = {}
        if sent.type == "interactive" and sent.buttons:
            actions = dict(sent.buttons)
            shown = Shown(text, buttons=tuple((Choice(t, _action(i)),)
                                              for t, i in sent.buttons.items()))
        elif sent.type == "interactive":
            actions = {t: i for t, (i, _) in sent.rows.items()}
            shown = Shown(text, rows=tuple(Choice(t, _action(i), d or "")
                                           for t, (i, d) in sent.rows.items()),
                          list_label=body["interactive"]["action"]["button"])
        elif sent.type in ("document", "image"):
            media = body[sent.type]
            stored = self.fake._media[media["id"]]
            shown = Shown(text, attachment=Attachment(
                media.get("filename") or stored.filename or "", stored.data, stored.mime_type))
        elif sent.type == "location":
            loc = body["location"]
            shown = Shown(text, location=(float(loc["latitude"]), float(loc["longitude"])))
        elif sent.type == "template":
            # Its quick replies are the notice's options, answered as the buttons would be.
            template = sent.template
            actions = dict(sent.quick_replies)
            shown = Shown(text, buttons=tuple((Choice(t, _action(p)),)
                                              for t, p in sent.quick_replies.items()))
        else:
            shown = Shown(text)
        m = CloudMessage(sent.wamid, shown, actions)
        m.template = template
        self._seen[sent.wamid] = m
        return m

    def chat(self, address: str | int) -> list[Message]:
        return [self._message(s) for s in self.fake.messages(str(address))]

    @staticmethod
    def _is(shown: str, title: str, contains: bool) -> bool:
        return (shown == title or (contains and title in shown)
                or (shown.endswith(ELLIPSIS) and title.startswith(shown[:-1])))

    def _shows(self, m: Message, title: str, contains: bool) -> str | None:
        """The option of ``m`` labelled ``title``, as shown. A template's quick reply says an
        option in Meta's approved words ("Another date"); it is still the option the message
        would have offered as "Ask for another date" inside the window: either label finds
        it."""
        labels = self._labels.get(m.id, {})
        return next((t for t in m.actions if self._is(t, title, contains)
                     or any(self._is(label, title, contains) for label in labels.get(t, ()))),
                    None)

    async def _learn_labels(self) -> None:
        """For each template sent, the catalog's labels of the options its quick replies
        carry (the same action, signed), read from the outbox row it was made of."""
        new = [m for m in self.fake.messages() if m.type == "template"
               and m.wamid not in self._labels]
        if not new:
            return
        async with self.app.sessions() as s:
            for sent in new:
                row = await s.scalar(select(OutboxMessage).join(
                    SentMessage, SentMessage.outbox_id == OutboxMessage.id).where(
                    SentMessage.channel == CHANNEL, SentMessage.platform_id == sent.wamid))
                labels: dict[str, tuple[str, ...]] = {}
                if row is not None:
                    out = Outgoing.from_json(row.payload)
                    zone = out.zone or self.channel.timezone
                    shown = lay_out(out, self.channel.capabilities,
                                    lambda msg, row=row, zone=zone: self.app.catalogs.render(
                                        msg, row.locale, zone))
                    by_action: dict[str, list[str]] = {}
                    for c in (c for piece in shown for c in piece.choices()):
                        by_action.setdefault(c.action, []).append(c.title)
                    labels = {t: tuple(by_action.get(_action(p), ()))
                              for t, p in sent.quick_replies.items()}
                self._labels[sent.wamid] = labels

    def find(self, address: str | int, title: str, *, contains: bool = False
             ) -> tuple[Message, str] | None:
        for m in reversed(self.chat(address)):
            t = self._shows(m, title, contains)
            if t is not None:
                return m, t
        return None

    def offered(self, address: str | int) -> Message | None:
        return next((m for m in reversed(self.chat(address)) if m.actions), None)

    # what people do ------------------------------------------------------------------------

    async def _after(self, address: str, act: Any) -> list[Message]:
        before = len(self.fake.messages(address))
        await act
        await self.r.settled()
        await self.drain()
        await self._learn_labels()
        return self.chat(address)[before:]

    def _pick(self, address: str, m: Message, title: str) -> dict[str, Any]:
        """The inbound message of a tap on ``title`` of ``m``, as WhatsApp would post it."""
        sent = self.fake.message(m.id)
        assert sent is not None
        context = {"from": self.fake._digits(), "id": m.id}
        if sent.type == "template":
            return {"type": "button", "button": {"payload": m.actions[title], "text": title},
                    "context": context}
        if title in sent.rows:
            row_id, desc = sent.rows[title]
            # The spec has every list reply carry the row's description, empty or not.
            reply = {"id": row_id, "title": title, "description": desc or ""}
            return {"type": "interactive", "context": context,
                    "interactive": {"type": "list_reply", "list_reply": reply}}
        return {"type": "interactive", "context": context, "interactive": {
            "type": "button_reply", "button_reply": {"id": m.actions[title], "title": title}}}

    async def event(self, address: str | int, kind: EventKind, **kw: Any) -> list[Message]:
        address = str(address)
        name = kw.get("sender_name")
        fake = self.fake
        if kind is EventKind.TEXT:
            act = fake.text(address, kw["text"], name=name)
        elif kind is EventKind.COMMAND:
            text = kw.get("text") or "/" + " ".join(
                filter(None, (kw["command"], kw.get("args"))))
            act = fake.text(address, text, name=name)
        elif kind is EventKind.BUTTON:
            payload = kw["button"]
            ref = kw.get("message_ref")
            mine = next(((m, t) for m in reversed(self.chat(address)) for t, p in
                         m.actions.items() if p == payload and (ref is None or m.id == ref)),
                        None)
            if mine is not None:
                act = fake.inbound(address, self._pick(address, *mine), name=name)
            else:
                # A payload nothing this person sees carries (someone else's, or forged):
                # posted as the reply button it claims to be.
                msg: dict[str, Any] = {"type": "interactive", "interactive": {
                    "type": "button_reply", "button_reply": {"id": payload, "title": "…"}}}
                if ref:
                    msg["context"] = {"from": fake._digits(), "id": ref}
                act = fake.inbound(address, msg, name=name)
        elif kind is EventKind.DOCUMENT:
            ref = kw["document"]  # a file the test put in ``files``, as on WaHarness
            act = fake.document(address, ref.filename or "", self.files[ref.file_id],
                                ref.mime_type or "application/octet-stream",
                                caption=kw.get("text"), name=name)
        elif kind is EventKind.CONTACT:
            act = fake.contact_card(address, kw["contact_phone"], name=name)
        elif kind is EventKind.UNSUPPORTED:
            act = fake.unsupported(address, kw.get("unsupported") or "sticker", name=name)
        else:
            raise AssertionError(f"the fake Cloud API cannot play {kind}")
        return await self._after(address, act)

    async def send(self, address: str | int, text: str) -> list[Message]:
        return await self._after(str(address), self.fake.text(str(address), text))

    async def press(self, address: str | int, title: str, *, contains: bool = False,
                    pages: int = 12) -> list[Message]:
        address = str(address)
        for _ in range(pages):
            last = self.offered(address)
            here = last is not None and self._shows(last, title, contains) is not None
            more = [c.title for c in last.shown.choices()
                    if c.action.startswith("more:") and c.action != "more:0"] if last else []
            if not here and more:
                await self._after(address, self.fake.inbound(
                    address, self._pick(address, last, more[0])))
                continue
            found = self.find(address, title, contains=contains)
            if found is None:
                break
            return await self._after(address, self.fake.inbound(
                address, self._pick(address, *found)))
        raise AssertionError(f"no option {title!r} for {address}; last: "
                             f"{[(m.text[:80], m.titles()) for m in self.chat(address)[-3:]]}")

    async def send_document(self, address: str | int, filename: str, content: bytes,
                            mime: str, caption: str | None = None) -> list[Message]:
        return await self._after(str(address), self.fake.document(
            str(address), filename, content, mime, caption=caption))

    # delivery ----------------------------------------------------------------------------

    async def drain(self, kind: str | None = None, limit: int | None = None) -> None:
        """Deliver the rows due on WhatsApp (of one kind, at most ``limit``; kinds held are
        left), oldest first, through the real dispatcher; a row it leaves waiting (a
        Transient after a 131047, say) is retried as its next pass would."""
        for _ in range(5):
            now = self.app.clock.now()
            async with self.app.sessions() as s:
                ids = list((await s.scalars(
                    select(OutboxMessage.id).where(
                        OutboxMessage.channel == CHANNEL,
                        OutboxMessage.status == OutboxStatus.PENDING,
                        OutboxMessage.not_before <= now)
                    .where(OutboxMessage.kind == kind if kind else OutboxMessage.kind.not_in(
                        self.hold))
                    .order_by(OutboxMessage.id).limit(limit))).all())
                rows = [await s.get(OutboxMessage, i) for i in ids]
            ids = [r.id for r in rows if r is not None and not outbox.is_expired(r, now)]
            if ids:
                await self.r.outbox.deliver_now(ids)
            if not ids or limit is not None:
                break
        await self._learn_labels()
