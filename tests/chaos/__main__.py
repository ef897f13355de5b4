"""`python -m tests.chaos [--seed N] [--cars N] [--rounds N] [--quick] [--faults a,b] [--out P]`."""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

from tests.chaos import report
from tests.chaos.faults import KINDS
from tests.chaos.harness import Options, run


def _kinds(text: str) -> tuple[str, ...]:
    kinds = tuple(k.strip() for k in text.split(",") if k.strip())
    unknown = [k for k in kinds if k not in KINDS]
    if unknown or not kinds:
        raise argparse.ArgumentTypeError(f"unknown fault kind(s) {unknown}; known: {KINDS}")
    return kinds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.chaos", description=__doc__)
    parser.add_argument("--seed", type=int, help="replay a run (default: random, printed)")
    parser.add_argument("--cars", type=int, help="live cars (default 10000; --quick 1000)")
    parser.add_argument("--rounds", type=int,
                        help="rounds per fault kind (default 1: 10k cars x 8 kinds ~ 13 min)")
    parser.add_argument("--quick", action="store_true", help="1,000 cars, one round each")
    parser.add_argument("--faults", type=_kinds, default=KINDS,
                        help=f"comma list of {','.join(KINDS)}")
    parser.add_argument("--deadline", type=float, default=10.0,
                        help="seconds after 'whole' before the full oracle pass")
    parser.add_argument("--root", type=Path, default=Path(".stack-chaos"))
    parser.add_argument("--out", type=Path, default=report.RESULTS,
                        help="directory for the JSON result")
    parser.add_argument("--no-record", action="store_true",
                        help="do not write the JSON result nor RELIABILITY.md")
    parser.add_argument("--no-respawn", action="store_true",
                        help="without a supervisor, leave killed services dead")
    args = parser.parse_args(argv)
    if args.root.resolve().name == ".stack":
        parser.error("--root .stack is the user's stack; the harness wipes its root")
    opts = Options(cars=args.cars or (1000 if args.quick else 10000),
                   rounds=args.rounds or 1, faults=args.faults,
                   deadline_s=args.deadline, root=args.root, respawn=not args.no_respawn,
                   write_s=4.0 if args.quick else 6.0)
    if args.seed is not None:
        opts.seed = args.seed
    print(f"chaos seed {opts.seed}", flush=True)
    # SIGTERM stops everything the way Ctrl-C does (the harness's finally stops the stack).
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    result = run(opts)
    summary = result["summary"] = report.summarise(result)
    print(report.table(summary))
    if not args.no_record:
        path = report.save(result, args.out)
        print(f"results: {path}; section appended to RELIABILITY.md")
    ok = report.passed(summary) and result["baseline"]["divergent"] == 0
    print(f"chaos seed {opts.seed}: {'PASSED' if ok else 'FAILED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
