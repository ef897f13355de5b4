"""The contract with valkey-py's internals: fails loudly when an upgrade changes what we use.

carpages_shared.valkey_internals is the only module that touches them; its CONTRACT lists every
class, attribute and parameter list relied on. If this test fails after a valkey upgrade, read
the new valkey source for each name it reports before widening the pinned range.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import inspect
from typing import Any

import pytest
import valkey
import valkey.asyncio
import valkey.cluster
from carpages_shared import valkey_internals as internals
from packaging.requirements import Requirement


def owner(path: str) -> Any:
    module, _, name = path.rpartition(".")
    try:
        return getattr(importlib.import_module(module), name)
    except (ModuleNotFoundError, AttributeError):
        return importlib.import_module(path)


def instances(path: str) -> list[Any]:
    """Objects to look for instance attributes on (no server is contacted)."""
    if path == "valkey.client.Pipeline":
        return [valkey.Valkey().pipeline(transaction=False)]
    if path == "valkey.asyncio.client.Pipeline":
        return [valkey.asyncio.Valkey().pipeline(transaction=False)]
    if path == "valkey.cluster.ClusterPipeline":
        return [cluster_pipeline()]
    if path == "valkey.asyncio.cluster.PipelineCommand":
        return [valkey.asyncio.cluster.PipelineCommand(0, "GET", "a")]
    if path == "valkey.cluster.PipelineCommand":
        return [valkey.cluster.PipelineCommand(("SET", "a", 1))]
    if path == "valkey.asyncio.cluster.ValkeyCluster":
        return [valkey.asyncio.ValkeyCluster(host="127.0.0.1", port=1)]
    if path == "valkey.cluster.ClusterNode":
        return [valkey.cluster.ClusterNode("127.0.0.1", 6379)]
    return []


def cluster_pipeline() -> Any:
    """A cluster pipeline that only queues (no nodes: nothing is sent)."""
    return valkey.cluster.ClusterPipeline(nodes_manager=None, commands_parser=None)


CASES = [(path, name, params) for path, attrs in internals.CONTRACT.items()
         for name, params in attrs.items()]


@pytest.mark.parametrize(("path", "name", "params"), CASES,
                         ids=[f"{p}.{n}" for p, n, _ in CASES])
def test_what_we_rely_on_is_still_there(path: str, name: str, params: tuple[str, ...] | None
                                        ) -> None:
    cls = owner(path)
    found = [getattr(o, name) for o in [cls, *instances(path)] if hasattr(o, name)]
    slots = getattr(cls, "__slots__", ())
    assert found or name in slots or name in getattr(cls, "__annotations__", {}), (
        f"valkey {valkey.__version__}: {path}.{name} is gone")
    if params is not None:
        signature = inspect.signature(found[0])
        actual = tuple(p for p in signature.parameters if p != "self")
        assert actual == params, f"valkey {valkey.__version__}: {path}.{name}{signature} changed"


def test_the_installed_valkey_is_in_the_pinned_range() -> None:
    pins = [Requirement(r) for r in importlib.metadata.requires("carpages-shared") or []]
    valkey_pin = next(r for r in pins if r.name == "valkey")
    assert valkey_pin.specifier.contains(importlib.metadata.version("valkey")), valkey_pin


def test_queued_commands_are_args_and_options_in_order() -> None:
    for pipe in (valkey.Valkey().pipeline(transaction=False),
                 valkey.asyncio.Valkey().pipeline(transaction=False), cluster_pipeline()):
        pipe.set("a", 1)
        pipe.hmget("h", ["x", "y"])
        commands = internals.queued_commands(pipe)
        assert [args for args, _ in commands] == [("SET", "a", 1), ("HMGET", "h", "x", "y")]
        assert all(isinstance(options, dict) for _, options in commands)


def test_packing_and_reply_callbacks_behave_as_batches_expect() -> None:
    conn = valkey.asyncio.Connection()  # never connected: packing is pure
    packed = internals.pack(conn, (("GET", "k"), ("HMGET", "h", "a")))
    assert b"".join(packed) == (b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"
                                b"*3\r\n$5\r\nHMGET\r\n$1\r\nh\r\n$1\r\na\r\n")
    pipe = valkey.asyncio.Valkey().pipeline(transaction=False)
    assert internals.has_reply_callback(pipe, "HGETALL")  # pairs -> dict
    assert not internals.has_reply_callback(pipe, "HMGET")  # returned as read: the fast path
    assert internals.pool_of(valkey.asyncio.Valkey()) is not None


def test_urls_parse_to_connection_options() -> None:
    options = internals.parse_url("valkey://:pw@10.0.0.1:6380/2")
    assert (options["host"], options["port"], options["password"], options["db"]) == (
        "10.0.0.1", 6380, "pw", 2)
    assert "connection_class" in internals.parse_url("valkeys://h:1/0")  # TLS: tracking refuses
