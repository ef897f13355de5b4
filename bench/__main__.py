"""`make bench`: the side-by-side benchmark. Starts its own stack under .stack-bench/.

Everything is measured in one run on one machine, and the report leads with ratios (the machine is
shared and noisy, so absolute figures drift while ratios hold). Load targets loopback only and
every loop is bounded in time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path
from typing import Any

import psutil
import pymysql
from carpages_local import servers, stack, supervisor
from carpages_shared.dsn import mysql_params

from bench import (
    cdc_throughput,
    freshness,
    raw_floor,
    report,
    scale,
    scale_cdc,
    scale_http,
    scenarios,
    server_choice,
    server_process,
    storefront,
    valkey_cluster,
    wrk,
)
from bench import charts as charts_module
from bench import phases as phases_module
from tests.browser import storefront_support

ROOT = Path(".stack-bench")
FRESHNESS_RATES = ((200, 200, 1000), (2000, 2000, 4000))
"""(rows/s offered, samples in QUICK runs, samples in full runs) of the single-row freshness."""


def _catalogue_facts(mysql: dict[str, Any]) -> dict[str, Any]:
    conn = pymysql.connect(**mysql)
    with conn.cursor() as cur:
        cur.execute("SELECT id FROM car WHERE status = 'live'")
        ids = [int(r[0]) for r in cur.fetchall()]
        cur.execute(
            "SELECT l.city_id, COUNT(*) n FROM car c JOIN locality l ON l.id = c.locality_id"
            " WHERE c.status = 'live' GROUP BY l.city_id ORDER BY n DESC LIMIT 1")
        city, city_cars = cur.fetchone()
        cur.execute(
            "SELECT md.make_id, c.fuel_type FROM car c JOIN variant v ON v.id = c.variant_id"
            " JOIN model md ON md.id = v.model_id JOIN locality l ON l.id = c.locality_id"
            " WHERE c.status='live' AND l.city_id=%s GROUP BY md.make_id, c.fuel_type"
            " ORDER BY COUNT(*) DESC LIMIT 1", (city,))
        make, fuel = cur.fetchone()
        cur.execute("SELECT value FROM slug WHERE type = 'city' AND filter = %s", (str(city),))
        city_slug = cur.fetchone()[0]
        cur.execute("SELECT value FROM slug WHERE type = 'make' AND filter = %s", (str(make),))
        make_slug = cur.fetchone()[0]
        cur.execute("SELECT buyer_id FROM interaction GROUP BY buyer_id ORDER BY COUNT(*) DESC"
                    " LIMIT 200")
        buyers = [int(r[0]) for r in cur.fetchall()]
    conn.close()
    return {"ids": ids, "city": int(city), "city_cars": int(city_cars), "make": int(make),
            "fuel": fuel, "slug": f"used-{make_slug}-cars-in-{city_slug}", "buyers": buyers}


def _raw_floor(server: str, sample: Path, variables: dict[str, str],
               name: str) -> contextlib.AbstractContextManager[str]:
    port = servers.free_port()
    url = f"http://127.0.0.1:{port}"
    argv = [sys.executable, "-m", "bench.raw_floor", "--sample", str(sample), "--server", server,
            "--port", str(port)]
    return _serving(name, argv, url, url + "/", variables)


def _api(server: str, variables: dict[str, str],
         name: str = "") -> contextlib.AbstractContextManager[str]:
    port = servers.free_port()
    url = f"http://127.0.0.1:{port}"
    argv = [sys.executable, "-m", "carpages_api", "--server", server, "--host", "127.0.0.1",
            "--port", str(port)]
    return _serving(name or f"api-{server}", argv, url, url + "/readyz", variables)


@contextlib.contextmanager
def _serving(name: str, argv: list[str], url: str, ready: str,
             variables: dict[str, str]) -> Iterator[str]:
    env = stack.service_env(ROOT.resolve(), variables)
    with server_process.running(argv, env, ready, ROOT.resolve() / "logs" / f"{name}.log"):
        yield url


def _http(variables: dict[str, str], facts: dict[str, Any], seconds: float,
          results: dict[str, Any], quick: bool) -> None:
    """The HTTP plan against the stack's API (uvicorn) and the raw floor, then the server
    choice: the floors and main scenarios under uvicorn and Granian, side by side; then (full
    runs) Valkey Cluster against standalone."""
    api = variables["API_URL"]
    plan = scenarios.plan(facts, variables["API_JWT_SECRET"], window=1000)
    sample_file = ROOT.resolve() / "raw_floor_sample.json"
    sample = raw_floor.record(api, plan[0].paths[0], sample_file)
    results["raw_floor"] = {"path": sample["path"], "body_bytes": len(sample["body"].encode()),
                            "headers": len(sample["headers"])}
    with _raw_floor("uvicorn", sample_file, variables, "raw-floor-uvicorn") as raw:
        print("HTTP (wrk, one uvicorn worker):", flush=True)
        http = scenarios.run(plan, {"api": api, "raw": raw}, seconds)
        results["http"] = {k: asdict(v) for k, v in http.items()}
        print("server choice (uvicorn vs granian):", flush=True)
        with _raw_floor("granian", sample_file, variables, "raw-floor-granian") as raw_g, \
                _api("granian", variables) as api_g:
            names = scenarios.SERVER_CHOICE_QUICK if quick else scenarios.SERVER_CHOICE
            chosen = [s for s in plan if s.name in names]
            measured = server_choice.measure(
                chosen, {"uvicorn": {"api": api, "raw": raw},
                         "granian": {"api": api_g, "raw": raw_g}}, seconds)
    results["servers"] = {server: {k: asdict(v) for k, v in got.items()}
                          for server, got in measured.items()}
    if not quick:
        print("Valkey Cluster vs standalone:", flush=True)
        results["valkey_cluster"] = _valkey_cluster(variables, plan, seconds)


def _valkey_cluster(variables: dict[str, str], plan: list[scenarios.Scenario],
                    seconds: float) -> dict[str, Any]:
    """The dedicated page and the broad listing on the stack's API (standalone Valkey), on a
    standalone API without its L1, and on the same API over a 3-node cluster holding the same
    catalogue, back to back per scenario."""
    started = time.monotonic()
    mysql = mysql_params(variables["MYSQL_URL"])
    chosen = [s for s in plan if s.name in valkey_cluster.SCENARIOS]
    with valkey_cluster.built(ROOT.resolve() / "valkey-cluster", mysql,
                              variables["VALKEY_URL"]) as (node, build), \
            contextlib.ExitStack() as apis:
        print(f"  {build['nodes']}-node cluster built in {build['rebuild_s']} s", flush=True)
        sides = {valkey_cluster.STANDALONE: {"api": variables["API_URL"]}}
        for side, extra in valkey_cluster.api_envs(node).items():
            name = "api-" + "-".join(side.replace(",", "").split())
            sides[side] = {"api": apis.enter_context(
                _api("uvicorn", {**variables, **extra}, name))}
        measured = server_choice.measure(chosen, sides, seconds, title="cluster vs standalone")
    # Start to stop (nodes, build, two API processes, the runs): what this part adds to a run.
    elapsed = round(time.monotonic() - started, 1)
    print(f"  cluster part: {elapsed} s", flush=True)
    return {"build": build, "elapsed_s": elapsed,
            "runs": {side: {k: asdict(v) for k, v in got.items()}
                     for side, got in measured.items()}}


def _at_100k(variables: dict[str, str], facts: dict[str, Any],
             seconds: float, quick: bool) -> scale.Serve:
    """What bench.scale runs while the 100k build is up: the main scenarios on an API serving
    it, beside the same scenarios on the stack's API (10k), back to back per scenario; then a
    CDC pipeline over the 100k build: freshness and the bulk change (bench.scale_cdc)."""
    def serve(valkey_url: str, mysql_url: str) -> dict[str, Any]:
        started = time.monotonic()
        big = _catalogue_facts(mysql_params(mysql_url))
        secret = variables["API_JWT_SECRET"]
        print(f"  10k vs 100k cars (broad listing: {facts['city_cars']} vs {big['city_cars']} "
              "cars of the biggest city):", flush=True)

        def api() -> contextlib.AbstractContextManager[str]:
            # The baseline routes read the 100k database too, should anything call them.
            return _api("uvicorn", {**variables, "API_VALKEY_URL": valkey_url,
                                    "API_MYSQL_URL": mysql_url}, "api-100k")

        def cdc(api_url: str) -> dict[str, Any]:
            try:
                return scale_cdc.measure(ROOT.resolve(), variables, api_url, mysql_url,
                                         valkey_url, big["ids"], quick)
            except Exception as exc:
                # The HTTP figures are in by now: a failure here must not lose them.
                print(f"  100k CDC part failed: {exc!r}", flush=True)
                return {"error": repr(exc)}

        got = scale_http.measure(scenarios.plan(facts, secret, window=1000),
                                 scenarios.plan(big, secret, window=1000),
                                 variables["API_URL"], api, valkey_url, variables["VALKEY_URL"],
                                 seconds, while_up=cdc)
        # Start to stop (facts, model copy, the API process, the runs): what serving 100k adds.
        got["elapsed_s"] = round(time.monotonic() - started, 1)
        got["city_cars"] = {scale_http.SMALL: facts["city_cars"],
                            scale_http.BIG: big["city_cars"]}
        got["live_cars"] = {scale_http.SMALL: len(facts["ids"]), scale_http.BIG: len(big["ids"])}
        print(f"  100k HTTP part: {got['elapsed_s']} s", flush=True)
        return got
    return serve


TRAIN_EPOCHS = 10
"""The bench's training epochs (the product's default is 30)."""


def _train(variables: dict[str, str]) -> None:
    """Train and publish the reco model: the listing's reco order then comes from LightFM (the
    API hot-swaps it in)."""
    # No refit on all interactions after the evaluation, and a third of the epochs: the served
    # model has the same shape (components, items, features), so the serving cost measured is
    # the same, and the bench measures no model quality. The time goes to set-up instead.
    subprocess.run([sys.executable, "-m", "carpages_reco", "train"], check=True,
                   env={**os.environ, **variables, "RECO_REFIT_ON_ALL": "false",
                        "RECO_EPOCHS": str(TRAIN_EPOCHS)},
                   stdin=subprocess.DEVNULL, capture_output=True)


def _prepare(variables: dict[str, str], env: stack.StackEnv, train: bool,
             build_storefront: bool, big: bool) -> dict[str, float]:
    """The run's set-up that nothing measures, side by side before the first measurement:
    training the reco model, the storefront's production build, and generating and loading
    the 100k catalogue. Each is mostly one thread (the trainer uses two), so on two cores they
    overlap instead of adding up; every measurement then runs on a quiet machine. Returns each
    task's wall seconds (longer than alone: they share the cores)."""
    tasks: dict[str, Callable[[], object]] = {}
    if train:
        tasks["train"] = lambda: _train(variables)
    if build_storefront:
        tasks["storefront build"] = storefront_support.ensure_build
    if big:
        tasks["100k catalogue"] = lambda: scale.big_catalogue(env)
    seconds: dict[str, float] = {}
    if not tasks:
        return seconds
    started = time.monotonic()

    def timed(name: str) -> None:
        tasks[name]()
        seconds[name] = round(time.monotonic() - started, 1)
        print(f"  {name}: done after {seconds[name]} s", flush=True)

    print(f"prepare ({', '.join(tasks)}, side by side):", flush=True)
    with ThreadPoolExecutor(max_workers=len(tasks)) as pool:
        for done in [pool.submit(timed, name) for name in tasks]:
            done.result()  # the first failure stops the run, as each did when run alone
    if big:
        # The stack's publisher reads the load's binlog too (and skips it: another schema);
        # the first measurement must not share the cores with that.
        seconds["settle"] = _settle(_cdc_pids())
    return seconds


