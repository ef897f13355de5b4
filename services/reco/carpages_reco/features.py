"""Item features: the scheme (bands, body types), the vocabulary and LightFM's feature matrix.

Every car gets its identity feature plus attribute features (make, model, body type, fuel,
transmission, city, price/year/km bands), each row normalised to sum 1 as LightFM recommends.
The identity lets the model learn a car's own quirks; the attributes place cars it never saw.
The identity weighs `identity_weight` against one attribute: with little data per car the
identity mostly learns noise, so it is tuned down (see docs/reco.md for the sweep).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp
from carpages_shared.reco_format import BANDED_FIELDS, FeatureScheme, attribute_features

from carpages_reco.source import CarAttributes


def quantile_edges(values: Sequence[float], bands: int) -> tuple[float, ...]:
    """Ascending, distinct edges that split `values` into about `bands` equal-count bands."""
    if not values:
        return ()
    qs = np.quantile(np.asarray(values, dtype=np.float64), np.linspace(0, 1, bands + 1)[1:-1])
    return tuple(sorted({round(float(q), 1) for q in qs}))


def build_scheme(cars: Sequence[CarAttributes], body_types: dict[str, str],
                 bands: dict[str, int], identity_weight: float = 1.0) -> FeatureScheme:
    """Band edges from the live cars (all cars when none is live) and the body-type lookup."""
    basis = [c for c in cars if c.live] or list(cars)
    edges: dict[str, tuple[float, ...]] = {}
    for field in BANDED_FIELDS:
        values = [score for c in basis for f, score in c.scores if f == field]
        edges[field] = quantile_edges(values, bands[field])
    return FeatureScheme(body_types=dict(body_types), bands=edges,
                         identity_weight=identity_weight)


def car_features(cars: Sequence[CarAttributes], scheme: FeatureScheme) -> list[list[str]]:
    """Attribute feature names of each car, in order."""
    return [attribute_features(c.sets, c.scores, scheme) for c in cars]


def vocabulary(names: Sequence[Sequence[str]]) -> tuple[str, ...]:
    """Every attribute feature name that occurs, sorted (row order of the attribute block)."""
    return tuple(sorted({n for row in names for n in row}))


def item_feature_matrix(car_ids: Sequence[int], names: Sequence[Sequence[str]],
                        vocab: Sequence[str], identity_weight: float = 1.0) -> sp.csr_matrix:
    """[n_cars, len(vocab) + n_cars]: attributes then identity, each row summing to 1."""
    index = {n: i for i, n in enumerate(vocab)}
    n_attr = len(vocab)
    rows: list[int] = []
    cols: list[int] = []
    vals: list[float] = []
    for row, feature_names in enumerate(names):
        attrs = [index[n] for n in feature_names if n in index]
        # A car without any attribute keeps its identity at full weight: no row may be empty.
        id_weight = identity_weight if attrs else 1.0
        pairs = [(c, 1.0) for c in attrs] + ([(n_attr + row, id_weight)] if id_weight else [])
        total = sum(w for _, w in pairs)
        rows += [row] * len(pairs)
        cols += [c for c, _ in pairs]
        vals += [w / total for _, w in pairs]
    shape = (len(car_ids), n_attr + len(car_ids))
    return sp.csr_matrix((np.asarray(vals, dtype=np.float32), (rows, cols)), shape=shape)
