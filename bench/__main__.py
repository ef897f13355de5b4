"""`make bench`: the side-by-side benchmark. Starts its own stack under .stack-bench/.

Everything is measured in one run on one machine, and the report leads with ratios (the machine is
shared and noisy, so absolute figures drift while ratios hold). Load targets loopback only and
every loop is bounded in time.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import platform
import random
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import jwt
import pymysql
from carpages_local import stack
from carpages_shared.dsn import mysql_params
from carpages_shared.progress import Progress

from bench import freshness, report, scale, storefront, wrk

ROOT = Path(".stack-bench")


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


def _http_scenarios(api: str, facts: dict[str, Any], seconds: float, secret: str,
                    window: int) -> dict[str, wrk.WrkResult]:
    rng = random.Random(1)
    ids = rng.sample(facts["ids"], min(2000, len(facts["ids"])))
    city, make, fuel = facts["city"], facts["make"], facts["fuel"]
    token = jwt.encode({"sub": str(facts["buyers"][0]), "exp": int(time.time()) + 3600}, secret,
                       algorithm="HS256")
    pages = [f"/listing/{i}/" for i in ids]
    broad = [f"/listing/?city_id={city}&page_no={p}" for p in range(1, 4)]
    narrow = [f"/listing/?city_id={city}&make_id={make}&fuel_type={fuel}"
              f"&price_min=300000&price_max=1500000&owner=1,2"]
    price = [f"/listing/?city_id={city}&order_by=price_asc&page_no={p}" for p in range(1, 4)]
    deep = [f"/listing/?order_by=newest&page_size=20&page_no={window // 20}"]
    slug = [f"/listing/?slug={facts['slug']}&order_by=newest"]
    facets = [f"/listing/?city_id={city}&order_by=newest&facets=make_id,fuel_type,city_id,price"]
    db_pages = [f"/_baseline/listing/{i}/" for i in ids]
    db_listing = [f"/_baseline/listing/?city_id={city}&page_no={p}" for p in range(1, 4)]
    plan: list[tuple[str, list[str], int, str]] = [
        ("floor", ["/healthz"], 32, ""),
        ("floor c1", ["/healthz"], 1, ""),
        ("dedicated anon", pages, 32, ""),
        ("dedicated anon c1", pages, 1, ""),
        ("dedicated buyer", pages, 32, token),
        ("listing broad reco", broad, 32, ""),
        ("listing broad reco c1", broad, 1, ""),
        ("listing broad reco buyer", broad, 32, token),
        ("listing narrow", narrow, 32, ""),
        ("listing price order", price, 32, ""),
        ("listing deep page", deep, 32, ""),
        ("listing slug", slug, 32, ""),
        ("listing facets", facets, 32, ""),
        ("db-direct dedicated", db_pages, 32, ""),
        ("db-direct dedicated c1", db_pages, 1, ""),
        ("db-direct listing", db_listing, 32, ""),
        ("db-direct listing c1", db_listing, 1, ""),
    ]
    results = {}
    warm: tuple[list[str], str] = ([], "")
    progress = Progress("HTTP scenarios", "runs", total=len(plan), stream=sys.stdout)
    for name, paths, conns, tok in plan:
        if (paths, tok) != warm:  # warm-up: connections, caches (a c1 run follows a warm run)
            wrk.run(name, api, paths, conns, 1, tok)
            warm = (paths, tok)
        results[name] = wrk.run(name, api, paths, conns, seconds, tok)
        got = results[name]
        progress.write(f"  {name:<28} {got.rps:>8.0f} req/s  p50 {got.p50_ms:.2f} ms"
                       f"  p99 {got.p99_ms:.2f} ms  errors {got.errors}")
        progress.advance()
    progress.close()
    return results


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and write bench/results/<timestamp>.json and BENCHMARKS.md."""
    parser = argparse.ArgumentParser(prog="bench")
    parser.add_argument("--quick", action="store_true", help="short runs, no 100k catalogue")
    parser.add_argument("--cars", type=int, default=10000)
    args = parser.parse_args(argv)
    seconds = 2.0 if args.quick else 8.0
    started = time.monotonic()
    wrk.ensure_wrk()
    os.environ["API_BENCH_BASELINE"] = "true"
    # Training competes for the CPU with the measurements: the bench trains up front instead.
    os.environ["CARPAGES_TRAIN_ON_UP"] = "0"
    stack.down(ROOT)
    env = stack.up(ROOT.resolve(), cars=args.cars, log=lambda m: print(f"  {m}", flush=True))
    results: dict[str, Any] = {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                    "python": platform.python_version()},
        "quick": args.quick, "cars": args.cars, "seconds_per_run": seconds,
    }
    try:
        variables = env.variables()
        mysql = mysql_params(variables["MYSQL_URL"])
        facts = _catalogue_facts(mysql)
        if not args.quick:
            # The listing's reco order then comes from the LightFM model (the API hot-swaps it).
            trained = time.monotonic()
            # No refit on all interactions after the evaluation: half the training time, and
            # the served model has the same shape, so the serving cost measured is the same.
            subprocess.run([sys.executable, "-m", "carpages_reco", "train"], check=True,
                           env={**os.environ, **variables, "RECO_REFIT_ON_ALL": "false"},
                           stdin=subprocess.DEVNULL, capture_output=True)
            results["train_s"] = round(time.monotonic() - trained, 1)
            print(f"  trained and published the reco model in {results['train_s']} s",
                  flush=True)
            time.sleep(2)  # > the ranker's pub/sub wake-up and item sync
        results["ranker"] = ("lightfm (trained without the refit)" if not args.quick
                             else "popularity (QUICK: no training)")
        print("HTTP (wrk, one uvicorn worker):", flush=True)
        http = _http_scenarios(variables["API_URL"], facts, seconds, variables["API_JWT_SECRET"],
                               window=1000)
        results["http"] = {k: asdict(v) for k, v in http.items()}
        print("SSR TTFB (Next.js storefront):", flush=True)
        results["storefront"] = storefront.measure(variables["API_URL"], facts, seconds,
                                                   ROOT.resolve() / "logs")
        print("freshness:", flush=True)
        single = asyncio.run(freshness.single_rows(
            variables["API_URL"], mysql, facts["ids"], rate=200,
            samples=200 if args.quick else 1000, valkey_url=variables["VALKEY_URL"]))
        results["freshness"] = asdict(single)
        results["bulk_visible_s"] = asyncio.run(freshness.bulk_price_change(
            variables["VALKEY_URL"], mysql))
        print(f"  single rows p50 {single.p50_ms:.1f} ms p99 {single.p99_ms:.1f} ms; "
              f"{args.cars} prices in one transaction visible in "
              f"{results['bulk_visible_s']:.2f} s", flush=True)
        print("rebuild, memory, ranking:", flush=True)
        results["scale"] = scale.measure(ROOT.resolve(), env, quick=args.quick)
    finally:
        stack.down(ROOT)
    results["elapsed_s"] = round(time.monotonic() - started, 1)
    path = report.save(results)
    print(report.table(results))
    print(f"results: {path}; table appended to BENCHMARKS.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
