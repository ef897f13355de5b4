"""`train`: read MySQL, train and evaluate, publish to Valkey — once, or every interval."""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Sequence
from typing import Any

import pymysql
import valkey
from carpages_shared import keys
from carpages_shared.dsn import mysql_params

from carpages_reco import store
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

        def query(sql: str, params: Sequence[Any]) -> Sequence[tuple[Any, ...]]:
            with conn.cursor() as cur:
                cur.execute(sql, params)
                return list(cur.fetchall())

        snapshot = read_snapshot(query, dt.timedelta(days=settings.holdout_days),
                                 dt.timedelta(days=settings.history_days))
        conn.commit()
        return snapshot
    finally:
        conn.close()


def published_version(settings: RecoSettings) -> str | None:
    """The current model version in Valkey, or None before the first publish."""
    client = valkey.Valkey.from_url(settings.valkey_url)
    try:
        raw = client.get(keys.reco_current())
    finally:
        client.close()
    return raw.decode() if raw else None


def run_once(settings: RecoSettings, publish: bool = True) -> tuple[str, Trained]:
    """Train, evaluate, print the figures and (unless told not to) publish; return the version."""
    snapshot = read_from_mysql(settings)
    version = store.new_version()
    trained = train(snapshot, settings, version)
    print(report(trained, settings.eval_k), flush=True)
    if publish:
        client = valkey.Valkey.from_url(settings.valkey_url)
        try:
            fields = store.model_fields(trained.meta, trained.arrays.as_dict())
            removed = store.publish(client, version, fields, settings.keep_versions)
        finally:
            client.close()
        size = sum(len(v) for v in fields.values())
        print(f"published {version} ({size / 1e6:.1f} MB); trimmed {removed or 'nothing'}",
              flush=True)
    return version, trained


def run_every(settings: RecoSettings, interval_s: float, stop: threading.Event,
              publish: bool = True) -> None:
    """Retrain every `interval_s` until `stop` is set; a failed run is logged, not fatal."""
    while not stop.is_set():
        try:
            run_once(settings, publish)
        except Exception:
            # The next run may well succeed (MySQL back, data arrived): keep the loop alive.
            log.exception("training run failed; retrying in %.0fs", interval_s)
        stop.wait(interval_s)
