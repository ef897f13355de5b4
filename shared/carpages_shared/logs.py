"""Log output shared by every entrypoint: readable text locally, one JSON object per line in
production (`LOG_FORMAT=json`), so a log pipeline can index fields instead of parsing prose.

Context travels as ordinary `extra=` fields (`log.info("applied", extra={"car_ids": [1, 2]})`)
and appears in both formats; `request_id` is also taken from a context variable, so code deep
inside a request logs it without passing it along.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import logging
import os
import sys
from typing import Any, TextIO

import orjson

FORMATS = ("text", "json")

#: The current request's id (the API sets it per request from `X-Request-ID`).
request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id",
                                                                        default=None)

# Attributes every LogRecord has; anything else on a record came from `extra=`.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message", "asctime", "taskName"}


def extras(record: logging.LogRecord) -> dict[str, Any]:
    """The `extra=` fields of a record, plus the context's request id when one is set."""
    fields = {k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")}
    current = request_id.get()
    if current is not None:
        fields.setdefault("request_id", current)
    return fields


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, message, the extras, exception text."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **extras(record),
        }
        if record.exc_info:
            entry["exc_info"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack_info"] = self.formatStack(record.stack_info)
        # default=str: an extra that JSON cannot hold (a Decimal, a dataclass) is still logged.
        return orjson.dumps(entry, default=str).decode()


class TextFormatter(logging.Formatter):
    """The readable local format, with the extras appended as key=value."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        fields = extras(record)
        if not fields:
            return text
        first, newline, rest = text.partition("\n")  # keep a traceback below the fields
        pairs = " ".join(f"{k}={v}" for k, v in fields.items())
        return f"{first} [{pairs}]{newline}{rest}"


def formatter(fmt: str) -> logging.Formatter:
    """The formatter for `text` or `json`."""
    if fmt == "json":
        return JsonFormatter()
    if fmt == "text":
        return TextFormatter()
    raise ValueError(f"LOG_FORMAT must be one of {', '.join(FORMATS)}, not {fmt!r}")


def configure(level: str | int = "INFO", fmt: str | None = None,
              stream: TextIO | None = None) -> None:
    """Send every logger's records to `stream` (stderr) in `fmt` (default: `$LOG_FORMAT`, text)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter(fmt or os.environ.get("LOG_FORMAT", "text").strip().lower()))
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)
