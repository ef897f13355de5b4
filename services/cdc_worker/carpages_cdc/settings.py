"""Worker settings, read from the environment at the entrypoint (never at import)."""

from __future__ import annotations

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class WorkerSettings(BaseSettings):
    """`CDC_*` knobs; the stack-wide addresses keep their `.stack/env` names."""

    model_config = SettingsConfigDict(env_prefix="CDC_", extra="ignore")

    mysql_url: str = Field(validation_alias=AliasChoices("CDC_MYSQL_URL", "MYSQL_URL"))
    mysql_cdc_url: str = Field(
        "", validation_alias=AliasChoices("CDC_MYSQL_CDC_URL", "MYSQL_CDC_URL"))
    valkey_url: str = Field(validation_alias=AliasChoices("CDC_VALKEY_URL", "VALKEY_URL"))
    kafka_bootstrap_servers: str = Field(
        "127.0.0.1:9092",
        validation_alias=AliasChoices("CDC_KAFKA_BOOTSTRAP_SERVERS", "KAFKA_BOOTSTRAP_SERVERS"))
    build_batch_size: int = Field(2000, ge=1, le=20000)
    metrics_port: int = Field(0, ge=0, le=65535)
