"""API keys kept in a SQLite database in the data dir, managed with ``vary keys``.

Only a SHA-256 of each key is stored, with its name and dates: the key itself is shown once, by
:meth:`KeyStore.create`, and never again. The server and the ``vary keys`` command are
different processes sharing the one file, so the database runs in WAL mode (readers never wait
for a writer) with a short busy timeout for the rare writer-writer overlap.

A running server sees a new or revoked key at its next request, without a restart, because it
asks the database on every request: no cache, so nothing to invalidate and nothing stale. In
autocommit mode every query is its own read transaction, which sees everything committed
before it. What costs is opening a connection (measured: about 0.5 ms, for the file, its locks
and the schema), so each store keeps one open: a whole lookup (a stat to notice a replaced file,
the hash, the indexed query) then takes about 20 us.
"""

from __future__ import annotations

import builtins
import hashlib
import hmac
import os
import re
import secrets
import sqlite3
import threading
import time
import weakref
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..errors import InvalidRequestError

__all__ = ["FILENAME", "KeyInfo", "KeyStore", "check_name"]

#: The database's name inside the data dir.
FILENAME = "keys.sqlite3"
_PREFIX = "sk-"
_NAME = re.compile(r"[A-Za-z0-9._-]{1,64}")
# Seconds a connection waits for another process's write. Writes are single small rows, so
# waiting longer would only mean something is wrong, while the server's event loop waits.
_BUSY_TIMEOUT = 2.0
_FINGERPRINT_CHARS = 8

_SCHEMA = """
CREATE TABLE IF NOT EXISTS api_keys (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    key_sha256 TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    revoked_at TEXT
);
-- A name may be used again once its key is revoked, so it is unique among active keys only.
CREATE UNIQUE INDEX IF NOT EXISTS api_keys_active_name ON api_keys (name)
    WHERE revoked_at IS NULL;
"""


@dataclass(frozen=True)
class KeyInfo:
    """What ``vary keys list`` shows of a key: never the key, nor enough to rebuild it."""

    name: str
    created_at: datetime
    revoked_at: datetime | None
    #: The first hex digits of the key's SHA-256, to tell keys apart.
    fingerprint: str

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def check_name(name: str) -> str:
    """``name`` if it is 1-64 letters, digits, ``.``, ``_`` or ``-``; else InvalidRequestError."""
    if not _NAME.fullmatch(name):
        raise InvalidRequestError(
            f"invalid key name {name!r}: use 1-64 letters, digits, '.', '_' or '-'",
            param="name",
            code="invalid_key_name",
        )
    return name


def _use_wal(connection: sqlite3.Connection) -> None:
    """Switch the file to WAL, which it keeps for every later connection.

    Switching takes an exclusive lock, and SQLite does not wait for that one through the busy
    timeout: two processes opening a new database at once can see "database is locked". Only
    the first switch is needed, so check first, and retry the switch for the busy timeout.
    """
    deadline = time.monotonic() + _BUSY_TIMEOUT
    while True:
        try:
            if connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal":
                return
            connection.execute("PRAGMA journal_mode=WAL")
        except sqlite3.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _digest(key: str) -> str:
    # Keys are 256 random bits, so a fast unsalted hash is right: there is no guessable secret
    # for a slow hash (bcrypt, scrypt) to protect, and every request pays for the hash.
    return hashlib.sha256(key.encode()).hexdigest()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _file_id(path: Path) -> tuple[int, int] | None:
    """Which file ``path`` is now (device, inode), or ``None`` if there is none."""
    try:
        stat = os.stat(path)
    except FileNotFoundError:
        return None
    return stat.st_dev, stat.st_ino


