"""The faults, each injected while the writer runs, and when the system is whole again.

"Whole" = the thing killed or stopped is back: a server's port answers (MariaDB, Valkey, Tansu
restarted on the same port and datadir, and recorded in pids.json so `stack.down` stops it), a
service has a new live pid (the supervisor's, else the harness's respawn) that beats (CDC roles:
a fresh heartbeat file; the API: /healthz).

On a Valkey Cluster (the cluster variant, CLUSTER_KINDS) the Valkey faults hit ONE node: the one
that owns the `{cp}` slot (listing index, cards, cache metadata) or another one (pages of the cars
hashed there). With no replica to promote, the whole cluster refuses queries while that node is
out, so "whole" there also waits for cluster_state:ok on every node.
"""

from __future__ import annotations

import asyncio
import functools
import random
import signal
import socket
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import valkey
from carpages_local import servers, stack, valkey_cluster

from tests.chaos.probe import OutageStats, fetch, until_price, until_ready, watch_outage
from tests.chaos.processes import Processes, alive
from tests.chaos.writer import Writer

KINDS = ("kill-publisher", "kill-applier", "valkey-freeze", "valkey-restart", "flushall",
         "broker-restart", "mariadb-restart", "all")
"""In run order: the faults most likely to leave damage behind (MariaDB, all) come last."""
CLUSTER_KINDS = ("kill-publisher", "kill-applier", "cp-node-freeze", "cp-node-restart",
                 "other-node-freeze", "other-node-restart", "flushall", "broker-restart",
                 "mariadb-restart")
"""The cluster variant's faults: the standalone ones with the Valkey faults aimed at one node
(`cp-node-*`: the `{cp}` slot's owner; `other-node-*`: another node). No `all`: it would freeze and
restart the cluster's nodes at once, which is the standalone `all` again, at twice the cost."""
VALKEY_KINDS = ("valkey-freeze", "valkey-restart", "cp-node-freeze", "cp-node-restart",
                "other-node-freeze", "other-node-restart")
CLUSTER_WHOLE_S = 30.0
"""Longest wait for cluster_state:ok on every node after a node is back."""
FREEZE_S = 5.0
VALKEY_DOWN_S = 3.0
ROLE = {"cdc-publisher": "publish", "cdc-applier": "apply"}


@dataclass
class FaultRecord:
    """One injected fault: times are time.monotonic() values."""

    kind: str
    injected_at: float = 0.0
    whole_at: float | None = None
    valkey_back_at: float | None = None
    killed: dict[str, int] = field(default_factory=dict)  # what -> pid killed on purpose
    stopped: dict[str, int] = field(default_factory=dict)  # what -> pid frozen (SIGSTOP/CONT)
    back_s: dict[str, float | None] = field(default_factory=dict)  # what -> seconds to be back
    beating_s: dict[str, float | None] = field(default_factory=dict)  # CDC role's first beat
    pending: list[asyncio.Task[None]] = field(default_factory=list)
    outage: OutageStats | None = None
    ready_after_s: float | None = None
    outage_write: dict[str, Any] | None = None
    outage_write_seen: asyncio.Task[float | None] | None = None  # polled from valkey_back_at
    errors: list[str] = field(default_factory=list)


@dataclass
class FaultContext:
    root: Path
    procs: Processes
    variables: Mapping[str, str]
    """The stack's env (stack.StackEnv.variables): where Valkey is, and whether it is a cluster."""
    client: httpx.AsyncClient
    writer: Writer
    outage_paths: list[str]
    rng: random.Random


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.3)
        return sock.connect_ex(("127.0.0.1", port)) == 0


async def _until(check: Callable[[], bool] | Callable[[], Awaitable[bool]], limit_s: float,
                 every: float = 0.1) -> bool:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return True
        await asyncio.sleep(every)
    return False


