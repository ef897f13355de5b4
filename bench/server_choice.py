"""Side by side: the same scenarios against two or more processes, back to back per scenario.

The server choice (uvicorn against Granian, each with its own API and raw floor process) and the
Valkey Cluster comparison (bench.valkey_cluster: the same API on a cluster and on a standalone
Valkey), and the 100k-car catalogue against the 10k one (bench.scale_http: each side with its
own paths, ids and city from its own catalogue) all run here. A scenario runs on one side and
straight after on the other, the order alternating from one scenario to the next, so the
machine's drift over the run falls on every side instead of on the one measured last.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence

from carpages_shared.progress import Progress

from bench import scenarios, wrk


def measure(plan: Sequence[scenarios.Scenario], targets: Mapping[str, Mapping[str, str]],
            seconds: float, title: str = "server choice",
            own: Mapping[str, Sequence[scenarios.Scenario]] | None = None,
            ) -> dict[str, dict[str, wrk.WrkResult]]:
    """{side: {scenario: result}} for every scenario of `plan` on every side of `targets`
    ({side: {"api": url, "raw": url}}; a side needs only the targets its scenarios use).
    A side in `own` runs its own scenario of the same name instead (its own paths)."""
    servers = list(targets)
    replaced = {side: {s.name: s for s in got} for side, got in (own or {}).items()}
    out: dict[str, dict[str, wrk.WrkResult]] = {server: {} for server in servers}
    progress = Progress(title, "runs", total=len(plan) * len(servers), stream=sys.stdout)
    for n, scenario in enumerate(plan):
        for server in servers if n % 2 == 0 else reversed(servers):
            # Always warm: the previous run loaded the other side's process.
            mine = replaced.get(server, {}).get(scenario.name, scenario)
            got = scenarios.run_one(mine, targets[server][mine.target], seconds, warm_up=True)
            out[server][scenario.name] = got
            progress.write(scenarios.line(f"{scenario.name} [{server}]", got))
            progress.advance()
    progress.close()
    return out
