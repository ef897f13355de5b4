"""`python -m bench.cdc_apply_ab --ref REV`: this checkout's CDC applier against an earlier
revision's, on one stack, alternating, over the same one-transaction bulk price change.

A `make bench` run measures the applier once, minutes away from any other run: on a shared
two-core machine its drift is larger than most changes to the applier. Here one stack (MariaDB,
Valkey, the broker, this checkout's publisher) serves both appliers; each round runs every side
once, alternating which goes first, and only one applier runs at a time. They share the consumer
group and the Valkey database: the side that starts resumes at the offsets the previous one
committed when it stopped (SIGTERM finishes and commits the batch in hand), so each starts with
no backlog. Per run: the change-to-visible time (every page in Valkey shows the new price:
bench.freshness), the applier's sustained cars/s and CPU seconds per 1,000 rows
(bench.cdc_throughput). `--profile SIDE` records one extra run of SIDE under py-spy (collapsed
stacks of whichever thread holds the GIL: where its CPU goes) and prints the top functions.

`--identity` first checks that both appliers leave byte-identical caches: the bootstrap
cache is copied into a second Valkey database, each side applies the same changes (a bulk price
change, a lookup rename reaching many cars, cars leaving and coming back, child rows, buyers'
rows) into its own database from its own consumer group, and every key of the two databases is
compared, type and value (see `dump`).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import io
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import psutil
import pymysql
import valkey
from carpages_local import servers, stack
from carpages_shared import keys
from carpages_shared.dsn import mysql_params

from bench import cdc_throughput, freshness

ROOT = Path(".stack-applier-ab")
SOURCES = ("services/cdc_worker", "shared")
"""What the old applier imports from its own revision (everything else comes from the venv)."""
HERE = Path(__file__).resolve().parent.parent
NEW_PATH = [HERE / "services/cdc_worker", HERE / "shared"]
READY_S = 90.0


@contextlib.contextmanager
def sources(ref: str) -> Iterator[dict[str, list[Path]]]:
    """PYTHONPATH entries of each side: "new" (this checkout) and "old" (`ref`, unpacked)."""
    with tempfile.TemporaryDirectory(prefix="carpages-applier-ab-") as tmp:
        archive = subprocess.run(["git", "archive", "--format=tar", ref, *SOURCES], check=True,
                                 capture_output=True, cwd=HERE).stdout
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(tmp, filter="data")
        yield {"new": NEW_PATH, "old": [Path(tmp) / s for s in SOURCES]}


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


@contextlib.contextmanager
def role(command: str, path: list[Path], env: Mapping[str, str], log: Path,
         extra: Mapping[str, str] | None = None) -> Iterator[tuple[str, int]]:
    """`python -m carpages_cdc COMMAND` from `path` until the block ends; (metrics URL, pid)."""
    port = servers.free_port()
    child = {**env, **(extra or {}), "CDC_METRICS_PORT": str(port),
             "PYTHONPATH": os.pathsep.join(str(p) for p in path)}
    url = f"http://127.0.0.1:{port}/metrics"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "carpages_cdc", command], env=child,
                                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                cwd=tempfile.gettempdir())
    try:
        deadline = time.monotonic() + READY_S
        while not _answers(url):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{command} did not come up; see {log}")
            time.sleep(0.2)
        yield url, proc.pid
    finally:
        servers.stop_pid(proc.pid, timeout=30)


def one_change_visible(mysql: dict[str, Any], valkey_url: str, car_id: int,
                       timeout_s: float = 60) -> None:
    """Change one car's price and wait until its page shows it (the applier is consuming)."""
    conn = pymysql.connect(autocommit=True, **mysql)
    try:
        with conn.cursor() as cur:
            cur.execute("UPDATE car SET price = price + 1 WHERE id = %s", (car_id,))
            cur.execute("SELECT price FROM car WHERE id = %s", (car_id,))
            price = int(cur.fetchone()[0])
    finally:
        conn.close()
    shows_price(valkey_url, car_id, price, timeout_s)


def shows_price(valkey_url: str, car_id: int, price: int, timeout_s: float) -> None:
    """Wait until the car's page in `valkey_url` shows `price`."""
    client = valkey.Valkey.from_url(valkey_url)
    try:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            raw = client.get(keys.dedicated_page(car_id))
            if raw is not None and json.loads(raw)["price"] == price:
                return
            time.sleep(0.05)
    finally:
        client.close()
    raise RuntimeError(f"car {car_id} did not show price {price} within {timeout_s:.0f} s "
                       f"in {valkey_url}")


def live_ids(mysql: dict[str, Any]) -> list[int]:
    conn = pymysql.connect(**mysql)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT id FROM car WHERE status = 'live' ORDER BY id")
            return [int(r[0]) for r in cur.fetchall()]
    finally:
        conn.close()


