"""Worker settings, read from the environment at the entrypoint (never at import)."""

from __future__ import annotations

import socket
import tempfile
import zlib
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

CDC_SCHEMA = "carpages_cdc"
"""Schema the CDC user owns: checkpoint, lease and heartbeat tables (as Maxwell keeps its own)."""


class WorkerSettings(BaseSettings):
    """`CDC_*` knobs; the stack-wide addresses keep their `.stack/env` names."""

    model_config = SettingsConfigDict(env_prefix="CDC_", extra="ignore")

    # ------------------------------------------------------------------ addresses
    mysql_url: str = Field(validation_alias=AliasChoices("CDC_MYSQL_URL", "MYSQL_URL"))
    mysql_cdc_url: str = Field(
        "", validation_alias=AliasChoices("CDC_MYSQL_CDC_URL", "MYSQL_CDC_URL"),
        description="replication user (binlog, positions, carpages_cdc); empty = mysql_url")
    valkey_url: str = Field(
        validation_alias=AliasChoices("CDC_VALKEY_URL", "VALKEY_URL"),
        description="valkey://host:port/db, or valkey+sentinel://s1:26379,s2:26379/<service>/<db> "
        "for a Sentinel-managed primary (docs/operations.md#valkey-sentinel)")
    valkey_cluster: bool = Field(
        False, validation_alias=AliasChoices("CDC_VALKEY_CLUSTER", "VALKEY_CLUSTER"),
        description="valkey_url is a node of a Valkey Cluster: fenced writes are split by slot "
        "(docs/operations.md#valkey-cluster)")
    kafka_bootstrap_servers: str = Field(
        "127.0.0.1:9092",
        validation_alias=AliasChoices("CDC_KAFKA_BOOTSTRAP_SERVERS", "KAFKA_BOOTSTRAP_SERVERS"))
    build_batch_size: int = Field(2000, ge=1, le=20000)
    metrics_port: int = Field(0, ge=0, le=65535, description="0 = no metrics endpoint")

    # ------------------------------------------------------------------ identity
    name: str = Field("carpages", min_length=1, max_length=100,
                      description="pipeline name: checkpoint, lease and heartbeat rows")
    instance: str = Field(default_factory=socket.gethostname,
                          description="this process's identity in liveness keys")
    database: str = Field("", description="schema to capture; empty = the one in mysql_url")
    include_tables: list[str] = Field(default_factory=list, description="empty = every table")
    exclude_tables: list[str] = Field(default_factory=lambda: ["schema_migrations"])
    server_id: int = Field(0, ge=0, le=4_294_967_295,
                           description="replica id on the binlog; 0 = derived from name")

    # ------------------------------------------------------------------ topics
    topic_prefix: str = Field("", description="prepended to `{database}.{table}`")
    topic_partitions: int = Field(3, ge=1, le=1000)
    topic_replication: int = Field(1, ge=1, le=10, description="3 on a real Kafka cluster")
    dead_letter_topic: str = "carpages_cdc.dead_letter"
    group_id: str = "carpages-applier"
    partitions: str = Field(
        "group", pattern=r"^(group|all|\d+/\d+)$",
        description="'group': share the partitions with the group's other appliers (consumer "
        "group rebalancing); 'all' or 'k/n': take every partition p with p % n == k without "
        "joining a group (a fixed set of appliers, e.g. a StatefulSet's ordinals): a restart or "
        "a broker restart resumes at once, with no rebalance to wait for")
    static_membership: bool = Field(
        True, description="join the group as `CDC_INSTANCE` (KIP-345): a restarted applier "
        "takes its partitions back at once instead of after the dead member's session "
        "timeout; every applier of a group needs its own CDC_INSTANCE (the pod name)")

    # ------------------------------------------------------------------ publisher
    queue_size: int = Field(2000, ge=1, description="binlog items between reader and sender "
                            "(the rows of one binlog rows event count as one item)")
    max_in_flight: int = Field(5000, ge=1, description="unacknowledged messages at most")
    checkpoint_interval_s: float = Field(0.5, gt=0)
    heartbeat_interval_s: float = Field(5.0, gt=0, description="heartbeat row period")
    binlog_heartbeat_s: float = Field(1.0, gt=0, description="master heartbeat when idle")
    lease_ttl_s: float = Field(15.0, gt=0)
    producer_linger_ms: int = Field(
        0, ge=0, description="0 = a message goes out with the next produce request: while one "
        "is in flight the next batch fills by itself, so a bulk change still sends large "
        "batches, and a single-row change is not held back (5 ms cost ~10 ms of freshness p50 "
        "at 200 rows/s and no bulk throughput)")
    producer_batch_bytes: int = Field(
        262_144, ge=16_384, description="per-partition batch: a bulk change sends few large "
        "batches (aiokafka's 16 KiB default made one produce round per ~14 rows)")
    request_timeout_ms: int = Field(15000, ge=1000)
    fast_rows: bool = Field(
        True, description="decode binlog rows with decoders compiled per table layout, parse "
        "each table map layout once (not once per transaction), and "
        "encode messages straight to JSON (same values and bytes as the library and the "
        "pydantic model, at several times the rows per CPU-second); false = the library's "
        "row decoding and the model's encoding, to compare or to rule the fast path out")
    resnapshot_when_purged: bool = Field(
        False, description="binlog purged past the checkpoint: re-snapshot instead of failing")
    bootstrap_build: bool = Field(True, description="first start builds the cache")

    # ------------------------------------------------------------------ applier
    fetch_max_wait_ms: int = Field(10, ge=0)
    session_timeout_ms: int = Field(10000, ge=1000, description="a dead member's partitions move")
    heartbeat_interval_ms: int = Field(3000, ge=100)
    poll_timeout_ms: int = Field(200, ge=1)
    apply_batch_max: int = Field(2000, ge=1, description="records per getmany")
    apply_build_batch_size: int = Field(
        200, ge=1, description="cars per fenced write (one Lua call blocks Valkey that long)")
    fence_retries: int = Field(8, ge=1, description="conflicted attempts of a fenced batch "
                               "before it is written one entity at a time")
    quarantine_repair_s: float = Field(30.0, gt=0, description="retry quarantined entities")
    rebuild_overlap_s: float = Field(
        600.0, ge=0, description="work re-applied after someone else's full rebuild switches")
    liveness_stale_s: float = Field(120.0, gt=0, description="no loop turn this long = wedged")
    heartbeat_dir: str = Field(default_factory=tempfile.gettempdir,
                               description="local heartbeat files `cdc_worker check` reads")
    reconcile_interval_s: float = Field(0.0, ge=0, description="sampled reconcile; 0 = off")
    reconcile_sample: float = Field(0.01, gt=0, le=1)
    reconcile_recheck_s: float = Field(2.0, ge=0, description="wait before confirming a diff")

    # ------------------------------------------------------------------ retries
    retry_initial_s: float = Field(0.2, gt=0)
    retry_max_s: float = Field(
        2.0, gt=0, description="back-off cap between publish sessions: a MySQL or broker that "
        "is back is used within seconds (each retry costs one connection attempt)")
    apply_backoff_max_s: float = Field(
        2.0, gt=0, description="the applier's back-off cap: it retries a batch forever, and a "
        "dependency that is back must be used within seconds")
    valkey_timeout_s: float = Field(
        10.0, gt=0, description="socket timeout of the worker's Valkey commands: longer than "
        "any one write, so a frozen Valkey fails the call instead of wedging the loop")
    shutdown_timeout_s: float = Field(20.0, gt=0)

    # ------------------------------------------------------------------ derived
    def partition_share(self) -> tuple[int, int] | None:
        """(k, n) when this applier takes a fixed share of the partitions; None = group."""
        if self.partitions == "group":
            return None
        if self.partitions == "all":
            return 0, 1
        k, n = (int(x) for x in self.partitions.split("/"))
        if not 0 <= k < n:
            raise ValueError(f"CDC_PARTITIONS={self.partitions}: need 0 <= k < n")
        return k, n

    def capture_database(self) -> str:
        """The schema whose tables are captured and rebuilt."""
        return self.database or urlsplit(self.mysql_url).path.lstrip("/")

    def cdc_url(self) -> str:
        """URL of the replication user (falls back to the application user)."""
        return self.mysql_cdc_url or self.mysql_url

    def replica_server_id(self) -> int:
        """Our id on the binlog stream; the same name reconnects as the same replica."""
        return self.server_id or 10_000 + zlib.crc32(self.name.encode()) % 2_000_000_000

    def topic(self, database: str, table: str) -> str:
        """Topic of one table: seed 001's `{database}.{table}` with the optional prefix."""
        return f"{self.topic_prefix}{database}.{table}"

    def heartbeat_topic(self) -> str:
        """Topic the heartbeat row's changes go to."""
        return self.topic(CDC_SCHEMA, "heartbeat")

    def dead_letters(self) -> str:
        """Dead-letter topic, prefixed like the others."""
        return f"{self.topic_prefix}{self.dead_letter_topic}"

    def captures(self, table: str) -> bool:
        """Whether a table of the captured schema is published."""
        if table in self.exclude_tables:
            return False
        return not self.include_tables or table in self.include_tables
