"""The local stack behind `make up`, `make down` and `make run`: servers, schema, data, services.

State lives in `.stack/` (git-ignored): one directory per server, `pids.json` listing exactly what
was started, and `env` — a sourceable file with the addresses every service and test reads.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pymysql

from carpages_local import servers
from carpages_local.migrator import migrate


@dataclass
class StackEnv:
    """Addresses of a running stack, exported under the names the services read."""

    mysql_port: int
    valkey_port: int
    kafka_port: int
    api_port: int
    jwt_secret: str
    database: str = servers.APP_DB

    def variables(self) -> dict[str, str]:
        app = f"{servers.APP_USER}:{servers.APP_PASSWORD}"
        cdc = f"{servers.CDC_USER}:{servers.CDC_PASSWORD}"
        return {
            "MYSQL_URL": f"mysql://{app}@127.0.0.1:{self.mysql_port}/{self.database}",
            "MYSQL_CDC_URL": f"mysql://{cdc}@127.0.0.1:{self.mysql_port}/{self.database}",
            "MYSQL_ROOT_URL": f"mysql://root:root-local@127.0.0.1:{self.mysql_port}/{self.database}",
            "VALKEY_URL": f"valkey://127.0.0.1:{self.valkey_port}/0",
            "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{self.kafka_port}",
            "API_URL": f"http://127.0.0.1:{self.api_port}",
            "API_JWT_SECRET": self.jwt_secret,
        }


@dataclass
class Running:
    """Everything `up` started, in start order, so `down` stops it in reverse."""

    processes: list[servers.Server] = field(default_factory=list)

    def save(self, path: Path) -> None:
        path.write_text(json.dumps([asdict(p) for p in self.processes], indent=2))

    @classmethod
    def load(cls, path: Path) -> Running:
        if not path.exists():
            return cls()
        return cls([servers.Server(**p) for p in json.loads(path.read_text())])

    def stop(self) -> None:
        for proc in reversed(self.processes):
            proc.stop()
        self.processes.clear()


def connect(port: int, database: str = servers.APP_DB, user: str = servers.APP_USER,
            password: str = servers.APP_PASSWORD, **kw: Any) -> pymysql.connections.Connection[Any]:
    """A pymysql connection to the local MariaDB over loopback TCP."""
    return pymysql.connect(host="127.0.0.1", port=port, user=user, password=password,
                           database=database, charset="utf8mb4", **kw)


def prepare_database(mysql_port: int, cars: int, log: Any = print) -> None:
    """Apply migrations and load the demo catalogue if the database holds no cars yet."""
    from carpages_local.seeder import is_seeded, seed

    conn = connect(mysql_port)
    try:
        applied = migrate(conn)
        if applied:
            log(f"schema: applied migrations {applied}")
        if not is_seeded(conn):
            started = time.monotonic()
            counts = seed(conn, cars=cars)
            log(f"demo catalogue: {counts.get('car', 0)} cars loaded in "
                f"{time.monotonic() - started:.1f}s")
    finally:
        conn.close()


def service_commands(env: StackEnv) -> dict[str, list[str]]:
    """The product's own processes that `up` runs beside the servers."""
    py = sys.executable
    # The CDC roles first: the applier's consumer-group join overlaps the API's start-up.
    return {
        "cdc-publisher": [py, "-m", "carpages_cdc", "publish"],
        "cdc-applier": [py, "-m", "carpages_cdc", "apply"],
        "api": [py, "-m", "carpages_api", "--host", "127.0.0.1", "--port", str(env.api_port)],
    }


def trainer_command() -> list[str]:
    """One background training run when no model is published yet (the API hot-swaps it in)."""
    return [sys.executable, "-m", "carpages_reco", "train", "--if-missing"]


