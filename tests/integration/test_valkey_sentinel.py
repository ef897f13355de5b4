"""kill -9 of a Sentinel-managed primary during a stream of writes.

Real servers, all on loopback and started here: MariaDB and Tansu (the session's), a Valkey
primary, one replica and three sentinels. The publisher and the applier (subprocesses) and the
API (in process) are given only the `valkey+sentinel://` URL. Right before the kill the replica
is made to miss the primary's last writes for certain (sentinel_support.lag_behind), including
one the applier wrote *and committed in Kafka*: a write nothing would ever replay. Then:

- the sentinels promote the replica; the API and the applier reconnect by themselves, and the
  times until the API answers and until the applier writes again are measured (goal <= 10 s);
- the API's L1 is emptied and its tracking connection follows the new primary;
- the lost write is detected (the data now comes from another Valkey run) and repaired by a full
  rebuild into a new generation; every live car's page and card then equal an independent SQL
  assembly (sql_oracle), and `cdc_worker reconcile` finds 0 divergent cars.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import valkey
from carpages_api.settings import ApiSettings
from carpages_local import stack

from tests.integration.cdc_support import (
    Workers,
    assert_equals_sql,
    execute,
    page,
    run_cli,
    wait_until,
    worker_env,
)
from tests.integration.listing_support import SECRET, Api, serving
from tests.integration.sentinel_support import (
    SentinelGroup,
    kill_9,
    lag_behind,
    promoted_at,
    repl_offset,
    sentinel_group,
)

pytestmark = pytest.mark.timeout(150)
GOAL_S = 10.0
WRITES_PER_S = 25


@pytest.fixture
def group(tmp_path: Path) -> Iterator[SentinelGroup]:
    with sentinel_group(tmp_path / "valkey") as running:
        yield running


class Writer(threading.Thread):
    """A steady stream of price changes to random live cars (not the ones a test watches)."""

    def __init__(self, port: int, db: str, cars: list[int]) -> None:
        super().__init__(daemon=True)
        self.port, self.db, self.cars = port, db, cars
        self.stop = threading.Event()
        self.written = 0

    def run(self) -> None:
        conn = stack.connect(self.port, database=self.db, autocommit=True)
        rng = random.Random(15)
        try:
            with conn.cursor() as cur:
                while not self.stop.wait(1 / WRITES_PER_S):
                    cur.execute("UPDATE car SET price = %s WHERE id = %s",
                                (rng.randrange(100_000, 3_000_000), rng.choice(self.cars)))
                    self.written += 1
        finally:
            conn.close()


def direct(port: int) -> valkey.Valkey:
    return valkey.Valkey(port=port, socket_timeout=2)


async def until(what: str, predicate: Callable[[], object], within: float = 30,
                workers: Workers | None = None) -> None:
    """wait_until off the event loop (the API under test runs on it)."""
    await asyncio.to_thread(wait_until, what, predicate, within, workers)


async def seconds_until(predicate: Callable[[], bool], since: float,
                        within: float = 30) -> float:
    """Seconds from `since` until the blocking `predicate` holds (polled off the loop)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            if await asyncio.to_thread(predicate):
                return time.monotonic() - since
        except (TypeError, valkey.exceptions.ValkeyError):
            pass
        await asyncio.sleep(0.05)
    raise AssertionError("timed out")


async def back_after(api: Api, path: str, since: float, within: float = 30
                     ) -> tuple[float, int]:
    """(seconds from `since` until `path` answers 200 again, answers that were not 200),
    probing every 50 ms; the outage is the stretch of failures right after `since`."""
    deadline = time.monotonic() + within
    failures = 0
    while time.monotonic() < deadline:
        status = (await api.get(path)).status_code
        if status == 200 and (failures or time.monotonic() - since > 3):
            return time.monotonic() - since, failures
        failures += status != 200
        await asyncio.sleep(0.05)
    raise AssertionError(f"{path} never answered 200")


