"""Worker heartbeats and `cdc_worker check`, the liveness probe (as arq's `--check`).

Each role's loop beats every few seconds, only while it makes progress, so a wedged loop stops
beating and the probe fails. A beat goes to two places:

- a local file (`CDC_HEARTBEAT_DIR`, the temp dir by default): what the probe reads when it runs
  beside the worker (the Kubernetes exec probe does). The probe therefore depends on the loop
  alone — a Valkey outage, which the publisher's work does not even touch and the applier rides
  out by retrying, must not get the pods restarted;
- `keys.worker_heartbeat("<role>:<instance>")` in Valkey (EX HEARTBEAT_TTL), best effort: for
  operators, and for a `check` run somewhere without the file.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import Any

import orjson
from carpages_shared import keys


def heartbeat_key(role: str, instance: str) -> str:
    """The key one worker process refreshes."""
    return keys.worker_heartbeat(f"{role}:{instance}")


def heartbeat_file(directory: str | Path, role: str, instance: str) -> Path:
    """The file one worker process refreshes (instance names are pod or host names)."""
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", f"{role}-{instance}")
    return Path(directory) / f"carpages-cdc-{safe}.heartbeat"


def beat(client: Any, role: str, instance: str, state: str, directory: str | Path | None = None,
         **details: Any) -> None:
    """Blocking: record that this worker's loop is alive and what it is doing (the file first,
    so a Valkey error raised by the second write leaves the probe's source fresh)."""
    value = orjson.dumps({"ts": time.time(), "state": state, "pid": os.getpid(), **details})
    if directory is not None:
        path = heartbeat_file(directory, role, instance)
        path.parent.mkdir(parents=True, exist_ok=True)
        scratch = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        scratch.write_bytes(value)
        os.replace(scratch, path)  # atomic: the probe never reads half a beat
    client.set(heartbeat_key(role, instance), value, ex=keys.HEARTBEAT_TTL)


def judge(raw: bytes, label: str, max_age_s: float) -> tuple[bool, str]:
    """(alive, description) of one beat."""
    try:
        data = orjson.loads(raw)
        age = time.time() - float(data.get("ts", 0))
    except (orjson.JSONDecodeError, AttributeError, TypeError, ValueError):
        return False, f"{label}: unreadable heartbeat"
    description = f"{label} {data.get('state')} pid {data.get('pid')} {age:.1f}s ago"
    return age <= max_age_s, description


def check_file(directory: str | Path, role: str, instance: str,
               max_age_s: float) -> tuple[bool, str] | None:
    """(alive, description) from the local heartbeat file; None when there is none here."""
    try:
        raw = heartbeat_file(directory, role, instance).read_bytes()
    except FileNotFoundError:
        return None
    return judge(raw, f"{role}:{instance} (file)", max_age_s)


def check(client: Any, role: str, instance: str, max_age_s: float) -> tuple[bool, str]:
    """(alive, description) from the worker's heartbeat key in Valkey."""
    raw = client.get(heartbeat_key(role, instance))
    if raw is None:
        return False, f"no heartbeat from {role}:{instance} in the last {keys.HEARTBEAT_TTL}s"
    return judge(raw, f"{role}:{instance}", max_age_s)
