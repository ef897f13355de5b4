"""PNG charts of one run, saved beside its JSON (`bench/results/<stem>-*.png`): req/s and p99
per HTTP scenario against both floors, uvicorn against Granian, Valkey Cluster against
standalone, 100k cars against 10k, CDC freshness (the single-row latency CDF and the bulk
change's pages visible over time) and CDC throughput (rows published and applied over time
during each bulk change)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from bench import ratios

FLOOR_STYLE = {"raw floor": ("tab:red", "--"), "floor": ("tab:gray", ":")}
"""Colour and line style of each floor's reference line."""


def cdf(values: Sequence[float]) -> tuple[list[float], list[float]]:
    """The empirical CDF: sorted values and the share of samples at or below each."""
    xs = sorted(values)
    return xs, [(n + 1) / len(xs) for n in range(len(xs))]


def floor_lines(http: ratios.Figures, metric: str) -> list[tuple[str, int, float]]:
    """(floor, connections, value) for each floor run the chart draws a reference line at."""
    out = []
    for base in ratios.FLOORS:
        for conns in sorted({x["connections"] for x in http.values()}, reverse=True):
            floor = ratios.floor_of(http, base, conns)
            if floor is not None:
                out.append((base, conns, float(floor[metric])))
    return out


def render(results: Mapping[str, Any], stem: Path) -> list[Path]:
    """Write every chart the run has data for; return their paths."""
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    written = []
    if results.get("http"):
        written.append(_http(results["http"], stem.with_name(f"{stem.name}-http.png")))
    servers = results.get("servers") or {}
    if {"uvicorn", "granian"} <= set(servers):
        written.append(_side_by_side(
            {s: servers[s] for s in ("uvicorn", "granian")},
            "Server choice: the same scenarios under uvicorn and Granian, back to back",
            stem.with_name(f"{stem.name}-servers.png")))
    clustered = (results.get("valkey_cluster") or {}).get("runs") or {}
    if len(clustered) > 1:
        written.append(_side_by_side(
            clustered, "Valkey Cluster vs standalone: the same API and catalogue, back to back",
            stem.with_name(f"{stem.name}-cluster.png")))
    at_100k = ((results.get("scale") or {}).get("http_100k") or {}).get("runs") or {}
    if len(at_100k) > 1:
        written.append(_side_by_side(
            at_100k, "10k vs 100k live cars: the same scenarios, each on its own catalogue",
            stem.with_name(f"{stem.name}-100k.png")))
    fresh = results.get("freshness") or {}
    if fresh.get("latencies_ms") or results.get("bulk_timeline"):
        written.append(_freshness(results, stem.with_name(f"{stem.name}-freshness.png")))
    throughput = dict(results.get("cdc_throughput") or {})
    cdc_100k = ((results.get("scale") or {}).get("http_100k") or {}).get("cdc") or {}
    if cdc_100k.get("throughput"):
        throughput["100k cars"] = cdc_100k["throughput"]
    if throughput:
        written.append(_throughput(throughput, stem.with_name(f"{stem.name}-cdc.png")))
    return written


