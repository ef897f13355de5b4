"""A compiled decoder for one row image of one table layout.

python-mysql-replication decodes every column of every row through a chain of method calls and
packet reads; a bulk UPDATE spends most of the publisher's CPU there. For a given table layout
(column types, metadata, the columns-present bitmap) the byte layout of a row image is fixed
except for NULLs and length-prefixed strings, so we generate one function per layout: runs of
consecutive fixed-width columns are read with a single precompiled `struct.Struct.unpack_from`,
strings by their length prefix, and the null bitmap is one int tested with bit masks. Values must
be exactly those of the library (column_values mirrors its conversions); a column type this
module does not know raises Unsupported at compile time and the caller keeps the library.

The generated source only ever names locals and the constants bound in its namespace (`N3`,
`C3`, ...): column names, enum members and encodings from the binlog never become source text.
"""

from __future__ import annotations

import codecs
import functools
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pymysqlreplication.constants import FIELD_TYPE
from pymysqlreplication.row_event import RowsEvent

from carpages_cdc.publish import column_values

ImageDecoder = Callable[[bytes, int], tuple[dict[str, Any], int]]
"""(packet bytes, offset of the image) -> (column name -> value, offset after the image)."""

_MEMO = 4096
"""Distinct values remembered per memoised column (dates, decimals): a bulk change repeats few."""

_INTS = {FIELD_TYPE.TINY: "b", FIELD_TYPE.SHORT: "h", FIELD_TYPE.LONG: "i",
         FIELD_TYPE.LONGLONG: "q"}
_UINT_BY_SIZE = {1: "B", 2: "H", 4: "I", 8: "Q"}
_LENGTH_PREFIX = {1: "B", 2: "H", 4: "I"}


class Unsupported(Exception):
    """A column type or situation the compiled decoder does not cover (the library does)."""


@dataclass(frozen=True)
class ColumnSpec:
    """What decoding one column needs, taken from the library's table map Column."""

    name: str
    type: int
    unsigned: bool
    meta: tuple[Any, ...]

    @classmethod
    def of(cls, column: Any) -> ColumnSpec:
        kind = int(column.type)
        if kind in (FIELD_TYPE.VARCHAR, FIELD_TYPE.STRING):
            meta: tuple[Any, ...] = (column.max_length, column.character_set_name)
        elif kind == FIELD_TYPE.BLOB:
            meta = (column.length_size, column.character_set_name)
        elif kind == FIELD_TYPE.NEWDECIMAL:
            meta = (column.precision, column.decimals)
        elif kind in (FIELD_TYPE.DATETIME2, FIELD_TYPE.TIMESTAMP2, FIELD_TYPE.TIME2):
            meta = (column.fsp,)
        elif kind == FIELD_TYPE.ENUM:
            meta = (column.size, tuple(column.enum_values) if column.enum_values else None)
        elif kind == FIELD_TYPE.SET:
            meta = (column.size, tuple(column.set_values) if column.set_values else None)
        else:
            meta = ()
        return cls(column.name, kind, bool(column.unsigned), meta)


@dataclass
class _Fixed:
    """A fixed-width column: its struct code, width and how the unpacked item becomes the value
    (a template over `{v}`, the item, and `{c}`, the helper bound as a constant)."""

    code: str
    width: int
    convert: str | None = None
    helper: Any = None


def _encoding(charset: str | None, errors: str) -> tuple[str, str] | None:
    """The codec the library decodes a string column with; None = it keeps the bytes."""
    encoding = RowsEvent.charset_to_encoding(charset) if charset is not None else "utf-8"
    try:
        codecs.lookup(encoding)
    except LookupError:
        return None  # e.g. `binary`: the library catches the LookupError and returns bytes
    return encoding, errors


def _memo(fn: Callable[[bytes], Any]) -> Callable[[bytes], Any]:
    return functools.lru_cache(maxsize=_MEMO)(fn)


