"""`python -m carpages_api`: serve the app under uvicorn (uvloop + httptools) or Granian.

`--server` (or `API_SERVER`) picks the server; uvicorn stays the default until Granian is
measured faster and passes the whole suite (BENCHMARKS.md, "Server choice"). Both run one worker
on one event loop: the API scales with processes (pods), not threads.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any, get_args

from carpages_shared import logs

from carpages_api.settings import ApiSettings

APP = "carpages_api.app:app_from_environment"
"""The factory both servers import (Granian imports it in its worker process)."""
SERVERS: tuple[str, ...] = get_args(ApiSettings.model_fields["server"].annotation)
GRACEFUL_S = 10
"""In-flight requests get this long after SIGTERM (deploy/k8s/base/api.yaml counts on it)."""

# Granian's own lines (start-up, worker exits) go to the root logger that logs.configure set up,
# so they come out in the app's format instead of Granian's default handler.
_GRANIAN_LOGS: dict[str, Any] = {"loggers": {
    "_granian": {"handlers": [], "propagate": True},
    "granian.access": {"handlers": [], "propagate": True},
}}


def serve(target: str, server: str, host: str, port: int, log_level: str) -> None:
    """Serve the ASGI app factory `target` ("module:function") with one worker of `server`."""
    if server == "uvicorn":
        import uvicorn

        uvicorn.run(target, factory=True, host=host, port=port, loop="uvloop", http="httptools",
                    log_level=log_level.lower(), log_config=None, access_log=False,
                    timeout_graceful_shutdown=GRACEFUL_S)
    elif server == "granian":
        from granian.constants import HTTPModes, Interfaces, Loops
        from granian.log import LogLevels
        from granian.server import Server

        Server(target, address=host, port=port, interface=Interfaces.ASGI, workers=1,
               loop=Loops.uvloop, http=HTTPModes.http1, websockets=False, factory=True,
               log_level=LogLevels(log_level.lower()), log_dictconfig=_GRANIAN_LOGS,
               log_access=False, workers_kill_timeout=GRACEFUL_S).serve()
    else:
        raise ValueError(f"server must be one of {', '.join(SERVERS)}, not {server!r}")


def main(argv: list[str] | None = None) -> int:
    """Entry point: settings from the environment (flags override), then the chosen server."""
    parser = argparse.ArgumentParser(prog="carpages-api")
    parser.add_argument("--host", default="0.0.0.0")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--server", choices=SERVERS, help="default: $API_SERVER or uvicorn")
    parser.add_argument("--log-level", help="default: $API_LOG_LEVEL or warning")
    args = parser.parse_args(argv)
    # The app is built from the environment in the serving process, so flags travel there too.
    if args.server:
        os.environ["API_SERVER"] = args.server
    if args.log_level:
        os.environ["API_LOG_LEVEL"] = args.log_level
    settings = ApiSettings()  # type: ignore[call-arg]  # fail here, before any server starts
    logs.configure(settings.log_level)
    serve(APP, settings.server, args.host, args.port, settings.log_level)
    return 0


if __name__ == "__main__":
    sys.exit(main())
