"""The publisher's own state in MySQL, schema `carpages_cdc` (the CDC user owns it): checkpoint,
lease and heartbeat rows, one per pipeline name. Never a local file: a replacement pod on
another node resumes from the same checkpoint, and the rows replicate with the database.

Blocking pymysql calls; the publisher runs them in a thread. One connection, re-opened when it
drops, used under a lock.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import pymysql

from carpages_cdc.position import Checkpoint
from carpages_cdc.publish import binlog_server
from carpages_cdc.settings import CDC_SCHEMA

T = TypeVar("T")

DDL = (
    f"CREATE DATABASE IF NOT EXISTS {CDC_SCHEMA} CHARACTER SET utf8mb4",
    f"""CREATE TABLE IF NOT EXISTS {CDC_SCHEMA}.checkpoint (
        name VARCHAR(100) NOT NULL PRIMARY KEY,
        file VARCHAR(255) NOT NULL,
        pos BIGINT UNSIGNED NOT NULL,
        gtid TEXT NULL,
        saved_by VARCHAR(255) NOT NULL,
        saved_at DATETIME(6) NOT NULL) ENGINE=InnoDB""",
    f"""CREATE TABLE IF NOT EXISTS {CDC_SCHEMA}.lease (
        name VARCHAR(100) NOT NULL PRIMARY KEY,
        owner VARCHAR(255) NOT NULL,
        expires_at DATETIME(6) NOT NULL,
        epoch BIGINT UNSIGNED NOT NULL DEFAULT 1) ENGINE=InnoDB""",
    f"""CREATE TABLE IF NOT EXISTS {CDC_SCHEMA}.heartbeat (
        name VARCHAR(100) NOT NULL PRIMARY KEY,
        ts DATETIME(6) NOT NULL) ENGINE=InnoDB""",
)


class LeaseLost(RuntimeError):
    """Another publisher holds the lease: this one must stop publishing and checkpointing."""


class CdcStore:
    """Checkpoint, lease and heartbeat rows of one pipeline."""

    def __init__(self, url: str, name: str, owner: str) -> None:
        self.url = url
        self.name = name
        self.owner = owner
        self._conn: Any = None
        self._lock = threading.Lock()

    def _run(self, work: Callable[[Any], T]) -> T:
        with self._lock:
            for attempt in (1, 2):
                if self._conn is None:
                    self._conn = binlog_server.connect(self.url, autocommit=False)
                try:
                    return work(self._conn)
                except (pymysql.err.OperationalError, pymysql.err.InterfaceError) as exc:
                    self._close()
                    # A connection that died while idle (server restart, KILL, wait_timeout)
                    # gets one fresh try; every operation here is safe to repeat.
                    if attempt == 2 or exc.args[:1] not in ((2006,), (2013,), (0,)):
                        raise
                except BaseException:
                    self._conn.rollback()
                    raise
            raise AssertionError("unreachable")

    def _close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(pymysql.err.Error):
                conn.close()

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._close()

    def create_tables(self) -> None:
        """Create the schema and tables if missing."""
        def work(conn: Any) -> None:
            with conn.cursor() as cur:
                # Only when missing: even IF NOT EXISTS DDL is written to the binlog.
                cur.execute("SELECT TABLE_NAME FROM information_schema.TABLES "
                            "WHERE TABLE_SCHEMA = %s", (CDC_SCHEMA,))
                if {"checkpoint", "lease", "heartbeat"} <= {r[0] for r in cur.fetchall()}:
                    return
                for statement in DDL:
                    cur.execute(statement)
            conn.commit()
        self._run(work)

    # ------------------------------------------------------------------ checkpoint
    def load(self) -> Checkpoint | None:
        """The saved checkpoint, or None before the first."""
        def work(conn: Any) -> Checkpoint | None:
            with conn.cursor() as cur:
                cur.execute(f"SELECT file, pos, gtid FROM {CDC_SCHEMA}.checkpoint "
                            "WHERE name = %s", (self.name,))
                row = cur.fetchone()
            conn.commit()
            return Checkpoint(row[0], int(row[1]), row[2]) if row else None
        return self._run(work)

    def save(self, checkpoint: Checkpoint) -> None:
        """Save a checkpoint, only while we hold the lease (a deposed publisher cannot)."""
        def work(conn: Any) -> None:
            with conn.cursor() as cur:
                cur.execute(f"SELECT owner = %s AND expires_at > UTC_TIMESTAMP(6) "
                            f"FROM {CDC_SCHEMA}.lease WHERE name = %s FOR UPDATE",
                            (self.owner, self.name))
                row = cur.fetchone()
                if not row or not row[0]:
                    raise LeaseLost(f"lease {self.name!r} is not held by {self.owner}")
                cur.execute(
                    f"INSERT INTO {CDC_SCHEMA}.checkpoint (name, file, pos, gtid, saved_by, "
                    "saved_at) VALUES (%s, %s, %s, %s, %s, UTC_TIMESTAMP(6)) "
                    "ON DUPLICATE KEY UPDATE file = VALUES(file), pos = VALUES(pos), "
                    "gtid = VALUES(gtid), saved_by = VALUES(saved_by), saved_at = VALUES(saved_at)",
                    (self.name, checkpoint.file, checkpoint.pos, checkpoint.gtid, self.owner))
            conn.commit()
        self._run(work)

    def forget(self) -> None:
        """Delete the checkpoint (the next start bootstraps)."""
        def work(conn: Any) -> None:
            with conn.cursor() as cur:
                cur.execute(f"DELETE FROM {CDC_SCHEMA}.checkpoint WHERE name = %s", (self.name,))
            conn.commit()
        self._run(work)

    # ------------------------------------------------------------------ lease
    def lock_name(self) -> str:
        """The server-side named lock (GET_LOCK) the lease holder's session keeps."""
        return f"carpages_cdc.lease.{self.name}"[:64]

    def try_acquire(self, ttl_s: float) -> tuple[bool, str]:
        """Take or renew the lease if free, expired, ours, or held by a dead process; returns
        (held, current owner).

        Besides the row, the holder's MySQL session keeps a named lock (GET_LOCK), which the
        server releases the moment that session ends. A contender that gets the lock knows no
        live publisher holds the lease, so a killed holder's lease is taken over at once
        instead of after its TTL; the row (owner, epoch, expiry) still fences the checkpoint.
        A holder whose session dropped (a MySQL restart) takes the lock again on its next
        renewal, unless a contender got there first: then its renewal fails and it stands by.
        """
        ttl_us = int(ttl_s * 1_000_000)
        lock = self.lock_name()

        def work(conn: Any) -> tuple[bool, str]:
            with conn.cursor() as cur:
                cur.execute("SELECT IS_USED_LOCK(%s) = CONNECTION_ID()", (lock,))
                alone = bool((cur.fetchone() or (0,))[0])
                if not alone:
                    cur.execute("SELECT GET_LOCK(%s, 0)", (lock,))
                    alone = (cur.fetchone() or (0,))[0] == 1
                cur.execute(f"SELECT owner, expires_at > UTC_TIMESTAMP(6) FROM {CDC_SCHEMA}.lease "
                            "WHERE name = %s FOR UPDATE", (self.name,))
                row = cur.fetchone()
                if not alone:
                    # A live session holds the lock: that publisher keeps (or is taking) it.
                    conn.rollback()
                    return False, str(row[0]) if row else "(another publisher)"
                if row is None:
                    try:
                        cur.execute(f"INSERT INTO {CDC_SCHEMA}.lease (name, owner, expires_at) "
                                    "VALUES (%s, %s, UTC_TIMESTAMP(6) + INTERVAL %s MICROSECOND)",
                                    (self.name, self.owner, ttl_us))
                    except pymysql.err.IntegrityError:
                        conn.rollback()  # someone inserted first
                        return False, "(another publisher)"
                else:
                    # Ours, expired, or its holder's session is gone (we have the lock).
                    # MySQL assigns left to right: the epoch compares the *old* owner.
                    cur.execute(f"UPDATE {CDC_SCHEMA}.lease SET "
                                "epoch = epoch + IF(owner = %s, 0, 1), owner = %s, "
                                "expires_at = UTC_TIMESTAMP(6) + INTERVAL %s MICROSECOND "
                                "WHERE name = %s", (self.owner, self.owner, ttl_us, self.name))
            conn.commit()
            return True, self.owner
        return self._run(work)

    def release(self) -> None:
        """Give the lease up at once (a standby takes over without waiting for the expiry)."""
        def work(conn: Any) -> None:
            with conn.cursor() as cur:
                cur.execute(f"DELETE FROM {CDC_SCHEMA}.lease WHERE name = %s AND owner = %s",
                            (self.name, self.owner))
                cur.execute("SELECT RELEASE_LOCK(%s)", (self.lock_name(),))
            conn.commit()
        self._run(work)

    # ------------------------------------------------------------------ heartbeat
    def beat(self) -> None:
        """Touch the heartbeat row: a change in the binlog even when nothing else changes."""
        def work(conn: Any) -> None:
            with conn.cursor() as cur:
                cur.execute(f"INSERT INTO {CDC_SCHEMA}.heartbeat (name, ts) "
                            "VALUES (%s, UTC_TIMESTAMP(6)) "
                            "ON DUPLICATE KEY UPDATE ts = VALUES(ts)", (self.name,))
            conn.commit()
        self._run(work)
