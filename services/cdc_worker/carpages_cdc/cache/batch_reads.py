"""MySQL reads in batches: the connection the builder needs, slicing, counted statements.

Seed 003's lesson, checked by the tests through CountingQuery: a constant number of statements
per batch, whatever its size.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol

from carpages_shared import car_rows


class DbConnection(Protocol):
    """What the builder uses of a connection: a pymysql one, or one lent by a ConnectionPool."""

    def cursor(self) -> Any: ...
    def commit(self) -> None: ...
    def close(self) -> None: ...


Connect = Callable[[], DbConnection]
"""Opens (or lends) a connection; the builder closes it after each batch or build."""


def chunks(items: Sequence[int], size: int) -> Iterator[Sequence[int]]:
    """Consecutive slices of at most `size` items."""
    for start in range(0, len(items), size):
        yield items[start:start + size]


class CountingQuery:
    """Runs statements on one connection and counts them (the batched-read promise is tested)."""

    def __init__(self, conn: DbConnection) -> None:
        self._run = car_rows.connection_query(conn)
        self.statements = 0

    def __call__(self, sql: str, params: Sequence[Any]) -> Sequence[tuple[Any, ...]]:
        self.statements += 1
        return self._run(sql, params)

    def many(self, statements: Sequence[car_rows.Statement]) -> list[car_rows.Rows]:
        """Several statements, in one round trip when the connection allows it."""
        self.statements += len(statements)
        return self._run.many(statements)
