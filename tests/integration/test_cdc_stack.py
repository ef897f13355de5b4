"""`make up` (carpages_local up) runs the publisher and the applier: a change made in MySQL
reaches the cache the API serves from."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import valkey
from carpages_local import stack, supervisor

from tests.integration.cdc_support import execute, page, query, wait_until


def test_up_streams_mysql_changes_into_the_cache(tmp_path: Path) -> None:
    root = tmp_path / "stack"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CDC_", "MYSQL", "VALKEY"))}
    env["PYTHONPATH"] = os.getcwd()
    command = [sys.executable, "-m", "carpages_local"]
    try:
        up = subprocess.run([*command, "up", "--root", str(root), "--cars", "300"], env=env,
                            capture_output=True, stdin=subprocess.DEVNULL, timeout=280,
                            check=False)
        assert up.returncode == 0, (up.stdout + up.stderr).decode(errors="replace")[-3000:]
        # One supervisor is recorded; it runs (and restarts) the three services.
        recorded = [p.name for p in stack.Running.load(root / "pids.json").processes]
        assert "supervisor" in recorded
        state = supervisor.read_state(root / "services.json")
        assert state is not None
        services = state["services"]
        assert {"cdc-publisher", "cdc-applier", "api"} <= set(services)
        assert all(s["pid"] for s in services.values())
        variables = stack.read_env(root / "env")
        port = int(variables["MYSQL_URL"].rsplit(":", 1)[1].split("/")[0])
        car, price = query(port, stack.servers.APP_DB,
                           "SELECT id, price FROM car WHERE status = 'live' LIMIT 1")[0]
        client = valkey.Valkey.from_url(variables["VALKEY_URL"])
        try:
            assert page(client, car)["price"] == price  # bootstrap built the cache
            execute(port, stack.servers.APP_DB, "UPDATE car SET price = %s WHERE id = %s",
                    args=(price + 99, car))
            wait_until("the change in the cache",
                       lambda: page(client, car)["price"] == price + 99, timeout=60)
        finally:
            client.close()
    finally:
        subprocess.run([*command, "down", "--root", str(root)], env=env, capture_output=True,
                       stdin=subprocess.DEVNULL, timeout=120, check=False)
