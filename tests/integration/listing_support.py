"""Shared by the listing tests: an in-process app, tokens, and the listing's SQL oracle.

The oracle is written straight against the schema (no carpages code) so a bug in the index,
the composition or the ordering cannot hide by being reproduced here.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
import jwt
import pymysql
import valkey
from asgi_lifespan import LifespanManager
from carpages_api.app import create_app
from carpages_api.bootstrap import Services
from carpages_api.reco.ranking import Viewer
from carpages_api.settings import ApiSettings
from carpages_cdc.cache.builder import CacheBuilder
from carpages_local import stack
from carpages_shared.dsn import mysql_params
from fastapi import FastAPI

from tests.conftest import drop_database, mysql_url, new_database
from tests.integration import tiny_catalogue as tiny

SECRET = "listing-test-secret-" + "0123456789" * 5

BASE = """
FROM car c
JOIN variant v ON v.id = c.variant_id
JOIN model md ON md.id = v.model_id
JOIN locality l ON l.id = c.locality_id
WHERE c.status = 'live'
"""
COLUMNS = {"city_id": "l.city_id", "make_id": "md.make_id", "model_id": "v.model_id",
           "variant_id": "c.variant_id", "color_id": "c.color_id", "fuel_type": "c.fuel_type",
           "transmission": "c.transmission", "owner": "c.owner_count"}
BOUNDS = {"price_min": "c.price >= %s", "price_max": "c.price <= %s",
          "year_min": "c.year >= %s", "year_max": "c.year <= %s", "km_max": "c.km_driven <= %s",
          "rating_min": "c.rating >= %s"}
ORDERS = {"newest": "c.date_created DESC, c.id DESC", "price_asc": "c.price ASC, c.id ASC",
          "price_desc": "c.price DESC, c.id DESC"}
PRICE_BUCKETS = ((None, 199_999), (200_000, 299_999), (300_000, 499_999), (500_000, 799_999),
                 (800_000, 1_199_999), (1_200_000, 1_999_999), (2_000_000, None))
YEAR_BUCKETS = ((None, 2011), (2012, 2014), (2015, 2017), (2018, 2020), (2021, 2023),
                (2024, None))

Params = dict[str, str]


class KeyedRanker:
    """Reverse id order, or id order; `order_key` says which (so orders may be kept)."""

    def __init__(self, reverse: bool = True) -> None:
        self.reverse = reverse
        self.calls = 0

    @property
    def version(self) -> str:
        return "keyed"

    @property
    def order_key(self) -> str:
        return f"keyed:{self.reverse}"

    def rank(self, candidates: Sequence[int], viewer: Viewer,
             popularity: dict[int, float] | None = None) -> list[int]:
        self.calls += 1
        return sorted(candidates, reverse=self.reverse)


def token(buyer_id: int, ttl: int = 3600) -> str:
    """A valid buyer JWT."""
    return jwt.encode({"sub": str(buyer_id), "exp": int(time.time()) + ttl}, SECRET,
                      algorithm="HS256")


def url(params: Params | list[tuple[str, str]]) -> str:
    """`/listing/?...` with commas left readable."""
    return "/listing/?" + urlencode(params, safe=",")


@dataclass
class Api:
    """A running app and a client bound to it."""

    client: httpx.AsyncClient
    app: FastAPI

    @property
    def services(self) -> Services:
        services: Services = self.app.state.services
        return services

    def fills(self) -> float:
        """How many pages this app filled from MySQL (the single-flight counter)."""
        value = self.services.metrics.registry.get_sample_value("carpages_page_fills_total")
        return float(value or 0)

    async def get(self, path: str, **kw: Any) -> httpx.Response:
        return await self.client.get(path, **kw)

    async def json(self, path: str, **kw: Any) -> dict[str, Any]:
        resp = await self.client.get(path, **kw)
        assert resp.status_code == 200, (path, resp.status_code, resp.text)
        body: dict[str, Any] = resp.json()
        return body


@asynccontextmanager
async def serving(settings: ApiSettings) -> AsyncIterator[Api]:
    """Run one app's lifespan and yield an in-process client."""
    app = create_app(settings)
    async with LifespanManager(app) as manager, httpx.AsyncClient(
            transport=httpx.ASGITransport(app=manager.app), base_url="http://api.test") as client:
        yield Api(client, app)


