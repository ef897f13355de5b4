"""`GET /listing/{car_id}/` end to end: real MariaDB and Valkey, the app in-process over ASGI."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import signal
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import jwt
import orjson
import pymysql
import pytest
import valkey
from carpages_api.settings import ApiSettings
from carpages_cdc.cache.builder import CacheBuilder
from carpages_local import servers, stack
from carpages_shared import keys
from carpages_shared.dsn import mysql_params
from carpages_shared.payloads import DedicatedPageResponse

from tests.conftest import mysql_url, root_conn
from tests.integration import tiny_catalogue as tiny
from tests.integration.l1_support import wait_for_l1
from tests.integration.listing_support import Api, full_build, serving, tiny_settings

SECRET = "dedicated-page-test-secret-" + "0123456789" * 4  # >= 64 bytes, so HS512 is quiet
PAID_FIELDS = ("seller_mobile_no", "inspection_report")


def token(buyer_id: int | str, secret: str = SECRET, ttl: int | None = 3600,
          **claims: Any) -> str:
    """A buyer JWT; `ttl=None` leaves out `exp`."""
    body: dict[str, Any] = {"sub": str(buyer_id), **claims}
    if ttl is not None:
        body["exp"] = int(time.time()) + ttl
    return jwt.encode(body, secret, algorithm="HS256")


def bearer(buyer_id: int | str, **kw: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(buyer_id, **kw)}"}


@pytest.fixture
def settings(stack_env: stack.StackEnv, tiny_db: str, valkey_url: str) -> ApiSettings:
    return tiny_settings(mysql_url(stack_env, tiny_db), valkey_url, SECRET)


@pytest.fixture
async def api(settings: ApiSettings) -> AsyncIterator[Api]:
    async with serving(settings) as running:
        yield running


# ----------------------------------------------------------------------------- the page


async def test_anonymous_page_is_the_cached_page_plus_public_overlay(
        api: Api, valkey_sync: valkey.Valkey) -> None:
    resp = await api.get("/listing/1/")
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "application/json"
    assert resp.headers["x-cache"] == "hit"
    body = resp.json()
    cached = orjson.loads(valkey_sync.get(keys.dedicated_page(1)))
    assert {k: body[k] for k in cached} == cached
    assert set(body) - set(cached) == {
        "overlay_version", "is_seen", "test_drive_booked", "offer_amount", "interested_people",
        "seller_mobile_no", "inspection_report"}
    assert body["interested_people"] == len(tiny.CAR1_INTERESTED)
    assert (body["is_seen"], body["test_drive_booked"], body["offer_amount"]) == (
        False, False, None)
    assert body["seller_mobile_no"] is None
    assert body["inspection_report"] is None
    assert tiny.MOBILE[1] not in resp.text
    # The spliced bytes are exactly the documented response model.
    assert DedicatedPageResponse.model_validate_json(resp.content).id == 1


async def test_both_path_spellings_answer_the_same(api: Api) -> None:
    with_slash = await api.get("/listing/2/")
    without = await api.get("/listing/2")
    assert with_slash.status_code == without.status_code == 200
    assert with_slash.content == without.content


def test_listing_path_is_not_captured_by_the_car_route() -> None:
    from carpages_api.web import dedicated
    from starlette.routing import Match

    for path in ("/listing/", "/listing"):
        scope = {"type": "http", "path": path, "method": "GET"}
        assert all(route.matches(scope)[0] == Match.NONE for route in dedicated.router.routes)


@pytest.mark.parametrize(
    ("buyer", "car", "expected"),
    [
        (tiny.PAID, 1, {"is_seen": True, "test_drive_booked": True, "offer_amount": None}),
        (tiny.UNPAID, 1, {"is_seen": True, "test_drive_booked": False,
                          "offer_amount": tiny.UNPAID_OFFER_ON_CAR1}),
        (tiny.LAPSED, 1, {"is_seen": False, "test_drive_booked": False, "offer_amount": None}),
        (tiny.BYSTANDER, 1, {"is_seen": False, "test_drive_booked": False,
                             "offer_amount": None}),
        (tiny.UNPAID, 2, {"is_seen": True, "test_drive_booked": False, "offer_amount": None}),
        (tiny.PAID, 3, {"is_seen": False, "test_drive_booked": False, "offer_amount": None}),
    ],
)
async def test_dynamic_fields_follow_the_buyer(api: Api, buyer: int, car: int,
                                               expected: dict[str, Any]) -> None:
    resp = await api.get(f"/listing/{car}/", headers=bearer(buyer))
    assert resp.status_code == 200
    body = resp.json()
    assert {k: body[k] for k in expected} == expected
    assert body["interested_people"] == (len(tiny.CAR1_INTERESTED) if car == 1 else 0)
    assert resp.headers["cache-control"] == "private, no-store"
    assert "etag" not in resp.headers


async def test_paid_buyer_gets_the_paid_fields(api: Api) -> None:
    resp = await api.get("/listing/1/", headers=bearer(tiny.PAID))
    body = resp.json()
    assert body["seller_mobile_no"] == tiny.MOBILE[tiny.SELLER_OF[1]]
    assert body["inspection_report"] == orjson.loads(tiny.REPORT)
    # A live car without an inspection has no report even for a paid buyer.
    other = (await api.get("/listing/2/", headers=bearer(tiny.PAID))).json()
    assert other["seller_mobile_no"] == tiny.MOBILE[tiny.SELLER_OF[2]]
    assert other["inspection_report"] is None


@pytest.mark.parametrize("buyer", [tiny.UNPAID, tiny.LAPSED, tiny.BYSTANDER])
async def test_unpaid_and_lapsed_buyers_never_see_paid_fields(api: Api, buyer: int) -> None:
    resp = await api.get("/listing/1/", headers=bearer(buyer))
    assert resp.status_code == 200
    assert all(resp.json()[f] is None for f in PAID_FIELDS)
    assert tiny.MOBILE[1] not in resp.text
    assert "minor scratch" not in resp.text


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param(bearer(tiny.PAID, secret=SECRET[::-1]), id="forged"),
        pytest.param(bearer(tiny.PAID, ttl=-60), id="expired"),
        pytest.param(bearer(tiny.PAID, ttl=None), id="missing-exp"),
        pytest.param({"Authorization": "Bearer " + jwt.encode(
            {"exp": int(time.time()) + 60}, SECRET, algorithm="HS256")}, id="missing-sub"),
        pytest.param(bearer("abc"), id="non-numeric-sub"),
        pytest.param({"Authorization": "Bearer " + jwt.encode(
            {"sub": str(tiny.PAID), "exp": int(time.time()) + 60}, SECRET,
            algorithm="HS512")}, id="other-algorithm"),
        pytest.param({"Authorization": "Bearer not.a.jwt"}, id="garbage"),
        pytest.param({"Authorization": "Bearer "}, id="empty"),
        pytest.param({"Authorization": f"Basic {token(tiny.PAID)}"}, id="wrong-scheme"),
    ],
)
async def test_bad_tokens_are_401_without_paid_data(api: Api, headers: dict[str, str]) -> None:
    resp = await api.get("/listing/1/", headers=headers)
    assert resp.status_code == 401
    assert resp.headers["content-type"] == "application/json"
    assert resp.json()["error"] == "invalid token"
    assert resp.headers["www-authenticate"].startswith("Bearer")
    assert tiny.MOBILE[1] not in resp.text


async def test_lapse_in_the_data_hides_paid_fields_at_once(
        api: Api, valkey_sync: valkey.Valkey) -> None:
    before = (await api.get("/listing/1/", headers=bearer(tiny.PAID))).json()
    assert before["seller_mobile_no"] is not None
    # The token is unchanged; only the subscription end the applier maintains moves.
    valkey_sync.set(keys.buyer_paid_until(tiny.PAID), int(time.time()) - 1)
    after = (await api.get("/listing/1/", headers=bearer(tiny.PAID))).json()
    assert after["seller_mobile_no"] is None
    assert after["inspection_report"] is None
    assert after["test_drive_booked"] is True


async def test_anonymous_seen_car_ids_drive_is_seen(api: Api) -> None:
    seen = await api.get("/listing/1/", params={"seen_car_ids": "3,1"})
    unseen = await api.get("/listing/1/", params={"seen_car_ids": "2,3"})
    plain = await api.get("/listing/1/")
    assert seen.json()["is_seen"] is True
    assert unseen.json()["is_seen"] is False
    assert plain.json()["is_seen"] is False
    assert seen.headers["etag"] != unseen.headers["etag"]
    assert unseen.headers["etag"] == plain.headers["etag"]


# ----------------------------------------------------------------------------- HTTP caching


async def test_etag_and_conditional_requests(api: Api, settings: ApiSettings) -> None:
    first = await api.get("/listing/1/")
    tag = first.headers["etag"]
    assert tag.startswith('"')  # strong: no W/ prefix
    assert first.headers["cache-control"] == (
        f"public, max-age={settings.cache_max_age_s}, "
        f"stale-while-revalidate={settings.cache_swr_s}")
    for extra in ({}, {"Cache-Control": "no-cache"}, {"Cache-Control": "no-cache",
                                                      "Pragma": "no-cache"}):
        resp = await api.get("/listing/1/", headers={"If-None-Match": tag, **extra})
        assert resp.status_code == 304
        assert resp.content == b""
        assert resp.headers["etag"] == tag
    listed = await api.get("/listing/1/", headers={"If-None-Match": f'"nope", W/{tag}'})
    assert listed.status_code == 304
    other = await api.get("/listing/1/", headers={"If-None-Match": '"something-else"'})
    assert other.status_code == 200
    assert other.content == first.content


async def test_etag_changes_when_the_body_would(api: Api, valkey_sync: valkey.Valkey,
                                                stack_env: stack.StackEnv,
                                                tiny_db: str) -> None:
    tag = (await api.get("/listing/1/")).headers["etag"]
    # A new interested buyer changes the overlay only.
    valkey_sync.sadd(keys.car_interested(1), tiny.BYSTANDER)
    resp = await api.get("/listing/1/", headers={"If-None-Match": tag})
    assert resp.status_code == 200
    assert resp.json()["interested_people"] == len(tiny.CAR1_INTERESTED) + 1
    tag = resp.headers["etag"]
    # A price change rebuilt by the worker changes the page bytes.
    conn = stack.connect(stack_env.mysql_port, database=tiny_db, autocommit=True)
    with conn.cursor() as cur:
        cur.execute("UPDATE car SET price = price - 10000 WHERE id = 1")
    conn.close()
    params = mysql_params(mysql_url(stack_env, tiny_db))
    CacheBuilder(lambda: pymysql.connect(**params), valkey_sync).build_cars([1])
    resp = await api.get("/listing/1/", headers={"If-None-Match": tag})
    assert resp.status_code == 200
    assert resp.headers["etag"] != tag


async def test_personalised_responses_are_not_cacheable(api: Api) -> None:
    resp = await api.get("/listing/1/", headers={**bearer(tiny.UNPAID), "If-None-Match": "*"})
    assert resp.status_code == 200
    assert resp.headers["cache-control"] == "private, no-store"


# ----------------------------------------------------------------------------- errors


@pytest.mark.parametrize("car", [tiny.SOLD, tiny.WITHDRAWN, tiny.DRAFT, tiny.NONEXISTENT])
async def test_missing_or_not_live_is_404_json(api: Api, car: int) -> None:
    resp = await api.get(f"/listing/{car}/")
    assert resp.status_code == 404
    assert resp.json() == {"error": "car not found", "detail": {"car_id": car}}


@pytest.mark.parametrize(
    ("path", "params", "param"),
    [
        ("/listing/abc/", {}, "car_id"),
        ("/listing/0/", {}, "car_id"),
        ("/listing/-1/", {}, "car_id"),
        ("/listing/+5/", {}, "car_id"),
        ("/listing/1.5/", {}, "car_id"),
        ("/listing/%20/", {}, "car_id"),
        (f"/listing/{10**30}/", {}, "car_id"),
        ("/listing/2147483648/", {}, "car_id"),
        ("/listing/1/", {"seen_car_ids": "1,x"}, "seen_car_ids"),
        ("/listing/1/", {"seen_car_ids": "1,,2"}, "seen_car_ids"),
        ("/listing/1/", {"seen_car_ids": "1,-2"}, "seen_car_ids"),
        ("/listing/1/", {"seen_car_ids": ",".join(["7"] * 201)}, "seen_car_ids"),
        ("/listing/1/", {"seen_car_ids": "9" * 5000}, "seen_car_ids"),
    ],
)
async def test_bad_input_is_422_naming_the_parameter(api: Api, path: str,
                                                     params: dict[str, str],
                                                     param: str) -> None:
    resp = await api.get(path, params=params)
    assert resp.status_code == 422
    body = resp.json()
    assert body["error"] == "invalid request"
    assert [d["param"] for d in body["detail"]] == [param]


def com_select(env: stack.StackEnv) -> int:
    conn = root_conn(env)
    try:
        with conn.cursor() as cur:
            cur.execute("SHOW GLOBAL STATUS LIKE 'Com_select'")
            return int(cur.fetchone()[1])
    finally:
        conn.close()


async def test_unknown_ids_are_negatively_cached(api: Api, valkey_sync: valkey.Valkey,
                                                 stack_env: stack.StackEnv) -> None:
    assert (await api.get(f"/listing/{tiny.NONEXISTENT}/")).status_code == 404
    assert api.fills() == 1
    ttl = valkey_sync.ttl(keys.car_missing(tiny.NONEXISTENT))
    assert 0 < ttl <= keys.MISSING_TTL
    selects = com_select(stack_env)
    for _ in range(20):
        assert (await api.get(f"/listing/{tiny.NONEXISTENT}/")).status_code == 404
    # Com_Select is server-wide: the stack's CDC roles select now and then too. Twenty misses
    # that reached MySQL would be at least twenty SELECTs; background work is a handful.
    assert com_select(stack_env) - selects < 10
    assert api.fills() == 1


# ----------------------------------------------------------------------------- fill on miss


def drop_car_entries(client: valkey.Valkey, car_id: int) -> None:
    client.delete(keys.dedicated_page(car_id), keys.car_private(car_id),
                  keys.car_interested(car_id))


async def test_missing_entry_of_a_live_car_is_filled_from_mysql(
        api: Api, valkey_sync: valkey.Valkey) -> None:
    built = await api.get("/listing/1/", headers=bearer(tiny.PAID))
    drop_car_entries(valkey_sync, 1)
    filled = await api.get("/listing/1/", headers=bearer(tiny.PAID))
    assert filled.status_code == 200
    assert filled.headers["x-cache"] == "miss"
    assert filled.json() == built.json()
    assert api.fills() == 1
    assert valkey_sync.ttl(keys.dedicated_page(1)) > 0
    again = await api.get("/listing/1/", headers=bearer(tiny.PAID))
    assert again.headers["x-cache"] == "hit"
    assert api.fills() == 1


async def test_single_flight_across_requests_and_processes(
        settings: ApiSettings, valkey_sync: valkey.Valkey) -> None:
    async with serving(settings) as one, serving(settings) as two:
        expected = (await one.get("/listing/1/")).content
        drop_car_entries(valkey_sync, 1)
        requests = [(one if i % 2 else two).get("/listing/1/") for i in range(50)]
        responses = await asyncio.gather(*requests)
        assert [r.status_code for r in responses] == [200] * 50
        assert {r.content for r in responses} == {expected}
        assert one.fills() + two.fills() == 1
        assert sum(r.headers["x-cache"] == "miss" for r in responses) >= 1


async def test_metrics_count_hits_and_misses(api: Api, valkey_sync: valkey.Valkey) -> None:
    await api.get("/listing/1/")
    drop_car_entries(valkey_sync, 2)
    await api.get("/listing/2/")
    await api.get(f"/listing/{tiny.NONEXISTENT}/")
    await api.get(f"/listing/{tiny.NONEXISTENT}/")
    text = (await api.get("/metrics")).text
    for outcome in ("hit", "miss", "negative"):
        assert f'carpages_cache_lookups_total{{kind="dedicated",outcome="{outcome}"}}' in text
    assert "carpages_page_fills_total 2.0" in text


async def test_openapi_documents_the_response_model(api: Api) -> None:
    spec = (await api.get("/openapi.json")).json()
    assert "/listing/{car_id}" not in spec["paths"]
    operation = spec["paths"]["/listing/{car_id}/"]["get"]
    ok = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok == {"$ref": "#/components/schemas/DedicatedPageResponse"}
    schema = spec["components"]["schemas"]["DedicatedPageResponse"]["properties"]
    assert {"is_seen", "interested_people", "seller_mobile_no", "price"} <= set(schema)
    assert {p["name"] for p in operation["parameters"]} == {"car_id", "seen_car_ids",
                                                           "seen_card_ids"}


# ----------------------------------------------------------------------------- Valkey outage


@pytest.fixture
def own_valkey(tmp_path: Path) -> Iterator[tuple[str, servers.Server, Path]]:
    """A private Valkey this test may stop, freeze and restart on the same port."""
    root = tmp_path / "valkey"
    server = servers.start_valkey(root, port=servers.free_port())
    try:
        yield f"valkey://127.0.0.1:{server.port}/0", server, root
    finally:
        server.stop()  # a no-op when the test already stopped it


async def test_valkey_outage_is_a_quick_503_and_recovers(
        own_valkey: tuple[str, servers.Server, Path], stack_env: stack.StackEnv,
        tiny_db: str) -> None:
    url, server, root = own_valkey
    db_url = mysql_url(stack_env, tiny_db)
    full_build(db_url, url)
    # A long heartbeat, so the L1 surely still trusts the (frozen, hence unchanging) server.
    settings = ApiSettings(valkey_url=url, mysql_url=db_url, jwt_secret=SECRET,
                           l1_heartbeat_s=60)
    restarted: servers.Server | None = None
    async with serving(settings) as api:
        await wait_for_l1(api.app)
        assert (await api.get("/listing/1/")).status_code == 200
        # Frozen (slow): the per-command timeout answers instead of a hang. Car 1 is in the L1,
        # which a frozen server cannot make stale; car 2 must be read.
        os.kill(server.pid, signal.SIGSTOP)
        try:
            held = await asyncio.wait_for(api.get("/listing/1/"), 10)
            frozen = await asyncio.wait_for(api.get("/listing/2/"), 10)
            # The listing lane answers the outage itself (the route would wait out a second
            # timeout): the same JSON 503 as the app's handler.
            listing = await asyncio.wait_for(api.get("/listing/?order_by=newest"), 10)
        finally:
            os.kill(server.pid, signal.SIGCONT)
        assert listing.status_code == 503
        assert listing.headers["retry-after"] == str(settings.retry_after_s)
        assert listing.json() == {"error": "cache unavailable", "detail": "TimeoutError"}
        assert held.status_code == 200
        assert frozen.status_code == 503
        assert frozen.headers["retry-after"] == str(settings.retry_after_s)
        assert frozen.json()["error"] == "cache unavailable"
        assert (await api.get("/listing/1/")).status_code == 200
        # Down: connection refused is a 503 too, for pages and readiness alike.
        server.stop()
        try:
            down = await asyncio.wait_for(api.get("/listing/1/", headers=bearer(tiny.PAID)), 10)
            assert down.status_code == 503
            assert "retry-after" in down.headers
            assert (await asyncio.wait_for(api.get("/readyz"), 10)).status_code == 503
            # Back on the same port (empty: a restart without persistence) -> filled, 200.
            restarted = servers.start_valkey(root, port=server.port)
            back = await api.get("/listing/1/")
            assert back.status_code == 200
            assert back.headers["x-cache"] == "miss"
        finally:
            if restarted is not None:
                restarted.stop()


async def test_paid_until_key_in_the_past_is_checked_against_now(
        api: Api, valkey_sync: valkey.Valkey) -> None:
    soon = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=120)
    valkey_sync.set(keys.buyer_paid_until(tiny.LAPSED), int(soon.timestamp()))
    resp = await api.get("/listing/1/", headers=bearer(tiny.LAPSED))
    assert resp.json()["seller_mobile_no"] == tiny.MOBILE[1]


async def test_mysql_down_during_a_fill_is_a_503_and_no_negative_cache(
        settings: ApiSettings, valkey_sync: valkey.Valkey) -> None:
    unreachable = settings.model_copy(update={
        "mysql_url": f"mysql://nobody:x@127.0.0.1:{servers.free_port()}/nothing"})
    drop_car_entries(valkey_sync, 2)
    async with serving(unreachable) as api:
        resp = await api.get("/listing/2/")
        assert resp.status_code == 503
        assert resp.json()["error"] == "database unavailable"
        assert resp.headers["retry-after"] == str(settings.retry_after_s)
    assert valkey_sync.exists(keys.car_missing(2), keys.car_fill_lock(2)) == 0
    async with serving(settings) as api:
        assert (await api.get("/listing/2/")).status_code == 200


async def test_requests_beyond_the_pool_wait_for_a_connection(settings: ApiSettings) -> None:
    """More requests in flight than pooled Valkey connections queue for one (the default pool
    failed them at once with "Too many connections"); a request that gets none within
    API_VALKEY_POOL_WAIT_S is a 503 with Retry-After, and the pool serves again once
    connections come back."""
    tight = settings.model_copy(update={"valkey_pool_size": 2, "valkey_pool_wait_s": 0.3})
    async with serving(tight) as api:
        sizes = [1 + n % 35 for n in range(40)]
        answers = await asyncio.gather(*(api.get(f"/listing/?order_by=newest&page_size={size}")
                                         for size in sizes))
        assert [a.status_code for a in answers] == [200] * len(sizes)
        assert [len(a.json()["results"]) for a in answers] == [
            min(size, len(tiny.LIVE)) for size in sizes]
        pool = api.services.readers.primary.connection_pool
        held: list[Any] = []
        while True:  # take every connection the background listeners do not hold
            try:
                held.append(await pool.get_connection("PING"))
            except valkey.exceptions.ConnectionError:
                break
        assert 1 <= len(held) <= 2
        try:
            started = time.monotonic()
            # A page not served before: one served before is replayed by the listing L1
            # without a connection.
            starved = await api.get("/listing/?order_by=newest&page_size=3&page=1")
            waited = time.monotonic() - started
        finally:
            for connection in held:
                await pool.release(connection)
        assert starved.status_code == 503
        assert starved.json()["error"] == "cache unavailable"
        assert "retry-after" in starved.headers
        assert waited >= 0.3
        assert (await api.get("/listing/?order_by=newest&page_size=3")).status_code == 200
