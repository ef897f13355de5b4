"""Full-rebuild timing at 10k and 100k cars against a running local stack, with optional
phase timing, a cProfile of the 100k build and a canonical dump of what a build wrote.

    python -m bench.rebuild_timing --root .stack --sizes 10k 100k --repeat 2
    python -m bench.rebuild_timing --root .stack --sizes 100k --profile /tmp/rebuild.prof
    python -m bench.rebuild_timing --root .stack --sizes 10k --dump /tmp/cache-10k.txt

The dump lets two builds (before and after a builder change) be compared byte for byte: every
key with its type, TTL presence and full content, the build number replaced by a placeholder
(a new build takes a new number), the slug-map token blanked (random per build) and the Valkey
run id blanked (each server has its own).
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pymysql
import valkey
from carpages_cdc.cache import builder as builder_module
from carpages_cdc.cache import bulk_pipeline
from carpages_cdc.cache import writer as cache_writer
from carpages_cdc.cache.builder import CacheBuilder
from carpages_local import servers, stack
from carpages_shared import car_rows
from carpages_shared.dsn import mysql_params

from bench.scale import big_catalogue

SIZES = {"10k": 10_000, "100k": 100_000}


class Phases:
    """Wall time spent inside a few functions, per thread (reads run in a helper thread)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self._lock = threading.Lock()

    def wrap(self, owner: Any, name: str, label: str) -> Callable[[], None]:
        original = getattr(owner, name)

        @functools.wraps(original)
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                with self._lock:
                    self.seconds[label] += time.perf_counter() - started

        setattr(owner, name, timed)
        return lambda: setattr(owner, name, original)


@contextmanager
def phase_timing(phases: Phases) -> Iterator[None]:
    """MySQL reads (helper thread), assembly and Valkey round trips of the rebuild."""
    undo = [
        phases.wrap(car_rows, "load_cars", "mysql load_cars (read-ahead thread)"),
        phases.wrap(car_rows, "load_buyers", "mysql load_buyers (read-ahead thread)"),
        phases.wrap(cache_writer, "write_new_generation", "python write_new_generation"),
        phases.wrap(cache_writer, "write_buyer", "python write_buyer"),
        phases.wrap(bulk_pipeline.BulkPipeline, "execute", "valkey bulk execute"),
        phases.wrap(CacheBuilder, "_retire", "retire/switch"),
        phases.wrap(CacheBuilder, "build_slugs", "slugs"),
    ]
    try:
        yield
    finally:
        for restore in reversed(undo):
            restore()


def rebuild_once(root: Path, mysql: dict[str, Any], name: str, profile: Path | None,
                 dump: Path | None, phases: Phases | None) -> float:
    """One full rebuild into a fresh empty Valkey; its seconds (as BuildStats reports them)."""
    server = servers.start_valkey(root / f"valkey-rt-{name}")
    try:
        client = valkey.Valkey.from_url(f"valkey://127.0.0.1:{server.port}/0")
        builder = CacheBuilder(lambda: pymysql.connect(**mysql), client)
        profiler = cProfile.Profile() if profile else None
        with phase_timing(phases) if phases else _nothing():
            if profiler:
                profiler.enable()
            stats = builder.full_rebuild()
            if profiler:
                profiler.disable()
        if profiler and profile:
            profiler.dump_stats(str(profile))
        if dump:
            write_dump(client, stats.build, dump)
        client.close()
        return stats.seconds
    finally:
        server.stop()


@contextmanager
def _nothing() -> Iterator[None]:
    yield


def write_dump(client: valkey.Valkey, build: int, path: Path) -> None:
    """Every key of the Valkey, sorted, with its full content (see the module docstring)."""
    tag = f"b{build}".encode()
    lines: list[bytes] = []
    for key in sorted(client.scan_iter(count=10_000)):
        kind = client.type(key).decode()
        ttl = "ttl" if client.ttl(key) >= 0 else "persist"
        content: Any
        if kind == "string":
            content = [client.get(key)]
        elif kind == "hash":
            content = sorted(client.hgetall(key).items())
        elif kind == "set":
            content = sorted(client.smembers(key))
        elif kind == "zset":
            content = client.zrange(key, 0, -1, withscores=True)
        else:
            content = [f"<{kind}>".encode()]
        if key == builder_module.keys.meta().encode():
            content = [(f, b"<token>" if f == b"slugs" else b"<build>" if f == b"build" else v)
                       for f, v in content]
        if key == builder_module.keys.build_counter().encode():
            content = [b"<counter>"]
        if key == builder_module.keys.valkey_run().encode():
            content = [b"<run id>"]  # the Valkey server's own run id: new with every server
        lines.append(key.replace(tag, b"b<BUILD>") + f" {kind} {ttl}".encode())
        for item in content:
            lines.append(b"  " + repr(item).encode().replace(tag, b"b<BUILD>"))
    path.write_bytes(b"\n".join(lines) + b"\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.rebuild_timing", description=__doc__)
    parser.add_argument("--root", type=Path, default=Path(".stack"))
    parser.add_argument("--sizes", nargs="+", choices=sorted(SIZES), default=["10k", "100k"])
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--profile", type=Path, help="cProfile the (last) 100k build to here")
    parser.add_argument("--dump", type=Path, help="dump the (last) 10k build's keys to here")
    parser.add_argument("--phases", action="store_true", help="time MySQL/Python/Valkey parts")
    args = parser.parse_args(argv)
    root = args.root.resolve()
    env = stack.load_env(root)
    urls = {"10k": env.variables()["MYSQL_URL"]}
    if "100k" in args.sizes:
        urls["100k"] = big_catalogue(env, SIZES["100k"])
    for size in args.sizes:
        for run in range(args.repeat):
            last = run == args.repeat - 1
            phases = Phases() if args.phases else None
            seconds = rebuild_once(
                root, mysql_params(urls[size]), size,
                args.profile if last and size == "100k" else None,
                args.dump if last and size == "10k" else None, phases)
            print(f"{size} run {run + 1}: rebuild {seconds:.2f} s", flush=True)
            if phases:
                for label, spent in sorted(phases.seconds.items()):
                    print(f"    {label:40s} {spent:7.2f} s", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
