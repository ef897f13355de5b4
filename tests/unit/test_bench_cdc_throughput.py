"""The bench's CDC throughput arithmetic: rates and CPU per 1,000 rows from counter samples."""

from __future__ import annotations

from bench import cdc_throughput, report
from bench.cdc_throughput import Point


def test_the_sustained_rate_leaves_out_the_wait_and_the_sampling_period_at_both_ends() -> None:
    # Idle until 1.0 s, then 5,000 rows/s, all 10,000 rows in by 3.5 s.
    points = [Point(0.0, 100, 5.0), Point(1.0, 100, 5.0), Point(1.5, 2_500, 5.4),
              Point(2.0, 5_000, 5.8), Point(2.5, 7_500, 6.2), Point(3.0, 10_000, 6.6),
              Point(3.5, 10_100, 6.7), Point(4.0, 10_100, 6.7)]
    got = cdc_throughput.rate(points)
    assert got is not None
    assert got.rows == 10_000
    assert got.rows_per_s == 5_000.0  # (10,000 - 2,500) / (3.0 - 1.5)
    assert (got.started_s, got.ended_s) == (1.0, 3.5)
    assert got.cpu_s == 1.7
    assert got.cpu_s_per_1k == 0.17
    assert got.mid_samples == 4


def test_a_change_faster_than_two_samples_is_rows_over_the_outer_window() -> None:
    points = [Point(0.0, 0, 1.0), Point(0.05, 0, 1.0), Point(0.10, 600, 1.05),
              Point(0.15, 1_000, 1.1), Point(0.20, 1_000, 1.1)]
    got = cdc_throughput.rate(points)
    assert got is not None
    assert got.mid_samples == 1
    assert got.rows_per_s == 10_000.0  # 1,000 rows over 0.05 -> 0.15 s: a lower bound
    assert round(got.cpu_s_per_1k, 3) == 0.1


def test_no_growth_or_too_few_samples_has_no_rate() -> None:
    assert cdc_throughput.rate([Point(0.0, 5, 1.0), Point(1.0, 5, 2.0)]) is None
    assert cdc_throughput.rate([Point(0.0, 5, 1.0)]) is None
    assert cdc_throughput.rate([]) is None


def test_the_chart_shows_rows_done_since_the_first_sample() -> None:
    points = [Point(0.0, 500, 0.0), Point(0.05, 500, 0.0), Point(0.1, 1_500, 0.0)]
    assert cdc_throughput.progress(points) == [(0.0, 0), (0.05, 0), (0.1, 1_000)]
    assert cdc_throughput.progress([]) == []


def test_growth_is_from_the_first_sample_to_the_last() -> None:
    assert cdc_throughput.grown([Point(0.0, 40, 0.0), Point(1.0, 90, 0.0)]) == 50
    assert cdc_throughput.grown([]) == 0


def test_only_the_car_table_and_car_rebuilds_are_counted() -> None:
    text = "\n".join([
        "# HELP carpages_cdc_events_published_total row changes acknowledged by the broker",
        "# TYPE carpages_cdc_events_published_total counter",
        'carpages_cdc_events_published_total{table="car"} 1234.0',
        'carpages_cdc_events_published_total{table="heartbeat"} 7.0',
        "# HELP carpages_cdc_rebuild_batch_size entries per incremental rebuild",
        "# TYPE carpages_cdc_rebuild_batch_size histogram",
        'carpages_cdc_rebuild_batch_size_bucket{kind="cars",le="+Inf"} 3.0',
        'carpages_cdc_rebuild_batch_size_count{kind="cars"} 3.0',
        'carpages_cdc_rebuild_batch_size_sum{kind="cars"} 900.0',
        'carpages_cdc_rebuild_batch_size_sum{kind="buyers"} 40.0', ""])
    assert cdc_throughput.parse(text) == {"published": 1234.0, "cars": 900.0}


def test_the_report_says_whether_the_publisher_met_its_goal() -> None:
    def rate(rows_per_s: float) -> dict[str, float]:
        return {"rows": 10_000, "rows_per_s": rows_per_s, "cpu_s_per_1k": 0.05}

    lines = report.throughput_table(
        {"1x": {"published": rate(20_000), "applied": rate(4_000), "cars": rate(4_000)},
         "10x": {"published": rate(9_000), "applied": None, "cars": None}}, 10_000)
    assert "| 10000 prices, one UPDATE | 10000 | 20000 | 0.050 | 4000 | 4000 | 0.050 | met" \
        in "\n".join(lines)
    assert any(line.startswith("| 10 UPDATEs of 10000 prices") and "MISSED" in line
               for line in lines)
    assert report.throughput_table({}, 10_000) == []