class KeyStore:
    """The API keys in ``<data_dir>/keys.sqlite3``.

    Safe from any thread (one connection behind a lock; queries take microseconds) and from
    any number of processes (SQLite's locking). Reading never creates the file: with no file
    there are no keys. If the file is deleted or replaced, the next call opens the new one.
    """

    def __init__(self, data_dir: Path):
        self.path = Path(data_dir) / FILENAME
        self._lock = threading.Lock()
        self._connection: sqlite3.Connection | None = None
        self._opened: tuple[int, int] | None = None
        self._close_later: weakref.finalize[Any, Any] | None = None

    def close(self) -> None:
        """Close the connection; the next call opens a new one."""
        with self._lock:
            self._disconnect()

    def _disconnect(self) -> None:
        if self._close_later is not None:
            self._close_later()  # closes the connection, once
        self._connection = self._opened = self._close_later = None

    def _connection_to(self, file: tuple[int, int]) -> sqlite3.Connection:
        """The open connection to ``file``, opened now if the one held is to another file."""
        if self._connection is not None and self._opened == file:
            return self._connection
        self._disconnect()
        # Autocommit: each statement is its own transaction, so each read sees the latest keys.
        # The lock, not sqlite3's same-thread check, keeps the connection to one thread at once.
        connection = sqlite3.connect(
            self.path, timeout=_BUSY_TIMEOUT, isolation_level=None, check_same_thread=False
        )
        # Closed with the store (or at exit) even if close() is never called.
        self._close_later = weakref.finalize(self, connection.close)
        _use_wal(connection)
        connection.executescript(_SCHEMA)
        self._connection, self._opened = connection, file
        return connection

    def _execute(self, sql: str, *params: str, create: bool = False) -> sqlite3.Cursor | None:
        """Run one statement; ``None`` if there is no database and ``create`` is false."""
        with self._lock:
            file = _file_id(self.path)
            if file is None and create:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self.path.touch()  # an empty file is an empty database; the schema follows
                file = _file_id(self.path)
            if file is None:
                self._disconnect()
                return None
            return self._connection_to(file).execute(sql, params)

    def _rows(self, sql: str, *params: str) -> builtins.list[Any]:
        cursor = self._execute(sql, *params)
        return [] if cursor is None else cursor.fetchall()

    def create(self, name: str) -> str:
        """A new key named ``name``: the only time the key itself is ever available."""
        check_name(name)
        key = _PREFIX + secrets.token_urlsafe(32)
        try:
            self._execute(
                "INSERT INTO api_keys (name, key_sha256, created_at) VALUES (?, ?, ?)",
                name,
                _digest(key),
                _now(),
                create=True,
            )
        except sqlite3.IntegrityError:
            raise InvalidRequestError(
                f"an active key named {name!r} exists already: revoke it or choose another name",
                param="name",
                code="duplicate_key_name",
            ) from None
        return key

    def list(self) -> builtins.list[KeyInfo]:
        """Every key, active or revoked, oldest first."""
        rows = self._rows(
            "SELECT name, created_at, revoked_at, key_sha256 FROM api_keys ORDER BY id"
        )
        return [
            KeyInfo(
                name=name,
                created_at=datetime.fromisoformat(created),
                revoked_at=datetime.fromisoformat(revoked) if revoked else None,
                fingerprint=digest[:_FINGERPRINT_CHARS],
            )
            for name, created, revoked, digest in rows
        ]

    def revoke(self, name: str) -> bool:
        """Revoke the active key called ``name``; ``False`` if there is none."""
        cursor = self._execute(
            "UPDATE api_keys SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL",
            _now(),
            name,
        )
        return cursor is not None and cursor.rowcount > 0

    def lookup(self, key: str) -> str | None:
        """The name of the active key ``key``, or ``None``."""
        digest = _digest(key)
        # The index finds the row by hash, so its timing could only tell an attacker about the
        # hash of what they sent, never about a stored key (that would take a preimage of
        # SHA-256). The final comparison is constant-time all the same.
        rows = self._rows(
            "SELECT name, key_sha256 FROM api_keys WHERE key_sha256 = ? AND revoked_at IS NULL",
            digest,
        )
        for name, stored in rows:
            if hmac.compare_digest(stored, digest):
                return str(name)
        return None

    def has_active_keys(self) -> bool:
        """Whether any key is active now."""
        return bool(self._rows("SELECT 1 FROM api_keys WHERE revoked_at IS NULL LIMIT 1"))

    def has_keys(self) -> bool:
        """Whether any key was ever created, revoked ones included.

        The server wants a key from then on: revoking the last key must lock the server, not
        open it to everyone.
        """
        return bool(self._rows("SELECT 1 FROM api_keys LIMIT 1"))
