"""Fixtures shared by the integration modules: the tiny catalogue, the listing modules'
module-scoped stack, and a cache on a standalone Valkey or a 3-node cluster (`cache_target`).

Each module that uses them gets its own private Valkey with a full build of the session's
read-only demo catalogue, an SQL oracle on that catalogue and a blocking client.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pymysql
import pytest
import valkey
from carpages_local import servers, stack
from carpages_shared.dsn import mysql_params

from tests.conftest import mysql_url
from tests.integration import tiny_catalogue as tiny
from tests.integration.cdc_support import CacheTarget
from tests.integration.listing_support import ListingOracle, Vocabulary, full_build
from tests.integration.scaleout_support import Cluster, cluster


@pytest.fixture
def tiny_db(stack_env: stack.StackEnv, mysql_db: str) -> str:
    """The tiny hand-written catalogue in a fresh database of its own."""
    conn = stack.connect(stack_env.mysql_port, database=mysql_db)
    try:
        tiny.load(conn)
    finally:
        conn.close()
    return mysql_db


@pytest.fixture(scope="session")
def cluster_nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """A 3-node Valkey Cluster for the session (started only if a test asks for it)."""
    with cluster(Path(tmp_path_factory.mktemp("session-cluster"))) as nodes:
        yield nodes


@pytest.fixture(params=["standalone", "cluster"])
def cache_target(request: pytest.FixtureRequest, valkey_url: str) -> CacheTarget:
    """The session's (flushed) Valkey, then the session's cluster, flushed: a test taking this
    runs on both, the cluster splitting every fenced write by slot."""
    if request.param == "standalone":
        return CacheTarget(valkey_url, cluster=False)
    nodes: Cluster = request.getfixturevalue("cluster_nodes")
    target = CacheTarget(nodes.url, cluster=True)
    target.flush()
    return target


@pytest.fixture(scope="module")
def listing_valkey(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A private Valkey for one test module."""
    server = servers.start_valkey(Path(tmp_path_factory.mktemp("listing-valkey")))
    try:
        yield f"valkey://127.0.0.1:{server.port}/0"
    finally:
        server.stop()


@pytest.fixture(scope="module")
def db_url(stack_env: stack.StackEnv, seeded_db: str, listing_valkey: str) -> str:
    """The demo catalogue's URL, after a full build of it into `listing_valkey`."""
    url_ = mysql_url(stack_env, seeded_db)
    full_build(url_, listing_valkey)
    return url_


@pytest.fixture(scope="module")
def oracle(db_url: str) -> Iterator[ListingOracle]:
    """The listing's SQL oracle on the demo catalogue."""
    conn = pymysql.connect(**mysql_params(db_url))
    yield ListingOracle(conn)
    conn.close()


@pytest.fixture(scope="module")
def vocab(oracle: ListingOracle) -> Vocabulary:
    """Filter values present in the demo catalogue."""
    return Vocabulary.read(oracle)


@pytest.fixture(scope="module")
def vk(listing_valkey: str) -> Iterator[valkey.Valkey]:
    """A blocking client on `listing_valkey`."""
    client = valkey.Valkey.from_url(listing_valkey)
    yield client
    client.close()
