"""Row values to JSON and change messages to bytes and back (pure; no I/O).

Encoding rules (docs/cdc.md, "Message format"): integers stay integers; DECIMAL becomes an exact
string (never a float); DATETIME/DATE/TIME become ISO-8601 strings; JSON columns become JSON
(MySQL's binary JSON is decoded by the library, MariaDB's JSON is text checked by `json_valid`);
bytes become base64; SET becomes a sorted list.
"""

from __future__ import annotations

import base64
import datetime as dt
import math
from collections.abc import Collection, Mapping
from decimal import Decimal
from typing import Any

import orjson
from carpages_shared.payloads import RowChanged
from pydantic import ValidationError

from carpages_cdc.apply import debezium


class UndecodableMessage(ValueError):
    """A consumed message is not a change event we understand (it goes to the dead letters)."""


def _time(delta: dt.timedelta) -> str:
    """MySQL TIME (a signed duration that may pass 24 h) as `[-]HH:MM:SS[.ffffff]`."""
    sign = "-" if delta < dt.timedelta(0) else ""
    micros = abs(delta) // dt.timedelta(microseconds=1)
    seconds, micro = divmod(micros, 1_000_000)
    minutes, sec = divmod(seconds, 60)
    hours, minute = divmod(minutes, 60)
    text = f"{sign}{hours:02d}:{minute:02d}:{sec:02d}"
    return text + (f".{micro:06d}" if micro else "")


def _json_document(value: Any) -> Any:
    """MySQL binary JSON as decoded by the library: bytes are JSON strings, not binary data."""
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", errors="replace")
    if isinstance(value, Mapping):
        return {_json_document(k) if isinstance(k, bytes) else str(k): _json_document(v)
                for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_document(v) for v in value]
    if isinstance(value, Decimal):
        return format(value, "f")
    return value


def _json_text(value: str | bytes) -> Any:
    """A JSON column stored as text (MariaDB): parsed, or left as it was if it is not JSON."""
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError:
        return value if isinstance(value, str) else base64.b64encode(value).decode()


def encode_value(value: Any, json_column: bool = False) -> Any:
    """One column value as a JSON-ready value."""
    if value is None or isinstance(value, bool | int):
        return value
    if json_column and isinstance(value, str | bytes):
        return _json_text(value)
    if isinstance(value, str):
        return value
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return _time(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, set | frozenset):
        return sorted(str(v) for v in value)
    if isinstance(value, Mapping | list | tuple):
        return _json_document(value)
    # Anything newer than this module (e.g. a partial-JSON diff): readable, never a crash.
    return str(value)


_AS_IS = frozenset({int, bool, type(None)})
"""Column value types that are already JSON (most columns: a bulk change encodes every one)."""

_EXACT: dict[type, Any] = {Decimal: lambda value: format(value, "f"),
                           dt.datetime: dt.datetime.isoformat, dt.date: dt.date.isoformat}
"""encode_value's result for these exact types, whatever the column (the next most common
after _AS_IS: every row of `car` has a DECIMAL and two DATETIMEs)."""


def encode_row(values: Mapping[str, Any], json_columns: Collection[str] = ()) -> dict[str, Any]:
    """A row image as a JSON-ready dict."""
    out: dict[str, Any] = {}
    for name, value in values.items():
        kind = type(value)
        if kind in _AS_IS or (kind is str and name not in json_columns):
            out[name] = value
        elif (exact := _EXACT.get(kind)) is not None:
            out[name] = exact(value)
        else:
            out[name] = encode_value(value, name in json_columns)
    return out


def row_key(primary_key: str | tuple[str, ...] | None, row: Mapping[str, Any]) -> bytes | None:
    """Message key: the primary key as JSON (`{"id": 5}`), so one row's changes stay in order."""
    if not primary_key:
        return None
    names = (primary_key,) if isinstance(primary_key, str) else primary_key
    return orjson.dumps({n: row.get(n) for n in names}, option=orjson.OPT_SORT_KEYS)


def encode(event: RowChanged) -> bytes:
    """A change event as message bytes."""
    return event.model_dump_json().encode()


def encode_change(op: str, database: str, table: str, before: dict[str, Any] | None,
                  after: dict[str, Any] | None, source: dict[str, Any]) -> bytes:
    """The bytes `encode(RowChanged(...))` gives for these fields, without building the model
    (per-row validation and serialisation was a visible share of a bulk change's CPU).

    `source` holds SourcePosition's fields in its declaration order, `xid` included; the key
    order here is RowChanged's, so the JSON is byte-identical. A value orjson cannot encode
    (an int past 64 bits) takes the model's way.
    """
    doc = {"schema_version": 1, "op": op, "database": database, "table": table,
           "before": before, "after": after, "source": source}
    try:
        return orjson.dumps(doc)
    except orjson.JSONEncodeError:
        return encode(RowChanged.model_validate(doc))


def source_fields(file: str, pos: int, gtid: str | None, server_id: int, ts_ms: int, row: int,
                  txn: str | None) -> dict[str, Any]:
    """SourcePosition's fields, in its order, as `encode_change` takes them."""
    return {"file": file, "pos": pos, "gtid": gtid, "server_id": server_id, "ts_ms": ts_ms,
            "xid": None, "row": row, "txn": txn}


def decode(raw: bytes | None) -> RowChanged | None:
    """Message bytes as a change event: ours, or Debezium's MySQL envelope; None = tombstone."""
    if raw is None:
        return None
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise UndecodableMessage(f"not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise UndecodableMessage(f"not a JSON object: {type(doc).__name__}")
    try:
        if debezium.is_envelope(doc):
            return debezium.to_row_changed(doc)
        return RowChanged.model_validate(doc)
    except (ValidationError, debezium.NotAChange) as exc:
        raise UndecodableMessage(str(exc)) from None