def _cdc_pids() -> dict[str, int]:
    """The stack's CDC roles' pids (the supervisor's state file)."""
    state = supervisor.read_state(ROOT.resolve() / supervisor.STATE_FILE) or {}
    services = state.get("services", {})
    return {role: int(services[f"cdc-{role}"]["pid"]) for role in ("publisher", "applier")}


def _settle(pids: dict[str, int], idle_cpu_s: float = 0.05, step_s: float = 0.5,
            limit_s: float = 120.0) -> float:
    """Wait until each process used under `idle_cpu_s` CPU over one `step_s` (at most
    `limit_s`); the seconds waited."""
    started = time.monotonic()
    processes = [psutil.Process(pid) for pid in pids.values()]

    def used() -> list[float]:
        return [sum(p.cpu_times()[:2]) for p in processes]

    before = used()
    while time.monotonic() - started < limit_s:
        time.sleep(step_s)
        now = used()
        if all(b - a < idle_cpu_s for a, b in zip(before, now, strict=True)):
            break
        before = now
    waited = round(time.monotonic() - started, 1)
    print(f"  CDC roles idle after {waited} s", flush=True)
    return waited


def _bulk_change(env: stack.StackEnv, mysql: dict[str, Any], cars: int,
                 statements: int = 1) -> tuple[float, list[tuple[float, int]], dict[str, Any]]:
    """The bulk price change, with the CDC roles' counters and CPU sampled while it runs:
    seconds until every page shows it, its pages-visible timeline, its throughput."""
    ports = env.metrics_ports()
    urls = {role: f"http://127.0.0.1:{ports[f'cdc-{role}']}/metrics"
            for role in ("publisher", "applier")}
    pids = _cdc_pids()
    timeline: list[tuple[float, int]] = []
    marks: list[float] = []
    with cdc_throughput.sampling(urls, pids) as sampler:
        visible = asyncio.run(freshness.bulk_price_change(
            env.variables()["VALKEY_URL"], mysql, timeline=timeline, statements=statements,
            on_commit=marks.append))
        if not sampler.wait_for(cars * statements, timeout_s=120):
            print("  CDC throughput: not every row was counted within 120 s", flush=True)
    return visible, timeline, cdc_throughput.summarise(sampler, marks[0])


