"""Each benchmark in bench/ at a tiny size, so the benchmarks cannot rot: it runs to the end
and writes well-formed results. Nothing here is about speed (no timed assertions); the
numbers are in BENCHMARKS.md."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import (  # noqa: E402
    broadcast,
    latency,
    scheduler,
    throughput,
    web_pages,
    whatsapp_broadcast,
)
from bench.common import percentile, summary  # noqa: E402


def latest(out: Path, name: str) -> dict:
    data = json.loads((out / f"{name}-latest.json").read_text())
    assert data["benchmark"] == name
    assert data["machine"]["nproc"] >= 1 and data["machine"]["python"].startswith("3.")
    return data


def test_statistics_helpers() -> None:
    assert percentile([5, 1, 4, 2, 3], 50) == 3
    assert percentile(list(range(1, 101)), 99) == 99
    s = summary([3.0, 1.0, 2.0])
    assert (s["median"], s["min"], s["max"], s["n"]) == (2.0, 1.0, 3.0, 3)


async def run_in_thread(main, argv: list[str]) -> int:
    # Each benchmark owns its event loop (asyncio.run); keep it off the test's loop.
    import asyncio

    return await asyncio.to_thread(main, argv)


async def test_throughput_echo_against_convoca_on_both_drivers(tmp_path: Path) -> None:
    code = await run_in_thread(throughput.main, [
        "--runs", "1", "--people", "2", "--duration", "0.6", "--warmup", "0.2",
        "--variants", "echo,sqlite", "--drivers", "aiogram,ptb", "--in-process",
        "--out", str(tmp_path)])
    assert code == 0
    data = latest(tmp_path, "throughput")
    assert set(data["windows"]["2"]) == {"aiogram", "ptb"}
    for driver, windows in data["windows"]["2"].items():
        assert set(windows) == {"echo", "sqlite"}
        for ws in windows.values():
            [w] = ws
            assert w["people"] == 2 and w["errors"] == 0 and w["seconds"] > 0
            assert w["updates"] > 0 and w["updates_per_s"] > 0  # each bot answered
            # Every request came from the driver's own library (the fake checks its agent).
            assert w["violations"] == [] and w["webhook_errors"] == 0, driver
        assert "ratio_to_echo" in data["summary"]["2"][driver]["sqlite"]


async def test_two_convoca_processes_share_one_postgresql_database(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    from bench import common

    base = os.environ.get("CONVOCA_TEST_POSTGRES_URL")
    if not base:
        pytest.skip("needs CONVOCA_TEST_POSTGRES_URL (set by .ci/run)")
    monkeypatch.setattr(common, "PG_BASE", base)
    code = await run_in_thread(throughput.main, [
        "--runs", "1", "--people", "4", "--duration", "0.6", "--warmup", "0.3",
        "--variants", "postgres2", "--drivers", "ptb", "--in-process", "--out", str(tmp_path)])
    assert code == 0
    [w] = latest(tmp_path, "throughput")["windows"]["4"]["ptb"]["postgres2"]
    assert w["processes"] == 2 and w["errors"] == 0 and w["webhook_errors"] == 0
    assert w["violations"] == []


async def test_latency_with_people_thinking(tmp_path: Path) -> None:
    code = await run_in_thread(latency.main, [
        "--runs", "1", "--people", "3", "--think", "0.05", "--duration", "0.6",
        "--warmup", "0.2", "--variants", "sqlite", "--drivers", "aiogram,ptb",
        "--in-process", "--out", str(tmp_path)])
    assert code == 0
    data = latest(tmp_path, "latency")
    for driver in ("aiogram", "ptb"):
        [w] = data["runs"][driver]["sqlite"]
        assert w["errors"] == 0 and w["updates"] == len(w["latencies_ms"])
        assert all(x >= 0 for x in w["latencies_ms"]) and w["violations"] == []
        assert set(data["summary"][driver]["sqlite"]) >= {"p50_ms", "p99_ms", "updates_per_s"}


async def test_broadcast_delivers_each_notice_once(tmp_path: Path) -> None:
    code = await run_in_thread(broadcast.main, [
        "--runs", "1", "--only", "none,300,bare", "--recipients", "12",
        "--drivers", "aiogram,ptb", "--in-process", "--out", str(tmp_path)])
    assert code == 0
    data = latest(tmp_path, "broadcast")
    for driver in ("aiogram", "ptb"):
        for label in ("none", "300", "bare@32"):
            [r] = data["runs"][driver][label]
            assert r["recipients"] == 12 and r["lost"] == 0 and r["duplicated"] == 0
            assert r["violations"] == [] and r["rate_per_s"] > 0 and r["driver"] == driver
            if label != "bare@32":  # the bare library has no database
                assert r["states"] == {"sent": 12}


async def test_whatsapp_broadcast_reaches_each_family_once(tmp_path: Path) -> None:
    # `convoca worker` in a process of its own, as measured (its start-up is a few seconds).
    code = await run_in_thread(whatsapp_broadcast.main, [
        "--runs", "1", "--only", "80", "--recipients", "12", "--out", str(tmp_path)])
    assert code == 0
    data = latest(tmp_path, "whatsapp_broadcast")
    for label in ("80",):  # the paced one: a second worker's start-up would buy nothing more
        [r] = data["runs"][label]
        assert r["recipients"] == 12 and r["lost"] == 0 and r["doubled"] == 0
        assert r["states"] == {"sent": 12} and r["violations"] == []
        assert r["templates"] == 12  # paper consent, never wrote: the approved template
        assert r["rate_per_s"] > 0 and r["max_per_second"] <= 80


async def test_scheduler_claim_and_planner(tmp_path: Path) -> None:
    code = await run_in_thread(scheduler.main, [
        "--runs", "1", "--only", "claim,planner", "--dbs", "sqlite", "--pending", "40",
        "--repeat", "2", "--programmes", "1", "--out", str(tmp_path)])
    assert code == 0
    data = latest(tmp_path, "scheduler")
    claim = data["claim"]["sqlite"]["40"]
    assert claim["total_ms"]["n"] == 1 and claim["maxrss_mb"]["median"] > 0
    planner = data["planner"]["1"]
    assert planner["rows"]["pickups"] == scheduler.DAYS * scheduler.FAMILIES
    assert planner["due_ms"]["n"] == 1 and planner["next_fire_ms"]["n"] == 1


def test_import_cost_is_read_from_importtime() -> None:
    top = scheduler.importtime("json")
    assert "json" in top and top["json"] >= 0


def test_aiogram_with_models_built_on_first_use_still_reads_an_update() -> None:
    from bench import aiogram_lazy_probe

    proc = subprocess.run([sys.executable, "-m", "bench.aiogram_lazy_probe", "lazy"],
                          capture_output=True, text=True, check=True, timeout=300,
                          cwd=Path(aiogram_lazy_probe.__file__).parents[1])
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["mode"] == "lazy" and result["import_s"] > 0 and result["maxrss_mb"] > 0


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")
async def test_startup_reaches_get_updates_on_each_driver(tmp_path: Path) -> None:
    code = await run_in_thread(scheduler.main, [
        "--runs", "1", "--only", "startup", "--startup-pending", "30", "--settle", "0.2",
        "--drivers", "aiogram,ptb", "--out", str(tmp_path)])
    assert code == 0
    startup = latest(tmp_path, "scheduler")["startup"]
    for driver, library in (("aiogram", "aiogram"), ("ptb", "telegram")):
        e = startup["drivers"][driver]
        assert e["exec_to_getupdates_s"]["n"] == 1 and e["peak_rss_mb"]["median"] > 0
        assert e["imports_s"]["n"] == 1 and e["convoca_s"]["n"] == 1
        assert e["violations"] == 0
        assert library in e["libraries"]
    # The driver chosen is the only Telegram library the process loads.
    assert "aiogram" not in startup["drivers"]["ptb"]["libraries"]
    assert "telegram" not in startup["drivers"]["aiogram"]["libraries"]


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")
async def test_console_demo_answers_and_reports_its_memory(tmp_path: Path) -> None:
    code = await run_in_thread(scheduler.main, [
        "--runs", "1", "--only", "console", "--console-settle", "0.1", "--out", str(tmp_path)])
    assert code == 0
    console = latest(tmp_path, "scheduler")["console"]
    [r] = console["runs"]
    assert r["answered"] == len(scheduler.DEMO_LINES) and r["exit"] == 0
    assert r["exec_to_prompt_s"] > 0 and r["peak_rss_mb"] > 0 and r["imports_s"] > 0
    assert not {"aiogram", "telegram"} & set(console["libraries"])  # console only


def test_importtime_is_read_as_a_tree() -> None:
    # -X importtime writes a module after what it imported, one level deeper.
    stderr = "\n".join([
        "import time: self [us] | cumulative | imported package",
        "import time:       100 |        100 |     fpdf.fonts",
        "import time:       300 |        300 |     PIL",
        "import time:       200 |        500 |   fpdf.image",
        "import time:       400 |       1000 | fpdf",
        "import time:        50 |         50 | json",
    ])
    top = scheduler.parse_importtime(stderr)
    assert top["fpdf"] == top["pkg:fpdf"] == 0.001 and top["json"] == 0.00005
    assert top["pkg:PIL"] == 0.0003  # imported by fpdf, counted for PIL too


async def test_web_pages_render_signed_in_and_list_the_missing_ones(tmp_path: Path) -> None:
    code = await run_in_thread(web_pages.main, [
        "--runs", "1", "--families", "6", "--organisations", "3", "--meetings", "3",
        "--days", "2", "--broadcasts", "1", "--dbs", "sqlite", "--out", str(tmp_path)])
    assert code == 0
    data = latest(tmp_path, "web_pages")
    result = data["sqlite"]
    assert result["rows"]["families"] == 6 and result["rows"]["orgs"] == 3
    assert result["rows"]["pickups"] == 12 and result["rows"]["outbox"] > 0
    pages = result["pages"]
    # Every section is there, timed or listed as not built yet; Inicio renders signed in.
    from web.sections import SECTIONS

    assert {e["label"] for e in pages.values()} >= set(SECTIONS)
    inicio = next(e for e in pages.values() if e["label"] == "inicio")
    assert inicio["status"] == 200 and inicio["ms"]["n"] == 1 and inicio["ms"]["median"] > 0
    assert inicio["statements"] > 0  # the session, the programme, the stages at least
    for path, e in pages.items():
        assert ("ms" in e) == (e["status"] == 200), path
        assert e["status"] in (200, 404), f"{path} answered {e['status']}"
    assert set(result["missing"]) == {p for p, e in pages.items() if e["status"] == 404}
