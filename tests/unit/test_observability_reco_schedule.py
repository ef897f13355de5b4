"""The trainer's fixed-rate cadence: on the grid, no drift, no overlap, one catch-up per miss."""

from __future__ import annotations

import datetime as dt

import pytest
from carpages_reco.schedule import FixedRate, version_time
from hypothesis import given
from hypothesis import strategies as st

PERIOD = 45 * 60
EVERY_45 = FixedRate(PERIOD)


def utc(text: str) -> float:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC).timestamp()


def test_slots_are_the_same_every_day() -> None:
    # 45 minutes divides a day: slots at 00:00, 00:45, 01:30, ... whatever the start time.
    assert EVERY_45.slot_at_or_before(utc("2026-12-06T01:29:59")) == utc("2026-12-06T00:45:00")
    assert EVERY_45.slot_at_or_before(utc("2026-12-06T01:30:00")) == utc("2026-12-06T01:30:00")
    assert EVERY_45.slot_after(utc("2026-12-06T23:59:00")) == utc("2026-12-07T00:00:00")
    assert EVERY_45.slot_after(utc("2026-12-06T01:30:00")) == utc("2026-12-06T02:15:00")


def test_first_start_without_a_model_runs_at_once() -> None:
    now = utc("2026-12-06T10:07:00")
    assert EVERY_45.next_run(None, now) == now


def test_a_run_in_this_slot_waits_for_the_next_slot() -> None:
    # The model was trained at 10:07 (slot 09:45); a restart at 10:20 waits until 10:30.
    assert EVERY_45.next_run(utc("2026-12-06T10:07:00"), utc("2026-12-06T10:20:00")) == \
        utc("2026-12-06T10:30:00")


def test_no_drift_by_training_time() -> None:
    # Started on the 10:30 slot, took 12 minutes: the next start is 11:15, not 11:27.
    assert EVERY_45.next_run(utc("2026-12-06T10:30:00"), utc("2026-12-06T10:42:00")) == \
        utc("2026-12-06T11:15:00")


def test_an_overrun_is_caught_up_at_once_then_back_on_the_grid() -> None:
    started, ended = utc("2026-12-06T10:30:00"), utc("2026-12-06T11:20:00")  # 50 minutes
    assert EVERY_45.next_run(started, ended) == ended  # the 11:15 slot, late, no overlap
    assert EVERY_45.next_run(ended, utc("2026-12-06T11:31:00")) == utc("2026-12-06T12:00:00")


def test_many_missed_slots_make_one_catch_up_run() -> None:
    down_since, back = utc("2026-12-06T03:00:00"), utc("2026-12-06T07:10:00")
    assert EVERY_45.next_run(down_since, back) == back
    assert EVERY_45.next_run(back, back + 60) == utc("2026-12-06T07:30:00")


def test_anchor_shifts_the_grid() -> None:
    shifted = FixedRate(PERIOD, anchor_s=utc("2026-12-06T00:10:00"))
    assert shifted.slot_after(utc("2026-12-06T10:00:00")) == utc("2026-12-06T10:40:00")


def test_period_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        FixedRate(0)


def test_version_time_reads_the_start_of_the_run() -> None:
    assert version_time("20261206T103000Z-1a2b3c") == utc("2026-12-06T10:30:00")
    assert version_time("not-a-version") is None


@given(st.floats(0, 1e9), st.lists(st.floats(1, 3 * PERIOD), min_size=1, max_size=40))
def test_simulated_runs_never_overlap_drift_or_skip(start: float, durations: list[float]) -> None:
    """Drive the schedule like the trainer loop does, one run at a time."""
    now, last = start, None
    starts: list[float] = []
    for duration in durations:
        at = EVERY_45.next_run(last, now)
        assert at >= now  # never in the past, so never while the previous run is going
        now = last = at
        starts.append(at)
        now += duration
    for i in range(1, len(starts)):
        previous, current = starts[i - 1], starts[i]
        slot = EVERY_45.slot_at_or_before(current)
        # On the grid, or a catch-up for a slot that began while the previous run was going.
        assert current == slot or previous < slot <= current
        assert EVERY_45.slot_at_or_before(previous) < slot  # one run per slot at most
        # Never later than needed: once the previous run ended, the next slot's start.
        previous_end = previous + durations[i - 1]
        assert current <= max(previous_end, EVERY_45.slot_after(previous))
