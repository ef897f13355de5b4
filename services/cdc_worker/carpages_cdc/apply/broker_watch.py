"""Notices a broker that lost data, so the applier can rebuild what it will never receive.

A partition's log never gets shorter on a healthy broker, so a log end (high watermark) below an
offset the group already committed means the broker lost messages: a Tansu restarted on memory
storage, an unclean leader election, a topic deleted and recreated. Messages acknowledged to the
publisher but never consumed are then gone (the publisher's checkpoint is past them), and only a
full rebuild from MySQL restores what they carried.

The committed offsets are remembered in Valkey (`keys.applier_offsets`), not only in the process:
an applier restarted together with the broker must still notice. A flush loses them together
with the cache, and the empty cache is rebuilt anyway. The high watermark is read from the
consumer's last fetch response (no request of its own).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

import valkey
from aiokafka import AIOKafkaConsumer, TopicPartition
from carpages_shared import keys

log = logging.getLogger(__name__)


def _field(tp: TopicPartition) -> str:
    return f"{tp.topic}:{tp.partition}"


class BrokerWatch:
    """Compares each assigned partition's log end with the offsets the group committed."""

    def __init__(self, consumer: AIOKafkaConsumer, client: Any, group: str) -> None:
        self.consumer = consumer
        self.client = client
        self.key = keys.applier_offsets(group)
        self.offsets: dict[str, int] | None = None

    async def _load(self) -> dict[str, int]:
        if self.offsets is None:
            raw = await asyncio.to_thread(self.client.hgetall, self.key)
            self.offsets = {k.decode(): int(v) for k, v in raw.items()}
        return self.offsets

    async def lost_data(self) -> bool:
        """Whether some assigned partition's log now ends before an offset we committed."""
        offsets = await self._load()
        if not offsets:
            return False
        for tp in self.consumer.assignment():
            committed = offsets.get(_field(tp))
            end = self.consumer.highwater(tp)
            if committed is not None and end is not None and end < committed:
                log.error("broker lost data: %s ends at %d, but offset %d was committed; "
                          "rebuilding the cache from MySQL", _field(tp), end, committed)
                return True
        return False

    async def committed(self, offsets: Mapping[TopicPartition, int]) -> None:
        """Record a commit the broker accepted (best effort: a Valkey outage only delays it)."""
        known = await self._load()
        fields = {_field(tp): offset for tp, offset in offsets.items()}
        known.update(fields)
        if fields:
            try:
                await asyncio.to_thread(self.client.hset, self.key, mapping=fields)
            except valkey.ValkeyError as exc:
                log.debug("committed offsets not recorded: %s", exc)

    async def rebuilt(self) -> None:
        """The cache was rebuilt after a loss: forget the old log's offsets, replay the new."""
        await asyncio.to_thread(self.client.delete, self.key)
        self.offsets = {}
        assigned = list(self.consumer.assignment())
        if assigned:
            await self.consumer.seek_to_beginning(*assigned)
