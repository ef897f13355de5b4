"""The API on a real Valkey primary with read replicas.

Reads are spread over the replicas per request and writes (compositions, pins, fills) go to the
primary; a replica that lags — behind a version, behind a full rebuild, missing keys, or empty —
and a replica that is frozen or unreachable never change a response. Every response is compared
byte for byte (reco pins blanked) with what the primary alone serves from the same build.
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

import pymysql
import pytest
import valkey
from carpages_api.settings import ApiSettings
from carpages_cdc.cache.builder import CacheBuilder, chunks, current_build
from carpages_local import servers, stack
from carpages_shared import keys
from carpages_shared.dsn import mysql_params

from tests.conftest import mysql_url
from tests.integration.listing_support import SECRET, Api, full_build, serving
from tests.integration.scaleout_support import (
    Catalogue,
    Replicated,
    Request,
    fetch,
    read_calls,
    read_catalogue,
    reattach,
    replicated,
    request_mix,
    reset_stats,
)

Responses = dict[Request, list[tuple[int, bytes]]]
MAX_PASSES = 40
"""Bound on request passes while the builder runs (it normally finishes within a few)."""


@pytest.fixture(scope="module")
def group(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replicated]:
    with replicated(Path(tmp_path_factory.mktemp("replicas")), replicas=2) as running:
        yield running


@pytest.fixture(scope="module")
def db_url(stack_env: stack.StackEnv, seeded_db: str, group: Replicated) -> str:
    url_ = mysql_url(stack_env, seeded_db)
    full_build(url_, group.primary_url)
    group.synced()
    return url_


@pytest.fixture(scope="module")
def catalogue(db_url: str) -> Catalogue:
    return read_catalogue(db_url)


def api_settings(group: Replicated, db_url: str, replicas: list[str] | None = None,
                 timeout_s: float = 2.0) -> ApiSettings:
    """The app on `group`'s primary, reading from `replicas` (default: all of them)."""
    return ApiSettings(valkey_url=group.primary_url, mysql_url=db_url, jwt_secret=SECRET,
                       valkey_replica_urls=group.replica_urls if replicas is None else replicas,
                       valkey_timeout_s=timeout_s)


@pytest.fixture(scope="module")
async def expected(group: Replicated, db_url: str, catalogue: Catalogue) -> Responses:
    """Every response of the request mix as the primary alone serves it."""
    async with serving(api_settings(group, db_url, replicas=[])) as api:
        found = {request: await fetch(api, request) for request in request_mix(catalogue)}
    assert all(status == 200 for pages in found.values() for status, _ in pages)
    return found


def primary_client(group: Replicated) -> valkey.Valkey:
    return valkey.Valkey.from_url(group.primary_url)


def bump_version(client: valkey.Valkey) -> None:
    """Invalidate every cached query result, as an index change would."""
    client.hincrby(keys.meta(), "version", 1)


async def assert_mix(api: Api, expected: Responses) -> None:
    for request, pages in expected.items():
        assert await fetch(api, request) == pages, request


# ----------------------------------------------------------------------------- spreading
async def test_reads_spread_over_the_replicas_and_match_the_primary(
        group: Replicated, db_url: str, expected: Responses) -> None:
    client = primary_client(group)
    try:
        bump_version(client)  # every result misses: composed on the primary for a replica read
    finally:
        client.close()
    group.synced()
    async with serving(api_settings(group, db_url)) as api:
        await assert_mix(api, expected)
        group.synced()
        ports = [r.port for r in group.replicas]
        for port in [*ports, group.primary.port]:
            reset_stats(port)
        await assert_mix(api, expected)  # now cached, and replicated
        assert (await api.get("/readyz")).status_code == 200
    per_replica = [read_calls(port) for port in ports]
    assert all(calls > 0 for calls in per_replica), per_replica
    assert sum(per_replica) > read_calls(group.primary.port)


async def test_generation_follows_a_rebuild_through_a_replica(
        group: Replicated, db_url: str) -> None:
    async with serving(api_settings(group, db_url)) as api:
        generation = api.services.listing.generation
        full_build(db_url, group.primary_url)
        client = primary_client(group)
        try:
            switched = current_build(client)
        finally:
            client.close()
        # No request runs: only the subscription on the replica can bring the news.
        for _ in range(250):
            if generation.current == switched:
                break
            await asyncio.sleep(0.02)
        assert generation.current == switched