def full_build(mysql: str, valkey_url: str) -> None:
    """Build the listing cache the way `make rebuild` does."""
    params = mysql_params(mysql)
    client = valkey.Valkey.from_url(valkey_url)
    try:
        CacheBuilder(lambda: pymysql.connect(**params), client).full_rebuild()
    finally:
        client.close()


def tiny_settings(mysql: str, valkey_url: str, secret: str) -> ApiSettings:
    """Settings for the session Valkey (flushed) with the tiny catalogue of `mysql` built in."""
    full_build(mysql, valkey_url)
    return ApiSettings(valkey_url=valkey_url, mysql_url=mysql, jwt_secret=secret)


@contextmanager
def tiny_process_env(stack_env: stack.StackEnv, valkey_url: str) -> Iterator[dict[str, str]]:
    """The environment of an API process serving the tiny catalogue: its own database (dropped
    after), built into `valkey_url`; the caller's own settings (e.g. from a sourced .stack/env)
    do not leak in."""
    database = new_database(stack_env)
    try:
        conn = stack.connect(stack_env.mysql_port, database=database)
        try:
            tiny.load(conn)
        finally:
            conn.close()
        full_build(mysql_url(stack_env, database), valkey_url)
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("API_") and k not in ("VALKEY_URL", "MYSQL_URL", "JWT_SECRET")}
        env.update(API_VALKEY_URL=valkey_url, API_JWT_SECRET=SECRET,
                   API_MYSQL_URL=mysql_url(stack_env, database))
        yield env
    finally:
        drop_database(stack_env, database)


def ids_of(body: dict[str, Any]) -> list[int]:
    return [card["id"] for card in body["results"]]


