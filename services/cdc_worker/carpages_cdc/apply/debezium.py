"""Debezium's MySQL-connector envelope as our RowChanged (pure), so the applier can run behind
Debezium instead of our publisher.

Accepted: the bare envelope `{"op", "before", "after", "source", ...}` and the JsonConverter
form with `schemas.enable=true`, `{"schema": ..., "payload": <envelope>}`. Snapshot reads
(`op: r`) are inserts; a `null` payload (the tombstone after a delete) is no change.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, Literal

from carpages_shared.payloads import RowChanged, SourcePosition

OPS: Final[dict[str, Literal["insert", "update", "delete"]]] = {
    "c": "insert", "r": "insert", "u": "update", "d": "delete",
}


class NotAChange(ValueError):
    """An envelope that carries no row change we can apply (truncate, message, malformed)."""


def is_envelope(doc: Mapping[str, Any]) -> bool:
    """Whether a decoded message looks like Debezium's (wrapped or bare)."""
    if "payload" in doc and "schema" in doc:
        return True
    op = doc.get("op")
    return isinstance(op, str) and len(op) == 1 and isinstance(doc.get("source"), Mapping)


def _int(value: Any, default: int = 0) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def to_row_changed(doc: Mapping[str, Any]) -> RowChanged | None:
    """Convert one Debezium envelope; None for a tombstone payload."""
    if "payload" in doc and "schema" in doc:
        payload = doc["payload"]
        if payload is None:
            return None
        if not isinstance(payload, Mapping):
            raise NotAChange("debezium payload is not an object")
        doc = payload
    op = OPS.get(str(doc.get("op")))
    if op is None:
        raise NotAChange(f"unsupported debezium op {doc.get('op')!r}")
    source = doc.get("source")
    if not isinstance(source, Mapping) or not source.get("db") or not source.get("table"):
        raise NotAChange("debezium source without db/table")
    transaction = doc.get("transaction")
    gtid = source.get("gtid")
    txn = transaction.get("id") if isinstance(transaction, Mapping) else None
    position = SourcePosition(
        file=str(source.get("file") or ""), pos=_int(source.get("pos")),
        gtid=str(gtid) if gtid else None, server_id=_int(source.get("server_id")),
        ts_ms=_int(source.get("ts_ms"), _int(doc.get("ts_ms"))), row=_int(source.get("row")),
        txn=str(txn or gtid) if (txn or gtid) else None,
    )
    before, after = doc.get("before"), doc.get("after")
    for image in (before, after):
        if image is not None and not isinstance(image, Mapping):
            raise NotAChange("debezium before/after is not an object")
    return RowChanged(op=op, database=str(source["db"]), table=str(source["table"]),
                      before=dict(before) if before is not None else None,
                      after=dict(after) if after is not None else None, source=position)
