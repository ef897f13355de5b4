"""The local stack behind `make up`, `make down` and `make run`: servers, schema, data, services.

State lives in `.stack/` (git-ignored): one directory per server, `pids.json` listing exactly what
was started, `env` — a sourceable file with the addresses every service and test reads — and
`services.json`, the supervisor's view of the services it keeps running (carpages_local.supervisor).
"""

from __future__ import annotations

import functools
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pymysql
import valkey
from carpages_shared.progress import Progress

from carpages_local import servers, supervisor, valkey_cluster
from carpages_local.migrator import migrate

SUPERVISOR = "supervisor"
SUPERVISOR_STOP_S = 3 * supervisor.STOP_TIMEOUT_S + 15
"""How long `down` lets the supervisor stop its children (each may take STOP_TIMEOUT_S)."""
SERVICES_UP_S = 180.0
"""How long `up` waits for every supervised service to answer its probe."""
VALKEY_MODES = ("standalone", "cluster")
"""`up --valkey` (default: $STACK_VALKEY, else standalone): one Valkey, or a 3-node cluster."""


@dataclass
class StackEnv:
    """Addresses of a running stack, exported under the names the services read."""

    mysql_port: int
    valkey_port: int
    kafka_port: int
    api_port: int
    jwt_secret: str
    database: str = servers.APP_DB
    publisher_metrics_port: int = 0
    """The CDC publisher's /metrics (0 = none), as CDC_METRICS_PORT serves it in a pod."""
    applier_metrics_port: int = 0
    valkey_cluster_ports: tuple[int, ...] = ()
    """Every node of a Valkey Cluster (valkey_port is one of them, the seed); empty: standalone."""

    @property
    def cluster(self) -> bool:
        return bool(self.valkey_cluster_ports)

    def variables(self) -> dict[str, str]:
        app = f"{servers.APP_USER}:{servers.APP_PASSWORD}"
        cdc = f"{servers.CDC_USER}:{servers.CDC_PASSWORD}"
        valkey_url = f"valkey://127.0.0.1:{self.valkey_port}/0"
        # A cluster has database 0 only; the API and the worker each have their own switch, and
        # VALKEY_CLUSTER_NODES lets tools (the chaos harness) find every node without asking one.
        cluster = {
            "API_VALKEY_URL": valkey_url, "API_VALKEY_CLUSTER": "true",
            "CDC_VALKEY_URL": valkey_url, "CDC_VALKEY_CLUSTER": "true",
            "VALKEY_CLUSTER_NODES": ",".join(f"127.0.0.1:{p}" for p in self.valkey_cluster_ports),
        } if self.cluster else {}
        return {
            "MYSQL_URL": f"mysql://{app}@127.0.0.1:{self.mysql_port}/{self.database}",
            "MYSQL_CDC_URL": f"mysql://{cdc}@127.0.0.1:{self.mysql_port}/{self.database}",
            "MYSQL_ROOT_URL": f"mysql://root:root-local@127.0.0.1:{self.mysql_port}/{self.database}",
            "VALKEY_URL": valkey_url,
            **cluster,
            "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{self.kafka_port}",
            "API_URL": f"http://127.0.0.1:{self.api_port}",
            "API_JWT_SECRET": self.jwt_secret,
            **{f"{role.upper()}_METRICS_URL": f"http://127.0.0.1:{port}/metrics"
               for role, port in (("publisher", self.publisher_metrics_port),
                                  ("applier", self.applier_metrics_port)) if port},
        }

    def metrics_ports(self) -> dict[str, int]:
        """Supervised CDC service name -> the port its /metrics is served on."""
        ports = {"cdc-publisher": self.publisher_metrics_port,
                 "cdc-applier": self.applier_metrics_port}
        return {name: port for name, port in ports.items() if port}


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
            if proc.name == SUPERVISOR:
                # It stops its children first; killing it early would orphan them.
                servers.stop_pid(proc.pid, timeout=SUPERVISOR_STOP_S)
            else:
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

    conn = connect(mysql_port, local_infile=True)  # the seeder loads files: several x faster
    try:
        applied = migrate(conn)
        if applied:
            log(f"schema: applied migrations {applied}")
        if not is_seeded(conn):
            started = time.monotonic()
            with Progress("seed", "rows") as progress:
                counts = seed(conn, cars=cars, progress=progress)
            log(f"demo catalogue: {counts.get('car', 0)} cars loaded in "
                f"{time.monotonic() - started:.1f}s")
    finally:
        conn.close()


