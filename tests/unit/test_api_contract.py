"""The API's declared contract (no servers): typed parameters with their bounds, one error schema
that every error body satisfies, parameter spellings, and the bearer token's time checks."""

from __future__ import annotations

import time
from typing import Any

import jsonschema
import jwt
import orjson
import pytest
from carpages_api import errors
from carpages_api.app import create_app
from carpages_api.auth.tokens import TokenVerifier
from carpages_api.errors import ApiError
from carpages_api.listing.param_names import ignored_header
from carpages_api.listing.parsing import ignored_names, parse_query
from carpages_api.listing.query import KNOWN, Limits
from carpages_api.metrics import Metrics
from carpages_api.settings import ApiSettings
from carpages_api.web.id_params import page_query, parse_id
from starlette.responses import Response
from valkey.exceptions import (
    ClusterDownError,
    MasterDownError,
    SlotNotCoveredError,
    TryAgainError,
)
from valkey.exceptions import ConnectionError as ValkeyConnectionError

SECRET = "contract-test-secret-" + "0123456789" * 5
SETTINGS = ApiSettings(valkey_url="valkey://127.0.0.1:1/0", jwt_secret=SECRET,
                       max_car_id=1_000_000, page_size_max=30, page_window=600,
                       max_seen_ids=40, max_filter_values=12)


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    # The schema needs no lifespan: nothing connects until the app starts.
    schema: dict[str, Any] = create_app(SETTINGS).openapi()
    return schema


def params(spec: dict[str, Any], path: str) -> dict[str, dict[str, Any]]:
    return {p["name"]: p for p in spec["paths"][path]["get"]["parameters"]}


def test_ids_and_numbers_are_declared_as_integers_with_the_settings_bounds(
        spec: dict[str, Any]) -> None:
    page = params(spec, "/listing/{car_id}/")
    assert page["car_id"]["in"] == "path"
    assert page["car_id"]["schema"] == {"type": "integer", "minimum": 1, "maximum": 1_000_000,
                                        "examples": [14006824]}
    for name in ("seen_car_ids", "seen_card_ids"):
        assert page[name]["schema"] == {"type": "array", "maxItems": 40, "items": {
            "type": "integer", "minimum": 1, "maximum": 1_000_000}}
        assert (page[name]["style"], page[name]["explode"]) == ("form", False)
    listing = params(spec, "/listing/")
    assert set(listing) == KNOWN | {"page", "make", "model", "color", "seen_card_ids"}
    assert listing["page_size"]["schema"] == {"type": "integer", "minimum": 1, "maximum": 30,
                                              "default": 20}
    assert listing["page_no"]["schema"]["maximum"] == listing["page"]["schema"]["maximum"] == 600
    assert listing["city_id"]["schema"]["items"]["type"] == "integer"
    assert listing["city_id"]["schema"]["maxItems"] == 12
    assert listing["seen_car_ids"]["schema"]["maxItems"] == 40
    assert listing["price_min"]["schema"]["type"] == "integer"
    assert listing["year"]["schema"] == {"type": "integer", "minimum": 1900, "maximum": 2100}
    assert listing["rating_min"]["schema"]["type"] == "number"
    assert listing["order_by"]["schema"]["enum"] == ["reco", "newest", "price_asc", "price_desc"]
    assert not [n for n, p in listing.items() if p["schema"].get("type") == "string"
                and n not in ("slug", "order_by", "pin")]


def error_schema(spec: dict[str, Any]) -> dict[str, Any]:
    """ErrorBody with its references resolvable (the spec's components alongside)."""
    return {**spec["components"]["schemas"]["ErrorBody"], "components": spec["components"]}


def test_every_error_status_declares_the_error_body(spec: dict[str, Any]) -> None:
    for path in ("/listing/{car_id}/", "/listing/"):
        declared = spec["paths"][path]["get"]["responses"]
        assert {"401", "404", "422", "500", "503"} <= set(declared), path
        for status, response in declared.items():
            if status.startswith(("4", "5")):
                schema = response["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/ErrorBody"}, (path, status)


def body(response: Response) -> Any:
    return orjson.loads(bytes(response.body))


def known_errors() -> list[tuple[int, Response]]:
    """One rendered response of every error the API answers with."""
    made = [ApiError(404, "car not found", {"car_id": 7}),
            ApiError(404, "unknown slug token", {"slug": "used-x-cars", "token": "x"}),
            ApiError(503, "no listing build yet", None, {"Retry-After": "5"}),
            ApiError(503, "database unavailable", "OperationalError")]
    for bad in (lambda: parse_id(" 1", "car_id", 9), lambda: parse_query(
            [("page_no", "x"), ("order_by", "up")], Limits()),
            lambda: TokenVerifier(SECRET, "HS256").identity("Bearer nope")):
        with pytest.raises(ApiError) as raised:
            bad()
        made.append(raised.value)
    out = []
    for exc in made:
        rendered = errors.render(exc, 1, Metrics())
        assert rendered is not None
        out.append((exc.status, rendered))
    out.append((503, errors.unavailable(ValkeyConnectionError("down"), 1)))
    out.append((500, errors.internal(RuntimeError("bug"), Metrics())))
    out.append((405, errors.json_error(405, "Method Not Allowed")))
    return out


