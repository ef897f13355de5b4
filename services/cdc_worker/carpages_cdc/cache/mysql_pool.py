"""Reused MySQL connections for the builder: opening one costs more than a small batch's reads.

pymysql builds a TLS context (loading the system CA bundle) and runs the handshake for every new
connection: tens of milliseconds, which used to be most of the applier's time per change. The
pool hands out idle connections instead. `close()` on a lent connection ends its transaction
(ROLLBACK: the builder only reads) and puts it back, so each use still starts a new snapshot,
exactly as a fresh connection would; a connection whose rollback fails is dropped. One that sat
idle for long is pinged before it is lent again (the server may have closed it meanwhile).
Thread-safe: the applier, the sampled reconcile and a full rebuild may borrow at once.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from typing import Any

import pymysql

Connection = Any  # pymysql.connections.Connection (generic only in its stubs)
IDLE_PING_S = 30.0
"""A connection idle this long is pinged before it is lent (cheap against a dead socket)."""


class Lent:
    """A pooled connection as the builder sees it: `close()` returns it to the pool."""

    def __init__(self, pool: ConnectionPool, conn: Connection) -> None:
        self._pool = pool
        self._conn: Connection | None = conn

    @property
    def client_flag(self) -> int:
        """The underlying connection's capability flags (e.g. multi-statements)."""
        assert self._conn is not None, "connection already returned"
        return int(self._conn.client_flag)

    def cursor(self) -> Any:
        """A cursor of the underlying connection."""
        assert self._conn is not None, "connection already returned"
        return self._conn.cursor()

    def commit(self) -> None:
        """Commit the current transaction."""
        assert self._conn is not None, "connection already returned"
        self._conn.commit()

    def rollback(self) -> None:
        """Roll the current transaction back."""
        assert self._conn is not None, "connection already returned"
        self._conn.rollback()

    def close(self) -> None:
        """End the transaction and give the connection back (idempotent)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            self._pool.give_back(conn)


class ConnectionPool:
    """At most `keep` idle connections made by `connect`; calling the pool lends one."""

    def __init__(self, connect: Callable[[], Connection], keep: int = 4) -> None:
        self._connect = connect
        self._keep = keep
        self._idle: list[tuple[Connection, float]] = []
        self._lock = threading.Lock()
        self._closed = False

    def __call__(self) -> Lent:
        """Lend a connection (an idle one if any, else a new one)."""
        while True:
            with self._lock:
                conn, since = self._idle.pop() if self._idle else (None, 0.0)
            if conn is None:
                return Lent(self, self._connect())
            if time.monotonic() - since < IDLE_PING_S or self._alive(conn):
                return Lent(self, conn)

    @staticmethod
    def _alive(conn: Connection) -> bool:
        try:
            conn.ping(reconnect=False)
            return True
        except pymysql.err.Error:
            with contextlib.suppress(Exception):
                conn.close()
            return False

    def give_back(self, conn: Connection) -> None:
        """Take a connection back after ending its transaction; drop it if that fails."""
        try:
            conn.rollback()
        except (pymysql.err.Error, OSError):
            with contextlib.suppress(Exception):
                conn.close()
            return
        with self._lock:
            if not self._closed and len(self._idle) < self._keep:
                self._idle.append((conn, time.monotonic()))
                return
        conn.close()

    def close(self) -> None:
        """Close every idle connection; connections still lent are closed when returned."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn, _ in idle:
            with contextlib.suppress(Exception):
                conn.close()
