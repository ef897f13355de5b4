"""The one place that touches valkey-py's undocumented internals, each behind a typed function.

The API answers hot requests over pooled connections itself (store.batches), queues for pooled
connections (store.queueing_pool), gates the cluster client (store.gated_cluster) and runs
transactions on the node owning a slot (store.slot_transactions); the worker's fencing reads a
pipeline's queued commands, its full rebuild borrows pooled connections (bulk_pipeline) and
its cluster transactions run on the owning node's client (valkey_client). None of that is
valkey-py's public API, so every such use goes through here, the valkey range is pinned in
pyproject.toml, and `CONTRACT` lists what is relied on: tests/unit/test_valkey_internals.py
checks it against the installed valkey and fails loudly when an upgrade changes it. Delegation
only: this module opens nothing and sends nothing itself.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, Final

Command = tuple[tuple[Any, ...], dict[str, Any]]
"""One queued pipeline command: (arguments, options)."""

CONTRACT: Final = {
    # class path: {attribute: parameter names after self (None: a plain attribute)}
    "valkey.client.Pipeline": {"command_stack": None},
    "valkey.asyncio.client.Pipeline": {
        "command_stack": None, "response_callbacks": None,
        "parse_response": ("connection", "command_name", "options"),
        "raise_first_error": ("commands", "response"),
    },
    "valkey.asyncio.connection.AbstractConnection": {
        "pack_commands": ("commands",),
        "send_packed_command": ("command", "check_health"),
        "read_response": ("disable_decoding", "timeout", "disconnect_on_error", "push_request"),
        "disconnect": ("nowait",),
    },
    "valkey.asyncio.connection.ConnectionPool": {
        "get_connection": ("command_name", "keys", "options"),
        "release": ("connection",),
        "reset": (),
        "can_get_connection": (),
        "get_available_connection": (),
        "ensure_connection": ("connection",),
    },
    "valkey.asyncio.cluster.ValkeyCluster": {
        "execute_command": ("args", "kwargs"),
        "pipeline": ("transaction", "shard_hint"),
        "initialize": (),
        "get_node_from_key": ("key", "replica"),
        "nodes_manager": None,
        # store.gated_cluster's slot-map re-read (it overrides the three methods).
        "_execute_command": ("target_node", "args", "kwargs"),
        "_reset_for_reinitialize": (),
        "commands_parser": None, "_initialize": None, "_lock": None, "_closed": None,
        "get_primaries": (), "set_default_node": ("node",), "ERRORS_ALLOW_RETRY": None,
    },
    "valkey.asyncio.cluster.NodesManager": {
        "initialize": (), "set_nodes": ("old", "new", "remove_old"), "startup_nodes": None,
        "nodes_cache": None, "slots_cache": None, "default_node": None,
    },
    "valkey.asyncio.cluster.ClusterNode": {"name": None, "server_type": None},
    "valkey.asyncio.cluster.PipelineCommand": {"args": None, "result": None},
    "valkey._parsers.commands.AsyncCommandsParser": {"initialize": ("node",)},
    "valkey.asyncio.cluster.ClusterPipeline": {
        "execute": ("raise_on_error", "allow_redirections"), "_client": None,
        "_execute": ("client", "stack", "raise_on_error", "allow_redirections"),
        "ERRORS_ALLOW_RETRY": None},
    "valkey.connection": {"parse_url": ("url",)},
    # The worker's blocking client: the full rebuild's bulk pipeline and cluster transactions.
    "valkey.connection.ConnectionPool": {"get_connection": ("command_name", "keys", "options"),
                                         "release": ("connection",)},
    "valkey.connection.AbstractConnection": {
        "send_packed_command": ("command", "check_health"),
        "read_response": ("disable_decoding", "disconnect_on_error", "push_request"),
        "disconnect": ("args",),
    },
    "valkey.cluster.ValkeyCluster": {"get_node_from_key": ("key", "replica")},
    "valkey.cluster.ClusterNode": {"valkey_connection": None},
    "valkey.cluster.ClusterPipeline": {"command_stack": None, "reset": ()},
    "valkey.cluster.PipelineCommand": {"args": None, "options": None},
}
"""What carpages relies on, by owner: checked by the contract test, not at run time."""


# ----------------------------------------------------------------------------- pipelines
def queued_commands(pipe: Any) -> list[Command]:
    """The commands queued on a (sync or asyncio, standalone or cluster) pipeline, in order."""
    stack: list[Any] = pipe.command_stack
    # A cluster pipeline queues PipelineCommand objects instead of (args, options) tuples.
    return [(c.args, c.options) if hasattr(c, "args") else c for c in stack]


def has_reply_callback(pipe: Any, command_name: Any) -> bool:
    """Whether the client post-processes replies to this command (else they are returned raw)."""
    return command_name in pipe.response_callbacks


async def parse_reply(pipe: Any, connection: Any, command_name: Any,
                      options: dict[str, Any]) -> Any:
    """One reply read and post-processed as `pipe.execute()` would."""
    return await pipe.parse_response(connection, command_name, **options)


def raise_first_error(pipe: Any, commands: list[Command], replies: list[Any]) -> None:
    """Raise the first error among `replies`, annotated as `pipe.execute()` raises it."""
    pipe.raise_first_error(commands, replies)


# ----------------------------------------------------------------------------- connections
def pool_of(client: Any) -> Any | None:
    """A standalone client's connection pool (None for a cluster client)."""
    return getattr(client, "connection_pool", None)


