"""Prometheus metrics of the trainer loop (`train --every`), served on `RECO_METRICS_PORT`."""

from __future__ import annotations

import contextlib

from carpages_shared import metrics_endpoint
from prometheus_client import CollectorRegistry, Counter, Gauge

from carpages_reco.schedule import version_time
from carpages_reco.training import Trained


class Metrics:
    """The model in service, the last run and the schedule."""

    def __init__(self) -> None:
        self.registry = r = CollectorRegistry()
        self.period = Gauge("carpages_reco_schedule_period_seconds",
                            "training cadence (the alert on model age is a multiple of it)",
                            registry=r)
        self.next_run = Gauge("carpages_reco_next_run_timestamp_seconds",
                              "when the next training run starts (Unix time)", registry=r)
        self.runs = Counter("carpages_reco_runs_total", "training runs by outcome",
                            ["outcome"], registry=r)
        self.last_success = Gauge("carpages_reco_last_success_timestamp_seconds",
                                  "end of the last successful run (Unix time)", registry=r)
        self.model_info = Gauge("carpages_reco_model_info",
                                "the published model version (value 1)", ["version"],
                                registry=r)
        self.model_created = Gauge("carpages_reco_model_created_timestamp_seconds",
                                   "start of the run that produced the published model",
                                   registry=r)
        self.training_seconds = Gauge("carpages_reco_training_seconds",
                                      "duration of the last training (fit, evaluate, refit)",
                                      registry=r)
        self.evaluation = Gauge("carpages_reco_evaluation",
                                "holdout figures of the last run, model vs popularity",
                                ["scorer", "metric"], registry=r)
        self.rows = Gauge("carpages_reco_training_rows", "what the last run learned from",
                          ["kind"], registry=r)

    def published(self, version: str) -> None:
        """Record the model version now served."""
        self.model_info.clear()
        self.model_info.labels(version).set(1)
        created = version_time(version)
        if created is not None:
            self.model_created.set(created)

    def trained(self, trained: Trained) -> None:
        """Record a successful run's figures."""
        training = trained.meta["training"]
        self.training_seconds.set(float(training["seconds"]))
        for kind in ("cars", "buyers", "pairs"):
            self.rows.labels(kind).set(float(training[kind]))
        for scorer, figures in (("model", trained.model), ("popularity", trained.popularity)):
            self.evaluation.labels(scorer, "precision").set(figures.precision)
            self.evaluation.labels(scorer, "recall").set(figures.recall)
            self.evaluation.labels(scorer, "auc").set(figures.auc)
            self.evaluation.labels(scorer, "buyers").set(figures.buyers)

    def serve(self, port: int) -> contextlib.AbstractContextManager[None]:
        """Serve /metrics on `port` (0 = not at all) for the duration of the block."""
        return metrics_endpoint.serve(self.registry, port)
