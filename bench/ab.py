"""`python -m bench.ab --ref REV`: this checkout's API against the API of an earlier revision,
side by side on one stack.

For a change that must not move performance (a refactoring), the question is "same speed?", and
two `make bench` runs minutes apart cannot answer it on a shared machine: their absolute figures
drift more than the effect. Here both APIs serve the same Valkey (built by this checkout), each
as its own process under the same server, and every scenario runs on both in alternating order,
round after round, so drift hits both alike. Reported per scenario: req/s of each, each relative
to its own `/healthz` floor, and new/old.

Before measuring, the two APIs must answer every benchmarked path with the same status and body
(the refactoring changed no behaviour); a difference stops the run.

The raw floor (bench.raw_floor: one recorded dedicated page, no app) runs once per round too, so
the dedicated scenarios can be read as a share of it from the same run. Each run's p99 is kept
beside its req/s.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import os
import random
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import jwt
from carpages_local import servers, stack
from carpages_shared.dsn import mysql_params

from bench import raw_floor, wrk
from bench.__main__ import _catalogue_facts, _raw_floor

ROOT = Path(".stack-bench")
RESULTS = Path("bench/results")
SOURCES = ("services/api", "shared")
"""What the old API imports from its own revision (everything else comes from the venv)."""


def scenarios(facts: dict[str, Any], secret: str) -> list[tuple[str, list[str], str]]:
    """(name, paths, bearer token) of the benchmark's main HTTP scenarios, at 32 connections."""
    ids = random.Random(1).sample(facts["ids"], min(2000, len(facts["ids"])))
    city = facts["city"]
    token = jwt.encode({"sub": str(facts["buyers"][0]), "exp": int(time.time()) + 3600}, secret,
                       algorithm="HS256")
    pages = [f"/listing/{i}/" for i in ids]
    broad = [f"/listing/?city_id={city}&page_no={p}" for p in range(1, 4)]
    return [
        ("floor", ["/healthz"], ""),
        ("dedicated anon", pages, ""),
        ("dedicated buyer", pages, token),
        ("listing broad reco", broad, ""),
        ("listing price order",
         [f"/listing/?city_id={city}&order_by=price_asc&page_no={p}" for p in range(1, 4)], ""),
        ("listing slug", [f"/listing/?slug={facts['slug']}&order_by=newest"], ""),
        ("listing facets",
         [f"/listing/?city_id={city}&order_by=newest&facets=make_id,fuel_type,city_id,price"], ""),
    ]


@contextmanager
def old_api(ref: str, env: dict[str, str], log: Path) -> Iterator[str]:
    """The API of revision `ref` (its own sources, this venv) on a free port; yields its URL."""
    with tempfile.TemporaryDirectory(prefix="carpages-ab-") as tmp:
        archive = subprocess.run(["git", "archive", "--format=tar", ref, *SOURCES], check=True,
                                 capture_output=True).stdout
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(tmp, filter="data")
        # PYTHONPATH comes before the venv's editable installs of this checkout.
        path = os.pathsep.join(str(Path(tmp) / source) for source in SOURCES)
        port = servers.free_port()
        url = f"http://127.0.0.1:{port}"
        with log.open("ab") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "carpages_api", "--host", "127.0.0.1", "--port",
                 str(port)], env={**env, "PYTHONPATH": path}, stdout=out,
                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=tmp)
        try:
            _wait_ready(url, proc)
            yield url
        finally:
            servers.stop_pid(proc.pid)


