"""The benchmark's goals, each read from one run's results: met, MISSED or not measured.

The goals are about the physical limit and the 10× catalogue: each HTTP scenario against the
raw ASGI floor, listings at 100k cars against 10k, ranking and rebuilding at 100k, how fast a
bulk change and a single row reach the API, the publisher's sustained rate and Valkey's bytes
against the bytes it caches. A figure a run did not produce (QUICK runs skip the 100k
catalogue) is reported as not measured, never as met.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bench import ratios, scale_http

PUBLISHER_ROWS_PER_S = 15_000.0


@dataclass(frozen=True)
class Goal:
    """One goal and what the run measured for it."""

    figure: str
    value: float | None
    unit: str
    target: float
    higher: bool
    """True: the value must be ≥ target; False: ≤ target."""

    @property
    def measured(self) -> bool:
        return self.value is not None and not math.isnan(self.value)

    @property
    def met(self) -> bool:
        if not self.measured:
            return False
        assert self.value is not None
        return self.value >= self.target if self.higher else self.value <= self.target

    def verdict(self) -> str:
        if not self.measured:
            return "not measured"
        return "met" if self.met else "MISSED"

    def shown(self, x: float | None) -> str:
        if x is None or math.isnan(x):
            return "—"
        if self.unit == "×":
            return f"{x:.2f}×"
        if self.unit == "rows/s":
            return f"{x:,.0f} rows/s"
        return f"{x:.2f} {self.unit}" if x < 100 else f"{x:.0f} {self.unit}"

    def row(self) -> str:
        """One markdown table row: figure | value | goal | verdict."""
        sign = "≥" if self.higher else "≤"
        return (f"| {self.figure} | {self.shown(self.value)} | {sign} "
                f"{self.shown(self.target)} | {self.verdict()} |")


def _get(tree: Mapping[str, Any] | None, *path: str) -> Any:
    node: Any = tree
    for step in path:
        if not isinstance(node, Mapping) or step not in node:
            return None
        node = node[step]
    return node


def _over_raw_floor(r: Mapping[str, Any], scenario: str) -> float | None:
    http = r.get("http") or {}
    if scenario not in http:
        return None
    return ratios.versus_floors(http)[scenario]["raw floor"]


def _ratio(num: Any, den: Any) -> float | None:
    if num is None or not den:
        return None
    return float(num) / float(den)


def _publisher(r: Mapping[str, Any]) -> tuple[str, float | None]:
    """The publisher's sustained rate over the biggest bulk change the run made."""
    big = _get(r, "scale", "http_100k", "cdc", "throughput", "published", "rows_per_s")
    if big is not None:
        return "publisher, 100k-car change", float(big)
    small = _get(r, "cdc_throughput", "1x", "published", "rows_per_s")
    return (f"publisher, {r.get('cars', 10_000)}-car change",
            None if small is None else float(small))


def evaluate(r: Mapping[str, Any]) -> list[Goal]:
    """Every goal, in report order, with the run's value for it (None: not measured)."""
    scale = r.get("scale") or {}
    cdc_100k = _get(scale, "http_100k", "cdc") or {}
    runs = _get(scale, "http_100k", "runs") or {}
    goals = [
        Goal("dedicated anon ÷ raw floor, req/s", _over_raw_floor(r, "dedicated anon"), "×",
             0.8, True),
        Goal("dedicated buyer ÷ raw floor, req/s", _over_raw_floor(r, "dedicated buyer"), "×",
             0.8, True),
        Goal("listing broad reco ÷ raw floor, req/s", _over_raw_floor(r, "listing broad reco"),
             "×", 0.5, True),
    ]
    listings = {name: value for name, value, _ in scale_http.goals(runs)}
    for name in [s for s in scale_http.SCENARIOS if s.startswith("listing")]:
        goals.append(Goal(f"{name} at 100k ÷ at 10k cars, req/s", listings.get(name), "×",
                          scale_http.LISTING_GOAL, True))
    goals += [
        Goal("rank 100k candidates, p99", _get(scale, "rank_100k", "p99_ms"), "ms", 2.0, False),
        Goal("full rebuild 100k ÷ 10k, seconds",
             _ratio(_get(scale, "100k", "rebuild_s"), _get(scale, "10k", "rebuild_s")), "×",
             10.0, False),
        Goal("full rebuild 100k", _get(scale, "100k", "rebuild_s"), "s", 20.0, False),
        Goal(f"{r.get('cars', 10_000)}-car one-transaction change, all visible",
             r.get("bulk_visible_s"), "s", 1.5, False),
        Goal("100k-car one-transaction change, all visible", cdc_100k.get("bulk_visible_s"),
             "s", 15.0, False),
    ]
    label, rate = _publisher(r)
    goals.append(Goal(f"{label}, sustained", rate, "rows/s", PUBLISHER_ROWS_PER_S, True))
    for cars, fresh in (("10k", r), ("100k", cdc_100k)):
        for rate, name, target in ((200, "freshness" if cars == "10k" else "freshness_200", 50.0),
                                   (2000, "freshness_2000", 150.0)):
            got = fresh.get(name) or {}
            achieved = (f", {got['rate_per_s']:,.0f}/s achieved" if got.get("rate_per_s")
                        else "")
            goals.append(Goal(f"freshness p99 at {rate:,} rows/s offered{achieved}, {cars} cars",
                              got.get("p99_ms"), "ms", target, False))
    goals.append(Goal("Valkey bytes per live car ÷ its cached values' bytes",
                      _get(scale, "10k", "memory", "used_over_values"), "×", 1.15, False))
    return goals


def table(r: Mapping[str, Any]) -> list[str]:
    """Markdown lines: every goal with its verdict."""
    lines = ["", "| goal | value | target | verdict |", "|---|---:|---:|---|"]
    lines += [goal.row() for goal in evaluate(r)]
    return lines
