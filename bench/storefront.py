"""SSR TTFB: the Next.js storefront's two pages in production mode, on the cache-served API and
on the API's DB-direct twins (`/_baseline/*`), with a real Chromium's navigation timing.

TTFB is taken per request on a fresh loopback connection (an ad click arrives on a new one):
from connect to the first byte of the response, then the body is read to the end. The API's own
share is the same upstream request measured straight against the API at the same concurrency,
over the storefront's TTFB (an upper bound: the storefront revalidates anonymous pages with
If-None-Match and often gets an empty 304, the direct run always reads the full body).
"""

from __future__ import annotations

import asyncio
import random
import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tests.browser.storefront_support import browser, running_storefront

BUDGET_MS = 60.0
"""The product's end-to-end goal for an ad click's page."""
CONCURRENCY = (1, 8)
LISTING_FACETS = "fuel_type,transmission,owner,price,year"
"""What the storefront's listing asks the API for beside the cards (its filter options)."""


@dataclass
class Latency:
    """One load run: requests, non-200 answers, TTFB and full-response percentiles (ms)."""

    requests: int
    errors: int
    ttfb_p50_ms: float
    ttfb_p99_ms: float
    total_p50_ms: float
    total_p99_ms: float


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


async def _one(host: str, port: int, path: str) -> tuple[int, float, float]:
    """(status, ttfb s, total s) of one GET on a new connection."""
    started = time.perf_counter()
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAccept: text/html\r\n"
                 "Connection: close\r\n\r\n".encode())
    await writer.drain()
    first = await reader.read(1)
    ttfb = time.perf_counter() - started
    rest = await reader.read()
    total = time.perf_counter() - started
    writer.close()
    status_line = (first + rest).split(b"\r\n", 1)[0].split()
    return (int(status_line[1]) if len(status_line) > 1 else 0), ttfb, total


async def _load(base: str, paths: list[str], clients: int, seconds: float) -> Latency:
    """`clients` closed-loop clients over `paths` for `seconds`."""
    url = urlsplit(base)
    host, port = url.hostname or "127.0.0.1", url.port or 80
    ttfbs: list[float] = []
    totals: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds

    async def client(offset: int) -> None:
        nonlocal errors
        i = offset
        while time.perf_counter() < deadline:
            status, ttfb, total = await _one(host, port, paths[i % len(paths)])
            i += clients
            if status != 200:
                errors += 1
            ttfbs.append(ttfb * 1000)
            totals.append(total * 1000)

    await asyncio.gather(*(client(k) for k in range(clients)))
    return Latency(len(ttfbs), errors, _pct(ttfbs, 50), _pct(ttfbs, 99), _pct(totals, 50),
                   _pct(totals, 99))


def _run(base: str, paths: list[str], clients: int, seconds: float) -> Latency:
    asyncio.run(_load(base, paths, clients, min(1.0, seconds)))  # warm-up: JIT, pools, caches
    return asyncio.run(_load(base, paths, clients, seconds))


def _plan(facts: dict[str, Any]) -> dict[str, tuple[list[str], list[str]]]:
    """Page -> (storefront paths, the API requests they make)."""
    rng = random.Random(7)
    ids = rng.sample(facts["ids"], min(500, len(facts["ids"])))
    city = facts["city"]
    listing = [f"/used-cars?city_id={city}&order_by=price_asc&page_no={p}" for p in (1, 2, 3)]
    api_listing = [f"/listing/?city_id={city}&order_by=price_asc&page_no={p}&slug=used-cars"
                   f"&facets={LISTING_FACETS}" for p in (1, 2, 3)]
    return {
        "dedicated": ([f"/user-cars/{i}" for i in ids], [f"/listing/{i}/" for i in ids]),
        "listing": (listing, api_listing),
    }


def _navigation(site: str, paths: list[str], log: Path, visits: int = 5) -> dict[str, float]:
    """Median navigation timing (ms) of a fresh Chromium page load, over `visits` pages."""
    samples: dict[str, list[float]] = {"responseStart": [], "domContentLoaded": [], "load": []}
    with browser(log) as chromium:
        for n, path in enumerate(paths[:visits]):
            timing = chromium.goto(site + path, session=f"visit-{n}")["timing"] or {}
            for key, values in samples.items():
                if key in timing:
                    values.append(float(timing[key]))
    return {k: round(statistics.median(v), 1) for k, v in samples.items() if v}


