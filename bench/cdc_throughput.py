"""CDC throughput during a bulk change: the publisher's rows/s and the applier's cars/s, each
with the CPU seconds its process spent per 1,000 rows.

A thread samples, every SAMPLE_S, each role's Prometheus counters on its /metrics endpoint (the
one CDC_METRICS_PORT serves in production) and its process's CPU time (psutil, on the pid the
local supervisor records). The rates are then computed from the samples alone (pure functions
below): nothing in the workers is changed or timed from the inside.
"""

from __future__ import annotations

import threading
import time
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any

import psutil
from prometheus_client.parser import text_string_to_metric_families

SAMPLE_S = 0.05
"""Sampling period: ~20 samples per second of a 10k-row change, a few ms of scrape CPU each."""

TABLE = "car"
"""The bulk change updates `car` rows only; other tables (heartbeats) are left out."""

# (role, metric sample name, labels it must carry) of each counter sampled.
COUNTERS = {
    "published": ("publisher", "carpages_cdc_events_published_total", {"table": TABLE}),
    "applied": ("applier", "carpages_cdc_events_applied_total", {"table": TABLE}),
    "cars": ("applier", "carpages_cdc_rebuild_batch_size_sum", {"kind": "cars"}),
}


@dataclass(frozen=True)
class Point:
    """One sample of one counter: seconds (any origin), counter value, CPU seconds so far."""

    t: float
    count: float
    cpu: float


@dataclass(frozen=True)
class Rate:
    """A counter's progress over one bulk change."""

    rows: int
    """How much the counter grew over the samples."""
    rows_per_s: float
    """Sustained: between the first and the last sample taken while it was moving."""
    started_s: float
    """The last sample before it moved (the change started after it)."""
    ended_s: float
    """The first sample showing all of it."""
    cpu_s: float
    """CPU seconds the process spent from started_s to ended_s."""
    cpu_s_per_1k: float
    mid_samples: int
    """Samples taken while it was moving; below 2 the rate is rows over the outer window."""


def rate(points: Sequence[Point]) -> Rate | None:
    """The sustained rate and CPU cost of the counter's growth over `points` (None: no growth).

    The counter starts at its first sample's value and ends at its last's. The sustained rate
    is taken between the first and the last sample strictly between the two, where the change
    was already running and not yet over, so neither the wait before the first row nor the
    sampling period at either end counts; with fewer than two such samples, rows over the
    outer window (a lower bound). The CPU is counted over the outer window.
    """
    if len(points) < 2:
        return None
    base, final = points[0].count, points[-1].count
    if final <= base:
        return None
    before = max((p for p in points if p.count <= base), key=lambda p: p.t)
    after = min((p for p in points if p.count >= final), key=lambda p: p.t)
    mid = [p for p in points if base < p.count < final]
    rows = final - base
    if len(mid) >= 2 and mid[-1].t > mid[0].t:
        per_s = (mid[-1].count - mid[0].count) / (mid[-1].t - mid[0].t)
    else:
        per_s = rows / max(after.t - before.t, 1e-9)
    cpu = max(0.0, after.cpu - before.cpu)
    return Rate(int(rows), round(per_s, 1), round(before.t, 3), round(after.t, 3),
                round(cpu, 3), round(cpu / rows * 1000, 4), len(mid))


def progress(points: Sequence[Point]) -> list[tuple[float, float]]:
    """(seconds, rows since the first sample) at each sample, for the chart (the applier's
    counters move once per batch, so its rows/s between samples is all spikes; the slope of
    this curve is the rate)."""
    if not points:
        return []
    return [(round(p.t, 3), p.count - points[0].count) for p in points]


def parse(text: str) -> dict[str, float]:
    """The sampled counters found in one /metrics body (missing ones are absent)."""
    found: dict[str, float] = {}
    wanted = {(name, tuple(sorted(labels.items()))): key
              for key, (_, name, labels) in COUNTERS.items()}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            for (name, labels), key in wanted.items():
                if sample.name == name and all(sample.labels.get(k) == v for k, v in labels):
                    found[key] = found.get(key, 0.0) + float(sample.value)
    return found


class Sampler(threading.Thread):
    """Samples both roles' counters and CPU time until stopped."""

    def __init__(self, metrics_urls: Mapping[str, str], pids: Mapping[str, int]) -> None:
        super().__init__(name="cdc-throughput-sampler", daemon=True)
        self.urls = dict(metrics_urls)
        self.processes = {role: psutil.Process(pid) for role, pid in pids.items()}
        self.rows: list[dict[str, float]] = []
        self.errors = 0
        self._halt = threading.Event()
        self.origin = time.monotonic()

    def run(self) -> None:
        while not self._halt.is_set():
            started = time.monotonic()
            try:
                self.rows.append(self._sample())
            except (OSError, ValueError, psutil.Error):  # a missed sample, not a failed bench
                self.errors += 1
            self._halt.wait(max(0.0, SAMPLE_S - (time.monotonic() - started)))

    def _sample(self) -> dict[str, float]:
        row: dict[str, float] = {}
        for role, url in self.urls.items():
            asked = time.monotonic()
            with urllib.request.urlopen(url, timeout=2) as resp:
                row.update(parse(resp.read().decode()))
            for key, (owner, _, _) in COUNTERS.items():
                if owner == role:  # a labelled counter appears with its first increment
                    row.setdefault(key, 0.0)
            times = self.processes[role].cpu_times()
            row[f"{role}_cpu"] = times.user + times.system
            # The counters were read somewhere between the request and the reply.
            row[f"{role}_t"] = (asked + time.monotonic()) / 2 - self.origin
        return row

    def wait_for(self, rows: int, timeout_s: float) -> bool:
        """Wait until the publisher and the applier have each counted `rows` more car rows
        than at the first sample (pages can show the final state well before: the applier
        rebuilds a car from MySQL, so a car changed many times is right after its first)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if all(grown(self.points(key)) >= rows for key in ("published", "applied")):
                return True
            time.sleep(SAMPLE_S)
        return False

    def stop(self) -> None:
        """Stop and wait for the thread."""
        self._halt.set()
        self.join(5)

    def points(self, key: str, origin: float = 0.0) -> list[Point]:
        """The samples of counter `key` with its role's CPU, seconds measured from `origin`."""
        role = COUNTERS[key][0]
        return [Point(r[f"{role}_t"] - origin, r[key], r[f"{role}_cpu"]) for r in self.rows
                if key in r and f"{role}_cpu" in r]


@contextmanager
def sampling(metrics_urls: Mapping[str, str], pids: Mapping[str, int]) -> Iterator[Sampler]:
    """Sample for the duration of the block (and a settle time after it)."""
    sampler = Sampler(metrics_urls, pids)
    sampler.start()
    try:
        yield sampler
    finally:
        time.sleep(10 * SAMPLE_S)  # the last counters move just after the last page shows
        sampler.stop()


def grown(points: Sequence[Point]) -> float:
    """How much the counter grew from its first sample to its last."""
    return points[-1].count - points[0].count if points else 0.0


def summarise(sampler: Sampler, committed: float) -> dict[str, Any]:
    """Rates, CPU and per-role series of one bulk change; seconds from the commit."""
    origin = committed - sampler.origin
    out: dict[str, Any] = {"samples": len(sampler.rows), "sample_errors": sampler.errors}
    for key in COUNTERS:
        points = sampler.points(key, origin)
        got = rate(points)
        out[key] = asdict(got) if got is not None else None
        if key != "cars":
            out[f"{key}_progress"] = progress(points)
    return out
