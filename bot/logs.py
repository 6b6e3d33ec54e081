"""Where log records go: configured once, in ``main``, for as long as the command runs.

The console and the command line are conversations with a person, so records go to a log
file and never between the lines that person reads; a warning or error still reaches the
operator as one short line on stderr, in their language, pointing at that file. A server
(Telegram mode, the worker) has no one reading its terminal but an operator, so it logs to
stderr. Other libraries speak only from WARNING up: fontTools alone writes ~75 INFO lines per
PDF it subsets."""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

OWN = ("convoca", "bot", "handlers", "scheduler", "storage", "locales")
# Quiet by default even if the library sets a level of its own on import.
# httpx logs every request's address at INFO, and a Bot API address holds the bot's token.
LIBRARIES = ("fontTools", "fpdf", "aiogram", "aiohttp", "aiosqlite", "asyncpg", "sqlalchemy",
             "apscheduler", "alembic", "asyncio", "segno", "openpyxl", "PIL", "telegram",
             "httpx", "httpcore", "uvicorn")
DEFAULT_FILE = Path("data") / "convoca.log"
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class _LogFile(logging.FileHandler):
    """Opened (and its folder made) only when there is something to write."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, encoding="utf-8", delay=True)

    def _open(self):
        Path(self.baseFilename).parent.mkdir(parents=True, exist_ok=True)
        return super()._open()


class _OperatorLine(logging.Handler):
    """One short line per kind of problem: the details are in the file, and a failure that
    repeats every few seconds must not bury the conversation."""

    def __init__(self, line: Callable[[logging.LogRecord], str]) -> None:
        super().__init__(logging.WARNING)
        self.line = line
        self.seen: set[tuple[str, object]] = set()

    def emit(self, record: logging.LogRecord) -> None:
        kind = (record.name, record.msg)
        if kind in self.seen:
            return
        self.seen.add(kind)
        try:
            print(self.line(record), file=sys.stderr, flush=True)
        except Exception:
            self.handleError(record)


class Redacted(logging.Filter):
    """Secrets never reach a log: a library may write a token into a message (PTB's refused
    token at start, a Bot API address in a network error), or a traceback may show one."""

    def __init__(self, secrets: Iterable[str | None]) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s and len(s) >= 8]

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        try:
            text = record.getMessage()
        except Exception:  # a call with wrong arguments: the handler reports it, as ever
            return True
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        exc_text, stack = record.exc_text or "", record.stack_info or ""
        if any(s in text or s in exc_text or s in stack for s in self.secrets):
            record.msg, record.args = self.clean(text), None
            record.exc_text = self.clean(exc_text) or None
            record.stack_info = self.clean(stack) or None
        return True

    def clean(self, text: str) -> str:
        for s in self.secrets:
            text = text.replace(s, "<secret>")
        return text


@contextlib.contextmanager
def configured(*, verbose: bool, server: bool, file: Path | None,
               operator_line: Callable[[logging.LogRecord], str],
               secrets: Iterable[str | None] = ()) -> Iterator[Path | None]:
    """Route the records while the command runs; yields the log file, if any. ``file`` is
    where the console and CLI write (LOG_FILE, else DEFAULT_FILE); a server writes there too
    only when LOG_FILE names one. ``secrets`` are written as <secret> wherever they show."""
    handlers: list[logging.Handler] = []
    if server:
        stream = logging.StreamHandler(sys.stderr)
        stream.setFormatter(logging.Formatter(FORMAT))
        handlers.append(stream)
    else:
        file = file or DEFAULT_FILE
        handlers.append(_OperatorLine(operator_line))
    if file is not None:
        to_file = _LogFile(file)
        to_file.setFormatter(logging.Formatter(FORMAT))
        handlers.append(to_file)

    root = logging.getLogger()
    touched = {name: logging.getLogger(name).level for name in (*OWN, *LIBRARIES)}
    before = root.level
    root.setLevel(logging.WARNING)
    for name in LIBRARIES:
        logging.getLogger(name).setLevel(logging.WARNING)
    for name in OWN:
        logging.getLogger(name).setLevel(logging.DEBUG if verbose else logging.INFO)
    redacted = Redacted(secrets)
    for h in handlers:
        h.addFilter(redacted)
        root.addHandler(h)
    try:
        yield file
    finally:
        # Undone on the way out, so that main() called twice in one process (the tests)
        # does not write twice, nor into a file of a run that is over.
        for h in handlers:
            root.removeHandler(h)
            h.close()
        root.setLevel(before)
        for name, level in touched.items():
            logging.getLogger(name).setLevel(level)