def service_commands(env: StackEnv) -> dict[str, list[str]]:
    """The product's own processes that `up` runs beside the servers (under the supervisor)."""
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


def valkey_mode(mode: str | None = None) -> str:
    """The Valkey topology `up` starts: `mode`, else $STACK_VALKEY, else standalone."""
    chosen = mode or os.environ.get("STACK_VALKEY") or "standalone"
    if chosen not in VALKEY_MODES:
        raise servers.StackError(f"STACK_VALKEY={chosen!r}: expected one of {VALKEY_MODES}")
    return chosen


def up(root: Path, cars: int = 10000, with_services: bool = True, log: Any = print,
       topology: str | None = None) -> StackEnv:
    """Start the stack under `root` (idempotent: an already running stack is left as is).
    `topology`: Valkey "standalone" or "cluster" (default: valkey_mode())."""
    mode = valkey_mode(topology)
    root.mkdir(parents=True, exist_ok=True)
    pids = root / "pids.json"
    if Running.load(pids).processes:
        raise servers.StackError(f"a stack is already running from {root}; `make down` first")
    running = Running()
    try:
        mysql = servers.start_mariadb(root / "mariadb")
        running.processes.append(mysql)
        running.save(pids)
        nodes: list[servers.Server] = []
        if mode == "cluster":
            def record(node: servers.Server) -> None:
                nodes.append(node)
                running.processes.append(node)
                running.save(pids)
            valkey_cluster.start(root, on_start=record)
            valkey_port = nodes[0].port
        else:
            valkey_server = servers.start_valkey(root / "valkey")
            running.processes.append(valkey_server)
            running.save(pids)
            valkey_port = valkey_server.port
        kafka = servers.start_tansu(root / "tansu")
        running.processes.append(kafka)
        running.save(pids)
        secret_file = root / "jwt_secret"
        if not secret_file.exists():
            secret_file.write_text(secrets.token_urlsafe(32))
        env = StackEnv(mysql.port, valkey_port, kafka.port, servers.free_port(),
                       secret_file.read_text().strip(),
                       publisher_metrics_port=servers.free_port(),
                       applier_metrics_port=servers.free_port(),
                       valkey_cluster_ports=tuple(n.port for n in nodes))
        write_env(root / "env", env)
        prepare_database(mysql.port, cars, log)
        if with_services:
            start_services(root, env, running, log)
        return env
    except BaseException:
        running.stop()
        supervisor.stop_leftovers(root / supervisor.STATE_FILE)
        pids.unlink(missing_ok=True)
        raise


def cdc_probe(role: str) -> list[str]:
    """The CDC role's liveness probe (`cdc_worker check`), as Kubernetes runs it."""
    return [sys.executable, "-m", "carpages_cdc", "check", "--role", role]


CDC_ROLES = {"cdc-publisher": "publish", "cdc-applier": "apply"}
"""Supervised service name -> the CDC worker role it runs."""


def service_env(root: Path, variables: Mapping[str, str]) -> dict[str, str]:
    """The environment of the services and of their probes."""
    env = {**os.environ, **variables}
    # Local binlogs expire after two days: re-snapshot rather than stop on an old checkpoint.
    env["CDC_RESNAPSHOT_WHEN_PURGED"] = "true"
    # The workers' liveness files live with the stack, where `start_services` clears them.
    env["CDC_HEARTBEAT_DIR"] = str(root / "heartbeats")
    # One applier: it takes every partition without a consumer group, so a restarted applier
    # or broker resumes at once instead of after a rebalance (a user's own value wins).
    env.setdefault("CDC_PARTITIONS", "all")
    # And so one partition per topic: partitions are the appliers' parallelism, and an idle
    # applier's fetch (every 10 ms: the broker does not answer a waiting fetch when data
    # arrives) names each of them. 17 partitions instead of 51 halved that idle cost (broker
    # and applier 42% -> 21% of a core), which every other process on the machine shares.
    env.setdefault("CDC_TOPIC_PARTITIONS", "1")
    return env


