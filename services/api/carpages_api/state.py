"""What the lifespan creates and routes use: clients and settings, one instance per app."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from carpages_api.settings import ApiSettings
from carpages_api.slot_transactions import SlotTransactions
from carpages_api.valkey_clients import Readers


@dataclass
class AppState:
    """Clients created in the lifespan, closed after it; routes reach them through deps."""

    settings: ApiSettings
    valkey: Any
    """The primary (valkey.asyncio.Valkey) or the cluster client: every write goes here."""
    readers: Readers
    """Replicas, one picked per request (the primary when none are configured)."""
    transactions: SlotTransactions
    """MULTI/EXEC and WATCH on the primary, for keys of one hash tag (cluster-safe)."""
    subscriber: Any
    """A plain client for pub/sub (the asyncio cluster client has none)."""
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def reader(self) -> Any:
        """A reader for one request (the next replica in turn); keep it for the request."""
        return self.readers.pick()
