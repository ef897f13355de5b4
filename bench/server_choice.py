"""Server choice: the same scenarios under uvicorn and under Granian, back to back per scenario.

Each server gets its own API process and its own raw floor process; a scenario runs under one
server and straight after under the other, the order alternating from one scenario to the next,
so the machine's drift over the run falls on both sides instead of on the one measured last.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence

from carpages_shared.progress import Progress

from bench import scenarios, wrk


def measure(plan: Sequence[scenarios.Scenario], targets: Mapping[str, Mapping[str, str]],
            seconds: float) -> dict[str, dict[str, wrk.WrkResult]]:
    """{server: {scenario: result}} for every scenario of `plan` under every server of
    `targets` ({server: {"api": url, "raw": url}})."""
    servers = list(targets)
    out: dict[str, dict[str, wrk.WrkResult]] = {server: {} for server in servers}
    progress = Progress("server choice", "runs", total=len(plan) * len(servers),
                        stream=sys.stdout)
    for n, scenario in enumerate(plan):
        for server in servers if n % 2 == 0 else reversed(servers):
            # Always warm: the previous run loaded the other server's process.
            got = scenarios.run_one(scenario, targets[server][scenario.target], seconds,
                                    warm_up=True)
            out[server][scenario.name] = got
            progress.write(scenarios.line(f"{scenario.name} [{server}]", got))
            progress.advance()
    progress.close()
    return out