def _throughput_line(label: str, got: dict[str, Any]) -> str:
    pub, app = got.get("published"), got.get("applied")
    if not pub or not app:
        return f"  {label}: no throughput figures ({got.get('samples')} samples)"
    return (f"  {label}: publisher {pub['rows_per_s']:.0f} rows/s "
            f"({pub['cpu_s_per_1k']:.3f} CPU-s/1k rows), applier {app['rows_per_s']:.0f} "
            f"rows/s ({app['cpu_s_per_1k']:.3f} CPU-s/1k rows)")


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and write bench/results/<timestamp>.json and BENCHMARKS.md."""
    parser = argparse.ArgumentParser(prog="bench")
    parser.add_argument("--quick", action="store_true",
                        help="short runs; no 100k catalogue, storefront or cluster comparison")
    parser.add_argument("--cars", type=int, default=10000)
    parser.add_argument("--with-100k", action="store_true",
                        help="with --quick: build and serve the 100k catalogue anyway (to try "
                             "that part out; a normal QUICK run skips it)")
    args = parser.parse_args(argv)
    # 5 s runs (~50,000 requests each at 10k req/s): the full run's ~80 wrk runs and the
    # storefront's 16 then fit its 15 minutes with the 100k parts.
    seconds = 2.0 if args.quick else 5.0
    started = time.monotonic()
    wrk.ensure_wrk()
    os.environ["API_BENCH_BASELINE"] = "true"
    # The stack's API is the uvicorn side of every comparison, whatever the caller's default.
    os.environ["API_SERVER"] = "uvicorn"
    # Training competes for the CPU with the measurements: the bench trains up front instead.
    os.environ["CARPAGES_TRAIN_ON_UP"] = "0"
    phases = phases_module.Phases()
    stack.down(ROOT)
    with phases.timed("stack up"):
        env = stack.up(ROOT.resolve(), cars=args.cars, log=lambda m: print(f"  {m}", flush=True))
    results: dict[str, Any] = {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                    "python": platform.python_version()},
        "quick": args.quick, "cars": args.cars, "seconds_per_run": seconds,
        "phases": phases.seconds,
    }
    try:
        variables = env.variables()
        mysql = mysql_params(variables["MYSQL_URL"])
        facts = _catalogue_facts(mysql)
        big = not args.quick or args.with_100k
        with phases.timed("prepare"):
            results["prepare"] = _prepare(variables, env, train=not args.quick,
                                          build_storefront=not args.quick, big=big)
        if "train" in results["prepare"]:
            results["train_s"] = results["prepare"]["train"]
            time.sleep(2)  # > the ranker's pub/sub wake-up and item sync
        results["ranker"] = (f"lightfm (trained {TRAIN_EPOCHS} epochs, without the refit)"
                             if not args.quick
                             else "popularity (QUICK: no training)")
        with phases.timed("HTTP, server choice, cluster"):
            _http(variables, facts, seconds, results, args.quick)
        # QUICK runs (under 3 minutes) leave out the storefront and the cluster comparison,
        # the two parts that start and build most; full runs measure both.
        if not args.quick:
            with phases.timed("storefront"):
                print("SSR TTFB (Next.js storefront):", flush=True)
                results["storefront"] = storefront.measure(variables["API_URL"], facts, seconds,
                                                           ROOT.resolve() / "logs")
        with phases.timed("freshness and bulk change"):
            print("freshness:", flush=True)
            for rate, quick_samples, samples in FRESHNESS_RATES:
                single = asyncio.run(freshness.single_rows(
                    variables["API_URL"], mysql, facts["ids"], rate=rate,
                    samples=quick_samples if args.quick else samples,
                    valkey_url=variables["VALKEY_URL"]))
                results["freshness" if rate == 200 else f"freshness_{rate}"] = asdict(single)
                print(f"  single rows at {single.rate_per_s:.0f}/s: p50 {single.p50_ms:.1f} ms "
                      f"p99 {single.p99_ms:.1f} ms, {single.missed} missed", flush=True)
            visible, timeline, throughput = _bulk_change(env, mysql, len(facts["ids"]))
            results["bulk_visible_s"] = visible
            results["bulk_timeline"] = timeline
            results["cdc_throughput"] = {"1x": throughput}
            print(f"  {args.cars} prices in one transaction visible in "
                  f"{results['bulk_visible_s']:.2f} s", flush=True)
            print(_throughput_line(f"{args.cars} rows", throughput), flush=True)
        with phases.timed("rebuild, memory, ranking, 100k"):
            print("rebuild, memory, ranking:", flush=True)
            results["scale"] = scale.measure(
                ROOT.resolve(), env, big=big,
                serve_big=_at_100k(variables, facts, seconds, args.quick))
    finally:
        stack.down(ROOT)
    results["elapsed_s"] = round(time.monotonic() - started, 1)
    name = report.stem()
    path = report.save(results, name)
    charts = charts_module.render(results, report.RESULTS / name)
    report.append(results, charts)
    print(report.table(results, charts))
    print(f"results: {path}; charts: {', '.join(map(str, charts))}; section appended to "
          "BENCHMARKS.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
