"""Results file, BENCHMARKS.md table, ratios and goals."""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path
from typing import Any

from bench import goals, ratios, scale_http, storefront, valkey_cluster

RESULTS = Path("bench/results")
BENCHMARKS = Path("BENCHMARKS.md")

# (label, numerator scenario, denominator scenario, metric, goal, higher_is_better). The first
# benchmark's goals (against the FastAPI floor and db-direct) are all met and are no longer
# goals; bench.goals holds the current ones.
RATIOS = [
    ("dedicated / floor, req/s", "dedicated anon", "floor", "rps", None, True),
    ("listing broad reco / floor, req/s", "listing broad reco", "floor", "rps", None, True),
    ("dedicated / db-direct, req/s", "dedicated anon", "db-direct dedicated", "rps", None, True),
    ("listing / db-direct, req/s", "listing broad reco", "db-direct listing", "rps", None,
     True),
    ("dedicated / floor, p99 at 1 conn", "dedicated anon c1", "floor c1", "p99_ms", None, False),
    ("listing / floor, p99 at 1 conn", "listing broad reco c1", "floor c1", "p99_ms", None, False),
    ("dedicated / db-direct, p99 at 1 conn", "dedicated anon c1", "db-direct dedicated c1",
     "p99_ms", None, False),
    ("listing / db-direct, p99 at 1 conn", "listing broad reco c1", "db-direct listing c1",
     "p99_ms", None, False),
]


LATEST = ("<!-- latest-charts -->", "<!-- /latest-charts -->")
"""BENCHMARKS.md's block linking the latest run's charts (rewritten by every run)."""


def stem() -> str:
    """The run's file stem: its UTC start-of-save timestamp."""
    return dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")


