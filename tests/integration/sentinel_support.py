"""A Sentinel-managed Valkey for the failover tests: primary, replica and three sentinels.

Every server is started by the test on loopback and stopped by pid. `lag_behind` makes the
replica miss a stretch of the primary's writes *for certain*, so a kill -9 of the primary right
after loses writes the primary had acknowledged: the replica is frozen (SIGSTOP) and a large
PUBLISH — propagated to replicas like any write, but leaving no key behind — fills the socket
buffers between them; whatever is written next waits in the primary's output buffer and dies
with it.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import valkey
from carpages_local import servers

from tests.integration.scaleout_support import info, link_up, wait_until

SERVICE = "carpages"
PADDING_BYTES = 48 << 20
"""More than loopback socket buffers hold (a few MB each way), far below the replica's output
buffer limit (256 MB hard, 64 MB for 60 s)."""


@dataclass
class SentinelGroup:
    """The servers of one test; `url` is what the services are given."""

    primary: servers.Server
    replica: servers.Server
    sentinels: list[servers.Server]

    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{s.port}" for s in self.sentinels)
        return f"valkey+sentinel://{hosts}/{SERVICE}/0"

    def named_primary(self) -> int | None:
        """The primary's port according to the first sentinel that answers."""
        for sentinel in self.sentinels:
            client = valkey.Valkey(port=sentinel.port, socket_timeout=1)
            try:
                found = client.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", SERVICE)
                return int(found[1]) if found else None
            except valkey.exceptions.ConnectionError:
                continue
            finally:
                client.close()
        return None


def _sentinels_know_the_replica(group: SentinelGroup) -> bool:
    for sentinel in group.sentinels:
        client = valkey.Valkey(port=sentinel.port, socket_timeout=1)
        try:
            replicas = client.execute_command("SENTINEL", "REPLICAS", SERVICE)
            peers = client.execute_command("SENTINEL", "SENTINELS", SERVICE)
        finally:
            client.close()
        if len(replicas) != 1 or len(peers) != len(group.sentinels) - 1:
            return False
    return True


@contextmanager
def sentinel_group(root: Path) -> Iterator[SentinelGroup]:
    """Start the group and wait until every sentinel knows the replica and its peers."""
    started: list[servers.Server] = []
    try:
        primary = servers.start_valkey(root / "primary")
        started.append(primary)
        replica = servers.start_valkey(
            root / "replica", extra=["--replicaof", "127.0.0.1", str(primary.port),
                                     "--repl-diskless-sync-delay", "0"])
        started.append(replica)
        wait_until(lambda: link_up(replica.port), "replica in sync")
        sentinels = [servers.start_valkey_sentinel(root / f"sentinel{i}", primary.port, SERVICE)
                     for i in range(3)]
        started.extend(sentinels)
        group = SentinelGroup(primary, replica, sentinels)
        wait_until(lambda: _sentinels_know_the_replica(group), "sentinels discovering", 30)
        yield group
    finally:
        for server in reversed(started):
            if server.pid:
                with_continue(server.pid)
            server.stop()


def with_continue(pid: int) -> None:
    """SIGCONT (a frozen server would ignore SIGTERM until the stop timeout)."""
    with suppress(ProcessLookupError):
        os.kill(pid, signal.SIGCONT)


def repl_offset(port: int) -> int:
    """`master_repl_offset` of one server."""
    client = valkey.Valkey(port=port, socket_timeout=5)
    try:
        return int(info(client, "replication")["master_repl_offset"])
    finally:
        client.close()


@contextmanager
def lag_behind(group: SentinelGroup) -> Iterator[int]:
    """Freeze the replica and wedge its link; yield the primary's replication offset after
    which the replica can receive nothing more. The replica is thawed on exit."""
    os.kill(group.replica.pid, signal.SIGSTOP)
    try:
        client = valkey.Valkey(port=group.primary.port, socket_timeout=10)
        try:
            client.publish("carpages-test-padding", b"x" * PADDING_BYTES)
        finally:
            client.close()
        yield repl_offset(group.primary.port)
    finally:
        with_continue(group.replica.pid)


def promoted_at(port: int) -> int:
    """The replication offset a promoted replica had reached when it was promoted."""
    client = valkey.Valkey(port=port, socket_timeout=5)
    try:
        found: dict[str, Any] = info(client, "replication")
    finally:
        client.close()
    assert found["role"] == "master", found
    return int(found["second_repl_offset"]) - 1


def kill_9(server: servers.Server) -> float:
    """SIGKILL a server; the monotonic time it happened."""
    os.kill(server.pid, signal.SIGKILL)
    return time.monotonic()
