"""Python's cyclic garbage collector paused while a full rebuild runs.

A rebuild allocates millions of short-lived objects (rows, records, commands) and frees them
batch by batch through reference counting alone; none of them form cycles that need the
collector. Left running, the collector still walks every young object hundreds of times and the
whole heap every few batches: a tenth of the rebuild's time, spent finding nothing. Pausing it
is process-wide, so concurrent pauses (threads of one worker) are counted: the collector runs
again when the last one ends, and only if it ran before the first began.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_pauses = 0
_was_enabled = False


@contextmanager
def collector_paused() -> Iterator[None]:
    """Disable the cyclic collector for the block (nested or concurrent blocks allowed)."""
    global _pauses, _was_enabled
    with _lock:
        if _pauses == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _pauses += 1
    try:
        yield
    finally:
        with _lock:
            _pauses -= 1
            if _pauses == 0 and _was_enabled:
                gc.enable()