def pack(connection: Any, commands: tuple[tuple[Any, ...], ...]) -> list[bytes]:
    """The wire bytes of these commands (as one write)."""
    packed: list[bytes] = connection.pack_commands(commands)
    return packed


async def send_packed(connection: Any, packed: list[bytes]) -> None:
    """Write packed commands without the per-call health check."""
    await connection.send_packed_command(packed, check_health=False)


async def read_raw_reply(connection: Any) -> Any:
    """The next reply as parsed off the wire (no callback)."""
    return await connection.read_response()


def pool_has_free(pool: Any) -> bool:
    """Whether the pool may hand out a connection without waiting."""
    return bool(pool.can_get_connection())


def pool_take_free(pool: Any) -> Any:
    """A free (possibly new, unconnected) connection from the pool."""
    return pool.get_available_connection()


async def pool_ensure_connected(pool: Any, connection: Any) -> None:
    """Connect (or check) a connection taken from the pool, as get_connection does."""
    await pool.ensure_connection(connection)


# ----------------------------------------------------------------------------- blocking client
def borrow(client: Any, command_name: str) -> tuple[Any, Any]:
    """(pool, connection): a connected connection from a standalone blocking client's pool."""
    pool = client.connection_pool
    return pool, pool.get_connection(command_name)


def give_back(pool: Any, connection: Any) -> None:
    """Return a borrowed connection to its pool."""
    pool.release(connection)


def send_packed_blocking(connection: Any, packed: list[bytes]) -> None:
    """Write packed commands on a blocking connection."""
    connection.send_packed_command(packed)


def read_raw_reply_blocking(connection: Any) -> Any:
    """The next reply on a blocking connection, undecoded and without callback."""
    return connection.read_response(disable_decoding=True)


def drop(connection: Any) -> None:
    """Close a connection whose replies may be left unread (never reuse it)."""
    connection.disconnect()


def node_client(cluster: Any, key: str) -> Any:
    """The plain client of the (blocking) cluster node that owns `key`'s slot."""
    return cluster.get_node_from_key(key).valkey_connection


# ----------------------------------------------------------------------------- cluster
def pipeline_client(pipe: Any) -> Any:
    """The cluster client a ClusterPipeline runs on."""
    return pipe._client


async def load_slot_map(cluster: Any) -> None:
    """Load the cluster's slot map (a no-op once loaded)."""
    await cluster.initialize()


async def reload_slot_map(cluster: Any) -> None:
    """Re-read the cluster's slot map (after a MOVED answer)."""
    await cluster.nodes_manager.initialize()


