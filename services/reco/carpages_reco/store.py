"""Publishing a model version to Valkey: raw arrays + JSON meta + checksum, then one switch.

Order matters for readers: the version's hash is written completely (its own MULTI) before a
second MULTI makes it current, records it and announces it, so no reader can see `current`
point at a half-written hash. Older versions beyond `keep` are deleted afterwards; the previous
one stays for viewers still paging through an order it produced.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Mapping
from typing import Any

import numpy as np
from carpages_shared import keys
from carpages_shared.blocking_client import transaction
from carpages_shared.reco_format import (
    ARRAY_FIELDS,
    CHECKSUM_FIELD,
    META_FIELD,
    ArraySpec,
    ModelMeta,
    checksum,
)

_DTYPES = {"f": "<f4", "i": "<i8"}


def encode_array(array: np.ndarray) -> tuple[bytes, ArraySpec]:
    """Little-endian float32 / int64 bytes and the spec to read them back."""
    dtype = _DTYPES.get(array.dtype.kind)
    if dtype is None:
        raise TypeError(f"cannot store dtype {array.dtype}")
    data = np.ascontiguousarray(array, dtype=dtype)
    return data.tobytes(), ArraySpec(dtype=dtype, shape=tuple(int(d) for d in data.shape))


def new_version(now: dt.datetime | None = None) -> str:
    """A sortable, unique version id: UTC time plus a random suffix."""
    moment = now or dt.datetime.now(dt.UTC)
    return f"{moment:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def model_fields(meta: dict[str, Any], arrays: Mapping[str, np.ndarray]) -> dict[str, bytes]:
    """The hash fields of a version: `meta` (with array specs filled in), arrays, `checksum`."""
    blobs: dict[str, bytes] = {}
    specs: dict[str, ArraySpec] = {}
    for name in ARRAY_FIELDS:
        blobs[name], specs[name] = encode_array(arrays[name])
    meta_raw = ModelMeta.model_validate({**meta, "arrays": specs}).model_dump_json().encode()
    return {META_FIELD: meta_raw, **blobs, CHECKSUM_FIELD: checksum(meta_raw, blobs).encode()}


def publish(client: Any, version: str, fields: Mapping[str, bytes], keep: int) -> list[str]:
    """Write the version, make it current, announce it; return the versions deleted by trim."""
    key = keys.reco_model(version)
    pipe = transaction(client, key)
    pipe.delete(key)
    pipe.hset(key, mapping=dict(fields))
    pipe.execute()
    pipe = transaction(client, keys.reco_current())
    pipe.set(keys.reco_current(), version)
    pipe.lpush(keys.reco_versions(), version)
    pipe.publish(keys.reco_published(), version)
    pipe.execute()
    return trim(client, keep)


def trim(client: Any, keep: int) -> list[str]:
    """Delete the hashes of versions older than the newest `keep` and shorten the list."""
    old = [v.decode() for v in client.lrange(keys.reco_versions(), keep, -1)]
    if not old:
        return []
    kept = {v.decode() for v in client.lrange(keys.reco_versions(), 0, keep - 1)}
    pipe = transaction(client, keys.reco_versions())
    for version in old:
        if version not in kept:
            pipe.delete(keys.reco_model(version))
    pipe.ltrim(keys.reco_versions(), 0, keep - 1)
    pipe.execute()
    return old
