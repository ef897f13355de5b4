"""The raw floor app answers every request with the recorded page and runs the lifespan."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bench import raw_floor


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    sample = tmp_path / "sample.json"
    sample.write_text(json.dumps({"path": "/listing/7/", "body": '{"price":1}',
                                  "headers": [["content-type", "application/json"],
                                              ["etag", '"abc"']]}))
    monkeypatch.setenv(raw_floor.SAMPLE_ENV, str(sample))
    return raw_floor.create()


async def test_every_request_gets_the_recorded_page(app: Any) -> None:
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    for path in ("/listing/1/", "/anything"):
        await app({"type": "http", "method": "GET", "path": path}, receive, send)
    start, body = sent[0], sent[1]
    assert sent[2:] == sent[:2]
    assert start["status"] == 200
    assert start["headers"] == [(b"content-type", b"application/json"), (b"etag", b'"abc"'),
                                (b"content-length", b"11")]
    assert body == {"type": "http.response.body", "body": b'{"price":1}'}


async def test_lifespan_completes(app: Any) -> None:
    events = iter([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return next(events)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app({"type": "lifespan"}, receive, send)
    assert [m["type"] for m in sent] == ["lifespan.startup.complete",
                                         "lifespan.shutdown.complete"]
