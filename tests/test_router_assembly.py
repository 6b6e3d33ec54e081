"""One router, assembled in handlers/routes.py: a command, button prefix, flow, panel section
or fallback claimed twice stops the assembly with both handlers named, and `convoca run`
says so in one line instead of starting with one of them silently dead."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

from bot.cli import main
from handlers import admin, general, routes
from handlers.core import RouteConflict, Router, Turn

ROOT = Path(__file__).resolve().parents[1]


async def ayuda_again(turn: Turn) -> None:
    turn.say("help.everyone")


async def other_fallback(turn: Turn) -> None:
    turn.say("input.not_understood")


def test_two_routers_with_the_same_command_name_both_handlers() -> None:
    mine = Router()
    mine.command("ayuda")(ayuda_again)
    with pytest.raises(RouteConflict) as raised:
        Router().include(general.router).include(mine)
    assert str(raised.value) == (
        "the command /ayuda is registered twice: by handlers.general:help_ and by "
        "test_router_assembly:ayuda_again")


def test_one_router_refuses_a_command_it_already_has() -> None:
    r = Router()
    r.command("hola")(ayuda_again)
    with pytest.raises(RouteConflict, match=r"/hola .* by test_router_assembly:other_fallback"):
        r.command("hola")(other_fallback)
    assert r.commands == {"hola": ayuda_again}


def test_a_button_prefix_or_a_flow_claimed_twice_is_refused() -> None:
    a, b = Router(), Router()
    a.on_action("rsvp")(ayuda_again)
    b.on_action("rsvp")(other_fallback)
    with pytest.raises(RouteConflict, match="the button prefix 'rsvp' is registered twice"):
        Router().include(a).include(b)
    a.flow("form")(ayuda_again)
    with pytest.raises(RouteConflict, match="the flow 'form' is registered twice"):
        a.flow("form")(other_fallback)


def test_two_fallbacks_are_refused() -> None:
    a, b = Router(), Router()
    a.fallback = general.fallback
    b.fallback = other_fallback
    with pytest.raises(RouteConflict) as raised:
        Router().include(a).include(b)
    assert (raised.value.first, raised.value.second) == (
        "handlers.general:fallback", "test_router_assembly:other_fallback")
    with pytest.raises(RouteConflict, match="the fallback is registered twice"):
        a.fallback = other_fallback


def test_a_panel_section_or_verb_claimed_twice_is_refused() -> None:
    with pytest.raises(RouteConflict, match=r"panel section 'catastro' .* handlers\.admin\."
                                            r"catastro:open_section and by test_router"):
        admin.section("catastro", "catastro.section")(ayuda_again)  # type: ignore[arg-type]
    verbs = admin.Verbs()
    verbs("list")(ayuda_again)  # type: ignore[arg-type]
    with pytest.raises(RouteConflict, match="the panel verb 'list' is registered twice"):
        verbs("list")(other_fallback)  # type: ignore[arg-type]


def test_the_real_router_builds_with_every_area_and_one_fallback() -> None:
    router = routes.build_router()
    for area in routes.AREAS:
        assert area.fallback is None  # the assembler alone chooses what nobody else takes
        for table in ("commands", "actions", "flows"):
            assert getattr(area, table).items() <= getattr(router, table).items()
    assert router.fallback is routes.anything_else
    assert {"start", "ayuda", "panel", "formularios", "retiro", "reuniones", "mis_datos",
            "etapas"} <= set(router.commands)
    # A form's command (/ficha) is its programme's: found by the forms area, not by name.
    assert "ficha" not in router.commands and router.other_commands is not None


def _imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
    return names


def test_no_area_module_imports_the_assembler_and_general_imports_no_admin_section() -> None:
    for path in sorted((ROOT / "handlers").rglob("*.py")):
        if path.name != "routes.py":
            assert "handlers.routes" not in _imported_modules(path), path
    assert not {m for m in _imported_modules(ROOT / "handlers" / "general.py")
                if m.startswith("handlers.admin")}


def test_convoca_run_says_in_one_line_that_a_command_is_claimed_twice(
        cli_env: str, capsys, monkeypatch) -> None:
    mine = Router()
    mine.command("ayuda")(ayuda_again)
    monkeypatch.setattr(routes, "AREAS", (*routes.AREAS, mine))
    assert main(["run"]) == 1
    assert capsys.readouterr().err == (
        "convoca: No puedo arrancar: dos partes del bot responden a lo mismo (the command "
        "/ayuda is registered twice: by handlers.general:help_ and by "
        "test_router_assembly:ayuda_again). Hay que corregir el código.\n")
    assert not Path("cli.sqlite3").exists()  # refused before the database was opened


def test_a_module_that_claims_a_route_twice_as_it_is_imported_stops_convoca_run_too(
        cli_env: str, capsys, monkeypatch, tmp_path: Path) -> None:
    import handlers

    # A routes module whose import fails the way an area module's would.
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "routes.py").write_text(
        "from handlers.core import Router\n"
        "router = Router()\n"
        "async def one(turn): pass\n"
        "async def two(turn): pass\n"
        "router.flow('form')(one)\n"
        "router.flow('form')(two)\n")
    monkeypatch.setattr(handlers, "__path__", [str(broken), *handlers.__path__])
    monkeypatch.delitem(sys.modules, "handlers.routes")
    monkeypatch.delattr(handlers, "routes")
    assert main(["run"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("convoca: No puedo arrancar") and err.count("\n") == 1, err
    assert "the flow 'form' is registered twice: by handlers.routes:one and by " \
           "handlers.routes:two" in err
