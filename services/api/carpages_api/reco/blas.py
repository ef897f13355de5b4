"""How many threads the ranker's scoring product may use: one unless configured.

The ranker scores every candidate with one matrix-vector product (numpy over OpenBLAS), and
OpenBLAS runs it on a thread per core. An API process already keeps a core busy with its event
loop (and production runs a worker process per core), so those extra threads wait for cores that
other requests hold: their wait was the ranking's whole tail. Measured side by side on 100,000
candidates with another process keeping one of the two cores busy: p99 9.7–9.9 ms on two
threads against 2.5–2.7 ms on one (p50 1.6–1.7 against 1.9–2.0 ms).

A score can differ in its last bit between thread counts (OpenBLAS may split a product's sum),
so two near-tied cars could swap. Every API process of a deployment runs the same count, so
they agree with each other; the count is set once per serving process by the app factory
(app.app_from_environment), never mid-way.
"""

from __future__ import annotations

from threadpoolctl import threadpool_limits


def limit(threads: int) -> None:
    """Let BLAS use at most `threads` threads from now on, in this whole process."""
    threadpool_limits(limits=threads, user_api="blas")
