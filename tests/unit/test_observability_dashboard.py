"""The Grafana dashboard: a valid dashboard document (JSON schema of the fields Grafana needs),
a sound layout, PromQL that promtool parses, and the generator's current output. The metric
names it queries are checked against the services' real /metrics in
tests/integration/test_observability_metrics.py (`queried_metrics` is shared with it)."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from carpages_local.servers import promtool_binary

OBSERVABILITY = Path(__file__).resolve().parents[2] / "deploy" / "observability"
DASHBOARD = OBSERVABILITY / "carpages-dashboard.json"
RULES = OBSERVABILITY / "carpages-rules.yml"

_TARGET = {"type": "object", "required": ["refId", "expr", "datasource"],
           "properties": {"refId": {"type": "string", "pattern": "^[A-Z]$"},
                          "expr": {"type": "string", "minLength": 1},
                          "legendFormat": {"type": "string"}}}
_GRID = {"type": "object", "required": ["x", "y", "w", "h"],
         "properties": {"x": {"type": "integer", "minimum": 0, "maximum": 23},
                        "y": {"type": "integer", "minimum": 0},
                        "w": {"type": "integer", "minimum": 1, "maximum": 24},
                        "h": {"type": "integer", "minimum": 1}}}
SCHEMA = {
    "type": "object",
    "required": ["uid", "title", "schemaVersion", "panels", "time", "templating"],
    "properties": {
        "uid": {"type": "string", "pattern": "^[a-zA-Z0-9_-]{1,40}$"},
        "title": {"type": "string", "minLength": 1},
        "schemaVersion": {"type": "integer", "minimum": 36},
        "time": {"type": "object", "required": ["from", "to"]},
        "templating": {"type": "object", "required": ["list"]},
        "panels": {"type": "array", "minItems": 1, "items": {
            "type": "object", "required": ["id", "type", "title", "gridPos"],
            "properties": {
                "id": {"type": "integer", "minimum": 1},
                "type": {"enum": ["row", "timeseries", "stat"]},
                "title": {"type": "string", "minLength": 1},
                "gridPos": _GRID,
                "targets": {"type": "array", "items": _TARGET},
                "fieldConfig": {"type": "object", "required": ["defaults"]}},
            "if": {"properties": {"type": {"const": "row"}}},
            "else": {"required": ["targets", "datasource", "fieldConfig"],
                     "properties": {"targets": {"minItems": 1}}}}},
    },
}

KEYWORDS = {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring",
            "group_left", "group_right", "inf", "nan"}


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (not functions, labels or keywords)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    text = re.sub(r"\{[^}]*\}", "", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", "", text)  # ranges and subqueries
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", text)
    names = re.findall(r"(?<![\w.])([a-zA-Z_:][\w:]*+)(?!\s*\()", text)
    return {n for n in names if n.lower() not in KEYWORDS}


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


def dashboard_exprs() -> list[str]:
    return [t["expr"] for p in dashboard()["panels"] for t in p.get("targets", [])]


def rule_exprs() -> list[str]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule["expr"] for group in groups for rule in group["rules"]]


def queried_metrics() -> set[str]:
    """Every metric name the dashboard and the alert rules query."""
    return {name for expr in dashboard_exprs() + rule_exprs() for name in metric_names(expr)}


def test_metric_names_are_read_from_promql() -> None:
    assert metric_names(
        'histogram_quantile(0.99, sum by (le, route) (rate(x_bucket{status=~"5.."}[5m])))'
        ' / on (instance) y_total > 0 and time() - max_over_time(z[1h:15s]) offset 5m') == {
        "x_bucket", "y_total", "z"}


def test_dashboard_matches_the_schema() -> None:
    jsonschema.validate(dashboard(), SCHEMA)


def test_layout_ids_and_refids_are_sound() -> None:
    panels = dashboard()["panels"]
    assert len({p["id"] for p in panels}) == len(panels)
    cells: set[tuple[int, int]] = set()
    for p in panels:
        g = p["gridPos"]
        assert g["x"] + g["w"] <= 24, p["title"]
        area = {(x, y) for x in range(g["x"], g["x"] + g["w"])
                for y in range(g["y"], g["y"] + g["h"])}
        assert not area & cells, f"{p['title']} overlaps another panel"
        cells |= area
        refs = [t["refId"] for t in p.get("targets", [])]
        assert len(set(refs)) == len(refs), p["title"]


def test_dashboard_covers_what_operators_asked_for() -> None:
    queried = queried_metrics()
    for name in ("carpages_http_request_seconds_bucket", "carpages_http_request_seconds_count",
                 "carpages_l1_lookups_total", "carpages_cdc_events_published_total",
                 "carpages_cdc_events_applied_total", "carpages_cdc_apply_lag_seconds_bucket",
                 "carpages_cdc_heartbeat_lag_seconds", "carpages_cdc_in_flight_messages",
                 "carpages_cdc_checkpoint_position", "carpages_cdc_fence_refused_total",
                 "carpages_cdc_quarantine_size", "carpages_cdc_dead_letters_total",
                 "kube_pod_container_status_restarts_total", "carpages_reco_model_info",
                 "carpages_reco_model_created_timestamp_seconds",
                 "carpages_reco_training_seconds", "carpages_reco_evaluation",
                 "carpages_reco_next_run_timestamp_seconds"):
        assert name in queried, name
    rows = [p["title"] for p in dashboard()["panels"] if p["type"] == "row"]
    assert rows == ["API", "CDC pipeline", "Recommendations"]


def test_promtool_parses_every_dashboard_query(tmp_path: Path) -> None:
    # promtool has no "check expression": each query becomes a recording rule it parses.
    rules = {"groups": [{"name": "dashboard", "rules": [
        {"record": f"dashboard:query_{i}", "expr": expr}
        for i, expr in enumerate(dashboard_exprs())]}]}
    path = tmp_path / "dashboard-queries.yml"
    path.write_text(yaml.safe_dump(rules))
    done = subprocess.run([promtool_binary(), "check", "rules", str(path)], capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_committed_json_is_the_generators_output() -> None:
    spec = importlib.util.spec_from_file_location("make_dashboard",
                                                  OBSERVABILITY / "make_dashboard.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if module.render() != DASHBOARD.read_text():
        pytest.fail("carpages-dashboard.json is stale: run "
                    "python deploy/observability/make_dashboard.py")
