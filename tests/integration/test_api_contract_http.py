"""The API contract over HTTP (real MariaDB and Valkey, the tiny catalogue): strict ids, one
case rule, the design's parameter spellings, `X-Ignored-Params`, JSON error bodies matching the
declared schema, and the two lanes answering exactly like FastAPI's routes."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import jsonschema
import jwt
import pytest
from asgi_lifespan import LifespanManager
from carpages_api.app import CarpagesApp, create_app
from carpages_api.settings import ApiSettings
from carpages_local import stack

from tests.conftest import mysql_url
from tests.integration import tiny_catalogue as tiny
from tests.integration.listing_support import SECRET, Api, ids_of, serving, tiny_settings, token

LIVE = sorted(tiny.LIVE)
PIN = re.compile(rb"pin=[A-Za-z0-9_:\-.%]+")


@pytest.fixture
def settings(stack_env: stack.StackEnv, tiny_db: str, valkey_url: str) -> ApiSettings:
    return tiny_settings(mysql_url(stack_env, tiny_db), valkey_url, SECRET)


@pytest.fixture
async def api(settings: ApiSettings) -> AsyncIterator[Api]:
    async with serving(settings) as running:
        yield running


@asynccontextmanager
async def routed_only(settings: ApiSettings) -> AsyncIterator[Api]:
    """The app without its lanes: every request goes through FastAPI's routing."""
    app = create_app(settings, lanes=False)
    async with LifespanManager(app) as manager, httpx.AsyncClient(
            transport=httpx.ASGITransport(app=manager.app, raise_app_exceptions=False),
            base_url="http://api.test") as client:
        yield Api(client, app)


async def error_body_schema(api: Api) -> dict[str, Any]:
    spec = (await api.get("/openapi.json")).json()
    return {**spec["components"]["schemas"]["ErrorBody"], "components": spec["components"]}


def bearer(**claims: Any) -> dict[str, str]:
    body = {"sub": "1", "exp": int(time.time()) + 3600, **claims}
    return {"Authorization": "Bearer " + jwt.encode(body, SECRET, algorithm="HS256")}


# ----------------------------------------------------------------------------- errors

ERRORS: list[tuple[str, dict[str, str], int]] = [
    (f"/listing/{tiny.SOLD}/", {}, 404),
    (f"/listing/{tiny.NONEXISTENT}", {}, 404),
    ("/listing/%201/", {}, 422),
    ("/listing/1%20/", {}, 422),
    ("/listing/+1/", {}, 422),
    ("/listing/1/?seen_card_ids=1,%202", {}, 422),
    ("/listing/1/", bearer(exp="9999999999"), 401),
    ("/listing/1/", bearer(exp=[1]), 401),
    ("/listing/?exp=1", bearer(exp={"a": 1}), 401),
    ("/listing/?slug=used-tata-cars", {}, 404),
    ("/listing/?page=%202", {}, 422),
    ("/listing/?make=1.5", {}, 422),
    ("/listing/?year=3000", {}, 422),
    ("/listing/?price_min=-5", {}, 422),
    ("/listing/?order_by=SIDEWAYS", {}, 422),
]


@pytest.mark.parametrize(("path", "headers", "status"), ERRORS)
async def test_bad_input_is_a_4xx_json_body_matching_the_declared_schema(
        api: Api, path: str, headers: dict[str, str], status: int) -> None:
    resp = await api.get(path, headers=headers)
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"] == "application/json"
    jsonschema.validate(resp.json(), await error_body_schema(api))
    if status == 401:
        assert "seller_mobile_no" not in resp.text


async def test_a_404_body_is_the_declared_shape(api: Api) -> None:
    resp = await api.get(f"/listing/{tiny.SOLD}/")
    assert resp.json() == {"error": "car not found", "detail": {"car_id": tiny.SOLD}}


async def test_space_padded_ids_are_never_a_page(api: Api) -> None:
    for path in ("/listing/%201/", "/listing/%201", "/listing/1%09/"):
        resp = await api.get(path)
        assert resp.status_code == 422, path
        assert resp.json()["detail"][0]["param"] == "car_id"
    assert (await api.get("/listing/1/")).status_code == 200


# ----------------------------------------------------------------------------- one case rule


async def test_enumerations_and_slugs_ignore_case(api: Api) -> None:
    for lower, upper in [("order_by=price_asc", "order_by=PRICE_ASC"),
                         ("fuel_type=diesel", "fuel_type=DIESEL"),
                         ("slug=used-cars", "slug=USED-CARS"),
                         ("transmission=automatic", "transmission=Automatic"),
                         ("order_by=newest&facets=fuel_type", "order_by=Newest&facets=FUEL_TYPE")]:
        expected = await api.json(f"/listing/?{lower}")
        got = await api.get(f"/listing/?{upper}")
        assert got.status_code == 200, upper
        assert got.json() == expected, upper


