"""The run mark that makes the applier rebuild a cache written under another Valkey run (a
failover, a restart from a snapshot): every full rebuild sets it, a missing or foreign mark
beside a build asks for a rebuild, and the mark moves only once that rebuild is done."""

from __future__ import annotations

import valkey
from carpages_cdc.apply.valkey_restarts import ValkeyRestarts
from carpages_cdc.cache.builder import CacheBuilder
from carpages_local import stack
from carpages_shared import keys

from tests.integration.cdc_support import local_builder


def run_id(client: valkey.Valkey) -> str:
    return str(client.info("server")["run_id"])


def look(client: valkey.Valkey) -> bool:
    """A fresh applier's first look: does it ask for a rebuild?"""
    return ValkeyRestarts(client).restarted_with_data()


def test_the_mark_follows_builds_and_rebuilds(stack_env: stack.StackEnv, tiny_db: str,
                                              valkey_url: str) -> None:
    builder: CacheBuilder = local_builder(stack_env, tiny_db, valkey_url)
    client = builder.client
    try:
        # An empty Valkey is marked (the applier builds it anyway).
        assert look(client) is False
        assert client.get(keys.valkey_run()).decode() == run_id(client)
        client.delete(keys.valkey_run())
        builder.full_rebuild()  # marks what it built
        assert client.get(keys.valkey_run()).decode() == run_id(client)
        assert look(client) is False

        # Another run's mark, or none beside a build (lost with the writes after it): rebuild.
        for foreign in (b"another-run", None):
            if foreign is None:
                client.delete(keys.valkey_run())
            else:
                client.set(keys.valkey_run(), foreign)
            assert look(client) is True
            # Until a rebuild is done the mark stays: the next look asks again.
            assert client.get(keys.valkey_run()) == foreign
            assert look(client) is True
            builder.full_rebuild()
            assert client.get(keys.valkey_run()).decode() == run_id(client)
            assert look(client) is False
    finally:
        client.close()
