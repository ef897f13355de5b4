"""The API's cluster client turns a node connection closed under a round trip into the
ConnectionError an outage is (a 503), and fails after one attempt (no server is contacted)."""

from __future__ import annotations

from typing import Any

import pytest
import valkey.asyncio
from carpages_api.settings import ApiSettings
from carpages_api.store.clients import connect
from carpages_api.store.gated_cluster import GatedCluster
from valkey.asyncio.cluster import ClusterPipeline
from valkey.exceptions import ConnectionError as ValkeyConnectionError


@pytest.mark.parametrize("raised", [
    AttributeError("'NoneType' object has no attribute 'writelines'"),
    RuntimeError("unable to perform operation on <TCPTransport closed=True>; the handler is "
                 "closed"),
])
async def test_a_connection_closed_mid_round_trip_is_a_connection_error(
        raised: Exception, monkeypatch: pytest.MonkeyPatch) -> None:
    async def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise raised

    monkeypatch.setattr(ClusterPipeline, "execute", broken)
    monkeypatch.setattr(valkey.asyncio.ValkeyCluster, "execute_command", broken)
    client = GatedCluster(host="127.0.0.1", port=1, wait_s=0.1)
    pipe = client.pipeline()
    pipe.get("k")
    with pytest.raises(ValkeyConnectionError) as caught:
        await pipe.execute()
    assert caught.value.__cause__ is raised
    with pytest.raises(ValkeyConnectionError):
        await client.execute_command("GET", "k")


def test_the_api_cluster_client_makes_one_attempt() -> None:
    settings = ApiSettings(valkey_url="valkey://127.0.0.1:1/0", valkey_cluster=True,
                           jwt_secret="s" * 32)
    client = connect(settings.valkey_url, settings)
    assert isinstance(client, GatedCluster)
    assert client.cluster_error_retry_attempts == 1