# ----------------------------------------------------------------------------- spellings


async def test_the_designs_spellings_filter_like_ours(api: Api) -> None:
    pairs = [("make=1", "make_id=1"), ("model=2", "model_id=2"), ("color=2", "color_id=2"),
             ("year=2017", "year_min=2017&year_max=2017"),
             ("page=2&page_size=1&order_by=newest", "page_no=2&page_size=1&order_by=newest")]
    for design, ours in pairs:
        assert await api.json(f"/listing/?{design}") == await api.json(f"/listing/?{ours}")
    assert ids_of(await api.json("/listing/?make=1&order_by=price_asc")) == [1, 3]
    assert ids_of(await api.json("/listing/?year=2022")) == [3]
    assert ids_of(await api.json("/listing/?price_min=400000&price_max=900000"
                                 "&order_by=price_asc")) == [2, 1]
    assert ids_of(await api.json("/listing/?year=2018")) == []


async def test_seen_card_ids_is_seen_car_ids_on_both_endpoints(api: Api) -> None:
    page = await api.json("/listing/2/?seen_card_ids=2")
    assert page["is_seen"] is True
    assert await api.json("/listing/2/?seen_card_ids=1&seen_car_ids=2") == page
    listing = await api.json("/listing/?seen_card_ids=1,2")
    assert listing == await api.json("/listing/?seen_car_ids=1,2")


async def test_unknown_parameters_are_listed_in_a_header(api: Api) -> None:
    clean = await api.get("/listing/?city_id=1&utm_source=google&gclid=abc&fbclid=x")
    assert "x-ignored-params" not in clean.headers
    typo = await api.get("/listing/?cty_id=1&order=price&order_by=newest&utm_medium=cpc")
    assert typo.status_code == 200
    assert typo.headers["x-ignored-params"] == "cty_id,order"
    assert typo.json()["count"] == len(LIVE)  # ignored, as before
    again = await api.get("/listing/?cty_id=1&order=price&order_by=newest&utm_medium=cpc",
                          headers={"If-None-Match": typo.headers["etag"]})
    assert again.status_code == 304
    assert again.headers["x-ignored-params"] == "cty_id,order"
    buyer = await api.get("/listing/?colour=2", headers={"Authorization": f"Bearer {token(1)}"})
    assert buyer.headers["x-ignored-params"] == "colour"
    for path in ("/listing/1/?seen=1&utm_source=x", "/listing/1?seen=1"):
        page = await api.get(path)
        assert page.status_code == 200
        assert page.headers["x-ignored-params"] == "seen"
    assert "x-ignored-params" not in (await api.get("/listing/1/?gclid=1")).headers


# ----------------------------------------------------------------------------- JWT leeway


async def test_tokens_within_the_clock_skew_leeway_are_accepted(api: Api) -> None:
    now = int(time.time())
    assert (await api.get("/listing/1/", headers=bearer(exp=now - 10))).status_code == 200
    assert (await api.get("/listing/1/", headers=bearer(nbf=now + 10))).status_code == 200
    late = await api.get("/listing/1/", headers=bearer(exp=now - 120))
    assert late.status_code == 401
    assert late.json() == {"error": "invalid token", "detail": "token expired"}


# ----------------------------------------------------------------------------- lanes

LANE_REQUESTS: list[tuple[str, dict[str, str]]] = [
    ("/listing/1/", {}), ("/listing/1", {}), ("/listing/1/?seen_card_ids=1", {}),
    ("/listing/2/?seen_car_ids=3&seen_card_ids=2&utm_source=x&typo=1", {}),
    ("/listing/%201/", {}), ("/listing/1%20/", {}), ("/listing/1/?seen_car_ids=%201", {}),
    (f"/listing/{tiny.SOLD}/", {}), ("/listing/1/", bearer(exp="9999999999")),
    ("/listing/1/", bearer(exp=int(time.time()) - 10)),
    ("/listing/1/?colour=red", {"Authorization": f"Bearer {token(tiny.PAID)}"}),
    ("/listing/?order_by=PRICE_ASC&fuel_type=DIESEL,petrol", {}),
    ("/listing/?slug=USED-CARS&page=1&make=1&model=1&color=1,2&year=2020", {}),
    ("/listing/?seen_card_ids=1,2&cty=1&utm_campaign=a", {}),
    ("/listing/?page=%201", {}), ("/listing/?year=20.5", {}), ("/listing/?page=1&page_no=1", {}),
    ("/listing/?city_id=1", bearer(exp=[1])),
]


