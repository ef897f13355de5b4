"""A lean pipeline for the full rebuild's unfenced bulk writes on a single Valkey.

A full rebuild of 10,000 cars sends ~120,000 commands. Through valkey-py's pipeline each costs
~20 µs of Python (argument handling, per-command packing, per-reply response callbacks): half the
rebuild's time. This pipeline takes the same calls the cache writer makes (`set`, `hset`,
`sadd`, `zadd`, ... — the subset it uses), packs each with libvalkey's C packer as it is queued,
sends the batch in one write and reads the raw replies, raising the first error reply after all
of them are read (as valkey-py's own pipeline does). It borrows a connection from the client's
pool, so authentication, the database number and TLS stay valkey-py's business.

Only the full rebuild's new generation and buyer keys use it: the applier's fenced writes go
through fencing's Lua, and a Valkey Cluster client gets its own pipeline (`bulk_pipeline()`
decides).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import libvalkey
import valkey
from carpages_shared import valkey_internals as internals
from valkey.exceptions import ResponseError


class BulkPipeline:
    """Queue commands now, send them all on `execute()`; replies are returned raw."""

    def __init__(self, client: valkey.Valkey) -> None:
        self.client = client
        self._packed: list[bytes] = []

    def __len__(self) -> int:
        return len(self._packed)

    def execute_command(self, *args: Any) -> BulkPipeline:
        """Queue one command given as its words."""
        self._packed.append(libvalkey.pack_command(args))
        return self

    def set(self, key: str, value: bytes | str | int | float) -> BulkPipeline:
        return self.execute_command("SET", key, value)

    def delete(self, *names: str) -> BulkPipeline:
        return self.execute_command("DEL", *names)

    def expire(self, key: str, seconds: int) -> BulkPipeline:
        return self.execute_command("EXPIRE", key, seconds)

    def hset(self, key: str, *, mapping: Mapping[str, Any]) -> BulkPipeline:
        return self.execute_command("HSET", key, *_pairs(mapping.items()))

    def hdel(self, key: str, *fields: str) -> BulkPipeline:
        return self.execute_command("HDEL", key, *fields)

    def sadd(self, key: str, *members: Any) -> BulkPipeline:
        return self.execute_command("SADD", key, *members)

    def zadd(self, key: str, mapping: Mapping[str, float]) -> BulkPipeline:
        # ZADD takes score before member: the reverse of the mapping's order.
        return self.execute_command("ZADD", key, *_pairs((s, m) for m, s in mapping.items()))

    def execute(self) -> list[Any]:
        """Send everything queued in one write, read every reply, raise the first error."""
        packed, self._packed = self._packed, []
        if not packed:
            return []
        pool, conn = internals.borrow(self.client, "BULK")
        try:
            internals.send_packed_blocking(conn, [b"".join(packed)])
            replies: list[Any] = []
            for _ in packed:
                try:
                    replies.append(internals.read_raw_reply_blocking(conn))
                except ResponseError as exc:  # the reply is consumed: keep reading the rest
                    replies.append(exc)
        except BaseException:
            # Replies may be left unread on this connection: never hand it to another caller.
            internals.drop(conn)
            raise
        finally:
            internals.give_back(pool, conn)
        for number, reply in enumerate(replies, start=1):
            if isinstance(reply, ResponseError):
                raise ResponseError(f"command #{number} of a bulk pipeline failed: {reply}")
        return replies


def _pairs(items: Any) -> list[Any]:
    flat: list[Any] = []
    for a, b in items:
        flat.append(a)
        flat.append(b)
    return flat


def bulk_pipeline(client: Any) -> Any:
    """The lean pipeline on a single Valkey; valkey-py's own on a cluster (slots, redirects)."""
    if isinstance(client, valkey.Valkey):
        return BulkPipeline(client)
    return client.pipeline(transaction=False)