async def kill_service(ctx: FaultContext, rec: FaultRecord, name: str) -> None:
    """kill -9 one service; back = a new live pid (a CDC role's first beat is timed apart)."""
    pid = ctx.procs.service_pid(name)
    if pid is None or not alive(pid):
        rec.errors.append(f"{name}: not running before the fault")
        return
    started = time.monotonic()
    ctx.procs.kill(pid, signal.SIGKILL)
    rec.killed[name] = pid

    def replaced() -> bool:
        ctx.procs.check()  # without a supervisor this respawns it
        new = ctx.procs.service_pid(name)
        return new is not None and new != pid and alive(new)
    if not await _until(replaced, 60):
        rec.back_s[name] = None
        rec.errors.append(f"{name}: no new process within 60 s")
        return
    rec.back_s[name] = time.monotonic() - started  # the supervisor shows a new live pid
    if name == "api":
        async def healthy() -> bool:
            return (await fetch(ctx.client, "/healthz", 1.0))[0] == 200
        if not await _until(healthy, 30):
            rec.errors.append("api: new process never answered /healthz")
        return
    beats = ctx.root / "heartbeats"

    def beating() -> bool:
        return any(p.stat().st_mtime > time.time() - (time.monotonic() - started)
                   for p in beats.glob(f"carpages-cdc-{ROLE[name]}-*.heartbeat"))

    async def until_beating() -> None:  # informational: does not hold up "whole"
        if await _until(beating, 60, 0.2):
            rec.beating_s[name] = round(time.monotonic() - started, 2)
        else:
            rec.beating_s[name] = None
    rec.pending.append(asyncio.create_task(until_beating()))


async def restart_server(ctx: FaultContext, rec: FaultRecord, name: str,
                         down_s: float = 0.0, before_start: Callable[[], None] | None = None
                         ) -> None:
    """kill -9 a server (its recorded object's pid), then start it on the same port and dir."""
    old = ctx.procs.server(name)
    started = time.monotonic()
    ctx.procs.kill(old.pid, signal.SIGKILL)
    rec.killed[name] = old.pid
    await _until(lambda: not alive(old.pid), 10, 0.05)
    # Whatever else start_* may have started with it (e.g. a storage server) goes too.
    await asyncio.to_thread(old.stop)
    if down_s:
        await asyncio.sleep(down_s)
    if before_start is not None:
        before_start()
    starts: dict[str, Callable[..., Any]] = {
        "mariadb": servers.start_mariadb, "valkey": servers.start_valkey,
        "tansu": servers.start_tansu}
    if valkey_cluster.is_node(name):
        # Same port, bus port and nodes.conf: the node rejoins with its slots (and no data).
        starts[name] = functools.partial(valkey_cluster.start_node, name=name)
    start = starts[name]
    new: Any = None
    for _attempt in range(3):
        try:
            new = await asyncio.to_thread(start, ctx.root / name, old.port)
            break
        except servers.StackError as exc:  # e.g. the port still held for a moment
            rec.errors.append(f"{name} restart: {str(exc).splitlines()[0]}")
            await asyncio.sleep(1.0)
    if new is None:
        rec.back_s[name] = None
        return
    ctx.procs.replace_server(old, new)
    ok = await _until(lambda: _port_open(old.port), 30) and await _cluster_whole(ctx, rec, name)
    rec.back_s[name] = time.monotonic() - started if ok else None


async def _cluster_whole(ctx: FaultContext, rec: FaultRecord, name: str) -> bool:
    """After a cluster node is back: until every node says cluster_state:ok (True at once for
    anything else)."""
    if not valkey_cluster.is_node(name):
        return True
    ports = ctx.procs.env.valkey_cluster_ports
    # In a thread: a node that does not answer blocks its probe for up to a second, and the event
    # loop meanwhile times the API's answers during the outage.
    if await _until(lambda: asyncio.to_thread(valkey_cluster.all_ok, ports), CLUSTER_WHOLE_S,
                    0.1):
        return True
    rec.errors.append(f"{name}: cluster_state not ok on every node within {CLUSTER_WHOLE_S:.0f} s")
    return False


def target_node(ctx: FaultContext, which: str) -> str:
    """The pids.json name of the cluster node a fault hits: the `{cp}` slot's owner ("cp"), or
    one of the others chosen by the round's rng ("other")."""
    ports = ctx.procs.env.valkey_cluster_ports
    cp = valkey_cluster.owner(ports[0], valkey_cluster.CP_TAG)
    nodes = [p for p in ctx.procs.running().processes if valkey_cluster.is_node(p.name)]
    if which == "cp":
        return next(p.name for p in nodes if p.port == cp)
    return ctx.rng.choice(sorted(p.name for p in nodes if p.port != cp))


async def freeze_valkey(ctx: FaultContext, rec: FaultRecord, name: str = "valkey") -> None:
    old = ctx.procs.server(name)
    started = time.monotonic()
    ctx.procs.kill(old.pid, signal.SIGSTOP)
    ctx.procs.killed.discard(old.pid)  # a stopped process is not an exit
    try:
        await asyncio.sleep(FREEZE_S)
    finally:
        ctx.procs.kill(old.pid, signal.SIGCONT)
        ctx.procs.killed.discard(old.pid)
    rec.stopped[name] = old.pid
    ok = await _cluster_whole(ctx, rec, name)
    rec.back_s[name] = time.monotonic() - started if ok else None


