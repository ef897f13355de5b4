"""Run wrk against loopback and parse its figures (requests/s, p50/p99/p99.9 latency)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

# wrk's `done` hook prints one JSON line we can parse; paths rotate through a list so every
# request hits a different car or query (no single hot key flattering the cache).
_LUA = r"""
local paths = {}
local headers = {}
local i = 0
init = function(args)
  for line in io.lines(args[1]) do table.insert(paths, line) end
  if args[2] ~= nil and args[2] ~= "" then headers["Authorization"] = "Bearer " .. args[2] end
  i = math.random(#paths)
end
request = function()
  i = i % #paths + 1
  return wrk.format("GET", paths[i], headers)
end
done = function(summary, latency, requests)
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write
               + summary.errors.status + summary.errors.timeout
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"errors":%d,"non2xx":%d,' ..
    '"p50_us":%d,"p90_us":%d,"p99_us":%d,"p999_us":%d,"mean_us":%f}\n',
    summary.requests, summary.duration, errors, summary.errors.status,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), latency.mean))
end
"""


@dataclass
class WrkResult:
    """One wrk run."""

    name: str
    connections: int
    rps: float
    p50_ms: float
    p99_ms: float
    p999_ms: float
    errors: int
    requests: int


def ensure_wrk() -> str:
    """Path of wrk, installing Debian's package when missing and running as root."""
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() != 0:
        raise SystemExit("wrk is missing: sudo apt-get install -y wrk")
    subprocess.run(["sh", "-c", "apt-get update -qq && DEBIAN_FRONTEND=noninteractive "
                    "apt-get install -y -qq wrk"], check=True, stdin=subprocess.DEVNULL)
    return shutil.which("wrk") or "wrk"


def run(name: str, base_url: str, paths: list[str], connections: int, seconds: float,
        token: str = "", threads: int = 1) -> WrkResult:
    """Run wrk for `seconds` with `connections`, cycling through `paths`."""
    with tempfile.TemporaryDirectory() as tmp:
        script, path_file = Path(tmp) / "bench.lua", Path(tmp) / "paths.txt"
        script.write_text(_LUA)
        path_file.write_text("\n".join(paths) + "\n")
        duration = f"{max(1, round(seconds))}s"  # wrk rejects fractional durations
        argv = [ensure_wrk(), "-t", str(threads), "-c", str(connections), "-d", duration,
                "--timeout", "5s", "-s", str(script), base_url, "--", str(path_file), token]
        out = subprocess.run(argv, check=True, capture_output=True, text=True,
                             timeout=seconds + 60).stdout
    line = next(ln for ln in out.splitlines() if ln.startswith("WRKJSON "))
    data = json.loads(line[len("WRKJSON "):])
    duration_s = data["duration_us"] / 1e6
    return WrkResult(name=name, connections=connections, rps=data["requests"] / duration_s,
                     p50_ms=data["p50_us"] / 1000, p99_ms=data["p99_us"] / 1000,
                     p999_ms=data["p999_us"] / 1000, errors=data["errors"],
                     requests=data["requests"])
