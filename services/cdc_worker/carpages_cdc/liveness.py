"""Worker heartbeat keys and `cdc_worker check`, the liveness probe (as arq's `--check`).

Each role's loop refreshes `keys.worker_heartbeat("<role>:<instance>")` (EX HEARTBEAT_TTL) only
while it makes progress, so a wedged loop lets the key expire and the probe fail.
"""

from __future__ import annotations

import os
import time
from typing import Any

import orjson
from carpages_shared import keys


def heartbeat_key(role: str, instance: str) -> str:
    """The key one worker process refreshes."""
    return keys.worker_heartbeat(f"{role}:{instance}")


def beat(client: Any, role: str, instance: str, state: str, **details: Any) -> None:
    """Blocking: record that this worker's loop is alive and what it is doing."""
    value = orjson.dumps({"ts": time.time(), "state": state, "pid": os.getpid(), **details})
    client.set(heartbeat_key(role, instance), value, ex=keys.HEARTBEAT_TTL)


def check(client: Any, role: str, instance: str, max_age_s: float) -> tuple[bool, str]:
    """(alive, description) from the worker's heartbeat key."""
    raw = client.get(heartbeat_key(role, instance))
    if raw is None:
        return False, f"no heartbeat from {role}:{instance} in the last {keys.HEARTBEAT_TTL}s"
    data = orjson.loads(raw)
    age = time.time() - float(data.get("ts", 0))
    description = f"{role}:{instance} {data.get('state')} pid {data.get('pid')} {age:.1f}s ago"
    return age <= max_age_s, description
