"""Structured logs: `LOG_FORMAT=json` gives one JSON object per line with the extras."""

from __future__ import annotations

import io
import json
import logging

import pytest
from carpages_shared import logs


def test_json_lines_carry_extras_and_request_id(restore_root: logging.Logger,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOG_FORMAT", "json")
    out = io.StringIO()
    logs.configure("INFO", stream=out)
    log = logging.getLogger("carpages_cdc.apply.applier")
    log.info("applied %d cars", 2, extra={"car_ids": [7, 9],
                                          "binlog": {"file": "bin.000003", "pos": 4711}})
    token = logs.request_id.set("req-42")
    try:
        log.warning("slow page")
    finally:
        logs.request_id.reset(token)
    try:
        raise ValueError("bad row")
    except ValueError:
        log.exception("could not build", extra={"car_ids": [3]})
    log.debug("not at INFO")

    lines = out.getvalue().splitlines()
    assert len(lines) == 3
    first, second, third = (json.loads(line) for line in lines)
    assert first["message"] == "applied 2 cars"
    assert first["level"] == "INFO"
    assert first["logger"] == "carpages_cdc.apply.applier"
    assert first["car_ids"] == [7, 9]
    assert first["binlog"] == {"file": "bin.000003", "pos": 4711}
    assert first["ts"].endswith("+00:00")
    assert "request_id" not in first
    assert second["request_id"] == "req-42"
    assert second["level"] == "WARNING"
    assert third["car_ids"] == [3]
    assert "ValueError: bad row" in third["exc_info"]


def test_text_is_the_default_and_shows_extras(restore_root: logging.Logger,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LOG_FORMAT", raising=False)
    out = io.StringIO()
    logs.configure("INFO", stream=out)
    logging.getLogger("carpages_reco").info("published", extra={"version": "v1"})
    line = out.getvalue().strip()
    assert " INFO carpages_reco published [version=v1]" in line
    with pytest.raises(json.JSONDecodeError):
        json.loads(line)


def test_unknown_format_is_refused(restore_root: logging.Logger) -> None:
    with pytest.raises(ValueError, match="LOG_FORMAT"):
        logs.configure("INFO", fmt="yaml")

