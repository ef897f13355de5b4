"""heap.settle freezes the start-up heap and collects young objects less often; unsettle
puts the collector back as it was (tests run many apps in one process)."""

from __future__ import annotations

import gc

from carpages_shared import heap


def test_settle_and_unsettle_round_trip() -> None:
    before = gc.get_threshold()
    assert gc.get_freeze_count() == 0
    kept = [object() for _ in range(10)] + [[n] for n in range(10)]  # tracked objects
    previous = heap.settle()
    try:
        assert previous == before
        assert gc.get_threshold() == (heap.YOUNG_THRESHOLD, before[1], before[2])
        assert gc.get_freeze_count() >= 10  # at least the lists above
    finally:
        heap.unsettle(previous)
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0
    assert len(kept) == 20
