"""One reply laid out within what a channel can show, whatever the channel.

The core says what a reply means (services.messages.Outgoing); ``lay_out`` turns it into the
messages a channel with these Capabilities sends: text cut to its length, options as reply
buttons when they fit, else a pick-one list, else pages of that list with a "more" row; a
pager as previous/next options and "page 2 of 5"; a day to pick as a list of days with a line
saying it may be typed (a channel that shows a month, ``month_grid``, draws the DatePick its
own way: channels.month); a phone request as a line asking to type it; an edit as a new
message. Every word it adds is a catalog message, rendered by the caller's ``render``.

A "more" row's action is ``more:<page>``: the core re-sends the message it was pressed on at
that page (handlers.more)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from channels import month
from channels.capabilities import Capabilities
from locales import Day, Msg
from services.messages import Attachment, Outgoing

MORE = "more"
# A pick-one list row as WhatsApp's interactive list takes it (the tightest list we speak).
ROW_TITLE_CHARS = 24
ROW_DESCRIPTION_CHARS = 72
ELLIPSIS = "…"

Render = Callable[[Msg], str]


@dataclass(frozen=True)
class Choice:
    """One option as shown: its title within the channel's limits, the action it sends back,
    and (a list row only) the rest of a long label."""

    title: str
    action: str
    description: str = ""


@dataclass(frozen=True)
class Shown:
    """One message as the channel sends it. At most one of ``buttons`` and ``rows``."""

    text: str = ""
    buttons: tuple[tuple[Choice, ...], ...] = ()  # reply buttons, in rows
    rows: tuple[Choice, ...] = ()  # a pick-one list, opened by ``list_label``
    list_label: str = ""
    ask_phone: str | None = None  # a "share my phone number" button (only where there is one)
    phone_asked_done: bool = False
    attachment: Attachment | None = None  # with ``text`` as its caption
    location: tuple[float, float] | None = None
    updates: str | None = None  # replaces this earlier message (only where it can be edited)

    def choices(self) -> list[Choice]:
        return [c for row in self.buttons for c in row] + list(self.rows)


def shorten(text: str, width: int) -> str:
    """At most ``width`` characters, cut at a word where that keeps most of it, marked with
    an ellipsis."""
    text = " ".join(text.split())
    if len(text) <= width:
        return text
    cut = text[:width - 1]
    at = cut.rfind(" ")
    if text[width - 1] != " " and at >= (width * 2) // 3:  # not in the middle of a word
        cut = cut[:at]
    return cut.rstrip(" ,.;:-") + ELLIPSIS


def distinct(labels: list[str], width: int) -> list[str]:
    """Each label within ``width``; labels that shortening (or the caller) made alike are
    told apart by their place in the list."""
    short = [shorten(label, width) for label in labels]
    seen: dict[str, int] = {}
    for s in short:
        seen[s] = seen.get(s, 0) + 1
    out = []
    for i, s in enumerate(short):
        if seen[s] > 1:
            mark = f"{i + 1}. "
            s = mark + shorten(labels[i], width - len(mark))
        out.append(s)
    return out


def split_text(text: str, limit: int, measure: Callable[[str], int] = len) -> list[str]:
    """Pieces of at most ``limit`` (as ``measure`` counts: characters, or a platform's own
    unit), cut at a paragraph, a line or a space where one is not too far back."""
    parts: list[str] = []
    rest = text
    while measure(rest) > limit:
        cut = limit
        while measure(rest[:cut]) > limit:
            cut -= 1
        window = rest[:cut]
        at = -1
        for sep in ("\n\n", "\n", " "):
            at = window.rfind(sep)
            if at >= cut // 2:
                break
        if at < cut // 2:
            at = cut
        parts.append(rest[:at].rstrip())
        rest = rest[at:].lstrip()
    if rest or not parts:
        parts.append(rest)
    return parts


@dataclass(frozen=True)
class _Option:
    label: str
    action: str
    fixed: bool = False  # on every page (a pager's or a month's turns)


def _options(out: Outgoing, caps: Capabilities, render: Render) -> tuple[list[_Option], list[str]]:
    """Every option of the message, and the lines the layout adds to its text."""
    days = out.date_pick is not None and not caps.month_grid
    # Beside a day to pick, the message's own options (cancel, back) are on every page.
    own = [_Option(render(b.label), b.action, fixed=days) for b in out.options()]
    options = [] if days else own
    lines: list[str] = []
    if out.date_pick and days:
        pick = out.date_pick
        options += [_Option(render(Msg("layout.day", {"day": Day(d, "short")})),
                            month.choose(pick, d))
                    for d in month.days(pick)]
        before = month.previous_month(pick)
        if before is not None:
            options.append(_Option(render(Msg("layout.month_before", {"month": Day(before,
                                                                                  "month")})),
                                   month.turn_to(pick, before), fixed=True))
        after = month.next_month(pick)
        options.append(_Option(render(Msg("layout.month_after", {"month": Day(after, "month")})),
                               month.turn_to(pick, after), fixed=True))
        lines.append(render(Msg("layout.date_typed",
                                {"month": Day(pick.month.replace(day=1), "month")})))
        options += own
    if out.pager and out.pager.pages > 1:
        pager = out.pager
        if pager.previous:
            options.append(_Option(render(Msg("layout.previous")), pager.previous, fixed=True))
        if pager.next:
            options.append(_Option(render(Msg("layout.next")), pager.next, fixed=True))
        lines.append(render(Msg("layout.page_of", {"page": pager.page + 1,
                                                   "pages": pager.pages})))
    if out.ask_phone and not caps.can_ask_phone:
        lines.append(render(Msg("layout.phone_typed")))
    return options, lines


def _as_buttons(out: Outgoing, options: list[_Option], caps: Capabilities
                ) -> tuple[tuple[Choice, ...], ...] | None:
    """The options as reply buttons, when they all fit on one message and stay distinct."""
    if not options or len(options) > caps.buttons:
        return None
    if caps.list_rows and any(len(o.label) > caps.label_chars for o in options):
        return None  # a list row keeps the whole label (its description); a button would not
    titles = distinct([o.label for o in options], caps.label_chars)
    if len(set(titles)) < len(titles) or any(len(t) > caps.label_chars for t in titles):
        return None
    choices = [Choice(t, o.action) for t, o in zip(titles, options, strict=True)]
    # The message's own rows where they fit the channel; the rest as many as a row takes.
    per = max(1, caps.buttons_per_row)
    rows: list[tuple[Choice, ...]] = []
    at = 0
    if all(len(r) <= per for r in out.buttons):
        for r in out.buttons:
            rows.append(tuple(choices[at:at + len(r)]))
            at += len(r)
    rest = choices[at:]
    rows += [tuple(rest[i:i + per]) for i in range(0, len(rest), per)]
    return tuple(rows)


def _page_of_rows(options: list[_Option], page: int, caps: Capabilities, render: Render
                  ) -> tuple[tuple[Choice, ...], int]:
    """The list rows of one page (the fixed options on each, and "more" while there are
    further pages; on the last, a way back to the first) and the number of pages."""
    fixed = [o for o in options if o.fixed]
    content = [o for o in options if not o.fixed]
    room = caps.list_rows - len(fixed)
    if len(content) <= room:
        pages, shown, more = 1, content, []
    else:
        per = max(1, room - 1)  # one row goes to "more"
        pages = -(-len(content) // per)
        page = min(max(page, 0), pages - 1)
        shown = content[page * per:(page + 1) * per]
        if page + 1 < pages:
            more = [_Option(render(Msg("layout.more", {"page": page + 2, "pages": pages})),
                            f"{MORE}:{page + 1}")]
        else:
            more = [_Option(render(Msg("layout.first_page")), f"{MORE}:0")]
    chosen = shown + fixed + more
    titles = distinct([o.label for o in chosen], ROW_TITLE_CHARS)
    rows = []
    for title, o in zip(titles, chosen, strict=True):
        full = " ".join(o.label.split())
        rest = shorten(full, ROW_DESCRIPTION_CHARS) if title != full else ""
        rows.append(Choice(title, o.action, rest))
    return tuple(rows), pages


def lay_out(out: Outgoing, caps: Capabilities, render: Render) -> list[Shown]:
    """The messages that show ``out`` on a channel with ``caps``, in order; options, a phone
    request and an edit go with the last one."""
    text = render(out.text) if out.text else ""
    options, lines = _options(out, caps, render)
    buttons = _as_buttons(out, options, caps)
    rows: tuple[Choice, ...] = ()
    list_label = ""
    if options and buttons is None:
        if caps.list_rows:
            rows, pages = _page_of_rows(options, out.page, caps, render)
            if pages > 1:
                lines.append(render(Msg("layout.list_page", {
                    "page": min(max(out.page, 0), pages - 1) + 1, "pages": pages})))
            list_label = shorten(render(Msg("layout.list_button")), caps.label_chars)
        else:  # no lists: pages of buttons
            page_rows, _ = _page_of_rows(options, out.page,
                                         replace(caps, list_rows=caps.buttons), render)
            titles = distinct([c.title for c in page_rows], caps.label_chars)
            buttons = tuple((Choice(t, c.action),)
                            for t, c in zip(titles, page_rows, strict=True))
    body = "\n\n".join(p for p in [text, *lines] if p)
    if not body and (options or out.ask_phone):
        body = render(Msg("layout.choose"))
    last = Shown(
        buttons=buttons or (), rows=rows, list_label=list_label,
        ask_phone=render(out.ask_phone) if out.ask_phone and caps.can_ask_phone else None,
        phone_asked_done=out.phone_asked_done and caps.can_ask_phone,
        updates=out.updates if caps.can_edit else None,
    )
    shown: list[Shown] = []
    if out.attachment is not None:
        if len(body) <= caps.caption_chars and not last.choices():
            return [replace(last, text=body, attachment=out.attachment)]
        shown.append(Shown(attachment=out.attachment))
    pieces = split_text(body, caps.text_chars) if body else []
    held = caps.choice_text_chars or caps.text_chars
    if pieces and last.choices() and len(pieces[-1]) > held:
        # The options go with a last piece short enough to carry them.
        cut = split_text(pieces[-1], held)
        pieces[-1:] = [*split_text("\n".join(cut[:-1]), caps.text_chars), cut[-1]]
    shown += [Shown(text=p) for p in pieces[:-1]]
    if pieces or last.choices() or last.ask_phone or last.updates:
        shown.append(replace(last, text=pieces[-1] if pieces else ""))
    if out.location is not None:
        shown.append(Shown(location=out.location))
    return shown


@dataclass
class ProgressThrottle:
    """Which reports of a progress to send on a channel that cannot edit them in place: each
    would be a new message, so the first is sent and then at most one per ``every``; a
    message that is not a progress report (the final state) always is."""

    every: timedelta = timedelta(seconds=30)
    _sent: dict[tuple[str, str], datetime] = field(default_factory=dict)

    def due(self, address: str, out: Outgoing, now: datetime) -> bool:
        if out.updates is None:
            return True
        key = (address, out.updates)
        if not out.progress:
            self._sent.pop(key, None)  # the final state: nothing follows it
            return True
        last = self._sent.get(key)
        if last is not None and now - last < self.every:
            return False
        self._sent[key] = now
        return True
