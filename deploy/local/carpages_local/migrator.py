"""Versioned plain-SQL migrations, applied in order and recorded; re-running is a no-op."""

from __future__ import annotations

import re
from importlib import resources
from typing import Any

import pymysql

_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


def available() -> list[tuple[int, str, str]]:
    """(version, name, sql) for every migration file shipped in this package, in order."""
    found = []
    for entry in resources.files("carpages_local.migrations").iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append((int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    return sorted(found)


def _statements(sql: str) -> list[str]:
    lines = [ln for ln in sql.splitlines() if not ln.lstrip().startswith("--")]
    # Statements end with ';' at the end of a line, so ';' inside strings or comments is safe.
    return [s.strip() for s in re.split(r";\s*$", "\n".join(lines), flags=re.M) if s.strip()]


def migrate(conn: pymysql.connections.Connection[Any]) -> list[int]:
    """Apply pending migrations to the connection's database; return the versions applied."""
    with conn.cursor() as cur:
        cur.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version INT UNSIGNED NOT NULL PRIMARY KEY,"
            " name VARCHAR(128) NOT NULL,"
            " applied_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP)"
        )
        cur.execute("SELECT version FROM schema_migrations")
        done = {int(row[0]) for row in cur.fetchall()}
        applied = []
        for version, name, sql in available():
            if version in done:
                continue
            # MySQL DDL commits implicitly, so each statement stands alone; the version row is
            # written last, so a failed migration is retried from the start on the next run.
            for statement in _statements(sql):
                cur.execute(statement)
            cur.execute("INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                        (version, name))
            conn.commit()
            applied.append(version)
    return applied
