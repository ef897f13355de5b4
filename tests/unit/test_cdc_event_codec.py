"""Event codec: binlog values to JSON, message bytes both ways, and Debezium's envelope."""

from __future__ import annotations

import base64
import datetime as dt
from decimal import Decimal

import orjson
import pytest
from carpages_cdc import event_codec
from carpages_cdc.event_codec import UndecodableMessage, decode, encode, encode_row, encode_value
from carpages_shared.payloads import RowChanged, SourcePosition


def _change(**kw: object) -> RowChanged:
    base: dict[str, object] = {
        "op": "update", "database": "shop", "table": "car", "before": {"id": 1, "price": 10},
        "after": {"id": 1, "price": 11},
        "source": SourcePosition(file="binlog.000007", pos=1234, gtid="0-1-99", server_id=1,
                                 ts_ms=1_700_000_000_000, row=3, txn="0-1-99")}
    base.update(kw)
    return RowChanged.model_validate(base)


@pytest.mark.parametrize(("value", "expected"), [
    (Decimal("4.5"), "4.5"),
    (Decimal("12345678901234567890.123456789"), "12345678901234567890.123456789"),
    (Decimal("1E+3"), "1000"),
    (Decimal("-0.10"), "-0.10"),
    (dt.datetime(2024, 2, 29, 23, 59, 58), "2024-02-29T23:59:58"),
    (dt.datetime(2024, 1, 1, 0, 0, 0, 120), "2024-01-01T00:00:00.000120"),
    (dt.date(2024, 3, 1), "2024-03-01"),
    (dt.timedelta(hours=838, minutes=59, seconds=59), "838:59:59"),
    (-dt.timedelta(hours=1, microseconds=5), "-01:00:00.000005"),
    (b"\x00\xff\x10", base64.b64encode(b"\x00\xff\x10").decode()),
    ({"blue", "abs", "red"}, ["abs", "blue", "red"]),
    (None, None), (True, True), (2**63, 2**63), ("नमस्ते", "नमस्ते"), (1.5, 1.5),
    (float("nan"), "nan"),
])
def test_values_encode_exactly(value: object, expected: object) -> None:
    assert encode_value(value) == expected


def test_decimal_never_becomes_a_float() -> None:
    encoded = orjson.loads(orjson.dumps(encode_row({"price": Decimal("0.1") + Decimal("0.2")})))
    assert encoded == {"price": "0.3"}


def test_json_columns_become_json() -> None:
    # MariaDB: a JSON column is text checked by json_valid; MySQL: binary JSON the library
    # decodes to objects with bytes keys and strings.
    row = {"report": '{"engine": "ok", "tyres": [7, 6]}', "broken": "{not json",
           "mysql": {b"engine": b"ok", b"score": Decimal("8.5"), b"list": [b"a", 1]}}
    assert encode_row(row, {"report", "broken"}) == {
        "report": {"engine": "ok", "tyres": [7, 6]}, "broken": "{not json",
        "mysql": {"engine": "ok", "score": "8.5", "list": ["a", 1]}}


def test_text_that_looks_like_json_stays_text_outside_json_columns() -> None:
    assert encode_row({"summary": '{"a": 1}'}) == {"summary": '{"a": 1}'}


def test_row_key_is_the_primary_key() -> None:
    assert event_codec.row_key("id", {"id": 5, "x": 1}) == b'{"id":5}'
    assert event_codec.row_key(("car_id", "feature_id"), {"feature_id": 2, "car_id": 1}) == (
        b'{"car_id":1,"feature_id":2}')
    assert event_codec.row_key(None, {"id": 5}) is None


def test_messages_round_trip() -> None:
    change = _change()
    assert decode(encode(change)) == change
    assert orjson.loads(encode(change))["schema_version"] == 1


@pytest.mark.parametrize(("raw", "fragment"), [
    (b"\x00\x01 garbage", "not JSON"),
    (b"[1, 2]", "not a JSON object"),
    (b'{"op": "upsert", "database": "shop", "table": "car", "before": null, "after": {}}',
     "op"),
    (b'{"op": "insert", "database": "shop", "table": "car", "after": {"id": 1}}', "source"),
])
def test_undecodable_messages_are_refused(raw: bytes, fragment: str) -> None:
    with pytest.raises(UndecodableMessage, match=fragment):
        decode(raw)


def test_tombstones_are_no_change() -> None:
    assert decode(None) is None


DEBEZIUM = {
    "before": {"id": 7, "price": 100}, "after": {"id": 7, "price": 120},
    "source": {"version": "2.5.0.Final", "connector": "mysql", "name": "dbserver1",
               "ts_ms": 1_700_000_000_000, "snapshot": "false", "db": "shop", "table": "car",
               "server_id": 223344, "gtid": None, "file": "mysql-bin.000003", "pos": 805,
               "row": 2, "thread": 7},
    "op": "u", "ts_ms": 1_700_000_000_123, "transaction": None,
}


def test_debezium_envelope_without_schema() -> None:
    event = decode(orjson.dumps(DEBEZIUM))
    assert event is not None
    assert (event.op, event.database, event.table) == ("update", "shop", "car")
    assert event.after == {"id": 7, "price": 120}
    assert (event.source.file, event.source.pos, event.source.row) == ("mysql-bin.000003", 805, 2)
    assert event.source.server_id == 223344


def test_debezium_envelope_with_schema_wrapper() -> None:
    wrapped = {"schema": {"type": "struct", "name": "dbserver1.shop.car.Envelope"},
               "payload": {**DEBEZIUM, "op": "d", "after": None}}
    event = decode(orjson.dumps(wrapped))
    assert event is not None
    assert (event.op, event.before, event.after) == ("delete", {"id": 7, "price": 100}, None)


@pytest.mark.parametrize(("op", "ours"), [("c", "insert"), ("r", "insert"), ("u", "update"),
                                          ("d", "delete")])
def test_debezium_ops(op: str, ours: str) -> None:
    event = decode(orjson.dumps({**DEBEZIUM, "op": op}))
    assert event is not None
    assert event.op == ours


def test_debezium_tombstone_payload_and_unsupported_ops() -> None:
    assert decode(orjson.dumps({"schema": {}, "payload": None})) is None
    with pytest.raises(UndecodableMessage, match="unsupported debezium op"):
        decode(orjson.dumps({**DEBEZIUM, "op": "t"}))
    with pytest.raises(UndecodableMessage, match="db/table"):
        decode(orjson.dumps({**DEBEZIUM, "source": {"file": "x", "pos": 1}}))
