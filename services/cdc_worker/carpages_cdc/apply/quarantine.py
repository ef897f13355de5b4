"""The quarantine: entities the applier could not build, kept in Valkey until a repair builds them.

A member is `<kind>:<id>` (`car:42`, `buyer:7`, `slugs:0`). Kept in Valkey rather than in the
process so a restarted or different applier repairs what this one set aside, and so operators
can see it (`SMEMBERS {cdc}:quarantine`). A flush loses it together with the cache it refers to,
and the full rebuild that follows builds everything anyway.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from carpages_shared import keys

KINDS = {"cars": "car", "buyers": "buyer", "slugs": "slugs"}
"""Work kinds (carpages_cdc.apply.cache_apply) -> member prefixes."""


class Quarantine:
    """The quarantine set of one Valkey."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def add(self, kind: str, ids: Iterable[int]) -> None:
        """Set these entities aside."""
        members = [f"{KINDS[kind]}:{i}" for i in ids]
        if members:
            self.client.sadd(keys.quarantine(), *members)

    def remove(self, kind: str, ids: Iterable[int]) -> None:
        """These entities built: release them."""
        members = [f"{KINDS[kind]}:{i}" for i in ids]
        if members:
            self.client.srem(keys.quarantine(), *members)

    def members(self) -> dict[str, list[int]]:
        """Quarantined ids by work kind."""
        prefixes = {prefix: kind for kind, prefix in KINDS.items()}
        held: dict[str, list[int]] = {}
        for raw in self.client.smembers(keys.quarantine()):
            prefix, _, entity = raw.decode().partition(":")
            if prefix in prefixes and entity.lstrip("-").isdigit():
                held.setdefault(prefixes[prefix], []).append(int(entity))
        return held
