"""Realistic ad-landing load for any carpages deployment (Locust).

    pip install locust   # not a project dependency: load generators run outside the product
    export CARPAGES_JWT_SECRET=...  # optional: sign tokens for a share of logged-in buyers
    locust -f bench/locustfile.py --host http://127.0.0.1:8000 --users 50 --spawn-rate 10 \
        --run-time 2m --headless

The mix follows seed 001: ads land 50% on a dedicated page and 40% on a listing; 10% page
onward from a listing. Car ids, cities and makes are read once from the API's own listing, so
the file works against any catalogue. About a fifth of users carry a buyer token.
"""

from __future__ import annotations

import os
import random
import time
from typing import Any

import jwt
from locust import HttpUser, between, events, task

BUYER_SHARE = float(os.environ.get("CARPAGES_BUYER_SHARE", "0.2"))
BUYER_ID_MAX = int(os.environ.get("CARPAGES_BUYER_ID_MAX", "20000"))
SLUGS = ["used-tata-nexon-cars-in-mumbai", "used-maruti-suzuki-cars-in-delhi",
         "used-hyundai-creta-cars-in-bengaluru", "used-cars-in-pune", "used-diesel-cars-in-mumbai"]
ORDERS = ["reco", "reco", "reco", "newest", "price_asc", "price_desc"]
car_ids: list[int] = []


@events.test_start.add_listener
def discover(environment: Any, **_: Any) -> None:
    """Collect live car ids from the listing (newest order, a few pages)."""
    import httpx

    host = environment.host.rstrip("/")
    for page in range(1, 6):
        resp = httpx.get(f"{host}/listing/", params={"order_by": "newest", "page_size": 35,
                                                      "page_no": page}, timeout=10)
        car_ids.extend(card["id"] for card in resp.json().get("results", []))


class AdVisitor(HttpUser):
    """One ad click: land, maybe page onward."""

    wait_time = between(0.5, 3)

    def on_start(self) -> None:
        self.headers: dict[str, str] = {}
        secret = os.environ.get("CARPAGES_JWT_SECRET")
        if secret and random.random() < BUYER_SHARE:
            token = jwt.encode({"sub": str(random.randint(1, BUYER_ID_MAX)),
                                "exp": int(time.time()) + 3600}, secret, algorithm="HS256")
            self.headers["Authorization"] = f"Bearer {token}"
        self.next_url: str | None = None

    @task(50)
    def dedicated_page(self) -> None:
        car = random.choice(car_ids) if car_ids else random.randint(1, 10000)
        self.client.get(f"/listing/{car}/", headers=self.headers, name="/listing/{id}/")

    @task(40)
    def listing(self) -> None:
        params: dict[str, Any] = {"order_by": random.choice(ORDERS), "page_size": 20}
        if random.random() < 0.5:
            params["slug"] = random.choice(SLUGS)
        else:
            params["city_id"] = random.randint(1, 15)
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
