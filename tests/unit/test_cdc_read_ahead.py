"""read_ahead: batches come back in order with their rows, the next one is read while the
caller works, and nothing is left reading once the caller's block ends (even on an error)."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import pytest
from carpages_cdc.cache.read_ahead import read_ahead


def test_batches_come_back_in_order_with_their_rows() -> None:
    batches = [[1, 2], [3], [4, 5, 6]]
    with read_ahead(lambda b: [i * 10 for i in b], batches) as loaded:
        got = list(loaded)
    assert got == [([1, 2], [10, 20]), ([3], [30]), ([4, 5, 6], [40, 50, 60])]


def test_the_next_batch_is_read_while_the_caller_handles_this_one() -> None:
    second_started = threading.Event()

    def load(batch: Sequence[int]) -> str:
        if batch[0] == 2:
            second_started.set()
        return threading.current_thread().name

    with read_ahead(load, [[1], [2]]) as loaded:
        first, reader = next(loaded)
        assert first == [1]
        # Still handling batch 1, and batch 2's read is already under way on the helper.
        assert second_started.wait(5)
        assert reader != threading.current_thread().name
        assert [b for b, _ in loaded] == [[2]]


def test_a_single_batch_is_read_inline() -> None:
    with read_ahead(lambda b: threading.current_thread().name, [[1]]) as loaded:
        assert list(loaded) == [([1], threading.current_thread().name)]
    with read_ahead(lambda b: b, []) as loaded:
        assert list(loaded) == []


def test_a_failed_read_is_raised_to_the_caller() -> None:
    def load(batch: Sequence[int]) -> int:
        if batch[0] == 2:
            raise ValueError("boom")
        return batch[0]

    with pytest.raises(ValueError, match="boom"), read_ahead(load, [[1], [2], [3]]) as loaded:
        for _ in loaded:
            pass


def test_leaving_early_waits_for_the_read_in_flight() -> None:
    started, release, finished = threading.Event(), threading.Event(), threading.Event()

    def load(batch: Sequence[int]) -> int:
        if batch[0] == 2:
            started.set()
            release.wait(5)
            finished.set()
        return batch[0]

    def caller() -> None:
        with read_ahead(load, [[1], [2], [3]]) as loaded:
            next(loaded)
            # Batch 2 is queued; wait until the helper thread is really reading it (a read
            # still queued when the block ends is cancelled instead and never runs).
            assert started.wait(5)
            threading.Timer(0.2, release.set).start()
            raise RuntimeError("the caller's write failed")

    with pytest.raises(RuntimeError):
        caller()
    # The block has ended only after the helper finished with the connection.
    assert finished.is_set()
