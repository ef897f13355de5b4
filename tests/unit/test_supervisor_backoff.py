"""The local supervisor's pure parts: the restart back-off schedule and exit descriptions."""

from __future__ import annotations

import signal

import pytest
from carpages_local.supervisor import (
    BACKOFF_CAP_S,
    BACKOFF_INITIAL_S,
    backoff_delay,
    describe_exit,
)


def test_backoff_doubles_from_half_a_second_up_to_the_cap() -> None:
    assert [backoff_delay(n) for n in range(1, 8)] == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0, 5.0]
    assert BACKOFF_INITIAL_S == 0.5
    assert BACKOFF_CAP_S == 5.0


def test_backoff_of_a_very_long_crash_loop_stays_at_the_cap() -> None:
    assert backoff_delay(10_000) == BACKOFF_CAP_S


@pytest.mark.parametrize("failures", [0, -3])
def test_backoff_below_one_failure_is_the_initial_delay(failures: int) -> None:
    assert backoff_delay(failures) == BACKOFF_INITIAL_S


def test_backoff_with_other_bounds() -> None:
    assert [backoff_delay(n, initial_s=0.1, cap_s=0.3) for n in (1, 2, 3, 4)] == \
        [0.1, 0.2, 0.3, 0.3]


def test_describe_exit() -> None:
    assert describe_exit(0) == "code 0"
    assert describe_exit(3) == "code 3"
    assert describe_exit(-signal.SIGKILL) == "signal SIGKILL"
    assert describe_exit(-signal.SIGTERM) == "signal SIGTERM"
    assert describe_exit(-200) == "signal 200"
