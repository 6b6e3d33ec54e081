"""`convoca run` as it is, timed from inside, for bench.scheduler:

    python -m bench.startup_probe run [--demo]      # what `python -m bot run [--demo]` does

Imports nothing of its own but the standard library, so it loads exactly what the run loads
(with TELEGRAM_DRIVER=ptb, nothing of aiogram). It notes when Python reached it (the
interpreter's own start-up is before that), times every import the run makes from then on
(each outermost `import` that loads a module, wherever it happens: at start, or inside a
function the first time it runs),
then calls bot.cli.main. At exit it writes to $CONVOCA_BENCH_MARK, as JSON: `started` (its
first line, time.monotonic(), the clock the fake stamps getUpdates with), `imports` (each
outermost import of a new module: its end and cumulative seconds so far, so the import time
before the first getUpdates can be read off), and the Telegram libraries the process had
loaded."""

from __future__ import annotations

import time

STARTED = time.monotonic()

import atexit  # noqa: E402
import builtins  # noqa: E402
import importlib  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402

LIBRARIES = ("aiogram", "telegram", "aiohttp", "httpx", "fpdf", "openpyxl", "PIL",
             "matplotlib", "reportlab", "starlette", "uvicorn")
_main = threading.main_thread().ident
_depth = 0  # > 0 while the main thread is inside an outermost import
_total = 0.0
_timeline: list[tuple[float, float, str]] = []  # (ended at, cumulative s, module)
_import = builtins.__import__
_import_module = importlib.import_module


def _timed(load, *args):
    """`load(*args)`, timed when it is the main thread's outermost import; noted when it
    loaded something new. Nested imports pass straight through (tens of thousands of them:
    pydantic and others import inside functions)."""
    global _depth, _total
    if _depth or threading.get_ident() != _main:
        return load(*args)
    _depth = 1
    before = len(sys.modules)
    t0 = time.perf_counter()
    try:
        return load(*args)
    finally:
        took = time.perf_counter() - t0
        _depth = 0
        if len(sys.modules) != before:
            _total += took
            _timeline.append((time.monotonic(), _total, str(args[0])))


def _probe_import(name, globals=None, locals=None, fromlist=(), level=0):
    if _depth:
        return _import(name, globals, locals, fromlist, level)
    return _timed(_import, name, globals, locals, fromlist, level)


def _probe_import_module(name, package=None):
    return _timed(_import_module, name, package)


def _report() -> None:
    path = os.environ.get("CONVOCA_BENCH_MARK")
    if not path:
        return
    loaded = sorted({m.split(".")[0] for m in sys.modules} & set(LIBRARIES))
    with open(path, "w") as f:
        json.dump({"started": STARTED, "imports": _timeline, "libraries": loaded}, f)


if __name__ == "__main__":
    builtins.__import__ = _probe_import
    importlib.import_module = _probe_import_module
    atexit.register(_report)
    import bot.cli

    sys.exit(bot.cli.main(sys.argv[1:] or ["run"]))
