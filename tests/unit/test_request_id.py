"""X-Request-ID: kept when safe, made when absent or unsafe, echoed, and on every log line."""

from __future__ import annotations

import asyncio
import contextvars
import io
import json
import logging
from typing import Any

import httpx
import pytest
from carpages_api.web.request_id import RequestIdMiddleware, _RandomIds, request_id
from carpages_shared import logs
from starlette.types import Receive, Scope, Send


@pytest.fixture
def json_log(restore_root: logging.Logger, monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    monkeypatch.setenv("LOG_FORMAT", "json")
    out = io.StringIO()
    logs.configure("INFO", stream=out)
    return out


async def page(scope: Scope, receive: Receive, send: Send) -> None:
    """A stand-in endpoint that logs, as code deep inside a request does."""
    logging.getLogger("carpages_api.store").warning("slow read")
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": b"{}"})


async def get(headers: dict[str, str]) -> httpx.Response:
    # Each request in its own task, with its own context, as the server runs them.
    async def one() -> httpx.Response:
        transport = httpx.ASGITransport(app=RequestIdMiddleware(page))
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            return await client.get("/listing/", headers=headers)

    return await asyncio.create_task(one(), context=contextvars.Context())


def ours(out: io.StringIO) -> list[dict[str, Any]]:
    """The stand-in endpoint's log records (httpx logs its own requests too)."""
    records = [json.loads(line) for line in out.getvalue().splitlines()]
    return [r for r in records if r["logger"] == "carpages_api.store"]


def test_a_safe_caller_id_is_kept() -> None:
    assert request_id([(b"x-request-id", b"ssr-7f3a:page.1_b")]) == b"ssr-7f3a:page.1_b"


@pytest.mark.parametrize("value", [b"", b"a b", b"x\n{\"level\": \"ERROR\"}", b"\xff", b"a" * 129])
def test_an_unsafe_or_empty_id_is_replaced(value: bytes) -> None:
    made = request_id([(b"x-request-id", value)])
    assert made != value
    assert len(made) == 32
    assert int(made, 16) >= 0


def test_ids_are_made_fresh_when_absent() -> None:
    assert request_id([]) != request_id([(b"accept", b"*/*")])


def test_made_ids_stay_distinct_hex_across_random_batches() -> None:
    made = [request_id([]) for _ in range(3 * _RandomIds.BATCH + 7)]
    assert len(set(made)) == len(made)
    assert all(len(rid) == 32 and int(rid, 16) >= 0 for rid in made)


def test_a_forked_child_draws_new_bits() -> None:
    ids = _RandomIds()
    ids.next()
    stock = ids._hex
    ids._discard()  # what os.register_at_fork runs in the child
    assert ids.next() not in stock


async def test_the_response_echoes_the_callers_id_and_logs_carry_it(
        json_log: io.StringIO) -> None:
    response = await get({"X-Request-ID": "ssr-123"})
    assert response.status_code == 200
    assert response.headers["x-request-id"] == "ssr-123"
    [record] = ours(json_log)
    assert record["message"] == "slow read"
    assert record["request_id"] == "ssr-123"


async def test_a_made_id_is_on_the_response_and_in_the_log(json_log: io.StringIO) -> None:
    first, second = await get({}), await get({})
    made = first.headers["x-request-id"]
    assert len(made) == 32
    assert made != second.headers["x-request-id"]
    assert [r["request_id"] for r in ours(json_log)] == [made, second.headers["x-request-id"]]
    assert logs.request_id.get() is None  # nothing leaked into the caller's context
