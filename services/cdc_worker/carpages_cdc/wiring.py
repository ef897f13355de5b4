"""How the worker's parts are connected: its MySQL connections, Valkey clients and the builder.

The one place that turns `WorkerSettings` into clients, so every client has bounded waits: a
server that stops answering fails the call (and the caller's retry loop takes over) instead of
wedging the process.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pymysql
from carpages_shared.dsn import mysql_params
from pymysql.constants import CLIENT

from carpages_cdc.cache import valkey_client
from carpages_cdc.cache.builder import CacheBuilder
from carpages_cdc.cache.mysql_pool import ConnectionPool
from carpages_cdc.settings import WorkerSettings

VALKEY_CONNECT_TIMEOUT_S = 2.0


def valkey(settings: WorkerSettings, timeout_s: float | None = None) -> Any:
    """A blocking Valkey client whose every call is bounded (`CDC_VALKEY_TIMEOUT_S` by default)."""
    return valkey_client.connect(settings.valkey_url, cluster=settings.valkey_cluster,
                                 socket_timeout=timeout_s or settings.valkey_timeout_s,
                                 socket_connect_timeout=VALKEY_CONNECT_TIMEOUT_S)


def mysql(settings: WorkerSettings) -> Callable[[], pymysql.connections.Connection[Any]]:
    """A connect() for the application database with bounded connect, read and write waits."""
    # read_timeout is generous: a full rebuild's batch read of 2,000 cars is one long answer.
    # Multi-statements: a batch's reads go in one round trip (car_rows.ConnectionQuery.many);
    # every statement the worker sends is fixed text with driver-escaped parameters.
    params = {"connect_timeout": 5, "read_timeout": 300, "write_timeout": 60,
              "client_flag": CLIENT.MULTI_STATEMENTS, **mysql_params(settings.mysql_url)}

    def connect() -> pymysql.connections.Connection[Any]:
        return pymysql.connect(**params)

    return connect


def make_builder(settings: WorkerSettings, batch_size: int | None = None) -> CacheBuilder:
    """A builder on pooled MySQL connections and a bounded Valkey client; close() it."""
    return CacheBuilder(ConnectionPool(mysql(settings)), valkey(settings),
                        batch_size=batch_size or settings.build_batch_size)
