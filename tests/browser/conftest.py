"""One storefront stack per session: a private demo catalogue on the session's MariaDB, its own
Valkey, the CDC publisher and applier through the session's Tansu, the API, `next start` of the
production build, and one Chromium. Screenshots go under the run's tmp output (`shots`)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from carpages_local import servers, stack

from tests.browser.storefront_support import Browser, browser, running_api, running_storefront
from tests.conftest import drop_database, seeded_database
from tests.integration.cdc_support import run_cli, running_workers, worker_env

CARS = 300


@dataclass(frozen=True)
class Site:
    """The running storefront stack a browser test talks to."""

    url: str
    api_url: str
    mysql_port: int
    database: str
    jwt_secret: str
    browser: Browser
    shots: Path


@pytest.fixture(scope="session")
def site(stack_env: stack.StackEnv, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    root = Path(tmp_path_factory.mktemp("storefront"))
    database = seeded_database(stack_env, CARS)
    cache = servers.start_valkey(root / "valkey")
    secret = secrets.token_urlsafe(32)
    try:
        # One applier taking every partition without a group: no rebalance wait at start.
        env = worker_env(stack_env, database, cache.port, CDC_PARTITIONS="all")
        # The caller's own API_* settings (e.g. from a sourced .stack/env) must not leak in.
        env = {k: v for k, v in env.items() if not k.startswith("API_")}
        env["API_JWT_SECRET"] = secret
        code, output = run_cli(env, "bootstrap", timeout=180)
        assert code == 0, output[-3000:]
        with running_workers(root) as workers:
            workers.start("publish", env)
            workers.start("apply", env)
            with running_api(env, root / "api.log") as api_url, \
                    running_storefront(api_url, root / "next.log") as url, \
                    browser(root / "browser.log") as chromium:
                shots = root / "screenshots"
                shots.mkdir()
                yield Site(url, api_url, stack_env.mysql_port, database, secret, chromium, shots)
    finally:
        cache.stop()
        drop_database(stack_env, database)
