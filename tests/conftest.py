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

from carpages_local import stack
from carpages_local.migrator import migrate

_db_counter = itertools.count(1)


@pytest.fixture(scope="session")
def stack_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[stack.StackEnv]:
    """MariaDB + Valkey + Tansu for the whole session."""
    root = Path(tmp_path_factory.mktemp("stack"))
    with stack.servers_only(root) as env:
        yield env


def root_conn(env: stack.StackEnv, database: str | None = None) -> pymysql.connections.Connection[Any]:
    """A super-user connection (DDL, PURGE, FLUSH) to the test MariaDB."""
    return pymysql.connect(host="127.0.0.1", port=env.mysql_port, user="root",
                           password="root-local", database=database, autocommit=True)


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


@pytest.fixture
def mysql_db(stack_env: stack.StackEnv) -> Iterator[str]:
    """Name of a freshly migrated, empty database, dropped after the test."""
    name = new_database(stack_env)
    yield name
    drop_database(stack_env, name)


@pytest.fixture
def mysql_conn(stack_env: stack.StackEnv, mysql_db: str) -> Iterator[pymysql.connections.Connection[Any]]:
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
