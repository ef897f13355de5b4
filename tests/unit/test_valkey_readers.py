"""Which Valkey a request reads from: replicas in turn, a failing replica rested, the primary."""

from __future__ import annotations

from typing import Any

import pytest
from carpages_api.store.clients import Readers
from valkey.exceptions import BusyLoadingError, ResponseError
from valkey.exceptions import ConnectionError as ValkeyConnectionError


class Server:
    """A named stand-in for a client: the policy only compares identities."""

    def __init__(self, name: str, fails: Exception | None = None) -> None:
        self.name, self.fails = name, fails

    def __repr__(self) -> str:
        return self.name


async def served_by(client: Any) -> str:
    if client.fails is not None:
        raise client.fails
    return str(client.name)


def test_requests_take_the_replicas_in_turn() -> None:
    primary, one, two = Server("primary"), Server("one"), Server("two")
    readers = Readers(primary, [one, two])
    assert [readers.pick() for _ in range(5)] == [one, two, one, two, one]
    assert Readers(primary, []).pick() is primary
    assert readers.clients == [one, two, primary]


def test_a_rested_replica_is_skipped_and_all_rested_means_the_primary() -> None:
    primary, one, two = Server("primary"), Server("one"), Server("two")
    readers = Readers(primary, [one, two])
    readers.rest(one)
    assert {readers.pick() for _ in range(4)} == {two}
    readers.rest(two)
    assert readers.pick() is primary


@pytest.mark.parametrize("error", [ValkeyConnectionError("refused"), TimeoutError(),
                                   BusyLoadingError("LOADING"),
                                   ResponseError("MASTERDOWN Link with MASTER is down")])
async def test_a_replica_that_cannot_answer_hands_the_request_to_the_primary(
        error: Exception) -> None:
    primary, broken = Server("primary"), Server("broken", fails=error)
    readers = Readers(primary, [broken])
    assert await readers.run(served_by) == "primary"
    assert readers.pick() is primary  # rested


async def test_other_errors_are_not_hidden() -> None:
    readers = Readers(Server("primary"), [Server("bad", fails=ResponseError("WRONGTYPE"))])
    with pytest.raises(ResponseError, match="WRONGTYPE"):
        await readers.run(served_by)