def test_every_error_body_matches_the_declared_schema(spec: dict[str, Any]) -> None:
    schema = error_schema(spec)
    for status, response in known_errors():
        assert response.status_code == status
        jsonschema.validate(body(response), schema)
    with pytest.raises(jsonschema.ValidationError):  # the schema does say something
        jsonschema.validate({"error": "x", "detail": [{"param": 1}]}, schema)


# ----------------------------------------------------------------------------- ids


@pytest.mark.parametrize("raw", [" 1", "1 ", "+1", "-1", "0", "1.0", "1e3", "0x1", "١", "",
                                 "99999999999"])
def test_only_plain_positive_integers_are_ids(raw: str) -> None:
    with pytest.raises(ApiError) as raised:
        parse_id(raw, "car_id", 2_147_483_647)
    assert raised.value.status == 422


def test_the_dedicated_page_query_merges_the_alias_and_lists_the_unknown() -> None:
    assert page_query(b"", 100, 10) == ((), None)
    assert page_query(b"seen_car_ids=3,1&seen_card_ids=2&utm_source=ad&gclid=x", 100, 10) == (
        (3, 1, 2), None)
    assert page_query(b"seen_car_ids=1&seen_car_ids=2&sen_car_ids=3&make=1", 100, 10) == (
        (1, 2), "make,sen_car_ids")
    with pytest.raises(ApiError):
        page_query(b"seen_card_ids=1,%202", 100, 10)


# ----------------------------------------------------------------------------- the listing


def parsed(pairs: list[tuple[str, str]]) -> str:
    return parse_query(pairs, Limits()).link(1, None)


def test_the_designs_spellings_are_aliases() -> None:
    assert parsed([("make", "2"), ("model", "3"), ("color", "4"), ("page", "2")]) == parsed(
        [("make_id", "2"), ("model_id", "3"), ("color_id", "4"), ("page_no", "2")])
    assert parsed([("make", "2"), ("make_id", "1")]) == parsed([("make_id", "1,2")])
    assert parsed([("seen_card_ids", "5")]) == parsed([("seen_car_ids", "5")])
    # Each spelling is valid on its own, so both together are too: the canonical name wins.
    assert parsed([("page", "2"), ("page_no", "3")]) == parsed([("page_no", "3")])
    with pytest.raises(ApiError) as twice:
        parse_query([("page", "2"), ("page", "3")], Limits())
    assert twice.value.detail == [{"param": "page_no", "message": "given more than once"}]


def test_year_is_one_exact_year_within_any_explicit_bounds() -> None:
    query = parse_query([("year", "2020")], Limits())
    assert (query.filters.year_min, query.filters.year_max) == (2020, 2020)
    assert parsed([("year", "2020")]) == parsed([("year_min", "2020"), ("year_max", "2020")])
    narrowed = parse_query([("year", "2020"), ("year_min", "2021")], Limits()).filters
    assert (narrowed.year_min, narrowed.year_max) == (2021, 2020)  # matches nothing
    for bad in ("1800", "20x0", " 2020"):
        with pytest.raises(ApiError) as raised:
            parse_query([("year", bad)], Limits())
        assert [d["param"] for d in raised.value.detail] == ["year"]


def test_enumerations_and_slugs_are_case_insensitive_everywhere() -> None:
    assert parsed([("order_by", "PRICE_ASC"), ("fuel_type", "DIESEL,Petrol"),
                   ("transmission", "Manual"), ("facets", "PRICE"), ("slug", "USED-CARS")]) == \
        parsed([("order_by", "price_asc"), ("fuel_type", "diesel,petrol"),
                ("transmission", "manual"), ("facets", "price"), ("slug", "used-cars")])


@pytest.mark.parametrize(("name", "value"), [
    ("city_id", " 1"), ("city_id", "1,+2"), ("make", "1.0"), ("price_min", "1e5"),
    ("price_max", "-1"), ("page_no", " 2"), ("page", "2.0"), ("page_size", "0x10"),
    ("km_max", "1_000"), ("buyer_id", "+7"), ("rating_min", "-4.5"), ("rating_min", "nan"),
    ("seen_card_ids", "1, 2"), ("owner", "99999999999"),
])
def test_numbers_are_plain_decimals_or_a_422_naming_the_parameter(name: str, value: str) -> None:
    with pytest.raises(ApiError) as raised:
        parse_query([(name, value)], Limits())
    assert raised.value.status == 422
    canonical = {"make": "make_id", "page": "page_no", "seen_card_ids": "seen_car_ids"}
    assert [d["param"] for d in raised.value.detail] == [canonical.get(name, name)]


