"""Results file, BENCHMARKS.md table, ratios and goals."""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path
from typing import Any

from bench import storefront

RESULTS = Path("bench/results")
BENCHMARKS = Path("BENCHMARKS.md")

# (label, numerator scenario, denominator scenario, metric, goal, higher_is_better)
RATIOS = [
    ("dedicated / floor, req/s", "dedicated anon", "floor", "rps", 0.6, True),
    ("listing broad reco / floor, req/s", "listing broad reco", "floor", "rps", 0.4, True),
    ("dedicated / db-direct, req/s", "dedicated anon", "db-direct dedicated", "rps", 3.0, True),
    ("listing / db-direct, req/s", "listing broad reco", "db-direct listing", "rps", 10.0, True),
    ("dedicated / floor, p99 at 1 conn", "dedicated anon c1", "floor c1", "p99_ms", None, False),
    ("listing / floor, p99 at 1 conn", "listing broad reco c1", "floor c1", "p99_ms", None, False),
    ("dedicated / db-direct, p99 at 1 conn", "dedicated anon c1", "db-direct dedicated c1",
     "p99_ms", None, False),
    ("listing / db-direct, p99 at 1 conn", "listing broad reco c1", "db-direct listing c1",
     "p99_ms", None, False),
]


def save(results: dict[str, Any]) -> Path:
    """Write the raw results as JSON; return the path."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS / f"{stamp}.json"
    path.write_text(json.dumps(results, indent=2, default=str))
    BENCHMARKS.touch()
    with BENCHMARKS.open("a") as fh:
        fh.write("\n" + table(results) + "\n")
    return path


def _verdict(value: float, goal: float | None, higher: bool) -> str:
    if goal is None or math.isnan(value):
        return ""
    met = value >= goal if higher else value <= goal
    return f"{'met' if met else 'MISSED'} (goal {'≥' if higher else '≤'} {goal:g})"


def table(r: dict[str, Any]) -> str:
    """Markdown for one run."""
    http = r.get("http", {})
    lines = [f"## Run {r['when']}{' (QUICK)' if r.get('quick') else ''}", "",
             f"Machine: {r['machine']['cpus']} CPUs, {r['machine']['platform']}, Python "
             f"{r['machine']['python']}; {r['cars']} live cars; {r['seconds_per_run']} s per "
             "wrk run; API = one uvicorn worker (uvloop, httptools) on the same machine; "
             f"reco ranker: {r.get('ranker', '?')}.", "",
             "| scenario | conns | req/s | p50 ms | p99 ms | errors |",
             "|---|---:|---:|---:|---:|---:|"]
    for name, x in http.items():
        lines.append(f"| {name} | {x['connections']} | {x['rps']:.0f} | {x['p50_ms']:.2f} | "
                     f"{x['p99_ms']:.2f} | {x['errors']} |")
    lines += ["", "| ratio | value | goal |", "|---|---:|---|"]
    for label, num, den, metric, goal, higher in RATIOS:
        if num in http and den in http and http[den][metric]:
            value = http[num][metric] / http[den][metric]
            lines.append(f"| {label} | {value:.2f}× | {_verdict(value, goal, higher)} |")
    fresh = r.get("freshness")
    if fresh:
        lines += ["", "| CDC freshness | value | goal |", "|---|---:|---|",
                  f"| single-row commit → API, p50 | {fresh['p50_ms']:.1f} ms | |",
                  f"| single-row commit → API, p99 ({fresh['rate_per_s']:.0f}/s, "
                  f"{fresh['samples']} rows, {fresh['missed']} missed) | {fresh['p99_ms']:.1f} ms"
                  f" | {_verdict(fresh['p99_ms'], 250, False)} |",
                  f"| {r['cars']} prices in one transaction, all visible | "
                  f"{r['bulk_visible_s']:.2f} s | {_verdict(r['bulk_visible_s'], 5, False)} |"]
    scale = r.get("scale", {})
    if scale:
        lines += ["", "| build and memory | cars | rebuild s | SQL statements | bytes/car | goal |",
                  "|---|---:|---:|---:|---:|---|"]
        for size in ("10k", "100k"):
            if size in scale:
                s = scale[size]
                goal = _verdict(s["rebuild_s"], 5, False) if size == "10k" else ""
                lines.append(f"| full rebuild {size} | {s['cars']} | {s['rebuild_s']:.2f} | "
                             f"{s['sql_statements']} | {s['bytes_per_car']} | {goal} |")
        for size in ("rank_10k", "rank_100k"):
            if size in scale:
                s = scale[size]
                goal = _verdict(s["p99_ms"], 1.0, False) if size == "rank_10k" else ""
                lines.append(f"| reco rank {s['candidates']} candidates, p50/p99 ms | "
                             f"{s['candidates']} | {s['p50_ms']:.3f} / {s['p99_ms']:.3f} | | | "
                             f"{goal} |")
    if r.get("storefront"):
        lines += storefront.table(r["storefront"])
    lines.append(f"\nTotal bench time {r.get('elapsed_s', 0)} s.")
    return "\n".join(lines)