def bulk_run(metrics_url: str, pid: int, publisher: tuple[str, int], mysql: dict[str, Any],
             valkey_url: str, cars: int) -> dict[str, Any]:
    """One bulk price change with both roles sampled: visible seconds, applier rates."""
    marks: list[float] = []
    server = valkey.Valkey.from_url(valkey_url)
    stats_before = server.info("commandstats")
    before = _cpu_by_process()
    urls = {"publisher": publisher[0], "applier": metrics_url}
    pids = {"publisher": publisher[1], "applier": pid}
    with cdc_throughput.sampling(urls, pids) as sampler:
        visible = asyncio.run(freshness.bulk_price_change(valkey_url, mysql,
                                                          on_commit=marks.append))
        if not sampler.wait_for(cars, timeout_s=120):
            print("  not every row was counted within 120 s", flush=True)
    after = _cpu_by_process()
    got = cdc_throughput.summarise(sampler, marks[0])
    names = {pid: "applier", publisher[1]: "publisher"}
    spent: collections.Counter[str] = collections.Counter()
    for p, (name, cpu) in after.items():
        spent[names.get(p, name)] += cpu - before.get(p, (name, 0.0))[1]
    print("    CPU-s by process: " + ", ".join(f"{k} {v:.2f}" for k, v in spent.most_common(8)
                                              if v > 0.05), flush=True)
    stats_after = server.info("commandstats")
    server.close()
    usec = {name.removeprefix("cmdstat_"): got["usec"] - stats_before.get(name, {}).get("usec", 0)
            for name, got in stats_after.items()}
    print("    Valkey CPU-ms by command: " + ", ".join(
        f"{k} {v / 1000:.0f}" for k, v in sorted(usec.items(), key=lambda kv: -kv[1])[:6]),
        flush=True)
    applied, built = got.get("applied") or {}, got.get("cars") or {}
    return {"visible_s": round(visible, 3), "rows_per_s": applied.get("rows_per_s"),
            "cpu_s_per_1k": applied.get("cpu_s_per_1k"), "cars_per_s": built.get("rows_per_s"),
            "cpu_s": applied.get("cpu_s")}


def _cpu_by_process() -> dict[int, tuple[str, float]]:
    """pid -> (name, CPU seconds so far) of every process (where the machine's CPU went)."""
    out = {}
    for proc in psutil.process_iter(["name", "cpu_times"]):
        times = proc.info["cpu_times"]
        if times is not None:
            out[proc.pid] = (str(proc.info["name"]), times.user + times.system)
    return out


