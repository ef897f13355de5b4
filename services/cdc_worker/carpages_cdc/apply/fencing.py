"""Fenced writes: a builder batch is applied by Lua that refuses older state.

Two appliers (a rebalance mid-batch, a zombie consumer) may rebuild the same car at once. Each
rebuild carries the fencing token of the newest change it covers (carpages_cdc.position); the
script compares it with the token stored beside the car (`keys.car_position`) and writes the
whole batch only if no entity already holds a newer token, then stores the tokens. It also
re-checks, for cars, that the index memberships the builder read are still what is stored
(compare-and-set), since the builder removes a car from the indexes it *read* it was in.

Refused entities are reported back (FenceRefused); the caller drops the stale ones (a newer
state is already there), keeps what earlier batches of the same build wrote (`Fence.written`) and
retries the rest (docs/cdc.md, "Fencing").

On Valkey Cluster a script may only touch keys of one slot, and a batch spans many: each car's
own keys sit in its slot (`{<car>}`), the listing's in `{cp}`'s. So there the batch is split by
slot and every part is its own fenced script that declares every key it touches: a car's part is
fenced by the car's token key, the listing part by a copy of every car's token in the listing's
slot (`keys.listing_positions`), and only the listing part checks memberships. The listing part
runs first; the cars' parts follow in one pipelined round. Each slot then converges on its own to
the newest writer's state (a slot never goes back to an older token), which is what one script
gives on a single Valkey; a writer cut off between the parts is redelivered by Kafka and rewrites
with the same token (allowed: equal is not older).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from carpages_shared import keys
from carpages_shared.valkey_internals import queued_commands
from valkey.cluster import ValkeyCluster
from valkey.crc import key_slot
from valkey.exceptions import NoScriptError

from carpages_cdc.cache.command_list import CommandList
from carpages_cdc.position import TOKEN_FLOOR

FENCED_WRITE = """
-- KEYS: [1..n] where each entry's token lives, then the memberships hash (when ARGV[2] = 1),
-- then (Valkey Cluster) every key the commands touch: declared for the slot check, unused here.
-- ARGV: n, cas, force, n x (entity, token, has, expected, hash field or ''), the commands.
local n = tonumber(ARGV[1])
local cas = ARGV[2] == '1'
local force = ARGV[3] == '1'
local members = KEYS[n + 1]
local stale, conflict = {}, {}
local i = 4
for e = 1, n do
  local id, token, has, expected, field = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3],
    ARGV[i + 4]
  i = i + 5
  local current
  if field == '' then
    current = redis.call('GET', KEYS[e])
  else
    current = redis.call('HGET', KEYS[e], field)
  end
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
if not force then
  i = 4
  for e = 1, n do
    if ARGV[i + 4] == '' then
      redis.call('SET', KEYS[e], ARGV[i + 1])
    else
      redis.call('HSET', KEYS[e], ARGV[i + 4], ARGV[i + 1])
    end
    i = i + 5
  end
end
return {stale, conflict}
"""


class FenceRefused(RuntimeError):
    """Some entities were not written: they are stale or changed underneath."""

    def __init__(self, stale: list[int], conflicted: list[int]) -> None:
        super().__init__(f"fenced write refused: stale {stale[:10]}, conflicted {conflicted[:10]}")
        self.stale = stale
        self.conflicted = conflicted


@dataclass
class _Part:
    """One fenced script: its token entries, compare-and-set, commands and declared keys."""

    entries: list[tuple[int, str, str]] = field(default_factory=list)
    """(entity, key holding its token, hash field or '' for a plain string)."""
    commands: list[tuple[Any, ...]] = field(default_factory=list)
    declared: dict[Any, None] = field(default_factory=dict)
    """Keys the commands touch (ordered, no repeats); only sent on a cluster."""
    cas: bool = False

    def call(self, force: bool, tokens: Mapping[int, str],
             read: tuple[str, Sequence[bytes | None]] | None,
             expected: Mapping[int, bytes | None]) -> tuple[list[Any], list[Any]]:
        """(KEYS, ARGV) of FENCED_WRITE for this part."""
        args: list[Any] = [len(self.entries), "1" if self.cas else "0", "1" if force else "0"]
        for entity, _key, hash_field in self.entries:
            value = expected.get(entity)
            args += [entity, tokens.get(entity, TOKEN_FLOOR), "0" if value is None else "1",
                     b"" if value is None else value, hash_field]
        args.append(len(self.commands))
        for command in self.commands:
            args.append(len(command))
            args.extend(command)
        members = [read[0]] if self.cas and read is not None else []
        return [*(key for _, key, _ in self.entries), *members, *self.declared], args


def command_keys(command: Sequence[Any]) -> list[Any]:
    """The keys one of the builder's write commands touches (PUBLISH names a channel)."""
    name = str(command[0]).upper()
    if name == "PUBLISH":
        return []
    if name == "DEL":
        return list(command[1:])
    if name == "RENAME":
        return [command[1], command[2]]
    return [command[1]]


