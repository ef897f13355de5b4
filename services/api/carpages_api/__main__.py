"""`python -m carpages_api`: serve with uvicorn (uvloop + httptools)."""

from __future__ import annotations

import argparse
import sys

import uvicorn
from carpages_shared import logs

from carpages_api.app import create_app
from carpages_api.settings import ApiSettings


def main(argv: list[str] | None = None) -> int:
    """Entry point: settings from the environment, then uvicorn."""
    parser = argparse.ArgumentParser(prog="carpages-api")
    parser.add_argument("--host", default="0.0.0.0")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--log-level", default="warning")
    args = parser.parse_args(argv)
    settings = ApiSettings()  # type: ignore[call-arg]  # values come from the environment
    # One log format for the whole process, uvicorn's lines included (`LOG_FORMAT=json|text`).
    logs.configure(args.log_level)
    uvicorn.run(create_app(settings), host=args.host, port=args.port, loop="uvloop",
                http="httptools", log_level=args.log_level, log_config=None,
                access_log=False, timeout_graceful_shutdown=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
