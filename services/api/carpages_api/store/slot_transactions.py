"""MULTI/EXEC (and WATCH) for keys of one hash tag, on a standalone Valkey or a Valkey Cluster.

valkey-py's cluster pipeline has no transactions. A transaction whose keys share one hash tag is
still valid on a cluster when it runs on the node that owns the slot, so here each cluster node
gets a plain client of its own and a transaction runs there. A MOVED/ASK answer (a failover or
resharding moved the slot) refreshes the cluster's slot map; `execute` then tries once more.
The same plain client of the `{cp}` owner carries the listing's pub/sub, which the asyncio
cluster client lacks (classic PUBLISH reaches every node of a cluster).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from carpages_shared import valkey_internals as internals
from valkey.exceptions import ResponseError

from carpages_api.store.clients import ValkeyClient

REDIRECTS: Final = ("MOVED", "ASK", "TRYAGAIN", "CLUSTERDOWN")


def redirected(exc: Exception) -> bool:
    """Whether a plain client's error means "this node no longer serves that slot"."""
    return isinstance(exc, ResponseError) and str(exc).startswith(REDIRECTS)


class SlotTransactions:
    """Transactional pipelines for keys sharing one hash tag."""

    def __init__(self, client: ValkeyClient,
                 connect_node: Callable[[str, int], ValkeyClient] | None = None) -> None:
        """`connect_node(host, port)` makes a plain client; None means `client` is standalone."""
        self.client = client
        self._connect_node = connect_node
        self._nodes: dict[str, Any] = {}

    @property
    def cluster(self) -> bool:
        """Whether transactions run on cluster nodes."""
        return self._connect_node is not None

    async def node(self, key: str) -> Any:
        """A plain client of the server that owns `key`'s slot (the client itself standalone)."""
        if self._connect_node is None:
            return self.client
        await internals.load_slot_map(self.client)  # a no-op once loaded
        name, host, port = internals.slot_owner(self.client, key)
        plain = self._nodes.get(name)
        if plain is None:
            plain = self._nodes[name] = self._connect_node(host, port)
        return plain

    async def pipeline(self, key: str) -> Any:
        """A MULTI/EXEC pipeline (WATCH allowed) for keys sharing `key`'s hash tag."""
        return (await self.node(key)).pipeline(transaction=True)

    async def execute(self, key: str, queue: Callable[[Any], None]) -> list[Any]:
        """Run the commands `queue` adds in one MULTI/EXEC; retry once after a moved slot."""
        for attempt in (0, 1):
            pipe = await self.pipeline(key)
            queue(pipe)
            try:
                return list(await pipe.execute())
            except ResponseError as exc:
                if attempt or not self.cluster or not redirected(exc):
                    raise
                await self.refresh()
        raise AssertionError("unreachable")

    async def refresh(self) -> None:
        """Reload the cluster's slot map (after a MOVED answer)."""
        if self.cluster:
            await internals.reload_slot_map(self.client)

    async def aclose(self) -> None:
        """Close the per-node clients (the cluster client is closed by its owner)."""
        nodes, self._nodes = self._nodes, {}
        for plain in nodes.values():
            await plain.aclose()
