"""Table map events parsed once per distinct body, not once per transaction.

MySQL and MariaDB write a TABLE_MAP event before the rows of every table in every transaction.
python-mysql-replication parses each one in full (column objects, the optional metadata, a new
Table), and with single-row transactions that was half of the reader thread's time: at ~2,000
commits/s the reader fell behind by half a second. A table map's body (table id, schema, table,
column types, metadata and names: everything after the common header) is byte-identical from one
transaction to the next until the table changes, so a body seen before is answered with the
attributes its first parse produced. Equal bytes give an equal parse whatever happened in
between (an ALTER TABLE or a server restart changes the bytes, or the table id they carry), so
this is exact, not a heuristic such as the library's `freeze_schema`.

`install()` memoizes TableMapEvent's constructor for the whole process. It is a patch of the
library, applied once and only by the reader's fast path (`CDC_FAST_ROWS`), and an exact one:
the key is the body plus everything else the parse reads (the stream's filters and settings,
the server flavour), so any stream in the process gets the attributes a full parse would give.
"""

from __future__ import annotations

from typing import Any

from pymysqlreplication.event import BinLogEvent
from pymysqlreplication.row_event import TableMapEvent

_CACHE_SIZE = 512
"""Distinct table map bodies kept: one per captured table, more only across DDL."""

_HEADER = 20
"""The packet's OK byte and the 19-byte common event header (timestamp, log position...)."""

_PER_EVENT = frozenset({"packet", "table_map", "timestamp", "event_size", "_ctl_connection",
                        "_is_event_valid"})
"""Attributes of one event, not of its body: set by the common constructor, never copied."""

_SETTINGS = ("only_tables", "ignored_tables", "only_schemas", "ignored_schemas", "freeze_schema",
             "optional_meta_data", "ignore_decode_errors", "mysql_version",
             "post_header_lengths")
"""The constructor's keyword arguments a table map's parse depends on."""

_parsed: dict[tuple[Any, ...], dict[str, Any]] = {}
_library_init = TableMapEvent.__init__


def install() -> None:
    """Memoize TableMapEvent's parse in this process (idempotent)."""
    TableMapEvent.__init__ = _memoized_init


def _memoized_init(self: Any, from_packet: Any, event_size: int, table_map: dict[int, Any],
                   ctl_connection: Any, **kwargs: Any) -> None:
    key = _key(from_packet, ctl_connection, kwargs)
    parsed = _parsed.get(key) if key is not None else None
    if parsed is None:
        _library_init(self, from_packet, event_size, table_map, ctl_connection, **kwargs)
        if key is not None and self._processed:
            if len(_parsed) >= _CACHE_SIZE:
                _parsed.clear()  # bodies change only with DDL: re-parsing them is cheap
            _parsed[key] = {k: v for k, v in vars(self).items() if k not in _PER_EVENT}
        return
    # The common part (header fields, checksum verification) is per event, and cheap.
    BinLogEvent.__init__(self, from_packet, event_size, table_map, ctl_connection, **kwargs)
    vars(self).update(parsed)
    table_map[self.table_id] = self.table_obj


def _key(wrapper: Any, ctl_connection: Any, kwargs: dict[str, Any]) -> tuple[Any, ...] | None:
    """The event's body bytes and every other input of its parse; None = do not memoize."""
    if kwargs.get("use_column_name_cache"):
        return None  # the parse would read information_schema: not a function of the bytes
    packet = getattr(wrapper, "packet", None)
    data = getattr(packet, "_data", None)
    if (not isinstance(data, bytes) or getattr(packet, "_position", None) != _HEADER or
            getattr(wrapper, "_BinLogPacketWrapper__data_buffer", None) != b""):
        return None
    end = len(data) - 4 if kwargs.get("use_checksum") else len(data)  # the CRC covers the header
    settings = tuple(_frozen(kwargs.get(name)) for name in _SETTINGS)
    return data[_HEADER:end], settings, ctl_connection._get_dbms()


def _frozen(value: Any) -> Any:
    return tuple(value) if isinstance(value, list | set | frozenset | bytearray) else value
