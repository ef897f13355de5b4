"""Batches with their rows, the next batch read from MySQL while the caller writes this one.

A builder batch is a MySQL read, then Python assembly and a Valkey write. Run one after the
other, MariaDB waits while Valkey works and the reverse; reading batch n + 1 in a helper thread
while batch n is assembled and written overlaps the servers' time with ours (the Python parts
still take turns on the GIL). The reads keep their order and use one connection at a time, so a
full rebuild's consistent snapshot, opened on that connection, covers every batch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import TypeVar

Rows = TypeVar("Rows")


@contextmanager
def read_ahead(load: Callable[[Sequence[int]], Rows],
               batches: Sequence[Sequence[int]]) -> Iterator[Iterator[tuple[Sequence[int], Rows]]]:
    """Yield an iterator of (batch, load(batch)); on leaving, wait for any read in flight.

    Use it as a context manager so an exception in the caller never leaves a read running on a
    connection the caller is about to close. A single batch is read inline (no thread).
    """
    if len(batches) <= 1:
        yield ((batch, load(batch)) for batch in batches)
        return
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="read-ahead") as pool:
        pending: list[Future[Rows]] = [pool.submit(load, batches[0])]

        def iterate() -> Iterator[tuple[Sequence[int], Rows]]:
            for index, batch in enumerate(batches):
                rows = pending.pop().result()
                if index + 1 < len(batches):
                    pending.append(pool.submit(load, batches[index + 1]))
                yield batch, rows

        try:
            yield iterate()
        finally:
            for future in pending:
                future.cancel()
            # The executor's exit waits for a read already running.