# ----------------------------------------------------------------------------- the oracle
class ListingOracle:
    """The listing's expected answers, computed in SQL."""

    def __init__(self, conn: pymysql.connections.Connection[Any]) -> None:
        self.conn = conn

    def rows(self, sql: str, params: list[Any] | tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self.conn.cursor() as cur:
            cur.execute(sql, params)
            return list(cur.fetchall())

    @staticmethod
    def where(p: Params, skip: tuple[str, ...] = ()) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        args: list[Any] = []
        for name, column in COLUMNS.items():
            if name in p and name not in skip:
                values = p[name].split(",")
                clauses.append(f"{column} IN ({','.join(['%s'] * len(values))})")
                args += values
        if "features" in p and "features" not in skip:
            for feature in p["features"].split(","):
                clauses.append("EXISTS (SELECT 1 FROM car_feature cf WHERE cf.car_id = c.id "
                               "AND cf.feature_id = %s)")
                args.append(int(feature))
        for name, clause in BOUNDS.items():
            if name in p and name not in skip:
                clauses.append(clause)
                args.append(p[name])
        return "".join(f" AND {c}" for c in clauses), args

    def ids(self, p: Params, order: str) -> list[int]:
        sql, args = self.where(p)
        return [r[0] for r in self.rows(f"SELECT c.id {BASE}{sql} ORDER BY {ORDERS[order]}",
                                        args)]

    def popular(self, p: Params) -> list[int]:
        """The generic reco order: most interactions first, ties by id."""
        sql, args = self.where(p)
        return [r[0] for r in self.rows(
            "SELECT c.id, (SELECT COUNT(*) FROM interaction i WHERE i.car_id = c.id) AS n "
            f"{BASE}{sql} ORDER BY n DESC, c.id ASC", args)]

    def facet(self, p: Params, name: str) -> dict[str, int]:
        """Expected `{value: count}` of one facet (disjunctive; features conjunctive)."""
        if name in ("price", "year"):
            buckets = PRICE_BUCKETS if name == "price" else YEAR_BUCKETS
            sql, args = self.where(p, skip=(f"{name}_min", f"{name}_max"))
            column = f"c.{name}"
            out = {}
            for lo, hi in buckets:
                cond = " AND ".join([*([f"{column} >= {lo}"] if lo is not None else []),
                                     *([f"{column} <= {hi}"] if hi is not None else [])])
                (n,), = self.rows(f"SELECT COUNT(*) {BASE}{sql} AND {cond}", args)
                out[f"{'' if lo is None else lo}-{'' if hi is None else hi}"] = int(n)
            return out
        if name == "features":
            sql, args = self.where(p)
            joined = BASE.replace("WHERE", "JOIN car_feature cf ON cf.car_id = c.id WHERE")
            rows = self.rows(f"SELECT cf.feature_id, COUNT(*) {joined}{sql} "
                             "GROUP BY cf.feature_id", args)
        else:
            sql, args = self.where(p, skip=(name,))
            rows = self.rows(f"SELECT {COLUMNS[name]}, COUNT(*) {BASE}{sql} "
                             f"GROUP BY {COLUMNS[name]}", args)
        return {str(value): int(n) for value, n in rows}


@dataclass
class Vocabulary:
    """Values present in the live catalogue, to draw random filters from."""

    values: dict[str, list[str]]
    models_of: dict[str, list[str]]
    features: list[str]
    prices: list[int]

    @classmethod
    def read(cls, oracle: ListingOracle) -> Vocabulary:
        values = {name: sorted({str(r[0]) for r in oracle.rows(f"SELECT DISTINCT {col} {BASE}")})
                  for name, col in COLUMNS.items()}
        models_of: dict[str, list[str]] = {}
        for make, model in oracle.rows(f"SELECT DISTINCT md.make_id, v.model_id {BASE}"):
            models_of.setdefault(str(make), []).append(str(model))
        features = [str(r[0]) for r in oracle.rows("SELECT id FROM feature ORDER BY id")]
        prices = sorted(r[0] for r in oracle.rows(f"SELECT c.price {BASE}"))
        return cls(values, models_of, features, prices)

    def random_filters(self, rnd: random.Random) -> Params:
        """1-4 random filters, drawn so that results are usually, not always, non-empty."""
        p: Params = {}
        kinds = rnd.sample(["city_id", "make", "variant_id", "color_id", "fuel_type",
                            "transmission", "owner", "features", "price", "year", "km_max",
                            "rating_min"], k=rnd.randint(1, 4))
        for kind in kinds:
            if kind == "make":
                makes = rnd.sample(self.values["make_id"], k=rnd.randint(1, 2))
                p["make_id"] = ",".join(makes)
                if rnd.random() < 0.4:
                    p["model_id"] = ",".join(rnd.sample(self.models_of[makes[0]], k=1))
            elif kind == "features":
                p["features"] = ",".join(rnd.sample(self.features, k=rnd.randint(1, 2)))
            elif kind == "price":
                lo, hi = sorted(rnd.sample(self.prices, k=2))
                if rnd.random() < 0.7:
                    p["price_max"] = str(hi)
                if rnd.random() < 0.7:
                    p["price_min"] = str(lo)
            elif kind == "year":
                p["year_min" if rnd.random() < 0.5 else "year_max"] = str(rnd.randint(2010, 2023))
            elif kind == "km_max":
                p["km_max"] = str(rnd.randrange(5_000, 150_000, 5_000))
            elif kind == "rating_min":
                p["rating_min"] = rnd.choice(["3.0", "3.5", "4.0", "4.5"])
            else:
                pool = self.values[kind]
                p[kind] = ",".join(rnd.sample(pool, k=min(len(pool), rnd.randint(1, 3))))
        return p
