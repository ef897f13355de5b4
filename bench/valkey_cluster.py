"""Valkey Cluster against a standalone Valkey: the same API, the same catalogue, side by side.

`built` starts a 3-node cluster on loopback (primaries only, from the project's own valkey
binaries, by the scale-out tests' helper), builds the bench's catalogue into it with the worker's
builder (`carpages_cdc.cache.valkey_client.connect(url, cluster=True)` +
`CacheBuilder.full_rebuild`)
and copies the published reco model, so a listing ranks with the same model on both sides. The
API for the cluster is the same `python -m carpages_api` with `API_VALKEY_URL=<a node>` and
`API_VALKEY_CLUSTER=true`; bench.server_choice then runs each scenario on every side back to
back, alternating the order.

The dedicated page's L1 (process memory kept exact by client tracking) is off in cluster mode, so
a third side, the standalone API with `API_L1_CACHE=false`, splits the gap in two: what the L1
is worth, and what the cluster client itself costs with nothing else different.
"""

from __future__ import annotations

import importlib
import shutil
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pymysql
import valkey
from carpages_cdc.cache.builder import CacheBuilder
from carpages_cdc.cache.valkey_client import connect
from carpages_reco import store
from carpages_shared import keys
from carpages_shared import valkey_internals as internals

NODES = 3
SCENARIOS = ("dedicated anon", "listing broad reco")
"""The dedicated page (anonymous) and the broad listing, from the bench's HTTP plan."""

STANDALONE, NO_L1, CLUSTER = "standalone", "standalone, L1 off", "cluster"
"""The sides, in run order: the stack's API, a standalone API without the L1, the cluster's."""


def api_envs(node_url: str) -> dict[str, dict[str, str]]:
    """What each side's own API process sets beside the stack's variables (the standalone side
    is the stack's API itself): the L1 off, or the same API pointed at a seed node."""
    return {NO_L1: {"API_L1_CACHE": "false"},
            CLUSTER: {"API_VALKEY_URL": node_url, "API_VALKEY_CLUSTER": "true"}}


@contextmanager
def built(root: Path, mysql: Mapping[str, Any], standalone_url: str) -> Iterator[
        tuple[str, dict[str, Any]]]:
    """Start the cluster under `root`, build the catalogue of `mysql` into it and copy the reco
    model of `standalone_url`; yield (a seed node's URL, build figures). Nodes stop by pid."""
    # The scale-out tests' helper, not a copy of it. Imported here, by name: it brings the API
    # app and pytest along, which the report (it reads this module's side names) has no use
    # for, and mypy would follow it into test modules that `make lint` does not type-check.
    cluster = importlib.import_module("tests.integration.scaleout_support").cluster

    # A node refuses to join a new cluster while an earlier run's nodes.conf names another.
    shutil.rmtree(root, ignore_errors=True)
    with cluster(root, size=NODES) as nodes:
        client = connect(nodes.url, cluster=True)
        try:
            stats = CacheBuilder(lambda: pymysql.connect(**mysql), client).full_rebuild()
            # Every {reco} key lives in one slot: the owning node's plain client runs the MULTIs.
            model = copy_reco_model(standalone_url,
                                    internals.node_client(client, keys.reco_current()))
        finally:
            client.close()
        yield nodes.url, {"nodes": NODES, "cars": stats.cars_written,
                          "rebuild_s": round(stats.seconds, 3), "reco_model": model}


def copy_reco_model(source_url: str, target: Any) -> str | None:
    """Publish the standalone Valkey's current reco model on `target` (a plain client; on a
    cluster, the node owning the {reco} slot); its version, or None when there is none (QUICK
    runs: both sides rank by popularity). bench.scale_http copies it to the 100k build too."""
    source = valkey.Valkey.from_url(source_url)
    try:
        current = source.get(keys.reco_current())
        if current is None:
            return None
        version = str(current, "utf-8")
        fields = source.hgetall(keys.reco_model(version))
    finally:
        source.close()
    store.publish(target, version, fields, keep=1)
    return version
