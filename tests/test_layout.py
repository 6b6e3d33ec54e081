"""channels.layout: one reply laid out within a channel's capabilities."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
from wa_limited import WA_LIMITED, violations

from channels.layout import ProgressThrottle, distinct, lay_out, shorten, split_text
from locales import Catalogs, Msg, Raw
from services.messages import Attachment, Button, DatePick, Outgoing, Pager


@pytest.fixture(scope="module")
def catalogs() -> Catalogs:
    return Catalogs()


def render_in(catalogs: Catalogs, loc: str = "es"):
    return lambda m: catalogs.render(m, loc, "America/Santiago")


def raw(text: str) -> Msg:
    return Msg("widget.label", {"text": Raw(text)})


def choice(n: int, label: str = "Opción {}") -> Outgoing:
    return Outgoing(text=raw("¿Cuál?"), buttons=tuple(
        (Button(raw(label.format(i)), f"x:{i}"),) for i in range(n)))


def test_shortening_keeps_labels_within_the_width_and_apart() -> None:
    assert shorten("Sesión ordinaria del Grupo Motor", 20) == "Sesión ordinaria…"
    assert len(shorten("x" * 50, 20)) == 20
    alike = distinct(["Reunión del Grupo Motor de abril", "Reunión del Grupo Motor de mayo"], 20)
    assert len(set(alike)) == 2 and all(len(a) <= 20 for a in alike)


def test_text_is_cut_at_lines_within_the_limit() -> None:
    text = "\n".join(f"línea {i} " + "x" * 40 for i in range(300))
    parts = split_text(text, 4096)
    assert all(len(p) <= 4096 for p in parts) and len(parts) > 1
    assert all(p.startswith("línea") for p in parts)


def test_three_short_options_are_buttons(catalogs: Catalogs) -> None:
    [shown] = lay_out(choice(3), WA_LIMITED, render_in(catalogs))
    assert [c.title for c in shown.choices()] == ["Opción 0", "Opción 1", "Opción 2"]
    assert shown.buttons and not shown.rows
    assert violations(shown, WA_LIMITED) == []


def test_four_options_are_a_list_and_long_labels_keep_the_rest_below(catalogs: Catalogs
                                                                     ) -> None:
    out = choice(4, "Sesión ordinaria del Grupo Motor número {}")
    [shown] = lay_out(out, WA_LIMITED, render_in(catalogs))
    assert not shown.buttons and len(shown.rows) == 4
    assert shown.list_label == "Ver opciones"
    assert shown.rows[0].description == "Sesión ordinaria del Grupo Motor número 0"
    assert violations(shown, WA_LIMITED) == []


def test_a_hundred_options_page_with_more_and_back_to_the_start(catalogs: Catalogs) -> None:
    render = render_in(catalogs)
    [first] = lay_out(choice(100), WA_LIMITED, render)
    assert len(first.rows) == 10 and first.rows[-1].action == "more:1"
    assert first.rows[-1].title == "Más opciones (2/12)"
    assert "Opciones: página 1 de 12." in first.text
    [last] = lay_out(replace(choice(100), page=11), WA_LIMITED, render)
    assert [c.action for c in last.rows] == ["x:99", "more:0"]
    seen = set()
    for page in range(12):
        [s] = lay_out(replace(choice(100), page=page), WA_LIMITED, render)
        assert violations(s, WA_LIMITED) == []
        seen |= {c.action for c in s.rows}
    assert {f"x:{i}" for i in range(100)} <= seen


def test_a_pager_is_two_options_and_a_line(catalogs: Catalogs) -> None:
    out = Outgoing(text=raw("Lista"), buttons=((Button(raw("Ana"), "p:1"),),),
                   pager=Pager(1, 5, "l:0", "l:2"))
    [shown] = lay_out(out, WA_LIMITED, render_in(catalogs, "en"))
    assert [c.title for c in shown.choices()] == ["Ana", "◀ Previous", "Next ▶"]
    assert shown.text.endswith("Page 2 of 5.")


def test_a_day_to_pick_is_a_list_of_days_with_the_months_and_may_be_typed(
        catalogs: Catalogs) -> None:
    out = Outgoing(text=raw("¿Qué día?"),
                   date_pick=DatePick("mt", date(2026, 4, 1), earliest=date(2026, 4, 20)))
    [shown] = lay_out(out, WA_LIMITED, render_in(catalogs))
    actions = [c.action for c in shown.rows]
    assert actions[:8] == [f"mt:d:202604{d}" for d in range(20, 28)]
    # Before April would be before the earliest day: no way back, a way forward and "more".
    assert "mt:m:202605" in actions and "mt:m:202603" not in actions
    assert actions[-1] == "more:1"
    assert "escribe la fecha" in shown.text
    [page2] = lay_out(replace(out, page=1), WA_LIMITED, render_in(catalogs))
    assert [c.action for c in page2.rows] == ["mt:d:20260428", "mt:d:20260429", "mt:d:20260430",
                                             "mt:m:202605", "more:0"]
    assert violations(page2, WA_LIMITED) == []


def test_a_month_grid_channel_gets_the_day_pick_as_it_is(catalogs: Catalogs) -> None:
    grid = replace(WA_LIMITED, month_grid=True)
    out = Outgoing(text=raw("¿Qué día?"), date_pick=DatePick("mt", date(2026, 4, 1)))
    [shown] = lay_out(out, grid, render_in(catalogs))
    assert shown.choices() == []


def test_no_phone_button_means_a_line_asking_to_type_it(catalogs: Catalogs) -> None:
    out = Outgoing(text=Msg("link.ask"), ask_phone=Msg("link.share_button"))
    [shown] = lay_out(out, WA_LIMITED, render_in(catalogs, "en"))
    assert shown.ask_phone is None and "Type your phone number" in shown.text
    phone = replace(WA_LIMITED, can_ask_phone=True)
    [shown] = lay_out(out, phone, render_in(catalogs, "en"))
    assert shown.ask_phone and "Type your phone number" not in shown.text


def test_an_edit_is_a_new_message_where_the_channel_cannot_edit(catalogs: Catalogs) -> None:
    out = Outgoing(text=raw("3 de 10"), updates="17", progress=True)
    [shown] = lay_out(out, WA_LIMITED, render_in(catalogs))
    assert shown.updates is None and shown.text == "3 de 10"


def test_a_long_text_with_options_carries_them_on_a_short_last_piece(catalogs: Catalogs
                                                                    ) -> None:
    out = Outgoing(text=raw("\n".join("y" * 70 for _ in range(100))),
                   buttons=((Button(raw("Sí"), "a:1"),),))
    shown = lay_out(out, WA_LIMITED, render_in(catalogs))
    assert len(shown) == 3 and shown[-1].choices() and not shown[0].choices()
    assert all(violations(s, WA_LIMITED) == [] for s in shown)


def test_a_document_carries_a_short_text_as_its_caption(catalogs: Catalogs) -> None:
    doc = Attachment("a.pdf", b"%PDF")
    [shown] = lay_out(Outgoing(text=raw("Tu PDF"), attachment=doc), WA_LIMITED,
                      render_in(catalogs))
    assert shown.attachment == doc and shown.text == "Tu PDF"
    long = lay_out(Outgoing(text=raw("z" * 2000), attachment=doc), WA_LIMITED,
                   render_in(catalogs))
    assert [s.attachment for s in long] == [doc, None] and long[1].text == "z" * 2000


def test_a_place_follows_its_text(catalogs: Catalogs) -> None:
    shown = lay_out(Outgoing(text=raw("Aquí"), location=(-33.0, -71.4)), WA_LIMITED,
                    render_in(catalogs))
    assert [s.location for s in shown] == [None, (-33.0, -71.4)]


def test_progress_reports_thin_out_and_the_final_state_always_arrives() -> None:
    throttle = ProgressThrottle(every=timedelta(seconds=30))
    t0 = datetime(2026, 4, 7, 12, tzinfo=UTC)

    def report(n: int, final: bool = False) -> Outgoing:
        return Outgoing(text=raw(f"{n}"), updates="9", progress=not final)

    sent = [n for n, at in [(0, 0), (5, 2), (9, 10), (20, 31), (30, 40), (40, 62)]
            if throttle.due("a", report(n), t0 + timedelta(seconds=at))]
    assert sent == [0, 20, 40]
    assert throttle.due("a", report(50, final=True), t0 + timedelta(seconds=63))
    # Another chat's report is its own.
    assert throttle.due("b", report(1), t0 + timedelta(seconds=63))
    # A message that updates nothing is never held back.
    assert throttle.due("a", Outgoing(text=raw("hola")), t0)


def test_the_limits_check_refuses_what_the_channel_would() -> None:
    from channels.layout import Choice, Shown

    four = tuple((Choice(f"B{i}", f"x:{i}"),) for i in range(4))
    assert violations(Shown(text="t", buttons=four), WA_LIMITED) == ["4 buttons"]
    long_row = Shown(text="t", rows=(Choice("x" * 25, "x:1"),), list_label="Ver")
    assert violations(long_row, WA_LIMITED) == [f"row title {'x' * 25!r}"]
    assert violations(Shown(text="t", updates="4"), WA_LIMITED) == ["an edit"]
    assert violations(Shown(text="t", ask_phone="📱"), WA_LIMITED) == ["a phone button"]
    alike = Shown(text="t", buttons=((Choice("Sí", "a:1"),), (Choice("Sí", "a:2"),)))
    assert violations(alike, WA_LIMITED) == ["titles alike: ['Sí', 'Sí']"]
    assert violations(Shown(text="y" * 1025, buttons=((Choice("Sí", "a:1"),),)),
                      WA_LIMITED) == ["text of 1025 characters with options"]
