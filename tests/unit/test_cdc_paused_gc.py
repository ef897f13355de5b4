"""The full rebuild's collector pause: restored when the last of nested or concurrent pauses
ends, and never turning on a collector that was off before."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest
from carpages_cdc.cache.paused_gc import collector_paused


@pytest.fixture(autouse=True)
def restore_collector() -> Iterator[None]:
    was = gc.isenabled()
    yield
    if was:
        gc.enable()
    else:
        gc.disable()


def test_pause_restores_the_collector() -> None:
    gc.enable()
    with collector_paused():
        assert not gc.isenabled()
    assert gc.isenabled()


def test_overlapping_pauses_resume_with_the_last() -> None:
    gc.enable()
    outer = collector_paused()
    outer.__enter__()
    with collector_paused():
        assert not gc.isenabled()
    assert not gc.isenabled()  # the outer pause still runs
    outer.__exit__(None, None, None)
    assert gc.isenabled()


def test_a_collector_that_was_off_stays_off() -> None:
    gc.disable()
    with collector_paused():
        pass
    assert not gc.isenabled()


def test_an_exception_still_resumes_the_collector() -> None:
    gc.enable()
    with pytest.raises(RuntimeError), collector_paused():
        raise RuntimeError("build failed")
    assert gc.isenabled()