async def test_kill_9_of_the_primary_during_writes(
        stack_env: stack.StackEnv, mutable_seeded_db: str, group: SentinelGroup,
        tmp_path: Path) -> None:
    db, port = mutable_seeded_db, stack_env.mysql_port
    live = [r[0] for r in _rows(port, db, "SELECT id FROM car WHERE status = 'live' ORDER BY id")]
    lost_car, probe_car, *others = live
    env = worker_env(stack_env, db, group.primary.port, VALKEY_URL=group.url)
    (tmp_path / "workers").mkdir()
    workers = Workers(tmp_path / "workers")
    writer = Writer(port, db, others)
    old = direct(group.primary.port)
    new = direct(group.replica.port)
    settings = ApiSettings(valkey_url=group.url, mysql_url=_app_url(env), jwt_secret=SECRET,
                           valkey_timeout_s=0.5, l1_heartbeat_s=0.5)
    try:
        workers.start("publish", env)  # builds the cache through the sentinels' primary
        applier = workers.start("apply", env)
        for price in (4_444_444, 4_444_445):  # the snapshot, then the applier
            _set_price(port, db, probe_car, price)
            wait_until("the pipeline flowing through Sentinel",
                       lambda p=price: page(old, probe_car)["price"] == p, 60, workers)
        async with serving(settings) as api:
            body = await api.json(f"/listing/{probe_car}/")
            assert body["price"] == price
            l1 = api.services.pages.l1
            assert l1 is not None
            await until("L1 tracking the primary", lambda: l1.tracker.live, 10)
            assert l1.tracker.address == ("127.0.0.1", group.primary.port)
            await api.json(f"/listing/{lost_car}/")  # now in the L1
            writer.start()
            await asyncio.sleep(1.0)

            with lag_behind(group) as wedged_at:
                # Acknowledged by the primary, committed in Kafka: never replayed.
                lost_price = _set_price(port, db, lost_car, 7_777_777)
                await until("the lost write on the old primary",
                           lambda: page(old, lost_car)["price"] == lost_price, 10, workers)
                lost_offset = repl_offset(group.primary.port)
                await asyncio.sleep(0.4)  # the applier commits the batch's offsets
                resets = l1.resets
                killed = kill_9(group.primary)
            changed = _set_price(port, db, probe_car, 5_555_555)  # made during the outage

            switched, (api_back, refused), applier_back, page_back = await asyncio.gather(
                seconds_until(lambda: group.named_primary() == group.replica.port, killed),
                back_after(api, "/listing/?order_by=newest", killed),
                seconds_until(lambda: page(new, probe_car)["price"] == changed, killed),
                _until_page(api, probe_car, changed, killed))
            assert group.named_primary() == group.replica.port
            assert promoted_at(group.replica.port) < wedged_at <= lost_offset, \
                "the promoted replica must have missed the lost write"
            assert api_back <= GOAL_S
            assert applier_back <= GOAL_S

            # The L1 was emptied and follows the new primary.
            assert l1.resets > resets
            await until("L1 tracking the new primary", lambda: l1.tracker.live, 10)
            assert l1.tracker.address == ("127.0.0.1", group.replica.port)

            # The lost write is repaired (full rebuild: the data comes from another run).
            repaired = await seconds_until(lambda: page(new, lost_car)["price"] == lost_price,
                                           killed)
            print(f"\nfailover: sentinels switch after {switched:.2f}s; API serves after "
                  f"{api_back:.2f}s ({refused} answers refused); applier writes after "
                  f"{applier_back:.2f}s; a change made during the outage is served after "
                  f"{page_back:.2f}s; the lost write is repaired after {repaired:.2f}s; "
                  f"{writer.written} writes so far")
            assert "comes from another run" in applier.output()
            assert (await api.json(f"/listing/{lost_car}/"))["price"] == lost_price
            writer.stop.set()
            writer.join(10)
            await asyncio.to_thread(assert_equals_sql, port, db, new, workers)
        code, out = run_cli(env, "reconcile", "--recheck", "1")
        assert code == 0, out
        assert " divergent 0," in out, out
    finally:
        writer.stop.set()
        workers.stop_all()
        old.close()
        new.close()


async def _until_page(api: Api, car: int, price: int, since: float) -> float:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        response = await api.get(f"/listing/{car}/")
        if response.status_code == 200 and response.json()["price"] == price:
            return time.monotonic() - since
        await asyncio.sleep(0.05)
    raise AssertionError(f"car {car} never served at {price}")


def _rows(port: int, db: str, sql: str) -> list[tuple[int, ...]]:
    conn = stack.connect(port, database=db)
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
            return [tuple(r) for r in cur.fetchall()]
    finally:
        conn.close()


def _set_price(port: int, db: str, car: int, price: int) -> int:
    execute(port, db, "UPDATE car SET price = %s WHERE id = %s", args=(price, car))
    return price


def _app_url(env: dict[str, str]) -> str:
    return env["MYSQL_URL"]
