"""The bench's ratio arithmetic, report columns and chart data (no servers, no timing)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bench import charts, ratios, report


def _run(rps: float, conns: int = 32, p99: float = 10.0) -> dict[str, Any]:
    return {"connections": conns, "rps": rps, "p50_ms": p99 / 2, "p99_ms": p99, "errors": 0}


HTTP = {
    "raw floor": _run(10_000), "raw floor c1": _run(5_000, 1),
    "floor": _run(8_000), "floor c1": _run(4_000, 1),
    "dedicated anon": _run(6_000), "dedicated anon c1": _run(2_500, 1),
}


def test_each_scenario_is_divided_by_the_floors_at_its_own_concurrency() -> None:
    against = ratios.versus_floors(HTTP)
    assert against["dedicated anon"] == {"raw floor": 0.6, "floor": 0.75}
    assert against["dedicated anon c1"] == {"raw floor": 0.5, "floor": 0.625}
    assert against["raw floor"]["raw floor"] == 1.0


def test_a_missing_floor_gives_no_ratio() -> None:
    against = ratios.versus_floors({"floor": _run(8_000), "listing c1": _run(100, 1)})
    assert against["listing c1"] == {"raw floor": None, "floor": None}
    assert ratios.ratio(1.0, 0.0) is None


def test_server_rows_pair_scenarios_and_use_each_servers_own_raw_floor() -> None:
    servers = {"uvicorn": {"raw floor": _run(10_000, p99=4), "dedicated anon": _run(5_000, p99=8)},
               "granian": {"raw floor": _run(12_000, p99=2), "dedicated anon": _run(6_000, p99=6),
                           "only granian": _run(1)}}
    rows = ratios.server_rows(servers, "uvicorn", "granian")
    assert [r.scenario for r in rows] == ["raw floor", "dedicated anon"]
    dedicated = rows[1]
    assert dedicated.rps_ratio == pytest.approx(1.2)
    assert dedicated.p99_ratio == pytest.approx(0.75)
    assert dedicated.vs_raw_floor == {"uvicorn": 0.5, "granian": 0.5}


def test_the_report_shows_both_floor_columns_and_the_server_table() -> None:
    results = {"when": "2026-12-06T21:00:00+00:00", "quick": True, "cars": 10,
               "seconds_per_run": 2.0, "machine": {"cpus": 2, "platform": "p", "python": "3.11"},
               "raw_floor": {"path": "/listing/1/", "body_bytes": 1250, "headers": 6},
               "http": HTTP,
               "servers": {"uvicorn": HTTP, "granian": {k: _run(v["rps"] * 2, v["connections"])
                                                       for k, v in HTTP.items()}}}
    text = report.table(results, [Path("bench/results/x-http.png")])
    assert "| dedicated anon | 32 | 6000 | 5.00 | 10.00 | 0 | 0.60× | 0.75× |" in text
    assert "### Server choice: uvicorn vs granian" in text
    assert "| dedicated anon | 32 | 6000 | 12000 | 2.00× |" in text
    assert "[x-http.png](bench/results/x-http.png)" in text
    assert "1250 B body, 6 app headers" in text


def test_append_rewrites_the_latest_charts_block(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    md = tmp_path / "BENCHMARKS.md"
    md.write_text(f"# B\n\n{report.LATEST[0]}\nstale\n{report.LATEST[1]}\n\n## Run old\n")
    monkeypatch.setattr(report, "BENCHMARKS", md)
    results = {"when": "now", "cars": 1, "seconds_per_run": 1,
               "machine": {"cpus": 2, "platform": "p", "python": "3.11"}}
    report.append(results, [Path("bench/results/s-http.png")])
    text = md.read_text()
    assert "stale" not in text
    assert "Latest charts (now):\n\n![s-http](bench/results/s-http.png)\n" in text
    assert text.index("## Run old") < text.index("## Run now")
    # A QUICK run appends its section (with its charts) but leaves the full run's linked.
    report.append({**results, "when": "later", "quick": True},
                  [Path("bench/results/q-http.png")])
    text = md.read_text()
    assert "Latest charts (now):\n\n![s-http](bench/results/s-http.png)\n" in text
    assert text.index("## Run now") < text.index("## Run later")


def test_cdf_and_floor_lines() -> None:
    xs, ys = charts.cdf([30.0, 10.0, 20.0, 40.0])
    assert xs == [10.0, 20.0, 30.0, 40.0]
    assert ys == [0.25, 0.5, 0.75, 1.0]
    assert charts.floor_lines(HTTP, "rps") == [("raw floor", 32, 10_000.0),
                                               ("raw floor", 1, 5_000.0),
                                               ("floor", 32, 8_000.0), ("floor", 1, 4_000.0)]


def test_render_writes_a_png_per_chart_with_data(tmp_path: Path) -> None:
    results = {"cars": 10, "http": HTTP, "servers": {"uvicorn": HTTP, "granian": HTTP},
               "freshness": {"rate_per_s": 200, "latencies_ms": [5.0, 7.5, 30.0],
                             "valkey_latencies_ms": [2.0, 3.0]},
               "bulk_timeline": [[0.5, 3], [1.0, 10]]}
    written = charts.render(results, tmp_path / "20261206T210000Z")
    assert [p.name for p in written] == ["20261206T210000Z-http.png",
                                         "20261206T210000Z-servers.png",
                                         "20261206T210000Z-freshness.png"]
    assert all(p.read_bytes().startswith(b"\x89PNG") for p in written)


CLUSTER = {"build": {"nodes": 3, "cars": 10, "rebuild_s": 0.5, "reco_model": None},
           "runs": {"standalone": {"dedicated anon": _run(8_000, p99=4)},
                    "standalone, L1 off": {"dedicated anon": _run(5_000, p99=5)},
                    "cluster": {"dedicated anon": _run(4_000, p99=8)}}}


def test_the_cluster_section_divides_the_cluster_by_each_standalone_side() -> None:
    results = {"when": "now", "cars": 10, "seconds_per_run": 2.0,
               "machine": {"cpus": 2, "platform": "p", "python": "3.11"},
               "valkey_cluster": CLUSTER}
    text = report.table(results)
    assert "### Valkey Cluster vs standalone" in text
    assert "3-node Valkey Cluster" in text
    # No raw floor on either side: no ÷ raw floor columns.
    assert "| dedicated anon | 32 | 8000 | 4000 | 0.50× | 4.00 | 8.00 | 2.00× |\n" in text
    assert "| dedicated anon | 32 | 5000 | 4000 | 0.80× | 5.00 | 8.00 | 1.60× |" in text


def test_render_draws_the_cluster_sides(tmp_path: Path) -> None:
    written = charts.render({"valkey_cluster": CLUSTER}, tmp_path / "s")
    assert [p.name for p in written] == ["s-cluster.png"]
    assert written[0].read_bytes().startswith(b"\x89PNG")