def load_env(root: Path) -> StackEnv:
    """The StackEnv of a running stack, from the `env` file `up` wrote."""
    if not (root / "env").exists():
        raise servers.StackError(f"no {root / 'env'}: start the stack with `make up` first")
    variables = read_env(root / "env")
    mysql = urlsplit(variables["MYSQL_URL"])
    return StackEnv(
        mysql_port=mysql.port or 3306,
        valkey_port=urlsplit(variables["VALKEY_URL"]).port or 6379,
        kafka_port=int(variables["KAFKA_BOOTSTRAP_SERVERS"].rsplit(":", 1)[1]),
        api_port=urlsplit(variables["API_URL"]).port or 80,
        jwt_secret=variables["API_JWT_SECRET"],
        database=mysql.path.lstrip("/"),
        publisher_metrics_port=_port_of(variables.get("PUBLISHER_METRICS_URL")),
        applier_metrics_port=_port_of(variables.get("APPLIER_METRICS_URL")),
        valkey_cluster_ports=tuple(
            int(node.rsplit(":", 1)[1])
            for node in variables.get("VALKEY_CLUSTER_NODES", "").split(",") if node),
    )


def _port_of(url: str | None) -> int:
    return (urlsplit(url).port or 0) if url else 0


def forget_heartbeat(env: Mapping[str, str], role: str) -> None:
    """Delete a CDC role's heartbeat — the local file and the Valkey key the probe falls back
    to — so a restarted worker passes its probe on its own beats, never on its predecessor's."""
    from carpages_cdc import liveness

    # The same defaults as carpages_cdc.settings: the probe must look where the worker writes.
    instance = env.get("CDC_INSTANCE") or socket.gethostname()
    directory = env.get("CDC_HEARTBEAT_DIR") or tempfile.gettempdir()
    liveness.heartbeat_file(directory, role, instance).unlink(missing_ok=True)
    if env.get("CDC_VALKEY_URL") or env.get("VALKEY_URL"):
        client = valkey_client(env, socket_timeout=1, socket_connect_timeout=1)
        try:
            client.delete(liveness.heartbeat_key(role, instance))
        finally:
            client.close()


def valkey_client(env: Mapping[str, str], **options: Any) -> Any:
    """A blocking client of the stack's Valkey as the worker sees it (CDC_VALKEY_URL, else
    VALKEY_URL): a cluster client when CDC_VALKEY_CLUSTER says the URL is a cluster node."""
    url = env.get("CDC_VALKEY_URL") or env["VALKEY_URL"]
    if env.get("CDC_VALKEY_CLUSTER", "").lower() in ("1", "true", "yes", "on"):
        return valkey_cluster.client(url, **options)
    return valkey.Valkey.from_url(url, **options)


def supervised_services(env: StackEnv, child_env: Mapping[str, str]) -> list[supervisor.Service]:
    """The services `supervise` keeps running, with their Kubernetes-like liveness probes."""
    out = []
    for name, argv in service_commands(env).items():
        role = CDC_ROLES.get(name)
        if role is not None:
            # The grace covers a full rebuild the applier may run before its first beat.
            probe = supervisor.Probe(command=cdc_probe(role), grace_s=60, period_s=5,
                                     failure_threshold=3, timeout_s=10)
            port = env.metrics_ports().get(name)
            out.append(supervisor.Service(
                name, argv, probe,
                before_start=functools.partial(forget_heartbeat, child_env, role),
                env={"CDC_METRICS_PORT": str(port)} if port else {}))
        else:
            # /healthz, not /readyz: readiness follows Valkey, and a Valkey outage must not
            # restart the API (docs/operations.md, failure modes).
            probe = supervisor.Probe(url=f"{env.variables()['API_URL']}/healthz", grace_s=20,
                                     period_s=5, failure_threshold=3, timeout_s=2)
            out.append(supervisor.Service(name, argv, probe))
    return out


def supervise(root: Path, echo: Any = None) -> int:
    """Run the services under a Supervisor in the foreground until SIGTERM/SIGINT."""
    env = load_env(root)
    child_env = service_env(root, env.variables())
    return supervisor.Supervisor(supervised_services(env, child_env), root, child_env,
                                 echo=echo).run()


