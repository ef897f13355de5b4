"""`python -m carpages_api`: which server runs, from the flag, the environment or the default."""

from __future__ import annotations

import logging

import pytest
from carpages_api import __main__ as entry

SERVE = entry.serve
"""The real one: the fixture replaces it so no server starts."""


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch,
           restore_root: logging.Logger) -> list[tuple[str, str, str, int, str]]:
    calls: list[tuple[str, str, str, int, str]] = []
    monkeypatch.setattr(entry, "serve", lambda *args: calls.append(args))
    monkeypatch.setenv("API_VALKEY_URL", "valkey://127.0.0.1:1/0")
    monkeypatch.setenv("API_JWT_SECRET", "test")
    # Recorded by monkeypatch, so what main() writes into the environment is undone too.
    monkeypatch.setenv("API_SERVER", "uvicorn")
    monkeypatch.setenv("API_LOG_LEVEL", "warning")
    return calls


def test_uvicorn_is_the_default(served: list[tuple[str, str, str, int, str]],
                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("API_SERVER")
    assert entry.main(["--port", "9000"]) == 0
    assert served == [(entry.APP, "uvicorn", "0.0.0.0", 9000, "warning")]


def test_the_environment_then_the_flag_choose(served: list[tuple[str, str, str, int, str]],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("API_SERVER", "granian")
    entry.main([])
    entry.main(["--server", "uvicorn", "--log-level", "info"])
    assert [(call[1], call[4]) for call in served] == [("granian", "warning"), ("uvicorn", "info")]


def test_an_unknown_server_is_refused(served: list[tuple[str, str, str, int, str]]) -> None:
    with pytest.raises(SystemExit):
        entry.main(["--server", "hypercorn"])
    assert entry.SERVERS == ("uvicorn", "granian")
    with pytest.raises(ValueError, match="server must be one of"):
        SERVE(entry.APP, "hypercorn", "127.0.0.1", 1, "warning")
