"""The rows of a binlog rows event, decoded by compiled row images instead of the library.

python-mysql-replication parses a rows event's header eagerly and its rows lazily (`event.rows`),
so the row bytes are still unread in the event's packet when we get the event. `rows(event)`
decodes them with a decoder compiled per table layout (row_image) and returns the same dicts
the library would (`values`, or `before_values` and `after_values`; not the library's
`none_sources`, which nothing here reads). It never consumes the packet, so whenever the fast
path cannot vouch for its result (a column type it does not cover, a partial JSON update, bytes
that do not add up to the event's size, any error) it returns `event.rows`: correctness never
depends on coverage, and errors are the library's own.
"""

from __future__ import annotations

import logging
from typing import Any

from pymysqlreplication.row_event import DeleteRowsEvent, UpdateRowsEvent, WriteRowsEvent

from carpages_cdc.publish.row_image import ColumnSpec, ImageDecoder, Unsupported, compile_image

log = logging.getLogger(__name__)

_CACHE_SIZE = 256
"""Compiled layouts kept: (table layout, present bitmap) pairs; a schema has few."""

Row = dict[str, Any]
_Key = tuple[tuple[ColumnSpec, ...], bytes, bool]
_compiled: dict[_Key, ImageDecoder | None] = {}
"""Decoders by layout; None = the library decodes this layout (logged once)."""


def _decoder(columns: tuple[ColumnSpec, ...], present: bytes,
             ignore_errors: bool) -> ImageDecoder | None:
    key = (columns, present, ignore_errors)
    try:
        return _compiled[key]
    except KeyError:
        pass
    if len(_compiled) >= _CACHE_SIZE:
        _compiled.clear()  # layouts change only with DDL: a rare full recompile is cheap
    decoder: ImageDecoder | None
    try:
        decoder = compile_image(columns, present, ignore_errors)
    except Unsupported as exc:
        log.info("row decoding: the library decodes a layout with %s", exc)
        decoder = None
    _compiled[key] = decoder
    return decoder


def _fast(event: Any) -> list[Row] | None:
    kind = type(event)
    # Exact types: PartialUpdateRowsEvent (MySQL partial JSON) subclasses UpdateRowsEvent.
    if kind not in (UpdateRowsEvent, WriteRowsEvent, DeleteRowsEvent) or not event.complete:
        return None
    wrapper = event.packet
    # Bytes the library pushed back (`unread`) would come before the packet's own: not ours.
    if getattr(wrapper, "_BinLogPacketWrapper__data_buffer", None) != b"":
        return None
    packet = wrapper.packet
    data: bytes = packet._data
    pos: int = packet._position
    end = pos + event.event_size - wrapper.read_bytes
    # No bytes left: the library has decoded (and kept) the rows already; a rows event always
    # carries at least one row.
    if not isinstance(data, bytes) or not pos < end <= len(data):
        return None
    columns = tuple(ColumnSpec.of(c) for c in event.columns)
    ignore_errors = bool(event._ignore_decode_errors)
    first = _decoder(columns, bytes(event.columns_present_bitmap), ignore_errors)
    if first is None:
        return None
    rows: list[Row] = []
    if kind is UpdateRowsEvent:
        second = _decoder(columns, bytes(event.columns_present_bitmap2), ignore_errors)
        if second is None:
            return None
        while pos < end:
            before, pos = first(data, pos)
            after, pos = second(data, pos)
            rows.append({"before_values": before, "after_values": after})
    else:
        while pos < end:
            values, pos = first(data, pos)
            rows.append({"values": values})
    return rows if pos == end else None


def rows(event: Any) -> list[Row]:
    """The event's rows as the library shapes them, decoded by the compiled layout if possible."""
    try:
        decoded = _fast(event)
    except Exception:  # whatever went wrong, the library decides (and raises its own error)
        log.debug("row decoding: falling back to the library", exc_info=True)
        decoded = None
    return decoded if decoded is not None else list(event.rows)
