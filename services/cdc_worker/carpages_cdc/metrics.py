"""Prometheus metrics of the worker (one registry per process, served on settings.metrics_port)."""

from __future__ import annotations

import contextlib

from carpages_shared import metrics_endpoint
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LAG_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300)
SIZE_BUCKETS = (1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 10000)


class Metrics:
    """Every metric either role exports."""

    def __init__(self) -> None:
        self.registry = r = CollectorRegistry()
        # publisher
        self.published = Counter("carpages_cdc_events_published_total",
                                 "row changes acknowledged by the broker", ["table"], registry=r)
        self.publish_errors = Counter("carpages_cdc_publish_errors_total",
                                      "publish sessions ended by an error", ["kind"], registry=r)
        self.binlog_lag = Gauge("carpages_cdc_binlog_lag_seconds",
                                "how far behind MySQL the publisher reads: age of the last row "
                                "event read (0 when the stream is idle and caught up)",
                                registry=r)
        self.in_flight = Gauge("carpages_cdc_in_flight_messages",
                               "messages sent, not yet acknowledged", registry=r)
        self.checkpoint_file = Gauge("carpages_cdc_checkpoint_file_index",
                                     "binlog file number of the saved checkpoint", registry=r)
        self.checkpoint_pos = Gauge("carpages_cdc_checkpoint_position",
                                    "binlog offset of the saved checkpoint", registry=r)
        self.lease_held = Gauge("carpages_cdc_lease_held", "1 = active publisher, 0 = standby",
                                registry=r)
        # applier
        self.applied = Counter("carpages_cdc_events_applied_total",
                               "row changes applied to the cache", ["table"], registry=r)
        self.lag = Histogram("carpages_cdc_apply_lag_seconds",
                             "MySQL commit to cache written (binlog timestamps: 1 s resolution)",
                             buckets=LAG_BUCKETS, registry=r)
        self.heartbeat_lag = Gauge("carpages_cdc_heartbeat_lag_seconds",
                                   "age of the newest heartbeat row when applied", registry=r)
        self.dead_letters = Counter("carpages_cdc_dead_letters_total",
                                    "messages sent to the dead-letter topic", ["reason"],
                                    registry=r)
        self.rebuild_size = Histogram("carpages_cdc_rebuild_batch_size",
                                      "entries per incremental rebuild", ["kind"],
                                      buckets=SIZE_BUCKETS, registry=r)
        self.fence_refused = Counter("carpages_cdc_fence_refused_total",
                                     "writes refused because a newer one was applied", ["kind"],
                                     registry=r)
        self.full_rebuilds = Counter("carpages_cdc_full_rebuilds_total",
                                     "full rebuilds started by this worker", ["reason"],
                                     registry=r)
        self.fence_conflicts = Counter("carpages_cdc_fence_conflicts_total",
                                       "fenced batches re-read: memberships moved underneath",
                                       ["kind"], registry=r)
        self.quarantined = Counter("carpages_cdc_quarantined_total",
                                   "entities set aside because they could not be built",
                                   ["kind"], registry=r)
        self.quarantine_size = Gauge("carpages_cdc_quarantine_size",
                                     "entities still failing after the last repair pass",
                                     registry=r)
        self.broker_resets = Counter("carpages_cdc_broker_resets_total",
                                     "times the broker was found to have lost data (the cache "
                                     "was rebuilt)", registry=r)
        self.visibility_timeouts = Counter(
            "carpages_cdc_visibility_timeouts_total",
            "batches read before their newest change's row lock was free (held past the wait "
            "by a later transaction)", registry=r)
        # both roles
        self.fault_episodes = Counter("carpages_cdc_fault_episodes_total",
                                      "runs of transient failures (MySQL, Valkey, broker), "
                                      "each retried with back-off", ["role", "error"],
                                      registry=r)
        self.divergence = Gauge("carpages_cdc_reconcile_divergence_ratio",
                                "divergent / checked cars in the last sampled reconcile",
                                registry=r)

    def serve(self, port: int) -> contextlib.AbstractContextManager[None]:
        """Serve /metrics on `port` (0 = not at all) for the duration of the block."""
        return metrics_endpoint.serve(self.registry, port)
