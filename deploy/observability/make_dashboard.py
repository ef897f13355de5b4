"""Writes carpages-dashboard.json, the Grafana dashboard (API, CDC pipeline, recommendations).

    python deploy/observability/make_dashboard.py     # after editing the panels below

The JSON is generated so every panel gets a consistent layout, unit and datasource; the tests
check that the committed file is this script's output, that it is a valid dashboard and that
every metric it queries is exported by the services.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

OUT = Path(__file__).with_name("carpages-dashboard.json")
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
WIDTH = 24

# (title, unit, [(expr, legend)], kind) per panel; kind is "timeseries" or "stat".
Panel = tuple[str, str, list[tuple[str, str]], str]

REQ = "carpages_http_request_seconds"
API: list[Panel] = [
    ("Requests/s by route", "reqps",
     [(f"sum by (route) (rate({REQ}_count[5m]))", "{{route}}")], "timeseries"),
    ("Requests/s by status", "reqps",
     [(f"sum by (status) (rate({REQ}_count[5m]))", "{{status}}")], "timeseries"),
    ("p50 latency by route", "s",
     [(f"histogram_quantile(0.5, sum by (le, route) (rate({REQ}_bucket[5m])))", "{{route}}")],
     "timeseries"),
    ("p99 latency by route", "s",
     [(f"histogram_quantile(0.99, sum by (le, route) (rate({REQ}_bucket[5m])))", "{{route}}")],
     "timeseries"),
    ("p99 latency by status", "s",
     [(f"histogram_quantile(0.99, sum by (le, status) (rate({REQ}_bucket[5m])))",
       "{{status}}")], "timeseries"),
    ("Dedicated page L1 hit ratio", "percentunit",
     [('sum(rate(carpages_l1_lookups_total{outcome="hit"}[5m])) / '
       "sum(rate(carpages_l1_lookups_total[5m]))", "L1 hits")], "timeseries"),
    ("Cache lookups by outcome", "ops",
     [("sum by (kind, outcome) (rate(carpages_cache_lookups_total[5m]))", "{{kind}} {{outcome}}"),
      ("sum(rate(carpages_page_fills_total[5m]))", "fills from MySQL")], "timeseries"),
    ("Valkey errors on the request path", "ops",
     [("sum by (where, error) (rate(carpages_valkey_errors_total[5m]))", "{{where}} {{error}}")],
     "timeseries"),
    ("503 answers (Valkey/MySQL unavailable, overload shedding)", "reqps",
     [(f'sum by (route) (rate({REQ}_count{{status="503"}}[5m]))', "{{route}}")], "timeseries"),
    ("5xx and 503 ratio", "percentunit",
     [(f'sum(rate({REQ}_count{{status=~"5.."}}[5m])) / sum(rate({REQ}_count[5m]))', "5xx"),
      (f'sum(rate({REQ}_count{{status="503"}}[5m])) / sum(rate({REQ}_count[5m]))', "503")],
     "timeseries"),
]

CDC: list[Panel] = [
    ("Publisher rows/s by table", "rowsps",
     [("sum by (table) (rate(carpages_cdc_events_published_total[5m]))", "{{table}}")],
     "timeseries"),
    ("Applier rows/s by table", "rowsps",
     [("sum by (table) (rate(carpages_cdc_events_applied_total[5m]))", "{{table}}")],
     "timeseries"),
    ("Apply lag (MySQL commit to cache) p50 / p99", "s",
     [("histogram_quantile(0.5, sum by (le) (rate(carpages_cdc_apply_lag_seconds_bucket[5m])))",
       "p50"),
      ("histogram_quantile(0.99, sum by (le) (rate(carpages_cdc_apply_lag_seconds_bucket[5m])))",
       "p99")], "timeseries"),
    ("Binlog lag (MySQL commit to publisher read)", "s",
     [("max by (instance) (carpages_cdc_binlog_lag_seconds * carpages_cdc_lease_held)",
       "{{instance}}")], "timeseries"),
    ("Heartbeat lag (binlog to cache, end to end)", "s",
     [("max by (instance) (carpages_cdc_heartbeat_lag_seconds)", "{{instance}}")], "timeseries"),
    ("Messages in flight (sent, not acknowledged)", "short",
     [("sum by (instance) (carpages_cdc_in_flight_messages)", "{{instance}}")], "timeseries"),
    ("Checkpoint advance (binlog bytes/s)", "Bps",
     [("sum by (instance) (deriv(carpages_cdc_checkpoint_position[5m]) > 0)", "{{instance}}"),
      ("max(carpages_cdc_checkpoint_file_index)", "binlog file")], "timeseries"),
    # Checkpoint age: when its position last changed (to the minute, looking back an hour; no
    # value = not moved for an hour). The publisher checkpoints on heartbeats too, so an idle
    # database still moves it.
    ("Checkpoint age", "s",
     [("time() - max by (instance) (max_over_time(timestamp(changes("
       "carpages_cdc_checkpoint_position[1m]) > 0)[1h:15s]))", "{{instance}}")], "timeseries"),
    ("Publisher lease held", "short",
     [("carpages_cdc_lease_held", "{{instance}}")], "timeseries"),
    ("Fence refusals and conflicts", "ops",
     [("sum by (kind) (rate(carpages_cdc_fence_refused_total[5m]))", "refused {{kind}}"),
      ("sum by (kind) (rate(carpages_cdc_fence_conflicts_total[5m]))", "conflict {{kind}}")],
     "timeseries"),
    ("Quarantine (entities still failing)", "short",
     [("max(carpages_cdc_quarantine_size)", "size"),
      ("sum by (kind) (increase(carpages_cdc_quarantined_total[15m]))", "new {{kind}} (15m)")],
     "timeseries"),
    ("Dead letters (15m)", "short",
     [("sum by (reason) (increase(carpages_cdc_dead_letters_total[15m]))", "{{reason}}")],
     "timeseries"),
    ("Sampled reconcile divergence", "percentunit",
     [("max(carpages_cdc_reconcile_divergence_ratio)", "divergent / checked")], "timeseries"),
    ("Fault episodes, full rebuilds, broker resets (1h)", "short",
     [("sum by (role, error) (increase(carpages_cdc_fault_episodes_total[1h]))",
       "{{role}} {{error}}"),
      ("sum by (reason) (increase(carpages_cdc_full_rebuilds_total[1h]))", "rebuild {{reason}}"),
      ("sum(increase(carpages_cdc_broker_resets_total[1h]))", "broker resets"),
      ("sum(increase(carpages_cdc_publish_errors_total[1h]))", "publish errors")],
     "timeseries"),
    # Process restarts are counted by kube-state-metrics (a restarted process starts its own
    # counters from zero, so it cannot count its own restarts).
    ("Restarts (1h)", "short",
     [('sum by (container) (increase(kube_pod_container_status_restarts_total{'
       'container=~"publisher|applier|api|trainer"}[1h]))', "{{container}}")], "timeseries"),
]

RECO: list[Panel] = [
    ("Model in service", "none",
     [("max by (version) (carpages_reco_model_info)", "{{version}}")], "stat"),
    ("Model age", "s",
     [("time() - max(carpages_reco_model_created_timestamp_seconds)", "age")], "stat"),
    ("Next training run in", "s",
     [("max(carpages_reco_next_run_timestamp_seconds) - time()", "next run")], "stat"),
    ("Training time", "s", [("max(carpages_reco_training_seconds)", "last run")], "timeseries"),
    ("Training runs (1h)", "short",
     [("sum by (outcome) (increase(carpages_reco_runs_total[1h]))", "{{outcome}}")],
     "timeseries"),
    ("Holdout evaluation: model vs popularity", "none",
     [('max by (scorer, metric) (carpages_reco_evaluation{metric!="buyers"})',
       "{{scorer}} {{metric}}")], "timeseries"),
    ("Training data", "short",
     [("max by (kind) (carpages_reco_training_rows)", "{{kind}}")], "timeseries"),
]


def panel(pid: int, x: int, y: int, w: int, h: int, spec: Panel) -> dict[str, Any]:
    title, unit, queries, kind = spec
    body: dict[str, Any] = {
        "id": pid, "type": kind, "title": title, "datasource": DATASOURCE,
        "gridPos": {"x": x, "y": y, "w": w, "h": h},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "targets": [{"refId": chr(ord("A") + i), "datasource": DATASOURCE, "expr": expr,
                     "legendFormat": legend} for i, (expr, legend) in enumerate(queries)],
    }
    if kind == "stat":
        body["options"] = {"reduceOptions": {"calcs": ["lastNotNull"]}, "textMode": "auto"}
    return body


def dashboard() -> dict[str, Any]:
    panels: list[dict[str, Any]] = []
    y = 0
    for title, specs in (("API", API), ("CDC pipeline", CDC), ("Recommendations", RECO)):
        panels.append({"id": len(panels) + 1, "type": "row", "title": title, "collapsed": False,
                       "gridPos": {"x": 0, "y": y, "w": WIDTH, "h": 1}, "panels": []})
        y += 1
        per_row = 3
        w, h = WIDTH // per_row, 8
        for i, spec in enumerate(specs):
            x = (i % per_row) * w
            panels.append(panel(len(panels) + 1, x, y + (i // per_row) * h, w, h, spec))
        y += -(-len(specs) // per_row) * h
    return {
        "uid": "carpages-overview", "title": "carpages", "tags": ["carpages"],
        "timezone": "utc", "editable": True, "schemaVersion": 39, "version": 1,
        "refresh": "30s", "time": {"from": "now-6h", "to": "now"},
        "templating": {"list": [{"name": "datasource", "type": "datasource",
                                 "query": "prometheus", "label": "Prometheus"}]},
        "annotations": {"list": []},
        "panels": panels,
    }


def render() -> str:
    return json.dumps(dashboard(), indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    OUT.write_text(render())
    print(f"wrote {OUT}")
