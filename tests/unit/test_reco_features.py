"""Item features: the trainer and the API must derive the same features for the same car."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import numpy as np
from carpages_reco.features import (
    build_scheme,
    car_features,
    item_feature_matrix,
    quantile_edges,
    vocabulary,
)
from carpages_reco.source import CarAttributes, car_attributes
from carpages_shared.assembly import index_entry
from carpages_shared.car_rows import CarRecord
from carpages_shared.reco_format import FeatureScheme, attribute_features


def record(car_id: int = 5, price: int = 725000) -> CarRecord:
    moment = dt.datetime(2024, 7, 1, 10, 0)
    return CarRecord(
        id=car_id, status="live", price=price, year=2019, km_driven=42000, fuel_type="diesel",
        transmission="automatic", owner_count=1, rating=Decimal("4.2"),
        registration_state="MH", date_created=moment, date_updated=moment, make=(2, "Tata"),
        model=(7, "Nexon", "compact_suv"), variant=(70, "XZ"), color=(1, "Red", "#ff0000"),
        city=(3, "Mumbai"), locality=(30, "Andheri"), seller_kind="dealer",
        seller_mobile_no="9999999999", features=[(20, "Sunroof", "comfort")])


def test_trainer_rows_and_index_memberships_give_the_same_features() -> None:
    car = record()
    scheme = FeatureScheme(body_types={"7": "compact_suv"},
                           bands={"price": (500000.0, 900000.0), "year": (2018.0,),
                                  "km": (20000.0, 60000.0)})
    entry = index_entry(car)  # what the API reads back from keys.memberships(build)
    served = attribute_features(entry.sets, entry.scores, scheme)
    row = (car.id, car.status, car.price, car.year, car.km_driven, car.fuel_type,
           car.transmission, car.make[0], car.model[0], car.city[0])
    trained = car_attributes(row)
    assert trained.live
    assert sorted(attribute_features(trained.sets, trained.scores, scheme)) == sorted(served)
    assert "body_type=compact_suv" in served
    assert "price_band=1" in served


def test_quantile_edges_are_distinct_and_sorted() -> None:
    edges = quantile_edges([float(v) for v in range(100)], 4)
    assert list(edges) == sorted(set(edges))
    assert len(edges) == 3
    assert quantile_edges([5.0] * 10, 4) == (5.0,)
    assert quantile_edges([], 4) == ()


def test_scheme_bands_come_from_live_cars() -> None:
    live = [CarAttributes(i, True, (), (("price", float(i * 1000)), ("year", 2015.0),
                                        ("km", 1.0))) for i in range(1, 101)]
    sold = [CarAttributes(1000, False, (), (("price", 1e9), ("year", 1990.0), ("km", 1.0)))]
    scheme = build_scheme(live + sold, {"7": "suv"}, {"price": 4, "year": 2, "km": 2})
    assert max(scheme.bands["price"]) < 100_000
    assert scheme.body_types == {"7": "suv"}


def test_item_feature_matrix_rows_are_normalised_with_identity_last() -> None:
    names = [["make_id=1", "model_id=2"], ["make_id=1"], []]
    vocab = vocabulary(names)
    matrix = item_feature_matrix([10, 11, 12], names, vocab).toarray()
    assert matrix.shape == (3, len(vocab) + 3)
    np.testing.assert_allclose(matrix.sum(axis=1), 1.0, rtol=1e-6)
    assert matrix[0, len(vocab) + 0] == np.float32(1 / 3)
    assert matrix[2, len(vocab) + 2] == 1.0  # a car with no attributes is its identity alone


def test_identity_weight_is_relative_to_one_attribute() -> None:
    names = [["make_id=1", "model_id=2"], []]
    vocab = vocabulary(names)
    matrix = item_feature_matrix([10, 11], names, vocab, identity_weight=0.5).toarray()
    np.testing.assert_allclose(matrix[0], [0.4, 0.4, 0.2, 0.0])
    np.testing.assert_allclose(matrix[1], [0.0, 0.0, 0.0, 1.0])  # never an empty row
    only_attributes = item_feature_matrix([10], names[:1], vocab, identity_weight=0.0)
    np.testing.assert_allclose(only_attributes.toarray()[0], [0.5, 0.5, 0.0])


def test_car_features_follow_the_scheme() -> None:
    cars = [CarAttributes(1, True, (("make_id", "2"), ("color_id", "5")), (("price", 10.0),))]
    scheme = FeatureScheme(body_types={}, bands={"price": (5.0,)})
    assert car_features(cars, scheme) == [["make_id=2", "price_band=1"]]
