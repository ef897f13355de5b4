"""The builder's connection pool against real MariaDB: connections are reused, each use still
starts a fresh snapshot, and dead connections are replaced instead of lent again."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pymysql
import pytest
from carpages_cdc.cache import mysql_pool
from carpages_cdc.cache.mysql_pool import ConnectionPool
from carpages_local import stack
from carpages_shared.dsn import mysql_params

from tests.conftest import mysql_url, root_conn


def scalar(conn: Any, sql: str, *params: Any) -> Any:
    with conn.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchone()[0]


@pytest.fixture
def pool(stack_env: stack.StackEnv, mutable_seeded_db: str) -> Iterator[ConnectionPool]:
    params = mysql_params(mysql_url(stack_env, mutable_seeded_db))
    made = ConnectionPool(lambda: pymysql.connect(**params), keep=2)
    yield made
    made.close()


@pytest.fixture
def execute(stack_env: stack.StackEnv, mutable_seeded_db: str) -> Callable[..., None]:
    def run(sql: str, *params: Any) -> None:
        conn = stack.connect(stack_env.mysql_port, database=mutable_seeded_db, autocommit=True)
        try:
            with conn.cursor() as cur:
                cur.execute(sql, params)
        finally:
            conn.close()
    return run


def test_a_returned_connection_is_reused_and_sees_later_commits(
        pool: ConnectionPool, execute: Callable[..., None]) -> None:
    first = pool()
    server_id = scalar(first, "SELECT CONNECTION_ID()")
    car_id = scalar(first, "SELECT MIN(id) FROM car")
    price = scalar(first, "SELECT price FROM car WHERE id = %s", car_id)
    first.close()
    execute("UPDATE car SET price = %s WHERE id = %s", price + 1, car_id)
    again = pool()
    try:
        assert scalar(again, "SELECT CONNECTION_ID()") == server_id
        # A new lend is a new transaction: the commit made meanwhile is visible.
        assert scalar(again, "SELECT price FROM car WHERE id = %s", car_id) == price + 1
    finally:
        again.close()


def test_connections_lent_at_once_are_distinct(pool: ConnectionPool) -> None:
    a, b = pool(), pool()
    try:
        assert scalar(a, "SELECT CONNECTION_ID()") != scalar(b, "SELECT CONNECTION_ID()")
    finally:
        a.close()
        b.close()


def kill(stack_env: stack.StackEnv, server_id: int) -> None:
    admin = root_conn(stack_env)
    try:
        with admin.cursor() as cur:
            cur.execute(f"KILL CONNECTION {int(server_id)}")
    finally:
        admin.close()


def test_a_connection_that_failed_is_dropped(stack_env: stack.StackEnv,
                                             pool: ConnectionPool) -> None:
    lent = pool()
    dead = scalar(lent, "SELECT CONNECTION_ID()")
    kill(stack_env, dead)
    with pytest.raises(pymysql.err.OperationalError):
        scalar(lent, "SELECT 1")
    lent.close()  # its rollback fails: not kept
    fresh = pool()
    try:
        assert scalar(fresh, "SELECT CONNECTION_ID()") != dead
    finally:
        fresh.close()


def test_an_idle_connection_killed_by_the_server_is_replaced_before_lending(
        stack_env: stack.StackEnv, pool: ConnectionPool, monkeypatch: pytest.MonkeyPatch) -> None:
    lent = pool()
    dead = scalar(lent, "SELECT CONNECTION_ID()")
    lent.close()
    kill(stack_env, dead)
    monkeypatch.setattr(mysql_pool, "IDLE_PING_S", 0.0)  # treat it as idle for long
    fresh = pool()
    try:
        assert scalar(fresh, "SELECT CONNECTION_ID()") != dead
    finally:
        fresh.close()


def test_close_closes_idle_connections_and_later_returns(pool: ConnectionPool,
                                                         stack_env: stack.StackEnv) -> None:
    kept, out = pool(), pool()
    kept_id = scalar(kept, "SELECT CONNECTION_ID()")
    kept.close()
    pool.close()
    out.close()  # returned after close(): closed, not kept
    admin = root_conn(stack_env)
    try:
        # The server ends a session shortly after the client's QUIT: poll, bounded.
        deadline = time.monotonic() + 5
        while True:
            with admin.cursor() as cur:
                cur.execute("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = %s",
                            (kept_id,))
                alive = cur.fetchone()[0]
            if not alive or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert alive == 0
    finally:
        admin.close()
