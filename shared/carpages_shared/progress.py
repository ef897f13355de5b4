"""Progress of long jobs (seed, rebuild, reconcile, train, bench): a tqdm bar with rate and ETA on
a terminal, a plain line every few seconds elsewhere (CI logs, `make` piped to a file), where a
redrawn bar would be one endless line of carriage returns.

Library code takes an optional `ProgressFn` callback `(done, total)` and knows nothing about
terminals; the command line decides how to show it by passing a `Progress`.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from types import TracebackType
from typing import Never, TextIO

from tqdm import tqdm

#: `(done, total)`: called by long-running library code as work completes.
ProgressFn = Callable[[int, int], None]

PLAIN_FORMAT = ("{desc}: {n_fmt}/{total_fmt} {unit} ({percentage:.0f}%) "
                "[{elapsed}<{remaining}, {rate_fmt}]")
PLAIN_NO_TOTAL = "{desc}: {n_fmt} {unit} [{elapsed}, {rate_fmt}]"


def _scaled(total: int) -> bool:
    """`12.3k` for large counts; small ones stay exact (`3/17`, not `3.00/17.0`)."""
    return total >= 10_000


class Progress:
    """One job's progress; callable as a `ProgressFn`, or advanced step by step."""

    def __init__(self, label: str, unit: str = "it", total: int = 0, *,
                 stream: TextIO | None = None, tty: bool | None = None,
                 every_s: float = 10.0) -> None:
        self.label, self.unit, self.total, self.done = label, unit, total, 0
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.every_s = every_s
        self.started = time.monotonic()
        self._printed_at: float | None = None
        self._bar: tqdm[Never] | None = None
        if self.tty:
            self._bar = tqdm(total=total or None, desc=label, unit=unit, file=self.stream,
                             dynamic_ncols=True, unit_scale=_scaled(total), leave=True)

    def __call__(self, done: int, total: int) -> None:
        """Record that `done` of `total` units are finished."""
        self.total = total
        self.done = done
        if self._bar is not None:
            if self._bar.total != total:
                self._bar.total = total
                self._bar.unit_scale = _scaled(total)
            self._bar.update(done - self._bar.n)
            return
        now = time.monotonic()
        # The first line at once (the job has started), then one per interval, and the last.
        if self._printed_at is None or now - self._printed_at >= self.every_s or done >= total:
            self._print(now)

    def advance(self, n: int = 1) -> None:
        """Record `n` more units finished."""
        self(self.done + n, max(self.total, self.done + n))

    def write(self, text: str) -> None:
        """Print a line of output without tearing the bar (it is redrawn below the line)."""
        if self._bar is not None:
            self._bar.write(text, file=self.stream)
        else:
            print(text, file=self.stream, flush=True)

    def line(self, now: float | None = None) -> str:
        """The plain progress line: done/total, percentage, elapsed<ETA, rate."""
        elapsed = (now or time.monotonic()) - self.started
        return tqdm.format_meter(self.done, self.total, elapsed, prefix=self.label,
                                 unit=self.unit, unit_scale=_scaled(self.total),
                                 bar_format=PLAIN_FORMAT if self.total else PLAIN_NO_TOTAL)

    def _print(self, now: float) -> None:
        self._printed_at = now
        print(self.line(now), file=self.stream, flush=True)

    def close(self) -> None:
        """Finish the bar (or print the final line if the last one is stale)."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        elif self._printed_at is not None and self.done < self.total:
            self._print(time.monotonic())

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
