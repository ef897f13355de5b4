"""The bench's 100k-against-10k part: each side's own scenarios, the listing goal, the report
section and the chart (no servers, no timing)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bench import charts, report, scale_http, scenarios, server_choice, wrk


def _run(rps: float, p99: float = 10.0) -> dict[str, Any]:
    return {"connections": 32, "rps": rps, "p50_ms": p99 / 2, "p99_ms": p99, "errors": 0}


COMMANDS = {"10k": {"hmget": {"calls": 9000.0, "usec": 90_000.0, "usec_per_call": 10.0}},
            "100k": {"zinterstore": {"calls": 40.0, "usec": 2_000_000.0, "usec_per_call": 50_000.0},
                     "hmget": {"calls": 8000.0, "usec": 96_000.0, "usec_per_call": 12.0}}}
GOT = {"reco_model": None, "elapsed_s": 40.0, "valkey_commands": COMMANDS,
       "city_cars": {"10k": 1000, "100k": 10000}, "live_cars": {"10k": 10000, "100k": 100000},
       "runs": {"10k": {"dedicated anon": _run(12_000, 6), "listing broad reco": _run(4_000, 12),
                        "listing narrow": _run(5_000, 10)},
                "100k": {"dedicated anon": _run(11_000, 7), "listing broad reco": _run(2_000, 30),
                         "listing narrow": _run(4_000, 12)}}}


def test_the_goal_covers_the_listings_only_and_divides_100k_by_10k() -> None:
    assert scale_http.goals(GOT["runs"]) == [("listing broad reco", 0.5, False),
                                             ("listing narrow", 0.8, True)]


def test_each_side_runs_its_own_scenario_of_the_same_name(
        monkeypatch: pytest.MonkeyPatch) -> None:
    ran: list[tuple[str, str]] = []

    def run_one(scenario: scenarios.Scenario, url: str, seconds: float,
                warm_up: bool) -> wrk.WrkResult:
        ran.append((url, scenario.paths[0]))
        return wrk.WrkResult(scenario.name, scenario.conns, rps=1.0, p50_ms=1.0, p99_ms=1.0,
                             p999_ms=1.0, errors=0, requests=1)

    monkeypatch.setattr(scenarios, "run_one", run_one)
    small = [scenarios.Scenario("listing narrow", ("/small",), 32),
             scenarios.Scenario("listing broad reco", ("/small-broad",), 32)]
    big = [scenarios.Scenario("listing narrow", ("/big",), 32)]
    got = server_choice.measure(small, {"10k": {"api": "s"}, "100k": {"api": "b"}}, 1.0,
                                own={"100k": big})
    # The order alternates; a scenario the side does not replace runs as planned.
    assert ran == [("s", "/small"), ("b", "/big"), ("b", "/small-broad"),
                   ("s", "/small-broad")]
    assert set(got["100k"]) == {"listing narrow", "listing broad reco"}


def test_the_report_section_shows_the_ratios_and_the_listing_goal() -> None:
    results = {"when": "now", "cars": 10_000, "seconds_per_run": 2.0,
               "machine": {"cpus": 2, "platform": "p", "python": "3.11"},
               "scale": {"100k": {"cars": 100_000, "rebuild_s": 60.0, "sql_statements": 700,
                                  "bytes_per_car": 6900},
                         "http_100k": GOT}}
    text = report.table(results)
    assert "### 100k vs 10k live cars" in text
    assert "| listing broad reco | 32 | 4000 | 2000 | 0.50× | 12.00 | 30.00 | 2.50× |" in text
    assert "1000 vs 10000 cars" in text
    assert ("| listing broad reco at 100k cars ÷ at 10k, req/s | 0.50× | MISSED (goal ≥ 0.7) |"
            in text)
    assert "| listing narrow at 100k cars ÷ at 10k, req/s | 0.80× | met (goal ≥ 0.7) |" in text
    # The 100k side's busiest commands first; one the other side did not list stays blank.
    assert "| zinterstore |  |  |  | 40 | 50000.0 | 2.00 |" in text
    assert "| hmget | 9000 | 10.0 | 0.09 | 8000 | 12.0 | 0.10 |" in text
    assert text.index("| zinterstore |") < text.index("| hmget |")


def test_top_commands_keeps_the_busiest_by_total_time() -> None:
    stats = {"cmdstat_get": {"calls": 3, "usec": 3, "usec_per_call": 1.0, "failed_calls": 0},
             "cmdstat_zrange": {"calls": 2, "usec": 90, "usec_per_call": 45.0},
             "cmdstat_exec": {"calls": 1, "usec": 10, "usec_per_call": 10.0},
             "errorstat_ERR": {"count": 1}}
    assert list(scale_http.top_commands(stats, limit=2)) == ["zrange", "exec"]


def test_render_draws_the_100k_chart(tmp_path: Path) -> None:
    written = charts.render({"scale": {"http_100k": GOT}}, tmp_path / "s")
    assert [p.name for p in written] == ["s-100k.png"]
    assert written[0].read_bytes().startswith(b"\x89PNG")


def test_a_failed_part_is_reported_instead_of_its_table() -> None:
    lines = report.scale_http_table({"error": "RuntimeError('did not come up')"}, {})
    assert lines == ["", "### 100k vs 10k live cars", "",
                     "Failed: `RuntimeError('did not come up')`."]
