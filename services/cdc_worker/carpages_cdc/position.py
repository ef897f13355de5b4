"""Binlog coordinates: where to resume (checkpoints) and how old a change is (fencing tokens).

Pure: no I/O. A *checkpoint* is a transaction boundary, the end of an XID (or a standalone DDL)
event, so resuming there never starts inside a transaction. A *fencing token* orders changes: a
fixed-width string of (file number, position, row) that compares like the binlog does, so a Lua
script can refuse a write older than the one already applied with a plain string comparison.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

_FILE_INDEX = re.compile(r"(\d+)$")
TOKEN_FLOOR = "0" * 30
"""Token of a change with no usable position: older than anything the binlog produces."""


def file_index(file: str) -> int:
    """`binlog.000123` -> 123 (binlog files are numbered in order)."""
    match = _FILE_INDEX.search(file)
    if match is None:
        raise ValueError(f"not a binlog file name: {file!r}")
    return int(match[1])


def fence_token(file: str | None, pos: int | None, row: int = 0) -> str:
    """Fixed-width, comparable token of a change's binlog position."""
    if not file or pos is None:
        return TOKEN_FLOOR
    try:
        index = file_index(file)
    except ValueError:
        return TOKEN_FLOOR
    return f"{index:010d}{pos:012d}{min(row, 99_999_999):08d}"


@dataclass(frozen=True)
class Checkpoint:
    """A transaction boundary in the binlog: resume reading at (file, pos)."""

    file: str
    pos: int
    gtid: str | None = None

    def key(self) -> tuple[int, int]:
        """Sort key in binlog order."""
        return file_index(self.file), self.pos

    def is_after(self, other: Checkpoint | None) -> bool:
        """True when this boundary is later in the binlog than `other` (or other is None)."""
        return other is None or self.key() > other.key()

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (stored with a full build as its position)."""
        return {"file": self.file, "pos": self.pos, "gtid": self.gtid}

    def __str__(self) -> str:
        return f"{self.file}:{self.pos}" + (f" ({self.gtid})" if self.gtid else "")
