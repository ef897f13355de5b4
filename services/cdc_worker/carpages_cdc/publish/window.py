"""The publisher's in-flight window and the checkpoint it allows (pure; no I/O, no asyncio).

Messages get increasing sequence numbers as they are handed to the producer; acknowledgements
may come back in any order (partitions are independent). A transaction boundary seen after
message n becomes *committable* once every message before it is acknowledged: only then may the
checkpoint move there. Waiting for acks transaction by transaction would serialise the
publisher on broker round trips; instead up to `limit` messages stay in flight, whatever the
size of the transaction, so memory stays bounded.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from carpages_cdc.position import Checkpoint


@dataclass
class _Boundary:
    seq: int
    """Messages sent before this boundary (it is committable once all of them are acked)."""
    position: Checkpoint
    carried: bool
    """Whether any message was sent since the previous boundary."""


class Window:
    """Sent-but-unacknowledged messages and the boundaries between them."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._next = 0
        self._order: deque[int] = deque()
        self._acked: set[int] = set()
        self._boundaries: deque[_Boundary] = deque()
        self._open_txn_sent = False
        self._committable: Checkpoint | None = None
        self._unsaved = False
        self.failure: BaseException | None = None

    @property
    def in_flight(self) -> int:
        """Messages sent and not yet acknowledged."""
        return len(self._order) - len(self._acked)

    @property
    def full(self) -> bool:
        """No room for another message until something is acknowledged."""
        return self.in_flight >= self.limit

    def sent(self) -> int:
        """Register a message handed to the producer; returns its sequence number."""
        seq = self._next
        self._next += 1
        self._order.append(seq)
        self._open_txn_sent = True
        return seq

    def acked(self, seq: int) -> None:
        """The broker acknowledged message `seq`."""
        self._acked.add(seq)
        while self._order and self._order[0] in self._acked:
            self._acked.discard(self._order.popleft())
        self._advance()

    def failed(self, exc: BaseException) -> None:
        """A message could not be delivered: the checkpoint must not pass it (ever)."""
        if self.failure is None:
            self.failure = exc

    def boundary(self, position: Checkpoint) -> None:
        """A transaction ended at `position` after every message sent so far."""
        carried, self._open_txn_sent = self._open_txn_sent, False
        last = self._boundaries[-1] if self._boundaries else None
        if last is not None and last.seq == self._next:
            # No message since the previous boundary: keep one entry, so a server busy with
            # other schemas cannot grow this queue while our messages wait for acks.
            last.position, last.carried = position, last.carried or carried
        else:
            self._boundaries.append(_Boundary(self._next, position, carried))
        self._advance()

    def _advance(self) -> None:
        if self.failure is not None:
            return
        low = self._order[0] if self._order else self._next
        while self._boundaries and self._boundaries[0].seq <= low:
            done = self._boundaries.popleft()
            self._committable = done.position
            self._unsaved |= done.carried

    @property
    def committable(self) -> Checkpoint | None:
        """The newest boundary whose messages are all acknowledged."""
        return self._committable

    def take_checkpoint(self) -> Checkpoint | None:
        """The committable boundary if it moved past a message since the last take, else None.

        Boundaries of transactions that published nothing (other schemas, our own checkpoint
        writes) do not trigger a save by themselves; otherwise every save, itself a transaction
        in the binlog, would trigger the next one. The periodic heartbeat row keeps the
        checkpoint near the head when the captured schema is idle.
        """
        if not self._unsaved or self.failure is not None:
            return None
        self._unsaved = False
        return self._committable
