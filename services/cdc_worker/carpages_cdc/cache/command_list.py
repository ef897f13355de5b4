"""The commands of one fenced builder batch, collected as plain tuples.

A fenced batch is never sent as a pipeline: the fence (carpages_cdc.apply.fencing) takes its
commands and hands them to one Lua call. Queuing them on valkey-py's pipeline only to read them
back cost ~15 µs of Python per car (each helper checks its options, builds its argument list
and goes through the client's command dispatch). This list takes the same calls the cache
writer makes and records exactly the argument tuples valkey-py's helpers would queue (same
words, same order, same Python values: tests/unit/test_command_list.py compares them), so the
script receives byte-identical arguments.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

Command = tuple[Any, ...]


class CommandList:
    """Queue commands as tuples; `commands` is what a pipeline's command stack would hold."""

    def __init__(self) -> None:
        self.commands: list[Command] = []

    def __len__(self) -> int:
        return len(self.commands)

    def execute_command(self, *args: Any) -> CommandList:
        """Queue one command given as its words."""
        self.commands.append(args)
        return self

    def set(self, name: str, value: Any) -> CommandList:
        self.commands.append(("SET", name, value))
        return self

    def delete(self, *names: str) -> CommandList:
        self.commands.append(("DEL", *names))
        return self

    def hset(self, name: str, *, mapping: Mapping[str, Any]) -> CommandList:
        pieces: list[Any] = []
        for pair in mapping.items():
            pieces.extend(pair)
        self.commands.append(("HSET", name, *pieces))
        return self

    def hdel(self, name: str, *keys: str) -> CommandList:
        self.commands.append(("HDEL", name, *keys))
        return self

    def hincrby(self, name: str, key: str, amount: int = 1) -> CommandList:
        self.commands.append(("HINCRBY", name, key, amount))
        return self

    def sadd(self, name: str, *values: Any) -> CommandList:
        self.commands.append(("SADD", name, *values))
        return self

    def srem(self, name: str, *values: Any) -> CommandList:
        self.commands.append(("SREM", name, *values))
        return self

    def zadd(self, name: str, mapping: Mapping[Any, Any]) -> CommandList:
        # ZADD takes score before member: the reverse of the mapping's order.
        pieces: list[Any] = []
        for member, score in mapping.items():
            pieces.append(score)
            pieces.append(member)
        self.commands.append(("ZADD", name, *pieces))
        return self

    def zrem(self, name: str, *values: Any) -> CommandList:
        self.commands.append(("ZREM", name, *values))
        return self
