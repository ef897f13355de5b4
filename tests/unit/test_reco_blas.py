"""The API's serving process limits the scoring product's BLAS threads (reco/blas.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from carpages_api import app
from carpages_api.reco import blas
from threadpoolctl import threadpool_info


def blas_threads() -> list[int]:
    return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]


@pytest.fixture
def restored() -> Iterator[None]:
    before = blas_threads()
    yield
    if before:
        blas.limit(max(before))


def test_the_app_factory_sets_the_configured_thread_count(
        restored: None, monkeypatch: pytest.MonkeyPatch) -> None:
    if not blas_threads():
        pytest.skip("numpy runs without a BLAS thread pool here")
    monkeypatch.setenv("API_VALKEY_URL", "valkey://127.0.0.1:1/0")
    monkeypatch.setenv("API_JWT_SECRET", "s" * 32)
    most = max(blas_threads())  # what the machine allows (numpy's default)
    app.app_from_environment()  # builds the app; nothing is served or connected
    assert set(blas_threads()) == {1}
    monkeypatch.setenv("API_BLAS_THREADS", str(most))
    app.app_from_environment()
    assert set(blas_threads()) == {most}
