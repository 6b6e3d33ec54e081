"""When the database cannot take a write: a full disk, a lost connection, a locked file.
Nothing is wrong with the work that meets one; it must be offered again later, never
acknowledged as done (an update acknowledged to Telegram is gone for good)."""

from __future__ import annotations

import sqlite3

from sqlalchemy import exc as sa_exc

# SQLite's primary result codes for "not now": BUSY, LOCKED, NOMEM, READONLY, IOERR, FULL,
# CANTOPEN (a test may raise one without its code: its text is read then).
_SQLITE_CODES = frozenset({5, 6, 7, 8, 10, 13, 14})
_SQLITE_WORDS = ("database or disk is full", "database is locked", "database table is locked",
                 "disk i/o error", "unable to open database", "readonly database",
                 "out of memory")
# PostgreSQL's SQLSTATE classes and codes of the same kind: a connection lost (08), no room
# or memory (53), the server shutting down (57P), an I/O error (58), a standby that takes no
# writes (25006), and the conflicts a retry resolves (40001, 40P01).
_PG_PREFIXES = ("08", "53", "57P", "58", "25006", "40001", "40P01")


class StorageUnavailable(Exception):
    """The unit of work could not be stored; try the same work again later."""


def unavailable(exc: BaseException) -> bool:
    """Whether this failure is the database's state rather than the work's fault."""
    if isinstance(exc, ConnectionError):
        return True  # asyncpg cannot reach the server (SQLAlchemy passes it on as it is)
    seen: set[int] = set()
    err: BaseException | None = exc
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        if isinstance(err, StorageUnavailable | sa_exc.TimeoutError | sa_exc.DisconnectionError):
            return True
        if isinstance(err, sa_exc.DBAPIError):
            if err.connection_invalidated:
                return True
            if _driver_says_unavailable(err.orig):
                return True
        elif _driver_says_unavailable(err):
            return True
        err = err.__cause__ or err.__context__
    return False


def reason(exc: BaseException) -> str:
    """The driver's own words, one line: never the statement or its parameters (a person's
    name or phone could be among them, and this goes to the log)."""
    err = exc.orig if isinstance(exc, sa_exc.DBAPIError) and exc.orig is not None else exc
    words = (str(err).strip().splitlines() or [""])[0]
    return f"{type(err).__name__}: {words}" if words else type(err).__name__


def _driver_says_unavailable(err: BaseException | None) -> bool:
    if err is None:
        return False
    state = getattr(err, "sqlstate", None) or getattr(err, "pgcode", None)
    if isinstance(state, str):
        return state.startswith(_PG_PREFIXES)
    if isinstance(err, sqlite3.Error):
        code = getattr(err, "sqlite_errorcode", None)
        if code is not None:
            return code & 0xFF in _SQLITE_CODES
        text = str(err).lower()
        return any(w in text for w in _SQLITE_WORDS)
    return False
