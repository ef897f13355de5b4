"""The local stack's process supervisor: what Kubernetes does for the pods, on one machine.

`python -m carpages_local supervise --root .stack` (started by `make up`) runs the API and the two
CDC roles as child processes and keeps them running:

- a child that exits, whatever its exit code or signal, is started again after an exponential
  back-off (0.5 s, 1 s, 2 s, 4 s, then every 5 s), which starts over once a child has stayed up
  30 s — a crash loop does not spin the CPU, a one-off crash costs half a second;
- a child whose liveness probe fails `failure_threshold` times in a row is killed (SIGTERM, then
  SIGKILL) and restarted the same way, like a failed Kubernetes liveness probe;
- every start, exit, restart, failed probe and liveness kill is one line in
  `.stack/logs/supervisor.log`, and `.stack/services.json` always holds the current pids and
  counters (replaced atomically, so a reader never sees half a file).

It is deliberately small: one thread polls the children every TICK_S, probes run in short-lived
threads so a slow probe never delays a restart.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

import psutil

STATE_FILE = "services.json"
LOG_FILE = "supervisor.log"
BACKOFF_INITIAL_S = 0.5
BACKOFF_CAP_S = 5.0
BACKOFF_RESET_S = 30.0
"""A child that stayed up this long is healthy again: its next restart waits BACKOFF_INITIAL_S."""
STOP_TIMEOUT_S = 20.0
"""SIGTERM grace per child on shutdown (the CDC roles commit offsets and release their lease)."""
LIVENESS_KILL_GRACE_S = 5.0
"""SIGTERM grace of a child that failed its liveness probe (it is wedged: do not wait long)."""
TICK_S = 0.1


def backoff_delay(failures: int, initial_s: float = BACKOFF_INITIAL_S,
                  cap_s: float = BACKOFF_CAP_S) -> float:
    """Seconds to wait before restarting a child that exited `failures` times in a row (>= 1)."""
    # The exponent is bounded so a very long crash loop cannot overflow the float.
    return min(cap_s, initial_s * 2.0 ** min(max(failures, 1) - 1, 32))


@dataclass(frozen=True)
class Probe:
    """A liveness probe: a command that exits 0, or a URL that answers 200, means alive."""

    command: Sequence[str] | None = None
    url: str | None = None
    grace_s: float = 60.0
    """No probe before the child has run this long (Kubernetes' initialDelaySeconds)."""
    period_s: float = 5.0
    failure_threshold: int = 3
    timeout_s: float = 10.0

    def check(self, env: Mapping[str, str]) -> tuple[bool, str]:
        """Blocking: (alive, what the probe said)."""
        if self.url is not None:
            # No proxy: the environment's http_proxy must not intercept a loopback probe.
            opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
            try:
                with opener.open(self.url, timeout=self.timeout_s) as resp:
                    return resp.status == 200, f"HTTP {resp.status}"
            except OSError as exc:  # URLError, HTTPError (non-2xx), timeouts, refused
                return False, f"{self.url}: {exc}"
        if not self.command:
            raise ValueError("a probe needs a command or a url")
        try:
            done = subprocess.run(list(self.command), env=dict(env), capture_output=True,
                                  stdin=subprocess.DEVNULL, timeout=self.timeout_s, check=False)
        except subprocess.TimeoutExpired:
            return False, f"no answer in {self.timeout_s:.0f}s"
        lines = (done.stdout + done.stderr).decode(errors="replace").strip().splitlines()
        return done.returncode == 0, f"exit {done.returncode}: {lines[-1] if lines else ''}"


@dataclass
class Service:
    """One supervised command."""

    name: str
    argv: list[str]
    probe: Probe | None = None
    before_start: Callable[[], None] | None = None
    """Runs before every start, e.g. to delete the previous process's heartbeat."""
    env: Mapping[str, str] = field(default_factory=dict)
    """This service's own variables over the supervisor's (e.g. its metrics port)."""


class _ProbeRun:
    """One probe in a thread of its own; the main loop polls `result`."""

    def __init__(self, probe: Probe, env: Mapping[str, str]) -> None:
        self.result: tuple[bool, str] | None = None
        self._thread = threading.Thread(target=self._run, args=(probe, env), daemon=True)
        self._thread.start()

    def _run(self, probe: Probe, env: Mapping[str, str]) -> None:
        try:
            self.result = probe.check(env)
        except Exception as exc:  # a broken probe is a failed probe, never a dead supervisor
            self.result = (False, f"probe error: {exc!r}")

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)


@dataclass
class _Child:
    """What the supervisor knows about one service."""

    spec: Service
    proc: subprocess.Popen[bytes] | None = None
    started_at: float | None = None  # wall clock, for services.json
    started_mono: float = 0.0
    restarts: int = 0
    liveness_kills: int = 0
    last_exit: dict[str, float] | None = None
    exits_in_row: int = 0  # exits since the child last stayed up BACKOFF_RESET_S
    start_due: float | None = 0.0  # monotonic time of the next start; None while running
    probe_due: float = 0.0
    probe_failures: int = 0
    probe_run: _ProbeRun | None = None
    kill_due: float | None = None  # liveness kill in progress: SIGKILL at this time
    stale_probes: list[_ProbeRun] = field(default_factory=list)


