"""Realistic ad-landing load for any carpages deployment (Locust).

    pip install locust   # all this file needs: it uses locust's own HTTP client and the stdlib
    export CARPAGES_JWT_SECRET=...  # optional: sign tokens for a share of logged-in buyers
    locust -f bench/locustfile.py --host http://127.0.0.1:8000 --users 50 --spawn-rate 10 \
        --run-time 2m --headless

The mix follows seed 001: ads land 50% on a dedicated page and 40% on a listing; 10% page
onward from a listing. Car ids, cities and makes are read once, at the start, from the API's
own listing and facets, so the file works against any catalogue; if that discovery fails the
run stops at once with exit code 1 (random ids would only measure 404s). About a fifth of users
carry a buyer token.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import random
import time
from typing import Any, ClassVar

import gevent
from locust import HttpUser, between, events, task
from locust.clients import HttpSession

BUYER_SHARE = float(os.environ.get("CARPAGES_BUYER_SHARE", "0.2"))
BUYER_ID_MAX = int(os.environ.get("CARPAGES_BUYER_ID_MAX", "20000"))
CANDIDATE_SLUGS = ["used-tata-nexon-cars-in-mumbai", "used-maruti-suzuki-cars-in-delhi",
                   "used-hyundai-creta-cars-in-bengaluru", "used-cars-in-pune",
                   "used-diesel-cars-in-mumbai"]
ORDERS = ["reco", "reco", "reco", "newest", "price_asc", "price_desc"]
log = logging.getLogger("carpages.locust")


class Catalogue:
    """What discovery found: live car ids, city and make ids, slugs the catalogue knows."""

    car_ids: ClassVar[list[int]] = []
    city_ids: ClassVar[list[int]] = []
    make_ids: ClassVar[list[int]] = []
    slugs: ClassVar[list[str]] = []


class DiscoveryFailed(RuntimeError):
    """The API did not give us car ids to request."""


def discover(session: HttpSession) -> None:
    """Fill `Catalogue` from the listing (newest order, a few pages), its facets and slugs."""
    for page in range(1, 6):
        with session.get("/listing/", params={"order_by": "newest", "page_size": 35,
                                              "page_no": page},
                         name="discovery /listing/", catch_response=True) as resp:
            if resp.status_code != 200:
                resp.failure(f"HTTP {resp.status_code}")
                raise DiscoveryFailed(f"GET /listing/ page {page}: HTTP {resp.status_code}: "
                                      f"{resp.text[:200]}")
            body = resp.json()
        Catalogue.car_ids.extend(card["id"] for card in body.get("results", []))
        if not body.get("next"):
            break
    if not Catalogue.car_ids:
        raise DiscoveryFailed("the listing returned no cars: is the cache built?")
    resp = session.get("/listing/", params={"facets": "city_id,make_id", "page_size": 1},
                       name="discovery facets")
    facets = (resp.json().get("facets") or {}) if resp.ok else {}
    Catalogue.city_ids = [int(c) for c in facets.get("city_id", {})]
    Catalogue.make_ids = [int(m) for m in facets.get("make_id", {})]
    for slug in CANDIDATE_SLUGS:  # a slug of another catalogue answers 404
        with session.get("/listing/", params={"slug": slug, "page_size": 1},
                         name="discovery slug", catch_response=True) as resp:
            if resp.status_code == 200:
                Catalogue.slugs.append(slug)
            resp.success()


@events.test_start.add_listener
def on_test_start(environment: Any, **_: Any) -> None:
    """Discover the catalogue with locust's own client (requests show in the statistics)."""
    session = HttpSession(environment.host.rstrip("/"), environment.events.request, None)
    try:
        discover(session)
    except Exception as exc:
        log.error("car id discovery failed, stopping: %s", exc)
        environment.process_exit_code = 1
        if environment.runner is not None:
            # After the start in progress has finished: quitting inside it is ignored.
            gevent.spawn_later(0.1, environment.runner.quit)
        return
    log.info("discovered %d cars, %d cities, %d makes, slugs %s", len(Catalogue.car_ids),
             len(Catalogue.city_ids), len(Catalogue.make_ids), Catalogue.slugs or "none")


def buyer_token(secret: str, buyer_id: int) -> str:
    """An HS256 JWT (`sub`, `exp`) signed with the API's secret, without a JWT library."""
    def part(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    header = part(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    claims = part(json.dumps({"sub": str(buyer_id), "exp": int(time.time()) + 3600}).encode())
    signature = hmac.new(secret.encode(), f"{header}.{claims}".encode(), hashlib.sha256).digest()
    return f"{header}.{claims}.{part(signature)}"


class AdVisitor(HttpUser):
    """One ad click: land, maybe page onward."""

    wait_time = between(0.5, 3)

    def on_start(self) -> None:
        self.headers: dict[str, str] = {}
        secret = os.environ.get("CARPAGES_JWT_SECRET")
        if secret and random.random() < BUYER_SHARE:
            token = buyer_token(secret, random.randint(1, BUYER_ID_MAX))
            self.headers["Authorization"] = f"Bearer {token}"
        self.next_url: str | None = None

    @task(50)
    def dedicated_page(self) -> None:
        if not Catalogue.car_ids:
            return  # discovery failed: the run is stopping
        car = random.choice(Catalogue.car_ids)
        self.client.get(f"/listing/{car}/", headers=self.headers, name="/listing/{id}/")

    @task(40)
    def listing(self) -> None:
        if not Catalogue.car_ids:
            return  # discovery failed: the run is stopping
        params: dict[str, Any] = {"order_by": random.choice(ORDERS), "page_size": 20}
        if Catalogue.slugs and random.random() < 0.5:
            params["slug"] = random.choice(Catalogue.slugs)
        elif Catalogue.city_ids:
            params["city_id"] = random.choice(Catalogue.city_ids)
            if Catalogue.make_ids and random.random() < 0.3:
                params["make_id"] = random.choice(Catalogue.make_ids)
        params["utm_source"] = "google"  # ads append tracking params; they must not matter
        resp = self.client.get("/listing/", params=params, headers=self.headers,
                               name="/listing/?filters")
        if resp.ok:
            self.next_url = resp.json().get("next")

    @task(10)
    def page_onward(self) -> None:
        if self.next_url:
            resp = self.client.get(self.next_url, headers=self.headers, name="/listing/?next")
            self.next_url = resp.json().get("next") if resp.ok else None
        else:
            self.listing()