def _service_up(name: str, api_url: str, child_env: Mapping[str, str]) -> bool:
    role = CDC_ROLES.get(name)
    if role is not None:
        try:
            probe = subprocess.run(cdc_probe(role), env=dict(child_env), capture_output=True,
                                   stdin=subprocess.DEVNULL, check=False, timeout=30)
        except subprocess.TimeoutExpired:
            return False
        return probe.returncode == 0
    try:
        with urllib.request.urlopen(f"{api_url}/healthz", timeout=1) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


def _wait_supervised(root: Path, env: StackEnv, child_env: Mapping[str, str],
                     proc: subprocess.Popen[bytes], timeout: float = SERVICES_UP_S) -> None:
    """Until the API answers /healthz and both CDC roles pass their probe, each in the process
    services.json names (a probe passing for a process that then died proves nothing)."""
    logs = root / "logs"
    pending = list(service_commands(env))
    deadline = time.monotonic() + timeout
    while pending:
        if proc.poll() is not None:
            raise servers.StackError(f"the supervisor exited with {proc.returncode}; "
                                     f"see {logs / supervisor.LOG_FILE}")
        state = supervisor.read_state(root / supervisor.STATE_FILE)
        services = state["services"] if state else {}
        for name in list(pending):
            entry = services.get(name) or {}
            if entry.get("restarts", 0) >= 3:
                last = entry.get("last_exit") or {}
                raise servers.StackError(
                    f"{name} keeps exiting (restarted {entry['restarts']} times, last "
                    f"{supervisor.describe_exit(int(last.get('code', 0)))}); "
                    f"see {logs / (name + '.log')}")
            pid = entry.get("pid")
            if pid is None or not _service_up(name, env.variables()["API_URL"], child_env):
                continue
            again = supervisor.read_state(root / supervisor.STATE_FILE) or {}
            if again.get("services", {}).get(name, {}).get("pid") == pid:
                pending.remove(name)
        if pending and time.monotonic() > deadline:
            raise servers.StackError(
                f"{', '.join(pending)} not up after {timeout:.0f}s; see "
                + ", ".join(str(logs / f"{n}.log") for n in pending)
                + f" and {logs / supervisor.LOG_FILE}")
        if pending:
            time.sleep(0.5)


def start_services(root: Path, env: StackEnv, running: Running, log: Any = print) -> None:
    """Snapshot the database into the cache, then start the supervisor, which runs (and keeps
    running) the CDC roles and the API.

    `cdc_worker bootstrap` records the binlog position, builds the cache and saves the
    publisher's checkpoint there (first run), or only rebuilds an empty cache (a restarted
    stack keeps MariaDB's data and the checkpoint, but Valkey starts empty). The publisher then
    streams from the checkpoint, so no change made after the snapshot is missed.
    """
    child_env = service_env(root, env.variables())
    # A previous run's liveness files must not pass a probe.
    beats = Path(child_env["CDC_HEARTBEAT_DIR"])
    shutil.rmtree(beats, ignore_errors=True)
    beats.mkdir(parents=True)
    (root / supervisor.STATE_FILE).unlink(missing_ok=True)
    subprocess.run([sys.executable, "-m", "carpages_cdc", "bootstrap"], env=child_env,
                   check=True, stdin=subprocess.DEVNULL)
    logfile = root / "logs" / supervisor.LOG_FILE
    logfile.parent.mkdir(parents=True, exist_ok=True)
    with logfile.open("ab") as out:
        # Detached like the servers: it outlives `make up` and only `make down` stops it.
        proc = subprocess.Popen(
            [sys.executable, "-m", "carpages_local", "supervise", "--root", str(root)],
            env=child_env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True)
    running.processes.append(servers.Server(SUPERVISOR, proc.pid, 0))
    running.save(root / "pids.json")
    _wait_supervised(root, env, child_env, proc)
    names = [f"{SUPERVISOR} ({', '.join(service_commands(env))}, restarted when they exit)"]
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
    # Only if the supervisor died without stopping its children (it was SIGKILLed).
    count += len(supervisor.stop_leftovers(root / supervisor.STATE_FILE))
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