def slot_of(key: Any) -> int:
    """The cluster slot of `key` (str or bytes)."""
    return int(key_slot(key.encode() if isinstance(key, str) else key))


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
        if isinstance(pipe, CommandList):
            commands = pipe.commands
        else:  # a valkey-py pipeline (the slug map's transaction)
            commands = [command for command, _options in queued_commands(pipe)]
            pipe.reset()
        expected = dict(zip(ids, read[1], strict=True)) if read is not None else {}
        if self.before_write is not None:
            self.before_write()
        if isinstance(self.script.registered_client, ValkeyCluster):
            self._by_slot(entities, commands, read, expected)
            return
        whole = _Part([(e, self.position_key(e), "") for e in entities], commands,
                      cas=read is not None)
        stale, conflicted = self._run(whole, read, expected)
        if stale or conflicted:
            raise FenceRefused(stale, conflicted)
        self.written.update(entities)

    def _run(self, part: _Part, read: tuple[str, Sequence[bytes | None]] | None,
             expected: Mapping[int, bytes | None]) -> tuple[list[int], list[int]]:
        script_keys, args = part.call(self.force, self.tokens, read, expected)
        stale, conflicted = self.script(keys=script_keys, args=args)
        return _ids(stale), _ids(conflicted)

    # ------------------------------------------------------------------ Valkey Cluster
    def _by_slot(self, entities: list[int], commands: list[tuple[Any, ...]],
                 read: tuple[str, Sequence[bytes | None]] | None,
                 expected: Mapping[int, bytes | None]) -> None:
        parts: dict[int, _Part] = defaultdict(_Part)
        for entity in entities:
            key = self.position_key(entity)
            parts[slot_of(key)].entries.append((entity, key, ""))
        for command in commands:
            part = parts[slot_of(command[1])]
            part.commands.append(command)
            part.declared.update(dict.fromkeys(command_keys(command)))
        listing: _Part | None = None
        if read is not None:
            # The listing's slot holds every car's entries (cards, memberships, indexes), so
            # every car is fenced there too, by its copy of the token, with the memberships CAS.
            listing = parts.pop(slot_of(read[0]), None) or _Part()
            where = keys.listing_positions()
            listing.entries += [(e, where, str(e)) for e in entities]
            listing.cas = True
        for slot, part in parts.items():
            if not part.entries:
                raise ValueError(f"fenced write: commands in slot {slot} have no token there: "
                                 f"{part.commands[0][:2]}")
        if listing is not None:
            stale, conflicted = self._run(listing, read, expected)
            if stale or conflicted:
                raise FenceRefused(sorted(set(stale)), sorted(set(conflicted)))
        refused = self._run_parts(list(parts.values()), expected)
        self.written.update(e for e in entities if e not in refused)
        if refused:
            raise FenceRefused(sorted(refused), [])

    def _run_parts(self, parts: list[_Part], expected: Mapping[int, bytes | None]) -> set[int]:
        """Every part in one pipelined round (by node); the entities refused as stale."""
        if not parts:
            return set()
        client = self.script.registered_client
        for attempt in range(2):
            pipe = client.pipeline(transaction=False)
            for part in parts:
                script_keys, args = part.call(self.force, self.tokens, None, expected)
                # Raw EVALSHA: the cluster pipeline routes it by its keys (its evalsha() helper
                # is not exposed there).
                pipe.execute_command("EVALSHA", self.script.sha, len(script_keys),
                                     *script_keys, *args)
            replies = pipe.execute(raise_on_error=False)
            missing = any(isinstance(r, NoScriptError) for r in replies)
            if missing and attempt == 0:
                # A node restarted or failed over and lost its script cache: load it on every
                # primary and send the round again (every part is idempotent).
                self.script.sha = client.script_load(self.script.script)
                continue
            for reply in replies:
                if isinstance(reply, Exception):
                    raise reply
            return {e for stale, _ in replies for e in _ids(stale)}
        raise AssertionError("unreachable")


def _ids(raw: Sequence[Any]) -> list[int]:
    return [int(x) for x in raw]
