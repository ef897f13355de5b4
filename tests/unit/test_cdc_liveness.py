"""The workers' liveness probe reads a local heartbeat file, so a Valkey outage (which the
publisher's work never touches and the applier rides out by retrying) restarts no pod.

Valkey here is a real client pointed at a loopback port nothing listens on."""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

import pytest
import valkey
from carpages_cdc import cli, liveness

ROLE, INSTANCE = "publish", "pod-7/a b"


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def unreachable() -> valkey.Valkey:
    return valkey.Valkey(host="127.0.0.1", port=closed_port(), socket_connect_timeout=0.5)


def test_a_beat_reaches_the_file_even_when_valkey_is_down(tmp_path: Path) -> None:
    with pytest.raises(valkey.exceptions.ConnectionError):
        liveness.beat(unreachable(), ROLE, INSTANCE, "active", tmp_path, checkpoint="f:4")
    path = liveness.heartbeat_file(tmp_path, ROLE, INSTANCE)
    assert path.parent == tmp_path  # the instance's "/" cannot leave the directory
    beat = json.loads(path.read_bytes())
    assert (beat["state"], beat["pid"], beat["checkpoint"]) == ("active", os.getpid(), "f:4")
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no scratch file left
    found = liveness.check_file(tmp_path, ROLE, INSTANCE, max_age_s=30)
    assert found is not None
    assert found[0] is True
    assert found[1].startswith(f"{ROLE}:{INSTANCE} (file) active pid {os.getpid()}")


def test_stale_unreadable_and_missing_files(tmp_path: Path) -> None:
    path = liveness.heartbeat_file(tmp_path, ROLE, INSTANCE)
    path.write_bytes(json.dumps({"ts": time.time() - 60, "state": "active"}).encode())
    assert liveness.check_file(tmp_path, ROLE, INSTANCE, max_age_s=30) == (
        False, f"{ROLE}:{INSTANCE} (file) active pid None 60.0s ago")
    path.write_bytes(b"{half a be")
    assert liveness.check_file(tmp_path, ROLE, INSTANCE, max_age_s=30) == (
        False, f"{ROLE}:{INSTANCE} (file): unreadable heartbeat")
    assert liveness.check_file(tmp_path, "apply", INSTANCE, max_age_s=30) is None


def probe(role: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = cli.main(["check", "--role", role])
    return code, capsys.readouterr().out


def test_the_probe_passes_on_a_fresh_file_while_valkey_is_down(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {"CDC_MYSQL_URL": "mysql://u:p@127.0.0.1:1/db",
                        "CDC_VALKEY_URL": f"valkey://127.0.0.1:{closed_port()}/0",
                        "CDC_HEARTBEAT_DIR": str(tmp_path), "CDC_INSTANCE": INSTANCE}.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(valkey.exceptions.ConnectionError):
        liveness.beat(unreachable(), ROLE, INSTANCE, "standby", tmp_path)
    code, out = probe(ROLE, capsys)
    assert code == 0, out
    assert out.startswith("alive: ")
    # No file for the other role here: the probe asks Valkey, which is down.
    code, out = probe("apply", capsys)
    assert code == 1, out
    assert out.startswith("NOT alive: valkey unavailable")