# ----------------------------------------------------------------------------- builder running
async def test_every_response_is_exact_while_the_builder_rewrites_the_primary(
        group: Replicated, db_url: str, catalogue: Catalogue, expected: Responses) -> None:
    params = mysql_params(db_url)
    finished = threading.Event()

    def build() -> None:
        client = primary_client(group)
        try:
            builder = CacheBuilder(lambda: pymysql.connect(**params), client, batch_size=300)
            builder.full_rebuild()
            for batch in chunks(catalogue.live, 250):
                # The same rows again: every page, card and set rewritten, no index change.
                assert not builder.build_cars(batch).index_changed
            builder.full_rebuild()
        finally:
            client.close()
            finished.set()

    async with serving(api_settings(group, db_url)) as api:
        ports = [r.port for r in group.replicas]
        for port in ports:
            reset_stats(port)
        job = asyncio.create_task(asyncio.to_thread(build))
        passes = 0
        while passes < MAX_PASSES and (passes == 0 or not finished.is_set()):
            await assert_mix(api, expected)
            passes += 1
        await job
        assert finished.is_set(), f"the builder outlasted {MAX_PASSES} passes"
        await assert_mix(api, expected)  # and after it, on the final build
    assert all(read_calls(port) > 0 for port in ports)


# ----------------------------------------------------------------------------- lag
def detach(port: int) -> valkey.Valkey:
    """Cut a replica off its primary (it keeps what it has and serves it): unbounded lag."""
    client = valkey.Valkey(port=port)
    client.execute_command("REPLICAOF", "NO", "ONE")
    return client


async def test_a_lagging_replica_never_changes_a_response(
        group: Replicated, db_url: str, catalogue: Catalogue, expected: Responses) -> None:
    lagging = group.replicas[0]
    settings = api_settings(group, db_url, replicas=[group.replica_urls[0]])
    async with serving(settings) as api:
        replica = detach(lagging.port)
        try:
            # Behind by a version: its results miss, are composed on the primary under the
            # replica's (build, version) and read back there (they never reach the replica).
            bump_version(replica)
            await assert_mix(api, expected)
            await assert_mix(api, expected)
            # Behind a full rebuild: the primary has switched builds, so the request is served
            # from the primary instead of composing the replica's build there.
            full_build(db_url, group.primary_url)
            bump_version(replica)
            await assert_mix(api, expected)
            # Missing pages (written after it fell behind) come from the primary, not MySQL.
            for car in catalogue.cars:
                replica.delete(keys.dedicated_page(car))
            fills = api.services.metrics.registry.get_sample_value("carpages_page_fills_total")
            await assert_mix(api, expected)
            assert api.services.metrics.registry.get_sample_value(
                "carpages_page_fills_total") == fills
            # Empty, as while a replica loads its first sync: everything from the primary.
            replica.flushall()
            await assert_mix(api, expected)
        finally:
            replica.close()
            reattach(group, lagging)


# ----------------------------------------------------------------------------- failures
async def test_a_frozen_or_unreachable_replica_costs_no_request(
        group: Replicated, db_url: str, expected: Responses) -> None:
    dead = f"valkey://127.0.0.1:{servers.free_port()}/0"  # nothing listens there
    frozen = group.replicas[1]
    settings = api_settings(group, db_url, replicas=[dead, group.replica_urls[1]],
                            timeout_s=0.5)
    async with serving(settings) as api:
        await assert_mix(api, expected)
        os.kill(frozen.pid, signal.SIGSTOP)
        try:
            await assert_mix(api, expected)  # both replicas rested: the primary answers
            assert (await api.get("/readyz")).status_code == 200
        finally:
            os.kill(frozen.pid, signal.SIGCONT)
        errors = {(s.labels["where"], s.labels["error"]): s.value
                  for family in api.services.metrics.registry.collect()
                  if family.name == "carpages_valkey_errors" for s in family.samples
                  if s.name.endswith("_total")}
        # Each failed replica was counted (then rested); no request was answered 503.
        assert errors.get(("replica", "ConnectionError"), 0) >= 1
        assert errors.get(("replica", "TimeoutError"), 0) >= 1
        assert not any(where == "request" for where, _ in errors)
    group.synced()
