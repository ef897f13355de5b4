"""What the lifespan creates and routes use: clients and settings, one instance per app."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from carpages_api.settings import ApiSettings


@dataclass
class AppState:
    """Clients created in the lifespan, closed after it; routes reach them through deps."""

    settings: ApiSettings
    valkey: Any
    """valkey.asyncio.Valkey for writes and primary reads."""
    reader: Any
    """valkey.asyncio.Valkey for reads (a replica when configured, else the primary)."""
    extras: dict[str, Any] = field(default_factory=dict)
