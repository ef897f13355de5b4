"""A published model version, verified and decoded into numpy arrays (never unpickled).

The API image carries numpy only: the trainer's LightFM parameters arrive as raw little-endian
arrays whose sizes `carpages_shared.reco_format.verified_meta` has checked against the metadata
and the checksum before `np.frombuffer` touches them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import orjson
from carpages_shared.reco_format import (
    ModelMeta,
    StoredFields,
    attribute_features,
    verified_meta,
)


def decode(raw: bytes, dtype: str, shape: tuple[int, ...]) -> np.ndarray:
    """Bytes of a checked size -> a read-only array of that dtype and shape."""
    return np.frombuffer(raw, dtype=np.dtype(dtype)).reshape(shape)


@dataclass(frozen=True, eq=False)
class LoadedModel:
    """Everything ranking needs from one model version."""

    version: str
    meta: ModelMeta
    attribute_index: dict[str, int]
    identity_rows: dict[int, int]
    """car id -> its identity feature row (cars the model was trained with)."""
    item_table: np.ndarray
    """[n_item_features + 1, k + 1]: feature embeddings with the feature bias as the last
    column; the extra last row is the mean identity, standing in for the identity feature of a
    car the model was not trained with (same feature count and scale as a trained car)."""
    user_ids: np.ndarray
    """Buyer ids, sorted (a binary search per request; no per-buyer Python objects)."""
    user_vectors: np.ndarray
    """[n_buyers, k + 1]: buyer embeddings with a trailing 1 (it picks up the item bias)."""
    generic: np.ndarray
    """[k + 1]: the mean buyer, the order for a viewer the model knows nothing about."""

    @property
    def dims(self) -> int:
        """Width of an item or user vector (components + bias)."""
        return int(self.item_table.shape[1])

    @classmethod
    def from_fields(cls, fields: StoredFields) -> LoadedModel:
        """Verify (raises BadModel) and decode the HGETALL result of a model version."""
        meta = verified_meta(fields)
        raw = {k.decode() if isinstance(k, bytes) else k: v for k, v in fields.items()}
        arrays = {name: decode(raw[name], spec.dtype, spec.shape)
                  for name, spec in meta.arrays.items()}
        item_table = np.hstack([arrays["item_embeddings"], arrays["item_biases"][:, None]])
        n_attr = len(meta.attribute_features)
        identities = item_table[n_attr:]
        mean_identity = (identities.mean(axis=0) if len(identities)
                         else np.zeros(item_table.shape[1], dtype=np.float32))
        item_table = np.vstack([item_table, mean_identity[None, :]])
        by_id = np.argsort(arrays["user_ids"], kind="stable")
        users = arrays["user_embeddings"][by_id]
        user_vectors = np.hstack([users, np.ones((users.shape[0], 1), dtype=np.float32)])
        mean_user = users.mean(axis=0) if users.shape[0] else np.zeros(users.shape[1])
        return cls(
            version=meta.version,
            meta=meta,
            attribute_index={n: i for i, n in enumerate(meta.attribute_features)},
            identity_rows={c: n_attr + i for i, c in enumerate(arrays["item_ids"].tolist())},
            item_table=np.ascontiguousarray(item_table, dtype=np.float32),
            user_ids=np.ascontiguousarray(arrays["user_ids"][by_id]),
            user_vectors=np.ascontiguousarray(user_vectors, dtype=np.float32),
            generic=np.append(mean_user, 1.0).astype(np.float32),
        )

    @property
    def identity_weight(self) -> float:
        """Weight of the identity row against one attribute row."""
        return self.meta.scheme.identity_weight

    def feature_rows(self, car_id: int, memberships: bytes) -> tuple[list[int], int]:
        """Attribute rows and identity row (-1: none) of a car from its memberships JSON.

        A car the model was not trained with gets the mean-identity row; a car with no
        attribute the model knows and no identity of its own gets nothing.
        """
        try:
            data = orjson.loads(memberships)
            sets = [(str(f), str(v)) for f, v in data["s"]]
            scores = [(str(f), float(s)) for f, s in data["n"]]
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            return [], -1
        names = attribute_features(sets, scores, self.meta.scheme)
        rows = [self.attribute_index[n] for n in names if n in self.attribute_index]
        identity = self.identity_rows.get(car_id, len(self.item_table) - 1 if rows else -1)
        return rows, identity

    def buyer_vector(self, buyer_id: int) -> np.ndarray | None:
        """The buyer's vector, or None for a buyer the model has not seen."""
        row = int(np.searchsorted(self.user_ids, buyer_id))
        if row < len(self.user_ids) and self.user_ids[row] == buyer_id:
            vector: np.ndarray = self.user_vectors[row]
            return vector
        return None
