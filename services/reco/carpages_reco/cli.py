"""Command line of the trainer: arguments, logging and signals, then hand over to `app`."""

from __future__ import annotations

import argparse
import logging
import re
import signal
import sys
import threading
from types import FrameType

from carpages_shared import logs
from carpages_shared.progress import Progress

from carpages_reco import app
from carpages_reco.metrics import Metrics
from carpages_reco.schedule import FixedRate
from carpages_reco.settings import RecoSettings
from carpages_reco.training import NothingToTrain

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def duration(text: str) -> float:
    """`45m`, `1h`, `90s`, `1h30m` -> seconds."""
    parts = re.fullmatch(r"(?:\d+(?:\.\d+)?[smhd])+", text.strip())
    if parts is None:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (e.g. 45m, 1h, 90s)")
    seconds = sum(float(n) * _UNITS[u] for n, u in re.findall(r"(\d+(?:\.\d+)?)([smhd])", text))
    if seconds <= 0:
        raise argparse.ArgumentTypeError("the interval must be positive")
    return seconds


def main(argv: list[str] | None = None) -> int:
    """Entry point of `python -m carpages_reco`."""
    parser = argparse.ArgumentParser(prog="carpages_reco", description="carpages recommendations")
    parser.add_argument("command", choices=["train"])
    parser.add_argument("--every", type=duration, default=None,
                        help="retrain on a fixed-rate schedule of this period (e.g. 45m: "
                             "00:00, 00:45, 01:30, ... UTC) until SIGTERM")
    parser.add_argument("--no-publish", action="store_true", help="train and evaluate only")
    parser.add_argument("--if-missing", action="store_true",
                        help="do nothing when a model is already published (`make up`)")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    logs.configure(args.log_level)
    settings = RecoSettings()  # type: ignore[call-arg]  # values come from the environment
    if args.if_missing and app.published_version(settings) is not None:
        print("train: a model is already published; nothing to do", file=sys.stderr)
        return 0
    if args.every is None:
        try:
            with Progress("train", "epochs") as progress:
                app.run_once(settings, publish=not args.no_publish, progress=progress)
        except NothingToTrain as exc:
            print(f"train: {exc}", file=sys.stderr)
            return 1
        return 0
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        logging.getLogger(__name__).info("signal %d: stopping after the current run", signum)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    metrics = Metrics()
    with metrics.serve(settings.metrics_port):
        app.run_every(settings, FixedRate(args.every), stop, publish=not args.no_publish,
                      metrics=metrics)
    return 0
