"""Schemathesis over the API's own `/openapi.json`, against the real server.

The API runs as it does in production (`python -m carpages_api`, its own process, on a real
MariaDB and Valkey holding the tiny catalogue); schemathesis generates requests from the
published schema, valid and invalid, and runs every check it has: no 5xx, status codes,
content types, headers and bodies as declared, invalid data rejected with a 4xx, valid data
accepted. A failure names the operation and a `curl` line that reproduces it.

Bounded and repeatable: a fixed number of examples per operation, derandomised, no example
database, so the same cases run on every machine.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import schemathesis
from carpages_api.app import create_app
from carpages_api.settings import ApiSettings
from carpages_local import stack
from schemathesis import Case

from tests.browser.storefront_support import running_api
from tests.integration.listing_support import SECRET, tiny_process_env

EXAMPLES = 300
"""Per operation (plus schemathesis' own coverage cases): ~2,500 requests, about half a minute."""

SPEC = create_app(ApiSettings(valkey_url="valkey://unused", jwt_secret=SECRET)).openapi()
"""The schema the cases are generated from: the app's own, built without serving (the running
API must publish the very same document, which `test_the_served_schema_is_the_one_tested`
checks). Loaded at import because schemathesis' lazy fixture loader does not work with this
pytest."""

schema = schemathesis.openapi.from_dict(SPEC)
schema.config.generation.update(max_examples=EXAMPLES, deterministic=True, database="none")


@pytest.fixture(scope="module")
def api_url(stack_env: stack.StackEnv, listing_valkey: str,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`python -m carpages_api` on the tiny catalogue (its own database, a private Valkey)."""
    log = Path(tmp_path_factory.mktemp("schemathesis")) / "api.log"
    with tiny_process_env(stack_env, listing_valkey) as env, running_api(env, log) as url:
        yield url


def test_the_served_schema_is_the_one_tested(api_url: str) -> None:
    assert httpx.get(f"{api_url}/openapi.json", timeout=10).json() == SPEC


@schema.parametrize()
def test_the_api_meets_its_own_openapi(case: Case, api_url: str) -> None:
    case.call_and_validate(base_url=api_url)
