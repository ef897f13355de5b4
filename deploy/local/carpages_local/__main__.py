"""`python -m carpages_local up|down|run|seed|supervise`: the local stack's command line."""

from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path

from carpages_shared import logs

from carpages_local import stack
from carpages_local.servers import StackError


def _print_where(root: Path, env: stack.StackEnv) -> None:
    print("\ncarpages local stack is up:")
    for key, value in env.variables().items():
        shown = "(hidden, see .stack/env)" if "SECRET" in key else value
        print(f"  {key:<24} {shown}")
    print(f"  {'env file':<24} {root / 'env'}   (source it: . {root / 'env'})")
    print(f"  {'logs':<24} {root / 'logs'}/ and {root}/<server>/")
    print(f"  try: curl -s {env.variables()['API_URL']}/listing/1/ | head -c 400\n")


def _follow(root: Path) -> None:
    """Print service logs until interrupted (the `make run` foreground)."""
    offsets: dict[Path, int] = {}
    while True:
        for log in sorted((root / "logs").glob("*.log")):
            size = log.stat().st_size
            start = offsets.get(log, max(0, size - 2000))
            if size > start:
                with log.open("rb") as fh:
                    fh.seek(start)
                    chunk = fh.read(size - start).decode(errors="replace")
                for line in chunk.splitlines():
                    print(f"[{log.stem}] {line}", flush=True)
            offsets[log] = size
        time.sleep(0.5)


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    parser = argparse.ArgumentParser(prog="carpages_local", description=__doc__)
    parser.add_argument("command", choices=["up", "down", "run", "seed", "supervise"])
    parser.add_argument("--root", type=Path, default=Path(".stack"))
    parser.add_argument("--cars", type=int, default=10000, help="live cars in the demo catalogue")
    parser.add_argument("--no-services", action="store_true", help="servers and data only")
    parser.add_argument("--valkey", choices=stack.VALKEY_MODES,
                        help="one Valkey or a 3-node Valkey Cluster (default: $STACK_VALKEY, "
                        "else standalone)")
    args = parser.parse_args(argv)
    logs.configure("INFO")  # LOG_FORMAT=json|text; the services it starts inherit the variable
    root: Path = args.root.resolve()
    try:
        if args.command == "down":
            print(f"stopped {stack.down(root)} processes")
            return 0
        if args.command == "supervise":
            # Foreground; `up` starts it detached. Echo to a terminal only: detached, its
            # output already goes to the log it writes.
            return stack.supervise(root, echo=sys.stderr if sys.stderr.isatty() else None)
        if args.command == "seed":
            env = stack.read_env(root / "env")
            port = int(env["MYSQL_URL"].rsplit(":", 1)[1].split("/")[0])
            stack.prepare_database(port, args.cars)
            return 0
        env_ = stack.up(root, cars=args.cars, with_services=not args.no_services,
                        topology=args.valkey)
        _print_where(root, env_)
        if args.command == "run":
            # SIGTERM (e.g. from a supervisor) stops the stack the same way Ctrl-C does.
            signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
            try:
                _follow(root)
            except KeyboardInterrupt:
                print("\nstopping…")
            finally:
                print(f"stopped {stack.down(root)} processes")
        return 0
    except StackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
