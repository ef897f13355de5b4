"""The binlog reader when its stream is cut inside a transaction.

python-mysql-replication reconnects by itself on a lost stream (errors 2006/2013) and resumes
at the position after the last event it read, which may be the middle of a transaction: the
transaction's TABLE_MAP events were before that point, and the server starts the resumed stream
with a rotate event, at which the reader forgets its table maps. The rest of the transaction's
rows then match no table and the library drops them without a word, while the commit that
follows still ends the transaction as a checkpoint candidate: rows lost for good. The reader
must instead give the stream up, so that the publisher starts again from its checkpoint.

The test cuts the stream (KILL of the dump thread) while a transaction far larger than the socket
buffers is being read, and holds the reader to its promise: a transaction's boundary is only
ever delivered after every one of its rows.
"""

from __future__ import annotations

import queue
import threading
from typing import Any

import pytest
from carpages_cdc.position import Checkpoint
from carpages_cdc.publish.binlog_reader import (
    BinlogReader,
    Boundary,
    Changes,
    Item,
    ReaderStopped,
    StreamResumedMidTransaction,
)
from carpages_cdc.settings import WorkerSettings
from carpages_local import servers, stack

from tests.conftest import binlog_end, root_conn

ROWS = 3000
"""Rows of the big transaction: ~30 MB of row events, far beyond loopback socket buffers."""
FILLER = 10_000


def _kill_dump_threads(env: stack.StackEnv) -> int:
    conn = root_conn(env)
    killed = 0
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT id FROM information_schema.PROCESSLIST WHERE USER = %s AND "
                        "COMMAND LIKE 'Binlog Dump%%'", (servers.CDC_USER,))
            for (thread,) in cur.fetchall():
                cur.execute(f"KILL {int(thread)}")
                killed += 1
    finally:
        conn.close()
    return killed


@pytest.mark.parametrize("fast_rows", [True, False], ids=["fast-rows", "library-rows"])
def test_a_stream_cut_inside_a_transaction_never_ends_it_short(
        stack_env: stack.StackEnv, mysql_db: str, fast_rows: bool) -> None:
    conn = root_conn(stack_env, mysql_db)
    with conn.cursor() as cur:
        cur.execute("CREATE TABLE big_a (id INT PRIMARY KEY, filler MEDIUMTEXT)")
        cur.execute("CREATE TABLE big_b (id INT PRIMARY KEY, note VARCHAR(20))")
    file, pos = binlog_end(stack_env).split(":")
    cdc = f"{servers.CDC_USER}:{servers.CDC_PASSWORD}"
    settings = WorkerSettings(
        mysql_url=f"mysql://{cdc}@127.0.0.1:{stack_env.mysql_port}/{mysql_db}",
        valkey_url="valkey://127.0.0.1:1/0", kafka_bootstrap_servers="127.0.0.1:1",
        name="reader-cut", fast_rows=fast_rows)

    items: queue.Queue[Item] = queue.Queue()
    cut = threading.Event()
    killed: list[int] = []

    def deliver(item: Item) -> bool:
        if isinstance(item, Changes) and not cut.is_set() and any(
                m.table == "big_a" for m in item.messages):
            # The first rows of the big transaction: the server is still sending the rest.
            cut.set()
            killed.append(_kill_dump_threads(stack_env))
        items.put(item)
        return True

    reader = BinlogReader(settings, Checkpoint(file, int(pos), None), deliver)
    thread = threading.Thread(target=reader.run, daemon=True)
    thread.start()
    try:
        with conn.cursor() as cur:
            cur.execute("BEGIN")
            filler = "x" * FILLER
            for start in range(0, ROWS, 100):
                cur.executemany("INSERT INTO big_a VALUES (%s, %s)",
                                [(i, filler) for i in range(start, start + 100)])
            cur.execute("INSERT INTO big_b VALUES (1, 'last')")
            cur.execute("COMMIT")
        seen: dict[str, int] = {"big_a": 0, "big_b": 0}
        ended: Any = None
        while ended is None:
            item = items.get(timeout=60)
            if isinstance(item, Changes):
                for message in item.messages:
                    seen[message.table] = seen.get(message.table, 0) + 1
            elif (isinstance(item, Boundary) and seen["big_a"]) or isinstance(item, ReaderStopped):
                ended = item  # the big transaction's end, or the reader's
    finally:
        reader.stop.set()
        _kill_dump_threads(stack_env)  # unblock a reader waiting on the idle stream
        thread.join(timeout=30)
        conn.close()
    assert killed, "the stream was never cut"
    assert killed[0] >= 1, "no dump thread to kill"
    if isinstance(ended, Boundary):
        assert seen == {"big_a": ROWS, "big_b": 1}, "the transaction ended with rows missing"
    else:
        # Given up: the publisher restarts from its checkpoint (before this transaction).
        assert isinstance(ended, ReaderStopped)
        assert isinstance(ended.error, StreamResumedMidTransaction), ended.error
        assert seen["big_b"] == 0