def keep_connections_on_refresh(cluster: Any) -> None:
    """Make a re-read of `cluster`'s slot map keep the node objects (and their open
    connections) of nodes whose role did not change. Upstream builds fresh node objects and
    disconnects the old ones, failing every round trip in flight on healthy nodes, each of which
    then counts its node as failed and asks for another re-read. A node that failed must still
    get a fresh object (forget_nodes): upstream's node never takes back a connection whose
    request could not be sent, so a kept one would run out of connections."""
    cluster.nodes_manager.__class__ = _nodes_keeping_connections()


@functools.cache
def _nodes_keeping_connections() -> type:
    from valkey.asyncio.cluster import NodesManager  # valkey is a dependency of its callers

    class NodesKeepingConnections(NodesManager):  # type: ignore[misc]  # valkey is untyped
        __slots__ = ()  # the same layout, so an existing manager can take this class

        def set_nodes(self, old: dict[str, Any], new: dict[str, Any],
                      remove_old: bool = False) -> None:
            if old is self.nodes_cache:
                _reuse_known_nodes(self, new)
            super().set_nodes(old, new, remove_old)

    return NodesKeepingConnections


def _reuse_known_nodes(manager: Any, new: dict[str, Any]) -> None:
    """Swap the known node object in for each fresh one of the same name and role, in the
    fresh node map and in the slot map built from it (the fresh objects hold no connection)."""
    for name, node in new.items():
        known = manager.nodes_cache.get(name)
        if known is not None and known is not node and known.server_type == node.server_type:
            new[name] = known
    owners_by_id: dict[int, list[Any]] = {}  # slots of one range share one owner list
    slots = manager.slots_cache
    for slot, owners in slots.items():
        kept = owners_by_id.get(id(owners))
        if kept is None:
            kept = owners_by_id[id(owners)] = [new.get(n.name, n) for n in owners]
        slots[slot] = kept


def forget_nodes(cluster: Any, names: set[str]) -> list[Any]:
    """Take these nodes' objects out of the node map, so that the next slot-map read makes
    fresh ones (with fresh connection pools); returned for the caller to disconnect. Requests
    keep using the old objects through the slot map until that read replaces it."""
    cache = cluster.nodes_manager.nodes_cache
    return [cache.pop(name) for name in names if name in cache]


def failed_command_keys(stack: list[Any], errors: tuple[type[BaseException], ...]) -> list[Any]:
    """The first key of each command of an executed asyncio cluster pipeline whose result is
    one of `errors` or missing (its node could not be sent the commands): which nodes failed."""
    return [c.args[1] for c in stack
            if (c.result is None or isinstance(c.result, errors)) and len(c.args) > 1]


def order_startup_nodes(cluster: Any, rank: Callable[[str], float]) -> None:
    """Ask every known node for the slot map, lowest `rank` (by node name) first. Upstream
    drops a node that failed from its start-up nodes until a re-read succeeds, and otherwise
    keeps the slot map's order, so a frozen first node was asked first on every re-read."""
    manager = cluster.nodes_manager
    known = dict(manager.startup_nodes)
    for name, node in manager.nodes_cache.items():
        known.setdefault(name, node)
    manager.startup_nodes.clear()
    manager.startup_nodes.update(sorted(known.items(), key=lambda item: rank(item[0])))


async def load_command_table(cluster: Any) -> None:
    """Load the command table (key positions) from the cluster's default node."""
    await cluster.commands_parser.initialize(cluster.nodes_manager.default_node)


def slot_owner(cluster: Any, key: str) -> tuple[str, str, int]:
    """(name, host, port) of the primary node that owns `key`'s slot."""
    node = cluster.get_node_from_key(key)
    return node.name, node.host, node.port


# ----------------------------------------------------------------------------- URLs
def parse_url(url: str) -> dict[str, Any]:
    """Connection keyword arguments for a valkey:// / valkeys:// / unix:// URL."""
    from valkey.connection import parse_url as parse  # valkey is a dependency of its callers

    options: dict[str, Any] = parse(url)
    return options
