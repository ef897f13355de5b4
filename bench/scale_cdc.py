"""Freshness and the bulk change at 100,000 live cars: a second CDC pipeline over the 100k build.

bench.scale builds the generated 100k-car catalogue (its own database in the stack's MariaDB)
into a private Valkey. This module runs the product's own publisher and applier over that pair,
beside the stack's pipeline: `python -m carpages_cdc publish|apply` with their own name (their
checkpoint, lease and binlog replica id), topic prefix and metrics ports, on the stack's broker.

The publisher starts without a build of its own (`CDC_BOOTSTRAP_BUILD=false`): its first start
records the binlog's current end as its checkpoint, and the cache it streams into is the build
bench.scale just made. That is exact here because nothing writes the 100k database between that
build and this start; a production first start builds after recording the position instead.

Measured, with the 100k API (bench.scale_http's) still serving: single-row freshness at 200 and
2,000 rows/s, then one transaction repricing every live car until every page shows it, with
both roles' counters and CPU sampled (bench.cdc_throughput), as the 10k figures are.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from carpages_local import servers, stack
from carpages_shared.dsn import mysql_params

from bench import cdc_throughput, freshness, server_process

NAME = "bench100k"
"""Pipeline name and topic prefix: nothing it keeps meets the stack's own pipeline."""

ROLES = {"publisher": "publish", "applier": "apply"}

READY_S = 60.0
"""A first change must be visible within this long after both roles answer."""


def _database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{database}"))


def role_env(root: Path, variables: Mapping[str, str], mysql_url: str, valkey_url: str,
             ports: Mapping[str, int]) -> dict[str, dict[str, str]]:
    """Each role's environment: the stack's, pointed at the 100k database and Valkey."""
    database = urlsplit(mysql_url).path.lstrip("/")
    base = stack.service_env(root, variables)
    common = {
        "CDC_MYSQL_URL": mysql_url,
        "CDC_MYSQL_CDC_URL": _database(variables["MYSQL_CDC_URL"], database),
        "CDC_VALKEY_URL": valkey_url,
        "CDC_NAME": NAME, "CDC_INSTANCE": NAME, "CDC_TOPIC_PREFIX": f"{NAME}.",
        "CDC_GROUP_ID": f"{NAME}-applier", "CDC_BOOTSTRAP_BUILD": "false",
        "CDC_HEARTBEAT_DIR": str(root / f"heartbeats-{NAME}"),
    }
    return {role: {**base, **common, "CDC_METRICS_PORT": str(ports[role])} for role in ROLES}


@contextlib.contextmanager
def running(root: Path, variables: Mapping[str, str], mysql_url: str,
            valkey_url: str) -> Iterator[tuple[dict[str, str], dict[str, int]]]:
    """Both roles over the 100k pair until the block ends; yield (metrics URLs, pids)."""
    ports = {role: servers.free_port() for role in ROLES}
    envs = role_env(root, variables, mysql_url, valkey_url, ports)
    urls = {role: f"http://127.0.0.1:{port}/metrics" for role, port in ports.items()}
    with contextlib.ExitStack() as procs:
        pids = {}
        for role, command in ROLES.items():
            proc = procs.enter_context(server_process.running(
                [sys.executable, "-m", "carpages_cdc", command], envs[role], urls[role],
                root / "logs" / f"cdc-{command}-{NAME}.log"))
            pids[role] = proc.pid
        yield urls, pids


async def _first_change(api_url: str, mysql: dict[str, Any], car_ids: list[int],
                        valkey_url: str) -> float:
    """Seconds until a first single-row change is visible (the pipeline is streaming)."""
    started = time.monotonic()
    while time.monotonic() - started < READY_S:
        got = await freshness.single_rows(api_url, mysql, car_ids, rate=10, samples=3,
                                          valkey_url=valkey_url)
        if got.missed == 0:
            return time.monotonic() - started
    raise RuntimeError(f"the {NAME} pipeline showed no change within {READY_S:.0f} s")


def measure(root: Path, variables: Mapping[str, str], api_url: str, mysql_url: str,
            valkey_url: str, car_ids: list[int], quick: bool) -> dict[str, Any]:
    """The 100k pipeline's figures (see the module docstring)."""
    started = time.monotonic()
    mysql = mysql_params(mysql_url)
    out: dict[str, Any] = {}
    with running(root, variables, mysql_url, valkey_url) as (urls, pids):
        out["ready_s"] = round(asyncio.run(_first_change(api_url, mysql, car_ids, valkey_url)),
                               2)
        for rate, samples in ((200, 200 if quick else 1000), (2000, 2000 if quick else 4000)):
            got = asyncio.run(freshness.single_rows(api_url, mysql, car_ids, rate=rate,
                                                    samples=samples, valkey_url=valkey_url))
            out[f"freshness_{rate}"] = asdict(got)
            print(f"  100k freshness at {got.rate_per_s:.0f} rows/s: p50 {got.p50_ms:.1f} ms, "
                  f"p99 {got.p99_ms:.1f} ms, {got.missed} missed", flush=True)
        timeline: list[tuple[float, int]] = []
        marks: list[float] = []
        with cdc_throughput.sampling(urls, pids) as sampler:
            visible = asyncio.run(freshness.bulk_price_change(
                valkey_url, mysql, limit_s=300, timeline=timeline, on_commit=marks.append))
            if not sampler.wait_for(len(car_ids), timeout_s=60):
                print(f"  {NAME}: not every row was counted within 60 s", flush=True)
        out["bulk_visible_s"] = round(visible, 2)
        out["bulk_timeline"] = timeline
        out["throughput"] = cdc_throughput.summarise(sampler, marks[0])
    out["elapsed_s"] = round(time.monotonic() - started, 1)
    print(f"  100k: {len(car_ids)} prices in one transaction visible in {visible:.2f} s; "
          f"part {out['elapsed_s']} s", flush=True)
    return out