def _fixed(spec: ColumnSpec) -> _Fixed | None:
    """The fixed-width reading of a column, or None for a length-prefixed one."""
    kind = spec.type
    if kind in _INTS:
        code = _INTS[kind]
        return _Fixed(code.upper() if spec.unsigned else code, struct.calcsize("<" + code))
    if kind == FIELD_TYPE.INT24:
        signed = not spec.unsigned
        return _Fixed("3s", 3, "{c}({v})", lambda raw: int.from_bytes(raw, "little", signed=signed))
    if kind == FIELD_TYPE.FLOAT:
        return _Fixed("f", 4)
    if kind == FIELD_TYPE.DOUBLE:
        return _Fixed("d", 8)
    if kind == FIELD_TYPE.YEAR:
        return _Fixed("B", 1, "{v} + 1900")
    if kind == FIELD_TYPE.NEWDECIMAL:
        precision, decimals = spec.meta
        width = column_values.decimal_bytes(precision, decimals)
        return _Fixed(f"{width}s", width, "{c}({v})",
                      _memo(lambda raw: column_values.decimal(raw, precision, decimals)))
    if kind == FIELD_TYPE.DATETIME2:
        (fsp,) = spec.meta
        width = 5 + column_values.fsp_bytes(fsp)
        return _Fixed(f"{width}s", width, "{c}({v})",
                      _memo(lambda raw: column_values.datetime2(raw, fsp)))
    if kind == FIELD_TYPE.TIMESTAMP2:
        (fsp,) = spec.meta
        width = 4 + column_values.fsp_bytes(fsp)
        return _Fixed(f"{width}s", width, "{c}({v})",
                      _memo(lambda raw: column_values.timestamp2(raw, fsp)))
    if kind == FIELD_TYPE.TIME2:
        (fsp,) = spec.meta
        width = 3 + column_values.fsp_bytes(fsp)
        return _Fixed(f"{width}s", width, "{c}({v})",
                      _memo(lambda raw: column_values.time2(raw, fsp)))
    if kind == FIELD_TYPE.DATE:
        return _Fixed("3s", 3, "{c}({v})", _memo(column_values.date))
    if kind == FIELD_TYPE.ENUM:
        size, members = spec.meta
        if size not in _UINT_BY_SIZE:
            raise Unsupported(f"ENUM of {size} bytes")
        # An index past the members raises IndexError, which sends the event to the library.
        return _Fixed(_UINT_BY_SIZE[size], size, "{c}[{v}]" if members else "None", members)
    if kind == FIELD_TYPE.SET:
        size, members = spec.meta
        names = list(members) if members else None
        if size in _UINT_BY_SIZE:
            return _Fixed(_UINT_BY_SIZE[size], size, "{c}({v})",
                          lambda mask: column_values.set_members(mask, names))
        return _Fixed(f"{size}s", size, "{c}({v})", lambda raw: column_values.set_members(
            int.from_bytes(raw, "little"), names))
    if kind in (FIELD_TYPE.VARCHAR, FIELD_TYPE.STRING, FIELD_TYPE.BLOB):
        return None
    # Old-style DATETIME/TIME/TIMESTAMP, BIT, GEOMETRY, MySQL's binary JSON, VAR_STRING, ...
    raise Unsupported(f"column type {kind}")


def _string_prefix(spec: ColumnSpec) -> int:
    if spec.type == FIELD_TYPE.BLOB:
        size = int(spec.meta[0])
        if size not in (1, 2, 3, 4):
            raise Unsupported(f"BLOB length of {size} bytes")
        return size
    return 2 if spec.meta[0] > 255 else 1