def _wait_http(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise servers.StackError(f"{url} server exited; see {log}")
        try:
            with urllib.request.urlopen(url, timeout=1) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise servers.StackError(f"{url} not ready after {timeout:.0f}s; see {log}")


def up(root: Path, cars: int = 10000, with_services: bool = True, log: Any = print) -> StackEnv:
    """Start the stack under `root` (idempotent: an already running stack is left as is)."""
    root.mkdir(parents=True, exist_ok=True)
    pids = root / "pids.json"
    if Running.load(pids).processes:
        raise servers.StackError(f"a stack is already running from {root}; `make down` first")
    running = Running()
    try:
        mysql = servers.start_mariadb(root / "mariadb")
        running.processes.append(mysql)
        running.save(pids)
        valkey = servers.start_valkey(root / "valkey")
        running.processes.append(valkey)
        running.save(pids)
        kafka = servers.start_tansu(root / "tansu")
        running.processes.append(kafka)
        running.save(pids)
        secret_file = root / "jwt_secret"
        if not secret_file.exists():
            secret_file.write_text(secrets.token_urlsafe(32))
        env = StackEnv(mysql.port, valkey.port, kafka.port, servers.free_port(),
                       secret_file.read_text().strip())
        write_env(root / "env", env)
        prepare_database(mysql.port, cars, log)
        if with_services:
            start_services(root, env, running, log)
        return env
    except BaseException:
        running.stop()
        pids.unlink(missing_ok=True)
        raise


def _wait_cdc_role(role: str, env: dict[str, str], proc: subprocess.Popen[bytes], log: Path,
                   timeout: float = 60) -> None:
    """Until the worker role's liveness probe (`cdc_worker check`) passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise servers.StackError(f"cdc {role} exited; see {log}")
        probe = subprocess.run([sys.executable, "-m", "carpages_cdc", "check", "--role", role],
                               env=env, capture_output=True, stdin=subprocess.DEVNULL,
                               check=False)
        if probe.returncode == 0:
            return
        time.sleep(0.5)
    raise servers.StackError(f"cdc {role} not alive after {timeout:.0f}s; see {log}")


def start_services(root: Path, env: StackEnv, running: Running, log: Any = print) -> None:
    """Snapshot the database into the cache, then run the CDC roles and the API.

    `cdc_worker bootstrap` records the binlog position, builds the cache and saves the
    publisher's checkpoint there (first run), or only rebuilds an empty cache (a restarted
    stack keeps MariaDB's data and the checkpoint, but Valkey starts empty). The publisher then
    streams from the checkpoint, so no change made after the snapshot is missed.
    """
    # Local binlogs expire after two days: re-snapshot rather than stop on an old checkpoint.
    child_env = {**os.environ, **env.variables(), "CDC_RESNAPSHOT_WHEN_PURGED": "true"}
    # The workers' liveness files live with the stack; a previous run's must not pass a probe.
    beats = root / "heartbeats"
    shutil.rmtree(beats, ignore_errors=True)
    beats.mkdir(parents=True)
    child_env["CDC_HEARTBEAT_DIR"] = str(beats)
    subprocess.run([sys.executable, "-m", "carpages_cdc", "bootstrap"], env=child_env,
                   check=True, stdin=subprocess.DEVNULL)
    for name, argv in service_commands(env).items():
        logfile = root / "logs" / f"{name}.log"
        logfile.parent.mkdir(parents=True, exist_ok=True)
        with logfile.open("ab") as out:
            proc = subprocess.Popen(argv, env=child_env, stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True)
        running.processes.append(servers.Server(name, proc.pid, 0))
        running.save(root / "pids.json")
        if name == "api":
            _wait_http(f"{env.variables()['API_URL']}/healthz", proc, logfile)
        elif name in ("cdc-publisher", "cdc-applier"):
            _wait_cdc_role("publish" if name == "cdc-publisher" else "apply", child_env, proc,
                           logfile)
    names = list(service_commands(env))
    if os.environ.get("CARPAGES_TRAIN_ON_UP", "1") != "0":
        logfile = root / "logs" / "reco-trainer.log"
        with logfile.open("ab") as out:
            proc = subprocess.Popen(trainer_command(), env=child_env, stdout=out,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    start_new_session=True)
        running.processes.append(servers.Server("reco-trainer", proc.pid, 0))
        running.save(root / "pids.json")
        names.append("reco-trainer (first model, in the background)")
    log("services: " + ", ".join(names))


def write_env(path: Path, env: StackEnv) -> None:
    """Write a file that shells (`. .stack/env`), tests and tools can source."""
    body = "".join(f"export {k}='{v}'\n" for k, v in env.variables().items())
    path.write_text(body)


def read_env(path: Path) -> dict[str, str]:
    """Parse a file written by write_env."""
    out = {}
    for line in path.read_text().splitlines():
        if line.startswith("export ") and "=" in line:
            key, _, value = line[len("export "):].partition("=")
            out[key] = value.strip("'")
    return out


def down(root: Path) -> int:
    """Stop exactly the processes recorded by `up`; return how many were stopped."""
    pids = root / "pids.json"
    running = Running.load(pids)
    count = len(running.processes)
    running.stop()
    pids.unlink(missing_ok=True)
    return count


@contextmanager
def servers_only(root: Path) -> Iterator[StackEnv]:
    """Start MariaDB, Valkey and Tansu (no data, no services) for tests; stop them after."""
    running = Running()
    try:
        mysql = servers.start_mariadb(root / "mariadb")
        running.processes.append(mysql)
        valkey = servers.start_valkey(root / "valkey")
        running.processes.append(valkey)
        kafka = servers.start_tansu(root / "tansu")
        running.processes.append(kafka)
        yield StackEnv(mysql.port, valkey.port, kafka.port, servers.free_port(),
                       secrets.token_urlsafe(32))
    finally:
        running.stop()
