"""Fenced writes: a builder batch is applied by one Lua script that refuses older state.

Two appliers (a rebalance mid-batch, a zombie consumer) may rebuild the same car at once. Each
rebuild carries the fencing token of the newest change it covers (carpages_cdc.position); the
script compares it with the token stored beside the car (`keys.car_position`) and writes the
whole batch only if no entity already holds a newer token, then stores the tokens. It also
re-checks, for cars, that the index memberships the builder read are still what is stored
(compare-and-set), since the builder removes a car from the indexes it *read* it was in.

Refused entities are reported back (FenceRefused); the caller drops the stale ones (a newer
state is already there), keeps what earlier batches of the same build wrote (`Fence.written`) and
retries the rest (docs/cdc.md, "Fencing").
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from carpages_shared.valkey_internals import queued_commands

from carpages_cdc.position import TOKEN_FLOOR

FENCED_WRITE = """
local n = tonumber(ARGV[1])
local cas = ARGV[2] == '1'
local force = ARGV[3] == '1'
local members = KEYS[n + 1]
local stale, conflict = {}, {}
local i = 4
for e = 1, n do
  local id, token, has, expected = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  i = i + 4
  local current = redis.call('GET', KEYS[e])
  if current and current > token and not force then
    stale[#stale + 1] = id
  elseif cas then
    local now = redis.call('HGET', members, id)
    if (has == '1' and now ~= expected) or (has == '0' and now) then
      conflict[#conflict + 1] = id
    end
  end
end
if #stale > 0 or #conflict > 0 then
  return {stale, conflict}
end
local commands = tonumber(ARGV[i])
i = i + 1
for c = 1, commands do
  local argc = tonumber(ARGV[i])
  redis.call(unpack(ARGV, i + 1, i + argc))
  i = i + argc + 1
end
i = 4
for e = 1, n do
  if not force then
    redis.call('SET', KEYS[e], ARGV[i + 1])
  end
  i = i + 4
end
return {stale, conflict}
"""


class FenceRefused(RuntimeError):
    """Nothing of the batch was written: some entities are stale or changed underneath."""

    def __init__(self, stale: list[int], conflicted: list[int]) -> None:
        super().__init__(f"fenced write refused: stale {stale[:10]}, conflicted {conflicted[:10]}")
        self.stale = stale
        self.conflicted = conflicted


class Fence:
    """A builder `fence` hook: runs each batch through FENCED_WRITE with these tokens."""

    def __init__(self, script: Any, position_key: Callable[[int], str],
                 tokens: Mapping[int, str], entities: Sequence[int] | None = None,
                 force: bool = False, before_write: Callable[[], None] | None = None) -> None:
        self.script = script
        self.position_key = position_key
        self.tokens = tokens
        self.entities = entities
        """Fixed entity ids (the slug map is one entity, 0); None = the batch's ids."""
        self.force = force
        """Repairs (reconcile, re-apply after a full rebuild): write whatever the stored tokens
        say and leave them as they are; the memberships compare-and-set still applies."""
        self.before_write = before_write
        """Test seam: runs after the builder read MySQL and before the write (interleaving)."""
        self.written: set[int] = set()
        """Entities whose batch was written: a refusal in a later batch leaves them done."""

    def __call__(self, pipe: Any, ids: Sequence[int],
                 read: tuple[str, Sequence[bytes | None]] | None) -> None:
        entities = list(self.entities if self.entities is not None else ids)
        keys = [self.position_key(e) for e in entities]
        args: list[Any] = [len(entities), "1" if read is not None else "0",
                           "1" if self.force else "0"]
        expected = dict(zip(ids, read[1], strict=True)) if read is not None else {}
        for entity in entities:
            value = expected.get(entity)
            args += [entity, self.tokens.get(entity, TOKEN_FLOOR),
                     "0" if value is None else "1", b"" if value is None else value]
        commands = [command for command, _options in queued_commands(pipe)]
        args.append(len(commands))
        for command in commands:
            args.append(len(command))
            args.extend(command)
        pipe.reset()
        if self.before_write is not None:
            self.before_write()
        members = [read[0]] if read is not None else []
        stale, conflicted = self.script(keys=[*keys, *members], args=args)
        if stale or conflicted:
            raise FenceRefused([int(s) for s in stale], [int(c) for c in conflicted])
        self.written.update(entities)
