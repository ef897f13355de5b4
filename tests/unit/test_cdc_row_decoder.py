"""The compiled row image against python-mysql-replication's own reader on random row bytes (the
library's `_read_column_data` run on a packet we build), and the message encoder against the
pydantic model, byte for byte."""

from __future__ import annotations

import random
from typing import Any

import pytest
from carpages_cdc import event_codec
from carpages_cdc.publish import column_values, row_decoder
from carpages_cdc.publish.row_image import ColumnSpec, Unsupported, compile_image
from carpages_shared.payloads import RowChanged, SourcePosition
from pymysql.protocol import MysqlPacket
from pymysqlreplication.column import Column
from pymysqlreplication.constants import BINLOG, FIELD_TYPE
from pymysqlreplication.packet import BinLogPacketWrapper
from pymysqlreplication.row_event import WriteRowsEvent
from pymysqlreplication.table import Table

_TEXTS = ["", "a", "नमस्ते", "🚗 car", "x" * 300, "quote '\""]


def _column(name: str, kind: int, rng: random.Random) -> tuple[Column, Any]:
    """A table-map column of this type with random metadata, and a writer of random values."""
    meta: dict[str, Any] = {"type": kind, "name": name, "unsigned": rng.random() < 0.5,
                            "character_set_name": None, "enum_values": None, "set_values": None}
    ints = {FIELD_TYPE.TINY: 1, FIELD_TYPE.SHORT: 2, FIELD_TYPE.INT24: 3, FIELD_TYPE.LONG: 4,
            FIELD_TYPE.LONGLONG: 8, FIELD_TYPE.FLOAT: 4, FIELD_TYPE.DOUBLE: 8, FIELD_TYPE.YEAR: 1}

    def raw(width: int) -> Any:
        return lambda: rng.randbytes(width)

    write: Any
    if kind in ints:
        write = raw(ints[kind])
    elif kind == FIELD_TYPE.NEWDECIMAL:
        precision = rng.randint(1, 65)
        meta.update(precision=precision, decimals=rng.randint(0, min(precision, 30)))

        def write() -> bytes:
            width = column_values.decimal_bytes(meta["precision"], meta["decimals"])
            # Valid digit groups (random bytes would make digits the library cannot parse).
            text = "".join(rng.choice("0123456789") for _ in range(meta["precision"]))
            return _decimal_bytes(text, meta["precision"], meta["decimals"],
                                  rng.random() < 0.5, width)
    elif kind in (FIELD_TYPE.DATETIME2, FIELD_TYPE.TIMESTAMP2, FIELD_TYPE.TIME2):
        meta["fsp"] = rng.randint(0, 6)
        base = {FIELD_TYPE.DATETIME2: 5, FIELD_TYPE.TIMESTAMP2: 4, FIELD_TYPE.TIME2: 3}[kind]
        write = raw(base + (meta["fsp"] + 1) // 2)
    elif kind == FIELD_TYPE.DATE:
        def write() -> bytes:
            value = (rng.randint(0, 9999) << 9) | (rng.randint(0, 12) << 5) | rng.randint(0, 28)
            return (value if rng.random() < 0.9 else 0).to_bytes(3, "little")
    elif kind in (FIELD_TYPE.VARCHAR, FIELD_TYPE.STRING, FIELD_TYPE.BLOB):
        charset = rng.choice(["utf8", "binary", "cp1252", None])
        meta["character_set_name"] = charset
        if kind == FIELD_TYPE.BLOB:
            meta["length_size"] = prefix = rng.choice([1, 2, 3, 4])
        else:
            meta["max_length"] = rng.choice([10, 255, 256, 1020])
            prefix = 2 if meta["max_length"] > 255 else 1

        def write() -> bytes:
            text = rng.choice(_TEXTS)
            data = (rng.randbytes(rng.randint(0, 40)) if charset == "binary"
                    else text.encode("cp1252", "ignore") if charset == "cp1252"
                    else text.encode())[: 255 if prefix == 1 else 1000]
            return len(data).to_bytes(prefix, "little") + data
    elif kind == FIELD_TYPE.ENUM:
        members = ["", *rng.sample(["a", "b", "ünï", "d", "e"], rng.randint(1, 5))]
        meta.update(size=rng.choice([1, 2]), enum_values=members)

        def write() -> bytes:
            return rng.randrange(len(members)).to_bytes(meta["size"], "little")
    elif kind == FIELD_TYPE.SET:
        size = rng.randint(1, 8)
        meta.update(size=size, set_values=[f"m{i}" for i in range(rng.randint(1, size * 8))])
        write = raw(size)
    else:
        raise AssertionError(kind)
    return Column(**meta), write


def _decimal_bytes(digits: str, precision: int, decimals: int, negative: bool,
                   width: int) -> bytes:
    """MySQL's DECIMAL encoding of a digit string (the writer side of the library's reader)."""
    sizes = (0, 1, 1, 2, 2, 3, 3, 4, 4, 4)
    integral, fraction = digits[: precision - decimals], digits[precision - decimals:]
    out = b""
    lead = len(integral) % 9
    if lead:
        out += int(integral[:lead]).to_bytes(sizes[lead], "big")
    for i in range(lead, len(integral), 9):
        out += int(integral[i:i + 9]).to_bytes(4, "big")
    for i in range(0, len(fraction) - len(fraction) % 9, 9):
        out += int(fraction[i:i + 9]).to_bytes(4, "big")
    tail = len(fraction) % 9
    if tail:
        out += int(fraction[-tail:]).to_bytes(sizes[tail], "big")
    assert len(out) == width
    data = bytearray(out)
    data[0] ^= 0x80
    if negative:
        data = bytearray(b ^ 0xFF for b in data)
    return bytes(data)


_KINDS = [FIELD_TYPE.TINY, FIELD_TYPE.SHORT, FIELD_TYPE.INT24, FIELD_TYPE.LONG,
          FIELD_TYPE.LONGLONG, FIELD_TYPE.FLOAT, FIELD_TYPE.DOUBLE, FIELD_TYPE.YEAR,
          FIELD_TYPE.NEWDECIMAL, FIELD_TYPE.DATETIME2, FIELD_TYPE.TIMESTAMP2, FIELD_TYPE.TIME2,
          FIELD_TYPE.DATE, FIELD_TYPE.VARCHAR, FIELD_TYPE.STRING, FIELD_TYPE.BLOB,
          FIELD_TYPE.ENUM, FIELD_TYPE.SET]


def _library(columns: list[Column], present: bytes, data: bytes) -> Any:
    """The library's decoding of one row image at the start of `data`."""
    wrapper = object.__new__(BinLogPacketWrapper)
    wrapper.packet = MysqlPacket(data, "utf8")
    wrapper.read_bytes = 0
    wrapper._BinLogPacketWrapper__data_buffer = b""
    event = object.__new__(WriteRowsEvent)
    event.packet, event.table_id, event.columns = wrapper, 1, columns
    event.table_map = {1: Table(1, "s", "t", columns, primary_key="")}
    event.event_type, event._ignore_decode_errors = BINLOG.WRITE_ROWS_EVENT_V2, False
    event._RowsEvent__none_sources = {}
    try:
        return event._read_column_data(present), wrapper.read_bytes
    except Exception as exc:
        return type(exc).__name__, None


def _typed(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _typed(v) for k, v in value.items()}
    if isinstance(value, set):
        return ("set", sorted(value))
    return (type(value).__name__, repr(value))


@pytest.mark.parametrize("seed", range(60))
def test_compiled_image_decodes_as_the_library(seed: int) -> None:
    rng = random.Random(seed)
    made = [_column(f"c{i}", rng.choice(_KINDS), rng) for i in range(rng.randint(1, 24))]
    columns = [c for c, _ in made]
    # Mostly full images; sometimes a partial one (binlog_row_image=MINIMAL/NOBLOB).
    shown = [rng.random() < 0.8 if seed % 3 == 0 else True for _ in columns]
    present = sum(1 << i for i, on in enumerate(shown) if on).to_bytes((len(columns) + 7) // 8,
                                                                 "little")
    decode = compile_image(tuple(ColumnSpec.of(c) for c in columns), present, False)
    for _ in range(40):
        nulls = [rng.random() < 0.2 for i, on in enumerate(shown) if on]
        body = b"".join(write() for (_, write), on, null in
                        zip(made, shown, _spread(shown, nulls), strict=True) if on and not null)
        bitmap = sum(1 << i for i, null in enumerate(nulls) if null).to_bytes(
            (len(nulls) + 7) // 8, "little")
        data = bitmap + body
        expected, used = _library(columns, present, data)
        try:
            got: Any = decode(data, 0)
        except Exception as exc:
            got = (type(exc).__name__, None)
        if used is None:  # the library raised: so must we (the event then goes to it)
            assert got[1] is None, (expected, got)
            continue
        assert _typed(got[0]) == _typed(expected)
        assert got[1] == used == len(data)


def _spread(shown: list[bool], nulls: list[bool]) -> list[bool]:
    """Per column: NULL or not (columns absent from the image take no null bit)."""
    it = iter(nulls)
    return [next(it) if on else False for on in shown]


def test_unsupported_types_are_left_to_the_library() -> None:
    bit = Column(type=FIELD_TYPE.BIT, name="b", unsigned=False, bits=3, bytes=1)
    with pytest.raises(Unsupported):
        compile_image((ColumnSpec.of(bit),), b"\x01", False)
    nameless = Column(type=FIELD_TYPE.LONG, name=None, unsigned=False)
    with pytest.raises(Unsupported):
        compile_image((ColumnSpec.of(nameless),), b"\x01", False)


def test_an_unsupported_event_gets_the_librarys_rows() -> None:
    class Event:
        def __init__(self) -> None:
            self.rows = [{"values": {"a": 1}, "none_sources": {}}]

    assert row_decoder.rows(Event()) == Event().rows


def _source(rng: random.Random) -> SourcePosition:
    return SourcePosition(file=f"binlog.{rng.randint(1, 999):06d}", pos=rng.randint(4, 2**40),
                          gtid=rng.choice([None, "0-1-99"]), server_id=rng.randint(1, 2**32 - 1),
                          ts_ms=rng.randint(0, 2**42), row=rng.randint(0, 10**6),
                          txn=rng.choice([None, "0-1-99", "binlog.000001:4"]))


def _image(rng: random.Random) -> dict[str, Any] | None:
    if rng.random() < 0.2:
        return None
    values: list[Any] = [None, True, False, 0, -1, 2**64 - 1, -(2**63), 1.5, -0.0, 1e300,
                         rng.uniform(-1e9, 1e9), "", "नमस्ते", "\x00\x1f\u2028</script>",
                         "q\"\\", ["a", "b"], {"nested": [1, {"x": None}, 2.5]}, "4.5"]
    return {f"c{i}": rng.choice(values) for i in range(rng.randint(1, 12))}


@pytest.mark.parametrize("seed", range(200))
def test_change_encoding_is_byte_identical_to_the_model(seed: int) -> None:
    rng = random.Random(seed)
    op = rng.choice(["insert", "update", "delete"])
    before, after, source = _image(rng), _image(rng), _source(rng)
    model = RowChanged(op=op, database="shop", table="car", before=before, after=after,
                       source=source)
    fields = event_codec.source_fields(source.file, source.pos, source.gtid, source.server_id,
                                       source.ts_ms, source.row, source.txn)
    assert event_codec.encode_change(op, "shop", "car", before, after, fields) == \
        event_codec.encode(model)


def test_change_encoding_falls_back_to_the_model_past_64_bits() -> None:
    fields = event_codec.source_fields("binlog.000001", 4, None, 1, 0, 0, None)
    after = {"huge": 2**70}
    model = RowChanged(op="insert", database="d", table="t", before=None, after=after,
                       source=SourcePosition(file="binlog.000001", pos=4, server_id=1, ts_ms=0))
    assert event_codec.encode_change("insert", "d", "t", None, after, fields) == \
        event_codec.encode(model)


def test_source_fields_follow_the_model() -> None:
    fields = event_codec.source_fields("f", 1, None, 2, 3, 4, None)
    assert list(fields) == list(SourcePosition.model_fields)