DEDICATED_CONDITIONAL: list[dict[str, str]] = [
    {"If-None-Match": "*"}, {"If-None-Match": '"nope"'}, {"If-None-Match": '"a", W/"b"'},
    {"If-None-Match": "*", "Authorization": f"Bearer {token(tiny.PAID)}"},
]


def without_request_id(resp: httpx.Response) -> dict[str, str]:
    """The headers but X-Request-ID (made afresh for every request)."""
    return {k: v for k, v in resp.headers.items() if k != "x-request-id"}


def dedicated_latency_counts(api: Api) -> dict[tuple[str, str, str], float]:
    """How many requests the latency histogram holds, by (route, method, status), for the
    dedicated page's routes."""
    counts = {}
    for metric in api.services.metrics.registry.collect():
        for sample in metric.samples:
            if (sample.name == "carpages_http_request_seconds_count"
                    and sample.labels["route"].startswith("/listing/{")):
                labels = sample.labels
                counts[labels["route"], labels["method"], labels["status"]] = sample.value
    return counts


async def test_the_lanes_answer_exactly_like_the_routes(api: Api, settings: ApiSettings) -> None:
    app = api.app
    assert isinstance(app, CarpagesApp)
    assert app.lane is not None
    assert app.lane.services is not None  # the dedicated lane is answering here
    conditional = [("/listing/1/", headers) for headers in DEDICATED_CONDITIONAL]
    etag = (await api.get("/listing/2/")).headers["etag"]
    conditional += [("/listing/2/", {"If-None-Match": etag}),
                    ("/listing/2/?utm_x=1", {"If-None-Match": f'"x", W/{etag}'})]
    async with routed_only(settings) as routed:
        before = dedicated_latency_counts(api), dedicated_latency_counts(routed)
        for n, (path, headers) in enumerate(LANE_REQUESTS + conditional):
            for _ in range(2):  # cold, then warm (L1 and parsed-query memory)
                ours = await api.get(path, headers=headers)
                theirs = await routed.get(path, headers=headers)
                assert ours.status_code == theirs.status_code, path
                assert PIN.sub(b"pin=*", ours.content) == PIN.sub(b"pin=*", theirs.content), path
                assert without_request_id(ours) == without_request_id(theirs), path
                assert ours.status_code < 500, path
                # With the caller's id, every header: same names, values and order.
                rid = {"X-Request-ID": f"lane-{n}"}
                ours = await api.get(path, headers={**headers, **rid})
                theirs = await routed.get(path, headers={**headers, **rid})
                assert ours.headers.raw == theirs.headers.raw, path
                assert PIN.sub(b"pin=*", ours.content) == PIN.sub(b"pin=*", theirs.content), path
        # Both timed every dedicated request under the same route, method and status.
        after = dedicated_latency_counts(api), dedicated_latency_counts(routed)
    grew = [{k: v - seen.get(k, 0) for k, v in now.items() if v != seen.get(k, 0)}
            for seen, now in zip(before, after, strict=True)]
    assert grew[0] == grew[1]
    assert ("/listing/{car_id}/", "GET", "304") in grew[0]


async def test_a_bug_in_the_dedicated_lane_is_the_counted_json_500(api: Api) -> None:
    """As when the lane sat inside the stack: the server-error handler answers (with the id),
    the request is timed as unmatched with status 500, and the bug is counted."""
    services = api.services
    assert (await api.get("/listing/1/")).status_code == 200  # in the L1 now

    def broken(*_: object) -> None:
        raise RuntimeError("bug in the lane")

    services.pages.cached = broken  # type: ignore[method-assign]
    registry = services.metrics.registry
    labels = {"route": "unmatched", "method": "GET", "status": "500"}
    before = (registry.get_sample_value("carpages_unhandled_errors_total") or 0,
              registry.get_sample_value("carpages_http_request_seconds_count", labels) or 0)
    async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=api.app, raise_app_exceptions=False),
            base_url="http://api.test") as client:
        resp = await client.get("/listing/1/", headers={"X-Request-ID": "bug-1"})
    assert resp.status_code == 500
    assert resp.json() == {"error": "internal error", "detail": "RuntimeError"}
    assert resp.headers["x-request-id"] == "bug-1"
    assert (registry.get_sample_value("carpages_unhandled_errors_total"),
            registry.get_sample_value("carpages_http_request_seconds_count", labels)) == (
                before[0] + 1, before[1] + 1)
