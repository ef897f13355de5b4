"""Fitting LightFM (WARP, item features) and exporting the arrays the API serves from."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from lightfm import LightFM

from carpages_reco.evaluation import Scorer
from carpages_reco.interactions import Matrices
from carpages_reco.settings import RecoSettings


@dataclass(frozen=True)
class ModelArrays:
    """Everything the API needs: feature embeddings and biases, buyers' ones, and the id maps."""

    item_embeddings: np.ndarray
    item_biases: np.ndarray
    item_ids: np.ndarray
    user_embeddings: np.ndarray
    user_biases: np.ndarray
    user_ids: np.ndarray

    def as_dict(self) -> dict[str, np.ndarray]:
        """Arrays by their stored field name."""
        return dict(self.__dict__)


def fit(matrices: Matrices, item_features: sp.csr_matrix, settings: RecoSettings,
        on_epoch: Callable[[], None] | None = None) -> LightFM:
    """Fit a WARP model; buyers have identity features only, cars identity + attributes.
    `on_epoch` is called after every epoch."""
    model = LightFM(no_components=settings.no_components, loss="warp",
                    learning_rate=settings.learning_rate, item_alpha=settings.item_alpha,
                    user_alpha=settings.user_alpha, max_sampled=settings.max_sampled,
                    random_state=settings.random_state)
    # One epoch per call, so progress can be reported: `fit` is `fit_partial` on a fresh model,
    # and each epoch draws from the model's own random state, so the result is the same.
    for _ in range(settings.epochs):
        model.fit_partial(matrices.interactions, item_features=item_features,
                          sample_weight=matrices.weights, epochs=1,
                          num_threads=settings.num_threads)
        if on_epoch is not None:
            on_epoch()
    return model


def export(model: LightFM, item_ids: np.ndarray, buyer_ids: np.ndarray) -> ModelArrays:
    """The fitted parameters as plain float32 / int64 arrays."""
    return ModelArrays(
        item_embeddings=np.asarray(model.item_embeddings, dtype=np.float32),
        item_biases=np.asarray(model.item_biases, dtype=np.float32),
        item_ids=np.asarray(item_ids, dtype=np.int64),
        user_embeddings=np.asarray(model.user_embeddings, dtype=np.float32),
        user_biases=np.asarray(model.user_biases, dtype=np.float32),
        user_ids=np.asarray(buyer_ids, dtype=np.int64),
    )


def model_scorer(arrays: ModelArrays, item_features: sp.csr_matrix) -> Scorer:
    """Scores the way the API computes them: (features @ embeddings) · buyer + feature biases."""
    reps = np.asarray(item_features @ arrays.item_embeddings, dtype=np.float32)
    biases = np.asarray(item_features @ arrays.item_biases, dtype=np.float32).ravel()

    def score(rows: np.ndarray) -> np.ndarray:
        result: np.ndarray = arrays.user_embeddings[rows] @ reps.T + biases
        return result

    return score
