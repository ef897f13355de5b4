"""The HTTP plan of `make bench`: which paths each scenario cycles through, at what
concurrency, against which process (the API or the raw floor), and the loop that runs it."""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import jwt
from carpages_shared.progress import Progress

from bench import wrk

SERVER_CHOICE = ("raw floor", "raw floor c1", "floor", "floor c1", "dedicated anon",
                 "dedicated buyer", "listing broad reco", "listing price order")
"""The scenarios run under each server side by side (bench.server_choice)."""
SERVER_CHOICE_QUICK = ("raw floor", "dedicated anon", "listing broad reco")
"""QUICK runs: the raw floor and one scenario of each page, so the run stays under 3 minutes."""


@dataclass(frozen=True)
class Scenario:
    """One wrk run: `paths` cycled over `conns` connections to the process named `target`."""

    name: str
    paths: tuple[str, ...]
    conns: int
    token: str = ""
    target: str = "api"
    """"api" or "raw" (the raw floor process)."""


def plan(facts: Mapping[str, Any], secret: str, window: int) -> list[Scenario]:
    """Every HTTP scenario, in run order (a c1 run follows its warm 32-connection run)."""
    rng = random.Random(1)
    ids = rng.sample(facts["ids"], min(2000, len(facts["ids"])))
    city, make, fuel = facts["city"], facts["make"], facts["fuel"]
    token = jwt.encode({"sub": str(facts["buyers"][0]), "exp": int(time.time()) + 3600}, secret,
                       algorithm="HS256")
    pages = tuple(f"/listing/{i}/" for i in ids)
    broad = tuple(f"/listing/?city_id={city}&page_no={p}" for p in range(1, 4))
    narrow = (f"/listing/?city_id={city}&make_id={make}&fuel_type={fuel}"
              f"&price_min=300000&price_max=1500000&owner=1,2",)
    price = tuple(f"/listing/?city_id={city}&order_by=price_asc&page_no={p}" for p in range(1, 4))
    deep = (f"/listing/?order_by=newest&page_size=20&page_no={window // 20}",)
    slug = (f"/listing/?slug={facts['slug']}&order_by=newest",)
    facets = (f"/listing/?city_id={city}&order_by=newest&facets=make_id,fuel_type,city_id,price",)
    db_pages = tuple(f"/_baseline/listing/{i}/" for i in ids)
    db_listing = tuple(f"/_baseline/listing/?city_id={city}&page_no={p}" for p in range(1, 4))
    return [
        # The raw floor answers any path with its one recorded page; the paths only vary wrk's
        # request line the way the dedicated scenario's do.
        Scenario("raw floor", pages, 32, target="raw"),
        Scenario("raw floor c1", pages, 1, target="raw"),
        Scenario("floor", ("/healthz",), 32),
        Scenario("floor c1", ("/healthz",), 1),
        Scenario("dedicated anon", pages, 32),
        Scenario("dedicated anon c1", pages, 1),
        Scenario("dedicated buyer", pages, 32, token),
        Scenario("listing broad reco", broad, 32),
        Scenario("listing broad reco c1", broad, 1),
        Scenario("listing broad reco buyer", broad, 32, token),
        Scenario("listing narrow", narrow, 32),
        Scenario("listing price order", price, 32),
        Scenario("listing deep page", deep, 32),
        Scenario("listing slug", slug, 32),
        Scenario("listing facets", facets, 32),
        Scenario("db-direct dedicated", db_pages, 32),
        Scenario("db-direct dedicated c1", db_pages, 1),
        Scenario("db-direct listing", db_listing, 32),
        Scenario("db-direct listing c1", db_listing, 1),
    ]


def run_one(scenario: Scenario, url: str, seconds: float, warm_up: bool) -> wrk.WrkResult:
    """One measured wrk run, after a 1 s warm-up run when `warm_up`."""
    paths = list(scenario.paths)
    if warm_up:
        wrk.run(scenario.name, url, paths, scenario.conns, 1, scenario.token)
    return wrk.run(scenario.name, url, paths, scenario.conns, seconds, scenario.token)


def line(name: str, got: wrk.WrkResult) -> str:
    """One progress line."""
    return (f"  {name:<28} {got.rps:>8.0f} req/s  p50 {got.p50_ms:.2f} ms"
            f"  p99 {got.p99_ms:.2f} ms  errors {got.errors}")


def run(scenarios: Sequence[Scenario], urls: Mapping[str, str],
        seconds: float) -> dict[str, wrk.WrkResult]:
    """Run each scenario against `urls[scenario.target]`, warming up whenever the load changes
    (connections, caches); a c1 run straight after its warm 32-connection run skips it."""
    results = {}
    warm: tuple[str, tuple[str, ...], str] | None = None
    progress = Progress("HTTP scenarios", "runs", total=len(scenarios), stream=sys.stdout)
    for scenario in scenarios:
        url = urls[scenario.target]
        load = (url, scenario.paths, scenario.token)
        results[scenario.name] = run_one(scenario, url, seconds, warm_up=load != warm)
        warm = load
        progress.write(line(scenario.name, results[scenario.name]))
        progress.advance()
    progress.close()
    return results
