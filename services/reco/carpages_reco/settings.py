"""Trainer settings, read from the environment at the entrypoint (never at import)."""

from __future__ import annotations

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class RecoSettings(BaseSettings):
    """`RECO_*` knobs; the stack-wide addresses keep their `.stack/env` names."""

    model_config = SettingsConfigDict(env_prefix="RECO_", extra="ignore")

    mysql_url: str = Field(validation_alias=AliasChoices("RECO_MYSQL_URL", "MYSQL_URL"))
    valkey_url: str = Field(validation_alias=AliasChoices("RECO_VALKEY_URL", "VALKEY_URL"))
    valkey_cluster: bool = Field(
        False, validation_alias=AliasChoices("RECO_VALKEY_CLUSTER", "VALKEY_CLUSTER"),
        description="valkey_url is a node of a Valkey Cluster (every model key shares {reco})")

    # Interaction weights: how much stronger each signal is than a view (seed 001's funnel).
    weight_view: float = Field(default=1.0, gt=0)
    weight_lead: float = Field(default=3.0, gt=0)
    weight_test_drive: float = Field(default=5.0, gt=0)
    weight_offer: float = Field(default=5.0, gt=0)
    max_weight: float = Field(default=10.0, gt=0,
                              description="cap on a (buyer, car) pair's total weight")

    # LightFM.
    no_components: int = Field(default=32, ge=1, le=512)
    epochs: int = Field(default=30, ge=1)
    learning_rate: float = Field(default=0.05, gt=0)
    item_alpha: float = Field(default=1e-6, ge=0)
    user_alpha: float = Field(default=1e-6, ge=0)
    max_sampled: int = Field(default=20, ge=1)
    num_threads: int = Field(default=2, ge=1)
    random_state: int = 42

    # Features.
    identity_weight: float = Field(
        default=0.25, ge=0,
        description="a car's identity feature vs one attribute (0 = attributes only)")
    price_bands: int = Field(default=8, ge=2,
                             description="quantile bands of the live cars' prices")
    year_bands: int = Field(default=6, ge=2)
    km_bands: int = Field(default=6, ge=2)

    # Data.
    history_days: float = Field(
        default=365.0, gt=0,
        description="signals older than this are ignored (bounds the model size)")

    # Evaluation.
    holdout_days: float = Field(default=7.0, gt=0,
                                description="the last N days of interactions")
    eval_k: int = Field(default=10, ge=1)
    refit_on_all: bool = Field(
        default=True, description="after evaluating, refit on all interactions before publishing")

    # Publishing.
    keep_versions: int = Field(default=2, ge=2, description="current + previous (pinned pages)")

    # Observability (`train --every` only: a one-shot run exits before anyone scrapes it).
    metrics_port: int = Field(default=0, ge=0, le=65535, description="/metrics port; 0 = off")
