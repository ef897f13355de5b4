"""Command line of the worker: arguments, logging and settings, then the role's `run`.

    cdc_worker publish                    binlog -> Kafka (one active replica, others standby)
    cdc_worker apply                      Kafka -> cache
    cdc_worker bootstrap [--force]        first snapshot / re-snapshot (position, build, checkpoint)
    cdc_worker rebuild                    full rebuild of the cache into a new generation
    cdc_worker reconcile [--repair] [--sample F]
    cdc_worker check --role apply|publish liveness probe (exit code)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import sys
import threading
import time
import uuid

import pymysql
import valkey
from carpages_shared import logs
from carpages_shared.progress import Progress

from carpages_cdc import bootstrap, liveness, wiring
from carpages_cdc.cache.builder import NoBuild
from carpages_cdc.publish import binlog_server
from carpages_cdc.publish.cdc_store import CdcStore
from carpages_cdc.settings import WorkerSettings
from carpages_cdc.wiring import make_builder

log = logging.getLogger("carpages_cdc")


def rebuild(settings: WorkerSettings, args: argparse.Namespace) -> int:
    """Full rebuild into a new generation, then switch."""
    builder = make_builder(settings)
    try:
        position = bootstrap.position_if_readable(settings.cdc_url())
        with Progress("rebuild", "cars") as progress:
            stats = bootstrap.full_rebuild(builder, position, progress=progress)
    finally:
        builder.close()
    print(f"rebuild: build {stats.build}: {stats.cars_written} live cars, "
          f"{stats.buyers_written} buyers, {stats.cars_removed} removed, "
          f"{stats.statements} SQL statements, {stats.seconds:.2f}s at {position or '?'}")
    return 0


def bootstrap_cmd(settings: WorkerSettings, args: argparse.Namespace) -> int:
    """Snapshot if there is no checkpoint (or with --force); else build an empty cache."""
    owner = f"bootstrap:{settings.instance}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
    store = CdcStore(settings.cdc_url(), settings.name, owner)
    builder = make_builder(settings)
    try:
        store.create_tables()
        saved = store.load()
        if saved is not None and not args.force:
            stats = bootstrap.ensure_cache(builder, settings.cdc_url())
            print(f"bootstrap: checkpoint {saved} kept; {bootstrap.describe(stats)}")
            return 0
        deadline = time.monotonic() + settings.lease_ttl_s * 2
        held, holder = store.try_acquire(settings.lease_ttl_s)
        while not held and time.monotonic() < deadline:
            time.sleep(settings.lease_ttl_s / 3)
            held, holder = store.try_acquire(settings.lease_ttl_s)
        if not held:
            print(f"bootstrap: publisher {holder} holds the lease; stop it first (a publisher "
                  "without a checkpoint snapshots by itself)", file=sys.stderr)
            return 1
        done = threading.Event()

        def renew() -> None:  # a full build can outlast the lease
            while not done.wait(settings.lease_ttl_s / 3):
                with contextlib.suppress(pymysql.err.Error):
                    store.try_acquire(settings.lease_ttl_s)

        renewer = threading.Thread(target=renew, daemon=True)
        renewer.start()
        try:
            checkpoint = bootstrap.snapshot(store, settings.cdc_url(),
                                            builder if settings.bootstrap_build else None)
        finally:
            done.set()
            renewer.join()
            store.release()
        print(f"bootstrap: checkpoint {checkpoint} saved, cache built")
        return 0
    finally:
        builder.close()
        store.close()


def publish(settings: WorkerSettings, args: argparse.Namespace) -> int:
    """Run the publisher until SIGTERM."""
    from carpages_cdc.publish import role as publish_role

    return asyncio.run(publish_role.run(settings))


def apply(settings: WorkerSettings, args: argparse.Namespace) -> int:
    """Run the applier until SIGTERM."""
    from carpages_cdc.apply import role as apply_role

    return asyncio.run(apply_role.run(settings))


def reconcile_cmd(settings: WorkerSettings, args: argparse.Namespace) -> int:
    """Compare the cache with MySQL; exit 1 when anything diverges."""
    from carpages_cdc.audit import reconcile

    builder = make_builder(settings)
    try:
        with Progress("reconcile", "cars") as progress:
            report = reconcile.reconcile(builder, sample=args.sample, repair=args.repair,
                                         recheck_s=args.recheck, progress=progress)
    except NoBuild as exc:
        print(f"reconcile: {exc}", file=sys.stderr)
        return 2
    finally:
        builder.close()
    print(f"reconcile: {report.summary()}")
    for car_id, reasons in sorted(report.divergent.items())[:20]:
        print(f"  car {car_id}: {', '.join(reasons)}")
    for buyer_id, reasons in sorted(report.buyers_divergent.items())[:20]:
        print(f"  buyer {buyer_id}: {', '.join(reasons)}")
    for key, car_id in report.stray_members[:20]:
        print(f"  stray: car {car_id} in {key}")
    return 0 if report.in_step else 1


def check(settings: WorkerSettings, args: argparse.Namespace) -> int:
    """Liveness probe: 0 when the role's heartbeat is fresh (the local file when this runs
    beside the worker, else the Valkey key)."""
    local = liveness.check_file(settings.heartbeat_dir, args.role, settings.instance,
                                args.max_age)
    if local is not None:
        alive, description = local
    else:
        client = wiring.valkey(settings, timeout_s=3)
        try:
            alive, description = liveness.check(client, args.role, settings.instance,
                                                args.max_age)
        except valkey.exceptions.ValkeyError as exc:
            alive, description = False, f"valkey unavailable: {exc}"
        finally:
            client.close()
    print(("alive: " if alive else "NOT alive: ") + description)
    return 0 if alive else 1


COMMANDS = {"publish": publish, "apply": apply, "bootstrap": bootstrap_cmd, "rebuild": rebuild,
            "reconcile": reconcile_cmd, "check": check}


def parser() -> argparse.ArgumentParser:
    """The argument parser (settings come from the environment, see carpages_cdc.settings)."""
    p = argparse.ArgumentParser(prog="cdc_worker", description="carpages CDC worker")
    p.add_argument("command", choices=sorted(COMMANDS))
    p.add_argument("--log-level", default=os.environ.get("CDC_LOG_LEVEL", "INFO"))
    p.add_argument("--force", action="store_true", help="bootstrap: re-snapshot")
    p.add_argument("--repair", action="store_true", help="reconcile: fix what diverges")
    p.add_argument("--sample", type=float, default=1.0, help="reconcile: fraction of cars")
    p.add_argument("--recheck", type=float, default=2.0,
                   help="reconcile: seconds before re-checking a difference")
    p.add_argument("--role", choices=["apply", "publish"], help="check: which role")
    p.add_argument("--max-age", type=float, default=30.0, help="check: oldest heartbeat")
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of `cdc_worker`."""
    args = parser().parse_args(argv)
    logs.configure(args.log_level)
    logging.getLogger("aiokafka").setLevel(max(logging.WARNING, log.getEffectiveLevel()))
    if args.command == "check" and not args.role:
        print("check needs --role apply|publish", file=sys.stderr)
        return 2
    if not 0 < args.sample <= 1:
        print("--sample must be in (0, 1]", file=sys.stderr)
        return 2
    settings = WorkerSettings()  # type: ignore[call-arg]  # values come from the environment
    try:
        return COMMANDS[args.command](settings, args)
    except binlog_server.BinlogMisconfigured as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
