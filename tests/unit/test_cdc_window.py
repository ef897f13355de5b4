"""The publisher's in-flight window: the checkpoint moves only to boundaries whose messages are
all acknowledged, in any ack order, and never past a failed message; fencing tokens order like
the binlog."""

from __future__ import annotations

import pytest
from carpages_cdc.position import TOKEN_FLOOR, Checkpoint, fence_token, file_index
from carpages_cdc.publish.window import Window


def cp(pos: int, file: str = "binlog.000001") -> Checkpoint:
    return Checkpoint(file, pos)


def test_checkpoint_waits_for_every_ack_before_the_boundary() -> None:
    w = Window(limit=10)
    a, b = w.sent(), w.sent()
    w.boundary(cp(100))
    c = w.sent()
    w.boundary(cp(200))
    assert w.take_checkpoint() is None
    w.acked(b)  # out of order: a is still missing
    assert w.take_checkpoint() is None
    w.acked(c)
    assert w.take_checkpoint() is None
    w.acked(a)
    assert w.committable == cp(200)
    assert w.take_checkpoint() == cp(200)
    assert w.take_checkpoint() is None  # taken once


def test_a_huge_transaction_is_bounded_by_the_window_not_by_its_size() -> None:
    w = Window(limit=3)
    seqs = [w.sent() for _ in range(3)]
    assert w.full
    assert w.in_flight == 3
    w.acked(seqs[0])
    assert not w.full
    seqs += [w.sent()]
    for s in seqs[1:]:
        w.acked(s)
    assert w.committable is None  # the transaction has not ended: no boundary to save yet
    w.boundary(cp(900))
    assert w.take_checkpoint() == cp(900)


def test_boundaries_without_messages_do_not_trigger_a_save_but_extend_one() -> None:
    w = Window(limit=10)
    w.boundary(cp(10))  # another schema's transaction, or our own checkpoint write
    assert w.committable == cp(10)
    assert w.take_checkpoint() is None
    s = w.sent()
    w.boundary(cp(20))
    for pos in range(30, 1000, 10):
        w.boundary(cp(pos))  # busy neighbours while our message is in flight
    assert len(w._boundaries) == 1  # collapsed: memory does not grow with them
    w.acked(s)
    assert w.take_checkpoint() == cp(990)


def test_a_failed_message_pins_the_checkpoint() -> None:
    w = Window(limit=10)
    a = w.sent()
    w.boundary(cp(100))
    w.acked(a)
    assert w.take_checkpoint() == cp(100)
    b, c = w.sent(), w.sent()
    w.boundary(cp(200))
    w.failed(RuntimeError("broker down"))
    w.acked(c)
    w.acked(b)
    assert w.take_checkpoint() is None
    assert w.committable == cp(100)


def test_tokens_compare_like_binlog_positions() -> None:
    ordered = [fence_token("binlog.000001", 4), fence_token("binlog.000001", 999, 3),
               fence_token("binlog.000001", 999, 4), fence_token("binlog.000002", 4),
               fence_token("binlog.000010", 4), fence_token("binlog.1000000", 4)]
    assert ordered == sorted(ordered)
    assert len({len(t) for t in ordered}) == 1
    assert fence_token(None, None) == TOKEN_FLOOR < ordered[0]
    assert fence_token("no-number", 5) == TOKEN_FLOOR


def test_checkpoints_order_by_file_number_not_by_name() -> None:
    assert cp(4, "binlog.000010").is_after(cp(99999, "binlog.000009"))
    assert not cp(4, "binlog.000009").is_after(cp(4, "binlog.000009"))
    assert cp(4).is_after(None)
    assert file_index("mysql-bin.000123") == 123
    with pytest.raises(ValueError, match="not a binlog file"):
        file_index("binlog")
