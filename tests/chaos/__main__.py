"""`python -m tests.chaos [--cluster] [--seed N] [--cars N] [--rounds N] [--quick] [--faults a,b]
[--out P]`.

`--cluster` is the cluster variant: the same writer and oracle on a 3-node Valkey Cluster, with
the Valkey faults aimed at one node (faults.CLUSTER_KINDS), 2,000 cars by default (~5 min), and a
closing `carpages_cdc reconcile`.
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

from tests.chaos import report
from tests.chaos.faults import CLUSTER_KINDS, KINDS
from tests.chaos.harness import Options, run


def _kinds(text: str) -> tuple[str, ...]:
    """A comma list, checked against the variant's kinds once --cluster is known."""
    kinds = tuple(k.strip() for k in text.split(",") if k.strip())
    if not kinds:
        raise argparse.ArgumentTypeError("no fault kind given")
    return kinds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.chaos", description=__doc__)
    parser.add_argument("--seed", type=int, help="replay a run (default: random, printed)")
    parser.add_argument("--cars", type=int, help="live cars (default 10000; --quick 1000)")
    parser.add_argument("--rounds", type=int,
                        help="rounds per fault kind (default 1: 10k cars x 8 kinds ~ 13 min)")
    parser.add_argument("--quick", action="store_true", help="1,000 cars, one round each")
    parser.add_argument("--cluster", action="store_true",
                        help="the cluster variant: a 3-node Valkey Cluster, 2,000 cars")
    parser.add_argument("--faults", type=_kinds,
                        help=f"comma list of {','.join(KINDS)}; with --cluster of "
                        f"{','.join(CLUSTER_KINDS)}")
    parser.add_argument("--deadline", type=float, default=10.0,
                        help="seconds after 'whole' before the full oracle pass")
    parser.add_argument("--root", type=Path,
                        help="default .stack-chaos (--cluster: .stack-chaos-cluster)")
    parser.add_argument("--out", type=Path, default=report.RESULTS,
                        help="directory for the JSON result")
    parser.add_argument("--no-record", action="store_true",
                        help="do not write the JSON result nor RELIABILITY.md")
    parser.add_argument("--no-respawn", action="store_true",
                        help="without a supervisor, leave killed services dead")
    args = parser.parse_args(argv)
    known = CLUSTER_KINDS if args.cluster else KINDS
    faults = args.faults or known
    if unknown := [k for k in faults if k not in known]:
        parser.error(f"unknown fault kind(s) {unknown}; known: {','.join(known)}")
    root = args.root or Path(".stack-chaos-cluster" if args.cluster else ".stack-chaos")
    if root.resolve().name == ".stack":
        parser.error("--root .stack is the user's stack; the harness wipes its root")
    cars = args.cars or (1000 if args.quick else 2000 if args.cluster else 10000)
    opts = Options(cars=cars, rounds=args.rounds or 1, faults=faults,
                   deadline_s=args.deadline, root=root, respawn=not args.no_respawn,
                   write_s=4.0 if args.quick else 6.0, cluster=args.cluster)
    if args.seed is not None:
        opts.seed = args.seed
    print(f"chaos{' (cluster variant)' if opts.cluster else ''} seed {opts.seed}", flush=True)
    # SIGTERM stops everything the way Ctrl-C does (the harness's finally stops the stack).
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    result = run(opts)
    summary = result["summary"] = report.summarise(result)
    print(report.table(summary))
    if not args.no_record:
        path = report.save(result, args.out)
        print(f"results: {path}; section appended to RELIABILITY.md")
    ok = report.run_passed(result)
    print(f"chaos{' (cluster variant)' if opts.cluster else ''} seed {opts.seed}: "
          f"{'PASSED' if ok else 'FAILED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
