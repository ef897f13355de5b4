"""Which failures the CDC loops retry as transient, and how an episode is logged."""

from __future__ import annotations

import logging

import pymysql
import pytest
import valkey
from aiokafka.errors import KafkaConnectionError
from carpages_cdc.cache.builder import NoBuild
from carpages_cdc.transient import Episode, is_transient


@pytest.mark.parametrize("exc", [
    pymysql.err.OperationalError(2003, "Can't connect to MySQL server"),
    pymysql.err.OperationalError(2006, "MySQL server has gone away"),
    pymysql.err.OperationalError(2013, "Lost connection to MySQL server during query"),
    pymysql.err.OperationalError(1213, "Deadlock found"),
    pymysql.err.OperationalError(1927, "Connection was killed"),
    pymysql.err.InterfaceError(0, ""),
    valkey.exceptions.ConnectionError("Connection refused"),
    valkey.exceptions.TimeoutError("Timeout reading from socket"),
    valkey.exceptions.BusyLoadingError("Valkey is loading the dataset in memory"),
    valkey.exceptions.ResponseError("READONLY You can't write against a read only replica."),
    valkey.exceptions.ResponseError("LOADING Valkey is loading the dataset in memory"),
    KafkaConnectionError("broker down"),
    NoBuild("no listing build yet"),
    # A cluster node down or a slot moving; a cluster pipeline rewrites the message.
    valkey.exceptions.ClusterDownError("Command # 1 (GET dp:{7}:pos) of pipeline caused error: "
                                       "The cluster is down"),
    valkey.exceptions.MasterDownError("MASTERDOWN Link with MASTER is down"),
    valkey.exceptions.TryAgainError("Command # 3 (SET k v) of pipeline caused error: "),
    valkey.exceptions.SlotNotCoveredError("Slot 1234 is not covered by the cluster."),
    ConnectionResetError(),
])
def test_dependency_failures_are_transient(exc: BaseException) -> None:
    assert is_transient(exc)


@pytest.mark.parametrize("exc", [
    pymysql.err.OperationalError(1054, "Unknown column 'x' in 'field list'"),
    pymysql.err.ProgrammingError(1146, "Table doesn't exist"),
    valkey.exceptions.ResponseError("WRONGTYPE Operation against a key holding the wrong kind"),
    valkey.exceptions.ValkeyClusterException("EVALSHA - all keys must map to the same key slot"),
    ValueError("cannot assemble"),
    KeyError("make"),
])
def test_faults_of_the_work_itself_are_not(exc: BaseException) -> None:
    assert not is_transient(exc)


def test_an_episode_logs_its_start_and_end_once(caplog: pytest.LogCaptureFixture) -> None:
    episode = Episode(logging.getLogger("test.episode"), "applier")
    with caplog.at_level(logging.WARNING, "test.episode"):
        assert episode.failed(TimeoutError())
        assert not episode.failed(TimeoutError())
        assert not episode.failed(TimeoutError())
        assert episode.active
        episode.succeeded()
        episode.succeeded()  # no episode running: nothing logged
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2
    assert "failing" in messages[0]
    assert "recovered" in messages[1]
    assert "3 failures" in messages[1]
    assert not episode.active
