"""The main HTTP scenarios at 100,000 live cars, side by side with the same ones at 10,000.

bench.scale builds the generated 100k-car catalogue into a private Valkey to time the rebuild;
while that Valkey still runs, a second API (the same `python -m carpages_api`, one uvicorn
worker, `API_VALKEY_URL` at the 100k build) serves it, with the stack's reco model copied over
so both sides rank the same way. Each side runs its own plan: ids, city and make come from its
own catalogue (bench.__main__'s catalogue facts), so "listing broad reco" is every car of the
biggest city of that catalogue, ten times as many at 100k. bench.server_choice runs every
scenario on one side then straight after on the other, the order alternating.

Both Valkeys' command statistics are reset before the runs and read after them, so the report
can say which commands cost the 100k server more time per call (a composition's ZINTERSTORE
over bigger sets, a ZRANGE of a bigger result) beside what the API process itself spends.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import asdict
from typing import Any

import valkey

from bench import scenarios, server_choice, valkey_cluster

SCENARIOS = ("dedicated anon", "dedicated buyer", "listing broad reco", "listing broad reco buyer",
             "listing narrow", "listing price order", "listing deep page", "listing slug",
             "listing facets")
"""Every scenario of the bench's HTTP plan that serves from the cache at 32 connections (not
the floors, the one-connection repeats or the db-direct twins): the dedicated page anonymous
and signed in, the reco-ordered listing for both, a filtered one (city, make, fuel, price and
owner: an intersection of five index sets), the price order, the deep page, a slug URL and a
listing with facets."""

SMALL, BIG = "10k", "100k"
"""The sides: the stack's API on its 10k catalogue, the second API on the 100k build."""

LISTING_GOAL = 0.7
"""Issue goal: a listing at 100k cars serves ≥ 0.7× the req/s of the same listing at 10k."""

TOP_COMMANDS = 8
"""Commands kept per side from Valkey's INFO commandstats, by total time."""


def chosen(plan: Sequence[scenarios.Scenario]) -> list[scenarios.Scenario]:
    """This part's scenarios out of a full HTTP plan, in plan order."""
    return [s for s in plan if s.name in SCENARIOS]


def goals(runs: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> list[tuple[str, float, bool]]:
    """(listing scenario, 100k ÷ 10k req/s, goal met) for every listing measured on both
    sides."""
    out = []
    for name, small in runs.get(SMALL, {}).items():
        big = runs.get(BIG, {}).get(name)
        if name.startswith("listing") and big is not None and small["rps"]:
            value = big["rps"] / small["rps"]
            out.append((name, value, value >= LISTING_GOAL))
    return out


def top_commands(stats: Mapping[str, Mapping[str, Any]],
                 limit: int = TOP_COMMANDS) -> dict[str, dict[str, float]]:
    """{command: calls, usec, usec_per_call} of the `limit` commands that took the most server
    time, from valkey-py's parsed INFO commandstats ({"cmdstat_<name>": {...}})."""
    got = {name.removeprefix("cmdstat_"): {k: float(v[k]) for k in
                                           ("calls", "usec", "usec_per_call")}
           for name, v in stats.items() if name.startswith("cmdstat_")}
    return dict(sorted(got.items(), key=lambda kv: -kv[1]["usec"])[:limit])


def _commands(client: valkey.Valkey) -> dict[str, dict[str, float]]:
    """The side's busiest commands; none when its Valkey does not answer (a server still
    working off what the runs queued must not cost the run its other figures)."""
    try:
        return top_commands(client.info("commandstats"))
    except valkey.ValkeyError as exc:
        print(f"  commandstats unavailable: {exc!r}", flush=True)
        return {}


def measure(small: Sequence[scenarios.Scenario], big: Sequence[scenarios.Scenario],
            small_api: str, big_api: Callable[[], AbstractContextManager[str]],
            valkey_url: str, source_valkey_url: str, seconds: float,
            while_up: Callable[[str], dict[str, Any]] | None = None) -> dict[str, Any]:
    """Copy the reco model of `source_valkey_url` to the built Valkey at `valkey_url`, start
    `big_api` on it, and run `small` against `small_api` and `big` against it, back to back;
    then `while_up(the big API's URL)`, whose figures are kept as "cdc"."""
    clients = {SMALL: valkey.Valkey.from_url(source_valkey_url),
               BIG: valkey.Valkey.from_url(valkey_url)}
    try:
        model = valkey_cluster.copy_reco_model(source_valkey_url, clients[BIG])
        with big_api() as url:
            for client in clients.values():
                client.config_resetstat()  # from here on: the runs (and the warm-ups) only
            measured = server_choice.measure(chosen(small), {SMALL: {"api": small_api},
                                                             BIG: {"api": url}},
                                             seconds, title="10k vs 100k cars",
                                             own={BIG: chosen(big)})
            commands = {side: _commands(client) for side, client in clients.items()}
            cdc = while_up(url) if while_up is not None else None
    finally:
        for client in clients.values():
            client.close()
    return {"reco_model": model, "valkey_commands": commands, "cdc": cdc,
            "runs": {side: {k: asdict(v) for k, v in got.items()}
                     for side, got in measured.items()}}