def _http(http: ratios.Figures, path: Path) -> Path:
    import matplotlib.pyplot as plt

    names = list(http)
    colors = ["tab:blue" if http[n]["connections"] > 1 else "tab:orange" for n in names]
    fig, axes = plt.subplots(1, 2, figsize=(14, 0.35 * len(names) + 2), sharey=True)
    for ax, metric, label in ((axes[0], "rps", "req/s"), (axes[1], "p99_ms", "p99 ms")):
        ax.barh(names, [http[n][metric] for n in names], color=colors)
        for base, conns, value in floor_lines(http, metric):
            color, style = FLOOR_STYLE[base]
            ax.axvline(value, color=color, linestyle=style, linewidth=1.2 if conns > 1 else 0.8,
                       label=f"{'FastAPI /healthz' if base == 'floor' else 'raw ASGI'} floor, "
                             f"{conns} conn")
        ax.set_xlabel(label)
        ax.grid(axis="x", alpha=0.3)
    axes[1].set_xscale("log")  # db-direct p99s are two orders above the cache's
    axes[0].invert_yaxis()
    axes[0].legend(fontsize=7, loc="lower right")
    fig.suptitle("HTTP scenarios against both floors (blue: 32 conns, orange: 1 conn)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _side_by_side(runs: Mapping[str, ratios.Figures], title: str, path: Path) -> Path:
    """Bars of req/s and p99 per scenario, one bar per side (the sides in `runs` order)."""
    import matplotlib.pyplot as plt

    sides = list(runs)
    names = [n for n in runs[sides[0]] if all(n in runs[s] for s in sides)]
    fig, axes = plt.subplots(1, 2, figsize=(13, 0.3 * len(names) * len(sides) + 2), sharey=True)
    height = 0.8 / len(sides)
    for ax, metric, label in ((axes[0], "rps", "req/s"), (axes[1], "p99_ms", "p99 ms")):
        for k, side in enumerate(sides):
            ax.barh([i + (k - (len(sides) - 1) / 2) * height for i in range(len(names))],
                    [runs[side][n][metric] for n in names], height, label=side)
        ax.set_yticks(range(len(names)), names)
        ax.set_xlabel(label)
        ax.grid(axis="x", alpha=0.3)
    axes[0].invert_yaxis()
    axes[0].legend()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _freshness_runs(results: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    """(label, figures) of every single-row freshness run: 10k and 100k cars, each rate."""
    cdc = ((results.get("scale") or {}).get("http_100k") or {}).get("cdc") or {}
    runs = [("10k", results.get("freshness")), ("10k", results.get("freshness_2000")),
            ("100k", cdc.get("freshness_200")), ("100k", cdc.get("freshness_2000"))]
    return [(f"{cars} cars, {got['rate_per_s']:.0f}/s", got) for cars, got in runs if got]


def _freshness(results: Mapping[str, Any], path: Path) -> Path:
    import matplotlib.pyplot as plt

    cdc = ((results.get("scale") or {}).get("http_100k") or {}).get("cdc") or {}
    timelines = [(f"{results.get('cars', '?')} cars", results.get("bulk_timeline") or []),
                 ("100000 cars", cdc.get("bulk_timeline") or [])]
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.5))
    for label, fresh in _freshness_runs(results):
        for key, what in (("latencies_ms", "→ API"), ("valkey_latencies_ms", "→ Valkey")):
            if fresh.get(key):
                xs, ys = cdf(fresh[key])
                axes[0].step(xs, ys, where="post", label=f"{label} {what}",
                             linestyle="-" if what == "→ API" else ":")
    for goal, rate in ((50, "200/s"), (150, "2,000/s")):
        axes[0].axvline(goal, color="tab:red", linestyle="--", linewidth=1,
                        label=f"goal p99 {goal} ms at {rate}")
    axes[0].set_xlabel("ms after the commit")
    axes[0].set_ylabel("share of single-row updates visible")
    axes[0].set_title("single-row freshness (commit → visible)")
    axes[0].legend(fontsize=7)
    axes[0].grid(alpha=0.3)
    for (label, timeline), within_s in zip(timelines, (1.5, 15.0), strict=True):
        if timeline:
            line, = axes[1].plot([0.0] + [t for t, _ in timeline],
                                 [0] + [n for _, n in timeline], label=label)
            axes[1].axvline(within_s, color=line.get_color(), linestyle="--", linewidth=1,
                            label=f"goal {within_s:g} s ({label})")
    if any(t for _, t in timelines):
        axes[1].legend()
    axes[1].set_xlabel("s after the commit")
    axes[1].set_ylabel("pages showing the new price")
    axes[1].set_title("every live car's price in one transaction")
    axes[1].grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _throughput(runs: Mapping[str, Any], path: Path) -> Path:
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(runs), figsize=(6.5 * len(runs), 4.5), squeeze=False)
    for ax, (name, got) in zip(axes[0], runs.items(), strict=True):
        for key, label in (("published", "publisher"), ("applied", "applier")):
            points = got.get(f"{key}_progress") or []
            rate = got.get(key) or {}
            ax.plot([t for t, _ in points], [n for _, n in points],
                    label=f"{label}: {rate.get('rows_per_s', 0):,.0f} rows/s sustained")
        start = (got.get("published") or {}).get("started_s", 0.0)
        rows = (got.get("published") or {}).get("rows", 0)
        if rows:
            ax.plot([start, start + rows / 15_000], [0, rows], color="tab:red", linestyle="--",
                    linewidth=1, label="publisher goal: 15,000 rows/s")
        ax.set_xlabel("s after the commit")
        ax.set_ylabel("car rows done (slope = rows/s)")
        ax.set_title(f"bulk change {name}: rows published and applied")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