def flushall(ctx: FaultContext, rec: FaultRecord) -> None:
    # On a cluster the client sends FLUSHALL to every primary.
    client = stack.valkey_client(ctx.variables, socket_timeout=10)
    try:
        client.flushall()
        rec.back_s["flushall"] = 0.0
    except valkey.exceptions.ValkeyError as exc:
        rec.errors.append(f"FLUSHALL: {exc}")
    finally:
        client.close()


async def _outage_side(ctx: FaultContext, rec: FaultRecord, stop: asyncio.Event) -> None:
    """While Valkey is out: watch the API and make one write whose page is timed later."""
    rec.outage = OutageStats()
    watcher = asyncio.create_task(watch_outage(ctx.client, ctx.outage_paths, stop, rec.outage))
    await asyncio.sleep(1.0)
    for _ in range(10):  # a car the writer just took off the market does not commit
        car = ctx.writer.live[int(ctx.rng.random() * len(ctx.writer.live))]
        price = await asyncio.to_thread(ctx.writer.write_now, car)
        if price is not None:
            break
    rec.outage_write = {"car_id": car, "price": price, "written_at": time.monotonic()}
    await stop.wait()
    await watcher


async def inject(ctx: FaultContext, kind: str) -> FaultRecord:
    """Inject one fault kind and return once the system is whole again."""
    rec = FaultRecord(kind, injected_at=time.monotonic())
    valkey_out = asyncio.Event()
    side = (asyncio.create_task(_outage_side(ctx, rec, valkey_out))
            if kind in VALKEY_KINDS else None)
    try:
        if kind == "kill-publisher":
            await kill_service(ctx, rec, "cdc-publisher")
        elif kind == "kill-applier":
            await kill_service(ctx, rec, "cdc-applier")
        elif kind == "mariadb-restart":
            await restart_server(ctx, rec, "mariadb")
        elif kind == "valkey-freeze":
            await freeze_valkey(ctx, rec)
            valkey_out.set()
        elif kind == "valkey-restart":
            await restart_server(ctx, rec, "valkey", down_s=VALKEY_DOWN_S,
                                 before_start=valkey_out.set)
        elif kind in ("cp-node-freeze", "other-node-freeze"):
            await freeze_valkey(ctx, rec, target_node(ctx, kind.split("-", 1)[0]))
            valkey_out.set()
        elif kind in ("cp-node-restart", "other-node-restart"):
            await restart_server(ctx, rec, target_node(ctx, kind.split("-", 1)[0]),
                                 down_s=VALKEY_DOWN_S, before_start=valkey_out.set)
        elif kind == "flushall":
            flushall(ctx, rec)
        elif kind == "broker-restart":
            await restart_server(ctx, rec, "tansu")
        elif kind == "all":
            await _everything(ctx, rec)
        else:
            raise ValueError(f"unknown fault {kind}")
    finally:
        valkey_out.set()
        if side is not None:
            await side
    if kind in VALKEY_KINDS:
        rec.valkey_back_at = time.monotonic()
        written = rec.outage_write
        if written and written["price"] is not None:
            # Polled from the moment Valkey is back, beside the readiness poll (not after it).
            rec.outage_write_seen = asyncio.create_task(until_price(
                ctx.client, written["car_id"], written["price"], rec.valkey_back_at, 60))
        rec.ready_after_s = await until_ready(ctx.client, rec.valkey_back_at)
    rec.whole_at = time.monotonic() if all(v is not None for v in rec.back_s.values()) else None
    return rec


async def _everything(ctx: FaultContext, rec: FaultRecord) -> None:
    """All at once: both CDC roles, MariaDB and the broker killed while Valkey is frozen; then
    Valkey flushed, killed and restarted."""
    async def valkey_part() -> None:
        await freeze_valkey(ctx, rec)
        flushall(ctx, rec)
        await restart_server(ctx, rec, "valkey")
    await asyncio.gather(
        kill_service(ctx, rec, "cdc-publisher"), kill_service(ctx, rec, "cdc-applier"),
        restart_server(ctx, rec, "mariadb"), restart_server(ctx, rec, "tansu"), valkey_part())