class Supervisor:
    """Runs `services` under `root` until SIGTERM/SIGINT (or `request_stop`)."""

    def __init__(self, services: Sequence[Service], root: Path, env: Mapping[str, str], *,
                 backoff_initial_s: float = BACKOFF_INITIAL_S,
                 backoff_cap_s: float = BACKOFF_CAP_S,
                 backoff_reset_s: float = BACKOFF_RESET_S,
                 stop_timeout_s: float = STOP_TIMEOUT_S,
                 echo: TextIO | None = None) -> None:
        if len({s.name for s in services}) != len(services):
            raise ValueError("service names must be unique")
        self.root = root
        self.env = dict(env)
        self.state_path = root / STATE_FILE
        self.log_dir = root / "logs"
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.backoff_initial_s = backoff_initial_s
        self.backoff_cap_s = backoff_cap_s
        self.backoff_reset_s = backoff_reset_s
        self.stop_timeout_s = stop_timeout_s
        self._echo = echo
        self._children = [_Child(spec) for spec in services]
        self._stopping = False

    # ------------------------------------------------------------------ public

    def request_stop(self, *_: object) -> None:
        """Signal-handler safe: the loop stops the children at its next turn."""
        self._stopping = True

    def run(self) -> int:
        """Supervise until asked to stop; then stop the children in reverse start order."""
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, self.request_stop)
            signal.signal(signal.SIGINT, self.request_stop)
        self.log(f"supervisor pid {os.getpid()} supervising "
                 f"{', '.join(c.spec.name for c in self._children)}")
        self._write_state()
        try:
            while not self._stopping:
                for child in self._children:
                    self._turn(child, time.monotonic())
                time.sleep(TICK_S)
        finally:
            self._shutdown()
        return 0

    def log(self, line: str) -> None:
        """One timestamped line in supervisor.log (and on `echo`, when given)."""
        stamped = f"{datetime.now().isoformat(sep=' ', timespec='milliseconds')} {line}\n"
        with (self.log_dir / LOG_FILE).open("a") as out:
            out.write(stamped)
        if self._echo is not None:
            self._echo.write(stamped)
            self._echo.flush()

    # ------------------------------------------------------------------ the loop

    def _turn(self, child: _Child, now: float) -> None:
        if child.proc is None:
            if child.start_due is not None and now >= child.start_due and not self._stopping:
                self._start(child, now)
            return
        code = child.proc.poll()
        if code is not None:
            self._exited(child, code, now)
            return
        if child.kill_due is not None:
            if now >= child.kill_due:
                _signal_group(child.proc.pid, signal.SIGKILL)
            return
        self._probe(child, now)

    def _start(self, child: _Child, now: float) -> None:
        spec = child.spec
        if spec.before_start is not None:
            try:
                spec.before_start()
            except Exception as exc:  # e.g. Valkey down: start anyway, and say so
                self.log(f"{spec.name}: before-start step failed: {exc!r}")
        logfile = self.log_dir / f"{spec.name}.log"
        try:
            with logfile.open("ab") as out:
                # Own session: a terminal's Ctrl-C reaches the supervisor only, and a whole
                # process group can be signalled (children of the child included).
                child.proc = subprocess.Popen(spec.argv, env={**self.env, **spec.env},
                                              stdout=out, stderr=subprocess.STDOUT,
                                              stdin=subprocess.DEVNULL, start_new_session=True)
        except OSError as exc:  # e.g. a missing executable: back off like any other failure
            self.log(f"{spec.name}: cannot start {spec.argv[0]}: {exc}")
            child.exits_in_row += 1
            child.start_due = now + backoff_delay(child.exits_in_row, self.backoff_initial_s,
                                                  self.backoff_cap_s)
            return
        first = child.started_at is None
        if not first:
            child.restarts += 1
        child.started_at = time.time()
        child.started_mono = now
        child.start_due = None
        child.kill_due = None
        child.probe_failures = 0
        child.probe_due = now + (spec.probe.grace_s if spec.probe else 0.0)
        if first:
            self.log(f"start {spec.name} pid {child.proc.pid}")
        else:
            self.log(f"restart {spec.name} pid {child.proc.pid} (restart #{child.restarts}, "
                     f"{child.liveness_kills} for liveness)")
        self._write_state()

    def _exited(self, child: _Child, code: int, now: float) -> None:
        assert child.proc is not None
        pid = child.proc.pid
        # Whatever the child left in its group (it was killed, its helpers were not) goes too.
        _signal_group(pid, signal.SIGKILL)
        uptime = now - child.started_mono
        if uptime >= self.backoff_reset_s:
            child.exits_in_row = 0
        child.exits_in_row += 1
        delay = backoff_delay(child.exits_in_row, self.backoff_initial_s, self.backoff_cap_s)
        child.proc = None
        child.last_exit = {"code": code, "at": time.time()}
        child.start_due = now + delay
        child.stale_probes = [r for r in child.stale_probes if r.result is None]
        if child.probe_run is not None:  # its answer is about a process that is gone
            child.stale_probes.append(child.probe_run)
            child.probe_run = None
        self.log(f"exit {child.spec.name} pid {pid} {describe_exit(code)} after {uptime:.1f}s; "
                 f"restarting in {delay:.1f}s")
        self._write_state()

    def _probe(self, child: _Child, now: float) -> None:
        probe = child.spec.probe
        if probe is None or child.proc is None:
            return
        run = child.probe_run
        if run is None:
            if now >= child.probe_due:
                child.probe_run = _ProbeRun(probe, self.env)
                child.probe_due = now + probe.period_s
            return
        if run.result is None:
            return
        child.probe_run = None
        alive, said = run.result
        if alive:
            child.probe_failures = 0
            return
        child.probe_failures += 1
        self.log(f"probe failed {child.spec.name} pid {child.proc.pid} "
                 f"({child.probe_failures}/{probe.failure_threshold}): {said}")
        if child.probe_failures >= probe.failure_threshold:
            child.liveness_kills += 1
            child.kill_due = now + LIVENESS_KILL_GRACE_S
            self.log(f"liveness kill {child.spec.name} pid {child.proc.pid} after "
                     f"{child.probe_failures} failed probes (liveness kill "
                     f"#{child.liveness_kills})")
            _signal_group(child.proc.pid, signal.SIGTERM)
            self._write_state()

    # ------------------------------------------------------------------ stopping

    def _shutdown(self) -> None:
        self.log("supervisor stopping: children in reverse start order")
        for child in reversed(self._children):
            child.start_due = None  # nothing is started again
            proc = child.proc
            if proc is None:
                continue
            _signal_group(proc.pid, signal.SIGTERM)
            try:
                code = proc.wait(self.stop_timeout_s)
            except subprocess.TimeoutExpired:
                self.log(f"{child.spec.name} pid {proc.pid} ignored SIGTERM for "
                         f"{self.stop_timeout_s:.0f}s: SIGKILL")
                _signal_group(proc.pid, signal.SIGKILL)
                code = proc.wait()
            _signal_group(proc.pid, signal.SIGKILL)
            child.proc = None
            child.last_exit = {"code": code, "at": time.time()}
            self.log(f"stopped {child.spec.name} pid {proc.pid} {describe_exit(code)}")
            self._write_state()
        for child in self._children:  # a probe command must not outlive us
            for run in [*child.stale_probes, *([child.probe_run] if child.probe_run else [])]:
                run.join(15.0)
        self._write_state()
        self.log("supervisor stopped")

    # ------------------------------------------------------------------ state

    def state(self) -> dict[str, Any]:
        """What services.json holds (pid is null while a service is down)."""
        return {
            "supervisor_pid": os.getpid(),
            "services": {
                c.spec.name: {
                    "pid": c.proc.pid if c.proc is not None else None,
                    "restarts": c.restarts,
                    "liveness_kills": c.liveness_kills,
                    "started_at": c.started_at,
                    "last_exit": c.last_exit,
                }
                for c in self._children
            },
        }

    def _write_state(self) -> None:
        # Temp file + os.replace: readers (tests, the chaos harness) never see a partial file.
        scratch = self.state_path.with_name(f"{self.state_path.name}.{os.getpid()}.tmp")
        scratch.write_text(json.dumps(self.state(), indent=2))
        os.replace(scratch, self.state_path)


