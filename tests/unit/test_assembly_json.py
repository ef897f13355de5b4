"""The builder's orjson page and card are the pydantic models' bytes, exactly (the API splices
the cached bytes, so any drift would change responses)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from carpages_shared.assembly import card, card_json, iso, page, page_json
from carpages_shared.car_rows import CarRecord


def car(**overrides: object) -> CarRecord:
    base: dict[str, object] = dict(
        id=42, status="live", price=1_250_000, year=2019, km_driven=41_200, fuel_type="petrol",
        transmission="manual", owner_count=1, rating=Decimal("4.5"), registration_state="MH",
        date_created=dt.datetime(2024, 1, 2, 3, 4, 5),
        date_updated=dt.datetime(2024, 6, 7, 8, 9, 10, 123456),
        make=(3, "Maruti Suzuki"), model=(30, "Swift", "hatchback"), variant=(300, "VXi"),
        color=(7, "Pearl White", "#F5F5F0"), city=(1, "Mumbai"), locality=(11, "Andheri"),
        seller_kind="dealer", seller_mobile_no="+919800000000",
        images=[(0, "https://cdn.example/42/0.webp", "front"),
                (1, "https://cdn.example/42/1.webp", "back"),
                (2, "https://cdn.example/42/2.webp", ""),
                (3, "https://cdn.example/42/3.webp", "left"),
                (4, "https://cdn.example/42/4.webp", "right")],
        features=[(1, "ABS", "safety"), (9, "Sunroof", "comfort")],
        inspection=(Decimal("8.5"), "Good", '{"engine": "ok"}', dt.datetime(2024, 5, 1)),
        popularity=12, interested={5, 6},
    )
    base.update(overrides)
    return CarRecord(**base)  # type: ignore[arg-type]


CASES = {
    "typical": car(),
    "no inspection, no images, no features": car(inspection=None, images=[], features=[]),
    "rating and score edges": car(rating=Decimal("0.0"), owner_count=7,
                                  inspection=(Decimal("10.0"), "x", "{}",
                                              dt.datetime(2020, 2, 29, 23, 59, 59))),
    "text that needs escaping": car(
        make=(1, 'Quote " and \\ backslash'), model=(2, "Tab\tNew\nline\x01", "suv"),
        variant=(3, "Unicode ✓ ü 車 😀"), color=(4, "</script>", "#000"),
        locality=(5, "\u2028 separators \u2029"),
        images=[(0, "https://cdn.example/a b?c=d&e=\"f\"", "\x7f")],
        features=[(2, "emoji 🚗", "c\u00e9")]),
    "large numbers": car(id=4_294_967_295, price=4_294_967_295, km_driven=0, year=1900),
}


@pytest.mark.parametrize("record", CASES.values(), ids=list(CASES))
def test_page_json_is_the_models_bytes(record: CarRecord) -> None:
    assert page_json(record) == page(record).model_dump_json().encode()


@pytest.mark.parametrize("record", CASES.values(), ids=list(CASES))
def test_card_json_is_the_models_bytes(record: CarRecord) -> None:
    assert card_json(record) == card(record).model_dump_json().encode()


def test_iso_is_utc_with_a_z_for_naive_and_aware_moments() -> None:
    naive = dt.datetime(2024, 1, 2, 3, 4, 5)
    assert iso(naive) == "2024-01-02T03:04:05Z"
    assert iso(naive.replace(microsecond=7)) == "2024-01-02T03:04:05.000007Z"
    # An aware moment keeps its wall clock (the DB's naive values are UTC already).
    assert iso(naive.replace(tzinfo=dt.UTC)) == "2024-01-02T03:04:05Z"
