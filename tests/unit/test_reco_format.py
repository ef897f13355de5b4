"""The published model format: feature scheme, checksum, array codec and verification."""

from __future__ import annotations

import numpy as np
import pytest
from carpages_api.reco.loader import LoadedModel, decode
from carpages_reco.store import encode_array, model_fields
from carpages_shared.reco_format import (
    ARRAY_FIELDS,
    CHECKSUM_FIELD,
    META_FIELD,
    BadModel,
    FeatureScheme,
    ModelMeta,
    attribute_features,
    band,
    checksum,
    verified_meta,
)

SCHEME = FeatureScheme(body_types={"7": "suv"},
                       bands={"price": (300000.0, 600000.0), "year": (2015.0,), "km": ()})


def small_model_fields(k: int = 3, version: str = "v1") -> dict[str, bytes]:
    """A tiny but complete model version, as the trainer would publish it."""
    rng = np.random.default_rng(0)
    attrs = ("body_type=suv", "make_id=2", "model_id=7", "price_band=1")
    n_features = len(attrs) + 2
    arrays: dict[str, np.ndarray] = {
        "item_embeddings": rng.normal(size=(n_features, k)).astype(np.float32),
        "item_biases": rng.normal(size=n_features).astype(np.float32),
        "item_ids": np.array([10, 11], dtype=np.int64),
        "user_embeddings": rng.normal(size=(2, k)).astype(np.float32),
        "user_biases": np.zeros(2, dtype=np.float32),
        "user_ids": np.array([500, 501], dtype=np.int64),
    }
    meta = {"version": version, "created_at": "2024-07-17T00:00:00+00:00", "no_components": k,
            "scheme": SCHEME.model_dump(), "attribute_features": attrs,
            "evaluation": {"model": {"auc": 0.9}}, "training": {"epochs": 1}}
    return model_fields(meta, arrays)


def test_band_counts_edges_at_or_below() -> None:
    assert band(100.0, (300.0, 600.0)) == 0
    assert band(300.0, (300.0, 600.0)) == 1
    assert band(700.0, (300.0, 600.0)) == 2
    assert band(5.0, ()) == 0


def test_attribute_features_from_memberships() -> None:
    sets = [("city_id", "3"), ("make_id", "2"), ("model_id", "7"), ("variant_id", "70"),
            ("color_id", "1"), ("fuel_type", "petrol"), ("transmission", "manual"),
            ("owner", "1"), ("feature", "20")]
    scores = [("price", 450000.0), ("year", 2019.0), ("km", 30000.0), ("created", 1.0),
              ("rating", 4.5)]
    names = attribute_features(sets, scores, SCHEME)
    assert sorted(names) == sorted([
        "city_id=3", "make_id=2", "model_id=7", "body_type=suv", "fuel_type=petrol",
        "transmission=manual", "price_band=1", "year_band=1", "km_band=0"])


def test_model_without_body_type_has_none() -> None:
    names = attribute_features([("model_id", "99")], [], SCHEME)
    assert names == ["model_id=99"]


def test_array_codec_round_trips_exactly() -> None:
    original = np.arange(12, dtype=np.float64).reshape(3, 4) / 7
    raw, spec = encode_array(original)
    assert spec.dtype == "<f4"
    assert spec.shape == (3, 4)
    assert len(raw) == spec.nbytes()
    np.testing.assert_array_equal(decode(raw, spec.dtype, spec.shape),
                                  original.astype(np.float32))
    ids_raw, ids_spec = encode_array(np.array([1, 2**40], dtype=np.int64))
    assert decode(ids_raw, ids_spec.dtype, ids_spec.shape).tolist() == [1, 2**40]


def test_encode_refuses_other_dtypes() -> None:
    with pytest.raises(TypeError):
        encode_array(np.array(["a"]))


def test_checksum_covers_meta_and_every_array() -> None:
    arrays = {name: bytes([i]) * 4 for i, name in enumerate(ARRAY_FIELDS)}
    base = checksum(b"{}", arrays)
    assert checksum(b"{ }", arrays) != base
    for name in ARRAY_FIELDS:
        assert checksum(b"{}", {**arrays, name: arrays[name] + b"x"}) != base


def test_published_fields_verify_and_load() -> None:
    fields = small_model_fields()
    meta = verified_meta(fields)
    assert isinstance(meta, ModelMeta)
    assert meta.version == "v1"
    model = LoadedModel.from_fields({k.encode(): v for k, v in fields.items()})
    assert model.dims == 4
    assert model.identity_rows == {10: 4, 11: 5}
    assert model.buyer_vector(500) is not None
    assert model.buyer_vector(999) is None
    assert model.generic[-1] == 1.0


@pytest.mark.parametrize("field", [META_FIELD, CHECKSUM_FIELD, *ARRAY_FIELDS])
def test_half_written_version_is_refused(field: str) -> None:
    fields = small_model_fields()
    del fields[field]
    with pytest.raises(BadModel, match="missing"):
        verified_meta(fields)


def test_corrupted_array_is_refused() -> None:
    fields = small_model_fields()
    blob = bytearray(fields["item_embeddings"])
    blob[0] ^= 0xFF
    with pytest.raises(BadModel, match="checksum"):
        verified_meta({**fields, "item_embeddings": bytes(blob)})


def test_truncated_array_is_refused_before_decoding() -> None:
    fields = small_model_fields()
    with pytest.raises(BadModel, match="bytes"):
        verified_meta({**fields, "user_embeddings": fields["user_embeddings"][:-4]})


def test_unreadable_meta_is_refused() -> None:
    fields = small_model_fields()
    with pytest.raises(BadModel, match="meta"):
        verified_meta({**fields, META_FIELD: b"not json"})


def test_inconsistent_shapes_are_refused() -> None:
    fields = small_model_fields()
    meta = ModelMeta.model_validate_json(fields[META_FIELD])
    # A meta that claims one more attribute feature than the embeddings have rows for.
    bad = meta.model_copy(update={"attribute_features": (*meta.attribute_features, "x=1")})
    raw = bad.model_dump_json().encode()
    arrays = {n: fields[n] for n in ARRAY_FIELDS}
    forged = {**fields, META_FIELD: raw, CHECKSUM_FIELD: checksum(raw, arrays).encode()}
    with pytest.raises(BadModel, match="shape"):
        verified_meta(forged)
