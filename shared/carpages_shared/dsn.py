"""Connection-string parsing shared by the services (pure; no clients are created here)."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit


def mysql_params(url: str) -> dict[str, Any]:
    """`mysql://user:pass@host:port/db?unix_socket=...` -> pymysql.connect keyword arguments."""
    parts = urlsplit(url)
    if parts.scheme not in ("mysql", "mariadb", "mysql+pymysql"):
        raise ValueError(f"not a MySQL URL: {parts.scheme}://…")
    params: dict[str, Any] = {
        "host": parts.hostname or "127.0.0.1",
        "port": parts.port or 3306,
        "user": unquote(parts.username or ""),
        "password": unquote(parts.password or ""),
        "charset": "utf8mb4",
    }
    database = parts.path.lstrip("/")
    if database:
        params["database"] = database
    query = parse_qs(parts.query)
    if "unix_socket" in query:
        params["unix_socket"] = query["unix_socket"][0]
    return params
