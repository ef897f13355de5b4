"""One training run: snapshot -> features -> fit on the past -> evaluate on the holdout against
popularity -> refit on everything -> the arrays and metadata to publish."""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from carpages_shared.progress import ProgressFn

from carpages_reco.evaluation import Metrics, evaluate, popularity_scorer
from carpages_reco.features import build_scheme, car_features, item_feature_matrix, vocabulary
from carpages_reco.interactions import build_matrices, holdout_pairs, weighted_pairs
from carpages_reco.settings import RecoSettings
from carpages_reco.source import Snapshot
from carpages_reco.trainer import ModelArrays, export, fit, model_scorer

log = logging.getLogger(__name__)


class NothingToTrain(RuntimeError):
    """No buyer has interacted with any car yet."""


@dataclass(frozen=True)
class Trained:
    """The arrays to publish and their metadata (without array specs, filled in by the store)."""

    arrays: ModelArrays
    meta: dict[str, Any]
    model: Metrics
    popularity: Metrics


def kind_weights(settings: RecoSettings) -> dict[str, float]:
    """Weight of each interaction kind."""
    return {"view": settings.weight_view, "lead": settings.weight_lead,
            "test_drive": settings.weight_test_drive, "offer": settings.weight_offer}


def lift(model: float, baseline: float) -> str:
    """`x2.31` (or `n/a` when the baseline is zero)."""
    return f"x{model / baseline:.2f}" if baseline > 0 else "n/a"


def train(snapshot: Snapshot, settings: RecoSettings, version: str,
          progress: ProgressFn | None = None) -> Trained:
    """Fit, evaluate against popularity, refit on all data; pure CPU, no I/O. `progress` is told
    (epochs done, epochs in all fits) after every epoch."""
    started = time.monotonic()
    cars = snapshot.cars
    bands = {"price": settings.price_bands, "year": settings.year_bands, "km": settings.km_bands}
    scheme = build_scheme(cars, snapshot.body_types, bands, settings.identity_weight)
    names = car_features(cars, scheme)
    vocab = vocabulary(names)
    car_ids = np.asarray([c.car_id for c in cars], dtype=np.int64)
    car_index = {int(c): i for i, c in enumerate(car_ids)}
    features = item_feature_matrix(car_ids.tolist(), names, vocab, scheme.identity_weight)

    weights = kind_weights(settings)
    early = weighted_pairs(snapshot.signals, weights, settings.max_weight, late=False)
    late = weighted_pairs(snapshot.signals, weights, settings.max_weight, late=True)
    everything = build_matrices(weighted_pairs(snapshot.signals, weights, settings.max_weight),
                                car_index, len(cars))
    if not everything.interactions.nnz:
        raise NothingToTrain("no interactions, test drives or offers to learn from")
    past = build_matrices(early, car_index, len(cars))
    holdout = build_matrices(holdout_pairs(early, late), car_index, len(cars),
                             past.buyer_ids.tolist())

    k = settings.eval_k
    model_m = pop_m = Metrics(0.0, 0.0, 0.0, 0)
    arrays: ModelArrays | None = None
    fits = int(bool(past.interactions.nnz)) + int(settings.refit_on_all or
                                                  not past.interactions.nnz)
    epochs_done = 0

    def on_epoch() -> None:
        nonlocal epochs_done
        epochs_done += 1
        if progress is not None:
            progress(epochs_done, fits * settings.epochs)

    if past.interactions.nnz:
        fitted = export(fit(past, features, settings, on_epoch), car_ids, past.buyer_ids)
        seen, held = past.interactions.tocsr(), holdout.interactions.tocsr()
        live = np.asarray([c.live for c in cars], dtype=bool)
        model_m = evaluate(model_scorer(fitted, features), seen, held, k, live)
        pop_m = evaluate(popularity_scorer(past.weights), seen, held, k, live)
        arrays = fitted
    if settings.refit_on_all or arrays is None:
        arrays = export(fit(everything, features, settings, on_epoch), car_ids,
                        everything.buyer_ids)
    n_pairs = len(set(early) | set(late))
    log.info("trained %s on %d cars, %d buyers, %d pairs in %.1fs", version, len(cars),
             len(arrays.user_ids), n_pairs, time.monotonic() - started)
    meta: dict[str, Any] = {
        "version": version,
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "no_components": settings.no_components,
        "scheme": scheme.model_dump(),
        "attribute_features": vocab,
        "evaluation": {"model": model_m.as_dict(k), "popularity": pop_m.as_dict(k)},
        "training": {
            "cars": len(cars), "buyers": len(arrays.user_ids), "pairs": n_pairs,
            "holdout_days": settings.holdout_days, "history_days": settings.history_days,
            "cutoff": snapshot.cutoff.isoformat(),
            "epochs": settings.epochs, "loss": "warp", "learning_rate": settings.learning_rate,
            "refit_on_all": str(settings.refit_on_all).lower(),
            "seconds": round(time.monotonic() - started, 2),
            **{f"weight_{kind}": w for kind, w in weights.items()},
        },
    }
    return Trained(arrays, meta, model_m, pop_m)


def report(trained: Trained, k: int) -> str:
    """Human-readable evaluation: model vs popularity, with the lift."""
    m, p = trained.model, trained.popularity
    return (f"holdout: {m.buyers} buyers\n"
            f"  model      precision@{k}={m.precision:.5f} recall@{k}={m.recall:.5f} "
            f"auc={m.auc:.4f}\n"
            f"  popularity precision@{k}={p.precision:.5f} recall@{k}={p.recall:.5f} "
            f"auc={p.auc:.4f}\n"
            f"  lift       precision {lift(m.precision, p.precision)} "
            f"recall {lift(m.recall, p.recall)} auc {lift(m.auc, p.auc)}")
