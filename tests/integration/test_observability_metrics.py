"""Operability against real processes: the API, both CDC roles and the reco trainer loop run as
subprocesses on the test servers; every metric the dashboard and the alert rules query is on
their real /metrics, they log JSON under LOG_FORMAT=json, the trainer exports its next run on
the 45-minute grid, and the locustfile runs headless against the API with no failures.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import valkey
from carpages_local import servers, stack
from carpages_shared import keys
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import drop_database, seeded_database
from tests.integration.cdc_support import Workers, wait_until, worker_env
from tests.unit.test_observability_dashboard import queried_metrics

ROOT = Path(__file__).resolve().parents[2]
# Queried by the dashboard but exported by the cluster, not by our processes: a process cannot
# count its own restarts (kube-state-metrics does).
EXTERNAL = {"kube_pod_container_status_restarts_total"}
TEXT_LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ (DEBUG|INFO|WARNING|ERROR) ")
PERIOD_S = 45 * 60


@dataclass
class Process:
    """A service subprocess logging to a file."""

    name: str
    proc: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@dataclass
class Services:
    """The module's running services and their metrics ports."""

    api_url: str
    metrics: dict[str, str]  # service -> /metrics URL
    logs: dict[str, Path]
    env: dict[str, str]  # the workers' environment (LOG_FORMAT=json)


def spawn(name: str, argv: list[str], env: dict[str, str], root: Path) -> Process:
    log = root / f"{name}.log"
    with log.open("ab") as out:
        proc = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, cwd=ROOT)
    return Process(name, proc, log)


def fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:
        body: bytes = response.read()
    return body.decode()


def answers(url: str) -> bool:
    try:
        fetch(url)
    except (urllib.error.URLError, OSError):
        return False
    return True


def exported(url: str) -> set[str]:
    """Every series name a /metrics page can be queried by (families without samples too)."""
    names: set[str] = set()
    for family in text_string_to_metric_families(fetch(url)):
        names.add(family.name)
        names.update(sample.name for sample in family.samples)
        if family.type == "counter":
            names.update({f"{family.name}_total", f"{family.name}_created"})
        elif family.type == "histogram":
            names.update(f"{family.name}{suffix}" for suffix in ("_bucket", "_sum", "_count"))
    return names


