"""The blocking binlog reader: a thread that turns binlog events into messages and boundaries.

python-mysql-replication reads the stream with blocking socket calls, so it runs in a thread and
hands its items to the event loop through a bounded queue (`deliver` blocks while it is full).
Column names come from each event's table map (binlog_row_metadata=FULL), so rows decoded after
an ALTER TABLE carry the new columns with no schema bookkeeping of our own.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from carpages_shared.dsn import mysql_params
from carpages_shared.payloads import RowChanged, SourcePosition
from pymysqlreplication import BinLogStreamReader
from pymysqlreplication.event import (
    GtidEvent,
    HeartbeatLogEvent,
    MariadbGtidEvent,
    QueryEvent,
    RotateEvent,
    XidEvent,
)
from pymysqlreplication.row_event import DeleteRowsEvent, UpdateRowsEvent, WriteRowsEvent

from carpages_cdc import event_codec
from carpages_cdc.position import Checkpoint
from carpages_cdc.publish import binlog_server, row_decoder, table_maps
from carpages_cdc.settings import CDC_SCHEMA, WorkerSettings

log = logging.getLogger(__name__)

EVENTS = [WriteRowsEvent, UpdateRowsEvent, DeleteRowsEvent, XidEvent, QueryEvent, RotateEvent,
          MariadbGtidEvent, GtidEvent, HeartbeatLogEvent]
_IN_TXN_STATEMENTS = ("SAVEPOINT", "ROLLBACK TO", "RELEASE SAVEPOINT", "XA START", "XA END",
                      "XA PREPARE")


class StreamResumedMidTransaction(ConnectionError):
    """The library reconnected a lost stream inside a transaction (transient: a new session
    starts again from the checkpoint)."""


@dataclass(frozen=True)
class Outgoing:
    """One row change, encoded, for one topic."""

    topic: str
    key: bytes | None
    value: bytes
    table: str


@dataclass(frozen=True)
class Changes:
    """The row changes of one binlog rows event, in order (handed over together: a bulk
    UPDATE's events carry dozens of rows, and each hand-off wakes the event loop)."""

    messages: tuple[Outgoing, ...]
    committed_at: float = 0.0
    """The event's timestamp (Unix seconds, MySQL's whole-second resolution)."""


@dataclass(frozen=True)
class Boundary:
    """A transaction ended here: a candidate checkpoint."""

    position: Checkpoint


@dataclass(frozen=True)
class Tick:
    """The stream is alive (a master heartbeat while nothing happens)."""


@dataclass(frozen=True)
class ReaderStopped:
    """The thread ended: with the error that ended it, or None when asked to stop."""

    error: BaseException | None


Item = Changes | Boundary | Tick | ReaderStopped
Deliver = Callable[[Item], bool]
"""Hands an item to the event loop, blocking while the queue is full; False = stop now."""


class BinlogReader:
    """Reads from a checkpoint on; run `run()` in a thread, set `stop` to end it."""

    def __init__(self, settings: WorkerSettings, start: Checkpoint, deliver: Deliver) -> None:
        self.settings = settings
        self.start = start
        self.deliver = deliver
        self.stop = threading.Event()
        self.database = settings.capture_database()
        self._json: dict[tuple[str, str], frozenset[str]] = {}
        self._ctl: Any = None
        self._mariadb = True
        self._file = start.file
        self._gtid: str | None = None
        self._txn: str | None = None
        self._row = 0

    def _stream(self) -> BinLogStreamReader:
        params = {k: v for k, v in mysql_params(self.settings.cdc_url()).items()
                  if k != "database"}
        # A dead TCP peer is noticed within read_timeout; the master heartbeats every
        # binlog_heartbeat_s so an idle stream is not mistaken for a dead one.
        params["read_timeout"] = max(10, int(self.settings.binlog_heartbeat_s * 4))
        params["connect_timeout"] = binlog_server.CONNECT_TIMEOUT_S
        if self.settings.fast_rows:
            table_maps.install()  # one parse per table layout, not per transaction
        return BinLogStreamReader(
            connection_settings=params, server_id=self.settings.replica_server_id(),
            log_file=self.start.file, log_pos=self.start.pos, resume_stream=True,
            blocking=True, only_events=EVENTS, only_schemas=[self.database, CDC_SCHEMA],
            slave_heartbeat=self.settings.binlog_heartbeat_s, enable_logging=False)

    def run(self) -> None:
        """Thread body: read until stopped or failed, then deliver ReaderStopped."""
        error: BaseException | None = None
        stream = None
        try:
            self._ctl = binlog_server.connect(self.settings.cdc_url())
            self._mariadb = binlog_server.is_mariadb(self._ctl)
            stream = self._stream()
            log.info("binlog: reading from %s", self.start)
            for event in stream:
                if self.stop.is_set() or not self._handle(stream, event):
                    break
        except BaseException as exc:  # handed to the event loop, which decides what to do
            error = exc
        finally:
            if stream is not None:
                stream.close()
            if self._ctl is not None:
                self._ctl.close()
        self.deliver(ReaderStopped(error))

    # ------------------------------------------------------------------ events
    def _handle(self, stream: BinLogStreamReader, event: Any) -> bool:
        if isinstance(event, RotateEvent):
            if self._txn is not None:
                # python-mysql-replication reconnects a lost stream by itself (errors 2006/2013)
                # at the position after the last event it read, and the server starts the new
                # stream with this rotate. Inside a transaction that resumes past the TABLE_MAP
                # events of the rows still to come: the library would drop those rows without
                # a word (no table for their id) and the commit would then end the transaction
                # as a checkpoint candidate. Only a whole transaction is safe: give the stream
                # up, and the next session starts again from the checkpoint.
                raise StreamResumedMidTransaction(
                    f"binlog stream resumed inside transaction {self._txn} at "
                    f"{event.next_binlog}:{event.position}; restarting from the checkpoint")
            self._file = event.next_binlog
            # Table ids are only valid within one server run, and a server that crashed wrote
            # no closing rotate, so the library (which forgets its table map only on a
            # timestamped rotate) would decode the new file's rows with the old run's tables:
            # a filtered table's TABLE_MAP is never stored, and its rows then match a stale id
            # (IndexError in the null bitmap, or silently wrong columns). Every binlog file
            # maps its own tables again, so forgetting them at each rotate is always safe.
            stream.table_map.clear()
            return True
        self._file = stream.log_file or self._file
        end = int(event.packet.log_pos)
        if isinstance(event, MariadbGtidEvent | GtidEvent):
            gtid = str(event.gtid)
            self._gtid = None if gtid.endswith(":0") else gtid  # MySQL anonymous transactions
            self._txn, self._row = self._gtid, 0
            return True
        if isinstance(event, XidEvent):
            return self._boundary(end)
        if isinstance(event, QueryEvent):
            return self._query(event, end)
        if isinstance(event, HeartbeatLogEvent):
            return self.deliver(Tick())
        return self._rows(event, end)

    def _query(self, event: QueryEvent, end: int) -> bool:
        statement = str(event.query).strip().upper()
        if statement == "BEGIN":
            self._txn, self._row = self._gtid or f"{self._file}:{end}", 0
            return True
        if statement.startswith(_IN_TXN_STATEMENTS):
            return True
        if statement not in ("COMMIT", "ROLLBACK") and not statement.startswith("XA COMMIT"):
            # DDL (an implicit commit of its own): the table's JSON columns may have changed.
            log.info("binlog: DDL at %s:%d: %s", self._file, end, str(event.query)[:200])
            self._json.clear()
        return self._boundary(end)

    def _boundary(self, end: int) -> bool:
        position = Checkpoint(self._file, end, self._gtid)
        self._txn, self._gtid = None, None
        return self.deliver(Boundary(position))

    def _json_columns(self, schema: str, table: str) -> frozenset[str]:
        key = (schema, table)
        if key not in self._json:
            self._json[key] = binlog_server.json_columns(self._ctl, schema, table, self._mariadb)
        return self._json[key]

    def _rows(self, event: Any, end: int) -> bool:
        schema, table = event.schema, event.table
        heartbeat = schema == CDC_SCHEMA
        if heartbeat and table != "heartbeat":
            return True  # our checkpoint and lease writes
        if not heartbeat and (schema != self.database or not self.settings.captures(table)):
            return True
        topic = self.settings.heartbeat_topic() if heartbeat else self.settings.topic(schema, table)
        json_columns = frozenset() if heartbeat else self._json_columns(schema, table)
        if self._txn is None:
            self._txn, self._row = f"{self._file}:{end}", 0
        messages: list[Outgoing] = []
        fast = self.settings.fast_rows
        server_id, ts_ms = int(event.packet.server_id), int(event.timestamp) * 1000
        for row in row_decoder.rows(event) if fast else event.rows:
            op: Literal["insert", "update", "delete"]
            if isinstance(event, UpdateRowsEvent):
                op, before, after = "update", row["before_values"], row["after_values"]
            elif isinstance(event, WriteRowsEvent):
                op, before, after = "insert", None, row["values"]
            else:
                op, before, after = "delete", row["values"], None
            image = after if after is not None else before
            if heartbeat and image.get("name") != self.settings.name:
                continue  # another pipeline's heartbeat
            if fast:
                messages.append(self._outgoing(event, end, topic, op, before, after,
                                               json_columns, server_id, ts_ms))
                continue
            change = RowChanged(
                op=op, database=schema, table=table,
                before=event_codec.encode_row(before, json_columns) if before else None,
                after=event_codec.encode_row(after, json_columns) if after else None,
                source=SourcePosition(file=self._file, pos=end, gtid=self._gtid,
                                      server_id=int(event.packet.server_id),
                                      ts_ms=int(event.timestamp) * 1000, row=self._row,
                                      txn=self._txn))
            self._row += 1
            key = event_codec.row_key(event.primary_key, change.after or change.before or {})
            messages.append(Outgoing(topic, key, event_codec.encode(change), table))
        return not messages or self.deliver(Changes(tuple(messages), float(event.timestamp)))

    def _outgoing(self, event: Any, end: int, topic: str, op: str, before: dict[str, Any] | None,
                  after: dict[str, Any] | None, json_columns: frozenset[str], server_id: int,
                  ts_ms: int) -> Outgoing:
        """One row change as a message, encoded without the pydantic model (same bytes)."""
        encoded_before = event_codec.encode_row(before, json_columns) if before else None
        encoded_after = event_codec.encode_row(after, json_columns) if after else None
        source = event_codec.source_fields(self._file, end, self._gtid, server_id, ts_ms,
                                           self._row, self._txn)
        self._row += 1
        key = event_codec.row_key(event.primary_key, encoded_after or encoded_before or {})
        value = event_codec.encode_change(op, event.schema, event.table, encoded_before,
                                          encoded_after, source)
        return Outgoing(topic, key, value, event.table)
