"""Single-flight fill of a live car's missing page from MySQL (seed 001's thundering herd).

Across every request and every API process at most one fill per car runs at a time: the filler
holds `car_fill_lock` (SET NX PX); everyone else polls until the page or the negative-cache marker
appears, taking the lock over only if its holder vanished. Ids that are not live cars get the
short negative cache, so random ids cannot hammer MySQL.
"""

from __future__ import annotations

import asyncio
import itertools
import secrets

import pymysql
from carpages_shared import car_rows, keys
from carpages_shared.assembly import car_entries
from carpages_shared.car_rows import CarRecord
from carpages_shared.dsn import mysql_params
from carpages_shared.scripts import COMPARE_AND_DELETE
from valkey.exceptions import ResponseError, WatchError

from carpages_api.errors import ApiError
from carpages_api.metrics import Metrics
from carpages_api.store.clients import ValkeyClient
from carpages_api.store.slot_transactions import SlotTransactions, redirected

WAIT_S = keys.LOCK_TTL_MS / 1000 + 1.0
"""How long a request waits for someone else's fill: past the lock's life, so a dead holder's
lock expires and a waiter takes over before giving up."""
POLL_S = (0.005, 0.01, 0.02, 0.05)
"""Back-off between polls while another request fills (the last value repeats)."""
MYSQL_TIMEOUT_S = 3



def load_car(mysql_url: str, car_id: int) -> CarRecord | None:
    """Blocking: one car's rows (any status) from MySQL, or None if the id does not exist."""
    conn = pymysql.connect(**mysql_params(mysql_url), connect_timeout=MYSQL_TIMEOUT_S,
                           read_timeout=MYSQL_TIMEOUT_S)
    try:
        # The statements share one REPEATABLE READ transaction: a consistent view of the car.
        return car_rows.load_cars(car_rows.connection_query(conn), [car_id]).get(car_id)
    finally:
        conn.close()


class PageFiller:
    """Fills missing pages for one app: its primary Valkey, its MySQL URL, its metrics."""

    def __init__(self, client: ValkeyClient, transactions: SlotTransactions, mysql_url: str,
                 metrics: Metrics, retry_after_s: int) -> None:
        self.client = client
        self.transactions = transactions
        self.mysql_url = mysql_url
        self.metrics = metrics
        self.retry_after_s = retry_after_s

    async def ensure(self, car_id: int) -> bool:
        """Make sure a live car's page is cached; False when the id is not a live car."""
        if not self.mysql_url:
            return False  # no database configured: the cache is all there is
        loop = asyncio.get_running_loop()
        deadline = loop.time() + WAIT_S
        lock = keys.car_fill_lock(car_id)
        while loop.time() < deadline:
            token = secrets.token_hex(8)
            if await self.client.set(lock, token, nx=True, px=keys.LOCK_TTL_MS):
                try:
                    return await self._fill(car_id)
                finally:
                    await self.client.eval(COMPARE_AND_DELETE, 1, lock, token)
            outcome = await self._wait(car_id, deadline)
            if outcome is not None:
                return outcome
        raise ApiError(503, "page fill timed out", None, {"Retry-After": str(self.retry_after_s)})

    async def _wait(self, car_id: int, deadline: float) -> bool | None:
        """Poll another filler's outcome; None when its lock is gone without a result."""
        loop = asyncio.get_running_loop()
        for attempt in itertools.count():
            if loop.time() >= deadline:
                return None
            await asyncio.sleep(POLL_S[min(attempt, len(POLL_S) - 1)])
            pipe = self.client.pipeline(transaction=False)
            pipe.exists(keys.dedicated_page(car_id))
            pipe.exists(keys.car_missing(car_id))
            pipe.exists(keys.car_fill_lock(car_id))
            present, missing, locked = await pipe.execute()
            if present:
                return True
            if missing:
                return False
            if not locked:
                return None
        raise AssertionError("unreachable")

    async def _fill(self, car_id: int) -> bool:
        """Read the car from MySQL and write its page, private data and interested set."""
        try:
            return await self._fill_once(car_id)
        except ResponseError as exc:
            if not redirected(exc):
                raise
        # A cluster failover moved the car's slot while we filled: follow it, try once more.
        await self.transactions.refresh()
        return await self._fill_once(car_id)

    async def _fill_once(self, car_id: int) -> bool:
        page_key = keys.dedicated_page(car_id)
        # WATCH/MULTI on the primary that owns the car's slot (every key here shares its tag).
        async with await self.transactions.pipeline(page_key) as pipe:
            # Fencing: if the builder or applier writes this car while we read MySQL, their
            # state is newer than ours and the transaction below is discarded.
            await pipe.watch(page_key, keys.car_position(car_id), keys.car_private(car_id),
                             keys.car_interested(car_id))
            try:
                car = await asyncio.to_thread(load_car, self.mysql_url, car_id)
            except pymysql.MySQLError as exc:
                raise ApiError(503, "database unavailable", type(exc).__name__,
                               {"Retry-After": str(self.retry_after_s)}) from None
            self.metrics.fills.inc()
            pipe.multi()
            live = car is not None and car.status == car_rows.LIVE
            if car is not None and live:
                entries = car_entries(car)
                # Only the page expires: a later miss refills all three together, and the
                # builder's own SET of the page drops the expiry.
                pipe.set(page_key, entries.page, ex=keys.FILLED_PAGE_TTL)
                pipe.delete(keys.car_private(car_id), keys.car_interested(car_id),
                            keys.car_missing(car_id))
                pipe.hset(keys.car_private(car_id), mapping=entries.private)
                if entries.interested:
                    pipe.sadd(keys.car_interested(car_id), *entries.interested)
            else:
                pipe.delete(keys.car_private(car_id), keys.car_interested(car_id))
                pipe.set(keys.car_missing(car_id), 1, ex=keys.MISSING_TTL)
            try:
                await pipe.execute()
            except WatchError:
                return bool(await self.client.exists(page_key))
        return live

