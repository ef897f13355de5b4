"""Command line of the worker: arguments and logging, then hand over to the role's `run`."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

import pymysql
import valkey
from carpages_shared.dsn import mysql_params

from carpages_cdc.builder import CacheBuilder
from carpages_cdc.settings import WorkerSettings


def make_builder(settings: WorkerSettings) -> CacheBuilder:
    """A builder wired to the configured MySQL and Valkey."""
    params = mysql_params(settings.mysql_url)

    def connect() -> pymysql.connections.Connection[Any]:
        return pymysql.connect(**params)

    client = valkey.Valkey.from_url(settings.valkey_url)
    return CacheBuilder(connect, client, batch_size=settings.build_batch_size)


def rebuild(settings: WorkerSettings, args: argparse.Namespace) -> int:
    """Full rebuild into a new generation, then switch."""
    builder = make_builder(settings)
    stats = builder.full_rebuild()
    print(f"rebuild: build {stats.build}: {stats.cars_written} live cars, "
          f"{stats.buyers_written} buyers, {stats.cars_removed} removed, "
          f"{stats.statements} SQL statements, {stats.seconds:.2f}s")
    builder.client.close()
    return 0


COMMANDS = {"rebuild": rebuild}


def main(argv: list[str] | None = None) -> int:
    """Entry point of `cdc_worker`."""
    parser = argparse.ArgumentParser(prog="cdc_worker", description="carpages CDC worker")
    parser.add_argument("command", choices=sorted(COMMANDS))
    parser.add_argument("--log-level", default="INFO")
    args, _rest = parser.parse_known_args(argv)
    logging.basicConfig(level=args.log_level,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s", stream=sys.stderr)
    settings = WorkerSettings()  # type: ignore[call-arg]  # values come from the environment
    return COMMANDS[args.command](settings, args)
