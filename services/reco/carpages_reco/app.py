"""`train`: read MySQL, train and evaluate, publish to Valkey — once, or on a fixed-rate
schedule (`schedule.FixedRate`) with metrics."""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import pymysql
import valkey
from carpages_shared import blocking_client, car_rows, keys
from carpages_shared.dsn import mysql_params
from carpages_shared.progress import Progress, ProgressFn

from carpages_reco import store
from carpages_reco.metrics import Metrics
from carpages_reco.schedule import FixedRate, version_time
from carpages_reco.settings import RecoSettings
from carpages_reco.source import Snapshot, read_snapshot
from carpages_reco.training import Trained, report, train

log = logging.getLogger(__name__)


def read_from_mysql(settings: RecoSettings) -> Snapshot:
    """One consistent snapshot of cars and signals."""
    conn = pymysql.connect(**mysql_params(settings.mysql_url))
    try:
        with conn.cursor() as cur:
            cur.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT")

        snapshot = read_snapshot(car_rows.connection_query(conn),
                                 dt.timedelta(days=settings.holdout_days),
                                 dt.timedelta(days=settings.history_days))
        conn.commit()
        return snapshot
    finally:
        conn.close()


def connect_valkey(settings: RecoSettings) -> Any:
    """The primary (valkey://…, or valkey+sentinel://… asked of the sentinels) or the cluster."""
    return blocking_client.connect(settings.valkey_url, cluster=settings.valkey_cluster)


def published_version(settings: RecoSettings) -> str | None:
    """The current model version in Valkey, or None before the first publish."""
    client = connect_valkey(settings)
    try:
        raw = client.get(keys.reco_current())
    finally:
        client.close()
    return raw.decode() if raw else None


def run_once(settings: RecoSettings, publish: bool = True,
             progress: ProgressFn | None = None) -> tuple[str, Trained]:
    """Train, evaluate, print the figures and (unless told not to) publish; return the version."""
    version = store.new_version()  # first: the version records when the run started
    snapshot = read_from_mysql(settings)
    trained = train(snapshot, settings, version, progress)
    print(report(trained, settings.eval_k), flush=True)
    if publish:
        client = connect_valkey(settings)
        try:
            fields = store.model_fields(trained.meta, trained.arrays.as_dict())
            removed = store.publish(client, version, fields, settings.keep_versions)
        finally:
            client.close()
        size = sum(len(v) for v in fields.values())
        print(f"published {version} ({size / 1e6:.1f} MB); trimmed {removed or 'nothing'}",
              flush=True)
    return version, trained


def last_start(settings: RecoSettings) -> float | None:
    """When the run behind the published model started (None: no model, or Valkey down)."""
    try:
        version = published_version(settings)
    except valkey.ValkeyError:
        log.warning("cannot read the published model version; training now")
        return None
    return None if version is None else version_time(version)


def run_every(settings: RecoSettings, schedule: FixedRate, stop: threading.Event,
              publish: bool = True, metrics: Metrics | None = None,
              clock: Callable[[], float] = time.time) -> None:
    """Train on `schedule` until `stop` is set; a failed run is logged, not fatal."""
    metrics = metrics or Metrics()
    metrics.period.set(schedule.period_s)
    started = last_start(settings)
    if started is not None and (version := published_version(settings)) is not None:
        metrics.published(version)
    while not stop.is_set():
        at = schedule.next_run(started, clock())
        metrics.next_run.set(at)
        log.info("next training run at %s", dt.datetime.fromtimestamp(at, dt.UTC).isoformat(
            timespec="seconds"), extra={"next_run": at})
        if stop.wait(max(0.0, at - clock())):
            break
        if clock() < at:
            continue  # woke a little early
        started = clock()
        try:
            with Progress("train", "epochs") as progress:
                version, trained = run_once(settings, publish, progress)
        except Exception:
            metrics.runs.labels("failure").inc()
            # The next slot may well succeed (MySQL back, data arrived): keep the loop alive.
            log.exception("training run failed; the next slot retries")
            continue
        metrics.runs.labels("success").inc()
        metrics.last_success.set(clock())
        metrics.trained(trained)
        if publish:
            metrics.published(version)
