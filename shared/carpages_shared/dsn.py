"""Connection-string parsing shared by the services (pure; no clients are created here)."""

from __future__ import annotations

from dataclasses import dataclass
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


SENTINEL_SCHEMES = ("valkey+sentinel", "redis+sentinel")
SENTINEL_PORT = 26379


@dataclass(frozen=True)
class SentinelDsn:
    """Where Sentinel says the primary is: `valkey+sentinel://` parsed (see `sentinel_dsn`)."""

    sentinels: tuple[tuple[str, int], ...]
    service: str
    db: int = 0
    username: str | None = None
    password: str | None = None
    """The data nodes' credentials (the primary's and its replicas')."""
    sentinel_password: str | None = None
    """The sentinels' own password (`?sentinel_password=`), when they require one."""


def is_sentinel(url: str) -> bool:
    """Whether `url` names a Sentinel-managed primary rather than one server."""
    return url.split("://", 1)[0].lower() in SENTINEL_SCHEMES


def sentinel_dsn(url: str) -> SentinelDsn:
    """`valkey+sentinel://[[user]:password@]host1[:26379],host2[:26379]/service[/db]
    [?sentinel_password=…]` -> SentinelDsn. The host list is the sentinels, never the data
    nodes: the primary's address is asked from them at every (re)connect."""
    scheme, _, rest = url.partition("://")
    if scheme.lower() not in SENTINEL_SCHEMES:
        raise ValueError(f"not a Sentinel URL: {scheme}://…")
    netloc, _, tail = rest.partition("/")
    path, _, query_string = tail.partition("?")
    userinfo, _, hosts = netloc.rpartition("@")
    username, _, password = userinfo.partition(":")
    sentinels = tuple(_host_port(host) for host in hosts.split(",") if host)
    parts = [unquote(p) for p in path.split("/") if p]
    if not sentinels or not parts or len(parts) > 2:
        raise ValueError("Sentinel URL needs sentinels and a service: "
                         "valkey+sentinel://host1:26379,host2:26379/<service>[/<db>]")
    query = parse_qs(query_string)
    return SentinelDsn(sentinels=sentinels, service=parts[0],
                       db=int(parts[1]) if len(parts) == 2 else 0,
                       username=unquote(username) or None, password=unquote(password) or None,
                       sentinel_password=query.get("sentinel_password", [None])[0])


def _host_port(host: str) -> tuple[str, int]:
    if host.startswith("["):  # [ipv6]:port
        address, _, port = host[1:].partition("]")
        return address, int(port.lstrip(":") or SENTINEL_PORT)
    address, _, port = host.partition(":")
    return address, int(port or SENTINEL_PORT)


def sentinel_arguments(dsn: SentinelDsn, options: dict[str, Any]
                       ) -> tuple[list[tuple[str, int]], dict[str, Any], dict[str, Any]]:
    """(sentinels, sentinel_kwargs, primary kwargs) for valkey-py's `Sentinel(...)` and
    `.master_for(service, **primary kwargs)`, sync or asyncio alike. The sentinels get the same
    socket timeouts as the data connections, so a dead sentinel costs one bounded attempt."""
    to_sentinels = {k: v for k, v in options.items() if k.startswith("socket_")}
    if dsn.sentinel_password:
        to_sentinels["password"] = dsn.sentinel_password
    primary = {**options, "db": dsn.db}
    if dsn.username:
        primary["username"] = dsn.username
    if dsn.password:
        primary["password"] = dsn.password
    return list(dsn.sentinels), to_sentinels, primary
