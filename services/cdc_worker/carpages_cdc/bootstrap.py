"""Snapshots: the first start (and a re-snapshot) records the binlog position, builds the whole
cache from MySQL, then streaming starts at that position.

The position is read *before* the build's snapshot, so every change the build missed comes after
it in the binlog and is published again; replaying a change the build already has is harmless
(the applier rebuilds from MySQL). Blocking functions; callers run them in a thread.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import pymysql
from carpages_shared import keys
from carpages_shared.progress import ProgressFn

from carpages_cdc.cache.builder import BuildStats, CacheBuilder, RebuildRunning, current_build
from carpages_cdc.position import Checkpoint
from carpages_cdc.publish import binlog_server
from carpages_cdc.publish.cdc_store import CdcStore

log = logging.getLogger(__name__)

LOCK_POLL_S = 0.5


def read_position(cdc_url: str) -> Checkpoint:
    """The binlog's current end, read with the replication user."""
    conn = binlog_server.connect(cdc_url)
    try:
        return binlog_server.master_status(conn)
    finally:
        conn.close()


def position_if_readable(cdc_url: str) -> Checkpoint | None:
    """The binlog position, or None when this user may not read it (a build still works)."""
    try:
        return read_position(cdc_url)
    except pymysql.err.Error as exc:
        log.warning("binlog position unreadable (%s); the build carries none", exc)
        return None


def full_rebuild(builder: CacheBuilder, position: Checkpoint | None,
                 timeout_s: float = 900, progress: ProgressFn | None = None) -> BuildStats:
    """Run a full rebuild stamped with `position`, waiting out one that is already running."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return builder.full_rebuild(position.as_dict() if position else None, progress)
        except RebuildRunning:
            if time.monotonic() > deadline:
                raise
            log.info("another full rebuild is running; waiting for it to finish")
            while builder.client.exists(keys.rebuild_lock()) and time.monotonic() < deadline:
                time.sleep(LOCK_POLL_S)


def ensure_cache(builder: CacheBuilder, cdc_url: str, timeout_s: float = 900) -> BuildStats | None:
    """Build the cache if Valkey has none (first start, restart, flush); None if it has one
    (possibly after waiting for someone else's build to finish)."""
    deadline = time.monotonic() + timeout_s
    while current_build(builder.client) is None:
        if builder.client.exists(keys.rebuild_lock()) and time.monotonic() < deadline:
            time.sleep(LOCK_POLL_S)  # someone else is building it
            continue
        position = position_if_readable(cdc_url)
        try:
            stats = builder.full_rebuild(position.as_dict() if position else None)
        except RebuildRunning:
            continue  # lost the race to another builder: wait for its build
        log.info("cache was empty: built %d cars at %s", stats.cars_written, position)
        return stats
    return None


def snapshot(store: CdcStore, cdc_url: str, builder: CacheBuilder | None) -> Checkpoint:
    """Record the position, build the cache (unless `builder` is None), save the checkpoint.

    The caller must hold the lease: the checkpoint save is fenced by it.
    """
    position = read_position(cdc_url)
    if builder is not None:
        stats = full_rebuild(builder, position)
        log.info("snapshot: built %d cars, %d buyers at %s", stats.cars_written,
                 stats.buyers_written, position)
    store.save(position)
    log.info("snapshot: checkpoint %s saved", position)
    return position


def describe(stats: BuildStats | None) -> dict[str, Any]:
    """Printable summary of a build (for the CLI)."""
    if stats is None:
        return {"built": False}
    return {"built": True, "build": stats.build, "cars": stats.cars_written,
            "buyers": stats.buyers_written, "seconds": round(stats.seconds, 2)}
