"""`valkey+sentinel://` URLs: the one parser both services use."""

from __future__ import annotations

import pytest
from carpages_shared.dsn import SentinelDsn, is_sentinel, sentinel_arguments, sentinel_dsn


def test_hosts_service_db_and_credentials() -> None:
    dsn = sentinel_dsn("valkey+sentinel://app:s%40cret@s1:26380,s2,[::1]:26381/cache/3"
                       "?sentinel_password=sp")
    assert dsn == SentinelDsn(sentinels=(("s1", 26380), ("s2", 26379), ("::1", 26381)),
                              service="cache", db=3, username="app", password="s@cret",
                              sentinel_password="sp")


def test_defaults() -> None:
    dsn = sentinel_dsn("valkey+sentinel://127.0.0.1:26379/mymaster")
    assert (dsn.db, dsn.username, dsn.password, dsn.sentinel_password) == (0, None, None, None)
    assert sentinel_dsn("valkey+sentinel://:pw@h/m").password == "pw"


@pytest.mark.parametrize("url", ["valkey://h:6379/0", "valkey+sentinel://h:1",
                                 "valkey+sentinel:///m", "valkey+sentinel://h/m/0/extra"])
def test_refused(url: str) -> None:
    with pytest.raises(ValueError, match="URL"):
        sentinel_dsn(url)


def test_only_sentinel_schemes_are_sentinel() -> None:
    assert is_sentinel("valkey+sentinel://h/m")
    assert is_sentinel("REDIS+SENTINEL://h/m")
    assert not is_sentinel("valkey://h:6379/0")
    assert not is_sentinel("unix:///tmp/v.sock")


def test_arguments_split_sentinel_and_primary_options() -> None:
    dsn = sentinel_dsn("valkey+sentinel://u:pw@h1,h2:5/m/2?sentinel_password=sp")
    sentinels, to_sentinels, primary = sentinel_arguments(
        dsn, {"socket_timeout": 0.5, "max_connections": 4})
    assert sentinels == [("h1", 26379), ("h2", 5)]
    assert to_sentinels == {"socket_timeout": 0.5, "password": "sp"}
    assert primary == {"socket_timeout": 0.5, "max_connections": 4, "db": 2, "username": "u",
                       "password": "pw"}
