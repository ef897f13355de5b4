"""The stack's processes: where their pids are, whether they live, and who restarts them.

Servers (mariadb, valkey, tansu) are in `<root>/pids.json` (stack.Running). Services (api,
cdc-publisher, cdc-applier) are run by the supervisor when `<root>/services.json` exists:
`{"supervisor_pid", "services": {name: {"pid", "restarts", "liveness_kills", "started_at",
"last_exit"}}}`. Without it they are in pids.json and nobody restarts them; the harness then
stands in for the supervisor (`respawn=True`): a service found dead is started again with the
same command line and environment as `stack.start_services`, and every exit is recorded.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from carpages_local import servers, stack

SERVICES = ("api", "cdc-publisher", "cdc-applier")


def alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie child of ours counts as dead and is reaped)."""
    try:
        reaped, _ = os.waitpid(pid, os.WNOHANG)
        if reaped == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state != "Z"


@dataclass
class Exit:
    service: str
    pid: int
    at: float
    expected: bool
    code: int | None = None


@dataclass
class Processes:
    """Pid bookkeeping for one stack root."""

    root: Path
    env: stack.StackEnv
    respawn: bool = True
    killed: set[int] = field(default_factory=set)  # pids we killed on purpose
    exits: list[Exit] = field(default_factory=list)
    restarts_seen: dict[str, int] = field(default_factory=dict)
    _pids: dict[str, int] = field(default_factory=dict)  # fallback mode: current service pids

    # ------------------------------------------------------------------ reading

    @property
    def supervised(self) -> bool:
        return (self.root / "services.json").exists()

    def supervisor(self) -> dict[str, Any]:
        try:
            data: dict[str, Any] = json.loads((self.root / "services.json").read_text())
            return data
        except (OSError, ValueError):
            return {}

    def running(self) -> stack.Running:
        return stack.Running.load(self.root / "pids.json")

    def server(self, name: str) -> servers.Server:
        return next(p for p in self.running().processes if p.name == name)

    def replace_server(self, old: Any, new: Any) -> None:
        """Put a restarted server in pids.json in place of the old one, so `down` stops it."""
        running = self.running()
        running.processes = [new if p.name == old.name and p.pid == old.pid else p
                             for p in running.processes]
        if new not in running.processes:
            running.processes.append(new)
        running.save(self.root / "pids.json")

    def service_pid(self, name: str) -> int | None:
        if self.supervised:
            info = self.supervisor().get("services", {}).get(name)
            return int(info["pid"]) if info and info.get("pid") else None
        if name not in self._pids:
            found = [p.pid for p in self.running().processes if p.name == name]
            if found:
                self._pids[name] = found[-1]
        return self._pids.get(name)

    def restarts(self) -> dict[str, int]:
        """Restart counts per service (the supervisor's; else the harness's own respawns)."""
        if self.supervised:
            return {name: int(info.get("restarts", 0)) for name, info
                    in self.supervisor().get("services", {}).items()}
        return dict(self.restarts_seen)

    # ------------------------------------------------------------------ acting

    def kill(self, pid: int, sig: int) -> None:
        self.killed.add(pid)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)

    def check(self) -> None:
        """Record service exits (and, without a supervisor, start dead services again)."""
        if self.supervised:
            return  # the supervisor restarts; rounds compare its restart counters
        for name in SERVICES:
            pid = self.service_pid(name)
            if pid is None or alive(pid):
                continue
            self.exits.append(Exit(name, pid, time.monotonic(), pid in self.killed))
            if self.respawn:
                self.start_service(name)

    def start_service(self, name: str) -> int:
        """Start a service as stack.start_services does (fallback mode only)."""
        child_env = {**os.environ, **self.env.variables(), "CDC_RESNAPSHOT_WHEN_PURGED": "true",
                     "CDC_HEARTBEAT_DIR": str(self.root / "heartbeats")}
        argv = stack.service_commands(self.env)[name]
        logfile = self.root / "logs" / f"{name}.log"
        with logfile.open("ab") as out:
            proc = subprocess.Popen(argv, env=child_env, stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True)
        old = self._pids.get(name)
        self._pids[name] = proc.pid
        self.restarts_seen[name] = self.restarts_seen.get(name, 0) + 1
        running = self.running()
        running.processes = [p for p in running.processes if not (p.name == name and p.pid == old)]
        running.processes.append(servers.Server(name, proc.pid, 0))
        running.save(self.root / "pids.json")
        return proc.pid
