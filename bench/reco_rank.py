"""Micro-benchmark of the model ranker: `python -m bench.reco_rank [--candidates 10000]`.

Builds a synthetic model in the published format (the trainer's encoder, the API's decoder),
an item table for every candidate from index-membership JSON, then times `ModelRanker.rank`
end to end (list in, list out) for a known buyer, an anonymous viewer with seen cars and the
generic order, plus the background costs: decoding a model and building the item table.
No servers; nothing here is a test assertion (the machine is shared and noisy).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Sequence

import numpy as np
from carpages_api.reco.loader import LoadedModel
from carpages_api.reco.model import ModelRanker, Serving
from carpages_api.reco.ranking import Viewer
from carpages_api.reco.sync import build_table
from carpages_reco.store import model_fields
from carpages_shared.assembly import IndexEntry
from carpages_shared.reco_format import FeatureScheme


class _Unused:
    version = "none"

    def rank(self, candidates: Sequence[int], viewer: Viewer,
             popularity: dict[int, float] | None = None) -> list[int]:
        raise AssertionError("the model serves")


def synthetic(cars: int, buyers: int, k: int) -> tuple[LoadedModel, list[tuple[int, bytes]]]:
    """A random model over `cars` cars with realistic feature counts, and their memberships."""
    rng = np.random.default_rng(7)
    scheme = FeatureScheme(body_types={str(m): f"body{m % 8}" for m in range(200)},
                           bands={"price": tuple(float(x) for x in range(1, 8)),
                                  "year": (2014.0, 2016.0, 2018.0, 2020.0, 2022.0),
                                  "km": (2e4, 4e4, 6e4, 8e4, 1e5)},
                           identity_weight=0.25)
    ids = np.arange(10_000, 10_000 + cars, dtype=np.int64)
    entries = []
    for car_id in ids.tolist():
        model = int(rng.integers(200))
        sets = (("city_id", str(rng.integers(18))), ("make_id", str(model // 8)),
                ("model_id", str(model)), ("fuel_type", "petrol"), ("transmission", "manual"))
        scores = (("price", float(rng.uniform(0, 9))), ("year", float(rng.integers(2012, 2025))),
                  ("km", float(rng.uniform(0, 2e5))))
        entries.append((car_id, IndexEntry(sets, scores).to_json()))
    attrs = sorted({f"city_id={c}" for c in range(18)} | {f"make_id={m}" for m in range(25)}
                   | {f"model_id={m}" for m in range(200)}
                   | {f"body_type=body{b}" for b in range(8)}
                   | {"fuel_type=petrol", "transmission=manual"}
                   | {f"{f}_band={b}" for f in ("price", "year", "km") for b in range(8)})
    n_features = len(attrs) + cars
    arrays: dict[str, np.ndarray] = {
        "item_embeddings": rng.standard_normal((n_features, k)).astype(np.float32),
        "item_biases": rng.standard_normal(n_features).astype(np.float32),
        "item_ids": ids,
        "user_embeddings": rng.standard_normal((buyers, k)).astype(np.float32),
        "user_biases": np.zeros(buyers, dtype=np.float32),
        "user_ids": np.arange(1, buyers + 1, dtype=np.int64),
    }
    meta = {"version": "bench", "created_at": "now", "no_components": k,
            "scheme": scheme.model_dump(), "attribute_features": attrs, "evaluation": {},
            "training": {}}
    return LoadedModel.from_fields(model_fields(meta, arrays)), entries


def timed(fn: Callable[[], object], repeats: int) -> tuple[float, float]:
    """(p50, p99) milliseconds."""
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        timings.append((time.perf_counter() - started) * 1000)
    timings.sort()
    return statistics.median(timings), timings[int(0.99 * (len(timings) - 1))]


def main(argv: list[str] | None = None) -> int:
    """Print p50/p99 per viewer kind and the background costs."""
    parser = argparse.ArgumentParser(prog="bench.reco_rank")
    parser.add_argument("--candidates", type=int, default=10_000)
    parser.add_argument("--buyers", type=int, default=20_000)
    parser.add_argument("--components", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=300)
    parser.add_argument("--sorted-prefix", type=int, default=1000,
                        help="also time with only this many leading positions sorted")
    args = parser.parse_args(argv)
    fields_started = time.perf_counter()
    model, entries = synthetic(args.candidates, args.buyers, args.components)
    print(f"synthetic model: {(time.perf_counter() - fields_started):.1f}s to generate")
    load_ms, _ = timed(lambda: LoadedModel.from_fields(
        model_fields(model.meta.model_dump(exclude={"arrays"}), _arrays(model))), 3)
    table_ms, _ = timed(lambda: build_table(model, entries), 3)
    serving = Serving(model, build_table(model, entries))
    candidates = [car_id for car_id, _ in entries]
    print(f"{args.candidates} candidates, {args.components} components; "
          f"background: encode+verify+decode {load_ms:.0f} ms, item table {table_ms:.0f} ms")
    for prefix in (None, args.sorted_prefix):
        ranker = ModelRanker(client=None, fallback=_Unused(), sorted_prefix=prefix)
        ranker._serving = serving
        print(f" sorted: {'all' if prefix is None else f'first {prefix}'}")
        for name, viewer in [("known buyer", Viewer(buyer_id=17)),
                             ("seen cars", Viewer(seen_ids=tuple(candidates[:3]))),
                             ("generic", Viewer())]:
            for _ in range(20):  # warm-up
                ranker.rank(candidates, viewer)
            p50, p99 = timed(lambda r=ranker, v=viewer: r.rank(candidates, v),  # type: ignore[misc]
                             args.repeats)
            print(f"  rank, {name:12s} p50 {p50:.3f} ms  p99 {p99:.3f} ms")
    return 0


def _arrays(model: LoadedModel) -> dict[str, np.ndarray]:
    """The stored arrays back from a loaded model (for timing a full encode/decode)."""
    n = len(model.attribute_index) + len(model.identity_rows)
    return {"item_embeddings": model.item_table[:n, :-1], "item_biases": model.item_table[:n, -1],
            "item_ids": np.asarray(sorted(model.identity_rows), dtype=np.int64),
            "user_embeddings": model.user_vectors[:, :-1],
            "user_biases": np.zeros(len(model.user_ids), dtype=np.float32),
            "user_ids": model.user_ids}


if __name__ == "__main__":
    raise SystemExit(main())
