"""A consumed batch as a plan (pure; no I/O): the coalesced Work, the dead letters, and what to
report (tables applied, commit timestamps for the lag histogram, the newest heartbeat)."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

from carpages_cdc import event_codec
from carpages_cdc.apply import dependency_map
from carpages_cdc.apply.visibility import ChangedRow, changed_row
from carpages_cdc.apply.work import Work
from carpages_cdc.position import fence_token
from carpages_cdc.settings import CDC_SCHEMA


class Message(Protocol):
    """What the plan needs of a consumed record (aiokafka's ConsumerRecord has it)."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...


@dataclass(frozen=True)
class DeadLetter:
    """A message the applier cannot use, with why."""

    message: Message
    reason: str
    error: str


@dataclass
class Plan:
    """Everything one batch asks for."""

    work: Work = field(default_factory=Work)
    dead: list[DeadLetter] = field(default_factory=list)
    tables: Counter[str] = field(default_factory=Counter)
    commit_ts_ms: list[int] = field(default_factory=list)
    heartbeat: dt.datetime | None = None
    newest: ChangedRow | None = None
    """A row the batch's newest change wrote: reads wait until its commit is visible."""


def _heartbeat_time(after: dict[str, object] | None) -> dt.datetime | None:
    value = (after or {}).get("ts")
    if not isinstance(value, str):
        return None
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def plan(messages: Iterable[Message], database: str, pipeline: str) -> Plan:
    """Decode, map and coalesce a batch; anything unusable becomes a dead letter."""
    out = Plan()
    for message in messages:
        try:
            event = event_codec.decode(message.value)
        except event_codec.UndecodableMessage as exc:
            out.dead.append(DeadLetter(message, "undecodable", str(exc)))
            continue
        if event is None:
            continue  # a tombstone: the delete before it carried the change
        if event.database == CDC_SCHEMA and event.table == "heartbeat":
            if (event.after or {}).get("name") == pipeline:
                out.heartbeat = _heartbeat_time(event.after) or out.heartbeat
            continue
        if event.database != database:
            out.dead.append(DeadLetter(message, "foreign database",
                                       f"{event.database}.{event.table} is not {database}"))
            continue
        try:
            what = dependency_map.affected(event.table, event.before, event.after)
        except (dependency_map.UnknownTable, dependency_map.MissingColumn) as exc:
            out.dead.append(DeadLetter(message, type(exc).__name__, str(exc)))
            continue
        source = event.source
        token = fence_token(source.file, source.pos, source.row)
        out.work.add(what, token)
        if out.newest is None or out.newest.token < token:
            out.newest = changed_row(event.table, message.key, token) or out.newest
        out.tables[event.table] += 1
        out.commit_ts_ms.append(source.ts_ms)
    return out
