"""Lua scripts run by more than one service (one definition each, so they cannot drift)."""

from __future__ import annotations

from typing import Final

COMPARE_AND_DELETE: Final = ("if redis.call('get', KEYS[1]) == ARGV[1] then "
                             "return redis.call('del', KEYS[1]) end return 0")
"""Release a lock only if it still holds our token (KEYS[1] = lock, ARGV[1] = token): a holder
whose lease lapsed must not delete the next holder's lock."""
