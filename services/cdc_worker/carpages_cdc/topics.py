"""Topic names and their creation (CreateTopics through aiokafka's admin client).

Topics are created explicitly with the configured partition count instead of relying on the
broker's auto-creation (Tansu and Kafka both auto-create on produce, with *their* defaults).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from carpages_cdc.apply.dependency_map import TABLES
from carpages_cdc.settings import WorkerSettings

log = logging.getLogger(__name__)

TOPIC_EXISTS = 36


def applier_topics(settings: WorkerSettings) -> list[str]:
    """Every topic the applier consumes: the cache's tables and the heartbeat."""
    database = settings.capture_database()
    return [*sorted(settings.topic(database, t) for t in TABLES), settings.heartbeat_topic()]


class TopicMaker:
    """Creates topics once per process (remembering what exists)."""

    def __init__(self, settings: WorkerSettings) -> None:
        self.settings = settings
        self.known: set[str] = set()

    async def ensure(self, topics: Iterable[str]) -> None:
        """Create the topics that do not exist yet (idempotent)."""
        missing = sorted(set(topics) - self.known)
        if not missing:
            return
        admin = AIOKafkaAdminClient(bootstrap_servers=self.settings.kafka_bootstrap_servers,
                                    request_timeout_ms=self.settings.request_timeout_ms)
        await admin.start()
        try:
            existing = set(await admin.list_topics())
            wanted = [NewTopic(t, num_partitions=self.settings.topic_partitions,
                               replication_factor=self.settings.topic_replication)
                      for t in missing if t not in existing]
            if wanted:
                response = await admin.create_topics(wanted)
                for topic, code, message in response.topic_errors:
                    if code not in (0, TOPIC_EXISTS):
                        raise RuntimeError(f"cannot create topic {topic}: {code} {message}")
                log.info("topics: created %s", ", ".join(t.name for t in wanted))
        finally:
            await admin.close()
        self.known.update(missing)
