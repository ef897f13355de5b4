"""Binlog column bytes to Python values, exactly as python-mysql-replication 1.0 decodes them.

The fast row decoder reads these column types from fixed-width slices and memoises the result
per distinct slice (a bulk change repeats the same dates and prices over and over). Each function
mirrors the library's reader step by step, including its quirks (a zero date is None, an invalid
DATETIME is None, fractional seconds read as signed big-endian), because consumers must not be
able to tell which decoder produced a message.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

_COMPRESSED_BYTES = (0, 1, 1, 2, 2, 3, 3, 4, 4, 4)
"""Bytes of a DECIMAL digit group of 0-9 digits (a full group of 9 digits takes 4)."""

_EPOCH = dt.datetime(1970, 1, 1)


def fsp_bytes(fsp: int) -> int:
    """Bytes of the fractional-seconds part of a TIME2/DATETIME2/TIMESTAMP2 of precision fsp."""
    return (fsp + 1) // 2 if 0 < fsp <= 6 else 0


def decimal_bytes(precision: int, decimals: int) -> int:
    """Width of a DECIMAL(precision, decimals) in the binlog."""
    integral = precision - decimals
    return (integral // 9 * 4 + _COMPRESSED_BYTES[integral % 9]
            + decimals // 9 * 4 + _COMPRESSED_BYTES[decimals % 9])


def _be(raw: bytes) -> int:
    return int.from_bytes(raw, "big", signed=True)


def decimal(raw: bytes, precision: int, decimals: int) -> Decimal:
    """DECIMAL: the sign is the inverted top bit; a negative value has every byte inverted."""
    integral = precision - decimals
    comp_integral, comp_fractional = integral % 9, decimals % 9
    negative = not raw[0] & 0x80
    mask = -1 if negative else 0
    data = bytes((raw[0] ^ 0x80,)) + raw[1:]
    # Built as the library builds it (same text, so the same Decimal, "-0.0" included).
    text = "-" if negative else ""
    pos = _COMPRESSED_BYTES[comp_integral]
    if pos:
        text += str(_be(data[:pos]) ^ mask)
    for _ in range(integral // 9):
        text += f"{_be(data[pos:pos + 4]) ^ mask:09d}"
        pos += 4
    text += "."
    for _ in range(decimals // 9):
        text += f"{_be(data[pos:pos + 4]) ^ mask:09d}"
        pos += 4
    size = _COMPRESSED_BYTES[comp_fractional]
    if size:
        text += f"{_be(data[pos:pos + size]) ^ mask:0{comp_fractional}d}"
    return Decimal(text)


def _micros(raw: bytes, fsp: int) -> int:
    if not raw:
        return 0
    micro = _be(raw)
    if fsp % 2:
        micro = int(micro / 10)
    scale: int = 10 ** (6 - fsp)
    return micro * scale


def _with_micros(value: dt.datetime, raw: bytes, fsp: int) -> dt.datetime:
    micro = _micros(raw, fsp)
    return value.replace(microsecond=micro) if micro > 0 else value


def datetime2(raw: bytes, fsp: int) -> dt.datetime | None:
    """DATETIME2: 40 bits big-endian (sign, year*13+month, day, hour, minute, second) + fsp;
    None for dates Python cannot hold (zero dates, zero months)."""
    data = int.from_bytes(raw[:5], "big")
    year_month = (data >> 22) & 0x1FFFF
    try:
        value = dt.datetime(int(year_month / 13), year_month % 13, (data >> 17) & 0x1F,
                            (data >> 12) & 0x1F, (data >> 6) & 0x3F, data & 0x3F)
    except ValueError:
        return None
    return _with_micros(value, raw[5:], fsp) if fsp else value


def timestamp2(raw: bytes, fsp: int) -> dt.datetime:
    """TIMESTAMP2: signed big-endian Unix seconds + fsp, as a naive UTC datetime."""
    return _with_micros(_EPOCH + dt.timedelta(seconds=_be(raw[:4])), raw[4:], fsp)


def date(raw: bytes) -> dt.date | None:
    """DATE: 24 bits little-endian (year << 9 | month << 5 | day); None for a zero part."""
    value = int.from_bytes(raw, "little")
    if value == 0:
        return None
    year, month, day = (value >> 9) & 0x7FFF, (value >> 5) & 0xF, value & 0x1F
    if year == 0 or month == 0 or day == 0:
        return None
    return dt.date(year, month, day)


def time2(raw: bytes, fsp: int) -> dt.timedelta:
    """TIME2: 24 bits big-endian (sign, hour, minute, second) + fsp, as a signed duration."""
    data = _be(raw[:3])
    sign = 1 if (data >> 23) & 1 else -1
    if sign == -1:
        data = ~data + 1
    return dt.timedelta(hours=(data >> 12) & 0x3FF, minutes=(data >> 6) & 0x3F,
                        seconds=data & 0x3F, microseconds=_micros(raw[3:], fsp)) * sign


def set_members(mask: int, members: list[str] | None) -> set[str] | None:
    """SET: the members whose bits are on; None when none is (or the names are unknown)."""
    if not members:
        return None
    chosen = {member for idx, member in enumerate(members) if mask & (1 << idx)}
    return chosen or None
