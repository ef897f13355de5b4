"""The publisher across a broker restart: writes go on while Tansu is killed and started again on
the same port; publishing must resume within 10 s of the broker answering and no change made
after the restart (and none after the last checkpoint) may be missing from the topic."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from carpages_local import servers, stack

from tests.integration.cdc_support import (
    Workers,
    changes,
    execute,
    topic_records,
    wait_until,
    worker_env,
)

RESUME_WITHIN_S = 10.0


class Writer:
    """Inserts colors W0, W1, ... every `every` seconds in a thread, remembering when."""

    def __init__(self, port: int, database: str, every: float = 0.02) -> None:
        self.port, self.database, self.every = port, database, every
        self.written: list[tuple[str, float]] = []
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        n = 0
        while not self.done.is_set():
            name = f"W{n}"
            execute(self.port, self.database, "INSERT INTO color (name, hex) VALUES (%s, '#1')",
                    args=(name,))
            self.written.append((name, time.monotonic()))
            n += 1
            time.sleep(self.every)

    def since(self, moment: float) -> list[str]:
        return [name for name, at in list(self.written) if at >= moment]

    def __enter__(self) -> Writer:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.done.set()
        self.thread.join(10)


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Workers]:
    started = Workers(tmp_path)
    yield started
    started.stop_all()


def published(kafka: str, topic: str, names: set[str], timeout: float = 30) -> set[str]:
    """Color names on the topic once all of `names` are there (or at the timeout)."""
    def found(records: list[Any]) -> set[str]:
        return {str((m.get("after") or {}).get("name")) for m in changes(records)}
    return found(topic_records(kafka, topic, lambda got: names <= found(got), timeout=timeout))


def test_publishing_resumes_within_10s_of_a_broker_restart(
        stack_env: stack.StackEnv, mysql_db: str, valkey_url: str, workers: Workers,
        tmp_path: Path) -> None:
    broker = servers.start_tansu(tmp_path / "tansu")
    kafka = f"127.0.0.1:{broker.port}"
    valkey_port = int(valkey_url.rsplit(":", 1)[1].split("/")[0])
    # The production back-off ceiling: resuming must not wait for it once the broker answers.
    env = worker_env(stack_env, mysql_db, valkey_port, KAFKA_BOOTSTRAP_SERVERS=kafka,
                     CDC_RETRY_MAX_S="10", CDC_REQUEST_TIMEOUT_MS="15000")
    topic = f"{env['CDC_TOPIC_PREFIX']}{mysql_db}.color"
    try:
        publisher = workers.start("publish", env)
        wait_until("the publisher to stream", lambda: "binlog: reading from" in
                   publisher.output(), workers=workers)
        with Writer(stack_env.mysql_port, mysql_db) as writer:
            wait_until("writes", lambda: len(writer.written) > 20, workers=workers)
            first = {name for name, _ in writer.written[:20]}
            assert first <= published(kafka, topic, first)
            killed = time.monotonic()
            os.kill(broker.pid, signal.SIGKILL)  # no clean shutdown
            broker.stop()  # reaps it (and stops any helper process the broker has)
            # Back at once, before the producer gave up: aiokafka would reconnect and resend
            # into topics the new broker does not know (Tansu accepts that, and the later
            # CreateTopics then collides with those writes: AlreadyExists for minutes).
            time.sleep(0.5)
            broker = servers.start_tansu(tmp_path / "tansu2", port=broker.port)
            answered = time.monotonic()
            wait_until("writes after the restart", lambda: len(writer.since(answered)) >= 3,
                       workers=workers)
            after = set(writer.since(answered)[:3])
            got = published(kafka, topic, after, timeout=RESUME_WITHIN_S + 5)
            resumed = time.monotonic() - answered
            assert after <= got, f"not published {RESUME_WITHIN_S}s after the restart"
            assert resumed < RESUME_WITHIN_S + 1, resumed  # (+ the reading consumer's start)
            time.sleep(1)
        # Every change made since the kill was replayed from the checkpoint or published live.
        expected = {name for name, at in writer.written if at >= killed}
        got = published(kafka, topic, expected)
        assert expected <= got, sorted(expected - got)[:20]
        print(f"resumed {resumed:.2f}s after the broker answered; {len(expected)} changes "
              f"since the kill all published")
    finally:
        workers.stop_all()
        broker.stop()
