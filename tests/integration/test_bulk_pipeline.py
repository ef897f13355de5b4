"""The full rebuild's lean pipeline: same writes as valkey-py's, errors raised only after every
reply is read, and the connection left clean for the next caller."""

from __future__ import annotations

import pytest
import valkey
from carpages_cdc.cache.bulk_pipeline import BulkPipeline


def test_writes_land_as_with_valkey_py(valkey_sync: valkey.Valkey) -> None:
    pipe = BulkPipeline(valkey_sync)
    pipe.set("page:1", b'{"price": 1}')
    pipe.hset("private:1", mapping={"seller_mobile_no": "98", "n": 3})
    pipe.hdel("private:1", "n")
    pipe.sadd("set:1", 1, 2, "three")
    pipe.zadd("z:1", {"7": 1.5, "8": 2})
    pipe.execute_command("RENAME", "set:1", "set:2")
    pipe.expire("z:1", 100)
    assert len(pipe) == 7
    replies = pipe.execute()
    assert len(replies) == 7
    assert len(pipe) == 0
    assert valkey_sync.get("page:1") == b'{"price": 1}'
    assert valkey_sync.hgetall("private:1") == {b"seller_mobile_no": b"98"}
    assert set(valkey_sync.smembers("set:2")) == {b"1", b"2", b"three"}
    assert valkey_sync.zrange("z:1", 0, -1, withscores=True) == [(b"7", 1.5), (b"8", 2.0)]
    assert 0 < valkey_sync.ttl("z:1") <= 100
    pipe.delete("page:1", "private:1")
    assert pipe.execute() == [2]
    assert pipe.execute() == []  # nothing queued: nothing sent


def test_an_error_reply_is_raised_after_every_command_ran(valkey_sync: valkey.Valkey) -> None:
    pipe = BulkPipeline(valkey_sync)
    pipe.set("a", 1)
    pipe.execute_command("RENAME", "no-such-key", "b")  # an error reply
    pipe.set("c", 3)
    with pytest.raises(valkey.ResponseError, match="command #2 of a bulk pipeline"):
        pipe.execute()
    assert valkey_sync.mget("a", "c") == [b"1", b"3"]  # like MULTI-less pipelining: the rest ran
    # The pooled connection holds no unread replies: the next caller reads its own answer.
    assert valkey_sync.ping() is True
    assert valkey_sync.get("a") == b"1"

