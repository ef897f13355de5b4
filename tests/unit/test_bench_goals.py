"""The bench's goal verdicts, memory accounting and freshness writers (no servers, no timing)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from bench import freshness, goals, report, valkey_memory


def _run(rps: float, conns: int = 32, p99: float = 10.0) -> dict[str, Any]:
    return {"connections": conns, "rps": rps, "p50_ms": p99 / 2, "p99_ms": p99, "errors": 0}


def _fresh(p99: float, rate: float) -> dict[str, Any]:
    return {"samples": 10, "p50_ms": p99 / 2, "p99_ms": p99, "max_ms": p99, "rate_per_s": rate,
            "missed": 0, "valkey_p50_ms": 1.0, "valkey_p99_ms": 2.0}


FULL: dict[str, Any] = {
    "when": "now", "cars": 10_000, "seconds_per_run": 6.0,
    "machine": {"cpus": 2, "platform": "p", "python": "3.11"},
    "http": {"raw floor": _run(20_000), "floor": _run(8_000), "dedicated anon": _run(17_000),
             "dedicated buyer": _run(15_000), "listing broad reco": _run(5_000)},
    "freshness": _fresh(40.0, 199.0), "freshness_2000": _fresh(200.0, 1900.0),
    "bulk_visible_s": 1.2,
    "cdc_throughput": {"1x": {"published": {"rows": 10_000, "rows_per_s": 4000.0,
                                            "cpu_s_per_1k": 0.1}}},
    "scale": {
        "10k": {"cars": 10_000, "rebuild_s": 3.0, "sql_statements": 72, "bytes_per_car": 1900,
                "memory": {"used_bytes": 19_000_000, "value_bytes": 10_000_000,
                           "name_bytes": 500_000, "value_bytes_per_car": 1000,
                           "used_over_values": 1.9, "used_over_values_and_names": 1.81,
                           "families": {"dp:{#}": {"keys": 10_000, "elements": 10_000,
                                                   "value_bytes": 9_000_000,
                                                   "name_bytes": 90_000,
                                                   "memory_usage": 11_000_000,
                                                   "overhead": 1.22}}}},
        "100k": {"cars": 100_000, "rebuild_s": 33.0, "sql_statements": 702,
                 "bytes_per_car": 1900},
        "rank_100k": {"candidates": 100_000, "p50_ms": 1.0, "p99_ms": 1.5},
        "http_100k": {
            "runs": {"10k": {"listing narrow": _run(5_000)},
                     "100k": {"listing narrow": _run(4_000)}},
            "cdc": {"bulk_visible_s": 40.0, "freshness_200": _fresh(30.0, 200.0),
                    "ready_s": 1.0, "elapsed_s": 60.0,
                    "throughput": {"published": {"rows": 100_000, "rows_per_s": 16_000.0,
                                                 "cpu_s_per_1k": 0.1}}},
        },
    },
}


def _verdicts(r: dict[str, Any]) -> dict[str, str]:
    return {g.figure: g.verdict() for g in goals.evaluate(r)}


def test_each_goal_is_read_from_its_figure() -> None:
    got = _verdicts(FULL)
    assert got["dedicated anon ÷ raw floor, req/s"] == "met"  # 0.85 ≥ 0.8
    assert got["dedicated buyer ÷ raw floor, req/s"] == "MISSED"  # 0.75
    assert got["listing broad reco ÷ raw floor, req/s"] == "MISSED"  # 0.25
    assert got["listing narrow at 100k ÷ at 10k cars, req/s"] == "met"  # 0.8 ≥ 0.7
    assert got["rank 100k candidates, p99"] == "met"
    assert got["full rebuild 100k ÷ 10k, seconds"] == "MISSED"  # 11×
    assert got["full rebuild 100k"] == "MISSED"  # 33 s > 20
    assert got["10000-car one-transaction change, all visible"] == "met"
    assert got["100k-car one-transaction change, all visible"] == "MISSED"
    # The biggest change the run made is the one the publisher goal reads.
    assert got["publisher, 100k-car change, sustained"] == "met"
    assert got["freshness p99 at 200 rows/s offered, 199/s achieved, 10k cars"] == "met"
    assert got["freshness p99 at 2,000 rows/s offered, 1,900/s achieved, 10k cars"] == "MISSED"
    assert got["freshness p99 at 200 rows/s offered, 200/s achieved, 100k cars"] == "met"
    assert got["Valkey bytes per live car ÷ its cached values' bytes"] == "MISSED"


def test_a_figure_the_run_did_not_produce_is_not_measured_never_met() -> None:
    quick = {k: v for k, v in FULL.items() if k != "scale"}
    got = _verdicts(quick)
    assert got["rank 100k candidates, p99"] == "not measured"
    assert got["listing broad reco at 100k ÷ at 10k cars, req/s"] == "not measured"
    assert got["freshness p99 at 2,000 rows/s offered, 100k cars"] == "not measured"
    assert got["publisher, 10000-car change, sustained"] == "MISSED"
    nan = goals.Goal("x", float("nan"), "s", 1.0, False)
    assert nan.verdict() == "not measured"
    assert not nan.met


def test_the_report_leads_with_the_goal_table() -> None:
    text = report.table(FULL)
    assert "| goal | value | target | verdict |" in text
    assert "| dedicated anon ÷ raw floor, req/s | 0.85× | ≥ 0.80× | met |" in text
    assert "| full rebuild 100k | 33.00 s | ≤ 20.00 s | MISSED |" in text
    assert "| publisher, 100k-car change, sustained | 16,000 rows/s | ≥ 15,000 rows/s | met |" \
        in text
    assert text.index("| goal | value |") < text.index("| ratio | value |")
    assert "| `dp:{#}` | 10,000 | 10,000 | 9,000,000 | 90,000 | 11,000,000 | 1.22× |" in text
    assert "### CDC at 100k live cars" in text


def test_value_bytes_count_what_each_type_holds() -> None:
    assert valkey_memory.value_bytes("string", 120) == (120, 1)
    assert valkey_memory.value_bytes("hash", {b"12": b"abc", b"3": b""}) == (6, 2)
    assert valkey_memory.value_bytes("set", {b"1", b"22"}) == (3, 2)
    # A score is a double: 8 bytes beside each member.
    assert valkey_memory.value_bytes("zset", [(b"10", 1.0), (b"2", 2.0)]) == (19, 2)
    assert valkey_memory.value_bytes("list", [b"ab"]) == (2, 1)
    assert valkey_memory.value_bytes("stream", None) == (0, 0)


def test_keys_fall_into_families_by_their_digits() -> None:
    assert valkey_memory.family(b"dp:{123}") == "dp:{#}"
    assert valkey_memory.family(b"dp:{9}:paid") == "dp:{#}:paid"
    assert valkey_memory.family(b"{cp}:b1765000:f:city_id:12") == "{cp}:b#:f:city_id:#"
    f = valkey_memory.Family(keys=1, value_bytes=100, memory_usage=180)
    assert f.overhead() == pytest.approx(1.8)


def test_writers_share_the_plan_and_the_rate() -> None:
    loop = asyncio.new_event_loop()
    try:
        plan = [(i, i) for i in range(10)]
        out: asyncio.Queue[Any] = asyncio.Queue()
        writers = freshness._writers({}, plan, 2000.0, loop, out)
        assert len(writers) == 5  # 400 commits/s each
        assert sorted(x for w in writers for x in w.plan) == plan
        # Writer k commits its n-th update at (k + 5n) / 2000 s: together, one every 0.5 ms.
        times = sorted(w.offset + n * w.step for w in writers for n in range(len(w.plan)))
        assert times == pytest.approx([i / 2000 for i in range(10)])
        assert len(freshness._writers({}, plan, 200.0, loop, out)) == 1
    finally:
        loop.close()
