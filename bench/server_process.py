"""An ASGI process the bench starts beside its stack (the raw floor, the API under another
server), ready once a URL answers 200, stopped by its own pid when the block ends."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

READY_S = 90.0
"""The API builds its services (Valkey, L1, the reco model) before it answers."""


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


@contextmanager
def running(argv: list[str], env: Mapping[str, str], ready_url: str,
            log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """Run `argv` until the block ends; yield once `ready_url` answers 200."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        # Its own session: Granian's worker is a child of the server process, and stopping
        # this group stops both even if the server process dies first.
        proc = subprocess.Popen(argv, env=dict(env), stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + READY_S
        while not _answers(ready_url):
            if proc.poll() is not None or time.monotonic() > deadline:
                tail = log.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"{' '.join(argv)} did not come up:\n{tail}")
            time.sleep(0.2)
        yield proc
    finally:
        _stop(proc)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)  # graceful: the server stops its worker
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    # Only the group this process leads, in case its worker outlived it.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
