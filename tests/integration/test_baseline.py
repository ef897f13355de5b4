"""The benchmark's DB-direct baseline serves the same page and card data as the cache."""

from __future__ import annotations

import orjson
import pytest
from carpages_api.settings import ApiSettings
from carpages_local import stack
from carpages_shared.payloads import BuyerOverlay

from tests.conftest import mysql_url
from tests.integration.listing_support import full_build, serving


@pytest.fixture
def settings(stack_env: stack.StackEnv, seeded_db: str, valkey_url: str) -> ApiSettings:
    db_url = mysql_url(stack_env, seeded_db)
    full_build(db_url, valkey_url)
    return ApiSettings(valkey_url=valkey_url, mysql_url=db_url, jwt_secret="x" * 32,
                       bench_baseline=True)


async def test_baseline_page_equals_cached_page(settings: ApiSettings) -> None:
    overlay = set(BuyerOverlay.model_fields)
    async with serving(settings) as api:
        listing = orjson.loads((await api.get("/listing/?order_by=newest&page_size=5")).content)
        for card in listing["results"]:
            cached = orjson.loads((await api.get(f"/listing/{card['id']}/")).content)
            direct = await api.get(f"/_baseline/listing/{card['id']}/")
            assert direct.status_code == 200
            assert orjson.loads(direct.content) == {
                k: v for k, v in cached.items() if k not in overlay}
        assert (await api.get("/_baseline/listing/999999999/")).status_code == 404


async def test_baseline_listing_matches_the_price_ordered_listing(settings: ApiSettings) -> None:
    async with serving(settings) as api:
        cached = orjson.loads((await api.get("/listing/?city_id=1&order_by=price_asc")).content)
        direct = orjson.loads((await api.get("/_baseline/listing/?city_id=1")).content)
    assert direct["count"] == cached["count"]
    strip = ("schema_version",)
    assert [{k: v for k, v in c.items() if k not in strip} for c in direct["results"]] == [
        {k: v for k, v in c.items() if k not in strip} for c in cached["results"]]


async def test_baseline_is_not_mounted_by_default(settings: ApiSettings) -> None:
    async with serving(settings.model_copy(update={"bench_baseline": False})) as api:
        assert (await api.get("/_baseline/listing/1/")).status_code == 404
