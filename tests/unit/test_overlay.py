"""The dedicated page's pure per-request logic: overlay bytes, splice, ETag, paid gating, ids."""

from __future__ import annotations

import orjson
import pytest
from carpages_api.auth.tokens import Identity, TokenVerifier
from carpages_api.dedicated.overlay import (
    NotAJsonObject,
    Overlay,
    PageRead,
    etag,
    etag_matches,
    splice,
)
from carpages_api.errors import ApiError
from carpages_api.web.id_params import parse_id, parse_id_list
from carpages_shared.payloads import BuyerOverlay, DedicatedPageResponse
from hypothesis import given
from hypothesis import strategies as st

REPORT = b'{"engine":"ok","tyres":{"front":7}}'
PAGE = orjson.dumps({"schema_version": 1, "id": 7, "price": 450000, "nested": {"a": [1, 2]}})

json_scalars = st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=20)
json_objects = st.dictionaries(st.text(max_size=10), json_scalars, max_size=6)


def test_overlay_serialises_every_field_in_schema_order() -> None:
    raw = Overlay(True, False, 420000, 3, "+9198", REPORT).to_json()
    data = orjson.loads(raw)
    assert list(data) == list(BuyerOverlay.model_fields)
    assert data["inspection_report"] == orjson.loads(REPORT)
    assert BuyerOverlay.model_validate_json(raw).offer_amount == 420000


def test_overlay_embeds_the_stored_report_verbatim() -> None:
    raw = Overlay(False, False, None, 0, None, REPORT).to_json()
    assert REPORT in raw


def test_anonymous_overlay_has_nulls_for_paid_fields() -> None:
    data = orjson.loads(Overlay(False, False, None, 0).to_json())
    assert data["seller_mobile_no"] is None
    assert data["inspection_report"] is None


@given(json_objects, json_objects)
def test_splice_equals_merging_the_parsed_objects(page: dict[str, object],
                                                  extra: dict[str, object]) -> None:
    extra = {f"o_{k}": v for k, v in extra.items()}  # overlay names never clash with the page's
    spliced = splice(orjson.dumps(page), orjson.dumps(extra))
    assert orjson.loads(spliced) == {**page, **extra}


def test_splice_keeps_page_bytes_untouched() -> None:
    overlay = Overlay(False, True, None, 2).to_json()
    body = splice(PAGE, overlay)
    assert body.startswith(PAGE[:-1] + b",")
    assert body.endswith(overlay[1:])
    response = DedicatedPageResponse.model_json_schema()["properties"]
    assert set(orjson.loads(overlay)) <= set(response)


@pytest.mark.parametrize(("page", "overlay"), [
    (b"[1,2]", b"{}"), (b"{\"a\":1}", b"null"), (b"", b"{}"), (b"{\"a\":1", b"{}"),
])
def test_splice_rejects_non_objects(page: bytes, overlay: bytes) -> None:
    with pytest.raises(NotAJsonObject):
        splice(page, overlay)


def test_splice_of_empty_objects() -> None:
    assert orjson.loads(splice(b"{}", b'{"a":1}')) == {"a": 1}
    assert orjson.loads(splice(b'{"a":1}', b"{}")) == {"a": 1}


@given(st.binary(max_size=200), st.binary(max_size=200))
def test_etag_is_strong_and_changes_with_the_bytes(a: bytes, b: bytes) -> None:
    assert etag(a) == etag(a)
    assert etag(a).startswith('"')
    assert etag(a).endswith('"')
    assert (etag(a) == etag(b)) == (a == b)


@pytest.mark.parametrize(("header", "matches"), [
    (None, False), ("", False), ('"abc"', True), ('W/"abc"', True), ('"x", "abc"', True),
    ('"x" , W/"abc"', True), ("*", True), ('"abcd"', False), ("abc", False),
])
def test_if_none_match(header: str | None, matches: bool) -> None:
    assert etag_matches(header, '"abc"') is matches


def read(**kw: object) -> PageRead:
    base: dict[str, object] = {"car_id": 7, "page": PAGE, "known_missing": False,
                               "interested": 4}
    return PageRead(**{**base, **kw})  # type: ignore[arg-type]


NOW = 1_700_000_000.0


def test_paid_buyer_sees_private_fields() -> None:
    got = read(buyer_id=5, paid_until=b"1700000100", seller_mobile_no=b"+91 98",
               inspection_report=REPORT, offer=b"410000", seen=True).overlay((), NOW)
    assert got == Overlay(True, False, 410000, 4, "+91 98", REPORT)


@pytest.mark.parametrize("paid_until", [None, b"1699999999", b"1700000000", b"garbage"])
def test_unpaid_or_lapsed_buyer_never_sees_private_fields(paid_until: bytes | None) -> None:
    got = read(buyer_id=5, paid_until=paid_until, seller_mobile_no=b"+91",
               inspection_report=REPORT).overlay((), NOW)
    assert got.seller_mobile_no is None
    assert got.inspection_report is None


def test_anonymous_never_paid_even_with_a_paid_until() -> None:
    got = read(paid_until=b"9999999999", seller_mobile_no=b"+91").overlay((), NOW)
    assert got.seller_mobile_no is None


def test_is_seen_from_the_buyer_set_or_the_anonymous_list() -> None:
    assert read().overlay((1, 7), NOW).is_seen is True
    assert read().overlay((1, 2), NOW).is_seen is False
    assert read(buyer_id=3, seen=True).overlay((), NOW).is_seen is True


@pytest.mark.parametrize("raw", ["1", "42", "2147483647", "000017"])
def test_parse_id_accepts(raw: str) -> None:
    assert parse_id(raw, "car_id", 2_147_483_647) == int(raw)


@pytest.mark.parametrize("raw", ["", " 42 ", "0", "-1", "+1", "1.5", "1e3", "abc", "١٢",
                                 "2147483648",
                                 "9" * 40, "00000000000000000000001x"])
def test_parse_id_rejects_with_the_parameter_name(raw: str) -> None:
    with pytest.raises(ApiError) as err:
        parse_id(raw, "car_id", 2_147_483_647)
    assert err.value.status == 422
    assert err.value.detail[0]["param"] == "car_id"


def test_parse_id_list() -> None:
    assert parse_id_list(None, "seen_car_ids", 100, 3) == ()
    assert parse_id_list("", "seen_car_ids", 100, 3) == ()
    assert parse_id_list("1,2,3", "seen_car_ids", 100, 3) == (1, 2, 3)
    for bad in ("1,2,3,4", "1,,2", "1,x", "1,101", ",", "1," + "9" * 200):
        with pytest.raises(ApiError) as err:
            parse_id_list(bad, "seen_car_ids", 100, 3)
        assert err.value.detail[0]["param"] == "seen_car_ids"


def test_identity_without_header_is_anonymous() -> None:
    assert TokenVerifier("s" * 32, "HS256").identity(None) == Identity(None)
    assert Identity(None).anonymous