def save(results: dict[str, Any], name: str) -> Path:
    """Write the raw results as bench/results/<name>.json; return the path."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(results, indent=2, default=str))
    return path


def append(results: dict[str, Any], charts: list[Path]) -> None:
    """Append the run's section to BENCHMARKS.md and, for a full run, point its latest-charts
    block at `charts` (a QUICK run leaves out the 100k and cluster charts, so the last full
    run's stay linked; its own are in its section)."""
    BENCHMARKS.touch()
    text = BENCHMARKS.read_text()
    images = "\n".join(f"![{c.stem}]({c.as_posix()})" for c in charts)
    block = f"{LATEST[0]}\nLatest charts ({results['when']}):\n\n{images or 'none'}\n{LATEST[1]}"
    if not results.get("quick") and LATEST[0] in text and LATEST[1] in text:
        head, rest = text.split(LATEST[0], 1)
        text = head + block + rest.split(LATEST[1], 1)[1]
    BENCHMARKS.write_text(text.rstrip("\n") + "\n\n" + table(results, charts) + "\n")


def _verdict(value: float, goal: float | None, higher: bool) -> str:
    if goal is None or math.isnan(value):
        return ""
    met = value >= goal if higher else value <= goal
    return f"{'met' if met else 'MISSED'} (goal {'≥' if higher else '≤'} {goal:g})"


def _times(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}×"


def _raw_floor_note(r: dict[str, Any]) -> str:
    sample = r.get("raw_floor")
    if not sample:
        return ""
    return (f" Raw floor = a bare ASGI app (no FastAPI, no routing) under the same server, "
            f"answering with one recorded dedicated page ({sample['body_bytes']} B body, "
            f"{sample['headers']} app headers).")


def table(r: dict[str, Any], charts: list[Path] | None = None) -> str:
    """Markdown for one run."""
    http = r.get("http", {})
    against = ratios.versus_floors(http)
    lines = [f"## Run {r['when']}{' (QUICK)' if r.get('quick') else ''}", "",
             f"Machine: {r['machine']['cpus']} CPUs, {r['machine']['platform']}, Python "
             f"{r['machine']['python']}; {r['cars']} live cars; {r['seconds_per_run']} s per "
             "wrk run; API = one uvicorn worker (uvloop, httptools) on the same machine; "
             f"reco ranker: {r.get('ranker', '?')}.{_raw_floor_note(r)} The ÷ columns divide "
             "req/s by each floor's at the same number of connections.", "",
             "| scenario | conns | req/s | p50 ms | p99 ms | errors | ÷ raw floor "
             "| ÷ FastAPI floor |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, x in http.items():
        lines.append(f"| {name} | {x['connections']} | {x['rps']:.0f} | {x['p50_ms']:.2f} | "
                     f"{x['p99_ms']:.2f} | {x['errors']} | {_times(against[name]['raw floor'])} "
                     f"| {_times(against[name]['floor'])} |")
    lines += goals.table(r)
    lines += ["", "| ratio | value |", "|---|---:|"]
    for label, num, den, metric, _, _ in RATIOS:
        if num in http and den in http and http[den][metric]:
            value = http[num][metric] / http[den][metric]
            lines.append(f"| {label} | {value:.2f}× |")
    lines += freshness_table(r, f"{r['cars']} cars")
    lines += throughput_table(r.get("cdc_throughput") or {}, r["cars"])
    scale = r.get("scale", {})
    if scale:
        lines += ["", "| build and memory | cars | rebuild s | SQL statements | bytes/car |",
                  "|---|---:|---:|---:|---:|"]
        for size in ("10k", "100k"):
            if size in scale:
                s = scale[size]
                lines.append(f"| full rebuild {size} | {s['cars']} | {s['rebuild_s']:.2f} | "
                             f"{s['sql_statements']} | {s['bytes_per_car']} |")
        for size in ("rank_10k", "rank_100k"):
            if size in scale:
                s = scale[size]
                lines.append(f"| reco rank {s['candidates']} candidates, p50/p99 ms | "
                             f"{s['candidates']} | {s['p50_ms']:.3f} / {s['p99_ms']:.3f} | | |")
        if scale.get("10k", {}).get("memory"):
            lines += memory_table(scale["10k"]["memory"], scale["10k"]["cars"])
    if r.get("servers"):
        lines += server_table(r["servers"])
    if r.get("valkey_cluster"):
        lines += cluster_table(r["valkey_cluster"])
    if scale.get("http_100k"):
        lines += scale_http_table(scale["http_100k"], scale.get("100k", {}))
        cdc = scale["http_100k"].get("cdc")
        if cdc:
            lines += scale_cdc_table(cdc)
    if r.get("storefront"):
        lines += storefront.table(r["storefront"])
    if charts:
        lines += ["", "Charts: " + " ".join(f"[{c.name}]({c.as_posix()})" for c in charts)]
    spent = "; ".join(f"{name} {sec} s" for name, sec in (r.get("phases") or {}).items())
    lines.append(f"\nTotal bench time {r.get('elapsed_s', 0)} s{f' ({spent})' if spent else ''}.")
    return "\n".join(lines)


PUBLISHER_GOAL = goals.PUBLISHER_ROWS_PER_S


def freshness_table(r: dict[str, Any], cars: str) -> list[str]:
    """Markdown lines: single-row commit → API latency at each offered rate, and the bulk
    change (`r` holds `freshness` or `freshness_200`, `freshness_2000`, `bulk_visible_s`)."""
    lines = ["", f"| CDC freshness, {cars} | value |", "|---|---:|"]
    for name in ("freshness", "freshness_200", "freshness_2000"):
        fresh = r.get(name)
        if not fresh:
            continue
        lines += [f"| single-row commit → API at {fresh['rate_per_s']:.0f} rows/s, p50 / p99 / "
                  f"max ({fresh['samples']} rows, {fresh['missed']} missed) | "
                  f"{fresh['p50_ms']:.1f} / {fresh['p99_ms']:.1f} / {fresh['max_ms']:.1f} ms |",
                  f"| … commit → page in Valkey, p50 / p99 | {fresh['valkey_p50_ms']:.1f} / "
                  f"{fresh['valkey_p99_ms']:.1f} ms |"]
    if r.get("bulk_visible_s") is not None:
        lines.append(f"| every live car's price in one transaction, all visible | "
                     f"{r['bulk_visible_s']:.2f} s |")
    return lines


MEMORY_ROWS = 8
"""Key families shown in the memory table, by memory held."""


def memory_table(memory: dict[str, Any], cars: int) -> list[str]:
    """Markdown lines: the 10k build's bytes against the bytes of what it caches, the families
    holding the most memory first (bench.valkey_memory)."""
    lines = ["", f"Valkey memory of the {cars}-car build: used_memory grew by "
             f"{memory['used_bytes']:,} B; the cached values are {memory['value_bytes']:,} B "
             f"({memory['value_bytes_per_car']:,} B per car) and their key names "
             f"{memory['name_bytes']:,} B: {memory['used_over_values']}× the values, "
             f"{memory['used_over_values_and_names']}× values and names.", "",
             "| key family | keys | elements | value B | key-name B | MEMORY USAGE B "
             "| ÷ value B |", "|---|---:|---:|---:|---:|---:|---:|"]
    for name, f in list(memory["families"].items())[:MEMORY_ROWS]:
        lines.append(f"| `{name}` | {f['keys']:,} | {f['elements']:,} | {f['value_bytes']:,} | "
                     f"{f['name_bytes']:,} | {f['memory_usage']:,} | {f['overhead']}× |")
    return lines


def scale_cdc_table(cdc: dict[str, Any]) -> list[str]:
    """Markdown lines: freshness and the bulk change through the 100k pipeline."""
    if "error" in cdc:
        return ["", f"100k CDC part failed: {cdc['error']}"]
    lines = ["", "### CDC at 100k live cars", "",
             "A second publisher and applier (the product's own, their own name and topics) over "
             "the 100k build, with the 100k API serving it; first change visible "
             f"{cdc['ready_s']} s after they started; {cdc['elapsed_s']} s in all."]
    lines += freshness_table(cdc, "100k cars")
    lines += throughput_table({"100k": cdc.get("throughput") or {}}, 100_000)
    return lines


def _rows_per_s(x: dict[str, Any] | None) -> str:
    return "" if not x else f"{x['rows_per_s']:.0f}"


def _per_1k(x: dict[str, Any] | None) -> str:
    return "" if not x else f"{x['cpu_s_per_1k']:.3f}"


def throughput_table(runs: dict[str, Any], cars: int) -> list[str]:
    """Markdown lines: each bulk change's publisher and applier rates and CPU per 1,000 rows."""
    if not runs:
        return []
    lines = ["", "| CDC throughput, bulk change | rows | publisher rows/s | publisher CPU-s "
             "/ 1k rows | applier rows/s | applier cars rebuilt/s | applier CPU-s / 1k rows "
             "| goal |", "|---|---:|---:|---:|---:|---:|---:|---|"]
    for name, got in runs.items():
        pub, app = got.get("published"), got.get("applied")
        label = (f"{cars} prices, one UPDATE" if not name.rstrip("x").isdigit() or name == "1x"
                 else f"{name.rstrip('x')} UPDATEs of {cars} prices, one transaction")
        goal = _verdict(pub["rows_per_s"], PUBLISHER_GOAL, True) if pub else ""
        lines.append(f"| {label} | {pub['rows'] if pub else ''} | {_rows_per_s(pub)} | "
                     f"{_per_1k(pub)} | {_rows_per_s(app)} | {_rows_per_s(got.get('cars'))} | "
                     f"{_per_1k(app)} | {goal} |")
    lines += ["", "Sustained rates between the first and last /metrics sample taken while the "
              "counter moved (every 50 ms); CPU = the process's user+system seconds (psutil) "
              "from the last sample before it moved to the first showing every row."]
    return lines


def server_table(servers: dict[str, Any], base: str = "uvicorn",
                 other: str = "granian") -> list[str]:
    """Markdown lines: each scenario under both servers, side by side, with the ratios."""
    return side_by_side_table(
        servers, base, other, f"Server choice: {base} vs {other}",
        f"One worker each (uvloop); each scenario under one server then straight after under "
        f"the other, the order alternating. Ratios are {other} / {base}; ÷ raw floor is each "
        "server's req/s over its own raw floor.")


def cluster_table(got: dict[str, Any]) -> list[str]:
    """Markdown lines: the cluster against the standalone API as deployed, then against the
    standalone API without its L1 (off in cluster mode), which leaves the cluster client."""
    build = got.get("build", {})
    runs = got.get("runs", {})
    lines = side_by_side_table(
        runs, valkey_cluster.STANDALONE, valkey_cluster.CLUSTER,
        "Valkey Cluster vs standalone",
        f"The same API process settings and catalogue on the stack's standalone Valkey and on a "
        f"{build.get('nodes', '?')}-node Valkey Cluster on loopback (primaries only; built by "
        f"the worker's builder in {build.get('rebuild_s', '?')} s; reco model: "
        f"{build.get('reco_model') or 'none, popularity order'}); `API_VALKEY_CLUSTER=true` "
        "turns the dedicated page's L1 off. Each scenario on every side back to back, the "
        f"order alternating; {got.get('elapsed_s', '?')} s in all, nodes and build included. "
        "Ratios are cluster / standalone.")
    lines += side_by_side_table(
        runs, valkey_cluster.NO_L1, valkey_cluster.CLUSTER, None,
        "Against the standalone API with `API_L1_CACHE=false` (same runs): the cluster "
        "client's own cost.")
    return lines


def scale_http_table(got: dict[str, Any], build: dict[str, Any]) -> list[str]:
    """Markdown lines: the main scenarios at 100k cars against 10k, then the listing goal."""
    small, big = scale_http.SMALL, scale_http.BIG
    cars = got.get("live_cars", {})
    city = got.get("city_cars", {})
    lines = side_by_side_table(
        got.get("runs", {}), small, big, f"{big} vs {small} live cars",
        f"The stack's API on its {cars.get(small, '?')} live cars and a second API (same "
        f"process, one uvicorn worker) on the {cars.get(big, '?')}-car build of bench.scale "
        f"(rebuilt in {build.get('rebuild_s', '?')} s); each side's paths from its own "
        f"catalogue (broad listing: the biggest city, {city.get(small, '?')} vs "
        f"{city.get(big, '?')} cars); reco model: "
        f"{got.get('reco_model') or 'none, popularity order'} on both. Each scenario on both "
        f"sides back to back, the order alternating; {got.get('elapsed_s', '?')} s in all, the "
        f"API start included. Ratios are {big} / {small}.")
    if got.get("error"):
        lines += ["", f"### {big} vs {small} live cars", "", f"Failed: `{got['error']}`."]
    rows = scale_http.goals(got.get("runs", {}))
    if rows:
        lines += ["", "| goal | value | verdict |", "|---|---:|---|"]
        lines += [f"| {name} at {big} cars ÷ at {small}, req/s | {value:.2f}× | "
                  f"{_verdict(value, scale_http.LISTING_GOAL, True)} |"
                  for name, value, _ in rows]
    lines += _commands_table(got.get("valkey_commands") or {}, small, big)
    return lines


def _commands_table(commands: dict[str, dict[str, dict[str, float]]], small: str,
                    big: str) -> list[str]:
    """Markdown lines: each Valkey's busiest commands during the runs, side by side."""
    if small not in commands or big not in commands:
        return []
    names = list(dict.fromkeys([*commands[big], *commands[small]]))
    lines = ["", "Each Valkey's busiest commands over these runs (INFO commandstats, reset "
             "before them; commands inside MULTI count one by one):", "",
             f"| command | {small} calls | {small} µs/call | {small} s | {big} calls | "
             f"{big} µs/call | {big} s |", "|---|---:|---:|---:|---:|---:|---:|"]
    for name in names:
        cells = [name]
        for side in (small, big):
            x = commands[side].get(name)
            cells += ([f"{x['calls']:.0f}", f"{x['usec_per_call']:.1f}", f"{x['usec'] / 1e6:.2f}"]
                      if x else ["", "", ""])
        lines.append(f"| {' | '.join(cells)} |")
    return lines


def side_by_side_table(runs: dict[str, Any], base: str, other: str, heading: str | None,
                       note: str) -> list[str]:
    """Markdown lines: each scenario measured on both sides, with other / base for req/s and
    p99; the ÷ raw floor columns only when the sides have raw floors of their own."""
    if base not in runs or other not in runs:
        return []
    rows = ratios.server_rows(runs, base, other)
    floors = any(v is not None for row in rows for v in row.vs_raw_floor.values())
    floor_head = f" {base} ÷ raw floor | {other} ÷ raw floor |" if floors else ""
    lines = ["", *([f"### {heading}", ""] if heading else []), note, "",
             f"| scenario | conns | {base} req/s | {other} req/s | req/s ratio | {base} p99 ms | "
             f"{other} p99 ms | p99 ratio |{floor_head}",
             "|---|---:|---:|---:|---:|---:|---:|---:|" + ("---:|---:|" if floors else "")]
    for row in rows:
        floor_cells = (f" {_times(row.vs_raw_floor[base])} | {_times(row.vs_raw_floor[other])} |"
                       if floors else "")
        lines.append(
            f"| {row.scenario} | {row.conns} | {row.rps[base]:.0f} | {row.rps[other]:.0f} | "
            f"{_times(row.rps_ratio)} | {row.p99_ms[base]:.2f} | {row.p99_ms[other]:.2f} | "
            f"{_times(row.p99_ratio)} |{floor_cells}")
    return lines
