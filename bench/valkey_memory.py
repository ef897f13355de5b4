"""Where a build's Valkey memory goes: the bytes of the values it caches against the bytes
Valkey holds, per key family.

A family is a key name with every run of digits replaced by `#` (`dp:{#}`, `{cp}:b#:cards`,
`{cp}:b#:f:city_id:#`), so the ten thousand page keys are one row and each index kind is one
row. For each family: keys, elements, the values' own bytes (a string's length; a hash's field
and value lengths; a set's members; a sorted set's members plus 8 bytes per score), the key
names' bytes, and `MEMORY USAGE … SAMPLES 0` (every element counted, not sampled). Over the
whole build, `used_memory`'s growth divided by the value bytes is the overhead the bench's goal
is about (≤ 1.15×); the per-family rows show which structures carry it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

import valkey

BATCH = 500
"""Keys per pipelined round (one round's replies stay small; no single call blocks long)."""

_DIGITS = re.compile(rb"\d+")


@dataclass
class Family:
    """One key family's totals."""

    keys: int = 0
    elements: int = 0
    value_bytes: int = 0
    name_bytes: int = 0
    memory_usage: int = 0

    def overhead(self) -> float:
        """MEMORY USAGE over the value bytes."""
        return self.memory_usage / self.value_bytes if self.value_bytes else float("nan")


def family(name: bytes) -> str:
    """The family a key name belongs to."""
    return _DIGITS.sub(b"#", name).decode("utf-8", "replace")


def value_bytes(kind: str, content: Any) -> tuple[int, int]:
    """(bytes, elements) of one value as read by `_queue_content` for its type."""
    if kind == "string":
        return int(content), 1
    if kind == "hash":
        return sum(len(f) + len(v) for f, v in content.items()), len(content)
    if kind == "set":
        return sum(len(m) for m in content), len(content)
    if kind == "zset":
        return sum(len(m) + 8 for m, _ in content), len(content)
    if kind == "list":
        return sum(len(x) for x in content), len(content)
    return 0, 0


def _queue_content(pipe: Any, name: bytes, kind: str) -> None:
    if kind == "string":
        pipe.strlen(name)
    elif kind == "hash":
        pipe.hgetall(name)
    elif kind == "set":
        pipe.smembers(name)
    elif kind == "zset":
        pipe.zrange(name, 0, -1, withscores=True)
    elif kind == "list":
        pipe.lrange(name, 0, -1)
    else:
        pipe.echo(b"")  # a type this cache never writes: counted by MEMORY USAGE only


def _batches(client: valkey.Valkey) -> Iterator[list[bytes]]:
    batch: list[bytes] = []
    for name in client.scan_iter(count=BATCH):
        batch.append(name)
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def breakdown(client: valkey.Valkey) -> dict[str, Family]:
    """Every key of the database, summed by family (read while nothing writes to it)."""
    families: dict[str, Family] = {}
    for names in _batches(client):
        pipe = client.pipeline(transaction=False)
        for name in names:
            pipe.type(name)
            pipe.execute_command("MEMORY", "USAGE", name, "SAMPLES", 0)
        head = pipe.execute()
        kinds = [k.decode() if isinstance(k, bytes) else str(k) for k in head[0::2]]
        pipe = client.pipeline(transaction=False)
        for name, kind in zip(names, kinds, strict=True):
            _queue_content(pipe, name, kind)
        contents = pipe.execute()
        for name, kind, usage, content in zip(names, kinds, head[1::2], contents, strict=True):
            size, elements = value_bytes(kind, content)
            got = families.setdefault(family(name), Family())
            got.keys += 1
            got.elements += elements
            got.value_bytes += size
            got.name_bytes += len(name)
            got.memory_usage += int(usage or 0)
    return families


def measure(client: valkey.Valkey, used_bytes: int, cars: int) -> dict[str, Any]:
    """The build's value bytes against `used_bytes` (its `used_memory` growth), per live car,
    with the families that hold the most memory first."""
    families = breakdown(client)
    values = sum(f.value_bytes for f in families.values())
    names = sum(f.name_bytes for f in families.values())
    ordered = sorted(families.items(), key=lambda kv: -kv[1].memory_usage)
    return {
        "value_bytes": values, "name_bytes": names, "used_bytes": used_bytes,
        "value_bytes_per_car": round(values / max(1, cars)),
        "used_over_values": round(used_bytes / values, 3) if values else None,
        "used_over_values_and_names": round(used_bytes / (values + names), 3)
        if values + names else None,
        "families": {name: {**asdict(f), "overhead": round(f.overhead(), 2)}
                     for name, f in ordered},
    }