def samples(url: str) -> dict[str, float]:
    found: dict[str, float] = {}
    for family in text_string_to_metric_families(fetch(url)):
        for sample in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
            found[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return found


@pytest.fixture(scope="module")
def services(stack_env: stack.StackEnv,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    root = Path(tmp_path_factory.mktemp("observability"))
    cache = servers.start_valkey(root / "valkey")
    db = seeded_database(stack_env, 300)
    workers = Workers(root)
    started: list[Process] = []
    try:
        env = {**worker_env(stack_env, db, cache.port), "LOG_FORMAT": "json"}
        ports = {role: servers.free_port() for role in ("publish", "apply", "api", "reco")}
        for role in ("publish", "apply"):
            workers.start(role, {**env, "CDC_METRICS_PORT": str(ports[role]),
                                 "CDC_RECONCILE_INTERVAL_S": "2",
                                 "CDC_RECONCILE_SAMPLE": "0.1"})
        client = valkey.Valkey(port=cache.port)
        try:
            wait_until("the publisher's first build",
                       lambda: client.hget(keys.meta(), "build") is not None, 120, workers)
        finally:
            client.close()
        api_env = {**env, "API_JWT_SECRET": "observability-test-secret-0123456789abcdef"}
        started.append(spawn("api", [sys.executable, "-m", "carpages_api", "--host",
                                     "127.0.0.1", "--port", str(ports["api"]),
                                     "--log-level", "info"], api_env, root))
        api_url = f"http://127.0.0.1:{ports['api']}"
        reco_env = {**env, "RECO_METRICS_PORT": str(ports["reco"]), "RECO_EPOCHS": "2",
                    "RECO_NO_COMPONENTS": "8", "RECO_NUM_THREADS": "1"}
        started.append(spawn("reco", [sys.executable, "-m", "carpages_reco", "train", "--every",
                                      "45m"], reco_env, root))
        metrics = {"api": f"{api_url}/metrics",
                   **{role: f"http://127.0.0.1:{ports[role]}/metrics"
                      for role in ("publish", "apply", "reco")}}
        deadline = time.monotonic() + 120
        while not answers(f"{api_url}/readyz"):
            for process in started:
                assert process.proc.poll() is None, f"{process.name} exited:\n{process.output()}"
            assert time.monotonic() < deadline, started[0].output()
            time.sleep(0.2)
        # The trainer's first run (no model yet) happens at once; wait until it is recorded.
        while 'carpages_reco_runs_total{outcome="success"}' not in (
                samples(metrics["reco"]) if answers(metrics["reco"]) else {}):
            assert started[1].proc.poll() is None, started[1].output()
            assert time.monotonic() < deadline + 120, started[1].output()
            time.sleep(0.5)
        logs = {"publish": workers.started[0].log, "apply": workers.started[1].log,
                "api": started[0].log, "reco": started[1].log}
        yield Services(api_url, metrics, logs, env)
    finally:
        for process in reversed(started):
            process.stop()
        workers.stop_all()
        cache.stop()
        drop_database(stack_env, db)


def test_every_queried_metric_is_exported(services: Services) -> None:
    everything: set[str] = set()
    for url in services.metrics.values():
        everything |= exported(url)
    missing = queried_metrics() - EXTERNAL - everything
    assert not missing, f"queried by the dashboard or alerts but exported by no service: {missing}"


def test_each_service_exports_its_own_metrics(services: Services) -> None:
    assert "carpages_http_request_seconds_bucket" in exported(services.metrics["api"])
    assert "carpages_cdc_checkpoint_position" in exported(services.metrics["publish"])
    # The active publisher reads the binlog as it is written (its heartbeat rows keep it moving).
    assert 0 <= samples(services.metrics["publish"])["carpages_cdc_binlog_lag_seconds"] < 30
    assert "carpages_cdc_apply_lag_seconds_bucket" in exported(services.metrics["apply"])
    assert "carpages_reco_next_run_timestamp_seconds" in exported(services.metrics["reco"])


def test_trainer_exports_its_next_run_on_the_45_minute_grid(services: Services) -> None:
    found = samples(services.metrics["reco"])
    next_run = found["carpages_reco_next_run_timestamp_seconds"]
    assert next_run > time.time()
    assert next_run <= time.time() + PERIOD_S
    assert next_run % PERIOD_S == 0  # 00:00, 00:45, 01:30, ... UTC
    assert found["carpages_reco_schedule_period_seconds"] == PERIOD_S
    created = found["carpages_reco_model_created_timestamp_seconds"]
    assert time.time() - 600 < created <= time.time()
    assert found["carpages_reco_training_seconds"] > 0
    versions = [k for k, v in found.items() if k.startswith("carpages_reco_model_info") and v == 1]
    assert len(versions) == 1
    assert 'carpages_reco_evaluation{metric="auc",scorer="model"}' in found


def test_services_log_json_lines(services: Services) -> None:
    for name in ("publish", "apply", "reco", "api"):
        lines = [line for line in services.logs[name].read_text().splitlines() if line.strip()]
        records = [json.loads(line) for line in lines if line.startswith("{")]
        assert records, f"{name} logged no JSON:\n" + "\n".join(lines[:20])
        assert all({"ts", "level", "logger", "message"} <= r.keys() for r in records)
        # Nothing went out in the text format (the reco's report and progress lines are
        # program output, not log records).
        assert not [line for line in lines if TEXT_LOG_LINE.match(line)], name


def test_the_api_echoes_or_makes_a_request_id(services: Services) -> None:
    url = f"{services.api_url}/listing/?page_size=1"
    kept = httpx.get(url, headers={"X-Request-ID": "ssr-4711"}, timeout=10)
    assert kept.status_code == 200
    assert kept.headers["x-request-id"] == "ssr-4711"
    made = httpx.get(url, headers={"X-Request-ID": "two words"}, timeout=10)
    assert re.fullmatch("[0-9a-f]{32}", made.headers["x-request-id"])


def test_locustfile_runs_clean_against_the_api(services: Services, tmp_path: Path) -> None:
    done = subprocess.run(
        [str(Path(sys.executable).with_name("locust")), "-f", str(ROOT / "bench" /
                                                                  "locustfile.py"),
         "--host", services.api_url, "--users", "8", "--spawn-rate", "8", "--run-time", "6s",
         "--headless", "--only-summary", "--json"],
        capture_output=True, text=True, timeout=120, cwd=tmp_path, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    stats = json.loads(done.stdout)
    by_name = {entry["name"]: entry for entry in stats}
    assert sum(entry["num_requests"] for entry in stats) > 20
    assert sum(entry["num_failures"] for entry in stats) == 0, done.stderr[-3000:]
    assert by_name["/listing/{id}/"]["num_requests"] > 0
    assert by_name["/listing/?filters"]["num_requests"] > 0


@pytest.mark.parametrize(("command", "label"), [(["rebuild"], "rebuild"),
                                                (["reconcile", "--recheck", "0"], "reconcile")])
def test_long_cdc_commands_print_progress_lines_off_a_terminal(
        services: Services, command: list[str], label: str) -> None:
    done = subprocess.run([sys.executable, "-m", "carpages_cdc", *command], env=services.env,
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith(f"{label}: ")]
    assert lines, done.stderr
    assert re.match(rf"{label}: (\d+)/\1 cars \(100%\) \[.*<.*, .*cars/s\]$", lines[-1])
    assert "\r" not in done.stderr  # plain lines, no redrawn bar


def test_training_prints_epoch_progress(services: Services) -> None:
    lines = [line for line in services.logs["reco"].read_text().splitlines()
             if line.startswith("train: ")]
    # Two epochs for the evaluation fit and two for the refit on everything.
    assert any(line.startswith("train: 4/4 epochs (100%)") for line in lines), lines