def measure(api_url: str, facts: dict[str, Any], seconds: float, logs: Path) -> dict[str, Any]:
    """Every figure of the SSR TTFB scenario, printed as it comes."""
    plan = _plan(facts)
    out: dict[str, Any] = {"budget_ms": BUDGET_MS, "seconds_per_run": seconds, "pages": {}}
    with running_storefront(api_url, logs / "storefront.log") as site, \
            running_storefront(api_url, logs / "storefront-baseline.log",
                               API_PATH_PREFIX="/_baseline") as baseline:
        for page, (paths, api_paths) in plan.items():
            rows: dict[str, Any] = {}
            for clients in CONCURRENCY:
                row = {"storefront": asdict(_run(site, paths, clients, seconds)),
                       "api": asdict(_run(api_url, api_paths, clients, seconds)),
                       "baseline storefront": asdict(_run(baseline, paths, clients, seconds))}
                rows[str(clients)] = row
                ssr, api = row["storefront"], row["api"]
                print(f"  SSR {page:<10} c{clients}: TTFB p50 {ssr['ttfb_p50_ms']:.1f} ms "
                      f"p99 {ssr['ttfb_p99_ms']:.1f} ms (API p50 {api['ttfb_p50_ms']:.1f} ms); "
                      f"DB-direct TTFB p99 {row['baseline storefront']['ttfb_p99_ms']:.1f} ms",
                      flush=True)
            out["pages"][page] = {
                "load": rows,
                "navigation": _navigation(site, paths, logs / f"chromium-{page}.log"),
                "navigation_baseline": _navigation(baseline, paths,
                                                   logs / f"chromium-{page}-baseline.log"),
            }
    return out


def table(r: dict[str, Any]) -> list[str]:
    """Markdown lines for BENCHMARKS.md."""
    budget = r["budget_ms"]
    lines = ["", "### SSR TTFB (Next.js storefront)", "",
             f"`next start`, one Node process, on the same machine; a fresh connection per "
             f"request; {r['seconds_per_run']} s per run. API share = the same upstream request "
             "straight at the API (p50), over the storefront's p50. DB-direct = the same pages "
             "rendered from the API's `/_baseline/*` twins.", "",
             "| page | clients | SSR TTFB p50 ms | SSR TTFB p99 ms | vs 60 ms | API p50 ms | "
             "API share | DB-direct SSR TTFB p50 ms | DB-direct SSR TTFB p99 ms | errors |",
             "|---|---:|---:|---:|---|---:|---:|---:|---:|---:|"]
    for page, figures in r["pages"].items():
        for clients, row in figures["load"].items():
            ssr, api, base = row["storefront"], row["api"], row["baseline storefront"]
            share = 100 * api["ttfb_p50_ms"] / ssr["ttfb_p50_ms"] if ssr["ttfb_p50_ms"] else 0
            verdict = "met" if ssr["ttfb_p99_ms"] <= budget else "MISSED"
            lines.append(
                f"| {page} | {clients} | {ssr['ttfb_p50_ms']:.1f} | {ssr['ttfb_p99_ms']:.1f} | "
                f"{verdict} | {api['ttfb_p50_ms']:.1f} | {share:.0f}% | "
                f"{base['ttfb_p50_ms']:.1f} | {base['ttfb_p99_ms']:.1f} | "
                f"{ssr['errors'] + base['errors']} |")
    lines += ["", "| page | Chromium responseStart ms | DOMContentLoaded ms | load ms | "
              "DB-direct: responseStart / DCL / load ms |", "|---|---:|---:|---:|---|"]
    for page, figures in r["pages"].items():
        nav, base = figures["navigation"], figures["navigation_baseline"]
        lines.append(f"| {page} | {nav.get('responseStart', 'n/a')} | "
                     f"{nav.get('domContentLoaded', 'n/a')} | {nav.get('load', 'n/a')} | "
                     f"{base.get('responseStart', 'n/a')} / {base.get('domContentLoaded', 'n/a')}"
                     f" / {base.get('load', 'n/a')} |")
    return lines