def describe_exit(code: int) -> str:
    """'code 3' or 'signal SIGKILL' for a Popen returncode."""
    if code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"code {code}"


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    """Signal a child's whole process group (its pid: each child leads its own session)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):  # already gone
        os.killpg(pgid, sig)


def read_state(path: Path) -> dict[str, Any] | None:
    """services.json, or None when no supervisor has written one yet."""
    try:
        data: dict[str, Any] = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    return data


def stop_leftovers(path: Path, timeout: float = 10.0) -> list[int]:
    """Stop children a dead supervisor left behind (it was SIGKILLed); return their pids.

    A pid counts as ours only if it still leads its own process group and was created when
    services.json says the service started, so a recycled pid is never touched.
    """
    state = read_state(path)
    if state is None:
        return []
    found = []
    for entry in state.get("services", {}).values():
        pid, started = entry.get("pid"), entry.get("started_at")
        if pid is None or started is None:
            continue
        try:
            proc = psutil.Process(pid)
            ours = (os.getpgid(pid) == pid and abs(proc.create_time() - started) < 5.0
                    and proc.status() != psutil.STATUS_ZOMBIE)
        except (psutil.Error, ProcessLookupError):
            continue
        if ours:
            found.append(pid)
            _signal_group(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while found and time.monotonic() < deadline and any(_alive(p) for p in found):
        time.sleep(0.1)
    for pid in found:
        _signal_group(pid, signal.SIGKILL)
    return found


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False
