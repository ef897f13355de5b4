"""Shared by the Valkey scale-out tests: replicated and clustered servers, and a request mix.

The request mix touches every read path of the API (anonymous, unpaid and paid dedicated pages,
the four listing orders, filters, slugs, facets, a signed-in reco page and pinned reco paging);
`normalised` strips the only non-deterministic bytes (reco pins) so responses from two
topologies built from one database can be compared byte for byte.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pymysql
import valkey
from carpages_local import servers, valkey_cluster
from carpages_local.valkey_cluster import wait_until

from tests.integration.listing_support import Api, token

PIN = re.compile(rb"pin=[A-Za-z0-9_:\-.%]+")


def info(client: valkey.Valkey, section: str) -> dict[str, Any]:
    """INFO <section> as a dict."""
    found: dict[str, Any] = client.info(section)
    return found


# ----------------------------------------------------------------------------- replication
@dataclass
class Replicated:
    """A primary and its replicas, all started by the test."""

    primary: servers.Server
    replicas: list[servers.Server]

    @property
    def primary_url(self) -> str:
        return f"valkey://127.0.0.1:{self.primary.port}/0"

    @property
    def replica_urls(self) -> list[str]:
        return [f"valkey://127.0.0.1:{r.port}/0" for r in self.replicas]

    def synced(self, timeout_ms: int = 10_000) -> None:
        """Block until every replica has acknowledged every write so far (WAIT)."""
        client = valkey.Valkey.from_url(self.primary_url)
        try:
            acked = client.execute_command("WAIT", len(self.replicas), timeout_ms)
        finally:
            client.close()
        assert acked == len(self.replicas)


def link_up(port: int) -> bool:
    """Whether the replica on `port` has finished its sync with the primary."""
    client = valkey.Valkey(port=port)
    try:
        return info(client, "replication").get("master_link_status") == "up"
    finally:
        client.close()


@contextmanager
def replicated(root: Path, replicas: int) -> Iterator[Replicated]:
    """Start a primary and `replicas` replicas of it; stop them all afterwards."""
    started: list[servers.Server] = []
    try:
        primary = servers.start_valkey(root / "primary")
        started.append(primary)
        for index in range(replicas):
            started.append(servers.start_valkey(
                root / f"replica{index}",
                extra=["--replicaof", "127.0.0.1", str(primary.port),
                       "--repl-diskless-sync-delay", "0"]))
        for replica in started[1:]:
            wait_until(lambda r=replica: link_up(r.port), f"replica {replica.port} in sync")
        yield Replicated(primary, started[1:])
    finally:
        for server in reversed(started):
            server.stop()


def reattach(group: Replicated, replica: servers.Server) -> None:
    """Make a detached replica follow the primary again and wait for its sync."""
    client = valkey.Valkey(port=replica.port)
    try:
        client.execute_command("REPLICAOF", "127.0.0.1", group.primary.port)
    finally:
        client.close()
    wait_until(lambda: link_up(replica.port), "re-attached replica in sync")
    group.synced()


def read_calls(port: int) -> int:
    """Read commands a server has answered since its stats were last reset."""
    client = valkey.Valkey(port=port)
    try:
        stats = info(client, "commandstats")
    finally:
        client.close()
    reads = ("get", "hmget", "hget", "zrange", "zcard", "getrange", "smembers", "scard",
             "sismember", "exists")
    return sum(int(stats.get(f"cmdstat_{name}", {}).get("calls", 0)) for name in reads)


def reset_stats(port: int) -> None:
    client = valkey.Valkey(port=port)
    try:
        client.config_resetstat()
    finally:
        client.close()


# ----------------------------------------------------------------------------- cluster
# Started and joined by the local stack's own cluster mode (STACK_VALKEY=cluster): `cluster(root)`
# is a context manager that stops every node after the block.
Cluster = valkey_cluster.Cluster
cluster = valkey_cluster.running
cluster_ok = valkey_cluster.cluster_ok


# ----------------------------------------------------------------------------- the request mix
@dataclass(frozen=True)
class Request:
    """One GET the mix sends; `follow` walks `next` links (pinned reco paging)."""

    path: str
    headers: tuple[tuple[str, str], ...] = ()
    follow: int = 0


@dataclass(frozen=True)
class Catalogue:
    """Ids drawn from the seeded database to build requests with."""

    cars: list[int]
    """A dozen live cars spread over the id range."""
    live: list[int]
    paid_buyer: int
    unpaid_buyer: int
    city: int
    make: int


def read_catalogue(mysql: str) -> Catalogue:
    """Pick cars, a paying and a non-paying buyer with history, a busy city and make."""
    from carpages_shared.dsn import mysql_params

    conn = pymysql.connect(**mysql_params(mysql))
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT id FROM car WHERE status = 'live' ORDER BY id")
            live = [r[0] for r in cur.fetchall()]
            cur.execute("SELECT b.id FROM buyer b JOIN interaction i ON i.buyer_id = b.id "
                        "WHERE b.paid_until > UTC_TIMESTAMP() GROUP BY b.id "
                        "ORDER BY COUNT(*) DESC, b.id LIMIT 1")
            (paid,), = cur.fetchall()
            cur.execute("SELECT b.id FROM buyer b JOIN interaction i ON i.buyer_id = b.id "
                        "WHERE b.paid_until IS NULL GROUP BY b.id "
                        "ORDER BY COUNT(*) DESC, b.id LIMIT 1")
            (unpaid,), = cur.fetchall()
            cur.execute("SELECT l.city_id, md.make_id FROM car c JOIN locality l "
                        "ON l.id = c.locality_id JOIN variant v ON v.id = c.variant_id "
                        "JOIN model md ON md.id = v.model_id WHERE c.status = 'live' "
                        "GROUP BY l.city_id, md.make_id ORDER BY COUNT(*) DESC LIMIT 1")
            (city, make), = cur.fetchall()
    finally:
        conn.close()
    return Catalogue(live[::max(1, len(live) // 12)][:12], live, paid, unpaid, city, make)


def request_mix(cat: Catalogue) -> list[Request]:
    """Every read path, with the ids of this catalogue."""
    paid = (("Authorization", f"Bearer {token(cat.paid_buyer)}"),)
    unpaid = (("Authorization", f"Bearer {token(cat.unpaid_buyer)}"),)
    mix = [Request(f"/listing/{car}/") for car in cat.cars]
    mix += [Request(f"/listing/{cat.cars[0]}/", paid), Request(f"/listing/{cat.cars[1]}/", paid),
            Request(f"/listing/{cat.cars[0]}/", unpaid),
            Request(f"/listing/{cat.cars[2]}/?seen_car_ids={cat.cars[2]},{cat.cars[3]}")]
    city, make = cat.city, cat.make
    mix += [
        Request("/listing/?order_by=newest&page_size=10"),
        Request("/listing/?order_by=price_asc&page_size=10&page_no=3"),
        Request(f"/listing/?order_by=price_desc&city_id={city}&page_size=7"),
        Request(f"/listing/?order_by=newest&make_id={make}&price_max=900000&year_min=2015"),
        Request(f"/listing/?order_by=price_asc&city_id={city}&features=1,2&km_max=90000"),
        Request("/listing/?order_by=newest&fuel_type=diesel,cng&transmission=manual"),
        Request(f"/listing/?order_by=newest&city_id={city}&facets=make_id,fuel_type,price,year,"
                "features"),
        Request("/listing/?slug=used-tata-cars-in-mumbai&order_by=price_desc"),
        Request(f"/listing/?city_id={city}&page_size=8", follow=3),
        Request(f"/listing/?make_id={make}&page_size=6&seen_car_ids={cat.cars[4]}", follow=2),
        Request(f"/listing/?city_id={city}&page_size=9", paid, follow=2),
        Request("/listing/?order_by=reco&page_size=5&facets=transmission"),
    ]
    return mix


def normalised(body: bytes) -> bytes:
    """The body with reco pins (random tokens) blanked."""
    return PIN.sub(b"pin=*", body)


async def fetch(api: Api, request: Request) -> list[tuple[int, bytes]]:
    """(status, normalised body) of the request and of each `next` page it follows."""
    import orjson

    out: list[tuple[int, bytes]] = []
    path: str | None = request.path
    for _ in range(request.follow + 1):
        if path is None:
            break
        resp = await api.get(path, headers=dict(request.headers))
        out.append((resp.status_code, normalised(resp.content)))
        path = orjson.loads(resp.content).get("next") if resp.status_code == 200 else None
    return out
