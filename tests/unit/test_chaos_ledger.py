"""The chaos harness's ledger (lost updates) and report helpers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.chaos import report
from tests.chaos.ledger import Ledger


def _page(price: int = 100, images: tuple[str, ...] = (), features: tuple[int, ...] = (),
          make: tuple[int, str] = (1, "Tata")) -> tuple[int, dict[str, Any]]:
    return 200, {"price": price, "images": [{"url": u} for u in images],
                 "features": [{"id": f, "name": f"f{f}"} for f in features],
                 "make": {"id": make[0], "name": make[1]}}


def test_the_newest_committed_value_counts() -> None:
    ledger = Ledger()
    ledger.apply([("price", 1, 100)])
    ledger.apply([("price", 1, 200), ("image+", 1, "a"), ("feature+", 1, 5)])
    assert ledger.check({1: _page(200, ("a",), (5,))}) == []
    lost = ledger.check({1: _page(100, (), (5,))})
    assert [(lu.what, lu.expected) for lu in lost] == [("price", 200), ("images", ("a", True))]
    assert ledger.commits == 2


def test_removed_rows_and_status() -> None:
    ledger = Ledger()
    ledger.apply([("image+", 1, "a")])
    ledger.apply([("image-", 1, "a"), ("feature-", 1, 5)])
    assert ledger.check({1: _page()}) == []
    assert [lu.what for lu in ledger.check({1: _page(images=("a",), features=(5,))})] == [
        "images", "features"]
    ledger.apply([("live", 2, False)])
    assert ledger.check({2: (404, None)}) == []
    assert [lu.what for lu in ledger.check({2: _page()})] == ["status"]
    ledger.apply([("live", 2, True), ("price", 2, 7)])
    assert [lu.what for lu in ledger.check({2: (404, None)})] == ["status"]


def test_renames_are_checked_on_every_page_showing_the_row() -> None:
    ledger = Ledger()
    ledger.apply([("name", ("make", 1), "Tata v1")])
    assert ledger.check({9: _page(make=(1, "Tata v1"))}) == []
    assert [lu.what for lu in ledger.check({9: _page(make=(1, "Tata"))})] == ["make.name"]
    assert ledger.check({9: _page(make=(2, "Maruti"))}) == []


def test_percentile_is_nearest_rank() -> None:
    assert report.percentile([], 50) is None
    assert report.percentile([3.0], 50) == 3.0
    assert report.percentile([4.0, 1.0, 3.0, 2.0], 50) == 2.0
    assert report.percentile([1.0, 2.0, 3.0, 4.0, 5.0], 100) == 5.0


def _round(kind: str, **over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "kind": kind, "converge_s": 1.0, "whole_s": 0.5, "back_s": {}, "outage": None,
        "restarts": {}, "divergent": 0, "count_mismatches": [], "lost": 0,
        "unexpected_exits": [], "log_errors": {}, "ready_after_s": None,
        "outage_write_visible_s": None, "failures": []}
    base.update(over)
    return base


def test_summary_table_and_files(tmp_path: Path) -> None:
    result = {"when": "2026-12-06T03:00:00+00:00", "seed": 5, "cars": 100, "rounds_per_kind": 2,
              "deadline_s": 10.0, "cpus": 2, "supervisor": True, "elapsed_s": 1.0,
              "faults": ["flushall", "kill-applier"],
              "rounds": [_round("flushall", converge_s=0.5), _round("flushall", converge_s=1.5),
                         _round("kill-applier", converge_s=None, divergent=3,
                                restarts={"cdc-applier": 1},
                                failures=["3 divergent cars"])]}
    summary = report.summarise(result)
    assert summary["flushall"]["converge_p50_s"] == 0.5
    assert summary["flushall"]["converge_max_s"] == 1.5
    assert summary["flushall"]["passed"]
    assert not summary["kill-applier"]["passed"]
    assert not report.passed(summary)
    text = report.table(summary)
    assert "| flushall | 2/2 | 0.50 | 1.50 |" in text
    assert "FAIL: 3 divergent cars" in text
    md = tmp_path / "RELIABILITY.md"
    md.write_text("# Reliability\n")
    path = report.save(result, tmp_path / "results", md)
    assert path.name == "20261206T030000Z.json"
    assert json.loads(path.read_text())["seed"] == 5
    assert "## Run 2026-12-06T03:00:00+00:00 (seed 5, 100 cars)" in md.read_text()
