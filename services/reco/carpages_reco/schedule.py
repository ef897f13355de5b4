"""The training cadence: a fixed-rate grid of slots, `anchor + k × period` (pure, no clock).

Runs start on the grid, so the cadence never drifts by the training time (a loop that sleeps
`period` after each run does). The caller runs one training at a time, so runs never overlap.
A slot with no run started in it — the trainer was down, or the previous run overran into it —
is caught up at once, with one run however many slots were missed; later runs are back on the
grid. A failed run counts for its slot: it is retried at the next slot, not in a hot loop.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass


@dataclass(frozen=True)
class FixedRate:
    """Slots at `anchor_s + k × period_s` (Unix seconds). With the default anchor (the epoch) a
    45-minute period puts slots at the same times every day (00:00, 00:45, 01:30, … UTC), so
    restarts and replicas agree on them."""

    period_s: float
    anchor_s: float = 0.0

    def __post_init__(self) -> None:
        if not self.period_s > 0:
            raise ValueError("the period must be positive")

    def slot_at_or_before(self, t: float) -> float:
        """The latest slot that is not after `t`."""
        return self.anchor_s + math.floor((t - self.anchor_s) / self.period_s) * self.period_s

    def slot_after(self, t: float) -> float:
        """The earliest slot strictly after `t`."""
        return self.slot_at_or_before(t) + self.period_s

    def next_run(self, last_start: float | None, now: float) -> float:
        """When the next run should start: `now` when the current slot has no run yet (first
        start with no record, a missed slot, an overrun), else the next slot."""
        if last_start is None or last_start < self.slot_at_or_before(now):
            return now
        return self.slot_after(now)


def version_time(version: str) -> float | None:
    """The start time recorded in a model version id (`20261206T064500Z-1a2b3c`), or None."""
    try:
        moment = dt.datetime.strptime(version.split("-", 1)[0], "%Y%m%dT%H%M%SZ")
    except ValueError:
        return None
    return moment.replace(tzinfo=dt.UTC).timestamp()
