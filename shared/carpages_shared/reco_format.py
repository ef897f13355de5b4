"""The published recommendation model's format: the contract between the trainer and the API.

A model version is one Valkey HASH (`keys.reco_model(version)`) of raw little-endian arrays plus
a JSON `meta` field that gives every array's dtype and shape, the item feature scheme and the
evaluation figures, and a `checksum` field over all of it. Nothing is pickled: a reader only ever
calls `np.frombuffer` on bytes whose size it has checked.

Item feature rows: row `i < len(meta.attribute_features)` is the attribute feature named
`attribute_features[i]`; row `len(attribute_features) + j` is the identity feature of car
`item_ids[j]`. A car's representation is the weighted mean of the rows of its features (LightFM's
row-normalised item features; each attribute weighs 1, the identity `scheme.identity_weight`),
so a car the model never saw is placed by its attributes.
No numpy here: both the trainer and the API import this module.
"""

from __future__ import annotations

import hashlib
from bisect import bisect_right
from collections.abc import Iterable, Mapping
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

FORMAT_VERSION: Final = 1

META_FIELD: Final = "meta"
CHECKSUM_FIELD: Final = "checksum"
ARRAY_FIELDS: Final = (
    "item_embeddings",  # float32 [n_item_features, k]
    "item_biases",      # float32 [n_item_features]
    "item_ids",         # int64 [n_identity_items]: car id of each identity row
    "user_embeddings",  # float32 [n_buyers, k]
    "user_biases",      # float32 [n_buyers]
    "user_ids",         # int64 [n_buyers]: buyer id of each row
)
DTYPES: Final = {"<f4": 4, "<i8": 8}
"""Allowed array dtypes (numpy dtype strings) and their item sizes."""

CATEGORICAL_FIELDS: Final = ("make_id", "model_id", "fuel_type", "transmission", "city_id")
"""Membership set fields used as item features as they are."""
BANDED_FIELDS: Final = ("price", "year", "km")
"""Membership numeric fields used as item features through bands."""


StoredFields = Mapping[bytes, bytes] | Mapping[str, bytes]
"""A model version's hash fields: HGETALL's bytes keys, or the str keys the trainer writes."""


class BadModel(ValueError):
    """A stored model version is incomplete, inconsistent or corrupted; it must not serve."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class FeatureScheme(_Frozen):
    """How a car's listing-index memberships become item feature names."""

    categorical: tuple[str, ...] = CATEGORICAL_FIELDS
    body_types: dict[str, str]
    """model id -> body type: the index has no body type, so the scheme carries the lookup."""
    bands: dict[str, tuple[float, ...]]
    """numeric field -> ascending band edges; band = number of edges <= value."""
    identity_weight: float = 1.0
    """weight of a car's identity feature relative to one attribute feature."""


class ArraySpec(_Frozen):
    """dtype and shape of one stored array."""

    dtype: str
    shape: tuple[int, ...]

    def nbytes(self) -> int:
        """Exact byte length the array must have."""
        size = DTYPES[self.dtype]
        for dim in self.shape:
            size *= dim
        return size


class ModelMeta(_Frozen):
    """The `meta` field of a model version."""

    format: Literal[1] = FORMAT_VERSION
    version: str
    created_at: str
    no_components: int
    scheme: FeatureScheme
    attribute_features: tuple[str, ...]
    arrays: dict[str, ArraySpec]
    evaluation: dict[str, dict[str, float]]
    training: dict[str, float | int | str]


def band(value: float, edges: Iterable[float]) -> int:
    """Index of the band `value` falls in (0 below the first edge)."""
    return bisect_right(list(edges), value)


def attribute_features(sets: Iterable[tuple[str, str]], scores: Iterable[tuple[str, float]],
                       scheme: FeatureScheme) -> list[str]:
    """Attribute feature names of a car, from its index memberships (`{"s": ..., "n": ...}`)."""
    names: list[str] = []
    wanted = set(scheme.categorical)
    for field, value in sets:
        if field in wanted:
            names.append(f"{field}={value}")
        if field == "model_id" and value in scheme.body_types:
            names.append(f"body_type={scheme.body_types[value]}")
    for field, score in scores:
        edges = scheme.bands.get(field)
        if edges is not None:
            names.append(f"{field}_band={band(score, edges)}")
    return names


def checksum(meta_raw: bytes, arrays: Mapping[str, bytes]) -> str:
    """SHA-256 over the stored meta bytes and every array (name, length, bytes) in fixed order."""
    digest = hashlib.sha256(meta_raw)
    for name in ARRAY_FIELDS:
        data = arrays[name]
        digest.update(name.encode())
        digest.update(len(data).to_bytes(8, "little"))
        digest.update(data)
    return digest.hexdigest()


def _text(key: bytes | str) -> str:
    return key.decode() if isinstance(key, bytes) else key


def verified_meta(fields: StoredFields) -> ModelMeta:
    """Check a stored model hash (HGETALL result) is complete and intact; return its meta.

    Raises BadModel for a missing field, an unknown dtype, an array whose size disagrees with its
    shape, or a checksum mismatch — a half-written or corrupted version never serves.
    """
    found = {_text(k): v for k, v in fields.items()}
    missing = [f for f in (META_FIELD, CHECKSUM_FIELD, *ARRAY_FIELDS) if f not in found]
    if missing:
        raise BadModel(f"missing fields: {', '.join(missing)}")
    try:
        meta = ModelMeta.model_validate_json(found[META_FIELD])
    except ValidationError as exc:
        raise BadModel(f"unreadable meta: {exc.error_count()} errors") from None
    for name in ARRAY_FIELDS:
        spec = meta.arrays.get(name)
        if spec is None or spec.dtype not in DTYPES:
            raise BadModel(f"array {name}: no spec or unsupported dtype")
        if spec.nbytes() != len(found[name]):
            raise BadModel(f"array {name}: {len(found[name])} bytes, spec says {spec.nbytes()}")
    expected = checksum(found[META_FIELD], {n: found[n] for n in ARRAY_FIELDS})
    if _text(found[CHECKSUM_FIELD]) != expected:
        raise BadModel("checksum mismatch")
    _check_shapes(meta)
    return meta


def _check_shapes(meta: ModelMeta) -> None:
    """The arrays must agree with each other and with the feature layout."""
    a = meta.arrays
    if len(a["item_ids"].shape) != 1 or len(a["user_ids"].shape) != 1:
        raise BadModel("id maps must be one-dimensional")
    k = meta.no_components
    n_features = len(meta.attribute_features) + a["item_ids"].shape[0]
    n_users = a["user_ids"].shape[0]
    expected = {
        "item_embeddings": (n_features, k), "item_biases": (n_features,),
        "user_embeddings": (n_users, k), "user_biases": (n_users,),
    }
    for name, shape in expected.items():
        if a[name].shape != shape:
            raise BadModel(f"array {name}: shape {a[name].shape}, expected {shape}")
