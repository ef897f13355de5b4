"""API settings, read from the environment by the entrypoint and passed to create_app."""

from __future__ import annotations

from typing import Literal

from carpages_shared.dsn import is_sentinel
from pydantic import AliasChoices, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class ApiSettings(BaseSettings):
    """`API_*` knobs; the stack-wide addresses keep their `.stack/env` names."""

    model_config = SettingsConfigDict(env_prefix="API_", extra="ignore")

    valkey_url: str = Field(
        validation_alias=AliasChoices("API_VALKEY_URL", "VALKEY_URL"),
        description="valkey://host:port/db, or valkey+sentinel://s1:26379,s2:26379/<service>/<db> "
        "for a Sentinel-managed primary (docs/operations.md#valkey-sentinel)")
    valkey_replica_urls: list[str] = Field(
        default_factory=list,
        description="read replicas (JSON list), spread per request; empty = read the primary")
    valkey_cluster: bool = Field(
        False, description="valkey_url is a node of a Valkey Cluster (reads go to each slot's "
                           "primary; valkey_replica_urls must stay empty)")
    valkey_timeout_s: float = Field(0.5, gt=0, description="per-command socket timeout")
    valkey_pool_size: int = Field(64, ge=1)
    valkey_pool_wait_s: float = Field(
        1.0, gt=0, description="longest wait for a free pooled connection before a 503")
    mysql_url: str = Field("", validation_alias=AliasChoices("API_MYSQL_URL", "MYSQL_URL"),
                           description="only for filling a missing page (single-flight)")
    jwt_secret: str = Field(validation_alias=AliasChoices("API_JWT_SECRET", "JWT_SECRET"))
    jwt_algorithm: str = "HS256"
    jwt_leeway_s: float = Field(
        30.0, ge=0, le=3600,
        description="clock skew allowed when checking a token's exp, nbf and iat")
    max_car_id: int = Field(2_147_483_647, ge=1)
    max_seen_ids: int = Field(200, ge=1)
    cache_max_age_s: int = Field(30, ge=0)
    cache_swr_s: int = Field(300, ge=0)
    retry_after_s: int = Field(1, ge=1)
    page_size_default: int = Field(20, ge=1)
    page_size_max: int = Field(35, ge=1)
    page_window: int = Field(1000, ge=1, description="deepest result position a page may reach")
    max_filter_values: int = Field(50, ge=1)
    reco_enabled: bool = Field(True, description="order `reco` listings with the LightFM model")
    blas_threads: int = Field(
        1, ge=1, description="threads of the ranker's scoring product (OpenBLAS): one, as the "
                             "event loop already keeps a core busy (more only lengthened the "
                             "ranking's tail); give every API process the same value")
    l1_cache: bool = Field(
        True, description="keep dedicated-page inputs and anonymous listing pages in process "
                          "memory, exact by Valkey client tracking on the primary (off in "
                          "cluster mode; the listing pages also with replicas)")
    l1_max_cars: int = Field(20_000, ge=1, description="L1 bound: car snapshots (LRU)")
    l1_max_buyers: int = Field(5_000, ge=1, description="L1 bound: buyer snapshots (LRU)")
    listing_l1_max_bytes: int = Field(
        64_000_000, ge=1, description="L1 bound: bytes of anonymous listing pages (LRU)")
    l1_heartbeat_s: float = Field(
        1.0, gt=0, description="PING on the tracking connection; one unanswered by the next "
                               "beat drops the L1 (bounds staleness on a silent partition)")
    server: Literal["uvicorn", "granian"] = Field(
        "uvicorn", description="HTTP server of `python -m carpages_api`: uvicorn (uvloop + "
                               "httptools) or Granian (Rust, ASGI interface); one worker each")
    log_level: str = Field("warning", description="level of the process's log records")
    bench_baseline: bool = Field(
        False, description="mount /_baseline/*: pages built from MySQL per request (benchmark)")

    @model_validator(mode="after")
    def _cluster_has_no_replica_urls(self) -> ApiSettings:
        # A cluster names its own replicas; standalone replica URLs next to it would be ignored
        # silently, which is worse than refusing to start.
        if self.valkey_cluster and self.valkey_replica_urls:
            raise ValueError("valkey_replica_urls cannot be combined with valkey_cluster")
        if self.valkey_cluster and is_sentinel(self.valkey_url):
            raise ValueError("a valkey+sentinel:// URL names a primary, not a cluster node")
        return self