# ---------------------------------------------------------------------- profile
def profiled(pid: int, out: Path) -> subprocess.Popen[bytes]:
    """py-spy sampling whichever thread of `pid` holds the GIL (where its CPU goes), as
    collapsed stacks into `out`."""
    spy = Path(sys.executable).parent / "py-spy"
    return subprocess.Popen([str(spy), "record", "--pid", str(pid), "--rate", "200", "--gil",
                             "--threads", "--format", "raw", "--output", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def summarise_profile(raw: Path, top: int = 45) -> str:
    """Share of the samples per thread, and per function including what it calls."""
    threads: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack_text, _, count_text = line.rpartition(" ")
        if not stack_text:
            continue
        frames, n = stack_text.split(";"), int(count_text)
        total += n
        # "thread (tid): name_3" -> "name" (pool threads are numbered)
        threads[re.sub(r"[_-]\d+$", "", frames[0].partition(": ")[2])] += n
        for name in {re.sub(r":\d+\)$", ")", f) for f in frames[1:]}:
            inclusive[name] += n
    lines = [f"{total} samples"]
    lines += [f"  thread {n / total:6.1%} {name}" for name, n in threads.most_common()]
    lines += [f"  {n / total:6.1%} {name}" for name, n in inclusive.most_common(top)]
    return "\n".join(lines)


# ---------------------------------------------------------------------- identity
def dump(client: valkey.Valkey) -> dict[bytes, tuple[bytes, Any]]:
    """Every key of the database: (type, canonical value); order-free types are sorted."""
    out: dict[bytes, tuple[bytes, Any]] = {}
    for key in client.scan_iter(count=1000):
        kind = client.type(key)
        value: Any
        if kind == b"string":
            value = client.get(key)
        elif kind == b"hash":
            value = sorted(client.hgetall(key).items())
        elif kind == b"set":
            value = sorted(client.smembers(key))
        elif kind == b"zset":
            value = client.zrange(key, 0, -1, withscores=True)
        elif kind == b"list":
            value = client.lrange(key, 0, -1)
        else:
            continue  # gone between SCAN and TYPE
        out[key] = (kind, value)
    return out


VOLATILE = (b"{cdc}:heartbeat:", b"{cdc}:offsets:")
"""Keys that name a process, a moment or a consumer group, not the cache (each side beats and
commits on its own)."""


COUNTER = (keys.meta().encode(), b"version")
"""The listing's query-cache version moves once per builder batch that changed the index, and
batches follow the broker's fetches: two runs of the same code differ there too."""


def _without_counter(key: bytes, value: tuple[bytes, Any] | None) -> tuple[bytes, Any] | None:
    if key != COUNTER[0] or value is None:
        return value
    return value[0], [(f, v) for f, v in value[1] if f != COUNTER[1]]


def compare(a: dict[bytes, tuple[bytes, Any]], b: dict[bytes, tuple[bytes, Any]]) -> list[str]:
    """The keys whose type or value differ (volatile keys and the version counter aside)."""
    diffs = []
    for key in sorted(a.keys() | b.keys()):
        if any(key.startswith(v) for v in VOLATILE):
            continue
        if _without_counter(key, a.get(key)) != _without_counter(key, b.get(key)):
            diffs.append(f"{key!r}: {str(a.get(key))[:200]} != {str(b.get(key))[:200]}")
    return diffs


MIXED_CHANGES = (
    "UPDATE car SET price = price + 1000 WHERE status = 'live'",
    "UPDATE make SET name = CONCAT(name, ' x') WHERE id IN (SELECT make_id FROM model WHERE id = "
    "(SELECT MIN(id) FROM model))",
    "UPDATE car SET status = 'sold' WHERE status = 'live' AND id % 97 = 0",
    "UPDATE car SET km_driven = km_driven + 7, color_id = (SELECT MIN(id) FROM color) "
    "WHERE status = 'live' AND id % 13 = 0",
    "DELETE FROM car_feature WHERE car_id % 11 = 0",
    "DELETE FROM car_image WHERE car_id % 17 = 0 AND position > 1",
    "UPDATE car SET status = 'live' WHERE status = 'sold' AND id % 194 = 0",
    "UPDATE buyer SET paid_until = NULL WHERE id % 5 = 0",
)


def identity(paths: dict[str, list[Path]], child_env: dict[str, str], mysql: dict[str, Any],
             valkey_url: str, logs: Path) -> list[str]:
    """Both appliers apply MIXED_CHANGES into their own database; the keys that differ."""
    base = valkey.Valkey.from_url(valkey_url)
    for key in list(base.scan_iter(count=1000)):
        base.copy(key, key, destination_db=1, replace=True)
    url = {"new": valkey_url, "old": valkey_url.rsplit("/", 1)[0] + "/1"}
    with contextlib.ExitStack() as running:
        for side in ("new", "old"):
            running.enter_context(role(
                "apply", paths[side], child_env, logs / f"apply-identity-{side}.log",
                {"CDC_VALKEY_URL": url[side], "CDC_GROUP_ID": f"identity-{side}",
                 "CDC_INSTANCE": f"identity-{side}",
                 "CDC_HEARTBEAT_DIR": str(logs.parent / f"beats-identity-{side}")}))
        conn = pymysql.connect(autocommit=True, **mysql)
        try:
            with conn.cursor() as cur:
                for sql in MIXED_CHANGES:
                    cur.execute(sql)
                # The last change: once both pages show it, both sides applied everything.
                cur.execute("SELECT MIN(id) FROM car WHERE status = 'live'")
                last = int(cur.fetchone()[0])
                cur.execute("UPDATE car SET price = price + 1 WHERE id = %s", (last,))
                cur.execute("SELECT price FROM car WHERE id = %s", (last,))
                price = int(cur.fetchone()[0])
        finally:
            conn.close()
        for side in ("new", "old"):
            shows_price(url[side], last, price, timeout_s=180)
        _settled(url)
    dumps = {side: dump(valkey.Valkey.from_url(u)) for side, u in url.items()}
    print(f"  identity: {len(dumps['new'])} keys (new), {len(dumps['old'])} keys (old); "
          f"meta: {dumps['new'].get(COUNTER[0])} (new), {dumps['old'].get(COUNTER[0])} (old)",
          flush=True)
    return compare(dumps["new"], dumps["old"])


def _settled(url: dict[str, str], quiet_s: float = 3.0, timeout_s: float = 120) -> None:
    """Until neither database's car tokens moved for `quiet_s` (both appliers are done)."""
    clients = {s: valkey.Valkey.from_url(u) for s, u in url.items()}
    last: dict[str, list[bytes | None]] = {}
    still = time.monotonic()
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        now = {s: sorted(c.mget([k for k in c.scan_iter(match=keys.car_position("*"),
                                                        count=5000)]) or [],
                         key=lambda v: v or b"") for s, c in clients.items()}
        if now != last:
            last, still = now, time.monotonic()
        elif time.monotonic() - still >= quiet_s and now["new"] == now["old"]:
            return
        time.sleep(0.5)
    raise RuntimeError("the two appliers did not settle on the same tokens")


# ---------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.cdc_apply_ab")
    parser.add_argument("--ref", required=True, help="the earlier revision to compare with")
    parser.add_argument("--cars", type=int, default=10000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", choices=("new", "old"), action="append", default=[])
    parser.add_argument("--variant", action="append", default=[],
                        help="LABEL:K=V,K=V: also run this checkout's applier with these "
                             "environment variables (e.g. a setting's other value)")
    parser.add_argument("--identity", action="store_true",
                        help="first compare the caches both appliers leave")
    parser.add_argument("--out", type=Path, default=None, help="write the runs here (JSON)")
    args = parser.parse_args(argv)
    root = ROOT.resolve()
    stack.down(root)
    env = stack.up(root, cars=args.cars, with_services=False,
                   log=lambda m: print(f"  {m}", flush=True))
    try:
        variables = env.variables()
        child_env = stack.service_env(root, variables)
        child_env.pop("PYTHONPATH", None)
        subprocess.run([sys.executable, "-m", "carpages_cdc", "bootstrap"],
                       env={**child_env, "PYTHONPATH": os.pathsep.join(map(str, NEW_PATH))},
                       check=True, stdin=subprocess.DEVNULL)
        mysql = mysql_params(variables["MYSQL_URL"])
        valkey_url = variables["VALKEY_URL"]
        ids = live_ids(mysql)
        logs = root / "logs"
        with sources(args.ref) as paths, \
                role("publish", NEW_PATH, child_env, logs / "publish.log") as publisher:
            if args.identity:
                diffs = identity(paths, child_env, mysql, valkey_url, logs)
                print(f"  identity: {len(diffs)} keys differ", flush=True)
                for line in diffs[:40]:
                    print(f"    {line}", flush=True)
                if diffs:
                    return 1
            sides = {"new": ("new", {}), "old": ("old", {})}
            for spec in args.variant:
                label, _, assignments = spec.partition(":")
                sides[label] = ("new", dict(a.split("=", 1) for a in assignments.split(",")
                                            if a))
            runs: dict[str, list[dict[str, Any]]] = {side: [] for side in sides}
            for side in args.profile:
                with role("apply", paths[side], child_env, logs / f"apply-{side}.log") as (
                        url, pid):
                    one_change_visible(mysql, valkey_url, ids[0])
                    raw = root / f"profile-{side}.txt"
                    spy = profiled(pid, raw)
                    time.sleep(1.0)  # py-spy attaches
                    got = bulk_run(url, pid, publisher, mysql, valkey_url, len(ids))
                    spy.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
                    spy.wait(60)
                print(f"  profile {side}: {got}", flush=True)
                print(summarise_profile(raw), flush=True)
            for round_no in range(args.rounds):
                order = list(sides) if round_no % 2 == 0 else list(reversed(sides))
                for side in order:
                    code, extra = sides[side]
                    with role("apply", paths[code], child_env, logs / f"apply-{code}.log",
                              extra) as (url, pid):
                        one_change_visible(mysql, valkey_url, ids[0])
                        got = bulk_run(url, pid, publisher, mysql, valkey_url, len(ids))
                    runs[side].append(got)
                    print(f"  round {round_no + 1} {side}: {got}", flush=True)
        print(table(runs, args.ref))
        if args.out is not None:
            args.out.write_text(json.dumps({"ref": args.ref, "cars": len(ids), "runs": runs},
                                           indent=1))
    finally:
        stack.down(root)
    return 0


def table(runs: dict[str, list[dict[str, Any]]], ref: str) -> str:
    """Markdown: each figure's median per side, and each side over the old one."""
    others = [side for side in runs if side != "old"]
    lines = [f"| median of {len(runs['old'])} | `{ref}` | " + " | ".join(others) + " | "
             + " | ".join(f"{s} / old" for s in others) + " |",
             "|---|" + "---:|" * (1 + 2 * len(others))]
    for name in ("visible_s", "cars_per_s", "rows_per_s", "cpu_s_per_1k", "cpu_s"):
        med = {side: statistics.median(vals) for side, got in runs.items()
               if (vals := [r[name] for r in got if r.get(name) is not None])}
        if "old" not in med or any(s not in med for s in others):
            continue
        lines.append(f"| {name} | {med['old']:.3f} | "
                     + " | ".join(f"{med[s]:.3f}" for s in others) + " | "
                     + " | ".join(f"{med[s] / med['old']:.3f}" for s in others) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