def _wait_ready(url: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the old API exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/readyz", timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.3)
    raise SystemExit("the old API did not become ready in 60 s")


def _get(url: str, token: str) -> tuple[int, bytes]:
    request = urllib.request.Request(url)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def same_answers(new: str, old: str, plan: list[tuple[str, list[str], str]]) -> int:
    """How many paths were compared; raises if the two APIs answer any of them differently."""
    compared = 0
    for name, paths, token in plan:
        for path in paths[:50]:
            ours, theirs = _get(new + path, token), _get(old + path, token)
            if ours != theirs:
                raise SystemExit(f"{name}: {path} differs: {ours[0]} vs {theirs[0]}\n"
                                 f"new: {ours[1][:300]!r}\nold: {theirs[1][:300]!r}")
            compared += 1
    return compared


Runs = dict[str, dict[str, list[float]]]
"""Per scenario, per side ("new", "old"): one figure per round."""


def measure(new: str, old: str, plan: list[tuple[str, list[str], str]], seconds: float,
            rounds: int, raw: tuple[str, str]) -> tuple[Runs, Runs]:
    """req/s and p99 (ms) of every scenario on both APIs, `rounds` times, alternating which goes
    first; and of the raw floor (`raw`: its URL and path) once a round, the same for both."""
    names = [RAW_FLOOR, *(name for name, _, _ in plan)]
    rps: Runs = {name: {"new": [], "old": []} for name in names}
    p99: Runs = {name: {"new": [], "old": []} for name in names}
    raw_url, raw_path = raw
    for name, paths, token in plan:  # warm-up: connections, per-process caches
        for url in (new, old):
            wrk.run(name, url, paths, 32, 1, token)
    wrk.run(RAW_FLOOR, raw_url, [raw_path], 32, 1)
    for round_no in range(rounds):
        order = (("new", new), ("old", old)) if round_no % 2 == 0 else (("old", old),
                                                                         ("new", new))
        got = wrk.run(RAW_FLOOR, raw_url, [raw_path], 32, seconds)
        for which in ("new", "old"):  # one server: the same figure stands for both
            rps[RAW_FLOOR][which].append(got.rps)
            p99[RAW_FLOOR][which].append(got.p99_ms)
        for name, paths, token in plan:
            for which, url in order:
                got = wrk.run(name, url, paths, 32, seconds, token)
                if got.errors:
                    raise SystemExit(f"{name} on the {which} API: {got.errors} errors")
                rps[name][which].append(got.rps)
                p99[name][which].append(got.p99_ms)
        print(f"  round {round_no + 1}/{rounds} done", flush=True)
    return rps, p99


RAW_FLOOR = "raw floor"


def table(runs: Runs, p99: Runs, ref: str) -> str:
    """Markdown: median req/s and p99 of each API, req/s over its own floor and over the raw
    floor, and new/old."""
    med = {name: {k: statistics.median(v) for k, v in sides.items()}
           for name, sides in runs.items()}
    tail = {name: {k: statistics.median(v) for k, v in sides.items()}
            for name, sides in p99.items()}
    floor, raw = med["floor"], med[RAW_FLOOR]["new"]
    lines = [f"| scenario (32 conns) | new req/s | `{ref}` req/s | new p99 ms | old p99 ms "
             "| new / floor | old / floor | new / raw floor | old / raw floor | new / old |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, m in med.items():
        t = tail[name]
        lines.append(f"| {name} | {m['new']:.0f} | {m['old']:.0f} | {t['new']:.2f} | "
                     f"{t['old']:.2f} | {m['new'] / floor['new']:.2f} | "
                     f"{m['old'] / floor['old']:.2f} | {m['new'] / raw:.2f} | "
                     f"{m['old'] / raw:.2f} | {m['new'] / m['old']:.3f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.ab")
    parser.add_argument("--ref", required=True, help="the earlier revision to compare with")
    parser.add_argument("--cars", type=int, default=10000)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    ref = subprocess.run(["git", "rev-parse", "--short", args.ref], check=True,
                         capture_output=True, text=True).stdout.strip()
    wrk.ensure_wrk()
    os.environ["CARPAGES_TRAIN_ON_UP"] = "0"  # both rank by popularity: same work for both
    stack.down(ROOT)
    env = stack.up(ROOT.resolve(), cars=args.cars, log=lambda m: print(f"  {m}", flush=True))
    try:
        variables = env.variables()
        facts = _catalogue_facts(mysql_params(variables["MYSQL_URL"]))
        plan = scenarios(facts, variables["API_JWT_SECRET"])
        sample_file = ROOT.resolve() / "raw_floor_sample.json"
        # The page the dedicated scenarios start with, as this checkout's API answers it.
        raw_path = next(paths for name, paths, _ in plan if name == "dedicated anon")[0]
        raw_floor.record(variables["API_URL"], raw_path, sample_file)
        with old_api(ref, {**os.environ, **variables}, ROOT.resolve() / "ab-old-api.log") as old, \
                _raw_floor("uvicorn", sample_file, variables, "ab-raw-floor") as raw:
            compared = same_answers(variables["API_URL"], old, plan)
            print(f"  {compared} paths answered identically by both APIs", flush=True)
            runs, p99 = measure(variables["API_URL"], old, plan, args.seconds, args.rounds,
                                (raw, raw_path))
    finally:
        stack.down(ROOT)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"ab-{stamp}.json"
    out.write_text(json.dumps({"ref": ref, "head": _head(), "cars": args.cars,
                               "seconds": args.seconds, "rounds": args.rounds,
                               "paths_compared": compared, "rps": runs, "p99_ms": p99},
                              indent=1))
    print(table(runs, p99, ref))
    print(f"results: {out}")
    return 0


def _head() -> str:
    return subprocess.run(["git", "rev-parse", "--short", "HEAD"], check=True,
                          capture_output=True, text=True).stdout.strip()


if __name__ == "__main__":
    sys.exit(main())
