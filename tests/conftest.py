"""Session-wide real servers: a private MariaDB (binlog on), Valkey and Tansu on loopback ports.

They come from the same code as `make up` (carpages_local.servers), start once per session and
stop at its end. Tests that need isolation get their own database and Valkey db number.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pymysql
import pytest
import valkey
import valkey.asyncio
from carpages_local import servers, stack
from carpages_local.migrator import migrate

_db_counter = itertools.count(1)


@pytest.fixture(scope="session")
def stack_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[stack.StackEnv]:
    """MariaDB + Valkey + Tansu for the whole session."""
    root = Path(tmp_path_factory.mktemp("stack"))
    with stack.servers_only(root) as env:
        yield env


def root_conn(env: stack.StackEnv,
              database: str | None = None) -> pymysql.connections.Connection[Any]:
    """A super-user connection (DDL, PURGE, FLUSH) to the test MariaDB."""
    return pymysql.connect(host="127.0.0.1", port=env.mysql_port, user="root",
                           password="root-local", database=database, autocommit=True)


def binlog_end(env: stack.StackEnv) -> str:
    """The test MariaDB's current binlog position as `file:pos` (where a reader would start)."""
    admin = root_conn(env)
    try:
        with admin.cursor() as cur:
            cur.execute("SHOW MASTER STATUS")
            file, pos = cur.fetchone()[:2]
    finally:
        admin.close()
    return f"{file}:{pos}"


def new_database(env: stack.StackEnv) -> str:
    """Create and migrate a fresh, empty application database; return its name."""
    name = f"carpages_t{os.getpid()}_{next(_db_counter)}"
    admin = root_conn(env)
    with admin.cursor() as cur:
        cur.execute(f"CREATE DATABASE {name} CHARACTER SET utf8mb4")
    admin.close()
    conn = stack.connect(env.mysql_port, database=name)
    migrate(conn)
    conn.close()
    return name


def drop_database(env: stack.StackEnv, name: str) -> None:
    admin = root_conn(env)
    with admin.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {name}")
    admin.close()


SEEDED_CARS = 1500
"""Live cars in the session's shared, read-only demo database."""


def mysql_url(env: stack.StackEnv, database: str) -> str:
    """Application-user URL of a database on the test MariaDB."""
    return (f"mysql://{servers.APP_USER}:{servers.APP_PASSWORD}@127.0.0.1:{env.mysql_port}/"
            f"{database}")


def seeded_database(env: stack.StackEnv, cars: int) -> str:
    """Create, migrate and load a demo catalogue of `cars` live cars; return its name."""
    from carpages_local.seeder import seed

    name = new_database(env)
    conn = stack.connect(env.mysql_port, database=name)
    try:
        seed(conn, cars=cars)
    finally:
        conn.close()
    return name


@pytest.fixture(scope="session")
def seeded_db(stack_env: stack.StackEnv) -> Iterator[str]:
    """A demo catalogue of SEEDED_CARS live cars shared by the session. READ-ONLY: tests that
    write to MySQL use `mutable_seeded_db` instead."""
    name = seeded_database(stack_env, SEEDED_CARS)
    yield name
    drop_database(stack_env, name)


@pytest.fixture
def mutable_seeded_db(stack_env: stack.StackEnv) -> Iterator[str]:
    """A private demo catalogue of 300 live cars that the test may change; dropped after."""
    name = seeded_database(stack_env, 300)
    yield name
    drop_database(stack_env, name)


@pytest.fixture
def mysql_db(stack_env: stack.StackEnv) -> Iterator[str]:
    """Name of a freshly migrated, empty database, dropped after the test."""
    name = new_database(stack_env)
    yield name
    drop_database(stack_env, name)


@pytest.fixture
def mysql_conn(stack_env: stack.StackEnv,
               mysql_db: str) -> Iterator[pymysql.connections.Connection[Any]]:
    """A connection (autocommit off) to a freshly migrated, empty database."""
    conn = stack.connect(stack_env.mysql_port, database=mysql_db)
    yield conn
    conn.close()


@pytest.fixture
def valkey_url(stack_env: stack.StackEnv) -> Iterator[str]:
    """URL of the session Valkey, flushed before and after the test."""
    url = f"valkey://127.0.0.1:{stack_env.valkey_port}/0"
    client = valkey.Valkey.from_url(url)
    client.flushall()
    yield url
    client.flushall()
    client.close()


@pytest.fixture
def valkey_sync(valkey_url: str) -> Iterator[valkey.Valkey]:
    """A blocking Valkey client on a flushed server."""
    client = valkey.Valkey.from_url(valkey_url)
    yield client
    client.close()


@pytest.fixture
async def valkey_async(valkey_url: str) -> AsyncIterator[valkey.asyncio.Valkey]:
    """An asyncio Valkey client on a flushed server."""
    client = valkey.asyncio.Valkey.from_url(valkey_url)
    yield client
    await client.aclose()
