"""Notices a Valkey that came back *with* data: restarted from a snapshot, or failed over.

An empty Valkey is easy (no `meta`: the applier rebuilds everything). One that restarted from an
RDB/AOF snapshot, or a replica promoted after a failover, holds an older state instead, and the
Kafka offsets of the changes it lost were already committed: nothing would ever re-apply them.
Every Valkey process has its own run id, so every full rebuild (before its switch) and the
applier keep the id they wrote under in Valkey itself (`keys.valkey_run`); finding a different
one there — or none beside a build, when the mark itself was lost — means the data came from
another run, and the whole cache is rebuilt. The check costs two small round trips and runs at
most once per `interval_s`, and at the next chance after a lost connection. (Only checking after
errors is not enough: valkey-py reconnects and retries a command once by itself, so a quick
restart can go by without the applier seeing any error.)
"""

from __future__ import annotations

import logging
import time
from typing import Any

from carpages_shared import keys

from carpages_cdc.cache import valkey_client
from carpages_cdc.cache.builder import current_build

log = logging.getLogger(__name__)


class ValkeyRestarts:
    """`restarted_with_data()` after `suspect()`: whether the data came from another run."""

    def __init__(self, client: Any, interval_s: float = 1.0) -> None:
        self.client = client
        self.interval_s = interval_s
        self.suspected = True  # look once at start-up
        self.next_look = 0.0

    def suspect(self) -> None:
        """A connection was lost: look at the next chance."""
        self.suspected = True

    def due(self) -> bool:
        """Whether `restarted_with_data` would look now (no I/O: the loop asks before it hands
        the look to a thread, so most turns cost nothing)."""
        return self.suspected or time.monotonic() >= self.next_look

    def restarted_with_data(self) -> bool:
        """Blocking: True when Valkey holds a cache written under another Valkey run. The mark
        is left as it is: the full rebuild this asks for moves it (the builder marks its build
        before the switch), so a rebuild cut short is asked for again at the next look instead
        of being forgotten."""
        if not self.due():
            return False
        now = time.monotonic()
        run_id = valkey_client.run_id(self.client)
        before = self.client.get(keys.valkey_run())
        self.suspected, self.next_look = False, now + self.interval_s
        if before is not None and before.decode() == run_id:
            return False
        if current_build(self.client) is None:
            self.client.set(keys.valkey_run(), run_id)  # empty: rebuilt anyway; mark it ours
            return False
        # Every full rebuild marks its build, so a cache without a mark lost it in a failover.
        log.warning("Valkey's data comes from another run (%s, now %s): a restart from a "
                    "snapshot or a failover; rebuilding the cache",
                    before.decode() if before else "no mark", run_id)
        return True