class _Source:
    """Lines of generated code and the constants they name."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.env: dict[str, Any] = {}

    def bind(self, prefix: str, index: int, value: Any) -> str:
        name = f"{prefix}{index}"
        self.env[name] = value
        return name

    def emit(self, depth: int, line: str) -> None:
        self.lines.append("    " * depth + line)


def _convert(src: _Source, depth: int, index: int, fixed: _Fixed) -> None:
    if fixed.convert is None:
        return
    helper = src.bind("C", index, fixed.helper) if fixed.helper is not None else ""
    src.emit(depth, f"v{index} = " + fixed.convert.format(v=f"v{index}", c=helper))


def _emit_run(src: _Source, run: list[tuple[int, int, _Fixed]], depth: int) -> None:
    """Consecutive fixed-width columns: one unpack when none of them is NULL."""
    first = run[0][0]
    mask = sum(1 << bit for _, bit, _ in run)
    packed = src.bind("P", first, struct.Struct("<" + "".join(f.code for _, _, f in run)))
    width = sum(f.width for _, _, f in run)
    targets = "".join(f"v{i}, " for i, _, _ in run)
    src.emit(depth, f"if not nulls & {mask}:")
    src.emit(depth + 1, f"{targets}= {packed}.unpack_from(data, pos)")
    src.emit(depth + 1, f"pos += {width}")
    for index, _, fixed in run:
        _convert(src, depth + 1, index, fixed)
    src.emit(depth, "else:")
    for index, bit, fixed in run:
        one = src.bind("S", index, struct.Struct("<" + fixed.code)) if len(run) > 1 else packed
        src.emit(depth + 1, f"if nulls & {1 << bit}:")
        src.emit(depth + 2, f"v{index} = None")
        src.emit(depth + 1, "else:")
        src.emit(depth + 2, f"v{index}, = {one}.unpack_from(data, pos)")
        src.emit(depth + 2, f"pos += {fixed.width}")
        _convert(src, depth + 2, index, fixed)


def _emit_string(src: _Source, index: int, bit: int, spec: ColumnSpec, errors: str) -> None:
    prefix = _string_prefix(spec)
    codec = _encoding(spec.meta[1], errors)
    src.emit(1, f"if nulls & {1 << bit}:")
    src.emit(2, f"v{index} = None")
    src.emit(1, "else:")
    if prefix == 1:
        src.emit(2, "n = data[pos]")
    elif prefix == 3:
        src.emit(2, "n = int.from_bytes(data[pos:pos + 3], 'little')")
    else:
        packed = src.bind("L", index, struct.Struct("<" + _LENGTH_PREFIX[prefix]))
        src.emit(2, f"n, = {packed}.unpack_from(data, pos)")
    src.emit(2, f"pos += {prefix}")
    src.emit(2, "end = pos + n")
    src.emit(2, "if end > size:")
    src.emit(3, "raise ValueError('string past the end of the packet')")
    if codec is None:
        # The library's `b"".decode(unknown)` returns "" without looking the codec up: an
        # empty binary string is a str, a non-empty one bytes.
        src.emit(2, f"v{index} = data[pos:end] if n else ''")
    else:
        encoding = src.bind("E", index, codec[0])
        handling = src.bind("R", index, codec[1])
        src.emit(2, f"v{index} = data[pos:end].decode({encoding}, {handling})")
    src.emit(2, "pos = end")


def compile_image(columns: tuple[ColumnSpec, ...], present: bytes,
                  ignore_decode_errors: bool) -> ImageDecoder:
    """The decoder of a row image with these columns and columns-present bitmap."""
    if not columns or any(not c.name for c in columns):
        raise Unsupported("a column without a name")  # the library then asks the server
    if len(present) * 8 < len(columns):
        raise Unsupported("columns-present bitmap shorter than the columns")
    errors = "ignore" if ignore_decode_errors else "strict"
    src = _Source()
    shown = [i for i in range(len(columns)) if present[i >> 3] >> (i & 7) & 1]
    null_bytes = (len(shown) + 7) // 8
    src.emit(1, "size = len(data)")
    if null_bytes == 1:
        src.emit(1, "nulls = data[pos]")
    else:
        src.emit(1, f"nulls = int.from_bytes(data[pos:pos + {null_bytes}], 'little')")
    src.emit(1, f"pos += {null_bytes}")
    run: list[tuple[int, int, _Fixed]] = []
    for bit, index in enumerate(shown):
        spec = columns[index]
        fixed = _fixed(spec)
        if fixed is not None:
            run.append((index, bit, fixed))
            continue
        if run:
            _emit_run(src, run, 1)
            run = []
        _emit_string(src, index, bit, spec, errors)
    if run:
        _emit_run(src, run, 1)
    for index in range(len(columns)):
        if index not in shown:
            src.emit(1, f"v{index} = None")  # absent from a partial image: the library's None
    src.emit(1, "if pos > size:")
    src.emit(2, "raise ValueError('row image past the end of the packet')")
    items = ", ".join(f"{src.bind('N', i, c.name)}: v{i}" for i, c in enumerate(columns))
    src.emit(1, f"return {{{items}}}, pos")
    code = "def image(data, pos):\n" + "\n".join(src.lines) + "\n"
    namespace = dict(src.env)
    exec(compile(code, "<row image>", "exec"), namespace)
    decoder: ImageDecoder = namespace["image"]
    return decoder