def test_price_ranges_use_the_designs_price_min_and_price_max() -> None:
    filters = parse_query([("price_min", "200000"), ("price_max", "400000")], Limits()).filters
    assert filters.ranges() == [("price", 200_000, 400_000)]
    assert parse_query([("rating_min", "4.5")], Limits()).filters.rating_min == 4.5
    assert parse_query([("rating_min", "1e-05")], Limits()).filters.rating_min == 1e-05


def test_unknown_names_are_listed_and_tracking_ones_are_not() -> None:
    pairs = [("utm_source", "g"), ("utm_campaign", "x"), ("gclid", "1"), ("fbclid", "2"),
             ("msclkid", "3"), ("city", "1"), ("colour_id", "2"), ("make", "1"),
             ("a\r\nb", "1"), ("", "x")]
    assert ignored_names(pairs) == "a%0D%0Ab,city,colour_id"
    assert ignored_names([("utm_x", "1"), ("page", "2")]) is None
    many = ignored_header((f"p{i:02}" for i in range(50)), KNOWN)
    assert many is not None
    assert many.split(",") == [f"p{i:02}" for i in range(20)]


# ----------------------------------------------------------------------------- tokens


def bearer(**claims: Any) -> str:
    return "Bearer " + jwt.encode({"sub": "5", **claims}, SECRET, algorithm="HS256")


def test_time_claims_allow_the_configured_clock_skew() -> None:
    now = 1_900_000_000.0
    verifier = TokenVerifier(SECRET, "HS256", clock=lambda: now, leeway_s=30)
    assert verifier.identity(bearer(exp=int(now) - 29)).buyer_id == 5
    assert verifier.identity(bearer(exp=int(now) + 60, nbf=int(now) + 29)).buyer_id == 5
    assert verifier.identity(bearer(exp=int(now) + 60, iat=int(now) + 30)).buyer_id == 5
    for late in (bearer(exp=int(now) - 30), bearer(exp=int(now) + 60, nbf=int(now) + 31),
                 bearer(exp=int(now) + 60, iat=int(now) + 31)):
        with pytest.raises(ApiError) as raised:
            verifier.identity(late)
        assert raised.value.status == 401
    strict = TokenVerifier(SECRET, "HS256", clock=lambda: now)
    with pytest.raises(ApiError):
        strict.identity(bearer(exp=int(now) - 1))


def test_a_remembered_token_expires_with_the_same_leeway() -> None:
    now = [1_900_000_000.0]
    verifier = TokenVerifier(SECRET, "HS256", clock=lambda: now[0], leeway_s=30)
    header = bearer(exp=int(now[0]) + 10)
    assert verifier.identity(header).buyer_id == 5
    now[0] += 39
    assert verifier.identity(header).buyer_id == 5  # remembered, within the leeway
    now[0] += 1
    with pytest.raises(ApiError) as raised:
        verifier.identity(header)
    assert raised.value.detail == "token expired"


@pytest.mark.parametrize("claims", [
    {"exp": str(int(time.time()) + 3600)}, {"exp": [1]}, {"exp": {"a": 1}}, {"exp": None},
    {"exp": True}, {"exp": int(time.time()) + 3600, "nbf": "0"},
    {"exp": int(time.time()) + 3600, "iat": [0]},
])
def test_non_numeric_time_claims_are_a_401(claims: dict[str, Any]) -> None:
    with pytest.raises(ApiError) as raised:
        TokenVerifier(SECRET, "HS256", leeway_s=30).identity(bearer(**claims))
    assert raised.value.status == 401
    response = errors.render(raised.value, 1, Metrics())
    assert response is not None
    assert body(response)["error"] == "invalid token"


def test_the_leeway_is_a_setting_of_30_seconds_by_default() -> None:
    assert ApiSettings(valkey_url="valkey://x", jwt_secret=SECRET).jwt_leeway_s == 30
    assert ApiSettings(valkey_url="valkey://x", jwt_secret=SECRET,
                       jwt_leeway_s=5).jwt_leeway_s == 5


@pytest.mark.parametrize("exc", [
    ClusterDownError("The cluster is down"), MasterDownError("MASTERDOWN"),
    TryAgainError("TRYAGAIN"), SlotNotCoveredError("Slot 9 is not covered by the cluster."),
])
def test_a_cluster_node_or_slot_away_is_a_503_not_a_500(exc: Exception) -> None:
    response = errors.render(exc, 1, Metrics())
    assert response is not None
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"
    assert body(response)["error"] == "cache unavailable"
