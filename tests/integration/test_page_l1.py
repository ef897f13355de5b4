"""The dedicated page's in-process L1: exact under writes, resets and outages.

Valkey reports a change to the tracking connection before it answers the writer, and the API
applies every report it has received before using the L1. So the property tested throughout is
the strict one: once a writer has its reply, no response (from any request started afterwards)
shows the old value.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import valkey
import valkey.asyncio
from carpages_api.bootstrap import make_l1
from carpages_api.settings import ApiSettings
from carpages_local import servers, stack
from carpages_shared import keys

from tests.conftest import mysql_url
from tests.integration import tiny_catalogue as tiny
from tests.integration.l1_support import l1_of, wait_for_l1
from tests.integration.listing_support import SECRET, Api, full_build, serving, token
from tests.integration.scaleout_support import replicated

ROUNDS = 40
"""Write-then-read rounds per exactness test (bounded)."""


def bearer(buyer_id: int) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(buyer_id)}"}


@pytest.fixture
def settings(stack_env: stack.StackEnv, tiny_db: str, valkey_url: str) -> ApiSettings:
    db_url = mysql_url(stack_env, tiny_db)
    full_build(db_url, valkey_url)
    return ApiSettings(valkey_url=valkey_url, mysql_url=db_url, jwt_secret=SECRET,
                       l1_heartbeat_s=30)


@pytest.fixture
async def api(settings: ApiSettings) -> AsyncIterator[Api]:
    async with serving(settings) as running:
        await wait_for_l1(running.app)
        yield running


def with_price(page: bytes, price: int) -> bytes:
    """The cached page JSON with another price (a builder write, in miniature)."""
    return orjson.dumps({**orjson.loads(page), "price": price})


def command_calls(client: valkey.Valkey, *names: str) -> int:
    stats: dict[str, Any] = client.info("commandstats")
    return sum(int(stats.get(f"cmdstat_{name}", {}).get("calls", 0)) for name in names)


def l1_count(api: Api, outcome: str) -> float:
    value = api.services.metrics.registry.get_sample_value(
        "carpages_l1_lookups_total", {"outcome": outcome})
    return float(value or 0)


# ----------------------------------------------------------------------------- hits


async def test_cached_pages_are_served_without_reading_valkey(
        api: Api, valkey_sync: valkey.Valkey) -> None:
    first = await api.get("/listing/1/")
    buyer_first = await api.get("/listing/1/", headers=bearer(tiny.PAID))
    reads = command_calls(valkey_sync, "get", "scard", "hmget", "smembers", "hgetall", "pttl")
    for _ in range(10):
        again = await api.get("/listing/1/")
        assert (again.status_code, again.content) == (200, first.content)
        assert again.headers["etag"] == first.headers["etag"]
        assert again.headers["x-cache"] == "hit"
        buyer = await api.get("/listing/1/", headers=bearer(tiny.PAID))
        assert buyer.content == buyer_first.content
    assert command_calls(valkey_sync, "get", "scard", "hmget", "smembers", "hgetall",
                         "pttl") == reads
    assert l1_count(api, "hit") >= 20
    text = (await api.get("/metrics")).text
    assert 'carpages_http_request_seconds_count{method="GET",route="/listing/{car_id}/"' in text


async def test_l1_responses_equal_those_without_it(api: Api, settings: ApiSettings) -> None:
    requests: list[tuple[str, dict[str, str]]] = [
        ("/listing/1/", {}), ("/listing/1", {}), ("/listing/2/?seen_car_ids=2,3", {}),
        ("/listing/3/?seen_car_ids=1", {}), ("/listing/1/", {"If-None-Match": "*"}),
        ("/listing/1/", bearer(tiny.PAID)), ("/listing/1/", bearer(tiny.UNPAID)),
        ("/listing/2/", bearer(tiny.LAPSED)), ("/listing/3/", bearer(tiny.BYSTANDER)),
        ("/listing/1/", {"Authorization": "Bearer nope"}), ("/listing/0/", {}),
        (f"/listing/{tiny.SOLD}/", {}), ("/listing/1/?seen_car_ids=x", {}),
    ]

    async def responses(running: Api) -> list[tuple[int, list[tuple[str, str]], bytes]]:
        out = []
        for i, (path, headers) in enumerate(requests * 2):  # the second pass is from the L1
            # A fixed id per request: the API would otherwise mint a random one per response.
            resp = await running.get(path, headers={**headers, "X-Request-ID": f"l1-{i}"})
            out.append((resp.status_code, sorted(resp.headers.items()), resp.content))
        return out

    with_l1 = await responses(api)
    async with serving(settings.model_copy(update={"l1_cache": False})) as plain:
        assert plain.services.pages.l1 is None
        assert await responses(plain) == with_l1


# ----------------------------------------------------------------------------- exactness


async def test_every_write_is_visible_to_the_next_request(
        api: Api, valkey_sync: valkey.Valkey) -> None:
    page = valkey_sync.get(keys.dedicated_page(1))
    for n in range(ROUNDS):
        valkey_sync.set(keys.dedicated_page(1), with_price(page, 100_000 + n))
        body = (await api.get("/listing/1/")).json()
        assert body["price"] == 100_000 + n
        valkey_sync.sadd(keys.car_interested(1), 1000 + n)
        body = (await api.get("/listing/1/")).json()
        assert body["interested_people"] == len(tiny.CAR1_INTERESTED) + n + 1
        valkey_sync.hset(keys.car_private(1), "seller_mobile_no", f"+91{n}")
        paid = (await api.get("/listing/1/", headers=bearer(tiny.PAID))).json()
        assert paid["seller_mobile_no"] == f"+91{n}"
        valkey_sync.hset(keys.buyer_offers(tiny.PAID), "1", 300_000 + n)
        paid = (await api.get("/listing/1/", headers=bearer(tiny.PAID))).json()
        assert paid["offer_amount"] == 300_000 + n
    # Every car write but the very first (car 1 was not cached yet) dropped a cached snapshot.
    assert l1_of(api.app).cars.invalidations >= 3 * ROUNDS - 1


async def test_buyer_writes_are_visible_to_the_next_request(
        api: Api, valkey_sync: valkey.Valkey) -> None:
    for car in tiny.LIVE:
        assert (await api.get(f"/listing/{car}/", headers=bearer(tiny.BYSTANDER))).json()[
            "is_seen"] is False
        valkey_sync.sadd(keys.buyer_seen(tiny.BYSTANDER), car)
        valkey_sync.sadd(keys.buyer_test_drives(tiny.BYSTANDER), car)
        body = (await api.get(f"/listing/{car}/", headers=bearer(tiny.BYSTANDER))).json()
        assert (body["is_seen"], body["test_drive_booked"]) == (True, True)
    valkey_sync.set(keys.buyer_paid_until(tiny.BYSTANDER), 4_102_444_800)
    body = (await api.get("/listing/1/", headers=bearer(tiny.BYSTANDER))).json()
    assert body["seller_mobile_no"] == tiny.MOBILE[1]
    valkey_sync.delete(keys.buyer_paid_until(tiny.BYSTANDER))
    body = (await api.get("/listing/1/", headers=bearer(tiny.BYSTANDER))).json()
    assert body["seller_mobile_no"] is None


async def test_concurrent_reads_never_go_back_behind_an_acknowledged_write(
        api: Api, valkey_url: str, valkey_sync: valkey.Valkey) -> None:
    """Fills race with writes here: a fill that read the old page must not store it."""
    page = valkey_sync.get(keys.dedicated_page(2))
    writer = valkey.asyncio.Valkey.from_url(valkey_url)
    acknowledged = 0
    stale: list[tuple[int, int]] = []

    async def write() -> None:
        nonlocal acknowledged
        for version in range(1, ROUNDS * 5 + 1):
            await writer.set(keys.dedicated_page(2), with_price(page, version))
            acknowledged = version
            await asyncio.sleep(0)

    async def read() -> None:
        while acknowledged < ROUNDS * 5:
            floor = acknowledged
            price = (await api.get("/listing/2/")).json()["price"]
            if price < floor:
                stale.append((price, floor))
            await asyncio.sleep(0)  # an L1 hit never suspends: let the writer run

    try:
        await asyncio.gather(write(), *(read() for _ in range(8)))
    finally:
        await writer.aclose()
    assert stale == []
    assert (await api.get("/listing/2/")).json()["price"] == ROUNDS * 5


async def test_flushall_empties_the_l1(api: Api, valkey_sync: valkey.Valkey) -> None:
    assert (await api.get("/listing/1/")).headers["x-cache"] == "hit"
    resets = l1_of(api.app).resets
    valkey_sync.flushall()
    again = await api.get("/listing/1/")
    # Refilled from MySQL, not served from memory.
    assert (again.status_code, again.headers["x-cache"]) == (200, "miss")
    assert l1_of(api.app).resets > resets


async def test_a_page_with_a_ttl_leaves_the_l1_when_it_expires(
        api: Api, valkey_sync: valkey.Valkey) -> None:
    page = valkey_sync.get(keys.dedicated_page(3))
    valkey_sync.set(keys.dedicated_page(3), with_price(page, 1), px=300)
    assert (await api.get("/listing/3/")).json()["price"] == 1
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while (resp := await api.get("/listing/3/")).json()["price"] == 1:
        assert loop.time() < deadline, "the expired page was still served"
        await asyncio.sleep(0.05)
    assert resp.headers["x-cache"] == "miss"  # filled again from MySQL


# ----------------------------------------------------------------------------- outages


@pytest.fixture
def own_valkey(tmp_path: Path) -> Iterator[tuple[str, servers.Server, Path]]:
    """A private Valkey this test may stop, freeze and restart on the same port."""
    root = tmp_path / "valkey"
    server = servers.start_valkey(root, port=servers.free_port())
    try:
        yield f"valkey://127.0.0.1:{server.port}/0", server, root
    finally:
        server.stop()


async def test_a_restart_drops_the_l1_before_anything_is_served(
        own_valkey: tuple[str, servers.Server, Path], stack_env: stack.StackEnv,
        tiny_db: str) -> None:
    url, server, root = own_valkey
    db_url = mysql_url(stack_env, tiny_db)
    full_build(db_url, url)
    settings = ApiSettings(valkey_url=url, mysql_url=db_url, jwt_secret=SECRET)
    restarted: servers.Server | None = None
    async with serving(settings) as api:
        await wait_for_l1(api.app)
        before = (await api.get("/listing/1/")).json()
        server.stop()
        try:
            assert (await api.get("/listing/1/")).status_code == 503  # not the L1's copy
            restarted = servers.start_valkey(root, port=server.port)
            client = valkey.Valkey.from_url(url)
            try:
                # Written before the tracker is back: the L1 must not hide it.
                client.set(keys.dedicated_page(1), orjson.dumps({**before, "price": 7}))
                assert (await api.get("/listing/1/")).json()["price"] == 7
                await wait_for_l1(api.app)
                assert (await api.get("/listing/1/")).json()["price"] == 7
                client.set(keys.dedicated_page(1), orjson.dumps({**before, "price": 8}))
                assert (await api.get("/listing/1/")).json()["price"] == 8
            finally:
                client.close()
        finally:
            if restarted is not None:
                restarted.stop()


async def test_an_unanswered_heartbeat_bypasses_the_l1(
        own_valkey: tuple[str, servers.Server, Path], stack_env: stack.StackEnv,
        tiny_db: str) -> None:
    url, server, _ = own_valkey
    db_url = mysql_url(stack_env, tiny_db)
    full_build(db_url, url)
    settings = ApiSettings(valkey_url=url, mysql_url=db_url, jwt_secret=SECRET,
                           l1_heartbeat_s=0.2)
    async with serving(settings) as api:
        await wait_for_l1(api.app)
        assert (await api.get("/listing/1/")).status_code == 200
        os.kill(server.pid, signal.SIGSTOP)
        try:
            # A frozen server, or a silent partition: after a missed beat nothing is trusted.
            await wait_for_l1(api.app, usable=False)
            assert len(l1_of(api.app).cars) == 0
            frozen = await asyncio.wait_for(api.get("/listing/1/"), 10)
            assert frozen.status_code == 503
        finally:
            os.kill(server.pid, signal.SIGCONT)
        await wait_for_l1(api.app)
        assert (await api.get("/listing/1/")).status_code == 200


# ----------------------------------------------------------------------------- topologies


async def test_with_replicas_the_l1_reads_and_tracks_the_primary(
        tmp_path: Path, stack_env: stack.StackEnv, tiny_db: str) -> None:
    db_url = mysql_url(stack_env, tiny_db)
    with replicated(tmp_path, replicas=1) as group:
        full_build(db_url, group.primary_url)
        group.synced()
        settings = ApiSettings(valkey_url=group.primary_url, mysql_url=db_url,
                               jwt_secret=SECRET, valkey_replica_urls=group.replica_urls)
        primary = valkey.Valkey.from_url(group.primary_url)
        replica = valkey.Valkey.from_url(group.replica_urls[0])
        try:
            async with serving(settings) as api:
                await wait_for_l1(api.app)
                before = (await api.get("/listing/1/")).json()
                # The replica stops following: only a read of the primary can see the write.
                replica.execute_command("REPLICAOF", "NO", "ONE")
                primary.set(keys.dedicated_page(1), orjson.dumps({**before, "price": 5}))
                assert (await api.get("/listing/1/")).json()["price"] == 5
        finally:
            primary.close()
            replica.close()


@pytest.mark.parametrize("options", [
    pytest.param({"valkey_url": "valkey://127.0.0.1:1/0", "valkey_cluster": True}, id="cluster"),
    pytest.param({"valkey_url": "valkeys://127.0.0.1:1/0"}, id="tls")])
def test_cluster_and_tls_run_without_the_l1(options: dict[str, Any]) -> None:
    settings = ApiSettings(jwt_secret=SECRET, **options)
    assert make_l1(settings, None) is None


async def test_the_l1_can_be_switched_off(settings: ApiSettings) -> None:
    async with serving(settings.model_copy(update={"l1_cache": False})) as api:
        assert api.services.pages.l1 is None
        resp = await api.get("/listing/1/")
        assert (resp.status_code, resp.headers["x-cache"]) == (200, "hit")
        assert isinstance(resp, httpx.Response)
